use std::path::PathBuf;

use crate::render::shell::{Shell, Style};
use dwlink_core::config;

use super::Exit;

/// Check config files offline and report every problem at once.
///
/// Example: `dwlink validate -f examples/scenario-1-same-organization.yaml`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config files to check (default: dwlink.yaml). Repeat -f or list them after the command.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    #[arg(value_name = "FILE", hide = true)]
    positional: Vec<PathBuf>,
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let mut files = args.files;
    files.extend(args.positional);
    if files.is_empty() {
        files.push(PathBuf::from(config::DEFAULT_FILE));
    }
    let mut failed = 0;
    for file in &files {
        let loaded = config::load(file);
        ui.problems(&loaded.problems);
        let errors = loaded.problems.iter().filter(|p| p.is_error()).count();
        let warnings = loaded.problems.iter().count() - errors;
        let shown = file.display();
        if errors > 0 {
            failed += 1;
            let line = format!(
                "✗ {shown}: {errors} error{}{}",
                plural(errors),
                if warnings > 0 {
                    format!(", {warnings} warning{}", plural(warnings))
                } else {
                    String::new()
                }
            );
            ui.status(&ui.paint(Style::Bad, &line));
        } else {
            let line = if warnings > 0 {
                format!(
                    "✓ {shown} is valid ({warnings} warning{})",
                    plural(warnings)
                )
            } else {
                format!("✓ {shown} is valid")
            };
            ui.status(&ui.paint(Style::Good, &line));
        }
    }
    if failed > 0 {
        Exit::Error
    } else {
        Exit::Ok
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
