//! RecordCheckIn, GetCheckIn, ListCheckIns, ListDueCheckIns, and the check-ins health reads.

use closeloop_kit::Role;
use closeloop_proto::accounts::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn check_in(satisfaction: i32) -> pb::CheckIn {
    pb::CheckIn {
        satisfaction,
        notes: "Quarterly review".into(),
        channel: pb::CheckInChannel::VideoCall as i32,
        ..Default::default()
    }
}

async fn record(am: &mut Accounts, parent: &str, c: pb::CheckIn) -> pb::CheckIn {
    am.record_check_in(pb::RecordCheckInRequest {
        parent: parent.into(),
        check_in: Some(c),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

fn ago(app: &TestApp, days: i64) -> prost_types::Timestamp {
    let t = app.clock.now_micros() - days * 86_400_000_000;
    prost_types::Timestamp {
        seconds: t.div_euclid(1_000_000),
        nanos: 0,
    }
}

#[tokio::test]
async fn check_ins_are_recorded_read_and_listed() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let outcome_id = a.outcomes[0].outcome_id.clone();
    let mut first = check_in(8);
    first.check_in_time = Some(ago(&app, 10));
    first.outcome_progress = vec![pb::OutcomeProgress {
        outcome_id: outcome_id.clone(),
        progress_percent: 50,
        note: "Half way".into(),
        ..Default::default()
    }];
    let first = record(&mut am, &a.name, first).await;
    assert!(first.name.starts_with(&format!("{}/checkIns/", a.name)));
    assert_eq!(first.satisfaction, 8);
    assert_eq!(first.satisfaction_change, 0);
    assert_eq!(first.recorded_by.as_ref().unwrap().subject, AM);
    assert_eq!(first.outcome_progress[0].goal, a.outcomes[0].goal);
    assert_eq!(
        first.outcome_progress[0].status,
        pb::OutcomeStatus::OnTrack as i32
    );

    let second = record(&mut am, &a.name, check_in(5)).await;
    assert_eq!(second.satisfaction_change, -3);
    // A backdated one between them corrects the later one's change.
    let mut between = check_in(9);
    between.check_in_time = Some(ago(&app, 5));
    let between = record(&mut am, &a.name, between).await;
    assert_eq!(between.satisfaction_change, 1);

    let account = am
        .get_account(pb::GetAccountRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.last_satisfaction, 5);
    assert_eq!(account.outcomes[0].progress_percent, 50);
    assert_eq!(account.outcomes[0].last_check_in, first.name);

    // The salesperson reads them; the newest first, page by page.
    let mut rep = app.client(REP, &[Role::SalesRep]);
    let got = rep
        .get_check_in(pb::GetCheckInRequest {
            name: second.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.satisfaction_change, -4);
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = rep
            .list_check_ins(pb::ListCheckInsRequest {
                parent: a.name.clone(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        names.extend(page.check_ins.into_iter().map(|c| c.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(names, [second.name, between.name, first.name.clone()]);

    // Health reads them.
    let health = rep
        .get_account_health(pb::GetAccountHealthRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let satisfaction = health
        .factors
        .iter()
        .find(|f| f.factor == pb::HealthFactorKind::SatisfactionTrend as i32)
        .unwrap();
    assert!(
        !satisfaction.explanation.contains("no check-ins"),
        "{satisfaction:?}"
    );
    assert!(
        satisfaction.explanation.contains("8 -> 9 -> 5"),
        "{satisfaction:?}"
    );
}

#[tokio::test]
async fn bad_check_ins_are_refused() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();
    let mut bad = check_in(11);
    bad.outcome_progress = vec![pb::OutcomeProgress {
        outcome_id: "nope".into(),
        progress_percent: 10,
        ..Default::default()
    }];
    let status = am
        .record_check_in(pb::RecordCheckInRequest {
            parent: a.name.clone(),
            check_in: Some(bad),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(
        &status,
        &[
            "check_in.satisfaction",
            "check_in.outcome_progress[0].outcome_id",
        ],
    );
    let status = am
        .record_check_in(pb::RecordCheckInRequest {
            parent: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["check_in"]);
    let status = am
        .record_check_in(pb::RecordCheckInRequest {
            parent: "nope".into(),
            check_in: Some(check_in(5)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["parent"]);
    let status = am
        .get_check_in(pb::GetCheckInRequest {
            name: format!("{}/notes/x", a.name),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["name"]);
    let missing = format!("{}/checkIns/0190f0f0-0000-7000-8000-000000000001", a.name);
    let status = am
        .get_check_in(pb::GetCheckInRequest {
            name: missing.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.accounts.v1.CheckIn", &missing);

    // Not on a CHURNED account.
    am.mark_account_churned(pb::MarkAccountChurnedRequest {
        name: a.name.clone(),
        churn_reason: pb::ChurnReason::Budget as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let status = am
        .record_check_in(pb::RecordCheckInRequest {
            parent: a.name.clone(),
            check_in: Some(check_in(5)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&status, "account_status", Some("CHURNED"));
}

#[tokio::test]
async fn due_check_ins_are_listed_earliest_first() {
    let app = TestApp::spawn().await;
    // Opened 30 days ago with the default 30-day cadence and no check-in: due now.
    let a = app.open("acme", "h1").await;
    let b = app.open("bolt", "h2").await;
    let mut am = app.am();
    record(&mut am, &b.name, check_in(7)).await;
    let due = am
        .list_due_check_ins(pb::ListDueCheckInsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let accounts: Vec<&str> = due
        .due_check_ins
        .iter()
        .map(|d| d.account.as_str())
        .collect();
    assert_eq!(accounts, [a.name.as_str()]);
    assert_eq!(due.due_check_ins[0].account_manager, AM);
    assert_eq!(due.due_check_ins[0].cadence_days, 30);
    // With a 30-day horizon the one just checked in on is listed too, after the other.
    let due = app
        .sales_manager()
        .list_due_check_ins(pb::ListDueCheckInsRequest {
            horizon_days: 30,
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(due.due_check_ins[0].account, a.name);
    let next = app
        .sales_manager()
        .list_due_check_ins(pb::ListDueCheckInsRequest {
            horizon_days: 30,
            page_size: 1,
            page_token: due.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.due_check_ins[0].account, b.name);
    assert_eq!(next.due_check_ins[0].last_satisfaction, 7);
    assert!(next.next_page_token.is_empty());

    let status = am
        .list_due_check_ins(pb::ListDueCheckInsRequest {
            account_manager: "someone-else".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = am
        .list_due_check_ins(pb::ListDueCheckInsRequest {
            horizon_days: 400,
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["horizon_days", "page_size"]);
}
