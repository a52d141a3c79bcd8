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
        let page = dir.join("dwlink.1");
        return match clap_mangen::generate_to(cmd, dir).and_then(|()| append_sections(&page)) {
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
    buf.extend_from_slice(SECTIONS.as_bytes());
    ui.out(&String::from_utf8_lossy(&buf));
    Exit::Ok
}

fn append_sections(page: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(page)?
        .write_all(SECTIONS.as_bytes())
}

/// What clap does not know: exit codes, the environment dwlink reads and the files it writes.
const SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success; for \fBplan \-\-detailed\-exitcode\fR, no changes.
.TP
\fB1\fR
An error: invalid input, an unreachable or failing service, a failed step, a plan with error findings.
.TP
\fB2\fR
\fBplan \-\-detailed\-exitcode\fR: the plan has changes.
.TP
\fB3\fR
Refused: no confirmation, a protected environment, a stale or foreign plan, another apply running.
.SH ENVIRONMENT
.TP
\fBDWLINK_CLIENT_SECRET\fR
The client secret, under the name the config's \fBauth.client_secret_env\fR gives (this is the examples' name).
.TP
\fBDWLINK_STATE_DIR\fR
Where \fBapply\fR keeps backups and journals (as \fB\-\-state\-dir\fR; default \fI.dwlink\fR).
.TP
\fBDWLINK_LOCK_DIR\fR
Where the per\-environment apply locks are kept.
.TP
\fBNO_COLOR\fR
When set and not empty, no colours.
.TP
\fBXDG_CACHE_HOME\fR, \fBXDG_STATE_HOME\fR
Base directories of the token cache and of the locks.
.SH FILES
.TP
\fIdwlink.yaml\fR
The config read when no \fB\-f\fR is given.
.TP
\fI.dwlink/backups/\fR
Every row an apply deleted, one JSON file per apply; holds connection strings: keep it private.
.TP
\fI.dwlink/journal/\fR
One journal per apply, for resuming an interrupted one.
.TP
\fI$XDG_CACHE_HOME/dwlink/tokens.json\fR (else \fI~/.cache/dwlink/tokens.json\fR)
The management\-service sign\-in of \fBdwlink login\fR; \fIemulator\-tokens.json\fR beside it for emulators.
.TP
\fI$XDG_STATE_HOME/dwlink/locks/\fR (else \fI~/.local/state/dwlink/locks/\fR)
One lock file per environment while an apply or restore runs.
"#;
