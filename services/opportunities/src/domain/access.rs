//! Who may do what to opportunities. One table ([`scope`]) says, per action, which roles act on
//! every opportunity and which only on their own; everything else is refused.

use closeloop_kit::{Principal, Problem, Role};

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read one opportunity, list them, or read reports.
    Read,
    /// Create one.
    Create,
    /// Change one: update, line items, qualification, stage, close.
    Change,
    /// Give an opportunity to another owner.
    Reassign,
    /// Approve a discount.
    ApproveDiscount,
}

/// How far a caller's permission reaches for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Any opportunity, any owner.
    All,
    /// Only opportunities the caller owns.
    Own,
    /// None.
    Nothing,
}

/// The table: the widest scope any of the caller's roles grants for `action`.
pub fn scope(principal: &Principal, action: Action) -> Scope {
    use Action::*;
    use Role::*;
    let grant = |role: Role| -> Scope {
        match (action, role) {
            (Read, SalesManager | Service | AccountManager | Finance) => Scope::All,
            (Read, SalesRep) => Scope::Own,
            (Create, SalesManager | Service) => Scope::All,
            (Create, SalesRep) => Scope::Own,
            (Change, SalesManager) => Scope::All,
            (Change, SalesRep) => Scope::Own,
            (Reassign | ApproveDiscount, SalesManager) => Scope::All,
            _ => Scope::Nothing,
        }
    };
    principal
        .roles
        .iter()
        .map(|r| grant(*r))
        .fold(Scope::Nothing, |best, s| match (best, s) {
            (Scope::All, _) | (_, Scope::All) => Scope::All,
            (Scope::Own, _) | (_, Scope::Own) => Scope::Own,
            _ => Scope::Nothing,
        })
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Create => "create",
        Action::Change => "change",
        Action::Reassign => "reassign",
        Action::ApproveDiscount => "approve discounts on",
    }
}

/// Allows `action` on an opportunity owned by `owner`.
///
/// # Errors
/// PERMISSION_DENIED saying why.
pub fn authorize(principal: &Principal, action: Action, owner: &str) -> Result<(), Problem> {
    match scope(principal, action) {
        Scope::All => Ok(()),
        Scope::Own if owner == principal.subject => Ok(()),
        Scope::Own => Err(Problem::PermissionDenied(format!(
            "{} may only {} opportunities it owns",
            principal.subject,
            describe(action)
        ))),
        Scope::Nothing => Err(Problem::PermissionDenied(format!(
            "{} has no role that may {} opportunities",
            principal.subject,
            describe(action)
        ))),
    }
}

/// Whether the caller may see the opportunity owned by `owner`. One it may not see is answered
/// NOT_FOUND, exactly like one that does not exist.
pub fn may_read(principal: &Principal, owner: &str) -> bool {
    match scope(principal, Action::Read) {
        Scope::All => true,
        Scope::Own => owner == principal.subject,
        Scope::Nothing => false,
    }
}

/// Refuses at once a caller none of whose roles may ever do `action`, before the request is
/// even parsed (ownership is checked later, on the opportunity itself).
///
/// # Errors
/// PERMISSION_DENIED.
pub fn require_role(principal: &Principal, action: Action) -> Result<(), Problem> {
    match scope(principal, action) {
        Scope::Nothing => Err(Problem::PermissionDenied(format!(
            "{} has no role that may {} opportunities",
            principal.subject,
            describe(action)
        ))),
        Scope::All | Scope::Own => Ok(()),
    }
}

/// The owners a listing or report may cover: the requested ones when the caller reads all, or
/// just the caller when it reads its own (asking for others is refused).
///
/// # Errors
/// PERMISSION_DENIED when the caller asks for owners it may not read.
pub fn readable_owners(
    principal: &Principal,
    requested: Vec<String>,
) -> Result<Vec<String>, Problem> {
    match scope(principal, Action::Read) {
        Scope::All => Ok(requested),
        Scope::Own if requested.iter().all(|o| *o == principal.subject) => {
            Ok(vec![principal.subject.clone()])
        }
        Scope::Own => Err(Problem::PermissionDenied(format!(
            "{} may only read its own opportunities",
            principal.subject
        ))),
        Scope::Nothing => Err(Problem::PermissionDenied(format!(
            "{} has no role that may read opportunities",
            principal.subject
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(subject: &str, roles: &[Role]) -> Principal {
        Principal {
            subject: subject.into(),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn reps_act_on_their_own_managers_on_all() {
        let rep = who("ana", &[Role::SalesRep]);
        let mgr = who("max", &[Role::SalesManager]);
        assert!(authorize(&rep, Action::Change, "ana").is_ok());
        assert!(authorize(&rep, Action::Change, "bob").is_err());
        assert!(authorize(&rep, Action::Read, "bob").is_err());
        assert!(authorize(&rep, Action::ApproveDiscount, "ana").is_err());
        assert!(authorize(&rep, Action::Reassign, "ana").is_err());
        for action in [
            Action::Read,
            Action::Create,
            Action::Change,
            Action::Reassign,
            Action::ApproveDiscount,
        ] {
            assert!(authorize(&mgr, action, "bob").is_ok(), "{action:?}");
        }
    }

    #[test]
    fn other_roles_read_but_do_not_change() {
        for role in [Role::Service, Role::AccountManager, Role::Finance] {
            let p = who("svc", &[role]);
            assert!(authorize(&p, Action::Read, "bob").is_ok());
            assert!(authorize(&p, Action::Change, "bob").is_err());
            assert!(authorize(&p, Action::ApproveDiscount, "bob").is_err());
        }
        assert!(authorize(&who("svc", &[Role::Service]), Action::Create, "bob").is_ok());
        assert!(authorize(&who("ops", &[Role::Operations]), Action::Read, "bob").is_err());
        assert!(authorize(&who("none", &[]), Action::Read, "none").is_err());
    }

    #[test]
    fn widest_role_wins() {
        let both = who("ana", &[Role::SalesRep, Role::SalesManager]);
        assert_eq!(scope(&both, Action::Change), Scope::All);
    }

    #[test]
    fn report_owners_are_forced_for_reps() {
        let rep = who("ana", &[Role::SalesRep]);
        assert_eq!(
            readable_owners(&rep, vec![]).unwrap(),
            vec!["ana".to_string()]
        );
        assert!(readable_owners(&rep, vec!["bob".into()]).is_err());
        let mgr = who("max", &[Role::SalesManager]);
        assert!(readable_owners(&mgr, vec![]).unwrap().is_empty());
    }
}
