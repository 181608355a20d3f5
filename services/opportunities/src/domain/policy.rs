//! The configurable business rules: margin floor, discount approval threshold, and each open
//! stage's default win probability.

use serde::{Deserialize, Serialize};

use super::stage::Stage;

/// Business rules the gates and forecasts apply (`[opportunities]` settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Lowest gross margin, in basis points, that lets a deal leave QUALIFICATION.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub margin_floor_bps: i32,
    /// Discounts deeper than this, in basis points, need a sales manager's approval.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub discount_approval_threshold_bps: i32,
    /// Default win probability (percent) of PROSPECTING.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub prospecting_probability: i32,
    /// Default win probability (percent) of QUALIFICATION.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub qualification_probability: i32,
    /// Default win probability (percent) of PROPOSAL.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub proposal_probability: i32,
    /// Default win probability (percent) of NEGOTIATION.
    #[serde(deserialize_with = "closeloop_kit::settings::number")]
    pub negotiation_probability: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            margin_floor_bps: 2000,
            discount_approval_threshold_bps: 1000,
            prospecting_probability: 10,
            qualification_probability: 20,
            proposal_probability: 50,
            negotiation_probability: 80,
        }
    }
}

impl Policy {
    /// The default probability of a stage; closed stages are fixed (won 100, others 0).
    pub fn probability(&self, stage: Stage) -> i32 {
        match stage {
            Stage::Prospecting => self.prospecting_probability,
            Stage::Qualification => self.qualification_probability,
            Stage::Proposal => self.proposal_probability,
            Stage::Negotiation => self.negotiation_probability,
            Stage::ClosedWon => 100,
            Stage::ClosedLost | Stage::Disqualified => 0,
        }
    }

    /// The default probabilities of the open stages, in pipeline order.
    pub fn stage_probabilities(&self) -> [i32; 4] {
        Stage::OPEN.map(|s| self.probability(s))
    }

    /// Checks the settings make sense; returns what is wrong.
    ///
    /// # Errors
    /// A description of the first bad value.
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=10_000).contains(&self.margin_floor_bps) {
            return Err("opportunities.margin_floor_bps must be 0 to 10000".into());
        }
        if !(0..=10_000).contains(&self.discount_approval_threshold_bps) {
            return Err("opportunities.discount_approval_threshold_bps must be 0 to 10000".into());
        }
        let probabilities = [
            self.prospecting_probability,
            self.qualification_probability,
            self.proposal_probability,
            self.negotiation_probability,
        ];
        if probabilities.iter().any(|p| !(1..=99).contains(p)) {
            return Err("opportunities.*_probability must be 1 to 99".into());
        }
        Ok(())
    }
}
