//! Operations updates: one row each under its account, with the columns the lists filter on.

use closeloop_kit::Problem;
use sqlx::{AnyConnection, Row};

use super::{Filter, Store, Value, document};
use crate::domain::operations::{OperationsUpdate, UpdateFilter};
use crate::domain::vocabulary::{AccountId, OperationsUpdateId, Severity};

/// Where a page of updates starts: after this (create_time, id), newest first.
pub type UpdateKey = (i64, String);

/// Which updates a listing covers.
pub enum UpdateScope<'a> {
    /// The updates of one account.
    Account(&'a AccountId),
    /// The updates of every account of one salesperson.
    Salesperson(&'a str),
}

fn rank(s: Severity) -> i64 {
    Severity::ALL
        .iter()
        .position(|x| *x == s)
        .and_then(|p| i64::try_from(p).ok())
        .unwrap_or(0)
}

impl Store {
    /// Inserts a new update, or rewrites one (an ISSUE resolved).
    ///
    /// # Errors
    /// Database errors.
    pub async fn put_update(
        &self,
        conn: &mut AnyConnection,
        u: &OperationsUpdate,
        new: bool,
    ) -> Result<(), Problem> {
        let body = document::encode_update(u)?;
        let sql = if new {
            "INSERT INTO operations_updates (kind, severity_rank, open_issue, body, id, \
             account_id, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        } else {
            "UPDATE operations_updates SET kind = $1, severity_rank = $2, open_issue = $3, \
             body = $4 WHERE id = $5 AND account_id = $6 AND create_time = $7"
        };
        sqlx::query(sql)
            .bind(u.kind.code())
            .bind(rank(u.severity))
            .bind(i64::from(u.is_open_issue()))
            .bind(body)
            .bind(u.id.as_str().to_owned())
            .bind(u.account.as_str().to_owned())
            .bind(u.create_time)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// One update of the account, read inside the transaction that holds the account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_update(
        &self,
        conn: &mut AnyConnection,
        account: &AccountId,
        id: &OperationsUpdateId,
    ) -> Result<Option<OperationsUpdate>, Problem> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT body FROM operations_updates WHERE id = $1 AND account_id = $2")
                .bind(id.as_str().to_owned())
                .bind(account.as_str().to_owned())
                .fetch_optional(conn)
                .await?;
        row.map(|(b,)| document::decode_update(&b)).transpose()
    }

    /// One update of the account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_update(
        &self,
        account: &AccountId,
        id: &OperationsUpdateId,
    ) -> Result<Option<OperationsUpdate>, Problem> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT body FROM operations_updates WHERE id = $1 AND account_id = $2")
                .bind(id.as_str().to_owned())
                .bind(account.as_str().to_owned())
                .fetch_optional(self.db().reads())
                .await?;
        row.map(|(b,)| document::decode_update(&b)).transpose()
    }

    /// The severities of the ISSUEs still open on the account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn open_issues(&self, account: &AccountId) -> Result<Vec<Severity>, Problem> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT severity_rank FROM operations_updates WHERE account_id = $1 AND open_issue = 1",
        )
        .bind(account.as_str().to_owned())
        .fetch_all(self.db().reads())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|(r,)| usize::try_from(*r).ok())
            .filter_map(|r| Severity::ALL.get(r).copied())
            .collect())
    }

    /// Updates in `scope` passing `filter`, newest posted first then by id, after `after`, at
    /// most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_updates(
        &self,
        scope: UpdateScope<'_>,
        filter: &UpdateFilter,
        after: Option<&UpdateKey>,
        limit: u32,
    ) -> Result<Vec<OperationsUpdate>, Problem> {
        let mut f = Filter::default();
        match scope {
            UpdateScope::Account(a) => f.text("account_id = ?", a.as_str()),
            UpdateScope::Salesperson(s) => f.text(
                "account_id IN (SELECT id FROM accounts WHERE salesperson = ?)",
                s,
            ),
        }
        if !filter.kinds.is_empty() {
            let marks = vec!["?"; filter.kinds.len()].join(", ");
            f.push(
                &format!("kind IN ({marks})"),
                filter
                    .kinds
                    .iter()
                    .map(|k| Value::Text(k.code().to_owned()))
                    .collect(),
            );
        }
        if let Some(min) = filter.minimum_severity {
            f.int("severity_rank >= ?", rank(min));
        }
        if filter.open_issues_only {
            f.int("open_issue = ?", 1);
        }
        if let Some(since) = filter.since_time {
            f.int("create_time > ?", since);
        }
        if let Some((time, id)) = after {
            f.push(
                "(create_time < ? OR (create_time = ? AND id > ?))",
                vec![
                    Value::Int(*time),
                    Value::Int(*time),
                    Value::Text(id.clone()),
                ],
            );
        }
        // The page's keys first, then only their bodies: a salesperson's accounts hold many
        // more updates than a page, and sorting them with their bodies took most of the feed's
        // time (closeloop bench, ListSalespersonFeed).
        let sql = format!(
            "SELECT body FROM operations_updates WHERE id IN (SELECT id FROM operations_updates \
             {} ORDER BY create_time DESC, id LIMIT {limit}) ORDER BY create_time DESC, id",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_update(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// The accounts `ids` (those that exist), in one statement.
    ///
    /// # Errors
    /// Database errors.
    pub async fn accounts_by_id(
        &self,
        ids: &[&AccountId],
    ) -> Result<Vec<crate::domain::account::Account>, Problem> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut f = Filter::default();
        f.push(
            &format!("id IN ({})", vec!["?"; ids.len()].join(", ")),
            ids.iter()
                .map(|id| Value::Text(id.as_str().to_owned()))
                .collect(),
        );
        let sql = format!("SELECT body FROM accounts {}", f.clause());
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_account(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }
}
