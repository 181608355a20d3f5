//! What the contracts-and-payments service owes other services: a placed order owes the handoff
//! service a `StartHandoff` carrying the contract as it stands. The kit's outbox delivers it.

use closeloop_kit::convert::{date_to_proto, money_to_proto, timestamp};
use closeloop_kit::outbox::Owed;
use closeloop_kit::types::Money;
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as handoff;

use crate::domain::contract::Contract;
use crate::domain::invoice::Invoice;
use crate::domain::vocabulary::{DeliverableStatus, SignerSide};

/// The method called when an order is placed.
pub const START_HANDOFF: &str = "closeloop.handoff.v1.HandoffService/StartHandoff";

fn deliverable_status(s: DeliverableStatus) -> common::ObligationStatus {
    match s {
        DeliverableStatus::Pending => common::ObligationStatus::Pending,
        DeliverableStatus::InProgress => common::ObligationStatus::InProgress,
        DeliverableStatus::Delivered => common::ObligationStatus::Delivered,
        DeliverableStatus::Accepted => common::ObligationStatus::Fulfilled,
        DeliverableStatus::Cancelled => common::ObligationStatus::Cancelled,
    }
}

/// The call a placed order owes. Its `request_id` is the command's id, so the handoff service
/// applies it once however often it is delivered.
pub fn start_handoff(c: &Contract, invoices: &[Invoice], now: i64) -> Owed {
    let money = |minor: i64| Some(money_to_proto(Money::new(c.currency, minor)));
    let snapshot = handoff::ContractSnapshot {
        contract: c.name(),
        order: c.order_name().unwrap_or_default(),
        opportunity: c.snapshot.opportunity.clone(),
        account: Some(common::Party {
            account_id: c.snapshot.account.account_id.clone(),
            display_name: c.snapshot.account.display_name.clone(),
        }),
        salesperson: c.owner().to_owned(),
        title: c.title.clone(),
        contract_value: money(c.value()),
        start_date: c.terms.start_date.map(date_to_proto),
        end_date: c.terms.end_date().map(date_to_proto),
        term_months: c.terms.term_months.unwrap_or(0),
        auto_renew: c.terms.auto_renew,
        payment_terms_days: c.terms.payment_terms_days,
        deliverables: c
            .deliverables
            .iter()
            .map(|d| handoff::ContractDeliverable {
                deliverable_id: d.id.clone(),
                description: d.description.clone(),
                due_date: d.due_date.map(date_to_proto),
                status: deliverable_status(d.status).into(),
            })
            .collect(),
        client_obligations: c
            .obligations
            .iter()
            .map(|o| handoff::ClientObligation {
                obligation_id: o.id.clone(),
                kind: crate::api::enums::obligation_kind_wire(o.kind),
                description: o.description.clone(),
                due_date: o.due_date.map(date_to_proto),
                status: crate::api::enums::obligation_status_wire(o.status),
            })
            .collect(),
        payment_schedule: c
            .schedule
            .iter()
            .map(|i| handoff::PaymentInstallment {
                installment_id: i.id.clone(),
                amount: money(i.amount),
                due_date: Some(date_to_proto(i.due_date)),
                invoice: i
                    .invoice
                    .as_ref()
                    .and_then(|id| invoices.iter().find(|inv| &inv.id == id))
                    .map(Invoice::name)
                    .unwrap_or_default(),
                description: i.description.clone(),
            })
            .collect(),
        line_items: c
            .snapshot
            .line_items
            .iter()
            .map(|li| handoff::ContractLineItem {
                product_id: li.product_id.clone(),
                product_name: li.product_name.clone(),
                quantity: li.quantity,
                unit_price: money(li.sold_unit),
                unit_cost: money(li.unit_cost),
                amount: money(li.sold_unit.saturating_mul(li.quantity)),
            })
            .collect(),
        signers: c
            .signers
            .iter()
            .map(|s| handoff::ContractSigner {
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
                side: match s.side {
                    SignerSide::Client => handoff::PartySide::Client,
                    SignerSide::Company => handoff::PartySide::Company,
                }
                .into(),
                sign_time: s.sign_time.map(timestamp),
            })
            .collect(),
        order_time: Some(timestamp(now)),
    };
    Owed::call(START_HANDOFF, |request_id| handoff::StartHandoffRequest {
        contract_snapshot: Some(snapshot),
        request_id: request_id.to_owned(),
    })
}
