//! Account use cases: each change runs in one transaction that loads the account (locked),
//! checks who may do it and the etag, applies the domain rule, saves it with its version bumped,
//! and stores the answer under the request's `request_id`. Either all of that commits or none of
//! it does.

use closeloop_kit::idempotency::{self, Begun, RequestKey, Work};
use closeloop_kit::{Principal, Problem};
use prost::Message;

use super::App;
use crate::domain::access::{self, Action};
use crate::domain::account::Account;
use crate::domain::opening::{OpenAccount, Opening, open_account};
use crate::domain::policy::Policy;
use crate::domain::vocabulary::AccountId;

/// Which account a change is for, and under which conditions.
pub struct Target<'a> {
    pub principal: &'a Principal,
    pub id: AccountId,
    /// The etag the caller holds (empty: no check).
    pub etag: &'a str,
    pub action: Action,
    pub key: Option<&'a RequestKey>,
}

/// An account as a caller sees it, as of now.
pub struct Seen<'a> {
    pub account: &'a Account,
    pub policy: &'a Policy,
    pub today: time::Date,
}

impl App {
    fn seen<'a>(&'a self, account: &'a Account) -> Seen<'a> {
        Seen {
            account,
            policy: &self.policy,
            today: self.clock.today(),
        }
    }

    /// OpenAccount: opens the customer's account, extends the one it has, or recognises a
    /// handoff already applied (the account unchanged).
    ///
    /// # Errors
    /// PERMISSION_DENIED for any role but `service`; what the domain refuses; ABORTED when a
    /// concurrent call opened the same customer's account; database errors.
    pub async fn open_account<M: Message + Default>(
        &self,
        principal: &Principal,
        key: Option<&RequestKey>,
        request: OpenAccount,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        access::require_role(principal, Action::OpenAccount)?;
        let now = self.clock.now_micros();
        let mut work = match idempotency::begin(self.store.db(), key, now).await? {
            Begun::Repeat(answer) => return Ok(answer),
            Begun::Fresh(work) => work,
        };
        let found = match self
            .store
            .load_by_handoff(work.conn(), &request.handoff)
            .await?
        {
            Some(a) => Some(a),
            None => {
                self.store
                    .load_by_customer(work.conn(), &request.customer.account_id)
                    .await?
            }
        };
        let opening = open_account(found, AccountId::new(), request, principal, now)?;
        match &opening {
            Opening::Unchanged(_) => {}
            Opening::Extended(a) => {
                let mut a = a.clone();
                a.version += 1;
                self.store
                    .save_account(work.conn(), &a, &self.policy)
                    .await?;
                let answer = respond(self.seen(&a));
                return work.commit(answer).await;
            }
            Opening::Opened(a) => {
                self.store
                    .insert_account(work.conn(), a, &self.policy)
                    .await?;
            }
        }
        let account = opening.into_account();
        let answer = respond(self.seen(&account));
        work.commit(answer).await
    }

    /// Reads one account the caller may see, for `action` (a read).
    ///
    /// # Errors
    /// PERMISSION_DENIED for a role that may never do `action`; NOT_FOUND when it does not
    /// exist or the caller may not read it; database errors.
    pub async fn read_account(
        &self,
        principal: &Principal,
        action: Action,
        id: &AccountId,
    ) -> Result<Account, Problem> {
        access::require_role(principal, action)?;
        let name = crate::domain::vocabulary::account_name(id);
        let account = self
            .store
            .get_account(id)
            .await?
            .ok_or_else(|| access::account_not_found(&name))?;
        access::check(principal, action, &account)?;
        Ok(account)
    }

    /// Starts a change: the transaction, and the account loaded and checked for access and
    /// etag. `Err(answer)` when the request was applied before (the stored answer).
    pub(crate) async fn begin<'k, M: Message + Default>(
        &self,
        target: &Target<'k>,
        now: i64,
    ) -> Result<Result<(Work<'k>, Account), M>, Problem> {
        access::require_role(target.principal, target.action)?;
        let mut work = match idempotency::begin(self.store.db(), target.key, now).await? {
            Begun::Repeat(answer) => return Ok(Err(answer)),
            Begun::Fresh(work) => work,
        };
        let name = crate::domain::vocabulary::account_name(&target.id);
        let account = self
            .store
            .load_account(work.conn(), &target.id)
            .await?
            .ok_or_else(|| access::account_not_found(&name))?;
        access::check(target.principal, target.action, &account)?;
        account.check_etag(target.etag)?;
        Ok(Ok((work, account)))
    }

    /// Applies `change` to the target account in one transaction, saves it with its version
    /// bumped, answers and commits.
    ///
    /// # Errors
    /// PERMISSION_DENIED for a role that may never do it, or one that reads the account but may
    /// not change it; NOT_FOUND when it does not exist or the caller may not read it; ABORTED
    /// on a stale etag or concurrent change; whatever the change refuses; database errors.
    /// Nothing is written on any error.
    pub async fn change_account<M: Message + Default>(
        &self,
        target: Target<'_>,
        change: impl FnOnce(&mut Account, &Principal, i64) -> Result<(), Problem>,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut account) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        change(&mut account, target.principal, now)?;
        account.version += 1;
        self.store
            .save_account(work.conn(), &account, &self.policy)
            .await?;
        let answer = respond(self.seen(&account));
        work.commit(answer).await
    }
}
