//! The domain's enums and their proto enums, value by value, in one list each. `UNSPECIFIED`
//! has no domain counterpart: a required field left at it is refused, an optional one is unset.

use closeloop_kit::enum_map;
use closeloop_kit::enums;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as pb;

use crate::domain::vocabulary::{
    ContractStatus, DealKind, DeclineType, DeliverableStatus, DunningStatus, FollowUpStatus,
    InvoiceStatus, ObligationKind, ObligationStatus, OrderStatus, OverdueLevel, PaymentResult,
    SignerSide, SignerStatus, TerminationReason,
};

enum_map!(DealKind => pb::DealKind {
    NewBusiness => NewBusiness,
    Expansion => Expansion,
    Renewal => Renewal,
});

enum_map!(ContractStatus => pb::ContractStatus {
    Draft => Draft,
    Sent => Sent,
    Signed => Signed,
    Active => Active,
    Completed => Completed,
    Terminated => Terminated,
    Declined => Declined,
    Voided => Voided,
    Expired => Expired,
});

enum_map!(DeliverableStatus => pb::DeliverableStatus {
    Pending => Pending,
    InProgress => InProgress,
    Delivered => Delivered,
    Accepted => Accepted,
    Cancelled => Cancelled,
});

enum_map!(SignerSide => pb::SignerSide { Client => Client, Company => Company });

enum_map!(SignerStatus => pb::SignerStatus {
    Pending => Pending,
    Signed => Signed,
    Declined => Declined,
});

enum_map!(TerminationReason => pb::TerminationReason {
    ClientRequest => ClientRequest,
    NonPayment => NonPayment,
    ClientBreach => ClientBreach,
    CompanyBreach => CompanyBreach,
    MutualAgreement => MutualAgreement,
    Other => Other,
});

enum_map!(OrderStatus => pb::OrderStatus {
    Placed => Placed,
    InFulfillment => InFulfillment,
    Fulfilled => Fulfilled,
    Cancelled => Cancelled,
});

enum_map!(InvoiceStatus => pb::InvoiceStatus {
    Draft => Draft,
    Open => Open,
    Paid => Paid,
    PastDue => PastDue,
    Uncollectible => Uncollectible,
    Void => Void,
});

enum_map!(OverdueLevel => pb::OverdueLevel {
    None => None,
    Reminder => Reminder,
    Escalated => Escalated,
    Suspended => Suspended,
});

enum_map!(PaymentResult => pb::PaymentResult { Succeeded => Succeeded, Failed => Failed });

enum_map!(DeclineType => pb::DeclineType { Soft => Soft, Hard => Hard });

enum_map!(DunningStatus => pb::DunningStatus {
    None => None,
    Retrying => Retrying,
    Exhausted => Exhausted,
    HardDeclined => HardDeclined,
    Ended => Ended,
});

enum_map!(FollowUpStatus => pb::FollowUpStatus { Open => Open, Resolved => Resolved });

// The client's obligation kinds: the company's (deliverable, service level, commitment) and
// payments have no domain counterpart here, so a request naming them is refused.
enum_map!(ObligationKind => common::ObligationKind {
    Access => Access,
    Communication => Communication,
    Data => Data,
    Resources => Resources,
    Approval => Approval,
    Other => Other,
});

// DELIVERED and CANCELLED describe company deliverables: refused for a client obligation.
enum_map!(ObligationStatus => common::ObligationStatus {
    Pending => Pending,
    InProgress => InProgress,
    AtRisk => AtRisk,
    Fulfilled => Fulfilled,
    Missed => Missed,
    Waived => Waived,
});

/// The wire value of a domain enum `D` through its proto enum `P`.
pub fn wire<P, D>(value: D) -> i32
where
    P: From<D> + Into<i32>,
{
    enums::wire::<P, D>(value)
}

/// A client obligation's kind on the wire (closeloop.common.v1).
pub fn obligation_kind_wire(kind: ObligationKind) -> i32 {
    wire::<common::ObligationKind, _>(kind)
}

/// A client obligation's status on the wire (closeloop.common.v1).
pub fn obligation_status_wire(status: ObligationStatus) -> i32 {
    wire::<common::ObligationStatus, _>(status)
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
