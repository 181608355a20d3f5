//! Telemetry: `tracing` logs (human or JSON) and, when a collector endpoint is configured, spans
//! and metrics exported over OTLP/gRPC, each with the `service.name` of the service it belongs to.
//!
//! One process may host several services (`closeloop up` runs the four). Each service gets a
//! [`ServiceTelemetry`] from the host: its own tracer and meter providers, whose resource says
//! its `service.name`. The spans the host opens for a service (the server span of each call, the
//! delivery span of each outbox command) carry that service's tracer in their OpenTelemetry
//! context, and every span opened under them inherits it, so a span is exported with the name of
//! the service it was opened for: its handler's spans, its client calls, its relays' deliveries.
//! A span opened outside any service (none in the kit) goes to the process's own provider, named
//! by [`init`].
//!
//! W3C trace context travels in gRPC metadata: a server span continues its caller's trace, a
//! client span hands its own to the callee, and an outbox command carries the `traceparent` of
//! the change that wrote it, so one business flow is one trace across all services.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::metrics::{Histogram, Meter, MeterProvider as _};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanBuilder, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, TelemetrySettings};

/// Telemetry set-up failures.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("telemetry.log_filter: {0}")]
    Filter(String),
    /// The OTLP exporter could not be built.
    #[error("telemetry.otlp_endpoint: {0}")]
    Exporter(String),
    /// A global subscriber is already installed.
    #[error("telemetry already initialised")]
    AlreadyInitialised,
}

/// Where spans and metrics go: the collector endpoint, and the providers of each service seen so
/// far (created on first use, flushed together at shutdown).
struct Pipeline {
    endpoint: String,
    metrics_interval: Duration,
    services: Mutex<HashMap<String, Providers>>,
}

/// One service's providers: their resource carries its `service.name`.
#[derive(Clone)]
struct Providers {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
}

/// The process's pipeline, once [`init`] installed one that exports.
static PIPELINE: OnceLock<Arc<Pipeline>> = OnceLock::new();

impl Pipeline {
    fn providers(&self, service_name: &str) -> Result<Providers, TelemetryError> {
        let mut services = self
            .services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = services.get(service_name) {
            return Ok(p.clone());
        }
        let resource = Resource::builder()
            .with_service_name(service_name.to_owned())
            .build();
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(self.endpoint.clone())
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(self.endpoint.clone())
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let providers = Providers {
            traces: SdkTracerProvider::builder()
                .with_batch_exporter(spans)
                .with_resource(resource.clone())
                .build(),
            metrics: SdkMeterProvider::builder()
                .with_reader(
                    PeriodicReader::builder(metrics)
                        .with_interval(self.metrics_interval)
                        .build(),
                )
                .with_resource(resource)
                .build(),
        };
        services.insert(service_name.to_owned(), providers.clone());
        Ok(providers)
    }
}

/// Keeps the pipeline alive; [`Telemetry::shutdown`] flushes what is buffered.
#[must_use = "dropping the guard without shutdown may lose buffered spans"]
pub struct Telemetry {
    pipeline: Option<Arc<Pipeline>>,
}

impl Telemetry {
    /// Flushes buffered spans and metrics of every service and stops the exporters.
    pub async fn shutdown(self) {
        let Some(pipeline) = self.pipeline else {
            return;
        };
        let providers: Vec<(String, Providers)> = pipeline
            .services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(name, p)| (name.clone(), p.clone()))
            .collect();
        // The SDK's shutdown blocks while the export threads drain; keep it off the runtime.
        let _ = tokio::task::spawn_blocking(move || {
            for (name, p) in providers {
                if let Err(e) = p.metrics.shutdown() {
                    eprintln!("telemetry: flushing the metrics of {name} failed: {e}");
                }
                if let Err(e) = p.traces.shutdown() {
                    eprintln!("telemetry: flushing the spans of {name} failed: {e}");
                }
            }
        })
        .await;
    }

    /// Whether spans and metrics are exported.
    pub fn exporting(&self) -> bool {
        self.pipeline.is_some()
    }
}

/// The tracer behind the `tracing` layer: a span starts in the provider of the service whose
/// tracer its OpenTelemetry context carries ([`ServiceTracer`], set by
/// [`ServiceTelemetry::adopt`] and inherited by children), else in the process's own.
struct ByService {
    process: SdkTracer,
}

/// The tracer of the service a span was opened for, in the span's OpenTelemetry context.
#[derive(Clone)]
struct ServiceTracer(SdkTracer);

impl opentelemetry::trace::Tracer for ByService {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        match parent_cx.get::<ServiceTracer>() {
            Some(ServiceTracer(tracer)) => tracer.build_with_context(builder, parent_cx),
            None => self.process.build_with_context(builder, parent_cx),
        }
    }
}

/// Installs the process-wide subscriber. `process_name` (e.g. `closeloop-opportunities`, or
/// `closeloop` for the whole suite) names what no service claims; each service's spans and
/// metrics carry its own name (see [`ServiceTelemetry::of`]). Must run inside the tokio runtime
/// (the OTLP exporters use it).
///
/// # Errors
/// When the filter or endpoint is malformed, or a subscriber is already installed.
pub fn init(process_name: &str, settings: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.is_empty() => EnvFilter::try_new(directive),
        _ => EnvFilter::try_new(&settings.log_filter),
    }
    .map_err(|e| TelemetryError::Filter(e.to_string()))?;

    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The filter is the logs': quieter logs must not silence the exported spans.
    let fmt = match settings.log_format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
    };

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let pipeline = if settings.otlp_endpoint.is_empty() {
        None
    } else {
        Some(Arc::new(Pipeline {
            endpoint: settings.otlp_endpoint.clone(),
            metrics_interval: Duration::from_millis(settings.metrics_interval_ms.max(1)),
            services: Mutex::default(),
        }))
    };
    let otel = match &pipeline {
        None => None,
        Some(pipeline) => {
            let process = pipeline.providers(process_name)?.traces.tracer("closeloop");
            // Spans (and the events in them) at INFO and above: every span the kit opens.
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(ByService { process })
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
                    .boxed(),
            )
        }
    };

    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)?;
    if let Some(pipeline) = &pipeline {
        let _ = PIPELINE.set(Arc::clone(pipeline));
    }
    Ok(Telemetry { pipeline })
}

/// One service's telemetry in this process: the tracer its spans start in and the meter its
/// metrics are recorded with, both under its `service.name`. Without an exporting pipeline
/// ([`init`] with an endpoint) spans are only logged and metrics go nowhere.
#[derive(Clone)]
pub struct ServiceTelemetry {
    name: Arc<str>,
    tracer: Option<SdkTracer>,
    meter: Meter,
    exported: bool,
    interval: Duration,
    rpc: Arc<RpcMetrics>,
}

/// The RPC duration histograms of OpenTelemetry's semantic conventions.
struct RpcMetrics {
    server: Histogram<f64>,
    client: Histogram<f64>,
}

impl std::fmt::Debug for ServiceTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTelemetry")
            .field("name", &self.name)
            .field("exported", &self.exported)
            .finish_non_exhaustive()
    }
}

impl Default for ServiceTelemetry {
    /// Nothing attributed: spans go to the process's provider, metrics nowhere.
    fn default() -> Self {
        ServiceTelemetry::with(
            "",
            None,
            opentelemetry::metrics::NoopMeterProvider::new().meter("closeloop"),
            None,
        )
    }
}

impl ServiceTelemetry {
    /// The telemetry of the service named `service_name` (e.g. `closeloop-handoff`): the same
    /// providers however often it is asked for in one process.
    pub fn of(service_name: &str) -> ServiceTelemetry {
        let providers = PIPELINE
            .get()
            .map(|pipeline| (pipeline.metrics_interval, pipeline.providers(service_name)));
        match providers {
            Some((interval, Ok(p))) => ServiceTelemetry::with(
                service_name,
                Some(p.traces.tracer("closeloop")),
                p.metrics.meter("closeloop"),
                Some(interval),
            ),
            Some((_, Err(e))) => {
                tracing::error!(service = service_name, error = %e, "telemetry: not exported for this service");
                ServiceTelemetry {
                    name: service_name.into(),
                    ..ServiceTelemetry::default()
                }
            }
            None => ServiceTelemetry {
                name: service_name.into(),
                ..ServiceTelemetry::default()
            },
        }
    }

    /// `exported_every`: the export interval when metrics are exported.
    fn with(
        name: &str,
        tracer: Option<SdkTracer>,
        meter: Meter,
        exported_every: Option<Duration>,
    ) -> Self {
        let rpc = RpcMetrics {
            server: meter
                .f64_histogram("rpc.server.duration")
                .with_unit("ms")
                .with_description("Duration of inbound RPCs, until the answer's headers")
                .build(),
            client: meter
                .f64_histogram("rpc.client.duration")
                .with_unit("ms")
                .with_description("Duration of outbound RPCs, until the answer's headers")
                .build(),
        };
        ServiceTelemetry {
            name: name.into(),
            tracer,
            meter,
            exported: exported_every.is_some(),
            interval: exported_every.unwrap_or(Duration::from_secs(60)),
            rpc: Arc::new(rpc),
        }
    }

    /// The service's name (`closeloop-<name>`); empty for [`ServiceTelemetry::default`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The meter of the service's metrics.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Whether the service's metrics are exported (worth computing the costly ones).
    pub fn metrics_exported(&self) -> bool {
        self.exported
    }

    /// How often metrics are exported (`telemetry.metrics_interval_ms`).
    pub fn metrics_interval(&self) -> Duration {
        self.interval
    }

    /// Makes `span`, not yet entered, a span of this service whose parent is `parent` (a
    /// remote caller's context, or an empty one for a new trace). The spans opened inside it
    /// belong to the service too.
    pub fn adopt(&self, span: &tracing::Span, parent: Context) {
        let _ = span.set_parent(self.context(parent));
    }

    /// The OpenTelemetry context of the service's work outside any call: empty, but for the
    /// service's tracer.
    fn context(&self, parent: Context) -> Context {
        match &self.tracer {
            Some(tracer) => parent.with_value(ServiceTracer(tracer.clone())),
            None => parent,
        }
    }

    /// Runs `work` as the service's: a span opened in it outside any other (a background
    /// task's) starts a trace of its own under the service's name.
    pub fn scope<F: std::future::Future>(&self, work: F) -> WithContext<F> {
        work.with_context(self.context(Context::new()))
    }

    /// Records one inbound call of `rpc.service`/`rpc.method` answered with `code`.
    pub fn record_server_call(&self, service: &str, method: &str, code: i32, elapsed: Duration) {
        self.rpc
            .server
            .record(millis(elapsed), &rpc_attributes(service, method, code));
    }

    /// Records one outbound call of `rpc.service`/`rpc.method` answered with `code`.
    pub fn record_client_call(&self, service: &str, method: &str, code: i32, elapsed: Duration) {
        self.rpc
            .client
            .record(millis(elapsed), &rpc_attributes(service, method, code));
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rpc_attributes(service: &str, method: &str, code: i32) -> [KeyValue; 4] {
    [
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", service.to_owned()),
        KeyValue::new("rpc.method", method.to_owned()),
        KeyValue::new("rpc.grpc.status_code", i64::from(code)),
    ]
}

/// Installs a plain log subscriber for tests when `TEST_LOG` is set; otherwise nothing is
/// printed. Safe to call many times.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ))
            .with(tracing_subscriber::fmt::layer().with_test_writer())
            .try_init();
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// The trace context in `headers` (`traceparent`), or an empty context (a new trace) when there
/// is none.
pub fn remote_parent(headers: &http::HeaderMap) -> Context {
    if headers.contains_key("traceparent") {
        TraceContextPropagator::new().extract(&HeaderExtractor(headers))
    } else {
        Context::new()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Writes `span`'s trace context into an outgoing request's headers.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// Writes the current span's trace context into outgoing call metadata.
pub fn inject_current(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut MetadataInjector(metadata));
}
