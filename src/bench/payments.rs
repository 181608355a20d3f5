//! The contracts-and-payments benchmark's data: customer accounts, each with 1 to 3 ACTIVE
//! contracts whose orders billed [`INVOICES_PER_ACCOUNT`] invoices in all, monthly to
//! quarterly, over the year around now. By now most of the invoices due are paid, some were
//! partly paid or declined (PAST_DUE, a follow-up open), the rest are OPEN or DRAFT, a few of
//! those partly paid ahead.
//!
//! Every contract, invoice, payment attempt and follow-up is built through the domain API, each
//! change at its own time before now (so every one is a state the service itself could have
//! reached), and written through the service's store before the service starts, a transaction
//! of [`BATCH`] accounts at a time. Account `i` is a pure function of `i` and the run's start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use closeloop_contracts_payments::domain::contract::{
    Contract, Draft, DraftDeliverable, DraftInstallment, DraftSigner, DraftTerms, Snapshot,
    SnapshotLineItem,
};
use closeloop_contracts_payments::domain::follow_up::FollowUp;
use closeloop_contracts_payments::domain::invoice::{Invoice, NewInvoice};
use closeloop_contracts_payments::domain::lifecycle::{NewOrder, SignerRef};
use closeloop_contracts_payments::domain::payments::{
    AttemptIds, FollowUpChange, NewAttempt, PaymentAttempt, Service,
};
use closeloop_contracts_payments::domain::policy::Policy;
use closeloop_contracts_payments::domain::vocabulary::{
    Actor, AttemptId, Contact, ContractId, DealKind, DeclineType, FollowUpId, InvoiceId, OrderId,
    Party, PaymentResult, SignerSide,
};
use closeloop_contracts_payments::store::{MIGRATIONS, Store};
use closeloop_kit::time::{MICROS_PER_DAY, date_of_micros, epoch_days};
use closeloop_kit::types::{CurrencyCode, Email};
use sqlx::Connection;
use uuid::Uuid;

use super::preload::{MAIN_CURRENCY, OWNERS, PRODUCTS, into_empty, person, write_batches};
use super::rng::{Rng, mix, uuid_at};

/// Invoices per account, over all its contracts.
pub const INVOICES_PER_ACCOUNT: u64 = 12;
/// Accounts per transaction.
pub const BATCH: u64 = 250;
/// The processor the record-payment workload reports for (and the preloaded payments came
/// from).
pub const PROCESSOR: &str = "stripe";

const SEED: u64 = 0x7061_796d_656e_7473;
const HOUR_MICROS: i64 = 3_600_000_000;
/// The service's own subject, as it records what it does by itself.
const SERVICE_SUBJECT: &str = "closeloop-contracts-payments";

/// The preloaded accounts, described by their count and the run's start.
#[derive(Debug, Clone, Copy)]
pub struct Accounts {
    /// How many.
    pub count: u64,
    /// The run's "now" (µs): every generated change happened before it.
    now_micros: i64,
}

/// One account's rows, as the store writes them.
struct Account {
    /// Each DRAFT as created, and as it stands now (ACTIVE with its order).
    contracts: Vec<(Contract, Contract)>,
    invoices: Vec<Invoice>,
    attempts: Vec<PaymentAttempt>,
    follow_ups: Vec<FollowUp>,
}

/// A UUIDv7 at `micros` whose random bits come from `key`: ids are time-ordered like the
/// service's own, and the same every run.
fn id_at(micros: i64, key: u64) -> String {
    uuid_at(micros, key, SEED)
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// Midnight (UTC) of `date`, in µs.
fn micros_of_day(date: time::Date) -> i64 {
    epoch_days(date) * MICROS_PER_DAY
}

impl Accounts {
    /// `count` accounts whose contracts were signed over the year or so before `now_micros`.
    pub fn new(count: u64, now_micros: i64) -> Accounts {
        Accounts { count, now_micros }
    }

    /// The account id of account `index`.
    pub fn account_id(index: u64) -> String {
        format!("acct-{index:06}")
    }

    /// The currency of account `index`'s contracts (the account-management benchmark opens its
    /// account in it).
    pub fn currency(index: u64) -> &'static str {
        draw_currency(&mut Rng::new(mix(index.wrapping_add(SEED))))
    }

    /// Account `index`: its contracts from creation to order, the invoices their orders
    /// billed, and the payments recorded on those by now.
    fn account(&self, index: u64, policy: &Policy) -> anyhow::Result<Account> {
        let mut rng = Rng::new(mix(index.wrapping_add(SEED)));
        let now = self.now_micros;
        let today = date_of_micros(now);
        let currency = CurrencyCode::parse(draw_currency(&mut rng)).map_err(anyhow::Error::msg)?;
        let party = Party {
            account_id: Accounts::account_id(index),
            display_name: format!("Customer {index} GmbH"),
        };
        let p = person(&mut rng, index, "")?;
        let client = Contact {
            display_name: p.display_name,
            email: Some(p.email),
            phone: p.phone,
            title: p.title,
        };
        let manager = Actor {
            subject: "mgr-001".into(),
            role: "sales_manager".into(),
        };
        let relay = Actor::service("closeloop-opportunities");
        let processor = Actor {
            subject: "bench-processor".into(),
            role: "service".into(),
        };
        let service = Service {
            policy,
            subject: SERVICE_SUBJECT,
        };

        // 1, 2 or 3 contracts sharing the account's invoices: 12 monthly, 6 every two months,
        // or 4 quarterly each.
        let contracts = rng.between(1, 3);
        let per_contract = INVOICES_PER_ACCOUNT as i64 / contracts;
        let interval = 360 / per_contract;
        let mut account = Account {
            contracts: Vec::new(),
            invoices: Vec::new(),
            attempts: Vec::new(),
            follow_ups: Vec::new(),
        };
        for k in 0..contracts {
            // Keys for the ids of this contract's parts.
            let key = (index << 16) | ((k as u64) << 8);
            // Created 20 to 420 days ago, at some hour of the day.
            let created = now - rng.between(20, 420) * MICROS_PER_DAY - rng.below(86_400) as i64;
            let sent = created + HOUR_MICROS;
            let signed = created + 2 * MICROS_PER_DAY;
            let placed = created + 4 * MICROS_PER_DAY;
            let start = date_of_micros(placed);
            let owner = format!("rep-{:03}", rng.below(OWNERS));
            let rep = Actor {
                subject: owner.clone(),
                role: "sales_rep".into(),
            };

            let line_items: Vec<SnapshotLineItem> = (0..rng.between(1, 3))
                .map(|_| {
                    let (product_id, product_name, list) = *rng.pick(&PRODUCTS);
                    let sold = list - list * rng.between(0, 1000) / 10_000;
                    SnapshotLineItem {
                        product_id: product_id.into(),
                        product_name: product_name.into(),
                        quantity: rng.between(1, 50),
                        list_unit: list,
                        sold_unit: sold,
                        unit_cost: list * rng.between(20, 55) / 100,
                    }
                })
                .collect();
            let amount: i64 = line_items.iter().map(|li| li.sold_unit * li.quantity).sum();
            let snapshot = Snapshot {
                opportunity: format!("opportunities/{}", id_at(created, key | 0xff)),
                account: party.clone(),
                owner: owner.clone(),
                title: format!("{} for customer {index}", line_items[0].product_name),
                kind: *rng.pick(&[
                    DealKind::NewBusiness,
                    DealKind::Expansion,
                    DealKind::Renewal,
                ]),
                amount,
                close_date: date_of_micros(created),
                prior_contract_value: None,
                line_items,
            };
            let share = amount / per_contract;
            let schedule = (0..per_contract)
                .map(|i| {
                    let due = start + days(30 + interval * i);
                    DraftInstallment {
                        id: None,
                        description: format!("Installment {} of {per_contract}", i + 1),
                        // The last one takes what the division left.
                        amount: if i + 1 == per_contract {
                            amount - share * (per_contract - 1)
                        } else {
                            share
                        },
                        due_date: due,
                        service_period: Some((due - days(interval), due - days(1))),
                    }
                })
                .collect();
            let draft = Draft {
                deliverables: Some(
                    snapshot
                        .line_items
                        .iter()
                        .map(|li| DraftDeliverable {
                            id: None,
                            description: format!("{} x {}", li.product_name, li.quantity),
                            due_date: Some(start + days(14)),
                            product_id: li.product_id.clone(),
                        })
                        .collect(),
                ),
                schedule: Some(schedule),
                terms: Some(DraftTerms {
                    payment_terms_days: Some(policy.default_payment_terms_days),
                    start_date: Some(Some(start)),
                    term_months: Some(Some(12)),
                    auto_renew: Some(rng.chance(50)),
                    renewal_notice_days: Some(30),
                }),
                signers: Some(vec![
                    DraftSigner {
                        id: None,
                        side: SignerSide::Client,
                        contact: client.clone(),
                        subject: String::new(),
                    },
                    DraftSigner {
                        id: None,
                        side: SignerSide::Company,
                        contact: Contact {
                            display_name: "Sam Okafor".into(),
                            email: Some(
                                Email::parse("sam@closeloop.example")
                                    .map_err(anyhow::Error::msg)?,
                            ),
                            phone: String::new(),
                            title: "CFO".into(),
                        },
                        subject: "sam".into(),
                    },
                ]),
                ..Draft::default()
            };
            let id = ContractId::parse(&id_at(created, key)).map_err(anyhow::Error::msg)?;
            let mut c = Contract::create(
                id,
                snapshot,
                currency,
                draft,
                policy,
                relay.clone(),
                created,
            )?;
            let drafted = c.clone();
            c.send(None, format!("env-{index}-{k}"), policy, rep.clone(), sent)?;
            let signers: Vec<String> = c.signers.iter().map(|s| s.id.clone()).collect();
            for signer in &signers {
                c.sign(
                    SignerRef::Id(signer),
                    None,
                    format!("sig-{index}-{k}-{signer}"),
                    manager.clone(),
                    signed,
                )?;
            }

            let number = index * 3 + k as u64 + 1;
            let mut invoices = Vec::with_capacity(c.schedule.len());
            for (i, installment) in c.schedule.iter().enumerate() {
                let invoice_key = key | (i as u64 + 1);
                invoices.push(Invoice::issue(
                    InvoiceId::parse(&id_at(placed, invoice_key)).map_err(anyhow::Error::msg)?,
                    NewInvoice {
                        contract: c.id.clone(),
                        number: format!(
                            "INV-{:07}",
                            index * INVOICES_PER_ACCOUNT + account.invoices.len() as u64 + i as u64
                        ),
                        account: party.clone(),
                        owner: owner.clone(),
                        currency,
                        installment_id: installment.id.clone(),
                        description: installment.description.clone(),
                        amount_due: installment.amount,
                        due_date: installment.due_date,
                        service_period: installment.service_period,
                        payment_terms_days: c.terms.payment_terms_days,
                    },
                    start,
                    placed,
                ));
            }
            c.place_order(
                NewOrder {
                    id: OrderId::parse(&id_at(placed, key | 0xfe)).map_err(anyhow::Error::msg)?,
                    number: format!("ORD-{number:06}"),
                    notes: String::new(),
                    // The StartHandoff it owed was delivered long ago: its outbox row is gone,
                    // its id stays on the order.
                    handoff_command: id_at(placed, key | 0xfd),
                },
                invoices.iter().map(|i| i.id.clone()).collect(),
                manager.clone(),
                placed,
            )?;
            c.version = drafted.version + 1;

            for (i, invoice) in invoices.iter_mut().enumerate() {
                let attempt_key = key | 0x80 | (i as u64 + 1);
                let fate = rng.below(100);
                let due = micros_of_day(invoice.due_date);
                let issued = micros_of_day(invoice.issue_date).max(placed);
                let attempt = if invoice.due_date < today {
                    match fate {
                        // Paid in full up to ten days before the due date.
                        0..80 => Some((
                            PaymentResult::Succeeded,
                            invoice.amount_due,
                            due - rng.between(0, 10) * MICROS_PER_DAY + 10 * HOUR_MICROS,
                        )),
                        // The card was declined the day after: PAST_DUE, a follow-up open.
                        80..90 => Some((
                            PaymentResult::Failed,
                            invoice.amount_due,
                            due + MICROS_PER_DAY + 10 * HOUR_MICROS,
                        )),
                        // Half paid: PAST_DUE for the rest.
                        _ => Some((
                            PaymentResult::Succeeded,
                            invoice.amount_due / 2,
                            due - MICROS_PER_DAY,
                        )),
                    }
                } else if invoice.issue_date <= today && fate < 15 {
                    // A third paid ahead on an OPEN invoice.
                    Some((
                        PaymentResult::Succeeded,
                        invoice.amount_due / 3,
                        issued + 10 * HOUR_MICROS,
                    ))
                } else {
                    None
                };
                let Some((result, amount, at)) = attempt else {
                    continue;
                };
                if amount <= 0 {
                    continue;
                }
                // Not before the invoice was issued, and before now.
                let at = at.max(issued).min(now - HOUR_MICROS);
                let failed = result == PaymentResult::Failed;
                let recorded = invoice.record_attempt(
                    NewAttempt {
                        result,
                        currency,
                        amount,
                        decline_type: failed.then_some(DeclineType::Soft),
                        failure_code: if failed {
                            "insufficient_funds".into()
                        } else {
                            String::new()
                        },
                        failure_message: String::new(),
                        processor: PROCESSOR.into(),
                        processor_reference: format!("ch_{}", id_at(at, attempt_key)),
                        payment_method: "card".into(),
                        attempt_time: None,
                    },
                    AttemptIds {
                        attempt: AttemptId::parse(&id_at(at, attempt_key))
                            .map_err(anyhow::Error::msg)?,
                        follow_up: FollowUpId::parse(&id_at(at, attempt_key | 0x40))
                            .map_err(anyhow::Error::msg)?,
                    },
                    None,
                    processor.clone(),
                    service,
                    at,
                )?;
                invoice.version += 1;
                account.attempts.push(recorded.attempt);
                match recorded.follow_up {
                    Some(FollowUpChange::Opened(f)) => account.follow_ups.push(f),
                    None => {}
                    Some(other) => bail!("a first attempt changed a follow-up: {other:?}"),
                }
            }
            account.contracts.push((drafted, c));
            account.invoices.extend(invoices);
        }
        Ok(account)
    }
}

/// An account's currency, the first draw of its generator: most in the main currency.
fn draw_currency(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..85 => MAIN_CURRENCY,
        85..95 => "USD",
        _ => "GBP",
    }
}

/// An invoice the record-payment workload pays into: one not settled.
#[derive(Debug, Clone)]
pub struct Payable {
    /// `contracts/{contract}/invoices/{invoice}`.
    pub name: String,
    /// Its currency, the one a payment must be in.
    pub currency: String,
}

/// What preloading took and made.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Wall time of generating and inserting.
    pub elapsed: Duration,
    /// Contracts written.
    pub contracts: u64,
    /// Invoices written.
    pub invoices: u64,
    /// Payment attempts written.
    pub attempts: u64,
    /// Follow-ups written (all open).
    pub follow_ups: u64,
    /// The invoices that accept a payment (not settled), in load order.
    pub payable: Arc<Vec<Payable>>,
}

/// Creates the schema in `url` and loads `accounts` into it through the service's [`Store`].
///
/// # Errors
/// When the database is unreachable, already holds contracts, or refuses an insert.
pub async fn load(url: &str, accounts: Accounts) -> anyhow::Result<Loaded> {
    into_empty(
        url,
        "contracts-payments",
        &MIGRATIONS,
        "contracts",
        async |db| {
            let policy = Policy::default();
            let store = Store::new(db.clone());
            let mut loaded = Loaded {
                elapsed: Duration::ZERO,
                contracts: 0,
                invoices: 0,
                attempts: 0,
                follow_ups: 0,
                payable: Arc::default(),
            };
            let mut payable = Vec::new();
            let elapsed = write_batches(
                db,
                "accounts",
                accounts.count,
                BATCH,
                |range| {
                    let generated = range
                        .map(|i| accounts.account(i, &policy))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    for a in &generated {
                        loaded.contracts += a.contracts.len() as u64;
                        loaded.invoices += a.invoices.len() as u64;
                        loaded.attempts += a.attempts.len() as u64;
                        loaded.follow_ups += a.follow_ups.len() as u64;
                        payable.extend(a.invoices.iter().filter(|i| i.settled.is_none()).map(
                            |i| Payable {
                                name: i.name(),
                                currency: i.currency.as_str().to_owned(),
                            },
                        ));
                    }
                    Ok(generated)
                },
                |generated| {
                    let store = store.clone();
                    async move { write(&store, &generated).await }
                },
            )
            .await?;
            loaded.elapsed = elapsed;
            // The numbers the service hands out next follow the preloaded ones.
            for (name, value) in [
                ("order", accounts.count * 3),
                ("invoice", accounts.count * INVOICES_PER_ACCOUNT),
            ] {
                sqlx::query("UPDATE counters SET value = $1 WHERE name = $2")
                    .bind(value as i64)
                    .bind(name)
                    .execute(db.writes())
                    .await?;
            }
            loaded.payable = Arc::new(payable);
            Ok(loaded)
        },
    )
    .await
}

/// Writes a batch of accounts in one transaction, as the service would have over time: each
/// contract inserted as drafted then saved with its order, its invoices, attempts and
/// follow-ups.
async fn write(store: &Store, accounts: &[Account]) -> Result<u64, closeloop_kit::Problem> {
    let mut tx = store.db().transaction().await?;
    for a in accounts {
        for (drafted, active) in &a.contracts {
            store.insert_contract(&mut tx, drafted).await?;
            store.save_contract(&mut tx, active).await?;
        }
        store.insert_invoices(&mut tx, &a.invoices).await?;
        for attempt in &a.attempts {
            store.insert_attempt(&mut tx, attempt).await?;
        }
        for f in &a.follow_ups {
            store.save_follow_up(&mut tx, f).await?;
        }
    }
    tx.commit().await?;
    Ok(accounts.len() as u64)
}

/// How a service's own database for the run is named.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The service, in messages.
    pub service: &'static str,
    /// The option that gives its URL.
    pub flag: &'static str,
    /// The SQLite file in the temporary folder.
    pub file: &'static str,
    /// What the PostgreSQL database's name adds to the opportunities database's.
    pub suffix: &'static str,
}

/// The contracts-payments service's database.
pub const PAYMENTS_DB: Names = Names {
    service: "contracts-payments",
    flag: "--payments-database-url",
    file: "contracts-payments.db",
    suffix: "_payments",
};

/// A service's own database for the run (contracts-payments', handoff's).
#[derive(Debug)]
pub struct Database {
    url: String,
    description: String,
    /// A PostgreSQL database this run created: the URL to drop it from, and its name.
    created: Option<(String, String)>,
}

impl Database {
    /// `explicit` when given; else beside the opportunities database `opportunities_url`: a
    /// SQLite file in `scratch`, or on PostgreSQL the database `NAME` + `names.suffix` on the
    /// same server (created unless it exists; [`Database::finish`] drops it then).
    ///
    /// # Errors
    /// When the URL is not a database URL, or the PostgreSQL database cannot be created.
    pub async fn prepare(
        names: Names,
        explicit: Option<&str>,
        opportunities_url: &str,
        scratch: &std::path::Path,
    ) -> anyhow::Result<Database> {
        let postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
        if let Some(url) = explicit {
            if !postgres(url) && !url.starts_with("sqlite:") {
                bail!("{} must start with postgres:// or sqlite://", names.flag);
            }
            let backend = if postgres(url) {
                super::report::Backend::Postgres
            } else {
                super::report::Backend::Sqlite
            };
            return Ok(Database {
                url: url.to_owned(),
                description: backend.describe(url, false),
                created: None,
            });
        }
        if !postgres(opportunities_url) {
            return Ok(Database {
                url: format!("sqlite://{}", scratch.join(names.file).display()),
                description: "SQLite, temporary file".to_owned(),
                created: None,
            });
        }
        let (base, rest) = opportunities_url
            .rsplit_once('/')
            .context("a postgres:// URL ends with /DATABASE")?;
        let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
        let name = format!("{database}{}", names.suffix);
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            bail!(
                "cannot name the {} database after {database:?}; give {}",
                names.service,
                names.flag
            );
        }
        let url = if query.is_empty() {
            format!("{base}/{name}")
        } else {
            format!("{base}/{name}?{query}")
        };
        let mut admin = sqlx::postgres::PgConnection::connect(opportunities_url)
            .await
            .context("connecting to PostgreSQL")?;
        let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut admin)
            .await?;
        let created = if exists.is_none() {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut admin)
                .await
                .with_context(|| {
                    format!(
                        "creating the database {name} for {} (or give {})",
                        names.service, names.flag
                    )
                })?;
            Some((opportunities_url.to_owned(), name))
        } else {
            None
        };
        let _ = admin.close().await;
        let description = super::report::Backend::Postgres.describe(&url, false);
        Ok(Database {
            url,
            description,
            created,
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Engine and location, as the report names them.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Drops the database when this run created it (the service has stopped by then).
    pub async fn finish(self) {
        let Some((admin_url, name)) = self.created else {
            return;
        };
        let dropped = async {
            let mut admin = sqlx::postgres::PgConnection::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
            admin.close().await
        };
        if let Err(e) = dropped.await {
            eprintln!("closeloop bench: could not drop the database {name}: {e}");
        }
    }
}

/// A fresh `request_id` for the `seq`-th payment of caller `caller`.
pub fn request_id(run: &Uuid, caller: usize, seq: u64) -> String {
    format!("pay-{}-{caller}-{seq}", run.simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_contracts_payments::domain::vocabulary::ContractStatus;

    #[test]
    fn every_account_has_twelve_invoices_in_every_status_and_is_the_same_twice() {
        let now = 1_780_000_000_000_000;
        let accounts = Accounts::new(400, now);
        let policy = Policy::default();
        let today = date_of_micros(now);
        let mut statuses = std::collections::BTreeMap::new();
        let mut follow_ups = 0;
        for i in 0..400 {
            let a = accounts.account(i, &policy).unwrap();
            assert_eq!(a.invoices.len() as u64, INVOICES_PER_ACCOUNT);
            assert!((1..=3).contains(&a.contracts.len()));
            for (drafted, active) in &a.contracts {
                assert_eq!(drafted.status, ContractStatus::Draft);
                assert_eq!(active.status, ContractStatus::Active);
                assert_eq!(active.version, 2);
                assert_eq!(
                    active.schedule.iter().map(|s| s.amount).sum::<i64>(),
                    active.value()
                );
                assert!(active.update_time < now);
            }
            for invoice in &a.invoices {
                assert_eq!(invoice.account.account_id, Accounts::account_id(i));
                *statuses.entry(invoice.status(today).code()).or_insert(0) += 1;
            }
            follow_ups += a.follow_ups.len();
        }
        for status in ["PAID", "PAST_DUE", "OPEN", "DRAFT"] {
            assert!(
                statuses.get(status).copied().unwrap_or(0) > 100,
                "{statuses:?}"
            );
        }
        assert!(follow_ups > 50, "{follow_ups}");
        let twice = |i| {
            let a = accounts.account(i, &policy).unwrap();
            (a.contracts, a.invoices, a.attempts, a.follow_ups)
        };
        assert_eq!(twice(7), twice(7));
    }
}
