//! The database a service owns: SQLite (the embedded default, a file created if missing) or
//! PostgreSQL (production), chosen by URL, behind `sqlx`'s Any driver so every query is written
//! once.
//!
//! Service code says what it means to do, never which backend it is on:
//! - [`Db::reads`] for queries that only read. Its connections refuse to write, so a write sent
//!   there fails at once in tests instead of fighting SQLite's single writer in production.
//! - [`Db::writes`] for one statement that writes and commits on its own.
//! - [`Db::transaction`] for several statements that commit together.
//! - [`Db::sql`] for the few places SQL differs ([`sql::Sql`]: row locks, parameter lists,
//!   multi-row inserts).
//!
//! Speed mechanisms a service may opt into, each one call, each justified by a measurement:
//! [`keyed::KeyedReads`] (coalesced reads by key, on SQLite on the calling thread), its
//! [`keyed::KeyedLists`] (every row under a key, the same way), [`group::GroupCommit`]
//! (creations that arrive together commit together) and [`optimistic::Writes`] (changes of
//! versioned rows that arrive together are written by one statement). A new service starts
//! without them.
//!
//! Portability rules for SQL in closeloop: integers are BIGINT (money in minor units, times in
//! microseconds since the epoch), text is TEXT, no backend-specific types; `SUM` is cast to BIGINT
//! and `AVG` to DOUBLE PRECISION because the Any driver has no NUMERIC. Parameters are `$1`-style,
//! which both backends accept.

mod errors;
mod filter;
pub mod group;
pub mod keyed;
mod migrate;
pub mod optimistic;
pub mod sql;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};

pub use errors::{is_transient, is_unique_violation};
pub use filter::{Filter, Value};
pub use migrate::{EmbeddedMigration, Migrations};

use crate::error::Problem;
use crate::settings::DatabaseSettings;

/// Which database engine a [`Db`] talks to. The kit adapts to it; service code does not match on
/// it (see [`Db::sql`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded file database; one process writes.
    Sqlite,
    /// Server database; many replicas share it.
    Postgres,
}

/// Errors opening or migrating a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported backend.
    #[error("database.url must start with sqlite:// or postgres:// (got {0:?})")]
    UnsupportedUrl(String),
    /// The SQLite file's folder could not be created.
    #[error("creating the folder of {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("connecting to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("migrating the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Handles to the service's database. Cloning is cheap; every clone shares the pools.
#[derive(Clone, Debug)]
pub struct Db {
    /// Connections that only read (`query_only` on SQLite, read-only transactions on
    /// PostgreSQL).
    reads: AnyPool,
    /// Connections that write. On SQLite, which has one writer at a time, this is a pool of one
    /// connection of its own: writers queue for it in process instead of in SQLite's busy
    /// handler (which sleeps 1, 2, 5, … ms while the lock may already be free).
    writes: AnyPool,
    backend: Backend,
    /// SQLite only: the checkpointer and the readers on the calling thread.
    sqlite: Option<Arc<sqlite::Extras>>,
}

/// A write transaction: dropped without [`WriteTx::commit`], it rolls back.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
}

impl WriteTx {
    /// Commits.
    ///
    /// # Errors
    /// The database's error; nothing is committed then.
    pub async fn commit(self) -> Result<(), Problem> {
        Ok(self.tx.commit().await?)
    }

    /// Rolls back.
    ///
    /// # Errors
    /// The database's error.
    pub async fn rollback(self) -> Result<(), Problem> {
        Ok(self.tx.rollback().await?)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// Pool options every pool shares.
fn pool_options(settings: &DatabaseSettings, max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        // No ping before each use: it costs a round trip (a thread hand-off on SQLite) on
        // every call. A connection that died fails its call as UNAVAILABLE and is replaced;
        // the health probe notices a database that is down.
        .test_before_acquire(false)
}

/// Connections per pool when `database.max_connections` is 0.
fn default_connections(backend: Backend) -> u32 {
    match backend {
        // SQLite runs each connection on its own thread with its own page cache; with two
        // cores, more than four readers only cost memory (measured: peak RSS 68 -> 36 MiB going
        // from eight to four, throughput unchanged).
        Backend::Sqlite => 4,
        Backend::Postgres => 8,
    }
}

impl Db {
    /// Opens the database named by `settings.url`, creating a SQLite file (and its folder) if
    /// missing.
    ///
    /// # Errors
    /// [`DbError`] when the URL is unsupported or the database cannot be reached.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbError> {
        install_default_drivers();
        let target = sqlite::normalise_url(&settings.url)?;
        let max = match settings.max_connections {
            0 => default_connections(target.backend),
            n => n,
        };
        match target.backend {
            Backend::Postgres => {
                let writes = pool_options(settings, max)
                    .connect(&target.url)
                    .await
                    .map_err(DbError::Connect)?;
                let reads = pool_options(settings, max)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&target.url)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Db {
                    reads,
                    writes,
                    backend: Backend::Postgres,
                    sqlite: None,
                })
            }
            Backend::Sqlite => {
                let (writes, reads, extras) = sqlite::open(settings, &target, max).await?;
                Ok(Db {
                    reads,
                    writes,
                    backend: Backend::Sqlite,
                    sqlite: Some(Arc::new(extras)),
                })
            }
        }
    }

    /// Applies the kit's schema and then the service's migrations, those not applied yet.
    ///
    /// # Errors
    /// [`DbError::Migrate`] when a migration fails or an applied one was changed.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        migrate::run(self, migrations).await
    }

    /// Where queries that only read go. A write sent here fails: the connections are read-only.
    pub fn reads(&self) -> &AnyPool {
        &self.reads
    }

    /// Where one statement that writes goes; it commits on its own. Use [`Db::transaction`] when
    /// several statements must commit together.
    pub fn writes(&self) -> &AnyPool {
        &self.writes
    }

    /// Starts a transaction that will write. On SQLite the transaction first waits for the
    /// writer's turn, then takes the write lock up front (`BEGIN IMMEDIATE`) so it never fails
    /// half-way when a read would have to upgrade.
    ///
    /// # Errors
    /// UNAVAILABLE when the turn does not come within `database.acquire_timeout_ms` or the
    /// database does not answer.
    pub async fn transaction(&self) -> Result<WriteTx, Problem> {
        let tx = match self.backend {
            Backend::Sqlite => self.writes.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writes.begin().await?,
        };
        Ok(WriteTx { tx })
    }

    /// The SQL that differs between the backends.
    pub fn sql(&self) -> sql::Sql {
        sql::Sql::new(self.backend)
    }

    /// Which backend this is: for the kit's own mechanisms and for tools (benchmarks, tests)
    /// that report it. Service code expresses intent instead ([`Db::sql`]).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Read batches that may usefully run at once: one on SQLite, where calls that arrive
    /// meanwhile make the next batch bigger while the other thread serves the transport
    /// (measured: steadier and no slower than two); half the pool on PostgreSQL, which overlaps
    /// round trips.
    pub(crate) fn read_parallelism(&self) -> usize {
        match self.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => (self.reads.options().get_max_connections() as usize / 2).max(1),
        }
    }

    /// Write batches that may usefully run at once: one on SQLite, which has one writer (a
    /// second would only queue); two on PostgreSQL, so one commits while the next is sent.
    pub(crate) fn write_parallelism(&self) -> usize {
        match self.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        }
    }

    /// On SQLite, runs `read` on a connection on the calling thread (see
    /// [`keyed::KeyedReads`]); `None` on PostgreSQL.
    pub(crate) fn read_here<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<Result<T, Problem>> {
        self.sqlite.as_ref().map(|s| s.readers.read(read))
    }

    /// Whether the database answers a trivial query within `timeout`. A database that accepts
    /// connections but never answers counts as down.
    pub async fn ping(&self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&self.reads)).await,
            Ok(Ok(_))
        )
    }

    /// Closes the pools, waiting for connections to be returned. On SQLite the last connection
    /// to close folds the write-ahead log back into the database file.
    pub async fn close(&self) {
        if let Some(sqlite) = &self.sqlite {
            sqlite.readers.close();
        }
        self.reads.close().await;
        self.writes.close().await;
        if let Some(sqlite) = &self.sqlite {
            sqlite.close().await;
        }
    }
}
