//! Dataverse Web API (`/api/data/v9.2/`): who the organization is, and where the
//! runtime-configuration rows live (resolved through `EntityDefinitions`, not hard-coded).

use serde_json::Value;
use url::Url;
use uuid::Uuid;

use super::odata::{quote, read_all, str_field, url_with_query, Paging};
use super::request::ApiRequest;
use super::session::Session;
use super::tables::{RUNTIME_CONFIGURATION, RUNTIME_PRIMARY_ID};
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

pub(crate) async fn organization(
    session: &Session,
    api: &Url,
    paging: Paging,
) -> Result<Organization, ProviderError> {
    let who = url_with_query(api, "WhoAmI", &[])?;
    let reply = session
        .send(&ApiRequest::get(Api::Dataverse, who).odata())
        .await?;
    let body: Value = reply.json_value()?;
    let id = body
        .get("OrganizationId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::try_parse(s).ok())
        .ok_or_else(|| reply.bad("WhoAmI has no OrganizationId GUID"))?;
    let orgs_url = url_with_query(
        api,
        "organizations",
        &[("$select", "organizationid,name,uniquename".into())],
    )?;
    let rows = read_all(session, Api::Dataverse, orgs_url.clone(), paging).await?;
    let row = rows.iter().find(|r| {
        r.get("organizationid")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::try_parse(s).ok())
            == Some(id)
    });
    let text = |col: &str| {
        row.and_then(|r| r.get(col))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Organization {
        id,
        unique_name: text("uniquename"),
        friendly_name: text("name"),
    })
}

/// `None` when the table does not exist (dual-write's solutions are not installed): then there
/// are no runtime rows to read or clear.
pub(crate) async fn runtime_entity_set(
    session: &Session,
    api: &Url,
) -> Result<Option<EntitySet>, ProviderError> {
    let url = url_with_query(
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
    )?;
    let rows = read_all(session, Api::Dataverse, url.clone(), Paging::default()).await?;
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

pub(crate) fn collection_url(
    api: &Url,
    entity_set: &str,
    select: Option<String>,
) -> Result<Url, ProviderError> {
    let query: Vec<(&str, String)> = select.map(|s| ("$select", s)).into_iter().collect();
    url_with_query(api, entity_set, &query)
}
