//! The Power Platform admin API (`api.bap.microsoft.com`): which Dataverse environment the
//! F&O environment's Power Platform integration is linked to.
//!
//! Sources: microsoft/terraform-provider-power-platform ("TFPP")
//! `internal/services/environment/api_environment.go` (route, `api-version=2023-06-01`, scope)
//! and `internal/services/environment/dto.go` (`properties.linkedEnvironmentMetadata`,
//! `properties.linkedAppMetadata`); d365collaborative/d365bap.tools `Get-BapEnvironment.ps1` for
//! what `linkedAppMetadata` means (the F&O app linked to the environment). Service principals
//! work with this API (TFPP), so the config's `auth` app registration signs in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;
use uuid::Uuid;

use crate::services::odata::url_with_query;
use crate::signin::session::Session;
use crate::transport::client::join;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::model::identity::{self, same_host_str};
use dwlink_core::model::live::OrgRef;

/// The public cloud's host (TFPP `constants` `BapiUrl` for the public cloud).
pub const ADMIN_API: &str = "https://api.bap.microsoft.com/";
/// TFPP `constants.BAP_API_VERSION`.
const API_VERSION: &str = "2023-06-01";
const ENVIRONMENTS: &str = "providers/Microsoft.BusinessAppPlatform/scopes/admin/environments";
/// More pages than this is a loop, not a tenant.
const MAX_PAGES: usize = 200;

/// The Power Platform environment linked to the F&O environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminLink {
    /// The Power Platform environment's name (a GUID): the reset body's `powerAppsEnvironmentName`
    /// and its CRM entry's `id` when the reset targets this environment.
    pub environment: String,
    /// Its Dataverse organization (`instanceUrl`, `resourceId`).
    pub organization: OrgRef,
    /// `properties.environmentSku` is `Production` (TFPP `dto.go` `EnvironmentSku`; its values
    /// are the admin center's environment types): a saved plan of it is protected whatever the
    /// file says.
    pub production: bool,
    /// `linkedEnvironmentMetadata.uniqueName`: the reset body's CRM entry `name` (inferred: the
    /// connection set names its CRM entry so in every public example, no public code says so).
    pub unique_name: Option<String>,
    /// `properties.displayName` (else `linkedEnvironmentMetadata.friendlyName`): the CRM entry's
    /// `displayName`.
    pub display_name: Option<String>,
}

pub(crate) fn environments_url(admin: &Url) -> Result<Url, ProviderError> {
    url_with_query(admin, ENVIRONMENTS, &[("api-version", API_VERSION.into())])
}

/// The tenant's environments as dwlink reads them: per linked F&O host, the links to it (an
/// unreadable item kept as its message, so it fails only the plan of the F&O environment it
/// names).
#[derive(Debug, Default)]
pub(crate) struct AdminList {
    /// `Ok(None)`: an environment linked to the F&O environment without a Dataverse
    /// (`linkedEnvironmentMetadata`): the initial Power Platform environment every F&O
    /// environment gets (Learn, "Enable Power Platform integration"), scenario 3.
    by_fo_host: HashMap<HostKey, Vec<Result<Option<AdminLink>, String>>>,
    /// Each environment's Dataverse by the environment's `name` (lower case), for the
    /// connection set's `powerAppsEnvironment`.
    by_name: HashMap<String, Result<Option<Url>, String>>,
    /// The first page's URL, for messages.
    url: String,
}

/// One read of the admin API's list shared by every plan of a fleet (the list is the tenant's,
/// the same for each of its F&O environments): a fleet of N asks once instead of N times.
/// Keyed by tenant and app registration, since what the list shows depends on who asks.
#[derive(Debug, Clone, Default)]
pub struct SharedAdminList(Arc<Mutex<HashMap<Asker, Arc<ListCell>>>>);

/// Tenant and app registration.
type Asker = (Uuid, Uuid);
/// One tenant's list, read by the first plan that asks; the others wait for it.
type ListCell = tokio::sync::OnceCell<Arc<AdminList>>;

impl SharedAdminList {
    fn cell(&self, key: Asker) -> Arc<ListCell> {
        let mut cells = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cells.entry(key).or_default().clone()
    }
}

/// The environment whose `linkedAppMetadata.url` is the F&O environment; `None` when none is
/// (a blank Power Platform integration — scenario 3 — or a cloud-hosted environment, which the
/// list does not hold). Two environments linked to one F&O URL is a reply dwlink cannot read.
/// With `shared` (fleets), the list read by another plan of this run is used.
pub(crate) async fn linked_environment(
    session: &Session,
    admin: &Url,
    fo_url: &Url,
    shared: Option<(&SharedAdminList, (Uuid, Uuid))>,
) -> Result<Option<AdminLink>, ProviderError> {
    let list: Arc<AdminList> = admin_list(session, admin, shared).await?;
    link_of(&list, fo_url)
}

/// The tenant's list, read once per run when `shared`.
pub(crate) async fn admin_list(
    session: &Session,
    admin: &Url,
    shared: Option<(&SharedAdminList, (Uuid, Uuid))>,
) -> Result<Arc<AdminList>, ProviderError> {
    Ok(match shared {
        Some((cache, key)) => cache
            .cell(key)
            .get_or_try_init(|| async { list(session, admin).await.map(Arc::new) })
            .await?
            .clone(),
        None => Arc::new(list(session, admin).await?),
    })
}

impl AdminList {
    /// The Dataverse URL of the Power Platform environment `name` (the connection set's
    /// `powerAppsEnvironment`): `Ok(None)` when the list does not hold it or it has no
    /// Dataverse, an error when its item cannot be read.
    pub(crate) fn organization_of(&self, name: &str) -> Result<Option<Url>, ProviderError> {
        match self.by_name.get(&name.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(Ok(u)) => Ok(u.clone()),
            Some(Err(d)) => Err(ProviderError::bad_reply(
                Api::PowerPlatformAdmin,
                self.url.clone(),
                d.clone(),
            )),
        }
    }
}

pub(crate) fn link_of(list: &AdminList, fo_url: &Url) -> Result<Option<AdminLink>, ProviderError> {
    let found = identity::host_key(fo_url)
        .and_then(|h| list.by_fo_host.get(&h))
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let bad = |d: String| ProviderError::bad_reply(Api::PowerPlatformAdmin, list.url.clone(), d);
    let mut links = Vec::new();
    for f in found {
        // An environment without a Dataverse links no organization (scenario 3), whatever
        // else the list holds.
        if let Some(l) = f.clone().map_err(bad)? {
            links.push(l);
        }
    }
    match links.len() {
        0 => Ok(None),
        1 => Ok(links.pop()),
        _ => Err(bad(format!(
            "{} environments are linked to {} ({}): dwlink cannot tell which is the Power Platform link",
            links.len(),
            fo_url,
            links.iter().map(|f| f.environment.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The one normalisation environments are compared by ([`identity::host_key`]).
type HostKey = (String, Option<u16>);

fn host_of(url: &str) -> Option<HostKey> {
    Url::parse(url.trim())
        .ok()
        .and_then(|u| identity::host_key(&u))
}

/// Every page of the tenant's environments, each linked item read once.
async fn list(session: &Session, admin: &Url) -> Result<AdminList, ProviderError> {
    let first = environments_url(admin)?;
    let mut out = AdminList {
        by_fo_host: Default::default(),
        by_name: Default::default(),
        url: first.to_string(),
    };
    let mut next = Some(first);
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
            if let Some((name, org)) = read_named(item) {
                let org = org.map_err(|d| format!("{}: environment {i}: {d}", reply.url));
                out.by_name.insert(name, org);
            }
            if let Some((host, link)) = read_item(item) {
                let link = link.map_err(|d| format!("{}: environment {i}: {d}", reply.url));
                out.by_fo_host.entry(host).or_default().push(link);
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
    Ok(out)
}

/// An item's `name` and its Dataverse URL (`None`: no `linkedEnvironmentMetadata`).
fn read_named(item: &Value) -> Option<(String, Result<Option<Url>, String>)> {
    let name = item.get("name").and_then(Value::as_str)?;
    let org = match item
        .get("properties")
        .and_then(|p| p.get("linkedEnvironmentMetadata"))
    {
        None | Some(Value::Null) => Ok(None),
        Some(meta) => instance_url(meta).map(Some),
    };
    Some((name.trim().to_ascii_lowercase(), org))
}

fn instance_url(meta: &Value) -> Result<Url, String> {
    let instance = meta
        .get("instanceUrl")
        .and_then(Value::as_str)
        .ok_or("linkedEnvironmentMetadata has no instanceUrl")?;
    Url::parse(instance).map_err(|e| format!("instanceUrl `{instance}`: {e}"))
}

/// The F&O host an item of the list is linked to, and the link it describes; `None` for an
/// environment without a linked F&O app.
fn read_item(item: &Value) -> Option<(HostKey, Result<Option<AdminLink>, String>)> {
    let props = item.get("properties");
    let app_url = props
        .and_then(|p| p.get("linkedAppMetadata"))
        .and_then(|a| a.get("url"))
        .and_then(Value::as_str)?;
    Some((host_of(app_url)?, read_link(item, props)))
}

/// `Ok(None)` for an environment linked to the F&O app without a Dataverse: every F&O
/// environment gets such an initial Power Platform environment, linked one to one, before any
/// Dataverse is provisioned (Learn, "Enable Power Platform integration"): scenario 3, not a bad
/// reply.
fn read_link(item: &Value, props: Option<&Value>) -> Result<Option<AdminLink>, String> {
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let meta = match props.and_then(|p| p.get("linkedEnvironmentMetadata")) {
        None | Some(Value::Null) => return Ok(None),
        Some(m) => m,
    };
    let url = instance_url(meta)?;
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let organization_id = match meta.get("resourceId").and_then(Value::as_str) {
        Some(s) => Some(Uuid::try_parse(s).map_err(|_| format!("resourceId `{s}` is not a GUID"))?),
        None => None,
    };
    let production = props
        .and_then(|p| p.get("environmentSku"))
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("production"));
    Ok(Some(AdminLink {
        environment: name,
        production,
        organization: OrgRef {
            url,
            organization_id,
        },
        unique_name: text(meta.get("uniqueName")),
        display_name: text(props.and_then(|p| p.get("displayName")))
            .or_else(|| text(meta.get("friendlyName"))),
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
        let broken = json!({"name": "e2", "properties": {"linkedAppMetadata": {"url": "https://other.operations.dynamics.com"},
            "linkedEnvironmentMetadata": {"uniqueName": "no instance url"}}});
        let plain = json!({"name": "e3", "properties": {"displayName": "no app"}});
        // The initial Power Platform environment of an F&O environment: linked, no Dataverse.
        let initial = json!({"name": "e4", "properties": {"linkedAppMetadata": {"url": "https://blank.operations.dynamics.com"}}});
        let mut list = AdminList::default();
        for i in [&item, &broken, &plain, &initial] {
            if let Some((host, link)) = read_item(i) {
                list.by_fo_host.entry(host).or_default().push(link);
            }
        }
        let link = link_of(&list, &fo).unwrap().unwrap();
        assert_eq!(
            link.organization.url.host_str(),
            Some("org-uat.crm.dynamics.com")
        );
        assert!(link.organization.organization_id.is_some());
        assert_eq!(link.environment, "e1");
        // Scenario 3, not a bad reply.
        let blank = Url::parse("https://blank.operations.dynamics.com/").unwrap();
        assert_eq!(link_of(&list, &blank).unwrap(), None);
        // The broken item names another environment: only that environment's plan fails.
        let unlinked = Url::parse("https://third.operations.dynamics.com/").unwrap();
        assert_eq!(link_of(&list, &unlinked).unwrap(), None);
        assert!(link_of(
            &list,
            &Url::parse("https://other.operations.dynamics.com").unwrap()
        )
        .is_err());
        // Two environments linked to one F&O environment cannot be told apart.
        list.by_fo_host
            .get_mut(&host_of("https://contoso-uat.sandbox.operations.dynamics.com").unwrap())
            .unwrap()
            .push(read_item(&item).unwrap().1);
        assert!(link_of(&list, &fo)
            .unwrap_err()
            .to_string()
            .contains("2 environments are linked"));
    }
}
