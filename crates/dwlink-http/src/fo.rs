//! Finance and operations OData (`/data/`): key-table URLs, always `cross-company=true` so rows
//! of every legal entity are seen.

use url::Url;

use super::odata::{encode, url_with_query};
use super::tables::TableDef;
use dwlink_core::link::error::ProviderError;

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
    use crate::tables::TABLES;

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
