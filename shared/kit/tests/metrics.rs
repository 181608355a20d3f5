//! Metrics reach a real OTLP/gRPC metrics receiver under the service's name: the duration of
//! each call a service answers (`rpc.server.duration`), and its relay's deliveries, retries,
//! backlog and parked commands per topic. One test per binary: telemetry is process-wide.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::db::{Db, Migrations};
use closeloop_kit::outbox::{Command, Deliver, DeliveryError, Outbox, Owed, Peer, Relay};
use closeloop_kit::settings::{LogFormat, OutboxSettings, TelemetrySettings};
use closeloop_kit::telemetry::ServiceTelemetry;
use closeloop_kit::testing::toy::{self, TOY, text};
use closeloop_kit::testing::{TestDatabase, TestService, token};
use closeloop_proto::codec::ApiCodec;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;

/// A real OTLP metrics receiver that keeps every export.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportMetricsServiceRequest>>>);

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

type Point = (HashMap<String, String>, f64);

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

impl Receiver {
    /// The points of `name` exported under `service.name` = `service`, in export order: a
    /// histogram's count, a sum's or a gauge's value, with the metric's unit.
    fn points(&self, service: &str, name: &str) -> Vec<(String, Point)> {
        let mut found = Vec::new();
        for export in self.0.lock().unwrap().iter() {
            for rm in &export.resource_metrics {
                let resource = rm
                    .resource
                    .as_ref()
                    .map(|r| attributes(&r.attributes))
                    .unwrap_or_default();
                if resource.get("service.name").map(String::as_str) != Some(service) {
                    continue;
                }
                for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                    if m.name != name {
                        continue;
                    }
                    let number = |v: &Option<number_data_point::Value>| match v {
                        Some(number_data_point::Value::AsDouble(d)) => *d,
                        Some(number_data_point::Value::AsInt(i)) => *i as f64,
                        None => f64::NAN,
                    };
                    let unit = m.unit.clone();
                    match &m.data {
                        Some(Data::Histogram(h)) => {
                            found.extend(h.data_points.iter().map(|p| {
                                (unit.clone(), (attributes(&p.attributes), p.count as f64))
                            }))
                        }
                        Some(Data::Sum(s)) => found.extend(s.data_points.iter().map(|p| {
                            (unit.clone(), (attributes(&p.attributes), number(&p.value)))
                        })),
                        Some(Data::Gauge(g)) => found.extend(g.data_points.iter().map(|p| {
                            (unit.clone(), (attributes(&p.attributes), number(&p.value)))
                        })),
                        _ => {}
                    }
                }
            }
        }
        found
    }

    /// The last value of `name` for `topic`.
    fn last(&self, name: &str, topic: &str) -> Option<f64> {
        self.points("closeloop-toy", name)
            .into_iter()
            .rfind(|(_, (a, _))| a.get("topic").map(String::as_str) == Some(topic))
            .map(|(_, (_, v))| v)
    }
}

const PEER: Peer = Peer {
    name: "contracts",
    services: &["test.v1.Contracts"],
};
const CREATE: &str = "test.v1.Contracts/Create";

/// Answers each delivery with the next scripted outcome; success once the script runs out.
#[derive(Clone)]
struct Scripted(Arc<Mutex<VecDeque<Result<(), DeliveryError>>>>);

impl Deliver for Scripted {
    async fn deliver(&self, _: &Command) -> Result<Option<Vec<u8>>, DeliveryError> {
        let outcome = self.0.lock().unwrap().pop_front().unwrap_or(Ok(()));
        outcome.map(|()| None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_outbox_deliveries_are_measured_under_the_services_name() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(receiver.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let telemetry = closeloop_kit::telemetry::init(
        "closeloop-test",
        &TelemetrySettings {
            otlp_endpoint: format!("http://{receiver_addr}"),
            log_format: LogFormat::Json,
            log_filter: "warn".into(),
            metrics_interval_ms: 100,
        },
    )
    .unwrap();

    // One call answered OK and one refused (no token), measured by the toy service.
    let service = TestService::spawn(&TOY).await;
    let mut grpc = tonic::client::Grpc::new(service.channel.clone());
    for bearer in [Some(token("ana", &[Role::SalesRep])), None] {
        grpc.ready().await.unwrap();
        let mut request = tonic::Request::new(text("measured"));
        if let Some(t) = bearer {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        let _ = grpc
            .unary(
                request,
                toy::path("Echo"),
                ApiCodec::<prost_types::Value, prost_types::Value>::default(),
            )
            .await;
    }
    service.stop().await;

    // The toy's relay: one command delivered after a transient failure, one refused for good.
    let database = TestDatabase::new().await;
    let db = Db::connect(&database.settings).await.unwrap();
    db.migrate(&Migrations {
        sqlite: &[],
        postgres: &[],
    })
    .await
    .unwrap();
    let outbox = Outbox::new(&[PEER]);
    let mut tx = db.transaction().await.unwrap();
    for id in ["cmd-1", "cmd-2"] {
        let owed = Owed {
            id: id.into(),
            method: CREATE,
            payload: Vec::new(),
        };
        outbox.enqueue(&mut tx, &owed).await.unwrap();
    }
    tx.commit().await.unwrap();
    let script = Scripted(Arc::new(Mutex::new(
        vec![
            Err(DeliveryError::Retry("UNAVAILABLE: down".into())),
            Err(DeliveryError::Refused {
                code: "INVALID_ARGUMENT".into(),
                message: "never".into(),
            }),
        ]
        .into(),
    )));
    let settings = OutboxSettings {
        poll_interval_ms: 20,
        batch_size: 1,
        initial_backoff_ms: 1,
        max_backoff_ms: 5,
        lease_ms: 60_000,
        call_timeout_ms: 1000,
    };
    let relay = Relay::new(db.clone(), PEER, script, settings)
        .with_telemetry(ServiceTelemetry::of(&TOY.service_name()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(relay.run(stop));

    // The gauges settle: nothing pending, one parked.
    let mut settled = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if receiver.last("closeloop.outbox.parked", CREATE) == Some(1.0)
            && receiver.last("closeloop.outbox.pending", CREATE) == Some(0.0)
            && receiver.last("closeloop.outbox.deliveries", CREATE) == Some(1.0)
        {
            settled = true;
            break;
        }
    }
    let _ = stop_tx.send(true);
    relay.await.unwrap();
    db.close().await;
    telemetry.shutdown().await;
    assert!(
        settled,
        "parked {:?}, pending {:?}, delivered {:?}",
        receiver.last("closeloop.outbox.parked", CREATE),
        receiver.last("closeloop.outbox.pending", CREATE),
        receiver.last("closeloop.outbox.deliveries", CREATE),
    );
    assert_eq!(receiver.last("closeloop.outbox.retries", CREATE), Some(1.0));
    assert_eq!(
        receiver.last("closeloop.outbox.oldest_pending_age", CREATE),
        Some(0.0)
    );
    let lag = receiver.points("closeloop-toy", "closeloop.outbox.oldest_pending_age");
    assert!(lag.iter().all(|(unit, _)| unit == "s"), "{lag:?}");
    assert!(
        lag.iter()
            .all(|(_, (a, _))| a.get("destination").map(String::as_str) == Some("contracts"))
    );

    let calls = receiver.points("closeloop-toy", "rpc.server.duration");
    let echo = |code: &str| {
        calls.iter().any(|(unit, (a, count))| {
            unit == "ms"
                && a.get("rpc.system").map(String::as_str) == Some("grpc")
                && a.get("rpc.service").map(String::as_str) == Some(toy::TOY_SERVICE)
                && a.get("rpc.method").map(String::as_str) == Some("Echo")
                && a.get("rpc.grpc.status_code").map(String::as_str) == Some(code)
                && *count == 1.0
        })
    };
    assert!(echo("0"), "the answered call: {calls:?}");
    assert!(echo("16"), "the call refused as UNAUTHENTICATED: {calls:?}");
    assert!(
        receiver
            .points("closeloop-test", "rpc.server.duration")
            .is_empty(),
        "the calls are the service's, not the process's"
    );
}
