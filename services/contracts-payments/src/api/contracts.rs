//! `closeloop.contracts.v1.ContractService`: contracts from a won deal to their end, and their
//! orders.

use closeloop_kit::Problem;
use closeloop_kit::outbox;
use closeloop_kit::rpc;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as pb;
use closeloop_proto::contracts::v1::contract_service_server::ContractService;
use tonic::{Request, Response, Status};

use super::enums::{optional, required};
use super::{Api, filter_value, in_api_words, listing_owner, reader, requests, responses, target};
use crate::app::contracts::Seen;
use crate::domain::access::{self, Action};
use crate::domain::contract::Contract;
use crate::domain::invoice::Invoice;
use crate::domain::lifecycle::{SignerRef, Termination};
use crate::domain::vocabulary::{
    ContractStatus, DealKind, DeliverableStatus, ObligationStatus, OrderStatus, TerminationReason,
};
use crate::store::contracts::{ContractFilter, OrderFilter};

type Answer<T> = Result<Response<T>, Status>;

fn order_not_found(name: &str) -> Problem {
    Problem::NotFound {
        resource: "order",
        name: name.to_owned(),
    }
}

impl Api {
    /// The invoices of each contract in `contracts` that has an order.
    async fn invoices_for(&self, contracts: &[Contract]) -> Result<Vec<Invoice>, Problem> {
        let ids: Vec<_> = contracts
            .iter()
            .filter(|c| c.order.is_some())
            .map(|c| &c.id)
            .collect();
        self.app.store.invoices_of_many(&ids).await
    }

    async fn order_answer(&self, c: &Contract, invoices: &[Invoice]) -> Result<pb::Order, Problem> {
        let command = c.order.as_ref().map_or("", |o| o.handoff_command.as_str());
        let handoff = outbox::owed_status(self.app.store.db(), command).await?;
        responses::order(
            Seen {
                contract: c,
                invoices,
                today: self.app.clock.today(),
            },
            &handoff,
        )
        .ok_or_else(|| Problem::internal("an order answer without an order"))
    }
}

fn contract_answer(seen: Seen<'_>) -> pb::Contract {
    responses::contract(seen)
}

#[tonic::async_trait]
impl ContractService for Api {
    async fn create_contract(
        &self,
        request: Request<pb::CreateContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::CreateContract)?;
        let r = request.get_ref();
        let Some(c) = r.contract.as_ref() else {
            return Err(Problem::invalid("contract", "required").into_status());
        };
        let (snapshot, currency) = match requests::snapshot(c.opportunity_snapshot.as_ref()) {
            Ok(s) => s,
            Err(Problem::InvalidArgument(mut first)) => {
                // Name what is wrong with the draft in the same answer.
                if let Some(currency) = c
                    .opportunity_snapshot
                    .as_ref()
                    .and_then(|s| s.amount.as_ref())
                    .and_then(|m| closeloop_kit::types::CurrencyCode::parse(&m.currency_code).ok())
                    && let Err(Problem::InvalidArgument(more)) = requests::draft(c, None, currency)
                {
                    first.extend(more);
                }
                return Err(Problem::InvalidArgument(first).into_status());
            }
            Err(other) => return Err(other.into_status()),
        };
        let draft = requests::draft(c, None, currency)?;
        let created = self
            .app
            .create_contract(
                &call.principal,
                call.key.as_ref(),
                snapshot,
                currency,
                draft,
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(created))
    }

    async fn get_contract(&self, request: Request<pb::GetContractRequest>) -> Answer<pb::Contract> {
        let principal = reader(&request, Action::ReadContracts)?;
        let id = requests::contract_id("name", &request.get_ref().name)?;
        let (c, invoices) = self
            .app
            .get_contract(&principal, &id)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::contract(Seen {
            contract: &c,
            invoices: &invoices,
            today: self.app.clock.today(),
        })))
    }

    async fn list_contracts(
        &self,
        request: Request<pb::ListContractsRequest>,
    ) -> Answer<pb::ListContractsResponse> {
        let principal = reader(&request, Action::ReadContracts)?;
        let r = request.get_ref();
        let mut v = closeloop_kit::Violations::new();
        if r.page_size < 0 {
            v.add("page_size", "must not be negative");
        }
        let owner = v.check(
            "owner",
            filter_value("owner", &r.owner)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let account_id = v.check(
            "account_id",
            filter_value("account_id", &r.account_id)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let status = v.check(
            "status",
            optional::<pb::ContractStatus, ContractStatus>(r.status),
        );
        let kind = v.check("kind", optional::<pb::DealKind, DealKind>(r.kind));
        let opportunity = if r.opportunity.is_empty() {
            Some(None)
        } else if r
            .opportunity
            .strip_prefix("opportunities/")
            .is_some_and(closeloop_kit::ids::is_id)
        {
            Some(Some(r.opportunity.clone()))
        } else {
            v.add("opportunity", "must be opportunities/{opportunity}");
            None
        };
        let (owner, account_id, status, kind, opportunity) =
            v.values((owner, account_id, status, kind, opportunity))?;
        let owner = listing_owner(
            &principal,
            Action::ReadContracts,
            owner.as_deref().unwrap_or(""),
        )?;
        let filter = ContractFilter {
            owner,
            account_id,
            status,
            opportunity,
            kind,
        };
        let page = self
            .pages
            .page::<String>(r.page_size, &r.page_token, filter.fingerprint())?;
        let now = self.app.clock.now_micros();
        let mut rows = self
            .app
            .store
            .list_contracts(&filter, now, page.after.as_deref(), page.overfetch())
            .await?;
        for c in &mut rows {
            c.expire_if_due(now, &self.app.service_subject);
        }
        let invoices = self.invoices_for(&rows).await?;
        let today = self.app.clock.today();
        let (contracts, next_page_token) = page.finish_within(
            rows,
            |c| c.id.to_string(),
            |c| {
                let mine: Vec<Invoice> = invoices
                    .iter()
                    .filter(|i| i.contract == c.id)
                    .cloned()
                    .collect();
                responses::contract(Seen {
                    contract: &c,
                    invoices: &mine,
                    today,
                })
            },
            |c| prost::Message::encoded_len(c) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListContractsResponse {
            contracts,
            next_page_token,
        }))
    }

    async fn update_contract(
        &self,
        request: Request<pb::UpdateContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let Some(c) = r.contract.as_ref() else {
            return Err(Problem::invalid("contract", "required").into_status());
        };
        let target = target(
            &call,
            Action::UpdateContract,
            "contract.name",
            &c.name,
            &c.etag,
        )?;
        let paths =
            closeloop_kit::convert::update_mask(r.update_mask.as_ref(), requests::UPDATABLE)?;
        // Amounts are checked against the contract's currency, known once it is loaded; a
        // refusal rolls the transaction back, so nothing changes either way.
        let updated = self
            .app
            .change_contract(
                target,
                |contract, _actor, now| {
                    let draft = requests::draft(c, Some(&paths), contract.currency)?;
                    contract.edit(draft, now)
                },
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn send_contract(
        &self,
        request: Request<pb::SendContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::SendContract, "name", &r.name, &r.etag)?;
        let mut v = closeloop_kit::Violations::new();
        let expire = v.check(
            "expire_time",
            requests::instant("expire_time", r.expire_time.as_ref())
                .map_err(|_| "not a valid timestamp"),
        );
        let envelope = v.check(
            "esignature_envelope_id",
            requests::reference("esignature_envelope_id", &r.esignature_envelope_id)
                .map_err(|_| "at most 2000 characters, no control characters"),
        );
        let (expire, envelope) = v.values((expire, envelope))?;
        let policy = self.app.policy.clone();
        let updated = self
            .app
            .change_contract(
                target,
                move |c, actor, now| c.send(expire, envelope, &policy, actor, now),
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn sign_contract(
        &self,
        request: Request<pb::SignContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::SignContract, "name", &r.name, &r.etag)?;
        let mut v = closeloop_kit::Violations::new();
        let signer = match (r.signer_id.is_empty(), r.signer_email.is_empty()) {
            (false, true) => Some(SignerRef::Id(&r.signer_id)),
            (true, false) => Some(SignerRef::Email(&r.signer_email)),
            (true, true) => {
                v.add("signer_id", "one of signer_id and signer_email is required");
                None
            }
            (false, false) => {
                v.add("signer_email", "give signer_id or signer_email, not both");
                None
            }
        };
        let sign_time = v.check(
            "sign_time",
            requests::instant("sign_time", r.sign_time.as_ref())
                .map_err(|_| "not a valid timestamp"),
        );
        let reference = v.check(
            "signature_reference",
            requests::reference("signature_reference", &r.signature_reference)
                .map_err(|_| "at most 2000 characters, no control characters"),
        );
        let (signer, sign_time, reference) = v.values((signer, sign_time, reference))?;
        let updated = self
            .app
            .change_contract(
                target,
                move |c, actor, now| c.sign(signer, sign_time, reference, actor, now).map(|_| ()),
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn decline_contract(
        &self,
        request: Request<pb::DeclineContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::DeclineContract, "name", &r.name, &r.etag)?;
        let reason = requests::reason("reason", &r.reason)?;
        let signer = (!r.signer_id.is_empty()).then_some(r.signer_id.as_str());
        let updated = self
            .app
            .change_contract(
                target,
                |c, actor, now| c.decline(signer, &reason, actor, now),
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn void_contract(
        &self,
        request: Request<pb::VoidContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::SendContract, "name", &r.name, &r.etag)?;
        let reason = requests::reason("reason", &r.reason)?;
        let updated = self
            .app
            .change_contract(
                target,
                |c, actor, now| c.void(&reason, actor, now),
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Answer<pb::PlaceOrderResponse> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::PlaceOrder, "name", &r.name, &r.etag)?;
        let notes = requests::note("notes", &r.notes)?;
        let policy = self.app.policy.clone();
        let placed = self
            .app
            .place_order(target, notes, |seen| {
                let pending =
                    outbox::OwedStatus::written(seen.contract.activate_time.unwrap_or_default());
                let invoices = seen
                    .invoices
                    .iter()
                    .map(|i| responses::invoice(i, seen.today, &policy))
                    .collect();
                let order = responses::order(
                    Seen {
                        contract: seen.contract,
                        invoices: seen.invoices,
                        today: seen.today,
                    },
                    &pending,
                );
                pb::PlaceOrderResponse {
                    contract: Some(responses::contract(seen)),
                    order,
                    invoices,
                }
            })
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(placed))
    }

    async fn complete_contract(
        &self,
        request: Request<pb::CompleteContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::CompleteContract, "name", &r.name, &r.etag)?;
        let notes = requests::note("notes", &r.notes)?;
        let updated = self
            .app
            .complete_contract(target, notes, contract_answer)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn terminate_contract(
        &self,
        request: Request<pb::TerminateContractRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::TerminateContract, "name", &r.name, &r.etag)?;
        let mut v = closeloop_kit::Violations::new();
        let reason = v.check(
            "reason",
            required::<pb::TerminationReason, TerminationReason>(r.reason),
        );
        let notes = v.check(
            "notes",
            requests::note("notes", &r.notes)
                .map_err(|_| "at most 2000 characters, no control characters"),
        );
        if reason == Some(TerminationReason::Other) && r.notes.trim().is_empty() {
            v.add("notes", "required when the reason is OTHER");
        }
        let (reason, notes) = v.values((reason, notes))?;
        let updated = self
            .app
            .terminate_contract(target, Termination { reason, notes }, contract_answer)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn update_deliverable_status(
        &self,
        request: Request<pb::UpdateDeliverableStatusRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::UpdateDeliverable, "name", &r.name, &r.etag)?;
        let mut v = closeloop_kit::Violations::new();
        if r.deliverable_id.is_empty() {
            v.add("deliverable_id", "required");
        }
        let status = v.check(
            "status",
            required::<pb::DeliverableStatus, DeliverableStatus>(r.status),
        );
        let note = v.check(
            "note",
            requests::note("note", &r.note)
                .map_err(|_| "at most 2000 characters, no control characters"),
        );
        let (status, note) = v.values((status, note))?;
        let updated = self
            .app
            .change_contract(
                target,
                |c, actor, now| {
                    c.set_deliverable_status(&r.deliverable_id, status, &note, actor, now)
                },
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn update_obligation_status(
        &self,
        request: Request<pb::UpdateObligationStatusRequest>,
    ) -> Answer<pb::Contract> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        let r = request.get_ref();
        let target = target(&call, Action::UpdateObligation, "name", &r.name, &r.etag)?;
        let mut v = closeloop_kit::Violations::new();
        if r.obligation_id.is_empty() {
            v.add("obligation_id", "required");
        }
        let status = v.check(
            "status",
            required::<common::ObligationStatus, ObligationStatus>(r.status).map_err(|e| {
                if e.starts_with("value") {
                    "DELIVERED and CANCELLED describe company deliverables \
                     (UpdateDeliverableStatus), not client obligations"
                        .to_owned()
                } else {
                    e
                }
            }),
        );
        let note = v.check(
            "note",
            requests::note("note", &r.note)
                .map_err(|_| "at most 2000 characters, no control characters"),
        );
        let (status, note) = v.values((status, note))?;
        let updated = self
            .app
            .change_contract(
                target,
                |c, actor, now| {
                    c.set_obligation_status(&r.obligation_id, status, &note, actor, now)
                },
                contract_answer,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(updated))
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Answer<pb::Order> {
        let principal = reader(&request, Action::ReadContracts)?;
        let name = &request.get_ref().name;
        let (contract_id, order_id) = requests::order_name("name", name)?;
        let found = self.app.get_contract(&principal, &contract_id).await;
        let (c, invoices) = match found {
            Ok(found) => found,
            Err(Problem::NotFound { .. }) => return Err(in_api_words(order_not_found(name))),
            Err(e) => return Err(in_api_words(e)),
        };
        if c.order.as_ref().is_none_or(|o| o.id != order_id) {
            return Err(in_api_words(order_not_found(name)));
        }
        let order = self
            .order_answer(&c, &invoices)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(order))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Answer<pb::ListOrdersResponse> {
        let principal = reader(&request, Action::ReadContracts)?;
        let r = request.get_ref();
        let mut v = closeloop_kit::Violations::new();
        if r.page_size < 0 {
            v.add("page_size", "must not be negative");
        }
        let contract = v.check(
            "parent",
            requests::parent(&r.parent).map_err(|_| "must be contracts/{contract} or contracts/-"),
        );
        let owner = v.check(
            "owner",
            filter_value("owner", &r.owner)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let account_id = v.check(
            "account_id",
            filter_value("account_id", &r.account_id)
                .map_err(|_| "1 to 128 characters, no control characters"),
        );
        let status = v.check("status", optional::<pb::OrderStatus, OrderStatus>(r.status));
        let (contract, owner, account_id, status) =
            v.values((contract, owner, account_id, status))?;
        let owner = listing_owner(
            &principal,
            Action::ReadContracts,
            owner.as_deref().unwrap_or(""),
        )?;
        // A sales_rep naming a contract it does not own learns nothing: NOT_FOUND.
        if let Some(id) = &contract {
            self.app
                .get_contract(&principal, id)
                .await
                .map_err(in_api_words)?;
        }
        let filter = OrderFilter {
            contract,
            owner,
            account_id,
            status,
        };
        let page = self
            .pages
            .page::<String>(r.page_size, &r.page_token, filter.fingerprint())?;
        let rows = self
            .app
            .store
            .list_orders(&filter, page.after.as_deref(), page.overfetch())
            .await?;
        let invoices = self.invoices_for(&rows).await?;
        let (rows, next_page_token) = page.finish(rows, |c| {
            c.order
                .as_ref()
                .map(|o| o.id.to_string())
                .unwrap_or_default()
        });
        let mut orders = Vec::with_capacity(rows.len());
        for c in &rows {
            let mine: Vec<Invoice> = invoices
                .iter()
                .filter(|i| i.contract == c.id)
                .cloned()
                .collect();
            orders.push(self.order_answer(c, &mine).await.map_err(in_api_words)?);
        }
        Ok(Response::new(pb::ListOrdersResponse {
            orders,
            next_page_token,
        }))
    }
}
