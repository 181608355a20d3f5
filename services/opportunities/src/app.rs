//! Use cases: each change runs in one transaction that loads the opportunity, checks who may do
//! it and the etag, applies the domain rule, saves, writes the command owed to the contracts
//! service when the deal is won (outbox), and stores the answer under the request's `request_id`.
//! Either all of that commits or none of it does.
//!
//! The two hottest calls share round trips under load ([`closeloop_kit::batch`]): creations
//! that arrive together commit together (one insert statement; with `request_id`s, one
//! transaction that also stores their answers), and reads of single opportunities that arrive
//! together are one `IN (…)` query (on SQLite run on the calling thread, without a hand-off).

use closeloop_kit::batch::Batcher;
use closeloop_kit::db::Backend;
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
use crate::store::{MAX_INSERT_ROWS, Store};

/// The opportunities application: store, rules and outbox wake-up.
#[derive(Clone)]
pub struct App {
    /// The database.
    pub store: Store,
    /// Business rules.
    pub policy: Policy,
    /// Wakes the outbox relay after a commit that queued a command.
    pub waker: Option<Waker>,
    creates: Batcher<NewRow, Created>,
    reads: Batcher<String, Option<Vec<u8>>>,
}

/// A new opportunity waiting for the next group commit.
struct NewRow {
    opportunity: Opportunity,
    document: Vec<u8>,
    key: Option<RequestKey>,
    /// The encoded answer, stored under `key`; empty without one.
    answer: Vec<u8>,
}

/// How a creation ended.
enum Created {
    /// Inserted now; the caller answers with what it built.
    Fresh,
    /// A repeat of an applied request: its stored answer.
    Repeat(Vec<u8>),
}

/// Creations committed together at most.
const CREATE_BATCH: usize = 128;
/// Reads answered by one query at most.
const READ_BATCH: usize = 64;

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
    /// The application over `store`. Must run inside the tokio runtime (it starts the batchers).
    pub fn new(store: Store, policy: Policy, waker: Option<Waker>) -> App {
        // SQLite has one writer: more than one creation batch in flight would only queue. Its
        // reads run on the calling thread (`Db::read_here`), one read transaction per batch;
        // with one batch in flight, calls that arrive meanwhile make the next batch bigger
        // while the other thread serves the transport (measured: steadier and no slower than
        // two). PostgreSQL overlaps round trips, so batches run side by side there.
        let (writers, readers) = match store.db().backend() {
            Backend::Sqlite => (1, 1),
            Backend::Postgres => (
                2,
                (store.db().pool().options().get_max_connections() as usize / 2).max(1),
            ),
        };
        let creates = {
            let store = store.clone();
            Batcher::spawn(CREATE_BATCH, writers, move |rows| {
                let store = store.clone();
                async move { create_batch(&store, rows).await }
            })
        };
        let reads = {
            let store = store.clone();
            Batcher::spawn(READ_BATCH, readers, move |ids: Vec<String>| {
                let store = store.clone();
                async move {
                    match store.get_documents(&ids).await {
                        // The same id may be asked for twice in one batch: clone, don't take.
                        Ok(found) => ids.iter().map(|id| Ok(found.get(id).cloned())).collect(),
                        Err(e) => ids.iter().map(|_| Err(e.duplicate())).collect(),
                    }
                }
            })
        };
        App {
            store,
            policy,
            waker,
            creates,
            reads,
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
        let opportunity =
            Opportunity::create(uuid::Uuid::now_v7().to_string(), new, owner, initial, now)?;
        let answer = respond(&opportunity);
        let created = self
            .creates
            .call(NewRow {
                document: Store::document(&opportunity)?,
                opportunity,
                key: key.cloned(),
                // Only a request_id's stored answer needs the encoding.
                answer: key.map(|_| answer.encode_to_vec()).unwrap_or_default(),
            })
            .await?;
        match created {
            Created::Fresh => Ok(answer),
            Created::Repeat(stored) => M::decode(stored.as_slice()).map_err(Problem::internal),
        }
    }

    /// Reads one opportunity the caller may see.
    ///
    /// # Errors
    /// NOT_FOUND; PERMISSION_DENIED; database errors.
    pub async fn get(&self, principal: &Principal, id: &str) -> Result<Opportunity, Problem> {
        let document = self
            .reads
            .call(id.to_owned())
            .await?
            .ok_or_else(|| not_found(id))?;
        let opportunity = Store::parse_document(&document)?;
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

/// Commits a batch of creations together (one statement, or one transaction when they carry
/// `request_id`s); when that fails (e.g. a twin request committed the same `request_id`
/// first), each creation runs alone so one cannot fail another.
async fn create_batch(store: &Store, rows: Vec<NewRow>) -> Vec<Result<Created, Problem>> {
    match try_create_batch(store, &rows).await {
        Ok(results) => results,
        Err(e) => {
            tracing::debug!(error = %e, size = rows.len(), "creating as a batch failed; one by one");
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(create_alone(store, row).await);
            }
            results
        }
    }
}

async fn try_create_batch(
    store: &Store,
    rows: &[NewRow],
) -> Result<Vec<Result<Created, Problem>>, Problem> {
    // Without request_ids there is nothing to look up or store beside the rows: one statement
    // inserts them all and commits, with no transaction around it (on PostgreSQL, BEGIN and
    // COMMIT were two of a batch's four round trips).
    if rows.len() <= MAX_INSERT_ROWS && rows.iter().all(|r| r.key.is_none()) {
        let documents: Vec<(&Opportunity, Vec<u8>)> = rows
            .iter()
            .map(|r| (&r.opportunity, r.document.clone()))
            .collect();
        store.insert_new(&documents).await?;
        return Ok(rows.iter().map(|_| Ok(Created::Fresh)).collect());
    }
    let now = now_micros();
    let mut tx = store.db().begin().await?;
    let keys: Vec<&RequestKey> = rows.iter().filter_map(|r| r.key.as_ref()).collect();
    let stored = if keys.is_empty() {
        Default::default()
    } else {
        idempotency::stored_answers(&mut tx, &keys).await?
    };
    let mut results = Vec::with_capacity(rows.len());
    let mut fresh: Vec<&NewRow> = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(key) = &row.key else {
            fresh.push(row);
            results.push(Ok(Created::Fresh));
            continue;
        };
        // `get`, not `remove`: the same applied request may repeat twice in one batch.
        if let Some(answer) = stored.get(key.key()) {
            results.push(match answer {
                Ok(stored) => Ok(Created::Repeat(stored.clone())),
                Err(e) => Err(e.duplicate()),
            });
            continue;
        }
        // The same request twice in one batch: the first is applied, the second repeats it.
        let twin = fresh
            .iter()
            .find(|f| f.key.as_ref().is_some_and(|k| k.key() == key.key()));
        match twin {
            Some(first) if first.key.as_ref().is_some_and(|k| k.same_request(key)) => {
                results.push(Ok(Created::Repeat(first.answer.clone())));
            }
            Some(_) => results.push(Err(Problem::invalid(
                "request_id",
                "already used for a different request",
            ))),
            None => {
                fresh.push(row);
                results.push(Ok(Created::Fresh));
            }
        }
    }
    let documents: Vec<(&Opportunity, Vec<u8>)> = fresh
        .iter()
        .map(|r| (&r.opportunity, r.document.clone()))
        .collect();
    store.insert_rows(&mut tx, &documents).await?;
    let answers: Vec<(&RequestKey, Vec<u8>)> = fresh
        .iter()
        .filter_map(|r| r.key.as_ref().map(|k| (k, r.answer.clone())))
        .collect();
    if !answers.is_empty() {
        idempotency::store_answers(&mut tx, &answers, now).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// One creation in its own transaction. A second try finds the answer of a twin request that
/// committed first (the first try then failed on its `request_id`).
async fn create_alone(store: &Store, row: &NewRow) -> Result<Created, Problem> {
    let row = std::slice::from_ref(row);
    let result = match try_create_batch(store, row).await {
        Ok(results) => Ok(results),
        Err(_) => try_create_batch(store, row).await,
    };
    result?
        .pop()
        .unwrap_or_else(|| Err(Problem::internal("a creation returned no result")))
}
