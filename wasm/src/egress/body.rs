//! The bodies of an outbound exchange, as the egress policy bounds them: a request body
//! counted against its limit, and a response body cut at its limit and timed between
//! chunks, both counted in the tenant's metrics.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use wasmtime_wasi_http::{Error, WasiBody};

use warren_core::runtime::Runtime;
use warren_core::runtime::egress::EgressPermit;
use warren_core::runtime::metrics::RefusalReason;

/// Who a body's bytes are counted for.
#[derive(Clone)]
pub struct Counting {
    pub runtime: Runtime,
    pub tenant: std::sync::Arc<str>,
}

/// A request body that fails once it is past `max` bytes.
pub struct RequestBody {
    inner: WasiBody,
    max: u64,
    sent: u64,
    counting: Counting,
}

impl RequestBody {
    /// `inner`, allowed `max` bytes.
    pub fn new(inner: WasiBody, max: u64, counting: Counting) -> Self {
        RequestBody {
            inner,
            max,
            sent: 0,
            counting,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
            let n = data.map_or(0, |d| d.len() as u64);
            this.sent += n;
            if this.sent > this.max {
                let egress = this.counting.runtime.metrics().egress();
                egress.refused(&this.counting.tenant, RefusalReason::request_size);
                return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(this.max)))));
            }
            let egress = this.counting.runtime.metrics().egress();
            egress.sent(&this.counting.tenant, n);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body cut after `max` bytes (the guest gets those, then an error), failing
/// when the server is silent for longer than `between` or past the turn's `deadline`.
/// It holds the tenant's in-flight permit until it is done with.
pub struct ResponseBody {
    inner: hyper::body::Incoming,
    max: u64,
    received: u64,
    /// Past the limit: the next poll fails.
    cut: bool,
    between: Duration,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
    counting: Counting,
    _permit: EgressPermit,
}

impl ResponseBody {
    /// `inner` under the limits, holding `permit`.
    pub fn new(
        inner: hyper::body::Incoming,
        max: u64,
        between: Duration,
        deadline: Instant,
        counting: Counting,
        permit: EgressPermit,
    ) -> Self {
        ResponseBody {
            inner,
            max,
            received: 0,
            cut: false,
            between,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(
                next_wait(between, deadline).into(),
            )),
            counting,
            _permit: permit,
        }
    }
}

/// The body's bytes are counted once, as it is dropped (not a labelled metric lookup per
/// chunk).
impl Drop for ResponseBody {
    fn drop(&mut self) {
        let egress = self.counting.runtime.metrics().egress();
        egress.received(&self.counting.tenant, self.received);
    }
}

/// When the next chunk must have arrived.
fn next_wait(between: Duration, deadline: Instant) -> Instant {
    (Instant::now() + between).min(deadline)
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.cut {
            return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(this.max)))));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                return Poll::Ready(Some(Err(Error::ConnectionReadTimeout)));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let wait = next_wait(this.between, this.deadline);
        this.timer.as_mut().reset(wait.into());
        let frame = match frame.into_data() {
            Ok(mut data) => {
                let room = this.max - this.received;
                if data.len() as u64 > room {
                    data.truncate(room as usize);
                    this.cut = true;
                    let egress = this.counting.runtime.metrics().egress();
                    egress.refused(&this.counting.tenant, RefusalReason::response_size);
                }
                this.received += data.len() as u64;
                Frame::data(data)
            }
            Err(trailers) => trailers,
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        !self.cut && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let room = self.max - self.received;
        if hint.lower() > room {
            hint = SizeHint::new();
        }
        hint
    }
}
