//! A service whose panics become `500 Internal Server Error` responses,
//! reported once, instead of a connection cut with nothing said.

use std::any::Any;
use std::cell::Cell;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
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

/// Runs `f`, user code: its panic comes back as a [`ServicePanic`], and
/// the panic's payload is dropped here — a payload whose own `Drop`
/// panics too is forgotten — so no panic gets further.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, ServicePanic> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let panic = ServicePanic::new(&*payload);
        drop_payload(payload);
        panic
    })
}

/// Drops a panic's payload, whose `Drop` is user code.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Reports `error` through `report`, which is user code: a panic in it is
/// said on stderr and goes no further (the connection goes on), as is one
/// in the error's `Display` then.
pub(crate) fn report_safely(
    report: &Report,
    peer: SocketAddr,
    error: &(dyn StdError + Send + Sync + 'static),
) {
    if catch(|| report(peer, error)).is_err() {
        let _ = catch(|| {
            eprintln!(
                "kasync-hyper: on_connection_error panicked while reporting \"{error}\" \
                 (connection from {peer})"
            )
        });
    }
}

/// User code's value (a response body, a response future) whose `Drop`
/// may panic: that panic is caught and reported — unless a panic of the
/// same value was reported already — and goes no further.
pub(crate) struct Contained<T> {
    value: ManuallyDrop<T>,
    peer: SocketAddr,
    report: Report,
    /// A panic of this value was reported: its `Drop`'s is not.
    reported: Cell<bool>,
}

impl<T> Contained<T> {
    fn new(value: T, peer: SocketAddr, report: Report) -> Self {
        Self {
            value: ManuallyDrop::new(value),
            peer,
            report,
            reported: Cell::new(false),
        }
    }

    fn get(&self) -> &T {
        &self.value
    }

    fn pinned(self: Pin<&mut Self>) -> Pin<&mut T> {
        // SAFETY: `value` is pinned whenever `self` is (structural
        // pinning): it is never moved out — only dropped in place, in
        // `Drop`, which pinned data allows — and `Contained` is `Unpin`
        // only when `T` is (`ManuallyDrop<T>`'s own `Unpin`).
        unsafe { self.map_unchecked_mut(|c| &mut *c.value) }
    }

    /// Reports `panic`, a panic of this value, once.
    fn report(&self, panic: &ServicePanic) {
        if !self.reported.replace(true) {
            report_safely(&self.report, self.peer, panic);
        }
    }
}

impl<T> Drop for Contained<T> {
    fn drop(&mut self) {
        // SAFETY: `value` is dropped once, here, in place, and never used
        // again (`self` is going).
        if let Err(panic) = catch(|| unsafe { ManuallyDrop::drop(&mut self.value) }) {
            self.report(&panic);
        }
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
    /// whose panics (in `poll_frame`, `size_hint`, `is_end_stream`,
    /// `Drop`) end it with a [`ServicePanic`] error, reported once — or
    /// the empty body of a `500` that replaced a panic.
    #[project = BodyProj]
    pub(crate) enum GuardedBody<B> {
        Service {
            #[pin]
            body: Contained<B>,
            // A panic of `size_hint` or `is_end_stream` (which cannot
            // fail), for the next `poll_frame` to end the body with.
            poisoned: Cell<Option<ServicePanic>>,
        },
        Empty,
    }
}

impl<B> GuardedBody<B> {
    fn new(body: B, peer: SocketAddr, report: Report) -> Self {
        GuardedBody::Service {
            body: Contained::new(body, peer, report),
            poisoned: Cell::new(None),
        }
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
            BodyProj::Service { mut body, poisoned } => {
                let panic = match poisoned.take() {
                    Some(panic) => panic,
                    None => match catch(|| body.as_mut().pinned().poll_frame(cx)) {
                        Ok(poll) => {
                            return poll.map(|frame| frame.map(|r| r.map_err(Into::into)));
                        }
                        Err(panic) => panic,
                    },
                };
                body.report(&panic);
                panic
            }
            BodyProj::Empty => return Poll::Ready(None),
        };
        // A body that panicked is never polled again (its `Drop` is
        // contained).
        self.set(GuardedBody::Empty);
        Poll::Ready(Some(Err(Box::new(panic))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GuardedBody::Service { body, poisoned } => {
                let Some(earlier) = poisoned.take() else {
                    return catch(|| body.get().is_end_stream()).unwrap_or_else(|panic| {
                        poisoned.set(Some(panic));
                        false // `poll_frame` ends it
                    });
                };
                poisoned.set(Some(earlier));
                false
            }
            GuardedBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GuardedBody::Service { body, poisoned } => {
                let Some(earlier) = poisoned.take() else {
                    return catch(|| body.get().size_hint()).unwrap_or_else(|panic| {
                        poisoned.set(Some(panic));
                        SizeHint::default()
                    });
                };
                poisoned.set(Some(earlier));
                SizeHint::default()
            }
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
        let state = match catch(|| self.inner.call(request)) {
            Ok(future) => State::Running {
                future: Contained::new(future, self.peer, self.report.clone()),
            },
            Err(panic) => State::Panicked { panic: Some(panic) },
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
        // The service's future; a panic in its `Drop` is contained.
        Running { #[pin] future: Contained<F> },
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
            StateProj::Running { mut future } => {
                match catch(|| future.as_mut().pinned().poll(cx)) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Err(e))) => return Poll::Ready(Err(e)),
                    Ok(Poll::Ready(Ok(response))) => {
                        // hyper asks these before the head goes out: a panic
                        // here can still be a `500`.
                        let body = response.body();
                        match catch(|| (body.is_end_stream(), body.size_hint())) {
                            Ok(_) => {
                                let (peer, report) = (*this.peer, this.report.clone());
                                return Poll::Ready(Ok(
                                    response.map(|body| GuardedBody::new(body, peer, report))
                                ));
                            }
                            Err(panic) => {
                                let response = response.map(|body| {
                                    let body =
                                        Contained::new(body, *this.peer, this.report.clone());
                                    body.reported.set(true); // its `Drop`'s panic is not
                                    body
                                });
                                // Its extensions are user values too.
                                let _ = catch(|| drop(response));
                                future.reported.set(true); // one report per request
                                panic
                            }
                        }
                    }
                    Err(panic) => {
                        future.reported.set(true); // reported below; its `Drop`'s is not
                        panic
                    }
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
