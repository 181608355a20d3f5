//! GetPortfolioMetrics.

use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::common::v1 as common;
use tonic::Code;

use crate::helpers::*;

fn request(app: &TestApp, managers: &[&str]) -> pb::GetPortfolioMetricsRequest {
    pb::GetPortfolioMetricsRequest {
        account_managers: managers.iter().map(|m| (*m).to_owned()).collect(),
        period: Some(common::DateRange {
            start_date: Some(app.days_from_today(-10)),
            end_date: Some(app.today()),
        }),
        currency_code: "EUR".into(),
    }
}

#[tokio::test]
async fn retention_of_the_portfolio() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    app.open("bolt", "h2").await;
    let mut am = app.am();
    am.mark_account_churned(pb::MarkAccountChurnedRequest {
        name: a.name.clone(),
        churn_reason: pb::ChurnReason::Budget as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let m = am
        .get_portfolio_metrics(request(&app, &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.account_managers, [AM]);
    assert_eq!(m.currency_code, "EUR");
    let total = m.total.unwrap();
    assert_eq!(total.starting_account_count, 2);
    assert_eq!(total.churned_account_count, 1);
    assert_eq!(total.retained_account_count, 1);
    assert_eq!(total.logo_retention_bps, 5000);
    assert_eq!(total.starting_recurring_revenue, money(2_400_000));
    assert_eq!(total.churned_revenue, money(1_200_000));
    assert_eq!(m.rows.len(), 1);
    assert_eq!(m.rows[0].account_manager, AM);

    // Another currency has nothing.
    let mut usd = request(&app, &[]);
    usd.currency_code = "USD".into();
    let none = app
        .sales_manager()
        .get_portfolio_metrics(usd)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.total.unwrap().starting_account_count, 0);

    let status = am
        .get_portfolio_metrics(request(&app, &["someone-else"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = app
        .sales_manager()
        .get_portfolio_metrics(pb::GetPortfolioMetricsRequest {
            account_managers: vec![String::new()],
            period: None,
            currency_code: "euro".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["account_managers[0]", "period", "currency_code"]);
}
