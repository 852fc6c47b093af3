zzz::router! {
    pub AppRouter;
    get "/users" => index;
    get "/users" => index;
}
async fn index() -> &'static str { "" }
fn main() {}
