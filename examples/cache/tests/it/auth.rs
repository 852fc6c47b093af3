//! Credentials: bearer tokens (read-write, read-only, namespaced), Basic users, and
//! RS256 JWTs with `kid` key sets reloaded when the file changes; 401 and 403 in each
//! protocol's form.



use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use cache::config::{TokenConfig, UserConfig};
use crate::common::TestServer;
use serde_json::json;
use zzz::StatusCode;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

fn write_jwks(path: &Path, keys: &[&str]) {
    let keys: Vec<serde_json::Value> = keys.iter().map(|k| serde_json::from_str(&fixture(k)).unwrap()).collect();
    std::fs::write(path, json!({ "keys": keys }).to_string()).unwrap();
}

fn jwt(key: &str, kid: &str, claims: serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(fixture(key).as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn exp() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn server(dir: &Path, jwks: &Path) -> TestServer {
    let jwks = jwks.to_path_buf();
    TestServer::start(dir, move |c| {
        c.tokens = vec![
            TokenConfig { token: "rw".into(), read_only: false, namespaces: None },
            TokenConfig { token: "ro".into(), read_only: true, namespaces: None },
            TokenConfig { token: "team-a-only".into(), read_only: false, namespaces: Some(vec!["team-a".into()]) },
        ];
        c.users = vec![UserConfig { username: "gradle".into(), password: "pw".into(), read_only: false, namespaces: None }];
        c.jwks = Some(jwks);
    })
    .await
}

#[tokio::test]
async fn tokens_and_basic_users_per_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    write_jwks(&jwks, &["jwk-1.json"]);
    let s = server(&dir.path().join("data"), &jwks).await;
    let bearer = |t: &str| format!("Bearer {t}");

    // No credentials: 401 with the challenge each client understands.
    let generic = s.put("/cache/k", "x").await;
    assert_eq!(generic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(generic.header("www-authenticate"), Some("Basic realm=\"cache\""));
    let nx = s.get("/v1/cache/1").await;
    assert_eq!((nx.status, nx.header("www-authenticate")), (StatusCode::UNAUTHORIZED, Some("Bearer realm=\"cache\"")));
    let turbo = s.get("/v8/artifacts/status?slug=team-a").await;
    assert_eq!(turbo.status, StatusCode::UNAUTHORIZED);
    assert_eq!(turbo.json()["error"]["code"], "unauthorized");
    assert_eq!(s.get("/ac/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").await.status, StatusCode::UNAUTHORIZED);
    // Wrong credentials.
    let wrong = s.send("GET", "/cache/k", &[("authorization", &bearer("nope"))], "").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("unknown bearer token"));
    assert_eq!(s.send("GET", "/cache/k", &[("authorization", &basic("gradle", "bad"))], "").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.send("GET", "/cache/k", &[("authorization", "Digest abc")], "").await.status, StatusCode::UNAUTHORIZED);

    // Read-write token and Basic user.
    assert_eq!(s.send("PUT", "/cache/k", &[("authorization", &bearer("rw"))], "x").await.status, StatusCode::CREATED);
    assert_eq!(s.send("PUT", "/cache/k2", &[("authorization", &basic("gradle", "pw"))], "y").await.status, StatusCode::CREATED);
    // Bazel's URL credentials: any user with a token as the password.
    assert_eq!(s.send("GET", "/cache/k2", &[("authorization", &basic("bazel", "rw"))], "").await.body, "y");

    // Read-only token: reads work, writes are 403 (Nx counts 403 as "not stored").
    assert_eq!(s.send("GET", "/cache/k", &[("authorization", &bearer("ro"))], "").await.status, StatusCode::OK);
    let ro = s.send("PUT", "/v1/cache/5", &[("authorization", &bearer("ro"))], "x").await;
    assert_eq!(ro.status, StatusCode::FORBIDDEN);
    assert!(ro.text().contains("read-only"));
    let ro_turbo = s.send("PUT", "/v8/artifacts/ab?slug=team-a", &[("authorization", &bearer("ro"))], "x").await;
    assert_eq!(ro_turbo.status, StatusCode::FORBIDDEN);
    assert_eq!(ro_turbo.json()["error"]["code"], "forbidden");

    // A namespaced token: its team only.
    let a = s.send("PUT", "/v8/artifacts/ab?slug=team-a", &[("authorization", &bearer("team-a-only"))], "x").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let b = s.send("GET", "/v8/artifacts/ab?slug=team-b", &[("authorization", &bearer("team-a-only"))], "").await;
    assert_eq!(b.status, StatusCode::FORBIDDEN);
    assert!(b.json()["error"]["message"].as_str().unwrap().contains("team-b"));
    // Health, readiness and metrics stay open; the status page (it names namespaces) does not.
    assert_eq!(s.get("/health").await.status, StatusCode::OK);
    assert_eq!(s.get("/ready").await.status, StatusCode::OK);
    assert_eq!(s.get("/metrics").await.status, StatusCode::OK);
    assert_eq!(s.get("/").await.status, StatusCode::UNAUTHORIZED);
    let page = s.send("GET", "/", &[("authorization", &basic("gradle", "pw"))], "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("generic/default"), "{}", page.text());
    s.stop().await;
}

#[tokio::test]
async fn jwts_carry_namespaces_and_keys_reload_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    write_jwks(&jwks, &["jwk-1.json"]);
    let s = server(&dir.path().join("data"), &jwks).await;
    let auth = |token: &str| format!("Bearer {token}");

    let team_a = jwt("jwt-key-1.pem", "key-1", json!({ "sub": "ci", "exp": exp(), "namespaces": ["team-a"] }));
    let put = s.send("PUT", "/v8/artifacts/abcd?slug=team-a", &[("authorization", &auth(&team_a))], "x").await;
    assert_eq!(put.status, StatusCode::ACCEPTED, "{}", put.text());
    assert_eq!(s.send("GET", "/v8/artifacts/abcd?slug=team-a", &[("authorization", &auth(&team_a))], "").await.body, "x");
    let other = s.send("GET", "/v8/artifacts/abcd?slug=team-b", &[("authorization", &auth(&team_a))], "").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    // Read-only claim.
    let reader = jwt("jwt-key-1.pem", "key-1", json!({ "sub": "dev", "exp": exp(), "namespaces": ["*"], "read_only": true }));
    assert_eq!(s.send("GET", "/v8/artifacts/abcd?slug=team-a", &[("authorization", &auth(&reader))], "").await.status, StatusCode::OK);
    assert_eq!(s.send("PUT", "/cache/x", &[("authorization", &auth(&reader))], "x").await.status, StatusCode::FORBIDDEN);
    // No namespaces claim: no namespace.
    let none = jwt("jwt-key-1.pem", "key-1", json!({ "sub": "x", "exp": exp() }));
    assert_eq!(s.send("GET", "/cache/x", &[("authorization", &auth(&none))], "").await.status, StatusCode::FORBIDDEN);
    // Expired, unknown kid, forged signature: 401 naming why.
    let expired = jwt("jwt-key-1.pem", "key-1", json!({ "sub": "x", "exp": 1000, "namespaces": ["*"] }));
    let reply = s.send("GET", "/cache/x", &[("authorization", &auth(&expired))], "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.text().contains("expired"), "{}", reply.text());
    let new_key = jwt("jwt-key-2.pem", "key-2", json!({ "sub": "x", "exp": exp(), "namespaces": ["*"] }));
    let reply = s.send("GET", "/cache/x", &[("authorization", &auth(&new_key))], "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.text().contains("unknown JWT key id"), "{}", reply.text());
    let forged = jwt("jwt-key-2.pem", "key-1", json!({ "sub": "x", "exp": exp(), "namespaces": ["*"] }));
    assert_eq!(s.send("GET", "/cache/x", &[("authorization", &auth(&forged))], "").await.status, StatusCode::UNAUTHORIZED);

    // Rotate: the file now holds key-2 only. The server rereads it (checked at most once
    // a second), after which key-2 tokens work and key-1 tokens do not.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    write_jwks(&jwks, &["jwk-2.json"]);
    let mut reloaded = false;
    for _ in 0..100 {
        if s.send("GET", "/cache/x", &[("authorization", &auth(&new_key))], "").await.status != StatusCode::UNAUTHORIZED {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the rotated key is accepted after the reload");
    assert_eq!(s.send("GET", "/cache/x", &[("authorization", &auth(&team_a))], "").await.status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}
