//! Command-line edge: clap definitions, settings resolved once, one file per command. Each
//! command turns its arguments into a call to the library and maps the outcome to an exit code.

mod completions;
mod emulator;
mod schema;
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

#[derive(Debug, Parser)]
#[command(
    name = "dwlink",
    version,
    about = "Plan and apply Dynamics 365 dual-write links like infrastructure",
    long_about = "dwlink reads a declared dual-write link (YAML), compares it with the live F&O, Dataverse and \
dual-write service state, and shows every destructive step before doing it.",
    propagate_version = true
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
    Schema(schema::Args),
    Completions(completions::Args),
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

pub fn run(command: Command, ui: &mut Ui) -> Exit {
    match command {
        Command::Validate(a) => validate::run(a, ui),
        Command::Schema(a) => schema::run(a, ui),
        Command::Completions(a) => completions::run(a, ui),
        Command::Emulator(a) => emulator::run(a, ui),
    }
}
