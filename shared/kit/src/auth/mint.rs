//! Minting: tokens closeloop signs itself with the shared HS256 secret (`closeloop token`, test
//! tokens, service-to-service calls), and the local secret file: `closeloop up` creates it so
//! the suite runs without configuration, `closeloop token` only reads it.

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::verify::MIN_SECRET_LEN;
use super::{AuthConfigError, AuthSettings, Role, unix_now};

/// What closeloop writes into the tokens it mints. `aud` is one string, the form every verifier
/// accepts (RFC 7519 also allows an array, which closeloop reads but does not write).
#[derive(Debug, Serialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    roles: Vec<String>,
}

/// Mints HS256 tokens that an [`Authenticator`](super::Authenticator) with the same settings
/// accepts.
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    /// Takes the HS256 secret, issuer and audience from `settings`.
    ///
    /// # Errors
    /// When no HS256 secret is configured (public-key setups mint tokens elsewhere).
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let secret = settings
            .hs256_secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(AuthConfigError::NoKey)?;
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthConfigError::WeakSecret);
        }
        Ok(TokenIssuer {
            key: EncodingKey::from_secret(secret.as_bytes()),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    /// A token for `subject` with `roles`, valid for `ttl`.
    pub fn mint(&self, subject: &str, roles: &[Role], ttl: Duration) -> String {
        let now = unix_now();
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now.saturating_add(ttl.as_secs()),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .expect("HS256 encoding with a valid key cannot fail")
    }
}

/// Reads the local signing secret at `path`, creating it (32 random bytes, hex, mode 0600) on
/// first use, and replacing one shorter than 32 bytes. For `closeloop up`, which owns the secret;
/// whoever only needs to sign with it uses [`read_secret`].
///
/// # Errors
/// I/O errors reading or writing the file.
pub fn load_or_create_secret(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= MIN_SECRET_LEN => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    Ok(secret)
}

/// Reads the local signing secret at `path` (trimmed) without ever creating one: `Ok(None)` when
/// there is no file. For `closeloop token`, where a secret made up on the spot would sign tokens
/// that the running suite refuses.
///
/// # Errors
/// When the file exists but cannot be read, or holds fewer than 32 bytes once trimmed
/// ([`std::io::ErrorKind::InvalidData`]); the file is left as it is.
pub fn read_secret(path: &Path) -> std::io::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let secret = text.trim();
    if secret.len() < MIN_SECRET_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the signing secret is shorter than {MIN_SECRET_LEN} bytes"),
        ));
    }
    Ok(Some(secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_name_the_audience_as_a_string() {
        // Verifiers elsewhere may accept only the string form of `aud`; closeloop writes that.
        use base64::Engine;
        let issuer = TokenIssuer::new(&AuthSettings {
            hs256_secret: Some("0123456789abcdef0123456789abcdef".into()),
            ..AuthSettings::default()
        })
        .unwrap();
        let token = issuer.mint("ana", &[Role::Finance], Duration::from_secs(60));
        let payload = token.split('.').nth(1).unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(claims["aud"], serde_json::json!("closeloop"));
    }

    #[test]
    fn local_secret_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/secret");
        let first = load_or_create_secret(&path).unwrap();
        let second = load_or_create_secret(&path).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
    }

    #[test]
    fn read_secret_never_creates_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/secret");
        assert_eq!(read_secret(&path).unwrap(), None);
        assert!(!path.exists(), "read_secret created {}", path.display());
        assert!(!dir.path().join("nested").exists());
    }

    #[test]
    fn read_secret_reads_what_load_or_create_secret_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let created = load_or_create_secret(&path).unwrap();
        assert_eq!(read_secret(&path).unwrap(), Some(created));
        // A hand-written secret with a trailing newline means the same secret.
        let by_hand = "f".repeat(40);
        std::fs::write(&path, format!("{by_hand}\n")).unwrap();
        assert_eq!(read_secret(&path).unwrap(), Some(by_hand.clone()));
        assert_eq!(load_or_create_secret(&path).unwrap(), by_hand);
    }

    #[test]
    fn read_secret_refuses_a_short_or_unreadable_secret_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let short = format!("{}\n", "f".repeat(MIN_SECRET_LEN - 1));
        std::fs::write(&path, &short).unwrap();
        let err = read_secret(&path).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), short);
        // Something is there but it is not a readable file: an error, not "no secret".
        assert!(read_secret(dir.path()).is_err());
    }
}
