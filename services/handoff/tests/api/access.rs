//! Who may call what, as the proto's authorization table says: every role against every
//! HandoffService method, one test per method (one row of [`TABLE`]).
//!
//! - A role the row does not list gets PERMISSION_DENIED before the handoff is looked at: on a
//!   handoff in a status the method accepts (which it must leave unchanged) and on a name that
//!   does not exist.
//! - A listed role is not refused: on a handoff in a status the method accepts it succeeds. A
//!   `sales_rep` calls on a handoff where it is the salesperson, an `account_manager` on one
//!   assigned to it (AssignAccountManager: an unassigned one, which it takes), with the fields it
//!   owns (UpdateHandoff: `account_manager_notes`).
//! - The grant in `src/domain/access.rs` is the row's: `Own` for a listed `sales_rep`, `Own` for
//!   a listed `account_manager` except on reads and AssignAccountManager (`All`: it reads every
//!   handoff, and takes unassigned ones), `All` for the other listed roles, `Nothing` for the
//!   rest.
//! - A `sales_rep` on another salesperson's handoff gets NOT_FOUND, as if it did not exist, for
//!   every method it may call on its own; listing another salesperson's handoffs is
//!   PERMISSION_DENIED. An `account_manager` on a handoff assigned to another one reads it but
//!   gets PERMISSION_DENIED for every change, and FAILED_PRECONDITION "account_manager_assigned"
//!   taking it.

use closeloop_handoff::domain::access::Action;
use closeloop_kit::Role;
use closeloop_kit::access::{Action as _, Scope};
use closeloop_proto::handoff::v1 as pb;
use pb::HandoffStatus as S;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

/// The HandoffService methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    StartHandoff,
    GetHandoff,
    ListHandoffs,
    UpdateHandoff,
    AssignAccountManager,
    GetHandoffReadiness,
    SubmitHandoff,
    RejectHandoff,
    AcceptHandoff,
    ScheduleIntroduction,
    CompleteIntroduction,
    UpdateOnboardingStepStatus,
}

use Role::{AccountManager, SalesManager, SalesRep, Service};

const READERS: &[Role] = &[Service, SalesRep, AccountManager, SalesManager];
const TEAM: &[Role] = &[SalesRep, AccountManager, SalesManager];

/// The authorization table above `service HandoffService`: each method and the roles it lists.
const TABLE: &[(Rpc, &[Role])] = &[
    (Rpc::StartHandoff, &[Service]),
    (Rpc::GetHandoff, READERS),
    (Rpc::ListHandoffs, READERS),
    (Rpc::UpdateHandoff, TEAM),
    (Rpc::AssignAccountManager, TEAM),
    (Rpc::GetHandoffReadiness, READERS),
    (Rpc::SubmitHandoff, &[SalesRep, SalesManager]),
    (Rpc::RejectHandoff, &[AccountManager, SalesManager]),
    (Rpc::AcceptHandoff, &[AccountManager, SalesManager]),
    (Rpc::ScheduleIntroduction, TEAM),
    (Rpc::CompleteIntroduction, TEAM),
    (Rpc::UpdateOnboardingStepStatus, TEAM),
];

/// A handoff id nobody made.
const NOBODY: &str = "handoffs/0190c0de-0000-7000-8000-000000000000";

#[test]
fn the_table_has_one_row_per_method_of_the_service() {
    let set: prost_types::FileDescriptorSet =
        prost::Message::decode(closeloop_proto::FILE_DESCRIPTOR_SET).unwrap();
    let service = set
        .file
        .iter()
        .filter(|f| f.package() == "closeloop.handoff.v1")
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "HandoffService")
        .expect("HandoffService in the descriptor set");
    let mut methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    methods.sort_unstable();
    let mut rows: Vec<String> = TABLE.iter().map(|(rpc, _)| format!("{rpc:?}")).collect();
    rows.sort_unstable();
    assert_eq!(rows, methods);
}

/// The action of `src/domain/access.rs` that `rpc` checks.
fn action(rpc: Rpc) -> Action {
    match rpc {
        Rpc::StartHandoff => Action::StartHandoff,
        Rpc::GetHandoff | Rpc::ListHandoffs | Rpc::GetHandoffReadiness => Action::Read,
        Rpc::UpdateHandoff => Action::UpdateHandoff,
        Rpc::AssignAccountManager => Action::AssignAccountManager,
        Rpc::SubmitHandoff => Action::SubmitHandoff,
        Rpc::RejectHandoff => Action::RejectHandoff,
        Rpc::AcceptHandoff => Action::AcceptHandoff,
        Rpc::ScheduleIntroduction => Action::ScheduleIntroduction,
        Rpc::CompleteIntroduction => Action::CompleteIntroduction,
        Rpc::UpdateOnboardingStepStatus => Action::UpdateOnboardingStepStatus,
    }
}

/// A handoff `rpc` accepts (`None` for StartHandoff, which makes its own).
async fn target(app: &TestApp, rpc: Rpc, n: &str) -> Option<pb::Handoff> {
    Some(match rpc {
        Rpc::StartHandoff => return None,
        // Unassigned, so that an account manager may take it.
        Rpc::AssignAccountManager => app.start(n).await,
        Rpc::RejectHandoff => app.ready(n).await,
        Rpc::AcceptHandoff => app.introduced(n).await,
        _ => app.complete(n).await,
    })
}

/// A successful answer.
#[derive(Debug)]
enum Answer {
    Handoff(Box<pb::Handoff>),
    Handoffs(Vec<pb::Handoff>),
    Readiness(Box<pb::Readiness>),
}

/// What a call is made on.
struct On<'a> {
    /// The handoff (its name, etag, steps).
    handoff: &'a pb::Handoff,
    /// The order StartHandoff is called for.
    order: &'a str,
    /// The `salesperson` filter of a listing.
    salesperson: &'a str,
    /// Whom AssignAccountManager assigns.
    assignee: &'a str,
}

/// Calls `rpc` as `who` acting as `role`.
async fn call(who: &mut Handoffs, role: Role, rpc: Rpc, on: &On<'_>) -> Result<Answer, Status> {
    let h = on.handoff;
    let name = h.name.clone();
    let one = |r: Result<tonic::Response<pb::Handoff>, Status>| {
        r.map(|r| Answer::Handoff(Box::new(r.into_inner())))
    };
    match rpc {
        Rpc::StartHandoff => {
            let mut request = start(on.order);
            request.request_id = format!("start-{}-{role}", on.order);
            one(who.start_handoff(request).await)
        }
        Rpc::GetHandoff => one(who.get_handoff(pb::GetHandoffRequest { name }).await),
        Rpc::ListHandoffs => who
            .list_handoffs(pb::ListHandoffsRequest {
                salesperson: on.salesperson.into(),
                ..Default::default()
            })
            .await
            .map(|r| Answer::Handoffs(r.into_inner().handoffs)),
        Rpc::GetHandoffReadiness => who
            .get_handoff_readiness(pb::GetHandoffReadinessRequest { name })
            .await
            .map(|r| Answer::Readiness(Box::new(r.into_inner()))),
        Rpc::UpdateHandoff if role == AccountManager => one(who
            .update_handoff(update(
                h,
                pb::Handoff {
                    account_manager_notes: "Call Carla first".into(),
                    ..Default::default()
                },
                &["account_manager_notes"],
            ))
            .await),
        Rpc::UpdateHandoff => one(who
            .update_handoff(update(h, filled(), &["customer_needs"]))
            .await),
        Rpc::AssignAccountManager => {
            one(who.assign_account_manager(assign(&name, on.assignee)).await)
        }
        Rpc::SubmitHandoff => one(who.submit_handoff(submit(&name)).await),
        Rpc::RejectHandoff => one(who
            .reject_handoff(reject(&name, &["The plan misses training"]))
            .await),
        Rpc::AcceptHandoff => one(who.accept_handoff(accept(&name)).await),
        Rpc::ScheduleIntroduction => one(who.schedule_introduction(schedule(&name)).await),
        Rpc::CompleteIntroduction => one(who
            .complete_introduction(complete_introduction(&name))
            .await),
        Rpc::UpdateOnboardingStepStatus => {
            one(who.update_onboarding_step_status(step_in_progress(h)).await)
        }
    }
}

/// Whether `answer` is what a listed role gets from `rpc` on `h`.
fn granted(rpc: Rpc, h: &pb::Handoff, answer: &Result<Answer, Status>) -> Result<(), String> {
    let status_after = |want: S| match answer {
        Ok(Answer::Handoff(after)) if after.status == want as i32 => Ok(()),
        _ => Err(format!(
            "expected a {want:?} handoff, got {}",
            summary(answer)
        )),
    };
    match rpc {
        Rpc::StartHandoff
        | Rpc::UpdateHandoff
        | Rpc::ScheduleIntroduction
        | Rpc::CompleteIntroduction
        | Rpc::UpdateOnboardingStepStatus
        | Rpc::RejectHandoff => status_after(S::Draft),
        Rpc::AssignAccountManager => match answer {
            Ok(Answer::Handoff(after)) if after.account_manager == ALICE => Ok(()),
            _ => Err(format!("expected alice assigned, got {}", summary(answer))),
        },
        Rpc::SubmitHandoff => status_after(S::Ready),
        Rpc::AcceptHandoff => status_after(S::Accepted),
        Rpc::GetHandoff => match answer {
            Ok(Answer::Handoff(read)) if read.name == h.name => Ok(()),
            _ => Err(format!("expected {}, got {}", h.name, summary(answer))),
        },
        Rpc::ListHandoffs => match answer {
            Ok(Answer::Handoffs(list)) if list.iter().any(|x| x.name == h.name) => Ok(()),
            _ => Err(format!(
                "expected a list with {}, got {}",
                h.name,
                summary(answer)
            )),
        },
        Rpc::GetHandoffReadiness => match answer {
            Ok(Answer::Readiness(r)) if r.ready => Ok(()),
            _ => Err(format!("expected a readiness, got {}", summary(answer))),
        },
    }
}

/// The caller acting as `role`: the salesperson for a `sales_rep`, the account manager
/// (assigned, or taking the handoff) for an `account_manager`.
fn caller(app: &TestApp, role: Role) -> Handoffs {
    let subject = match role {
        SalesRep => SAM.to_owned(),
        AccountManager => ALICE.to_owned(),
        Service => CONTRACTS.to_owned(),
        other => format!("{other}-1"),
    };
    app.handoffs(&subject, &[role])
}

fn is_permission_denied(answer: &Result<Answer, Status>) -> bool {
    matches!(answer, Err(s) if s.code() == Code::PermissionDenied)
}

/// An answer in one line: what came back, or the code, message and gates of the refusal.
fn summary(answer: &Result<Answer, Status>) -> String {
    let status = |h: &pb::Handoff| {
        format!(
            "{} {:?}",
            h.name,
            S::try_from(h.status).unwrap_or(S::Unspecified)
        )
    };
    match answer {
        Ok(Answer::Handoff(h)) => format!("OK {}", status(h)),
        Ok(Answer::Handoffs(list)) => {
            let names: Vec<String> = list.iter().map(status).collect();
            format!("OK [{}]", names.join(", "))
        }
        Ok(Answer::Readiness(r)) => format!("OK ready={}", r.ready),
        Err(s) => {
            let gates: Vec<String> = s
                .get_details_precondition_failure()
                .map(|p| p.violations.into_iter().map(|v| v.r#type).collect())
                .unwrap_or_default();
            format!("{:?} {:?} {gates:?}", s.code(), s.message())
        }
    }
}

/// The handoff as it reads now, its readiness's evaluation time left out.
async fn as_stored(app: &TestApp, name: &str) -> pb::Handoff {
    let mut h = app.read(name).await;
    if let Some(r) = h.readiness.as_mut() {
        r.evaluate_time = None;
    }
    h
}

/// One row: every role against `rpc`.
async fn check_row(rpc: Rpc) {
    let allowed = TABLE
        .iter()
        .find(|(r, _)| *r == rpc)
        .map(|(_, roles)| *roles)
        .expect("a row for every method");
    let mut failures = Vec::new();

    // The grant itself.
    for role in Role::ALL {
        let want = match role {
            _ if !allowed.contains(&role) => Scope::Nothing,
            SalesRep => Scope::Own,
            AccountManager
                if !matches!(action(rpc), Action::Read | Action::AssignAccountManager) =>
            {
                Scope::Own
            }
            _ => Scope::All,
        };
        let got = action(rpc).grant(role);
        if got != want {
            failures.push(format!(
                "{role}: {:?} grants {got:?}, the proto {want:?}",
                action(rpc)
            ));
        }
    }

    let app = TestApp::spawn().await;
    let reads_only = matches!(
        rpc,
        Rpc::GetHandoff | Rpc::ListHandoffs | Rpc::GetHandoffReadiness
    );

    // Roles not listed: refused on a handoff the method would accept, which stays as it was,
    // and on one that does not exist.
    let refused = target(&app, rpc, "refused").await;
    let nobody = pb::Handoff {
        name: NOBODY.into(),
        ..Default::default()
    };
    for role in Role::ALL.into_iter().filter(|r| !allowed.contains(r)) {
        let before = match &refused {
            Some(h) => Some(as_stored(&app, &h.name).await),
            None => None,
        };
        for h in [refused.as_ref().unwrap_or(&nobody), &nobody] {
            let on = On {
                handoff: h,
                order: "refused",
                salesperson: "",
                assignee: ALICE,
            };
            let answer = call(&mut caller(&app, role), role, rpc, &on).await;
            if !is_permission_denied(&answer) {
                failures.push(format!(
                    "{role} on {}: expected PERMISSION_DENIED, got {}",
                    h.name,
                    summary(&answer)
                ));
            }
        }
        if let (Some(h), Some(before)) = (&refused, before)
            && as_stored(&app, &h.name).await != before
        {
            failures.push(format!("{role}: a refused call changed the handoff"));
        }
    }
    if rpc == Rpc::StartHandoff && !app.all().await.is_empty() {
        failures.push("refused starts made handoffs".into());
    }

    // Roles listed: not refused; a handoff of their own for each call that changes one.
    for &role in allowed {
        let fresh = if reads_only {
            None
        } else {
            target(&app, rpc, &format!("{role}").replace('_', "-")).await
        };
        let h = match (&fresh, &refused) {
            (Some(h), _) => h.clone(),
            (None, Some(h)) if reads_only => h.clone(),
            _ => pb::Handoff::default(),
        };
        let order = format!("{role}").replace('_', "-");
        let on = On {
            handoff: &h,
            order: &order,
            salesperson: "",
            assignee: ALICE,
        };
        let answer = call(&mut caller(&app, role), role, rpc, &on).await;
        if is_permission_denied(&answer) {
            failures.push(format!(
                "{role}: refused for permission: {}",
                summary(&answer)
            ));
        } else if let Err(e) = granted(rpc, &h, &answer) {
            failures.push(format!("{role}: {e}"));
        }
    }

    assert!(
        failures.is_empty(),
        "{rpc:?} (listed: {allowed:?}) disagrees with the proto:\n{}",
        failures.join("\n")
    );

    if allowed.contains(&SalesRep) {
        strangers(&app, rpc).await;
    }
    if allowed.contains(&AccountManager) {
        other_account_manager(&app, rpc).await;
    }
}

/// Another salesperson calls `rpc` on a handoff of sam's.
async fn strangers(app: &TestApp, rpc: Rpc) {
    let mut rita = app.rep("rita");
    let h = target(app, rpc, "stranger")
        .await
        .expect("a handoff to call on");
    let mut on = On {
        handoff: &h,
        order: "stranger",
        salesperson: SAM,
        assignee: ALICE,
    };
    if rpc == Rpc::ListHandoffs {
        let answer = call(&mut rita, SalesRep, rpc, &on).await;
        assert!(
            is_permission_denied(&answer),
            "rita listing sam's: {}",
            summary(&answer)
        );
        on.salesperson = "";
        let answer = call(&mut rita, SalesRep, rpc, &on).await;
        assert!(
            matches!(&answer, Ok(Answer::Handoffs(list)) if list.is_empty()),
            "rita listing her own sees {}",
            summary(&answer)
        );
        return;
    }
    let before = as_stored(app, &h.name).await;
    let answer = call(&mut rita, SalesRep, rpc, &on).await;
    let Err(status) = answer else {
        panic!("{rpc:?}: rita on sam's handoff: {}", summary(&answer));
    };
    assert_not_found(&status, "closeloop.handoff.v1.Handoff", &h.name);
    assert_eq!(
        as_stored(app, &h.name).await,
        before,
        "{rpc:?}: rita changed sam's handoff"
    );
}

/// An account manager calls `rpc` on a handoff assigned to alice: it reads it, changes nothing.
async fn other_account_manager(app: &TestApp, rpc: Rpc) {
    let mut amy = app.am("amy");
    let h = match rpc {
        // Taken by alice first.
        Rpc::AssignAccountManager => app.complete("taken").await,
        _ => target(app, rpc, "other-am")
            .await
            .expect("a handoff to call on"),
    };
    assert_eq!(h.account_manager, ALICE);
    let before = as_stored(app, &h.name).await;
    let on = |assignee| On {
        handoff: &h,
        order: "other-am",
        salesperson: "",
        assignee,
    };
    match rpc {
        Rpc::GetHandoff | Rpc::ListHandoffs | Rpc::GetHandoffReadiness => {
            let answer = call(&mut amy, AccountManager, rpc, &on(ALICE)).await;
            granted(rpc, &h, &answer).unwrap_or_else(|e| panic!("{rpc:?}: amy reads: {e}"));
        }
        Rpc::AssignAccountManager => {
            // Someone took it first: the queue moved, not an access refusal.
            let answer = call(&mut amy, AccountManager, rpc, &on("amy")).await;
            let Err(status) = &answer else {
                panic!("amy took alice's handoff: {}", summary(&answer));
            };
            assert_gate(status, "account_manager_assigned", Some("account_manager"));
            // Assigning anyone but itself.
            let answer = call(&mut amy, AccountManager, rpc, &on(ALICE)).await;
            assert!(is_permission_denied(&answer), "{}", summary(&answer));
        }
        _ => {
            let answer = call(&mut amy, AccountManager, rpc, &on(ALICE)).await;
            assert!(
                is_permission_denied(&answer),
                "{rpc:?}: amy on alice's handoff: {}",
                summary(&answer)
            );
        }
    }
    assert_eq!(
        as_stored(app, &h.name).await,
        before,
        "{rpc:?}: amy changed alice's handoff"
    );
}

macro_rules! rows {
    ($($test:ident: $rpc:ident,)*) => {
        mod row {
            $(
                #[tokio::test]
                async fn $test() {
                    super::check_row(super::Rpc::$rpc).await;
                }
            )*
        }
    };
}

rows! {
    start_handoff: StartHandoff,
    get_handoff: GetHandoff,
    list_handoffs: ListHandoffs,
    update_handoff: UpdateHandoff,
    assign_account_manager: AssignAccountManager,
    get_handoff_readiness: GetHandoffReadiness,
    submit_handoff: SubmitHandoff,
    reject_handoff: RejectHandoff,
    accept_handoff: AcceptHandoff,
    schedule_introduction: ScheduleIntroduction,
    complete_introduction: CompleteIntroduction,
    update_onboarding_step_status: UpdateOnboardingStepStatus,
}
