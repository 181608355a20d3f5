//! The kit's database mechanisms against a real database: SQLite by default, PostgreSQL when
//! `CLOSELOOP_TEST_DATABASE_URL` names a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use closeloop_kit::db::{Db, Migrations};
use closeloop_kit::idempotency::{self, Begun, RequestKey};
use closeloop_kit::outbox::{self, Command, Deliver, DeliveryError, Relay};
use closeloop_kit::settings::OutboxSettings;
use closeloop_kit::testing::TestDatabase;
use closeloop_kit::{Principal, Problem, Role};

const NO_MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        100,
        "demo",
        "CREATE TABLE demo (id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
    )],
    postgres: &[(
        100,
        "demo",
        "CREATE TABLE demo (id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
    )],
};

async fn db() -> (TestDatabase, Db) {
    let t = TestDatabase::new().await;
    let db = Db::connect(&t.settings).await.expect("connect");
    db.migrate(&NO_MIGRATIONS).await.expect("migrate");
    (t, db)
}

fn alice() -> Principal {
    Principal {
        subject: "alice".into(),
        roles: vec![Role::SalesRep],
    }
}

/// Increments a counter row inside the idempotent unit of work and answers with its new value.
async fn bump(db: &Db, key: Option<&RequestKey>) -> Result<prost_types::Duration, Problem> {
    let mut work = match idempotency::begin(db, key, 1).await? {
        Begun::Repeat(answer) => return Ok(answer),
        Begun::Fresh(work) => work,
    };
    sqlx::query(
        "INSERT INTO demo (id, n) VALUES ('c', 1) ON CONFLICT (id) DO UPDATE SET n = demo.n + 1",
    )
    .execute(work.conn())
    .await?;
    let (n,): (i64,) = sqlx::query_as("SELECT n FROM demo WHERE id = 'c'")
        .fetch_one(work.conn())
        .await?;
    work.commit(prost_types::Duration {
        seconds: n,
        nanos: 0,
    })
    .await
}

async fn counter(db: &Db) -> i64 {
    sqlx::query_as::<_, (i64,)>("SELECT n FROM demo WHERE id = 'c'")
        .fetch_optional(db.pool())
        .await
        .unwrap()
        .map_or(0, |(n,)| n)
}

#[tokio::test]
async fn a_repeated_request_id_returns_the_first_answer_and_applies_once() {
    let (_t, db) = db().await;
    let request = prost_types::Timestamp {
        seconds: 7,
        nanos: 0,
    };
    let key = RequestKey::new("Bump", &alice(), "req-1", &request)
        .unwrap()
        .unwrap();
    let first = bump(&db, Some(&key)).await.unwrap();
    let again = bump(&db, Some(&key)).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(counter(&db).await, 1);

    // No request id: every call applies.
    bump(&db, None).await.unwrap();
    assert_eq!(counter(&db).await, 2);

    // The same id for a different request is refused and changes nothing.
    let other = prost_types::Timestamp {
        seconds: 8,
        nanos: 0,
    };
    let reused = RequestKey::new("Bump", &alice(), "req-1", &other)
        .unwrap()
        .unwrap();
    assert!(matches!(
        bump(&db, Some(&reused)).await,
        Err(Problem::InvalidArgument(_))
    ));
    assert_eq!(counter(&db).await, 2);

    // Another caller's identical request id is a different request.
    let bob = Principal {
        subject: "bob".into(),
        roles: vec![],
    };
    let bobs = RequestKey::new("Bump", &bob, "req-1", &request)
        .unwrap()
        .unwrap();
    bump(&db, Some(&bobs)).await.unwrap();
    assert_eq!(counter(&db).await, 3);
}

#[tokio::test]
async fn racing_twins_apply_once() {
    let (_t, db) = db().await;
    let request = prost_types::Timestamp {
        seconds: 1,
        nanos: 0,
    };
    let key = RequestKey::new("Bump", &alice(), "twin", &request)
        .unwrap()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (db, key) = (db.clone(), key.clone());
        tasks.push(tokio::spawn(async move { bump(&db, Some(&key)).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(counter(&db).await, 1);
}

#[test]
fn malformed_request_ids_are_refused() {
    let r = prost_types::Timestamp::default();
    assert!(RequestKey::new("M", &alice(), "", &r).unwrap().is_none());
    assert!(RequestKey::new("M", &alice(), "has space", &r).is_err());
    assert!(RequestKey::new("M", &alice(), &"x".repeat(129), &r).is_err());
}

/// Fails the first `fail` deliveries, then records each delivered command id.
#[derive(Clone, Default)]
struct Flaky {
    fail: Arc<AtomicUsize>,
    delivered: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Deliver for Flaky {
    async fn deliver(&self, command: &Command) -> Result<(), DeliveryError> {
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(DeliveryError::Retry("peer down".into()));
        }
        self.delivered.lock().unwrap().push(command.id.clone());
        Ok(())
    }
}

fn relay_settings() -> OutboxSettings {
    OutboxSettings {
        poll_interval_ms: 10,
        batch_size: 10,
        initial_backoff_ms: 1,
        max_backoff_ms: 5,
        lease_ms: 60_000,
        call_timeout_ms: 1000,
    }
}

#[tokio::test]
async fn commands_commit_with_the_change_and_survive_a_peer_that_is_down() {
    let (_t, db) = db().await;
    // A rolled-back change leaves no command behind.
    let mut tx = db.begin().await.unwrap();
    outbox::enqueue(&mut tx, "cmd-rolled-back", "t", b"x")
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let mut tx = db.begin().await.unwrap();
    outbox::enqueue(&mut tx, "cmd-1", "t", b"payload-1")
        .await
        .unwrap();
    outbox::enqueue(&mut tx, "cmd-2", "t", b"payload-2")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outbox::backlog(&db).await.unwrap().pending, 2);

    let flaky = Flaky::default();
    flaky.fail.store(3, Ordering::SeqCst);
    let relay = Relay::new(db.clone(), flaky.clone(), relay_settings());
    // While the peer fails, nothing is lost and nothing is marked delivered.
    for _ in 0..50 {
        relay.run_once().await.unwrap();
        if !flaky.delivered.lock().unwrap().is_empty()
            && outbox::backlog(&db).await.unwrap().pending == 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut delivered = flaky.delivered.lock().unwrap().clone();
    delivered.sort();
    assert_eq!(
        delivered,
        ["cmd-1", "cmd-2"],
        "each command delivered exactly once"
    );
    assert_eq!(outbox::backlog(&db).await.unwrap().pending, 0);
    let (attempts,): (i64,) = sqlx::query_as("SELECT CAST(SUM(attempts) AS BIGINT) FROM outbox")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        attempts, 5,
        "three failed attempts and two deliveries were recorded"
    );

    // Delivered commands are not delivered again.
    relay.run_once().await.unwrap();
    assert_eq!(flaky.delivered.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_claimed_command_is_not_claimed_twice_until_its_lease_ends() {
    let (_t, db) = db().await;
    let mut tx = db.begin().await.unwrap();
    outbox::enqueue(&mut tx, "cmd-1", "t", b"x").await.unwrap();
    tx.commit().await.unwrap();
    // Simulate a replica that claimed the row and died: the lease is in the future.
    sqlx::query("UPDATE outbox SET lease_until = $1")
        .bind(closeloop_kit::time::now_micros() + 60_000_000)
        .execute(db.pool())
        .await
        .unwrap();
    let flaky = Flaky::default();
    let relay = Relay::new(db.clone(), flaky.clone(), relay_settings());
    assert_eq!(relay.run_once().await.unwrap(), 0);
    // The lease runs out: the command is delivered.
    sqlx::query("UPDATE outbox SET lease_until = 0")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(relay.run_once().await.unwrap(), 1);
    assert_eq!(*flaky.delivered.lock().unwrap(), ["cmd-1"]);
}

#[tokio::test]
async fn the_relay_task_stops_when_told() {
    let (_t, db) = db().await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let flaky = Flaky::default();
    let relay = Relay::new(db.clone(), flaky.clone(), relay_settings());
    let waker = relay.waker();
    let task = outbox::spawn(relay, stop_rx);
    let mut tx = db.begin().await.unwrap();
    outbox::enqueue(&mut tx, "cmd-9", "t", b"x").await.unwrap();
    tx.commit().await.unwrap();
    waker.wake();
    for _ in 0..200 {
        if !flaky.delivered.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(*flaky.delivered.lock().unwrap(), ["cmd-9"]);
    stop_tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("relay stops")
        .unwrap();
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    let settings = closeloop_kit::settings::DatabaseSettings {
        url: "mysql://x".into(),
        max_connections: 1,
        acquire_timeout_ms: 100,
    };
    assert!(Db::connect(&settings).await.is_err());
}

/// SQLite only (the WAL is SQLite's): what commits reaches the database file itself, copied
/// from the WAL by the checkpointer, without the writer stopping to copy it. The file is then
/// read as immutable, which ignores the WAL: only checkpointed rows are there.
#[tokio::test]
async fn sqlite_commits_reach_the_database_file_without_the_writer_checkpointing() {
    use sqlx::{Connection, Row};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoints.db");
    let settings = closeloop_kit::settings::DatabaseSettings {
        url: format!("sqlite://{}", file.display()),
        max_connections: 2,
        acquire_timeout_ms: 5_000,
    };
    let db = Db::connect(&settings).await.unwrap();
    db.migrate(&NO_MIGRATIONS).await.unwrap();
    let in_file = || async {
        let mut conn =
            sqlx::AnyConnection::connect(&format!("sqlite://{}?immutable=1", file.display()))
                .await
                .unwrap();
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM demo")
            .fetch_one(&mut conn)
            .await
            .map(|row| row.get(0))
            .unwrap_or(0);
        n
    };
    for i in 0..20 {
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO demo (id, n) VALUES ($1, $2)")
            .bind(format!("row-{i}"))
            .bind(i)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // A single statement on the writer, outside any transaction, counts too.
    sqlx::query("INSERT INTO demo (id, n) VALUES ('single', 20)")
        .execute(db.writer())
        .await
        .unwrap();
    let mut seen = 0;
    for _ in 0..100 {
        seen = in_file().await;
        if seen == 21 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 21, "committed rows found in the database file");
    db.close().await;
}

/// Reads on the calling thread: on SQLite they see every commit as soon as it returns, refuse
/// to write, and stop when the database closes; on PostgreSQL there are none (the caller uses
/// the pool).
#[tokio::test]
async fn reads_here_see_each_commit_and_never_write() {
    let (_t, db) = db().await;
    let read = |db: &Db, id: &str| {
        db.read_here(|conn| {
            conn.query_row("SELECT n FROM demo WHERE id = ?1", [id], |row| row.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
        })
    };
    if db.backend() == closeloop_kit::db::Backend::Postgres {
        assert!(read(&db, "a").is_none());
        return;
    }
    assert_eq!(read(&db, "a").unwrap().unwrap(), None::<i64>);
    for n in 1..=3_i64 {
        sqlx::query(
            "INSERT INTO demo (id, n) VALUES ('a', $1) ON CONFLICT (id) DO UPDATE SET n = $1",
        )
        .bind(n)
        .execute(db.writer())
        .await
        .unwrap();
        assert_eq!(
            read(&db, "a").unwrap().unwrap(),
            Some(n),
            "after commit {n}"
        );
    }
    let write = db
        .read_here(|conn| conn.execute("DELETE FROM demo", []))
        .unwrap();
    assert!(matches!(write, Err(Problem::Internal(_))), "{write:?}");
    assert_eq!(read(&db, "a").unwrap().unwrap(), Some(3), "nothing deleted");
    db.close().await;
    assert!(matches!(
        read(&db, "a").unwrap(),
        Err(Problem::Unavailable(_))
    ));
}
