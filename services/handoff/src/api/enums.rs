//! The domain's enums and their proto enums, value by value, in one list each. `UNSPECIFIED`
//! has no domain counterpart: a required field left at it is refused, an optional one is unset.

use closeloop_kit::enum_map;
use closeloop_kit::enums;
use closeloop_proto::accounts::v1 as accounts;
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as pb;

use crate::domain::vocabulary::{
    AccountContactRole, AccountOpeningState, ClientObligationKind, GoalOrigin, HandoffStatus,
    IntroductionKind, IntroductionState, MilestoneOrigin, ObligationKind, ObligationParty,
    ObligationStatus, OnboardingStepStatus, PartySide, ReadinessCheck, StakeholderRole,
    SupportContactKind,
};

enum_map!(HandoffStatus => pb::HandoffStatus {
    Draft => Draft,
    Ready => Ready,
    Accepted => Accepted,
});

enum_map!(ReadinessCheck => pb::ReadinessCheck {
    AccountManager => AccountManager,
    CustomerNeeds => CustomerNeeds,
    Goals => Goals,
    GoalSuccessCriteria => GoalSuccessCriteria,
    VerbalCommitments => VerbalCommitments,
    Stakeholders => Stakeholders,
    PrimaryStakeholder => PrimaryStakeholder,
    DeliveryTimeline => DeliveryTimeline,
    DayToDayContact => DayToDayContact,
    BillingContact => BillingContact,
    OnboardingPlan => OnboardingPlan,
    OnboardingStepDetails => OnboardingStepDetails,
    Introduction => Introduction,
});

enum_map!(StakeholderRole => pb::StakeholderRole {
    DecisionMaker => DecisionMaker,
    EconomicBuyer => EconomicBuyer,
    Champion => Champion,
    TechnicalEvaluator => TechnicalEvaluator,
    Influencer => Influencer,
    User => User,
});

enum_map!(SupportContactKind => pb::SupportContactKind {
    DayToDay => DayToDay,
    Billing => Billing,
    Technical => Technical,
    ExecutiveSponsor => ExecutiveSponsor,
    Escalation => Escalation,
    Other => Other,
});

enum_map!(PartySide => pb::PartySide { Client => Client, Company => Company });

enum_map!(GoalOrigin => pb::GoalOrigin {
    OpportunityObjective => OpportunityObjective,
    Added => Added,
});

enum_map!(MilestoneOrigin => pb::MilestoneOrigin { Contract => Contract, Added => Added });

enum_map!(OnboardingStepStatus => pb::OnboardingStepStatus {
    NotStarted => NotStarted,
    InProgress => InProgress,
    Blocked => Blocked,
    Done => Done,
    Skipped => Skipped,
});

enum_map!(IntroductionKind => pb::IntroductionKind { JointCall => JointCall, Email => Email });

enum_map!(IntroductionState => pb::IntroductionState {
    NotScheduled => NotScheduled,
    Scheduled => Scheduled,
    Completed => Completed,
});

enum_map!(AccountOpeningState => pb::AccountOpeningState {
    NotRequested => NotRequested,
    Pending => Pending,
    Opened => Opened,
    Refused => Refused,
});

// A client obligation of the snapshot: the company's kinds (deliverable, service level,
// commitment) and payments (the payment schedule) have no counterpart, so a request naming them
// is refused.
enum_map!(ClientObligationKind => common::ObligationKind {
    Access => Access,
    Communication => Communication,
    Data => Data,
    Resources => Resources,
    Approval => Approval,
    Other => Other,
});

// Every kind, for the obligations passed on to the account.
enum_map!(ObligationKind => common::ObligationKind {
    Deliverable => Deliverable,
    ServiceLevel => ServiceLevel,
    Commitment => Commitment,
    Payment => Payment,
    Access => Access,
    Communication => Communication,
    Data => Data,
    Resources => Resources,
    Approval => Approval,
    Other => Other,
});

enum_map!(ObligationStatus => common::ObligationStatus {
    Pending => Pending,
    InProgress => InProgress,
    AtRisk => AtRisk,
    Delivered => Delivered,
    Fulfilled => Fulfilled,
    Missed => Missed,
    Waived => Waived,
    Cancelled => Cancelled,
});

enum_map!(ObligationParty => accounts::ObligationParty { Company => Company, Client => Client });

enum_map!(AccountContactRole => accounts::ContactRole {
    DayToDay => DayToDay,
    Billing => Billing,
    ExecutiveSponsor => ExecutiveSponsor,
    DecisionMaker => DecisionMaker,
    Technical => Technical,
    User => User,
    Other => Other,
});

/// The wire value of a domain enum `D` through its proto enum `P`.
pub fn wire<P, D>(value: D) -> i32
where
    P: From<D> + Into<i32>,
{
    enums::wire::<P, D>(value)
}

/// Parses an optional enum field: `None` for UNSPECIFIED.
///
/// # Errors
/// "unknown value N", or "value N is not accepted here" for a value with no domain counterpart.
pub fn optional<P, D>(value: i32) -> Result<Option<D>, String>
where
    P: TryFrom<i32> + Into<i32> + Copy,
    D: TryFrom<P>,
{
    let wire = P::try_from(value).map_err(|_| format!("unknown value {value}"))?;
    match D::try_from(wire) {
        Ok(d) => Ok(Some(d)),
        Err(_) if value == 0 => Ok(None),
        Err(_) => Err(format!("value {value} is not accepted here")),
    }
}

/// Parses a required enum field.
///
/// # Errors
/// "required" for UNSPECIFIED; as [`optional`] otherwise.
pub fn required<P, D>(value: i32) -> Result<D, String>
where
    P: TryFrom<i32> + Into<i32> + Copy,
    D: TryFrom<P>,
{
    optional::<P, D>(value)?.ok_or_else(|| "required".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_value_has_a_wire_value_and_back() {
        for s in HandoffStatus::ALL {
            let w = pb::HandoffStatus::from(s);
            assert_eq!(HandoffStatus::try_from(w), Ok(s));
        }
        for c in ReadinessCheck::ALL {
            let w = pb::ReadinessCheck::from(c);
            assert_eq!(ReadinessCheck::try_from(w), Ok(c));
            // The proto's enum order is the checklist's order.
            assert_eq!(
                i32::from(w) as usize,
                ReadinessCheck::ALL.iter().position(|x| *x == c).unwrap() + 1
            );
        }
        for s in OnboardingStepStatus::ALL {
            assert_eq!(
                OnboardingStepStatus::try_from(pb::OnboardingStepStatus::from(s)),
                Ok(s)
            );
        }
        assert_eq!(
            required::<common::ObligationKind, ClientObligationKind>(
                common::ObligationKind::Deliverable as i32
            ),
            Err("value 1 is not accepted here".to_owned())
        );
        assert_eq!(
            optional::<pb::HandoffStatus, HandoffStatus>(0),
            Ok(None),
            "UNSPECIFIED is unset"
        );
        assert!(optional::<pb::HandoffStatus, HandoffStatus>(99).is_err());
    }
}
