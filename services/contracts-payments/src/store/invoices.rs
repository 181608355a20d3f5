//! Invoices: created with an order, read one by one or per contract, locked and saved by the
//! payment changes, listed with their status derived from the date as [`Invoice::status`] does.

use closeloop_kit::Problem;
use closeloop_kit::time::epoch_days;
use sqlx::{AnyConnection, Row};
use time::Date;

use super::{Filter, Store, Value, document};
use crate::domain::invoice::{Invoice, Settled};
use crate::domain::vocabulary::{ContractId, InvoiceId, InvoiceStatus};

/// Filters of ListInvoices.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub contract: Option<ContractId>,
    pub account_id: Option<String>,
    pub owner: Option<String>,
    pub status: Option<InvoiceStatus>,
    pub past_due_only: bool,
    /// Only invoices at least this many days past due (the lowest threshold of a level).
    pub min_days_past_due: Option<i64>,
    /// Only invoices whose dunning retry is due at or before this time.
    pub retry_due_before: Option<i64>,
}

impl InvoiceFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.contract.as_ref().map_or("", ContractId::as_str),
            self.account_id.as_deref().unwrap_or(""),
            self.owner.as_deref().unwrap_or(""),
            self.status.map_or("", InvoiceStatus::code),
            if self.past_due_only { "past_due" } else { "" },
            &self
                .min_days_past_due
                .map_or(String::new(), |d| d.to_string()),
            &self
                .retry_due_before
                .map_or(String::new(), |t| t.to_string()),
        ])
    }
}

fn settled_code(s: Option<Settled>) -> Option<&'static str> {
    s.map(|s| match s {
        Settled::Paid => "PAID",
        Settled::Void => "VOID",
        Settled::Uncollectible => "UNCOLLECTIBLE",
    })
}

/// The condition for invoices in `status` on day `today` (days since the epoch): the SQL form
/// of [`Invoice::status`]. An unsettled invoice always has an amount remaining (full payment
/// settles it), so PAST_DUE needs only the dates.
fn status_condition(f: &mut Filter, status: InvoiceStatus, today: i64) {
    match status {
        InvoiceStatus::Paid => f.text("settled = ?", "PAID"),
        InvoiceStatus::Void => f.text("settled = ?", "VOID"),
        InvoiceStatus::Uncollectible => f.text("settled = ?", "UNCOLLECTIBLE"),
        InvoiceStatus::Draft => f.int("settled IS NULL AND issue_day > ?", today),
        InvoiceStatus::Open => f.push(
            "settled IS NULL AND issue_day <= ? AND due_day >= ?",
            vec![Value::Int(today), Value::Int(today)],
        ),
        InvoiceStatus::PastDue => f.push(
            "settled IS NULL AND issue_day <= ? AND due_day < ?",
            vec![Value::Int(today), Value::Int(today)],
        ),
    }
}

impl Store {
    /// Inserts new invoices.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_invoices(
        &self,
        conn: &mut AnyConnection,
        invoices: &[Invoice],
    ) -> Result<(), Problem> {
        for i in invoices {
            sqlx::query(
                "INSERT INTO invoices (id, contract_id, owner, account_id, currency, settled, \
                 issue_day, due_day, next_retry_time, number, version, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(i.id.as_str().to_owned())
            .bind(i.contract.as_str().to_owned())
            .bind(i.owner.clone())
            .bind(i.account.account_id.clone())
            .bind(i.currency.as_str().to_owned())
            .bind(settled_code(i.settled))
            .bind(epoch_days(i.issue_date))
            .bind(epoch_days(i.due_date))
            .bind(i.dunning.next_retry_time)
            .bind(i.number.clone())
            .bind(i.version)
            .bind(document::encode_invoice(i)?)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Writes a changed invoice whose stored version is `i.version - 1`.
    ///
    /// # Errors
    /// ABORTED when the stored version moved on; database errors.
    pub async fn save_invoice(&self, conn: &mut AnyConnection, i: &Invoice) -> Result<(), Problem> {
        let done = sqlx::query(
            "UPDATE invoices SET settled = $1, next_retry_time = $2, version = $3, body = $4 \
             WHERE id = $5 AND version = $6",
        )
        .bind(settled_code(i.settled))
        .bind(i.dunning.next_retry_time)
        .bind(i.version)
        .bind(document::encode_invoice(i)?)
        .bind(i.id.as_str().to_owned())
        .bind(i.version - 1)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Problem::Aborted(format!(
                "{} was changed concurrently; read it again",
                i.name()
            )));
        }
        Ok(())
    }

    /// Reads one invoice of `contract`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_invoice(
        &self,
        contract: &ContractId,
        id: &InvoiceId,
    ) -> Result<Option<Invoice>, Problem> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT body FROM invoices WHERE id = $1 AND contract_id = $2")
                .bind(id.as_str())
                .bind(contract.as_str())
                .fetch_optional(self.db().reads())
                .await?;
        row.map(|(body,)| document::decode_invoice(&body))
            .transpose()
    }

    /// Reads an invoice of `contract` inside a write transaction, keeping it from changing
    /// until commit.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_invoice(
        &self,
        conn: &mut AnyConnection,
        contract: &ContractId,
        id: &InvoiceId,
    ) -> Result<Option<Invoice>, Problem> {
        let sql = format!(
            "SELECT body FROM invoices WHERE id = $1 AND contract_id = $2{}",
            self.db().sql().lock_rows()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(contract.as_str())
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| document::decode_invoice(&body))
            .transpose()
    }

    /// Every invoice of a contract, by due date, on `conn` (a transaction when the caller
    /// changes them: they are locked until commit).
    ///
    /// # Errors
    /// Database errors.
    pub async fn contract_invoices(
        &self,
        conn: &mut AnyConnection,
        contract: &ContractId,
        lock: bool,
    ) -> Result<Vec<Invoice>, Problem> {
        let sql = format!(
            "SELECT body FROM invoices WHERE contract_id = $1 ORDER BY due_day, id{}",
            if lock {
                self.db().sql().lock_rows()
            } else {
                ""
            }
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(contract.as_str())
            .fetch_all(conn)
            .await?;
        rows.iter()
            .map(|r| document::decode_invoice(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// Every invoice of a contract, by due date (a read outside any transaction).
    ///
    /// # Errors
    /// Database errors.
    pub async fn invoices_of(&self, contract: &ContractId) -> Result<Vec<Invoice>, Problem> {
        let mut conn = self.db().reads().acquire().await?;
        self.contract_invoices(&mut conn, contract, false).await
    }

    /// Every invoice of these contracts, by due date (one query for a page of contracts).
    ///
    /// # Errors
    /// Database errors.
    pub async fn invoices_of_many(
        &self,
        contracts: &[&ContractId],
    ) -> Result<Vec<Invoice>, Problem> {
        if contracts.is_empty() {
            return Ok(Vec::new());
        }
        let mut f = Filter::default();
        let marks = vec!["?"; contracts.len()].join(", ");
        f.push(
            &format!("contract_id IN ({marks})"),
            contracts
                .iter()
                .map(|c| Value::Text(c.as_str().to_owned()))
                .collect(),
        );
        let sql = format!(
            "SELECT body FROM invoices {} ORDER BY due_day, id",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_invoice(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// Invoices after `after` (due day, id), by due date then id, at most `limit`, with their
    /// status as of `today`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_invoices(
        &self,
        filter: &InvoiceFilter,
        today: Date,
        after: Option<&(i64, String)>,
        limit: u32,
    ) -> Result<Vec<Invoice>, Problem> {
        let today = epoch_days(today);
        let mut f = Filter::default();
        if let Some((day, id)) = after {
            f.push(
                "(due_day > ? OR (due_day = ? AND id > ?))",
                vec![Value::Int(*day), Value::Int(*day), Value::Text(id.clone())],
            );
        }
        if let Some(contract) = &filter.contract {
            f.text("contract_id = ?", contract.as_str());
        }
        if let Some(account) = &filter.account_id {
            f.text("account_id = ?", account.clone());
        }
        if let Some(owner) = &filter.owner {
            f.text("owner = ?", owner.clone());
        }
        if let Some(status) = filter.status {
            status_condition(&mut f, status, today);
        }
        if filter.past_due_only {
            status_condition(&mut f, InvoiceStatus::PastDue, today);
        }
        if let Some(days) = filter.min_days_past_due {
            status_condition(&mut f, InvoiceStatus::PastDue, today);
            f.int("due_day <= ?", today.saturating_sub(days));
        }
        if let Some(time) = filter.retry_due_before {
            f.int("next_retry_time <= ?", time);
        }
        let sql = format!(
            "SELECT body FROM invoices {} ORDER BY due_day, id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_invoice(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }
}
