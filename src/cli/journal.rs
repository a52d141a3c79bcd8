//! `dwlink journal list` and `dwlink journal discard ID`: the journals of unfinished applies, and
//! ending one that must not be finished. Also the notice `plan` and `status` print when an
//! environment has an unfinished apply.

use std::path::{Path, PathBuf};

use crate::render::shell::Shell;
use dwlink_core::apply::confirm::{self, ConfirmSettings};
use dwlink_core::apply::journal;
use dwlink_core::apply::journal_admin::{self, Listed};
use dwlink_core::diag::Problem;
use dwlink_core::model::desired::Desired;

use super::live::LiveArgs;
use super::rerun::{self, Command};
use super::{fail, Exit};

/// List the applies journaled in the state directory, or end an unfinished one.
///
/// Example: `dwlink journal list`
/// Example: `dwlink journal discard 2b1c4a2e-7f0d-4c1e-9a51-3f7e0d2c9b10 --confirm contoso-uat`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
    /// Where backups and journals are kept.
    #[arg(
        long,
        value_name = "DIR",
        env = "DWLINK_STATE_DIR",
        default_value = rerun::DEFAULT_STATE_DIR,
        global = true
    )]
    state_dir: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Every journal, most recent first: environment, state, steps done, where it stopped.
    List {
        /// One JSON array of the journals.
        #[arg(long)]
        json: bool,
    },
    /// End an unfinished apply without finishing it: the next apply plans from live state alone.
    /// Nothing is undone and no file is deleted (its backups stay).
    Discard {
        /// The journal's id (`dwlink journal list`).
        #[arg(value_name = "ID")]
        id: String,
        /// Confirm by naming the journal's environment instead of typing it at the prompt.
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
        /// Do not ask.
        #[arg(long)]
        auto_approve: bool,
    },
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let dir = args.state_dir.join("journal");
    match args.command {
        Sub::List { json } => list(&dir, json, ui),
        Sub::Discard {
            id,
            confirm,
            auto_approve,
        } => discard(&dir, &id, confirm.as_deref(), auto_approve, ui),
    }
}

fn list(dir: &Path, json: bool, ui: &mut Shell) -> Exit {
    let all = journal_admin::list(dir);
    if json {
        ui.out(&serde_json::to_string_pretty(&all).unwrap_or_default());
        return Exit::Ok;
    }
    if all.is_empty() {
        ui.out(&format!("No journals in {}.", dir.display()));
        return Exit::Ok;
    }
    let text: Vec<String> = all.iter().map(line).collect();
    ui.out(&text.join("\n"));
    Exit::Ok
}

fn line(j: &Listed) -> String {
    let mut s = format!(
        "{}  {}  {}  {} of {} steps  begun {}",
        j.plan_id, j.environment, j.state, j.steps_done, j.steps, j.began_at
    );
    if let Some(at) = &j.stopped_at {
        s.push_str(&format!("\n    stopped: {at}"));
    }
    if let Some(d) = &j.detail {
        s.push_str(&format!("\n    {d}"));
    }
    for b in &j.backups {
        s.push_str(&format!("\n    backup: {b}"));
    }
    s
}

fn discard(
    dir: &Path,
    id: &str,
    confirm: Option<&str>,
    auto_approve: bool,
    ui: &mut Shell,
) -> Exit {
    let u = match journal_admin::find(dir, id) {
        Ok(u) => u,
        Err(p) => return fail(ui, &p),
    };
    let settings = ConfirmSettings {
        environment: &u.environment,
        auto_approve,
        confirm,
        interactive: ui.settings().interactive,
    };
    let approved = match confirm::decide(&settings) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            ui.status(&format!(
                "The unfinished apply {} of {} did {} of {} steps; discarding it ends it without finishing it (nothing is undone).",
                u.plan_id,
                u.environment,
                u.done.len(),
                u.actions.len()
            ));
            let answer = ui.prompt(&format!(
                "Type the environment name ({}) to discard its unfinished apply",
                u.environment
            ));
            confirm::check_answer(&settings, answer.as_deref()).map(|_| ())
        }
        Err(p) => Err(p),
    };
    if let Err(p) = approved {
        ui.problem(&p);
        return Exit::Refused;
    }
    match journal_admin::discard(&u, "ended by `dwlink journal discard`") {
        Ok(()) => {
            ui.status(&format!(
                "Discarded the unfinished apply {} of {}. The next apply plans from live state alone.",
                u.plan_id, u.environment
            ));
            for b in &u.backups {
                ui.status(&format!("Rows it deleted are still in: {b}"));
            }
            Exit::Ok
        }
        Err(e) => fail(
            ui,
            &Problem::error(
                "dwlink::journal::io",
                format!("cannot write {}: {e}", u.path.display()),
            )
            .help("check the permissions of the state directory"),
        ),
    }
}

/// What `plan` and `status` say when `desired`'s environment has an unfinished apply: which
/// command finishes it and which ends it.
pub(super) fn notice(
    ui: &Shell,
    desired: &Desired,
    file: Option<&Path>,
    live: &LiveArgs,
    state_dir: &Path,
) {
    let dir = state_dir.join("journal");
    let Some(u) = journal::find_unfinished(&dir, &desired.name) else {
        return;
    };
    let finish = Command::new(&["dwlink", "apply"])
        .files(file.as_slice())
        .live(live)
        .record(ui)
        .state_dir(state_dir);
    let discard = Command::new(&["dwlink", "journal", "discard"])
        .arg(&u.plan_id)
        .state_dir(state_dir);
    ui.status(&format!(
        "An apply of {} did not finish ({} of {} steps done, begun {}; journal {}). Finish it with `{finish}`, or end it without finishing with `{discard}`.",
        u.environment,
        u.done.len(),
        u.actions.len(),
        u.began_at,
        u.path.display()
    ));
}
