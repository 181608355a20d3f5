//! Connections as the server accepts them, each bounded: at most `server.max_connections` open
//! at once, the HTTP/2 preface within `server.handshake_timeout_ms`, and an authenticated call at
//! least every `server.idle_timeout_ms` (keep-alive PINGs, health checks and refused calls do
//! not count). At the cap, a new connection takes the place of the oldest one that never made an
//! authenticated call; only when every connection has made one is the newcomer refused. A
//! connection can be closed from outside ([`ConnInfo::close`], e.g. when it leaves an answer
//! unread past its deadline). Accept errors (out of file descriptors, the peer gone before the
//! accept) back off instead of spinning the accept loop.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Sleep;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The bounds every connection lives within.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// Time without a request before the connection is closed.
    pub idle_timeout: Duration,
}

/// The 24 bytes every HTTP/2 connection starts with.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Longest pause of the accept loop after an error.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts connections from `listener` until the returned stream is dropped. Once `closing`
/// turns true (the server stops taking calls), connections that have not sent their preface
/// are closed at once rather than holding the shutdown until their handshake timeout.
pub fn accept(
    listener: TcpListener,
    limits: Limits,
    closing: watch::Receiver<bool>,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(5);
        let refused = Counter::default();
        let evicted = Counter::default();
        let mut open: Vec<std::sync::Weak<ConnState>> = Vec::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            match accepted {
                Ok((stream, _)) => {
                    backoff = Duration::from_millis(5);
                    let slot = match slots.clone().try_acquire_owned() {
                        Ok(slot) => slot,
                        Err(_) => {
                            open.retain(|c| c.strong_count() > 0);
                            let Some(victim) = oldest_unproven(&open) else {
                                // Every open connection has made an authenticated call: closed
                                // at once; the client sees a reset and retries with backoff.
                                refused
                                    .count("connection refused: server.max_connections are open");
                                continue;
                            };
                            victim.close("replaced: at server.max_connections and it made no authenticated call");
                            evicted.count("a connection without an authenticated call made room for a new one");
                            match tokio::time::timeout(
                                Duration::from_millis(200),
                                slots.clone().acquire_owned(),
                            )
                            .await
                            {
                                Ok(Ok(slot)) => slot,
                                _ => continue,
                            }
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let conn = Conn::new(stream, slot, limits, closing.clone());
                    open.push(Arc::downgrade(&conn.state));
                    if tx.send(Ok(conn)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    refused.count_error(&e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// The open connection accepted longest ago that never made an authenticated call.
fn oldest_unproven(open: &[std::sync::Weak<ConnState>]) -> Option<Arc<ConnState>> {
    open.iter()
        .filter_map(std::sync::Weak::upgrade)
        .filter(|c| !c.proven() && !c.is_closed())
        .min_by_key(|c| c.accepted)
}

/// What is known of a connection beside its bytes, shared with its requests.
#[derive(Debug)]
pub struct ConnState {
    accepted: Instant,
    /// Microseconds after `accepted` of the last authenticated call; 0 before the first.
    last_call: AtomicU64,
    close: watch::Sender<Option<&'static str>>,
}

impl ConnState {
    fn proven(&self) -> bool {
        self.last_call.load(Ordering::Relaxed) > 0
    }

    fn is_closed(&self) -> bool {
        self.close.borrow().is_some()
    }

    fn close(&self, why: &'static str) {
        self.close.send_replace(Some(why));
    }

    /// When the connection last made an authenticated call, if ever.
    fn last_call(&self) -> Option<Instant> {
        match self.last_call.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(self.accepted + Duration::from_micros(micros)),
        }
    }
}

/// A connection's handle, found in each of its requests' extensions.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    tcp: TcpConnectInfo,
    state: Arc<ConnState>,
}

impl ConnInfo {
    /// The connection's TCP addresses.
    pub fn tcp(&self) -> &TcpConnectInfo {
        &self.tcp
    }

    /// Records an authenticated call: the connection is in use (not idle) and proven (not the
    /// first to make room at the connection cap).
    pub fn touch(&self) {
        let micros = (self.state.accepted.elapsed().as_micros() as u64).max(1);
        self.state.last_call.store(micros, Ordering::Relaxed);
    }

    /// Closes the connection: every call on it ends, and its slots come back.
    pub fn close(&self, why: &'static str) {
        self.state.close(why);
    }
}

/// Counts events and logs them at most every ten seconds, with how many there were.
#[derive(Default)]
pub(crate) struct Counter {
    count: AtomicU64,
    last: std::sync::Mutex<Option<Instant>>,
}

impl Counter {
    pub(crate) fn count(&self, what: &str) {
        if let Some(n) = self.tick() {
            tracing::warn!(count = n, "{what}");
        }
    }

    fn count_error(&self, e: &io::Error) {
        if let Some(n) = self.tick() {
            tracing::warn!(count = n, error = %e, "accepting connections failed; backing off");
        }
    }

    fn tick(&self) -> Option<u64> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return None;
        }
        *last = Some(Instant::now());
        self.count.store(0, Ordering::Relaxed);
        Some(n)
    }
}

/// Where a connection is in its HTTP/2 byte stream, as far as the limits need to know: the
/// preface, then frames (9-byte header, payload) of which only HEADERS count as requests.
#[derive(Debug)]
enum Scan {
    Preface(usize),
    /// The client sent something else than the preface: the deadline is never moved.
    NotHttp2,
    Header {
        have: usize,
        bytes: [u8; 9],
    },
    Payload(usize),
}

/// What a run of bytes from the client held.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    /// The preface ended in it.
    preface_ended: bool,
    /// HEADERS frames that began in it.
    requests: usize,
}

impl Scan {
    const FRAME: Scan = Scan::Header {
        have: 0,
        bytes: [0; 9],
    };

    fn feed(&mut self, mut data: &[u8]) -> Seen {
        let mut seen = Seen::default();
        while !data.is_empty() {
            match self {
                Scan::NotHttp2 => return seen,
                Scan::Preface(got) => {
                    let n = (PREFACE.len() - *got).min(data.len());
                    if data[..n] != PREFACE[*got..*got + n] {
                        *self = Scan::NotHttp2;
                        return seen;
                    }
                    *got += n;
                    data = &data[n..];
                    if *got == PREFACE.len() {
                        *self = Scan::FRAME;
                        seen.preface_ended = true;
                    }
                }
                Scan::Header { have, bytes } => {
                    let n = (9 - *have).min(data.len());
                    bytes[*have..*have + n].copy_from_slice(&data[..n]);
                    *have += n;
                    data = &data[n..];
                    if *have == 9 {
                        let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
                        // HEADERS (0x1) opens a request; PING, SETTINGS, WINDOW_UPDATE … do not.
                        if bytes[3] == 0x1 {
                            seen.requests += 1;
                        }
                        *self = if length == 0 {
                            Scan::FRAME
                        } else {
                            Scan::Payload(length)
                        };
                    }
                }
                Scan::Payload(left) => {
                    let n = (*left).min(data.len());
                    *left -= n;
                    data = &data[n..];
                    if *left == 0 {
                        *self = Scan::FRAME;
                    }
                }
            }
        }
        seen
    }
}

/// An accepted connection within its [`Limits`].
pub struct Conn {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
    limits: Limits,
    scan: Scan,
    state: Arc<ConnState>,
    /// When the connection is closed unless the preface, or a call, comes first.
    deadline: Pin<Box<Sleep>>,
    /// Resolves when the server stops taking calls; `None` once it has.
    closing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Resolves when someone closes the connection ([`ConnInfo::close`]).
    closed: Pin<Box<dyn Future<Output = &'static str> + Send>>,
}

impl Conn {
    fn new(
        io: TcpStream,
        slot: OwnedSemaphorePermit,
        limits: Limits,
        mut closing: watch::Receiver<bool>,
    ) -> Conn {
        let (close, mut closed) = watch::channel(None);
        Conn {
            io,
            _slot: slot,
            limits,
            scan: Scan::Preface(0),
            state: Arc::new(ConnState {
                accepted: Instant::now(),
                last_call: AtomicU64::new(0),
                close,
            }),
            deadline: Box::pin(tokio::time::sleep(limits.handshake_timeout)),
            closing: Some(Box::pin(async move {
                let _ = closing.wait_for(|closing| *closing).await;
            })),
            closed: Box::pin(async move {
                let why = closed
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|why| *why);
                match why {
                    Some(why) => why,
                    None => std::future::pending().await,
                }
            }),
        }
    }

    /// Whether the server stopped taking calls before this connection sent its preface.
    fn closed_before_preface(&mut self, cx: &mut Context<'_>) -> bool {
        if !matches!(self.scan, Scan::Preface(_) | Scan::NotHttp2) {
            // Past the preface the server's graceful shutdown handles the connection.
            self.closing = None;
            return false;
        }
        match self.closing.as_mut().map(|c| c.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => {
                self.closing = None;
                true
            }
            _ => false,
        }
    }

    /// Follows the bytes the client sent: the end of the preface starts the idle clock.
    fn observe(&mut self, data: &[u8]) {
        if self.scan.feed(data).preface_ended {
            self.deadline
                .as_mut()
                .reset(tokio::time::Instant::now() + self.limits.idle_timeout);
        }
    }

    /// The deadline passed: closes the connection, unless a call since moved it on.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if matches!(self.scan, Scan::Preface(_) | Scan::NotHttp2) {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface within server.handshake_timeout_ms",
                ));
            }
            let idle_until = self.state.last_call().map(|t| t + self.limits.idle_timeout);
            match idle_until {
                Some(until) if until > Instant::now() => {
                    self.deadline.as_mut().reset(until.into());
                }
                _ => {
                    return Poll::Ready(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no authenticated call within server.idle_timeout_ms",
                    ));
                }
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let data = buf.filled()[before..].to_vec();
                this.observe(&data);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Poll::Ready(why) = this.closed.as_mut().poll(cx) {
                    tracing::debug!(reason = why, "closing a connection");
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, why)));
                }
                if this.closed_before_preface(cx) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the server is stopping and the connection sent no preface",
                    )));
                }
                match this.check_deadline(cx) {
                    Poll::Ready(e) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            tcp: self.io.connect_info(),
            state: self.state.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_events_is_logged_once_per_ten_seconds_with_its_count() {
        let counter = Counter::default();
        assert_eq!(counter.tick(), Some(1), "the first is logged at once");
        for _ in 0..59_999 {
            assert_eq!(
                counter.tick(),
                None,
                "the rest of the window is only counted"
            );
        }
        *counter.last.lock().unwrap() = Some(Instant::now() - Duration::from_secs(11));
        assert_eq!(
            counter.tick(),
            Some(60_000),
            "the next line says how many there were"
        );
    }

    #[test]
    fn only_headers_frames_count_as_requests_however_the_bytes_arrive() {
        let mut stream = PREFACE.to_vec();
        // SETTINGS (4), empty; PING (6) with 8 bytes; HEADERS (1) with 3 bytes; DATA (0).
        stream.extend([0, 0, 0, 4, 0, 0, 0, 0, 0]);
        stream.extend([0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        stream.extend([0, 0, 3, 1, 4, 0, 0, 0, 1, 9, 9, 9]);
        stream.extend([0, 0, 2, 0, 1, 0, 0, 0, 1, 7, 7]);
        let mut whole = Scan::Preface(0);
        assert_eq!(
            whole.feed(&stream),
            Seen {
                preface_ended: true,
                requests: 1
            }
        );
        // Byte by byte, as a slow client would send it.
        let mut slow = Scan::Preface(0);
        let mut requests = 0;
        let mut ended = 0;
        for b in &stream {
            let seen = slow.feed(std::slice::from_ref(b));
            requests += seen.requests;
            ended += usize::from(seen.preface_ended);
        }
        assert_eq!((ended, requests), (1, 1));
        // A client that sends anything but the preface never ends it.
        let mut wrong = Scan::Preface(0);
        let http1 = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert_eq!(wrong.feed(http1), Seen::default());
        assert_eq!(wrong.feed(&stream), Seen::default());
    }
}
