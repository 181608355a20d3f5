//! Reports over many opportunities. The store sums in SQL (so a report over a million
//! opportunities reads a narrow table once); this module turns those sums into the figures people
//! read: win rates, averages, shares, weighted totals.

use super::opportunity::{Kind, LossReason};
use super::stage::{ForecastCategory, Stage};

/// Sums for one (forecast category, open?) group of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForecastRow {
    pub category: ForecastCategory,
    /// Whether these opportunities are open.
    pub open: bool,
    pub count: i64,
    /// Sum of amounts.
    pub amount: i64,
    /// Sum of amount × probability.
    pub weighted: i64,
}

/// One category of a forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForecastBucket {
    pub category: ForecastCategory,
    pub count: i64,
    /// Sum of amounts.
    pub amount: i64,
    /// Sum of weighted amounts.
    pub weighted: i64,
}

/// A forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    /// Every category, in order.
    pub buckets: Vec<ForecastBucket>,
    /// Weighted amount of open opportunities that are not omitted.
    pub weighted_pipeline: i64,
    /// Won amount plus the weighted pipeline.
    pub expected_total: i64,
    pub count: i64,
}

/// The (category, open?) groups a forecast sums: open stages default to PIPELINE, BEST_CASE or
/// COMMIT and may be OMITTED by override; won is CLOSED; lost and disqualified are OMITTED.
pub const FORECAST_GROUPS: [(ForecastCategory, bool); 6] = [
    (ForecastCategory::Pipeline, true),
    (ForecastCategory::BestCase, true),
    (ForecastCategory::Commit, true),
    (ForecastCategory::Omitted, true),
    (ForecastCategory::Closed, false),
    (ForecastCategory::Omitted, false),
];

/// Builds a forecast from the store's sums.
pub fn forecast(rows: &[ForecastRow]) -> Forecast {
    let buckets = ForecastCategory::ALL
        .into_iter()
        .map(|category| {
            rows.iter().filter(|r| r.category == category).fold(
                ForecastBucket {
                    category,
                    count: 0,
                    amount: 0,
                    weighted: 0,
                },
                |b, r| ForecastBucket {
                    category,
                    count: b.count + r.count,
                    amount: b.amount.saturating_add(r.amount),
                    weighted: b.weighted.saturating_add(r.weighted),
                },
            )
        })
        .collect();
    let weighted_pipeline = rows
        .iter()
        .filter(|r| r.open && r.category != ForecastCategory::Omitted)
        .map(|r| r.weighted)
        .fold(0i64, i64::saturating_add);
    let won = rows
        .iter()
        .filter(|r| !r.open && r.category == ForecastCategory::Closed)
        .map(|r| r.amount)
        .fold(0i64, i64::saturating_add);
    Forecast {
        buckets,
        weighted_pipeline,
        expected_total: won.saturating_add(weighted_pipeline),
        count: rows.iter().map(|r| r.count).sum(),
    }
}

/// Sums for one (kind, outcome) group of closed opportunities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomeRow {
    pub kind: Kind,
    /// The closed stage.
    pub stage: Stage,
    pub count: i64,
    /// Sum of amounts.
    pub amount: i64,
    /// Sum of days from creation to close.
    pub cycle_days: i64,
}

/// Win/loss figures of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WinLoss {
    pub won: i64,
    pub lost: i64,
    pub disqualified: i64,
    /// won / (won + lost), basis points.
    pub win_rate_bps: i32,
    pub won_amount: i64,
    pub lost_amount: i64,
    /// Average won amount.
    pub average_deal: i64,
    /// Average days to close over won and lost.
    pub average_cycle_days: f64,
}

/// Figures over the rows that pass `keep`.
pub fn win_loss(rows: &[OutcomeRow], keep: impl Fn(&OutcomeRow) -> bool) -> WinLoss {
    let mut f = WinLoss::default();
    let mut cycle_days = 0i64;
    for r in rows.iter().filter(|r| keep(r)) {
        match r.stage {
            Stage::ClosedWon => {
                f.won += r.count;
                f.won_amount = f.won_amount.saturating_add(r.amount);
                cycle_days += r.cycle_days;
            }
            Stage::ClosedLost => {
                f.lost += r.count;
                f.lost_amount = f.lost_amount.saturating_add(r.amount);
                cycle_days += r.cycle_days;
            }
            _ => f.disqualified += r.count,
        }
    }
    let decided = f.won + f.lost;
    if decided > 0 {
        f.win_rate_bps = (f.won * 10_000 / decided) as i32;
        f.average_cycle_days = cycle_days as f64 / decided as f64;
    }
    if f.won > 0 {
        f.average_deal = f.won_amount / f.won;
    }
    f
}

/// Lost deals of one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonRow {
    pub reason: LossReason,
    pub count: i64,
    /// Sum of amounts.
    pub amount: i64,
}

/// Lost deals to one competitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompetitorRow {
    /// Name as first recorded.
    pub competitor: String,
    pub count: i64,
    /// Sum of amounts.
    pub amount: i64,
}

/// Losses to one spelling of a competitor, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpellingRow {
    /// The spelling's [`competitor_key`](super::vocabulary::competitor_key).
    pub key: String,
    pub name: String,
    pub count: i64,
    /// Sum of amounts.
    pub amount: i64,
}

/// Merges the spellings of each competitor (same key) into one row, named by its most used
/// spelling (ties: the first in byte order), so every backend reports the same groups.
pub fn merge_competitors(rows: Vec<SpellingRow>) -> Vec<CompetitorRow> {
    let mut merged: Vec<(String, CompetitorRow, i64)> = Vec::new();
    for r in rows {
        match merged.iter_mut().find(|(k, _, _)| *k == r.key) {
            Some((_, row, best)) => {
                row.count += r.count;
                row.amount = row.amount.saturating_add(r.amount);
                if r.count > *best || (r.count == *best && r.name < row.competitor) {
                    row.competitor = r.name;
                    *best = r.count;
                }
            }
            None => merged.push((
                r.key,
                CompetitorRow {
                    competitor: r.name,
                    count: r.count,
                    amount: r.amount,
                },
                r.count,
            )),
        }
    }
    merged.into_iter().map(|(_, row, _)| row).collect()
}

/// Orders rows most frequent first, then by amount, then by name for stable output.
pub fn rank_reasons(mut rows: Vec<ReasonRow>) -> Vec<ReasonRow> {
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.amount.cmp(&a.amount))
            .then(a.reason.code().cmp(b.reason.code()))
    });
    rows
}

/// Orders competitors most frequent first.
pub fn rank_competitors(mut rows: Vec<CompetitorRow>) -> Vec<CompetitorRow> {
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.amount.cmp(&a.amount))
            .then(a.competitor.cmp(&b.competitor))
    });
    rows
}

/// Won sums for one (owner, kind) group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WonRow {
    pub owner: String,
    pub kind: Kind,
    pub count: i64,
    /// Sum of sold amounts.
    pub amount: i64,
    /// Sum of list amounts.
    pub list_amount: i64,
    /// Sum of prior contract values (renewals).
    pub prior_value: i64,
}

/// One salesperson's revenue mix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mix {
    /// Salesperson; empty for the total.
    pub owner: String,
    /// Won new business.
    pub new_business: i64,
    pub expansion: i64,
    pub renewal: i64,
    /// List amount of won deals.
    pub list_amount: i64,
    /// Prior contract values of won renewals.
    pub prior_value: i64,
    pub won: i64,
}

impl Mix {
    /// New business + expansion.
    pub fn incremental(&self) -> i64 {
        self.new_business.saturating_add(self.expansion)
    }

    /// Renewals.
    pub fn baseline(&self) -> i64 {
        self.renewal
    }

    /// Incremental share, basis points.
    pub fn incremental_share_bps(&self) -> i32 {
        ratio_bps(
            self.incremental(),
            self.incremental().saturating_add(self.baseline()),
        )
    }

    /// Sold amount of all won deals.
    pub fn sold(&self) -> i64 {
        self.incremental().saturating_add(self.baseline())
    }

    /// List − sold.
    pub fn discount_given(&self) -> i64 {
        self.list_amount.saturating_sub(self.sold())
    }

    /// Discount over list, basis points.
    pub fn discount_bps(&self) -> i32 {
        ratio_bps(self.discount_given(), self.list_amount)
    }

    /// Renewals' amount minus their prior values.
    pub fn renewal_price_change(&self) -> i64 {
        self.renewal.saturating_sub(self.prior_value)
    }

    /// Renewal price change over prior values, basis points.
    pub fn renewal_price_change_bps(&self) -> i32 {
        ratio_bps(self.renewal_price_change(), self.prior_value)
    }

    fn add(&mut self, r: &WonRow) {
        match r.kind {
            Kind::NewBusiness => self.new_business = self.new_business.saturating_add(r.amount),
            Kind::Expansion => self.expansion = self.expansion.saturating_add(r.amount),
            Kind::Renewal => {
                self.renewal = self.renewal.saturating_add(r.amount);
                self.prior_value = self.prior_value.saturating_add(r.prior_value);
            }
        }
        self.list_amount = self.list_amount.saturating_add(r.list_amount);
        self.won += r.count;
    }
}

fn ratio_bps(part: i64, whole: i64) -> i32 {
    if whole == 0 {
        0
    } else {
        super::opportunity::clamp_bps(i128::from(part) * 10_000 / i128::from(whole))
    }
}

/// Rows per owner (ordered by owner) and the total.
pub fn revenue_mix(rows: &[WonRow]) -> (Vec<Mix>, Mix) {
    let mut per_owner: Vec<Mix> = Vec::new();
    let mut total = Mix::default();
    let mut sorted: Vec<&WonRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.owner.cmp(&b.owner));
    for r in sorted {
        if per_owner.last().is_none_or(|m| m.owner != r.owner) {
            per_owner.push(Mix {
                owner: r.owner.clone(),
                ..Mix::default()
            });
        }
        per_owner.last_mut().expect("pushed").add(r);
        total.add(r);
    }
    (per_owner, total)
}

/// Time spent in one stage over the stage changes of a period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageDuration {
    /// The stage left.
    pub stage: Stage,
    /// How many times it was left.
    pub exits: i64,
    /// Average time in it (µs).
    pub average_micros: i64,
    /// Longest time in it (µs).
    pub max_micros: i64,
}

/// One row per open stage, in order, filling stages with no exits.
pub fn stage_durations(rows: &[StageDuration]) -> Vec<StageDuration> {
    Stage::OPEN
        .into_iter()
        .map(|stage| {
            rows.iter()
                .find(|r| r.stage == stage)
                .copied()
                .unwrap_or(StageDuration {
                    stage,
                    exits: 0,
                    average_micros: 0,
                    max_micros: 0,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_weights_only_open_non_omitted_and_adds_won() {
        use ForecastCategory::*;
        let rows = [
            ForecastRow {
                category: Pipeline,
                open: true,
                count: 2,
                amount: 1000,
                weighted: 100,
            },
            ForecastRow {
                category: Commit,
                open: true,
                count: 1,
                amount: 500,
                weighted: 400,
            },
            ForecastRow {
                category: Omitted,
                open: true,
                count: 1,
                amount: 700,
                weighted: 70,
            },
            ForecastRow {
                category: Omitted,
                open: false,
                count: 3,
                amount: 900,
                weighted: 0,
            },
            ForecastRow {
                category: Closed,
                open: false,
                count: 1,
                amount: 2000,
                weighted: 2000,
            },
        ];
        let f = forecast(&rows);
        assert_eq!(f.buckets.len(), 5);
        assert_eq!(
            f.buckets[4],
            ForecastBucket {
                category: Omitted,
                count: 4,
                amount: 1600,
                weighted: 70
            }
        );
        assert_eq!(f.buckets[1].count, 0);
        assert_eq!(f.weighted_pipeline, 500);
        assert_eq!(f.expected_total, 2500);
        assert_eq!(f.count, 8);
    }

    #[test]
    fn win_rate_ignores_disqualified_and_handles_nothing_decided() {
        let rows = [
            OutcomeRow {
                kind: Kind::NewBusiness,
                stage: Stage::ClosedWon,
                count: 3,
                amount: 300,
                cycle_days: 30,
            },
            OutcomeRow {
                kind: Kind::Renewal,
                stage: Stage::ClosedLost,
                count: 1,
                amount: 50,
                cycle_days: 10,
            },
            OutcomeRow {
                kind: Kind::NewBusiness,
                stage: Stage::Disqualified,
                count: 5,
                amount: 0,
                cycle_days: 5,
            },
        ];
        let all = win_loss(&rows, |_| true);
        assert_eq!((all.won, all.lost, all.disqualified), (3, 1, 5));
        assert_eq!(all.win_rate_bps, 7500);
        assert_eq!(all.average_deal, 100);
        assert!((all.average_cycle_days - 10.0).abs() < 1e-9);
        let none = win_loss(&rows, |r| r.kind == Kind::Expansion);
        assert_eq!(none, WinLoss::default());
    }

    #[test]
    fn mix_splits_incremental_and_baseline_per_owner() {
        let rows = [
            WonRow {
                owner: "bob".into(),
                kind: Kind::Renewal,
                count: 1,
                amount: 1100,
                list_amount: 1100,
                prior_value: 1000,
            },
            WonRow {
                owner: "ana".into(),
                kind: Kind::NewBusiness,
                count: 2,
                amount: 900,
                list_amount: 1000,
                prior_value: 0,
            },
            WonRow {
                owner: "ana".into(),
                kind: Kind::Expansion,
                count: 1,
                amount: 100,
                list_amount: 100,
                prior_value: 0,
            },
        ];
        let (owners, total) = revenue_mix(&rows);
        assert_eq!(
            owners.iter().map(|m| m.owner.as_str()).collect::<Vec<_>>(),
            ["ana", "bob"]
        );
        assert_eq!(owners[0].incremental(), 1000);
        assert_eq!(owners[0].incremental_share_bps(), 10_000);
        assert_eq!(owners[0].discount_given(), 100);
        assert_eq!(owners[0].discount_bps(), 909);
        assert_eq!(owners[1].renewal_price_change(), 100);
        assert_eq!(owners[1].renewal_price_change_bps(), 1000);
        assert_eq!(total.incremental_share_bps(), 4761);
        assert_eq!(total.won, 4);
    }
}
