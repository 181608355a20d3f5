//! Handoffs from a placed order to acceptance: StartHandoff (one per order, however often and
//! however concurrently it is delivered; an invalid snapshot creates nothing), completing a
//! handoff through UpdateHandoff, the readiness checklist item by item, and submit → reject →
//! submit → accept with the OpenAccount call it owes.

use closeloop_kit::outbox;
use closeloop_proto::accounts::v1 as accounts;
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

#[tokio::test]
async fn a_placed_order_starts_one_handoff_however_often_it_is_delivered() {
    let app = TestApp::spawn().await;
    let h = app.start("1").await;
    assert!(h.name.starts_with("handoffs/"), "{}", h.name);
    assert_eq!(h.status, pb::HandoffStatus::Draft as i32);
    assert_eq!(
        h.contract_snapshot,
        Some(snapshot("1")),
        "kept exactly as sent"
    );
    assert_eq!(h.contract, "contracts/c-1");
    assert_eq!(h.order, "contracts/c-1/orders/o-1");
    assert_eq!(h.opportunity, "opportunities/p-1");
    assert_eq!(h.account.as_ref().unwrap().account_id, "acme");
    assert_eq!(h.salesperson, SAM);
    assert!(h.account_manager.is_empty());
    // One milestone per deliverable, by due date: the kick-off training is due first.
    let timeline: Vec<(&str, &[String], i32)> = h
        .delivery_timeline
        .iter()
        .map(|m| (m.title.as_str(), m.deliverable_ids.as_slice(), m.origin))
        .collect();
    let contract = pb::MilestoneOrigin::Contract as i32;
    assert_eq!(
        timeline,
        [
            (
                "Kick-off training",
                &["deliverable-2".to_owned()][..],
                contract
            ),
            (
                "Platform set-up",
                &["deliverable-1".to_owned()][..],
                contract
            ),
        ]
    );
    assert_eq!(h.status_history.len(), 1);
    let first = &h.status_history[0];
    assert_eq!(first.from_status, pb::HandoffStatus::Unspecified as i32);
    assert_eq!(first.to_status, pb::HandoffStatus::Draft as i32);
    assert_eq!(first.actor.as_ref().unwrap().subject, CONTRACTS);
    // No opportunities service is configured: created all the same, the prefill PENDING.
    let prefill = h.prefill.as_ref().unwrap();
    assert_eq!(prefill.state, pb::PrefillState::Pending as i32);
    assert!(
        prefill.failure.contains("peers.opportunities"),
        "{}",
        prefill.failure
    );
    assert!(h.open_account_call.is_none());
    assert_eq!(
        h.account_opening.as_ref().unwrap().state,
        pb::AccountOpeningState::NotRequested as i32
    );
    assert!(!h.readiness.as_ref().unwrap().ready);

    // The relay delivers again: the first answer.
    let again = app
        .service()
        .start_handoff(start("1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, h);

    // The handoff changes; another command for the same order (another request id) answers
    // the handoff as it is now, unchanged by the call.
    let changed = app
        .manager()
        .assign_account_manager(assign(&h.name, ALICE))
        .await
        .unwrap()
        .into_inner();
    let mut other = start("1");
    other.request_id = "someone-else".into();
    let existing = app
        .service()
        .start_handoff(other.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(existing.name, h.name);
    assert_eq!(existing.etag, changed.etag);
    assert_eq!(existing.account_manager, ALICE);
    // Without a request id too.
    other.request_id = String::new();
    let existing = app
        .service()
        .start_handoff(other)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(existing.etag, changed.etag);
    assert_eq!(app.all().await.len(), 1);

    // Another order is another handoff.
    let second = app.start("2").await;
    assert_ne!(second.name, h.name);
    assert_eq!(app.all().await.len(), 2);
}

#[tokio::test]
async fn concurrent_start_handoffs_for_one_order_make_one_handoff() {
    let app = TestApp::spawn().await;
    let mut calls = Vec::new();
    for i in 0..8 {
        let mut client = app.service();
        let mut request = start("race");
        request.request_id = format!("delivery-{i}");
        calls.push(tokio::spawn(async move {
            client.start_handoff(request).await.map(|r| r.into_inner())
        }));
    }
    let mut names = Vec::new();
    for call in calls {
        names.push(
            call.await
                .unwrap()
                .expect("every delivery is answered")
                .name,
        );
    }
    names.dedup();
    assert_eq!(names.len(), 1, "one handoff for the order: {names:?}");
    let listed = app
        .manager()
        .list_handoffs(pb::ListHandoffsRequest {
            order: "contracts/c-race/orders/o-race".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .handoffs;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, names[0]);
}

#[tokio::test]
async fn an_invalid_snapshot_names_every_bad_field_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let mut service = app.service();

    let missing = service
        .start_handoff(pb::StartHandoffRequest::default())
        .await
        .unwrap_err();
    assert_invalid(&missing, &["contract_snapshot"]);

    // Malformed fields, all named at once.
    let mut s = snapshot("bad");
    s.contract = "c-bad".into();
    s.opportunity = String::new();
    s.salesperson = String::new();
    s.account.as_mut().unwrap().account_id = " acme".into();
    s.contract_value = None;
    s.start_date = day(2027, 2, 30);
    s.deliverables[1].due_date = None;
    s.client_obligations[0].kind = common::ObligationKind::Deliverable as i32;
    s.payment_schedule[0].invoice = "invoice-1".into();
    s.signers[0].contact.as_mut().unwrap().email = "not an email".into();
    s.order_time = None;
    let refused = service
        .start_handoff(pb::StartHandoffRequest {
            contract_snapshot: Some(s),
            request_id: "bad-1".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(
        &refused,
        &[
            "contract_snapshot.contract",
            "contract_snapshot.opportunity",
            "contract_snapshot.salesperson",
            "contract_snapshot.account.account_id",
            "contract_snapshot.contract_value",
            "contract_snapshot.start_date",
            "contract_snapshot.deliverables[1].due_date",
            "contract_snapshot.client_obligations[0].kind",
            "contract_snapshot.payment_schedule[0].invoice",
            "contract_snapshot.signers[0].contact.email",
            "contract_snapshot.order_time",
        ],
    );

    // Well-formed fields that do not agree with each other.
    let mut s = snapshot("bad");
    s.term_months = 11;
    s.payment_schedule[1].amount = money(99_999);
    s.deliverables[1].deliverable_id = "deliverable-1".into();
    s.order = "contracts/c-other/orders/o-bad".into();
    s.line_items[0].amount = money(1);
    let refused = service
        .start_handoff(pb::StartHandoffRequest {
            contract_snapshot: Some(s),
            request_id: "bad-2".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(
        &refused,
        &[
            "contract_snapshot.term_months",
            "contract_snapshot.payment_schedule",
            "contract_snapshot.deliverables[1].deliverable_id",
            "contract_snapshot.order",
            "contract_snapshot.line_items[0].amount",
        ],
    );
    assert!(app.all().await.is_empty(), "nothing was created");

    // The same order, corrected, starts its handoff.
    let h = app.start("bad").await;
    assert_eq!(h.status, pb::HandoffStatus::Draft as i32);
}

#[tokio::test]
async fn concurrent_edits_of_one_handoff_without_etags_are_all_kept() {
    let app = TestApp::spawn().await;
    let h = app.start("edits").await;
    let version = |etag: &str| -> u64 {
        etag.trim_matches('"')
            .split('-')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("etags are \"{version}-{STATUS}\"")
    };
    // Each edit replaces another field, all at once and twice over: an edit applied to a copy
    // read before another one committed would put that field back as it was.
    let mut calls = Vec::new();
    for round in 0..2 {
        for path in FILLED {
            let mut sam = app.rep(SAM);
            let request = update(&h, filled(), &[path]);
            calls.push(tokio::spawn(async move {
                (round, sam.update_handoff(request).await)
            }));
        }
    }
    let mut changed = 0;
    for call in calls {
        let (round, answer) = call.await.unwrap();
        answer.expect("every edit is applied");
        // The second round writes what is already there: nothing changes.
        changed += u64::from(round == 0);
    }
    let now = app
        .rep(SAM)
        .get_handoff(pb::GetHandoffRequest {
            name: h.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let want = filled();
    assert_eq!(now.customer_needs, want.customer_needs);
    assert_eq!(now.goals.len(), want.goals.len());
    assert_eq!(now.stakeholders, want.stakeholders);
    assert_eq!(now.support_contacts, want.support_contacts);
    assert_eq!(now.onboarding_plan.len(), want.onboarding_plan.len());
    assert!(now.no_verbal_commitments);
    assert_eq!(now.account_manager, want.account_manager);
    assert!(
        version(&now.etag) >= version(&h.etag) + changed,
        "one version per edit that changed something: {} then {}",
        h.etag,
        now.etag
    );
}

#[tokio::test]
async fn the_salesperson_completes_a_handoff_through_update_handoff() {
    let app = TestApp::spawn().await;
    let h = app.start("sam").await;
    let mut sam = app.rep(SAM);

    // Field by field, as the salesperson fills it in over several edits.
    let h = sam
        .update_handoff(update(
            &h,
            pb::Handoff {
                customer_needs: filled().customer_needs,
                goals: vec![
                    filled().goals[0].clone(),
                    pb::Goal {
                        description: "Fewer late payments".into(),
                        ..Default::default()
                    },
                ],
                etag: h.etag.clone(),
                ..Default::default()
            },
            &["customer_needs", "goals"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.customer_needs.len(), 1);
    let ids: Vec<&str> = h.goals.iter().map(|g| g.goal_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(
        h.goals
            .iter()
            .all(|g| g.origin == pb::GoalOrigin::Added as i32)
    );
    assert_eq!(
        missing(h.readiness.as_ref().unwrap())
            .iter()
            .filter(|(code, _)| code == "goal_success_criteria")
            .collect::<Vec<_>>(),
        [&(
            "goal_success_criteria".to_owned(),
            "goals[1].success_criteria".to_owned()
        )]
    );

    // A goal named by its id keeps it; the other one is dropped.
    let mut second = h.goals[1].clone();
    second.success_criteria = vec![pb::SuccessCriterion {
        description: "no invoice paid late in Q4".into(),
        target_date: None,
    }];
    let h = sam
        .update_handoff(update(
            &h,
            pb::Handoff {
                goals: vec![second.clone()],
                ..Default::default()
            },
            &["goals"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.goals.len(), 1);
    assert_eq!(h.goals[0].goal_id, second.goal_id);

    // Milestones: one edited (kept by id), one added, one deliverable of the contract covered.
    let mut timeline = h.delivery_timeline.clone();
    timeline[0].title = "Training for the finance team".into();
    timeline.push(pb::Milestone {
        title: "Go-live".into(),
        due_date: day(2027, 4, 1),
        deliverable_ids: vec!["deliverable-1".into()],
        ..Default::default()
    });
    let h = sam
        .update_handoff(update(
            &h,
            pb::Handoff {
                delivery_timeline: timeline,
                verbal_commitments: vec![pb::VerbalCommitment {
                    description: "A second training session if needed".into(),
                    promised_by: person("Sam Seller", ""),
                    promised_to: person("Carla Champion", ""),
                    due_date: day(2027, 6, 30),
                    notes: "said on the pricing call".into(),
                    ..Default::default()
                }],
                ..filled()
            },
            &[
                "delivery_timeline",
                "verbal_commitments",
                "stakeholders",
                "support_contacts",
                "onboarding_plan",
                "account_manager",
                "notes",
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    let titles: Vec<(&str, i32)> = h
        .delivery_timeline
        .iter()
        .map(|m| (m.title.as_str(), m.origin))
        .collect();
    assert_eq!(
        titles,
        [
            (
                "Training for the finance team",
                pb::MilestoneOrigin::Contract as i32
            ),
            ("Platform set-up", pb::MilestoneOrigin::Contract as i32),
            ("Go-live", pb::MilestoneOrigin::Added as i32),
        ]
    );
    assert_eq!(h.verbal_commitments.len(), 1);
    assert_eq!(h.account_manager, ALICE);
    assert_eq!(h.onboarding_plan.len(), 1);
    assert!(!h.onboarding_plan[0].step_id.is_empty());
    assert_eq!(
        h.onboarding_plan[0].status,
        pb::OnboardingStepStatus::NotStarted as i32
    );
    // Only the introduction is missing now.
    assert_eq!(
        missing(h.readiness.as_ref().unwrap()),
        [("introduction".to_owned(), "introduction".to_owned())]
    );

    // Values wrong whatever the handoff holds, all named at once; nothing changes.
    let mut bad = filled();
    bad.goals[0].description = "g".repeat(501);
    bad.stakeholders[0].contact.as_mut().unwrap().email = String::new();
    bad.stakeholders.push(pb::Stakeholder {
        contact: person("Eve", "eve@acme.example"),
        role: 0,
        primary: false,
    });
    bad.support_contacts.push(pb::SupportContact {
        kind: pb::SupportContactKind::Other as i32,
        contact: person("Otto", "otto@acme.example"),
        notes: String::new(),
    });
    bad.verbal_commitments = vec![pb::VerbalCommitment {
        description: "c".repeat(1001),
        promised_by: person("Sam Seller", ""),
        promised_to: person("Carla", ""),
        ..Default::default()
    }];
    bad.onboarding_plan[0].status = pb::OnboardingStepStatus::Blocked as i32;
    let refused = sam
        .update_handoff(update(
            &h,
            bad,
            &[
                "goals",
                "stakeholders",
                "support_contacts",
                "verbal_commitments",
                "onboarding_plan",
            ],
        ))
        .await
        .unwrap_err();
    assert_invalid(
        &refused,
        &[
            "handoff.goals[0].description",
            "handoff.stakeholders[0].contact.email",
            "handoff.stakeholders[1].role",
            "handoff.support_contacts[2].notes",
            "handoff.verbal_commitments[0].description",
        ],
    );
    // What the handoff's own state refuses: a second primary, a commitment while none are
    // confirmed, a deliverable the contract does not have, a BLOCKED step without a note.
    let mut bad = filled();
    bad.stakeholders.push(pb::Stakeholder {
        contact: person("Eve", "eve@acme.example"),
        role: pb::StakeholderRole::User as i32,
        primary: true,
    });
    bad.delivery_timeline = vec![pb::Milestone {
        title: "Unknown".into(),
        due_date: day(2027, 5, 1),
        deliverable_ids: vec!["deliverable-9".into()],
        ..Default::default()
    }];
    bad.onboarding_plan[0].status = pb::OnboardingStepStatus::Blocked as i32;
    let refused = sam
        .update_handoff(update(
            &h,
            bad,
            &[
                "stakeholders",
                "no_verbal_commitments",
                "delivery_timeline",
                "onboarding_plan",
            ],
        ))
        .await
        .unwrap_err();
    assert_invalid(
        &refused,
        &[
            "handoff.stakeholders[1].primary",
            "handoff.no_verbal_commitments",
            "handoff.delivery_timeline[0].deliverable_ids",
            "handoff.onboarding_plan[0].status_note",
        ],
    );
    // A path that does not exist, or is output only.
    let refused = sam
        .update_handoff(update(&h, filled(), &["goals", "status"]))
        .await
        .unwrap_err();
    assert_invalid(&refused, &["update_mask"]);
    let refused = sam
        .update_handoff(update(&h, filled(), &[]))
        .await
        .unwrap_err();
    assert_invalid(&refused, &["update_mask"]);
    // A stale etag.
    let refused = sam
        .update_handoff(update(
            &h,
            pb::Handoff {
                notes: "late".into(),
                etag: "\"1-DRAFT\"".into(),
                ..Default::default()
            },
            &["notes"],
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    // Fields the salesperson does not own.
    for path in ["salesperson", "account_manager_notes"] {
        let refused = sam
            .update_handoff(update(
                &h,
                pb::Handoff {
                    salesperson: "rita".into(),
                    account_manager_notes: "mine".into(),
                    ..Default::default()
                },
                &[path],
            ))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{path}: {refused:?}"
        );
    }
    assert_eq!(app.read(&h.name).await.etag, h.etag, "nothing changed");

    // The account manager owns its notes and the onboarding plan, nothing else.
    let mut alice = app.am(ALICE);
    let noted = alice
        .update_handoff(update(
            &h,
            pb::Handoff {
                account_manager_notes: "Call Carla before the kick-off".into(),
                ..Default::default()
            },
            &["account_manager_notes"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        noted.account_manager_notes,
        "Call Carla before the kick-off"
    );
    let refused = alice
        .update_handoff(update(&noted, filled(), &["customer_needs"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // A sales manager reassigns the salesperson.
    let moved = app
        .manager()
        .update_handoff(update(
            &noted,
            pb::Handoff {
                salesperson: "rita".into(),
                ..Default::default()
            },
            &["salesperson"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.salesperson, "rita");
    let gone = sam
        .get_handoff(pb::GetHandoffRequest {
            name: h.name.clone(),
        })
        .await
        .unwrap_err();
    assert_not_found(&gone, "closeloop.handoff.v1.Handoff", &h.name);
}

/// A complete DRAFT handoff (order `n`) changed by `paths` of `with`, as the sales manager.
async fn complete_but(
    app: &TestApp,
    n: &str,
    with: pb::Handoff,
    paths: &[&str],
    schedule_introduction: bool,
) -> pb::Handoff {
    let h = app.start(n).await;
    let mut m = app.manager();
    let mut h = m.update_handoff(fill(&h)).await.unwrap().into_inner();
    if !paths.is_empty() {
        h = m
            .update_handoff(update(&h, with, paths))
            .await
            .unwrap()
            .into_inner();
    }
    if schedule_introduction {
        h = m
            .schedule_introduction(schedule(&h.name))
            .await
            .unwrap()
            .into_inner();
    }
    h
}

/// GetHandoffReadiness lists exactly `want`, and SubmitHandoff refuses with one "readiness"
/// violation per item, subject its code, description "{field}: ...", changing nothing.
async fn assert_missing(app: &TestApp, h: &pb::Handoff, want: &[(&str, &str)]) {
    let mut m = app.manager();
    let r = m
        .get_handoff_readiness(pb::GetHandoffReadinessRequest {
            name: h.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(c, f)| ((*c).to_owned(), (*f).to_owned()))
        .collect();
    assert_eq!(missing(&r), want);
    assert!(!r.ready);
    assert!(r.evaluate_time.is_some());
    assert_eq!(r.checks.len(), 13);
    for check in &r.checks {
        assert_eq!(
            check.met,
            !want.iter().any(|(c, _)| *c == check.code),
            "{}",
            check.code
        );
    }
    let refused = m.submit_handoff(submit(&h.name)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let got: Vec<(String, String, String)> = refused
        .get_details_precondition_failure()
        .unwrap()
        .violations
        .into_iter()
        .map(|v| (v.r#type, v.subject, v.description))
        .collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((gate, subject, description), (code, field)) in got.iter().zip(&want) {
        assert_eq!(gate, "readiness");
        assert_eq!(subject, code);
        assert!(
            description.starts_with(&format!("{field}: ")),
            "{description}"
        );
    }
    assert_eq!(app.read(&h.name).await.etag, h.etag);
}

/// One readiness case: the order, the values and paths that take items away, the items missing.
type Case = (
    &'static str,
    pb::Handoff,
    &'static [&'static str],
    Vec<(&'static str, &'static str)>,
);

#[tokio::test]
async fn readiness_names_every_item_missing_alone_and_all_at_once() {
    let app = TestApp::spawn().await;
    let ready = complete_but(&app, "ok", pb::Handoff::default(), &[], true).await;
    assert!(ready.readiness.as_ref().unwrap().ready);

    let goals_without_criterion = {
        let mut f = filled();
        f.goals.push(pb::Goal {
            description: "Fewer late payments".into(),
            ..Default::default()
        });
        f
    };
    let no_primary = {
        let mut f = filled();
        f.stakeholders[0].primary = false;
        f
    };
    let only = |kind: pb::SupportContactKind| {
        let mut f = filled();
        f.support_contacts.retain(|c| c.kind == kind as i32);
        f
    };
    let step = |owner: &str, due: Option<common::Date>| {
        let mut f = filled();
        f.onboarding_plan[0].owner = owner.into();
        f.onboarding_plan[0].due_date = due;
        f
    };
    let cases: Vec<Case> = vec![
        (
            "needs",
            pb::Handoff::default(),
            &["customer_needs"],
            vec![("customer_needs", "customer_needs")],
        ),
        (
            "goals",
            pb::Handoff::default(),
            &["goals"],
            vec![("goals", "goals")],
        ),
        (
            "criteria",
            goals_without_criterion,
            &["goals"],
            vec![("goal_success_criteria", "goals[1].success_criteria")],
        ),
        (
            "commitments",
            pb::Handoff::default(),
            &["no_verbal_commitments"],
            vec![("verbal_commitments", "verbal_commitments")],
        ),
        // No stakeholder at all cannot have exactly one primary: both checks fail.
        (
            "stakeholders",
            pb::Handoff::default(),
            &["stakeholders"],
            vec![
                ("stakeholders", "stakeholders"),
                ("primary_stakeholder", "stakeholders"),
            ],
        ),
        (
            "primary",
            no_primary,
            &["stakeholders"],
            vec![("primary_stakeholder", "stakeholders")],
        ),
        (
            "timeline",
            pb::Handoff::default(),
            &["delivery_timeline"],
            vec![("delivery_timeline", "delivery_timeline")],
        ),
        (
            "daily",
            only(pb::SupportContactKind::Billing),
            &["support_contacts"],
            vec![("day_to_day_contact", "support_contacts")],
        ),
        (
            "billing",
            only(pb::SupportContactKind::DayToDay),
            &["support_contacts"],
            vec![("billing_contact", "support_contacts")],
        ),
        (
            "plan",
            pb::Handoff::default(),
            &["onboarding_plan"],
            vec![("onboarding_plan", "onboarding_plan")],
        ),
        (
            "owner",
            step("", day(2027, 1, 20)),
            &["onboarding_plan"],
            vec![("onboarding_step_details", "onboarding_plan[0].owner")],
        ),
        (
            "due",
            step("olga", None),
            &["onboarding_plan"],
            vec![("onboarding_step_details", "onboarding_plan[0].due_date")],
        ),
    ];
    for (n, with, paths, want) in cases {
        let h = complete_but(&app, n, with, paths, true).await;
        assert_missing(&app, &h, &want).await;
    }
    // The introduction not scheduled.
    let h = complete_but(&app, "intro", pb::Handoff::default(), &[], false).await;
    assert_missing(&app, &h, &[("introduction", "introduction")]).await;
    // An account manager can be replaced but not removed, and the introduction needs one to be
    // scheduled: a handoff without an account manager misses the introduction too.
    let h = app.start("nobody").await;
    let mut without = filled();
    without.account_manager = String::new();
    let h = app
        .manager()
        .update_handoff(update(
            &h,
            without,
            &FILLED[..FILLED.len() - 1], // everything but account_manager
        ))
        .await
        .unwrap()
        .into_inner();
    assert_missing(
        &app,
        &h,
        &[
            ("account_manager", "account_manager"),
            ("introduction", "introduction"),
        ],
    )
    .await;

    // Everything at once, in check order.
    let h = app.start("empty").await;
    let h = app
        .manager()
        .update_handoff(update(&h, pb::Handoff::default(), &["delivery_timeline"]))
        .await
        .unwrap()
        .into_inner();
    assert_missing(
        &app,
        &h,
        &[
            ("account_manager", "account_manager"),
            ("customer_needs", "customer_needs"),
            ("goals", "goals"),
            ("verbal_commitments", "verbal_commitments"),
            ("stakeholders", "stakeholders"),
            ("primary_stakeholder", "stakeholders"),
            ("delivery_timeline", "delivery_timeline"),
            ("day_to_day_contact", "support_contacts"),
            ("billing_contact", "support_contacts"),
            ("onboarding_plan", "onboarding_plan"),
            ("introduction", "introduction"),
        ],
    )
    .await;
}

#[tokio::test]
async fn submit_reject_submit_accept_opens_the_account_once() {
    let app = TestApp::spawn().await;
    let h = app.ready("deal").await;
    assert_eq!(h.status, pb::HandoffStatus::Ready as i32);
    assert!(h.submit_time.is_some());
    let mut alice = app.am(ALICE);

    // Sent back with reasons: DRAFT again, every rejection kept.
    let rejected = alice
        .reject_handoff(reject(
            &h.name,
            &["Goals are vague", "Billing contact is the CFO's assistant"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.status, pb::HandoffStatus::Draft as i32);
    assert_eq!(rejected.rejections.len(), 1);
    let rejection = &rejected.rejections[0];
    assert_eq!(
        rejection.reasons,
        ["Goals are vague", "Billing contact is the CFO's assistant"]
    );
    assert_eq!(rejection.rejected_by.as_ref().unwrap().subject, ALICE);
    let last = rejected.status_history.last().unwrap();
    assert_eq!(
        (last.from_status, last.to_status),
        (
            pb::HandoffStatus::Ready as i32,
            pb::HandoffStatus::Draft as i32
        )
    );
    assert_eq!(last.reasons, rejection.reasons);
    // Reasons are required, 1 to 20 of 1 to 1000 characters.
    let resubmitted = app
        .rep(SAM)
        .submit_handoff(submit(&h.name))
        .await
        .unwrap()
        .into_inner();
    for (reasons, fields) in [
        (vec![], vec!["reasons"]),
        (vec![" ".to_owned()], vec!["reasons[0]"]),
        (vec!["x".repeat(1001)], vec!["reasons[0]"]),
        (vec!["why".to_owned(); 21], vec!["reasons"]),
    ] {
        let refused = alice
            .reject_handoff(pb::RejectHandoffRequest {
                name: h.name.clone(),
                reasons,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&refused, &fields);
    }

    // Not accepted before the introduction took place.
    let early = alice.accept_handoff(accept(&h.name)).await.unwrap_err();
    assert_gate(&early, "introduction_completed", Some("introduction"));
    assert!(app.outbox().await.is_empty());
    let introduced = alice
        .complete_introduction(complete_introduction(&h.name))
        .await
        .unwrap()
        .into_inner();
    let intro = introduced.introduction.as_ref().unwrap();
    assert_eq!(intro.state, pb::IntroductionState::Completed as i32);
    assert_eq!(intro.account_manager, ALICE);
    assert_eq!(intro.notes, "Went well");
    assert!(resubmitted.etag != introduced.etag);

    let mut request = accept(&h.name);
    request.request_id = "accept-1".into();
    request.etag = introduced.etag.clone();
    let accepted = alice
        .accept_handoff(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.status, pb::HandoffStatus::Accepted as i32);
    assert!(accepted.accept_time.is_some());
    let id = h.name.strip_prefix("handoffs/").unwrap();
    let command = format!("open-account-{id}");
    let call = accepted.open_account_call.as_ref().unwrap();
    assert_eq!(call.state, common::OwedCallState::Pending as i32);
    assert_eq!(
        call.method,
        "closeloop.accounts.v1.AccountService/OpenAccount"
    );
    assert_eq!(call.command_id, command);
    let opening = accepted.account_opening.as_ref().unwrap();
    assert_eq!(opening.state, pb::AccountOpeningState::Pending as i32);
    assert_eq!(opening.request_time, accepted.accept_time);

    // Accepting again: the same request answers the first answer; another is refused; the
    // outbox holds the call once.
    let again = alice.accept_handoff(request).await.unwrap().into_inner();
    assert_eq!(again, accepted);
    let refused = app
        .manager()
        .accept_handoff(accept(&h.name))
        .await
        .unwrap_err();
    assert_gate(&refused, "status", None);
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1, "OpenAccount owed once");
    let (owed_id, method, payload) = &outbox[0];
    assert_eq!(owed_id, &command);
    assert_eq!(method, "closeloop.accounts.v1.AccountService/OpenAccount");

    // What account-management is asked: everything the account starts from.
    let open: accounts::OpenAccountRequest = prost::Message::decode(payload.as_slice()).unwrap();
    assert_eq!(open.request_id, command);
    let account = open.account.unwrap();
    assert_eq!(account.handoff, h.name);
    assert_eq!(account.customer.as_ref().unwrap().account_id, "acme");
    assert_eq!(account.account_manager, ALICE);
    assert_eq!(account.salesperson, SAM);
    assert_eq!(account.start_date, day(2027, 1, 1));
    let contract = &account.contracts[0];
    assert_eq!(contract.contract, "contracts/c-deal");
    assert_eq!(contract.opportunity, "opportunities/p-deal");
    assert_eq!(contract.value, money(120_000));
    assert_eq!(
        (
            contract.start_date,
            contract.end_date,
            contract.term_months,
            contract.auto_renew
        ),
        (day(2027, 1, 1), day(2027, 12, 31), 12, true)
    );
    assert_eq!(contract.gross_margin_bps, 7500, "(1200 - 300) / 1200");
    assert_eq!(account.outcomes.len(), 1);
    assert_eq!(account.outcomes[0].goal, "Cut invoice processing time");
    assert_eq!(account.outcomes[0].success_criteria, ["under 2 days by Q3"]);
    let obligations: Vec<(i32, i32, &str)> = account
        .obligations
        .iter()
        .map(|o| (o.party, o.kind, o.external_id.as_str()))
        .collect();
    let company = accounts::ObligationParty::Company as i32;
    let client = accounts::ObligationParty::Client as i32;
    use common::ObligationKind as K;
    assert_eq!(
        obligations,
        [
            (company, K::Deliverable as i32, "deliverable-1"),
            (company, K::Deliverable as i32, "deliverable-2"),
            (client, K::Access as i32, "obligation-1"),
            (client, K::Payment as i32, "installment-1"),
            (client, K::Payment as i32, "installment-2"),
        ]
    );
    assert_eq!(account.obligations[3].amount, money(20_000));
    assert_eq!(account.obligations[4].description, "Payment due 2027-02-01");
    assert_eq!(
        account.obligations[1].status,
        common::ObligationStatus::InProgress as i32
    );
    let contacts: Vec<(&str, i32, bool)> = account
        .contacts
        .iter()
        .map(|c| {
            (
                c.contact.as_ref().unwrap().email.as_str(),
                c.role,
                c.primary,
            )
        })
        .collect();
    assert_eq!(
        contacts,
        [
            (
                "carla@acme.example",
                accounts::ContactRole::Other as i32,
                true
            ),
            (
                "dan@acme.example",
                accounts::ContactRole::DayToDay as i32,
                false
            ),
            (
                "bea@acme.example",
                accounts::ContactRole::Billing as i32,
                false
            ),
        ]
    );
    assert_eq!(
        account.needs,
        ["Invoices approved without paper — Finance team of 12"]
    );

    // Only the onboarding plan and the account manager's notes keep changing.
    let stepped = alice
        .update_onboarding_step_status(step_in_progress(&accepted))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stepped.onboarding_plan[0].status,
        pb::OnboardingStepStatus::InProgress as i32
    );
    assert_eq!(
        stepped.open_account_call.as_ref().unwrap().state,
        common::OwedCallState::Pending as i32
    );
    assert_eq!(app.outbox().await.len(), 1);
}

#[tokio::test]
async fn the_account_opening_follows_the_delivery_of_open_account() {
    let app = TestApp::spawn().await;
    let h = app.accepted("open").await;
    let command = h.open_account_call.as_ref().unwrap().command_id.clone();

    // account-management refused it for good: REFUSED, with its answer, on the handoff.
    sqlx::query(
        "UPDATE outbox SET park_time = $1, last_code = 'INVALID_ARGUMENT', \
         last_error = 'account.outcomes[0].goal: at most 500 characters' WHERE id = $2",
    )
    .bind(closeloop_kit::time::now_micros())
    .bind(&command)
    .execute(app.db.writes())
    .await
    .unwrap();
    let refused = app.read(&h.name).await;
    assert_eq!(refused.status, pb::HandoffStatus::Accepted as i32, "still");
    let call = refused.open_account_call.as_ref().unwrap();
    assert_eq!(call.state, common::OwedCallState::Refused as i32);
    assert_eq!(call.refusal_code, "INVALID_ARGUMENT");
    assert_eq!(
        refused.account_opening.as_ref().unwrap().state,
        pb::AccountOpeningState::Refused as i32
    );

    // An operator retries it: PENDING again.
    assert_eq!(outbox::retry(&app.db, Some(&command)).await.unwrap(), 1);
    let retried = app.read(&h.name).await;
    assert_eq!(
        retried.account_opening.as_ref().unwrap().state,
        pb::AccountOpeningState::Pending as i32
    );

    // The relay records the delivery: OPENED, when.
    let delivered = closeloop_kit::time::now_micros();
    sqlx::query("UPDATE outbox SET deliver_time = $1 WHERE id = $2")
        .bind(delivered)
        .bind(&command)
        .execute(app.db.writes())
        .await
        .unwrap();
    let opened = app.read(&h.name).await;
    let opening = opened.account_opening.as_ref().unwrap();
    assert_eq!(opening.state, pb::AccountOpeningState::Opened as i32);
    assert_eq!(
        opening.open_time,
        Some(closeloop_kit::convert::timestamp(delivered))
    );
    assert_eq!(
        opened.open_account_call.as_ref().unwrap().state,
        common::OwedCallState::Delivered as i32
    );
}

#[tokio::test]
async fn handoffs_are_listed_oldest_first_filtered_and_paged() {
    let app = TestApp::spawn().await;
    let a = app.start("a").await;
    let b = app.complete("b").await;
    let c = app.ready("c").await;
    let mut m = app.manager();
    let list = |request: pb::ListHandoffsRequest| {
        let mut m = app.manager();
        async move {
            m.list_handoffs(request)
                .await
                .unwrap()
                .into_inner()
                .handoffs
                .into_iter()
                .map(|h| h.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(pb::ListHandoffsRequest::default()).await,
        [a.name.as_str(), b.name.as_str(), c.name.as_str()]
    );
    assert_eq!(
        list(pb::ListHandoffsRequest {
            status: pb::HandoffStatus::Ready as i32,
            ..Default::default()
        })
        .await,
        [c.name.as_str()]
    );
    assert_eq!(
        list(pb::ListHandoffsRequest {
            account_manager: ALICE.into(),
            ..Default::default()
        })
        .await,
        [b.name.as_str(), c.name.as_str()]
    );
    assert_eq!(
        list(pb::ListHandoffsRequest {
            unassigned_only: true,
            ..Default::default()
        })
        .await,
        [a.name.as_str()]
    );
    assert_eq!(
        list(pb::ListHandoffsRequest {
            contract: "contracts/c-b".into(),
            ..Default::default()
        })
        .await,
        [b.name.as_str()]
    );
    assert_eq!(
        list(pb::ListHandoffsRequest {
            salesperson: SAM.into(),
            account_id: "acme".into(),
            ..Default::default()
        })
        .await,
        [a.name.as_str(), b.name.as_str(), c.name.as_str()]
    );
    assert!(
        list(pb::ListHandoffsRequest {
            salesperson: "rita".into(),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    // Pages of one, each token valid only for its filters.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = m
            .list_handoffs(pb::ListHandoffsRequest {
                page_size: 1,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        names.extend(page.handoffs.into_iter().map(|h| h.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        if names.len() == 1 {
            let refused = m
                .list_handoffs(pb::ListHandoffsRequest {
                    page_size: 1,
                    page_token: token.clone(),
                    status: pb::HandoffStatus::Draft as i32,
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_invalid(&refused, &["page_token"]);
        }
    }
    assert_eq!(names, [a.name.as_str(), b.name.as_str(), c.name.as_str()]);

    // Bad filters, all named at once.
    let refused = m
        .list_handoffs(pb::ListHandoffsRequest {
            page_size: -1,
            contract: "c-b".into(),
            order: "contracts/c-b".into(),
            account_manager: ALICE.into(),
            unassigned_only: true,
            status: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(
        &refused,
        &[
            "page_size",
            "contract",
            "order",
            "unassigned_only",
            "status",
        ],
    );
}

#[tokio::test]
async fn a_handoff_submitted_before_its_opportunity_was_read_is_not_filled_later() {
    let app = TestApp::spawn().await;
    let h = app.ready("early").await;
    let prefill = h.prefill.as_ref().unwrap();
    assert_eq!(prefill.state, pb::PrefillState::Failed as i32);
    assert!(prefill.failure.contains("submitted"), "{}", prefill.failure);
}

#[tokio::test]
async fn the_salesperson_and_account_manager_roles_meet_on_a_handoff() {
    let app = TestApp::spawn().await;
    let h = app.start("roles").await;
    // The account team's queue: an account manager takes an unassigned handoff.
    let mut amy = app.am("amy");
    let taken = amy
        .assign_account_manager(assign(&h.name, "amy"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(taken.account_manager, "amy");
    // Assigning itself again changes nothing, not even the etag.
    let again = amy
        .assign_account_manager(assign(&h.name, "amy"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.etag, taken.etag);
    // Someone took it first.
    let late = app
        .am(ALICE)
        .assign_account_manager(assign(&h.name, ALICE))
        .await
        .unwrap_err();
    assert_gate(&late, "account_manager_assigned", Some("account_manager"));
    // An account manager assigns only itself.
    let other = amy
        .assign_account_manager(assign(&h.name, ALICE))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied, "{other:?}");
    // The salesperson reassigns while DRAFT.
    let reassigned = app
        .rep(SAM)
        .assign_account_manager(assign(&h.name, ALICE))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reassigned.account_manager, ALICE);
    // A sales_rep lists only its own.
    let refused = app
        .rep("rita")
        .list_handoffs(pb::ListHandoffsRequest {
            salesperson: SAM.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let own = app
        .rep(SAM)
        .list_handoffs(pb::ListHandoffsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .handoffs;
    assert_eq!(own.len(), 1);
}
