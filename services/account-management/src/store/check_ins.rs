//! Check-ins: one row each under its account, the whole check-in as a document.

use closeloop_kit::Problem;
use sqlx::AnyConnection;

use super::{Store, document};
use crate::domain::check_ins::CheckIn;
use crate::domain::vocabulary::{AccountId, CheckInId};

/// Where a page of check-ins starts: after this (check_in_time, id), most recent first.
pub type CheckInKey = (i64, String);

fn decode_all(rows: &[(Vec<u8>,)]) -> Result<Vec<CheckIn>, Problem> {
    rows.iter()
        .map(|(body,)| document::decode_check_in(body))
        .collect()
}

impl Store {
    /// Inserts a new check-in.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_check_in(
        &self,
        conn: &mut AnyConnection,
        c: &CheckIn,
    ) -> Result<(), Problem> {
        let body = document::encode_check_in(c)?;
        sqlx::query(
            "INSERT INTO check_ins (id, account_id, check_in_time, body) VALUES ($1, $2, $3, $4)",
        )
        .bind(c.id.as_str().to_owned())
        .bind(c.account.as_str().to_owned())
        .bind(c.check_in_time)
        .bind(body)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Rewrites a check-in (its satisfaction change, corrected by a backdated one).
    ///
    /// # Errors
    /// Database errors.
    pub async fn save_check_in(
        &self,
        conn: &mut AnyConnection,
        c: &CheckIn,
    ) -> Result<(), Problem> {
        let body = document::encode_check_in(c)?;
        sqlx::query("UPDATE check_ins SET body = $1 WHERE id = $2")
            .bind(body)
            .bind(c.id.as_str().to_owned())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The check-ins either side of `time` on the account: the latest at or before it, and the
    /// earliest after it (read inside the transaction that holds the account).
    ///
    /// # Errors
    /// Database errors.
    pub async fn check_in_neighbours(
        &self,
        conn: &mut AnyConnection,
        account: &AccountId,
        time: i64,
    ) -> Result<(Option<CheckIn>, Option<CheckIn>), Problem> {
        let previous: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT body FROM check_ins WHERE account_id = $1 AND check_in_time <= $2 \
             ORDER BY check_in_time DESC, id DESC LIMIT 1",
        )
        .bind(account.as_str().to_owned())
        .bind(time)
        .fetch_optional(&mut *conn)
        .await?;
        let next: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT body FROM check_ins WHERE account_id = $1 AND check_in_time > $2 \
             ORDER BY check_in_time, id LIMIT 1",
        )
        .bind(account.as_str().to_owned())
        .bind(time)
        .fetch_optional(&mut *conn)
        .await?;
        let previous = previous
            .map(|(b,)| document::decode_check_in(&b))
            .transpose()?;
        let next = next.map(|(b,)| document::decode_check_in(&b)).transpose()?;
        Ok((previous, next))
    }

    /// One check-in of the account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_check_in(
        &self,
        account: &AccountId,
        id: &CheckInId,
    ) -> Result<Option<CheckIn>, Problem> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT body FROM check_ins WHERE id = $1 AND account_id = $2")
                .bind(id.as_str().to_owned())
                .bind(account.as_str().to_owned())
                .fetch_optional(self.db().reads())
                .await?;
        row.map(|(b,)| document::decode_check_in(&b)).transpose()
    }

    /// The account's check-ins, most recent first, after `after`, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_check_ins(
        &self,
        account: &AccountId,
        after: Option<&CheckInKey>,
        limit: u32,
    ) -> Result<Vec<CheckIn>, Problem> {
        let rows: Vec<(Vec<u8>,)> = match after {
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT body FROM check_ins WHERE account_id = $1 \
                     ORDER BY check_in_time DESC, id DESC LIMIT {limit}"
                )))
                .bind(account.as_str().to_owned())
                .fetch_all(self.db().reads())
                .await?
            }
            Some((time, id)) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT body FROM check_ins WHERE account_id = $1 \
                     AND (check_in_time < $2 OR (check_in_time = $3 AND id < $4)) \
                     ORDER BY check_in_time DESC, id DESC LIMIT {limit}"
                )))
                .bind(account.as_str().to_owned())
                .bind(*time)
                .bind(*time)
                .bind(id.clone())
                .fetch_all(self.db().reads())
                .await?
            }
        };
        decode_all(&rows)
    }
}
