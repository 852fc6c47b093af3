zzz::router! {
    pub AppRouter;
    get "/files/*path/raw" => index;
}
async fn index() -> &'static str { "" }
fn main() {}
