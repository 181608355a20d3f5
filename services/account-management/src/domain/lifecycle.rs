//! The account's status machine, as one table ([`StatusMove`]): ACTIVE -> AT_RISK
//! (MarkAccountAtRisk), ACTIVE | AT_RISK -> CHURNED (MarkAccountChurned), AT_RISK | CHURNED ->
//! ACTIVE (ReactivateAccount), and CHURNED -> ACTIVE when a later handoff reopens the account
//! (OpenAccount, [`super::opening`]). Every change carries a reason and is kept in the status
//! history with its effective date. Status is set by people: the computed health informs them
//! and never moves it.
//!
//! Each move checks the status it starts from first (gate "status", subject the current status),
//! then its values; a refused move changes nothing. Who may call each move is
//! [`super::access`], asked by the app before.

use closeloop_kit::time::date_of_micros;
use closeloop_kit::{Principal, Problem};
use time::Date;

use super::account::{Account, ChurnRecord, HISTORY_LIMIT_GATE, STATUS_GATE, StatusChange};
use super::limits::MAX_STATUS_CHANGES;
use super::vocabulary::{AccountStatus as S, Actor, ChurnReason};

/// A move of the account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMove {
    /// MarkAccountAtRisk.
    MarkAtRisk,
    /// MarkAccountChurned.
    MarkChurned,
    /// ReactivateAccount.
    Reactivate,
    /// OpenAccount extending a CHURNED account: "reopened by handoff".
    Reopen,
}

impl StatusMove {
    /// Every move, for tests that walk the whole table.
    pub const ALL: [StatusMove; 4] = [
        StatusMove::MarkAtRisk,
        StatusMove::MarkChurned,
        StatusMove::Reactivate,
        StatusMove::Reopen,
    ];

    /// The statuses the move starts from: the table every move checks first.
    pub fn from(self) -> &'static [S] {
        match self {
            StatusMove::MarkAtRisk => &[S::Active],
            StatusMove::MarkChurned => &[S::Active, S::AtRisk],
            StatusMove::Reactivate => &[S::AtRisk, S::Churned],
            StatusMove::Reopen => &[S::Churned],
        }
    }

    /// The status it leaves the account in.
    pub fn to(self) -> S {
        match self {
            StatusMove::MarkAtRisk => S::AtRisk,
            StatusMove::MarkChurned => S::Churned,
            StatusMove::Reactivate | StatusMove::Reopen => S::Active,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            StatusMove::MarkAtRisk => "marking the account at risk",
            StatusMove::MarkChurned => "marking the account churned",
            StatusMove::Reactivate => "reactivating the account",
            StatusMove::Reopen => "reopening the account",
        }
    }
}

/// The reason OpenAccount records on the opening entry.
pub const OPENED_REASON: &str = "opened from handoff";
/// The reason OpenAccount records when a later handoff reopens a CHURNED account.
pub const REOPENED_REASON: &str = "reopened by handoff";

/// What MarkAccountChurned gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Churn {
    pub reason: ChurnReason,
    /// Required with OTHER; may be empty otherwise.
    pub notes: String,
    /// The business date the customer left; `None` is today (UTC).
    pub churn_date: Option<Date>,
}

/// Refuses a move from the account's current status when the table does not allow it.
///
/// # Errors
/// FAILED_PRECONDITION gate "status", subject the current status (e.g. "CHURNED").
pub fn check_move(account: &Account, m: StatusMove) -> Result<(), Problem> {
    if m.from().contains(&account.status) {
        return Ok(());
    }
    let allowed = m
        .from()
        .iter()
        .map(|s| s.code())
        .collect::<Vec<_>>()
        .join(" or ");
    Err(Problem::gate(
        STATUS_GATE,
        account.status.code(),
        format!(
            "the account is {}; {} needs {allowed}",
            account.status.code(),
            m.verb()
        ),
    ))
}

fn required_reason(field: &str, reason: &str) -> Result<(), Problem> {
    if reason.trim().is_empty() {
        Err(Problem::invalid(field, "required"))
    } else {
        Ok(())
    }
}

impl Account {
    /// The effective date of the last status change (the opening's at least).
    pub fn last_effective_date(&self) -> Option<Date> {
        self.status_history.last().map(|c| c.effective_date)
    }

    /// Enters `to` through `m`, recording the change. `effective` is never before the last
    /// change's effective date (it is moved up to it), so the history stays in date order.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" when `m` does not start from the current status, gate
    /// "history_limit" once [`MAX_STATUS_CHANGES`] changes are kept.
    pub(crate) fn enter(
        &mut self,
        m: StatusMove,
        reason: String,
        churn_reason: Option<ChurnReason>,
        effective: Date,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        check_move(self, m)?;
        if self.status_history.len() >= MAX_STATUS_CHANGES {
            return Err(Problem::gate(
                HISTORY_LIMIT_GATE,
                "status_history",
                format!("the account keeps at most {MAX_STATUS_CHANGES} status changes"),
            ));
        }
        let effective = self
            .last_effective_date()
            .map_or(effective, |last| effective.max(last));
        let to = m.to();
        self.status_history.push(StatusChange {
            from: Some(self.status),
            to,
            reason: reason.clone(),
            churn_reason,
            effective_date: effective,
            actor,
            time: now,
        });
        self.status = to;
        self.status_reason = reason;
        if to != S::Churned {
            self.churn = None;
        }
        self.update_time = now;
        Ok(())
    }

    /// MarkAccountAtRisk: ACTIVE -> AT_RISK with `reason`, effective today.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless ACTIVE, gate "history_limit"; INVALID_ARGUMENT
    /// `reason` when empty.
    pub fn mark_at_risk(
        &mut self,
        by: &Principal,
        reason: String,
        now: i64,
    ) -> Result<(), Problem> {
        check_move(self, StatusMove::MarkAtRisk)?;
        required_reason("reason", &reason)?;
        self.enter(
            StatusMove::MarkAtRisk,
            reason,
            None,
            date_of_micros(now),
            Actor::of(by),
            now,
        )
    }

    /// MarkAccountChurned: ACTIVE or AT_RISK -> CHURNED, effective on the churn date (default
    /// today). The churn record is kept while CHURNED; the status reason is the notes, or the
    /// churn reason's code when there are none (the caller gives no other reason).
    ///
    /// The churn date must not be before the effective date of the last status change either:
    /// the history would otherwise claim the customer left before it was, say, reactivated, and
    /// retention would read the wrong status for the days between.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless ACTIVE or AT_RISK, gate "history_limit";
    /// INVALID_ARGUMENT `notes` for OTHER without notes, `churn_date` in the future (after
    /// today, UTC), before the start date or before the last status change.
    pub fn mark_churned(&mut self, by: &Principal, churn: Churn, now: i64) -> Result<(), Problem> {
        check_move(self, StatusMove::MarkChurned)?;
        let today = date_of_micros(now);
        if churn.reason.needs_notes() && churn.notes.trim().is_empty() {
            return Err(Problem::invalid(
                "notes",
                "required with churn reason OTHER: say why the customer left",
            ));
        }
        let churn_date = churn.churn_date.unwrap_or(today);
        if churn_date > today {
            return Err(Problem::invalid("churn_date", "must not be in the future"));
        }
        if churn_date < self.start_date {
            return Err(Problem::invalid(
                "churn_date",
                format!(
                    "must not be before the account's start date {}",
                    self.start_date
                ),
            ));
        }
        if let Some(last) = self.last_effective_date()
            && churn_date < last
        {
            return Err(Problem::invalid(
                "churn_date",
                format!("must not be before the last status change, effective {last}"),
            ));
        }
        let reason = if churn.notes.trim().is_empty() {
            churn.reason.code().to_owned()
        } else {
            churn.notes.clone()
        };
        self.enter(
            StatusMove::MarkChurned,
            reason,
            Some(churn.reason),
            churn_date,
            Actor::of(by),
            now,
        )?;
        self.churn = Some(ChurnRecord {
            churn_date,
            reason: churn.reason,
            notes: churn.notes,
        });
        Ok(())
    }

    /// ReactivateAccount: AT_RISK or CHURNED -> ACTIVE with `reason` (recovered, or won back),
    /// effective today; the churn record is cleared.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless AT_RISK or CHURNED, gate "history_limit";
    /// INVALID_ARGUMENT `reason` when empty.
    pub fn reactivate(&mut self, by: &Principal, reason: String, now: i64) -> Result<(), Problem> {
        check_move(self, StatusMove::Reactivate)?;
        required_reason("reason", &reason)?;
        self.enter(
            StatusMove::Reactivate,
            reason,
            None,
            date_of_micros(now),
            Actor::of(by),
            now,
        )
    }
}
