//! Operations updates: what operations report about how the company performs for the client
//! (PERFORMANCE), what went wrong (ISSUE, open until a RESOLUTION names it) and what was fixed
//! (RESOLUTION); their filters; and the salesperson's feed, in posting order.
//!
//! An update is its own resource under the account; posting an ISSUE or a RESOLUTION also
//! changes the account's count of open issues (and a RESOLUTION the issue it resolves), so
//! [`Account::post_operations_update`] returns everything to save in one transaction.

use std::cmp::Ordering;

use closeloop_kit::{Principal, Problem, Violations};

use super::account::{Account, ISSUE_OPEN_GATE};
use super::limits::MAX_MEASUREMENTS;
use super::vocabulary::{
    AccountId, AccountStatus, Actor, IssueState, ObligationParty, OperationsUpdateId,
    OperationsUpdateKind as K, Party, Severity, account_name,
};

/// A measured figure in a PERFORMANCE update, e.g. uptime 99.95 % against 99.9 %. Not money:
/// the proto's doubles, kept as they came (finite).
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub metric: String,
    pub value: f64,
    /// May be empty.
    pub unit: String,
    /// The agreed target, in the same unit; 0 when none was given.
    pub target: f64,
    pub target_met: bool,
}

/// An operations update.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationsUpdate {
    pub id: OperationsUpdateId,
    pub account: AccountId,
    pub kind: K,
    /// LOW to CRITICAL for an ISSUE; PERFORMANCE defaults to INFO, RESOLUTION to its issue's.
    pub severity: Severity,
    pub title: String,
    pub body: String,
    /// When it happened (µs); never in the future.
    pub occur_time: i64,
    pub measurements: Vec<Measurement>,
    /// RESOLUTION only: the ISSUE it resolves, on the same account.
    pub resolves: Option<OperationsUpdateId>,
    /// A COMPANY obligation of the account; may be empty.
    pub obligation_id: String,
    /// Reference in the operations system; may be empty.
    pub external_ref: String,
    /// ISSUE only: OPEN until a RESOLUTION names it.
    pub issue_state: Option<IssueState>,
    /// ISSUE only, once resolved: the RESOLUTION.
    pub resolved_by: Option<OperationsUpdateId>,
    /// ISSUE only, once resolved: when.
    pub resolve_time: Option<i64>,
    pub posted_by: Actor,
    /// When it was posted (µs): the order of the lists and the feed.
    pub create_time: i64,
}

impl OperationsUpdate {
    /// `accounts/{account}/operationsUpdates/{id}`.
    pub fn name(&self) -> String {
        update_name(&self.account, &self.id)
    }

    /// Whether it is an ISSUE still open.
    pub fn is_open_issue(&self) -> bool {
        self.kind == K::Issue && self.issue_state == Some(IssueState::Open)
    }
}

/// `accounts/{account}/operationsUpdates/{id}`.
pub fn update_name(account: &AccountId, id: &OperationsUpdateId) -> String {
    format!("{}/operationsUpdates/{id}", account_name(account))
}

/// An operations update as PostOperationsUpdate gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationsUpdateInput {
    pub kind: K,
    /// Required for ISSUE; `None` reads as the kind's default.
    pub severity: Option<Severity>,
    pub title: String,
    pub body: String,
    /// `None`: now.
    pub occur_time: Option<i64>,
    pub measurements: Vec<Measurement>,
    /// The ISSUE a RESOLUTION resolves, parsed from a name on the same account (the API
    /// refuses a name on another account).
    pub resolves: Option<OperationsUpdateId>,
    pub obligation_id: String,
    pub external_ref: String,
}

/// What posting an update produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// The new update, to insert.
    pub update: OperationsUpdate,
    /// For a RESOLUTION, the issue it resolved, now RESOLVED, to save.
    pub resolved_issue: Option<OperationsUpdate>,
    /// Whether the account changed (its open issue count: ISSUE and RESOLUTION), to save.
    pub account_changed: bool,
}

impl Account {
    /// PostOperationsUpdate: posts the update `id` by `by`, in any account status. `issue` is
    /// the update `input.resolves` names, loaded by the app from this account (`None` when there
    /// is none).
    ///
    /// An ISSUE opens (the account's open issue count grows); a RESOLUTION resolves its issue
    /// (RESOLVED, by it, now) and the count drops. Measurements are accepted on every kind: the
    /// proto describes them for PERFORMANCE but forbids them nowhere, and an issue may well
    /// report the figure that went wrong.
    ///
    /// # Errors
    /// Nothing is changed on any of them:
    /// - INVALID_ARGUMENT `operations_update.severity` for an ISSUE without one or with INFO;
    ///   `operations_update.resolves` missing on a RESOLUTION, given on another kind, naming no
    ///   update of the account or one that is not an ISSUE; `operations_update.occur_time` in
    ///   the future; `operations_update.obligation_id` naming no COMPANY obligation of the
    ///   account; `operations_update.measurements` past [`MAX_MEASUREMENTS`], or
    ///   `...measurements[i].value`/`.target` not a finite number;
    /// - FAILED_PRECONDITION gate "issue_open" (subject the issue's name) for a RESOLUTION of an
    ///   issue already resolved.
    pub fn post_operations_update(
        &mut self,
        id: OperationsUpdateId,
        input: OperationsUpdateInput,
        issue: Option<&OperationsUpdate>,
        by: &Principal,
        now: i64,
    ) -> Result<Posted, Problem> {
        const U: &str = "operations_update";
        let mut v = Violations::new();
        match (input.kind, input.severity) {
            (K::Issue, None) => v.add(
                format!("{U}.severity"),
                "required for an ISSUE: LOW to CRITICAL",
            ),
            (K::Issue, Some(Severity::Info)) => v.add(
                format!("{U}.severity"),
                "INFO is not allowed on an ISSUE: LOW to CRITICAL",
            ),
            _ => {}
        }
        let mut resolved = None;
        match (input.kind, &input.resolves) {
            (K::Resolution, None) => v.add(
                format!("{U}.resolves"),
                "required for a RESOLUTION: the ISSUE it resolves",
            ),
            (K::Resolution, Some(target)) => {
                match issue.filter(|i| &i.id == target && i.account == self.id) {
                    None => v.add(
                        format!("{U}.resolves"),
                        format!(
                            "{} is not an operations update of the account",
                            update_name(&self.id, target)
                        ),
                    ),
                    Some(i) if i.kind != K::Issue => v.add(
                        format!("{U}.resolves"),
                        format!("{} is a {}, not an ISSUE", i.name(), i.kind.code()),
                    ),
                    Some(i) => resolved = Some(i),
                }
            }
            (_, Some(_)) => v.add(format!("{U}.resolves"), "only a RESOLUTION resolves"),
            (_, None) => {}
        }
        let occur_time = input.occur_time.unwrap_or(now);
        if occur_time > now {
            v.add(format!("{U}.occur_time"), "must not be in the future");
        }
        if !input.obligation_id.is_empty()
            && !self
                .obligation(&input.obligation_id)
                .is_some_and(|o| o.party == ObligationParty::Company)
        {
            v.add(
                format!("{U}.obligation_id"),
                format!(
                    "{:?} is not a COMPANY obligation of the account",
                    input.obligation_id
                ),
            );
        }
        if input.measurements.len() > MAX_MEASUREMENTS {
            v.add(
                format!("{U}.measurements"),
                format!("at most {MAX_MEASUREMENTS} measurements"),
            );
        } else {
            for (i, m) in input.measurements.iter().enumerate() {
                if !m.value.is_finite() {
                    v.add(format!("{U}.measurements[{i}].value"), "must be a number");
                }
                if !m.target.is_finite() {
                    v.add(format!("{U}.measurements[{i}].target"), "must be a number");
                }
            }
        }
        v.into_result()?;
        if let Some(i) = resolved
            && i.issue_state != Some(IssueState::Open)
        {
            return Err(Problem::gate(
                ISSUE_OPEN_GATE,
                i.name(),
                "the issue is resolved already",
            ));
        }

        let severity = match (input.kind, input.severity, resolved) {
            (_, Some(s), _) => s,
            (K::Resolution, None, Some(i)) => i.severity,
            _ => Severity::Info,
        };
        let update = OperationsUpdate {
            id,
            account: self.id.clone(),
            kind: input.kind,
            severity,
            title: input.title,
            body: input.body,
            occur_time,
            measurements: input.measurements,
            resolves: input.resolves,
            obligation_id: input.obligation_id,
            external_ref: input.external_ref,
            issue_state: (input.kind == K::Issue).then_some(IssueState::Open),
            resolved_by: None,
            resolve_time: None,
            posted_by: Actor::of(by),
            create_time: now,
        };
        let resolved_issue = resolved.map(|i| OperationsUpdate {
            issue_state: Some(IssueState::Resolved),
            resolved_by: Some(update.id.clone()),
            resolve_time: Some(now),
            ..i.clone()
        });
        let account_changed = match input.kind {
            K::Issue => {
                self.open_issue_count = self.open_issue_count.saturating_add(1);
                true
            }
            K::Resolution => {
                self.open_issue_count = self.open_issue_count.saturating_sub(1).max(0);
                true
            }
            K::Performance => false,
        };
        if account_changed {
            self.update_time = now;
        }
        Ok(Posted {
            update,
            resolved_issue,
            account_changed,
        })
    }
}

/// The filters of ListOperationsUpdates and ListSalespersonFeed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateFilter {
    /// Only these kinds; empty means all.
    pub kinds: Vec<K>,
    /// Only this severity or more serious.
    pub minimum_severity: Option<Severity>,
    /// Only ISSUE updates still open.
    pub open_issues_only: bool,
    /// Only updates posted after this time (µs), e.g. the last time the feed was read.
    pub since_time: Option<i64>,
}

impl UpdateFilter {
    /// Whether `u` passes every filter.
    pub fn matches(&self, u: &OperationsUpdate) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&u.kind))
            && self.minimum_severity.is_none_or(|min| u.severity >= min)
            && (!self.open_issues_only || u.is_open_issue())
            && self.since_time.is_none_or(|since| u.create_time > since)
    }
}

/// The order of ListOperationsUpdates and of the salesperson's feed: by posting time
/// (`create_time`), newest first, then by id (ascending) among updates posted in the same
/// microsecond, so pages are keyset on (create_time, id). Posting order, not `occur_time`: an
/// update posted late about an earlier event lands at the top, where the salesperson looks,
/// instead of among entries already read.
pub fn posting_order(a: &OperationsUpdate, b: &OperationsUpdate) -> Ordering {
    b.create_time
        .cmp(&a.create_time)
        .then_with(|| a.id.cmp(&b.id))
}

/// One entry of a salesperson's feed: the update and the account it was posted on.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub update: OperationsUpdate,
    /// `accounts/{account}`.
    pub account: String,
    pub customer: Party,
    /// The person to talk to.
    pub account_manager: String,
    pub account_status: AccountStatus,
}

impl FeedEntry {
    /// `update` as it shows in the feed, with what it needs of `account` (the one it was posted
    /// on).
    pub fn new(update: OperationsUpdate, account: &Account) -> FeedEntry {
        FeedEntry {
            update,
            account: account.name(),
            customer: account.customer.clone(),
            account_manager: account.account_manager.clone(),
            account_status: account.status,
        }
    }
}
