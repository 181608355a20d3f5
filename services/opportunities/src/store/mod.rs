//! The opportunities database: one SQL text for SQLite and PostgreSQL.
//!
//! Each opportunity is a row of `opportunities`: queryable columns (filters, keyset paging, and
//! the covering indexes reports read) beside its whole aggregate as a document (`body`, in the
//! format [`document`] defines). A write checks the version (optimistic concurrency); stage
//! changes are appended to `stage_changes` for duration reports. Writes, reads and reports each
//! have a file.

pub mod document;
mod reads;
mod reports;
mod writes;

use std::sync::Arc;

use closeloop_kit::Problem;
use closeloop_kit::db::keyed::KeyedReads;
use closeloop_kit::db::{Db, Migrations};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::domain::opportunity::Kind;
use crate::domain::policy::Policy;
use crate::domain::stage::Stage;

pub use reads::Listed;
pub use writes::{MAX_INSERT_ROWS, NewRow};

/// The service's schema. The two differ only in the binary column type.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        (
            100,
            "opportunities",
            include_str!("../../migrations/sqlite/0100_opportunities.sql"),
        ),
        (
            101,
            "documents inline",
            include_str!("../../migrations/sqlite/0101_documents_inline.sql"),
        ),
        (
            102,
            "weighted amounts",
            include_str!("../../migrations/sqlite/0102_weighted_amounts.sql"),
        ),
    ],
    postgres: &[
        (
            100,
            "opportunities",
            include_str!("../../migrations/postgres/0100_opportunities.sql"),
        ),
        (
            101,
            "documents inline",
            include_str!("../../migrations/postgres/0101_documents_inline.sql"),
        ),
        (
            102,
            "weighted amounts",
            include_str!("../../migrations/postgres/0102_weighted_amounts.sql"),
        ),
    ],
};

/// Filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this stage.
    pub stage: Option<Stage>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only open ones.
    pub open_only: bool,
}

impl ListFilter {
    /// A stable description, for page-token fingerprints.
    pub fn fingerprint(&self) -> u64 {
        closeloop_kit::paging::fingerprint(&[
            self.owner.as_deref().unwrap_or(""),
            self.account_id.as_deref().unwrap_or(""),
            self.stage.map_or("", Stage::code),
            self.kind.map_or("", Kind::code),
            if self.open_only { "open" } else { "" },
        ])
    }
}

/// The slice of opportunities a report covers.
#[derive(Debug, Clone)]
pub struct ReportScope {
    /// Owners; empty = everyone.
    pub owners: Vec<String>,
    /// First day (epoch days).
    pub start_day: i64,
    /// Last day (epoch days).
    pub end_day: i64,
    pub currency: String,
}

/// Access to the opportunities tables.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// The rules saved rows are weighted with.
    policy: Policy,
    documents: KeyedReads,
    /// Report queries scan many rows; at most a quarter of the pool runs them at once, so a
    /// burst of reports waits its turn instead of starving the reads and writes of connections.
    report_slots: Arc<Semaphore>,
}

/// Reads answered by one query at most.
const READ_BATCH: usize = 64;

impl Store {
    /// A store over `db` (migrated by the caller) that weighs amounts with `policy`. Must run
    /// inside the tokio runtime.
    pub fn new(db: Db, policy: Policy) -> Self {
        let slots = (db.reads().options().get_max_connections() / 4).max(1) as usize;
        Store {
            // GetOpportunity is the hottest read: coalesced, and on SQLite read on the calling
            // thread (see the kit's `KeyedReads` for what that measured).
            documents: KeyedReads::new(&db, "opportunities", "id", "body", READ_BATCH),
            db,
            policy,
            report_slots: Arc::new(Semaphore::new(slots)),
        }
    }

    async fn report_slot(&self) -> Result<SemaphorePermit<'_>, Problem> {
        self.report_slots
            .acquire()
            .await
            .map_err(|_| Problem::Unavailable("the store is closing".into()))
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}
