//! `POST {gateway}api/ConnectionSet/{cid}/Reset?targetType=AX&forceReset=` with Microsoft's
//! payload (DWA `DWLibary/Engines/ResetLinkEngine.cs`, `DWLibary/Struct/ResetLinkPayload.cs`).
//! The service answers when the reset is done (DWA waits up to 300 s and reads no request id):
//! here the answer comes `reset_ms` (default `async_ms`) after the POST, and the world changes
//! at the start of that time or only at its end (fixture `reset_effect`).
//!
//! What a reset does is the emulator's model of Microsoft's "Reset dual-write" page
//! (unified-operations `data-entities/dual-write/reset.md`): maps stopped first unless forced,
//! the key tables cleared, the connection re-created to the Dataverse environment the body names
//! — the current one or the Power Platform integration's, the two targets that page offers; any
//! other is refused (scenario 4, cloud-hosted: only the current; scenario 3, no integration:
//! refused) — the legal entities of the body, and no maps until solutions are applied again.
//! That the body selects the target is dwlink's inference (docs/http-contract.md, "The reset").

use axum::http::StatusCode;

use super::super::odata::error::{bad_request, Reply};
use super::super::store::World;
use super::shapes::power_apps_environment;
use super::{bodies, connection_by_id, target_ax, Outcome};
use dwlink_core::fixture::{EnvType, ResetEffect};
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
    // DWA's `getConnectionSetEnvironment`: the Dataverse side is `CRM` or a type containing `CDS`.
    let crm: Vec<&bodies::ResetEnvironment> = payload
        .environments
        .iter()
        .filter(|e| e.target_type == "CRM" || e.target_type.contains("CDS"))
        .collect();
    let [crm] = crm.as_slice() else {
        return Err(bad_request(format!(
            "`environments` must hold one Dataverse (CRM) environment, not {}",
            crm.len()
        )));
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
                "stop every map before a reset, or use forceReset=True; running: {}",
                active.join(", ")
            ),
        ));
    }
    let cloud_hosted = env.env_type == EnvType::CloudHosted;
    if !cloud_hosted && env.power_platform_link.is_none() {
        return Err(Reply::error(
            StatusCode::BAD_REQUEST,
            "NoPowerPlatformLink",
            "the environment has no Power Platform integration: set it to the current Dataverse environment first, then reset",
        ));
    }
    let current = c.connected_to.clone();
    let link = if cloud_hosted {
        None
    } else {
        env.power_platform_link.clone()
    };
    let candidates: Vec<&String> = current.iter().chain(link.iter()).collect();
    let named = named_target(world, &candidates, payload.power_apps_environment_name.as_deref(), crm)
        .map_err(|d| {
            let or_none = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
            Reply::error(
                StatusCode::BAD_REQUEST,
                "InvalidResetTarget",
                format!(
                    "{d}: a reset relinks to the current Dataverse environment ({}) or the Power Platform link ({})",
                    or_none(&current),
                    or_none(&link)
                ),
            )
        })?;
    let pending = Pending {
        fo: i,
        relink_to: named,
        legal_entities: payload.legal_entities,
    };
    let at_end = world.reset_effect == ResetEffect::End;
    let pending = if at_end {
        Some(pending)
    } else {
        pending.apply(world);
        None
    };
    Ok(Outcome {
        reply: Reply::empty(StatusCode::OK),
        changed: !at_end,
        started: None,
        answer_late: true,
        pending,
    })
}

/// Which of `candidates` (normalised organization URLs: the current one, the Power Platform
/// link) the body's Dataverse entry names. Every member that names one —
/// `powerAppsEnvironmentName` and the entry's `id` (a Power Platform environment, as the
/// connection set's `powerAppsEnvironment`), `directUrl`, `name` (the unique name the connection
/// set's entry carries) — must name a candidate, and all the same one.
fn named_target(
    world: &World,
    candidates: &[&String],
    power_apps_environment_name: Option<&str>,
    crm: &bodies::ResetEnvironment,
) -> Result<String, String> {
    let host = |u: &str| dwlink_core::fixture::host_of(u).unwrap_or_default();
    let unique = |u: &str| {
        world.org_by_url(u).map_or_else(
            || host(u).split('.').next().unwrap_or_default().to_string(),
            |o| o.unique_name.clone(),
        )
    };
    let find = |what: &str, value: &str, hit: &dyn Fn(&str) -> bool| {
        candidates
            .iter()
            .find(|c| hit(c))
            .map(|c| c.to_string())
            .ok_or_else(|| {
                format!("the reset body's {what} `{value}` names another Dataverse environment")
            })
    };
    let is_environment = |c: &str, id: &str| {
        power_apps_environment(&host(c))
            .to_string()
            .eq_ignore_ascii_case(id.trim())
    };
    let mut named: Vec<(&str, String)> = Vec::new();
    if let Some(p) = power_apps_environment_name {
        named.push((
            "powerAppsEnvironmentName",
            find("powerAppsEnvironmentName", p, &|c: &str| {
                is_environment(c, p)
            })?,
        ));
    }
    if let Some(id) = &crm.id {
        named.push((
            "CRM `id`",
            find("CRM `id`", id, &|c: &str| is_environment(c, id))?,
        ));
    }
    if let Some(u) = &crm.direct_url {
        let h = host(u);
        named.push((
            "CRM `directUrl`",
            find("CRM `directUrl`", u, &|c: &str| host(c) == h)?,
        ));
    }
    let name = crm.name.trim();
    named.push((
        "CRM `name`",
        find("CRM `name`", name, &|c: &str| {
            unique(c).eq_ignore_ascii_case(name)
        })?,
    ));
    let (first_what, first) = named[0].clone();
    if let Some((what, other)) = named.iter().find(|(_, u)| *u != first) {
        return Err(format!(
            "the reset body names two Dataverse environments, {first} ({first_what}) and {other} ({what})"
        ));
    }
    Ok(first)
}

/// A reset's change to the world, applied when its effect shows.
pub(crate) struct Pending {
    fo: usize,
    relink_to: String,
    legal_entities: Vec<String>,
}

impl Pending {
    pub(crate) fn apply(self, world: &mut World) {
        apply(world, self.fo, self.relink_to, self.legal_entities);
    }
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
