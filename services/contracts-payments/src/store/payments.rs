//! Payment attempts (immutable once recorded) and follow-ups, and what an account's balance
//! reads: its contracts and invoices.

use closeloop_kit::Problem;
use closeloop_kit::db::is_unique_violation;
use sqlx::{AnyConnection, Row};

use super::{Filter, Store, document};
use crate::domain::contract::Contract;
use crate::domain::follow_up::FollowUp;
use crate::domain::invoice::Invoice;
use crate::domain::payments::PaymentAttempt;
use crate::domain::vocabulary::{AttemptId, ContractId, FollowUpId, InvoiceId, PaymentResult};

/// Filters of ListPaymentAttempts.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub contract: Option<ContractId>,
    pub invoice: Option<InvoiceId>,
    pub owner: Option<String>,
    pub account_id: Option<String>,
    pub result: Option<PaymentResult>,
}

impl AttemptFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.contract.as_ref().map_or("", ContractId::as_str),
            self.invoice.as_ref().map_or("", InvoiceId::as_str),
            self.owner.as_deref().unwrap_or(""),
            self.account_id.as_deref().unwrap_or(""),
            self.result.map_or("", PaymentResult::code),
        ])
    }
}

/// Filters of ListFollowUps.
#[derive(Debug, Clone, Default)]
pub struct FollowUpFilter {
    pub assignee: Option<String>,
    pub open_only: bool,
    pub account_id: Option<String>,
    pub contract: Option<ContractId>,
}

impl FollowUpFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.assignee.as_deref().unwrap_or(""),
            if self.open_only { "open" } else { "" },
            self.account_id.as_deref().unwrap_or(""),
            self.contract.as_ref().map_or("", ContractId::as_str),
        ])
    }
}

fn bodies<T>(
    rows: &[sqlx::any::AnyRow],
    decode: impl Fn(&[u8]) -> Result<T, Problem>,
) -> Result<Vec<T>, Problem> {
    rows.iter()
        .map(|r| decode(&r.try_get::<Vec<u8>, _>(0)?))
        .collect()
}

impl Store {
    /// Records a payment attempt.
    ///
    /// # Errors
    /// ALREADY_EXISTS when its processor already reported an attempt with the same reference;
    /// database errors.
    pub async fn insert_attempt(
        &self,
        conn: &mut AnyConnection,
        a: &PaymentAttempt,
    ) -> Result<(), Problem> {
        sqlx::query(
            "INSERT INTO payment_attempts (id, invoice_id, contract_id, owner, account_id, \
             result, processor, processor_reference, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(a.id.as_str().to_owned())
        .bind(a.invoice.as_str().to_owned())
        .bind(a.contract.as_str().to_owned())
        .bind(a.owner.clone())
        .bind(a.account.account_id.clone())
        .bind(a.result.code())
        .bind(a.processor.clone())
        .bind(a.processor_reference.clone())
        .bind(document::encode_attempt(a)?)
        .execute(conn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Problem::AlreadyExists(format!(
                    "{} already reported an attempt with reference {:?}",
                    a.processor, a.processor_reference
                ))
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    /// Reads one payment attempt of an invoice.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_attempt(
        &self,
        contract: &ContractId,
        invoice: &InvoiceId,
        id: &AttemptId,
    ) -> Result<Option<PaymentAttempt>, Problem> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT body FROM payment_attempts WHERE id = $1 AND invoice_id = $2 \
             AND contract_id = $3",
        )
        .bind(id.as_str())
        .bind(invoice.as_str())
        .bind(contract.as_str())
        .fetch_optional(self.db().reads())
        .await?;
        row.map(|(body,)| document::decode_attempt(&body))
            .transpose()
    }

    /// Payment attempts after `after` (an id), oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_attempts(
        &self,
        filter: &AttemptFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PaymentAttempt>, Problem> {
        let mut f = Filter::default();
        if let Some(after) = after {
            f.text("id > ?", after);
        }
        if let Some(c) = &filter.contract {
            f.text("contract_id = ?", c.as_str());
        }
        if let Some(i) = &filter.invoice {
            f.text("invoice_id = ?", i.as_str());
        }
        if let Some(o) = &filter.owner {
            f.text("owner = ?", o.clone());
        }
        if let Some(a) = &filter.account_id {
            f.text("account_id = ?", a.clone());
        }
        if let Some(r) = filter.result {
            f.text("result = ?", r.code());
        }
        let sql = format!(
            "SELECT body FROM payment_attempts {} ORDER BY id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        bodies(&rows, document::decode_attempt)
    }

    /// Writes a follow-up: inserts a new one (`version` 1), or updates one whose stored version
    /// is `version - 1`.
    ///
    /// # Errors
    /// ABORTED when the stored version moved on; database errors.
    pub async fn save_follow_up(
        &self,
        conn: &mut AnyConnection,
        f: &FollowUp,
    ) -> Result<(), Problem> {
        let body = document::encode_follow_up(f)?;
        let open = i64::from(f.is_open());
        if f.version == 1 {
            sqlx::query(
                "INSERT INTO follow_ups (id, invoice_id, contract_id, assignee, account_id, \
                 is_open, version, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(f.id.as_str().to_owned())
            .bind(f.invoice.as_str().to_owned())
            .bind(f.contract.as_str().to_owned())
            .bind(f.assignee.clone())
            .bind(f.account.account_id.clone())
            .bind(open)
            .bind(f.version)
            .bind(body)
            .execute(conn)
            .await?;
            return Ok(());
        }
        let done = sqlx::query(
            "UPDATE follow_ups SET is_open = $1, version = $2, body = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(open)
        .bind(f.version)
        .bind(body)
        .bind(f.id.as_str().to_owned())
        .bind(f.version - 1)
        .execute(conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Problem::Aborted(format!(
                "{} was changed concurrently; read it again",
                f.name()
            )));
        }
        Ok(())
    }

    /// Reads a follow-up, inside a write transaction (locked until commit) when `conn` is one.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_follow_up(
        &self,
        conn: &mut AnyConnection,
        id: &FollowUpId,
        lock: bool,
    ) -> Result<Option<FollowUp>, Problem> {
        let sql = format!(
            "SELECT body FROM follow_ups WHERE id = $1{}",
            if lock {
                self.db().sql().lock_rows()
            } else {
                ""
            }
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| document::decode_follow_up(&body))
            .transpose()
    }

    /// Reads one follow-up.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_follow_up(&self, id: &FollowUpId) -> Result<Option<FollowUp>, Problem> {
        let mut conn = self.db().reads().acquire().await?;
        self.load_follow_up(&mut conn, id, false).await
    }

    /// Follow-ups after `after` (an id), oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_follow_ups(
        &self,
        filter: &FollowUpFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FollowUp>, Problem> {
        let mut f = Filter::default();
        if let Some(after) = after {
            f.text("id > ?", after);
        }
        if let Some(a) = &filter.assignee {
            f.text("assignee = ?", a.clone());
        }
        if filter.open_only {
            f.int("is_open = ?", 1);
        }
        if let Some(a) = &filter.account_id {
            f.text("account_id = ?", a.clone());
        }
        if let Some(c) = &filter.contract {
            f.text("contract_id = ?", c.as_str());
        }
        let sql = format!(
            "SELECT body FROM follow_ups {} ORDER BY id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        bodies(&rows, document::decode_follow_up)
    }

    /// An account's contracts, invoices and open follow-ups count: what its balance is
    /// computed from.
    ///
    /// # Errors
    /// Database errors.
    pub async fn account(
        &self,
        account_id: &str,
    ) -> Result<(Vec<Contract>, Vec<Invoice>, i32), Problem> {
        let lists = &self.account;
        let contracts = lists.contracts.get(account_id).await?;
        let contracts = contracts
            .iter()
            .map(|body| document::decode_contract(body))
            .collect::<Result<Vec<_>, _>>()?;
        let invoices = lists.invoices.get(account_id).await?;
        let invoices = invoices
            .iter()
            .map(|body| document::decode_invoice(body))
            .collect::<Result<Vec<_>, _>>()?;
        let open = lists.open_follow_ups.get(account_id).await?.len();
        Ok((contracts, invoices, i32::try_from(open).unwrap_or(i32::MAX)))
    }

    /// Whether `owner` owns a contract of the account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn owns_account_contract(
        &self,
        account_id: &str,
        owner: &str,
    ) -> Result<bool, Problem> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM contracts WHERE account_id = $1 AND owner = $2 LIMIT 1")
                .bind(account_id)
                .bind(owner)
                .fetch_optional(self.db().reads())
                .await?;
        Ok(row.is_some())
    }
}
