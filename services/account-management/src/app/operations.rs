//! Operations updates: posting an ISSUE or RESOLUTION changes the account's open issue count
//! (and a RESOLUTION its issue), so everything is saved in one transaction.

use std::collections::BTreeMap;

use closeloop_kit::{Principal, Problem};
use prost::Message;

use super::App;
use super::accounts::Target;
use crate::domain::access::{self, Action, OPERATIONS_UPDATE};
use crate::domain::operations::{FeedEntry, OperationsUpdate, OperationsUpdateInput, UpdateFilter};
use crate::domain::vocabulary::{AccountId, OperationsUpdateId};
use crate::store::operations::{UpdateKey, UpdateScope};

impl App {
    /// PostOperationsUpdate.
    ///
    /// # Errors
    /// As [`App::change_account`], and what
    /// [`crate::domain::account::Account::post_operations_update`] refuses.
    pub async fn post_operations_update<M: Message + Default>(
        &self,
        target: Target<'_>,
        input: OperationsUpdateInput,
        respond: impl FnOnce(&OperationsUpdate) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut account) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let issue = match &input.resolves {
            Some(id) => self.store.load_update(work.conn(), &account.id, id).await?,
            None => None,
        };
        let posted = account.post_operations_update(
            OperationsUpdateId::new(),
            input,
            issue.as_ref(),
            target.principal,
            now,
        )?;
        if posted.account_changed {
            account.version += 1;
            self.store
                .save_account(work.conn(), &account, &self.policy)
                .await?;
        }
        self.store
            .put_update(work.conn(), &posted.update, true)
            .await?;
        if let Some(issue) = &posted.resolved_issue {
            self.store.put_update(work.conn(), issue, false).await?;
        }
        let answer = respond(&posted.update);
        work.commit(answer).await
    }

    /// GetOperationsUpdate: NOT_FOUND names the update when it or its account does not exist,
    /// or the caller may not read the account.
    ///
    /// # Errors
    /// PERMISSION_DENIED for a role that may not read updates; NOT_FOUND; database errors.
    pub async fn read_update(
        &self,
        principal: &Principal,
        account: &AccountId,
        id: &OperationsUpdateId,
        name: &str,
    ) -> Result<OperationsUpdate, Problem> {
        access::require_role(principal, Action::GetOperationsUpdate)?;
        let not_found = || Problem::NotFound {
            resource: OPERATIONS_UPDATE,
            name: name.to_owned(),
        };
        let a = self
            .store
            .get_account(account)
            .await?
            .ok_or_else(not_found)?;
        access::check_under(
            principal,
            Action::GetOperationsUpdate,
            &a,
            OPERATIONS_UPDATE,
            name,
        )?;
        self.store
            .get_update(account, id)
            .await?
            .ok_or_else(not_found)
    }

    /// ListOperationsUpdates: a page of the account's updates, newest posted first.
    ///
    /// # Errors
    /// As [`App::read_account`].
    pub async fn updates(
        &self,
        principal: &Principal,
        account: &AccountId,
        filter: &UpdateFilter,
        after: Option<&UpdateKey>,
        limit: u32,
    ) -> Result<Vec<OperationsUpdate>, Problem> {
        self.read_account(principal, Action::ListOperationsUpdates, account)
            .await?;
        self.store
            .list_updates(UpdateScope::Account(account), filter, after, limit)
            .await
    }

    /// ListSalespersonFeed: a page of the updates on `salesperson`'s accounts, newest posted
    /// first, each with its account.
    ///
    /// # Errors
    /// Database errors.
    pub async fn feed(
        &self,
        salesperson: &str,
        filter: &UpdateFilter,
        after: Option<&UpdateKey>,
        limit: u32,
    ) -> Result<Vec<FeedEntry>, Problem> {
        let updates = self
            .store
            .list_updates(UpdateScope::Salesperson(salesperson), filter, after, limit)
            .await?;
        let mut ids: Vec<&AccountId> = updates.iter().map(|u| &u.account).collect();
        ids.sort_unstable();
        ids.dedup();
        let accounts: BTreeMap<AccountId, _> = self
            .store
            .accounts_by_id(&ids)
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        Ok(updates
            .into_iter()
            .filter_map(|u| {
                let a = accounts.get(&u.account)?;
                Some(FeedEntry::new(u, a))
            })
            .collect())
    }
}
