//! Reads of single rows by key, coalesced: calls that arrive while a read is in flight go
//! together in the next one, as one `SELECT … WHERE key IN (…)`; on SQLite that statement runs on
//! the calling thread, without a hand-off to a connection thread.
//!
//! Opt in with one line where a service reads single documents on its hottest path. What it
//! earned for GetOpportunity at 64 calls in flight (`closeloop bench`, SQLite, 100,000 rows):
//! coalescing, 0.46 → 0.49–0.56 × the bare transport's rate; reading on the calling thread on top
//! of it, 0.42–0.49 → 0.54–0.62 × on a slower day (a fifth of the service's time had gone to
//! sqlx's hand-offs to and from its SQLite connection thread). A new service reads with
//! [`Db::reads`] and adopts this only with a measurement of its own.
//!
//! [`KeyedLists`] does the same for every row under a key (an account's invoices): one
//! `SELECT … WHERE key IN (…) ORDER BY key, …` answers a batch of keys. What it earned for
//! GetAccountBalance (three lists: the account's contracts, its invoices, its open follow-ups)
//! at 64 calls in flight (`closeloop bench`, SQLite, 5,000 accounts of 12 invoices): 0.14–0.17
//! → 0.27–0.28 × the bare transport's rate in alternating runs (half of the service's time had
//! gone to sqlx: copying each of some fifteen rows a call into its `AnyRow`, and the hand-offs to
//! and from the SQLite connection threads of three statements a call).

use std::collections::HashMap;
use std::sync::Arc;

use crate::batch::Batcher;
use crate::db::Db;
use crate::error::Problem;

/// The sizes `IN` lists are padded to (repeating the last key): a handful of statements stay
/// prepared per connection instead of one per batch size.
const IN_LIST_SIZES: [usize; 4] = [1, 4, 16, 64];

/// Coalesced reads of one column by key.
#[derive(Clone, Debug)]
pub struct KeyedReads {
    batcher: Batcher<String, Option<Vec<u8>>>,
}

struct Statements {
    db: Db,
    /// Per [`IN_LIST_SIZES`], the statement reading that many keys.
    texts: Vec<String>,
}

impl KeyedReads {
    /// Reads `value` of `table` by `key` (both columns), at most `max_batch` keys per statement.
    /// Must run inside the tokio runtime (it starts the coalescing task).
    pub fn new(db: &Db, table: &str, key: &str, value: &str, max_batch: usize) -> KeyedReads {
        let sql = db.sql();
        let statements = Arc::new(Statements {
            db: db.clone(),
            texts: IN_LIST_SIZES
                .iter()
                .map(|&n| {
                    format!(
                        "SELECT {key}, {value} FROM {table} WHERE {key} IN ({})",
                        sql.params(1, n)
                    )
                })
                .collect(),
        });
        let batcher = Batcher::spawn(
            max_batch,
            db.read_parallelism(),
            move |keys: Vec<String>| {
                let statements = statements.clone();
                async move {
                    match statements.read(&keys).await {
                        // The same key may be asked for twice in one batch: clone, don't take.
                        Ok(found) => keys.iter().map(|k| Ok(found.get(k).cloned())).collect(),
                        Err(e) => keys.iter().map(|_| Err(e.duplicate())).collect(),
                    }
                }
            },
        );
        KeyedReads { batcher }
    }

    /// The value stored under `key`, if any.
    ///
    /// # Errors
    /// UNAVAILABLE when the database does not answer; INTERNAL for other database errors.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Problem> {
        self.batcher.call(key.to_owned()).await
    }
}

/// What a [`KeyedLists`] reads: `value` of every row of `table` whose `key` is asked for and
/// that meets `filter`, ordered by `order` within a key.
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    /// The table.
    pub table: &'a str,
    /// The column asked by, which an index must lead with: the reads are lookups, never scans.
    pub key: &'a str,
    /// The column read, binary.
    pub value: &'a str,
    /// A condition every row read meets, without parameters (`is_open = 1`); empty for none.
    pub filter: &'a str,
    /// The order of a key's rows (`due_day, id`); empty for any.
    pub order: &'a str,
}

/// Coalesced reads of every row under a key.
#[derive(Clone, Debug)]
pub struct KeyedLists {
    batcher: Batcher<String, Vec<Vec<u8>>>,
}

impl KeyedLists {
    /// Reads `list` for at most `max_batch` keys per statement. Must run inside the tokio
    /// runtime (it starts the coalescing task).
    pub fn new(db: &Db, list: List<'_>, max_batch: usize) -> KeyedLists {
        let sql = db.sql();
        let List {
            table,
            key,
            value,
            filter,
            order,
        } = list;
        let filter = if filter.is_empty() {
            String::new()
        } else {
            format!(" AND ({filter})")
        };
        let order = if order.is_empty() {
            String::new()
        } else {
            format!(", {order}")
        };
        let statements = Arc::new(Statements {
            db: db.clone(),
            texts: IN_LIST_SIZES
                .iter()
                .map(|&n| {
                    format!(
                        "SELECT {key}, {value} FROM {table} WHERE {key} IN ({}){filter} \
                         ORDER BY {key}{order}",
                        sql.params(1, n)
                    )
                })
                .collect(),
        });
        let batcher = Batcher::spawn(
            max_batch,
            db.read_parallelism(),
            move |keys: Vec<String>| {
                let statements = statements.clone();
                async move {
                    let mut found: HashMap<String, Vec<Vec<u8>>> =
                        HashMap::with_capacity(keys.len());
                    let read = statements
                        .rows(&keys, |key, value| {
                            found.entry(key).or_default().push(value)
                        })
                        .await;
                    match read {
                        // The same key may be asked for twice in one batch: clone, don't take.
                        Ok(()) => keys
                            .iter()
                            .map(|k| Ok(found.get(k).cloned().unwrap_or_default()))
                            .collect(),
                        Err(e) => keys.iter().map(|_| Err(e.duplicate())).collect(),
                    }
                }
            },
        );
        KeyedLists { batcher }
    }

    /// The values stored under `key`, in the list's order; empty when there are none.
    ///
    /// # Errors
    /// UNAVAILABLE when the database does not answer; INTERNAL for other database errors.
    pub async fn get(&self, key: &str) -> Result<Vec<Vec<u8>>, Problem> {
        self.batcher.call(key.to_owned()).await
    }
}

impl Statements {
    async fn read(&self, keys: &[String]) -> Result<HashMap<String, Vec<u8>>, Problem> {
        let mut found = HashMap::with_capacity(keys.len());
        self.rows(keys, |key, value| {
            found.insert(key, value);
        })
        .await?;
        Ok(found)
    }

    /// Runs the statements for `keys`, a padded `IN` list at a time, handing each row to `row`.
    async fn rows(
        &self,
        keys: &[String],
        mut row: impl FnMut(String, Vec<u8>),
    ) -> Result<(), Problem> {
        let largest = IN_LIST_SIZES[IN_LIST_SIZES.len() - 1];
        for chunk in keys.chunks(largest) {
            let slot = IN_LIST_SIZES
                .iter()
                .position(|&s| s >= chunk.len())
                .unwrap_or(IN_LIST_SIZES.len() - 1);
            let sql = &self.texts[slot];
            let padded = (0..IN_LIST_SIZES[slot]).map(|i| &chunk[i.min(chunk.len() - 1)]);
            let here = self.db.read_here(|conn| {
                let mut select = conn.prepare_cached(sql)?;
                let mut rows = select.query(rusqlite::params_from_iter(padded.clone()))?;
                while let Some(r) = rows.next()? {
                    row(r.get(0)?, r.get(1)?);
                }
                Ok(())
            });
            if let Some(done) = here {
                done?;
                continue;
            }
            let mut query =
                sqlx::query_as::<_, (String, Vec<u8>)>(sqlx::AssertSqlSafe(sql.as_str()));
            for key in padded {
                query = query.bind(key.clone());
            }
            for (key, value) in query.fetch_all(self.db.reads()).await? {
                row(key, value);
            }
        }
        Ok(())
    }
}
