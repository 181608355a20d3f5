//! Expansions and referrals: one row each under its account. The status of the opportunity
//! each requested is the state of its CreateOpportunity in the outbox, which the listings join.

use closeloop_kit::Problem;
use sqlx::{AnyConnection, Row};

use super::{Filter, Store, document};
use crate::domain::opportunities::{Expansion, Referral};
use crate::domain::vocabulary::{AccountId, ExpansionKind, OpportunityRequestStatus};

/// Where a page starts: after this (create_time, id), most recent first.
pub type RecordKey = (i64, String);

/// Which table.
#[derive(Clone, Copy)]
enum Table {
    Expansions,
    Referrals,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Expansions => "expansions",
            Table::Referrals => "referrals",
        }
    }
}

/// The outbox condition of a status: PENDING while the call waits, FAILED once parked, OPENED
/// once delivered (or deleted from the outbox after its retention, as only delivered ones are).
fn status_condition(status: OpportunityRequestStatus) -> &'static str {
    match status {
        OpportunityRequestStatus::Pending => {
            "o.id IS NOT NULL AND o.deliver_time IS NULL AND o.park_time IS NULL"
        }
        OpportunityRequestStatus::Failed => {
            "o.id IS NOT NULL AND o.deliver_time IS NULL AND o.park_time IS NOT NULL"
        }
        OpportunityRequestStatus::Opened => "(o.id IS NULL OR o.deliver_time IS NOT NULL)",
    }
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    async fn insert_record(
        &self,
        conn: &mut AnyConnection,
        table: Table,
        id: &str,
        account: &AccountId,
        kind: &str,
        command_id: &str,
        create_time: i64,
        body: Vec<u8>,
    ) -> Result<(), Problem> {
        let sql = format!(
            "INSERT INTO {} (id, account_id, kind, command_id, create_time, body) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            table.name()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .bind(account.as_str().to_owned())
            .bind(kind.to_owned())
            .bind(command_id.to_owned())
            .bind(create_time)
            .bind(body)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn get_record(
        &self,
        table: Table,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Vec<u8>>, Problem> {
        let sql = format!(
            "SELECT body FROM {} WHERE id = $1 AND account_id = $2",
            table.name()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .bind(account.as_str().to_owned())
            .fetch_optional(self.db().reads())
            .await?;
        Ok(row.map(|(b,)| b))
    }

    async fn list_records(
        &self,
        table: Table,
        account: &AccountId,
        status: Option<OpportunityRequestStatus>,
        kind: Option<&str>,
        after: Option<&RecordKey>,
        limit: u32,
    ) -> Result<Vec<Vec<u8>>, Problem> {
        let mut f = Filter::default();
        f.text("r.account_id = ?", account.as_str());
        if let Some(s) = status {
            f.push(status_condition(s), Vec::new());
        }
        if let Some(k) = kind {
            f.text("r.kind = ?", k);
        }
        if let Some((time, id)) = after {
            f.push(
                "(r.create_time < ? OR (r.create_time = ? AND r.id < ?))",
                vec![
                    super::Value::Int(*time),
                    super::Value::Int(*time),
                    super::Value::Text(id.clone()),
                ],
            );
        }
        let sql = format!(
            "SELECT r.body FROM {} r LEFT JOIN outbox o ON o.id = r.command_id {} \
             ORDER BY r.create_time DESC, r.id DESC LIMIT {limit}",
            table.name(),
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// Inserts a new expansion.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_expansion(
        &self,
        conn: &mut AnyConnection,
        e: &Expansion,
    ) -> Result<(), Problem> {
        let body = document::encode_expansion(e)?;
        self.insert_record(
            conn,
            Table::Expansions,
            e.id.as_str(),
            &e.account,
            e.kind.code(),
            &e.request.command_id,
            e.create_time,
            body,
        )
        .await
    }

    /// Inserts a new referral.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_referral(
        &self,
        conn: &mut AnyConnection,
        r: &Referral,
    ) -> Result<(), Problem> {
        let body = document::encode_referral(r)?;
        self.insert_record(
            conn,
            Table::Referrals,
            r.id.as_str(),
            &r.account,
            "",
            &r.request.command_id,
            r.create_time,
            body,
        )
        .await
    }

    /// One expansion of the account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_expansion(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Expansion>, Problem> {
        self.get_record(Table::Expansions, account, id)
            .await?
            .map(|b| document::decode_expansion(&b))
            .transpose()
    }

    /// One referral of the account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_referral(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Referral>, Problem> {
        self.get_record(Table::Referrals, account, id)
            .await?
            .map(|b| document::decode_referral(&b))
            .transpose()
    }

    /// The account's expansions, most recent first, filtered, after `after`, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_expansions(
        &self,
        account: &AccountId,
        status: Option<OpportunityRequestStatus>,
        kind: Option<ExpansionKind>,
        after: Option<&RecordKey>,
        limit: u32,
    ) -> Result<Vec<Expansion>, Problem> {
        let rows = self
            .list_records(
                Table::Expansions,
                account,
                status,
                kind.map(ExpansionKind::code),
                after,
                limit,
            )
            .await?;
        rows.iter().map(|b| document::decode_expansion(b)).collect()
    }

    /// The account's referrals, most recent first, filtered, after `after`, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_referrals(
        &self,
        account: &AccountId,
        status: Option<OpportunityRequestStatus>,
        after: Option<&RecordKey>,
        limit: u32,
    ) -> Result<Vec<Referral>, Problem> {
        let rows = self
            .list_records(Table::Referrals, account, status, None, after, limit)
            .await?;
        rows.iter().map(|b| document::decode_referral(b)).collect()
    }
}
