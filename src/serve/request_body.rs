//! Request bodies: a deadline for the whole body (a client that announces 100 bytes and sends
//! two is answered 408 instead of holding a connection and a task forever), and the mapping of
//! body errors to JSON ones.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::{ApiError, ErrorCode};
use super::AppState;

/// The body did not arrive within the request-body timeout.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within {} ms", .0.as_millis())]
pub struct BodyTimedOut(pub Duration);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body that fails with [`BodyTimedOut`] once `deadline` passes before its end.
struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    timeout: Duration,
    // Made on the first poll that has to wait: most bodies are in the first read.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(BoxError::from)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let error: BoxError = Box::new(BodyTimedOut(this.timeout));
                Poll::Ready(Some(Err(error)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: every request body must be complete within `request_body_timeout` of the
/// request's headers.
pub async fn deadline(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let timeout = state.config.request_body_timeout;
    let request = if request.body().is_end_stream() {
        request
    } else {
        request.map(|inner| {
            Body::new(DeadlineBody {
                inner,
                deadline: Instant::now() + timeout,
                timeout,
                sleep: None,
            })
        })
    };
    next.run(request).await
}

fn timed_out(rejection: &BytesRejection) -> Option<&BodyTimedOut> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if let Some(timed_out) = error.downcast_ref::<BodyTimedOut>() {
            return Some(timed_out);
        }
        source = error.source();
    }
    None
}

/// A request body within the size limit and the deadline, or a JSON 413 / 408 / 400.
pub(crate) fn body(bytes: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    bytes.map_err(|rejection| {
        if let Some(timed_out) = timed_out(&rejection) {
            ApiError::new(ErrorCode::RequestTimeout, timed_out.to_string())
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::BodyTooLarge, "request body is too large")
        } else {
            ApiError::new(
                ErrorCode::BadBody,
                format!("request body could not be read: {}", rejection.body_text()),
            )
        }
    })
}
