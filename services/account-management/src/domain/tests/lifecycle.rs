//! The status machine: every (status, move) pair, and what each move records.

use time::macros::date;

use super::*;
use crate::domain::lifecycle::{Churn, StatusMove, check_move};
use crate::domain::limits::MAX_STATUS_CHANGES;
use crate::domain::vocabulary::{AccountStatus as S, ChurnReason};

fn churn(reason: ChurnReason, notes: &str, date: Option<time::Date>) -> Churn {
    Churn {
        reason,
        notes: notes.into(),
        churn_date: date,
    }
}

/// Makes `m` on `a` with valid values.
fn make(a: &mut Account, m: StatusMove, now: i64) -> Result<(), closeloop_kit::Problem> {
    match m {
        StatusMove::MarkAtRisk => a.mark_at_risk(&alice(), "No answer for a month".into(), now),
        StatusMove::MarkChurned => {
            a.mark_churned(&alice(), churn(ChurnReason::Price, "", None), now)
        }
        StatusMove::Reactivate => a.reactivate(&alice(), "Won back".into(), now),
        // Only OpenAccount reopens; its own tests cover it (`opening`).
        StatusMove::Reopen => check_move(a, m),
    }
}

#[test]
fn the_table_is_the_protos() {
    let table: Vec<_> = StatusMove::ALL
        .iter()
        .map(|m| (*m, m.from().to_vec(), m.to()))
        .collect();
    assert_eq!(
        table,
        [
            (StatusMove::MarkAtRisk, vec![S::Active], S::AtRisk),
            (
                StatusMove::MarkChurned,
                vec![S::Active, S::AtRisk],
                S::Churned
            ),
            (
                StatusMove::Reactivate,
                vec![S::AtRisk, S::Churned],
                S::Active
            ),
            (StatusMove::Reopen, vec![S::Churned], S::Active),
        ]
    );
}

#[test]
fn every_move_from_every_status_is_allowed_or_refused_with_the_status_gate() {
    let now = at(date!(2026 - 04 - 01));
    for status in S::ALL {
        for m in StatusMove::ALL {
            let mut a = in_status(status);
            let before = a.clone();
            let result = make(&mut a, m, now);
            if m.from().contains(&status) {
                assert!(result.is_ok(), "{status:?} {m:?}: {result:?}");
                if m != StatusMove::Reopen {
                    assert_eq!(a.status, m.to(), "{status:?} {m:?}");
                    let last = a.status_history.last().unwrap();
                    assert_eq!((last.from, last.to), (Some(status), m.to()));
                    assert_eq!(a.status_history.len(), before.status_history.len() + 1);
                    assert_eq!(a.update_time, now);
                }
            } else {
                let err = result.unwrap_err();
                assert_eq!(
                    gates(&err),
                    [("status".to_owned(), status.code().to_owned())],
                    "{status:?} {m:?}"
                );
                assert_eq!(a, before, "a refused move changes nothing");
            }
        }
    }
}

#[test]
fn marking_at_risk_records_the_reason_and_the_day() {
    let mut a = opened();
    let now = at(date!(2026 - 02 - 03));
    a.mark_at_risk(&alice(), "Sponsor left".into(), now)
        .unwrap();
    assert_eq!(a.status_reason, "Sponsor left");
    let last = a.status_history.last().unwrap();
    assert_eq!(
        (last.reason.as_str(), last.effective_date, last.churn_reason),
        ("Sponsor left", date!(2026 - 02 - 03), None)
    );
    assert_eq!(last.actor.subject, "alice");
    assert_eq!(a.etag(), "\"1-AT_RISK\"");
}

#[test]
fn reasons_are_required() {
    let mut a = opened();
    let err = a
        .mark_at_risk(&alice(), "  ".into(), opened_at())
        .unwrap_err();
    assert_eq!(fields_of(&err), ["reason"]);
    let mut a = in_status(S::AtRisk);
    let err = a
        .reactivate(&alice(), String::new(), opened_at())
        .unwrap_err();
    assert_eq!(fields_of(&err), ["reason"]);
}

#[test]
fn churning_records_when_and_why_and_reactivating_clears_it() {
    let mut a = opened();
    let now = at(date!(2026 - 05 - 10));
    a.mark_churned(
        &alice(),
        churn(
            ChurnReason::Competitor,
            "Moved to Globex",
            Some(date!(2026 - 04 - 30)),
        ),
        now,
    )
    .unwrap();
    assert_eq!(a.status, S::Churned);
    let record = a.churn.clone().unwrap();
    assert_eq!(
        (record.churn_date, record.reason, record.notes.as_str()),
        (
            date!(2026 - 04 - 30),
            ChurnReason::Competitor,
            "Moved to Globex"
        )
    );
    assert_eq!(a.status_reason, "Moved to Globex");
    let last = a.status_history.last().unwrap();
    assert_eq!(
        (last.effective_date, last.churn_reason),
        (date!(2026 - 04 - 30), Some(ChurnReason::Competitor))
    );
    // Recurring revenue stops: nothing is in force once churned.
    assert_eq!(a.annual_contract_value(date!(2026 - 05 - 10)).minor, 0);
    assert_eq!(a.next_check_in_date(&Default::default()), None);

    a.reactivate(&alice(), "Won back".into(), at(date!(2026 - 06 - 01)))
        .unwrap();
    assert_eq!(a.churn, None);
    assert_eq!(a.status_reason, "Won back");
    assert_eq!(
        a.status_history.last().unwrap().effective_date,
        date!(2026 - 06 - 01)
    );
    assert!(a.annual_contract_value(date!(2026 - 06 - 01)).minor > 0);
}

#[test]
fn a_churn_without_notes_records_its_reason_code() {
    let mut a = opened();
    a.mark_churned(&alice(), churn(ChurnReason::Budget, "", None), opened_at())
        .unwrap();
    assert_eq!(a.status_reason, "BUDGET");
    // The churn date defaults to today (UTC).
    assert_eq!(a.churn.unwrap().churn_date, date!(2026 - 01 - 10));
}

#[test]
fn churn_values_are_checked_and_refusals_change_nothing() {
    let now = at(date!(2026 - 03 - 01));
    let cases = [
        (churn(ChurnReason::Other, " ", None), "notes"),
        (
            churn(ChurnReason::Price, "", Some(date!(2026 - 03 - 02))),
            "churn_date",
        ),
        (
            churn(ChurnReason::Price, "", Some(date!(2025 - 12 - 31))),
            "churn_date",
        ),
        // Before the opening's effective date (2026-01-10): the history would go backwards.
        (
            churn(ChurnReason::Price, "", Some(date!(2026 - 01 - 05))),
            "churn_date",
        ),
    ];
    for (c, field) in cases {
        let mut a = opened();
        let before = a.clone();
        let err = a.mark_churned(&alice(), c.clone(), now).unwrap_err();
        assert_eq!(fields_of(&err), [field], "{c:?}");
        assert_eq!(a, before);
    }
    let mut a = opened();
    a.mark_churned(
        &alice(),
        churn(
            ChurnReason::Other,
            "Merged into a group",
            Some(date!(2026 - 01 - 10)),
        ),
        now,
    )
    .unwrap();
    // A start date moved after the opening: a churn date between the two is refused for the
    // start date alone.
    let mut a = opened();
    a.start_date = date!(2026 - 02 - 01);
    let err = a
        .mark_churned(
            &alice(),
            churn(ChurnReason::Price, "", Some(date!(2026 - 01 - 20))),
            now,
        )
        .unwrap_err();
    assert_eq!(fields_of(&err), ["churn_date"]);
}

#[test]
fn the_history_is_in_date_order_so_the_status_on_any_day_can_be_read() {
    let mut a = opened();
    a.mark_at_risk(&alice(), "Quiet".into(), at(date!(2026 - 02 - 01)))
        .unwrap();
    a.mark_churned(
        &alice(),
        churn(ChurnReason::Price, "", Some(date!(2026 - 03 - 01))),
        at(date!(2026 - 03 - 15)),
    )
    .unwrap();
    a.reactivate(&alice(), "Back".into(), at(date!(2026 - 04 - 01)))
        .unwrap();
    let dates: Vec<_> = a.status_history.iter().map(|c| c.effective_date).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    // Before the opening entry (but after the start date): the status it opened in.
    assert_eq!(a.status_on(date!(2026 - 01 - 02)), S::Active);
    assert_eq!(a.status_on(date!(2026 - 01 - 31)), S::Active);
    assert_eq!(a.status_on(date!(2026 - 02 - 01)), S::AtRisk);
    assert_eq!(a.status_on(date!(2026 - 02 - 28)), S::AtRisk);
    assert_eq!(a.status_on(date!(2026 - 03 - 01)), S::Churned);
    assert_eq!(a.status_on(date!(2026 - 03 - 31)), S::Churned);
    assert_eq!(a.status_on(date!(2026 - 04 - 01)), S::Active);
}

#[test]
fn the_status_history_is_bounded() {
    let mut a = in_status(S::AtRisk);
    let filler = a.status_history[0].clone();
    a.status_history = vec![filler; MAX_STATUS_CHANGES];
    let before = a.clone();
    let err = a
        .reactivate(&alice(), "Back".into(), opened_at())
        .unwrap_err();
    assert_eq!(
        gates(&err),
        [("history_limit".to_owned(), "status_history".to_owned())]
    );
    assert_eq!(a, before);
}
