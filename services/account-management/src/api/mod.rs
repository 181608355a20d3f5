//! gRPC handlers for `closeloop.accounts.v1.AccountService` ([`accounts`]): each one reads the
//! caller, checks its role, parses the request ([`requests`]), calls the application, and builds
//! the answer ([`responses`]). The domain's refusals are renamed into the API's words on the way
//! out.

pub mod accounts;
pub mod enums;
pub mod requests;
pub mod responses;

use closeloop_kit::paging::PageTokens;
use closeloop_kit::rpc::Mutation;
use closeloop_kit::{Principal, Problem};
use tonic::{Request, Status};

use crate::app::App;
use crate::app::accounts::Target;
use crate::domain::access::{self, Action};

/// The gRPC service.
#[derive(Clone)]
pub struct Api {
    app: App,
    pages: PageTokens,
    /// Bytes a page of a listing holds at most: the message limit less room for the rest of
    /// the answer.
    page_bytes: usize,
}

impl Api {
    /// Serves `app`, issuing page tokens with `pages`, answers of at most `max_message_bytes`.
    pub fn new(app: App, pages: PageTokens, max_message_bytes: usize) -> Self {
        Api {
            app,
            pages,
            page_bytes: max_message_bytes.saturating_sub(4096).max(1024),
        }
    }
}

/// A refusal of the application, in the API's words.
fn in_api_words(problem: Problem) -> Status {
    problem
        .rename(requests::FIELDS, requests::RESOURCES)
        .into_status()
}

/// The account a mutating call names in `field`, once the caller is known to hold a role that
/// may do `action` at all.
fn target<'a>(
    call: &'a Mutation,
    action: Action,
    field: &str,
    name: &str,
    etag: &'a str,
) -> Result<Target<'a>, Problem> {
    access::require_role(&call.principal, action)?;
    Ok(Target {
        principal: &call.principal,
        id: requests::account_id(field, name)?,
        etag,
        action,
        key: call.key.as_ref(),
    })
}

/// The caller of a read, once it is known to hold a role that may do `action`.
fn reader<T>(request: &Request<T>, action: Action) -> Result<Principal, Problem> {
    let principal = closeloop_kit::rpc::caller(request)?;
    access::require_role(&principal, action)?;
    Ok(principal)
}
