//! Finishing an interrupted apply: the destructive part is re-planned from live state (so it
//! never repeats against a target that moved), the rest is carried over from the journal.

use crate::diag::Problem;
use crate::model::desired::Desired;
use crate::plan::diff::Restoring;
use crate::plan::{Action, ActionKind, Plan, PlannedAction};

use super::journal::Unfinished;

/// The declaration to re-plan from. Once the unfinished apply's reset is journaled as done,
/// a DualWriteLink's "reset always" must not plan a second reset that would undo the steps after
/// it: from then on only a live link that still differs calls for one (which is how a
/// RestoreCleanup plans anyway: see [`super::verify::settled`]).
pub fn replan_desired(desired: &Desired, unfinished: &Unfinished) -> Desired {
    let reset_done = unfinished
        .done
        .iter()
        .any(|&i| unfinished.actions.get(i).map(Action::kind) == Some(ActionKind::ResetLink));
    if reset_done {
        super::verify::settled(desired)
    } else {
        desired.clone()
    }
}

/// Fold what `unfinished` still had to do into `fresh`. Returns a line per carried step.
pub fn merge(fresh: &mut Plan, unfinished: &Unfinished) -> Result<Vec<String>, Problem> {
    let pending: Vec<(usize, &Action)> = unfinished
        .actions
        .iter()
        .enumerate()
        .filter(|(i, _)| !unfinished.done.contains(i))
        .collect();

    let journaled_target = unfinished.actions.iter().find_map(|a| match a {
        Action::ResetLink {
            organization_url, ..
        } => Some(organization_url.clone()),
        _ => None,
    });
    // A fresh plan withheld by its errors still shows where its reset would link.
    let planned = fresh.actions.iter().map(|a| &a.action);
    let fresh_target = planned.chain(&fresh.withheld).find_map(|a| match a {
        Action::ResetLink {
            organization_url, ..
        } => Some(organization_url.clone()),
        _ => None,
    });
    if let (Some(was), Some(now)) = (&journaled_target, &fresh_target) {
        if was != now {
            return Err(Problem::error(
                "dwlink::apply::target_changed",
                format!(
                    "the unfinished apply {} was relinking to {was}, but a reset now would link to {now}",
                    unfinished.plan_id
                ),
            )
            .help(format!("someone changed the link since: review with `dwlink plan` and `dwlink status`; if that change is meant to stay, end the unfinished apply with `dwlink journal discard {}` and apply again", unfinished.plan_id)));
        }
    }

    let mut notes = Vec::new();
    for (_, action) in pending {
        let kind = action.kind();
        // Destructive steps are never carried: only a fresh plan may decide them again. A
        // pending verify is carried so the resumed apply ends with the same check.
        let carry = matches!(
            kind,
            ActionKind::ApplySolutions | ActionKind::StartMaps | ActionKind::Verify
        );
        if carry && !fresh.actions.iter().any(|a| a.action.kind() == kind) {
            notes.push(format!(
                "carried over from the unfinished apply: {} {}",
                kind.name(),
                crate::plan::describe::describe(action)
            ));
            fresh.actions.push(PlannedAction::from(action.clone()));
        }
    }
    if !notes.is_empty()
        && !fresh
            .actions
            .iter()
            .any(|a| a.action.kind() == ActionKind::Verify)
    {
        fresh.actions.push(PlannedAction::from(Action::Verify));
    }
    fresh.actions.sort_by_key(|a| a.action.kind());
    fresh.recount();
    Ok(notes)
}

/// A line per step of `plan` that finishes what the unfinished apply's solutions step started:
/// the solutions, the short form's starts, and the steps of the declared maps that are gone
/// until the solutions are applied (see [`Restoring`]).
fn restored(
    plan: &Plan,
    restoring: &Restoring,
    desired: &Desired,
    live: &crate::model::live::LiveState,
) -> Vec<String> {
    let live_maps = live.connection.as_ref().map_or(&[][..], |c| &c.maps[..]);
    let gone: Vec<&str> = desired
        .maps
        .iter()
        .map(|d| d.name.as_str())
        .chain(desired.after_reset.start_maps.iter().map(String::as_str))
        .filter(|n| !live_maps.iter().any(|m| m.name.eq_ignore_ascii_case(n)))
        .collect();
    let names = |maps: &[String]| {
        maps.iter()
            .any(|m| gone.iter().any(|g| g.eq_ignore_ascii_case(m)))
    };
    plan.actions
        .iter()
        .filter(|a| match &a.action {
            Action::ApplySolutions { .. } => !restoring.solutions.is_empty(),
            Action::SwitchMapVersion { map, .. } | Action::SetIntegrationKeys { map, .. } => {
                names(std::slice::from_ref(map))
            }
            Action::RefreshTables { maps }
            | Action::ResumeMaps { maps }
            | Action::PauseMaps { maps }
            | Action::StartMaps { maps, .. } => names(maps),
            _ => false,
        })
        .map(|a| {
            format!(
                "carried over from the unfinished apply: {} {}",
                a.action.kind().name(),
                crate::plan::describe::describe(&a.action)
            )
        })
        .collect()
}

/// The plan an apply without a saved plan runs: made from live state, and, when an earlier apply
/// of this environment did not finish, the rest of that apply folded in.
#[derive(Debug)]
pub struct Prepared {
    pub plan: Plan,
    pub unfinished: Option<Unfinished>,
    /// One line per step carried over from the unfinished apply.
    pub carried: Vec<String>,
}

pub fn prepare(
    desired: &Desired,
    live: &crate::model::live::LiveState,
    journal_dir: &std::path::Path,
) -> Result<Prepared, Problem> {
    let found = super::journal::find_unfinished(journal_dir, &desired.name);
    let basis = match &found {
        Some(u) => replan_desired(desired, u),
        None => desired.clone(),
    };
    let restoring = found
        .as_ref()
        .and_then(|u| Restoring::from_unfinished(&u.actions, &u.done, u.in_flight));
    let mut plan = Plan::make_restoring(&basis, live, restoring.as_ref());
    let mut carried = match &restoring {
        Some(r) => restored(&plan, r, desired, live),
        None => Vec::new(),
    };
    if let Some(u) = &found {
        carried.extend(merge(&mut plan, u)?);
    }
    Ok(Prepared {
        plan,
        unfinished: found,
        carried,
    })
}
