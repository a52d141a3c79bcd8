//! One environment's apply: fresh or saved plan checked against live state, guards,
//! confirmation, then the executor with Ctrl-C watched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::render::apply_view::EventPrinter;
use crate::render::plan_view::tally;
use crate::render::shell::Shell;
use crate::render::view;
use dwlink_core::apply::confirm::{self, ConfirmSettings};
use dwlink_core::apply::executor::{ApplyError, Executor};
use dwlink_core::apply::guard;
use dwlink_core::apply::journal;
use dwlink_core::apply::lock::{self, LockError};
use dwlink_core::apply::resume;
use dwlink_core::diag::Problem;
use dwlink_core::plan::Plan;

use super::super::live;
use super::super::{fail, Exit};
use super::{refuse, Args};

pub(super) async fn apply(
    args: &Args,
    route: &live::Route,
    saved: Option<super::saved::Saved>,
    desired: dwlink_core::model::desired::Desired,
    ui: &mut Shell,
    applied: &mut bool,
) -> Exit {
    // One view for the whole apply: the plan shown before confirmation (human only: the JSON
    // view is the event stream) and the events while it runs.
    let view = view::choose_format(args.format());
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
    let with_config = !args.fleet.files.is_empty();
    // A saved plan whose apply was interrupted is finished as `apply -f` finishes one.
    let resume_saved = match &saved {
        Some(s) => match super::saved::resumes(&s.plan, &journal_dir) {
            Ok(r) => r,
            Err(p) => return refuse(ui, p),
        },
        None => false,
    };
    if let Some(done) = saved
        .as_ref()
        .filter(|_| !resume_saved)
        .and_then(|s| super::saved::applied_before(&s.plan, &journal_dir))
    {
        if !Plan::make(&desired, &state).has_changes() {
            ui.status(&format!(
                "This plan was applied already (journal {}) and live state matches its declaration: nothing to apply.",
                done.display()
            ));
            return Exit::Ok;
        }
    }
    let mut unfinished = None;
    let plan = match saved {
        Some(saved) if !resume_saved => {
            match super::saved::rederive(&saved, &desired, &state, with_config) {
                Ok(plan) => plan,
                Err(p) => return refuse(ui, p),
            }
        }
        _ => match resume::prepare(&desired, &state, &journal_dir) {
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
        view.plan(ui, &plan);
    }
    // Error findings refuse even a plan that withheld its actions because of them: "nothing to
    // apply" would hide why.
    if let Err(r) = guard::may_execute(&desired, &plan) {
        return refuse(ui, r.to_problem());
    }
    if !plan.has_changes() {
        if let Some(u) = &unfinished {
            let _ = journal::supersede(u, &plan.plan_id, "nothing was left to do");
        }
        if args.json {
            ui.json_line(
                &serde_json::json!({"event": "summary", "steps": 0, "detail": "nothing to apply"}),
            );
        } else {
            ui.out("Nothing to apply.");
        }
        return Exit::Ok;
    }
    if resume_saved {
        if let Err(p) = super::saved::production_guard(&desired, &state, &plan, with_config) {
            return refuse(ui, p);
        }
    }

    if let Err(p) = confirmed(args, &desired.name, &plan, ui) {
        return refuse(ui, p);
    }
    if let Some(u) = &unfinished {
        let _ = journal::supersede(u, &plan.plan_id, "finished by this apply");
    }

    super::super::interrupt::set(super::super::interrupt::Phase::Applying);
    let cancel = Arc::new(AtomicBool::new(false));
    let printer = Arc::new(view.events(ui).with_rerun(rerun(args, ui)));
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
    super::super::interrupt::set(super::super::interrupt::Phase::Reading);
    printer.finished(&result);
    match result {
        Ok(_) => {
            *applied = true;
            Exit::Ok
        }
        Err(ApplyError::Refused(_)) => Exit::Refused,
        Err(_) => Exit::Error,
    }
}

/// Flags settle it, or the user types the environment's name at the prompt.
fn confirmed(args: &Args, environment: &str, plan: &Plan, ui: &Shell) -> Result<(), Problem> {
    let settings = ConfirmSettings {
        environment,
        auto_approve: args.auto_approve,
        confirm: args.confirm.as_deref(),
        interactive: ui.settings().interactive,
    };
    if confirm::decide(&settings)?.is_some() {
        return Ok(());
    }
    // The rendered plan ends with its tally; only the JSON view has not shown one yet.
    if args.json {
        ui.status(&tally(plan));
    }
    super::super::interrupt::set(super::super::interrupt::Phase::Prompt);
    let answer = ui.prompt(&format!(
        "Type the environment name ({environment}) to apply this plan"
    ));
    confirm::check_answer(&settings, answer.as_deref()).map(|_| ())
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

/// The command that finishes this apply: the same one, as typed.
fn rerun(args: &Args, ui: &Shell) -> String {
    let mut c = super::super::rerun::Command::new(&["dwlink", "apply"]);
    if let Some(plan) = &args.plan {
        c = c.arg(plan);
    }
    c = c
        .files(&args.fleet.files)
        .live(&args.live)
        .state_dir(&args.state_dir);
    if let Some(name) = &args.confirm {
        c = c.flag("--confirm", name);
    }
    if args.auto_approve {
        c = c.arg("--auto-approve");
    }
    if args.json {
        c = c.arg("--json");
    }
    c.record(ui).to_string()
}
