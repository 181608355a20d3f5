//! Lifetime value: its formula with paid and estimated revenue, margins, churn rates and the cap.

use time::Date;
use time::macros::date;

use super::*;
use crate::domain::account::{ContractInput, StatusChange};
use crate::domain::health::{PaymentData, PaymentStanding};
use crate::domain::lifetime_value::{
    ChurnCounts, ChurnRate, FORMULA, annual_churn_rate, churn_counts, churn_window_start,
    earned_through, lifetime_value,
};
use crate::domain::policy::Policy;
use crate::domain::vocabulary::{AccountStatus as S, Actor};

fn paid(minor: i64) -> PaymentData {
    PaymentData::Available(PaymentStanding {
        currency: eur(),
        paid_to_date: minor,
        outstanding: 0,
        overdue: 0,
        next_due_date: None,
        next_due_amount: 0,
        max_days_past_due: 0,
        read_time: 0,
    })
}

fn unavailable() -> PaymentData {
    PaymentData::Unavailable("contracts-and-payments did not answer".into())
}

const MEASURED: ChurnRate = ChurnRate {
    bps: 2000,
    default_used: false,
};

#[test]
fn the_formula_with_payment_data() {
    let a = opened();
    let now = at(date!(2026 - 07 - 01));
    let v = lifetime_value(&a, &paid(600_000), MEASURED, &Policy::default(), now);
    assert_eq!(v.currency, eur());
    assert_eq!(v.realised_revenue, euros(600_000));
    assert!(!v.realised_revenue_estimated);
    assert_eq!(v.expected_annual_revenue, euros(1_200_000));
    assert_eq!(
        (v.gross_margin_bps, v.gross_margin_default_used),
        (6000, false)
    );
    assert_eq!(
        (v.annual_churn_rate_bps, v.churn_rate_default_used),
        (2000, false)
    );
    assert_eq!(v.expected_lifetime_years, 5.0);
    // 600,000 x 60 %; 1,200,000 x 60 % x 5 years.
    assert_eq!(v.realised_gross_profit, euros(360_000));
    assert_eq!(v.expected_future_gross_profit, euros(3_600_000));
    assert_eq!(v.lifetime_value, euros(3_960_000));
    assert_eq!(v.formula, FORMULA);
    assert!(!v.payment_data_unavailable);
    assert!(v.payment_standing.is_some());
    assert!(v.notes.is_empty(), "{:?}", v.notes);
    assert!((v.tenure_years - 181.0 / 365.25).abs() < 1e-9);
    assert_eq!(v.compute_time, now);
}

#[test]
fn without_payment_data_realised_revenue_is_estimated_from_the_terms() {
    let a = opened();
    let v = lifetime_value(
        &a,
        &unavailable(),
        MEASURED,
        &Policy::default(),
        at(date!(2026 - 07 - 01)),
    );
    // 182 of 365 days of EUR 12,000.00, rounded down.
    assert_eq!(v.realised_revenue, euros(598_356));
    assert!(v.realised_revenue_estimated && v.payment_data_unavailable);
    assert_eq!(v.payment_standing, None);
    assert!(
        v.notes[0].starts_with("payment data unavailable (contracts-and-payments did not answer)")
    );
    assert_eq!(v.realised_gross_profit, euros(359_014));
}

#[test]
fn the_default_margin_and_churn_rate_are_said_so() {
    let mut a = opened();
    a.contracts[0].gross_margin_bps = 0;
    let p = Policy::default();
    let churn = annual_churn_rate(ChurnCounts::default(), &p);
    assert_eq!(
        churn,
        ChurnRate {
            bps: 1000,
            default_used: true
        }
    );
    let v = lifetime_value(&a, &paid(0), churn, &p, at(date!(2026 - 07 - 01)));
    assert_eq!(
        (v.gross_margin_bps, v.gross_margin_default_used),
        (5000, true)
    );
    assert!(v.churn_rate_default_used);
    // 10 % a year: 10 years, exactly the cap.
    assert_eq!(v.expected_lifetime_years, 10.0);
    assert_eq!(v.expected_future_gross_profit, euros(6_000_000));
    assert_eq!(v.notes.len(), 2, "{:?}", v.notes);
}

#[test]
fn the_expected_lifetime_is_capped() {
    let a = opened();
    let p = Policy::default();
    for bps in [0, 1, 500, 999] {
        let v = lifetime_value(
            &a,
            &paid(0),
            ChurnRate {
                bps,
                default_used: false,
            },
            &p,
            at(date!(2026 - 07 - 01)),
        );
        assert_eq!(v.expected_lifetime_years, 10.0, "{bps}");
        assert_eq!(v.expected_future_gross_profit, euros(7_200_000));
        assert!(v.notes.iter().any(|n| n.contains("capped at 10 years")));
    }
    let v = lifetime_value(
        &a,
        &paid(0),
        ChurnRate {
            bps: 3000,
            default_used: false,
        },
        &p,
        at(date!(2026 - 07 - 01)),
    );
    // 1,200,000 x 0.6 x 3.333… years = 2,400,000.
    assert_eq!(v.expected_future_gross_profit, euros(2_400_000));
    assert!((v.expected_lifetime_years - 10.0 / 3.0).abs() < 1e-12);
}

#[test]
fn margins_are_weighted_by_value_over_the_contracts_that_state_one() {
    let mut a = opened();
    let extra = ContractInput {
        contract: "contracts/c2".into(),
        value: euros(600_000),
        gross_margin_bps: 3000,
        ..contract("contracts/c2")
    };
    let unknown = ContractInput {
        contract: "contracts/c3".into(),
        gross_margin_bps: 0,
        ..contract("contracts/c3")
    };
    for input in [extra, unknown] {
        let mut v = closeloop_kit::Violations::new();
        let r = input.resolve(&mut v, "c", eur(), "", false).unwrap();
        a.contracts.push(r);
    }
    let v = lifetime_value(
        &a,
        &paid(0),
        MEASURED,
        &Policy::default(),
        at(date!(2026 - 07 - 01)),
    );
    // (1.2M x 6000 + 0.6M x 3000) / 1.8M
    assert_eq!(v.gross_margin_bps, 5000);
}

#[test]
fn a_churned_customer_has_no_future_and_earned_until_it_left() {
    let mut a = opened();
    a.mark_churned(
        &alice(),
        crate::domain::lifecycle::Churn {
            reason: crate::domain::vocabulary::ChurnReason::Price,
            notes: String::new(),
            churn_date: Some(date!(2026 - 04 - 01)),
        },
        at(date!(2026 - 04 - 10)),
    )
    .unwrap();
    let v = lifetime_value(
        &a,
        &unavailable(),
        MEASURED,
        &Policy::default(),
        at(date!(2026 - 07 - 01)),
    );
    assert_eq!(v.expected_annual_revenue, euros(0));
    assert_eq!(v.expected_future_gross_profit, euros(0));
    // Through 2026-03-31: 90 of 365 days.
    assert_eq!(v.realised_revenue, euros(295_890));
    assert!(v.notes.iter().any(|n| n.contains("CHURNED")));
}

#[test]
fn earned_revenue_follows_the_term() {
    let mut v = closeloop_kit::Violations::new();
    let mut resolve = |input: ContractInput| input.resolve(&mut v, "c", eur(), "", false).unwrap();
    let fixed = resolve(contract("contracts/c1"));
    assert_eq!(earned_through(&fixed, date!(2025 - 12 - 31)), 0);
    assert_eq!(earned_through(&fixed, date!(2026 - 01 - 01)), 3287);
    assert_eq!(earned_through(&fixed, date!(2026 - 12 - 31)), 1_200_000);
    assert_eq!(earned_through(&fixed, date!(2027 - 06 - 30)), 1_200_000);
    let renewing = resolve(ContractInput {
        auto_renew: true,
        ..contract("contracts/c2")
    });
    // The term, plus 365 days of the annual value.
    assert_eq!(earned_through(&renewing, date!(2027 - 12 - 31)), 2_400_000);
    let open_ended = resolve(ContractInput {
        end_date: None,
        term_months: 0,
        ..contract("contracts/c3")
    });
    assert_eq!(
        earned_through(&open_ended, date!(2026 - 12 - 31)),
        1_200_000
    );
    // Two-year contract: the annual value is half the value.
    let two_years = resolve(ContractInput {
        end_date: Some(date!(2027 - 12 - 31)),
        term_months: 24,
        ..contract("contracts/c4")
    });
    assert_eq!(two_years.annual_value(), euros(600_000));
    assert_eq!(earned_through(&two_years, date!(2026 - 12 - 31)), 600_000);
}

/// An account started on `start` whose history is `changes` (effective date, status entered),
/// after an opening entry effective on the start date.
fn with_history(start: Date, changes: &[(Date, S)]) -> Account {
    let mut a = opened();
    a.start_date = start;
    let actor = Actor {
        subject: "alice".into(),
        role: "account_manager".into(),
    };
    let mut history = vec![StatusChange {
        from: None,
        to: S::Active,
        reason: "opened".into(),
        churn_reason: None,
        effective_date: start,
        actor: actor.clone(),
        time: 0,
    }];
    let mut status = S::Active;
    for (day, to) in changes {
        history.push(StatusChange {
            from: Some(status),
            to: *to,
            reason: "x".into(),
            churn_reason: None,
            effective_date: *day,
            actor: actor.clone(),
            time: 0,
        });
        status = *to;
    }
    a.status_history = history;
    a.status = status;
    a
}

#[test]
fn the_churn_rate_counts_the_accounts_active_a_year_ago_and_those_of_them_that_left() {
    let today = date!(2026 - 07 - 01);
    assert_eq!(churn_window_start(today), date!(2025 - 07 - 01));
    let accounts = [
        // Active all along.
        with_history(date!(2025 - 01 - 01), &[]),
        // Left within the window.
        with_history(
            date!(2025 - 01 - 01),
            &[(date!(2025 - 10 - 01), S::Churned)],
        ),
        // Started within the window: not in the base.
        with_history(
            date!(2025 - 08 - 01),
            &[(date!(2025 - 09 - 01), S::Churned)],
        ),
        // Had left before the window.
        with_history(
            date!(2024 - 01 - 01),
            &[(date!(2025 - 03 - 01), S::Churned)],
        ),
        // Left twice within the window: counted once.
        with_history(
            date!(2025 - 01 - 01),
            &[
                (date!(2025 - 09 - 01), S::Churned),
                (date!(2025 - 10 - 01), S::Active),
                (date!(2026 - 02 - 01), S::Churned),
            ],
        ),
        // At risk, still a customer.
        with_history(date!(2025 - 06 - 01), &[(date!(2026 - 01 - 01), S::AtRisk)]),
    ];
    let counts = churn_counts(&accounts, today);
    assert_eq!(
        counts,
        ChurnCounts {
            active_at_start: 4,
            churned: 2
        }
    );
    let p = Policy {
        churn_rate_min_accounts: 4,
        ..Policy::default()
    };
    assert_eq!(
        annual_churn_rate(counts, &p),
        ChurnRate {
            bps: 5000,
            default_used: false
        }
    );
    // Too few accounts for the default minimum of 20.
    assert!(annual_churn_rate(counts, &Policy::default()).default_used);
    // One in three: 3333 bps, rounded.
    let third = ChurnCounts {
        active_at_start: 3,
        churned: 1,
    };
    let p = Policy {
        churn_rate_min_accounts: 1,
        ..Policy::default()
    };
    assert_eq!(annual_churn_rate(third, &p).bps, 3333);
    let two_thirds = ChurnCounts {
        active_at_start: 3,
        churned: 2,
    };
    assert_eq!(annual_churn_rate(two_thirds, &p).bps, 6667);
    // Nonsense counts never panic or exceed 100 %.
    let odd = ChurnCounts {
        active_at_start: 2,
        churned: 9,
    };
    assert_eq!(annual_churn_rate(odd, &p).bps, 10_000);
}
