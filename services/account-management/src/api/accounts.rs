//! `closeloop.accounts.v1.AccountService`: accounts, their status, check-ins, operations
//! updates, health, lifetime value, expansions, referrals and portfolio metrics.

use closeloop_kit::convert::optional_date;
use closeloop_kit::types::optional_text;
use closeloop_kit::{Problem, Violations, rpc};
use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::accounts::v1::account_service_server::AccountService;
use tonic::{Request, Response, Status};

use super::enums::{optional, required};
use super::{Api, in_api_words, reader, requests, responses, target};
use crate::app::accounts::Seen;
use crate::domain::access::{self, Action};
use crate::domain::lifecycle::Churn;
use crate::domain::vocabulary::{AccountStatus, ChurnReason};
use crate::domain::vocabulary::{
    CheckInId, ExpansionId, ExpansionKind, OperationsUpdateId, OpportunityRequestStatus, ReferralId,
};
use crate::store::accounts::{AccountFilter, day_number};

type Answer<T> = Result<Response<T>, Status>;

fn account_answer(seen: Seen<'_>) -> pb::Account {
    responses::account(seen)
}

#[tonic::async_trait]
impl AccountService for Api {
    async fn open_account(&self, request: Request<pb::OpenAccountRequest>) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::OpenAccount)?;
        let open = requests::open_account(request.get_ref())?;
        let opened = self
            .app
            .open_account(&call.principal, call.key.as_ref(), open, account_answer)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(opened))
    }

    async fn get_account(&self, request: Request<pb::GetAccountRequest>) -> Answer<pb::Account> {
        let principal = reader(&request, Action::GetAccount)?;
        let id = requests::account_id("name", &request.get_ref().name)?;
        let account = self
            .app
            .read_account(&principal, Action::GetAccount, &id)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::account(Seen {
            account: &account,
            policy: &self.app.policy,
            today: self.app.clock.today(),
        })))
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Answer<pb::ListAccountsResponse> {
        let principal = reader(&request, Action::ListAccounts)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        if r.page_size < 0 {
            v.add("page_size", "must not be negative");
        }
        let manager = v.check(
            "account_manager",
            requests::filter_value("account_manager", &r.account_manager)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let salesperson = v.check(
            "salesperson",
            requests::filter_value("salesperson", &r.salesperson)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let customer = v.check(
            "customer_account_id",
            requests::filter_value("customer_account_id", &r.customer_account_id)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let status = v.check(
            "status",
            optional::<pb::AccountStatus, AccountStatus>(r.status),
        );
        let (manager, salesperson, customer, status) =
            v.values((manager, salesperson, customer, status))?;
        let reach = access::account_filter(&principal, manager, salesperson)?;
        let today = self.app.clock.today();
        let filter = AccountFilter {
            account_manager: reach.account_manager,
            salesperson: reach.salesperson,
            status,
            customer_account_id: customer,
            check_in_due_before: r.check_in_overdue_only.then_some(today),
        };
        let page = self
            .pages
            .page::<String>(r.page_size, &r.page_token, filter.fingerprint())?;
        let rows = self
            .app
            .store
            .list_accounts(&filter, page.after.as_deref(), page.overfetch())
            .await?;
        let policy = &self.app.policy;
        let (accounts, next_page_token) = page.finish_within(
            rows,
            |a| a.id.to_string(),
            |a| {
                responses::account(Seen {
                    account: &a,
                    policy,
                    today,
                })
            },
            |a| prost::Message::encoded_len(a) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListAccountsResponse {
            accounts,
            next_page_token,
        }))
    }

    async fn mark_account_at_risk(
        &self,
        request: Request<pb::MarkAccountAtRiskRequest>,
    ) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::MarkAccountAtRisk, "name", &r.name, &r.etag)?;
        let reason = requests::reason("reason", &r.reason)?;
        let updated = self
            .app
            .change_account(
                target,
                |a, by, now| a.mark_at_risk(by, reason, now),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn mark_account_churned(
        &self,
        request: Request<pb::MarkAccountChurnedRequest>,
    ) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::MarkAccountChurned, "name", &r.name, &r.etag)?;
        let mut v = Violations::new();
        let reason = v.check(
            "churn_reason",
            required::<pb::ChurnReason, ChurnReason>(r.churn_reason),
        );
        let notes = v.check("notes", optional_text(&r.notes, requests::MAX_REASON));
        if reason == Some(ChurnReason::Other) && r.notes.trim().is_empty() {
            v.add(
                "notes",
                "required with churn reason OTHER: say why the customer left",
            );
        }
        let churn_date = v.check("churn_date", optional_date(r.churn_date.as_ref()));
        let (reason, notes, churn_date) = v.values((reason, notes, churn_date))?;
        let churn = Churn {
            reason,
            notes,
            churn_date,
        };
        let updated = self
            .app
            .change_account(
                target,
                |a, by, now| a.mark_churned(by, churn, now),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn reactivate_account(
        &self,
        request: Request<pb::ReactivateAccountRequest>,
    ) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::ReactivateAccount, "name", &r.name, &r.etag)?;
        let reason = requests::reason("reason", &r.reason)?;
        let updated = self
            .app
            .change_account(
                target,
                |a, by, now| a.reactivate(by, reason, now),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let Some(a) = r.account.as_ref() else {
            return Err(Problem::invalid("account", "required").into_status());
        };
        let target = target(
            &call,
            Action::UpdateAccount,
            "account.name",
            &a.name,
            &a.etag,
        )?;
        let paths = closeloop_kit::convert::update_mask(
            r.update_mask.as_ref(),
            requests::ACCOUNT_UPDATABLE,
        )?;
        let patch = requests::account_patch(a, &paths)?;
        let updated = self
            .app
            .change_account(
                target,
                |acc, by, now| acc.update(by, patch, now).map(|_| ()),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn add_outcome(&self, request: Request<pb::AddOutcomeRequest>) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::AddOutcome, "name", &r.name, &r.etag)?;
        let Some(o) = r.outcome.as_ref() else {
            return Err(Problem::invalid("outcome", "required").into_status());
        };
        let mut v = Violations::new();
        let outcome = requests::outcome(&mut v, "outcome", o);
        let outcome = v.values((outcome,))?.0;
        let updated = self
            .app
            .change_account(
                target,
                |a, _by, now| a.add_outcome(outcome, now).map(|_| ()),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn update_outcome(
        &self,
        request: Request<pb::UpdateOutcomeRequest>,
    ) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::UpdateOutcome, "name", &r.name, &r.etag)?;
        let Some(o) = r.outcome.as_ref() else {
            return Err(Problem::invalid("outcome", "required").into_status());
        };
        let id = requests::part_id("outcome.outcome_id", &o.outcome_id)?;
        let paths = closeloop_kit::convert::update_mask(
            r.update_mask.as_ref(),
            requests::OUTCOME_UPDATABLE,
        )?;
        let patch = requests::outcome_patch(o, &paths)?;
        let updated = self
            .app
            .change_account(
                target,
                |a, _by, now| a.update_outcome(&id, patch, now),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn add_obligation(
        &self,
        request: Request<pb::AddObligationRequest>,
    ) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::AddObligation, "name", &r.name, &r.etag)?;
        let Some(o) = r.obligation.as_ref() else {
            return Err(Problem::invalid("obligation", "required").into_status());
        };
        let mut v = Violations::new();
        let obligation = requests::obligation(&mut v, "obligation", o);
        let obligation = v.values((obligation,))?.0;
        let updated = self
            .app
            .change_account(
                target,
                |a, by, now| a.add_obligation(by, obligation, now).map(|_| ()),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn update_obligation(
        &self,
        request: Request<pb::UpdateObligationRequest>,
    ) -> Answer<pb::Account> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::UpdateObligation, "name", &r.name, &r.etag)?;
        let Some(o) = r.obligation.as_ref() else {
            return Err(Problem::invalid("obligation", "required").into_status());
        };
        let id = requests::part_id("obligation.obligation_id", &o.obligation_id)?;
        let paths = closeloop_kit::convert::update_mask(
            r.update_mask.as_ref(),
            requests::OBLIGATION_UPDATABLE,
        )?;
        let patch = requests::obligation_patch(o, &paths)?;
        let updated = self
            .app
            .change_account(
                target,
                |a, by, now| a.update_obligation(by, &id, patch, now),
                account_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn record_check_in(
        &self,
        request: Request<pb::RecordCheckInRequest>,
    ) -> Answer<pb::CheckIn> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::RecordCheckIn, "parent", &r.parent, "")?;
        let input = requests::check_in(r.check_in.as_ref())?;
        let recorded = self
            .app
            .record_check_in(target, input, responses::check_in)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(recorded))
    }

    async fn get_check_in(&self, request: Request<pb::GetCheckInRequest>) -> Answer<pb::CheckIn> {
        let principal = reader(&request, Action::GetCheckIn)?;
        let name = &request.get_ref().name;
        let (account, id) = requests::child_name("name", name, "checkIns", CheckInId::parse)?;
        let c = self
            .app
            .read_check_in(&principal, &account, &id, name)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::check_in(&c)))
    }

    async fn list_check_ins(
        &self,
        request: Request<pb::ListCheckInsRequest>,
    ) -> Answer<pb::ListCheckInsResponse> {
        let principal = reader(&request, Action::ListCheckIns)?;
        let r = request.get_ref();
        let account = requests::account_id("parent", &r.parent)?;
        let page = self.pages.page::<(i64, String)>(
            r.page_size,
            &r.page_token,
            closeloop_kit::paging::fingerprint(&[&r.parent]),
        )?;
        let rows = self
            .app
            .check_ins(&principal, &account, page.after.as_ref(), page.overfetch())
            .await
            .map_err(in_api_words)?;
        let (check_ins, next_page_token) = page.finish_within(
            rows,
            |c| (c.check_in_time, c.id.to_string()),
            |c| responses::check_in(&c),
            |c| prost::Message::encoded_len(c) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListCheckInsResponse {
            check_ins,
            next_page_token,
        }))
    }

    async fn list_due_check_ins(
        &self,
        request: Request<pb::ListDueCheckInsRequest>,
    ) -> Answer<pb::ListDueCheckInsResponse> {
        let principal = reader(&request, Action::ListDueCheckIns)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        if r.page_size < 0 {
            v.add("page_size", "must not be negative");
        }
        if !(0..=365).contains(&r.horizon_days) {
            v.add("horizon_days", "must be 0 to 365");
        }
        let manager = v.check(
            "account_manager",
            requests::filter_value("account_manager", &r.account_manager)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let (manager,) = v.values((manager,))?;
        let manager = access::due_check_ins_manager(&principal, manager)?;
        let fingerprint = closeloop_kit::paging::fingerprint(&[
            manager.as_deref().unwrap_or(""),
            &r.horizon_days.to_string(),
            if r.overdue_only { "overdue" } else { "" },
        ]);
        let page = self
            .pages
            .page::<(i64, String)>(r.page_size, &r.page_token, fingerprint)?;
        let rows = self
            .app
            .due_check_ins(
                manager.as_deref(),
                r.horizon_days,
                r.overdue_only,
                page.after.as_ref(),
                page.overfetch(),
            )
            .await
            .map_err(in_api_words)?;
        let (due_check_ins, next_page_token) = page.finish_within(
            rows,
            |d| (day_number(d.due_date), d.account.to_string()),
            |d| responses::due_check_in(&d),
            |d| prost::Message::encoded_len(d) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListDueCheckInsResponse {
            due_check_ins,
            next_page_token,
        }))
    }

    async fn post_operations_update(
        &self,
        request: Request<pb::PostOperationsUpdateRequest>,
    ) -> Answer<pb::OperationsUpdate> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::PostOperationsUpdate, "parent", &r.parent, "")?;
        let input = requests::operations_update(&target.id, r.operations_update.as_ref())?;
        let posted = self
            .app
            .post_operations_update(target, input, responses::operations_update)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(posted))
    }

    async fn get_operations_update(
        &self,
        request: Request<pb::GetOperationsUpdateRequest>,
    ) -> Answer<pb::OperationsUpdate> {
        let principal = reader(&request, Action::GetOperationsUpdate)?;
        let name = &request.get_ref().name;
        let (account, id) =
            requests::child_name("name", name, "operationsUpdates", OperationsUpdateId::parse)?;
        let u = self
            .app
            .read_update(&principal, &account, &id, name)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::operations_update(&u)))
    }

    async fn list_operations_updates(
        &self,
        request: Request<pb::ListOperationsUpdatesRequest>,
    ) -> Answer<pb::ListOperationsUpdatesResponse> {
        let principal = reader(&request, Action::ListOperationsUpdates)?;
        let r = request.get_ref();
        let account = requests::account_id("parent", &r.parent)?;
        let mut v = Violations::new();
        let filter = requests::update_filter(
            &mut v,
            &r.kinds,
            r.minimum_severity,
            r.open_issues_only,
            None,
        );
        let (filter,) = v.values((filter,))?;
        let page = self.pages.page::<(i64, String)>(
            r.page_size,
            &r.page_token,
            requests::update_filter_fingerprint(&r.parent, &filter),
        )?;
        let rows = self
            .app
            .updates(
                &principal,
                &account,
                &filter,
                page.after.as_ref(),
                page.overfetch(),
            )
            .await
            .map_err(in_api_words)?;
        let (operations_updates, next_page_token) = page.finish_within(
            rows,
            |u| (u.create_time, u.id.to_string()),
            |u| responses::operations_update(&u),
            |u| prost::Message::encoded_len(u) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListOperationsUpdatesResponse {
            operations_updates,
            next_page_token,
        }))
    }

    async fn list_salesperson_feed(
        &self,
        request: Request<pb::ListSalespersonFeedRequest>,
    ) -> Answer<pb::ListSalespersonFeedResponse> {
        let principal = reader(&request, Action::ListSalespersonFeed)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let salesperson = v.check(
            "salesperson",
            requests::filter_value("salesperson", &r.salesperson)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let filter = requests::update_filter(
            &mut v,
            &r.kinds,
            r.minimum_severity,
            r.open_issues_only,
            r.since_time.as_ref(),
        );
        let (salesperson, filter) = v.values((salesperson, filter))?;
        let salesperson = access::feed_salesperson(&principal, salesperson)?;
        let page = self.pages.page::<(i64, String)>(
            r.page_size,
            &r.page_token,
            requests::update_filter_fingerprint(&salesperson, &filter),
        )?;
        let rows = self
            .app
            .feed(&salesperson, &filter, page.after.as_ref(), page.overfetch())
            .await
            .map_err(in_api_words)?;
        let (entries, next_page_token) = page.finish_within(
            rows,
            |e| (e.update.create_time, e.update.id.to_string()),
            |e| responses::feed_entry(&e),
            |e| prost::Message::encoded_len(e) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListSalespersonFeedResponse {
            entries,
            next_page_token,
        }))
    }

    async fn get_account_health(
        &self,
        request: Request<pb::GetAccountHealthRequest>,
    ) -> Answer<pb::AccountHealth> {
        let principal = reader(&request, Action::GetAccountHealth)?;
        let id = requests::account_id("name", &request.get_ref().name)?;
        let health = self
            .app
            .account_health(&principal, &id)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::health(&health)))
    }

    async fn get_customer_lifetime_value(
        &self,
        request: Request<pb::GetCustomerLifetimeValueRequest>,
    ) -> Answer<pb::CustomerLifetimeValue> {
        let principal = reader(&request, Action::GetCustomerLifetimeValue)?;
        let id = requests::account_id("name", &request.get_ref().name)?;
        let value = self
            .app
            .customer_lifetime_value(&principal, &id)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::lifetime_value(&value)))
    }

    async fn identify_expansion(
        &self,
        request: Request<pb::IdentifyExpansionRequest>,
    ) -> Answer<pb::Expansion> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::IdentifyExpansion, "parent", &r.parent, "")?;
        let input = requests::expansion(r.expansion.as_ref())?;
        let recorded = self
            .app
            .identify_expansion(target, input, responses::expansion)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(recorded))
    }

    async fn get_expansion(
        &self,
        request: Request<pb::GetExpansionRequest>,
    ) -> Answer<pb::Expansion> {
        let principal = reader(&request, Action::GetExpansion)?;
        let name = &request.get_ref().name;
        let (account, id) = requests::child_name("name", name, "expansions", ExpansionId::parse)?;
        let (e, owed) = self
            .app
            .read_expansion(&principal, &account, &id, name)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::expansion(&e, &owed)))
    }

    async fn list_expansions(
        &self,
        request: Request<pb::ListExpansionsRequest>,
    ) -> Answer<pb::ListExpansionsResponse> {
        let principal = reader(&request, Action::ListExpansions)?;
        let r = request.get_ref();
        let account = requests::account_id("parent", &r.parent)?;
        let mut v = Violations::new();
        let status = v.check(
            "status",
            optional::<pb::OpportunityRequestStatus, OpportunityRequestStatus>(r.status),
        );
        let kind = v.check("kind", optional::<pb::ExpansionKind, ExpansionKind>(r.kind));
        let (status, kind) = v.values((status, kind))?;
        let fingerprint = closeloop_kit::paging::fingerprint(&[
            &r.parent,
            status.map_or("", OpportunityRequestStatus::code),
            kind.map_or("", ExpansionKind::code),
        ]);
        let page = self
            .pages
            .page::<(i64, String)>(r.page_size, &r.page_token, fingerprint)?;
        let rows = self
            .app
            .expansions(
                &principal,
                &account,
                status,
                kind,
                page.after.as_ref(),
                page.overfetch(),
            )
            .await
            .map_err(in_api_words)?;
        let (expansions, next_page_token) = page.finish_within(
            rows,
            |(e, _)| (e.create_time, e.id.to_string()),
            |(e, owed)| responses::expansion(&e, &owed),
            |e| prost::Message::encoded_len(e) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListExpansionsResponse {
            expansions,
            next_page_token,
        }))
    }

    async fn record_referral(
        &self,
        request: Request<pb::RecordReferralRequest>,
    ) -> Answer<pb::Referral> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::RecordReferral, "parent", &r.parent, "")?;
        let input = requests::referral(r.referral.as_ref())?;
        let recorded = self
            .app
            .record_referral(target, input, responses::referral)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(recorded))
    }

    async fn get_referral(&self, request: Request<pb::GetReferralRequest>) -> Answer<pb::Referral> {
        let principal = reader(&request, Action::GetReferral)?;
        let name = &request.get_ref().name;
        let (account, id) = requests::child_name("name", name, "referrals", ReferralId::parse)?;
        let (e, owed) = self
            .app
            .read_referral(&principal, &account, &id, name)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::referral(&e, &owed)))
    }

    async fn list_referrals(
        &self,
        request: Request<pb::ListReferralsRequest>,
    ) -> Answer<pb::ListReferralsResponse> {
        let principal = reader(&request, Action::ListReferrals)?;
        let r = request.get_ref();
        let account = requests::account_id("parent", &r.parent)?;
        let status = optional::<pb::OpportunityRequestStatus, OpportunityRequestStatus>(r.status)
            .map_err(|e| Problem::invalid("status", e))?;
        let fingerprint = closeloop_kit::paging::fingerprint(&[
            &r.parent,
            status.map_or("", OpportunityRequestStatus::code),
        ]);
        let page = self
            .pages
            .page::<(i64, String)>(r.page_size, &r.page_token, fingerprint)?;
        let rows = self
            .app
            .referrals(
                &principal,
                &account,
                status,
                page.after.as_ref(),
                page.overfetch(),
            )
            .await
            .map_err(in_api_words)?;
        let (referrals, next_page_token) = page.finish_within(
            rows,
            |(e, _)| (e.create_time, e.id.to_string()),
            |(e, owed)| responses::referral(&e, &owed),
            |e| prost::Message::encoded_len(e) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListReferralsResponse {
            referrals,
            next_page_token,
        }))
    }

    async fn get_portfolio_metrics(
        &self,
        request: Request<pb::GetPortfolioMetricsRequest>,
    ) -> Answer<pb::PortfolioMetrics> {
        let principal = reader(&request, Action::GetPortfolioMetrics)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let mut managers = Some(Vec::with_capacity(r.account_managers.len()));
        if r.account_managers.len() <= crate::domain::limits::MAX_REPORT_SUBJECTS {
            for (i, m) in r.account_managers.iter().enumerate() {
                match requests::filter_value("account_managers", m) {
                    Ok(Some(m)) => {
                        if let Some(list) = managers.as_mut() {
                            list.push(m);
                        }
                    }
                    _ => {
                        v.add(
                            format!("account_managers[{i}]"),
                            "1 to 128 characters, no control characters",
                        );
                        managers = None;
                    }
                }
            }
        } else {
            managers = Some(r.account_managers.clone());
        }
        let period = v.check(
            "period",
            closeloop_kit::convert::date_range(r.period.as_ref()),
        );
        let currency = v.check(
            "currency_code",
            closeloop_kit::types::CurrencyCode::parse(&r.currency_code),
        );
        let (managers, (first, last), currency) = v.values((managers, period, currency))?;
        let managers = access::portfolio_managers(&principal, managers)?;
        let metrics = self
            .app
            .portfolio(&managers, first, last, currency)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::portfolio(&metrics)))
    }
}
