//! `dws.map-versions`, `dws.field-mappings`, `dws.prerequisites`: the routes declared maps are
//! read with (`crate::services::dws::maps`), probed on the first map of the listing and checked
//! by shape. The prerequisites route is a POST that changes nothing (DWA reads it as a query).

use serde_json::{json, Value};

use super::classify::{failed, shaped, Service};
use super::{run, Check, Ctx, Failed, Found, Spec};
use crate::services::dws::shapes::MapEntry;
use crate::services::dws::{entities_url, seg, Gateway};
use crate::services::odata::url_with_query;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};

fn versions_spec() -> Spec {
    Spec::new(
        "dws.map-versions",
        "Management service names each map's active and offered versions (GET {api}Entities)",
        "each map's active template and the templates offered, with four-part versions",
    )
}

fn field_mappings_spec() -> Spec {
    Spec::new(
        "dws.field-mappings",
        "Management service returns a map's fields and keys (GET {api}{pid}/FieldMappings)",
        "an object {name, environments[{targetType, schemas[{name, keys[]}]}]}",
    )
}

fn prerequisites_spec() -> Spec {
    Spec::new(
        "dws.prerequisites",
        "Management service returns a map's prerequisites (POST {api}GetTemplatePrerequisiteSequences/{cid})",
        "a JSON array of arrays of template ids",
    )
}

pub(crate) fn skipped(why: &str) -> [Check; 3] {
    [
        versions_spec().skipped(why),
        field_mappings_spec().skipped(why),
        prerequisites_spec().skipped(why),
    ]
}

async fn send(ctx: &Ctx<'_>, req: Result<ApiRequest, ProviderError>) -> Result<Value, Failed> {
    let fail = |e: &_| {
        failed(
            e,
            Service::ManagementService,
            &ctx.desired.auth.client_id.to_string(),
            &ctx.options.login_command,
        )
    };
    let req = req.map_err(|e| fail(&e))?;
    let reply = ctx
        .provider
        .session
        .send(&req)
        .await
        .map_err(|e| fail(&e))?;
    shaped(&reply)
}

pub(crate) async fn checks(ctx: &Ctx<'_>, gw: &Gateway, cid: &str) -> Vec<Check> {
    let listing = send(
        ctx,
        entities_url(gw, cid).map(|u| ApiRequest::get(Api::DualWrite, u)),
    )
    .await
    .and_then(|v| {
        serde_json::from_value::<Vec<MapEntry>>(v).map_err(|e| Failed::differs(e.to_string()))
    });
    let maps = match listing {
        Ok(m) => m,
        Err(_) => return skipped("the map listing failed").into(),
    };
    let Some(first) = maps.first() else {
        return skipped("the connection set has no maps yet").into();
    };
    let limit = ctx.options.timeout;
    let (versions, _) = run(versions_spec(), limit, async {
        for (i, m) in maps.iter().enumerate() {
            let d = &m.detail;
            if d.template.as_ref().and_then(|t| t.version).is_none() {
                return Err(Failed::differs(format!(
                    "at `[{i}].detail.template`: map `{}` shows no version",
                    d.t_name
                )));
            }
            if d.templates.as_ref().is_none_or(|t| t.is_empty()) {
                return Err(Failed::differs(format!(
                    "at `[{i}].detail.templates`: map `{}` offers no versions",
                    d.t_name
                )));
            }
        }
        Ok(Found::seen(format!(
            "map `{}` at {} of {} version(s)",
            first.detail.t_name,
            first
                .detail
                .template
                .as_ref()
                .and_then(|t| t.version)
                .map(|v| v.text())
                .unwrap_or_default(),
            first.detail.templates.as_ref().map_or(0, Vec::len)
        )))
    })
    .await;
    let pid = first.detail.pid.clone().filter(|p| !p.is_empty());
    let field_mappings = async {
        let Some(pid) = pid else {
            return field_mappings_spec().skipped("the first map has no project (pid)");
        };
        run(field_mappings_spec(), limit, async {
            let url = url_with_query(&gw.api, &format!("{}/FieldMappings", seg(&pid)), &[]);
            let v = send(ctx, url.map(|u| ApiRequest::get(Api::DualWrite, u))).await?;
            let name = v["name"].as_str().unwrap_or_default();
            let envs = v["environments"].as_array();
            if name.is_empty() || envs.is_none() {
                return Err(Failed::differs(
                    "no `name` or no `environments` array in the field mappings",
                ));
            }
            Ok(Found::seen(format!(
                "project {name}, {} environment(s)",
                envs.map_or(0, Vec::len)
            )))
        })
        .await
        .0
    };
    let tid = first.detail.template_id().unwrap_or_default().to_string();
    let prerequisites = run(prerequisites_spec(), limit, async {
        let url = url_with_query(
            &gw.api,
            &format!("GetTemplatePrerequisiteSequences/{}", seg(cid)),
            &[],
        );
        let req = url.map(|u| {
            let mut r = ApiRequest::post(Api::DualWrite, u)
                .header("Origin", crate::services::dws::ORIGIN)
                .json(json!([tid]));
            r.idempotent = true;
            r
        });
        let v = send(ctx, req).await?;
        let ok = v.as_array().is_some_and(|a| {
            a.iter()
                .all(|l| l.as_array().is_some_and(|l| l.iter().all(Value::is_string)))
        });
        if !ok {
            return Err(Failed::differs("not an array of arrays of template ids"));
        }
        Ok(Found::seen(format!(
            "{} prerequisite sequence(s)",
            v.as_array().map_or(0, Vec::len)
        )))
    });
    let (field_mappings, (prerequisites, _)) = tokio::join!(field_mappings, prerequisites);
    vec![versions, field_mappings, prerequisites]
}
