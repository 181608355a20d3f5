//! The figures derived from an account: annual values, what is in force, contract value,
//! overdue obligations, the etag, the account's size bounds.

use closeloop_kit::Violations;
use time::macros::date;

use super::*;
use crate::domain::account::{ContractInput, ContractReference};
use crate::domain::limits::MAX_ACCOUNT_BYTES;

fn resolved(input: ContractInput) -> ContractReference {
    let mut v = Violations::new();
    input.resolve(&mut v, "c", eur(), "", false).unwrap()
}

#[test]
fn annual_value_is_value_times_twelve_over_the_term_rounded() {
    let three = resolved(ContractInput {
        end_date: Some(date!(2026 - 03 - 31)),
        term_months: 3,
        value: euros(100_001),
        ..contract("c")
    });
    // 100,001 x 12 / 3
    assert_eq!(three.annual_value(), euros(400_004));
    let seven = resolved(ContractInput {
        end_date: Some(date!(2026 - 07 - 31)),
        term_months: 7,
        value: euros(100),
        ..contract("c")
    });
    // 1200 / 7 = 171.43
    assert_eq!(seven.annual_value(), euros(171));
    let half = resolved(ContractInput {
        end_date: Some(date!(2026 - 08 - 31)),
        term_months: 8,
        value: euros(1),
        ..contract("c")
    });
    // 12 / 8 = 1.5: half up.
    assert_eq!(half.annual_value(), euros(2));
}

#[test]
fn terms_are_derived_from_the_dates_when_not_given() {
    let derived = resolved(ContractInput {
        end_date: Some(date!(2026 - 04 - 14)),
        start_date: date!(2026 - 01 - 15),
        term_months: 0,
        ..contract("c")
    });
    assert_eq!(derived.term_months, 3);
    // Shorter than a month: at least 1.
    let short = resolved(ContractInput {
        end_date: Some(date!(2026 - 01 - 10)),
        term_months: 0,
        ..contract("c")
    });
    assert_eq!(short.term_months, 1);
    let mut v = Violations::new();
    let long = ContractInput {
        end_date: Some(date!(2046 - 12 - 31)),
        term_months: 0,
        ..contract("c")
    };
    assert!(long.resolve(&mut v, "c", eur(), "", false).is_none());
    assert_eq!(fields_of(&v.into_result().unwrap_err()), ["c.end_date"]);
}

#[test]
fn a_contract_is_in_force_within_its_term_after_it_when_renewing_and_never_once_churned() {
    let mut a = opened();
    let c = a.contracts[0].clone();
    assert!(!c.covers(date!(2025 - 12 - 31)));
    assert!(c.covers(date!(2026 - 01 - 01)) && c.covers(date!(2026 - 12 - 31)));
    assert!(!c.covers(date!(2027 - 01 - 01)));
    let renewing = ContractReference {
        auto_renew: true,
        ..c.clone()
    };
    assert!(renewing.covers(date!(2030 - 01 - 01)));
    let open_ended = ContractReference {
        end_date: None,
        ..c.clone()
    };
    assert!(open_ended.covers(date!(2040 - 01 - 01)));
    // A stored term below a month never stalls the renewal date.
    let broken = ContractReference {
        term_months: 0,
        auto_renew: true,
        ..c.clone()
    };
    assert_eq!(
        broken.renewal_date(date!(2027 - 02 - 15)),
        Some(date!(2027 - 02 - 28))
    );
    assert_eq!(open_ended.renewal_date(date!(2026 - 06 - 01)), None);

    assert_eq!(a.contract_value(date!(2026 - 06 - 01)), euros(1_200_000));
    assert_eq!(
        a.annual_contract_value(date!(2026 - 06 - 01)),
        euros(1_200_000)
    );
    assert_eq!(a.contract_value(date!(2027 - 06 - 01)), euros(0));
    assert!(a.in_force(&c, date!(2026 - 06 - 01)));
    a.status = AccountStatus::Churned;
    assert!(!a.in_force(&c, date!(2026 - 06 - 01)));
    assert_eq!(a.contract_value(date!(2026 - 06 - 01)), euros(0));
}

#[test]
fn only_open_obligations_past_their_due_date_are_overdue() {
    let mut a = opened();
    let today = date!(2026 - 02 - 02);
    // obligation-2: the deliverable due 2026-02-01; obligation-4: the payment due 2026-01-15;
    // obligation-3 has no due date.
    let overdue: Vec<_> = a
        .obligations
        .iter()
        .filter(|o| o.overdue(today))
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(overdue, ["obligation-2", "obligation-4"]);
    assert!(!a.obligations[0].overdue(date!(2026 - 02 - 01)));
    for (status, late) in [
        (ObligationStatus::InProgress, true),
        (ObligationStatus::AtRisk, true),
        (ObligationStatus::Delivered, false),
        (ObligationStatus::Fulfilled, false),
        (ObligationStatus::Missed, false),
        (ObligationStatus::Waived, false),
        (ObligationStatus::Cancelled, false),
    ] {
        a.obligations[0].status = status;
        assert_eq!(a.obligations[0].overdue(today), late, "{status:?}");
    }
}

#[test]
fn the_etag_is_the_version_and_the_status() {
    let mut a = opened();
    a.check_etag("").unwrap();
    a.check_etag("\"1-ACTIVE\"").unwrap();
    a.version = 7;
    assert_eq!(a.etag(), "\"7-ACTIVE\"");
    let err = a.check_etag("\"1-ACTIVE\"").unwrap_err();
    assert!(matches!(err, closeloop_kit::Problem::Aborted(_)));
}

#[test]
fn an_account_is_bounded_in_size_too() {
    let mut a = opened();
    a.check_growth(None).unwrap();
    assert!(a.approximate_bytes() < 10_000);
    let mut b = a.clone();
    b.notes = "x".repeat(MAX_ACCOUNT_BYTES);
    assert_eq!(
        gates(&b.check_growth(Some(&a)).unwrap_err()),
        [("account_limit".to_owned(), "account".to_owned())]
    );
    // Adding to a full account is refused and changes nothing.
    a.needs = vec!["n".repeat(4000); 399];
    a.outcomes[0].success_criteria = vec!["c".repeat(1000); 20];
    let big = "d".repeat(1000);
    let template = a.obligations[0].clone();
    a.obligations = (0..1990)
        .map(|i| crate::domain::account::Obligation {
            id: format!("o{i}"),
            description: big.clone(),
            ..template.clone()
        })
        .collect();
    assert!(a.approximate_bytes() > MAX_ACCOUNT_BYTES);
    let before = a.clone();
    let err = a
        .add_outcome(outcome("one more"), opened_at() + 1)
        .unwrap_err();
    assert_eq!(gates(&err)[0].1, "account");
    assert_eq!(a, before);
    // An edit that does not grow it (here: shrinks it, though not below the bound) passes.
    a.update(
        &alice(),
        crate::domain::edit::AccountPatch {
            needs: Some(vec!["n".repeat(4000); 300]),
            ..Default::default()
        },
        opened_at() + 2,
    )
    .unwrap();
    assert!(a.approximate_bytes() > MAX_ACCOUNT_BYTES);
    // A list already past its bound does not block an edit that leaves it as it is.
    let mut full = opened();
    full.needs = vec!["n".into(); crate::domain::limits::MAX_NEEDS + 5];
    full.update(
        &alice(),
        crate::domain::edit::AccountPatch {
            notes: Some("still fine".into()),
            ..Default::default()
        },
        opened_at() + 3,
    )
    .unwrap();
    full.add_outcome(outcome("and this"), opened_at() + 4)
        .unwrap();
}
