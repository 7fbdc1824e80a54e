//! The connection limit: a permit per open connection, and an answer
//! for the connection one over.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::StatusCode;
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// An acceptor that holds a permit per open connection.
#[derive(Clone, Debug)]
pub(crate) struct LimitAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    busy: Arc<[u8]>,
}

impl<A> LimitAcceptor<A> {
    pub(crate) fn new(inner: A, max_connections: usize) -> Self {
        LimitAcceptor {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            busy: busy_answer().into(),
        }
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
    type Service = A::Service;
    type Future = Pin<
        Box<dyn std::future::Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>,
    >;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned().ok();
        let inner = self.inner.clone();
        let busy = self.busy.clone();
        Box::pin(async move {
            let (mut stream, service) = inner.accept(stream, service).await?;
            match permit {
                Some(permit) => Ok((
                    Limited {
                        inner: stream,
                        _permit: permit,
                    },
                    service,
                )),
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

/// A stream that gives its connection permit back when dropped.
#[derive(Debug)]
pub(crate) struct Limited<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
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
