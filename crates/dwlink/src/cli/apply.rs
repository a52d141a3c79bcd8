use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::render::apply_view::EventPrinter;
use crate::render::plan_view::{render, tally};
use crate::render::shell::Shell;
use dwlink_core::apply::confirm::{self, ConfirmSettings};
use dwlink_core::apply::executor::{ApplyError, Executor};
use dwlink_core::apply::guard::{self, Refusal};
use dwlink_core::apply::journal;
use dwlink_core::apply::lock::{self, LockError};
use dwlink_core::apply::resume;
use dwlink_core::diag::Problem;
use dwlink_core::plan::{planfile, Plan};

use super::fleet::{self, FleetArgs};
use super::live::{self, LiveArgs};
use super::{fail, Exit};

/// Execute a plan after confirmation: backup first, journal every step, verify at the end.
///
/// Example: `dwlink apply -f dwlink.yaml` (plans, shows the plan, asks you to type the name)
/// Example (CI): `dwlink apply reset.plan --confirm contoso-uat --input=false`
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A saved plan from `dwlink plan --out` (apply exactly it, or refuse if live state moved).
    #[arg(value_name = "PLAN")]
    plan: Option<PathBuf>,
    /// The configs to plan from when no PLAN is given (default: dwlink.yaml); several -f or a
    /// directory apply a fleet, one environment after another, each with its own confirmation.
    #[command(flatten)]
    fleet: FleetArgs,
    /// Do not ask; apply as shown. Meant for CI.
    #[arg(long)]
    auto_approve: bool,
    /// Confirm by naming the environment instead of typing it at the prompt.
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
    /// Emit one JSON object per step on stdout.
    #[arg(long)]
    json: bool,
    /// Where backups and journals are kept.
    #[arg(long, value_name = "DIR", default_value = ".dwlink")]
    state_dir: PathBuf,
    #[command(flatten)]
    live: LiveArgs,
}

fn refuse(ui: &mut Shell, p: Problem) -> Exit {
    ui.problem(&p);
    Exit::Refused
}

pub(super) fn run(args: Args, ui: &mut Shell) -> Exit {
    if args.plan.is_none() && !args.fleet.is_single() {
        return run_fleet(args, ui);
    }
    let saved = match &args.plan {
        Some(path) => match planfile::read(path) {
            Ok(p) => Some(p),
            Err(p) => return fail(ui, &p),
        },
        None => None,
    };
    let desired = match &saved {
        Some(plan) => {
            if let Some(file) = args.fleet.files.first() {
                let Some(d) = live::load_config(Some(file), ui) else {
                    return Exit::Error;
                };
                match guard::saved_plan_with_config(plan, &d) {
                    Ok(guarded) => guarded,
                    Err(r) => return refuse(ui, r.to_problem()),
                }
            } else {
                plan.desired.clone()
            }
        }
        None => match live::load_config(args.fleet.files.first().map(PathBuf::as_path), ui) {
            Some(d) => d,
            None => return Exit::Error,
        },
    };
    if let Some(Err(r)) = saved.as_ref().map(guard::made_by_this_version) {
        return refuse(ui, r.to_problem());
    }
    let rt = match live::runtime() {
        Ok(rt) => rt,
        Err(p) => return fail(ui, &p),
    };
    rt.block_on(async move {
        let route = match live::route(&args.live, ui).await {
            Ok(r) => r,
            Err(p) => return fail(ui, &p),
        };
        apply(&args, &route, saved, desired, ui).await
    })
}

/// Apply each environment of a fleet in turn: each is planned from fresh live state right before
/// its own confirmation, so no answer is given to a plan that aged while others ran. One
/// environment's failure does not stop the rest; the exit code is the worst result.
fn run_fleet(args: Args, ui: &mut Shell) -> Exit {
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
    rt.block_on(async {
        let route = match live::route(&args.live, ui).await {
            Ok(r) => r,
            Err(p) => return fail(ui, &p),
        };
        // Read every environment first, concurrently, so the whole fleet's scope is on screen
        // before the first question; each is then planned again, fresh, right before its own.
        let configs: Vec<_> = files
            .iter()
            .map(|f| (f.clone(), live::load_config(Some(f), ui)))
            .collect();
        let overview = fleet::plan_all(&route, configs.clone(), args.fleet.parallelism).await;
        let summary: Vec<fleet::Row> = overview
            .iter()
            .map(|(f, r)| match r {
                Ok(plan) => fleet::Row::of(plan),
                Err(p) => fleet::Row::failed(f, p),
            })
            .collect();
        ui.status(&format!("Fleet overview:\n{}", fleet::table(&summary)));
        let mut rows = Vec::new();
        let mut worst = Exit::Ok;
        for ((file, desired), (_, read)) in configs.into_iter().zip(overview) {
            let Some(desired) = desired else {
                rows.push(fleet_row(&file.display().to_string(), Exit::Error));
                worst = worse(worst, Exit::Error);
                continue;
            };
            if let Err(p) = read {
                ui.problem(&p);
                rows.push(fleet_row(&desired.name, Exit::Error));
                worst = worse(worst, Exit::Error);
                continue;
            }
            ui.status(&format!("── {} ({}) ──", desired.name, file.display()));
            let mut one = args.clone();
            one.fleet.files = vec![file.clone()];
            let exit = apply(&one, &route, None, desired.clone(), ui).await;
            rows.push(fleet_row(&desired.name, exit));
            worst = worse(worst, exit);
        }
        ui.status(&fleet::result_table(&rows));
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

fn fleet_row(environment: &str, exit: Exit) -> (String, String) {
    let result = match exit {
        Exit::Ok => "ok (applied, or nothing to do)",
        Exit::Error => "failed (exit 1)",
        Exit::Changes => "changes",
        Exit::Refused => "refused (exit 3)",
    };
    (environment.to_string(), result.to_string())
}

async fn apply(
    args: &Args,
    route: &live::Route,
    saved: Option<Plan>,
    desired: dwlink_core::model::desired::Desired,
    ui: &mut Shell,
) -> Exit {
    let session = match route.session(&desired) {
        Ok(s) => s,
        Err(p) => return fail(ui, &p),
    };
    // Held until this environment's apply returns: one apply per environment at a time.
    let _lock = match lock::acquire(&desired.finance_operations.url, &desired.name, "apply") {
        Ok(l) => l,
        Err(LockError::Busy(r)) => return refuse(ui, r.to_problem()),
        Err(LockError::Unavailable(p)) => return fail(ui, &p),
    };
    let state = match session.read_live().await {
        Ok(s) => s,
        Err(p) => return fail(ui, &p),
    };
    let journal_dir = args.state_dir.join("journal");
    let mut unfinished = None;
    let plan = match saved {
        Some(plan) => match guard::still_fresh(&plan, &state) {
            Ok(()) => plan,
            Err(r) => return refuse(ui, r.to_problem()),
        },
        None => match resume::prepare(&desired, &state, &journal_dir) {
            Ok(prepared) => {
                if let Some(u) = &prepared.unfinished {
                    ui.status(&format!(
                        "Found an unfinished apply ({}); planning the rest from live state.",
                        u.path.display()
                    ));
                    if !u.backups.is_empty() {
                        ui.status(&format!("Rows it deleted are in: {}", u.backups.join(", ")));
                    }
                }
                prepared.carried.iter().for_each(|n| ui.status(n));
                unfinished = prepared.unfinished;
                prepared.plan
            }
            Err(p) => return refuse(ui, p),
        },
    };

    if !args.json {
        let color = ui.color_out();
        ui.out(&render(&plan, color));
    }
    if !plan.has_changes() {
        if let Some(u) = &unfinished {
            let _ = journal::supersede(u, &plan.plan_id, "nothing was left to do");
        }
        ui.status("Nothing to apply.");
        return Exit::Ok;
    }
    if let Err(r) = guard::may_execute(&desired, &plan) {
        return refuse(ui, r.to_problem());
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
            // The rendered plan ends with its tally; only the JSON view has not shown one yet.
            if args.json {
                ui.status(&tally(&plan));
            }
            let q = format!(
                "Type the environment name ({}) to apply this plan",
                desired.name
            );
            let answer = ui.prompt(&q);
            if let Err(p) = confirm::check_answer(&settings, answer.as_deref()) {
                return refuse(ui, p);
            }
        }
        Err(p) => return refuse(ui, p),
    }
    if let Some(u) = &unfinished {
        let _ = journal::supersede(u, &plan.plan_id, "finished by this apply");
    }

    let cancel = Arc::new(AtomicBool::new(false));
    let printer = Arc::new(EventPrinter::new(args.json, ui));
    let ctrl_c = tokio::spawn(watch_ctrl_c(cancel.clone(), printer.clone()));
    let on_event = |e| printer.event(e);
    let executor = Executor {
        ops: &session.ops,
        state_dir: &args.state_dir,
        cancel: &cancel,
        on_event: &on_event,
    };
    let result = executor.run(&plan).await;
    ctrl_c.abort();
    match result {
        Ok(outcome) => {
            let text = printer.summary(&outcome);
            if !text.is_empty() {
                ui.status(&text);
            }
            Exit::Ok
        }
        Err(ApplyError::Failed {
            step,
            problem,
            journal,
            backup,
        }) => {
            ui.problem(&problem);
            ui.status(&format!(
                "Step {} failed. Journal: {}{}. Run the same `dwlink apply` again to finish from live state.",
                step + 1,
                journal.display(),
                backup.map(|b| format!("; backup: {}", b.display())).unwrap_or_default()
            ));
            Exit::Error
        }
        Err(ApplyError::Interrupted {
            completed,
            journal,
            backup,
        }) => {
            ui.status(&format!(
                "Interrupted after {completed} step(s). Journal: {}{}. Run the same `dwlink apply` again to finish.",
                journal.display(),
                backup.map(|b| format!("; backup: {}", b.display())).unwrap_or_default()
            ));
            Exit::Error
        }
        Err(ApplyError::Io(p)) => {
            ui.problem(&p);
            Exit::Error
        }
        Err(ApplyError::Refused(r)) => refuse(ui, r.to_problem()),
    }
}

/// Ctrl-C once: finish the current step, then stop (the executor checks `cancel` between steps).
/// Twice: stop at once; the journal makes that as safe as a crash.
async fn watch_ctrl_c(cancel: Arc<AtomicBool>, printer: Arc<EventPrinter>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    cancel.store(true, Ordering::SeqCst);
    printer.interrupt_notice(false);
    if tokio::signal::ctrl_c().await.is_ok() {
        printer.interrupt_notice(true);
        std::process::exit(Exit::Error as i32);
    }
}
