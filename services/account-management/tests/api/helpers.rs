//! Spawns the real account-management service through the kit's test harness and hands out
//! typed clients per caller; the requests every test builds.

#![allow(dead_code)]

use closeloop_account_management::SERVICE;
use closeloop_kit::Role;
use closeloop_kit::testing::{Bearer, TestService};
use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::accounts::v1::account_service_client::AccountServiceClient;
use closeloop_proto::common::v1 as common;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[allow(unused_imports)]
pub use closeloop_kit::testing::{assert_gate, assert_invalid, assert_not_found};

/// An AccountService client acting as one caller.
pub type Accounts = AccountServiceClient<InterceptedService<Channel, Bearer>>;

/// The account manager of the accounts the tests open.
pub const AM: &str = "amy";
/// The salesperson of the accounts the tests open.
pub const REP: &str = "sam";

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

    /// A client calling as `subject` with `roles`.
    pub fn client(&self, subject: &str, roles: &[Role]) -> Accounts {
        AccountServiceClient::new(self.caller(subject, roles))
    }

    /// The handoff service's relay.
    pub fn service(&self) -> Accounts {
        self.client("closeloop-handoff", &[Role::Service])
    }

    /// The accounts' own manager.
    pub fn am(&self) -> Accounts {
        self.client(AM, &[Role::AccountManager])
    }

    pub fn sales_manager(&self) -> Accounts {
        self.client("max", &[Role::SalesManager])
    }

    /// Opens the account of `customer` from handoff `handoff`.
    pub async fn open(&self, customer: &str, handoff: &str) -> pb::Account {
        self.service()
            .open_account(open_request(self, customer, handoff))
            .await
            .unwrap()
            .into_inner()
    }

    /// Today on the service's clock, on the wire.
    pub fn today(&self) -> common::Date {
        wire_date(self.clock.today())
    }

    /// A date `days` from the service's today, on the wire.
    pub fn days_from_today(&self, days: i64) -> common::Date {
        wire_date(self.clock.today() + time::Duration::days(days))
    }
}

pub fn wire_date(d: time::Date) -> common::Date {
    common::Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    }
}

pub fn money(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

/// What the handoff service sends when handoff `handoff` for `customer` is accepted: a 12-month
/// contract worth EUR 12,000 that started 30 days ago, one goal, a deliverable and an
/// installment, a primary contact, a need.
pub fn open_request(app: &TestApp, customer: &str, handoff: &str) -> pb::OpenAccountRequest {
    let start = app.clock.today() - time::Duration::days(30);
    let end = start + time::Duration::days(364);
    let contract = format!("contracts/c-{handoff}");
    pb::OpenAccountRequest {
        account: Some(pb::Account {
            customer: Some(common::Party {
                account_id: customer.into(),
                display_name: format!("{customer} GmbH"),
            }),
            handoff: format!("handoffs/{handoff}"),
            account_manager: AM.into(),
            salesperson: REP.into(),
            contracts: vec![pb::ContractReference {
                contract: contract.clone(),
                opportunity: format!("opportunities/o-{handoff}"),
                value: money(1_200_000),
                start_date: Some(wire_date(start)),
                end_date: Some(wire_date(end)),
                term_months: 12,
                gross_margin_bps: 6000,
                title: "Platform licence".into(),
                ..Default::default()
            }],
            outcomes: vec![pb::Outcome {
                goal: "Cut invoice processing time".into(),
                success_criteria: vec!["under 2 days by Q3".into()],
                ..Default::default()
            }],
            obligations: vec![
                pb::Obligation {
                    party: pb::ObligationParty::Company as i32,
                    kind: common::ObligationKind::Deliverable as i32,
                    description: "Onboarding workshop".into(),
                    contract: contract.clone(),
                    external_id: "d-1".into(),
                    status: common::ObligationStatus::Pending as i32,
                    ..Default::default()
                },
                pb::Obligation {
                    party: pb::ObligationParty::Client as i32,
                    kind: common::ObligationKind::Payment as i32,
                    description: "First installment".into(),
                    amount: money(600_000),
                    contract,
                    external_id: "i-1".into(),
                    ..Default::default()
                },
            ],
            contacts: vec![pb::AccountContact {
                contact: Some(common::Contact {
                    display_name: "Cleo Client".into(),
                    email: "cleo@client.example".into(),
                    ..Default::default()
                }),
                role: pb::ContactRole::DayToDay as i32,
                primary: true,
            }],
            needs: vec!["Faster invoicing".into()],
            notes: "Handed off".into(),
            ..Default::default()
        }),
        request_id: format!("open-account-{handoff}"),
    }
}

/// An outcome to add.
pub fn outcome() -> pb::Outcome {
    pb::Outcome {
        goal: "Automate month-end close".into(),
        success_criteria: vec!["close in 3 days".into()],
        progress_percent: 10,
        ..Default::default()
    }
}

/// A client obligation to add.
pub fn obligation() -> pb::Obligation {
    pb::Obligation {
        party: pb::ObligationParty::Client as i32,
        kind: common::ObligationKind::Access as i32,
        description: "VPN access for the integration team".into(),
        ..Default::default()
    }
}
