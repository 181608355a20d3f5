//! Listing: keyset pages, filters, and page tokens bound to their filters.

use std::collections::HashSet;

use closeloop_proto::opportunities::v1 as pb;

use crate::helpers::*;

#[tokio::test]
async fn pages_cover_everything_once_in_creation_order() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(create(&mut ana, &format!("Deal {i}")).await.name);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = ana
            .list_opportunities(pb::ListOpportunitiesRequest {
                page_size: 3,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.opportunities.len() <= 3);
        seen.extend(page.opportunities.into_iter().map(|o| o.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
}

#[tokio::test]
async fn filters_narrow_the_listing_and_tokens_are_bound_to_them() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let mut bob = app.rep("bob");
    let mut max = app.manager();
    let a1 = create(&mut ana, "A1").await;
    let a2 = in_proposal(&mut ana, "A2").await;
    let b1 = create(&mut bob, "B1").await;
    let mut other_account = new_opportunity("B2");
    other_account.account.as_mut().unwrap().account_id = "globex".into();
    other_account.kind = pb::OpportunityKind::Expansion as i32;
    let b2 = bob
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(other_account),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    bob.close_opportunity(pb::CloseOpportunityRequest {
        name: b2.name.clone(),
        outcome: pb::Outcome::Lost as i32,
        loss_reason: pb::LossReason::Timing as i32,
        ..Default::default()
    })
    .await
    .unwrap();

    let names = |r: pb::ListOpportunitiesResponse| {
        r.opportunities
            .into_iter()
            .map(|o| o.name)
            .collect::<Vec<_>>()
    };
    let list = |request: pb::ListOpportunitiesRequest| {
        let mut max = max.clone();
        async move { names(max.list_opportunities(request).await.unwrap().into_inner()) }
    };
    assert_eq!(
        list(pb::ListOpportunitiesRequest::default()).await,
        [
            a1.name.clone(),
            a2.name.clone(),
            b1.name.clone(),
            b2.name.clone()
        ]
    );
    assert_eq!(
        list(pb::ListOpportunitiesRequest {
            owner: "bob".into(),
            ..Default::default()
        })
        .await,
        [b1.name.clone(), b2.name.clone()]
    );
    assert_eq!(
        list(pb::ListOpportunitiesRequest {
            account_id: "globex".into(),
            ..Default::default()
        })
        .await,
        vec![b2.name.clone()]
    );
    assert_eq!(
        list(pb::ListOpportunitiesRequest {
            stage: pb::Stage::Proposal as i32,
            ..Default::default()
        })
        .await,
        vec![a2.name.clone()]
    );
    assert_eq!(
        list(pb::ListOpportunitiesRequest {
            kind: pb::OpportunityKind::Expansion as i32,
            ..Default::default()
        })
        .await,
        vec![b2.name.clone()]
    );
    assert_eq!(
        list(pb::ListOpportunitiesRequest {
            open_only: true,
            ..Default::default()
        })
        .await,
        [a1.name.clone(), a2.name.clone(), b1.name.clone()]
    );
    // A rep's listing is its own, with or without naming itself.
    assert_eq!(
        names(
            ana.list_opportunities(pb::ListOpportunitiesRequest::default())
                .await
                .unwrap()
                .into_inner()
        ),
        [a1.name.clone(), a2.name.clone()]
    );

    // A token issued for one filter is refused with another.
    let first = max
        .list_opportunities(pb::ListOpportunitiesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = max
        .list_opportunities(pb::ListOpportunitiesRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            owner: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["page_token"]);
    let err = max
        .list_opportunities(pb::ListOpportunitiesRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["page_token"]);
    let err = max
        .list_opportunities(pb::ListOpportunitiesRequest {
            page_size: -1,
            stage: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["page_size", "stage"]);
}

/// Field limits count bytes, so characters of four bytes cannot quadruple what an opportunity
/// holds; a page stops early, with a token, before its answer would pass the message limit, so
/// every opportunity stays reachable.
#[tokio::test]
async fn pages_of_large_opportunities_fit_the_message_limit_and_reach_them_all() {
    let app = TestApp::spawn_with(|s| s.common.server.max_message_bytes = 128 * 1024).await;
    let mut ana = app.rep("ana");
    let clef = "\u{1D11E}"; // 4 bytes of UTF-8
    let mut too_long = new_opportunity("x");
    too_long.title = clef.repeat(51);
    let err = ana
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(too_long),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["opportunity.title"]);

    let mut created = Vec::new();
    for i in 0..6 {
        let mut big = new_opportunity(&format!("Big {i}"));
        big.description = clef.repeat(1250);
        big.objectives = (0..50)
            .map(|_| pb::ClientObjective {
                description: clef.repeat(125),
                success_measure: clef.repeat(125),
            })
            .collect();
        let o = ana
            .create_opportunity(pb::CreateOpportunityRequest {
                opportunity: Some(big),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        created.push(o.name);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = ana
            .list_opportunities(pb::ListOpportunitiesRequest {
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(!page.opportunities.is_empty());
        assert!(prost::Message::encoded_len(&page) <= 128 * 1024);
        seen.extend(page.opportunities.into_iter().map(|o| o.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, created, "every opportunity, in order, once");
    assert!(pages > 1, "the default page did not fit one answer");
}
