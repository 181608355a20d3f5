//! Outgoing calls to other closeloop services: a lazily connecting channel with connect and call
//! deadlines, and an interceptor that authenticates as the `service` role and hands the current
//! trace context to the callee.

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::auth::{AuthSettings, Role, TokenIssuer};

/// How long a service token minted for peer calls lives; renewed well before it ends.
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A channel to `endpoint` (e.g. `http://contracts:50052`) that connects on first use, so a peer
/// that is down delays calls instead of failing start-up.
///
/// # Errors
/// When the endpoint is not a valid URI.
pub fn channel(endpoint: &str, call_timeout: Duration) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(endpoint.to_owned())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(call_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

/// Where the bearer token for peer calls comes from.
#[derive(Clone)]
pub struct ServiceCredentials {
    subject: String,
    issuer: Option<std::sync::Arc<TokenIssuer>>,
    fixed: Option<String>,
    cached: std::sync::Arc<std::sync::Mutex<Option<(String, std::time::Instant)>>>,
}

impl ServiceCredentials {
    /// Mints `service` tokens with the shared HS256 secret, or uses `fixed_token` when the
    /// deployment verifies tokens with a public key (and so cannot mint).
    ///
    /// # Errors
    /// When neither a secret nor a fixed token is available.
    pub fn new(
        subject: &str,
        auth: &AuthSettings,
        fixed_token: Option<&str>,
    ) -> Result<Self, crate::auth::AuthConfigError> {
        let fixed = fixed_token.filter(|t| !t.is_empty()).map(str::to_owned);
        let issuer = if fixed.is_some() {
            None
        } else {
            Some(std::sync::Arc::new(TokenIssuer::new(auth)?))
        };
        Ok(ServiceCredentials {
            subject: subject.to_owned(),
            issuer,
            fixed,
            cached: Default::default(),
        })
    }

    /// The bearer token to send now.
    pub fn token(&self) -> String {
        if let Some(fixed) = &self.fixed {
            return fixed.clone();
        }
        let mut cached = self.cached.lock().expect("token cache");
        if let Some((token, minted)) = cached.as_ref()
            && minted.elapsed() < SERVICE_TOKEN_TTL / 2
        {
            return token.clone();
        }
        let token = self
            .issuer
            .as_ref()
            .expect("an issuer exists when no fixed token is set")
            .mint(&self.subject, &[Role::Service], SERVICE_TOKEN_TTL);
        *cached = Some((token.clone(), std::time::Instant::now()));
        token
    }

    /// Prepares an outgoing request: bearer token and trace context.
    pub fn prepare<T>(&self, request: &mut tonic::Request<T>) {
        if let Ok(value) = MetadataValue::try_from(format!("Bearer {}", self.token())) {
            request.metadata_mut().insert("authorization", value);
        }
        crate::telemetry::inject_current(request.metadata_mut());
    }
}

/// Whether a failed call to a peer is worth retrying later (delivery) rather than final.
pub fn is_retryable(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
            | Code::Unknown
            | Code::Cancelled
            | Code::Unauthenticated
            | Code::PermissionDenied
    )
}
