//! The gates: what a move must satisfy before it happens. The stage machine ([`super::stage`])
//! says which gates a move needs; this file checks them against an opportunity and names every
//! unmet one, and holds the names of the other refusals clients see as FAILED_PRECONDITION.

use closeloop_kit::Problem;
use closeloop_kit::error::GateViolation;

use super::line_items::LineItem;
use super::opportunity::Opportunity;
use super::policy::Policy;
use super::stage::{Gate, Stage, Transition, transition};

/// The opportunity is closed and cannot change.
pub const CLOSED: &str = "closed";
/// The requested stage move is not in the table.
pub const STAGE_TRANSITION: &str = "stage_transition";
/// Currency is fixed once line items exist.
pub const CURRENCY_LOCKED: &str = "currency_locked";
/// A forecast override the current stage does not allow.
pub const FORECAST_OVERRIDE: &str = "forecast_override";
/// An approval asked for a line item that needs none.
pub const NO_APPROVAL_NEEDED: &str = "discount_within_threshold";
/// The etag does not match.
pub const ETAG: &str = "etag";
/// A line item holds as many approvals as it keeps.
pub const APPROVAL_LIMIT: &str = "approval_limit";
/// The stage history holds as many changes as an opportunity keeps.
pub const HISTORY_LIMIT: &str = "history_limit";

pub(super) fn gate(
    gate: &str,
    subject: impl Into<String>,
    description: impl Into<String>,
) -> GateViolation {
    GateViolation {
        gate: gate.into(),
        subject: subject.into(),
        description: description.into(),
    }
}

impl Opportunity {
    /// What fails the qualification gate now (empty = passes).
    pub fn qualification_unmet(&self, policy: &Policy) -> Vec<GateViolation> {
        let code = Gate::Qualification.code();
        let mut unmet = Vec::new();
        let q = self.qualification.as_ref();
        if q.is_none() {
            unmet.push(gate(
                code,
                "qualification",
                "no qualification assessment recorded (QualifyOpportunity)",
            ));
        }
        if !q.is_some_and(|q| q.client_benefit) {
            unmet.push(gate(
                code,
                "client_benefit_confirmed",
                "the client's benefit is not confirmed",
            ));
        }
        if !q.is_some_and(|q| q.realistic_expectations) {
            unmet.push(gate(
                code,
                "realistic_expectations_confirmed",
                "the client's expectations are not confirmed realistic",
            ));
        }
        if !q.is_some_and(|q| q.mature_partner) {
            unmet.push(gate(
                code,
                "mature_partner_confirmed",
                "the client is not confirmed as a mature partner",
            ));
        }
        let revenue: i128 = self.line_items.iter().map(LineItem::amount).sum();
        if revenue <= 0 {
            unmet.push(gate(
                code,
                "margin",
                "no priced line items: the margin cannot be assessed",
            ));
        } else {
            let cost: i128 = self.line_items.iter().map(LineItem::cost).sum();
            if (revenue - cost) * 10_000 < i128::from(policy.margin_floor_bps) * revenue {
                unmet.push(gate(
                    code,
                    "margin",
                    format!(
                        "margin {:.2}% is below the floor of {:.2}%",
                        f64::from(self.margin_bps()) / 100.0,
                        f64::from(policy.margin_floor_bps) / 100.0
                    ),
                ));
            }
        }
        unmet
    }

    pub(super) fn gate_violations(&self, g: Gate, policy: &Policy) -> Vec<GateViolation> {
        match g {
            Gate::Qualification => self.qualification_unmet(policy),
            Gate::DiscountApproval => self
                .line_items
                .iter()
                .filter(|li| li.lacks_approval(policy))
                .map(|li| {
                    gate(
                        g.code(),
                        format!("line_items/{}", li.id),
                        format!(
                            "discount of {:.2}% exceeds the {:.2}% threshold and needs a sales manager's approval",
                            f64::from(li.discount_bps()) / 100.0,
                            f64::from(policy.discount_approval_threshold_bps) / 100.0
                        ),
                    )
                })
                .collect(),
            Gate::LineItems if self.line_items.is_empty() => vec![gate(
                g.code(),
                "line_items",
                "a won opportunity needs at least one line item",
            )],
            Gate::PositiveAmount if self.amount() <= 0 => vec![gate(
                g.code(),
                "amount",
                "a won opportunity needs a positive amount",
            )],
            Gate::LineItems | Gate::PositiveAmount => Vec::new(),
        }
    }

    /// Refuses any change once the opportunity is closed.
    pub(super) fn ensure_open(&self) -> Result<(), Problem> {
        if self.stage.is_open() {
            Ok(())
        } else {
            Err(Problem::gate(
                CLOSED,
                "stage",
                format!(
                    "the opportunity is {} and closed opportunities never change; open a new opportunity to pursue the account again",
                    self.stage.code()
                ),
            ))
        }
    }

    /// Checks a move against the table and the gates it needs.
    pub(super) fn check_transition(&self, to: Stage, policy: &Policy) -> Result<(), Problem> {
        match transition(self.stage, to) {
            Transition::Forbidden(why) => {
                if !self.stage.is_open() {
                    self.ensure_open()
                } else {
                    Err(Problem::gate(
                        STAGE_TRANSITION,
                        format!("{} -> {}", self.stage.code(), to.code()),
                        why,
                    ))
                }
            }
            Transition::Allowed(required) => {
                let unmet: Vec<GateViolation> = required
                    .iter()
                    .flat_map(|g| self.gate_violations(*g, policy))
                    .collect();
                if unmet.is_empty() {
                    Ok(())
                } else {
                    Err(Problem::FailedPrecondition(unmet))
                }
            }
        }
    }
}
