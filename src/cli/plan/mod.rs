//! `dwlink plan`: one environment here, a fleet in [`fleet`].

mod fleet;

use std::path::PathBuf;

use crate::render::{shell::Shell, view};
use dwlink_core::diag::Problem;
use dwlink_core::plan::{planfile, Plan};

use super::fleet::FleetArgs;
use super::live::{self, LiveArgs, StateDirArgs};
use super::{fail, Exit};

/// Read live state, compare it with the config and print the ordered actions.
///
/// Example: `dwlink plan -f dwlink.yaml --out reset.plan`
/// Example (a fleet, 2 of 3 CI jobs): `dwlink plan -f envs/ --shard 2/3 --detailed-exitcode`
/// Example (no tenant needed): `dwlink plan -f examples/scenario-2-organization-mismatch.yaml --emulator examples/fixtures/scenario-2-organization-mismatch.yaml`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Also save the plan, for `dwlink show` and `dwlink apply PLAN` (a directory for a fleet:
    /// one `<config file name>.plan` per config).
    #[arg(long, value_name = "PLAN")]
    out: Option<PathBuf>,
    /// `markdown`: a report for a change ticket, a pull request or `$GITHUB_STEP_SUMMARY`
    /// (`json` is `--json`).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    format: Option<crate::render::view::Format>,
    /// Print the plan as JSON (format_version "1") instead of the human view; a fleet prints an
    /// array.
    #[arg(long)]
    json: bool,
    /// Exit 0 when there are no changes, 2 when there are (1 on errors).
    #[arg(long)]
    detailed_exitcode: bool,
    #[command(flatten)]
    state: StateDirArgs,
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

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    ui.set_state_dir(&args.state.state_dir);
    if !args.fleet.is_single() {
        return fleet::run(args, ui);
    }
    let Some(desired) = live::load_config(args.fleet.files.first().map(PathBuf::as_path), ui)
    else {
        return Exit::Error;
    };
    let plan = match live::block_on(async {
        let session = live::connect(&args.live, &desired, ui).await?;
        dwlink_core::plan::busy::read_and_plan(&session, &desired).await
    }) {
        Ok(p) => p,
        Err(p) => return fail(ui, &p),
    };
    if let Some(out) = &args.out {
        if let Err(p) = planfile::write(out, &plan) {
            ui.problem(&p);
            return Exit::Error;
        }
    }
    let view = view::choose_format(args.format());
    view.plan(ui, &plan);
    if let Some(out) = &args.out {
        let apply = super::rerun::Command::new(&["dwlink", "apply"])
            .arg(out)
            .live(&args.live)
            .record(ui);
        view.saved(ui, out, &apply.to_string());
    }
    super::journal::notice(
        ui,
        &desired,
        args.fleet.files.first().map(PathBuf::as_path),
        &args.live,
        &args.state.state_dir,
    );
    exit_for(&[Ok(plan)], args.detailed_exitcode)
}

fn exit_for(results: &[Result<Plan, Problem>], detailed: bool) -> Exit {
    if results
        .iter()
        .any(|r| r.as_ref().map_or(true, Plan::has_errors))
    {
        Exit::Error
    } else if detailed
        && results
            .iter()
            .any(|r| r.as_ref().is_ok_and(Plan::has_changes))
    {
        Exit::Changes
    } else {
        Exit::Ok
    }
}
