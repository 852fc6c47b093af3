zzz::router! {
    pub AppRouter;
    get "/users/:id" => show;
    get "/users/:user_id" => show;
}
async fn show() -> &'static str { "" }
fn main() {}
