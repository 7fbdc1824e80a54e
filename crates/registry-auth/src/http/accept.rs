//! The connection limit and the connection clock: a permit per open
//! connection, an answer for the connection one over, and an end for
//! connections that hold a permit without a request running.
//!
//! The TLS handshake and the first request are bounded where they happen
//! (the TLS acceptor's handshake timeout, the server's first-request
//! timeout, both `header_read_timeout`). After that a connection is idle
//! whenever no request of its own is running, whatever the protocol
//! (HTTP/1 keep-alive, HTTP/2 between streams, a client that sent only
//! the HTTP/2 preface); idle for `idle_timeout`, its reads end as if the
//! client had closed, and the connection and its permit go.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use axum_server::accept::Accept;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::bounded::lock;
use crate::protocol::error::{Dialect, Error};

/// What a connection over the limit is told before it is closed: the
/// wire mapping of [`Error::TooManyConnections`], written by hand because
/// no HTTP server runs for this connection.
fn busy_answer() -> Vec<u8> {
    let error = Error::TooManyConnections;
    let dialect = Dialect::Registry;
    // A final newline, as the connection closes right after.
    let body = format!("{}\n", error.body(dialect));
    let status = error.status(dialect);
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or_default();
    let retry_after = error.retry_after().map_or(1, |d| d.as_secs());
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         cache-control: no-store\r\nretry-after: {retry_after}\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An acceptor that holds a permit per open connection and closes
/// connections that stay idle.
#[derive(Clone, Debug)]
pub(crate) struct LimitAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    busy: Arc<[u8]>,
    idle_timeout: Duration,
}

impl<A> LimitAcceptor<A> {
    pub(crate) fn new(inner: A, max_connections: usize, idle_timeout: Duration) -> Self {
        LimitAcceptor {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            busy: busy_answer().into(),
            idle_timeout,
        }
    }
}

/// What one connection is doing: how many of its requests are running,
/// and since when none has been.
#[derive(Debug)]
struct Activity {
    running: AtomicUsize,
    idle_since: Mutex<Instant>,
    /// The connection's reader, woken when its last request ends so that
    /// the idle deadline is set even if nothing else polls it.
    reader: AtomicWaker,
}

impl Activity {
    /// When the connection ends if nothing starts before: `None` while a
    /// request runs.
    fn deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        (self.running.load(Ordering::Acquire) == 0).then(|| *lock(&self.idle_since) + idle_timeout)
    }
}

/// A request running on a connection; when the last one ends, the
/// connection's idle clock starts again.
struct Running(Arc<Activity>);

impl Running {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.running.fetch_add(1, Ordering::AcqRel);
        Running(Arc::clone(activity))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut idle_since = lock(&self.0.idle_since);
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            *idle_since = Instant::now();
            drop(idle_since);
            self.0.reader.wake();
        }
    }
}

/// A connection's service that marks its requests as running.
#[derive(Clone, Debug)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> tower_service::Service<R> for Tracked<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let running = Running::start(&self.activity);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(running);
            response
        })
    }
}

impl<A, I, S> Accept<I, S> for LimitAcceptor<A>
where
    A: Accept<I, S> + Clone + Send + 'static,
    A::Stream: AsyncWrite + Unpin + Send,
    A::Service: Send,
    A::Future: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Limited<A::Stream>;
    type Service = Tracked<A::Service>;
    type Future = Pin<
        Box<dyn std::future::Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>,
    >;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned().ok();
        let inner = self.inner.clone();
        let busy = self.busy.clone();
        let idle_timeout = self.idle_timeout;
        Box::pin(async move {
            let (mut stream, service) = inner.accept(stream, service).await?;
            match permit {
                Some(permit) => {
                    let activity = Arc::new(Activity {
                        running: AtomicUsize::new(0),
                        idle_since: Mutex::new(Instant::now()),
                        reader: AtomicWaker::new(),
                    });
                    Ok((
                        Limited {
                            inner: stream,
                            _permit: permit,
                            activity: Arc::clone(&activity),
                            idle_timeout,
                            timer: Box::pin(tokio::time::sleep(idle_timeout)),
                        },
                        Tracked {
                            inner: service,
                            activity,
                        },
                    ))
                }
                None => {
                    metrics::counter!("registry_auth_rejected_connections_total").increment(1);
                    let _ = stream.write_all(&busy).await;
                    let _ = stream.shutdown().await;
                    Err(io::Error::other("connection limit reached"))
                }
            }
        })
    }
}

/// A stream that gives its connection permit back when dropped, and ends
/// its reads once the connection has been idle for `idle_timeout`.
#[derive(Debug)]
pub(crate) struct Limited<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Poll::Ready(read) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            return Poll::Ready(read);
        }
        // Nothing to read: with no request running, wait no longer than
        // the idle deadline (the timer wakes this task then); with one
        // running, be woken when the last one ends.
        this.activity.reader.register(cx.waker());
        let Some(deadline) = this.activity.deadline(this.idle_timeout) else {
            return Poll::Pending;
        };
        if deadline <= Instant::now() {
            metrics::counter!("registry_auth_idle_connections_closed_total").increment(1);
            // End of stream: the server closes the connection.
            return Poll::Ready(Ok(()));
        }
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_busy_answer_is_the_wire_mapping_of_too_many_connections() {
        let answer = super::busy_answer();
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert_eq!(
            body,
            "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections; retry\"}]}\n"
        );
    }
}
