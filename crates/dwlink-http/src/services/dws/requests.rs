//! Asynchronous management requests: their state, and the ones still in flight.
//!
//! A map request is followed through `GET {api}Status/{id}`, which answers the maps with their
//! `detail.lastRequests[]` (DWA `DWMapEngine.cs` `checkRequestResponseStatus`); a solution
//! request through `GET {api}SolutionAware/{cid}/Status/{id}` (DWA `DWSolutionEngine.cs`
//! `checkSolutionApplied`). The second route needs the connection set, so a solution request's
//! id carries it: `SolutionAware/{cid}/{requestId}` (dwlink's own spelling, never sent).

use serde_json::Value;
use url::Url;

use super::shapes::{self, ConnectionSet, MapEntry, RequestStatus, SolutionStatus};
use super::{bare_array, connection_set, map_entries, seg, Gateway};
use crate::services::odata::url_with_query;
use crate::signin::session::Session;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::RequestId;
use dwlink_core::model::live::LiveConnection;

const SOLUTION_PREFIX: &str = "SolutionAware/";

pub(crate) fn solution_request_id(cid: &str, request: &str) -> String {
    format!("{SOLUTION_PREFIX}{cid}/{request}")
}

/// `(cid, requestId)` of a solution request's id.
fn solution_request(id: &str) -> Option<(&str, &str)> {
    id.strip_prefix(SOLUTION_PREFIX)?.split_once('/')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestState {
    Waiting,
    Completed,
    Error(String),
}

fn state_of(code: &str, message: Option<&str>) -> Option<RequestState> {
    Some(match shapes::request_status(code)? {
        RequestStatus::Waiting => RequestState::Waiting,
        RequestStatus::Completed => RequestState::Completed,
        RequestStatus::Error => RequestState::Error(
            message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("(the service gave no message)")
                .to_string(),
        ),
    })
}

pub(crate) async fn status(
    session: &Session,
    gw: &Gateway,
    id: &str,
) -> Result<RequestState, ProviderError> {
    if let Some((cid, request)) = solution_request(id) {
        let u = url_with_query(
            &gw.api,
            &format!("SolutionAware/{}/Status/{}", seg(cid), seg(request)),
            &[],
        )?;
        let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
        let s: SolutionStatus = serde_json::from_value(reply.json_value()?)
            .map_err(|e| reply.bad(format!("unexpected solution request status: {e}")))?;
        let message = s.result.as_ref().and_then(|r| r.message.as_deref());
        // An unknown state is never taken for success.
        return state_of(&s.state, message).ok_or_else(|| {
            reply.bad(format!(
                "request {request} is in the unknown state {:?}",
                s.state
            ))
        });
    }
    let u = url_with_query(&gw.api, &format!("Status/{}", seg(id)), &[])?;
    let reply = session.send(&ApiRequest::get(Api::DualWrite, u)).await?;
    let maps: Vec<MapEntry> = bare_array(&reply, "the request status")?;
    for m in &maps {
        for e in entries(m.detail.last_requests.as_ref()) {
            if text(e, "requestId") == id {
                let state = text(e, "state");
                return state_of(state, Some(text(e, "errorMessage"))).ok_or_else(|| {
                    reply.bad(format!("request {id} is in the unknown state {state:?}"))
                });
            }
        }
    }
    Err(reply.bad(format!("no map lists request {id} in its lastRequests")))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn entries(list: Option<&Value>) -> &[Value] {
    match list {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// The requests of a connection set that have not ended: each map's `detail.lastRequests[]`
/// and the connection set's `dualWriteDetail.solutionAwareRequests[]` (DWA
/// `DWLibary/Struct/DWMaps.cs` `DWMapLastRequest`, `DWConnectionSet.cs` `SolutionAwareRequest`).
/// A reset is listed nowhere public (DWA reads no request id for it): one in flight elsewhere
/// is not seen here.
pub(crate) async fn requests_in_flight(
    session: &Session,
    gw: &Gateway,
    connection: &LiveConnection,
) -> Result<Vec<RequestId>, ProviderError> {
    // Both lists at once: neither read depends on the other.
    let ((maps, at), (set, _)) = tokio::try_join!(
        map_entries(session, gw, &connection.id),
        connection_set(session, gw, &connection.name)
    )?;
    requests_listed_in(gw, &connection.id, &connection.name, &maps, &at, &set)
}

/// [`requests_in_flight`] of a map listing (read at `maps_at`) and a connection set already read:
/// a plan takes them from the replies its live read got, so it asks no second time.
pub(crate) fn requests_listed_in(
    gw: &Gateway,
    cid: &str,
    cname: &str,
    maps: &[MapEntry],
    maps_at: &Url,
    set: &ConnectionSet,
) -> Result<Vec<RequestId>, ProviderError> {
    let mut out = Vec::new();
    for m in maps {
        let listed = requests_listed(m.detail.last_requests.as_ref(), maps_at)?;
        out.extend(listed.into_iter().map(|(id, action)| RequestId {
            id,
            what: format!("{} map {}", shapes::map_verb(&action), m.detail.t_name),
        }));
    }
    let at = url_with_query(&gw.root, &format!("api/ConnectionSet/{}", seg(cname)), &[])?;
    let listed = set
        .dual_write_detail
        .as_ref()
        .and_then(|d| d.solution_aware_requests.as_ref());
    for (id, _) in requests_listed(listed, &at)? {
        out.push(RequestId {
            id: solution_request_id(cid, &id),
            what: "apply solution".into(),
        });
    }
    Ok(out)
}

/// `(requestId, action)` of the entries of a request list that are still in flight. An absent
/// or null list is empty; an entry in a state dwlink does not know is an error, never taken for
/// "ended".
pub(crate) fn requests_listed(
    list: Option<&Value>,
    at: &Url,
) -> Result<Vec<(String, String)>, ProviderError> {
    let bad = |d: String| ProviderError::bad_reply(Api::DualWrite, at.to_string(), d);
    let all = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("a request list is not an array".into())),
    };
    let mut out = Vec::new();
    for e in all {
        let (id, state) = (text(e, "requestId"), text(e, "state"));
        match shapes::request_status(state) {
            Some(RequestStatus::Waiting) => out.push((id.to_string(), text(e, "action").into())),
            Some(_) => {}
            None => {
                return Err(bad(format!(
                    "request {id} is in the unknown state {state:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// Every request id a list shows, ended or not: a lost reply's request is the one that was
/// not there before.
pub(crate) fn request_ids(list: Option<&Value>) -> Vec<String> {
    entries(list)
        .iter()
        .map(|e| text(e, "requestId").to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listed_requests_in_flight() {
        let at = Url::parse("https://dws.example/api/DualWriteManagement/1.0/Entities").unwrap();
        let list = json!([
            {"requestId": "a", "action": "4", "state": "1"},
            {"requestId": "b", "action": "1", "state": "2"},
            {"requestId": "c", "action": "1", "state": "3", "errorMessage": "x"}
        ]);
        assert_eq!(
            requests_listed(Some(&list), &at).unwrap(),
            [("a".into(), "4".into())]
        );
        assert!(requests_listed(None, &at).unwrap().is_empty());
        assert!(requests_listed(Some(&Value::Null), &at).unwrap().is_empty());
        // The names an earlier dwlink invented are unknown states, not "ended".
        let odd = json!([{"requestId": "d", "state": "Waiting"}]);
        assert!(requests_listed(Some(&odd), &at).is_err());
        assert_eq!(request_ids(Some(&list)), ["a", "b", "c"]);
    }

    #[test]
    fn solution_request_ids_carry_their_connection_set() {
        let id = solution_request_id("c1", "r1");
        assert_eq!(solution_request(&id), Some(("c1", "r1")));
        assert_eq!(solution_request("0f0e-guid"), None);
        assert_eq!(
            state_of("3", Some(" ")),
            Some(RequestState::Error("(the service gave no message)".into()))
        );
        assert_eq!(state_of("Completed", None), None);
    }
}
