//! Maps beyond start and stop, as Microsoft's Dual-write-automations ("DWA") calls them: their
//! versions (`Entities` `detail.template`/`templates`, `SolutionAware/{cid}/SwitchActive`),
//! fields and keys (`{pid}/FieldMappings`, gateway `api/dataset/{dataset}/IntegrationKeys`),
//! table refresh (gateway `api/Project/{name}/Refresh`), prerequisites
//! (`GetTemplatePrerequisiteSequences/{cid}`) and `Start` with several maps (pause `5`, resume
//! `6`) or an initial sync (`8`, or `1` with `skipInitialSync: false`). docs/http-contract.md
//! gives each route's DWA file and line; where DWA does not read a reply, its shape here has no
//! public evidence and is kept minimal.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::super::odata::error::{bad_request, not_found, Reply};
use super::super::requests::split_map_name;
use super::super::store::{name_uuid, Action, Connection, DwMap, World};
use super::{begin, bodies, connection_by_id, reply, Outcome};
use dwlink_core::config::maps::parse_version;
use dwlink_core::fixture::MapFixture;
use dwlink_core::model::live::MapState;

const DEFAULT_VERSION: &str = "1.0.0.0";

/// What the service knows of a map whatever a reset removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MapSpec {
    /// Oldest first.
    pub versions: Vec<String>,
    pub table: Option<String>,
    pub prerequisites: Vec<String>,
    pub fails_on_version: Option<String>,
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_by_key(|x| parse_version(x).unwrap_or_default());
    v.dedup();
    v
}

pub(crate) fn catalog(maps: &[MapFixture]) -> BTreeMap<String, MapSpec> {
    maps.iter()
        .map(|m| {
            let mut versions = m.versions.clone();
            versions.extend(m.version.clone());
            (
                m.name.clone(),
                MapSpec {
                    versions: sorted(versions),
                    table: m.dataverse_table.clone(),
                    prerequisites: m.prerequisites.clone(),
                    fails_on_version: m.fails_on_version.clone(),
                },
            )
        })
        .collect()
}

/// The fixture's map at its version (default: the newest offered) with its keys.
pub(crate) fn from_fixture(mut m: DwMap, f: &MapFixture) -> DwMap {
    let newest = sorted(f.versions.clone()).last().cloned();
    m.version = f.version.clone().or(newest);
    m.keys = f.integration_keys.clone();
    m
}

fn spec(c: &Connection, name: &str) -> MapSpec {
    c.catalog.get(name).cloned().unwrap_or_default()
}

fn versions(c: &Connection, name: &str) -> Vec<String> {
    let v = spec(c, name).versions;
    if v.is_empty() {
        vec![DEFAULT_VERSION.to_string()]
    } else {
        v
    }
}

pub(crate) fn active_version(c: &Connection, m: &DwMap) -> String {
    m.version
        .clone()
        .unwrap_or_else(|| versions(c, &m.name)[0].clone())
}

pub(crate) fn table(c: &Connection, name: &str) -> String {
    spec(c, name)
        .table
        .unwrap_or_else(|| split_map_name(name).1)
}

/// A template id per (map, version); the default (oldest) version keeps the id a map had before
/// maps had versions, so earlier fixtures and recordings see the same ids.
pub(crate) fn template_id(c: &Connection, name: &str, version: &str) -> Uuid {
    if versions(c, name)[0] == version {
        super::shapes::template_id(name)
    } else {
        name_uuid("map-template", &format!("{name}\0{version}"))
    }
}

pub(crate) fn active_template_id(c: &Connection, m: &DwMap) -> Uuid {
    template_id(c, &m.name, &active_version(c, m))
}

/// The connection holding map `id`.
pub(crate) fn connection_of(world: &World, id: Uuid) -> Option<&Connection> {
    world
        .fo
        .iter()
        .filter_map(|e| e.connection.as_ref())
        .find(|c| c.maps.iter().any(|m| m.id == id))
}

fn version_json(v: &str) -> Value {
    let [major, minor, build, revision] = parse_version(v).unwrap_or_default();
    json!({"major": major, "minor": minor, "build": build, "revision": revision})
}

/// DWA `DWLibary/Struct/DWMaps.cs` `DWMapTemplate`.
fn template_json(c: &Connection, name: &str, version: &str) -> Value {
    json!({"id": template_id(c, name, version), "name": name, "displayName": name,
           "author": "Microsoft", "readOnly": true, "version": version_json(version)})
}

/// `detail.tid`, `detail.template` and `detail.templates` of a map.
pub(crate) fn templates(world: &World, m: &DwMap) -> (Uuid, Value, Value) {
    let Some(c) = connection_of(world, m.id) else {
        let tid = super::shapes::template_id(&m.name);
        return (tid, json!({"id": tid, "name": m.name}), json!([]));
    };
    let active = active_version(c, m);
    let all: Vec<Value> = versions(c, &m.name)
        .iter()
        .map(|v| template_json(c, &m.name, v))
        .collect();
    (
        active_template_id(c, m),
        template_json(c, &m.name, &active),
        Value::Array(all),
    )
}

fn find_map<'a>(c: &'a Connection, tid: &str) -> Option<&'a DwMap> {
    c.maps.iter().find(|m| {
        active_template_id(c, m)
            .to_string()
            .eq_ignore_ascii_case(tid)
    })
}

fn conn<'a>(world: &'a World, cid: &str) -> Result<(usize, &'a Connection), Reply> {
    let i = connection_by_id(world, cid)?;
    let c = world.fo[i]
        .connection
        .as_ref()
        .ok_or_else(|| not_found("no connection set"))?;
    Ok((i, c))
}

/// `POST {api}Start` (DWA `DWMapEngine.cs` `startStopMap`, 1698–1830): `1` start, `4` stop,
/// `5` pause, `6` resume, `8` initial sync; DWA sends several `details` to pause or resume.
pub(crate) fn start(world: &mut World, body: &Map<String, Value>) -> Result<Outcome, Reply> {
    let (action, details, skip_initial_sync) = bodies::start(body)?;
    let state = match action.as_str() {
        "1" | "6" | "8" => MapState::Running,
        "4" => MapState::Stopped,
        "5" => MapState::Paused,
        other => {
            return Err(bad_request(format!(
                "`{other}` is not a Start action (1, 4, 5, 6, 8)"
            )))
        }
    };
    if details.len() > 1 && !matches!(action.as_str(), "5" | "6") {
        return Err(bad_request(
            "several maps in one Start request are for pause (5) and resume (6) only",
        ));
    }
    let cid = &details[0].cid;
    if details.iter().any(|d| !d.cid.eq_ignore_ascii_case(cid)) {
        return Err(bad_request(
            "every Start detail names the same connection set",
        ));
    }
    let (_, c) = conn(world, cid)?;
    let mut ids = Vec::new();
    let mut names = Vec::new();
    for d in &details {
        let m = find_map(c, &d.tid)
            .ok_or_else(|| not_found(format!("no map with template `{}` in {}", d.tid, c.name)))?;
        match (&d.pid, action.as_str()) {
            (Some(pid), _) if !pid.eq_ignore_ascii_case(&m.id.to_string()) => {
                return Err(bad_request(format!(
                    "pid `{pid}` is not the project of map {}",
                    m.name
                )))
            }
            (None, a) if a != "8" => {
                return Err(bad_request(format!(
                    "map {} has a project: send its pid",
                    m.name
                )))
            }
            _ => {}
        }
        ids.push(m.id);
        names.push(m.name.clone());
    }
    let connection = c.id;
    let verb = match action.as_str() {
        "1" if skip_initial_sync == Some(false) => "Start with initial sync",
        "1" => "Start",
        "4" => "Stop",
        "5" => "Pause",
        "6" => "Resume",
        _ => "Initial sync of",
    };
    let message = format!("{verb} {}", names.join(", "));
    let act = if ids.len() == 1 {
        Action::SetMapState {
            connection,
            map: ids[0],
            state,
        }
    } else {
        Action::SetMapStates {
            connection,
            maps: ids,
            state,
            action: action.clone(),
        }
    };
    Ok(begin(world, act, &message))
}

/// `POST {api}SolutionAware/{cid}/SwitchActive/{templateId}?pid=` with the template id as a
/// JSON string (DWA `DWMapEngine.cs` `applyMapVersion`, 1940–1975). DWA reads no reply and
/// re-reads the map; the request id answered here has no public evidence. A running map is
/// refused: DWA always stops a map before switching it (`applyMapSingle`, 1373–1395), whether
/// the service requires it has no public evidence.
pub(crate) fn switch_active(
    world: &mut World,
    cid: &str,
    template: &str,
    pid: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<Outcome, Reply> {
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(bad_request("SwitchActive takes application/json"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::String(s)) if s.eq_ignore_ascii_case(template) => {}
        _ => {
            return Err(bad_request(
                "the SwitchActive body is the template id as a JSON string",
            ))
        }
    }
    let pid = pid
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad_request("pid (the map's project) is required"))?;
    let (_, c) = conn(world, cid)?;
    let m = c
        .maps
        .iter()
        .find(|m| m.id.to_string().eq_ignore_ascii_case(pid))
        .ok_or_else(|| not_found(format!("no map with project `{pid}` in {}", c.name)))?;
    let version = versions(c, &m.name)
        .into_iter()
        .find(|v| {
            template_id(c, &m.name, v)
                .to_string()
                .eq_ignore_ascii_case(template)
        })
        .ok_or_else(|| not_found(format!("map {} has no template `{template}`", m.name)))?;
    if m.state.is_active() {
        return Err(Reply::error(
            StatusCode::CONFLICT,
            "MapRunning",
            format!("stop map {} before switching its version", m.name),
        ));
    }
    let act = Action::SwitchVersion {
        connection: c.id,
        map: m.id,
        version: version.clone(),
    };
    let message = format!("Switch {} to version {version}", m.name);
    Ok(begin(world, act, &message))
}

/// The CRM environment's dataset name: the connection set's CRM entry `name` (DWA
/// `applyIntegrationKeys` posts to `api/dataset/{conEnv.name}`).
fn dataset(world: &World, c: &Connection) -> Option<String> {
    let url = c.connected_to.as_deref()?;
    Some(match world.org_by_url(url) {
        Some(o) => o.unique_name.clone(),
        None => dwlink_core::fixture::host_of(url)?
            .split('.')
            .next()?
            .to_string(),
    })
}

/// `GET {api}{pid}/FieldMappings` (DWA `DWCommonEngine.cs` `getFieldMappingForMaps`, 255–320;
/// `DWLibary/Struct/DWFieldMapping.cs`): the project's `name` (which `Refresh` takes), its
/// environments with their schemas and keys. Only the members dwlink reads are emulated.
pub(crate) fn field_mappings(world: &World, pid: &str) -> Result<Reply, Reply> {
    let (c, m) = world
        .fo
        .iter()
        .filter_map(|e| e.connection.as_ref())
        .find_map(|c| {
            c.maps
                .iter()
                .find(|m| m.id.to_string().eq_ignore_ascii_case(pid))
                .map(|m| (c, m))
        })
        .ok_or_else(|| not_found(format!("no project `{pid}`")))?;
    let (fo, _) = split_map_name(&m.name);
    let dv = table(c, &m.name);
    let keys: Vec<Value> = if m.keys.is_empty() {
        Vec::new()
    } else {
        vec![
            json!({"name": "USERKEYS", "displayName": "Integration key", "fields": m.keys,
                    "isIntegrationKey": true, "isPrimaryKey": false, "isCustomized": true,
                    "isHardcoded": false}),
        ]
    };
    let version = active_version(c, m);
    Ok(Reply::ok(json!({
        "id": m.id, "name": project_name(m), "displayName": m.name,
        "environments": [
            {"name": dataset(world, c), "connectionSetName": c.name, "targetType": "CRM",
             "schemas": [{"name": dv, "displayName": dv, "keys": keys, "fields": []}]},
            {"name": fo, "connectionSetName": c.name, "targetType": "AX", "schemas": []},
        ],
        "templateIdentifier": {"name": m.name, "id": active_template_id(c, m),
                               "displayName": m.name, "version": version_json(&version)},
        "isDualWriteProject": true, "skipInitialSync": true,
    })))
}

/// The project name `FieldMappings` answers and `Refresh` takes.
fn project_name(m: &DwMap) -> String {
    format!("dw-{}", m.id.simple())
}

/// `POST {gateway}api/dataset/{dataset}/IntegrationKeys` with `{datasetName, integrationKeys:
/// {<Dataverse table>: [fields]}}` (DWA `DWMapEngine.cs` `applyIntegrationKeys`, 1480–1530;
/// `DWLibary/Struct/IntegrationKeys.cs`). DWA reads no reply: an empty 200 here.
pub(crate) fn integration_keys(
    world: &mut World,
    dataset_name: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Outcome, Reply> {
    let body = bodies::json_body(body, content_type)?;
    const WHAT: &str = "the IntegrationKeys body";
    bodies::only(&body, &["datasetName", "integrationKeys"], WHAT)?;
    let named = bodies::text(&body, "datasetName", WHAT)?;
    if !named.eq_ignore_ascii_case(dataset_name) {
        return Err(bad_request(format!(
            "datasetName `{named}` is not the dataset of the path, `{dataset_name}`"
        )));
    }
    let keys = body
        .get("integrationKeys")
        .and_then(Value::as_object)
        .ok_or_else(|| bad_request("`integrationKeys` must be an object of table → fields"))?;
    let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
    for (table, fields) in keys {
        let fields: Option<Vec<String>> = fields.as_array().and_then(|a| {
            a.iter()
                .map(|f| f.as_str().filter(|s| !s.is_empty()).map(str::to_string))
                .collect()
        });
        let fields = fields
            .ok_or_else(|| bad_request(format!("the keys of `{table}` must be field names")))?;
        wanted.push((table.clone(), fields));
    }
    let mut found = false;
    let datasets: Vec<Option<String>> = world
        .fo
        .iter()
        .map(|e| e.connection.as_ref().and_then(|c| dataset(world, c)))
        .collect();
    for (env, ds) in world.fo.iter_mut().zip(datasets) {
        let Some(c) = env.connection.as_mut() else {
            continue;
        };
        if !ds.is_some_and(|d| d.eq_ignore_ascii_case(dataset_name)) {
            continue;
        }
        found = true;
        let tables: Vec<String> = c.maps.iter().map(|m| table(c, &m.name)).collect();
        for (m, t) in c.maps.iter_mut().zip(tables) {
            if let Some((_, f)) = wanted.iter().find(|(w, _)| w.eq_ignore_ascii_case(&t)) {
                m.keys = f.clone();
            }
        }
    }
    if !found {
        return Err(not_found(format!("no dataset `{dataset_name}`")));
    }
    Ok(Outcome {
        reply: Reply::empty(StatusCode::OK),
        changed: true,
        started: None,
        answer_late: false,
        pending: None,
    })
}

/// `POST {gateway}api/Project/{name}/Refresh` with `{"tokens":[""]}` (DWA `DWMapEngine.cs`
/// `refreshTable`, 1423–1475). DWA checks the status only: an empty 200 here.
pub(crate) fn refresh(
    world: &World,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Outcome, Reply> {
    let body = bodies::json_body(body, content_type)?;
    bodies::only(&body, &["tokens"], "the Refresh body")?;
    if !body.get("tokens").is_some_and(Value::is_array) {
        return Err(bad_request("the Refresh body: `tokens` must be an array"));
    }
    let exists = world
        .fo
        .iter()
        .filter_map(|e| e.connection.as_ref())
        .flat_map(|c| c.maps.iter())
        .any(|m| project_name(m) == name);
    if !exists {
        return Err(not_found(format!("no project named `{name}`")));
    }
    Ok(reply(Reply::empty(StatusCode::OK)))
}

/// `POST {api}GetTemplatePrerequisiteSequences/{cid}` with `["<templateId>"]`: DWA deserializes
/// the reply as `List<List<string>>` and reads item 0, the template ids to run first, itself
/// among them (`DWMapEngine.cs` `getTemplatePreRequisite`, 1541–1590).
pub(crate) fn prerequisites(
    world: &World,
    cid: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Reply, Reply> {
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(bad_request(
            "GetTemplatePrerequisiteSequences takes application/json",
        ));
    }
    let ids: Vec<String> = serde_json::from_slice(body)
        .map_err(|_| bad_request("the body is a JSON array of template ids"))?;
    let (_, c) = conn(world, cid)?;
    let mut out = Vec::new();
    for tid in &ids {
        let m = find_map(c, tid)
            .ok_or_else(|| not_found(format!("no map with template `{tid}` in {}", c.name)))?;
        let mut seq: Vec<Value> = spec(c, &m.name)
            .prerequisites
            .iter()
            .filter_map(|p| c.maps.iter().find(|x| &x.name == p))
            .map(|p| json!(active_template_id(c, p)))
            .collect();
        seq.push(json!(active_template_id(c, m)));
        out.push(Value::Array(seq));
    }
    Ok(Reply::ok(Value::Array(out)))
}

/// A map request completing: the new states or version. A start on the map's failing version
/// (or of a map named in `failing_maps`) ends in Error.
pub(crate) fn complete(c: &mut Connection, action: &Action) -> Result<(), String> {
    match action {
        Action::SetMapStates { maps, state, .. } => {
            for id in maps {
                set_state(c, *id, *state)?;
            }
            Ok(())
        }
        Action::SetMapState { map, state, .. } => set_state(c, *map, *state),
        Action::SwitchVersion { map, version, .. } => {
            let m = c
                .maps
                .iter_mut()
                .find(|m| m.id == *map)
                .ok_or("the map was removed (reset?)")?;
            m.version = Some(version.clone());
            Ok(())
        }
        Action::ApplySolution { .. } => Ok(()),
    }
}

fn set_state(c: &mut Connection, id: Uuid, state: MapState) -> Result<(), String> {
    let failing = c.failing_maps.clone();
    let catalog = c.catalog.clone();
    let default_version = |name: &str| {
        catalog
            .get(name)
            .and_then(|s| s.versions.first().cloned())
            .unwrap_or_else(|| DEFAULT_VERSION.to_string())
    };
    let m = c
        .maps
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or("the map was removed (reset?)")?;
    if state == MapState::Running {
        let active = m
            .version
            .clone()
            .unwrap_or_else(|| default_version(&m.name));
        let bad_version = catalog
            .get(&m.name)
            .and_then(|s| s.fails_on_version.as_ref())
            .is_some_and(|v| *v == active);
        if failing.contains(&m.name) || bad_version {
            m.state = MapState::Error;
            return Err(if bad_version {
                format!("map {} failed to start on version {active}", m.name)
            } else {
                format!("initial sync of map {} failed", m.name)
            });
        }
    }
    m.state = state;
    Ok(())
}
