//! Spawns the real contracts-and-payments service through the kit's test harness and hands out
//! typed clients per caller; the requests every test builds.

#![allow(dead_code)]

use closeloop_contracts_payments::SERVICE;
use closeloop_kit::Role;
use closeloop_kit::testing::{Bearer, TestService};
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as pb;
use closeloop_proto::contracts::v1::contract_service_client::ContractServiceClient;
use closeloop_proto::contracts::v1::payment_service_client::PaymentServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[allow(unused_imports)]
pub use closeloop_kit::testing::{assert_gate, assert_invalid, assert_not_found};

/// A ContractService client acting as one caller.
pub type Contracts = ContractServiceClient<InterceptedService<Channel, Bearer>>;

/// A PaymentService client acting as one caller.
pub type Payments = PaymentServiceClient<InterceptedService<Channel, Bearer>>;

/// The service, running.
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

    /// A ContractService client calling as `subject` with `roles`.
    pub fn contracts(&self, subject: &str, roles: &[Role]) -> Contracts {
        ContractServiceClient::new(self.caller(subject, roles))
    }

    /// A PaymentService client calling as `subject` with `roles`.
    pub fn payments(&self, subject: &str, roles: &[Role]) -> Payments {
        PaymentServiceClient::new(self.caller(subject, roles))
    }

    /// Finance.
    pub fn finance(&self) -> Payments {
        self.payments("fin", &[Role::Finance])
    }

    /// A payment processor.
    pub fn processor(&self) -> Payments {
        self.payments("stripe-bridge", &[Role::Service])
    }

    /// The opportunities service's relay.
    pub fn service(&self) -> Contracts {
        self.contracts("closeloop-opportunities", &[Role::Service])
    }

    pub fn manager(&self) -> Contracts {
        self.contracts("max", &[Role::SalesManager])
    }

    pub fn rep(&self, subject: &str) -> Contracts {
        self.contracts(subject, &[Role::SalesRep])
    }

    /// Creates a DRAFT contract for `opportunity` owned by `owner`, worth EUR 10,000.
    pub async fn draft(&self, opportunity: &str, owner: &str) -> pb::Contract {
        self.service()
            .create_contract(create(opportunity, owner))
            .await
            .unwrap()
            .into_inner()
    }

    /// A contract ready to send: two signers, a dated deliverable, two installments summing to
    /// the value, a start date and a term.
    pub async fn ready(&self, opportunity: &str, owner: &str) -> pb::Contract {
        let c = self.draft(opportunity, owner).await;
        self.manager()
            .update_contract(fill(&c))
            .await
            .unwrap()
            .into_inner()
    }

    /// A contract sent and signed by both signers.
    pub async fn signed(&self, opportunity: &str, owner: &str) -> pb::Contract {
        let c = self.ready(opportunity, owner).await;
        let mut m = self.manager();
        m.send_contract(send(&c.name)).await.unwrap();
        m.sign_contract(sign_by_email(&c.name, "cleo@client.example"))
            .await
            .unwrap();
        m.sign_contract(sign_by_email(&c.name, "sam@closeloop.example"))
            .await
            .unwrap()
            .into_inner()
    }

    /// A contract whose order is placed.
    pub async fn active(&self, opportunity: &str, owner: &str) -> pb::PlaceOrderResponse {
        let c = self.signed(opportunity, owner).await;
        self.manager()
            .place_order(pb::PlaceOrderRequest {
                name: c.name,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
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

/// A date `days` from today (UTC), on the wire.
pub fn days_from_today(days: i64) -> Option<common::Date> {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    day(d.year(), i32::from(u8::from(d.month())), i32::from(d.day()))
}

/// What the opportunities service sends when `opportunity` is won by `owner`.
pub fn create(opportunity: &str, owner: &str) -> pb::CreateContractRequest {
    pb::CreateContractRequest {
        contract: Some(pb::Contract {
            opportunity_snapshot: Some(pb::OpportunitySnapshot {
                opportunity: format!("opportunities/{opportunity}"),
                account: Some(common::Party {
                    account_id: "acme".into(),
                    display_name: "Acme GmbH".into(),
                }),
                owner: owner.into(),
                title: "Acme analytics".into(),
                kind: pb::DealKind::NewBusiness as i32,
                line_items: vec![pb::SnapshotLineItem {
                    product_id: "sku-1".into(),
                    product_name: "Analytics".into(),
                    quantity: 2,
                    list_unit_price: money(600_000),
                    sold_unit_price: money(500_000),
                    unit_cost: money(100_000),
                }],
                amount: money(1_000_000),
                close_date: day(2026, 12, 1),
                prior_contract_value: None,
            }),
            ..Default::default()
        }),
        request_id: format!("won-{opportunity}"),
    }
}

/// An update filling every field sending needs.
pub fn fill(c: &pb::Contract) -> pb::UpdateContractRequest {
    let signer = |side: pb::SignerSide, name: &str, email: &str| pb::Signer {
        side: side as i32,
        contact: Some(common::Contact {
            display_name: name.into(),
            email: email.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    pb::UpdateContractRequest {
        contract: Some(pb::Contract {
            name: c.name.clone(),
            deliverables: vec![pb::Deliverable {
                deliverable_id: c.deliverables[0].deliverable_id.clone(),
                description: "Analytics x 2".into(),
                due_date: days_from_today(30),
                ..Default::default()
            }],
            payment_schedule: vec![
                pb::Installment {
                    description: "Setup".into(),
                    amount: money(400_000),
                    due_date: days_from_today(10),
                    ..Default::default()
                },
                pb::Installment {
                    description: "Rest".into(),
                    amount: money(600_000),
                    due_date: days_from_today(40),
                    ..Default::default()
                },
            ],
            terms: Some(pb::Terms {
                payment_terms_days: 14,
                start_date: day(2027, 1, 15),
                term_months: 12,
                ..Default::default()
            }),
            signers: vec![
                signer(pb::SignerSide::Client, "Cleo Client", "cleo@client.example"),
                signer(
                    pb::SignerSide::Company,
                    "Sam Seller",
                    "sam@closeloop.example",
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
    }
}

pub fn send(name: &str) -> pb::SendContractRequest {
    pb::SendContractRequest {
        name: name.into(),
        ..Default::default()
    }
}

pub fn sign_by_email(name: &str, email: &str) -> pb::SignContractRequest {
    pb::SignContractRequest {
        name: name.into(),
        signer_email: email.into(),
        ..Default::default()
    }
}

/// A succeeded attempt of `minor` EUR cents, reported under `request_id`.
pub fn paid(invoice: &str, minor: i64, request_id: &str) -> pb::RecordPaymentAttemptRequest {
    pb::RecordPaymentAttemptRequest {
        parent: invoice.into(),
        payment_attempt: Some(pb::PaymentAttempt {
            result: pb::PaymentResult::Succeeded as i32,
            amount: money(minor),
            processor: "stripe".into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
    }
}

/// A failed attempt of `minor` EUR cents.
pub fn failed(
    invoice: &str,
    minor: i64,
    decline: pb::DeclineType,
    code: &str,
    request_id: &str,
) -> pb::RecordPaymentAttemptRequest {
    pb::RecordPaymentAttemptRequest {
        parent: invoice.into(),
        payment_attempt: Some(pb::PaymentAttempt {
            result: pb::PaymentResult::Failed as i32,
            amount: money(minor),
            decline_type: decline as i32,
            failure_code: code.into(),
            processor: "stripe".into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
    }
}
