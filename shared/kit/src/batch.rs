//! Coalescing concurrent calls into shared database round trips.
//!
//! While a batch is in flight, calls that arrive wait in a queue and go together in the next one.
//! There is no timer: a call that finds nothing in flight goes at once, alone. Under load, one
//! round trip (a thread hand-off on SQLite, a network trip and a commit on PostgreSQL) serves many
//! calls: this is group commit for writes and request coalescing for reads.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::Problem;

struct Job<Req, Resp> {
    request: Req,
    reply: oneshot::Sender<Result<Resp, Problem>>,
}

/// Runs calls of type `Req` in batches through one function.
pub struct Batcher<Req, Resp> {
    queue: mpsc::Sender<Job<Req, Resp>>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Batcher {
            queue: self.queue.clone(),
        }
    }
}

impl<Req, Resp> std::fmt::Debug for Batcher<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

/// Calls that may wait in the queue; more wait for room (back-pressure, bounded memory).
const QUEUE: usize = 4096;

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts a batcher: up to `parallel` batches in flight, each of at most `max_batch` calls.
    /// `run` answers a batch with one result per request, in order. It stops when every
    /// handle is dropped.
    pub fn spawn<F, Fut>(max_batch: usize, parallel: usize, run: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<Resp, Problem>>> + Send + 'static,
    {
        let (queue, mut jobs) = mpsc::channel::<Job<Req, Resp>>(QUEUE);
        let run = Arc::new(run);
        let in_flight = Arc::new(Semaphore::new(parallel.max(1)));
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            loop {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                let Some(first) = jobs.recv().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < max_batch {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let run = run.clone();
                tokio::spawn(async move {
                    let (requests, replies): (Vec<Req>, Vec<_>) =
                        batch.into_iter().map(|j| (j.request, j.reply)).unzip();
                    let count = requests.len();
                    let mut results = run(requests).await.into_iter();
                    for reply in replies {
                        let result = results.next().unwrap_or_else(|| {
                            Err(Problem::internal(format!(
                                "a batch of {count} calls returned too few results"
                            )))
                        });
                        // A caller that gave up (deadline) no longer listens; that is fine.
                        let _ = reply.send(result);
                    }
                    drop(permit);
                });
            }
        });
        Batcher { queue }
    }

    /// Runs one call in the next batch.
    ///
    /// # Errors
    /// What the batch answered for this call; UNAVAILABLE when the batcher is gone.
    pub async fn call(&self, request: Req) -> Result<Resp, Problem> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { request, reply })
            .await
            .map_err(|_| Problem::Unavailable("the service is stopping".into()))?;
        answer
            .await
            .map_err(|_| Problem::Unavailable("the service is stopping".into()))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn calls_arriving_while_a_batch_runs_share_the_next_one() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let recorded = sizes.clone();
        let gate = Arc::new(tokio::sync::Notify::new());
        let opened = gate.clone();
        let batcher = Batcher::spawn(100, 1, move |requests: Vec<u32>| {
            let recorded = recorded.clone();
            let opened = opened.clone();
            async move {
                recorded.lock().unwrap().push(requests.len());
                if requests == [0] {
                    // Hold the first batch until the others have queued behind it.
                    opened.notified().await;
                }
                requests.into_iter().map(|r| Ok(r * 2)).collect()
            }
        });
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.call(0).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let rest: Vec<_> = (1..=10)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.call(i).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap(), 0);
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(r.await.unwrap().unwrap(), (i as u32 + 1) * 2);
        }
        assert_eq!(*sizes.lock().unwrap(), [1, 10]);
    }

    #[tokio::test]
    async fn a_lone_call_goes_at_once_and_errors_reach_their_caller() {
        let batcher = Batcher::spawn(8, 2, |requests: Vec<i32>| async move {
            requests
                .into_iter()
                .map(|r| {
                    if r < 0 {
                        Err(Problem::invalid("r", "negative"))
                    } else {
                        Ok(r)
                    }
                })
                .collect()
        });
        assert_eq!(batcher.call(5).await.unwrap(), 5);
        assert!(matches!(
            batcher.call(-1).await,
            Err(Problem::InvalidArgument(_))
        ));
    }
}
