//! The sums reports read: one pass over a covering index per report, summed exactly (no
//! BIGINT overflow however many rows), turned into figures by `domain::reports`.

use closeloop_kit::Problem;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::{ReportScope, Store};
use crate::domain::opportunity::{Kind, LossReason};
use crate::domain::reports::{
    CompetitorRow, FORECAST_GROUPS, ForecastRow, OutcomeRow, ReasonRow, SpellingRow, StageDuration,
    WonRow, merge_competitors,
};
use crate::domain::stage::Stage;

/// Selects the sum of `expr` (non-negative minor units) as two exact parts, `{name}_hi` in units
/// of 10^9 and `{name}_lo` below that, so no SQL sum can overflow BIGINT however many rows it
/// covers; [`read_sum`] puts them together.
fn split_sum(expr: &str, filter: &str, name: &str) -> String {
    format!(
        "CAST(SUM(({expr}) / 1000000000){filter} AS BIGINT) AS {name}_hi, \
         CAST(SUM(({expr}) % 1000000000){filter} AS BIGINT) AS {name}_lo"
    )
}

/// Reads a [`split_sum`], saturating at the largest amount an answer carries.
fn read_sum(row: &sqlx::any::AnyRow, name: &str) -> Result<i64, Problem> {
    let hi: Option<i64> = row.try_get(format!("{name}_hi").as_str())?;
    let lo: Option<i64> = row.try_get(format!("{name}_lo").as_str())?;
    let total = i128::from(hi.unwrap_or(0)) * 1_000_000_000 + i128::from(lo.unwrap_or(0));
    Ok(i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX }))
}

/// Builds `$n, $n+1, …` placeholders for an `IN` list.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Builds `WHERE` conditions for a report scope over `day_column`; parameters start at
    /// `$1` (currency), `$2`, `$3` (days), then the owners.
    fn scope_sql(scope: &ReportScope, day_column: &str, first_extra: usize) -> String {
        let mut sql = format!("currency = $1 AND {day_column} BETWEEN $2 AND $3");
        if !scope.owners.is_empty() {
            sql.push_str(&format!(
                " AND owner IN ({})",
                placeholders(first_extra, scope.owners.len())
            ));
        }
        sql
    }

    fn bind_scope<'q>(
        mut q: Query<'q, Any, AnyArguments>,
        scope: &ReportScope,
    ) -> Query<'q, Any, AnyArguments> {
        q = q
            .bind(scope.currency.clone())
            .bind(scope.start_day)
            .bind(scope.end_day);
        for owner in &scope.owners {
            q = q.bind(owner.clone());
        }
        q
    }

    /// Forecast sums per (category, open?) for opportunities counting in the period.
    ///
    /// One pass of filtered sums over the covering index, with no GROUP BY: SQLite groups by
    /// sorting every row, which over a million rows costs time and memory for six groups.
    ///
    /// # Errors
    /// Database errors.
    pub async fn forecast(&self, scope: &ReportScope) -> Result<Vec<ForecastRow>, Problem> {
        let _slot = self.report_slot().await?;
        let columns = FORECAST_GROUPS
            .iter()
            .enumerate()
            .map(|(i, (category, open))| {
                let filter = format!(
                    " FILTER (WHERE forecast_category = '{}' AND is_open = {})",
                    category.code(),
                    i64::from(*open)
                );
                format!(
                    "COUNT(*){filter} AS n{i}, {}, {}",
                    split_sum("amount_minor", &filter, &format!("a{i}")),
                    split_sum("weighted_minor", &filter, &format!("w{i}"))
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM opportunities WHERE {}",
            Self::scope_sql(scope, "forecast_day", 4)
        );
        let row = Self::bind_scope(sqlx::query(sqlx::AssertSqlSafe(sql)), scope)
            .fetch_one(self.db.reads())
            .await?;
        let mut rows = Vec::new();
        for (i, (category, open)) in FORECAST_GROUPS.into_iter().enumerate() {
            let count: i64 = row.try_get(format!("n{i}").as_str())?;
            if count > 0 {
                rows.push(ForecastRow {
                    category,
                    open,
                    count,
                    amount: read_sum(&row, &format!("a{i}"))?,
                    weighted: read_sum(&row, &format!("w{i}"))?,
                });
            }
        }
        Ok(rows)
    }

    /// Closed opportunities of the period per (kind, closed stage).
    ///
    /// # Errors
    /// Database errors.
    pub async fn outcomes(&self, scope: &ReportScope) -> Result<Vec<OutcomeRow>, Problem> {
        let _slot = self.report_slot().await?;
        let sql = format!(
            "SELECT kind, stage, COUNT(*) AS n, {}, \
             CAST(SUM(CASE WHEN close_day > create_day THEN close_day - create_day ELSE 0 END) \
             AS BIGINT) AS cycle \
             FROM opportunities WHERE close_day IS NOT NULL AND {} GROUP BY kind, stage",
            split_sum("amount_minor", "", "amount"),
            Self::scope_sql(scope, "close_day", 4)
        );
        let rows = Self::bind_scope(sqlx::query(sqlx::AssertSqlSafe(sql)), scope)
            .fetch_all(self.db.reads())
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let stage: String = r.try_get("stage")?;
                Ok(OutcomeRow {
                    kind: Kind::from_code(&kind)
                        .ok_or_else(|| Problem::internal(format!("unknown kind {kind}")))?,
                    stage: Stage::from_code(&stage)
                        .ok_or_else(|| Problem::internal(format!("unknown stage {stage}")))?,
                    count: r.try_get("n")?,
                    amount: read_sum(r, "amount")?,
                    cycle_days: r.try_get("cycle")?,
                })
            })
            .collect()
    }

    /// Lost opportunities of the period per loss reason.
    ///
    /// # Errors
    /// Database errors.
    pub async fn loss_reasons(&self, scope: &ReportScope) -> Result<Vec<ReasonRow>, Problem> {
        let _slot = self.report_slot().await?;
        let sql = format!(
            "SELECT loss_reason, COUNT(*) AS n, {} \
             FROM opportunities WHERE close_day IS NOT NULL AND stage = 'CLOSED_LOST' AND {} \
             GROUP BY loss_reason",
            split_sum("amount_minor", "", "amount"),
            Self::scope_sql(scope, "close_day", 4)
        );
        let rows = Self::bind_scope(sqlx::query(sqlx::AssertSqlSafe(sql)), scope)
            .fetch_all(self.db.reads())
            .await?;
        let mut reasons = Vec::with_capacity(rows.len());
        for r in &rows {
            let reason: Option<String> = r.try_get("loss_reason")?;
            // Every lost opportunity has a reason; a row without one is not reported.
            let Some(reason) = reason.as_deref().and_then(LossReason::from_code) else {
                continue;
            };
            reasons.push(ReasonRow {
                reason,
                count: r.try_get("n")?,
                amount: read_sum(r, "amount")?,
            });
        }
        Ok(reasons)
    }

    /// Lost opportunities of the period per competitor (names compared case-insensitively).
    ///
    /// # Errors
    /// Database errors.
    pub async fn competitors(&self, scope: &ReportScope) -> Result<Vec<CompetitorRow>, Problem> {
        let _slot = self.report_slot().await?;
        let sql = format!(
            "SELECT competitor_key, competitor, COUNT(*) AS n, {} \
             FROM opportunities WHERE close_day IS NOT NULL AND stage = 'CLOSED_LOST' \
             AND competitor_key <> '' AND {} \
             GROUP BY competitor_key, competitor",
            split_sum("amount_minor", "", "amount"),
            Self::scope_sql(scope, "close_day", 4)
        );
        let rows = Self::bind_scope(sqlx::query(sqlx::AssertSqlSafe(sql)), scope)
            .fetch_all(self.db.reads())
            .await?;
        let spellings = rows
            .iter()
            .map(|r| {
                Ok(SpellingRow {
                    key: r.try_get("competitor_key")?,
                    name: r.try_get("competitor")?,
                    count: r.try_get("n")?,
                    amount: read_sum(r, "amount")?,
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        Ok(merge_competitors(spellings))
    }

    /// Won opportunities of the period per (owner, kind).
    ///
    /// # Errors
    /// Database errors.
    pub async fn won(&self, scope: &ReportScope) -> Result<Vec<WonRow>, Problem> {
        let _slot = self.report_slot().await?;
        let sql = format!(
            "SELECT owner, kind, COUNT(*) AS n, {}, {}, {} \
             FROM opportunities WHERE close_day IS NOT NULL AND stage = 'CLOSED_WON' AND {} \
             GROUP BY owner, kind",
            split_sum("amount_minor", "", "amount"),
            split_sum("list_amount_minor", "", "list_amount"),
            split_sum("COALESCE(prior_contract_minor, 0)", "", "prior_value"),
            Self::scope_sql(scope, "close_day", 4)
        );
        let rows = Self::bind_scope(sqlx::query(sqlx::AssertSqlSafe(sql)), scope)
            .fetch_all(self.db.reads())
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(WonRow {
                    owner: r.try_get("owner")?,
                    kind: Kind::from_code(&kind)
                        .ok_or_else(|| Problem::internal(format!("unknown kind {kind}")))?,
                    count: r.try_get("n")?,
                    amount: read_sum(r, "amount")?,
                    list_amount: read_sum(r, "list_amount")?,
                    prior_value: read_sum(r, "prior_value")?,
                })
            })
            .collect()
    }

    /// Time spent per stage over the changes between two instants (µs).
    ///
    /// # Errors
    /// Database errors.
    pub async fn stage_durations(
        &self,
        owners: &[String],
        start_micros: i64,
        end_micros: i64,
    ) -> Result<Vec<StageDuration>, Problem> {
        let _slot = self.report_slot().await?;
        let mut sql = "SELECT from_stage, COUNT(*) AS n, \
             CAST(SUM(time_in_stage) AS BIGINT) AS total, MAX(time_in_stage) AS longest \
             FROM stage_changes WHERE change_time >= $1 AND change_time < $2"
            .to_owned();
        if !owners.is_empty() {
            sql.push_str(&format!(
                " AND owner IN ({})",
                placeholders(3, owners.len())
            ));
        }
        sql.push_str(" GROUP BY from_stage");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(start_micros)
            .bind(end_micros);
        for owner in owners {
            q = q.bind(owner.clone());
        }
        let rows = q.fetch_all(self.db.reads()).await?;
        rows.iter()
            .map(|r| {
                let stage: String = r.try_get("from_stage")?;
                let exits: i64 = r.try_get("n")?;
                let total: i64 = r.try_get("total")?;
                Ok(StageDuration {
                    stage: Stage::from_code(&stage)
                        .ok_or_else(|| Problem::internal(format!("unknown stage {stage}")))?,
                    exits,
                    average_micros: if exits > 0 { total / exits } else { 0 },
                    max_micros: r.try_get("longest")?,
                })
            })
            .collect()
    }
}
