//! The aggregate's rules, exercised without I/O: gates, discounts and their approvals, closing,
//! pushes and overrides, links of renewals and referrals, bounds.

use closeloop_kit::Problem;
use closeloop_kit::types::{CurrencyCode, Money};

use super::gates;
use super::opportunity::*;
use super::policy::Policy;
use super::stage::{ForecastCategory, Stage};
use crate::fixtures::{self, actor, eur, line_item, oid, opportunity};

use time::macros::date;

fn id(s: &str) -> OpportunityId {
    oid(s)
}

fn new_opportunity() -> NewOpportunity {
    fixtures::new_opportunity("", Kind::NewBusiness, "acme")
}

fn opp() -> Opportunity {
    opportunity("o1", "ana", Kind::NewBusiness, "acme")
}

fn item(list: i64, sold: i64, cost: i64) -> NewLineItem {
    line_item(list, sold, cost, 10)
}

fn qualified(o: &mut Opportunity) {
    o.qualify(
        QualificationAnswers {
            client_benefit: true,
            realistic_expectations: true,
            mature_partner: true,
            notes: String::new(),
        },
        actor("sales_rep"),
        1,
    )
    .unwrap();
}

fn gates_of(err: Problem) -> Vec<(String, String)> {
    match err {
        Problem::FailedPrecondition(v) => v.into_iter().map(|g| (g.gate, g.subject)).collect(),
        other => panic!("expected a gate failure, got {other:?}"),
    }
}

#[test]
fn leaving_qualification_needs_answers_and_margin() {
    let p = Policy::default();
    let mut o = opp();
    o.move_to(Stage::Qualification, actor("sales_rep"), &p, 10)
        .unwrap();
    let unmet = gates_of(
        o.move_to(Stage::Proposal, actor("sales_rep"), &p, 20)
            .unwrap_err(),
    );
    let subjects: Vec<&str> = unmet.iter().map(|(_, s)| s.as_str()).collect();
    assert!(subjects.contains(&"client_benefit_confirmed"));
    assert!(subjects.contains(&"margin"));
    assert!(unmet.iter().all(|(g, _)| g == "qualification"));
    assert_eq!(
        o.stage,
        Stage::Qualification,
        "a refused move changes nothing"
    );

    qualified(&mut o);
    // 10% margin: below the 20% floor.
    o.add_line_item(item(100, 100, 90), 30).unwrap();
    let unmet = gates_of(
        o.move_to(Stage::Proposal, actor("sales_rep"), &p, 40)
            .unwrap_err(),
    );
    assert_eq!(unmet, vec![("qualification".into(), "margin".into())]);

    o.update_line_item(
        "li-1",
        LineItemPatch {
            unit_cost: Some(Money::new(eur(), 80)),
            ..Default::default()
        },
        50,
    )
    .unwrap();
    o.move_to(Stage::Proposal, actor("sales_rep"), &p, 60)
        .unwrap();
    assert_eq!(o.stage_history.len(), 2);
    assert_eq!(o.stage_history[1].time_in_stage, 50);
}

#[test]
fn deep_discounts_need_an_approval_that_covers_them() {
    let p = Policy::default();
    let mut o = opp();
    o.move_to(Stage::Qualification, actor("sales_rep"), &p, 1)
        .unwrap();
    qualified(&mut o);
    // 15% discount, 40% margin.
    o.add_line_item(item(100, 85, 50), 2).unwrap();
    o.move_to(Stage::Proposal, actor("sales_rep"), &p, 3)
        .unwrap();
    let unmet = gates_of(
        o.move_to(Stage::Negotiation, actor("sales_rep"), &p, 4)
            .unwrap_err(),
    );
    assert_eq!(
        unmet,
        vec![("discount_approval".into(), "line_items/li-1".into())]
    );

    o.approve_discount(
        "li-1",
        "strategic logo".into(),
        actor("sales_manager"),
        &p,
        5,
    )
    .unwrap();
    o.move_to(Stage::Negotiation, actor("sales_rep"), &p, 6)
        .unwrap();

    // A shallower discount keeps the approval in effect; a deeper one outgrows it, and the
    // approval stays on record.
    o.update_line_item(
        "li-1",
        LineItemPatch {
            sold_unit: Some(Money::new(eur(), 88)),
            ..Default::default()
        },
        7,
    )
    .unwrap();
    assert!(o.line_items[0].approval().is_some());
    o.update_line_item(
        "li-1",
        LineItemPatch {
            sold_unit: Some(Money::new(eur(), 80)),
            ..Default::default()
        },
        8,
    )
    .unwrap();
    assert!(o.line_items[0].approval().is_none());
    assert_eq!(
        o.line_items[0].approvals.len(),
        1,
        "the approval is kept on record"
    );
    let closing = Closing {
        outcome: Outcome::Won,
        close_date: None,
        loss_reason: None,
        disqualification_reason: None,
        competitor: String::new(),
        notes: String::new(),
    };
    let unmet = gates_of(
        o.close(closing, actor("sales_rep"), &p, date!(2026 - 11 - 23), 9)
            .unwrap_err(),
    );
    assert_eq!(
        unmet,
        vec![("discount_approval".into(), "line_items/li-1".into())]
    );
}

#[test]
fn approving_a_discount_within_threshold_is_refused() {
    let p = Policy::default();
    let mut o = opp();
    o.add_line_item(item(100, 95, 50), 1).unwrap();
    let err = o
        .approve_discount("li-1", "x".into(), actor("sales_manager"), &p, 2)
        .unwrap_err();
    assert_eq!(gates_of(err)[0].0, gates::NO_APPROVAL_NEEDED);
    assert!(matches!(
        o.approve_discount("li-9", "x".into(), actor("sales_manager"), &p, 2),
        Err(Problem::NotFound { .. })
    ));
}

#[test]
fn threshold_is_exact_not_rounded() {
    let p = Policy::default();
    let li = LineItem {
        id: "li-1".into(),
        product_id: "s".into(),
        product_name: "s".into(),
        quantity: 1,
        list_unit: 100_000,
        sold_unit: 89_999, // 10.001%
        unit_cost: 0,
        approvals: vec![],
    };
    assert!(li.requires_approval(&p));
    assert_eq!(li.discount_bps(), 1000);
    assert_eq!(li.discount_bps_ceil(), 1001);
    let at = LineItem {
        sold_unit: 90_000,
        ..li
    };
    assert!(!at.requires_approval(&p));
}

#[test]
fn losing_needs_a_reason_and_closed_is_final() {
    let p = Policy::default();
    let mut o = opp();
    let lost = |reason, competitor: &str, notes: &str| Closing {
        outcome: Outcome::Lost,
        close_date: None,
        loss_reason: reason,
        disqualification_reason: None,
        competitor: competitor.into(),
        notes: notes.into(),
    };
    let today = date!(2026 - 11 - 23);
    assert!(matches!(
        o.close(lost(None, "", ""), actor("r"), &p, today, 1),
        Err(Problem::InvalidArgument(_))
    ));
    assert!(matches!(
        o.close(
            lost(Some(LossReason::Competitor), "", ""),
            actor("r"),
            &p,
            today,
            1
        ),
        Err(Problem::InvalidArgument(_))
    ));
    assert!(matches!(
        o.close(
            lost(Some(LossReason::Other), "", " "),
            actor("r"),
            &p,
            today,
            1
        ),
        Err(Problem::InvalidArgument(_))
    ));
    assert!(o.stage.is_open());
    o.close(
        lost(Some(LossReason::Competitor), "Globex", ""),
        actor("r"),
        &p,
        today,
        2,
    )
    .unwrap();
    assert_eq!(o.stage, Stage::ClosedLost);
    assert_eq!(o.close.as_ref().unwrap().close_date, today);
    assert_eq!(o.forecast_category(), ForecastCategory::Omitted);

    let before = o.clone();
    let closed = |e: Problem| gates_of(e)[0].0 == gates::CLOSED;
    assert!(closed(
        o.update(
            Patch {
                title: Some("x".into()),
                ..Default::default()
            },
            3
        )
        .unwrap_err()
    ));
    assert!(closed(o.add_line_item(item(1, 1, 1), 3).unwrap_err()));
    assert!(closed(
        o.move_to(Stage::Prospecting, actor("r"), &p, 3)
            .unwrap_err()
    ));
    assert!(closed(
        o.close(
            lost(Some(LossReason::Price), "", ""),
            actor("r"),
            &p,
            today,
            3
        )
        .unwrap_err()
    ));
    assert_eq!(o, before);
}

#[test]
fn winning_needs_items_and_positive_amount() {
    let p = Policy::default();
    let mut o = opp();
    o.move_to(Stage::Qualification, actor("r"), &p, 1).unwrap();
    qualified(&mut o);
    o.add_line_item(item(100, 0, 0), 2).unwrap();
    // Free of charge: 100% discount. Approve it so only the amount gate remains.
    o.approve_discount("li-1", "pilot".into(), actor("m"), &p, 3)
        .unwrap();
    let won = Closing {
        outcome: Outcome::Won,
        close_date: Some(date!(2026 - 11 - 20)),
        loss_reason: None,
        disqualification_reason: None,
        competitor: String::new(),
        notes: String::new(),
    };
    // Margin gate fails with zero revenue, so qualification blocks PROPOSAL: give it a price.
    o.update_line_item(
        "li-1",
        LineItemPatch {
            sold_unit: Some(Money::new(eur(), 100)),
            ..Default::default()
        },
        4,
    )
    .unwrap();
    o.move_to(Stage::Proposal, actor("r"), &p, 5).unwrap();
    o.remove_line_item("li-1", 6).unwrap();
    let unmet = gates_of(
        o.close(won.clone(), actor("r"), &p, date!(2026 - 11 - 23), 7)
            .unwrap_err(),
    );
    assert_eq!(
        unmet,
        vec![
            ("qualification".into(), "margin".into()),
            ("line_items".into(), "line_items".into()),
            ("amount".into(), "amount".into())
        ]
    );
    o.add_line_item(item(100, 100, 10), 8).unwrap();
    o.close(won, actor("r"), &p, date!(2026 - 11 - 23), 9)
        .unwrap();
    assert_eq!(o.stage, Stage::ClosedWon);
    assert_eq!(o.probability(&p), 100);
    assert_eq!(o.weighted_amount(&p), 1000);
    assert_eq!(o.forecast_date(), date!(2026 - 11 - 20));
}

#[test]
fn pushes_count_only_later_dates_and_overrides_reset_on_stage_change() {
    let p = Policy::default();
    let mut o = opp();
    let later = Patch {
        expected_close_date: Some(date!(2027 - 01 - 31)),
        ..Default::default()
    };
    let earlier = Patch {
        expected_close_date: Some(date!(2026 - 12 - 01)),
        ..Default::default()
    };
    o.update(later, 1).unwrap();
    o.update(earlier, 2).unwrap();
    assert_eq!(o.push_count, 1);

    o.update(
        Patch {
            probability_override: Some(Some(35)),
            ..Default::default()
        },
        3,
    )
    .unwrap();
    assert_eq!(o.probability(&p), 35);
    let commit = Patch {
        forecast_override: Some(Some(ForecastCategory::Commit)),
        ..Default::default()
    };
    assert_eq!(
        gates_of(o.update(commit, 4).unwrap_err())[0].0,
        gates::FORECAST_OVERRIDE
    );
    o.move_to(Stage::Qualification, actor("r"), &p, 5).unwrap();
    assert_eq!(o.probability(&p), 20);
}

#[test]
fn renewals_and_referrals_need_their_links() {
    let mut n = new_opportunity();
    n.kind = Kind::Renewal;
    n.source = Source::Referral;
    let err =
        Opportunity::create(id("x"), n.clone(), "a".into(), Stage::Prospecting, 0).unwrap_err();
    match err {
        Problem::InvalidArgument(v) => {
            let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(fields, ["prior_contract_value", "referring_account"]);
        }
        other => panic!("{other:?}"),
    }
    n.prior_contract_value = Some(Money::new(CurrencyCode::parse("USD").unwrap(), 5));
    n.referring_account = Some(Party {
        account_id: "r".into(),
        display_name: "R".into(),
    });
    assert!(Opportunity::create(id("x"), n.clone(), "a".into(), Stage::Prospecting, 0).is_err());
    n.prior_contract_value = Some(Money::new(eur(), 5));
    assert!(Opportunity::create(id("x"), n, "a".into(), Stage::Prospecting, 0).is_ok());
}

#[test]
fn currency_is_locked_by_line_items() {
    let mut o = opp();
    o.add_line_item(item(10, 10, 1), 1).unwrap();
    let usd = Patch {
        currency: Some(CurrencyCode::parse("USD").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        gates_of(o.update(usd.clone(), 2).unwrap_err())[0].0,
        gates::CURRENCY_LOCKED
    );
    let wrong = NewLineItem {
        list_unit: Money::new(CurrencyCode::parse("USD").unwrap(), 1),
        ..item(1, 1, 1)
    };
    assert!(matches!(
        o.add_line_item(wrong, 3),
        Err(Problem::InvalidArgument(_))
    ));
    o.remove_line_item("li-1", 4).unwrap();
    o.update(usd, 5).unwrap();
    assert_eq!(o.currency.as_str(), "USD");
    // Ids are never reused.
    o.add_line_item(
        NewLineItem {
            list_unit: Money::new(o.currency, 1),
            sold_unit: Money::new(o.currency, 1),
            unit_cost: Money::new(o.currency, 0),
            ..item(1, 1, 1)
        },
        6,
    )
    .unwrap();
    assert_eq!(o.line_items[0].id, "li-2");
}

#[test]
fn close_dates_are_bounded() {
    let p = Policy::default();
    let lost = |date| Closing {
        outcome: Outcome::Lost,
        close_date: Some(date),
        loss_reason: Some(LossReason::Price),
        disqualification_reason: None,
        competitor: String::new(),
        notes: String::new(),
    };
    // Created 2023-11-14.
    let mut o = Opportunity::create(
        id("o"),
        new_opportunity(),
        "a".into(),
        Stage::Prospecting,
        1_700_000_000_000_000,
    )
    .unwrap();
    let today = date!(2026 - 11 - 23);
    for bad in [date!(2022 - 11 - 01), date!(2026 - 11 - 25)] {
        let refused = o.close(lost(bad), actor("r"), &p, today, 2);
        assert!(matches!(refused, Err(Problem::InvalidArgument(_))), "{bad}");
    }
    assert!(o.stage.is_open());
    o.close(lost(date!(2026 - 11 - 24)), actor("r"), &p, today, 2)
        .unwrap();
}

#[test]
fn a_currency_change_needs_a_new_prior_value() {
    let mut n = new_opportunity();
    n.kind = Kind::Renewal;
    n.prior_contract_value = Some(Money::new(eur(), 100_000));
    let mut o = Opportunity::create(id("o"), n, "a".into(), Stage::Prospecting, 0).unwrap();
    let jpy = CurrencyCode::parse("JPY").unwrap();
    let only_currency = Patch {
        currency: Some(jpy),
        ..Default::default()
    };
    assert!(matches!(
        o.update(only_currency, 1),
        Err(Problem::InvalidArgument(_))
    ));
    let both = Patch {
        currency: Some(jpy),
        prior_contract_value: Some(Some(Money::new(jpy, 15_000_000))),
        ..Default::default()
    };
    o.update(both, 2).unwrap();
    assert_eq!(
        (o.currency, o.prior_contract_value),
        (jpy, Some(15_000_000))
    );
}

#[test]
fn basis_points_saturate_instead_of_wrapping() {
    let li = LineItem {
        id: "li-1".into(),
        product_id: "s".into(),
        product_name: "s".into(),
        quantity: 1,
        list_unit: 1,
        sold_unit: MAX_UNIT_MINOR,
        unit_cost: 0,
        approvals: vec![],
    };
    assert_eq!(li.discount_bps(), i32::MIN);
}

#[test]
fn huge_amounts_are_refused_not_overflowed() {
    let mut o = opp();
    let big = NewLineItem {
        quantity: MAX_QUANTITY,
        ..item(MAX_UNIT_MINOR, MAX_UNIT_MINOR, 0)
    };
    assert!(matches!(
        o.add_line_item(big, 1),
        Err(Problem::InvalidArgument(_))
    ));
    assert!(o.line_items.is_empty());
}

#[test]
fn approvals_are_kept_whole_when_a_deeper_discount_needs_a_new_one() {
    let p = Policy::default();
    let mut o = opp();
    // 15% discount: needs an approval.
    o.add_line_item(item(100, 85, 50), 1).unwrap();
    o.approve_discount("li-1", "logo".into(), actor("sales_manager"), &p, 2)
        .unwrap();
    let deeper = LineItemPatch {
        sold_unit: Some(Money::new(eur(), 70)),
        ..Default::default()
    };
    o.update_line_item("li-1", deeper, 3).unwrap();
    assert!(o.line_items[0].lacks_approval(&p));
    o.approve_discount("li-1", "bigger deal".into(), actor("sales_manager"), &p, 4)
        .unwrap();
    let li = &o.line_items[0];
    let history: Vec<(&str, i32, i64)> = li
        .approvals
        .iter()
        .map(|a| (a.reason.as_str(), a.approved_discount_bps, a.time))
        .collect();
    assert_eq!(history, [("logo", 1500, 2), ("bigger deal", 3000, 4)]);
    assert_eq!(li.approval().map(|a| a.time), Some(4));
    assert!(!li.lacks_approval(&p));

    // The history is bounded: past the limit, a new approval is refused and nothing changes.
    for i in 0..MAX_APPROVALS - 2 {
        o.approve_discount("li-1", "again".into(), actor("m"), &p, 10 + i as i64)
            .unwrap();
    }
    let before = o.clone();
    let err = o
        .approve_discount("li-1", "one more".into(), actor("m"), &p, 99)
        .unwrap_err();
    assert_eq!(gates_of(err)[0].0, gates::APPROVAL_LIMIT);
    assert_eq!(o, before);
}

#[test]
fn stage_history_is_bounded_and_the_close_always_fits() {
    let p = Policy::default();
    let mut o = opp();
    let mut now = 1;
    while o.stage_history.len() + 1 < MAX_STAGE_CHANGES {
        let to = if o.stage == Stage::Prospecting {
            Stage::Qualification
        } else {
            Stage::Prospecting
        };
        o.move_to(to, actor("r"), &p, now).unwrap();
        now += 1;
    }
    let err = o
        .move_to(Stage::Qualification, actor("r"), &p, now)
        .err()
        .or_else(|| o.move_to(Stage::Prospecting, actor("r"), &p, now).err())
        .unwrap();
    assert_eq!(gates_of(err)[0].0, gates::HISTORY_LIMIT);
    let lost = Closing {
        outcome: Outcome::Lost,
        close_date: None,
        loss_reason: Some(LossReason::Timing),
        disqualification_reason: None,
        competitor: String::new(),
        notes: String::new(),
    };
    o.close(lost, actor("r"), &p, date!(2026 - 11 - 23), now)
        .unwrap();
    assert_eq!(o.stage_history.len(), MAX_STAGE_CHANGES);
}
