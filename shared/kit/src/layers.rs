//! The tower layers every closeloop server runs, outermost first:
//!
//! 1. [`TraceLayer`]: every call, even a refused one, is a span that continues the caller's trace.
//! 2. [`CatchPanicLayer`]: a bug that panics answers INTERNAL for that call, logged in its span,
//!    instead of resetting the stream; the server goes on serving.
//! 3. [`DeadlineLayer`]: no call outlives the server's limit or the client's `grpc-timeout`,
//!    whichever is shorter; it fails with DEADLINE_EXCEEDED.
//! 4. [`AdmissionLayer`]: at most N calls run at once; the next one is refused at once with
//!    RESOURCE_EXHAUSTED (load shedding), before anything is spent on it.
//! 5. [`AuthLayer`]: only calls with a valid bearer token reach a handler, which finds the
//!    [`Principal`](crate::auth::Principal) in the request extensions.
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

/// Opens a server span per call, parented on the caller's `traceparent`.
#[derive(Clone, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Trace { inner }
    }
}

/// See [`TraceLayer`].
#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
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
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        let span = tracing::info_span!(
            "grpc",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
        );
        crate::telemetry::extract_parent(req.headers(), &span);
        let mut inner = take(&mut self.inner);
        Box::pin(
            async move {
                let started = Instant::now();
                let result = inner.call(req).await;
                if let Ok(response) = &result {
                    // Errors answered before any message ("trailers-only") carry grpc-status in
                    // the headers; a call that streamed a message succeeded.
                    let code = response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .unwrap_or(0);
                    let span = tracing::Span::current();
                    span.record("rpc.grpc.status_code", code);
                    if code != 0 {
                        span.record("otel.status_code", "ERROR");
                    }
                    tracing::debug!(
                        code,
                        elapsed_us = started.elapsed().as_micros() as u64,
                        "call"
                    );
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

/// Limits concurrent calls and sheds the excess with RESOURCE_EXHAUSTED.
#[derive(Clone)]
pub struct AdmissionLayer {
    slots: Arc<Semaphore>,
}

impl AdmissionLayer {
    /// At most `limit` calls at once.
    pub fn new(limit: usize) -> Self {
        AdmissionLayer {
            slots: Arc::new(Semaphore::new(limit.max(1))),
        }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Admission {
            inner,
            slots: self.slots.clone(),
        }
    }
}

/// See [`AdmissionLayer`].
#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    slots: Arc<Semaphore>,
}

impl<S, B, RB> Service<http::Request<B>> for Admission<S>
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
        if is_open_path(req.uri().path()) {
            return Box::pin(take(&mut self.inner).call(req));
        }
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let fut = take(&mut self.inner).call(req);
                Box::pin(async move {
                    let result = fut.await;
                    drop(permit);
                    result
                })
            }
            Err(_) => {
                tracing::warn!("shedding a call: concurrency limit reached");
                Box::pin(std::future::ready(Ok(reply(
                    Problem::ResourceExhausted("server is at capacity, retry with backoff".into())
                        .into_status(),
                ))))
            }
        }
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
            Ok(principal) => {
                tracing::Span::current().record("enduser.id", principal.subject.as_str());
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

    #[tokio::test]
    async fn calls_beyond_the_limit_are_shed_but_health_is_not() {
        let release = Arc::new(tokio::sync::Notify::new());
        let held = release.clone();
        let hold = tower::service_fn(move |_: http::Request<()>| {
            let held = held.clone();
            async move {
                held.notified().await;
                Ok::<Response, Infallible>(http::Response::new(tonic::body::Body::default()))
            }
        });
        let layer = AdmissionLayer::new(1);
        let mut svc = layer.layer(hold);
        let first = tokio::spawn(svc.call(request("/x.Y/Z")));
        tokio::task::yield_now().await;
        let shed = svc.call(request("/x.Y/Z")).await.unwrap();
        assert_eq!(
            status(&shed),
            "8",
            "RESOURCE_EXHAUSTED while the only slot is taken"
        );
        // Health is not shed: it reaches the (still busy) service and waits there.
        let health = tokio::time::timeout(
            Duration::from_millis(50),
            svc.call(request("/grpc.health.v1.Health/Check")),
        )
        .await;
        assert!(
            health.is_err(),
            "health waited in the service instead of being shed"
        );
        release.notify_waiters();
        first.await.unwrap().unwrap();
        // The slot is free again.
        let again = tokio::spawn(svc.call(request("/x.Y/Z")));
        tokio::task::yield_now().await;
        release.notify_waiters();
        let response = again.await.unwrap().unwrap();
        assert!(response.headers().get("grpc-status").is_none());
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
