//! Opportunities, contracts-and-payments and handoff running, wired as `closeloop up` wires
//! them: a deal won becomes a contract, which once signed places an order, which becomes exactly
//! one handoff prefilled from the opportunity — each step delivered by the previous service's
//! outbox.

use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::testing::TestService;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as contracts;
use closeloop_proto::contracts::v1::contract_service_client::ContractServiceClient;
use closeloop_proto::handoff::v1 as pb;
use closeloop_proto::handoff::v1::handoff_service_client::HandoffServiceClient;
use closeloop_proto::opportunities::v1 as opp;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;

fn money(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

fn date(d: time::Date) -> Option<common::Date> {
    Some(common::Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    })
}

/// Polls `read` every 50 ms for up to ten seconds until it gives something.
async fn eventually<T, F, Fut>(mut read: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(found) = read().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Ana's deal with Acme, from creation to closed won.
async fn win(opportunities: &TestService) -> opp::Opportunity {
    let mut ana = OpportunityServiceClient::new(opportunities.caller("ana", &[Role::SalesRep]));
    let o = ana
        .create_opportunity(opp::CreateOpportunityRequest {
            opportunity: Some(opp::Opportunity {
                account: Some(common::Party {
                    account_id: "acme".into(),
                    display_name: "Acme Corp".into(),
                }),
                title: "Analytics for Acme".into(),
                kind: opp::OpportunityKind::NewBusiness as i32,
                source: opp::OpportunitySource::Inbound as i32,
                currency_code: "EUR".into(),
                expected_close_date: Some(common::Date {
                    year: 2026,
                    month: 12,
                    day: 15,
                }),
                stakeholders: vec![opp::Stakeholder {
                    contact: Some(common::Contact {
                        display_name: "Dana Buyer".into(),
                        email: "dana@acme.example".into(),
                        ..Default::default()
                    }),
                    role: opp::StakeholderRole::DecisionMaker as i32,
                    primary: true,
                }],
                objectives: vec![opp::ClientObjective {
                    description: "Cut invoice processing time".into(),
                    success_measure: "under 2 days".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let stage = |stage: opp::Stage| opp::MoveOpportunityStageRequest {
        name: o.name.clone(),
        stage: stage as i32,
        ..Default::default()
    };
    ana.move_opportunity_stage(stage(opp::Stage::Qualification))
        .await
        .unwrap();
    ana.qualify_opportunity(opp::QualifyOpportunityRequest {
        name: o.name.clone(),
        qualification: Some(opp::Qualification {
            client_benefit_confirmed: true,
            realistic_expectations_confirmed: true,
            mature_partner_confirmed: true,
            notes: "Budget approved".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    ana.add_line_item(opp::AddLineItemRequest {
        name: o.name.clone(),
        line_item: Some(opp::LineItem {
            product_id: "seat".into(),
            product_name: "Seat licence".into(),
            quantity: 10,
            list_unit_price: money(10_000),
            sold_unit_price: money(9_500),
            unit_cost: money(4_000),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    ana.move_opportunity_stage(stage(opp::Stage::Proposal))
        .await
        .unwrap();
    ana.close_opportunity(opp::CloseOpportunityRequest {
        name: o.name.clone(),
        outcome: opp::Outcome::Won as i32,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn a_won_deal_reaches_the_account_team_as_one_prefilled_handoff() {
    // Each points at the next, as `closeloop up` wires them: the contracts service's port is
    // picked first so that opportunities can be told where it will listen.
    let contracts_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opportunities = TestService::spawn_with(&closeloop_opportunities::SERVICE, |s| {
        s.set_peer("contracts", format!("http://127.0.0.1:{contracts_port}"))
    })
    .await;
    let opportunities_endpoint = format!("http://{}", opportunities.addr);
    let handoff = TestService::spawn_with(&closeloop_handoff::SERVICE, |s| {
        s.set_peer("opportunities", opportunities_endpoint)
    })
    .await;
    let handoff_endpoint = format!("http://{}", handoff.addr);
    let contracts_service = TestService::spawn_with(&closeloop_contracts_payments::SERVICE, |s| {
        s.common.server.listen = format!("127.0.0.1:{contracts_port}");
        s.set_peer("handoff", handoff_endpoint)
    })
    .await;

    let won = win(&opportunities).await;
    let mut max =
        ContractServiceClient::new(contracts_service.caller("max", &[Role::SalesManager]));
    let contract = eventually(|| {
        let mut max = max.clone();
        let opportunity = won.name.clone();
        async move {
            max.list_contracts(contracts::ListContractsRequest {
                opportunity,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .contracts
            .pop()
        }
    })
    .await
    .expect("the won deal's contract");

    // The salesperson's manager completes, sends and records both signatures; ana orders.
    let today = time::OffsetDateTime::now_utc().date();
    let signer = |side: contracts::SignerSide, name: &str, email: &str| contracts::Signer {
        side: side as i32,
        contact: Some(common::Contact {
            display_name: name.into(),
            email: email.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    max.update_contract(contracts::UpdateContractRequest {
        contract: Some(contracts::Contract {
            name: contract.name.clone(),
            deliverables: vec![contracts::Deliverable {
                deliverable_id: contract.deliverables[0].deliverable_id.clone(),
                description: "Seat licence x 10".into(),
                due_date: date(today + time::Duration::days(30)),
                ..Default::default()
            }],
            payment_schedule: vec![contracts::Installment {
                amount: contract.value,
                due_date: date(today + time::Duration::days(30)),
                ..Default::default()
            }],
            terms: Some(contracts::Terms {
                payment_terms_days: 30,
                start_date: date(today),
                term_months: 12,
                ..Default::default()
            }),
            signers: vec![
                signer(
                    contracts::SignerSide::Client,
                    "Dana Buyer",
                    "dana@acme.example",
                ),
                signer(
                    contracts::SignerSide::Company,
                    "Max Manager",
                    "max@closeloop.example",
                ),
            ],
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![
                "deliverables".into(),
                "payment_schedule".into(),
                "terms".into(),
                "signers".into(),
            ],
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    max.send_contract(contracts::SendContractRequest {
        name: contract.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    for email in ["dana@acme.example", "max@closeloop.example"] {
        max.sign_contract(contracts::SignContractRequest {
            name: contract.name.clone(),
            signer_email: email.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let placed = ContractServiceClient::new(contracts_service.caller("ana", &[Role::SalesRep]))
        .place_order(contracts::PlaceOrderRequest {
            name: contract.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let order = placed.order.unwrap().name;

    let reader = HandoffServiceClient::new(handoff.caller("ana", &[Role::SalesRep]));
    let handoffs = eventually(|| {
        let mut reader = reader.clone();
        async move {
            let listed = reader
                .list_handoffs(pb::ListHandoffsRequest::default())
                .await
                .unwrap()
                .into_inner()
                .handoffs;
            (!listed.is_empty()).then_some(listed)
        }
    })
    .await
    .expect("the order's handoff");
    assert_eq!(handoffs.len(), 1, "exactly one handoff");
    let h = &handoffs[0];
    assert_eq!(h.order, order);
    assert_eq!(h.contract, contract.name);
    assert_eq!(h.opportunity, won.name);
    assert_eq!(h.salesperson, "ana");
    assert_eq!(h.status, pb::HandoffStatus::Draft as i32);
    let prefill = h.prefill.as_ref().unwrap();
    assert_eq!(prefill.state, pb::PrefillState::Done as i32, "{prefill:?}");
    assert!(
        h.stakeholders
            .iter()
            .any(|s| s.contact.as_ref().unwrap().email == "dana@acme.example" && s.primary),
        "{:?}",
        h.stakeholders
    );
    assert!(
        h.goals
            .iter()
            .any(|g| g.description == "Cut invoice processing time"),
        "{:?}",
        h.goals
    );

    // The order shows its StartHandoff confirmed.
    let confirmed = eventually(|| {
        let mut max = max.clone();
        let order = order.clone();
        async move {
            let o = max
                .get_order(contracts::GetOrderRequest { name: order })
                .await
                .unwrap()
                .into_inner();
            o.handoff_confirm_time.is_some().then_some(o)
        }
    })
    .await
    .expect("the order sees the handoff confirmed");
    assert_eq!(
        confirmed.start_handoff_call.unwrap().state,
        common::OwedCallState::Delivered as i32
    );

    opportunities.stop().await;
    contracts_service.stop().await;
    handoff.stop().await;
}
