//! Answers built from domain values, with every figure the domain derives.

use closeloop_kit::convert::{date_to_proto, duration, money_to_proto, timestamp};
use closeloop_kit::error::GateViolation;
use closeloop_kit::types::Money;
use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;

use super::enums::wire;
use crate::domain::opportunity::{
    Actor, CloseRecord, DiscountApproval, LineItem, Opportunity, Party,
};
use crate::domain::policy::Policy;

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

fn approval_to_proto(a: DiscountApproval) -> pb::DiscountApproval {
    pb::DiscountApproval {
        approver: Some(actor_to_proto(a.approver)),
        reason: a.reason,
        approved_discount_bps: a.approved_discount_bps,
        approve_time: Some(timestamp(a.time)),
    }
}

fn line_item_to_proto(li: LineItem, o: &Opportunity, policy: &Policy) -> pb::LineItem {
    let m = |minor: i64| Some(money_to_proto(Money::new(o.currency, minor)));
    let approval = li.approval().cloned().map(approval_to_proto);
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
        approval,
        approval_history: li.approvals.into_iter().map(approval_to_proto).collect(),
    }
}

fn close_to_proto(c: CloseRecord) -> pb::CloseRecord {
    pb::CloseRecord {
        outcome: wire::<pb::Outcome, _>(c.outcome),
        close_date: Some(date_to_proto(c.close_date)),
        loss_reason: c.loss_reason.map_or(0, wire::<pb::LossReason, _>),
        disqualification_reason: c
            .disqualification_reason
            .map_or(0, wire::<pb::DisqualificationReason, _>),
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
        kind: wire::<pb::OpportunityKind, _>(o.kind),
        source: wire::<pb::OpportunitySource, _>(o.source),
        stage: wire::<pb::Stage, _>(o.stage),
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
                role: wire::<pb::StakeholderRole, _>(s.role),
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
                from_stage: wire::<pb::Stage, _>(c.from),
                to_stage: wire::<pb::Stage, _>(c.to),
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
        forecast_category: wire::<pb::ForecastCategory, _>(category),
        forecast_category_override: o
            .forecast_override
            .map_or(0, wire::<pb::ForecastCategory, _>),
        weighted_amount: m(weighted),
        push_count: o.push_count,
        create_time: Some(timestamp(o.create_time)),
        update_time: Some(timestamp(o.update_time)),
        etag,
    }
}
