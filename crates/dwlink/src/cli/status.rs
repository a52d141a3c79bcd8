use std::path::PathBuf;

use serde_json::json;

use crate::render::{shell::Shell, status_view};
use dwlink_core::plan::Plan;

use super::live::{self, LiveArgs};
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
    live: LiveArgs,
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
    if args.json {
        let doc = json!({
            "live": state,
            "live_fingerprint": plan.live_fingerprint,
            "scenario": plan.scenario,
            "findings": plan.findings,
        });
        ui.out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let color = ui.color_out();
        ui.out(&status_view::render(&state, &plan, color));
    }
    Exit::Ok
}
