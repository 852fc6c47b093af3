//! The browser plugs through the test client: before-send callbacks, the cookie jar of
//! the test client, body parsers (JSON, nested urlencoded, multipart), cookies,
//! sessions, flash and CSRF — with their bad inputs.

use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::json;
use zzz::plugs::{
    BodyParams, Cookie, CookieSession, Cookies, CsrfProtection, CsrfToken, Flash, Form, OnInvalidCsrf, Parsers,
    PrivateCookies, SecretKeyBase, Session, SignedCookies, Upload,
};
use zzz::test::TestClient;
use zzz::{Assign, Conn, Endpoint, HeaderValue, Redirect, StatusCode};

// ----- before_send -----

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

fn log() -> &'static Log {
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    LOG.get_or_init(Log::default)
}

async fn hook_a(mut conn: Conn) -> Conn {
    let path = conn.path().to_owned();
    conn.register_before_send(move |response| {
        let status = HeaderValue::from_str(&response.status().as_u16().to_string()).unwrap();
        response.headers_mut().insert("x-hook-a", status);
        log().0.lock().unwrap().push(format!("a {path}"));
    });
    conn
}

async fn hook_b(mut conn: Conn) -> Conn {
    let path = conn.path().to_owned();
    conn.register_before_send(move |response| {
        // Runs before hook_a's callback (registered later): a sees b's header.
        response.headers_mut().insert("x-hook-b", HeaderValue::from_static("b"));
        log().0.lock().unwrap().push(format!("b {path}"));
    });
    conn
}

async fn halt_here(mut conn: Conn) -> Conn {
    conn.send_resp(StatusCode::FORBIDDEN, "halted").halt();
    conn
}

zzz::router! {
    pub HookRouter;

    pipeline hooked { plug hook_b; }
    pipeline halting { plug hook_b; plug halt_here; }

    scope "/" {
        pipe_through [hooked];
        get "/ok" => ok;
        get "/num/:n" => num;
    }
    scope "/halt" {
        pipe_through [halting];
        get "/" => ok;
    }
}

async fn ok() -> &'static str {
    "ok"
}

async fn num(zzz::Path(n): zzz::Path<u32>) -> String {
    n.to_string()
}

#[tokio::test]
async fn before_send_runs_for_handlers_halts_rejections_and_404s() {
    let client = TestClient::new(Endpoint::new(HookRouter::new()).plug(hook_a));
    let response = client.get("/ok").await;
    response.assert_status(200).assert_header("x-hook-a", "200").assert_header("x-hook-b", "b");
    // Reverse order of registration: the pipeline's hook (b) runs before the endpoint's (a).
    {
        let entries = log().0.lock().unwrap();
        let b = entries.iter().position(|e| e == "b /ok").expect("b ran");
        let a = entries.iter().position(|e| e == "a /ok").expect("a ran");
        assert!(b < a, "{entries:?}");
    }
    client.get("/halt").await.assert_status(403).assert_header("x-hook-a", "403").assert_header("x-hook-b", "b");
    // An extractor rejection is still a response the hooks see.
    client.get("/num/abc").await.assert_status(400).assert_header("x-hook-a", "400").assert_header("x-hook-b", "b");
    // A 404 from the router: only the endpoint-level hook was registered.
    client.get("/missing").await.assert_status(404).assert_header("x-hook-a", "404").assert_no_header("x-hook-b");
    let entries = log().0.lock().unwrap();
    assert_eq!(entries.iter().filter(|e| *e == "a /missing").count(), 1, "each callback runs once: {entries:?}");
}

// ----- test client cookie jar -----

zzz::router! {
    pub JarRouter;
    get "/set" => set_cookie;
    get "/delete" => delete_cookie;
    get "/echo" => echo_cookie;
}

async fn set_cookie(cookies: Cookies) -> &'static str {
    cookies.add(Cookie::build(("a", "1")).path("/"));
    cookies.add(Cookie::build(("b", "two words")).path("/"));
    "set"
}

async fn delete_cookie(cookies: Cookies) -> &'static str {
    cookies.remove(Cookie::build("a").path("/"));
    "deleted"
}

async fn echo_cookie(conn: Conn) -> String {
    conn.header("cookie").unwrap_or("none").to_owned()
}

#[tokio::test]
async fn test_client_keeps_cookies_only_when_asked() {
    let plain = TestClient::new(Endpoint::new(JarRouter::new()));
    plain.get("/set").await.assert_status(200);
    plain.get("/echo").await.assert_text("none");

    let client = TestClient::new(Endpoint::new(JarRouter::new())).with_cookies();
    let response = client.get("/set").await;
    assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
    assert_eq!(client.cookie("a").as_deref(), Some("1"));
    // The plain jar percent-encodes values; the client sends them back as received.
    assert_eq!(client.cookie("b").as_deref(), Some("two%20words"));
    let sent = client.get("/echo").await.text();
    let mut pairs: Vec<&str> = sent.split("; ").collect();
    pairs.sort();
    assert_eq!(pairs, ["a=1", "b=two%20words"]);
    client.get("/delete").await.assert_status(200);
    assert_eq!(client.cookie("a"), None, "a removal cookie empties the jar entry");
    client.get("/echo").await.assert_text("b=two%20words");
    // An explicit Cookie header wins over the jar.
    client.get("/echo").header("cookie", "x=y").await.assert_text("x=y");
    client.clear_cookies();
    client.get("/echo").await.assert_text("none");
}

// ----- parsers -----

#[derive(Debug, Deserialize)]
struct User {
    name: String,
    age: u32,
    tags: Vec<String>,
    admin: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Signup {
    user: User,
}

zzz::router! {
    pub ParseRouter;

    pipeline parse { plug Parsers::new().json_limit(100).urlencoded_limit(200).multipart_limit(2_000).file_limit(500); }
    pipeline strict { plug Parsers::new().pass_unknown(false); }
    pipeline defaults { plug Parsers::new(); }

    scope "/" {
        pipe_through [parse];
        post "/params" => echo_params;
        post "/signup" => signup;
        post "/upload" => upload;
    }
    scope "/strict" {
        pipe_through [strict];
        post "/params" => echo_params;
    }
    scope "/defaults" {
        pipe_through [defaults];
        post "/params" => echo_params;
    }
    post "/bare/signup" => signup;
}

async fn echo_params(params: BodyParams) -> zzz::Json<serde_json::Value> {
    zzz::Json(params.to_json())
}

async fn signup(Form(form): Form<Signup>) -> String {
    format!("{} {} {:?} {:?}", form.user.name, form.user.age, form.user.tags, form.user.admin)
}

#[derive(Debug, Deserialize)]
struct UploadForm {
    title: String,
    file: Upload,
}

async fn upload(Form(form): Form<UploadForm>) -> zzz::Json<serde_json::Value> {
    let content = std::fs::read_to_string(&form.file.path).expect("the upload is on disk during the request");
    zzz::Json(json!({
        "title": form.title,
        "filename": form.file.filename,
        "content_type": form.file.content_type,
        "size": form.file.size,
        "content": content,
        "path": form.file.path,
    }))
}

fn parse_client() -> TestClient {
    TestClient::new(Endpoint::new(ParseRouter::new()))
}

#[tokio::test]
async fn json_bodies_parse_with_limits_and_positions() {
    let client = parse_client();
    client
        .post("/params")
        .json(&json!({"a": {"b": [1, 2]}}))
        .await
        .assert_status(200)
        .assert_json(json!({"a": {"b": [1, 2]}}));
    // A document that is not an object goes under "_json", as in Plug.
    client.post("/params").json(&json!([1, 2])).await.assert_json(json!({"_json": [1, 2]}));
    client
        .post("/params")
        .header("content-type", "application/json")
        .body("{\"a\": 1,\n  \"b\": x}")
        .await
        .assert_status(400)
        .assert_text("invalid JSON at line 2 column 8: expected value");
    let big = format!("{{\"a\": \"{}\"}}", "x".repeat(200));
    client
        .post("/params")
        .header("content-type", "application/json")
        .body(big)
        .await
        .assert_status(413)
        .assert_text("JSON request body is larger than the limit of 100 bytes");
    // Unknown content types pass by default, and are 415 with `pass_unknown(false)`.
    client.post("/params").header("content-type", "text/csv").body("a,b").await.assert_status(200).assert_json(json!({}));
    client
        .post("/strict/params")
        .header("content-type", "text/csv")
        .body("a,b")
        .await
        .assert_status(415)
        .assert_text_contains("unsupported request content type `text/csv`");
}

#[tokio::test]
async fn urlencoded_bodies_nest_like_plug() {
    let client = parse_client();
    let body = "user[name]=ann&user[tags][]=x&user[tags][]=y&user[address][city]=Oslo&items[][id]=1&items[][n]=a&items[][id]=2&plain=%C3%A9+t";
    client
        .post("/params")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .await
        .assert_status(200)
        .assert_json(json!({
            "user": {"name": "ann", "tags": ["x", "y"], "address": {"city": "Oslo"}},
            "items": [{"id": "1", "n": "a"}, {"id": "2"}],
            "plain": "é t",
        }));
    // Typed: numbers and booleans parsed from the text, empty → None.
    let form = "user[name]=ann&user[age]=41&user[tags][]=a&user[admin]=true";
    client
        .post("/signup")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .await
        .assert_status(200)
        .assert_text("ann 41 [\"a\"] Some(true)");
    client
        .post("/signup")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user[name]=ann&user[age]=&user[tags][]=a&user[admin]=")
        .await
        .assert_status(422)
        .assert_text("form field \"user.age\": invalid value \"\": expected u32");
    client
        .post("/signup")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user[name]=ann&user[age]=3&user[tags][]=a&user[admin]=")
        .await
        .assert_status(200)
        .assert_text("ann 3 [\"a\"] None");
    client
        .post("/signup")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user[name]=ann&user[tags][]=a")
        .await
        .assert_status(422)
        .assert_text_contains("missing field \"age\"");
    // Malformed keys and conflicting shapes are 400s naming the key.
    client
        .post("/params")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user[name=ann")
        .await
        .assert_status(400)
        .assert_text("invalid urlencoded body: parameter name \"user[name\" has an unclosed `[`");
    client
        .post("/params")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a[]=1&a[b]=2")
        .await
        .assert_status(400)
        .assert_text_contains("uses \"a\" as a map, but it is already a list");
    client
        .post("/params")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("a={}", "x".repeat(300)))
        .await
        .assert_status(413)
        .assert_text("urlencoded request body is larger than the limit of 200 bytes");
    // Without the parser plug, Form reads a urlencoded body itself.
    client
        .post("/bare/signup")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .await
        .assert_status(200);
    client
        .post("/bare/signup")
        .json(&json!({}))
        .await
        .assert_status(415)
        .assert_text_contains("expected a form body");
}

#[tokio::test]
async fn default_limits_are_plugs() {
    assert_eq!(zzz::plugs::parsers::DEFAULT_JSON_LIMIT, 8_000_000);
    assert_eq!(zzz::plugs::parsers::DEFAULT_MULTIPART_LIMIT, 8_000_000);
    assert_eq!(zzz::plugs::parsers::DEFAULT_URLENCODED_LIMIT, 1_000_000);
    let client = parse_client();
    let just_under = format!("a={}", "x".repeat(999_990));
    client
        .post("/defaults/params")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(just_under)
        .await
        .assert_status(200);
    let over = format!("a={}", "x".repeat(1_000_000));
    client
        .post("/defaults/params")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(over)
        .await
        .assert_status(413)
        .assert_text("urlencoded request body is larger than the limit of 1000000 bytes");
}

fn multipart(parts: &[(&str, Option<&str>, &str)]) -> (String, String) {
    let boundary = "XyZzYboundary";
    let mut body = String::new();
    for (name, filename, content) in parts {
        body.push_str(&format!("--{boundary}\r\n"));
        match filename {
            Some(f) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/plain\r\n\r\n"
            )),
            None => body.push_str(&format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")),
        }
        body.push_str(content);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn multipart_uploads_go_to_temp_files_removed_at_request_end() {
    let client = parse_client();
    let (ct, body) = multipart(&[("title", None, "Notes"), ("file", Some("notes.txt"), "hello upload")]);
    let response = client.post("/upload").header("content-type", &ct).body(body).await;
    response.assert_status(200);
    let value: serde_json::Value = response.json();
    assert_eq!(value["title"], "Notes");
    assert_eq!(value["filename"], "notes.txt");
    assert_eq!(value["content_type"], "text/plain");
    assert_eq!(value["size"], 12);
    assert_eq!(value["content"], "hello upload");
    let path = std::path::PathBuf::from(value["path"].as_str().unwrap());
    assert!(!path.exists(), "the temporary file {path:?} must be removed when the request ends");

    // One file over the per-file limit (500 bytes).
    let big = "x".repeat(600);
    let (ct, body) = multipart(&[("title", None, "t"), ("file", Some("big.txt"), &big)]);
    client
        .post("/upload")
        .header("content-type", &ct)
        .body(body)
        .await
        .assert_status(413)
        .assert_text("uploaded file in field \"file\" is larger than the limit of 500 bytes");
    // The whole body over the multipart limit (2000 bytes).
    let parts: Vec<(String, String)> = (0..6).map(|i| (format!("f{i}"), "y".repeat(400))).collect();
    let refs: Vec<(&str, Option<&str>, &str)> = parts.iter().map(|(n, c)| (n.as_str(), None, c.as_str())).collect();
    let (ct, body) = multipart(&refs);
    client
        .post("/upload")
        .header("content-type", &ct)
        .body(body)
        .await
        .assert_status(413)
        .assert_text("multipart request body is larger than the limit of 2000 bytes");
    // No boundary, and a body that is not multipart.
    client
        .post("/upload")
        .header("content-type", "multipart/form-data")
        .body("x")
        .await
        .assert_status(400)
        .assert_text_contains("invalid multipart body");
    client
        .post("/upload")
        .header("content-type", "multipart/form-data; boundary=abc")
        .body("garbage without boundaries")
        .await
        .assert_status(400)
        .assert_text_contains("invalid multipart body");
    // A missing file field is a 422 naming it.
    let (ct, body) = multipart(&[("title", None, "Notes")]);
    client
        .post("/upload")
        .header("content-type", &ct)
        .body(body)
        .await
        .assert_status(422)
        .assert_text_contains("missing field \"file\"");
}

// ----- cookies -----

zzz::router! {
    pub CookieRouter;
    get "/set" => set_secure;
    get "/read" => read_secure;
}

async fn set_secure(signed: SignedCookies, private: PrivateCookies) -> &'static str {
    signed.add(Cookie::build(("plan", "pro")).path("/"));
    private.add(Cookie::build(("user", "id:42")).path("/"));
    "set"
}

async fn read_secure(signed: SignedCookies, private: PrivateCookies, plain: Cookies) -> String {
    format!(
        "signed={:?} private={:?} raw_private_is_opaque={}",
        signed.get("plan"),
        private.get("user"),
        // `:` is in no base64 alphabet, so only a leaked plaintext can contain "id:42"
        // (a bare "42" shows up in random ciphertext about once in a hundred runs).
        plain.get("user").is_some_and(|v| !v.contains("id:42"))
    )
}

#[tokio::test]
async fn signed_and_private_cookies_resist_tampering() {
    let secret = SecretKeyBase::new(&[3u8; 64]).unwrap();
    let client = TestClient::new(Endpoint::new(CookieRouter::new()).state(secret)).with_cookies();
    client.get("/set").await.assert_status(200);
    client
        .get("/read")
        .await
        .assert_text("signed=Some(\"pro\") private=Some(\"id:42\") raw_private_is_opaque=true");

    // Change the signed value but keep the signature: rejected.
    let signed = client.cookie("plan").unwrap();
    client.put_cookie("plan", &signed.replace("pro", "max"));
    // Flip one character of the encrypted value: rejected.
    let private = client.cookie("user").unwrap();
    let mut bytes = private.into_bytes();
    // A letter or digit outside any `%XX` escape (the jar keeps `+` and `/` escaped;
    // breaking an escape would make the raw cookie unreadable, not just undecryptable).
    let i = (5..bytes.len())
        .find(|&i| bytes[i].is_ascii_alphanumeric() && bytes[i - 1] != b'%' && bytes[i - 2] != b'%')
        .expect("an alphanumeric character to flip");
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    client.put_cookie("user", &String::from_utf8(bytes).unwrap());
    client.get("/read").await.assert_text("signed=None private=None raw_private_is_opaque=true");

    // A cookie made with another secret is worth nothing here.
    let other = TestClient::new(Endpoint::new(CookieRouter::new()).state(SecretKeyBase::new(&[4u8; 64]).unwrap()))
        .with_cookies();
    other.get("/set").await;
    client.put_cookie("user", &other.cookie("user").unwrap());
    client.get("/read").await.assert_text_contains("private=None");

    // Without a secret the handler is not run: 500 saying what is missing.
    let no_secret = TestClient::new(Endpoint::new(CookieRouter::new()));
    no_secret.get("/set").await.assert_status(500).assert_text_contains("need a `zzz::plugs::SecretKeyBase`");
    assert!(SecretKeyBase::new(b"short").is_err());
}

// ----- sessions, flash, CSRF -----

zzz::router! {
    pub SessionRouter;

    pipeline browser {
        plug Parsers::new();
        plug CookieSession::new();
        plug CsrfProtection::new();
    }
    pipeline lenient {
        plug CookieSession::new();
        plug CsrfProtection::new().on_invalid(OnInvalidCsrf::ClearSession);
    }
    pipeline no_session {
        plug CsrfProtection::new();
    }

    scope "/" {
        pipe_through [browser];
        get "/show" => show_session;
        get "/form" => form;
        post "/put" => put_value;
        post "/login" => login;
        post "/logout" => logout;
        post "/flash-redirect" => flash_redirect;
        get "/flash-here" => flash_here;
        put "/api/thing" => put_value;
    }
    scope "/lenient" {
        pipe_through [lenient];
        post "/put" => put_value;
    }
    scope "/nosession" {
        pipe_through [no_session];
        post "/put" => ok;
    }
}

async fn show_session(session: Session, flash: Flash) -> String {
    format!(
        "name={:?} flash={:?} id_len={}",
        session.get::<String>("name"),
        flash.get("info"),
        session.raw_id_len()
    )
}

trait IdLen {
    fn raw_id_len(&self) -> usize;
}

impl IdLen for Session {
    fn raw_id_len(&self) -> usize {
        self.get::<String>("_id").map_or(0, |id| id.len())
    }
}

async fn form(csrf: CsrfToken) -> String {
    csrf.value().to_owned()
}

#[derive(Deserialize)]
struct PutForm {
    name: String,
}

async fn put_value(session: Session, Form(form): Form<PutForm>) -> &'static str {
    session.put("name", &form.name);
    "stored"
}

async fn login(session: Session, Assign(params): Assign<BodyParams>) -> String {
    let before = session.id();
    session.renew();
    session.put("user", &params.get_str("user").unwrap_or("?"));
    format!("{before} -> {}", session.id())
}

async fn logout(session: Session) -> &'static str {
    session.clear();
    "bye"
}

async fn flash_redirect(flash: Flash) -> Redirect {
    flash.put("info", "Saved!");
    Redirect::see_other("/show")
}

async fn flash_here(flash: Flash) -> String {
    flash.put("info", "Only here");
    format!("{:?}", flash.get("info"))
}

fn session_client() -> TestClient {
    let secret = SecretKeyBase::new(&[9u8; 64]).unwrap();
    TestClient::new(Endpoint::new(SessionRouter::new()).state(secret)).with_cookies()
}

async fn token(client: &TestClient) -> String {
    client.get("/form").await.assert_status(200).text()
}

#[tokio::test]
async fn sessions_round_trip_and_tampered_cookies_give_an_empty_session() {
    let client = session_client();
    // A request that does not touch the session sets no cookie.
    client.get("/show").await.assert_status(200).assert_no_header("set-cookie");
    let token = token(&client).await;
    let response = client.post("/put").form(&[("name", "ann"), ("_csrf_token", token.as_str())]).await;
    response.assert_status(200).assert_text("stored");
    let set_cookie = response.header("set-cookie").unwrap().to_owned();
    assert!(set_cookie.starts_with("_zzz_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/"));
    // Encrypted: the value does not show the data.
    assert!(!client.cookie("_zzz_session").unwrap().contains("ann"));
    client.get("/show").await.assert_text_contains("name=Some(\"ann\")");

    // Tampering: flip a character → empty session, 200, never an error.
    let value = client.cookie("_zzz_session").unwrap();
    let mut bytes = value.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    client.put_cookie("_zzz_session", &String::from_utf8(bytes).unwrap());
    client.get("/show").await.assert_status(200).assert_text_contains("name=None");
    // Garbage and an empty value too.
    client.put_cookie("_zzz_session", "not-even-base64!!");
    client.get("/show").await.assert_status(200).assert_text_contains("name=None");
    client.put_cookie("_zzz_session", "");
    client.get("/show").await.assert_status(200).assert_text_contains("name=None");
}

#[tokio::test]
async fn renew_changes_the_id_and_csrf_token_and_clear_removes_the_cookie() {
    let client = session_client();
    let first_token = token(&client).await;
    let response = client.post("/login").form(&[("user", "ann"), ("_csrf_token", first_token.as_str())]).await;
    response.assert_status(200);
    let text = response.text();
    let (before, after) = text.split_once(" -> ").unwrap();
    assert_ne!(before, after, "renew gives a new id");
    // The token from before login is no longer valid.
    client
        .post("/put")
        .form(&[("name", "x"), ("_csrf_token", first_token.as_str())])
        .await
        .assert_status(403)
        .assert_text_contains("invalid CSRF token");
    let token = token(&client).await;
    client.post("/put").form(&[("name", "x"), ("_csrf_token", token.as_str())]).await.assert_status(200);
    let response = client.post("/logout").form(&[("_csrf_token", token.as_str())]).await;
    response.assert_status(200);
    assert!(response.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(client.cookie("_zzz_session"), None);
    client.get("/show").await.assert_text_contains("name=None");
}

#[tokio::test]
async fn flash_survives_exactly_one_redirect() {
    let client = session_client();
    let token = token(&client).await;
    let response = client.post("/flash-redirect").form(&[("_csrf_token", token.as_str())]).await;
    response.assert_status(303).assert_header("location", "/show");
    client.get("/show").await.assert_text_contains("flash=Some(\"Saved!\")");
    client.get("/show").await.assert_text_contains("flash=None");
    // A flash put on a page that is not a redirect shows there and is not kept.
    client.get("/flash-here").await.assert_text("Some(\"Only here\")");
    client.get("/show").await.assert_text_contains("flash=None");
}

#[tokio::test]
async fn csrf_checks_unsafe_methods() {
    let client = session_client();
    let a = token(&client).await;
    let b = token(&client).await;
    assert_ne!(a, b, "masked anew on every render");
    // Both masked forms are valid; in the form field and in the header.
    client.post("/put").form(&[("name", "x"), ("_csrf_token", a.as_str())]).await.assert_status(200);
    client.put("/api/thing").header("x-csrf-token", &b).form(&[("name", "y")]).await.assert_status(200);
    // Missing: a clear 403.
    client
        .post("/put")
        .form(&[("name", "x")])
        .await
        .assert_status(403)
        .assert_text("missing CSRF token: send the form field \"_csrf_token\" or the \"x-csrf-token\" header with the token of the page");
    // Wrong, mangled, or from another session.
    client.post("/put").form(&[("name", "x"), ("_csrf_token", "AAAA")]).await.assert_status(403);
    let mut mangled = a.clone().into_bytes();
    mangled[30] = if mangled[30] == b'x' { b'y' } else { b'x' };
    client
        .post("/put")
        .form(&[("name", "x"), ("_csrf_token", String::from_utf8(mangled).unwrap().as_str())])
        .await
        .assert_status(403)
        .assert_text_contains("invalid CSRF token");
    let other = session_client();
    let foreign = token(&other).await;
    client.post("/put").form(&[("name", "x"), ("_csrf_token", foreign.as_str())]).await.assert_status(403);
    // A forged POST from a browser with no session at all.
    let fresh = session_client();
    fresh.post("/put").form(&[("name", "x"), ("_csrf_token", a.as_str())]).await.assert_status(403);
    // GET is never checked.
    client.get("/show").await.assert_status(200);
    // `ClearSession` lets the request go on with an empty session.
    let lenient = session_client();
    lenient.post("/lenient/put").form(&[("name", "z")]).await.assert_status(200);
    // Without the session plug: a 500 naming it.
    client
        .post("/nosession/put")
        .form(&[("_csrf_token", a.as_str())])
        .await
        .assert_status(500)
        .assert_text_contains("CSRF protection needs the session");
}

// ----- session options -----

zzz::router! {
    pub OptionsRouter;

    pipeline signed {
        plug CookieSession::new()
            .protection(zzz::plugs::SessionProtection::Signed)
            .cookie_name("_signed")
            .secure(true)
            .max_age(std::time::Duration::from_secs(3600));
    }
    pipeline own_secret {
        plug CookieSession::new().secret(&SecretKeyBase::new(&[5u8; 64]).unwrap());
    }

    scope "/signed" {
        pipe_through [signed];
        get "/put" => put_name;
        get "/get" => get_name;
        get "/delete" => delete_name;
        get "/big" => put_big;
    }
    scope "/own" {
        pipe_through [own_secret];
        get "/put" => put_name;
        get "/get" => get_name;
    }
}

async fn put_name(session: Session) -> &'static str {
    session.put("name", "ann");
    session.put("n", &7u32);
    "ok"
}

async fn get_name(session: Session) -> String {
    format!("{:?} {:?} {:?}", session.get::<String>("name"), session.get::<u32>("n"), session.keys())
}

async fn delete_name(session: Session) -> &'static str {
    session.delete("name");
    "ok"
}

async fn put_big(session: Session) -> &'static str {
    session.put("big", &"x".repeat(5000));
    "ok"
}

#[tokio::test]
async fn signed_sessions_attributes_delete_and_size_limit() {
    use base64::Engine;
    let client = TestClient::new(Endpoint::new(OptionsRouter::new()).state(SecretKeyBase::new(&[8u8; 64]).unwrap()))
        .with_cookies();
    let response = client.get("/signed/put").await;
    let set_cookie = response.header("set-cookie").unwrap();
    assert!(set_cookie.starts_with("_signed=") && set_cookie.contains("Secure") && set_cookie.contains("Max-Age=3600"), "{set_cookie}");
    client.get("/signed/get").await.assert_text("Some(\"ann\") Some(7) [\"n\", \"name\"]");
    // Signed only: the client can read the data (signature + base64 JSON)…
    let value = client.cookie("_signed").unwrap();
    let payload = &value[44..];
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    assert_eq!(String::from_utf8(json).unwrap(), r#"{"n":7,"name":"ann"}"#);
    // …but not change it.
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"n":7,"name":"eve"}"#);
    client.put_cookie("_signed", &format!("{}{forged}", &value[..44]));
    client.get("/signed/get").await.assert_status(200).assert_text("None None []");
    client.put_cookie("_signed", &value);
    client.get("/signed/delete").await;
    client.get("/signed/get").await.assert_text("None Some(7) [\"n\"]");
    // Too big for a cookie: a 500 that says so, rather than a cookie browsers drop.
    client
        .get("/signed/big")
        .await
        .assert_status(500)
        .assert_text_contains("over the 4096-byte limit browsers keep");

    // A plug with its own secret needs none in the endpoint, and its cookies are
    // worthless under another secret.
    let own = TestClient::new(Endpoint::new(OptionsRouter::new())).with_cookies();
    own.get("/own/put").await.assert_status(200);
    own.get("/own/get").await.assert_text_contains("Some(\"ann\")");
    let stolen = own.cookie("_zzz_session").unwrap();
    let other = TestClient::new(Endpoint::new(SessionRouter::new()).state(SecretKeyBase::new(&[9u8; 64]).unwrap()))
        .with_cookies();
    other.put_cookie("_zzz_session", &stolen);
    other.get("/show").await.assert_status(200).assert_text_contains("name=None");
    // A session plug with no secret anywhere: 500 naming the fix.
    TestClient::new(Endpoint::new(SessionRouter::new()))
        .get("/show")
        .await
        .assert_status(500)
        .assert_text_contains("CookieSession has no secret");
}

// ----- nested params: round trip -----

mod nested_roundtrip {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use zzz::plugs::Param;
    use zzz::plugs::params::decode_urlencoded;

    /// Trees Plug-style keys can express without ambiguity: maps of strings, lists of
    /// strings and maps; no empty maps or lists.
    fn tree() -> impl Strategy<Value = Param> {
        let leaf = prop_oneof![
            ".{0,8}".prop_map(Param::Str),
            prop::collection::vec(".{0,6}".prop_map(Param::Str), 1..4).prop_map(Param::List),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop::collection::btree_map("[a-z]{1,5}", inner, 1..4).prop_map(Param::Map)
        })
    }

    fn encode(prefix: &str, value: &Param, out: &mut Vec<(String, String)>) {
        match value {
            Param::Str(s) => out.push((prefix.to_owned(), s.clone())),
            Param::List(items) => {
                for item in items {
                    encode(&format!("{prefix}[]"), item, out);
                }
            }
            Param::Map(map) => {
                for (k, v) in map {
                    encode(&format!("{prefix}[{k}]"), v, out);
                }
            }
            Param::File(_) => unreachable!(),
        }
    }

    proptest! {
        #[test]
        fn nested_keys_decode_to_the_tree_they_encode(root in prop::collection::btree_map("[a-z]{1,5}", tree(), 1..4)) {
            let mut pairs = Vec::new();
            for (k, v) in &root {
                encode(k, v, &mut pairs);
            }
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
            let decoded = decode_urlencoded(body.as_bytes()).unwrap();
            let expected = Param::Map(root.clone().into_iter().collect::<BTreeMap<_, _>>());
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn any_input_decodes_or_names_the_bad_key(input in "[a-z\\[\\]=&%0-9]{0,40}") {
            match decode_urlencoded(input.as_bytes()) {
                Ok(_) => {}
                Err(message) => prop_assert!(message.contains("parameter"), "{}", message),
            }
        }
    }
}

// ----- merged params -----

mod merged {
    use serde::Deserialize;
    use serde_json::json;
    use zzz::plugs::{MergedParams, Parsers};
    use zzz::test::TestClient;
    use zzz::Endpoint;

    #[derive(Debug, Deserialize)]
    struct Filter {
        status: Option<String>,
        limit: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    struct Search {
        id: u64,
        filter: Filter,
        page: Option<u32>,
        done: Option<bool>,
    }

    zzz::router! {
        pub MergedRouter;
        pipeline parse { plug Parsers::new(); }
        scope "/" {
            pipe_through [parse];
            get "/projects/:id/tasks" => tasks;
            post "/projects/:id/tasks" => tasks;
        }
    }

    async fn tasks(MergedParams(search): MergedParams<Search>) -> String {
        format!("{} {:?} {:?} {:?} {:?}", search.id, search.filter.status, search.filter.limit, search.page, search.done)
    }

    #[tokio::test]
    async fn path_over_body_over_query() {
        let client = TestClient::new(Endpoint::new(MergedRouter::new()));
        client
            .get("/projects/7/tasks?filter[status]=open&filter[limit]=20&page=2")
            .await
            .assert_status(200)
            .assert_text("7 Some(\"open\") Some(20) Some(2) None");
        // The body wins over the query; the path wins over both.
        client
            .post("/projects/7/tasks?page=2&id=99")
            .form(&[("page", "3"), ("filter[status]", "done"), ("id", "100")])
            .await
            .assert_text("7 Some(\"done\") None Some(3) None");
        // JSON numbers and booleans fit typed fields.
        client
            .post("/projects/8/tasks")
            .json(&json!({"filter": {"limit": 5}, "done": true}))
            .await
            .assert_text("8 None Some(5) None Some(true)");
        client
            .get("/projects/7/tasks?filter[limit]=many")
            .await
            .assert_status(422)
            .assert_text("form field \"filter.limit\": invalid value \"many\": expected u32");
        client
            .get("/projects/7/tasks?filter[status=x")
            .await
            .assert_status(400)
            .assert_text_contains("query string: parameter name \"filter[status\" has an unclosed `[`");
    }
}

// ----- uploads are removed on every path -----

mod upload_cleanup {
    use serde::Deserialize;
    use zzz::plugs::{Form, Parsers, Upload};
    use zzz::test::TestClient;
    use zzz::{Endpoint, StatusCode};

    fn upload_dir() -> &'static std::path::Path {
        static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
    }

    fn files_left() -> Vec<String> {
        std::fs::read_dir(upload_dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    zzz::router! {
        pub UploadRouter;
        pipeline parse { plug Parsers::new().file_limit(100).upload_dir(upload_dir()); }
        scope "/" {
            pipe_through [parse];
            post "/keep" => keep;
            post "/fail" => fail;
            post "/panic" => panics;
        }
    }

    #[derive(Deserialize)]
    struct Two {
        a: Upload,
        b: Upload,
    }

    async fn keep(Form(two): Form<Two>) -> String {
        // During the request both files exist, in the configured directory.
        assert!(two.a.path.starts_with(upload_dir()) && two.a.path.exists() && two.b.path.exists());
        format!("{} {}", two.a.size, two.b.size)
    }

    async fn fail(Form(_two): Form<Two>) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    async fn panics(Form(_two): Form<Two>) -> &'static str {
        panic!("handler failed after the upload")
    }

    fn body(a: &str, b: Option<&str>) -> (String, String) {
        let mut body = format!(
            "--B\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.txt\"\r\n\r\n{a}\r\n"
        );
        if let Some(b) = b {
            body.push_str(&format!("--B\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.bin\"\r\n\r\n{b}\r\n"));
        }
        body.push_str("--B--\r\n");
        ("multipart/form-data; boundary=B".to_owned(), body)
    }

    #[tokio::test]
    async fn temp_files_are_removed_after_success_rejection_limit_and_panic() {
        let client = TestClient::new(Endpoint::new(UploadRouter::new()));
        let (ct, ok) = body("first", Some("second!"));
        client.post("/keep").header("content-type", &ct).body(ok.clone()).await.assert_status(200).assert_text("5 7");
        assert!(files_left().is_empty(), "after success: {:?}", files_left());
        // The second file is over the limit: the first, already written, is removed too.
        let (ct, over) = body("first", Some(&"x".repeat(200)));
        client.post("/keep").header("content-type", &ct).body(over).await.assert_status(413);
        assert!(files_left().is_empty(), "after a limit: {:?}", files_left());
        // The extractor rejects (no `b`).
        let (ct, missing) = body("first", None);
        client.post("/keep").header("content-type", &ct).body(missing).await.assert_status(422);
        assert!(files_left().is_empty(), "after a rejection: {:?}", files_left());
        client.post("/fail").header("content-type", &ct).body(ok.clone()).await.assert_status(422);
        assert!(files_left().is_empty());
        // The handler panics: a 500, and still no file left behind.
        client.post("/panic").header("content-type", &ct).body(ok).await.assert_status(500);
        assert!(files_left().is_empty(), "after a panic: {:?}", files_left());
    }
}
