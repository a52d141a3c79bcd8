use std::path::PathBuf;

use clap::CommandFactory;

use crate::render::shell::Shell;
use dwlink_core::diag::Problem;

use super::{Cli, Exit};

/// Print the man page (roff), generated from the same definitions as `--help`.
///
/// Example: `dwlink man > dwlink.1 && man ./dwlink.1`
/// Example (one page per command): `dwlink man --out-dir /usr/local/share/man/man1`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write `dwlink.1` and one `dwlink-COMMAND.1` page per command into DIR instead of
    /// printing `dwlink.1`.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let cmd = Cli::command();
    if let Some(dir) = &args.out_dir {
        return match clap_mangen::generate_to(cmd, dir) {
            Ok(()) => {
                ui.status(&format!("Wrote the man pages to {}.", dir.display()));
                Exit::Ok
            }
            Err(e) => {
                ui.problem(
                    &Problem::error(
                        "dwlink::output::unwritable",
                        format!("cannot write man pages to {}: {e}", dir.display()),
                    )
                    .help("create the directory first, or print the main page with `dwlink man > dwlink.1`"),
                );
                Exit::Error
            }
        };
    }
    let mut buf = Vec::new();
    // Rendering into memory cannot fail on I/O; an error here would be a clap_mangen bug.
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut buf) {
        ui.problem(&Problem::error(
            "dwlink::internal::man",
            format!("cannot render the man page: {e}"),
        ));
        return Exit::Error;
    }
    ui.out(&String::from_utf8_lossy(&buf));
    Exit::Ok
}
