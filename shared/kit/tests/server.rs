//! What the host gives every service, checked once on a real server running the toy service
//! (SQLite by default, PostgreSQL when `CLOSELOOP_TEST_DATABASE_URL` is set): health and both
//! reflection protocols without a token, token checks, load shedding, deadlines, a malformed
//! message, and a graceful stop.

use std::time::{Duration, Instant};

use closeloop_kit::Role;
use closeloop_kit::auth::{AuthSettings, TokenIssuer};
use closeloop_kit::client::RawCodec;
use closeloop_kit::testing::toy::{self, TOY, TOY_SERVICE, text};
use closeloop_kit::testing::{TestService, token};
use tonic::Code;
use tonic::codegen::tokio_stream::{self, StreamExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn sleep(ms: u64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// The services a reflection protocol (`v1` or `v1alpha`: the same messages in two packages)
/// lists, sorted.
macro_rules! reflection {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = ServerReflectionClient::new($channel)
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.next().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("unexpected answer {answer:?}");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        names
    }};
}

/// A token signed with the test secret carrying exactly `claims`, as another issuer makes them.
fn signed(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(closeloop_kit::testing::TEST_SECRET.as_bytes()),
    )
    .unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn health_and_both_reflection_protocols_answer_without_a_token() {
    let app = TestService::spawn(&TOY).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", TOY_SERVICE, closeloop_kit::server::LIVENESS] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "closeloop.contracts.v1.ContractService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "a service not served is unknown"
    );

    let expected = [TOY_SERVICE, "grpc.health.v1.Health"];
    assert_eq!(reflection!(v1, app.channel.clone()), expected, "v1");
    assert_eq!(
        reflection!(v1alpha, app.channel.clone()),
        expected,
        "v1alpha"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_calls_with_a_valid_token_reach_the_service() {
    let app = TestService::spawn(&TOY).await;
    let ana = token("ana", &[Role::SalesRep]);
    let who: prost_types::Value = toy::call(&app.channel, Some(&ana), "Whoami", text(""), None)
        .await
        .unwrap();
    assert_eq!(who, text("ana"));
    // An external issuer's token naming several audiences (RFC 7519 allows an array) is
    // accepted when ours is one of them.
    let many_audiences = signed(serde_json::json!({
        "sub": "bea", "iss": "closeloop", "aud": ["billing", "closeloop"],
        "exp": unix_now() + 600, "roles": ["finance"],
    }));
    let who: prost_types::Value = toy::call(
        &app.channel,
        Some(&many_audiences),
        "Whoami",
        text(""),
        None,
    )
    .await
    .unwrap();
    assert_eq!(who, text("bea"));

    let foreign = TokenIssuer::new(&AuthSettings {
        hs256_secret: Some("another-secret-another-secret-xx".into()),
        ..AuthSettings::default()
    })
    .unwrap()
    .mint("ana", &[Role::SalesManager], Duration::from_secs(60));
    // Valid from tomorrow (RFC 7519 `nbf`), beyond the 30 s leeway.
    let not_yet = signed(serde_json::json!({
        "sub": "ana", "iss": "closeloop", "aud": "closeloop",
        "exp": unix_now() + 2 * 86_400, "nbf": unix_now() + 86_400, "roles": ["sales_rep"],
    }));
    for bearer in [
        None,
        Some("not-a-jwt"),
        Some(""),
        Some(foreign.as_str()),
        Some(not_yet.as_str()),
    ] {
        let err =
            toy::call::<_, prost_types::Value>(&app.channel, bearer, "Whoami", text(""), None)
                .await
                .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{bearer:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_shed_and_health_still_answers() {
    let app = TestService::spawn_with(&TOY, |s| s.common.server.concurrency_limit = 1).await;
    let ana = token("ana", &[Role::SalesRep]);
    let held = {
        let channel = app.channel.clone();
        let ana = ana.clone();
        tokio::spawn(async move {
            toy::call::<_, prost_types::Duration>(&channel, Some(&ana), "Sleep", sleep(500), None)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err =
        toy::call::<_, prost_types::Duration>(&app.channel, Some(&ana), "Sleep", sleep(0), None)
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let status = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    held.await.unwrap().unwrap();
    // The slot is free again.
    toy::call::<_, prost_types::Duration>(&app.channel, Some(&ana), "Sleep", sleep(0), None)
        .await
        .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn no_call_outlives_the_server_limit() {
    let app = TestService::spawn_with(&TOY, |s| s.common.server.request_timeout_ms = 200).await;
    let ana = token("ana", &[Role::SalesRep]);
    let started = Instant::now();
    let err = toy::call::<_, prost_types::Duration>(
        &app.channel,
        Some(&ana),
        "Sleep",
        sleep(5_000),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // (A client deadline shorter than the limit wins: the deadline layer's own test.)
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_message_is_invalid_argument() {
    let app = TestService::spawn(&TOY).await;
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    // Field 3 of a Value (`string_value`) holding bytes that are not UTF-8.
    let mut request = tonic::Request::new(vec![0x1A, 0x02, 0xFF, 0xFE]);
    let bearer = format!("Bearer {}", token("ana", &[Role::SalesRep]));
    request
        .metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    let err = grpc
        .unary(request, toy::path("Echo"), RawCodec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_stop_lets_calls_in_flight_finish_then_closes_the_listener() {
    let app = TestService::spawn(&TOY).await;
    let ana = token("ana", &[Role::SalesRep]);
    let in_flight = {
        let channel = app.channel.clone();
        tokio::spawn(async move {
            toy::call::<_, prost_types::Duration>(&channel, Some(&ana), "Sleep", sleep(300), None)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let addr = app.addr;
    app.stop().await;
    assert_eq!(in_flight.await.unwrap().unwrap(), sleep(300));
    let reconnect = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    assert!(reconnect.is_err(), "the listener is closed after the stop");
}

#[tokio::test]
async fn background_tasks_run_beside_the_server_and_finish_before_it_stops() {
    let service = TestService::spawn(&TOY).await;
    let marked = |db: closeloop_kit::db::Db, name: &'static str| async move {
        sqlx::query_as::<_, (String,)>("SELECT value FROM kit_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(db.reads())
            .await
            .unwrap()
            .is_some()
    };
    let mut ran = false;
    for _ in 0..100 {
        ran = marked(service.db.clone(), "toy-background-ran").await;
        if ran {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ran, "the task started with the server");
    assert!(!marked(service.db.clone(), "toy-background-stopped").await);
    // Stopping waits for the task to see the stop signal and finish its last write.
    let service = service.restart(|_| {}).await;
    assert!(marked(service.db.clone(), "toy-background-stopped").await);
    service.stop().await;
}
