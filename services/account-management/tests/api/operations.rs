//! PostOperationsUpdate, GetOperationsUpdate, ListOperationsUpdates, ListSalespersonFeed, and
//! the open issues health reads.

use closeloop_kit::Role;
use closeloop_proto::accounts::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn ops(app: &TestApp) -> Accounts {
    app.client("opsbot", &[Role::Operations])
}

fn update(
    kind: pb::OperationsUpdateKind,
    severity: pb::Severity,
    title: &str,
) -> pb::OperationsUpdate {
    pb::OperationsUpdate {
        kind: kind as i32,
        severity: severity as i32,
        title: title.into(),
        ..Default::default()
    }
}

async fn post(
    c: &mut Accounts,
    parent: &str,
    u: pb::OperationsUpdate,
) -> Result<pb::OperationsUpdate, tonic::Status> {
    c.post_operations_update(pb::PostOperationsUpdateRequest {
        parent: parent.into(),
        operations_update: Some(u),
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn issues_open_and_resolve() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let b = app.open("bolt", "h2").await;
    let mut ops = ops(&app);
    let mut perf = update(
        pb::OperationsUpdateKind::Performance,
        pb::Severity::Unspecified,
        "Uptime in May",
    );
    perf.measurements = vec![pb::Measurement {
        metric: "uptime".into(),
        value: 99.95,
        unit: "%".into(),
        target: 99.9,
        target_met: true,
    }];
    let perf = post(&mut ops, &a.name, perf).await.unwrap();
    assert_eq!(perf.severity, pb::Severity::Info as i32);
    assert_eq!(perf.measurements[0].value, 99.95);
    let issue = post(
        &mut ops,
        &a.name,
        update(
            pb::OperationsUpdateKind::Issue,
            pb::Severity::High,
            "Exports fail",
        ),
    )
    .await
    .unwrap();
    assert_eq!(issue.issue_state, pb::IssueState::Open as i32);
    assert_eq!(issue.posted_by.as_ref().unwrap().subject, "opsbot");
    let account = ops
        .get_account(pb::GetAccountRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.open_issue_count, 1);

    // Health counts the open issue.
    let health = app
        .am()
        .get_account_health(pb::GetAccountHealthRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let issues = health
        .factors
        .iter()
        .find(|f| f.factor == pb::HealthFactorKind::OpenIssues as i32)
        .unwrap();
    assert!(issues.score < 100, "{issues:?}");

    let mut resolution = update(
        pb::OperationsUpdateKind::Resolution,
        pb::Severity::Unspecified,
        "Exports fixed",
    );
    resolution.resolves = issue.name.clone();
    let resolution = post(&mut ops, &a.name, resolution.clone()).await.unwrap();
    assert_eq!(resolution.severity, pb::Severity::High as i32);
    assert_eq!(resolution.resolves, issue.name);
    let resolved = ops
        .get_operations_update(pb::GetOperationsUpdateRequest {
            name: issue.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.issue_state, pb::IssueState::Resolved as i32);
    assert_eq!(resolved.resolved_by, resolution.name);
    let mut again = update(
        pb::OperationsUpdateKind::Resolution,
        pb::Severity::Unspecified,
        "Fixed again",
    );
    again.resolves = issue.name.clone();
    let status = post(&mut ops, &a.name, again.clone()).await.unwrap_err();
    assert_gate(&status, "issue_open", Some(&issue.name));
    // Not an issue of that account.
    let status = post(&mut ops, &b.name, again).await.unwrap_err();
    assert_invalid(&status, &["operations_update.resolves"]);
    let status = post(
        &mut ops,
        &a.name,
        update(
            pb::OperationsUpdateKind::Unspecified,
            pb::Severity::Info,
            "",
        ),
    )
    .await
    .unwrap_err();
    assert_invalid(
        &status,
        &["operations_update.kind", "operations_update.title"],
    );
    let status = post(
        &mut ops,
        &a.name,
        update(pb::OperationsUpdateKind::Issue, pb::Severity::Info, "Minor"),
    )
    .await
    .unwrap_err();
    assert_invalid(&status, &["operations_update.severity"]);
    let status = ops
        .post_operations_update(pb::PostOperationsUpdateRequest {
            parent: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["operations_update"]);
    let missing = format!(
        "{}/operationsUpdates/0190f0f0-0000-7000-8000-000000000001",
        a.name
    );
    let status = ops
        .get_operations_update(pb::GetOperationsUpdateRequest {
            name: missing.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&status, "closeloop.accounts.v1.OperationsUpdate", &missing);

    // Listed newest first, filtered, page by page.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = ops
            .list_operations_updates(pb::ListOperationsUpdatesRequest {
                parent: a.name.clone(),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        names.extend(page.operations_updates.into_iter().map(|u| u.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(
        names,
        [
            resolution.name.clone(),
            issue.name.clone(),
            perf.name.clone()
        ]
    );
    let serious = ops
        .list_operations_updates(pb::ListOperationsUpdatesRequest {
            parent: a.name.clone(),
            kinds: vec![pb::OperationsUpdateKind::Issue as i32],
            minimum_severity: pb::Severity::Medium as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serious.operations_updates.len(), 1);
    let open = ops
        .list_operations_updates(pb::ListOperationsUpdatesRequest {
            parent: a.name.clone(),
            open_issues_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(open.operations_updates.is_empty());
    let status = ops
        .list_operations_updates(pb::ListOperationsUpdatesRequest {
            parent: a.name.clone(),
            kinds: vec![0],
            minimum_severity: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["kinds[0]", "minimum_severity"]);
}

#[tokio::test]
async fn the_salesperson_reads_its_feed() {
    let app = TestApp::spawn().await;
    let a = app.open("acme", "h1").await;
    let b = app.open("bolt", "h2").await;
    let mut ops = ops(&app);
    let first = post(
        &mut ops,
        &a.name,
        update(
            pb::OperationsUpdateKind::Issue,
            pb::Severity::Low,
            "Slow reports",
        ),
    )
    .await
    .unwrap();
    let second = post(
        &mut ops,
        &b.name,
        update(
            pb::OperationsUpdateKind::Issue,
            pb::Severity::Critical,
            "Outage",
        ),
    )
    .await
    .unwrap();
    let mut rep = app.client(REP, &[Role::SalesRep]);
    let feed = rep
        .list_salesperson_feed(pb::ListSalespersonFeedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = feed
        .entries
        .iter()
        .map(|e| e.operations_update.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, [second.name.as_str(), first.name.as_str()]);
    assert_eq!(feed.entries[0].account, b.name);
    assert_eq!(feed.entries[0].account_manager, AM);
    assert_eq!(
        feed.entries[0].customer.as_ref().unwrap().account_id,
        "bolt"
    );
    let since = rep
        .list_salesperson_feed(pb::ListSalespersonFeedRequest {
            since_time: first.create_time,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(since.entries.len(), 1);
    let critical = app
        .sales_manager()
        .list_salesperson_feed(pb::ListSalespersonFeedRequest {
            salesperson: REP.into(),
            minimum_severity: pb::Severity::High as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(critical.entries.len(), 1);
    let none = app
        .sales_manager()
        .list_salesperson_feed(pb::ListSalespersonFeedRequest {
            salesperson: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.entries.is_empty());

    let status = rep
        .list_salesperson_feed(pb::ListSalespersonFeedRequest {
            salesperson: "other-rep".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = app
        .sales_manager()
        .list_salesperson_feed(pb::ListSalespersonFeedRequest::default())
        .await
        .unwrap_err();
    assert_invalid(&status, &["salesperson"]);
}
