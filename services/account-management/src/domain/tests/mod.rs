//! The account-management domain tested the way the service uses it: an account opened from a
//! handoff, extended, moved through every status, edited, checked in on, reported on by
//! operations, scored, valued, expanded and referred from; every (status, move) pair and the
//! access table row by row.

use closeloop_kit::time::{MICROS_PER_DAY, epoch_days};
use closeloop_kit::types::{CurrencyCode, Email, Money};
use closeloop_kit::{Principal, Problem, Role};
use time::Date;
use time::macros::date;

use super::account::{Account, AccountContact, ContractInput, ObligationInput, OutcomeInput};
use super::opening::{OpenAccount, Opening, open_account};
use super::vocabulary::{
    AccountId, AccountStatus, Contact, ContactRole, ObligationKind, ObligationParty,
    ObligationStatus, OutcomeStatus, Party,
};

mod access;
mod check_ins;
mod edit;
mod figures;
mod health;
mod lifecycle;
mod lifetime_value;
mod opening;
mod operations;
mod opportunities;
mod portfolio;

/// Noon (UTC) of `d`, in µs.
pub fn at(d: Date) -> i64 {
    epoch_days(d) * MICROS_PER_DAY + MICROS_PER_DAY / 2
}

/// When the account below is opened.
pub fn opened_at() -> i64 {
    at(date!(2026 - 01 - 10))
}

pub fn who(subject: &str, roles: &[Role]) -> Principal {
    Principal {
        subject: subject.into(),
        roles: roles.to_vec(),
    }
}

/// The handoff service.
pub fn service() -> Principal {
    who("closeloop-handoff", &[Role::Service])
}
/// The account's manager.
pub fn alice() -> Principal {
    who("alice", &[Role::AccountManager])
}
/// Another account manager.
pub fn amy() -> Principal {
    who("amy", &[Role::AccountManager])
}
/// The account's salesperson.
pub fn sam() -> Principal {
    who("sam", &[Role::SalesRep])
}
/// Another salesperson.
pub fn rita() -> Principal {
    who("rita", &[Role::SalesRep])
}
pub fn max() -> Principal {
    who("max", &[Role::SalesManager])
}
pub fn fiona() -> Principal {
    who("fiona", &[Role::Finance])
}
pub fn otto() -> Principal {
    who("otto", &[Role::Operations])
}

pub fn eur() -> CurrencyCode {
    CurrencyCode::parse("EUR").unwrap()
}

pub fn euros(minor: i64) -> Money {
    Money::new(eur(), minor)
}

pub fn contact(name: &str, email: &str) -> Contact {
    Contact {
        display_name: name.into(),
        email: Some(Email::parse(email).unwrap()),
        phone: String::new(),
        title: String::new(),
    }
}

/// A 12-month contract worth EUR 12,000.00 for 2026, margin 60 %.
pub fn contract(name: &str) -> ContractInput {
    ContractInput {
        contract: name.into(),
        opportunity: "opportunities/p1".into(),
        value: euros(1_200_000),
        start_date: date!(2026 - 01 - 01),
        end_date: Some(date!(2026 - 12 - 31)),
        term_months: 12,
        auto_renew: false,
        gross_margin_bps: 6000,
        title: "Platform licence 2026".into(),
    }
}

pub fn outcome(goal: &str) -> OutcomeInput {
    OutcomeInput {
        goal: goal.into(),
        success_criteria: vec!["under 2 days by Q3".into()],
        target_date: Some(date!(2026 - 09 - 30)),
        status: OutcomeStatus::NotStarted,
        progress_percent: 0,
    }
}

pub fn obligation(
    party: ObligationParty,
    kind: ObligationKind,
    description: &str,
) -> ObligationInput {
    ObligationInput {
        party,
        kind,
        description: description.into(),
        due_date: None,
        amount: None,
        contract: "contracts/c1".into(),
        external_id: String::new(),
        status: ObligationStatus::Pending,
        status_note: String::new(),
    }
}

/// What the handoff `handoffs/h1` sends for customer acme: one contract, one goal, a
/// deliverable, a client obligation, an installment and a verbal commitment, two contacts, a
/// need.
pub fn request() -> OpenAccount {
    use ObligationKind as K;
    use ObligationParty as P;
    OpenAccount {
        customer: Party {
            account_id: "acme".into(),
            display_name: "Acme Corp".into(),
        },
        handoff: "handoffs/h1".into(),
        account_manager: "alice".into(),
        salesperson: "sam".into(),
        start_date: None,
        contracts: vec![contract("contracts/c1")],
        outcomes: vec![outcome("Cut invoice processing time")],
        obligations: vec![
            ObligationInput {
                due_date: Some(date!(2026 - 02 - 01)),
                external_id: "deliverable-1".into(),
                ..obligation(P::Company, K::Deliverable, "Platform set-up")
            },
            ObligationInput {
                external_id: "obligation-1".into(),
                ..obligation(P::Client, K::Access, "VPN access for two engineers")
            },
            ObligationInput {
                due_date: Some(date!(2026 - 01 - 15)),
                amount: Some(euros(600_000)),
                external_id: "installment-1".into(),
                ..obligation(P::Client, K::Payment, "First half")
            },
            ObligationInput {
                contract: String::new(),
                ..obligation(P::Company, K::Commitment, "Weekly status call in January")
            },
        ],
        contacts: vec![
            AccountContact {
                contact: contact("Carla", "carla@acme.com"),
                role: ContactRole::DecisionMaker,
                primary: true,
            },
            AccountContact {
                contact: contact("Dan", "dan@acme.com"),
                role: ContactRole::DayToDay,
                primary: false,
            },
        ],
        needs: vec!["Invoices approved without paper".into()],
        check_in_cadence_days: 0,
        notes: "Finance team of 12".into(),
    }
}

/// The account `request()` opens, managed by alice and sold by sam.
pub fn opened() -> Account {
    match open_account(None, AccountId::new(), request(), &service(), opened_at()) {
        Ok(Opening::Opened(a)) => a,
        other => panic!("expected a new account, got {other:?}"),
    }
}

/// The account in `status` (reached by the moves that lead there).
pub fn in_status(status: AccountStatus) -> Account {
    let mut a = opened();
    let now = at(date!(2026 - 03 - 01));
    match status {
        AccountStatus::Active => {}
        AccountStatus::AtRisk => a
            .mark_at_risk(&alice(), "Budget review".into(), now)
            .unwrap(),
        AccountStatus::Churned => a
            .mark_churned(
                &alice(),
                super::lifecycle::Churn {
                    reason: super::vocabulary::ChurnReason::Budget,
                    notes: String::new(),
                    churn_date: None,
                },
                now,
            )
            .unwrap(),
    }
    a
}

/// The (gate, subject) pairs of a FAILED_PRECONDITION.
pub fn gates(p: &Problem) -> Vec<(String, String)> {
    match p {
        Problem::FailedPrecondition(v) => v
            .iter()
            .map(|g| (g.gate.clone(), g.subject.clone()))
            .collect(),
        other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
    }
}

/// The fields of an INVALID_ARGUMENT.
pub fn fields_of(p: &Problem) -> Vec<String> {
    match p {
        Problem::InvalidArgument(v) => v.iter().map(|f| f.field.clone()).collect(),
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

pub fn is_denied(p: &Problem) -> bool {
    matches!(p, Problem::PermissionDenied(_))
}

/// The (resource, name) of a NOT_FOUND.
pub fn not_found(p: &Problem) -> (&'static str, String) {
    match p {
        Problem::NotFound { resource, name } => (resource, name.clone()),
        other => panic!("expected NOT_FOUND, got {other:?}"),
    }
}
