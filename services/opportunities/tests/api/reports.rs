//! Forecast, win/loss, revenue mix and stage durations reflect what happened to the deals.

use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn period() -> Option<common::DateRange> {
    Some(common::DateRange {
        start_date: day(2026, 1, 1),
        end_date: day(2026, 12, 31),
    })
}

fn amount(m: &Option<common::Money>) -> i64 {
    m.as_ref().map_or(0, |m| m.amount_minor)
}

async fn close_won(client: &mut Client, name: &str, date: Option<common::Date>) -> pb::Opportunity {
    client
        .close_opportunity(pb::CloseOpportunityRequest {
            name: name.into(),
            close_date: date,
            ..won()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn close_lost(client: &mut Client, name: &str, reason: pb::LossReason, competitor: &str) {
    client
        .close_opportunity(pb::CloseOpportunityRequest {
            name: name.into(),
            outcome: pb::Outcome::Lost as i32,
            loss_reason: reason as i32,
            competitor: competitor.into(),
            close_date: day(2026, 11, 1),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn reports_reflect_won_lost_and_open_deals() {
    let app = TestApp::spawn().await;
    let mut ana = app.rep("ana");
    let mut bob = app.rep("bob");
    let mut max = app.manager();

    // Ana: one won new-business deal (10 x 95.00, list 100.00), one open in proposal.
    let won_deal = in_proposal(&mut ana, "Won").await;
    close_won(&mut ana, &won_deal.name, day(2026, 11, 20)).await;
    let open_deal = in_proposal(&mut ana, "Open").await;
    // Bob: a won renewal (prior 80,000, now 95,000), a loss to a competitor (two spellings), a
    // loss on price, and a disqualification.
    let mut renewal = new_opportunity("Renewal");
    renewal.kind = pb::OpportunityKind::Renewal as i32;
    renewal.source = pb::OpportunitySource::Renewal as i32;
    renewal.prior_contract_value = money(80_000);
    let r = bob
        .create_opportunity(pb::CreateOpportunityRequest {
            opportunity: Some(renewal),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    move_to(&mut bob, &r.name, pb::Stage::Qualification)
        .await
        .unwrap();
    qualify(&mut bob, &r.name).await;
    add_item(&mut bob, &r.name, line_item(10_000, 9_500, 4_000, 10)).await;
    move_to(&mut bob, &r.name, pb::Stage::Proposal)
        .await
        .unwrap();
    close_won(&mut bob, &r.name, day(2026, 10, 5)).await;
    for (title, competitor) in [("L1", "Globex"), ("L2", "globex ")] {
        let o = create(&mut bob, title).await;
        add_item(&mut bob, &o.name, line_item(1_000, 1_000, 100, 3)).await;
        close_lost(&mut bob, &o.name, pb::LossReason::Competitor, competitor).await;
    }
    let o = create(&mut bob, "L3").await;
    close_lost(&mut bob, &o.name, pb::LossReason::Price, "").await;
    let o = create(&mut bob, "D1").await;
    bob.close_opportunity(pb::CloseOpportunityRequest {
        name: o.name.clone(),
        outcome: pb::Outcome::Disqualified as i32,
        disqualification_reason: pb::DisqualificationReason::NoBudget as i32,
        close_date: day(2026, 11, 2),
        ..Default::default()
    })
    .await
    .unwrap();

    // Forecast for everyone.
    let f = max
        .get_forecast(pb::GetForecastRequest {
            period: period(),
            currency_code: "EUR".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let bucket = |c: pb::ForecastCategory| {
        f.buckets
            .iter()
            .find(|b| b.category == c as i32)
            .unwrap()
            .clone()
    };
    assert_eq!(f.buckets.len(), 5);
    let closed = bucket(pb::ForecastCategory::Closed);
    assert_eq!((closed.count, amount(&closed.amount)), (2, 190_000));
    let best = bucket(pb::ForecastCategory::BestCase);
    assert_eq!(
        (
            best.count,
            amount(&best.amount),
            amount(&best.weighted_amount)
        ),
        (1, 95_000, 47_500)
    );
    assert_eq!(bucket(pb::ForecastCategory::Omitted).count, 4);
    assert_eq!(amount(&f.weighted_pipeline), 47_500);
    assert_eq!(amount(&f.expected_total), 237_500);
    assert_eq!(f.opportunity_count, 7);
    // Another currency holds nothing; a rep's forecast is its own.
    let usd = max
        .get_forecast(pb::GetForecastRequest {
            period: period(),
            currency_code: "USD".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(usd.opportunity_count, 0);
    let anas = ana
        .get_forecast(pb::GetForecastRequest {
            period: period(),
            currency_code: "EUR".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(anas.owners, ["ana"]);
    assert_eq!(anas.opportunity_count, 2);
    let err = ana
        .get_forecast(pb::GetForecastRequest {
            owners: vec!["bob".into()],
            period: period(),
            currency_code: "EUR".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Win/loss.
    let w = max
        .get_win_loss_analysis(pb::GetWinLossAnalysisRequest {
            period: period(),
            currency_code: "EUR".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let overall = w.overall.unwrap();
    assert_eq!(
        (
            overall.won_count,
            overall.lost_count,
            overall.disqualified_count
        ),
        (2, 3, 1)
    );
    assert_eq!(overall.win_rate_bps, 4000);
    assert_eq!(amount(&overall.won_amount), 190_000);
    assert_eq!(amount(&overall.lost_amount), 6_000);
    assert_eq!(amount(&overall.average_deal_size), 95_000);
    assert_eq!(
        w.by_loss_reason[0].reason,
        pb::LossReason::Competitor as i32
    );
    assert_eq!(w.by_loss_reason[0].count, 2);
    assert_eq!(
        w.by_competitor.len(),
        1,
        "competitor names compare case- and space-insensitively"
    );
    assert_eq!(w.by_competitor[0].lost_count, 2);
    assert_eq!(amount(&w.by_competitor[0].lost_amount), 6_000);
    let renewals = w
        .by_kind
        .iter()
        .find(|k| k.kind == pb::OpportunityKind::Renewal as i32)
        .unwrap();
    assert_eq!(renewals.figures.as_ref().unwrap().won_count, 1);

    // Revenue mix: Ana is all incremental, Bob all baseline with a 18.75% renewal uplift.
    let mix = max
        .get_revenue_mix(pb::GetRevenueMixRequest {
            period: period(),
            currency_code: "EUR".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        mix.rows
            .iter()
            .map(|r| r.owner.as_str())
            .collect::<Vec<_>>(),
        ["ana", "bob"]
    );
    let ana_row = &mix.rows[0];
    assert_eq!(amount(&ana_row.incremental), 95_000);
    assert_eq!(ana_row.incremental_share_bps, 10_000);
    assert_eq!(amount(&ana_row.discount_given), 5_000);
    assert_eq!(ana_row.discount_bps, 500);
    let bob_row = &mix.rows[1];
    assert_eq!(amount(&bob_row.baseline), 95_000);
    assert_eq!(amount(&bob_row.renewal_price_change), 15_000);
    assert_eq!(bob_row.renewal_price_change_bps, 1875);
    let total = mix.total.unwrap();
    assert_eq!(total.incremental_share_bps, 5000);
    assert_eq!(total.won_count, 2);

    // Stage durations: every exit of the open stages in the period is counted.
    let today = closeloop_kit::time::today();
    let d = max
        .get_stage_durations(pb::GetStageDurationsRequest {
            period: Some(common::DateRange {
                start_date: Some(closeloop_kit::convert::date_to_proto(
                    today.previous_day().unwrap(),
                )),
                end_date: Some(closeloop_kit::convert::date_to_proto(today)),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let exits: Vec<i64> = d.stages.iter().map(|s| s.exits).collect();
    // PROSPECTING left by: won, open, renewal (to QUALIFICATION), L1, L2, L3, D1 (closed).
    // QUALIFICATION left by won, open, renewal; PROPOSAL left by won and renewal.
    assert_eq!(exits, [7, 3, 2, 0]);
    let _ = open_deal;
}

#[tokio::test]
async fn reports_refuse_bad_periods_and_currencies() {
    let app = TestApp::spawn().await;
    let mut max = app.manager();
    let err = max
        .get_forecast(pb::GetForecastRequest {
            period: Some(common::DateRange {
                start_date: day(2026, 12, 31),
                end_date: day(2026, 1, 1),
            }),
            currency_code: "EUR".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["period"]);
    let err = max
        .get_win_loss_analysis(pb::GetWinLossAnalysisRequest {
            period: None,
            currency_code: "XXX".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["period", "currency_code"]);
    let err = max
        .get_revenue_mix(pb::GetRevenueMixRequest {
            owners: vec![String::new()],
            period: period(),
            currency_code: "EUR".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&err, &["owners[0]"]);
}
