//! `closeloop.contracts.v1.PaymentService`: invoices, payment attempts, dunning, follow-ups and
//! account balances.

use closeloop_kit::rpc;
use closeloop_kit::types::{CurrencyCode, identifier, optional_text, required_text};
use closeloop_kit::{Problem, Violations};
use closeloop_proto::contracts::v1 as pb;
use closeloop_proto::contracts::v1::payment_service_server::PaymentService;
use tonic::{Request, Response, Status};

use super::enums::{optional, required};
use super::{Api, filter_value, listing_owner, reader, requests, responses};
use crate::app::payments::{Changed, InvoiceTarget};
use crate::domain::access::{self, Action};
use crate::domain::payments::NewAttempt;
use crate::domain::vocabulary::{
    AttemptId, ContractId, DeclineType, FollowUpId, InvoiceId, InvoiceStatus, OverdueLevel,
    PaymentResult,
};
use crate::store::invoices::InvoiceFilter;
use crate::store::payments::{AttemptFilter, FollowUpFilter};

type Answer<T> = Result<Response<T>, Status>;

/// The domain's names of a payment attempt's fields, and the API's.
const FIELDS: &[(&str, &str)] = &[
    ("amount", "payment_attempt.amount"),
    ("decline_type", "payment_attempt.decline_type"),
    ("attempt_time", "payment_attempt.attempt_time"),
];

fn in_api_words(problem: Problem) -> Status {
    problem.rename(FIELDS, requests::RESOURCES).into_status()
}

/// Parses `followUps/{follow_up}`.
fn follow_up_id(field: &str, name: &str) -> Result<FollowUpId, Problem> {
    name.strip_prefix("followUps/")
        .and_then(|id| FollowUpId::parse(id).ok())
        .ok_or_else(|| Problem::invalid(field, "must be followUps/{follow_up}"))
}

/// Parses `contracts/{c}/invoices/{i}/paymentAttempts/{a}`.
fn attempt_name(name: &str) -> Result<(ContractId, InvoiceId, AttemptId), Problem> {
    let parts: Vec<&str> = name.split('/').collect();
    if let ["contracts", c, "invoices", i, "paymentAttempts", a] = parts.as_slice()
        && let (Ok(c), Ok(i), Ok(a)) = (
            ContractId::parse(c),
            InvoiceId::parse(i),
            AttemptId::parse(a),
        )
    {
        return Ok((c, i, a));
    }
    Err(Problem::invalid(
        "name",
        "must be contracts/{contract}/invoices/{invoice}/paymentAttempts/{payment_attempt}",
    ))
}

/// Parses the parent of ListPaymentAttempts: an invoice, with `-` for the invoice or for both.
fn attempts_parent(name: &str) -> Result<(Option<ContractId>, Option<InvoiceId>), Problem> {
    let bad = || {
        Problem::invalid(
            "parent",
            "must be contracts/{contract}/invoices/{invoice}; - may stand for the invoice or both",
        )
    };
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["contracts", "-", "invoices", "-"] => Ok((None, None)),
        ["contracts", c, "invoices", "-"] => {
            Ok((Some(ContractId::parse(c).map_err(|_| bad())?), None))
        }
        ["contracts", c, "invoices", i] => Ok((
            Some(ContractId::parse(c).map_err(|_| bad())?),
            Some(InvoiceId::parse(i).map_err(|_| bad())?),
        )),
        _ => Err(bad()),
    }
}

const TEXT: &str = "at most the allowed length, no control characters";

fn new_attempt(a: Option<&pb::PaymentAttempt>) -> Result<NewAttempt, Problem> {
    const P: &str = "payment_attempt";
    let Some(a) = a else {
        return Err(Problem::invalid(P, "required"));
    };
    let mut v = Violations::new();
    let result = v.check(
        format!("{P}.result"),
        required::<pb::PaymentResult, PaymentResult>(a.result),
    );
    let amount = v.check(
        format!("{P}.amount"),
        closeloop_kit::convert::money(a.amount.as_ref()),
    );
    let decline = v.check(
        format!("{P}.decline_type"),
        optional::<pb::DeclineType, DeclineType>(a.decline_type),
    );
    let code = v.check(
        format!("{P}.failure_code"),
        optional_text(&a.failure_code, requests::MAX_ID),
    );
    let message = v.check(
        format!("{P}.failure_message"),
        optional_text(&a.failure_message, requests::MAX_NOTE),
    );
    let processor = v.check(
        format!("{P}.processor"),
        required_text(&a.processor, requests::MAX_ID),
    );
    let reference = v.check(
        format!("{P}.processor_reference"),
        optional_text(&a.processor_reference, requests::MAX_ID * 2),
    );
    let method = v.check(
        format!("{P}.payment_method"),
        optional_text(&a.payment_method, requests::MAX_ID),
    );
    let time = v.check(
        format!("{P}.attempt_time"),
        requests::instant("attempt_time", a.attempt_time.as_ref())
            .map_err(|_| "not a valid timestamp"),
    );
    let (result, amount, decline_type, code, message, processor, reference, method, time) = v
        .values((
            result, amount, decline, code, message, processor, reference, method, time,
        ))?;
    Ok(NewAttempt {
        result,
        currency: amount.currency,
        amount: amount.minor,
        decline_type,
        failure_code: code,
        failure_message: message,
        processor,
        processor_reference: reference,
        payment_method: method,
        attempt_time: time,
    })
}

fn page_size_ok(v: &mut Violations, page_size: i32) {
    if page_size < 0 {
        v.add("page_size", "must not be negative");
    }
}

impl Api {
    fn changed_invoice(&self) -> impl FnOnce(Changed<'_>) -> pb::Invoice + '_ {
        move |c| responses::invoice(c.invoice, self.app.clock.today(), &self.app.policy)
    }

    /// The smallest days past due at which an invoice is at `level` or higher; `None` for
    /// NONE (every invoice).
    fn min_days(&self, level: OverdueLevel) -> Option<i64> {
        if level == OverdueLevel::None {
            return None;
        }
        Some(
            self.app
                .policy
                .ladder()
                .into_iter()
                .filter(|(l, _)| *l >= level)
                .map(|(_, d)| i64::from(d))
                .min()
                // No configured rung reaches it: nothing is that far up.
                .unwrap_or(i64::from(i32::MAX)),
        )
    }
}

#[tonic::async_trait]
impl PaymentService for Api {
    async fn get_invoice(&self, request: Request<pb::GetInvoiceRequest>) -> Answer<pb::Invoice> {
        let principal = reader(&request, Action::ReadInvoices)?;
        let (c, i) = requests::invoice_name("name", &request.get_ref().name)?;
        let invoice = self
            .app
            .get_invoice(&principal, &c, &i)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::invoice(
            &invoice,
            self.app.clock.today(),
            &self.app.policy,
        )))
    }

    async fn list_invoices(
        &self,
        request: Request<pb::ListInvoicesRequest>,
    ) -> Answer<pb::ListInvoicesResponse> {
        let principal = reader(&request, Action::ReadInvoices)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        page_size_ok(&mut v, r.page_size);
        let contract = v.check(
            "parent",
            requests::parent(&r.parent).map_err(|_| "must be contracts/{contract} or contracts/-"),
        );
        let account_id = v.check(
            "account_id",
            filter_value("account_id", &r.account_id).map_err(|_| TEXT),
        );
        let owner = v.check("owner", filter_value("owner", &r.owner).map_err(|_| TEXT));
        let status = v.check(
            "status",
            optional::<pb::InvoiceStatus, InvoiceStatus>(r.status),
        );
        let level = v.check(
            "min_overdue_level",
            optional::<pb::OverdueLevel, OverdueLevel>(r.min_overdue_level),
        );
        let retry = v.check(
            "retry_due_before",
            requests::instant("retry_due_before", r.retry_due_before.as_ref())
                .map_err(|_| "not a valid timestamp"),
        );
        let (contract, account_id, owner, status, level, retry) =
            v.values((contract, account_id, owner, status, level, retry))?;
        let owner = listing_owner(
            &principal,
            Action::ReadInvoices,
            owner.as_deref().unwrap_or(""),
        )?;
        if let Some(id) = &contract {
            // A contract the caller may not read is NOT_FOUND, as if it did not exist.
            self.app
                .get_contract(&principal, id)
                .await
                .map_err(in_api_words)?;
        }
        let filter = InvoiceFilter {
            contract,
            account_id,
            owner,
            status,
            past_due_only: r.past_due_only,
            min_days_past_due: level.and_then(|l| self.min_days(l)),
            retry_due_before: retry,
        };
        let page =
            self.pages
                .page::<(i64, String)>(r.page_size, &r.page_token, filter.fingerprint())?;
        let today = self.app.clock.today();
        let rows = self
            .app
            .store
            .list_invoices(&filter, today, page.after.as_ref(), page.overfetch())
            .await?;
        let policy = &self.app.policy;
        let (invoices, next_page_token) = page.finish_within(
            rows,
            |i| {
                (
                    closeloop_kit::time::epoch_days(i.due_date),
                    i.id.to_string(),
                )
            },
            |i| responses::invoice(&i, today, policy),
            |i| prost::Message::encoded_len(i) + 8,
            self.page_bytes,
        );
        Ok(Response::new(pb::ListInvoicesResponse {
            invoices,
            next_page_token,
        }))
    }

    async fn void_invoice(&self, request: Request<pb::VoidInvoiceRequest>) -> Answer<pb::Invoice> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::WriteOffInvoice)?;
        let r = request.get_ref();
        let (contract, id) = requests::invoice_name("name", &r.name)?;
        let reason = requests::reason("reason", &r.reason)?;
        let target = InvoiceTarget {
            principal: &call.principal,
            contract,
            id,
            etag: &r.etag,
            action: Action::WriteOffInvoice,
            key: call.key.as_ref(),
        };
        let invoice = self
            .app
            .settle_invoice(target, true, reason, self.changed_invoice())
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(invoice))
    }

    async fn mark_invoice_uncollectible(
        &self,
        request: Request<pb::MarkInvoiceUncollectibleRequest>,
    ) -> Answer<pb::Invoice> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::WriteOffInvoice)?;
        let r = request.get_ref();
        let (contract, id) = requests::invoice_name("name", &r.name)?;
        let reason = requests::reason("reason", &r.reason)?;
        let target = InvoiceTarget {
            principal: &call.principal,
            contract,
            id,
            etag: &r.etag,
            action: Action::WriteOffInvoice,
            key: call.key.as_ref(),
        };
        let invoice = self
            .app
            .settle_invoice(target, false, reason, self.changed_invoice())
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(invoice))
    }

    async fn record_payment_attempt(
        &self,
        request: Request<pb::RecordPaymentAttemptRequest>,
    ) -> Answer<pb::RecordPaymentAttemptResponse> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::RecordPayment)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let invoice = v.check(
            "parent",
            requests::invoice_name("parent", &r.parent)
                .map_err(|_| "must be contracts/{contract}/invoices/{invoice}"),
        );
        if r.request_id.is_empty() {
            v.add(
                "request_id",
                "required: the processor's event id, so a repeat is applied once",
            );
        }
        let new = match new_attempt(r.payment_attempt.as_ref()) {
            Ok(new) => Some(new),
            Err(Problem::InvalidArgument(more)) => {
                for f in more {
                    v.add(f.field, f.description);
                }
                None
            }
            Err(other) => return Err(other.into_status()),
        };
        let ((contract, id), new) = v.values((invoice, new))?;
        let target = InvoiceTarget {
            principal: &call.principal,
            contract,
            id,
            etag: "",
            action: Action::RecordPayment,
            key: call.key.as_ref(),
        };
        let today = self.app.clock.today();
        let policy = &self.app.policy;
        let recorded = self
            .app
            .record_attempt(target, new, |c| pb::RecordPaymentAttemptResponse {
                payment_attempt: c.attempt.map(responses::attempt),
                invoice: Some(responses::invoice(c.invoice, today, policy)),
                follow_up: c.follow_up.map(responses::follow_up),
            })
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(recorded))
    }

    async fn get_payment_attempt(
        &self,
        request: Request<pb::GetPaymentAttemptRequest>,
    ) -> Answer<pb::PaymentAttempt> {
        let principal = reader(&request, Action::ReadInvoices)?;
        let name = &request.get_ref().name;
        let (c, i, a) = attempt_name(name)?;
        let not_found = || {
            in_api_words(Problem::NotFound {
                resource: "payment_attempt",
                name: name.clone(),
            })
        };
        let attempt = self
            .app
            .store
            .get_attempt(&c, &i, &a)
            .await?
            .filter(|a| access::may(&principal, Action::ReadInvoices, &a.owner))
            .ok_or_else(not_found)?;
        Ok(Response::new(responses::attempt(&attempt)))
    }

    async fn list_payment_attempts(
        &self,
        request: Request<pb::ListPaymentAttemptsRequest>,
    ) -> Answer<pb::ListPaymentAttemptsResponse> {
        let principal = reader(&request, Action::ReadInvoices)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        page_size_ok(&mut v, r.page_size);
        let parent = v.check("parent", attempts_parent(&r.parent).map_err(|_| "must be contracts/{contract}/invoices/{invoice}; - may stand for the invoice or both"));
        let result = v.check(
            "result",
            optional::<pb::PaymentResult, PaymentResult>(r.result),
        );
        let account_id = v.check(
            "account_id",
            filter_value("account_id", &r.account_id).map_err(|_| TEXT),
        );
        let ((contract, invoice), result, account_id) = v.values((parent, result, account_id))?;
        // A sales_rep sees the attempts of its own contracts only; naming a contract or an
        // invoice it may not read is NOT_FOUND.
        let owner = listing_owner(&principal, Action::ReadInvoices, "")?;
        match (&contract, &invoice) {
            (Some(c), Some(i)) => {
                self.app
                    .get_invoice(&principal, c, i)
                    .await
                    .map_err(in_api_words)?;
            }
            (Some(c), None) => {
                self.app
                    .get_contract(&principal, c)
                    .await
                    .map_err(in_api_words)?;
            }
            _ => {}
        }
        let filter = AttemptFilter {
            contract,
            invoice,
            owner,
            account_id,
            result,
        };
        let page = self
            .pages
            .page::<String>(r.page_size, &r.page_token, filter.fingerprint())?;
        let rows = self
            .app
            .store
            .list_attempts(&filter, page.after.as_deref(), page.overfetch())
            .await?;
        let (rows, next_page_token) = page.finish(rows, |a| a.id.to_string());
        Ok(Response::new(pb::ListPaymentAttemptsResponse {
            payment_attempts: rows.iter().map(responses::attempt).collect(),
            next_page_token,
        }))
    }

    async fn get_follow_up(
        &self,
        request: Request<pb::GetFollowUpRequest>,
    ) -> Answer<pb::FollowUp> {
        let principal = reader(&request, Action::ReadFollowUps)?;
        let id = follow_up_id("name", &request.get_ref().name)?;
        let f = self
            .app
            .get_follow_up(&principal, &id)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::follow_up(&f)))
    }

    async fn list_follow_ups(
        &self,
        request: Request<pb::ListFollowUpsRequest>,
    ) -> Answer<pb::ListFollowUpsResponse> {
        let principal = reader(&request, Action::ReadFollowUps)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        page_size_ok(&mut v, r.page_size);
        let assignee = v.check(
            "assignee",
            filter_value("assignee", &r.assignee).map_err(|_| TEXT),
        );
        let account_id = v.check(
            "account_id",
            filter_value("account_id", &r.account_id).map_err(|_| TEXT),
        );
        let contract = if r.contract.is_empty() {
            Some(None)
        } else {
            v.check(
                "contract",
                requests::contract_id("contract", &r.contract)
                    .map(Some)
                    .map_err(|_| "must be contracts/{contract}"),
            )
        };
        let (assignee, account_id, contract) = v.values((assignee, account_id, contract))?;
        let assignee = listing_owner(
            &principal,
            Action::ReadFollowUps,
            assignee.as_deref().unwrap_or(""),
        )?;
        let filter = FollowUpFilter {
            assignee,
            open_only: r.open_only,
            account_id,
            contract,
        };
        let page = self
            .pages
            .page::<String>(r.page_size, &r.page_token, filter.fingerprint())?;
        let rows = self
            .app
            .store
            .list_follow_ups(&filter, page.after.as_deref(), page.overfetch())
            .await?;
        let (rows, next_page_token) = page.finish(rows, |f| f.id.to_string());
        Ok(Response::new(pb::ListFollowUpsResponse {
            follow_ups: rows.iter().map(responses::follow_up).collect(),
            next_page_token,
        }))
    }

    async fn resolve_follow_up(
        &self,
        request: Request<pb::ResolveFollowUpRequest>,
    ) -> Answer<pb::FollowUp> {
        let call = rpc::mutation(&request, |r| &r.request_id)?;
        access::require_role(&call.principal, Action::ResolveFollowUp)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let id = v.check(
            "name",
            follow_up_id("name", &r.name).map_err(|_| "must be followUps/{follow_up}"),
        );
        let note = v.check(
            "note",
            requests::reason("note", &r.note).map_err(|_| "required, 1 to 2000 characters"),
        );
        let (id, note) = v.values((id, note))?;
        let resolved = self
            .app
            .resolve_follow_up(
                &call.principal,
                call.key.as_ref(),
                &id,
                &r.etag,
                note,
                responses::follow_up,
            )
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(resolved))
    }

    async fn get_account_balance(
        &self,
        request: Request<pb::GetAccountBalanceRequest>,
    ) -> Answer<pb::AccountBalance> {
        let principal = reader(&request, Action::ReadBalance)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let account = v.check("account_id", identifier(&r.account_id, requests::MAX_ID));
        let currency = if r.currency_code.is_empty() {
            Some(None)
        } else {
            v.check("currency_code", CurrencyCode::parse(&r.currency_code))
                .map(Some)
        };
        let (account, currency) = v.values((account, currency))?;
        let balance = self
            .app
            .account_balance(&principal, &account, currency)
            .await
            .map_err(in_api_words)?;
        Ok(Response::new(responses::balance(&balance)))
    }

    async fn get_payment_policy(
        &self,
        request: Request<pb::GetPaymentPolicyRequest>,
    ) -> Answer<pb::PaymentPolicy> {
        reader(&request, Action::ReadPolicy)?;
        Ok(Response::new(responses::policy(&self.app.policy)))
    }
}
