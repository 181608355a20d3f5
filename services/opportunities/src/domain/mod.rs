//! The opportunities domain: types, the stage machine, gates, access rules and report figures.
//! No I/O and no proto here.

pub mod access;
pub mod opportunity;
pub mod policy;
pub mod reports;
pub mod stage;
