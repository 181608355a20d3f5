//! Outgoing calls to other closeloop services: a lazily connecting channel with connect and call
//! deadlines that traces each call ([`PeerChannel`]), and credentials that authenticate as the
//! `service` role.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tower::Service;
use tracing::Instrument;

use crate::auth::{AuthSettings, Role, TokenIssuer};
use crate::layers::{answered_code, record_code, rpc_names, rpc_span};
use crate::telemetry::ServiceTelemetry;

/// A channel to a peer whose calls are client spans of the calling service and are measured
/// (`rpc.client.duration`): what [`crate::host::Context::peer`] gives.
pub type PeerChannel = ClientTrace<Channel>;

type Body = tonic::body::Body;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

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

/// Opens a client span per outgoing call, hands its trace context to the callee (`traceparent`)
/// and records the call's duration (`rpc.client.duration`), for the service that makes it.
#[derive(Clone, Debug)]
pub struct ClientTrace<S> {
    inner: S,
    telemetry: ServiceTelemetry,
}

impl<S> ClientTrace<S> {
    /// Calls through `inner` on behalf of the service `telemetry` belongs to.
    pub fn new(inner: S, telemetry: ServiceTelemetry) -> Self {
        ClientTrace { inner, telemetry }
    }
}

impl<S, RB> Service<http::Request<Body>> for ClientTrace<S>
where
    S: Service<http::Request<Body>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let path = req.uri().path().to_owned();
        // A child of the caller's current span (if any), as a span of the calling service.
        let span = rpc_span("client", &path);
        self.telemetry
            .adopt(&span, opentelemetry::Context::current());
        if let Some(host) = req.uri().host() {
            span.record("server.address", host);
        }
        crate::telemetry::inject(&span, req.headers_mut());
        let (service, method) = rpc_names(&path);
        let (service, method) = (service.to_owned(), method.to_owned());
        let telemetry = self.telemetry.clone();
        let call = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let started = Instant::now();
                let result = call.await;
                let code = match &result {
                    Ok(answer) => answered_code(answer),
                    Err(e) => unanswered_code(e),
                };
                record_code(&tracing::Span::current(), code);
                telemetry.record_client_call(&service, &method, code, started.elapsed());
                result
            }
            .instrument(span),
        )
    }
}

/// The code of a call that got no answer: DEADLINE_EXCEEDED when the channel's deadline passed
/// (as tonic reports it to the caller), UNAVAILABLE when the peer could not be reached.
fn unanswered_code(error: &(dyn std::error::Error + 'static)) -> i32 {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tonic::TimeoutExpired>() {
            return tonic::Code::DeadlineExceeded as i32;
        }
        cause = e.source();
    }
    tonic::Code::Unavailable as i32
}

/// Where the bearer token for peer calls comes from.
#[derive(Clone)]
pub struct ServiceCredentials {
    subject: String,
    source: TokenSource,
    cached: std::sync::Arc<std::sync::Mutex<Option<(String, std::time::Instant)>>>,
}

#[derive(Clone)]
enum TokenSource {
    /// Tokens are verified with a public key: the deployment gives this service its token.
    Fixed(String),
    /// Minted with the shared HS256 secret, renewed before they end.
    Minted(std::sync::Arc<TokenIssuer>),
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
        let source = match fixed_token.filter(|t| !t.is_empty()) {
            Some(token) => TokenSource::Fixed(token.to_owned()),
            None => TokenSource::Minted(std::sync::Arc::new(TokenIssuer::new(auth)?)),
        };
        Ok(ServiceCredentials {
            subject: subject.to_owned(),
            source,
            cached: Default::default(),
        })
    }

    /// The bearer token to send now.
    pub fn token(&self) -> String {
        let issuer = match &self.source {
            TokenSource::Fixed(token) => return token.clone(),
            TokenSource::Minted(issuer) => issuer,
        };
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, minted)) = cached.as_ref()
            && minted.elapsed() < SERVICE_TOKEN_TTL / 2
        {
            return token.clone();
        }
        let token = issuer.mint(&self.subject, &[Role::Service], SERVICE_TOKEN_TTL);
        *cached = Some((token.clone(), std::time::Instant::now()));
        token
    }

    /// Prepares an outgoing request: bearer token and the current trace context (a
    /// [`PeerChannel`] replaces it with its client span's).
    pub fn prepare<T>(&self, request: &mut tonic::Request<T>) {
        if let Ok(value) = MetadataValue::try_from(format!("Bearer {}", self.token())) {
            request.metadata_mut().insert("authorization", value);
        }
        crate::telemetry::inject_current(request.metadata_mut());
    }
}

/// Whether a failed call to a peer may succeed if made again later, unchanged. The callee is
/// down, busy, slow, racing another change, or broke (UNAVAILABLE, DEADLINE_EXCEEDED,
/// RESOURCE_EXHAUSTED, ABORTED, INTERNAL); UNKNOWN and CANCELLED are what a connection dropped
/// mid-call looks like. Every other answer (INVALID_ARGUMENT, FAILED_PRECONDITION,
/// PERMISSION_DENIED, UNAUTHENTICATED, NOT_FOUND, …) says the request as it is will never be
/// accepted: repeating it cannot help until someone fixes something.
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
    )
}

/// A codec that sends and receives encoded messages as they are: for calls whose request was
/// encoded earlier (outbox commands) and for tests that send malformed messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// Encoder of [`RawCodec`].
#[derive(Debug)]
pub struct RawEncoder;

/// Decoder of [`RawCodec`].
#[derive(Debug)]
pub struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        buf.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        let mut out = vec![0; buf.remaining()];
        buf.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Calls `method` (`package.Service/Method`) on `channel` with an already encoded request,
/// authenticated with `credentials`, within `timeout`. The answer's body is not decoded.
///
/// # Errors
/// The callee's status, or UNAVAILABLE / DEADLINE_EXCEEDED from the transport.
pub async fn call_encoded<T>(
    channel: T,
    credentials: &ServiceCredentials,
    method: &str,
    request: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, tonic::Status>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = prost::bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError>,
{
    let path = http::uri::PathAndQuery::try_from(format!("/{method}"))
        .map_err(|e| tonic::Status::internal(format!("method {method:?}: {e}")))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("connecting: {}", e.into())))?;
    let mut request = tonic::Request::new(request);
    request.set_timeout(timeout);
    credentials.prepare(&mut request);
    grpc.unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}
