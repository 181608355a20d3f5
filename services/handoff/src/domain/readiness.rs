//! The readiness checklist: what a handoff must hold before SubmitHandoff moves it to READY (and
//! keep holding while READY). Each missing item has the stable code of its check, the field path
//! concerned (0-based indexes, as the proto writes them: `goals[1].success_criteria`) and what
//! is missing; SubmitHandoff refuses with one "readiness" violation per item.

use closeloop_kit::error::GateViolation;

use super::handoff::Handoff;
use super::vocabulary::{IntroductionState, ReadinessCheck, SupportContactKind};

/// The gate SubmitHandoff (and an UpdateHandoff of a READY handoff) refuses with.
pub const GATE: &str = "readiness";

/// One missing item of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessItem {
    /// The check that fails.
    pub check: ReadinessCheck,
    /// The field path concerned, e.g. `support_contacts`, `goals[1].success_criteria`.
    pub field: String,
    /// What is missing, for people.
    pub description: String,
}

impl ReadinessItem {
    /// The check's stable code: `ReadinessItem.code`, and the violation's subject.
    pub fn code(&self) -> &'static str {
        self.check.code()
    }

    /// The item as SubmitHandoff reports it: gate "readiness", subject the code, description
    /// "{field}: {description}".
    pub fn violation(&self) -> GateViolation {
        GateViolation {
            gate: GATE.to_owned(),
            subject: self.code().to_owned(),
            description: format!("{}: {}", self.field, self.description),
        }
    }
}

/// The checklist evaluated on one handoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Every check with whether it is met, in the checklist's (the enum's) order.
    pub checks: Vec<(ReadinessCheck, bool)>,
    /// Every missing item, in check order; empty when ready.
    pub missing: Vec<ReadinessItem>,
}

impl Readiness {
    /// Whether nothing is missing: SubmitHandoff would pass the "readiness" gate.
    pub fn ready(&self) -> bool {
        self.missing.is_empty()
    }

    /// One "readiness" violation per missing item.
    pub fn violations(&self) -> Vec<GateViolation> {
        self.missing.iter().map(ReadinessItem::violation).collect()
    }
}

/// Evaluates the checklist on `h` as it stands (whatever its status).
pub fn evaluate(h: &Handoff) -> Readiness {
    let mut missing = Vec::new();
    let mut add = |check, field: String, description: &str| {
        missing.push(ReadinessItem {
            check,
            field,
            description: description.to_owned(),
        });
    };

    if h.account_manager.is_none() {
        add(
            ReadinessCheck::AccountManager,
            "account_manager".into(),
            "an account manager must be assigned",
        );
    }
    if h.customer_needs.is_empty() {
        add(
            ReadinessCheck::CustomerNeeds,
            "customer_needs".into(),
            "at least one customer need is required",
        );
    }
    if h.goals.is_empty() {
        add(
            ReadinessCheck::Goals,
            "goals".into(),
            "at least one goal is required",
        );
    }
    for (i, g) in h.goals.iter().enumerate() {
        if g.success_criteria.is_empty() {
            add(
                ReadinessCheck::GoalSuccessCriteria,
                format!("goals[{i}].success_criteria"),
                "at least one success criterion is required",
            );
        }
    }
    if h.verbal_commitments.is_empty() && !h.no_verbal_commitments {
        add(
            ReadinessCheck::VerbalCommitments,
            "verbal_commitments".into(),
            "record the verbal commitments made during the sale, or confirm that none were made \
             (no_verbal_commitments)",
        );
    }
    if h.stakeholders.is_empty() {
        add(
            ReadinessCheck::Stakeholders,
            "stakeholders".into(),
            "at least one stakeholder is required",
        );
    }
    match h.stakeholders.iter().filter(|s| s.primary).count() {
        1 => {}
        0 => add(
            ReadinessCheck::PrimaryStakeholder,
            "stakeholders".into(),
            "exactly one stakeholder must be primary; none is",
        ),
        // Edits refuse a second primary, but a check that counts says what it sees.
        _ => add(
            ReadinessCheck::PrimaryStakeholder,
            "stakeholders".into(),
            "exactly one stakeholder must be primary; several are",
        ),
    }
    if h.delivery_timeline.is_empty() {
        add(
            ReadinessCheck::DeliveryTimeline,
            "delivery_timeline".into(),
            "at least one delivery timeline milestone is required",
        );
    }
    for (kind, check, description) in [
        (
            SupportContactKind::DayToDay,
            ReadinessCheck::DayToDayContact,
            "a DAY_TO_DAY support contact is required",
        ),
        (
            SupportContactKind::Billing,
            ReadinessCheck::BillingContact,
            "a BILLING support contact is required",
        ),
    ] {
        if !h.support_contacts.iter().any(|c| c.kind == kind) {
            add(check, "support_contacts".into(), description);
        }
    }
    if h.onboarding_plan.is_empty() {
        add(
            ReadinessCheck::OnboardingPlan,
            "onboarding_plan".into(),
            "the onboarding plan needs at least one step",
        );
    }
    for (i, s) in h.onboarding_plan.iter().enumerate() {
        if s.owner.is_none() {
            add(
                ReadinessCheck::OnboardingStepDetails,
                format!("onboarding_plan[{i}].owner"),
                "the step needs an owner",
            );
        }
        if s.due_date.is_none() {
            add(
                ReadinessCheck::OnboardingStepDetails,
                format!("onboarding_plan[{i}].due_date"),
                "the step needs a due date",
            );
        }
    }
    if h.introduction.state == IntroductionState::NotScheduled {
        add(
            ReadinessCheck::Introduction,
            "introduction".into(),
            "the warm introduction must be scheduled or completed",
        );
    }

    let checks = ReadinessCheck::ALL
        .into_iter()
        .map(|c| (c, !missing.iter().any(|m| m.check == c)))
        .collect();
    Readiness { checks, missing }
}

impl Handoff {
    /// The readiness checklist evaluated now.
    pub fn readiness(&self) -> Readiness {
        evaluate(self)
    }
}
