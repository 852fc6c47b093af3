//! HTTPS: [`TlsConfig`] (certificates for the server, rustls with the ring
//! provider) and [`SelfSignedCert`] (development certificates made with rcgen).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN protocol ids, most preferred first.
const ALPN_H2: &[u8] = b"h2";
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The TLS settings of a [`Server`](super::Server): a certificate chain and its
/// private key, TLS 1.2 and 1.3 with rustls' safe defaults.
///
/// ALPN is set by the server when it starts: `h2` and `http/1.1` when
/// [`ServerConfig::http2`](super::ServerConfig::http2) is on, `http/1.1` alone
/// otherwise (a config made with [`TlsConfig::from_rustls`] that already lists
/// ALPN protocols keeps its list).
///
/// ```no_run
/// use zzz::server::{Server, ServerConfig, TlsConfig};
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = TlsConfig::from_pem_files("priv/cert/cert.pem", "priv/cert/key.pem")?;
/// let server = Server::bind("0.0.0.0:4443".parse()?, ServerConfig::default())?.tls(tls);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
    cert_chain: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("certificates", &self.cert_chain.len())
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Loads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8,
    /// PKCS#1 or SEC1) from files.
    ///
    /// # Errors
    /// A [`TlsError`] naming the file that cannot be read, holds no certificate
    /// or key, is not valid PEM, or whose key does not match the certificate.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<TlsConfig, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_pem = std::fs::read(cert).map_err(|e| TlsError::new(Some(cert), "cannot read the certificate file", e))?;
        let key_pem = std::fs::read(key).map_err(|e| TlsError::new(Some(key), "cannot read the private key file", e))?;
        Self::build(&cert_pem, Some(cert), &key_pem, Some(key))
    }

    /// Like [`TlsConfig::from_pem_files`], from PEM text already in memory.
    ///
    /// # Errors
    /// A [`TlsError`] saying which input holds no certificate or key, is not
    /// valid PEM, or whose key does not match the certificate.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, TlsError> {
        Self::build(cert_pem, None, key_pem, None)
    }

    /// A config with a freshly generated self-signed certificate for `names`
    /// (DNS names or IP addresses, e.g. `&["localhost", "127.0.0.1"]`). For
    /// development only: clients must be told to trust it (see
    /// [`TlsConfig::certificates`] and [`SelfSignedCert`]).
    ///
    /// # Errors
    /// A [`TlsError`] if a name cannot go in a certificate or generation fails.
    pub fn self_signed(names: &[&str]) -> Result<TlsConfig, TlsError> {
        SelfSignedCert::generate(names)?.tls_config()
    }

    /// The development certificate kept in `dir`: loads `dir/cert.pem` and
    /// `dir/key.pem` when both exist, otherwise generates a self-signed
    /// certificate for `names` and writes it there first (see
    /// [`SelfSignedCert::write_pem_files`]). Reusing the files keeps the
    /// certificate stable across restarts, so a browser exception or a
    /// trusted-root entry made for it stays valid.
    ///
    /// # Errors
    /// A [`TlsError`] naming the file that cannot be read, written or used.
    pub fn load_or_create_self_signed(dir: impl AsRef<Path>, names: &[&str]) -> Result<TlsConfig, TlsError> {
        let dir = dir.as_ref();
        let cert = dir.join(SelfSignedCert::CERT_FILE);
        let key = dir.join(SelfSignedCert::KEY_FILE);
        if cert.is_file() && key.is_file() {
            return TlsConfig::from_pem_files(&cert, &key);
        }
        let generated = SelfSignedCert::generate(names)?;
        generated.write_pem_files(dir)?;
        tracing::info!(dir = %dir.display(), ?names, "generated a self-signed development certificate");
        generated.tls_config()
    }

    /// Wraps a rustls config built by hand (client authentication, custom
    /// certificate resolver, …). Its ALPN list is kept if not empty; otherwise
    /// the server fills it in. [`TlsConfig::certificates`] is empty for such a config.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig { config, cert_chain: Vec::new() }
    }

    /// The certificate chain served, leaf first (DER). Test clients add these to
    /// their trusted roots to talk to a server using a self-signed certificate.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.cert_chain
    }

    /// The rustls config with the ALPN protocols the server will offer.
    pub(crate) fn acceptor(&self, http2: bool) -> tokio_rustls::TlsAcceptor {
        let mut config = self.config.clone();
        if config.alpn_protocols.is_empty() {
            let mut c = (*config).clone();
            c.alpn_protocols =
                if http2 { vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()] } else { vec![ALPN_HTTP11.to_vec()] };
            config = Arc::new(c);
        }
        tokio_rustls::TlsAcceptor::from(config)
    }

    fn build(
        cert_pem: &[u8],
        cert_path: Option<&Path>,
        key_pem: &[u8],
        key_path: Option<&Path>,
    ) -> Result<TlsConfig, TlsError> {
        let cert_chain = rustls_pemfile::certs(&mut &cert_pem[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::new(cert_path, "the certificate file is not valid PEM", e))?;
        if cert_chain.is_empty() {
            return Err(TlsError::msg(
                cert_path,
                "no certificate found (expected a PEM block starting with -----BEGIN CERTIFICATE-----)",
            ));
        }
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
            .map_err(|e| TlsError::new(key_path, "the private key file is not valid PEM", e))?
            .ok_or_else(|| {
                TlsError::msg(
                    key_path,
                    "no private key found (expected a PEM block such as -----BEGIN PRIVATE KEY-----)",
                )
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(None, "rustls rejected the protocol versions", e))?
            .with_no_client_auth()
            .with_single_cert(cert_chain.clone(), key)
            .map_err(|e| {
                let path = key_path.or(cert_path);
                let what = match &e {
                    rustls::Error::InconsistentKeys(_) => "the private key does not match the certificate",
                    _ => "the certificate or private key is not usable",
                };
                TlsError::new(path, what, e)
            })?;
        Ok(TlsConfig { config: Arc::new(config), cert_chain })
    }
}

/// A self-signed certificate and its private key, in PEM, for development
/// HTTPS (`zzz server --https`-style setups) and tests.
///
/// ```
/// use zzz::server::SelfSignedCert;
///
/// let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
/// assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// let dir = std::env::temp_dir().join(format!("zzz-doc-cert-{}", std::process::id()));
/// let (cert_file, key_file) = cert.write_pem_files(&dir).unwrap();
/// zzz::server::TlsConfig::from_pem_files(&cert_file, &key_file).unwrap();
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone)]
pub struct SelfSignedCert {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM encoded. Keep it secret.
    pub key_pem: String,
}

impl fmt::Debug for SelfSignedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSignedCert").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

impl SelfSignedCert {
    /// File name [`SelfSignedCert::write_pem_files`] gives the certificate.
    pub const CERT_FILE: &'static str = "cert.pem";
    /// File name [`SelfSignedCert::write_pem_files`] gives the private key.
    pub const KEY_FILE: &'static str = "key.pem";

    /// Generates a new key pair and a certificate for `names` (DNS names or IP
    /// addresses), signed by itself.
    ///
    /// # Errors
    /// A [`TlsError`] if `names` is empty, a name is not valid in a certificate,
    /// or generation fails.
    pub fn generate(names: &[&str]) -> Result<SelfSignedCert, TlsError> {
        if names.is_empty() {
            return Err(TlsError::msg(None, "a self-signed certificate needs at least one name, e.g. \"localhost\""));
        }
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let certified = rcgen::generate_simple_self_signed(names.clone()).map_err(|e| {
            TlsError::new(None, &format!("cannot generate a self-signed certificate for {names:?}"), e)
        })?;
        Ok(SelfSignedCert { cert_pem: certified.cert.pem(), key_pem: certified.signing_key.serialize_pem() })
    }

    /// Writes [`Self::CERT_FILE`] and [`Self::KEY_FILE`] into `dir` (created if
    /// missing; existing files are replaced) and returns their paths
    /// `(cert, key)`. On Unix the key file is readable by its owner only.
    ///
    /// # Errors
    /// A [`TlsError`] naming the directory or file that cannot be written.
    pub fn write_pem_files(&self, dir: impl AsRef<Path>) -> Result<(PathBuf, PathBuf), TlsError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| TlsError::new(Some(dir), "cannot create the directory", e))?;
        let cert = dir.join(Self::CERT_FILE);
        let key = dir.join(Self::KEY_FILE);
        std::fs::write(&cert, &self.cert_pem)
            .map_err(|e| TlsError::new(Some(&cert), "cannot write the certificate", e))?;
        write_private(&key, self.key_pem.as_bytes())
            .map_err(|e| TlsError::new(Some(&key), "cannot write the private key", e))?;
        Ok((cert, key))
    }

    /// A [`TlsConfig`] serving this certificate.
    ///
    /// # Errors
    /// A [`TlsError`] if rustls rejects the pair (not expected for generated ones).
    pub fn tls_config(&self) -> Result<TlsConfig, TlsError> {
        TlsConfig::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // `mode` only applies to new files; tighten an existing one too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(data)
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    std::fs::write(path, data)
}

/// Why a TLS certificate or key could not be loaded, generated or written.
///
/// Its message names the file involved (when there is one) and what was wrong
/// with it, e.g. `TLS: priv/cert/key.pem: no private key found (…)`.
#[derive(Debug)]
pub struct TlsError {
    path: Option<PathBuf>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TlsError {
    fn new(path: Option<&Path>, what: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> TlsError {
        TlsError { path: path.map(Path::to_path_buf), message: what.to_owned(), source: Some(source.into()) }
    }

    fn msg(path: Option<&Path>, what: &str) -> TlsError {
        TlsError { path: path.map(Path::to_path_buf), message: what.to_owned(), source: None }
    }

    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TLS: ")?;
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}
