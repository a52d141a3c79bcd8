//! An unfinished apply that reset the link but did not apply the solutions: the reset removed
//! the maps (unified-operations `data-entities/dual-write/reset.md`) and only applying the
//! solutions brings them back, so live state has nothing to plan a declared map against. What
//! the solutions will leave was known to that apply's plan, made before the reset from the maps
//! as they were: its map steps still to run are that plan's answer, and the re-plan takes them
//! for every declared map that is gone, next to the solutions step. One apply then converges.

use crate::diag::Severity;
use crate::model::desired::DesiredMap;
use crate::plan::action::Action;

use super::super::finding::{Finding, FindingCode as C};
use super::maps::MapPlan;

/// What the unfinished apply still had to do once its reset was done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restoring {
    /// The solutions its `apply-solutions` step applies.
    pub solutions: Vec<String>,
    /// Its map steps not journaled as done, in its order.
    pub steps: Vec<Action>,
}

impl Restoring {
    /// From an unfinished apply's actions, the indexes journaled as done and the one in flight:
    /// `Some` when its reset is done or in flight and its `apply-solutions` is not done. A reset
    /// in flight may not have taken effect: then the maps are still there and nothing is taken
    /// for them (or the link still differs and the re-plan resets, which drops this).
    pub fn from_unfinished(
        actions: &[Action],
        done: &[usize],
        in_flight: Option<usize>,
    ) -> Option<Restoring> {
        let is_done = |i: usize| done.contains(&i);
        let reset_done = actions.iter().enumerate().any(|(i, a)| {
            matches!(a, Action::ResetLink { .. }) && (is_done(i) || in_flight == Some(i))
        });
        let solutions = actions.iter().enumerate().find_map(|(i, a)| match a {
            Action::ApplySolutions { solutions } if !is_done(i) => Some(solutions.clone()),
            _ => None,
        })?;
        let steps = actions
            .iter()
            .enumerate()
            .filter(|(i, a)| !is_done(*i) && is_map_step(a))
            .map(|(_, a)| a.clone())
            .collect();
        reset_done.then_some(Restoring { solutions, steps })
    }
}

fn is_map_step(a: &Action) -> bool {
    matches!(
        a,
        Action::SwitchMapVersion { .. }
            | Action::SetIntegrationKeys { .. }
            | Action::RefreshTables { .. }
            | Action::ResumeMaps { .. }
            | Action::StartMaps { .. }
            | Action::PauseMaps { .. }
    )
}

fn names(list: &[String], map: &str) -> bool {
    list.iter().any(|m| m.eq_ignore_ascii_case(map))
}

/// Declared map `d`, gone from live state, as the unfinished apply planned it: its steps go into
/// `out`, and a warning says where they come from.
pub(super) fn take(
    out: &mut MapPlan,
    findings: &mut Vec<Finding>,
    restoring: &Restoring,
    d: &DesiredMap,
) {
    let name = d.name.as_str();
    for step in &restoring.steps {
        match step {
            Action::SwitchMapVersion { map, .. } if map.eq_ignore_ascii_case(name) => {
                out.switch.push(step.clone())
            }
            Action::SetIntegrationKeys { map, .. } if map.eq_ignore_ascii_case(name) => {
                out.keys.push(step.clone())
            }
            Action::RefreshTables { maps } if names(maps, name) => out.refresh.push(name.into()),
            Action::ResumeMaps { maps } if names(maps, name) => out.resume.push(name.into()),
            Action::StartMaps { maps, initial_sync } if names(maps, name) => {
                out.start.push(name.into());
                if names(initial_sync, name) {
                    out.initial_sync.push(name.into());
                }
            }
            Action::PauseMaps { maps } if names(maps, name) => out.pause.push(name.into()),
            _ => {}
        }
    }
    findings.push(Finding::new(
        C::MapsNotFound,
        Severity::Warning,
        format!(
            "map `{name}` is gone until the solutions are applied: the unfinished apply reset the link and did not apply {}",
            restoring.solutions.join(", ")
        ),
        "its steps are the unfinished apply's, planned before the reset against what the solutions leave; the verify after them checks the map is as declared".into(),
    ));
}

/// The order the unfinished apply gave its maps, for the maps it brings back; the maps live
/// state still has keep their order after them (a map that came back with the solutions can be
/// a prerequisite of one that stayed, never the other way round).
pub(super) fn order(out: &mut MapPlan, restoring: &Restoring) {
    let journaled = |pick: fn(&Action) -> Option<&Vec<String>>| -> Vec<String> {
        restoring
            .steps
            .iter()
            .filter_map(pick)
            .flatten()
            .cloned()
            .collect()
    };
    let sort = |list: &mut Vec<String>, was: Vec<String>| {
        list.sort_by_key(|m| {
            was.iter()
                .position(|w| w.eq_ignore_ascii_case(m))
                .unwrap_or(usize::MAX)
        })
    };
    sort(
        &mut out.refresh,
        journaled(|a| match a {
            Action::RefreshTables { maps } => Some(maps),
            _ => None,
        }),
    );
    sort(
        &mut out.resume,
        journaled(|a| match a {
            Action::ResumeMaps { maps } => Some(maps),
            _ => None,
        }),
    );
    sort(
        &mut out.start,
        journaled(|a| match a {
            Action::StartMaps { maps, .. } => Some(maps),
            _ => None,
        }),
    );
    sort(
        &mut out.pause,
        journaled(|a| match a {
            Action::PauseMaps { maps } => Some(maps),
            _ => None,
        }),
    );
}
