//! Use cases: handoffs from StartHandoff to acceptance ([`handoffs`]), and the background prefill
//! of the ones whose opportunity could not be read yet ([`prefill`]). Each change is one
//! transaction; a call to a peer is never made while one is open.

pub mod handoffs;
pub mod prefill;

use closeloop_kit::outbox::Outbox;
use closeloop_kit::time::Clock;
use serde::{Deserialize, Serialize};

use crate::peers::Opportunities;
use crate::store::Store;

/// `[handoff]`: how the service reads the opportunities it prefills from.
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prefill_retry_ms: 10_000,
            prefill_attempts: 2,
        }
    }
}

/// Longest pause between two rounds of the background prefill.
pub const MAX_PREFILL_RETRY_MS: u64 = 86_400_000;

impl Settings {
    /// Refuses values the service cannot run with.
    ///
    /// # Errors
    /// What is wrong, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let mut wrong = Vec::new();
        if !(100..=MAX_PREFILL_RETRY_MS).contains(&self.prefill_retry_ms) {
            wrong.push(format!(
                "handoff.prefill_retry_ms must be 100 to {MAX_PREFILL_RETRY_MS}, not {}",
                self.prefill_retry_ms
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
    pub settings: Settings,
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
        };
        let message = bad.validate().unwrap_err();
        assert!(message.contains("handoff.prefill_retry_ms"), "{message}");
        assert!(message.contains("handoff.prefill_attempts"), "{message}");
        let too_long = Settings {
            prefill_retry_ms: MAX_PREFILL_RETRY_MS + 1,
            ..Settings::default()
        };
        assert!(too_long.validate().is_err());
    }
}
