//! UpdateAccount, outcomes and obligations.

use time::macros::date;

use super::*;
use crate::domain::account::ContractInput;
use crate::domain::edit::{AccountField, AccountPatch, ObligationPatch, OutcomePatch};
use crate::domain::vocabulary::{ObligationKind as K, ObligationParty as P};

#[test]
fn an_empty_patch_changes_nothing() {
    let mut a = opened();
    let before = a.clone();
    assert!(
        !a.update(&alice(), AccountPatch::default(), opened_at() + 1)
            .unwrap()
    );
    assert_eq!(a, before);
}

#[test]
fn the_account_manager_replaces_every_updatable_field() {
    let mut a = opened();
    let now = opened_at() + 5;
    let patch = AccountPatch {
        customer_display_name: Some("Acme Corporation".into()),
        account_manager: Some("amy".into()),
        salesperson: Some("rita".into()),
        start_date: Some(Some(date!(2025 - 12 - 01))),
        contracts: None,
        contacts: Some(vec![AccountContact {
            contact: contact("Eve", "eve@acme.com"),
            role: ContactRole::Billing,
            primary: true,
        }]),
        needs: Some(vec!["Faster approvals".into()]),
        check_in_cadence_days: Some(14),
        notes: Some("Renewal talks in Q4".into()),
    };
    assert_eq!(
        patch.fields(),
        [
            AccountField::CustomerDisplayName,
            AccountField::AccountManager,
            AccountField::Salesperson,
            AccountField::StartDate,
            AccountField::Contacts,
            AccountField::Needs,
            AccountField::CheckInCadenceDays,
            AccountField::Notes,
        ]
    );
    assert!(a.update(&alice(), patch, now).unwrap());
    assert_eq!(a.customer.display_name, "Acme Corporation");
    assert_eq!(a.customer.account_id, "acme");
    assert_eq!(
        (a.account_manager.as_str(), a.salesperson.as_str()),
        ("amy", "rita")
    );
    assert_eq!(a.start_date, date!(2025 - 12 - 01));
    assert_eq!(a.contacts.len(), 1);
    assert_eq!(a.needs, ["Faster approvals"]);
    assert_eq!(a.check_in_cadence_days, Some(14));
    assert_eq!(a.notes, "Renewal talks in Q4");
    assert_eq!(a.update_time, now);
    // The cadence back to the default, the start date back to the earliest contract start.
    a.update(
        &amy(),
        AccountPatch {
            check_in_cadence_days: Some(0),
            start_date: Some(None),
            ..AccountPatch::default()
        },
        now,
    )
    .unwrap();
    assert_eq!(a.check_in_cadence_days, None);
    assert_eq!(a.start_date, date!(2026 - 01 - 01));
}

#[test]
fn a_sales_manager_only_reassigns_the_account_manager() {
    let mut a = opened();
    a.update(
        &max(),
        AccountPatch {
            account_manager: Some("amy".into()),
            ..AccountPatch::default()
        },
        opened_at() + 1,
    )
    .unwrap();
    assert_eq!(a.account_manager, "amy");
    // Any other field, alone or beside it ("*" names them all), is refused.
    for patch in [
        AccountPatch {
            notes: Some("x".into()),
            ..AccountPatch::default()
        },
        AccountPatch {
            account_manager: Some("alice".into()),
            salesperson: Some("rita".into()),
            ..AccountPatch::default()
        },
    ] {
        let before = a.clone();
        let err = a.update(&max(), patch, opened_at() + 2).unwrap_err();
        assert!(is_denied(&err), "{err:?}");
        assert_eq!(a, before);
    }
    // The former manager has handed it over: it no longer changes anything.
    let err = a
        .update(
            &alice(),
            AccountPatch {
                notes: Some("x".into()),
                ..AccountPatch::default()
            },
            opened_at() + 3,
        )
        .unwrap_err();
    assert!(is_denied(&err));
}

#[test]
fn contracts_are_matched_by_name_and_keep_their_handoff() {
    let mut a = opened();
    let changed = ContractInput {
        value: euros(1_500_000),
        auto_renew: true,
        ..contract("contracts/c1")
    };
    let added = ContractInput {
        contract: "contracts/c9".into(),
        end_date: None,
        term_months: 0,
        ..contract("contracts/c9")
    };
    a.update(
        &alice(),
        AccountPatch {
            contracts: Some(vec![changed, added]),
            ..AccountPatch::default()
        },
        opened_at() + 1,
    )
    .unwrap();
    let c: Vec<_> = a
        .contracts
        .iter()
        .map(|c| {
            (
                c.contract.as_str(),
                c.handoff.as_str(),
                c.value.minor,
                c.term_months,
            )
        })
        .collect();
    assert_eq!(
        c,
        [
            ("contracts/c1", "handoffs/h1", 1_500_000, 12),
            // Open-ended without a term: 12 months for its annual value.
            ("contracts/c9", "", 1_200_000, 12),
        ]
    );
    assert!(a.contracts[0].auto_renew);
}

#[test]
fn contract_changes_that_would_break_the_account_are_refused() {
    let a = opened();
    let cases: Vec<(Vec<ContractInput>, Vec<&str>)> = vec![
        (Vec::new(), vec!["account.contracts"]),
        (
            vec![contract("contracts/c1"), contract("contracts/c1")],
            vec!["account.contracts[1].contract"],
        ),
        // c1 is named by obligations: it cannot go.
        (vec![contract("contracts/c2")], vec!["account.contracts"; 3]),
        (
            vec![ContractInput {
                end_date: Some(date!(2026 - 12 - 30)),
                ..contract("contracts/c1")
            }],
            vec!["account.contracts[0].term_months"],
        ),
    ];
    for (contracts, expected) in cases {
        let mut b = a.clone();
        let err = b
            .update(
                &alice(),
                AccountPatch {
                    contracts: Some(contracts),
                    ..AccountPatch::default()
                },
                opened_at() + 1,
            )
            .unwrap_err();
        assert_eq!(fields_of(&err), expected);
        assert_eq!(b, a);
    }
}

#[test]
fn contacts_needs_and_cadence_are_checked() {
    let mut a = opened();
    let before = a.clone();
    let two_primaries = vec![
        AccountContact {
            contact: contact("A", "a@acme.com"),
            role: ContactRole::User,
            primary: true,
        },
        AccountContact {
            contact: Contact {
                email: None,
                ..contact("B", "b@acme.com")
            },
            role: ContactRole::User,
            primary: true,
        },
    ];
    let err = a
        .update(
            &alice(),
            AccountPatch {
                contacts: Some(two_primaries),
                needs: Some(vec!["ok".into(), " ".into()]),
                check_in_cadence_days: Some(-1),
                ..AccountPatch::default()
            },
            opened_at() + 1,
        )
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        [
            "account.contacts[1].contact.email",
            "account.contacts[1].primary",
            "account.needs[1]",
            "account.check_in_cadence_days",
        ]
    );
    assert_eq!(a, before);
}

#[test]
fn outcomes_are_added_with_new_ids_and_checked() {
    let mut a = opened();
    let id = a
        .add_outcome(outcome("Fewer late payments"), opened_at() + 1)
        .unwrap();
    assert_eq!(id, "outcome-6");
    assert_eq!(a.outcome(&id).unwrap().goal, "Fewer late payments");
    let before = a.clone();
    let err = a
        .add_outcome(
            OutcomeInput {
                success_criteria: vec![String::new()],
                progress_percent: -1,
                ..outcome("x")
            },
            opened_at() + 2,
        )
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        ["outcome.success_criteria[0]", "outcome.progress_percent"]
    );
    assert_eq!(a, before);
}

#[test]
fn updating_progress_is_a_report_without_a_note() {
    let mut a = opened();
    a.outcomes[0].progress_note = "from a check-in".into();
    a.outcomes[0].last_check_in = "accounts/x/checkIns/y".into();
    let now = opened_at() + 7;
    // Only the goal: not a progress report.
    a.update_outcome(
        "outcome-1",
        OutcomePatch {
            goal: Some("Cut processing time in half".into()),
            target_date: Some(None),
            ..OutcomePatch::default()
        },
        now,
    )
    .unwrap();
    let o = a.outcome("outcome-1").unwrap();
    assert_eq!(
        (o.goal.as_str(), o.target_date),
        ("Cut processing time in half", None)
    );
    assert_eq!(o.progress_note, "from a check-in");
    assert_eq!(o.progress_update_time, None);

    a.update_outcome(
        "outcome-1",
        OutcomePatch {
            status: Some(OutcomeStatus::OffTrack),
            progress_percent: Some(20),
            ..OutcomePatch::default()
        },
        now,
    )
    .unwrap();
    let o = a.outcome("outcome-1").unwrap();
    assert_eq!(
        (o.status, o.progress_percent),
        (OutcomeStatus::OffTrack, 20)
    );
    assert_eq!(o.progress_update_time, Some(now));
    assert!(o.progress_note.is_empty() && o.last_check_in.is_empty());
}

#[test]
fn an_unknown_outcome_or_bad_values_change_nothing() {
    let mut a = opened();
    let before = a.clone();
    let err = a
        .update_outcome("outcome-99", OutcomePatch::default(), opened_at())
        .unwrap_err();
    assert_eq!(not_found(&err), ("outcome", "outcome-99".to_owned()));
    let err = a
        .update_outcome(
            "outcome-1",
            OutcomePatch {
                success_criteria: Some(Vec::new()),
                progress_percent: Some(200),
                ..OutcomePatch::default()
            },
            opened_at(),
        )
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        ["outcome.success_criteria", "outcome.progress_percent"]
    );
    assert_eq!(a, before);
}

#[test]
fn obligations_are_added_with_who_set_their_status() {
    let mut a = opened();
    let now = opened_at() + 3;
    let id = a
        .add_obligation(
            &alice(),
            ObligationInput {
                status: ObligationStatus::InProgress,
                ..obligation(P::Company, K::ServiceLevel, "99.9 % uptime")
            },
            now,
        )
        .unwrap();
    assert_eq!(id, "obligation-6");
    let o = a.obligation(&id).unwrap();
    assert_eq!(o.status, ObligationStatus::InProgress);
    assert_eq!(o.status_update_time, Some(now));
    assert_eq!(o.status_updated_by.as_ref().unwrap().subject, "alice");

    let before = a.clone();
    let err = a
        .add_obligation(
            &alice(),
            obligation(P::Client, K::Deliverable, "not the client's"),
            now,
        )
        .unwrap_err();
    assert_eq!(fields_of(&err), ["obligation.kind"]);
    assert_eq!(a, before);
}

#[test]
fn every_status_the_party_may_have_may_follow_every_other() {
    use ObligationStatus as S;
    for (party, id) in [(P::Company, "obligation-2"), (P::Client, "obligation-3")] {
        for from in S::ALL.into_iter().filter(|s| s.allowed_for(party)) {
            for to in S::ALL {
                let mut a = opened();
                a.obligations
                    .iter_mut()
                    .find(|o| o.id == id)
                    .unwrap()
                    .status = from;
                let before = a.clone();
                let result = a.update_obligation(
                    &alice(),
                    id,
                    ObligationPatch {
                        status: Some(to),
                        ..ObligationPatch::default()
                    },
                    opened_at() + 9,
                );
                if to.allowed_for(party) {
                    assert!(result.is_ok(), "{party:?} {from:?} -> {to:?}: {result:?}");
                    assert_eq!(a.obligation(id).unwrap().status, to);
                } else {
                    let err = result.unwrap_err();
                    assert_eq!(fields_of(&err), ["obligation.status"], "{from:?} -> {to:?}");
                    assert_eq!(a, before);
                }
            }
        }
    }
}

#[test]
fn a_status_change_records_who_and_when_and_drops_the_old_note() {
    let mut a = opened();
    let now = opened_at() + 11;
    a.update_obligation(
        &alice(),
        "obligation-3",
        ObligationPatch {
            status: Some(ObligationStatus::AtRisk),
            status_note: Some("VPN team on holiday".into()),
            ..ObligationPatch::default()
        },
        now,
    )
    .unwrap();
    let o = a.obligation("obligation-3").unwrap();
    assert_eq!(o.status_note, "VPN team on holiday");
    assert_eq!(o.status_update_time, Some(now));
    // The next change without a note: the note about AT_RISK goes.
    a.update_obligation(
        &alice(),
        "obligation-3",
        ObligationPatch {
            status: Some(ObligationStatus::Fulfilled),
            ..ObligationPatch::default()
        },
        now + 1,
    )
    .unwrap();
    let o = a.obligation("obligation-3").unwrap();
    assert_eq!(
        (o.status, o.status_note.as_str()),
        (ObligationStatus::Fulfilled, "")
    );
    assert_eq!(o.status_update_time, Some(now + 1));
    // A change of the description alone keeps the status record.
    a.update_obligation(
        &alice(),
        "obligation-3",
        ObligationPatch {
            description: Some("VPN access for three engineers".into()),
            due_date: Some(Some(date!(2026 - 02 - 15))),
            ..ObligationPatch::default()
        },
        now + 2,
    )
    .unwrap();
    let o = a.obligation("obligation-3").unwrap();
    assert_eq!(o.status_update_time, Some(now + 1));
    assert_eq!(o.due_date, Some(date!(2026 - 02 - 15)));
}

#[test]
fn obligation_values_are_checked_after_the_patch() {
    let a = opened();
    let cases = [
        (
            "obligation-4",
            ObligationPatch {
                amount: Some(None),
                ..ObligationPatch::default()
            },
            "obligation.amount",
        ),
        (
            "obligation-4",
            ObligationPatch {
                amount: Some(Some(euros(-5))),
                ..ObligationPatch::default()
            },
            "obligation.amount",
        ),
        (
            "obligation-2",
            ObligationPatch {
                contract: Some("contracts/other".into()),
                ..ObligationPatch::default()
            },
            "obligation.contract",
        ),
    ];
    for (id, patch, field) in cases {
        let mut b = a.clone();
        let err = b
            .update_obligation(&alice(), id, patch, opened_at() + 1)
            .unwrap_err();
        assert_eq!(fields_of(&err), [field]);
        assert_eq!(b, a);
    }
    let mut b = a.clone();
    let err = b
        .update_obligation(&alice(), "obligation-1", ObligationPatch::default(), 0)
        .unwrap_err();
    assert_eq!(not_found(&err), ("obligation", "obligation-1".to_owned()));
    // A commitment made outside any contract.
    b.update_obligation(
        &alice(),
        "obligation-2",
        ObligationPatch {
            contract: Some(String::new()),
            ..ObligationPatch::default()
        },
        opened_at() + 1,
    )
    .unwrap();
}
