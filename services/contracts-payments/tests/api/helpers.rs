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

/// `fill`, plus one client obligation (ACCESS), so UpdateObligationStatus has one to move.
pub fn fill_with_obligation(c: &pb::Contract) -> pb::UpdateContractRequest {
    let mut update = fill(c);
    update.contract.as_mut().unwrap().client_obligations = vec![pb::ClientObligation {
        kind: common::ObligationKind::Access as i32,
        description: "VPN access for two engineers".into(),
        ..Default::default()
    }];
    update
        .update_mask
        .as_mut()
        .unwrap()
        .paths
        .push("client_obligations".into());
    update
}

impl TestApp {
    /// A contract in `status` for `opportunity` owned by `owner`, filled to send and with one
    /// client obligation: DRAFT is ready to send; SENT, DECLINED and VOIDED go through sending,
    /// SIGNED through both signatures, ACTIVE through the order, TERMINATED ends an ACTIVE one,
    /// each move made by the sales manager. EXPIRED (the whole service's clock moves) and
    /// COMPLETED (paid invoices, which the payment API does not serve yet) are not made here.
    pub async fn at(
        &self,
        status: pb::ContractStatus,
        opportunity: &str,
        owner: &str,
    ) -> pb::Contract {
        use pb::ContractStatus as S;
        let mut m = self.manager();
        let draft = self.draft(opportunity, owner).await;
        let c = m
            .update_contract(fill_with_obligation(&draft))
            .await
            .unwrap()
            .into_inner();
        if status == S::Draft {
            return c;
        }
        let c = m.send_contract(send(&c.name)).await.unwrap().into_inner();
        match status {
            S::Sent => return c,
            S::Declined => {
                return m
                    .decline_contract(decline(&c.name))
                    .await
                    .unwrap()
                    .into_inner();
            }
            S::Voided => return m.void_contract(void(&c.name)).await.unwrap().into_inner(),
            _ => {}
        }
        m.sign_contract(sign_by_email(&c.name, "cleo@client.example"))
            .await
            .unwrap();
        let c = m
            .sign_contract(sign_by_email(&c.name, "sam@closeloop.example"))
            .await
            .unwrap()
            .into_inner();
        if status == S::Signed {
            return c;
        }
        let c = m
            .place_order(place_order(&c.name))
            .await
            .unwrap()
            .into_inner()
            .contract
            .unwrap();
        match status {
            S::Active => c,
            S::Terminated => m
                .terminate_contract(terminate(&c.name))
                .await
                .unwrap()
                .into_inner(),
            other => panic!("TestApp::at does not make {other:?} contracts"),
        }
    }

    /// Reads a contract as the sales manager.
    pub async fn read(&self, name: &str) -> pb::Contract {
        self.manager()
            .get_contract(pb::GetContractRequest { name: name.into() })
            .await
            .unwrap()
            .into_inner()
    }
}

pub fn decline(name: &str) -> pb::DeclineContractRequest {
    pb::DeclineContractRequest {
        name: name.into(),
        reason: "the budget was cut".into(),
        ..Default::default()
    }
}

pub fn void(name: &str) -> pb::VoidContractRequest {
    pb::VoidContractRequest {
        name: name.into(),
        reason: "wrong price list".into(),
        ..Default::default()
    }
}

pub fn place_order(name: &str) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        name: name.into(),
        ..Default::default()
    }
}

pub fn complete(name: &str) -> pb::CompleteContractRequest {
    pb::CompleteContractRequest {
        name: name.into(),
        ..Default::default()
    }
}

pub fn terminate(name: &str) -> pb::TerminateContractRequest {
    pb::TerminateContractRequest {
        name: name.into(),
        reason: pb::TerminationReason::ClientRequest as i32,
        ..Default::default()
    }
}

/// Starts work on the contract's first deliverable.
pub fn deliverable_in_progress(c: &pb::Contract) -> pb::UpdateDeliverableStatusRequest {
    pb::UpdateDeliverableStatusRequest {
        name: c.name.clone(),
        deliverable_id: c.deliverables[0].deliverable_id.clone(),
        status: pb::DeliverableStatus::InProgress as i32,
        ..Default::default()
    }
}

/// Starts work on the contract's first client obligation.
pub fn obligation_in_progress(c: &pb::Contract) -> pb::UpdateObligationStatusRequest {
    pb::UpdateObligationStatusRequest {
        name: c.name.clone(),
        obligation_id: c.client_obligations[0].obligation_id.clone(),
        status: common::ObligationStatus::InProgress as i32,
        ..Default::default()
    }
}
