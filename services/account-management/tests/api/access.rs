//! Who may call what, as the proto's authorization table says: every role against every served
//! AccountService method, one test per method (one row of [`TABLE`]).
//!
//! - A role the row does not list gets PERMISSION_DENIED before the account is looked at: on an
//!   account the method accepts (which it must leave unchanged) and on a name that does not
//!   exist.
//! - A listed role succeeds; an `account_manager` or `sales_rep` does so on an account it
//!   manages or sold.
//! - An `account_manager` or `sales_rep` on an account it does not manage or did not sell gets
//!   NOT_FOUND, as if it did not exist.

use closeloop_kit::Role;
use closeloop_proto::accounts::v1 as pb;
use tonic::{Code, Status};

use crate::helpers::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    OpenAccount,
    GetAccount,
    ListAccounts,
    MarkAccountAtRisk,
    MarkAccountChurned,
    ReactivateAccount,
    GetAccountHealth,
    GetCustomerLifetimeValue,
    AddOutcome,
    AddObligation,
    UpdateAccount,
    UpdateOutcome,
    UpdateObligation,
    RecordCheckIn,
    GetCheckIn,
    ListCheckIns,
    ListDueCheckIns,
    PostOperationsUpdate,
    GetOperationsUpdate,
    ListOperationsUpdates,
    ListSalespersonFeed,
    IdentifyExpansion,
    GetExpansion,
    ListExpansions,
    RecordReferral,
    GetReferral,
    ListReferrals,
    GetPortfolioMetrics,
}

use Role::{AccountManager, Finance, Operations, SalesManager, SalesRep, Service};

const EVERYONE: &[Role] = &[
    SalesRep,
    SalesManager,
    Finance,
    AccountManager,
    Operations,
    Service,
];

/// The authorization comment above `service AccountService`, for the served methods.
const TABLE: &[(Rpc, &[Role])] = &[
    (Rpc::OpenAccount, &[Service]),
    (Rpc::GetAccount, EVERYONE),
    (Rpc::ListAccounts, EVERYONE),
    (Rpc::MarkAccountAtRisk, &[AccountManager]),
    (Rpc::MarkAccountChurned, &[AccountManager]),
    (Rpc::ReactivateAccount, &[AccountManager]),
    (Rpc::GetAccountHealth, READERS),
    (Rpc::GetCustomerLifetimeValue, READERS),
    (Rpc::AddOutcome, &[AccountManager]),
    (Rpc::AddObligation, &[AccountManager]),
    (Rpc::UpdateAccount, &[AccountManager, SalesManager]),
    (Rpc::UpdateOutcome, &[AccountManager]),
    (Rpc::UpdateObligation, &[AccountManager]),
    (Rpc::RecordCheckIn, &[AccountManager]),
    (Rpc::GetCheckIn, READERS),
    (Rpc::ListCheckIns, READERS),
    (
        Rpc::ListDueCheckIns,
        &[SalesManager, Finance, AccountManager, Service],
    ),
    (Rpc::PostOperationsUpdate, &[Operations]),
    (Rpc::GetOperationsUpdate, EVERYONE),
    (Rpc::ListOperationsUpdates, EVERYONE),
    (
        Rpc::ListSalespersonFeed,
        &[SalesRep, SalesManager, Finance, Service],
    ),
    (Rpc::IdentifyExpansion, &[AccountManager]),
    (Rpc::GetExpansion, READERS),
    (Rpc::ListExpansions, READERS),
    (Rpc::RecordReferral, &[AccountManager]),
    (Rpc::GetReferral, READERS),
    (Rpc::ListReferrals, READERS),
    (
        Rpc::GetPortfolioMetrics,
        &[SalesManager, Finance, AccountManager, Service],
    ),
];

/// Every role but `operations`, which reads only accounts and operations updates.
const READERS: &[Role] = &[SalesRep, SalesManager, Finance, AccountManager, Service];

/// The subject a role calls as: the accounts' own manager and salesperson.
fn subject(role: Role) -> &'static str {
    match role {
        AccountManager => AM,
        SalesRep => REP,
        _ => "someone",
    }
}

const MISSING: &str = "accounts/0190f0f0-0000-7000-8000-000000000000";

/// An account the method accepts, opened for `customer`.
async fn prepared(app: &TestApp, rpc: Rpc, customer: &str) -> pb::Account {
    let a = app.open(customer, &format!("h-{customer}")).await;
    if rpc == Rpc::GetCheckIn {
        app.am()
            .record_check_in(pb::RecordCheckInRequest {
                parent: a.name.clone(),
                check_in: Some(pb::CheckIn {
                    satisfaction: 7,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        return app
            .service()
            .get_account(pb::GetAccountRequest { name: a.name })
            .await
            .unwrap()
            .into_inner();
    }
    if rpc == Rpc::GetOperationsUpdate {
        // A PERFORMANCE update leaves the account unchanged.
        app.client("opsbot", &[Operations])
            .post_operations_update(pb::PostOperationsUpdateRequest {
                parent: a.name.clone(),
                operations_update: Some(pb::OperationsUpdate {
                    kind: pb::OperationsUpdateKind::Performance as i32,
                    title: "Uptime".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    if rpc == Rpc::GetExpansion {
        app.am()
            .identify_expansion(pb::IdentifyExpansionRequest {
                parent: a.name.clone(),
                expansion: Some(expansion(app)),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    if rpc == Rpc::GetReferral {
        app.am()
            .record_referral(pb::RecordReferralRequest {
                parent: a.name.clone(),
                referral: Some(referral()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    if rpc == Rpc::ReactivateAccount {
        return app
            .am()
            .mark_account_at_risk(pb::MarkAccountAtRiskRequest {
                name: a.name,
                reason: "Sponsor left".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
    }
    a
}

fn expansion(app: &TestApp) -> pb::Expansion {
    pb::Expansion {
        kind: pb::ExpansionKind::Upsell as i32,
        title: "More seats".into(),
        expected_close_date: Some(app.days_from_today(30)),
        ..Default::default()
    }
}

fn referral() -> pb::Referral {
    pb::Referral {
        referred_company: Some(closeloop_proto::common::v1::Party {
            account_id: "globex".into(),
            display_name: "Globex AG".into(),
        }),
        contact: Some(closeloop_proto::common::v1::Contact {
            display_name: "Gina".into(),
            email: "gina@globex.example".into(),
            ..Default::default()
        }),
        contact_role: closeloop_proto::opportunities::v1::StakeholderRole::Champion as i32,
        ..Default::default()
    }
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

/// The first outcome and obligation ids of the account `name` (placeholders when it does not
/// exist).
async fn part_ids(app: &TestApp, name: &str) -> (String, String) {
    match app
        .service()
        .get_account(pb::GetAccountRequest { name: name.into() })
        .await
    {
        Ok(a) => {
            let a = a.into_inner();
            (
                a.outcomes[0].outcome_id.clone(),
                a.obligations[0].obligation_id.clone(),
            )
        }
        Err(_) => ("o1".into(), "b1".into()),
    }
}

const MISSING_CHILD: &str = "0190f0f0-0000-7000-8000-000000000001";

/// The name of the first resource under the account `name` that `rpc` reads (a placeholder
/// under it when there is none).
async fn child(app: &TestApp, rpc: Rpc, name: &str) -> String {
    let mut s = app.service();
    let found = match rpc {
        Rpc::GetCheckIn => s
            .list_check_ins(pb::ListCheckInsRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().check_ins.first().map(|c| c.name.clone())),
        Rpc::GetOperationsUpdate => s
            .list_operations_updates(pb::ListOperationsUpdatesRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await
            .ok()
            .and_then(|r| {
                r.into_inner()
                    .operations_updates
                    .first()
                    .map(|u| u.name.clone())
            }),
        Rpc::GetExpansion => s
            .list_expansions(pb::ListExpansionsRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().expansions.first().map(|e| e.name.clone())),
        Rpc::GetReferral => s
            .list_referrals(pb::ListReferralsRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().referrals.first().map(|e| e.name.clone())),
        _ => None,
    };
    found.unwrap_or_else(|| format!("{name}/{}/{MISSING_CHILD}", collection(rpc)))
}

fn collection(rpc: Rpc) -> &'static str {
    match rpc {
        Rpc::GetCheckIn => "checkIns",
        Rpc::GetOperationsUpdate => "operationsUpdates",
        Rpc::GetExpansion => "expansions",
        Rpc::GetReferral => "referrals",
        _ => "",
    }
}

/// The resource type NOT_FOUND names for `rpc`.
fn resource_type(rpc: Rpc) -> &'static str {
    match rpc {
        Rpc::GetCheckIn => "closeloop.accounts.v1.CheckIn",
        Rpc::GetOperationsUpdate => "closeloop.accounts.v1.OperationsUpdate",
        Rpc::GetExpansion => "closeloop.accounts.v1.Expansion",
        Rpc::GetReferral => "closeloop.accounts.v1.Referral",
        _ => "closeloop.accounts.v1.Account",
    }
}

/// Whether `rpc` acts on one account (the rest list across accounts).
fn on_one_account(rpc: Rpc) -> bool {
    !matches!(
        rpc,
        Rpc::ListAccounts
            | Rpc::ListDueCheckIns
            | Rpc::ListSalespersonFeed
            | Rpc::GetPortfolioMetrics
    )
}

async fn call(
    app: &TestApp,
    rpc: Rpc,
    mut c: Accounts,
    name: &str,
    customer: &str,
) -> Result<(), Status> {
    match rpc {
        Rpc::OpenAccount => {
            c.open_account(open_request(app, customer, &format!("new-{customer}")))
                .await?;
        }
        Rpc::GetAccount => {
            c.get_account(pb::GetAccountRequest { name: name.into() })
                .await?;
        }
        Rpc::ListAccounts => {
            c.list_accounts(pb::ListAccountsRequest::default()).await?;
        }
        Rpc::MarkAccountAtRisk => {
            c.mark_account_at_risk(pb::MarkAccountAtRiskRequest {
                name: name.into(),
                reason: "Sponsor left".into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::MarkAccountChurned => {
            c.mark_account_churned(pb::MarkAccountChurnedRequest {
                name: name.into(),
                churn_reason: pb::ChurnReason::Budget as i32,
                ..Default::default()
            })
            .await?;
        }
        Rpc::ReactivateAccount => {
            c.reactivate_account(pb::ReactivateAccountRequest {
                name: name.into(),
                reason: "Recovered".into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::GetAccountHealth => {
            c.get_account_health(pb::GetAccountHealthRequest { name: name.into() })
                .await?;
        }
        Rpc::AddOutcome => {
            c.add_outcome(pb::AddOutcomeRequest {
                name: name.into(),
                outcome: Some(outcome()),
                ..Default::default()
            })
            .await?;
        }
        Rpc::AddObligation => {
            c.add_obligation(pb::AddObligationRequest {
                name: name.into(),
                obligation: Some(obligation()),
                ..Default::default()
            })
            .await?;
        }
        Rpc::UpdateAccount => {
            // Hands the account to its own manager: the one change a sales manager may make.
            c.update_account(pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    name: name.into(),
                    account_manager: AM.into(),
                    ..Default::default()
                }),
                update_mask: mask(&["account_manager"]),
                ..Default::default()
            })
            .await?;
        }
        Rpc::UpdateOutcome => {
            let (outcome_id, _) = part_ids(app, name).await;
            c.update_outcome(pb::UpdateOutcomeRequest {
                name: name.into(),
                outcome: Some(pb::Outcome {
                    outcome_id,
                    progress_percent: 50,
                    ..Default::default()
                }),
                update_mask: mask(&["progress_percent"]),
                ..Default::default()
            })
            .await?;
        }
        Rpc::UpdateObligation => {
            let (_, obligation_id) = part_ids(app, name).await;
            c.update_obligation(pb::UpdateObligationRequest {
                name: name.into(),
                obligation: Some(pb::Obligation {
                    obligation_id,
                    status_note: "Scheduled".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["status_note"]),
                ..Default::default()
            })
            .await?;
        }
        Rpc::RecordCheckIn => {
            c.record_check_in(pb::RecordCheckInRequest {
                parent: name.into(),
                check_in: Some(pb::CheckIn {
                    satisfaction: 6,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await?;
        }
        Rpc::GetCheckIn => {
            c.get_check_in(pb::GetCheckInRequest {
                name: child(app, rpc, name).await,
            })
            .await?;
        }
        Rpc::ListCheckIns => {
            c.list_check_ins(pb::ListCheckInsRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::ListDueCheckIns => {
            c.list_due_check_ins(pb::ListDueCheckInsRequest::default())
                .await?;
        }
        Rpc::PostOperationsUpdate => {
            c.post_operations_update(pb::PostOperationsUpdateRequest {
                parent: name.into(),
                operations_update: Some(pb::OperationsUpdate {
                    kind: pb::OperationsUpdateKind::Performance as i32,
                    title: "Uptime".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await?;
        }
        Rpc::GetOperationsUpdate => {
            c.get_operations_update(pb::GetOperationsUpdateRequest {
                name: child(app, rpc, name).await,
            })
            .await?;
        }
        Rpc::ListOperationsUpdates => {
            c.list_operations_updates(pb::ListOperationsUpdatesRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::ListSalespersonFeed => {
            c.list_salesperson_feed(pb::ListSalespersonFeedRequest {
                salesperson: REP.into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::IdentifyExpansion => {
            c.identify_expansion(pb::IdentifyExpansionRequest {
                parent: name.into(),
                expansion: Some(expansion(app)),
                ..Default::default()
            })
            .await?;
        }
        Rpc::GetExpansion => {
            c.get_expansion(pb::GetExpansionRequest {
                name: child(app, rpc, name).await,
            })
            .await?;
        }
        Rpc::ListExpansions => {
            c.list_expansions(pb::ListExpansionsRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::RecordReferral => {
            c.record_referral(pb::RecordReferralRequest {
                parent: name.into(),
                referral: Some(referral()),
                ..Default::default()
            })
            .await?;
        }
        Rpc::GetReferral => {
            c.get_referral(pb::GetReferralRequest {
                name: child(app, rpc, name).await,
            })
            .await?;
        }
        Rpc::ListReferrals => {
            c.list_referrals(pb::ListReferralsRequest {
                parent: name.into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::GetPortfolioMetrics => {
            c.get_portfolio_metrics(pb::GetPortfolioMetricsRequest {
                period: Some(closeloop_proto::common::v1::DateRange {
                    start_date: Some(app.days_from_today(-10)),
                    end_date: Some(app.today()),
                }),
                currency_code: "EUR".into(),
                ..Default::default()
            })
            .await?;
        }
        Rpc::GetCustomerLifetimeValue => {
            c.get_customer_lifetime_value(pb::GetCustomerLifetimeValueRequest {
                name: name.into(),
            })
            .await?;
        }
    }
    Ok(())
}

async fn row(rpc: Rpc) {
    let app = TestApp::spawn().await;
    let listed = TABLE.iter().find(|(r, _)| *r == rpc).unwrap().1;
    for (i, &role) in EVERYONE.iter().enumerate() {
        let customer = format!("c{i}");
        let a = prepared(&app, rpc, &customer).await;
        let client = app.client(subject(role), &[role]);
        let got = call(&app, rpc, client.clone(), &a.name, &format!("x{i}")).await;
        if listed.contains(&role) {
            got.unwrap_or_else(|s| panic!("{rpc:?} as {role:?}: {s:?}"));
            if matches!(role, AccountManager | SalesRep) && on_one_account(rpc) {
                // Not its own: as if it did not exist.
                let stranger = app.client("stranger", &[role]);
                let b = prepared(&app, rpc, &format!("s{i}")).await;
                let status = call(&app, rpc, stranger, &b.name, &format!("y{i}"))
                    .await
                    .unwrap_err();
                let asked = if resource_type(rpc).ends_with(".Account") {
                    b.name.clone()
                } else {
                    child(&app, rpc, &b.name).await
                };
                assert_not_found(&status, resource_type(rpc), &asked);
            }
        } else {
            let status = got.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{rpc:?} as {role:?}");
            let status = call(&app, rpc, client, MISSING, &format!("z{i}"))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{rpc:?} as {role:?}");
            let unchanged = app
                .sales_manager()
                .get_account(pb::GetAccountRequest {
                    name: a.name.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(unchanged.etag, a.etag, "{rpc:?} as {role:?}");
        }
    }
}

#[tokio::test]
async fn open_account() {
    row(Rpc::OpenAccount).await;
}

#[tokio::test]
async fn get_account() {
    row(Rpc::GetAccount).await;
}

#[tokio::test]
async fn list_accounts() {
    row(Rpc::ListAccounts).await;
}

#[tokio::test]
async fn mark_account_at_risk() {
    row(Rpc::MarkAccountAtRisk).await;
}

#[tokio::test]
async fn mark_account_churned() {
    row(Rpc::MarkAccountChurned).await;
}

#[tokio::test]
async fn reactivate_account() {
    row(Rpc::ReactivateAccount).await;
}

#[tokio::test]
async fn get_account_health() {
    row(Rpc::GetAccountHealth).await;
}

#[tokio::test]
async fn get_customer_lifetime_value() {
    row(Rpc::GetCustomerLifetimeValue).await;
}

#[tokio::test]
async fn add_outcome() {
    row(Rpc::AddOutcome).await;
}

#[tokio::test]
async fn add_obligation() {
    row(Rpc::AddObligation).await;
}

#[tokio::test]
async fn update_account() {
    row(Rpc::UpdateAccount).await;
}

#[tokio::test]
async fn update_outcome() {
    row(Rpc::UpdateOutcome).await;
}

#[tokio::test]
async fn update_obligation() {
    row(Rpc::UpdateObligation).await;
}

#[tokio::test]
async fn record_check_in() {
    row(Rpc::RecordCheckIn).await;
}

#[tokio::test]
async fn get_check_in() {
    row(Rpc::GetCheckIn).await;
}

#[tokio::test]
async fn list_check_ins() {
    row(Rpc::ListCheckIns).await;
}

#[tokio::test]
async fn list_due_check_ins() {
    row(Rpc::ListDueCheckIns).await;
}

#[tokio::test]
async fn post_operations_update() {
    row(Rpc::PostOperationsUpdate).await;
}

#[tokio::test]
async fn get_operations_update() {
    row(Rpc::GetOperationsUpdate).await;
}

#[tokio::test]
async fn list_operations_updates() {
    row(Rpc::ListOperationsUpdates).await;
}

#[tokio::test]
async fn list_salesperson_feed() {
    row(Rpc::ListSalespersonFeed).await;
}

#[tokio::test]
async fn identify_expansion() {
    row(Rpc::IdentifyExpansion).await;
}

#[tokio::test]
async fn get_expansion() {
    row(Rpc::GetExpansion).await;
}

#[tokio::test]
async fn list_expansions() {
    row(Rpc::ListExpansions).await;
}

#[tokio::test]
async fn record_referral() {
    row(Rpc::RecordReferral).await;
}

#[tokio::test]
async fn get_referral() {
    row(Rpc::GetReferral).await;
}

#[tokio::test]
async fn list_referrals() {
    row(Rpc::ListReferrals).await;
}

#[tokio::test]
async fn get_portfolio_metrics() {
    row(Rpc::GetPortfolioMetrics).await;
}
