//! A contract's life: created DRAFT from a won deal, edited while DRAFT, sent, signed (or
//! declined, voided, expired), its order placed, completed or terminated; and, while it runs,
//! the status of its deliverables and client obligations. Each move checks the status it starts
//! from (gate "status"), then its own gates, then changes the contract; a refused move changes
//! nothing.

use closeloop_kit::Problem;
use closeloop_kit::error::GateViolation;
use closeloop_kit::time::MICROS_PER_DAY;

use super::contract::{
    ClientObligation, Contract, Deliverable, Draft, DraftTerms, Installment, Order, Signer,
    Snapshot, StatusChange, Terms,
};
use super::gates;
use super::policy::Policy;
use super::vocabulary::{
    Actor, ContractId, ContractStatus as S, DeliverableStatus, InvoiceId, InvoiceStatus,
    ObligationStatus, OrderId, OrderStatus, SignerSide, SignerStatus, TerminationReason,
};

/// Most deliverables, installments, client obligations or signers a contract holds.
pub const MAX_PARTS: usize = 200;

fn wrong_status(c: &Contract, allowed: &str) -> Problem {
    Problem::gate(
        "status",
        "status",
        format!("the contract is {}; this needs {allowed}", c.status.code()),
    )
}

/// The reason expiry records.
pub const EXPIRED_REASON: &str = "expired";

impl Contract {
    /// A DRAFT contract from a won deal's snapshot and the draft content given with it. With no
    /// deliverables given, one per line item is prefilled; with no terms given, the policy's
    /// payment terms apply.
    pub fn create(
        id: ContractId,
        snapshot: Snapshot,
        currency: closeloop_kit::types::CurrencyCode,
        draft: Draft,
        policy: &Policy,
        actor: Actor,
        now: i64,
    ) -> Result<Contract, Problem> {
        let title = snapshot.title.clone();
        let mut c = Contract {
            id,
            currency,
            title,
            status: S::Draft,
            deliverables: Vec::new(),
            schedule: Vec::new(),
            obligations: Vec::new(),
            terms: Terms {
                payment_terms_days: policy.default_payment_terms_days,
                ..Terms::default()
            },
            signers: Vec::new(),
            notes: String::new(),
            document_uri: String::new(),
            envelope_id: String::new(),
            send_time: None,
            expire_time: None,
            sign_time: None,
            activate_time: None,
            close_time: None,
            status_reason: String::new(),
            termination_reason: None,
            history: vec![StatusChange {
                from: None,
                to: S::Draft,
                time: now,
                actor,
                reason: String::new(),
            }],
            order: None,
            create_time: now,
            update_time: now,
            version: 1,
            next_part: 0,
            snapshot,
        };
        let prefill = draft.deliverables.is_none();
        c.apply(draft)?;
        if prefill {
            let items = c.snapshot.line_items.clone();
            for li in items.iter().take(MAX_PARTS) {
                let id = c.next_part_id("deliverable");
                c.deliverables.push(Deliverable {
                    id,
                    description: format!("{} x {}", li.product_name, li.quantity),
                    due_date: None,
                    product_id: li.product_id.clone(),
                    status: DeliverableStatus::Pending,
                    status_note: String::new(),
                    status_updated_by: None,
                    status_update_time: None,
                    deliver_time: None,
                });
            }
        }
        Ok(c)
    }

    /// Replaces the parts `draft` gives (UpdateContract), DRAFT only.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless DRAFT; INVALID_ARGUMENT for an id that names no
    /// existing part.
    pub fn edit(&mut self, draft: Draft, now: i64) -> Result<(), Problem> {
        if self.status != S::Draft {
            return Err(wrong_status(self, "DRAFT"));
        }
        self.apply(draft)?;
        self.update_time = now;
        Ok(())
    }

    fn apply(&mut self, draft: Draft) -> Result<(), Problem> {
        let mut v = closeloop_kit::Violations::new();
        let Draft {
            title,
            deliverables,
            schedule,
            obligations,
            terms,
            signers,
            notes,
            document_uri,
        } = draft;
        let known = |field: &str, i: usize, id: &Option<String>, ids: &[&str]| match id {
            Some(id) if !ids.contains(&id.as_str()) => Some((
                format!("contract.{field}[{i}]"),
                format!("{id:?} is not an id of this contract's {field}"),
            )),
            _ => None,
        };
        let mut check_ids = |field: &str, given: Vec<(usize, Option<String>)>, ids: Vec<&str>| {
            let mut seen = Vec::new();
            for (i, id) in given {
                if let Some((f, e)) = known(field, i, &id, &ids) {
                    v.add(f, e);
                } else if let Some(id) = id {
                    if seen.contains(&id) {
                        v.add(format!("contract.{field}[{i}]"), "the same id twice");
                    }
                    seen.push(id);
                }
            }
        };
        if let Some(list) = &deliverables {
            check_ids(
                "deliverables",
                list.iter().map(|d| d.id.clone()).enumerate().collect(),
                self.deliverables.iter().map(|d| d.id.as_str()).collect(),
            );
        }
        if let Some(list) = &schedule {
            check_ids(
                "payment_schedule",
                list.iter().map(|d| d.id.clone()).enumerate().collect(),
                self.schedule.iter().map(|d| d.id.as_str()).collect(),
            );
        }
        if let Some(list) = &obligations {
            check_ids(
                "client_obligations",
                list.iter().map(|d| d.id.clone()).enumerate().collect(),
                self.obligations.iter().map(|d| d.id.as_str()).collect(),
            );
        }
        if let Some(list) = &signers {
            check_ids(
                "signers",
                list.iter().map(|d| d.id.clone()).enumerate().collect(),
                self.signers.iter().map(|d| d.id.as_str()).collect(),
            );
        }
        for (field, len) in [
            ("contract.deliverables", deliverables.as_ref().map(Vec::len)),
            ("contract.payment_schedule", schedule.as_ref().map(Vec::len)),
            (
                "contract.client_obligations",
                obligations.as_ref().map(Vec::len),
            ),
            ("contract.signers", signers.as_ref().map(Vec::len)),
        ] {
            if len.is_some_and(|n| n > MAX_PARTS) {
                v.add(field, format!("at most {MAX_PARTS} entries"));
            }
        }
        v.into_result()?;

        if let Some(title) = title {
            self.title = title;
        }
        if let Some(list) = deliverables {
            let mut next = Vec::with_capacity(list.len());
            for d in list {
                let kept =
                    d.id.as_ref()
                        .and_then(|id| self.deliverables.iter().find(|x| &x.id == id).cloned());
                let id = match kept.as_ref() {
                    Some(k) => k.id.clone(),
                    None => self.next_part_id("deliverable"),
                };
                let mut kept = kept.unwrap_or(Deliverable {
                    id,
                    description: String::new(),
                    due_date: None,
                    product_id: String::new(),
                    status: DeliverableStatus::Pending,
                    status_note: String::new(),
                    status_updated_by: None,
                    status_update_time: None,
                    deliver_time: None,
                });
                kept.description = d.description;
                kept.due_date = d.due_date;
                kept.product_id = d.product_id;
                next.push(kept);
            }
            self.deliverables = next;
        }
        if let Some(list) = schedule {
            let mut next = Vec::with_capacity(list.len());
            for i in list {
                let id = match i.id {
                    Some(id) => id,
                    None => self.next_part_id("installment"),
                };
                next.push(Installment {
                    id,
                    description: i.description,
                    amount: i.amount,
                    due_date: i.due_date,
                    service_period: i.service_period,
                    invoice: None,
                });
            }
            self.schedule = next;
        }
        if let Some(list) = obligations {
            let mut next = Vec::with_capacity(list.len());
            for o in list {
                let kept =
                    o.id.as_ref()
                        .and_then(|id| self.obligations.iter().find(|x| &x.id == id).cloned());
                let mut kept = match kept {
                    Some(k) => k,
                    None => ClientObligation {
                        id: self.next_part_id("obligation"),
                        kind: o.kind,
                        description: String::new(),
                        due_date: None,
                        status: ObligationStatus::Pending,
                        status_note: String::new(),
                        status_updated_by: None,
                        status_update_time: None,
                    },
                };
                kept.kind = o.kind;
                kept.description = o.description;
                kept.due_date = o.due_date;
                next.push(kept);
            }
            self.obligations = next;
        }
        if let Some(t) = terms {
            self.apply_terms(t);
        }
        if let Some(list) = signers {
            let mut next = Vec::with_capacity(list.len());
            for s in list {
                let id = match s.id {
                    Some(id) => id,
                    None => self.next_part_id("signer"),
                };
                next.push(Signer {
                    id,
                    side: s.side,
                    contact: s.contact,
                    subject: s.subject,
                    status: SignerStatus::Pending,
                    sign_time: None,
                    signature_reference: String::new(),
                    recorded_by: None,
                });
            }
            self.signers = next;
        }
        if let Some(notes) = notes {
            self.notes = notes;
        }
        if let Some(uri) = document_uri {
            self.document_uri = uri;
        }
        Ok(())
    }

    fn apply_terms(&mut self, t: DraftTerms) {
        let terms = &mut self.terms;
        if let Some(days) = t.payment_terms_days {
            terms.payment_terms_days = days;
        }
        if let Some(start) = t.start_date {
            terms.start_date = start;
        }
        if let Some(months) = t.term_months {
            terms.term_months = months;
        }
        if let Some(auto) = t.auto_renew {
            terms.auto_renew = auto;
        }
        if let Some(days) = t.renewal_notice_days {
            terms.renewal_notice_days = days;
        }
    }

    fn enter(&mut self, to: S, actor: Actor, reason: &str, time: i64) {
        self.history.push(StatusChange {
            from: Some(self.status),
            to,
            time,
            actor,
            reason: reason.to_owned(),
        });
        self.status = to;
        if to.is_final() {
            self.close_time = Some(time);
        }
        self.update_time = time;
    }

    /// Whether a SENT contract's offer has lapsed at `now`.
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.status == S::Sent && self.expire_time.is_some_and(|t| t <= now)
    }

    /// Moves a SENT contract whose `expire_time` has passed to EXPIRED, as of that time, by the
    /// service (`service_subject`). Every read and change applies it first, so the contract is
    /// the same whether or not anything stored the expiry yet. Returns whether it expired now.
    pub fn expire_if_due(&mut self, now: i64, service_subject: &str) -> bool {
        if !self.is_expired_at(now) {
            return false;
        }
        let at = self.expire_time.unwrap_or(now);
        self.enter(
            S::Expired,
            Actor::service(service_subject),
            EXPIRED_REASON,
            at,
        );
        self.status_reason = EXPIRED_REASON.to_owned();
        true
    }

    /// The sending blockers (empty unless DRAFT).
    pub fn send_blockers(&self) -> Vec<GateViolation> {
        if self.status == S::Draft {
            gates::send_blockers(self)
        } else {
            Vec::new()
        }
    }

    /// DRAFT -> SENT. The offer lapses at `expire_time`, by default `now` plus the configured
    /// expiry period, which is also its latest value.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless DRAFT, or the sending gates; INVALID_ARGUMENT
    /// `expire_time` when it is not in the future or later than the expiry period allows.
    pub fn send(
        &mut self,
        expire_time: Option<i64>,
        envelope_id: String,
        policy: &Policy,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        if self.status != S::Draft {
            return Err(wrong_status(self, "DRAFT"));
        }
        let blockers = gates::send_blockers(self);
        if !blockers.is_empty() {
            return Err(Problem::FailedPrecondition(blockers));
        }
        let latest = now.saturating_add(i64::from(policy.contract_expiry_days) * MICROS_PER_DAY);
        let expire = match expire_time {
            None => latest,
            Some(t) if t <= now => {
                return Err(Problem::invalid("expire_time", "must be in the future"));
            }
            Some(t) if t > latest => {
                return Err(Problem::invalid(
                    "expire_time",
                    format!(
                        "at most {} days from now (the configured expiry period)",
                        policy.contract_expiry_days
                    ),
                ));
            }
            Some(t) => t,
        };
        self.send_time = Some(now);
        self.expire_time = Some(expire);
        self.envelope_id = envelope_id;
        self.enter(S::Sent, actor, "", now);
        Ok(())
    }

    fn check_open_offer(&self) -> Result<(), Problem> {
        match self.status {
            S::Sent => Ok(()),
            S::Expired => Err(Problem::gate(
                "expired",
                "expire_time",
                "the offer expired before every signer signed; send a new contract",
            )),
            _ => Err(wrong_status(self, "SENT")),
        }
    }

    /// Records one signer's signature; the last one makes the contract SIGNED. A signer who
    /// has signed already changes nothing (returns `false`).
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "expired" or "status"; INVALID_ARGUMENT naming `field` when no
    /// signer matches, `sign_time` when it is in the future or before the contract was sent.
    pub fn sign(
        &mut self,
        signer: SignerRef<'_>,
        sign_time: Option<i64>,
        reference: String,
        actor: Actor,
        now: i64,
    ) -> Result<bool, Problem> {
        self.check_open_offer()?;
        let index = self.find_signer(&signer)?;
        if self.signers[index].status == SignerStatus::Signed {
            return Ok(false);
        }
        let at = sign_time.unwrap_or(now);
        if at > now {
            return Err(Problem::invalid("sign_time", "must not be in the future"));
        }
        if self.send_time.is_some_and(|sent| at < sent) {
            return Err(Problem::invalid(
                "sign_time",
                "must not be before the contract was sent",
            ));
        }
        let s = &mut self.signers[index];
        s.status = SignerStatus::Signed;
        s.sign_time = Some(at);
        s.signature_reference = reference;
        s.recorded_by = Some(actor.clone());
        self.update_time = now;
        if self
            .signers
            .iter()
            .all(|s| s.status == SignerStatus::Signed)
        {
            self.sign_time = Some(at);
            self.enter(S::Signed, actor, "", now);
        }
        Ok(true)
    }

    fn find_signer(&self, signer: &SignerRef<'_>) -> Result<usize, Problem> {
        let found = match signer {
            SignerRef::Id(id) => self.signers.iter().position(|s| s.id == *id),
            SignerRef::Email(email) => self.signers.iter().position(|s| {
                s.contact
                    .email
                    .as_ref()
                    .is_some_and(|e| e.as_str().eq_ignore_ascii_case(email))
            }),
        };
        found.ok_or_else(|| {
            let field = match signer {
                SignerRef::Id(_) => "signer_id",
                SignerRef::Email(_) => "signer_email",
            };
            Problem::invalid(field, "no signer of this contract matches")
        })
    }

    /// SENT -> DECLINED: the client refused to sign.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "expired" or "status"; INVALID_ARGUMENT `signer_id` when it
    /// names no CLIENT signer.
    pub fn decline(
        &mut self,
        signer_id: Option<&str>,
        reason: &str,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        self.check_open_offer()?;
        if let Some(id) = signer_id {
            let s = self
                .signers
                .iter_mut()
                .find(|s| s.id == id && s.side == SignerSide::Client)
                .ok_or_else(|| {
                    Problem::invalid("signer_id", "no client signer of this contract matches")
                })?;
            s.status = SignerStatus::Declined;
            s.recorded_by = Some(actor.clone());
        }
        self.status_reason = reason.to_owned();
        self.enter(S::Declined, actor, reason, now);
        Ok(())
    }

    /// SENT -> VOIDED: the company withdrew the contract.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "expired" or "status".
    pub fn void(&mut self, reason: &str, actor: Actor, now: i64) -> Result<(), Problem> {
        self.check_open_offer()?;
        self.status_reason = reason.to_owned();
        self.enter(S::Voided, actor, reason, now);
        Ok(())
    }

    /// Whether PlaceOrder may run, and if not, why.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "signatures" (SENT, one violation per pending signer) or
    /// "status" (any other status but SIGNED).
    pub fn check_orderable(&self) -> Result<(), Problem> {
        match self.status {
            S::Signed => Ok(()),
            S::Sent => Err(Problem::FailedPrecondition(gates::pending_signatures(self))),
            _ => Err(wrong_status(self, "SIGNED")),
        }
    }

    /// SIGNED -> ACTIVE with its order; `invoices[i]` is the invoice of installment `i`.
    ///
    /// # Errors
    /// As [`Contract::check_orderable`].
    pub fn place_order(
        &mut self,
        new: NewOrder,
        invoices: Vec<InvoiceId>,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        self.check_orderable()?;
        for (installment, invoice) in self.schedule.iter_mut().zip(&invoices) {
            installment.invoice = Some(invoice.clone());
        }
        let mut ordered: Vec<(time::Date, InvoiceId)> = self
            .schedule
            .iter()
            .filter_map(|i| Some((i.due_date, i.invoice.clone()?)))
            .collect();
        ordered.sort();
        self.order = Some(Order {
            id: new.id,
            number: new.number,
            notes: new.notes,
            placed_by: actor.clone(),
            place_time: now,
            fulfill_time: None,
            cancelled: false,
            invoices: ordered.into_iter().map(|(_, id)| id).collect(),
            handoff_command: new.handoff_command,
            update_time: now,
        });
        self.activate_time = Some(now);
        self.enter(S::Active, actor, "", now);
        Ok(())
    }

    /// ACTIVE -> COMPLETED. `invoices` are the contract's invoices with their status today.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless ACTIVE; gates "deliverables" and "invoices".
    pub fn complete(
        &mut self,
        invoices: &[(String, InvoiceStatus)],
        notes: &str,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        if self.status != S::Active {
            return Err(wrong_status(self, "ACTIVE"));
        }
        let blockers = gates::completion_blockers(self, invoices);
        if !blockers.is_empty() {
            return Err(Problem::FailedPrecondition(blockers));
        }
        self.enter(S::Completed, actor, notes, now);
        Ok(())
    }

    /// ACTIVE (or SIGNED, before an order) -> TERMINATED. Deliverables not DELIVERED or
    /// ACCEPTED become CANCELLED and an order not yet FULFILLED is cancelled; the caller voids
    /// the invoices still DRAFT.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless ACTIVE or SIGNED.
    pub fn terminate(&mut self, t: Termination, actor: Actor, now: i64) -> Result<(), Problem> {
        if !matches!(self.status, S::Active | S::Signed) {
            return Err(wrong_status(self, "ACTIVE or SIGNED"));
        }
        let fulfilled = self.order_status() == Some(OrderStatus::Fulfilled);
        for d in &mut self.deliverables {
            if !matches!(
                d.status,
                DeliverableStatus::Delivered | DeliverableStatus::Accepted
            ) && d.status != DeliverableStatus::Cancelled
            {
                d.status = DeliverableStatus::Cancelled;
                d.status_note = "contract terminated".to_owned();
                d.status_updated_by = Some(actor.clone());
                d.status_update_time = Some(now);
            }
        }
        if let Some(order) = &mut self.order
            && !fulfilled
        {
            order.cancelled = true;
            order.update_time = now;
        }
        self.termination_reason = Some(t.reason);
        self.status_reason = t.notes.clone();
        self.enter(S::Terminated, actor, &t.notes, now);
        Ok(())
    }

    /// Sets one deliverable's status, ACTIVE contracts only. ACCEPTED and CANCELLED are final.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless ACTIVE, or gate "deliverable_status" when the
    /// deliverable is final; INVALID_ARGUMENT `deliverable_id` for no such deliverable, `note`
    /// when CANCELLED or DELIVERED -> IN_PROGRESS come without one.
    pub fn set_deliverable_status(
        &mut self,
        id: &str,
        status: DeliverableStatus,
        note: &str,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        if self.status != S::Active {
            return Err(wrong_status(self, "ACTIVE"));
        }
        let index = self
            .deliverables
            .iter()
            .position(|d| d.id == id)
            .ok_or_else(|| Problem::invalid("deliverable_id", "no deliverable of this contract"))?;
        let d = &self.deliverables[index];
        if matches!(
            d.status,
            DeliverableStatus::Accepted | DeliverableStatus::Cancelled
        ) && d.status != status
        {
            return Err(Problem::gate(
                "deliverable_status",
                format!("deliverables[{index}]"),
                format!("the deliverable is {}, which is final", d.status.code()),
            ));
        }
        let reopening =
            d.status == DeliverableStatus::Delivered && status == DeliverableStatus::InProgress;
        if note.is_empty() && (status == DeliverableStatus::Cancelled || reopening) {
            return Err(Problem::invalid(
                "note",
                "required when cancelling or reopening a delivered deliverable",
            ));
        }
        let d = &mut self.deliverables[index];
        d.status = status;
        d.status_note = note.to_owned();
        d.status_updated_by = Some(actor);
        d.status_update_time = Some(now);
        if matches!(
            status,
            DeliverableStatus::Delivered | DeliverableStatus::Accepted
        ) && d.deliver_time.is_none()
        {
            d.deliver_time = Some(now);
        }
        let fulfilled = self.order_status() == Some(OrderStatus::Fulfilled);
        if let Some(order) = &mut self.order {
            order.fulfill_time = match (fulfilled, order.fulfill_time) {
                (true, None) => Some(now),
                (true, kept) => kept,
                (false, _) => None,
            };
            order.update_time = now;
        }
        self.update_time = now;
        Ok(())
    }

    /// Sets one client obligation's status, SIGNED and ACTIVE contracts only. WAIVED is final.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless SIGNED or ACTIVE, or gate
    /// "obligation_status" when the obligation is WAIVED; INVALID_ARGUMENT `obligation_id` for
    /// no such obligation, `note` when AT_RISK, MISSED or WAIVED come without one.
    pub fn set_obligation_status(
        &mut self,
        id: &str,
        status: ObligationStatus,
        note: &str,
        actor: Actor,
        now: i64,
    ) -> Result<(), Problem> {
        if !matches!(self.status, S::Signed | S::Active) {
            return Err(wrong_status(self, "SIGNED or ACTIVE"));
        }
        let index = self
            .obligations
            .iter()
            .position(|o| o.id == id)
            .ok_or_else(|| {
                Problem::invalid("obligation_id", "no client obligation of this contract")
            })?;
        let o = &self.obligations[index];
        if o.status == ObligationStatus::Waived && status != ObligationStatus::Waived {
            return Err(Problem::gate(
                "obligation_status",
                format!("client_obligations[{index}]"),
                "the obligation is WAIVED, which is final",
            ));
        }
        if note.is_empty()
            && matches!(
                status,
                ObligationStatus::AtRisk | ObligationStatus::Missed | ObligationStatus::Waived
            )
        {
            return Err(Problem::invalid(
                "note",
                "required for AT_RISK, MISSED and WAIVED",
            ));
        }
        let o = &mut self.obligations[index];
        o.status = status;
        o.status_note = note.to_owned();
        o.status_updated_by = Some(actor);
        o.status_update_time = Some(now);
        self.update_time = now;
        Ok(())
    }
}

/// A signer as SignContract names it.
#[derive(Debug, Clone, Copy)]
pub enum SignerRef<'a> {
    Id(&'a str),
    Email(&'a str),
}

/// Why TerminateContract ends a contract.
#[derive(Debug, Clone)]
pub struct Termination {
    pub reason: TerminationReason,
    pub notes: String,
}

/// What [`Contract::place_order`] is given for the order.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: OrderId,
    pub number: String,
    pub notes: String,
    pub handoff_command: String,
}
