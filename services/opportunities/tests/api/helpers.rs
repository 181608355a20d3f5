//! Spawns the real opportunities service on 127.0.0.1:0 with a fresh database (SQLite, or
//! PostgreSQL when `CLOSELOOP_TEST_DATABASE_URL` is set) and hands out typed clients per caller.

use std::net::SocketAddr;

use closeloop_kit::Role;
use closeloop_kit::db::Db;
use closeloop_kit::testing::{TestDatabase, auth_settings, token};
use closeloop_opportunities::{Settings, build, load_settings};
use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Adds a bearer token to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A client acting as one caller.
pub type Client = OpportunityServiceClient<InterceptedService<Channel, Bearer>>;

/// A running service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub channel: Channel,
    /// A separate pool on the service's database, for looking behind the API.
    pub db: Db,
    _database: TestDatabase,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), closeloop_opportunities::Error>>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let database = TestDatabase::new().await;
        let mut settings = load_settings(None).expect("default settings load");
        settings.common.server.listen = "127.0.0.1:0".into();
        settings.common.database = database.settings.clone();
        settings.common.auth = auth_settings();
        adjust(&mut settings);
        let service = build(settings).await.expect("service builds");
        let addr = service.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(service.run_until(async move {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connects");
        let db = Db::connect(&database.settings).await.expect("test pool");
        TestApp {
            addr,
            channel,
            db,
            _database: database,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A client calling as `subject` with `roles`.
    pub fn client(&self, subject: &str, roles: &[Role]) -> Client {
        let value = format!("Bearer {}", token(subject, roles)).parse().unwrap();
        OpportunityServiceClient::with_interceptor(self.channel.clone(), Bearer(Some(value)))
    }

    /// A client sending no token.
    pub fn anonymous(&self) -> Client {
        OpportunityServiceClient::with_interceptor(self.channel.clone(), Bearer(None))
    }

    /// A client sending this raw `authorization` value.
    pub fn with_authorization(&self, value: &str) -> Client {
        OpportunityServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer(Some(value.parse().unwrap())),
        )
    }

    pub fn rep(&self, subject: &str) -> Client {
        self.client(subject, &[Role::SalesRep])
    }

    pub fn manager(&self) -> Client {
        self.client("max", &[Role::SalesManager])
    }

    /// Stops the service and waits for it to drain.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task
            .take()
            .unwrap()
            .await
            .expect("service task")
            .expect("service stops cleanly");
    }

    /// How many CreateContract commands wait in the outbox, and their payloads.
    pub async fn outbox(&self) -> Vec<(String, Vec<u8>)> {
        sqlx::query_as("SELECT topic, payload FROM outbox ORDER BY id")
            .fetch_all(self.db.pool())
            .await
            .unwrap()
    }
}

pub fn money(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

pub fn day(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

/// A valid new opportunity.
pub fn new_opportunity(title: &str) -> pb::Opportunity {
    pb::Opportunity {
        account: Some(common::Party {
            account_id: "acme".into(),
            display_name: "Acme Corp".into(),
        }),
        title: title.into(),
        kind: pb::OpportunityKind::NewBusiness as i32,
        source: pb::OpportunitySource::Inbound as i32,
        currency_code: "EUR".into(),
        expected_close_date: day(2026, 12, 15),
        stakeholders: vec![pb::Stakeholder {
            contact: Some(common::Contact {
                display_name: "Dana Buyer".into(),
                email: "dana@acme.example".into(),
                ..Default::default()
            }),
            role: pb::StakeholderRole::DecisionMaker as i32,
            primary: true,
        }],
        objectives: vec![pb::ClientObjective {
            description: "Cut invoice processing time".into(),
            success_measure: "under 2 days".into(),
        }],
        ..Default::default()
    }
}

pub fn line_item(list: i64, sold: i64, cost: i64, quantity: i64) -> pb::LineItem {
    pb::LineItem {
        product_id: "seat".into(),
        product_name: "Seat licence".into(),
        quantity,
        list_unit_price: money(list),
        sold_unit_price: money(sold),
        unit_cost: money(cost),
        ..Default::default()
    }
}

pub async fn create(client: &mut Client, title: &str) -> pb::Opportunity {
    client
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(new_opportunity(title)),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner()
}

pub async fn get(client: &mut Client, name: &str) -> pb::Opportunity {
    client
        .get_opportunity(pb::GetOpportunityRequest { name: name.into() })
        .await
        .expect("get")
        .into_inner()
}

pub async fn move_to(
    client: &mut Client,
    name: &str,
    stage: pb::Stage,
) -> Result<pb::Opportunity, Status> {
    client
        .move_opportunity_stage(pb::MoveOpportunityStageRequest {
            name: name.into(),
            stage: stage as i32,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

pub async fn qualify(client: &mut Client, name: &str) -> pb::Opportunity {
    client
        .qualify_opportunity(pb::QualifyOpportunityRequest {
            name: name.into(),
            qualification: Some(pb::Qualification {
                client_benefit_confirmed: true,
                realistic_expectations_confirmed: true,
                mature_partner_confirmed: true,
                notes: "Budget approved, clear owner".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("qualify")
        .into_inner()
}

pub async fn add_item(client: &mut Client, name: &str, item: pb::LineItem) -> pb::Opportunity {
    client
        .add_line_item(pb::AddLineItemRequest {
            name: name.into(),
            line_item: Some(item),
            ..Default::default()
        })
        .await
        .expect("add line item")
        .into_inner()
}

/// An opportunity in PROPOSAL with one priced line item (no approval needed).
pub async fn in_proposal(client: &mut Client, title: &str) -> pb::Opportunity {
    let o = create(client, title).await;
    move_to(client, &o.name, pb::Stage::Qualification)
        .await
        .unwrap();
    qualify(client, &o.name).await;
    add_item(client, &o.name, line_item(10_000, 9_500, 4_000, 10)).await;
    move_to(client, &o.name, pb::Stage::Proposal).await.unwrap()
}

pub fn won() -> pb::CloseOpportunityRequest {
    pb::CloseOpportunityRequest {
        outcome: pb::Outcome::Won as i32,
        ..Default::default()
    }
}

/// Asserts INVALID_ARGUMENT naming exactly these fields (in any order).
#[track_caller]
pub fn assert_invalid(status: &Status, fields: &[&str]) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status
        .get_details_bad_request()
        .expect("BadRequest details");
    let mut got: Vec<&str> = details
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    got.sort_unstable();
    got.dedup();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{status:?}");
}

/// Asserts FAILED_PRECONDITION whose violations include the gate (and, if given, subject).
#[track_caller]
pub fn assert_gate(status: &Status, gate: &str, subject: Option<&str>) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let details = status
        .get_details_precondition_failure()
        .expect("PreconditionFailure details");
    assert!(
        details
            .violations
            .iter()
            .any(|v| v.r#type == gate && subject.is_none_or(|s| v.subject == s)),
        "gate {gate} / {subject:?} not in {:?}",
        details.violations
    );
}
