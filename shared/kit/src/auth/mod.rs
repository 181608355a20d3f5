//! Who the caller is: the [`Principal`] (subject + [`Role`]s) that a service's domain reads from
//! the request, and nothing about how it got there.
//!
//! The mechanics live beside it, split by what makes them change: `verify` turns a bearer JWT
//! into a `Principal` (checks, settings, the verified-token cache); `mint` writes tokens and
//! keeps the local signing secret (`closeloop up`, `closeloop token`, service-to-service calls).
//! Their public items are re-exported here, so `closeloop_kit::auth::Authenticator` and the like
//! are the paths to use.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Problem;

mod mint;
mod verify;

pub use mint::{TokenIssuer, load_or_create_secret, read_secret};
pub use verify::{
    AuthConfigError, AuthError, AuthSettings, Authenticator, MAX_SUBJECT_LEN, check_subject,
};

/// What a caller acts as. The set is closed: unknown role strings in a token are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Owns and works opportunities.
    SalesRep,
    /// Sees and changes all opportunities; approves discounts.
    SalesManager,
    /// Invoices and payments.
    Finance,
    /// Runs accounts after the handoff.
    AccountManager,
    /// Posts operations updates.
    Operations,
    /// Another closeloop service.
    Service,
}

impl Role {
    /// Every role, in a stable order (the order [`Role::parse`] tries them in).
    pub const ALL: [Role; 6] = [
        Role::SalesRep,
        Role::SalesManager,
        Role::Finance,
        Role::AccountManager,
        Role::Operations,
        Role::Service,
    ];

    /// The role's name in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SalesRep => "sales_rep",
            Role::SalesManager => "sales_manager",
            Role::Finance => "finance",
            Role::AccountManager => "account_manager",
            Role::Operations => "operations",
            Role::Service => "service",
        }
    }

    /// Parses a role name as written in tokens.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: what the auth layer attached to the request after the token verified, and all
/// that a service's domain learns about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub` claim.
    pub subject: String,
    /// The known roles the token grants.
    pub roles: Vec<Role>,
}

impl Principal {
    /// Whether the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }

    /// The role recorded on history entries: the most privileged one held.
    pub fn acting_role(&self) -> Role {
        const PRECEDENCE: [Role; 6] = [
            Role::Service,
            Role::SalesManager,
            Role::Finance,
            Role::AccountManager,
            Role::Operations,
            Role::SalesRep,
        ];
        PRECEDENCE
            .into_iter()
            .find(|r| self.has(*r))
            .unwrap_or(Role::SalesRep)
    }

    /// Reads the principal the auth layer attached to a request.
    ///
    /// # Errors
    /// UNAUTHENTICATED when the request did not pass the auth layer (a server wiring bug, or a
    /// health/reflection path that should not call this).
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Principal, Problem> {
        request
            .extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Problem::Unauthenticated("missing bearer token".into()))
    }
}

/// Seconds since the Unix epoch, the unit of JWT time claims (0 if the clock is before 1970).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Who did something, as a resource records it: the caller's subject and the role it acted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Token subject.
    pub subject: String,
    /// Role acted in, e.g. `sales_manager`.
    pub role: String,
}

impl Actor {
    /// The caller, in the role that lets it act: the first of its roles in the kit's order (as
    /// every service of the suite records it).
    pub fn of(principal: &Principal) -> Actor {
        Actor {
            subject: principal.subject.clone(),
            role: principal
                .roles
                .first()
                .map_or("", |r| r.as_str())
                .to_owned(),
        }
    }

    /// A service itself (`subject` its own), for what it does on its own: expiry, automatic
    /// resolutions.
    pub fn service(subject: &str) -> Actor {
        Actor {
            subject: subject.to_owned(),
            role: Role::Service.as_str().to_owned(),
        }
    }
}
