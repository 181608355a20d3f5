//! The configurable rules of account management (`[account_management]` settings): the check-in
//! cadence and horizon, the health score's weights, thresholds and factor parameters, the
//! lifetime value's defaults, and a referral's default close date.

use serde::{Deserialize, Serialize};

use super::limits::MAX_DAYS;
use super::vocabulary::{HealthFactorKind, Severity};

/// The service's rules. Every number has a default ([`Policy::default`]); [`Policy::validate`]
/// refuses settings that would make a rule meaningless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Days between check-ins of an account that sets none (`check_in_cadence_days` 0), 1 to
    /// 365. Default 30.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub default_check_in_cadence_days: i32,
    /// Days ahead ListDueCheckIns looks when the request says 0, 0 to 365. Default 7.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub due_check_in_horizon_days: i32,

    /// Lowest score in the GREEN band. Default 70.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub health_green_threshold: i32,
    /// Lowest score in the YELLOW band (below: RED). Default 40.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub health_yellow_threshold: i32,
    /// Weight of SATISFACTION_TREND in percent. Default 30.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub weight_satisfaction_trend: i32,
    /// Weight of CHECK_IN_RECENCY in percent. Default 15.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub weight_check_in_recency: i32,
    /// Weight of OUTCOME_PROGRESS in percent. Default 20.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub weight_outcome_progress: i32,
    /// Weight of OPEN_ISSUES in percent. Default 15.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub weight_open_issues: i32,
    /// Weight of PAYMENT_STANDING in percent. Default 20. Below 100, so that the score can rest
    /// on the other factors when payment data is unavailable.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub weight_payment_standing: i32,

    /// How many of the most recent check-ins SATISFACTION_TREND reads, 1 to 20. Default 3.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub satisfaction_window: i32,
    /// Points SATISFACTION_TREND adds (rising) or takes away (falling) per point of
    /// satisfaction between the oldest and the latest check-in of the window, 0 to 50. Default 5.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub satisfaction_trend_points: i32,

    /// Points OPEN_ISSUES takes away per open ISSUE of severity LOW, 0 to 100. Default 5.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub issue_penalty_low: i32,
    /// Per open MEDIUM issue. Default 15.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub issue_penalty_medium: i32,
    /// Per open HIGH issue. Default 30.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub issue_penalty_high: i32,
    /// Per open CRITICAL issue. Default 60.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub issue_penalty_critical: i32,

    /// Points PAYMENT_STANDING takes away when the whole outstanding balance is overdue (in
    /// proportion for a part of it), 0 to 100. Default 50.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub payment_overdue_share_points: i32,
    /// Points PAYMENT_STANDING takes away for overdue age, reached at
    /// [`Policy::payment_age_full_days`] days past due (in proportion before), 0 to 100.
    /// Default 50.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub payment_age_points: i32,
    /// Days past due of the oldest overdue invoice at which the whole age penalty applies, 1 to
    /// 3650. Default 90.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub payment_age_full_days: i32,

    /// Gross margin lifetime value uses when no contract states one, in basis points, 0 to
    /// 10000. Default 5000.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub default_gross_margin_bps: i32,
    /// Annual churn rate lifetime value uses when too few accounts were active to measure one,
    /// in basis points, 1 to 10000. Default 1000 (10 % a year).
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub default_annual_churn_rate_bps: i32,
    /// Fewest accounts active at the start of the trailing 12 months for the measured churn rate
    /// to be used, 1 to 1000000. Default 20.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub churn_rate_min_accounts: i32,
    /// Cap of the expected remaining lifetime, in years, 1 to 100. Default 10.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub max_expected_lifetime_years: i32,

    /// Days from today of a referral's expected close date when it gives none, 0 to 3650.
    /// Default 90.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub referral_close_days: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default_check_in_cadence_days: 30,
            due_check_in_horizon_days: 7,
            health_green_threshold: 70,
            health_yellow_threshold: 40,
            weight_satisfaction_trend: 30,
            weight_check_in_recency: 15,
            weight_outcome_progress: 20,
            weight_open_issues: 15,
            weight_payment_standing: 20,
            satisfaction_window: 3,
            satisfaction_trend_points: 5,
            issue_penalty_low: 5,
            issue_penalty_medium: 15,
            issue_penalty_high: 30,
            issue_penalty_critical: 60,
            payment_overdue_share_points: 50,
            payment_age_points: 50,
            payment_age_full_days: 90,
            default_gross_margin_bps: 5000,
            default_annual_churn_rate_bps: 1000,
            churn_rate_min_accounts: 20,
            max_expected_lifetime_years: 10,
            referral_close_days: 90,
        }
    }
}

impl Policy {
    /// The configured weight of a factor, in percent.
    pub fn weight(&self, factor: HealthFactorKind) -> i32 {
        match factor {
            HealthFactorKind::SatisfactionTrend => self.weight_satisfaction_trend,
            HealthFactorKind::CheckInRecency => self.weight_check_in_recency,
            HealthFactorKind::OutcomeProgress => self.weight_outcome_progress,
            HealthFactorKind::OpenIssues => self.weight_open_issues,
            HealthFactorKind::PaymentStanding => self.weight_payment_standing,
        }
    }

    /// Points OPEN_ISSUES takes away per open issue of `severity`. INFO is never an issue's
    /// severity; it costs nothing.
    pub fn issue_penalty(&self, severity: Severity) -> i32 {
        match severity {
            Severity::Info => 0,
            Severity::Low => self.issue_penalty_low,
            Severity::Medium => self.issue_penalty_medium,
            Severity::High => self.issue_penalty_high,
            Severity::Critical => self.issue_penalty_critical,
        }
    }

    /// The cadence in days of an account whose own is `own` (`None`: the default).
    pub fn cadence_days(&self, own: Option<i32>) -> i32 {
        own.filter(|d| (1..=MAX_DAYS).contains(d))
            .unwrap_or(self.default_check_in_cadence_days)
    }

    /// Checks the settings make sense.
    ///
    /// # Errors
    /// A description of the first bad value, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        const S: &str = "account_management";
        let within = |name: &str, value: i32, min: i32, max: i32| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(format!("{S}.{name} must be {min} to {max}, not {value}"))
            }
        };
        within(
            "default_check_in_cadence_days",
            self.default_check_in_cadence_days,
            1,
            MAX_DAYS,
        )?;
        within(
            "due_check_in_horizon_days",
            self.due_check_in_horizon_days,
            0,
            MAX_DAYS,
        )?;
        within(
            "health_green_threshold",
            self.health_green_threshold,
            1,
            100,
        )?;
        within(
            "health_yellow_threshold",
            self.health_yellow_threshold,
            1,
            100,
        )?;
        if self.health_yellow_threshold >= self.health_green_threshold {
            return Err(format!(
                "{S}.health_yellow_threshold must be below health_green_threshold"
            ));
        }
        for factor in HealthFactorKind::ALL {
            within(
                &format!("weight_{}", factor.code().to_ascii_lowercase()),
                self.weight(factor),
                0,
                100,
            )?;
        }
        let total: i32 = HealthFactorKind::ALL.iter().map(|f| self.weight(*f)).sum();
        if total != 100 {
            return Err(format!(
                "{S}.weight_* must sum to 100 (percent), not {total}"
            ));
        }
        if self.weight_payment_standing >= 100 {
            return Err(format!(
                "{S}.weight_payment_standing must be below 100: the score must rest on the other \
                 factors when payment data is unavailable"
            ));
        }
        within("satisfaction_window", self.satisfaction_window, 1, 20)?;
        within(
            "satisfaction_trend_points",
            self.satisfaction_trend_points,
            0,
            50,
        )?;
        for severity in [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            within(
                &format!("issue_penalty_{}", severity.code().to_ascii_lowercase()),
                self.issue_penalty(severity),
                0,
                100,
            )?;
        }
        if self.issue_penalty_low > self.issue_penalty_medium
            || self.issue_penalty_medium > self.issue_penalty_high
            || self.issue_penalty_high > self.issue_penalty_critical
        {
            return Err(format!(
                "{S}.issue_penalty_*: a more serious issue must not cost fewer points"
            ));
        }
        within(
            "payment_overdue_share_points",
            self.payment_overdue_share_points,
            0,
            100,
        )?;
        within("payment_age_points", self.payment_age_points, 0, 100)?;
        within("payment_age_full_days", self.payment_age_full_days, 1, 3650)?;
        within(
            "default_gross_margin_bps",
            self.default_gross_margin_bps,
            0,
            10_000,
        )?;
        within(
            "default_annual_churn_rate_bps",
            self.default_annual_churn_rate_bps,
            1,
            10_000,
        )?;
        within(
            "churn_rate_min_accounts",
            self.churn_rate_min_accounts,
            1,
            1_000_000,
        )?;
        within(
            "max_expected_lifetime_years",
            self.max_expected_lifetime_years,
            1,
            100,
        )?;
        within("referral_close_days", self.referral_close_days, 0, 3650)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_protos() {
        let p = Policy::default();
        assert!(p.validate().is_ok());
        // HealthBand and HealthFactorKind state these defaults.
        assert_eq!(
            (p.health_green_threshold, p.health_yellow_threshold),
            (70, 40)
        );
        let weights: Vec<i32> = HealthFactorKind::ALL.iter().map(|f| p.weight(*f)).collect();
        assert_eq!(weights, [30, 15, 20, 15, 20]);
        // Account.check_in_cadence_days, ListDueCheckInsRequest.horizon_days,
        // CustomerLifetimeValue (10 years), Referral.expected_close_date (90 days).
        assert_eq!(p.default_check_in_cadence_days, 30);
        assert_eq!(p.due_check_in_horizon_days, 7);
        assert_eq!(p.max_expected_lifetime_years, 10);
        assert_eq!(p.referral_close_days, 90);
    }

    #[test]
    fn an_accounts_own_cadence_wins_over_the_default() {
        let p = Policy::default();
        assert_eq!(p.cadence_days(None), 30);
        assert_eq!(p.cadence_days(Some(14)), 14);
        // Out of range never reaches here through the API; read as the default, not a panic.
        assert_eq!(p.cadence_days(Some(0)), 30);
        assert_eq!(p.cadence_days(Some(400)), 30);
    }

    #[test]
    fn bad_settings_are_refused() {
        let d = Policy::default;
        for bad in [
            Policy {
                default_check_in_cadence_days: 0,
                ..d()
            },
            Policy {
                due_check_in_horizon_days: 366,
                ..d()
            },
            Policy {
                health_yellow_threshold: 70,
                ..d()
            },
            Policy {
                health_green_threshold: 101,
                ..d()
            },
            Policy {
                weight_open_issues: 16,
                ..d()
            },
            Policy {
                weight_payment_standing: 100,
                weight_satisfaction_trend: 0,
                weight_check_in_recency: 0,
                weight_outcome_progress: 0,
                weight_open_issues: 0,
                ..d()
            },
            Policy {
                weight_open_issues: -5,
                weight_outcome_progress: 40,
                ..d()
            },
            Policy {
                satisfaction_window: 0,
                ..d()
            },
            Policy {
                issue_penalty_high: 70,
                ..d()
            },
            Policy {
                payment_age_full_days: 0,
                ..d()
            },
            Policy {
                default_gross_margin_bps: 10_001,
                ..d()
            },
            Policy {
                default_annual_churn_rate_bps: 0,
                ..d()
            },
            Policy {
                churn_rate_min_accounts: 0,
                ..d()
            },
            Policy {
                max_expected_lifetime_years: 0,
                ..d()
            },
            Policy {
                referral_close_days: -1,
                ..d()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
