//! Maps beyond start and stop, as Microsoft's Dual-write-automations ("DWA") calls them; each
//! function names its DWA source and docs/http-contract.md lists the routes. Where DWA does not
//! read a reply (SwitchActive, IntegrationKeys, Refresh), dwlink reads none either and checks
//! the effect with a read instead.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use super::actions::{post, request_id};
use super::shapes::{MapEntry, Template};
use super::{bare_array, connection_set, map_entries, seg, Gateway};
use crate::services::odata::url_with_query;
use crate::signin::session::Session;
use crate::transport::request::ApiRequest;
use dwlink_core::config::maps::parse_version;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::{MapRequest, RequestId};
use dwlink_core::model::desired::DesiredMap;
use dwlink_core::model::live::{LiveConnection, LiveMap};

/// Declared maps' keys and prerequisites are read this many at a time: the 52 concurrent
/// requests per user the Power Platform's service protection allows (powerapps-docs
/// `developer/data-platform/api-limits.md`; whether the management service has the same limit
/// has no public evidence). The client's limiter holds every request of a run to the same 52,
/// so reads still in flight elsewhere only make these wait.
pub(crate) const MAP_READS: usize = 52;

/// How long a version switch may take to show in the map listing.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(120);

fn version_of(t: &Template) -> Option<String> {
    t.version.map(|v| v.text())
}

/// The active version (`detail.template.version`), the versions offered (`detail.templates`,
/// oldest first) and the Dataverse table (`rightEntity.name`): DWA `DWLibary/Struct/DWMaps.cs`.
pub(crate) fn with_versions(mut m: LiveMap, e: &MapEntry) -> LiveMap {
    m.version = e.detail.template.as_ref().and_then(version_of);
    let mut versions: Vec<String> = e
        .detail
        .templates
        .iter()
        .flatten()
        .filter_map(version_of)
        .collect();
    versions.sort_by_key(|v| parse_version(v).unwrap_or_default());
    versions.dedup();
    m.versions = versions;
    m.paused_since = paused_since(&m, e);
    m.table = e
        .right_entity
        .as_ref()
        .and_then(|r| r.name.clone())
        .filter(|n| !n.is_empty());
    m
}

/// When a paused map's last completed pause request (action `5`, state `2`) last changed:
/// `lastRequests[].modifiedOn` (DWA `DWMaps.cs` `DWMapLastRequest`, lines 51–61). The format
/// of the timestamp has no public evidence: one without an offset is read as UTC, one that does
/// not parse is left out (and no finding is made of it).
fn paused_since(m: &LiveMap, e: &MapEntry) -> Option<String> {
    if m.state != dwlink_core::model::live::MapState::Paused {
        return None;
    }
    let requests = e.detail.last_requests.as_ref()?.as_array()?;
    requests
        .iter()
        .filter(|r| r["action"] == "5" && r["state"] == "2")
        .filter_map(|r| r["modifiedOn"].as_str())
        .filter_map(|t| {
            t.parse::<jiff::Timestamp>().ok().or_else(|| {
                t.parse::<jiff::civil::DateTime>()
                    .ok()
                    .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .map(|z| z.timestamp())
            })
        })
        .max()
        .map(|t| t.to_string())
}

fn field_mappings_url(gw: &Gateway, pid: &str) -> Result<url::Url, ProviderError> {
    url_with_query(&gw.api, &format!("{}/FieldMappings", seg(pid)), &[])
}

/// `GET {api}{pid}/FieldMappings` (DWA `DWCommonEngine.cs` `getFieldMappingForMaps`, lines
/// 255–320; `DWLibary/Struct/DWFieldMapping.cs`).
async fn field_mappings(
    session: &Session,
    gw: &Gateway,
    pid: &str,
) -> Result<Value, ProviderError> {
    let reply = session
        .send(&ApiRequest::get(
            Api::DualWrite,
            field_mappings_url(gw, pid)?,
        ))
        .await?;
    let v = reply.json_value()?;
    if !v.is_object() {
        return Err(reply.bad("the field mappings: expected a JSON object"));
    }
    Ok(v)
}

/// The integration key fields of `table`: the CRM environment's schema of that name, its key
/// marked `isIntegrationKey` or named `USERKEYS`/`USERKEY` (DWA `DWCommonEngine.cs`
/// `getIntegrationKey`, lines 168–196, reads the same keys from the connection set's schemas).
pub(crate) fn keys_of(mappings: &Value, table: &str) -> Vec<String> {
    let envs = mappings["environments"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for env in envs {
        let target = env["targetType"].as_str().unwrap_or_default();
        if target != "CRM" && !target.contains("CDS") {
            continue;
        }
        let schemas = env["schemas"].as_array().map_or(&[][..], Vec::as_slice);
        for s in schemas {
            if !s["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(table))
            {
                continue;
            }
            let keys = s["keys"].as_array().map_or(&[][..], Vec::as_slice);
            let key = keys.iter().find(|k| {
                k["isIntegrationKey"].as_bool() == Some(true)
                    || k["name"].as_str().is_some_and(|n| {
                        n.eq_ignore_ascii_case("USERKEYS") || n.eq_ignore_ascii_case("USERKEY")
                    })
            });
            return key
                .and_then(|k| k["fields"].as_array())
                .map(|f| {
                    f.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
        }
    }
    Vec::new()
}

/// `POST {api}GetTemplatePrerequisiteSequences/{cid}` with `["<templateId>"]`: a list of lists
/// of template ids, item 0 the maps to run first, the map itself among them (DWA
/// `DWMapEngine.cs` `getTemplatePreRequisite`, lines 1541–1590).
async fn prerequisite_ids(
    session: &Session,
    gw: &Gateway,
    cid: &str,
    tid: &str,
) -> Result<Vec<String>, ProviderError> {
    let u = url_with_query(
        &gw.api,
        &format!("GetTemplatePrerequisiteSequences/{}", seg(cid)),
        &[],
    )?;
    let mut req = post(u).json(json!([tid]));
    // A read: sending it again changes nothing.
    req.idempotent = true;
    let reply = session.send(&req).await?;
    let lists: Vec<Vec<String>> = bare_array(&reply, "the prerequisite sequences")?;
    Ok(lists
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !id.eq_ignore_ascii_case(tid))
        .collect())
}

/// One read of [`declared_details`]: a map's keys (from its project) or its prerequisites.
enum Read {
    Keys(usize, String),
    Prerequisites(usize),
}

enum Got {
    Keys(Vec<String>),
    Prerequisites(Vec<String>),
}

/// Keys and prerequisites of the declared maps, read concurrently ([`MAP_READS`] at a time).
pub(crate) async fn declared_details(
    session: &Session,
    gw: &Gateway,
    cid: &str,
    entries: &[MapEntry],
    maps: &mut [LiveMap],
    declared: &[DesiredMap],
) -> Result<(), ProviderError> {
    let wanted: Vec<(usize, Option<String>)> = maps
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            declared
                .iter()
                .any(|d| d.name.eq_ignore_ascii_case(&m.name))
        })
        .map(|(i, m)| {
            let pid = entries
                .iter()
                .find(|e| e.detail.template_id() == Some(m.id.as_str()))
                .and_then(|e| e.detail.pid.clone())
                .filter(|p| !p.is_empty());
            (i, pid)
        })
        .collect();
    // One request per read, not a pair per map: a pair holds its slot until its slower half
    // answers, so [`MAP_READS`] independent reads keep the pipe fuller at the same bound.
    let reads = wanted.into_iter().flat_map(|(i, pid)| {
        let keys = pid.map(|pid| Read::Keys(i, pid));
        keys.into_iter().chain([Read::Prerequisites(i)])
    });
    let got: Vec<(usize, Got)> = stream::iter(reads)
        .map(|r| {
            let (tid, table) = match &r {
                Read::Keys(i, _) | Read::Prerequisites(i) => (
                    maps[*i].id.clone(),
                    maps[*i].table.clone().unwrap_or_default(),
                ),
            };
            async move {
                match r {
                    Read::Keys(i, pid) => field_mappings(session, gw, &pid)
                        .await
                        .map(|v| (i, Got::Keys(keys_of(&v, &table)))),
                    Read::Prerequisites(i) => prerequisite_ids(session, gw, cid, &tid)
                        .await
                        .map(|p| (i, Got::Prerequisites(p))),
                }
            }
        })
        .buffer_unordered(MAP_READS)
        .try_collect()
        .await?;
    for (i, g) in got {
        let prereq = match g {
            Got::Keys(k) => {
                maps[i].integration_keys = Some(k);
                continue;
            }
            Got::Prerequisites(p) => p,
        };
        let names = prereq
            .iter()
            .map(|id| {
                entries
                    .iter()
                    .find(|e| {
                        e.detail
                            .template_id()
                            .is_some_and(|t| t.eq_ignore_ascii_case(id))
                            || e.detail
                                .tid
                                .as_deref()
                                .is_some_and(|t| t.eq_ignore_ascii_case(id))
                    })
                    .map_or_else(|| id.clone(), |e| e.detail.t_name.clone())
            })
            .collect();
        maps[i].prerequisites = Some(names);
    }
    Ok(())
}

async fn entry_of(
    session: &Session,
    gw: &Gateway,
    cid: &str,
    map: &LiveMap,
) -> Result<(MapEntry, url::Url), ProviderError> {
    let (entries, at) = map_entries(session, gw, cid).await?;
    let e = entries
        .into_iter()
        .find(|e| e.detail.t_name.eq_ignore_ascii_case(&map.name))
        .ok_or_else(|| {
            ProviderError::bad_reply(
                Api::DualWrite,
                at.to_string(),
                format!("no map named `{}` in connection set {cid}", map.name),
            )
        })?;
    Ok((e, at))
}

fn pid_of(e: &MapEntry, at: &url::Url) -> Result<String, ProviderError> {
    e.detail
        .pid
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ProviderError::bad_reply(
                Api::DualWrite,
                at.to_string(),
                format!("map `{}` has no project (pid)", e.detail.t_name),
            )
        })
}

/// `POST {api}SolutionAware/{cid}/SwitchActive/{templateId}?pid=` with the template id as a JSON
/// string (DWA `DWMapEngine.cs` `applyMapVersion`, lines 1940–1975). DWA reads no reply and
/// reloads the map; dwlink polls the listing until the version is active.
pub(crate) async fn switch_version(
    session: &Session,
    gw: &Gateway,
    cid: &str,
    map: &LiveMap,
    version: &str,
    poll: Duration,
) -> Result<(), ProviderError> {
    let (e, at) = entry_of(session, gw, cid, map).await?;
    let pid = pid_of(&e, &at)?;
    let wanted = parse_version(version);
    let template = e
        .detail
        .templates
        .iter()
        .flatten()
        .find(|t| version_of(t).and_then(|v| parse_version(&v)) == wanted)
        .ok_or_else(|| {
            ProviderError::bad_reply(
                Api::DualWrite,
                at.to_string(),
                format!("map `{}` offers no version {version}", map.name),
            )
        })?;
    let u = url_with_query(
        &gw.api,
        &format!(
            "SolutionAware/{}/SwitchActive/{}",
            seg(cid),
            seg(&template.id)
        ),
        &[("pid", pid)],
    )?;
    session.send(&post(u).json(json!(template.id))).await?;
    let started = Instant::now();
    let mut interval = poll;
    loop {
        let (now, _) = entry_of(session, gw, cid, map).await?;
        let active = now.detail.template.as_ref().and_then(version_of);
        if active.as_deref().and_then(parse_version) == wanted {
            return Ok(());
        }
        if started.elapsed() >= SWITCH_TIMEOUT {
            return Err(ProviderError::RequestTimedOut {
                request_id: template.id.clone(),
                what: format!("switch map {} to version {version}", map.name),
                waited: started.elapsed(),
                state: format!("version {} active", active.unwrap_or_default()),
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_secs(5));
    }
}

/// `POST {gateway}api/dataset/{dataset}/IntegrationKeys` with `{datasetName, integrationKeys:
/// {<Dataverse table>: [fields]}}`, the dataset being the connection set's CRM environment
/// `name` (DWA `DWMapEngine.cs` `applyIntegrationKeys`, lines 1480–1530;
/// `DWLibary/Struct/IntegrationKeys.cs`).
pub(crate) async fn set_keys(
    session: &Session,
    gw: &Gateway,
    connection: &LiveConnection,
    map: &LiveMap,
    keys: &[String],
) -> Result<(), ProviderError> {
    let (set, _) = connection_set(session, gw, &connection.name).await?;
    let shown = gw.root.to_string();
    let dataset = set
        .dataverse()
        .and_then(|e| e.name.clone())
        .ok_or_else(|| {
            ProviderError::bad_reply(
                Api::DualWrite,
                shown.clone(),
                "the connection set has no Dataverse environment to set keys in",
            )
        })?;
    let table = match &map.table {
        Some(t) => t.clone(),
        None => entry_of(session, gw, &connection.id, map)
            .await?
            .0
            .right_entity
            .and_then(|r| r.name)
            .ok_or_else(|| {
                ProviderError::bad_reply(
                    Api::DualWrite,
                    shown,
                    format!("map `{}` names no Dataverse table", map.name),
                )
            })?,
    };
    let mut tables = Map::new();
    tables.insert(table, json!(keys));
    let u = url_with_query(
        &gw.root,
        &format!("api/dataset/{}/IntegrationKeys", seg(&dataset)),
        &[],
    )?;
    let body = json!({"datasetName": dataset, "integrationKeys": tables});
    session.send(&post(u).json(body)).await?;
    Ok(())
}

/// `POST {gateway}api/Project/{name}/Refresh` with `{"tokens":[""]}`, `name` from the map's
/// field mappings (DWA `DWMapEngine.cs` `refreshTable`, lines 1423–1475).
pub(crate) async fn refresh(
    session: &Session,
    gw: &Gateway,
    cid: &str,
    map: &LiveMap,
) -> Result<(), ProviderError> {
    let (e, at) = entry_of(session, gw, cid, map).await?;
    let pid = pid_of(&e, &at)?;
    let mappings = field_mappings(session, gw, &pid).await?;
    let name = mappings["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ProviderError::bad_reply(
                Api::DualWrite,
                at.to_string(),
                format!("the field mappings of `{}` have no name", map.name),
            )
        })?
        .to_string();
    let u = url_with_query(
        &gw.root,
        &format!("api/Project/{}/Refresh", seg(&name)),
        &[],
    )?;
    session.send(&post(u).json(json!({"tokens": [""]}))).await?;
    Ok(())
}

/// `POST {api}Start` for several maps: action `5` pause or `6` resume with every map in
/// `details`, or `1` with `skipInitialSync: false` for a start that runs the initial sync (DWA
/// `DWMapEngine.cs` `startStopMap`, lines 1698–1830; `DWLibary/Struct/MapsHelper.cs`). Sent
/// once: a lost reply is reported, not guessed at.
pub(crate) async fn request(
    session: &Session,
    gw: &Gateway,
    cid: &str,
    maps: &[LiveMap],
    request: MapRequest,
) -> Result<RequestId, ProviderError> {
    let (entries, at) = map_entries(session, gw, cid).await?;
    let mut details = Vec::new();
    for m in maps {
        let e = entries
            .iter()
            .find(|e| e.detail.t_name.eq_ignore_ascii_case(&m.name))
            .ok_or_else(|| {
                ProviderError::bad_reply(
                    Api::DualWrite,
                    at.to_string(),
                    format!("no map named `{}`", m.name),
                )
            })?;
        let tid = e.detail.template_id().unwrap_or_default();
        let mut d = Map::new();
        d.insert("tid".into(), json!(tid));
        if let Some(pid) = e.detail.pid.as_deref().filter(|p| !p.is_empty()) {
            d.insert("pid".into(), json!(pid));
        }
        d.insert("cid".into(), json!(cid));
        if request == MapRequest::StartWithInitialSync {
            d.insert(
                "parameters".into(),
                json!({"skipInitialSync": false, "conflictResolution": {"master": "CRM", "option": "1"}}),
            );
        }
        details.push(Value::Object(d));
    }
    let action = match request {
        MapRequest::Pause => "5",
        MapRequest::Resume => "6",
        MapRequest::StartWithInitialSync => "1",
    };
    let body = json!({"action": action, "details": details});
    let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
    let reply = session
        .send(&post(url_with_query(&gw.api, "Start", &[])?).json(body))
        .await?;
    request_id(
        &reply,
        format!("{} map {}", request.verb(), names.join(", ")),
    )
}
