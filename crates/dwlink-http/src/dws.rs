//! The dual-write management service — undocumented by Microsoft, so every route and shape it
//! has lives in this one module (see docs/http-contract.md) to be corrected in one place.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

use super::odata::{encode, read_all, url_with_query, Paging};
use super::reply::Reply;
use super::request::ApiRequest;
use super::session::Session;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::{RequestId, ResetOptions, Solution};
use dwlink_core::model::desired::{EnvironmentType, ResetTarget};
use dwlink_core::model::identity::same_host_str;
use dwlink_core::model::live::{LiveConnection, LiveMap, MapState, OrgRef};

/// Joined onto the configured `dual_write_service.url`.
pub(crate) const BASE_PATH: &str = "api/DualWriteManagement/1.0/";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionSet {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub environments: Vec<Environment>,
    #[serde(default)]
    pub dual_write_detail: Option<DualWriteDetail>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Environment {
    pub target_type: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub direct_url: Option<String>,
    #[serde(default)]
    pub environment_type: Option<String>,
    #[serde(default)]
    pub power_platform_link: Option<PowerPlatformLink>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PowerPlatformLink {
    pub direct_url: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DualWriteDetail {
    #[serde(default)]
    pub legal_entity_mappings: Vec<LegalEntityMapping>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LegalEntityMapping {
    pub ax_legal_entity: String,
}

impl ConnectionSet {
    pub(crate) fn environment(&self, target_type: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|e| e.target_type.eq_ignore_ascii_case(target_type))
    }

    pub(crate) fn legal_entities(&self) -> Vec<String> {
        let mut les: Vec<String> = self
            .dual_write_detail
            .iter()
            .flat_map(|d| d.legal_entity_mappings.iter())
            .map(|m| m.ax_legal_entity.trim().to_ascii_uppercase())
            .collect();
        les.sort();
        les.dedup();
        les
    }
}

pub(crate) fn environment_type(s: &str) -> Option<EnvironmentType> {
    Some(match s.to_ascii_lowercase().as_str() {
        "production" => EnvironmentType::Production,
        "sandbox" => EnvironmentType::Sandbox,
        "cloudhosted" | "cloud-hosted" => EnvironmentType::CloudHosted,
        _ => return None,
    })
}

/// An organization reference from a URL and an optional GUID, or why it is unusable.
pub(crate) fn org_ref(direct_url: &str, id: Option<&str>) -> Result<OrgRef, String> {
    let url = Url::parse(direct_url)
        .map_err(|e| format!("directUrl `{direct_url}` is not a URL: {e}"))?;
    let organization_id = match id {
        Some(s) => {
            Some(Uuid::try_parse(s).map_err(|_| format!("organization id `{s}` is not a GUID"))?)
        }
        None => None,
    };
    Ok(OrgRef {
        url,
        organization_id,
    })
}

fn url(base: &Url, path: &str, query: &[(&str, String)]) -> Result<Url, ProviderError> {
    url_with_query(base, path, query)
}

fn seg(s: &str) -> String {
    encode(s)
}

/// The connection set of the F&O environment, `None` when it was never linked.
pub(crate) async fn find_connection_set(
    session: &Session,
    base: &Url,
    fo_url: &Url,
) -> Result<Option<ConnectionSet>, ProviderError> {
    let fo = fo_url.as_str().trim_end_matches('/').to_string();
    let u = url(base, "api/ConnectionSets", &[("financeOperationsUrl", fo)])?;
    let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
    #[derive(Deserialize)]
    struct List {
        value: Vec<ConnectionSet>,
    }
    let list: List = reply.json()?;
    // The lookup is ours, not Microsoft's: pick the set whose AX entry really is this host.
    let found = list.value.into_iter().find(|cs| {
        cs.environment("AX")
            .and_then(|e| e.direct_url.as_deref())
            .is_some_and(|u| same_host_str(fo_url, u))
    });
    Ok(found)
}

pub(crate) async fn connection_set(
    session: &Session,
    base: &Url,
    name: &str,
) -> Result<(ConnectionSet, Value), ProviderError> {
    let u = url(base, &format!("api/ConnectionSet/{}", seg(name)), &[])?;
    let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
    let raw = reply.json_value()?;
    let typed = serde_json::from_value(raw.clone())
        .map_err(|e| reply.bad(format!("unexpected connection set: {e}")))?;
    Ok((typed, raw))
}

pub(crate) async fn maps(
    session: &Session,
    base: &Url,
    connection_id: &str,
) -> Result<Vec<LiveMap>, ProviderError> {
    let u = url(
        base,
        &format!("api/ConnectionSet/{}/Maps", seg(connection_id)),
        &[],
    )?;
    let rows = read_all(session, Api::DualWrite, u.clone(), Paging::default()).await?;
    let bad = |d: String| ProviderError::bad_reply(Api::DualWrite, u.to_string(), d);
    let mut maps = rows
        .iter()
        .map(|r| {
            let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
            let name = text("name").ok_or_else(|| bad("a map has no `name`".into()))?;
            let id = text("id").ok_or_else(|| bad(format!("map `{name}` has no `id`")))?;
            let state_name = text("state").unwrap_or_default();
            let state = MapState::from_service_name(&state_name).ok_or_else(|| {
                bad(format!(
                    "map `{name}` is in the unknown state `{state_name}`"
                ))
            })?;
            Ok(LiveMap { id, name, state })
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    maps.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(maps)
}

/// Whether a request a listing shows has not ended yet: `state` is `"1"` Waiting, `"2"`
/// Completed, `"3"` Error in the real service (DWA `DWEnums.cs` `RequestStatus`); the names
/// `status` accepts are taken too. `None` for a state dwlink does not know.
fn in_flight(state: &str) -> Option<bool> {
    match state {
        "1" | "Waiting" | "InProgress" | "Running" => Some(true),
        "2" | "3" | "Completed" | "Error" | "Failed" => Some(false),
        _ => None,
    }
}

/// A map request's `action` code (the Start body's, DWA `DWMapEngine.cs`) in words.
fn map_verb(action: &str) -> &str {
    match action {
        "1" | "Start" => "start",
        "4" | "Stop" => "stop",
        "5" => "pause",
        "6" => "resume",
        "8" => "initial sync of",
        other => other,
    }
}

/// The requests of a connection set that have not ended: each map's `lastRequests[]` in the map
/// listing and the connection set's `dualWriteDetail.solutionAwareRequests[]` (both shapes as
/// in DWA `DWLibary/Struct/DWMaps.cs` and `DWConnectionSet.cs`). A reset is not listed anywhere
/// public (DWA reads no request id for it): one in flight elsewhere is not seen here.
pub(crate) async fn requests_in_flight(
    session: &Session,
    base: &Url,
    connection: &LiveConnection,
) -> Result<Vec<RequestId>, ProviderError> {
    let u = url(
        base,
        &format!("api/ConnectionSet/{}/Maps", seg(&connection.id)),
        &[],
    )?;
    let maps = read_all(session, Api::DualWrite, u.clone(), Paging::default()).await?;
    let mut out = Vec::new();
    for map in &maps {
        let name = map.get("name").and_then(Value::as_str).unwrap_or("?");
        let listed = requests_listed(map.get("lastRequests"), &u)?;
        out.extend(listed.into_iter().map(|(id, action)| RequestId {
            id,
            what: format!("{} map {name}", map_verb(&action)),
        }));
    }
    let (_, raw) = connection_set(session, base, &connection.name).await?;
    let at = url(
        base,
        &format!("api/ConnectionSet/{}", seg(&connection.name)),
        &[],
    )?;
    let detail = raw.get("dualWriteDetail");
    let solutions = requests_listed(detail.and_then(|d| d.get("solutionAwareRequests")), &at)?;
    out.extend(solutions.into_iter().map(|(id, _)| RequestId {
        id,
        what: "apply solution".into(),
    }));
    Ok(out)
}

/// `(requestId, action)` of the entries of a request list that are still in flight. An absent
/// or null list is empty; an entry in a state dwlink does not know is an error, never taken for
/// "ended".
fn requests_listed(list: Option<&Value>, at: &Url) -> Result<Vec<(String, String)>, ProviderError> {
    let bad = |d: String| ProviderError::bad_reply(Api::DualWrite, at.to_string(), d);
    let entries = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("a request list is not an array".into())),
    };
    let mut out = Vec::new();
    for e in entries {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
        let (id, state) = (text("requestId"), text("state"));
        match in_flight(state) {
            Some(true) => out.push((id.to_string(), text("action").to_string())),
            Some(false) => {}
            None => {
                return Err(bad(format!(
                    "request {id} is in the unknown state {state:?}"
                )))
            }
        }
    }
    Ok(out)
}

fn request_id(reply: &Reply, what: String) -> Result<RequestId, ProviderError> {
    let body = reply.json_value()?;
    let id = body
        .get("requestId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| reply.bad(format!("no `requestId` in the answer to {what}")))?;
    Ok(RequestId {
        id: id.to_string(),
        what,
    })
}

pub(crate) async fn map_action(
    session: &Session,
    base: &Url,
    confirm: Confirm,
    connection_id: &str,
    map_id: &str,
    action: &str,
    what: String,
) -> Result<RequestId, ProviderError> {
    let path = format!(
        "api/ConnectionSet/{}/Maps/{}/{action}",
        seg(connection_id),
        seg(map_id)
    );
    let req = ApiRequest::post(Api::DualWrite, url(base, &path, &[])?);
    let probe = Probe::Map {
        connection_id,
        map_id,
        start: action == "Start",
    };
    send_confirmed(session, base, confirm, &req, what, &probe).await
}

/// Request ids dwlink makes up when a read showed the effect of a request whose reply was lost:
/// the service's id went with the reply, and the effect is already there, so there is nothing
/// to poll. Service ids are GUIDs; this prefix is not.
pub(crate) const CONFIRMED_BY_READ: &str = "dwlink-confirmed-by-read:";

/// How long to look for the effect of a management request whose reply was lost, before
/// sending it again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Confirm {
    pub window: Duration,
    pub poll: Duration,
}

/// One management POST is sent at most this many times.
const MAX_SENDS: u32 = 3;

/// A reply that was lost or refused in a way that says nothing about whether the request ran:
/// a 5xx (a gateway may answer it after the service acted) or a broken connection.
fn may_have_run(e: &ProviderError) -> bool {
    match e {
        ProviderError::Status { status, .. } => (500..600).contains(status) && *status != 501,
        ProviderError::Transport { .. } => true,
        _ => false,
    }
}

/// What a read shows of a management request having taken effect.
enum Probe<'a> {
    /// The map in the state the request asks for.
    Map {
        connection_id: &'a str,
        map_id: &'a str,
        start: bool,
    },
    /// The connection set as a completed reset leaves it (no maps, the requested legal
    /// entities, linked to `org_host` when the reset relinks), when it was not so before.
    Reset {
        name: &'a str,
        org_host: Option<String>,
        legal_entities: Vec<String>,
    },
    /// Every map of the solution present, when some were missing before.
    Solution {
        connection_id: &'a str,
        maps: Vec<String>,
    },
    /// The state before the request already looked like its effect: no read can tell whether
    /// it ran, so it is not sent again.
    Blind,
}

/// Hosts as the services print them: case and a trailing dot do not make another host.
fn host_of(u: &str) -> Option<String> {
    let u = Url::parse(u).ok()?;
    Some(u.host_str()?.trim_end_matches('.').to_ascii_lowercase())
}

fn requested_les(les: &[String]) -> Vec<String> {
    let mut les: Vec<String> = les.iter().map(|l| l.trim().to_ascii_uppercase()).collect();
    les.sort();
    les.dedup();
    les
}

fn looks_reset(
    set: &ConnectionSet,
    maps: &[LiveMap],
    org_host: Option<&str>,
    les: &[String],
) -> bool {
    let linked = set
        .environment("CRM")
        .and_then(|e| e.direct_url.as_deref())
        .and_then(host_of);
    maps.is_empty()
        && set.legal_entities() == les
        && org_host.is_none_or(|h| linked.as_deref() == Some(h))
}

impl Probe<'_> {
    async fn seen(&self, session: &Session, base: &Url) -> Result<bool, ProviderError> {
        Ok(match self {
            Probe::Map {
                connection_id,
                map_id,
                start,
            } => maps(session, base, connection_id)
                .await?
                .iter()
                .find(|m| m.id.eq_ignore_ascii_case(map_id))
                .is_some_and(|m| {
                    if *start {
                        // InitialSync and CatchUp are a start under way: sending Start again
                        // would not make it go faster.
                        m.state.is_active()
                    } else {
                        matches!(m.state, MapState::Stopped | MapState::NotRunning)
                    }
                }),
            Probe::Reset {
                name,
                org_host,
                legal_entities,
            } => {
                let (set, _) = connection_set(session, base, name).await?;
                let maps = maps(session, base, &set.id).await?;
                looks_reset(&set, &maps, org_host.as_deref(), legal_entities)
            }
            Probe::Solution {
                connection_id,
                maps: wanted,
            } => {
                let present = maps(session, base, connection_id).await?;
                wanted.iter().all(|w| present.iter().any(|m| &m.name == w))
            }
            Probe::Blind => false,
        })
    }
}

/// Sends a management POST, and again (at most [`MAX_SENDS`] times in all) only when its reply
/// was lost and a read shows the request did not take effect; when the read shows it did, the
/// request counts as done. A management request is not idempotent (each POST starts a request of its
/// own), so the client never repeats it on its own; a 429 or a refused connection, which the
/// client does retry, means the service never ran it.
async fn send_confirmed(
    session: &Session,
    base: &Url,
    confirm: Confirm,
    req: &ApiRequest,
    what: String,
    probe: &Probe<'_>,
) -> Result<RequestId, ProviderError> {
    let mut sends = 0;
    loop {
        sends += 1;
        let error = match session.send(req).await {
            Ok(reply) => return request_id(&reply, what),
            Err(e) if may_have_run(&e) => e,
            Err(e) => return Err(e),
        };
        if matches!(probe, Probe::Blind) || sends >= MAX_SENDS {
            return Err(error);
        }
        // A request's effect shows when it completes, a while after the POST: looked for
        // during the window, not once. Not seen by its end, the request is taken as never run.
        let deadline = Instant::now() + confirm.window;
        let mut interval = confirm.poll;
        loop {
            if probe.seen(session, base).await? {
                return Ok(RequestId {
                    id: format!("{CONFIRMED_BY_READ}{}", Uuid::new_v4()),
                    what,
                });
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(Duration::from_secs(5));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestState {
    Waiting,
    Completed,
    Error(String),
}

pub(crate) async fn status(
    session: &Session,
    base: &Url,
    id: &str,
) -> Result<RequestState, ProviderError> {
    let u = url(base, &format!("api/Status/{}", seg(id)), &[])?;
    let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
    let body = reply.json_value()?;
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match body.get("state").and_then(Value::as_str) {
        Some("Waiting") | Some("InProgress") | Some("Running") => Ok(RequestState::Waiting),
        Some("Completed") => Ok(RequestState::Completed),
        Some("Error") | Some("Failed") => Ok(RequestState::Error(if message.is_empty() {
            "(the service gave no message)".into()
        } else {
            message
        })),
        // An unknown state is never taken for success.
        other => Err(reply.bad(format!("request {id} is in an unknown state {other:?}"))),
    }
}

pub(crate) fn reset_body(raw: &Value, set: &ConnectionSet, options: &ResetOptions) -> Value {
    let target = match options.target {
        ResetTarget::PowerPlatformLink => "PowerPlatformLink",
        ResetTarget::CurrentEnvironment => "CurrentEnvironment",
    };
    let power_apps = set
        .environment("CRM")
        .and_then(|e| e.name.clone())
        .unwrap_or_default();
    json!({
        "powerAppsEnvironmentName": power_apps,
        "environments": raw.get("environments").cloned().unwrap_or_else(|| json!([])),
        "legalEntities": options.legal_entities,
        "target": target,
    })
}

pub(crate) async fn reset(
    session: &Session,
    base: &Url,
    confirm: Confirm,
    name: &str,
    options: &ResetOptions,
) -> Result<RequestId, ProviderError> {
    let (set, raw) = connection_set(session, base, name).await?;
    let u = url(
        base,
        &format!("api/ConnectionSet/{}/Reset", seg(&set.id)),
        &[
            ("targetType", "AX".into()),
            ("forceReset", options.force.to_string()),
        ],
    )?;
    let req = ApiRequest::post(Api::DualWrite, u).json(reset_body(&raw, &set, options));
    // The organization a completed reset links to: the Power Platform link's, unless it keeps
    // the current one (CurrentEnvironment, or no link as on cloud-hosted environments).
    let org_host = match options.target {
        ResetTarget::PowerPlatformLink => set
            .environment("AX")
            .and_then(|e| e.power_platform_link.as_ref())
            .and_then(|l| host_of(&l.direct_url)),
        ResetTarget::CurrentEnvironment => None,
    };
    let legal_entities = requested_les(&options.legal_entities);
    let before = maps(session, base, &set.id).await?;
    let probe = if looks_reset(&set, &before, org_host.as_deref(), &legal_entities) {
        Probe::Blind
    } else {
        Probe::Reset {
            name,
            org_host,
            legal_entities,
        }
    };
    send_confirmed(
        session,
        base,
        confirm,
        &req,
        format!("reset connection set {name}"),
        &probe,
    )
    .await
}

pub(crate) async fn set_legal_entities(
    session: &Session,
    base: &Url,
    connection_id: &str,
    les: &[String],
) -> Result<(), ProviderError> {
    let u = url(
        base,
        &format!("api/ConnectionSet/{}/LegalEntities", seg(connection_id)),
        &[],
    )?;
    let req = ApiRequest::new(Api::DualWrite, reqwest::Method::PUT, u)
        .json(json!({ "legalEntities": les }));
    session.send(&req).await.map(|_| ())
}

pub(crate) async fn solutions(
    session: &Session,
    base: &Url,
    connection_id: &str,
) -> Result<Vec<Solution>, ProviderError> {
    let u = url(
        base,
        &format!("SolutionAware/{}/Solutions/", seg(connection_id)),
        &[],
    )?;
    let rows = read_all(session, Api::DualWrite, u.clone(), Paging::default()).await?;
    rows.into_iter()
        .map(|r| serde_json::from_value::<Solution>(Value::Object(r)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ProviderError::bad_reply(
                Api::DualWrite,
                u.to_string(),
                format!("unexpected solution: {e}"),
            )
        })
}

pub(crate) async fn apply_solution(
    session: &Session,
    base: &Url,
    confirm: Confirm,
    connection_id: &str,
    name: &str,
) -> Result<RequestId, ProviderError> {
    let path = format!(
        "SolutionAware/{}/Solutions/{}/Apply",
        seg(connection_id),
        seg(name)
    );
    let req = ApiRequest::post(Api::DualWrite, url(base, &path, &[])?);
    let wanted = solutions(session, base, connection_id)
        .await?
        .into_iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .map(|s| s.maps)
        .unwrap_or_default();
    let before = maps(session, base, connection_id).await?;
    let missing = wanted.iter().any(|w| !before.iter().any(|m| &m.name == w));
    let probe = if missing {
        Probe::Solution {
            connection_id,
            maps: wanted,
        }
    } else {
        Probe::Blind
    };
    send_confirmed(
        session,
        base,
        confirm,
        &req,
        format!("apply solution {name}"),
        &probe,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_set_shape() {
        let raw = json!({"id":"c1","name":"n","environments":[
            {"targetType":"AX","name":"fo","directUrl":"https://fo.example","environmentType":"Sandbox",
             "powerPlatformLink":{"directUrl":"https://org.example","organizationId":"4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"}},
            {"targetType":"CRM","name":"org1","id":"4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10","directUrl":"https://org.example"}],
            "dualWriteDetail":{"legalEntityMappings":[{"axLegalEntity":"usmf","crmCompany":"USMF"},{"axLegalEntity":"DEMF"}]}});
        let cs: ConnectionSet = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(cs.legal_entities(), ["DEMF", "USMF"]);
        assert_eq!(
            environment_type("CloudHosted"),
            Some(EnvironmentType::CloudHosted)
        );
        let body = reset_body(
            &raw,
            &cs,
            &ResetOptions {
                force: true,
                target: ResetTarget::PowerPlatformLink,
                legal_entities: vec!["USMF".into()],
            },
        );
        assert_eq!(body["powerAppsEnvironmentName"], "org1");
        assert_eq!(body["environments"].as_array().unwrap().len(), 2);
        assert_eq!(body["target"], "PowerPlatformLink");
        assert!(org_ref("nope", None).is_err());
    }

    #[test]
    fn listed_requests_in_flight() {
        let at = Url::parse("https://dws.example/api/ConnectionSet/c1/Maps").unwrap();
        let list = json!([
            {"requestId": "a", "action": "4", "state": "1"},
            {"requestId": "b", "action": "1", "state": "2"},
            {"requestId": "c", "action": "1", "state": "3", "errorMessage": "x"},
            {"requestId": "d", "action": "Start", "state": "Waiting"}
        ]);
        assert_eq!(
            requests_listed(Some(&list), &at).unwrap(),
            [("a".into(), "4".into()), ("d".into(), "Start".into())]
        );
        assert!(requests_listed(None, &at).unwrap().is_empty());
        assert!(requests_listed(Some(&Value::Null), &at).unwrap().is_empty());
        let odd = json!([{"requestId": "e", "state": "7"}]);
        assert!(requests_listed(Some(&odd), &at).is_err());
        assert_eq!(map_verb("4"), "stop");
    }
}
