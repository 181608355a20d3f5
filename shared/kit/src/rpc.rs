//! The preamble every handler shares: who is calling, and for a call that changes something, the
//! identity of the request that makes a repeat return the first answer (AIP-155).
//!
//! The auth layer puts the caller ([`Principal`]) and the method's name ([`Method`]) in each
//! request's extensions, so a handler never types its own name.

use std::sync::Arc;

use prost::Message;
use tonic::Request;

use crate::auth::Principal;
use crate::error::Problem;
use crate::idempotency::RequestKey;

/// The gRPC method a request calls, from its path `/package.Service/Method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    path: Arc<str>,
    split: usize,
}

impl Method {
    /// The method of a request path, `None` when the path is not `/service/method`.
    pub fn from_path(path: &str) -> Option<Method> {
        let trimmed = path.strip_prefix('/')?;
        let split = trimmed.find('/')?;
        if split == 0 || split + 1 == trimmed.len() || trimmed[split + 1..].contains('/') {
            return None;
        }
        Some(Method {
            path: trimmed.into(),
            split,
        })
    }

    /// The fully qualified service, e.g. `closeloop.opportunities.v1.OpportunityService`.
    pub fn service(&self) -> &str {
        &self.path[..self.split]
    }

    /// The method's name, e.g. `CreateOpportunity`.
    pub fn name(&self) -> &str {
        &self.path[self.split + 1..]
    }
}

/// The caller of a request.
///
/// # Errors
/// UNAUTHENTICATED when the request did not pass the auth layer (a wiring bug).
pub fn caller<T>(request: &Request<T>) -> Result<Principal, Problem> {
    Principal::of(request)
}

/// A call that changes something: its caller and, when it carries a `request_id`, the key its
/// answer is stored under.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// Who calls.
    pub principal: Principal,
    /// The request's identity; `None` without a `request_id`.
    pub key: Option<RequestKey>,
}

/// Reads the preamble of a mutating request: the caller, and the request key built from the
/// method's name, the caller and the `request_id` that `request_id` picks out of the message.
///
/// # Errors
/// UNAUTHENTICATED without a caller; INVALID_ARGUMENT on `request_id` when it is malformed.
pub fn mutation<M: Message>(
    request: &Request<M>,
    request_id: impl FnOnce(&M) -> &str,
) -> Result<Mutation, Problem> {
    let principal = caller(request)?;
    let method = request
        .extensions()
        .get::<Method>()
        .ok_or_else(|| Problem::internal("the request carries no method name"))?;
    let message = request.get_ref();
    // The method's name alone: each service has its own database, and keys stay what they
    // were when handlers named themselves.
    let key = RequestKey::new(method.name(), &principal, request_id(message), message)?;
    Ok(Mutation { principal, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_read_from_paths() {
        let m = Method::from_path("/closeloop.opportunities.v1.OpportunityService/GetOpportunity")
            .unwrap();
        assert_eq!(m.service(), "closeloop.opportunities.v1.OpportunityService");
        assert_eq!(m.name(), "GetOpportunity");
        for bad in ["", "/", "/x", "/x/", "//y", "/x/y/z", "x/y"] {
            assert!(Method::from_path(bad).is_none(), "{bad:?}");
        }
    }
}
