//! Use cases: each change runs in one transaction that loads the opportunity, checks who may do
//! it and the etag, applies the domain rule, saves, writes the command owed to the contracts
//! service when the deal is won (outbox), and stores the answer under the request's `request_id`.
//! Either all of that commits or none of it does.

use closeloop_kit::idempotency::{self, Begun, RequestKey};
use closeloop_kit::outbox::{self, Waker};
use closeloop_kit::time::now_micros;
use closeloop_kit::{Principal, Problem};
use prost::Message;

use crate::domain::access::{self, Action};
use crate::domain::opportunity::{NewOpportunity, Opportunity};
use crate::domain::policy::Policy;
use crate::domain::stage::Stage;
use crate::peers;
use crate::store::Store;

/// The opportunities application: store, rules and outbox wake-up.
#[derive(Clone)]
pub struct App {
    /// The database.
    pub store: Store,
    /// Business rules.
    pub policy: Policy,
    /// Wakes the outbox relay after a commit that queued a command.
    pub waker: Option<Waker>,
}

/// The resource type name used in NOT_FOUND details.
pub const RESOURCE: &str = "closeloop.opportunities.v1.Opportunity";

/// Which opportunity a change is for, and under which conditions.
pub struct Target<'a> {
    /// The caller.
    pub principal: &'a Principal,
    /// The opportunity id.
    pub id: &'a str,
    /// The etag the caller holds (empty: no check).
    pub etag: &'a str,
    /// What the change counts as for access rules.
    pub action: Action,
    /// The request's idempotency key.
    pub key: Option<&'a RequestKey>,
}

fn not_found(id: &str) -> Problem {
    Problem::NotFound {
        resource: RESOURCE,
        name: format!("opportunities/{id}"),
    }
}

impl App {
    /// Creates an opportunity owned by `new.owner` (or the caller when empty).
    ///
    /// # Errors
    /// PERMISSION_DENIED when the caller may not create for that owner; INVALID_ARGUMENT for
    /// inconsistent fields; database errors.
    pub async fn create<M: Message + Default>(
        &self,
        principal: &Principal,
        new: NewOpportunity,
        initial: Stage,
        key: Option<&RequestKey>,
        respond: impl FnOnce(&Opportunity) -> M,
    ) -> Result<M, Problem> {
        let owner = if new.owner.is_empty() {
            principal.subject.clone()
        } else {
            new.owner.clone()
        };
        access::authorize(principal, Action::Create, &owner)?;
        let now = now_micros();
        let opportunity =
            Opportunity::create(uuid::Uuid::now_v7().to_string(), new, owner, initial, now)?;
        let mut work = match idempotency::begin(self.store.db(), key, now).await? {
            Begun::Repeat(answer) => return Ok(answer),
            Begun::Fresh(work) => work,
        };
        self.store.insert(work.conn(), &opportunity).await?;
        work.commit(respond(&opportunity)).await
    }

    /// Reads one opportunity the caller may see.
    ///
    /// # Errors
    /// NOT_FOUND; PERMISSION_DENIED; database errors.
    pub async fn get(&self, principal: &Principal, id: &str) -> Result<Opportunity, Problem> {
        let opportunity = self.store.get(id).await?.ok_or_else(|| not_found(id))?;
        access::authorize(principal, Action::Read, &opportunity.owner)?;
        Ok(opportunity)
    }

    /// Applies `change` to the target opportunity, in one transaction.
    ///
    /// # Errors
    /// NOT_FOUND; PERMISSION_DENIED; ABORTED on a stale etag or concurrent change; whatever the
    /// change refuses; database errors. Nothing is written on any error.
    pub async fn change<M: Message + Default>(
        &self,
        target: Target<'_>,
        change: impl FnOnce(&mut Opportunity, i64) -> Result<(), Problem>,
        respond: impl FnOnce(&Opportunity) -> M,
    ) -> Result<M, Problem> {
        let Target {
            principal,
            id,
            etag,
            action,
            key,
        } = target;
        let now = now_micros();
        let mut work = match idempotency::begin(self.store.db(), key, now).await? {
            Begun::Repeat(answer) => return Ok(answer),
            Begun::Fresh(work) => work,
        };
        let store = &self.store;
        let mut opportunity = store
            .load_for_update(work.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        access::authorize(principal, action, &opportunity.owner)?;
        opportunity.check_etag(etag)?;
        let version = opportunity.version;
        let owner = opportunity.owner.clone();
        let history_before = opportunity.stage_history.len();
        let was_won = opportunity.stage == Stage::ClosedWon;

        change(&mut opportunity, now)?;
        opportunity.version = version + 1;

        store
            .save(
                work.conn(),
                &opportunity,
                version,
                &owner,
                &opportunity.stage_history[history_before..],
            )
            .await?;
        let won_now = !was_won && opportunity.stage == Stage::ClosedWon;
        if won_now {
            let (command_id, topic, payload) = peers::create_contract_command(&opportunity);
            outbox::enqueue(work.conn(), &command_id, topic, &payload).await?;
        }
        let answer = work.commit(respond(&opportunity)).await?;
        if won_now && let Some(waker) = &self.waker {
            waker.wake();
        }
        Ok(answer)
    }
}
