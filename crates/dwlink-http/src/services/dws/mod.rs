//! The dual-write management service. Microsoft documents none of it; every route, body and
//! reply shape here is the one Microsoft's own automation uses (microsoft/Dual-write-automations,
//! "DWA"; each function names the file), and docs/http-contract.md lists them with their
//! sources. All of it lives in this module so that it is corrected in one place.

mod actions;
pub(crate) mod maps;
mod requests;
pub(crate) mod reset_body;
pub(crate) mod shapes;

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::services::odata::{encode, url_with_query};
use crate::signin::session::Session;
use crate::transport::client::join;
use crate::transport::reply::Reply;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::Solution;
use dwlink_core::model::live::LiveMap;

pub(crate) use actions::{
    apply_solution, host_of, map_action, reset, Confirm, ResetAsk, CONFIRMED_BY_READ, ORIGIN,
};
pub(crate) use requests::{requests_in_flight, requests_listed_in, status, RequestState};
pub(crate) use reset_body::BodyTarget;
use shapes::{ConnectionSet, EnvironmentEntry, MapEntry, SolutionEntry};

/// The API's path under the gateway: DWA `DWLibary/DWHttp.cs` `buildReqUri` sets the path to
/// it whatever the configured URL's path.
pub(crate) const BASE_PATH: &str = "api/DualWriteManagement/1.0/";

/// The regional gateway (`https://projectmanagementservice.<region>.gateway.prod.island.powerapps.com`,
/// DWA `DWLibary/GlobalVar.cs`): most calls go under [`BASE_PATH`], the connection set and the
/// reset to the root (DWA `DWCommonEngine.cs` `getConnectionSet`, `ResetLinkEngine.cs`).
#[derive(Debug, Clone)]
pub struct Gateway {
    pub root: Url,
    pub api: Url,
}

impl Gateway {
    pub(crate) fn new(configured: &Url) -> Result<Self, ProviderError> {
        let mut root = configured.clone();
        root.set_path("/");
        root.set_query(None);
        root.set_fragment(None);
        let api = join(&root, BASE_PATH)?;
        Ok(Gateway { root, api })
    }
}

pub(crate) fn seg(s: &str) -> String {
    encode(s)
}

/// The service answers lists as bare JSON arrays (DWA deserializes `List<…>` directly).
pub(crate) fn bare_array<T: DeserializeOwned>(
    reply: &Reply,
    what: &str,
) -> Result<Vec<T>, ProviderError> {
    let body = reply.json_value()?;
    let Value::Array(items) = body else {
        return Err(reply.bad(format!("{what}: expected a JSON array")));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| reply.bad(format!("{what}, item {i}: {e}")))
        })
        .collect()
}

/// The connection set's id (`cid`) and name (`cname`) of the F&O environment; `None` when the
/// service lists none (never linked). DWA `DWLibary/DWEnvCalls.cs`: the identifier is the host
/// name without scheme (DWA `ArgsHandler.cs` `parseUriHostname`).
pub(crate) async fn find_environment(
    session: &Session,
    gw: &Gateway,
    fo_url: &Url,
) -> Result<Option<EnvironmentEntry>, ProviderError> {
    let u = environments_url(gw, fo_url)?;
    let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
    let mut list: Vec<EnvironmentEntry> = bare_array(&reply, "the environment lookup")?;
    if list.iter().any(|e| e.cid.is_empty() || e.cname.is_empty()) {
        return Err(reply.bad("an environment entry without `cid` or `cname`"));
    }
    // DWA takes the first item; one F&O environment has one connection set.
    Ok(if list.is_empty() {
        None
    } else {
        Some(list.swap_remove(0))
    })
}

/// The environment lookup's URL (also `dwlink doctor`'s probe of it).
pub(crate) fn environments_url(gw: &Gateway, fo_url: &Url) -> Result<Url, ProviderError> {
    let host = fo_url.host_str().unwrap_or_default().trim_end_matches('.');
    url_with_query(
        &gw.api,
        "Environments",
        &[
            ("targetType", "AX".into()),
            ("identifier", host.to_string()),
        ],
    )
}

pub(crate) fn connection_set_url(gw: &Gateway, cname: &str) -> Result<Url, ProviderError> {
    url_with_query(&gw.root, &format!("api/ConnectionSet/{}", seg(cname)), &[])
}

pub(crate) fn entities_url(gw: &Gateway, cid: &str) -> Result<Url, ProviderError> {
    url_with_query(
        &gw.api,
        "Entities",
        &[("targetType", "AX".into()), ("cid", cid.to_string())],
    )
}

pub(crate) fn solutions_url(gw: &Gateway, cid: &str) -> Result<Url, ProviderError> {
    url_with_query(
        &gw.api,
        &format!("SolutionAware/{}/Solutions/", seg(cid)),
        &[],
    )
}

pub(crate) async fn connection_set(
    session: &Session,
    gw: &Gateway,
    cname: &str,
) -> Result<(ConnectionSet, Value), ProviderError> {
    let u = connection_set_url(gw, cname)?;
    let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
    let raw = reply.json_value()?;
    let typed = serde_json::from_value(raw.clone())
        .map_err(|e| reply.bad(format!("unexpected connection set: {e}")))?;
    Ok((typed, raw))
}

/// DWA `DWCommonEngine.cs` `tryGetDWMaps`.
pub(crate) async fn map_entries(
    session: &Session,
    gw: &Gateway,
    cid: &str,
) -> Result<(Vec<MapEntry>, Url), ProviderError> {
    let u = entities_url(gw, cid)?;
    let reply = session
        .send(&ApiRequest::get(Api::DualWrite, u.clone()))
        .await?;
    Ok((bare_array(&reply, "the map listing")?, u))
}

/// Maps by name; a map's id is its template id, which a reset does not change (the project
/// id `pid` does).
pub(crate) async fn maps(
    session: &Session,
    gw: &Gateway,
    cid: &str,
) -> Result<Vec<LiveMap>, ProviderError> {
    Ok(maps_and_entries(session, gw, cid).await?.0)
}

/// [`maps`] and the listing they were read from.
pub(crate) async fn maps_and_entries(
    session: &Session,
    gw: &Gateway,
    cid: &str,
) -> Result<(Vec<LiveMap>, Vec<MapEntry>), ProviderError> {
    let (entries, u) = map_entries(session, gw, cid).await?;
    let maps = maps_of(&entries, &u)?;
    Ok((maps, entries))
}

/// The maps of a listing read at `u`.
pub(crate) fn maps_of(entries: &[MapEntry], u: &Url) -> Result<Vec<LiveMap>, ProviderError> {
    let bad = |d: String| ProviderError::bad_reply(Api::DualWrite, u.to_string(), d);
    let mut maps = entries
        .iter()
        .map(|m| {
            let d = &m.detail;
            let id = d
                .template_id()
                .ok_or_else(|| bad(format!("map `{}` has no template id", d.t_name)))?;
            let state = shapes::map_state(&d.state).ok_or_else(|| {
                bad(format!(
                    "map `{}` is in the unknown state `{}`",
                    d.t_name, d.state
                ))
            })?;
            Ok(maps::with_versions(
                LiveMap::new(id.to_string(), d.t_name.clone(), state),
                m,
            ))
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    maps.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(maps)
}

/// DWA `DWCommonEngine.cs` `getSolutions`. The listing names no maps (DWA
/// `DWLibary/Struct/SolutionList.cs`), so a solution's maps are not known before it is applied.
pub(crate) async fn solutions(
    session: &Session,
    gw: &Gateway,
    cid: &str,
) -> Result<Vec<Solution>, ProviderError> {
    let u = solutions_url(gw, cid)?;
    let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
    let list: Vec<SolutionEntry> = bare_array(&reply, "the solution listing")?;
    Ok(list
        .into_iter()
        .map(|s| Solution {
            name: s.uniquename,
            maps: Vec::new(),
        })
        .collect())
}
