//! A toy service for testing what the host and the kit do for every service, on a real server:
//! `closeloop.toy.v1.Toy` with `Echo` (answers its text), `Sleep` (answers after the duration it
//! is sent), `Whoami` (answers the caller's subject) and `Validate` (refuses every text of a
//! list that is not "ok", one field violation each, as request parsing does), behind the same host, layers and codec
//! as the real services. Its messages are well-known types, so it needs no proto of its own.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use closeloop_proto::codec::ApiCodec;
use prost_types::value::Kind;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::db::Migrations;
use crate::host::ServiceDef;

/// The toy's gRPC service name.
pub const TOY_SERVICE: &str = "closeloop.toy.v1.Toy";

/// The toy, as the host runs it.
pub const TOY: ServiceDef = ServiceDef {
    name: "toy",
    port: 0,
    grpc: &[TOY_SERVICE],
    defaults: "[toy]\n",
    check_settings: |_| Ok(()),
    migrations: Migrations {
        sqlite: &[],
        postgres: &[],
    },
    peers: &[],
    routes: |context| {
        let max = context.max_message_bytes();
        // A background task that says in the database that it ran, and that it stopped.
        let db = context.db().clone();
        context.spawn_background(move |mut stop| async move {
            let mark = |name: &'static str| {
                let db = db.clone();
                async move {
                    let _ = sqlx::query(
                        "INSERT INTO kit_secrets (name, value) VALUES ($1, 'yes') \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(name)
                    .execute(db.writes())
                    .await;
                }
            };
            mark("toy-background-ran").await;
            let _ = stop.wait_for(|stop| *stop).await;
            mark("toy-background-stopped").await;
        });
        Box::pin(async move { Ok(Routes::new(Toy { max })) })
    },
};

/// A text as a `google.protobuf.Value`.
pub fn text(s: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

/// The toy gRPC service.
#[derive(Clone, Debug)]
pub struct Toy {
    max: usize,
}

impl NamedService for Toy {
    const NAME: &'static str = TOY_SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl tower::Service<http::Request<tonic::body::Body>> for Toy {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let max = self.max;
        Box::pin(async move {
            let response = match req.uri().path() {
                "/closeloop.toy.v1.Toy/Echo" => {
                    let mut grpc = tonic::server::Grpc::new(ApiCodec::default())
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(max);
                    grpc.unary(
                        tower::service_fn(|r: Request<prost_types::Value>| async move {
                            Ok::<_, Status>(Response::new(r.into_inner()))
                        }),
                        req,
                    )
                    .await
                }
                "/closeloop.toy.v1.Toy/Sleep" => {
                    let mut grpc = tonic::server::Grpc::new(ApiCodec::default())
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(max);
                    grpc.unary(
                        tower::service_fn(|r: Request<prost_types::Duration>| async move {
                            let d = r.into_inner();
                            let wait = std::time::Duration::from_secs(d.seconds.max(0) as u64)
                                + std::time::Duration::from_nanos(d.nanos.max(0) as u64);
                            tokio::time::sleep(wait).await;
                            Ok::<_, Status>(Response::new(d))
                        }),
                        req,
                    )
                    .await
                }
                "/closeloop.toy.v1.Toy/Validate" => {
                    let mut grpc = tonic::server::Grpc::new(ApiCodec::default())
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(max);
                    grpc.unary(
                        tower::service_fn(|r: Request<prost_types::ListValue>| async move {
                            let list = r.into_inner();
                            let mut v = crate::Violations::new();
                            for (i, value) in list.values.iter().enumerate() {
                                match &value.kind {
                                    Some(Kind::StringValue(s)) if s == "ok" => {}
                                    Some(Kind::StringValue(s)) => {
                                        v.add(format!("values[{i}]"), format!("{s:?} is not ok"))
                                    }
                                    _ => v.add(format!("values[{i}]"), "must be a text"),
                                }
                            }
                            v.into_result()?;
                            Ok::<_, Status>(Response::new(list))
                        }),
                        req,
                    )
                    .await
                }
                "/closeloop.toy.v1.Toy/Whoami" => {
                    let mut grpc = tonic::server::Grpc::new(ApiCodec::default());
                    grpc.unary(
                        tower::service_fn(|r: Request<prost_types::Value>| async move {
                            let who = crate::rpc::caller(&r)?;
                            Ok::<_, Status>(Response::new(text(&who.subject)))
                        }),
                        req,
                    )
                    .await
                }
                _ => Status::unimplemented("no such method").into_http(),
            };
            Ok(response)
        })
    }
}

/// The path of a toy method, e.g. `path("Echo")`.
pub fn path(method: &'static str) -> http::uri::PathAndQuery {
    match method {
        "Echo" => http::uri::PathAndQuery::from_static("/closeloop.toy.v1.Toy/Echo"),
        "Sleep" => http::uri::PathAndQuery::from_static("/closeloop.toy.v1.Toy/Sleep"),
        "Validate" => http::uri::PathAndQuery::from_static("/closeloop.toy.v1.Toy/Validate"),
        _ => http::uri::PathAndQuery::from_static("/closeloop.toy.v1.Toy/Whoami"),
    }
}

/// Calls a toy method over `channel` with `bearer`, returning the status or the answer.
///
/// # Errors
/// The call's status.
pub async fn call<M, R>(
    channel: &tonic::transport::Channel,
    bearer: Option<&str>,
    method: &'static str,
    message: M,
    timeout: Option<std::time::Duration>,
) -> Result<R, Status>
where
    M: prost::Message + Send + Sync + 'static,
    R: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = Request::new(message);
    // The deadline as a bare `grpc-timeout` header, which only the server enforces (tonic's
    // own client would also cancel the call itself at the same moment).
    if let Some(t) = timeout {
        let value = format!("{}m", t.as_millis())
            .parse()
            .map_err(|_| Status::invalid_argument("timeout"))?;
        request.metadata_mut().insert("grpc-timeout", value);
    }
    if let Some(b) = bearer {
        let value = format!("Bearer {b}")
            .parse()
            .map_err(|_| Status::invalid_argument("bearer"))?;
        request.metadata_mut().insert("authorization", value);
    }
    grpc.unary(request, path(method), ApiCodec::<M, R>::default())
        .await
        .map(Response::into_inner)
}
