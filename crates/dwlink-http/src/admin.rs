//! The Power Platform admin API (`api.bap.microsoft.com`): which Dataverse environment the
//! F&O environment's Power Platform integration is linked to.
//!
//! Sources: microsoft/terraform-provider-power-platform ("TFPP")
//! `internal/services/environment/api_environment.go` (route, `api-version=2023-06-01`, scope)
//! and `internal/services/environment/dto.go` (`properties.linkedEnvironmentMetadata`,
//! `properties.linkedAppMetadata`); d365collaborative/d365bap.tools `Get-BapEnvironment.ps1` for
//! what `linkedAppMetadata` means (the F&O app linked to the environment). Service principals
//! work with this API (TFPP), so the config's `auth` app registration signs in.

use serde_json::Value;
use url::Url;
use uuid::Uuid;

use super::client::join;
use super::odata::url_with_query;
use super::request::ApiRequest;
use super::session::Session;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::model::identity::same_host_str;
use dwlink_core::model::live::OrgRef;

/// The public cloud's host (TFPP `constants` `BapiUrl` for the public cloud).
pub const ADMIN_API: &str = "https://api.bap.microsoft.com/";
/// TFPP `internal/api/client.go`: the BAP token's resource.
pub(crate) const ADMIN_SCOPE: &str = "https://service.powerapps.com/.default";
/// TFPP `constants.BAP_API_VERSION`.
const API_VERSION: &str = "2023-06-01";
const ENVIRONMENTS: &str = "providers/Microsoft.BusinessAppPlatform/scopes/admin/environments";
/// More pages than this is a loop, not a tenant.
const MAX_PAGES: usize = 200;

/// The Power Platform environment linked to the F&O environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminLink {
    /// The Power Platform environment's name (a GUID), for messages.
    pub environment: String,
    /// Its Dataverse organization (`instanceUrl`, `resourceId`).
    pub organization: OrgRef,
}

pub(crate) fn environments_url(admin: &Url) -> Result<Url, ProviderError> {
    url_with_query(admin, ENVIRONMENTS, &[("api-version", API_VERSION.into())])
}

/// The environment whose `linkedAppMetadata.url` is the F&O environment; `None` when none is
/// (a blank Power Platform integration — scenario 3 — or a cloud-hosted environment, which the
/// list does not hold). Two environments linked to one F&O URL is a reply dwlink cannot read.
pub(crate) async fn linked_environment(
    session: &Session,
    admin: &Url,
    fo_url: &Url,
) -> Result<Option<AdminLink>, ProviderError> {
    let mut next = Some(environments_url(admin)?);
    let mut found: Vec<AdminLink> = Vec::new();
    let mut pages = 0;
    while let Some(u) = next.take() {
        pages += 1;
        let bad = |d: String| ProviderError::bad_reply(Api::PowerPlatformAdmin, u.to_string(), d);
        if pages > MAX_PAGES {
            return Err(bad(format!("more than {MAX_PAGES} pages of environments")));
        }
        let reply = session
            .send(&ApiRequest::get(Api::PowerPlatformAdmin, u.clone()))
            .await?;
        let body = reply.json_value()?;
        let Some(items) = body.get("value").and_then(Value::as_array) else {
            return Err(reply.bad("expected `{\"value\": [environments]}`"));
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(link) =
                read_item(item, fo_url).map_err(|d| reply.bad(format!("environment {i}: {d}")))?
            {
                found.push(link);
            }
        }
        // ARM-style paging (`nextLink`): no public evidence that this list pages; followed
        // when it does, on the same host only.
        next = match body.get("nextLink") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let n = join(admin, s).or_else(|_| {
                    Url::parse(s).map_err(|e| bad(format!("nextLink `{s}` is not a URL: {e}")))
                })?;
                if !same_host_str(admin, n.as_str()) {
                    return Err(bad(format!(
                        "nextLink leaves {}",
                        admin.host_str().unwrap_or("")
                    )));
                }
                Some(n)
            }
            Some(_) => return Err(bad("nextLink is not a string".into())),
        };
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(ProviderError::bad_reply(
            Api::PowerPlatformAdmin,
            environments_url(admin)?.to_string(),
            format!(
                "{} environments are linked to {} ({}): dwlink cannot tell which is the Power Platform link",
                found.len(),
                fo_url,
                found.iter().map(|f| f.environment.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The link an item of the list describes, if it is linked to `fo_url`.
fn read_item(item: &Value, fo_url: &Url) -> Result<Option<AdminLink>, String> {
    let props = item.get("properties");
    let app_url = props
        .and_then(|p| p.get("linkedAppMetadata"))
        .and_then(|a| a.get("url"))
        .and_then(Value::as_str);
    let Some(app_url) = app_url.filter(|u| same_host_str(fo_url, u)) else {
        return Ok(None);
    };
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let meta = props
        .and_then(|p| p.get("linkedEnvironmentMetadata"))
        .ok_or_else(|| format!("linked to {app_url} but has no linkedEnvironmentMetadata"))?;
    let instance = meta
        .get("instanceUrl")
        .and_then(Value::as_str)
        .ok_or("linkedEnvironmentMetadata has no instanceUrl")?;
    let url = Url::parse(instance).map_err(|e| format!("instanceUrl `{instance}`: {e}"))?;
    let organization_id = match meta.get("resourceId").and_then(Value::as_str) {
        Some(s) => Some(Uuid::try_parse(s).map_err(|_| format!("resourceId `{s}` is not a GUID"))?),
        None => None,
    };
    Ok(Some(AdminLink {
        environment: name,
        organization: OrgRef {
            url,
            organization_id,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_link_by_the_fo_host() {
        let fo = Url::parse("https://contoso-uat.sandbox.operations.dynamics.com/").unwrap();
        let item = json!({"name": "e1", "properties": {
            "linkedAppMetadata": {"type": "Linked", "url": "https://CONTOSO-UAT.sandbox.operations.dynamics.com"},
            "linkedEnvironmentMetadata": {"instanceUrl": "https://org-uat.crm.dynamics.com/",
                "resourceId": "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"}}});
        let link = read_item(&item, &fo).unwrap().unwrap();
        assert_eq!(
            link.organization.url.host_str(),
            Some("org-uat.crm.dynamics.com")
        );
        assert!(link.organization.organization_id.is_some());
        let other = json!({"name": "e2", "properties": {"linkedAppMetadata": {"url": "https://other.operations.dynamics.com"}}});
        assert_eq!(read_item(&other, &fo).unwrap(), None);
        let plain = json!({"name": "e3", "properties": {"displayName": "no app"}});
        assert_eq!(read_item(&plain, &fo).unwrap(), None);
        let broken =
            json!({"name": "e4", "properties": {"linkedAppMetadata": {"url": fo.as_str()}}});
        assert!(read_item(&broken, &fo).is_err());
    }
}
