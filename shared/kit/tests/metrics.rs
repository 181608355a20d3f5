//! Metrics reach a real OTLP/gRPC metrics receiver under the service's name: the duration of
//! each call a service answers (`rpc.server.duration`) and makes (`rpc.client.duration`), and
//! its relay's deliveries, retries, backlog and parked commands per topic. One test per binary: telemetry is process-wide.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closeloop_kit::Role;
use closeloop_kit::client::ClientTrace;
use closeloop_kit::db::{Db, Migrations};
use closeloop_kit::outbox::{Command, Deliver, DeliveryError, Outbox, Owed, Peer, Relay};
use closeloop_kit::settings::{LogFormat, OutboxSettings, TelemetrySettings};
use closeloop_kit::telemetry::ServiceTelemetry;
use closeloop_kit::testing::otlp::Collector;
use closeloop_kit::testing::toy::{self, TOY, text};
use closeloop_kit::testing::{TestDatabase, TestService, token};
use closeloop_proto::codec::ApiCodec;
use tonic::Status;

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The last value of the toy's `name` for `topic`.
fn last(collector: &Collector, name: &str, topic: &str) -> Option<f64> {
    collector
        .points("closeloop-toy", name)
        .into_iter()
        .rfind(|p| p.attribute("topic") == Some(topic))
        .map(|p| p.value)
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
    let collector = Collector::start().await;
    let telemetry = closeloop_kit::telemetry::init(
        "closeloop-test",
        &TelemetrySettings {
            otlp_endpoint: collector.endpoint().to_owned(),
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
    // A peer call that outlives its channel's deadline is measured as DEADLINE_EXCEEDED, as the
    // caller sees it, and one to a peer that is not there as UNAVAILABLE.
    let caller = ServiceTelemetry::of("closeloop-caller");
    let timed_out = closeloop_kit::client::channel(
        &format!("http://{}", service.addr),
        Duration::from_millis(100),
    )
    .unwrap();
    let closed = closeloop_kit::client::channel(
        &format!("http://127.0.0.1:{}", closed_port()),
        Duration::from_secs(1),
    )
    .unwrap();
    for channel in [timed_out, closed] {
        let mut peer = tonic::client::Grpc::new(ClientTrace::new(channel, caller.clone()));
        let refused = async {
            peer.ready()
                .await
                .map_err(|e| Status::from_error(e.into()))?;
            let mut request = tonic::Request::new(prost_types::Duration {
                seconds: 2,
                nanos: 0,
            });
            let bearer = format!("Bearer {}", token("ana", &[Role::SalesRep]));
            request
                .metadata_mut()
                .insert("authorization", bearer.parse().unwrap());
            peer.unary(
                request,
                toy::path("Sleep"),
                ApiCodec::<prost_types::Duration, prost_types::Duration>::default(),
            )
            .await
        }
        .await;
        assert!(refused.is_err(), "{refused:?}");
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
    let settled = collector
        .until(Duration::from_secs(10), |c| {
            last(c, "closeloop.outbox.parked", CREATE) == Some(1.0)
                && last(c, "closeloop.outbox.pending", CREATE) == Some(0.0)
                && last(c, "closeloop.outbox.deliveries", CREATE) == Some(1.0)
        })
        .await;
    let _ = stop_tx.send(true);
    relay.await.unwrap();
    db.close().await;
    telemetry.shutdown().await;
    assert!(
        settled,
        "parked {:?}, pending {:?}, delivered {:?}",
        last(&collector, "closeloop.outbox.parked", CREATE),
        last(&collector, "closeloop.outbox.pending", CREATE),
        last(&collector, "closeloop.outbox.deliveries", CREATE),
    );
    assert_eq!(
        last(&collector, "closeloop.outbox.retries", CREATE),
        Some(1.0)
    );
    assert_eq!(
        last(&collector, "closeloop.outbox.oldest_pending_age", CREATE),
        Some(0.0)
    );
    let lag = collector.points("closeloop-toy", "closeloop.outbox.oldest_pending_age");
    assert!(lag.iter().all(|p| p.unit == "s"), "{lag:?}");
    assert!(
        lag.iter()
            .all(|p| p.attribute("destination") == Some("contracts"))
    );

    let calls = collector.points("closeloop-toy", "rpc.server.duration");
    let echo = |code: &str| {
        calls.iter().any(|p| {
            p.unit == "ms"
                && p.attribute("rpc.system") == Some("grpc")
                && p.attribute("rpc.service") == Some(toy::TOY_SERVICE)
                && p.attribute("rpc.method") == Some("Echo")
                && p.attribute("rpc.grpc.status_code") == Some(code)
                && p.value == 1.0
        })
    };
    assert!(echo("0"), "the answered call: {calls:?}");
    assert!(echo("16"), "the call refused as UNAUTHENTICATED: {calls:?}");
    let peer_calls = collector.points("closeloop-caller", "rpc.client.duration");
    for code in ["4", "14"] {
        assert!(
            peer_calls.iter().any(|p| {
                p.attribute("rpc.method") == Some("Sleep")
                    && p.attribute("rpc.grpc.status_code") == Some(code)
            }),
            "a peer call with code {code}: {peer_calls:?}"
        );
    }
    assert!(
        collector
            .points("closeloop-test", "rpc.server.duration")
            .is_empty(),
        "the calls are the service's, not the process's"
    );
}
