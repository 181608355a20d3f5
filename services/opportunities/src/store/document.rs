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
use closeloop_kit::enum_map;
use closeloop_kit::types::{CurrencyCode, Email};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::opportunity as d;
use crate::domain::stage::{ForecastCategory, Stage};

/// The format written now.
const FORMAT: u8 = 1;

/// Encodes an opportunity as it is stored.
///
/// # Errors
/// INTERNAL when it does not encode (it always does).
pub fn encode(o: &d::Opportunity) -> Result<Vec<u8>, Problem> {
    let mut out = vec![FORMAT];
    rmp_serde::encode::write(&mut out, &StoredOpportunity::from(o)).map_err(Problem::internal)?;
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
    stored.try_into()
}

fn unknown(what: &str) -> Problem {
    Problem::internal(format!("a stored {what} this build does not know"))
}

#[derive(Serialize, Deserialize)]
struct StoredOpportunity {
    id: String,
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
}

#[derive(Serialize, Deserialize)]
struct StoredParty {
    account_id: String,
    display_name: String,
}

#[derive(Serialize, Deserialize)]
struct StoredContact {
    display_name: String,
    email: Email,
    phone: String,
    title: String,
}

#[derive(Serialize, Deserialize)]
struct StoredStakeholder {
    contact: StoredContact,
    role: StoredRole,
    primary: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredObjective {
    description: String,
    success_measure: String,
}

#[derive(Serialize, Deserialize)]
struct StoredStep {
    description: String,
    due_date: Option<Date>,
    completed: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredEvaluation {
    criteria: Vec<String>,
    steps: Vec<StoredStep>,
    time_frame: Option<(Date, Date)>,
}

#[derive(Serialize, Deserialize)]
struct StoredNextStep {
    description: String,
    due_date: Option<Date>,
}

#[derive(Serialize, Deserialize)]
struct StoredActor {
    subject: String,
    role: String,
}

#[derive(Serialize, Deserialize)]
struct StoredApproval {
    approver: StoredActor,
    reason: String,
    approved_discount_bps: i32,
    time: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredLineItem {
    id: String,
    product_id: String,
    product_name: String,
    quantity: i64,
    list_unit: i64,
    sold_unit: i64,
    unit_cost: i64,
    /// Before approvals were kept whole: the one in effect. Now always empty.
    approval: Option<StoredApproval>,
    /// Every approval, oldest first (added after `approval`).
    #[serde(default)]
    approvals: Vec<StoredApproval>,
}

#[derive(Serialize, Deserialize)]
struct StoredQualification {
    client_benefit: bool,
    realistic_expectations: bool,
    mature_partner: bool,
    notes: String,
    assessed_by: StoredActor,
    time: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredStageChange {
    from: StoredStage,
    to: StoredStage,
    time: i64,
    actor: StoredActor,
    time_in_stage: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredClose {
    outcome: StoredOutcome,
    close_date: Date,
    loss_reason: Option<StoredLossReason>,
    disqualification_reason: Option<StoredDisqualification>,
    competitor: String,
    notes: String,
    closed_by: StoredActor,
    time: i64,
}

#[derive(Serialize, Deserialize)]
enum StoredKind {
    NewBusiness,
    Expansion,
    Renewal,
}
enum_map!(d::Kind => StoredKind { NewBusiness => NewBusiness, Expansion => Expansion, Renewal => Renewal });

#[derive(Serialize, Deserialize)]
enum StoredSource {
    Prospecting,
    Inbound,
    Referral,
    AccountExpansion,
    Renewal,
}
enum_map!(d::Source => StoredSource {
    Prospecting => Prospecting,
    Inbound => Inbound,
    Referral => Referral,
    AccountExpansion => AccountExpansion,
    Renewal => Renewal,
});

#[derive(Serialize, Deserialize)]
enum StoredStage {
    Prospecting,
    Qualification,
    Proposal,
    Negotiation,
    ClosedWon,
    ClosedLost,
    Disqualified,
}
enum_map!(Stage => StoredStage {
    Prospecting => Prospecting,
    Qualification => Qualification,
    Proposal => Proposal,
    Negotiation => Negotiation,
    ClosedWon => ClosedWon,
    ClosedLost => ClosedLost,
    Disqualified => Disqualified,
});

#[derive(Serialize, Deserialize)]
enum StoredCategory {
    Pipeline,
    BestCase,
    Commit,
    Closed,
    Omitted,
}
enum_map!(ForecastCategory => StoredCategory {
    Pipeline => Pipeline,
    BestCase => BestCase,
    Commit => Commit,
    Closed => Closed,
    Omitted => Omitted,
});

#[derive(Serialize, Deserialize)]
enum StoredRole {
    DecisionMaker,
    EconomicBuyer,
    Champion,
    TechnicalEvaluator,
    Influencer,
    User,
}
enum_map!(d::StakeholderRole => StoredRole {
    DecisionMaker => DecisionMaker,
    EconomicBuyer => EconomicBuyer,
    Champion => Champion,
    TechnicalEvaluator => TechnicalEvaluator,
    Influencer => Influencer,
    User => User,
});

#[derive(Serialize, Deserialize)]
enum StoredOutcome {
    Won,
    Lost,
    Disqualified,
}
enum_map!(d::Outcome => StoredOutcome { Won => Won, Lost => Lost, Disqualified => Disqualified });

#[derive(Serialize, Deserialize)]
enum StoredLossReason {
    Price,
    Competitor,
    NoDecision,
    Timing,
    ProductFit,
    Other,
}
enum_map!(d::LossReason => StoredLossReason {
    Price => Price,
    Competitor => Competitor,
    NoDecision => NoDecision,
    Timing => Timing,
    ProductFit => ProductFit,
    Other => Other,
});

#[derive(Serialize, Deserialize)]
enum StoredDisqualification {
    NoClientBenefit,
    UnrealisticExpectations,
    MarginTooLow,
    ImmaturePartner,
    NoBudget,
    Other,
}
enum_map!(d::DisqualificationReason => StoredDisqualification {
    NoClientBenefit => NoClientBenefit,
    UnrealisticExpectations => UnrealisticExpectations,
    MarginTooLow => MarginTooLow,
    ImmaturePartner => ImmaturePartner,
    NoBudget => NoBudget,
    Other => Other,
});

/// A stored enum value back in the domain.
fn back<S, D: TryFrom<S>>(value: S, what: &str) -> Result<D, Problem> {
    D::try_from(value).map_err(|_| unknown(what))
}

fn party(p: &d::Party) -> StoredParty {
    StoredParty {
        account_id: p.account_id.clone(),
        display_name: p.display_name.clone(),
    }
}

fn party_back(p: StoredParty) -> d::Party {
    d::Party {
        account_id: p.account_id,
        display_name: p.display_name,
    }
}

fn actor(a: &d::Actor) -> StoredActor {
    StoredActor {
        subject: a.subject.clone(),
        role: a.role.clone(),
    }
}

fn actor_back(a: StoredActor) -> d::Actor {
    d::Actor {
        subject: a.subject,
        role: a.role,
    }
}

fn approval(a: &d::DiscountApproval) -> StoredApproval {
    StoredApproval {
        approver: actor(&a.approver),
        reason: a.reason.clone(),
        approved_discount_bps: a.approved_discount_bps,
        time: a.time,
    }
}

fn approval_back(a: StoredApproval) -> d::DiscountApproval {
    d::DiscountApproval {
        approver: actor_back(a.approver),
        reason: a.reason,
        approved_discount_bps: a.approved_discount_bps,
        time: a.time,
    }
}

impl From<&d::Opportunity> for StoredOpportunity {
    fn from(o: &d::Opportunity) -> Self {
        StoredOpportunity {
            id: o.id.as_str().to_owned(),
            account: party(&o.account),
            owner: o.owner.clone(),
            title: o.title.clone(),
            description: o.description.clone(),
            kind: o.kind.into(),
            source: o.source.into(),
            stage: o.stage.into(),
            currency: o.currency,
            expected_close_date: o.expected_close_date,
            stakeholders: o
                .stakeholders
                .iter()
                .map(|s| StoredStakeholder {
                    contact: StoredContact {
                        display_name: s.contact.display_name.clone(),
                        email: s.contact.email.clone(),
                        phone: s.contact.phone.clone(),
                        title: s.contact.title.clone(),
                    },
                    role: s.role.into(),
                    primary: s.primary,
                })
                .collect(),
            objectives: o
                .objectives
                .iter()
                .map(|x| StoredObjective {
                    description: x.description.clone(),
                    success_measure: x.success_measure.clone(),
                })
                .collect(),
            evaluation: StoredEvaluation {
                criteria: o.evaluation.criteria.clone(),
                steps: o
                    .evaluation
                    .steps
                    .iter()
                    .map(|s| StoredStep {
                        description: s.description.clone(),
                        due_date: s.due_date,
                        completed: s.completed,
                    })
                    .collect(),
                time_frame: o.evaluation.time_frame,
            },
            line_items: o
                .line_items
                .iter()
                .map(|li| StoredLineItem {
                    id: li.id.clone(),
                    product_id: li.product_id.clone(),
                    product_name: li.product_name.clone(),
                    quantity: li.quantity,
                    list_unit: li.list_unit,
                    sold_unit: li.sold_unit,
                    unit_cost: li.unit_cost,
                    approval: None,
                    approvals: li.approvals.iter().map(approval).collect(),
                })
                .collect(),
            qualification: o.qualification.as_ref().map(|q| StoredQualification {
                client_benefit: q.client_benefit,
                realistic_expectations: q.realistic_expectations,
                mature_partner: q.mature_partner,
                notes: q.notes.clone(),
                assessed_by: actor(&q.assessed_by),
                time: q.time,
            }),
            next_step: o.next_step.as_ref().map(|n| StoredNextStep {
                description: n.description.clone(),
                due_date: n.due_date,
            }),
            prior_contract_value: o.prior_contract_value,
            referring_account: o.referring_account.as_ref().map(party),
            stage_history: o
                .stage_history
                .iter()
                .map(|c| StoredStageChange {
                    from: c.from.into(),
                    to: c.to.into(),
                    time: c.time,
                    actor: actor(&c.actor),
                    time_in_stage: c.time_in_stage,
                })
                .collect(),
            close: o.close.as_ref().map(|c| StoredClose {
                outcome: c.outcome.into(),
                close_date: c.close_date,
                loss_reason: c.loss_reason.map(Into::into),
                disqualification_reason: c.disqualification_reason.map(Into::into),
                competitor: c.competitor.clone(),
                notes: c.notes.clone(),
                closed_by: actor(&c.closed_by),
                time: c.time,
            }),
            probability_override: o.probability_override,
            forecast_override: o.forecast_override.map(Into::into),
            push_count: o.push_count,
            stage_entered: o.stage_entered,
            create_time: o.create_time,
            update_time: o.update_time,
            version: o.version,
            next_line_item: o.next_line_item,
        }
    }
}

impl TryFrom<StoredOpportunity> for d::Opportunity {
    type Error = Problem;

    fn try_from(o: StoredOpportunity) -> Result<Self, Problem> {
        Ok(d::Opportunity {
            id: d::OpportunityId::parse(&o.id).map_err(|_| unknown("opportunity id"))?,
            account: party_back(o.account),
            owner: o.owner,
            title: o.title,
            description: o.description,
            kind: back(o.kind, "kind")?,
            source: back(o.source, "source")?,
            stage: back(o.stage, "stage")?,
            currency: o.currency,
            expected_close_date: o.expected_close_date,
            stakeholders: o
                .stakeholders
                .into_iter()
                .map(|s| {
                    Ok(d::Stakeholder {
                        contact: d::Contact {
                            display_name: s.contact.display_name,
                            email: s.contact.email,
                            phone: s.contact.phone,
                            title: s.contact.title,
                        },
                        role: back(s.role, "stakeholder role")?,
                        primary: s.primary,
                    })
                })
                .collect::<Result<_, Problem>>()?,
            objectives: o
                .objectives
                .into_iter()
                .map(|x| d::Objective {
                    description: x.description,
                    success_measure: x.success_measure,
                })
                .collect(),
            evaluation: d::EvaluationProcess {
                criteria: o.evaluation.criteria,
                steps: o
                    .evaluation
                    .steps
                    .into_iter()
                    .map(|s| d::EvaluationStep {
                        description: s.description,
                        due_date: s.due_date,
                        completed: s.completed,
                    })
                    .collect(),
                time_frame: o.evaluation.time_frame,
            },
            line_items: o
                .line_items
                .into_iter()
                .map(|li| d::LineItem {
                    id: li.id,
                    product_id: li.product_id,
                    product_name: li.product_name,
                    quantity: li.quantity,
                    list_unit: li.list_unit,
                    sold_unit: li.sold_unit,
                    unit_cost: li.unit_cost,
                    // An approval stored before approvals were kept whole is their history.
                    approvals: li
                        .approval
                        .into_iter()
                        .chain(li.approvals)
                        .map(approval_back)
                        .collect(),
                })
                .collect(),
            qualification: o.qualification.map(|q| d::Qualification {
                client_benefit: q.client_benefit,
                realistic_expectations: q.realistic_expectations,
                mature_partner: q.mature_partner,
                notes: q.notes,
                assessed_by: actor_back(q.assessed_by),
                time: q.time,
            }),
            next_step: o.next_step.map(|n| d::NextStep {
                description: n.description,
                due_date: n.due_date,
            }),
            prior_contract_value: o.prior_contract_value,
            referring_account: o.referring_account.map(party_back),
            stage_history: o
                .stage_history
                .into_iter()
                .map(|c| {
                    Ok(d::StageChange {
                        from: back(c.from, "stage")?,
                        to: back(c.to, "stage")?,
                        time: c.time,
                        actor: actor_back(c.actor),
                        time_in_stage: c.time_in_stage,
                    })
                })
                .collect::<Result<_, Problem>>()?,
            close: o
                .close
                .map(|c| {
                    Ok::<_, Problem>(d::CloseRecord {
                        outcome: back(c.outcome, "outcome")?,
                        close_date: c.close_date,
                        loss_reason: c.loss_reason.map(|r| back(r, "loss reason")).transpose()?,
                        disqualification_reason: c
                            .disqualification_reason
                            .map(|r| back(r, "disqualification reason"))
                            .transpose()?,
                        competitor: c.competitor,
                        notes: c.notes,
                        closed_by: actor_back(c.closed_by),
                        time: c.time,
                    })
                })
                .transpose()?,
            probability_override: o.probability_override,
            forecast_override: o
                .forecast_override
                .map(|c| back(c, "forecast category"))
                .transpose()?,
            push_count: o.push_count,
            stage_entered: o.stage_entered,
            create_time: o.create_time,
            update_time: o.update_time,
            version: o.version,
            next_line_item: o.next_line_item,
        })
    }
}
