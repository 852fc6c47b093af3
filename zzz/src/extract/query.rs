//! [`Query`]: the typed query string.

use serde::de::DeserializeOwned;

use super::FromConnParts;
use super::rejection::QueryRejection;
use crate::conn::Conn;

/// The query string deserialized into `T` (usually a struct with `Option` fields for
/// optional parameters).
///
/// A value that does not parse is a 400 naming the parameter:
/// `query parameter "page": invalid digit found in string`.
///
/// ```
/// use serde::Deserialize;
/// use zzz::Query;
///
/// #[derive(Deserialize)]
/// struct Search { q: String, page: Option<u32> }
///
/// async fn search(Query(search): Query<Search>) -> String {
///     format!("{} (page {})", search.q, search.page.unwrap_or(1))
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromConnParts for Query<T> {
    type Rejection = QueryRejection;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, QueryRejection> {
        decode_query(conn.query_string()).map(Query)
    }
}

/// Decodes a query string into `T`, naming the offending parameter on failure.
pub(crate) fn decode_query<T: DeserializeOwned>(query: &str) -> Result<T, QueryRejection> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string().replace('`', "\"");
        QueryRejection { param: (path != ".").then_some(path), message }
    })
}
