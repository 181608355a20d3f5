//! The opportunities store against a real database: SQLite by default, PostgreSQL when
//! `CLOSELOOP_TEST_DATABASE_URL` names a server. One suite, both backends.

use closeloop_kit::Problem;
use closeloop_kit::db::Db;
use closeloop_kit::testing::TestDatabase;
use closeloop_kit::time::epoch_days;
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_opportunities::domain::opportunity::{
    Actor, Closing, Kind, LossReason, NewLineItem, Opportunity, Outcome,
};
use closeloop_opportunities::domain::policy::Policy;
use closeloop_opportunities::domain::stage::{ForecastCategory, Stage};
use closeloop_opportunities::fixtures::{
    self, eur, full_opportunity, line_item, oid, opportunity, passing_answers,
};
use closeloop_opportunities::store::{
    ListFilter, MAX_INSERT_ROWS, MIGRATIONS, NewRow, ReportScope, Store, document,
};
use time::macros::date;

async fn store() -> (TestDatabase, Store) {
    let t = TestDatabase::new().await;
    let db = Db::connect(&t.settings).await.unwrap();
    db.migrate(&MIGRATIONS).await.unwrap();
    // Migrating twice is a no-op.
    db.migrate(&MIGRATIONS).await.unwrap();
    (t, Store::new(db, Policy::default()))
}

fn actor() -> Actor {
    fixtures::actor("sales_rep")
}

fn priced(o: &mut Opportunity, sold: i64) {
    o.add_line_item(line_item(1_200, sold, 100, 1), 1).unwrap();
}

fn win(o: &mut Opportunity, p: &Policy) {
    o.move_to(Stage::Qualification, actor(), p, 10).unwrap();
    o.qualify(passing_answers(), actor(), 11).unwrap();
    o.move_to(Stage::Proposal, actor(), p, 12).unwrap();
    o.close(
        Closing {
            outcome: Outcome::Won,
            close_date: Some(date!(2026 - 06 - 01)),
            loss_reason: None,
            disqualification_reason: None,
            competitor: String::new(),
            notes: String::new(),
        },
        actor(),
        p,
        date!(2026 - 06 - 01),
        86_400_000_000 * 3,
    )
    .unwrap();
}

async fn insert(store: &Store, o: &Opportunity) -> Result<(), Problem> {
    let row = NewRow {
        opportunity: o.clone(),
        document: Store::document(o).unwrap(),
    };
    let mut tx = store.db().transaction().await.unwrap();
    store.insert_rows(&mut tx, &[&row]).await?;
    tx.commit().await.unwrap();
    Ok(())
}

/// Saves `o` (changed in memory from `previous_version`) like the application does.
async fn save(
    store: &Store,
    o: &mut Opportunity,
    previous_version: i64,
    history_before: usize,
) -> Result<(), Problem> {
    o.version = previous_version + 1;
    let mut tx = store.db().transaction().await.unwrap();
    let owner = o.owner.clone();
    store
        .save(
            &mut tx,
            o,
            previous_version,
            &owner,
            &o.stage_history[history_before..],
        )
        .await?;
    tx.commit().await.unwrap();
    Ok(())
}

#[tokio::test]
async fn inserted_opportunities_read_back_whole() {
    let (_t, store) = store().await;
    let mut o = opportunity("0001", "ana", Kind::NewBusiness, "acme");
    priced(&mut o, 1_000);
    insert(&store, &o).await.unwrap();
    assert_eq!(store.get(&oid("0001")).await.unwrap(), Some(o.clone()));
    assert_eq!(store.get(&oid("nope")).await.unwrap(), None);
    assert!(matches!(
        insert(&store, &o).await,
        Err(Problem::AlreadyExists(_))
    ));
}

/// Documents stored by earlier builds, kept as files: compact (arrays, before the format byte
/// and before approvals were kept whole) and with field names (maps).
const V1_COMPACT: &[u8] = include_bytes!("fixtures/v1-compact.msgpack");
const V1_NAMED: &[u8] = include_bytes!("fixtures/v1-named.msgpack");

#[test]
fn documents_stored_by_earlier_builds_still_read_after_fields_were_added() {
    let o = full_opportunity();
    // The line item's approval then was one field; it is now the first of its history.
    assert_eq!(o.line_items[0].approvals.len(), 1);
    assert_eq!(document::decode(V1_COMPACT).unwrap(), o);
    assert_eq!(document::decode(V1_NAMED).unwrap(), o);
}

#[test]
fn documents_are_compact_carry_their_format_and_refuse_unknown_ones() {
    let o = full_opportunity();
    let stored = document::encode(&o).unwrap();
    assert_eq!(stored[0], 1, "format 1");
    assert!(
        stored.len() * 3 < V1_NAMED.len() * 2,
        "{} bytes compact, {} with names",
        stored.len(),
        V1_NAMED.len()
    );
    assert_eq!(document::decode(&stored).unwrap(), o);
    let mut future = stored.clone();
    future[0] = 2;
    assert!(matches!(
        document::decode(&future),
        Err(Problem::Internal(_))
    ));
    assert!(matches!(document::decode(&[]), Err(Problem::Internal(_))));
}

/// Databases made before documents moved into the opportunities table keep their documents.
#[tokio::test]
async fn documents_of_the_two_table_layout_survive_the_migration() {
    use closeloop_kit::db::Migrations;
    let t = TestDatabase::new().await;
    let db = Db::connect(&t.settings).await.unwrap();
    let first = Migrations {
        sqlite: &MIGRATIONS.sqlite[..1],
        postgres: &MIGRATIONS.postgres[..1],
    };
    db.migrate(&first).await.unwrap();
    let o = full_opportunity();
    let mut tx = db.transaction().await.unwrap();
    sqlx::query(
        "INSERT INTO opportunities (id, owner, account_id, stage, kind, is_open, currency, \
         amount_minor, list_amount_minor, forecast_category, forecast_day, create_day, \
         competitor, competitor_key, version) \
         VALUES ('0190-full', 'ana', 'acme', 'CLOSED_WON', 'RENEWAL', 0, 'EUR', 9000, 12000, \
         'CLOSED', 0, 0, '', '', 6)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO opportunity_documents (id, body) VALUES ('0190-full', $1)")
        .bind(V1_NAMED.to_vec())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    db.migrate(&MIGRATIONS).await.unwrap();
    let store = Store::new(db, Policy::default());
    assert_eq!(store.get(&oid("0190-full")).await.unwrap(), Some(o.clone()));
    let listed = store.list(&ListFilter::default(), None, 10).await.unwrap();
    assert_eq!(listed.opportunities, [o]);
}

#[tokio::test]
async fn saves_check_the_version_and_append_history() {
    let (_t, store) = store().await;
    let p = Policy::default();
    let mut o = opportunity("0001", "ana", Kind::NewBusiness, "acme");
    insert(&store, &o).await.unwrap();

    let before = o.stage_history.len();
    o.move_to(Stage::Qualification, actor(), &p, 5).unwrap();
    save(&store, &mut o, 1, before).await.unwrap();
    assert_eq!(store.get(&oid("0001")).await.unwrap().unwrap().version, 2);

    // A writer that read version 1 loses.
    let mut stale = o.clone();
    stale.title = "stale".into();
    assert!(matches!(
        save(&store, &mut stale, 1, 1).await,
        Err(Problem::Aborted(_))
    ));
    assert_eq!(
        store.get(&oid("0001")).await.unwrap().unwrap().title,
        "acme deal"
    );

    let durations = store.stage_durations(&[], 0, 100).await.unwrap();
    assert_eq!(durations.len(), 1);
    assert_eq!(durations[0].stage, Stage::Prospecting);
    assert_eq!(durations[0].exits, 1);
    assert_eq!(durations[0].average_micros, 5);
    assert!(
        store
            .stage_durations(&["bob".into()], 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn listing_pages_by_id_with_every_filter() {
    let (_t, store) = store().await;
    let p = Policy::default();
    for i in 0..10 {
        let owner = if i % 2 == 0 { "ana" } else { "bob" };
        let kind = if i < 5 {
            Kind::NewBusiness
        } else {
            Kind::Expansion
        };
        let mut o = opportunity(
            &format!("{i:04}"),
            owner,
            kind,
            if i < 3 { "acme" } else { "globex" },
        );
        if i == 9 {
            priced(&mut o, 1_150);
            win(&mut o, &p);
        }
        insert(&store, &o).await.unwrap();
    }
    let ids = |v: Vec<Opportunity>| v.into_iter().map(|o| o.id.to_string()).collect::<Vec<_>>();
    let all = ListFilter::default();
    assert_eq!(
        ids(store.list(&all, None, 3).await.unwrap().opportunities),
        ["0000", "0001", "0002"]
    );
    assert_eq!(
        ids(store
            .list(&all, Some("0002"), 3)
            .await
            .unwrap()
            .opportunities),
        ["0003", "0004", "0005"]
    );
    assert_eq!(
        ids(store
            .list(&all, Some("0009"), 3)
            .await
            .unwrap()
            .opportunities),
        Vec::<String>::new()
    );
    let ana = ListFilter {
        owner: Some("ana".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store
            .list(&ana, Some("0002"), 10)
            .await
            .unwrap()
            .opportunities),
        ["0004", "0006", "0008"]
    );
    let acme = ListFilter {
        account_id: Some("acme".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list(&acme, None, 10).await.unwrap().opportunities),
        ["0000", "0001", "0002"]
    );
    let expansion_bob = ListFilter {
        kind: Some(Kind::Expansion),
        owner: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store
            .list(&expansion_bob, None, 10)
            .await
            .unwrap()
            .opportunities),
        ["0005", "0007", "0009"]
    );
    let won = ListFilter {
        stage: Some(Stage::ClosedWon),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list(&won, None, 10).await.unwrap().opportunities),
        ["0009"]
    );
    let open = ListFilter {
        open_only: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .list(&open, None, 100)
            .await
            .unwrap()
            .opportunities
            .len(),
        9
    );
    assert_ne!(ana.fingerprint(), all.fingerprint());
}

#[tokio::test]
async fn report_sums_match_the_opportunities() {
    let (_t, store) = store().await;
    let p = Policy::default();
    // Open: 1,000 in PROSPECTING (10%), 1,100 in QUALIFICATION with a 55% override.
    let mut a = opportunity("0001", "ana", Kind::NewBusiness, "acme");
    priced(&mut a, 1_000);
    insert(&store, &a).await.unwrap();
    let mut b = opportunity("0002", "ana", Kind::Expansion, "acme");
    priced(&mut b, 1_100);
    b.move_to(Stage::Qualification, actor(), &p, 2).unwrap();
    b.probability_override = Some(55);
    insert(&store, &b).await.unwrap();
    // Won: a renewal at 1,150 (prior 1,000), closed 2026-06-01, created on day 0.
    let mut c = opportunity("0003", "bob", Kind::Renewal, "globex");
    priced(&mut c, 1_150);
    win(&mut c, &p);
    insert(&store, &c).await.unwrap();
    // Lost to "Initech" twice (different spelling), once on price.
    for (id, reason, competitor) in [
        ("0004", LossReason::Competitor, "Initech"),
        ("0005", LossReason::Competitor, "INITECH"),
        ("0006", LossReason::Price, ""),
    ] {
        let mut l = opportunity(id, "bob", Kind::NewBusiness, "x");
        priced(&mut l, 500);
        l.close(
            Closing {
                outcome: Outcome::Lost,
                close_date: Some(date!(2026 - 07 - 01)),
                loss_reason: Some(reason),
                disqualification_reason: None,
                competitor: competitor.into(),
                notes: String::new(),
            },
            actor(),
            &p,
            date!(2026 - 07 - 01),
            5,
        )
        .unwrap();
        insert(&store, &l).await.unwrap();
    }
    // Another currency is not counted.
    let mut usd = opportunity("0007", "ana", Kind::NewBusiness, "y");
    usd.currency = CurrencyCode::parse("USD").unwrap();
    insert(&store, &usd).await.unwrap();

    let scope = |owners: Vec<String>| ReportScope {
        owners,
        start_day: epoch_days(date!(2026 - 01 - 01)),
        end_day: epoch_days(date!(2026 - 12 - 31)),
        currency: "EUR".into(),
    };
    let mut rows = store.forecast(&scope(vec![])).await.unwrap();
    rows.sort_by_key(|r| (r.category, r.open));
    let summary: Vec<(ForecastCategory, bool, i64, i64, i64)> = rows
        .iter()
        .map(|r| (r.category, r.open, r.count, r.amount, r.weighted))
        .collect();
    assert_eq!(
        summary,
        [
            (ForecastCategory::Pipeline, true, 2, 2_100, 100 + 605),
            (ForecastCategory::Closed, false, 1, 1_150, 1_150),
            (ForecastCategory::Omitted, false, 3, 1_500, 0),
        ]
    );
    let ana_only = store.forecast(&scope(vec!["ana".into()])).await.unwrap();
    assert_eq!(ana_only.iter().map(|r| r.count).sum::<i64>(), 2);
    // A period that excludes everything.
    let empty = ReportScope {
        start_day: 0,
        end_day: 1,
        ..scope(vec![])
    };
    assert!(store.forecast(&empty).await.unwrap().is_empty());

    let mut outcomes = store.outcomes(&scope(vec![])).await.unwrap();
    outcomes.sort_by_key(|r| r.stage);
    assert_eq!(outcomes.len(), 2);
    assert_eq!(
        (outcomes[0].stage, outcomes[0].count, outcomes[0].amount),
        (Stage::ClosedWon, 1, 1_150)
    );
    assert_eq!(outcomes[0].cycle_days, epoch_days(date!(2026 - 06 - 01)));
    assert_eq!(
        (outcomes[1].stage, outcomes[1].count, outcomes[1].amount),
        (Stage::ClosedLost, 3, 1_500)
    );

    let mut reasons = store.loss_reasons(&scope(vec![])).await.unwrap();
    reasons.sort_by_key(|r| r.count);
    assert_eq!(
        reasons
            .iter()
            .map(|r| (r.reason, r.count))
            .collect::<Vec<_>>(),
        [(LossReason::Price, 1), (LossReason::Competitor, 2)]
    );
    let competitors = store.competitors(&scope(vec![])).await.unwrap();
    assert_eq!(competitors.len(), 1);
    assert_eq!((competitors[0].count, competitors[0].amount), (2, 1_000));

    let won = store.won(&scope(vec![])).await.unwrap();
    assert_eq!(won.len(), 1);
    assert_eq!(
        (
            won[0].owner.as_str(),
            won[0].kind,
            won[0].amount,
            won[0].list_amount,
            won[0].prior_value
        ),
        ("bob", Kind::Renewal, 1_150, 1_200, 1_000)
    );
}

#[tokio::test]
async fn bulk_inserts_are_all_or_nothing() {
    let (_t, store) = store().await;
    let batch: Vec<Opportunity> = (0..50)
        .map(|i| opportunity(&format!("{i:04}"), "ana", Kind::NewBusiness, "a"))
        .collect();
    store.insert_many(&batch).await.unwrap();
    assert_eq!(
        store
            .list(&ListFilter::default(), None, 100)
            .await
            .unwrap()
            .opportunities
            .len(),
        50
    );
    // A batch with a duplicate inserts nothing.
    let mut again: Vec<Opportunity> = (50..60)
        .map(|i| opportunity(&format!("{i:04}"), "ana", Kind::NewBusiness, "a"))
        .collect();
    again.push(batch[0].clone());
    assert!(store.insert_many(&again).await.is_err());
    assert_eq!(
        store
            .list(&ListFilter::default(), None, 100)
            .await
            .unwrap()
            .opportunities
            .len(),
        50
    );
}

/// New opportunities inserted in one statement without a transaction are all or nothing too.
#[tokio::test]
async fn new_opportunities_in_one_statement_are_all_or_nothing() {
    let (_t, store) = store().await;
    let rows = |range: std::ops::Range<usize>| -> Vec<NewRow> {
        range
            .map(|i| {
                let o = opportunity(&format!("{i:04}"), "ana", Kind::NewBusiness, "a");
                NewRow {
                    document: Store::document(&o).unwrap(),
                    opportunity: o,
                }
            })
            .collect()
    };
    let count = || async {
        store
            .list(&ListFilter::default(), None, 1000)
            .await
            .unwrap()
            .opportunities
            .len()
    };
    // Outside a transaction, on a writer connection, as a group commit without request_ids.
    let mut conn = store.db().writes().acquire().await.unwrap();
    let first = rows(0..MAX_INSERT_ROWS);
    let refs: Vec<&NewRow> = first.iter().collect();
    store.insert_rows(&mut conn, &refs).await.unwrap();
    assert_eq!(count().await, MAX_INSERT_ROWS);
    assert_eq!(
        store.get(&oid("0003")).await.unwrap(),
        Some(first[3].opportunity.clone())
    );
    // A duplicate id fails the statement: none of its rows is there.
    let again = rows(100..110);
    let mut refs: Vec<&NewRow> = again.iter().collect();
    refs.push(&first[0]);
    assert!(matches!(
        store.insert_rows(&mut conn, &refs).await,
        Err(Problem::AlreadyExists(_))
    ));
    assert_eq!(count().await, MAX_INSERT_ROWS);
}

fn lost_to(o: &mut Opportunity, competitor: &str, p: &Policy) {
    o.close(
        Closing {
            outcome: Outcome::Lost,
            close_date: Some(date!(2026 - 07 - 01)),
            loss_reason: Some(LossReason::Competitor),
            disqualification_reason: None,
            competitor: competitor.into(),
            notes: String::new(),
        },
        actor(),
        p,
        date!(2026 - 07 - 01),
        5,
    )
    .unwrap();
}

#[tokio::test]
async fn competitor_names_group_the_same_on_every_backend() {
    let (_t, store) = store().await;
    let p = Policy::default();
    for (i, name) in ["Ölwerk", "ölwerk", "Ölwerk", "Acme", "ACME  "]
        .iter()
        .enumerate()
    {
        let mut o = opportunity(&format!("{i:04}"), "bob", Kind::NewBusiness, "x");
        priced(&mut o, 1_150);
        lost_to(&mut o, name, &p);
        insert(&store, &o).await.unwrap();
    }
    let scope = ReportScope {
        owners: vec![],
        start_day: epoch_days(date!(2026 - 01 - 01)),
        end_day: epoch_days(date!(2026 - 12 - 31)),
        currency: "EUR".into(),
    };
    let mut rows = store.competitors(&scope).await.unwrap();
    rows.sort_by(|a, b| a.competitor.cmp(&b.competitor));
    let summary: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| (r.competitor.as_str(), r.count))
        .collect();
    assert_eq!(summary, [("ACME", 2), ("Ölwerk", 3)]);
}

#[tokio::test]
async fn report_sums_beyond_the_largest_integer_saturate_instead_of_failing() {
    let (_t, store) = store().await;
    // 9,300 opportunities at the largest amount: their sum exceeds a 64-bit integer.
    let batch: Vec<Opportunity> = (0..9_300)
        .map(|i| {
            let mut o = opportunity(&format!("{i:06}"), "ana", Kind::NewBusiness, "a");
            o.add_line_item(
                NewLineItem {
                    product_id: "p".into(),
                    product_name: "P".into(),
                    quantity: 1_000_000_000,
                    list_unit: Money::new(eur(), 1_000_000),
                    sold_unit: Money::new(eur(), 1_000_000),
                    unit_cost: Money::new(eur(), 0),
                },
                1,
            )
            .unwrap();
            o
        })
        .collect();
    store.insert_many(&batch).await.unwrap();
    let scope = ReportScope {
        owners: vec![],
        start_day: epoch_days(date!(2026 - 01 - 01)),
        end_day: epoch_days(date!(2026 - 12 - 31)),
        currency: "EUR".into(),
    };
    let rows = store.forecast(&scope).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].count, 9_300);
    assert_eq!(rows[0].amount, i64::MAX);
    assert_eq!(rows[0].weighted, 930_000_000_000_000_000);
}

/// Weighted amounts are the domain's, stored at save; a service started with other stage
/// probabilities weighs the stored rows again before reports read them.
#[tokio::test]
async fn a_change_of_stage_probabilities_weighs_stored_opportunities_again() {
    let t = TestDatabase::new().await;
    let db = Db::connect(&t.settings).await.unwrap();
    db.migrate(&MIGRATIONS).await.unwrap();
    let store = Store::new(db.clone(), Policy::default());
    assert_eq!(
        store.reweigh().await.unwrap(),
        0,
        "an empty store records its policy"
    );
    let mut o = opportunity("0001", "ana", Kind::NewBusiness, "acme");
    priced(&mut o, 1_000);
    o.move_to(Stage::Qualification, actor(), &Policy::default(), 2)
        .unwrap();
    insert(&store, &o).await.unwrap();
    let scope = ReportScope {
        owners: vec![],
        start_day: epoch_days(date!(2026 - 01 - 01)),
        end_day: epoch_days(date!(2026 - 12 - 31)),
        currency: "EUR".into(),
    };
    let weighted = |rows: Vec<closeloop_opportunities::domain::reports::ForecastRow>| {
        rows.iter().map(|r| r.weighted).sum::<i64>()
    };
    assert_eq!(
        weighted(store.forecast(&scope).await.unwrap()),
        200,
        "20% of 1,000"
    );
    assert_eq!(
        store.reweigh().await.unwrap(),
        0,
        "same policy: nothing to do"
    );

    let raised = Policy {
        qualification_probability: 35,
        ..Policy::default()
    };
    let restarted = Store::new(db, raised);
    assert_eq!(restarted.reweigh().await.unwrap(), 1);
    assert_eq!(weighted(restarted.forecast(&scope).await.unwrap()), 350);
    assert_eq!(restarted.reweigh().await.unwrap(), 0);

    // A row an older replica wrote without a weight is weighed at the next start.
    sqlx::query("UPDATE opportunities SET weighted_minor = NULL")
        .execute(restarted.db().writes())
        .await
        .unwrap();
    assert_eq!(weighted(restarted.forecast(&scope).await.unwrap()), 0);
    assert_eq!(restarted.reweigh().await.unwrap(), 1);
    assert_eq!(weighted(restarted.forecast(&scope).await.unwrap()), 350);
}
