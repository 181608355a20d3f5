//! The opportunities database: one SQL text for SQLite and PostgreSQL.
//!
//! Each opportunity is a row of `opportunities`: queryable columns (filters, keyset paging, and
//! the covering indexes reports read) beside its whole aggregate as a document (`body`). A
//! write checks the version (optimistic concurrency); stage changes are appended to
//! `stage_changes` for duration reports.

use closeloop_kit::db::group::Insert;
use closeloop_kit::db::keyed::KeyedReads;
use closeloop_kit::db::sql::MultiRowInsert;
use closeloop_kit::db::{Db, Migrations};
use closeloop_kit::time::epoch_days;
use closeloop_kit::{Problem, db::is_unique_violation};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use std::sync::{Arc, LazyLock};

use sqlx::{Any, AnyConnection, Row};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::domain::opportunity::{Kind, LossReason, Opportunity, StageChange, competitor_key};
use crate::domain::policy::Policy;
use crate::domain::reports::{
    CompetitorRow, ForecastRow, OutcomeRow, ReasonRow, StageDuration, WonRow,
};
use crate::domain::stage::{ForecastCategory, Stage};

/// The service's schema. The two differ only in the binary column type.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        (
            100,
            "opportunities",
            include_str!("../../migrations/sqlite/0100_opportunities.sql"),
        ),
        (
            101,
            "documents inline",
            include_str!("../../migrations/sqlite/0101_documents_inline.sql"),
        ),
    ],
    postgres: &[
        (
            100,
            "opportunities",
            include_str!("../../migrations/postgres/0100_opportunities.sql"),
        ),
        (
            101,
            "documents inline",
            include_str!("../../migrations/postgres/0101_documents_inline.sql"),
        ),
    ],
};

/// Filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this stage.
    pub stage: Option<Stage>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only open ones.
    pub open_only: bool,
}

impl ListFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.owner.as_deref().unwrap_or(""),
            self.account_id.as_deref().unwrap_or(""),
            self.stage.map_or("", Stage::code),
            self.kind.map_or("", Kind::code),
            if self.open_only { "open" } else { "" },
        ])
    }
}

/// The slice of opportunities a report covers.
#[derive(Debug, Clone)]
pub struct ReportScope {
    /// Owners; empty = everyone.
    pub owners: Vec<String>,
    /// First day (epoch days).
    pub start_day: i64,
    /// Last day (epoch days).
    pub end_day: i64,
    /// Currency.
    pub currency: String,
}

/// Access to the opportunities tables.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    documents: KeyedReads,
    /// Report queries scan many rows; at most a quarter of the pool runs them at once, so a
    /// burst of reports waits its turn instead of starving the reads and writes of connections.
    report_slots: Arc<Semaphore>,
}

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

/// Rows of the largest insert statement: the creations committed together go in one statement
/// (one round trip).
pub const MAX_INSERT_ROWS: usize = 64;

/// Reads answered by one query at most.
const READ_BATCH: usize = 64;

/// A failed insert: a duplicate id is ALREADY_EXISTS.
fn insert_error(e: sqlx::Error) -> Problem {
    if is_unique_violation(&e) {
        Problem::AlreadyExists("an opportunity with that id already exists".into())
    } else {
        e.into()
    }
}

/// Builds `$n, $n+1, …` placeholders for an `IN` list.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Documents are MessagePack with each struct's fields as an array, in declaration order:
/// half the size of the same document with field names (about 1.3 KiB instead of 2.7 KiB,
/// so three fit a database page instead of one) and a third cheaper to parse. Enum values are
/// written by name. A field added later goes at the end of its struct with `#[serde(default)]`,
/// so older documents, which stop short of it, read it as its default. Documents written with
/// field names (maps) read too.
fn decode(body: &[u8]) -> Result<Opportunity, Problem> {
    rmp_serde::from_slice(body).map_err(Problem::internal)
}

fn encode(o: &Opportunity) -> Result<Vec<u8>, Problem> {
    rmp_serde::to_vec(o).map_err(Problem::internal)
}

fn bind_columns<'q>(
    q: Query<'q, Any, AnyArguments>,
    o: &Opportunity,
) -> Query<'q, Any, AnyArguments> {
    let close = o.close.as_ref();
    q.bind(o.owner.clone())
        .bind(o.account.account_id.clone())
        .bind(o.stage.code())
        .bind(o.kind.code())
        .bind(i64::from(o.stage.is_open()))
        .bind(o.currency.as_str().to_owned())
        .bind(o.amount())
        .bind(o.list_amount())
        .bind(o.probability_override.map(i64::from))
        .bind(o.forecast_category().code())
        .bind(epoch_days(o.forecast_date()))
        .bind(o.create_time.div_euclid(86_400_000_000))
        .bind(close.map(|c| epoch_days(c.close_date)))
        .bind(close.and_then(|c| c.loss_reason).map(LossReason::code))
        .bind(close.map(|c| c.competitor.clone()).unwrap_or_default())
        .bind(
            close
                .map(|c| competitor_key(&c.competitor))
                .unwrap_or_default(),
        )
        .bind(o.prior_contract_value)
        .bind(o.version)
}

const COLUMNS: &str = "owner, account_id, stage, kind, is_open, currency, amount_minor, \
    list_amount_minor, probability_override, forecast_category, forecast_day, create_day, \
    close_day, loss_reason, competitor, competitor_key, prior_contract_minor, version";

/// Parameters [`bind_columns`] binds.
const COLUMN_COUNT: usize = 18;

/// Every column of a row, in the order [`bind_columns`] binds them, then the document and the id.
const INSERT_COLUMNS: &[&str] = &[
    "owner",
    "account_id",
    "stage",
    "kind",
    "is_open",
    "currency",
    "amount_minor",
    "list_amount_minor",
    "probability_override",
    "forecast_category",
    "forecast_day",
    "create_day",
    "close_day",
    "loss_reason",
    "competitor",
    "competitor_key",
    "prior_contract_minor",
    "version",
    "body",
    "id",
];

static INSERT: MultiRowInsert =
    MultiRowInsert::new("opportunities", INSERT_COLUMNS, MAX_INSERT_ROWS);

/// A new opportunity with its stored document, ready to insert.
pub struct NewRow {
    /// The opportunity.
    pub opportunity: Opportunity,
    /// Its document ([`Store::document`]), encoded before any transaction starts.
    pub document: Vec<u8>,
}

/// The update of an opportunity's columns at an expected version.
static UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    let sets = COLUMNS
        .split(", ")
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE opportunities SET {sets}, body = ${} WHERE id = ${} AND version = ${}",
        COLUMN_COUNT + 1,
        COLUMN_COUNT + 2,
        COLUMN_COUNT + 3
    )
});

impl Store {
    /// A store over `db` (migrated by the caller). Must run inside the tokio runtime.
    pub fn new(db: Db) -> Self {
        let slots = (db.reads().options().get_max_connections() / 4).max(1) as usize;
        Store {
            // GetOpportunity is the hottest read: coalesced, and on SQLite read on the calling
            // thread (see the kit's `KeyedReads` for what that measured).
            documents: KeyedReads::new(&db, "opportunities", "id", "body", READ_BATCH),
            db,
            report_slots: Arc::new(Semaphore::new(slots)),
        }
    }

    async fn report_slot(&self) -> Result<SemaphorePermit<'_>, Problem> {
        self.report_slots
            .acquire()
            .await
            .map_err(|_| Problem::Unavailable("the store is closing".into()))
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Inserts new opportunities with their documents on `conn` (a transaction, or a writer
    /// connection for one statement), many rows per statement. The documents are encoded
    /// beforehand so the encoding happens outside any transaction.
    ///
    /// # Errors
    /// ALREADY_EXISTS on a duplicate id (nothing of the statement is inserted then); database
    /// errors.
    pub async fn insert_rows(
        &self,
        conn: &mut AnyConnection,
        rows: &[&NewRow],
    ) -> Result<(), Problem> {
        for chunk in rows.chunks(MAX_INSERT_ROWS) {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(
                INSERT.statement(self.db.sql(), chunk.len()),
            ));
            for row in chunk {
                query = bind_columns(query, &row.opportunity)
                    .bind(row.document.clone())
                    .bind(row.opportunity.id.clone());
            }
            query.execute(&mut *conn).await.map_err(insert_error)?;
            for row in chunk {
                let o = &row.opportunity;
                self.append_changes(conn, o, &o.stage_history).await?;
            }
        }
        Ok(())
    }

    /// Reads an opportunity inside a write transaction, keeping it from changing until commit.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_for_update(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Opportunity>, Problem> {
        let sql = format!(
            "SELECT body FROM opportunities WHERE id = $1{}",
            self.db.sql().lock_rows()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| decode(&body)).transpose()
    }

    /// Writes a changed opportunity whose stored version is `expected_version`, appending
    /// `new_changes` to the stage history table.
    ///
    /// # Errors
    /// ABORTED when the stored version moved on (a concurrent change); database errors.
    pub async fn save(
        &self,
        conn: &mut AnyConnection,
        o: &Opportunity,
        expected_version: i64,
        previous_owner: &str,
        new_changes: &[StageChange],
    ) -> Result<(), Problem> {
        let body = encode(o)?;
        let done = bind_columns(sqlx::query(sqlx::AssertSqlSafe(UPDATE_SQL.as_str())), o)
            .bind(body)
            .bind(o.id.clone())
            .bind(expected_version)
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() != 1 {
            return Err(Problem::Aborted(format!(
                "{} was changed concurrently; read it again",
                o.name()
            )));
        }
        if previous_owner != o.owner {
            sqlx::query("UPDATE stage_changes SET owner = $1 WHERE opportunity_id = $2")
                .bind(o.owner.clone())
                .bind(o.id.clone())
                .execute(&mut *conn)
                .await?;
        }
        self.append_changes(conn, o, new_changes).await
    }

    async fn append_changes(
        &self,
        conn: &mut AnyConnection,
        o: &Opportunity,
        changes: &[StageChange],
    ) -> Result<(), Problem> {
        let first_seq = o.stage_history.len() - changes.len();
        for (i, c) in changes.iter().enumerate() {
            sqlx::query(
                "INSERT INTO stage_changes (opportunity_id, seq, owner, from_stage, to_stage, \
                 change_time, time_in_stage) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(o.id.clone())
            .bind((first_seq + i) as i64)
            .bind(o.owner.clone())
            .bind(c.from.code())
            .bind(c.to.code())
            .bind(c.time)
            .bind(c.time_in_stage)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Reads one opportunity's stored document.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_document(&self, id: &str) -> Result<Option<Vec<u8>>, Problem> {
        self.documents.get(id).await
    }

    /// Reads one opportunity.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get(&self, id: &str) -> Result<Option<Opportunity>, Problem> {
        self.get_document(id)
            .await?
            .map(|body| decode(&body))
            .transpose()
    }

    /// The stored document of an opportunity.
    ///
    /// # Errors
    /// INTERNAL when it does not encode.
    pub fn document(o: &Opportunity) -> Result<Vec<u8>, Problem> {
        encode(o)
    }

    /// Parses a stored document.
    ///
    /// # Errors
    /// INTERNAL when the document does not parse.
    pub fn parse_document(body: &[u8]) -> Result<Opportunity, Problem> {
        decode(body)
    }

    /// Lists opportunities after `after` (an id), oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Opportunity>, Problem> {
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut push = |condition: &str, value: String| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(after) = after {
            push("id > ?", after.to_owned());
        }
        if let Some(owner) = &filter.owner {
            push("owner = ?", owner.clone());
        }
        if let Some(account) = &filter.account_id {
            push("account_id = ?", account.clone());
        }
        if let Some(stage) = filter.stage {
            push("stage = ?", stage.code().to_owned());
        }
        if let Some(kind) = filter.kind {
            push("kind = ?", kind.code().to_owned());
        }
        if filter.open_only {
            conditions.push("is_open = 1".to_owned());
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql =
            format!("SELECT body FROM opportunities {where_clause} ORDER BY id LIMIT {limit}");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(self.db.reads()).await?;
        rows.iter()
            .map(|r| decode(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

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
    pub async fn forecast(
        &self,
        scope: &ReportScope,
        policy: &Policy,
    ) -> Result<Vec<ForecastRow>, Problem> {
        use ForecastCategory::*;
        // The (category, open) pairs that can exist: open stages default to PIPELINE, BEST_CASE
        // or COMMIT and may be OMITTED by override; won is CLOSED; lost and disqualified are
        // OMITTED. Closed opportunities weigh their amount (won) or nothing.
        const GROUPS: [(ForecastCategory, bool); 6] = [
            (Pipeline, true),
            (BestCase, true),
            (Commit, true),
            (Omitted, true),
            (Closed, false),
            (Omitted, false),
        ];
        let _slot = self.report_slot().await?;
        let n = 4 + scope.owners.len();
        let weighted = format!(
            "amount_minor * (CASE WHEN probability_override IS NOT NULL THEN probability_override \
             WHEN stage = 'PROSPECTING' THEN ${} WHEN stage = 'QUALIFICATION' THEN ${} \
             WHEN stage = 'PROPOSAL' THEN ${} ELSE ${} END) / 100",
            n,
            n + 1,
            n + 2,
            n + 3
        );
        let columns = GROUPS
            .iter()
            .enumerate()
            .map(|(i, (category, open))| {
                let filter = format!(
                    " FILTER (WHERE forecast_category = '{}' AND is_open = {})",
                    category.code(),
                    i64::from(*open)
                );
                let mut sql = format!(
                    "COUNT(*){filter} AS n{i}, {}",
                    split_sum("amount_minor", &filter, &format!("a{i}"))
                );
                if *open {
                    sql.push_str(", ");
                    sql.push_str(&split_sum(&weighted, &filter, &format!("w{i}")));
                }
                sql
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM opportunities WHERE {}",
            Self::scope_sql(scope, "forecast_day", 4)
        );
        let q = Self::bind_scope(sqlx::query(sqlx::AssertSqlSafe(sql)), scope)
            .bind(i64::from(policy.prospecting_probability))
            .bind(i64::from(policy.qualification_probability))
            .bind(i64::from(policy.proposal_probability))
            .bind(i64::from(policy.negotiation_probability));
        let row = q.fetch_one(self.db.reads()).await?;
        let mut rows = Vec::new();
        for (i, (category, open)) in GROUPS.into_iter().enumerate() {
            let count: i64 = row.try_get(format!("n{i}").as_str())?;
            if count == 0 {
                continue;
            }
            let amount = read_sum(&row, &format!("a{i}"))?;
            rows.push(ForecastRow {
                category,
                open,
                count,
                amount,
                weighted: match (open, category) {
                    (true, _) => read_sum(&row, &format!("w{i}"))?,
                    (false, Closed) => amount,
                    (false, _) => 0,
                },
            });
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
        // Spellings of one competitor are merged here, in Rust, so both backends agree on the
        // groups and on the name shown: the most used spelling (ties: the first in order).
        let mut merged: Vec<(String, CompetitorRow, i64)> = Vec::new();
        for r in &rows {
            let key: String = r.try_get("competitor_key")?;
            let name: String = r.try_get("competitor")?;
            let count: i64 = r.try_get("n")?;
            let amount = read_sum(r, "amount")?;
            match merged.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, row, best)) => {
                    row.count += count;
                    row.amount = row.amount.saturating_add(amount);
                    if count > *best || (count == *best && name < row.competitor) {
                        row.competitor = name;
                        *best = count;
                    }
                }
                None => merged.push((
                    key,
                    CompetitorRow {
                        competitor: name,
                        count,
                        amount,
                    },
                    count,
                )),
            }
        }
        Ok(merged.into_iter().map(|(_, row, _)| row).collect())
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

    /// Inserts many opportunities in one transaction (bulk loading, e.g. for benchmarks).
    ///
    /// # Errors
    /// Database errors; nothing is inserted then.
    pub async fn insert_many(&self, opportunities: &[Opportunity]) -> Result<(), Problem> {
        let rows = opportunities
            .iter()
            .map(|o| {
                Ok(NewRow {
                    opportunity: o.clone(),
                    document: encode(o)?,
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        let rows: Vec<&NewRow> = rows.iter().collect();
        let mut tx = self.db.transaction().await?;
        self.insert_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Insert for Store {
    type Row = NewRow;

    fn max_rows(&self) -> usize {
        MAX_INSERT_ROWS
    }

    async fn insert(&self, conn: &mut AnyConnection, rows: &[&NewRow]) -> Result<(), Problem> {
        self.insert_rows(conn, rows).await
    }
}
