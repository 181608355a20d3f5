//! The handoff API over real gRPC, on SQLite or, with `CLOSELOOP_TEST_DATABASE_URL`, PostgreSQL.

mod access;
mod handoffs;
mod helpers;
mod moves;
