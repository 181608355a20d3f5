//! Every handoff move, allowed and refused, from every status: one row per (status, move) pair,
//! as the proto's package comment and the methods' comments say.
//!
//! A refused move must change nothing: every refusal of a status is tried on one handoff, which
//! must read the same (etag and all) after each, and the outbox must not grow. An allowed move is
//! made on a handoff of its own, by the sales manager (who may make every move), and must leave
//! the status the row says, with a new etag.

use closeloop_proto::handoff::v1 as pb;
use pb::HandoffStatus as S;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

/// The moves a handoff's status can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    /// UpdateHandoff of a salesperson's field (`customer_needs`).
    Update,
    /// UpdateHandoff of a field the account manager owns (`onboarding_plan`).
    UpdatePlan,
    Assign,
    Submit,
    Reject,
    Accept,
    Schedule,
    Complete,
    StepStatus,
}

const MOVES: [Move; 9] = [
    Move::Update,
    Move::UpdatePlan,
    Move::Assign,
    Move::Submit,
    Move::Reject,
    Move::Accept,
    Move::Schedule,
    Move::Complete,
    Move::StepStatus,
];

const STATUSES: [S; 3] = [S::Draft, S::Ready, S::Accepted];

/// What a move does.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Succeeds, and the handoff is then in this status.
    To(S),
    /// Fails with FAILED_PRECONDITION whose violations have exactly these types (gates).
    Refused(&'static [&'static str]),
}

use Expect::{Refused, To};
use Move::*;

const STATUS: Expect = Refused(&["status"]);

/// The proto as a table: from which status, which move, what happens.
const TABLE: &[(S, Move, Expect)] = &[
    // DRAFT: the salesperson completes it; it is submitted; the introduction is planned and
    // may take place; steps progress.
    (S::Draft, Update, To(S::Draft)),
    (S::Draft, UpdatePlan, To(S::Draft)),
    (S::Draft, Assign, To(S::Draft)),
    (S::Draft, Submit, To(S::Ready)),
    (S::Draft, Reject, STATUS),
    (S::Draft, Accept, STATUS),
    (S::Draft, Schedule, To(S::Draft)),
    (S::Draft, Complete, To(S::Draft)),
    (S::Draft, StepStatus, To(S::Draft)),
    // READY: waiting for the account manager; the salesperson's fields are frozen, the plan and
    // the introduction are not.
    (S::Ready, Update, STATUS),
    (S::Ready, UpdatePlan, To(S::Ready)),
    (S::Ready, Assign, To(S::Ready)),
    (S::Ready, Submit, STATUS),
    (S::Ready, Reject, To(S::Draft)),
    (S::Ready, Accept, To(S::Accepted)),
    (S::Ready, Schedule, To(S::Ready)),
    (S::Ready, Complete, To(S::Ready)),
    (S::Ready, StepStatus, To(S::Ready)),
    // ACCEPTED is final: only the onboarding plan (and the account manager's notes) change.
    (S::Accepted, Update, STATUS),
    (S::Accepted, UpdatePlan, To(S::Accepted)),
    (S::Accepted, Assign, STATUS),
    (S::Accepted, Submit, STATUS),
    (S::Accepted, Reject, STATUS),
    (S::Accepted, Accept, STATUS),
    (S::Accepted, Schedule, STATUS),
    (S::Accepted, Complete, STATUS),
    (S::Accepted, StepStatus, To(S::Accepted)),
];

#[test]
fn the_table_has_one_row_per_status_and_move() {
    for from in STATUSES {
        for m in MOVES {
            let rows = TABLE.iter().filter(|r| r.0 == from && r.1 == m).count();
            assert_eq!(rows, 1, "{from:?} × {m:?}");
        }
    }
    assert_eq!(TABLE.len(), STATUSES.len() * MOVES.len());
}

/// Makes `m` on `h` as the sales manager; the handoff afterwards.
async fn make(app: &TestApp, m: Move, h: &pb::Handoff) -> Result<pb::Handoff, Status> {
    let mut client = app.manager();
    let name = h.name.as_str();
    Ok(match m {
        Update => {
            client
                .update_handoff(update(h, filled(), &["customer_needs"]))
                .await
        }
        UpdatePlan => {
            let mut plan = h.onboarding_plan.clone();
            plan[0].title = "Kick-off workshop, on site".into();
            client
                .update_handoff(update(
                    h,
                    pb::Handoff {
                        onboarding_plan: plan,
                        ..Default::default()
                    },
                    &["onboarding_plan"],
                ))
                .await
        }
        Assign => client.assign_account_manager(assign(name, "amy")).await,
        Submit => client.submit_handoff(submit(name)).await,
        Reject => {
            client
                .reject_handoff(reject(name, &["The plan misses training"]))
                .await
        }
        Accept => client.accept_handoff(accept(name)).await,
        Schedule => client.schedule_introduction(schedule(name)).await,
        Complete => {
            client
                .complete_introduction(complete_introduction(name))
                .await
        }
        StepStatus => {
            client
                .update_onboarding_step_status(step_in_progress(h))
                .await
        }
    }?
    .into_inner())
}

/// The gates a FAILED_PRECONDITION names, sorted; `None` for any other answer.
fn gates(status: &Status) -> Option<Vec<String>> {
    if status.code() != Code::FailedPrecondition {
        return None;
    }
    let mut types: Vec<String> = status
        .get_details_precondition_failure()?
        .violations
        .into_iter()
        .map(|v| v.r#type)
        .collect();
    types.sort();
    types.dedup();
    Some(types)
}

/// A new handoff in `from` on which `m` meets every condition but the status: READY ones are
/// introduced when accepted, only scheduled otherwise.
async fn handoff(app: &TestApp, from: S, m: Move, n: &str) -> pb::Handoff {
    if from == S::Ready && m == Accept {
        app.introduced(n).await
    } else {
        app.at(from, n).await
    }
}

/// The handoff as it reads now, its readiness's evaluation time left out (it is "now").
async fn as_stored(app: &TestApp, name: &str) -> pb::Handoff {
    let mut h = app.read(name).await;
    if let Some(r) = h.readiness.as_mut() {
        r.evaluate_time = None;
    }
    h
}

/// Runs every row of `from` on a service of its own; fails listing every row that disagrees.
async fn moves_from(from: S) {
    let app = TestApp::spawn().await;
    let rows: Vec<(Move, Expect)> = TABLE
        .iter()
        .filter(|r| r.0 == from)
        .map(|r| (r.1, r.2))
        .collect();
    assert_eq!(rows.len(), MOVES.len());

    // The refusals share one handoff; each allowed move gets its own.
    let shared = app.at(from, "refusals").await;
    let mut failures = Vec::new();
    for (m, expect) in rows {
        match expect {
            Refused(want) => {
                let before = as_stored(&app, &shared.name).await;
                let outbox = app.outbox().await.len();
                match make(&app, m, &shared).await {
                    Ok(after) => failures.push(format!(
                        "{from:?} × {m:?}: expected {want:?}, moved to {:?}",
                        S::try_from(after.status)
                    )),
                    Err(status) => {
                        let got = gates(&status);
                        let mut want: Vec<String> = want.iter().map(|g| (*g).to_owned()).collect();
                        want.sort();
                        if got.as_ref() != Some(&want) {
                            failures.push(format!(
                                "{from:?} × {m:?}: expected gates {want:?}, got {:?} {:?}",
                                status.code(),
                                status.message()
                            ));
                        }
                    }
                }
                if as_stored(&app, &shared.name).await != before {
                    failures.push(format!("{from:?} × {m:?}: a refusal changed the handoff"));
                }
                if app.outbox().await.len() != outbox {
                    failures.push(format!("{from:?} × {m:?}: a refusal owed a call"));
                }
            }
            To(to) => {
                let h = handoff(&app, from, m, &format!("{m:?}").to_lowercase()).await;
                match make(&app, m, &h).await {
                    Ok(after) => {
                        if after.status != to as i32 {
                            failures.push(format!(
                                "{from:?} × {m:?}: expected {to:?}, got {:?}",
                                S::try_from(after.status)
                            ));
                        }
                        if after.etag == h.etag {
                            failures.push(format!("{from:?} × {m:?}: the etag did not change"));
                        }
                        let stored = app.read(&h.name).await;
                        if stored.etag != after.etag {
                            failures.push(format!("{from:?} × {m:?}: the answer is not stored"));
                        }
                    }
                    Err(status) => failures.push(format!(
                        "{from:?} × {m:?}: expected {to:?}, refused {:?} {:?}",
                        status.code(),
                        status.message()
                    )),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn moves_from_draft() {
    moves_from(S::Draft).await;
}

#[tokio::test]
async fn moves_from_ready() {
    moves_from(S::Ready).await;
}

#[tokio::test]
async fn moves_from_accepted() {
    moves_from(S::Accepted).await;
}
