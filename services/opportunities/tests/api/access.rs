//! Authentication and authorization: who may call, and who may touch what.

use closeloop_kit::Role;
use closeloop_proto::opportunities::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Guarded").await;

    let mut anonymous = app.anonymous();
    let err = anonymous
        .get_opportunity(pb::GetOpportunityRequest {
            name: o.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = anonymous
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(new_opportunity("x")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    for header in ["Bearer not-a-jwt", "Basic YWxpY2U6cw==", "Bearer "] {
        let err = app
            .with_authorization(header)
            .get_opportunity(pb::GetOpportunityRequest {
                name: o.name.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{header}");
    }
    // A token signed with another secret.
    let foreign = closeloop_kit::auth::TokenIssuer::new(&closeloop_kit::auth::AuthSettings {
        hs256_secret: Some("another-secret-another-secret-xx".into()),
        ..Default::default()
    })
    .unwrap()
    .mint(
        "ana",
        &[Role::SalesManager],
        std::time::Duration::from_secs(60),
    );
    let err = app
        .with_authorization(&format!("Bearer {foreign}"))
        .get_opportunity(pb::GetOpportunityRequest {
            name: o.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let listed = ana
        .list_opportunities(pb::ListOpportunitiesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.opportunities.len(),
        1,
        "nothing was created by refused calls"
    );
}

#[tokio::test]
async fn a_rep_touches_only_its_own_opportunities() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let mut bob = app.rep("bob");
    let o = create(&mut ana, "Ana's deal").await;

    // Another rep's opportunity is answered exactly like one that does not exist, so ids
    // cannot be probed: NOT_FOUND naming what was asked for, for reads and changes alike.
    let unknown = "opportunities/0190aaaa-0000-7000-8000-000000000000";
    for name in [o.name.as_str(), unknown] {
        let err = bob
            .get_opportunity(pb::GetOpportunityRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_not_found(&err, "closeloop.opportunities.v1.Opportunity", name);
        let err = move_to(&mut bob, name, pb::Stage::Qualification)
            .await
            .unwrap_err();
        assert_not_found(&err, "closeloop.opportunities.v1.Opportunity", name);
        let err = bob
            .add_line_item(pb::AddLineItemRequest {
                name: name.into(),
                line_item: Some(line_item(100, 100, 10, 1)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_not_found(&err, "closeloop.opportunities.v1.Opportunity", name);
    }
    let mut stolen = o.clone();
    stolen.owner = "bob".into();
    let err = bob
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(stolen.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_not_found(&err, "closeloop.opportunities.v1.Opportunity", &o.name);
    // Ana may not give her deal away either; only a manager reassigns.
    let err = ana
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(stolen.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Nor create one for somebody else.
    let mut for_bob = new_opportunity("For Bob");
    for_bob.owner = "bob".into();
    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(for_bob.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        get(&mut ana, &o.name).await,
        o,
        "refused calls changed nothing"
    );

    // Bob's listing shows only his; asking for Ana's is refused.
    let mine = bob
        .list_opportunities(pb::ListOpportunitiesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(mine.opportunities.is_empty());
    let err = bob
        .list_opportunities(pb::ListOpportunitiesRequest {
            owner: "ana".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // A manager sees and changes everything, including the owner.
    let mut max = app.manager();
    let moved = max
        .update_opportunity(pb::UpdateOpportunityRequest {
            opportunity: Some(stolen),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.owner, "bob");
    let created = max
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(for_bob),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.owner, "bob");
    assert_eq!(get(&mut bob, &o.name).await.owner, "bob");
}

#[tokio::test]
async fn other_roles_read_but_do_not_change() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let o = create(&mut ana, "Visible").await;
    for role in [Role::Service, Role::AccountManager, Role::Finance] {
        let mut c = app.client("someone", &[role]);
        assert_eq!(get(&mut c, &o.name).await.name, o.name, "{role}");
        let err = move_to(&mut c, &o.name, pb::Stage::Qualification)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}");
    }
    let mut ops = app.client("olga", &[Role::Operations]);
    let err = ops
        .get_opportunity(pb::GetOpportunityRequest {
            name: o.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A service creates for a named owner (e.g. an expansion opened by account management).
    let mut svc = app.client("closeloop-accounts", &[Role::Service]);
    let mut expansion = new_opportunity("Upsell");
    expansion.owner = "ana".into();
    expansion.kind = pb::OpportunityKind::Expansion as i32;
    expansion.source = pb::OpportunitySource::AccountExpansion as i32;
    let created = svc
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(expansion),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.owner, "ana");
}
