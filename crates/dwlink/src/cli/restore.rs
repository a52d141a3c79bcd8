use std::collections::HashSet;
use std::path::PathBuf;

use crate::render::plan_view::thousands;
use crate::render::ui::{Style, Ui};
use dwlink_core::apply::backup;
use dwlink_core::apply::confirm::{self, ConfirmSettings};
use dwlink_core::diag::Problem;

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
    #[arg(long)]
    auto_approve: bool,
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
    #[command(flatten)]
    live: LiveArgs,
}

pub fn run(args: Args, ui: &mut Ui) -> Exit {
    let backup = match backup::read(&args.backup) {
        Ok(b) => b,
        Err(p) => return fail(ui, &p),
    };
    let Some(desired) = live::load_config(args.file.as_deref(), ui) else {
        return Exit::Error;
    };
    if backup.header.environment != desired.name {
        ui.problem(
            &Problem::error(
                "dwlink::restore::environment_mismatch",
                format!(
                    "the backup is of {}, the config declares {}",
                    backup.header.environment, desired.name
                ),
            )
            .help("pass the config of the environment the backup was taken from"),
        );
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
        // The restore's own plan: which backed-up rows are missing now.
        let mut missing = Vec::new();
        for t in &backup.tables {
            let mut present = HashSet::new();
            let mut sink = |row: serde_json::Value| -> std::io::Result<()> {
                if let Some(k) = session.row_key(t.service, &t.entity_set, &row) {
                    present.insert(k);
                }
                Ok(())
            };
            if let Err(p) = session.read_rows(t.service, &t.entity_set, &mut sink).await {
                ui.problem(&p);
                return Exit::Error;
            }
            let rows: Vec<serde_json::Value> = t
                .rows
                .iter()
                .filter(|r| session.row_key(t.service, &t.entity_set, r).is_none_or(|k| !present.contains(&k)))
                .cloned()
                .collect();
            ui.out(&format!(
                "  + {:<36} {:>9} of {:>9} rows to put back",
                t.table,
                thousands(rows.len()),
                thousands(t.rows.len())
            ));
            missing.push((t, rows));
        }
        let total: usize = missing.iter().map(|(_, r)| r.len()).sum();
        if total == 0 {
            ui.status("Every backed-up row is present; nothing to restore.");
            return Exit::Ok;
        }
        let settings = ConfirmSettings {
            environment: &desired.name,
            auto_approve: args.auto_approve,
            confirm: args.confirm.as_deref(),
            interactive: ui.settings().interactive,
        };
        match confirm::decide(&settings) {
            Ok(Some(_)) => {}
            Ok(None) => {
                let answer = ui.prompt(&format!(
                    "Type the environment name ({}) to put back {total} rows",
                    desired.name
                ));
                if let Err(p) = confirm::check_answer(&settings, answer.as_deref()) {
                    ui.problem(&p);
                    return Exit::Refused;
                }
            }
            Err(p) => {
                ui.problem(&p);
                return Exit::Refused;
            }
        }
        let mut restored = 0;
        for (t, rows) in &missing {
            match session.create_rows(t.service, &t.entity_set, rows, &|_| {}).await {
                Ok(n) => restored += n,
                Err(p) => {
                    ui.problem(&p);
                    ui.status(&format!("{restored} rows were put back before the failure; run restore again to finish."));
                    return Exit::Error;
                }
            }
        }
        let line = ui.paint(Style::Good, &format!("Restored {restored} rows from {}", args.backup.display()));
        ui.status(&line);
        Exit::Ok
    })
}
