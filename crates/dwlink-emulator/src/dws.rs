//! The dual-write management service (`/api/DualWriteManagement/1.0/`): connection sets, maps,
//! legal entities, solutions, reset and the asynchronous requests they start. The shapes are
//! dwlink's reading of an undocumented service (docs/http-contract.md); all of it lives here.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::odata::error::{bad_request, not_found, Reply};
use super::odata::percent_decode;
use super::store::{name_uuid, Action, AsyncRequest, FoEnv, RequestState, World};
use dwlink_core::fixture::EnvType;
use dwlink_core::model::live::MapState;

/// What a management call did: its reply, whether the world changed, and the asynchronous
/// request it started (to be completed after `async_ms`).
pub(crate) struct Outcome {
    pub reply: Reply,
    pub changed: bool,
    pub started: Option<String>,
}

fn reply(r: Reply) -> Outcome {
    Outcome {
        reply: r,
        changed: false,
        started: None,
    }
}

pub(crate) fn connection_set_json(world: &World, env: &FoEnv) -> Value {
    let Some(c) = &env.connection else {
        return Value::Null;
    };
    let pp = match (env.env_type, &env.power_platform_link) {
        (EnvType::CloudHosted, _) | (_, None) => Value::Null,
        (_, Some(url)) => json!({
            "directUrl": url,
            "organizationId": world.org_by_url(url).map(|o| o.organization_id),
        }),
    };
    let mut envs = vec![json!({
        "targetType": "AX",
        "name": env.host,
        "displayName": env.host.split('.').next().unwrap_or(&env.host),
        "id": name_uuid("fo-environment", &env.host),
        "isDevInstance": env.env_type == EnvType::CloudHosted,
        "directUrl": env.url,
        "environmentType": env.env_type.service_name(),
        "powerPlatformLink": pp,
    })];
    if let Some(url) = &c.connected_to {
        let host = dwlink_core::fixture::host_of(url).unwrap_or_default();
        let label = host.split('.').next().unwrap_or(&host).to_string();
        let (name, display, id) = match world.org_by_url(url) {
            Some(o) => (
                o.unique_name.clone(),
                o.friendly_name.clone(),
                o.organization_id,
            ),
            None => (label.clone(), label, name_uuid("organization", &host)),
        };
        envs.push(json!({
            "targetType": "CRM", "name": name, "displayName": display, "id": id,
            "isDevInstance": false, "directUrl": url,
        }));
    }
    let mappings: Vec<Value> = c
        .legal_entities
        .iter()
        .map(|l| json!({"axLegalEntity": l, "crmCompany": l}))
        .collect();
    let solution_requests: Vec<Value> = world
        .requests
        .values()
        .filter(|r| matches!(&r.action, Action::ApplySolution { connection, .. } if *connection == c.id))
        .map(|r| {
            json!({"requestId": r.id, "action": "2", "state": request_state(r.state),
                   "result": {"message": r.message, "status": request_state(r.state)}})
        })
        .collect();
    json!({"id": c.id, "name": c.name, "environments": envs,
           "dualWriteDetail": {"legalEntityMappings": mappings,
                               "solutionAwareRequests": solution_requests}})
}

/// A request's state in the management service's listings (`lastRequests[]`,
/// `solutionAwareRequests[]`): the numeric strings of DWA `DWEnums.cs` `RequestStatus`.
fn request_state(state: RequestState) -> &'static str {
    match state {
        RequestState::Waiting => "1",
        RequestState::Completed => "2",
        RequestState::Error => "3",
    }
}

/// The map's requests, as the real map listing's `detail.lastRequests[]` carries them (DWA
/// `DWLibary/Struct/DWMaps.cs` `DWMapLastRequest`); `action` is the Start body's code.
fn map_requests(world: &World, map: uuid::Uuid) -> Vec<Value> {
    world
        .requests
        .values()
        .filter_map(|r| match &r.action {
            Action::SetMapState { map: m, state, .. } if *m == map => Some((r, state)),
            _ => None,
        })
        .map(|(r, state)| {
            let action = if *state == MapState::Running {
                "1"
            } else {
                "4"
            };
            let error = if r.state == RequestState::Error {
                r.message.as_str()
            } else {
                ""
            };
            json!({"requestId": r.id, "action": action, "state": request_state(r.state),
                   "errorMessage": error})
        })
        .collect()
}

fn body_json(body: &[u8], content_type: &str) -> Result<Value, Reply> {
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("expected Content-Type application/json, got `{content_type}`"),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("the body is not valid JSON: {e}")))
}

fn legal_entities(v: &Value) -> Result<Vec<String>, Reply> {
    let list = match v.get("legalEntities") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(bad_request(
                "`legalEntities` must be a list of company codes",
            ))
        }
    };
    let mut out = Vec::new();
    for e in list {
        let code = e.as_str().unwrap_or_default();
        if code.is_empty() || code.len() > 4 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad_request(format!(
                "`{e}` is not a legal-entity code (1–4 letters or digits)"
            )));
        }
        let code = code.to_ascii_uppercase();
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

fn start(world: &mut World, action: Action, message: &str) -> Outcome {
    let id = uuid::Uuid::new_v4().to_string();
    world.requests.insert(
        id.clone(),
        AsyncRequest {
            id: id.clone(),
            state: RequestState::Waiting,
            message: message.into(),
            action,
        },
    );
    Outcome {
        reply: Reply::json(StatusCode::ACCEPTED, json!({"requestId": id})),
        changed: true,
        started: Some(id),
    }
}

pub(crate) fn handle(
    world: &mut World,
    method: &Method,
    path: &str,
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Outcome {
    let segs: Vec<String> = path
        .trim_matches('/')
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
    let conn = |world: &World, id: &str| {
        world
            .connection_env(id)
            .ok_or_else(|| not_found(format!("no connection set `{id}`")))
    };
    let m = method.clone();
    match (m, segs.as_slice()) {
        (Method::GET, ["api", "ConnectionSets"]) => {
            let fo = param("financeOperationsUrl").and_then(dwlink_core::fixture::host_of);
            let value: Vec<Value> = world
                .fo
                .iter()
                .filter(|e| e.connection.is_some() && fo.as_ref().is_none_or(|h| *h == e.host))
                .map(|e| connection_set_json(world, e))
                .collect();
            reply(Reply::ok(json!({"value": value})))
        }
        (Method::GET, ["api", "ConnectionSet", id]) => match conn(world, id) {
            Ok(i) => reply(Reply::ok(connection_set_json(world, &world.fo[i]))),
            Err(r) => reply(r),
        },
        (Method::GET, ["api", "ConnectionSet", id, "Maps"]) => match conn(world, id) {
            Ok(i) => {
                let maps = world.fo[i]
                    .connection
                    .as_ref()
                    .map(|c| &c.maps[..])
                    .unwrap_or_default();
                let value: Vec<Value> = maps
                    .iter()
                    .map(|m| {
                        json!({"id": m.id, "name": m.name, "state": m.state.service_name(),
                                    "lastRequests": map_requests(world, m.id)})
                    })
                    .collect();
                reply(Reply::ok(json!({"value": value})))
            }
            Err(r) => reply(r),
        },
        (Method::POST, ["api", "ConnectionSet", id, "Maps", map, verb @ ("Stop" | "Start")]) => {
            let i = match conn(world, id) {
                Ok(i) => i,
                Err(r) => return reply(r),
            };
            let Some(c) = world.fo[i].connection.as_ref() else {
                return reply(not_found("no connection set"));
            };
            let Some(m) = c
                .maps
                .iter()
                .find(|m| m.id.to_string().eq_ignore_ascii_case(map) || m.name == *map)
            else {
                return reply(not_found(format!(
                    "no map `{map}` in connection set {}",
                    c.name
                )));
            };
            let state = if *verb == "Stop" {
                MapState::Stopped
            } else {
                MapState::Running
            };
            let action = Action::SetMapState {
                connection: c.id,
                map: m.id,
                state,
            };
            let msg = format!("{verb} {}", m.name);
            start(world, action, &msg)
        }
        (Method::GET, ["api", "Status", id]) => match world.requests.get(*id) {
            Some(r) => reply(Reply::ok(json!({
                "requestId": r.id,
                "state": match r.state { RequestState::Waiting => "Waiting", RequestState::Completed => "Completed", RequestState::Error => "Error" },
                "message": r.message,
            }))),
            None => reply(not_found(format!("no request `{id}`"))),
        },
        (Method::POST, ["api", "ConnectionSet", id, "Reset"]) => {
            let i = match conn(world, id) {
                Ok(i) => i,
                Err(r) => return reply(r),
            };
            match reset(world, i, param("forceReset"), content_type, body) {
                Ok(o) => o,
                Err(r) => reply(r),
            }
        }
        (Method::PUT, ["api", "ConnectionSet", id, "LegalEntities"]) => {
            let i = match conn(world, id) {
                Ok(i) => i,
                Err(r) => return reply(r),
            };
            let les = match body_json(body, content_type).and_then(|v| legal_entities(&v)) {
                Ok(l) => l,
                Err(r) => return reply(r),
            };
            if let Some(c) = world.fo[i].connection.as_mut() {
                c.legal_entities = les;
            }
            Outcome {
                reply: Reply::ok(connection_set_json(world, &world.fo[i])),
                changed: true,
                started: None,
            }
        }
        (
            Method::GET,
            ["SolutionAware", id, "Solutions"] | ["SolutionAware", id, "Solutions", ""],
        ) => match conn(world, id) {
            Ok(i) => {
                let sols = world.fo[i]
                    .connection
                    .as_ref()
                    .map(|c| c.solutions.clone())
                    .unwrap_or_default();
                reply(Reply::ok(json!({"value": sols})))
            }
            Err(r) => reply(r),
        },
        (Method::POST, ["SolutionAware", id, "Solutions", name, "Apply"]) => {
            let i = match conn(world, id) {
                Ok(i) => i,
                Err(r) => return reply(r),
            };
            let Some(c) = world.fo[i].connection.as_ref() else {
                return reply(not_found("no connection set"));
            };
            let Some(s) = c
                .solutions
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
            else {
                return reply(not_found(format!("no solution `{name}`")));
            };
            if c.connected_to.is_none() {
                return reply(bad_request(
                    "the connection set is not linked to a Dataverse environment; reset it first",
                ));
            }
            let action = Action::ApplySolution {
                connection: c.id,
                solution: s.name.clone(),
            };
            let msg = format!("Apply solution {}", s.name);
            start(world, action, &msg)
        }
        (m, _) => reply(not_found(format!(
            "{m} /api/DualWriteManagement/1.0/{path} is not a management-service route"
        ))),
    }
}

fn reset(
    world: &mut World,
    i: usize,
    force: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<Outcome, Reply> {
    let force = match force.map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(bad_request(format!(
                "forceReset must be true or false, got `{other}`"
            )))
        }
    };
    let v = body_json(body, content_type)?;
    let les = legal_entities(&v)?;
    let target = v
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or("PowerPlatformLink");
    let env = &world.fo[i];
    let Some(c) = &env.connection else {
        return Err(not_found("no connection set"));
    };
    let active: Vec<&str> = c
        .maps
        .iter()
        .filter(|m| m.state.is_active())
        .map(|m| m.name.as_str())
        .collect();
    if !active.is_empty() && !force {
        return Err(Reply::error(
            StatusCode::CONFLICT,
            "MapsRunning",
            format!(
                "stop every map before a reset, or use forceReset=true; running: {}",
                active.join(", ")
            ),
        ));
    }
    let relink_to = match (env.env_type, target) {
        // Scenario 4: a cloud-hosted environment has no Power Platform link; refresh as is.
        (EnvType::CloudHosted, _) | (_, "CurrentEnvironment") => None,
        (_, "PowerPlatformLink") => match &env.power_platform_link {
            Some(pp) => Some(pp.clone()),
            None => {
                return Err(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "NoPowerPlatformLink",
                    "the environment has no Power Platform integration: set it to the current Dataverse environment first, then reset",
                ))
            }
        },
        (_, other) => return Err(bad_request(format!("target must be PowerPlatformLink or CurrentEnvironment, got `{other}`"))),
    };
    if relink_to.is_none() && c.connected_to.is_none() {
        return Err(bad_request(
            "the connection set is not linked; there is no current environment to refresh",
        ));
    }
    let action = Action::Reset {
        connection: c.id,
        relink_to,
        legal_entities: les,
    };
    if let Some(c) = world.fo[i].connection.as_mut() {
        for m in &mut c.maps {
            if m.state.is_active() {
                m.state = MapState::Stopped;
            }
        }
    }
    Ok(start(world, action, "Reset"))
}

pub(crate) use super::requests::complete;
