//! The account-management domain: the account opened from an accepted handoff and everything
//! managed on it for the customer's lifetime — contracts, outcomes, obligations both ways,
//! contacts, needs, status, check-ins, operations updates, health, lifetime value, expansions
//! and referrals that open the next opportunities, portfolio retention — plain Rust, with no
//! gRPC, SQL or proto types in it.
//!
//! Where to look:
//! - the words (ids, statuses, kinds): [`vocabulary`];
//! - list bounds and text lengths: [`limits`];
//! - the settings (cadence, health weights and thresholds, lifetime value defaults): [`policy`];
//! - the aggregate, its parts and the figures derived from it: [`account`];
//! - OpenAccount (open, extend, or recognise a repeat): [`opening`];
//! - the status machine: [`lifecycle`];
//! - UpdateAccount, outcomes and obligations: [`edit`];
//! - check-ins and due check-ins: [`check_ins`];
//! - operations updates, their filters and the salesperson's feed: [`operations`];
//! - health and the payment standing it reads: [`health`];
//! - lifetime value and the churn rate: [`lifetime_value`];
//! - expansions, referrals and the CreateOpportunity each owes: [`opportunities`];
//! - portfolio retention: [`portfolio`];
//! - who may do what: [`access`].

pub mod access;
pub mod account;
pub mod check_ins;
pub mod edit;
pub mod health;
pub mod lifecycle;
pub mod lifetime_value;
pub mod limits;
pub mod opening;
pub mod operations;
pub mod opportunities;
pub mod policy;
pub mod portfolio;
pub mod vocabulary;

#[cfg(test)]
mod tests;
