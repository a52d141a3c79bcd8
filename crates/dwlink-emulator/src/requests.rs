//! Asynchronous management requests completing: what a map Start/Stop and an Apply Solution
//! do to the world once their `async_ms` have passed.

use serde_json::json;

use super::store::{name_uuid, new_map, Action, RequestState, World};
use super::table::TableKind;
use dwlink_core::model::live::MapState;

/// Finish an asynchronous request: apply its effect and mark it completed.
pub(crate) fn complete(world: &mut World, id: &str) -> bool {
    let Some(req) = world
        .requests
        .get(id)
        .filter(|r| r.state == RequestState::Waiting)
        .cloned()
    else {
        return false;
    };
    let result = apply(world, &req.action);
    if let Some(r) = world.requests.get_mut(id) {
        r.modified_on = jiff::Timestamp::now().to_string();
        match result {
            Ok(()) => r.state = RequestState::Completed,
            Err(m) => {
                r.state = RequestState::Error;
                r.message = m;
            }
        }
    }
    true
}

fn apply(world: &mut World, action: &Action) -> Result<(), String> {
    let conn_id = action.connection();
    let i = world
        .connection_env(&conn_id.to_string())
        .ok_or("the connection set is gone")?;
    match action {
        Action::SetMapState { .. } | Action::SetMapStates { .. } | Action::SwitchVersion { .. } => {
            let c = world.fo[i].connection.as_mut().ok_or("no connection")?;
            super::dws::maps::complete(c, action)?;
        }
        Action::ApplySolution { solution, .. } => {
            let env = &mut world.fo[i];
            let c = env.connection.as_mut().ok_or("no connection")?;
            let sol = c
                .solutions
                .iter()
                .find(|s| &s.name == solution)
                .cloned()
                .ok_or("the solution is gone")?;
            let linked = c.connected_to.clone().unwrap_or_default();
            for name in &sol.maps {
                if !c.maps.iter().any(|m| &m.name == name) {
                    let m = new_map(c.id, name, MapState::Stopped);
                    c.maps.push(m);
                }
            }
            let projects = &mut env.tables[0];
            debug_assert_eq!(projects.kind, TableKind::ProjectConfig);
            for name in &sol.maps {
                let (fo, dv) = split_map_name(name);
                let mut fields = serde_json::Map::new();
                fields.insert("ProjectName".into(), json!(name));
                fields.insert("InternalEntityName".into(), json!(fo));
                fields.insert("ExternalEntityName".into(), json!(dv));
                fields.insert("ExternalLogicalEntityName".into(), json!(dv));
                fields.insert("ExternalEnvironmentUrl".into(), json!(linked));
                // A map the solution brings back comes stopped.
                fields.insert("Status".into(), json!("Disabled"));
                fields.insert("IsDebugMode".into(), json!("No"));
                let key = projects.canonical(std::slice::from_ref(name));
                if projects.get(&key).is_some() {
                    projects.update(&key, fields);
                } else {
                    let _ = projects.insert(key, fields);
                }
            }
            if let Some(org) = world.org_by_url_mut(&linked) {
                for name in &sol.maps {
                    let (fo, dv) = split_map_name(name);
                    let id = name_uuid(&org.host, name).to_string();
                    let mut fields = serde_json::Map::new();
                    fields.insert("msdyn_dualwriteruntimeconfigid".into(), json!(id));
                    fields.insert("msdyn_name".into(), json!(name));
                    fields.insert("msdyn_internalentityname".into(), json!(dv));
                    fields.insert("msdyn_externalentityname".into(), json!(fo));
                    fields.insert(
                        "msdyn_unsecure".into(),
                        json!(json!({"SourceEntityName": fo, "DestinationEntityName": dv})
                            .to_string()),
                    );
                    fields.insert("statecode".into(), json!(0));
                    let key = org.runtime.canonical(&[id]);
                    if org.runtime.get(&key).is_none() {
                        let _ = org.runtime.insert(key, fields);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `Customers V3 (accounts)` → (`Customers V3`, `accounts`).
pub(crate) fn split_map_name(name: &str) -> (String, String) {
    match name.rsplit_once(" (") {
        Some((fo, rest)) => (fo.to_string(), rest.trim_end_matches(')').to_string()),
        None => (name.to_string(), name.to_ascii_lowercase()),
    }
}
