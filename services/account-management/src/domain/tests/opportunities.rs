//! Expansions and referrals, and the CreateOpportunity each owes.

use time::macros::date;

use super::*;
use crate::domain::opportunities::{
    CreateOpportunity, ExpansionInput, OpportunityRequest, ReferralInput, Stakeholder,
    check_request_move, request_move_allowed,
};
use crate::domain::policy::Policy;
use crate::domain::vocabulary::{
    CallState, ExpansionId, ExpansionKind as E, OpportunityKind, OpportunityRequestStatus as R,
    OpportunitySource, ReferralId, StakeholderRole,
};

fn upsell() -> ExpansionInput {
    ExpansionInput {
        kind: E::Upsell,
        title: "20 more seats".into(),
        description: "The finance team grows".into(),
        estimated_value: Some(euros(300_000)),
        expected_close_date: Some(date!(2026 - 06 - 30)),
        renews_contract: None,
        prior_contract_value: None,
        owner: None,
    }
}

fn renewal() -> ExpansionInput {
    ExpansionInput {
        kind: E::Renewal,
        title: "Renew 2027".into(),
        description: String::new(),
        estimated_value: None,
        expected_close_date: None,
        renews_contract: Some("contracts/c1".into()),
        prior_contract_value: None,
        owner: None,
    }
}

fn referral() -> ReferralInput {
    ReferralInput {
        referred_company: Party {
            account_id: "globex".into(),
            display_name: "Globex".into(),
        },
        contact: contact("Hank", "hank@globex.com"),
        contact_role: StakeholderRole::EconomicBuyer,
        title: String::new(),
        notes: "Looking for the same".into(),
        owner: None,
        expected_close_date: None,
    }
}

fn now() -> i64 {
    at(date!(2026 - 05 - 01))
}

#[test]
fn an_upsell_owes_an_expansion_opportunity_for_the_customer() {
    let a = opened();
    let id = ExpansionId::new();
    let (x, call) = a
        .identify_expansion(id.clone(), upsell(), &alice(), now())
        .unwrap();
    assert_eq!(x.name(), format!("accounts/{}/expansions/{id}", a.id));
    assert_eq!(x.owner, "sam");
    assert_eq!(x.identified_by.subject, "alice");
    assert_eq!(
        x.request.command_id,
        format!("create-opportunity-expansion-{id}")
    );
    assert_eq!(x.request.status(Some(&CallState::Pending)), R::Pending);
    assert_eq!(
        call,
        CreateOpportunity {
            request_id: format!("create-opportunity-expansion-{id}"),
            account: a.customer.clone(),
            owner: "sam".into(),
            title: "20 more seats".into(),
            description: "The finance team grows".into(),
            kind: OpportunityKind::Expansion,
            source: OpportunitySource::AccountExpansion,
            currency: eur(),
            expected_close_date: date!(2026 - 06 - 30),
            prior_contract_value: None,
            referring_account: None,
            stakeholders: Vec::new(),
        }
    );
    // The same expansion always owes the same request.
    let (_, again) = a
        .identify_expansion(id, upsell(), &alice(), now() + 1)
        .unwrap();
    assert_eq!(again.request_id, call.request_id);
    // A cross-sell is an EXPANSION too; another owner may be named.
    let cross = ExpansionInput {
        kind: E::CrossSell,
        owner: Some("rita".into()),
        ..upsell()
    };
    let (_, call) = a
        .identify_expansion(ExpansionId::new(), cross, &alice(), now())
        .unwrap();
    assert_eq!(
        (call.kind, call.source, call.owner.as_str()),
        (
            OpportunityKind::Expansion,
            OpportunitySource::AccountExpansion,
            "rita"
        )
    );
}

#[test]
fn a_renewal_defaults_to_the_contracts_value_and_end_date() {
    let a = opened();
    let (x, call) = a
        .identify_expansion(ExpansionId::new(), renewal(), &alice(), now())
        .unwrap();
    assert_eq!(x.prior_contract_value, Some(euros(1_200_000)));
    assert_eq!(x.expected_close_date, date!(2026 - 12 - 31));
    assert_eq!(
        (
            call.kind,
            call.source,
            call.prior_contract_value,
            call.expected_close_date
        ),
        (
            OpportunityKind::Renewal,
            OpportunitySource::Renewal,
            Some(euros(1_200_000)),
            date!(2026 - 12 - 31)
        )
    );
    // Given values win.
    let given = ExpansionInput {
        prior_contract_value: Some(euros(1_000_000)),
        expected_close_date: Some(date!(2026 - 11 - 30)),
        ..renewal()
    };
    let (x, _) = a
        .identify_expansion(ExpansionId::new(), given, &alice(), now())
        .unwrap();
    assert_eq!(
        (x.prior_contract_value, x.expected_close_date),
        (Some(euros(1_000_000)), date!(2026 - 11 - 30))
    );
}

#[test]
fn an_auto_renewing_contract_past_its_end_renews_at_the_end_of_the_running_term() {
    let mut a = opened();
    a.contracts[0].auto_renew = true;
    let later = at(date!(2027 - 03 - 01));
    let (x, _) = a
        .identify_expansion(ExpansionId::new(), renewal(), &alice(), later)
        .unwrap();
    assert_eq!(x.expected_close_date, date!(2027 - 12 - 31));
    assert_eq!(
        a.contracts[0].renewal_date(date!(2029 - 01 - 01)),
        Some(date!(2029 - 12 - 31))
    );
    // Without auto-renewal the end date stays, even once past.
    a.contracts[0].auto_renew = false;
    assert_eq!(
        a.contracts[0].renewal_date(date!(2027 - 03 - 01)),
        Some(date!(2026 - 12 - 31))
    );
}

#[test]
fn an_open_ended_contracts_renewal_needs_a_close_date() {
    let mut a = opened();
    a.contracts[0].end_date = None;
    let err = a
        .identify_expansion(ExpansionId::new(), renewal(), &alice(), now())
        .unwrap_err();
    assert_eq!(fields_of(&err), ["expansion.expected_close_date"]);
    let given = ExpansionInput {
        expected_close_date: Some(date!(2026 - 12 - 31)),
        ..renewal()
    };
    a.identify_expansion(ExpansionId::new(), given, &alice(), now())
        .unwrap();
}

#[test]
fn expansion_values_are_checked() {
    let a = opened();
    let usd = closeloop_kit::types::CurrencyCode::parse("USD").unwrap();
    let cases: Vec<(ExpansionInput, Vec<&str>)> = vec![
        (
            ExpansionInput {
                title: " ".into(),
                description: "x".repeat(5001),
                estimated_value: Some(closeloop_kit::types::Money::new(usd, 5)),
                expected_close_date: None,
                renews_contract: Some("contracts/c1".into()),
                prior_contract_value: Some(euros(1)),
                owner: Some(" sam".into()),
                ..upsell()
            },
            vec![
                "expansion.title",
                "expansion.description",
                "expansion.estimated_value",
                "expansion.owner",
                "expansion.expected_close_date",
                "expansion.renews_contract",
                "expansion.prior_contract_value",
            ],
        ),
        (
            ExpansionInput {
                expected_close_date: Some(date!(2026 - 04 - 30)),
                ..upsell()
            },
            vec!["expansion.expected_close_date"],
        ),
        (
            ExpansionInput {
                renews_contract: None,
                ..renewal()
            },
            vec!["expansion.renews_contract"],
        ),
        (
            ExpansionInput {
                renews_contract: Some("contracts/zzz".into()),
                ..renewal()
            },
            vec!["expansion.renews_contract"],
        ),
        (
            ExpansionInput {
                prior_contract_value: Some(euros(0)),
                expected_close_date: Some(date!(2026 - 04 - 01)),
                ..renewal()
            },
            vec![
                "expansion.expected_close_date",
                "expansion.prior_contract_value",
            ],
        ),
    ];
    for (input, expected) in cases {
        let err = a
            .identify_expansion(ExpansionId::new(), input, &alice(), now())
            .unwrap_err();
        assert_eq!(fields_of(&err), expected);
    }
}

#[test]
fn no_expansion_on_a_churned_account_but_referrals_in_every_status() {
    let churned = in_status(AccountStatus::Churned);
    let err = churned
        .identify_expansion(ExpansionId::new(), upsell(), &alice(), now())
        .unwrap_err();
    assert_eq!(
        gates(&err),
        [("account_status".to_owned(), "CHURNED".to_owned())]
    );
    for status in AccountStatus::ALL {
        in_status(status)
            .record_referral(
                ReferralId::new(),
                referral(),
                &alice(),
                &Policy::default(),
                now(),
            )
            .unwrap();
    }
    in_status(AccountStatus::AtRisk)
        .identify_expansion(ExpansionId::new(), upsell(), &alice(), now())
        .unwrap();
}

#[test]
fn a_referral_owes_a_new_business_opportunity_for_the_referred_company() {
    let a = opened();
    let id = ReferralId::new();
    let (r, call) = a
        .record_referral(id.clone(), referral(), &alice(), &Policy::default(), now())
        .unwrap();
    assert_eq!(r.name(), format!("accounts/{}/referrals/{id}", a.id));
    assert_eq!(r.title, "Referral from Acme Corp");
    assert_eq!(r.expected_close_date, date!(2026 - 07 - 30));
    assert_eq!(r.owner, "sam");
    assert_eq!(r.recorded_by.subject, "alice");
    assert_eq!(
        call,
        CreateOpportunity {
            request_id: format!("create-opportunity-referral-{id}"),
            account: Party {
                account_id: "globex".into(),
                display_name: "Globex".into()
            },
            owner: "sam".into(),
            title: "Referral from Acme Corp".into(),
            description: "Looking for the same".into(),
            kind: OpportunityKind::NewBusiness,
            source: OpportunitySource::Referral,
            currency: eur(),
            expected_close_date: date!(2026 - 07 - 30),
            prior_contract_value: None,
            referring_account: Some(a.customer.clone()),
            stakeholders: vec![Stakeholder {
                contact: contact("Hank", "hank@globex.com"),
                role: StakeholderRole::EconomicBuyer,
                primary: true,
            }],
        }
    );
}

#[test]
fn the_default_title_is_cut_to_fit_and_given_values_win() {
    let mut a = opened();
    a.customer.display_name = "é".repeat(100);
    let given = ReferralInput {
        owner: Some("rita".into()),
        expected_close_date: Some(date!(2026 - 05 - 01)),
        ..referral()
    };
    let (r, _) = a
        .record_referral(
            ReferralId::new(),
            given,
            &alice(),
            &Policy::default(),
            now(),
        )
        .unwrap();
    assert!(r.title.len() <= 200, "{}", r.title.len());
    assert!(r.title.starts_with("Referral from é"));
    assert_eq!(
        (r.owner.as_str(), r.expected_close_date),
        ("rita", date!(2026 - 05 - 01))
    );
    let titled = ReferralInput {
        title: "Globex platform".into(),
        ..referral()
    };
    let (r, _) = a
        .record_referral(
            ReferralId::new(),
            titled,
            &alice(),
            &Policy::default(),
            now(),
        )
        .unwrap();
    assert_eq!(r.title, "Globex platform");
}

#[test]
fn what_the_opportunities_service_would_refuse_is_refused_at_once() {
    let a = opened();
    let bad = ReferralInput {
        referred_company: Party {
            account_id: "acme".into(),
            display_name: String::new(),
        },
        contact: Contact {
            display_name: String::new(),
            email: None,
            phone: "1".repeat(51),
            title: String::new(),
        },
        contact_role: StakeholderRole::User,
        title: "t".repeat(201),
        notes: "n".repeat(5001),
        owner: Some(String::new()),
        expected_close_date: Some(date!(2026 - 04 - 30)),
    };
    let err = a
        .record_referral(ReferralId::new(), bad, &alice(), &Policy::default(), now())
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        [
            "referral.referred_company.account_id",
            "referral.referred_company.display_name",
            "referral.contact.display_name",
            "referral.contact.email",
            "referral.contact.phone",
            "referral.title",
            "referral.notes",
            "referral.owner",
            "referral.expected_close_date",
        ]
    );
}

#[test]
fn a_request_follows_its_owed_call() {
    let mut r = OpportunityRequest {
        command_id: "create-opportunity-expansion-x".into(),
        opportunity: None,
        open_time: None,
    };
    let refused = CallState::Refused {
        code: "INVALID_ARGUMENT".into(),
        message: "invalid argument: opportunity.title: required".into(),
    };
    assert_eq!(r.status(Some(&CallState::Pending)), R::Pending);
    assert_eq!(r.status(Some(&refused)), R::Failed);
    assert_eq!(
        r.failure_reason(Some(&refused)),
        "invalid argument: opportunity.title: required"
    );
    assert_eq!(r.failure_reason(Some(&CallState::Pending)), "");
    // Delivered, or gone from the outbox (only delivered calls are deleted): OPENED.
    assert_eq!(r.status(Some(&CallState::Delivered)), R::Opened);
    assert_eq!(r.status(None), R::Opened);
    assert!(r.record_opened("opportunities/o1".into(), 5));
    assert!(!r.record_opened("opportunities/o2".into(), 6));
    assert_eq!(
        (r.opportunity.as_deref(), r.open_time),
        (Some("opportunities/o1"), Some(5))
    );
    assert_eq!(r.status(Some(&CallState::Pending)), R::Opened);
}

#[test]
fn request_statuses_move_only_as_the_outbox_does() {
    for from in R::ALL {
        for to in R::ALL {
            let expected = matches!(
                (from, to),
                (R::Pending, R::Opened) | (R::Pending, R::Failed) | (R::Failed, R::Pending)
            );
            assert_eq!(
                request_move_allowed(from, to),
                expected,
                "{from:?} -> {to:?}"
            );
            match check_request_move(from, to) {
                Ok(()) => assert!(expected),
                Err(e) => {
                    assert!(!expected);
                    assert_eq!(gates(&e), [("status".to_owned(), from.code().to_owned())]);
                }
            }
        }
    }
}
