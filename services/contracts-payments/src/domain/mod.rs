//! The contracts-and-payments domain: contracts and their lifecycle, invoices, payments, dunning,
//! follow-ups and balances, as plain Rust with no gRPC or SQL in it.

pub mod access;
pub mod contract;
pub mod gates;
pub mod invoice;
pub mod lifecycle;
pub mod policy;
pub mod vocabulary;
