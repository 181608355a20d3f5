//! The opportunities API over real gRPC, against a real database (SQLite by default, PostgreSQL
//! when `CLOSELOOP_TEST_DATABASE_URL` is set).

mod helpers;

mod access;
mod concurrency;
mod lifecycle;
mod listing;
mod reports;
mod validation;
