//! The glue between hyper and the app's `tower_service::Service`: per-request
//! [`ConnectInfo`] and [`Shutdown`] handle, `connection: close` on HTTP/1
//! responses sent during shutdown, readiness, panic containment, and in-flight request tracking
//! for the connection's idle timer.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use super::io::{SharedStream, StreamShare};
use super::shutdown::Shutdown;

/// Where a request came from, inserted by the server into every request's
/// extensions before the app's service sees it.
///
/// ```
/// # use http::Request;
/// use zzz::server::ConnectInfo;
///
/// fn client_ip<B>(req: &Request<B>) -> Option<std::net::IpAddr> {
///     req.extensions().get::<ConnectInfo>().map(|info| info.peer.ip())
/// }
/// # assert_eq!(client_ip(&Request::new(())), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectInfo {
    /// The client's address (the TCP peer; a proxy's address when behind one).
    pub peer: SocketAddr,
    /// The server address the connection was accepted on.
    pub local: SocketAddr,
    /// Whether the connection is TLS (the server terminated HTTPS itself).
    pub tls: bool,
}

/// What one connection is doing, for its idle and first-request timers.
pub(crate) struct Activity {
    base: Instant,
    /// Requests whose response has not been fully sent (or dropped) yet.
    active: AtomicUsize,
    /// Requests started since the connection was accepted.
    started: AtomicU64,
    /// When the connection last became free of requests, as nanoseconds after `base`.
    idle_since: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
        })
    }

    fn begin(self: &Arc<Self>) -> RequestGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        RequestGuard(self.clone())
    }

    pub(crate) fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// When the connection last had no request in progress (its accept time if
    /// it never had one).
    pub(crate) fn idle_since(&self) -> Instant {
        self.base + Duration::from_nanos(self.idle_since.load(Ordering::SeqCst))
    }
}

/// Marks one request in progress; dropped when its response body is finished
/// or abandoned.
pub(crate) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let elapsed = u64::try_from(self.0.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0.idle_since.store(elapsed, Ordering::SeqCst);
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The app's service as hyper sees it on one connection.
pub(crate) struct Adapter<S> {
    svc: S,
    info: ConnectInfo,
    activity: Arc<Activity>,
    shutdown: Shutdown,
    // Plain TCP only: lets an upgraded WebSocket share the connection's stream.
    share: Option<Arc<StreamShare>>,
}

impl<S> Adapter<S> {
    pub(crate) fn new(
        svc: S,
        info: ConnectInfo,
        activity: Arc<Activity>,
        shutdown: Shutdown,
        share: Option<Arc<StreamShare>>,
    ) -> Adapter<S> {
        Adapter { svc, info, activity, shutdown, share }
    }
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Adapter<S>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone,
{
    type Response = Response<ServerBody<B>>;
    type Error = Infallible;
    type Future = ResponseFuture<S, S::Future>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.info);
        req.extensions_mut().insert(self.shutdown.clone());
        let http1 = req.version() < Version::HTTP_2;
        if http1
            && let Some(share) = &self.share
            && req.headers().contains_key(header::UPGRADE)
        {
            share.request();
            req.extensions_mut().insert(SharedStream(share.clone()));
        }
        ResponseFuture {
            state: State::Ready { svc: Some(self.svc.clone()), req: Some(req) },
            guard: Some(self.activity.begin()),
            peer: self.info.peer,
            close_on_shutdown: http1.then(|| self.shutdown.clone()),
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F> {
        Ready { svc: Option<S>, req: Option<Request<Incoming>> },
        Calling { #[pin] fut: F },
        Done,
    }
}

pin_project! {
    /// Waits for the app's service to be ready, calls it, and turns a panic in
    /// `poll_ready`, `call` or the response future into a 500 for that request.
    pub(crate) struct ResponseFuture<S, F> {
        #[pin]
        state: State<S, F>,
        guard: Option<RequestGuard>,
        peer: SocketAddr,
        // HTTP/1 only: the server's shutdown, to mark responses `connection: close`.
        close_on_shutdown: Option<Shutdown>,
    }
}

impl<S, B> Future for ResponseFuture<S, S::Future>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
{
    type Output = Result<Response<ServerBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Ready { svc, req } => {
                    let ready = {
                        let svc = svc.as_mut().expect("service taken only when leaving Ready");
                        catch_unwind(AssertUnwindSafe(|| svc.poll_ready(cx)))
                    };
                    match ready {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Ok(()))) => {}
                        Ok(Poll::Ready(Err(never))) => match never {},
                        Err(panic) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(panic_response(*this.peer, panic, this.guard.take())));
                        }
                    }
                    let mut svc = svc.take().expect("service present in Ready");
                    let req = req.take().expect("request present in Ready");
                    match catch_unwind(AssertUnwindSafe(move || svc.call(req))) {
                        Ok(fut) => this.state.set(State::Calling { fut }),
                        Err(panic) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(panic_response(*this.peer, panic, this.guard.take())));
                        }
                    }
                }
                StateProj::Calling { fut } => {
                    let mut out = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Ok(res))) => {
                            let guard = this.guard.take();
                            res.map(|body| ServerBody::App { body, guard })
                        }
                        Ok(Poll::Ready(Err(never))) => match never {},
                        Err(panic) => panic_response(*this.peer, panic, this.guard.take()),
                    };
                    this.state.set(State::Done);
                    // A response finished while the server shuts down is the last
                    // one on its HTTP/1 connection: say so, so the client does not
                    // send another request into a closing connection.
                    if this.close_on_shutdown.as_ref().is_some_and(Shutdown::is_requested) {
                        out.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
                    }
                    return Poll::Ready(Ok(out));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

fn panic_response<B>(
    peer: SocketAddr,
    panic: Box<dyn std::any::Any + Send>,
    guard: Option<RequestGuard>,
) -> Response<ServerBody<B>> {
    tracing::error!(%peer, panic = panic_message(&*panic), "request handler panicked; answering 500");
    let mut res = Response::new(ServerBody::Fixed {
        data: Some(Bytes::from_static(b"Internal Server Error")),
        guard,
    });
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    res
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

pin_project! {
    /// The response body handed to hyper: the app's body, or the server's own
    /// 500 body after a panic. Holds the request's in-flight mark until dropped.
    #[project = BodyProj]
    pub(crate) enum ServerBody<B> {
        App { #[pin] body: B, guard: Option<RequestGuard> },
        Fixed { data: Option<Bytes>, guard: Option<RequestGuard> },
    }
}

impl<B> Body for ServerBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            BodyProj::App { body, guard } => {
                let polled = catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx)));
                match polled {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(Some(Ok(frame)))) => Poll::Ready(Some(Ok(frame))),
                    Ok(Poll::Ready(Some(Err(e)))) => Poll::Ready(Some(Err(e.into()))),
                    Ok(Poll::Ready(None)) => Poll::Ready(None),
                    Err(panic) => {
                        // The head is already sent: all that can be done is to
                        // abort this response (hyper closes the HTTP/1
                        // connection or resets the HTTP/2 stream).
                        tracing::error!(panic = panic_message(&*panic), "response body panicked; aborting the response");
                        drop(guard.take());
                        Poll::Ready(Some(Err("the response body panicked".into())))
                    }
                }
            }
            BodyProj::Fixed { data, .. } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ServerBody::App { body, .. } => body.is_end_stream(),
            ServerBody::Fixed { data, .. } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ServerBody::App { body, .. } => body.size_hint(),
            ServerBody::Fixed { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
