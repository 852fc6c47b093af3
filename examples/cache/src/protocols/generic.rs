//! The generic HTTP cache: `GET|HEAD|PUT|DELETE /cache/*key`, as Gradle's
//! `HttpBuildCache`, ccache's HTTP backend and any plain HTTP cache client use it.
//!
//! A hit is 200, a miss 404, a stored PUT 201 (Gradle accepts any 2xx), a body over
//! the limit 413. The key is any path; its first segment is its namespace when it has
//! several (`/cache/my-project/<hash>`), else `default`.

use zzz::{Conn, IntoResponse, Method, Response, StatusCode};

use super::{CacheError, Ctx};
use crate::keys;
use crate::metrics::Protocol;
use crate::storage::PutOptions;

/// The key of a request: the raw path after `/cache/`, validated; and the store key.
fn key(ctx: &Ctx, conn: &Conn) -> Result<(String, String), CacheError> {
    let raw = conn.path().strip_prefix("/cache").unwrap_or("");
    let key = keys::generic(raw).map_err(|e| ctx.bad_key(e))?;
    let namespace = keys::generic_namespace(&key).to_owned();
    let store_key = format!("generic/{namespace}/{key}");
    Ok((namespace, store_key))
}

/// `GET` (and `HEAD`) `/cache/*key`.
pub async fn get(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Generic);
    let (namespace, store_key) = key(&ctx, &conn)?;
    ctx.allow(&namespace, false)?;
    let head = conn.method() == Method::HEAD;
    ctx.read(super::Origin::of(&conn), &store_key, head).await?.ok_or_else(|| CacheError::miss(ctx.protocol, &store_key))
}

/// `PUT /cache/*key`.
pub async fn put(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Generic);
    let (namespace, store_key) = key(&ctx, &conn)?;
    ctx.allow(&namespace, true)?;
    ctx.write(conn, &store_key, PutOptions::default()).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /cache/*key`: 204, or 404 when there was nothing.
pub async fn delete(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Generic);
    let (namespace, store_key) = key(&ctx, &conn)?;
    ctx.allow(&namespace, true)?;
    match ctx.cache.store.delete(&store_key) {
        Ok(true) => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(false) => Err(CacheError::miss(ctx.protocol, &store_key)),
        Err(err) => Err(CacheError::io(ctx.protocol, err)),
    }
}
