//! Who may do what to opportunities: one table ([`Action::grant`]) says, per action, which roles
//! act on every opportunity and which only on their own; everything else is refused. The checks
//! are the kit's.

use closeloop_kit::Principal;
use closeloop_kit::Role;
pub use closeloop_kit::access::{Scope, authorize, require_role, scope};

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read one opportunity, list them, or read reports.
    Read,
    Create,
    /// Change one: update, line items, qualification, stage, close.
    Change,
    /// Give an opportunity to another owner.
    Reassign,
    ApproveDiscount,
}

impl closeloop_kit::access::Action for Action {
    const RESOURCES: &'static str = "opportunities";

    fn grant(self, role: Role) -> Scope {
        use Action::*;
        use Role::*;
        match (self, role) {
            (Read, SalesManager | Service | AccountManager | Finance) => Scope::All,
            (Read, SalesRep) => Scope::Own,
            (Create, SalesManager | Service) => Scope::All,
            (Create, SalesRep) => Scope::Own,
            (Change, SalesManager) => Scope::All,
            (Change, SalesRep) => Scope::Own,
            (Reassign | ApproveDiscount, SalesManager) => Scope::All,
            _ => Scope::Nothing,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Change => "change",
            Action::Reassign => "reassign",
            Action::ApproveDiscount => "approve discounts on",
        }
    }
}

/// Whether the caller may see the opportunity owned by `owner`. One it may not see is answered
/// NOT_FOUND, exactly like one that does not exist.
pub fn may_read(principal: &Principal, owner: &str) -> bool {
    closeloop_kit::access::may(principal, Action::Read, owner)
}

/// The owners a listing or report may cover: the requested ones when the caller reads all, or
/// just the caller when it reads its own (asking for others is refused).
///
/// # Errors
/// PERMISSION_DENIED when the caller asks for owners it may not read.
pub fn readable_owners(
    principal: &Principal,
    requested: Vec<String>,
) -> Result<Vec<String>, closeloop_kit::Problem> {
    closeloop_kit::access::owners_for(principal, Action::Read, requested)
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
