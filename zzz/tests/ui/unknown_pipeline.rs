zzz::router! {
    pub AppRouter;
    pipeline browser {}
    scope "/" {
        pipe_through [browsr];
        get "/" => index;
    }
}
async fn index() -> &'static str { "" }
fn main() {}
