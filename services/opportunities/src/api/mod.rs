//! gRPC handlers for `closeloop.opportunities.v1.OpportunityService`: each one reads the caller,
//! parses the request ([`requests`]), calls the application, and builds the answer
//! ([`responses`]). The domain's refusals are renamed into the API's words on the way out.

pub mod enums;
pub mod requests;
pub mod responses;

use closeloop_kit::convert::{date_range, date_range_to_proto, duration, money_to_proto};
use closeloop_kit::paging::{self, PageTokens};
use closeloop_kit::rpc::{self, Mutation};
use closeloop_kit::time::epoch_days;
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_kit::{Principal, Problem};
use closeloop_proto::opportunities::v1 as pb;
use closeloop_proto::opportunities::v1::opportunity_service_server::OpportunityService;
use tonic::{Request, Response, Status};

use self::enums::wire;
use crate::app::{App, Target};
use crate::domain::access::{self, Action};
use crate::domain::opportunity::{Actor, Kind, Opportunity};
use crate::domain::reports;
use crate::domain::stage::Stage;
use crate::store::{ListFilter, ReportScope};

/// The gRPC service.
#[derive(Clone)]
pub struct Api {
    app: App,
    pages: PageTokens,
    /// Bytes a page of a listing holds at most: the message limit less room for the rest of
    /// the answer.
    page_bytes: usize,
}

impl Api {
    /// Serves `app`, issuing page tokens with `pages`, answers of at most `max_message_bytes`.
    pub fn new(app: App, pages: PageTokens, max_message_bytes: usize) -> Self {
        Api {
            app,
            pages,
            page_bytes: max_message_bytes.saturating_sub(4096).max(1024),
        }
    }

    fn respond(&self) -> impl FnOnce(&Opportunity) -> pb::Opportunity + '_ {
        move |o| responses::opportunity(o.clone(), &self.app.policy)
    }

    /// Applies `change` to the target and answers with the changed opportunity.
    async fn apply(
        &self,
        target: Target<'_>,
        change: impl FnOnce(&mut Opportunity, i64) -> Result<(), Problem>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let updated = self
            .app
            .change(target, change, self.respond())
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }
}

/// A refusal of the application, its domain names replaced by the API's.
fn in_api_words(problem: Problem) -> Status {
    problem
        .rename(requests::FIELDS, requests::RESOURCES)
        .into_status()
}

/// The opportunity a mutating call names in `field` (`opportunities/{id}`), once the caller is
/// known to hold a role that may do `action` at all.
fn target<'a>(
    call: &'a Mutation,
    action: Action,
    field: &str,
    name: &str,
    etag: &'a str,
) -> Result<Target<'a>, Problem> {
    access::require_role(&call.principal, action)?;
    Ok(Target {
        principal: &call.principal,
        id: requests::opportunity_id(field, name)?,
        etag,
        action,
        key: call.key.as_ref(),
    })
}

/// The caller of a read, once it is known to hold a role that may read.
fn reader<T>(request: &Request<T>) -> Result<Principal, Problem> {
    let principal = rpc::caller(request)?;
    access::require_role(&principal, Action::Read)?;
    Ok(principal)
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
    } else {
        for (i, owner) in owners.iter().enumerate() {
            if let Err(e) = closeloop_kit::types::identifier(owner, requests::MAX_ID) {
                v.add(format!("owners[{i}]"), e);
            }
        }
    }
    let period = v.check("period", date_range(period));
    let currency = match currency {
        Some(c) => v.check("currency_code", CurrencyCode::parse(c)).map(Some),
        None => Some(None),
    };
    let (period, currency) = v.values((period, currency))?;
    let owners = access::readable_owners(principal, owners.to_vec())?;
    Ok(Report {
        owners,
        period,
        currency,
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
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::Create)?;
        let r = request.get_ref();
        let new = requests::new_opportunity(r.opportunity.as_ref())?;
        let initial = match r.initial_stage {
            0 => Stage::Prospecting,
            s => requests::stage(s).map_err(|e| Problem::invalid("initial_stage", e))?,
        };
        let created = self
            .app
            .create(
                &call.principal,
                new,
                initial,
                call.key.as_ref(),
                self.respond(),
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(created))
    }

    async fn get_opportunity(
        &self,
        request: Request<pb::GetOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let principal = reader(&request)?;
        let id = requests::opportunity_id("name", &request.get_ref().name)?;
        let o = self.app.get(&principal, &id).await.map_err(in_api_words)?;
        Ok(Response::new(responses::opportunity(o, &self.app.policy)))
    }

    async fn list_opportunities(
        &self,
        request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<Response<pb::ListOpportunitiesResponse>, Status> {
        let principal = reader(&request)?;
        let r = request.get_ref();
        let mut v = closeloop_kit::Violations::new();
        v.check(
            "page_size",
            paging::page_size(r.page_size).map_err(|_| "must not be negative"),
        );
        let stage = match r.stage {
            0 => None,
            s => v.check("stage", requests::stage(s)),
        };
        let kind = match r.kind {
            0 => None,
            k => v.check("kind", requests::kind(k)),
        };
        let requested_owner = v.check(
            "owner",
            requests::filter("owner", &r.owner)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let account_id = v.check(
            "account_id",
            requests::filter("account_id", &r.account_id)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let (requested_owner, account_id) = v.values((requested_owner, account_id))?;
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
        let page = self
            .pages
            .page::<String>(r.page_size, &r.page_token, filter.fingerprint())?;
        let rows = self
            .app
            .store
            .list(&filter, page.after.as_deref(), page.overfetch())
            .await?;
        let policy = &self.app.policy;
        // Sizing each answer costs a pass over it: only a page that might not fit is sized.
        let (opportunities, next_page_token) =
            if rows.stored_bytes.saturating_mul(4) <= self.page_bytes {
                let (rows, token) = page.finish(rows.opportunities, |o| o.id.to_string());
                let answers = rows
                    .into_iter()
                    .map(|o| responses::opportunity(o, policy))
                    .collect();
                (answers, token)
            } else {
                page.finish_within(
                    rows.opportunities,
                    |o| o.id.to_string(),
                    |o| responses::opportunity(o, policy),
                    |o| prost::Message::encoded_len(o) + 8,
                    self.page_bytes,
                )
            };
        Ok(Response::new(pb::ListOpportunitiesResponse {
            opportunities,
            next_page_token,
        }))
    }

    async fn update_opportunity(
        &self,
        request: Request<pb::UpdateOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let o = request
            .get_ref()
            .opportunity
            .as_ref()
            .ok_or_else(|| Problem::invalid("opportunity", "required"))?;
        let target = target(&call, Action::Change, "opportunity.name", &o.name, &o.etag)?;
        let patch = requests::patch(o, request.get_ref().update_mask.as_ref())?;
        let principal = &call.principal;
        self.apply(target, |opp, now| {
            if let Some(owner) = &patch.owner
                && *owner != opp.owner
            {
                access::authorize(principal, Action::Reassign, &opp.owner)?;
            }
            opp.update(patch, now)
        })
        .await
    }

    async fn add_line_item(
        &self,
        request: Request<pb::AddLineItemRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::Change, "name", &r.name, &r.etag)?;
        let item = requests::new_line_item(r.line_item.as_ref())?;
        self.apply(target, |opp, now| opp.add_line_item(item, now).map(drop))
            .await
    }

    async fn update_line_item(
        &self,
        request: Request<pb::UpdateLineItemRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::Change, "name", &r.name, &r.etag)?;
        let li = r
            .line_item
            .as_ref()
            .ok_or_else(|| Problem::invalid("line_item", "required"))?;
        let line_item_id = requests::line_item_id("line_item.line_item_id", &li.line_item_id)?;
        let patch = requests::line_item_patch(li, r.update_mask.as_ref())?;
        self.apply(target, |opp, now| {
            opp.update_line_item(&line_item_id, patch, now)
        })
        .await
    }

    async fn remove_line_item(
        &self,
        request: Request<pb::RemoveLineItemRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::Change, "name", &r.name, &r.etag)?;
        let line_item_id = requests::line_item_id("line_item_id", &r.line_item_id)?;
        self.apply(target, |opp, now| opp.remove_line_item(&line_item_id, now))
            .await
    }

    async fn qualify_opportunity(
        &self,
        request: Request<pb::QualifyOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::Change, "name", &r.name, &r.etag)?;
        let answers = requests::qualification(r.qualification.as_ref())?;
        let actor = Actor::of(&call.principal);
        self.apply(target, |opp, now| opp.qualify(answers, actor, now))
            .await
    }

    async fn approve_discount(
        &self,
        request: Request<pb::ApproveDiscountRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::ApproveDiscount, "name", &r.name, &r.etag)?;
        let (line_item_id, reason) = requests::approval(r)?;
        let actor = Actor::of(&call.principal);
        let policy = &self.app.policy;
        self.apply(target, |opp, now| {
            opp.approve_discount(&line_item_id, reason, actor, policy, now)
        })
        .await
    }

    async fn move_opportunity_stage(
        &self,
        request: Request<pb::MoveOpportunityStageRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::Change, "name", &r.name, &r.etag)?;
        let to = requests::stage(r.stage).map_err(|e| Problem::invalid("stage", e))?;
        let actor = Actor::of(&call.principal);
        let policy = &self.app.policy;
        self.apply(target, |opp, now| opp.move_to(to, actor, policy, now))
            .await
    }

    async fn close_opportunity(
        &self,
        request: Request<pb::CloseOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::Change, "name", &r.name, &r.etag)?;
        let closing = requests::closing(r)?;
        let actor = Actor::of(&call.principal);
        let policy = &self.app.policy;
        let today = closeloop_kit::time::today();
        self.apply(target, |opp, now| {
            opp.close(closing, actor, policy, today, now)
        })
        .await
    }

    async fn get_forecast(
        &self,
        request: Request<pb::GetForecastRequest>,
    ) -> Result<Response<pb::Forecast>, Status> {
        let principal = reader(&request)?;
        let r = request.get_ref();
        let report = report(
            &principal,
            &r.owners,
            r.period.as_ref(),
            Some(&r.currency_code),
        )?;
        let rows = self.app.store.forecast(&report.scope()).await?;
        let f = reports::forecast(&rows);
        Ok(Response::new(pb::Forecast {
            owners: report.owners.clone(),
            period: Some(date_range_to_proto(report.period)),
            currency_code: r.currency_code.clone(),
            buckets: f
                .buckets
                .iter()
                .map(|b| pb::ForecastBucket {
                    category: wire::<pb::ForecastCategory, _>(b.category),
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
        let principal = reader(&request)?;
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
                    reason: wire::<pb::LossReason, _>(x.reason),
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
                    kind: wire::<pb::OpportunityKind, _>(k),
                    figures: Some(figures(reports::win_loss(&outcomes, |row| row.kind == k))),
                })
                .collect(),
        }))
    }

    async fn get_revenue_mix(
        &self,
        request: Request<pb::GetRevenueMixRequest>,
    ) -> Result<Response<pb::RevenueMix>, Status> {
        let principal = reader(&request)?;
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
        let principal = reader(&request)?;
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
                    stage: wire::<pb::Stage, _>(d.stage),
                    exits: d.exits,
                    average: Some(duration(d.average_micros)),
                    max: Some(duration(d.max_micros)),
                })
                .collect(),
        }))
    }
}
