use std::path::PathBuf;

use crate::render::restore_view;
use crate::render::shell::{paint, Shell, Style};
use dwlink_core::apply::backup;
use dwlink_core::apply::confirm::{self, ConfirmSettings};
use dwlink_core::apply::lock::{self, LockError};
use dwlink_core::restore;

use super::live::{self, LiveArgs};
use super::{fail, Exit};

/// Put back rows that an earlier apply deleted, from its backup. Rows that exist are left alone,
/// so running it twice is harmless.
///
/// Example: `dwlink restore .dwlink/backups/contoso-uat-20261123T093000.000Z.json --confirm contoso-uat`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A backup file written by `dwlink apply`.
    backup: PathBuf,
    /// The config with the environment's URLs and credentials (default: dwlink.yaml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Do not ask; put the rows back as shown. Meant for CI.
    #[arg(long)]
    auto_approve: bool,
    /// Confirm by naming the environment instead of typing it at the prompt.
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
    /// Put back rows that sync into this other Dataverse organization (its host, e.g.
    /// `contoso-prod.crm.dynamics.com`) without being asked to type it; once per host.
    #[arg(long, value_name = "HOST")]
    allow_foreign: Vec<String>,
    /// Print JSON on stdout: `{"event":"plan",…}` with the rows per table, then
    /// `{"event":"summary",…}` (errors as `{"error":…}`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    live: LiveArgs,
}

impl Args {
    pub(super) fn json(&self) -> bool {
        self.json
    }
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let backup = match backup::read(&args.backup) {
        Ok(b) => b,
        Err(p) => return fail(ui, &p),
    };
    let Some(desired) = live::load_config(args.file.as_deref(), ui) else {
        return Exit::Error;
    };
    if let Err(p) = restore::check_environment(&backup, &desired) {
        ui.problem(&p);
        return Exit::Refused;
    }
    let rt = match live::runtime() {
        Ok(rt) => rt,
        Err(p) => return fail(ui, &p),
    };
    rt.block_on(async {
        let session = match live::connect(&args.live, &desired, ui).await {
            Ok(s) => s,
            Err(p) => return fail(ui, &p),
        };
        // A restore writes the same tables an apply clears: they exclude each other.
        let _lock = match lock::acquire(&desired.finance_operations.url, &desired.name, "restore") {
            Ok(l) => l,
            Err(LockError::Busy(r)) => {
                ui.problem(&r.to_problem());
                return Exit::Refused;
            }
            Err(LockError::Unavailable(p)) => return fail(ui, &p),
        };
        let plan = match restore::plan(&session, &backup).await {
            Ok(p) => p,
            Err(p) => return fail(ui, &p),
        };
        let total = plan.rows();
        if args.json {
            ui.out(&restore_view::plan_json(&plan).to_string());
        } else {
            let shown = restore_view::render(&plan);
            if !shown.is_empty() {
                ui.out(&shown);
            }
        }
        if total == 0 {
            if args.json {
                ui.out(&restore_view::nothing_json(&args.backup).to_string());
            } else {
                ui.out("Every backed-up row is present; nothing to restore.");
            }
            return Exit::Ok;
        }
        let settings = ConfirmSettings {
            environment: &desired.name,
            auto_approve: args.auto_approve,
            confirm: args.confirm.as_deref(),
            interactive: ui.settings().interactive,
        };
        let confirmed = match confirm::decide(&settings) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                super::interrupt::set(super::interrupt::Phase::Prompt);
                let answer = ui.prompt(&format!(
                    "Type the environment name ({}) to put back {} rows",
                    desired.name,
                    restore_view::thousands(total)
                ));
                confirm::check_answer(&settings, answer.as_deref()).map(|_| ())
            }
            Err(p) => Err(p),
        };
        if let Err(p) = confirmed {
            ui.problem(&p);
            return Exit::Refused;
        }
        super::interrupt::set(super::interrupt::Phase::Restoring);
        if let Err(p) = foreign_confirmed(&args, &desired, &plan, ui) {
            ui.problem(&p);
            return Exit::Refused;
        }
        let report = restore::execute(&session, &plan).await;
        if !args.json {
            ui.out(&restore_view::outcomes(&report));
        }
        for p in report.tables.iter().filter_map(|t| t.problem.as_ref()) {
            ui.problem(p);
        }
        let restored = report.restored();
        if args.json {
            ui.out(&restore_view::summary_json(&report, &args.backup).to_string());
        }
        if report.failed() == 0 {
            if !args.json {
                let text = format!(
                    "Restored {} rows from {}",
                    restore_view::thousands(restored),
                    args.backup.display()
                );
                ui.out(&paint(ui.color_out(), Style::Good, &text));
            }
            Exit::Ok
        } else {
            if !args.json {
                ui.out(&format!(
                    "{} rows were put back; {} of {} tables failed (above). Fix what they say, then run restore again: rows already back are left alone.",
                    restore_view::thousands(restored),
                    report.failed(),
                    report.tables.len()
                ));
            }
            Exit::Error
        }
    })
}

/// Rows that sync into another organization go back only when that organization's host is
/// named: typed at the prompt or passed with `--allow-foreign HOST`. `--auto-approve` and
/// `--confirm` name the environment, not where its data would flow.
fn foreign_confirmed(
    args: &Args,
    desired: &dwlink_core::model::desired::Desired,
    plan: &restore::RestorePlan<'_>,
    ui: &Shell,
) -> Result<(), dwlink_core::diag::Problem> {
    let foreign = restore::foreign_hosts(plan, desired);
    let declared = desired.dataverse.url.host_str().unwrap_or_default();
    for (host, rows) in &foreign {
        ui.status(&ui.paint(
            Style::Warn,
            &format!(
                "{rows} of the rows to put back sync into {host}, not into the declared {declared}: once restored, data written here flows into that organization again."
            ),
        ));
    }
    for host in restore::unconfirmed_hosts(&foreign, &args.allow_foreign) {
        let refused = |why: String| {
            dwlink_core::diag::Problem::error("dwlink::restore::foreign", why).help(format!(
                "type `{host}` at the prompt, or pass `--allow-foreign {host}` if those rows must sync there again; nothing was restored"
            ))
        };
        if !ui.settings().interactive {
            return Err(refused(format!(
                "rows to put back sync into {host}, and there is no terminal to ask"
            )));
        }
        let answer = ui.prompt(&format!(
            "Type the host ({host}) to put back rows that sync into it"
        ));
        if !answer.is_some_and(|a| a.trim().eq_ignore_ascii_case(host)) {
            return Err(refused(format!(
                "restore cancelled: the answer was not {host}"
            )));
        }
    }
    Ok(())
}
