//! A real OTLP/gRPC receiver for tests, of traces and metrics: what a collector receives from a
//! process that exports (`telemetry.otlp_endpoint`), span by span and data point by data point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Gauge, Sum, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::sync::Notify;

/// One exported span, as a test reads it. Ids are lowercase hex.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// The `service.name` of the resource that exported it.
    pub service_name: Option<String>,
    /// Its trace id, 32 hex digits.
    pub trace_id: String,
    /// Its span id, 16 hex digits.
    pub span_id: String,
    /// Its parent's span id, empty for a root span.
    pub parent_span_id: String,
    /// Its name, e.g. `closeloop.toy.v1.Toy/Echo` for a server span.
    pub name: String,
    /// Its kind (SERVER, CLIENT, INTERNAL…).
    pub kind: SpanKind,
}

/// One exported data point of a metric.
#[derive(Debug, Clone)]
pub struct MetricPoint {
    /// The metric's unit, e.g. `ms`.
    pub unit: String,
    /// The point's attributes, string and integer values as text.
    pub attributes: HashMap<String, String>,
    /// A histogram's count, a sum's or a gauge's value.
    pub value: f64,
}

impl MetricPoint {
    /// The attribute `key`, if the point has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// A data point with the names it was exported under.
#[derive(Debug, Clone)]
struct NamedPoint {
    service_name: Option<String>,
    metric: String,
    point: MetricPoint,
}

/// Everything received so far, in arrival order.
#[derive(Default)]
struct Received {
    spans: Mutex<Vec<ExportedSpan>>,
    points: Mutex<Vec<NamedPoint>>,
    arrived: Notify,
}

/// A trace and metrics receiver listening on loopback; it keeps everything it receives.
pub struct Collector {
    endpoint: String,
    received: Arc<Received>,
}

impl Received {
    /// Adds what an export brought to `into`, and wakes whoever waits for it.
    fn keep<T>(&self, into: &Mutex<Vec<T>>, items: Vec<T>) {
        into.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(items);
        self.arrived.notify_waiters();
    }
}

#[derive(Clone)]
struct Receiver(Arc<Received>);

fn attributes(kv: &[KeyValue]) -> HashMap<String, String> {
    kv.iter()
        .filter_map(|a| {
            let value = match a.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                _ => return None,
            };
            Some((a.key.clone(), value))
        })
        .collect()
}

fn service_name(resource: Option<&Resource>) -> Option<String> {
    resource.and_then(|r| attributes(&r.attributes).remove("service.name"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service_name = service_name(resource_spans.resource.as_ref());
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(ExportedSpan {
                    service_name: service_name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    name: span.name,
                });
            }
        }
        self.0.keep(&self.0.spans, spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let number = |v: &Option<number_data_point::Value>| match v {
            Some(number_data_point::Value::AsDouble(d)) => *d,
            Some(number_data_point::Value::AsInt(i)) => *i as f64,
            None => f64::NAN,
        };
        let mut points = Vec::new();
        for rm in request.into_inner().resource_metrics {
            let service_name = service_name(rm.resource.as_ref());
            for m in rm.scope_metrics.into_iter().flat_map(|s| s.metrics) {
                let values: Vec<(&[KeyValue], f64)> = match &m.data {
                    Some(Data::Histogram(h)) => h
                        .data_points
                        .iter()
                        .map(|p| (p.attributes.as_slice(), p.count as f64))
                        .collect(),
                    Some(
                        Data::Sum(Sum { data_points, .. }) | Data::Gauge(Gauge { data_points, .. }),
                    ) => data_points
                        .iter()
                        .map(|p| (p.attributes.as_slice(), number(&p.value)))
                        .collect(),
                    _ => Vec::new(),
                };
                points.extend(values.into_iter().map(|(kv, value)| NamedPoint {
                    service_name: service_name.clone(),
                    metric: m.name.clone(),
                    point: MetricPoint {
                        unit: m.unit.clone(),
                        attributes: attributes(kv),
                        value,
                    },
                }));
            }
        }
        self.0.keep(&self.0.points, points);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Collector {
    /// Starts a receiver on 127.0.0.1 and a free port; it runs until the runtime ends.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Collector {
        let received = Arc::new(Received::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the collector");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let receiver = Receiver(Arc::clone(&received));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(receiver.clone()))
                .add_service(MetricsServiceServer::new(receiver))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        Collector { endpoint, received }
    }

    /// Where to export: the value for `telemetry.otlp_endpoint`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.received
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The data points of the metric `metric` exported under the `service.name` `service`, in
    /// arrival order (a cumulative metric's last point is its latest value).
    pub fn points(&self, service: &str, metric: &str) -> Vec<MetricPoint> {
        self.received
            .points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|p| p.metric == metric && p.service_name.as_deref() == Some(service))
            .map(|p| p.point.clone())
            .collect()
    }

    /// Waits until `enough` holds for what was received, or `timeout` passes (exporters send in
    /// batches, every few seconds); whether it held.
    pub async fn until(
        &self,
        timeout: Duration,
        mut enough: impl FnMut(&Collector) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so that an export in between is not missed.
            let arrived = self.received.arrived.notified();
            if enough(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return enough(self);
            }
        }
    }
}
