//! OpenAccount: opened once per customer, extended by later handoffs, recognised when repeated.

use closeloop_kit::Problem;
use closeloop_kit::types::{CurrencyCode, Money};
use time::macros::date;

use super::*;
use crate::domain::account::{ContractInput, StatusChange};
use crate::domain::lifecycle::{OPENED_REASON, REOPENED_REASON};
use crate::domain::limits::{MAX_NOTES, MAX_OBLIGATIONS};
use crate::domain::vocabulary::{Actor, ObligationKind as K, ObligationParty as P};

fn later_request() -> OpenAccount {
    let mut r = request();
    r.handoff = "handoffs/h2".into();
    r.account_manager = "amy".into();
    r.salesperson = "rita".into();
    r.contracts = vec![ContractInput {
        contract: "contracts/c2".into(),
        start_date: date!(2027 - 01 - 01),
        end_date: Some(date!(2027 - 12 - 31)),
        ..contract("contracts/c2")
    }];
    r.outcomes = vec![outcome("Fewer late payments")];
    r.obligations = vec![ObligationInput {
        contract: "contracts/c2".into(),
        ..obligation(P::Company, K::Deliverable, "Second rollout")
    }];
    r.contacts = vec![
        // Carla again (same email, other case): not added twice.
        AccountContact {
            contact: contact("Carla R.", "CARLA@acme.com"),
            role: ContactRole::DecisionMaker,
            primary: false,
        },
        // A new primary: the account has one, so it joins as non-primary.
        AccountContact {
            contact: contact("Eve", "eve@acme.com"),
            role: ContactRole::ExecutiveSponsor,
            primary: true,
        },
    ];
    r.needs = vec![
        "Invoices approved without paper".into(),
        "Mobile approvals".into(),
    ];
    r.customer.display_name = "ACME (renamed in the CRM)".into();
    r.check_in_cadence_days = 14;
    r.notes = "Second deal: the mobile rollout".into();
    r
}

fn open(found: Option<Account>, r: OpenAccount, now: i64) -> Result<Opening, Problem> {
    open_account(found, AccountId::new(), r, &service(), now)
}

#[test]
fn an_accepted_handoff_opens_an_active_account() {
    let a = opened();
    assert_eq!(a.status, AccountStatus::Active);
    assert_eq!(a.currency, eur());
    assert_eq!(a.customer.account_id, "acme");
    assert_eq!(a.handoff, "handoffs/h1");
    assert_eq!(
        (a.account_manager.as_str(), a.salesperson.as_str()),
        ("alice", "sam")
    );
    // Defaults to the earliest contract start date.
    assert_eq!(a.start_date, date!(2026 - 01 - 01));
    assert_eq!(a.contracts.len(), 1);
    assert_eq!(a.contracts[0].handoff, "handoffs/h1");
    assert_eq!(a.contracts[0].term_months, 12);
    let ids: Vec<_> = a
        .outcomes
        .iter()
        .map(|o| o.id.as_str())
        .chain(a.obligations.iter().map(|o| o.id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            "outcome-1",
            "obligation-2",
            "obligation-3",
            "obligation-4",
            "obligation-5"
        ]
    );
    assert_eq!(a.outcomes[0].status, OutcomeStatus::NotStarted);
    assert!(a.obligations.iter().all(|o| o.status_update_time.is_none()));
    assert_eq!(a.obligations[2].amount, Some(euros(600_000)));
    assert_eq!(a.check_in_cadence_days, None);
    assert_eq!(a.last_check_in, None);
    assert_eq!(a.status_reason, OPENED_REASON);
    assert_eq!(
        a.status_history,
        [StatusChange {
            from: None,
            to: AccountStatus::Active,
            reason: OPENED_REASON.into(),
            churn_reason: None,
            effective_date: date!(2026 - 01 - 10),
            actor: Actor {
                subject: "closeloop-handoff".into(),
                role: "service".into()
            },
            time: opened_at(),
        }]
    );
    assert_eq!(
        (a.version, a.create_time, a.update_time),
        (1, opened_at(), opened_at())
    );
    assert_eq!(a.etag(), "\"1-ACTIVE\"");
    assert_eq!(a.name(), format!("accounts/{}", a.id));
}

#[test]
fn a_start_date_given_is_kept() {
    let mut r = request();
    r.start_date = Some(date!(2025 - 11 - 01));
    let Opening::Opened(a) = open(None, r, opened_at()).unwrap() else {
        panic!("not opened")
    };
    assert_eq!(a.start_date, date!(2025 - 11 - 01));
}

#[test]
fn a_repeated_handoff_returns_the_account_unchanged_whatever_it_holds() {
    let a = opened();
    let mut repeat = request();
    repeat.notes = "something else entirely".into();
    repeat.contracts.clear();
    let got = open(Some(a.clone()), repeat, opened_at() + 1).unwrap();
    assert_eq!(got, Opening::Unchanged(a.clone()));
    assert_eq!(got.account(), &a);
    assert_eq!(got.into_account(), a);
}

#[test]
fn a_handoff_recorded_as_a_contracts_or_a_later_one_is_recognised_too() {
    let a = opened();
    let Opening::Extended(b) = open(Some(a), later_request(), opened_at() + 1).unwrap() else {
        panic!("not extended")
    };
    assert!(b.records_handoff("handoffs/h1"));
    assert!(b.records_handoff("handoffs/h2"));
    assert!(!b.records_handoff("handoffs/h3"));
    // Even once the contract it brought is gone, the handoff stays recorded.
    let mut c = b.clone();
    c.contracts.retain(|k| k.handoff != "handoffs/h2");
    assert!(c.records_handoff("handoffs/h2"));
    assert_eq!(
        open(Some(c.clone()), later_request(), opened_at() + 2).unwrap(),
        Opening::Unchanged(c)
    );
}

#[test]
fn a_later_handoff_for_the_same_customer_extends_the_account() {
    let a = opened();
    let now = at(date!(2026 - 12 - 20));
    let Opening::Extended(b) = open(Some(a.clone()), later_request(), now).unwrap() else {
        panic!("not extended")
    };
    assert_eq!(b.id, a.id);
    assert_eq!(b.handoff, "handoffs/h1");
    assert_eq!(b.later_handoffs, ["handoffs/h2"]);
    let contracts: Vec<_> = b
        .contracts
        .iter()
        .map(|c| (c.contract.as_str(), c.handoff.as_str()))
        .collect();
    assert_eq!(
        contracts,
        [
            ("contracts/c1", "handoffs/h1"),
            ("contracts/c2", "handoffs/h2")
        ]
    );
    // Appended with new ids, never reused.
    assert_eq!(b.outcomes.len(), 2);
    assert_eq!(b.outcomes[1].id, "outcome-6");
    assert_eq!(b.obligations.len(), 5);
    assert_eq!(b.obligations[4].id, "obligation-7");
    // Carla once, Eve added but not primary: Carla stays the one primary.
    let contacts: Vec<_> = b
        .contacts
        .iter()
        .map(|c| (c.contact.display_name.as_str(), c.primary))
        .collect();
    assert_eq!(contacts, [("Carla", true), ("Dan", false), ("Eve", false)]);
    assert_eq!(
        b.needs,
        ["Invoices approved without paper", "Mobile approvals"]
    );
    // The new manager and salesperson take over.
    assert_eq!(
        (b.account_manager.as_str(), b.salesperson.as_str()),
        ("amy", "rita")
    );
    // The earlier start date is kept, the display name too (UpdateAccount changes it).
    assert_eq!(b.start_date, date!(2026 - 01 - 01));
    assert_eq!(b.customer.display_name, "Acme Corp");
    // The account had no cadence of its own: the request's applies.
    assert_eq!(b.check_in_cadence_days, Some(14));
    assert_eq!(
        b.notes,
        "Finance team of 12\n\nSecond deal: the mobile rollout"
    );
    assert_eq!(b.status, AccountStatus::Active);
    assert_eq!(b.status_history.len(), 1);
    assert_eq!(b.update_time, now);
}

#[test]
fn an_accounts_own_cadence_is_kept_and_long_notes_are_cut() {
    let mut a = opened();
    a.check_in_cadence_days = Some(21);
    a.notes = "x".repeat(MAX_NOTES - 10);
    let Opening::Extended(b) = open(Some(a), later_request(), opened_at() + 1).unwrap() else {
        panic!("not extended")
    };
    assert_eq!(b.check_in_cadence_days, Some(21));
    assert_eq!(b.notes.len(), MAX_NOTES);
}

#[test]
fn a_later_handoff_starting_earlier_moves_the_start_date_back() {
    let mut r = later_request();
    r.contracts[0].start_date = date!(2025 - 06 - 01);
    r.contracts[0].end_date = Some(date!(2026 - 05 - 31));
    let Opening::Extended(b) = open(Some(opened()), r, opened_at() + 1).unwrap() else {
        panic!("not extended")
    };
    assert_eq!(b.start_date, date!(2025 - 06 - 01));
}

#[test]
fn a_later_handoff_reopens_a_churned_account() {
    let churned = in_status(AccountStatus::Churned);
    let now = at(date!(2026 - 06 - 01));
    let Opening::Extended(b) = open(Some(churned), later_request(), now).unwrap() else {
        panic!("not extended")
    };
    assert_eq!(b.status, AccountStatus::Active);
    assert_eq!(b.churn, None);
    assert_eq!(b.status_reason, REOPENED_REASON);
    let last = b.status_history.last().unwrap();
    assert_eq!(
        (
            last.from,
            last.to,
            last.reason.as_str(),
            last.effective_date
        ),
        (
            Some(AccountStatus::Churned),
            AccountStatus::Active,
            REOPENED_REASON,
            date!(2026 - 06 - 01)
        )
    );
    assert_eq!(last.actor.role, "service");
}

#[test]
fn an_at_risk_account_stays_at_risk_when_extended() {
    let Opening::Extended(b) = open(
        Some(in_status(AccountStatus::AtRisk)),
        later_request(),
        opened_at() + 1,
    )
    .unwrap() else {
        panic!("not extended")
    };
    assert_eq!(b.status, AccountStatus::AtRisk);
}

#[test]
fn an_extension_in_another_currency_or_repeating_a_contract_changes_nothing() {
    let a = opened();
    let mut r = later_request();
    r.contracts[0].value = Money::new(CurrencyCode::parse("USD").unwrap(), 100);
    let err = open(Some(a.clone()), r, opened_at() + 1).unwrap_err();
    assert_eq!(fields_of(&err), ["account.contracts[0].value"]);

    let mut r = later_request();
    r.contracts.push(contract("contracts/c1"));
    let err = open(Some(a), r, opened_at() + 1).unwrap_err();
    assert_eq!(fields_of(&err), ["account.contracts[1].contract"]);
}

#[test]
fn an_extension_past_the_accounts_bounds_is_refused() {
    let mut a = opened();
    let template = a.obligations[0].clone();
    a.obligations = (0..MAX_OBLIGATIONS)
        .map(|i| crate::domain::account::Obligation {
            id: format!("obligation-{}", 100 + i),
            ..template.clone()
        })
        .collect();
    let err = open(Some(a), later_request(), opened_at() + 1).unwrap_err();
    assert_eq!(
        gates(&err),
        [("account_limit".to_owned(), "obligations".to_owned())]
    );
}

#[test]
fn the_account_of_another_customer_is_an_app_bug() {
    let mut r = later_request();
    r.customer.account_id = "globex".into();
    let err = open(Some(opened()), r, opened_at() + 1).unwrap_err();
    assert!(matches!(err, Problem::Internal(_)), "{err:?}");
}

#[test]
fn bad_input_opens_nothing_and_names_every_field() {
    let mut r = request();
    let usd = CurrencyCode::parse("USD").unwrap();
    r.contracts.push(ContractInput {
        contract: "contracts/c1".into(),
        ..contract("contracts/c1")
    });
    r.contracts.push(ContractInput {
        value: Money::new(usd, 5),
        ..contract("contracts/c3")
    });
    r.contracts.push(ContractInput {
        end_date: None,
        term_months: 0,
        ..contract("contracts/c4")
    });
    r.contracts.push(ContractInput {
        term_months: 11,
        ..contract("contracts/c5")
    });
    r.contracts.push(ContractInput {
        end_date: Some(date!(2025 - 12 - 31)),
        ..contract("contracts/c6")
    });
    r.contracts.push(ContractInput {
        value: euros(0),
        gross_margin_bps: 10_001,
        ..contract("contracts/c7")
    });
    r.outcomes.push(OutcomeInput {
        success_criteria: Vec::new(),
        progress_percent: 101,
        ..outcome("x")
    });
    r.obligations
        .push(obligation(P::Company, K::Payment, "wrong side"));
    r.obligations.push(ObligationInput {
        status: ObligationStatus::Delivered,
        contract: "contracts/nope".into(),
        ..obligation(P::Client, K::Data, "data")
    });
    r.obligations.push(ObligationInput {
        amount: Some(Money::new(usd, 10)),
        ..obligation(P::Client, K::Other, "other")
    });
    r.contacts.push(AccountContact {
        contact: Contact {
            email: None,
            ..contact("Zed", "zed@acme.com")
        },
        role: ContactRole::User,
        primary: true,
    });
    r.check_in_cadence_days = 366;
    let err = open(None, r, opened_at()).unwrap_err();
    assert_eq!(
        fields_of(&err),
        [
            "account.check_in_cadence_days",
            "account.contracts[1].contract",
            "account.contracts[2].value",
            "account.contracts[3].end_date",
            "account.contracts[3].term_months",
            "account.contracts[4].term_months",
            "account.contracts[5].end_date",
            "account.contracts[6].value",
            "account.contracts[6].gross_margin_bps",
            "account.outcomes[1].success_criteria",
            "account.outcomes[1].progress_percent",
            "account.obligations[4].kind",
            "account.obligations[4].amount",
            "account.obligations[5].status",
            "account.obligations[5].contract",
            "account.obligations[6].amount",
            "account.contacts[2].contact.email",
            "account.contacts[2].primary",
        ]
    );
}

#[test]
fn an_account_needs_a_contract() {
    let mut r = request();
    r.contracts.clear();
    let err = open(None, r, opened_at()).unwrap_err();
    assert_eq!(fields_of(&err), ["account.contracts"]);
}

#[test]
fn the_currency_is_the_first_contracts() {
    let mut r = request();
    let usd = CurrencyCode::parse("USD").unwrap();
    r.contracts[0].value = Money::new(usd, 100);
    r.obligations.retain(|o| o.amount.is_none());
    let Opening::Opened(a) = open(None, r, opened_at()).unwrap() else {
        panic!("not opened")
    };
    assert_eq!(a.currency, usd);
}
