//! The handoff domain tested the way the service uses it: a handoff started from a snapshot,
//! prefilled, completed, submitted, rejected, accepted; every readiness item, every (status,
//! move) pair, the access table row by row, and who may replace which field.

use closeloop_kit::error::GateViolation;
use closeloop_kit::types::{CurrencyCode, Email, Money};
use closeloop_kit::{Principal, Problem, Role};
use time::macros::date;

use super::access::{self, Action, Capacity};
use super::account_opening::{stakeholder_contact_role, support_contact_role};
use super::edit::{Field, GoalInput, MilestoneInput, Patch, StepInput};
use super::handoff::{
    Attendee, CustomerNeed, Handoff, Introduction, OnboardingStep, PrefillState, Rejection,
    Stakeholder, SuccessCriterion, SupportContact, VerbalCommitment,
};
use super::lifecycle::{IntroductionDone, IntroductionPlan, Move, Objective, OpportunityFacts};
use super::limits::{
    MAX_CRITERIA, MAX_ENTRIES, MAX_MILESTONES, MAX_PREVIOUS_INTRODUCTIONS, MAX_REASONS,
    MAX_REJECTIONS, MILESTONE_TITLE,
};
use super::readiness::ReadinessItem;
use super::snapshot::tests::snapshot;
use super::vocabulary::{
    AccountContactRole, AccountOpeningState, Actor, CallState, Contact, GoalOrigin, HandoffId,
    HandoffStatus as S, IntroductionKind, IntroductionState, MilestoneOrigin, ObligationKind,
    ObligationParty, ObligationStatus, OnboardingStepStatus, PartySide, ReadinessCheck,
    StakeholderRole, SupportContactKind,
};

const T0: i64 = 1_767_225_600_000_000;
const HOUR: i64 = 3_600_000_000;

fn who(subject: &str, roles: &[Role]) -> Principal {
    Principal {
        subject: subject.into(),
        roles: roles.to_vec(),
    }
}

/// The contracts service.
fn service() -> Principal {
    who("closeloop-contracts-payments", &[Role::Service])
}
/// The handoff's salesperson (the snapshot's).
fn sam() -> Principal {
    who("sam", &[Role::SalesRep])
}
/// Another salesperson.
fn rita() -> Principal {
    who("rita", &[Role::SalesRep])
}
/// The account manager the handoffs below are assigned to.
fn alice() -> Principal {
    who("alice", &[Role::AccountManager])
}
/// Another account manager.
fn amy() -> Principal {
    who("amy", &[Role::AccountManager])
}
fn max() -> Principal {
    who("max", &[Role::SalesManager])
}
fn fiona() -> Principal {
    who("fiona", &[Role::Finance])
}
fn otto() -> Principal {
    who("otto", &[Role::Operations])
}

fn contact(name: &str, email: &str) -> Contact {
    Contact {
        display_name: name.into(),
        email: Some(Email::parse(email).unwrap()),
        phone: String::new(),
        title: String::new(),
    }
}

fn attendee(name: &str, side: PartySide) -> Attendee {
    Attendee {
        contact: contact(name, &format!("{}@example.com", name.to_lowercase())),
        side,
        subject: String::new(),
    }
}

fn attendees() -> Vec<Attendee> {
    vec![
        attendee("Carla", PartySide::Client),
        Attendee {
            subject: "alice".into(),
            ..attendee("Alice", PartySide::Company)
        },
    ]
}

fn plan() -> IntroductionPlan {
    IntroductionPlan {
        kind: IntroductionKind::JointCall,
        schedule_time: T0 + 48 * HOUR,
        attendees: attendees(),
        location: "https://meet.example.com/acme".into(),
        notes: "Agenda: goals, onboarding".into(),
    }
}

fn started() -> Handoff {
    Handoff::start(HandoffId::new(), snapshot(), &service(), T0).unwrap()
}

fn step(id: &str, owner: Option<&str>, due: Option<time::Date>) -> OnboardingStep {
    OnboardingStep {
        id: id.into(),
        title: "Kick-off workshop".into(),
        description: String::new(),
        owner: owner.map(str::to_owned),
        client_contact: None,
        due_date: due,
        status: OnboardingStepStatus::NotStarted,
        status_note: String::new(),
        complete_time: None,
        status_update_time: None,
        status_updated_by: None,
    }
}

/// A DRAFT handoff where every readiness check is met, assigned to alice, its introduction
/// scheduled. Filled field by field, so each test can take one item away.
fn complete() -> Handoff {
    let mut h = started();
    h.account_manager = Some("alice".into());
    h.customer_needs = vec![CustomerNeed {
        description: "Invoices approved without paper".into(),
        details: "Finance team of 12".into(),
    }];
    h.goals = vec![super::handoff::Goal {
        id: "goal-90".into(),
        description: "Cut invoice processing time".into(),
        success_criteria: vec![SuccessCriterion {
            description: "under 2 days by Q3".into(),
            target_date: None,
        }],
        target_date: Some(date!(2026 - 09 - 30)),
        origin: GoalOrigin::Added,
    }];
    h.no_verbal_commitments = true;
    h.stakeholders = vec![Stakeholder {
        contact: contact("Carla", "carla@acme.com"),
        role: StakeholderRole::Champion,
        primary: true,
    }];
    h.support_contacts = vec![
        SupportContact {
            kind: SupportContactKind::DayToDay,
            contact: contact("Dan", "dan@acme.com"),
            notes: String::new(),
        },
        SupportContact {
            kind: SupportContactKind::Billing,
            contact: contact("Bea", "bea@acme.com"),
            notes: String::new(),
        },
    ];
    h.onboarding_plan = vec![step("step-91", Some("olga"), Some(date!(2026 - 01 - 20)))];
    h.schedule_introduction(&sam(), plan(), T0).unwrap();
    h
}

fn ready() -> Handoff {
    let mut h = complete();
    h.submit(&sam(), T0 + HOUR).unwrap();
    h
}

fn done_intro() -> IntroductionDone {
    IntroductionDone {
        complete_time: None,
        notes: "Went well".into(),
        attendees: Vec::new(),
        kind: None,
    }
}

fn accepted() -> Handoff {
    let mut h = ready();
    h.complete_introduction(&alice(), done_intro(), T0 + 2 * HOUR)
        .unwrap();
    h.accept(&alice(), T0 + 3 * HOUR).unwrap();
    h
}

fn in_status(status: S) -> Handoff {
    match status {
        S::Draft => complete(),
        S::Ready => ready(),
        S::Accepted => accepted(),
    }
}

fn gates(p: &Problem) -> Vec<(String, String)> {
    match p {
        Problem::FailedPrecondition(v) => v
            .iter()
            .map(|g| (g.gate.clone(), g.subject.clone()))
            .collect(),
        other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
    }
}

fn gate_of(p: &Problem) -> String {
    match p {
        Problem::FailedPrecondition(v) if !v.is_empty() => v[0].gate.clone(),
        other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
    }
}

fn fields_of(p: &Problem) -> Vec<String> {
    match p {
        Problem::InvalidArgument(v) => v.iter().map(|f| f.field.clone()).collect(),
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

fn is_denied(p: &Problem) -> bool {
    matches!(p, Problem::PermissionDenied(_))
}

fn missing(h: &Handoff) -> Vec<(ReadinessCheck, String)> {
    h.readiness()
        .missing
        .into_iter()
        .map(|m| (m.check, m.field))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Start

#[test]
fn start_builds_a_draft_with_one_milestone_per_deliverable_ordered_by_due_date() {
    let h = started();
    assert_eq!(h.status, S::Draft);
    assert_eq!(h.salesperson, "sam");
    assert_eq!(h.account_manager, None);
    assert_eq!(
        h.prefill,
        PrefillState::Pending {
            failure: String::new(),
            time: T0
        }
    );
    assert_eq!(h.version, 1);
    assert_eq!(h.create_time, T0);
    // deliverable-2 is due first, so it comes first.
    let timeline: Vec<_> = h
        .delivery_timeline
        .iter()
        .map(|m| {
            (
                m.title.as_str(),
                m.due_date,
                m.deliverable_ids.clone(),
                m.origin,
            )
        })
        .collect();
    assert_eq!(
        timeline,
        [
            (
                "Kick-off training",
                date!(2026 - 02 - 01),
                vec!["deliverable-2".to_owned()],
                MilestoneOrigin::Contract
            ),
            (
                "Platform set-up",
                date!(2026 - 03 - 01),
                vec!["deliverable-1".to_owned()],
                MilestoneOrigin::Contract
            ),
        ]
    );
    assert_eq!(h.status_history.len(), 1);
    let first = &h.status_history[0];
    assert_eq!((first.from, first.to, first.time), (None, S::Draft, T0));
    assert_eq!(first.actor, Actor::service("closeloop-contracts-payments"));
    assert_eq!(h.name(), format!("handoffs/{}", h.id));
    assert_eq!(h.order(), "contracts/c1/orders/o1");
    assert_eq!(h.contract(), "contracts/c1");
    assert_eq!(h.opportunity(), "opportunities/p1");
    assert_eq!(h.account().account_id, "acme");
}

#[test]
fn a_long_deliverable_gives_a_title_cut_at_a_character_boundary_and_the_whole_description() {
    let mut s = snapshot();
    // 150 two-byte characters: 300 bytes, cut to 200 bytes = 100 characters.
    let long = "é".repeat(150);
    s.deliverables[0].description = long.clone();
    let h = Handoff::start(HandoffId::new(), s, &service(), T0).unwrap();
    let m = h
        .delivery_timeline
        .iter()
        .find(|m| m.deliverable_ids == ["deliverable-1"])
        .unwrap();
    assert_eq!(m.title, "é".repeat(MILESTONE_TITLE / 2));
    assert_eq!(m.description, long);
}

#[test]
fn deliverables_due_the_same_day_keep_the_contracts_order() {
    let mut s = snapshot();
    s.deliverables[0].due_date = date!(2026 - 02 - 01);
    let h = Handoff::start(HandoffId::new(), s, &service(), T0).unwrap();
    let ids: Vec<_> = h
        .delivery_timeline
        .iter()
        .map(|m| m.deliverable_ids[0].as_str())
        .collect();
    assert_eq!(ids, ["deliverable-1", "deliverable-2"]);
}

#[test]
fn an_inconsistent_snapshot_starts_nothing() {
    let mut s = snapshot();
    s.term_months = 13;
    let err = Handoff::start(HandoffId::new(), s, &service(), T0).unwrap_err();
    assert_eq!(fields_of(&err), ["contract_snapshot.term_months"]);
}

#[test]
fn the_largest_contract_fits_the_timeline() {
    let mut s = snapshot();
    let d = s.deliverables[0].clone();
    s.deliverables = (0..MAX_MILESTONES)
        .map(|i| super::snapshot::ContractDeliverable {
            id: format!("d{i}"),
            ..d.clone()
        })
        .collect();
    let h = Handoff::start(HandoffId::new(), s, &service(), T0).unwrap();
    assert_eq!(h.delivery_timeline.len(), MAX_MILESTONES);
}

// ---------------------------------------------------------------------------------------------
// Prefill

fn facts() -> OpportunityFacts {
    OpportunityFacts {
        stakeholders: vec![
            Stakeholder {
                contact: contact("Carla", "carla@acme.com"),
                role: StakeholderRole::Champion,
                primary: false,
            },
            Stakeholder {
                contact: contact("Eve", "eve@acme.com"),
                role: StakeholderRole::EconomicBuyer,
                primary: true,
            },
        ],
        objectives: vec![
            Objective {
                description: "Cut invoice processing time".into(),
                success_measure: "under 2 days by Q3".into(),
            },
            Objective {
                description: "Fewer late payments".into(),
                success_measure: String::new(),
            },
        ],
    }
}

#[test]
fn prefill_fills_stakeholders_and_turns_objectives_into_goals() {
    let mut h = started();
    let added = h.prefill(facts(), T0 + 1).unwrap();
    assert_eq!((added.stakeholders, added.goals), (2, 2));
    assert_eq!(h.prefill, PrefillState::Done { time: T0 + 1 });
    assert_eq!(h.stakeholders, facts().stakeholders);
    let goals: Vec<_> = h
        .goals
        .iter()
        .map(|g| {
            (
                g.description.as_str(),
                g.success_criteria
                    .iter()
                    .map(|c| c.description.as_str())
                    .collect::<Vec<_>>(),
                g.origin,
            )
        })
        .collect();
    assert_eq!(
        goals,
        [
            (
                "Cut invoice processing time",
                vec!["under 2 days by Q3"],
                GoalOrigin::OpportunityObjective
            ),
            (
                "Fewer late payments",
                vec![],
                GoalOrigin::OpportunityObjective
            ),
        ]
    );
    // Nothing is invented: the goal without a measure stays incomplete.
    assert!(missing(&h).contains(&(
        ReadinessCheck::GoalSuccessCriteria,
        "goals[1].success_criteria".into()
    )));
    assert_ne!(h.goals[0].id, h.goals[1].id);
}

#[test]
fn prefill_applied_twice_fills_nothing_twice() {
    let mut h = started();
    h.prefill(facts(), T0 + 1).unwrap();
    let once = h.clone();
    let again = h.prefill(facts(), T0 + 2).unwrap();
    assert_eq!((again.stakeholders, again.goals), (0, 0));
    assert_eq!(h, once);
    // Even a handoff whose state was lost is not filled twice: people and objectives already
    // there are recognised.
    h.prefill = PrefillState::Pending {
        failure: String::new(),
        time: T0,
    };
    let third = h.prefill(facts(), T0 + 3).unwrap();
    assert_eq!((third.stakeholders, third.goals), (0, 0));
    assert_eq!(h.stakeholders, once.stakeholders);
    assert_eq!(h.goals, once.goals);
}

#[test]
fn prefill_keeps_one_primary_and_skips_people_already_there() {
    let mut h = started();
    h.stakeholders = vec![Stakeholder {
        contact: contact("Zoe", "zoe@acme.com"),
        role: StakeholderRole::User,
        primary: true,
    }];
    let mut f = facts();
    f.stakeholders.push(Stakeholder {
        contact: contact("Zoe Again", "ZOE@acme.com"),
        role: StakeholderRole::DecisionMaker,
        primary: false,
    });
    let added = h.prefill(f, T0).unwrap();
    assert_eq!(added.stakeholders, 2);
    assert_eq!(h.stakeholders.iter().filter(|s| s.primary).count(), 1);
    assert!(h.stakeholders[0].primary);
}

#[test]
fn prefill_stops_at_the_list_bound_and_cuts_long_texts() {
    let mut h = started();
    let f = OpportunityFacts {
        stakeholders: (0..MAX_ENTRIES + 20)
            .map(|i| Stakeholder {
                contact: contact(&format!("P{i}"), &format!("p{i}@acme.com")),
                role: StakeholderRole::User,
                primary: false,
            })
            .collect(),
        objectives: vec![Objective {
            description: "x".repeat(5000),
            success_measure: "   ".into(),
        }],
    };
    h.prefill(f, T0).unwrap();
    assert_eq!(h.stakeholders.len(), MAX_ENTRIES);
    assert_eq!(h.goals[0].description.len(), super::limits::MAX_GOAL);
    assert!(h.goals[0].success_criteria.is_empty());
}

#[test]
fn a_handoff_starts_pending_and_keeps_why_the_read_failed() {
    let mut h = started();
    assert_eq!(
        h.prefill,
        PrefillState::Pending {
            failure: String::new(),
            time: T0
        }
    );
    h.prefill_deferred("UNAVAILABLE: opportunities is down".into());
    assert_eq!(h.prefill.code(), "PENDING");
    assert_eq!(h.prefill.failure(), "UNAVAILABLE: opportunities is down");
    assert_eq!(h.prefill.time(), T0, "still the same state");
    h.prefill(facts(), T0 + 1).unwrap();
    assert_eq!(h.prefill, PrefillState::Done { time: T0 + 1 });
    assert_eq!(h.prefill.failure(), "");
    // Nothing moves a DONE prefill.
    h.prefill_deferred("late".into());
    h.prefill_failed("late failure".into(), T0 + 2);
    assert_eq!(h.prefill, PrefillState::Done { time: T0 + 1 });
}

#[test]
fn a_failed_prefill_is_not_retried() {
    let mut h = started();
    h.prefill_failed("opportunities/p1 does not exist".into(), T0 + 1);
    assert_eq!(h.prefill.code(), "FAILED");
    assert_eq!(h.prefill.failure(), "opportunities/p1 does not exist");
    let added = h.prefill(facts(), T0 + 2).unwrap();
    assert_eq!((added.stakeholders, added.goals), (0, 0));
    assert!(h.stakeholders.is_empty() && h.goals.is_empty());
    assert_eq!(h.prefill.code(), "FAILED");
}

#[test]
fn submitting_gives_up_a_pending_prefill() {
    let mut h = complete();
    assert!(h.prefill.is_pending());
    h.submit(&sam(), T0 + HOUR).unwrap();
    assert_eq!(h.prefill.code(), "FAILED");
    assert_eq!(h.prefill.time(), T0 + HOUR);
    let before = h.clone();
    assert_eq!(h.prefill(facts(), T0 + 2 * HOUR).unwrap().goals, 0);
    assert_eq!(
        h, before,
        "a READY handoff is not filled behind the account manager"
    );
    // A prefill that was DONE stays DONE.
    let mut h = complete();
    h.prefill(OpportunityFacts::default(), T0).unwrap();
    h.submit(&sam(), T0 + HOUR).unwrap();
    assert_eq!(h.prefill, PrefillState::Done { time: T0 });
}

// ---------------------------------------------------------------------------------------------
// Readiness

#[test]
fn the_complete_handoff_is_ready() {
    let r = complete().readiness();
    assert!(r.ready(), "{:?}", r.missing);
    assert_eq!(r.checks.len(), ReadinessCheck::ALL.len());
    assert!(r.checks.iter().all(|(_, met)| *met));
}

/// Each item taken away alone, and what the checklist must then report (check, field), exactly.
#[test]
fn every_readiness_item_missing_alone() {
    use ReadinessCheck as C;
    type Change = fn(&mut Handoff);
    let cases: Vec<(Change, Vec<(ReadinessCheck, &str)>)> = vec![
        (
            |h| h.account_manager = None,
            vec![(C::AccountManager, "account_manager")],
        ),
        (
            |h| h.customer_needs.clear(),
            vec![(C::CustomerNeeds, "customer_needs")],
        ),
        (|h| h.goals.clear(), vec![(C::Goals, "goals")]),
        (
            |h| {
                let mut g = h.goals[0].clone();
                g.id = "goal-99".into();
                g.success_criteria.clear();
                h.goals.push(g);
            },
            vec![(C::GoalSuccessCriteria, "goals[1].success_criteria")],
        ),
        (
            |h| h.no_verbal_commitments = false,
            vec![(C::VerbalCommitments, "verbal_commitments")],
        ),
        // No stakeholder at all cannot have exactly one primary: both checks fail.
        (
            |h| h.stakeholders.clear(),
            vec![
                (C::Stakeholders, "stakeholders"),
                (C::PrimaryStakeholder, "stakeholders"),
            ],
        ),
        (
            |h| h.stakeholders[0].primary = false,
            vec![(C::PrimaryStakeholder, "stakeholders")],
        ),
        (
            |h| {
                let mut second = h.stakeholders[0].clone();
                second.contact = contact("Eve", "eve@acme.com");
                h.stakeholders.push(second);
            },
            vec![(C::PrimaryStakeholder, "stakeholders")],
        ),
        (
            |h| h.delivery_timeline.clear(),
            vec![(C::DeliveryTimeline, "delivery_timeline")],
        ),
        (
            |h| {
                h.support_contacts
                    .retain(|c| c.kind != SupportContactKind::DayToDay)
            },
            vec![(C::DayToDayContact, "support_contacts")],
        ),
        (
            |h| {
                h.support_contacts
                    .retain(|c| c.kind != SupportContactKind::Billing)
            },
            vec![(C::BillingContact, "support_contacts")],
        ),
        (
            |h| h.onboarding_plan.clear(),
            vec![(C::OnboardingPlan, "onboarding_plan")],
        ),
        (
            |h| h.onboarding_plan[0].owner = None,
            vec![(C::OnboardingStepDetails, "onboarding_plan[0].owner")],
        ),
        (
            |h| h.onboarding_plan[0].due_date = None,
            vec![(C::OnboardingStepDetails, "onboarding_plan[0].due_date")],
        ),
        (
            |h| h.introduction = Introduction::default(),
            vec![(C::Introduction, "introduction")],
        ),
    ];
    let mut seen: Vec<ReadinessCheck> = Vec::new();
    for (change, expected) in cases {
        let mut h = complete();
        change(&mut h);
        let expected: Vec<(ReadinessCheck, String)> = expected
            .into_iter()
            .map(|(c, f)| (c, f.to_owned()))
            .collect();
        assert_eq!(missing(&h), expected);
        let r = h.readiness();
        for (check, met) in &r.checks {
            assert_eq!(
                *met,
                !expected.iter().any(|(c, _)| c == check),
                "{check:?} in {expected:?}"
            );
        }
        seen.extend(expected.iter().map(|(c, _)| *c));
        // Submit refuses with exactly these items and changes nothing.
        let before = h.clone();
        let err = h.submit(&sam(), T0 + HOUR).unwrap_err();
        let got: Vec<(String, String)> = gates(&err);
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(c, _)| ("readiness".to_owned(), c.code().to_owned()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(h, before);
    }
    for check in ReadinessCheck::ALL {
        assert!(seen.contains(&check), "{check:?} never tested alone");
    }
    // A scheduled introduction is enough; a completed one too.
    let mut h = complete();
    h.complete_introduction(&alice(), done_intro(), T0 + HOUR)
        .unwrap();
    assert!(h.readiness().ready());
}

#[test]
fn every_readiness_item_missing_at_once_in_check_order() {
    let mut h = started();
    h.delivery_timeline.clear();
    let r = h.readiness();
    let codes: Vec<&str> = r.missing.iter().map(ReadinessItem::code).collect();
    assert_eq!(
        codes,
        [
            "account_manager",
            "customer_needs",
            "goals",
            "verbal_commitments",
            "stakeholders",
            "primary_stakeholder",
            "delivery_timeline",
            "day_to_day_contact",
            "billing_contact",
            "onboarding_plan",
            "introduction",
        ]
    );
    // The per-entry checks, several items each, with their paths.
    h.goals = complete().goals;
    for i in 0..3 {
        let mut g = h.goals[0].clone();
        g.id = format!("goal-x{i}");
        if i != 1 {
            g.success_criteria.clear();
        }
        h.goals.push(g);
    }
    h.onboarding_plan = vec![
        step("s0", None, None),
        step("s1", Some("olga"), Some(date!(2026 - 02 - 01))),
        step("s2", None, Some(date!(2026 - 02 - 01))),
    ];
    let per_entry: Vec<(ReadinessCheck, String)> = missing(&h)
        .into_iter()
        .filter(|(c, _)| {
            matches!(
                c,
                ReadinessCheck::GoalSuccessCriteria | ReadinessCheck::OnboardingStepDetails
            )
        })
        .collect();
    assert_eq!(
        per_entry,
        [
            (
                ReadinessCheck::GoalSuccessCriteria,
                "goals[1].success_criteria".into()
            ),
            (
                ReadinessCheck::GoalSuccessCriteria,
                "goals[3].success_criteria".into()
            ),
            (
                ReadinessCheck::OnboardingStepDetails,
                "onboarding_plan[0].owner".into()
            ),
            (
                ReadinessCheck::OnboardingStepDetails,
                "onboarding_plan[0].due_date".into()
            ),
            (
                ReadinessCheck::OnboardingStepDetails,
                "onboarding_plan[2].owner".into()
            ),
        ]
    );
    // Every check failing, in enum order, with its result.
    let r = h.readiness();
    let order: Vec<ReadinessCheck> = r.checks.iter().map(|(c, _)| *c).collect();
    assert_eq!(order, ReadinessCheck::ALL);
    let met: Vec<ReadinessCheck> = r
        .checks
        .iter()
        .filter(|(_, met)| *met)
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(met, [ReadinessCheck::Goals, ReadinessCheck::OnboardingPlan]);
}

#[test]
fn a_failed_submit_reports_each_item_as_the_proto_shapes_it() {
    let mut h = complete();
    let mut g = h.goals[0].clone();
    g.id = "goal-2".into();
    g.success_criteria.clear();
    h.goals.push(g);
    h.support_contacts.clear();
    let err = h.submit(&sam(), T0).unwrap_err();
    let Problem::FailedPrecondition(v) = err else {
        panic!("expected FAILED_PRECONDITION");
    };
    assert_eq!(
        v,
        [
            GateViolation {
                gate: "readiness".into(),
                subject: "goal_success_criteria".into(),
                description: "goals[1].success_criteria: at least one success criterion is \
                              required"
                    .into(),
            },
            GateViolation {
                gate: "readiness".into(),
                subject: "day_to_day_contact".into(),
                description: "support_contacts: a DAY_TO_DAY support contact is required".into(),
            },
            GateViolation {
                gate: "readiness".into(),
                subject: "billing_contact".into(),
                description: "support_contacts: a BILLING support contact is required".into(),
            },
        ]
    );
}

#[test]
fn verbal_commitments_or_the_confirmation_meet_the_check() {
    let mut h = complete();
    h.no_verbal_commitments = false;
    h.verbal_commitments = vec![commitment()];
    assert!(h.readiness().ready());
}

fn commitment() -> VerbalCommitment {
    VerbalCommitment {
        description: "Free data migration".into(),
        promised_by: Contact {
            display_name: "Sam".into(),
            email: None,
            phone: String::new(),
            title: String::new(),
        },
        promised_to: Contact {
            display_name: "Carla".into(),
            email: None,
            phone: String::new(),
            title: String::new(),
        },
        promise_date: None,
        due_date: Some(date!(2026 - 02 - 15)),
        notes: "said on the pricing call".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Every (status, move) pair

/// The table, written out: whether `m` may start from `s`.
fn allowed(m: Move, s: S) -> bool {
    use Move::*;
    match (m, s) {
        (Prefill, S::Draft) => true,
        (Prefill, S::Ready | S::Accepted) => false,
        (AssignAccountManager, S::Draft | S::Ready) => true,
        (AssignAccountManager, S::Accepted) => false,
        (Submit, S::Draft) => true,
        (Submit, S::Ready | S::Accepted) => false,
        (Reject, S::Ready) => true,
        (Reject, S::Draft | S::Accepted) => false,
        (Accept, S::Ready) => true,
        (Accept, S::Draft | S::Accepted) => false,
        (ScheduleIntroduction, S::Draft | S::Ready) => true,
        (ScheduleIntroduction, S::Accepted) => false,
        (CompleteIntroduction, S::Draft | S::Ready) => true,
        (CompleteIntroduction, S::Accepted) => false,
        (UpdateOnboardingStepStatus, _) => true,
        (RecordAccountOpened, S::Accepted) => true,
        (RecordAccountOpened, S::Draft | S::Ready) => false,
    }
}

/// A handoff in `s` that meets every other condition of `m`, and `m` made on it by a
/// sales_manager (who may do everything but start).
fn make(m: Move, s: S) -> (Handoff, Result<(), Problem>) {
    let mut h = in_status(s);
    let by = max();
    let now = T0 + 10 * HOUR;
    match m {
        Move::Prefill => {
            h.prefill = PrefillState::Pending {
                failure: String::new(),
                time: T0,
            }
        }
        Move::Accept if h.introduction.state != IntroductionState::Completed => {
            h.introduction.state = IntroductionState::Completed;
        }
        _ => {}
    }
    let before = h.clone();
    let result = match m {
        Move::Prefill => h.prefill(facts(), now).map(|_| ()),
        Move::AssignAccountManager => h.assign_account_manager(&by, "amy".into(), now).map(|_| ()),
        Move::Submit => h.submit(&by, now),
        Move::Reject => h.reject(&by, vec!["Goals are vague".into()], now),
        Move::Accept => h.accept(&by, now),
        Move::ScheduleIntroduction => h.schedule_introduction(&by, plan(), now),
        Move::CompleteIntroduction => h.complete_introduction(&by, done_intro(), now),
        Move::UpdateOnboardingStepStatus => h.set_step_status(
            &by,
            "step-91",
            OnboardingStepStatus::InProgress,
            String::new(),
            now,
        ),
        Move::RecordAccountOpened => h
            .record_account_opened("accounts/a1".into(), now)
            .map(|_| ()),
    };
    if result.is_err() {
        assert_eq!(h, before, "{m:?} from {s:?}: a refusal changes nothing");
    }
    (h, result)
}

#[test]
fn every_status_and_move_pair_matches_the_written_table() {
    for m in Move::ALL {
        for s in S::ALL {
            assert_eq!(m.from().contains(&s), allowed(m, s), "{m:?} from {s:?}");
            let (h, result) = make(m, s);
            match (allowed(m, s), result) {
                (true, Ok(())) => {
                    if let Some(to) = m.to() {
                        assert_eq!(h.status, to, "{m:?} from {s:?}");
                        let last = h.status_history.last().unwrap();
                        assert_eq!((last.from, last.to), (Some(s), to));
                    } else {
                        assert_eq!(h.status, s, "{m:?} from {s:?} keeps the status");
                    }
                }
                (true, Err(e)) => panic!("{m:?} from {s:?} refused: {e:?}"),
                (false, Ok(())) => panic!("{m:?} from {s:?} allowed"),
                (false, Err(e)) => {
                    assert_eq!(
                        gates(&e),
                        [("status".to_owned(), "status".to_owned())],
                        "{m:?} from {s:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn only_submit_reject_and_accept_change_the_status() {
    let changing: Vec<(Move, S)> = Move::ALL
        .into_iter()
        .filter_map(|m| m.to().map(|to| (m, to)))
        .collect();
    assert_eq!(
        changing,
        [
            (Move::Submit, S::Ready),
            (Move::Reject, S::Draft),
            (Move::Accept, S::Accepted)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Submit, reject, accept

#[test]
fn submit_moves_to_ready_and_records_when() {
    let h = ready();
    assert_eq!(h.status, S::Ready);
    assert_eq!(h.submit_time, Some(T0 + HOUR));
    assert_eq!(h.status_history.len(), 2);
    assert_eq!(h.status_history[1].actor.subject, "sam");
}

#[test]
fn every_rejection_is_kept_with_who_and_when() {
    let mut h = ready();
    h.reject(
        &alice(),
        vec!["Goals are vague".into(), "No billing email".into()],
        T0 + 2 * HOUR,
    )
    .unwrap();
    assert_eq!(h.status, S::Draft);
    h.submit(&sam(), T0 + 3 * HOUR).unwrap();
    assert_eq!(h.submit_time, Some(T0 + 3 * HOUR));
    h.reject(&max(), vec!["Still vague".into()], T0 + 4 * HOUR)
        .unwrap();
    assert_eq!(
        h.rejections,
        [
            Rejection {
                reasons: vec!["Goals are vague".into(), "No billing email".into()],
                rejected_by: Actor {
                    subject: "alice".into(),
                    role: "account_manager".into()
                },
                reject_time: T0 + 2 * HOUR,
            },
            Rejection {
                reasons: vec!["Still vague".into()],
                rejected_by: Actor {
                    subject: "max".into(),
                    role: "sales_manager".into()
                },
                reject_time: T0 + 4 * HOUR,
            },
        ]
    );
    let moves: Vec<(Option<S>, S, Vec<String>)> = h
        .status_history
        .iter()
        .map(|c| (c.from, c.to, c.reasons.clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (None, S::Draft, vec![]),
            (Some(S::Draft), S::Ready, vec![]),
            (
                Some(S::Ready),
                S::Draft,
                vec!["Goals are vague".into(), "No billing email".into()]
            ),
            (Some(S::Draft), S::Ready, vec![]),
            (Some(S::Ready), S::Draft, vec!["Still vague".into()]),
        ]
    );
}

#[test]
fn a_rejection_needs_one_to_twenty_reasons() {
    let mut h = ready();
    let before = h.clone();
    for reasons in [
        vec![],
        vec!["r".to_owned(); MAX_REASONS + 1],
        vec!["ok".to_owned(), "  ".to_owned()],
    ] {
        let err = h.reject(&alice(), reasons, T0).unwrap_err();
        assert!(matches!(err, Problem::InvalidArgument(_)), "{err:?}");
        assert_eq!(h, before);
    }
    assert!(
        h.reject(&alice(), vec!["r".into(); MAX_REASONS], T0)
            .is_ok()
    );
}

#[test]
fn rejections_are_bounded_and_the_handoff_can_still_be_accepted() {
    let mut h = ready();
    h.rejections = vec![
        Rejection {
            reasons: vec!["old".into()],
            rejected_by: Actor::of(&alice()),
            reject_time: T0,
        };
        MAX_REJECTIONS
    ];
    let before = h.clone();
    let err = h.reject(&alice(), vec!["again".into()], T0).unwrap_err();
    assert_eq!(
        gates(&err),
        [("history_limit".to_owned(), "rejections".to_owned())]
    );
    assert_eq!(h, before);
    h.complete_introduction(&alice(), done_intro(), T0).unwrap();
    assert!(h.accept(&alice(), T0).is_ok());
}

#[test]
fn accept_needs_a_completed_introduction() {
    let mut h = ready();
    let before = h.clone();
    let err = h.accept(&alice(), T0 + 2 * HOUR).unwrap_err();
    assert_eq!(
        gates(&err),
        [(
            "introduction_completed".to_owned(),
            "introduction".to_owned()
        )]
    );
    assert_eq!(h, before);
    let h = accepted();
    assert_eq!(h.status, S::Accepted);
    assert_eq!(h.accept_time, Some(T0 + 3 * HOUR));
    assert_eq!(h.account_opening.request_time, Some(T0 + 3 * HOUR));
}

// ---------------------------------------------------------------------------------------------
// Account manager assignment

#[test]
fn an_account_manager_takes_an_unassigned_handoff_in_draft_or_ready() {
    for s in [S::Draft, S::Ready] {
        let mut h = in_status(s);
        h.account_manager = None;
        assert!(
            h.assign_account_manager(&amy(), "amy".into(), T0 + 5 * HOUR)
                .unwrap()
        );
        assert_eq!(h.account_manager.as_deref(), Some("amy"));
        assert_eq!(h.update_time, T0 + 5 * HOUR);
    }
}

#[test]
fn an_account_manager_may_only_assign_itself() {
    let mut h = complete();
    h.account_manager = None;
    let before = h.clone();
    let err = h
        .assign_account_manager(&amy(), "alice".into(), T0)
        .unwrap_err();
    assert!(is_denied(&err), "{err:?}");
    assert_eq!(h, before);
    // Denied even on an ACCEPTED handoff: who it assigns is refused before the status.
    let mut h = accepted();
    let err = h
        .assign_account_manager(&amy(), "bob".into(), T0)
        .unwrap_err();
    assert!(is_denied(&err), "{err:?}");
}

#[test]
fn an_account_manager_finding_the_handoff_taken_gets_the_assigned_gate() {
    for s in [S::Draft, S::Ready] {
        let mut h = in_status(s);
        let before = h.clone();
        let err = h
            .assign_account_manager(&amy(), "amy".into(), T0)
            .unwrap_err();
        assert_eq!(
            gates(&err),
            [(
                "account_manager_assigned".to_owned(),
                "account_manager".to_owned()
            )]
        );
        assert_eq!(h, before);
    }
}

#[test]
fn assigning_itself_again_changes_nothing() {
    let mut h = complete();
    let before = h.clone();
    assert!(
        !h.assign_account_manager(&alice(), "alice".into(), T0 + 9)
            .unwrap()
    );
    assert_eq!(h, before);
}

#[test]
fn the_salesperson_assigns_anyone_while_draft_only() {
    let mut h = complete();
    assert!(h.assign_account_manager(&sam(), "amy".into(), T0).unwrap());
    assert_eq!(h.account_manager.as_deref(), Some("amy"));
    let mut h = ready();
    let before = h.clone();
    let err = h
        .assign_account_manager(&sam(), "amy".into(), T0)
        .unwrap_err();
    assert_eq!(gate_of(&err), "status");
    assert_eq!(h, before);
    // A salesperson that is also an account manager may still take an unassigned READY one.
    let mut h = ready();
    h.account_manager = None;
    let both = who("sam", &[Role::SalesRep, Role::AccountManager]);
    assert!(h.assign_account_manager(&both, "sam".into(), T0).unwrap());
}

#[test]
fn a_sales_manager_assigns_anyone_in_draft_or_ready() {
    for s in [S::Draft, S::Ready] {
        let mut h = in_status(s);
        assert!(h.assign_account_manager(&max(), "amy".into(), T0).unwrap());
    }
    let mut h = accepted();
    let err = h
        .assign_account_manager(&max(), "amy".into(), T0)
        .unwrap_err();
    assert_eq!(gate_of(&err), "status");
}

#[test]
fn others_may_not_assign() {
    for p in [service(), fiona(), otto(), rita()] {
        let mut h = complete();
        let err = h
            .assign_account_manager(&p, p.subject.clone(), T0)
            .unwrap_err();
        assert!(is_denied(&err), "{p:?}: {err:?}");
    }
}

#[test]
fn a_new_account_manager_voids_a_completed_introduction() {
    let mut h = complete();
    h.complete_introduction(&alice(), done_intro(), T0 + HOUR)
        .unwrap();
    let completed = h.introduction.clone();
    assert_eq!(completed.account_manager, "alice");
    h.assign_account_manager(&max(), "amy".into(), T0 + 2 * HOUR)
        .unwrap();
    assert_eq!(h.previous_introductions, [completed]);
    assert_eq!(h.introduction, Introduction::default());
    assert_eq!(
        missing(&h),
        [(ReadinessCheck::Introduction, "introduction".into())]
    );
    // A scheduled one is kept.
    let mut h = complete();
    let scheduled = h.introduction.clone();
    h.assign_account_manager(&max(), "amy".into(), T0).unwrap();
    assert_eq!(h.introduction, scheduled);
    assert!(h.previous_introductions.is_empty());
}

#[test]
fn voided_introductions_are_bounded() {
    let mut h = complete();
    h.complete_introduction(&alice(), done_intro(), T0).unwrap();
    h.previous_introductions = vec![h.introduction.clone(); MAX_PREVIOUS_INTRODUCTIONS];
    let before = h.clone();
    let err = h
        .assign_account_manager(&max(), "amy".into(), T0)
        .unwrap_err();
    assert_eq!(
        gates(&err),
        [(
            "history_limit".to_owned(),
            "previous_introductions".to_owned()
        )]
    );
    assert_eq!(h, before);
}

// ---------------------------------------------------------------------------------------------
// Introduction

#[test]
fn scheduling_needs_an_account_manager_and_an_open_introduction() {
    let mut h = started();
    let err = h.schedule_introduction(&sam(), plan(), T0).unwrap_err();
    assert_eq!(
        gates(&err),
        [("account_manager".to_owned(), "account_manager".to_owned())]
    );
    let err = h
        .complete_introduction(&sam(), done_intro(), T0)
        .unwrap_err();
    assert_eq!(gate_of(&err), "account_manager");

    let mut h = complete();
    h.complete_introduction(&alice(), done_intro(), T0).unwrap();
    let before = h.clone();
    let err = h.schedule_introduction(&sam(), plan(), T0).unwrap_err();
    assert_eq!(
        gates(&err),
        [(
            "introduction_completed".to_owned(),
            "introduction".to_owned()
        )]
    );
    let err = h
        .complete_introduction(&sam(), done_intro(), T0)
        .unwrap_err();
    assert_eq!(gate_of(&err), "introduction_completed");
    assert_eq!(h, before);
}

#[test]
fn attendees_need_a_client_and_a_company_person() {
    let mut h = complete();
    let before = h.clone();
    for bad in [
        vec![],
        vec![attendee("Carla", PartySide::Client)],
        vec![attendee("Alice", PartySide::Company)],
        vec![attendee("X", PartySide::Client); super::limits::MAX_ATTENDEES + 1],
    ] {
        let err = h
            .schedule_introduction(
                &sam(),
                IntroductionPlan {
                    attendees: bad,
                    ..plan()
                },
                T0,
            )
            .unwrap_err();
        assert_eq!(fields_of(&err), ["attendees"]);
    }
    assert_eq!(h, before);
}

#[test]
fn scheduling_again_replaces_the_plan() {
    let mut h = complete();
    let email = IntroductionPlan {
        kind: IntroductionKind::Email,
        schedule_time: T0 + 99,
        attendees: attendees(),
        location: String::new(),
        notes: "Draft email".into(),
    };
    h.schedule_introduction(&alice(), email, T0 + 5).unwrap();
    let i = &h.introduction;
    assert_eq!(i.state, IntroductionState::Scheduled);
    assert_eq!(i.kind, Some(IntroductionKind::Email));
    assert_eq!(i.schedule_time, Some(T0 + 99));
    assert_eq!(i.location, "");
    assert_eq!(i.notes, "Draft email");
    assert_eq!(i.scheduled_by, Some(Actor::of(&alice())));
    assert_eq!(i.schedule_record_time, Some(T0 + 5));
}

#[test]
fn completing_keeps_what_was_scheduled_unless_replaced() {
    let mut h = complete();
    h.complete_introduction(
        &alice(),
        IntroductionDone {
            complete_time: Some(T0 - HOUR),
            notes: String::new(),
            attendees: Vec::new(),
            kind: None,
        },
        T0,
    )
    .unwrap();
    let i = &h.introduction;
    assert_eq!(i.state, IntroductionState::Completed);
    assert_eq!(i.kind, Some(IntroductionKind::JointCall));
    assert_eq!(i.attendees, attendees());
    assert_eq!(i.notes, "Agenda: goals, onboarding");
    assert_eq!(i.complete_time, Some(T0 - HOUR));
    assert_eq!(i.completed_by, Some(Actor::of(&alice())));
    assert_eq!(i.account_manager, "alice");

    let mut h = complete();
    let only_two = vec![
        attendee("Dan", PartySide::Client),
        attendee("Sam", PartySide::Company),
    ];
    h.complete_introduction(
        &sam(),
        IntroductionDone {
            complete_time: None,
            notes: "Sent".into(),
            attendees: only_two.clone(),
            kind: Some(IntroductionKind::Email),
        },
        T0 + 7,
    )
    .unwrap();
    let i = &h.introduction;
    assert_eq!(i.kind, Some(IntroductionKind::Email));
    assert_eq!(i.attendees, only_two);
    assert_eq!(i.notes, "Sent");
    assert_eq!(i.complete_time, Some(T0 + 7));
}

#[test]
fn completing_an_unscheduled_introduction_needs_its_kind_and_attendees() {
    let mut h = complete();
    h.introduction = Introduction::default();
    let before = h.clone();
    let err = h
        .complete_introduction(
            &sam(),
            IntroductionDone {
                attendees: attendees(),
                ..done_intro()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(fields_of(&err), ["kind"]);
    let err = h
        .complete_introduction(
            &sam(),
            IntroductionDone {
                kind: Some(IntroductionKind::Email),
                ..done_intro()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(fields_of(&err), ["attendees"]);
    let err = h
        .complete_introduction(
            &sam(),
            IntroductionDone {
                kind: Some(IntroductionKind::Email),
                attendees: vec![attendee("Dan", PartySide::Client)],
                ..done_intro()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(fields_of(&err), ["attendees"]);
    let err = h
        .complete_introduction(
            &sam(),
            IntroductionDone {
                kind: Some(IntroductionKind::Email),
                attendees: attendees(),
                complete_time: Some(T0 + 1),
                ..done_intro()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(fields_of(&err), ["complete_time"]);
    assert_eq!(h, before);
    h.complete_introduction(
        &sam(),
        IntroductionDone {
            kind: Some(IntroductionKind::Email),
            attendees: attendees(),
            ..done_intro()
        },
        T0,
    )
    .unwrap();
    assert_eq!(h.introduction.state, IntroductionState::Completed);
}

// ---------------------------------------------------------------------------------------------
// Onboarding step status

#[test]
fn a_step_enters_any_status_and_done_sets_its_complete_time() {
    let mut h = accepted();
    let set = |h: &mut Handoff, status, note: &str, now| {
        h.set_step_status(&alice(), "step-91", status, note.into(), now)
    };
    set(&mut h, OnboardingStepStatus::Done, "", T0 + 10).unwrap();
    assert_eq!(h.onboarding_plan[0].complete_time, Some(T0 + 10));
    set(&mut h, OnboardingStepStatus::Done, "again", T0 + 11).unwrap();
    assert_eq!(h.onboarding_plan[0].complete_time, Some(T0 + 10));
    assert_eq!(h.onboarding_plan[0].status_note, "again");
    set(
        &mut h,
        OnboardingStepStatus::Blocked,
        "waiting for VPN",
        T0 + 12,
    )
    .unwrap();
    let s = &h.onboarding_plan[0];
    assert_eq!(s.status, OnboardingStepStatus::Blocked);
    assert_eq!(s.complete_time, None);
    assert_eq!(s.status_update_time, Some(T0 + 12));
    assert_eq!(s.status_updated_by, Some(Actor::of(&alice())));
    assert_eq!(h.update_time, T0 + 12);
    for from in OnboardingStepStatus::ALL {
        for to in OnboardingStepStatus::ALL {
            let mut h = accepted();
            set(&mut h, from, "note", T0).unwrap();
            assert!(set(&mut h, to, "note", T0).is_ok(), "{from:?} -> {to:?}");
        }
    }
}

#[test]
fn blocked_and_skipped_need_a_note() {
    let mut h = ready();
    let before = h.clone();
    for status in [OnboardingStepStatus::Blocked, OnboardingStepStatus::Skipped] {
        let err = h
            .set_step_status(&sam(), "step-91", status, " ".into(), T0)
            .unwrap_err();
        assert_eq!(fields_of(&err), ["note"]);
    }
    assert_eq!(h, before);
}

#[test]
fn an_unknown_step_is_not_found() {
    let mut h = ready();
    let err = h
        .set_step_status(
            &max(),
            "step-404",
            OnboardingStepStatus::Done,
            String::new(),
            T0,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Problem::NotFound { resource: "onboarding_step", name } if name == "step-404"),
        "{err:?}"
    );
}

#[test]
fn the_salesperson_updates_steps_in_draft_or_ready_only() {
    for s in [S::Draft, S::Ready] {
        let mut h = in_status(s);
        assert!(
            h.set_step_status(
                &sam(),
                "step-91",
                OnboardingStepStatus::Done,
                String::new(),
                T0
            )
            .is_ok()
        );
    }
    let mut h = accepted();
    let err = h
        .set_step_status(
            &sam(),
            "step-91",
            OnboardingStepStatus::Done,
            String::new(),
            T0,
        )
        .unwrap_err();
    assert_eq!(gate_of(&err), "status");
    for p in [alice(), max()] {
        let mut h = accepted();
        assert!(
            h.set_step_status(&p, "step-91", OnboardingStepStatus::Done, String::new(), T0)
                .is_ok()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Access: one row per line of the proto's authorization comment

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Answer {
    Ok,
    NotFound,
    Denied,
}

fn answer(p: &Principal, action: Action, h: &Handoff) -> Answer {
    match access::check(p, action, h) {
        Ok(()) => Answer::Ok,
        Err(Problem::NotFound { resource, name }) => {
            assert_eq!(resource, "handoff");
            assert_eq!(name, h.name());
            Answer::NotFound
        }
        Err(Problem::PermissionDenied(_)) => Answer::Denied,
        Err(other) => panic!("unexpected {other:?}"),
    }
}

/// The proto's table on a handoff where sam is the salesperson and alice the account manager.
fn expected_answer(who: &str, action: Action) -> Answer {
    use Action::*;
    use Answer::*;
    match (who, action) {
        ("service", StartHandoff | Read) => Ok,
        ("service", _) => Denied,
        ("finance" | "operations", _) => Denied,
        (_, StartHandoff) => Denied,
        ("max", _) => Ok,
        // sales_rep: role refusals first, then another salesperson's handoff is not found.
        ("sam" | "rita", AcceptHandoff | RejectHandoff) => Denied,
        ("sam", _) => Ok,
        ("rita", _) => NotFound,
        // account_manager: reads all; SubmitHandoff is no account manager's.
        ("alice" | "amy", SubmitHandoff) => Denied,
        ("alice" | "amy", Read | AssignAccountManager) => Ok,
        ("alice", _) => Ok,
        ("amy", _) => Denied,
        (w, a) => unreachable!("{w} {a:?}"),
    }
}

#[test]
fn the_access_table_matches_the_proto_for_every_role_and_action() {
    let h = complete();
    let callers = [
        ("service", service()),
        ("sam", sam()),
        ("rita", rita()),
        ("alice", alice()),
        ("amy", amy()),
        ("max", max()),
        ("finance", fiona()),
        ("operations", otto()),
    ];
    for action in Action::ALL {
        for (name, p) in &callers {
            assert_eq!(
                answer(p, action, &h),
                expected_answer(name, action),
                "{name} {action:?}"
            );
        }
    }
}

#[test]
fn role_refusals_come_before_the_handoff_is_looked_at() {
    use Action::*;
    for (p, action) in [
        (fiona(), Read),
        (otto(), UpdateHandoff),
        (sam(), StartHandoff),
        (max(), StartHandoff),
        (service(), UpdateHandoff),
        (service(), SubmitHandoff),
        (rita(), AcceptHandoff),
        (rita(), RejectHandoff),
        (alice(), SubmitHandoff),
    ] {
        assert!(
            access::require_role(&p, action).is_err(),
            "{p:?} {action:?}"
        );
    }
    for (p, action) in [
        (sam(), UpdateHandoff),
        (alice(), AcceptHandoff),
        (amy(), AssignAccountManager),
        (service(), StartHandoff),
    ] {
        assert!(access::require_role(&p, action).is_ok(), "{p:?} {action:?}");
    }
}

#[test]
fn an_account_manager_owns_only_handoffs_assigned_to_it() {
    let mut h = complete();
    h.account_manager = None;
    use Action::*;
    for action in [
        UpdateHandoff,
        RejectHandoff,
        AcceptHandoff,
        ScheduleIntroduction,
        CompleteIntroduction,
        UpdateOnboardingStepStatus,
    ] {
        assert_eq!(answer(&alice(), action, &h), Answer::Denied, "{action:?}");
    }
    assert_eq!(answer(&alice(), Read, &h), Answer::Ok);
    assert_eq!(answer(&alice(), AssignAccountManager, &h), Answer::Ok);
}

#[test]
fn ownership_follows_the_handoffs_salesperson() {
    let mut h = complete();
    h.salesperson = "rita".into();
    assert_eq!(answer(&sam(), Action::Read, &h), Answer::NotFound);
    assert_eq!(answer(&rita(), Action::UpdateHandoff, &h), Answer::Ok);
    // Roles add up: a sales_rep that is also a sales_manager reaches every handoff.
    let both = who("sam", &[Role::SalesRep, Role::SalesManager]);
    assert_eq!(answer(&both, Action::AcceptHandoff, &h), Answer::Ok);
}

#[test]
fn a_sales_rep_lists_only_its_own_handoffs() {
    assert_eq!(
        access::listed_salesperson(&sam(), None).unwrap(),
        Some("sam".into())
    );
    assert_eq!(
        access::listed_salesperson(&sam(), Some("sam".into())).unwrap(),
        Some("sam".into())
    );
    assert!(is_denied(
        &access::listed_salesperson(&sam(), Some("rita".into())).unwrap_err()
    ));
    for p in [alice(), max(), service()] {
        assert_eq!(
            access::listed_salesperson(&p, Some("rita".into())).unwrap(),
            Some("rita".into())
        );
        assert_eq!(access::listed_salesperson(&p, None).unwrap(), None);
    }
    assert!(is_denied(
        &access::listed_salesperson(&fiona(), None).unwrap_err()
    ));
}

// ---------------------------------------------------------------------------------------------
// UpdateHandoff: who may replace which field, in which status

/// The proto's rules, written out: `None` allowed, `Some("denied")` or `Some("status")`.
fn field_rule(capacity: Capacity, field: Field, status: S) -> Option<&'static str> {
    use Field::*;
    let owned_by_am = matches!(field, OnboardingPlan | AccountManagerNotes);
    match capacity {
        Capacity::SalesManager => (!owned_by_am && status != S::Draft).then_some("status"),
        Capacity::AssignedAccountManager => (!owned_by_am).then_some("denied"),
        Capacity::Salesperson => match field {
            Salesperson | AccountManagerNotes => Some("denied"),
            _ if status != S::Draft => Some("status"),
            _ => None,
        },
    }
}

#[test]
fn field_ownership_matches_the_proto_for_every_field_caller_and_status() {
    for status in S::ALL {
        for (capacity, p) in [
            (Capacity::SalesManager, max()),
            (Capacity::AssignedAccountManager, alice()),
            (Capacity::Salesperson, sam()),
        ] {
            let h = in_status(status);
            assert_eq!(access::capacities(&p, &h), [capacity]);
            for field in Field::ALL {
                let got = match access::check_fields(&p, &h, &[field]) {
                    Ok(()) => None,
                    Err(Problem::PermissionDenied(_)) => Some("denied"),
                    Err(e) => {
                        assert_eq!(gate_of(&e), "status");
                        Some("status")
                    }
                };
                assert_eq!(
                    got,
                    field_rule(capacity, field, status),
                    "{capacity:?} {field:?} {status:?}"
                );
            }
        }
    }
}

#[test]
fn a_caller_with_no_part_on_the_handoff_may_replace_nothing() {
    let h = complete();
    for p in [amy(), rita(), service(), fiona()] {
        assert!(access::capacities(&p, &h).is_empty());
        for field in Field::ALL {
            assert!(is_denied(
                &access::check_fields(&p, &h, &[field]).unwrap_err()
            ));
        }
    }
}

#[test]
fn permission_is_refused_before_status() {
    let h = ready();
    let err =
        access::check_fields(&sam(), &h, &[Field::Goals, Field::AccountManagerNotes]).unwrap_err();
    assert!(is_denied(&err));
    let err = access::check_fields(&sam(), &h, &[Field::Goals, Field::Notes]).unwrap_err();
    assert_eq!(gates(&err).len(), 2);
}

#[test]
fn edit_refuses_fields_it_may_not_replace_and_changes_nothing() {
    let mut h = ready();
    let before = h.clone();
    let patch = Patch {
        notes: Some("hi".into()),
        ..Patch::default()
    };
    assert_eq!(
        gate_of(&h.edit(&sam(), patch.clone(), T0).unwrap_err()),
        "status"
    );
    assert!(is_denied(&h.edit(&alice(), patch, T0).unwrap_err()));
    let patch = Patch {
        salesperson: Some("rita".into()),
        ..Patch::default()
    };
    let mut d = complete();
    assert!(is_denied(&d.edit(&sam(), patch.clone(), T0).unwrap_err()));
    d.edit(&max(), patch, T0).unwrap();
    assert_eq!(d.salesperson, "rita");
    assert_eq!(h, before);
}

#[test]
fn every_field_mask_path_is_known_by_its_code() {
    let codes: Vec<&str> = Field::ALL.iter().map(|f| f.code()).collect();
    assert_eq!(
        codes,
        [
            "customer_needs",
            "goals",
            "verbal_commitments",
            "no_verbal_commitments",
            "stakeholders",
            "delivery_timeline",
            "support_contacts",
            "onboarding_plan",
            "notes",
            "account_manager",
            "salesperson",
            "account_manager_notes",
        ]
    );
    assert_eq!(Field::from_code("status"), None);
    assert_eq!(Field::from_code("introduction"), None);
}

#[test]
fn patch_fields_are_the_mask() {
    assert!(Patch::default().fields().is_empty());
    let p = Patch {
        goals: Some(Vec::new()),
        account_manager_notes: Some(String::new()),
        ..Patch::default()
    };
    assert_eq!(p.fields(), [Field::Goals, Field::AccountManagerNotes]);
}

// ---------------------------------------------------------------------------------------------
// UpdateHandoff: the values

fn goal_input(id: Option<&str>, description: &str) -> GoalInput {
    GoalInput {
        id: id.map(str::to_owned),
        description: description.into(),
        success_criteria: vec![SuccessCriterion {
            description: "measured".into(),
            target_date: None,
        }],
        target_date: None,
    }
}

fn step_input(id: Option<&str>) -> StepInput {
    StepInput {
        id: id.map(str::to_owned),
        title: "Training".into(),
        description: String::new(),
        owner: Some("olga".into()),
        client_contact: None,
        due_date: Some(date!(2026 - 02 - 10)),
        status: None,
        status_note: String::new(),
    }
}

#[test]
fn goals_named_by_id_keep_their_id_and_origin_others_are_added() {
    let mut h = started();
    h.prefill(facts(), T0).unwrap();
    let prefilled = h.goals[0].id.clone();
    h.edit(
        &sam(),
        Patch {
            goals: Some(vec![
                goal_input(Some(&prefilled), "Cut invoice time, reworded"),
                goal_input(None, "New goal"),
                goal_input(Some("goal-unknown"), "Another"),
            ]),
            ..Patch::default()
        },
        T0 + 1,
    )
    .unwrap();
    let goals: Vec<_> = h
        .goals
        .iter()
        .map(|g| (g.id.as_str(), g.description.as_str(), g.origin))
        .collect();
    assert_eq!(
        goals[0],
        (
            prefilled.as_str(),
            "Cut invoice time, reworded",
            GoalOrigin::OpportunityObjective
        )
    );
    assert_eq!(goals[1].2, GoalOrigin::Added);
    assert_eq!(goals[2].2, GoalOrigin::Added);
    assert_ne!(goals[2].0, "goal-unknown");
    let mut ids: Vec<&str> = goals.iter().map(|g| g.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert_eq!(h.update_time, T0 + 1);
}

#[test]
fn milestones_keep_ids_and_origins_cover_known_deliverables_and_stay_ordered() {
    let mut h = started();
    let contract_one = h.delivery_timeline[1].clone();
    h.edit(
        &sam(),
        Patch {
            delivery_timeline: Some(vec![
                MilestoneInput {
                    id: None,
                    title: "Go-live".into(),
                    due_date: date!(2026 - 06 - 01),
                    description: String::new(),
                    deliverable_ids: vec![],
                },
                MilestoneInput {
                    id: Some(contract_one.id.clone()),
                    title: "Platform ready".into(),
                    due_date: date!(2026 - 03 - 01),
                    description: String::new(),
                    deliverable_ids: vec!["deliverable-1".into()],
                },
            ]),
            ..Patch::default()
        },
        T0,
    )
    .unwrap();
    let got: Vec<_> = h
        .delivery_timeline
        .iter()
        .map(|m| (m.title.as_str(), m.origin))
        .collect();
    assert_eq!(
        got,
        [
            ("Platform ready", MilestoneOrigin::Contract),
            ("Go-live", MilestoneOrigin::Added)
        ]
    );
    assert_eq!(h.delivery_timeline[0].id, contract_one.id);

    let before = h.clone();
    let err = h
        .edit(
            &sam(),
            Patch {
                delivery_timeline: Some(vec![MilestoneInput {
                    id: None,
                    title: "X".into(),
                    due_date: date!(2026 - 06 - 01),
                    description: String::new(),
                    deliverable_ids: vec!["deliverable-9".into()],
                }]),
                ..Patch::default()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        ["handoff.delivery_timeline[0].deliverable_ids"]
    );
    assert_eq!(h, before);
}

#[test]
fn edit_refuses_values_that_break_the_handoffs_rules() {
    let cases: Vec<(Patch, Vec<&str>)> = vec![
        (
            Patch {
                stakeholders: Some(vec![
                    Stakeholder {
                        contact: contact("A", "a@acme.com"),
                        role: StakeholderRole::User,
                        primary: true,
                    },
                    Stakeholder {
                        contact: contact("B", "b@acme.com"),
                        role: StakeholderRole::User,
                        primary: true,
                    },
                ]),
                ..Patch::default()
            },
            vec!["handoff.stakeholders[1].primary"],
        ),
        (
            // The stored confirmation stands while commitments are added.
            Patch {
                verbal_commitments: Some(vec![commitment()]),
                ..Patch::default()
            },
            vec!["handoff.no_verbal_commitments"],
        ),
        (
            Patch {
                support_contacts: Some(vec![SupportContact {
                    kind: SupportContactKind::Other,
                    contact: contact("O", "o@acme.com"),
                    notes: " ".into(),
                }]),
                ..Patch::default()
            },
            vec!["handoff.support_contacts[0].notes"],
        ),
        (
            Patch {
                onboarding_plan: Some(vec![StepInput {
                    status: Some(OnboardingStepStatus::Skipped),
                    ..step_input(None)
                }]),
                ..Patch::default()
            },
            vec!["handoff.onboarding_plan[0].status_note"],
        ),
        (
            Patch {
                goals: Some(vec![
                    goal_input(Some("goal-90"), "a"),
                    goal_input(Some("goal-90"), "b"),
                ]),
                ..Patch::default()
            },
            vec!["handoff.goals[1]"],
        ),
        (
            Patch {
                onboarding_plan: Some(vec![
                    step_input(Some("step-91")),
                    step_input(Some("step-91")),
                ]),
                ..Patch::default()
            },
            vec!["handoff.onboarding_plan[1]"],
        ),
        (
            Patch {
                goals: Some(vec![GoalInput {
                    success_criteria: vec![
                        SuccessCriterion {
                            description: "c".into(),
                            target_date: None
                        };
                        MAX_CRITERIA + 1
                    ],
                    ..goal_input(None, "g")
                }]),
                ..Patch::default()
            },
            vec!["handoff.goals[0].success_criteria"],
        ),
    ];
    for (patch, expected) in cases {
        let mut h = complete();
        let before = h.clone();
        let err = h.edit(&sam(), patch, T0).unwrap_err();
        assert_eq!(fields_of(&err), expected);
        assert_eq!(h, before);
    }
    // Clearing the confirmation with the commitments is fine.
    let mut h = complete();
    h.edit(
        &sam(),
        Patch {
            verbal_commitments: Some(vec![commitment()]),
            no_verbal_commitments: Some(false),
            ..Patch::default()
        },
        T0,
    )
    .unwrap();
    assert!(h.readiness().ready());
}

#[test]
fn every_list_is_bounded() {
    let need = CustomerNeed {
        description: "n".into(),
        details: String::new(),
    };
    let support = SupportContact {
        kind: SupportContactKind::Technical,
        contact: contact("T", "t@acme.com"),
        notes: String::new(),
    };
    let stakeholder = Stakeholder {
        contact: contact("S", "s@acme.com"),
        role: StakeholderRole::User,
        primary: false,
    };
    let milestone = MilestoneInput {
        id: None,
        title: "m".into(),
        due_date: date!(2026 - 05 - 01),
        description: String::new(),
        deliverable_ids: vec![],
    };
    let n = MAX_ENTRIES + 1;
    let cases: Vec<(Patch, &str)> = vec![
        (
            Patch {
                customer_needs: Some(vec![need.clone(); n]),
                ..Patch::default()
            },
            "handoff.customer_needs",
        ),
        (
            Patch {
                goals: Some(vec![goal_input(None, "g"); n]),
                ..Patch::default()
            },
            "handoff.goals",
        ),
        (
            Patch {
                verbal_commitments: Some(vec![commitment(); n]),
                no_verbal_commitments: Some(false),
                ..Patch::default()
            },
            "handoff.verbal_commitments",
        ),
        (
            Patch {
                stakeholders: Some(vec![stakeholder.clone(); n]),
                ..Patch::default()
            },
            "handoff.stakeholders",
        ),
        (
            Patch {
                delivery_timeline: Some(vec![milestone.clone(); MAX_MILESTONES + 1]),
                ..Patch::default()
            },
            "handoff.delivery_timeline",
        ),
        (
            Patch {
                support_contacts: Some(vec![support.clone(); n]),
                ..Patch::default()
            },
            "handoff.support_contacts",
        ),
        (
            Patch {
                onboarding_plan: Some(vec![step_input(None); n]),
                ..Patch::default()
            },
            "handoff.onboarding_plan",
        ),
    ];
    for (patch, field) in cases {
        let mut h = complete();
        let before = h.clone();
        let err = h.edit(&sam(), patch, T0).unwrap_err();
        assert_eq!(fields_of(&err), [field]);
        assert_eq!(h, before);
    }
    // At the bound exactly, accepted.
    let mut h = complete();
    h.edit(
        &sam(),
        Patch {
            customer_needs: Some(vec![need; MAX_ENTRIES]),
            stakeholders: Some(vec![stakeholder; MAX_ENTRIES]),
            delivery_timeline: Some(vec![milestone; MAX_MILESTONES]),
            ..Patch::default()
        },
        T0,
    )
    .unwrap();
    assert_eq!(h.customer_needs.len(), MAX_ENTRIES);
}

#[test]
fn in_draft_the_plan_sets_step_statuses() {
    let mut h = complete();
    h.edit(
        &sam(),
        Patch {
            onboarding_plan: Some(vec![
                StepInput {
                    status: Some(OnboardingStepStatus::Done),
                    ..step_input(Some("step-91"))
                },
                StepInput {
                    status: Some(OnboardingStepStatus::Blocked),
                    status_note: "waiting".into(),
                    ..step_input(None)
                },
                step_input(None),
            ]),
            ..Patch::default()
        },
        T0 + 4,
    )
    .unwrap();
    let p = &h.onboarding_plan;
    assert_eq!(p[0].id, "step-91");
    assert_eq!(p[0].status, OnboardingStepStatus::Done);
    assert_eq!(p[0].complete_time, Some(T0 + 4));
    assert_eq!(p[0].status_updated_by, Some(Actor::of(&sam())));
    assert_eq!(p[1].status, OnboardingStepStatus::Blocked);
    assert_eq!(p[1].status_note, "waiting");
    assert_eq!(p[2].status, OnboardingStepStatus::NotStarted);
    assert_eq!(p[2].status_update_time, None);
    // Unset keeps the status of a step that has one.
    h.edit(
        &sam(),
        Patch {
            onboarding_plan: Some(vec![step_input(Some("step-91"))]),
            ..Patch::default()
        },
        T0 + 5,
    )
    .unwrap();
    assert_eq!(h.onboarding_plan[0].status, OnboardingStepStatus::Done);
    assert_eq!(h.onboarding_plan[0].complete_time, Some(T0 + 4));
}

#[test]
fn outside_draft_the_account_manager_edits_the_plan_but_not_step_statuses() {
    for s in [S::Ready, S::Accepted] {
        let mut h = in_status(s);
        h.edit(
            &alice(),
            Patch {
                onboarding_plan: Some(vec![step_input(Some("step-91")), step_input(None)]),
                account_manager_notes: Some("Watch the billing contact".into()),
                ..Patch::default()
            },
            T0 + 8,
        )
        .unwrap();
        assert_eq!(h.onboarding_plan.len(), 2);
        assert_eq!(h.onboarding_plan[0].title, "Training");
        assert_eq!(h.account_manager_notes, "Watch the billing contact");
        assert_eq!(h.status, s);

        let before = h.clone();
        let err = h
            .edit(
                &alice(),
                Patch {
                    onboarding_plan: Some(vec![StepInput {
                        status: Some(OnboardingStepStatus::Done),
                        ..step_input(Some("step-91"))
                    }]),
                    ..Patch::default()
                },
                T0,
            )
            .unwrap_err();
        assert_eq!(
            gates(&err),
            [("status".to_owned(), "onboarding_plan[0].status".to_owned())]
        );
        let err = h
            .edit(
                &max(),
                Patch {
                    onboarding_plan: Some(vec![StepInput {
                        status_note: "changed".into(),
                        ..step_input(Some("step-91"))
                    }]),
                    ..Patch::default()
                },
                T0,
            )
            .unwrap_err();
        assert_eq!(
            gates(&err),
            [(
                "status".to_owned(),
                "onboarding_plan[0].status_note".to_owned()
            )]
        );
        assert_eq!(h, before);
        // Sending the current values back is no change.
        h.edit(
            &alice(),
            Patch {
                onboarding_plan: Some(vec![StepInput {
                    status: Some(OnboardingStepStatus::NotStarted),
                    ..step_input(Some("step-91"))
                }]),
                ..Patch::default()
            },
            T0,
        )
        .unwrap();
    }
}

#[test]
fn a_ready_handoffs_plan_must_keep_readiness() {
    let mut h = ready();
    let before = h.clone();
    let err = h
        .edit(
            &alice(),
            Patch {
                onboarding_plan: Some(vec![StepInput {
                    owner: None,
                    ..step_input(Some("step-91"))
                }]),
                ..Patch::default()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(
        gates(&err),
        [("readiness".to_owned(), "onboarding_step_details".to_owned())]
    );
    let err = h
        .edit(
            &max(),
            Patch {
                onboarding_plan: Some(vec![]),
                ..Patch::default()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(
        gates(&err),
        [("readiness".to_owned(), "onboarding_plan".to_owned())]
    );
    assert_eq!(h, before);
    // An ACCEPTED handoff's plan may become anything.
    let mut h = accepted();
    h.edit(
        &alice(),
        Patch {
            onboarding_plan: Some(vec![]),
            ..Patch::default()
        },
        T0,
    )
    .unwrap();
    assert!(h.onboarding_plan.is_empty());
}

#[test]
fn a_check_already_unmet_while_ready_does_not_block_the_account_managers_fields() {
    let mut h = ready();
    h.complete_introduction(&alice(), done_intro(), T0).unwrap();
    h.assign_account_manager(&max(), "amy".into(), T0).unwrap();
    assert_eq!(h.status, S::Ready);
    assert_eq!(
        missing(&h),
        [(ReadinessCheck::Introduction, "introduction".into())]
    );
    let amy_notes = Patch {
        account_manager_notes: Some("Taking over".into()),
        ..Patch::default()
    };
    h.edit(&amy(), amy_notes, T0).unwrap();
    assert_eq!(h.account_manager_notes, "Taking over");
    let err = h
        .edit(
            &amy(),
            Patch {
                onboarding_plan: Some(vec![]),
                ..Patch::default()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(
        gates(&err),
        [("readiness".to_owned(), "onboarding_plan".to_owned())]
    );
}

#[test]
fn the_account_manager_set_by_edit_follows_the_assignment_rules() {
    let mut h = complete();
    h.complete_introduction(&alice(), done_intro(), T0).unwrap();
    h.edit(
        &sam(),
        Patch {
            account_manager: Some("amy".into()),
            ..Patch::default()
        },
        T0 + 1,
    )
    .unwrap();
    assert_eq!(h.account_manager.as_deref(), Some("amy"));
    assert_eq!(h.previous_introductions.len(), 1);
    assert_eq!(h.introduction.state, IntroductionState::NotScheduled);
    // Not an account manager's field, even its own.
    let mut h = complete();
    let err = h
        .edit(
            &alice(),
            Patch {
                account_manager: Some("alice".into()),
                ..Patch::default()
            },
            T0,
        )
        .unwrap_err();
    assert!(is_denied(&err));
}

#[test]
fn an_empty_patch_changes_nothing() {
    let mut h = complete();
    let before = h.clone();
    h.edit(&sam(), Patch::default(), T0 + 99).unwrap();
    assert_eq!(h, before);
}

// ---------------------------------------------------------------------------------------------
// Etag, account opening

#[test]
fn the_etag_follows_version_and_status() {
    let mut h = complete();
    let draft = h.etag();
    assert_eq!(draft, "\"1-DRAFT\"");
    assert!(h.check_etag("").is_ok());
    assert!(h.check_etag(&draft).is_ok());
    h.submit(&sam(), T0).unwrap();
    assert_eq!(h.etag(), "\"1-READY\"");
    assert!(matches!(h.check_etag(&draft), Err(Problem::Aborted(_))));
    h.version += 1;
    assert_eq!(h.etag(), "\"2-READY\"");
}

#[test]
fn the_account_opening_state_follows_the_owed_call() {
    let h = ready();
    for call in [
        None,
        Some(CallState::Pending),
        Some(CallState::Delivered),
        Some(CallState::Refused),
    ] {
        assert_eq!(
            h.account_opening_state(call),
            AccountOpeningState::NotRequested
        );
    }
    let mut h = accepted();
    assert_eq!(h.account_opening_state(None), AccountOpeningState::Pending);
    assert_eq!(
        h.account_opening_state(Some(CallState::Pending)),
        AccountOpeningState::Pending
    );
    assert_eq!(
        h.account_opening_state(Some(CallState::Delivered)),
        AccountOpeningState::Opened
    );
    assert_eq!(
        h.account_opening_state(Some(CallState::Refused)),
        AccountOpeningState::Refused
    );
    assert!(
        h.record_account_opened("accounts/a1".into(), T0 + 9 * HOUR)
            .unwrap()
    );
    assert!(
        !h.record_account_opened("accounts/a1".into(), T0 + 10 * HOUR)
            .unwrap()
    );
    assert_eq!(h.account_opening.account, "accounts/a1");
    assert_eq!(h.account_opening.open_time, Some(T0 + 9 * HOUR));
}

#[test]
fn accepting_owes_open_account_everything_it_needs() {
    let mut h = complete();
    h.no_verbal_commitments = false;
    h.verbal_commitments = vec![VerbalCommitment {
        description: "c".repeat(1500),
        ..commitment()
    }];
    h.goals[0].description = "g".repeat(700);
    h.submit(&sam(), T0).unwrap();
    h.complete_introduction(&alice(), done_intro(), T0).unwrap();
    assert!(matches!(
        h.open_account(),
        Err(Problem::FailedPrecondition(_))
    ));
    h.accept(&alice(), T0).unwrap();
    let o = h.open_account().unwrap();

    assert_eq!(o.request_id, format!("open-account-{}", h.id));
    assert_eq!(o.request_id, h.open_account_request_id());
    assert!(closeloop_kit::ids::is_id(&o.request_id));
    assert_eq!(o.handoff, h.name());
    assert_eq!(o.customer.account_id, "acme");
    assert_eq!(o.account_manager, "alice");
    assert_eq!(o.salesperson, "sam");
    assert_eq!(o.start_date, date!(2026 - 01 - 01));
    let c = &o.contract;
    assert_eq!(c.contract, "contracts/c1");
    assert_eq!(c.opportunity, "opportunities/p1");
    assert_eq!(
        c.value,
        Money::new(CurrencyCode::parse("EUR").unwrap(), 120_000)
    );
    assert_eq!(
        (c.start_date, c.end_date, c.term_months, c.auto_renew),
        (date!(2026 - 01 - 01), date!(2026 - 12 - 31), 12, true)
    );
    // Price 2 x 600.00, cost 2 x 150.00: 75 %.
    assert_eq!(c.gross_margin_bps, 7500);
    assert_eq!(c.title, "Acme platform");

    assert_eq!(o.outcomes.len(), 1);
    assert_eq!(o.outcomes[0].goal.len(), super::limits::ACCOUNT_GOAL);
    assert_eq!(o.outcomes[0].success_criteria, ["under 2 days by Q3"]);
    assert_eq!(o.outcomes[0].target_date, Some(date!(2026 - 09 - 30)));

    let obligations: Vec<_> = o
        .obligations
        .iter()
        .map(|ob| {
            (
                ob.party,
                ob.kind,
                ob.external_id.as_str(),
                ob.contract.as_str(),
                ob.status,
                ob.amount.map(|m| m.minor),
            )
        })
        .collect();
    use ObligationKind as K;
    use ObligationParty as P;
    use ObligationStatus as St;
    assert_eq!(
        obligations,
        [
            (
                P::Company,
                K::Deliverable,
                "deliverable-1",
                "contracts/c1",
                St::Pending,
                None
            ),
            (
                P::Company,
                K::Deliverable,
                "deliverable-2",
                "contracts/c1",
                St::InProgress,
                None
            ),
            (
                P::Client,
                K::Access,
                "obligation-1",
                "contracts/c1",
                St::Pending,
                None
            ),
            (
                P::Client,
                K::Payment,
                "installment-1",
                "contracts/c1",
                St::Pending,
                Some(20_000)
            ),
            (
                P::Client,
                K::Payment,
                "installment-2",
                "contracts/c1",
                St::Pending,
                Some(100_000)
            ),
            (P::Company, K::Commitment, "", "", St::Pending, None),
        ]
    );
    assert_eq!(o.obligations[3].description, "Setup fee");
    assert_eq!(o.obligations[4].description, "Payment due 2026-02-01");
    assert_eq!(
        o.obligations[5].description.len(),
        super::limits::ACCOUNT_OBLIGATION
    );

    let contacts: Vec<_> = o
        .contacts
        .iter()
        .map(|c| (c.contact.display_name.as_str(), c.role, c.primary))
        .collect();
    assert_eq!(
        contacts,
        [
            ("Carla", AccountContactRole::Other, true),
            ("Dan", AccountContactRole::DayToDay, false),
            ("Bea", AccountContactRole::Billing, false),
        ]
    );
    assert_eq!(
        o.needs,
        ["Invoices approved without paper — Finance team of 12"]
    );
}

#[test]
fn the_margin_is_unknown_without_costs_and_never_overflows() {
    let mut h = accepted();
    h.snapshot.line_items[0].unit_cost = None;
    assert_eq!(h.open_account().unwrap().contract.gross_margin_bps, 0);
    let mut h = accepted();
    h.snapshot.line_items.clear();
    assert_eq!(h.open_account().unwrap().contract.gross_margin_bps, 0);
    let mut h = accepted();
    let li = h.snapshot.line_items[0].clone();
    h.snapshot.line_items = vec![
        super::snapshot::ContractLineItem {
            quantity: i64::MAX,
            unit_cost: Some(Money::new(li.amount.currency, i64::MAX)),
            amount: Money::new(li.amount.currency, i64::MAX),
            ..li
        };
        200
    ];
    assert_eq!(h.open_account().unwrap().contract.gross_margin_bps, 0);
}

#[test]
fn every_stakeholder_role_and_support_kind_has_an_account_role() {
    use AccountContactRole as A;
    let roles: Vec<A> = StakeholderRole::ALL
        .into_iter()
        .map(stakeholder_contact_role)
        .collect();
    assert_eq!(
        roles,
        [
            A::DecisionMaker,
            A::DecisionMaker,
            A::Other,
            A::Technical,
            A::Other,
            A::User
        ]
    );
    let kinds: Vec<A> = SupportContactKind::ALL
        .into_iter()
        .map(support_contact_role)
        .collect();
    assert_eq!(
        kinds,
        [
            A::DayToDay,
            A::Billing,
            A::Technical,
            A::ExecutiveSponsor,
            A::Other,
            A::Other
        ]
    );
}
