//! Authentication: bearer JWTs checked for signature, issuer, audience and expiry, turned into a
//! [`Principal`] (subject + roles) that handlers read from the request.
//!
//! Tokens are signed with a shared HS256 secret, or verified with a public key (RS256, ES256,
//! EdDSA) when the signer is elsewhere. `closeloop token` mints HS256 tokens for local use with
//! [`TokenIssuer`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::Problem;

/// What a caller acts as. The set is closed: unknown role strings in a token are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Owns and works opportunities.
    SalesRep,
    /// Sees and changes all opportunities; approves discounts.
    SalesManager,
    /// Invoices and payments.
    Finance,
    /// Runs accounts after the handoff.
    AccountManager,
    /// Posts operations updates.
    Operations,
    /// Another closeloop service.
    Service,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 6] = [
        Role::SalesRep,
        Role::SalesManager,
        Role::Finance,
        Role::AccountManager,
        Role::Operations,
        Role::Service,
    ];

    /// The role's name in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SalesRep => "sales_rep",
            Role::SalesManager => "sales_manager",
            Role::Finance => "finance",
            Role::AccountManager => "account_manager",
            Role::Operations => "operations",
            Role::Service => "service",
        }
    }

    /// Parses a role name as written in tokens.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub` claim.
    pub subject: String,
    /// The known roles the token grants.
    pub roles: Vec<Role>,
}

impl Principal {
    /// Whether the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }

    /// The role recorded on history entries: the most privileged one held.
    pub fn acting_role(&self) -> Role {
        const PRECEDENCE: [Role; 6] = [
            Role::Service,
            Role::SalesManager,
            Role::Finance,
            Role::AccountManager,
            Role::Operations,
            Role::SalesRep,
        ];
        PRECEDENCE
            .into_iter()
            .find(|r| self.has(*r))
            .unwrap_or(Role::SalesRep)
    }

    /// Reads the principal the auth layer attached to a request.
    ///
    /// # Errors
    /// UNAUTHENTICATED when the request did not pass the auth layer (a server wiring bug, or a
    /// health/reflection path that should not call this).
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Principal, Problem> {
        request
            .extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Problem::Unauthenticated("missing bearer token".into()))
    }
}

/// Authentication settings (`[auth]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// Shared HS256 secret (at least 32 bytes). Either this or `public_key_pem`.
    #[serde(default)]
    pub hs256_secret: Option<String>,
    /// PEM public key that verifies tokens signed elsewhere.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// Algorithm of `public_key_pem`: RS256, ES256 or EdDSA.
    #[serde(default = "default_public_key_algorithm")]
    pub public_key_algorithm: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(
        default = "default_leeway",
        deserialize_with = "crate::settings::number"
    )]
    pub leeway_seconds: u64,
}

fn default_public_key_algorithm() -> String {
    "RS256".into()
}

fn default_leeway() -> u64 {
    30
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            issuer: "closeloop".into(),
            audience: "closeloop".into(),
            hs256_secret: None,
            public_key_pem: None,
            public_key_algorithm: default_public_key_algorithm(),
            leeway_seconds: default_leeway(),
        }
    }
}

/// Claims closeloop reads from and writes into tokens.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    #[serde(default)]
    roles: Vec<String>,
}

/// Why a token was refused. The message is safe to show the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `authorization: Bearer …` metadata.
    #[error("missing bearer token")]
    Missing,
    /// The token did not verify.
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl From<AuthError> for Problem {
    fn from(err: AuthError) -> Self {
        Problem::Unauthenticated(err.to_string())
    }
}

/// Configuration errors found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither a secret nor a public key is configured.
    #[error("auth: set auth.hs256_secret or auth.public_key_pem")]
    NoKey,
    /// The secret is too short to be safe.
    #[error("auth.hs256_secret must be at least 32 bytes")]
    WeakSecret,
    /// The public key or its algorithm is unusable.
    #[error("auth.public_key_pem: {0}")]
    BadKey(String),
}

/// Verifies bearer tokens.
///
/// Verified tokens are remembered until they expire (bounded), so a client that reuses its token
/// pays for the signature check once, not on every call.
#[derive(Clone)]
pub struct Authenticator {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    cache: Arc<Mutex<HashMap<String, (Principal, u64)>>>,
}

const CACHE_CAPACITY: usize = 4096;

impl Authenticator {
    /// Builds a verifier from settings.
    ///
    /// # Errors
    /// When no usable key is configured.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let (key, algorithm) = match (&settings.hs256_secret, &settings.public_key_pem) {
            (Some(secret), _) if !secret.is_empty() => {
                if secret.len() < 32 {
                    return Err(AuthConfigError::WeakSecret);
                }
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
            (_, Some(pem)) if !pem.is_empty() => {
                let pem = pem.as_bytes();
                let bad = |e: jsonwebtoken::errors::Error| AuthConfigError::BadKey(e.to_string());
                match settings.public_key_algorithm.as_str() {
                    "RS256" => (
                        DecodingKey::from_rsa_pem(pem).map_err(bad)?,
                        Algorithm::RS256,
                    ),
                    "ES256" => (
                        DecodingKey::from_ec_pem(pem).map_err(bad)?,
                        Algorithm::ES256,
                    ),
                    "EdDSA" => (
                        DecodingKey::from_ed_pem(pem).map_err(bad)?,
                        Algorithm::EdDSA,
                    ),
                    other => {
                        return Err(AuthConfigError::BadKey(format!(
                            "unsupported algorithm {other}; use RS256, ES256 or EdDSA"
                        )));
                    }
                }
            }
            _ => return Err(AuthConfigError::NoKey),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway_seconds;
        Ok(Authenticator {
            key: Arc::new(key),
            validation: Arc::new(validation),
            cache: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Verifies the value of an `authorization` header.
    ///
    /// # Errors
    /// [`AuthError`] when the header is missing, malformed, or the token fails verification.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Invalid("expected `Bearer <token>`".into()))?
            .trim();
        self.verify(token)
    }

    /// Verifies a bare token.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] naming why the token was refused.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = unix_now();
        if let Some((principal, exp)) = self.cache().get(token)
            && now <= exp.saturating_add(self.validation.leeway)
        {
            return Ok(principal.clone());
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(describe(&e)))?;
        let claims = data.claims;
        if let Err(why) = check_subject(&claims.sub) {
            return Err(AuthError::Invalid(format!("subject: {why}")));
        }
        let principal = Principal {
            subject: claims.sub,
            roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
        };
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, (_, exp)| now <= *exp);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(token.to_owned(), (principal.clone(), claims.exp));
        Ok(principal)
    }
}

impl Authenticator {
    /// The verified-token cache. A panic elsewhere while it was held cannot leave it unusable:
    /// its entries are only ever whole (token, principal, expiry) triples.
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Principal, u64)>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Longest accepted token subject.
pub const MAX_SUBJECT_LEN: usize = 128;

/// A subject is stored as an owner and compared in queries: 1 to 128 characters, no control
/// characters.
///
/// # Errors
/// A description of what is wrong.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        Err("empty".into())
    } else if subject.chars().count() > MAX_SUBJECT_LEN {
        Err(format!("longer than {MAX_SUBJECT_LEN} characters"))
    } else if subject.chars().any(char::is_control) {
        Err("contains control characters".into())
    } else {
        Ok(())
    }
}

fn describe(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::ImmatureSignature => "token not valid yet".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
        ErrorKind::InvalidAlgorithm => "unexpected signing algorithm".into(),
        _ => "malformed token".into(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints HS256 tokens that an [`Authenticator`] with the same settings accepts.
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    /// Builds an issuer from the HS256 secret in `settings`.
    ///
    /// # Errors
    /// When no HS256 secret is configured (public-key setups mint tokens elsewhere).
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let secret = settings
            .hs256_secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(AuthConfigError::NoKey)?;
        if secret.len() < 32 {
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
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().to_owned()),
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

    fn settings() -> AuthSettings {
        AuthSettings {
            hs256_secret: Some("0123456789abcdef0123456789abcdef".into()),
            ..AuthSettings::default()
        }
    }

    #[test]
    fn minted_token_verifies_with_roles() {
        let issuer = TokenIssuer::new(&settings()).unwrap();
        let auth = Authenticator::new(&settings()).unwrap();
        let token = issuer.mint("alice", &[Role::SalesRep], Duration::from_secs(60));
        let p = auth
            .verify_header(Some(&format!("Bearer {token}")))
            .unwrap();
        assert_eq!(p.subject, "alice");
        assert_eq!(p.roles, vec![Role::SalesRep]);
    }

    #[test]
    fn wrong_audience_issuer_secret_and_expiry_are_refused() {
        let auth = Authenticator::new(&settings()).unwrap();
        let other_aud = AuthSettings {
            audience: "elsewhere".into(),
            ..settings()
        };
        let other_iss = AuthSettings {
            issuer: "elsewhere".into(),
            ..settings()
        };
        let other_key = AuthSettings {
            hs256_secret: Some("ffffffffffffffffffffffffffffffff".into()),
            ..settings()
        };
        for (s, why) in [
            (other_aud, "wrong audience"),
            (other_iss, "wrong issuer"),
            (other_key, "bad signature"),
        ] {
            let token = TokenIssuer::new(&s)
                .unwrap()
                .mint("a", &[], Duration::from_secs(60));
            let err = auth.verify(&token).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
        let expired = {
            let claims = Claims {
                sub: "a".into(),
                iss: "closeloop".into(),
                aud: "closeloop".into(),
                iat: 0,
                exp: 1000,
                roles: vec![],
            };
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
            )
            .unwrap()
        };
        assert!(
            auth.verify(&expired)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        assert!(matches!(auth.verify_header(None), Err(AuthError::Missing)));
        assert!(auth.verify_header(Some("Basic abc")).is_err());
        assert!(auth.verify("not.a.token").is_err());
    }

    #[test]
    fn extreme_expiry_and_bad_subjects_do_not_break_verification() {
        let auth = Authenticator::new(&settings()).unwrap();
        let forever = TokenIssuer::new(&settings()).unwrap().mint(
            "ana",
            &[Role::SalesRep],
            Duration::from_secs(u64::MAX),
        );
        // Twice: the second answer comes from the cache.
        assert!(auth.verify(&forever).is_ok());
        assert!(auth.verify(&forever).is_ok());
        let issuer = TokenIssuer::new(&settings()).unwrap();
        for subject in ["", "a\0b", &"x".repeat(129)] {
            let token = issuer.mint(subject, &[], Duration::from_secs(60));
            assert!(auth.verify(&token).is_err(), "{subject:?}");
        }
        assert!(check_subject(&"é".repeat(128)).is_ok());
    }

    #[test]
    fn short_secret_is_refused_at_start() {
        let s = AuthSettings {
            hs256_secret: Some("short".into()),
            ..AuthSettings::default()
        };
        assert!(matches!(
            Authenticator::new(&s),
            Err(AuthConfigError::WeakSecret)
        ));
        assert!(matches!(
            Authenticator::new(&AuthSettings::default()),
            Err(AuthConfigError::NoKey)
        ));
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
