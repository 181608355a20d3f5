//! The database a service owns: SQLite (embedded default, a file created if missing, WAL) or
//! PostgreSQL (production), chosen by URL, behind one `sqlx` Any pool so every query is written
//! once. Queries use `$1`-style parameters, which both backends accept.
//!
//! Portability rules for SQL in closeloop: integers are BIGINT (money in minor units, times in
//! microseconds since the epoch), text is TEXT, no backend-specific types; `SUM` is cast to BIGINT
//! and `AVG` to DOUBLE PRECISION because the Any driver has no NUMERIC.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::sync::Arc;

use sqlx::{Any, AnyConnection, AnyPool, Executor, SqlStr, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

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
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Writers take turns here, before they take a pooled
    /// connection, instead of in SQLite's busy handler, which sleeps (1, 2, 5, … ms) while the
    /// lock may already be free and holds a connection readers need meanwhile.
    writer_turn: Option<Arc<Mutex<()>>>,
    /// How long a writer waits for its turn, like a pooled connection.
    acquire_timeout: Duration,
}

/// A write transaction. On SQLite it also holds the writer's turn until commit or rollback.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _turn: Option<OwnedMutexGuard<()>>,
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

impl Db {
    /// Opens the database named by `settings.url`, creating a SQLite file (and its folder) if
    /// missing.
    ///
    /// # Errors
    /// [`DbError`] when the URL is unsupported or the database cannot be reached.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbError> {
        install_default_drivers();
        let (backend, url) = normalise_url(&settings.url)?;
        // SQLite runs each connection on its own thread with its own page cache; with one
        // writer and two cores, more than four only cost memory (measured: peak RSS 68 -> 36 MiB
        // going from eight to four, throughput unchanged).
        let max_connections = match (settings.max_connections, backend) {
            (0, Backend::Sqlite) => 4,
            (0, Backend::Postgres) => 8,
            (n, _) => n,
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
            // No ping before each use: it costs a round trip (a thread hand-off on SQLite) on
            // every call. A connection that died fails its call as UNAVAILABLE and is replaced;
            // the health probe notices a database that is down.
            .test_before_acquire(false);
        if backend == Backend::Sqlite {
            options = options.min_connections(1).after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; NORMAL sync is durable across
                    // process crashes in WAL mode and avoids an fsync per commit.
                    // Checkpointing every 4,000 pages instead of 1,000 rewrites hot pages
                    // (index leaves) less often. Temporary sorts stay in files: in memory, a
                    // GROUP BY over a million rows would hold them all.
                    conn.execute(sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                         PRAGMA wal_autocheckpoint = 4000;",
                    ))
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await.map_err(DbError::Connect)?;
        let writer_turn = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Db {
            pool,
            backend,
            writer_turn,
            acquire_timeout: Duration::from_millis(settings.acquire_timeout_ms),
        })
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

    /// Starts a transaction that will write. On SQLite the writer first waits for its turn,
    /// then takes the write lock up front (`BEGIN IMMEDIATE`) so the transaction never fails
    /// half-way when a read would have to upgrade.
    ///
    /// # Errors
    /// The database's error.
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let turn = match &self.writer_turn {
            Some(turn) => Some(
                tokio::time::timeout(self.acquire_timeout, turn.clone().lock_owned())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)?,
            ),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }

    /// Whether the database answers a trivial query now.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn normalise_url(url: &str) -> Result<(Backend, String), DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
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
        let (backend, url) = normalise_url(&format!("sqlite://{}", file.display())).unwrap();
        assert_eq!(backend, Backend::Sqlite);
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
