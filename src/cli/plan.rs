use crate::apply::ops::Operations;
use std::path::PathBuf;

use crate::plan::{planfile, Plan};
use crate::render::{plan_view, ui::Ui};

use super::live::{self, LiveArgs};
use super::Exit;

/// Read live state, compare it with the config and print the ordered actions.
///
/// Example: `dwlink plan -f dwlink.yaml --out reset.plan`
/// Example (no tenant needed): `dwlink plan -f examples/scenario-2-organization-mismatch.yaml --emulator examples/fixtures/scenario-2-organization-mismatch.yaml`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config (default: dwlink.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Also save the plan, for `dwlink show` and `dwlink apply PLAN`.
    #[arg(long, value_name = "PLAN")]
    out: Option<PathBuf>,
    /// Print the plan as JSON (format_version "1") instead of the human view.
    #[arg(long)]
    json: bool,
    /// Exit 0 when there are no changes, 2 when there are (1 on errors).
    #[arg(long)]
    detailed_exitcode: bool,
    #[command(flatten)]
    live: LiveArgs,
}

pub fn run(args: Args, ui: &mut Ui) -> Exit {
    let Some(desired) = live::load_config(args.file.as_deref(), ui) else {
        return Exit::Error;
    };
    let plan = match live::runtime().and_then(|rt| {
        rt.block_on(async {
            let session = live::connect(&args.live, &desired, ui).await?;
            let state = session.read_live().await?;
            Ok(Plan::make(&desired, &state))
        })
    }) {
        Ok(p) => p,
        Err(p) => {
            ui.problem(&p);
            return Exit::Error;
        }
    };
    if let Some(out) = &args.out {
        if let Err(p) = planfile::write(out, &plan) {
            ui.problem(&p);
            return Exit::Error;
        }
    }
    if args.json {
        ui.out(&serde_json::to_string_pretty(&plan).unwrap_or_default());
    } else {
        let color = ui.color();
        ui.out(&plan_view::render(&plan, color));
        if let Some(out) = &args.out {
            ui.status(&format!(
                "Saved the plan to {}. Apply exactly this plan with `dwlink apply {}`.",
                out.display(),
                out.display()
            ));
        }
    }
    if plan.has_errors() {
        Exit::Error
    } else if args.detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    }
}
