//! The HTTP and API plugs through the test client: static files, compression, CORS,
//! request ids, logger, telemetry, secure headers, method override, accepts, Basic /
//! Bearer / JWT auth, rate limiting, templates and error pages — with bad inputs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zzz::plugs::layers::{compression, cors};
use zzz::plugs::{
    Accepts, BasicAuth, BearerToken, Format, Jwt, JwtKey, JwtVerifier, LogFormat, Logger, MethodOverride, Parsers,
    RateLimit, RequireBasicAuth, RequireBearer, RequireJwt, SecureHeaders, Static, Telemetry, TelemetryEvent,
};
use zzz::template::askama::Template;
use zzz::template::{ErrorInfo, ErrorPages, Page, PageContext};
use zzz::test::TestClient;
use zzz::{Endpoint, Method, Pipeline};

async fn ok() -> &'static str {
    "ok"
}

// ----- static files -----

zzz::router! {
    pub StaticRouter;
    get "/" => ok;
    post "/assets/app.css" => ok;
}

struct StaticDir {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
}

fn static_dir() -> StaticDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("public");
    std::fs::create_dir_all(root.join("css")).unwrap();
    std::fs::write(root.join("css/app.css"), "body { color: red; }").unwrap();
    std::fs::write(root.join("css/app.css.gz"), "GZIPPED-BYTES").unwrap();
    std::fs::write(root.join("css/app.css.br"), "BROTLI-BYTES").unwrap();
    std::fs::write(root.join("app-0123456789abcdef0123456789abcdef.js"), "console.log(1)").unwrap();
    std::fs::write(root.join("with space.txt"), "spaced").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "TOP SECRET").unwrap();
    StaticDir { _dir: dir, root }
}

#[tokio::test]
async fn static_files_etags_ranges_precompressed_and_cache() {
    let dir = static_dir();
    let client = TestClient::new(
        Endpoint::new(StaticRouter::new()).plug(Static::new("/assets", &dir.root).gzip(true).brotli(true)),
    );
    let response = client.get("/assets/css/app.css").await;
    response.assert_status(200).assert_text("body { color: red; }").assert_header("cache-control", "public");
    assert_eq!(response.content_type(), Some("text/css"));
    let etag = response.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let last_modified = response.header("last-modified").unwrap().to_owned();

    // Revalidation: ETag and Last-Modified.
    client
        .get("/assets/css/app.css")
        .header("if-none-match", &etag)
        .await
        .assert_status(304)
        .assert_text("")
        .assert_header("etag", &etag);
    client.get("/assets/css/app.css").header("if-none-match", "\"other\"").await.assert_status(200);
    client.get("/assets/css/app.css").header("if-modified-since", &last_modified).await.assert_status(304);

    // Ranges.
    client
        .get("/assets/css/app.css")
        .header("range", "bytes=0-3")
        .await
        .assert_status(206)
        .assert_text("body")
        .assert_header("content-range", "bytes 0-3/20");
    client.get("/assets/css/app.css").header("range", "bytes=50-60").await.assert_status(416);

    // Precompressed variants, chosen by Accept-Encoding, with their own ETag.
    let gz = client.get("/assets/css/app.css").header("accept-encoding", "gzip").await;
    gz.assert_status(200).assert_text("GZIPPED-BYTES").assert_header("content-encoding", "gzip");
    assert_ne!(gz.header("etag").unwrap(), etag);
    assert_eq!(gz.content_type(), Some("text/css"));
    client
        .get("/assets/css/app.css")
        .header("accept-encoding", "br")
        .await
        .assert_text("BROTLI-BYTES")
        .assert_header("content-encoding", "br")
        .assert_header("vary", "accept-encoding");

    // Digested names and ?vsn= get a year of cache.
    client
        .get("/assets/app-0123456789abcdef0123456789abcdef.js")
        .await
        .assert_status(200)
        .assert_header("cache-control", zzz::plugs::static_files::LONG_CACHE);
    client
        .get("/assets/css/app.css?vsn=d")
        .await
        .assert_header("cache-control", "public, max-age=31536000, immutable");
    // Encoded names, HEAD.
    client.get("/assets/with%20space.txt").await.assert_status(200).assert_text("spaced");
    client.head("/assets/css/app.css").await.assert_status(200).assert_text("").assert_header("content-length", "20");

    // Not a file, another prefix, other methods: on to the router.
    client.get("/assets/missing.css").await.assert_status(404).assert_text_contains("no route found");
    client.get("/assets/css").await.assert_status(404);
    client.get("/").await.assert_status(200).assert_text("ok");
    client.post("/assets/app.css").await.assert_status(200).assert_text("ok");
}

#[tokio::test]
async fn static_files_refuse_path_traversal() {
    let dir = static_dir();
    let client = TestClient::new(Endpoint::new(StaticRouter::new()).plug(Static::new("/assets", &dir.root)));
    for path in [
        "/assets/../secret.txt",
        "/assets/css/../../secret.txt",
        "/assets/%2e%2e/secret.txt",
        "/assets/%2E%2E/secret.txt",
        "/assets/..%2fsecret.txt",
        "/assets/..%2Fsecret.txt",
        "/assets/css/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/assets/..%5csecret.txt",
        "/assets/.%2e/secret.txt",
        "/assets/%2e/css/app.css",
        "/assets/css%00/app.css",
        "/assets/C:%5csecret.txt",
    ] {
        let response = client.get(path).await;
        response.assert_status(400).assert_text_contains("invalid static file path");
        assert!(!response.text().contains("TOP SECRET"), "{path}");
    }
    // Double encoding is a literal name, not a traversal: not found, passed on.
    let response = client.get("/assets/%252e%252e/secret.txt").await;
    response.assert_status(404);
    assert!(!response.text().contains("TOP SECRET"));
    // A prefix that only starts the same way is not ours.
    client.get("/assetsx/css/app.css").await.assert_status(404);
}

// ----- compression and CORS -----

zzz::router! {
    pub LayerRouter;
    get "/big" => big;
    get "/small" => ok;
    post "/data" => ok;
}

async fn big() -> String {
    "zzz is a Phoenix-style web framework. ".repeat(200)
}

#[tokio::test]
async fn compression_layer_gzip_and_brotli() {
    let client = TestClient::new(Endpoint::new(LayerRouter::new()).pipeline(Pipeline::new().layer(compression())));
    let plain = client.get("/big").await;
    plain.assert_status(200).assert_no_header("content-encoding");
    let gz = client.get("/big").header("accept-encoding", "gzip").await;
    gz.assert_status(200).assert_header("content-encoding", "gzip");
    assert!(gz.bytes().len() < plain.bytes().len() / 10);
    let mut decoded = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.bytes()[..]), &mut decoded).unwrap();
    assert_eq!(decoded, plain.text());
    let br = client.get("/big").header("accept-encoding", "br").await;
    br.assert_header("content-encoding", "br");
    assert!(br.bytes().len() < plain.bytes().len() / 10);
    // Tiny bodies are left alone.
    client.get("/small").header("accept-encoding", "gzip").await.assert_no_header("content-encoding").assert_text("ok");
}

async fn stamp_status(mut conn: zzz::Conn) -> zzz::Conn {
    conn.register_before_send(|response| {
        let status = zzz::HeaderValue::from(response.status().as_u16());
        response.headers_mut().insert("x-seen-status", status);
    });
    conn
}

#[tokio::test]
async fn cors_preflight_and_simple_requests() {
    let layer = cors::CorsLayer::new()
        .allow_origin(["https://app.example".parse().unwrap()])
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([zzz::header::CONTENT_TYPE])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600));
    // A plug before the layer registers a before-send callback: it runs even when the
    // layer answers the preflight itself, without the router.
    let client = TestClient::new(
        Endpoint::new(LayerRouter::new()).pipeline(Pipeline::new().plug(stamp_status).layer(layer)),
    );
    let preflight = client
        .options("/data")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .await;
    preflight
        .assert_status(200)
        .assert_header("access-control-allow-origin", "https://app.example")
        .assert_header("access-control-allow-credentials", "true")
        .assert_header("access-control-max-age", "600");
    assert!(preflight.header("access-control-allow-methods").unwrap().contains("POST"));
    preflight.assert_header("x-seen-status", "200");
    client
        .post("/data")
        .header("origin", "https://app.example")
        .await
        .assert_status(200)
        .assert_header("access-control-allow-origin", "https://app.example")
        .assert_header("x-seen-status", "200");
    client.post("/data").header("origin", "https://evil.example").await.assert_no_header("access-control-allow-origin");
}

// ----- request id, logger, telemetry -----

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

zzz::router! {
    pub LogRouter;
    get "/users/:id" => ok;
    get "/boom" => boom;
}

async fn boom() -> &'static str {
    panic!("boom in a handler")
}

#[tokio::test(flavor = "current_thread")]
async fn logger_writes_one_line_per_request_and_telemetry_fires() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_target(true)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Tests without a subscriber may have cached callsites as uninteresting; recompute.
    tracing::callsite::rebuild_interest_cache();

    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = events.clone();
    let telemetry = Telemetry::new("test.endpoint").attach(move |event: &TelemetryEvent| {
        let line = match event {
            TelemetryEvent::Start { prefix, method, path, request_id, .. } => {
                format!("{prefix}.start {method} {path} {}", request_id.is_some())
            }
            TelemetryEvent::Stop { prefix, path, status, duration, .. } => {
                format!("{prefix}.stop {path} {status} {}", *duration < Duration::from_secs(5))
            }
        };
        sink.lock().unwrap().push(line);
    });
    let client = TestClient::new(
        Endpoint::new(LogRouter::new()).pipeline(Pipeline::new().plug(telemetry).plug(Logger::new())),
    );
    let given_id = "abcdefghijklmnopqrstuvwxyz-0123";
    client.get("/users/7").header("x-request-id", given_id).await.assert_status(200).assert_header("x-request-id", given_id);
    // Too short: replaced by a generated id.
    let generated = client.get("/users/8").header("x-request-id", "short").await;
    let id = generated.header("x-request-id").unwrap();
    assert_eq!(id.len(), 20);
    assert_ne!(id, "short");
    client.get("/nope").await.assert_status(404);
    client.get("/boom").await.assert_status(500);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("zzz::request")).collect();
    assert_eq!(lines.len(), 4, "one line per request: {log}");
    assert!(lines[0].contains("GET /users/7 -> 200 in ") && lines[0].contains(&format!("request_id={given_id}")), "{}", lines[0]);
    assert!(lines[0].contains("status=200") && lines[0].contains("duration_us="), "{}", lines[0]);
    assert!(lines[2].contains("GET /nope -> 404"), "{}", lines[2]);
    assert!(lines[3].contains("GET /boom -> 500"), "a panic is logged too: {}", lines[3]);

    let events = events.lock().unwrap();
    assert_eq!(events[0], "test.endpoint.start GET /users/7 true");
    assert_eq!(events[1], "test.endpoint.stop /users/7 200 true");
    assert!(events.contains(&"test.endpoint.stop /nope 404 true".to_owned()));
    assert!(events.contains(&"test.endpoint.stop /boom 500 true".to_owned()));
}

#[tokio::test(flavor = "current_thread")]
async fn logger_json_format() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Tests without a subscriber may have cached callsites as uninteresting; recompute.
    tracing::callsite::rebuild_interest_cache();
    let client = TestClient::new(
        Endpoint::new(LogRouter::new()).pipeline(Pipeline::new().plug(Logger::new().format(LogFormat::Json))),
    );
    client.get("/users/1").header("x-request-id", "request-id-for-json-test").await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log.lines().find(|l| l.contains("zzz::request")).expect("a request line");
    let json: serde_json::Value = serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap();
    assert_eq!(json["method"], "GET");
    assert_eq!(json["path"], "/users/1");
    assert_eq!(json["status"], 200);
    assert_eq!(json["request_id"], "request-id-for-json-test");
    assert!(json["duration_us"].is_u64());
}

// ----- secure headers, method override, accepts -----

zzz::router! {
    pub HeaderRouter;

    pipeline browser {
        plug Accepts::new(&["html"]);
        plug SecureHeaders::new().put("x-frame-options", "DENY");
    }
    pipeline api {
        plug Accepts::new(&["json", "text"]);
    }

    scope "/" {
        pipe_through [browser];
        get "/page" => page;
        get "/own-csp" => own_csp;
    }
    scope "/api" {
        pipe_through [api];
        get "/thing" => format_name;
    }
    post "/posts/1" => which_method;
    put "/posts/1" => which_method;
    delete "/posts/1" => which_method;
}

async fn page() -> zzz::Html<&'static str> {
    zzz::Html("<p>hi</p>")
}

async fn own_csp() -> (zzz::StatusCode, zzz::HeaderMap, &'static str) {
    let mut headers = zzz::HeaderMap::new();
    headers.insert("content-security-policy", "default-src 'none'".parse().unwrap());
    (zzz::StatusCode::OK, headers, "own")
}

async fn format_name(Format(format): Format) -> String {
    format
}

async fn which_method(method: Method) -> String {
    method.to_string()
}

#[tokio::test]
async fn secure_headers_method_override_and_accepts() {
    let client = TestClient::new(
        Endpoint::new(HeaderRouter::new()).pipeline(Pipeline::new().plug(Parsers::new()).plug(MethodOverride)),
    );
    client
        .get("/page")
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .await
        .assert_status(200)
        .assert_header("x-frame-options", "DENY")
        .assert_header("x-content-type-options", "nosniff")
        .assert_header("referrer-policy", "strict-origin-when-cross-origin")
        .assert_header("x-permitted-cross-domain-policies", "none")
        .assert_header("content-security-policy", "base-uri 'self'; frame-ancestors 'self';");
    client.get("/own-csp").await.assert_header("content-security-policy", "default-src 'none'");

    // Accepts: the header, q-values, _format, missing header, and 406.
    client.get("/api/thing").header("accept", "application/json").await.assert_text("json");
    client.get("/api/thing").header("accept", "text/plain;q=0.9, application/json;q=0.5").await.assert_text("text");
    client.get("/api/thing").header("accept", "text/*").await.assert_text("text");
    client.get("/api/thing").await.assert_text("json");
    client.get("/api/thing?_format=text").header("accept", "application/json").await.assert_text("text");
    client
        .get("/api/thing")
        .header("accept", "text/html")
        .await
        .assert_status(406)
        .assert_text_contains("expected one of [\"json\", \"text\"]");
    client.get("/api/thing?_format=xml").await.assert_status(406);
    client.get("/page").header("accept", "application/json").await.assert_status(406);

    // Method override: POST with _method becomes PUT or DELETE; GET is untouched; junk ignored.
    let form = "application/x-www-form-urlencoded";
    client.post("/posts/1").header("content-type", form).body("_method=put").await.assert_text("PUT");
    client.post("/posts/1").header("content-type", form).body("_method=DELETE").await.assert_text("DELETE");
    client.post("/posts/1").header("content-type", form).body("_method=CONNECT").await.assert_text("POST");
    client.post("/posts/1").header("content-type", form).body("x=1").await.assert_text("POST");
}

// ----- auth -----

zzz::router! {
    pub AuthRouter;

    pipeline admin { plug RequireBasicAuth::new("admin", "hunter2").realm("Admin area"); }
    pipeline api { plug RequireBearer::token("s3cret-token"); }
    pipeline jwt { plug RequireJwt::new(); }

    scope "/admin" {
        pipe_through [admin];
        get "/" => whoami;
    }
    scope "/api" {
        pipe_through [api];
        get "/token" => token;
    }
    scope "/jwt" {
        pipe_through [jwt];
        get "/me" => me;
    }
    get "/claims" => me;
}

async fn whoami(BasicAuth { username, .. }: BasicAuth) -> String {
    username
}

async fn token(BearerToken(token): BearerToken) -> String {
    token
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
}

async fn me(Jwt(claims): Jwt<Claims>) -> String {
    claims.sub
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

#[tokio::test]
async fn basic_and_bearer_auth() {
    let client = TestClient::new(Endpoint::new(AuthRouter::new()));
    client.get("/admin").header("authorization", &basic("admin", "hunter2")).await.assert_status(200).assert_text("admin");
    client
        .get("/admin")
        .await
        .assert_status(401)
        .assert_header("www-authenticate", "Basic realm=\"Admin area\"")
        .assert_text("missing `Authorization: Basic …` header");
    client.get("/admin").header("authorization", &basic("admin", "wrong")).await.assert_status(401).assert_text("wrong user name or password");
    client.get("/admin").header("authorization", "Basic !!!").await.assert_status(401).assert_text_contains("not valid base64");
    client.get("/admin").header("authorization", "Bearer x").await.assert_status(401).assert_text_contains("must use the Basic scheme");

    client.get("/api/token").header("authorization", "Bearer s3cret-token").await.assert_status(200).assert_text("s3cret-token");
    let missing = client.get("/api/token").await;
    missing.assert_status(401);
    assert!(missing.header("www-authenticate").unwrap().starts_with("Bearer realm=\"Application\", error=\"invalid_request\""));
    let wrong = client.get("/api/token").header("authorization", "Bearer nope").await;
    wrong.assert_status(401);
    assert!(wrong.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    client.get("/api/token").header("authorization", "Bearer").await.assert_status(401).assert_text_contains("has no credentials");
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn hs256(kid: Option<&str>, secret: &[u8], claims: &Claims) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
}

fn claims(sub: &str) -> Claims {
    Claims { sub: sub.to_owned(), exp: now() + 600, nbf: None, aud: Some("api".into()), iss: Some("issuer".into()) }
}

#[tokio::test]
async fn jwt_hs256_claims_and_bad_tokens() {
    let verifier = JwtVerifier::new().key(Some("k1"), JwtKey::hs256(b"secret-one")).audience(&["api"]).issuer(&["issuer"]);
    let client = TestClient::new(Endpoint::new(AuthRouter::new()).state(verifier));
    let bearer = |t: &str| format!("Bearer {t}");
    let good = hs256(Some("k1"), b"secret-one", &claims("ann"));
    client.get("/jwt/me").header("authorization", &bearer(&good)).await.assert_status(200).assert_text("ann");
    client.get("/claims").header("authorization", &bearer(&good)).await.assert_status(200).assert_text("ann");

    let cases: Vec<(String, &str)> = vec![
        (hs256(Some("k1"), b"other-secret", &claims("ann")), "signature does not verify"),
        (hs256(Some("k9"), b"secret-one", &claims("ann")), "unknown JWT key id \"k9\""),
        (hs256(None, b"secret-one", &claims("ann")), "no key id"),
        (hs256(Some("k1"), b"secret-one", &Claims { exp: now() - 120, ..claims("ann") }), "has expired"),
        (hs256(Some("k1"), b"secret-one", &Claims { nbf: Some(now() + 3600), ..claims("ann") }), "not valid yet"),
        (hs256(Some("k1"), b"secret-one", &Claims { aud: Some("other".into()), ..claims("ann") }), "audience"),
        (hs256(Some("k1"), b"secret-one", &Claims { iss: Some("evil".into()), ..claims("ann") }), "issuer"),
        ("not.a.jwt".to_owned(), "malformed JWT"),
    ];
    for (token, expected) in cases {
        let response = client.get("/jwt/me").header("authorization", &bearer(&token)).await;
        response.assert_status(401).assert_text_contains(expected);
        assert!(response.header("www-authenticate").unwrap().contains("error=\"invalid_token\""), "{expected}");
    }
    // A tampered payload with the original signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = String::from_utf8(b64.decode(&parts[1]).unwrap()).unwrap().replace("ann", "bob");
    parts[1] = b64.encode(payload);
    client.get("/jwt/me").header("authorization", &bearer(&parts.join("."))).await.assert_status(401).assert_text_contains("signature");
    client.get("/jwt/me").await.assert_status(401).assert_text_contains("missing `Authorization: Bearer");
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let output = std::process::Command::new("openssl").args(args).output().expect("openssl must be installed (Debian package `openssl`)");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[tokio::test]
async fn jwt_rs256_key_set_by_kid_reloaded_when_the_file_changes() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("rsa.pem");
    let key_str = key_path.to_str().unwrap();
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key_str]);
    let modulus = String::from_utf8(openssl(&["rsa", "-in", key_str, "-noout", "-modulus"])).unwrap();
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let private_pem = std::fs::read(&key_path).unwrap();
    let rs256 = |kid: &str, claims: &Claims| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_rsa_pem(&private_pem).unwrap()).unwrap()
    };
    let rsa_jwk = serde_json::json!({"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64.encode(&n), "e": "AQAB"});
    let oct_jwk = serde_json::json!({"kty": "oct", "kid": "hmac-2", "alg": "HS256", "k": b64.encode(b"rotated-secret")});
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, serde_json::json!({"keys": [rsa_jwk]}).to_string()).unwrap();

    let verifier = JwtVerifier::from_jwks_file(&jwks_path).unwrap().reload_every(Duration::ZERO);
    let client = TestClient::new(Endpoint::new(AuthRouter::new()).state(verifier));
    let bearer = |t: &str| format!("Bearer {t}");
    let rsa_token = rs256("rsa-1", &claims("rsa-user"));
    client.get("/jwt/me").header("authorization", &bearer(&rsa_token)).await.assert_status(200).assert_text("rsa-user");
    // An HS256 token pretending to use the RSA key id: algorithm mismatch.
    let confused = hs256(Some("rsa-1"), b"anything", &claims("x"));
    client.get("/jwt/me").header("authorization", &bearer(&confused)).await.assert_status(401).assert_text_contains("does not match its key");
    let hmac_token = hs256(Some("hmac-2"), b"rotated-secret", &claims("hmac-user"));
    client.get("/jwt/me").header("authorization", &bearer(&hmac_token)).await.assert_status(401).assert_text_contains("unknown JWT key id");

    // Add the HMAC key to the file: picked up without a restart.
    std::fs::write(&jwks_path, serde_json::json!({"keys": [rsa_jwk, oct_jwk]}).to_string()).unwrap();
    let file = std::fs::File::options().write(true).open(&jwks_path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(5)).unwrap();
    client.get("/jwt/me").header("authorization", &bearer(&hmac_token)).await.assert_status(200).assert_text("hmac-user");
    client.get("/jwt/me").header("authorization", &bearer(&rsa_token)).await.assert_status(200);

    // A broken file keeps the old keys.
    std::fs::write(&jwks_path, "{ not json").unwrap();
    let file = std::fs::File::options().write(true).open(&jwks_path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(10)).unwrap();
    client.get("/jwt/me").header("authorization", &bearer(&hmac_token)).await.assert_status(200);
    assert!(JwtVerifier::from_jwks_file(&jwks_path).is_err());
}

// ----- rate limiting -----

zzz::router! {
    pub LimitRouter;
    pipeline limited {
        plug RateLimit::per_key(2, 0.5, |conn| conn.header("x-api-key").map(str::to_owned));
    }
    pipeline by_ip { plug RateLimit::per_ip(1, 1.0); }
    scope "/" {
        pipe_through [limited];
        get "/limited" => ok;
    }
    scope "/ip" {
        pipe_through [by_ip];
        get "/" => ok;
    }
}

#[tokio::test]
async fn rate_limit_token_bucket_per_key() {
    let client = TestClient::new(Endpoint::new(LimitRouter::new()));
    client
        .get("/limited")
        .header("x-api-key", "a")
        .await
        .assert_status(200)
        .assert_header("x-ratelimit-limit", "2")
        .assert_header("x-ratelimit-remaining", "1");
    client.get("/limited").header("x-api-key", "a").await.assert_status(200).assert_header("x-ratelimit-remaining", "0");
    client
        .get("/limited")
        .header("x-api-key", "a")
        .await
        .assert_status(429)
        .assert_header("retry-after", "2")
        .assert_text_contains("rate limit exceeded");
    // Another key has its own bucket; no key is not limited.
    client.get("/limited").header("x-api-key", "b").await.assert_status(200);
    for _ in 0..5 {
        client.get("/limited").await.assert_status(200);
    }
    // Without a peer address the IP limiter uses one shared key.
    client.get("/ip").await.assert_status(200);
    client.get("/ip").await.assert_status(429).assert_header("retry-after", "1");
}

// ----- templates and error pages -----

#[derive(Template)]
#[template(
    askama = zzz::template::askama,
    source = "{% if let Some(info) = ctx.flash(\"info\") %}<p>{{ info }}</p>{% endif %}<h1>{{ title }}</h1>{{ ctx.csrf_input()|safe }}",
    ext = "html"
)]
struct Hello {
    ctx: PageContext,
    title: String,
}

#[derive(Template)]
#[template(askama = zzz::template::askama, source = "before {{ failing }} after", ext = "html")]
struct Broken {
    failing: Failing,
}

/// A value whose rendering fails, as a template error would.
struct Failing;

impl std::fmt::Display for Failing {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

#[derive(Template)]
#[template(askama = zzz::template::askama, source = "<h1>Custom {{ status }}</h1><p>{{ message }}</p>", ext = "html")]
struct CustomError {
    status: u16,
    message: String,
}

zzz::router! {
    pub PageRouter;
    get "/hello/:name" => hello;
    get "/broken" => broken;
    get "/boom" => boom;
    get "/num/:n" => num;
}

async fn hello(ctx: PageContext, zzz::Path(name): zzz::Path<String>) -> Page<Hello> {
    Page(Hello { ctx, title: name })
}

async fn broken() -> Page<Broken> {
    Page(Broken { failing: Failing })
}

async fn num(zzz::Path(n): zzz::Path<u32>) -> String {
    n.to_string()
}

#[tokio::test]
async fn templates_escape_and_render_as_pages() {
    let client = TestClient::new(Endpoint::new(PageRouter::new()));
    let response = client.get("/hello/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    response.assert_status(200).assert_header("content-type", "text/html; charset=utf-8");
    response.assert_text_contains("<h1>&#60;script&#62;alert(1)&#60;/script&#62;</h1>");
    // Without a session the CSRF input is there, empty.
    response.assert_text_contains("<input type=\"hidden\" name=\"_csrf_token\" value=\"\">");
    client.get("/broken").await.assert_status(500).assert_text_contains("rendering template `plugs_http::Broken` failed");
}

#[tokio::test]
async fn error_pages_for_browsers_plain_text_for_apis() {
    let client = TestClient::new(Endpoint::new(PageRouter::new()).plug(ErrorPages::new()));
    let html = "text/html,*/*;q=0.8";
    let not_found = client.get("/missing").header("accept", html).await;
    not_found.assert_status(404).assert_header("content-type", "text/html; charset=utf-8");
    not_found.assert_text_contains("<h1>404 Not Found</h1>").assert_text_contains("no route found for GET /missing");
    client.get("/missing").header("accept", "application/json").await.assert_status(404).assert_text("no route found for GET /missing");
    client.get("/num/x").header("accept", html).await.assert_status(400).assert_text_contains("path parameter &quot;n&quot;");
    // Production 500: no internals.
    let boom = client.get("/boom").header("accept", html).await;
    boom.assert_status(500).assert_text_contains("Something went wrong");
    assert!(!boom.text().contains("boom in a handler"));

    // Debug pages: the error, the request and the panic's backtrace; secrets left out.
    let debug = TestClient::new(Endpoint::new(PageRouter::new()).plug(ErrorPages::debug()));
    let page = debug.get("/boom?x=1").header("accept", html).header("cookie", "secret=1").header("x-custom", "<v>").await;
    page.assert_status(500).assert_text_contains("GET /boom?x=1").assert_text_contains("boom in a handler");
    page.assert_text_contains("Backtrace").assert_text_contains("&lt;v&gt;");
    assert!(!page.text().contains("secret=1"), "cookies are not shown");

    // Custom templates.
    let custom = TestClient::new(Endpoint::new(PageRouter::new()).plug(ErrorPages::new().render_with(|info: &ErrorInfo| {
        CustomError { status: info.status.as_u16(), message: info.message.clone() }.render().ok()
    })));
    custom.get("/missing").header("accept", html).await.assert_text("<h1>Custom 404</h1><p>no route found for GET /missing</p>");
}
