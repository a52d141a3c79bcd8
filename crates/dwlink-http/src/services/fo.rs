//! Finance and operations OData (`/data/`): `$metadata` and key-table URLs, always
//! `cross-company=true` so rows of every legal entity are seen (harmless on a global table such as
//! DualWriteProjectConfigurations, which has no `dataAreaId`).

use url::Url;

use crate::services::metadata::{Metadata, SetInfo};
use crate::services::odata::{encode, url_with_query};
use crate::services::tables::TableDef;
use crate::signin::session::Session;
use crate::transport::request::ApiRequest;
use dwlink_core::link::error::{Api, ProviderError};

/// `GET /data/$metadata`: the sets, keys and properties this environment really has.
pub(crate) async fn metadata(session: &Session, data: &Url) -> Result<Metadata, ProviderError> {
    let reply = session.send(&metadata_request(data)?).await?;
    Metadata::parse(&reply.body).map_err(|d| reply.bad(d))
}

pub(crate) fn metadata_request(data: &Url) -> Result<ApiRequest, ProviderError> {
    let url = url_with_query(data, "$metadata", &[])?;
    Ok(ApiRequest::get(Api::FinanceOperations, url)
        .odata()
        .header("Accept", "application/xml"))
}

/// The set of `def` as `$metadata` states it, checked against what dwlink knows of the table:
/// `Ok(None)` when the environment has no such set. A set whose key differs is an error, as a
/// delete by dwlink's key would name other rows than the service's.
pub(crate) fn stated_set<'m>(
    metadata: &'m Metadata,
    def: &TableDef,
    entity_set: &str,
) -> Result<Option<&'m SetInfo>, ProviderError> {
    let Some(set) = metadata.set(entity_set) else {
        return Ok(None);
    };
    if set
        .keys
        .iter()
        .map(String::as_str)
        .ne(def.keys.iter().copied())
    {
        return Err(ProviderError::Setup {
            message: format!(
                "$metadata states the key of {entity_set} as ({}), but dwlink knows {} by ({})",
                set.keys.join(", "),
                def.table,
                def.keys.join(", ")
            ),
            help: "dwlink deletes rows only by the key the service states; report this environment's $metadata for this set".into(),
        });
    }
    // dwlink's keys are strings (`model::key_tables`): a set stating another type is not the
    // table dwlink knows, and its replies could not be held to what dwlink expects.
    if let Some((k, t)) = def.keys.iter().find_map(|k| {
        set.types
            .get(*k)
            .filter(|t| super::typed::Shape::of(t) != super::typed::Shape::Text)
            .map(|t| (k, t))
    }) {
        return Err(ProviderError::Setup {
            message: format!(
                "$metadata states key {k} of {entity_set} as {t}, but dwlink knows {} keyed by strings",
                def.table
            ),
            help: "dwlink deletes rows only by the key the service states; report this environment's $metadata for this set".into(),
        });
    }
    Ok(Some(set))
}

/// Whether `$metadata` states `def`'s set exactly as dwlink reads it without asking: same key,
/// its filter and fact column present. Only then do rows read before `$metadata` arrived count.
pub(crate) fn read_as_known(metadata: &Metadata, def: &TableDef) -> bool {
    let Ok(Some(set)) = stated_set(metadata, def, def.entity_set) else {
        return false;
    };
    filter_fits(def, set) && def.fact.is_none_or(|f| set.properties.contains(f))
}

/// Whether `$filter` (dwlink's own, `Property op literal`) names only properties of `set`.
pub(crate) fn filter_fits(def: &TableDef, set: &SetInfo) -> bool {
    def.filter
        .and_then(|f| f.split_whitespace().next())
        .is_none_or(|p| set.properties.contains(p))
}

/// The collection `entity_set` (passed apart from `def` so a corrected name needs no new table)
/// of `def`, narrowed to `select` (the plan read) or all columns (backups).
pub fn collection_url(
    data: &Url,
    entity_set: &str,
    def: &TableDef,
    select: Option<String>,
) -> Result<Url, ProviderError> {
    let mut query = vec![("cross-company", "true".to_string())];
    if let Some(s) = select {
        query.push(("$select", s));
    }
    if let Some(f) = def.filter {
        query.push(("$filter", f.to_string()));
    }
    url_with_query(data, &encode(entity_set), &query)
}

/// One row by key predicate, as used for single deletes and inside `$batch`.
pub fn entity_url(data: &Url, entity_set: &str, predicate: &str) -> Result<Url, ProviderError> {
    let path = format!("{}{}", encode(entity_set), encode(predicate));
    url_with_query(data, &path, &[("cross-company", "true".to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::tables::TABLES;

    #[test]
    fn urls_are_cross_company_and_filtered() {
        let data = Url::parse("https://env.example/data/").unwrap();
        let u = collection_url(
            &data,
            TABLES[2].entity_set,
            &TABLES[2],
            Some("BusinessEventId".into()),
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://env.example/data/BusinessEventsDefinitions?cross-company=true&$select=BusinessEventId&$filter=IsDualWrite%20eq%20true"
        );
        let e = entity_url(&data, "DualWriteProjectConfigurations", "('Customers V3')").unwrap();
        assert_eq!(
            e.as_str(),
            "https://env.example/data/DualWriteProjectConfigurations('Customers%20V3')?cross-company=true"
        );
    }
}
