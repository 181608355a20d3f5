//! The access table, row by row: every role on its own and another's account, for every method;
//! what the reports may cover; which fields UpdateAccount lets whom replace.

use closeloop_kit::Role;
use closeloop_kit::access::{Action as _, Scope};

use super::*;
use crate::domain::access::{
    Action, Decision, account_filter, check, check_under, check_update_fields, decide,
    due_check_ins_manager, feed_salesperson, may_read, portfolio_managers, require_role, scope,
};
use crate::domain::edit::AccountField;

/// Who asks, relative to the account (managed by alice, sold by sam).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Service,
    SalesManager,
    Finance,
    Operations,
    ItsManager,
    OtherManager,
    ItsSalesperson,
    OtherSalesperson,
}

impl Caller {
    const ALL: [Caller; 8] = [
        Caller::Service,
        Caller::SalesManager,
        Caller::Finance,
        Caller::Operations,
        Caller::ItsManager,
        Caller::OtherManager,
        Caller::ItsSalesperson,
        Caller::OtherSalesperson,
    ];

    fn principal(self) -> Principal {
        match self {
            Caller::Service => service(),
            Caller::SalesManager => max(),
            Caller::Finance => fiona(),
            Caller::Operations => otto(),
            Caller::ItsManager => alice(),
            Caller::OtherManager => amy(),
            Caller::ItsSalesperson => sam(),
            Caller::OtherSalesperson => rita(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed,
    NotFound,
    Denied,
}

/// The proto's authorization comment, as a table.
fn expected(caller: Caller, action: Action) -> Expect {
    use Action::*;
    use Caller as C;
    use Expect::*;
    // A caller that may read the account (NOT_FOUND otherwise, whatever the method, once it
    // has a role for the method at all).
    let reads = |c: Caller| !matches!(c, C::OtherManager | C::OtherSalesperson);
    let own_or_hidden = |c: Caller| if reads(c) { Allowed } else { NotFound };
    match action {
        OpenAccount => match caller {
            C::Service => Allowed,
            _ => Denied,
        },
        GetAccount | ListAccounts | GetOperationsUpdate | ListOperationsUpdates => {
            own_or_hidden(caller)
        }
        GetCheckIn
        | ListCheckIns
        | GetAccountHealth
        | GetCustomerLifetimeValue
        | GetExpansion
        | ListExpansions
        | GetReferral
        | ListReferrals => match caller {
            C::Operations => Denied,
            c => own_or_hidden(c),
        },
        UpdateAccount => match caller {
            C::ItsManager | C::SalesManager => Allowed,
            C::OtherManager => NotFound,
            _ => Denied,
        },
        MarkAccountAtRisk | MarkAccountChurned | ReactivateAccount | AddOutcome | UpdateOutcome
        | AddObligation | UpdateObligation | RecordCheckIn | IdentifyExpansion | RecordReferral => {
            match caller {
                C::ItsManager => Allowed,
                C::OtherManager => NotFound,
                _ => Denied,
            }
        }
        PostOperationsUpdate => match caller {
            C::Operations => Allowed,
            _ => Denied,
        },
        // Reports name no account: see `reports_are_for_oneself_or_for_all`.
        ListDueCheckIns | GetPortfolioMetrics | ListSalespersonFeed => unreachable!(),
    }
}

const REPORTS: [Action; 3] = [
    Action::ListDueCheckIns,
    Action::GetPortfolioMetrics,
    Action::ListSalespersonFeed,
];

#[test]
fn every_caller_on_every_method() {
    let a = opened();
    for action in Action::ALL.into_iter().filter(|a| !REPORTS.contains(a)) {
        for caller in Caller::ALL {
            let p = caller.principal();
            let got = match decide(&p, action, &a) {
                Decision::Allowed => Expect::Allowed,
                Decision::NotFound => Expect::NotFound,
                Decision::Denied(_) => Expect::Denied,
            };
            assert_eq!(got, expected(caller, action), "{caller:?} {action:?}");
            // With one role each, every PERMISSION_DENIED comes before the account is looked
            // at: no role of the caller may ever call the method.
            let no_role = require_role(&p, action).is_err();
            assert_eq!(no_role, got == Expect::Denied, "{caller:?} {action:?}");
        }
    }
}

#[test]
fn the_answer_names_the_resource_asked_for() {
    let a = opened();
    let err = check(&amy(), Action::GetAccount, &a).unwrap_err();
    assert_eq!(not_found(&err), ("account", a.name()));
    let name = format!("{}/checkIns/c1", a.name());
    let err = check_under(&rita(), Action::GetCheckIn, &a, "check_in", &name).unwrap_err();
    assert_eq!(not_found(&err), ("check_in", name));
    let err = check(&fiona(), Action::RecordCheckIn, &a).unwrap_err();
    assert!(is_denied(&err));
    check(&alice(), Action::RecordCheckIn, &a).unwrap();
    assert!(may_read(&sam(), &a) && !may_read(&rita(), &a) && may_read(&otto(), &a));
}

#[test]
fn an_account_handed_over_goes_with_its_access() {
    let mut a = opened();
    a.account_manager = "amy".into();
    assert_eq!(
        decide(&amy(), Action::MarkAccountAtRisk, &a),
        Decision::Allowed
    );
    assert_eq!(
        decide(&alice(), Action::MarkAccountAtRisk, &a),
        Decision::NotFound
    );
}

#[test]
fn several_roles_reach_as_far_as_the_widest() {
    let a = opened();
    // A salesperson who also manages accounts, but not this one: reads it as its salesperson,
    // may not change it.
    let both = who("sam", &[Role::AccountManager, Role::SalesRep]);
    assert_eq!(
        decide(&both, Action::GetAccountHealth, &a),
        Decision::Allowed
    );
    assert!(matches!(
        decide(&both, Action::MarkAccountAtRisk, &a),
        Decision::Denied(_)
    ));
    // Operations that is also finance reads check-ins.
    let ops_finance = who("olga", &[Role::Operations, Role::Finance]);
    assert_eq!(
        decide(&ops_finance, Action::GetCheckIn, &a),
        Decision::Allowed
    );
}

#[test]
fn reports_are_for_oneself_or_for_all() {
    let table = [
        (Role::Service, [Scope::All, Scope::All, Scope::All]),
        (Role::SalesManager, [Scope::All, Scope::All, Scope::All]),
        (Role::Finance, [Scope::All, Scope::All, Scope::All]),
        (
            Role::AccountManager,
            [Scope::Own, Scope::Own, Scope::Nothing],
        ),
        (Role::SalesRep, [Scope::Nothing, Scope::Nothing, Scope::Own]),
        (
            Role::Operations,
            [Scope::Nothing, Scope::Nothing, Scope::Nothing],
        ),
    ];
    for (role, scopes) in table {
        for (action, want) in REPORTS.into_iter().zip(scopes) {
            assert_eq!(action.grant(role), want, "{role:?} {action:?}");
        }
    }
    // Due check-ins.
    assert_eq!(
        due_check_ins_manager(&alice(), None).unwrap(),
        Some("alice".into())
    );
    assert_eq!(
        due_check_ins_manager(&alice(), Some("alice".into())).unwrap(),
        Some("alice".into())
    );
    assert!(is_denied(
        &due_check_ins_manager(&alice(), Some("amy".into())).unwrap_err()
    ));
    assert_eq!(due_check_ins_manager(&max(), None).unwrap(), None);
    assert_eq!(
        due_check_ins_manager(&fiona(), Some("amy".into())).unwrap(),
        Some("amy".into())
    );
    assert!(is_denied(&due_check_ins_manager(&sam(), None).unwrap_err()));
    // Portfolio metrics.
    assert_eq!(portfolio_managers(&alice(), Vec::new()).unwrap(), ["alice"]);
    assert!(is_denied(
        &portfolio_managers(&alice(), vec!["alice".into(), "amy".into()]).unwrap_err()
    ));
    assert_eq!(
        portfolio_managers(&max(), vec!["b".into(), "a".into(), "b".into()]).unwrap(),
        ["a", "b"]
    );
    assert!(portfolio_managers(&max(), Vec::new()).unwrap().is_empty());
    let many: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
    assert_eq!(
        fields_of(&portfolio_managers(&max(), many.clone()).unwrap_err()),
        ["account_managers"]
    );
    assert!(is_denied(&portfolio_managers(&otto(), many).unwrap_err()));
    // The feed.
    assert_eq!(feed_salesperson(&sam(), None).unwrap(), "sam");
    assert_eq!(feed_salesperson(&sam(), Some("sam".into())).unwrap(), "sam");
    assert!(is_denied(
        &feed_salesperson(&sam(), Some("rita".into())).unwrap_err()
    ));
    assert_eq!(
        feed_salesperson(&max(), Some("rita".into())).unwrap(),
        "rita"
    );
    assert_eq!(
        fields_of(&feed_salesperson(&fiona(), None).unwrap_err()),
        ["salesperson"]
    );
    assert!(is_denied(&feed_salesperson(&alice(), None).unwrap_err()));
    assert!(is_denied(
        &feed_salesperson(&otto(), Some("sam".into())).unwrap_err()
    ));
}

#[test]
fn account_lists_are_filtered_to_what_the_caller_may_read() {
    let f = |p: &Principal, m: Option<&str>, s: Option<&str>| {
        account_filter(p, m.map(str::to_owned), s.map(str::to_owned))
            .map(|f| (f.account_manager, f.salesperson))
    };
    let some = |s: &str| Some(s.to_owned());
    // Those who read everything get what they ask for.
    for p in [max(), fiona(), otto(), service()] {
        assert_eq!(f(&p, Some("amy"), None).unwrap(), (some("amy"), None));
        assert_eq!(f(&p, None, None).unwrap(), (None, None));
    }
    // An account manager: its own, by default too, narrowed by salesperson if it likes.
    assert_eq!(f(&alice(), None, None).unwrap(), (some("alice"), None));
    assert_eq!(
        f(&alice(), Some("alice"), Some("sam")).unwrap(),
        (some("alice"), some("sam"))
    );
    assert_eq!(
        f(&alice(), None, Some("sam")).unwrap(),
        (some("alice"), some("sam"))
    );
    assert!(is_denied(&f(&alice(), Some("amy"), None).unwrap_err()));
    // A salesperson: those it sold.
    assert_eq!(f(&sam(), None, None).unwrap(), (None, some("sam")));
    assert_eq!(
        f(&sam(), Some("alice"), None).unwrap(),
        (some("alice"), some("sam"))
    );
    assert!(is_denied(&f(&sam(), None, Some("rita")).unwrap_err()));
    // Both roles: managed by default, sold when it asks for its own sales.
    let both = who("kim", &[Role::AccountManager, Role::SalesRep]);
    assert_eq!(f(&both, None, None).unwrap(), (some("kim"), None));
    assert_eq!(f(&both, None, Some("kim")).unwrap(), (None, some("kim")));
    assert_eq!(
        f(&both, Some("amy"), Some("kim")).unwrap(),
        (some("amy"), some("kim"))
    );
    assert!(is_denied(&f(&both, Some("amy"), Some("rita")).unwrap_err()));
}

#[test]
fn update_fields_by_caller() {
    let a = opened();
    check_update_fields(&alice(), &a, &AccountField::ALL).unwrap();
    check_update_fields(&max(), &a, &[AccountField::AccountManager]).unwrap();
    // "*" is every field: refused to a sales_manager.
    assert!(is_denied(
        &check_update_fields(&max(), &a, &AccountField::ALL).unwrap_err()
    ));
    for field in AccountField::ALL {
        let result = check_update_fields(&max(), &a, &[field]);
        assert_eq!(
            result.is_ok(),
            field == AccountField::AccountManager,
            "{field:?}"
        );
    }
    // A sales manager who manages the account is its manager first.
    let both = who("alice", &[Role::SalesManager, Role::AccountManager]);
    check_update_fields(&both, &a, &AccountField::ALL).unwrap();
    assert!(is_denied(
        &check_update_fields(&amy(), &a, &[AccountField::Notes]).unwrap_err()
    ));
}

#[test]
fn every_action_has_a_verb_and_changes_are_told_apart() {
    let changes: Vec<_> = Action::ALL.into_iter().filter(|a| a.is_change()).collect();
    assert_eq!(changes.len(), 13);
    for action in Action::ALL {
        assert!(!action.verb().is_empty());
    }
    assert_eq!(scope(&service(), Action::OpenAccount), Scope::All);
}
