//! The management service's replies as Microsoft's own client reads them
//! (microsoft/Dual-write-automations, "DWA"): the environment lookup, the connection set at the
//! gateway root, the map listing, solutions and request states. docs/http-contract.md lists
//! each member with its source; members DWA declares but dwlink does not model are left out.

use serde_json::{json, Value};
use uuid::Uuid;

use super::super::store::{name_uuid, Action, AsyncRequest, DwMap, FoEnv, RequestState, World};
use dwlink_core::fixture::{EnvType, MapStateShape};
use dwlink_core::model::live::MapState;

/// DWA `DWLibary/DWEnums.cs` `MapStatus`. No code marks a map in error: the emulator shows a
/// map whose start failed as not running (6), its failed request in `lastRequests`.
pub(crate) fn map_code(state: MapState) -> &'static str {
    match state {
        MapState::Stopped => "1",
        MapState::InitialSync => "2",
        MapState::CatchUp => "3",
        MapState::Running => "4",
        MapState::Paused => "5",
        MapState::NotRunning | MapState::Error => "6",
    }
}

/// DWA `DWEnums.cs` `RequestStatus`.
pub(crate) fn request_code(state: RequestState) -> &'static str {
    match state {
        RequestState::Waiting => "1",
        RequestState::Completed => "2",
        RequestState::Error => "3",
    }
}

/// A map's template id: stable across resets (a reset drops the project, `pid`, not the
/// template).
pub(crate) fn template_id(name: &str) -> Uuid {
    name_uuid("map-template", name)
}

/// The Power Platform environment id the emulator gives an organization (the admin API's
/// `name`, the connection set's `powerAppsEnvironment`).
pub(crate) fn power_apps_environment(org_host: &str) -> Uuid {
    name_uuid("power-platform-environment", org_host)
}

fn label(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

/// DWA `DWLibary/Struct/DWEnvironment.cs`: one item of `Environments?targetType=AX&identifier=`.
pub(crate) fn environment_entry(env: &FoEnv) -> Option<Value> {
    let c = env.connection.as_ref()?;
    let pp = c
        .connected_to
        .as_deref()
        .and_then(dwlink_core::fixture::host_of)
        .map(|h| power_apps_environment(&h));
    Some(json!({
        "cid": c.id, "cname": c.name, "targetType": "AX", "displayName": label(&env.host),
        "detail": {"isSolutionAware": true}, "powerAppsEnvironment": pp,
    }))
}

/// DWA `DWLibary/Struct/DWConnectionSet.cs` `DWConnectionSet`, read at the gateway root.
pub(crate) fn connection_set(world: &World, env: &FoEnv) -> Value {
    let Some(c) = &env.connection else {
        return Value::Null;
    };
    let mut envs = serde_json::Map::new();
    if !c.without_finance_operations_entry {
        envs.insert(
            env.host.clone(),
            json!({
                "name": env.host, "connectionSetName": c.name, "targetType": "AX",
                "environmentDisplayName": label(&env.host), "directUrl": env.url,
                "isDevInstance": env.env_type == EnvType::CloudHosted, "schemas": [],
            }),
        );
    }
    // The CRM entry of the organization connected to, then any a fixture adds (several
    // Dataverse entries: a shape dwlink must refuse to guess from).
    let pp_of = c.power_apps_environment_of.as_deref();
    let crm_key = c
        .connected_to
        .as_deref()
        .map(|url| crm_entry(world, &mut envs, &c.name, url, pp_of.unwrap_or(url)));
    for url in &c.extra_dataverse {
        crm_entry(world, &mut envs, &c.name, url, url);
    }
    let mappings: Vec<Value> = c
        .legal_entities
        .iter()
        .map(|l| json!({"left": {"name": l, "id": l}, "right": {"name": l.to_ascii_lowercase(), "id": l}}))
        .collect();
    let solution_requests: Vec<Value> = world
        .requests
        .values()
        .filter(|r| matches!(&r.action, Action::ApplySolution { connection, .. } if *connection == c.id))
        .map(solution_request)
        .collect();
    let name = c.set_name.as_deref().unwrap_or(&c.name);
    json!({
        "id": c.id, "name": name, "displayName": name, "environments": envs,
        "tenant": name_uuid("tenant", "emulated"), "forDualWrite": true,
        "dualWriteDetail": {
            "legalEntityMappings": {"leftEnvironment": env.host, "rightEnvironment": crm_key,
                                     "mappings": mappings},
            "isSolutionAware": true,
            "solutionAwareRequests": solution_requests,
        },
    })
}

/// A CRM entry keyed by its host: `name` the organization's unique name, `powerAppsEnvironment`
/// the Power Platform environment of `pp_of` (normally the same organization).
fn crm_entry(
    world: &World,
    envs: &mut serde_json::Map<String, Value>,
    set: &str,
    url: &str,
    pp_of: &str,
) -> String {
    let host = dwlink_core::fixture::host_of(url).unwrap_or_default();
    let (name, display) = match world.org_by_url(url) {
        Some(o) => (o.unique_name.clone(), o.friendly_name.clone()),
        None => (label(&host).to_string(), label(&host).to_string()),
    };
    let pp_host = dwlink_core::fixture::host_of(pp_of).unwrap_or_default();
    envs.insert(
        host.clone(),
        json!({
            "name": name, "connectionSetName": set, "targetType": "CRM",
            "environmentDisplayName": display, "directUrl": url,
            "powerAppsEnvironment": power_apps_environment(&pp_host),
            "isDevInstance": false, "schemas": [],
        }),
    );
    host
}

/// DWA `DWConnectionSet.cs` `SolutionAwareRequest`, also the reply of
/// `SolutionAware/{cid}/Status/{id}` (DWA `DWLibary/Struct/SolutionHelpers.cs` `SolutionResult`).
pub(crate) fn solution_request(r: &AsyncRequest) -> Value {
    let state = request_code(r.state);
    json!({"requestId": r.id, "action": "2", "state": state,
           "result": {"message": r.message, "status": state}})
}

/// DWA `DWLibary/Struct/DWMaps.cs` `DWMapLastRequest`; `action` is the Start body's code.
fn last_requests(world: &World, map: &DwMap) -> Vec<Value> {
    world
        .requests
        .values()
        .filter_map(|r| match &r.action {
            Action::SetMapState { map: m, state, .. } if *m == map.id => {
                Some((r, start_code(*state).to_string()))
            }
            Action::SetMapStates { maps, action, .. } if maps.contains(&map.id) => {
                Some((r, action.clone()))
            }
            // No public evidence of the code a version switch shows as.
            Action::SwitchVersion { map: m, .. } if *m == map.id => Some((r, "switch".into())),
            _ => None,
        })
        .map(|(r, action)| {
            let error = if r.state == RequestState::Error {
                r.message.as_str()
            } else {
                ""
            };
            json!({"requestId": r.id, "action": action, "state": request_code(r.state),
                   "errorMessage": error, "createdOn": r.created_on, "modifiedOn": r.modified_on})
        })
        .collect()
}

/// DWA `DWMaps.cs` `DWMap`: `leftEntity` (F&O), `rightEntity` (Dataverse), `detail`; `state` as
/// the fixture's `map_state_shape` writes it (a numeric string unless told otherwise).
pub(crate) fn map_in(world: &World, m: &DwMap, shape: MapStateShape) -> Value {
    let mut v = map(world, m);
    v["detail"]["state"] = match shape {
        MapStateShape::String => json!(map_code(m.state)),
        MapStateShape::Number => json!(map_code(m.state).parse::<u8>().unwrap_or(0)),
        MapStateShape::Null => Value::Null,
    };
    v
}

/// The Start action code of a single-map request.
fn start_code(state: MapState) -> &'static str {
    match state {
        MapState::Running => "1",
        MapState::Paused => "5",
        _ => "4",
    }
}

/// DWA `DWMaps.cs` `DWMap`: `leftEntity` (F&O), `rightEntity` (Dataverse), `detail`.
pub(crate) fn map(world: &World, m: &DwMap) -> Value {
    let (fo, dv) = super::super::requests::split_map_name(&m.name);
    let (tid, template, templates) = super::maps::templates(world, m);
    let dv = super::maps::connection_of(world, m.id).map_or(dv, |c| super::maps::table(c, &m.name));
    json!({
        "leftEntity": {"targetType": "AX", "name": fo, "displayName": fo},
        "rightEntity": {"targetType": "CRM", "name": dv, "displayName": dv},
        "detail": {
            "tid": tid, "tName": m.name, "pid": m.id, "state": map_code(m.state),
            "template": template,
            "templates": templates, "lastRequests": last_requests(world, m),
            "isProjectDeleted": false, "actions": [],
        },
    })
}

/// DWA `DWLibary/Struct/SolutionList.cs`: what `SolutionAware/{cid}/Solutions/` lists.
pub(crate) fn solution(name: &str) -> Value {
    let id = name_uuid("solution", name);
    json!({"description": format!("{name} (emulated)"), "friendlyname": name, "ismanaged": true,
           "solutionid": id, "id": id, "uniquename": name, "version": "1.0.0.0"})
}
