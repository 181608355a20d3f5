//! An opportunity's whole life: gates, approvals, close, and what a won deal owes the contracts
//! service.

use closeloop_proto::contracts::v1 as contracts;
use closeloop_proto::opportunities::v1 as pb;
use prost::Message;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_deal_goes_from_prospecting_to_won_through_every_gate() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let mut max = app.manager();

    let o = create(&mut ana, "Acme rollout").await;
    assert_eq!(o.stage, pb::Stage::Prospecting as i32);
    assert_eq!(o.owner, "ana");
    assert_eq!(o.probability_percent, 10);
    assert_eq!(o.forecast_category, pb::ForecastCategory::Pipeline as i32);
    assert!(!o.qualification.as_ref().unwrap().passed);

    // Stages cannot be skipped.
    let err = move_to(&mut ana, &o.name, pb::Stage::Proposal)
        .await
        .unwrap_err();
    assert_gate(&err, "stage_transition", Some("PROSPECTING -> PROPOSAL"));

    move_to(&mut ana, &o.name, pb::Stage::Qualification)
        .await
        .unwrap();
    // Leaving qualification needs the answers and a margin.
    let err = move_to(&mut ana, &o.name, pb::Stage::Proposal)
        .await
        .unwrap_err();
    assert_gate(&err, "qualification", Some("client_benefit_confirmed"));
    assert_gate(&err, "qualification", Some("margin"));

    qualify(&mut ana, &o.name).await;
    // 15% discount on 10 seats, 52% margin: qualifies, but the discount needs approval.
    let o = add_item(&mut ana, &o.name, line_item(10_000, 8_500, 4_000, 10)).await;
    let li = &o.line_items[0];
    assert_eq!(li.line_item_id, "li-1");
    assert_eq!(li.discount_bps, 1500);
    assert!(li.requires_approval);
    assert_eq!(o.amount.as_ref().unwrap().amount_minor, 85_000);
    assert_eq!(o.list_amount.as_ref().unwrap().amount_minor, 100_000);
    assert_eq!(o.margin_bps, 5294);
    assert!(o.qualification.as_ref().unwrap().passed);

    let o = move_to(&mut ana, &o.name, pb::Stage::Proposal)
        .await
        .unwrap();
    assert_eq!(o.forecast_category, pb::ForecastCategory::BestCase as i32);
    let err = move_to(&mut ana, &o.name, pb::Stage::Negotiation)
        .await
        .unwrap_err();
    assert_gate(&err, "discount_approval", Some("line_items/li-1"));

    // Only a sales manager approves discounts.
    let approve = pb::ApproveDiscountRequest {
        name: o.name.clone(),
        line_item_id: "li-1".into(),
        reason: "Strategic logo in a new vertical".into(),
        ..Default::default()
    };
    let err = ana.approve_discount(approve.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let o = max.approve_discount(approve).await.unwrap().into_inner();
    let approval = o.line_items[0].approval.as_ref().unwrap();
    assert_eq!(approval.approver.as_ref().unwrap().subject, "max");
    assert_eq!(approval.approved_discount_bps, 1500);

    let o = move_to(&mut ana, &o.name, pb::Stage::Negotiation)
        .await
        .unwrap();
    assert_eq!(o.forecast_category, pb::ForecastCategory::Commit as i32);
    assert!(
        app.outbox().await.is_empty(),
        "nothing is owed before the deal is won"
    );

    let o = ana
        .close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            close_date: day(2026, 11, 20),
            ..won()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.stage, pb::Stage::ClosedWon as i32);
    assert_eq!(o.forecast_category, pb::ForecastCategory::Closed as i32);
    assert_eq!(o.probability_percent, 100);
    let close = o.close_record.as_ref().unwrap();
    assert_eq!(close.outcome, pb::Outcome::Won as i32);
    assert_eq!(close.close_date, day(2026, 11, 20));
    let stages: Vec<(i32, i32)> = o
        .stage_history
        .iter()
        .map(|c| (c.from_stage, c.to_stage))
        .collect();
    assert_eq!(
        stages,
        [
            (
                pb::Stage::Prospecting as i32,
                pb::Stage::Qualification as i32
            ),
            (pb::Stage::Qualification as i32, pb::Stage::Proposal as i32),
            (pb::Stage::Proposal as i32, pb::Stage::Negotiation as i32),
            (pb::Stage::Negotiation as i32, pb::Stage::ClosedWon as i32),
        ]
    );
    assert!(
        o.stage_history
            .iter()
            .all(|c| c.actor.as_ref().unwrap().subject == "ana")
    );

    // The won deal owes the contracts service a CreateContract, written with the close.
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0].0,
        "closeloop.contracts.v1.ContractService/CreateContract"
    );
    let command = contracts::CreateContractRequest::decode(outbox[0].1.as_slice()).unwrap();
    assert!(!command.request_id.is_empty());
    let snapshot = command.contract.unwrap().opportunity_snapshot.unwrap();
    assert_eq!(snapshot.opportunity, o.name);
    assert_eq!(snapshot.owner, "ana");
    assert_eq!(snapshot.amount.unwrap().amount_minor, 85_000);
    assert_eq!(snapshot.line_items.len(), 1);
    assert_eq!(
        snapshot.line_items[0]
            .sold_unit_price
            .as_ref()
            .unwrap()
            .amount_minor,
        8_500
    );
    assert_eq!(snapshot.kind, contracts::DealKind::NewBusiness as i32);
    assert_eq!(snapshot.close_date, day(2026, 11, 20));
}

#[tokio::test]
async fn a_closed_opportunity_never_changes() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Lost cause").await;
    let o = ana
        .close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            outcome: pb::Outcome::Lost as i32,
            loss_reason: pb::LossReason::Competitor as i32,
            competitor: "Globex".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.stage, pb::Stage::ClosedLost as i32);

    let mut update = o.clone();
    update.title = "Renamed".into();
    let attempts = [
        ana.update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(update),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        ana.add_line_item(pb::AddLineItemRequest {
            name: o.name.clone(),
            line_item: Some(line_item(100, 100, 10, 1)),
            ..Default::default()
        })
        .await
        .map(|_| ()),
        move_to(&mut ana, &o.name, pb::Stage::Prospecting)
            .await
            .map(|_| ()),
        ana.close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            ..won()
        })
        .await
        .map(|_| ()),
        app.manager()
            .close_opportunity(pb::CloseOpportunityRequest {
                name: o.name.clone(),
                outcome: pb::Outcome::Disqualified as i32,
                disqualification_reason: pb::DisqualificationReason::NoBudget as i32,
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ];
    for attempt in attempts {
        assert_gate(&attempt.unwrap_err(), "closed", Some("stage"));
    }
    assert_eq!(get(&mut ana, &o.name).await, o);
}

#[tokio::test]
async fn losing_and_disqualifying_need_reasons() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Maybe").await;
    let close = |outcome: pb::Outcome,
                 loss: pb::LossReason,
                 disq: pb::DisqualificationReason,
                 notes: &str| {
        pb::CloseOpportunityRequest {
            name: o.name.clone(),
            outcome: outcome as i32,
            loss_reason: loss as i32,
            disqualification_reason: disq as i32,
            notes: notes.into(),
            ..Default::default()
        }
    };
    use pb::{DisqualificationReason as D, LossReason as L, Outcome};
    let cases = [
        (
            close(Outcome::Lost, L::Unspecified, D::Unspecified, ""),
            vec!["loss_reason"],
        ),
        (
            close(Outcome::Lost, L::Competitor, D::Unspecified, ""),
            vec!["competitor"],
        ),
        (
            close(Outcome::Lost, L::Other, D::Unspecified, ""),
            vec!["notes"],
        ),
        (
            close(Outcome::Disqualified, L::Unspecified, D::Unspecified, ""),
            vec!["disqualification_reason"],
        ),
        (
            close(Outcome::Disqualified, L::Unspecified, D::Other, ""),
            vec!["notes"],
        ),
        (
            close(Outcome::Lost, L::Price, D::NoBudget, ""),
            vec!["disqualification_reason"],
        ),
        (
            close(Outcome::Unspecified, L::Unspecified, D::Unspecified, ""),
            vec!["outcome"],
        ),
    ];
    for (request, fields) in cases {
        let err = ana.close_opportunity(request).await.unwrap_err();
        assert_invalid(&err, &fields);
    }
    // Winning from PROSPECTING is not a move the table allows.
    let err = ana
        .close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            ..won()
        })
        .await
        .unwrap_err();
    assert_gate(&err, "stage_transition", None);
    assert_eq!(
        get(&mut ana, &o.name).await.stage,
        pb::Stage::Prospecting as i32
    );

    let o = ana
        .close_opportunity(close(
            Outcome::Disqualified,
            L::Unspecified,
            D::ImmaturePartner,
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.stage, pb::Stage::Disqualified as i32);
    assert_eq!(o.forecast_category, pb::ForecastCategory::Omitted as i32);
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn winning_needs_priced_items_and_approvals() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = in_proposal(&mut ana, "Almost").await;
    // Remove the only item: nothing to win.
    ana.remove_line_item(pb::RemoveLineItemRequest {
        name: o.name.clone(),
        line_item_id: "li-1".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let err = ana
        .close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            ..won()
        })
        .await
        .unwrap_err();
    assert_gate(&err, "line_items", None);
    assert_gate(&err, "amount", None);
    // A 30% discount without approval.
    add_item(&mut ana, &o.name, line_item(1_000, 700, 100, 1)).await;
    let err = ana
        .close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            ..won()
        })
        .await
        .unwrap_err();
    assert_gate(&err, "discount_approval", Some("line_items/li-2"));
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn an_approval_holds_only_for_the_discount_it_covers() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let mut max = app.manager();
    let o = in_proposal(&mut ana, "Discounted").await;
    let o = add_item(&mut ana, &o.name, line_item(1_000, 800, 100, 1)).await;
    let approve = |id: &str| pb::ApproveDiscountRequest {
        name: o.name.clone(),
        line_item_id: id.into(),
        reason: "competitive".into(),
        ..Default::default()
    };
    // Within the threshold: nothing to approve.
    let err = max.approve_discount(approve("li-1")).await.unwrap_err();
    assert_gate(&err, "discount_within_threshold", Some("line_items/li-1"));
    let err = max.approve_discount(approve("li-9")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    max.approve_discount(approve("li-2")).await.unwrap();

    let deeper = |sold: i64| pb::UpdateLineItemRequest {
        name: o.name.clone(),
        line_item: Some(pb::LineItem {
            line_item_id: "li-2".into(),
            sold_unit_price: money(sold),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["sold_unit_price".into()],
        }),
        ..Default::default()
    };
    let o2 = ana
        .update_line_item(deeper(850))
        .await
        .unwrap()
        .into_inner();
    assert!(
        o2.line_items[1].approval.is_some(),
        "a smaller discount stays approved"
    );
    let o2 = ana
        .update_line_item(deeper(750))
        .await
        .unwrap()
        .into_inner();
    assert!(
        o2.line_items[1].approval.is_none(),
        "a deeper discount needs a new approval"
    );
    let err = move_to(&mut ana, &o.name, pb::Stage::Negotiation)
        .await
        .unwrap_err();
    assert_gate(&err, "discount_approval", Some("line_items/li-2"));
}

#[tokio::test]
async fn moving_back_rearms_the_gates_and_pushes_are_counted() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = in_proposal(&mut ana, "Back and forth").await;
    let o = move_to(&mut ana, &o.name, pb::Stage::Qualification)
        .await
        .unwrap();
    // Requalify with a failing answer: the gate blocks again.
    ana.qualify_opportunity(pb::QualifyOpportunityRequest {
        name: o.name.clone(),
        qualification: Some(pb::Qualification {
            client_benefit_confirmed: true,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let err = move_to(&mut ana, &o.name, pb::Stage::Proposal)
        .await
        .unwrap_err();
    assert_gate(&err, "qualification", Some("mature_partner_confirmed"));

    let push = |date| {
        let mut o = o.clone();
        o.expected_close_date = date;
        // No etag: last writer wins for these updates.
        o.etag.clear();
        pb::UpdateOpportunityRequest {
            opportunity: Some(o),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["expected_close_date".into()],
            }),
            ..Default::default()
        }
    };
    ana.update_opportunity(push(day(2027, 1, 31)))
        .await
        .unwrap();
    let o = ana
        .update_opportunity(push(day(2027, 3, 31)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.push_count, 2);
    let o = ana
        .update_opportunity(push(day(2026, 12, 1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.push_count, 2, "pulling the date in is not a push");
}

#[tokio::test]
async fn a_repeated_request_id_returns_the_first_answer() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let request = pb::CreateOpportunityRequest {
        opportunity: Some(new_opportunity("Once")),
        request_id: "9f3c0a56-1b7e-4a0e-9d64-2f4b8f0e6c11".into(),
        ..Default::default()
    };
    let first = ana
        .create_opportunity(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = ana
        .create_opportunity(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    let listed = ana
        .list_opportunities(pb::ListOpportunitiesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.opportunities.len(), 1);

    let mut different = request.clone();
    different.opportunity.as_mut().unwrap().title = "Twice".into();
    let err = ana.create_opportunity(different).await.unwrap_err();
    assert_invalid(&err, &["request_id"]);

    // Transitions too: the second call answers like the first, it does not fail the gate.
    let mv = pb::MoveOpportunityStageRequest {
        name: first.name.clone(),
        stage: pb::Stage::Qualification as i32,
        request_id: "move-1".into(),
        ..Default::default()
    };
    let a = ana
        .move_opportunity_stage(mv.clone())
        .await
        .unwrap()
        .into_inner();
    let b = ana.move_opportunity_stage(mv).await.unwrap().into_inner();
    assert_eq!(a, b);
    assert_eq!(get(&mut ana, &first.name).await.stage_history.len(), 1);
}

#[tokio::test]
async fn a_stale_etag_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Etags").await;
    let mut update = o.clone();
    update.title = "First writer".into();
    let mask = prost_types::FieldMask {
        paths: vec!["title".into()],
    };
    let updated = ana
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(update),
            update_mask: Some(mask.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(updated.etag, o.etag);

    // A second writer still holding the old etag.
    let mut stale = o.clone();
    stale.title = "Second writer".into();
    let err = ana
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(stale),
            update_mask: Some(mask),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = ana
        .move_opportunity_stage(pb::MoveOpportunityStageRequest {
            name: o.name.clone(),
            stage: pb::Stage::Qualification as i32,
            etag: o.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(get(&mut ana, &o.name).await, updated);
}

#[tokio::test]
async fn forecast_overrides_follow_the_rules() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Overrides").await;
    let set = |category: pb::ForecastCategory, probability: i32| {
        let mut o = o.clone();
        o.forecast_category_override = category as i32;
        o.probability_override_percent = probability;
        o.etag.clear();
        pb::UpdateOpportunityRequest {
            opportunity: Some(o),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![
                    "forecast_category_override".into(),
                    "probability_override_percent".into(),
                ],
            }),
            ..Default::default()
        }
    };
    let err = ana
        .update_opportunity(set(pb::ForecastCategory::Commit, 0))
        .await
        .unwrap_err();
    assert_gate(&err, "forecast_override", None);
    let err = ana
        .update_opportunity(set(pb::ForecastCategory::Unspecified, 100))
        .await
        .unwrap_err();
    assert_invalid(&err, &["opportunity.probability_override_percent"]);
    let o = ana
        .update_opportunity(set(pb::ForecastCategory::BestCase, 35))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(o.forecast_category, pb::ForecastCategory::BestCase as i32);
    assert_eq!(o.probability_percent, 35);
    // A stage change resets both to the new stage's defaults.
    let o = move_to(&mut ana, &o.name, pb::Stage::Qualification)
        .await
        .unwrap();
    assert_eq!(o.probability_percent, 20);
    assert_eq!(o.forecast_category_override, 0);
}

#[tokio::test]
async fn a_deal_past_qualification_must_stay_qualified_to_move_on() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = in_proposal(&mut ana, "Slipping").await;
    // Re-priced below the margin floor after qualification.
    ana.update_line_item(pb::UpdateLineItemRequest {
        name: o.name.clone(),
        line_item: Some(pb::LineItem {
            line_item_id: "li-1".into(),
            unit_cost: money(9_400),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["unit_cost".into()],
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let err = move_to(&mut ana, &o.name, pb::Stage::Negotiation)
        .await
        .unwrap_err();
    assert_gate(&err, "qualification", Some("margin"));
    let err = ana
        .close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            ..won()
        })
        .await
        .unwrap_err();
    assert_gate(&err, "qualification", Some("margin"));
    assert_eq!(
        get(&mut ana, &o.name).await.stage,
        pb::Stage::Proposal as i32
    );
}
