//! Check-ins: periodic conversations with the customer on the account's cadence, recording
//! satisfaction (1 to 10), progress on outcomes and notes; and the check-ins that are due or
//! overdue, per account manager.
//!
//! A check-in is its own resource under the account, but recording one changes the account too
//! (its last check-in, next due date and the outcomes it reports on), so
//! [`Account::record_check_in`] returns the check-in and leaves the account changed; the app
//! saves both in one transaction.

use std::cmp::Ordering;

use closeloop_kit::time::date_of_micros;
use closeloop_kit::{Principal, Problem, Violations};
use time::{Date, Duration};

use super::account::{ACCOUNT_STATUS_GATE, Account, LastCheckIn};
use super::limits::{MAX_ATTENDEES, MAX_DAYS};
use super::policy::Policy;
use super::vocabulary::{
    AccountId, AccountStatus, Actor, CheckInChannel, CheckInId, Contact, OutcomeStatus, Party,
    account_name,
};

/// A recorded check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub id: CheckInId,
    pub account: AccountId,
    /// When it took place (µs); never in the future, never before the account's start date.
    pub check_in_time: i64,
    /// 1 to 10.
    pub satisfaction: i32,
    /// Each outcome of the account at most once.
    pub outcome_progress: Vec<OutcomeProgress>,
    pub notes: String,
    pub channel: Option<CheckInChannel>,
    pub attendees: Vec<Contact>,
    pub recorded_by: Actor,
    pub create_time: i64,
    /// Satisfaction minus that of the previous check-in by `check_in_time`; 0 for the first.
    pub satisfaction_change: i32,
}

impl CheckIn {
    /// `accounts/{account}/checkIns/{check_in}`.
    pub fn name(&self) -> String {
        format!("{}/checkIns/{}", account_name(&self.account), self.id)
    }
}

/// Progress on one outcome as a check-in recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeProgress {
    pub outcome_id: String,
    /// 0 to 100.
    pub progress_percent: i32,
    /// The status it gave the outcome (given, or resolved by [`progress_status`]).
    pub status: OutcomeStatus,
    pub note: String,
    /// The outcome's goal at the time, for display.
    pub goal: String,
}

/// Progress on one outcome as RecordCheckIn gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressInput {
    pub outcome_id: String,
    pub progress_percent: i32,
    /// `None`: resolved by [`progress_status`].
    pub status: Option<OutcomeStatus>,
    pub note: String,
}

/// A check-in as RecordCheckIn gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInInput {
    /// `None`: now.
    pub check_in_time: Option<i64>,
    pub satisfaction: i32,
    pub outcome_progress: Vec<ProgressInput>,
    pub notes: String,
    pub channel: Option<CheckInChannel>,
    pub attendees: Vec<Contact>,
}

impl CheckInInput {
    /// When it took place: the given time, or `now`. The app needs it before recording, to load
    /// the check-ins on either side ([`Account::record_check_in`]).
    pub fn time(&self, now: i64) -> i64 {
        self.check_in_time.unwrap_or(now)
    }
}

/// The status a progress report gives an outcome currently `current`, when the report gives
/// none: ACHIEVED at 100 percent, ON_TRACK when the outcome was NOT_STARTED and progress is
/// above 0, otherwise the current status (as `OutcomeProgress.status` says). A given status is
/// taken as it is.
pub fn progress_status(
    current: OutcomeStatus,
    progress_percent: i32,
    given: Option<OutcomeStatus>,
) -> OutcomeStatus {
    match given {
        Some(status) => status,
        None if progress_percent >= 100 => OutcomeStatus::Achieved,
        None if current == OutcomeStatus::NotStarted && progress_percent > 0 => {
            OutcomeStatus::OnTrack
        }
        None => current,
    }
}

/// A recorded check-in and what it changed beside the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCheckIn {
    /// The new check-in, to insert.
    pub check_in: CheckIn,
    /// When the check-in was recorded before an existing one (backdated): that next one's id
    /// and its corrected `satisfaction_change`, now measured against the new check-in; the app
    /// saves it with the rest.
    pub next_satisfaction_change: Option<(CheckInId, i32)>,
}

impl Account {
    /// RecordCheckIn: records the check-in `id` by `by` and updates the account: its last
    /// check-in (when this one is the most recent by `check_in_time`; of equal times, the one
    /// recorded last), hence its next due date, and the outcomes named in its progress.
    ///
    /// The check-in order is by `check_in_time`, then by recording: `previous` is the latest
    /// check-in of the account at or before the new one's time ([`CheckInInput::time`]), `next`
    /// the earliest after it; the app loads them. The new check-in's satisfaction change is
    /// measured against `previous`, and `next`'s is corrected to be measured against the new
    /// one.
    ///
    /// An outcome is updated (progress, status by [`progress_status`], note, report time, the
    /// check-in's name) only when the check-in is not older than the outcome's last progress
    /// report: a backdated check-in is history, and must not undo a later report. The check-in
    /// keeps what it reported either way.
    ///
    /// # Errors
    /// Nothing is changed on any of them:
    /// - FAILED_PRECONDITION gate "account_status" (subject "CHURNED") on a CHURNED account;
    /// - INVALID_ARGUMENT `check_in.satisfaction` outside 1 to 10; `check_in.check_in_time` in
    ///   the future or before the start date; `check_in.attendees` past [`MAX_ATTENDEES`];
    ///   `check_in.outcome_progress[i].outcome_id` not an outcome of the account or named
    ///   twice; `...progress_percent` outside 0 to 100;
    /// - FAILED_PRECONDITION gate "account_limit" when the progress notes would grow the account
    ///   past its size;
    /// - INTERNAL when `previous` or `next` is not where the order puts it (an app bug).
    pub fn record_check_in(
        &mut self,
        id: CheckInId,
        input: CheckInInput,
        previous: Option<&CheckIn>,
        next: Option<&CheckIn>,
        by: &Principal,
        now: i64,
    ) -> Result<RecordedCheckIn, Problem> {
        if self.status == AccountStatus::Churned {
            return Err(Problem::gate(
                ACCOUNT_STATUS_GATE,
                self.status.code(),
                "the account is CHURNED: check-ins are recorded on ACTIVE and AT_RISK accounts; \
                 reactivate it first",
            ));
        }
        let time = input.time(now);
        const C: &str = "check_in";
        let mut v = Violations::new();
        if !(1..=10).contains(&input.satisfaction) {
            v.add(format!("{C}.satisfaction"), "must be 1 to 10");
        }
        if time > now {
            v.add(format!("{C}.check_in_time"), "must not be in the future");
        } else if date_of_micros(time) < self.start_date {
            v.add(
                format!("{C}.check_in_time"),
                format!(
                    "must not be before the account's start date {}",
                    self.start_date
                ),
            );
        }
        if input.attendees.len() > MAX_ATTENDEES {
            v.add(
                format!("{C}.attendees"),
                format!("at most {MAX_ATTENDEES} attendees"),
            );
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, p) in input.outcome_progress.iter().enumerate() {
            let field = format!("{C}.outcome_progress[{i}]");
            if self.outcome(&p.outcome_id).is_none() {
                v.add(
                    format!("{field}.outcome_id"),
                    format!("{:?} is not an outcome of the account", p.outcome_id),
                );
            } else if seen.contains(&p.outcome_id.as_str()) {
                v.add(
                    format!("{field}.outcome_id"),
                    "each outcome may be reported at most once",
                );
            }
            seen.push(&p.outcome_id);
            if !(0..=100).contains(&p.progress_percent) {
                v.add(format!("{field}.progress_percent"), "must be 0 to 100");
            }
        }
        v.into_result()?;
        let misplaced = previous.is_some_and(|p| p.check_in_time > time || p.account != self.id)
            || next.is_some_and(|n| n.check_in_time <= time || n.account != self.id);
        if misplaced {
            return Err(Problem::internal(
                "record_check_in was given check-ins that are not the new one's neighbours",
            ));
        }

        let check_in = CheckIn {
            id,
            account: self.id.clone(),
            check_in_time: time,
            satisfaction: input.satisfaction,
            outcome_progress: Vec::new(),
            notes: input.notes,
            channel: input.channel,
            attendees: input.attendees,
            recorded_by: Actor::of(by),
            create_time: now,
            satisfaction_change: previous
                .map_or(0, |p| input.satisfaction.saturating_sub(p.satisfaction)),
        };
        let name = check_in.name();
        let mut next_account = self.clone();
        let mut progress = Vec::new();
        for p in input.outcome_progress {
            let Some(outcome) = next_account
                .outcomes
                .iter_mut()
                .find(|o| o.id == p.outcome_id)
            else {
                continue;
            };
            let status = progress_status(outcome.status, p.progress_percent, p.status);
            if outcome.progress_update_time.is_none_or(|t| time >= t) {
                outcome.progress_percent = p.progress_percent;
                outcome.status = status;
                outcome.progress_note = p.note.clone();
                outcome.progress_update_time = Some(time);
                outcome.last_check_in = name.clone();
            }
            progress.push(OutcomeProgress {
                outcome_id: p.outcome_id,
                progress_percent: p.progress_percent,
                status,
                note: p.note,
                goal: outcome.goal.clone(),
            });
        }
        if next_account
            .last_check_in
            .is_none_or(|last| time >= last.time)
        {
            next_account.last_check_in = Some(LastCheckIn {
                time,
                satisfaction: input.satisfaction,
            });
        }
        next_account.update_time = now;
        // Progress notes add to the account.
        next_account.check_growth(Some(self))?;
        *self = next_account;
        Ok(RecordedCheckIn {
            check_in: CheckIn {
                outcome_progress: progress,
                ..check_in
            },
            next_satisfaction_change: next.map(|n| {
                (
                    n.id.clone(),
                    n.satisfaction.saturating_sub(input.satisfaction),
                )
            }),
        })
    }
}

/// A check-in that is due or overdue (ListDueCheckIns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCheckIn {
    pub account: AccountId,
    pub customer: Party,
    pub account_manager: String,
    /// ACTIVE or AT_RISK.
    pub account_status: AccountStatus,
    /// `None` when there was none yet.
    pub last_check_in: Option<LastCheckIn>,
    pub due_date: Date,
    /// `due_date` is before today.
    pub overdue: bool,
    /// Days past `due_date`; 0 when not overdue.
    pub days_overdue: i32,
    /// The account's cadence (the default applied when it has none).
    pub cadence_days: i32,
}

impl Account {
    /// The account's check-in as ListDueCheckIns lists it on `today`, or `None` when it is not
    /// listed: the account is CHURNED; or the check-in is not overdue and either `overdue_only`
    /// is set or it falls due after `today` plus the horizon (`horizon_days`, 0 for the
    /// configured default). Overdue check-ins are always listed.
    pub fn due_check_in(
        &self,
        policy: &Policy,
        today: Date,
        horizon_days: i32,
        overdue_only: bool,
    ) -> Option<DueCheckIn> {
        let due_date = self.next_check_in_date(policy)?;
        let overdue = due_date < today;
        let horizon = if horizon_days > 0 {
            horizon_days.min(MAX_DAYS)
        } else {
            policy.due_check_in_horizon_days
        };
        let limit = today.checked_add(Duration::days(i64::from(horizon)))?;
        if !overdue && (overdue_only || due_date > limit) {
            return None;
        }
        let days_overdue = if overdue {
            i32::try_from((today - due_date).whole_days()).unwrap_or(i32::MAX)
        } else {
            0
        };
        Some(DueCheckIn {
            account: self.id.clone(),
            customer: self.customer.clone(),
            account_manager: self.account_manager.clone(),
            account_status: self.status,
            last_check_in: self.last_check_in,
            due_date,
            overdue,
            days_overdue,
            cadence_days: self.cadence_days(policy),
        })
    }
}

/// The order of ListDueCheckIns: earliest due date (most overdue) first, then by account id, so
/// that pages are keyset on (due date, account).
pub fn due_order(a: &DueCheckIn, b: &DueCheckIn) -> Ordering {
    a.due_date
        .cmp(&b.due_date)
        .then_with(|| a.account.cmp(&b.account))
}
