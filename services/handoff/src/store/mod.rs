//! The handoff service's database: one SQL text for SQLite and PostgreSQL.
//!
//! A handoff is a row holding the columns listings filter on beside the whole aggregate as a
//! document ([`document`]); every write checks the row's version (optimistic concurrency).

pub mod document;
pub mod handoffs;

use closeloop_kit::db::keyed::KeyedReads;
use closeloop_kit::db::optimistic::{Table, Writes};
use closeloop_kit::db::{Db, Migrations};
pub use closeloop_kit::db::{Filter, Value};

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
    writes: Writes,
}

/// What an optimistic change of a handoff writes (the columns `handoffs::save_handoff` writes).
const HANDOFF_WRITES: Table = Table {
    name: "handoffs",
    key: "id",
    version: "version",
    columns: &[
        "salesperson",
        "account_manager",
        "status",
        "prefill",
        "awaiting_account",
        "version",
        "body",
    ],
};

/// Handoffs read (or written) by one statement at most.
const READ_BATCH: usize = 64;

impl Store {
    /// A store over `db` (migrated by the host). Must run inside the tokio runtime.
    pub fn new(db: Db) -> Self {
        Store {
            // GetHandoff is the hottest read: coalesced, and on SQLite read on the calling
            // thread (see the kit's `KeyedReads` for what that measured; README for GetHandoff).
            handoffs: KeyedReads::new(&db, "handoffs", "id", "body", READ_BATCH),
            // UpdateHandoff without a request_id is the hottest write: its row writes go
            // together (the kit's `optimistic::Writes`; README for UpdateHandoff).
            writes: Writes::new(&db, HANDOFF_WRITES, READ_BATCH),
            db,
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}
