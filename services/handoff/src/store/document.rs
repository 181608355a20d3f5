//! The stored form of a handoff: types of its own, apart from the domain's, so that reordering or
//! renaming something in the domain cannot change what is on disk.
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
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::handoff as h;
use crate::domain::snapshot as s;
use crate::domain::vocabulary as v;
use crate::domain::vocabulary::{
    ClientObligationKind, GoalOrigin, HandoffStatus, IntroductionKind, IntroductionState,
    MilestoneOrigin, ObligationStatus, OnboardingStepStatus, PartySide, StakeholderRole,
    SupportContactKind,
};

/// The format written now.
const FORMAT: u8 = 1;

/// Encodes a handoff as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode_handoff(handoff: &h::Handoff) -> Result<Vec<u8>, Problem> {
    let mut out = vec![FORMAT];
    rmp_serde::encode::write(&mut out, &StoredHandoff::store(handoff))
        .map_err(Problem::internal)?;
    Ok(out)
}

/// Decodes a stored handoff.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode_handoff(body: &[u8]) -> Result<h::Handoff, Problem> {
    match body.split_first() {
        Some((&FORMAT, rest)) => rmp_serde::from_slice::<StoredHandoff>(rest)
            .map_err(Problem::internal)?
            .load(),
        other => Err(Problem::internal(format!(
            "stored handoff of unknown format {:?}",
            other.map(|(f, _)| f)
        ))),
    }
}

fn unknown(what: &str) -> Problem {
    Problem::internal(format!("a stored {what} this build does not know"))
}

#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredHandoffId(String);

impl Stored for StoredHandoffId {
    type Domain = v::HandoffId;
    fn store(domain: &v::HandoffId) -> Self {
        StoredHandoffId(domain.as_str().to_owned())
    }
    fn load(self) -> Result<v::HandoffId, Problem> {
        v::HandoffId::parse(&self.0).map_err(|_| unknown("handoff id"))
    }
}

/// A counter (the handoff's last part number).
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredCount(u64);

impl Stored for StoredCount {
    type Domain = u64;
    fn store(domain: &u64) -> Self {
        StoredCount(*domain)
    }
    fn load(self) -> Result<u64, Problem> {
        Ok(self.0)
    }
}

/// Where the prefill stands, with what each state carries.
#[derive(Serialize, Deserialize)]
enum StoredPrefill {
    Pending { failure: String, time: i64 },
    Done { time: i64 },
    Failed { reason: String, time: i64 },
}

impl Stored for StoredPrefill {
    type Domain = h::PrefillState;
    fn store(domain: &h::PrefillState) -> Self {
        match domain {
            h::PrefillState::Pending { failure, time } => StoredPrefill::Pending {
                failure: failure.clone(),
                time: *time,
            },
            h::PrefillState::Done { time } => StoredPrefill::Done { time: *time },
            h::PrefillState::Failed { reason, time } => StoredPrefill::Failed {
                reason: reason.clone(),
                time: *time,
            },
        }
    }
    fn load(self) -> Result<h::PrefillState, Problem> {
        Ok(match self {
            StoredPrefill::Pending { failure, time } => h::PrefillState::Pending { failure, time },
            StoredPrefill::Done { time } => h::PrefillState::Done { time },
            StoredPrefill::Failed { reason, time } => h::PrefillState::Failed { reason, time },
        })
    }
}

stored_struct!(StoredHandoff => h::Handoff {
    id: StoredHandoffId,
    status: StoredStatus,
    snapshot: StoredSnapshot,
    salesperson: String,
    account_manager: Option<String>,
    customer_needs: Vec<StoredNeed>,
    goals: Vec<StoredGoal>,
    verbal_commitments: Vec<StoredCommitment>,
    no_verbal_commitments: bool,
    stakeholders: Vec<StoredStakeholder>,
    delivery_timeline: Vec<StoredMilestone>,
    support_contacts: Vec<StoredSupportContact>,
    onboarding_plan: Vec<StoredStep>,
    introduction: StoredIntroduction,
    previous_introductions: Vec<StoredIntroduction>,
    rejections: Vec<StoredRejection>,
    status_history: Vec<StoredStatusChange>,
    account_opening: StoredAccountOpening,
    notes: String,
    account_manager_notes: String,
    prefill: StoredPrefill,
    submit_time: Option<i64>,
    accept_time: Option<i64>,
    create_time: i64,
    update_time: i64,
    version: i64,
    next_part: StoredCount,
});

stored_struct!(StoredSnapshot => s::ContractSnapshot {
    contract: String,
    order: String,
    opportunity: String,
    account: StoredParty,
    salesperson: String,
    title: String,
    contract_value: StoredMoney,
    start_date: Date,
    end_date: Date,
    term_months: i32,
    auto_renew: bool,
    payment_terms_days: i32,
    deliverables: Vec<StoredDeliverable>,
    client_obligations: Vec<StoredClientObligation>,
    payment_schedule: Vec<StoredInstallment>,
    line_items: Vec<StoredLineItem>,
    signers: Vec<StoredSigner>,
    order_time: i64,
});

stored_struct!(StoredMoney => closeloop_kit::types::Money { currency: CurrencyCode, minor: i64 });

stored_struct!(StoredParty => v::Party { account_id: String, display_name: String });

stored_struct!(StoredActor => v::Actor { subject: String, role: String });

stored_struct!(StoredContact => v::Contact {
    display_name: String,
    email: Option<Email>,
    phone: String,
    title: String,
});

stored_struct!(StoredDeliverable => s::ContractDeliverable {
    id: String,
    description: String,
    due_date: Date,
    status: StoredObligationStatus,
});

stored_struct!(StoredClientObligation => s::ClientObligation {
    id: String,
    kind: StoredClientObligationKind,
    description: String,
    due_date: Option<Date>,
    status: StoredObligationStatus,
});

stored_struct!(StoredInstallment => s::PaymentInstallment {
    id: String,
    amount: StoredMoney,
    due_date: Date,
    invoice: String,
    description: String,
});

stored_struct!(StoredLineItem => s::ContractLineItem {
    product_id: String,
    product_name: String,
    quantity: i64,
    unit_price: StoredMoney,
    unit_cost: Option<StoredMoney>,
    amount: StoredMoney,
});

stored_struct!(StoredSigner => s::ContractSigner {
    contact: StoredContact,
    side: StoredSide,
    sign_time: Option<i64>,
});

stored_struct!(StoredNeed => h::CustomerNeed { description: String, details: String });

stored_struct!(StoredGoal => h::Goal {
    id: String,
    description: String,
    success_criteria: Vec<StoredCriterion>,
    target_date: Option<Date>,
    origin: StoredGoalOrigin,
});

stored_struct!(StoredCriterion => h::SuccessCriterion {
    description: String,
    target_date: Option<Date>,
});

stored_struct!(StoredCommitment => h::VerbalCommitment {
    description: String,
    promised_by: StoredContact,
    promised_to: StoredContact,
    promise_date: Option<Date>,
    due_date: Option<Date>,
    notes: String,
});

stored_struct!(StoredStakeholder => h::Stakeholder {
    contact: StoredContact,
    role: StoredStakeholderRole,
    primary: bool,
});

stored_struct!(StoredMilestone => h::Milestone {
    id: String,
    title: String,
    due_date: Date,
    description: String,
    deliverable_ids: Vec<String>,
    origin: StoredMilestoneOrigin,
});

stored_struct!(StoredSupportContact => h::SupportContact {
    kind: StoredSupportKind,
    contact: StoredContact,
    notes: String,
});

stored_struct!(StoredStep => h::OnboardingStep {
    id: String,
    title: String,
    description: String,
    owner: Option<String>,
    client_contact: Option<StoredContact>,
    due_date: Option<Date>,
    status: StoredStepStatus,
    status_note: String,
    complete_time: Option<i64>,
    status_update_time: Option<i64>,
    status_updated_by: Option<StoredActor>,
});

stored_struct!(StoredAttendee => h::Attendee {
    contact: StoredContact,
    side: StoredSide,
    subject: String,
});

stored_struct!(StoredIntroduction => h::Introduction {
    state: StoredIntroductionState,
    kind: Option<StoredIntroductionKind>,
    schedule_time: Option<i64>,
    attendees: Vec<StoredAttendee>,
    location: String,
    complete_time: Option<i64>,
    notes: String,
    scheduled_by: Option<StoredActor>,
    schedule_record_time: Option<i64>,
    completed_by: Option<StoredActor>,
    account_manager: String,
});

stored_struct!(StoredRejection => h::Rejection {
    reasons: Vec<String>,
    rejected_by: StoredActor,
    reject_time: i64,
});

stored_struct!(StoredStatusChange => h::StatusChange {
    from: Option<StoredStatus>,
    to: StoredStatus,
    time: i64,
    actor: StoredActor,
    reasons: Vec<String>,
});

stored_struct!(StoredAccountOpening => h::AccountOpening {
    request_time: Option<i64>,
    account: String,
    open_time: Option<i64>,
});

stored_enum!(StoredStatus => HandoffStatus { Draft, Ready, Accepted });
stored_enum!(StoredStakeholderRole => StakeholderRole {
    DecisionMaker,
    EconomicBuyer,
    Champion,
    TechnicalEvaluator,
    Influencer,
    User,
});
stored_enum!(StoredSupportKind => SupportContactKind {
    DayToDay,
    Billing,
    Technical,
    ExecutiveSponsor,
    Escalation,
    Other,
});
stored_enum!(StoredSide => PartySide { Client, Company });
stored_enum!(StoredGoalOrigin => GoalOrigin { OpportunityObjective, Added });
stored_enum!(StoredMilestoneOrigin => MilestoneOrigin { Contract, Added });
stored_enum!(StoredStepStatus => OnboardingStepStatus {
    NotStarted,
    InProgress,
    Blocked,
    Done,
    Skipped,
});
stored_enum!(StoredIntroductionKind => IntroductionKind { JointCall, Email });
stored_enum!(StoredIntroductionState => IntroductionState {
    NotScheduled,
    Scheduled,
    Completed,
});
stored_enum!(StoredClientObligationKind => ClientObligationKind {
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
