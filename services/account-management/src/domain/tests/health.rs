//! Health across its inputs: each factor, the weights with and without payment data, the band.

use closeloop_kit::types::CurrencyCode;
use time::macros::date;

use super::*;
use crate::domain::account::LastCheckIn;
use crate::domain::check_ins::CheckIn;
use crate::domain::health::{
    HealthInputs, PaymentData, PaymentStanding, applied_weights, band, compute_health,
    issues_factor, outcome_factor, payment_factor, recency_factor, satisfaction_factor,
};
use crate::domain::policy::Policy;
use crate::domain::vocabulary::{Actor, CheckInId, HealthBand, HealthFactorKind as F, Severity};

fn check_in(account: &Account, day: u8, satisfaction: i32) -> CheckIn {
    let time = at(time::Date::from_calendar_date(2026, time::Month::February, day).unwrap());
    CheckIn {
        id: CheckInId::new(),
        account: account.id.clone(),
        check_in_time: time,
        satisfaction,
        outcome_progress: Vec::new(),
        notes: String::new(),
        channel: None,
        attendees: Vec::new(),
        recorded_by: Actor {
            subject: "alice".into(),
            role: "account_manager".into(),
        },
        create_time: time,
        satisfaction_change: 0,
    }
}

fn standing(outstanding: i64, overdue: i64, days: i64) -> PaymentStanding {
    PaymentStanding {
        currency: eur(),
        paid_to_date: 600_000,
        outstanding,
        overdue,
        next_due_date: Some(date!(2026 - 03 - 15)),
        next_due_amount: outstanding,
        max_days_past_due: days,
        read_time: 0,
    }
}

#[test]
fn satisfaction_reads_level_and_direction_over_the_window() {
    let p = Policy::default();
    let a = opened();
    assert_eq!(satisfaction_factor(&[], &p).0, 50);
    // Steady at 10: level 100. Steady at 1: level 0.
    let tens: Vec<_> = (1..=3).map(|d| check_in(&a, d, 10)).collect();
    assert_eq!(satisfaction_factor(&tens, &p).0, 100);
    let ones: Vec<_> = (1..=3).map(|d| check_in(&a, d, 1)).collect();
    assert_eq!(satisfaction_factor(&ones, &p).0, 0);
    // 8 -> 6 -> 5 (given in any order): mean 6.33, level round(59.3) = 59; falling by 3: -15.
    let falling = vec![check_in(&a, 3, 5), check_in(&a, 1, 8), check_in(&a, 2, 6)];
    let (score, explanation) = satisfaction_factor(&falling, &p);
    assert_eq!(score, 44);
    assert!(
        explanation.starts_with("satisfaction 8 -> 6 -> 5 over the last 3 check-ins (falling)"),
        "{explanation}"
    );
    // Rising 5 -> 6 -> 8: the same level, +15.
    let rising = vec![check_in(&a, 1, 5), check_in(&a, 2, 6), check_in(&a, 3, 8)];
    assert_eq!(satisfaction_factor(&rising, &p).0, 74);
    // Only the last three count: an old 1 is forgotten.
    let mut four = rising.clone();
    four.push(check_in(&a, 4, 8));
    four.push(check_in(&a, 5, 8));
    assert_eq!(
        satisfaction_factor(&four[1..], &p).0,
        satisfaction_factor(&four, &p).0
    );
    let window: Vec<_> = vec![
        check_in(&a, 1, 1),
        check_in(&a, 2, 7),
        check_in(&a, 3, 7),
        check_in(&a, 4, 7),
    ];
    assert_eq!(satisfaction_factor(&window, &p).0, 67);
}

#[test]
fn recency_drops_once_the_check_in_is_overdue() {
    let p = Policy::default();
    let mut a = opened();
    a.last_check_in = Some(LastCheckIn {
        time: at(date!(2026 - 02 - 01)),
        satisfaction: 8,
    });
    // Due 2026-03-03 (30 days).
    assert_eq!(recency_factor(&a, &p, date!(2026 - 03 - 03)).0, 100);
    assert_eq!(recency_factor(&a, &p, date!(2026 - 03 - 18)).0, 50);
    let (score, explanation) = recency_factor(&a, &p, date!(2026 - 04 - 02));
    assert_eq!(score, 0);
    assert!(explanation.contains("overdue by 30 days"), "{explanation}");
    assert_eq!(recency_factor(&a, &p, date!(2026 - 09 - 01)).0, 0);
    // No check-in yet: measured from the start date.
    a.last_check_in = None;
    assert_eq!(recency_factor(&a, &p, date!(2026 - 01 - 31)).0, 100);
    assert_eq!(recency_factor(&a, &p, date!(2026 - 02 - 03)).0, 90);
}

#[test]
fn outcomes_count_their_progress_achieved_fully_and_not_achieved_as_zero() {
    let mut a = opened();
    assert_eq!(outcome_factor(&a).0, 0);
    a.outcomes[0].progress_percent = 40;
    for (goal, status, progress) in [
        ("b", OutcomeStatus::Achieved, 10),
        ("c", OutcomeStatus::NotAchieved, 90),
        ("d", OutcomeStatus::OffTrack, 25),
    ] {
        a.add_outcome(outcome(goal), 0).unwrap();
        let o = a.outcomes.last_mut().unwrap();
        o.status = status;
        o.progress_percent = progress;
    }
    // (40 + 100 + 0 + 25) / 4 = 41.25
    let (score, explanation) = outcome_factor(&a);
    assert_eq!(score, 41);
    assert!(explanation.starts_with("4 outcomes: 1 achieved, 1 not achieved, 2 in progress"));
    a.outcomes.clear();
    assert_eq!(outcome_factor(&a).0, 50);
}

#[test]
fn open_issues_cost_their_severitys_points() {
    let p = Policy::default();
    assert_eq!(issues_factor(&[], &p).0, 100);
    let (score, explanation) = issues_factor(&[Severity::Low, Severity::High], &p);
    assert_eq!(score, 65);
    assert_eq!(explanation, "2 open issues (1 HIGH, 1 LOW): -35");
    assert_eq!(issues_factor(&[Severity::Critical; 2], &p).0, 0);
}

#[test]
fn payment_standing_weighs_the_overdue_share_and_age() {
    let p = Policy::default();
    let pay = |s| PaymentData::Available(s);
    assert_eq!(
        payment_factor(&pay(standing(500_000, 0, 0)), eur(), &p)
            .unwrap()
            .0,
        100
    );
    // Half overdue (-25), 45 of 90 days (-25).
    let (score, explanation) =
        payment_factor(&pay(standing(1_000_000, 500_000, 45)), eur(), &p).unwrap();
    assert_eq!(score, 50);
    assert!(explanation.starts_with("EUR 5000.00 of EUR 10000.00 outstanding is overdue"));
    // All overdue, long past due: nothing left.
    assert_eq!(
        payment_factor(&pay(standing(100, 100, 400)), eur(), &p)
            .unwrap()
            .0,
        0
    );
    // Unusable data: why.
    let why = payment_factor(
        &PaymentData::Unavailable("contracts-and-payments did not answer".into()),
        eur(),
        &p,
    )
    .unwrap_err();
    assert_eq!(why, "contracts-and-payments did not answer");
    let usd = PaymentStanding {
        currency: CurrencyCode::parse("USD").unwrap(),
        ..standing(1, 0, 0)
    };
    assert!(payment_factor(&pay(usd), eur(), &p).is_err());
}

#[test]
fn applied_weights_always_sum_to_ten_thousand() {
    assert_eq!(
        applied_weights(&[Some(30), Some(15), Some(20), Some(15), Some(20)]),
        [3000, 1500, 2000, 1500, 2000]
    );
    assert_eq!(
        applied_weights(&[Some(30), Some(15), Some(20), Some(15), None]),
        [3750, 1875, 2500, 1875, 0]
    );
    // 10000 / 3 each: the remainder goes to the earlier factors.
    assert_eq!(
        applied_weights(&[Some(33), Some(33), Some(33)]),
        [3334, 3333, 3333]
    );
    // The remainder goes to the largest fraction: 6666.67 before 3333.33.
    assert_eq!(applied_weights(&[Some(1), Some(2)]), [3333, 6667]);
    let odd = applied_weights(&[Some(7), Some(11), Some(13), Some(29), None]);
    assert_eq!(odd.iter().sum::<i32>(), 10_000);
    assert_eq!(applied_weights(&[None, Some(0)]), [0, 0]);
}

#[test]
fn a_healthy_account_is_green_with_every_factor_in_order() {
    let p = Policy::default();
    let mut a = opened();
    a.outcomes[0].status = OutcomeStatus::Achieved;
    let now = at(date!(2026 - 02 - 10));
    a.last_check_in = Some(LastCheckIn {
        time: at(date!(2026 - 02 - 03)),
        satisfaction: 10,
    });
    let check_ins: Vec<_> = (1..=3).map(|d| check_in(&a, d, 10)).collect();
    let payment = PaymentData::Available(standing(600_000, 0, 0));
    let h = compute_health(
        &a,
        HealthInputs {
            recent_check_ins: &check_ins,
            open_issues: &[],
            payment: &payment,
        },
        &p,
        now,
    );
    assert_eq!((h.score, h.band), (100, HealthBand::Green));
    let kinds: Vec<_> = h.factors.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, F::ALL);
    assert!(h.factors.iter().all(|f| f.available && f.score == 100));
    assert_eq!(
        h.factors.iter().map(|f| f.applied_weight_bps).sum::<i32>(),
        10_000
    );
    assert_eq!(h.factors[0].contribution, 30.0);
    assert!(!h.payment_data_unavailable);
    assert_eq!(h.payment_standing, Some(standing(600_000, 0, 0)));
    assert_eq!(
        (h.account_status, h.compute_time),
        (AccountStatus::Active, now)
    );
}

#[test]
fn without_payment_data_the_score_rests_on_the_other_factors() {
    let p = Policy::default();
    let a = opened();
    let now = at(date!(2026 - 02 - 03));
    let check_ins = vec![check_in(&a, 1, 7)];
    let payment = PaymentData::Unavailable("contracts-and-payments did not answer".into());
    let h = compute_health(
        &a,
        HealthInputs {
            recent_check_ins: &check_ins,
            open_issues: &[Severity::High],
            payment: &payment,
        },
        &p,
        now,
    );
    let by_kind = |k: F| h.factors.iter().find(|f| f.kind == k).unwrap();
    let pay = by_kind(F::PaymentStanding);
    assert!(!pay.available);
    assert_eq!(
        (pay.score, pay.applied_weight_bps, pay.weight_percent),
        (0, 0, 20)
    );
    assert_eq!(
        pay.explanation,
        "payment data unavailable: contracts-and-payments did not answer"
    );
    assert!(h.payment_data_unavailable);
    assert_eq!(h.payment_standing, None);
    // satisfaction 7 alone: level 67; recency 3 days late of 30: 90; outcomes 0; issues 70.
    let scores: Vec<_> = h.factors.iter().map(|f| f.score).collect();
    assert_eq!(scores, [67, 90, 0, 70, 0]);
    // (67 x 3750 + 90 x 1875 + 0 x 2500 + 70 x 1875) / 10000 = 55.125
    assert_eq!((h.score, h.band), (55, HealthBand::Yellow));
    assert_eq!(by_kind(F::SatisfactionTrend).contribution, 25.125);
}

#[test]
fn bands_follow_the_thresholds() {
    let p = Policy::default();
    assert_eq!(band(100, &p), HealthBand::Green);
    assert_eq!(band(70, &p), HealthBand::Green);
    assert_eq!(band(69, &p), HealthBand::Yellow);
    assert_eq!(band(40, &p), HealthBand::Yellow);
    assert_eq!(band(39, &p), HealthBand::Red);
    assert_eq!(band(0, &p), HealthBand::Red);
    let strict = Policy {
        health_green_threshold: 90,
        health_yellow_threshold: 60,
        ..Policy::default()
    };
    assert_eq!(band(70, &strict), HealthBand::Yellow);
    assert_eq!(band(59, &strict), HealthBand::Red);
}

#[test]
fn a_sick_account_is_red_and_health_never_moves_the_status() {
    let p = Policy::default();
    let a = opened();
    let check_ins = vec![check_in(&a, 1, 3), check_in(&a, 2, 2), check_in(&a, 3, 1)];
    let payment = PaymentData::Available(standing(600_000, 600_000, 120));
    let h = compute_health(
        &a,
        HealthInputs {
            recent_check_ins: &check_ins,
            open_issues: &[Severity::Critical, Severity::Critical],
            payment: &payment,
        },
        &p,
        at(date!(2026 - 06 - 01)),
    );
    assert_eq!((h.score, h.band), (0, HealthBand::Red));
    assert_eq!(h.account_status, AccountStatus::Active);
    assert_eq!(a.status, AccountStatus::Active);
}
