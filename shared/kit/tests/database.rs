//! The kit's database mechanisms against a real database: SQLite by default, PostgreSQL when
//! `CLOSELOOP_TEST_DATABASE_URL` names a server.

use closeloop_kit::db::keyed::{KeyedLists, KeyedReads, List};
use closeloop_kit::db::optimistic::{self, Table, Try, Writes};
use closeloop_kit::db::{Db, Migrations, Value};
use closeloop_kit::idempotency::{self, Begun, RequestKey};
use closeloop_kit::testing::TestDatabase;
use closeloop_kit::{Principal, Problem, Role};

const NO_MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        100,
        "demo",
        "CREATE TABLE demo (id TEXT PRIMARY KEY, n BIGINT NOT NULL); \
         CREATE TABLE docs (id TEXT PRIMARY KEY, body BLOB NOT NULL); \
         CREATE TABLE items (owner TEXT NOT NULL, id TEXT NOT NULL, open BIGINT NOT NULL, \
         body BLOB NOT NULL, PRIMARY KEY (owner, id)); \
         CREATE TABLE versioned (id TEXT PRIMARY KEY, holder TEXT, version BIGINT NOT NULL, \
         body BLOB NOT NULL);",
    )],
    postgres: &[(
        100,
        "demo",
        "CREATE TABLE demo (id TEXT PRIMARY KEY, n BIGINT NOT NULL); \
         CREATE TABLE docs (id TEXT PRIMARY KEY, body BYTEA NOT NULL); \
         CREATE TABLE items (owner TEXT NOT NULL, id TEXT NOT NULL, open BIGINT NOT NULL, \
         body BYTEA NOT NULL, PRIMARY KEY (owner, id)); \
         CREATE TABLE versioned (id TEXT PRIMARY KEY, holder TEXT, version BIGINT NOT NULL, \
         body BYTEA NOT NULL);",
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
        .fetch_optional(db.reads())
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
        let mut tx = db.transaction().await.unwrap();
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
        .execute(db.writes())
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

/// Coalesced reads by key see every commit as soon as it returns, on both backends (on SQLite
/// they run on the calling thread), and many concurrent reads share statements.
#[tokio::test]
async fn keyed_reads_see_each_commit_at_once() {
    let (_t, db) = db().await;
    let reads = KeyedReads::new(&db, "docs", "id", "body", 64);
    assert_eq!(reads.get("a").await.unwrap(), None);
    for n in 1..=3_u8 {
        sqlx::query(
            "INSERT INTO docs (id, body) VALUES ('a', $1) ON CONFLICT (id) DO UPDATE SET body = $1",
        )
        .bind(vec![n; 3])
        .execute(db.writes())
        .await
        .unwrap();
        assert_eq!(
            reads.get("a").await.unwrap(),
            Some(vec![n; 3]),
            "after commit {n}"
        );
    }
    let many: Vec<_> = (0..100)
        .map(|i| {
            let reads = reads.clone();
            tokio::spawn(async move { reads.get(if i % 2 == 0 { "a" } else { "b" }).await })
        })
        .collect();
    for (i, read) in many.into_iter().enumerate() {
        let expected = (i % 2 == 0).then(|| vec![3; 3]);
        assert_eq!(read.await.unwrap().unwrap(), expected);
    }
    db.close().await;
    assert!(
        reads.get("a").await.is_err(),
        "no reads once the database is closed"
    );
}

/// Coalesced reads of every row under a key answer each key with its own rows, filtered and in
/// order, see each commit at once, and answer a key without rows with an empty list.
#[tokio::test]
async fn keyed_lists_answer_each_key_with_its_rows_in_order() {
    let (_t, db) = db().await;
    let lists = KeyedLists::new(
        &db,
        List {
            table: "items",
            key: "owner",
            value: "body",
            filter: "open = 1",
            order: "id",
        },
        16,
    );
    assert_eq!(lists.get("a").await.unwrap(), Vec::<Vec<u8>>::new());
    for (owner, id, open) in [
        ("a", "3", 1_i64),
        ("a", "1", 1),
        ("a", "2", 0),
        ("b", "1", 1),
    ] {
        sqlx::query("INSERT INTO items (owner, id, open, body) VALUES ($1, $2, $3, $4)")
            .bind(owner)
            .bind(id)
            .bind(open)
            .bind(format!("{owner}{id}").into_bytes())
            .execute(db.writes())
            .await
            .unwrap();
    }
    assert_eq!(
        lists.get("a").await.unwrap(),
        [b"a1".to_vec(), b"a3".to_vec()],
        "open rows only, by id"
    );
    let many: Vec<_> = (0..60)
        .map(|i| {
            let lists = lists.clone();
            tokio::spawn(async move { lists.get(["a", "b", "c"][i % 3]).await })
        })
        .collect();
    for (i, read) in many.into_iter().enumerate() {
        let expected: Vec<Vec<u8>> = match i % 3 {
            0 => vec![b"a1".to_vec(), b"a3".to_vec()],
            1 => vec![b"b1".to_vec()],
            _ => Vec::new(),
        };
        assert_eq!(read.await.unwrap().unwrap(), expected);
    }
    db.close().await;
}

/// The read pool refuses to write, on both backends: a write sent there by mistake fails in
/// tests instead of fighting SQLite's single writer in production.
#[tokio::test]
async fn writes_through_the_read_pool_fail_and_change_nothing() {
    let (_t, db) = db().await;
    sqlx::query("INSERT INTO demo (id, n) VALUES ('x', 1)")
        .execute(db.writes())
        .await
        .unwrap();
    let refused = sqlx::query("UPDATE demo SET n = 2")
        .execute(db.reads())
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let (n,): (i64,) = sqlx::query_as("SELECT n FROM demo WHERE id = 'x'")
        .fetch_one(db.reads())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

const VERSIONED: Table = Table {
    name: "versioned",
    key: "id",
    version: "version",
    columns: &["holder", "version", "body"],
};

/// Row `id` as stored: holder, version, body.
async fn versioned(db: &Db, id: &str) -> (Option<String>, i64, Vec<u8>) {
    sqlx::query_as("SELECT holder, version, body FROM versioned WHERE id = $1")
        .bind(id)
        .fetch_one(db.reads())
        .await
        .unwrap()
}

#[tokio::test]
async fn grouped_optimistic_writes_lose_no_change_and_refuse_stale_ones() {
    let (_t, db) = db().await;
    for id in ["a", "b", "c"] {
        sqlx::query("INSERT INTO versioned (id, holder, version, body) VALUES ($1, 'x', 1, $2)")
            .bind(id)
            .bind(0_u64.to_be_bytes().to_vec())
            .execute(db.writes())
            .await
            .unwrap();
    }
    let writes = Writes::new(&db, VERSIONED, 16);

    // 48 callers add 1 to one of three counters, 5 times each, all at once: many writes of one
    // row meet in one statement, and those that lose read again.
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..48_usize {
        let (db, writes) = (db.clone(), writes.clone());
        callers.spawn(async move {
            let id = ["a", "b", "c"][caller % 3];
            for _ in 0..5 {
                let done = optimistic::change(1000, || async {
                    let (_, version, body) = versioned(&db, id).await;
                    let n = u64::from_be_bytes(body.try_into().unwrap()) + 1;
                    let values = vec![
                        Value::OptionalText(None),
                        Value::Int(version + 1),
                        Value::Bytes(n.to_be_bytes().to_vec()),
                    ];
                    Ok(if writes.write(id.into(), version, values).await? {
                        Try::Done(())
                    } else {
                        Try::Moved
                    })
                })
                .await
                .unwrap();
                assert!(done.is_some(), "a change lost the race 1000 times");
            }
        });
    }
    while let Some(joined) = callers.join_next().await {
        joined.unwrap();
    }
    for id in ["a", "b", "c"] {
        let (holder, version, body) = versioned(&db, id).await;
        assert_eq!(holder, None, "{id}: NULL is written as NULL");
        assert_eq!(u64::from_be_bytes(body.try_into().unwrap()), 80, "{id}");
        assert_eq!(version, 81, "{id}: one version per change");
    }

    // A write over a version that moved on lands nowhere.
    let stale = vec![
        Value::OptionalText(Some("late".into())),
        Value::Int(2),
        Value::Bytes(vec![1]),
    ];
    assert!(!writes.write("a".into(), 1, stale).await.unwrap());
    let (holder, version, _) = versioned(&db, "a").await;
    assert_eq!((holder, version), (None, 81));
    // So does a write of a row that does not exist.
    let missing = vec![
        Value::OptionalText(None),
        Value::Int(2),
        Value::Bytes(vec![]),
    ];
    assert!(!writes.write("z".into(), 1, missing).await.unwrap());
    // Values that do not match the columns are refused, and change nothing.
    let short = writes.write("a".into(), 81, vec![Value::Int(82)]).await;
    assert!(matches!(short, Err(Problem::Internal(_))), "{short:?}");
    assert_eq!(versioned(&db, "a").await.1, 81);
}
