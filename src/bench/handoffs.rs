//! The handoff benchmark's data: one DRAFT handoff per placed order, started from the order's
//! contract snapshot (12 months, 1 to 3 deliverables, quarterly installments, 1 to 3 line
//! items) and prefilled from its opportunity (two stakeholders, two objectives), as the service
//! itself would have: [`Handoff::start`] then [`Handoff::prefill`].
//!
//! Each handoff is inserted through the service's store as started, then saved prefilled, a
//! transaction of [`BATCH`] handoffs at a time, before the service starts. Handoff `i` is a pure
//! function of `i` and the run's start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use closeloop_handoff::domain::handoff::{Handoff, Stakeholder};
use closeloop_handoff::domain::lifecycle::{Objective, OpportunityFacts};
use closeloop_handoff::domain::snapshot::{
    ContractDeliverable, ContractLineItem, ContractSnapshot, PaymentInstallment,
};
use closeloop_handoff::domain::vocabulary::{
    Contact, HandoffId, ObligationStatus, Party, StakeholderRole,
};
use closeloop_handoff::store::{MIGRATIONS, Store};
use closeloop_kit::time::{MICROS_PER_DAY, date_of_micros};
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_kit::{Principal, Role};

use super::preload::{MAIN_CURRENCY, OWNERS, PRODUCTS, into_empty, person, write_batches};
use super::rng::{Rng, mix, uuid_at};

/// Handoffs per transaction.
pub const BATCH: u64 = 500;

const SEED: u64 = 0x6861_6e64_6f66_6673;
const HOUR_MICROS: i64 = 3_600_000_000;
/// The contracts service, which starts every handoff (StartHandoff, through its outbox).
const STARTER: &str = "closeloop-contracts-payments";

/// The preloaded handoffs, described by their count and the run's start.
#[derive(Debug, Clone, Copy)]
pub struct Handoffs {
    /// How many.
    pub count: u64,
    /// The run's "now" (µs): every handoff was started and prefilled before it.
    now_micros: i64,
}

/// A UUIDv7 at `micros` whose random bits come from `key`.
fn id_at(micros: i64, key: u64) -> String {
    uuid_at(micros, key, SEED)
}

impl Handoffs {
    /// `count` handoffs of orders placed over the 60 days before `now_micros`.
    pub fn new(count: u64, now_micros: i64) -> Handoffs {
        Handoffs { count, now_micros }
    }

    /// Handoff `index`: as started from its snapshot, and as it stands now (prefilled).
    fn handoff(&self, index: u64) -> anyhow::Result<(Handoff, Handoff)> {
        let mut rng = Rng::new(mix(index.wrapping_add(SEED)));
        let placed = self.now_micros
            - rng.between(1, 60) * MICROS_PER_DAY
            - rng.below(86_400_000_000) as i64;
        let prefilled = placed + HOUR_MICROS;
        let currency = CurrencyCode::parse(MAIN_CURRENCY).map_err(anyhow::Error::msg)?;
        let money = |minor| Money::new(currency, minor);
        let contract = format!("contracts/{}", id_at(placed, index << 8));
        let order = format!("{contract}/orders/{}", id_at(placed, (index << 8) | 1));
        // The first of next month, for a year.
        let placed_on = date_of_micros(placed);
        let start = placed_on
            .replace_day(1)
            .map_err(anyhow::Error::msg)?
            .checked_add(time::Duration::days(32))
            .context("a start date")?
            .replace_day(1)
            .map_err(anyhow::Error::msg)?;
        let end = start
            .replace_year(start.year() + 1)
            .map_err(anyhow::Error::msg)?
            .previous_day()
            .context("an end date")?;

        let line_items: Vec<ContractLineItem> = (0..rng.between(1, 3))
            .map(|_| {
                let (product_id, product_name, list) = *rng.pick(&PRODUCTS);
                let quantity = rng.between(1, 50);
                ContractLineItem {
                    product_id: product_id.into(),
                    product_name: product_name.into(),
                    quantity,
                    unit_price: money(list),
                    unit_cost: Some(money(list * rng.between(20, 55) / 100)),
                    amount: money(list * quantity),
                }
            })
            .collect();
        let value: i64 = line_items.iter().map(|li| li.amount.minor).sum();
        let deliverables = line_items
            .iter()
            .enumerate()
            .map(|(i, li)| ContractDeliverable {
                id: format!("deliverable-{}", i + 1),
                description: format!("{} x {}", li.product_name, li.quantity),
                due_date: start + time::Duration::days(14 * (i as i64 + 1)),
                status: ObligationStatus::Pending,
            })
            .collect();
        let share = value / 4;
        let payment_schedule = (0..4)
            .map(|i| PaymentInstallment {
                id: format!("installment-{}", i + 1),
                amount: money(if i == 3 { value - 3 * share } else { share }),
                due_date: start + time::Duration::days(90 * i),
                invoice: String::new(),
                description: format!("Installment {} of 4", i + 1),
            })
            .collect();
        let salesperson = format!("rep-{:03}", rng.below(OWNERS));
        let snapshot = ContractSnapshot {
            contract,
            order,
            opportunity: format!("opportunities/{}", id_at(placed, (index << 8) | 2)),
            account: Party {
                account_id: format!("acct-{index:06}"),
                display_name: format!("Customer {index} GmbH"),
            },
            salesperson,
            title: format!("{} for customer {index}", line_items[0].product_name),
            contract_value: money(value),
            start_date: start,
            end_date: end,
            term_months: 12,
            auto_renew: rng.chance(50),
            payment_terms_days: 30,
            deliverables,
            client_obligations: Vec::new(),
            payment_schedule,
            line_items,
            signers: Vec::new(),
            order_time: placed,
        };
        let id = HandoffId::parse(&id_at(placed, (index << 8) | 3)).map_err(anyhow::Error::msg)?;
        let starter = Principal {
            subject: STARTER.to_owned(),
            roles: vec![Role::Service],
        };
        let started = Handoff::start(id, snapshot, &starter, placed)?;

        let mut stakeholders = Vec::new();
        for (k, role) in [StakeholderRole::DecisionMaker, StakeholderRole::Champion]
            .into_iter()
            .enumerate()
        {
            let p = person(&mut rng, index, &k.to_string())?;
            stakeholders.push(Stakeholder {
                contact: Contact {
                    display_name: p.display_name,
                    email: Some(p.email),
                    phone: p.phone,
                    title: p.title,
                },
                role,
                primary: k == 0,
            });
        }
        let mut now = started.clone();
        now.prefill(
            OpportunityFacts {
                stakeholders,
                objectives: vec![
                    Objective {
                        description: "Cut invoice processing time".into(),
                        success_measure: "Median approval under 2 days".into(),
                    },
                    Objective {
                        description: "One system of record for the finance team".into(),
                        success_measure: String::new(),
                    },
                ],
            },
            prefilled,
        )?;
        now.version += 1;
        Ok((started, now))
    }
}

/// What preloading took and made.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Wall time of generating and inserting.
    pub elapsed: Duration,
    /// The DRAFT handoffs, `handoffs/{handoff}`, in load order (all of them).
    pub drafts: Arc<Vec<String>>,
}

/// Creates the schema in `url` and loads `handoffs` into it through the service's [`Store`].
///
/// # Errors
/// When the database is unreachable, already holds handoffs, or refuses an insert.
pub async fn load(url: &str, handoffs: Handoffs) -> anyhow::Result<Loaded> {
    into_empty(url, "handoff", &MIGRATIONS, "handoffs", async |db| {
        let store = Store::new(db.clone());
        let mut drafts = Vec::with_capacity(handoffs.count as usize);
        let elapsed = write_batches(
            db,
            "handoffs",
            handoffs.count,
            BATCH,
            |range| {
                let generated = range
                    .map(|i| handoffs.handoff(i))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                drafts.extend(generated.iter().map(|(_, h)| h.name()));
                Ok(generated)
            },
            |generated| {
                let store = store.clone();
                async move { write(&store, &generated).await }
            },
        )
        .await?;
        Ok(Loaded {
            elapsed,
            drafts: Arc::new(drafts),
        })
    })
    .await
}

/// Writes a batch in one transaction: each handoff inserted as started, then saved prefilled.
async fn write(
    store: &Store,
    handoffs: &[(Handoff, Handoff)],
) -> Result<u64, closeloop_kit::Problem> {
    let mut tx = store.db().transaction().await?;
    for (started, now) in handoffs {
        if !store.insert_handoff(&mut tx, started).await? {
            return Err(closeloop_kit::Problem::AlreadyExists(format!(
                "a handoff of {} exists already",
                started.order()
            )));
        }
        store.save_handoff(&mut tx, now).await?;
    }
    tx.commit().await?;
    Ok(handoffs.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_handoff::domain::handoff::PrefillState;
    use closeloop_handoff::domain::vocabulary::HandoffStatus;

    #[test]
    fn every_handoff_is_a_prefilled_draft_and_the_same_twice() {
        let handoffs = Handoffs::new(500, 1_780_000_000_000_000);
        for i in 0..500 {
            let (started, now) = handoffs.handoff(i).unwrap();
            assert_eq!(started.version, 1);
            assert_eq!(now.version, 2);
            assert_eq!(now.status, HandoffStatus::Draft);
            assert!(matches!(now.prefill, PrefillState::Done { .. }));
            assert_eq!(now.stakeholders.len(), 2);
            assert_eq!(now.goals.len(), 2);
        }
        assert_eq!(handoffs.handoff(7).unwrap(), handoffs.handoff(7).unwrap());
    }
}
