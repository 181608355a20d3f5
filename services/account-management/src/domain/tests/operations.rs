//! Operations updates: issues open and resolve, the filters, the feed's order.

use time::macros::date;

use super::*;
use crate::domain::operations::{
    FeedEntry, Measurement, OperationsUpdate, OperationsUpdateInput, Posted, UpdateFilter,
    posting_order,
};
use crate::domain::vocabulary::{
    IssueState, OperationsUpdateId, OperationsUpdateKind as K, Severity,
};

fn input(kind: K, severity: Option<Severity>) -> OperationsUpdateInput {
    OperationsUpdateInput {
        kind,
        severity,
        title: "Nightly import failed".into(),
        body: String::new(),
        occur_time: None,
        measurements: Vec::new(),
        resolves: None,
        obligation_id: String::new(),
        external_ref: "INC-42".into(),
    }
}

fn post(
    a: &mut Account,
    input: OperationsUpdateInput,
    issue: Option<&OperationsUpdate>,
    now: i64,
) -> Result<Posted, closeloop_kit::Problem> {
    a.post_operations_update(OperationsUpdateId::new(), input, issue, &otto(), now)
}

fn issue(a: &mut Account, severity: Severity, now: i64) -> OperationsUpdate {
    post(a, input(K::Issue, Some(severity)), None, now)
        .unwrap()
        .update
}

fn resolution(of: &OperationsUpdate) -> OperationsUpdateInput {
    OperationsUpdateInput {
        resolves: Some(of.id.clone()),
        title: "Import fixed".into(),
        ..input(K::Resolution, None)
    }
}

#[test]
fn an_issue_stays_open_until_a_resolution_names_it() {
    let mut a = opened();
    let t1 = at(date!(2026 - 02 - 01));
    let posted = post(&mut a, input(K::Issue, Some(Severity::High)), None, t1).unwrap();
    assert!(posted.account_changed);
    assert_eq!(posted.resolved_issue, None);
    let i = posted.update;
    assert_eq!(
        (i.kind, i.severity, i.issue_state),
        (K::Issue, Severity::High, Some(IssueState::Open))
    );
    assert_eq!((i.occur_time, i.create_time), (t1, t1));
    assert_eq!(i.posted_by.subject, "otto");
    assert_eq!(
        i.name(),
        format!("accounts/{}/operationsUpdates/{}", a.id, i.id)
    );
    assert!(i.is_open_issue());
    assert_eq!(a.open_issue_count, 1);

    let t2 = at(date!(2026 - 02 - 02));
    let posted = post(&mut a, resolution(&i), Some(&i), t2).unwrap();
    // The resolution takes its issue's severity.
    assert_eq!(posted.update.severity, Severity::High);
    assert_eq!(posted.update.issue_state, None);
    let resolved = posted.resolved_issue.unwrap();
    assert_eq!(
        (
            resolved.issue_state,
            resolved.resolved_by.as_ref(),
            resolved.resolve_time
        ),
        (
            Some(IssueState::Resolved),
            Some(&posted.update.id),
            Some(t2)
        )
    );
    assert!(!resolved.is_open_issue());
    assert_eq!(a.open_issue_count, 0);

    // Resolving it again: the gate says which issue.
    let before = a.clone();
    let err = post(&mut a, resolution(&resolved), Some(&resolved), t2 + 1).unwrap_err();
    assert_eq!(gates(&err), [("issue_open".to_owned(), resolved.name())]);
    assert_eq!(a, before);
}

#[test]
fn performance_updates_default_to_info_and_leave_the_account_alone() {
    let mut a = opened();
    let before = a.clone();
    let mut p = input(K::Performance, None);
    p.measurements = vec![Measurement {
        metric: "uptime".into(),
        value: 99.95,
        unit: "%".into(),
        target: 99.9,
        target_met: true,
    }];
    p.occur_time = Some(at(date!(2026 - 01 - 31)));
    let posted = post(&mut a, p, None, at(date!(2026 - 02 - 01))).unwrap();
    assert!(!posted.account_changed);
    assert_eq!(posted.update.severity, Severity::Info);
    assert_eq!(posted.update.issue_state, None);
    assert_eq!(posted.update.occur_time, at(date!(2026 - 01 - 31)));
    assert_eq!(a, before);
}

#[test]
fn bad_updates_post_nothing() {
    let mut a = opened();
    let now = at(date!(2026 - 02 - 01));
    let perf = post(&mut a, input(K::Performance, None), None, now)
        .unwrap()
        .update;
    let before = a.clone();
    let cases: Vec<(OperationsUpdateInput, Option<&OperationsUpdate>, Vec<&str>)> = vec![
        (
            input(K::Issue, None),
            None,
            vec!["operations_update.severity"],
        ),
        (
            input(K::Issue, Some(Severity::Info)),
            None,
            vec!["operations_update.severity"],
        ),
        (
            input(K::Resolution, None),
            None,
            vec!["operations_update.resolves"],
        ),
        (
            OperationsUpdateInput {
                resolves: Some(perf.id.clone()),
                ..input(K::Performance, None)
            },
            None,
            vec!["operations_update.resolves"],
        ),
        // Naming an update that is not an issue, or one the app did not find.
        (
            resolution(&perf),
            Some(&perf),
            vec!["operations_update.resolves"],
        ),
        (resolution(&perf), None, vec!["operations_update.resolves"]),
        (
            OperationsUpdateInput {
                occur_time: Some(now + 1),
                ..input(K::Performance, None)
            },
            None,
            vec!["operations_update.occur_time"],
        ),
        // obligation-3 is the client's VPN access, not a company obligation.
        (
            OperationsUpdateInput {
                obligation_id: "obligation-3".into(),
                ..input(K::Issue, Some(Severity::Low))
            },
            None,
            vec!["operations_update.obligation_id"],
        ),
        (
            OperationsUpdateInput {
                measurements: vec![Measurement {
                    metric: "latency".into(),
                    value: f64::NAN,
                    unit: "ms".into(),
                    target: f64::INFINITY,
                    target_met: false,
                }],
                ..input(K::Performance, None)
            },
            None,
            vec![
                "operations_update.measurements[0].value",
                "operations_update.measurements[0].target",
            ],
        ),
    ];
    for (i, issue, expected) in cases {
        let err = post(&mut a, i, issue, now).unwrap_err();
        assert_eq!(fields_of(&err), expected);
        assert_eq!(a, before);
    }
    // A company obligation may be named.
    let ok = OperationsUpdateInput {
        obligation_id: "obligation-2".into(),
        ..input(K::Issue, Some(Severity::Low))
    };
    post(&mut a, ok, None, now).unwrap();
}

#[test]
fn an_issue_of_another_account_cannot_be_resolved_here() {
    let mut a = opened();
    let mut b = opened();
    let foreign = issue(&mut b, Severity::Low, at(date!(2026 - 02 - 01)));
    let err = post(
        &mut a,
        resolution(&foreign),
        Some(&foreign),
        at(date!(2026 - 02 - 02)),
    )
    .unwrap_err();
    assert_eq!(fields_of(&err), ["operations_update.resolves"]);
}

#[test]
fn filters_select_by_kind_severity_state_and_posting_time() {
    let mut a = opened();
    let low = issue(&mut a, Severity::Low, 10);
    let critical = issue(&mut a, Severity::Critical, 20);
    let perf = post(&mut a, input(K::Performance, None), None, 30)
        .unwrap()
        .update;
    let fixed = post(&mut a, resolution(&low), Some(&low), 40).unwrap();
    let low = fixed.resolved_issue.unwrap();
    let all = [
        low.clone(),
        critical.clone(),
        perf.clone(),
        fixed.update.clone(),
    ];
    let pick = |f: UpdateFilter| -> Vec<Severity> {
        all.iter()
            .filter(|u| f.matches(u))
            .map(|u| u.severity)
            .collect()
    };
    assert_eq!(pick(UpdateFilter::default()).len(), 4);
    assert_eq!(
        pick(UpdateFilter {
            kinds: vec![K::Issue],
            ..UpdateFilter::default()
        }),
        [Severity::Low, Severity::Critical]
    );
    assert_eq!(
        pick(UpdateFilter {
            minimum_severity: Some(Severity::Medium),
            ..UpdateFilter::default()
        }),
        [Severity::Critical]
    );
    assert_eq!(
        pick(UpdateFilter {
            open_issues_only: true,
            ..UpdateFilter::default()
        }),
        [Severity::Critical]
    );
    // Posted after 20: not at 20.
    assert_eq!(
        pick(UpdateFilter {
            since_time: Some(20),
            ..UpdateFilter::default()
        }),
        [Severity::Info, Severity::Low]
    );
}

#[test]
fn the_feed_is_in_posting_order_newest_first() {
    let mut a = opened();
    // Posted late about an event weeks earlier: still first, since it was posted last.
    let mut late = input(K::Issue, Some(Severity::Medium));
    late.occur_time = Some(at(date!(2026 - 01 - 15)));
    let old = issue(&mut a, Severity::Low, at(date!(2026 - 02 - 01)));
    let new = post(&mut a, late, None, at(date!(2026 - 02 - 10)))
        .unwrap()
        .update;
    let mut same_time = [
        issue(&mut a, Severity::Low, at(date!(2026 - 02 - 05))),
        issue(&mut a, Severity::Low, at(date!(2026 - 02 - 05))),
    ];
    same_time.sort_by(|x, y| x.id.cmp(&y.id));
    let mut feed = [
        old.clone(),
        same_time[1].clone(),
        new.clone(),
        same_time[0].clone(),
    ];
    feed.sort_by(posting_order);
    let ids: Vec<_> = feed.iter().map(|u| u.id.clone()).collect();
    assert_eq!(
        ids,
        [
            new.id.clone(),
            same_time[0].id.clone(),
            same_time[1].id.clone(),
            old.id.clone()
        ]
    );
    let entry = FeedEntry::new(new, &a);
    assert_eq!(entry.account, a.name());
    assert_eq!(
        (entry.account_manager.as_str(), entry.account_status),
        ("alice", AccountStatus::Active)
    );
    assert_eq!(entry.customer.display_name, "Acme Corp");
}

#[test]
fn updates_are_posted_in_every_status() {
    for status in AccountStatus::ALL {
        let mut a = in_status(status);
        issue(&mut a, Severity::Low, at(date!(2026 - 04 - 01)));
        assert_eq!(a.open_issue_count, 1);
    }
}
