//! Use cases: handoffs from StartHandoff to acceptance ([`handoffs`]); in the background, the
//! prefill of the ones whose opportunity could not be read yet ([`prefill`]) and the account
//! each delivered OpenAccount opened ([`openings`]). Each change is one transaction; a call to a
//! peer is never made while one is open.

pub mod handoffs;
pub mod openings;
pub mod prefill;

use std::future::Future;
use std::time::Duration;

use closeloop_kit::Problem;
use closeloop_kit::outbox::Outbox;
use closeloop_kit::time::Clock;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::peers::{Accounts, Opportunities};
use crate::store::Store;

/// `[handoff]`: how often the service reads its peers in the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Milliseconds between two rounds of the background prefill, which reads again the
    /// opportunities of the handoffs whose prefill is PENDING. 100 to 86,400,000 (a day).
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub prefill_retry_ms: u64,
    /// Attempts of one read of an opportunity (GetOpportunity) before it counts as failed, each
    /// within `outbox.call_timeout_ms`: 1 to 5.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub prefill_attempts: u32,
    /// Longest StartHandoff waits for the opportunity (all attempts together), and never more
    /// than half the caller's deadline: a slower read leaves the prefill PENDING for the
    /// background, so the contracts service's call is answered in time whatever the
    /// opportunities service does. 100 to 60,000.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub prefill_wait_ms: u64,
    /// Milliseconds between two rounds of the follow-up of OpenAccount, which asks
    /// account-management which account each delivered call opened (`account_opening.account`).
    /// 100 to 86,400,000.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub account_follow_up_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prefill_retry_ms: 10_000,
            prefill_attempts: 2,
            prefill_wait_ms: 2_000,
            account_follow_up_ms: 10_000,
        }
    }
}

/// Longest pause between two rounds of a background task.
pub const MAX_ROUND_MS: u64 = 86_400_000;

impl Settings {
    /// Refuses values the service cannot run with.
    ///
    /// # Errors
    /// What is wrong, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let mut wrong = Vec::new();
        for (name, ms) in [
            ("prefill_retry_ms", self.prefill_retry_ms),
            ("account_follow_up_ms", self.account_follow_up_ms),
        ] {
            if !(100..=MAX_ROUND_MS).contains(&ms) {
                wrong.push(format!(
                    "handoff.{name} must be 100 to {MAX_ROUND_MS}, not {ms}"
                ));
            }
        }
        if !(100..=60_000).contains(&self.prefill_wait_ms) {
            wrong.push(format!(
                "handoff.prefill_wait_ms must be 100 to 60000, not {}",
                self.prefill_wait_ms
            ));
        }
        if !(1..=5).contains(&self.prefill_attempts) {
            wrong.push(format!(
                "handoff.prefill_attempts must be 1 to 5, not {}",
                self.prefill_attempts
            ));
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}

/// The handoff application: store, outbox, clock, and the opportunities service when it is
/// configured.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub outbox: Outbox,
    pub clock: Clock,
    /// GetOpportunity for the prefill; `None` when `peers.opportunities` is not configured
    /// (prefills then stay PENDING until it is).
    pub opportunities: Option<Opportunities>,
    /// ListAccounts for the follow-up of OpenAccount; `None` when `peers.accounts` is not
    /// configured (nothing is delivered to it then either).
    pub accounts: Option<Accounts>,
    pub settings: Settings,
}

/// Runs `round` until `stop` turns true: at once, then every `every`. A round that fails is
/// logged; the next one starts over. A round in flight when the service stops is dropped (its
/// transaction, if any, rolls back).
async fn repeat<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, mut round: F)
where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Result<(), Problem>>,
{
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            done = round(stop.clone()) => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "background round failed");
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            changed = stop.changed() => {
                // The stopping side is gone: nobody will ever say stop, so stop now.
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_bounded() {
        assert!(Settings::default().validate().is_ok());
        let bad = Settings {
            prefill_retry_ms: 10,
            prefill_attempts: 0,
            prefill_wait_ms: 60_001,
            account_follow_up_ms: 99,
        };
        let message = bad.validate().unwrap_err();
        assert!(message.contains("handoff.prefill_retry_ms"), "{message}");
        assert!(message.contains("handoff.prefill_attempts"), "{message}");
        assert!(
            message.contains("handoff.account_follow_up_ms"),
            "{message}"
        );
        let too_long = Settings {
            prefill_retry_ms: MAX_ROUND_MS + 1,
            ..Settings::default()
        };
        assert!(too_long.validate().is_err());
    }
}
