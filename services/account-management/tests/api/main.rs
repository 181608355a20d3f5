//! The account-management API over real gRPC, on SQLite or, with
//! `CLOSELOOP_TEST_DATABASE_URL`, PostgreSQL.

mod access;
mod accounts;
mod check_ins;
mod edits;
mod health;
mod helpers;
mod moves;
mod operations;
mod opportunities;
mod portfolio;
mod updates;
