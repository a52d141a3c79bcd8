//! The dual-write management service as Microsoft's own automation calls it
//! (microsoft/Dual-write-automations, "DWA"): under `/api/DualWriteManagement/1.0/` the
//! environment lookup, maps, Start, request status and solutions; at the gateway root the
//! connection set and the reset. Every other path, and the routes an earlier dwlink invented,
//! answer 404; bodies are read strictly ([`bodies`]).

mod bodies;
pub(crate) mod maps;
mod reset;
pub(crate) mod shapes;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::odata::error::{bad_request, not_found, Reply};
use super::odata::percent_decode;
use super::store::{Action, AsyncRequest, RequestState, World};

/// What a management call did: its reply, whether the world changed, the asynchronous request
/// it started (completed after `async_ms`), whether the reply itself waits (a reset answers
/// only when it is done, `reset_ms`), and a reset's change that shows only then.
pub(crate) struct Outcome {
    pub reply: Reply,
    pub changed: bool,
    pub started: Option<String>,
    pub answer_late: bool,
    pub pending: Option<reset::Pending>,
}

fn reply(r: Reply) -> Outcome {
    Outcome {
        reply: r,
        changed: false,
        started: None,
        answer_late: false,
        pending: None,
    }
}

const API: [&str; 3] = ["api", "DualWriteManagement", "1.0"];

/// One request to the management service; `path` is the whole request path.
pub(crate) fn handle(
    world: &mut World,
    method: &Method,
    path: &str,
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Outcome {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| {
        q.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let result = match (method.clone(), segs.as_slice()) {
        (Method::GET, [a, b, c, "Environments"]) if [*a, *b, *c] == API => {
            environments(world, param("targetType"), param("identifier")).map(reply)
        }
        (Method::GET, [a, b, c, "Entities"]) if [*a, *b, *c] == API => {
            entities(world, param("targetType"), param("cid")).map(reply)
        }
        (Method::POST, [a, b, c, "Start"]) if [*a, *b, *c] == API => {
            bodies::json_body(body, content_type).and_then(|b| start(world, &b))
        }
        (Method::GET, [a, b, c, "Status", id]) if [*a, *b, *c] == API => {
            map_status(world, id).map(reply)
        }
        (Method::GET, [a, b, c, "SolutionAware", cid, "Solutions", rest @ ..])
            if [*a, *b, *c] == API && rest.iter().all(|s| s.is_empty()) =>
        {
            solutions(world, cid).map(reply)
        }
        (Method::POST, [a, b, c, "SolutionAware", cid, "RestoreTemplates"])
            if [*a, *b, *c] == API =>
        {
            bodies::json_body(body, content_type).and_then(|b| restore_templates(world, cid, &b))
        }
        (Method::GET, [a, b, c, "SolutionAware", cid, "Status", id]) if [*a, *b, *c] == API => {
            solution_status(world, cid, id).map(reply)
        }
        (Method::POST, [a, b, c, "SolutionAware", cid, "SwitchActive", tid])
            if [*a, *b, *c] == API =>
        {
            maps::switch_active(world, cid, tid, param("pid"), content_type, body)
        }
        (Method::GET, [a, b, c, pid, "FieldMappings"]) if [*a, *b, *c] == API => {
            maps::field_mappings(world, pid).map(reply)
        }
        (Method::POST, [a, b, c, "GetTemplatePrerequisiteSequences", cid])
            if [*a, *b, *c] == API =>
        {
            maps::prerequisites(world, cid, content_type, body).map(reply)
        }
        (Method::POST, ["api", "dataset", dataset, "IntegrationKeys"]) => {
            maps::integration_keys(world, dataset, content_type, body)
        }
        (Method::POST, ["api", "Project", name, "Refresh"]) => {
            maps::refresh(world, name, content_type, body)
        }
        (Method::GET, ["api", "ConnectionSet", name]) => match connection_by_name(world, name) {
            Some(i) => Ok(reply(Reply::ok(shapes::connection_set(
                world,
                &world.fo[i],
            )))),
            None => Err(not_found(format!("no connection set named `{name}`"))),
        },
        (Method::POST, ["api", "ConnectionSet", cid, "Reset"]) => reset::reset(
            world,
            cid,
            param("targetType"),
            param("forceReset"),
            content_type,
            body,
        ),
        (m, _) => Err(not_found(format!(
            "{m} {path} is not a route of the dual-write management service"
        ))),
    };
    result.unwrap_or_else(reply)
}

fn connection_by_name(world: &World, name: &str) -> Option<usize> {
    world.fo.iter().position(|e| {
        e.connection
            .as_ref()
            .is_some_and(|c| c.name.eq_ignore_ascii_case(name))
    })
}

pub(crate) fn connection_by_id(world: &World, cid: &str) -> Result<usize, Reply> {
    world
        .fo
        .iter()
        .position(|e| {
            e.connection
                .as_ref()
                .is_some_and(|c| c.id.to_string().eq_ignore_ascii_case(cid))
        })
        .ok_or_else(|| not_found(format!("no connection set with id `{cid}`")))
}

pub(crate) fn target_ax(target: Option<&str>) -> Result<(), Reply> {
    match target {
        Some(t) if t.eq_ignore_ascii_case("AX") => Ok(()),
        Some(t) => Err(bad_request(format!(
            "targetType `{t}` is not emulated (dual-write's F&O side is AX)"
        ))),
        None => Err(bad_request("targetType is required")),
    }
}

/// DWA `DWLibary/DWEnvCalls.cs`: the identifier is the F&O host name without scheme.
fn environments(
    world: &World,
    target: Option<&str>,
    identifier: Option<&str>,
) -> Result<Reply, Reply> {
    target_ax(target)?;
    let id = identifier
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad_request("identifier (the F&O host name) is required"))?;
    if id.contains("://") || id.contains('/') {
        return Err(bad_request(format!(
            "identifier `{id}` must be a host name, without scheme or path"
        )));
    }
    let host = id.trim_end_matches('.').to_ascii_lowercase();
    let list: Vec<Value> = world
        .fo
        .iter()
        .filter(|e| e.host == host)
        .filter_map(shapes::environment_entry)
        .collect();
    Ok(Reply::ok(Value::Array(list)))
}

fn entities(world: &World, target: Option<&str>, cid: Option<&str>) -> Result<Reply, Reply> {
    target_ax(target)?;
    let cid = cid.ok_or_else(|| bad_request("cid is required"))?;
    let i = connection_by_id(world, cid)?;
    let list: Vec<Value> = world.fo[i]
        .connection
        .iter()
        .flat_map(|c| {
            c.maps
                .iter()
                .map(|m| shapes::map_in(world, m, c.map_state_shape))
        })
        .collect();
    Ok(Reply::ok(Value::Array(list)))
}

fn begin(world: &mut World, action: Action, message: &str) -> Outcome {
    let id = uuid::Uuid::new_v4().to_string();
    world.requests.insert(
        id.clone(),
        AsyncRequest {
            id: id.clone(),
            state: RequestState::Waiting,
            message: message.into(),
            action,
            created_on: jiff::Timestamp::now().to_string(),
            modified_on: jiff::Timestamp::now().to_string(),
        },
    );
    Outcome {
        reply: Reply::json(StatusCode::OK, json!({"requestId": id})),
        changed: true,
        started: Some(id),
        answer_late: false,
        pending: None,
    }
}

/// `POST {api}Start`: [`maps::start`].
fn start(world: &mut World, body: &serde_json::Map<String, Value>) -> Result<Outcome, Reply> {
    maps::start(world, body)
}

/// `GET {api}Status/{id}`: the maps the request concerns, with their `lastRequests`.
fn map_status(world: &World, id: &str) -> Result<Reply, Reply> {
    let r = world
        .requests
        .get(id)
        .ok_or_else(|| not_found(format!("no request `{id}`")))?;
    let ids = r.action.maps();
    if ids.is_empty() {
        return Err(not_found(format!("no map request `{id}`")));
    }
    let i = connection_by_id(world, &r.action.connection().to_string())?;
    let list: Vec<Value> = world.fo[i]
        .connection
        .iter()
        .flat_map(|c| c.maps.iter())
        .filter(|m| ids.contains(&m.id))
        .map(|m| shapes::map(world, m))
        .collect();
    Ok(Reply::ok(Value::Array(list)))
}

fn solutions(world: &World, cid: &str) -> Result<Reply, Reply> {
    let i = connection_by_id(world, cid)?;
    let list: Vec<Value> = world.fo[i]
        .connection
        .iter()
        .flat_map(|c| c.solutions.iter())
        .map(|s| shapes::solution(&s.name))
        .collect();
    Ok(Reply::ok(Value::Array(list)))
}

fn restore_templates(
    world: &mut World,
    cid: &str,
    body: &serde_json::Map<String, Value>,
) -> Result<Outcome, Reply> {
    let name = bodies::restore_templates(body)?;
    let i = connection_by_id(world, cid)?;
    let c = world.fo[i]
        .connection
        .as_ref()
        .ok_or_else(|| not_found("no connection set"))?;
    let s = c
        .solutions
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(&name))
        .ok_or_else(|| not_found(format!("no solution with uniquename `{name}`")))?;
    if c.connected_to.is_none() {
        return Err(bad_request(
            "the connection set is not linked to a Dataverse environment; reset it first",
        ));
    }
    let action = Action::ApplySolution {
        connection: c.id,
        solution: s.name.clone(),
    };
    let msg = format!("Apply solution {}", s.name);
    Ok(begin(world, action, &msg))
}

fn solution_status(world: &World, cid: &str, id: &str) -> Result<Reply, Reply> {
    let i = connection_by_id(world, cid)?;
    let conn = world.fo[i].connection.as_ref().map(|c| c.id);
    match world.requests.get(id) {
        Some(r) if matches!(&r.action, Action::ApplySolution { connection, .. } if Some(*connection) == conn) => {
            Ok(Reply::ok(shapes::solution_request(r)))
        }
        _ => Err(not_found(format!(
            "no solution request `{id}` in connection set {cid}"
        ))),
    }
}

pub(crate) use super::requests::complete;
