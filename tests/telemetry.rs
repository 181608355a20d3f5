//! `closeloop up` (the four services in one process) exporting to a real OTLP receiver while one
//! whole loop runs: each flow segment is one trace whose outbox hops join the trace of the call
//! that wrote them, every span carries the `service.name` of the service it was opened for, and
//! the RPC and outbox metrics arrive beside the traces under the same names.
//!
//! The loop is several client calls, so it is several traces: CloseOpportunity's holds
//! CreateContract in contracts-payments; PlaceOrder's holds StartHandoff in handoff and the
//! GetOpportunity of its prefill in opportunities; AcceptHandoff's holds OpenAccount in
//! account-management; IdentifyExpansion's holds CreateOpportunity in opportunities.
//! One test per binary: the receiver is shared.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closeloop_proto::accounts::v1 as accounts;
use closeloop_proto::accounts::v1::account_service_client::AccountServiceClient;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as contracts;
use closeloop_proto::contracts::v1::contract_service_client::ContractServiceClient;
use closeloop_proto::handoff::v1 as handoff;
use closeloop_proto::handoff::v1::handoff_service_client::HandoffServiceClient;
use closeloop_proto::opportunities::v1 as opp;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;
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
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

mod support;

use support::{BIN, Running, drain, free_port, token};

// ---------------------------------------------------------------------------------------------
// The receiver

/// What the receiver got: every span and every metric export.
#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<Span>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

/// An exported span, as the assertions read it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    name: String,
    kind: i32,
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

fn string(value: Option<&AnyValue>) -> Option<String> {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Some(s.clone()),
        Some(Value::IntValue(i)) => Some(i.to_string()),
        _ => None,
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| string(a.value.as_ref()))
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| attribute(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for s in scope.spans {
                    spans.push(Span {
                        service: service.clone(),
                        trace: s.trace_id,
                        id: s.span_id,
                        parent: s.parent_span_id,
                        name: s.name,
                        kind: s.kind,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Received {
    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// The server span of `method` (`package.Service/Method`).
    fn server_span(&self, method: &str) -> Option<Span> {
        self.spans()
            .into_iter()
            .find(|s| s.kind == SERVER && s.name == method)
    }

    /// The data points of metric `name` exported by `service`, each as its attributes and its
    /// value (a histogram's count, a sum's or a gauge's value).
    fn points(&self, service: &str, name: &str) -> Vec<(HashMap<String, String>, f64)> {
        let mut found = Vec::new();
        for export in self.metrics.lock().unwrap().iter() {
            for rm in &export.resource_metrics {
                let named = rm
                    .resource
                    .as_ref()
                    .and_then(|r| attribute(&r.attributes, "service.name"));
                if named.as_deref() != Some(service) {
                    continue;
                }
                for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                    if m.name != name {
                        continue;
                    }
                    let attrs = |kv: &[KeyValue]| {
                        kv.iter()
                            .filter_map(|a| Some((a.key.clone(), string(a.value.as_ref())?)))
                            .collect::<HashMap<_, _>>()
                    };
                    let number = |v: &Option<
                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value,
                    >| {
                        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
                        match v {
                            Some(N::AsDouble(d)) => *d,
                            Some(N::AsInt(i)) => *i as f64,
                            None => f64::NAN,
                        }
                    };
                    match &m.data {
                        Some(Data::Histogram(h)) => {
                            assert_eq!(m.unit, "ms", "{name} is in milliseconds");
                            for p in &h.data_points {
                                found.push((attrs(&p.attributes), p.count as f64));
                            }
                        }
                        Some(Data::Sum(s)) => {
                            for p in &s.data_points {
                                found.push((attrs(&p.attributes), number(&p.value)));
                            }
                        }
                        Some(Data::Gauge(g)) => {
                            for p in &g.data_points {
                                found.push((attrs(&p.attributes), number(&p.value)));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        found
    }
}

/// Asserts that `span` descends from `ancestor` in the same trace, and returns the path between
/// them (child first, without the ancestor).
fn path_to(spans: &[Span], span: &Span, ancestor: &Span) -> Vec<Span> {
    assert_eq!(
        span.trace, ancestor.trace,
        "{} joins the trace of {}",
        span.name, ancestor.name
    );
    let mut path = Vec::new();
    let mut at = span.clone();
    while at.id != ancestor.id {
        path.push(at.clone());
        at = spans
            .iter()
            .find(|s| s.trace == at.trace && s.id == at.parent)
            .unwrap_or_else(|| {
                panic!(
                    "{} ({}) has a parent exported in the trace; path so far: {path:#?}",
                    at.name, at.service
                )
            })
            .clone();
    }
    path
}

// ---------------------------------------------------------------------------------------------
// The suite

/// What `closeloop up` writes to stderr, once it has stopped.
type Log = std::thread::JoinHandle<String>;

/// `closeloop up` exporting to `collector`, its base port and its log.
async fn up(data: &std::path::Path, collector: &str) -> (Running, u16, Log) {
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new(BIN)
            .args(["up", "--base-port", &port.to_string(), "--data-dir"])
            .arg(data)
            .env_remove("CLOSELOOP_CONFIG")
            .env("CLOSELOOP_TELEMETRY__LOG_FILTER", "warn")
            .env("CLOSELOOP_TELEMETRY__OTLP_ENDPOINT", collector)
            .env("CLOSELOOP_TELEMETRY__METRICS_INTERVAL_MS", "300")
            .env("CLOSELOOP_OUTBOX__POLL_INTERVAL_MS", "100")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let errors = drain(stderr);
        let running = Running(child);
        // Read to the end all along, so that printing never fails on a closed pipe.
        let (up_tx, up_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut up_tx = Some(up_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("Ctrl-C")
                    && let Some(tx) = up_tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        let started = up_rx.await.is_ok();
        if started {
            return (running, port, errors);
        }
        drop(running);
        let errors = errors.join().unwrap_or_default();
        assert!(
            errors.contains("ddress") && errors.contains("in use"),
            "closeloop up did not start: {errors}"
        );
    }
    panic!("closeloop up starts on free ports");
}

type Caller = InterceptedService<Channel, Bearer>;

/// Sends one bearer token with every call.
#[derive(Clone)]
struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

async fn caller(port: u16, data: &std::path::Path, subject: &str, role: &str) -> Caller {
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token(data, subject, role));
    InterceptedService::new(channel, Bearer(bearer.parse().unwrap()))
}

/// Polls `read` every 100 ms for up to twenty seconds until it gives something.
async fn eventually<T, F, Fut>(what: &str, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(found) = read().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not arrive within twenty seconds");
}

fn money(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

fn date(d: time::Date) -> Option<common::Date> {
    Some(common::Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    })
}

fn person(name: &str, email: &str) -> Option<common::Contact> {
    Some(common::Contact {
        display_name: name.into(),
        email: email.into(),
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------------------------
// The loop

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_loop_under_closeloop_up_is_one_trace_per_flow_with_each_services_name_and_metrics() {
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(received.clone()))
            .add_service(MetricsServiceServer::new(received.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut suite, port, log) = up(&data, &collector).await;
    let (opportunities, contracts_port, handoff_port, accounts_port) =
        (port, port + 1, port + 2, port + 3);

    // ana wins a deal.
    let mut ana =
        OpportunityServiceClient::new(caller(opportunities, &data, "ana", "sales_rep").await);
    let o = ana
        .create_opportunity(opp::CreateOpportunityRequest {
            opportunity: Some(opp::Opportunity {
                account: Some(common::Party {
                    account_id: "acme".into(),
                    display_name: "Acme Corp".into(),
                }),
                title: "Analytics for Acme".into(),
                kind: opp::OpportunityKind::NewBusiness as i32,
                source: opp::OpportunitySource::Inbound as i32,
                currency_code: "EUR".into(),
                expected_close_date: date(
                    time::OffsetDateTime::now_utc().date() + time::Duration::days(30),
                ),
                stakeholders: vec![opp::Stakeholder {
                    contact: person("Dana Buyer", "dana@acme.example"),
                    role: opp::StakeholderRole::DecisionMaker as i32,
                    primary: true,
                }],
                objectives: vec![opp::ClientObjective {
                    description: "Cut invoice processing time".into(),
                    success_measure: "under 2 days".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let stage = |stage: opp::Stage| opp::MoveOpportunityStageRequest {
        name: o.name.clone(),
        stage: stage as i32,
        ..Default::default()
    };
    ana.move_opportunity_stage(stage(opp::Stage::Qualification))
        .await
        .unwrap();
    ana.qualify_opportunity(opp::QualifyOpportunityRequest {
        name: o.name.clone(),
        qualification: Some(opp::Qualification {
            client_benefit_confirmed: true,
            realistic_expectations_confirmed: true,
            mature_partner_confirmed: true,
            notes: "Budget approved".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    ana.add_line_item(opp::AddLineItemRequest {
        name: o.name.clone(),
        line_item: Some(opp::LineItem {
            product_id: "seat".into(),
            product_name: "Seat licence".into(),
            quantity: 10,
            list_unit_price: money(10_000),
            sold_unit_price: money(9_500),
            unit_cost: money(4_000),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    ana.move_opportunity_stage(stage(opp::Stage::Proposal))
        .await
        .unwrap();
    ana.close_opportunity(opp::CloseOpportunityRequest {
        name: o.name.clone(),
        outcome: opp::Outcome::Won as i32,
        ..Default::default()
    })
    .await
    .unwrap();

    // Its contract arrives; max completes it, both sides sign, ana places the order.
    let max =
        ContractServiceClient::new(caller(contracts_port, &data, "max", "sales_manager").await);
    let contract = eventually("the won deal's contract", || {
        let mut max = max.clone();
        let opportunity = o.name.clone();
        async move {
            max.list_contracts(contracts::ListContractsRequest {
                opportunity,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .contracts
            .pop()
        }
    })
    .await;
    let mut max = max;
    let today = time::OffsetDateTime::now_utc().date();
    let signer = |side: contracts::SignerSide, name: &str, email: &str| contracts::Signer {
        side: side as i32,
        contact: person(name, email),
        ..Default::default()
    };
    max.update_contract(contracts::UpdateContractRequest {
        contract: Some(contracts::Contract {
            name: contract.name.clone(),
            deliverables: vec![contracts::Deliverable {
                deliverable_id: contract.deliverables[0].deliverable_id.clone(),
                description: "Seat licence x 10".into(),
                due_date: date(today + time::Duration::days(30)),
                ..Default::default()
            }],
            payment_schedule: vec![contracts::Installment {
                amount: contract.value,
                due_date: date(today + time::Duration::days(30)),
                ..Default::default()
            }],
            terms: Some(contracts::Terms {
                payment_terms_days: 30,
                start_date: date(today),
                term_months: 12,
                ..Default::default()
            }),
            signers: vec![
                signer(
                    contracts::SignerSide::Client,
                    "Dana Buyer",
                    "dana@acme.example",
                ),
                signer(
                    contracts::SignerSide::Company,
                    "Max Manager",
                    "max@closeloop.example",
                ),
            ],
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![
                "deliverables".into(),
                "payment_schedule".into(),
                "terms".into(),
                "signers".into(),
            ],
        }),
        request_id: String::new(),
    })
    .await
    .unwrap();
    max.send_contract(contracts::SendContractRequest {
        name: contract.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    for email in ["dana@acme.example", "max@closeloop.example"] {
        max.sign_contract(contracts::SignContractRequest {
            name: contract.name.clone(),
            signer_email: email.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    ContractServiceClient::new(caller(contracts_port, &data, "ana", "sales_rep").await)
        .place_order(contracts::PlaceOrderRequest {
            name: contract.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Its handoff arrives, prefilled; max completes it and alice takes the account on.
    let manager =
        HandoffServiceClient::new(caller(handoff_port, &data, "max", "sales_manager").await);
    let h = eventually("the order's prefilled handoff", || {
        let mut manager = manager.clone();
        async move {
            manager
                .list_handoffs(handoff::ListHandoffsRequest::default())
                .await
                .unwrap()
                .into_inner()
                .handoffs
                .pop()
                .filter(|h| h.prefill.as_ref().unwrap().state == handoff::PrefillState::Done as i32)
        }
    })
    .await;
    let mut manager = manager;
    let h = manager
        .update_handoff(handoff::UpdateHandoffRequest {
            handoff: Some(handoff::Handoff {
                name: h.name.clone(),
                customer_needs: vec![handoff::CustomerNeed {
                    description: "Invoices approved without paper".into(),
                    details: "Finance team of 12".into(),
                }],
                goals: vec![handoff::Goal {
                    description: "Cut invoice processing time".into(),
                    success_criteria: vec![handoff::SuccessCriterion {
                        description: "under 2 days".into(),
                        target_date: date(today + time::Duration::days(180)),
                    }],
                    ..Default::default()
                }],
                no_verbal_commitments: true,
                stakeholders: vec![handoff::Stakeholder {
                    contact: person("Dana Buyer", "dana@acme.example"),
                    role: handoff::StakeholderRole::DecisionMaker as i32,
                    primary: true,
                }],
                support_contacts: vec![
                    handoff::SupportContact {
                        kind: handoff::SupportContactKind::DayToDay as i32,
                        contact: person("Dan Daily", "dan@acme.example"),
                        notes: String::new(),
                    },
                    handoff::SupportContact {
                        kind: handoff::SupportContactKind::Billing as i32,
                        contact: person("Bea Billing", "bea@acme.example"),
                        notes: String::new(),
                    },
                ],
                onboarding_plan: vec![handoff::OnboardingStep {
                    title: "Kick-off workshop".into(),
                    owner: "olga".into(),
                    due_date: date(today + time::Duration::days(20)),
                    ..Default::default()
                }],
                account_manager: "alice".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: [
                    "customer_needs",
                    "goals",
                    "no_verbal_commitments",
                    "stakeholders",
                    "support_contacts",
                    "onboarding_plan",
                    "account_manager",
                ]
                .map(String::from)
                .to_vec(),
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let attendee =
        |name: &str, side: handoff::PartySide, subject: &str| handoff::IntroductionAttendee {
            contact: person(name, &format!("{}@example.com", name.to_lowercase())),
            side: side as i32,
            subject: subject.into(),
        };
    manager
        .schedule_introduction(handoff::ScheduleIntroductionRequest {
            name: h.name.clone(),
            kind: handoff::IntroductionKind::JointCall as i32,
            schedule_time: Some(prost_types::Timestamp {
                seconds: time::OffsetDateTime::now_utc().unix_timestamp() + 86_400,
                nanos: 0,
            }),
            attendees: vec![
                attendee("Dana", handoff::PartySide::Client, ""),
                attendee("Alice", handoff::PartySide::Company, "alice"),
            ],
            location: "https://meet.example.com/acme".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    manager
        .submit_handoff(handoff::SubmitHandoffRequest {
            name: h.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    manager
        .complete_introduction(handoff::CompleteIntroductionRequest {
            name: h.name.clone(),
            notes: "Went well".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    manager
        .accept_handoff(handoff::AcceptHandoffRequest {
            name: h.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    // The account opens; alice sees room for more and identifies an expansion, which becomes
    // an opportunity.
    let alice =
        AccountServiceClient::new(caller(accounts_port, &data, "alice", "account_manager").await);
    let account = eventually("the accepted handoff's account", || {
        let mut alice = alice.clone();
        async move {
            alice
                .list_accounts(accounts::ListAccountsRequest {
                    customer_account_id: "acme".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .accounts
                .pop()
        }
    })
    .await;
    let mut alice = alice;
    let expansion = alice
        .identify_expansion(accounts::IdentifyExpansionRequest {
            parent: account.name.clone(),
            expansion: Some(accounts::Expansion {
                kind: accounts::ExpansionKind::Upsell as i32,
                title: "50 more seats".into(),
                description: "The finance team grows".into(),
                estimated_value: money(500_000),
                expected_close_date: date(today + time::Duration::days(60)),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    eventually("the expansion's opportunity", || {
        let mut alice = alice.clone();
        let name = expansion.name.clone();
        async move {
            let e = alice
                .get_expansion(accounts::GetExpansionRequest { name })
                .await
                .unwrap()
                .into_inner();
            (e.status == accounts::OpportunityRequestStatus::Opened as i32).then_some(())
        }
    })
    .await;

    // A graceful stop flushes every service's spans and metrics.
    let pid = suite.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || {
        let status = suite.0.wait();
        (suite, status)
    })
    .await
    .unwrap();
    let logged = log.join().unwrap_or_default();
    assert!(
        exit.1.unwrap().success(),
        "closeloop up stops cleanly: {logged}"
    );

    let hops = [
        "closeloop.contracts.v1.ContractService/CreateContract",
        "closeloop.handoff.v1.HandoffService/StartHandoff",
        "closeloop.accounts.v1.AccountService/OpenAccount",
        "closeloop.opportunities.v1.OpportunityService/CreateOpportunity",
    ];
    for _ in 0..100 {
        if hops.iter().all(|m| received.server_span(m).is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spans = received.spans();
    let mut seen: Vec<String> = spans
        .iter()
        .map(|s| format!("{} {} kind {}", s.service, s.name, s.kind))
        .collect();
    seen.sort();
    seen.dedup();
    assert!(
        hops.iter().all(|m| received.server_span(m).is_some()),
        "the server span of every hop is exported; got {seen:#?}, {} metric exports; the suite \
         logged: {logged}",
        received.metrics.lock().unwrap().len()
    );
    let server = |method: &str, trace: Option<&[u8]>| {
        spans
            .iter()
            .find(|s| {
                s.kind == SERVER
                    && s.name == method
                    && trace.is_none_or(|t| s.trace.as_slice() == t)
            })
            .cloned()
            .unwrap_or_else(|| panic!("the server span of {method}"))
    };
    let opp_name = "closeloop-opportunities";
    let contracts_name = "closeloop-contracts-payments";
    let handoff_name = "closeloop-handoff";
    let accounts_name = "closeloop-account-management";

    // Each flow segment: the callee's server span descends from the call that wrote the
    // command, through the caller's delivery span and its client span.
    let hop = |origin: &str,
               origin_service: &str,
               callee: &str,
               callee_service: &str|
     -> (Span, Vec<Span>) {
        let origin = server(origin, None);
        assert_eq!(origin.service, origin_service, "{}", origin.name);
        let handled = server(callee, Some(&origin.trace));
        assert_eq!(handled.service, callee_service, "{}", handled.name);
        let path = path_to(&spans, &handled, &origin);
        let delivery = path
            .iter()
            .find(|s| s.name == "outbox.deliver")
            .unwrap_or_else(|| panic!("{callee} was delivered by the outbox: {path:#?}"));
        assert_eq!(delivery.service, origin_service, "the relay's span");
        let client = path
            .iter()
            .find(|s| s.kind == CLIENT)
            .unwrap_or_else(|| panic!("{callee} was called by a client span: {path:#?}"));
        assert_eq!(client.service, origin_service, "the client span");
        (origin, path)
    };
    hop(
        "closeloop.opportunities.v1.OpportunityService/CloseOpportunity",
        opp_name,
        "closeloop.contracts.v1.ContractService/CreateContract",
        contracts_name,
    );
    let (place_order, _) = hop(
        "closeloop.contracts.v1.ContractService/PlaceOrder",
        contracts_name,
        "closeloop.handoff.v1.HandoffService/StartHandoff",
        handoff_name,
    );
    // The prefill's read, made while StartHandoff is handled, is in PlaceOrder's trace too.
    let read = server(
        "closeloop.opportunities.v1.OpportunityService/GetOpportunity",
        Some(&place_order.trace),
    );
    assert_eq!(read.service, opp_name);
    let read_path = path_to(&spans, &read, &place_order);
    assert!(
        read_path
            .iter()
            .any(|s| s.kind == CLIENT && s.service == handoff_name),
        "handoff's client span calls GetOpportunity: {read_path:#?}"
    );
    hop(
        "closeloop.handoff.v1.HandoffService/AcceptHandoff",
        handoff_name,
        "closeloop.accounts.v1.AccountService/OpenAccount",
        accounts_name,
    );
    hop(
        "closeloop.accounts.v1.AccountService/IdentifyExpansion",
        accounts_name,
        "closeloop.opportunities.v1.OpportunityService/CreateOpportunity",
        opp_name,
    );
    // Every span is one service's: nothing falls back to the process's name.
    let services = [opp_name, contracts_name, handoff_name, accounts_name];
    for s in &spans {
        assert!(
            services.contains(&s.service.as_str()),
            "{} ({:?}) is attributed to {:?}",
            s.name,
            s.kind,
            s.service
        );
    }

    // Metrics, under the same names.
    let method_is = |m: &str| {
        let m = m.to_owned();
        move |p: &(HashMap<String, String>, f64)| {
            p.0.get("rpc.method") == Some(&m)
                && p.0.get("rpc.system").map(String::as_str) == Some("grpc")
                && p.0.get("rpc.grpc.status_code").map(String::as_str) == Some("0")
                && p.1 >= 1.0
        }
    };
    assert!(
        received
            .points(opp_name, "rpc.server.duration")
            .iter()
            .any(method_is("CloseOpportunity")),
        "CloseOpportunity's duration in opportunities"
    );
    assert!(
        received
            .points(contracts_name, "rpc.server.duration")
            .iter()
            .any(|p| p.0.get("rpc.service").map(String::as_str)
                == Some("closeloop.contracts.v1.ContractService")
                && method_is("CreateContract")(p)),
        "CreateContract's duration in contracts-payments"
    );
    assert!(
        received
            .points(opp_name, "rpc.client.duration")
            .iter()
            .any(method_is("CreateContract")),
        "opportunities' call of CreateContract"
    );
    assert!(
        received
            .points(handoff_name, "rpc.client.duration")
            .iter()
            .any(method_is("GetOpportunity")),
        "handoff's call of GetOpportunity"
    );
    let create_contract = "closeloop.contracts.v1.ContractService/CreateContract";
    let topic_is = |p: &&(HashMap<String, String>, f64)| {
        p.0.get("topic").map(String::as_str) == Some(create_contract)
            && p.0.get("destination").map(String::as_str) == Some("contracts")
    };
    let deliveries = received.points(opp_name, "closeloop.outbox.deliveries");
    assert!(
        deliveries.iter().filter(topic_is).any(|p| p.1 == 1.0),
        "one CreateContract delivered: {deliveries:?}"
    );
    for gauge in [
        "closeloop.outbox.pending",
        "closeloop.outbox.parked",
        "closeloop.outbox.oldest_pending_age",
    ] {
        let points = received.points(opp_name, gauge);
        let last = points.iter().rfind(topic_is);
        assert_eq!(
            last.map(|p| p.1),
            Some(0.0),
            "{gauge} of CreateContract, nothing left: {points:?}"
        );
    }
}
