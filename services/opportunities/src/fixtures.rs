//! Domain values the opportunities tests build: one set, shared by the domain's unit tests, the
//! store's tests on both databases and any tool that needs a valid opportunity.

use closeloop_kit::types::{CurrencyCode, Email, Money};
use time::macros::date;

use crate::domain::opportunity::{
    Actor, Closing, Contact, EvaluationProcess, EvaluationStep, Kind, NewLineItem, NewOpportunity,
    NextStep, Objective, Opportunity, OpportunityId, Outcome, Party, QualificationAnswers, Source,
    Stakeholder, StakeholderRole,
};
use crate::domain::policy::Policy;
use crate::domain::stage::Stage;

/// Euros.
pub fn eur() -> CurrencyCode {
    CurrencyCode::parse("EUR").unwrap_or_else(|e| unreachable!("{e}"))
}

/// An id from text that has an id's shape.
///
/// # Panics
/// When it does not: the fixture is wrong.
pub fn oid(s: &str) -> OpportunityId {
    OpportunityId::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// `ana` acting in `role`.
pub fn actor(role: &str) -> Actor {
    Actor {
        subject: "ana".into(),
        role: role.into(),
    }
}

/// A new opportunity of `kind` for `account`, closing 2026-12-15 (a renewal with a prior value
/// of 1,000).
pub fn new_opportunity(owner: &str, kind: Kind, account: &str) -> NewOpportunity {
    NewOpportunity {
        account: Party {
            account_id: account.into(),
            display_name: account.into(),
        },
        owner: owner.into(),
        title: format!("{account} deal"),
        description: String::new(),
        kind,
        source: Source::Inbound,
        currency: eur(),
        expected_close_date: date!(2026 - 12 - 15),
        stakeholders: vec![],
        objectives: vec![],
        evaluation: EvaluationProcess::default(),
        next_step: None,
        prior_contract_value: (kind == Kind::Renewal).then(|| Money::new(eur(), 1_000)),
        referring_account: None,
        probability_override: None,
        forecast_override: None,
    }
}

/// An opportunity in PROSPECTING, created at time 0.
///
/// # Panics
/// When the fixture is not a valid opportunity.
pub fn opportunity(id: &str, owner: &str, kind: Kind, account: &str) -> Opportunity {
    Opportunity::create(
        oid(id),
        new_opportunity(owner, kind, account),
        owner.into(),
        Stage::Prospecting,
        0,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A line item of `quantity` units at these unit prices, in euros.
pub fn line_item(list: i64, sold: i64, cost: i64, quantity: i64) -> NewLineItem {
    NewLineItem {
        product_id: "sku".into(),
        product_name: "Seat".into(),
        quantity,
        list_unit: Money::new(eur(), list),
        sold_unit: Money::new(eur(), sold),
        unit_cost: Money::new(eur(), cost),
    }
}

/// Qualification answers that pass.
pub fn passing_answers() -> QualificationAnswers {
    QualificationAnswers {
        client_benefit: true,
        realistic_expectations: true,
        mature_partner: true,
        notes: String::new(),
    }
}

/// An opportunity with every part filled, built the same way by the build that wrote the stored
/// document fixtures (`tests/fixtures/`) and by this one.
pub fn full_opportunity() -> Opportunity {
    let eur = eur();
    let p = Policy::default();
    let rep = Actor {
        subject: "ana".into(),
        role: "sales_rep".into(),
    };
    let new = NewOpportunity {
        account: Party {
            account_id: "acme".into(),
            display_name: "Acme".into(),
        },
        owner: "ana".into(),
        title: "Full".into(),
        description: "Everything filled".into(),
        kind: Kind::Renewal,
        source: Source::Referral,
        currency: eur,
        expected_close_date: date!(2026 - 12 - 15),
        stakeholders: vec![Stakeholder {
            contact: Contact {
                display_name: "Dana".into(),
                email: Email::parse("dana@acme.example").unwrap_or_else(|e| panic!("{e}")),
                phone: "+1 555".into(),
                title: "CFO".into(),
            },
            role: StakeholderRole::EconomicBuyer,
            primary: true,
        }],
        objectives: vec![Objective {
            description: "Faster close".into(),
            success_measure: "5 days".into(),
        }],
        evaluation: EvaluationProcess {
            criteria: vec!["price".into()],
            steps: vec![EvaluationStep {
                description: "demo".into(),
                due_date: Some(date!(2026 - 10 - 01)),
                completed: true,
            }],
            time_frame: Some((date!(2026 - 09 - 01), date!(2026 - 11 - 30))),
        },
        next_step: Some(NextStep {
            description: "sign".into(),
            due_date: None,
        }),
        prior_contract_value: Some(Money::new(eur, 50_000)),
        referring_account: Some(Party {
            account_id: "globex".into(),
            display_name: "Globex".into(),
        }),
        probability_override: Some(40),
        forecast_override: None,
    };
    let mut o = Opportunity::create(
        oid("0190-full"),
        new,
        "ana".into(),
        Stage::Prospecting,
        1_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    o.add_line_item(
        NewLineItem {
            product_id: "seat".into(),
            product_name: "Seat".into(),
            quantity: 10,
            list_unit: Money::new(eur, 1_200),
            sold_unit: Money::new(eur, 900),
            unit_cost: Money::new(eur, 100),
        },
        2_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let manager = Actor {
        subject: "max".into(),
        role: "sales_manager".into(),
    };
    o.approve_discount("li-1", "strategic".into(), manager, &p, 3_000)
        .unwrap_or_else(|e| panic!("{e}"));
    o.move_to(Stage::Qualification, rep.clone(), &p, 4_000)
        .unwrap_or_else(|e| panic!("{e}"));
    o.qualify(
        QualificationAnswers {
            client_benefit: true,
            realistic_expectations: true,
            mature_partner: true,
            notes: "ok".into(),
        },
        rep.clone(),
        5_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    o.move_to(Stage::Proposal, rep.clone(), &p, 6_000)
        .unwrap_or_else(|e| panic!("{e}"));
    o.move_to(Stage::Negotiation, rep.clone(), &p, 7_000)
        .unwrap_or_else(|e| panic!("{e}"));
    o.close(
        Closing {
            outcome: Outcome::Won,
            close_date: Some(date!(2026 - 06 - 01)),
            loss_reason: None,
            disqualification_reason: None,
            competitor: String::new(),
            notes: "signed".into(),
        },
        rep,
        &p,
        date!(2026 - 06 - 01),
        8_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    o
}
