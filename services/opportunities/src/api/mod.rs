//! gRPC handlers for `closeloop.opportunities.v1.OpportunityService`: each one reads the caller,
//! parses the request ([`convert`]), calls the application, and converts the answer back.

pub mod convert;

use closeloop_kit::convert::{date_range, date_range_to_proto, duration, money_to_proto};
use closeloop_kit::idempotency::RequestKey;
use closeloop_kit::time::epoch_days;
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_kit::{Principal, Problem, paging};
use closeloop_proto::opportunities::v1 as pb;
use closeloop_proto::opportunities::v1::opportunity_service_server::OpportunityService;
use tonic::{Request, Response, Status};

use crate::app::{App, Target};
use crate::domain::access::{self, Action};
use crate::domain::opportunity::{Kind, Opportunity};
use crate::domain::reports;
use crate::domain::stage::Stage;
use crate::store::{ListFilter, ReportScope};

/// The gRPC service.
#[derive(Clone)]
pub struct Api {
    app: App,
}

impl Api {
    /// Serves `app`.
    pub fn new(app: App) -> Self {
        Api { app }
    }

    fn respond(&self) -> impl FnOnce(&Opportunity) -> pb::Opportunity + '_ {
        move |o| convert::opportunity(o.clone(), &self.app.policy)
    }

    /// Applies `change` to the target and answers with the changed opportunity.
    async fn apply(
        &self,
        target: Target<'_>,
        change: impl FnOnce(&mut Opportunity, i64) -> Result<(), Problem>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let updated = self.app.change(target, change, self.respond()).await?;
        Ok(Response::new(updated))
    }
}

fn key<M: prost::Message>(
    method: &str,
    principal: &Principal,
    request_id: &str,
    request: &M,
) -> Result<Option<RequestKey>, Problem> {
    RequestKey::new(method, principal, request_id, request)
}

struct Report {
    owners: Vec<String>,
    period: (time::Date, time::Date),
    currency: Option<CurrencyCode>,
}

fn report(
    principal: &Principal,
    owners: &[String],
    period: Option<&closeloop_proto::common::v1::DateRange>,
    currency: Option<&str>,
) -> Result<Report, Problem> {
    let mut v = closeloop_kit::Violations::new();
    if owners.len() > 100 {
        v.add("owners", "at most 100 owners");
    }
    for (i, owner) in owners.iter().enumerate() {
        if let Err(e) = closeloop_kit::types::identifier(owner, convert::MAX_ID) {
            v.add(format!("owners[{i}]"), e);
        }
    }
    let period = v.check("period", date_range(period));
    let currency = match currency {
        Some(c) => v.check("currency_code", CurrencyCode::parse(c)).map(Some),
        None => Some(None),
    };
    v.into_result()?;
    let owners = access::readable_owners(principal, owners.to_vec())?;
    Ok(Report {
        owners,
        period: period.expect("checked"),
        currency: currency.expect("checked"),
    })
}

impl Report {
    fn scope(&self) -> ReportScope {
        ReportScope {
            owners: self.owners.clone(),
            start_day: epoch_days(self.period.0),
            end_day: epoch_days(self.period.1),
            currency: self
                .currency
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
        }
    }

    fn money(&self, minor: i64) -> Option<closeloop_proto::common::v1::Money> {
        self.currency.map(|c| money_to_proto(Money::new(c, minor)))
    }
}

#[tonic::async_trait]
impl OpportunityService for Api {
    async fn create_opportunity(
        &self,
        request: Request<pb::CreateOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Create)?;
        let r = request.get_ref();
        let key = key("CreateOpportunity", &principal, &r.request_id, r)?;
        let new = convert::new_opportunity(r.opportunity.as_ref())?;
        let initial = match r.initial_stage {
            0 => Stage::Prospecting,
            s => convert::stage(s).map_err(|e| Problem::invalid("initial_stage", e))?,
        };
        let created = self
            .app
            .create(&principal, new, initial, key.as_ref(), self.respond())
            .await?;
        Ok(Response::new(created))
    }

    async fn get_opportunity(
        &self,
        request: Request<pb::GetOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Read)?;
        let id = convert::opportunity_id("name", &request.get_ref().name)?;
        let o = self.app.get(&principal, &id).await?;
        Ok(Response::new(convert::opportunity(o, &self.app.policy)))
    }

    async fn list_opportunities(
        &self,
        request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<Response<pb::ListOpportunitiesResponse>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Read)?;
        let r = request.get_ref();
        let mut v = closeloop_kit::Violations::new();
        let size = v.check(
            "page_size",
            paging::page_size(r.page_size).map_err(|_| "must not be negative"),
        );
        let stage = match r.stage {
            0 => None,
            s => v.check("stage", convert::stage(s)),
        };
        let kind = match r.kind {
            0 => None,
            k => v.check(
                "kind",
                pb::OpportunityKind::try_from(k)
                    .map_err(|_| format!("unknown value {k}"))
                    .map(|k| match k {
                        pb::OpportunityKind::Expansion => Kind::Expansion,
                        pb::OpportunityKind::Renewal => Kind::Renewal,
                        _ => Kind::NewBusiness,
                    }),
            ),
        };
        let requested_owner = v.check(
            "owner",
            convert::filter("owner", &r.owner)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let account_id = v.check(
            "account_id",
            convert::filter("account_id", &r.account_id)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        v.into_result()?;
        let (requested_owner, account_id) = (
            requested_owner.expect("checked"),
            account_id.expect("checked"),
        );
        let owner = match access::scope(&principal, Action::Read) {
            access::Scope::All => requested_owner,
            _ => access::readable_owners(&principal, requested_owner.into_iter().collect())?
                .into_iter()
                .next(),
        };
        let filter = ListFilter {
            owner,
            account_id,
            stage,
            kind,
            open_only: r.open_only,
        };
        let fingerprint = filter.fingerprint();
        let after: Option<String> = paging::decode(&r.page_token, fingerprint)?;
        if after
            .as_deref()
            .is_some_and(|id| !convert::is_opportunity_id(id))
        {
            return Err(
                Problem::invalid("page_token", "not a page token issued by this listing").into(),
            );
        }
        let size = size.expect("checked");
        let mut page = self
            .app
            .store
            .list(&filter, after.as_deref(), size + 1)
            .await?;
        let next_page_token = if page.len() > size as usize {
            page.truncate(size as usize);
            page.last()
                .map(|o| paging::encode(&o.id, fingerprint))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListOpportunitiesResponse {
            opportunities: page
                .into_iter()
                .map(|o| convert::opportunity(o, &self.app.policy))
                .collect(),
            next_page_token,
        }))
    }

    async fn update_opportunity(
        &self,
        request: Request<pb::UpdateOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Change)?;
        let r = request.get_ref();
        let key = key("UpdateOpportunity", &principal, &r.request_id, r)?;
        let o = r
            .opportunity
            .as_ref()
            .ok_or_else(|| Problem::invalid("opportunity", "required"))?;
        let id = convert::opportunity_id("opportunity.name", &o.name)?;
        let patch = convert::patch(o, r.update_mask.as_ref())?;
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &o.etag,
                action: Action::Change,
                key: key.as_ref(),
            },
            |opp, now| {
                if let Some(owner) = &patch.owner
                    && *owner != opp.owner
                {
                    access::authorize(&principal, Action::Reassign, &opp.owner)?;
                }
                opp.update(patch, now)
            },
        )
        .await
    }

    async fn add_line_item(
        &self,
        request: Request<pb::AddLineItemRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Change)?;
        let r = request.get_ref();
        let key = key("AddLineItem", &principal, &r.request_id, r)?;
        let id = convert::opportunity_id("name", &r.name)?;
        let item = convert::new_line_item(r.line_item.as_ref())?;
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &r.etag,
                action: Action::Change,
                key: key.as_ref(),
            },
            |opp, now| opp.add_line_item(item, now).map(|_| ()),
        )
        .await
    }

    async fn update_line_item(
        &self,
        request: Request<pb::UpdateLineItemRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Change)?;
        let r = request.get_ref();
        let key = key("UpdateLineItem", &principal, &r.request_id, r)?;
        let id = convert::opportunity_id("name", &r.name)?;
        let li = r
            .line_item
            .as_ref()
            .ok_or_else(|| Problem::invalid("line_item", "required"))?;
        let line_item_id = convert::line_item_id("line_item.line_item_id", &li.line_item_id)?;
        let patch = convert::line_item_patch(li, r.update_mask.as_ref())?;
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &r.etag,
                action: Action::Change,
                key: key.as_ref(),
            },
            |opp, now| opp.update_line_item(&line_item_id, patch, now),
        )
        .await
    }

    async fn remove_line_item(
        &self,
        request: Request<pb::RemoveLineItemRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Change)?;
        let r = request.get_ref();
        let key = key("RemoveLineItem", &principal, &r.request_id, r)?;
        let id = convert::opportunity_id("name", &r.name)?;
        let line_item_id = convert::line_item_id("line_item_id", &r.line_item_id)?;
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &r.etag,
                action: Action::Change,
                key: key.as_ref(),
            },
            |opp, now| opp.remove_line_item(&line_item_id, now),
        )
        .await
    }

    async fn qualify_opportunity(
        &self,
        request: Request<pb::QualifyOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Change)?;
        let r = request.get_ref();
        let key = key("QualifyOpportunity", &principal, &r.request_id, r)?;
        let id = convert::opportunity_id("name", &r.name)?;
        let answers = convert::qualification(r.qualification.as_ref())?;
        let actor = crate::domain::opportunity::Actor::of(&principal);
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &r.etag,
                action: Action::Change,
                key: key.as_ref(),
            },
            |opp, now| opp.qualify(answers, actor, now),
        )
        .await
    }

    async fn approve_discount(
        &self,
        request: Request<pb::ApproveDiscountRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::ApproveDiscount)?;
        let r = request.get_ref();
        let key = key("ApproveDiscount", &principal, &r.request_id, r)?;
        let id = convert::opportunity_id("name", &r.name)?;
        let mut v = closeloop_kit::Violations::new();
        let line_item_id = v.check(
            "line_item_id",
            convert::line_item_id("line_item_id", &r.line_item_id).map_err(|_| "required"),
        );
        let reason = v.check(
            "reason",
            closeloop_kit::types::required_text(&r.reason, 1000),
        );
        v.into_result()?;
        let (line_item_id, reason) = (line_item_id.expect("checked"), reason.expect("checked"));
        let actor = crate::domain::opportunity::Actor::of(&principal);
        let policy = &self.app.policy;
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &r.etag,
                action: Action::ApproveDiscount,
                key: key.as_ref(),
            },
            |opp, now| opp.approve_discount(&line_item_id, reason, actor, policy, now),
        )
        .await
    }

    async fn move_opportunity_stage(
        &self,
        request: Request<pb::MoveOpportunityStageRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Change)?;
        let r = request.get_ref();
        let key = key("MoveOpportunityStage", &principal, &r.request_id, r)?;
        let id = convert::opportunity_id("name", &r.name)?;
        let to = convert::stage(r.stage).map_err(|e| Problem::invalid("stage", e))?;
        let actor = crate::domain::opportunity::Actor::of(&principal);
        let policy = &self.app.policy;
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &r.etag,
                action: Action::Change,
                key: key.as_ref(),
            },
            |opp, now| opp.move_to(to, actor, policy, now),
        )
        .await
    }

    async fn close_opportunity(
        &self,
        request: Request<pb::CloseOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Change)?;
        let r = request.get_ref();
        let key = key("CloseOpportunity", &principal, &r.request_id, r)?;
        let id = convert::opportunity_id("name", &r.name)?;
        let closing = convert::closing(r)?;
        let actor = crate::domain::opportunity::Actor::of(&principal);
        let policy = &self.app.policy;
        let today = closeloop_kit::time::today();
        self.apply(
            Target {
                principal: &principal,
                id: &id,
                etag: &r.etag,
                action: Action::Change,
                key: key.as_ref(),
            },
            |opp, now| opp.close(closing, actor, policy, today, now),
        )
        .await
    }

    async fn get_forecast(
        &self,
        request: Request<pb::GetForecastRequest>,
    ) -> Result<Response<pb::Forecast>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Read)?;
        let r = request.get_ref();
        let report = report(
            &principal,
            &r.owners,
            r.period.as_ref(),
            Some(&r.currency_code),
        )?;
        let rows = self
            .app
            .store
            .forecast(&report.scope(), &self.app.policy)
            .await?;
        let f = reports::forecast(&rows);
        Ok(Response::new(pb::Forecast {
            owners: report.owners.clone(),
            period: Some(date_range_to_proto(report.period)),
            currency_code: r.currency_code.clone(),
            buckets: f
                .buckets
                .iter()
                .map(|b| pb::ForecastBucket {
                    category: convert::category_to_proto(b.category) as i32,
                    count: b.count,
                    amount: report.money(b.amount),
                    weighted_amount: report.money(b.weighted),
                })
                .collect(),
            weighted_pipeline: report.money(f.weighted_pipeline),
            expected_total: report.money(f.expected_total),
            opportunity_count: f.count,
        }))
    }

    async fn get_win_loss_analysis(
        &self,
        request: Request<pb::GetWinLossAnalysisRequest>,
    ) -> Result<Response<pb::WinLossAnalysis>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Read)?;
        let r = request.get_ref();
        let report = report(
            &principal,
            &r.owners,
            r.period.as_ref(),
            Some(&r.currency_code),
        )?;
        let scope = report.scope();
        let store = &self.app.store;
        let outcomes = store.outcomes(&scope).await?;
        let reasons = store.loss_reasons(&scope).await?;
        let competitors = store.competitors(&scope).await?;
        let figures = |f: reports::WinLoss| pb::WinLossFigures {
            won_count: f.won,
            lost_count: f.lost,
            disqualified_count: f.disqualified,
            win_rate_bps: f.win_rate_bps,
            won_amount: report.money(f.won_amount),
            lost_amount: report.money(f.lost_amount),
            average_deal_size: report.money(f.average_deal),
            average_cycle_days: f.average_cycle_days,
        };
        Ok(Response::new(pb::WinLossAnalysis {
            owners: report.owners.clone(),
            period: Some(date_range_to_proto(report.period)),
            currency_code: r.currency_code.clone(),
            overall: Some(figures(reports::win_loss(&outcomes, |_| true))),
            by_loss_reason: reports::rank_reasons(reasons)
                .into_iter()
                .map(|x| pb::LossReasonFigures {
                    reason: convert::loss_reason_to_proto(x.reason) as i32,
                    count: x.count,
                    amount: report.money(x.amount),
                })
                .collect(),
            by_competitor: reports::rank_competitors(competitors)
                .into_iter()
                .map(|x| pb::CompetitorFigures {
                    competitor: x.competitor,
                    lost_count: x.count,
                    lost_amount: report.money(x.amount),
                })
                .collect(),
            by_kind: Kind::ALL
                .into_iter()
                .map(|k| pb::KindFigures {
                    kind: match k {
                        Kind::NewBusiness => pb::OpportunityKind::NewBusiness,
                        Kind::Expansion => pb::OpportunityKind::Expansion,
                        Kind::Renewal => pb::OpportunityKind::Renewal,
                    } as i32,
                    figures: Some(figures(reports::win_loss(&outcomes, |row| row.kind == k))),
                })
                .collect(),
        }))
    }

    async fn get_revenue_mix(
        &self,
        request: Request<pb::GetRevenueMixRequest>,
    ) -> Result<Response<pb::RevenueMix>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Read)?;
        let r = request.get_ref();
        let report = report(
            &principal,
            &r.owners,
            r.period.as_ref(),
            Some(&r.currency_code),
        )?;
        let rows = self.app.store.won(&report.scope()).await?;
        let (per_owner, total) = reports::revenue_mix(&rows);
        let row = |m: &reports::Mix| pb::RevenueMixRow {
            owner: m.owner.clone(),
            new_business: report.money(m.new_business),
            expansion: report.money(m.expansion),
            renewal: report.money(m.renewal),
            incremental: report.money(m.incremental()),
            baseline: report.money(m.baseline()),
            incremental_share_bps: m.incremental_share_bps(),
            list_amount: report.money(m.list_amount),
            discount_given: report.money(m.discount_given()),
            discount_bps: m.discount_bps(),
            renewal_price_change: report.money(m.renewal_price_change()),
            renewal_price_change_bps: m.renewal_price_change_bps(),
            won_count: m.won,
        };
        Ok(Response::new(pb::RevenueMix {
            owners: report.owners.clone(),
            period: Some(date_range_to_proto(report.period)),
            currency_code: r.currency_code.clone(),
            rows: per_owner.iter().map(row).collect(),
            total: Some(row(&total)),
        }))
    }

    async fn get_stage_durations(
        &self,
        request: Request<pb::GetStageDurationsRequest>,
    ) -> Result<Response<pb::StageDurations>, Status> {
        let principal = Principal::of(&request)?;
        access::require_role(&principal, Action::Read)?;
        let r = request.get_ref();
        let report = report(&principal, &r.owners, r.period.as_ref(), None)?;
        const DAY: i64 = 86_400_000_000;
        let start = epoch_days(report.period.0) * DAY;
        let end = (epoch_days(report.period.1) + 1) * DAY;
        let rows = self
            .app
            .store
            .stage_durations(&report.owners, start, end)
            .await?;
        Ok(Response::new(pb::StageDurations {
            owners: report.owners.clone(),
            period: Some(date_range_to_proto(report.period)),
            stages: reports::stage_durations(&rows)
                .into_iter()
                .map(|d| pb::StageDuration {
                    stage: convert::stage_to_proto(d.stage) as i32,
                    exits: d.exits,
                    average: Some(duration(d.average_micros)),
                    max: Some(duration(d.max_micros)),
                })
                .collect(),
        }))
    }
}
