//! Who may do what to handoffs, as the proto's authorization comment writes it: one table of
//! grants ([`Action::grant`]), what "own" means for each role ([`owns`]: the `salesperson` for a
//! `sales_rep`, the assigned `account_manager` for an `account_manager`), and one table of which
//! fields each caller may replace with UpdateHandoff, and in which statuses ([`writable`]).
//!
//! The app asks once per call: [`require_role`] before the handoff is loaded (PERMISSION_DENIED
//! for a caller none of whose roles may ever call the method), then [`check`] on the loaded
//! handoff (NOT_FOUND for one the caller may not read, PERMISSION_DENIED for one it reads but may
//! not change). What depends on the request's values (whom an account manager assigns, which
//! fields an update names) is checked by the move itself ([`super::lifecycle`], [`super::edit`]),
//! with the helpers below.

use closeloop_kit::access::{self as kit, Action as _, Scope};
use closeloop_kit::{Principal, Problem, Role};

pub use closeloop_kit::access::{owners_for, require_role, scope};

use super::edit::Field;
use super::handoff::Handoff;
use super::vocabulary::{HandoffId, HandoffStatus};

/// The resource type NOT_FOUND names in the domain; the API renames it to
/// `closeloop.handoff.v1.Handoff`.
pub const RESOURCE: &str = "handoff";

/// What a caller wants to do: one action per method (the three reads share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    StartHandoff,
    /// GetHandoff, ListHandoffs, GetHandoffReadiness.
    Read,
    UpdateHandoff,
    AssignAccountManager,
    SubmitHandoff,
    RejectHandoff,
    AcceptHandoff,
    ScheduleIntroduction,
    CompleteIntroduction,
    UpdateOnboardingStepStatus,
}

impl Action {
    /// Every action, for tests that walk the whole table.
    pub const ALL: [Action; 10] = [
        Action::StartHandoff,
        Action::Read,
        Action::UpdateHandoff,
        Action::AssignAccountManager,
        Action::SubmitHandoff,
        Action::RejectHandoff,
        Action::AcceptHandoff,
        Action::ScheduleIntroduction,
        Action::CompleteIntroduction,
        Action::UpdateOnboardingStepStatus,
    ];
}

impl kit::Action for Action {
    const RESOURCES: &'static str = "handoffs";

    /// `Scope::Own` means the handoffs the role owns, as [`owns`] says.
    fn grant(self, role: Role) -> Scope {
        use Action::*;
        use Role::*;
        match (self, role) {
            (StartHandoff, Service) => Scope::All,
            (Read, Service | AccountManager | SalesManager) => Scope::All,
            (Read, SalesRep) => Scope::Own,
            (StartHandoff, _) => Scope::Nothing,
            (_, SalesManager) => Scope::All,
            // An account manager may assign itself to any unassigned handoff; whom it may assign
            // (itself only) and when (no other account manager) the move checks.
            (AssignAccountManager, AccountManager) => Scope::All,
            (
                UpdateHandoff
                | AssignAccountManager
                | SubmitHandoff
                | ScheduleIntroduction
                | CompleteIntroduction
                | UpdateOnboardingStepStatus,
                SalesRep,
            ) => Scope::Own,
            (
                UpdateHandoff
                | RejectHandoff
                | AcceptHandoff
                | ScheduleIntroduction
                | CompleteIntroduction
                | UpdateOnboardingStepStatus,
                AccountManager,
            ) => Scope::Own,
            _ => Scope::Nothing,
        }
    }

    fn verb(self) -> &'static str {
        use Action::*;
        match self {
            StartHandoff => "start",
            Read => "read",
            UpdateHandoff => "update",
            AssignAccountManager => "assign account managers to",
            SubmitHandoff => "submit",
            RejectHandoff => "reject",
            AcceptHandoff => "accept",
            ScheduleIntroduction => "schedule introductions of",
            CompleteIntroduction => "complete introductions of",
            UpdateOnboardingStepStatus => "update onboarding steps of",
        }
    }
}

/// Whether `subject` acting as `role` owns `h`: a `sales_rep` owns the handoffs where it is the
/// salesperson, an `account_manager` those assigned to it; other roles own none (they reach all
/// or nothing).
pub fn owns(role: Role, subject: &str, h: &Handoff) -> bool {
    match role {
        Role::SalesRep => h.salesperson == subject,
        Role::AccountManager => h.is_account_manager(subject),
        _ => false,
    }
}

/// Whether any of the caller's roles reaches `h` for `action`.
pub fn may(principal: &Principal, action: Action, h: &Handoff) -> bool {
    principal
        .roles
        .iter()
        .any(|role| match action.grant(*role) {
            Scope::All => true,
            Scope::Own => owns(*role, &principal.subject, h),
            Scope::Nothing => false,
        })
}

/// Whether the caller may see `h`. One it may not see is answered NOT_FOUND, exactly like one
/// that does not exist.
pub fn may_read(principal: &Principal, h: &Handoff) -> bool {
    may(principal, Action::Read, h)
}

/// NOT_FOUND for the handoff `id`, the same whether it does not exist or may not be read.
pub fn not_found(id: &HandoffId) -> Problem {
    Problem::NotFound {
        resource: RESOURCE,
        name: format!("handoffs/{id}"),
    }
}

/// Allows `action` on the loaded handoff `h`, in the order of the proto's access rule.
///
/// # Errors
/// - PERMISSION_DENIED when none of the caller's roles may ever do `action` (the same answer as
///   [`require_role`], for an app that did not ask it first);
/// - NOT_FOUND ([`not_found`]) when the caller may not read `h` (a `sales_rep` on another
///   salesperson's handoff, whatever the action);
/// - PERMISSION_DENIED when it reads `h` but does not own it for this action (an
///   `account_manager` on a handoff assigned to another account manager, or to none).
pub fn check(principal: &Principal, action: Action, h: &Handoff) -> Result<(), Problem> {
    require_role(principal, action)?;
    if !may_read(principal, h) {
        return Err(not_found(&h.id));
    }
    if may(principal, action, h) {
        return Ok(());
    }
    let whose = if principal.has(Role::AccountManager) {
        "assigned to it"
    } else {
        "where it is the salesperson"
    };
    Err(Problem::PermissionDenied(format!(
        "{} may only {} handoffs {whose}",
        principal.subject,
        action.verb()
    )))
}

/// The salesperson a ListHandoffs may cover: the requested one (`None`: every salesperson) for a
/// caller that reads all handoffs; the caller itself for a `sales_rep`, which may not ask for
/// another (an empty request means itself).
///
/// # Errors
/// PERMISSION_DENIED for a `sales_rep` asking for another salesperson, or a caller with no role
/// that reads handoffs.
pub fn listed_salesperson(
    principal: &Principal,
    requested: Option<String>,
) -> Result<Option<String>, Problem> {
    match scope(principal, Action::Read) {
        Scope::All => Ok(requested),
        Scope::Own | Scope::Nothing => {
            owners_for(principal, Action::Read, requested.into_iter().collect())
                .map(|owners| owners.into_iter().next())
        }
    }
}

/// The part a caller plays on one handoff, as far as UpdateHandoff's field rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// A `sales_manager`: every field.
    SalesManager,
    /// A `sales_rep` that is the handoff's salesperson.
    Salesperson,
    /// An `account_manager` that is the handoff's account manager.
    AssignedAccountManager,
}

/// The capacities the caller holds on `h` (several when it has several roles).
pub fn capacities(principal: &Principal, h: &Handoff) -> Vec<Capacity> {
    let mut out = Vec::new();
    if principal.has(Role::SalesManager) {
        out.push(Capacity::SalesManager);
    }
    if principal.has(Role::SalesRep) && owns(Role::SalesRep, &principal.subject, h) {
        out.push(Capacity::Salesperson);
    }
    if principal.has(Role::AccountManager) && owns(Role::AccountManager, &principal.subject, h) {
        out.push(Capacity::AssignedAccountManager);
    }
    out
}

const DRAFT: &[HandoffStatus] = &[HandoffStatus::Draft];
const ANY: &[HandoffStatus] = &HandoffStatus::ALL;
const NEVER: &[HandoffStatus] = &[];

/// The statuses in which `capacity` may replace `field` with UpdateHandoff (empty: never), as
/// UpdateHandoffRequest.update_mask lists them:
/// - in DRAFT, the salesperson or a sales_manager: the salesperson's fields, `salesperson` for a
///   sales_manager only;
/// - in any status, the assigned account manager or a sales_manager: `onboarding_plan` and
///   `account_manager_notes` (the fields the account manager owns).
pub fn writable(capacity: Capacity, field: Field) -> &'static [HandoffStatus] {
    use Capacity as C;
    use Field as F;
    match (capacity, field) {
        (
            C::SalesManager | C::AssignedAccountManager,
            F::OnboardingPlan | F::AccountManagerNotes,
        ) => ANY,
        (C::AssignedAccountManager, _) => NEVER,
        (C::SalesManager, _) => DRAFT,
        (C::Salesperson, F::Salesperson | F::AccountManagerNotes) => NEVER,
        (C::Salesperson, _) => DRAFT,
    }
}

/// Refuses an UpdateHandoff whose fields the caller may not replace: first every field it may
/// never replace (PERMISSION_DENIED), then every field it may not replace in the handoff's
/// current status (FAILED_PRECONDITION gate "status", one violation per field). Nothing is
/// changed by a refused update.
///
/// # Errors
/// As above.
pub fn check_fields(principal: &Principal, h: &Handoff, fields: &[Field]) -> Result<(), Problem> {
    let caps = capacities(principal, h);
    let statuses = |field: Field| -> Vec<HandoffStatus> {
        let mut out: Vec<HandoffStatus> = Vec::new();
        for c in &caps {
            for s in writable(*c, field) {
                if !out.contains(s) {
                    out.push(*s);
                }
            }
        }
        out
    };
    let denied: Vec<&str> = fields
        .iter()
        .filter(|f| statuses(**f).is_empty())
        .map(|f| f.code())
        .collect();
    if !denied.is_empty() {
        return Err(Problem::PermissionDenied(format!(
            "{} may not update {} of this handoff",
            principal.subject,
            denied.join(", ")
        )));
    }
    let blocked: Vec<closeloop_kit::error::GateViolation> = fields
        .iter()
        .filter(|f| !statuses(**f).contains(&h.status))
        .map(|f| closeloop_kit::error::GateViolation {
            gate: "status".into(),
            subject: "status".into(),
            description: format!(
                "the handoff is {}; {} changes only in DRAFT",
                h.status.code(),
                f.code()
            ),
        })
        .collect();
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(Problem::FailedPrecondition(blocked))
    }
}
