//! Who may do what, as data: a service declares its actions and, per action, what each role may
//! reach ([`Action::grant`]: every resource, only those the caller owns, or nothing); the widest
//! grant of the caller's roles decides. The checks and their refusals are written once here.

use crate::auth::{Principal, Role};
use crate::error::Problem;

/// How far a caller's permission reaches for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every resource, whoever owns it.
    All,
    /// Only the resources the caller owns.
    Own,
    /// None.
    Nothing,
}

/// A service's action: its table of grants and the words its refusals use.
pub trait Action: Copy {
    /// The resources the actions are on, plural, e.g. `opportunities`.
    const RESOURCES: &'static str;

    /// What `role` may reach with this action.
    fn grant(self, role: Role) -> Scope;

    /// The action as a verb, e.g. `change`, `approve discounts on`.
    fn verb(self) -> &'static str;
}

/// The widest scope any of the caller's roles grants for `action`.
pub fn scope<A: Action>(principal: &Principal, action: A) -> Scope {
    principal
        .roles
        .iter()
        .map(|r| action.grant(*r))
        .fold(Scope::Nothing, |best, s| match (best, s) {
            (Scope::All, _) | (_, Scope::All) => Scope::All,
            (Scope::Own, _) | (_, Scope::Own) => Scope::Own,
            _ => Scope::Nothing,
        })
}

fn no_role<A: Action>(principal: &Principal, action: A) -> Problem {
    Problem::PermissionDenied(format!(
        "{} has no role that may {} {}",
        principal.subject,
        action.verb(),
        A::RESOURCES
    ))
}

/// Whether the caller may do `action` on a resource owned by `owner`.
pub fn may<A: Action>(principal: &Principal, action: A, owner: &str) -> bool {
    match scope(principal, action) {
        Scope::All => true,
        Scope::Own => owner == principal.subject,
        Scope::Nothing => false,
    }
}

/// Allows `action` on a resource owned by `owner`.
///
/// # Errors
/// PERMISSION_DENIED saying why.
pub fn authorize<A: Action>(principal: &Principal, action: A, owner: &str) -> Result<(), Problem> {
    match scope(principal, action) {
        Scope::All => Ok(()),
        Scope::Own if owner == principal.subject => Ok(()),
        Scope::Own => Err(Problem::PermissionDenied(format!(
            "{} may only {} {} it owns",
            principal.subject,
            action.verb(),
            A::RESOURCES
        ))),
        Scope::Nothing => Err(no_role(principal, action)),
    }
}

/// Refuses at once a caller none of whose roles may ever do `action`, before the request is
/// even parsed (ownership is checked later, on the resource itself).
///
/// # Errors
/// PERMISSION_DENIED.
pub fn require_role<A: Action>(principal: &Principal, action: A) -> Result<(), Problem> {
    match scope(principal, action) {
        Scope::Nothing => Err(no_role(principal, action)),
        Scope::All | Scope::Own => Ok(()),
    }
}

/// The owners a listing or report may cover with `action`: the requested ones when the caller
/// reaches all, or just the caller when it reaches its own (asking for others is refused).
///
/// # Errors
/// PERMISSION_DENIED when the caller asks for owners it may not reach.
pub fn owners_for<A: Action>(
    principal: &Principal,
    action: A,
    requested: Vec<String>,
) -> Result<Vec<String>, Problem> {
    match scope(principal, action) {
        Scope::All => Ok(requested),
        Scope::Own if requested.iter().all(|o| *o == principal.subject) => {
            Ok(vec![principal.subject.clone()])
        }
        Scope::Own => Err(Problem::PermissionDenied(format!(
            "{} may only {} its own {}",
            principal.subject,
            action.verb(),
            A::RESOURCES
        ))),
        Scope::Nothing => Err(no_role(principal, action)),
    }
}
