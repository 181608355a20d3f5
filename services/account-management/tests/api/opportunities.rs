//! IdentifyExpansion, GetExpansion, ListExpansions, RecordReferral, GetReferral, ListReferrals:
//! each owes CreateOpportunity through the outbox, exactly once, and the opportunity is created.

use std::time::Duration;

use closeloop_account_management::SERVICE;
use closeloop_kit::Role;
use closeloop_kit::testing::TestService;
use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as opp;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;

use crate::helpers::*;

fn upsell(app: &TestApp) -> pb::Expansion {
    pb::Expansion {
        kind: pb::ExpansionKind::Upsell as i32,
        title: "50 more seats".into(),
        description: "The finance team grows".into(),
        estimated_value: money(500_000),
        expected_close_date: Some(app.days_from_today(60)),
        ..Default::default()
    }
}

fn referral() -> pb::Referral {
    pb::Referral {
        referred_company: Some(common::Party {
            account_id: "globex".into(),
            display_name: "Globex AG".into(),
        }),
        contact: Some(common::Contact {
            display_name: "Gina Globex".into(),
            email: "gina@globex.example".into(),
            ..Default::default()
        }),
        contact_role: opp::StakeholderRole::DecisionMaker as i32,
        notes: "Wants faster invoicing too".into(),
        ..Default::default()
    }
}

async fn outbox_count(app: &TestApp, id: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE id = $1")
        .bind(id.to_owned())
        .fetch_one(app.db.reads())
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn an_expansion_owes_one_create_opportunity() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let request = pb::IdentifyExpansionRequest {
        parent: a.name.clone(),
        expansion: Some(upsell(&app)),
        request_id: "exp-1".into(),
    };
    let e = am
        .identify_expansion(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(e.name.starts_with(&format!("{}/expansions/", a.name)));
    assert_eq!(e.status, pb::OpportunityRequestStatus::Pending as i32);
    assert_eq!(e.owner, REP);
    let call = e.create_opportunity_call.clone().unwrap();
    assert_eq!(
        call.method,
        "closeloop.opportunities.v1.OpportunityService/CreateOpportunity"
    );
    assert_eq!(call.state, common::OwedCallState::Pending as i32);
    let id = e.name.rsplit('/').next().unwrap();
    assert_eq!(
        call.command_id,
        format!("create-opportunity-expansion-{id}")
    );
    assert_eq!(outbox_count(&app, &call.command_id).await, 1);
    // A repeat answers the same expansion and owes nothing more.
    let again = am.identify_expansion(request).await.unwrap().into_inner();
    assert_eq!(again.name, e.name);
    let (all,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(app.db.reads())
        .await
        .unwrap();
    assert_eq!(all, 1);

    // A renewal of the account's contract takes its value and end date.
    let renewal = am
        .identify_expansion(pb::IdentifyExpansionRequest {
            parent: a.name.clone(),
            expansion: Some(pb::Expansion {
                kind: pb::ExpansionKind::Renewal as i32,
                title: "Renew the licence".into(),
                renews_contract: a.contracts[0].contract.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renewal.prior_contract_value, a.contracts[0].value);
    assert_eq!(renewal.expected_close_date, a.contracts[0].end_date);

    let mut rep = app.client(REP, &[Role::SalesRep]);
    let got = rep
        .get_expansion(pb::GetExpansionRequest {
            name: e.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.title, "50 more seats");
    assert_eq!(got.status, pb::OpportunityRequestStatus::Pending as i32);
    let list = rep
        .list_expansions(pb::ListExpansionsRequest {
            parent: a.name.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.expansions[0].name, renewal.name);
    let next = rep
        .list_expansions(pb::ListExpansionsRequest {
            parent: a.name.clone(),
            page_size: 1,
            page_token: list.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.expansions[0].name, e.name);
    assert!(next.next_page_token.is_empty());
    let upsells = rep
        .list_expansions(pb::ListExpansionsRequest {
            parent: a.name.clone(),
            kind: pb::ExpansionKind::Upsell as i32,
            status: pb::OpportunityRequestStatus::Pending as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(upsells.expansions.len(), 1);
    let opened = rep
        .list_expansions(pb::ListExpansionsRequest {
            parent: a.name.clone(),
            status: pb::OpportunityRequestStatus::Opened as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(opened.expansions.is_empty());
}

#[tokio::test]
async fn bad_expansions_and_referrals_are_refused() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let status = am
        .identify_expansion(pb::IdentifyExpansionRequest {
            parent: a.name.clone(),
            expansion: Some(pb::Expansion {
                kind: pb::ExpansionKind::CrossSell as i32,
                title: String::new(),
                renews_contract: a.contracts[0].contract.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(
        &status,
        &[
            "expansion.title",
            "expansion.expected_close_date",
            "expansion.renews_contract",
        ],
    );
    let status = am
        .identify_expansion(pb::IdentifyExpansionRequest {
            parent: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["expansion"]);
    let mut bad = referral();
    bad.contact_role = 0;
    bad.contact.as_mut().unwrap().email = String::new();
    bad.referred_company.as_mut().unwrap().account_id = "acme".into();
    let status = am
        .record_referral(pb::RecordReferralRequest {
            parent: a.name.clone(),
            referral: Some(bad),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["referral.contact_role"]);
    let mut bad = referral();
    bad.contact.as_mut().unwrap().email = String::new();
    bad.referred_company.as_mut().unwrap().account_id = "acme".into();
    let status = am
        .record_referral(pb::RecordReferralRequest {
            parent: a.name.clone(),
            referral: Some(bad),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(
        &status,
        &[
            "referral.contact.email",
            "referral.referred_company.account_id",
        ],
    );
    let missing = format!("{}/referrals/0190f0f0-0000-7000-8000-000000000001", a.name);
    let status = am
        .get_referral(pb::GetReferralRequest {
            name: missing.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.accounts.v1.Referral", &missing);

    // Not on a CHURNED account; a referral still is.
    am.mark_account_churned(pb::MarkAccountChurnedRequest {
        name: a.name.clone(),
        churn_reason: pb::ChurnReason::Budget as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let status = am
        .identify_expansion(pb::IdentifyExpansionRequest {
            parent: a.name.clone(),
            expansion: Some(upsell(&app)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&status, "account_status", Some("CHURNED"));
    let r = am
        .record_referral(pb::RecordReferralRequest {
            parent: a.name.clone(),
            referral: Some(referral()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.title, "Referral from acme GmbH");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(app.db.reads())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// Identifies an upsell and records a referral on account `a`, as its manager.
async fn expand_and_refer(app: &TestApp, a: &pb::Account) -> (pb::Expansion, pb::Referral) {
    let mut am = app.am();
    let e = am
        .identify_expansion(pb::IdentifyExpansionRequest {
            parent: a.name.clone(),
            expansion: Some(upsell(app)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let r = am
        .record_referral(pb::RecordReferralRequest {
            parent: a.name.clone(),
            referral: Some(referral()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (e, r)
}

/// The expansion and the referral read back once the relay has delivered both (OPENED), within
/// ten seconds.
async fn opened(app: &TestApp, e: &str, r: &str) -> (pb::Expansion, pb::Referral) {
    let mut am = app.am();
    for _ in 0..100 {
        let e = am
            .get_expansion(pb::GetExpansionRequest { name: e.to_owned() })
            .await
            .unwrap()
            .into_inner();
        let r = am
            .get_referral(pb::GetReferralRequest { name: r.to_owned() })
            .await
            .unwrap()
            .into_inner();
        if e.status == pb::OpportunityRequestStatus::Opened as i32
            && r.status == pb::OpportunityRequestStatus::Opened as i32
        {
            for call in [&e.create_opportunity_call, &r.create_opportunity_call] {
                assert_eq!(
                    call.as_ref().unwrap().state,
                    common::OwedCallState::Delivered as i32
                );
            }
            // Each says which opportunity it opened, and when.
            assert!(e.open_time.is_some() && r.open_time.is_some());
            return (e, r);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the CreateOpportunity calls were not delivered");
}

/// The opportunities of customer `account` in the opportunities service.
async fn opportunities_of(opportunities: &TestService, account: &str) -> Vec<opp::Opportunity> {
    OpportunityServiceClient::new(opportunities.caller("max", &[Role::SalesManager]))
        .list_opportunities(opp::ListOpportunitiesRequest {
            account_id: account.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .opportunities
}

/// The opportunities service holds exactly one opportunity for the expansion's customer and one
/// for the referred company, and they are the ones the expansion and the referral name.
async fn assert_one_opportunity_each(
    opportunities: &TestService,
    e: &pb::Expansion,
    r: &pb::Referral,
) {
    let expansions = opportunities_of(opportunities, "acme").await;
    assert_eq!(expansions.len(), 1);
    let o = &expansions[0];
    assert_eq!(e.opportunity, o.name);
    assert_eq!(o.title, "50 more seats");
    assert_eq!(o.owner, REP);
    assert_eq!(o.kind, opp::OpportunityKind::Expansion as i32);
    assert_eq!(o.source, opp::OpportunitySource::AccountExpansion as i32);
    let referred = opportunities_of(opportunities, "globex").await;
    assert_eq!(referred.len(), 1);
    let o = &referred[0];
    assert_eq!(r.opportunity, o.name);
    assert_eq!(o.kind, opp::OpportunityKind::NewBusiness as i32);
    assert_eq!(o.source, opp::OpportunitySource::Referral as i32);
    assert_eq!(o.referring_account.as_ref().unwrap().account_id, "acme");
    assert_eq!(
        o.stakeholders[0].contact.as_ref().unwrap().email,
        "gina@globex.example"
    );
}

#[tokio::test]
async fn the_opportunities_are_created() {
    let opportunities = TestService::spawn(&closeloop_opportunities::SERVICE).await;
    let endpoint = format!("http://{}", opportunities.addr);
    let app = TestApp(
        TestService::spawn_with(&SERVICE, move |s| s.set_peer("opportunities", endpoint)).await,
    );
    let a = app.open("acme", "h1").await;
    let (e, r) = expand_and_refer(&app, &a).await;

    // Delivered by the relay: both become OPENED.
    let (e, r) = opened(&app, &e.name, &r.name).await;
    assert_one_opportunity_each(&opportunities, &e, &r).await;
}

#[tokio::test]
async fn opportunities_down_at_the_time_gets_each_opportunity_once_it_is_back() {
    let opportunities = TestService::spawn(&closeloop_opportunities::SERVICE).await;
    let address = opportunities.addr;
    let app = TestApp(
        TestService::spawn_with(&SERVICE, move |s| {
            s.set_peer("opportunities", format!("http://{address}"));
            // Retries close together, so that the relay finds opportunities back within the
            // test's wait rather than after the default backoff of up to five minutes.
            s.common.outbox.initial_backoff_ms = 50;
            s.common.outbox.max_backoff_ms = 200;
        })
        .await,
    );
    let a = app.open("acme", "h1").await;
    let stopped = opportunities.stop_for_now().await;

    let (e, r) = expand_and_refer(&app, &a).await;
    let commands = [
        e.create_opportunity_call.clone().unwrap().command_id,
        r.create_opportunity_call.clone().unwrap().command_id,
    ];
    // The relay tries while opportunities is down, and keeps both calls for later.
    let mut tried = false;
    for _ in 0..100 {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM outbox WHERE id IN ($1, $2) AND attempts >= 2 \
             AND deliver_time IS NULL AND park_time IS NULL",
        )
        .bind(commands[0].clone())
        .bind(commands[1].clone())
        .fetch_one(app.db.reads())
        .await
        .unwrap();
        if n == 2 {
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tried, "the relay did not retry both calls");
    let mut am = app.am();
    let waiting = am
        .get_expansion(pb::GetExpansionRequest {
            name: e.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(waiting.status, pb::OpportunityRequestStatus::Pending as i32);
    assert_eq!(
        waiting.create_opportunity_call.unwrap().state,
        common::OwedCallState::Pending as i32
    );
    assert!(waiting.opportunity.is_empty());

    // Opportunities comes back where account-management looks for it, with what it had.
    let opportunities = stopped
        .start_again(|s| s.common.server.listen = address.to_string())
        .await;
    let (e, r) = opened(&app, &e.name, &r.name).await;
    assert_one_opportunity_each(&opportunities, &e, &r).await;
}
