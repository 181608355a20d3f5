//! The account-management service: the customer relationship after the sale, for its lifetime.
//! An accepted handoff opens the customer's account; check-ins, operations updates, obligations
//! and outcomes follow it; health and lifetime value are computed from them; expansions and
//! referrals open the next opportunities.

#![forbid(unsafe_code)]

pub mod domain;
