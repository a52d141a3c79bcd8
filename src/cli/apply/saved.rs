//! `apply PLAN`: the saved plan is read, its identifiers and declaration checked before any of
//! them names a file, and the plan that runs is the one dwlink makes again from the declaration
//! and the live state, which must be the file itself.

use std::path::Path;

use crate::render::shell::Shell;
use dwlink_core::apply::{guard, journal};
use dwlink_core::diag::{Problem, Source};
use dwlink_core::model::desired::{Desired, EnvironmentType};
use dwlink_core::model::live::LiveState;
use dwlink_core::plan::{planfile, signature, verify_saved, Plan};

use super::super::live;
use super::super::{fail, Exit};
use super::refuse;

/// A saved plan and the text it was read from (for carets in refusals).
pub(super) struct Saved {
    pub plan: Plan,
    pub source: Source,
}

/// The saved plan and the declaration it is applied with: with `-f CONFIG`, that config, which
/// must be the one the plan was made from; without, the plan's own, once it has passed the
/// validator.
pub(super) fn load(
    path: &Path,
    config: Option<&Path>,
    ui: &mut Shell,
) -> Result<(Saved, Desired), Exit> {
    let bytes = planfile::read_bytes(path).map_err(|p| fail(ui, &p))?;
    let key = signature::Key::from_env().map_err(|p| fail(ui, &p))?;
    signature::verify(&path.display().to_string(), &bytes, key.as_ref())
        .map_err(|p| refuse(ui, p))?;
    let plan = planfile::parse(path, &bytes).map_err(|p| fail(ui, &p))?;
    let source = Source::json(
        path.display().to_string(),
        String::from_utf8_lossy(&bytes).into_owned(),
    );
    guard::made_by_this_version(&plan).map_err(|r| refuse(ui, r.to_problem()))?;
    verify_saved::identifiers(&plan).map_err(|p| {
        let at = ["plan_id", "desired"]
            .iter()
            .find(|m| p.message.contains(&format!("`{m}`")))
            .and_then(|m| verify_saved::locate(source.text(), m));
        let p = match at {
            Some(span) => p
                .in_source(&source)
                .at(span, "not an identifier dwlink writes"),
            None => p,
        };
        refuse(ui, p)
    })?;
    let desired = match config {
        Some(file) => {
            let d = live::load_config(Some(file), ui).ok_or(Exit::Error)?;
            guard::saved_plan_with_config(&plan, &d).map_err(|r| refuse(ui, r.to_problem()))?;
            verify_saved::same_declaration(&plan, &d).map_err(|p| refuse(ui, p))?;
            d
        }
        None => plan.desired.clone(),
    };
    Ok((Saved { plan, source }, desired))
}

/// The plan to run: made now from the declaration and live state, refused when live state moved
/// since the file was made (stale) or when the file is not that plan (tampered). Without a config
/// the declaration is the file's, so an environment the admin API lists as production is
/// protected whatever it says.
pub(super) fn rederive(
    saved: &Saved,
    desired: &Desired,
    live: &LiveState,
    with_config: bool,
) -> Result<Plan, Problem> {
    guard::still_fresh(&saved.plan, live).map_err(|r| r.to_problem())?;
    let plan = verify_saved::rederive_in(&saved.plan, desired, live, Some(&saved.source))?;
    production_guard(desired, live, &plan, with_config)?;
    Ok(plan)
}

/// Without a config the declaration is the file's word only: an environment the admin API lists
/// as production is protected whatever it says.
pub(super) fn production_guard(
    desired: &Desired,
    live: &LiveState,
    plan: &Plan,
    with_config: bool,
) -> Result<(), Problem> {
    if with_config || live.finance_operations.environment_type != EnvironmentType::Production {
        return Ok(());
    }
    let mut guarded = desired.clone();
    guarded.protected = true;
    guard::may_execute(&guarded, plan).map_err(|r| {
        let p = r.to_problem();
        Problem {
            message: format!(
                "{} (the Power Platform admin API lists it as a production environment, whatever the plan file declares)",
                p.message
            ),
            ..p
        }
    })
}

/// Whether `saved` is the plan of the environment's unfinished apply, which `apply PLAN` then
/// finishes from the journal and live state as `apply -f` does. The journal names the plan by
/// id and digest: a file with that id but other contents is refused.
pub(super) fn resumes(saved: &Plan, journal_dir: &Path) -> Result<bool, Problem> {
    match journal::find_unfinished(journal_dir, &saved.environment.name) {
        Some(u) if u.plan_id == saved.plan_id => {
            if u.plan_digest.as_deref() == Some(verify_saved::digest(saved).as_str()) {
                Ok(true)
            } else {
                Err(Problem::error(
                    verify_saved::TAMPERED,
                    format!(
                        "the plan file has the id of the unfinished apply {} but is not the plan that apply was made from; nothing was changed",
                        saved.plan_id
                    ),
                )
                .help("finish that apply with the original plan file, or with `dwlink apply -f CONFIG`"))
            }
        }
        _ => Ok(false),
    }
}

/// The journal of `saved` when its apply ran to the end (or was finished by a later apply), so
/// that running the same `apply PLAN` again says so instead of calling the plan stale.
pub(super) fn applied_before(saved: &Plan, journal_dir: &Path) -> Option<std::path::PathBuf> {
    // `plan_id` was checked to be a UUID before it names a file.
    let path = journal_dir.join(format!("{}.jsonl", saved.plan_id));
    let entries = journal::read(&path).ok()?;
    let begun = entries.first().is_some_and(|e| {
        e.event == journal::Event::Begin && e.environment == saved.environment.name
    });
    let finished = entries.iter().any(|e| {
        e.event == journal::Event::Completed
            && !e
                .detail
                .as_deref()
                .is_some_and(|d| d.starts_with("discarded"))
    });
    (begun && finished).then_some(path)
}
