//! Spawns the real opportunities service through the kit's test harness (127.0.0.1:0, a fresh
//! SQLite file, or a PostgreSQL database when `CLOSELOOP_TEST_DATABASE_URL` is set) and hands
//! out typed clients per caller; the requests and answers every test builds.

use closeloop_kit::Role;
use closeloop_kit::testing::{Bearer, TestService};
use closeloop_opportunities::SERVICE;
use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use closeloop_kit::testing::{assert_gate, assert_invalid, assert_not_found};

/// A client acting as one caller.
pub type Client = OpportunityServiceClient<InterceptedService<Channel, Bearer>>;

/// The opportunities service, running.
pub struct TestApp(pub TestService);

impl std::ops::Deref for TestApp {
    type Target = TestService;
    fn deref(&self) -> &TestService {
        &self.0
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp(TestService::spawn(&SERVICE).await)
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut closeloop_kit::host::Settings)) -> TestApp {
        TestApp(TestService::spawn_with(&SERVICE, adjust).await)
    }

    /// A client calling as `subject` with `roles`.
    pub fn client(&self, subject: &str, roles: &[Role]) -> Client {
        OpportunityServiceClient::new(self.caller(subject, roles))
    }

    /// A client sending no token.
    pub fn anonymous(&self) -> Client {
        OpportunityServiceClient::new(self.with(Bearer::none()))
    }

    /// A client sending this raw `authorization` value.
    pub fn with_authorization(&self, value: &str) -> Client {
        OpportunityServiceClient::new(self.with(Bearer::raw(value)))
    }

    pub fn rep(&self, subject: &str) -> Client {
        self.client(subject, &[Role::SalesRep])
    }

    pub fn manager(&self) -> Client {
        self.client("max", &[Role::SalesManager])
    }

    /// The commands waiting in the outbox: their method and payload.
    pub async fn outbox(&self) -> Vec<(String, Vec<u8>)> {
        sqlx::query_as("SELECT topic, payload FROM outbox ORDER BY id")
            .fetch_all(self.db.reads())
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
