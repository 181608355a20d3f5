//! Minting: tokens closeloop signs itself with the shared HS256 secret (`closeloop token`, test
//! tokens, service-to-service calls), and the local secret file that `closeloop up` creates so
//! the suite runs without configuration.

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
/// first use. Used by `closeloop up` and `closeloop token` so they agree without configuration.
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
}
