//! Retention of account managers' portfolios over a period (GetPortfolioMetrics), as a pure
//! function of the accounts: net and gross revenue retention and logo retention, per manager and
//! in total.
//!
//! The definitions are the proto's (`PortfolioMetricsRow`): the cohort is the accounts started
//! before the period's first day and not CHURNED on it; an account's recurring revenue on a day
//! is the annual value of its contracts in force that day, zero when it is CHURNED that day by
//! its status history's effective dates; accounts count under their current account manager;
//! only accounts in the requested currency count.

use closeloop_kit::Problem;
use closeloop_kit::types::CurrencyCode;
use time::Date;

use super::account::Account;
use super::vocabulary::AccountStatus;

/// One row of the report: one account manager's portfolio, or all of them (the total, with an
/// empty manager). Amounts in minor units of the report's currency, saturating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortfolioRow {
    /// Empty in the total.
    pub account_manager: String,
    pub starting_account_count: i64,
    /// Cohort accounts not CHURNED on the last day.
    pub retained_account_count: i64,
    /// Cohort accounts CHURNED on the last day.
    pub churned_account_count: i64,
    /// Accounts started within the period.
    pub new_account_count: i64,
    pub starting_recurring_revenue: i64,
    pub ending_recurring_revenue: i64,
    /// Sum of the increases of retained cohort accounts.
    pub expansion_revenue: i64,
    /// Sum of the decreases of retained cohort accounts.
    pub contraction_revenue: i64,
    /// Starting recurring revenue of the churned cohort accounts.
    pub churned_revenue: i64,
    /// Recurring revenue of the new accounts on the last day.
    pub new_recurring_revenue: i64,
    /// (starting + expansion - contraction - churned) / starting; 0 when starting is 0.
    pub net_revenue_retention_bps: i32,
    /// (starting - contraction - churned) / starting, at most 10000; 0 when starting is 0.
    pub gross_revenue_retention_bps: i32,
    /// retained / starting accounts; 0 when the cohort is empty.
    pub logo_retention_bps: i32,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioMetrics {
    /// The managers asked for; empty when all.
    pub account_managers: Vec<String>,
    pub first_day: Date,
    pub last_day: Date,
    pub currency: CurrencyCode,
    /// One per manager with accounts in the cohort or new in the period, by manager.
    pub rows: Vec<PortfolioRow>,
    pub total: PortfolioRow,
}

/// The recurring revenue of `account` on `day`: the annual values of its contracts whose term
/// covers the day, zero when it is CHURNED that day.
pub fn recurring_revenue(account: &Account, day: Date) -> i64 {
    if account.status_on(day) == AccountStatus::Churned {
        return 0;
    }
    account
        .contracts
        .iter()
        .filter(|c| c.covers(day))
        .fold(0i64, |sum, c| sum.saturating_add(c.annual_value().minor))
}

/// `numerator / denominator` in basis points, rounded half up, saturating into i32; 0 when the
/// denominator is not positive.
fn ratio_bps(numerator: i128, denominator: i128) -> i32 {
    if denominator <= 0 {
        return 0;
    }
    let bps = (numerator.saturating_mul(20_000).saturating_add(denominator)) / (denominator * 2);
    i32::try_from(bps.clamp(i128::from(i32::MIN), i128::from(i32::MAX))).unwrap_or(0)
}

impl PortfolioRow {
    fn add_account(&mut self, account: &Account, first: Date, last: Date) {
        let add = |a: &mut i64, b: i64| *a = a.saturating_add(b);
        if account.start_date < first {
            if account.status_on(first) == AccountStatus::Churned {
                return;
            }
            let start = recurring_revenue(account, first);
            let end = recurring_revenue(account, last);
            add(&mut self.starting_account_count, 1);
            add(&mut self.starting_recurring_revenue, start);
            add(&mut self.ending_recurring_revenue, end);
            if account.status_on(last) == AccountStatus::Churned {
                add(&mut self.churned_account_count, 1);
                add(&mut self.churned_revenue, start);
            } else {
                add(&mut self.retained_account_count, 1);
                if end > start {
                    add(&mut self.expansion_revenue, end - start);
                } else {
                    add(&mut self.contraction_revenue, start - end);
                }
            }
        } else if account.start_date <= last {
            add(&mut self.new_account_count, 1);
            add(
                &mut self.new_recurring_revenue,
                recurring_revenue(account, last),
            );
        }
    }

    fn is_empty(&self) -> bool {
        self.starting_account_count == 0 && self.new_account_count == 0
    }

    fn merge(&mut self, other: &PortfolioRow) {
        let add = |a: &mut i64, b: i64| *a = a.saturating_add(b);
        add(
            &mut self.starting_account_count,
            other.starting_account_count,
        );
        add(
            &mut self.retained_account_count,
            other.retained_account_count,
        );
        add(&mut self.churned_account_count, other.churned_account_count);
        add(&mut self.new_account_count, other.new_account_count);
        add(
            &mut self.starting_recurring_revenue,
            other.starting_recurring_revenue,
        );
        add(
            &mut self.ending_recurring_revenue,
            other.ending_recurring_revenue,
        );
        add(&mut self.expansion_revenue, other.expansion_revenue);
        add(&mut self.contraction_revenue, other.contraction_revenue);
        add(&mut self.churned_revenue, other.churned_revenue);
        add(&mut self.new_recurring_revenue, other.new_recurring_revenue);
    }

    fn finish(&mut self) {
        let start = i128::from(self.starting_recurring_revenue);
        let expansion = i128::from(self.expansion_revenue);
        let contraction = i128::from(self.contraction_revenue);
        let churned = i128::from(self.churned_revenue);
        self.net_revenue_retention_bps =
            ratio_bps(start + expansion - contraction - churned, start);
        self.gross_revenue_retention_bps =
            ratio_bps(start - contraction - churned, start).min(10_000);
        self.logo_retention_bps = ratio_bps(
            i128::from(self.retained_account_count),
            i128::from(self.starting_account_count),
        );
    }
}

/// GetPortfolioMetrics over `accounts` (the app may pass more: those of other managers, when
/// `managers` names some, and in other currencies are left out here) for the period from
/// `first` to `last` inclusive.
///
/// # Errors
/// INVALID_ARGUMENT `period.end_date` when `last` is before `first`.
pub fn portfolio_metrics<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
    managers: &[String],
    first: Date,
    last: Date,
    currency: CurrencyCode,
) -> Result<PortfolioMetrics, Problem> {
    if last < first {
        return Err(Problem::invalid(
            "period.end_date",
            "must not be before period.start_date",
        ));
    }
    let mut rows: std::collections::BTreeMap<String, PortfolioRow> = Default::default();
    for a in accounts {
        if a.currency != currency
            || (!managers.is_empty() && !managers.contains(&a.account_manager))
        {
            continue;
        }
        rows.entry(a.account_manager.clone())
            .or_insert_with(|| PortfolioRow {
                account_manager: a.account_manager.clone(),
                ..PortfolioRow::default()
            })
            .add_account(a, first, last);
    }
    let mut total = PortfolioRow::default();
    let mut out = Vec::new();
    for (_, mut row) in rows {
        if row.is_empty() {
            continue;
        }
        total.merge(&row);
        row.finish();
        out.push(row);
    }
    total.finish();
    Ok(PortfolioMetrics {
        account_managers: managers.to_vec(),
        first_day: first,
        last_day: last,
        currency,
        rows: out,
        total,
    })
}
