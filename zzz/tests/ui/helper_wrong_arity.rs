zzz::router! {
    pub AppRouter;
    get "/users/:id/posts/:post_id" => index, as: user_post;
}
async fn index() -> &'static str { "" }
fn main() {
    let _ = AppRouter::user_post_path(1);
}
