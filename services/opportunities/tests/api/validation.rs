//! Bad input: INVALID_ARGUMENT naming every bad field, and nothing changed.

use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;
use tonic::Code;

use crate::helpers::*;

async fn count(client: &mut Client) -> usize {
    client
        .list_opportunities(pb::ListOpportunitiesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .opportunities
        .len()
}

#[tokio::test]
async fn each_invalid_field_is_named_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let bad = pb::Opportunity {
        account: Some(common::Party {
            account_id: String::new(),
            display_name: "Acme".into(),
        }),
        title: "  ".into(),
        kind: 99,
        source: 0,
        currency_code: "EURO".into(),
        expected_close_date: day(2026, 2, 30),
        stakeholders: vec![pb::Stakeholder {
            contact: Some(common::Contact {
                display_name: "X".into(),
                email: "not-an-email".into(),
                ..Default::default()
            }),
            role: 0,
            primary: true,
        }],
        probability_override_percent: 120,
        prior_contract_value: Some(common::Money {
            currency_code: "eur".into(),
            amount_minor: 5,
        }),
        ..Default::default()
    };
    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(bad),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(
        &err,
        &[
            "opportunity.account",
            "opportunity.title",
            "opportunity.kind",
            "opportunity.source",
            "opportunity.currency_code",
            "opportunity.expected_close_date",
            "opportunity.stakeholders[0].contact.email",
            "opportunity.stakeholders[0].role",
            "opportunity.probability_override_percent",
            "opportunity.prior_contract_value",
        ],
    );
    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest::default())
        .await
        .unwrap_err();
    assert_invalid(&err, &["opportunity"]);

    // Cross-field rules.
    let mut renewal = new_opportunity("Renewal without prior value");
    renewal.kind = pb::OpportunityKind::Renewal as i32;
    renewal.source = pb::OpportunitySource::Referral as i32;
    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(renewal),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(
        &err,
        &[
            "opportunity.prior_contract_value",
            "opportunity.referring_account",
        ],
    );

    let mut two_primaries = new_opportunity("Two primaries");
    two_primaries
        .stakeholders
        .push(two_primaries.stakeholders[0].clone());
    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(two_primaries),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["opportunity.stakeholders"]);

    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(new_opportunity("Starts won")),
            initial_stage: pb::Stage::ClosedWon as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["initial_stage"]);
    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(new_opportunity("Bad request id")),
            request_id: "has spaces in it".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["request_id"]);
    assert_eq!(count(&mut ana).await, 0);
}

#[tokio::test]
async fn bad_names_masks_and_line_items_are_refused_without_change() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Target").await;

    for name in [
        "",
        "opportunities/",
        "contracts/1",
        "opportunities/../../etc",
        "opportunities/a b",
    ] {
        let err = ana
            .get_opportunity(pb::GetOpportunityRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_invalid(&err, &["name"]);
    }
    let err = ana
        .get_opportunity(pb::GetOpportunityRequest {
            name: "opportunities/0190aaaa-0000-7000-8000-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let update = |paths: &[&str]| pb::UpdateOpportunityRequest {
        opportunity: Some(o.clone()),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        ..Default::default()
    };
    assert_invalid(
        &ana.update_opportunity(update(&[])).await.unwrap_err(),
        &["update_mask"],
    );
    assert_invalid(
        &ana.update_opportunity(update(&["stage"]))
            .await
            .unwrap_err(),
        &["update_mask"],
    );
    assert_invalid(
        &ana.update_opportunity(update(&["amount"]))
            .await
            .unwrap_err(),
        &["update_mask"],
    );

    let bad_items = [
        (
            pb::LineItem {
                quantity: 0,
                ..line_item(100, 90, 10, 1)
            },
            "line_item.quantity",
        ),
        (
            pb::LineItem {
                list_unit_price: money(0),
                ..line_item(100, 90, 10, 1)
            },
            "line_item.list_unit_price",
        ),
        (
            pb::LineItem {
                sold_unit_price: money(-1),
                ..line_item(100, 90, 10, 1)
            },
            "line_item.sold_unit_price",
        ),
        (
            pb::LineItem {
                unit_cost: None,
                ..line_item(100, 90, 10, 1)
            },
            "line_item.unit_cost",
        ),
        (
            pb::LineItem {
                product_id: String::new(),
                ..line_item(100, 90, 10, 1)
            },
            "line_item.product_id",
        ),
        (
            pb::LineItem {
                list_unit_price: Some(common::Money {
                    currency_code: "USD".into(),
                    amount_minor: 100,
                }),
                ..line_item(100, 90, 10, 1)
            },
            "line_item.list_unit_price",
        ),
        (
            pb::LineItem {
                quantity: 1_000_000_000,
                ..line_item(1_000_000_000_000_000, 1_000_000_000_000_000, 0, 1)
            },
            "line_item",
        ),
    ];
    for (item, field) in bad_items {
        let err = ana
            .add_line_item(pb::AddLineItemRequest {
                name: o.name.clone(),
                line_item: Some(item),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&err, &[field]);
    }
    let err = move_to(&mut ana, &o.name, pb::Stage::Unspecified)
        .await
        .unwrap_err();
    assert_invalid(&err, &["stage"]);
    let err = move_to(&mut ana, &o.name, pb::Stage::ClosedWon)
        .await
        .unwrap_err();
    assert_invalid(&err, &["stage"]);
    let err = ana
        .approve_discount(pb::ApproveDiscountRequest {
            name: o.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "authorization is checked before the body"
    );
    let err = app
        .manager()
        .approve_discount(pb::ApproveDiscountRequest {
            name: o.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["line_item_id", "reason"]);
    assert_eq!(get(&mut ana, &o.name).await, o);
}

#[tokio::test]
async fn currency_is_locked_once_priced() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Currency").await;
    let o = add_item(&mut ana, &o.name, line_item(100, 100, 10, 1)).await;
    let mut usd = o.clone();
    usd.currency_code = "USD".into();
    let err = ana
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(usd),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["currency_code".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_gate(&err, "currency_locked", None);
    assert_eq!(get(&mut ana, &o.name).await, o);
}

#[tokio::test]
async fn control_characters_in_filters_and_forged_page_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let mut max = app.manager();
    create(&mut app.rep("ana"), "Deal").await;
    for request in [
        pb::ListOpportunitiesRequest {
            owner: "a\0b".into(),
            ..Default::default()
        },
        pb::ListOpportunitiesRequest {
            account_id: "acme\n".into(),
            ..Default::default()
        },
    ] {
        let err = max.list_opportunities(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    }
    // A token made by someone who knows the format but not the service's key.
    let forged = closeloop_kit::paging::PageTokens::with_key([0; 32]).encode(
        &"0".to_string(),
        closeloop_opportunities::store::ListFilter::default().fingerprint(),
    );
    let err = max
        .list_opportunities(pb::ListOpportunitiesRequest {
            page_token: forged,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["page_token"]);
    let err = max
        .get_forecast(pb::GetForecastRequest {
            owners: vec!["ana".into(), "b\0b".into()],
            period: Some(closeloop_proto::common::v1::DateRange {
                start_date: day(2026, 1, 1),
                end_date: day(2026, 12, 31),
            }),
            currency_code: "EUR".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["owners[1]"]);
}

#[tokio::test]
async fn every_one_character_change_of_a_page_token_is_refused() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    for title in ["First", "Second"] {
        create(&mut ana, title).await;
    }
    let first = ana
        .list_opportunities(pb::ListOpportunitiesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut tried = 0;
    for i in 0..token.len() {
        for c in alphabet.chars().filter(|c| !token[i..].starts_with(*c)) {
            let mut changed = token.clone();
            changed.replace_range(i..i + 1, &c.to_string());
            let err = ana
                .list_opportunities(pb::ListOpportunitiesRequest {
                    page_size: 1,
                    page_token: changed,
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_invalid(&err, &["page_token"]);
            tried += 1;
        }
    }
    assert_eq!(tried, token.len() * 63);
    // The token itself still reads the second page.
    let second = ana
        .list_opportunities(pb::ListOpportunitiesRequest {
            page_size: 1,
            page_token: token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.opportunities[0].title, "Second");
}

/// An update_mask of a hundred thousand unknown paths (about 3 MB) answers one short violation,
/// not one per path repeating the updatable fields: the error cannot amplify the request.
#[tokio::test]
async fn a_flood_of_unknown_update_mask_paths_answers_one_bounded_error() {
    use tonic_types::StatusExt;
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Masked").await;
    let paths = (0..100_000)
        .map(|i| format!("no_such_field_{i:010}"))
        .collect();
    let err = ana
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(o.clone()),
            update_mask: Some(prost_types::FieldMask { paths }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["update_mask"]);
    assert_eq!(
        err.get_details_bad_request()
            .unwrap()
            .field_violations
            .len(),
        1
    );
    assert!(
        err.details().len() < 2_000,
        "{} bytes of details",
        err.details().len()
    );
    // A few unknown paths are each named once; the updatable fields are listed once.
    let err = ana
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(o.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["nope".into(), "nada".into(), "title".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let violations = err.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations.len(), 2);
    assert!(violations[0].description.contains("updatable fields"));
    assert!(!violations[1].description.contains("updatable fields"));
    assert_eq!(get(&mut ana, &o.name).await, o, "nothing changed");
}

/// A deal moved back and forth keeps a bounded history: past the bound, a move between open
/// stages is refused naming the gate, and the close still fits.
#[tokio::test]
async fn stage_history_is_bounded_over_the_api() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Ping-pong").await;
    let limit = closeloop_opportunities::domain::opportunity::MAX_STAGE_CHANGES;
    let mut moves = 0;
    let refused = loop {
        let to = if moves % 2 == 0 {
            pb::Stage::Qualification
        } else {
            pb::Stage::Prospecting
        };
        match move_to(&mut ana, &o.name, to).await {
            Ok(_) => moves += 1,
            Err(e) => break e,
        }
        assert!(moves < limit, "no bound was met");
    };
    assert_gate(&refused, "history_limit", None);
    assert_eq!(moves, limit - 1);
    let closed = ana
        .close_opportunity(pb::CloseOpportunityRequest {
            name: o.name.clone(),
            outcome: pb::Outcome::Lost as i32,
            loss_reason: pb::LossReason::Timing as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.stage_history.len(), limit);
}
