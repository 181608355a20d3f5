//! Changes to one versioned row without holding a transaction: read it where reads are cheapest,
//! change it, write it back only if its version did not move meanwhile (`UPDATE … WHERE id = $1
//! AND version = $2`, one statement that commits on its own), and start again when it did.
//!
//! Opt in where a change touches one row, owes no other write and has no `request_id` to store
//! (those need [`Db::transaction`](super::Db::transaction)). What it earned for UpdateHandoff at
//! 64 calls in flight (`closeloop bench`, SQLite, 5,000 handoffs): one statement on SQLite's one
//! writer instead of four (BEGIN IMMEDIATE, the row read, the row written, COMMIT, each a round
//! trip to the writer's thread while it holds the write lock); see the README's handoff figures.
//! The answer is the same as the transaction's: concurrent changes of one row are applied one
//! after the other, each to what the one before it wrote; a change that keeps losing the race
//! falls back to the transaction.

use std::future::Future;

use crate::error::Problem;

/// What one try of an optimistic change came to.
#[derive(Debug)]
pub enum Try<T> {
    /// Written (or nothing to write): the answer.
    Done(T),
    /// The row moved on between the read and the write: read it again.
    Moved,
}

/// Runs `attempt` until it is [`Try::Done`], at most `tries` times (at least once); `None` when
/// the row moved on at every try. Then make the change in a transaction that locks the row
/// ([`Db::transaction`](super::Db::transaction)): it waits its turn instead of racing again, so
/// a row many callers change at once is still changed by each of them.
///
/// # Errors
/// What an attempt returns.
pub async fn change<T, F, Fut>(tries: u32, mut attempt: F) -> Result<Option<T>, Problem>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Try<T>, Problem>>,
{
    for _ in 0..tries.max(1) {
        if let Try::Done(answer) = attempt().await? {
            return Ok(Some(answer));
        }
    }
    Ok(None)
}
