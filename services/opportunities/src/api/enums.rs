//! The domain's enums and their proto enums, value by value, in one list each. `UNSPECIFIED`
//! has no domain counterpart: a required field left at it is refused, an optional one is unset.

use closeloop_kit::enum_map;
use closeloop_kit::enums;
use closeloop_proto::opportunities::v1 as pb;

use crate::domain::opportunity::{
    DisqualificationReason, Kind, LossReason, Outcome, Source, StakeholderRole,
};
use crate::domain::stage::{ForecastCategory, Stage};

enum_map!(Kind => pb::OpportunityKind {
    NewBusiness => NewBusiness,
    Expansion => Expansion,
    Renewal => Renewal,
});

enum_map!(Source => pb::OpportunitySource {
    Prospecting => Prospecting,
    Inbound => Inbound,
    Referral => Referral,
    AccountExpansion => AccountExpansion,
    Renewal => Renewal,
});

enum_map!(Stage => pb::Stage {
    Prospecting => Prospecting,
    Qualification => Qualification,
    Proposal => Proposal,
    Negotiation => Negotiation,
    ClosedWon => ClosedWon,
    ClosedLost => ClosedLost,
    Disqualified => Disqualified,
});

enum_map!(ForecastCategory => pb::ForecastCategory {
    Pipeline => Pipeline,
    BestCase => BestCase,
    Commit => Commit,
    Closed => Closed,
    Omitted => Omitted,
});

enum_map!(StakeholderRole => pb::StakeholderRole {
    DecisionMaker => DecisionMaker,
    EconomicBuyer => EconomicBuyer,
    Champion => Champion,
    TechnicalEvaluator => TechnicalEvaluator,
    Influencer => Influencer,
    User => User,
});

enum_map!(LossReason => pb::LossReason {
    Price => Price,
    Competitor => Competitor,
    NoDecision => NoDecision,
    Timing => Timing,
    ProductFit => ProductFit,
    Other => Other,
});

enum_map!(DisqualificationReason => pb::DisqualificationReason {
    NoClientBenefit => NoClientBenefit,
    UnrealisticExpectations => UnrealisticExpectations,
    MarginTooLow => MarginTooLow,
    ImmaturePartner => ImmaturePartner,
    NoBudget => NoBudget,
    Other => Other,
});

enum_map!(Outcome => pb::Outcome {
    Won => Won,
    Lost => Lost,
    Disqualified => Disqualified,
});

/// Parses an optional enum field of proto enum `P` (UNSPECIFIED: `None`).
///
/// # Errors
/// "unknown value N" for a value the proto does not know.
pub fn optional<P, D>(value: i32) -> Result<Option<D>, String>
where
    P: TryFrom<i32>,
    D: TryFrom<P>,
{
    enums::parse::<P, D>(value)
}

/// Parses a required enum field of proto enum `P`.
///
/// # Errors
/// "required" for UNSPECIFIED, "unknown value N" for a value the proto does not know.
pub fn required<P, D>(value: i32) -> Result<D, String>
where
    P: TryFrom<i32>,
    D: TryFrom<P>,
{
    enums::required::<P, D>(value)
}

/// The wire value of a domain enum value.
pub fn wire<P: From<D> + Into<i32>, D>(value: D) -> i32 {
    P::from(value).into()
}
