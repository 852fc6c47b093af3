//! zzz with Phoenix's browser pipeline in front of the same `/` and `/json`: cookie
//! session, CSRF protection, secure browser headers and the request logger (no tracing
//! subscriber is installed, as in the other servers, so the log line costs only its
//! level check). Compare with `zzz` to see what the browser stack costs per request:
//! `SERVERS="zzz zzz_browser" bench/http.sh`.

use bench_http::{HELLO, Message, port};
use zzz::plugs::{CookieSession, CsrfProtection, Logger, SecretKeyBase, SecureHeaders};
use zzz::{Endpoint, Json};

zzz::router! {
    pub BenchRouter;

    pipeline browser {
        plug Logger::new();
        plug CookieSession::new();
        plug CsrfProtection::new();
        plug SecureHeaders::new();
    }

    scope "/" {
        pipe_through [browser];
        get "/" => hello;
        get "/json" => json;
    }
}

async fn hello() -> &'static str {
    HELLO
}

async fn json() -> Json<Message> {
    Json(Message { message: HELLO })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port()));
    let server = zzz::server::Server::bind(addr, zzz::server::ServerConfig::default())?;
    let endpoint = Endpoint::new(BenchRouter::new()).state(SecretKeyBase::new(&[42u8; 64]).expect("64 bytes"));
    server.serve(endpoint).await
}
