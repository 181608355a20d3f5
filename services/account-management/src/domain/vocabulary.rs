//! The words of account management: the ids of an account and of what lives under it, who acted,
//! the customer and its people, and every status and kind the proto defines.
//!
//! Each enum holds only the values the service accepts: a proto enum's `UNSPECIFIED` has no
//! counterpart here (the API maps it to "required", or to the documented default).

use closeloop_kit::types::Email;
use closeloop_kit::{codes, resource_id};

resource_id!(
    /// An account's id, the `{account}` of `accounts/{account}`.
    pub struct AccountId("account")
);

resource_id!(
    /// A check-in's id, the `{check_in}` of `accounts/{account}/checkIns/{check_in}`.
    pub struct CheckInId("check-in")
);

resource_id!(
    /// An operations update's id, the `{operations_update}` of
    /// `accounts/{account}/operationsUpdates/{operations_update}`.
    pub struct OperationsUpdateId("operations update")
);

resource_id!(
    /// An expansion's id, the `{expansion}` of `accounts/{account}/expansions/{expansion}`.
    pub struct ExpansionId("expansion")
);

resource_id!(
    /// A referral's id, the `{referral}` of `accounts/{account}/referrals/{referral}`.
    pub struct ReferralId("referral")
);

/// `accounts/{account}`.
pub fn account_name(id: &AccountId) -> String {
    format!("accounts/{id}")
}

/// Who did something: the kit's, one record for every service.
pub use closeloop_kit::Actor;

/// A company: the customer of an account, or a company it referred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Stable id in the company's systems of record (the CRM account id).
    pub account_id: String,
    /// Name shown to people.
    pub display_name: String,
}

/// A person at the customer, a check-in attendee, a referred company's contact.
///
/// `email` is optional here because the proto requires it only where the using message says so
/// (an account's contacts, a referral's contact); the API refuses those without one and the
/// domain checks again where it matters (see [`super::account::AccountContact`] and
/// [`super::opportunities::ReferralInput`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Full name.
    pub display_name: String,
    pub email: Option<Email>,
    /// As given, any format; may be empty.
    pub phone: String,
    /// Job title; may be empty.
    pub title: String,
}

impl Contact {
    /// Whether `self` and `other` are the same person: the same email (case-insensitive) when
    /// both have one, otherwise the same display name. An account extended by a later handoff
    /// uses it so that a person already on the account is not added twice.
    pub fn same_person(&self, other: &Contact) -> bool {
        match (&self.email, &other.email) {
            (Some(a), Some(b)) => a.as_str().eq_ignore_ascii_case(b.as_str()),
            _ => self.display_name.trim() == other.display_name.trim(),
        }
    }
}

codes! {
    /// Where the relationship stands: ACTIVE -> AT_RISK, ACTIVE | AT_RISK -> CHURNED,
    /// AT_RISK | CHURNED -> ACTIVE (the table is [`super::lifecycle::StatusMove`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum AccountStatus { Active = "ACTIVE", AtRisk = "AT_RISK", Churned = "CHURNED" }
}

codes! {
    /// Why a customer left.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ChurnReason {
        Price = "PRICE",
        /// Name the competitor in the notes.
        Competitor = "COMPETITOR",
        OutcomesNotMet = "OUTCOMES_NOT_MET",
        ServiceQuality = "SERVICE_QUALITY",
        Budget = "BUDGET",
        BusinessChange = "BUSINESS_CHANGE",
        NonPayment = "NON_PAYMENT",
        /// Needs notes.
        Other = "OTHER",
    }
}

impl ChurnReason {
    /// Whether the reason needs notes saying what it is (OTHER, as everywhere in the suite).
    pub fn needs_notes(self) -> bool {
        self == ChurnReason::Other
    }
}

codes! {
    /// Which side of the contract owes an obligation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ObligationParty {
        /// The company owes it to the client.
        Company = "COMPANY",
        /// The client owes it to the company.
        Client = "CLIENT",
    }
}

codes! {
    /// What an obligation is about: closeloop.common.v1's one enum for every service, whole, so
    /// an obligation keeps its kind from the contract through the handoff to the account.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl ObligationKind {
    /// Whether an obligation of this kind may be owed by `party`, as `Obligation.kind` says:
    /// DELIVERABLE, SERVICE_LEVEL and COMMITMENT only with COMPANY; PAYMENT, ACCESS,
    /// COMMUNICATION, DATA, RESOURCES and APPROVAL only with CLIENT; OTHER with either.
    pub fn allowed_for(self, party: ObligationParty) -> bool {
        use ObligationKind as K;
        match self {
            K::Deliverable | K::ServiceLevel | K::Commitment => party == ObligationParty::Company,
            K::Payment | K::Access | K::Communication | K::Data | K::Resources | K::Approval => {
                party == ObligationParty::Client
            }
            K::Other => true,
        }
    }

    /// Whether an obligation of this kind needs an amount (PAYMENT).
    pub fn needs_amount(self) -> bool {
        self == ObligationKind::Payment
    }
}

codes! {
    /// How far an obligation is met: closeloop.common.v1's enum, whole. PENDING is what an
    /// unspecified status reads as.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ObligationStatus {
        Pending = "PENDING",
        InProgress = "IN_PROGRESS",
        AtRisk = "AT_RISK",
        /// Company obligations only.
        Delivered = "DELIVERED",
        Fulfilled = "FULFILLED",
        Missed = "MISSED",
        Waived = "WAIVED",
        Cancelled = "CANCELLED",
    }
}

impl ObligationStatus {
    /// Whether an obligation of `party` may be in this status: DELIVERED only with COMPANY
    /// ("provided to the client, not yet accepted" has no meaning for what the client owes);
    /// every other status with either.
    ///
    /// This is the whole move rule of the account's obligations: the proto names no other, so
    /// any status allowed for the party may follow any other (closeloop.common.v1 leaves the
    /// moves to each service). An account manager keeps the record of what happened, and a
    /// record must be correctable: a FULFILLED payment that bounced goes back to PENDING, a
    /// WAIVED obligation the client asks for again is owed again.
    pub fn allowed_for(self, party: ObligationParty) -> bool {
        self != ObligationStatus::Delivered || party == ObligationParty::Company
    }

    /// Whether the obligation is still to be met: PENDING, IN_PROGRESS or AT_RISK. Only these
    /// can be overdue (`Obligation.overdue`).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ObligationStatus::Pending | ObligationStatus::InProgress | ObligationStatus::AtRisk
        )
    }
}

codes! {
    /// How far an outcome (a customer goal) is achieved. Any status may follow any other: the
    /// proto sets none apart, and UpdateOutcome corrects what a check-in reported.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OutcomeStatus {
        /// The default for new outcomes.
        NotStarted = "NOT_STARTED",
        OnTrack = "ON_TRACK",
        OffTrack = "OFF_TRACK",
        Achieved = "ACHIEVED",
        NotAchieved = "NOT_ACHIEVED",
    }
}

codes! {
    /// A customer contact's part in the relationship.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ContactRole {
        DayToDay = "DAY_TO_DAY",
        Billing = "BILLING",
        ExecutiveSponsor = "EXECUTIVE_SPONSOR",
        DecisionMaker = "DECISION_MAKER",
        Technical = "TECHNICAL",
        User = "USER",
        Other = "OTHER",
    }
}

codes! {
    /// How a check-in took place.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum CheckInChannel {
        Phone = "PHONE",
        VideoCall = "VIDEO_CALL",
        Meeting = "MEETING",
        OnSite = "ON_SITE",
        Email = "EMAIL",
    }
}

codes! {
    /// What an operations update reports.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OperationsUpdateKind {
        Performance = "PERFORMANCE",
        /// Stays open until a RESOLUTION names it.
        Issue = "ISSUE",
        /// Names the ISSUE it resolves.
        Resolution = "RESOLUTION",
    }
}

codes! {
    /// How serious an operations update is, from least to most: the declaration order is the
    /// order (`Ord`), which "this severity or more serious" filters use.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Severity {
        /// Not allowed on an ISSUE.
        Info = "INFO",
        Low = "LOW",
        Medium = "MEDIUM",
        High = "HIGH",
        Critical = "CRITICAL",
    }
}

codes! {
    /// Where an ISSUE stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum IssueState { Open = "OPEN", Resolved = "RESOLVED" }
}

codes! {
    /// The overall health of an account, by its score against the configured thresholds.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum HealthBand { Green = "GREEN", Yellow = "YELLOW", Red = "RED" }
}

codes! {
    /// One factor of the health score, in the proto's enum order (the order of
    /// `AccountHealth.factors`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum HealthFactorKind {
        SatisfactionTrend = "SATISFACTION_TREND",
        CheckInRecency = "CHECK_IN_RECENCY",
        OutcomeProgress = "OUTCOME_PROGRESS",
        OpenIssues = "OPEN_ISSUES",
        PaymentStanding = "PAYMENT_STANDING",
    }
}

codes! {
    /// An upsell, a cross-sell or a renewal.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ExpansionKind { Upsell = "UPSELL", CrossSell = "CROSS_SELL", Renewal = "RENEWAL" }
}

impl ExpansionKind {
    /// The kind of the opportunity it opens: EXPANSION for upsells and cross-sells, RENEWAL for
    /// renewals.
    pub fn opportunity_kind(self) -> OpportunityKind {
        match self {
            ExpansionKind::Upsell | ExpansionKind::CrossSell => OpportunityKind::Expansion,
            ExpansionKind::Renewal => OpportunityKind::Renewal,
        }
    }

    /// The source of the opportunity it opens: ACCOUNT_EXPANSION for upsells and cross-sells,
    /// RENEWAL for renewals.
    pub fn opportunity_source(self) -> OpportunitySource {
        match self {
            ExpansionKind::Upsell | ExpansionKind::CrossSell => OpportunitySource::AccountExpansion,
            ExpansionKind::Renewal => OpportunitySource::Renewal,
        }
    }
}

codes! {
    /// Where the opportunity requested by an expansion or a referral stands. It follows the
    /// owed CreateOpportunity call ([`CallState`]): PENDING is PENDING, DELIVERED is OPENED,
    /// REFUSED is FAILED; the moves are [`super::opportunities::request_move_allowed`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OpportunityRequestStatus { Pending = "PENDING", Opened = "OPENED", Failed = "FAILED" }
}

codes! {
    /// A stakeholder's part in the buying decision: the opportunities service's own enum
    /// (closeloop.opportunities.v1.StakeholderRole), which a referral's contact role is, since
    /// that service checks it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The kind of an opportunity this service asks the opportunities service to open
    /// (closeloop.opportunities.v1.OpportunityKind).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OpportunityKind {
        NewBusiness = "NEW_BUSINESS",
        Expansion = "EXPANSION",
        Renewal = "RENEWAL",
    }
}

codes! {
    /// The sources of the opportunities this service opens (a subset of
    /// closeloop.opportunities.v1.OpportunitySource: the others are the salespeople's).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OpportunitySource {
        Referral = "REFERRAL",
        AccountExpansion = "ACCOUNT_EXPANSION",
        Renewal = "RENEWAL",
    }
}

/// Where a call this service owes another stands in its outbox, as the app reads it there
/// (closeloop.common.v1.OwedCallState, with the refusal it holds while REFUSED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// Written, not yet confirmed.
    Pending,
    /// The callee confirmed it.
    Delivered,
    /// The callee refused it for good.
    Refused {
        /// The callee's status code by its canonical name, e.g. `INVALID_ARGUMENT`.
        code: String,
        /// The callee's status message.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in AccountStatus::ALL {
            assert_eq!(AccountStatus::from_code(s.code()), Some(s));
        }
        for k in ObligationKind::ALL {
            assert_eq!(ObligationKind::from_code(k.code()), Some(k));
        }
        for s in ObligationStatus::ALL {
            assert_eq!(ObligationStatus::from_code(s.code()), Some(s));
        }
        for s in Severity::ALL {
            assert_eq!(Severity::from_code(s.code()), Some(s));
        }
        for f in HealthFactorKind::ALL {
            assert_eq!(HealthFactorKind::from_code(f.code()), Some(f));
        }
        for r in StakeholderRole::ALL {
            assert_eq!(StakeholderRole::from_code(r.code()), Some(r));
        }
    }

    #[test]
    fn obligation_kinds_follow_the_party_table() {
        use ObligationKind as K;
        use ObligationParty as P;
        let company: Vec<_> = K::ALL
            .into_iter()
            .filter(|k| k.allowed_for(P::Company))
            .collect();
        let client: Vec<_> = K::ALL
            .into_iter()
            .filter(|k| k.allowed_for(P::Client))
            .collect();
        assert_eq!(
            company,
            [K::Deliverable, K::ServiceLevel, K::Commitment, K::Other]
        );
        assert_eq!(
            client,
            [
                K::Payment,
                K::Access,
                K::Communication,
                K::Data,
                K::Resources,
                K::Approval,
                K::Other
            ]
        );
        assert!(K::Payment.needs_amount());
        assert!(K::ALL.iter().filter(|k| k.needs_amount()).count() == 1);
    }

    #[test]
    fn delivered_is_the_companys_alone_and_only_open_statuses_can_be_overdue() {
        use ObligationStatus as S;
        for s in S::ALL {
            assert!(s.allowed_for(ObligationParty::Company), "{s:?}");
            assert_eq!(
                s.allowed_for(ObligationParty::Client),
                s != S::Delivered,
                "{s:?}"
            );
        }
        let open: Vec<_> = S::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(open, [S::Pending, S::InProgress, S::AtRisk]);
    }

    #[test]
    fn severities_are_ordered_from_least_to_most_serious() {
        let mut sorted = Severity::ALL;
        sorted.sort();
        assert_eq!(sorted, Severity::ALL);
        assert!(Severity::Info < Severity::Low && Severity::High < Severity::Critical);
    }

    #[test]
    fn expansions_open_the_proto_kind_and_source() {
        use ExpansionKind as E;
        assert_eq!(
            (E::Upsell.opportunity_kind(), E::Upsell.opportunity_source()),
            (
                OpportunityKind::Expansion,
                OpportunitySource::AccountExpansion
            )
        );
        assert_eq!(
            (
                E::CrossSell.opportunity_kind(),
                E::CrossSell.opportunity_source()
            ),
            (
                OpportunityKind::Expansion,
                OpportunitySource::AccountExpansion
            )
        );
        assert_eq!(
            (
                E::Renewal.opportunity_kind(),
                E::Renewal.opportunity_source()
            ),
            (OpportunityKind::Renewal, OpportunitySource::Renewal)
        );
    }

    #[test]
    fn only_other_needs_churn_notes() {
        let needing: Vec<_> = ChurnReason::ALL
            .into_iter()
            .filter(|r| r.needs_notes())
            .collect();
        assert_eq!(needing, [ChurnReason::Other]);
    }

    #[test]
    fn the_same_person_is_found_by_email_then_by_name() {
        let c = |name: &str, email: Option<&str>| Contact {
            display_name: name.into(),
            email: email.map(|e| Email::parse(e).unwrap()),
            phone: String::new(),
            title: String::new(),
        };
        assert!(c("Ana", Some("ana@acme.com")).same_person(&c("A.", Some("ANA@acme.com"))));
        assert!(!c("Ana", Some("ana@acme.com")).same_person(&c("Ana", Some("bob@acme.com"))));
        assert!(c("Ana", None).same_person(&c("Ana", Some("ana@acme.com"))));
    }
}
