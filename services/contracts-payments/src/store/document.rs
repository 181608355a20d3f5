//! The stored forms of a contract and an invoice: types of their own, apart from the domain's,
//! so that reordering or renaming something in the domain cannot change what is on disk.
//!
//! Format 1: a format byte (`0x01`) then MessagePack with each struct as an array of its fields
//! in the order written here, and enum values by the names written here. Rules that keep old
//! rows readable:
//! - a field is only ever added at the end of its struct, with `#[serde(default)]`: a document
//!   that stops short of it reads it as its default;
//! - nothing is removed, reordered, renamed or retyped; such a change is a new format, with
//!   types of its own and a conversion from this one.

use closeloop_kit::Problem;
use closeloop_kit::stored::Stored;
use closeloop_kit::types::{CurrencyCode, Email};
use closeloop_kit::{stored_enum, stored_struct};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::contract as c;
use crate::domain::follow_up as f;
use crate::domain::invoice as i;
use crate::domain::payments as p;
use crate::domain::vocabulary as v;
use crate::domain::vocabulary::{
    ContractStatus, DealKind, DeclineType, DeliverableStatus, DunningStatus, FollowUpStatus,
    ObligationKind, ObligationStatus, PaymentResult, SignerSide, SignerStatus, TerminationReason,
};

/// The format written now.
const FORMAT: u8 = 1;

fn encode<S: Stored + Serialize>(domain: &S::Domain) -> Result<Vec<u8>, Problem> {
    let mut out = vec![FORMAT];
    rmp_serde::encode::write(&mut out, &S::store(domain)).map_err(Problem::internal)?;
    Ok(out)
}

fn decode<S: Stored + DeserializeOwned>(what: &str, body: &[u8]) -> Result<S::Domain, Problem> {
    match body.split_first() {
        Some((&FORMAT, rest)) => rmp_serde::from_slice::<S>(rest)
            .map_err(Problem::internal)?
            .load(),
        other => Err(Problem::internal(format!(
            "stored {what} of unknown format {:?}",
            other.map(|(f, _)| f)
        ))),
    }
}

/// Encodes a contract as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_contract(contract: &c::Contract) -> Result<Vec<u8>, Problem> {
    encode::<StoredContract>(contract)
}

/// Decodes a stored contract.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_contract(body: &[u8]) -> Result<c::Contract, Problem> {
    decode::<StoredContract>("contract", body)
}

/// Encodes an invoice as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_invoice(invoice: &i::Invoice) -> Result<Vec<u8>, Problem> {
    encode::<StoredInvoice>(invoice)
}

/// Encodes a payment attempt as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_attempt(attempt: &p::PaymentAttempt) -> Result<Vec<u8>, Problem> {
    encode::<StoredAttempt>(attempt)
}

/// Decodes a stored payment attempt.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_attempt(body: &[u8]) -> Result<p::PaymentAttempt, Problem> {
    decode::<StoredAttempt>("payment attempt", body)
}

/// Encodes a follow-up as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_follow_up(follow_up: &f::FollowUp) -> Result<Vec<u8>, Problem> {
    encode::<StoredFollowUp>(follow_up)
}

/// Decodes a stored follow-up.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_follow_up(body: &[u8]) -> Result<f::FollowUp, Problem> {
    decode::<StoredFollowUp>("follow-up", body)
}

/// Decodes a stored invoice.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_invoice(body: &[u8]) -> Result<i::Invoice, Problem> {
    decode::<StoredInvoice>("invoice", body)
}

fn unknown(what: &str) -> Problem {
    Problem::internal(format!("a stored {what} this build does not know"))
}

macro_rules! stored_id {
    ($name:ident => $domain:ty, $what:literal) => {
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        struct $name(String);

        impl Stored for $name {
            type Domain = $domain;
            fn store(domain: &$domain) -> Self {
                $name(domain.as_str().to_owned())
            }
            fn load(self) -> Result<$domain, Problem> {
                <$domain>::parse(&self.0).map_err(|_| unknown($what))
            }
        }
    };
}

stored_id!(StoredContractId => v::ContractId, "contract id");
stored_id!(StoredOrderId => v::OrderId, "order id");
stored_id!(StoredInvoiceId => v::InvoiceId, "invoice id");
stored_id!(StoredFollowUpId => v::FollowUpId, "follow-up id");
stored_id!(StoredAttemptId => v::AttemptId, "payment attempt id");

stored_struct!(StoredAttempt => p::PaymentAttempt {
    id: StoredAttemptId,
    invoice: StoredInvoiceId,
    contract: StoredContractId,
    owner: String,
    account: StoredParty,
    result: StoredResult,
    currency: CurrencyCode,
    amount: i64,
    decline_type: Option<StoredDecline>,
    failure_code: String,
    failure_message: String,
    processor: String,
    processor_reference: String,
    payment_method: String,
    attempt_time: i64,
    attempt_number: i32,
    dunning_retry: bool,
    follow_up: Option<StoredFollowUpId>,
    recorded_by: StoredActor,
    create_time: i64,
});

stored_struct!(StoredFollowUp => f::FollowUp {
    id: StoredFollowUpId,
    assignee: String,
    status: StoredFollowUpStatus,
    invoice: StoredInvoiceId,
    contract: StoredContractId,
    account: StoredParty,
    currency: CurrencyCode,
    summary: String,
    payment_attempts: Vec<StoredAttemptId>,
    last_decline_type: Option<StoredDecline>,
    last_failure_code: String,
    amount_remaining: i64,
    next_retry_time: Option<i64>,
    resolution_note: String,
    resolved_by: Option<StoredActor>,
    resolve_time: Option<i64>,
    create_time: i64,
    update_time: i64,
    version: i64,
});

stored_struct!(StoredContract => c::Contract {
    id: StoredContractId,
    snapshot: StoredSnapshot,
    currency: CurrencyCode,
    title: String,
    status: StoredStatus,
    deliverables: Vec<StoredDeliverable>,
    schedule: Vec<StoredInstallment>,
    obligations: Vec<StoredObligation>,
    terms: StoredTerms,
    signers: Vec<StoredSigner>,
    notes: String,
    document_uri: String,
    envelope_id: String,
    send_time: Option<i64>,
    expire_time: Option<i64>,
    sign_time: Option<i64>,
    activate_time: Option<i64>,
    close_time: Option<i64>,
    status_reason: String,
    termination_reason: Option<StoredTermination>,
    history: Vec<StoredStatusChange>,
    order: Option<StoredOrder>,
    create_time: i64,
    update_time: i64,
    version: i64,
    next_part: u32,
});

stored_struct!(StoredSnapshot => c::Snapshot {
    opportunity: String,
    account: StoredParty,
    owner: String,
    title: String,
    kind: StoredKind,
    line_items: Vec<StoredLineItem>,
    amount: i64,
    close_date: Date,
    prior_contract_value: Option<i64>,
});

stored_struct!(StoredParty => v::Party { account_id: String, display_name: String });

stored_struct!(StoredActor => v::Actor { subject: String, role: String });

stored_struct!(StoredContact => v::Contact {
    display_name: String,
    email: Option<Email>,
    phone: String,
    title: String,
});

stored_struct!(StoredLineItem => c::SnapshotLineItem {
    product_id: String,
    product_name: String,
    quantity: i64,
    list_unit: i64,
    sold_unit: i64,
    unit_cost: i64,
});

stored_struct!(StoredDeliverable => c::Deliverable {
    id: String,
    description: String,
    due_date: Option<Date>,
    product_id: String,
    status: StoredDeliverableStatus,
    status_note: String,
    status_updated_by: Option<StoredActor>,
    status_update_time: Option<i64>,
    deliver_time: Option<i64>,
});

stored_struct!(StoredInstallment => c::Installment {
    id: String,
    description: String,
    amount: i64,
    due_date: Date,
    service_period: Option<(Date, Date)>,
    invoice: Option<StoredInvoiceId>,
});

stored_struct!(StoredObligation => c::ClientObligation {
    id: String,
    kind: StoredObligationKind,
    description: String,
    due_date: Option<Date>,
    status: StoredObligationStatus,
    status_note: String,
    status_updated_by: Option<StoredActor>,
    status_update_time: Option<i64>,
});

stored_struct!(StoredTerms => c::Terms {
    payment_terms_days: i32,
    start_date: Option<Date>,
    term_months: Option<i32>,
    auto_renew: bool,
    renewal_notice_days: i32,
});

stored_struct!(StoredSigner => c::Signer {
    id: String,
    side: StoredSide,
    contact: StoredContact,
    subject: String,
    status: StoredSignerStatus,
    sign_time: Option<i64>,
    signature_reference: String,
    recorded_by: Option<StoredActor>,
});

stored_struct!(StoredStatusChange => c::StatusChange {
    from: Option<StoredStatus>,
    to: StoredStatus,
    time: i64,
    actor: StoredActor,
    reason: String,
});

stored_struct!(StoredOrder => c::Order {
    id: StoredOrderId,
    number: String,
    notes: String,
    placed_by: StoredActor,
    place_time: i64,
    fulfill_time: Option<i64>,
    cancelled: bool,
    invoices: Vec<StoredInvoiceId>,
    handoff_command: String,
    update_time: i64,
});

stored_struct!(StoredInvoice => i::Invoice {
    id: StoredInvoiceId,
    contract: StoredContractId,
    number: String,
    account: StoredParty,
    owner: String,
    currency: CurrencyCode,
    installment_id: String,
    description: String,
    amount_due: i64,
    amount_paid: i64,
    issue_date: Date,
    due_date: Date,
    service_period: Option<(Date, Date)>,
    settled: Option<StoredSettled>,
    status_reason: String,
    paid_time: Option<i64>,
    last_attempt_time: Option<i64>,
    dunning: StoredDunning,
    open_follow_up: Option<StoredFollowUpId>,
    attempt_count: i32,
    create_time: i64,
    update_time: i64,
    version: i64,
    last_payment_time: Option<i64>,
});

stored_struct!(StoredDunning => i::Dunning {
    status: Option<StoredDunningStatus>,
    retry_days: Vec<i32>,
    cycle_start_time: Option<i64>,
    retry_times: Vec<i64>,
    next_retry_time: Option<i64>,
    retries_remaining: i32,
    failed_attempt_count: i32,
    last_failure_time: Option<i64>,
    last_decline_type: Option<StoredDecline>,
    last_failure_code: String,
});

use crate::domain::invoice::Settled;

stored_enum!(StoredKind => DealKind { NewBusiness, Expansion, Renewal });
stored_enum!(StoredStatus => ContractStatus {
    Draft,
    Sent,
    Signed,
    Active,
    Completed,
    Terminated,
    Declined,
    Voided,
    Expired,
});
stored_enum!(StoredDeliverableStatus => DeliverableStatus {
    Pending,
    InProgress,
    Delivered,
    Accepted,
    Cancelled,
});
stored_enum!(StoredSide => SignerSide { Client, Company });
stored_enum!(StoredSignerStatus => SignerStatus { Pending, Signed, Declined });
stored_enum!(StoredTermination => TerminationReason {
    ClientRequest,
    NonPayment,
    ClientBreach,
    CompanyBreach,
    MutualAgreement,
    Other,
});
stored_enum!(StoredObligationKind => ObligationKind {
    Access,
    Communication,
    Data,
    Resources,
    Approval,
    Other,
});
stored_enum!(StoredObligationStatus => ObligationStatus {
    Pending,
    InProgress,
    AtRisk,
    Fulfilled,
    Missed,
    Waived,
});
stored_enum!(StoredSettled => Settled { Paid, Void, Uncollectible });
stored_enum!(StoredDunningStatus => DunningStatus {
    None,
    Retrying,
    Exhausted,
    HardDeclined,
    Ended,
});
stored_enum!(StoredDecline => DeclineType { Soft, Hard });
stored_enum!(StoredResult => PaymentResult { Succeeded, Failed });
stored_enum!(StoredFollowUpStatus => FollowUpStatus { Open, Resolved });
