//! The database a service owns: SQLite (embedded default, a file created if missing, WAL) or
//! PostgreSQL (production), chosen by URL, behind one `sqlx` Any pool so every query is written
//! once. Queries use `$1`-style parameters, which both backends accept.
//!
//! Portability rules for SQL in closeloop: integers are BIGINT (money in minor units, times in
//! microseconds since the epoch), text is TEXT, no backend-specific types; `SUM` is cast to BIGINT
//! and `AVG` to DOUBLE PRECISION because the Any driver has no NUMERIC.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::sync::Arc;

use sqlx::{Any, AnyConnection, AnyPool, Executor, SqlStr, Transaction};

use crate::error::Problem;
use crate::settings::DatabaseSettings;

/// Which database engine a [`Db`] talks to.
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

/// One migration embedded in the binary: version, description, SQL.
pub type EmbeddedMigration = (i64, &'static str, &'static str);

/// A service's schema, written once per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Applied on SQLite.
    pub sqlite: &'static [EmbeddedMigration],
    /// Applied on PostgreSQL.
    pub postgres: &'static [EmbeddedMigration],
}

#[derive(Debug)]
struct Embedded(Vec<EmbeddedMigration>);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn Future<Output = Result<Vec<Migration>, Box<dyn std::error::Error + Send + Sync>>>
                + Send,
        >,
    > {
        Box::pin(async move {
            Ok(self
                .0
                .into_iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        SqlStr::from_static(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// A pool to the service's database.
#[derive(Clone, Debug)]
pub struct Db {
    /// Reads everywhere; on PostgreSQL also writes.
    pool: AnyPool,
    /// Where writes go. On SQLite, which has one writer at a time, this is a pool of one
    /// connection of its own: writers queue for it in process instead of in SQLite's busy
    /// handler (which sleeps 1, 2, 5, … ms while the lock may already be free), and it is tuned
    /// for writing (see [`WRITER_PRAGMAS`]). On PostgreSQL it is `pool`.
    writer: AnyPool,
    backend: Backend,
    /// SQLite: the checkpointer's connection and task; the task stops when the last handle to
    /// the database goes.
    checkpointer: Option<(AnyPool, Arc<StopOnDrop>)>,
    /// SQLite: connections that read on the calling thread ([`Db::read_here`]).
    readers: Option<Arc<Readers>>,
}

/// SQLite connections that read on the thread that asks, for the hottest single-row reads.
///
/// sqlx runs each SQLite connection on a thread of its own: every statement is a hand-off to
/// that thread and every row a hand-off back, which costs more than looking a row up by its
/// key (measured: a fifth of the service's time under GetOpportunity load went to those
/// hand-offs and the wake-ups they cause). These connections are used synchronously instead:
/// a caller takes an idle one, runs its statement and puts it back, never across an `.await`,
/// so no more are open than threads reading at once. A read here can block its thread on the
/// disk when the page is not in the OS cache, as any file read does; it is meant for lookups
/// by key, never for scans. They open the file the pools created, in WAL mode, and refuse to
/// write (`query_only`).
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Idle connections kept; more are closed when put back.
    keep: usize,
    closed: AtomicBool,
}

/// Prepared statements each reader keeps.
const READER_STATEMENTS: usize = 16;

impl Readers {
    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        // No CREATE: the writer made the file. NO_MUTEX: one thread uses a connection at a time.
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")?;
        conn.set_prepared_statement_cache_capacity(READER_STATEMENTS);
        Ok(conn)
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Problem> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Problem::Unavailable("the database is closing".into()));
        }
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        // A connection whose read failed is closed, not reused.
        let result = read(&conn)?;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.keep && !self.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
        Ok(result)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Aborts a background task when dropped.
#[derive(Debug)]
struct StopOnDrop(tokio::task::JoinHandle<()>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every SQLite connection: WAL lets readers run beside the writer; NORMAL sync is durable
/// across process crashes in WAL mode and avoids an fsync per commit. The WAL is copied back
/// into the database file by a checkpointer off the writer's path ([`checkpoints`]); the
/// automatic checkpoint is only a backstop should the WAL grow past 64 MiB. Temporary sorts stay
/// in files: in memory, a GROUP BY over a million rows would hold them all.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 16384;";

/// The SQLite writer besides: statement journals (the undo of a multi-row statement, kept
/// while it runs) in memory rather than in temporary files, measured as a tenth of the
/// writer's time when they went through the file system; the writer never sorts much. A
/// larger page cache (8 MiB, one connection) keeps more of the index pages new rows go into
/// (16 MiB measured no faster, and 9 MiB more resident).
const WRITER_PRAGMAS: &str = "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;";

/// How often the SQLite checkpointer copies committed writes.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// A write transaction.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
}

impl WriteTx {
    /// Commits.
    ///
    /// # Errors
    /// The database's error; nothing is committed then.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back.
    ///
    /// # Errors
    /// The database's error.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
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

/// Pool options every pool of a backend shares.
fn pool_options(settings: &DatabaseSettings, max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        // No ping before each use: it costs a round trip (a thread hand-off on SQLite) on
        // every call. A connection that died fails its call as UNAVAILABLE and is replaced;
        // the health probe notices a database that is down.
        .test_before_acquire(false)
}

/// A SQLite pool of `max_connections`, each set up with `pragmas` after the common ones.
async fn sqlite_pool(
    settings: &DatabaseSettings,
    url: &str,
    max_connections: u32,
    pragmas: &'static str,
) -> Result<AnyPool, DbError> {
    pool_options(settings, max_connections)
        .min_connections(1)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                if !pragmas.is_empty() {
                    conn.execute(sqlx::raw_sql(pragmas)).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(DbError::Connect)
}

impl Db {
    /// Opens the database named by `settings.url`, creating a SQLite file (and its folder) if
    /// missing. On SQLite this also starts the checkpointer, which stops when the pools close.
    ///
    /// # Errors
    /// [`DbError`] when the URL is unsupported or the database cannot be reached.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbError> {
        install_default_drivers();
        let (backend, url, path) = normalise_url(&settings.url)?;
        match backend {
            Backend::Postgres => {
                let max = match settings.max_connections {
                    0 => 8,
                    n => n,
                };
                let pool = pool_options(settings, max)
                    .connect(&url)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Db {
                    writer: pool.clone(),
                    pool,
                    backend,
                    checkpointer: None,
                    readers: None,
                })
            }
            Backend::Sqlite => {
                // SQLite runs each connection on its own thread with its own page cache; with
                // two cores, more than four readers only cost memory (measured: peak RSS 68 ->
                // 36 MiB going from eight to four, throughput unchanged).
                let max = match settings.max_connections {
                    0 => 4,
                    n => n,
                };
                // The writer first: it creates the file and switches it to WAL.
                let writer = sqlite_pool(settings, &url, 1, WRITER_PRAGMAS).await?;
                let pool = sqlite_pool(settings, &url, max, "").await?;
                let checkpointer = sqlite_pool(settings, &url, 1, "").await?;
                let task = tokio::spawn(checkpoints(checkpointer.clone(), writer.clone()));
                Ok(Db {
                    pool,
                    writer,
                    backend,
                    checkpointer: Some((checkpointer, Arc::new(StopOnDrop(task)))),
                    readers: path.map(|path| {
                        Arc::new(Readers {
                            path,
                            idle: Mutex::new(Vec::new()),
                            keep: max as usize,
                            closed: AtomicBool::new(false),
                        })
                    }),
                })
            }
        }
    }

    /// Applies the kit's schema and then the service's migrations, those not applied yet.
    ///
    /// # Errors
    /// [`DbError::Migrate`] when a migration fails or an applied one was changed.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        let pick = |m: &Migrations| match self.backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let source: Vec<EmbeddedMigration> = pick(&crate::KIT_MIGRATIONS)
            .iter()
            .chain(pick(migrations))
            .copied()
            .collect();
        let migrator = Migrator::new(Embedded(source))
            .await
            .map_err(DbError::Migrate)?;
        migrator.run(&self.pool).await.map_err(DbError::Migrate)
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where single statements that write go (on SQLite, the one writer connection). Use
    /// [`Db::begin`] for several.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Starts a transaction that will write. On SQLite the writer first waits for its turn
    /// (the writer connection), then takes the write lock up front (`BEGIN IMMEDIATE`) so the
    /// transaction never fails half-way when a read would have to upgrade.
    ///
    /// # Errors
    /// The database's error; [`sqlx::Error::PoolTimedOut`] when the turn does not come within
    /// `database.acquire_timeout_ms`.
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(WriteTx { tx })
    }

    /// On SQLite, runs `read` on a connection on the calling thread, without a hand-off to a
    /// connection thread (see [`Readers`]): for reads of a few rows by key on the hottest
    /// paths. `None` on PostgreSQL, where every read is a round trip anyway: use the pool.
    ///
    /// # Errors
    /// UNAVAILABLE when the database is busy past the busy timeout or closing; INTERNAL for
    /// other database errors.
    pub fn read_here<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<Result<T, Problem>> {
        self.readers.as_ref().map(|readers| readers.read(read))
    }

    /// Whether the database answers a trivial query now.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        if let Some(readers) = &self.readers {
            readers.close();
        }
        self.pool.close().await;
        self.writer.close().await;
        if let Some((checkpointer, _)) = &self.checkpointer {
            // The last connection to close folds the WAL back into the database file.
            checkpointer.close().await;
        }
    }
}

/// SQLite's checkpointer: copies committed WAL frames back into the database file on a
/// connection of its own, so the writer never stops to do it (with the automatic checkpoint,
/// the commit that crosses the threshold copies and syncs megabytes while every writer waits).
/// PASSIVE never blocks readers or the writer; frames a reader still needs wait for the next
/// round; with nothing to copy, a round only reads the WAL's header. Every write counts, those
/// of transactions and single statements alike. Stops when the writer's pool is closed.
async fn checkpoints(checkpointer: AnyPool, writer: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if writer.is_closed() {
            checkpointer.close().await;
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&checkpointer)
            .await
        {
            tracing::debug!(error = %crate::error::Chain(&e), "WAL checkpoint failed; will retry");
        }
    }
}

/// The backend, the URL sqlx connects to, and on SQLite the file.
fn normalise_url(url: &str) -> Result<(Backend, String, Option<PathBuf>), DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned(), None));
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| DbError::UnsupportedUrl(url.to_owned()))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(DbError::UnsupportedUrl(format!(
            "{url} (closeloop keeps its data in a file)"
        )));
    }
    let path = Path::new(path);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|source| DbError::Folder {
                path: path.to_path_buf(),
                source,
            })?
            .join(path)
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Folder {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut query = query.to_owned();
    if !query.split('&').any(|kv| kv.starts_with("mode=")) {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str("mode=rwc");
    }
    Ok((
        Backend::Sqlite,
        format!("sqlite://{}?{query}", path.display()),
        Some(path),
    ))
}

/// Whether a database error is worth retrying later (the database is down, busy, or the pool is
/// exhausted) rather than a bug.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            // SQLITE_BUSY (5) / SQLITE_LOCKED (6); PostgreSQL class 08 (connection) and 57P0x
            // (shutdown), 40001/40P01 (serialization failure, deadlock).
            let code = db.code().unwrap_or_default();
            matches!(code.as_ref(), "5" | "6" | "40001" | "40P01")
                || code.starts_with("08")
                || code.starts_with("57P0")
        }
        _ => false,
    }
}

/// Whether the error is a unique or primary key violation, on either backend.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_become_absolute_and_creatable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/x.db");
        let (backend, url, path) = normalise_url(&format!("sqlite://{}", file.display())).unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(path, Some(file.clone()));
        assert!(url.ends_with("x.db?mode=rwc"), "{url}");
        assert!(dir.path().join("a/b").is_dir());
        assert!(normalise_url("sqlite::memory:").is_err());
        assert!(normalise_url("mysql://x").is_err());
        assert_eq!(
            normalise_url("postgres://u@h/db").unwrap().0,
            Backend::Postgres
        );
    }
}
