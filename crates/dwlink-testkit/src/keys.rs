//! Row keys and the facts a live read derives from rows, from the core's key-table registry,
//! spelled as the HTTP link spells them so plans made against the fake look like real ones.

use std::collections::BTreeMap;

use dwlink_core::link::{Row, TableRef};
use dwlink_core::model::key_tables::{
    self, KeyTableDef, BUSINESS_EVENTS, EXTERNAL_ENVIRONMENT_URL,
};
use dwlink_core::model::live::KeyTable;
use serde_json::Value;

pub(crate) fn def_of(table: &TableRef) -> Option<&'static KeyTableDef> {
    key_tables::by_table(&table.table)
        .or_else(|| key_tables::by_entity_set(table.service, &table.entity_set))
}

/// The OData key predicate of a row: `('a')`, `(guid)` or `(K1='a',K2='b')`.
pub(crate) fn predicate(def: &KeyTableDef, row: &Row) -> Option<String> {
    let mut parts = Vec::with_capacity(def.keys.len());
    for k in def.keys {
        let literal = match row.get(*k)? {
            Value::String(s) if def.guid_key => uuid::Uuid::try_parse(s).ok()?.to_string(),
            Value::String(s) => format!("'{}'", s.replace('\'', "''")),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        parts.push(if def.keys.len() > 1 {
            format!("{k}={literal}")
        } else {
            literal
        });
    }
    Some(format!("({})", parts.join(",")))
}

/// Whether a row is dual-write's: every row of a key table, except the business events that
/// are not flagged `IsDualWrite`.
pub(crate) fn is_dual_write(def: &KeyTableDef, row: &Row) -> bool {
    def.table != BUSINESS_EVENTS || row.get("IsDualWrite") == Some(&Value::Bool(true))
}

/// What a live read reports of one table: its dual-write keys, sorted, and the counted fact.
pub(crate) fn key_table(def: &KeyTableDef, rows: &[Row]) -> KeyTable {
    let mut keys = Vec::new();
    let mut external_urls = BTreeMap::new();
    let mut secure_config_organizations = BTreeMap::new();
    for row in rows.iter().filter(|r| is_dual_write(def, r)) {
        // A row without a key cannot be named, so a read cannot report it (the HTTP link calls
        // it a bad reply); the backup step still meets it and must refuse.
        let Some(key) = predicate(def, row) else {
            continue;
        };
        keys.push(key);
        let fact = def
            .fact
            .and_then(|f| row.get(f))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match (def.fact, fact) {
            (Some(EXTERNAL_ENVIRONMENT_URL), Some(v)) => {
                let v = url::Url::parse(v).map_or_else(|_| v.to_string(), |u| u.to_string());
                *external_urls.entry(v).or_default() += 1;
            }
            (Some(_), Some(v)) => {
                *secure_config_organizations
                    .entry(v.to_string())
                    .or_default() += 1
            }
            _ => {}
        }
    }
    keys.sort();
    KeyTable {
        service: def.service,
        table: def.table.to_string(),
        entity_set: def.entity_set.to_string(),
        keys,
        external_urls,
        secure_config_organizations,
        // The fake is a world where every candidate set and column exists.
        fact_column: def.fact.map(str::to_string),
        unreadable: None,
    }
}
