//! The domain's enums and their proto enums, value by value, in one list each. `UNSPECIFIED`
//! has no domain counterpart: a required field left at it is refused, an optional one is unset.

use closeloop_kit::enum_map;
use closeloop_kit::enums;
use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::common::v1 as common;

use crate::domain::vocabulary::{
    AccountStatus, CheckInChannel, ChurnReason, ContactRole, ExpansionKind, HealthBand,
    HealthFactorKind, IssueState, ObligationKind, ObligationParty, ObligationStatus,
    OperationsUpdateKind, OpportunityRequestStatus, OutcomeStatus, Severity,
};

enum_map!(AccountStatus => pb::AccountStatus {
    Active => Active,
    AtRisk => AtRisk,
    Churned => Churned,
});

enum_map!(ChurnReason => pb::ChurnReason {
    Price => Price,
    Competitor => Competitor,
    OutcomesNotMet => OutcomesNotMet,
    ServiceQuality => ServiceQuality,
    Budget => Budget,
    BusinessChange => BusinessChange,
    NonPayment => NonPayment,
    Other => Other,
});

enum_map!(ObligationParty => pb::ObligationParty { Company => Company, Client => Client });

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

enum_map!(OutcomeStatus => pb::OutcomeStatus {
    NotStarted => NotStarted,
    OnTrack => OnTrack,
    OffTrack => OffTrack,
    Achieved => Achieved,
    NotAchieved => NotAchieved,
});

enum_map!(ContactRole => pb::ContactRole {
    DayToDay => DayToDay,
    Billing => Billing,
    ExecutiveSponsor => ExecutiveSponsor,
    DecisionMaker => DecisionMaker,
    Technical => Technical,
    User => User,
    Other => Other,
});

enum_map!(HealthBand => pb::HealthBand { Green => Green, Yellow => Yellow, Red => Red });

enum_map!(HealthFactorKind => pb::HealthFactorKind {
    SatisfactionTrend => SatisfactionTrend,
    CheckInRecency => CheckInRecency,
    OutcomeProgress => OutcomeProgress,
    OpenIssues => OpenIssues,
    PaymentStanding => PaymentStanding,
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
/// "unknown value N", or "not accepted here" for a value with no domain counterpart.
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

enum_map!(CheckInChannel => pb::CheckInChannel {
    Phone => Phone,
    VideoCall => VideoCall,
    Meeting => Meeting,
    OnSite => OnSite,
    Email => Email,
});

enum_map!(OperationsUpdateKind => pb::OperationsUpdateKind {
    Performance => Performance,
    Issue => Issue,
    Resolution => Resolution,
});

enum_map!(Severity => pb::Severity {
    Info => Info,
    Low => Low,
    Medium => Medium,
    High => High,
    Critical => Critical,
});

enum_map!(IssueState => pb::IssueState { Open => Open, Resolved => Resolved });

enum_map!(ExpansionKind => pb::ExpansionKind {
    Upsell => Upsell,
    CrossSell => CrossSell,
    Renewal => Renewal,
});

enum_map!(OpportunityRequestStatus => pb::OpportunityRequestStatus {
    Pending => Pending,
    Opened => Opened,
    Failed => Failed,
});
