//! The benchmark's data: opportunities built through the domain API (so every one is a state
//! the service itself could have reached) and bulk-loaded through the store before the service
//! starts, a transaction of [`BATCH`] at a time.
//!
//! Opportunity `i` is a pure function of `i`: its id is a UUIDv7 whose time is its creation time,
//! creation times rise with `i` across the past year, so id order is index order. The load
//! generator recomputes ids from indexes, and the page 1,000 pages deep starts after id
//! `50,000 − 1`, without reading the database.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use closeloop_kit::db::{Backend, Db, Migrations};
use closeloop_kit::paging::PageTokens;
use closeloop_kit::settings::DatabaseSettings;
use closeloop_kit::time::date_of_micros;
use closeloop_kit::types::{CurrencyCode, Email, Money};
use closeloop_opportunities::api::responses;
use closeloop_opportunities::domain::opportunity::{
    Actor, Closing, Contact, DisqualificationReason, EvaluationProcess, EvaluationStep, Kind,
    LossReason, NewLineItem, NewOpportunity, NextStep, Objective, Opportunity, OpportunityId,
    Outcome, Party, QualificationAnswers, Source, Stakeholder, StakeholderRole,
};
use closeloop_opportunities::domain::policy::Policy;
use closeloop_opportunities::domain::stage::Stage;
use closeloop_opportunities::store::{MIGRATIONS, Store};
use closeloop_proto::opportunities::v1 as pb;
use prost::Message;
use tokio::task::JoinSet;

use super::report::group;
use super::rng::{Rng, mix};

/// Opportunities per transaction.
pub const BATCH: u64 = 5_000;
/// The currency most opportunities use, and the one the forecast workload reports in.
pub const MAIN_CURRENCY: &str = "EUR";
/// Distinct owners; the benchmark reads as a sales manager, who sees them all.
pub const OWNERS: u64 = 50;

const YEAR_MICROS: i64 = 365 * 86_400_000_000;
const SEED: u64 = 0x636c_6f73_656c_6f6f;
const ACCOUNTS: u64 = 5_000;
/// Products sold, with their list unit price (minor units).
pub(super) const PRODUCTS: [(&str, &str, i64); 8] = [
    ("sku-seat", "Seat licence", 12_000),
    ("sku-seat-pro", "Seat licence, professional", 24_000),
    ("sku-onboard", "Onboarding package", 450_000),
    ("sku-support", "Premium support", 180_000),
    ("sku-api", "API access", 90_000),
    ("sku-storage", "Storage, 1 TB", 6_000),
    ("sku-training", "Training day", 150_000),
    ("sku-audit", "Security audit", 900_000),
];
const COMPETITORS: [&str; 5] = ["Globex", "Initech", "Umbrella", "Hooli", "Vandelay"];
pub(super) const FIRST_NAMES: [&str; 8] = [
    "ana", "ben", "chloe", "dev", "elif", "farid", "greta", "hugo",
];
pub(super) const LAST_NAMES: [&str; 8] = [
    "silva", "meyer", "okafor", "tanaka", "novak", "haddad", "larsen", "rossi",
];
pub(super) const TITLES: [&str; 5] = ["CFO", "CTO", "Head of Operations", "IT Manager", "Buyer"];

/// The preloaded opportunities, described by their count and the instant they were generated
/// at.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// How many.
    pub size: u64,
    /// Creation time of opportunity 0 (µs since the epoch), a year before the run.
    start_micros: i64,
    /// Time between two consecutive creations (µs, a multiple of 1 ms so ids stay ordered).
    step_micros: i64,
    /// The run's "now" (µs): every generated change happened before it.
    now_micros: i64,
}

impl Dataset {
    /// `size` opportunities created over the year before `now_micros`.
    pub fn new(size: u64, now_micros: i64) -> Dataset {
        let step_ms = (YEAR_MICROS / 1000 / size.max(1) as i64).max(1);
        Dataset {
            size,
            start_micros: now_micros - YEAR_MICROS,
            step_micros: step_ms * 1000,
            now_micros,
        }
    }

    fn create_micros(&self, index: u64) -> i64 {
        self.start_micros + index as i64 * self.step_micros
    }

    /// The id of opportunity `index`: a UUIDv7 at its creation millisecond, so ids sort like
    /// indexes.
    pub fn id(&self, index: u64) -> String {
        let millis = (self.create_micros(index) / 1000) as u64;
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&mix(index ^ SEED).to_be_bytes());
        random[8..].copy_from_slice(&(mix(index) as u16).to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(millis, &random)
            .into_uuid()
            .to_string()
    }

    /// Opportunity `index`: 1–5 line items, then walked through the stages to its fate (open in
    /// some stage, won, lost or disqualified), every step at an increasing time before now.
    ///
    /// # Errors
    /// When the domain refuses a step: a bug in this generator.
    pub fn opportunity(&self, index: u64, policy: &Policy) -> anyhow::Result<Opportunity> {
        let mut rng = Rng::new(mix(index.wrapping_add(SEED)));
        let created = self.create_micros(index);
        let (new, owner) = new_opportunity(&mut rng, created);
        let id = OpportunityId::parse(&self.id(index)).map_err(anyhow::Error::msg)?;
        let mut o = Opportunity::create(id, new, owner, Stage::Prospecting, created)?;
        // Ten evenly spaced instants between creation and now for the changes below.
        let tick = ((self.now_micros - created) / 10).max(1);
        let at = |k: i64| created + k * tick;
        let rep = Actor {
            subject: o.owner.clone(),
            role: "sales_rep".into(),
        };
        let manager = Actor {
            subject: "mgr-001".into(),
            role: "sales_manager".into(),
        };

        for k in 0..rng.between(1, 5) {
            let (product_id, product_name, list) = *rng.pick(&PRODUCTS);
            // Most discounts stay under the 10% approval threshold; a third go deeper (≤ 25%).
            let discount = if rng.chance(33) {
                rng.between(1001, 2500)
            } else {
                rng.between(0, 1000)
            };
            let sold = list - list * discount / 10_000;
            // Cost 20–55% of list keeps the margin above the 20% floor even at 25% off.
            let cost = list * rng.between(20, 55) / 100;
            o.add_line_item(
                NewLineItem {
                    product_id: product_id.into(),
                    product_name: product_name.into(),
                    quantity: rng.between(1, 200),
                    list_unit: Money::new(o.currency, list),
                    sold_unit: Money::new(o.currency, sold),
                    unit_cost: Money::new(o.currency, cost),
                },
                at(1) + k,
            )?;
        }

        let fate = rng.below(100);
        let (reach, outcome) = match fate {
            0..30 => (Stage::Prospecting, None),
            30..45 => (Stage::Qualification, None),
            45..58 => (Stage::Proposal, None),
            58..68 => (Stage::Negotiation, None),
            68..83 => (
                *rng.pick(&[Stage::Proposal, Stage::Negotiation]),
                Some(Outcome::Won),
            ),
            83..97 => (*rng.pick(&Stage::OPEN), Some(Outcome::Lost)),
            _ => (
                *rng.pick(&[Stage::Prospecting, Stage::Qualification]),
                Some(Outcome::Disqualified),
            ),
        };
        if reach >= Stage::Qualification {
            o.move_to(Stage::Qualification, rep.clone(), policy, at(2))?;
            o.qualify(
                QualificationAnswers {
                    client_benefit: true,
                    realistic_expectations: true,
                    mature_partner: true,
                    notes: "Budget confirmed with the CFO.".into(),
                },
                rep.clone(),
                at(3),
            )?;
        }
        if reach >= Stage::Proposal {
            o.move_to(Stage::Proposal, rep.clone(), policy, at(4))?;
        }
        if reach >= Stage::Negotiation || outcome == Some(Outcome::Won) {
            let deep: Vec<String> = o
                .line_items
                .iter()
                .filter(|li| li.lacks_approval(policy))
                .map(|li| li.id.clone())
                .collect();
            for id in deep {
                o.approve_discount(
                    &id,
                    "Multi-year commitment".into(),
                    manager.clone(),
                    policy,
                    at(5),
                )?;
            }
        }
        if reach >= Stage::Negotiation {
            o.move_to(Stage::Negotiation, rep.clone(), policy, at(6))?;
        }
        if let Some(outcome) = outcome {
            let closed = at(8);
            let loss_reason = (outcome == Outcome::Lost).then(|| *rng.pick(&LossReason::ALL));
            let disqualification_reason = (outcome == Outcome::Disqualified).then(|| {
                *rng.pick(&[
                    DisqualificationReason::NoClientBenefit,
                    DisqualificationReason::NoBudget,
                    DisqualificationReason::MarginTooLow,
                ])
            });
            let competitor = if loss_reason == Some(LossReason::Competitor) || rng.chance(20) {
                (*rng.pick(&COMPETITORS)).to_owned()
            } else {
                String::new()
            };
            o.close(
                Closing {
                    outcome,
                    close_date: None,
                    loss_reason,
                    disqualification_reason,
                    competitor,
                    notes: "Decided at the steering committee.".into(),
                },
                rep,
                policy,
                date_of_micros(closed),
                closed,
            )?;
        }
        Ok(o)
    }

    /// A CreateOpportunity request's opportunity, as a client fills it in (no output-only
    /// fields), varied by `seq`.
    pub fn create_request(&self, seq: u64) -> pb::Opportunity {
        let mut rng = Rng::new(mix(seq ^ !SEED));
        let (new, owner) = new_opportunity(&mut rng, self.now_micros);
        let o = Opportunity::create(OpportunityId::new(), new, owner, Stage::Prospecting, 0)
            .expect("generated opportunities are valid");
        let full = responses::opportunity(o, &Policy::default());
        pb::Opportunity {
            account: full.account,
            owner: full.owner,
            title: full.title,
            description: full.description,
            kind: full.kind,
            source: full.source,
            currency_code: full.currency_code,
            expected_close_date: full.expected_close_date,
            stakeholders: full.stakeholders,
            objectives: full.objectives,
            evaluation_process: full.evaluation_process,
            next_step: full.next_step,
            prior_contract_value: full.prior_contract_value,
            referring_account: full.referring_account,
            ..Default::default()
        }
    }
}

/// The fields a salesperson types in, for an opportunity created at `created` (µs).
fn new_opportunity(rng: &mut Rng, created: i64) -> (NewOpportunity, String) {
    let currency = CurrencyCode::parse(match rng.below(100) {
        0..85 => MAIN_CURRENCY,
        85..95 => "USD",
        _ => "GBP",
    })
    .expect("known currencies");
    let account_no = rng.below(ACCOUNTS);
    let account = Party {
        account_id: format!("acct-{account_no:05}"),
        display_name: format!("Customer {account_no} GmbH"),
    };
    let kind = match rng.below(100) {
        0..60 => Kind::NewBusiness,
        60..85 => Kind::Expansion,
        _ => Kind::Renewal,
    };
    let source = match kind {
        Kind::Renewal => Source::Renewal,
        Kind::Expansion => *rng.pick(&[Source::AccountExpansion, Source::Inbound]),
        Kind::NewBusiness => *rng.pick(&[Source::Prospecting, Source::Inbound, Source::Referral]),
    };
    let referring_account = (source == Source::Referral).then(|| {
        let n = rng.below(ACCOUNTS);
        Party {
            account_id: format!("acct-{n:05}"),
            display_name: format!("Customer {n} GmbH"),
        }
    });
    let prior_contract_value =
        (kind == Kind::Renewal).then(|| Money::new(currency, rng.between(100_000, 5_000_000)));
    let stakeholders = (0..rng.between(1, 3))
        .map(|k| {
            let first = *rng.pick(&FIRST_NAMES);
            let last = *rng.pick(&LAST_NAMES);
            Stakeholder {
                contact: Contact {
                    display_name: format!("{first} {last}"),
                    email: Email::parse(&format!("{first}.{last}@customer{account_no}.example"))
                        .expect("well-formed address"),
                    phone: format!("+49 30 {:07}", rng.below(10_000_000)),
                    title: (*rng.pick(&TITLES)).to_owned(),
                },
                role: *rng.pick(&[
                    StakeholderRole::DecisionMaker,
                    StakeholderRole::EconomicBuyer,
                    StakeholderRole::Champion,
                    StakeholderRole::TechnicalEvaluator,
                ]),
                primary: k == 0,
            }
        })
        .collect();
    let created_date = date_of_micros(created);
    let expected_close_date = created_date + time::Duration::days(rng.between(14, 200));
    let evaluation = EvaluationProcess {
        criteria: vec!["SOC 2 report".into(), "ROI within 12 months".into()],
        steps: vec![EvaluationStep {
            description: "Technical review".into(),
            due_date: Some(created_date + time::Duration::days(rng.between(7, 30))),
            completed: rng.chance(50),
        }],
        time_frame: None,
    };
    let owner = format!("rep-{:03}", rng.below(OWNERS));
    let new = NewOpportunity {
        title: format!("{} for customer {account_no}", rng.pick(&PRODUCTS).1),
        description: "Replace the spreadsheets the team uses today; rollout to two sites first."
            .into(),
        account,
        owner: owner.clone(),
        kind,
        source,
        currency,
        expected_close_date,
        stakeholders,
        objectives: vec![Objective {
            description: "Cut invoice processing time".into(),
            success_measure: "Under 2 days by the end of the quarter".into(),
        }],
        evaluation,
        next_step: Some(NextStep {
            description: "Send the revised proposal".into(),
            due_date: Some(created_date + time::Duration::days(7)),
        }),
        prior_contract_value,
        referring_account,
        probability_override: None,
        forecast_override: None,
    };
    (new, owner)
}

/// What preloading took.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Wall time of generating and inserting.
    pub elapsed: Duration,
    /// Mean encoded size of a preloaded opportunity as GetOpportunity returns it (bytes).
    pub encoded_bytes: usize,
    /// The page tokens of the database's service (its key is made here, before the service
    /// starts, so the benchmark can issue the deep page's token).
    pub pages: PageTokens,
}

/// Creates the schema in `url` and loads `dataset` into it through [`Store::insert_many`].
///
/// # Errors
/// When the database is unreachable, already holds opportunities, or refuses an insert.
pub async fn load(url: &str, dataset: Dataset) -> anyhow::Result<Loaded> {
    into_empty(
        url,
        "opportunities",
        &MIGRATIONS,
        "opportunities",
        async |db| fill(db, dataset).await,
    )
    .await
}

async fn fill(db: &Db, dataset: Dataset) -> anyhow::Result<Loaded> {
    let policy = Policy::default();
    let store = Store::new(db.clone(), policy.clone());
    // Records the probabilities the rows are weighed with, so the service starts at once.
    store.reweigh().await?;
    // PostgreSQL takes several writers at once; SQLite has one writer, so a second transaction
    // would only wait. Either way generating the next batch overlaps inserting this one.
    let writers = match db.backend() {
        Backend::Postgres => 4,
        Backend::Sqlite => 1,
    };
    let started = Instant::now();
    let batches = dataset.size.div_ceil(BATCH);
    let mut progress = Progress {
        what: "opportunities",
        started,
        total: dataset.size,
        loaded: 0,
        report_every: (dataset.size / 20).max(BATCH),
        reported: 0,
    };
    let mut encoded_bytes = 0;
    let mut inflight = JoinSet::new();
    for batch in 0..batches {
        let range = batch * BATCH..((batch + 1) * BATCH).min(dataset.size);
        let opportunities = range
            .map(|i| dataset.opportunity(i, &policy))
            .collect::<anyhow::Result<Vec<_>>>()
            .context("generating opportunities")?;
        if batch == 0 {
            let total: usize = opportunities
                .iter()
                .map(|o| responses::opportunity(o.clone(), &policy).encoded_len())
                .sum();
            encoded_bytes = total / opportunities.len().max(1);
        }
        while inflight.len() >= writers {
            join_one(&mut inflight, &mut progress).await?;
        }
        let store = store.clone();
        inflight.spawn(async move {
            let count = opportunities.len() as u64;
            store.insert_many(&opportunities).await.map(|()| count)
        });
    }
    while !inflight.is_empty() {
        join_one(&mut inflight, &mut progress).await?;
    }
    let pages = PageTokens::load(db).await?;
    Ok(Loaded {
        elapsed: started.elapsed(),
        encoded_bytes,
        pages,
    })
}

/// Counts loaded items (opportunities, accounts) and says how far loading got every
/// `report_every` items.
pub(super) struct Progress {
    pub what: &'static str,
    pub started: Instant,
    pub total: u64,
    pub loaded: u64,
    pub report_every: u64,
    pub reported: u64,
}

impl Progress {
    fn add(&mut self, count: u64) {
        self.loaded += count;
        if self.loaded - self.reported >= self.report_every || self.loaded == self.total {
            self.reported = self.loaded;
            let rate = self.loaded as f64 / self.started.elapsed().as_secs_f64();
            eprintln!(
                "  preloaded {} / {} {} ({}/s)",
                group(self.loaded as f64, 0),
                group(self.total as f64, 0),
                self.what,
                group(rate, 0)
            );
        }
    }
}

/// A person at a customer, as the services' data sets name their contacts.
pub(super) struct Person {
    pub display_name: String,
    pub email: Email,
    pub phone: String,
    pub title: String,
}

/// A person at customer number `customer`, drawn from `rng` (first name, last name, phone, job
/// title, in that order); `tag` follows the name in the email, to tell apart two people of one
/// name at the same customer.
///
/// # Errors
/// When the email does not parse (it always does).
pub(super) fn person(rng: &mut Rng, customer: u64, tag: &str) -> anyhow::Result<Person> {
    let first = *rng.pick(&FIRST_NAMES);
    let last = *rng.pick(&LAST_NAMES);
    Ok(Person {
        display_name: format!("{first} {last}"),
        email: Email::parse(&format!("{first}.{last}{tag}@customer{customer}.example"))
            .map_err(anyhow::Error::msg)?,
        phone: format!("+49 30 {:07}", rng.below(10_000_000)),
        title: (*rng.pick(&TITLES)).to_owned(),
    })
}

/// Opens the `service`'s database at `url` for preloading, migrates it, runs `fill` on it and
/// closes it. On PostgreSQL it analyses the loaded tables first: autovacuum would within a minute,
/// and the first workload would run on plans made for empty tables meanwhile. (SQLite has no
/// automatic ANALYZE, so it is left as a deployment would leave it.)
///
/// # Errors
/// When the database is unreachable, its `table` already holds rows (the benchmark loads its own
/// data set into an empty database), or `fill` fails.
pub(super) async fn into_empty<T>(
    url: &str,
    service: &str,
    migrations: &Migrations,
    table: &str,
    fill: impl AsyncFnOnce(&Db) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let settings = DatabaseSettings {
        url: url.to_owned(),
        max_connections: 4,
        acquire_timeout_ms: 60_000,
    };
    let db = Db::connect(&settings)
        .await
        .with_context(|| format!("opening the {service} database"))?;
    let result = async {
        db.migrate(migrations)
            .await
            .with_context(|| format!("migrating the {service} database"))?;
        let existing: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {table} LIMIT 1"
        )))
        .fetch_optional(db.reads())
        .await?;
        if existing.is_some() {
            bail!(
                "the {service} database already holds {table}; the benchmark loads its own data \
                 set into an empty database (create a fresh one)"
            );
        }
        let filled = fill(&db).await?;
        if db.backend() == Backend::Postgres {
            sqlx::query("ANALYZE").execute(db.writes()).await?;
        }
        Ok(filled)
    }
    .await;
    db.close().await;
    result
}

/// Writes `total` items into `db`, generated `batch` at a time by `generate` (given the range of
/// indexes) and written a batch a transaction by `write`: on PostgreSQL four transactions at once,
/// on SQLite one (its one writer would make a second wait); either way the next batch is
/// generated while one is written. Reports progress as `what`; answers the time it took.
///
/// # Errors
/// What `generate` or `write` fails with.
pub(super) async fn write_batches<T, Fut>(
    db: &Db,
    what: &'static str,
    total: u64,
    batch: u64,
    mut generate: impl FnMut(std::ops::Range<u64>) -> anyhow::Result<T>,
    write: impl Fn(T) -> Fut,
) -> anyhow::Result<Duration>
where
    Fut: Future<Output = Result<u64, closeloop_kit::Problem>> + Send + 'static,
{
    let writers = match db.backend() {
        Backend::Postgres => 4,
        Backend::Sqlite => 1,
    };
    let started = Instant::now();
    let mut progress = Progress {
        what,
        started,
        total,
        loaded: 0,
        report_every: (total / 10).max(batch),
        reported: 0,
    };
    let mut inflight = JoinSet::new();
    for n in 0..total.div_ceil(batch) {
        let generated = generate(n * batch..((n + 1) * batch).min(total))
            .with_context(|| format!("generating {what}"))?;
        while inflight.len() >= writers {
            join_one(&mut inflight, &mut progress).await?;
        }
        inflight.spawn(write(generated));
    }
    while !inflight.is_empty() {
        join_one(&mut inflight, &mut progress).await?;
    }
    Ok(started.elapsed())
}

/// Waits for one insert task and counts what it wrote.
pub(super) async fn join_one(
    inflight: &mut JoinSet<Result<u64, closeloop_kit::Problem>>,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    if let Some(done) = inflight.join_next().await {
        progress.add(done.context("insert task")?.context("inserting a batch")?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_like_indexes_and_every_generated_opportunity_is_valid() {
        let now = 1_780_000_000_000_000;
        let dataset = Dataset::new(10_000, now);
        let policy = Policy::default();
        let mut previous = String::new();
        let mut closed = 0;
        for i in 0..2_000 {
            let id = dataset.id(i);
            assert!(id > previous, "{id} after {previous}");
            previous = id;
            let o = dataset.opportunity(i, &policy).unwrap();
            assert_eq!(o.id.as_str(), dataset.id(i));
            assert!(o.update_time <= now);
            closed += usize::from(!o.stage.is_open());
        }
        assert!((300..900).contains(&closed), "{closed} closed of 2000");
        assert_eq!(
            dataset.opportunity(7, &policy).unwrap(),
            dataset.opportunity(7, &policy).unwrap()
        );
    }

    #[test]
    fn create_requests_parse_like_a_client_request() {
        let dataset = Dataset::new(10, 1_780_000_000_000_000);
        for seq in 0..200 {
            let request = dataset.create_request(seq);
            closeloop_opportunities::api::requests::new_opportunity(Some(&request)).unwrap();
        }
    }
}
