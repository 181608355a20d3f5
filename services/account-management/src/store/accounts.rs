//! Accounts: one row each, the columns ListAccounts filters on beside the document; and the
//! handoffs applied to each account.

use closeloop_kit::Problem;
use sqlx::{AnyConnection, Row};
use time::Date;

use super::{Filter, Store, document};
use crate::domain::account::Account;
use crate::domain::policy::Policy;
use crate::domain::vocabulary::{AccountId, AccountStatus};

/// Days since 1970-01-01.
pub fn day_number(d: Date) -> i64 {
    i64::from(d.to_julian_day()) - 2_440_588
}

/// Filters of ListAccounts (the caller's reach already applied).
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub account_manager: Option<String>,
    pub salesperson: Option<String>,
    pub status: Option<AccountStatus>,
    pub customer_account_id: Option<String>,
    /// Only accounts whose next check-in date is before this day.
    pub check_in_due_before: Option<Date>,
}

impl AccountFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        let due = self
            .check_in_due_before
            .map(|d| d.to_string())
            .unwrap_or_default();
        closeloop_kit::paging::fingerprint(&[
            self.account_manager.as_deref().unwrap_or(""),
            self.salesperson.as_deref().unwrap_or(""),
            self.status.map_or("", AccountStatus::code),
            self.customer_account_id.as_deref().unwrap_or(""),
            &due,
        ])
    }
}

impl Store {
    /// Inserts a new account and records its handoffs.
    ///
    /// # Errors
    /// ABORTED when a concurrent call opened the customer's account first; database errors.
    pub async fn insert_account(
        &self,
        conn: &mut AnyConnection,
        a: &Account,
        policy: &Policy,
    ) -> Result<(), Problem> {
        let body = document::encode_account(a)?;
        let done = sqlx::query(
            "INSERT INTO accounts (id, customer_account_id, account_manager, salesperson, status, \
             currency, check_in_due_day, create_time, version, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(a.id.as_str().to_owned())
        .bind(a.customer.account_id.clone())
        .bind(a.account_manager.clone())
        .bind(a.salesperson.clone())
        .bind(a.status.code())
        .bind(a.currency.as_str().to_owned())
        .bind(a.next_check_in_date(policy).map(day_number))
        .bind(a.create_time)
        .bind(a.version)
        .bind(body)
        .execute(&mut *conn)
        .await;
        match done {
            Ok(_) => {}
            Err(e) if closeloop_kit::db::is_unique_violation(&e) => {
                return Err(Problem::Aborted(format!(
                    "an account for customer {} was opened concurrently; try again",
                    a.customer.account_id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.record_handoffs(conn, a).await
    }

    /// Records every handoff `a` carries (those already recorded stay).
    async fn record_handoffs(&self, conn: &mut AnyConnection, a: &Account) -> Result<(), Problem> {
        let mut handoffs: Vec<&str> = vec![a.handoff.as_str()];
        handoffs.extend(a.later_handoffs.iter().map(String::as_str));
        handoffs.extend(a.contracts.iter().map(|c| c.handoff.as_str()));
        handoffs.retain(|h| !h.is_empty());
        handoffs.sort_unstable();
        handoffs.dedup();
        for h in handoffs {
            sqlx::query(
                "INSERT INTO account_handoffs (handoff, account_id) VALUES ($1, $2) \
                 ON CONFLICT (handoff) DO NOTHING",
            )
            .bind(h.to_owned())
            .bind(a.id.as_str().to_owned())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Writes a changed account whose stored version is `a.version - 1`, and its handoffs.
    ///
    /// # Errors
    /// ABORTED when the stored version moved on (a concurrent change); database errors.
    pub async fn save_account(
        &self,
        conn: &mut AnyConnection,
        a: &Account,
        policy: &Policy,
    ) -> Result<(), Problem> {
        let body = document::encode_account(a)?;
        let done = sqlx::query(
            "UPDATE accounts SET account_manager = $1, salesperson = $2, status = $3, \
             check_in_due_day = $4, version = $5, body = $6 WHERE id = $7 AND version = $8",
        )
        .bind(a.account_manager.clone())
        .bind(a.salesperson.clone())
        .bind(a.status.code())
        .bind(a.next_check_in_date(policy).map(day_number))
        .bind(a.version)
        .bind(body)
        .bind(a.id.as_str().to_owned())
        .bind(a.version - 1)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Problem::Aborted(format!(
                "{} was changed concurrently; read it again",
                a.name()
            )));
        }
        self.record_handoffs(conn, a).await
    }

    /// Reads one account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, Problem> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT body FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.db().reads())
            .await?;
        row.map(|(body,)| document::decode_account(&body))
            .transpose()
    }

    async fn load_where(
        &self,
        conn: &mut AnyConnection,
        condition: &str,
        value: &str,
    ) -> Result<Option<Account>, Problem> {
        let sql = format!(
            "SELECT body FROM accounts WHERE {condition}{}",
            self.db().sql().lock_rows()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value.to_owned())
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| document::decode_account(&body))
            .transpose()
    }

    /// Reads an account inside a write transaction, keeping it from changing until commit.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_account(
        &self,
        conn: &mut AnyConnection,
        id: &AccountId,
    ) -> Result<Option<Account>, Problem> {
        self.load_where(conn, "id = $1", id.as_str()).await
    }

    /// The account that recorded `handoff`, locked until commit.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_by_handoff(
        &self,
        conn: &mut AnyConnection,
        handoff: &str,
    ) -> Result<Option<Account>, Problem> {
        self.load_where(
            conn,
            "id = (SELECT account_id FROM account_handoffs WHERE handoff = $1)",
            handoff,
        )
        .await
    }

    /// The customer's account, locked until commit.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_by_customer(
        &self,
        conn: &mut AnyConnection,
        customer: &str,
    ) -> Result<Option<Account>, Problem> {
        self.load_where(conn, "customer_account_id = $1", customer)
            .await
    }

    /// Accounts after `after` (an id), oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_accounts(
        &self,
        filter: &AccountFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Account>, Problem> {
        let mut f = Filter::default();
        if let Some(after) = after {
            f.text("id > ?", after);
        }
        if let Some(m) = &filter.account_manager {
            f.text("account_manager = ?", m.clone());
        }
        if let Some(s) = &filter.salesperson {
            f.text("salesperson = ?", s.clone());
        }
        if let Some(s) = filter.status {
            f.text("status = ?", s.code());
        }
        if let Some(c) = &filter.customer_account_id {
            f.text("customer_account_id = ?", c.clone());
        }
        if let Some(day) = filter.check_in_due_before {
            f.int("check_in_due_day < ?", day_number(day));
        }
        let sql = format!(
            "SELECT body FROM accounts {} ORDER BY id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_account(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// Every account, for the portfolio's churn rate.
    ///
    /// # Errors
    /// Database errors.
    pub async fn all_accounts(&self) -> Result<Vec<Account>, Problem> {
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT body FROM accounts ORDER BY id")
            .fetch_all(self.db().reads())
            .await?;
        rows.iter()
            .map(|(body,)| document::decode_account(body))
            .collect()
    }

    /// Accounts whose next check-in falls on or before `last_day` (CHURNED ones have none),
    /// earliest first then by id, after `after` (due day, id), at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_due_accounts(
        &self,
        account_manager: Option<&str>,
        last_day: Date,
        after: Option<&(i64, String)>,
        limit: u32,
    ) -> Result<Vec<Account>, Problem> {
        let mut f = Filter::default();
        f.int("check_in_due_day <= ?", day_number(last_day));
        if let Some(m) = account_manager {
            f.text("account_manager = ?", m);
        }
        if let Some((day, id)) = after {
            f.push(
                "(check_in_due_day > ? OR (check_in_due_day = ? AND id > ?))",
                vec![
                    super::Value::Int(*day),
                    super::Value::Int(*day),
                    super::Value::Text(id.clone()),
                ],
            );
        }
        let sql = format!(
            "SELECT body FROM accounts {} ORDER BY check_in_due_day, id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_account(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }
}
