//! A handoff: the contract snapshot it was started from and every part the salesperson completes
//! for the account team (needs, goals, commitments, stakeholders, timeline, support contacts,
//! onboarding plan, account manager, introduction), with its history. How it changes is in
//! [`super::lifecycle`] and [`super::edit`]; what readiness needs in [`super::readiness`]; who
//! may do what in [`super::access`].

use closeloop_kit::Problem;
use time::Date;

use super::snapshot::ContractSnapshot;
use super::vocabulary::{
    AccountOpeningState, Actor, CallState, Contact, GoalOrigin, HandoffId, HandoffStatus,
    IntroductionKind, IntroductionState, MilestoneOrigin, OnboardingStepStatus, Party, PartySide,
    StakeholderRole, SupportContactKind,
};

/// Something the client needs from us, in the salesperson's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerNeed {
    pub description: String,
    /// May be empty.
    pub details: String,
}

/// What the client wants to achieve, and how success is judged. Becomes an outcome of the
/// account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// Assigned by the handoff (`goal-N`); kept across edits that name it.
    pub id: String,
    pub description: String,
    /// At least one for readiness.
    pub success_criteria: Vec<SuccessCriterion>,
    pub target_date: Option<Date>,
    pub origin: GoalOrigin,
}

/// How to tell that a goal is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessCriterion {
    pub description: String,
    pub target_date: Option<Date>,
}

/// A promise made during the sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerbalCommitment {
    pub description: String,
    /// Our side.
    pub promised_by: Contact,
    /// The client's side.
    pub promised_to: Contact,
    pub promise_date: Option<Date>,
    pub due_date: Option<Date>,
    pub notes: String,
}

/// A person at the client involved in the deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stakeholder {
    pub contact: Contact,
    pub role: StakeholderRole,
    /// The main contact; exactly one for readiness, never more than one.
    pub primary: bool,
}

/// A milestone of the delivery timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    /// Assigned by the handoff (`milestone-N`); kept across edits that name it.
    pub id: String,
    pub title: String,
    pub due_date: Date,
    pub description: String,
    /// Ids of the snapshot's deliverables it covers; each exists in the snapshot.
    pub deliverable_ids: Vec<String>,
    pub origin: MilestoneOrigin,
}

/// A client person the account team turns to for one kind of matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportContact {
    pub kind: SupportContactKind,
    pub contact: Contact,
    /// Says what the contact is for when the kind is OTHER.
    pub notes: String,
}

/// One step of the onboarding plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingStep {
    /// Assigned by the handoff (`step-N`); what UpdateOnboardingStepStatus names.
    pub id: String,
    pub title: String,
    pub description: String,
    /// Who on our side is responsible (a token subject); required for readiness.
    pub owner: Option<String>,
    /// The client person involved, if any.
    pub client_contact: Option<Contact>,
    /// Required for readiness.
    pub due_date: Option<Date>,
    pub status: OnboardingStepStatus,
    /// Why (required for BLOCKED and SKIPPED), or any remark on the last status change.
    pub status_note: String,
    /// When the step became DONE; cleared when it leaves DONE.
    pub complete_time: Option<i64>,
    pub status_update_time: Option<i64>,
    pub status_updated_by: Option<Actor>,
}

/// A person taking part in the introduction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub contact: Contact,
    pub side: PartySide,
    /// For company people: their token subject. May be empty.
    pub subject: String,
}

/// The warm introduction of the account manager to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introduction {
    pub state: IntroductionState,
    /// Set once scheduled or completed.
    pub kind: Option<IntroductionKind>,
    /// When the call is planned or the email is to be sent.
    pub schedule_time: Option<i64>,
    pub attendees: Vec<Attendee>,
    pub location: String,
    /// When it took place.
    pub complete_time: Option<i64>,
    pub notes: String,
    pub scheduled_by: Option<Actor>,
    /// When it was scheduled.
    pub schedule_record_time: Option<i64>,
    pub completed_by: Option<Actor>,
    /// The account manager it introduced (the one assigned at completion); empty before.
    pub account_manager: String,
}

impl Default for Introduction {
    /// Nothing planned yet.
    fn default() -> Self {
        Introduction {
            state: IntroductionState::NotScheduled,
            kind: None,
            schedule_time: None,
            attendees: Vec::new(),
            location: String::new(),
            complete_time: None,
            notes: String::new(),
            scheduled_by: None,
            schedule_record_time: None,
            completed_by: None,
            account_manager: String::new(),
        }
    }
}

/// An account manager sending a READY handoff back to DRAFT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// One per problem, 1 to [`super::limits::MAX_REASONS`].
    pub reasons: Vec<String>,
    pub rejected_by: Actor,
    pub reject_time: i64,
}

/// One status change; `from` is `None` for the start (to DRAFT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub from: Option<HandoffStatus>,
    pub to: HandoffStatus,
    pub time: i64,
    pub actor: Actor,
    /// The rejection's reasons when READY went back to DRAFT; empty otherwise.
    pub reasons: Vec<String>,
}

/// Opening the account in account-management once accepted. Its state is not stored here: it
/// follows the owed OpenAccount call in the outbox ([`Handoff::account_opening_state`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountOpening {
    /// When OpenAccount was queued: the accept time. `None` before acceptance.
    pub request_time: Option<i64>,
    /// `accounts/{account}` once account-management confirmed and named it; empty before.
    pub account: String,
    /// When account-management confirmed.
    pub open_time: Option<i64>,
}

/// Whether the stakeholders and goals were prefilled from the opportunity (`Handoff.prefill`).
///
/// StartHandoff creates the handoff whether or not the opportunity could be read: PENDING when
/// it could not (the service retries in the background), DONE once filled, FAILED when the
/// opportunity does not exist, or when the handoff was submitted before it could be read. Only
/// PENDING is ever retried, and a prefill applies to a PENDING handoff only, so nothing is
/// filled twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefillState {
    /// Not read yet. `failure` says why the last read failed (empty before the first read);
    /// `time` is when the handoff entered the state.
    Pending { failure: String, time: i64 },
    /// Applied at `time`; applying it again changes nothing.
    Done { time: i64 },
    /// Nothing will be filled, for `reason`; not retried.
    Failed { reason: String, time: i64 },
}

impl PrefillState {
    /// PENDING, DONE or FAILED, for storage and display.
    pub fn code(&self) -> &'static str {
        match self {
            PrefillState::Pending { .. } => "PENDING",
            PrefillState::Done { .. } => "DONE",
            PrefillState::Failed { .. } => "FAILED",
        }
    }

    /// Whether the opportunity is still to be read.
    pub fn is_pending(&self) -> bool {
        matches!(self, PrefillState::Pending { .. })
    }

    /// Why the last read failed, or why nothing will be filled; empty once DONE.
    pub fn failure(&self) -> &str {
        match self {
            PrefillState::Pending { failure, .. } => failure,
            PrefillState::Done { .. } => "",
            PrefillState::Failed { reason, .. } => reason,
        }
    }

    /// When the state last changed.
    pub fn time(&self) -> i64 {
        match self {
            PrefillState::Pending { time, .. }
            | PrefillState::Done { time }
            | PrefillState::Failed { time, .. } => *time,
        }
    }
}

/// A handoff, the aggregate every HandoffService change loads and saves whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    pub id: HandoffId,
    pub status: HandoffStatus,
    /// As StartHandoff received it; never changes.
    pub snapshot: ContractSnapshot,
    /// Who hands off (a token subject); from the snapshot, changed only by a sales_manager.
    pub salesperson: String,
    /// Who takes over; required for readiness.
    pub account_manager: Option<String>,
    pub customer_needs: Vec<CustomerNeed>,
    pub goals: Vec<Goal>,
    pub verbal_commitments: Vec<VerbalCommitment>,
    /// The salesperson confirms none were made; never true while `verbal_commitments` has any.
    pub no_verbal_commitments: bool,
    pub stakeholders: Vec<Stakeholder>,
    /// Ordered by due date, then by the snapshot's order of deliverables.
    pub delivery_timeline: Vec<Milestone>,
    pub support_contacts: Vec<SupportContact>,
    pub onboarding_plan: Vec<OnboardingStep>,
    pub introduction: Introduction,
    /// Completed introductions voided by a change of account manager, oldest first.
    pub previous_introductions: Vec<Introduction>,
    /// Oldest first.
    pub rejections: Vec<Rejection>,
    /// Oldest first; the first entry is the start.
    pub status_history: Vec<StatusChange>,
    pub account_opening: AccountOpening,
    /// From the salesperson to the account team.
    pub notes: String,
    /// The account manager's own notes; editable in every status.
    pub account_manager_notes: String,
    pub prefill: PrefillState,
    /// When it last moved to READY.
    pub submit_time: Option<i64>,
    pub accept_time: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    /// Optimistic concurrency: bumped by every save (the store's job).
    pub version: i64,
    /// The number of the last id given to a goal, milestone or step.
    pub next_part: u64,
}

impl Handoff {
    /// `handoffs/{id}`.
    pub fn name(&self) -> String {
        format!("handoffs/{}", self.id)
    }

    /// The customer company (from the snapshot).
    pub fn account(&self) -> &Party {
        &self.snapshot.account
    }

    /// `contracts/{contract}` (from the snapshot).
    pub fn contract(&self) -> &str {
        &self.snapshot.contract
    }

    /// `contracts/{contract}/orders/{order}` (from the snapshot): unique per handoff.
    pub fn order(&self) -> &str {
        &self.snapshot.order
    }

    /// `opportunities/{opportunity}` (from the snapshot).
    pub fn opportunity(&self) -> &str {
        &self.snapshot.opportunity
    }

    /// The entity tag clients send back: the stored version and the status.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.version, self.status.code())
    }

    /// Refuses when `etag` is set and does not match.
    ///
    /// # Errors
    /// ABORTED on mismatch.
    pub fn check_etag(&self, etag: &str) -> Result<(), Problem> {
        if etag.is_empty() || etag == self.etag() {
            Ok(())
        } else {
            Err(Problem::Aborted(format!(
                "etag {etag} does not match the current {}: the handoff changed; read it again",
                self.etag()
            )))
        }
    }

    /// Whether `subject` is this handoff's account manager.
    pub fn is_account_manager(&self, subject: &str) -> bool {
        self.account_manager.as_deref() == Some(subject)
    }

    /// Where opening the account stands: NOT_REQUESTED before acceptance, then the state of the
    /// owed OpenAccount call as the app reads it from the outbox (`call`, `None` when it is not
    /// known, read as PENDING once accepted): PENDING, DELIVERED as OPENED, REFUSED.
    pub fn account_opening_state(&self, call: Option<CallState>) -> AccountOpeningState {
        if self.status != HandoffStatus::Accepted || self.account_opening.request_time.is_none() {
            return AccountOpeningState::NotRequested;
        }
        match call {
            None | Some(CallState::Pending) => AccountOpeningState::Pending,
            Some(CallState::Delivered) => AccountOpeningState::Opened,
            Some(CallState::Refused) => AccountOpeningState::Refused,
        }
    }

    /// The next id for a goal, milestone or step: `{prefix}-{n}`, never given twice.
    ///
    /// # Errors
    /// INTERNAL once 2^64 ids were given (unreachable in practice; refused rather than reused).
    pub(crate) fn next_part_id(&mut self, prefix: &str) -> Result<String, Problem> {
        self.next_part = self
            .next_part
            .checked_add(1)
            .ok_or_else(|| Problem::internal("the handoff ran out of part ids"))?;
        Ok(format!("{prefix}-{}", self.next_part))
    }
}
