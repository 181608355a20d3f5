//! The contracts-and-payments API over real gRPC, on SQLite or, with
//! `CLOSELOOP_TEST_DATABASE_URL`, PostgreSQL.

mod access;
mod contracts;
mod helpers;
mod moves;
mod payment_access;
mod payments;
