//! What every live-state command shares: loading the config, the async runtime, and reaching the
//! services — directly, through `--emulator-url`, or through an in-process emulator
//! (`--emulator FIXTURE`). All three use the same HTTP provider.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use url::Url;

use crate::render::shell::Shell;
use dwlink_core::apply::steps::Steps;
use dwlink_core::config;
use dwlink_core::diag::Problem;
use dwlink_core::model::desired::Desired;
/// The in-process emulator a session's requests go to, kept alive as long as they may.
#[cfg(feature = "emulator")]
type Serving = Arc<dwlink_emulator::RunningEmulator>;
/// Without the emulator there is never one.
#[cfg(not(feature = "emulator"))]
type Serving = std::convert::Infallible;
use dwlink_http::{HttpProvider, ProviderSettings};

#[derive(Debug, Clone, clap::Args)]
pub(super) struct LiveArgs {
    /// Start the built-in emulator seeded from FIXTURE and send every request to it (no
    /// Microsoft tenant needed).
    #[cfg(feature = "emulator")]
    #[arg(long, value_name = "FIXTURE", conflicts_with = "emulator_url")]
    pub emulator: Option<PathBuf>,
    /// Send every request to an emulator already running at URL (`dwlink emulator`).
    #[arg(long, value_name = "URL")]
    pub emulator_url: Option<Url>,
}

/// `--state-dir` of the commands that only read it (plan, status): where an apply's journals
/// say whether one is unfinished.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct StateDirArgs {
    /// Where `dwlink apply` keeps backups and journals: the plan names its backup folder there,
    /// and any unfinished apply journaled there.
    #[arg(
        long,
        value_name = "DIR",
        env = "DWLINK_STATE_DIR",
        default_value = super::rerun::DEFAULT_STATE_DIR
    )]
    pub state_dir: PathBuf,
}

impl LiveArgs {
    /// Requests go to an emulator, which approves device codes at once.
    pub(super) fn emulated(&self) -> bool {
        #[cfg(feature = "emulator")]
        if self.emulator.is_some() {
            return true;
        }
        self.emulator_url.is_some()
    }
}

/// Load and validate the config; problems (warnings too) go to the Shell.
pub(super) fn load_config(file: Option<&Path>, ui: &mut Shell) -> Option<Desired> {
    let path = file.map_or_else(|| PathBuf::from(config::DEFAULT_FILE), Path::to_path_buf);
    let loaded = config::load(&path);
    ui.problems(&loaded.problems);
    loaded.desired
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Problem> {
    // Every runtime here is for reading live state until a command says otherwise.
    super::interrupt::set(super::interrupt::Phase::Reading);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Problem::error(
                "dwlink::internal::runtime",
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// Runs one command's async work. The runtime is then left to the process exit instead of
/// being joined: its idle pooled connections and threads are not worth waiting for.
pub(super) fn block_on<T>(
    work: impl std::future::Future<Output = Result<T, Problem>>,
) -> Result<T, Problem> {
    let rt = runtime()?;
    super::interrupt::set(super::interrupt::Phase::Reading);
    let out = rt.block_on(work);
    rt.shutdown_background();
    out
}

/// A connection to the live services, plus the emulator serving them when in-process.
pub(super) struct Session {
    pub ops: Steps<HttpProvider>,
    /// How `ops` reaches the services, kept so commands that read more than one Dataverse
    /// organization (import, snapshot) reach the others the same way.
    settings: ProviderSettings,
    _emulator: Option<Serving>,
}

impl Session {
    /// A provider for another environment (another Dataverse organization of the same link),
    /// routed like this session's: same emulator, same credentials.
    pub(super) fn provider_for(&self, desired: &Desired) -> Result<HttpProvider, Problem> {
        HttpProvider::new(desired, self.settings.clone()).map_err(|e| e.to_problem())
    }
}

impl Deref for Session {
    type Target = Steps<HttpProvider>;

    fn deref(&self) -> &Self::Target {
        &self.ops
    }
}

/// How requests reach the services, and the in-process emulator serving them if any. One route
/// serves every environment of a fleet.
pub(super) struct Route {
    pub settings: ProviderSettings,
    emulator: Option<Serving>,
}

pub(super) async fn route(args: &LiveArgs, ui: &Shell) -> Result<Route, Problem> {
    let mut route = route_unrecorded(args, ui).await?;
    if let Some(recording) = ui.recording() {
        route.settings.client.recorder = Some(recording.recorder()?);
    }
    if ui.settings().verbosity == crate::render::shell::Verbosity::Verbose {
        let to = ui.clone();
        route.settings.client.log = Some(dwlink_http::transport::log::HttpLog {
            write: Arc::new(move |line: &str| to.err_line(line)),
            headers: ui.settings().very_verbose,
        });
    } else if ui.bars() {
        // A terminal with no -v: a spinner naming the service each answer came from, so a slow
        // service is a visible wait, not a blank screen.
        let to = ui.clone();
        ui.spin("reading live state…");
        route.settings.client.log = Some(dwlink_http::transport::log::HttpLog {
            write: Arc::new(move |line: &str| to.spin(&spinner_text(line))),
            headers: false,
        });
    }
    Ok(route)
}

async fn route_unrecorded(args: &LiveArgs, ui: &Shell) -> Result<Route, Problem> {
    let interactive = ui.settings().interactive;
    // The device-code prompt must reach the user whatever the verbosity, from the sign-in task.
    let prompt_to = ui.clone();
    let notify: dwlink_http::signin::device_code::Notify =
        Arc::new(move |msg: &str| prompt_to.err_line(msg));
    #[cfg(feature = "emulator")]
    if let Some(fixture) = &args.emulator {
        let fixture = load_fixture(fixture)?;
        // A rehearsed reset that takes longer than emulator mode's window is still read back
        // for all of it (docs/http-contract.md, "Lost replies").
        let reset_takes = fixture.reset_ms.or(fixture.async_ms).unwrap_or(0);
        let running =
            Arc::new(dwlink_emulator::spawn(fixture, dwlink_emulator::Options::default()).await?);
        let url = Url::parse(&running.url()).map_err(|e| {
            Problem::error(
                "dwlink::internal::emulator",
                format!("emulator address: {e}"),
            )
        })?;
        let mut settings = ProviderSettings::emulator(&url, interactive, Some(notify))
            .map_err(|e| e.to_problem())?;
        settings.reset_window = settings.reset_window.max(std::time::Duration::from_millis(
            reset_takes.saturating_mul(2),
        ));
        ui.set_emulator(Some(url.as_str().trim_end_matches('/').to_string()));
        return Ok(Route {
            settings,
            emulator: Some(running),
        });
    }
    let settings = match &args.emulator_url {
        Some(url) => {
            let s = ProviderSettings::running_emulator(url, interactive, Some(notify))
                .map_err(|e| e.to_problem())?;
            ui.set_emulator(Some(url.as_str().trim_end_matches('/').to_string()));
            s
        }
        None => ProviderSettings::direct(interactive, Some(notify)),
    };
    Ok(Route {
        settings,
        emulator: None,
    })
}

/// `http: GET https://host/path… → 200 in 3 ms` as the spinner says it: `reading host (GET
/// /path → 200)`, the path cut so the line fits a terminal.
fn spinner_text(line: &str) -> String {
    let rest = line.strip_prefix("http: ").unwrap_or(line);
    let (method, rest) = rest.split_once(' ').unwrap_or(("", rest));
    let (url, outcome) = rest.split_once(" → ").unwrap_or((rest, ""));
    let outcome = outcome.split(" in ").next().unwrap_or_default();
    match Url::parse(url) {
        Ok(u) => {
            let mut path: String = u.path().chars().take(40).collect();
            if u.path().chars().count() > 40 {
                path.push('…');
            }
            format!(
                "reading {} ({method} {path} → {outcome})",
                u.host_str().unwrap_or_default()
            )
        }
        Err(_) => "reading live state…".to_string(),
    }
}

/// A fixture file; the first of its problems, with a count of the rest.
#[cfg(feature = "emulator")]
pub(super) fn load_fixture(fixture: &Path) -> Result<dwlink_core::fixture::Fixture, Problem> {
    dwlink_core::fixture::load(fixture).map_err(|problems| {
        let n = problems.0.len();
        let mut first = problems.0.into_iter().next().unwrap_or_else(|| {
            Problem::error(
                "dwlink::fixture",
                format!("{} is not a valid fixture", fixture.display()),
            )
        });
        if n > 1 {
            first.message = format!(
                "{} (and {} more problems in the fixture)",
                first.message,
                n - 1
            );
        }
        first
    })
}

impl Route {
    /// Steps over a provider for `desired`, without the session's extras (fleet reads).
    pub(super) fn steps(&self, desired: &Desired) -> Result<Steps<HttpProvider>, Problem> {
        let provider =
            HttpProvider::new(desired, self.settings.clone()).map_err(|e| e.to_problem())?;
        Ok(Steps::new(provider, desired.clone()))
    }

    pub(super) fn session(&self, desired: &Desired) -> Result<Session, Problem> {
        let provider =
            HttpProvider::new(desired, self.settings.clone()).map_err(|e| e.to_problem())?;
        Ok(Session {
            ops: Steps::new(provider, desired.clone()),
            settings: self.settings.clone(),
            _emulator: self.emulator.clone(),
        })
    }
}

pub(super) async fn connect(
    args: &LiveArgs,
    desired: &Desired,
    ui: &Shell,
) -> Result<Session, Problem> {
    route(args, ui).await?.session(desired)
}
