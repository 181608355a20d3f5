//! Use cases: accounts ([`accounts`]). Each change is one transaction; the clock every date rule
//! reads is the service's.

pub mod accounts;
pub mod check_ins;
pub mod operations;
pub mod opportunities;
pub mod reports;

use closeloop_kit::outbox::Outbox;
use closeloop_kit::time::Clock;

use crate::domain::policy::Policy;
use crate::peers::Payments;
use crate::store::Store;

/// The account-management application: store, rules, outbox and clock.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub policy: Policy,
    pub outbox: Outbox,
    pub clock: Clock,
    /// The service's own subject: the actor of what it does by itself.
    pub service_subject: String,
    /// contracts-and-payments, when configured (peer "contracts").
    pub payments: Option<Payments>,
}
