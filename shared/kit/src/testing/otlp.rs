//! A real OTLP/gRPC trace receiver for tests: what a collector receives from a service that
//! exports spans (`telemetry.otlp_endpoint`), span by span.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::sync::mpsc;

/// One exported span, as a test reads it.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// The `service.name` of the resource that exported it.
    pub service_name: Option<String>,
    /// Its trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// Its name, e.g. `closeloop.toy.v1.Toy/Echo` for a server span.
    pub name: String,
    /// Its OTLP `SpanKind` (2 is SERVER).
    pub kind: i32,
}

/// A trace receiver listening on loopback.
pub struct Collector {
    endpoint: String,
    exports: mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
}

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

impl Collector {
    /// Starts a receiver on 127.0.0.1 and a free port; it runs until the runtime ends.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Collector {
        let (tx, exports) = mpsc::unbounded_channel();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the collector");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Receiver(tx)))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        Collector { endpoint, exports }
    }

    /// Where to export: the value for `telemetry.otlp_endpoint`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The spans received, from now until `enough` holds for them or `timeout` passes (exporters
    /// send in batches, every few seconds).
    pub async fn spans_until(
        &mut self,
        timeout: Duration,
        mut enough: impl FnMut(&[ExportedSpan]) -> bool,
    ) -> Vec<ExportedSpan> {
        let mut spans = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while !enough(&spans) {
            let Ok(Some(export)) = tokio::time::timeout_at(deadline, self.exports.recv()).await
            else {
                break;
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
                for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push(ExportedSpan {
                        service_name: service_name.clone(),
                        trace_id: span.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                        name: span.name,
                        kind: span.kind,
                    });
                }
            }
        }
        spans
    }
}
