//! Command-line edge: clap definitions, settings resolved once, one file per command. Each
//! command turns its arguments into a call to the library and maps the outcome to an exit code.

mod apply;
mod completions;
#[cfg(feature = "emulator")]
mod conformance;
mod doctor;
#[cfg(feature = "emulator")]
mod emulator;
mod fleet;
mod import;
mod interrupt;
mod journal;
mod live;
mod login;
mod man;
mod plan;
mod rerun;
mod restore;
mod schema;
mod show;
mod snapshot;
mod status;
mod validate;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

use crate::record::Recording;
use crate::render::shell::{Shell, UiSettings};

/// Exit codes of spec section 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Error = 1,
    Changes = 2,
    Refused = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// One line per command, so `dwlink --help` (and the man page) shows how each is used; every
/// command's own `--help` has more.
const EXAMPLES: &str = "Examples:
  dwlink validate -f dwlink.yaml
  dwlink plan -f dwlink.yaml --out reset.plan
  dwlink plan -f dwlink.yaml --record first-contact.har
  dwlink show reset.plan
  dwlink apply reset.plan --confirm contoso-uat
  dwlink login -f dwlink.yaml
  dwlink status -f dwlink.yaml --json
  dwlink doctor -f dwlink.yaml --input=false
  dwlink import -f dwlink.yaml --out imported.yaml
  dwlink snapshot -f dwlink.yaml --out rehearsal.yaml
  dwlink restore .dwlink/backups/contoso-uat-20261123T093000.000Z.json
  dwlink journal list
  dwlink schema > dwlink.schema.json
  dwlink completions bash > /etc/bash_completion.d/dwlink
  dwlink man > dwlink.1
  dwlink emulator --fixture examples/fixtures/quickstart.yaml
  dwlink conformance first-contact.har --emulator snapshot.yaml";

#[derive(Debug, Parser)]
#[command(
    name = "dwlink",
    version,
    about = "Plan and apply Dynamics 365 dual-write links like infrastructure",
    long_about = "dwlink reads a declared dual-write link (YAML), compares it with the live F&O, Dataverse and \
dual-write service state, and shows every destructive step before doing it.",
    propagate_version = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Plain output without colours (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Only results and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More detail about what dwlink does.
    #[arg(long, short, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// `--input=false`: never prompt (CI); commands that need an answer refuse instead.
    #[arg(long, global = true, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub input: bool,
    /// Write every HTTP exchange of a live command to FILE, an HTTP Archive 1.2 (HAR) that
    /// browser developer tools open; credentials, tokens, cookies and secret-bearing columns are
    /// redacted (docs/recording.md). The file is readable by you only.
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(validate::Args),
    Plan(plan::Args),
    Apply(apply::Args),
    Show(show::Args),
    Status(status::Args),
    Doctor(doctor::Args),
    Import(import::Args),
    Restore(restore::Args),
    Journal(journal::Args),
    Login(login::Args),
    Schema(schema::Args),
    Snapshot(snapshot::Args),
    Completions(completions::Args),
    Man(man::Args),
    #[cfg(feature = "emulator")]
    Emulator(emulator::Args),
    #[cfg(feature = "emulator")]
    Conformance(conformance::Args),
}

impl Command {
    /// `--json`: results and every error go to stdout as JSON.
    fn json(&self) -> bool {
        match self {
            Command::Plan(a) => a.json(),
            Command::Apply(a) => a.json(),
            Command::Show(a) => a.json(),
            Command::Status(a) => a.json(),
            Command::Doctor(a) => a.json(),
            Command::Restore(a) => a.json(),
            _ => false,
        }
    }
}

pub fn main() -> ExitCode {
    // Before anything can panic: a panic's text is scrubbed like every other line dwlink prints.
    dwlink_core::panic_report::install("dwlink");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Error
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return code.into();
        }
    };
    let settings = UiSettings::resolve(cli.no_color, cli.quiet, cli.verbose, cli.input);
    let mut ui = Shell::new(settings).with_recording(cli.record.map(Recording::new));
    ui.set_json_errors(cli.command.json());
    interrupt::install(&ui);
    run(cli.command, &mut ui).into()
}

/// The whole command line in-process, writing to `out` and `err` instead of the terminal (no
/// colour, no prompts): how tests run dwlink without spawning it. The working directory and the
/// environment are the process's.
pub fn run_with<I, T>(
    args: I,
    out: impl std::io::Write + Send + 'static,
    err: impl std::io::Write + Send + 'static,
) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            let (mut to, code) = if e.use_stderr() {
                (Box::new(err) as Box<dyn std::io::Write>, Exit::Error)
            } else {
                (Box::new(out) as Box<dyn std::io::Write>, Exit::Ok)
            };
            let _ = to.write_all(text.as_bytes());
            return code;
        }
    };
    let verbosity = UiSettings::resolve(true, cli.quiet, cli.verbose, false).verbosity;
    let mut shell =
        Shell::from_write(out, err, verbosity).with_recording(cli.record.map(Recording::new));
    shell.set_json_errors(cli.command.json());
    shell.set_very_verbose(cli.verbose > 1 && !cli.quiet);
    run(cli.command, &mut shell)
}

/// Report a problem that ends the command.
pub(crate) fn fail(ui: &mut Shell, problem: &dwlink_core::diag::Problem) -> Exit {
    ui.problem(problem);
    Exit::Error
}

pub fn run(command: Command, ui: &mut Shell) -> Exit {
    let exit = dispatch(command, ui);
    match ui.recording().map(|r| r.finish()) {
        Some(Ok(done)) => ui.status(&done),
        Some(Err(problem)) => ui.problem(&problem),
        None => {}
    }
    exit
}

fn dispatch(command: Command, ui: &mut Shell) -> Exit {
    match command {
        Command::Validate(a) => validate::run(a, ui),
        Command::Plan(a) => plan::run(a, ui),
        Command::Apply(a) => apply::run(a, ui),
        Command::Show(a) => show::run(a, ui),
        Command::Status(a) => status::run(a, ui),
        Command::Doctor(a) => doctor::run(a, ui),
        Command::Import(a) => import::run(a, ui),
        Command::Restore(a) => restore::run(a, ui),
        Command::Journal(a) => journal::run(a, ui),
        Command::Login(a) => login::run(a, ui),
        Command::Schema(a) => schema::run(a, ui),
        Command::Snapshot(a) => snapshot::run(a, ui),
        Command::Completions(a) => completions::run(a, ui),
        Command::Man(a) => man::run(a, ui),
        #[cfg(feature = "emulator")]
        Command::Emulator(a) => emulator::run(a, ui),
        #[cfg(feature = "emulator")]
        Command::Conformance(a) => conformance::run(a, ui),
    }
}

/// A command's result: printed through the Shell, or written (atomically) to `out` with a status
/// line saying where it went.
fn write_output(ui: &mut Shell, out: Option<&std::path::Path>, text: &str, what: &str) -> Exit {
    match out {
        None => {
            ui.out(text);
            Exit::Ok
        }
        // The terminal's text passes the scrubber in the Shell; a file's does here.
        Some(path) => match dwlink_core::plan::planfile::write_atomic(
            path,
            dwlink_core::scrub::held_values(text).as_bytes(),
        ) {
            Ok(()) => {
                ui.status(&format!("Wrote {what} to {}.", path.display()));
                Exit::Ok
            }
            Err(e) => {
                ui.problem(
                    &dwlink_core::diag::Problem::error(
                        "dwlink::output::unwritable",
                        format!("cannot write {}: {e}", path.display()),
                    )
                    .help("check that the directory exists and is writable"),
                );
                Exit::Error
            }
        },
    }
}
