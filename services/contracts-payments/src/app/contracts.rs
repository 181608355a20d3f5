//! Contract use cases: each change runs in one transaction that loads the contract (applying
//! its expiry first), checks who may do it and the etag, applies the domain rule, saves, writes
//! what it owes (the invoices of an order, the StartHandoff call to the outbox), and stores the
//! answer under the request's `request_id`. Either all of that commits or none of it does.

use closeloop_kit::idempotency::{self, Begun, RequestKey, Work};
use closeloop_kit::{Principal, Problem};
use prost::Message;

use super::App;
use crate::domain::access::{self, Action};
use crate::domain::contract::{Contract, Draft, Snapshot};
use crate::domain::invoice::{Invoice, NewInvoice};
use crate::domain::lifecycle::{NewOrder, Termination};
use crate::domain::vocabulary::{Actor, ContractId, InvoiceId, InvoiceStatus, OrderId};
use crate::owes;
use crate::store::Store;

/// Which contract a change is for, and under which conditions.
pub struct Target<'a> {
    pub principal: &'a Principal,
    pub id: ContractId,
    /// The etag the caller holds (empty: no check).
    pub etag: &'a str,
    pub action: Action,
    pub key: Option<&'a RequestKey>,
}

/// NOT_FOUND for a contract that does not exist, and for one the caller may not read: the two
/// answers are the same, so ids cannot be probed.
pub fn contract_not_found(id: &ContractId) -> Problem {
    Problem::NotFound {
        resource: "contract",
        name: format!("contracts/{id}"),
    }
}

/// A contract as a caller sees it: with its invoices, as of now.
pub struct Seen<'a> {
    pub contract: &'a Contract,
    pub invoices: &'a [Invoice],
    pub today: time::Date,
}

impl App {
    /// Creates a DRAFT contract from a won deal. One live contract per opportunity: a second
    /// one (under another `request_id`) fails with ALREADY_EXISTS unless the first was declined,
    /// voided or has expired.
    ///
    /// # Errors
    /// ALREADY_EXISTS; INVALID_ARGUMENT for draft ids; database errors.
    pub async fn create_contract<M: Message + Default>(
        &self,
        principal: &Principal,
        key: Option<&RequestKey>,
        snapshot: Snapshot,
        currency: closeloop_kit::types::CurrencyCode,
        draft: Draft,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        access::require_role(principal, Action::CreateContract)?;
        let now = self.clock.now_micros();
        let mut work = match idempotency::begin(self.store.db(), key, now).await? {
            Begun::Repeat(answer) => return Ok(answer),
            Begun::Fresh(work) => work,
        };
        if let Some(mut existing) = self
            .store
            .opportunity_contract(work.conn(), &snapshot.opportunity)
            .await?
        {
            if existing.expire_if_due(now, &self.service_subject) {
                // Stored as expired, which also frees the opportunity's row for the new one.
                existing.version += 1;
                self.store.save_contract(work.conn(), &existing).await?;
            } else {
                return Err(Problem::AlreadyExists(format!(
                    "{} already has {}, which is {}",
                    snapshot.opportunity,
                    existing.name(),
                    existing.status.code()
                )));
            }
        }
        let contract = Contract::create(
            ContractId::new(),
            snapshot,
            currency,
            draft,
            &self.policy,
            Actor::of(principal),
            now,
        )?;
        self.store.insert_contract(work.conn(), &contract).await?;
        let answer = respond(Seen {
            contract: &contract,
            invoices: &[],
            today: self.clock.today(),
        });
        work.commit(answer).await
    }

    /// Reads one contract the caller may see, with its invoices, as of now.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; database errors.
    pub async fn get_contract(
        &self,
        principal: &Principal,
        id: &ContractId,
    ) -> Result<(Contract, Vec<Invoice>), Problem> {
        let mut contract = self
            .store
            .get_contract(id)
            .await?
            .filter(|c| access::may(principal, Action::ReadContracts, c.owner()))
            .ok_or_else(|| contract_not_found(id))?;
        contract.expire_if_due(self.clock.now_micros(), &self.service_subject);
        let invoices = if contract.order.is_some() {
            self.store.invoices_of(id).await?
        } else {
            Vec::new()
        };
        Ok((contract, invoices))
    }

    /// Starts a change: the transaction, and the contract loaded, expired if due, and checked
    /// for access and etag. `None` when the request was applied before (the stored answer).
    async fn begin<'k, M: Message + Default>(
        &self,
        target: &Target<'k>,
        now: i64,
    ) -> Result<Result<(Work<'k>, Contract), M>, Problem> {
        let mut work = match idempotency::begin(self.store.db(), target.key, now).await? {
            Begun::Repeat(answer) => return Ok(Err(answer)),
            Begun::Fresh(work) => work,
        };
        let mut contract = self
            .store
            .load_contract(work.conn(), &target.id)
            .await?
            .filter(|c| access::may(target.principal, Action::ReadContracts, c.owner()))
            .ok_or_else(|| contract_not_found(&target.id))?;
        access::authorize(target.principal, target.action, contract.owner())?;
        contract.expire_if_due(now, &self.service_subject);
        contract.check_etag(target.etag)?;
        Ok(Ok((work, contract)))
    }

    /// Saves `contract` (its version bumped), answers, and commits.
    async fn finish<M: Message + Default>(
        &self,
        mut work: Work<'_>,
        mut contract: Contract,
        invoices: Option<Vec<Invoice>>,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        contract.version += 1;
        self.store.save_contract(work.conn(), &contract).await?;
        let invoices = match invoices {
            Some(invoices) => invoices,
            None if contract.order.is_some() => {
                self.store
                    .contract_invoices(work.conn(), &contract.id, false)
                    .await?
            }
            None => Vec::new(),
        };
        let answer = respond(Seen {
            contract: &contract,
            invoices: &invoices,
            today: self.clock.today(),
        });
        work.commit(answer).await
    }

    /// Applies `change` to the target contract in one transaction.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; PERMISSION_DENIED when
    /// the caller may read it but not make this change; ABORTED on a stale etag or concurrent
    /// change; whatever the change refuses; database errors. Nothing is written on any error.
    pub async fn change_contract<M: Message + Default>(
        &self,
        target: Target<'_>,
        change: impl FnOnce(&mut Contract, Actor, i64) -> Result<(), Problem>,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (work, mut contract) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        change(&mut contract, Actor::of(target.principal), now)?;
        self.finish(work, contract, None, respond).await
    }

    /// PlaceOrder: SIGNED -> ACTIVE, the order, one invoice per installment, and the
    /// StartHandoff call in the outbox, in one transaction.
    ///
    /// # Errors
    /// As [`App::change_contract`]; FAILED_PRECONDITION gates "signatures" and "status".
    pub async fn place_order<M: Message + Default>(
        &self,
        target: Target<'_>,
        notes: String,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut contract) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        contract.check_orderable()?;
        let today = self.clock.today();
        let mut invoices = Vec::with_capacity(contract.schedule.len());
        for installment in &contract.schedule {
            let number = Store::next_number(work.conn(), "invoice").await?;
            invoices.push(Invoice::issue(
                InvoiceId::new(),
                NewInvoice {
                    contract: contract.id.clone(),
                    number: format!("INV-{number:06}"),
                    account: contract.snapshot.account.clone(),
                    owner: contract.owner().to_owned(),
                    currency: contract.currency,
                    installment_id: installment.id.clone(),
                    description: installment.description.clone(),
                    amount_due: installment.amount,
                    due_date: installment.due_date,
                    service_period: installment.service_period,
                    payment_terms_days: contract.terms.payment_terms_days,
                },
                today,
                now,
            ));
        }
        let number = Store::next_number(work.conn(), "order").await?;
        let order_id = OrderId::new();
        let ids = invoices.iter().map(|i| i.id.clone()).collect();
        // The command's id is only known once the call is built, and the call carries the
        // contract as it stands with its order: build the order first with a placeholder id,
        // then record the command's id on it.
        contract.place_order(
            NewOrder {
                id: order_id,
                number: format!("ORD-{number:06}"),
                notes,
                handoff_command: String::new(),
            },
            ids,
            Actor::of(target.principal),
            now,
        )?;
        let owed = owes::start_handoff(&contract, &invoices, now);
        if let Some(order) = &mut contract.order {
            order.handoff_command = owed.id.clone();
        }
        self.store.insert_invoices(work.conn(), &invoices).await?;
        self.outbox.enqueue(work.conn(), &owed).await?;
        let answer = self.finish(work, contract, Some(invoices), respond).await?;
        self.outbox.wake();
        Ok(answer)
    }

    /// CompleteContract: ACTIVE -> COMPLETED once every deliverable is done and every invoice
    /// settled.
    ///
    /// # Errors
    /// As [`App::change_contract`]; the completion gates.
    pub async fn complete_contract<M: Message + Default>(
        &self,
        target: Target<'_>,
        notes: String,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut contract) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let invoices = self
            .store
            .contract_invoices(work.conn(), &contract.id, true)
            .await?;
        let today = self.clock.today();
        let statuses: Vec<(String, InvoiceStatus)> = invoices
            .iter()
            .map(|i| (i.name(), i.status(today)))
            .collect();
        contract.complete(&statuses, &notes, Actor::of(target.principal), now)?;
        self.finish(work, contract, Some(invoices), respond).await
    }

    /// TerminateContract: ends the contract early; its invoices still DRAFT are voided (and
    /// their dunning and follow-ups end with them), the others stay collectible.
    ///
    /// # Errors
    /// As [`App::change_contract`].
    pub async fn terminate_contract<M: Message + Default>(
        &self,
        target: Target<'_>,
        termination: Termination,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut contract) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let actor = Actor::of(target.principal);
        contract.terminate(termination, actor, now)?;
        let mut invoices = self
            .store
            .contract_invoices(work.conn(), &contract.id, true)
            .await?;
        let today = self.clock.today();
        for invoice in &mut invoices {
            if invoice.status(today) != InvoiceStatus::Draft {
                continue;
            }
            let follow_up = match &invoice.open_follow_up {
                Some(id) => self.store.load_follow_up(work.conn(), id, true).await?,
                None => None,
            };
            // A DRAFT invoice paid ahead keeps what was paid: it is not voided (the domain
            // refuses), and stays collectible like an issued one.
            let mut voided = invoice.clone();
            if let Ok(resolved) =
                voided.void("contract terminated", follow_up, &self.service_subject, now)
            {
                voided.version += 1;
                self.store.save_invoice(work.conn(), &voided).await?;
                if let Some(mut f) = resolved {
                    f.version += 1;
                    self.store.save_follow_up(work.conn(), &f).await?;
                }
                *invoice = voided;
            }
        }
        self.finish(work, contract, Some(invoices), respond).await
    }
}
