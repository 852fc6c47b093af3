//! Plugs and pipelines.
//!
//! A [`Plug`] is one async step `Conn -> Conn`, as in Elixir's Plug: it may read the
//! request, assign values, set response headers, or [halt](crate::Conn::halt) with a
//! response. A [`Pipeline`] is a named list of plugs that a router scope pipes
//! through (`pipe_through [browser]`), and the endpoint runs one before the router.
//!
//! Any async function `async fn(Conn) -> Conn` is a plug:
//!
//! ```
//! use zzz::{Conn, HeaderValue, Pipeline};
//!
//! async fn put_api_header(mut conn: Conn) -> Conn {
//!     conn.put_resp_header("x-api".parse().unwrap(), HeaderValue::from_static("v1"));
//!     conn
//! }
//!
//! let api = Pipeline::new().plug(put_api_header);
//! ```
//!
//! So is any type implementing [`Plug`], and any [`tower_layer::Layer`] through
//! [`Pipeline::layer`]: the layer wraps the rest of the pipeline and the handler,
//! so it sees the request on the way in and the response on the way out.

use std::convert::Infallible;
use std::future::Future;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use crate::body::{Body, BoxError};
use crate::conn::Conn;
use crate::response::{IntoResponse, Response, error_response};

/// One step of a pipeline.
///
/// ```
/// use zzz::{Conn, Plug, StatusCode};
///
/// /// Refuses requests without the right API key.
/// struct RequireApiKey { key: String }
///
/// impl Plug for RequireApiKey {
///     async fn call(&self, mut conn: Conn) -> Conn {
///         if conn.header("x-api-key") != Some(self.key.as_str()) {
///             conn.send_resp(StatusCode::UNAUTHORIZED, "missing or wrong x-api-key header").halt();
///         }
///         conn
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plug",
    note = "a plug is an `async fn(Conn) -> Conn` or a type implementing `zzz::Plug`; use `layer` for a tower `Layer`"
)]
pub trait Plug: Send + Sync + 'static {
    /// Runs the step. Return the conn (halted or not).
    fn call(&self, conn: Conn) -> impl Future<Output = Conn> + Send;
}

impl<F, Fut> Plug for F
where
    F: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Conn> + Send,
{
    fn call(&self, conn: Conn) -> impl Future<Output = Conn> + Send {
        self(conn)
    }
}

/// Object-safe form of [`Plug`], so pipelines can hold plugs of different types.
trait DynPlug: Send + Sync {
    fn call_boxed(&self, conn: Conn) -> BoxFuture<'_, Conn>;
}

impl<P: Plug> DynPlug for P {
    fn call_boxed(&self, conn: Conn) -> BoxFuture<'_, Conn> {
        Box::pin(Plug::call(self, conn))
    }
}

/// What runs after a layer: the rest of the pipeline and the handler.
type Continuation = Box<dyn FnOnce(Conn) -> BoxFuture<'static, Response> + Send>;

/// Carries the continuation through a tower layer as a request extension.
#[derive(Clone)]
struct ContinuationSlot(Arc<Mutex<Option<Continuation>>>);

/// The service a pipeline's tower layers wrap: it picks the continuation out of the
/// request and runs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Continue;

impl tower_service::Service<http::Request<Body>> for Continue {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let next = request
            .extensions_mut()
            .remove::<ContinuationSlot>()
            .and_then(|slot| slot.0.lock().ok().and_then(|mut c| c.take()));
        let conn = Conn::from_layered_request(request);
        Box::pin(async move {
            Ok(match next {
                Some(next) => next(conn).await,
                None => error_response(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "a tower layer in a pipeline called its inner service twice or lost the request".into(),
                ),
            })
        })
    }
}

/// A tower service built from a layer around [`Continue`], callable through `&self`.
trait DynLayered: Send + Sync {
    fn call_layered(&self, request: http::Request<Body>) -> BoxFuture<'static, Response>;
}

struct Layered<S>(S);

impl<S, B> DynLayered for Layered<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call_layered(&self, request: http::Request<Body>) -> BoxFuture<'static, Response> {
        let mut service = self.0.clone();
        Box::pin(async move {
            if let Err(err) = futures_util::future::poll_fn(|cx| service.poll_ready(cx)).await {
                let err: BoxError = err.into();
                return error_response(http::StatusCode::SERVICE_UNAVAILABLE, format!("service not ready: {err}"));
            }
            match service.call(request).await {
                Ok(response) => response.map(Body::new),
                Err(err) => {
                    let err: BoxError = err.into();
                    error_response(http::StatusCode::INTERNAL_SERVER_ERROR, format!("middleware failed: {err}"))
                }
            }
        })
    }
}

#[derive(Clone)]
enum Step {
    Plug(Arc<dyn DynPlug>),
    Layer(Arc<dyn DynLayered>),
}

/// A list of plugs (and tower layers) run in order until one halts.
///
/// Pipelines are cheap to clone (the plugs are shared).
#[derive(Clone, Default)]
pub struct Pipeline {
    steps: Arc<[Step]>,
    has_layers: bool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("steps", &self.steps.len()).finish()
    }
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    fn push(self, step: Step) -> Pipeline {
        let has_layers = self.has_layers || matches!(step, Step::Layer(_));
        let mut steps: Vec<Step> = self.steps.iter().cloned().collect();
        steps.push(step);
        Pipeline { steps: steps.into(), has_layers }
    }

    /// Adds a plug at the end.
    pub fn plug<P: Plug>(self, plug: P) -> Pipeline {
        self.push(Step::Plug(Arc::new(plug)))
    }

    /// Adds a tower layer at the end. It wraps everything after it: later plugs and
    /// the handler. Its service must be `Clone` (it is cloned per request, as tower
    /// services usually are).
    pub fn layer<L, B>(self, layer: L) -> Pipeline
    where
        L: tower_layer::Layer<Continue>,
        L::Service: tower_service::Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
        <L::Service as tower_service::Service<http::Request<Body>>>::Future: Send,
        <L::Service as tower_service::Service<http::Request<Body>>>::Error: Into<BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.push(Step::Layer(Arc::new(Layered(layer.layer(Continue)))))
    }

    /// All plugs of `self`, then all of `other` (what `pipe_through [a, b]` runs).
    pub fn then(&self, other: &Pipeline) -> Pipeline {
        let steps: Vec<Step> = self.steps.iter().chain(other.steps.iter()).cloned().collect();
        Pipeline { steps: steps.into(), has_layers: self.has_layers || other.has_layers }
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the pipeline has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the plugs, then `next` (the handler) unless a plug halted. A halted conn
    /// becomes the response as it is.
    pub async fn run<N, Fut>(&self, conn: Conn, next: N) -> Response
    where
        N: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        if !self.has_layers {
            let mut conn = conn;
            for step in self.steps.iter() {
                if let Step::Plug(plug) = step {
                    conn = plug.call_boxed(conn).await;
                    if conn.halted() {
                        return conn.into_response();
                    }
                }
            }
            return next(conn).await;
        }
        run_from(self.steps.clone(), 0, conn, Box::new(move |conn| Box::pin(next(conn)))).await
    }
}

/// Runs steps from `index` on, in the general case where layers may appear.
fn run_from(steps: Arc<[Step]>, index: usize, mut conn: Conn, next: Continuation) -> BoxFuture<'static, Response> {
    Box::pin(async move {
        let mut i = index;
        while i < steps.len() {
            match &steps[i] {
                Step::Plug(plug) => {
                    conn = plug.call_boxed(conn).await;
                    if conn.halted() {
                        return conn.into_response();
                    }
                }
                Step::Layer(layer) => {
                    let layer = layer.clone();
                    let rest = steps.clone();
                    let continuation: Continuation = Box::new(move |conn| run_from(rest, i + 1, conn, next));
                    let mut request = conn.into_request();
                    request.extensions_mut().insert(ContinuationSlot(Arc::new(Mutex::new(Some(continuation)))));
                    return layer.call_layered(request).await;
                }
            }
            i += 1;
        }
        next(conn).await
    })
}

