//! The handoff domain: the contract snapshot a handoff starts from, the handoff and every part
//! the salesperson completes, its readiness checklist, its moves, who may do what, and what
//! accepting it owes account-management — plain Rust, with no gRPC, SQL or proto types in it.
//!
//! Where to look:
//! - the words (ids, statuses, kinds): [`vocabulary`];
//! - the contract snapshot and its checks: [`snapshot`];
//! - the aggregate and its parts: [`handoff`];
//! - start, prefill and every move with its gates: [`lifecycle`];
//! - UpdateHandoff (fields, patch): [`edit`];
//! - the readiness checklist: [`readiness`];
//! - who may do what, and which fields whom: [`access`];
//! - the OpenAccount owed on acceptance: [`account_opening`];
//! - list bounds and text lengths: [`limits`].

pub mod access;
pub mod account_opening;
pub mod edit;
pub mod handoff;
pub mod lifecycle;
pub mod limits;
pub mod readiness;
pub mod snapshot;
pub mod vocabulary;

#[cfg(test)]
mod tests;
