//! Spans reach a real OTLP/gRPC receiver with the service's name, and a caller's W3C trace
//! context continues into them (checked on the toy service: the host does this for every
//! service). One test per binary: telemetry is process-wide.

use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::settings::{LogFormat, TelemetrySettings};
use closeloop_kit::testing::toy::{self, TOY, text};
use closeloop_kit::testing::{TestService, token};
use closeloop_proto::codec::ApiCodec;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::sync::mpsc;

/// A real OTLP trace receiver that hands every export to the test.
struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_trace_continues_into_exported_server_spans() {
    let (tx, mut exports) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let telemetry = closeloop_kit::telemetry::init(
        &TOY.service_name(),
        &TelemetrySettings {
            otlp_endpoint: format!("http://{receiver_addr}"),
            log_format: LogFormat::Json,
            log_filter: "info".into(),
            metrics_interval_ms: 60_000,
        },
    )
    .unwrap();
    assert!(telemetry.exporting());

    let service = TestService::spawn(&TOY).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut grpc = tonic::client::Grpc::new(service.channel.clone());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(text("traced"));
    let metadata = request.metadata_mut();
    metadata.insert(
        "authorization",
        format!("Bearer {}", token("ana", &[Role::SalesRep]))
            .parse()
            .unwrap(),
    );
    metadata.insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    grpc.unary(
        request,
        toy::path("Echo"),
        ApiCodec::<prost_types::Value, prost_types::Value>::default(),
    )
    .await
    .unwrap();

    service.stop().await;
    telemetry.shutdown().await;

    let mut found = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while found.is_none() && tokio::time::Instant::now() < deadline {
        let Ok(Some(export)) = tokio::time::timeout(Duration::from_secs(1), exports.recv()).await
        else {
            continue;
        };
        for resource_spans in export.resource_spans {
            let service_name = resource_spans
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                });
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    if span.name == "closeloop.toy.v1.Toy/Echo" {
                        found = Some((service_name.clone(), hex(&span.trace_id), span.kind));
                    }
                }
            }
        }
    }
    let (service_name, exported_trace, kind) = found.expect("the server span was exported");
    assert_eq!(service_name.as_deref(), Some("closeloop-toy"));
    assert_eq!(exported_trace, trace_id, "the caller's trace continues");
    assert_eq!(kind, 2, "a SERVER span");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
