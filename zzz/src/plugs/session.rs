//! Sessions in a cookie (`Plug.Session, store: :cookie`) and flash messages.
//!
//! [`CookieSession`] loads the session from its cookie (encrypted with AES-256-GCM by
//! default, or only signed), handlers read and change it through [`Session`], and the
//! cookie is written back when the response goes out, only if the session changed. A
//! tampered, forged or undecodable cookie gives an empty session: never an error page,
//! never trusted data. The `cookie` crate does the cryptography.
//!
//! [`Flash`] messages are kept in the session and survive one redirect, as Phoenix's.
//!
//! ```
//! use zzz::{Pipeline, Redirect};
//! use zzz::plugs::{CookieSession, Flash, SecretKeyBase, Session};
//!
//! // The keys come from the endpoint's `SecretKeyBase` state…
//! let browser = Pipeline::new().plug(CookieSession::new());
//! // …or from a secret given to the plug.
//! let api = Pipeline::new().plug(CookieSession::new().secret(&SecretKeyBase::generate()));
//!
//! async fn login(session: Session, flash: Flash) -> Redirect {
//!     session.renew();                     // a new session id after login
//!     session.put("user_id", &42u64);
//!     flash.put("info", "Welcome back!");
//!     Redirect::see_other("/")
//! }
//!
//! async fn home(session: Session, flash: Flash) -> String {
//!     let user: Option<u64> = session.get("user_id");
//!     format!("{user:?} {}", flash.get("info").unwrap_or_default())
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use base64::Engine;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cookies::{Cookie, Key, SameSite, SecretKeyBase, random_bytes};
use crate::conn::Conn;
use crate::extract::FromConnParts;
use crate::plug::Plug;
use crate::response::{IntoResponse, Response, error_response};

/// The most a session cookie may hold (browsers drop larger cookies).
pub const MAX_COOKIE_BYTES: usize = 4096;

const FLASH_KEY: &str = "_flash";
const ID_KEY: &str = "_id";
pub(crate) const CSRF_KEY: &str = "_csrf_token";

/// How the session cookie is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProtection {
    /// Encrypted and authenticated (AES-256-GCM): the client can neither read nor change it. The default.
    Encrypted,
    /// Signed only (HMAC-SHA256): readable by the client (base64 JSON), not changeable.
    Signed,
}

/// The cookie session plug. Put it in the browser pipeline (or on the endpoint), before
/// anything that uses [`Session`], [`Flash`] or CSRF protection.
///
/// The keys are derived from the [`SecretKeyBase`] in the endpoint's state, or from the
/// one given with [`secret`](CookieSession::secret); without either, requests get a 500
/// that says so.
///
/// Defaults: cookie `_zzz_session`, encrypted, `Path=/`, `HttpOnly`, `SameSite=Lax`, a
/// browser-session cookie (no `Max-Age`), not `Secure` (turn it on behind HTTPS).
///
/// ```
/// use zzz::plugs::{CookieSession, SameSite, SecretKeyBase, SessionProtection};
///
/// let session = CookieSession::new()
///     .secret(&SecretKeyBase::generate())
///     .cookie_name("_my_app_key")
///     .protection(SessionProtection::Signed)
///     .secure(true)
///     .same_site(SameSite::Strict)
///     .max_age(std::time::Duration::from_secs(14 * 24 * 3600));
/// ```
#[derive(Clone)]
pub struct CookieSession {
    secret: Option<SecretKeyBase>,
    salt: Arc<str>,
    name: Arc<str>,
    protection: SessionProtection,
    path: Arc<str>,
    domain: Option<Arc<str>>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    max_age: Option<std::time::Duration>,
    /// The key last derived, with the secret it came from (derivation is not free).
    key_cache: Arc<OnceLock<(SecretKeyBase, Key)>>,
}

impl std::fmt::Debug for CookieSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSession").field("name", &self.name).field("protection", &self.protection).finish_non_exhaustive()
    }
}

impl Default for CookieSession {
    fn default() -> Self {
        CookieSession::new()
    }
}

impl CookieSession {
    /// A cookie session with keys derived (salt `"zzz session"`) from the endpoint's
    /// [`SecretKeyBase`] state.
    pub fn new() -> CookieSession {
        CookieSession {
            secret: None,
            salt: "zzz session".into(),
            name: "_zzz_session".into(),
            protection: SessionProtection::Encrypted,
            path: "/".into(),
            domain: None,
            secure: false,
            http_only: true,
            same_site: SameSite::Lax,
            max_age: None,
            key_cache: Arc::new(OnceLock::new()),
        }
    }

    /// The cookie's name (default `_zzz_session`).
    pub fn cookie_name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Encrypted (default) or signed only.
    pub fn protection(mut self, protection: SessionProtection) -> Self {
        self.protection = protection;
        self
    }

    /// Uses this secret instead of the endpoint's state.
    pub fn secret(mut self, secret: &SecretKeyBase) -> Self {
        self.secret = Some(secret.clone());
        self
    }

    /// Derives the key with another salt (to invalidate every existing session, change it).
    pub fn salt(mut self, salt: &str) -> Self {
        self.salt = salt.into();
        self.key_cache = Arc::new(OnceLock::new());
        self
    }

    /// The cookie's `Path` (default `/`).
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.into();
        self
    }

    /// The cookie's `Domain` (default none: this host only).
    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The `Secure` attribute (default off; turn on when served over HTTPS).
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The `HttpOnly` attribute (default on).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// The `SameSite` attribute (default `Lax`, as Phoenix).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// How long the cookie lasts (default: until the browser closes).
    pub fn max_age(mut self, max_age: std::time::Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    fn load(&self, conn: &Conn, key: &Key) -> (BTreeMap<String, serde_json::Value>, bool) {
        for value in conn.headers().get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for cookie in Cookie::split_parse(text.to_owned()).flatten() {
                if cookie.name() != &*self.name {
                    continue;
                }
                let cookie = cookie.into_owned();
                let jar = cookie::CookieJar::new();
                let opened = match self.protection {
                    SessionProtection::Encrypted => jar.private(key).decrypt(cookie),
                    SessionProtection::Signed => jar.signed(key).verify(cookie),
                };
                let Some(opened) = opened else {
                    tracing::info!(cookie = %self.name, "session cookie failed verification; starting an empty session");
                    return (BTreeMap::new(), true);
                };
                let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(opened.value()).ok();
                return match decoded.and_then(|bytes| serde_json::from_slice(&bytes).ok()) {
                    Some(data) => (data, true),
                    None => {
                        tracing::info!(cookie = %self.name, "session cookie did not decode; starting an empty session");
                        (BTreeMap::new(), true)
                    }
                };
            }
        }
        (BTreeMap::new(), false)
    }

    fn encode(&self, data: &BTreeMap<String, serde_json::Value>, key: &Key) -> Result<String, String> {
        let json = serde_json::to_vec(data).map_err(|e| format!("session data does not serialize: {e}"))?;
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let mut builder = Cookie::build((self.name.to_string(), value))
            .path(self.path.to_string())
            .http_only(self.http_only)
            .secure(self.secure)
            .same_site(self.same_site);
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.to_string());
        }
        if let Some(max_age) = self.max_age {
            builder = builder.max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64));
        }
        let mut jar = cookie::CookieJar::new();
        match self.protection {
            SessionProtection::Encrypted => jar.private_mut(key).add(builder.build()),
            SessionProtection::Signed => jar.signed_mut(key).add(builder.build()),
        }
        let cookie = jar.get(&self.name).expect("just added").to_string();
        let value_len = jar.get(&self.name).map_or(0, |c| c.value().len());
        if value_len + self.name.len() + 1 > MAX_COOKIE_BYTES {
            return Err(format!(
                "the session cookie would be {} bytes, over the {MAX_COOKIE_BYTES}-byte limit browsers keep; store less in the session",
                value_len + self.name.len() + 1
            ));
        }
        Ok(cookie)
    }

    fn removal(&self) -> String {
        let mut builder = Cookie::build((self.name.to_string(), "")).path(self.path.to_string()).http_only(self.http_only);
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.to_string());
        }
        let mut cookie = builder.build();
        cookie.make_removal();
        cookie.to_string()
    }
}

#[derive(Debug, Default)]
struct SessionState {
    data: BTreeMap<String, serde_json::Value>,
    /// Flash messages: loaded from the last request plus those put in this one.
    flash: BTreeMap<String, String>,
    had_flash: bool,
    had_cookie: bool,
    changed: bool,
    dropped: bool,
}

/// The session of the current request: typed values under string keys.
///
/// Available to handlers (and plugs, via [`Session::from_conn`]) after
/// [`CookieSession`] ran; without it the extractor answers 500 naming the missing plug.
/// Clones share the same session.
#[derive(Clone)]
pub struct Session(Arc<Mutex<SessionState>>);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Session").field("keys", &state.data.keys().collect::<Vec<_>>()).finish()
    }
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of a conn, if [`CookieSession`] ran.
    pub fn from_conn(conn: &Conn) -> Option<Session> {
        conn.assigns::<Session>().cloned()
    }

    /// A value, if present and of type `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let state = self.lock();
        state.data.get(key).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Stores a value (anything serde can serialize).
    pub fn put<T: Serialize + ?Sized>(&self, key: &str, value: &T) {
        match serde_json::to_value(value) {
            Ok(value) => {
                let mut state = self.lock();
                state.data.insert(key.to_owned(), value);
                state.changed = true;
                state.dropped = false;
            }
            Err(err) => tracing::error!(key, error = %err, "session value does not serialize; not stored"),
        }
    }

    /// Removes a value.
    pub fn delete(&self, key: &str) {
        let mut state = self.lock();
        if state.data.remove(key).is_some() {
            state.changed = true;
        }
    }

    /// Removes every value (the cookie is removed unless something is put afterwards).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.data.clear();
        state.flash.clear();
        state.changed = true;
        state.dropped = true;
    }

    /// Gives the session a new id and a new CSRF token, keeping its data: call it
    /// after login so a session id known before login is worth nothing after.
    pub fn renew(&self) {
        let mut state = self.lock();
        state.data.insert(ID_KEY.to_owned(), serde_json::Value::String(new_id()));
        state.data.remove(CSRF_KEY);
        state.changed = true;
        state.dropped = false;
    }

    /// The session id (made when first asked for).
    pub fn id(&self) -> String {
        let mut state = self.lock();
        if let Some(serde_json::Value::String(id)) = state.data.get(ID_KEY) {
            return id.clone();
        }
        let id = new_id();
        state.data.insert(ID_KEY.to_owned(), serde_json::Value::String(id.clone()));
        state.changed = true;
        id
    }

    /// The keys present.
    pub fn keys(&self) -> Vec<String> {
        self.lock().data.keys().filter(|k| !k.starts_with('_')).cloned().collect()
    }

    /// Whether the session holds no values (internal keys aside).
    pub fn is_empty(&self) -> bool {
        self.keys().is_empty()
    }

    pub(crate) fn raw_get_string(&self, key: &str) -> Option<String> {
        self.lock().data.get(key).and_then(|v| v.as_str().map(str::to_owned))
    }

    pub(crate) fn raw_put_string(&self, key: &str, value: String) {
        let mut state = self.lock();
        state.data.insert(key.to_owned(), serde_json::Value::String(value));
        state.changed = true;
    }
}

fn new_id() -> String {
    let bytes: [u8; 18] = random_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The rejection of [`Session`] and [`Flash`] when no session plug ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSession;

impl std::fmt::Display for MissingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no session: plug `zzz::plugs::CookieSession` into the pipeline before this handler")
    }
}

impl std::error::Error for MissingSession {}

impl IntoResponse for MissingSession {
    fn into_response(self) -> Response {
        error_response(StatusCode::INTERNAL_SERVER_ERROR, self.to_string())
    }
}

impl FromConnParts for Session {
    type Rejection = MissingSession;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, MissingSession> {
        Session::from_conn(conn).ok_or(MissingSession)
    }
}

/// Flash messages (Phoenix's `put_flash`/`get_flash`): short messages by kind
/// (`"info"`, `"error"`) shown on the next page. A message put before a redirect is
/// there on the page the browser is redirected to, then gone; a message put on a
/// page that is not a redirect is shown on that page only.
///
/// ```
/// use zzz::Redirect;
/// use zzz::plugs::Flash;
///
/// async fn create(flash: Flash) -> Redirect {
///     flash.put("info", "Saved.");
///     Redirect::see_other("/")
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Flash(Session);

impl Flash {
    /// The flash of a conn, if [`CookieSession`] ran.
    pub fn from_conn(conn: &Conn) -> Option<Flash> {
        Session::from_conn(conn).map(Flash)
    }

    /// Adds a message of a kind (replacing one of the same kind).
    pub fn put(&self, kind: &str, message: &str) {
        self.0.lock().flash.insert(kind.to_owned(), message.to_owned());
    }

    /// The message of a kind.
    pub fn get(&self, kind: &str) -> Option<String> {
        self.0.lock().flash.get(kind).cloned()
    }

    /// All messages as `(kind, message)`, sorted by kind.
    pub fn all(&self) -> Vec<(String, String)> {
        self.0.lock().flash.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Removes every message.
    pub fn clear(&self) {
        self.0.lock().flash.clear();
    }
}

impl FromConnParts for Flash {
    type Rejection = MissingSession;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, MissingSession> {
        Flash::from_conn(conn).ok_or(MissingSession)
    }
}

impl Plug for CookieSession {
    async fn call(&self, mut conn: Conn) -> Conn {
        if conn.assigns::<Session>().is_some() {
            return conn;
        }
        let secret = match (&self.secret, conn.state::<SecretKeyBase>()) {
            (Some(secret), _) | (None, Some(secret)) => secret.clone(),
            (None, None) => {
                let message = "CookieSession has no secret: give the endpoint a `zzz::plugs::SecretKeyBase` with \
                               `Endpoint::state`, or the plug one with `CookieSession::secret`";
                let response = error_response(StatusCode::INTERNAL_SERVER_ERROR, message.to_owned());
                return super::halt_with(conn, response);
            }
        };
        let key = match self.key_cache.get() {
            Some((cached_for, key)) if cached_for.same_as(&secret) => key.clone(),
            _ => {
                let key = secret.derive(&self.salt);
                let _ = self.key_cache.set((secret.clone(), key.clone()));
                key
            }
        };
        let (mut data, had_cookie) = self.load(&conn, &key);
        let flash: BTreeMap<String, String> = match data.remove(FLASH_KEY) {
            Some(value) => serde_json::from_value(value).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        let had_flash = !flash.is_empty();
        let session = Session(Arc::new(Mutex::new(SessionState {
            data,
            flash,
            had_flash,
            had_cookie,
            changed: false,
            dropped: false,
        })));
        conn.assign(session.clone());
        let config = self.clone();
        conn.register_before_send(move |response| {
            let mut state = session.lock();
            // Flash survives only a redirect (Phoenix's rule); otherwise it is consumed.
            let redirect = (300..=308).contains(&response.status().as_u16());
            if !state.flash.is_empty() && redirect {
                let flash = serde_json::to_value(&state.flash).unwrap_or_default();
                state.data.insert(FLASH_KEY.to_owned(), flash);
                state.changed = true;
            } else if state.had_flash {
                state.changed = true;
            }
            if !state.changed {
                return;
            }
            let header = if state.dropped && state.data.is_empty() {
                if !state.had_cookie {
                    return;
                }
                config.removal()
            } else {
                match config.encode(&state.data, &key) {
                    Ok(cookie) => cookie,
                    Err(message) => {
                        *response = error_response(StatusCode::INTERNAL_SERVER_ERROR, message);
                        return;
                    }
                }
            };
            match HeaderValue::from_str(&header) {
                Ok(value) => {
                    response.headers_mut().append(header::SET_COOKIE, value);
                    // A response that sets a session cookie must not be cached by proxies.
                    response
                        .headers_mut()
                        .entry(header::CACHE_CONTROL)
                        .or_insert(HeaderValue::from_static("max-age=0, private, must-revalidate"));
                }
                Err(_) => tracing::error!("session cookie is not a valid header value; not sent"),
            }
        });
        conn
    }
}
