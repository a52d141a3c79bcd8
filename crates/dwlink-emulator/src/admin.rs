//! The Power Platform admin API's environment list
//! (`GET /providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=…`), as
//! microsoft/terraform-provider-power-platform reads it (`internal/services/environment/dto.go`
//! and its test fixture `…/Validate_Read/get_environment_00000000-0000-0000-0000-000000000001.json`).
//! One environment per Dataverse organization of the world; an organization that a non-cloud-hosted
//! F&O environment's Power Platform integration names (fixture `power_platform_link`) carries
//! that F&O environment in `linkedAppMetadata`. Cloud-hosted environments are not listed.

use serde_json::{json, Value};

use super::dws::shapes::power_apps_environment;
use super::odata::error::{bad_request, not_found, Reply};
use super::store::{name_uuid, normalize_url, World};
use dwlink_core::fixture::EnvType;

/// The versions the emulator answers (TFPP `constants.BAP_API_VERSION` and the 2021 one it
/// also uses).
const VERSIONS: [&str; 2] = ["2023-06-01", "2021-04-01"];

pub(crate) fn handle(world: &World, path: &str, query: Option<&str>) -> Reply {
    let q: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let version = q
        .iter()
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.as_str());
    match version {
        Some(v) if VERSIONS.contains(&v) => {}
        Some(v) => return bad_request(format!("api-version `{v}` is not supported")),
        None => return bad_request("api-version is required"),
    }
    let rest = path
        .trim_matches('/')
        .strip_prefix("providers/Microsoft.BusinessAppPlatform/scopes/admin/environments");
    match rest {
        Some("") => Reply::ok(json!({"value": environments(world)})),
        Some(name) => {
            let name = name.trim_start_matches('/');
            match environments(world).into_iter().find(|e| {
                e["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            }) {
                Some(e) => Reply::ok(e),
                None => not_found(format!("environment `{name}` not found")),
            }
        }
        None => not_found(format!("/{path} is not an emulated admin API route")),
    }
}

fn environments(world: &World) -> Vec<Value> {
    let mut list: Vec<Value> = world
        .orgs
        .iter()
        .map(|o| {
            // Once per organization, not per pair: a fleet's world has every org times every F&O
            // environment, asked once per plan.
            let org_url = normalize_url(&o.url);
            let linked_fo = world.fo.iter().find(|e| {
                e.env_type != EnvType::CloudHosted
                    && e.power_platform_link.as_deref() == Some(org_url.as_str())
            });
            let name = power_apps_environment(&o.host);
            let sku = linked_fo.map_or("Sandbox", |f| f.env_type.service_name());
            let mut props = json!({
                "displayName": o.friendly_name,
                "environmentSku": sku,
                "linkedEnvironmentMetadata": {
                    "resourceId": o.organization_id, "friendlyName": o.friendly_name,
                    "uniqueName": o.unique_name, "domainName": o.host.split('.').next().unwrap_or(&o.host),
                    "instanceUrl": format!("{}/", o.url), "instanceApiUrl": format!("{}/api/data/v9.2", o.url),
                    "instanceState": "Ready",
                },
            });
            if let Some(fo) = linked_fo {
                props["linkedAppMetadata"] = json!({
                    "id": name_uuid("lcs-environment", &fo.host), "type": "Linked", "url": fo.url,
                });
            }
            json!({
                "id": format!("/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{name}"),
                "type": "Microsoft.BusinessAppPlatform/scopes/environments",
                "location": "unitedstates", "name": name, "properties": props,
            })
        })
        .collect();
    list.extend(
        world
            .fo
            .iter()
            .filter(|e| e.initial_environment)
            .map(initial),
    );
    list
}

/// The initial Power Platform environment every F&O environment gets, linked one to one, with
/// no Dataverse yet (Learn, "Enable Power Platform integration"): no `linkedEnvironmentMetadata`.
fn initial(fo: &super::store::FoEnv) -> Value {
    let name = name_uuid("initial-power-platform-environment", &fo.host);
    json!({
        "id": format!("/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{name}"),
        "type": "Microsoft.BusinessAppPlatform/scopes/environments",
        "location": "unitedstates", "name": name,
        "properties": {
            "displayName": format!("{} (initial)", fo.host),
            "environmentSku": fo.env_type.service_name(),
            "linkedAppMetadata": {
                "id": name_uuid("lcs-environment", &fo.host), "type": "Linked", "url": fo.url,
            },
        },
    })
}
