//! Handoff use cases: each change runs in one transaction that loads the handoff (locked),
//! checks who may do it and the etag, applies the domain move, saves it with its version bumped,
//! writes what it owes (the OpenAccount call of an accepted handoff) to the outbox, and stores
//! the answer under the request's `request_id`. Either all of that commits or none of it does.
//!
//! StartHandoff reads the opportunity before its transaction opens (a network call never holds
//! one), and creates the handoff whatever that read found: prefilled, PENDING (read again in the
//! background, [`super::prefill`]) or FAILED.

use std::time::Duration;

use closeloop_kit::db::optimistic::{self, Try};
use closeloop_kit::idempotency::{self, Begun, RequestKey, Work};
use closeloop_kit::outbox::{self, OwedStatus};
use closeloop_kit::{Principal, Problem};
use prost::Message;

use super::App;
use crate::domain::access::{self, Action};
use crate::domain::handoff::Handoff;
use crate::domain::snapshot::ContractSnapshot;
use crate::domain::vocabulary::{HandoffId, HandoffStatus};
use crate::owes;
use crate::peers::{NOT_CONFIGURED, OpportunityRead};

/// Which handoff a change is for, and under which conditions.
pub struct Target<'a> {
    pub principal: &'a Principal,
    pub id: HandoffId,
    /// The etag the caller holds (empty: no check).
    pub etag: &'a str,
    pub action: Action,
    pub key: Option<&'a RequestKey>,
}

/// A handoff as a caller sees it: with the delivery of the OpenAccount call it owes once
/// accepted (`None` before), as of `now`.
pub struct Seen<'a> {
    pub handoff: &'a Handoff,
    pub call: Option<&'a OwedStatus>,
    pub now: i64,
}

/// How often an optimistic change is tried when other changes of the same handoff keep coming
/// first, before it waits its turn in a transaction.
const OPTIMISTIC_TRIES: u32 = 2;

impl App {
    /// Where the OpenAccount call of `h` stands: `None` before acceptance.
    ///
    /// # Errors
    /// Database errors.
    pub async fn open_account_call(&self, h: &Handoff) -> Result<Option<OwedStatus>, Problem> {
        if h.status != HandoffStatus::Accepted {
            return Ok(None);
        }
        outbox::owed_status(self.store.db(), &h.open_account_request_id())
            .await
            .map(Some)
    }

    /// Reads the opportunity the snapshot names, if the opportunities service is configured.
    pub async fn read_opportunity(&self, name: &str) -> OpportunityRead {
        match &self.opportunities {
            Some(opportunities) => opportunities.read(name).await,
            None => OpportunityRead::Failed(NOT_CONFIGURED.to_owned()),
        }
    }

    /// StartHandoff: a DRAFT handoff from the snapshot, prefilled from the opportunity as far as
    /// it can be read now. One handoff per order: a second call for an order that has one (with
    /// any `request_id`, also concurrently) answers that handoff unchanged; a repeated
    /// `request_id` answers the first answer.
    ///
    /// The opportunity is waited for at most `prefill_wait_ms`, and at most half of `deadline`
    /// (the caller's, when it sent one), so the call is answered in time: a slower read leaves
    /// the prefill PENDING, read again in the background.
    ///
    /// # Errors
    /// PERMISSION_DENIED for any role but `service`; INVALID_ARGUMENT from the snapshot's checks
    /// (nothing is created); database errors.
    pub async fn start_handoff<M: Message + Default>(
        &self,
        principal: &Principal,
        key: Option<&RequestKey>,
        snapshot: ContractSnapshot,
        deadline: Option<Duration>,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        access::require_role(principal, Action::StartHandoff)?;
        snapshot.validate()?;
        // A repeat, or an order that has its handoff: answered without reading the opportunity.
        if let Some(key) = key {
            let mut conn = self.store.db().reads().acquire().await?;
            if let Some(answer) = idempotency::lookup::<M>(&mut conn, key).await? {
                return Ok(answer);
            }
        }
        if let Some(existing) = self.store.find_handoff_of_order(&snapshot.order).await? {
            let call = self.open_account_call(&existing).await?;
            return Ok(respond(Seen {
                handoff: &existing,
                call: call.as_ref(),
                now: self.clock.now_micros(),
            }));
        }

        let wait = Duration::from_millis(self.settings.prefill_wait_ms);
        let wait = deadline.map_or(wait, |d| wait.min(d / 2));
        let read = tokio::time::timeout(wait, self.read_opportunity(&snapshot.opportunity))
            .await
            .unwrap_or_else(|_| {
                OpportunityRead::Failed(format!(
                    "DEADLINE_EXCEEDED: {} was not read within {} ms; it is read again in the \
                     background",
                    snapshot.opportunity,
                    wait.as_millis()
                ))
            });

        let now = self.clock.now_micros();
        let mut work = match idempotency::begin(self.store.db(), key, now).await? {
            Begun::Repeat(answer) => return Ok(answer),
            Begun::Fresh(work) => work,
        };
        let mut handoff = Handoff::start(HandoffId::new(), snapshot, principal, now)?;
        match read {
            OpportunityRead::Found(facts) => {
                handoff.prefill(facts, now)?;
            }
            OpportunityRead::Missing(reason) => handoff.prefill_failed(reason, now),
            OpportunityRead::Failed(failure) => handoff.prefill_deferred(failure),
        }
        if !self.store.insert_handoff(work.conn(), &handoff).await? {
            // A concurrent StartHandoff for the same order committed first: its handoff is the
            // order's, unchanged.
            let existing = self
                .store
                .handoff_of_order(work.conn(), handoff.order())
                .await?
                .ok_or_else(|| {
                    Problem::Aborted(format!(
                        "{} was being handed off concurrently; try again",
                        handoff.order()
                    ))
                })?;
            let call = self.open_account_call(&existing).await?;
            let answer = respond(Seen {
                handoff: &existing,
                call: call.as_ref(),
                now,
            });
            return work.commit(answer).await;
        }
        let answer = respond(Seen {
            handoff: &handoff,
            call: None,
            now,
        });
        work.commit(answer).await
    }

    /// Reads one handoff the caller may see, with its OpenAccount call.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; database errors.
    pub async fn get_handoff(
        &self,
        principal: &Principal,
        id: &HandoffId,
    ) -> Result<(Handoff, Option<OwedStatus>), Problem> {
        let handoff = self
            .store
            .get_handoff(id)
            .await?
            .filter(|h| access::may_read(principal, h))
            .ok_or_else(|| access::not_found(id))?;
        let call = self.open_account_call(&handoff).await?;
        Ok((handoff, call))
    }

    /// Starts a change: the transaction, and the handoff loaded and checked for access and
    /// etag. `Err(answer)` when the request was applied before (the stored answer).
    async fn begin<'k, M: Message + Default>(
        &self,
        target: &Target<'k>,
        now: i64,
    ) -> Result<Result<(Work<'k>, Handoff), M>, Problem> {
        let mut work = match idempotency::begin(self.store.db(), target.key, now).await? {
            Begun::Repeat(answer) => return Ok(Err(answer)),
            Begun::Fresh(work) => work,
        };
        let handoff = self
            .store
            .load_handoff(work.conn(), &target.id)
            .await?
            .ok_or_else(|| access::not_found(&target.id))?;
        access::check(target.principal, target.action, &handoff)?;
        handoff.check_etag(target.etag)?;
        Ok(Ok((work, handoff)))
    }

    /// Saves `handoff` (its version bumped) when `changed`, answers, and commits.
    async fn finish<M: Message + Default>(
        &self,
        mut work: Work<'_>,
        mut handoff: Handoff,
        changed: bool,
        call: Option<OwedStatus>,
        now: i64,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        if changed {
            handoff.version += 1;
            self.store.save_handoff(work.conn(), &handoff).await?;
        }
        let call = match call {
            Some(call) => Some(call),
            None => self.open_account_call(&handoff).await?,
        };
        let answer = respond(Seen {
            handoff: &handoff,
            call: call.as_ref(),
            now,
        });
        work.commit(answer).await
    }

    /// Applies `change` to the target handoff. `change` returns whether it changed anything: a
    /// change that changes nothing (an account manager assigned again) is not saved and keeps
    /// the etag.
    ///
    /// With a `request_id` the change runs in one transaction that also stores the answer.
    /// Without one it is optimistic (the kit's `db::optimistic`): the handoff read as GetHandoff
    /// reads it and written back in one statement if no other change came first, else read and
    /// changed again, and after a second lost race changed in the transaction — which is why
    /// `change` may run more than once.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; PERMISSION_DENIED when
    /// the caller may read it but not make this change; ABORTED on a stale etag or a concurrent
    /// change; whatever the change refuses; database errors. Nothing is written on any error.
    pub async fn change_handoff<M: Message + Default>(
        &self,
        target: Target<'_>,
        change: impl Fn(&mut Handoff, i64) -> Result<bool, Problem>,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        if target.key.is_none()
            && let Some(handoff) = optimistic::change(OPTIMISTIC_TRIES, || async {
                let mut handoff = self
                    .store
                    .get_handoff(&target.id)
                    .await?
                    .ok_or_else(|| access::not_found(&target.id))?;
                access::check(target.principal, target.action, &handoff)?;
                handoff.check_etag(target.etag)?;
                if !change(&mut handoff, now)? {
                    return Ok(Try::Done(handoff));
                }
                handoff.version += 1;
                Ok(if self.store.save_handoff_if_unchanged(&handoff).await? {
                    Try::Done(handoff)
                } else {
                    Try::Moved
                })
            })
            .await?
        {
            let call = self.open_account_call(&handoff).await?;
            return Ok(respond(Seen {
                handoff: &handoff,
                call: call.as_ref(),
                now,
            }));
        }
        let (work, mut handoff) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        let changed = change(&mut handoff, now)?;
        self.finish(work, handoff, changed, None, now, respond)
            .await
    }

    /// AcceptHandoff: READY -> ACCEPTED, and the OpenAccount call it owes account-management in
    /// the outbox, in one transaction. The call's id is derived from the handoff
    /// (`open-account-{handoff}`), so the handoff owes it once.
    ///
    /// # Errors
    /// As [`App::change_handoff`]; FAILED_PRECONDITION gates "status" and
    /// "introduction_completed".
    pub async fn accept_handoff<M: Message + Default>(
        &self,
        target: Target<'_>,
        respond: impl FnOnce(Seen<'_>) -> M,
    ) -> Result<M, Problem> {
        let now = self.clock.now_micros();
        let (mut work, mut handoff) = match self.begin(&target, now).await? {
            Ok(begun) => begun,
            Err(answer) => return Ok(answer),
        };
        handoff.accept(target.principal, now)?;
        let owed = owes::open_account(&handoff)?;
        self.outbox.enqueue(work.conn(), &owed).await?;
        let pending = OwedStatus::written(now);
        let answer = self
            .finish(work, handoff, true, Some(pending), now, respond)
            .await?;
        self.outbox.wake();
        Ok(answer)
    }
}
