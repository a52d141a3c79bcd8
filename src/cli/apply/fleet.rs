//! A fleet's apply: every environment read first (the overview), then each planned afresh and
//! applied in turn with its own confirmation.

use crate::render::shell::Shell;
use dwlink_core::apply::guard::Refusal;

use super::super::fleet;
use super::super::live;
use super::super::{fail, Exit};
use super::{one, refuse, Args};

/// Apply each environment of a fleet in turn: each is planned from fresh live state right before
/// its own confirmation, so no answer is given to a plan that aged while others ran. One
/// environment's failure does not stop the rest; the exit code is the worst result.
pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    if args.confirm.is_some() {
        return refuse(ui, Refusal::ConfirmFleet.to_problem());
    }
    let files = match args.fleet.resolve() {
        Ok(f) => f,
        Err(p) => return fail(ui, &p),
    };
    let rt = match live::runtime() {
        Ok(rt) => rt,
        Err(p) => return fail(ui, &p),
    };
    let configs: Vec<_> = files
        .iter()
        .map(|f| (f.clone(), live::load_config(Some(f), ui)))
        .collect();
    // Two configs of one environment would reset it twice, the second from a plan the first
    // made stale: refused before anything is read.
    if let Err(p) = fleet::one_config_per_environment(&configs) {
        return refuse(ui, p);
    }
    rt.block_on(async {
        let route = match live::route(&args.live, ui).await {
            Ok(r) => r,
            Err(p) => return fail(ui, &p),
        };
        // Read every environment first, concurrently, so the whole fleet's scope is on screen
        // before the first question; each is then planned again, fresh, right before its own.
        let overview = fleet::plan_all(&route, configs.clone(), args.fleet.parallelism).await;
        let summary: Vec<(std::path::PathBuf, fleet::Row)> = overview
            .iter()
            .map(|(f, r)| {
                let row = match r {
                    Ok(plan) => fleet::Row::of(plan),
                    Err(p) => fleet::Row::failed(f, p),
                };
                (f.clone(), row)
            })
            .collect();
        ui.status(&format!("Fleet overview:\n{}", fleet::table(&summary)));
        let mut rows = Vec::new();
        let mut worst = Exit::Ok;
        for ((file, desired), (_, read)) in configs.into_iter().zip(overview) {
            let Some(desired) = desired else {
                rows.push(fleet_row("-", &file, Exit::Error, false));
                worst = worse(worst, Exit::Error);
                continue;
            };
            if let Err(p) = read {
                ui.problem(&p);
                rows.push(fleet_row(&desired.name, &file, Exit::Error, false));
                worst = worse(worst, Exit::Error);
                continue;
            }
            ui.status(&format!("── {} ({}) ──", desired.name, file.display()));
            if args.json {
                let mut tag = serde_json::Map::new();
                tag.insert("environment".into(), desired.name.clone().into());
                tag.insert("file".into(), file.display().to_string().into());
                ui.set_json_tag(tag);
            }
            let mut single = args.clone();
            single.fleet.files = vec![file.clone()];
            let mut applied = false;
            let exit = one::apply(&single, &route, None, desired.clone(), ui, &mut applied).await;
            rows.push(fleet_row(&desired.name, &file, exit, applied));
            worst = worse(worst, exit);
        }
        // The fleet's result, on stdout with the rest of the results.
        if args.json {
            ui.set_json_tag(serde_json::Map::new());
            ui.status(&fleet::result_table(&rows));
            let results: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({"environment": r.environment, "file": r.file, "result": r.result})
                })
                .collect();
            ui.json_line(&serde_json::json!({"event": "fleet", "results": results}));
        } else {
            ui.out(&fleet::result_table(&rows));
        }
        worst
    })
}

fn worse(a: Exit, b: Exit) -> Exit {
    if (b as u8) > (a as u8) {
        b
    } else {
        a
    }
}

fn fleet_row(
    environment: &str,
    file: &std::path::Path,
    exit: Exit,
    applied: bool,
) -> fleet::Outcome {
    let result = match exit {
        Exit::Ok if applied => "applied",
        Exit::Ok | Exit::Changes => "nothing to do",
        Exit::Error => "failed",
        Exit::Refused => "refused",
    };
    fleet::Outcome {
        environment: environment.to_string(),
        file: file.display().to_string(),
        result: result.to_string(),
    }
}
