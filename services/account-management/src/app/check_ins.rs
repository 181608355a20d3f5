//! Check-ins: recording one changes the account too (last check-in, next due date, outcomes),
//! so the check-in, its successor's corrected satisfaction change and the account are saved in
//! one transaction.

use closeloop_kit::{Principal, Problem};
use prost::Message;

use super::App;
use super::accounts::Target;
use crate::domain::access::{self, Action, CHECK_IN};
use crate::domain::check_ins::{CheckIn, CheckInInput, DueCheckIn};
use crate::domain::vocabulary::{AccountId, CheckInId};
use crate::store::check_ins::CheckInKey;

impl App {
    /// RecordCheckIn.
    ///
    /// # Errors
    /// As [`App::change_account`], and what [`crate::domain::account::Account::record_check_in`]
    /// refuses.
    pub async fn record_check_in<M: Message + Default>(
        &self,
        target: Target<'_>,
        input: CheckInInput,
        respond: impl FnOnce(&CheckIn) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut account) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let time = input.time(now);
        let (previous, next) = self
            .store
            .check_in_neighbours(work.conn(), &account.id, time)
            .await?;
        let recorded = account.record_check_in(
            CheckInId::new(),
            input,
            previous.as_ref(),
            next.as_ref(),
            target.principal,
            now,
        )?;
        account.version += 1;
        self.store
            .save_account(work.conn(), &account, &self.policy)
            .await?;
        self.store
            .insert_check_in(work.conn(), &recorded.check_in)
            .await?;
        if let (Some(mut n), Some((_, change))) = (next, recorded.next_satisfaction_change) {
            n.satisfaction_change = change;
            self.store.save_check_in(work.conn(), &n).await?;
        }
        let answer = respond(&recorded.check_in);
        work.commit(answer).await
    }

    /// GetCheckIn: NOT_FOUND names the check-in when it or its account does not exist, or the
    /// caller may not read the account.
    ///
    /// # Errors
    /// PERMISSION_DENIED for a role that may not read check-ins; NOT_FOUND; database errors.
    pub async fn read_check_in(
        &self,
        principal: &Principal,
        account: &AccountId,
        id: &CheckInId,
        name: &str,
    ) -> Result<CheckIn, Problem> {
        access::require_role(principal, Action::GetCheckIn)?;
        let not_found = || Problem::NotFound {
            resource: CHECK_IN,
            name: name.to_owned(),
        };
        let a = self
            .store
            .get_account(account)
            .await?
            .ok_or_else(not_found)?;
        access::check_under(principal, Action::GetCheckIn, &a, CHECK_IN, name)?;
        self.store
            .get_check_in(account, id)
            .await?
            .ok_or_else(not_found)
    }

    /// ListCheckIns: a page of the account's check-ins, most recent first.
    ///
    /// # Errors
    /// As [`App::read_account`].
    pub async fn check_ins(
        &self,
        principal: &Principal,
        account: &AccountId,
        after: Option<&CheckInKey>,
        limit: u32,
    ) -> Result<Vec<CheckIn>, Problem> {
        self.read_account(principal, Action::ListCheckIns, account)
            .await?;
        self.store.list_check_ins(account, after, limit).await
    }

    /// ListDueCheckIns: the due check-ins of `manager`'s accounts (`None`: all), earliest due
    /// first, after `after` (due day, account id), at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn due_check_ins(
        &self,
        manager: Option<&str>,
        horizon_days: i32,
        overdue_only: bool,
        after: Option<&(i64, String)>,
        limit: u32,
    ) -> Result<Vec<DueCheckIn>, Problem> {
        let today = self.clock.today();
        let horizon = if horizon_days > 0 {
            horizon_days
        } else {
            self.policy.due_check_in_horizon_days
        };
        let last_day = if overdue_only {
            today - time::Duration::days(1)
        } else {
            today + time::Duration::days(i64::from(horizon))
        };
        let accounts = self
            .store
            .list_due_accounts(manager, last_day, after, limit)
            .await?;
        Ok(accounts
            .iter()
            .filter_map(|a| a.due_check_in(&self.policy, today, horizon_days, overdue_only))
            .collect())
    }
}
