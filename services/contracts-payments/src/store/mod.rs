//! The contracts-and-payments database: one SQL text for SQLite and PostgreSQL.
//!
//! Contracts (with their order inside) and invoices are rows holding queryable columns beside
//! the whole aggregate as a document ([`document`]); every write checks the row's version
//! (optimistic concurrency). Contracts and orders have a file, invoices another.

pub mod contracts;
pub mod document;
pub mod invoices;
pub mod payments;

use closeloop_kit::Problem;
use closeloop_kit::db::keyed::{KeyedLists, List};
use closeloop_kit::db::{Db, Migrations};
pub use closeloop_kit::db::{Filter, Value};
use sqlx::AnyConnection;

/// The service's schema. The two differ only in the binary column type.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        100,
        "contracts, orders, invoices",
        include_str!("../../migrations/sqlite/0100_contracts.sql"),
    )],
    postgres: &[(
        100,
        "contracts, orders, invoices",
        include_str!("../../migrations/postgres/0100_contracts.sql"),
    )],
};

/// Access to the service's tables.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// What GetAccountBalance reads, per account.
    account: AccountLists,
}

/// An account's contracts, invoices and open follow-ups, each read by account id.
#[derive(Clone, Debug)]
struct AccountLists {
    contracts: KeyedLists,
    invoices: KeyedLists,
    open_follow_ups: KeyedLists,
}

/// Accounts read by one query at most.
const ACCOUNT_BATCH: usize = 16;

impl Store {
    /// A store over `db` (migrated by the host). Must run inside the tokio runtime.
    pub fn new(db: Db) -> Self {
        let list = |table, filter, order| {
            let list = List {
                table,
                key: "account_id",
                value: "body",
                filter,
                order,
            };
            KeyedLists::new(&db, list, ACCOUNT_BATCH)
        };
        // GetAccountBalance is the hottest read: coalesced, and on SQLite read on the calling
        // thread (see the kit's `KeyedLists` for what that measured).
        let account = AccountLists {
            contracts: list("contracts", "", ""),
            invoices: list("invoices", "", "due_day, id"),
            open_follow_ups: list("follow_ups", "is_open = 1", ""),
        };
        Store { db, account }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The next number of the counter `name` (`order`, `invoice`), inside the caller's
    /// transaction: numbers are unique, and gaps appear only when a transaction rolls back.
    ///
    /// # Errors
    /// Database errors.
    pub async fn next_number(conn: &mut AnyConnection, name: &str) -> Result<i64, Problem> {
        let (value,): (i64,) =
            sqlx::query_as("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
                .bind(name)
                .fetch_one(conn)
                .await?;
        Ok(value)
    }
}
