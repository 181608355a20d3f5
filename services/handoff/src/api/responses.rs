//! Domain values into answers: a handoff with its readiness evaluated now, its prefill, and the
//! delivery of the OpenAccount call it owes once accepted (`open_account_call`, and
//! `account_opening` which follows from it).

use closeloop_kit::convert::{date_to_proto, money_to_proto, owed_call_to_proto, timestamp};
use closeloop_kit::outbox::{OwedState, OwedStatus};
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as pb;

use super::enums::wire;
use crate::app::handoffs::Seen;
use crate::domain::handoff::{Introduction, PrefillState};
use crate::domain::readiness::Readiness;
use crate::domain::snapshot::ContractSnapshot;
use crate::domain::vocabulary::{Actor, CallState, Contact, Party};
use crate::owes::OPEN_ACCOUNT;

fn time(t: Option<i64>) -> Option<prost_types::Timestamp> {
    t.map(timestamp)
}

fn actor(a: &Actor) -> common::Actor {
    common::Actor {
        subject: a.subject.clone(),
        role: a.role.clone(),
    }
}

fn party(p: &Party) -> common::Party {
    common::Party {
        account_id: p.account_id.clone(),
        display_name: p.display_name.clone(),
    }
}

fn contact(c: &Contact) -> common::Contact {
    common::Contact {
        display_name: c.display_name.clone(),
        email: c
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        phone: c.phone.clone(),
        title: c.title.clone(),
    }
}

/// The snapshot exactly as StartHandoff received it (unspecified statuses read as PENDING).
pub fn snapshot(s: &ContractSnapshot) -> pb::ContractSnapshot {
    let money = |m| Some(money_to_proto(m));
    pb::ContractSnapshot {
        contract: s.contract.clone(),
        order: s.order.clone(),
        opportunity: s.opportunity.clone(),
        account: Some(party(&s.account)),
        salesperson: s.salesperson.clone(),
        title: s.title.clone(),
        contract_value: money(s.contract_value),
        start_date: Some(date_to_proto(s.start_date)),
        end_date: Some(date_to_proto(s.end_date)),
        term_months: s.term_months,
        auto_renew: s.auto_renew,
        payment_terms_days: s.payment_terms_days,
        deliverables: s
            .deliverables
            .iter()
            .map(|d| pb::ContractDeliverable {
                deliverable_id: d.id.clone(),
                description: d.description.clone(),
                due_date: Some(date_to_proto(d.due_date)),
                status: wire::<common::ObligationStatus, _>(d.status),
            })
            .collect(),
        client_obligations: s
            .client_obligations
            .iter()
            .map(|o| pb::ClientObligation {
                obligation_id: o.id.clone(),
                kind: wire::<common::ObligationKind, _>(o.kind),
                description: o.description.clone(),
                due_date: o.due_date.map(date_to_proto),
                status: wire::<common::ObligationStatus, _>(o.status),
            })
            .collect(),
        payment_schedule: s
            .payment_schedule
            .iter()
            .map(|i| pb::PaymentInstallment {
                installment_id: i.id.clone(),
                amount: money(i.amount),
                due_date: Some(date_to_proto(i.due_date)),
                invoice: i.invoice.clone(),
                description: i.description.clone(),
            })
            .collect(),
        line_items: s
            .line_items
            .iter()
            .map(|li| pb::ContractLineItem {
                product_id: li.product_id.clone(),
                product_name: li.product_name.clone(),
                quantity: li.quantity,
                unit_price: money(li.unit_price),
                unit_cost: li.unit_cost.map(money_to_proto),
                amount: money(li.amount),
            })
            .collect(),
        signers: s
            .signers
            .iter()
            .map(|x| pb::ContractSigner {
                contact: Some(contact(&x.contact)),
                side: wire::<pb::PartySide, _>(x.side),
                sign_time: time(x.sign_time),
            })
            .collect(),
        order_time: Some(timestamp(s.order_time)),
    }
}

fn introduction(i: &Introduction) -> pb::Introduction {
    pb::Introduction {
        state: wire::<pb::IntroductionState, _>(i.state),
        kind: i.kind.map_or(0, wire::<pb::IntroductionKind, _>),
        schedule_time: time(i.schedule_time),
        attendees: i
            .attendees
            .iter()
            .map(|a| pb::IntroductionAttendee {
                contact: Some(contact(&a.contact)),
                side: wire::<pb::PartySide, _>(a.side),
                subject: a.subject.clone(),
            })
            .collect(),
        location: i.location.clone(),
        complete_time: time(i.complete_time),
        notes: i.notes.clone(),
        scheduled_by: i.scheduled_by.as_ref().map(actor),
        schedule_record_time: time(i.schedule_record_time),
        completed_by: i.completed_by.as_ref().map(actor),
        account_manager: i.account_manager.clone(),
    }
}

/// The readiness checklist as evaluated at `now`.
pub fn readiness(r: &Readiness, now: i64) -> pb::Readiness {
    pb::Readiness {
        ready: r.ready(),
        checks: r
            .checks
            .iter()
            .map(|(check, met)| pb::ReadinessCheckResult {
                check: wire::<pb::ReadinessCheck, _>(*check),
                code: check.code().to_owned(),
                met: *met,
            })
            .collect(),
        missing: r
            .missing
            .iter()
            .map(|m| pb::ReadinessItem {
                check: wire::<pb::ReadinessCheck, _>(m.check),
                code: m.code().to_owned(),
                field: m.field.clone(),
                description: m.description.clone(),
            })
            .collect(),
        evaluate_time: Some(timestamp(now)),
    }
}

fn prefill(p: &PrefillState) -> pb::Prefill {
    let state = match p {
        PrefillState::Pending { .. } => pb::PrefillState::Pending,
        PrefillState::Done { .. } => pb::PrefillState::Done,
        PrefillState::Failed { .. } => pb::PrefillState::Failed,
    };
    pb::Prefill {
        state: state.into(),
        failure: p.failure().to_owned(),
        state_change_time: Some(timestamp(p.time())),
    }
}

/// The owed call's state in the domain's words.
fn call_state(status: &OwedStatus) -> CallState {
    match status.state {
        OwedState::Pending => CallState::Pending,
        OwedState::Delivered => CallState::Delivered,
        OwedState::Refused { .. } => CallState::Refused,
    }
}

/// A handoff as the API shows it.
pub fn handoff(seen: Seen<'_>) -> pb::Handoff {
    let Seen {
        handoff: h,
        call,
        now,
    } = seen;
    let opening_state = h.account_opening_state(call.map(call_state));
    let delivered_at = call
        .filter(|c| c.state == OwedState::Delivered && c.state_change_time > 0)
        .map(|c| c.state_change_time);
    let open_account_call =
        call.map(|c| owed_call_to_proto(OPEN_ACCOUNT, &h.open_account_request_id(), c));
    let update_time = call.map_or(h.update_time, |c| h.update_time.max(c.state_change_time));
    pb::Handoff {
        name: h.name(),
        status: wire::<pb::HandoffStatus, _>(h.status),
        contract_snapshot: Some(snapshot(&h.snapshot)),
        account: Some(party(h.account())),
        contract: h.contract().to_owned(),
        order: h.order().to_owned(),
        opportunity: h.opportunity().to_owned(),
        salesperson: h.salesperson.clone(),
        account_manager: h.account_manager.clone().unwrap_or_default(),
        customer_needs: h
            .customer_needs
            .iter()
            .map(|n| pb::CustomerNeed {
                description: n.description.clone(),
                details: n.details.clone(),
            })
            .collect(),
        goals: h
            .goals
            .iter()
            .map(|g| pb::Goal {
                goal_id: g.id.clone(),
                description: g.description.clone(),
                success_criteria: g
                    .success_criteria
                    .iter()
                    .map(|c| pb::SuccessCriterion {
                        description: c.description.clone(),
                        target_date: c.target_date.map(date_to_proto),
                    })
                    .collect(),
                target_date: g.target_date.map(date_to_proto),
                origin: wire::<pb::GoalOrigin, _>(g.origin),
            })
            .collect(),
        verbal_commitments: h
            .verbal_commitments
            .iter()
            .map(|c| pb::VerbalCommitment {
                description: c.description.clone(),
                promised_by: Some(contact(&c.promised_by)),
                promised_to: Some(contact(&c.promised_to)),
                promise_date: c.promise_date.map(date_to_proto),
                due_date: c.due_date.map(date_to_proto),
                notes: c.notes.clone(),
            })
            .collect(),
        no_verbal_commitments: h.no_verbal_commitments,
        stakeholders: h
            .stakeholders
            .iter()
            .map(|s| pb::Stakeholder {
                contact: Some(contact(&s.contact)),
                role: wire::<pb::StakeholderRole, _>(s.role),
                primary: s.primary,
            })
            .collect(),
        delivery_timeline: h
            .delivery_timeline
            .iter()
            .map(|m| pb::Milestone {
                milestone_id: m.id.clone(),
                title: m.title.clone(),
                due_date: Some(date_to_proto(m.due_date)),
                description: m.description.clone(),
                deliverable_ids: m.deliverable_ids.clone(),
                origin: wire::<pb::MilestoneOrigin, _>(m.origin),
            })
            .collect(),
        support_contacts: h
            .support_contacts
            .iter()
            .map(|c| pb::SupportContact {
                kind: wire::<pb::SupportContactKind, _>(c.kind),
                contact: Some(contact(&c.contact)),
                notes: c.notes.clone(),
            })
            .collect(),
        onboarding_plan: h
            .onboarding_plan
            .iter()
            .map(|s| pb::OnboardingStep {
                step_id: s.id.clone(),
                title: s.title.clone(),
                description: s.description.clone(),
                owner: s.owner.clone().unwrap_or_default(),
                client_contact: s.client_contact.as_ref().map(contact),
                due_date: s.due_date.map(date_to_proto),
                status: wire::<pb::OnboardingStepStatus, _>(s.status),
                status_note: s.status_note.clone(),
                complete_time: time(s.complete_time),
                status_update_time: time(s.status_update_time),
                status_updated_by: s.status_updated_by.as_ref().map(actor),
            })
            .collect(),
        introduction: Some(introduction(&h.introduction)),
        readiness: Some(readiness(&h.readiness(), now)),
        rejections: h
            .rejections
            .iter()
            .map(|r| pb::Rejection {
                reasons: r.reasons.clone(),
                rejected_by: Some(actor(&r.rejected_by)),
                reject_time: Some(timestamp(r.reject_time)),
            })
            .collect(),
        status_history: h
            .status_history
            .iter()
            .map(|c| pb::StatusChange {
                from_status: c.from.map_or(0, wire::<pb::HandoffStatus, _>),
                to_status: wire::<pb::HandoffStatus, _>(c.to),
                change_time: Some(timestamp(c.time)),
                actor: Some(actor(&c.actor)),
                reasons: c.reasons.clone(),
            })
            .collect(),
        account_opening: Some(pb::AccountOpening {
            state: wire::<pb::AccountOpeningState, _>(opening_state),
            account: h.account_opening.account.clone(),
            request_time: time(h.account_opening.request_time),
            open_time: time(h.account_opening.open_time.or(delivered_at)),
        }),
        notes: h.notes.clone(),
        account_manager_notes: h.account_manager_notes.clone(),
        previous_introductions: h.previous_introductions.iter().map(introduction).collect(),
        submit_time: time(h.submit_time),
        accept_time: time(h.accept_time),
        create_time: Some(timestamp(h.create_time)),
        update_time: Some(timestamp(update_time)),
        etag: h.etag(),
        open_account_call,
        prefill: Some(prefill(&h.prefill)),
    }
}
