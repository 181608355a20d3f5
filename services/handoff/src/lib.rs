//! The handoff service: the bridge from the salesperson to the account team. A placed order's
//! contract snapshot becomes a handoff the salesperson completes, submits and the account team
//! accepts, which opens the account in account-management.

#![forbid(unsafe_code)]

pub mod domain;
