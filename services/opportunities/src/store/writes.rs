//! Writing opportunities: inserts (many rows per statement), the locked read of a change and
//! its versioned save, the stage history beside them.

use std::sync::LazyLock;

use closeloop_kit::Problem;
use closeloop_kit::db::group::Insert;
use closeloop_kit::db::is_unique_violation;
use closeloop_kit::db::sql::MultiRowInsert;
use closeloop_kit::time::epoch_days;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::{Store, document};
use crate::domain::opportunity::{
    LossReason, Opportunity, OpportunityId, StageChange, competitor_key,
};
use crate::domain::policy::Policy;

/// Rows of the largest insert statement: the creations committed together go in one statement
/// (one round trip).
pub const MAX_INSERT_ROWS: usize = 64;

/// A failed insert: a duplicate id is ALREADY_EXISTS.
fn insert_error(e: sqlx::Error) -> Problem {
    if is_unique_violation(&e) {
        Problem::AlreadyExists("an opportunity with that id already exists".into())
    } else {
        e.into()
    }
}

fn bind_columns<'q>(
    q: Query<'q, Any, AnyArguments>,
    o: &Opportunity,
    policy: &Policy,
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
        .bind(o.weighted_amount(policy))
}

const COLUMNS: &str = "owner, account_id, stage, kind, is_open, currency, amount_minor, \
    list_amount_minor, probability_override, forecast_category, forecast_day, create_day, \
    close_day, loss_reason, competitor, competitor_key, prior_contract_minor, version, \
    weighted_minor";

/// Parameters [`bind_columns`] binds.
const COLUMN_COUNT: usize = 19;

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
    "weighted_minor",
    "body",
    "id",
];

static INSERT: MultiRowInsert =
    MultiRowInsert::new("opportunities", INSERT_COLUMNS, MAX_INSERT_ROWS);

/// A new opportunity with its stored document, ready to insert.
pub struct NewRow {
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
                query = bind_columns(query, &row.opportunity, &self.policy)
                    .bind(row.document.clone())
                    .bind(row.opportunity.id.as_str().to_owned());
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
        id: &OpportunityId,
    ) -> Result<Option<Opportunity>, Problem> {
        let sql = format!(
            "SELECT body FROM opportunities WHERE id = $1{}",
            self.db.sql().lock_rows()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| document::decode(&body)).transpose()
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
        let body = document::encode(o)?;
        let done = bind_columns(
            sqlx::query(sqlx::AssertSqlSafe(UPDATE_SQL.as_str())),
            o,
            &self.policy,
        )
        .bind(body)
        .bind(o.id.as_str().to_owned())
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
                .bind(o.id.as_str().to_owned())
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
            .bind(o.id.as_str().to_owned())
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
                    document: document::encode(o)?,
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

/// Opportunities weighed again per transaction.
const REWEIGH_PAGE: i64 = 500;

impl Store {
    /// Weighs stored opportunities again: every one when the probabilities they were weighed
    /// with (the `weighting` row) are not this store's policy's, else only those not weighed yet
    /// (written before weights were stored, or by an older replica during a rolling upgrade).
    /// Returns how many rows were weighed. Runs before the service serves. Each page is read
    /// and written in one transaction, its rows locked and their version checked, so a change
    /// saved meanwhile is never overwritten with a stale weight. Every replica must run with the
    /// same stage probabilities: a change of them is a restart of all replicas (a replica still
    /// on the old ones keeps saving with them until it restarts).
    ///
    /// # Errors
    /// Database errors; a stored document that does not decode.
    pub async fn reweigh(&self) -> Result<u64, Problem> {
        let wanted = self
            .policy
            .stage_probabilities()
            .map(|p| p.to_string())
            .join(",");
        let recorded: Option<(String,)> =
            sqlx::query_as("SELECT probabilities FROM weighting WHERE id = 1")
                .fetch_optional(self.db.reads())
                .await?;
        let all = recorded.is_none_or(|(r,)| r != wanted);
        let sql = format!(
            "SELECT id, body, version FROM opportunities WHERE id > $1 {} ORDER BY id LIMIT $2{}",
            if all {
                ""
            } else {
                "AND weighted_minor IS NULL"
            },
            self.db.sql().lock_rows()
        );
        let mut after = String::new();
        let mut weighed = 0;
        loop {
            let mut tx = self.db.transaction().await?;
            let page: Vec<(String, Vec<u8>, i64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(&after)
                    .bind(REWEIGH_PAGE)
                    .fetch_all(&mut *tx)
                    .await?;
            let Some((last, _, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (id, body, version) in &page {
                let o = document::decode(body)?;
                sqlx::query(
                    "UPDATE opportunities SET weighted_minor = $1 WHERE id = $2 AND version = $3",
                )
                .bind(o.weighted_amount(&self.policy))
                .bind(id)
                .bind(version)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            weighed += page.len() as u64;
        }
        sqlx::query(
            "INSERT INTO weighting (id, probabilities) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET probabilities = excluded.probabilities",
        )
        .bind(&wanted)
        .execute(self.db.writes())
        .await?;
        Ok(weighed)
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
