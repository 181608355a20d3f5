//! The transactional outbox: a command owed to another service is written in the same local
//! transaction as the state change that owes it, and a relay delivers it with backoff until the
//! callee confirms. The callee dedupes by the command's `request_id` (the outbox row id), so a
//! command is applied once however often it is delivered. A callee that is down delays the loop;
//! it never loses a step.
//!
//! Several relay replicas may share a PostgreSQL database: each claims due rows with
//! `FOR UPDATE SKIP LOCKED` and a lease, so a row is in flight at one replica at a time and a
//! replica that dies mid-delivery only delays its rows by the lease.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Row};
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::db::{Backend, Db};
use crate::settings::OutboxSettings;
use crate::time::now_micros;

/// A command waiting for (or in) delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Unique id; also the `request_id` the callee dedupes by.
    pub id: String,
    /// What it is, e.g. `closeloop.contracts.v1.ContractService/CreateContract`.
    pub topic: String,
    /// The encoded request message.
    pub payload: Vec<u8>,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// W3C `traceparent` of the change that owed the command, so delivery joins its trace.
    pub traceparent: Option<String>,
}

/// How a delivery attempt ended.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The callee could not be reached or asked to retry: try again later.
    #[error("retry: {0}")]
    Retry(String),
}

/// Sends commands to their callee.
pub trait Deliver: Send + Sync + 'static {
    /// Delivers one command. `Ok` only once the callee confirmed it applied (or had already
    /// applied) the command.
    fn deliver(&self, command: &Command) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// Writes a command in the caller's transaction. Returns its id.
///
/// # Errors
/// Database errors (the caller's transaction then fails as a whole).
pub async fn enqueue(
    conn: &mut AnyConnection,
    id: &str,
    topic: &str,
    payload: &[u8],
) -> Result<(), sqlx::Error> {
    let now = now_micros();
    let traceparent = current_traceparent();
    sqlx::query(
        "INSERT INTO outbox (id, topic, payload, traceparent, create_time, attempts, \
         next_attempt_time, lease_until) VALUES ($1, $2, $3, $4, $5, 0, $5, 0)",
    )
    .bind(id)
    .bind(topic)
    .bind(payload.to_vec())
    .bind(traceparent)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

fn current_traceparent() -> Option<String> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    crate::telemetry::inject_current(&mut metadata);
    metadata
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What the relay has not delivered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Undelivered commands.
    pub pending: i64,
    /// Age of the oldest undelivered command (the relay lag), zero when none.
    pub lag: Duration,
}

/// Reads the backlog.
///
/// # Errors
/// Database errors.
pub async fn backlog(db: &Db) -> Result<Backlog, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(create_time) AS oldest FROM outbox WHERE deliver_time IS NULL",
    )
    .fetch_one(db.pool())
    .await?;
    let pending: i64 = row.try_get("n")?;
    let oldest: Option<i64> = row.try_get("oldest")?;
    let lag = oldest
        .map(|t| Duration::from_micros((now_micros() - t).max(0) as u64))
        .unwrap_or_default();
    Ok(Backlog { pending, lag })
}

/// Wakes a relay as soon as a command is committed, instead of at its next poll.
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// Signals that new commands may be due.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Delivers due commands until told to stop.
pub struct Relay<D> {
    db: Db,
    deliver: D,
    settings: OutboxSettings,
    waker: Waker,
}

impl<D: Deliver> Relay<D> {
    /// A relay over `db` sending through `deliver`.
    pub fn new(db: Db, deliver: D, settings: OutboxSettings) -> Self {
        Relay {
            db,
            deliver,
            settings,
            waker: Waker::default(),
        }
    }

    /// A handle that wakes this relay.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Runs until `stop` turns true; a batch in flight is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let mut last_lag_report = std::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            let delivered = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %crate::error::Chain(&e), "outbox relay: database error");
                    0
                }
            };
            if last_lag_report.elapsed() >= Duration::from_secs(60) {
                last_lag_report = std::time::Instant::now();
                if let Ok(b) = backlog(&self.db).await
                    && b.pending > 0
                {
                    tracing::info!(
                        pending = b.pending,
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
                _ = stop.changed() => {}
            }
        }
        tracing::debug!("outbox relay stopped");
    }

    /// Claims and delivers one batch of due commands; returns how many were delivered.
    ///
    /// # Errors
    /// Database errors while claiming or recording outcomes.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        let commands = self.claim().await?;
        let mut delivered = 0;
        for command in commands {
            let span = tracing::info_span!(
                "outbox.deliver",
                otel.kind = "producer",
                topic = %command.topic,
                command = %command.id,
                attempt = command.attempts + 1,
            );
            if let Some(tp) = &command.traceparent {
                let mut headers = http::HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(tp) {
                    headers.insert("traceparent", v);
                    crate::telemetry::extract_parent(&headers, &span);
                }
            }
            let outcome = self
                .deliver
                .deliver(&command)
                .instrument(span.clone())
                .await;
            match outcome {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE outbox SET deliver_time = $1, lease_until = 0, attempts = attempts + 1 \
                         WHERE id = $2",
                    )
                    .bind(now_micros())
                    .bind(&command.id)
                    .execute(self.db.writer())
                    .await?;
                    delivered += 1;
                }
                Err(DeliveryError::Retry(reason)) => {
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
                         lease_until = 0, last_error = $2 WHERE id = $3",
                    )
                    .bind(now_micros() + delay.as_micros() as i64)
                    .bind(truncate(&reason, 1000))
                    .bind(&command.id)
                    .execute(self.db.writer())
                    .await?;
                }
            }
        }
        Ok(delivered)
    }

    async fn claim(&self) -> Result<Vec<Command>, sqlx::Error> {
        let now = now_micros();
        let lease_until = now + (self.settings.lease_ms as i64) * 1000;
        // PostgreSQL replicas skip rows another replica holds; SQLite has one writer.
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET lease_until = $1 WHERE id IN (\
               SELECT id FROM outbox WHERE deliver_time IS NULL AND next_attempt_time <= $2 \
               AND lease_until <= $2 ORDER BY next_attempt_time, id LIMIT $3 {lock}) \
             RETURNING id, topic, payload, attempts, traceparent"
        );
        let mut tx = self.db.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(self.settings.batch_size.max(1)))
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
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        commands.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(commands)
    }
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
}
