//! GetAccountHealth and GetCustomerLifetimeValue: computed now, whether or not
//! contracts-and-payments answers.

use closeloop_account_management::SERVICE;
use closeloop_kit::Role;
use closeloop_kit::testing::TestService;
use closeloop_proto::accounts::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn payment_factor(h: &pb::AccountHealth) -> &pb::HealthFactor {
    h.factors
        .iter()
        .find(|f| f.factor == pb::HealthFactorKind::PaymentStanding as i32)
        .unwrap()
}

#[tokio::test]
async fn health_and_lifetime_value_answer_with_contracts_and_payments_down() {
    // The peer is not configured: payment data is unavailable.
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let health = app
        .am()
        .get_account_health(pb::GetAccountHealthRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.account, a.name);
    assert_eq!(health.factors.len(), 5);
    assert!(health.payment_data_unavailable);
    assert!(health.payment_standing.is_none());
    let payment = payment_factor(&health);
    assert!(!payment.available);
    assert_eq!(payment.applied_weight_bps, 0);
    assert!(payment.explanation.contains("unavailable"));
    let applied: i32 = health.factors.iter().map(|f| f.applied_weight_bps).sum();
    assert_eq!(applied, 10_000);
    assert!((0..=100).contains(&health.score));
    assert_eq!(health.account_status, pb::AccountStatus::Active as i32);

    let value = app
        .am()
        .get_customer_lifetime_value(pb::GetCustomerLifetimeValueRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(value.account, a.name);
    assert_eq!(value.currency_code, "EUR");
    assert!(value.payment_data_unavailable);
    assert!(value.realised_revenue_estimated);
    assert!(!value.notes.is_empty());
    assert_eq!(value.gross_margin_bps, 6000);
    assert!(value.churn_rate_default_used);
    assert_eq!(value.expected_annual_revenue, money(1_200_000));
    assert!(value.lifetime_value.unwrap().amount_minor > 0);
    assert!(!value.formula.is_empty());

    // Another manager's account: as if it did not exist; a bad name: INVALID_ARGUMENT.
    let status = app
        .client("other", &[Role::AccountManager])
        .get_account_health(pb::GetAccountHealthRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.accounts.v1.Account", &a.name);
    let status = app
        .am()
        .get_customer_lifetime_value(pb::GetCustomerLifetimeValueRequest {
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["name"]);
    // Operations reads accounts and operations updates only.
    let status = app
        .client("ops", &[Role::Operations])
        .get_account_health(pb::GetAccountHealthRequest { name: a.name })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn health_and_lifetime_value_read_the_payment_standing_when_contracts_and_payments_answers() {
    let contracts = TestService::spawn(&closeloop_contracts_payments::SERVICE).await;
    let endpoint = format!("http://{}", contracts.addr);
    let app = TestApp(
        TestService::spawn_with(&SERVICE, move |settings| {
            settings.set_peer("contracts", endpoint);
        })
        .await,
    );
    let a = app.open("acme", "h1").await;
    let health = app
        .sales_manager()
        .get_account_health(pb::GetAccountHealthRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!health.payment_data_unavailable, "{health:?}");
    let standing = health.payment_standing.clone().unwrap();
    assert_eq!(standing.overdue, money(0));
    let payment = payment_factor(&health);
    assert!(payment.available);
    assert_eq!(payment.score, 100);
    assert_eq!(payment.applied_weight_bps, 2000);

    let value = app
        .client(REP, &[Role::SalesRep])
        .get_customer_lifetime_value(pb::GetCustomerLifetimeValueRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!value.payment_data_unavailable, "{value:?}");
    assert!(!value.realised_revenue_estimated);
    assert_eq!(value.realised_revenue, money(0));
}
