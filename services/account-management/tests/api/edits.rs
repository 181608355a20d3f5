//! AddOutcome and AddObligation.

use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::common::v1 as common;

use crate::helpers::*;

#[tokio::test]
async fn outcomes_and_obligations_are_added_in_every_status() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let added = am
        .add_outcome(pb::AddOutcomeRequest {
            name: a.name.clone(),
            outcome: Some(outcome()),
            etag: a.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.outcomes.len(), 2);
    let new = &added.outcomes[1];
    assert!(!new.outcome_id.is_empty());
    assert_ne!(new.outcome_id, added.outcomes[0].outcome_id);
    assert_eq!(new.progress_percent, 10);
    assert_eq!(new.status, pb::OutcomeStatus::NotStarted as i32);

    am.mark_account_churned(pb::MarkAccountChurnedRequest {
        name: a.name.clone(),
        churn_reason: pb::ChurnReason::Budget as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut o = obligation();
    o.due_date = Some(app.days_from_today(-2));
    let added = am
        .add_obligation(pb::AddObligationRequest {
            name: a.name.clone(),
            obligation: Some(o),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.obligations.len(), 3);
    let new = &added.obligations[2];
    assert_eq!(new.status, common::ObligationStatus::Pending as i32);
    assert!(new.overdue);
}

#[tokio::test]
async fn bad_outcomes_and_obligations_are_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let status = am
        .add_outcome(pb::AddOutcomeRequest {
            name: a.name.clone(),
            outcome: Some(pb::Outcome {
                goal: String::new(),
                success_criteria: vec![],
                progress_percent: 150,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["outcome.goal"]);
    let status = am
        .add_outcome(pb::AddOutcomeRequest {
            name: a.name.clone(),
            outcome: Some(pb::Outcome {
                goal: "Grow".into(),
                success_criteria: vec![],
                progress_percent: 150,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(
        &status,
        &["outcome.success_criteria", "outcome.progress_percent"],
    );
    let status = am
        .add_obligation(pb::AddObligationRequest {
            name: a.name.clone(),
            obligation: Some(pb::Obligation {
                party: pb::ObligationParty::Client as i32,
                kind: common::ObligationKind::Deliverable as i32,
                description: "Wrong side".into(),
                status: common::ObligationStatus::Delivered as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["obligation.kind", "obligation.status"]);
    let status = am
        .add_obligation(pb::AddObligationRequest {
            name: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["obligation"]);
    let read = am
        .get_account(pb::GetAccountRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.etag, a.etag);
}
