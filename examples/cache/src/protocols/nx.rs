//! Nx's self-hosted remote cache: `GET|PUT /v1/cache/{hash}`, hashes being decimal
//! strings. A stored PUT answers **200** (nx 24 counts 202 as a failure and fails the
//! run), overwriting an existing entry 409, a read-only token 403, no token 401.
//! Nx has no namespaces: everything is in `default`.

use zzz::{Conn, IntoResponse, Method, Response, StatusCode};

use super::{CacheError, Ctx};
use crate::keys;
use crate::metrics::Protocol;
use crate::storage::PutOptions;

fn key(ctx: &Ctx, conn: &Conn) -> Result<String, CacheError> {
    let hash = keys::nx_hash(&conn.path_param("hash").unwrap_or_default()).map_err(|e| ctx.bad_key(e))?;
    Ok(format!("nx/default/{hash}"))
}

/// `GET /v1/cache/{hash}`: 200 with the artifact, or 404.
pub async fn get(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Nx);
    let store_key = key(&ctx, &conn)?;
    ctx.allow("default", false)?;
    let head = conn.method() == Method::HEAD;
    ctx.read(super::Origin::of(&conn), &store_key, head).await?.ok_or_else(|| CacheError::miss(ctx.protocol, &store_key))
}

/// `PUT /v1/cache/{hash}`: 200 when stored, 409 when the hash exists.
pub async fn put(conn: Conn) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Nx);
    let store_key = key(&ctx, &conn)?;
    ctx.allow("default", true)?;
    ctx.write(conn, &store_key, PutOptions { no_overwrite: true, ..PutOptions::default() }).await?;
    Ok(StatusCode::OK.into_response())
}
