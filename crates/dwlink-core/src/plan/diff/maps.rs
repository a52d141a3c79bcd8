//! Declared maps against live ones: what to stop, switch, key, refresh, resume, start and pause
//! so each declared map ends at its version, with its keys, in its state.
//!
//! Per map the order is the service's (Microsoft's Dual-write-automations,
//! `DWLibary/Engines/DWMapEngine.cs` `applyMapSingle`, lines 1373–1410): stop a running map,
//! switch the version, set the keys, refresh the tables, start. Across maps each kind is one
//! step, prerequisites first when starting and last when stopping. When the same plan resets,
//! the maps are planned against what the reset leaves: each map back at its oldest version, no
//! keys, stopped (unified-operations `data-entities/dual-write/reset.md`: the reset removes the
//! maps and integration keys; applying the solutions brings the maps back).

use std::collections::{BTreeMap, BTreeSet};

use crate::config::maps::parse_version;
use crate::diag::Severity;
use crate::model::desired::{Desired, DesiredMap, MapRunState, MapVersion};
use crate::model::live::{LiveMap, LiveState, MapState};

use super::super::action::Action;
use super::super::finding::{Finding, FindingCode as C};
use super::restoring::Restoring;

/// What the map part of a plan does, kind by kind, before it is merged with the reset's steps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct MapPlan {
    pub stop: Vec<String>,
    pub switch: Vec<Action>,
    pub keys: Vec<Action>,
    pub refresh: Vec<String>,
    pub resume: Vec<String>,
    pub start: Vec<String>,
    pub initial_sync: Vec<String>,
    pub pause: Vec<String>,
}

/// Newest first is how DWA picks `latest` (`getLatestTemplate`: ordered by major, minor, build,
/// revision descending).
fn newest(versions: &[String]) -> Option<&String> {
    versions
        .iter()
        .max_by_key(|v| parse_version(v).unwrap_or_default())
}

fn oldest(versions: &[String]) -> Option<&String> {
    versions
        .iter()
        .min_by_key(|v| parse_version(v).unwrap_or_default())
}

/// DWA compares keys without case or order (`DWMapEngine.cs` `isIntegrationKeyDifferent`).
fn same_keys(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| -> BTreeSet<String> { v.iter().map(|k| k.to_uppercase()).collect() };
    a.len() == b.len() && norm(a) == norm(b)
}

/// The map as a reset followed by the solutions leaves it.
fn after_reset(m: &LiveMap) -> LiveMap {
    LiveMap {
        state: MapState::Stopped,
        version: oldest(&m.versions).cloned().or_else(|| m.version.clone()),
        integration_keys: Some(Vec::new()),
        ..m.clone()
    }
}

fn find<'a>(maps: &'a [LiveMap], name: &str) -> Option<&'a LiveMap> {
    maps.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

pub(super) fn plan(
    desired: &Desired,
    live: &LiveState,
    resets: bool,
    restoring: Option<&Restoring>,
    findings: &mut Vec<Finding>,
) -> MapPlan {
    let mut out = MapPlan::default();
    if desired.maps.is_empty() {
        return out;
    }
    let live_maps: &[LiveMap] = live.connection.as_ref().map_or(&[], |c| &c.maps);
    let base: Vec<LiveMap> = if resets {
        live_maps.iter().map(after_reset).collect()
    } else {
        live_maps.to_vec()
    };
    for d in &desired.maps {
        let Some(m) = find(&base, &d.name) else {
            match restoring {
                Some(r) => super::restoring::take(&mut out, findings, r, d),
                None => not_found(findings, d, live_maps),
            }
            continue;
        };
        one(&mut out, findings, d, m);
        prerequisites(findings, desired, d, m, live_maps);
    }
    order(&mut out, &base);
    if let Some(r) = restoring {
        super::restoring::order(&mut out, r);
    }
    out
}

fn not_found(findings: &mut Vec<Finding>, d: &DesiredMap, live: &[LiveMap]) {
    let names: Vec<&str> = live.iter().map(|m| m.name.as_str()).collect();
    findings.push(Finding::new(
        C::MapsNotFound,
        Severity::Error,
        format!("the dual-write service offers no map named `{}`", d.name),
        if names.is_empty() {
            "the connection set has no maps: apply the solution that holds it (`after_reset.apply_solutions`) or check the name on F&O's dual-write page".into()
        } else {
            format!(
                "write the name as the dual-write page shows it; maps offered: {}",
                names.join(", ")
            )
        },
    ));
}

/// The version a declared map should be on; `None` when it is not managed or not offered.
fn target_version(findings: &mut Vec<Finding>, d: &DesiredMap, m: &LiveMap) -> Option<String> {
    let offered: Vec<String> = if m.versions.is_empty() {
        m.version.iter().cloned().collect()
    } else {
        m.versions.clone()
    };
    match d.version.as_ref()? {
        MapVersion::Latest => newest(&offered).cloned(),
        MapVersion::Exact(v) => {
            let wanted = parse_version(v);
            let found = offered
                .iter()
                .find(|o| parse_version(o) == wanted && wanted.is_some());
            if found.is_none() {
                findings.push(Finding::new(
                    C::MapsVersionUnavailable,
                    Severity::Error,
                    format!("map `{}` is not offered at version {v}", d.name),
                    format!(
                        "declare one of the versions offered ({}) or `latest`",
                        if offered.is_empty() {
                            "none listed".to_string()
                        } else {
                            offered.join(", ")
                        }
                    ),
                ));
            }
            found.cloned()
        }
    }
}

fn one(out: &mut MapPlan, findings: &mut Vec<Finding>, d: &DesiredMap, m: &LiveMap) {
    let target = target_version(findings, d, m);
    let switch = target.filter(|t| {
        m.version
            .as_deref()
            .is_none_or(|v| parse_version(v) != parse_version(t))
    });
    let keys = match (&d.integration_keys, &m.integration_keys) {
        (Some(want), Some(have)) => (!same_keys(have, want)).then_some(want),
        (Some(_), None) => {
            keys_unreadable(findings, d, m);
            None
        }
        (None, _) => None,
    };
    let changes = switch.is_some() || keys.is_some();
    let mut state = m.state;
    if changes && !matches!(state, MapState::Stopped | MapState::NotRunning) {
        out.stop.push(m.name.clone());
        state = MapState::Stopped;
    }
    if let Some(to) = switch {
        out.switch.push(Action::SwitchMapVersion {
            map: m.name.clone(),
            from: m.version.clone(),
            to,
        });
    }
    if let Some(to) = keys {
        out.keys.push(Action::SetIntegrationKeys {
            map: m.name.clone(),
            table: m.table.clone().unwrap_or_else(|| table_of(&m.name)),
            from: m.integration_keys.clone().unwrap_or_default(),
            to: to.clone(),
        });
    }
    if changes {
        out.refresh.push(m.name.clone());
    }
    let running = state.is_active();
    match d.state {
        MapRunState::Running if running => {}
        MapRunState::Running if state == MapState::Paused => out.resume.push(m.name.clone()),
        MapRunState::Running => start(out, d, m),
        MapRunState::Stopped => {
            if !matches!(state, MapState::Stopped | MapState::NotRunning)
                && !out.stop.contains(&m.name)
            {
                out.stop.push(m.name.clone());
            }
        }
        MapRunState::Paused if state == MapState::Paused => {}
        MapRunState::Paused if running => out.pause.push(m.name.clone()),
        MapRunState::Paused => {
            start(out, d, m);
            out.pause.push(m.name.clone());
        }
    }
}

/// Keys are read from the map's project (`{pid}/FieldMappings`), which a map has only once it
/// was started (DWA `DWMapEngine.cs` `checkAddInitMaps`/`initMap`, lines 480–500 and 1351–1370,
/// starts a map without `pid` before it applies anything to it). Keys set now could never be read
/// back: every plan would set them again and no apply would converge. Planned once the map runs.
fn keys_unreadable(findings: &mut Vec<Finding>, d: &DesiredMap, m: &LiveMap) {
    findings.push(Finding::new(
        C::MapsKeysUnreadable,
        Severity::Warning,
        format!(
            "the integration keys of map `{}` cannot be read: it has no project yet, so dwlink plans no key change it could not confirm",
            m.name
        ),
        if d.state == MapRunState::Running {
            "the map gets its project when it starts: the plan after this apply sets its keys".into()
        } else {
            "start the map once (declare `state: running`) so it gets a project, then plan again to set its keys".into()
        },
    ));
}

fn start(out: &mut MapPlan, d: &DesiredMap, m: &LiveMap) {
    out.start.push(m.name.clone());
    if d.initial_sync {
        out.initial_sync.push(m.name.clone());
    }
}

/// `Customers V3 (accounts)` → `accounts`: the table a map name shows, when no listing said.
fn table_of(name: &str) -> String {
    name.rsplit_once(" (")
        .map(|(_, t)| t.trim_end_matches(')').to_string())
        .unwrap_or_default()
}

fn prerequisites(
    findings: &mut Vec<Finding>,
    desired: &Desired,
    d: &DesiredMap,
    m: &LiveMap,
    live: &[LiveMap],
) {
    if d.state != MapRunState::Running {
        return;
    }
    for p in m.prerequisites.iter().flatten() {
        let declared = desired.maps.iter().any(|x| x.name.eq_ignore_ascii_case(p));
        let running = find(live, p).is_some_and(|x| x.state.is_active());
        if !declared && !running {
            findings.push(Finding::new(
                C::MapsPrerequisiteUndeclared,
                Severity::Warning,
                format!(
                    "map `{}` needs `{p}` running first, which is neither declared nor running",
                    d.name
                ),
                format!("declare `{p}` in `maps` with `state: running`, or start it on the dual-write page"),
            ));
        }
    }
}

/// Starts after their prerequisites, stops before them; otherwise the config's order.
fn order(out: &mut MapPlan, base: &[LiveMap]) {
    let prereq: BTreeMap<String, Vec<String>> = base
        .iter()
        .map(|m| (m.name.clone(), m.prerequisites.clone().unwrap_or_default()))
        .collect();
    out.start = prerequisites_first(&out.start, &prereq);
    out.resume = prerequisites_first(&out.resume, &prereq);
    let mut stop = prerequisites_first(&out.stop, &prereq);
    stop.reverse();
    out.stop = stop;
}

fn prerequisites_first(names: &[String], prereq: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    fn visit(
        n: &String,
        names: &[String],
        prereq: &BTreeMap<String, Vec<String>>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(n.clone()) {
            return;
        }
        for p in prereq.get(n).into_iter().flatten() {
            if let Some(q) = names.iter().find(|x| x.eq_ignore_ascii_case(p)) {
                visit(q, names, prereq, seen, out);
            }
        }
        out.push(n.clone());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in names {
        visit(n, names, prereq, &mut seen, &mut out);
    }
    out
}

/// The service keeps a paused map's queue for a day at most, 1 GB at most (Learn, "Pause
/// dual-write for maintenance"): past it, pending changes can be lost.
const PAUSE_KEPT_HOURS: i64 = 24;

pub(crate) fn paused_too_long(findings: &mut Vec<Finding>, live: &LiveState, now: jiff::Timestamp) {
    for m in live.connection.iter().flat_map(|c| c.maps.iter()) {
        let Some(since) = m.paused_since.as_deref() else {
            continue;
        };
        let Ok(t) = since.parse::<jiff::Timestamp>() else {
            continue;
        };
        let hours = now.duration_since(t).as_secs() / 3600;
        if m.state == MapState::Paused && hours >= PAUSE_KEPT_HOURS {
            findings.push(Finding::new(
                C::MapsPausedTooLong,
                Severity::Warning,
                format!(
                    "map `{}` has been paused for {hours} hours (since {since}); the service keeps a paused map's queue for 24 hours at most",
                    m.name
                ),
                "resume it (declare `state: running`) and check for lost changes; an initial sync (`initial_sync: run`) copies what the queue dropped".into(),
            ));
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
}
