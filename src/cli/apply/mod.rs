//! `dwlink apply`: flags, the saved plan's own guards, and the choice between one environment
//! ([`one`]) and a fleet ([`fleet`]).

mod fleet;
mod one;
mod saved;

use std::path::PathBuf;

use crate::render::shell::Shell;
use dwlink_core::diag::Problem;

use super::fleet::FleetArgs;
use super::live::{self, LiveArgs};
use super::{fail, Exit};

/// Execute a plan after confirmation: backup first, journal every step, verify at the end.
///
/// Example: `dwlink apply -f dwlink.yaml` (plans, shows the plan, asks you to type the name)
/// Example (CI): `dwlink apply reset.plan --confirm contoso-uat --input=false`
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A saved plan from `dwlink plan --out` (apply exactly it, or refuse if live state moved).
    #[arg(value_name = "PLAN")]
    plan: Option<PathBuf>,
    /// The configs to plan from when no PLAN is given (default: dwlink.yaml); several -f or a
    /// directory apply a fleet, one environment after another, each with its own confirmation.
    #[command(flatten)]
    fleet: FleetArgs,
    /// Do not ask; apply as shown. Meant for CI.
    #[arg(long)]
    auto_approve: bool,
    /// Confirm by naming the environment instead of typing it at the prompt.
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
    /// `markdown`: a report for a change ticket, a pull request or `$GITHUB_STEP_SUMMARY`
    /// (`json` is `--json`).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    format: Option<crate::render::view::Format>,
    /// Emit one JSON object per step on stdout.
    #[arg(long)]
    json: bool,
    /// Where backups (`DIR/backups/`) and journals (`DIR/journal/`) are kept. They hold the
    /// deleted rows, connection strings included: keep DIR private, and in CI keep it as a
    /// protected artifact so `dwlink restore` and a resumed apply work in a later job.
    #[arg(
        long,
        value_name = "DIR",
        env = "DWLINK_STATE_DIR",
        default_value = super::rerun::DEFAULT_STATE_DIR
    )]
    state_dir: PathBuf,
    #[command(flatten)]
    live: LiveArgs,
}

impl Args {
    pub(super) fn json(&self) -> bool {
        self.json
    }

    pub(super) fn format(&self) -> crate::render::view::Format {
        crate::render::view::Format::with_json(self.format, self.json)
    }
}

fn refuse(ui: &Shell, p: Problem) -> Exit {
    ui.problem(&p);
    Exit::Refused
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    ui.set_state_dir(&args.state_dir);
    if let Some(path) = &args.plan {
        // Refusals of a saved plan say "make a new plan": with this plan's file and this run's
        // config and routes, so the hint runs as printed.
        let again = super::rerun::Command::new(&["dwlink", "plan"])
            .files(args.fleet.files.as_slice())
            .flag("--out", path)
            .live(&args.live)
            .record(ui)
            .state_dir(&args.state_dir);
        for placeholder in ["dwlink plan -f CONFIG --out PLAN", "dwlink plan --out PLAN"] {
            ui.fill_hint(placeholder, &again.to_string());
        }
    }
    if args.plan.is_none() && !args.fleet.is_single() {
        return fleet::run(args, ui);
    }
    let (saved, desired) = match &args.plan {
        Some(path) => match saved::load(path, args.fleet.files.first().map(PathBuf::as_path), ui) {
            Ok((plan, desired)) => (Some(plan), desired),
            Err(exit) => return exit,
        },
        None => match live::load_config(args.fleet.files.first().map(PathBuf::as_path), ui) {
            Some(d) => (None, d),
            None => return Exit::Error,
        },
    };
    let rt = match live::runtime() {
        Ok(rt) => rt,
        Err(p) => return fail(ui, &p),
    };
    rt.block_on(async move {
        let route = match live::route(&args.live, ui).await {
            Ok(r) => r,
            Err(p) => return fail(ui, &p),
        };
        one::apply(&args, &route, saved, desired, ui, &mut false).await
    })
}
