//! The StartHandoff call a placed order owes, as the order shows it: PENDING while the handoff
//! service is not configured, REFUSED with the callee's answer when it refuses for good, and
//! PENDING again once an operator retries it.

use std::time::Duration;

use closeloop_kit::outbox;
use closeloop_kit::testing::TestService;
use closeloop_proto::common::v1::OwedCallState;
use closeloop_proto::contracts::v1 as pb;

#[path = "api/helpers.rs"]
mod helpers;

use helpers::TestApp;

async fn order(app: &TestApp, name: &str) -> pb::Order {
    app.manager()
        .get_order(pb::GetOrderRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_refused_start_handoff_shows_on_the_order_until_retried() {
    let app = TestApp::spawn().await;
    let placed = app.active("opp-handoff", "ana").await;
    let name = placed.order.unwrap().name;
    let call = order(&app, &name).await.start_handoff_call.unwrap();
    assert_eq!(
        call.state,
        OwedCallState::Pending as i32,
        "no handoff peer yet"
    );

    // The peer configured is a service that does not serve HandoffService: it answers
    // UNIMPLEMENTED, which no retry changes.
    let wrong_peer = TestService::spawn(&closeloop_opportunities::SERVICE).await;
    let endpoint = format!("http://{}", wrong_peer.addr);
    let app = TestApp(app.0.restart(|s| s.set_peer("handoff", endpoint)).await);
    let mut refused = None;
    for _ in 0..200 {
        let call = order(&app, &name).await.start_handoff_call.unwrap();
        if call.state == OwedCallState::Refused as i32 {
            refused = Some(call);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = refused.expect("the call is parked as refused");
    assert_eq!(refused.refusal_code, "UNIMPLEMENTED");
    assert!(refused.state_change_time.is_some());
    let shown = order(&app, &name).await;
    assert!(shown.handoff_confirm_time.is_none());

    // An operator fixes the configuration and retries: the call is owed again.
    let app = TestApp(
        app.0
            .restart(|s| s.set_peer("handoff", String::new()))
            .await,
    );
    assert_eq!(
        outbox::retry(&app.db, Some(&refused.command_id))
            .await
            .unwrap(),
        1
    );
    let again = order(&app, &name).await.start_handoff_call.unwrap();
    assert_eq!(again.state, OwedCallState::Pending as i32);
    assert!(again.refusal_code.is_empty());
    wrong_peer.stop().await;
}
