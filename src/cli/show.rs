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
    /// `markdown`: a report for a change ticket, a pull request or `$GITHUB_STEP_SUMMARY`
    /// (`json` is `--json`).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    format: Option<crate::render::view::Format>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
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
    // "Make a new plan" hints name this file, so they run as printed (with dwlink.yaml).
    let again = super::rerun::Command::new(&["dwlink", "plan"]).flag("--out", &args.plan);
    for placeholder in ["dwlink plan -f CONFIG --out PLAN", "dwlink plan --out PLAN"] {
        ui.fill_hint(placeholder, &again.to_string());
    }
    match planfile::read(&args.plan) {
        Ok(plan) => {
            view::choose_format(args.format()).saved_plan(ui, &plan);
            Exit::Ok
        }
        Err(p) => {
            ui.problem(&p);
            Exit::Error
        }
    }
}
