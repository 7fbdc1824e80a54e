//! Limits on what one client may send or hold, and the connection limit.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Request and connection limits. Every default is well above what real
/// clients send (a `docker push` token request is under 1 KiB) and well
/// below what would hurt the server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest query string; longer gets 414. Defaults to 8 KiB.
    pub max_query_bytes: usize,
    /// Most bytes of request headers (names and values); more gets 431.
    /// Defaults to 16 KiB.
    pub max_header_bytes: usize,
    /// Most scopes in one request, after merging; more gets 400. Defaults
    /// to 100.
    pub max_scopes: usize,
    /// Largest POST body; larger gets 413. Defaults to 64 KiB.
    pub max_body_bytes: usize,
    /// Longest time to answer one request; longer gets 408 (a slow client
    /// body, say). Defaults to 30 s.
    pub request_timeout: Duration,
    /// Longest time for a client to send its request headers; a slower
    /// connection is closed. Defaults to 10 s.
    pub header_read_timeout: Duration,
    /// Longest an authenticator, authorizer or refresh-token store may
    /// take; longer gets 503. Defaults to 10 s.
    pub backend_timeout: Duration,
    /// Most open connections; one more is answered 503 and closed.
    /// Defaults to 1024.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_scopes: 100,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            backend_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// What a connection over the limit is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 76\r\n\r\n\
{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections; retry\"}]}\n";

/// An acceptor that holds a permit per open connection.
#[derive(Clone, Debug)]
pub(crate) struct LimitAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> LimitAcceptor<A> {
    pub(crate) fn new(inner: A, max_connections: usize) -> Self {
        LimitAcceptor {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
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
                    let _ = stream.write_all(BUSY).await;
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
    fn the_busy_answer_has_the_right_length() {
        let text = std::str::from_utf8(super::BUSY).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{}",
            body.len()
        );
    }
}
