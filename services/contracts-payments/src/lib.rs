//! The contracts-and-payments service: a won deal becomes a signed contract, an order, invoices
//! and collected payments; failed payments are followed up.

#![forbid(unsafe_code)]

pub mod domain;
