use std::path::PathBuf;

use crate::render::{shell::Shell, view};
use dwlink_core::plan::Plan;

use super::live::{self, LiveArgs, StateDirArgs};
use super::{fail, Exit};

/// Show the live state, read-only: link, maps, key-table row counts, findings.
///
/// Example: `dwlink status -f dwlink.yaml --json`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config naming the environments (default: dwlink.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print JSON: the live model, its fingerprint, the scenario and findings.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateDirArgs,
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
    let state = match live::block_on(async {
        let session = live::connect(&args.live, &desired, ui).await?;
        session.read_live().await
    }) {
        Ok(s) => s,
        Err(p) => return fail(ui, &p),
    };
    let plan = Plan::make(&desired, &state);
    view::choose(args.json).status(ui, &state, &plan);
    super::journal::notice(
        ui,
        &desired,
        args.file.as_deref(),
        &args.live,
        &args.state.state_dir,
    );
    Exit::Ok
}
