//! Verification: what the auth layer runs on every call. A bearer JWT is checked for signature,
//! issuer, audience, expiry and not-before and turned into a [`Principal`]; the settings that
//! drive the checks, the errors they report, and the cache that spares a reused token a second
//! signature check live here.
//!
//! The time and audience checks are jsonwebtoken's, configured as RFC 7519 reads: `exp`
//! required, `nbf` enforced when present, both with `auth.leeway_seconds`; `aud` a string or an
//! array of strings that must contain `auth.audience`. `Claims` therefore reads only what the
//! principal needs, never `aud` or `iat`, so their form cannot make a valid token "malformed".

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use super::{Principal, Role, unix_now};
use crate::error::Problem;

/// Shortest HS256 secret accepted, in bytes: the hash's output size (RFC 7518 §3.2).
pub(super) const MIN_SECRET_LEN: usize = 32;

/// The `[auth]` section of every service's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected audience: the token's `aud` is this string or an array that contains it.
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

/// What a verified token contributes to the [`Principal`], plus `exp` for the cache. Everything
/// else (`iss`, `aud`, `nbf`, `iat`, unknown claims) is checked by the library or ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    roles: Vec<String>,
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

/// Why [`AuthSettings`] cannot verify (or mint) anything; a service refuses to start with one.
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

/// Checks bearer tokens against one key and one set of [`AuthSettings`]; cheap to clone (clones
/// share the key and the cache).
///
/// Verified tokens are remembered (bounded) for as long as a fresh check would accept them, until
/// `exp` plus the leeway, so a client that reuses its token pays for the signature check once,
/// not on every call. Only tokens that passed every check are remembered: one refused as not
/// valid yet is checked again on its next use.
#[derive(Clone)]
pub struct Authenticator {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    cache: Arc<Mutex<HashMap<String, (Principal, u64)>>>,
}

const CACHE_CAPACITY: usize = 4096;

impl Authenticator {
    /// Loads the key `settings` name; an HS256 secret wins over a public key when both are set.
    ///
    /// # Errors
    /// When no usable key is configured: [`AuthConfigError`] says which setting to fix.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let (key, algorithm) = match (&settings.hs256_secret, &settings.public_key_pem) {
            (Some(secret), _) if !secret.is_empty() => {
                if secret.len() < MIN_SECRET_LEN {
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
        // Off by default in jsonwebtoken; RFC 7519 §4.1.5 asks for it, the settings promise it.
        validation.validate_nbf = true;
        validation.leeway = settings.leeway_seconds;
        Ok(Authenticator {
            key: Arc::new(key),
            validation: Arc::new(validation),
            cache: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Verifies the value of an `authorization` header (`Bearer <token>`).
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

    /// Verifies a token without the `Bearer ` prefix.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] naming why the token was refused.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = unix_now();
        // The same bound as jsonwebtoken's `exp` check, so the cache never accepts a token that
        // a fresh check would refuse as expired.
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

    /// The verified-token cache. A panic elsewhere while it was held cannot leave it unusable:
    /// its entries are only ever whole (token, principal, expiry) triples.
    fn cache(&self) -> MutexGuard<'_, HashMap<String, (Principal, u64)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Longest accepted token subject, in bytes of UTF-8 (it is stored as an owner).
pub const MAX_SUBJECT_LEN: usize = 128;

/// A subject is stored as an owner and compared in queries: 1 to 128 bytes, no control
/// characters.
///
/// # Errors
/// A description of what is wrong.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        Err("empty".into())
    } else if subject.len() > MAX_SUBJECT_LEN {
        Err(format!("longer than {MAX_SUBJECT_LEN} bytes of UTF-8"))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::auth::{TokenIssuer, unix_now};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn settings() -> AuthSettings {
        AuthSettings {
            hs256_secret: Some(SECRET.into()),
            ..AuthSettings::default()
        }
    }

    /// A token with exactly `claims`, signed with the test secret: what another issuer might send.
    fn signed(claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
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
        let expired = signed(&json!({
            "sub": "a", "iss": "closeloop", "aud": "closeloop", "iat": 0, "exp": 1000,
        }));
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
        assert!(check_subject(&"é".repeat(64)).is_ok());
        assert!(check_subject(&"é".repeat(65)).is_err());
    }

    #[test]
    fn a_token_not_valid_yet_is_refused_beyond_the_leeway_and_never_cached() {
        let auth = Authenticator::new(&settings()).unwrap();
        let now = unix_now();
        let claims = |nbf: u64| {
            json!({
                "sub": "ana", "iss": "closeloop", "aud": "closeloop",
                "iat": now, "exp": now + 172_800, "nbf": nbf, "roles": ["sales_rep"],
            })
        };
        let tomorrow = signed(&claims(now + 86_400));
        // Twice: a refused token must not be answered from the cache either.
        for _ in 0..2 {
            let err = auth.verify(&tomorrow).unwrap_err();
            assert!(err.to_string().contains("token not valid yet"), "{err}");
        }
        // The leeway (30 s by default) covers a signer whose clock runs a little ahead.
        assert!(auth.verify(&signed(&claims(now + 10))).is_ok());
        assert!(auth.verify(&signed(&claims(now - 10))).is_ok());
        let strict = Authenticator::new(&AuthSettings {
            leeway_seconds: 0,
            ..settings()
        })
        .unwrap();
        assert!(strict.verify(&signed(&claims(now + 10))).is_err());
    }

    #[test]
    fn an_audience_array_is_accepted_when_one_element_is_ours() {
        let auth = Authenticator::new(&settings()).unwrap();
        let with_aud = |aud: serde_json::Value| {
            signed(&json!({
                "sub": "ana", "iss": "closeloop", "aud": aud,
                "iat": unix_now(), "exp": unix_now() + 3600, "roles": ["finance"],
            }))
        };
        let p = auth
            .verify(&with_aud(json!(["billing", "closeloop"])))
            .unwrap();
        assert_eq!(p.subject, "ana");
        assert_eq!(p.roles, vec![Role::Finance]);
        assert!(auth.verify(&with_aud(json!(["closeloop"]))).is_ok());
        for refused in [json!(["billing", "crm"]), json!([]), json!("billing")] {
            let err = auth.verify(&with_aud(refused.clone())).unwrap_err();
            assert!(
                err.to_string().contains("wrong audience"),
                "{refused}: {err}"
            );
        }
    }

    #[test]
    fn a_token_without_iat_is_accepted() {
        // RFC 7519 makes `iat` optional and nothing here checks it; issuers elsewhere omit it.
        let auth = Authenticator::new(&settings()).unwrap();
        let token = signed(&json!({
            "sub": "ana", "iss": "closeloop", "aud": "closeloop", "exp": unix_now() + 3600,
        }));
        assert_eq!(auth.verify(&token).unwrap().subject, "ana");
    }

    #[test]
    fn a_cached_token_is_refused_once_it_expires() {
        let auth = Authenticator::new(&AuthSettings {
            leeway_seconds: 0,
            ..settings()
        })
        .unwrap();
        let exp = unix_now() + 1;
        let token = signed(&json!({
            "sub": "ana", "iss": "closeloop", "aud": "closeloop", "iat": exp - 1, "exp": exp,
        }));
        assert!(auth.verify(&token).is_ok());
        while unix_now() <= exp {
            std::thread::sleep(Duration::from_millis(100));
        }
        let err = auth.verify(&token).unwrap_err();
        assert!(err.to_string().contains("token expired"), "{err}");
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
}
