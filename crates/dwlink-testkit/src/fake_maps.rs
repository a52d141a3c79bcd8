//! The FakeLink's maps beyond start and stop: versions, integration keys, refreshes, and
//! pause/resume/initial-sync requests over several maps, as the emulator models them.

use std::collections::BTreeMap;

use dwlink_core::config::maps::parse_version;
use dwlink_core::link::{MapRequest, ProviderError, RequestId};
use dwlink_core::model::live::{LiveConnection, LiveMap, LiveState, MapState};

use super::{errors, not_found, Effect, RequestKind, State, Work};

/// The maps' lasting facts (versions, table, prerequisites), kept across resets.
pub(super) fn catalog(
    live: &LiveState,
    mut known: BTreeMap<String, LiveMap>,
) -> BTreeMap<String, LiveMap> {
    for m in live.connection.iter().flat_map(|c| c.maps.iter()) {
        if !m.versions.is_empty() || m.table.is_some() || m.prerequisites.is_some() {
            known.insert(m.name.clone(), m.clone());
        }
    }
    known
}

/// A map as applying its solution brings it back: oldest version, no keys, stopped.
pub(super) fn as_solution_leaves(fresh: LiveMap, catalog: &BTreeMap<String, LiveMap>) -> LiveMap {
    let Some(c) = catalog.get(&fresh.name) else {
        return fresh;
    };
    let oldest = c
        .versions
        .iter()
        .min_by_key(|v| parse_version(v).unwrap_or_default())
        .cloned();
    LiveMap {
        version: oldest.or_else(|| c.version.clone()),
        versions: c.versions.clone(),
        table: c.table.clone(),
        integration_keys: Some(Vec::new()),
        prerequisites: c.prerequisites.clone(),
        ..fresh
    }
}

pub(super) fn set_states(
    conn: &mut LiveConnection,
    map_ids: &[String],
    state: MapState,
    fails_on_version: &BTreeMap<String, String>,
) -> Result<Vec<Effect>, String> {
    let mut effects = Vec::new();
    for id in map_ids {
        let m = conn
            .maps
            .iter_mut()
            .find(|m| &m.id == id)
            .ok_or("the map was removed (reset?)")?;
        if state == MapState::Running
            && m.version.is_some()
            && fails_on_version.get(&m.name) == m.version.as_ref()
        {
            m.state = MapState::Error;
            return Err(format!("initial sync of map {} failed", m.name));
        }
        m.state = state;
        let map = m.name.clone();
        effects.push(match state {
            MapState::Paused => Effect::MapPaused { map },
            MapState::Running => Effect::MapStarted { map },
            _ => Effect::MapStopped { map },
        });
    }
    Ok(effects)
}

fn bad(message: impl Into<String>) -> ProviderError {
    errors::status(400, "BadRequest", message)
}

impl State {
    fn live_map(&mut self, connection_id: &str, id: &str) -> Result<&mut LiveMap, ProviderError> {
        let conn = self.connection(connection_id)?;
        conn.maps
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| not_found(format!("no map {id}")))
    }

    pub(super) fn maps_request(
        &mut self,
        connection_id: &str,
        maps: &[LiveMap],
        request: MapRequest,
    ) -> Result<RequestId, ProviderError> {
        let conn = self.connection(connection_id)?;
        for m in maps {
            if !conn.maps.iter().any(|x| x.id == m.id) {
                return Err(not_found(format!("no map {}", m.id)));
            }
        }
        let state = match request {
            MapRequest::Pause => MapState::Paused,
            MapRequest::Resume | MapRequest::StartWithInitialSync => MapState::Running,
        };
        let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
        let what = format!("{} maps {}", request.verb(), names.join(", "));
        let work = Work::SetMaps {
            map_ids: maps.iter().map(|m| m.id.clone()).collect(),
            state,
        };
        Ok(self.request(RequestKind::MapRequest, what, work))
    }

    pub(super) fn switch_version(
        &mut self,
        connection_id: &str,
        map: &LiveMap,
        version: &str,
    ) -> Result<(), ProviderError> {
        let m = self.live_map(connection_id, &map.id)?;
        if !m.versions.iter().any(|v| v == version) {
            return Err(bad(format!("map {} has no version {version}", m.name)));
        }
        if m.state.is_active() {
            return Err(errors::status(
                409,
                "MapRunning",
                format!("stop map {} before switching its version", m.name),
            ));
        }
        m.version = Some(version.to_string());
        let effect = Effect::MapVersionSwitched {
            map: m.name.clone(),
            version: version.to_string(),
        };
        self.effects.push(effect);
        Ok(())
    }

    pub(super) fn set_keys(
        &mut self,
        connection_id: &str,
        map: &LiveMap,
        keys: &[String],
    ) -> Result<(), ProviderError> {
        let m = self.live_map(connection_id, &map.id)?;
        m.integration_keys = Some(keys.to_vec());
        let effect = Effect::IntegrationKeysSet {
            map: m.name.clone(),
            keys: keys.to_vec(),
        };
        self.effects.push(effect);
        Ok(())
    }

    pub(super) fn refresh(
        &mut self,
        connection_id: &str,
        map: &LiveMap,
    ) -> Result<(), ProviderError> {
        let m = self.live_map(connection_id, &map.id)?;
        let effect = Effect::TablesRefreshed {
            map: m.name.clone(),
        };
        self.effects.push(effect);
        Ok(())
    }
}
