//! Use cases: each change runs in one transaction that loads the opportunity, checks who may do
//! it and the etag, applies the domain rule, saves, writes the call owed to the contracts service
//! when the deal is won (outbox), and stores the answer under the request's `request_id`. Either
//! all of that commits or none of it does.
//!
//! Creations that arrive together commit together (the kit's group commit): CreateOpportunity
//! is the hottest write.

use closeloop_kit::db::group::GroupCommit;
use closeloop_kit::idempotency::{self, Begun, RequestKey};
use closeloop_kit::outbox::Outbox;
use closeloop_kit::time::now_micros;
use closeloop_kit::{Principal, Problem};
use prost::Message;

use crate::domain::access::{self, Action};
use crate::domain::opportunity::{NewOpportunity, Opportunity, OpportunityId};
use crate::domain::policy::Policy;
use crate::domain::stage::Stage;
use crate::owes;
use crate::store::{NewRow, Store};

/// The opportunities application: store, rules and outbox.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub policy: Policy,
    outbox: Outbox,
    creates: GroupCommit<NewRow>,
}

/// The resource NOT_FOUND names (the API gives it its type name).
pub const RESOURCE: &str = "opportunity";

/// Which opportunity a change is for, and under which conditions.
pub struct Target<'a> {
    pub principal: &'a Principal,
    /// The opportunity id.
    pub id: OpportunityId,
    /// The etag the caller holds (empty: no check).
    pub etag: &'a str,
    /// What the change counts as for access rules.
    pub action: Action,
    /// The request's idempotency key.
    pub key: Option<&'a RequestKey>,
}

/// NOT_FOUND for an opportunity that does not exist, and for one the caller may not read: the
/// two answers are the same, so ids cannot be probed.
fn not_found(id: &OpportunityId) -> Problem {
    Problem::NotFound {
        resource: RESOURCE,
        name: format!("opportunities/{id}"),
    }
}

impl App {
    /// The application over `store`. Must run inside the tokio runtime (it starts the group
    /// commit).
    pub fn new(store: Store, policy: Policy, outbox: Outbox) -> App {
        let creates = GroupCommit::new(store.db(), store.clone());
        App {
            store,
            policy,
            outbox,
            creates,
        }
    }

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
        let opportunity = Opportunity::create(OpportunityId::new(), new, owner, initial, now)?;
        let answer = respond(&opportunity);
        let row = NewRow {
            document: Store::document(&opportunity)?,
            opportunity,
        };
        self.creates.create(row, key, answer).await
    }

    /// Reads one opportunity the caller may see.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; database errors.
    pub async fn get(
        &self,
        principal: &Principal,
        id: &OpportunityId,
    ) -> Result<Opportunity, Problem> {
        let document = self
            .store
            .get_document(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let opportunity = Store::parse_document(&document)?;
        if !access::may_read(principal, &opportunity.owner) {
            return Err(not_found(id));
        }
        Ok(opportunity)
    }

    /// Applies `change` to the target opportunity, in one transaction.
    ///
    /// # Errors
    /// NOT_FOUND when it does not exist or the caller may not read it; PERMISSION_DENIED when
    /// the caller may read it but not make this change; ABORTED on a stale etag or concurrent
    /// change; whatever the change refuses; database errors. Nothing is written on any error.
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
            .load_for_update(work.conn(), &id)
            .await?
            .filter(|o| access::may_read(principal, &o.owner))
            .ok_or_else(|| not_found(&id))?;
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
            self.outbox
                .enqueue(work.conn(), &owes::create_contract(&opportunity))
                .await?;
        }
        let answer = work.commit(respond(&opportunity)).await?;
        if won_now {
            self.outbox.wake();
        }
        Ok(answer)
    }
}
