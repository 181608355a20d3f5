//! The status machine: MarkAccountAtRisk, MarkAccountChurned, ReactivateAccount, their gate
//! "status", their values, the etag and idempotency.

use closeloop_proto::accounts::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn at_risk(name: &str) -> pb::MarkAccountAtRiskRequest {
    pb::MarkAccountAtRiskRequest {
        name: name.into(),
        reason: "Sponsor left".into(),
        ..Default::default()
    }
}

fn churned(name: &str) -> pb::MarkAccountChurnedRequest {
    pb::MarkAccountChurnedRequest {
        name: name.into(),
        churn_reason: pb::ChurnReason::Competitor as i32,
        notes: "Went to Rival Inc".into(),
        ..Default::default()
    }
}

fn reactivate(name: &str) -> pb::ReactivateAccountRequest {
    pb::ReactivateAccountRequest {
        name: name.into(),
        reason: "Won back".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_account_goes_at_risk_churns_and_comes_back() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();

    let risky = am
        .mark_account_at_risk(at_risk(&a.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(risky.status, pb::AccountStatus::AtRisk as i32);
    assert_eq!(risky.status_reason, "Sponsor left");
    assert_ne!(risky.etag, a.etag);
    let status = am.mark_account_at_risk(at_risk(&a.name)).await.unwrap_err();
    assert_gate(&status, "status", Some("AT_RISK"));

    app.clock.advance_days(3);
    let mut request = churned(&a.name);
    request.churn_date = Some(app.days_from_today(-1));
    let gone = am.mark_account_churned(request).await.unwrap().into_inner();
    assert_eq!(gone.status, pb::AccountStatus::Churned as i32);
    let churn = gone.churn.clone().unwrap();
    assert_eq!(churn.reason, pb::ChurnReason::Competitor as i32);
    assert_eq!(churn.churn_date, Some(app.days_from_today(-1)));
    assert_eq!(gone.next_check_in_date, None);
    assert!(!gone.contracts[0].in_force);
    assert_eq!(gone.annual_contract_value, money(0));
    let status = am.mark_account_at_risk(at_risk(&a.name)).await.unwrap_err();
    assert_gate(&status, "status", Some("CHURNED"));
    let status = am.mark_account_churned(churned(&a.name)).await.unwrap_err();
    assert_gate(&status, "status", Some("CHURNED"));

    let back = am
        .reactivate_account(reactivate(&a.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.status, pb::AccountStatus::Active as i32);
    assert!(back.churn.is_none());
    let history: Vec<i32> = back.status_history.iter().map(|h| h.to_status).collect();
    assert_eq!(
        history,
        vec![
            pb::AccountStatus::Active as i32,
            pb::AccountStatus::AtRisk as i32,
            pb::AccountStatus::Churned as i32,
            pb::AccountStatus::Active as i32,
        ]
    );
    let status = am
        .reactivate_account(reactivate(&a.name))
        .await
        .unwrap_err();
    assert_gate(&status, "status", Some("ACTIVE"));

    let read = am
        .get_account(pb::GetAccountRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, back);
}

#[tokio::test]
async fn the_moves_refuse_bad_values_and_stale_etags() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let mut am = app.am();

    let mut request = at_risk(&a.name);
    request.reason = "  ".into();
    assert_invalid(
        &am.mark_account_at_risk(request).await.unwrap_err(),
        &["reason"],
    );
    let mut request = at_risk("nope");
    request.reason = String::new();
    assert_invalid(
        &am.mark_account_at_risk(request).await.unwrap_err(),
        &["name"],
    );

    let status = am
        .mark_account_churned(pb::MarkAccountChurnedRequest {
            name: a.name.clone(),
            churn_reason: pb::ChurnReason::Other as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["notes"]);
    let status = am
        .mark_account_churned(pb::MarkAccountChurnedRequest {
            name: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["churn_reason"]);
    let mut request = churned(&a.name);
    request.churn_date = Some(app.days_from_today(1));
    assert_invalid(
        &am.mark_account_churned(request).await.unwrap_err(),
        &["churn_date"],
    );
    let mut request = churned(&a.name);
    request.churn_date = Some(app.days_from_today(-400));
    assert_invalid(
        &am.mark_account_churned(request).await.unwrap_err(),
        &["churn_date"],
    );

    let mut request = reactivate(&a.name);
    request.reason = String::new();
    assert_invalid(
        &am.reactivate_account(request).await.unwrap_err(),
        &["reason"],
    );

    let mut request = at_risk(&a.name);
    request.etag = "\"99-ACTIVE\"".into();
    let status = am.mark_account_at_risk(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);

    // Nothing changed so far; with the etag held, it does.
    let mut request = at_risk(&a.name);
    request.etag = a.etag.clone();
    request.request_id = "risk-1".into();
    let first = am
        .mark_account_at_risk(request.clone())
        .await
        .unwrap()
        .into_inner();
    // The same request again: the first answer, not the gate.
    let again = am.mark_account_at_risk(request).await.unwrap().into_inner();
    assert_eq!(again, first);
}
