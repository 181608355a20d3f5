//! The account-management database: one SQL text for SQLite and PostgreSQL.
//!
//! Accounts are rows holding queryable columns beside the whole aggregate as a document
//! ([`document`]); every write checks the row's version (optimistic concurrency). The handoffs
//! applied to each account have a table of their own, so a redelivered OpenAccount finds its
//! account by the handoff.

pub mod accounts;
pub mod check_ins;
pub mod document;
pub mod operations;
pub mod opportunities;

use closeloop_kit::db::{Db, Migrations};
pub use closeloop_kit::db::{Filter, Value};

/// The service's schema. The two differ only in the binary column type.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        (
            100,
            "accounts",
            include_str!("../../migrations/sqlite/0100_accounts.sql"),
        ),
        (
            200,
            "check_ins",
            include_str!("../../migrations/sqlite/0200_check_ins.sql"),
        ),
        (
            300,
            "operations_updates",
            include_str!("../../migrations/sqlite/0300_operations_updates.sql"),
        ),
        (
            400,
            "expansions_referrals",
            include_str!("../../migrations/sqlite/0400_expansions_referrals.sql"),
        ),
        (
            500,
            "updates_by_account_time",
            include_str!("../../migrations/sqlite/0500_updates_by_account_time.sql"),
        ),
    ],
    postgres: &[
        (
            100,
            "accounts",
            include_str!("../../migrations/postgres/0100_accounts.sql"),
        ),
        (
            200,
            "check_ins",
            include_str!("../../migrations/postgres/0200_check_ins.sql"),
        ),
        (
            300,
            "operations_updates",
            include_str!("../../migrations/postgres/0300_operations_updates.sql"),
        ),
        (
            400,
            "expansions_referrals",
            include_str!("../../migrations/postgres/0400_expansions_referrals.sql"),
        ),
        (
            500,
            "updates_by_account_time",
            include_str!("../../migrations/postgres/0500_updates_by_account_time.sql"),
        ),
    ],
};

/// Access to the service's tables.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// A store over `db` (migrated by the host).
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}
