//! The HTTP edge: routes, auth and throttling in front of the sync handlers, persistence after
//! each committed change, and a hyper accept loop of our own so that a request can be answered
//! by closing the connection (`--drop-rate`) and TLS can be put in front.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use super::auth::Auth;
use super::faults::{Fault, Faults};
use super::odata::error::{not_found, Reply};
use super::odata::{batch, Req};
use super::persist::Persist;
use super::store::World;
use super::{admin, dataverse, dws, fo};

pub(crate) struct App {
    pub world: RwLock<World>,
    pub persist: Option<Persist>,
    pub auth: Auth,
    pub faults: Faults,
    pub limiter: std::sync::Arc<super::protection::Limiter>,
    pub scheme: &'static str,
    pub token_ttl: u64,
}

pub(crate) type Shared = Arc<App>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    FinanceOperations,
    Dataverse,
}

impl App {
    pub(crate) fn read_world(&self) -> std::sync::RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write_world(&self) -> std::sync::RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Save after a committed change; a failed save is a 500 (the change is not durable).
    pub(crate) fn commit(&self, world: &World) -> Result<(), Reply> {
        match &self.persist {
            Some(p) => p.save(world).map_err(|e| {
                Reply::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "StateNotSaved",
                    format!("the emulator could not save its state: {e}"),
                )
            }),
            None => Ok(()),
        }
    }

    /// One OData request against the world: read lock for reads, write lock and save otherwise.
    pub(crate) fn run(&self, service: Service, host: &str, req: &Req) -> Reply {
        if req.is_read() {
            let w = self.read_world();
            return dispatch_read(&w, service, host, req);
        }
        let mut w = self.write_world();
        let (reply, changed) = dispatch_write(&mut w, service, host, req);
        if changed {
            if let Err(r) = self.commit(&w) {
                return r;
            }
        }
        reply
    }
}

pub(crate) fn dispatch_read(w: &World, service: Service, host: &str, req: &Req) -> Reply {
    match service {
        Service::FinanceOperations => fo::read(w, host, req),
        Service::Dataverse => dataverse::read(w, host, req),
    }
}

pub(crate) fn dispatch_write(
    w: &mut World,
    service: Service,
    host: &str,
    req: &Req,
) -> (Reply, bool) {
    match service {
        Service::FinanceOperations => fo::write(w, host, req),
        Service::Dataverse => dataverse::write(w, host, req),
    }
}

/// The Host header as sent (with port, for links) and as a lower-case name (for dispatch).
fn host(headers: &HeaderMap) -> (String, String) {
    let raw = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let name = if raw.starts_with('[') {
        raw.split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
            .to_string()
    } else {
        raw.split(':').next().unwrap_or("").to_string()
    };
    // Named as environments are compared (dwlink_core::model::identity): no case, no final dot.
    let name = name.strip_suffix('.').unwrap_or(&name).to_ascii_lowercase();
    (raw, name)
}

pub(crate) fn router(app: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/data", any(fo_route))
        .route("/data/", any(fo_route))
        .route("/data/{*rest}", any(fo_route))
        .route("/api/data/v9.2", any(dv_route))
        .route("/api/data/v9.2/", any(dv_route))
        .route("/api/data/v9.2/{*rest}", any(dv_route))
        .route("/api/DualWriteManagement/1.0/{*rest}", any(dws_route))
        .route("/api/ConnectionSet/{*rest}", any(dws_route))
        .route("/api/dataset/{*rest}", any(dws_route))
        .route("/api/Project/{*rest}", any(dws_route))
        .route("/providers/{*rest}", any(admin_route))
        .fallback(
            |uri: Uri| async move { not_found(format!("no emulated service at {}", uri.path())) },
        )
        .with_state(app)
}

async fn token(
    State(app): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let clients = app.read_world().clients.clone();
    app.auth
        .token(&tenant, &headers, &body, &clients, app.token_ttl)
        .into_response()
}

async fn device_code(State(app): State<Shared>, body: Bytes) -> Response {
    let clients = app.read_world().clients.clone();
    app.auth.device_code(&body, &clients).into_response()
}

/// Auth and the request budget of the F&O, Dataverse and admin-API routes: any valid token
/// except one for the management service's resource; the caller's client id.
fn gate(app: &App, headers: &HeaderMap) -> Result<String, Reply> {
    let caller = app.auth.check(headers)?;
    super::auth::refuse_dws_audience(&caller)?;
    app.faults.admit(&caller.client_id)?;
    Ok(caller.client_id)
}

/// The management service's routes (every one, `/api/DualWriteManagement/1.0/…` and the root
/// `/api/ConnectionSet/…`): only tokens for `https://IntegratorApp.com`.
pub(crate) fn gate_dws(app: &App, headers: &HeaderMap) -> Result<(), Reply> {
    let caller = app.auth.check(headers)?;
    super::auth::require_dws_audience(&caller)?;
    app.faults.admit(&caller.client_id)
}
/// Service protection of the OData services: per user and service host, a `$batch` counting
/// each of its requests (its parts that are `application/http`).
async fn protect(
    app: &App,
    client: &str,
    service: Service,
    host: &str,
    body: &[u8],
    batch: bool,
) -> Result<super::protection::Admitted, Reply> {
    let operations = if batch {
        memchr::memmem::find_iter(body, b"application/http").count() as u32
    } else {
        1
    };
    let admitted = app
        .limiter
        .admit(&format!("{client}\0{service:?}\0{host}"), operations)?;
    if !admitted.cost.is_zero() {
        tokio::time::sleep(admitted.cost).await;
    }
    Ok(admitted)
}

async fn odata_route(
    app: Shared,
    service: Service,
    base: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match gate(&app, &headers) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let (raw_host, name) = host(&headers);
    let root = format!("{}://{raw_host}{base}", app.scheme);
    let path = super::odata::percent_decode(
        uri.path()
            .strip_prefix(base)
            .unwrap_or("")
            .trim_start_matches('/'),
    );
    let _admitted = match protect(&app, &client, service, &name, &body, path == "$batch").await {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    if path == "$batch" {
        if method != Method::POST {
            return Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "$batch takes POST",
            )
            .into_response();
        }
        let app2 = app.clone();
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        return tokio::task::spawn_blocking(move || {
            batch::run(&app2, service, &name, &root, &ct, &body)
        })
        .await
        .unwrap_or_else(|_| {
            Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal",
                "batch failed",
            )
        })
        .into_response();
    }
    let req = Req {
        method,
        path: &path,
        query: uri.query(),
        headers: &headers,
        body: &body,
        root: &root,
    };
    app.run(service, &name, &req).into_response()
}

async fn fo_route(
    State(app): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    odata_route(
        app,
        Service::FinanceOperations,
        "/data",
        method,
        uri,
        headers,
        body,
    )
    .await
}

async fn dv_route(
    State(app): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    odata_route(
        app,
        Service::Dataverse,
        "/api/data/v9.2",
        method,
        uri,
        headers,
        body,
    )
    .await
}

async fn admin_route(
    State(app): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&app, &headers) {
        return r.into_response();
    }
    if method != Method::GET {
        return Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the emulated admin API only lists environments",
        )
        .into_response();
    }
    let w = app.read_world();
    admin::handle(&w, uri.path(), uri.query()).into_response()
}

async fn dws_route(
    State(app): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate_dws(&app, &headers) {
        return r.into_response();
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (mut outcome, delay, reset_delay) = {
        let mut w = app.write_world();
        let o = dws::handle(&mut w, &method, uri.path(), uri.query(), ct, &body);
        if o.changed {
            if let Err(r) = app.commit(&w) {
                return r.into_response();
            }
        }
        (o, w.async_ms, w.reset_ms.unwrap_or(w.async_ms))
    };
    if outcome.answer_late {
        // The service goes on with a reset whether or not anyone waits for its answer: the
        // change that shows at the end is made by a task of its own, not by this request.
        let pending = outcome.pending.take();
        let app = app.clone();
        let done = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(reset_delay)).await;
            match pending {
                Some(p) => {
                    let mut w = app.write_world();
                    p.apply(&mut w);
                    app.commit(&w)
                }
                None => Ok(()),
            }
        });
        if let Ok(Err(r)) = done.await {
            return r.into_response();
        }
    }
    if let Some(id) = outcome.started {
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let mut w = app.write_world();
            if dws::complete(&mut w, &id) {
                let _ = app.commit(&w);
            }
        });
    }
    outcome.reply.into_response()
}

/// Why a connection was closed on purpose.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by --drop-rate")
    }
}

impl std::error::Error for Dropped {}

/// Faults first (latency, drop, 5xx), then the router.
async fn handle(
    app: Shared,
    router: Router,
    req: Request<hyper::body::Incoming>,
) -> Result<Response, Dropped> {
    if let Some(d) = app.faults.latency() {
        tokio::time::sleep(d).await;
    }
    match app.faults.draw() {
        // hyper closes a connection whose service fails, without writing a response.
        Fault::Drop => return Err(Dropped),
        Fault::Fail => return Ok(Faults::failure().into_response()),
        Fault::None => {}
    }
    let resp = router.oneshot(req.map(Body::new)).await;
    Ok(match resp {
        Ok(r) => r,
        Err(e) => match e {},
    })
}

pub(crate) type Acceptor = Option<tokio_rustls::TlsAcceptor>;

/// Accept connections until `shutdown` turns true; each connection is served with keep-alive.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Shared,
    tls: Acceptor,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = router(app.clone());
    loop {
        let (stream, _peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, router, tls, mut stop) =
            (app.clone(), router.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| handle(app.clone(), router.clone(), req));
            let builder = hyper::server::conn::http1::Builder::new();
            macro_rules! drive {
                ($io:expr) => {{
                    let conn = builder.serve_connection(TokioIo::new($io), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                        }
                    }
                }};
            }
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                    {
                        drive!(s)
                    }
                }
                None => drive!(stream),
            }
        });
    }
}
