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

use http_body::{Body, Frame, SizeHint};
use hyper::{Request, Response, StatusCode};
use pin_project_lite::pin_project;

/// Where failed connections and panicking services are reported.
pub(crate) type Report = Rc<dyn Fn(SocketAddr, &(dyn StdError + Send + Sync + 'static))>;

/// An error of a service or a body, as hyper takes it.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Reports `error` through `report`, which is user code: a panic in it is
/// said on stderr and goes no further (the connection goes on).
pub(crate) fn report_safely(
    report: &Report,
    peer: SocketAddr,
    error: &(dyn StdError + Send + Sync + 'static),
) {
    if catch_unwind(AssertUnwindSafe(|| report(peer, error))).is_err() {
        eprintln!(
            "kasync-hyper: on_connection_error panicked while reporting \"{error}\" \
             (connection from {peer})"
        );
    }
}

/// `true` if `error` or one of its sources is a [`ServicePanic`] (which
/// was reported when it was caught).
pub(crate) fn is_service_panic(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<ServicePanic>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// What [`Serve::on_connection_error`](crate::Serve::on_connection_error)
/// is given when the service panicked while serving a request: the
/// request got a `500 Internal Server Error` with an empty body, and the
/// connection goes on serving (a clone of the service serves the next
/// request; the panicked call's state is dropped). A response body that
/// panics while it is sent ends that response with an error (the
/// connection closes over HTTP/1, the stream is reset over HTTP/2); a
/// service whose `Clone` panics loses the one connection it was cloned
/// for.
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
    pub(crate) fn new(payload: &(dyn Any + Send)) -> Self {
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

pin_project! {
    /// The body of a guarded service's responses: the service's own —
    /// whose panics end it with a [`ServicePanic`] error, reported — or
    /// the empty body of a `500` that replaced a panic.
    #[project = BodyProj]
    pub(crate) enum GuardedBody<B> {
        Service { #[pin] body: B, peer: SocketAddr, report: Report },
        Empty,
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let panic = match self.as_mut().project() {
            BodyProj::Service { body, peer, report } => {
                match catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx))) {
                    Ok(poll) => return poll.map(|frame| frame.map(|r| r.map_err(Into::into))),
                    Err(payload) => {
                        let panic = ServicePanic::new(&*payload);
                        report_safely(report, *peer, &panic);
                        panic
                    }
                }
            }
            BodyProj::Empty => return Poll::Ready(None),
        };
        // A body that panicked is never polled again.
        self.set(GuardedBody::Empty);
        Poll::Ready(Some(Err(Box::new(panic))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GuardedBody::Service { body, .. } => body.is_end_stream(),
            GuardedBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GuardedBody::Service { body, .. } => body.size_hint(),
            GuardedBody::Empty => SizeHint::with_exact(0),
        }
    }
}

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
fn internal_error<B>() -> Response<GuardedBody<B>> {
    let mut response = Response::new(GuardedBody::Empty);
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
                    Ok(poll) => {
                        return poll.map_ok(|r| {
                            r.map(|body| GuardedBody::Service {
                                body,
                                peer: *this.peer,
                                report: this.report.clone(),
                            })
                        });
                    }
                    Err(payload) => ServicePanic::new(&*payload),
                }
            }
            StateProj::Panicked { panic } => panic.take().unwrap_or_else(|| ServicePanic {
                message: String::from("(polled again after its 500)"),
            }),
        };
        // A future that panicked is never polled again.
        this.state.set(State::Panicked { panic: None });
        report_safely(this.report, *this.peer, &panic);
        Poll::Ready(Ok(internal_error()))
    }
}
