//! UpdateAccount, UpdateOutcome and UpdateObligation.

use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::common::v1 as common;
use tonic::Code;

use crate::helpers::*;

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

#[tokio::test]
async fn update_account_replaces_the_masked_fields_only() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let mut changed = a.clone();
    changed.notes = "Renewal talks in May".into();
    changed.needs = vec!["Faster invoicing".into(), "SSO".into()];
    changed.check_in_cadence_days = 14;
    changed.salesperson = "ignored".into();
    let updated = am
        .update_account(pb::UpdateAccountRequest {
            account: Some(changed),
            update_mask: mask(&["notes", "needs", "check_in_cadence_days"]),
            request_id: "u-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.notes, "Renewal talks in May");
    assert_eq!(updated.needs.len(), 2);
    assert_eq!(updated.check_in_cadence_days, 14);
    assert_eq!(updated.salesperson, REP);
    assert_ne!(updated.etag, a.etag);

    // A stale etag is ABORTED.
    let mut stale = a.clone();
    stale.notes = "late".into();
    let status = am
        .update_account(pb::UpdateAccountRequest {
            account: Some(stale),
            update_mask: mask(&["notes"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");

    // Bad values and masks are named.
    let mut bad = updated.clone();
    bad.account_manager = String::new();
    bad.notes = "x".repeat(20_000);
    let status = am
        .update_account(pb::UpdateAccountRequest {
            account: Some(bad),
            update_mask: mask(&["account_manager", "notes"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["account.account_manager", "account.notes"]);
    let status = am
        .update_account(pb::UpdateAccountRequest {
            account: Some(updated.clone()),
            update_mask: mask(&["status"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["update_mask"]);
    let status = am
        .update_account(pb::UpdateAccountRequest {
            account: Some(updated.clone()),
            update_mask: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["update_mask"]);
    let status = am
        .update_account(pb::UpdateAccountRequest::default())
        .await
        .unwrap_err();
    assert_invalid(&status, &["account"]);

    // A sales manager reassigns the account, and nothing else.
    let mut sm = app.sales_manager();
    let mut notes = updated.clone();
    notes.notes = "mine".into();
    let status = sm
        .update_account(pb::UpdateAccountRequest {
            account: Some(notes),
            update_mask: mask(&["notes"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let mut handover = updated.clone();
    handover.account_manager = "ann".into();
    let handed = sm
        .update_account(pb::UpdateAccountRequest {
            account: Some(handover),
            update_mask: mask(&["account_manager"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(handed.account_manager, "ann");
    // The former manager no longer sees it.
    let status = am
        .get_account(pb::GetAccountRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.accounts.v1.Account", &a.name);
}

#[tokio::test]
async fn update_outcome_and_obligation() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let mut o = a.outcomes[0].clone();
    o.progress_percent = 40;
    o.status = pb::OutcomeStatus::OnTrack as i32;
    o.goal = "ignored".into();
    let updated = am
        .update_outcome(pb::UpdateOutcomeRequest {
            name: a.name.clone(),
            outcome: Some(o.clone()),
            update_mask: mask(&["progress_percent", "status"]),
            etag: a.etag.clone(),
            request_id: "uo-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let got = &updated.outcomes[0];
    assert_eq!(got.progress_percent, 40);
    assert_eq!(got.status, pb::OutcomeStatus::OnTrack as i32);
    assert_eq!(got.goal, a.outcomes[0].goal);
    assert!(got.progress_update_time.is_some());

    let mut bad = o.clone();
    bad.progress_percent = 150;
    bad.goal = String::new();
    let status = am
        .update_outcome(pb::UpdateOutcomeRequest {
            name: a.name.clone(),
            outcome: Some(bad),
            update_mask: mask(&["progress_percent", "goal"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["outcome.goal"]);
    let mut missing = o.clone();
    missing.outcome_id = "nope".into();
    let status = am
        .update_outcome(pb::UpdateOutcomeRequest {
            name: a.name.clone(),
            outcome: Some(missing),
            update_mask: mask(&["goal"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let mut ob = updated.obligations[0].clone();
    ob.status = common::ObligationStatus::Delivered as i32;
    ob.status_note = "Workshop held".into();
    let done = am
        .update_obligation(pb::UpdateObligationRequest {
            name: a.name.clone(),
            obligation: Some(ob.clone()),
            update_mask: mask(&["status", "status_note"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let got = &done.obligations[0];
    assert_eq!(got.status, common::ObligationStatus::Delivered as i32);
    assert_eq!(got.status_note, "Workshop held");
    assert_eq!(got.status_updated_by.as_ref().unwrap().subject, AM);

    // party and kind cannot change.
    let status = am
        .update_obligation(pb::UpdateObligationRequest {
            name: a.name.clone(),
            obligation: Some(ob.clone()),
            update_mask: mask(&["kind"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["update_mask"]);
    // DELIVERED is not for a client obligation.
    let mut client = done.obligations[1].clone();
    client.status = common::ObligationStatus::Delivered as i32;
    let status = am
        .update_obligation(pb::UpdateObligationRequest {
            name: a.name.clone(),
            obligation: Some(client),
            update_mask: mask(&["status"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["obligation.status"]);
    let status = am
        .update_obligation(pb::UpdateObligationRequest {
            name: a.name.clone(),
            obligation: Some(pb::Obligation::default()),
            update_mask: mask(&["status"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["obligation.obligation_id"]);
}
