//! The contracts-and-payments domain: contracts and their lifecycle, invoices, payments, dunning,
//! follow-ups and balances, as plain Rust with no gRPC or SQL in it.

pub mod access;
pub mod balance;
pub mod contract;
pub mod dunning;
pub mod follow_up;
pub mod gates;
pub mod invoice;
pub mod lifecycle;
pub mod payments;
pub mod policy;
pub mod vocabulary;

#[cfg(test)]
mod tests_payments;
