//! Both services running: an opportunity closed won becomes exactly one DRAFT contract carrying
//! its snapshot, also when contracts-and-payments is down at the moment of the win and comes up
//! later, and when the command is delivered twice.

use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::testing::TestService;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as contracts;
use closeloop_proto::contracts::v1::contract_service_client::ContractServiceClient;
use closeloop_proto::opportunities::v1 as opp;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;

fn money(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

/// Takes an opportunity of `ana` to PROPOSAL with one line item and closes it won.
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

/// The contracts of `opportunity`, once at least one exists (the relay delivers in the
/// background), or none after ten seconds.
async fn contracts_of(service: &TestService, opportunity: &str) -> Vec<contracts::Contract> {
    let mut client = ContractServiceClient::new(service.caller("max", &[Role::SalesManager]));
    for _ in 0..200 {
        let listed = client
            .list_contracts(contracts::ListContractsRequest {
                opportunity: opportunity.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .contracts;
        if !listed.is_empty() {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn a_won_deal_waits_for_contracts_and_becomes_one_draft() {
    // Opportunities runs alone: contracts-and-payments is down when the deal is won.
    let opportunities = TestService::spawn(&closeloop_opportunities::SERVICE).await;
    let won = win(&opportunities).await;
    let (pending,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE deliver_time IS NULL")
            .fetch_one(opportunities.db.reads())
            .await
            .unwrap();
    assert_eq!(pending, 1, "the CreateContract call waits in the outbox");

    // Contracts-and-payments comes up, and opportunities is pointed at it.
    let service = TestService::spawn(&closeloop_contracts_payments::SERVICE).await;
    let endpoint = format!("http://{}", service.addr);
    let opportunities = opportunities
        .restart(|settings| settings.set_peer("contracts", endpoint))
        .await;

    let found = contracts_of(&service, &won.name).await;
    assert_eq!(found.len(), 1, "exactly one contract");
    let c = &found[0];
    assert_eq!(c.status, contracts::ContractStatus::Draft as i32);
    let snapshot = c.opportunity_snapshot.as_ref().unwrap();
    assert_eq!(snapshot.owner, "ana");
    assert_eq!(snapshot.account.as_ref().unwrap().account_id, "acme");
    assert_eq!(snapshot.amount, money(95_000));
    assert_eq!(snapshot.line_items.len(), 1);
    assert_eq!(c.value, money(95_000));

    // The same command delivered again (a relay that lost the answer): the first contract.
    let (payload,): (Vec<u8>,) = sqlx::query_as("SELECT payload FROM outbox")
        .fetch_one(opportunities.db.reads())
        .await
        .unwrap();
    let request: contracts::CreateContractRequest =
        prost::Message::decode(payload.as_slice()).unwrap();
    let again =
        ContractServiceClient::new(service.caller("closeloop-opportunities", &[Role::Service]))
            .create_contract(request)
            .await
            .unwrap()
            .into_inner();
    assert_eq!(again.name, c.name);
    assert_eq!(contracts_of(&service, &won.name).await.len(), 1);

    // The relay records the delivery once the answer is back.
    let mut delivered = 0;
    for _ in 0..200 {
        (delivered,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE deliver_time IS NOT NULL")
            .fetch_one(opportunities.db.reads())
            .await
            .unwrap();
        if delivered == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 1, "the relay saw the contract created");
    opportunities.stop().await;
    service.stop().await;
}
