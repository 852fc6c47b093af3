//! Bazel's HTTP remote cache: `GET|HEAD|PUT /ac/{sha256}` (action results) and
//! `/cas/{sha256}` (content-addressed blobs), optionally under an instance name
//! (`/{instance}/ac/…`), which is the namespace (`default` without one).
//!
//! Zero-byte blobs are stored and served like any other; a CAS upload whose content
//! does not hash to its key is refused with 400.

use zzz::{Conn, IntoResponse, Method, Response, StatusCode};

use super::{CacheError, Ctx};
use crate::keys;
use crate::metrics::Protocol;
use crate::storage::PutOptions;

/// Which of Bazel's two stores a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ac,
    Cas,
}

fn key(ctx: &Ctx, conn: &Conn, kind: Kind) -> Result<(String, String, String), CacheError> {
    let namespace = match conn.path_param("instance") {
        Some(instance) => keys::namespace(&instance).map_err(|e| ctx.bad_key(e))?,
        None => "default".to_owned(),
    };
    let hash = keys::sha256(&conn.path_param("hash").unwrap_or_default()).map_err(|e| ctx.bad_key(e))?;
    let dir = if kind == Kind::Ac { "ac" } else { "cas" };
    let store_key = format!("bazel/{namespace}/{dir}/{hash}");
    Ok((namespace, hash, store_key))
}

async fn read(conn: Conn, kind: Kind) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Bazel);
    let (namespace, _, store_key) = key(&ctx, &conn, kind)?;
    ctx.allow(&namespace, false)?;
    let head = conn.method() == Method::HEAD;
    ctx.read(super::Origin::of(&conn), &store_key, head).await?.ok_or_else(|| CacheError::miss(ctx.protocol, &store_key))
}

async fn write(conn: Conn, kind: Kind) -> Result<Response, CacheError> {
    let ctx = Ctx::of(&conn, Protocol::Bazel);
    let (namespace, hash, store_key) = key(&ctx, &conn, kind)?;
    ctx.allow(&namespace, true)?;
    let options = PutOptions { expect_sha256: (kind == Kind::Cas).then_some(hash), ..PutOptions::default() };
    ctx.write(conn, &store_key, options).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET|HEAD /ac/{sha256}` and `/{instance}/ac/{sha256}`.
pub async fn get_ac(conn: Conn) -> Result<Response, CacheError> {
    read(conn, Kind::Ac).await
}

/// `GET|HEAD /cas/{sha256}` and `/{instance}/cas/{sha256}`.
pub async fn get_cas(conn: Conn) -> Result<Response, CacheError> {
    read(conn, Kind::Cas).await
}

/// `PUT /ac/{sha256}` and `/{instance}/ac/{sha256}`.
pub async fn put_ac(conn: Conn) -> Result<Response, CacheError> {
    write(conn, Kind::Ac).await
}

/// `PUT /cas/{sha256}` and `/{instance}/cas/{sha256}`: the body must hash to the key.
pub async fn put_cas(conn: Conn) -> Result<Response, CacheError> {
    write(conn, Kind::Cas).await
}
