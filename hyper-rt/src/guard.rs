//! A service whose panics become `500 Internal Server Error` responses,
//! reported once, instead of a connection cut with nothing said.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use http_body::Body;
use http_body_util::{Either, Empty};
use hyper::{Request, Response, StatusCode};
use pin_project_lite::pin_project;

/// Where failed connections and panicking services are reported.
pub(crate) type Report = Rc<dyn Fn(SocketAddr, &(dyn StdError + Send + Sync + 'static))>;

/// What [`Serve::on_connection_error`](crate::Serve::on_connection_error)
/// is given when the service panicked while serving a request: the
/// request got a `500 Internal Server Error` with an empty body, and the
/// connection goes on serving (a clone of the service serves the next
/// request; the panicked call's state is dropped).
///
/// Downcast the reported error to tell it from I/O and protocol errors:
///
/// ```
/// # let report = |e: &(dyn std::error::Error + Send + Sync + 'static)| {
/// if let Some(panic) = e.downcast_ref::<kasync_hyper::ServicePanic>() {
///     eprintln!("a handler panicked: {}", panic.message());
/// }
/// # };
/// ```
#[derive(Debug, Clone)]
pub struct ServicePanic {
    message: String,
}

impl ServicePanic {
    fn new(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            String::from("(a panic payload that is not a string)")
        };
        Self { message }
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ServicePanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the service panicked ({}); the request was answered with \
             500 Internal Server Error",
            self.message
        )
    }
}

impl StdError for ServicePanic {}

/// The body of a guarded service's responses: the service's own, or the
/// empty body of a `500` that replaced a panic.
pub(crate) type GuardedBody<B> = Either<B, Empty<<B as Body>::Data>>;

/// A hyper service `S` whose panics — in `call` or while its future is
/// polled — become `500` responses, reported once through `report`.
pub(crate) struct Guarded<S> {
    inner: S,
    peer: SocketAddr,
    report: Report,
}

impl<S> Guarded<S> {
    pub(crate) fn new(inner: S, peer: SocketAddr, report: Report) -> Self {
        Self {
            inner,
            peer,
            report,
        }
    }
}

impl<S, B> hyper::service::Service<Request<hyper::body::Incoming>> for Guarded<S>
where
    S: hyper::service::Service<Request<hyper::body::Incoming>, Response = Response<B>>,
    B: Body,
{
    type Response = Response<GuardedBody<B>>;
    type Error = S::Error;
    type Future = GuardedFuture<S::Future>;

    fn call(&self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let state = match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => State::Running { future },
            Err(payload) => State::Panicked {
                panic: Some(ServicePanic::new(&*payload)),
            },
        };
        GuardedFuture {
            state,
            peer: self.peer,
            report: self.report.clone(),
        }
    }
}

pin_project! {
    /// The future of [`Guarded::call`].
    pub(crate) struct GuardedFuture<F> {
        #[pin]
        state: State<F>,
        peer: SocketAddr,
        report: Report,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F },
        // The call panicked; reported at the first poll.
        Panicked { panic: Option<ServicePanic> },
    }
}

/// The response that replaces a panic.
fn internal_error<B: Body>() -> Response<GuardedBody<B>> {
    let mut response = Response::new(Either::Right(Empty::new()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl<F, B, E> Future for GuardedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<GuardedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let panic = match this.state.as_mut().project() {
            StateProj::Running { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(poll) => return poll.map_ok(|r| r.map(Either::Left)),
                    Err(payload) => ServicePanic::new(&*payload),
                }
            }
            StateProj::Panicked { panic } => panic.take().unwrap_or_else(|| ServicePanic {
                message: String::from("(polled again after its 500)"),
            }),
        };
        // A future that panicked is never polled again.
        this.state.set(State::Panicked { panic: None });
        (this.report)(*this.peer, &panic);
        Poll::Ready(Ok(internal_error()))
    }
}
