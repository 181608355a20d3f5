//! Contracts and orders: insert, read, lock and save a contract; list contracts and orders. A
//! contract's order is inside its document; the `orders` row is what ListOrders filters on.

use closeloop_kit::Problem;
use sqlx::{AnyConnection, Row};

use super::{Filter, Store, document};
use crate::domain::contract::Contract;
use crate::domain::vocabulary::{ContractId, ContractStatus, DealKind, OrderId, OrderStatus};

/// Filters of ListContracts.
#[derive(Debug, Clone, Default)]
pub struct ContractFilter {
    pub owner: Option<String>,
    pub account_id: Option<String>,
    pub status: Option<ContractStatus>,
    pub opportunity: Option<String>,
    pub kind: Option<DealKind>,
}

impl ContractFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.owner.as_deref().unwrap_or(""),
            self.account_id.as_deref().unwrap_or(""),
            self.status.map_or("", ContractStatus::code),
            self.opportunity.as_deref().unwrap_or(""),
            self.kind.map_or("", DealKind::code),
        ])
    }
}

/// Filters of ListOrders.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub contract: Option<ContractId>,
    pub owner: Option<String>,
    pub account_id: Option<String>,
    pub status: Option<OrderStatus>,
}

impl OrderFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.contract.as_ref().map_or("", ContractId::as_str),
            self.owner.as_deref().unwrap_or(""),
            self.account_id.as_deref().unwrap_or(""),
            self.status.map_or("", OrderStatus::code),
        ])
    }
}

/// What a contract row's columns hold.
fn columns(
    c: &Contract,
) -> (
    String,
    String,
    String,
    String,
    &'static str,
    Option<i64>,
    String,
) {
    (
        c.id.to_string(),
        c.owner().to_owned(),
        c.snapshot.account.account_id.clone(),
        c.snapshot.opportunity.clone(),
        c.snapshot.kind.code(),
        c.expire_time,
        c.currency.as_str().to_owned(),
    )
}

impl Store {
    /// Inserts a new contract and records it as its opportunity's live contract (a contract
    /// declined, voided or expired was unrecorded when saved so).
    ///
    /// # Errors
    /// ALREADY_EXISTS when a concurrent call gave the opportunity a live contract first;
    /// database errors.
    pub async fn insert_contract(
        &self,
        conn: &mut AnyConnection,
        c: &Contract,
    ) -> Result<(), Problem> {
        let body = document::encode_contract(c)?;
        let (id, owner, account, opportunity, kind, expire, currency) = columns(c);
        sqlx::query(
            "INSERT INTO contracts (id, owner, account_id, opportunity, kind, status, \
             expire_time, currency, create_time, version, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.clone())
        .bind(owner)
        .bind(account)
        .bind(opportunity.clone())
        .bind(kind)
        .bind(c.status.code())
        .bind(expire)
        .bind(currency)
        .bind(c.create_time)
        .bind(c.version)
        .bind(body)
        .execute(&mut *conn)
        .await?;
        // Two calls for one opportunity meet on its row: the second waits for the first to
        // commit, then finds its contract there.
        let linked = match sqlx::query(
            "INSERT INTO opportunity_contracts (opportunity, contract_id) VALUES ($1, $2)",
        )
        .bind(opportunity.clone())
        .bind(id)
        .execute(&mut *conn)
        .await
        {
            Ok(_) => true,
            Err(e) if closeloop_kit::db::is_unique_violation(&e) => false,
            Err(e) => return Err(e.into()),
        };
        if linked {
            Ok(())
        } else {
            Err(Problem::AlreadyExists(format!(
                "{opportunity} already has a contract (created concurrently)"
            )))
        }
    }

    /// The live contract recorded for `opportunity`, locked until commit, if any.
    ///
    /// # Errors
    /// Database errors.
    pub async fn opportunity_contract(
        &self,
        conn: &mut AnyConnection,
        opportunity: &str,
    ) -> Result<Option<Contract>, Problem> {
        let sql = format!(
            "SELECT c.body FROM opportunity_contracts o JOIN contracts c ON c.id = o.contract_id \
             WHERE o.opportunity = $1{}",
            self.db().sql().lock_rows()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(opportunity)
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| document::decode_contract(&body))
            .transpose()
    }

    /// Reads one contract.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_contract(&self, id: &ContractId) -> Result<Option<Contract>, Problem> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT body FROM contracts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.db().reads())
            .await?;
        row.map(|(body,)| document::decode_contract(&body))
            .transpose()
    }

    /// Reads a contract inside a write transaction, keeping it from changing until commit.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load_contract(
        &self,
        conn: &mut AnyConnection,
        id: &ContractId,
    ) -> Result<Option<Contract>, Problem> {
        let sql = format!(
            "SELECT body FROM contracts WHERE id = $1{}",
            self.db().sql().lock_rows()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(conn)
            .await?;
        row.map(|(body,)| document::decode_contract(&body))
            .transpose()
    }

    /// Writes a changed contract whose stored version is `c.version - 1`, and its order row.
    ///
    /// # Errors
    /// ABORTED when the stored version moved on (a concurrent change); database errors.
    pub async fn save_contract(
        &self,
        conn: &mut AnyConnection,
        c: &Contract,
    ) -> Result<(), Problem> {
        let body = document::encode_contract(c)?;
        let done = sqlx::query(
            "UPDATE contracts SET status = $1, expire_time = $2, version = $3, body = $4 \
             WHERE id = $5 AND version = $6",
        )
        .bind(c.status.code())
        .bind(c.expire_time)
        .bind(c.version)
        .bind(body)
        .bind(c.id.as_str().to_owned())
        .bind(c.version - 1)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Problem::Aborted(format!(
                "{} was changed concurrently; read it again",
                c.name()
            )));
        }
        if let (Some(order), Some(status)) = (&c.order, c.order_status()) {
            sqlx::query(
                "INSERT INTO orders (id, contract_id, owner, account_id, status, number) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status",
            )
            .bind(order.id.as_str().to_owned())
            .bind(c.id.as_str().to_owned())
            .bind(c.owner().to_owned())
            .bind(c.snapshot.account.account_id.clone())
            .bind(status.code())
            .bind(order.number.clone())
            .execute(&mut *conn)
            .await?;
        }
        if c.status.is_final() && !c.status.was_signed() {
            // Declined, voided or expired: the opportunity may get a new contract.
            sqlx::query(
                "DELETE FROM opportunity_contracts WHERE opportunity = $1 AND contract_id = $2",
            )
            .bind(c.snapshot.opportunity.clone())
            .bind(c.id.as_str().to_owned())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Contracts after `after` (an id), oldest first, at most `limit`, as of `now` (a SENT
    /// contract past its expiry counts as EXPIRED).
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_contracts(
        &self,
        filter: &ContractFilter,
        now: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Contract>, Problem> {
        let mut f = Filter::default();
        if let Some(after) = after {
            f.text("id > ?", after);
        }
        if let Some(owner) = &filter.owner {
            f.text("owner = ?", owner.clone());
        }
        if let Some(account) = &filter.account_id {
            f.text("account_id = ?", account.clone());
        }
        if let Some(opportunity) = &filter.opportunity {
            f.text("opportunity = ?", opportunity.clone());
        }
        if let Some(kind) = filter.kind {
            f.text("kind = ?", kind.code());
        }
        match filter.status {
            None => {}
            Some(ContractStatus::Sent) => f.int("status = 'SENT' AND expire_time > ?", now),
            Some(ContractStatus::Expired) => f.int(
                "(status = 'EXPIRED' OR (status = 'SENT' AND expire_time <= ?))",
                now,
            ),
            Some(s) => f.text("status = ?", s.code()),
        }
        let sql = format!(
            "SELECT body FROM contracts {} ORDER BY id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_contract(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// The contracts of orders after `after` (an order id), oldest order first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_orders(
        &self,
        filter: &OrderFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Contract>, Problem> {
        let mut f = Filter::default();
        if let Some(after) = after {
            f.text("o.id > ?", after);
        }
        if let Some(contract) = &filter.contract {
            f.text("o.contract_id = ?", contract.as_str());
        }
        if let Some(owner) = &filter.owner {
            f.text("o.owner = ?", owner.clone());
        }
        if let Some(account) = &filter.account_id {
            f.text("o.account_id = ?", account.clone());
        }
        if let Some(status) = filter.status {
            f.text("o.status = ?", status.code());
        }
        let sql = format!(
            "SELECT c.body FROM orders o JOIN contracts c ON c.id = o.contract_id {} \
             ORDER BY o.id LIMIT {limit}",
            f.clause()
        );
        let rows = f.query(sql).fetch_all(self.db().reads()).await?;
        rows.iter()
            .map(|r| document::decode_contract(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// The contract holding order `order`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn contract_of_order(&self, order: &OrderId) -> Result<Option<Contract>, Problem> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT c.body FROM orders o JOIN contracts c ON c.id = o.contract_id WHERE o.id = $1",
        )
        .bind(order.as_str())
        .fetch_optional(self.db().reads())
        .await?;
        row.map(|(body,)| document::decode_contract(&body))
            .transpose()
    }
}
