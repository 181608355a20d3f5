//! The handoff service's database: one SQL text for SQLite and PostgreSQL.
//!
//! A handoff is a row holding the columns listings filter on beside the whole aggregate as a
//! document ([`document`]); every write checks the row's version (optimistic concurrency).

pub mod document;
pub mod handoffs;

use closeloop_kit::db::keyed::KeyedReads;
use closeloop_kit::db::{Db, Migrations};

/// The service's schema. The two differ only in the binary column type.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        100,
        "handoffs",
        include_str!("../../migrations/sqlite/0100_handoffs.sql"),
    )],
    postgres: &[(
        100,
        "handoffs",
        include_str!("../../migrations/postgres/0100_handoffs.sql"),
    )],
};

/// Access to the service's tables.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    handoffs: KeyedReads,
}

/// Handoffs read by one query at most.
const READ_BATCH: usize = 64;

impl Store {
    /// A store over `db` (migrated by the host). Must run inside the tokio runtime.
    pub fn new(db: Db) -> Self {
        Store {
            // GetHandoff is the hottest read: coalesced, and on SQLite read on the calling
            // thread (see the kit's `KeyedReads` for what that measured; README for GetHandoff).
            handoffs: KeyedReads::new(&db, "handoffs", "id", "body", READ_BATCH),
            db,
        }
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
