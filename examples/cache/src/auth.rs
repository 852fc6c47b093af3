//! Who may read and write: bearer tokens and Basic users from the config, and JWTs
//! (RS256, keys by `kid` from a JWKS file that zzz rereads when it changes) whose
//! claims carry the allowed namespaces.
//!
//! A JWT's claims: `{"sub": "ci", "exp": …, "namespaces": ["team-a"], "read_only": false}`.
//! A namespace is a Turborepo team, a Bazel instance, the first segment of a generic
//! key, or `default`; `*` allows all. With no credentials configured at all the cache
//! is open (a warning says so at start).

use std::collections::HashMap;

use serde::Deserialize;
use zzz::Conn;
use zzz::plugs::{BasicAuth, JwtVerifier};

use crate::config::Config;

/// What an authenticated client may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who it is (token label, user name or JWT subject), for logs.
    pub who: String,
    /// Whether it may write.
    pub can_write: bool,
    /// The namespaces it may use; `None` is all.
    pub namespaces: Option<Vec<String>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials, or credentials that are not valid (401).
    Unauthenticated(String),
    /// Valid credentials without the right to do this (403).
    Forbidden(String),
}

#[derive(Debug, Clone)]
struct Grant {
    who: String,
    read_only: bool,
    namespaces: Option<Vec<String>>,
}

/// The credential checker, built from the config.
pub struct Auth {
    tokens: HashMap<String, Grant>,
    users: HashMap<String, (String, Grant)>,
    jwt: Option<JwtVerifier>,
}

#[derive(Deserialize)]
struct CacheClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    #[serde(default)]
    read_only: bool,
}

fn all_if_star(namespaces: Option<Vec<String>>) -> Option<Vec<String>> {
    namespaces.filter(|list| !list.iter().any(|n| n == "*"))
}

impl Auth {
    /// Builds the checker; fails when the JWKS file does not load.
    pub fn from_config(config: &Config) -> Result<Auth, String> {
        let tokens = config
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let grant = Grant { who: format!("token#{}", i + 1), read_only: t.read_only, namespaces: all_if_star(t.namespaces.clone()) };
                (t.token.clone(), grant)
            })
            .collect();
        let users = config
            .users
            .iter()
            .map(|u| {
                let grant = Grant { who: u.username.clone(), read_only: u.read_only, namespaces: all_if_star(u.namespaces.clone()) };
                (u.username.clone(), (u.password.clone(), grant))
            })
            .collect();
        let jwt = match &config.jwks {
            Some(path) => {
                let mut verifier = JwtVerifier::from_jwks_file(path).map_err(|e| format!("--jwks: {e}"))?;
                if let Some(iss) = &config.jwt_issuer {
                    verifier = verifier.issuer(&[iss]);
                }
                if let Some(aud) = &config.jwt_audience {
                    verifier = verifier.audience(&[aud]);
                }
                Some(verifier)
            }
            None => None,
        };
        Ok(Auth { tokens, users, jwt })
    }

    /// Whether any credentials are configured (if not, everyone may read and write).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty() && self.users.is_empty() && self.jwt.is_none()
    }

    /// Identifies the client from its `Authorization` header.
    pub fn authenticate(&self, conn: &Conn) -> Result<Principal, AuthError> {
        if self.is_open() {
            return Ok(Principal { who: "anonymous".into(), can_write: true, namespaces: None });
        }
        let Some(header) = conn.header(zzz::header::AUTHORIZATION) else {
            return Err(AuthError::Unauthenticated("missing Authorization header (a bearer token or Basic credentials)".into()));
        };
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header, ""));
        let grant = if scheme.eq_ignore_ascii_case("bearer") {
            let token = rest.trim();
            match self.tokens.get(token) {
                Some(grant) => grant.clone(),
                None if token.matches('.').count() == 2 && self.jwt.is_some() => self.verify_jwt(token)?,
                None => return Err(AuthError::Unauthenticated("unknown bearer token".into())),
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            let basic = BasicAuth::from_conn(conn).map_err(|e| AuthError::Unauthenticated(e.to_string()))?;
            match self.users.get(&basic.username) {
                Some((password, grant)) if constant_time_eq(password.as_bytes(), basic.password.as_bytes()) => grant.clone(),
                // Bazel puts a token in the URL's password with any user name.
                _ => match self.tokens.get(&basic.password) {
                    Some(grant) => grant.clone(),
                    None => return Err(AuthError::Unauthenticated("wrong user name or password".into())),
                },
            }
        } else {
            return Err(AuthError::Unauthenticated(format!("unsupported Authorization scheme {scheme:?} (use Bearer or Basic)")));
        };
        Ok(Principal { who: grant.who, can_write: !grant.read_only, namespaces: grant.namespaces })
    }

    fn verify_jwt(&self, token: &str) -> Result<Grant, AuthError> {
        let verifier = self.jwt.as_ref().expect("checked by the caller");
        let claims: CacheClaims = verifier.verify(token).map_err(|e| AuthError::Unauthenticated(e.to_string()))?;
        Ok(Grant {
            who: claims.sub.unwrap_or_else(|| "jwt".into()),
            read_only: claims.read_only,
            // A JWT without a `namespaces` claim grants none.
            namespaces: all_if_star(Some(claims.namespaces.unwrap_or_default())),
        })
    }
}

impl Principal {
    /// Checks that the principal may read (or write) in a namespace.
    pub fn allow(&self, namespace: &str, write: bool) -> Result<(), AuthError> {
        if let Some(list) = &self.namespaces
            && !list.iter().any(|n| n == namespace)
        {
            return Err(AuthError::Forbidden(format!("{} may not use namespace {namespace:?}", self.who)));
        }
        if write && !self.can_write {
            return Err(AuthError::Forbidden(format!("{} has read-only access", self.who)));
        }
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
