//! Every contract status move, allowed and refused, from every status a contract can be brought
//! to through this API: one row per (status, move) pair, as the proto's package comment says.
//!
//! COMPLETED is left out: completing needs every invoice PAID, VOID or UNCOLLECTIBLE, and the
//! PaymentService that records payments and voids invoices is not served yet, so no contract can
//! be brought there. (ACTIVE × CompleteContract is here, refused by the completion gates.)
//!
//! A refused move must change nothing: every refusal of a status is tried on one contract, which
//! must read the same (etag and all) after each, and the outbox must not grow. An allowed move is
//! made on a contract of its own and must leave the status the row says, with a new etag.

use closeloop_proto::contracts::v1 as pb;
use pb::ContractStatus as S;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

/// The moves a contract's status can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Update,
    Send,
    Sign,
    Decline,
    Void,
    PlaceOrder,
    Complete,
    Terminate,
    UpdateDeliverableStatus,
    UpdateObligationStatus,
}

const MOVES: [Move; 10] = [
    Move::Update,
    Move::Send,
    Move::Sign,
    Move::Decline,
    Move::Void,
    Move::PlaceOrder,
    Move::Complete,
    Move::Terminate,
    Move::UpdateDeliverableStatus,
    Move::UpdateObligationStatus,
];

/// The statuses a contract is brought to here (not COMPLETED: see the module comment).
const STATUSES: [S; 8] = [
    S::Draft,
    S::Sent,
    S::Signed,
    S::Active,
    S::Terminated,
    S::Declined,
    S::Voided,
    S::Expired,
];

/// What a move does.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Succeeds, and the contract is then in this status.
    To(S),
    /// Fails with FAILED_PRECONDITION whose violations have exactly these types (gates).
    Refused(&'static [&'static str]),
}

use Expect::{Refused, To};
use Move::*;

const STATUS: Expect = Refused(&["status"]);
const EXPIRED: Expect = Refused(&["expired"]);

/// The proto's package comment as a table: from which status, which move, what happens.
const TABLE: &[(S, Move, Expect)] = &[
    // DRAFT: only editing and sending.
    (S::Draft, Update, To(S::Draft)),
    (S::Draft, Send, To(S::Sent)),
    (S::Draft, Sign, STATUS),
    (S::Draft, Decline, STATUS),
    (S::Draft, Void, STATUS),
    (S::Draft, PlaceOrder, STATUS),
    (S::Draft, Complete, STATUS),
    (S::Draft, Terminate, STATUS),
    (S::Draft, UpdateDeliverableStatus, STATUS),
    (S::Draft, UpdateObligationStatus, STATUS),
    // SENT: signing (one signer of two: still SENT), declining, voiding; the order waits for
    // the signatures.
    (S::Sent, Update, STATUS),
    (S::Sent, Send, STATUS),
    (S::Sent, Sign, To(S::Sent)),
    (S::Sent, Decline, To(S::Declined)),
    (S::Sent, Void, To(S::Voided)),
    (S::Sent, PlaceOrder, Refused(&["signatures"])),
    (S::Sent, Complete, STATUS),
    (S::Sent, Terminate, STATUS),
    (S::Sent, UpdateDeliverableStatus, STATUS),
    (S::Sent, UpdateObligationStatus, STATUS),
    // SIGNED: the order, termination before it, client obligations; nothing is delivered
    // before the order.
    (S::Signed, Update, STATUS),
    (S::Signed, Send, STATUS),
    (S::Signed, Sign, STATUS),
    (S::Signed, Decline, STATUS),
    (S::Signed, Void, STATUS),
    (S::Signed, PlaceOrder, To(S::Active)),
    (S::Signed, Complete, STATUS),
    (S::Signed, Terminate, To(S::Terminated)),
    (S::Signed, UpdateDeliverableStatus, STATUS),
    (S::Signed, UpdateObligationStatus, To(S::Signed)),
    // ACTIVE: completing (here refused by its gates: nothing delivered, nothing paid),
    // terminating, deliverables and obligations.
    (S::Active, Update, STATUS),
    (S::Active, Send, STATUS),
    (S::Active, Sign, STATUS),
    (S::Active, Decline, STATUS),
    (S::Active, Void, STATUS),
    (S::Active, PlaceOrder, STATUS),
    (S::Active, Complete, Refused(&["deliverables", "invoices"])),
    (S::Active, Terminate, To(S::Terminated)),
    (S::Active, UpdateDeliverableStatus, To(S::Active)),
    (S::Active, UpdateObligationStatus, To(S::Active)),
    // The final statuses accept nothing; an EXPIRED offer says so for what it offered.
    (S::Terminated, Update, STATUS),
    (S::Terminated, Send, STATUS),
    (S::Terminated, Sign, STATUS),
    (S::Terminated, Decline, STATUS),
    (S::Terminated, Void, STATUS),
    (S::Terminated, PlaceOrder, STATUS),
    (S::Terminated, Complete, STATUS),
    (S::Terminated, Terminate, STATUS),
    (S::Terminated, UpdateDeliverableStatus, STATUS),
    (S::Terminated, UpdateObligationStatus, STATUS),
    (S::Declined, Update, STATUS),
    (S::Declined, Send, STATUS),
    (S::Declined, Sign, STATUS),
    (S::Declined, Decline, STATUS),
    (S::Declined, Void, STATUS),
    (S::Declined, PlaceOrder, STATUS),
    (S::Declined, Complete, STATUS),
    (S::Declined, Terminate, STATUS),
    (S::Declined, UpdateDeliverableStatus, STATUS),
    (S::Declined, UpdateObligationStatus, STATUS),
    (S::Voided, Update, STATUS),
    (S::Voided, Send, STATUS),
    (S::Voided, Sign, STATUS),
    (S::Voided, Decline, STATUS),
    (S::Voided, Void, STATUS),
    (S::Voided, PlaceOrder, STATUS),
    (S::Voided, Complete, STATUS),
    (S::Voided, Terminate, STATUS),
    (S::Voided, UpdateDeliverableStatus, STATUS),
    (S::Voided, UpdateObligationStatus, STATUS),
    (S::Expired, Update, STATUS),
    (S::Expired, Send, STATUS),
    (S::Expired, Sign, EXPIRED),
    (S::Expired, Decline, EXPIRED),
    (S::Expired, Void, EXPIRED),
    (S::Expired, PlaceOrder, STATUS),
    (S::Expired, Complete, STATUS),
    (S::Expired, Terminate, STATUS),
    (S::Expired, UpdateDeliverableStatus, STATUS),
    (S::Expired, UpdateObligationStatus, STATUS),
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

/// Makes `m` on `c` as the sales manager (who may make every move); the contract afterwards.
async fn make(app: &TestApp, m: Move, c: &pb::Contract) -> Result<pb::Contract, Status> {
    let mut client = app.manager();
    let name = c.name.as_str();
    Ok(match m {
        Update => client.update_contract(fill_with_obligation(c)).await,
        Send => client.send_contract(send(name)).await,
        Sign => {
            client
                .sign_contract(sign_by_email(name, "cleo@client.example"))
                .await
        }
        Decline => client.decline_contract(decline(name)).await,
        Void => client.void_contract(void(name)).await,
        PlaceOrder => {
            let placed = client.place_order(place_order(name)).await?.into_inner();
            return placed
                .contract
                .ok_or_else(|| Status::internal("PlaceOrderResponse without its contract"));
        }
        Complete => client.complete_contract(complete(name)).await,
        Terminate => client.terminate_contract(terminate(name)).await,
        UpdateDeliverableStatus => {
            client
                .update_deliverable_status(deliverable_in_progress(c))
                .await
        }
        UpdateObligationStatus => {
            client
                .update_obligation_status(obligation_in_progress(c))
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

/// A new contract in `from`. EXPIRED ones are made SENT here and expire once the clock moves.
async fn contract(app: &TestApp, from: S, opportunity: &str) -> pb::Contract {
    let made = if from == S::Expired { S::Sent } else { from };
    app.at(made, opportunity, "ana").await
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

    // The refusals share one contract; each allowed move gets its own.
    let mut shared = contract(&app, from, "opp-refusals").await;
    let mut own = Vec::new();
    for (m, expect) in &rows {
        if let To(_) = expect {
            own.push(contract(&app, from, &format!("opp-{m:?}")).await);
        }
    }
    if from == S::Expired {
        app.clock.advance_days(31);
        shared = app.read(&shared.name).await;
        for c in &mut own {
            *c = app.read(&c.name).await;
        }
    }
    assert_eq!(
        shared.status, from as i32,
        "the contract to refuse moves on"
    );
    let mut own = own.into_iter();

    let mut failures = Vec::new();
    for (m, expect) in rows {
        let row = format!("{from:?} × {m:?} (expected {expect:?})");
        match expect {
            Refused(want) => {
                let before = app.read(&shared.name).await;
                let owed = app.outbox().await.len();
                match make(&app, m, &before).await {
                    Ok(c) => failures.push(format!("{row}: moved to {:?}", name(c.status))),
                    Err(status) => {
                        let got = gates(&status);
                        if got
                            .as_deref()
                            .map(|g| g.iter().map(String::as_str).collect::<Vec<_>>())
                            != Some(want.to_vec())
                        {
                            failures.push(format!(
                                "{row}: {:?} {:?}, gates {got:?}",
                                status.code(),
                                status.message()
                            ));
                        }
                    }
                }
                let after = app.read(&shared.name).await;
                if after.etag != before.etag {
                    failures.push(format!(
                        "{row}: the refusal changed the etag from {} to {}",
                        before.etag, after.etag
                    ));
                } else if after != before {
                    failures.push(format!("{row}: the refusal changed the contract"));
                }
                if app.outbox().await.len() != owed {
                    failures.push(format!("{row}: the refusal wrote to the outbox"));
                }
            }
            To(to) => {
                let c = own.next().expect("a contract per allowed move");
                match make(&app, m, &c).await {
                    Err(status) => failures.push(format!(
                        "{row}: refused: {:?} {:?}, gates {:?}",
                        status.code(),
                        status.message(),
                        gates(&status)
                    )),
                    Ok(answered) => {
                        let read = app.read(&c.name).await;
                        if answered.status != to as i32 || read.status != to as i32 {
                            failures.push(format!(
                                "{row}: answered {:?}, reads {:?}",
                                name(answered.status),
                                name(read.status)
                            ));
                        }
                        if read.etag == c.etag {
                            failures.push(format!("{row}: the etag did not change"));
                        }
                        if let Err(e) = moved(m, &c, &read) {
                            failures.push(format!("{row}: {e}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} moves from {from:?} disagree with the proto:\n{}",
        failures.len(),
        MOVES.len(),
        failures.join("\n")
    );
}

/// A status as the table writes it.
fn name(status: i32) -> S {
    S::try_from(status).unwrap_or(S::Unspecified)
}

/// What an allowed move must have done besides the status.
fn moved(m: Move, before: &pb::Contract, after: &pb::Contract) -> Result<(), String> {
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
    match m {
        Update => check(
            after.client_obligations.len() == 1 && after.send_blockers.is_empty(),
            "the update did not keep the contract ready to send",
        ),
        Send => check(
            after.send_time.is_some() && after.expire_time.is_some(),
            "send_time and expire_time are not set",
        ),
        Sign => check(
            after.signers[0].status == pb::SignerStatus::Signed as i32
                && after.signers[1].status == pb::SignerStatus::Pending as i32,
            "the client signer is not the only one signed",
        ),
        Decline | Void => check(
            !after.status_reason.is_empty() && after.close_time.is_some(),
            "no status_reason or close_time",
        ),
        PlaceOrder => check(
            before.order.is_empty() && !after.order.is_empty() && after.activate_time.is_some(),
            "no order placed",
        ),
        Terminate => check(
            after.termination_reason == pb::TerminationReason::ClientRequest as i32
                && after.close_time.is_some(),
            "no termination reason or close_time",
        ),
        UpdateDeliverableStatus => check(
            after.deliverables[0].status == pb::DeliverableStatus::InProgress as i32,
            "the deliverable is not IN_PROGRESS",
        ),
        UpdateObligationStatus => check(
            after.client_obligations[0].status
                == closeloop_proto::common::v1::ObligationStatus::InProgress as i32,
            "the obligation is not IN_PROGRESS",
        ),
        Complete => check(after.close_time.is_some(), "no close_time"),
    }
}

#[tokio::test]
async fn moves_from_draft() {
    moves_from(S::Draft).await;
}

#[tokio::test]
async fn moves_from_sent() {
    moves_from(S::Sent).await;
}

#[tokio::test]
async fn moves_from_signed() {
    moves_from(S::Signed).await;
}

#[tokio::test]
async fn moves_from_active() {
    moves_from(S::Active).await;
}

#[tokio::test]
async fn moves_from_terminated() {
    moves_from(S::Terminated).await;
}

#[tokio::test]
async fn moves_from_declined() {
    moves_from(S::Declined).await;
}

#[tokio::test]
async fn moves_from_voided() {
    moves_from(S::Voided).await;
}

#[tokio::test]
async fn moves_from_expired() {
    moves_from(S::Expired).await;
}
