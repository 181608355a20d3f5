//! The tower layers every closeloop server runs, outermost first:
//!
//! 1. [`TraceLayer`]: every call, even a refused one, is a span of the service that continues the
//!    caller's trace, and its duration is recorded.
//! 2. [`CatchPanicLayer`]: a bug that panics answers INTERNAL for that call, logged in its span,
//!    instead of resetting the stream; the server goes on serving.
//! 3. [`DeadlineLayer`]: no call outlives the server's limit or the client's `grpc-timeout`,
//!    whichever is shorter; it fails with DEADLINE_EXCEEDED.
//! 4. [`AuthLayer`]: only calls with a valid bearer token and at least one role go further; a
//!    handler finds the [`Principal`](crate::auth::Principal) in the request extensions. First
//!    of the two below, so an anonymous caller never holds memory or a slot.
//! 5. [`AdmissionLayer`]: a call is admitted once its whole message arrived (bounded in time,
//!    size and bytes in flight over all calls), then takes one of N slots until its answer is
//!    sent; with none free it is refused at once with RESOURCE_EXHAUSTED (load shedding). An
//!    answer left unread past its deadline closes its connection, so its slot comes back.
//!
//! Health and reflection are exempt from admission and auth: probes must answer while the server
//! is saturated, and tools must discover the API without a token.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tonic::Status;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::auth::Authenticator;
use crate::error::Problem;
use crate::telemetry::ServiceTelemetry;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Paths that need neither a token nor a concurrency slot.
fn is_open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

fn reply<B: Default>(status: Status) -> http::Response<B> {
    status.into_http()
}

/// Takes the inner service out, leaving a clone that is ready in its place (the tower idiom for
/// services that are called from a spawned future).
fn take<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

// ---------------------------------------------------------------------------------------------

/// Opens a server span per call, parented on the caller's `traceparent` and attributed to the
/// service ([`ServiceTelemetry::adopt`]), and records the call's duration (`rpc.server.duration`).
#[derive(Clone, Default)]
pub struct TraceLayer {
    telemetry: ServiceTelemetry,
}

impl TraceLayer {
    /// Spans and metrics of the service `telemetry` belongs to.
    pub fn new(telemetry: ServiceTelemetry) -> Self {
        TraceLayer { telemetry }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Trace {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// See [`TraceLayer`].
#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
    telemetry: ServiceTelemetry,
}

/// The gRPC status of an answer: in its headers when it is an error answered before any message
/// ("trailers-only", how tonic answers every failed unary call); a call that streams a message
/// succeeded.
pub(crate) fn answered_code<B>(response: &http::Response<B>) -> i32 {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

/// The span of one call of `path` (`/package.Service/Method`), `kind` `server` or `client`, with
/// the attributes of OpenTelemetry's RPC conventions.
pub(crate) fn rpc_span(kind: &'static str, path: &str) -> tracing::Span {
    let (service, method) = rpc_names(path);
    tracing::info_span!(
        "grpc",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = kind,
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        enduser.id = tracing::field::Empty,
        server.address = tracing::field::Empty,
    )
}

/// Records the call's gRPC status on its span; any but OK is an error.
pub(crate) fn record_code(span: &tracing::Span, code: i32) {
    span.record("rpc.grpc.status_code", code);
    if code != 0 {
        span.record("otel.status_code", "ERROR");
    }
}

/// `package.Service` and `Method` of a gRPC path.
pub(crate) fn rpc_names(path: &str) -> (&str, &str) {
    path.trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""))
}

impl<S, B, RB> Service<http::Request<B>> for Trace<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path();
        let span = rpc_span("server", path);
        self.telemetry
            .adopt(&span, crate::telemetry::remote_parent(req.headers()));
        let (service, method) = rpc_names(path);
        let (service, method) = (service.to_owned(), method.to_owned());
        let telemetry = self.telemetry.clone();
        let mut inner = take(&mut self.inner);
        Box::pin(
            async move {
                let started = Instant::now();
                let result = inner.call(req).await;
                if let Ok(response) = &result {
                    let code = answered_code(response);
                    record_code(&tracing::Span::current(), code);
                    let elapsed = started.elapsed();
                    telemetry.record_server_call(&service, &method, code, elapsed);
                    tracing::debug!(code, elapsed_us = elapsed.as_micros() as u64, "call");
                }
                result
            }
            .instrument(span),
        )
    }
}

// ---------------------------------------------------------------------------------------------

/// Answers INTERNAL for a call whose handler panics.
#[derive(Clone, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

/// See [`CatchPanicLayer`].
#[derive(Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

pin_project_lite::pin_project! {
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| this.inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

fn panicked<B: Default>() -> http::Response<B> {
    tracing::error!("a handler panicked; answering INTERNAL");
    reply(Status::internal("internal error"))
}

impl<S, B, RB> Service<http::Request<B>> for CatchPanic<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let mut inner = take(&mut self.inner);
        let fut = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.call(req))) {
            Ok(fut) => fut,
            Err(_) => return Box::pin(std::future::ready(Ok(panicked()))),
        };
        Box::pin(async move {
            match (CatchUnwind { inner: fut }).await {
                Ok(result) => result,
                Err(()) => Ok(panicked()),
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Bounds each call by the server's request timeout and the client's `grpc-timeout`.
#[derive(Clone)]
pub struct DeadlineLayer {
    limit: Duration,
}

impl DeadlineLayer {
    /// Calls fail with DEADLINE_EXCEEDED after `limit` at most.
    pub fn new(limit: Duration) -> Self {
        DeadlineLayer { limit }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            limit: self.limit,
        }
    }
}

/// See [`DeadlineLayer`].
#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
}

/// Parses a `grpc-timeout` header value: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl<S, B, RB> Service<http::Request<B>> for Deadline<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let client = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        let limit = client.map_or(self.limit, |c| c.min(self.limit));
        let fut = take(&mut self.inner).call(req);
        Box::pin(async move {
            match tokio::time::timeout(limit, fut).await {
                Ok(result) => result,
                Err(_) => Ok(reply(Status::deadline_exceeded(format!(
                    "call exceeded its deadline of {} ms",
                    limit.as_millis()
                )))),
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// What [`AdmissionLayer`] bounds.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    /// Calls served at once.
    pub concurrency: usize,
    /// Longest wait for a request's message once its headers arrived.
    pub body_timeout: Duration,
    /// Largest request message.
    pub max_message_bytes: usize,
    /// Bytes of request messages being received at once, over all calls.
    pub max_bytes_in_flight: usize,
    /// Longest an answer may take to be handed on once its handler returned: past it, the
    /// connection that does not read it is closed (and the call's slot comes back).
    pub answer_timeout: Duration,
}

/// Admits a call only once its whole request message has arrived (within the body timeout, at
/// most the message limit, within a budget of request bytes over all calls), then takes one of
/// the concurrency slots, which it holds until the answer is sent or the stream is reset. When no
/// slot is free the call is refused at once with RESOURCE_EXHAUSTED (load shedding). A stream
/// whose message never arrives, or a client that never reads its answers, cannot hold more than
/// the limits let it; what holds a slot is a call the server is actually working on or answering.
#[derive(Clone)]
pub struct AdmissionLayer {
    slots: Arc<Semaphore>,
    unsent: Unsent,
    /// Request bytes being received, in KiB.
    budget: Arc<Semaphore>,
    limits: AdmissionLimits,
    shed: Arc<crate::server::Counter>,
}

impl AdmissionLayer {
    /// Admission within `limits`.
    pub fn new(limits: AdmissionLimits) -> Self {
        AdmissionLayer {
            slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            unsent: Unsent::start(limits.answer_timeout),
            budget: Arc::new(Semaphore::new(
                (limits.max_bytes_in_flight / 1024).clamp(1, Semaphore::MAX_PERMITS),
            )),
            limits,
            shed: Arc::default(),
        }
    }

    /// Calls being served or answered now.
    pub fn in_flight(&self) -> usize {
        self.limits.concurrency.max(1) - self.slots.available_permits()
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Admission {
            inner,
            admission: self.clone(),
        }
    }
}

/// See [`AdmissionLayer`].
#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    admission: AdmissionLayer,
}

type Body = tonic::body::Body;

/// Why a request's message was not admitted.
enum Refused {
    Late,
    TooLarge(usize),
    Busy,
    Broken(String),
}

impl Refused {
    fn status(self, limits: &AdmissionLimits) -> Status {
        match self {
            Refused::Late => Status::deadline_exceeded(format!(
                "the request message did not arrive within {} ms",
                limits.body_timeout.as_millis()
            )),
            Refused::TooLarge(n) => Problem::ResourceExhausted(format!(
                "the request message of {n} bytes is larger than the limit of {} bytes",
                limits.max_message_bytes
            ))
            .into_status(),
            Refused::Busy => {
                Problem::ResourceExhausted("server is at capacity, retry with backoff".into())
                    .into_status()
            }
            Refused::Broken(why) => Status::cancelled(format!("the request stream broke: {why}")),
        }
    }
}

/// Reads a request's whole body, bounded. Returns it with the budget it takes.
async fn receive(
    mut body: Body,
    limits: AdmissionLimits,
    budget: Arc<Semaphore>,
) -> Result<
    (
        prost::bytes::Bytes,
        Option<tokio::sync::OwnedSemaphorePermit>,
    ),
    Refused,
> {
    use http_body_util::BodyExt;
    use prost::bytes::BufMut;
    // The gRPC frame: 1 flag byte, a 4-byte length, the message.
    let most = limits.max_message_bytes.saturating_add(5);
    // A message that arrives in one piece (most do) is kept as it came, without a copy.
    let mut whole: Option<prost::bytes::Bytes> = None;
    let mut buf = prost::bytes::BytesMut::new();
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Refused::Broken(e.message().to_owned()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let received = buf.len() + whole.as_ref().map_or(0, |w| w.len());
            if received + data.len() > most {
                return Err(Refused::TooLarge(received + data.len() - 5));
            }
            let kib = u32::try_from((received + data.len()).div_ceil(1024))
                .unwrap_or(u32::MAX)
                .saturating_sub(held.as_ref().map_or(0, |p| p.num_permits() as u32));
            if kib > 0 {
                let more = budget
                    .clone()
                    .try_acquire_many_owned(kib)
                    .map_err(|_| Refused::Busy)?;
                match held.as_mut() {
                    Some(h) => h.merge(more),
                    None => held = Some(more),
                }
            }
            if received == 0 {
                whole = Some(data);
            } else {
                if let Some(first) = whole.take() {
                    buf.put(first);
                }
                buf.put(data);
            }
            // The declared length is known after 5 bytes: refuse a message that will not fit
            // before receiving it.
            let head = whole.as_deref().unwrap_or(&buf[..]);
            if head.len() >= 5 {
                let declared = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                if declared > limits.max_message_bytes {
                    return Err(Refused::TooLarge(declared));
                }
            }
        }
        Ok(())
    };
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(Ok(())) => Ok((whole.unwrap_or_else(|| buf.freeze()), held)),
        Ok(Err(refused)) => Err(refused),
        Err(_) => Err(Refused::Late),
    }
}

/// Most bytes of an answer handed to the HTTP/2 layer at once. The layer takes the next piece
/// only once it has room for it (its send buffer is bounded per stream), so the answer of a
/// client that does not read stays here, counted by its slot, instead of piling up below.
const ANSWER_PIECE: usize = 64 * 1024;

/// An answer not handed on yet, watched by [`Unsent`]: the slot it holds and the connection to
/// close should it stay unsent past its deadline.
struct Pending {
    _slot: tokio::sync::OwnedSemaphorePermit,
    conn: Option<crate::server::ConnInfo>,
}

/// Answers whose clients do not read them: each answer is registered when its handler returns,
/// in deadline order (every answer has the same timeout), and a task closes the connection of
/// any still unsent at its deadline. An answer handed on drops its entry's only strong handle;
/// the task drops such entries from the front every 200 ms.
#[derive(Clone)]
struct Unsent {
    queue: Arc<std::sync::Mutex<Deadlines>>,
    timeout: Duration,
}

/// Unsent answers by deadline, earliest first.
type Deadlines = std::collections::VecDeque<(Instant, std::sync::Weak<Pending>)>;

impl Unsent {
    fn start(timeout: Duration) -> Unsent {
        let unsent = Unsent {
            queue: Arc::default(),
            timeout,
        };
        let queue = Arc::downgrade(&unsent.queue);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(queue) = queue.upgrade() else {
                    return;
                };
                let now = Instant::now();
                let expired: Vec<Arc<Pending>> = {
                    let mut q = queue
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let mut expired = Vec::new();
                    // Answers handed on leave dead entries: those at the front go at once, so
                    // the queue stays short unless an answer really is stuck.
                    while let Some((deadline, pending)) = q.front() {
                        match pending.upgrade() {
                            None => {}
                            Some(pending) if *deadline <= now => expired.push(pending),
                            Some(_) => break,
                        }
                        q.pop_front();
                    }
                    expired
                };
                for pending in expired {
                    if let Some(conn) = &pending.conn {
                        conn.close("an answer was not read within its deadline");
                    }
                }
            }
        });
        unsent
    }

    fn watch(&self, pending: &Arc<Pending>) {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back((Instant::now() + self.timeout, Arc::downgrade(pending)));
    }
}

pin_project_lite::pin_project! {
    /// An answer's body that holds the call's slot until it is sent or dropped, handing its
    /// data on in pieces of at most [`ANSWER_PIECE`] bytes.
    struct Holding {
        #[pin]
        inner: Body,
        rest: prost::bytes::Bytes,
        slot: Option<Arc<Pending>>,
    }
}

impl http_body::Body for Holding {
    type Data = prost::bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if !this.rest.is_empty() {
            let n = this.rest.len().min(ANSWER_PIECE);
            let piece = this.rest.split_to(n);
            return Poll::Ready(Some(Ok(http_body::Frame::data(piece))));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    if data.len() > ANSWER_PIECE {
                        *this.rest = data.split_off(ANSWER_PIECE);
                    }
                    Poll::Ready(Some(Ok(http_body::Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            Poll::Ready(None) => {
                this.slot.take();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }
}

impl<S> Service<http::Request<Body>> for Admission<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let mut inner = take(&mut self.inner);
        if is_open_path(req.uri().path()) {
            return Box::pin(inner.call(req));
        }
        let admission = self.admission.clone();
        Box::pin(async move {
            let limits = admission.limits;
            let conn = req.extensions().get::<crate::server::ConnInfo>().cloned();
            let (parts, body) = req.into_parts();
            let (bytes, budget) = match receive(body, limits, admission.budget.clone()).await {
                Ok(received) => received,
                Err(refused) => {
                    if let Refused::Busy = refused {
                        admission
                            .shed
                            .count("shedding calls: request bytes in flight at their limit");
                    }
                    return Ok(reply(refused.status(&limits)));
                }
            };
            let Ok(slot) = admission.slots.clone().try_acquire_owned() else {
                admission
                    .shed
                    .count("shedding calls: server.concurrency_limit reached");
                return Ok(reply(Refused::Busy.status(&limits)));
            };
            let req = http::Request::from_parts(parts, Body::new(http_body_util::Full::new(bytes)));
            let response = inner.call(req).await?;
            drop(budget);
            let pending = Arc::new(Pending { _slot: slot, conn });
            admission.unsent.watch(&pending);
            Ok(response.map(|inner| {
                Body::new(Holding {
                    inner,
                    rest: prost::bytes::Bytes::new(),
                    slot: Some(pending),
                })
            }))
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Verifies the bearer token and attaches the caller's principal.
#[derive(Clone)]
pub struct AuthLayer {
    auth: Authenticator,
}

impl AuthLayer {
    /// Verifies tokens with `auth`.
    pub fn new(auth: Authenticator) -> Self {
        AuthLayer { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    auth: Authenticator,
}

impl<S, B, RB> Service<http::Request<B>> for Auth<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if is_open_path(req.uri().path()) {
            return Box::pin(take(&mut self.inner).call(req));
        }
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self.auth.verify_header(header) {
            // A caller with no role this suite knows may call nothing: refused before it can
            // hold anything.
            Ok(principal) if principal.roles.is_empty() => Box::pin(std::future::ready(Ok(reply(
                Problem::PermissionDenied(format!(
                    "{} holds no closeloop role; every method needs one",
                    principal.subject
                ))
                .into_status(),
            )))),
            Ok(principal) => {
                tracing::Span::current().record("enduser.id", principal.subject.as_str());
                // An authenticated call: the connection is in use and proven.
                if let Some(conn) = req.extensions().get::<crate::server::ConnInfo>() {
                    conn.touch();
                }
                if let Some(method) = crate::rpc::Method::from_path(req.uri().path()) {
                    req.extensions_mut().insert(method);
                }
                req.extensions_mut().insert(principal);
                Box::pin(take(&mut self.inner).call(req))
            }
            Err(err) => Box::pin(std::future::ready(Ok(reply(
                Problem::from(err).into_status(),
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    type Response = http::Response<tonic::body::Body>;

    fn request(path: &str) -> http::Request<()> {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    fn status(response: &Response) -> &str {
        response.headers()["grpc-status"].to_str().unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_and_the_service_goes_on() {
        let svc = tower::service_fn(|req: http::Request<()>| async move {
            if req.uri().path() == "/x.Y/Panic" {
                panic!("a bug");
            }
            Ok::<Response, Infallible>(http::Response::new(tonic::body::Body::default()))
        });
        let mut svc = CatchPanicLayer.layer(svc);
        let response = svc.call(request("/x.Y/Panic")).await.unwrap();
        assert_eq!(status(&response), "13");
        let response = svc.call(request("/x.Y/Fine")).await.unwrap();
        assert!(response.headers().get("grpc-status").is_none());
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_answers_deadline_exceeded() {
        let never = tower::service_fn(|_: http::Request<()>| async {
            std::future::pending::<Result<Response, Infallible>>().await
        });
        let mut svc = DeadlineLayer::new(Duration::from_millis(20)).layer(never);
        let response = svc.call(request("/x.Y/Z")).await.unwrap();
        assert_eq!(status(&response), "4");

        // The client's shorter grpc-timeout wins over the server's limit.
        let never = tower::service_fn(|_: http::Request<()>| async {
            std::future::pending::<Result<Response, Infallible>>().await
        });
        let mut svc = DeadlineLayer::new(Duration::from_secs(3600)).layer(never);
        let mut req = request("/x.Y/Z");
        req.headers_mut()
            .insert("grpc-timeout", "10m".parse().unwrap());
        let started = Instant::now();
        let response = svc.call(req).await.unwrap();
        assert_eq!(status(&response), "4");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    fn limits(concurrency: usize) -> AdmissionLimits {
        AdmissionLimits {
            concurrency,
            body_timeout: Duration::from_millis(200),
            max_message_bytes: 64,
            max_bytes_in_flight: 1 << 20,
            answer_timeout: Duration::from_secs(10),
        }
    }

    /// A request carrying one gRPC frame of `len` bytes.
    fn call(path: &str, len: usize) -> http::Request<Body> {
        let mut frame = vec![0, 0, 0, 0, 0];
        frame[1..5].copy_from_slice(&(len as u32).to_be_bytes());
        frame.extend(std::iter::repeat_n(7u8, len));
        http::Request::builder()
            .uri(path)
            .body(Body::new(http_body_util::Full::new(
                prost::bytes::Bytes::from(frame),
            )))
            .unwrap()
    }

    #[tokio::test]
    async fn calls_beyond_the_limit_are_shed_but_health_is_not() {
        let release = Arc::new(tokio::sync::Notify::new());
        let held = release.clone();
        let hold = tower::service_fn(move |_: http::Request<Body>| {
            let held = held.clone();
            async move {
                held.notified().await;
                let answer = http_body_util::Full::new(prost::bytes::Bytes::from_static(b"x"));
                Ok::<Response, Infallible>(http::Response::new(Body::new(answer)))
            }
        });
        let layer = AdmissionLayer::new(limits(1));
        let mut svc = layer.layer(hold);
        let first = tokio::spawn(svc.call(call("/x.Y/Z", 3)));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(layer.in_flight(), 1);
        let shed = svc.call(call("/x.Y/Z", 3)).await.unwrap();
        assert_eq!(
            status(&shed),
            "8",
            "RESOURCE_EXHAUSTED while the only slot is taken"
        );
        // Health is not shed: it reaches the (still busy) service and waits there.
        let health = tokio::time::timeout(
            Duration::from_millis(50),
            svc.call(call("/grpc.health.v1.Health/Check", 0)),
        )
        .await;
        assert!(
            health.is_err(),
            "health waited in the service instead of being shed"
        );
        release.notify_waiters();
        let answer = first.await.unwrap().unwrap();
        assert_eq!(
            layer.in_flight(),
            1,
            "the slot is held until the answer is sent"
        );
        drop(answer);
        assert_eq!(layer.in_flight(), 0);
        // The slot is free again.
        let again = tokio::spawn(svc.call(call("/x.Y/Z", 3)));
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.notify_waiters();
        let response = again.await.unwrap().unwrap();
        assert!(response.headers().get("grpc-status").is_none());
    }

    #[tokio::test]
    async fn a_message_over_the_limit_is_resource_exhausted_before_it_is_read() {
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reached.clone();
        let svc = tower::service_fn(move |_: http::Request<Body>| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<Response, Infallible>(http::Response::new(Body::default())) }
        });
        let mut svc = AdmissionLayer::new(limits(4)).layer(svc);
        let answer = svc.call(call("/x.Y/Z", 65)).await.unwrap();
        assert_eq!(status(&answer), "8");
        let answer = svc.call(call("/x.Y/Z", 64)).await.unwrap();
        assert!(answer.headers().get("grpc-status").is_none());
        assert!(reached.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout("-1S"), None);
    }
}
