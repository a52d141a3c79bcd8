use std::path::PathBuf;

use crate::render::{plan_view, shell::Shell};
use dwlink_core::plan::planfile;

use super::Exit;

/// Render a saved plan.
///
/// Example: `dwlink show reset.plan --json`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file written by `dwlink plan --out`.
    plan: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    match planfile::read(&args.plan) {
        Ok(plan) => {
            if args.json {
                ui.out(&serde_json::to_string_pretty(&plan).unwrap_or_default());
            } else {
                let color = ui.color_out();
                ui.out(&plan_view::render(&plan, color));
            }
            Exit::Ok
        }
        Err(p) => {
            ui.problem(&p);
            Exit::Error
        }
    }
}
