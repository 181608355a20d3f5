//! The customer's lifetime value and every input of its formula:
//!
//! ```text
//! lifetime_value = realised_revenue x gross_margin
//!                + expected_annual_revenue x gross_margin x expected_lifetime_years
//! expected_lifetime_years = 1 / annual churn rate, capped at the configured maximum
//! ```
//!
//! Realised revenue is what the customer paid to date (contracts-and-payments); when that cannot
//! be read, it is estimated as the contract value earned to date pro rata to elapsed terms, and
//! the answer says so. The churn rate is the portfolio's over the trailing 12 months
//! ([`churn_counts`], [`annual_churn_rate`]). All amounts are integer minor units, computed in
//! i128 and saturated into i64; only the two year figures shown for context are floats.

use closeloop_kit::time::{add_months, date_of_micros};
use closeloop_kit::types::{CurrencyCode, Money};
use time::Date;

use super::account::{Account, ContractReference};
use super::health::{PaymentData, PaymentStanding};
use super::policy::Policy;
use super::vocabulary::{AccountId, AccountStatus};

/// The formula in words, as `CustomerLifetimeValue.formula` shows it.
pub const FORMULA: &str = "lifetime_value = realised_revenue x gross_margin + \
                           expected_annual_revenue x gross_margin x expected_lifetime_years; \
                           expected_lifetime_years = 1 / annual_churn_rate, capped";

/// Accounts counted for the portfolio's churn rate over the trailing 12 months.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChurnCounts {
    /// Accounts active (started, not CHURNED) on the window's first day.
    pub active_at_start: i64,
    /// Of those, the ones that churned within the window.
    pub churned: i64,
}

/// The annual churn rate used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnRate {
    /// Basis points, 0 to 10000.
    pub bps: i32,
    /// The configured default, because too few accounts were active.
    pub default_used: bool,
}

/// The first day of the trailing 12 months ending `today`: the same day a year before.
pub fn churn_window_start(today: Date) -> Date {
    add_months(today, -12).unwrap_or(Date::MIN)
}

/// Counts, over `accounts` (all of them, every manager and currency: churn is the company's),
/// those active on the first day of the trailing 12 months ending `today` — started on or
/// before it and not CHURNED on it, by the status history's effective dates — and those of them
/// that entered CHURNED within the window (after its first day, up to today), counted once
/// however often. The app may count the same in the store; this is the definition.
pub fn churn_counts<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
    today: Date,
) -> ChurnCounts {
    let start = churn_window_start(today);
    let mut counts = ChurnCounts::default();
    for a in accounts {
        if a.start_date > start || a.status_on(start) == AccountStatus::Churned {
            continue;
        }
        counts.active_at_start = counts.active_at_start.saturating_add(1);
        let churned = a.status_history.iter().any(|c| {
            c.to == AccountStatus::Churned && c.effective_date > start && c.effective_date <= today
        });
        if churned {
            counts.churned = counts.churned.saturating_add(1);
        }
    }
    counts
}

/// The annual churn rate from `counts`: churned / active at the start, in basis points (half
/// up, at most 10000), or the configured default when fewer than
/// [`Policy::churn_rate_min_accounts`] accounts were active.
pub fn annual_churn_rate(counts: ChurnCounts, policy: &Policy) -> ChurnRate {
    if counts.active_at_start < i64::from(policy.churn_rate_min_accounts)
        || counts.active_at_start <= 0
    {
        return ChurnRate {
            bps: policy.default_annual_churn_rate_bps,
            default_used: true,
        };
    }
    let churned = i128::from(counts.churned.clamp(0, counts.active_at_start));
    let active = i128::from(counts.active_at_start);
    let bps = (churned * 20_000 + active) / (active * 2);
    ChurnRate {
        bps: i32::try_from(bps.clamp(0, 10_000)).unwrap_or(10_000),
        default_used: false,
    }
}

/// A customer's lifetime value with the inputs of its formula.
#[derive(Debug, Clone, PartialEq)]
pub struct LifetimeValue {
    pub account: AccountId,
    pub currency: CurrencyCode,
    /// Paid to date, or the estimate when payment data is unavailable.
    pub realised_revenue: Money,
    pub realised_revenue_estimated: bool,
    /// The annual value of the contracts in force; zero when CHURNED.
    pub expected_annual_revenue: Money,
    /// The contracts' margins weighted by value, or the configured default.
    pub gross_margin_bps: i32,
    pub gross_margin_default_used: bool,
    pub annual_churn_rate_bps: i32,
    pub churn_rate_default_used: bool,
    /// 10000 / churn rate, capped at [`Policy::max_expected_lifetime_years`].
    pub expected_lifetime_years: f64,
    /// Years since the start date, for context.
    pub tenure_years: f64,
    /// realised_revenue x gross margin.
    pub realised_gross_profit: Money,
    /// expected_annual_revenue x gross margin x expected lifetime.
    pub expected_future_gross_profit: Money,
    /// The sum of the two.
    pub lifetime_value: Money,
    pub formula: &'static str,
    pub payment_data_unavailable: bool,
    pub payment_standing: Option<PaymentStanding>,
    /// Remarks on the inputs, for people.
    pub notes: Vec<String>,
    pub compute_time: i64,
}

fn to_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// `a x b / c` rounded half up (non-negative operands), 0 for a zero `c`.
fn mul_div(a: i128, b: i128, c: i128) -> i128 {
    if c <= 0 {
        return 0;
    }
    (a.saturating_mul(b).saturating_mul(2).saturating_add(c)) / c.saturating_mul(2)
}

/// The value of `contract` earned through `through` (inclusive), pro rata to the days of its
/// term: value x elapsed days / term days within the term; the whole value after it; plus, for
/// an auto-renewing contract, its annual value pro rata for the days after the end (365 a year);
/// for an open-ended one, its annual value pro rata from the start. Rounded down: earned, not
/// promised.
pub fn earned_through(contract: &ContractReference, through: Date) -> i64 {
    if through < contract.start_date {
        return 0;
    }
    let value = i128::from(contract.value.minor);
    let annual = i128::from(contract.annual_value().minor);
    let days = |from: Date, to: Date| i128::from((to - from).whole_days()).max(0);
    let earned = match contract.end_date {
        Some(end) if through <= end => {
            let term = days(contract.start_date, end) + 1;
            value.saturating_mul(days(contract.start_date, through) + 1) / term
        }
        Some(_) if !contract.auto_renew => value,
        Some(end) => value.saturating_add(annual.saturating_mul(days(end, through)) / 365),
        None => annual.saturating_mul(days(contract.start_date, through) + 1) / 365,
    };
    to_i64(earned.max(0))
}

/// The contracts' gross margin weighted by value over those that state one, or `None` when none
/// does.
fn weighted_margin(contracts: &[ContractReference]) -> Option<i32> {
    let stated: Vec<&ContractReference> = contracts
        .iter()
        .filter(|c| c.gross_margin_bps > 0 && c.value.minor > 0)
        .collect();
    if stated.is_empty() {
        return None;
    }
    let value: i128 = stated.iter().map(|c| i128::from(c.value.minor)).sum();
    let weighted: i128 = stated
        .iter()
        .map(|c| i128::from(c.value.minor) * i128::from(c.gross_margin_bps))
        .sum();
    i32::try_from(mul_div(weighted, 1, value).clamp(0, 10_000)).ok()
}

/// GetCustomerLifetimeValue: the lifetime value of `account` at `now`, with `payment` as read
/// from contracts-and-payments and `churn` the portfolio's rate ([`annual_churn_rate`]).
///
/// Realised revenue when estimated counts the contracts through today, or through the day
/// before the churn date once CHURNED ("contracts no longer count as recurring revenue from the
/// churn date").
pub fn lifetime_value(
    account: &Account,
    payment: &PaymentData,
    churn: ChurnRate,
    policy: &Policy,
    now: i64,
) -> LifetimeValue {
    let today = date_of_micros(now);
    let currency = account.currency;
    let mut notes = Vec::new();

    let standing = payment.standing(currency);
    let (realised, estimated) = match &standing {
        Ok(s) => (s.paid_to_date.max(0), false),
        Err(why) => {
            let through = match &account.churn {
                Some(c) if account.status == AccountStatus::Churned => {
                    c.churn_date.previous_day().unwrap_or(c.churn_date)
                }
                _ => today,
            };
            let earned = account.contracts.iter().fold(0i64, |sum, c| {
                sum.saturating_add(earned_through(c, through))
            });
            notes.push(format!(
                "payment data unavailable ({why}): realised revenue estimated from the contract \
                 terms elapsed through {through}"
            ));
            (earned, true)
        }
    };

    let annual = account.annual_contract_value(today).minor;
    if account.status == AccountStatus::Churned {
        notes.push("the account is CHURNED: no expected annual revenue".to_owned());
    }
    let (margin, margin_default) = match weighted_margin(&account.contracts) {
        Some(m) => (m, false),
        None => {
            notes.push(format!(
                "no contract states a gross margin: the default {} bps is used",
                policy.default_gross_margin_bps
            ));
            (policy.default_gross_margin_bps, true)
        }
    };
    if churn.default_used {
        notes.push(format!(
            "fewer than {} accounts were active 12 months ago: the default churn rate {} bps is \
             used",
            policy.churn_rate_min_accounts, churn.bps
        ));
    }

    // Lifetime as the fraction years_num / years_den: 10000 / rate, or the cap.
    let cap = i128::from(policy.max_expected_lifetime_years.max(1));
    let rate = i128::from(churn.bps.max(0));
    let (years_num, years_den) = if rate == 0 || 10_000 > cap.saturating_mul(rate) {
        notes.push(format!(
            "expected lifetime capped at {cap} years (10000 / {} bps is more)",
            churn.bps
        ));
        (cap, 1)
    } else {
        (10_000, rate)
    };

    let realised_profit = mul_div(i128::from(realised), i128::from(margin), 10_000);
    let future_profit = mul_div(
        i128::from(annual).saturating_mul(i128::from(margin)),
        years_num,
        years_den.saturating_mul(10_000),
    );
    let total = realised_profit.saturating_add(future_profit);
    let tenure_days = (today - account.start_date).whole_days().max(0);
    let money = |v: i128| Money::new(currency, to_i64(v));
    LifetimeValue {
        account: account.id.clone(),
        currency,
        realised_revenue: Money::new(currency, realised),
        realised_revenue_estimated: estimated,
        expected_annual_revenue: Money::new(currency, annual),
        gross_margin_bps: margin,
        gross_margin_default_used: margin_default,
        annual_churn_rate_bps: churn.bps,
        churn_rate_default_used: churn.default_used,
        expected_lifetime_years: years_num as f64 / years_den as f64,
        tenure_years: tenure_days as f64 / 365.25,
        realised_gross_profit: money(realised_profit),
        expected_future_gross_profit: money(future_profit),
        lifetime_value: money(total),
        formula: FORMULA,
        payment_data_unavailable: standing.is_err(),
        payment_standing: standing.ok().cloned(),
        notes,
        compute_time: now,
    }
}
