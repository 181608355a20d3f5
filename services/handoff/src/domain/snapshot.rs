//! The contract as it stood when its order was placed, as StartHandoff delivers it and the
//! handoff keeps it, unchanged: what the company provides (deliverables), what the client owes
//! (client obligations and the payment schedule), the dates, term and value.
//!
//! The API checks each field's shape (required values, texts, resource names, enum values);
//! [`ContractSnapshot::validate`] checks what only the whole snapshot can tell: currencies,
//! sums, the term against the dates, ids unique within their list, the bounds.

use closeloop_kit::Violations;
use closeloop_kit::error::Problem;
use closeloop_kit::time::whole_months;
use closeloop_kit::types::{CurrencyCode, Money};
use time::Date;

use super::limits::MAX_SNAPSHOT_PARTS;
use super::vocabulary::{ClientObligationKind, Contact, ObligationStatus, Party, PartySide};

/// The contract snapshot a handoff is started from. Immutable on the handoff.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractSnapshot {
    /// `contracts/{contract}`.
    pub contract: String,
    /// `contracts/{contract}/orders/{order}`: one handoff per order.
    pub order: String,
    /// `opportunities/{opportunity}`: what the prefill reads.
    pub opportunity: String,
    /// The customer company.
    pub account: Party,
    /// The salesperson who owns the deal (a token subject): the handoff's first salesperson.
    pub salesperson: String,
    /// May be empty.
    pub title: String,
    /// Positive. Its currency is the currency of every amount of the snapshot.
    pub contract_value: Money,
    /// First day of the contract.
    pub start_date: Date,
    /// Last day of the contract, inclusive.
    pub end_date: Date,
    /// 1 to 120, the whole months from `start_date` to `end_date`.
    pub term_months: i32,
    pub auto_renew: bool,
    /// Days the client has to pay an invoice, 0 to 365 (the contract's own bound).
    pub payment_terms_days: i32,
    /// At least one. What the company provides; the delivery timeline is built from them.
    pub deliverables: Vec<ContractDeliverable>,
    /// What the client owes besides payment.
    pub client_obligations: Vec<ClientObligation>,
    /// At least one; the amounts sum to `contract_value`.
    pub payment_schedule: Vec<PaymentInstallment>,
    pub line_items: Vec<ContractLineItem>,
    pub signers: Vec<ContractSigner>,
    /// When the order was placed (µs since the epoch).
    pub order_time: i64,
}

/// Something the company provides under the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractDeliverable {
    /// Unique within the snapshot's deliverables.
    pub id: String,
    pub description: String,
    /// The due date of its delivery timeline milestone.
    pub due_date: Date,
    /// PENDING when the proto leaves it unspecified. Passed on to the account unchanged.
    pub status: ObligationStatus,
}

/// Something the client owes under the contract other than a payment.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientObligation {
    /// Unique within the snapshot's client obligations.
    pub id: String,
    pub kind: ClientObligationKind,
    pub description: String,
    pub due_date: Option<Date>,
    /// PENDING when unspecified; never DELIVERED (see [`ContractSnapshot::validate`]).
    pub status: ObligationStatus,
}

/// One payment of the payment schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentInstallment {
    /// Unique within the schedule.
    pub id: String,
    /// Positive, in the contract's currency.
    pub amount: Money,
    pub due_date: Date,
    /// `contracts/{contract}/invoices/{invoice}`, or empty.
    pub invoice: String,
    /// May be empty.
    pub description: String,
}

/// A product sold on the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractLineItem {
    pub product_id: String,
    pub product_name: String,
    /// At least 1.
    pub quantity: i64,
    /// What the client pays per unit.
    pub unit_price: Money,
    /// What a unit costs us, when known: how the account learns the margin.
    pub unit_cost: Option<Money>,
    /// `quantity` x `unit_price`.
    pub amount: Money,
}

/// A person who signed the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractSigner {
    pub contact: Contact,
    pub side: PartySide,
    pub sign_time: Option<i64>,
}

/// Highest `payment_terms_days` (the contracts service's own bound).
pub const MAX_PAYMENT_TERMS_DAYS: i32 = 365;

/// Longest term, in months.
pub const MAX_TERM_MONTHS: i32 = 120;

/// Records "the same id twice" for each repeated id of a list.
fn unique_ids<'a>(
    v: &mut Violations,
    field: &str,
    id_field: &str,
    ids: impl Iterator<Item = &'a str>,
) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, id) in ids.enumerate() {
        if seen.contains(&id) {
            v.add(
                format!("{field}[{i}].{id_field}"),
                format!("{id:?} is the id of an earlier entry"),
            );
        } else {
            seen.push(id);
        }
    }
}

impl ContractSnapshot {
    /// The currency of every amount of the snapshot.
    pub fn currency(&self) -> CurrencyCode {
        self.contract_value.currency
    }

    /// Index of the deliverable with this id.
    pub fn deliverable_index(&self, id: &str) -> Option<usize> {
        self.deliverables.iter().position(|d| d.id == id)
    }

    /// Checks what the API cannot check field by field. Field violations name the paths of
    /// StartHandoffRequest (`contract_snapshot.term_months`, ...).
    ///
    /// # Errors
    /// INVALID_ARGUMENT listing every violation:
    /// - `contract_snapshot.order`: not an order of `contract_snapshot.contract`;
    /// - `contract_snapshot.contract_value`: not positive;
    /// - `contract_snapshot.end_date`: before the start date;
    /// - `contract_snapshot.term_months`: outside 1 to 120, or not the whole months from the
    ///   start date to the end date (closeloop.common.v1 "Terms in months");
    /// - `contract_snapshot.payment_terms_days`: outside 0 to 365;
    /// - `contract_snapshot.deliverables`, `.payment_schedule`: empty; any list: more than
    ///   [`MAX_SNAPSHOT_PARTS`] entries;
    /// - `...[i].deliverable_id`, `...[i].obligation_id`, `...[i].installment_id`: an id already
    ///   used by an earlier entry of the same list (milestones and the account's obligations
    ///   name them);
    /// - `...client_obligations[i].status`: DELIVERED, which account-management refuses on a
    ///   client obligation;
    /// - `...payment_schedule[i].amount`, `...line_items[i].{unit_price,unit_cost,amount}`: in
    ///   another currency than the contract value, or an installment not positive;
    /// - `contract_snapshot.payment_schedule`: installments that do not sum to the value;
    /// - `...line_items[i].quantity`: below 1; `...line_items[i].amount`: not quantity x unit
    ///   price.
    pub fn validate(&self) -> Result<(), Problem> {
        const P: &str = "contract_snapshot";
        let mut v = Violations::new();
        let currency = self.currency();

        if !self
            .order
            .strip_prefix(self.contract.as_str())
            .is_some_and(|rest| rest.starts_with("/orders/"))
        {
            v.add(
                format!("{P}.order"),
                "must be an order of contract_snapshot.contract",
            );
        }
        if self.contract_value.minor <= 0 {
            v.add(format!("{P}.contract_value"), "must be positive");
        }
        if self.end_date < self.start_date {
            v.add(format!("{P}.end_date"), "must not be before start_date");
        }
        if !(1..=MAX_TERM_MONTHS).contains(&self.term_months) {
            v.add(
                format!("{P}.term_months"),
                format!("must be 1 to {MAX_TERM_MONTHS}"),
            );
        } else if self.end_date >= self.start_date {
            let months = whole_months(self.start_date, self.end_date);
            if months != self.term_months {
                v.add(
                    format!("{P}.term_months"),
                    format!(
                        "must be the whole months from start_date to end_date ({months}): \
                         the account computes annual value and renewals from one term"
                    ),
                );
            }
        }
        if !(0..=MAX_PAYMENT_TERMS_DAYS).contains(&self.payment_terms_days) {
            v.add(
                format!("{P}.payment_terms_days"),
                format!("must be 0 to {MAX_PAYMENT_TERMS_DAYS}"),
            );
        }

        for (field, len) in [
            ("deliverables", self.deliverables.len()),
            ("client_obligations", self.client_obligations.len()),
            ("payment_schedule", self.payment_schedule.len()),
            ("line_items", self.line_items.len()),
            ("signers", self.signers.len()),
        ] {
            if len > MAX_SNAPSHOT_PARTS {
                v.add(
                    format!("{P}.{field}"),
                    format!("at most {MAX_SNAPSHOT_PARTS} entries"),
                );
            }
        }
        if self.deliverables.is_empty() {
            v.add(
                format!("{P}.deliverables"),
                "at least one deliverable is required",
            );
        }
        unique_ids(
            &mut v,
            &format!("{P}.deliverables"),
            "deliverable_id",
            self.deliverables.iter().map(|d| d.id.as_str()),
        );
        unique_ids(
            &mut v,
            &format!("{P}.client_obligations"),
            "obligation_id",
            self.client_obligations.iter().map(|o| o.id.as_str()),
        );
        for (i, o) in self.client_obligations.iter().enumerate() {
            if o.status == ObligationStatus::Delivered {
                v.add(
                    format!("{P}.client_obligations[{i}].status"),
                    "DELIVERED is for company obligations only",
                );
            }
        }

        if self.payment_schedule.is_empty() {
            v.add(
                format!("{P}.payment_schedule"),
                "at least one installment is required",
            );
        }
        unique_ids(
            &mut v,
            &format!("{P}.payment_schedule"),
            "installment_id",
            self.payment_schedule.iter().map(|i| i.id.as_str()),
        );
        let mut total: Option<i64> = Some(0);
        let mut summable = true;
        for (i, inst) in self.payment_schedule.iter().enumerate() {
            let field = || format!("{P}.payment_schedule[{i}].amount");
            if inst.amount.currency != currency {
                v.add(
                    field(),
                    format!("must be in {currency}, the contract's currency"),
                );
                summable = false;
            } else if inst.amount.minor <= 0 {
                v.add(field(), "must be positive");
                summable = false;
            }
            total = total.and_then(|t| t.checked_add(inst.amount.minor));
        }
        if summable && !self.payment_schedule.is_empty() && total != Some(self.contract_value.minor)
        {
            let sum = total.map_or_else(
                || "more than can be counted".to_owned(),
                |t| Money::new(currency, t).to_string(),
            );
            v.add(
                format!("{P}.payment_schedule"),
                format!(
                    "installments sum to {sum}, the contract value is {}",
                    self.contract_value
                ),
            );
        }

        for (i, li) in self.line_items.iter().enumerate() {
            let field = |name: &str| format!("{P}.line_items[{i}].{name}");
            let mut same_currency = true;
            for (name, money) in [
                ("unit_price", Some(li.unit_price)),
                ("unit_cost", li.unit_cost),
                ("amount", Some(li.amount)),
            ] {
                if let Some(m) = money
                    && m.currency != currency
                {
                    v.add(
                        field(name),
                        format!("must be in {currency}, the contract's currency"),
                    );
                    same_currency = false;
                }
            }
            if li.quantity < 1 {
                v.add(field("quantity"), "must be at least 1");
            } else if same_currency
                && li.unit_price.minor.checked_mul(li.quantity) != Some(li.amount.minor)
            {
                v.add(field("amount"), "must be quantity x unit_price");
            }
        }
        v.into_result()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::date;

    pub(crate) fn eur(minor: i64) -> Money {
        Money::new(CurrencyCode::parse("EUR").unwrap(), minor)
    }

    /// A valid snapshot: 12 months from 2026-01-01, two deliverables (the second due first),
    /// two installments summing to the value, one line item, one client obligation.
    pub(crate) fn snapshot() -> ContractSnapshot {
        ContractSnapshot {
            contract: "contracts/c1".into(),
            order: "contracts/c1/orders/o1".into(),
            opportunity: "opportunities/p1".into(),
            account: Party {
                account_id: "acme".into(),
                display_name: "Acme".into(),
            },
            salesperson: "sam".into(),
            title: "Acme platform".into(),
            contract_value: eur(120_000),
            start_date: date!(2026 - 01 - 01),
            end_date: date!(2026 - 12 - 31),
            term_months: 12,
            auto_renew: true,
            payment_terms_days: 30,
            deliverables: vec![
                ContractDeliverable {
                    id: "deliverable-1".into(),
                    description: "Platform set-up".into(),
                    due_date: date!(2026 - 03 - 01),
                    status: ObligationStatus::Pending,
                },
                ContractDeliverable {
                    id: "deliverable-2".into(),
                    description: "Kick-off training".into(),
                    due_date: date!(2026 - 02 - 01),
                    status: ObligationStatus::InProgress,
                },
            ],
            client_obligations: vec![ClientObligation {
                id: "obligation-1".into(),
                kind: ClientObligationKind::Access,
                description: "VPN access for the team".into(),
                due_date: Some(date!(2026 - 01 - 15)),
                status: ObligationStatus::Pending,
            }],
            payment_schedule: vec![
                PaymentInstallment {
                    id: "installment-1".into(),
                    amount: eur(20_000),
                    due_date: date!(2026 - 01 - 01),
                    invoice: "contracts/c1/invoices/i1".into(),
                    description: "Setup fee".into(),
                },
                PaymentInstallment {
                    id: "installment-2".into(),
                    amount: eur(100_000),
                    due_date: date!(2026 - 02 - 01),
                    invoice: String::new(),
                    description: String::new(),
                },
            ],
            line_items: vec![ContractLineItem {
                product_id: "sku-1".into(),
                product_name: "Platform".into(),
                quantity: 2,
                unit_price: eur(60_000),
                unit_cost: Some(eur(15_000)),
                amount: eur(120_000),
            }],
            signers: Vec::new(),
            order_time: 1_767_225_600_000_000,
        }
    }

    fn fields(p: Problem) -> Vec<String> {
        match p {
            Problem::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    fn refused(change: impl FnOnce(&mut ContractSnapshot)) -> Vec<String> {
        let mut s = snapshot();
        change(&mut s);
        fields(s.validate().unwrap_err())
    }

    #[test]
    fn a_consistent_snapshot_passes() {
        assert!(snapshot().validate().is_ok());
    }

    #[test]
    fn term_months_must_be_the_whole_months_between_the_dates() {
        assert_eq!(
            refused(|s| s.term_months = 11),
            ["contract_snapshot.term_months"]
        );
        // One day short of 12 months is 11 whole months.
        assert_eq!(
            refused(|s| s.end_date = date!(2026 - 12 - 30)),
            ["contract_snapshot.term_months"]
        );
        let mut s = snapshot();
        s.start_date = date!(2026 - 01 - 15);
        s.end_date = date!(2026 - 04 - 14);
        s.term_months = 3;
        assert!(s.validate().is_ok());
        assert_eq!(
            refused(|s| {
                s.term_months = 0;
            }),
            ["contract_snapshot.term_months"]
        );
        assert_eq!(
            refused(|s| s.term_months = 121),
            ["contract_snapshot.term_months"]
        );
        assert_eq!(
            refused(|s| s.end_date = date!(2025 - 12 - 01)),
            ["contract_snapshot.end_date"]
        );
    }

    #[test]
    fn the_schedule_sums_to_the_value_in_one_currency() {
        assert_eq!(
            refused(|s| s.payment_schedule[1].amount = eur(99_999)),
            ["contract_snapshot.payment_schedule"]
        );
        assert_eq!(
            refused(|s| s.payment_schedule[1].amount =
                Money::new(CurrencyCode::parse("USD").unwrap(), 100_000)),
            ["contract_snapshot.payment_schedule[1].amount"]
        );
        assert_eq!(
            refused(|s| s.payment_schedule[0].amount = eur(0)),
            ["contract_snapshot.payment_schedule[0].amount"]
        );
        // A sum past i64 is refused, not wrapped.
        assert_eq!(
            refused(|s| {
                s.payment_schedule[0].amount = eur(i64::MAX);
                s.payment_schedule[1].amount = eur(i64::MAX);
            }),
            ["contract_snapshot.payment_schedule"]
        );
        assert_eq!(
            refused(|s| s.payment_schedule.clear()),
            ["contract_snapshot.payment_schedule"]
        );
        assert_eq!(
            refused(|s| s.contract_value = eur(0)),
            [
                "contract_snapshot.contract_value",
                "contract_snapshot.payment_schedule"
            ]
        );
    }

    #[test]
    fn parts_are_bounded_and_their_ids_unique() {
        assert_eq!(
            refused(|s| s.deliverables.clear()),
            ["contract_snapshot.deliverables"]
        );
        assert_eq!(
            refused(|s| s.deliverables[1].id = "deliverable-1".into()),
            ["contract_snapshot.deliverables[1].deliverable_id"]
        );
        assert_eq!(
            refused(|s| {
                let o = s.client_obligations[0].clone();
                s.client_obligations.push(o);
            }),
            ["contract_snapshot.client_obligations[1].obligation_id"]
        );
        assert_eq!(
            refused(|s| s.payment_schedule[1].id = "installment-1".into()),
            ["contract_snapshot.payment_schedule[1].installment_id"]
        );
        assert_eq!(
            refused(|s| {
                let d = s.deliverables[0].clone();
                s.deliverables = (0..=MAX_SNAPSHOT_PARTS)
                    .map(|i| ContractDeliverable {
                        id: format!("d{i}"),
                        ..d.clone()
                    })
                    .collect();
            }),
            ["contract_snapshot.deliverables"]
        );
    }

    #[test]
    fn line_items_are_consistent() {
        assert_eq!(
            refused(|s| s.line_items[0].amount = eur(1)),
            ["contract_snapshot.line_items[0].amount"]
        );
        assert_eq!(
            refused(|s| s.line_items[0].quantity = 0),
            ["contract_snapshot.line_items[0].quantity"]
        );
        assert_eq!(
            refused(|s| s.line_items[0].unit_price = eur(i64::MAX)),
            ["contract_snapshot.line_items[0].amount"]
        );
        assert_eq!(
            refused(|s| s.line_items[0].unit_cost =
                Some(Money::new(CurrencyCode::parse("USD").unwrap(), 1))),
            ["contract_snapshot.line_items[0].unit_cost"]
        );
    }

    #[test]
    fn other_rules() {
        assert_eq!(
            refused(|s| s.order = "contracts/c2/orders/o1".into()),
            ["contract_snapshot.order"]
        );
        assert_eq!(
            refused(|s| s.order = "contracts/c1".into()),
            ["contract_snapshot.order"]
        );
        assert_eq!(
            refused(|s| s.client_obligations[0].status = ObligationStatus::Delivered),
            ["contract_snapshot.client_obligations[0].status"]
        );
        assert_eq!(
            refused(|s| s.payment_terms_days = -1),
            ["contract_snapshot.payment_terms_days"]
        );
    }
}
