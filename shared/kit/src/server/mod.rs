//! Serving a closeloop service: its gRPC services plus health and reflection, behind the standard
//! layers, on a listener the caller bound (port 0 allowed), until a shutdown future resolves.
//!
//! The same function serves production processes, `closeloop up` and the tests.

mod incoming;

pub use incoming::ConnInfo;

/// The health entry for liveness probes: SERVING from the first call the server takes until it
/// stops, whatever the database does. The overall entry (`""`) and each gRPC service's follow
/// the database and the drain, for readiness; a liveness probe on those would restart a
/// healthy process every time its database is unreachable for a while.
pub const LIVENESS: &str = "liveness";
pub(crate) use incoming::Counter;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::Authenticator;
use crate::db::Db;
use crate::layers::{
    AdmissionLayer, AdmissionLimits, AuthLayer, CatchPanicLayer, DeadlineLayer, TraceLayer,
};
use crate::settings::ServerSettings;

/// How often the database behind a service is probed for the health status.
const HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long a probe waits for the database's answer: a database that accepts connections but
/// does not answer is down, so health turns NOT_SERVING within about three seconds of it
/// hanging.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Failures that stop a server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the listen address failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The reflection service could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds `addr` (e.g. `127.0.0.1:0`).
///
/// # Errors
/// [`ServeError::Bind`] when the address is malformed or taken.
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// What a service hands to [`serve`].
pub struct Service {
    /// The service's gRPC services, already configured (message size limits).
    pub routes: Routes,
    /// Their fully qualified names, e.g. `closeloop.opportunities.v1.OpportunityService`: what
    /// health reports and reflection lists.
    pub names: Vec<&'static str>,
    /// The service's database, probed for health.
    pub db: Db,
    /// The service's telemetry: its calls are its spans and its metrics.
    pub telemetry: crate::telemetry::ServiceTelemetry,
}

/// Serves `service` on `listener` until `shutdown` resolves, then drains: health turns
/// NOT_SERVING, no new connections are accepted, in-flight calls get up to
/// `settings.shutdown_grace_ms` to finish.
///
/// # Errors
/// [`ServeError`] when reflection cannot be built or the transport fails.
pub async fn serve(
    listener: TcpListener,
    service: Service,
    settings: &ServerSettings,
    auth: Authenticator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let local: Option<SocketAddr> = listener.local_addr().ok();
    crate::error::set_limits(
        settings.max_error_violations,
        settings.max_error_details_bytes,
    );
    let (reporter, health_service) = tonic_health::server::health_reporter();

    // Both reflection protocols: v1 for current tools, v1alpha for the clients that still ask
    // only for it (the Python reflection client, older grpcurl, several GUI clients).
    let reflection = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(closeloop_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for name in &service.names {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    let routes = service
        .routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    // Known before the first call is accepted, so a probe never sees an unknown service.
    let initial = db_status(&service.db).await;
    set_all(&reporter, &service.names, initial).await;
    reporter
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;
    let (draining_tx, draining_rx) = watch::channel(false);
    let probe = tokio::spawn(probe_health(
        initial,
        reporter.clone(),
        service.names.clone(),
        service.db.clone(),
        draining_rx,
    ));

    let admission = AdmissionLayer::new(AdmissionLimits {
        concurrency: settings.concurrency_limit,
        body_timeout: Duration::from_millis(settings.request_body_timeout_ms),
        max_message_bytes: settings.max_message_bytes,
        max_bytes_in_flight: settings.max_request_bytes_in_flight,
        answer_timeout: settings.request_timeout(),
    });
    let layers = tower::ServiceBuilder::new()
        // Outermost so every call, even one refused below, is traced in the caller's trace.
        .layer(TraceLayer::new(service.telemetry.clone()))
        // Inside the span, so the panic is logged with the call; outside the rest, so any of
        // them panicking still answers.
        .layer(CatchPanicLayer)
        // Bounds the whole call, including time spent in the layers below.
        .layer(DeadlineLayer::new(settings.request_timeout()))
        // Before admission: a caller without a valid token and a role never holds request
        // bytes or a slot (a verified token is cached, so this costs a lookup).
        .layer(AuthLayer::new(auth))
        // Innermost: a call takes a slot only once its message has arrived, and holds it until
        // its answer is sent; excess load is shed before a handler spends anything on it.
        .layer(admission.clone())
        .into_inner();

    let names = service.names.clone();
    let (closing_tx, closing_rx) = watch::channel(false);
    let signal = {
        let reporter = reporter.clone();
        let drain_delay = Duration::from_millis(settings.drain_delay_ms);
        async move {
            shutdown.await;
            // NOT_SERVING first, while calls are still accepted, so load balancers take the
            // process out of rotation before its listener closes.
            let _ = draining_tx.send(true);
            set_all(&reporter, &names, ServingStatus::NotServing).await;
            tracing::info!(
                drain_delay_ms = drain_delay.as_millis() as u64,
                "draining: health is NOT_SERVING; closing the listener after the drain delay"
            );
            tokio::time::sleep(drain_delay).await;
            let _ = closing_tx.send(true);
            tracing::info!("draining: refusing new connections, finishing in-flight calls");
        }
    };
    let (drain_started_tx, drain_started_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        signal.await;
        let _ = drain_started_tx.send(());
    };

    if let Some(addr) = local {
        tracing::info!(%addr, services = ?service.names, "serving");
    }
    let incoming = incoming::accept(
        listener,
        incoming::Limits {
            max_connections: settings.max_connections,
            handshake_timeout: Duration::from_millis(settings.handshake_timeout_ms),
            idle_timeout: Duration::from_millis(settings.idle_timeout_ms),
        },
        closing_rx,
    );
    let server = tonic::transport::Server::builder()
        // Dead peers are found by keep-alive PINGs; a peer that does not answer one in 20 s
        // loses its connection.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        // Bounds what one connection can open and send: streams at once (tonic advertises no
        // limit unless told), header size, and streams reset before they are served (the
        // "rapid reset" attack).
        .max_concurrent_streams(settings.max_concurrent_streams)
        .http2_max_header_list_size(settings.max_header_list_bytes)
        .http2_max_pending_accept_reset_streams(Some(64))
        .http2_max_local_error_reset_streams(Some(256))
        .layer(layers)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(server);

    let grace = Duration::from_millis(settings.shutdown_grace_ms);
    let result = tokio::select! {
        result = &mut server => result.map_err(ServeError::from),
        () = async {
            if drain_started_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            let in_flight = admission.in_flight();
            if in_flight > 0 {
                tracing::warn!(grace_ms = settings.shutdown_grace_ms, in_flight, "calls did not finish in the grace period; stopping anyway");
            } else {
                tracing::info!(grace_ms = settings.shutdown_grace_ms, "connections still open after the grace period (no call in flight); closing them");
            }
            Ok(())
        }
    };
    probe.abort();
    result
}

async fn set_all(reporter: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
}

/// Keeps the health status in line with the database: NOT_SERVING while it does not answer,
/// and for good once draining starts.
async fn probe_health(
    initial: ServingStatus,
    reporter: HealthReporter,
    names: Vec<&'static str>,
    db: Db,
    mut draining: watch::Receiver<bool>,
) {
    let mut last = initial;
    loop {
        tokio::select! {
            () = tokio::time::sleep(HEALTH_PROBE_INTERVAL) => {}
            _ = draining.changed() => {}
        }
        if *draining.borrow() {
            return;
        }
        let status = db_status(&db).await;
        if *draining.borrow() {
            return;
        }
        if last != status {
            if status == ServingStatus::NotServing {
                tracing::warn!("database unreachable: health is NOT_SERVING");
            } else {
                tracing::info!("database reachable again: health is SERVING");
            }
            set_all(&reporter, &names, status).await;
            last = status;
        }
    }
}

async fn db_status(db: &Db) -> ServingStatus {
    if db.ping(HEALTH_PROBE_TIMEOUT).await {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// A future that resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
