//! An accepted handoff and account-management: the OpenAccount it owes is delivered by the
//! outbox relay to `peers.accounts`, once, authenticated as a service and under the id derived
//! from the handoff; once delivered, the service asks account-management which account it opened
//! and the handoff shows it (`account_opening` OPENED with the account).
//!
//! account-management is not served yet: a stand-in answers OpenAccount and ListAccounts over
//! real gRPC, as accounts.proto says (one account per customer, found by its handoff).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use closeloop_proto::accounts::v1 as accounts;
use closeloop_proto::codec::ApiCodec;
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as pb;
use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::{Request, Response, Status};

#[path = "api/helpers.rs"]
mod helpers;

use helpers::TestApp;

/// What the stand-in was sent and holds.
#[derive(Default)]
struct Book {
    /// Every OpenAccount received, with whether it carried a bearer token.
    opened: Vec<(accounts::OpenAccountRequest, bool)>,
    accounts: Vec<accounts::Account>,
}

/// account-management's OpenAccount and ListAccounts, nothing else (UNIMPLEMENTED).
#[derive(Clone, Default)]
struct StandIn(Arc<Mutex<Book>>);

impl tonic::server::NamedService for StandIn {
    const NAME: &'static str = "closeloop.accounts.v1.AccountService";
}

struct Open(StandIn);

impl tonic::server::UnaryService<accounts::OpenAccountRequest> for Open {
    type Response = accounts::Account;
    type Future = BoxFuture<Response<accounts::Account>, Status>;

    fn call(&mut self, request: Request<accounts::OpenAccountRequest>) -> Self::Future {
        let book = Arc::clone(&(self.0).0);
        Box::pin(async move {
            let bearer = request
                .metadata()
                .get("authorization")
                .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("Bearer ")));
            let r = request.into_inner();
            let mut book = book.lock().unwrap();
            book.opened.push((r.clone(), bearer));
            let mut account = r.account.unwrap_or_default();
            let existing = book.accounts.iter().find(|a| a.handoff == account.handoff);
            if let Some(a) = existing {
                return Ok(Response::new(a.clone()));
            }
            account.name = format!("accounts/a-{}", book.accounts.len() + 1);
            book.accounts.push(account.clone());
            Ok(Response::new(account))
        })
    }
}

struct List(StandIn);

impl tonic::server::UnaryService<accounts::ListAccountsRequest> for List {
    type Response = accounts::ListAccountsResponse;
    type Future = BoxFuture<Response<accounts::ListAccountsResponse>, Status>;

    fn call(&mut self, request: Request<accounts::ListAccountsRequest>) -> Self::Future {
        let book = Arc::clone(&(self.0).0);
        Box::pin(async move {
            let customer = request.into_inner().customer_account_id;
            let accounts = book
                .lock()
                .unwrap()
                .accounts
                .iter()
                .filter(|a| {
                    a.customer
                        .as_ref()
                        .is_some_and(|c: &common::Party| c.account_id == customer)
                })
                .cloned()
                .collect();
            Ok(Response::new(accounts::ListAccountsResponse {
                accounts,
                ..Default::default()
            }))
        })
    }
}

impl Service<http::Request<tonic::body::Body>> for StandIn {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let me = self.clone();
        match req.uri().path() {
            "/closeloop.accounts.v1.AccountService/OpenAccount" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ApiCodec::default());
                Ok(grpc.unary(Open(me), req).await)
            }),
            "/closeloop.accounts.v1.AccountService/ListAccounts" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ApiCodec::default());
                Ok(grpc.unary(List(me), req).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("stand-in").into_http()) }),
        }
    }
}

/// Serves the stand-in on 127.0.0.1:0; its endpoint.
async fn serve(stand_in: StandIn) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(stand_in)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    format!("http://{addr}")
}

#[tokio::test]
async fn an_accepted_handoff_opens_its_account_once_and_shows_it() {
    let stand_in = StandIn::default();
    let endpoint = serve(stand_in.clone()).await;
    let app = TestApp::spawn_with(|s| {
        s.layer("[handoff]\naccount_follow_up_ms = 100").unwrap();
        s.set_peer("accounts", endpoint);
    })
    .await;

    let h = app.accepted("acct").await;
    let command = h.open_account_call.as_ref().unwrap().command_id.clone();

    let mut opened = None;
    for _ in 0..200 {
        let now = app.read(&h.name).await;
        if now.account_opening.as_ref().unwrap().state == pb::AccountOpeningState::Opened as i32
            && !now.account_opening.as_ref().unwrap().account.is_empty()
        {
            opened = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = opened.expect("the account is opened and recorded within ten seconds");
    let opening = opened.account_opening.as_ref().unwrap();
    assert_eq!(opening.account, "accounts/a-1");
    assert!(opening.open_time.is_some());
    assert_eq!(opening.request_time, opened.accept_time);
    let call = opened.open_account_call.as_ref().unwrap();
    assert_eq!(call.state, common::OwedCallState::Delivered as i32);
    assert_eq!(call.command_id, command);

    // Delivered once, as a service, under the derived id, carrying the handoff.
    let opened_calls = stand_in.0.lock().unwrap().opened.clone();
    assert_eq!(opened_calls.len(), 1);
    let (request, bearer) = &opened_calls[0];
    assert!(bearer, "authenticated as a service");
    assert_eq!(request.request_id, command);
    assert_eq!(request.account.as_ref().unwrap().handoff, h.name);

    // Recorded once: later rounds find nothing to do.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.read(&h.name).await.etag, opened.etag);
    app.0.stop().await;
}
