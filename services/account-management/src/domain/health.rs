//! An account's health, computed on demand: a score from 0 to 100, its band, and every factor
//! with its score, weight and explanation, from the inputs the proto lists — satisfaction over
//! the recent check-ins, check-in recency against the cadence, outcome progress, open issues by
//! severity, and payment standing read from contracts-and-payments. Weights, thresholds and each
//! factor's parameters are settings ([`Policy`]).
//!
//! Payment data may be unavailable (contracts-and-payments did not answer): health never fails
//! for it. The payment factor is then marked unavailable and the configured weights of the
//! others are rescaled to sum to 100 %. Health informs people; it never moves the status.

use closeloop_kit::time::date_of_micros;
use closeloop_kit::types::{CurrencyCode, Money};
use time::Date;

use super::account::Account;
use super::check_ins::CheckIn;
use super::policy::Policy;
use super::vocabulary::{
    AccountId, AccountStatus, HealthBand, HealthFactorKind as F, OutcomeStatus, Severity,
};

/// The customer's payment standing as contracts-and-payments' GetAccountBalance answered it
/// (closeloop.contracts.v1.AccountBalance), in minor units of `currency`, the fields copied
/// unchanged so each means here what it means there.
///
/// `max_days_past_due` is AccountBalance's own field: the accounts proto's `PaymentStanding`
/// message does not carry it, but the payment factor weighs overdue age, which only it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStanding {
    /// The currency asked for: the account's.
    pub currency: CurrencyCode,
    /// Succeeded payments applied to the account's invoices.
    pub paid_to_date: i64,
    /// Remaining on OPEN and PAST_DUE invoices.
    pub outstanding: i64,
    /// The part of `outstanding` on PAST_DUE invoices.
    pub overdue: i64,
    pub next_due_date: Option<Date>,
    pub next_due_amount: i64,
    /// Days past due of the oldest PAST_DUE invoice; 0 when none.
    pub max_days_past_due: i64,
    /// When contracts-and-payments answered (µs).
    pub read_time: i64,
}

/// What the app could read of the payment standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentData {
    /// Read.
    Available(PaymentStanding),
    /// Not read; why, for people (e.g. "contracts-and-payments did not answer").
    Unavailable(String),
}

impl PaymentData {
    /// The standing, when read in `currency`; otherwise why it cannot be used. A standing in
    /// another currency is unusable (its amounts would be read as the account's).
    pub fn standing(&self, currency: CurrencyCode) -> Result<&PaymentStanding, String> {
        match self {
            PaymentData::Available(s) if s.currency == currency => Ok(s),
            PaymentData::Available(s) => Err(format!(
                "contracts-and-payments answered in {}, not the account's currency {currency}",
                s.currency
            )),
            PaymentData::Unavailable(why) => Err(why.clone()),
        }
    }
}

/// One factor of the health score.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthFactor {
    pub kind: F,
    /// False for PAYMENT_STANDING when payment data is unavailable.
    pub available: bool,
    /// 0 to 100; 0 when not available.
    pub score: i32,
    /// The configured weight in percent.
    pub weight_percent: i32,
    /// The weight applied, in basis points: the configured weights rescaled over the available
    /// factors to sum to exactly 10000 (largest remainders); 0 when not available.
    pub applied_weight_bps: i32,
    /// Points contributed to the overall score: score x applied weight / 10000.
    pub contribution: f64,
    pub explanation: String,
}

/// An account's health at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountHealth {
    pub account: AccountId,
    /// 0 to 100: the sum of the contributions, rounded (half up).
    pub score: i32,
    pub band: HealthBand,
    /// One per factor, in the proto's enum order, unavailable ones included.
    pub factors: Vec<HealthFactor>,
    pub payment_data_unavailable: bool,
    /// The standing used; `None` when unavailable.
    pub payment_standing: Option<PaymentStanding>,
    pub account_status: AccountStatus,
    pub compute_time: i64,
}

/// What health reads beside the account.
#[derive(Debug, Clone, Copy)]
pub struct HealthInputs<'a> {
    /// The account's most recent check-ins, any order; those past
    /// [`Policy::satisfaction_window`] (by `check_in_time`) are ignored.
    pub recent_check_ins: &'a [CheckIn],
    /// The severity of each ISSUE still open on the account.
    pub open_issues: &'a [Severity],
    pub payment: &'a PaymentData,
}

/// A factor's score and explanation, or why it could not be computed.
pub type Scored = Result<(i32, String), String>;

/// The band of `score`: GREEN from the green threshold, YELLOW from the yellow one, RED below.
pub fn band(score: i32, policy: &Policy) -> HealthBand {
    if score >= policy.health_green_threshold {
        HealthBand::Green
    } else if score >= policy.health_yellow_threshold {
        HealthBand::Yellow
    } else {
        HealthBand::Red
    }
}

fn clamp_score(points: i64) -> i32 {
    i32::try_from(points.clamp(0, 100)).unwrap_or(0)
}

/// `numerator / denominator` rounded half up, for non-negative operands; 0 for a zero
/// denominator.
fn div_round(numerator: i128, denominator: i128) -> i128 {
    if denominator == 0 {
        return 0;
    }
    (numerator.saturating_mul(2).saturating_add(denominator)) / denominator.saturating_mul(2)
}

/// SATISFACTION_TREND: level and direction of satisfaction over the last
/// [`Policy::satisfaction_window`] check-ins. The level is their mean mapped from 1..10 to
/// 0..100; the direction, latest minus oldest, adds or takes away
/// [`Policy::satisfaction_trend_points`] per point. Neutral 50 with no check-ins yet.
pub fn satisfaction_factor(check_ins: &[CheckIn], policy: &Policy) -> (i32, String) {
    let mut ordered: Vec<&CheckIn> = check_ins.iter().collect();
    ordered.sort_by_key(|c| (c.check_in_time, c.create_time));
    let window = usize::try_from(policy.satisfaction_window.max(1)).unwrap_or(1);
    let start = ordered.len().saturating_sub(window);
    let recent: Vec<i64> = ordered
        .get(start..)
        .unwrap_or_default()
        .iter()
        .map(|c| i64::from(c.satisfaction.clamp(1, 10)))
        .collect();
    let (Some(&oldest), Some(&latest)) = (recent.first(), recent.last()) else {
        return (50, "no check-ins yet: neutral".to_owned());
    };
    let n = i64::try_from(recent.len()).unwrap_or(1);
    let sum: i64 = recent.iter().sum();
    let level = div_round(i128::from(sum.saturating_sub(n)) * 100, i128::from(9 * n));
    let level = i64::try_from(level).unwrap_or(0);
    let direction = latest - oldest;
    let trend = direction.saturating_mul(i64::from(policy.satisfaction_trend_points));
    let score = clamp_score(level.saturating_add(trend));
    let series = recent
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" -> ");
    let word = match direction {
        d if d > 0 => "rising",
        d if d < 0 => "falling",
        _ => "steady",
    };
    let count = recent.len();
    let noun = if count == 1 { "check-in" } else { "check-ins" };
    (
        score,
        format!(
            "satisfaction {series} over the last {count} {noun} ({word}): level {level}, \
             trend {trend:+}"
        ),
    )
}

/// CHECK_IN_RECENCY: 100 until the next check-in is overdue, then down by the share of the
/// cadence it is overdue by, reaching 0 a whole cadence late.
pub fn recency_factor(account: &Account, policy: &Policy, today: Date) -> (i32, String) {
    let cadence = i64::from(account.cadence_days(policy).max(1));
    let Some(due) = account.check_in_due_date(policy) else {
        return (100, "no check-in can fall due".to_owned());
    };
    let since = match account.last_check_in {
        Some(c) => format!(
            "last check-in {} days ago",
            (today - date_of_micros(c.time)).whole_days().max(0)
        ),
        None => "no check-in yet".to_owned(),
    };
    if due >= today {
        return (
            100,
            format!("{since}, cadence {cadence} days: next due {due}"),
        );
    }
    let late = (today - due).whole_days();
    let lost =
        i64::try_from(div_round(i128::from(late) * 100, i128::from(cadence))).unwrap_or(i64::MAX);
    (
        clamp_score(100i64.saturating_sub(lost)),
        format!("{since}, cadence {cadence} days: due {due}, overdue by {late} days"),
    )
}

/// OUTCOME_PROGRESS: the mean over the account's outcomes of their progress, ACHIEVED ones
/// counting 100 and NOT_ACHIEVED ones 0. Neutral 50 without outcomes: the proto says nothing of
/// that case, and an account without goals is neither on track nor off it.
pub fn outcome_factor(account: &Account) -> (i32, String) {
    if account.outcomes.is_empty() {
        return (50, "no outcomes recorded: neutral".to_owned());
    }
    let (mut achieved, mut failed, mut sum) = (0usize, 0usize, 0i64);
    for o in &account.outcomes {
        sum += match o.status {
            OutcomeStatus::Achieved => {
                achieved += 1;
                100
            }
            OutcomeStatus::NotAchieved => {
                failed += 1;
                0
            }
            _ => i64::from(o.progress_percent.clamp(0, 100)),
        };
    }
    let n = account.outcomes.len();
    let mean = div_round(i128::from(sum), i128::try_from(n).unwrap_or(i128::MAX));
    let score = clamp_score(i64::try_from(mean).unwrap_or(0));
    let pursued = n - achieved - failed;
    (
        score,
        format!(
            "{n} outcomes: {achieved} achieved, {failed} not achieved, {pursued} in progress; \
             average progress {score} %"
        ),
    )
}

/// OPEN_ISSUES: 100 less the configured penalty of each open ISSUE by severity, at least 0.
pub fn issues_factor(open: &[Severity], policy: &Policy) -> (i32, String) {
    if open.is_empty() {
        return (100, "no open issues".to_owned());
    }
    let penalty = open.iter().fold(0i64, |sum, s| {
        sum.saturating_add(i64::from(policy.issue_penalty(*s)))
    });
    let mut by_severity = Vec::new();
    for s in Severity::ALL.into_iter().rev() {
        let count = open.iter().filter(|x| **x == s).count();
        if count > 0 {
            by_severity.push(format!("{count} {}", s.code()));
        }
    }
    (
        clamp_score(100i64.saturating_sub(penalty)),
        format!(
            "{} open issues ({}): -{penalty}",
            open.len(),
            by_severity.join(", ")
        ),
    )
}

/// PAYMENT_STANDING: 100 with nothing overdue; otherwise 100 less
/// [`Policy::payment_overdue_share_points`] in proportion to the share of the outstanding
/// balance that is overdue, and less [`Policy::payment_age_points`] in proportion to the age of
/// the oldest overdue invoice up to [`Policy::payment_age_full_days`].
///
/// # Errors
/// Why the standing cannot be used ([`PaymentData::standing`]): the factor is unavailable.
pub fn payment_factor(payment: &PaymentData, currency: CurrencyCode, policy: &Policy) -> Scored {
    let s = payment.standing(currency)?;
    let money = |minor: i64| Money::new(currency, minor);
    if s.overdue <= 0 {
        return Ok((
            100,
            format!("nothing overdue; {} outstanding", money(s.outstanding)),
        ));
    }
    let overdue = i128::from(s.overdue);
    let outstanding = i128::from(s.outstanding.max(s.overdue));
    let share = div_round(
        overdue * i128::from(policy.payment_overdue_share_points),
        outstanding,
    );
    let full_days = i128::from(policy.payment_age_full_days.max(1));
    let days = i128::from(s.max_days_past_due.max(0)).min(full_days);
    let age = div_round(days * i128::from(policy.payment_age_points), full_days);
    let lost = i64::try_from(share.saturating_add(age)).unwrap_or(i64::MAX);
    Ok((
        clamp_score(100i64.saturating_sub(lost)),
        format!(
            "{} of {} outstanding is overdue (-{share}), the oldest {} days past due (-{age})",
            money(s.overdue),
            money(s.outstanding),
            s.max_days_past_due
        ),
    ))
}

/// Applied weights in basis points: `weights` (percent; `None` for an unavailable factor)
/// rescaled to sum to exactly 10000 over the available factors, the rounding remainder going to
/// the largest fractions first (ties to the earlier factor). All zero when no available factor
/// has weight.
pub fn applied_weights(weights: &[Option<i32>]) -> Vec<i32> {
    let total: i64 = weights
        .iter()
        .flatten()
        .map(|w| i64::from((*w).max(0)))
        .sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let mut bps: Vec<i64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i64, usize)> = Vec::new();
    for (i, w) in weights.iter().enumerate() {
        let w = i64::from(w.unwrap_or(0).max(0));
        let exact = w * 10_000;
        bps.push(exact / total);
        if w > 0 {
            remainders.push((exact % total, i));
        }
    }
    let assigned: i64 = bps.iter().sum();
    let mut missing = 10_000 - assigned;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if missing <= 0 {
            break;
        }
        if let Some(b) = bps.get_mut(i) {
            *b += 1;
            missing -= 1;
        }
    }
    bps.into_iter()
        .map(|b| i32::try_from(b).unwrap_or(0))
        .collect()
}

/// GetAccountHealth: the account's health at `now`.
pub fn compute_health(
    account: &Account,
    inputs: HealthInputs<'_>,
    policy: &Policy,
    now: i64,
) -> AccountHealth {
    let today = date_of_micros(now);
    let payment = payment_factor(inputs.payment, account.currency, policy);
    let computed: Vec<(F, Scored)> = vec![
        (
            F::SatisfactionTrend,
            Ok(satisfaction_factor(inputs.recent_check_ins, policy)),
        ),
        (
            F::CheckInRecency,
            Ok(recency_factor(account, policy, today)),
        ),
        (F::OutcomeProgress, Ok(outcome_factor(account))),
        (F::OpenIssues, Ok(issues_factor(inputs.open_issues, policy))),
        (F::PaymentStanding, payment.clone()),
    ];
    let weights: Vec<Option<i32>> = computed
        .iter()
        .map(|(kind, r)| r.is_ok().then(|| policy.weight(*kind)))
        .collect();
    let applied = applied_weights(&weights);
    let mut points: i64 = 0;
    let mut factors = Vec::with_capacity(computed.len());
    for ((kind, result), bps) in computed.into_iter().zip(applied) {
        let (available, score, explanation) = match result {
            Ok((score, explanation)) => (true, score, explanation),
            Err(why) => (false, 0, format!("payment data unavailable: {why}")),
        };
        let weighted = i64::from(score) * i64::from(bps);
        points = points.saturating_add(weighted);
        factors.push(HealthFactor {
            kind,
            available,
            score,
            weight_percent: policy.weight(kind),
            applied_weight_bps: bps,
            contribution: weighted as f64 / 10_000.0,
            explanation,
        });
    }
    let score = clamp_score(i64::try_from(div_round(i128::from(points), 10_000)).unwrap_or(0));
    let standing = inputs.payment.standing(account.currency).ok().cloned();
    AccountHealth {
        account: account.id.clone(),
        score,
        band: band(score, policy),
        factors,
        payment_data_unavailable: standing.is_none(),
        payment_standing: standing,
        account_status: account.status,
        compute_time: now,
    }
}
