//! Requests parsed into domain values, once: every bad field becomes a field violation naming its
//! path in the request, and the domain only ever sees valid values. The domain names its own
//! fields and resources; [`FIELDS`] and [`RESOURCES`] say what they are called here.

use closeloop_kit::convert::{date, money, optional_date};
use closeloop_kit::types::{CurrencyCode, Email, Money, identifier, optional_text, required_text};
use closeloop_kit::{Problem, Violations};
use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;

use super::enums::{optional, required};
use crate::domain::opportunity::{
    Closing, Contact, EvaluationProcess, EvaluationStep, LineItemPatch, NewLineItem,
    NewOpportunity, NextStep, Objective, OpportunityId, Outcome, Party, Patch,
    QualificationAnswers, Stakeholder, check_quantity,
};
use crate::domain::stage::Stage;

const MAX_LIST: usize = 50;
const SHORT: usize = 200;
const LONG: usize = 5000;

/// Domain field names and their paths in the requests.
pub const FIELDS: &[(&str, &str)] = &[
    ("prior_contract_value", "opportunity.prior_contract_value"),
    ("referring_account", "opportunity.referring_account"),
    ("stakeholders", "opportunity.stakeholders"),
    ("line_item.list_price", "line_item.list_unit_price"),
    ("line_item.sold_price", "line_item.sold_unit_price"),
];

/// Domain resource names and their proto type names.
pub const RESOURCES: &[(&str, &str)] = &[
    ("opportunity", "closeloop.opportunities.v1.Opportunity"),
    ("line_item", "closeloop.opportunities.v1.LineItem"),
];

/// Parses `opportunities/{id}` from a request field.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn opportunity_id(field: &str, name: &str) -> Result<OpportunityId, Problem> {
    name.strip_prefix("opportunities/")
        .and_then(|id| OpportunityId::parse(id).ok())
        .ok_or_else(|| {
            Problem::invalid(
                field,
                "must be a resource name of the form opportunities/{opportunity}",
            )
        })
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

fn party(p: Option<&common::Party>) -> Result<Party, String> {
    let p = p.ok_or("required")?;
    Ok(Party {
        account_id: identifier(&p.account_id, MAX_ID).map_err(|e| format!("account_id: {e}"))?,
        display_name: required_text(&p.display_name, SHORT)
            .map_err(|e| format!("display_name: {e}"))?,
    })
}

/// Parses a stage (unspecified is an error).
///
/// # Errors
/// A description of what is wrong.
pub fn stage(value: i32) -> Result<Stage, String> {
    required::<pb::Stage, _>(value)
}

/// Parses a kind filter (unspecified is an error).
///
/// # Errors
/// A description of what is wrong.
pub fn kind(value: i32) -> Result<crate::domain::opportunity::Kind, String> {
    required::<pb::OpportunityKind, _>(value)
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
            let role = v.check(|| f("role"), required::<pb::StakeholderRole, _>(s.role));
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
    let kind = v.check(
        "opportunity.kind",
        required::<pb::OpportunityKind, _>(o.kind),
    );
    let source = v.check(
        "opportunity.source",
        required::<pb::OpportunitySource, _>(o.source),
    );
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
        optional::<pb::ForecastCategory, _>(o.forecast_category_override),
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
            "kind" => p.kind = v.check(field, required::<pb::OpportunityKind, _>(o.kind)),
            "source" => p.source = v.check(field, required::<pb::OpportunitySource, _>(o.source)),
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
                p.forecast_override = v.check(
                    field,
                    optional::<pb::ForecastCategory, _>(o.forecast_category_override),
                )
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
        optional::<pb::Outcome, Outcome>(r.outcome)
            .and_then(|o| o.ok_or_else(|| "required: WON, LOST or DISQUALIFIED".to_owned())),
    );
    let close_date = v.check("close_date", optional_date(r.close_date.as_ref()));
    let loss = v.check("loss_reason", optional::<pb::LossReason, _>(r.loss_reason));
    let disq = v.check(
        "disqualification_reason",
        optional::<pb::DisqualificationReason, _>(r.disqualification_reason),
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
