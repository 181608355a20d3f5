//! `closeloop.handoff.v1.HandoffService`: handoffs from StartHandoff to acceptance.

use closeloop_kit::rpc;
use closeloop_kit::{Problem, Violations};
use closeloop_proto::handoff::v1 as pb;
use closeloop_proto::handoff::v1::handoff_service_server::HandoffService;
use tonic::{Request, Response, Status};

use super::enums::optional;
use super::{Api, in_api_words, reader, requests, responses, target};
use crate::app::handoffs::Seen;
use crate::domain::access::{self, Action};
use crate::domain::vocabulary::HandoffStatus;
use crate::store::handoffs::HandoffFilter;

type Answer<T> = Result<Response<T>, Status>;

fn handoff_answer(seen: Seen<'_>) -> pb::Handoff {
    responses::handoff(seen)
}

#[tonic::async_trait]
impl HandoffService for Api {
    async fn start_handoff(
        &self,
        request: Request<pb::StartHandoffRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::StartHandoff)?;
        let snapshot = requests::snapshot(request.get_ref().contract_snapshot.as_ref())?;
        // The caller's deadline bounds how long the opportunity is waited for.
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(closeloop_kit::layers::parse_grpc_timeout);
        let started = self
            .app
            .start_handoff(
                &call.principal,
                call.key.as_ref(),
                snapshot,
                deadline,
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(started))
    }

    async fn get_handoff(&self, request: Request<pb::GetHandoffRequest>) -> Answer<pb::Handoff> {
        let principal = reader(&request, Action::Read)?;
        let id = requests::handoff_id("name", &request.get_ref().name)?;
        let (h, call) = self
            .app
            .get_handoff(&principal, &id)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::handoff(Seen {
            handoff: &h,
            call: call.as_ref(),
            now: self.app.clock.now_micros(),
        })))
    }

    async fn list_handoffs(
        &self,
        request: Request<pb::ListHandoffsRequest>,
    ) -> Answer<pb::ListHandoffsResponse> {
        let principal = reader(&request, Action::Read)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        if r.page_size < 0 {
            v.add("page_size", "must not be negative");
        }
        let salesperson = v.check("salesperson", requests::filter_value(&r.salesperson));
        let account_manager = v.check(
            "account_manager",
            requests::filter_value(&r.account_manager),
        );
        if r.unassigned_only && !r.account_manager.is_empty() {
            v.add(
                "unassigned_only",
                "cannot be combined with account_manager: an assigned handoff is not unassigned",
            );
        }
        let status = v.check(
            "status",
            optional::<pb::HandoffStatus, HandoffStatus>(r.status),
        );
        let account_id = v.check("account_id", requests::filter_value(&r.account_id));
        let contract = v.check(
            "contract",
            requests::filter_name(&r.contract, requests::is_contract, "contracts/{contract}"),
        );
        let order = v.check(
            "order",
            requests::filter_name(
                &r.order,
                requests::is_order,
                "contracts/{contract}/orders/{order}",
            ),
        );
        let (salesperson, account_manager, status, account_id, contract, order) = v.values((
            salesperson,
            account_manager,
            status,
            account_id,
            contract,
            order,
        ))?;
        let salesperson = access::listed_salesperson(&principal, salesperson)?;
        let filter = HandoffFilter {
            salesperson,
            account_manager,
            status,
            account_id,
            contract,
            unassigned_only: r.unassigned_only,
            order,
        };
        let page = self
            .pages
            .page::<String>(r.page_size, &r.page_token, filter.fingerprint())?;
        let rows = self
            .app
            .store
            .list_handoffs(&filter, page.after.as_deref(), page.overfetch())
            .await?;
        let mut seen = Vec::with_capacity(rows.len());
        for h in rows {
            let call = self.app.open_account_call(&h).await?;
            seen.push((h, call));
        }
        let now = self.app.clock.now_micros();
        let (handoffs, next_page_token) = page.finish_within(
            seen,
            |(h, _)| h.id.to_string(),
            |(h, call)| {
                responses::handoff(Seen {
                    handoff: &h,
                    call: call.as_ref(),
                    now,
                })
            },
            |h| prost::Message::encoded_len(h) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListHandoffsResponse {
            handoffs,
            next_page_token,
        }))
    }

    async fn update_handoff(
        &self,
        request: Request<pb::UpdateHandoffRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::UpdateHandoff)?;
        let r = request.get_ref();
        let Some(h) = r.handoff.as_ref() else {
            return Err(Problem::invalid("handoff", "required").into_status());
        };
        let target = target(
            &call,
            Action::UpdateHandoff,
            "handoff.name",
            &h.name,
            &h.etag,
        )?;
        let fields = requests::fields(r.update_mask.as_ref())?;
        let principal = &call.principal;
        // Who may replace which field is known once the handoff is loaded; the values are
        // parsed after that, so a caller learns first what it may not change.
        let updated = self
            .app
            .change_handoff(
                target,
                |handoff, now| {
                    access::check_fields(principal, handoff, &fields)?;
                    let patch = requests::patch(h, &fields)?;
                    handoff.edit(principal, patch, now)?;
                    Ok(true)
                },
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn assign_account_manager(
        &self,
        request: Request<pb::AssignAccountManagerRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(
            &call,
            Action::AssignAccountManager,
            "name",
            &r.name,
            &r.etag,
        )?;
        let account_manager = requests::account_manager(&r.account_manager)?;
        let principal = &call.principal;
        let updated = self
            .app
            .change_handoff(
                target,
                |handoff, now| {
                    handoff.assign_account_manager(principal, account_manager.clone(), now)
                },
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn get_handoff_readiness(
        &self,
        request: Request<pb::GetHandoffReadinessRequest>,
    ) -> Answer<pb::Readiness> {
        let principal = reader(&request, Action::Read)?;
        let id = requests::handoff_id("name", &request.get_ref().name)?;
        let (h, _) = self
            .app
            .get_handoff(&principal, &id)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::readiness(
            &h.readiness(),
            self.app.clock.now_micros(),
        )))
    }

    async fn submit_handoff(
        &self,
        request: Request<pb::SubmitHandoffRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::SubmitHandoff, "name", &r.name, &r.etag)?;
        let principal = &call.principal;
        let updated = self
            .app
            .change_handoff(
                target,
                |handoff, now| handoff.submit(principal, now).map(|()| true),
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn reject_handoff(
        &self,
        request: Request<pb::RejectHandoffRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::RejectHandoff, "name", &r.name, &r.etag)?;
        let reasons = requests::reasons(&r.reasons)?;
        let principal = &call.principal;
        let updated = self
            .app
            .change_handoff(
                target,
                |handoff, now| {
                    handoff
                        .reject(principal, reasons.clone(), now)
                        .map(|()| true)
                },
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn accept_handoff(
        &self,
        request: Request<pb::AcceptHandoffRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::AcceptHandoff, "name", &r.name, &r.etag)?;
        let accepted = self
            .app
            .accept_handoff(target, handoff_answer)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(accepted))
    }

    async fn schedule_introduction(
        &self,
        request: Request<pb::ScheduleIntroductionRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(
            &call,
            Action::ScheduleIntroduction,
            "name",
            &r.name,
            &r.etag,
        )?;
        let plan = requests::plan(r)?;
        let principal = &call.principal;
        let updated = self
            .app
            .change_handoff(
                target,
                |handoff, now| {
                    handoff
                        .schedule_introduction(principal, plan.clone(), now)
                        .map(|()| true)
                },
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn complete_introduction(
        &self,
        request: Request<pb::CompleteIntroductionRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(
            &call,
            Action::CompleteIntroduction,
            "name",
            &r.name,
            &r.etag,
        )?;
        let done = requests::done(r)?;
        let principal = &call.principal;
        let updated = self
            .app
            .change_handoff(
                target,
                |handoff, now| {
                    handoff
                        .complete_introduction(principal, done.clone(), now)
                        .map(|()| true)
                },
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn update_onboarding_step_status(
        &self,
        request: Request<pb::UpdateOnboardingStepStatusRequest>,
    ) -> Answer<pb::Handoff> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(
            &call,
            Action::UpdateOnboardingStepStatus,
            "name",
            &r.name,
            &r.etag,
        )?;
        let (step, status, note) = requests::step_status(r)?;
        let principal = &call.principal;
        let updated = self
            .app
            .change_handoff(
                target,
                |handoff, now| {
                    handoff
                        .set_step_status(principal, &step, status, note.clone(), now)
                        .map(|()| true)
                },
                handoff_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }
}
