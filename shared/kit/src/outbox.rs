//! The transactional outbox: a call owed to another service is written in the same local
//! transaction as the state change that owes it, and a relay makes the call with backoff until the
//! callee confirms. The callee dedupes by the request's `request_id` (the command's id), so a
//! command is applied once however often it is delivered. A callee that is down delays the loop;
//! it never loses a step.
//!
//! Each command has a destination, the peer that serves its method. There is one relay per
//! configured peer, so a peer that is down or not configured holds only its own commands. A
//! command the peer refuses for good (the request as it is will never be accepted: see
//! [`crate::client::is_retryable`]) is parked with the peer's answer instead of being retried
//! forever; [`parked`] lists those for an operator and [`retry`] puts them back in line after a
//! fix.
//!
//! Several relay replicas may share a PostgreSQL database: each claims due rows with
//! `FOR UPDATE SKIP LOCKED` and a lease, so a row is in flight at one replica at a time and a
//! replica that dies mid-delivery only delays its rows by the lease.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Meter};
use sqlx::{AnyConnection, Row};
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::client::{PeerChannel, ServiceCredentials, call_encoded, is_retryable};
use crate::db::Db;
use crate::error::Problem;
use crate::settings::OutboxSettings;
use crate::telemetry::ServiceTelemetry;
use crate::time::now_micros;

/// A peer this service calls, and the gRPC services it serves there.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// Its name in settings (`peers.<name>`), e.g. `contracts`.
    pub name: &'static str,
    /// Fully qualified gRPC services it serves, e.g. `closeloop.contracts.v1.ContractService`.
    pub services: &'static [&'static str],
}

impl Peer {
    /// Whether `method` (`package.Service/Method`) is served by this peer.
    fn serves(&self, method: &str) -> bool {
        method
            .rsplit_once('/')
            .is_some_and(|(service, _)| self.services.contains(&service))
    }
}

/// A call owed to a peer: its method and encoded request, whose `request_id` is the command's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    /// Unique id; also the `request_id` the callee dedupes by.
    pub id: String,
    /// `package.Service/Method`, e.g. `closeloop.contracts.v1.ContractService/CreateContract`.
    pub method: &'static str,
    /// The encoded request.
    pub payload: Vec<u8>,
}

impl Owed {
    /// A call of `method` with the request `build` makes from the command's id, which it must
    /// put in the request's `request_id`.
    pub fn call<M: prost::Message>(method: &'static str, build: impl FnOnce(&str) -> M) -> Owed {
        Owed::call_with_id(uuid::Uuid::now_v7().to_string(), method, build)
    }

    /// Like [`Owed::call`], with an id the caller derives from what owes the call (e.g.
    /// `open-account-{handoff}`), so that one resource owes at most one such call: writing it a
    /// second time fails on the outbox's primary key, in the transaction that tried.
    pub fn call_with_id<M: prost::Message>(
        id: String,
        method: &'static str,
        build: impl FnOnce(&str) -> M,
    ) -> Owed {
        let payload = build(&id).encode_to_vec();
        Owed {
            id,
            method,
            payload,
        }
    }
}

/// A command waiting for (or in) delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Unique id; also the `request_id` the callee dedupes by.
    pub id: String,
    /// `package.Service/Method`.
    pub topic: String,
    /// The encoded request.
    pub payload: Vec<u8>,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// W3C `traceparent` of the change that owed the command, so delivery joins its trace.
    pub traceparent: Option<String>,
    /// The lease this relay holds on it (a token: every claim and renewal writes a new one).
    pub lease_until: i64,
}

/// Why a delivery attempt did not confirm the command.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The callee could not be reached, or asked to retry: try again later.
    #[error("retry: {0}")]
    Retry(String),
    /// The callee refused the command for good: park it with this answer.
    #[error("refused with {code}: {message}")]
    Refused {
        /// The status code's name, e.g. `INVALID_ARGUMENT`.
        code: String,
        /// What the callee said.
        message: String,
    },
}

impl DeliveryError {
    /// The outcome of a failed call to a peer.
    pub fn of(status: &tonic::Status) -> DeliveryError {
        if is_retryable(status) {
            DeliveryError::Retry(format!("{:?}: {}", status.code(), status.message()))
        } else {
            DeliveryError::Refused {
                code: code_name(status.code()).to_owned(),
                message: status.message().to_owned(),
            }
        }
    }
}

/// The canonical name of a status code, as gRPC documents it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Sends commands to one peer.
pub trait Deliver: Send + Sync + 'static {
    /// Delivers one command. `Ok` only once the callee confirmed it applied (or had already
    /// applied) the command, with the callee's encoded answer when it gave one (not for
    /// ALREADY_EXISTS).
    fn deliver(
        &self,
        command: &Command,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, DeliveryError>> + Send;
}

/// Delivers commands as unary gRPC calls of their method with their encoded request.
pub struct GrpcDelivery {
    channel: PeerChannel,
    credentials: ServiceCredentials,
    timeout: Duration,
}

impl GrpcDelivery {
    /// Calls over `channel` as `credentials`, each call within `timeout`.
    pub fn new(channel: PeerChannel, credentials: ServiceCredentials, timeout: Duration) -> Self {
        GrpcDelivery {
            channel,
            credentials,
            timeout,
        }
    }
}

impl Deliver for GrpcDelivery {
    async fn deliver(&self, command: &Command) -> Result<Option<Vec<u8>>, DeliveryError> {
        match call_encoded(
            self.channel.clone(),
            &self.credentials,
            &command.topic,
            command.payload.clone(),
            self.timeout,
        )
        .await
        {
            Ok(answer) => Ok(Some(answer)),
            // The resource exists already: an earlier delivery applied the command.
            Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(None),
            Err(status) => Err(DeliveryError::of(&status)),
        }
    }
}

/// Where a service writes the calls it owes, and the wake-up of its relays.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    peers: Arc<[Peer]>,
    wakers: Arc<std::sync::Mutex<Vec<Waker>>>,
}

impl Outbox {
    /// The outbox of a service that calls `peers`.
    pub fn new(peers: &[Peer]) -> Outbox {
        Outbox {
            peers: peers.into(),
            wakers: Arc::default(),
        }
    }

    /// Writes `owed` in the caller's transaction, addressed to the peer that serves its method.
    ///
    /// # Errors
    /// INTERNAL when no declared peer serves the method (a wiring bug); database errors (the
    /// caller's transaction then fails as a whole).
    pub async fn enqueue(&self, conn: &mut AnyConnection, owed: &Owed) -> Result<(), Problem> {
        let peer = self
            .peers
            .iter()
            .find(|p| p.serves(owed.method))
            .ok_or_else(|| {
                Problem::internal(format!(
                    "no declared peer serves {}; add it to the service's peers",
                    owed.method
                ))
            })?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO outbox (id, topic, destination, payload, traceparent, create_time, \
             attempts, next_attempt_time, lease_until) VALUES ($1, $2, $3, $4, $5, $6, 0, $6, 0)",
        )
        .bind(&owed.id)
        .bind(owed.method)
        .bind(peer.name)
        .bind(owed.payload.clone())
        .bind(current_traceparent())
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Wakes the relays at once (call after the commit that wrote commands), instead of at their
    /// next poll.
    pub fn wake(&self) {
        for waker in self
            .wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            waker.wake();
        }
    }

    /// Registers a relay's waker.
    pub fn attach(&self, waker: Waker) {
        self.wakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(waker);
    }
}

fn current_traceparent() -> Option<String> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    crate::telemetry::inject_current(&mut metadata);
    metadata
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What the relays have not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Commands waiting for delivery (not parked).
    pub pending: i64,
    /// Commands parked after a refusal, waiting for an operator.
    pub parked: i64,
    /// Age of the oldest command waiting for delivery (the relay lag), zero when none.
    pub lag: Duration,
}

/// Reads the backlog, over every destination or one (`Some("")`: commands written without one).
///
/// # Errors
/// Database errors.
pub async fn backlog(db: &Db, destination: Option<&str>) -> Result<Backlog, Problem> {
    let row = sqlx::query(
        "SELECT COUNT(*) FILTER (WHERE park_time IS NULL) AS pending, \
         COUNT(*) FILTER (WHERE park_time IS NOT NULL) AS parked, \
         MIN(create_time) FILTER (WHERE park_time IS NULL) AS oldest \
         FROM outbox WHERE deliver_time IS NULL AND ($2 = 0 OR destination = $1)",
    )
    .bind(destination.unwrap_or(""))
    .bind(i64::from(destination.is_some()))
    .fetch_one(db.reads())
    .await?;
    let oldest: Option<i64> = row.try_get("oldest")?;
    Ok(Backlog {
        pending: row.try_get("pending")?,
        parked: row.try_get("parked")?,
        lag: oldest
            .map(|t| Duration::from_micros((now_micros() - t).max(0) as u64))
            .unwrap_or_default(),
    })
}

/// The backlog of each topic owed to `destination` that has undelivered commands.
///
/// # Errors
/// Database errors.
pub async fn backlog_by_topic(
    db: &Db,
    destination: &str,
) -> Result<Vec<(String, Backlog)>, Problem> {
    let rows = sqlx::query(
        "SELECT topic, COUNT(*) FILTER (WHERE park_time IS NULL) AS pending, \
         COUNT(*) FILTER (WHERE park_time IS NOT NULL) AS parked, \
         MIN(create_time) FILTER (WHERE park_time IS NULL) AS oldest \
         FROM outbox WHERE deliver_time IS NULL AND destination = $1 GROUP BY topic",
    )
    .bind(destination)
    .fetch_all(db.reads())
    .await?;
    let now = now_micros();
    rows.iter()
        .map(|row| {
            let oldest: Option<i64> = row.try_get("oldest")?;
            Ok((
                row.try_get("topic")?,
                Backlog {
                    pending: row.try_get("pending")?,
                    parked: row.try_get("parked")?,
                    lag: oldest
                        .map(|t| Duration::from_micros((now - t).max(0) as u64))
                        .unwrap_or_default(),
                },
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Problem::from)
}

/// A command a peer refused, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    /// The command's id (the request's `request_id`).
    pub id: String,
    /// `package.Service/Method`.
    pub topic: String,
    /// The peer.
    pub destination: String,
    /// Attempts before it was parked.
    pub attempts: i64,
    /// The peer's status code, e.g. `INVALID_ARGUMENT`.
    pub code: String,
    /// The peer's message.
    pub message: String,
    /// When the state change that owed it committed (µs).
    pub create_time: i64,
    /// When it was parked (µs).
    pub park_time: i64,
}

/// Parked commands, oldest first, at most `limit`.
///
/// # Errors
/// Database errors.
pub async fn parked(db: &Db, limit: u32) -> Result<Vec<Parked>, Problem> {
    let rows = sqlx::query(
        "SELECT id, topic, destination, attempts, last_code, last_error, create_time, park_time \
         FROM outbox WHERE deliver_time IS NULL AND park_time IS NOT NULL \
         ORDER BY park_time, id LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(db.reads())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Parked {
                id: r.try_get("id")?,
                topic: r.try_get("topic")?,
                destination: r.try_get("destination")?,
                attempts: r.try_get("attempts")?,
                code: r
                    .try_get::<Option<String>, _>("last_code")?
                    .unwrap_or_default(),
                message: r
                    .try_get::<Option<String>, _>("last_error")?
                    .unwrap_or_default(),
                create_time: r.try_get("create_time")?,
                park_time: r.try_get("park_time")?,
            })
        })
        .collect()
}

/// Where a command owed to a peer stands, as the resource that owes it shows it
/// (closeloop.common.v1.OwedCall).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwedState {
    /// Waiting for (or in) delivery.
    Pending,
    /// The peer confirmed it.
    Delivered,
    /// The peer refused it for good: its code and message.
    Refused {
        /// The peer's status code, e.g. `INVALID_ARGUMENT`.
        code: String,
        /// The peer's message.
        message: String,
    },
}

/// A command's delivery, read from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedStatus {
    /// Where it stands.
    pub state: OwedState,
    /// When it was written (µs); 0 when the outbox no longer holds it.
    pub create_time: i64,
    /// When the state last changed (µs); 0 when unknown.
    pub state_change_time: i64,
    /// The callee's encoded answer, once delivered, when it gave one (not when it answered
    /// that an earlier delivery had applied the command, nor once the outbox no longer holds
    /// the command).
    pub answer: Option<Vec<u8>>,
}

impl OwedStatus {
    /// A command written at `time` in the transaction being committed: what the resource that
    /// owes it shows in the answer of the change that owed it.
    pub fn written(time: i64) -> OwedStatus {
        OwedStatus {
            state: OwedState::Pending,
            create_time: time,
            state_change_time: time,
            answer: None,
        }
    }
}

/// Where the command `id` stands. A delivered command is deleted from the outbox after the
/// retention period (see [`crate::idempotency::RETENTION`]), and only delivered ones are: a
/// command the outbox no longer holds was delivered, at a time no longer known.
///
/// # Errors
/// Database errors.
pub async fn owed_status(db: &Db, id: &str) -> Result<OwedStatus, Problem> {
    let row = sqlx::query(
        "SELECT create_time, deliver_time, park_time, last_code, last_error, answer FROM outbox \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.reads())
    .await?;
    let Some(row) = row else {
        return Ok(OwedStatus {
            state: OwedState::Delivered,
            create_time: 0,
            state_change_time: 0,
            answer: None,
        });
    };
    let create_time: i64 = row.try_get("create_time")?;
    let deliver_time: Option<i64> = row.try_get("deliver_time")?;
    let park_time: Option<i64> = row.try_get("park_time")?;
    Ok(match (deliver_time, park_time) {
        (Some(t), _) => OwedStatus {
            state: OwedState::Delivered,
            create_time,
            state_change_time: t,
            answer: row.try_get("answer")?,
        },
        (None, Some(t)) => OwedStatus {
            state: OwedState::Refused {
                code: row
                    .try_get::<Option<String>, _>("last_code")?
                    .unwrap_or_default(),
                message: row
                    .try_get::<Option<String>, _>("last_error")?
                    .unwrap_or_default(),
            },
            create_time,
            state_change_time: t,
            answer: None,
        },
        (None, None) => OwedStatus {
            state: OwedState::Pending,
            create_time,
            state_change_time: create_time,
            answer: None,
        },
    })
}

/// Puts parked commands back in line for delivery now: the one with `id`, or every parked one.
/// Returns how many.
///
/// # Errors
/// Database errors.
pub async fn retry(db: &Db, id: Option<&str>) -> Result<u64, Problem> {
    let done = sqlx::query(
        "UPDATE outbox SET park_time = NULL, next_attempt_time = $1, lease_until = 0 \
         WHERE deliver_time IS NULL AND park_time IS NOT NULL AND ($2 = '' OR id = $2)",
    )
    .bind(now_micros())
    .bind(id.unwrap_or(""))
    .execute(db.writes())
    .await?;
    Ok(done.rows_affected())
}

/// Wakes one relay as soon as a command is committed, instead of at its next poll.
#[derive(Clone, Debug, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// Signals that new commands may be due.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Delivers one peer's due commands until told to stop.
pub struct Relay<D> {
    db: Db,
    peer: Peer,
    destination: String,
    deliver: D,
    settings: OutboxSettings,
    waker: Waker,
    telemetry: ServiceTelemetry,
    metrics: RelayMetrics,
}

/// The relay's metrics, each by `topic` (the method) and `destination` (the peer).
struct RelayMetrics {
    /// Commands the peer confirmed.
    deliveries: Counter<u64>,
    /// Failed attempts to be made again.
    retries: Counter<u64>,
    /// Commands waiting for delivery (the backlog).
    pending: Gauge<i64>,
    /// Commands refused for good, parked for an operator.
    parked: Gauge<i64>,
    /// Age of the oldest command waiting (the relay's lag).
    oldest_age: Gauge<f64>,
    /// The topics the relay has seen: their gauges read zero once their backlog is gone.
    topics: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl RelayMetrics {
    fn new(meter: &Meter) -> RelayMetrics {
        RelayMetrics {
            deliveries: meter
                .u64_counter("closeloop.outbox.deliveries")
                .with_unit("{command}")
                .with_description("Outbox commands the peer confirmed")
                .build(),
            retries: meter
                .u64_counter("closeloop.outbox.retries")
                .with_unit("{attempt}")
                .with_description("Outbox delivery attempts that failed and will be retried")
                .build(),
            pending: meter
                .i64_gauge("closeloop.outbox.pending")
                .with_unit("{command}")
                .with_description("Outbox commands waiting for delivery")
                .build(),
            parked: meter
                .i64_gauge("closeloop.outbox.parked")
                .with_unit("{command}")
                .with_description(
                    "Outbox commands the peer refused for good, parked for an operator",
                )
                .build(),
            oldest_age: meter
                .f64_gauge("closeloop.outbox.oldest_pending_age")
                .with_unit("s")
                .with_description("Age of the oldest outbox command waiting for delivery")
                .build(),
            topics: std::sync::Mutex::default(),
        }
    }
}

fn topic_attributes(topic: &str, destination: &str) -> [KeyValue; 2] {
    [
        KeyValue::new("topic", topic.to_owned()),
        KeyValue::new("destination", destination.to_owned()),
    ]
}

impl<D: Deliver> Relay<D> {
    /// A relay of the commands owed to `peer`, sending through `deliver`.
    pub fn new(db: Db, peer: Peer, deliver: D, settings: OutboxSettings) -> Self {
        let telemetry = ServiceTelemetry::default();
        Relay {
            db,
            peer,
            destination: peer.name.to_owned(),
            deliver,
            settings,
            waker: Waker::default(),
            metrics: RelayMetrics::new(telemetry.meter()),
            telemetry,
        }
    }

    /// Makes the relay's spans and metrics those of the service `telemetry` belongs to.
    pub fn with_telemetry(mut self, telemetry: ServiceTelemetry) -> Self {
        self.metrics = RelayMetrics::new(telemetry.meter());
        self.telemetry = telemetry;
        self
    }

    /// Records the backlog gauges of every topic, zero for a topic whose backlog is gone.
    async fn record_backlog(&self) {
        match backlog_by_topic(&self.db, &self.destination).await {
            Ok(backlogs) => {
                let mut topics = self
                    .metrics
                    .topics
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut seen = std::collections::BTreeSet::new();
                for (topic, b) in backlogs {
                    let attributes = topic_attributes(&topic, &self.destination);
                    self.metrics.pending.record(b.pending, &attributes);
                    self.metrics.parked.record(b.parked, &attributes);
                    self.metrics
                        .oldest_age
                        .record(b.lag.as_secs_f64(), &attributes);
                    seen.insert(topic);
                }
                for topic in topics.difference(&seen) {
                    let attributes = topic_attributes(topic, &self.destination);
                    self.metrics.pending.record(0, &attributes);
                    self.metrics.parked.record(0, &attributes);
                    self.metrics.oldest_age.record(0.0, &attributes);
                }
                topics.extend(seen);
            }
            Err(e) => {
                tracing::warn!(destination = %self.destination, error = %e, "outbox relay: reading the backlog");
            }
        }
    }

    /// A handle that wakes this relay.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Runs until `stop` turns true; a batch in flight is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if let Err(e) = self.release_dead_leases().await {
            tracing::warn!(destination = %self.destination, error = %e, "outbox relay: releasing the leases of a previous process");
        }
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let mut last_lag_report = std::time::Instant::now();
        // The backlog gauges are read once per metrics export, and only when exported.
        let gauges_every = self.telemetry.metrics_interval();
        let mut gauges_read: Option<std::time::Instant> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            if self.telemetry.metrics_exported()
                && gauges_read.is_none_or(|t| t.elapsed() >= gauges_every)
            {
                gauges_read = Some(std::time::Instant::now());
                self.record_backlog().await;
            }
            let delivered = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(destination = %self.destination, error = %e, "outbox relay: database error");
                    0
                }
            };
            if last_lag_report.elapsed() >= Duration::from_secs(60) {
                last_lag_report = std::time::Instant::now();
                if let Ok(b) = backlog(&self.db, Some(&self.destination)).await
                    && (b.pending > 0 || b.parked > 0)
                {
                    tracing::info!(
                        destination = %self.destination,
                        pending = b.pending,
                        parked = b.parked,
                        lag_ms = b.lag.as_millis() as u64,
                        "outbox backlog"
                    );
                }
            }
            if delivered > 0 {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = self.waker.0.notified() => {}
                changed = stop.changed() => {
                    // The stopping side is gone: nobody will ever say stop, so stop now.
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::debug!(destination = %self.destination, "outbox relay stopped");
    }

    /// Claims and delivers one batch of due commands; returns how many were settled (delivered
    /// or parked).
    ///
    /// # Errors
    /// Database errors while claiming or recording outcomes.
    pub async fn run_once(&self) -> Result<usize, Problem> {
        self.adopt().await?;
        let commands = self.claim().await?;
        let mut settled = 0;
        for command in commands {
            // The batch's lease may have run out while earlier commands were delivered: renew
            // it for this one, or leave it to the replica that took it over.
            let Some(held) = self.renew(&command).await? else {
                continue;
            };
            let span = tracing::info_span!(
                "outbox.deliver",
                otel.kind = "producer",
                topic = %command.topic,
                destination = %self.destination,
                command = %command.id,
                attempt = command.attempts + 1,
            );
            // The delivery joins the trace of the change that wrote the command, as a span of
            // the service that owes it.
            let mut headers = http::HeaderMap::new();
            if let Some(tp) = &command.traceparent
                && let Ok(v) = http::HeaderValue::from_str(tp)
            {
                headers.insert("traceparent", v);
            }
            self.telemetry
                .adopt(&span, crate::telemetry::remote_parent(&headers));
            let attributes = topic_attributes(&command.topic, &self.destination);
            if self.telemetry.metrics_exported() {
                self.metrics
                    .topics
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(command.topic.clone());
            }
            let outcome = self
                .deliver
                .deliver(&command)
                .instrument(span.clone())
                .await;
            let now = now_micros();
            match outcome {
                Ok(answer) => {
                    // The answer is kept with the delivery: the resource that owed the call may
                    // need what the callee created (e.g. the name of an opportunity opened).
                    sqlx::query(
                        "UPDATE outbox SET deliver_time = $1, lease_until = 0, attempts = attempts + 1, \
                         answer = $4 WHERE id = $2 AND lease_until = $3",
                    )
                    .bind(now)
                    .bind(&command.id)
                    .bind(held)
                    .bind(answer)
                    .execute(self.db.writes())
                    .await?;
                    self.metrics.deliveries.add(1, &attributes);
                    settled += 1;
                }
                Err(DeliveryError::Retry(reason)) => {
                    self.metrics.retries.add(1, &attributes);
                    let delay = backoff(&self.settings, command.attempts + 1);
                    span.in_scope(|| {
                        tracing::warn!(
                            %reason,
                            retry_in_ms = delay.as_millis() as u64,
                            "outbox delivery failed; will retry"
                        );
                    });
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_time = $1, \
                         lease_until = 0, last_error = $2 WHERE id = $3 AND lease_until = $4",
                    )
                    .bind(now + delay.as_micros() as i64)
                    .bind(truncate(&reason, 1000))
                    .bind(&command.id)
                    .bind(held)
                    .execute(self.db.writes())
                    .await?;
                }
                Err(DeliveryError::Refused { code, message }) => {
                    span.in_scope(|| {
                        tracing::error!(
                            %code,
                            %message,
                            "the peer refused the command: parked until an operator retries it"
                        );
                    });
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, park_time = $1, lease_until = 0, \
                         last_code = $2, last_error = $3 WHERE id = $4 AND lease_until = $5",
                    )
                    .bind(now)
                    .bind(code)
                    .bind(truncate(&message, 1000))
                    .bind(&command.id)
                    .bind(held)
                    .execute(self.db.writes())
                    .await?;
                    settled += 1;
                }
            }
        }
        Ok(settled)
    }

    /// Takes over the commands of this peer's services that were written without a destination
    /// (by a replica of a build before destinations, during a rolling upgrade).
    async fn adopt(&self) -> Result<(), Problem> {
        for service in self.peer.services {
            sqlx::query(
                "UPDATE outbox SET destination = $1 WHERE destination = '' \
                 AND deliver_time IS NULL AND substr(topic, 1, length($2) + 1) = $2 || '/'",
            )
            .bind(&self.destination)
            .bind(*service)
            .execute(self.db.writes())
            .await?;
        }
        Ok(())
    }

    /// On SQLite, releases the leases on this destination's commands when the relay starts: the
    /// file has one process, so a lease found now was left by a process that died mid-delivery
    /// (killed, out of memory), and its commands would otherwise wait `outbox.lease_ms` (measured
    /// by `closeloop chaos`: the slowest hop after a kill was the lease, 30 s). On PostgreSQL a
    /// lease may be another replica's, alive: it runs out on its own.
    async fn release_dead_leases(&self) -> Result<(), Problem> {
        if self.db.backend() != crate::db::Backend::Sqlite {
            return Ok(());
        }
        let released = sqlx::query(
            "UPDATE outbox SET lease_until = 0 WHERE destination = $1 AND deliver_time IS NULL \
             AND lease_until > 0",
        )
        .bind(&self.destination)
        .execute(self.db.writes())
        .await?;
        if released.rows_affected() > 0 {
            tracing::info!(
                destination = %self.destination,
                commands = released.rows_affected(),
                "outbox relay: released the leases of a process that stopped mid-delivery"
            );
        }
        Ok(())
    }

    /// Extends this relay's lease on `command` for one more delivery; `None` when another
    /// replica holds it now.
    async fn renew(&self, command: &Command) -> Result<Option<i64>, Problem> {
        let held = lease_from(now_micros(), self.settings.lease_ms);
        let done =
            sqlx::query("UPDATE outbox SET lease_until = $1 WHERE id = $2 AND lease_until = $3")
                .bind(held)
                .bind(&command.id)
                .bind(command.lease_until)
                .execute(self.db.writes())
                .await?;
        Ok((done.rows_affected() == 1).then_some(held))
    }

    async fn claim(&self) -> Result<Vec<Command>, Problem> {
        let now = now_micros();
        let lease_until = lease_from(now, self.settings.lease_ms);
        let sql = format!(
            "UPDATE outbox SET lease_until = $1 WHERE id IN (\
               SELECT id FROM outbox WHERE destination = $4 AND deliver_time IS NULL \
               AND park_time IS NULL AND next_attempt_time <= $2 AND lease_until <= $2 \
               ORDER BY next_attempt_time, id LIMIT $3{}) \
             RETURNING id, topic, payload, attempts, traceparent, lease_until",
            self.db.sql().claim_rows()
        );
        let mut tx = self.db.transaction().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(self.settings.batch_size.max(1)))
            .bind(&self.destination)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut commands = rows
            .into_iter()
            .map(|row| {
                Ok(Command {
                    id: row.try_get("id")?,
                    topic: row.try_get("topic")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                    traceparent: row.try_get("traceparent")?,
                    lease_until: row.try_get("lease_until")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        commands.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(commands)
    }
}

/// A lease of `lease_ms` from `now`, unique enough to tell two replicas' claims apart: its last
/// microseconds are random.
fn lease_from(now: i64, lease_ms: u64) -> i64 {
    let mut noise = [0u8; 2];
    let _ = getrandom::fill(&mut noise);
    now + (lease_ms as i64) * 1000 + i64::from(u16::from_le_bytes(noise) % 1000)
}

/// Delay before attempt `attempt + 1`: doubling from the initial backoff, capped.
pub fn backoff(settings: &OutboxSettings, attempt: i64) -> Duration {
    let exp = attempt.clamp(1, 30) as u32 - 1;
    let ms = settings
        .initial_backoff_ms
        .saturating_mul(1u64 << exp.min(20))
        .min(settings.max_backoff_ms);
    Duration::from_millis(ms)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Runs `relay` until `stop` turns true, as a task.
pub fn spawn<D: Deliver>(
    relay: Relay<D>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(relay.run(stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OutboxSettings {
        OutboxSettings {
            poll_interval_ms: 10,
            batch_size: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
            lease_ms: 1000,
            call_timeout_ms: 1000,
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let s = settings();
        assert_eq!(backoff(&s, 1), Duration::from_millis(100));
        assert_eq!(backoff(&s, 2), Duration::from_millis(200));
        assert_eq!(backoff(&s, 4), Duration::from_millis(800));
        assert_eq!(backoff(&s, 5), Duration::from_millis(1000));
        assert_eq!(backoff(&s, 500), Duration::from_millis(1000));
    }

    #[test]
    fn transient_answers_are_retried_and_refusals_parked() {
        use tonic::{Code, Status};
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Aborted,
            Code::Internal,
        ] {
            assert!(
                matches!(
                    DeliveryError::of(&Status::new(code, "x")),
                    DeliveryError::Retry(_)
                ),
                "{code:?}"
            );
        }
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::PermissionDenied,
            Code::NotFound,
            Code::Unimplemented,
        ] {
            assert!(
                matches!(
                    DeliveryError::of(&Status::new(code, "x")),
                    DeliveryError::Refused { .. }
                ),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_peer_serves_the_methods_of_its_services() {
        let peer = Peer {
            name: "contracts",
            services: &["closeloop.contracts.v1.ContractService"],
        };
        assert!(peer.serves("closeloop.contracts.v1.ContractService/CreateContract"));
        assert!(!peer.serves("closeloop.contracts.v1.PaymentService/RecordPayment"));
        assert!(!peer.serves("closeloop.contracts.v1.ContractService"));
    }
}
