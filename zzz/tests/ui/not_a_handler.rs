zzz::router! {
    pub AppRouter;
    get "/" => index;
}
struct NotAResponse;
async fn index() -> NotAResponse { NotAResponse }
fn main() {}
