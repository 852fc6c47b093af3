//! Property tests: path matching and query decoding hold for arbitrary input.

use std::collections::BTreeMap;

use proptest::prelude::*;
use zzz::test::TestClient;
use zzz::{Endpoint, Path, Query};

zzz::router! {
    pub PropRouter;
    get "/a/:x/b/:y" => two, as: two;
    get "/a/:x" => one, as: one;
    get "/a/fixed" => fixed;
    get "/w/*rest" => rest, as: rest;
    get "/q" => query;
}

async fn two(Path((x, y)): Path<(String, String)>) -> String {
    format!("{x}\u{1}{y}")
}
async fn one(Path(x): Path<String>) -> String {
    x
}
async fn fixed() -> &'static str {
    "fixed"
}
async fn rest(Path(rest): Path<String>) -> String {
    rest
}
async fn query(Query(map): Query<BTreeMap<String, String>>) -> String {
    serde_json::to_string(&map).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn client() -> TestClient {
    TestClient::new(Endpoint::new(PropRouter::new()))
}

/// A non-empty path segment value: any printable text, including `/`, `%`, spaces, unicode.
fn segment() -> impl Strategy<Value = String> {
    "[^\u{0}-\u{1f}]{1,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// What a path helper encodes, the matcher and `Path` decode back exactly.
    #[test]
    fn helper_paths_round_trip(x in segment(), y in segment()) {
        let rt = runtime();
        let c = client();
        rt.block_on(async {
            let res = c.get(&PropRouter::two_path(&x, &y)).await;
            res.assert_status(200);
            prop_assert_eq!(res.text(), format!("{x}\u{1}{y}"));
            let res = c.get(&PropRouter::one_path(&x)).await;
            res.assert_status(200);
            // `/a/fixed` is a static route: a parameter of "fixed" lands there instead.
            let expected = if x == "fixed" { "fixed".to_owned() } else { x.clone() };
            prop_assert_eq!(res.text(), expected);
            Ok(())
        })?;
    }

    /// Wildcards capture every remaining segment.
    #[test]
    fn wildcard_round_trip(parts in proptest::collection::vec("[a-zA-Z0-9._~-]{1,8}", 0..6)) {
        let rt = runtime();
        let joined = parts.join("/");
        let res = rt.block_on(client().get(&PropRouter::rest_path(&joined)).send());
        res.assert_status(200);
        prop_assert_eq!(res.text(), joined);
    }

    /// Any request path gets an answer, never a crash or a 500.
    #[test]
    fn arbitrary_paths_never_fail(path in "(/[a-z%0-9:*.]{0,6}){0,6}") {
        let rt = runtime();
        let path = if path.is_empty() { "/".to_owned() } else { path };
        prop_assume!(path.parse::<http::Uri>().is_ok());
        let res = rt.block_on(client().get(&path).send());
        prop_assert!(res.status().is_success() || res.status().is_client_error(), "{} -> {}", path, res.status());
    }

    /// Query strings decode to exactly the map that was encoded.
    #[test]
    fn query_round_trip(map in proptest::collection::btree_map("[^\u{0}-\u{1f}]{1,8}", "[^\u{0}-\u{1f}]{0,8}", 0..5)) {
        let rt = runtime();
        let encoded = serde_urlencoded::to_string(&map).unwrap();
        let res = rt.block_on(client().get(&format!("/q?{encoded}")).send());
        res.assert_status(200);
        let decoded: BTreeMap<String, String> = serde_json::from_str(&res.text()).unwrap();
        prop_assert_eq!(decoded, map);
    }
}
