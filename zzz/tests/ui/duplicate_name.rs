zzz::router! {
    pub AppRouter;
    get "/users" => index, as: users;
    get "/people" => index, as: users;
}
async fn index() -> &'static str { "" }
fn main() {}
