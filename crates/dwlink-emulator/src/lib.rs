//! The emulated services (spec section 5): F&O OData, the Dataverse Web API, the dual-write
//! management service and an Entra ID token endpoint, on one real HTTP listener.
//!
//! In-process use (tests, `--emulator FIXTURE`):
//! ```no_run
//! # async fn demo() -> Result<(), dwlink_core::diag::Problem> {
//! use dwlink_emulator::Options;
//! let fixture = dwlink_core::fixture::quickstart().map_err(|p| p.0.into_iter().next().unwrap())?;
//! let emu = dwlink_emulator::spawn(fixture, Options::default()).await?;
//! println!("serving at {}", emu.url());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod dataverse;
mod dataverse_functions;
pub(crate) mod dws;
pub(crate) mod faults;
mod fixture_rows;
pub(crate) mod fo;
mod generate;
pub(crate) mod hosts;
mod metadata;
pub(crate) mod odata;
pub(crate) mod persist;
pub(crate) mod protection;
mod requests;
pub(crate) mod server;
pub(crate) mod store;
pub(crate) mod table;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use dwlink_core::diag::Problem;
pub use dwlink_core::fixture::Fixture;
pub use faults::FaultOptions;
pub use protection::Protection;

#[derive(Debug, Clone)]
pub struct Options {
    /// `127.0.0.1:0` (the default) picks a free port.
    pub listen: SocketAddr,
    /// Persist every committed change here; start from it when it exists.
    pub state: Option<PathBuf>,
    pub faults: FaultOptions,
    /// Serve HTTPS with a generated certificate; `ca.pem` goes to `tls_dir`, else the state
    /// file's directory.
    pub tls: bool,
    pub tls_dir: Option<PathBuf>,
    /// Overrides the fixture's `token_ttl_secs`.
    pub token_ttl_secs: Option<u64>,
    /// Overrides the fixture's `async_ms`.
    pub async_ms: Option<u64>,
    /// Overrides the fixture's `reset_ms`.
    pub reset_ms: Option<u64>,
    /// Overrides the fixture's `reset_effect`.
    pub reset_effect: Option<dwlink_core::fixture::ResetEffect>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state: None,
            faults: FaultOptions::default(),
            tls: false,
            tls_dir: None,
            token_ttl_secs: None,
            async_ms: None,
            reset_ms: None,
            reset_effect: None,
        }
    }
}

/// A serving emulator; dropping it without [`RunningEmulator::shutdown`] leaves it serving
/// until the runtime ends.
pub struct RunningEmulator {
    addr: SocketAddr,
    scheme: &'static str,
    ca_pem: Option<String>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (or `https://` with TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The CA that signed the server certificate (PEM), when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Stop accepting, let open connections finish their request, and wait.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn startup(what: &str, e: impl std::fmt::Display) -> Problem {
    Problem::error("dwlink::emulator::start", format!("{what}: {e}"))
}

/// Bind `options.listen` and serve the world seeded from `fixture` (or from the state file).
pub async fn spawn(fixture: Fixture, options: Options) -> Result<RunningEmulator, Problem> {
    let persist = options.state.clone().map(|path| persist::Persist { path });
    let loaded = match &persist {
        Some(p) => p.load()?,
        None => None,
    };
    let fresh = loaded.is_none();
    let mut world = loaded.unwrap_or_else(|| store::World::from_fixture(&fixture));
    if let Some(ms) = options.async_ms {
        world.async_ms = ms;
    }
    if let Some(ms) = options.reset_ms {
        world.reset_ms = Some(ms);
    }
    if let Some(e) = options.reset_effect {
        world.reset_effect = e;
    }
    // Requests still waiting when the last run stopped complete now.
    let waiting: Vec<String> = world.requests.keys().cloned().collect();
    for id in waiting {
        dws::complete(&mut world, &id);
    }
    if let Some(p) = &persist {
        if fresh || !world.requests.is_empty() {
            p.save(&world).map_err(|e| {
                startup(
                    &format!("cannot write the state file {}", p.path.display()),
                    e,
                )
            })?;
        }
    }
    let tls = if options.tls {
        let dir = options
            .tls_dir
            .clone()
            .or_else(|| {
                options
                    .state
                    .as_ref()
                    .and_then(|s| s.parent().map(|p| p.to_path_buf()))
            })
            .map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d
                }
            })
            .ok_or_else(|| {
                startup("--tls needs a directory for ca.pem", "none given")
                    .help("pass --tls-dir DIR or --state FILE (ca.pem is written beside it)")
            })?;
        Some(tls::generate(&world.hosts(), &dir)?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| startup(&format!("cannot listen on {}", options.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| startup("no local address", e))?;
    let token_ttl = options.token_ttl_secs.unwrap_or(world.token_ttl_secs);
    let faults = options.faults.merged_over(fixture.faults.as_ref());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let app = Arc::new(server::App {
        world: RwLock::new(world),
        persist,
        auth: auth::Auth::new(fixture.sign_in.as_ref(), &fixture.clients),
        limiter: protection::Limiter::new(faults.protection),
        faults: faults::Faults::new(faults),
        scheme,
        token_ttl,
    });
    let (stop, stop_rx) = watch::channel(false);
    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
    let task = tokio::spawn(server::serve(listener, app, acceptor, stop_rx));
    Ok(RunningEmulator {
        addr,
        scheme,
        ca_pem: tls.map(|t| t.ca_pem),
        stop,
        task,
    })
}
