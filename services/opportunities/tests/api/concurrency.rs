//! Many calls at once: creations committed together and reads answered together must each get
//! their own, correct answer.

use std::collections::HashSet;

use closeloop_proto::opportunities::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn concurrent_creations_each_get_their_own_answer_and_repeats_apply_once() {
    let app = TestApp::spawn().await;
    let ana = app.rep("ana");
    let mut calls = Vec::new();
    for i in 0..48 {
        let mut c = ana.clone();
        // Every request id is sent three times; one of the three carries another body.
        let request_id = format!("req-{}", i / 3);
        let title = if i % 3 == 2 {
            format!("Other {}", i / 3)
        } else {
            format!("Deal {}", i / 3)
        };
        calls.push(tokio::spawn(async move {
            let r = c
                .create_opportunity(pb::CreateOpportunityRequest {
                    opportunity: Some(new_opportunity(&title)),
                    request_id,
                    ..Default::default()
                })
                .await;
            (i, r.map(|r| r.into_inner()))
        }));
    }
    let mut by_request: std::collections::HashMap<
        usize,
        Vec<Result<pb::Opportunity, tonic::Status>>,
    > = Default::default();
    for call in calls {
        let (i, result) = call.await.unwrap();
        by_request.entry(i / 3).or_default().push(result);
    }
    let mut names = HashSet::new();
    for (request, results) in by_request {
        let created: Vec<&pb::Opportunity> =
            results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let refused: Vec<&tonic::Status> =
            results.iter().filter_map(|r| r.as_ref().err()).collect();
        // Whichever body came first was applied; its twin repeats it; the other body is refused.
        assert!(!created.is_empty(), "request {request}");
        assert!(
            created.windows(2).all(|w| w[0] == w[1]),
            "request {request}: {created:?}"
        );
        assert!(
            refused.iter().all(|s| s.code() == Code::InvalidArgument),
            "{refused:?}"
        );
        assert_eq!(created.len() + refused.len(), 3);
        names.insert(created[0].name.clone());
    }
    assert_eq!(names.len(), 16);
    let listed = app
        .manager()
        .list_opportunities(pb::ListOpportunitiesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.opportunities.len(),
        16,
        "each request applied exactly once"
    );
}

#[tokio::test]
async fn concurrent_reads_of_the_same_and_missing_opportunities_each_get_their_answer() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let a = create(&mut ana, "A").await;
    let b = create(&mut ana, "B").await;
    let missing = "opportunities/0190aaaa-0000-7000-8000-000000000000".to_string();
    let mut calls = Vec::new();
    for i in 0..60 {
        let mut c = ana.clone();
        let name = [&a.name, &b.name, &missing][i % 3].clone();
        calls.push(tokio::spawn(async move {
            (
                name.clone(),
                c.get_opportunity(pb::GetOpportunityRequest { name }).await,
            )
        }));
    }
    for call in calls {
        let (name, result) = call.await.unwrap();
        if name == missing {
            assert_eq!(result.unwrap_err().code(), Code::NotFound);
        } else {
            assert_eq!(result.unwrap().into_inner().name, name);
        }
    }
}
