//! The transport baseline: a tonic server that answers each unary call with its own request,
//! doing no other work. It runs on the same tokio runtime flavour as the services (the one
//! `main` builds) with the same `tonic::transport::Server` options as `closeloop_kit::server`
//! (TCP_NODELAY, HTTP/2 keepalive) and none of the service layers, so what a service loses
//! against it is what its layers, handlers and database cost.

use std::time::Duration;

use anyhow::Context;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// Generated from `src/bench/echo.proto`.
#[allow(clippy::doc_lazy_continuation)]
pub mod pb {
    tonic::include_proto!("closeloop.bench.v1");
}

use pb::EchoMessage;
use pb::echo_server::{Echo, EchoServer};

/// The name health reports the echo service under.
pub const SERVICE: &str = "closeloop.bench.v1.Echo";

struct Echoer;

#[tonic::async_trait]
impl Echo for Echoer {
    async fn echo(&self, request: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

/// Serves the echo service and health on `addr` until SIGTERM or ctrl-c (`closeloop bench
/// --serve-echo`, started by the benchmark).
///
/// # Errors
/// When `addr` cannot be bound or the transport fails.
pub async fn serve(addr: &str) -> anyhow::Result<()> {
    let listener = closeloop_kit::server::bind(addr).await?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<EchoServer<Echoer>>().await;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(health)
        .add_service(EchoServer::new(Echoer))
        .serve_with_incoming_shutdown(incoming, closeloop_kit::server::shutdown_signal())
        .await
        .context("serving echo")
}
