//! Who may call what, as the proto's authorization table says: every role against every
//! ContractService method, one test per method (one row of [`TABLE`]).
//!
//! - A role the row does not list gets PERMISSION_DENIED before the contract is looked at: on a
//!   contract in a status the method accepts (which it must leave unchanged) and on a name that
//!   does not exist.
//! - A listed role is not refused: on a contract in a status the method accepts it succeeds
//!   (CompleteContract, whose invoices cannot be paid yet, is refused by its gates instead).
//!   A `sales_rep` does so on a contract it owns.
//! - The grant in `src/domain/access.rs` is the row's: `Own` for a listed `sales_rep`, `All` for
//!   the other listed roles, `Nothing` for the rest.
//! - A `sales_rep` on another owner's contract gets NOT_FOUND, as if it did not exist, for every
//!   method it may call on its own; listing another owner's contracts or orders is
//!   PERMISSION_DENIED.

use closeloop_contracts_payments::domain::access::{Action, Scope};
use closeloop_kit::Role;
use closeloop_kit::access::Action as _;
use closeloop_proto::contracts::v1 as pb;
use pb::ContractStatus as S;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

/// The ContractService methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateContract,
    GetContract,
    ListContracts,
    UpdateContract,
    SendContract,
    SignContract,
    DeclineContract,
    VoidContract,
    PlaceOrder,
    CompleteContract,
    TerminateContract,
    UpdateDeliverableStatus,
    UpdateObligationStatus,
    GetOrder,
    ListOrders,
}

use Role::{AccountManager, Finance, Operations, SalesManager, SalesRep, Service};

const EVERYONE: &[Role] = &[
    SalesRep,
    SalesManager,
    Finance,
    AccountManager,
    Operations,
    Service,
];

/// The authorization table above `service ContractService`: each method and the roles it
/// lists. A `sales_rep`, where listed, reaches only the contracts it owns.
const TABLE: &[(Rpc, &[Role])] = &[
    (Rpc::CreateContract, &[Service, SalesManager]),
    (Rpc::GetContract, EVERYONE),
    (Rpc::ListContracts, EVERYONE),
    (Rpc::UpdateContract, &[SalesRep, SalesManager, Finance]),
    (Rpc::SendContract, &[SalesRep, SalesManager]),
    (Rpc::SignContract, &[Service, SalesManager]),
    (Rpc::DeclineContract, &[Service, SalesRep, SalesManager]),
    (Rpc::VoidContract, &[SalesRep, SalesManager]),
    (Rpc::PlaceOrder, &[SalesRep, SalesManager, Operations]),
    (
        Rpc::CompleteContract,
        &[SalesManager, AccountManager, Operations],
    ),
    (
        Rpc::TerminateContract,
        &[SalesManager, Finance, AccountManager],
    ),
    (
        Rpc::UpdateDeliverableStatus,
        &[Operations, AccountManager, SalesManager],
    ),
    (
        Rpc::UpdateObligationStatus,
        &[SalesRep, AccountManager, Operations, SalesManager],
    ),
    (Rpc::GetOrder, EVERYONE),
    (Rpc::ListOrders, EVERYONE),
];

/// The owner of every contract here, and the `sales_rep` who calls as itself.
const OWNER: &str = "ana";
/// Another `sales_rep`.
const STRANGER: &str = "bob";
/// A contract id nobody made.
const NOBODY: &str = "0190c0de-0000-7000-8000-000000000000";

#[test]
fn the_table_has_one_row_per_method_of_the_service() {
    let set: prost_types::FileDescriptorSet =
        prost::Message::decode(closeloop_proto::FILE_DESCRIPTOR_SET).unwrap();
    let service = set
        .file
        .iter()
        .filter(|f| f.package() == "closeloop.contracts.v1")
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "ContractService")
        .expect("ContractService in the descriptor set");
    let mut methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    methods.sort_unstable();
    let mut rows: Vec<String> = TABLE.iter().map(|(rpc, _)| format!("{rpc:?}")).collect();
    rows.sort_unstable();
    assert_eq!(rows, methods);
}

/// The status of the contract a method is tried on: one it accepts.
fn accepted(rpc: Rpc) -> Option<S> {
    match rpc {
        Rpc::CreateContract => None,
        Rpc::UpdateContract | Rpc::SendContract => Some(S::Draft),
        Rpc::SignContract | Rpc::DeclineContract | Rpc::VoidContract => Some(S::Sent),
        Rpc::PlaceOrder | Rpc::UpdateObligationStatus => Some(S::Signed),
        Rpc::GetContract
        | Rpc::ListContracts
        | Rpc::GetOrder
        | Rpc::ListOrders
        | Rpc::CompleteContract
        | Rpc::TerminateContract
        | Rpc::UpdateDeliverableStatus => Some(S::Active),
    }
}

/// The action of `src/domain/access.rs` that `rpc` checks.
fn action(rpc: Rpc) -> Action {
    match rpc {
        Rpc::GetContract | Rpc::ListContracts | Rpc::GetOrder | Rpc::ListOrders => {
            Action::ReadContracts
        }
        Rpc::CreateContract => Action::CreateContract,
        Rpc::UpdateContract => Action::UpdateContract,
        Rpc::SendContract | Rpc::VoidContract => Action::SendContract,
        Rpc::SignContract => Action::SignContract,
        Rpc::DeclineContract => Action::DeclineContract,
        Rpc::PlaceOrder => Action::PlaceOrder,
        Rpc::CompleteContract => Action::CompleteContract,
        Rpc::TerminateContract => Action::TerminateContract,
        Rpc::UpdateDeliverableStatus => Action::UpdateDeliverable,
        Rpc::UpdateObligationStatus => Action::UpdateObligation,
    }
}

/// What a call is made on.
struct Target {
    /// The contract as last read (its name, deliverable and obligation ids).
    contract: pb::Contract,
    /// The opportunity CreateContract is called for.
    opportunity: String,
    /// The `owner` filter of a listing.
    owner: String,
}

impl Target {
    /// A contract nobody made.
    fn nobody() -> Target {
        let name = format!("contracts/{NOBODY}");
        Target {
            contract: pb::Contract {
                name: name.clone(),
                order: format!("{name}/orders/{NOBODY}"),
                deliverables: vec![pb::Deliverable {
                    deliverable_id: "deliverable-1".into(),
                    ..Default::default()
                }],
                client_obligations: vec![pb::ClientObligation {
                    obligation_id: "obligation-1".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            opportunity: "opp-nobody".into(),
            owner: String::new(),
        }
    }
}

/// A successful answer.
#[derive(Debug)]
enum Answer {
    Contract(Box<pb::Contract>),
    Contracts(Vec<pb::Contract>),
    Order(Box<pb::Order>),
    Orders(Vec<pb::Order>),
}

/// Calls `rpc` on `t` as `who`.
async fn call(who: &mut Contracts, rpc: Rpc, t: &Target) -> Result<Answer, Status> {
    let c = &t.contract;
    let name = c.name.clone();
    let contract = |r: Result<tonic::Response<pb::Contract>, Status>| {
        r.map(|r| Answer::Contract(Box::new(r.into_inner())))
    };
    match rpc {
        Rpc::CreateContract => {
            let mut request = create(&t.opportunity, OWNER);
            request.request_id = format!("create-{}", t.opportunity);
            contract(who.create_contract(request).await)
        }
        Rpc::GetContract => contract(who.get_contract(pb::GetContractRequest { name }).await),
        Rpc::ListContracts => who
            .list_contracts(pb::ListContractsRequest {
                owner: t.owner.clone(),
                ..Default::default()
            })
            .await
            .map(|r| Answer::Contracts(r.into_inner().contracts)),
        Rpc::UpdateContract => contract(who.update_contract(fill_with_obligation(c)).await),
        Rpc::SendContract => contract(who.send_contract(send(&name)).await),
        Rpc::SignContract => contract(
            who.sign_contract(sign_by_email(&name, "cleo@client.example"))
                .await,
        ),
        Rpc::DeclineContract => contract(who.decline_contract(decline(&name)).await),
        Rpc::VoidContract => contract(who.void_contract(void(&name)).await),
        Rpc::PlaceOrder => who
            .place_order(crate::helpers::place_order(&name))
            .await
            .map(|r| Answer::Contract(Box::new(r.into_inner().contract.unwrap_or_default()))),
        Rpc::CompleteContract => contract(who.complete_contract(complete(&name)).await),
        Rpc::TerminateContract => contract(who.terminate_contract(terminate(&name)).await),
        Rpc::UpdateDeliverableStatus => contract(
            who.update_deliverable_status(deliverable_in_progress(c))
                .await,
        ),
        Rpc::UpdateObligationStatus => contract(
            who.update_obligation_status(obligation_in_progress(c))
                .await,
        ),
        Rpc::GetOrder => who
            .get_order(pb::GetOrderRequest {
                name: c.order.clone(),
            })
            .await
            .map(|r| Answer::Order(Box::new(r.into_inner()))),
        Rpc::ListOrders => who
            .list_orders(pb::ListOrdersRequest {
                parent: "contracts/-".into(),
                owner: t.owner.clone(),
                ..Default::default()
            })
            .await
            .map(|r| Answer::Orders(r.into_inner().orders)),
    }
}

/// Whether `answer` is what a listed role gets from `rpc` on `t`'s contract.
fn granted(rpc: Rpc, t: &Target, answer: Result<Answer, Status>) -> Result<(), String> {
    let c = &t.contract;
    let status_after = |want: S| match &answer {
        Ok(Answer::Contract(after)) if after.status == want as i32 => Ok(()),
        _ => Err(format!(
            "expected a {want:?} contract, got {}",
            summary(&answer)
        )),
    };
    match rpc {
        Rpc::CreateContract | Rpc::UpdateContract => status_after(S::Draft),
        Rpc::SendContract | Rpc::SignContract => status_after(S::Sent),
        Rpc::DeclineContract => status_after(S::Declined),
        Rpc::VoidContract => status_after(S::Voided),
        Rpc::PlaceOrder => status_after(S::Active),
        Rpc::TerminateContract => status_after(S::Terminated),
        Rpc::UpdateDeliverableStatus => status_after(S::Active),
        Rpc::UpdateObligationStatus => status_after(S::Signed),
        // Nothing is paid yet: allowed, and then refused by the completion gates.
        Rpc::CompleteContract => match &answer {
            Err(s)
                if s.code() == Code::FailedPrecondition
                    && s.get_details_precondition_failure()
                        .is_some_and(|p| p.violations.iter().any(|v| v.r#type == "invoices")) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "expected gate \"invoices\", got {}",
                summary(&answer)
            )),
        },
        Rpc::GetContract => match &answer {
            Ok(Answer::Contract(read)) if read.name == c.name => Ok(()),
            _ => Err(format!("expected {}, got {}", c.name, summary(&answer))),
        },
        Rpc::ListContracts => match &answer {
            Ok(Answer::Contracts(list)) if list.iter().any(|x| x.name == c.name) => Ok(()),
            _ => Err(format!(
                "expected a list with {}, got {}",
                c.name,
                summary(&answer)
            )),
        },
        Rpc::GetOrder => match &answer {
            Ok(Answer::Order(read)) if read.name == c.order => Ok(()),
            _ => Err(format!("expected {}, got {}", c.order, summary(&answer))),
        },
        Rpc::ListOrders => match &answer {
            Ok(Answer::Orders(list)) if list.iter().any(|x| x.name == c.order) => Ok(()),
            _ => Err(format!(
                "expected a list with {}, got {}",
                c.order,
                summary(&answer)
            )),
        },
    }
}

/// A caller with `role`: the owner itself when a `sales_rep`.
fn caller(app: &TestApp, role: Role) -> Contracts {
    let subject = match role {
        SalesRep => OWNER.to_owned(),
        other => format!("{other}-1"),
    };
    app.contracts(&subject, &[role])
}

/// A new target for `rpc`: a contract of `OWNER` in a status `rpc` accepts.
async fn target(app: &TestApp, rpc: Rpc, label: &str) -> Target {
    let opportunity = format!("opp-{rpc:?}-{label}").replace('_', "-");
    let contract = match accepted(rpc) {
        Some(status) => app.at(status, &opportunity, OWNER).await,
        None => pb::Contract::default(),
    };
    Target {
        contract,
        opportunity,
        owner: String::new(),
    }
}

fn is_permission_denied(answer: &Result<Answer, Status>) -> bool {
    matches!(answer, Err(s) if s.code() == Code::PermissionDenied)
}

/// An answer in one line: what came back, or the code, message and gates of the refusal.
fn summary(answer: &Result<Answer, Status>) -> String {
    let status = |c: &pb::Contract| {
        format!(
            "{} {:?}",
            c.name,
            S::try_from(c.status).unwrap_or(S::Unspecified)
        )
    };
    match answer {
        Ok(Answer::Contract(c)) => format!("OK {}", status(c)),
        Ok(Answer::Contracts(list)) => {
            let names: Vec<String> = list.iter().map(status).collect();
            format!("OK [{}]", names.join(", "))
        }
        Ok(Answer::Order(o)) => format!("OK {}", o.name),
        Ok(Answer::Orders(list)) => {
            let names: Vec<&str> = list.iter().map(|o| o.name.as_str()).collect();
            format!("OK [{}]", names.join(", "))
        }
        Err(s) => {
            let gates: Vec<String> = s
                .get_details_precondition_failure()
                .map(|p| p.violations.into_iter().map(|v| v.r#type).collect())
                .unwrap_or_default();
            format!("{:?} {:?} {gates:?}", s.code(), s.message())
        }
    }
}

/// One row: every role against `rpc`.
async fn check_row(rpc: Rpc) {
    let allowed = TABLE
        .iter()
        .find(|(r, _)| *r == rpc)
        .map(|(_, roles)| *roles)
        .expect("a row for every method");
    let mut failures = Vec::new();

    // The grant itself. Through the API, a sales_rep granted every contract for a change it may
    // only make on its own answers as before (the contract is read first, and it may read only
    // its own): only the table shows that.
    for role in Role::ALL {
        let want = match role {
            _ if !allowed.contains(&role) => Scope::Nothing,
            SalesRep => Scope::Own,
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
        Rpc::GetContract | Rpc::ListContracts | Rpc::GetOrder | Rpc::ListOrders
    );

    // Roles not listed: refused on a contract the method would accept, which stays as it was,
    // and on one that does not exist.
    let refused = target(&app, rpc, "refused").await;
    for role in Role::ALL.into_iter().filter(|r| !allowed.contains(r)) {
        let before = match accepted(rpc) {
            Some(_) => Some(app.read(&refused.contract.name).await),
            None => None,
        };
        for t in [&refused, &Target::nobody()] {
            let answer = call(&mut caller(&app, role), rpc, t).await;
            if !is_permission_denied(&answer) {
                failures.push(format!(
                    "{role} on {}: expected PERMISSION_DENIED, got {}",
                    t.contract.name,
                    summary(&answer)
                ));
            }
        }
        if let Some(before) = before
            && app.read(&refused.contract.name).await != before
        {
            failures.push(format!("{role}: a refused call changed the contract"));
        }
    }
    if rpc == Rpc::CreateContract {
        let listed = app
            .manager()
            .list_contracts(pb::ListContractsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .contracts;
        if !listed.is_empty() {
            failures.push(format!("refused creations made {} contracts", listed.len()));
        }
    }

    // Roles listed: not refused; a contract of their own for each call that changes one.
    let shared = reads_only.then_some(&refused);
    for &role in allowed {
        let fresh;
        let t = match shared {
            Some(t) => t,
            None => {
                fresh = target(&app, rpc, role.as_str()).await;
                &fresh
            }
        };
        let answer = call(&mut caller(&app, role), rpc, t).await;
        if is_permission_denied(&answer) {
            failures.push(format!(
                "{role}: refused for permission: {}",
                summary(&answer)
            ));
        } else if let Err(e) = granted(rpc, t, answer) {
            failures.push(format!("{role}: {e}"));
        }
    }

    assert!(
        failures.is_empty(),
        "{rpc:?} (listed: {allowed:?}) disagrees with the proto:\n{}",
        failures.join("\n")
    );

    // A sales_rep that may call it on its own contracts: another owner's contract does not
    // exist for it; another owner's listing is refused.
    if allowed.contains(&SalesRep) {
        strangers(&app, rpc).await;
    }
}

/// `STRANGER` calls `rpc` on a contract of `OWNER`'s.
async fn strangers(app: &TestApp, rpc: Rpc) {
    let mut stranger = app.rep(STRANGER);
    let mut t = target(app, rpc, "stranger").await;
    match rpc {
        Rpc::ListContracts | Rpc::ListOrders => {
            t.owner = OWNER.into();
            let answer = call(&mut stranger, rpc, &t).await;
            assert!(
                is_permission_denied(&answer),
                "{rpc:?}: {STRANGER} listing {OWNER}'s: {}",
                summary(&answer)
            );
            t.owner = String::new();
            let answer = call(&mut stranger, rpc, &t).await;
            match &answer {
                Ok(Answer::Contracts(list)) if list.is_empty() => {}
                Ok(Answer::Orders(list)) if list.is_empty() => {}
                _ => panic!(
                    "{rpc:?}: {STRANGER} listing its own sees {}",
                    summary(&answer)
                ),
            }
        }
        Rpc::GetOrder => {
            let answer = call(&mut stranger, rpc, &t).await;
            let Err(status) = answer else {
                panic!(
                    "{rpc:?}: {STRANGER} reads {OWNER}'s order: {}",
                    summary(&answer)
                );
            };
            // The order of a contract it does not own, named as an order.
            assert_not_found(&status, "closeloop.contracts.v1.Order", &t.contract.order);
        }
        _ => {
            let before = app.read(&t.contract.name).await;
            let answer = call(&mut stranger, rpc, &t).await;
            let Err(status) = answer else {
                panic!(
                    "{rpc:?}: {STRANGER} on {OWNER}'s contract: {}",
                    summary(&answer)
                );
            };
            assert_not_found(&status, "closeloop.contracts.v1.Contract", &t.contract.name);
            let after = app.read(&t.contract.name).await;
            assert_eq!(
                after, before,
                "{rpc:?}: {STRANGER} changed {OWNER}'s contract"
            );
        }
    }
    if rpc == Rpc::ListOrders {
        // Naming another owner's contract as the parent: it does not exist either.
        let status = stranger
            .list_orders(pb::ListOrdersRequest {
                parent: t.contract.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_not_found(&status, "closeloop.contracts.v1.Contract", &t.contract.name);
    }
}

macro_rules! rows {
    ($($test:ident: $rpc:ident,)*) => {$(
        #[tokio::test]
        async fn $test() {
            check_row(Rpc::$rpc).await;
        }
    )*};
}

rows! {
    create_contract: CreateContract,
    get_contract: GetContract,
    list_contracts: ListContracts,
    update_contract: UpdateContract,
    send_contract: SendContract,
    sign_contract: SignContract,
    decline_contract: DeclineContract,
    void_contract: VoidContract,
    place_order: PlaceOrder,
    complete_contract: CompleteContract,
    terminate_contract: TerminateContract,
    update_deliverable_status: UpdateDeliverableStatus,
    update_obligation_status: UpdateObligationStatus,
    get_order: GetOrder,
    list_orders: ListOrders,
}
