use std::path::PathBuf;

use crate::render::shell::{Shell, Style};
use dwlink_core::config;

use super::Exit;

/// Check config files offline and report every problem at once.
///
/// Example: `dwlink validate -f examples/scenario-1-same-organization.yaml`
/// Example (a directory, as plan takes it): `dwlink validate -f examples/`
/// Example (from a pipe): `generate-config | dwlink validate -f -`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config files or directories of them to check (default: dwlink.yaml); `-` reads one
    /// config from stdin. Repeat -f or list them after the command.
    #[arg(short = 'f', long = "file", value_name = "FILE|DIR|-")]
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
    // Directories expand to their configs, as for plan; `-` stays stdin.
    let mut expanded = Vec::new();
    for f in files {
        if f.as_os_str() == "-" {
            expanded.push(f);
            continue;
        }
        match dwlink_core::fleet::resolve(std::slice::from_ref(&f), None) {
            Ok(found) => expanded.extend(found),
            Err(p) => {
                ui.problem(&p);
                return Exit::Error;
            }
        }
    }
    let mut failed = 0;
    for file in &expanded {
        let loaded = if file.as_os_str() == "-" {
            from_stdin()
        } else {
            config::load(file)
        };
        ui.problems(&loaded.problems);
        let errors = loaded.problems.iter().filter(|p| p.is_error()).count();
        let warnings = loaded.problems.iter().count() - errors;
        let shown = if file.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            file.display().to_string()
        };
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

/// One config read from stdin, within the same byte limit as a file.
fn from_stdin() -> config::Loaded {
    use std::io::Read;
    let limits = config::load::CONFIG_LIMITS;
    let mut bytes = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(limits.max_bytes + 1)
        .read_to_end(&mut bytes);
    let source = read
        .map_err(|e| {
            dwlink_core::diag::Problem::error("dwlink::config::unreadable", format!("<stdin>: {e}"))
        })
        .and_then(|_| config::load::source_from_bytes("<stdin>", bytes, limits));
    match source {
        Ok(source) => config::from_source(source),
        Err(p) => config::Loaded {
            source: None,
            desired: None,
            problems: p.into(),
        },
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
