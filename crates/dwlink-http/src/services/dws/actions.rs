//! The management requests that change something: map start/stop (`POST {api}Start`), apply a
//! solution (`POST {api}SolutionAware/{cid}/RestoreTemplates`) and reset
//! (`POST {gateway}api/ConnectionSet/{cid}/Reset`), each sent once, and again only when a read
//! proves the previous send did not run.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::requests::{request_ids, solution_request_id};
use super::reset_body::{reset_body, BodyTarget};
use super::shapes::MapEntry;
use super::shapes::{ConnectionSet, ACTION_START, ACTION_STOP};
use super::{connection_set, map_entries, maps, maps_of, seg, Gateway};
use crate::services::odata::url_with_query;
use crate::signin::session::Session;
use crate::transport::reply::Reply;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::RequestId;
use dwlink_core::model::live::MapState;

/// DWA `DWLibary/DWHttp.cs` `buildDefaultHttpRequestPost` sends `Origin` set to the Data
/// Integrator's URL (`GlobalVar.dataintegratorURL.AbsoluteUri`) and `Accept: application/json` on
/// every POST. Whether the service requires `Origin`: no public evidence, so it is always sent.
pub(crate) const ORIGIN: &str = "https://dataintegrator.trafficmanager.net/";

/// DWA `ResetLinkEngine.cs` `sendResetLinkPayload` waits 300 s for the reset's answer: the
/// service answers when the reset is done.
pub(crate) const RESET_TIMEOUT: Duration = Duration::from_secs(300);

/// Request ids dwlink makes up when a read showed the effect of a request whose own id it
/// never got (a reset answers none; a lost reply took the id with it): there is nothing to poll.
/// Service ids are GUIDs; this prefix is not.
pub(crate) const CONFIRMED_BY_READ: &str = "dwlink-confirmed-by-read:";

/// How long to look for the effect of a management request whose reply was lost before
/// concluding anything, and how often. Each POST has its own window (`ProviderSettings`): the
/// reset's is DWA's 300 s (`ResetLinkEngine.cs` 52), the time the service takes to answer one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Confirm {
    pub window: Duration,
    pub poll: Duration,
}

/// How long a reset answered 2xx is read back for its outcome before the step fails.
const READ_BACK_AFTER_2XX: Duration = Duration::from_secs(30);

/// One management POST is sent at most this many times, each resend only after a read proved
/// the previous send did not run.
const MAX_SENDS: u32 = 3;

pub(super) fn post(gw_url: url::Url) -> ApiRequest {
    ApiRequest::post(Api::DualWrite, gw_url).header("Origin", ORIGIN)
}

fn confirmed(what: String) -> RequestId {
    RequestId {
        id: format!("{CONFIRMED_BY_READ}{}", Uuid::new_v4()),
        what,
    }
}

/// A reply that was lost or refused in a way that says nothing about whether the request ran:
/// a 5xx (a gateway may answer it after the service acted) or a broken connection.
fn may_have_run(e: &ProviderError) -> bool {
    match e {
        ProviderError::Status { status, .. } => (500..600).contains(status) && *status != 501,
        ProviderError::Transport { .. } => true,
        _ => false,
    }
}

pub(super) fn request_id(reply: &Reply, what: String) -> Result<RequestId, ProviderError> {
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

/// What a read shows of a request having been taken, when its reply was lost.
enum Probe<'a> {
    /// A request on the map that was not listed before (its id is then polled), or the map
    /// already in the state asked for.
    Map {
        cid: &'a str,
        tid: &'a str,
        start: bool,
        before: BTreeSet<String>,
    },
    /// A solution request of the connection set that was not listed before.
    Solution {
        cid: &'a str,
        cname: &'a str,
        before: BTreeSet<String>,
    },
    /// The connection set as the reset leaves it, when it was not so before; `before` is what a
    /// read must still show for the reset to be proven not to have run.
    Reset {
        check: ResetCheck<'a>,
        before: Footprint,
    },
    /// Nothing a read shows tells whether it ran: never sent again.
    Blind,
}

/// The connection set as a completed reset leaves it: the requested legal entities, linked to
/// the organization the reset links to (when dwlink knows it), no map running.
pub(crate) struct ResetCheck<'a> {
    pub cid: &'a str,
    pub cname: &'a str,
    pub org_host: Option<String>,
    pub legal_entities: Vec<String>,
}

impl ResetCheck<'_> {
    fn holds(&self, set: &ConnectionSet, maps: &[dwlink_core::model::live::LiveMap]) -> bool {
        let linked = set
            .dataverse()
            .and_then(|e| e.direct_url.as_deref())
            .and_then(host_of);
        set.legal_entities() == self.legal_entities
            && self
                .org_host
                .as_deref()
                .is_none_or(|h| linked.as_deref() == Some(h))
            && !maps.iter().any(|m| m.state.is_active())
    }

    async fn seen(&self, session: &Session, gw: &Gateway) -> Result<bool, ProviderError> {
        let ((set, _), maps) = tokio::try_join!(
            connection_set(session, gw, self.cname),
            maps(session, gw, self.cid)
        )?;
        Ok(self.holds(&set, &maps))
    }
}

/// What a reset changes, as a read shows it: the organization, the legal entities, and the
/// maps with their projects (a reset removes every map: UO `data-entities/dual-write/reset.md`).
/// A read still showing all of it as before, after the reset's whole window, proves the reset did
/// not run: the service answers a reset within that window (DWA waits no longer,
/// `ResetLinkEngine.cs` 52), and no reset leaves every map in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Footprint {
    organization: Option<String>,
    legal_entities: Vec<String>,
    maps: Vec<(String, Option<String>, String)>,
}

impl Footprint {
    fn of(set: &ConnectionSet, maps: &[MapEntry]) -> Footprint {
        let mut m: Vec<(String, Option<String>, String)> = maps
            .iter()
            .map(|m| {
                let d = &m.detail;
                (
                    d.template_id().unwrap_or_default().to_string(),
                    d.pid.clone(),
                    d.state.clone(),
                )
            })
            .collect();
        m.sort();
        Footprint {
            organization: set
                .dataverse()
                .and_then(|e| e.direct_url.as_deref())
                .and_then(host_of),
            legal_entities: set.legal_entities(),
            maps: m,
        }
    }

    async fn read(
        session: &Session,
        gw: &Gateway,
        cid: &str,
        cname: &str,
    ) -> Result<Footprint, ProviderError> {
        let ((set, _), (maps, _)) = tokio::try_join!(
            connection_set(session, gw, cname),
            map_entries(session, gw, cid)
        )?;
        Ok(Footprint::of(&set, &maps))
    }

    /// Whether there is anything a reset would remove: with no map listed, a reset that ran
    /// and one that did not can look alike.
    fn has_maps(&self) -> bool {
        !self.maps.is_empty()
    }
}

/// Hosts as the services print them: case and a trailing dot do not make another host.
pub(crate) fn host_of(u: &str) -> Option<String> {
    let u = url::Url::parse(u).ok()?;
    Some(u.host_str()?.trim_end_matches('.').to_ascii_lowercase())
}

impl Probe<'_> {
    /// The id to follow when the request is seen to have been taken.
    async fn seen(
        &self,
        session: &Session,
        gw: &Gateway,
        what: &str,
    ) -> Result<Option<RequestId>, ProviderError> {
        Ok(match self {
            Probe::Map {
                cid,
                tid,
                start,
                before,
            } => {
                let (entries, _) = map_entries(session, gw, cid).await?;
                let Some(m) = entries
                    .iter()
                    .find(|m| m.detail.template_id() == Some(*tid))
                else {
                    return Ok(None);
                };
                let new = request_ids(m.detail.last_requests.as_ref())
                    .into_iter()
                    .find(|id| !before.contains(id));
                let state = super::shapes::map_state(&m.detail.state);
                // InitialSync and CatchUp are a start under way: sending Start again would not
                // make it go faster.
                let there = state.is_some_and(|s| {
                    if *start {
                        s.is_active()
                    } else {
                        matches!(s, MapState::Stopped | MapState::NotRunning)
                    }
                });
                match (new, there) {
                    (Some(id), _) => Some(RequestId {
                        id,
                        what: what.to_string(),
                    }),
                    (None, true) => Some(confirmed(what.to_string())),
                    (None, false) => None,
                }
            }
            Probe::Solution { cid, cname, before } => {
                let (set, _) = connection_set(session, gw, cname).await?;
                let listed = set
                    .dual_write_detail
                    .as_ref()
                    .and_then(|d| d.solution_aware_requests.as_ref());
                request_ids(listed)
                    .into_iter()
                    .find(|id| !before.contains(id))
                    .map(|id| RequestId {
                        id: solution_request_id(cid, &id),
                        what: what.to_string(),
                    })
            }
            Probe::Reset { check, .. } => check
                .seen(session, gw)
                .await?
                .then(|| confirmed(what.to_string())),
            Probe::Blind => None,
        })
    }

    /// After the request's whole window without a sign of it: whether a read proves it never
    /// ran, so that sending it again cannot make it run twice. Map and solution requests: the
    /// service lists every request it took (`lastRequests`, `solutionAwareRequests`; DWA follows
    /// them there, `DWMapEngine.cs` 1860–1920, `DWSolutionEngine.cs` 60–95), so none new in the
    /// listing (checked by [`Probe::seen`] just before) is that proof. The reset: its footprint
    /// unchanged. `Err` with what the read showed when it proves nothing.
    async fn not_run(
        &self,
        session: &Session,
        gw: &Gateway,
    ) -> Result<Result<(), String>, ProviderError> {
        Ok(match self {
            Probe::Map { .. } | Probe::Solution { .. } => Ok(()),
            Probe::Reset { check, before } => {
                let now = Footprint::read(session, gw, check.cid, check.cname).await?;
                if now == *before && before.has_maps() {
                    Ok(())
                } else if now == *before {
                    Err("the connection set is as before, but it lists no map, so it cannot show whether a reset ran".into())
                } else {
                    Err(format!(
                        "the connection set changed ({}) without showing the reset's outcome: the reset may have run, or may still be running",
                        describe(before, &now)
                    ))
                }
            }
            Probe::Blind => Err("the state before the request already looked like its outcome, so no read can tell whether it ran".into()),
        })
    }
}

fn describe(before: &Footprint, now: &Footprint) -> String {
    let org = |o: &Option<String>| o.clone().unwrap_or_else(|| "no organization".into());
    let mut parts = Vec::new();
    if before.organization != now.organization {
        parts.push(format!(
            "organization {} → {}",
            org(&before.organization),
            org(&now.organization)
        ));
    }
    if before.legal_entities != now.legal_entities {
        parts.push(format!(
            "legal entities [{}] → [{}]",
            before.legal_entities.join(", "),
            now.legal_entities.join(", ")
        ));
    }
    if before.maps != now.maps {
        parts.push(format!(
            "{} map(s) listed → {}",
            before.maps.len(),
            now.maps.len()
        ));
    }
    parts.join("; ")
}

/// Sends a management POST once; again (at most [`MAX_SENDS`] sends in all) only when its reply
/// was lost and a read proves the request did not run. A management POST is not idempotent
/// (each starts a request of its own, and a reset clears tables), so the client never repeats
/// it on its own: a 429 or a refused connection, which the client does retry, means the service
/// never ran it; after a 5xx or a lost reply the request's effect is looked for during its
/// whole window (DWA resends nothing but a 429, `HttpClientWithRetry.cs` 16–18).
async fn send_confirmed(
    session: &Session,
    gw: &Gateway,
    confirm: Confirm,
    req: &ApiRequest,
    what: String,
    probe: &Probe<'_>,
    on_reply: impl Fn(&Reply, String) -> Result<RequestId, ProviderError>,
) -> Result<RequestId, ProviderError> {
    let mut sends = 0;
    loop {
        sends += 1;
        let error = match session.send(req).await {
            Ok(reply) => return on_reply(&reply, what),
            Err(e) if may_have_run(&e) => e,
            Err(e) => return Err(e),
        };
        if matches!(probe, Probe::Blind) {
            return Err(error);
        }
        // A request's effect shows a while after the POST (a reset's only when it is done):
        // looked for during the whole window, not once.
        let deadline = Instant::now() + confirm.window;
        let mut interval = confirm.poll;
        loop {
            if let Some(id) = probe.seen(session, gw, &what).await? {
                return Ok(id);
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(Duration::from_secs(5));
        }
        if let Err(shown) = probe.not_run(session, gw).await? {
            return Err(ProviderError::RequestTimedOut {
                request_id: "(none: its reply was lost)".into(),
                what: format!("{what}, answered {}", short(&error)),
                waited: confirm.window,
                state: format!(
                    "{shown}; dwlink does not send it again: plan again to see what is left to do"
                ),
            });
        }
        if sends >= MAX_SENDS {
            return Err(error);
        }
    }
}

/// The lost reply in a few words, for the message that says nothing was concluded.
fn short(e: &ProviderError) -> String {
    match e {
        ProviderError::Status { status, .. } => format!("HTTP {status}"),
        _ => "with a broken connection".into(),
    }
}

/// Start or stop one map: DWA `DWLibary/Engines/DWMapEngine.cs` `startStopMap`, body
/// `{"action", "details":[{"tid","pid","cid","parameters"}]}` (DWA `DWLibary/Struct/MapsHelper.cs`).
/// `skipInitialSync` is DWA's default (true); the conflict master is DWA's default (`CRM`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn map_action(
    session: &Session,
    gw: &Gateway,
    confirm: Confirm,
    cid: &str,
    tid: &str,
    start: bool,
    what: String,
) -> Result<RequestId, ProviderError> {
    let (entries, at) = map_entries(session, gw, cid).await?;
    let Some(m) = entries.iter().find(|m| m.detail.template_id() == Some(tid)) else {
        return Err(ProviderError::bad_reply(
            Api::DualWrite,
            at.to_string(),
            format!("no map with template id {tid} in connection set {cid}"),
        ));
    };
    let mut detail = Map::new();
    detail.insert("tid".into(), json!(tid));
    // DWA serializes with NullValueHandling.Ignore: a map without a project sends no `pid`.
    if let Some(pid) = m.detail.pid.as_deref().filter(|p| !p.is_empty()) {
        detail.insert("pid".into(), json!(pid));
    }
    detail.insert("cid".into(), json!(cid));
    detail.insert(
        "parameters".into(),
        json!({"skipInitialSync": true, "conflictResolution": {"master": "CRM", "option": "1"}}),
    );
    let action = if start { ACTION_START } else { ACTION_STOP };
    let body = json!({"action": action, "details": [Value::Object(detail)]});
    let req = post(url_with_query(&gw.api, "Start", &[])?).json(body);
    let before = request_ids(m.detail.last_requests.as_ref())
        .into_iter()
        .collect();
    let probe = Probe::Map {
        cid,
        tid,
        start,
        before,
    };
    send_confirmed(session, gw, confirm, &req, what, &probe, request_id).await
}

/// Apply one solution: DWA `DWLibary/Engines/DWSolutionEngine.cs`, body
/// `{"action":"2","solutions":[{"criteria":{"uniquename"}}]}` (DWA
/// `DWLibary/Struct/SolutionHelpers.cs`), one solution per request as DWA sends them.
pub(crate) async fn apply_solution(
    session: &Session,
    gw: &Gateway,
    confirm: Confirm,
    cid: &str,
    cname: &str,
    name: &str,
) -> Result<RequestId, ProviderError> {
    let u = url_with_query(
        &gw.api,
        &format!("SolutionAware/{}/RestoreTemplates", seg(cid)),
        &[],
    )?;
    let body = json!({"action": "2", "solutions": [{"criteria": {"uniquename": name}}]});
    let req = post(u).json(body);
    let (set, _) = connection_set(session, gw, cname).await?;
    let listed = set
        .dual_write_detail
        .as_ref()
        .and_then(|d| d.solution_aware_requests.as_ref());
    let probe = Probe::Solution {
        cid,
        cname,
        before: request_ids(listed).into_iter().collect(),
    };
    let cid_owned = cid.to_string();
    send_confirmed(
        session,
        gw,
        confirm,
        &req,
        format!("apply solution {name}"),
        &probe,
        move |reply, what| {
            let r = request_id(reply, what)?;
            Ok(RequestId {
                id: solution_request_id(&cid_owned, &r.id),
                what: r.what,
            })
        },
    )
    .await
}

pub(crate) fn requested_les(les: &[String]) -> Vec<String> {
    let mut les: Vec<String> = les.iter().map(|l| l.trim().to_ascii_uppercase()).collect();
    les.sort();
    les.dedup();
    les
}

/// Reset the connection set `cid` (the environment lookup's id, which DWA
/// `ResetLinkEngine.cs` puts in the route), as the caller just read it. The service answers a plain 2xx when the reset is done and names
/// no request (DWA reads none), so success is what the connection set shows afterwards: the
/// requested legal entities and, when dwlink knows it, the organization the reset links to.
pub(crate) async fn reset(
    session: &Session,
    gw: &Gateway,
    confirm: Confirm,
    (cid, cname, set): (&str, &str, &ConnectionSet),
    ask: ResetAsk<'_>,
) -> Result<RequestId, ProviderError> {
    let ResetAsk {
        target,
        force,
        legal_entities,
        org_host,
    } = ask;
    let at = url_with_query(&gw.root, &format!("api/ConnectionSet/{}", seg(cname)), &[])?;
    let les = requested_les(legal_entities);
    let body = reset_body(set, target, &les)
        .map_err(|d| ProviderError::bad_reply(Api::DualWrite, at.to_string(), d))?;
    // DWA formats the flag with C#'s bool.ToString(): `True` / `False`.
    let flag = if force { "True" } else { "False" };
    let u = url_with_query(
        &gw.root,
        &format!("api/ConnectionSet/{}/Reset", seg(cid)),
        &[("targetType", "AX".into()), ("forceReset", flag.into())],
    )?;
    let req = post(u).json(body).timeout(RESET_TIMEOUT);
    let check = ResetCheck {
        cid,
        cname,
        org_host,
        legal_entities: les,
    };
    let (entries, listed_at) = map_entries(session, gw, cid).await?;
    let before = maps_of(&entries, &listed_at)?;
    let probe = if check.holds(set, &before) {
        Probe::Blind
    } else {
        Probe::Reset {
            check,
            before: Footprint::of(set, &entries),
        }
    };
    let what = format!("reset connection set {cname}");
    let id = send_confirmed(session, gw, confirm, &req, what.clone(), &probe, |_, w| {
        Ok(confirmed(w))
    })
    .await?;
    if let Probe::Reset { check, .. } = &probe {
        read_back(session, gw, confirm, check, &at).await?;
    }
    Ok(id)
}

/// What a reset is asked to do: link to `target` (the organization `org_host`, when dwlink
/// knows it) with `legal_entities`, stopping running maps when `force`.
pub(crate) struct ResetAsk<'a> {
    pub target: BodyTarget<'a>,
    pub force: bool,
    pub legal_entities: &'a [String],
    pub org_host: Option<String>,
}

/// A reset that answered 2xx but left the connection set as it was is a failure, not a success
/// (domain: "a reset that succeeds without the link changing — verify by reading back").
async fn read_back(
    session: &Session,
    gw: &Gateway,
    confirm: Confirm,
    check: &ResetCheck<'_>,
    at: &url::Url,
) -> Result<(), ProviderError> {
    // The service answers a reset when it is done (DWA `ResetLinkEngine.cs` 72–83): after a
    // 2xx the outcome is there, so a short look, not the reset's whole window, tells.
    let deadline = Instant::now() + confirm.window.min(READ_BACK_AFTER_2XX);
    let mut interval = confirm.poll;
    loop {
        if check.seen(session, gw).await? {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            let (set, _) = connection_set(session, gw, check.cname).await?;
            let linked = set
                .dataverse()
                .and_then(|e| e.direct_url.clone())
                .unwrap_or_else(|| "no organization".into());
            return Err(ProviderError::bad_reply(
                Api::DualWrite,
                at.to_string(),
                format!(
                    "the reset was answered as done, but the connection set shows {linked} with legal entities [{}] (wanted {}[{}])",
                    set.legal_entities().join(", "),
                    check.org_host.as_deref().map(|h| format!("{h} with ")).unwrap_or_default(),
                    check.legal_entities.join(", ")
                ),
            ));
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = (interval * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_entities_and_hosts_compare_as_the_service_prints_them() {
        assert_eq!(requested_les(&[" usmf".into(), "USMF".into()]), ["USMF"]);
        assert_eq!(
            host_of("https://Org1.CRM.dynamics.com./"),
            Some("org1.crm.dynamics.com".into())
        );
    }
}
