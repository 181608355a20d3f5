//! Check-ins: recording, what they change on the account, due and overdue check-ins.

use closeloop_kit::time::MICROS_PER_DAY;
use time::macros::date;

use super::*;
use crate::domain::account::LastCheckIn;
use crate::domain::check_ins::{CheckIn, CheckInInput, ProgressInput, due_order, progress_status};
use crate::domain::policy::Policy;
use crate::domain::vocabulary::{CheckInChannel, CheckInId, OutcomeStatus as O};

fn input(satisfaction: i32, time: Option<i64>) -> CheckInInput {
    CheckInInput {
        check_in_time: time,
        satisfaction,
        outcome_progress: Vec::new(),
        notes: "Quarterly review".into(),
        channel: Some(CheckInChannel::VideoCall),
        attendees: vec![contact("Carla", "carla@acme.com")],
    }
}

fn progress(outcome_id: &str, percent: i32, status: Option<O>) -> ProgressInput {
    ProgressInput {
        outcome_id: outcome_id.into(),
        progress_percent: percent,
        status,
        note: format!("{percent} %"),
    }
}

fn record(
    a: &mut Account,
    input: CheckInInput,
    previous: Option<&CheckIn>,
    next: Option<&CheckIn>,
    now: i64,
) -> Result<crate::domain::check_ins::RecordedCheckIn, closeloop_kit::Problem> {
    a.record_check_in(CheckInId::new(), input, previous, next, &alice(), now)
}

#[test]
fn the_progress_status_rule_is_the_protos() {
    // Given: taken as it is.
    assert_eq!(
        progress_status(O::NotStarted, 100, Some(O::OffTrack)),
        O::OffTrack
    );
    // ACHIEVED at 100 percent, from any status.
    for current in O::ALL {
        assert_eq!(progress_status(current, 100, None), O::Achieved);
    }
    // ON_TRACK when it was NOT_STARTED and progress is above 0.
    assert_eq!(progress_status(O::NotStarted, 1, None), O::OnTrack);
    assert_eq!(progress_status(O::NotStarted, 0, None), O::NotStarted);
    // Otherwise kept.
    assert_eq!(progress_status(O::OffTrack, 50, None), O::OffTrack);
    assert_eq!(progress_status(O::Achieved, 80, None), O::Achieved);
    assert_eq!(progress_status(O::NotAchieved, 10, None), O::NotAchieved);
}

#[test]
fn a_check_in_updates_the_last_check_in_the_next_due_date_and_the_outcomes() {
    let mut a = opened();
    let policy = Policy::default();
    // Before any check-in: due a cadence after the start date.
    assert_eq!(a.next_check_in_date(&policy), Some(date!(2026 - 01 - 31)));
    let now = at(date!(2026 - 02 - 10));
    let mut i = input(8, None);
    i.outcome_progress = vec![progress("outcome-1", 40, None)];
    let recorded = record(&mut a, i, None, None, now).unwrap();
    let c = &recorded.check_in;
    assert_eq!(
        (c.check_in_time, c.satisfaction, c.satisfaction_change),
        (now, 8, 0)
    );
    assert_eq!(c.account, a.id);
    assert_eq!(c.recorded_by.subject, "alice");
    assert_eq!(c.name(), format!("accounts/{}/checkIns/{}", a.id, c.id));
    assert_eq!(c.outcome_progress.len(), 1);
    let p = &c.outcome_progress[0];
    assert_eq!(
        (p.status, p.goal.as_str()),
        (O::OnTrack, "Cut invoice processing time")
    );
    assert_eq!(recorded.next_satisfaction_change, None);

    assert_eq!(
        a.last_check_in,
        Some(LastCheckIn {
            time: now,
            satisfaction: 8
        })
    );
    assert_eq!(a.next_check_in_date(&policy), Some(date!(2026 - 03 - 12)));
    assert!(!a.check_in_overdue(&policy, date!(2026 - 03 - 12)));
    assert!(a.check_in_overdue(&policy, date!(2026 - 03 - 13)));
    let o = a.outcome("outcome-1").unwrap();
    assert_eq!((o.progress_percent, o.status), (40, O::OnTrack));
    assert_eq!(o.progress_note, "40 %");
    assert_eq!(o.progress_update_time, Some(now));
    assert_eq!(o.last_check_in, c.name());
    assert_eq!(a.update_time, now);
}

#[test]
fn satisfaction_change_is_against_the_previous_check_in_and_a_backdated_one_corrects_the_next() {
    let mut a = opened();
    let first_time = at(date!(2026 - 02 - 01));
    let first = record(&mut a, input(6, None), None, None, first_time)
        .unwrap()
        .check_in;
    let third_time = at(date!(2026 - 03 - 01));
    let third = record(&mut a, input(9, None), Some(&first), None, third_time)
        .unwrap()
        .check_in;
    assert_eq!(third.satisfaction_change, 3);
    // Recorded later, about a conversation between the two.
    let second_time = at(date!(2026 - 02 - 15));
    let recorded = record(
        &mut a,
        input(4, Some(second_time)),
        Some(&first),
        Some(&third),
        at(date!(2026 - 03 - 02)),
    )
    .unwrap();
    assert_eq!(recorded.check_in.satisfaction_change, -2);
    assert_eq!(
        recorded.next_satisfaction_change,
        Some((third.id.clone(), 5))
    );
    // The most recent check-in is still the third.
    assert_eq!(
        a.last_check_in,
        Some(LastCheckIn {
            time: third_time,
            satisfaction: 9
        })
    );
}

#[test]
fn a_backdated_check_in_does_not_undo_a_later_progress_report() {
    let mut a = opened();
    let mut later = input(8, None);
    later.outcome_progress = vec![progress("outcome-1", 70, None)];
    let later_time = at(date!(2026 - 03 - 01));
    let third = record(&mut a, later, None, None, later_time)
        .unwrap()
        .check_in;
    let mut earlier = input(5, Some(at(date!(2026 - 02 - 01))));
    earlier.outcome_progress = vec![progress("outcome-1", 30, Some(O::OffTrack))];
    let recorded = record(
        &mut a,
        earlier,
        None,
        Some(&third),
        at(date!(2026 - 03 - 02)),
    )
    .unwrap();
    // The check-in keeps what it reported; the outcome keeps the later report.
    assert_eq!(recorded.check_in.outcome_progress[0].progress_percent, 30);
    let o = a.outcome("outcome-1").unwrap();
    assert_eq!(
        (o.progress_percent, o.progress_update_time),
        (70, Some(later_time))
    );
}

#[test]
fn a_churned_account_takes_no_check_in() {
    let mut a = in_status(AccountStatus::Churned);
    let before = a.clone();
    let err = record(
        &mut a,
        input(7, None),
        None,
        None,
        at(date!(2026 - 04 - 01)),
    )
    .unwrap_err();
    assert_eq!(
        gates(&err),
        [("account_status".to_owned(), "CHURNED".to_owned())]
    );
    assert_eq!(a, before);
    // AT_RISK accounts do.
    let mut b = in_status(AccountStatus::AtRisk);
    record(
        &mut b,
        input(7, None),
        None,
        None,
        at(date!(2026 - 04 - 01)),
    )
    .unwrap();
}

#[test]
fn bad_values_record_nothing() {
    let mut a = opened();
    let before = a.clone();
    let now = at(date!(2026 - 02 - 10));
    let mut i = input(11, Some(now + 1));
    i.attendees = vec![contact("X", "x@acme.com"); 51];
    i.outcome_progress = vec![
        progress("outcome-1", 101, None),
        progress("outcome-1", 50, None),
        progress("outcome-7", 50, None),
    ];
    let err = record(&mut a, i, None, None, now).unwrap_err();
    assert_eq!(
        fields_of(&err),
        [
            "check_in.satisfaction",
            "check_in.check_in_time",
            "check_in.attendees",
            "check_in.outcome_progress[0].progress_percent",
            "check_in.outcome_progress[1].outcome_id",
            "check_in.outcome_progress[2].outcome_id",
        ]
    );
    let err = record(
        &mut a,
        input(0, Some(at(date!(2025 - 12 - 31)))),
        None,
        None,
        now,
    )
    .unwrap_err();
    assert_eq!(
        fields_of(&err),
        ["check_in.satisfaction", "check_in.check_in_time"]
    );
    assert_eq!(a, before);
}

#[test]
fn neighbours_out_of_place_are_an_app_bug() {
    let mut a = opened();
    let first = record(
        &mut a,
        input(6, None),
        None,
        None,
        at(date!(2026 - 02 - 01)),
    )
    .unwrap()
    .check_in;
    let before = a.clone();
    // `first` is before the new one: it cannot be its next.
    let err = record(
        &mut a,
        input(6, None),
        None,
        Some(&first),
        at(date!(2026 - 02 - 02)),
    )
    .unwrap_err();
    assert!(matches!(err, closeloop_kit::Problem::Internal(_)));
    assert_eq!(a, before);
}

#[test]
fn due_check_ins_within_the_horizon_and_every_overdue_one() {
    let policy = Policy::default();
    let a = opened(); // due 2026-01-31
    let d = |today| a.due_check_in(&policy, today, 0, false);
    // 8 days before: outside the default horizon of 7.
    assert_eq!(d(date!(2026 - 01 - 23)), None);
    let due = d(date!(2026 - 01 - 24)).unwrap();
    assert_eq!(
        (
            due.due_date,
            due.overdue,
            due.days_overdue,
            due.cadence_days
        ),
        (date!(2026 - 01 - 31), false, 0, 30)
    );
    assert_eq!(due.account_manager, "alice");
    assert_eq!(due.last_check_in, None);
    // A wider horizon given by the request.
    assert!(
        a.due_check_in(&policy, date!(2026 - 01 - 01), 30, false)
            .is_some()
    );
    // Due today is not overdue yet.
    assert!(!d(date!(2026 - 01 - 31)).unwrap().overdue);
    let late = d(date!(2026 - 02 - 05)).unwrap();
    assert_eq!((late.overdue, late.days_overdue), (true, 5));
    // Overdue only.
    assert_eq!(
        a.due_check_in(&policy, date!(2026 - 01 - 30), 0, true),
        None
    );
    assert!(
        a.due_check_in(&policy, date!(2026 - 02 - 01), 0, true)
            .is_some()
    );
    // CHURNED accounts have none.
    let churned = in_status(AccountStatus::Churned);
    assert_eq!(
        churned.due_check_in(&policy, date!(2026 - 06 - 01), 0, false),
        None
    );
    // AT_RISK ones do.
    let at_risk = in_status(AccountStatus::AtRisk);
    assert_eq!(
        at_risk
            .due_check_in(&policy, date!(2026 - 06 - 01), 0, false)
            .unwrap()
            .account_status,
        AccountStatus::AtRisk
    );
}

#[test]
fn the_accounts_own_cadence_sets_the_due_date() {
    let policy = Policy::default();
    let mut a = opened();
    a.check_in_cadence_days = Some(7);
    a.last_check_in = Some(LastCheckIn {
        // 23:59 on 2026-02-01 is still 2026-02-01 (UTC).
        time: at(date!(2026 - 02 - 01)) + MICROS_PER_DAY / 2 - 1,
        satisfaction: 7,
    });
    let due = a
        .due_check_in(&policy, date!(2026 - 02 - 08), 0, false)
        .unwrap();
    assert_eq!((due.due_date, due.cadence_days), (date!(2026 - 02 - 08), 7));
}

#[test]
fn most_overdue_first_then_by_account() {
    let policy = Policy::default();
    let today = date!(2026 - 03 - 01);
    let mut accounts: Vec<_> = (0..3).map(|_| opened()).collect();
    accounts[1].start_date = date!(2025 - 12 - 01);
    let mut due: Vec<_> = accounts
        .iter()
        .filter_map(|a| a.due_check_in(&policy, today, 0, false))
        .collect();
    due.sort_by(due_order);
    assert_eq!(due[0].account, accounts[1].id);
    assert!(due[1].account < due[2].account);
    assert_eq!(due[0].days_overdue, 60);
}
