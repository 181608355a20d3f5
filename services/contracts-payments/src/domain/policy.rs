//! The configurable collection and contract rules (`[contracts_payments]` settings): dunning retry
//! days, the overdue ladder, how long a sent contract stays open, default payment terms.

use serde::{Deserialize, Serialize};

use super::vocabulary::OverdueLevel;

/// The service's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Days after a cycle's first soft decline at which retries are planned, strictly
    /// ascending, each 1 to 365; empty: no retries.
    #[serde(deserialize_with = "closeloop_kit::settings::numbers")]
    pub dunning_retry_days: Vec<i32>,
    /// Days past due from which an invoice is at REMINDER; 0: the rung is not used.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub reminder_days: i32,
    /// Days past due from which an invoice is ESCALATED; 0: not used.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub escalated_days: i32,
    /// Days past due from which an invoice is SUSPENDED; 0: not used.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub suspended_days: i32,
    /// Days a SENT contract waits for its signatures before it expires (and the latest
    /// `expire_time` SendContract accepts).
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub contract_expiry_days: i32,
    /// Payment terms (net days) a new contract gets when its draft does not say.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub default_payment_terms_days: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            dunning_retry_days: vec![1, 3, 7],
            reminder_days: 1,
            escalated_days: 15,
            suspended_days: 30,
            contract_expiry_days: 30,
            default_payment_terms_days: 30,
        }
    }
}

impl Policy {
    /// The ladder's rungs in use, by increasing threshold: (level, minimum days past due).
    pub fn ladder(&self) -> Vec<(OverdueLevel, i32)> {
        [
            (OverdueLevel::Reminder, self.reminder_days),
            (OverdueLevel::Escalated, self.escalated_days),
            (OverdueLevel::Suspended, self.suspended_days),
        ]
        .into_iter()
        .filter(|(_, days)| *days > 0)
        .collect()
    }

    /// The rung for an invoice `days_past_due` days past due (0 when not past due).
    pub fn overdue_level(&self, days_past_due: i64) -> OverdueLevel {
        self.ladder()
            .into_iter()
            .rev()
            .find(|(_, min)| days_past_due >= i64::from(*min))
            .map_or(OverdueLevel::None, |(level, _)| level)
    }

    /// Checks the settings make sense.
    ///
    /// # Errors
    /// A description of the first bad value.
    pub fn validate(&self) -> Result<(), String> {
        const S: &str = "contracts_payments";
        if self.dunning_retry_days.len() > 30 {
            return Err(format!("{S}.dunning_retry_days: at most 30 retries"));
        }
        if self
            .dunning_retry_days
            .iter()
            .any(|d| !(1..=365).contains(d))
            || self.dunning_retry_days.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(format!(
                "{S}.dunning_retry_days must be strictly ascending days from 1 to 365"
            ));
        }
        let rungs = [self.reminder_days, self.escalated_days, self.suspended_days];
        if rungs.iter().any(|d| !(0..=3650).contains(d)) {
            return Err(format!(
                "{S}.*_days of the ladder must be 0 (unused) to 3650"
            ));
        }
        let used: Vec<i32> = rungs.into_iter().filter(|d| *d > 0).collect();
        if used.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "{S}: reminder_days < escalated_days < suspended_days for the rungs in use"
            ));
        }
        if !(1..=365).contains(&self.contract_expiry_days) {
            return Err(format!("{S}.contract_expiry_days must be 1 to 365"));
        }
        if !(0..=365).contains(&self.default_payment_terms_days) {
            return Err(format!("{S}.default_payment_terms_days must be 0 to 365"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_thresholds() {
        let p = Policy::default();
        assert_eq!(p.overdue_level(0), OverdueLevel::None);
        assert_eq!(p.overdue_level(1), OverdueLevel::Reminder);
        assert_eq!(p.overdue_level(14), OverdueLevel::Reminder);
        assert_eq!(p.overdue_level(15), OverdueLevel::Escalated);
        assert_eq!(p.overdue_level(30), OverdueLevel::Suspended);
        let no_reminder = Policy {
            reminder_days: 0,
            escalated_days: 3,
            ..Policy::default()
        };
        assert_eq!(no_reminder.overdue_level(2), OverdueLevel::None);
        assert_eq!(no_reminder.overdue_level(3), OverdueLevel::Escalated);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(Policy::default().validate().is_ok());
        for bad in [
            Policy {
                dunning_retry_days: vec![3, 1],
                ..Policy::default()
            },
            Policy {
                dunning_retry_days: vec![0],
                ..Policy::default()
            },
            Policy {
                escalated_days: 40,
                ..Policy::default()
            },
            Policy {
                contract_expiry_days: 0,
                ..Policy::default()
            },
            Policy {
                default_payment_terms_days: 400,
                ..Policy::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
