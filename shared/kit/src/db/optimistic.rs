//! Changes to one versioned row without holding a transaction: read it where reads are cheapest,
//! change it, write it back only if its version did not move meanwhile (`UPDATE … WHERE id = $1
//! AND version = $2`), and start again when it did.
//!
//! Opt in where a change touches one row, owes no other write and has no `request_id` to store
//! (those need [`Db::transaction`](super::Db::transaction)): [`change`] runs the tries,
//! [`Writes`] writes them, the writes that arrive together in one statement that commits on its
//! own. What it earned for UpdateHandoff at 64 calls in flight (`closeloop bench`, SQLite, 5,000
//! handoffs, 2 cores shared with the load): a transaction per call (BEGIN IMMEDIATE, the row
//! read, the row written, COMMIT, each a round trip to the writer's thread while it holds the
//! write lock) made 0.11 × the bare transport's rate; one conditional `UPDATE` per call,
//! 0.07–0.12 × (each call still committed alone); grouped writes, 0.18–0.23 × (6,053–6,464/s).
//! The answer is the same as the transaction's: concurrent changes of one row are applied one
//! after the other, each to what the one before it wrote; a change that keeps losing the race
//! falls back to the transaction.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use sqlx::Row;

use crate::batch::Batcher;
use crate::db::sql::Sql;
use crate::db::{Db, Value};
use crate::error::Problem;

/// What one try of an optimistic change came to.
#[derive(Debug)]
pub enum Try<T> {
    /// Written (or nothing to write): the answer.
    Done(T),
    /// The row moved on between the read and the write: read it again.
    Moved,
}

/// Runs `attempt` until it is [`Try::Done`], at most `tries` times (at least once); `None` when
/// the row moved on at every try. Then make the change in a transaction that locks the row
/// ([`Db::transaction`](super::Db::transaction)): it waits its turn instead of racing again, so
/// a row many callers change at once is still changed by each of them.
///
/// # Errors
/// What an attempt returns.
pub async fn change<T, F, Fut>(tries: u32, mut attempt: F) -> Result<Option<T>, Problem>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Try<T>, Problem>>,
{
    for _ in 0..tries.max(1) {
        if let Try::Done(answer) = attempt().await? {
            return Ok(Some(answer));
        }
    }
    Ok(None)
}

/// The writes of optimistic changes to one table, grouped: writes that arrive while one is in
/// flight go together in the next, as one `UPDATE … FROM (VALUES …) … RETURNING` statement that
/// commits on its own. Each row is written only if its version is still the one its change read;
/// the statement returns the keys it wrote, so each caller learns whether its own change landed.
///
/// Why one statement: on SQLite's one writer, every statement is a hand-off to the writer's thread
/// and back (the writer's queue was where UpdateHandoff waited: the service used half a core), and
/// every commit appends the pages it touched to the log. The figures are in the module's header.
#[derive(Clone)]
pub struct Writes {
    batcher: Batcher<Write, bool>,
    table: Table,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writes").finish_non_exhaustive()
    }
}

/// One row's write: its key, the version its change read, the new values of the columns.
struct Write {
    key: String,
    read_version: i64,
    values: Vec<Value>,
}

/// Where grouped writes go.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The table.
    pub name: &'static str,
    /// Its key column (text).
    pub key: &'static str,
    /// Its version column (an integer the change moves on; among `columns`).
    pub version: &'static str,
    /// The columns a write sets, in the order of its values.
    pub columns: &'static [&'static str],
}

impl Writes {
    /// Writes to `table`, at most `max_rows` in one statement. Must run inside the tokio runtime
    /// (it starts the batching task).
    pub fn new(db: &Db, table: Table, max_rows: usize) -> Writes {
        let statements = Arc::new(Statements::new(db.sql(), table, max_rows.max(1)));
        let db = db.clone();
        let batcher = Batcher::spawn(
            max_rows,
            db.write_parallelism(),
            move |writes: Vec<Write>| {
                let (db, statements) = (db.clone(), statements.clone());
                async move {
                    let count = writes.len();
                    match write(&db, &statements, writes).await {
                        Ok(written) => written.into_iter().map(Ok).collect(),
                        Err(e) => (0..count).map(|_| Err(e.duplicate())).collect(),
                    }
                }
            },
        );
        Writes { batcher, table }
    }

    /// Sets the columns of row `key` to `values` (in [`Table::columns`] order) if its version is
    /// still `read_version`; false when it moved on (read it again, see [`change`]).
    ///
    /// # Errors
    /// UNAVAILABLE when the database does not answer; INTERNAL when `values` do not match the
    /// columns.
    pub async fn write(
        &self,
        key: String,
        read_version: i64,
        values: Vec<Value>,
    ) -> Result<bool, Problem> {
        // Checked here, so that one wrong write cannot fail the others of its batch.
        if values.len() != self.table.columns.len() {
            return Err(Problem::internal(format!(
                "a write of {} sets {} values for {} columns",
                self.table.name,
                values.len(),
                self.table.columns.len()
            )));
        }
        self.batcher
            .call(Write {
                key,
                read_version,
                values,
            })
            .await
    }
}

/// The statement texts for 1 to `max_rows` rows, built once.
struct Statements {
    texts: Vec<String>,
}

impl Statements {
    fn new(sql: Sql, table: Table, max_rows: usize) -> Statements {
        // Each row of the VALUES list: key, read version, then the new values.
        let width = table.columns.len() + 2;
        let set = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = v.column{}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let texts = (1..=max_rows)
            .map(|n| {
                let rows = (0..n)
                    .map(|r| format!("({})", sql.params(r * width + 1, width)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "UPDATE {t} SET {set} FROM (VALUES {rows}) AS v \
                     WHERE {t}.{k} = v.column1 AND {t}.{ver} = v.column2 RETURNING {t}.{k}",
                    t = table.name,
                    k = table.key,
                    ver = table.version,
                )
            })
            .collect();
        Statements { texts }
    }
}

/// Writes a batch in one statement; per write, whether it landed. Of two writes of one row in a
/// batch only the first is sent: the second read the same row, so at most one of them can land,
/// and the second's caller reads the row again.
async fn write(db: &Db, statements: &Statements, writes: Vec<Write>) -> Result<Vec<bool>, Problem> {
    let mut seen = HashSet::with_capacity(writes.len());
    let sent: Vec<bool> = writes.iter().map(|w| seen.insert(w.key.clone())).collect();
    let count = sent.iter().filter(|s| **s).count();
    let text = statements
        .texts
        .get(count.wrapping_sub(1))
        .ok_or_else(|| Problem::internal(format!("{count} writes do not fit one statement")))?;
    let mut keys = Vec::with_capacity(writes.len());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(text.as_str()));
    for (w, sent) in writes.into_iter().zip(sent) {
        keys.push((w.key.clone(), sent));
        if !sent {
            continue;
        }
        query = query.bind(w.key).bind(w.read_version);
        for v in w.values {
            query = v.bind(query);
        }
    }
    let rows = query.fetch_all(db.writes()).await?;
    let written: HashSet<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    Ok(keys
        .into_iter()
        .map(|(key, sent)| sent && written.contains(&key))
        .collect())
}
