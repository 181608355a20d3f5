//! Hostile clients against a real server (the toy service, behind the same host and layers as
//! every service), with raw HTTP/2 and TCP where a polite client could not misbehave: each test
//! reproduces an attack and checks that the server bounds it, that other callers go on being
//! served, and that health tells the truth.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use closeloop_kit::Role;
use closeloop_kit::testing::toy::{self, TOY, text};
use closeloop_kit::testing::{TestService, token};
use prost::Message;
use prost::bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic_types::StatusExt;

fn ana() -> String {
    token("ana", &[Role::SalesRep])
}

fn sleep(ms: u64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// A raw HTTP/2 client on `addr`; its connection is driven in the background.
async fn raw_h2(addr: SocketAddr) -> (h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client.ready().await.unwrap(), driver)
}

/// The headers of a gRPC call of a toy method.
fn headers(addr: SocketAddr, method: &str, bearer: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/closeloop.toy.v1.Toy/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {bearer}"))
        .body(())
        .unwrap()
}

/// A gRPC frame carrying `message`.
fn frame(message: &impl Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    Bytes::from(out)
}

/// The grpc-status of a raw response, from its headers (trailers-only) or its trailers.
async fn grpc_status(response: h2::client::ResponseFuture) -> Option<String> {
    let response = response.await.ok()?;
    if let Some(s) = response.headers().get("grpc-status") {
        return Some(s.to_str().ok()?.to_owned());
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.ok()?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.ok()??;
    Some(trailers.get("grpc-status")?.to_str().ok()?.to_owned())
}

async fn sleep_call(app: &TestService, ms: u64) -> Result<prost_types::Duration, tonic::Status> {
    toy::call(&app.channel, Some(&ana()), "Sleep", sleep(ms), None).await
}

#[tokio::test]
async fn an_error_reports_a_bounded_number_of_violations_whatever_the_request_holds() {
    let app = TestService::spawn(&TOY).await;
    // About 3.9 MB of bad values, each echoed in its own violation if nothing bounded them.
    let values = (0..100_000)
        .map(|i| text(&format!("{i:08}-not-ok-{}", "x".repeat(20))))
        .collect();
    let err = toy::call::<_, prost_types::ListValue>(
        &app.channel,
        Some(&ana()),
        "Validate",
        prost_types::ListValue { values },
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let violations = err.get_details_bad_request().unwrap().field_violations;
    assert!(violations.len() <= 50, "{} violations", violations.len());
    assert_eq!(violations[0].field, "values[0]");
    let last = &violations.last().unwrap().description;
    assert!(last.contains("more not reported"), "{last}");
    assert!(
        err.details().len() < 10_000,
        "{} bytes of details",
        err.details().len()
    );
    // The server is still fine for everyone.
    sleep_call(&app, 0).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn streams_whose_message_never_arrives_hold_no_slot_and_time_out() {
    let app = TestService::spawn_with(&TOY, |s| {
        s.common.server.concurrency_limit = 2;
        s.common.server.request_body_timeout_ms = 300;
    })
    .await;
    let (mut raw, _driver) = raw_h2(app.addr).await;
    let mut stalled = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..50 {
        raw = raw.ready().await.unwrap();
        // Headers, and a body stream that never sends anything.
        let (response, body) = raw
            .send_request(headers(app.addr, "Sleep", &ana()), false)
            .unwrap();
        stalled.push(response);
        bodies.push(body);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Fifty stalled streams, two slots: other callers are still served.
    for _ in 0..5 {
        sleep_call(&app, 0).await.unwrap();
    }
    // The stalled calls end with DEADLINE_EXCEEDED once the body timeout passes.
    let started = Instant::now();
    for response in stalled {
        assert_eq!(grpc_status(response).await.as_deref(), Some("4"));
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(bodies);
    app.stop().await;
}

#[tokio::test]
async fn a_valid_token_without_a_role_is_refused_before_it_holds_anything() {
    let app = TestService::spawn(&TOY).await;
    let nobody = token("mallory", &[]);
    let err =
        toy::call::<_, prost_types::Value>(&app.channel, Some(&nobody), "Whoami", text(""), None)
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    app.stop().await;
}

/// Answers a client never reads hold their slots only until the answer deadline (the request
/// timeout): then the connection that leaves them unread is closed and the slots come back,
/// whatever the client does to keep the connection looking busy.
#[tokio::test]
async fn a_client_that_never_reads_its_answers_loses_its_connection_at_the_deadline() {
    let app = TestService::spawn_with(&TOY, |s| {
        s.common.server.concurrency_limit = 4;
        s.common.server.max_concurrent_streams = 7;
        s.common.server.request_timeout_ms = 1_000;
    })
    .await;
    let (raw, _driver) = raw_h2(app.addr).await;
    // The server's SETTINGS arrive with its first answer.
    let mut raw = raw;
    let (first, _) = raw
        .send_request(headers(app.addr, "Sleep", &ana()), false)
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), first).await;
    assert_eq!(
        raw.current_max_send_streams(),
        7,
        "the server advertises its stream limit"
    );
    // Four answers of a megabyte each that the client never reads: the server can send only a
    // flow-control window of them, so each call holds its slot.
    let big = text(&"y".repeat(1 << 20));
    let mut unread = Vec::new();
    for _ in 0..4 {
        raw = raw.ready().await.unwrap();
        let (response, mut body) = raw
            .send_request(headers(app.addr, "Echo", &ana()), false)
            .unwrap();
        body.send_data(frame(&big), true).unwrap();
        unread.push((response, body));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = sleep_call(&app, 0).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::ResourceExhausted,
        "the unsent answers count against the limit"
    );
    // The client stays, sending requests without a token to look busy: at the answer deadline
    // its connection is closed anyway, and the slots come back.
    let started = Instant::now();
    loop {
        if let Ok(ready) = raw.clone().ready().await
            && let Ok((_, _)) = ready
                .clone()
                .send_request(headers(app.addr, "Whoami", "x"), true)
        {
            raw = ready;
        }
        match sleep_call(&app, 0).await {
            Ok(_) => break,
            Err(e) if e.code() == Code::ResourceExhausted => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the slots never came back"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    drop(unread);
    app.stop().await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_resource_exhausted() {
    let app = TestService::spawn_with(&TOY, |s| s.common.server.max_message_bytes = 1024).await;
    let err = toy::call::<_, prost_types::Value>(
        &app.channel,
        Some(&ana()),
        "Echo",
        text(&"z".repeat(2000)),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let fits: prost_types::Value = toy::call(
        &app.channel,
        Some(&ana()),
        "Echo",
        text(&"z".repeat(900)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(fits, text(&"z".repeat(900)));
    app.stop().await;
}

/// Whether the server closed `tcp` (EOF or reset) within `within`.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // The server's own SETTINGS frame: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn connections_that_never_send_the_preface_are_closed_after_the_handshake_timeout() {
    let app = TestService::spawn_with(&TOY, |s| s.common.server.handshake_timeout_ms = 300).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    // A trickle of a preface that never completes does not keep it open either.
    slow.write_all(b"PRI * HTTP/2.0").await.unwrap();
    for tcp in silent.iter_mut().chain(std::iter::once(&mut slow)) {
        assert!(closed_within(tcp, Duration::from_secs(3)).await);
    }
    sleep_call(&app, 0).await.unwrap();
    app.stop().await;
}

/// At the connection cap, connections that never made an authenticated call give their place
/// to newcomers (oldest first); once every place is held by a proven client, a newcomer is
/// closed at once. Nobody without a token can lock proven clients out.
#[tokio::test]
async fn at_the_cap_unproven_connections_make_room_and_proven_ones_keep_theirs() {
    let app = TestService::spawn_with(&TOY, |s| s.common.server.max_connections = 3).await;
    // The harness's channel proves itself with a call.
    sleep_call(&app, 0).await.unwrap();
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server is full; a real client still gets in, in the oldest silent connection's place.
    let newcomer = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    toy::call::<_, prost_types::Duration>(&newcomer, Some(&ana()), "Sleep", sleep(0), None)
        .await
        .unwrap();
    assert!(
        closed_within(&mut silent[0], Duration::from_secs(2)).await,
        "the oldest gave way"
    );
    // The other silent one gives way to a second client; then all three are proven.
    let second = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    toy::call::<_, prost_types::Duration>(&second, Some(&ana()), "Sleep", sleep(0), None)
        .await
        .unwrap();
    assert!(closed_within(&mut silent[1], Duration::from_secs(2)).await);
    let mut over = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut over, Duration::from_secs(2)).await,
        "with every place proven, a newcomer is closed at once"
    );
    // The proven clients go on being served.
    sleep_call(&app, 0).await.unwrap();
    toy::call::<_, prost_types::Duration>(&newcomer, Some(&ana()), "Sleep", sleep(0), None)
        .await
        .unwrap();
    app.stop().await;
}

/// Requests without a valid token (and health checks) do not keep a connection in use: only
/// authenticated calls do.
#[tokio::test]
async fn refused_calls_do_not_keep_an_idle_connection_open() {
    let app = TestService::spawn_with(&TOY, |s| s.common.server.idle_timeout_ms = 500).await;
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let started = Instant::now();
    let mut client = client;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let Ok(ready) = client.clone().ready().await else {
                return;
            };
            client = ready;
            let Ok((response, _)) =
                client.send_request(headers(app.addr, "Whoami", "forged"), true)
            else {
                return;
            };
            let _ = response.await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "unauthenticated requests kept the connection open"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    driver.abort();
    app.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_even_while_it_pings() {
    let app = TestService::spawn_with(&TOY, |s| s.common.server.idle_timeout_ms = 500).await;
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    let (client, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let mut pings = connection.ping_pong().unwrap();
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::select! {
            _ = connection => {}
            () = async {
                loop {
                    if pings.ping(h2::Ping::opaque()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            } => {}
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was not closed");
    assert!(started.elapsed() >= Duration::from_millis(400));
    drop(client);
    // A connection in use is not idle: calls every 300 ms keep the harness's channel open.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sleep_call(&app, 0).await.unwrap();
    }
    app.stop().await;
}

#[tokio::test]
async fn a_stop_shows_not_serving_first_and_idle_connections_do_not_delay_it() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let app = TestService::spawn_with(&TOY, |s| {
        s.common.server.drain_delay_ms = 600;
        s.common.server.shutdown_grace_ms = 20_000;
        s.common.server.handshake_timeout_ms = 20_000;
    })
    .await;
    // An idle client connection and a connection that never sent anything.
    let idle = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let _silent = TcpStream::connect(app.addr).await.unwrap();
    let mut health = HealthClient::new(app.channel.clone());
    let started = Instant::now();
    let stopping = tokio::spawn(app.stop());
    let mut saw_not_serving = false;
    while started.elapsed() < Duration::from_millis(500) {
        if let Ok(answer) = health.check(HealthCheckRequest::default()).await
            && answer.into_inner().status == ServingStatus::NotServing as i32
        {
            saw_not_serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        saw_not_serving,
        "health said NOT_SERVING before the listener closed"
    );
    stopping.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle connections stretched the stop to {:?}",
        started.elapsed()
    );
    drop(idle);
}

/// Forwards TCP to `target` until frozen; frozen, it holds every byte without answering, as a
/// database that hangs does.
struct Proxy {
    addr: SocketAddr,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (ur, uw) = upstream.into_split();
                tokio::spawn(Self::pipe(cr, uw, flag.clone()));
                tokio::spawn(Self::pipe(ur, cw, flag.clone()));
            }
        });
        Proxy { addr, frozen }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let Ok(n) = from.read(&mut buf).await else {
                return;
            };
            if n == 0 {
                return;
            }
            while frozen.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen
            .store(frozen, std::sync::atomic::Ordering::SeqCst);
    }
}

/// PostgreSQL only: a database reached over the network can stop answering while its
/// connections stay open (SQLite is a file in the process and has no such state).
#[tokio::test]
async fn health_turns_not_serving_within_seconds_when_the_database_stops_answering() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let Some(admin) = std::env::var(closeloop_kit::testing::DATABASE_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!(
            "SQLite run: a database file cannot hang over a network; PostgreSQL runs cover this"
        );
        return;
    };
    let target = admin
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let proxy = Proxy::start(target.clone()).await;
    let app = TestService::spawn_with(&TOY, |s| {
        s.common.database.url = s
            .common
            .database
            .url
            .replace(&target, &proxy.addr.to_string());
    })
    .await;
    let mut health = HealthClient::new(app.channel.clone());
    let status = |health: &mut HealthClient<tonic::transport::Channel>| {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest::default())
                .await
                .unwrap()
                .into_inner()
                .status
        }
    };
    assert_eq!(status(&mut health).await, ServingStatus::Serving as i32);
    proxy.freeze(true);
    let frozen_at = Instant::now();
    while status(&mut health).await != ServingStatus::NotServing as i32 {
        assert!(
            frozen_at.elapsed() < Duration::from_secs(6),
            "health still SERVING {:?} after the database stopped answering",
            frozen_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The process itself is fine: its liveness entry says so, so no probe restarts it.
    let liveness = health
        .check(HealthCheckRequest {
            service: closeloop_kit::server::LIVENESS.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(liveness, ServingStatus::Serving as i32);
    proxy.freeze(false);
    let thawed_at = Instant::now();
    while status(&mut health).await != ServingStatus::Serving as i32 {
        assert!(
            thawed_at.elapsed() < Duration::from_secs(15),
            "health did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}
