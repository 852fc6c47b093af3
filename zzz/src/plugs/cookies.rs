//! Cookies: plain, signed and private (encrypted) jars, with keys derived from
//! `SECRET_KEY_BASE`. The `cookie` crate does the signing (HMAC-SHA256) and the
//! encryption (AES-256-GCM); `ring` derives the keys (PBKDF2-SHA256, 1000 iterations,
//! one salt per use, as Plug's `KeyGenerator`).
//!
//! Handlers take [`Cookies`] (plain), [`SignedCookies`] or [`PrivateCookies`]; all three
//! share one jar per request and the changes are sent as `Set-Cookie` headers when the
//! response goes out. The signed and private jars need a [`SecretKeyBase`] in the
//! endpoint's state.
//!
//! ```
//! use zzz::{Endpoint, plugs::{Cookie, Cookies, PrivateCookies, SecretKeyBase}};
//!
//! async fn remember(cookies: Cookies, secret: PrivateCookies) -> &'static str {
//!     cookies.add(Cookie::build(("theme", "dark")).path("/"));
//!     secret.add(Cookie::build(("user_id", "42")).path("/").http_only(true));
//!     "ok"
//! }
//!
//! zzz::router! { pub AppRouter; post "/remember" => remember; }
//!
//! let endpoint = Endpoint::new(AppRouter::new())
//!     .state(SecretKeyBase::new(&[7u8; 64]).unwrap());
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{HeaderValue, StatusCode, header};

pub use cookie::{Cookie, CookieBuilder, Key, SameSite};

use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::response::{IntoResponse, Response, error_response};

/// The application's master secret (Phoenix's `secret_key_base`), from which every
/// signing and encryption key is derived with its own salt.
///
/// At least 64 bytes, as Plug requires. Put it in the endpoint's state so the signed and
/// private cookie jars find it.
///
/// ```
/// use zzz::plugs::SecretKeyBase;
/// // SECRET_KEY_BASE from the environment (at least 64 bytes):
/// let secret = SecretKeyBase::from_env();
/// // Or a random one for development and tests (sessions do not survive a restart):
/// let dev = SecretKeyBase::generate();
/// ```
#[derive(Clone)]
pub struct SecretKeyBase {
    secret: Arc<[u8]>,
    keys: Arc<Mutex<HashMap<String, Key>>>,
}

impl std::fmt::Debug for SecretKeyBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKeyBase({} bytes, redacted)", self.secret.len())
    }
}

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The `SECRET_KEY_BASE` variable is not set.
    Missing,
    /// The secret is shorter than 64 bytes.
    TooShort {
        /// Its length in bytes.
        len: usize,
    },
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::Missing => {
                f.write_str("SECRET_KEY_BASE is not set; generate one with `openssl rand -base64 64` (at least 64 bytes)")
            }
            SecretError::TooShort { len } => {
                write!(f, "the secret key base is {len} bytes long; it must be at least 64 bytes")
            }
        }
    }
}

impl std::error::Error for SecretError {}

/// The minimum length of a secret key base, in bytes.
pub const MIN_SECRET_LEN: usize = 64;

/// Fills a buffer with random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut out).expect("the operating system random generator failed");
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl SecretKeyBase {
    /// A secret from bytes; at least 64 of them.
    pub fn new(secret: &[u8]) -> Result<SecretKeyBase, SecretError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort { len: secret.len() });
        }
        Ok(SecretKeyBase { secret: secret.into(), keys: Arc::new(Mutex::new(HashMap::new())) })
    }

    /// The secret in the `SECRET_KEY_BASE` environment variable.
    pub fn from_env() -> Result<SecretKeyBase, SecretError> {
        let value = std::env::var("SECRET_KEY_BASE").map_err(|_| SecretError::Missing)?;
        SecretKeyBase::new(value.as_bytes())
    }

    /// A random secret (64 bytes from the OS), for development and tests.
    pub fn generate() -> SecretKeyBase {
        let bytes: [u8; 64] = random_bytes();
        SecretKeyBase::new(&bytes).expect("64 bytes is long enough")
    }

    /// Derives the 64-byte key for one purpose (`salt`): PBKDF2-HMAC-SHA256, 1000
    /// iterations, as Plug's `KeyGenerator`. The same secret and salt give the same key;
    /// each is derived once and kept.
    pub fn derive(&self, salt: &str) -> Key {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = keys.get(salt) {
            return key.clone();
        }
        let key = self.derive_uncached(salt);
        keys.insert(salt.to_owned(), key.clone());
        key
    }

    fn derive_uncached(&self, salt: &str) -> Key {
        let mut out = [0u8; 64];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(1000).expect("non-zero"),
            salt.as_bytes(),
            &self.secret,
            &mut out,
        );
        Key::from(&out)
    }

    /// Whether two values are the same secret (clones of one another).
    pub(crate) fn same_as(&self, other: &SecretKeyBase) -> bool {
        Arc::ptr_eq(&self.secret, &other.secret)
    }

    /// The key of the signed and private cookie jars (salt `"zzz cookie jar"`), derived once.
    pub fn cookie_key(&self) -> Key {
        self.derive("zzz cookie jar")
    }
}

/// The request's cookie jar, shared by the three cookie extractors and written out as
/// `Set-Cookie` headers when the response goes out.
#[derive(Clone)]
struct JarHandle(Arc<Mutex<cookie::CookieJar>>);

fn jar_for(conn: &mut Conn) -> JarHandle {
    if let Some(jar) = conn.assigns::<JarHandle>() {
        return jar.clone();
    }
    let mut jar = cookie::CookieJar::new();
    for value in conn.headers().get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for cookie in Cookie::split_parse_encoded(text.to_owned()).flatten() {
            jar.add_original(cookie.into_owned());
        }
    }
    let handle = JarHandle(Arc::new(Mutex::new(jar)));
    conn.assign(handle.clone());
    let writer = handle.clone();
    conn.register_before_send(move |response| {
        let jar = writer.0.lock().unwrap_or_else(|e| e.into_inner());
        for cookie in jar.delta() {
            match HeaderValue::from_str(&cookie.encoded().to_string()) {
                Ok(value) => {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                Err(_) => tracing::error!(cookie = cookie.name(), "cookie has bytes not allowed in a header; not sent"),
            }
        }
    });
    handle
}

/// Plain cookies: read what the client sent, add or remove cookies on the response.
///
/// ```
/// use zzz::plugs::{Cookie, Cookies};
///
/// async fn visit(cookies: Cookies) -> String {
///     let visits: u32 = cookies.get("visits").and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
///     cookies.add(Cookie::build(("visits", visits.to_string())).path("/"));
///     format!("visit number {visits}")
/// }
/// ```
#[derive(Clone)]
pub struct Cookies(JarHandle);

impl std::fmt::Debug for Cookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cookies")
    }
}

impl Cookies {
    /// The cookies of a conn (the request's, plus any added so far).
    pub fn from_conn(conn: &mut Conn) -> Cookies {
        Cookies(jar_for(conn))
    }

    /// A cookie's value.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner()).get(name).map(|c| c.value().to_owned())
    }

    /// Adds (or replaces) a cookie on the response.
    pub fn add(&self, cookie: impl Into<Cookie<'static>>) {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner()).add(cookie);
    }

    /// Removes a cookie from the client (sends it expired). Give the same path the
    /// cookie was set with: `Cookie::build("name").path("/")`.
    pub fn remove(&self, cookie: impl Into<Cookie<'static>>) {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner()).remove(cookie);
    }

    /// All cookies as `(name, value)`.
    pub fn all(&self) -> Vec<(String, String)> {
        let jar = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        jar.iter().map(|c| (c.name().to_owned(), c.value().to_owned())).collect()
    }
}

impl FromConnParts for Cookies {
    type Rejection = std::convert::Infallible;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, Self::Rejection> {
        Ok(Cookies::from_conn(conn))
    }
}

/// The rejection of [`SignedCookies`] and [`PrivateCookies`] when the endpoint has no
/// [`SecretKeyBase`] in its state: a 500 (an app bug) that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSecret;

impl std::fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("signed and private cookies need a `zzz::plugs::SecretKeyBase` in the endpoint state (`Endpoint::state`)")
    }
}

impl std::error::Error for MissingSecret {}

impl IntoResponse for MissingSecret {
    fn into_response(self) -> Response {
        error_response(StatusCode::INTERNAL_SERVER_ERROR, self.to_string())
    }
}

macro_rules! secure_jar {
    ($(#[$doc:meta])* $name:ident, $view:ident, $view_mut:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            jar: JarHandle,
            key: Key,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl $name {
            /// The jar of a conn, with the key derived from `secret`.
            pub fn from_conn(conn: &mut Conn, secret: &SecretKeyBase) -> $name {
                $name { jar: jar_for(conn), key: secret.cookie_key() }
            }

            #[doc = concat!("A cookie's value, if it is present and ", $what, "; a tampered or forged cookie is `None`.")]
            pub fn get(&self, name: &str) -> Option<String> {
                let jar = self.jar.0.lock().unwrap_or_else(|e| e.into_inner());
                jar.$view(&self.key).get(name).map(|c| c.value().to_owned())
            }

            #[doc = concat!("Adds a cookie, ", $what, ".")]
            pub fn add(&self, cookie: impl Into<Cookie<'static>>) {
                let mut jar = self.jar.0.lock().unwrap_or_else(|e| e.into_inner());
                jar.$view_mut(&self.key).add(cookie);
            }

            /// Removes a cookie from the client (give the path it was set with).
            pub fn remove(&self, cookie: impl Into<Cookie<'static>>) {
                let mut jar = self.jar.0.lock().unwrap_or_else(|e| e.into_inner());
                jar.$view_mut(&self.key).remove(cookie);
            }
        }

        impl FromConnParts for $name {
            type Rejection = MissingSecret;

            async fn from_conn_parts(conn: &mut Conn) -> Result<Self, MissingSecret> {
                let secret = conn.state::<SecretKeyBase>().cloned().ok_or(MissingSecret)?;
                Ok($name::from_conn(conn, &secret))
            }
        }
    };
}

secure_jar!(
    /// Signed cookies: readable by the client, but any change makes them invalid
    /// (HMAC-SHA256). Needs a [`SecretKeyBase`] in the endpoint state.
    ///
    /// ```
    /// use zzz::plugs::{Cookie, SignedCookies};
    /// async fn pick(cookies: SignedCookies) -> String {
    ///     cookies.add(Cookie::build(("plan", "pro")).path("/"));
    ///     cookies.get("plan").unwrap_or_default()
    /// }
    /// ```
    SignedCookies, signed, signed_mut, "signed"
);

secure_jar!(
    /// Private cookies: encrypted and authenticated (AES-256-GCM), so the client can
    /// neither read nor change them. Needs a [`SecretKeyBase`] in the endpoint state.
    ///
    /// ```
    /// use zzz::plugs::{Cookie, PrivateCookies};
    /// async fn remember(cookies: PrivateCookies) -> &'static str {
    ///     cookies.add(Cookie::build(("user_id", "42")).path("/").http_only(true));
    ///     "remembered"
    /// }
    /// ```
    PrivateCookies, private, private_mut, "encrypted"
);
