use clap::CommandFactory;
use clap_complete::Shell as TargetShell;

use crate::render::shell::Shell;

use super::{Cli, Exit};

/// Print shell completions.
///
/// Example: `dwlink completions bash > /etc/bash_completion.d/dwlink`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, powershell or elvish.
    shell: TargetShell,
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "dwlink", &mut buf);
    ui.out(&String::from_utf8_lossy(&buf));
    Exit::Ok
}
