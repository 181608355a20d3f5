//! An account's payment standing (GetAccountBalance) and the overdue ladder per invoice, as pure
//! functions of the account's invoices and contracts on a given day. Levels are computed per
//! invoice, so a paid period never escalates and paying the oldest invoice lowers the account's
//! worst level.

use closeloop_kit::time::date_of_micros;
use closeloop_kit::types::CurrencyCode;
use time::{Date, Duration};

use super::contract::Contract;
use super::invoice::Invoice;
use super::policy::Policy;
use super::vocabulary::{ContractStatus, InvoiceStatus, OverdueLevel};

impl Invoice {
    /// The rung of the overdue ladder on `today`: the highest whose threshold `days_past_due`
    /// has reached; NONE when not PAST_DUE (so PAID, VOID and UNCOLLECTIBLE invoices never
    /// climb) or below the lowest rung.
    pub fn overdue_level(&self, today: Date, policy: &Policy) -> OverdueLevel {
        policy.overdue_level(self.days_past_due(today))
    }
}

/// What the balance needs of one of the account's contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountContract {
    pub status: ContractStatus,
    pub currency: CurrencyCode,
    /// Minor units.
    pub value: i64,
    /// Orders "the most recent contract", whose currency is the default.
    pub create_time: i64,
}

impl From<&Contract> for AccountContract {
    fn from(c: &Contract) -> AccountContract {
        AccountContract {
            status: c.status,
            currency: c.currency,
            value: c.value(),
            create_time: c.create_time,
        }
    }
}

/// The currency a balance reports when the caller names none: that of the account's most
/// recent contract (latest `create_time`; of equal ones, the last given). `None` without
/// contracts.
pub fn default_currency(contracts: &[AccountContract]) -> Option<CurrencyCode> {
    contracts
        .iter()
        .max_by_key(|c| c.create_time)
        .map(|c| c.currency)
}

/// An account's payment standing in one currency. Amounts are minor units of `currency`.
///
/// Sums saturate at `i64::MAX` instead of failing: a balance is read, not written, and an
/// account whose figures reach 92 quadrillion euros is better shown as "at least that" than not
/// at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    pub account_id: String,
    /// `None` only when none was asked for and the account has no contract: then every figure
    /// is zero.
    pub currency: Option<CurrencyCode>,
    /// Sum of the payments applied to the account's invoices (partial ones included, and those
    /// on DRAFT and UNCOLLECTIBLE invoices).
    pub paid_to_date: i64,
    /// Amount remaining on OPEN and PAST_DUE invoices.
    pub outstanding: i64,
    /// The part of `outstanding` on PAST_DUE invoices.
    pub overdue: i64,
    /// The earliest due date of an OPEN invoice; without one, the earliest of a PAST_DUE one.
    pub next_due_date: Option<Date>,
    /// Amount remaining on the invoices of that status due on `next_due_date`.
    pub next_due_amount: i64,
    /// NONE when no invoice is on a rung.
    pub worst_overdue_level: OverdueLevel,
    /// Days past due of the oldest PAST_DUE invoice; 0 when none.
    pub max_days_past_due: i64,
    /// Amount remaining on DRAFT invoices (not issued yet). The amount remaining rather than
    /// the amount due, since a DRAFT invoice may have been paid in part ahead of its issue and
    /// that part is in `paid_to_date` already.
    pub scheduled: i64,
    /// Amount remaining on UNCOLLECTIBLE invoices.
    pub uncollectible: i64,
    /// OPEN and PAST_DUE invoices.
    pub open_invoice_count: i32,
    pub past_due_invoice_count: i32,
    /// OPEN follow-ups on the account, as given.
    pub open_follow_up_count: i32,
    /// ACTIVE contracts, in every currency: a count of contracts is not an amount.
    pub active_contract_count: i32,
    /// Sum of the values of the contracts in `currency` that were signed (SIGNED, ACTIVE,
    /// COMPLETED, TERMINATED).
    pub contract_value_total: i64,
    /// The last day of the service periods paid without gap: the latest end of a PAID
    /// invoice's service period such that every invoice whose period ends on or before it is
    /// PAID or VOID. `None` when no invoice has a period or none of those is paid.
    pub paid_through_date: Option<Date>,
    /// Set when `worst_overdue_level` is SUSPENDED: the day the longest-overdue invoice reached
    /// the SUSPENDED rung, or the day after `paid_through_date` when that is later.
    pub suspension_effective_date: Option<Date>,
    /// When the latest succeeded payment happened.
    pub last_payment_time: Option<i64>,
    /// Currencies of the account's other invoices, left out above; sorted.
    pub other_currencies: Vec<CurrencyCode>,
    /// When it was computed.
    pub compute_time: i64,
}

impl AccountBalance {
    /// The standing of `account_id` at `now` (dates are the UTC day of `now`), in `requested`
    /// or else [`default_currency`], from its contracts and its invoices (invoices of other
    /// accounts are ignored). `open_follow_up_count` is the number of OPEN follow-ups on the
    /// account. An account without contracts or invoices gets a zero balance.
    pub fn compute(
        account_id: &str,
        requested: Option<CurrencyCode>,
        contracts: &[AccountContract],
        invoices: &[Invoice],
        open_follow_up_count: i32,
        policy: &Policy,
        now: i64,
    ) -> AccountBalance {
        let today = date_of_micros(now);
        let currency = requested.or_else(|| default_currency(contracts));
        let invoices: Vec<&Invoice> = invoices
            .iter()
            .filter(|i| i.account.account_id == account_id)
            .collect();
        let mut other_currencies: Vec<CurrencyCode> = invoices
            .iter()
            .map(|i| i.currency)
            .filter(|c| Some(*c) != currency)
            .collect();
        other_currencies.sort_unstable();
        other_currencies.dedup();
        let mine: Vec<(&Invoice, InvoiceStatus)> = invoices
            .into_iter()
            .filter(|i| Some(i.currency) == currency)
            .map(|i| (i, i.status(today)))
            .collect();

        let mut b = AccountBalance {
            account_id: account_id.to_owned(),
            currency,
            paid_to_date: 0,
            outstanding: 0,
            overdue: 0,
            next_due_date: None,
            next_due_amount: 0,
            worst_overdue_level: OverdueLevel::None,
            max_days_past_due: 0,
            scheduled: 0,
            uncollectible: 0,
            open_invoice_count: 0,
            past_due_invoice_count: 0,
            open_follow_up_count,
            active_contract_count: count(
                contracts
                    .iter()
                    .filter(|c| c.status == ContractStatus::Active),
            ),
            contract_value_total: contracts
                .iter()
                .filter(|c| Some(c.currency) == currency && c.status.was_signed())
                .fold(0, |sum, c| sum.saturating_add(c.value)),
            paid_through_date: None,
            suspension_effective_date: None,
            last_payment_time: None,
            other_currencies,
            compute_time: now,
        };
        for &(invoice, status) in &mine {
            let remaining = invoice.amount_remaining();
            b.paid_to_date = b.paid_to_date.saturating_add(invoice.amount_paid);
            b.last_payment_time = b.last_payment_time.max(invoice.last_payment_time);
            match status {
                InvoiceStatus::Draft => b.scheduled = b.scheduled.saturating_add(remaining),
                InvoiceStatus::Open => {
                    b.outstanding = b.outstanding.saturating_add(remaining);
                    b.open_invoice_count = b.open_invoice_count.saturating_add(1);
                }
                InvoiceStatus::PastDue => {
                    b.outstanding = b.outstanding.saturating_add(remaining);
                    b.overdue = b.overdue.saturating_add(remaining);
                    b.open_invoice_count = b.open_invoice_count.saturating_add(1);
                    b.past_due_invoice_count = b.past_due_invoice_count.saturating_add(1);
                    b.max_days_past_due = b.max_days_past_due.max(invoice.days_past_due(today));
                }
                InvoiceStatus::Uncollectible => {
                    b.uncollectible = b.uncollectible.saturating_add(remaining);
                }
                InvoiceStatus::Paid | InvoiceStatus::Void => {}
            }
            b.worst_overdue_level = b
                .worst_overdue_level
                .max(invoice.overdue_level(today, policy));
        }
        (b.next_due_date, b.next_due_amount) = next_due(&mine);
        b.paid_through_date = paid_through(&mine);
        if b.worst_overdue_level == OverdueLevel::Suspended {
            b.suspension_effective_date =
                suspension_effective(&mine, b.paid_through_date, policy, today);
        }
        b
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    i32::try_from(items.count()).unwrap_or(i32::MAX)
}

/// The next invoice to pay: the earliest due date among OPEN invoices, or, with none, among
/// PAST_DUE ones; and the amount remaining on the invoices of that status due that day.
fn next_due(invoices: &[(&Invoice, InvoiceStatus)]) -> (Option<Date>, i64) {
    for wanted in [InvoiceStatus::Open, InvoiceStatus::PastDue] {
        let of_status = || invoices.iter().filter(move |(_, s)| *s == wanted);
        if let Some(date) = of_status().map(|(i, _)| i.due_date).min() {
            let amount = of_status()
                .filter(|(i, _)| i.due_date == date)
                .fold(0i64, |sum, (i, _)| sum.saturating_add(i.amount_remaining()));
            return (Some(date), amount);
        }
    }
    (None, 0)
}

/// The last day of the service periods paid without gap: the latest end of a PAID invoice's
/// period such that every invoice whose period ends on or before it is PAID or VOID. `None`
/// when no invoice has a period or none of those is paid.
///
/// Only the ends of PAID periods are candidates: a VOID period is owed by nobody but was not
/// paid for, so service is not "paid through" it; it just does not stand in the way of a later
/// paid period. Periods are compared by their ends, as the proto defines the date; a calendar
/// gap between two periods with no invoice for it is no gap in payment, since nothing is owed
/// for it.
fn paid_through(invoices: &[(&Invoice, InvoiceStatus)]) -> Option<Date> {
    let with_period = || {
        invoices
            .iter()
            .filter_map(|(i, s)| i.service_period.map(|(_, end)| (end, *s)))
    };
    // The first period end not settled by payment or voiding: nothing from it on is paid
    // through.
    let first_unpaid = with_period()
        .filter(|(_, s)| !matches!(s, InvoiceStatus::Paid | InvoiceStatus::Void))
        .map(|(end, _)| end)
        .min();
    with_period()
        .filter(|(end, s)| *s == InvoiceStatus::Paid && first_unpaid.is_none_or(|u| *end < u))
        .map(|(end, _)| end)
        .max()
}

/// The first day service may be suspended, for an account whose worst level is SUSPENDED: the
/// day its longest-overdue invoice reached the SUSPENDED rung (due date plus the rung's
/// threshold), but never before the day after `paid_through`, so a suspension never reaches
/// into a period already paid.
///
/// The day the rung was reached rather than today: it is the same on every read, so the
/// account-management service can act on it (and tell the client since when) without the date
/// sliding forward each day. It is today or earlier, unless paid periods run past today.
fn suspension_effective(
    invoices: &[(&Invoice, InvoiceStatus)],
    paid_through: Option<Date>,
    policy: &Policy,
    today: Date,
) -> Option<Date> {
    let reached = invoices
        .iter()
        .filter(|(i, _)| i.overdue_level(today, policy) == OverdueLevel::Suspended)
        .map(|(i, _)| {
            i.due_date
                .checked_add(Duration::days(i64::from(policy.suspended_days)))
                .unwrap_or(today)
                .min(today)
        })
        .min()?;
    let after_paid = paid_through.map(|d| d.next_day().unwrap_or(d));
    Some(after_paid.map_or(reached, |d| reached.max(d)))
}
