//! Portfolio retention: cohort, new accounts, expansion, contraction, churn, per manager and in
//! total.

use closeloop_kit::Violations;
use closeloop_kit::types::{CurrencyCode, Money};
use time::Date;
use time::macros::date;

use super::*;
use crate::domain::account::{ContractInput, StatusChange};
use crate::domain::portfolio::{PortfolioRow, portfolio_metrics, recurring_revenue};
use crate::domain::vocabulary::{AccountStatus as S, Actor};

fn term(name: &str, value: i64, start: Date, end: Date, months: i32, renew: bool) -> ContractInput {
    ContractInput {
        contract: name.into(),
        value: euros(value),
        start_date: start,
        end_date: Some(end),
        term_months: months,
        auto_renew: renew,
        ..contract(name)
    }
}

fn account(
    manager: &str,
    start: Date,
    contracts: Vec<ContractInput>,
    churned: Option<Date>,
) -> Account {
    let mut a = opened();
    a.account_manager = manager.into();
    a.start_date = start;
    let mut v = Violations::new();
    a.contracts = contracts
        .into_iter()
        .map(|c| c.resolve(&mut v, "c", eur(), "", false).unwrap())
        .collect();
    let actor = Actor {
        subject: "x".into(),
        role: "service".into(),
    };
    a.status_history = vec![StatusChange {
        from: None,
        to: S::Active,
        reason: "opened".into(),
        churn_reason: None,
        effective_date: start,
        actor: actor.clone(),
        time: 0,
    }];
    if let Some(day) = churned {
        a.status_history.push(StatusChange {
            from: Some(S::Active),
            to: S::Churned,
            reason: "gone".into(),
            churn_reason: None,
            effective_date: day,
            actor,
            time: 0,
        });
        a.status = S::Churned;
    }
    a
}

fn book() -> Vec<Account> {
    let mut usd = account(
        "alice",
        date!(2025 - 01 - 01),
        vec![term(
            "u",
            1,
            date!(2025 - 01 - 01),
            date!(2025 - 12 - 31),
            12,
            true,
        )],
        None,
    );
    usd.currency = CurrencyCode::parse("USD").unwrap();
    for c in &mut usd.contracts {
        c.value = Money::new(usd.currency, 999_999);
    }
    vec![
        // Grows from 1.2M to 1.5M a year.
        account(
            "alice",
            date!(2025 - 01 - 01),
            vec![
                term(
                    "a1",
                    1_800_000,
                    date!(2025 - 01 - 01),
                    date!(2026 - 06 - 30),
                    18,
                    false,
                ),
                term(
                    "a2",
                    1_500_000,
                    date!(2026 - 07 - 01),
                    date!(2027 - 06 - 30),
                    12,
                    false,
                ),
            ],
            None,
        ),
        // Its contract lapses: retained, but contracted to nothing.
        account(
            "alice",
            date!(2025 - 06 - 01),
            vec![term(
                "b",
                1_000_000,
                date!(2025 - 06 - 01),
                date!(2026 - 05 - 31),
                12,
                false,
            )],
            None,
        ),
        // Auto-renewing, then churned in September.
        account(
            "amy",
            date!(2025 - 03 - 01),
            vec![term(
                "c",
                1_200_000,
                date!(2025 - 03 - 01),
                date!(2026 - 02 - 28),
                12,
                true,
            )],
            Some(date!(2026 - 09 - 01)),
        ),
        // New in the period.
        account(
            "amy",
            date!(2026 - 04 - 01),
            vec![term(
                "d",
                600_000,
                date!(2026 - 04 - 01),
                date!(2027 - 03 - 31),
                12,
                false,
            )],
            None,
        ),
        // Gone before the period: in no row.
        account(
            "carl",
            date!(2024 - 01 - 01),
            vec![term(
                "e",
                1_000_000,
                date!(2024 - 01 - 01),
                date!(2024 - 12 - 31),
                12,
                true,
            )],
            Some(date!(2025 - 06 - 01)),
        ),
        // Another currency: not counted.
        usd,
    ]
}

#[test]
fn recurring_revenue_is_the_annual_value_in_force_and_nothing_once_churned() {
    let b = book();
    assert_eq!(recurring_revenue(&b[0], date!(2026 - 01 - 01)), 1_200_000);
    assert_eq!(recurring_revenue(&b[0], date!(2026 - 12 - 31)), 1_500_000);
    assert_eq!(recurring_revenue(&b[2], date!(2026 - 08 - 31)), 1_200_000);
    assert_eq!(recurring_revenue(&b[2], date!(2026 - 09 - 01)), 0);
}

#[test]
fn retention_per_manager_and_in_total() {
    let m = portfolio_metrics(
        &book(),
        &[],
        date!(2026 - 01 - 01),
        date!(2026 - 12 - 31),
        eur(),
    )
    .unwrap();
    let alice = PortfolioRow {
        account_manager: "alice".into(),
        starting_account_count: 2,
        retained_account_count: 2,
        churned_account_count: 0,
        new_account_count: 0,
        starting_recurring_revenue: 2_200_000,
        ending_recurring_revenue: 1_500_000,
        expansion_revenue: 300_000,
        contraction_revenue: 1_000_000,
        churned_revenue: 0,
        new_recurring_revenue: 0,
        // 1.5 / 2.2 and 1.2 / 2.2
        net_revenue_retention_bps: 6818,
        gross_revenue_retention_bps: 5455,
        logo_retention_bps: 10_000,
    };
    let amy = PortfolioRow {
        account_manager: "amy".into(),
        starting_account_count: 1,
        retained_account_count: 0,
        churned_account_count: 1,
        new_account_count: 1,
        starting_recurring_revenue: 1_200_000,
        ending_recurring_revenue: 0,
        expansion_revenue: 0,
        contraction_revenue: 0,
        churned_revenue: 1_200_000,
        new_recurring_revenue: 600_000,
        net_revenue_retention_bps: 0,
        gross_revenue_retention_bps: 0,
        logo_retention_bps: 0,
    };
    assert_eq!(m.rows, [alice, amy]);
    assert_eq!(
        m.total,
        PortfolioRow {
            account_manager: String::new(),
            starting_account_count: 3,
            retained_account_count: 2,
            churned_account_count: 1,
            new_account_count: 1,
            starting_recurring_revenue: 3_400_000,
            ending_recurring_revenue: 1_500_000,
            expansion_revenue: 300_000,
            contraction_revenue: 1_000_000,
            churned_revenue: 1_200_000,
            new_recurring_revenue: 600_000,
            // 1.5 / 3.4, 1.2 / 3.4, 2 / 3
            net_revenue_retention_bps: 4412,
            gross_revenue_retention_bps: 3529,
            logo_retention_bps: 6667,
        }
    );
    assert_eq!(
        (m.currency, m.first_day, m.last_day),
        (eur(), date!(2026 - 01 - 01), date!(2026 - 12 - 31))
    );
}

#[test]
fn only_the_managers_asked_for_and_a_valid_period() {
    let m = portfolio_metrics(
        &book(),
        &["amy".to_owned()],
        date!(2026 - 01 - 01),
        date!(2026 - 12 - 31),
        eur(),
    )
    .unwrap();
    assert_eq!(m.account_managers, ["amy"]);
    assert_eq!(m.rows.len(), 1);
    assert_eq!(m.total.starting_account_count, 1);
    let err = portfolio_metrics(
        &book(),
        &[],
        date!(2026 - 12 - 31),
        date!(2026 - 01 - 01),
        eur(),
    )
    .unwrap_err();
    assert_eq!(fields_of(&err), ["period.end_date"]);
    // An empty book: zeros, no division by zero.
    let empty = portfolio_metrics(
        &[],
        &[],
        date!(2026 - 01 - 01),
        date!(2026 - 01 - 01),
        eur(),
    )
    .unwrap();
    assert!(empty.rows.is_empty());
    assert_eq!(empty.total, PortfolioRow::default());
}

#[test]
fn a_gross_retention_never_exceeds_one_hundred_percent() {
    let growing = account(
        "alice",
        date!(2025 - 01 - 01),
        vec![
            term(
                "a",
                1_200_000,
                date!(2025 - 01 - 01),
                date!(2025 - 12 - 31),
                12,
                true,
            ),
            term(
                "b",
                1_200_000,
                date!(2026 - 06 - 01),
                date!(2027 - 05 - 31),
                12,
                false,
            ),
        ],
        None,
    );
    let m = portfolio_metrics(
        &[growing],
        &[],
        date!(2026 - 01 - 01),
        date!(2026 - 12 - 31),
        eur(),
    )
    .unwrap();
    assert_eq!(m.total.net_revenue_retention_bps, 20_000);
    assert_eq!(m.total.gross_revenue_retention_bps, 10_000);
}
