//! `request_id` idempotency (AIP-155): a mutating call repeated with the same `request_id` returns
//! the first answer and changes nothing.
//!
//! The answer is stored in the same transaction as the change it reports, so either both exist or
//! neither does. Two identical calls racing each other: the loser's insert hits the primary key,
//! its transaction rolls back, and it returns the winner's stored answer.

use prost::Message;
use sqlx::AnyConnection;

use crate::auth::Principal;
use crate::db::{Db, WriteTx, is_unique_violation};
use crate::error::Problem;

/// Longest accepted `request_id`.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The identity of one mutating request: method, caller and `request_id`, plus a fingerprint of
/// the request body to catch a `request_id` reused for a different request.
#[derive(Debug, Clone)]
pub struct RequestKey {
    key: String,
    fingerprint: i64,
}

impl RequestKey {
    /// The key of a request, or `None` when it carries no `request_id`.
    ///
    /// # Errors
    /// INVALID_ARGUMENT on `request_id` when it is too long or not printable ASCII.
    pub fn new<M: Message>(
        method: &str,
        principal: &Principal,
        request_id: &str,
        request: &M,
    ) -> Result<Option<RequestKey>, Problem> {
        if request_id.is_empty() {
            return Ok(None);
        }
        if request_id.len() > MAX_REQUEST_ID_LEN
            || !request_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Problem::invalid(
                "request_id",
                format!(
                    "must be 1 to {MAX_REQUEST_ID_LEN} printable ASCII characters (a UUID is recommended)"
                ),
            ));
        }
        let bytes = request.encode_to_vec();
        Ok(Some(RequestKey {
            key: format!("{method}\n{}\n{request_id}", principal.subject),
            fingerprint: fnv64(&bytes) as i64,
        }))
    }
}

impl RequestKey {
    /// The stored key (method, caller, request id).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether `other` names the same request body.
    pub fn same_request(&self, other: &RequestKey) -> bool {
        self.fingerprint == other.fingerprint
    }
}

/// The refusal of a `request_id` already used for a different request.
pub fn reused() -> Problem {
    Problem::invalid("request_id", "already used for a different request")
}

fn fnv64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The stored answer for `key`, if the request was already applied.
///
/// # Errors
/// INVALID_ARGUMENT when the `request_id` was used for a different request; database errors.
pub async fn lookup<M: Message + Default>(
    conn: &mut AnyConnection,
    key: &RequestKey,
) -> Result<Option<M>, Problem> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT fingerprint, response FROM idempotency_keys WHERE key = $1")
            .bind(&key.key)
            .fetch_optional(conn)
            .await?;
    match row {
        None => Ok(None),
        Some((fingerprint, _)) if fingerprint != key.fingerprint => Err(reused()),
        Some((_, response)) => M::decode(response.as_slice())
            .map(Some)
            .map_err(Problem::internal),
    }
}

/// What a batch of keys finds: per key already applied, its stored answer, or a refusal when
/// the key was used for a different request.
///
/// # Errors
/// Database errors.
pub async fn stored_answers(
    conn: &mut AnyConnection,
    keys: &[&RequestKey],
) -> Result<std::collections::HashMap<String, Result<Vec<u8>, Problem>>, Problem> {
    let mut found = std::collections::HashMap::new();
    for chunk in keys.chunks(500) {
        let placeholders = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT key, fingerprint, response FROM idempotency_keys WHERE key IN ({placeholders})"
        );
        // One statement per list length: prepared once, not cached on every connection.
        let mut query = sqlx::query_as::<_, (String, i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql))
            .persistent(chunk.len() == 1);
        for k in chunk {
            query = query.bind(k.key.clone());
        }
        for (key, fingerprint, response) in query.fetch_all(&mut *conn).await? {
            // The database answers only keys it was asked for.
            let Some(asked) = chunk.iter().find(|k| k.key == key) else {
                continue;
            };
            let answer = if asked.fingerprint == fingerprint {
                Ok(response)
            } else {
                Err(reused())
            };
            found.insert(key, answer);
        }
    }
    Ok(found)
}

/// Stores the answers of a batch of applied requests, in the caller's transaction.
///
/// # Errors
/// Database errors (a unique violation when a twin request committed first).
pub async fn store_answers(
    conn: &mut AnyConnection,
    answers: &[(&RequestKey, Vec<u8>)],
    now_micros: i64,
) -> Result<(), sqlx::Error> {
    for chunk in answers.chunks(500) {
        let values = (0..chunk.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO idempotency_keys (key, fingerprint, response, create_time) VALUES {values}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == 1);
        for (key, response) in chunk {
            query = query
                .bind(key.key.clone())
                .bind(key.fingerprint)
                .bind(response.clone())
                .bind(now_micros);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// How [`begin`] found a request.
pub enum Begun<'k, M> {
    /// Already applied: the stored answer, to return as is.
    Repeat(M),
    /// New: do the work in [`Work::conn`], then [`Work::commit`] the answer.
    Fresh(Work<'k>),
}

/// A write transaction for one request; dropped without commit, it rolls back.
pub struct Work<'k> {
    db: Db,
    tx: WriteTx,
    key: Option<&'k RequestKey>,
    now_micros: i64,
}

/// Starts a request's write transaction, or finds that it was already applied.
///
/// # Errors
/// INVALID_ARGUMENT when the `request_id` was used for a different request; database errors.
pub async fn begin<'k, M: Message + Default>(
    db: &Db,
    key: Option<&'k RequestKey>,
    now_micros: i64,
) -> Result<Begun<'k, M>, Problem> {
    let mut tx = db.transaction().await?;
    if let Some(key) = key
        && let Some(previous) = lookup::<M>(&mut tx, key).await?
    {
        return Ok(Begun::Repeat(previous));
    }
    Ok(Begun::Fresh(Work {
        db: db.clone(),
        tx,
        key,
        now_micros,
    }))
}

impl Work<'_> {
    /// The transaction to do the work in.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Stores `response` under the request key and commits everything. When a concurrent
    /// twin of the request committed first, this work is rolled back and the twin's answer
    /// returned.
    ///
    /// # Errors
    /// Database errors (nothing is committed then).
    pub async fn commit<M: Message + Default>(mut self, response: M) -> Result<M, Problem> {
        if let Some(key) = self.key {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (key, fingerprint, response, create_time) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&key.key)
            .bind(key.fingerprint)
            .bind(response.encode_to_vec())
            .bind(self.now_micros)
            .execute(&mut *self.tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    self.tx.rollback().await?;
                    let mut conn = self.db.reads().acquire().await?;
                    return lookup::<M>(&mut conn, key)
                        .await?
                        .ok_or_else(|| Problem::Aborted("concurrent duplicate request".into()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.tx.commit().await?;
        Ok(response)
    }
}

/// Deletes stored answers older than `older_than_micros`; returns how many.
///
/// # Errors
/// Database errors.
pub async fn purge(db: &Db, older_than_micros: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE create_time < $1")
        .bind(older_than_micros)
        .execute(db.writes())
        .await?;
    Ok(done.rows_affected())
}

/// How long stored answers (and delivered outbox commands) are kept.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Every hour, deletes stored answers and delivered outbox commands older than [`RETENTION`],
/// until `stop` turns true.
pub fn spawn_housekeeping(
    db: Db,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let cutoff = crate::time::now_micros() - RETENTION.as_micros() as i64;
            if let Err(e) = purge(&db, cutoff).await {
                tracing::warn!(error = %crate::error::Chain(&e), "purging idempotency keys failed");
            }
            if let Err(e) = sqlx::query("DELETE FROM outbox WHERE deliver_time < $1")
                .bind(cutoff)
                .execute(db.writes())
                .await
            {
                tracing::warn!(error = %crate::error::Chain(&e), "purging delivered outbox commands failed");
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                _ = stop.changed() => return,
            }
        }
    })
}
