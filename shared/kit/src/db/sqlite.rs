//! What only SQLite needs: the file and its URL, the connection settings (WAL, one writer), the
//! checkpointer that keeps the writer from stopping to copy the log back, and connections that
//! read on the calling thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::{AnyPool, Executor};

use super::{Backend, DbError, pool_options};
use crate::error::Problem;
use crate::settings::DatabaseSettings;

/// Every SQLite connection: foreign keys on, and a busy timeout as a backstop (writers queue in
/// process for the one writer connection; readers never wait for the writer in WAL mode).
const COMMON_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// The writer: WAL lets readers run beside it; NORMAL sync is durable across process crashes in
/// WAL mode and avoids an fsync per commit. The WAL is copied back into the database file by a
/// checkpointer off the writer's path ([`checkpoints`]); the automatic checkpoint is only a
/// backstop should the WAL grow past 64 MiB. Statement journals (the undo of a multi-row
/// statement, kept while it runs) stay in memory rather than in temporary files, measured as a
/// tenth of the writer's time when they went through the file system. A larger page cache
/// (8 MiB, one connection) keeps more of the index pages new rows go into (16 MiB measured no
/// faster, and 9 MiB more resident).
const WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA wal_autocheckpoint = 16384; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;";

/// Readers refuse to write. Temporary sorts stay in files: in memory, a GROUP BY over a million
/// rows would hold them all.
const READER_PRAGMAS: &str = "PRAGMA query_only = ON;";

/// How often the checkpointer copies committed writes.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Where a database URL points.
pub(super) struct Target {
    pub backend: Backend,
    /// The URL sqlx connects to.
    pub url: String,
    /// SQLite: the file.
    pub path: Option<PathBuf>,
}

/// The parts of a SQLite database beside its two pools.
#[derive(Debug)]
pub(super) struct Extras {
    checkpointer: AnyPool,
    task: tokio::task::JoinHandle<()>,
    pub readers: Readers,
}

impl Extras {
    pub async fn close(&self) {
        self.task.abort();
        // The last connection to close folds the WAL back into the database file.
        self.checkpointer.close().await;
    }
}

impl Drop for Extras {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A pool of `max_connections`, each set up with the common pragmas and then `pragmas`.
async fn pool(
    settings: &DatabaseSettings,
    url: &str,
    max_connections: u32,
    pragmas: &'static str,
) -> Result<AnyPool, DbError> {
    pool_options(settings, max_connections)
        .min_connections(1)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(COMMON_PRAGMAS)).await?;
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

/// Opens the writer (first: it creates the file and switches it to WAL), the readers and the
/// checkpointer.
pub(super) async fn open(
    settings: &DatabaseSettings,
    target: &Target,
    max: u32,
) -> Result<(AnyPool, AnyPool, Extras), DbError> {
    let writes = pool(settings, &target.url, 1, WRITER_PRAGMAS).await?;
    let reads = pool(settings, &target.url, max, READER_PRAGMAS).await?;
    let checkpointer = pool(settings, &target.url, 1, "").await?;
    let task = tokio::spawn(checkpoints(checkpointer.clone(), writes.clone()));
    let readers = Readers {
        path: target.path.clone().unwrap_or_default(),
        idle: Mutex::new(Vec::new()),
        keep: max as usize,
        closed: AtomicBool::new(false),
    };
    Ok((
        writes,
        reads,
        Extras {
            checkpointer,
            task,
            readers,
        },
    ))
}

/// Copies committed WAL frames back into the database file on a connection of its own, so the
/// writer never stops to do it (with the automatic checkpoint, the commit that crosses the
/// threshold copies and syncs megabytes while every writer waits). PASSIVE never blocks readers
/// or the writer; frames a reader still needs wait for the next round; with nothing to copy, a
/// round only reads the WAL's header. Stops when the writer's pool is closed.
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
pub(super) struct Readers {
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

    pub fn read<T>(
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

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The backend a URL names, the URL sqlx connects to, and on SQLite the file (made absolute, its
/// folder created, opened read-write-create unless the URL says otherwise).
pub(super) fn normalise_url(url: &str) -> Result<Target, DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target {
            backend: Backend::Postgres,
            url: url.to_owned(),
            path: None,
        });
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
    Ok(Target {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}?{query}", path.display()),
        path: Some(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_become_absolute_and_creatable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/x.db");
        let target = normalise_url(&format!("sqlite://{}", file.display())).unwrap();
        assert_eq!(target.backend, Backend::Sqlite);
        assert_eq!(target.path, Some(file.clone()));
        assert!(target.url.ends_with("x.db?mode=rwc"), "{}", target.url);
        assert!(dir.path().join("a/b").is_dir());
        assert!(normalise_url("sqlite::memory:").is_err());
        assert!(normalise_url("mysql://x").is_err());
        assert_eq!(
            normalise_url("postgres://u@h/db").unwrap().backend,
            Backend::Postgres
        );
    }
}
