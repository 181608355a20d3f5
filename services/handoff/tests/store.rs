//! The handoff store on the database the run targets: the stored document (format 1, a fixture
//! written by this build keeps later builds honest), one handoff per order when two
//! transactions start the same order at once, optimistic concurrency, and the queue of PENDING
//! prefills.

use closeloop_handoff::api::requests;
use closeloop_handoff::domain::edit::Field;
use closeloop_handoff::domain::handoff::Handoff;
use closeloop_handoff::domain::lifecycle::{IntroductionDone, Objective, OpportunityFacts};
use closeloop_handoff::domain::vocabulary::{HandoffId, OnboardingStepStatus};
use closeloop_handoff::store::document::{decode_handoff, encode_handoff};
use closeloop_handoff::store::handoffs::PendingPrefill;
use closeloop_handoff::store::{MIGRATIONS, Store};
use closeloop_kit::db::Db;
use closeloop_kit::testing::TestDatabase;
use closeloop_kit::{Principal, Problem, Role};
use closeloop_proto::handoff::v1 as pb;

#[path = "api/helpers.rs"]
mod helpers;

const T0: i64 = 1_790_000_000_000_000;
const HOUR: i64 = 3_600_000_000;

fn who(subject: &str, role: Role) -> Principal {
    Principal {
        subject: subject.into(),
        roles: vec![role],
    }
}

fn id(n: u32) -> HandoffId {
    HandoffId::parse(&format!("0190c0de-0000-7000-8000-{n:012}")).unwrap()
}

/// A DRAFT handoff of order `n`, started at `T0`.
fn started(n: &str, id: HandoffId) -> Handoff {
    let snapshot = requests::snapshot(Some(&helpers::snapshot(n))).unwrap();
    Handoff::start(
        id,
        snapshot,
        &who("closeloop-contracts-payments", Role::Service),
        T0,
    )
    .unwrap()
}

/// A handoff that went through everything, so that every part of the document holds values:
/// prefilled, completed, submitted, rejected, resubmitted, introduced to one account manager
/// then another, accepted, a step DONE, the account opened.
fn full_handoff() -> Handoff {
    let max = who("max", Role::SalesManager);
    let alice = who("alice", Role::AccountManager);
    let mut h = started("full", id(1));
    h.prefill(
        OpportunityFacts {
            stakeholders: Vec::new(),
            objectives: vec![Objective {
                description: "Fewer late payments".into(),
                success_measure: "no invoice paid late in Q4".into(),
            }],
        },
        T0 + 1,
    )
    .unwrap();
    let fields: Vec<Field> = helpers::FILLED
        .iter()
        .map(|p| Field::from_code(p).unwrap())
        .collect();
    let mut with = helpers::filled();
    with.verbal_commitments = vec![pb::VerbalCommitment {
        description: "A second training session".into(),
        promised_by: helpers::person("Sam Seller", ""),
        promised_to: helpers::person("Carla Champion", "carla@acme.example"),
        promise_date: helpers::day(2026, 11, 2),
        due_date: helpers::day(2027, 6, 30),
        notes: "said on the pricing call".into(),
    }];
    with.onboarding_plan[0].client_contact = helpers::person("Dan Daily", "dan@acme.example");
    with.notes = "Carla decides fast".into();
    let mut fields = fields;
    fields.push(Field::VerbalCommitments);
    fields.push(Field::Notes);
    fields.retain(|f| *f != Field::NoVerbalCommitments);
    let patch = requests::patch(&with, &fields).unwrap();
    h.edit(&max, patch, T0 + 2).unwrap();
    let plan = requests::plan(&helpers::schedule(&h.name())).unwrap();
    h.schedule_introduction(&max, plan.clone(), T0 + 3).unwrap();
    h.submit(&max, T0 + 4).unwrap();
    h.reject(&alice, vec!["Goals are vague".into()], T0 + 5)
        .unwrap();
    h.submit(&max, T0 + 6).unwrap();
    let done = IntroductionDone {
        complete_time: Some(T0 + 7),
        notes: "Went well".into(),
        attendees: Vec::new(),
        kind: None,
    };
    h.complete_introduction(&alice, done.clone(), T0 + 7)
        .unwrap();
    h.assign_account_manager(&max, "amy".into(), T0 + 8)
        .unwrap();
    h.schedule_introduction(&max, plan, T0 + 9).unwrap();
    h.complete_introduction(&max, done, T0 + 10).unwrap();
    h.accept(&max, T0 + 11).unwrap();
    let step = h.onboarding_plan[0].id.clone();
    h.set_step_status(
        &max,
        &step,
        OnboardingStepStatus::Done,
        "ok".into(),
        T0 + 12,
    )
    .unwrap();
    h.record_account_opened("accounts/a-1".into(), T0 + 13)
        .unwrap();
    h.account_manager_notes = "Quarterly check-ins".into();
    h.version = 14;
    h
}

#[test]
fn a_full_handoff_reads_back_whole_as_format_1_wrote_it() {
    let h = full_handoff();
    assert_eq!(h.previous_introductions.len(), 1);
    assert_eq!(h.rejections.len(), 1);
    let stored = encode_handoff(&h).unwrap();
    assert_eq!(stored[0], 1, "format 1");
    assert_eq!(decode_handoff(&stored).unwrap(), h);

    // What format 1 wrote when it was introduced must keep reading as the same handoff.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/handoff-v1.msgpack"
    );
    if std::env::var_os("CLOSELOOP_WRITE_FIXTURES").is_some() {
        std::fs::write(path, &stored).unwrap();
    }
    let fixture = std::fs::read(path).expect("tests/fixtures/handoff-v1.msgpack");
    assert_eq!(decode_handoff(&fixture).unwrap(), h);

    let mut future = stored.clone();
    future[0] = 2;
    assert!(matches!(decode_handoff(&future), Err(Problem::Internal(_))));
    assert!(matches!(decode_handoff(&[]), Err(Problem::Internal(_))));
}

async fn store() -> (TestDatabase, Store) {
    let t = TestDatabase::new().await;
    let db = Db::connect(&t.settings).await.unwrap();
    db.migrate(&MIGRATIONS).await.unwrap();
    (t, Store::new(db))
}

#[tokio::test]
async fn two_transactions_starting_one_order_meet_on_its_key() {
    let (_t, store) = store().await;
    let first = started("race", id(1));
    let second = started("race", id(2));

    let mut a = store.db().transaction().await.unwrap();
    assert!(store.insert_handoff(&mut a, &first).await.unwrap());
    // The second starts while the first is not committed: it waits for it (PostgreSQL on the
    // key, SQLite for the writer), then finds the order taken.
    let racing = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut b = store.db().transaction().await.unwrap();
            let inserted = store.insert_handoff(&mut b, &second).await.unwrap();
            let found = store
                .handoff_of_order(&mut b, second.order())
                .await
                .unwrap();
            b.commit().await.unwrap();
            (inserted, found)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    a.commit().await.unwrap();
    let (inserted, found) = racing.await.unwrap();
    assert!(!inserted, "one handoff per order");
    assert_eq!(found, Some(first.clone()));
    assert_eq!(
        store.find_handoff_of_order(first.order()).await.unwrap(),
        Some(first)
    );
    assert_eq!(store.get_handoff(&id(2)).await.unwrap(), None);
}

#[tokio::test]
async fn saves_check_the_version() {
    let (_t, store) = store().await;
    let mut h = started("v", id(1));
    let mut tx = store.db().transaction().await.unwrap();
    store.insert_handoff(&mut tx, &h).await.unwrap();
    tx.commit().await.unwrap();

    let stale = h.clone();
    h.notes = "first".into();
    h.version += 1;
    let mut tx = store.db().transaction().await.unwrap();
    store.save_handoff(&mut tx, &h).await.unwrap();
    tx.commit().await.unwrap();

    // A writer that read version 1 loses.
    let mut late = stale;
    late.notes = "late".into();
    late.version += 1;
    let mut tx = store.db().transaction().await.unwrap();
    assert!(matches!(
        store.save_handoff(&mut tx, &late).await,
        Err(Problem::Aborted(_))
    ));
    drop(tx);
    assert_eq!(
        store.get_handoff(&h.id).await.unwrap().unwrap().notes,
        "first"
    );
}

#[tokio::test]
async fn pending_prefills_are_found_oldest_first_until_filled() {
    let (_t, store) = store().await;
    let mut tx = store.db().transaction().await.unwrap();
    for n in 1..=3 {
        let h = started(&format!("p{n}"), id(n));
        store.insert_handoff(&mut tx, &h).await.unwrap();
    }
    tx.commit().await.unwrap();
    let pending = |after: Option<HandoffId>, limit| {
        let store = store.clone();
        async move { store.pending_prefills(after.as_ref(), limit).await.unwrap() }
    };
    assert_eq!(
        pending(None, 2).await,
        [
            PendingPrefill {
                id: id(1),
                opportunity: "opportunities/p-p1".into()
            },
            PendingPrefill {
                id: id(2),
                opportunity: "opportunities/p-p2".into()
            },
        ]
    );
    assert_eq!(pending(Some(id(2)), 2).await.len(), 1);

    let mut h = store.get_handoff(&id(2)).await.unwrap().unwrap();
    h.prefill(OpportunityFacts::default(), T0 + HOUR).unwrap();
    h.version += 1;
    let mut tx = store.db().transaction().await.unwrap();
    store.save_handoff(&mut tx, &h).await.unwrap();
    tx.commit().await.unwrap();
    let ids: Vec<HandoffId> = pending(None, 10).await.into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [id(1), id(3)]);
}
