//! Spawns the real handoff service through the kit's test harness and hands out typed clients
//! per caller; the requests every test builds.
//!
//! Unless a test configures `peers.opportunities`, the service has no opportunities service to
//! read: every handoff starts with its prefill PENDING, and nothing fills it behind the test's
//! back.

#![allow(dead_code)]

use closeloop_handoff::SERVICE;
use closeloop_kit::Role;
use closeloop_kit::host::Settings;
use closeloop_kit::testing::{Bearer, TestService};
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as pb;
use closeloop_proto::handoff::v1::handoff_service_client::HandoffServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[allow(unused_imports)]
pub use closeloop_kit::testing::{assert_gate, assert_invalid, assert_not_found};

/// A HandoffService client acting as one caller.
pub type Handoffs = HandoffServiceClient<InterceptedService<Channel, Bearer>>;

/// The salesperson of every snapshot here.
pub const SAM: &str = "sam";
/// The account manager handoffs are assigned to.
pub const ALICE: &str = "alice";
/// The contracts service's subject.
pub const CONTRACTS: &str = "closeloop-contracts-payments";

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

    /// Spawns the service with its settings changed by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp(TestService::spawn_with(&SERVICE, adjust).await)
    }

    /// A HandoffService client calling as `subject` with `roles`.
    pub fn handoffs(&self, subject: &str, roles: &[Role]) -> Handoffs {
        HandoffServiceClient::new(self.caller(subject, roles))
    }

    /// The contracts service's relay.
    pub fn service(&self) -> Handoffs {
        self.handoffs(CONTRACTS, &[Role::Service])
    }

    pub fn manager(&self) -> Handoffs {
        self.handoffs("max", &[Role::SalesManager])
    }

    pub fn rep(&self, subject: &str) -> Handoffs {
        self.handoffs(subject, &[Role::SalesRep])
    }

    pub fn am(&self, subject: &str) -> Handoffs {
        self.handoffs(subject, &[Role::AccountManager])
    }

    /// Starts the handoff of order `n` (its contract, order and opportunity named after `n`).
    pub async fn start(&self, n: &str) -> pb::Handoff {
        self.service()
            .start_handoff(start(n))
            .await
            .unwrap()
            .into_inner()
    }

    /// Reads a handoff as the sales manager.
    pub async fn read(&self, name: &str) -> pb::Handoff {
        self.manager()
            .get_handoff(pb::GetHandoffRequest { name: name.into() })
            .await
            .unwrap()
            .into_inner()
    }

    /// Every handoff, as the sales manager sees them.
    pub async fn all(&self) -> Vec<pb::Handoff> {
        self.manager()
            .list_handoffs(pb::ListHandoffsRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .handoffs
    }

    /// A DRAFT handoff of order `n` where every readiness item is met: filled by the sales
    /// manager, assigned to alice, its introduction scheduled.
    pub async fn complete(&self, n: &str) -> pb::Handoff {
        let h = self.start(n).await;
        let mut m = self.manager();
        let h = m.update_handoff(fill(&h)).await.unwrap().into_inner();
        m.schedule_introduction(schedule(&h.name))
            .await
            .unwrap()
            .into_inner()
    }

    /// A READY handoff of order `n`, its introduction scheduled.
    pub async fn ready(&self, n: &str) -> pb::Handoff {
        let h = self.complete(n).await;
        self.manager()
            .submit_handoff(submit(&h.name))
            .await
            .unwrap()
            .into_inner()
    }

    /// A READY handoff of order `n` whose introduction is completed: it can be accepted.
    pub async fn introduced(&self, n: &str) -> pb::Handoff {
        let h = self.ready(n).await;
        self.manager()
            .complete_introduction(complete_introduction(&h.name))
            .await
            .unwrap()
            .into_inner()
    }

    /// An ACCEPTED handoff of order `n`.
    pub async fn accepted(&self, n: &str) -> pb::Handoff {
        let h = self.introduced(n).await;
        self.manager()
            .accept_handoff(accept(&h.name))
            .await
            .unwrap()
            .into_inner()
    }

    /// A handoff of order `n` in `status`: DRAFT complete (introduction scheduled), READY with
    /// its introduction scheduled, ACCEPTED.
    pub async fn at(&self, status: pb::HandoffStatus, n: &str) -> pb::Handoff {
        match status {
            pb::HandoffStatus::Draft => self.complete(n).await,
            pb::HandoffStatus::Ready => self.ready(n).await,
            pb::HandoffStatus::Accepted => self.accepted(n).await,
            other => panic!("no handoff is {other:?}"),
        }
    }

    /// The commands in the outbox: id, method and payload.
    pub async fn outbox(&self) -> Vec<(String, String, Vec<u8>)> {
        sqlx::query_as("SELECT id, topic, payload FROM outbox ORDER BY id")
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

pub fn person(name: &str, email: &str) -> Option<common::Contact> {
    Some(common::Contact {
        display_name: name.into(),
        email: email.into(),
        ..Default::default()
    })
}

/// What the contracts service sends when the order of contract `c-{n}` is placed, as its
/// `owes.rs` builds it: the contract `contracts/c-{n}`, its order `contracts/c-{n}/orders/o-{n}`,
/// the opportunity `opportunities/p-{n}`, sold by sam to Acme: EUR 1,200.00 over 12 months
/// from 2027-01-01, two deliverables (the second due first), one client obligation, two
/// installments, one line item, two signers. Every status is set, so the handoff's snapshot
/// reads back exactly as sent.
pub fn snapshot(n: &str) -> pb::ContractSnapshot {
    let contract = format!("contracts/c-{n}");
    pb::ContractSnapshot {
        contract: contract.clone(),
        order: format!("{contract}/orders/o-{n}"),
        opportunity: format!("opportunities/p-{n}"),
        account: Some(common::Party {
            account_id: "acme".into(),
            display_name: "Acme GmbH".into(),
        }),
        salesperson: SAM.into(),
        title: "Acme analytics".into(),
        contract_value: money(120_000),
        start_date: day(2027, 1, 1),
        end_date: day(2027, 12, 31),
        term_months: 12,
        auto_renew: true,
        payment_terms_days: 30,
        deliverables: vec![
            pb::ContractDeliverable {
                deliverable_id: "deliverable-1".into(),
                description: "Platform set-up".into(),
                due_date: day(2027, 3, 1),
                status: common::ObligationStatus::Pending as i32,
            },
            pb::ContractDeliverable {
                deliverable_id: "deliverable-2".into(),
                description: "Kick-off training".into(),
                due_date: day(2027, 2, 1),
                status: common::ObligationStatus::InProgress as i32,
            },
        ],
        client_obligations: vec![pb::ClientObligation {
            obligation_id: "obligation-1".into(),
            kind: common::ObligationKind::Access as i32,
            description: "VPN access for two engineers".into(),
            due_date: day(2027, 1, 15),
            status: common::ObligationStatus::Pending as i32,
        }],
        payment_schedule: vec![
            pb::PaymentInstallment {
                installment_id: "installment-1".into(),
                amount: money(20_000),
                due_date: day(2027, 1, 1),
                invoice: format!("{contract}/invoices/i-{n}"),
                description: "Setup fee".into(),
            },
            pb::PaymentInstallment {
                installment_id: "installment-2".into(),
                amount: money(100_000),
                due_date: day(2027, 2, 1),
                invoice: String::new(),
                description: String::new(),
            },
        ],
        line_items: vec![pb::ContractLineItem {
            product_id: "sku-1".into(),
            product_name: "Analytics".into(),
            quantity: 2,
            unit_price: money(60_000),
            unit_cost: money(15_000),
            amount: money(120_000),
        }],
        signers: vec![
            pb::ContractSigner {
                contact: person("Cleo Client", "cleo@acme.example"),
                side: pb::PartySide::Client as i32,
                sign_time: Some(prost_types::Timestamp {
                    seconds: 1_790_000_000,
                    nanos: 0,
                }),
            },
            pb::ContractSigner {
                contact: person("Sam Seller", "sam@closeloop.example"),
                side: pb::PartySide::Company as i32,
                sign_time: None,
            },
        ],
        order_time: Some(prost_types::Timestamp {
            seconds: 1_790_000_100,
            nanos: 0,
        }),
    }
}

/// StartHandoff for order `n`, under the request id the relay would use.
pub fn start(n: &str) -> pb::StartHandoffRequest {
    pb::StartHandoffRequest {
        contract_snapshot: Some(snapshot(n)),
        request_id: format!("start-{n}"),
    }
}

pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

/// An update of `h` replacing the fields of `mask` with the values of `with`.
pub fn update(h: &pb::Handoff, with: pb::Handoff, paths: &[&str]) -> pb::UpdateHandoffRequest {
    pb::UpdateHandoffRequest {
        handoff: Some(pb::Handoff {
            name: h.name.clone(),
            ..with
        }),
        update_mask: mask(paths),
        request_id: String::new(),
    }
}

/// Everything the salesperson completes, met for readiness (the timeline comes from the
/// snapshot): one need, one goal with a criterion, no verbal commitments, one primary
/// stakeholder, a DAY_TO_DAY and a BILLING contact, one step with owner and due date, and alice
/// as account manager.
pub fn filled() -> pb::Handoff {
    pb::Handoff {
        customer_needs: vec![pb::CustomerNeed {
            description: "Invoices approved without paper".into(),
            details: "Finance team of 12".into(),
        }],
        goals: vec![pb::Goal {
            description: "Cut invoice processing time".into(),
            success_criteria: vec![pb::SuccessCriterion {
                description: "under 2 days by Q3".into(),
                target_date: day(2027, 9, 30),
            }],
            ..Default::default()
        }],
        no_verbal_commitments: true,
        stakeholders: vec![pb::Stakeholder {
            contact: person("Carla Champion", "carla@acme.example"),
            role: pb::StakeholderRole::Champion as i32,
            primary: true,
        }],
        support_contacts: vec![
            pb::SupportContact {
                kind: pb::SupportContactKind::DayToDay as i32,
                contact: person("Dan Daily", "dan@acme.example"),
                notes: String::new(),
            },
            pb::SupportContact {
                kind: pb::SupportContactKind::Billing as i32,
                contact: person("Bea Billing", "bea@acme.example"),
                notes: String::new(),
            },
        ],
        onboarding_plan: vec![pb::OnboardingStep {
            title: "Kick-off workshop".into(),
            owner: "olga".into(),
            due_date: day(2027, 1, 20),
            ..Default::default()
        }],
        account_manager: ALICE.into(),
        ..Default::default()
    }
}

/// The paths [`filled`] sets.
pub const FILLED: &[&str] = &[
    "customer_needs",
    "goals",
    "no_verbal_commitments",
    "stakeholders",
    "support_contacts",
    "onboarding_plan",
    "account_manager",
];

/// The update that fills `h` ([`filled`]).
pub fn fill(h: &pb::Handoff) -> pb::UpdateHandoffRequest {
    update(h, filled(), FILLED)
}

pub fn attendee(name: &str, side: pb::PartySide, subject: &str) -> pb::IntroductionAttendee {
    pb::IntroductionAttendee {
        contact: person(name, &format!("{}@example.com", name.to_lowercase())),
        side: side as i32,
        subject: subject.into(),
    }
}

/// A joint call with Carla (client) and alice (company).
pub fn schedule(name: &str) -> pb::ScheduleIntroductionRequest {
    pb::ScheduleIntroductionRequest {
        name: name.into(),
        kind: pb::IntroductionKind::JointCall as i32,
        schedule_time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        attendees: vec![
            attendee("Carla", pb::PartySide::Client, ""),
            attendee("Alice", pb::PartySide::Company, ALICE),
        ],
        location: "https://meet.example.com/acme".into(),
        notes: "Agenda: goals, onboarding".into(),
        ..Default::default()
    }
}

/// The scheduled introduction took place (now).
pub fn complete_introduction(name: &str) -> pb::CompleteIntroductionRequest {
    pb::CompleteIntroductionRequest {
        name: name.into(),
        notes: "Went well".into(),
        ..Default::default()
    }
}

pub fn submit(name: &str) -> pb::SubmitHandoffRequest {
    pb::SubmitHandoffRequest {
        name: name.into(),
        ..Default::default()
    }
}

pub fn reject(name: &str, reasons: &[&str]) -> pb::RejectHandoffRequest {
    pb::RejectHandoffRequest {
        name: name.into(),
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

pub fn accept(name: &str) -> pb::AcceptHandoffRequest {
    pb::AcceptHandoffRequest {
        name: name.into(),
        ..Default::default()
    }
}

pub fn assign(name: &str, account_manager: &str) -> pb::AssignAccountManagerRequest {
    pb::AssignAccountManagerRequest {
        name: name.into(),
        account_manager: account_manager.into(),
        ..Default::default()
    }
}

/// The first onboarding step of `h` moves to IN_PROGRESS.
pub fn step_in_progress(h: &pb::Handoff) -> pb::UpdateOnboardingStepStatusRequest {
    pb::UpdateOnboardingStepStatusRequest {
        name: h.name.clone(),
        step_id: h
            .onboarding_plan
            .first()
            .map(|s| s.step_id.clone())
            .unwrap_or_else(|| "step-1".into()),
        status: pb::OnboardingStepStatus::InProgress as i32,
        ..Default::default()
    }
}

/// The missing items of a readiness: (code, field).
pub fn missing(r: &pb::Readiness) -> Vec<(String, String)> {
    r.missing
        .iter()
        .map(|m| (m.code.clone(), m.field.clone()))
        .collect()
}
