//! Command-line edge: clap definitions, settings resolved once, one file per command. Each
//! command turns its arguments into a call to the library and maps the outcome to an exit code.

mod apply;
mod completions;
mod emulator;
mod fleet;
mod import;
mod live;
mod man;
mod plan;
mod restore;
mod schema;
mod show;
mod snapshot;
mod status;
mod validate;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

use crate::render::ui::{Ui, UiSettings};

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
  dwlink show reset.plan
  dwlink apply reset.plan --confirm contoso-uat
  dwlink status -f dwlink.yaml --json
  dwlink import -f dwlink.yaml --out imported.yaml
  dwlink snapshot -f dwlink.yaml --out rehearsal.yaml
  dwlink restore .dwlink/backups/contoso-uat-20261123T093000.000Z.json
  dwlink schema > dwlink.schema.json
  dwlink completions bash > /etc/bash_completion.d/dwlink
  dwlink man > dwlink.1
  dwlink emulator --fixture examples/fixtures/quickstart.yaml";

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(validate::Args),
    Plan(plan::Args),
    Apply(apply::Args),
    Show(show::Args),
    Status(status::Args),
    Import(import::Args),
    Restore(restore::Args),
    Schema(schema::Args),
    Snapshot(snapshot::Args),
    Completions(completions::Args),
    Man(man::Args),
    Emulator(emulator::Args),
}

pub fn main() -> ExitCode {
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
    let mut ui = Ui::new(settings);
    run(cli.command, &mut ui).into()
}

/// Report a problem that ends the command.
pub(crate) fn fail(ui: &mut Ui, problem: &dwlink_core::diag::Problem) -> Exit {
    ui.problem(problem);
    Exit::Error
}

pub fn run(command: Command, ui: &mut Ui) -> Exit {
    match command {
        Command::Validate(a) => validate::run(a, ui),
        Command::Plan(a) => plan::run(a, ui),
        Command::Apply(a) => apply::run(a, ui),
        Command::Show(a) => show::run(a, ui),
        Command::Status(a) => status::run(a, ui),
        Command::Import(a) => import::run(a, ui),
        Command::Restore(a) => restore::run(a, ui),
        Command::Schema(a) => schema::run(a, ui),
        Command::Snapshot(a) => snapshot::run(a, ui),
        Command::Completions(a) => completions::run(a, ui),
        Command::Man(a) => man::run(a, ui),
        Command::Emulator(a) => emulator::run(a, ui),
    }
}

/// A command's result: printed through the Ui, or written (atomically) to `out` with a status
/// line saying where it went.
fn write_output(ui: &mut Ui, out: Option<&std::path::Path>, text: &str, what: &str) -> Exit {
    match out {
        None => {
            ui.out(text);
            Exit::Ok
        }
        Some(path) => match dwlink_core::plan::planfile::write_atomic(path, text.as_bytes()) {
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
