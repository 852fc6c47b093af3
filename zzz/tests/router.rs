//! The router macro, the pipeline machinery and the extractors, driven in-process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use zzz::test::TestClient;
use zzz::{Assign, Bytes, Conn, Endpoint, HeaderValue, Json, Path, Query, State, StatusCode};

mod admin {
    zzz::router! {
        pub AdminRouter;
        get "/" => dashboard;
        get "/stats/:name" => stat;
    }

    async fn dashboard(conn: zzz::Conn) -> String {
        format!("dashboard at {}", conn.path())
    }

    async fn stat(zzz::Path(name): zzz::Path<String>) -> String {
        format!("stat {name}")
    }
}

mod posts {
    use zzz::Path;
    pub async fn index() -> &'static str {
        "index"
    }
    pub async fn new() -> &'static str {
        "new"
    }
    pub async fn create() -> &'static str {
        "create"
    }
    pub async fn show(Path(id): Path<u32>) -> String {
        format!("show {id}")
    }
    pub async fn edit(Path(id): Path<u32>) -> String {
        format!("edit {id}")
    }
    pub async fn update(Path(id): Path<u32>) -> String {
        format!("update {id}")
    }
    pub async fn delete(Path(id): Path<u32>) -> String {
        format!("delete {id}")
    }
}

mod profile {
    pub async fn show() -> &'static str {
        "my profile"
    }
    pub async fn update() -> &'static str {
        "updated profile"
    }
}

#[derive(Clone, Debug, PartialEq)]
struct CurrentUser(String);

zzz::router! {
    /// A router exercising every construct.
    pub TestRouter;

    pipeline tagged {
        plug tag_pipeline;
    }

    pipeline auth {
        plug require_token;
        plug Counter;
    }

    pipeline layered {
        layer MarkLayer;
        plug tag_pipeline;
    }

    get "/" => root, as: root;
    get "/users/new" => new_user;
    get "/users/:id" => show_user, as: user;
    get "/users/:id/edit" => edit_user;
    post "/users/:user_id/posts/:post_id" => two_params, as: user_post;
    get "/static/*path" => wildcard, as: static_file;
    any "/anything" => anything;
    put "/only-put" => root;
    head "/explicit-head" => explicit_head;
    get "/explicit-head" => root;
    get "/panic" => panics;
    post "/json" => json_body;
    post "/text" => text_body;
    get "/query" => query;
    get "/state" => state;
    get "/closure" => || async { String::from("from a closure") };

    scope "/tagged", as: tagged {
        pipe_through [tagged];
        get "/one" => root, as: one;
        scope "/secret", as: secret {
            pipe_through [auth];
            get "/me" => me, as: me;
        }
    }

    scope "/layered" {
        pipe_through [layered];
        get "/" => root;
        get "/halt" => root;
    }

    scope "/blog" {
        resources "/posts" => posts;
        resources "/profile" => profile, singleton, only: [show, update];
        resources "/categories" => posts, only: [index, show], as: category;
    }

    forward "/admin" => admin::AdminRouter;
}

async fn root() -> &'static str {
    "root"
}
async fn new_user() -> &'static str {
    "new user form"
}
async fn show_user(Path(id): Path<u64>) -> String {
    format!("user {id}")
}
async fn edit_user(Path(id): Path<String>) -> String {
    format!("edit {id}")
}
#[derive(Deserialize)]
struct UserPost {
    user_id: u32,
    post_id: String,
}
async fn two_params(Path(p): Path<UserPost>, Path((a, b)): Path<(u32, String)>) -> String {
    assert_eq!((p.user_id, p.post_id.as_str()), (a, b.as_str()));
    format!("user {} post {}", p.user_id, p.post_id)
}
async fn wildcard(Path(path): Path<String>) -> String {
    format!("[{path}]")
}
async fn anything(conn: Conn) -> String {
    format!("any {}", conn.method())
}
async fn explicit_head() -> (StatusCode, &'static str) {
    (StatusCode::ACCEPTED, "")
}
async fn panics() -> &'static str {
    panic!("boom in handler")
}
#[derive(Deserialize, serde::Serialize, Debug)]
struct NewThing {
    name: String,
    count: u8,
}
async fn json_body(Json(thing): Json<NewThing>) -> Json<NewThing> {
    Json(thing)
}
async fn text_body(body: String) -> String {
    body.to_uppercase()
}
#[derive(Deserialize)]
struct Search {
    q: String,
    page: Option<u32>,
}
async fn query(Query(s): Query<Search>) -> String {
    format!("{} p{}", s.q, s.page.unwrap_or(1))
}
#[derive(Clone)]
struct Greeting(&'static str);
async fn state(State(g): State<Greeting>) -> &'static str {
    g.0
}
async fn me(Assign(user): Assign<CurrentUser>) -> String {
    format!("me: {}", user.0)
}

async fn tag_pipeline(mut conn: Conn) -> Conn {
    conn.put_resp_header(zzz::HeaderName::from_static("x-tagged"), HeaderValue::from_static("yes"));
    conn
}

async fn require_token(mut conn: Conn) -> Conn {
    match conn.header("authorization") {
        Some("Bearer good") => {
            conn.assign(CurrentUser("alice".into()));
        }
        _ => {
            conn.send_resp(StatusCode::UNAUTHORIZED, "missing or invalid bearer token").halt();
        }
    }
    conn
}

static COUNTED: AtomicUsize = AtomicUsize::new(0);

/// A struct plug; counts the conns that reach it.
struct Counter;
impl zzz::Plug for Counter {
    async fn call(&self, conn: Conn) -> Conn {
        COUNTED.fetch_add(1, Ordering::SeqCst);
        conn
    }
}

/// A tower layer: adds a response header on the way out, and halts `/layered/halt`
/// on the way in without calling the inner service.
#[derive(Clone)]
struct MarkLayer;
impl<S> tower_layer::Layer<S> for MarkLayer {
    type Service = MarkService<S>;
    fn layer(&self, inner: S) -> MarkService<S> {
        MarkService(inner)
    }
}
#[derive(Clone)]
struct MarkService<S>(S);
impl<S> tower_service::Service<http::Request<zzz::Body>> for MarkService<S>
where
    S: tower_service::Service<http::Request<zzz::Body>, Response = zzz::Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = zzz::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<zzz::Response, std::convert::Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<zzz::Body>) -> Self::Future {
        if req.uri().path().ends_with("/halt") {
            return Box::pin(async { Ok(zzz::IntoResponse::into_response((StatusCode::IM_A_TEAPOT, "stopped by layer"))) });
        }
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            res.headers_mut().insert("x-layer", HeaderValue::from_static("seen"));
            Ok(res)
        })
    }
}

fn client() -> TestClient {
    TestClient::new(Endpoint::new(TestRouter::new()).state(Greeting("hi from state")).max_body_bytes(64))
}

#[tokio::test]
async fn static_beats_param_and_backtracks() {
    let c = client();
    c.get("/users/new").await.assert_status(200).assert_text("new user form");
    c.get("/users/7").await.assert_text("user 7");
    // `/users/new/edit` has no static route: the matcher backs off to `:id`.
    c.get("/users/new/edit").await.assert_text("edit new");
    c.get("/users/7/edit").await.assert_text("edit 7");
    // Empty segments and trailing slashes are ignored.
    c.get("//users//7/").await.assert_text("user 7");
}

#[tokio::test]
async fn params_by_name_and_by_position() {
    client().post("/users/3/posts/hello%20world").await.assert_status(200).assert_text("user 3 post hello world");
}

#[tokio::test]
async fn wildcards() {
    let c = client();
    c.get("/static/css/app.css").await.assert_text("[css/app.css]");
    c.get("/static").await.assert_text("[]");
    c.get("/static/a%2Fb").await.assert_text("[a/b]");
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    let c = client();
    c.get("/missing").await.assert_status(404).assert_text("no route found for GET /missing");
    c.get("/users/1/nothing").await.assert_status(404);
    c.post("/users/1").await.assert_status(405).assert_header("allow", "GET, HEAD, OPTIONS");
    c.get("/only-put").await.assert_status(405).assert_header("allow", "PUT, OPTIONS");
}

#[tokio::test]
async fn head_is_get_without_body() {
    let res = client().head("/users/12").await;
    res.assert_status(200).assert_text("").assert_header("content-length", "7");
    // An explicit HEAD route wins over GET.
    client().head("/explicit-head").await.assert_status(202);
}

#[tokio::test]
async fn options_answers_allow() {
    client().options("/users/5").await.assert_status(204).assert_header("allow", "GET, HEAD, OPTIONS");
    client().options("/nope").await.assert_status(404);
}

#[tokio::test]
async fn any_matches_every_method() {
    let c = client();
    c.get("/anything").await.assert_text("any GET");
    c.delete("/anything").await.assert_text("any DELETE");
    c.request(http::Method::from_bytes(b"PURGE").unwrap(), "/anything").await.assert_text("any PURGE");
}

#[tokio::test]
async fn pipelines_run_in_scopes_and_halt() {
    let c = client();
    c.get("/tagged/one").await.assert_status(200).assert_header("x-tagged", "yes");
    c.get("/").await.assert_no_header("x-tagged");
    let before = COUNTED.load(Ordering::SeqCst);
    // Halted by `require_token`: the handler and `Counter` do not run, but the outer
    // `tagged` pipeline's header is already on the conn.
    c.get("/tagged/secret/me")
        .await
        .assert_status(401)
        .assert_text("missing or invalid bearer token")
        .assert_header("x-tagged", "yes");
    assert_eq!(COUNTED.load(Ordering::SeqCst), before);
    c.get("/tagged/secret/me")
        .header("authorization", "Bearer good")
        .await
        .assert_status(200)
        .assert_text("me: alice")
        .assert_header("x-tagged", "yes");
    assert!(COUNTED.load(Ordering::SeqCst) > before);
}

#[tokio::test]
async fn tower_layers_wrap_the_rest_of_the_pipeline() {
    let c = client();
    c.get("/layered").await.assert_status(200).assert_header("x-layer", "seen").assert_header("x-tagged", "yes");
    c.get("/layered/halt").await.assert_status(418).assert_text("stopped by layer").assert_no_header("x-tagged");
}

#[tokio::test]
async fn resources_make_seven_actions() {
    let c = client();
    c.get("/blog/posts").await.assert_text("index");
    c.get("/blog/posts/new").await.assert_text("new");
    c.post("/blog/posts").await.assert_text("create");
    c.get("/blog/posts/4").await.assert_text("show 4");
    c.get("/blog/posts/4/edit").await.assert_text("edit 4");
    c.patch("/blog/posts/4").await.assert_text("update 4");
    c.put("/blog/posts/4").await.assert_text("update 4");
    c.delete("/blog/posts/4").await.assert_text("delete 4");
    c.get("/blog/posts/x").await.assert_status(400).assert_text_contains("path parameter \"id\"");
    // singleton with only:
    c.get("/blog/profile").await.assert_text("my profile");
    c.put("/blog/profile").await.assert_text("updated profile");
    c.delete("/blog/profile").await.assert_status(405);
    c.get("/blog/profile/new").await.assert_status(404);
    // only: [index, show]
    c.get("/blog/categories/2").await.assert_text("show 2");
    c.post("/blog/categories").await.assert_status(405);
}

#[tokio::test]
async fn forward_hands_the_rest_to_another_router() {
    let c = client();
    c.get("/admin").await.assert_status(200).assert_text("dashboard at /admin");
    c.get("/admin/").await.assert_text("dashboard at /admin/");
    c.get("/admin/stats/cpu").await.assert_text("stat cpu");
    c.get("/admin/nothing").await.assert_status(404).assert_text("no route found for GET /admin/nothing");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_for_that_request_only() {
    let c = client();
    c.get("/panic").await.assert_status(500).assert_text("Internal Server Error");
    c.get("/").await.assert_status(200);
}

#[tokio::test]
async fn json_extractor_rejections() {
    let c = client();
    c.post("/json").json(&serde_json::json!({"name": "a", "count": 3})).await.assert_status(200).assert_json(serde_json::json!({"name": "a", "count": 3}));
    c.post("/json").body("{}").await.assert_status(415).assert_text_contains("Content-Type: application/json");
    c.post("/json")
        .header("content-type", "application/json")
        .body("{\"name\": \"a\",\n \"count\": }")
        .await
        .assert_status(400)
        .assert_text_contains("line 2 column");
    c.post("/json")
        .header("content-type", "application/vnd.api+json")
        .body(r#"{"name": "a", "count": 300}"#)
        .await
        .assert_status(422)
        .assert_text_contains("JSON field \"count\"");
    c.post("/json")
        .header("content-type", "application/json")
        .body(r#"{"name": "a"}"#)
        .await
        .assert_status(422)
        .assert_text_contains("missing field");
}

#[tokio::test]
async fn body_limit_gives_413() {
    let c = client();
    c.post("/text").body("small").await.assert_status(200).assert_text("SMALL");
    // Declared length over the limit: refused before the handler runs.
    c.post("/text").header("content-length", "65").body(vec![b'a'; 65]).await.assert_status(413);
    // No declared length (a stream): cut off while reading.
    let chunks = futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(b"0123456789"))));
    c.post("/text").body(zzz::Body::from_stream(chunks)).await.assert_status(413).assert_text_contains("limit of 64 bytes");
    c.post("/text").body(vec![0xff, 0xfe]).await.assert_status(400).assert_text_contains("not valid UTF-8");
}

#[tokio::test]
async fn query_extractor() {
    let c = client();
    c.get("/query?q=rust&page=2").await.assert_text("rust p2");
    c.get("/query?q=a%20b").await.assert_text("a b p1");
    c.get("/query?q=x&page=two").await.assert_status(400).assert_text_contains("query parameter \"page\"");
    c.get("/query").await.assert_status(400).assert_text_contains("missing field \"q\"");
}

#[tokio::test]
async fn state_and_missing_state() {
    client().get("/state").await.assert_status(200).assert_text("hi from state");
    let bare = TestClient::new(Endpoint::new(TestRouter::new()));
    bare.get("/state").await.assert_status(500).assert_text_contains("Greeting");
}

#[tokio::test]
async fn closures_are_handlers() {
    client().get("/closure").await.assert_text("from a closure");
}

#[tokio::test]
async fn request_ids() {
    let res = client().get("/").await;
    let generated = res.header("x-request-id").expect("a generated id").to_owned();
    assert_eq!(generated.len(), 20);
    let other = client().get("/").await.header("x-request-id").unwrap().to_owned();
    assert_ne!(generated, other);
    let given = "abcdefghij0123456789-given";
    client().get("/").header("x-request-id", given).await.assert_header("x-request-id", given);
    // Too short: replaced.
    let res = client().get("/").header("x-request-id", "short").await;
    assert_ne!(res.header("x-request-id"), Some("short"));
}

#[tokio::test]
async fn endpoint_plugs_run_before_routing() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let endpoint = Endpoint::new(TestRouter::new()).plug(move |conn: Conn| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            conn
        }
    });
    let c = TestClient::new(endpoint);
    c.get("/").await.assert_status(200);
    c.get("/nope").await.assert_status(404);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[test]
fn path_helpers_and_route_table() {
    assert_eq!(TestRouter::root_path(), "/");
    assert_eq!(TestRouter::user_path(5), "/users/5");
    assert_eq!(TestRouter::user_post_path(1, "a b/c"), "/users/1/posts/a%20b%2Fc");
    assert_eq!(TestRouter::static_file_path("css/app.css"), "/static/css/app.css");
    assert_eq!(TestRouter::tagged_secret_me_path(), "/tagged/secret/me");
    assert_eq!(TestRouter::posts_path(), "/blog/posts");
    assert_eq!(TestRouter::post_path(3), "/blog/posts/3");
    assert_eq!(TestRouter::new_post_path(), "/blog/posts/new");
    assert_eq!(TestRouter::edit_post_path(3), "/blog/posts/3/edit");
    assert_eq!(TestRouter::profile_path(), "/blog/profile");
    assert_eq!(TestRouter::category_path(9), "/blog/categories/9");
    assert_eq!(TestRouter::categorys_path(), "/blog/categories");

    let table = zzz::router::format_routes(TestRouter::route_table());
    let rows: Vec<String> = table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    for expected in [
        "user_path GET /users/:id show_user",
        "post_path PATCH /blog/posts/:id posts::update",
        "post_path PUT /blog/posts/:id posts::update",
        "* /admin admin::AdminRouter",
    ] {
        assert!(rows.iter().any(|r| r == expected), "missing row {expected:?} in\n{table}");
    }
    // Columns are aligned: every path starts at the same offset.
    let offsets: Vec<usize> = table.lines().map(|l| l.find(" /").unwrap()).collect();
    assert!(offsets.windows(2).all(|w| w[0] == w[1]), "{table}");
    let me = TestRouter::route_table().iter().find(|r| r.path == "/tagged/secret/me").unwrap();
    assert_eq!(me.pipelines, &["tagged", "auth"]);
}
