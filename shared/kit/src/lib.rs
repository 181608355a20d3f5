//! What every closeloop service needs, in one place: settings, telemetry, the database, the gRPC
//! server with its layers, authentication, the error table, paging, idempotency, the outbox, and
//! outgoing calls to peers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod auth;
pub mod batch;
pub mod client;
pub mod convert;
pub mod db;
pub mod enums;
pub mod error;
pub mod host;
pub mod idempotency;
pub mod ids;
pub mod layers;
pub mod outbox;
pub mod paging;
pub mod rpc;
pub mod server;
pub mod settings;
pub mod stored;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod types;

pub use auth::{Actor, Principal, Role};
pub use error::{Problem, Violations};

/// The kit's own schema (idempotency keys, outbox), applied before a service's migrations.
/// Kit versions are below 100; services number theirs from 100.
pub const KIT_MIGRATIONS: db::Migrations = db::Migrations {
    sqlite: &[
        (
            1,
            "kit: idempotency keys and outbox",
            include_str!("../migrations/sqlite/0001_kit.sql"),
        ),
        (
            2,
            "kit: outbox destinations and parking, secrets",
            include_str!("../migrations/sqlite/0002_outbox_destinations.sql"),
        ),
        (
            3,
            "kit: outbox answers",
            include_str!("../migrations/sqlite/0003_outbox_answers.sql"),
        ),
    ],
    postgres: &[
        (
            1,
            "kit: idempotency keys and outbox",
            include_str!("../migrations/postgres/0001_kit.sql"),
        ),
        (
            2,
            "kit: outbox destinations and parking, secrets",
            include_str!("../migrations/postgres/0002_outbox_destinations.sql"),
        ),
        (
            3,
            "kit: outbox answers",
            include_str!("../migrations/postgres/0003_outbox_answers.sql"),
        ),
    ],
};
