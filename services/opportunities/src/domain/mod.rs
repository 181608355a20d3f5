//! The opportunities domain: the words of a sale, the aggregate and its changes, line items and
//! approvals, the stage machine and its gates, the close, access rules and report figures. No
//! I/O, no proto and no storage format here.

pub mod access;
pub mod closing;
pub mod commands;
pub mod gates;
pub mod line_items;
pub mod opportunity;
pub mod policy;
pub mod reports;
pub mod stage;
pub mod vocabulary;

#[cfg(test)]
mod tests;
