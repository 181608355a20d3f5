//! The synchronous calls the service makes to its peers, each with a deadline (the channel's
//! `outbox.call_timeout_ms`): GetOpportunity on the opportunities service, for the prefill, with
//! a bounded retry, and what the opportunity says in the domain's words ([`OpportunityFacts`]);
//! ListAccounts on account-management, to learn which account a delivered OpenAccount opened
//! ([`Accounts`]).
//!
//! No call is made inside a transaction: the app reads first, then writes.

use std::time::Duration;

use closeloop_kit::client::{PeerChannel, ServiceCredentials, is_retryable};
use closeloop_kit::outbox::code_name;
use closeloop_kit::types::Email;
use closeloop_proto::accounts::v1 as accounts;
use closeloop_proto::accounts::v1::account_service_client::AccountServiceClient;
use closeloop_proto::opportunities::v1 as opp;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;

use crate::domain::handoff::Stakeholder;
use crate::domain::lifecycle::{Objective, OpportunityFacts};
use crate::domain::limits::{MAX_PHONE, MAX_TITLE, cut};
use crate::domain::vocabulary::{Contact, StakeholderRole};

/// The method read.
pub const GET_OPPORTUNITY: &str = "closeloop.opportunities.v1.OpportunityService/GetOpportunity";

/// Pause between two attempts of one read.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// What one read of an opportunity found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpportunityRead {
    /// The opportunity, as prefill uses it.
    Found(OpportunityFacts),
    /// NOT_FOUND: it does not exist (or the service may not read it). Not retried.
    Missing(String),
    /// Anything else (down, slow, refusing): why. Retried later.
    Failed(String),
}

/// The opportunities service, as the prefill reads it.
#[derive(Clone)]
pub struct Opportunities {
    channel: PeerChannel,
    credentials: ServiceCredentials,
    attempts: u32,
}

impl Opportunities {
    /// Reads over `channel` (which carries the call deadline) as `credentials`, up to `attempts`
    /// times per read.
    pub fn new(channel: PeerChannel, credentials: ServiceCredentials, attempts: u32) -> Self {
        Opportunities {
            channel,
            credentials,
            attempts: attempts.max(1),
        }
    }

    /// Reads `name` (`opportunities/{opportunity}`): a transient failure (UNAVAILABLE,
    /// DEADLINE_EXCEEDED, …) is tried again, up to the configured attempts.
    pub async fn read(&self, name: &str) -> OpportunityRead {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = tonic::Request::new(opp::GetOpportunityRequest {
                name: name.to_owned(),
            });
            self.credentials.prepare(&mut request);
            let answer = OpportunityServiceClient::new(self.channel.clone())
                .get_opportunity(request)
                .await;
            match answer {
                Ok(found) => return OpportunityRead::Found(facts(&found.into_inner())),
                Err(status) if status.code() == tonic::Code::NotFound => {
                    return OpportunityRead::Missing(format!(
                        "{name} does not exist in the opportunities service"
                    ));
                }
                Err(status) if is_retryable(&status) && attempt < self.attempts => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(status) => {
                    return OpportunityRead::Failed(failure(&status));
                }
            }
        }
    }
}

/// account-management, as the follow-up of OpenAccount reads it.
#[derive(Clone)]
pub struct Accounts {
    channel: PeerChannel,
    credentials: ServiceCredentials,
}

impl Accounts {
    /// Reads over `channel` (which carries the call deadline) as `credentials`.
    pub fn new(channel: PeerChannel, credentials: ServiceCredentials) -> Self {
        Accounts {
            channel,
            credentials,
        }
    }

    /// The account (`accounts/{account}`) of the customer `account_id` that holds what the
    /// handoff `handoff` (`handoffs/{handoff}`) brought: opened by it, or extended with its
    /// contract. There is one account per customer. `None` when account-management has none
    /// that does (yet).
    ///
    /// # Errors
    /// Why the read failed (the code's name and the message).
    pub async fn opened_by(
        &self,
        account_id: &str,
        handoff: &str,
    ) -> Result<Option<String>, String> {
        let mut request = tonic::Request::new(accounts::ListAccountsRequest {
            customer_account_id: account_id.to_owned(),
            page_size: 10,
            ..Default::default()
        });
        self.credentials.prepare(&mut request);
        let listed = AccountServiceClient::new(self.channel.clone())
            .list_accounts(request)
            .await
            .map_err(|s| failure(&s))?
            .into_inner();
        Ok(listed
            .accounts
            .into_iter()
            .find(|a| a.handoff == handoff || a.contracts.iter().any(|c| c.handoff == handoff))
            .map(|a| a.name))
    }
}

/// Why a read failed, for `Prefill.failure`: the code's canonical name and the message, bounded.
pub fn failure(status: &tonic::Status) -> String {
    let text = format!("{}: {}", code_name(status.code()), status.message());
    cut(&text, 1000).to_owned()
}

/// The reason given when `peers.opportunities` is not configured.
pub const NOT_CONFIGURED: &str = "UNAVAILABLE: peers.opportunities is not configured; the \
                                  opportunity is read once it is";

/// The stakeholder's role on the handoff (the opportunity's own enum, value by value).
fn role(wire: i32) -> Option<StakeholderRole> {
    use opp::StakeholderRole as W;
    Some(match W::try_from(wire).ok()? {
        W::DecisionMaker => StakeholderRole::DecisionMaker,
        W::EconomicBuyer => StakeholderRole::EconomicBuyer,
        W::Champion => StakeholderRole::Champion,
        W::TechnicalEvaluator => StakeholderRole::TechnicalEvaluator,
        W::Influencer => StakeholderRole::Influencer,
        W::User => StakeholderRole::User,
        W::Unspecified => return None,
    })
}

/// What prefill takes from an opportunity: its stakeholders with a name, an email and a role
/// (what a handoff's stakeholder needs; the opportunities service requires them too, so none is
/// dropped in practice), texts cut to the handoff's limits; its client objectives.
pub fn facts(o: &opp::Opportunity) -> OpportunityFacts {
    let stakeholders = o
        .stakeholders
        .iter()
        .filter_map(|s| {
            let c = s.contact.as_ref()?;
            let display_name = cut(c.display_name.trim(), MAX_TITLE).trim_end().to_owned();
            let email = Email::parse(c.email.trim()).ok()?;
            if display_name.is_empty() {
                return None;
            }
            Some(Stakeholder {
                contact: Contact {
                    display_name,
                    email: Some(email),
                    phone: cut(c.phone.trim(), MAX_PHONE).trim_end().to_owned(),
                    title: cut(c.title.trim(), MAX_TITLE).trim_end().to_owned(),
                },
                role: role(s.role)?,
                primary: s.primary,
            })
        })
        .collect();
    let objectives = o
        .objectives
        .iter()
        .map(|x| Objective {
            description: x.description.clone(),
            success_measure: x.success_measure.clone(),
        })
        .collect();
    OpportunityFacts {
        stakeholders,
        objectives,
    }
}

#[cfg(test)]
mod tests {
    use closeloop_proto::common::v1 as common;

    use super::*;

    #[test]
    fn stakeholders_need_a_name_an_email_and_a_role() {
        let person = |name: &str, email: &str, role: opp::StakeholderRole| opp::Stakeholder {
            contact: Some(common::Contact {
                display_name: name.into(),
                email: email.into(),
                phone: "+49 30 1234".into(),
                title: "CFO".into(),
            }),
            role: role as i32,
            primary: true,
        };
        let o = opp::Opportunity {
            stakeholders: vec![
                person(
                    "Dana",
                    "dana@acme.example",
                    opp::StakeholderRole::EconomicBuyer,
                ),
                person("", "nobody@acme.example", opp::StakeholderRole::User),
                person("No Mail", "", opp::StakeholderRole::User),
                person(
                    "No Role",
                    "x@acme.example",
                    opp::StakeholderRole::Unspecified,
                ),
            ],
            objectives: vec![opp::ClientObjective {
                description: "Cut invoice processing time".into(),
                success_measure: "under 2 days".into(),
            }],
            ..Default::default()
        };
        let f = facts(&o);
        assert_eq!(f.stakeholders.len(), 1);
        let dana = &f.stakeholders[0];
        assert_eq!(dana.contact.display_name, "Dana");
        assert_eq!(dana.role, StakeholderRole::EconomicBuyer);
        assert!(dana.primary);
        assert_eq!(f.objectives[0].success_measure, "under 2 days");
    }

    #[test]
    fn a_failure_names_the_code() {
        let s = tonic::Status::unavailable("connection refused");
        assert_eq!(failure(&s), "UNAVAILABLE: connection refused");
        assert_eq!(
            failure(&tonic::Status::unavailable("x".repeat(5000))).len(),
            1000
        );
    }
}
