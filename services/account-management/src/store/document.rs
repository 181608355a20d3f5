//! The stored form of an account: types of its own, apart from the domain's, so that reordering
//! or renaming something in the domain cannot change what is on disk.
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
use closeloop_kit::types::{CurrencyCode, Email, Money};
use closeloop_kit::{stored_enum, stored_struct};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::account as a;
use crate::domain::check_ins as ci;
use crate::domain::operations as ops;
use crate::domain::opportunities as opp;
use crate::domain::vocabulary as v;
use crate::domain::vocabulary::{
    AccountStatus, CheckInChannel, ChurnReason, ContactRole, IssueState, ObligationKind,
    ObligationParty, ObligationStatus, OperationsUpdateKind, OutcomeStatus, Severity,
};
use crate::domain::vocabulary::{ExpansionKind, StakeholderRole};

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

/// Encodes an account as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_account(account: &a::Account) -> Result<Vec<u8>, Problem> {
    encode::<StoredAccount>(account)
}

/// Decodes a stored account.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_account(body: &[u8]) -> Result<a::Account, Problem> {
    decode::<StoredAccount>("account", body)
}

fn unknown(what: &str) -> Problem {
    Problem::internal(format!("a stored {what} this build does not know"))
}

/// Encodes a check-in as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_check_in(c: &ci::CheckIn) -> Result<Vec<u8>, Problem> {
    encode::<StoredCheckIn>(c)
}

/// Decodes a stored check-in.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_check_in(body: &[u8]) -> Result<ci::CheckIn, Problem> {
    decode::<StoredCheckIn>("check-in", body)
}

/// A check-in id, as its text.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredCheckInId(String);

impl Stored for StoredCheckInId {
    type Domain = v::CheckInId;
    fn store(domain: &v::CheckInId) -> Self {
        StoredCheckInId(domain.as_str().to_owned())
    }
    fn load(self) -> Result<v::CheckInId, Problem> {
        v::CheckInId::parse(&self.0).map_err(|_| unknown("check-in id"))
    }
}

/// Encodes an operations update as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_update(u: &ops::OperationsUpdate) -> Result<Vec<u8>, Problem> {
    encode::<StoredUpdate>(u)
}

/// Decodes a stored operations update.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_update(body: &[u8]) -> Result<ops::OperationsUpdate, Problem> {
    decode::<StoredUpdate>("operations update", body)
}

/// An operations update id, as its text.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredUpdateId(String);

impl Stored for StoredUpdateId {
    type Domain = v::OperationsUpdateId;
    fn store(domain: &v::OperationsUpdateId) -> Self {
        StoredUpdateId(domain.as_str().to_owned())
    }
    fn load(self) -> Result<v::OperationsUpdateId, Problem> {
        v::OperationsUpdateId::parse(&self.0).map_err(|_| unknown("operations update id"))
    }
}

/// A measured figure, as MessagePack's double.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredF64(f64);

impl Stored for StoredF64 {
    type Domain = f64;
    fn store(domain: &f64) -> Self {
        StoredF64(*domain)
    }
    fn load(self) -> Result<f64, Problem> {
        Ok(self.0)
    }
}

/// Encodes an expansion as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_expansion(e: &opp::Expansion) -> Result<Vec<u8>, Problem> {
    encode::<StoredExpansion>(e)
}

/// Decodes a stored expansion.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_expansion(body: &[u8]) -> Result<opp::Expansion, Problem> {
    decode::<StoredExpansion>("expansion", body)
}

/// Encodes a referral as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_referral(r: &opp::Referral) -> Result<Vec<u8>, Problem> {
    encode::<StoredReferral>(r)
}

/// Decodes a stored referral.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_referral(body: &[u8]) -> Result<opp::Referral, Problem> {
    decode::<StoredReferral>("referral", body)
}

/// An expansion id, as its text.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredExpansionId(String);

impl Stored for StoredExpansionId {
    type Domain = v::ExpansionId;
    fn store(domain: &v::ExpansionId) -> Self {
        StoredExpansionId(domain.as_str().to_owned())
    }
    fn load(self) -> Result<v::ExpansionId, Problem> {
        v::ExpansionId::parse(&self.0).map_err(|_| unknown("expansion id"))
    }
}

/// A referral id, as its text.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredReferralId(String);

impl Stored for StoredReferralId {
    type Domain = v::ReferralId;
    fn store(domain: &v::ReferralId) -> Self {
        StoredReferralId(domain.as_str().to_owned())
    }
    fn load(self) -> Result<v::ReferralId, Problem> {
        v::ReferralId::parse(&self.0).map_err(|_| unknown("referral id"))
    }
}

/// An account id, as its text.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredAccountId(String);

impl Stored for StoredAccountId {
    type Domain = v::AccountId;
    fn store(domain: &v::AccountId) -> Self {
        StoredAccountId(domain.as_str().to_owned())
    }
    fn load(self) -> Result<v::AccountId, Problem> {
        v::AccountId::parse(&self.0).map_err(|_| unknown("account id"))
    }
}

/// A counter of part ids.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredCounter(u64);

impl Stored for StoredCounter {
    type Domain = u64;
    fn store(domain: &u64) -> Self {
        StoredCounter(*domain)
    }
    fn load(self) -> Result<u64, Problem> {
        Ok(self.0)
    }
}

stored_struct!(StoredAccount => a::Account {
    id: StoredAccountId,
    customer: StoredParty,
    handoff: String,
    later_handoffs: Vec<String>,
    account_manager: String,
    salesperson: String,
    status: StoredStatus,
    currency: CurrencyCode,
    start_date: Date,
    contracts: Vec<StoredContract>,
    outcomes: Vec<StoredOutcome>,
    obligations: Vec<StoredObligation>,
    contacts: Vec<StoredAccountContact>,
    needs: Vec<String>,
    check_in_cadence_days: Option<i32>,
    last_check_in: Option<StoredLastCheckIn>,
    open_issue_count: i32,
    status_reason: String,
    churn: Option<StoredChurn>,
    status_history: Vec<StoredStatusChange>,
    notes: String,
    create_time: i64,
    update_time: i64,
    version: i64,
    next_part: StoredCounter,
});

stored_struct!(StoredMoney => Money { currency: CurrencyCode, minor: i64 });

stored_struct!(StoredParty => v::Party { account_id: String, display_name: String });

stored_struct!(StoredActor => v::Actor { subject: String, role: String });

stored_struct!(StoredContact => v::Contact {
    display_name: String,
    email: Option<Email>,
    phone: String,
    title: String,
});

stored_struct!(StoredContract => a::ContractReference {
    contract: String,
    opportunity: String,
    handoff: String,
    value: StoredMoney,
    start_date: Date,
    end_date: Option<Date>,
    term_months: i32,
    auto_renew: bool,
    gross_margin_bps: i32,
    title: String,
});

stored_struct!(StoredOutcome => a::Outcome {
    id: String,
    goal: String,
    success_criteria: Vec<String>,
    target_date: Option<Date>,
    status: StoredOutcomeStatus,
    progress_percent: i32,
    progress_note: String,
    progress_update_time: Option<i64>,
    last_check_in: String,
});

stored_struct!(StoredObligation => a::Obligation {
    id: String,
    party: StoredObligationParty,
    kind: StoredObligationKind,
    description: String,
    due_date: Option<Date>,
    amount: Option<StoredMoney>,
    contract: String,
    external_id: String,
    status: StoredObligationStatus,
    status_note: String,
    status_update_time: Option<i64>,
    status_updated_by: Option<StoredActor>,
});

stored_struct!(StoredAccountContact => a::AccountContact {
    contact: StoredContact,
    role: StoredContactRole,
    primary: bool,
});

stored_struct!(StoredChurn => a::ChurnRecord {
    churn_date: Date,
    reason: StoredChurnReason,
    notes: String,
});

stored_struct!(StoredStatusChange => a::StatusChange {
    from: Option<StoredStatus>,
    to: StoredStatus,
    reason: String,
    churn_reason: Option<StoredChurnReason>,
    effective_date: Date,
    actor: StoredActor,
    time: i64,
});

stored_struct!(StoredLastCheckIn => a::LastCheckIn { time: i64, satisfaction: i32 });

stored_enum!(StoredStatus => AccountStatus { Active, AtRisk, Churned });
stored_enum!(StoredChurnReason => ChurnReason {
    Price,
    Competitor,
    OutcomesNotMet,
    ServiceQuality,
    Budget,
    BusinessChange,
    NonPayment,
    Other,
});
stored_enum!(StoredObligationParty => ObligationParty { Company, Client });
stored_enum!(StoredObligationKind => ObligationKind {
    Deliverable,
    ServiceLevel,
    Commitment,
    Payment,
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
    Delivered,
    Fulfilled,
    Missed,
    Waived,
    Cancelled,
});
stored_enum!(StoredOutcomeStatus => OutcomeStatus {
    NotStarted,
    OnTrack,
    OffTrack,
    Achieved,
    NotAchieved,
});
stored_enum!(StoredContactRole => ContactRole {
    DayToDay,
    Billing,
    ExecutiveSponsor,
    DecisionMaker,
    Technical,
    User,
    Other,
});

stored_struct!(StoredCheckIn => ci::CheckIn {
    id: StoredCheckInId,
    account: StoredAccountId,
    check_in_time: i64,
    satisfaction: i32,
    outcome_progress: Vec<StoredOutcomeProgress>,
    notes: String,
    channel: Option<StoredChannel>,
    attendees: Vec<StoredContact>,
    recorded_by: StoredActor,
    create_time: i64,
    satisfaction_change: i32,
});

stored_struct!(StoredOutcomeProgress => ci::OutcomeProgress {
    outcome_id: String,
    progress_percent: i32,
    status: StoredOutcomeStatus,
    note: String,
    goal: String,
});

stored_enum!(StoredChannel => CheckInChannel {
    Phone,
    VideoCall,
    Meeting,
    OnSite,
    Email,
});

stored_struct!(StoredUpdate => ops::OperationsUpdate {
    id: StoredUpdateId,
    account: StoredAccountId,
    kind: StoredUpdateKind,
    severity: StoredSeverity,
    title: String,
    body: String,
    occur_time: i64,
    measurements: Vec<StoredMeasurement>,
    resolves: Option<StoredUpdateId>,
    obligation_id: String,
    external_ref: String,
    issue_state: Option<StoredIssueState>,
    resolved_by: Option<StoredUpdateId>,
    resolve_time: Option<i64>,
    posted_by: StoredActor,
    create_time: i64,
});

stored_struct!(StoredMeasurement => ops::Measurement {
    metric: String,
    value: StoredF64,
    unit: String,
    target: StoredF64,
    target_met: bool,
});

stored_enum!(StoredUpdateKind => OperationsUpdateKind { Performance, Issue, Resolution });
stored_enum!(StoredSeverity => Severity { Info, Low, Medium, High, Critical });
stored_enum!(StoredIssueState => IssueState { Open, Resolved });

stored_struct!(StoredExpansion => opp::Expansion {
    id: StoredExpansionId,
    account: StoredAccountId,
    kind: StoredExpansionKind,
    title: String,
    description: String,
    estimated_value: Option<StoredMoney>,
    expected_close_date: Date,
    renews_contract: Option<String>,
    prior_contract_value: Option<StoredMoney>,
    owner: String,
    identified_by: StoredActor,
    create_time: i64,
    request: StoredOpportunityRequest,
});

stored_struct!(StoredReferral => opp::Referral {
    id: StoredReferralId,
    account: StoredAccountId,
    referred_company: StoredParty,
    contact: StoredContact,
    contact_role: StoredStakeholderRole,
    title: String,
    notes: String,
    owner: String,
    expected_close_date: Date,
    recorded_by: StoredActor,
    create_time: i64,
    request: StoredOpportunityRequest,
});

stored_struct!(StoredOpportunityRequest => opp::OpportunityRequest {
    command_id: String,
    opportunity: Option<String>,
    open_time: Option<i64>,
});

stored_enum!(StoredExpansionKind => ExpansionKind { Upsell, CrossSell, Renewal });
stored_enum!(StoredStakeholderRole => StakeholderRole {
    DecisionMaker,
    EconomicBuyer,
    Champion,
    TechnicalEvaluator,
    Influencer,
    User,
});
