//! The outbox and its relays against a real database (SQLite by default, PostgreSQL when
//! `CLOSELOOP_TEST_DATABASE_URL` names a server): commands commit with the change that owes them,
//! each peer's relay delivers only that peer's commands, transient failures are retried until
//! they succeed, and refusals are parked for an operator instead of being retried forever.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closeloop_kit::Problem;
use closeloop_kit::db::{Backend, Db, Migrations};
use closeloop_kit::outbox::{self, Command, Deliver, DeliveryError, Outbox, Owed, Peer, Relay};
use closeloop_kit::settings::OutboxSettings;
use closeloop_kit::testing::TestDatabase;

const NONE: Migrations = Migrations {
    sqlite: &[],
    postgres: &[],
};

const PEERS: &[Peer] = &[
    Peer {
        name: "contracts",
        services: &["test.v1.Contracts"],
    },
    Peer {
        name: "handoff",
        services: &["test.v1.Handoff"],
    },
];

const CREATE: &str = "test.v1.Contracts/Create";
const START: &str = "test.v1.Handoff/Start";

async fn db() -> (TestDatabase, Db) {
    let t = TestDatabase::new().await;
    let db = Db::connect(&t.settings).await.expect("connect");
    db.migrate(&NONE).await.expect("migrate");
    (t, db)
}

fn owed(id: &str, method: &'static str) -> Owed {
    Owed {
        id: id.into(),
        method,
        payload: id.as_bytes().to_vec(),
    }
}

/// Writes commands in one committed transaction.
async fn commit(db: &Db, outbox: &Outbox, commands: &[Owed]) {
    let mut tx = db.transaction().await.unwrap();
    for c in commands {
        outbox.enqueue(&mut tx, c).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Answers each delivery with the next scripted outcome (success once the script runs out) and
/// records what it was asked and what it delivered.
#[derive(Clone, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Result<(), DeliveryError>>>>,
    asked: Arc<Mutex<Vec<String>>>,
    delivered: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn failing(outcomes: Vec<Result<(), DeliveryError>>) -> Scripted {
        Scripted {
            script: Arc::new(Mutex::new(outcomes.into())),
            ..Scripted::default()
        }
    }

    fn delivered(&self) -> Vec<String> {
        let mut d = self.delivered.lock().unwrap().clone();
        d.sort();
        d
    }
}

impl Deliver for Scripted {
    async fn deliver(&self, command: &Command) -> Result<Option<Vec<u8>>, DeliveryError> {
        self.asked.lock().unwrap().push(command.id.clone());
        let outcome = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if outcome.is_ok() {
            self.delivered.lock().unwrap().push(command.id.clone());
        }
        // The callee answers with the command's id, so a test can tell answers apart.
        outcome.map(|()| Some(format!("answer to {}", command.id).into_bytes()))
    }
}

fn down() -> Result<(), DeliveryError> {
    Err(DeliveryError::Retry("UNAVAILABLE: peer down".into()))
}

fn refused(message: &str) -> Result<(), DeliveryError> {
    Err(DeliveryError::Refused {
        code: "INVALID_ARGUMENT".into(),
        message: message.into(),
    })
}

fn settings() -> OutboxSettings {
    OutboxSettings {
        poll_interval_ms: 10,
        batch_size: 10,
        initial_backoff_ms: 1,
        max_backoff_ms: 5,
        lease_ms: 60_000,
        call_timeout_ms: 1000,
    }
}

/// Runs the relay until `done` holds (or a few seconds pass).
async fn run_until<D: Deliver>(relay: &Relay<D>, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        relay.run_once().await.unwrap();
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn commands_commit_with_the_change_and_survive_a_peer_that_is_down() {
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    // A rolled-back change leaves no command behind.
    let mut tx = db.transaction().await.unwrap();
    outbox
        .enqueue(&mut tx, &owed("cmd-rolled-back", CREATE))
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    commit(
        &db,
        &outbox,
        &[owed("cmd-1", CREATE), owed("cmd-2", CREATE)],
    )
    .await;
    assert_eq!(outbox::backlog(&db, None).await.unwrap().pending, 2);

    let peer = Scripted::failing(vec![down(), down(), down()]);
    let relay = Relay::new(db.clone(), PEERS[0], peer.clone(), settings());
    run_until(&relay, || peer.delivered().len() == 2).await;
    assert_eq!(peer.delivered(), ["cmd-1", "cmd-2"], "each delivered once");
    assert_eq!(outbox::backlog(&db, None).await.unwrap().pending, 0);
    let (attempts,): (i64,) = sqlx::query_as("SELECT CAST(SUM(attempts) AS BIGINT) FROM outbox")
        .fetch_one(db.reads())
        .await
        .unwrap();
    assert_eq!(attempts, 5, "three failed attempts and two deliveries");

    // Delivered commands are not delivered again.
    relay.run_once().await.unwrap();
    assert_eq!(peer.asked.lock().unwrap().len(), 5);

    // What owed each call sees it delivered, with the callee's answer.
    let status = outbox::owed_status(&db, "cmd-2").await.unwrap();
    assert_eq!(status.state, outbox::OwedState::Delivered);
    assert_eq!(
        status.answer.as_deref(),
        Some(b"answer to cmd-2".as_slice())
    );
    assert!(status.state_change_time >= status.create_time);
}

#[tokio::test]
async fn each_peer_gets_only_its_commands_and_an_unconfigured_peer_holds_only_its_own() {
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    commit(
        &db,
        &outbox,
        &[owed("c-1", CREATE), owed("h-1", START), owed("c-2", CREATE)],
    )
    .await;
    // Only contracts is configured: its relay delivers its two, the handoff command waits.
    let contracts = Scripted::default();
    let relay = Relay::new(db.clone(), PEERS[0], contracts.clone(), settings());
    run_until(&relay, || contracts.delivered().len() == 2).await;
    relay.run_once().await.unwrap();
    assert_eq!(contracts.delivered(), ["c-1", "c-2"]);
    assert_eq!(*contracts.asked.lock().unwrap(), ["c-1", "c-2"]);
    let waiting = outbox::backlog(&db, Some("handoff")).await.unwrap();
    assert_eq!((waiting.pending, waiting.parked), (1, 0));
    assert_eq!(
        outbox::backlog(&db, Some("contracts"))
            .await
            .unwrap()
            .pending,
        0
    );

    // Handoff comes up later: its command is delivered then.
    let handoff = Scripted::default();
    let relay = Relay::new(db.clone(), PEERS[1], handoff.clone(), settings());
    run_until(&relay, || handoff.delivered().len() == 1).await;
    assert_eq!(handoff.delivered(), ["h-1"]);
    assert_eq!(outbox::backlog(&db, None).await.unwrap().pending, 0);
}

#[tokio::test]
async fn a_refused_command_is_parked_listed_and_retryable_while_transient_failures_retry() {
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    commit(&db, &outbox, &[owed("bad", CREATE), owed("slow", CREATE)]).await;
    // In id order: `bad` is refused, `slow` fails transiently twice, then both settle.
    let peer = Scripted::failing(vec![refused("contract.title: required"), down(), down()]);
    let relay = Relay::new(db.clone(), PEERS[0], peer.clone(), settings());
    run_until(&relay, || peer.delivered() == ["slow"]).await;
    for _ in 0..5 {
        relay.run_once().await.unwrap();
    }
    assert_eq!(
        peer.delivered(),
        ["slow"],
        "the transient failure was retried"
    );
    let asked = peer.asked.lock().unwrap().clone();
    assert_eq!(
        asked.iter().filter(|id| *id == "bad").count(),
        1,
        "a refusal is not retried: {asked:?}"
    );

    let backlog = outbox::backlog(&db, None).await.unwrap();
    assert_eq!((backlog.pending, backlog.parked), (0, 1));
    let parked = outbox::parked(&db, 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (
            parked[0].id.as_str(),
            parked[0].topic.as_str(),
            parked[0].destination.as_str(),
            parked[0].code.as_str(),
            parked[0].message.as_str(),
            parked[0].attempts,
        ),
        (
            "bad",
            CREATE,
            "contracts",
            "INVALID_ARGUMENT",
            "contract.title: required",
            1
        )
    );

    // After a fix on the peer's side, an operator retries it: it is delivered.
    assert_eq!(outbox::retry(&db, Some("bad")).await.unwrap(), 1);
    assert!(outbox::parked(&db, 10).await.unwrap().is_empty());
    run_until(&relay, || peer.delivered().len() == 2).await;
    assert_eq!(peer.delivered(), ["bad", "slow"]);
    assert_eq!(
        outbox::retry(&db, None).await.unwrap(),
        0,
        "nothing left parked"
    );
}

#[tokio::test]
async fn a_claimed_command_is_not_claimed_twice_until_its_lease_ends() {
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    commit(&db, &outbox, &[owed("cmd-1", CREATE)]).await;
    // Simulate a replica that claimed the row and died: the lease is in the future.
    sqlx::query("UPDATE outbox SET lease_until = $1")
        .bind(closeloop_kit::time::now_micros() + 60_000_000)
        .execute(db.writes())
        .await
        .unwrap();
    let peer = Scripted::default();
    let relay = Relay::new(db.clone(), PEERS[0], peer.clone(), settings());
    assert_eq!(relay.run_once().await.unwrap(), 0);
    // The lease runs out: the command is delivered.
    sqlx::query("UPDATE outbox SET lease_until = 0")
        .execute(db.writes())
        .await
        .unwrap();
    assert_eq!(relay.run_once().await.unwrap(), 1);
    assert_eq!(peer.delivered(), ["cmd-1"]);
}

#[tokio::test]
async fn a_relay_starting_on_sqlite_releases_the_leases_of_a_dead_process_and_not_on_postgres() {
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    commit(&db, &outbox, &[owed("cmd-1", CREATE)]).await;
    // A process claimed the command (its relay ran once) and was killed before delivering it.
    sqlx::query("UPDATE outbox SET destination = $1, lease_until = $2")
        .bind(PEERS[0].name)
        .bind(closeloop_kit::time::now_micros() + 60_000_000)
        .execute(db.writes())
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let peer = Scripted::default();
    let task = outbox::spawn(
        Relay::new(db.clone(), PEERS[0], peer.clone(), settings()),
        stop_rx,
    );
    for _ in 0..100 {
        if !peer.delivered().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match db.backend() {
        // The file has one process: the lease was the dead one's, the command goes at once.
        Backend::Sqlite => assert_eq!(peer.delivered(), ["cmd-1"]),
        // The lease may be a live replica's: it is kept until it runs out.
        Backend::Postgres => assert!(peer.delivered().is_empty(), "{:?}", peer.delivered()),
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_relay_wakes_on_commit_and_stops_when_told() {
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let peer = Scripted::default();
    // A long poll: only the wake-up can deliver within the test's patience.
    let relay = Relay::new(
        db.clone(),
        PEERS[0],
        peer.clone(),
        OutboxSettings {
            poll_interval_ms: 60_000,
            ..settings()
        },
    );
    outbox.attach(relay.waker());
    let task = outbox::spawn(relay, stop_rx);
    tokio::time::sleep(Duration::from_millis(50)).await;
    commit(&db, &outbox, &[owed("cmd-9", CREATE)]).await;
    outbox.wake();
    for _ in 0..200 {
        if !peer.delivered().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(peer.delivered(), ["cmd-9"]);
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("relay stops")
        .unwrap();
}

#[tokio::test]
async fn a_method_no_peer_serves_is_refused_and_writes_nothing() {
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    let mut tx = db.transaction().await.unwrap();
    let err = outbox
        .enqueue(&mut tx, &owed("x", "test.v1.Unknown/Call"))
        .await
        .unwrap_err();
    assert!(matches!(err, Problem::Internal(_)), "{err:?}");
    drop(tx);
    assert_eq!(outbox::backlog(&db, None).await.unwrap().pending, 0);
}

#[tokio::test]
async fn commands_written_without_a_destination_are_taken_over_by_their_peers_relay() {
    let (_t, db) = db().await;
    sqlx::query(
        "INSERT INTO outbox (id, topic, payload, create_time, attempts, next_attempt_time, \
         lease_until) VALUES ('old', $1, $2, 1, 0, 1, 0)",
    )
    .bind(CREATE)
    .bind(b"x".to_vec())
    .execute(db.writes())
    .await
    .unwrap();
    // The relay of the peer that serves the topic takes it over.
    let peer = Scripted::default();
    let relay = Relay::new(db.clone(), PEERS[0], peer.clone(), settings());
    run_until(&relay, || !peer.delivered().is_empty()).await;
    assert_eq!(peer.delivered(), ["old"]);
}

/// Slow deliveries outlast a batch's lease: the lease is renewed per command (each delivery is
/// shorter than a lease: the settings refuse a call timeout that is not), so a second replica
/// that starts meanwhile takes over only what the first has not reached, and nothing is
/// delivered twice.
#[tokio::test]
async fn a_batch_outlasting_its_lease_is_not_delivered_twice_by_two_replicas() {
    #[derive(Clone, Default)]
    struct Slow(Arc<Mutex<Vec<String>>>);
    impl Deliver for Slow {
        async fn deliver(&self, command: &Command) -> Result<Option<Vec<u8>>, DeliveryError> {
            tokio::time::sleep(Duration::from_millis(150)).await;
            self.0.lock().unwrap().push(command.id.clone());
            Ok(None)
        }
    }
    let (_t, db) = db().await;
    let outbox = Outbox::new(PEERS);
    commit(
        &db,
        &outbox,
        &[owed("a", CREATE), owed("b", CREATE), owed("c", CREATE)],
    )
    .await;
    let short = OutboxSettings {
        lease_ms: 200,
        ..settings()
    };
    let delivered = Slow::default();
    let first = Relay::new(db.clone(), PEERS[0], delivered.clone(), short.clone());
    let second = Relay::new(db.clone(), PEERS[0], delivered.clone(), short);
    let one = tokio::spawn(async move { first.run_once().await.unwrap() });
    // The batch's lease ran out at 200 ms; the first relay is delivering its second command.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let two = tokio::spawn(async move { second.run_once().await.unwrap() });
    one.await.unwrap();
    two.await.unwrap();
    let mut ids = delivered.0.lock().unwrap().clone();
    ids.sort();
    assert_eq!(ids, ["a", "b", "c"], "each command delivered once");
    assert_eq!(outbox::backlog(&db, None).await.unwrap().pending, 0);
}
