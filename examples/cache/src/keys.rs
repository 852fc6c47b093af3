//! Key validation: what each protocol accepts as a key, checked on the raw
//! (still percent-encoded) path so an encoded slash cannot hide a path segment.
//!
//! Keys never become file names (files are named by the sha256 of their content),
//! so these rules are about clear errors and a tidy namespace, not about safety of the
//! file system; they refuse anything a real client would not send.

/// The longest generic key, in bytes after decoding.
pub const MAX_KEY_LEN: usize = 512;

/// Why a key was refused (a 400 naming the problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Nothing after the route's prefix.
    Empty,
    /// Longer than allowed.
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A `.` or `..` segment.
    DotSegment,
    /// `%2F` or `%5C`: a slash or backslash hidden in an encoded segment.
    EncodedSeparator,
    /// A control character, backslash or invalid percent-encoding.
    BadCharacter,
    /// Not the hex digits the protocol requires.
    NotHex {
        /// What was required, such as "64 lowercase hex digits (sha256)".
        expected: &'static str,
    },
    /// Not the decimal digits Nx uses.
    NotDecimal,
    /// A team or instance name with characters outside `A-Z a-z 0-9 _ . -`.
    BadNamespace,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Empty => f.write_str("the key is empty"),
            KeyError::TooLong { len, max } => write!(f, "the key is {len} bytes long; the limit is {max}"),
            KeyError::DotSegment => f.write_str("the key has a `.` or `..` segment"),
            KeyError::EncodedSeparator => f.write_str("the key has an encoded slash or backslash (%2F, %5C)"),
            KeyError::BadCharacter => f.write_str("the key has a control character, a backslash or invalid percent-encoding"),
            KeyError::NotHex { expected } => write!(f, "the key must be {expected}"),
            KeyError::NotDecimal => f.write_str("the Nx hash must be 1 to 32 decimal digits"),
            KeyError::BadNamespace => f.write_str("a team or instance name may only use A-Z, a-z, 0-9, `_`, `.` and `-` (1 to 100 characters)"),
        }
    }
}

/// A generic (Gradle, ccache, any tool) key: the raw path after `/cache/`. Returns the
/// decoded key with empty segments collapsed.
pub fn generic(raw: &str) -> Result<String, KeyError> {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(KeyError::EncodedSeparator);
    }
    let decoded = percent_decode(raw).ok_or(KeyError::BadCharacter)?;
    let mut key = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(KeyError::DotSegment);
        }
        if segment.chars().any(|c| c.is_control() || c == '\\') {
            return Err(KeyError::BadCharacter);
        }
        if !key.is_empty() {
            key.push('/');
        }
        key.push_str(segment);
    }
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong { len: key.len(), max: MAX_KEY_LEN });
    }
    Ok(key)
}

/// The namespace of a generic key: its first segment when it has several
/// (`/cache/my-project/…`), else `default`.
pub fn generic_namespace(key: &str) -> &str {
    match key.split_once('/') {
        Some((first, _)) => first,
        None => "default",
    }
}

/// A sha256 in hex (Bazel's `/ac/` and `/cas/`); uppercase is accepted and lowered.
pub fn sha256(raw: &str) -> Result<String, KeyError> {
    if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(raw.to_ascii_lowercase())
    } else if raw.len() > 64 {
        Err(KeyError::TooLong { len: raw.len(), max: 64 })
    } else {
        Err(KeyError::NotHex { expected: "64 hex digits (a sha256)" })
    }
}

/// A Turborepo hash: 1 to 128 hex digits (turbo sends 16).
pub fn turbo_hash(raw: &str) -> Result<String, KeyError> {
    if raw.len() > 128 {
        return Err(KeyError::TooLong { len: raw.len(), max: 128 });
    }
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(KeyError::NotHex { expected: "1 to 128 hex digits (a Turborepo task hash)" })
    }
}

/// An Nx hash: decimal digits (a u64 printed in base 10, up to 32 digits accepted).
pub fn nx_hash(raw: &str) -> Result<String, KeyError> {
    if !raw.is_empty() && raw.len() <= 32 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_owned())
    } else {
        Err(KeyError::NotDecimal)
    }
}

/// A team slug, team id or Bazel instance name.
pub fn namespace(raw: &str) -> Result<String, KeyError> {
    if !raw.is_empty() && raw.len() <= 100 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) && raw != "." && raw != ".." {
        Ok(raw.to_owned())
    } else {
        Err(KeyError::BadNamespace)
    }
}

fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_keys() {
        assert_eq!(generic("abc/def").unwrap(), "abc/def");
        assert_eq!(generic("a%20b//c").unwrap(), "a b/c");
        assert_eq!(generic("a/../b"), Err(KeyError::DotSegment));
        assert_eq!(generic("a/%2e%2e/b"), Err(KeyError::DotSegment));
        assert_eq!(generic("a%2Fb"), Err(KeyError::EncodedSeparator));
        assert_eq!(generic("a%5cb"), Err(KeyError::EncodedSeparator));
        assert_eq!(generic("a%00b"), Err(KeyError::BadCharacter));
        assert_eq!(generic("a%zz"), Err(KeyError::BadCharacter));
        assert_eq!(generic("/"), Err(KeyError::Empty));
        assert!(matches!(generic(&"k".repeat(600)), Err(KeyError::TooLong { .. })));
        assert_eq!(generic_namespace("proj/k"), "proj");
        assert_eq!(generic_namespace("k"), "default");
    }

    #[test]
    fn hashes() {
        let h = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(sha256(h).unwrap(), h.to_ascii_lowercase());
        assert!(sha256("xyz").is_err());
        assert!(sha256(&"a".repeat(63)).is_err());
        assert!(turbo_hash("0123456789abcdef").is_ok());
        assert!(turbo_hash("nothex!").is_err());
        assert!(nx_hash("2722010295980922451").is_ok());
        assert!(nx_hash("27a").is_err());
        assert!(namespace("team_abc-1.x").is_ok());
        assert!(namespace("a/b").is_err());
        assert!(namespace("..").is_err());
    }
}
