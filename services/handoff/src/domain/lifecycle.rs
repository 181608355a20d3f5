//! A handoff's life: started DRAFT from a contract snapshot (its delivery timeline built from the
//! deliverables), prefilled from the opportunity, completed by the salesperson, submitted READY
//! when the readiness checklist is complete, rejected back to DRAFT or accepted, which owes
//! account-management an OpenAccount. Along the way the account manager is assigned, the warm
//! introduction scheduled and completed, and onboarding steps progress.
//!
//! Each move checks, in this order: the caller's part where the rule depends on the request's
//! values (whom an account manager assigns), the status it starts from ([`Move::from`], gate
//! "status"), its own gates, then the request's values against the handoff; then it changes the
//! handoff. A refused move changes nothing. Who may call each move at all is
//! [`super::access::check`], which the app asks first; the request's shape (required values,
//! texts, emails) the API checks before that.

use closeloop_kit::{Principal, Problem};

use super::access::{self, Capacity};
use super::handoff::{
    AccountOpening, Attendee, Goal, Handoff, Introduction, Milestone, PrefillState, Rejection,
    Stakeholder, StatusChange, SuccessCriterion,
};
use super::limits::{
    MAX_ATTENDEES, MAX_DESCRIPTION, MAX_ENTRIES, MAX_GOAL, MAX_MILESTONES,
    MAX_PREVIOUS_INTRODUCTIONS, MAX_REASONS, MAX_REJECTIONS, MILESTONE_TITLE, cut,
};
use super::snapshot::ContractSnapshot;
use super::vocabulary::{
    Actor, GoalOrigin, HandoffId, HandoffStatus as S, IntroductionKind, IntroductionState,
    MilestoneOrigin, OnboardingStepStatus, PartySide,
};

/// Gate of a move made in a status that does not allow it.
pub const STATUS_GATE: &str = "status";
/// Gate of AcceptHandoff without a completed introduction, and of scheduling or completing an
/// introduction already completed.
pub const INTRODUCTION_COMPLETED_GATE: &str = "introduction_completed";
/// Gate of scheduling or completing the introduction without an account manager.
pub const ACCOUNT_MANAGER_GATE: &str = "account_manager";
/// Gate of an account manager assigning itself to a handoff another one has taken.
pub const ACCOUNT_MANAGER_ASSIGNED_GATE: &str = "account_manager_assigned";
/// Gate of a change that would grow a bounded history past its limit
/// ([`MAX_REJECTIONS`], [`MAX_PREVIOUS_INTRODUCTIONS`]).
pub const HISTORY_LIMIT_GATE: &str = "history_limit";

/// A move of the handoff, for the table of the statuses each starts from. UpdateHandoff is not
/// here: which fields change in which status is [`super::access::writable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Prefill,
    AssignAccountManager,
    Submit,
    Reject,
    Accept,
    ScheduleIntroduction,
    CompleteIntroduction,
    UpdateOnboardingStepStatus,
    /// account-management confirmed the OpenAccount call.
    RecordAccountOpened,
}

impl Move {
    /// Every move, for tests that walk the whole table.
    pub const ALL: [Move; 9] = [
        Move::Prefill,
        Move::AssignAccountManager,
        Move::Submit,
        Move::Reject,
        Move::Accept,
        Move::ScheduleIntroduction,
        Move::CompleteIntroduction,
        Move::UpdateOnboardingStepStatus,
        Move::RecordAccountOpened,
    ];

    /// The statuses the move starts from: the table every move checks first.
    pub fn from(self) -> &'static [S] {
        match self {
            Move::Prefill | Move::Submit => &[S::Draft],
            Move::Reject | Move::Accept => &[S::Ready],
            Move::AssignAccountManager
            | Move::ScheduleIntroduction
            | Move::CompleteIntroduction => &[S::Draft, S::Ready],
            Move::UpdateOnboardingStepStatus => &S::ALL,
            Move::RecordAccountOpened => &[S::Accepted],
        }
    }

    /// The status it leaves the handoff in, for the three moves that change it.
    pub fn to(self) -> Option<S> {
        match self {
            Move::Submit => Some(S::Ready),
            Move::Reject => Some(S::Draft),
            Move::Accept => Some(S::Accepted),
            _ => None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Move::Prefill => "prefilling",
            Move::AssignAccountManager => "assigning the account manager",
            Move::Submit => "submitting",
            Move::Reject => "rejecting",
            Move::Accept => "accepting",
            Move::ScheduleIntroduction => "scheduling the introduction",
            Move::CompleteIntroduction => "completing the introduction",
            Move::UpdateOnboardingStepStatus => "updating an onboarding step",
            Move::RecordAccountOpened => "recording the opened account",
        }
    }
}

fn status_refusal(h: &Handoff, needs: &str, what: &str) -> Problem {
    Problem::gate(
        STATUS_GATE,
        "status",
        format!("the handoff is {}; {what} needs {needs}", h.status.code()),
    )
}

fn statuses(list: &[S]) -> String {
    list.iter()
        .map(|s| s.code())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// What the opportunity the handoff came from says, as prefill uses it: the app reads it with
/// GetOpportunity and converts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpportunityFacts {
    /// The opportunity's stakeholders (at most one primary).
    pub stakeholders: Vec<Stakeholder>,
    /// The client's objectives.
    pub objectives: Vec<Objective>,
}

/// One client objective of the opportunity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    /// The desired outcome.
    pub description: String,
    /// How the client will measure it; may be empty.
    pub success_measure: String,
}

/// What one prefill added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefilled {
    pub stakeholders: usize,
    pub goals: usize,
}

/// The plan ScheduleIntroduction gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntroductionPlan {
    pub kind: IntroductionKind,
    /// When the call takes place or the email is to be sent (µs).
    pub schedule_time: i64,
    /// At least one CLIENT and one COMPANY attendee.
    pub attendees: Vec<Attendee>,
    pub location: String,
    /// Agenda or message draft.
    pub notes: String,
}

/// What CompleteIntroduction records. Empty or `None` values keep what was scheduled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntroductionDone {
    /// When it took place (µs); `None` is now. Never in the future.
    pub complete_time: Option<i64>,
    /// Replaces the scheduled notes when not empty.
    pub notes: String,
    /// Who took part; replaces the scheduled attendees when not empty; required when the
    /// introduction was not scheduled.
    pub attendees: Vec<Attendee>,
    /// Replaces the scheduled kind when set; required when the introduction was not scheduled.
    pub kind: Option<IntroductionKind>,
}

/// Refuses attendees without at least one CLIENT and one COMPANY person, or more than
/// [`MAX_ATTENDEES`]; `field` is the request's field (`attendees`). The API may call it while it
/// parses the request; the moves call it again.
///
/// # Errors
/// INVALID_ARGUMENT naming `field`.
pub fn check_attendees(field: &str, attendees: &[Attendee]) -> Result<(), Problem> {
    if attendees.len() > MAX_ATTENDEES {
        return Err(Problem::invalid(
            field,
            format!("at most {MAX_ATTENDEES} attendees"),
        ));
    }
    for (side, who) in [
        (PartySide::Client, "CLIENT"),
        (PartySide::Company, "COMPANY"),
    ] {
        if !attendees.iter().any(|a| a.side == side) {
            return Err(Problem::invalid(
                field,
                format!("at least one {who} attendee is required"),
            ));
        }
    }
    Ok(())
}

impl Handoff {
    /// A new DRAFT handoff from a placed order's contract snapshot, started by `by` (the
    /// contracts service). The delivery timeline gets one milestone per deliverable, due on its
    /// due date: title the description cut to [`MILESTONE_TITLE`] at a character boundary,
    /// description the whole description, the deliverable's id, origin CONTRACT; ordered by due
    /// date, then by the snapshot's order. The salesperson is the snapshot's. Prefill comes next
    /// ([`Handoff::prefill`]).
    ///
    /// # Errors
    /// INVALID_ARGUMENT from [`ContractSnapshot::validate`]; nothing is created.
    pub fn start(
        id: HandoffId,
        snapshot: ContractSnapshot,
        by: &Principal,
        now: i64,
    ) -> Result<Handoff, Problem> {
        snapshot.validate()?;
        let mut h = Handoff {
            id,
            status: S::Draft,
            salesperson: snapshot.salesperson.clone(),
            account_manager: None,
            customer_needs: Vec::new(),
            goals: Vec::new(),
            verbal_commitments: Vec::new(),
            no_verbal_commitments: false,
            stakeholders: Vec::new(),
            delivery_timeline: Vec::new(),
            support_contacts: Vec::new(),
            onboarding_plan: Vec::new(),
            introduction: Introduction::default(),
            previous_introductions: Vec::new(),
            rejections: Vec::new(),
            status_history: vec![StatusChange {
                from: None,
                to: S::Draft,
                time: now,
                actor: Actor::of(by),
                reasons: Vec::new(),
            }],
            account_opening: AccountOpening::default(),
            notes: String::new(),
            account_manager_notes: String::new(),
            prefill: PrefillState::Pending {
                failure: String::new(),
                time: now,
            },
            submit_time: None,
            accept_time: None,
            create_time: now,
            update_time: now,
            version: 1,
            next_part: 0,
            snapshot,
        };
        let deliverables = h.snapshot.deliverables.clone();
        for d in deliverables.iter().take(MAX_MILESTONES) {
            let id = h.next_part_id("milestone")?;
            h.delivery_timeline.push(Milestone {
                id,
                title: cut(d.description.trim(), MILESTONE_TITLE)
                    .trim_end()
                    .to_owned(),
                due_date: d.due_date,
                description: d.description.clone(),
                deliverable_ids: vec![d.id.clone()],
                origin: MilestoneOrigin::Contract,
            });
        }
        h.sort_timeline();
        Ok(h)
    }

    /// Fills the stakeholders and goals from the opportunity, once: a handoff whose prefill is
    /// not PENDING (DONE, or FAILED: not retried) is left unchanged (returns nothing added). Each stakeholder not already on the
    /// handoff (the same email, or the same name without one) is added; it stays primary only
    /// when no stakeholder is primary yet, so the handoff never has two. Each objective becomes a
    /// goal (origin OPPORTUNITY_OBJECTIVE, the objective's description) with one success
    /// criterion, the objective's success measure, when it has one, since that measure is how the
    /// client said success is judged; an objective without one gives a goal without criteria,
    /// which readiness reports ("goal_success_criteria") until the salesperson adds one. An
    /// objective already turned into a goal (same description, origin OPPORTUNITY_OBJECTIVE) is
    /// not added again. Lists stop at [`MAX_ENTRIES`]; texts are cut to the handoff's limits (a
    /// goal to [`MAX_GOAL`]).
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless DRAFT.
    pub fn prefill(&mut self, facts: OpportunityFacts, now: i64) -> Result<Prefilled, Problem> {
        if !self.prefill.is_pending() {
            return Ok(Prefilled::default());
        }
        self.require(Move::Prefill)?;
        let mut added = Prefilled::default();
        let mut has_primary = self.stakeholders.iter().any(|s| s.primary);
        for s in facts.stakeholders {
            if self.stakeholders.len() >= MAX_ENTRIES {
                break;
            }
            if self
                .stakeholders
                .iter()
                .any(|x| x.contact.same_person(&s.contact))
            {
                continue;
            }
            let primary = s.primary && !has_primary;
            has_primary |= primary;
            self.stakeholders.push(Stakeholder { primary, ..s });
            added.stakeholders += 1;
        }
        for o in facts.objectives {
            if self.goals.len() >= MAX_ENTRIES {
                break;
            }
            let description = cut(o.description.trim(), MAX_GOAL).trim_end();
            if description.is_empty()
                || self.goals.iter().any(|g| {
                    g.origin == GoalOrigin::OpportunityObjective && g.description == description
                })
            {
                continue;
            }
            let measure = cut(o.success_measure.trim(), MAX_DESCRIPTION).trim_end();
            let success_criteria = if measure.is_empty() {
                Vec::new()
            } else {
                vec![SuccessCriterion {
                    description: measure.to_owned(),
                    target_date: None,
                }]
            };
            let goal = Goal {
                id: self.next_part_id("goal")?,
                description: description.to_owned(),
                success_criteria,
                target_date: None,
                origin: GoalOrigin::OpportunityObjective,
            };
            self.goals.push(goal);
            added.goals += 1;
        }
        self.prefill = PrefillState::Done { time: now };
        self.update_time = now;
        Ok(added)
    }

    /// Records why the opportunity could not be read yet; the prefill stays PENDING (the
    /// service retries). A handoff whose prefill is no longer PENDING is left as it is.
    pub fn prefill_deferred(&mut self, failure: String) {
        if let PrefillState::Pending { time, .. } = self.prefill {
            self.prefill = PrefillState::Pending { failure, time };
        }
    }

    /// Records that nothing will be filled, for `reason` (the opportunity does not exist): the
    /// prefill is FAILED and not retried. A handoff whose prefill is no longer PENDING is left as
    /// it is.
    pub fn prefill_failed(&mut self, reason: String, now: i64) {
        if self.prefill.is_pending() {
            self.prefill = PrefillState::Failed { reason, time: now };
            self.update_time = now;
        }
    }

    fn require(&self, m: Move) -> Result<(), Problem> {
        if m.from().contains(&self.status) {
            Ok(())
        } else {
            Err(status_refusal(self, &statuses(m.from()), m.verb()))
        }
    }

    fn enter(&mut self, to: S, by: &Principal, reasons: Vec<String>, now: i64) {
        self.status_history.push(StatusChange {
            from: Some(self.status),
            to,
            time: now,
            actor: Actor::of(by),
            reasons,
        });
        self.status = to;
        self.update_time = now;
    }

    /// Makes `account_manager` the handoff's account manager. A completed introduction was for
    /// the previous one: it moves to `previous_introductions` and the introduction starts over
    /// (NOT_SCHEDULED), since the new account manager needs its own before acceptance. A
    /// scheduled, not yet completed, introduction is kept: the proto voids only completed ones.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "history_limit" when [`MAX_PREVIOUS_INTRODUCTIONS`] introductions
    /// were voided already.
    pub(crate) fn replace_account_manager(
        &mut self,
        account_manager: String,
    ) -> Result<(), Problem> {
        if self.is_account_manager(&account_manager) {
            return Ok(());
        }
        if self.introduction.state == IntroductionState::Completed {
            if self.previous_introductions.len() >= MAX_PREVIOUS_INTRODUCTIONS {
                return Err(Problem::gate(
                    HISTORY_LIMIT_GATE,
                    "previous_introductions",
                    format!(
                        "the account manager changed after {MAX_PREVIOUS_INTRODUCTIONS} completed \
                         introductions already; no further change is recorded"
                    ),
                ));
            }
            let voided = std::mem::take(&mut self.introduction);
            self.previous_introductions.push(voided);
        }
        self.account_manager = Some(account_manager);
        Ok(())
    }

    /// AssignAccountManager: makes `account_manager` (a token subject) the account manager.
    /// A sales_manager assigns anyone in DRAFT or READY; the salesperson anyone while DRAFT; an
    /// account manager only itself, and only to a handoff with no account manager. Returns
    /// whether anything changed: assigning the current account manager again changes nothing.
    ///
    /// # Errors
    /// - PERMISSION_DENIED for a caller that is none of those, or an account manager assigning
    ///   anyone but itself;
    /// - FAILED_PRECONDITION gate "status" in ACCEPTED, or in READY for a caller that may assign
    ///   only as the salesperson;
    /// - FAILED_PRECONDITION gate "account_manager_assigned" (subject "account_manager") for an
    ///   account manager assigning itself to a handoff another one has: someone took it first;
    /// - FAILED_PRECONDITION gate "history_limit" (subject "previous_introductions") when a
    ///   completed introduction would be voided after [`MAX_PREVIOUS_INTRODUCTIONS`] already were.
    pub fn assign_account_manager(
        &mut self,
        by: &Principal,
        account_manager: String,
        now: i64,
    ) -> Result<bool, Problem> {
        let caps = access::capacities(by, self);
        let manager = caps.contains(&Capacity::SalesManager);
        let salesperson = caps.contains(&Capacity::Salesperson);
        let self_assigning =
            by.has(closeloop_kit::Role::AccountManager) && account_manager == by.subject;
        if !(manager || salesperson || self_assigning) {
            let why = if by.has(closeloop_kit::Role::AccountManager) {
                "an account manager may only assign itself"
            } else {
                "only the salesperson or a sales_manager may assign the account manager"
            };
            return Err(Problem::PermissionDenied(format!("{}: {why}", by.subject)));
        }
        self.require(Move::AssignAccountManager)?;
        if self.status == S::Ready && !manager && !self_assigning {
            return Err(status_refusal(
                self,
                "DRAFT",
                "the salesperson assigning the account manager",
            ));
        }
        if self.is_account_manager(&account_manager) {
            return Ok(false);
        }
        // Only the self-assigning account manager is bound to unassigned handoffs.
        let may_replace = manager || (salesperson && self.status == S::Draft);
        if !may_replace && let Some(current) = &self.account_manager {
            return Err(Problem::gate(
                ACCOUNT_MANAGER_ASSIGNED_GATE,
                "account_manager",
                format!(
                    "{current} is already the account manager; an account manager may only \
                     take an unassigned handoff"
                ),
            ));
        }
        self.replace_account_manager(account_manager)?;
        self.update_time = now;
        Ok(true)
    }

    /// SubmitHandoff: DRAFT -> READY when the readiness checklist is complete. A prefill still
    /// PENDING is given up (FAILED): what the salesperson entered was submitted, and filling
    /// people and goals into a handoff under review (or sent back to its salesperson) later would
    /// change it behind everyone's back.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless DRAFT; gate "readiness" with one violation per
    /// missing item (subject the item's code, description "{field}: {what is missing}").
    pub fn submit(&mut self, by: &Principal, now: i64) -> Result<(), Problem> {
        self.require(Move::Submit)?;
        let readiness = self.readiness();
        if !readiness.ready() {
            return Err(Problem::FailedPrecondition(readiness.violations()));
        }
        self.submit_time = Some(now);
        self.prefill_failed(
            "the handoff was submitted before the opportunity could be read; nothing is filled"
                .to_owned(),
            now,
        );
        self.enter(S::Ready, by, Vec::new(), now);
        Ok(())
    }

    /// RejectHandoff: READY -> DRAFT with the reasons; the rejection is kept in `rejections` and
    /// the status change carries the reasons.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless READY, gate "history_limit" (subject
    /// "rejections") once [`MAX_REJECTIONS`] are kept; INVALID_ARGUMENT `reasons` when there are
    /// none, more than [`MAX_REASONS`], or an empty one.
    pub fn reject(
        &mut self,
        by: &Principal,
        reasons: Vec<String>,
        now: i64,
    ) -> Result<(), Problem> {
        self.require(Move::Reject)?;
        if self.rejections.len() >= MAX_REJECTIONS {
            return Err(Problem::gate(
                HISTORY_LIMIT_GATE,
                "rejections",
                format!(
                    "the handoff was rejected {MAX_REJECTIONS} times already; accept it or ask a \
                     sales_manager"
                ),
            ));
        }
        if reasons.is_empty() || reasons.len() > MAX_REASONS {
            return Err(Problem::invalid(
                "reasons",
                format!("1 to {MAX_REASONS} reasons are required"),
            ));
        }
        if let Some(i) = reasons.iter().position(|r| r.trim().is_empty()) {
            return Err(Problem::invalid(format!("reasons[{i}]"), "required"));
        }
        self.rejections.push(Rejection {
            reasons: reasons.clone(),
            rejected_by: Actor::of(by),
            reject_time: now,
        });
        self.enter(S::Draft, by, reasons, now);
        Ok(())
    }

    /// AcceptHandoff: READY -> ACCEPTED once the introduction is completed. Accepting owes
    /// account-management an OpenAccount ([`Handoff::open_account`]), queued now
    /// (`account_opening.request_time`).
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless READY; gate "introduction_completed" (subject
    /// "introduction") unless the introduction is COMPLETED.
    pub fn accept(&mut self, by: &Principal, now: i64) -> Result<(), Problem> {
        self.require(Move::Accept)?;
        if self.introduction.state != IntroductionState::Completed {
            return Err(Problem::gate(
                INTRODUCTION_COMPLETED_GATE,
                "introduction",
                format!(
                    "the introduction is {}; the account manager must have been introduced \
                     (CompleteIntroduction) first",
                    self.introduction.state.code()
                ),
            ));
        }
        self.accept_time = Some(now);
        self.account_opening = AccountOpening {
            request_time: Some(now),
            account: String::new(),
            open_time: None,
        };
        self.enter(S::Accepted, by, Vec::new(), now);
        Ok(())
    }

    fn check_introduction_open(&self, m: Move) -> Result<(), Problem> {
        self.require(m)?;
        if self.account_manager.is_none() {
            return Err(Problem::gate(
                ACCOUNT_MANAGER_GATE,
                "account_manager",
                "an account manager must be assigned before the introduction",
            ));
        }
        if self.introduction.state == IntroductionState::Completed {
            return Err(Problem::gate(
                INTRODUCTION_COMPLETED_GATE,
                "introduction",
                "the introduction is completed already",
            ));
        }
        Ok(())
    }

    /// ScheduleIntroduction: plans (or re-plans, replacing the plan) the warm introduction.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless DRAFT or READY, gate "account_manager" without
    /// an account manager, gate "introduction_completed" once completed; INVALID_ARGUMENT
    /// `attendees` ([`check_attendees`]).
    pub fn schedule_introduction(
        &mut self,
        by: &Principal,
        plan: IntroductionPlan,
        now: i64,
    ) -> Result<(), Problem> {
        self.check_introduction_open(Move::ScheduleIntroduction)?;
        check_attendees("attendees", &plan.attendees)?;
        self.introduction = Introduction {
            state: IntroductionState::Scheduled,
            kind: Some(plan.kind),
            schedule_time: Some(plan.schedule_time),
            attendees: plan.attendees,
            location: plan.location,
            complete_time: None,
            notes: plan.notes,
            scheduled_by: Some(Actor::of(by)),
            schedule_record_time: Some(now),
            completed_by: None,
            account_manager: String::new(),
        };
        self.update_time = now;
        Ok(())
    }

    /// CompleteIntroduction: records that the introduction took place, for the account manager
    /// assigned now. Values given replace the scheduled ones.
    ///
    /// # Errors
    /// FAILED_PRECONDITION as [`Handoff::schedule_introduction`]; INVALID_ARGUMENT
    /// `complete_time` in the future, `kind` or `attendees` missing when the introduction was
    /// not scheduled, `attendees` given without a CLIENT and a COMPANY person.
    pub fn complete_introduction(
        &mut self,
        by: &Principal,
        done: IntroductionDone,
        now: i64,
    ) -> Result<(), Problem> {
        self.check_introduction_open(Move::CompleteIntroduction)?;
        let complete_time = done.complete_time.unwrap_or(now);
        if complete_time > now {
            return Err(Problem::invalid(
                "complete_time",
                "must not be in the future",
            ));
        }
        let scheduled = self.introduction.state == IntroductionState::Scheduled;
        let Some(kind) = done.kind.or(self.introduction.kind) else {
            return Err(Problem::invalid(
                "kind",
                "required when the introduction was not scheduled",
            ));
        };
        if done.attendees.is_empty() {
            if !scheduled {
                return Err(Problem::invalid(
                    "attendees",
                    "required when the introduction was not scheduled",
                ));
            }
        } else {
            check_attendees("attendees", &done.attendees)?;
        }
        let intro = &mut self.introduction;
        intro.state = IntroductionState::Completed;
        intro.kind = Some(kind);
        if !done.attendees.is_empty() {
            intro.attendees = done.attendees;
        }
        if !done.notes.is_empty() {
            intro.notes = done.notes;
        }
        intro.complete_time = Some(complete_time);
        intro.completed_by = Some(Actor::of(by));
        intro.account_manager = self.account_manager.clone().unwrap_or_default();
        self.update_time = now;
        Ok(())
    }

    /// UpdateOnboardingStepStatus: the step `step_id` enters `status` with `note` as its status
    /// note. Any status may follow any other; DONE sets the complete time, leaving DONE clears
    /// it. Allowed in every handoff status, except that the salesperson (acting as nothing
    /// else) may do it only in DRAFT or READY.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" for the salesperson on an ACCEPTED handoff; NOT_FOUND
    /// (resource "onboarding_step", name the step id) for no such step; INVALID_ARGUMENT `note`
    /// when BLOCKED or SKIPPED come without one.
    pub fn set_step_status(
        &mut self,
        by: &Principal,
        step_id: &str,
        status: OnboardingStepStatus,
        note: String,
        now: i64,
    ) -> Result<(), Problem> {
        self.require(Move::UpdateOnboardingStepStatus)?;
        let caps = access::capacities(by, self);
        let only_salesperson = caps == [Capacity::Salesperson];
        if only_salesperson && self.status == S::Accepted {
            return Err(status_refusal(
                self,
                "DRAFT or READY",
                "the salesperson updating an onboarding step",
            ));
        }
        let Some(step) = self.onboarding_plan.iter_mut().find(|s| s.id == step_id) else {
            return Err(Problem::NotFound {
                resource: "onboarding_step",
                name: step_id.to_owned(),
            });
        };
        if status.needs_note() && note.trim().is_empty() {
            return Err(Problem::invalid(
                "note",
                format!("required for status {}", status.code()),
            ));
        }
        step.set_status(status, &Actor::of(by), now);
        step.status_note = note;
        self.update_time = now;
        Ok(())
    }

    /// Records that account-management opened (or extended) the account `account`
    /// (`accounts/{account}`) at `open_time`, from its answer to OpenAccount. Recording the
    /// same again changes nothing (returns `false`).
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless ACCEPTED.
    pub fn record_account_opened(
        &mut self,
        account: String,
        open_time: i64,
    ) -> Result<bool, Problem> {
        self.require(Move::RecordAccountOpened)?;
        if self.account_opening.account == account && self.account_opening.open_time.is_some() {
            return Ok(false);
        }
        self.account_opening.account = account;
        self.account_opening.open_time = Some(open_time);
        self.update_time = open_time.max(self.update_time);
        Ok(true)
    }
}
