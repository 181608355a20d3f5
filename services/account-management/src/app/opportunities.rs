//! Expansions and referrals: each is inserted with the CreateOpportunity it owes written to
//! the outbox, in one transaction (the account itself does not change).

use closeloop_kit::outbox::{self, OwedStatus};
use closeloop_kit::{Principal, Problem};
use prost::Message;

use super::App;
use super::accounts::Target;
use crate::domain::access::{self, Action, EXPANSION, REFERRAL};
use crate::domain::opportunities::{Expansion, ExpansionInput, Referral, ReferralInput};
use crate::domain::vocabulary::{
    AccountId, ExpansionId, ExpansionKind, OpportunityRequestStatus, ReferralId,
};
use crate::owes;
use crate::store::opportunities::RecordKey;

impl App {
    /// The state of the owed call `command_id` in the outbox.
    ///
    /// # Errors
    /// Database errors.
    pub async fn owed(&self, command_id: &str) -> Result<OwedStatus, Problem> {
        outbox::owed_status(self.store.db(), command_id).await
    }

    /// IdentifyExpansion.
    ///
    /// # Errors
    /// As [`App::change_account`], and what
    /// [`crate::domain::account::Account::identify_expansion`] refuses.
    pub async fn identify_expansion<M: Message + Default>(
        &self,
        target: Target<'_>,
        input: ExpansionInput,
        respond: impl FnOnce(&Expansion, &OwedStatus) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, account) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let (expansion, call) =
            account.identify_expansion(ExpansionId::new(), input, target.principal, now)?;
        self.store.insert_expansion(work.conn(), &expansion).await?;
        self.outbox
            .enqueue(work.conn(), &owes::create_opportunity(&call))
            .await?;
        let pending = OwedStatus::written(now);
        let answer = respond(&expansion, &pending);
        let answer = work.commit(answer).await?;
        self.outbox.wake();
        Ok(answer)
    }

    /// RecordReferral.
    ///
    /// # Errors
    /// As [`App::change_account`], and what
    /// [`crate::domain::account::Account::record_referral`] refuses.
    pub async fn record_referral<M: Message + Default>(
        &self,
        target: Target<'_>,
        input: ReferralInput,
        respond: impl FnOnce(&Referral, &OwedStatus) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, account) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let (referral, call) = account.record_referral(
            ReferralId::new(),
            input,
            target.principal,
            &self.policy,
            now,
        )?;
        self.store.insert_referral(work.conn(), &referral).await?;
        self.outbox
            .enqueue(work.conn(), &owes::create_opportunity(&call))
            .await?;
        let pending = OwedStatus::written(now);
        let answer = respond(&referral, &pending);
        let answer = work.commit(answer).await?;
        self.outbox.wake();
        Ok(answer)
    }

    async fn account_for_child(
        &self,
        principal: &Principal,
        action: Action,
        account: &AccountId,
        resource: &'static str,
        name: &str,
    ) -> Result<(), Problem> {
        access::require_role(principal, action)?;
        let a = self
            .store
            .get_account(account)
            .await?
            .ok_or_else(|| Problem::NotFound {
                resource,
                name: name.to_owned(),
            })?;
        access::check_under(principal, action, &a, resource, name)
    }

    /// GetExpansion, with its owed call's state.
    ///
    /// # Errors
    /// PERMISSION_DENIED; NOT_FOUND naming the expansion; database errors.
    pub async fn read_expansion(
        &self,
        principal: &Principal,
        account: &AccountId,
        id: &ExpansionId,
        name: &str,
    ) -> Result<(Expansion, OwedStatus), Problem> {
        self.account_for_child(principal, Action::GetExpansion, account, EXPANSION, name)
            .await?;
        let e = self
            .store
            .get_expansion(account, id.as_str())
            .await?
            .ok_or_else(|| Problem::NotFound {
                resource: EXPANSION,
                name: name.to_owned(),
            })?;
        let owed = self.owed(&e.request.command_id).await?;
        Ok((e, owed))
    }

    /// GetReferral, with its owed call's state.
    ///
    /// # Errors
    /// PERMISSION_DENIED; NOT_FOUND naming the referral; database errors.
    pub async fn read_referral(
        &self,
        principal: &Principal,
        account: &AccountId,
        id: &ReferralId,
        name: &str,
    ) -> Result<(Referral, OwedStatus), Problem> {
        self.account_for_child(principal, Action::GetReferral, account, REFERRAL, name)
            .await?;
        let r = self
            .store
            .get_referral(account, id.as_str())
            .await?
            .ok_or_else(|| Problem::NotFound {
                resource: REFERRAL,
                name: name.to_owned(),
            })?;
        let owed = self.owed(&r.request.command_id).await?;
        Ok((r, owed))
    }

    /// ListExpansions: a page, most recent first, each with its owed call's state.
    ///
    /// # Errors
    /// As [`App::read_account`].
    pub async fn expansions(
        &self,
        principal: &Principal,
        account: &AccountId,
        status: Option<OpportunityRequestStatus>,
        kind: Option<ExpansionKind>,
        after: Option<&RecordKey>,
        limit: u32,
    ) -> Result<Vec<(Expansion, OwedStatus)>, Problem> {
        self.read_account(principal, Action::ListExpansions, account)
            .await?;
        let rows = self
            .store
            .list_expansions(account, status, kind, after, limit)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for e in rows {
            let owed = self.owed(&e.request.command_id).await?;
            out.push((e, owed));
        }
        Ok(out)
    }

    /// ListReferrals: a page, most recent first, each with its owed call's state.
    ///
    /// # Errors
    /// As [`App::read_account`].
    pub async fn referrals(
        &self,
        principal: &Principal,
        account: &AccountId,
        status: Option<OpportunityRequestStatus>,
        after: Option<&RecordKey>,
        limit: u32,
    ) -> Result<Vec<(Referral, OwedStatus)>, Problem> {
        self.read_account(principal, Action::ListReferrals, account)
            .await?;
        let rows = self
            .store
            .list_referrals(account, status, after, limit)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let owed = self.owed(&r.request.command_id).await?;
            out.push((r, owed));
        }
        Ok(out)
    }
}
