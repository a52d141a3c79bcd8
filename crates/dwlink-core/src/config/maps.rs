//! The top-level `maps` list: dual-write maps declared like resources (name, version, run state,
//! integration keys, initial sync), reconciled on every plan. Microsoft's Dual-write-automations
//! keeps the same facts per map (`DWLibary/Struct/MapConfig.cs`: map name, version or `latest`,
//! a group's target status, initial sync and keys).

use crate::plan::describe::thousands;
use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diag::Problem;
use crate::model::desired as d;

use super::validate::Ctx;

/// One declared map.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapDecl {
    /// The map's name as the dual-write page shows it, e.g. `Customers V3 (accounts)`.
    pub name: String,
    /// An exact four-part version (`1.0.0.3`) or `latest` (the newest the service offers).
    /// Omitted: the version is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `running` (default), `stopped` or `paused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MapRunState>,
    /// The integration key fields of the map's Dataverse table. Omitted: left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_keys: Option<Vec<String>>,
    /// `skip` (default) or `run`: whether starting the map copies existing rows first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_sync: Option<InitialSync>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MapRunState {
    Running,
    Stopped,
    Paused,
}

impl MapRunState {
    pub fn name(self) -> &'static str {
        match self {
            MapRunState::Running => "running",
            MapRunState::Stopped => "stopped",
            MapRunState::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InitialSync {
    Skip,
    Run,
}

/// `a.b.c.d`, each part a non-negative integer (C#'s `System.Version`, which DWA parses the
/// configured version with: `DWMapEngine.cs` `getLatestTemplate`).
pub fn parse_version(v: &str) -> Option<[u32; 4]> {
    let mut out = [0u32; 4];
    let mut parts = v.split('.');
    for slot in &mut out {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The semantic rules of `maps`, on the config as written.
/// dwlink's own bound on `maps` (no public figure limits a solution's maps): each declared map
/// costs reads on every plan.
pub const MAX_MAPS: usize = 2_000;

pub(super) fn check(cx: &mut Ctx<'_>, root: &Value) {
    let Some(maps) = root.get("maps").and_then(Value::as_array) else {
        return;
    };
    if maps.len() > MAX_MAPS {
        cx.error(
            "dwlink::config::too_many_maps",
            "maps",
            format!(
                "{} maps are declared; dwlink takes at most {}",
                thousands(maps.len()),
                thousands(MAX_MAPS)
            ),
            "too many",
            "declare the maps this environment runs (`dwlink import` writes them); maps not named are left alone",
        );
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, m) in maps.iter().enumerate().take(MAX_MAPS) {
        let path = format!("maps[{i}]");
        if let Some(name) = m.get("name").and_then(Value::as_str) {
            let key = name.trim().to_lowercase();
            if let Some(&first) = seen.get(&key) {
                let p = Problem::error(
                    "dwlink::config::map_declared_twice",
                    format!("map `{name}` is declared twice in `maps`"),
                )
                .in_source(cx.source)
                .at(cx.index.value(&format!("{path}.name")), "declared again")
                .also(
                    cx.index.value(&format!("maps[{first}].name")),
                    "first declared here",
                )
                .help("keep one entry per map and merge their settings");
                cx.problems.push(p);
            } else {
                seen.insert(key, i);
            }
        }
        if let Some(v) = m.get("version").and_then(Value::as_str) {
            if v != "latest" && parse_version(v).is_none() {
                cx.error(
                    "dwlink::config::map_version",
                    &format!("{path}.version"),
                    format!("`{v}` is not a map version"),
                    "not a four-part version",
                    "write the exact version the dual-write page shows, four numbers like `1.0.0.3`, or `latest`",
                );
            }
        }
    }
    let start_maps = root
        .get("after_reset")
        .and_then(|a| a.get("start_maps"))
        .and_then(Value::as_array);
    for (i, s) in start_maps.into_iter().flatten().enumerate() {
        let Some(s) = s.as_str() else { continue };
        if let Some(&j) = seen.get(&s.trim().to_lowercase()) {
            let p = Problem::error(
                "dwlink::config::map_in_start_maps",
                format!("map `{s}` is both in `maps` and in `after_reset.start_maps`"),
            )
            .in_source(cx.source)
            .at(
                cx.index.value(&format!("after_reset.start_maps[{i}]")),
                "also started here",
            )
            .also(cx.index.value(&format!("maps[{j}].name")), "declared here")
            .help("keep it in `maps` (with `state: running`) and remove it from `after_reset.start_maps`");
            cx.problems.push(p);
        }
    }
}

/// The declared maps with their defaults resolved; `None` when a version is malformed (which
/// [`check`] reported).
pub(super) fn desired(raw: &[MapDecl]) -> Option<Vec<d::DesiredMap>> {
    raw.iter()
        .map(|m| {
            let version = match m.version.as_deref() {
                None => None,
                Some("latest") => Some(d::MapVersion::Latest),
                Some(v) => {
                    parse_version(v)?;
                    Some(d::MapVersion::Exact(v.to_string()))
                }
            };
            Some(d::DesiredMap {
                name: m.name.trim().to_string(),
                version,
                state: m.state.unwrap_or(MapRunState::Running),
                integration_keys: m.integration_keys.clone(),
                initial_sync: m.initial_sync == Some(InitialSync::Run),
            })
        })
        .collect()
}
