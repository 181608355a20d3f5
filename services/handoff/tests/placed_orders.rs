//! Both services running: an order placed in contracts-and-payments becomes exactly one DRAFT
//! handoff carrying the contract as it stood, delivered by the contracts service's outbox, and
//! the order shows the StartHandoff call DELIVERED; delivered again, it changes nothing.

use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::testing::TestService;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as contracts;
use closeloop_proto::contracts::v1::contract_service_client::ContractServiceClient;
use closeloop_proto::handoff::v1 as pb;

#[path = "api/helpers.rs"]
mod helpers;

use helpers::{TestApp, day, money};

/// A contract won by ana, filled, sent, signed by both sides and its order placed.
async fn place_order(contracts_service: &TestService) -> contracts::PlaceOrderResponse {
    let mut relay = ContractServiceClient::new(
        contracts_service.caller("closeloop-opportunities", &[Role::Service]),
    );
    let mut max =
        ContractServiceClient::new(contracts_service.caller("max", &[Role::SalesManager]));
    let c = relay
        .create_contract(contracts::CreateContractRequest {
            contract: Some(contracts::Contract {
                opportunity_snapshot: Some(contracts::OpportunitySnapshot {
                    opportunity: "opportunities/opp-placed".into(),
                    account: Some(common::Party {
                        account_id: "acme".into(),
                        display_name: "Acme GmbH".into(),
                    }),
                    owner: "ana".into(),
                    title: "Acme analytics".into(),
                    kind: contracts::DealKind::NewBusiness as i32,
                    line_items: vec![contracts::SnapshotLineItem {
                        product_id: "sku-1".into(),
                        product_name: "Analytics".into(),
                        quantity: 2,
                        list_unit_price: money(600_000),
                        sold_unit_price: money(500_000),
                        unit_cost: money(100_000),
                    }],
                    amount: money(1_000_000),
                    close_date: day(2026, 12, 1),
                    prior_contract_value: None,
                }),
                ..Default::default()
            }),
            request_id: "won-opp-placed".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let soon = |days: i64| {
        let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
        day(d.year(), i32::from(u8::from(d.month())), i32::from(d.day()))
    };
    let signer = |side: contracts::SignerSide, name: &str, email: &str| contracts::Signer {
        side: side as i32,
        contact: helpers::person(name, email),
        ..Default::default()
    };
    max.update_contract(contracts::UpdateContractRequest {
        contract: Some(contracts::Contract {
            name: c.name.clone(),
            deliverables: vec![contracts::Deliverable {
                deliverable_id: c.deliverables[0].deliverable_id.clone(),
                description: "Analytics x 2".into(),
                due_date: soon(30),
                ..Default::default()
            }],
            payment_schedule: vec![
                contracts::Installment {
                    description: "Setup".into(),
                    amount: money(400_000),
                    due_date: soon(10),
                    ..Default::default()
                },
                contracts::Installment {
                    description: "Rest".into(),
                    amount: money(600_000),
                    due_date: soon(40),
                    ..Default::default()
                },
            ],
            client_obligations: vec![contracts::ClientObligation {
                kind: common::ObligationKind::Access as i32,
                description: "VPN access for two engineers".into(),
                ..Default::default()
            }],
            terms: Some(contracts::Terms {
                payment_terms_days: 14,
                start_date: day(2027, 1, 15),
                term_months: 12,
                ..Default::default()
            }),
            signers: vec![
                signer(
                    contracts::SignerSide::Client,
                    "Cleo Client",
                    "cleo@client.example",
                ),
                signer(
                    contracts::SignerSide::Company,
                    "Ana Seller",
                    "ana@closeloop.example",
                ),
            ],
            ..Default::default()
        }),
        update_mask: helpers::mask(&[
            "deliverables",
            "payment_schedule",
            "client_obligations",
            "terms",
            "signers",
        ]),
        request_id: String::new(),
    })
    .await
    .unwrap();
    max.send_contract(contracts::SendContractRequest {
        name: c.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    for email in ["cleo@client.example", "ana@closeloop.example"] {
        max.sign_contract(contracts::SignContractRequest {
            name: c.name.clone(),
            signer_email: email.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    max.place_order(contracts::PlaceOrderRequest {
        name: c.name,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// The handoffs of `order`, once there is one (the relay delivers in the background), or none
/// after ten seconds.
async fn handoffs_of(app: &TestApp, order: &str) -> Vec<pb::Handoff> {
    for _ in 0..200 {
        let listed = app
            .manager()
            .list_handoffs(pb::ListHandoffsRequest {
                order: order.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .handoffs;
        if !listed.is_empty() {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn a_placed_order_becomes_one_handoff_through_the_contracts_outbox() {
    let app = TestApp::spawn().await;
    let endpoint = format!("http://{}", app.addr);
    let contracts_service = TestService::spawn_with(&closeloop_contracts_payments::SERVICE, |s| {
        s.set_peer("handoff", endpoint)
    })
    .await;
    let placed = place_order(&contracts_service).await;
    let order = placed.order.unwrap();
    let contract = placed.contract.unwrap();

    let found = handoffs_of(&app, &order.name).await;
    assert_eq!(found.len(), 1, "exactly one handoff");
    let h = &found[0];
    assert_eq!(h.status, pb::HandoffStatus::Draft as i32);
    assert_eq!(h.contract, contract.name);
    assert_eq!(h.opportunity, "opportunities/opp-placed");
    assert_eq!(h.salesperson, "ana");
    let s = h.contract_snapshot.as_ref().unwrap();
    assert_eq!(s.contract_value, money(1_000_000));
    assert_eq!(
        (s.start_date, s.end_date, s.term_months),
        (day(2027, 1, 15), day(2028, 1, 14), 12)
    );
    assert_eq!(s.payment_schedule.len(), 2);
    assert_eq!(s.client_obligations.len(), 1);
    assert_eq!(s.signers.len(), 2);
    assert_eq!(h.delivery_timeline.len(), 1);
    assert_eq!(h.delivery_timeline[0].title, "Analytics x 2");

    // The order shows the call delivered.
    let mut max =
        ContractServiceClient::new(contracts_service.caller("max", &[Role::SalesManager]));
    let mut delivered = None;
    for _ in 0..200 {
        let o = max
            .get_order(contracts::GetOrderRequest {
                name: order.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let call = o.start_handoff_call.unwrap();
        if call.state == common::OwedCallState::Delivered as i32 {
            delivered = Some(call);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = delivered.expect("the StartHandoff call is delivered");

    // Delivered again (a relay that lost the answer): the same handoff, unchanged.
    let (payload,): (Vec<u8>,) = sqlx::query_as("SELECT payload FROM outbox WHERE id = $1")
        .bind(&call.command_id)
        .fetch_one(contracts_service.db.reads())
        .await
        .unwrap();
    let request: pb::StartHandoffRequest = prost::Message::decode(payload.as_slice()).unwrap();
    assert_eq!(request.request_id, call.command_id);
    let again = app
        .service()
        .start_handoff(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, h.name);
    assert_eq!(again.etag, h.etag);
    assert_eq!(handoffs_of(&app, &order.name).await.len(), 1);

    contracts_service.stop().await;
    app.0.stop().await;
}
