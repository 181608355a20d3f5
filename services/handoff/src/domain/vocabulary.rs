//! The words of a handoff: its id, who acted, the customer and its people, and every status and
//! kind a handoff, its parts and the contract snapshot it carries can have.
//!
//! Each enum holds only the values the handoff accepts: a proto enum's `UNSPECIFIED` has no
//! counterpart here (the API maps it to "required" or to the documented default).

use closeloop_kit::types::Email;
use closeloop_kit::{codes, resource_id};

resource_id!(
    /// A handoff's id, the `{handoff}` of `handoffs/{handoff}`.
    pub struct HandoffId("handoff")
);

/// Who did something: the kit's, one record for every service.
pub use closeloop_kit::Actor;

/// The customer company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Stable id in the company's systems of record.
    pub account_id: String,
    /// Name shown to people.
    pub display_name: String,
}

/// A person: a stakeholder, a support contact, a signer, an attendee.
///
/// `email` is optional here because the proto requires it only where the using message says so
/// (stakeholders, support contacts, signers, attendees); the API refuses those without one, so a
/// stakeholder, support contact or attendee built by the API always has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Full name.
    pub display_name: String,
    pub email: Option<Email>,
    /// As given, any format.
    pub phone: String,
    /// Job title.
    pub title: String,
}

impl Contact {
    /// Whether `self` and `other` are the same person: the same email (case-insensitive) when
    /// both have one, otherwise the same display name. Prefill uses it so that a person already
    /// on the handoff is not added twice.
    pub fn same_person(&self, other: &Contact) -> bool {
        match (&self.email, &other.email) {
            (Some(a), Some(b)) => a.as_str().eq_ignore_ascii_case(b.as_str()),
            _ => self.display_name.trim() == other.display_name.trim(),
        }
    }
}

codes! {
    /// Where a handoff stands: DRAFT -> READY -> ACCEPTED; a rejection sends READY back to DRAFT.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum HandoffStatus { Draft = "DRAFT", Ready = "READY", Accepted = "ACCEPTED" }
}

impl HandoffStatus {
    /// Whether nothing moves it any more (only the onboarding plan and the account manager's
    /// notes keep changing).
    pub fn is_final(self) -> bool {
        self == HandoffStatus::Accepted
    }
}

codes! {
    /// One item of the readiness checklist. The code of each value is the stable lower-case code
    /// the proto gives it: `ReadinessItem.code`, and the `subject` of the "readiness" gate's
    /// violations. Declared in the proto's enum order, which is the order of the checklist.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ReadinessCheck {
        AccountManager = "account_manager",
        CustomerNeeds = "customer_needs",
        Goals = "goals",
        GoalSuccessCriteria = "goal_success_criteria",
        VerbalCommitments = "verbal_commitments",
        Stakeholders = "stakeholders",
        PrimaryStakeholder = "primary_stakeholder",
        DeliveryTimeline = "delivery_timeline",
        DayToDayContact = "day_to_day_contact",
        BillingContact = "billing_contact",
        OnboardingPlan = "onboarding_plan",
        OnboardingStepDetails = "onboarding_step_details",
        Introduction = "introduction",
    }
}

codes! {
    /// A stakeholder's part in the client's organisation, as recorded on the opportunity.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum StakeholderRole {
        DecisionMaker = "DECISION_MAKER",
        EconomicBuyer = "ECONOMIC_BUYER",
        Champion = "CHAMPION",
        TechnicalEvaluator = "TECHNICAL_EVALUATOR",
        Influencer = "INFLUENCER",
        User = "USER",
    }
}

codes! {
    /// What a support contact is the account team's contact for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SupportContactKind {
        /// Required for readiness.
        DayToDay = "DAY_TO_DAY",
        /// Required for readiness.
        Billing = "BILLING",
        Technical = "TECHNICAL",
        ExecutiveSponsor = "EXECUTIVE_SPONSOR",
        Escalation = "ESCALATION",
        /// Needs `notes` saying what for (the API refuses it without).
        Other = "OTHER",
    }
}

codes! {
    /// Which side of the deal a person belongs to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PartySide { Client = "CLIENT", Company = "COMPANY" }
}

codes! {
    /// Where a goal came from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum GoalOrigin { OpportunityObjective = "OPPORTUNITY_OBJECTIVE", Added = "ADDED" }
}

codes! {
    /// Where a delivery timeline milestone came from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum MilestoneOrigin { Contract = "CONTRACT", Added = "ADDED" }
}

codes! {
    /// Progress of one onboarding step. Any status may follow any other.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum OnboardingStepStatus {
        /// The default for new steps.
        NotStarted = "NOT_STARTED",
        InProgress = "IN_PROGRESS",
        /// Needs a note.
        Blocked = "BLOCKED",
        /// Sets the step's complete time.
        Done = "DONE",
        /// Needs a note.
        Skipped = "SKIPPED",
    }
}

impl OnboardingStepStatus {
    /// Whether a step may only enter this status with a note saying why.
    pub fn needs_note(self) -> bool {
        matches!(
            self,
            OnboardingStepStatus::Blocked | OnboardingStepStatus::Skipped
        )
    }
}

codes! {
    /// How the warm introduction is made.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum IntroductionKind { JointCall = "JOINT_CALL", Email = "EMAIL" }
}

codes! {
    /// Progress of the warm introduction.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum IntroductionState {
        NotScheduled = "NOT_SCHEDULED",
        Scheduled = "SCHEDULED",
        /// Required by AcceptHandoff.
        Completed = "COMPLETED",
    }
}

codes! {
    /// Progress of opening the account in account-management after acceptance, as shown in
    /// `Handoff.account_opening.state` ([`super::handoff::Handoff::account_opening_state`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum AccountOpeningState {
        NotRequested = "NOT_REQUESTED",
        Pending = "PENDING",
        Opened = "OPENED",
        Refused = "REFUSED",
    }
}

codes! {
    /// Where the owed OpenAccount call stands in this service's outbox (the app reads it there);
    /// the domain turns it into an [`AccountOpeningState`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CallState { Pending = "PENDING", Delivered = "DELIVERED", Refused = "REFUSED" }
}

codes! {
    /// What an obligation is about: closeloop.common.v1's one enum for every service, whole,
    /// since the handoff passes deliverables (DELIVERABLE), payments (PAYMENT), verbal commitments
    /// (COMMITMENT) and the client's own obligations on to the account unchanged.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ObligationKind {
        Deliverable = "DELIVERABLE",
        ServiceLevel = "SERVICE_LEVEL",
        Commitment = "COMMITMENT",
        Payment = "PAYMENT",
        Access = "ACCESS",
        Communication = "COMMUNICATION",
        Data = "DATA",
        Resources = "RESOURCES",
        Approval = "APPROVAL",
        Other = "OTHER",
    }
}

codes! {
    /// The kinds a contract snapshot's client obligation may have: ACCESS, COMMUNICATION, DATA,
    /// RESOURCES, APPROVAL or OTHER, as on the contract (the proto refuses the others with
    /// INVALID_ARGUMENT, so a snapshot can only hold these).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ClientObligationKind {
        Access = "ACCESS",
        Communication = "COMMUNICATION",
        Data = "DATA",
        Resources = "RESOURCES",
        Approval = "APPROVAL",
        Other = "OTHER",
    }
}

impl From<ClientObligationKind> for ObligationKind {
    fn from(kind: ClientObligationKind) -> ObligationKind {
        match kind {
            ClientObligationKind::Access => ObligationKind::Access,
            ClientObligationKind::Communication => ObligationKind::Communication,
            ClientObligationKind::Data => ObligationKind::Data,
            ClientObligationKind::Resources => ObligationKind::Resources,
            ClientObligationKind::Approval => ObligationKind::Approval,
            ClientObligationKind::Other => ObligationKind::Other,
        }
    }
}

codes! {
    /// How far an obligation is met: closeloop.common.v1's enum, whole, passed on unchanged from
    /// the snapshot to the account. PENDING is what the proto reads an unspecified status as.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ObligationStatus {
        Pending = "PENDING",
        InProgress = "IN_PROGRESS",
        AtRisk = "AT_RISK",
        /// Company obligations only (account-management refuses it on a client obligation).
        Delivered = "DELIVERED",
        Fulfilled = "FULFILLED",
        Missed = "MISSED",
        Waived = "WAIVED",
        Cancelled = "CANCELLED",
    }
}

codes! {
    /// Which side owes an obligation passed on to the account (account-management's
    /// ObligationParty).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ObligationParty { Company = "COMPANY", Client = "CLIENT" }
}

codes! {
    /// A customer contact's part in the relationship, as account-management records it
    /// (its ContactRole): what stakeholders and support contacts become on the account.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum AccountContactRole {
        DayToDay = "DAY_TO_DAY",
        Billing = "BILLING",
        ExecutiveSponsor = "EXECUTIVE_SPONSOR",
        DecisionMaker = "DECISION_MAKER",
        Technical = "TECHNICAL",
        User = "USER",
        Other = "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_codes_are_the_protos_stable_codes_in_enum_order() {
        let codes: Vec<&str> = ReadinessCheck::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(
            codes,
            [
                "account_manager",
                "customer_needs",
                "goals",
                "goal_success_criteria",
                "verbal_commitments",
                "stakeholders",
                "primary_stakeholder",
                "delivery_timeline",
                "day_to_day_contact",
                "billing_contact",
                "onboarding_plan",
                "onboarding_step_details",
                "introduction",
            ]
        );
    }

    #[test]
    fn codes_round_trip() {
        for c in ReadinessCheck::ALL {
            assert_eq!(ReadinessCheck::from_code(c.code()), Some(c));
        }
        for s in HandoffStatus::ALL {
            assert_eq!(HandoffStatus::from_code(s.code()), Some(s));
        }
        for s in OnboardingStepStatus::ALL {
            assert_eq!(OnboardingStepStatus::from_code(s.code()), Some(s));
        }
        for k in ClientObligationKind::ALL {
            let wide = ObligationKind::from(k);
            assert_eq!(wide.code(), k.code());
        }
    }

    #[test]
    fn only_blocked_and_skipped_need_a_note() {
        let needing: Vec<_> = OnboardingStepStatus::ALL
            .into_iter()
            .filter(|s| s.needs_note())
            .collect();
        assert_eq!(
            needing,
            [OnboardingStepStatus::Blocked, OnboardingStepStatus::Skipped]
        );
    }

    #[test]
    fn the_same_person_is_found_by_email_then_by_name() {
        let c = |name: &str, email: Option<&str>| Contact {
            display_name: name.into(),
            email: email.map(|e| Email::parse(e).unwrap()),
            phone: String::new(),
            title: String::new(),
        };
        assert!(c("Ana", Some("ana@acme.com")).same_person(&c("A. N.", Some("ANA@acme.com"))));
        assert!(!c("Ana", Some("ana@acme.com")).same_person(&c("Ana", Some("bob@acme.com"))));
        assert!(c("Ana", None).same_person(&c("Ana", Some("ana@acme.com"))));
        assert!(!c("Ana", None).same_person(&c("Bob", None)));
    }
}
