//! [`State`] and [`Assign`]: application state and values put on the conn by plugs.

use super::FromConnParts;
use super::rejection::MissingExtension;
use crate::conn::Conn;

/// Application state given to the endpoint with
/// [`Endpoint::state`](crate::Endpoint::state) (a pool, a config, a cache…), cloned
/// for the handler. Keep it cheap to clone (wrap big things in `Arc`).
///
/// ```
/// use zzz::State;
///
/// #[derive(Clone)]
/// struct AppConfig { greeting: &'static str }
///
/// async fn greet(State(config): State<AppConfig>) -> &'static str {
///     config.greeting
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromConnParts for State<T> {
    type Rejection = MissingExtension;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, MissingExtension> {
        conn.state::<T>().cloned().map(State).ok_or(MissingExtension {
            what: "endpoint state",
            type_name: std::any::type_name::<T>(),
            hint: "give it to the endpoint with `Endpoint::state`",
        })
    }
}

/// A value a plug stored with [`Conn::assign`](crate::Conn::assign), cloned for the
/// handler. Missing is a 500 that names the type (a plug that should have run did not).
#[derive(Debug, Clone, Copy, Default)]
pub struct Assign<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromConnParts for Assign<T> {
    type Rejection = MissingExtension;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, MissingExtension> {
        conn.assigns::<T>().cloned().map(Assign).ok_or(MissingExtension {
            what: "assign",
            type_name: std::any::type_name::<T>(),
            hint: "a plug in the pipeline should `conn.assign` it before the handler runs",
        })
    }
}
