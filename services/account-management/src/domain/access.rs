//! Who may do what to accounts, as the proto's authorization comment writes it: one table of
//! grants, one action per method ([`Action::grant`]); what "own" means for each role
//! ([`owns`]: the accounts it manages for an `account_manager`, those it sold for a
//! `sales_rep`); which fields UpdateAccount lets whom replace ([`check_update_fields`]); and what
//! a List or report may cover ([`account_filter`], [`due_check_ins_manager`],
//! [`portfolio_managers`], [`feed_salesperson`]).
//!
//! The app asks once per call, in the order of the access rule of closeloop.common.v1:
//! [`require_role`] before anything is loaded (PERMISSION_DENIED for a caller none of whose
//! roles may ever call the method), then [`decide`] (or [`check`], [`check_under`]) on the
//! loaded account: NOT_FOUND, exactly as if it did not exist, for an account the caller may not
//! read and for everything under it; PERMISSION_DENIED for one it reads but may not change this
//! way.

use closeloop_kit::access::{self as kit, Action as _, Scope};
use closeloop_kit::{Principal, Problem, Role};

pub use closeloop_kit::access::{owners_for, require_role, scope};

use super::account::Account;
use super::edit::AccountField;
use super::limits::MAX_REPORT_SUBJECTS;
use super::vocabulary::account_name;

/// The resource type NOT_FOUND names for an account; the API renames it to
/// `closeloop.accounts.v1.Account` (and the others below to their messages).
pub const ACCOUNT: &str = "account";
/// NOT_FOUND resource type of a check-in.
pub const CHECK_IN: &str = "check_in";
/// NOT_FOUND resource type of an operations update.
pub const OPERATIONS_UPDATE: &str = "operations_update";
/// NOT_FOUND resource type of an expansion.
pub const EXPANSION: &str = "expansion";
/// NOT_FOUND resource type of a referral.
pub const REFERRAL: &str = "referral";
/// NOT_FOUND resource type of an outcome named by UpdateOutcome.
pub const OUTCOME: &str = "outcome";
/// NOT_FOUND resource type of an obligation named by UpdateObligation.
pub const OBLIGATION: &str = "obligation";

/// What a caller wants to do: one action per AccountService method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    OpenAccount,
    GetAccount,
    ListAccounts,
    UpdateAccount,
    MarkAccountAtRisk,
    MarkAccountChurned,
    ReactivateAccount,
    AddOutcome,
    UpdateOutcome,
    AddObligation,
    UpdateObligation,
    RecordCheckIn,
    GetCheckIn,
    ListCheckIns,
    ListDueCheckIns,
    PostOperationsUpdate,
    GetOperationsUpdate,
    ListOperationsUpdates,
    ListSalespersonFeed,
    GetAccountHealth,
    GetCustomerLifetimeValue,
    IdentifyExpansion,
    GetExpansion,
    ListExpansions,
    RecordReferral,
    GetReferral,
    ListReferrals,
    GetPortfolioMetrics,
}

impl Action {
    /// Every action, in the proto's method order, for tests that walk the whole table.
    pub const ALL: [Action; 28] = [
        Action::OpenAccount,
        Action::GetAccount,
        Action::ListAccounts,
        Action::UpdateAccount,
        Action::MarkAccountAtRisk,
        Action::MarkAccountChurned,
        Action::ReactivateAccount,
        Action::AddOutcome,
        Action::UpdateOutcome,
        Action::AddObligation,
        Action::UpdateObligation,
        Action::RecordCheckIn,
        Action::GetCheckIn,
        Action::ListCheckIns,
        Action::ListDueCheckIns,
        Action::PostOperationsUpdate,
        Action::GetOperationsUpdate,
        Action::ListOperationsUpdates,
        Action::ListSalespersonFeed,
        Action::GetAccountHealth,
        Action::GetCustomerLifetimeValue,
        Action::IdentifyExpansion,
        Action::GetExpansion,
        Action::ListExpansions,
        Action::RecordReferral,
        Action::GetReferral,
        Action::ListReferrals,
        Action::GetPortfolioMetrics,
    ];

    /// Whether the method changes something (the rest only read).
    pub fn is_change(self) -> bool {
        use Action::*;
        matches!(
            self,
            OpenAccount
                | UpdateAccount
                | MarkAccountAtRisk
                | MarkAccountChurned
                | ReactivateAccount
                | AddOutcome
                | UpdateOutcome
                | AddObligation
                | UpdateObligation
                | RecordCheckIn
                | PostOperationsUpdate
                | IdentifyExpansion
                | RecordReferral
        )
    }
}

impl kit::Action for Action {
    const RESOURCES: &'static str = "accounts";

    /// `Scope::Own` means the accounts the role owns, as [`owns`] says; for the reports that
    /// name no account (due check-ins, portfolio metrics, the feed) it means "only for itself".
    fn grant(self, role: Role) -> Scope {
        use Action::*;
        use Role::*;
        match (self, role) {
            // `service` alone opens accounts.
            (OpenAccount, Service) => Scope::All,
            (OpenAccount, _) => Scope::Nothing,
            // `operations` posts on any account, and reads accounts and operations updates.
            (PostOperationsUpdate, Operations) => Scope::All,
            (PostOperationsUpdate, _) => Scope::Nothing,
            (
                GetAccount | ListAccounts | GetOperationsUpdate | ListOperationsUpdates,
                Operations,
            ) => Scope::All,
            (_, Operations) => Scope::Nothing,
            // `sales_manager` reassigns any account's manager (the fields are checked by
            // `check_update_fields`); it changes nothing else.
            (UpdateAccount, SalesManager) => Scope::All,
            // The other changes are the account's own manager's alone.
            (
                UpdateAccount | MarkAccountAtRisk | MarkAccountChurned | ReactivateAccount
                | AddOutcome | UpdateOutcome | AddObligation | UpdateObligation | RecordCheckIn
                | IdentifyExpansion | RecordReferral,
                AccountManager,
            ) => Scope::Own,
            (
                UpdateAccount | MarkAccountAtRisk | MarkAccountChurned | ReactivateAccount
                | AddOutcome | UpdateOutcome | AddObligation | UpdateObligation | RecordCheckIn
                | IdentifyExpansion | RecordReferral,
                _,
            ) => Scope::Nothing,
            // Every read: `service`, `sales_manager` and `finance` read everything.
            (_, Service | SalesManager | Finance) => Scope::All,
            // The feed is the salesperson's own.
            (ListSalespersonFeed, SalesRep) => Scope::Own,
            (ListSalespersonFeed, AccountManager) => Scope::Nothing,
            // Due check-ins and portfolio metrics: an account manager for itself only.
            (ListDueCheckIns | GetPortfolioMetrics, AccountManager) => Scope::Own,
            (ListDueCheckIns | GetPortfolioMetrics, SalesRep) => Scope::Nothing,
            // The account and everything under it: the accounts it manages or sold.
            (_, AccountManager | SalesRep) => Scope::Own,
        }
    }

    fn verb(self) -> &'static str {
        use Action::*;
        match self {
            OpenAccount => "open",
            GetAccount | ListAccounts => "read",
            UpdateAccount => "update",
            MarkAccountAtRisk => "mark at risk",
            MarkAccountChurned => "mark churned",
            ReactivateAccount => "reactivate",
            AddOutcome | UpdateOutcome => "change outcomes of",
            AddObligation | UpdateObligation => "change obligations of",
            RecordCheckIn => "record check-ins on",
            GetCheckIn | ListCheckIns => "read check-ins of",
            ListDueCheckIns => "list due check-ins of",
            PostOperationsUpdate => "post operations updates on",
            GetOperationsUpdate | ListOperationsUpdates => "read operations updates of",
            ListSalespersonFeed => "read the salesperson feed of",
            GetAccountHealth => "read the health of",
            GetCustomerLifetimeValue => "read the lifetime value of",
            IdentifyExpansion => "identify expansions on",
            GetExpansion | ListExpansions => "read expansions of",
            RecordReferral => "record referrals on",
            GetReferral | ListReferrals => "read referrals of",
            GetPortfolioMetrics => "read portfolio metrics of",
        }
    }
}

/// Whether `subject` acting as `role` owns `account`: an `account_manager` owns the accounts it
/// manages, a `sales_rep` those where it is the salesperson; other roles own none (they reach
/// all or nothing).
pub fn owns(role: Role, subject: &str, account: &Account) -> bool {
    match role {
        Role::AccountManager => account.account_manager == subject,
        Role::SalesRep => account.salesperson == subject,
        _ => false,
    }
}

/// Whether any of the caller's roles reaches `account` for `action`.
pub fn may(principal: &Principal, action: Action, account: &Account) -> bool {
    principal
        .roles
        .iter()
        .any(|role| match action.grant(*role) {
            Scope::All => true,
            Scope::Own => owns(*role, &principal.subject, account),
            Scope::Nothing => false,
        })
}

/// Whether the caller may see `account` at all (GetAccount's grant). One it may not see is
/// answered NOT_FOUND, exactly like one that does not exist, whatever the method, and so is
/// everything under it.
pub fn may_read(principal: &Principal, account: &Account) -> bool {
    may(principal, Action::GetAccount, account)
}

/// The answer to a caller about one loaded account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Answer NOT_FOUND for what was asked (the account, or the resource under it), as if it
    /// did not exist.
    NotFound,
    /// Answer PERMISSION_DENIED with this message.
    Denied(String),
}

/// Decides `action` on `account` for the caller, in the order of the access rule:
/// PERMISSION_DENIED when none of its roles may ever do `action` (as [`require_role`]); NOT_FOUND
/// when it may not read the account; PERMISSION_DENIED when it reads it but does not own it for
/// this action; otherwise allowed. What depends on the request's values (which fields an update
/// names) is [`check_update_fields`].
pub fn decide(principal: &Principal, action: Action, account: &Account) -> Decision {
    if let Err(problem) = require_role(principal, action) {
        return Decision::Denied(problem.to_string());
    }
    if !may_read(principal, account) {
        return Decision::NotFound;
    }
    if may(principal, action, account) {
        return Decision::Allowed;
    }
    Decision::Denied(format!(
        "{} may not {} this account: only its account manager may",
        principal.subject,
        action.verb()
    ))
}

/// NOT_FOUND for the account `accounts/{id}`, the same whether it does not exist or may not be
/// read.
pub fn account_not_found(name: &str) -> Problem {
    Problem::NotFound {
        resource: ACCOUNT,
        name: name.to_owned(),
    }
}

/// [`decide`] as a result, NOT_FOUND naming the account.
///
/// # Errors
/// PERMISSION_DENIED or NOT_FOUND as [`decide`] says.
pub fn check(principal: &Principal, action: Action, account: &Account) -> Result<(), Problem> {
    check_under(
        principal,
        action,
        account,
        ACCOUNT,
        &account_name(&account.id),
    )
}

/// [`decide`] as a result for a resource under `account` (a check-in, an operations update, an
/// expansion, a referral): NOT_FOUND names that resource (`resource`, e.g. [`CHECK_IN`], and its
/// `name` as asked), so that an account the caller may not read and a missing child look alike.
///
/// # Errors
/// PERMISSION_DENIED or NOT_FOUND as [`decide`] says.
pub fn check_under(
    principal: &Principal,
    action: Action,
    account: &Account,
    resource: &'static str,
    name: &str,
) -> Result<(), Problem> {
    match decide(principal, action, account) {
        Decision::Allowed => Ok(()),
        Decision::NotFound => Err(Problem::NotFound {
            resource,
            name: name.to_owned(),
        }),
        Decision::Denied(message) => Err(Problem::PermissionDenied(message)),
    }
}

/// Refuses an UpdateAccount whose fields the caller may not replace. The account's own account
/// manager replaces any updatable field; a `sales_manager` (that is not the account's manager)
/// only `account_manager`, to reassign an account whose manager may have left.
///
/// # Errors
/// PERMISSION_DENIED naming the fields refused.
pub fn check_update_fields(
    principal: &Principal,
    account: &Account,
    fields: &[AccountField],
) -> Result<(), Problem> {
    if principal.has(Role::AccountManager)
        && owns(Role::AccountManager, &principal.subject, account)
    {
        return Ok(());
    }
    let allowed: &[AccountField] = if principal.has(Role::SalesManager) {
        &[AccountField::AccountManager]
    } else {
        &[]
    };
    let refused: Vec<&str> = fields
        .iter()
        .filter(|f| !allowed.contains(f))
        .map(|f| f.code())
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Problem::PermissionDenied(format!(
            "{} may not update {} of this account: a sales_manager only reassigns its \
             account_manager",
            principal.subject,
            refused.join(", ")
        )))
    }
}

/// What a ListAccounts may cover: the `account_manager` and `salesperson` filters to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFilter {
    pub account_manager: Option<String>,
    pub salesperson: Option<String>,
}

/// The filters a ListAccounts applies for the caller. A caller that reads every account gets
/// the requested filters. An `account_manager` lists only its own accounts (the filter is
/// itself, by default too) and may narrow them by salesperson; a `sales_rep` only those it sold
/// (likewise). A caller with both roles asking for neither gets its managed accounts: two
/// equality filters cannot express "managed or sold".
///
/// # Errors
/// PERMISSION_DENIED for an `account_manager` naming another account manager, a `sales_rep`
/// naming another salesperson.
pub fn account_filter(
    principal: &Principal,
    account_manager: Option<String>,
    salesperson: Option<String>,
) -> Result<AccountFilter, Problem> {
    if scope(principal, Action::ListAccounts) == Scope::All {
        return Ok(AccountFilter {
            account_manager,
            salesperson,
        });
    }
    let me = principal.subject.as_str();
    let mine = |r: &Option<String>| r.as_deref() == Some(me);
    let am = principal.has(Role::AccountManager);
    let rep = principal.has(Role::SalesRep);
    if am && (mine(&account_manager) || (account_manager.is_none() && !(rep && mine(&salesperson))))
    {
        return Ok(AccountFilter {
            account_manager: Some(me.to_owned()),
            salesperson,
        });
    }
    if rep && (salesperson.is_none() || mine(&salesperson)) {
        return Ok(AccountFilter {
            account_manager,
            salesperson: Some(me.to_owned()),
        });
    }
    Err(Problem::PermissionDenied(format!(
        "{me} may only list the accounts it manages or sold"
    )))
}

/// The account manager a ListDueCheckIns covers: the requested one (`None`: all) for a caller
/// that reads all; the caller itself for an `account_manager`, which may ask only for itself.
///
/// # Errors
/// PERMISSION_DENIED for an `account_manager` naming another, or a caller with no role that
/// lists due check-ins.
pub fn due_check_ins_manager(
    principal: &Principal,
    requested: Option<String>,
) -> Result<Option<String>, Problem> {
    match scope(principal, Action::ListDueCheckIns) {
        Scope::All => Ok(requested),
        Scope::Own | Scope::Nothing => owners_for(
            principal,
            Action::ListDueCheckIns,
            requested.into_iter().collect(),
        )
        .map(|owners| owners.into_iter().next()),
    }
}

/// The account managers a GetPortfolioMetrics covers: the requested ones (empty: all) for a
/// caller that reads all; the caller alone for an `account_manager`.
///
/// # Errors
/// PERMISSION_DENIED for an `account_manager` naming another, or a caller with no role that
/// reads portfolio metrics; INVALID_ARGUMENT `account_managers` past
/// [`MAX_REPORT_SUBJECTS`].
pub fn portfolio_managers(
    principal: &Principal,
    requested: Vec<String>,
) -> Result<Vec<String>, Problem> {
    if requested.len() > MAX_REPORT_SUBJECTS {
        require_role(principal, Action::GetPortfolioMetrics)?;
        return Err(Problem::invalid(
            "account_managers",
            format!("at most {MAX_REPORT_SUBJECTS} account managers"),
        ));
    }
    let mut managers = owners_for(principal, Action::GetPortfolioMetrics, requested)?;
    managers.sort();
    managers.dedup();
    Ok(managers)
}

/// The salesperson whose feed a ListSalespersonFeed reads: the requested one for a caller that
/// reads every feed; a `sales_rep`'s own (also when it names none).
///
/// # Errors
/// PERMISSION_DENIED for a `sales_rep` naming another salesperson, or a caller with no role that
/// reads feeds; INVALID_ARGUMENT `salesperson` when a caller that is no `sales_rep` names none.
pub fn feed_salesperson(
    principal: &Principal,
    requested: Option<String>,
) -> Result<String, Problem> {
    match (scope(principal, Action::ListSalespersonFeed), requested) {
        (Scope::All, Some(s)) => Ok(s),
        (Scope::All, None) if principal.has(Role::SalesRep) => Ok(principal.subject.clone()),
        (Scope::All, None) => Err(Problem::invalid(
            "salesperson",
            "required: whose feed to read",
        )),
        (_, requested) => owners_for(
            principal,
            Action::ListSalespersonFeed,
            requested.into_iter().collect(),
        )
        .and_then(|owners| {
            owners
                .into_iter()
                .next()
                .ok_or_else(|| Problem::internal("owners_for answered no owner for its own scope"))
        }),
    }
}
