//! Authentication helpers: `Authorization: Basic` and `Bearer` extraction, and plugs
//! that require them. A missing or wrong credential is a 401 with a
//! `WWW-Authenticate` header naming the scheme (and, for bearer tokens, RFC 6750's
//! `error="invalid_token"`).
//!
//! ```
//! use zzz::Pipeline;
//! use zzz::plugs::{BasicAuth, BearerToken, RequireBasicAuth, RequireBearer};
//!
//! let admin = Pipeline::new().plug(RequireBasicAuth::new("admin", "hunter2").realm("Admin"));
//! let api = Pipeline::new().plug(RequireBearer::new(|token: &str| token == "s3cret"));
//!
//! async fn whoami(BasicAuth { username, .. }: BasicAuth) -> String { username }
//! async fn token(BearerToken(token): BearerToken) -> String { token }
//! ```

use std::sync::Arc;

use base64::Engine;
use http::{HeaderValue, StatusCode, header};

use super::cookies::constant_time_eq;
use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::plug::Plug;
use crate::response::{IntoResponse, Response, error_response};

/// Why a credential was refused: 401 with `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    /// `Basic` or `Bearer`.
    pub scheme: &'static str,
    /// The realm announced in `WWW-Authenticate`.
    pub realm: String,
    /// For bearer tokens, RFC 6750's error code (`invalid_request`, `invalid_token`).
    pub error: Option<&'static str>,
    /// What was wrong, for the body and the log.
    pub message: String,
}

impl AuthRejection {
    /// A 401 for a scheme.
    pub fn new(scheme: &'static str, message: impl Into<String>) -> AuthRejection {
        AuthRejection { scheme, realm: "Application".to_owned(), error: None, message: message.into() }
    }

    /// Sets RFC 6750's error code.
    pub fn with_error(mut self, error: &'static str) -> AuthRejection {
        self.error = Some(error);
        self
    }

    /// Sets the realm.
    pub fn with_realm(mut self, realm: &str) -> AuthRejection {
        self.realm = realm.to_owned();
        self
    }

    /// The `WWW-Authenticate` value.
    pub fn challenge(&self) -> String {
        let realm = self.realm.replace('"', "");
        match self.error {
            Some(error) => {
                // Header values must be visible ASCII: quotes and anything else replaced.
                let description: String = self
                    .message
                    .replace('…', "...")
                    .chars()
                    .map(|c| if c == '"' || c == '\\' { '\'' } else if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
                    .collect();
                format!("{} realm=\"{realm}\", error=\"{error}\", error_description=\"{description}\"", self.scheme)
            }
            None => format!("{} realm=\"{realm}\"", self.scheme),
        }
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let challenge = self.challenge();
        let mut response = error_response(StatusCode::UNAUTHORIZED, self.message);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

fn credentials<'a>(conn: &'a Conn, scheme: &'static str) -> Result<&'a str, AuthRejection> {
    let value = conn
        .header(header::AUTHORIZATION)
        .ok_or_else(|| AuthRejection::new(scheme, format!("missing `Authorization: {scheme} …` header")))?;
    let (given, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !given.eq_ignore_ascii_case(scheme) {
        return Err(AuthRejection::new(scheme, format!("the Authorization header must use the {scheme} scheme")));
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(AuthRejection::new(scheme, format!("the {scheme} Authorization header has no credentials")));
    }
    Ok(rest)
}

/// `Authorization: Basic` credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl BasicAuth {
    /// Parses the conn's `Authorization: Basic` header.
    pub fn from_conn(conn: &Conn) -> Result<BasicAuth, AuthRejection> {
        let encoded = credentials(conn, "Basic")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| AuthRejection::new("Basic", "the Basic credentials are not valid base64 UTF-8"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| AuthRejection::new("Basic", "the Basic credentials have no `:` between user and password"))?;
        Ok(BasicAuth { username: username.to_owned(), password: password.to_owned() })
    }
}

impl FromConnParts for BasicAuth {
    type Rejection = AuthRejection;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, AuthRejection> {
        BasicAuth::from_conn(conn)
    }
}

/// An `Authorization: Bearer` token (not verified: see [`RequireBearer`] or
/// [`Jwt`](super::Jwt) for that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken(pub String);

impl BearerToken {
    /// Reads the conn's `Authorization: Bearer` header.
    pub fn from_conn(conn: &Conn) -> Result<BearerToken, AuthRejection> {
        credentials(conn, "Bearer")
            .map(|t| BearerToken(t.to_owned()))
            .map_err(|e| e.with_error("invalid_request"))
    }
}

impl FromConnParts for BearerToken {
    type Rejection = AuthRejection;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, AuthRejection> {
        BearerToken::from_conn(conn)
    }
}

/// Requires `Authorization: Basic` with one user name and password (`Plug.BasicAuth`),
/// compared in constant time; assigns the [`BasicAuth`] on success.
#[derive(Clone)]
pub struct RequireBasicAuth {
    username: String,
    password: String,
    realm: String,
}

impl std::fmt::Debug for RequireBasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireBasicAuth").field("username", &self.username).field("realm", &self.realm).finish()
    }
}

impl RequireBasicAuth {
    /// Accepts exactly this user name and password.
    pub fn new(username: &str, password: &str) -> RequireBasicAuth {
        RequireBasicAuth { username: username.to_owned(), password: password.to_owned(), realm: "Application".to_owned() }
    }

    /// The realm shown by browsers (default `Application`).
    pub fn realm(mut self, realm: &str) -> RequireBasicAuth {
        self.realm = realm.to_owned();
        self
    }
}

impl Plug for RequireBasicAuth {
    async fn call(&self, mut conn: Conn) -> Conn {
        let result = BasicAuth::from_conn(&conn).and_then(|auth| {
            let user_ok = constant_time_eq(auth.username.as_bytes(), self.username.as_bytes());
            let pass_ok = constant_time_eq(auth.password.as_bytes(), self.password.as_bytes());
            if user_ok & pass_ok { Ok(auth) } else { Err(AuthRejection::new("Basic", "wrong user name or password")) }
        });
        match result {
            Ok(auth) => {
                conn.assign(auth);
                conn
            }
            Err(rejection) => super::halt_with(conn, rejection.with_realm(&self.realm).into_response()),
        }
    }
}

/// Requires an `Authorization: Bearer` token that a check accepts; assigns the
/// [`BearerToken`] on success.
#[derive(Clone)]
pub struct RequireBearer {
    check: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    realm: String,
}

impl std::fmt::Debug for RequireBearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireBearer").field("realm", &self.realm).finish_non_exhaustive()
    }
}

impl RequireBearer {
    /// Accepts the tokens for which `check` returns true.
    pub fn new(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> RequireBearer {
        RequireBearer { check: Arc::new(check), realm: "Application".to_owned() }
    }

    /// Accepts one fixed token, compared in constant time.
    pub fn token(token: &str) -> RequireBearer {
        let expected = token.to_owned();
        RequireBearer::new(move |given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
    }

    /// The realm in `WWW-Authenticate` (default `Application`).
    pub fn realm(mut self, realm: &str) -> RequireBearer {
        self.realm = realm.to_owned();
        self
    }
}

impl Plug for RequireBearer {
    async fn call(&self, mut conn: Conn) -> Conn {
        let result = BearerToken::from_conn(&conn).and_then(|token| {
            if (self.check)(&token.0) {
                Ok(token)
            } else {
                Err(AuthRejection::new("Bearer", "the bearer token is not valid").with_error("invalid_token"))
            }
        });
        match result {
            Ok(token) => {
                conn.assign(token);
                conn
            }
            Err(rejection) => super::halt_with(conn, rejection.with_realm(&self.realm).into_response()),
        }
    }
}
