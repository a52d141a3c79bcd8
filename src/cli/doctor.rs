use std::path::PathBuf;
use std::time::Duration;

use crate::render::{doctor_view, shell::Shell};
use dwlink_http::doctor::{self, Options};
use dwlink_http::HttpProvider;

use super::live::{self, LiveArgs};
use super::{fail, Exit};

/// Check, read-only, every assumption dwlink makes about the services: sign-in per audience,
/// F&O `$metadata` sets, the Dataverse runtime table, organization and integration, the Power
/// Platform link, and each management-service route it calls. Exit 0 only when every check is
/// ok. Never writes.
///
/// Example: `dwlink doctor -f dwlink.yaml --input=false --json`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config naming the environment (default: dwlink.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print JSON: `{"checks": […], "not_checked": […], "summary": {…}}`.
    #[arg(long)]
    json: bool,
    /// Each check's limit in seconds; a service that answers later is `unreachable`.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,
    #[command(flatten)]
    live: LiveArgs,
}

impl Args {
    pub(super) fn json(&self) -> bool {
        self.json
    }
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let Some(desired) = live::load_config(args.file.as_deref(), ui) else {
        return Exit::Error;
    };
    let timeout = Duration::from_secs(args.timeout);
    let login_command = match &args.file {
        Some(f) => format!("dwlink login -f {}", f.display()),
        None => "dwlink login".to_string(),
    };
    let options = Options {
        timeout,
        login_command,
    };
    let report = match live::block_on(async {
        let mut route = live::route(&args.live, ui).await?;
        doctor::tune(&mut route.settings, timeout);
        let provider =
            HttpProvider::new(&desired, route.settings.clone()).map_err(|e| e.to_problem())?;
        let report = provider.doctor(&desired, &options).await;
        // The in-process emulator serves until the checks are done.
        drop(route);
        Ok(report)
    }) {
        Ok(r) => r,
        Err(p) => return fail(ui, &p),
    };
    if args.json {
        ui.out(&doctor_view::json(&report));
    } else {
        ui.out(&doctor_view::human(&report, ui.color_out()));
    }
    if report.all_ok() {
        Exit::Ok
    } else {
        Exit::Error
    }
}
