//! OpenAccount (once however often delivered; a later handoff extends), GetAccount and
//! ListAccounts.

use closeloop_kit::Role;
use closeloop_proto::accounts::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn an_accepted_handoff_opens_one_account_however_often_it_is_delivered() {
    let app = TestApp::spawn().await;
    let request = open_request(&app, "acme", "h1");
    let first = app
        .service()
        .open_account(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(first.name.starts_with("accounts/"));
    assert_eq!(first.status, pb::AccountStatus::Active as i32);
    assert_eq!(first.currency_code, "EUR");
    assert_eq!(first.handoff, "handoffs/h1");
    assert_eq!(first.account_manager, AM);
    assert_eq!(first.contracts.len(), 1);
    assert_eq!(first.contracts[0].handoff, "handoffs/h1");
    assert!(first.contracts[0].in_force);
    assert_eq!(first.contract_value, money(1_200_000));
    assert_eq!(first.annual_contract_value, money(1_200_000));
    assert_eq!(first.outcomes.len(), 1);
    assert!(!first.outcomes[0].outcome_id.is_empty());
    assert_eq!(
        first.outcomes[0].status,
        pb::OutcomeStatus::NotStarted as i32
    );
    assert_eq!(first.obligations.len(), 2);
    assert_eq!(first.status_history.len(), 1);
    assert_eq!(first.status_history[0].reason, "opened from handoff");
    assert_eq!(first.next_check_in_date, Some(app.today()));
    assert!(!first.check_in_overdue);

    // Delivered again by the outbox: the first answer.
    let again = app
        .service()
        .open_account(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);

    // Delivered again past the idempotency table (another request id): recognised by the
    // handoff, the account unchanged.
    let mut late = request;
    late.request_id = "another-key".into();
    let late = app.service().open_account(late).await.unwrap().into_inner();
    assert_eq!(late.name, first.name);
    assert_eq!(late.etag, first.etag);

    let all = app
        .sales_manager()
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.accounts.len(), 1);
}

#[tokio::test]
async fn a_later_handoff_for_the_customer_extends_its_account_and_reopens_it() {
    let app = TestApp::spawn().await;
    let first = app.open("acme", "h1").await;
    app.am()
        .mark_account_churned(pb::MarkAccountChurnedRequest {
            name: first.name.clone(),
            churn_reason: pb::ChurnReason::Budget as i32,
            ..Default::default()
        })
        .await
        .unwrap();

    let mut second = open_request(&app, "acme", "h2");
    let a = second.account.as_mut().unwrap();
    a.account_manager = "ann".into();
    a.salesperson = "sid".into();
    let extended = app
        .service()
        .open_account(second)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(extended.name, first.name);
    assert_eq!(extended.contracts.len(), 2);
    assert_eq!(extended.contracts[1].handoff, "handoffs/h2");
    assert_eq!(extended.outcomes.len(), 2);
    assert_eq!(extended.obligations.len(), 4);
    assert_eq!(extended.account_manager, "ann");
    assert_eq!(extended.salesperson, "sid");
    assert_eq!(extended.status, pb::AccountStatus::Active as i32);
    assert_eq!(extended.status_reason, "reopened by handoff");
    assert_eq!(extended.handoff, "handoffs/h1");

    let listed = app
        .sales_manager()
        .list_accounts(pb::ListAccountsRequest {
            customer_account_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.accounts.len(), 1);
}

#[tokio::test]
async fn open_account_names_every_bad_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut request = open_request(&app, "acme", "h1");
    let a = request.account.as_mut().unwrap();
    a.handoff = "h1".into();
    a.account_manager = String::new();
    a.contracts[0].value = money(-5);
    a.contracts[0].term_months = 0;
    a.contacts[0].contact.as_mut().unwrap().email = String::new();
    let status = app.service().open_account(request).await.unwrap_err();
    assert_invalid(&status, &["account.handoff", "account.account_manager"]);

    let mut request = open_request(&app, "acme", "h1");
    let a = request.account.as_mut().unwrap();
    a.contracts[0].value = money(-5);
    a.contracts[0].term_months = 0;
    a.contacts[0].contact.as_mut().unwrap().email = String::new();
    let status = app.service().open_account(request).await.unwrap_err();
    assert_invalid(
        &status,
        &[
            "account.contracts[0].value",
            "account.contracts[0].term_months",
            "account.contacts[0].contact.email",
        ],
    );

    let status = app
        .service()
        .open_account(pb::OpenAccountRequest::default())
        .await
        .unwrap_err();
    assert_invalid(&status, &["account"]);

    let all = app
        .sales_manager()
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(all.accounts.is_empty());
}

#[tokio::test]
async fn get_account_reads_what_the_caller_may_see() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let got = app
        .am()
        .get_account(pb::GetAccountRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, a);

    // Another manager's account, another rep's: as if it did not exist.
    for caller in [
        app.client("other-am", &[Role::AccountManager]),
        app.client("other-rep", &[Role::SalesRep]),
    ] {
        let status = caller
            .clone()
            .get_account(pb::GetAccountRequest {
                name: a.name.clone(),
            })
            .await
            .unwrap_err();
        assert_not_found(&status, "closeloop.accounts.v1.Account", &a.name);
    }
    let missing = "accounts/0190f0f0-0000-7000-8000-000000000000";
    let status = app
        .am()
        .get_account(pb::GetAccountRequest {
            name: missing.into(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.accounts.v1.Account", missing);

    let status = app
        .am()
        .get_account(pb::GetAccountRequest {
            name: "acme".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["name"]);
}

#[tokio::test]
async fn list_accounts_filters_pages_and_keeps_to_the_callers_reach() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let b = app.open("bolt", "h2").await;
    let mut other = open_request(&app, "core", "h3");
    other.account.as_mut().unwrap().account_manager = "ann".into();
    other.account.as_mut().unwrap().salesperson = "sid".into();
    let c = app
        .service()
        .open_account(other)
        .await
        .unwrap()
        .into_inner();

    // Oldest first, one per page.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .sales_manager()
            .list_accounts(pb::ListAccountsRequest {
                page_size: 1,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        names.extend(page.accounts.into_iter().map(|x| x.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(names, vec![a.name.clone(), b.name.clone(), c.name.clone()]);

    // An account manager lists its own by default; a rep the ones it sold.
    let mine = app
        .am()
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.accounts.len(), 2);
    let sold = app
        .client("sid", &[Role::SalesRep])
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sold.accounts.len(), 1);
    assert_eq!(sold.accounts[0].name, c.name);
    let status = app
        .client("sid", &[Role::SalesRep])
        .list_accounts(pb::ListAccountsRequest {
            salesperson: REP.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .am()
        .list_accounts(pb::ListAccountsRequest {
            account_manager: "ann".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // By status, by customer.
    app.am()
        .mark_account_at_risk(pb::MarkAccountAtRiskRequest {
            name: b.name.clone(),
            reason: "Sponsor left".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let at_risk = app
        .sales_manager()
        .list_accounts(pb::ListAccountsRequest {
            status: pb::AccountStatus::AtRisk as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at_risk.accounts.len(), 1);
    assert_eq!(at_risk.accounts[0].name, b.name);
    let acme = app
        .sales_manager()
        .list_accounts(pb::ListAccountsRequest {
            customer_account_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acme.accounts.len(), 1);
    assert_eq!(acme.accounts[0].name, a.name);

    // Overdue check-ins: due today, so overdue from tomorrow.
    let overdue = |app: &TestApp| {
        let mut client = app.sales_manager();
        async move {
            client
                .list_accounts(pb::ListAccountsRequest {
                    check_in_overdue_only: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .accounts
        }
    };
    assert!(overdue(&app).await.is_empty());
    app.clock.advance_days(1);
    let late = overdue(&app).await;
    assert_eq!(late.len(), 3);
    assert!(late.iter().all(|x| x.check_in_overdue));

    let status = app
        .sales_manager()
        .list_accounts(pb::ListAccountsRequest {
            page_size: -1,
            status: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["page_size", "status"]);
}
