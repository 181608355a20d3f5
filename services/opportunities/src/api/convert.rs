//! Proto ↔ domain. Requests are parsed here, once: every bad field becomes a field violation
//! naming its path, and the domain only ever sees valid values.

use closeloop_kit::convert::{
    date, date_to_proto, duration, money, money_to_proto, optional_date, timestamp,
};
use closeloop_kit::error::GateViolation;
use closeloop_kit::types::{CurrencyCode, Email, Money, identifier, optional_text, required_text};
use closeloop_kit::{Problem, Violations};
use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;

use crate::domain::opportunity::{
    Actor, CloseRecord, Closing, Contact, DisqualificationReason, EvaluationProcess,
    EvaluationStep, Kind, LineItem, LineItemPatch, LossReason, NewLineItem, NewOpportunity,
    NextStep, Objective, Opportunity, Outcome, Party, Patch, QualificationAnswers, Source,
    Stakeholder, StakeholderRole, check_quantity,
};
use crate::domain::policy::Policy;
use crate::domain::stage::{ForecastCategory, Stage};

const MAX_LIST: usize = 50;
const SHORT: usize = 200;
const LONG: usize = 5000;

/// Parses `opportunities/{id}` from a request field.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn opportunity_id(field: &str, name: &str) -> Result<String, Problem> {
    match name.strip_prefix("opportunities/") {
        Some(id) if is_opportunity_id(id) => Ok(id.to_owned()),
        _ => Err(Problem::invalid(
            field,
            "must be a resource name of the form opportunities/{opportunity}",
        )),
    }
}

/// Longest owner, account or product identifier.
pub const MAX_ID: usize = 128;

/// Validates an optional owner (empty: the caller).
fn owner(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Ok(String::new())
    } else {
        identifier(s, MAX_ID)
    }
}

/// Validates an optional filter value (empty: no filter).
///
/// # Errors
/// INVALID_ARGUMENT on `field`.
pub fn filter(field: &str, s: &str) -> Result<Option<String>, Problem> {
    if s.is_empty() {
        Ok(None)
    } else {
        identifier(s, MAX_ID)
            .map(Some)
            .map_err(|e| Problem::invalid(field, e))
    }
}

/// Whether a page token's key is an opportunity id.
pub fn is_opportunity_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn party(p: Option<&common::Party>) -> Result<Party, String> {
    let p = p.ok_or("required")?;
    Ok(Party {
        account_id: identifier(&p.account_id, MAX_ID).map_err(|e| format!("account_id: {e}"))?,
        display_name: required_text(&p.display_name, SHORT)
            .map_err(|e| format!("display_name: {e}"))?,
    })
}

fn party_to_proto(p: Party) -> common::Party {
    common::Party {
        account_id: p.account_id,
        display_name: p.display_name,
    }
}

fn actor_to_proto(a: Actor) -> common::Actor {
    common::Actor {
        subject: a.subject,
        role: a.role,
    }
}

fn enum_value<E: TryFrom<i32>>(value: i32) -> Result<E, String> {
    E::try_from(value).map_err(|_| format!("unknown value {value}"))
}

/// Parses a kind (unspecified is an error).
pub fn kind(value: i32) -> Result<Kind, String> {
    match enum_value::<pb::OpportunityKind>(value)? {
        pb::OpportunityKind::NewBusiness => Ok(Kind::NewBusiness),
        pb::OpportunityKind::Expansion => Ok(Kind::Expansion),
        pb::OpportunityKind::Renewal => Ok(Kind::Renewal),
        pb::OpportunityKind::Unspecified => {
            Err("required: NEW_BUSINESS, EXPANSION or RENEWAL".into())
        }
    }
}

fn kind_to_proto(k: Kind) -> pb::OpportunityKind {
    match k {
        Kind::NewBusiness => pb::OpportunityKind::NewBusiness,
        Kind::Expansion => pb::OpportunityKind::Expansion,
        Kind::Renewal => pb::OpportunityKind::Renewal,
    }
}

fn source(value: i32) -> Result<Source, String> {
    match enum_value::<pb::OpportunitySource>(value)? {
        pb::OpportunitySource::Prospecting => Ok(Source::Prospecting),
        pb::OpportunitySource::Inbound => Ok(Source::Inbound),
        pb::OpportunitySource::Referral => Ok(Source::Referral),
        pb::OpportunitySource::AccountExpansion => Ok(Source::AccountExpansion),
        pb::OpportunitySource::Renewal => Ok(Source::Renewal),
        pb::OpportunitySource::Unspecified => Err("required".into()),
    }
}

fn source_to_proto(s: Source) -> pb::OpportunitySource {
    match s {
        Source::Prospecting => pb::OpportunitySource::Prospecting,
        Source::Inbound => pb::OpportunitySource::Inbound,
        Source::Referral => pb::OpportunitySource::Referral,
        Source::AccountExpansion => pb::OpportunitySource::AccountExpansion,
        Source::Renewal => pb::OpportunitySource::Renewal,
    }
}

/// Parses a stage enum value (unspecified is an error).
pub fn stage(value: i32) -> Result<Stage, String> {
    Ok(match enum_value::<pb::Stage>(value)? {
        pb::Stage::Prospecting => Stage::Prospecting,
        pb::Stage::Qualification => Stage::Qualification,
        pb::Stage::Proposal => Stage::Proposal,
        pb::Stage::Negotiation => Stage::Negotiation,
        pb::Stage::ClosedWon => Stage::ClosedWon,
        pb::Stage::ClosedLost => Stage::ClosedLost,
        pb::Stage::Disqualified => Stage::Disqualified,
        pb::Stage::Unspecified => return Err("required".into()),
    })
}

/// The wire value of a stage.
pub fn stage_to_proto(s: Stage) -> pb::Stage {
    match s {
        Stage::Prospecting => pb::Stage::Prospecting,
        Stage::Qualification => pb::Stage::Qualification,
        Stage::Proposal => pb::Stage::Proposal,
        Stage::Negotiation => pb::Stage::Negotiation,
        Stage::ClosedWon => pb::Stage::ClosedWon,
        Stage::ClosedLost => pb::Stage::ClosedLost,
        Stage::Disqualified => pb::Stage::Disqualified,
    }
}

fn category(value: i32) -> Result<Option<ForecastCategory>, String> {
    Ok(match enum_value::<pb::ForecastCategory>(value)? {
        pb::ForecastCategory::Unspecified => None,
        pb::ForecastCategory::Pipeline => Some(ForecastCategory::Pipeline),
        pb::ForecastCategory::BestCase => Some(ForecastCategory::BestCase),
        pb::ForecastCategory::Commit => Some(ForecastCategory::Commit),
        pb::ForecastCategory::Closed => Some(ForecastCategory::Closed),
        pb::ForecastCategory::Omitted => Some(ForecastCategory::Omitted),
    })
}

/// The wire value of a forecast category.
pub fn category_to_proto(c: ForecastCategory) -> pb::ForecastCategory {
    match c {
        ForecastCategory::Pipeline => pb::ForecastCategory::Pipeline,
        ForecastCategory::BestCase => pb::ForecastCategory::BestCase,
        ForecastCategory::Commit => pb::ForecastCategory::Commit,
        ForecastCategory::Closed => pb::ForecastCategory::Closed,
        ForecastCategory::Omitted => pb::ForecastCategory::Omitted,
    }
}

fn stakeholder_role(value: i32) -> Result<StakeholderRole, String> {
    Ok(match enum_value::<pb::StakeholderRole>(value)? {
        pb::StakeholderRole::DecisionMaker => StakeholderRole::DecisionMaker,
        pb::StakeholderRole::EconomicBuyer => StakeholderRole::EconomicBuyer,
        pb::StakeholderRole::Champion => StakeholderRole::Champion,
        pb::StakeholderRole::TechnicalEvaluator => StakeholderRole::TechnicalEvaluator,
        pb::StakeholderRole::Influencer => StakeholderRole::Influencer,
        pb::StakeholderRole::User => StakeholderRole::User,
        pb::StakeholderRole::Unspecified => return Err("required".into()),
    })
}

fn stakeholder_role_to_proto(r: StakeholderRole) -> pb::StakeholderRole {
    match r {
        StakeholderRole::DecisionMaker => pb::StakeholderRole::DecisionMaker,
        StakeholderRole::EconomicBuyer => pb::StakeholderRole::EconomicBuyer,
        StakeholderRole::Champion => pb::StakeholderRole::Champion,
        StakeholderRole::TechnicalEvaluator => pb::StakeholderRole::TechnicalEvaluator,
        StakeholderRole::Influencer => pb::StakeholderRole::Influencer,
        StakeholderRole::User => pb::StakeholderRole::User,
    }
}

/// Parses a loss reason (unspecified = none).
pub fn loss_reason(value: i32) -> Result<Option<LossReason>, String> {
    Ok(match enum_value::<pb::LossReason>(value)? {
        pb::LossReason::Unspecified => None,
        pb::LossReason::Price => Some(LossReason::Price),
        pb::LossReason::Competitor => Some(LossReason::Competitor),
        pb::LossReason::NoDecision => Some(LossReason::NoDecision),
        pb::LossReason::Timing => Some(LossReason::Timing),
        pb::LossReason::ProductFit => Some(LossReason::ProductFit),
        pb::LossReason::Other => Some(LossReason::Other),
    })
}

/// The wire value of a loss reason.
pub fn loss_reason_to_proto(r: LossReason) -> pb::LossReason {
    match r {
        LossReason::Price => pb::LossReason::Price,
        LossReason::Competitor => pb::LossReason::Competitor,
        LossReason::NoDecision => pb::LossReason::NoDecision,
        LossReason::Timing => pb::LossReason::Timing,
        LossReason::ProductFit => pb::LossReason::ProductFit,
        LossReason::Other => pb::LossReason::Other,
    }
}

fn disqualification_reason(value: i32) -> Result<Option<DisqualificationReason>, String> {
    use pb::DisqualificationReason as P;
    Ok(match enum_value::<P>(value)? {
        P::Unspecified => None,
        P::NoClientBenefit => Some(DisqualificationReason::NoClientBenefit),
        P::UnrealisticExpectations => Some(DisqualificationReason::UnrealisticExpectations),
        P::MarginTooLow => Some(DisqualificationReason::MarginTooLow),
        P::ImmaturePartner => Some(DisqualificationReason::ImmaturePartner),
        P::NoBudget => Some(DisqualificationReason::NoBudget),
        P::Other => Some(DisqualificationReason::Other),
    })
}

fn disqualification_reason_to_proto(r: DisqualificationReason) -> pb::DisqualificationReason {
    use pb::DisqualificationReason as P;
    match r {
        DisqualificationReason::NoClientBenefit => P::NoClientBenefit,
        DisqualificationReason::UnrealisticExpectations => P::UnrealisticExpectations,
        DisqualificationReason::MarginTooLow => P::MarginTooLow,
        DisqualificationReason::ImmaturePartner => P::ImmaturePartner,
        DisqualificationReason::NoBudget => P::NoBudget,
        DisqualificationReason::Other => P::Other,
    }
}

fn outcome_to_proto(o: Outcome) -> pb::Outcome {
    match o {
        Outcome::Won => pb::Outcome::Won,
        Outcome::Lost => pb::Outcome::Lost,
        Outcome::Disqualified => pb::Outcome::Disqualified,
    }
}

fn stakeholders(v: &mut Violations, field: &str, list: &[pb::Stakeholder]) -> Vec<Stakeholder> {
    if list.len() > MAX_LIST {
        v.add(field, format!("at most {MAX_LIST} stakeholders"));
        return Vec::new();
    }
    list.iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let f = |name: &str| format!("{field}[{i}].{name}");
            let Some(c) = s.contact.as_ref() else {
                v.add(f("contact"), "required");
                return None;
            };
            let display_name = v.check(
                || f("contact.display_name"),
                required_text(&c.display_name, SHORT),
            );
            let email = v.check(|| f("contact.email"), Email::parse(&c.email));
            let phone = v.check(|| f("contact.phone"), optional_text(&c.phone, 50));
            let title = v.check(|| f("contact.title"), optional_text(&c.title, SHORT));
            let role = v.check(|| f("role"), stakeholder_role(s.role));
            Some(Stakeholder {
                contact: Contact {
                    display_name: display_name?,
                    email: email?,
                    phone: phone?,
                    title: title?,
                },
                role: role?,
                primary: s.primary,
            })
        })
        .collect()
}

fn objectives(v: &mut Violations, field: &str, list: &[pb::ClientObjective]) -> Vec<Objective> {
    if list.len() > MAX_LIST {
        v.add(field, format!("at most {MAX_LIST} objectives"));
        return Vec::new();
    }
    list.iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let d = v.check(
                || format!("{field}[{i}].description"),
                required_text(&o.description, 500),
            );
            let m = v.check(
                || format!("{field}[{i}].success_measure"),
                optional_text(&o.success_measure, 500),
            );
            Some(Objective {
                description: d?,
                success_measure: m?,
            })
        })
        .collect()
}

fn evaluation(
    v: &mut Violations,
    field: &str,
    e: Option<&pb::EvaluationProcess>,
) -> EvaluationProcess {
    let Some(e) = e else {
        return EvaluationProcess::default();
    };
    if e.criteria.len() > MAX_LIST {
        v.add(
            format!("{field}.criteria"),
            format!("at most {MAX_LIST} criteria"),
        );
    }
    if e.steps.len() > MAX_LIST {
        v.add(
            format!("{field}.steps"),
            format!("at most {MAX_LIST} steps"),
        );
    }
    let criteria = e
        .criteria
        .iter()
        .take(MAX_LIST)
        .enumerate()
        .filter_map(|(i, c)| v.check(|| format!("{field}.criteria[{i}]"), required_text(c, 500)))
        .collect();
    let steps = e
        .steps
        .iter()
        .take(MAX_LIST)
        .enumerate()
        .filter_map(|(i, s)| {
            let d = v.check(
                || format!("{field}.steps[{i}].description"),
                required_text(&s.description, 500),
            );
            let due = v.check(
                || format!("{field}.steps[{i}].due_date"),
                optional_date(s.due_date.as_ref()),
            );
            Some(EvaluationStep {
                description: d?,
                due_date: due?,
                completed: s.completed,
            })
        })
        .collect();
    let time_frame = e.time_frame.as_ref().and_then(|r| {
        v.check(
            || format!("{field}.time_frame"),
            closeloop_kit::convert::date_range(Some(r)),
        )
    });
    EvaluationProcess {
        criteria,
        steps,
        time_frame,
    }
}

fn next_step(v: &mut Violations, field: &str, n: Option<&pb::NextStep>) -> Option<NextStep> {
    let n = n?;
    let d = v.check(
        || format!("{field}.description"),
        required_text(&n.description, 500),
    );
    let due = v.check(
        || format!("{field}.due_date"),
        optional_date(n.due_date.as_ref()),
    );
    Some(NextStep {
        description: d?,
        due_date: due?,
    })
}

fn probability_override(value: i32) -> Result<Option<i32>, String> {
    match value {
        0 => Ok(None),
        1..=99 => Ok(Some(value)),
        _ => Err("must be 1 to 99 (0 clears the override)".into()),
    }
}

/// Parses a create request's opportunity.
///
/// # Errors
/// INVALID_ARGUMENT listing every bad field.
pub fn new_opportunity(o: Option<&pb::Opportunity>) -> Result<NewOpportunity, Problem> {
    let o = o.ok_or_else(|| Problem::invalid("opportunity", "required"))?;
    let mut v = Violations::new();
    let account = v.check("opportunity.account", party(o.account.as_ref()));
    let owner = v.check("opportunity.owner", owner(&o.owner));
    let title = v.check("opportunity.title", required_text(&o.title, SHORT));
    let description = v.check(
        "opportunity.description",
        optional_text(&o.description, LONG),
    );
    let kind = v.check("opportunity.kind", kind(o.kind));
    let source = v.check("opportunity.source", source(o.source));
    let currency = v.check(
        "opportunity.currency_code",
        CurrencyCode::parse(&o.currency_code),
    );
    let expected = v.check(
        "opportunity.expected_close_date",
        date(o.expected_close_date.as_ref()),
    );
    let stakeholders = stakeholders(&mut v, "opportunity.stakeholders", &o.stakeholders);
    let objectives = objectives(&mut v, "opportunity.objectives", &o.objectives);
    let evaluation = evaluation(
        &mut v,
        "opportunity.evaluation_process",
        o.evaluation_process.as_ref(),
    );
    let next_step = next_step(&mut v, "opportunity.next_step", o.next_step.as_ref());
    let prior = o
        .prior_contract_value
        .as_ref()
        .and_then(|m| v.check("opportunity.prior_contract_value", money(Some(m))));
    let referring = o
        .referring_account
        .as_ref()
        .and_then(|p| v.check("opportunity.referring_account", party(Some(p))));
    let probability = v.check(
        "opportunity.probability_override_percent",
        probability_override(o.probability_override_percent),
    );
    let forecast = v.check(
        "opportunity.forecast_category_override",
        category(o.forecast_category_override),
    );
    let (
        account,
        owner,
        title,
        description,
        kind,
        source,
        currency,
        expected,
        probability,
        forecast,
    ) = v.values((
        account,
        owner,
        title,
        description,
        kind,
        source,
        currency,
        expected,
        probability,
        forecast,
    ))?;
    Ok(NewOpportunity {
        account,
        owner,
        title,
        description,
        kind,
        source,
        currency,
        expected_close_date: expected,
        stakeholders,
        objectives,
        evaluation,
        next_step,
        prior_contract_value: prior,
        referring_account: referring,
        probability_override: probability,
        forecast_override: forecast,
    })
}

/// Fields UpdateOpportunity may replace.
pub const UPDATABLE: &[&str] = &[
    "title",
    "description",
    "account",
    "owner",
    "kind",
    "source",
    "currency_code",
    "expected_close_date",
    "stakeholders",
    "objectives",
    "evaluation_process",
    "next_step",
    "prior_contract_value",
    "referring_account",
    "probability_override_percent",
    "forecast_category_override",
];

/// Parses an update: the masked fields of `o`.
///
/// # Errors
/// INVALID_ARGUMENT for an empty or unknown mask path, or a bad value.
pub fn patch(o: &pb::Opportunity, mask: Option<&prost_types::FieldMask>) -> Result<Patch, Problem> {
    let paths = closeloop_kit::convert::update_mask(mask, UPDATABLE)?;
    let mut v = Violations::new();
    let mut p = Patch::default();
    for path in paths {
        let field = format!("opportunity.{path}");
        match path {
            "title" => p.title = v.check(field, required_text(&o.title, SHORT)),
            "description" => p.description = v.check(field, optional_text(&o.description, LONG)),
            "account" => p.account = v.check(field, party(o.account.as_ref())),
            "owner" => p.owner = v.check(field, identifier(&o.owner, MAX_ID)),
            "kind" => p.kind = v.check(field, kind(o.kind)),
            "source" => p.source = v.check(field, source(o.source)),
            "currency_code" => p.currency = v.check(field, CurrencyCode::parse(&o.currency_code)),
            "expected_close_date" => {
                p.expected_close_date = v.check(field, date(o.expected_close_date.as_ref()))
            }
            "stakeholders" => p.stakeholders = Some(stakeholders(&mut v, &field, &o.stakeholders)),
            "objectives" => p.objectives = Some(objectives(&mut v, &field, &o.objectives)),
            "evaluation_process" => {
                p.evaluation = Some(evaluation(&mut v, &field, o.evaluation_process.as_ref()))
            }
            "next_step" => p.next_step = Some(next_step(&mut v, &field, o.next_step.as_ref())),
            "prior_contract_value" => {
                p.prior_contract_value = match o.prior_contract_value.as_ref() {
                    None => Some(None),
                    Some(m) => v.check(field, money(Some(m))).map(Some),
                }
            }
            "referring_account" => {
                p.referring_account = match o.referring_account.as_ref() {
                    None => Some(None),
                    Some(r) => v.check(field, party(Some(r))).map(Some),
                }
            }
            "probability_override_percent" => {
                p.probability_override =
                    v.check(field, probability_override(o.probability_override_percent))
            }
            "forecast_category_override" => {
                p.forecast_override = v.check(field, category(o.forecast_category_override))
            }
            // Any other path was refused by `update_mask` above.
            _ => {}
        }
    }
    v.finish(|| p)
}

fn price(field: &str, m: Option<&common::Money>, v: &mut Violations) -> Option<Money> {
    v.check(field, money(m))
}

/// Parses a new line item.
///
/// # Errors
/// INVALID_ARGUMENT listing every bad field.
pub fn new_line_item(li: Option<&pb::LineItem>) -> Result<NewLineItem, Problem> {
    let li = li.ok_or_else(|| Problem::invalid("line_item", "required"))?;
    let mut v = Violations::new();
    let product_id = v.check("line_item.product_id", identifier(&li.product_id, MAX_ID));
    let product_name = v.check(
        "line_item.product_name",
        required_text(&li.product_name, SHORT),
    );
    let quantity = v.check("line_item.quantity", check_quantity(li.quantity));
    let list = price(
        "line_item.list_unit_price",
        li.list_unit_price.as_ref(),
        &mut v,
    );
    let sold = price(
        "line_item.sold_unit_price",
        li.sold_unit_price.as_ref(),
        &mut v,
    );
    let cost = price("line_item.unit_cost", li.unit_cost.as_ref(), &mut v);
    let (product_id, product_name, quantity, list_unit, sold_unit, unit_cost) =
        v.values((product_id, product_name, quantity, list, sold, cost))?;
    Ok(NewLineItem {
        product_id,
        product_name,
        quantity,
        list_unit,
        sold_unit,
        unit_cost,
    })
}

/// Parses a line item update.
///
/// # Errors
/// INVALID_ARGUMENT for an empty or unknown mask path, or a bad value.
pub fn line_item_patch(
    li: &pb::LineItem,
    mask: Option<&prost_types::FieldMask>,
) -> Result<LineItemPatch, Problem> {
    const FIELDS: &[&str] = &[
        "product_id",
        "product_name",
        "quantity",
        "list_unit_price",
        "sold_unit_price",
        "unit_cost",
    ];
    let paths = closeloop_kit::convert::update_mask(mask, FIELDS)?;
    let mut v = Violations::new();
    let mut p = LineItemPatch::default();
    for path in paths {
        let field = format!("line_item.{path}");
        match path {
            "product_id" => p.product_id = v.check(field, identifier(&li.product_id, MAX_ID)),
            "product_name" => {
                p.product_name = v.check(field, required_text(&li.product_name, SHORT))
            }
            "quantity" => p.quantity = v.check(field, check_quantity(li.quantity)),
            "list_unit_price" => p.list_unit = price(&field, li.list_unit_price.as_ref(), &mut v),
            "sold_unit_price" => p.sold_unit = price(&field, li.sold_unit_price.as_ref(), &mut v),
            "unit_cost" => p.unit_cost = price(&field, li.unit_cost.as_ref(), &mut v),
            // Any other path was refused by `update_mask` above.
            _ => {}
        }
    }
    v.finish(|| p)
}

/// Validates a line item id field.
///
/// # Errors
/// INVALID_ARGUMENT when empty or too long.
pub fn line_item_id(field: &str, id: &str) -> Result<String, Problem> {
    if id.is_empty() || id.len() > 32 {
        Err(Problem::invalid(
            field,
            "required: the line item's line_item_id",
        ))
    } else {
        Ok(id.to_owned())
    }
}

/// Parses a discount approval: the line item and the reason.
///
/// # Errors
/// INVALID_ARGUMENT listing every bad field.
pub fn approval(r: &pb::ApproveDiscountRequest) -> Result<(String, String), Problem> {
    let mut v = Violations::new();
    let line_item_id = v.check(
        "line_item_id",
        line_item_id("line_item_id", &r.line_item_id).map_err(|_| "required"),
    );
    let reason = v.check("reason", required_text(&r.reason, 1000));
    v.values((line_item_id, reason))
}

/// Parses qualification answers.
///
/// # Errors
/// INVALID_ARGUMENT when missing or notes too long.
pub fn qualification(q: Option<&pb::Qualification>) -> Result<QualificationAnswers, Problem> {
    let q = q.ok_or_else(|| Problem::invalid("qualification", "required"))?;
    let notes =
        optional_text(&q.notes, LONG).map_err(|e| Problem::invalid("qualification.notes", e))?;
    Ok(QualificationAnswers {
        client_benefit: q.client_benefit_confirmed,
        realistic_expectations: q.realistic_expectations_confirmed,
        mature_partner: q.mature_partner_confirmed,
        notes,
    })
}

/// Parses a close request.
///
/// # Errors
/// INVALID_ARGUMENT listing every bad field.
pub fn closing(r: &pb::CloseOpportunityRequest) -> Result<Closing, Problem> {
    let mut v = Violations::new();
    let outcome = v.check(
        "outcome",
        match enum_value::<pb::Outcome>(r.outcome) {
            Ok(pb::Outcome::Won) => Ok(Outcome::Won),
            Ok(pb::Outcome::Lost) => Ok(Outcome::Lost),
            Ok(pb::Outcome::Disqualified) => Ok(Outcome::Disqualified),
            Ok(pb::Outcome::Unspecified) => Err("required: WON, LOST or DISQUALIFIED".to_string()),
            Err(e) => Err(e),
        },
    );
    let close_date = v.check("close_date", optional_date(r.close_date.as_ref()));
    let loss = v.check("loss_reason", loss_reason(r.loss_reason));
    let disq = v.check(
        "disqualification_reason",
        disqualification_reason(r.disqualification_reason),
    );
    let competitor = v.check("competitor", optional_text(&r.competitor, SHORT));
    let notes = v.check("notes", optional_text(&r.notes, LONG));
    let (outcome, close_date, loss_reason, disqualification_reason, competitor, notes) =
        v.values((outcome, close_date, loss, disq, competitor, notes))?;
    Ok(Closing {
        outcome,
        close_date,
        loss_reason,
        disqualification_reason,
        competitor,
        notes,
    })
}

fn line_item_to_proto(li: LineItem, o: &Opportunity, policy: &Policy) -> pb::LineItem {
    let m = |minor: i64| Some(money_to_proto(Money::new(o.currency, minor)));
    pb::LineItem {
        discount_bps: li.discount_bps(),
        requires_approval: li.requires_approval(policy),
        amount: m(i64::try_from(li.amount()).unwrap_or(i64::MAX)),
        line_item_id: li.id,
        product_id: li.product_id,
        product_name: li.product_name,
        quantity: li.quantity,
        list_unit_price: m(li.list_unit),
        sold_unit_price: m(li.sold_unit),
        unit_cost: m(li.unit_cost),
        approval: li.approval.map(|a| pb::DiscountApproval {
            approver: Some(actor_to_proto(a.approver)),
            reason: a.reason,
            approved_discount_bps: a.approved_discount_bps,
            approve_time: Some(timestamp(a.time)),
        }),
    }
}

fn close_to_proto(c: CloseRecord) -> pb::CloseRecord {
    pb::CloseRecord {
        outcome: outcome_to_proto(c.outcome) as i32,
        close_date: Some(date_to_proto(c.close_date)),
        loss_reason: c.loss_reason.map_or(0, |r| loss_reason_to_proto(r) as i32),
        disqualification_reason: c
            .disqualification_reason
            .map_or(0, |r| disqualification_reason_to_proto(r) as i32),
        competitor: c.competitor,
        notes: c.notes,
        closed_by: Some(actor_to_proto(c.closed_by)),
        close_time: Some(timestamp(c.time)),
    }
}

fn unmet_to_proto(unmet: Vec<GateViolation>) -> Vec<String> {
    unmet
        .into_iter()
        .map(|g| format!("{}: {}", g.subject, g.description))
        .collect()
}

/// The wire form of an opportunity, with every derived figure. It takes the aggregate so its
/// text moves into the answer instead of being copied (a read answers from a document it
/// just parsed).
pub fn opportunity(mut o: Opportunity, policy: &Policy) -> pb::Opportunity {
    let currency = o.currency;
    let m = |minor: i64| Some(money_to_proto(Money::new(currency, minor)));
    let unmet = o.qualification_unmet(policy);
    // Everything derived from the whole aggregate, before its parts move out.
    let (name, etag, amount, list_amount, margin_bps) = (
        o.name(),
        o.etag(),
        o.amount(),
        o.list_amount(),
        o.margin_bps(),
    );
    let (probability, category, weighted) = (
        o.probability(policy),
        o.forecast_category(),
        o.weighted_amount(policy),
    );
    let line_items = std::mem::take(&mut o.line_items);
    let line_items = line_items
        .into_iter()
        .map(|li| line_item_to_proto(li, &o, policy))
        .collect();
    let qualification = o.qualification.take();
    pb::Opportunity {
        name,
        account: Some(party_to_proto(o.account)),
        owner: o.owner,
        title: o.title,
        description: o.description,
        kind: kind_to_proto(o.kind) as i32,
        source: source_to_proto(o.source) as i32,
        stage: stage_to_proto(o.stage) as i32,
        currency_code: currency.as_str().to_owned(),
        expected_close_date: Some(date_to_proto(o.expected_close_date)),
        stakeholders: o
            .stakeholders
            .into_iter()
            .map(|s| pb::Stakeholder {
                contact: Some(common::Contact {
                    display_name: s.contact.display_name,
                    email: s.contact.email.into(),
                    phone: s.contact.phone,
                    title: s.contact.title,
                }),
                role: stakeholder_role_to_proto(s.role) as i32,
                primary: s.primary,
            })
            .collect(),
        objectives: o
            .objectives
            .into_iter()
            .map(|x| pb::ClientObjective {
                description: x.description,
                success_measure: x.success_measure,
            })
            .collect(),
        evaluation_process: Some(pb::EvaluationProcess {
            criteria: o.evaluation.criteria,
            steps: o
                .evaluation
                .steps
                .into_iter()
                .map(|s| pb::EvaluationStep {
                    description: s.description,
                    due_date: s.due_date.map(date_to_proto),
                    completed: s.completed,
                })
                .collect(),
            time_frame: o
                .evaluation
                .time_frame
                .map(closeloop_kit::convert::date_range_to_proto),
        }),
        line_items,
        qualification: Some(match qualification {
            Some(q) => pb::Qualification {
                client_benefit_confirmed: q.client_benefit,
                realistic_expectations_confirmed: q.realistic_expectations,
                mature_partner_confirmed: q.mature_partner,
                notes: q.notes,
                assessed_by: Some(actor_to_proto(q.assessed_by)),
                assess_time: Some(timestamp(q.time)),
                passed: unmet.is_empty(),
                unmet: unmet_to_proto(unmet),
            },
            None => pb::Qualification {
                passed: unmet.is_empty(),
                unmet: unmet_to_proto(unmet),
                ..Default::default()
            },
        }),
        next_step: o.next_step.map(|n| pb::NextStep {
            description: n.description,
            due_date: n.due_date.map(date_to_proto),
        }),
        prior_contract_value: o.prior_contract_value.and_then(m),
        referring_account: o.referring_account.map(party_to_proto),
        stage_history: o
            .stage_history
            .into_iter()
            .map(|c| pb::StageChange {
                from_stage: stage_to_proto(c.from) as i32,
                to_stage: stage_to_proto(c.to) as i32,
                change_time: Some(timestamp(c.time)),
                actor: Some(actor_to_proto(c.actor)),
                time_in_stage: Some(duration(c.time_in_stage)),
            })
            .collect(),
        close_record: o.close.map(close_to_proto),
        amount: m(amount),
        list_amount: m(list_amount),
        margin_bps,
        probability_percent: probability,
        probability_override_percent: o.probability_override.unwrap_or(0),
        forecast_category: category_to_proto(category) as i32,
        forecast_category_override: o
            .forecast_override
            .map_or(0, |c| category_to_proto(c) as i32),
        weighted_amount: m(weighted),
        push_count: o.push_count,
        create_time: Some(timestamp(o.create_time)),
        update_time: Some(timestamp(o.update_time)),
        etag,
    }
}
