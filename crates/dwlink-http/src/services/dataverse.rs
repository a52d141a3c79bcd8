//! Dataverse Web API (`/api/data/v9.2/`): who the organization is, and where the
//! runtime-configuration rows live (resolved through `EntityDefinitions`, not hard-coded).

use std::collections::BTreeSet;

use serde_json::Value;
use url::Url;
use uuid::Uuid;

use crate::services::odata::{encode, quote, read_all, str_field, url_with_query, Paging};
use crate::services::tables::{RUNTIME_CONFIGURATION, RUNTIME_PRIMARY_ID};
use crate::signin::session::Session;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Organization {
    pub id: Uuid,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntitySet {
    pub name: String,
    pub primary_id: String,
}

/// Who the organization is: `RetrieveCurrentOrganization`'s `Detail` (powerapps-docs Web API
/// functions sample; `OrganizationDetail` reference). `organizations?$select=uniquename` is no
/// way to it: `uniquename` is not a column of `organization` (powerapps-docs
/// `developer/data-platform/reference/entities/organization.md`).
pub(crate) async fn organization(
    session: &Session,
    api: &Url,
) -> Result<Organization, ProviderError> {
    let url = url_with_query(
        api,
        "RetrieveCurrentOrganization(AccessType=@p1)",
        &[(
            "@p1",
            "Microsoft.Dynamics.CRM.EndpointAccessType'Default'".into(),
        )],
    )?;
    let reply = session
        .send(&ApiRequest::get(Api::Dataverse, url).odata())
        .await?;
    let body: Value = reply.json_value()?;
    let detail = body
        .get("Detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| reply.bad("RetrieveCurrentOrganization has no Detail object"))?;
    let id = detail
        .get("OrganizationId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::try_parse(s).ok())
        .ok_or_else(|| reply.bad("RetrieveCurrentOrganization has no OrganizationId GUID"))?;
    let text = |col: &str| {
        detail
            .get(col)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok(Organization {
        id,
        unique_name: text("UniqueName"),
        friendly_name: text("FriendlyName"),
    })
}

/// The F&O environment this organization is integrated with, as Dataverse says
/// (`RetrieveFinanceAndOperationsIntegrationDetails`: UO
/// `power-platform/enable-power-platform-integration.md`; BAPT
/// `Confirm-BapEnvironmentIntegration.ps1` reads `Id` as the LCS environment id). `Id` and
/// `TenantId` are kept when present and well-formed; `Url` must be an absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoIntegration {
    pub url: Url,
    pub tenant_id: Option<Uuid>,
    pub id: Option<String>,
}

/// The documented error of `RetrieveFinanceAndOperationsIntegrationDetails` for an
/// organization that is not linked to F&O (same sources).
pub(crate) const NOT_LINKED_TO_FO: &str = "0x80048d0b";

/// `None` when the organization is not linked to F&O (error `0x80048d0b`, whatever its status:
/// which status Dataverse sends with it has no public evidence).
pub(crate) async fn fo_integration_details(
    session: &Session,
    api: &Url,
) -> Result<Option<FoIntegration>, ProviderError> {
    let url = url_with_query(api, "RetrieveFinanceAndOperationsIntegrationDetails", &[])?;
    let reply = match session
        .send(&ApiRequest::get(Api::Dataverse, url).odata())
        .await
    {
        Ok(r) => r,
        Err(ProviderError::Status { code: Some(c), .. })
            if c.eq_ignore_ascii_case(NOT_LINKED_TO_FO) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let body: Value = reply.json_value()?;
    let url = body
        .get("Url")
        .and_then(Value::as_str)
        .and_then(|s| Url::parse(s).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            reply.bad("RetrieveFinanceAndOperationsIntegrationDetails has no absolute Url")
        })?;
    let tenant_id = body
        .get("TenantId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::try_parse(s).ok());
    let id = match body.get("Id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(Some(FoIntegration { url, tenant_id, id }))
}

/// The columns a table really has (`EntityDefinitions(LogicalName='…')/Attributes`, documented
/// Web API metadata): what a read may `$select`.
pub(crate) async fn attributes(
    session: &Session,
    api: &Url,
    logical_name: &str,
) -> Result<BTreeSet<String>, ProviderError> {
    let url = attributes_url(api, logical_name)?;
    let rows = read_all(session, Api::Dataverse, url.clone(), Paging::default()).await?;
    rows.iter()
        .map(|r| {
            str_field(r, "LogicalName")
                .map(str::to_string)
                .map_err(|d| ProviderError::bad_reply(Api::Dataverse, url.to_string(), d))
        })
        .collect()
}

/// `None` when the table does not exist (dual-write's solutions are not installed): then there
/// are no runtime rows to read or clear.
pub(crate) async fn runtime_entity_set(
    session: &Session,
    api: &Url,
) -> Result<Option<EntitySet>, ProviderError> {
    let url = runtime_definition_url(api)?;
    let rows = read_all(session, Api::Dataverse, url.clone(), Paging::default()).await?;
    runtime_set_of(&rows, &url)
}

/// The entity set of the runtime-configuration table's definition row; `None` when no row.
pub(crate) fn runtime_set_of(
    rows: &[crate::services::odata::Row],
    url: &Url,
) -> Result<Option<EntitySet>, ProviderError> {
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let bad = |d: String| ProviderError::bad_reply(Api::Dataverse, url.to_string(), d);
    let name = str_field(row, "EntitySetName").map_err(bad)?.to_string();
    if name.is_empty() || name.contains(['/', '?', '#', '(']) {
        return Err(bad(format!(
            "EntitySetName `{name}` is not an entity set name"
        )));
    }
    let primary_id = match row.get("PrimaryIdAttribute") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => RUNTIME_PRIMARY_ID.to_string(),
    };
    Ok(Some(EntitySet { name, primary_id }))
}

pub(crate) fn attributes_url(api: &Url, logical_name: &str) -> Result<Url, ProviderError> {
    let path = format!(
        "EntityDefinitions(LogicalName={})/Attributes",
        encode(&quote(logical_name))
    );
    url_with_query(
        api,
        &path,
        &[("$select", "LogicalName,AttributeType".into())],
    )
}

/// The runtime-configuration table's definition: its entity set and primary id.
pub(crate) fn runtime_definition_url(api: &Url) -> Result<Url, ProviderError> {
    url_with_query(
        api,
        "EntityDefinitions",
        &[
            (
                "$filter",
                format!("LogicalName eq {}", quote(RUNTIME_CONFIGURATION)),
            ),
            (
                "$select",
                "LogicalName,EntitySetName,PrimaryIdAttribute".into(),
            ),
        ],
    )
}

pub(crate) fn collection_url(
    api: &Url,
    entity_set: &str,
    select: Option<String>,
) -> Result<Url, ProviderError> {
    let query: Vec<(&str, String)> = select.map(|s| ("$select", s)).into_iter().collect();
    url_with_query(api, entity_set, &query)
}
