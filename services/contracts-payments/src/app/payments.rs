//! Invoice, payment and follow-up use cases. A change loads the invoice (and its open
//! follow-up) in one transaction, applies the domain rule, saves the invoice, the attempt and
//! the follow-up, and stores the answer under the request's `request_id`.

use closeloop_kit::idempotency::{self, Begun, RequestKey, Work};
use closeloop_kit::{Principal, Problem};
use prost::Message;

use super::App;
use crate::domain::access::{self, Action};
use crate::domain::balance::{AccountBalance, AccountContract};
use crate::domain::follow_up::{FollowUp, resolve_follow_up};
use crate::domain::invoice::Invoice;
use crate::domain::payments::{AttemptIds, FollowUpChange, NewAttempt, PaymentAttempt, Service};
use crate::domain::vocabulary::{Actor, AttemptId, ContractId, FollowUpId, InvoiceId};

/// NOT_FOUND for an invoice that does not exist or that the caller may not read.
pub fn invoice_not_found(contract: &ContractId, id: &InvoiceId) -> Problem {
    Problem::NotFound {
        resource: "invoice",
        name: format!("contracts/{contract}/invoices/{id}"),
    }
}

/// NOT_FOUND for a follow-up that does not exist or that the caller may not read.
pub fn follow_up_not_found(id: &FollowUpId) -> Problem {
    Problem::NotFound {
        resource: "follow_up",
        name: format!("followUps/{id}"),
    }
}

/// An invoice a change is for.
pub struct InvoiceTarget<'a> {
    pub principal: &'a Principal,
    pub contract: ContractId,
    pub id: InvoiceId,
    pub etag: &'a str,
    pub action: Action,
    pub key: Option<&'a RequestKey>,
}

/// What a payment change answers with.
pub struct Changed<'a> {
    pub invoice: &'a Invoice,
    pub attempt: Option<&'a PaymentAttempt>,
    pub follow_up: Option<&'a FollowUp>,
}

impl App {
    fn service(&self) -> Service<'_> {
        Service {
            policy: &self.policy,
            subject: &self.service_subject,
        }
    }

    /// Reads one invoice the caller may see.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; database errors.
    pub async fn get_invoice(
        &self,
        principal: &Principal,
        contract: &ContractId,
        id: &InvoiceId,
    ) -> Result<Invoice, Problem> {
        self.store
            .get_invoice(contract, id)
            .await?
            .filter(|i| access::may(principal, Action::ReadInvoices, &i.owner))
            .ok_or_else(|| invoice_not_found(contract, id))
    }

    /// Starts an invoice change: the transaction, the invoice (checked for access and etag)
    /// and its open follow-up. `Err(answer)` when the request was applied before.
    async fn begin_invoice<'k, M: Message + Default>(
        &self,
        target: &InvoiceTarget<'k>,
        now: i64,
    ) -> Result<Result<(Work<'k>, Invoice, Option<FollowUp>), M>, Problem> {
        let mut work = match idempotency::begin(self.store.db(), target.key, now).await? {
            Begun::Repeat(answer) => return Ok(Err(answer)),
            Begun::Fresh(work) => work,
        };
        let invoice = self
            .store
            .load_invoice(work.conn(), &target.contract, &target.id)
            .await?
            .filter(|i| access::may(target.principal, Action::ReadInvoices, &i.owner))
            .ok_or_else(|| invoice_not_found(&target.contract, &target.id))?;
        access::authorize(target.principal, target.action, &invoice.owner)?;
        invoice.check_etag(target.etag)?;
        let follow_up = match &invoice.open_follow_up {
            Some(id) => self.store.load_follow_up(work.conn(), id, true).await?,
            None => None,
        };
        Ok(Ok((work, invoice, follow_up)))
    }

    /// RecordPaymentAttempt.
    ///
    /// # Errors
    /// As the domain's `record_attempt`; NOT_FOUND; ALREADY_EXISTS for a processor reference
    /// reported before; database errors.
    pub async fn record_attempt<M: Message + Default>(
        &self,
        target: InvoiceTarget<'_>,
        new: NewAttempt,
        respond: impl FnOnce(Changed<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut invoice, follow_up) = match self.begin_invoice(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let ids = AttemptIds {
            attempt: AttemptId::new(),
            follow_up: FollowUpId::new(),
        };
        let recorded = invoice.record_attempt(
            new,
            ids,
            follow_up,
            Actor::of(target.principal),
            self.service(),
            now,
        )?;
        invoice.version += 1;
        self.store.save_invoice(work.conn(), &invoice).await?;
        self.store
            .insert_attempt(work.conn(), &recorded.attempt)
            .await?;
        let mut saved = None;
        if let Some(change) = &recorded.follow_up {
            let mut f = change.follow_up().clone();
            // A follow-up opened now is inserted at version 1; a changed one moves on.
            if !matches!(change, FollowUpChange::Opened(_)) {
                f.version += 1;
            }
            self.store.save_follow_up(work.conn(), &f).await?;
            saved = Some(f);
        }
        let shown = recorded.answered_follow_up().map(|f| {
            saved
                .as_ref()
                .filter(|s| s.id == f.id)
                .cloned()
                .unwrap_or_else(|| f.clone())
        });
        let answer = respond(Changed {
            invoice: &invoice,
            attempt: Some(&recorded.attempt),
            follow_up: shown.as_ref(),
        });
        work.commit(answer).await
    }

    /// VoidInvoice (`void`) or MarkInvoiceUncollectible.
    ///
    /// # Errors
    /// As the domain's `void` and `mark_uncollectible`; NOT_FOUND; ABORTED on a stale etag;
    /// database errors.
    pub async fn settle_invoice<M: Message + Default>(
        &self,
        target: InvoiceTarget<'_>,
        void: bool,
        reason: String,
        respond: impl FnOnce(Changed<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut invoice, follow_up) = match self.begin_invoice(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let resolved = if void {
            invoice.void(&reason, follow_up, &self.service_subject, now)?
        } else {
            invoice.mark_uncollectible(&reason, follow_up, &self.service_subject, now)?
        };
        invoice.version += 1;
        self.store.save_invoice(work.conn(), &invoice).await?;
        if let Some(mut f) = resolved {
            f.version += 1;
            self.store.save_follow_up(work.conn(), &f).await?;
        }
        let answer = respond(Changed {
            invoice: &invoice,
            attempt: None,
            follow_up: None,
        });
        work.commit(answer).await
    }

    /// Reads one follow-up the caller may see.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; database errors.
    pub async fn get_follow_up(
        &self,
        principal: &Principal,
        id: &FollowUpId,
    ) -> Result<FollowUp, Problem> {
        self.store
            .get_follow_up(id)
            .await?
            .filter(|f| access::may(principal, Action::ReadFollowUps, &f.assignee))
            .ok_or_else(|| follow_up_not_found(id))
    }

    /// ResolveFollowUp: OPEN -> RESOLVED with a note; the invoice's next failed attempt opens a
    /// new one.
    ///
    /// # Errors
    /// NOT_FOUND; PERMISSION_DENIED; ABORTED on a stale etag; FAILED_PRECONDITION gate
    /// "status" unless OPEN; database errors.
    pub async fn resolve_follow_up<M: Message + Default>(
        &self,
        principal: &Principal,
        key: Option<&RequestKey>,
        id: &FollowUpId,
        etag: &str,
        note: String,
        respond: impl FnOnce(&FollowUp) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let mut work = match idempotency::begin(self.store.db(), key, now).await? {
            Begun::Repeat(answer) => return Ok(answer),
            Begun::Fresh(work) => work,
        };
        let mut follow_up = self
            .store
            .load_follow_up(work.conn(), id, true)
            .await?
            .filter(|f| access::may(principal, Action::ReadFollowUps, &f.assignee))
            .ok_or_else(|| follow_up_not_found(id))?;
        access::authorize(principal, Action::ResolveFollowUp, &follow_up.assignee)?;
        follow_up.check_etag(etag)?;
        let mut invoice = self
            .store
            .load_invoice(work.conn(), &follow_up.contract, &follow_up.invoice)
            .await?
            .ok_or_else(|| Problem::internal("a follow-up without its invoice"))?;
        resolve_follow_up(
            &mut follow_up,
            &mut invoice,
            &note,
            Actor::of(principal),
            now,
        )?;
        follow_up.version += 1;
        invoice.version += 1;
        self.store.save_follow_up(work.conn(), &follow_up).await?;
        self.store.save_invoice(work.conn(), &invoice).await?;
        let answer = respond(&follow_up);
        work.commit(answer).await
    }

    /// GetAccountBalance: zero for an account without contracts, never NOT_FOUND.
    ///
    /// # Errors
    /// PERMISSION_DENIED for a `sales_rep` owning no contract of the account; database errors.
    pub async fn account_balance(
        &self,
        principal: &Principal,
        account_id: &str,
        currency: Option<closeloop_kit::types::CurrencyCode>,
    ) -> Result<AccountBalance, Problem> {
        if access::scope(principal, Action::ReadBalance) != access::Scope::All
            && !self
                .store
                .owns_account_contract(account_id, &principal.subject)
                .await?
        {
            return Err(Problem::PermissionDenied(format!(
                "{} owns no contract of account {account_id:?}",
                principal.subject
            )));
        }
        let (contracts, invoices, open_follow_ups) = self.store.account(account_id).await?;
        let contracts: Vec<AccountContract> = contracts.iter().map(AccountContract::from).collect();
        Ok(AccountBalance::compute(
            account_id,
            currency,
            &contracts,
            &invoices,
            open_follow_ups,
            &self.policy,
            self.clock.now_micros(),
        ))
    }
}
