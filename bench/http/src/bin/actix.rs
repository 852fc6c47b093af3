//! actix-web with its router (one worker per core, its default).

use actix_web::{App, HttpResponse, HttpServer, web};
use bench_http::{HELLO, Message, port};

async fn hello() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(HELLO)
}

async fn json() -> web::Json<Message> {
    web::Json(Message { message: HELLO })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    HttpServer::new(|| App::new().route("/", web::get().to(hello)).route("/json", web::get().to(json)))
        .bind(("127.0.0.1", port()))?
        .run()
        .await
}
