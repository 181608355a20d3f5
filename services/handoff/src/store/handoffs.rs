//! Handoffs: insert (one per order), read, lock and save a handoff; list them; find the ones
//! whose prefill is still PENDING.

use closeloop_kit::Problem;
use closeloop_kit::db::Value;
use sqlx::{AnyConnection, Row};

use super::{Filter, Store, document};
use crate::domain::handoff::Handoff;
use crate::domain::vocabulary::{HandoffId, HandoffStatus};

/// Filters of ListHandoffs.
#[derive(Debug, Clone, Default)]
pub struct HandoffFilter {
    pub salesperson: Option<String>,
    pub account_manager: Option<String>,
    pub status: Option<HandoffStatus>,
    pub account_id: Option<String>,
    /// `contracts/{contract}`.
    pub contract: Option<String>,
    /// Only handoffs without an account manager.
    pub unassigned_only: bool,
    /// `contracts/{contract}/orders/{order}`.
    pub order: Option<String>,
}

impl HandoffFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.salesperson.as_deref().unwrap_or(""),
            self.account_manager.as_deref().unwrap_or(""),
            self.status.map_or("", HandoffStatus::code),
            self.account_id.as_deref().unwrap_or(""),
            self.contract.as_deref().unwrap_or(""),
            if self.unassigned_only {
                "unassigned"
            } else {
                ""
            },
            self.order.as_deref().unwrap_or(""),
        ])
    }
}

/// A handoff whose prefill is PENDING: what the background prefill reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPrefill {
    pub id: HandoffId,
    /// `opportunities/{opportunity}`.
    pub opportunity: String,
}

/// An ACCEPTED handoff whose account is not recorded yet (what the follow-up of OpenAccount
/// looks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingAccount {
    pub id: HandoffId,
    /// The customer's `Party.account_id`: one account per customer in account-management.
    pub account_id: String,
}

/// 1 while `h` is ACCEPTED without the opened account recorded, 0 otherwise.
fn awaiting_account(h: &Handoff) -> i64 {
    i64::from(h.status == HandoffStatus::Accepted && h.account_opening.open_time.is_none())
}

fn decode_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Handoff>, Problem> {
    rows.iter()
        .map(|r| document::decode_handoff(&r.try_get::<Vec<u8>, _>(0)?))
        .collect()
}

impl Store {
    /// Inserts a new handoff, unless its order has one already: `false` then (a concurrent
    /// StartHandoff for the same order committed first; on PostgreSQL the insert waits for it to
    /// commit or roll back, so the existing one is then visible to
    /// [`Store::handoff_of_order`] in the same transaction).
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_handoff(
        &self,
        conn: &mut AnyConnection,
        h: &Handoff,
    ) -> Result<bool, Problem> {
        let body = document::encode_handoff(h)?;
        let done = sqlx::query(
            "INSERT INTO handoffs (id, order_name, contract, opportunity, account_id, salesperson, \
             account_manager, status, prefill, awaiting_account, create_time, version, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (order_name) DO NOTHING",
        )
        .bind(h.id.as_str().to_owned())
        .bind(h.order().to_owned())
        .bind(h.contract().to_owned())
        .bind(h.opportunity().to_owned())
        .bind(h.account().account_id.clone())
        .bind(h.salesperson.clone())
        .bind(h.account_manager.clone())
        .bind(h.status.code())
        .bind(h.prefill.code())
        .bind(awaiting_account(h))
        .bind(h.create_time)
        .bind(h.version)
        .bind(body)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The handoff of `order` (`contracts/{contract}/orders/{order}`), inside a write
    /// transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn handoff_of_order(
        &self,
        conn: &mut AnyConnection,
        order: &str,
    ) -> Result<Option<Handoff>, Problem> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT body FROM handoffs WHERE order_name = $1")
                .bind(order)
                .fetch_optional(conn)
                .await?;
        row.map(|(body,)| document::decode_handoff(&body))
            .transpose()
    }

    /// The handoff of `order`, read outside any transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn find_handoff_of_order(&self, order: &str) -> Result<Option<Handoff>, Problem> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT body FROM handoffs WHERE order_name = $1")
                .bind(order)
                .fetch_optional(self.db().reads())
                .await?;
        row.map(|(body,)| document::decode_handoff(&body))
            .transpose()
    }

    /// Reads one handoff.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_handoff(&self, id: &HandoffId) -> Result<Option<Handoff>, Problem> {
        self.handoffs
            .get(id.as_str())
            .await?
            .map(|body| document::decode_handoff(&body))
            .transpose()
    }

    /// Reads a handoff inside a write transaction, keeping it from changing until commit.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_handoff(
        &self,
        conn: &mut AnyConnection,
        id: &HandoffId,
    ) -> Result<Option<Handoff>, Problem> {
        let sql = format!(
            "SELECT body FROM handoffs WHERE id = $1{}",
            self.db().sql().lock_rows()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| document::decode_handoff(&body))
            .transpose()
    }

    /// Writes a changed handoff whose stored version is `h.version - 1`.
    ///
    /// # Errors
    /// ABORTED when the stored version moved on (a concurrent change); database errors.
    pub async fn save_handoff(&self, conn: &mut AnyConnection, h: &Handoff) -> Result<(), Problem> {
        if write_if_unchanged(&mut *conn, h).await? {
            Ok(())
        } else {
            Err(Problem::Aborted(format!(
                "{} was changed concurrently; read it again",
                h.name()
            )))
        }
    }

    /// Writes a changed handoff if its stored version is still `h.version - 1`, together with
    /// the other writes that arrive meanwhile (the kit's grouped optimistic writes); false when
    /// it moved on.
    ///
    /// # Errors
    /// Database errors.
    pub async fn save_handoff_if_unchanged(&self, h: &Handoff) -> Result<bool, Problem> {
        let values = vec![
            Value::Text(h.salesperson.clone()),
            Value::OptionalText(h.account_manager.clone()),
            Value::Text(h.status.code().to_owned()),
            Value::Text(h.prefill.code().to_owned()),
            Value::Int(awaiting_account(h)),
            Value::Int(h.version),
            Value::Bytes(document::encode_handoff(h)?),
        ];
        self.writes
            .write(h.id.as_str().to_owned(), h.version - 1, values)
            .await
    }

    /// Handoffs after `after` (an id), oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_handoffs(
        &self,
        filter: &HandoffFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Handoff>, Problem> {
        let mut f = Filter::default();
        if let Some(after) = after {
            f.text("id > ?", after);
        }
        if let Some(salesperson) = &filter.salesperson {
            f.text("salesperson = ?", salesperson.clone());
        }
        if let Some(account_manager) = &filter.account_manager {
            f.text("account_manager = ?", account_manager.clone());
        }
        if filter.unassigned_only {
            f.push("account_manager IS NULL", Vec::new());
        }
        if let Some(status) = filter.status {
            f.text("status = ?", status.code());
        }
        if let Some(account) = &filter.account_id {
            f.text("account_id = ?", account.clone());
        }
        if let Some(contract) = &filter.contract {
            f.text("contract = ?", contract.clone());
        }
        if let Some(order) = &filter.order {
            f.text("order_name = ?", order.clone());
        }
        let sql = format!(
            "SELECT body FROM handoffs {} ORDER BY id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        decode_rows(&rows)
    }

    /// Handoffs whose prefill is PENDING, after `after` (an id), oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn pending_prefills(
        &self,
        after: Option<&HandoffId>,
        limit: u32,
    ) -> Result<Vec<PendingPrefill>, Problem> {
        let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, opportunity FROM handoffs WHERE prefill = 'PENDING' AND id > $1 \
             ORDER BY id LIMIT {limit}"
        )))
        .bind(after.map_or("", HandoffId::as_str))
        .fetch_all(self.db().reads())
        .await?;
        rows.into_iter()
            .map(|(id, opportunity)| {
                Ok(PendingPrefill {
                    id: HandoffId::parse(&id).map_err(Problem::internal)?,
                    opportunity,
                })
            })
            .collect()
    }
}

impl Store {
    /// ACCEPTED handoffs whose opened account is not recorded yet, after `after` (an id), oldest
    /// first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn awaiting_accounts(
        &self,
        after: Option<&HandoffId>,
        limit: u32,
    ) -> Result<Vec<AwaitingAccount>, Problem> {
        let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, account_id FROM handoffs WHERE awaiting_account = 1 AND id > $1 \
             ORDER BY id LIMIT {limit}"
        )))
        .bind(after.map_or("", HandoffId::as_str))
        .fetch_all(self.db().reads())
        .await?;
        rows.into_iter()
            .map(|(id, account_id)| {
                Ok(AwaitingAccount {
                    id: HandoffId::parse(&id).map_err(Problem::internal)?,
                    account_id,
                })
            })
            .collect()
    }
}

/// The one statement that writes a changed handoff over version `h.version - 1`; whether it did.
async fn write_if_unchanged<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    h: &Handoff,
) -> Result<bool, Problem> {
    let body = document::encode_handoff(h)?;
    let done = sqlx::query(
        "UPDATE handoffs SET salesperson = $1, account_manager = $2, status = $3, \
         prefill = $4, awaiting_account = $5, version = $6, body = $7 \
         WHERE id = $8 AND version = $9",
    )
    .bind(h.salesperson.clone())
    .bind(h.account_manager.clone())
    .bind(h.status.code())
    .bind(h.prefill.code())
    .bind(awaiting_account(h))
    .bind(h.version)
    .bind(body)
    .bind(h.id.as_str().to_owned())
    .bind(h.version - 1)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
