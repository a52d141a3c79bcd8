use std::path::PathBuf;

use crate::render::{shell::Shell, view};
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
            view::choose(args.json).plan(ui, &plan);
            Exit::Ok
        }
        Err(p) => {
            ui.problem(&p);
            Exit::Error
        }
    }
}
