//! Dataverse Web API functions and metadata navigation the emulator serves beside its tables:
//! `RetrieveCurrentOrganization`, `RetrieveFinanceAndOperationsIntegrationDetails` and a table's
//! `Attributes`.

use axum::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::odata::error::{bad_request, not_found, Reply};
use super::odata::Req;
use super::store::{name_uuid, normalize_url, Org, World};

/// `EndpointAccessType` members (powerapps-docs Web API reference, `EndpointAccessType` EnumType).
const ACCESS_TYPES: [&str; 3] = ["Default", "Internet", "Intranet"];
const ACCESS_TYPE_ENUM: &str = "Microsoft.Dynamics.CRM.EndpointAccessType";

/// `RetrieveCurrentOrganization(AccessType=@p1)?@p1=Microsoft.Dynamics.CRM.EndpointAccessType'Default'`
/// (or the literal inline) → `{"Detail": OrganizationDetail}` (powerapps-docs Web API functions
/// sample; `OrganizationDetail` ComplexType reference). A missing or unknown AccessType is 400.
pub(crate) fn current_organization(world: &World, org: &Org, args: &str, req: &Req) -> Reply {
    let Some(arg) = args.strip_prefix("AccessType=") else {
        return bad_request(format!(
            "RetrieveCurrentOrganization takes one parameter, AccessType, got ({args})"
        ));
    };
    let value = match arg.strip_prefix('@') {
        Some(alias) => {
            let q = req.query.unwrap_or("");
            match url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| *k == format!("@{alias}"))
            {
                Some((_, v)) => v.into_owned(),
                None => return bad_request(format!("the parameter alias @{alias} has no value")),
            }
        }
        None => arg.to_string(),
    };
    let member = value
        .strip_prefix(ACCESS_TYPE_ENUM)
        .and_then(|m| m.strip_prefix('\''))
        .and_then(|m| m.strip_suffix('\''));
    if !member.is_some_and(|m| ACCESS_TYPES.contains(&m)) {
        return bad_request(format!(
            "AccessType must be {ACCESS_TYPE_ENUM}'Default', 'Internet' or 'Intranet', got `{value}`"
        ));
    }
    let url_name = org.host.split('.').next().unwrap_or(&org.host);
    let web = format!("{}/", org.url);
    Reply::ok(json!({
        "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.RetrieveCurrentOrganizationResponse", req.root),
        "Detail": {
            "OrganizationId": org.organization_id,
            "FriendlyName": org.friendly_name,
            "UniqueName": org.unique_name,
            "UrlName": url_name,
            "EnvironmentId": name_uuid("environment", &org.host),
            "TenantId": tenant(world),
            "Geo": Value::Null,
            "State": "Enabled",
            "OrganizationVersion": "9.2.0.0",
            "Endpoints": {
                "Count": 3,
                "IsReadOnly": false,
                "Keys": ["WebApplication", "OrganizationService", "OrganizationDataService"],
                "Values": [
                    web.clone(),
                    format!("{web}XRMServices/2011/Organization.svc"),
                    format!("{web}XRMServices/2011/OrganizationData.svc"),
                ],
            },
        },
    }))
}

/// The tenant the emulator's clients sign in to (the first fixture client's), else a stable id.
fn tenant(world: &World) -> Uuid {
    world
        .clients
        .iter()
        .find_map(|c| Uuid::try_parse(&c.tenant_id).ok())
        .unwrap_or_else(|| name_uuid("tenant", "emulator"))
}

/// `RetrieveFinanceAndOperationsIntegrationDetails` → `{Url, TenantId, Id}` for the F&O
/// environment whose Power Platform link names this organization (UO
/// `power-platform/enable-power-platform-integration.md`; BAPT
/// `Confirm-BapEnvironmentIntegration.ps1`, which reads `Id` as the LCS environment id). Not
/// linked: the documented error code `0x80048d0b`; its HTTP status has no public evidence, and 400
/// is what Dataverse answers a request it refuses for the state of the data (not a missing
/// resource: the function exists).
pub(crate) fn fo_integration(world: &World, org: &Org, req: &Req) -> Reply {
    let org_url = normalize_url(&org.url);
    let linked = world.fo.iter().find(|e| {
        e.power_platform_link
            .as_deref()
            .is_some_and(|l| normalize_url(l) == org_url)
    });
    match linked {
        Some(env) => Reply::ok(json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.RetrieveFinanceAndOperationsIntegrationDetailsResponse", req.root),
            "Url": env.url,
            "TenantId": tenant(world),
            "Id": name_uuid("lcs-environment", &env.host),
        })),
        None => Reply::error(
            StatusCode::BAD_REQUEST,
            "0x80048d0b",
            format!(
                "organization {} is not linked to a finance and operations environment",
                org.unique_name
            ),
        ),
    }
}

/// Columns of `msdyn_dualwriteruntimeconfig` with their `AttributeType`: exactly the columns
/// public code shows (real-contract §3). Types: the id, names and JSON text as their values are;
/// `msdyn_status` Picklist is inferred (community code reads a number); `statecode` is State as on
/// every Dataverse table.
pub(crate) const RUNTIME_ATTRIBUTES: [(&str, &str); 7] = [
    ("msdyn_dualwriteruntimeconfigid", "Uniqueidentifier"),
    ("msdyn_externalentityname", "String"),
    ("msdyn_internalentityname", "String"),
    ("msdyn_name", "String"),
    ("msdyn_status", "Picklist"),
    ("msdyn_unsecure", "Memo"),
    ("statecode", "State"),
];

const ATTRIBUTE_COLUMNS: [&str; 3] = ["LogicalName", "AttributeType", "MetadataId"];

/// `EntityDefinitions(LogicalName='…')/Attributes`: the runtime-configuration table's; other
/// known tables are not described here (404), as the emulator holds none of their rows.
pub(crate) fn attributes(logical_name: &str, req: &Req) -> Reply {
    let q = match super::odata::query::parse_query(req.query) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Err(r) = super::odata::query::check_columns(&q, &ATTRIBUTE_COLUMNS) {
        return r;
    }
    if logical_name != "msdyn_dualwriteruntimeconfig" {
        return not_found(format!(
            "the emulator describes no attributes of `{logical_name}`"
        ));
    }
    let select = q
        .select
        .unwrap_or_else(|| ATTRIBUTE_COLUMNS.iter().map(|s| s.to_string()).collect());
    let rows: Vec<Value> = RUNTIME_ATTRIBUTES
        .iter()
        .map(|(name, ty)| {
            let mut m = serde_json::Map::new();
            for c in &select {
                let v = match c.to_ascii_lowercase().as_str() {
                    "logicalname" => json!(name),
                    "attributetype" => json!(ty),
                    _ => json!(name_uuid("attribute", name)),
                };
                m.insert(c.clone(), v);
            }
            Value::Object(m)
        })
        .collect();
    Reply::ok(json!({
        "@odata.context": format!("{}/$metadata#EntityDefinitions('{logical_name}')/Attributes", req.root),
        "value": rows,
    }))
}
