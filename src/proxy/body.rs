//! The response body type: either the backend's body streamed through untouched, or a small
//! body the balancer writes itself (errors, `/metrics`, `/lb/backends`).
//!
//! An enum rather than a boxed trait object saves an allocation per proxied response.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;

use super::upstream::ResponseBody;

use super::exchange::Metered;

pub enum ProxyBody {
    /// The backend's body, frame by frame as it arrives (SSE chunks are never buffered).
    Upstream(ResponseBody),
    /// A body the balancer produced.
    Local(Full<Bytes>),
    /// A committed backend body, observed as it passes (usage, size, end): see `exchange`.
    Metered(Box<Metered>),
}

impl ProxyBody {
    pub fn local(bytes: impl Into<Bytes>) -> Self {
        ProxyBody::Local(Full::new(bytes.into()))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Upstream(body) => Pin::new(body).poll_frame(cx),
            ProxyBody::Local(body) => Pin::new(body).poll_frame(cx).map_err(|never| match never {}),
            ProxyBody::Metered(body) => Pin::new(&mut **body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Upstream(body) => body.is_end_stream(),
            ProxyBody::Local(body) => body.is_end_stream(),
            ProxyBody::Metered(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream(body) => body.size_hint(),
            ProxyBody::Local(body) => body.size_hint(),
            ProxyBody::Metered(body) => body.size_hint(),
        }
    }
}
