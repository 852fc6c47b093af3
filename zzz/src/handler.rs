//! [`Handler`]: async functions whose arguments are extractors (controller actions).

use std::future::Future;

use crate::conn::Conn;
use crate::extract::{FromConn, FromConnParts};
use crate::response::{IntoResponse, Response};

/// An async function usable as a route's handler.
///
/// Implemented for every `async fn` (or closure returning a future) with up to 12
/// arguments where every argument but the last is a [`FromConnParts`] extractor, the
/// last is a [`FromConn`] extractor, and the output implements [`IntoResponse`].
/// The `Args` parameter only tells the implementations apart; you never name it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a zzz handler",
    label = "not a handler",
    note = "a handler is an `async fn` whose arguments are extractors (only the last may take the body) and whose output implements `IntoResponse`",
    note = "check each argument: `Path<T>`, `Query<T>`, `State<T>`, `HeaderMap`… first; `Json<T>`, `String`, `Bytes` or `Conn` last"
)]
pub trait Handler<Args>: Clone + Send + Sync + 'static {
    /// Runs the extractors on the conn, then the function, and makes the response.
    fn call(self, conn: Conn) -> impl Future<Output = Response> + Send;
}

impl<F, Fut, Res> Handler<()> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send,
    Res: IntoResponse,
{
    async fn call(self, _conn: Conn) -> Response {
        self().await.into_response()
    }
}

macro_rules! impl_handler {
    ($($ty:ident),*; $last:ident) => {
        #[allow(non_snake_case, unused_mut)]
        impl<F, Fut, Res, M, $($ty,)* $last> Handler<(M, $($ty,)* $last)> for F
        where
            F: FnOnce($($ty,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Res> + Send,
            Res: IntoResponse,
            $($ty: FromConnParts + Send,)*
            $last: FromConn<M> + Send,
        {
            async fn call(self, mut conn: Conn) -> Response {
                $(
                    let $ty = match $ty::from_conn_parts(&mut conn).await {
                        Ok(value) => value,
                        Err(rejection) => return rejection.into_response(),
                    };
                )*
                let $last = match $last::from_conn(conn).await {
                    Ok(value) => value,
                    Err(rejection) => return rejection.into_response(),
                };
                self($($ty,)* $last).await.into_response()
            }
        }
    };
}

impl_handler!(; T1);
impl_handler!(T1; T2);
impl_handler!(T1, T2; T3);
impl_handler!(T1, T2, T3; T4);
impl_handler!(T1, T2, T3, T4; T5);
impl_handler!(T1, T2, T3, T4, T5; T6);
impl_handler!(T1, T2, T3, T4, T5, T6; T7);
impl_handler!(T1, T2, T3, T4, T5, T6, T7; T8);
impl_handler!(T1, T2, T3, T4, T5, T6, T7, T8; T9);
impl_handler!(T1, T2, T3, T4, T5, T6, T7, T8, T9; T10);
impl_handler!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10; T11);
impl_handler!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11; T12);
