//! What every closeloop server does besides its API: health, reflection, graceful shutdown.

use closeloop_proto::opportunities::v1 as pb;
use tonic::codegen::tokio_stream::{self, StreamExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::helpers::*;

#[tokio::test]
async fn health_and_reflection_answer_without_a_token() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "closeloop.opportunities.v1.OpportunityService"] {
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
        tonic::Code::NotFound,
        "services this process does not serve are unknown"
    );

    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "closeloop.opportunities.v1.OpportunityService",
            "grpc.health.v1.Health"
        ]
    );
}

#[tokio::test]
async fn shutdown_drains_and_stops_serving() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    create(&mut ana, "Before shutdown").await;
    let addr = app.addr;
    app.stop().await;
    let err = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    assert!(err.is_err(), "the listener is closed after shutdown");
    let _ = pb::Stage::Prospecting;
}

#[tokio::test]
async fn load_beyond_the_concurrency_limit_is_shed_with_resource_exhausted() {
    let app = TestApp::spawn_with(|s| s.common.server.concurrency_limit = 1).await;
    let ana = app.rep("ana");
    let mut calls = Vec::new();
    for _ in 0..64 {
        let mut c = ana.clone();
        calls.push(tokio::spawn(async move {
            c.list_opportunities(pb::ListOpportunitiesRequest::default())
                .await
                .map(|_| ())
        }));
    }
    let mut shed = 0;
    let mut ok = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(()) => ok += 1,
            Err(s) if s.code() == tonic::Code::ResourceExhausted => shed += 1,
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
    assert!(ok >= 1, "some calls are served");
    assert!(
        shed >= 1,
        "calls beyond the limit are shed, not queued ({ok} served)"
    );
    // Health still answers while saturated: it is exempt from admission.
    let mut health = HealthClient::new(app.channel.clone());
    health.check(HealthCheckRequest::default()).await.unwrap();
}

/// Sends raw bytes as a request message.
#[derive(Default)]
struct Raw;

struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        buf.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        let mut out = vec![0; buf.remaining()];
        buf.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[tokio::test]
async fn a_malformed_message_is_invalid_argument() {
    let app = TestApp::spawn().await;
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    // Field 1 (`name`, a string) holding bytes that are not UTF-8.
    let mut request = tonic::Request::new(vec![0x0A, 0x02, 0xFF, 0xFE]);
    let token = closeloop_kit::testing::token("ana", &[closeloop_kit::Role::SalesRep]);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let path = http::uri::PathAndQuery::from_static(
        "/closeloop.opportunities.v1.OpportunityService/GetOpportunity",
    );
    let err = grpc.unary(request, path, Raw).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
}
