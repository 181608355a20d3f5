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

/// The WHERE clause of a listing, built condition by condition with numbered parameters.
#[derive(Default)]
pub struct Filter {
    conditions: Vec<String>,
    values: Vec<Value>,
}

/// A bound parameter.
pub enum Value {
    Text(String),
    Int(i64),
}

impl Filter {
    /// Adds `condition`, whose `?` marks stand for `values` in order.
    pub fn push(&mut self, condition: &str, values: Vec<Value>) {
        let mut out = String::new();
        let mut values = values.into_iter();
        for (i, part) in condition.split('?').enumerate() {
            if i > 0 {
                if let Some(v) = values.next() {
                    self.values.push(v);
                }
                out.push_str(&format!("${}", self.values.len()));
            }
            out.push_str(part);
        }
        self.conditions.push(out);
    }

    /// Adds `condition` with one text parameter.
    pub fn text(&mut self, condition: &str, value: impl Into<String>) {
        self.push(condition, vec![Value::Text(value.into())]);
    }

    /// Adds `condition` with one integer parameter.
    pub fn int(&mut self, condition: &str, value: i64) {
        self.push(condition, vec![Value::Int(value)]);
    }

    /// `WHERE ...`, or nothing.
    pub fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// The query for `sql` (written with this filter's clause) with the parameters bound.
    pub fn query(
        self,
        sql: String,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in self.values {
            query = match v {
                Value::Text(s) => query.bind(s),
                Value::Int(i) => query.bind(i),
            };
        }
        query
    }
}
