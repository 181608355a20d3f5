//! The stored form of an opportunity: its own types, apart from the domain's, so that reordering
//! or renaming something in the domain cannot change what is on disk.
//!
//! Format 1, the only one so far: a format byte (`0x01`) then MessagePack with each struct as an
//! array of its fields in the order written here, and enum values by the names written here.
//! Half the size of the same document with field names (about 1.3 KiB instead of 2.7 KiB, so
//! three fit a database page instead of one) and a third cheaper to parse. Rules that keep old
//! rows readable:
//! - a field is only ever added at the end of its struct, with `#[serde(default)]`: a document
//!   that stops short of it reads it as its default;
//! - nothing is removed, reordered, renamed or retyped; such a change is a new format, with types
//!   of its own and a conversion from this one.
//!
//! Documents written before the format byte existed start with a MessagePack array or map marker
//! (0x80 and above), never 0x01, and read as format 1. Documents written with field names (maps)
//! read too.

use closeloop_kit::Problem;
use closeloop_kit::stored::Stored;
use closeloop_kit::types::{CurrencyCode, Email};
use closeloop_kit::{stored_enum, stored_struct};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::opportunity as d;
use crate::domain::opportunity::{
    DisqualificationReason, Kind, LossReason, Outcome, Source, StakeholderRole,
};
use crate::domain::stage::{ForecastCategory, Stage};

/// The format written now.
const FORMAT: u8 = 1;

/// Encodes an opportunity as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode(o: &d::Opportunity) -> Result<Vec<u8>, Problem> {
    let mut out = vec![FORMAT];
    rmp_serde::encode::write(&mut out, &StoredOpportunity::store(o)).map_err(Problem::internal)?;
    Ok(out)
}

/// Decodes a stored opportunity, of any format this build reads.
///
/// # Errors
/// INTERNAL when the document is malformed or of a format this build does not know.
pub fn decode(body: &[u8]) -> Result<d::Opportunity, Problem> {
    let body = match body.first() {
        Some(&FORMAT) => &body[1..],
        // Written before the format byte: format 1.
        Some(&marker) if marker >= 0x80 => body,
        other => {
            return Err(Problem::internal(format!(
                "stored opportunity of unknown format {other:?}"
            )));
        }
    };
    let stored: StoredOpportunity = rmp_serde::from_slice(body).map_err(Problem::internal)?;
    stored.load()
}

fn unknown(what: &str) -> Problem {
    Problem::internal(format!("a stored {what} this build does not know"))
}

/// An opportunity's id, stored as its text.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct StoredId(String);

impl Stored for StoredId {
    type Domain = d::OpportunityId;
    fn store(domain: &d::OpportunityId) -> Self {
        StoredId(domain.as_str().to_owned())
    }
    fn load(self) -> Result<d::OpportunityId, Problem> {
        d::OpportunityId::parse(&self.0).map_err(|_| unknown("opportunity id"))
    }
}

stored_struct!(StoredOpportunity => d::Opportunity {
    id: StoredId,
    account: StoredParty,
    owner: String,
    title: String,
    description: String,
    kind: StoredKind,
    source: StoredSource,
    stage: StoredStage,
    currency: CurrencyCode,
    expected_close_date: Date,
    stakeholders: Vec<StoredStakeholder>,
    objectives: Vec<StoredObjective>,
    evaluation: StoredEvaluation,
    line_items: Vec<StoredLineItem>,
    qualification: Option<StoredQualification>,
    next_step: Option<StoredNextStep>,
    prior_contract_value: Option<i64>,
    referring_account: Option<StoredParty>,
    stage_history: Vec<StoredStageChange>,
    close: Option<StoredClose>,
    probability_override: Option<i32>,
    forecast_override: Option<StoredCategory>,
    push_count: i32,
    stage_entered: i64,
    create_time: i64,
    update_time: i64,
    version: i64,
    next_line_item: u32,
});

stored_struct!(StoredParty => d::Party { account_id: String, display_name: String });

stored_struct!(StoredContact => d::Contact {
    display_name: String,
    email: Email,
    phone: String,
    title: String,
});

stored_struct!(StoredStakeholder => d::Stakeholder {
    contact: StoredContact,
    role: StoredRole,
    primary: bool,
});

stored_struct!(StoredObjective => d::Objective { description: String, success_measure: String });

stored_struct!(StoredStep => d::EvaluationStep {
    description: String,
    due_date: Option<Date>,
    completed: bool,
});

stored_struct!(StoredEvaluation => d::EvaluationProcess {
    criteria: Vec<String>,
    steps: Vec<StoredStep>,
    time_frame: Option<(Date, Date)>,
});

stored_struct!(StoredNextStep => d::NextStep { description: String, due_date: Option<Date> });

stored_struct!(StoredActor => d::Actor { subject: String, role: String });

stored_struct!(StoredApproval => d::DiscountApproval {
    approver: StoredActor,
    reason: String,
    approved_discount_bps: i32,
    time: i64,
});

stored_struct!(StoredQualification => d::Qualification {
    client_benefit: bool,
    realistic_expectations: bool,
    mature_partner: bool,
    notes: String,
    assessed_by: StoredActor,
    time: i64,
});

stored_struct!(StoredStageChange => d::StageChange {
    from: StoredStage,
    to: StoredStage,
    time: i64,
    actor: StoredActor,
    time_in_stage: i64,
});

stored_struct!(StoredClose => d::CloseRecord {
    outcome: StoredOutcome,
    close_date: Date,
    loss_reason: Option<StoredLossReason>,
    disqualification_reason: Option<StoredDisqualification>,
    competitor: String,
    notes: String,
    closed_by: StoredActor,
    time: i64,
});

/// A line item. Its approvals were once one field (`approval`, the one in effect); since they
/// are kept whole they are `approvals`, added at the end, and `approval` is always empty.
#[derive(Serialize, Deserialize)]
struct StoredLineItem {
    id: String,
    product_id: String,
    product_name: String,
    quantity: i64,
    list_unit: i64,
    sold_unit: i64,
    unit_cost: i64,
    approval: Option<StoredApproval>,
    #[serde(default)]
    approvals: Vec<StoredApproval>,
}

impl Stored for StoredLineItem {
    type Domain = d::LineItem;
    fn store(li: &d::LineItem) -> Self {
        StoredLineItem {
            id: li.id.clone(),
            product_id: li.product_id.clone(),
            product_name: li.product_name.clone(),
            quantity: li.quantity,
            list_unit: li.list_unit,
            sold_unit: li.sold_unit,
            unit_cost: li.unit_cost,
            approval: None,
            approvals: Stored::store(&li.approvals),
        }
    }
    fn load(self) -> Result<d::LineItem, Problem> {
        let mut approvals = self.approval.into_iter().collect::<Vec<_>>();
        approvals.extend(self.approvals);
        Ok(d::LineItem {
            id: self.id,
            product_id: self.product_id,
            product_name: self.product_name,
            quantity: self.quantity,
            list_unit: self.list_unit,
            sold_unit: self.sold_unit,
            unit_cost: self.unit_cost,
            approvals: approvals.load()?,
        })
    }
}

stored_enum!(StoredKind => Kind { NewBusiness, Expansion, Renewal });
stored_enum!(StoredSource => Source {
    Prospecting,
    Inbound,
    Referral,
    AccountExpansion,
    Renewal,
});
stored_enum!(StoredStage => Stage {
    Prospecting,
    Qualification,
    Proposal,
    Negotiation,
    ClosedWon,
    ClosedLost,
    Disqualified,
});
stored_enum!(StoredCategory => ForecastCategory { Pipeline, BestCase, Commit, Closed, Omitted });
stored_enum!(StoredRole => StakeholderRole {
    DecisionMaker,
    EconomicBuyer,
    Champion,
    TechnicalEvaluator,
    Influencer,
    User,
});
stored_enum!(StoredOutcome => Outcome { Won, Lost, Disqualified });
stored_enum!(StoredLossReason => LossReason {
    Price,
    Competitor,
    NoDecision,
    Timing,
    ProductFit,
    Other,
});
stored_enum!(StoredDisqualification => DisqualificationReason {
    NoClientBenefit,
    UnrealisticExpectations,
    MarginTooLow,
    ImmaturePartner,
    NoBudget,
    Other,
});
