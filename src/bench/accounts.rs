//! The account-management benchmark's data: one account per contracts-payments customer account
//! (`acct-{i}`, in that account's currency, so that health reads a real balance), each opened
//! from its handoff 4 to 13 months ago with a 12-month contract, two outcomes, an obligation
//! each way and a primary contact, then checked in with every 30 days or so (satisfaction and
//! outcome progress), and followed by operations: a PERFORMANCE update every month or so, an
//! ISSUE now and then, most of them resolved within days.
//!
//! Every account, check-in and update is built through the domain API, each change at its own
//! time before now, as the service itself would have ([`open_account`],
//! [`Account::record_check_in`], [`Account::post_operations_update`]), and written through the
//! service's store before the service starts, a transaction of [`BATCH`] accounts at a time.
//! Account `i` is a pure function of `i` and the run's start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use closeloop_account_management::domain::account::{
    Account, AccountContact, ContractInput, ObligationInput, OutcomeInput,
};
use closeloop_account_management::domain::check_ins::{CheckIn, CheckInInput, ProgressInput};
use closeloop_account_management::domain::opening::{OpenAccount, Opening, open_account};
use closeloop_account_management::domain::operations::{
    Measurement, OperationsUpdate, OperationsUpdateInput,
};
use closeloop_account_management::domain::policy::Policy;
use closeloop_account_management::domain::vocabulary::{
    AccountId, CheckInChannel, CheckInId, Contact, ContactRole, ObligationKind, ObligationParty,
    ObligationStatus, OperationsUpdateId, OperationsUpdateKind, OutcomeStatus, Party, Severity,
};
use closeloop_account_management::store::{MIGRATIONS, Store};
use closeloop_kit::time::{MICROS_PER_DAY, add_months, date_of_micros};
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_kit::{Principal, Role};

use super::payments::Accounts;
use super::preload::{OWNERS, PRODUCTS, into_empty, person, write_batches};
use super::rng::{Rng, mix, uuid_at};

/// Accounts per transaction.
pub const BATCH: u64 = 250;
/// Account managers the accounts are spread over.
const MANAGERS: u64 = 20;

const SEED: u64 = 0x6163_636f_756e_7473;
const HOUR_MICROS: i64 = 3_600_000_000;

/// The preloaded accounts, described by their count and the run's start.
#[derive(Debug, Clone, Copy)]
pub struct Managed {
    /// How many (as many as contracts-payments has customer accounts).
    pub count: u64,
    /// The run's "now" (µs): every generated change happened before it.
    now_micros: i64,
}

/// One account's rows, as the store writes them.
struct Generated {
    /// As opened, and as it stands now.
    opened: Account,
    now: Account,
    check_ins: Vec<CheckIn>,
    /// Each as it stands now (an ISSUE resolved since it was posted, RESOLVED).
    updates: Vec<OperationsUpdate>,
}

/// A UUIDv7 at `micros` whose random bits come from `key`: ids are time-ordered like the
/// service's own, and the same every run.
fn id_at(micros: i64, key: u64) -> String {
    uuid_at(micros, key, SEED)
}

/// The salesperson of the accounts whose feed the benchmark reads, `rep-{n}`.
pub fn salesperson(n: u64) -> String {
    format!("rep-{n:03}")
}

/// What happens on an account, in time order.
enum Event {
    CheckIn,
    Performance,
    Issue(Severity),
    /// Resolves the oldest open issue.
    Resolution,
}

impl Managed {
    /// `count` accounts, opened over the 4 to 13 months before `now_micros`.
    pub fn new(count: u64, now_micros: i64) -> Managed {
        Managed { count, now_micros }
    }

    /// Account `index` as opened and as it stands now, with its check-ins and updates.
    fn account(&self, index: u64) -> anyhow::Result<Generated> {
        let mut rng = Rng::new(mix(index.wrapping_add(SEED)));
        let now = self.now_micros;
        let opened_at = now - rng.between(120, 400) * MICROS_PER_DAY - rng.below(86_400) as i64;
        let currency =
            CurrencyCode::parse(Accounts::currency(index)).map_err(anyhow::Error::msg)?;
        let start = date_of_micros(opened_at);
        let end = add_months(start, 12)
            .and_then(|d| d.previous_day())
            .context("a contract end date")?;
        let (_, product, list) = *rng.pick(&PRODUCTS);
        let quantity = rng.between(5, 50);
        let value = Money::new(currency, list * quantity);
        let contract = format!("contracts/{}", id_at(opened_at, index << 8));
        let p = person(&mut rng, index, "")?;
        let manager = format!("am-{:03}", rng.below(MANAGERS));
        let handoff = Principal {
            subject: "closeloop-handoff".to_owned(),
            roles: vec![Role::Service],
        };
        let request = OpenAccount {
            customer: Party {
                account_id: Accounts::account_id(index),
                display_name: format!("Customer {index} GmbH"),
            },
            handoff: format!("handoffs/{}", id_at(opened_at, (index << 8) | 1)),
            account_manager: manager.clone(),
            salesperson: salesperson(rng.below(OWNERS)),
            start_date: None,
            contracts: vec![ContractInput {
                contract: contract.clone(),
                opportunity: format!("opportunities/{}", id_at(opened_at, (index << 8) | 2)),
                value,
                start_date: start,
                end_date: Some(end),
                term_months: 12,
                auto_renew: rng.chance(50),
                gross_margin_bps: rng.between(3000, 7000) as i32,
                title: format!("{product} for customer {index}"),
            }],
            outcomes: vec![
                OutcomeInput {
                    goal: "Cut invoice processing time".into(),
                    success_criteria: vec!["Median approval under 2 days".into()],
                    target_date: None,
                    status: OutcomeStatus::NotStarted,
                    progress_percent: 0,
                },
                OutcomeInput {
                    goal: "One system of record for the finance team".into(),
                    success_criteria: vec!["Spreadsheets retired".into()],
                    target_date: None,
                    status: OutcomeStatus::NotStarted,
                    progress_percent: 0,
                },
            ],
            obligations: vec![
                ObligationInput {
                    party: ObligationParty::Company,
                    kind: ObligationKind::Deliverable,
                    description: format!("{product} x {quantity}"),
                    due_date: start.checked_add(time::Duration::days(14)),
                    amount: None,
                    contract: contract.clone(),
                    external_id: "deliverable-1".into(),
                    status: ObligationStatus::Pending,
                    status_note: String::new(),
                },
                ObligationInput {
                    party: ObligationParty::Client,
                    kind: ObligationKind::Payment,
                    description: "Installment 1 of 4".into(),
                    due_date: start.checked_add(time::Duration::days(30)),
                    amount: Some(Money::new(currency, value.minor / 4)),
                    contract,
                    external_id: "installment-1".into(),
                    status: ObligationStatus::Pending,
                    status_note: String::new(),
                },
            ],
            contacts: vec![AccountContact {
                contact: Contact {
                    display_name: p.display_name,
                    email: Some(p.email),
                    phone: p.phone,
                    title: p.title,
                },
                role: ContactRole::DayToDay,
                primary: true,
            }],
            needs: vec!["Invoices approved without paper".into()],
            check_in_cadence_days: 0,
            notes: "Handed off after a smooth sale.".into(),
        };
        let id =
            AccountId::parse(&id_at(opened_at, (index << 8) | 3)).map_err(anyhow::Error::msg)?;
        let Opening::Opened(opened) = open_account(None, id, request, &handoff, opened_at)? else {
            bail!("account {index} was not opened as a new account");
        };

        // A check-in every 25 to 35 days, an update every 20 to 40 days, the first of each
        // a week or two in; an update is an ISSUE one time in four, and each issue is resolved
        // 1 to 5 days later four times in five.
        let mut events: Vec<(i64, Event)> = Vec::new();
        let mut at = opened_at + rng.between(7, 14) * MICROS_PER_DAY;
        while at < now - HOUR_MICROS {
            events.push((at, Event::CheckIn));
            at += rng.between(25, 35) * MICROS_PER_DAY + rng.below(8) as i64 * HOUR_MICROS;
        }
        let mut at = opened_at + rng.between(7, 14) * MICROS_PER_DAY + HOUR_MICROS;
        while at < now - HOUR_MICROS {
            if rng.chance(25) {
                let severity = *rng.pick(&[
                    Severity::Low,
                    Severity::Medium,
                    Severity::Medium,
                    Severity::High,
                    Severity::Critical,
                ]);
                events.push((at, Event::Issue(severity)));
                let resolved = at + rng.between(1, 5) * MICROS_PER_DAY;
                if rng.chance(80) && resolved < now - HOUR_MICROS {
                    events.push((resolved, Event::Resolution));
                }
            } else {
                events.push((at, Event::Performance));
            }
            at += rng.between(20, 40) * MICROS_PER_DAY + rng.below(8) as i64 * HOUR_MICROS;
        }
        events.sort_by_key(|(at, _)| *at);

        let am = Principal {
            subject: manager,
            roles: vec![Role::AccountManager],
        };
        let operations = Principal {
            subject: "ops-001".to_owned(),
            roles: vec![Role::Operations],
        };
        let outcome_ids: Vec<String> = opened.outcomes.iter().map(|o| o.id.clone()).collect();
        let mut account = opened.clone();
        let mut check_ins: Vec<CheckIn> = Vec::new();
        let mut updates: Vec<OperationsUpdate> = Vec::new();
        let mut open_issues: Vec<usize> = Vec::new();
        let mut progress = 0;
        for (k, (at, event)) in events.into_iter().enumerate() {
            let key = (index << 16) | k as u64;
            match event {
                Event::CheckIn => {
                    progress = (progress + rng.between(5, 15) as i32).min(100);
                    let recorded = account.record_check_in(
                        CheckInId::parse(&id_at(at, key)).map_err(anyhow::Error::msg)?,
                        CheckInInput {
                            check_in_time: Some(at),
                            satisfaction: rng.between(5, 10) as i32,
                            outcome_progress: outcome_ids
                                .iter()
                                .map(|id| ProgressInput {
                                    outcome_id: id.clone(),
                                    progress_percent: progress,
                                    status: None,
                                    note: String::new(),
                                })
                                .collect(),
                            notes: "Monthly review: usage up, two questions on reporting.".into(),
                            channel: Some(CheckInChannel::VideoCall),
                            attendees: Vec::new(),
                        },
                        check_ins.last(),
                        None,
                        &am,
                        at,
                    )?;
                    check_ins.push(recorded.check_in);
                }
                Event::Performance | Event::Issue(_) | Event::Resolution => {
                    let (kind, severity, title, resolves) = match event {
                        Event::Issue(severity) => (
                            OperationsUpdateKind::Issue,
                            Some(severity),
                            "Invoice import delayed".to_owned(),
                            None,
                        ),
                        Event::Resolution if !open_issues.is_empty() => {
                            let issue = open_issues.remove(0);
                            (
                                OperationsUpdateKind::Resolution,
                                None,
                                "Invoice import back on schedule".to_owned(),
                                Some(issue),
                            )
                        }
                        _ => (
                            OperationsUpdateKind::Performance,
                            None,
                            "Monthly service report".to_owned(),
                            None,
                        ),
                    };
                    let posted = account.post_operations_update(
                        OperationsUpdateId::parse(&id_at(at, key)).map_err(anyhow::Error::msg)?,
                        OperationsUpdateInput {
                            kind,
                            severity,
                            title,
                            body: "Figures from the operations dashboard.".into(),
                            occur_time: None,
                            measurements: if kind == OperationsUpdateKind::Performance {
                                vec![Measurement {
                                    metric: "uptime".into(),
                                    value: 99.9 + rng.below(10) as f64 / 100.0,
                                    unit: "%".into(),
                                    target: 99.9,
                                    target_met: true,
                                }]
                            } else {
                                Vec::new()
                            },
                            resolves: resolves.map(|i| updates[i].id.clone()),
                            obligation_id: String::new(),
                            external_ref: String::new(),
                        },
                        resolves.map(|i| &updates[i]),
                        &operations,
                        at,
                    )?;
                    if let (Some(i), Some(resolved)) = (resolves, posted.resolved_issue) {
                        updates[i] = resolved;
                    }
                    if kind == OperationsUpdateKind::Issue {
                        open_issues.push(updates.len());
                    }
                    updates.push(posted.update);
                }
            }
        }
        account.version = opened.version + 1;
        Ok(Generated {
            opened,
            now: account,
            check_ins,
            updates,
        })
    }
}

/// What preloading took and made.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Wall time of generating and inserting.
    pub elapsed: Duration,
    /// The accounts, `accounts/{account}`, in load order.
    pub accounts: Arc<Vec<String>>,
    /// Check-ins written.
    pub check_ins: u64,
    /// Operations updates written.
    pub updates: u64,
    /// Operations updates on the accounts of each salesperson (`rep-{n}`), so the feed
    /// workload knows how long each first page must be.
    pub feed_sizes: Arc<Vec<u64>>,
}

/// Creates the schema in `url` and loads `accounts` into it through the service's [`Store`].
///
/// # Errors
/// When the database is unreachable, already holds accounts, or refuses an insert.
pub async fn load(url: &str, accounts: Managed) -> anyhow::Result<Loaded> {
    into_empty(
        url,
        "account-management",
        &MIGRATIONS,
        "accounts",
        async |db| {
            let policy = Policy::default();
            let store = Store::new(db.clone());
            let mut names = Vec::with_capacity(accounts.count as usize);
            let mut feed_sizes = vec![0u64; OWNERS as usize];
            let (mut check_ins, mut updates) = (0, 0);
            let elapsed = write_batches(
                db,
                "accounts",
                accounts.count,
                BATCH,
                |range| {
                    let generated = range
                        .map(|i| accounts.account(i))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    for g in &generated {
                        names.push(g.now.name());
                        check_ins += g.check_ins.len() as u64;
                        updates += g.updates.len() as u64;
                        let rep = g
                            .now
                            .salesperson
                            .strip_prefix("rep-")
                            .and_then(|n| n.parse::<usize>().ok())
                            .and_then(|n| feed_sizes.get_mut(n))
                            .context("a salesperson of the benchmark")?;
                        *rep += g.updates.len() as u64;
                    }
                    Ok(generated)
                },
                |generated| {
                    let (store, policy) = (store.clone(), policy.clone());
                    async move { write(&store, &policy, &generated).await }
                },
            )
            .await?;
            Ok(Loaded {
                elapsed,
                accounts: Arc::new(names),
                check_ins,
                updates,
                feed_sizes: Arc::new(feed_sizes),
            })
        },
    )
    .await
}

/// Writes a batch in one transaction: each account inserted as opened, its check-ins and
/// updates inserted, and the account saved as it stands now.
async fn write(
    store: &Store,
    policy: &Policy,
    accounts: &[Generated],
) -> Result<u64, closeloop_kit::Problem> {
    let mut tx = store.db().transaction().await?;
    for g in accounts {
        store.insert_account(&mut tx, &g.opened, policy).await?;
        for c in &g.check_ins {
            store.insert_check_in(&mut tx, c).await?;
        }
        for u in &g.updates {
            store.put_update(&mut tx, u, true).await?;
        }
        store.save_account(&mut tx, &g.now, policy).await?;
    }
    tx.commit().await?;
    Ok(accounts.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_account_management::domain::vocabulary::IssueState;

    #[test]
    fn every_account_is_checked_in_with_and_followed_and_the_same_twice() {
        let accounts = Managed::new(300, 1_780_000_000_000_000);
        let (mut issues, mut open) = (0, 0);
        for i in 0..300 {
            let g = accounts.account(i).unwrap();
            assert_eq!(g.now.customer.account_id, Accounts::account_id(i));
            assert_eq!(g.now.currency.as_str(), Accounts::currency(i));
            assert!(g.check_ins.len() >= 3, "{}", g.check_ins.len());
            assert!(g.updates.len() >= 3, "{}", g.updates.len());
            assert_eq!(
                g.now.last_check_in.unwrap().time,
                g.check_ins.last().unwrap().check_in_time
            );
            let still_open = g
                .updates
                .iter()
                .filter(|u| u.issue_state == Some(IssueState::Open))
                .count();
            assert_eq!(g.now.open_issue_count as usize, still_open);
            issues += g
                .updates
                .iter()
                .filter(|u| u.kind == OperationsUpdateKind::Issue)
                .count();
            open += still_open;
        }
        assert!(
            issues > 100 && open > 10 && open < issues / 2,
            "{issues} {open}"
        );
        let twice = |i| {
            let g = accounts.account(i).unwrap();
            (g.opened, g.now, g.check_ins, g.updates)
        };
        assert_eq!(twice(7), twice(7));
    }
}
