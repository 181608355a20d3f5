//! `closeloop up` (the four services in one process) exporting to a real OTLP receiver while
//! `closeloop demo` drives one whole loop through it: the whole deal is one trace. The demo sends
//! its trace id with every call; each outbox hop joins the trace of the call that wrote it, so
//! the commands the services owe each other are in that trace too: CreateContract in
//! contracts-payments under CloseOpportunity, StartHandoff in handoff under PlaceOrder (with the
//! GetOpportunity of its prefill), OpenAccount in account-management under AcceptHandoff,
//! CreateOpportunity in opportunities under IdentifyExpansion. Every span carries the
//! `service.name` of the service it was opened for, and the RPC and outbox metrics arrive beside
//! the traces under the same names.
//! One test per binary: the receiver is shared.

use std::time::Duration;

use closeloop_kit::testing::otlp::{Collector, ExportedSpan, MetricPoint, SpanKind};

mod support;

use support::{demo, start_up};

const OPPORTUNITIES: &str = "closeloop-opportunities";
const CONTRACTS: &str = "closeloop-contracts-payments";
const HANDOFF: &str = "closeloop-handoff";
const ACCOUNTS: &str = "closeloop-account-management";

const CLOSE_OPPORTUNITY: &str = "closeloop.opportunities.v1.OpportunityService/CloseOpportunity";
const CREATE_CONTRACT: &str = "closeloop.contracts.v1.ContractService/CreateContract";
const PLACE_ORDER: &str = "closeloop.contracts.v1.ContractService/PlaceOrder";
const START_HANDOFF: &str = "closeloop.handoff.v1.HandoffService/StartHandoff";
const GET_OPPORTUNITY: &str = "closeloop.opportunities.v1.OpportunityService/GetOpportunity";
const ACCEPT_HANDOFF: &str = "closeloop.handoff.v1.HandoffService/AcceptHandoff";
const OPEN_ACCOUNT: &str = "closeloop.accounts.v1.AccountService/OpenAccount";
const IDENTIFY_EXPANSION: &str = "closeloop.accounts.v1.AccountService/IdentifyExpansion";
const CREATE_OPPORTUNITY: &str = "closeloop.opportunities.v1.OpportunityService/CreateOpportunity";

/// The trace id `closeloop demo` printed: the same first and last, 32 hex digits, not zero.
fn printed_trace_id(stdout: &str) -> String {
    let ids: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("trace id "))
        .collect();
    assert_eq!(ids.len(), 2, "printed first and last:\n{stdout}");
    assert_eq!(ids[0], ids[1]);
    let trace_id = ids[0];
    assert!(
        trace_id.len() == 32
            && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
            && trace_id.bytes().any(|b| b != b'0'),
        "{trace_id}"
    );
    trace_id.to_owned()
}

/// One trace's spans, as the assertions walk them.
struct Trace {
    id: String,
    spans: Vec<ExportedSpan>,
}

impl Trace {
    /// The server spans of `method`.
    fn servers(&self, method: &str) -> Vec<&ExportedSpan> {
        self.spans
            .iter()
            .filter(|s| s.kind == SpanKind::Server && s.name == method)
            .collect()
    }

    /// The path from `span` up to `ancestor` (child first, without the ancestor), if `span`
    /// descends from it.
    fn path<'a>(
        &'a self,
        span: &'a ExportedSpan,
        ancestor: &ExportedSpan,
    ) -> Option<Vec<&'a ExportedSpan>> {
        let mut path = Vec::new();
        let mut at = span;
        while at.span_id != ancestor.span_id {
            path.push(at);
            at = self.spans.iter().find(|s| s.span_id == at.parent_span_id)?;
        }
        Some(path)
    }

    /// The server span of `callee` that descends from a server span of `origin`, with the path
    /// between them; both are asserted to be the given services'.
    fn descendant(
        &self,
        origin: (&str, &str),
        callee: (&str, &str),
    ) -> (&ExportedSpan, Vec<&ExportedSpan>) {
        let origins = self.servers(origin.0);
        assert!(!origins.is_empty(), "{} in the trace: {self}", origin.0);
        for o in &origins {
            assert_eq!(o.service_name.as_deref(), Some(origin.1), "{}", o.name);
        }
        let (handled, path) = self
            .servers(callee.0)
            .into_iter()
            .find_map(|c| origins.iter().find_map(|o| Some((c, self.path(c, o)?))))
            .unwrap_or_else(|| panic!("{} under {} in the trace: {self}", callee.0, origin.0));
        assert_eq!(
            handled.service_name.as_deref(),
            Some(callee.1),
            "{}",
            handled.name
        );
        (handled, path)
    }

    /// Asserts that the server span of `callee` descends from `origin`'s through the caller's
    /// outbox delivery and its client call, all three under the caller's name.
    fn hop(&self, origin: (&str, &str), callee: (&str, &str)) {
        let (_, path) = self.descendant(origin, callee);
        let caller = Some(origin.1);
        let delivery = path
            .iter()
            .find(|s| s.name == "outbox.deliver")
            .unwrap_or_else(|| panic!("{} was delivered by the outbox: {path:#?}", callee.0));
        assert_eq!(delivery.service_name.as_deref(), caller, "the relay's span");
        let client = path
            .iter()
            .find(|s| s.kind == SpanKind::Client)
            .unwrap_or_else(|| panic!("{} was called by a client span: {path:#?}", callee.0));
        assert_eq!(client.service_name.as_deref(), caller, "the client span");
    }
}

/// The trace as a tree, each span with its service, for failure messages.
impl std::fmt::Display for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn below(
            trace: &Trace,
            parent: &str,
            depth: usize,
            f: &mut std::fmt::Formatter<'_>,
        ) -> std::fmt::Result {
            for s in trace.spans.iter().filter(|s| s.parent_span_id == parent) {
                let service = s.service_name.as_deref().unwrap_or("?");
                writeln!(f, "{:depth$}{} {:?} ({service})", "", s.name, s.kind)?;
                below(trace, &s.span_id, depth + 2, f)?;
            }
            Ok(())
        }
        writeln!(f, "trace {}:", self.id)?;
        // The roots here: the spans whose parent (the demo's side of each call) is not exported.
        let roots: std::collections::BTreeSet<&str> = self
            .spans
            .iter()
            .filter(|s| !self.spans.iter().any(|p| p.span_id == s.parent_span_id))
            .map(|s| s.parent_span_id.as_str())
            .collect();
        for root in roots {
            below(self, root, 2, f)?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_whole_deal_is_one_trace_with_each_services_name_and_metrics() {
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = start_up(
        &data,
        &[
            ("CLOSELOOP_TELEMETRY__OTLP_ENDPOINT", collector.endpoint()),
            ("CLOSELOOP_TELEMETRY__METRICS_INTERVAL_MS", "300"),
            ("CLOSELOOP_OUTBOX__POLL_INTERVAL_MS", "100"),
        ],
    )
    .await;

    let (status, stdout, stderr) = demo(up.demo_args()).await;
    assert!(status.success(), "{stdout}\n{stderr}");
    let trace_id = printed_trace_id(&stdout);

    // A graceful stop flushes every service's spans and metrics.
    let (status, logged) = up.stop().await;
    assert!(status.success(), "closeloop up stops cleanly: {logged}");

    let hops = [
        CREATE_CONTRACT,
        START_HANDOFF,
        OPEN_ACCOUNT,
        CREATE_OPPORTUNITY,
    ];
    let traced = |c: &Collector| {
        c.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect::<Vec<_>>()
    };
    collector
        .until(Duration::from_secs(10), |c| {
            let spans = traced(c);
            hops.iter().all(|m| {
                spans
                    .iter()
                    .any(|s| s.kind == SpanKind::Server && s.name == *m)
            })
        })
        .await;
    let trace = Trace {
        id: trace_id.clone(),
        spans: traced(&collector),
    };

    // The demo's own calls, each answered by its service in the demo's trace.
    for (method, service) in [
        (CREATE_OPPORTUNITY, OPPORTUNITIES),
        (CLOSE_OPPORTUNITY, OPPORTUNITIES),
        (PLACE_ORDER, CONTRACTS),
        (
            "closeloop.contracts.v1.PaymentService/RecordPaymentAttempt",
            CONTRACTS,
        ),
        (ACCEPT_HANDOFF, HANDOFF),
        (IDENTIFY_EXPANSION, ACCOUNTS),
    ] {
        let servers = trace.servers(method);
        assert!(!servers.is_empty(), "{method} in the trace: {trace}");
        assert!(
            servers
                .iter()
                .all(|s| s.service_name.as_deref() == Some(service)),
            "{method} answered by {service}: {servers:#?}"
        );
    }

    // Each command a service owes another: the callee's server span descends from the call
    // that wrote the command, through the caller's delivery span and its client span.
    trace.hop(
        (CLOSE_OPPORTUNITY, OPPORTUNITIES),
        (CREATE_CONTRACT, CONTRACTS),
    );
    trace.hop((PLACE_ORDER, CONTRACTS), (START_HANDOFF, HANDOFF));
    trace.hop((ACCEPT_HANDOFF, HANDOFF), (OPEN_ACCOUNT, ACCOUNTS));
    trace.hop(
        (IDENTIFY_EXPANSION, ACCOUNTS),
        (CREATE_OPPORTUNITY, OPPORTUNITIES),
    );
    // The prefill's read, made while StartHandoff is handled, is under it: handoff's client span
    // calls GetOpportunity.
    let (_, read) = trace.descendant((START_HANDOFF, HANDOFF), (GET_OPPORTUNITY, OPPORTUNITIES));
    assert!(
        read.iter()
            .any(|s| s.kind == SpanKind::Client && s.service_name.as_deref() == Some(HANDOFF)),
        "handoff's client span calls GetOpportunity: {read:#?}"
    );
    trace.descendant((PLACE_ORDER, CONTRACTS), (GET_OPPORTUNITY, OPPORTUNITIES));

    // Every span is one service's: nothing falls back to the process's name.
    let services = [OPPORTUNITIES, CONTRACTS, HANDOFF, ACCOUNTS];
    for s in collector.spans() {
        assert!(
            services.contains(&s.service_name.as_deref().unwrap_or_default()),
            "{} ({:?}) is attributed to {:?}",
            s.name,
            s.kind,
            s.service_name
        );
    }

    // Metrics, under the same names.
    let method_is = |m: &'static str| {
        move |p: &MetricPoint| {
            p.unit == "ms"
                && p.attribute("rpc.method") == Some(m)
                && p.attribute("rpc.system") == Some("grpc")
                && p.attribute("rpc.grpc.status_code") == Some("0")
                && p.value >= 1.0
        }
    };
    assert!(
        collector
            .points(OPPORTUNITIES, "rpc.server.duration")
            .iter()
            .any(method_is("CloseOpportunity")),
        "CloseOpportunity's duration in opportunities"
    );
    assert!(
        collector
            .points(CONTRACTS, "rpc.server.duration")
            .iter()
            .any(
                |p| p.attribute("rpc.service") == Some("closeloop.contracts.v1.ContractService")
                    && method_is("CreateContract")(p)
            ),
        "CreateContract's duration in contracts-payments"
    );
    assert!(
        collector
            .points(OPPORTUNITIES, "rpc.client.duration")
            .iter()
            .any(method_is("CreateContract")),
        "opportunities' call of CreateContract"
    );
    assert!(
        collector
            .points(HANDOFF, "rpc.client.duration")
            .iter()
            .any(method_is("GetOpportunity")),
        "handoff's call of GetOpportunity"
    );
    let topic_is = |p: &&MetricPoint| {
        p.attribute("topic") == Some(CREATE_CONTRACT)
            && p.attribute("destination") == Some("contracts")
    };
    let deliveries = collector.points(OPPORTUNITIES, "closeloop.outbox.deliveries");
    assert!(
        deliveries.iter().filter(topic_is).any(|p| p.value == 1.0),
        "one CreateContract delivered: {deliveries:?}"
    );
    for gauge in [
        "closeloop.outbox.pending",
        "closeloop.outbox.parked",
        "closeloop.outbox.oldest_pending_age",
    ] {
        let points = collector.points(OPPORTUNITIES, gauge);
        let last = points.iter().rfind(topic_is);
        assert_eq!(
            last.map(|p| p.value),
            Some(0.0),
            "{gauge} of CreateContract, nothing left: {points:?}"
        );
    }
}
