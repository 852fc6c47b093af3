zzz::router! {
    pub AppRouter;
    fetch "/" => index;
}
async fn index() -> &'static str { "" }
fn main() {}
