//! The accept loop of the gRPC server: caps open connections, backs off
//! instead of spinning when the process runs out of file descriptors, does
//! TLS handshakes off the loop (bounded in time), and marks each connection
//! with the activity record the idle timeout reads.

use super::tls::TlsAcceptor;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most connections open at once; further clients wait in the backlog.
    pub(crate) max_connections: usize,
    /// A connection with no call in flight for this long is closed.
    pub(crate) idle_timeout: Option<Duration>,
}

/// What a connection's calls tell its idle timer: how many are in flight,
/// and when the last one started or ended.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds since `origin` of the last start or end of a call.
    last: AtomicU64,
    origin: Instant,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self { in_flight: AtomicUsize::new(0), last: AtomicU64::new(0), origin: Instant::now() })
    }

    fn touch(&self) {
        self.last.store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Marks a call started; the guard marks it ended when dropped.
    pub fn call_started(self: &Arc<Self>) -> CallGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        CallGuard(self.clone())
    }

    /// Returns when the connection has been idle long enough to close, or
    /// `None` while a call is in flight.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        Some(self.origin + Duration::from_millis(self.last.load(Ordering::Relaxed)) + idle)
    }
}

/// Marks a call ended when dropped (with the response body).
#[derive(Debug)]
pub struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a request learns about its connection (a request extension).
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// True when the connection is TLS.
    pub tls: bool,
    /// The connection's activity, for the idle timeout.
    pub activity: Arc<Activity>,
}

/// One accepted connection, plain or TLS, holding its slot of the cap.
pub(crate) struct Connection {
    stream: Stream,
    info: ConnectionInfo,
    idle_timeout: Option<Duration>,
    idle_timer: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl Connection {
    /// Returns true once the connection has been idle for its timeout
    /// (then reads end, and the server closes it). The timer is only polled
    /// here; it is moved (a timer-wheel operation) only when it fires early,
    /// at most once an idle period, not at every read of a busy connection.
    fn idle_expired(&mut self, context: &mut Context<'_>) -> bool {
        let Some(idle) = self.idle_timeout else { return false };
        while self.idle_timer.as_mut().poll(context).is_ready() {
            let now = Instant::now();
            match self.info.activity.idle_deadline(idle) {
                Some(deadline) if deadline <= now => return true,
                Some(deadline) => self.idle_timer.as_mut().reset(deadline),
                // A call in flight: look again an idle period from now.
                None => self.idle_timer.as_mut().reset(now + idle),
            }
        }
        false
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = match &mut this.stream {
            Stream::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
        };
        match polled {
            Poll::Pending if this.idle_expired(context) => {
                tracing::debug!(peer = ?this.info.remote_addr, "closing an idle connection");
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle connection closed")))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(stream) => Pin::new(stream).poll_write(context, data),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(stream) => Pin::new(stream).poll_write_vectored(context, buffers),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(context, buffers),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(stream) => stream.is_write_vectored(),
            Stream::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(context),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(context),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
        }
    }
}

/// Accepts connections on `listener` until the returned receiver is
/// dropped, handing each ready one (TLS done) to the receiver.
pub(crate) fn accept(
    listener: TcpListener,
    limits: Limits,
    tls: Option<TlsAcceptor>,
) -> mpsc::Receiver<io::Result<Connection>> {
    let (sender, receiver) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::spawn(async move {
        let mut pause = Duration::ZERO;
        loop {
            let slot = tokio::select! {
                _ = sender.closed() => return,
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            let accepted = tokio::select! {
                _ = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => {
                    pause = Duration::ZERO;
                    accepted
                }
                Err(error) if is_per_connection(&error) => continue,
                Err(error) => {
                    // Out of file descriptors (or memory): wait for some to
                    // be freed instead of failing the same accept in a loop.
                    pause = (pause * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tracing::warn!(error = %error, pause_ms = pause.as_millis() as u64, "accept failed; backing off");
                    metrics::counter!("grpc_server_accept_errors_total").increment(1);
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let info = ConnectionInfo { remote_addr: Some(peer), tls: tls.is_some(), activity: Activity::new() };
            // Fires first an idle period after the connection opened.
            let idle_timer = Box::pin(tokio::time::sleep(limits.idle_timeout.unwrap_or(Duration::from_secs(3600))));
            let idle_timeout = limits.idle_timeout;
            let connection = move |stream| Connection { stream, info, idle_timeout, idle_timer, _slot: slot };
            match &tls {
                None => {
                    if sender.send(Ok(connection(Stream::Plain(stream)))).await.is_err() {
                        return;
                    }
                }
                Some(acceptor) => {
                    let (acceptor, sender) = (acceptor.clone(), sender.clone());
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                let _ = sender.send(Ok(connection(Stream::Tls(Box::new(stream))))).await;
                            }
                            Ok(Err(error)) => tracing::debug!(%peer, error = %error, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    receiver
}

/// Errors that concern one connection only (the peer gave up before we
/// accepted it): accept the next one at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
    )
}
