//! `POST {gateway}api/ConnectionSet/{cid}/Reset?targetType=AX&forceReset=` with Microsoft's
//! payload (DWA `DWLibary/Engines/ResetLinkEngine.cs`, `DWLibary/Struct/ResetLinkPayload.cs`).
//! The service answers when the reset is done (DWA waits up to 300 s and reads no request id);
//! here the world changes at once and the answer comes `async_ms` later.
//!
//! What a reset does is the emulator's model of Microsoft's "Reset dual-write" page
//! (unified-operations `data-entities/dual-write/reset.md`): maps stopped first unless forced,
//! the key tables cleared, the connection re-created from the Power Platform integration
//! (scenario 4, cloud-hosted: as it is; scenario 3, no integration: refused), the legal
//! entities of the body, and no maps until solutions are applied again.

use axum::http::StatusCode;

use super::super::odata::error::{bad_request, Reply};
use super::super::store::World;
use super::{bodies, connection_by_id, target_ax, Outcome};
use dwlink_core::fixture::EnvType;
use dwlink_core::model::live::MapState;

pub(crate) fn reset(
    world: &mut World,
    cid: &str,
    target: Option<&str>,
    force: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<Outcome, Reply> {
    target_ax(target)?;
    // DWA formats the flag with C#'s bool.ToString() (`True`/`False`).
    let force = match force.map(str::to_ascii_lowercase).as_deref() {
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(bad_request(format!(
                "forceReset must be True or False, got `{other}`"
            )))
        }
        None => return Err(bad_request("forceReset is required")),
    };
    let i = connection_by_id(world, cid)?;
    let payload = bodies::reset(&bodies::json_body(body, content_type)?)?;
    let env = &world.fo[i];
    let Some(c) = &env.connection else {
        return Err(bad_request("no connection set"));
    };
    let crm_name = c
        .connected_to
        .as_deref()
        .and_then(|u| world.org_by_url(u))
        .map(|o| o.unique_name.clone());
    let names = |t: &str| -> Vec<&str> {
        payload
            .environments
            .iter()
            .filter(|e| e.target_type == t)
            .map(|e| e.name.as_str())
            .collect()
    };
    if names("AX") != [env.host.as_str()] {
        return Err(bad_request(format!(
            "`environments` must hold the connection set's AX environment `{}` once",
            env.host
        )));
    }
    if let Some(crm) = &crm_name {
        if !names("CRM").iter().any(|n| n.eq_ignore_ascii_case(crm)) {
            return Err(bad_request(format!(
                "`environments` must hold the connection set's CRM environment `{crm}`"
            )));
        }
    }
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
                "stop every map before a reset, or use forceReset=True; running: {}",
                active.join(", ")
            ),
        ));
    }
    let relink_to = match env.env_type {
        EnvType::CloudHosted => c.connected_to.clone(),
        _ => match &env.power_platform_link {
            Some(pp) => Some(pp.clone()),
            None => {
                return Err(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "NoPowerPlatformLink",
                    "the environment has no Power Platform integration: set it to the current Dataverse environment first, then reset",
                ))
            }
        },
    };
    let Some(relink_to) = relink_to else {
        return Err(bad_request(
            "the connection set is not linked; there is no current environment to refresh",
        ));
    };
    apply(world, i, relink_to, payload.legal_entities);
    Ok(Outcome {
        reply: Reply::empty(StatusCode::OK),
        changed: true,
        started: None,
        answer_late: true,
    })
}

fn apply(world: &mut World, i: usize, relink_to: String, legal_entities: Vec<String>) {
    let env = &mut world.fo[i];
    for t in &mut env.tables {
        t.clear_dual_write();
    }
    if let Some(c) = env.connection.as_mut() {
        for m in &mut c.maps {
            if m.state.is_active() {
                m.state = MapState::Stopped;
            }
        }
        c.connected_to = Some(relink_to.clone());
        c.maps.clear();
        c.legal_entities = legal_entities;
    }
    if let Some(org) = world.org_by_url_mut(&relink_to) {
        org.runtime.clear_dual_write();
    }
}
