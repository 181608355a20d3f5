//! Domain values into answers: contracts with their derived figures (send blockers, scheduled
//! total, amount paid, installment invoice status), orders, invoices.

use closeloop_kit::convert::{date_range_to_proto, date_to_proto, money_to_proto, timestamp};
use closeloop_kit::outbox::OwedStatus;
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as pb;
use time::Date;

use super::enums::{obligation_kind_wire, obligation_status_wire, wire};
use crate::app::contracts::Seen;
use crate::domain::balance::AccountBalance;
use crate::domain::contract::{Deliverable, SnapshotLineItem};
use crate::domain::follow_up::FollowUp;
use crate::domain::invoice::{Dunning, Invoice};
use crate::domain::payments::PaymentAttempt;
use crate::domain::policy::Policy;
use crate::domain::vocabulary::{Actor, Party};
use crate::owes::START_HANDOFF;

fn money(currency: CurrencyCode, minor: i64) -> Option<common::Money> {
    Some(money_to_proto(Money::new(currency, minor)))
}

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

fn line_item(currency: CurrencyCode, li: &SnapshotLineItem) -> pb::SnapshotLineItem {
    pb::SnapshotLineItem {
        product_id: li.product_id.clone(),
        product_name: li.product_name.clone(),
        quantity: li.quantity,
        list_unit_price: money(currency, li.list_unit),
        sold_unit_price: money(currency, li.sold_unit),
        unit_cost: money(currency, li.unit_cost),
    }
}

fn deliverable(d: &Deliverable, today: Date) -> pb::Deliverable {
    pb::Deliverable {
        deliverable_id: d.id.clone(),
        description: d.description.clone(),
        due_date: d.due_date.map(date_to_proto),
        product_id: d.product_id.clone(),
        status: wire::<pb::DeliverableStatus, _>(d.status),
        status_note: d.status_note.clone(),
        status_updated_by: d.status_updated_by.as_ref().map(actor),
        status_update_time: time(d.status_update_time),
        deliver_time: time(d.deliver_time),
        overdue: !d.status.is_done() && d.due_date.is_some_and(|due| due < today),
    }
}

/// A contract as the API shows it.
pub fn contract(seen: Seen<'_>) -> pb::Contract {
    let Seen {
        contract: c,
        invoices,
        today,
    } = seen;
    let cur = c.currency;
    let s = &c.snapshot;
    let paid = invoices
        .iter()
        .fold(0i64, |sum, i| sum.saturating_add(i.amount_paid));
    pb::Contract {
        name: c.name(),
        opportunity_snapshot: Some(pb::OpportunitySnapshot {
            opportunity: s.opportunity.clone(),
            account: Some(party(&s.account)),
            owner: s.owner.clone(),
            title: s.title.clone(),
            kind: wire::<pb::DealKind, _>(s.kind),
            line_items: s.line_items.iter().map(|li| line_item(cur, li)).collect(),
            amount: money(cur, s.amount),
            close_date: Some(date_to_proto(s.close_date)),
            prior_contract_value: s.prior_contract_value.and_then(|v| money(cur, v)),
        }),
        title: c.title.clone(),
        status: wire::<pb::ContractStatus, _>(c.status),
        value: money(cur, c.value()),
        deliverables: c
            .deliverables
            .iter()
            .map(|d| deliverable(d, today))
            .collect(),
        payment_schedule: c
            .schedule
            .iter()
            .map(|i| {
                let invoice = i
                    .invoice
                    .as_ref()
                    .and_then(|id| invoices.iter().find(|inv| &inv.id == id));
                pb::Installment {
                    installment_id: i.id.clone(),
                    description: i.description.clone(),
                    amount: money(cur, i.amount),
                    due_date: Some(date_to_proto(i.due_date)),
                    service_period: i.service_period.map(date_range_to_proto),
                    invoice: invoice.map(Invoice::name).unwrap_or_default(),
                    invoice_status: invoice
                        .map_or(0, |inv| wire::<pb::InvoiceStatus, _>(inv.status(today))),
                }
            })
            .collect(),
        client_obligations: c
            .obligations
            .iter()
            .map(|o| pb::ClientObligation {
                obligation_id: o.id.clone(),
                kind: obligation_kind_wire(o.kind),
                description: o.description.clone(),
                due_date: o.due_date.map(date_to_proto),
                status: obligation_status_wire(o.status),
                status_note: o.status_note.clone(),
                status_updated_by: o.status_updated_by.as_ref().map(actor),
                status_update_time: time(o.status_update_time),
            })
            .collect(),
        terms: Some(pb::Terms {
            payment_terms_days: c.terms.payment_terms_days,
            start_date: c.terms.start_date.map(date_to_proto),
            end_date: c.terms.end_date().map(date_to_proto),
            term_months: c.terms.term_months.unwrap_or(0),
            auto_renew: c.terms.auto_renew,
            renewal_notice_days: c.terms.renewal_notice_days,
        }),
        signers: c
            .signers
            .iter()
            .map(|s| pb::Signer {
                signer_id: s.id.clone(),
                side: wire::<pb::SignerSide, _>(s.side),
                contact: Some(common::Contact {
                    display_name: s.contact.display_name.clone(),
                    email: s
                        .contact
                        .email
                        .as_ref()
                        .map(|e| e.as_str().to_owned())
                        .unwrap_or_default(),
                    phone: s.contact.phone.clone(),
                    title: s.contact.title.clone(),
                }),
                subject: s.subject.clone(),
                status: wire::<pb::SignerStatus, _>(s.status),
                sign_time: time(s.sign_time),
                signature_reference: s.signature_reference.clone(),
                recorded_by: s.recorded_by.as_ref().map(actor),
            })
            .collect(),
        notes: c.notes.clone(),
        document_uri: c.document_uri.clone(),
        esignature_envelope_id: c.envelope_id.clone(),
        send_blockers: c
            .send_blockers()
            .into_iter()
            .map(|b| pb::Blocker {
                gate: b.gate,
                subject: b.subject,
                description: b.description,
            })
            .collect(),
        scheduled_total: money(cur, c.scheduled_total()),
        amount_paid: money(cur, paid),
        order: c.order_name().unwrap_or_default(),
        send_time: time(c.send_time),
        expire_time: time(c.expire_time),
        sign_time: time(c.sign_time),
        activate_time: time(c.activate_time),
        close_time: time(c.close_time),
        status_reason: c.status_reason.clone(),
        termination_reason: c
            .termination_reason
            .map_or(0, wire::<pb::TerminationReason, _>),
        status_history: c
            .history
            .iter()
            .map(|h| pb::StatusChange {
                from_status: h.from.map_or(0, wire::<pb::ContractStatus, _>),
                to_status: wire::<pb::ContractStatus, _>(h.to),
                change_time: Some(timestamp(h.time)),
                actor: Some(actor(&h.actor)),
                reason: h.reason.clone(),
            })
            .collect(),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
        etag: c.etag(),
    }
}

/// A contract's order as the API shows it, with the delivery of its StartHandoff call.
/// `None` before the order is placed.
pub fn order(seen: Seen<'_>, handoff: &OwedStatus) -> Option<pb::Order> {
    let Seen {
        contract: c, today, ..
    } = seen;
    let o = c.order.as_ref()?;
    let status = c.order_status()?;
    let call =
        closeloop_kit::convert::owed_call_to_proto(START_HANDOFF, &o.handoff_command, handoff);
    let confirmed = matches!(handoff.state, closeloop_kit::outbox::OwedState::Delivered)
        && handoff.state_change_time > 0;
    Some(pb::Order {
        name: c.order_name().unwrap_or_default(),
        order_number: o.number.clone(),
        account: Some(party(&c.snapshot.account)),
        owner: c.owner().to_owned(),
        status: wire::<pb::OrderStatus, _>(status),
        line_items: c
            .snapshot
            .line_items
            .iter()
            .map(|li| line_item(c.currency, li))
            .collect(),
        amount: money(c.currency, c.value()),
        deliverables: c
            .deliverables
            .iter()
            .map(|d| deliverable(d, today))
            .collect(),
        term: c
            .terms
            .start_date
            .zip(c.terms.end_date())
            .map(date_range_to_proto),
        invoices: o
            .invoices
            .iter()
            .map(|id| format!("contracts/{}/invoices/{id}", c.id))
            .collect(),
        placed_by: Some(actor(&o.placed_by)),
        place_time: Some(timestamp(o.place_time)),
        fulfill_time: time(o.fulfill_time),
        handoff_confirm_time: confirmed.then(|| timestamp(handoff.state_change_time)),
        notes: o.notes.clone(),
        update_time: Some(timestamp(o.update_time.max(handoff.state_change_time))),
        etag: format!("\"{}-{}\"", c.version, call.state),
        start_handoff_call: Some(call),
    })
}

fn dunning(d: &Dunning) -> pb::DunningState {
    pb::DunningState {
        status: wire::<pb::DunningStatus, _>(
            d.status
                .unwrap_or(crate::domain::vocabulary::DunningStatus::None),
        ),
        retry_days: d.retry_days.clone(),
        cycle_start_time: time(d.cycle_start_time),
        retry_times: d.retry_times.iter().map(|t| timestamp(*t)).collect(),
        next_retry_time: time(d.next_retry_time),
        retries_remaining: d.retries_remaining,
        failed_attempt_count: d.failed_attempt_count,
        last_failure_time: time(d.last_failure_time),
        last_decline_type: d.last_decline_type.map_or(0, wire::<pb::DeclineType, _>),
        last_failure_code: d.last_failure_code.clone(),
    }
}

/// An invoice as the API shows it, its status and level as of `today`.
pub fn invoice(i: &Invoice, today: Date, policy: &Policy) -> pb::Invoice {
    let cur = i.currency;
    let days = i.days_past_due(today);
    pb::Invoice {
        name: i.name(),
        invoice_number: i.number.clone(),
        account: Some(party(&i.account)),
        owner: i.owner.clone(),
        installment_id: i.installment_id.clone(),
        description: i.description.clone(),
        status: wire::<pb::InvoiceStatus, _>(i.status(today)),
        amount_due: money(cur, i.amount_due),
        amount_paid: money(cur, i.amount_paid),
        amount_remaining: money(cur, i.amount_remaining()),
        issue_date: Some(date_to_proto(i.issue_date)),
        due_date: Some(date_to_proto(i.due_date)),
        service_period: i.service_period.map(date_range_to_proto),
        days_past_due: i32::try_from(days).unwrap_or(i32::MAX),
        overdue_level: wire::<pb::OverdueLevel, _>(policy.overdue_level(days)),
        dunning: Some(dunning(&i.dunning)),
        open_follow_up: i
            .open_follow_up
            .as_ref()
            .map(|f| format!("followUps/{f}"))
            .unwrap_or_default(),
        status_reason: i.status_reason.clone(),
        paid_time: time(i.paid_time),
        last_attempt_time: time(i.last_attempt_time),
        create_time: Some(timestamp(i.create_time)),
        update_time: Some(timestamp(i.update_time)),
        etag: format!("\"{}\"", i.version),
    }
}

/// A payment attempt as the API shows it.
pub fn attempt(a: &PaymentAttempt) -> pb::PaymentAttempt {
    pb::PaymentAttempt {
        name: a.name(),
        result: wire::<pb::PaymentResult, _>(a.result),
        amount: money(a.currency, a.amount),
        decline_type: a.decline_type.map_or(0, wire::<pb::DeclineType, _>),
        failure_code: a.failure_code.clone(),
        failure_message: a.failure_message.clone(),
        processor: a.processor.clone(),
        processor_reference: a.processor_reference.clone(),
        payment_method: a.payment_method.clone(),
        attempt_time: Some(timestamp(a.attempt_time)),
        attempt_number: a.attempt_number,
        dunning_retry: a.dunning_retry,
        follow_up: a
            .follow_up
            .as_ref()
            .map(|f| format!("followUps/{f}"))
            .unwrap_or_default(),
        recorded_by: Some(actor(&a.recorded_by)),
        create_time: Some(timestamp(a.create_time)),
    }
}

/// A follow-up as the API shows it.
pub fn follow_up(f: &FollowUp) -> pb::FollowUp {
    pb::FollowUp {
        name: f.name(),
        assignee: f.assignee.clone(),
        status: wire::<pb::FollowUpStatus, _>(f.status),
        invoice: format!("contracts/{}/invoices/{}", f.contract, f.invoice),
        contract: format!("contracts/{}", f.contract),
        account: Some(party(&f.account)),
        summary: f.summary.clone(),
        payment_attempts: f
            .payment_attempts
            .iter()
            .map(|a| {
                format!(
                    "contracts/{}/invoices/{}/paymentAttempts/{a}",
                    f.contract, f.invoice
                )
            })
            .collect(),
        last_decline_type: f.last_decline_type.map_or(0, wire::<pb::DeclineType, _>),
        last_failure_code: f.last_failure_code.clone(),
        amount_remaining: money(f.currency, f.amount_remaining),
        next_retry_time: time(f.next_retry_time),
        resolution_note: f.resolution_note.clone(),
        resolved_by: f.resolved_by.as_ref().map(actor),
        resolve_time: time(f.resolve_time),
        create_time: Some(timestamp(f.create_time)),
        update_time: Some(timestamp(f.update_time)),
        etag: f.etag(),
    }
}

/// An account's balance as the API shows it. Without a currency (no contract, none asked for)
/// the amounts are unset: there is nothing to count them in.
pub fn balance(b: &AccountBalance) -> pb::AccountBalance {
    let amount = |minor: i64| b.currency.and_then(|c| money(c, minor));
    pb::AccountBalance {
        account_id: b.account_id.clone(),
        currency_code: b
            .currency
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        paid_to_date: amount(b.paid_to_date),
        outstanding: amount(b.outstanding),
        overdue: amount(b.overdue),
        next_due_date: b.next_due_date.map(date_to_proto),
        next_due_amount: amount(b.next_due_amount),
        worst_overdue_level: wire::<pb::OverdueLevel, _>(b.worst_overdue_level),
        max_days_past_due: i32::try_from(b.max_days_past_due).unwrap_or(i32::MAX),
        scheduled: amount(b.scheduled),
        uncollectible: amount(b.uncollectible),
        open_invoice_count: b.open_invoice_count,
        past_due_invoice_count: b.past_due_invoice_count,
        open_follow_up_count: b.open_follow_up_count,
        active_contract_count: b.active_contract_count,
        contract_value_total: amount(b.contract_value_total),
        paid_through_date: b.paid_through_date.map(date_to_proto),
        suspension_effective_date: b.suspension_effective_date.map(date_to_proto),
        last_payment_time: time(b.last_payment_time),
        other_currency_codes: b
            .other_currencies
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        compute_time: Some(timestamp(b.compute_time)),
    }
}

/// The configured collection rules.
pub fn policy(p: &Policy) -> pb::PaymentPolicy {
    pb::PaymentPolicy {
        dunning_retry_days: p.dunning_retry_days.clone(),
        overdue_ladder: p
            .ladder()
            .into_iter()
            .map(|(level, days)| pb::OverdueLadderStep {
                level: wire::<pb::OverdueLevel, _>(level),
                min_days_past_due: days,
            })
            .collect(),
    }
}
