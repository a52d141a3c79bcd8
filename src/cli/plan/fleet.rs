//! `dwlink plan` of a fleet: every environment read and planned concurrently (bounded), each
//! plan shown, then the summary table.

use std::path::{Path, PathBuf};

use crate::render::{shell::Shell, view};
use dwlink_core::diag::Problem;
use dwlink_core::model::desired::Desired;
use dwlink_core::plan::{planfile, Plan};

use super::super::fleet;
use super::super::live;
use super::super::{fail, Exit};
use super::{exit_for, Args};

/// Plan every environment concurrently (bounded), print each plan, then the summary table.
pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    let files = match args.fleet.resolve() {
        Ok(f) => f,
        Err(p) => return fail(ui, &p),
    };
    if files.is_empty() {
        ui.status("This shard holds no config; nothing to plan.");
        return Exit::Ok;
    }
    // Each config's plan file is named after it, and two that would share one are refused
    // before anything is read.
    let plan_files = match &args.out {
        Some(dir) => match fleet::plan_files(dir, &files) {
            Ok(p) => Some(p),
            Err(p) => return fail(ui, &p),
        },
        None => None,
    };
    let configs: Vec<(PathBuf, Option<Desired>)> = files
        .iter()
        .map(|f| (f.clone(), live::load_config(Some(f), ui)))
        .collect();
    let rt = match live::runtime() {
        Ok(rt) => rt,
        Err(p) => return fail(ui, &p),
    };
    let results: Vec<(PathBuf, Result<Plan, Problem>)> = rt.block_on(async {
        let route = match live::route(&args.live, ui).await {
            Ok(mut r) => {
                // The admin API's list is the tenant's: read once for the whole fleet.
                r.settings.shared_admin_list = Some(dwlink_http::SharedAdminList::default());
                // Tokens for resources every environment shares (the management service, the
                // admin API) are fetched once for the run.
                r.settings.shared_auth = Some(dwlink_http::signin::auth::SharedAuth::default());
                r
            }
            Err(p) => {
                return configs
                    .into_iter()
                    .map(|(f, _)| (f, Err(p.clone())))
                    .collect()
            }
        };
        fleet::plan_all(&route, configs, args.fleet.parallelism).await
    });

    let mut plans = Vec::new();
    let mut rows = Vec::new();
    let mut saved = Vec::new();
    for (i, (file, result)) in results.iter().enumerate() {
        match result {
            Ok(plan) => {
                if let (Some(dir), Some(target)) = (&args.out, plan_files.as_ref().map(|p| &p[i])) {
                    match save_in(dir, target, plan) {
                        Ok(()) => saved.push(target.clone()),
                        Err(p) => ui.problem(&p),
                    }
                }
                rows.push((file.clone(), fleet::Row::of(plan)));
                plans.push((file.as_path(), plan));
            }
            Err(p) => {
                ui.problem(p);
                rows.push((file.clone(), fleet::Row::failed(file, p)));
            }
        }
    }
    let format = args.format();
    view::choose_format(format).plans(ui, &plans);
    // The table is a result for a person; JSON and Markdown keep stdout to their documents.
    if format == view::Format::Human {
        ui.out(&fleet::table(&rows));
    } else {
        ui.status(&fleet::table(&rows));
    }
    for target in saved {
        ui.status(&format!("Saved {}.", target.display()));
    }
    let results: Vec<Result<Plan, Problem>> = results.into_iter().map(|(_, r)| r).collect();
    exit_for(&results, args.detailed_exitcode)
}

fn save_in(dir: &Path, target: &Path, plan: &Plan) -> Result<(), Problem> {
    dwlink_core::fsutil::create_private_dir(dir).map_err(|e| {
        Problem::error(
            "dwlink::plan::write",
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    planfile::write(target, plan)
}
