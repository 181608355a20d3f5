//! Contracts from a won deal to their end: creation (idempotent, one live contract per
//! opportunity), drafts and their sending blockers, every status move allowed and refused,
//! expiry by the service's clock, orders and what they owe the handoff service.

use closeloop_kit::Role;
use closeloop_proto::contracts::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_won_deal_becomes_one_draft_with_its_blockers() {
    let app = TestApp::spawn().await;
    let c = app.draft("opp-1", "ana").await;
    assert_eq!(c.status, pb::ContractStatus::Draft as i32);
    assert_eq!(c.value, money(1_000_000));
    assert_eq!(c.title, "Acme analytics");
    assert_eq!(c.deliverables.len(), 1);
    assert_eq!(c.deliverables[0].description, "Analytics x 2");
    assert_eq!(
        c.terms.unwrap().payment_terms_days,
        30,
        "the configured default"
    );
    let blockers: Vec<(&str, &str)> = c
        .send_blockers
        .iter()
        .map(|b| (b.gate.as_str(), b.subject.as_str()))
        .collect();
    assert_eq!(
        blockers,
        [
            ("signers", "signers.client"),
            ("signers", "signers.company"),
            ("deliverables", "deliverables[0].due_date"),
            ("payment_schedule", "payment_schedule"),
            ("terms", "terms.start_date"),
            ("terms", "terms.term_months"),
        ]
    );

    // The relay delivers again: the first answer, nothing new.
    let again = app
        .service()
        .create_contract(create("opp-1", "ana"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, c.name);
    let listed = app
        .manager()
        .list_contracts(pb::ListContractsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.contracts.len(), 1);

    // Another command for the same opportunity: it already has a live contract.
    let mut other = create("opp-1", "ana");
    other.request_id = "someone-else".into();
    let refused = app.manager().create_contract(other).await.unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
}

#[tokio::test]
async fn a_draft_fills_in_until_nothing_blocks_sending() {
    let app = TestApp::spawn().await;
    let c = app.draft("opp-2", "ana").await;
    let mut m = app.manager();
    let refused = m.send_contract(send(&c.name)).await.unwrap_err();
    assert_gate(&refused, "signers", Some("signers.client"));
    assert_gate(&refused, "payment_schedule", Some("payment_schedule"));

    // A schedule that does not add up only blocks sending.
    let mut update = fill(&c);
    update.contract.as_mut().unwrap().payment_schedule[1].amount = money(500_000);
    let short = m.update_contract(update).await.unwrap().into_inner();
    assert_eq!(short.send_blockers.len(), 1);
    assert_eq!(short.send_blockers[0].subject, "payment_schedule.total");
    assert_eq!(
        short.send_blockers[0].description,
        "installments sum to EUR 9000.00, contract value is EUR 10000.00"
    );
    assert_eq!(short.scheduled_total, money(900_000));
    assert_eq!(
        short.deliverables[0].deliverable_id, c.deliverables[0].deliverable_id,
        "kept by id"
    );

    let ready = m.update_contract(fill(&c)).await.unwrap().into_inner();
    assert!(ready.send_blockers.is_empty(), "{:?}", ready.send_blockers);
    let end = ready.terms.unwrap().end_date.unwrap();
    assert_eq!(
        (end.year, end.month, end.day),
        (2028, 1, 14),
        "12 months from 2027-01-15"
    );

    let sent = m.send_contract(send(&c.name)).await.unwrap().into_inner();
    assert_eq!(sent.status, pb::ContractStatus::Sent as i32);
    assert!(sent.expire_time.is_some() && sent.send_time.is_some());
    assert!(sent.send_blockers.is_empty());

    // Only a DRAFT is editable.
    let late = m.update_contract(fill(&c)).await.unwrap_err();
    assert_gate(&late, "status", None);
}

#[tokio::test]
async fn values_wrong_whatever_the_draft_are_refused_at_once() {
    let app = TestApp::spawn().await;
    let c = app.draft("opp-3", "ana").await;
    let mut update = fill(&c);
    {
        let d = update.contract.as_mut().unwrap();
        d.payment_schedule[0].amount = money(0);
        d.payment_schedule[1].amount = Some(closeloop_proto::common::v1::Money {
            currency_code: "USD".into(),
            amount_minor: 100,
        });
        d.signers[0].contact.as_mut().unwrap().email = "not an email".into();
        d.deliverables[0].description = String::new();
        d.terms.as_mut().unwrap().term_months = 121;
        d.payment_schedule[0].due_date = day(2027, 2, 30);
    }
    let refused = app.manager().update_contract(update).await.unwrap_err();
    assert_invalid(
        &refused,
        &[
            "contract.payment_schedule[0].amount",
            "contract.payment_schedule[0].due_date",
            "contract.payment_schedule[1].amount",
            "contract.signers[0].contact.email",
            "contract.deliverables[0].description",
            "contract.terms.term_months",
        ],
    );
    let unchanged = app
        .manager()
        .get_contract(pb::GetContractRequest {
            name: c.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.etag, c.etag, "a refused update changes nothing");

    let mut mask = fill(&c);
    mask.update_mask = Some(prost_types::FieldMask {
        paths: vec!["value".into(), "terms.end_date".into()],
    });
    assert_invalid(
        &app.manager().update_contract(mask).await.unwrap_err(),
        &["update_mask"],
    );
}

#[tokio::test]
async fn signing_then_the_order_owes_the_handoff() {
    let app = TestApp::spawn().await;
    let c = app.ready("opp-4", "ana").await;
    let mut m = app.manager();
    m.send_contract(send(&c.name)).await.unwrap();

    let early = m
        .place_order(pb::PlaceOrderRequest {
            name: c.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&early, "signatures", Some("signers[0]"));
    assert_gate(&early, "signatures", Some("signers[1]"));

    let one = m
        .sign_contract(sign_by_email(&c.name, "CLEO@client.example"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.status, pb::ContractStatus::Sent as i32);
    assert_eq!(one.signers[0].status, pb::SignerStatus::Signed as i32);
    let still = m
        .place_order(pb::PlaceOrderRequest {
            name: c.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&still, "signatures", Some("signers[1]"));

    let signed = m
        .sign_contract(pb::SignContractRequest {
            name: c.name.clone(),
            signer_id: one.signers[1].signer_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(signed.status, pb::ContractStatus::Signed as i32);
    assert!(signed.sign_time.is_some());
    assert!(
        app.outbox().await.is_empty(),
        "nothing is owed before the order"
    );

    let placed = app
        .contracts("olga", &[Role::Operations])
        .place_order(pb::PlaceOrderRequest {
            name: c.name.clone(),
            notes: "rush".into(),
            request_id: "place-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let contract = placed.contract.unwrap();
    assert_eq!(contract.status, pb::ContractStatus::Active as i32);
    let order = placed.order.unwrap();
    assert_eq!(contract.order, order.name);
    assert_eq!(order.status, pb::OrderStatus::Placed as i32);
    assert_eq!(order.notes, "rush");
    assert_eq!(placed.invoices.len(), 2);
    assert_eq!(order.invoices.len(), 2);
    assert_eq!(placed.invoices[0].amount_due, money(400_000));
    assert_eq!(placed.invoices[1].amount_due, money(600_000));
    assert!(
        contract
            .payment_schedule
            .iter()
            .all(|i| !i.invoice.is_empty())
    );
    let call = order.start_handoff_call.unwrap();
    assert_eq!(
        call.state,
        closeloop_proto::common::v1::OwedCallState::Pending as i32
    );
    assert_eq!(
        call.method,
        "closeloop.handoff.v1.HandoffService/StartHandoff"
    );

    // The call waits in the outbox, with the contract as it stood.
    let owed = app.outbox().await;
    assert_eq!(owed.len(), 1);
    assert_eq!(
        owed[0].0,
        "closeloop.handoff.v1.HandoffService/StartHandoff"
    );
    let request: closeloop_proto::handoff::v1::StartHandoffRequest =
        prost::Message::decode(owed[0].1.as_slice()).unwrap();
    assert_eq!(request.request_id, call.command_id);
    let snapshot = request.contract_snapshot.unwrap();
    assert_eq!(snapshot.order, order.name);
    assert_eq!(snapshot.term_months, 12);
    assert_eq!(snapshot.payment_schedule.len(), 2);
    assert_eq!(
        snapshot.payment_schedule[0].invoice,
        placed.invoices[0].name
    );

    let read = m
        .get_order(pb::GetOrderRequest {
            name: order.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.order_number, order.order_number);
    assert_eq!(read.start_handoff_call.unwrap().command_id, call.command_id);

    // The deliverable's progress drives the order.
    let ops = &mut app.contracts("olga", &[Role::Operations]);
    let d = contract.deliverables[0].deliverable_id.clone();
    ops.update_deliverable_status(pb::UpdateDeliverableStatusRequest {
        name: c.name.clone(),
        deliverable_id: d.clone(),
        status: pb::DeliverableStatus::Delivered as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let fulfilled = m
        .get_order(pb::GetOrderRequest {
            name: order.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fulfilled.status, pb::OrderStatus::Fulfilled as i32);
    assert!(fulfilled.fulfill_time.is_some());

    // Completing waits for the invoices.
    let blocked = m
        .complete_contract(pb::CompleteContractRequest {
            name: c.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&blocked, "invoices", Some(placed.invoices[0].name.as_str()));

    let orders = m
        .list_orders(pb::ListOrdersRequest {
            parent: "contracts/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(orders.orders.len(), 1);
}

#[tokio::test]
async fn a_sent_contract_expires_by_the_clock() {
    let app = TestApp::spawn().await;
    let c = app.ready("opp-5", "ana").await;
    let mut m = app.manager();
    let sent = m.send_contract(send(&c.name)).await.unwrap().into_inner();
    app.clock.advance_days(31);

    let expired = m
        .get_contract(pb::GetContractRequest {
            name: c.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(expired.status, pb::ContractStatus::Expired as i32);
    assert_eq!(expired.status_reason, "expired");
    let last = expired.status_history.last().unwrap();
    assert_eq!(
        last.actor.as_ref().unwrap().subject,
        "closeloop-contracts-payments"
    );
    assert_eq!(last.change_time, expired.expire_time);
    assert_ne!(expired.etag, sent.etag, "expiring is a change");

    let listed = m
        .list_contracts(pb::ListContractsRequest {
            status: pb::ContractStatus::Expired as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.contracts.len(), 1);
    let sent = m
        .list_contracts(pb::ListContractsRequest {
            status: pb::ContractStatus::Sent as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        sent.contracts.is_empty(),
        "listing by status agrees with reading one"
    );

    let late = m
        .sign_contract(sign_by_email(&c.name, "cleo@client.example"))
        .await
        .unwrap_err();
    assert_gate(&late, "expired", None);

    // The opportunity may get a new contract now.
    let mut again = create("opp-5", "ana");
    again.request_id = "second-try".into();
    let second = m.create_contract(again).await.unwrap().into_inner();
    assert_ne!(second.name, c.name);
}

#[tokio::test]
async fn concurrent_commands_for_one_opportunity_make_one_contract() {
    let app = TestApp::spawn().await;
    let calls = (0..8).map(|i| {
        let mut client = app.manager();
        let mut request = create("opp-race", "ana");
        request.request_id = format!("race-{i}");
        tokio::spawn(async move { client.create_contract(request).await })
    });
    let mut created = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => created += 1,
            Err(status) => assert_eq!(status.code(), Code::AlreadyExists, "{status:?}"),
        }
    }
    assert_eq!(created, 1);
    let listed = app
        .manager()
        .list_contracts(pb::ListContractsRequest {
            opportunity: "opportunities/opp-race".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.contracts.len(), 1);
}

#[tokio::test]
async fn terminating_for_another_reason_needs_notes() {
    let app = TestApp::spawn().await;
    let placed = app.active("opp-other", "ana").await;
    let name = placed.contract.unwrap().name;
    let mut m = app.manager();
    let refused = m
        .terminate_contract(pb::TerminateContractRequest {
            name: name.clone(),
            reason: pb::TerminationReason::Other as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&refused, &["notes"]);
    let ended = m
        .terminate_contract(pb::TerminateContractRequest {
            name: name.clone(),
            reason: pb::TerminationReason::Other as i32,
            notes: "merged into the group contract".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.status, pb::ContractStatus::Terminated as i32);
    assert_eq!(ended.status_reason, "merged into the group contract");
    // The invoice not issued yet is voided; the issued one stays collectible.
    let statuses: Vec<i32> = ended
        .payment_schedule
        .iter()
        .map(|i| i.invoice_status)
        .collect();
    assert_eq!(
        statuses,
        [
            pb::InvoiceStatus::Open as i32,
            pb::InvoiceStatus::Void as i32
        ]
    );
    let order = m
        .get_order(pb::GetOrderRequest {
            name: ended.order.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order.status, pb::OrderStatus::Cancelled as i32);
    assert_eq!(
        order.deliverables[0].status,
        pb::DeliverableStatus::Cancelled as i32
    );
}
