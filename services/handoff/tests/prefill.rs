//! The opportunities service running beside the handoff service: a handoff is prefilled from its
//! opportunity when it can be read; created PENDING when it cannot, and filled once, in the
//! background, when the opportunities service comes up; FAILED, and left alone, when the
//! opportunity does not exist.

use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::host::Settings;
use closeloop_kit::testing::TestService;
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as pb;
use closeloop_proto::opportunities::v1 as opp;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;

#[path = "api/helpers.rs"]
mod helpers;

use helpers::{TestApp, snapshot};

/// Creates an open opportunity of ana's with two stakeholders (Dana primary) and two client
/// objectives (the first with a success measure).
async fn opportunity(opportunities: &TestService) -> opp::Opportunity {
    let mut ana = OpportunityServiceClient::new(opportunities.caller("ana", &[Role::SalesRep]));
    let person = |name: &str, email: &str| {
        Some(common::Contact {
            display_name: name.into(),
            email: email.into(),
            title: "VP Finance".into(),
            ..Default::default()
        })
    };
    ana.create_opportunity(opp::CreateOpportunityRequest {
        opportunity: Some(opp::Opportunity {
            account: Some(common::Party {
                account_id: "acme".into(),
                display_name: "Acme GmbH".into(),
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
            stakeholders: vec![
                opp::Stakeholder {
                    contact: person("Dana Buyer", "dana@acme.example"),
                    role: opp::StakeholderRole::EconomicBuyer as i32,
                    primary: true,
                },
                opp::Stakeholder {
                    contact: person("Tim Tech", "tim@acme.example"),
                    role: opp::StakeholderRole::TechnicalEvaluator as i32,
                    primary: false,
                },
            ],
            objectives: vec![
                opp::ClientObjective {
                    description: "Cut invoice processing time".into(),
                    success_measure: "under 2 days by Q3".into(),
                },
                opp::ClientObjective {
                    description: "Fewer late payments".into(),
                    success_measure: String::new(),
                },
            ],
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// StartHandoff for order `n` of the won opportunity `opportunity`.
fn start_for(n: &str, opportunity: &str) -> pb::StartHandoffRequest {
    let mut s = snapshot(n);
    s.opportunity = opportunity.into();
    pb::StartHandoffRequest {
        contract_snapshot: Some(s),
        request_id: format!("start-{n}"),
    }
}

/// Retries every 100 ms, reading opportunities at `endpoint`.
fn reading(endpoint: String) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.layer("[handoff]\nprefill_retry_ms = 100").unwrap();
        s.set_peer("opportunities", endpoint);
    }
}

/// An address where nothing listens.
async fn nowhere() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Stakeholders (email, role, primary) and goals (description, criteria, origin).
type Prefilled = (Vec<(String, i32, bool)>, Vec<(String, Vec<String>, i32)>);

/// What the opportunity gave the handoff: stakeholders (email, role, primary) and goals
/// (description, criteria, origin).
fn prefilled(h: &pb::Handoff) -> Prefilled {
    (
        h.stakeholders
            .iter()
            .map(|s| (s.contact.as_ref().unwrap().email.clone(), s.role, s.primary))
            .collect(),
        h.goals
            .iter()
            .map(|g| {
                (
                    g.description.clone(),
                    g.success_criteria
                        .iter()
                        .map(|c| c.description.clone())
                        .collect(),
                    g.origin,
                )
            })
            .collect(),
    )
}

fn expected() -> Prefilled {
    let objective = pb::GoalOrigin::OpportunityObjective as i32;
    (
        vec![
            (
                "dana@acme.example".into(),
                pb::StakeholderRole::EconomicBuyer as i32,
                true,
            ),
            (
                "tim@acme.example".into(),
                pb::StakeholderRole::TechnicalEvaluator as i32,
                false,
            ),
        ],
        vec![
            (
                "Cut invoice processing time".into(),
                vec!["under 2 days by Q3".into()],
                objective,
            ),
            ("Fewer late payments".into(), vec![], objective),
        ],
    )
}

fn state(h: &pb::Handoff) -> i32 {
    h.prefill.as_ref().unwrap().state
}

#[tokio::test]
async fn a_handoff_is_prefilled_from_a_readable_opportunity() {
    let opportunities = TestService::spawn(&closeloop_opportunities::SERVICE).await;
    let o = opportunity(&opportunities).await;
    let app = TestApp::spawn_with(reading(format!("http://{}", opportunities.addr))).await;

    let h = app
        .service()
        .start_handoff(start_for("up", &o.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&h), pb::PrefillState::Done as i32);
    assert!(h.prefill.as_ref().unwrap().failure.is_empty());
    assert_eq!(prefilled(&h), expected());
    // Nothing is invented: the objective without a measure leaves a goal to complete.
    let missing = helpers::missing(h.readiness.as_ref().unwrap());
    assert!(missing.contains(&(
        "goal_success_criteria".into(),
        "goals[1].success_criteria".into()
    )));

    // An opportunity that does not exist: FAILED, not retried.
    let gone = app
        .service()
        .start_handoff(start_for(
            "gone",
            "opportunities/0190c0de-0000-7000-8000-000000000000",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&gone), pb::PrefillState::Failed as i32);
    assert!(
        gone.prefill
            .as_ref()
            .unwrap()
            .failure
            .contains("does not exist"),
        "{:?}",
        gone.prefill
    );
    assert!(gone.stakeholders.is_empty() && gone.goals.is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = app.read(&gone.name).await;
    assert_eq!(later.etag, gone.etag, "a FAILED prefill is left alone");
    assert_eq!(app.read(&h.name).await.etag, h.etag, "a DONE one too");

    app.0.stop().await;
    opportunities.stop().await;
}

#[tokio::test]
async fn a_handoff_started_while_opportunities_is_down_is_filled_once_it_is_up() {
    let opportunities = TestService::spawn(&closeloop_opportunities::SERVICE).await;
    let o = opportunity(&opportunities).await;

    // The handoff service reads an opportunities service that is down.
    let app = TestApp::spawn_with(reading(nowhere().await)).await;
    let h = app
        .service()
        .start_handoff(start_for("down", &o.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        pb::HandoffStatus::Draft as i32,
        "created all the same"
    );
    assert_eq!(state(&h), pb::PrefillState::Pending as i32);
    let failure = &h.prefill.as_ref().unwrap().failure;
    assert!(failure.starts_with("UNAVAILABLE"), "{failure}");
    assert!(h.stakeholders.is_empty() && h.goals.is_empty());

    // The background retries fail too, and leave the handoff as it is.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = app.read(&h.name).await;
    assert_eq!(state(&waiting), pb::PrefillState::Pending as i32);
    assert_eq!(waiting.etag, h.etag);

    // Opportunities comes up (the handoff service is pointed at it): filled in the background.
    let endpoint = format!("http://{}", opportunities.addr);
    let app = TestApp(
        app.0
            .restart(|s| s.set_peer("opportunities", endpoint))
            .await,
    );
    let mut filled = None;
    for _ in 0..200 {
        let now = app.read(&h.name).await;
        if state(&now) != pb::PrefillState::Pending as i32 {
            filled = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let filled = filled.expect("the prefill is done within ten seconds");
    assert_eq!(state(&filled), pb::PrefillState::Done as i32);
    assert!(filled.prefill.as_ref().unwrap().failure.is_empty());
    assert_eq!(prefilled(&filled), expected());
    assert_ne!(filled.etag, h.etag);

    // Once: later rounds find nothing to do.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = app.read(&h.name).await;
    assert_eq!(later.etag, filled.etag);
    assert_eq!(prefilled(&later), expected());

    // A second delivery of the StartHandoff answers the first answer; another for the same
    // order, the handoff as it is now: filled once.
    let mut again = start_for("down", &o.name);
    again.request_id = "another-delivery".into();
    let existing = app
        .service()
        .start_handoff(again)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(existing.etag, filled.etag);
    assert_eq!(prefilled(&existing), expected());

    app.0.stop().await;
    opportunities.stop().await;
}

#[tokio::test]
async fn a_hung_opportunities_service_does_not_hold_up_the_contracts_call() {
    // Something listens and never answers: every read hangs until its deadline.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", hung.local_addr().unwrap());
    let app = TestApp::spawn_with(|s| {
        s.layer("[handoff]\nprefill_wait_ms = 500").unwrap();
        s.set_peer("opportunities", endpoint);
    })
    .await;

    // The relay's deadline (outbox.call_timeout_ms): answered well within it, PENDING.
    let started = std::time::Instant::now();
    let mut request = tonic::Request::new(start_for("hung", "opportunities/p-hung"));
    request.set_timeout(Duration::from_secs(5));
    let h = app
        .service()
        .start_handoff(request)
        .await
        .unwrap()
        .into_inner();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(state(&h), pb::PrefillState::Pending as i32);
    let failure = &h.prefill.as_ref().unwrap().failure;
    assert!(failure.starts_with("DEADLINE_EXCEEDED"), "{failure}");

    // A caller with a shorter deadline is answered within it: half of it goes to the read.
    let mut request = tonic::Request::new(start_for("hurried", "opportunities/p-hung"));
    request.set_timeout(Duration::from_millis(400));
    let h = app
        .service()
        .start_handoff(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&h), pb::PrefillState::Pending as i32);

    app.0.stop().await;
    drop(hung);
}
