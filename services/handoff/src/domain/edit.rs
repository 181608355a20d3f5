//! UpdateHandoff: replacing whole fields named by the request's `update_mask` ([`Field`]) with
//! the values of a [`Patch`]. Who may replace which field in which status is
//! [`super::access::writable`]; the values' shapes (texts, required values, emails) are the API's
//! to check, what depends on the handoff is checked here. An edit of a READY handoff must keep
//! the readiness checklist complete. A refused edit changes nothing.

use closeloop_kit::error::GateViolation;
use closeloop_kit::{Principal, Problem, Violations, codes};
use time::Date;

use super::access;
use super::handoff::{
    CustomerNeed, Goal, Handoff, Milestone, OnboardingStep, Stakeholder, SuccessCriterion,
    SupportContact, VerbalCommitment,
};
use super::limits::{MAX_CRITERIA, MAX_ENTRIES, MAX_MILESTONE_DELIVERABLES, MAX_MILESTONES};
use super::vocabulary::{
    Actor, Contact, GoalOrigin, HandoffStatus, MilestoneOrigin, OnboardingStepStatus,
    SupportContactKind,
};

codes! {
    /// A path UpdateHandoff's `update_mask` may name; the code is the path. Any other path
    /// (`Field::from_code` gives `None`) is INVALID_ARGUMENT naming `update_mask`, the API's
    /// check; `*` stands for all of them ([`Field::ALL`]), as closeloop.common.v1 defines it, so
    /// it includes `salesperson` and the DRAFT-only fields: only a sales_manager on a DRAFT
    /// handoff may send it without a refusal.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Field {
        CustomerNeeds = "customer_needs",
        Goals = "goals",
        VerbalCommitments = "verbal_commitments",
        NoVerbalCommitments = "no_verbal_commitments",
        Stakeholders = "stakeholders",
        DeliveryTimeline = "delivery_timeline",
        SupportContacts = "support_contacts",
        OnboardingPlan = "onboarding_plan",
        Notes = "notes",
        AccountManager = "account_manager",
        Salesperson = "salesperson",
        AccountManagerNotes = "account_manager_notes",
    }
}

/// A goal as UpdateHandoff gives it. `id` naming an existing goal keeps that id and its origin;
/// `None` or an unknown id adds a goal (origin ADDED, a new id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalInput {
    pub id: Option<String>,
    pub description: String,
    pub success_criteria: Vec<SuccessCriterion>,
    pub target_date: Option<Date>,
}

/// A milestone as UpdateHandoff gives it; ids as for [`GoalInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneInput {
    pub id: Option<String>,
    pub title: String,
    pub due_date: Date,
    pub description: String,
    /// Each must be a deliverable id of the snapshot.
    pub deliverable_ids: Vec<String>,
}

/// An onboarding step as UpdateHandoff gives it; ids as for [`GoalInput`].
///
/// `status` and `status_note` are set by UpdateHandoff only in DRAFT; in READY and ACCEPTED they
/// change only by UpdateOnboardingStepStatus, so there they must be unset (`None`, empty) or the
/// step's current values. `None` keeps an existing step's status (NOT_STARTED for a new step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepInput {
    pub id: Option<String>,
    pub title: String,
    pub description: String,
    pub owner: Option<String>,
    pub client_contact: Option<Contact>,
    pub due_date: Option<Date>,
    pub status: Option<OnboardingStepStatus>,
    pub status_note: String,
}

/// The new values of the fields an UpdateHandoff replaces: `Some` for each path of the mask,
/// `None` for the others. Lists are replaced whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    pub customer_needs: Option<Vec<CustomerNeed>>,
    pub goals: Option<Vec<GoalInput>>,
    pub verbal_commitments: Option<Vec<VerbalCommitment>>,
    pub no_verbal_commitments: Option<bool>,
    pub stakeholders: Option<Vec<Stakeholder>>,
    pub delivery_timeline: Option<Vec<MilestoneInput>>,
    pub support_contacts: Option<Vec<SupportContact>>,
    pub onboarding_plan: Option<Vec<StepInput>>,
    pub notes: Option<String>,
    /// A token subject; the API refuses an empty one (AssignAccountManager requires it, and
    /// UpdateHandoff follows its rules), so the account manager can be replaced, not removed.
    pub account_manager: Option<String>,
    pub salesperson: Option<String>,
    pub account_manager_notes: Option<String>,
}

impl Patch {
    /// The fields it replaces: the paths of the update mask.
    pub fn fields(&self) -> Vec<Field> {
        let p = self;
        [
            (p.customer_needs.is_some(), Field::CustomerNeeds),
            (p.goals.is_some(), Field::Goals),
            (p.verbal_commitments.is_some(), Field::VerbalCommitments),
            (
                p.no_verbal_commitments.is_some(),
                Field::NoVerbalCommitments,
            ),
            (p.stakeholders.is_some(), Field::Stakeholders),
            (p.delivery_timeline.is_some(), Field::DeliveryTimeline),
            (p.support_contacts.is_some(), Field::SupportContacts),
            (p.onboarding_plan.is_some(), Field::OnboardingPlan),
            (p.notes.is_some(), Field::Notes),
            (p.account_manager.is_some(), Field::AccountManager),
            (p.salesperson.is_some(), Field::Salesperson),
            (
                p.account_manager_notes.is_some(),
                Field::AccountManagerNotes,
            ),
        ]
        .into_iter()
        .filter_map(|(set, f)| set.then_some(f))
        .collect()
    }
}

/// Records "the same id twice" for a repeated id among the entries that name one.
fn repeated_ids<'a>(v: &mut Violations, field: &str, ids: impl Iterator<Item = Option<&'a str>>) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, id) in ids.enumerate() {
        if let Some(id) = id {
            if seen.contains(&id) {
                v.add(
                    format!("{field}[{i}]"),
                    format!("{id:?} is the id of an earlier entry"),
                );
            } else {
                seen.push(id);
            }
        }
    }
}

fn bounded(v: &mut Violations, field: &str, len: Option<usize>, max: usize) {
    if len.is_some_and(|n| n > max) {
        v.add(field, format!("at most {max} entries"));
    }
}

impl Handoff {
    /// UpdateHandoff: replaces the fields `patch` gives, for the caller `by`.
    ///
    /// # Errors
    /// Checked in this order, and nothing is changed on any of them:
    /// - PERMISSION_DENIED for a field the caller may never replace, FAILED_PRECONDITION gate
    ///   "status" for one it may not replace in the current status ([`access::check_fields`]);
    /// - INVALID_ARGUMENT naming the field (`handoff.goals[2]`, `handoff.stakeholders[1].primary`,
    ///   ...) for a list longer than its bound, an id given twice, a milestone's deliverable id
    ///   that is not in the snapshot, a second primary stakeholder, `no_verbal_commitments` set
    ///   while there are verbal commitments, an OTHER support contact without notes, a BLOCKED or
    ///   SKIPPED step without a status note;
    /// - FAILED_PRECONDITION gate "status" (subject `onboarding_plan[i].status` or
    ///   `.status_note`) for a step status or note changed outside DRAFT;
    /// - FAILED_PRECONDITION gate "history_limit" when replacing the account manager would void
    ///   one completed introduction too many;
    /// - FAILED_PRECONDITION gate "readiness", one violation per missing item, when the handoff
    ///   is READY and the edit would leave unmet a check that was met (a check already unmet,
    ///   such as the introduction after a change of account manager, blocks nothing).
    pub fn edit(&mut self, by: &Principal, patch: Patch, now: i64) -> Result<(), Problem> {
        let fields = patch.fields();
        if fields.is_empty() {
            return Ok(());
        }
        access::check_fields(by, self, &fields)?;
        let mut next = self.clone();
        next.apply(patch, &Actor::of(by), now)?;
        if next.status == HandoffStatus::Ready {
            // "Keep every check met": a check already unmet while READY (the introduction, after
            // the account manager changed) does not block the account manager's own fields.
            let before = self.readiness();
            let broken: Vec<GateViolation> = next
                .readiness()
                .missing
                .iter()
                .filter(|item| before.checks.contains(&(item.check, true)))
                .map(|item| item.violation())
                .collect();
            if !broken.is_empty() {
                return Err(Problem::FailedPrecondition(broken));
            }
        }
        next.update_time = now;
        *self = next;
        Ok(())
    }

    fn check_patch(&self, p: &Patch) -> Result<(), Problem> {
        let mut v = Violations::new();
        const H: &str = "handoff";
        bounded(
            &mut v,
            "handoff.customer_needs",
            p.customer_needs.as_ref().map(Vec::len),
            MAX_ENTRIES,
        );
        bounded(
            &mut v,
            "handoff.goals",
            p.goals.as_ref().map(Vec::len),
            MAX_ENTRIES,
        );
        bounded(
            &mut v,
            "handoff.verbal_commitments",
            p.verbal_commitments.as_ref().map(Vec::len),
            MAX_ENTRIES,
        );
        bounded(
            &mut v,
            "handoff.stakeholders",
            p.stakeholders.as_ref().map(Vec::len),
            MAX_ENTRIES,
        );
        bounded(
            &mut v,
            "handoff.delivery_timeline",
            p.delivery_timeline.as_ref().map(Vec::len),
            MAX_MILESTONES,
        );
        bounded(
            &mut v,
            "handoff.support_contacts",
            p.support_contacts.as_ref().map(Vec::len),
            MAX_ENTRIES,
        );
        bounded(
            &mut v,
            "handoff.onboarding_plan",
            p.onboarding_plan.as_ref().map(Vec::len),
            MAX_ENTRIES,
        );

        if let Some(goals) = &p.goals {
            repeated_ids(
                &mut v,
                "handoff.goals",
                goals.iter().map(|g| g.id.as_deref()),
            );
            for (i, g) in goals.iter().enumerate() {
                if g.success_criteria.len() > MAX_CRITERIA {
                    v.add(
                        format!("{H}.goals[{i}].success_criteria"),
                        format!("at most {MAX_CRITERIA} entries"),
                    );
                }
            }
        }
        let commitments = p
            .verbal_commitments
            .as_ref()
            .map_or(self.verbal_commitments.len(), Vec::len);
        let none_made = p
            .no_verbal_commitments
            .unwrap_or(self.no_verbal_commitments);
        if none_made && commitments > 0 {
            v.add(
                format!("{H}.no_verbal_commitments"),
                "must be false while verbal_commitments is not empty",
            );
        }
        if let Some(stakeholders) = &p.stakeholders {
            let mut primary_seen = false;
            for (i, s) in stakeholders.iter().enumerate() {
                if s.primary && primary_seen {
                    v.add(
                        format!("{H}.stakeholders[{i}].primary"),
                        "another stakeholder is already primary: at most one may be",
                    );
                }
                primary_seen |= s.primary;
            }
        }
        if let Some(timeline) = &p.delivery_timeline {
            repeated_ids(
                &mut v,
                "handoff.delivery_timeline",
                timeline.iter().map(|m| m.id.as_deref()),
            );
            for (i, m) in timeline.iter().enumerate() {
                let field = || format!("{H}.delivery_timeline[{i}].deliverable_ids");
                if m.deliverable_ids.len() > MAX_MILESTONE_DELIVERABLES {
                    v.add(
                        field(),
                        format!("at most {MAX_MILESTONE_DELIVERABLES} entries"),
                    );
                } else if let Some(unknown) = m
                    .deliverable_ids
                    .iter()
                    .find(|id| self.snapshot.deliverable_index(id).is_none())
                {
                    v.add(
                        field(),
                        format!("{unknown:?} is not a deliverable of the contract snapshot"),
                    );
                }
            }
        }
        if let Some(contacts) = &p.support_contacts {
            for (i, c) in contacts.iter().enumerate() {
                if c.kind == SupportContactKind::Other && c.notes.trim().is_empty() {
                    v.add(
                        format!("{H}.support_contacts[{i}].notes"),
                        "required for kind OTHER: say what the contact is for",
                    );
                }
            }
        }
        if let Some(steps) = &p.onboarding_plan {
            repeated_ids(
                &mut v,
                "handoff.onboarding_plan",
                steps.iter().map(|s| s.id.as_deref()),
            );
            if self.status == HandoffStatus::Draft {
                for (i, s) in steps.iter().enumerate() {
                    let kept =
                        s.id.as_deref()
                            .and_then(|id| self.onboarding_plan.iter().find(|x| x.id == id));
                    let status = s
                        .status
                        .or(kept.map(|k| k.status))
                        .unwrap_or(OnboardingStepStatus::NotStarted);
                    if status.needs_note() && s.status_note.trim().is_empty() {
                        v.add(
                            format!("{H}.onboarding_plan[{i}].status_note"),
                            format!("required for status {}", status.code()),
                        );
                    }
                }
            }
        }
        v.into_result()?;

        // Outside DRAFT a step's progress is UpdateOnboardingStepStatus's to change.
        if self.status != HandoffStatus::Draft
            && let Some(steps) = &p.onboarding_plan
        {
            let mut blocked = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                let kept =
                    s.id.as_deref()
                        .and_then(|id| self.onboarding_plan.iter().find(|x| x.id == id));
                let (status, note) = kept.map_or((OnboardingStepStatus::NotStarted, ""), |k| {
                    (k.status, k.status_note.as_str())
                });
                if s.status.is_some_and(|given| given != status) {
                    blocked.push(GateViolation {
                        gate: "status".into(),
                        subject: format!("onboarding_plan[{i}].status"),
                        description: format!(
                            "the handoff is {}; a step's status changes only by \
                             UpdateOnboardingStepStatus",
                            self.status.code()
                        ),
                    });
                }
                if !s.status_note.is_empty() && s.status_note != note {
                    blocked.push(GateViolation {
                        gate: "status".into(),
                        subject: format!("onboarding_plan[{i}].status_note"),
                        description: format!(
                            "the handoff is {}; a step's status note changes only by \
                             UpdateOnboardingStepStatus",
                            self.status.code()
                        ),
                    });
                }
            }
            if !blocked.is_empty() {
                return Err(Problem::FailedPrecondition(blocked));
            }
        }
        Ok(())
    }

    /// Applies a checked patch.
    fn apply(&mut self, p: Patch, actor: &Actor, now: i64) -> Result<(), Problem> {
        self.check_patch(&p)?;
        let Patch {
            customer_needs,
            goals,
            verbal_commitments,
            no_verbal_commitments,
            stakeholders,
            delivery_timeline,
            support_contacts,
            onboarding_plan,
            notes,
            account_manager,
            salesperson,
            account_manager_notes,
        } = p;
        if let Some(am) = account_manager {
            self.replace_account_manager(am)?;
        }
        if let Some(list) = customer_needs {
            self.customer_needs = list;
        }
        if let Some(list) = goals {
            let mut next = Vec::with_capacity(list.len());
            for g in list {
                let kept =
                    g.id.as_deref()
                        .and_then(|id| self.goals.iter().find(|x| x.id == id))
                        .map(|k| (k.id.clone(), k.origin));
                let (id, origin) = match kept {
                    Some(k) => k,
                    None => (self.next_part_id("goal")?, GoalOrigin::Added),
                };
                next.push(Goal {
                    id,
                    description: g.description,
                    success_criteria: g.success_criteria,
                    target_date: g.target_date,
                    origin,
                });
            }
            self.goals = next;
        }
        if let Some(list) = verbal_commitments {
            self.verbal_commitments = list;
        }
        if let Some(none) = no_verbal_commitments {
            self.no_verbal_commitments = none;
        }
        if let Some(list) = stakeholders {
            self.stakeholders = list;
        }
        if let Some(list) = delivery_timeline {
            let mut next = Vec::with_capacity(list.len());
            for m in list {
                let kept =
                    m.id.as_deref()
                        .and_then(|id| self.delivery_timeline.iter().find(|x| x.id == id))
                        .map(|k| (k.id.clone(), k.origin));
                let (id, origin) = match kept {
                    Some(k) => k,
                    None => (self.next_part_id("milestone")?, MilestoneOrigin::Added),
                };
                next.push(Milestone {
                    id,
                    title: m.title,
                    due_date: m.due_date,
                    description: m.description,
                    deliverable_ids: m.deliverable_ids,
                    origin,
                });
            }
            self.delivery_timeline = next;
            self.sort_timeline();
        }
        if let Some(list) = support_contacts {
            self.support_contacts = list;
        }
        if let Some(list) = onboarding_plan {
            let draft = self.status == HandoffStatus::Draft;
            let mut next = Vec::with_capacity(list.len());
            for s in list {
                let kept =
                    s.id.as_deref()
                        .and_then(|id| self.onboarding_plan.iter().find(|x| x.id == id))
                        .cloned();
                let mut step = match kept {
                    Some(k) => k,
                    None => OnboardingStep {
                        id: self.next_part_id("step")?,
                        title: String::new(),
                        description: String::new(),
                        owner: None,
                        client_contact: None,
                        due_date: None,
                        status: OnboardingStepStatus::NotStarted,
                        status_note: String::new(),
                        complete_time: None,
                        status_update_time: None,
                        status_updated_by: None,
                    },
                };
                step.title = s.title;
                step.description = s.description;
                step.owner = s.owner;
                step.client_contact = s.client_contact;
                step.due_date = s.due_date;
                if draft {
                    let status = s.status.unwrap_or(step.status);
                    step.status_note = s.status_note;
                    if status != step.status {
                        step.set_status(status, actor, now);
                    }
                }
                next.push(step);
            }
            self.onboarding_plan = next;
        }
        if let Some(notes) = notes {
            self.notes = notes;
        }
        if let Some(salesperson) = salesperson {
            self.salesperson = salesperson;
        }
        if let Some(notes) = account_manager_notes {
            self.account_manager_notes = notes;
        }
        Ok(())
    }

    /// Keeps the timeline ordered by due date, then by the snapshot's order of the deliverables
    /// a milestone covers (milestones covering none after those that do), then as given.
    pub(crate) fn sort_timeline(&mut self) {
        let snapshot = &self.snapshot;
        self.delivery_timeline.sort_by_key(|m| {
            let first = m
                .deliverable_ids
                .iter()
                .filter_map(|id| snapshot.deliverable_index(id))
                .min()
                .unwrap_or(usize::MAX);
            (m.due_date, first)
        });
    }
}

impl OnboardingStep {
    /// Enters `status`: who and when are recorded; DONE sets the complete time (kept when it
    /// was DONE already), leaving DONE clears it.
    pub(crate) fn set_status(&mut self, status: OnboardingStepStatus, actor: &Actor, now: i64) {
        if status == OnboardingStepStatus::Done {
            if self.status != OnboardingStepStatus::Done || self.complete_time.is_none() {
                self.complete_time = Some(now);
            }
        } else {
            self.complete_time = None;
        }
        self.status = status;
        self.status_update_time = Some(now);
        self.status_updated_by = Some(actor.clone());
    }
}
