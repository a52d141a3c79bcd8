//! The ordered actions: dependants first (maps stop before their tables are cleared), the
//! backup before any delete, the reset, then what the reset leaves to redo, and a verify last.
//! Every action follows from a reset: legal entities are set by the reset itself, and without
//! one dwlink has no way to change them (see [`super::findings::legal_entities`]).

use crate::model::desired::Desired;
use crate::model::live::LiveState;

use super::super::action::{Action, TableRows, UnreadTable};
use super::host;
use super::maps::MapPlan;
use super::reset::ResetDecision;
use super::restoring::Restoring;

/// The maps a reset has to stop first.
pub(super) fn active_maps(live: &LiveState) -> Vec<String> {
    live.connection
        .iter()
        .flat_map(|c| c.maps.iter())
        .filter(|m| m.state.is_active())
        .map(|m| m.name.clone())
        .collect()
}

/// The tables the reset clears server-side that no read could count.
fn unread_tables(live: &LiveState) -> Vec<UnreadTable> {
    live.key_tables
        .iter()
        .filter_map(|t| {
            Some(UnreadTable {
                service: t.service,
                table: t.table.clone(),
                rows: None,
                note: t.unreadable?.note().to_string(),
            })
        })
        .collect()
}

pub(super) fn ordered(
    desired: &Desired,
    live: &LiveState,
    decision: &ResetDecision,
    restoring: Option<&Restoring>,
    maps: MapPlan,
) -> Vec<Action> {
    let declared = &desired.dataverse.url;
    let landing = &decision.landing;
    let clears = decision.clears;
    let mut actions = Vec::new();
    if decision.reset {
        let active = active_maps(live);
        if !active.is_empty() && desired.reset.force {
            actions.push(Action::StopMaps { maps: active });
        }
        // The reset clears every key table, cleared by dwlink first or not: whatever rows it
        // takes are backed up first.
        {
            let tables: Vec<TableRows> = live
                .key_tables
                .iter()
                .filter(|t| t.rows() > 0)
                .map(|t| TableRows {
                    service: t.service,
                    table: t.table.clone(),
                    rows: t.rows(),
                })
                .collect();
            let rows = tables.iter().map(|t| t.rows).sum();
            if rows > 0 {
                actions.push(Action::Backup {
                    tables: tables.clone(),
                    rows,
                });
                for t in live.key_tables.iter().filter(|t| clears && t.rows() > 0) {
                    actions.push(Action::ClearTable {
                        service: t.service,
                        table: t.table.clone(),
                        entity_set: t.entity_set.clone(),
                        rows: t.rows(),
                    });
                }
            }
        }
        actions.push(Action::ResetLink {
            target: desired.link.reset_target,
            organization_url: landing
                .as_ref()
                .map_or_else(|| host(declared), |l| host(&l.url)),
            force: desired.reset.force,
            legal_entities: desired.link.legal_entities.clone(),
            unread_tables: unread_tables(live),
        });
        if !desired.after_reset.apply_solutions.is_empty() {
            actions.push(Action::ApplySolutions {
                solutions: desired.after_reset.apply_solutions.clone(),
            });
        }
    } else {
        if !maps.stop.is_empty() {
            actions.push(Action::StopMaps { maps: maps.stop });
        }
        if let Some(r) = restoring {
            actions.push(Action::ApplySolutions {
                solutions: r.solutions.clone(),
            });
        }
    }
    actions.extend(maps.switch);
    actions.extend(maps.keys);
    if !maps.refresh.is_empty() {
        actions.push(Action::RefreshTables { maps: maps.refresh });
    }
    if !maps.resume.is_empty() {
        actions.push(Action::ResumeMaps { maps: maps.resume });
    }
    // The short form's maps first: `after_reset.start_maps` names no map that `maps` declares.
    let mut start = if decision.reset || restoring.is_some() {
        desired.after_reset.start_maps.clone()
    } else {
        Vec::new()
    };
    start.extend(maps.start);
    if !start.is_empty() {
        actions.push(Action::StartMaps {
            maps: start,
            initial_sync: maps.initial_sync,
        });
    }
    if !maps.pause.is_empty() {
        actions.push(Action::PauseMaps { maps: maps.pause });
    }
    if !actions.is_empty() {
        actions.push(Action::Verify);
    }
    actions
}
