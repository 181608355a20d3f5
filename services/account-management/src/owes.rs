//! What the service owes the opportunities service: the CreateOpportunity each expansion and
//! referral owes, built from the domain's [`CreateOpportunity`] with its derived request id as
//! the outbox command's id, so that however often it is delivered one opportunity is created.

use closeloop_kit::convert::{date_to_proto, money_to_proto};
use closeloop_kit::outbox::{Owed, OwedState, OwedStatus};
use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as opp;

use crate::domain::opportunities::{CREATE_OPPORTUNITY, CreateOpportunity};
use crate::domain::vocabulary::{
    CallState, Contact, OpportunityKind, OpportunitySource, Party, StakeholderRole,
};

fn party(p: &Party) -> common::Party {
    common::Party {
        account_id: p.account_id.clone(),
        display_name: p.display_name.clone(),
    }
}

fn contact(c: &Contact) -> common::Contact {
    common::Contact {
        display_name: c.display_name.clone(),
        email: c
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        phone: c.phone.clone(),
        title: c.title.clone(),
    }
}

fn kind(k: OpportunityKind) -> opp::OpportunityKind {
    match k {
        OpportunityKind::NewBusiness => opp::OpportunityKind::NewBusiness,
        OpportunityKind::Expansion => opp::OpportunityKind::Expansion,
        OpportunityKind::Renewal => opp::OpportunityKind::Renewal,
    }
}

fn source(s: OpportunitySource) -> opp::OpportunitySource {
    match s {
        OpportunitySource::Referral => opp::OpportunitySource::Referral,
        OpportunitySource::AccountExpansion => opp::OpportunitySource::AccountExpansion,
        OpportunitySource::Renewal => opp::OpportunitySource::Renewal,
    }
}

/// The opportunities service's stakeholder role.
pub fn stakeholder_role(r: StakeholderRole) -> opp::StakeholderRole {
    match r {
        StakeholderRole::DecisionMaker => opp::StakeholderRole::DecisionMaker,
        StakeholderRole::EconomicBuyer => opp::StakeholderRole::EconomicBuyer,
        StakeholderRole::Champion => opp::StakeholderRole::Champion,
        StakeholderRole::TechnicalEvaluator => opp::StakeholderRole::TechnicalEvaluator,
        StakeholderRole::Influencer => opp::StakeholderRole::Influencer,
        StakeholderRole::User => opp::StakeholderRole::User,
    }
}

/// The domain's stakeholder role of the opportunities service's, `None` for UNSPECIFIED.
pub fn stakeholder_role_of(r: opp::StakeholderRole) -> Option<StakeholderRole> {
    Some(match r {
        opp::StakeholderRole::Unspecified => return None,
        opp::StakeholderRole::DecisionMaker => StakeholderRole::DecisionMaker,
        opp::StakeholderRole::EconomicBuyer => StakeholderRole::EconomicBuyer,
        opp::StakeholderRole::Champion => StakeholderRole::Champion,
        opp::StakeholderRole::TechnicalEvaluator => StakeholderRole::TechnicalEvaluator,
        opp::StakeholderRole::Influencer => StakeholderRole::Influencer,
        opp::StakeholderRole::User => StakeholderRole::User,
    })
}

/// The CreateOpportunity `c` describes, owed under its request id.
pub fn create_opportunity(c: &CreateOpportunity) -> Owed {
    Owed::call_with_id(c.request_id.clone(), CREATE_OPPORTUNITY, |id| {
        opp::CreateOpportunityRequest {
            opportunity: Some(opp::Opportunity {
                account: Some(party(&c.account)),
                owner: c.owner.clone(),
                title: c.title.clone(),
                description: c.description.clone(),
                kind: kind(c.kind) as i32,
                source: source(c.source) as i32,
                currency_code: c.currency.as_str().to_owned(),
                expected_close_date: Some(date_to_proto(c.expected_close_date)),
                prior_contract_value: c.prior_contract_value.map(money_to_proto),
                referring_account: c.referring_account.as_ref().map(party),
                stakeholders: c
                    .stakeholders
                    .iter()
                    .map(|s| opp::Stakeholder {
                        contact: Some(contact(&s.contact)),
                        role: stakeholder_role(s.role) as i32,
                        primary: s.primary,
                    })
                    .collect(),
                ..Default::default()
            }),
            request_id: id.to_owned(),
            initial_stage: 0,
        }
    })
}

/// The owed call's state as the domain reads it.
pub fn call_state(s: &OwedStatus) -> CallState {
    match &s.state {
        OwedState::Pending => CallState::Pending,
        OwedState::Delivered => CallState::Delivered,
        OwedState::Refused { code, message } => CallState::Refused {
            code: code.clone(),
            message: message.clone(),
        },
    }
}
