//! zzz: the compiled router, a one-plug pipeline, the default endpoint (request ids on).

use bench_http::{HELLO, Message, port};
use zzz::{Conn, Endpoint, Json};

zzz::router! {
    pub BenchRouter;

    pipeline api {
        plug mark;
    }

    scope "/" {
        pipe_through [api];
        get "/" => hello;
        get "/json" => json;
    }
}

async fn mark(mut conn: Conn) -> Conn {
    conn.assign(Marked);
    conn
}

#[derive(Clone, Copy)]
struct Marked;

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
    server.serve(Endpoint::new(BenchRouter::new())).await
}
