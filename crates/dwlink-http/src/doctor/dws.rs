//! `dws.*`: every read-only management-service route dwlink calls (`crate::services::dws`), sent as dwlink
//! sends it, its reply checked against the shapes dwlink reads (`crate::services::dws::shapes`).

use serde::de::DeserializeOwned;
use url::Url;

use super::classify::{failed, shaped, Service};
use super::{run, signin, Check, Ctx, Failed, Found, Spec};
use crate::services::dws::shapes::{
    map_state, ConnectionSet, EnvironmentEntry, MapEntry, SolutionEntry,
};
use crate::services::dws::{
    connection_set_url, entities_url, environments_url, solutions_url, Gateway,
};
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::Api;
use dwlink_core::plan::describe::plural;

fn environments_spec() -> Spec {
    Spec::new(
        "dws.environments",
        "Management service finds this F&O's connection (GET {api}Environments)",
        "a JSON array of {cid, cname} (empty when never linked)",
    )
}

fn connection_set_spec() -> Spec {
    Spec::new(
        "dws.connection-set",
        "Management service returns the connection set (GET {gateway}api/ConnectionSet/{cname})",
        "a connection set {id, name, environments{…targetType, directUrl…}} with an AX environment",
    )
}

fn maps_spec() -> Spec {
    Spec::new(
        "dws.maps",
        "Management service lists the maps in known states (GET {api}Entities)",
        "a JSON array of maps {detail: {tName, state, template.id or tid}} in known states",
    )
}

fn solutions_spec() -> Spec {
    Spec::new(
        "dws.solutions",
        "Management service lists the solutions (GET {api}SolutionAware/{cid}/Solutions/)",
        "a JSON array of solutions {uniquename}",
    )
}

fn dependents() -> [Spec; 3] {
    [connection_set_spec(), maps_spec(), solutions_spec()]
}

pub(crate) async fn checks(ctx: &Ctx<'_>) -> Vec<Check> {
    let (signin, signed_in) = signin::check(ctx, Service::ManagementService).await;
    let mut out = vec![signin];
    let gw = match (&ctx.endpoints.dws, signed_in) {
        (Some(gw), true) => gw,
        (None, _) => {
            let why = "the config has no dual_write_service.url";
            out.push(environments_spec().skipped(why));
            out.extend(dependents().map(|s| s.skipped(why)));
            out.extend(super::dws_maps::skipped(why));
            return out;
        }
        (Some(_), false) => {
            let why = "needs signin.management-service";
            out.push(environments_spec().skipped(why));
            out.extend(dependents().map(|s| s.skipped(why)));
            out.extend(super::dws_maps::skipped(why));
            return out;
        }
    };
    let limit = ctx.options.timeout;
    let fo_url = &ctx.desired.finance_operations.url;
    let (check, entry) = run(environments_spec(), limit, async {
        let list: Vec<EnvironmentEntry> = get(ctx, environments_url(gw, fo_url)).await?;
        if let Some(i) = list
            .iter()
            .position(|e| e.cid.is_empty() || e.cname.is_empty())
        {
            return Err(Failed::differs(format!(
                "at `[{i}]`: an empty cid or cname"
            )));
        }
        let seen = match list.first() {
            Some(e) => format!("connection set {} (cid {})", e.cname, e.cid),
            None => "[] (never linked)".into(),
        };
        Ok(Found {
            seen,
            value: list.into_iter().next(),
        })
    })
    .await;
    out.push(check);
    let entry = match entry {
        None => {
            out.extend(dependents().map(|s| s.skipped("needs dws.environments")));
            out.extend(super::dws_maps::skipped("needs dws.environments"));
            return out;
        }
        Some(None) => {
            out.extend(dependents().map(|s| {
                let mut c = s.skipped("no connection set yet (the environment was never linked)");
                c.fix = Some("link the environment once on F&O's dual-write page, then run doctor again: until then these routes cannot be checked".into());
                c
            }));
            out.extend(super::dws_maps::skipped(
                "no connection set yet (the environment was never linked)",
            ));
            return out;
        }
        Some(Some(e)) => e,
    };
    let (set, maps, solutions, map_checks) = tokio::join!(
        connection_set(ctx, gw, &entry.cname),
        maps(ctx, gw, &entry.cid),
        solutions(ctx, gw, &entry.cid),
        super::dws_maps::checks(ctx, gw, &entry.cid),
    );
    out.extend([set, maps, solutions]);
    out.extend(map_checks);
    out
}

/// One GET as dwlink sends it, its reply as `T`.
async fn get<T: DeserializeOwned>(
    ctx: &Ctx<'_>,
    url: Result<Url, dwlink_core::link::error::ProviderError>,
) -> Result<T, Failed> {
    let fail = |e: &_| {
        failed(
            e,
            Service::ManagementService,
            &ctx.desired.auth.client_id.to_string(),
            &ctx.options.login_command,
        )
    };
    let url = url.map_err(|e| fail(&e))?;
    let reply = ctx
        .provider
        .session
        .send(&ApiRequest::get(Api::DualWrite, url))
        .await
        .map_err(|e| fail(&e))?;
    shaped(&reply)
}

async fn connection_set(ctx: &Ctx<'_>, gw: &Gateway, cname: &str) -> Check {
    run(connection_set_spec(), ctx.options.timeout, async {
        let set: ConnectionSet = get(ctx, connection_set_url(gw, cname)).await?;
        if set.finance_operations().is_none() {
            return Err(Failed::differs(format!(
                "connection set {} has no AX (finance and operations) environment",
                set.name
            )));
        }
        let crm = set
            .dataverse()
            .and_then(|d| d.direct_url.clone())
            .unwrap_or_else(|| "no Dataverse environment".into());
        Ok(Found::seen(format!(
            "connection set {} linked to {crm}, legal entities [{}]",
            set.name,
            set.legal_entities().join(", ")
        )))
    })
    .await
    .0
}

async fn maps(ctx: &Ctx<'_>, gw: &Gateway, cid: &str) -> Check {
    run(maps_spec(), ctx.options.timeout, async {
        let maps: Vec<MapEntry> = get(ctx, entities_url(gw, cid)).await?;
        for (i, m) in maps.iter().enumerate() {
            let d = &m.detail;
            if d.template_id().is_none() {
                return Err(Failed::differs(format!(
                    "at `[{i}].detail`: map `{}` has no template.id or tid",
                    d.t_name
                )));
            }
            if map_state(&d.state).is_none() {
                return Err(Failed::differs(format!(
                    "at `[{i}].detail.state`: `{}` is not a state dwlink knows (0-6)",
                    d.state
                )));
            }
        }
        Ok(Found::seen(format!(
            "{} map{}",
            maps.len(),
            plural(maps.len())
        )))
    })
    .await
    .0
}

async fn solutions(ctx: &Ctx<'_>, gw: &Gateway, cid: &str) -> Check {
    run(solutions_spec(), ctx.options.timeout, async {
        let list: Vec<SolutionEntry> = get(ctx, solutions_url(gw, cid)).await?;
        Ok(Found::seen(format!(
            "{} solution{}",
            list.len(),
            plural(list.len())
        )))
    })
    .await
    .0
}
