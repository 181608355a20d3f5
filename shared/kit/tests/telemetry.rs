//! Spans reach a real OTLP/gRPC receiver with the service's name, and a caller's W3C trace
//! context continues into them (checked on the toy service: the host does this for every
//! service). One test per binary: telemetry is process-wide.

use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::settings::{LogFormat, TelemetrySettings};
use closeloop_kit::testing::otlp::{Collector, SpanKind};
use closeloop_kit::testing::toy::{self, TOY, text};
use closeloop_kit::testing::{TestService, token};
use closeloop_proto::codec::ApiCodec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_trace_continues_into_exported_server_spans() {
    let collector = Collector::start().await;

    let telemetry = closeloop_kit::telemetry::init(
        &TOY.service_name(),
        &TelemetrySettings {
            otlp_endpoint: collector.endpoint().to_owned(),
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

    let echo = |c: &Collector| {
        c.spans()
            .into_iter()
            .find(|s| s.name == "closeloop.toy.v1.Toy/Echo")
    };
    collector
        .until(Duration::from_secs(10), |c| echo(c).is_some())
        .await;
    let span = echo(&collector).expect("the server span was exported");
    assert_eq!(span.service_name.as_deref(), Some("closeloop-toy"));
    assert_eq!(span.trace_id, trace_id, "the caller's trace continues");
    assert_eq!(
        span.parent_span_id, "00f067aa0ba902b7",
        "the caller's span is its parent"
    );
    assert_eq!(span.kind, SpanKind::Server);
}
