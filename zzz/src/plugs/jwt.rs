//! JWT verification: the `jsonwebtoken` crate (ring-based) checks signatures (HS256,
//! RS256 and the rest of the HMAC/RSA family) and `exp`/`nbf`/`aud`/`iss`; zzz picks the
//! key by the token's `kid`, reloads a key file when it changes, and turns every
//! failure into a 401 with `WWW-Authenticate: Bearer … error="invalid_token"`.
//!
//! ```no_run
//! use serde::Deserialize;
//! use zzz::Endpoint;
//! use zzz::plugs::{Jwt, JwtKey, JwtVerifier};
//!
//! #[derive(Clone, Deserialize)]
//! struct Claims { sub: String }
//!
//! async fn me(Jwt(claims): Jwt<Claims>) -> String { claims.sub }
//!
//! zzz::router! { pub AppRouter; get "/me" => me; }
//!
//! // A JWKS file ({"keys": [...]}), reread when it changes…
//! let verifier = JwtVerifier::from_jwks_file("keys.json").unwrap()
//!     .audience(&["my-api"])
//!     .issuer(&["https://auth.example.com"]);
//! // …or keys given in code.
//! let dev = JwtVerifier::new().key(Some("k1"), JwtKey::hs256(b"dev secret"));
//! let endpoint = Endpoint::new(AppRouter::new()).state(verifier);
//! ```

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use super::auth::{AuthRejection, BearerToken};
use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::plug::Plug;
use crate::response::IntoResponse;

/// One verification key and the algorithm it is for.
#[derive(Clone)]
pub struct JwtKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtKey({:?})", self.algorithm)
    }
}

/// Why keys could not be loaded.
#[derive(Debug)]
pub struct JwtKeyError(String);

impl std::fmt::Display for JwtKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JwtKeyError {}

impl JwtKey {
    /// An HS256 shared secret.
    pub fn hs256(secret: &[u8]) -> JwtKey {
        JwtKey { key: DecodingKey::from_secret(secret), algorithm: Algorithm::HS256 }
    }

    /// An RS256 public key in PEM (`-----BEGIN PUBLIC KEY-----` or `RSA PUBLIC KEY`).
    pub fn rs256_pem(pem: &[u8]) -> Result<JwtKey, JwtKeyError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| JwtKeyError(format!("invalid RSA public key PEM: {e}")))?;
        Ok(JwtKey { key, algorithm: Algorithm::RS256 })
    }

    /// A key for another algorithm of the HMAC or RSA families.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> JwtKey {
        self.algorithm = algorithm;
        self
    }
}

#[derive(Default, Clone)]
struct KeySet {
    by_kid: HashMap<String, JwtKey>,
    default: Option<JwtKey>,
}

fn parse_jwks(text: &str) -> Result<KeySet, JwtKeyError> {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(text).map_err(|e| JwtKeyError(format!("not a JWKS document ({{\"keys\": [...]}}): {e}")))?;
    let mut keys = KeySet::default();
    for (i, jwk) in set.keys.iter().enumerate() {
        let key = DecodingKey::from_jwk(jwk).map_err(|e| JwtKeyError(format!("key {i} of the JWKS: {e}")))?;
        let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
            (Some(alg), _) => format!("{alg:?}")
                .parse::<Algorithm>()
                .ok()
                .ok_or_else(|| JwtKeyError(format!("key {i} of the JWKS has an unsupported alg {alg:?}")))?,
            (None, jsonwebtoken::jwk::AlgorithmParameters::RSA(_)) => Algorithm::RS256,
            (None, jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)) => Algorithm::HS256,
            (None, _) => return Err(JwtKeyError(format!("key {i} of the JWKS needs an `alg`"))),
        };
        let key = JwtKey { key, algorithm };
        match &jwk.common.key_id {
            Some(kid) => {
                keys.by_kid.insert(kid.clone(), key);
            }
            None => keys.default = Some(key),
        }
    }
    if keys.by_kid.len() == 1 && keys.default.is_none() {
        keys.default = keys.by_kid.values().next().cloned();
    }
    Ok(keys)
}

struct FileSource {
    path: PathBuf,
    modified: Option<SystemTime>,
    checked: Instant,
}

struct Inner {
    keys: RwLock<KeySet>,
    file: Option<Mutex<FileSource>>,
    reload_every: Duration,
    audience: Vec<String>,
    issuer: Vec<String>,
    leeway: u64,
}

/// Verifies JWTs and gives their claims. Put it in the endpoint's state for the
/// [`Jwt`] extractor and the [`RequireJwt`] plug. Cheap to clone.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

impl Default for JwtVerifier {
    fn default() -> Self {
        JwtVerifier::new()
    }
}

/// The claims of a verified token, assigned by [`RequireJwt`].
#[derive(Debug, Clone, PartialEq)]
pub struct JwtClaims(pub serde_json::Value);

/// Why a token was refused (always a 401).
pub type JwtRejection = AuthRejection;

fn invalid(message: impl Into<String>) -> JwtRejection {
    AuthRejection::new("Bearer", message).with_error("invalid_token")
}

impl JwtVerifier {
    /// A verifier with no keys yet (add them with [`key`](JwtVerifier::key)).
    pub fn new() -> JwtVerifier {
        JwtVerifier {
            inner: Arc::new(Inner {
                keys: RwLock::new(KeySet::default()),
                file: None,
                reload_every: Duration::from_secs(1),
                audience: Vec::new(),
                issuer: Vec::new(),
                leeway: 0,
            }),
        }
    }

    /// Keys from a JWKS file (`{"keys": [{"kty": "RSA", "kid": …, "n": …, "e": …}, {"kty": "oct", "k": …}]}`),
    /// reread when its modification time changes (looked at most once a second).
    /// A reread that fails keeps the old keys and logs the error.
    pub fn from_jwks_file(path: impl AsRef<FsPath>) -> Result<JwtVerifier, JwtKeyError> {
        let path = path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|e| JwtKeyError(format!("cannot read {}: {e}", path.display())))?;
        let keys = parse_jwks(&text)?;
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut verifier = JwtVerifier::new();
        let inner = Arc::get_mut(&mut verifier.inner).expect("fresh");
        inner.keys = RwLock::new(keys);
        inner.file = Some(Mutex::new(FileSource { path, modified, checked: Instant::now() }));
        Ok(verifier)
    }

    fn configure(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("configure a JwtVerifier before cloning it")
    }

    /// Adds a key: under a `kid`, or as the key for tokens without one.
    pub fn key(mut self, kid: Option<&str>, key: JwtKey) -> JwtVerifier {
        let keys = self.configure().keys.get_mut().unwrap_or_else(|e| e.into_inner());
        match kid {
            Some(kid) => {
                keys.by_kid.insert(kid.to_owned(), key);
            }
            None => keys.default = Some(key),
        }
        self
    }

    /// Requires `aud` to contain one of these.
    pub fn audience(mut self, audience: &[&str]) -> JwtVerifier {
        self.configure().audience = audience.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Requires `iss` to be one of these.
    pub fn issuer(mut self, issuer: &[&str]) -> JwtVerifier {
        self.configure().issuer = issuer.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Clock skew allowed for `exp` and `nbf`, in seconds (default 0).
    pub fn leeway(mut self, seconds: u64) -> JwtVerifier {
        self.configure().leeway = seconds;
        self
    }

    /// How often the key file's modification time is looked at (default 1 s).
    pub fn reload_every(mut self, every: Duration) -> JwtVerifier {
        self.configure().reload_every = every;
        self
    }

    fn maybe_reload(&self) {
        let Some(file) = &self.inner.file else { return };
        let Ok(mut source) = file.try_lock() else { return };
        if source.checked.elapsed() < self.inner.reload_every {
            return;
        }
        source.checked = Instant::now();
        let modified = std::fs::metadata(&source.path).and_then(|m| m.modified()).ok();
        if modified == source.modified {
            return;
        }
        match std::fs::read_to_string(&source.path).map_err(|e| JwtKeyError(e.to_string())).and_then(|t| parse_jwks(&t)) {
            Ok(keys) => {
                *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
                source.modified = modified;
                tracing::info!(path = %source.path.display(), "JWT keys reloaded");
            }
            Err(err) => tracing::error!(path = %source.path.display(), error = %err, "JWT key file changed but does not load; keeping the old keys"),
        }
    }

    /// Verifies a token and deserializes its claims. `exp` is required; `nbf`, `aud` and
    /// `iss` are checked when configured or present.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, JwtRejection> {
        self.maybe_reload();
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("malformed JWT: {e}")))?;
        let key = {
            let keys = self.inner.keys.read().unwrap_or_else(|e| e.into_inner());
            match &header.kid {
                Some(kid) => keys.by_kid.get(kid).cloned().ok_or_else(|| invalid(format!("unknown JWT key id {kid:?}")))?,
                None => keys.default.clone().ok_or_else(|| invalid("the JWT has no key id (`kid`) and there is no default key"))?,
            }
        };
        if header.alg != key.algorithm {
            return Err(invalid(format!("JWT algorithm {:?} does not match its key ({:?})", header.alg, key.algorithm)));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.validate_nbf = true;
        validation.leeway = self.inner.leeway;
        if self.inner.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.inner.audience);
        }
        if !self.inner.issuer.is_empty() {
            validation.set_issuer(&self.inner.issuer);
        }
        jsonwebtoken::decode::<C>(token, &key.key, &validation).map(|data| data.claims).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            let message = match err.kind() {
                ErrorKind::ExpiredSignature => "the JWT has expired (exp)".to_owned(),
                ErrorKind::ImmatureSignature => "the JWT is not valid yet (nbf)".to_owned(),
                ErrorKind::InvalidAudience => "the JWT is not for this audience (aud)".to_owned(),
                ErrorKind::InvalidIssuer => "the JWT is from an unexpected issuer (iss)".to_owned(),
                ErrorKind::InvalidSignature => "the JWT signature does not verify".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => format!("the JWT lacks the required claim {claim:?}"),
                ErrorKind::Json(e) => format!("the JWT claims do not fit: {e}"),
                other => format!("invalid JWT: {other:?}"),
            };
            invalid(message)
        })
    }

    fn from_conn(conn: &Conn) -> Result<JwtVerifier, JwtRejection> {
        conn.state::<JwtVerifier>().cloned().ok_or_else(|| {
            AuthRejection::new("Bearer", "no JwtVerifier in the endpoint state (`Endpoint::state`)")
        })
    }
}

/// The verified claims of the request's bearer JWT, typed. Uses the
/// [`JwtVerifier`] in the endpoint's state (or the claims [`RequireJwt`] assigned).
///
/// ```
/// use serde::Deserialize;
/// use zzz::plugs::Jwt;
///
/// #[derive(Deserialize)]
/// struct Claims { sub: String, scope: String }
///
/// async fn me(Jwt(claims): Jwt<Claims>) -> String {
///     format!("{} ({})", claims.sub, claims.scope)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Jwt<C>(pub C);

impl<C: DeserializeOwned + Send> FromConnParts for Jwt<C> {
    type Rejection = JwtRejection;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, JwtRejection> {
        if let Some(JwtClaims(value)) = conn.assigns::<JwtClaims>() {
            return serde_json::from_value(value.clone())
                .map(Jwt)
                .map_err(|e| invalid(format!("the JWT claims do not fit: {e}")));
        }
        let token = BearerToken::from_conn(conn)?;
        let verifier = JwtVerifier::from_conn(conn)?;
        verifier.verify(&token.0).map(Jwt)
    }
}

/// Requires a valid bearer JWT (verified by the endpoint's [`JwtVerifier`], or the
/// one given); assigns its [`JwtClaims`], else halts with 401.
///
/// ```
/// use zzz::Pipeline;
/// use zzz::plugs::{JwtKey, JwtVerifier, RequireJwt};
///
/// let api = Pipeline::new().plug(RequireJwt::new());
/// let admin = Pipeline::new()
///     .plug(RequireJwt::with(JwtVerifier::new().key(None, JwtKey::hs256(b"admin secret"))));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequireJwt {
    verifier: Option<JwtVerifier>,
}

impl RequireJwt {
    /// Uses the endpoint state's verifier.
    pub fn new() -> RequireJwt {
        RequireJwt { verifier: None }
    }

    /// Uses this verifier.
    pub fn with(verifier: JwtVerifier) -> RequireJwt {
        RequireJwt { verifier: Some(verifier) }
    }
}

impl Plug for RequireJwt {
    async fn call(&self, mut conn: Conn) -> Conn {
        let result = BearerToken::from_conn(&conn).and_then(|token| {
            let verifier = match &self.verifier {
                Some(v) => v.clone(),
                None => JwtVerifier::from_conn(&conn)?,
            };
            verifier.verify::<serde_json::Value>(&token.0)
        });
        match result {
            Ok(claims) => {
                conn.assign(JwtClaims(claims));
                conn
            }
            Err(rejection) => super::halt_with(conn, rejection.into_response()),
        }
    }
}
