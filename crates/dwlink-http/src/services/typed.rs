//! Reply values held to their stated types. A key or fact cell of another type than the service
//! states is a bad reply, never a value to make do with: a number where `$metadata` states
//! `Edm.String` addresses another row than the one read, and an object where a URL belongs would
//! hide rows that sync elsewhere (a plan saying "No changes").
//!
//! The stated type is `$metadata`'s where the run has read it, else the registry's: every key and
//! fact column dwlink reads is a string (`model::key_tables`; Dataverse primary keys are GUIDs).

use serde_json::Value;

use super::metadata::Metadata;
use super::picked::Cell;
use super::tables::TableDef;
use dwlink_core::link::error::ProviderError;
use dwlink_core::link::Row;
use dwlink_core::link::RowPages;

/// What a value of a stated type looks like in JSON (OData JSON format, §7: strings for
/// strings, GUIDs, dates and enum members; numbers for numeric types; booleans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Text,
    Guid,
    Number,
    Boolean,
    /// A type dwlink does not hold replies to.
    Any,
}

impl Shape {
    pub(crate) fn of(stated: &str) -> Shape {
        match stated {
            "Edm.String" | "Edm.Date" | "Edm.DateTimeOffset" | "Edm.TimeOfDay" | "Edm.Duration" => {
                Shape::Text
            }
            "Edm.Guid" => Shape::Guid,
            "Edm.Boolean" => Shape::Boolean,
            "Edm.Byte" | "Edm.SByte" | "Edm.Int16" | "Edm.Int32" | "Edm.Int64" | "Edm.Decimal"
            | "Edm.Double" | "Edm.Single" => Shape::Number,
            t if t.starts_with("Edm.") => Shape::Any,
            // An enum type of the service's own schema: members are sent by name.
            _ => Shape::Text,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Text => "a string",
            Shape::Guid => "a GUID string",
            Shape::Number => "a number",
            Shape::Boolean => "a boolean",
            Shape::Any => "any value",
        }
    }

    fn fits(self, v: &Value) -> bool {
        match (self, v) {
            (Shape::Any, _) => true,
            (Shape::Text, Value::String(_)) => true,
            (Shape::Guid, Value::String(s)) => uuid::Uuid::try_parse(s).is_ok(),
            (Shape::Number, Value::Number(_)) => true,
            (Shape::Boolean, Value::Bool(_)) => true,
            _ => false,
        }
    }

    pub(crate) fn fits_cell(self, c: &Cell<'_>) -> bool {
        match (self, c) {
            (Shape::Any, _) => true,
            (Shape::Text, Cell::Str(_)) => true,
            (Shape::Guid, Cell::Str(s)) => uuid::Uuid::try_parse(s).is_ok(),
            (Shape::Number, Cell::Number(_)) => true,
            (Shape::Boolean, Cell::Bool(_)) => true,
            _ => false,
        }
    }
}

/// How a JSON value is described in a bad-reply message.
pub(crate) fn seen(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn seen_cell(c: &Cell<'_>) -> &'static str {
    match c {
        Cell::Null => "null",
        Cell::Bool(_) => "a boolean",
        Cell::Number(_) => "a number",
        Cell::Str(_) => "a string",
        Cell::Nested => "an object or array",
    }
}

/// The checked columns of one table: its keys (never null), then its fact column (null allowed).
pub(crate) struct Columns {
    keys: Vec<(String, Shape)>,
    fact: Option<(String, Shape)>,
}

impl Columns {
    /// `keys`: the key columns as read (a Dataverse set's primary id is resolved at run time).
    pub(crate) fn of(
        def: &TableDef,
        keys: &[&str],
        metadata: Option<&Metadata>,
        set: &str,
    ) -> Self {
        let stated = |column: &str, default: Shape| {
            metadata
                .and_then(|m| m.set(set))
                .and_then(|s| s.types.get(column))
                .map_or(default, |t| Shape::of(t))
        };
        let key_shape = if def.guid_key {
            Shape::Guid
        } else {
            Shape::Text
        };
        Columns {
            keys: keys
                .iter()
                .map(|k| (k.to_string(), stated(k, key_shape)))
                .collect(),
            fact: def.fact.map(|f| (f.to_string(), stated(f, Shape::Text))),
        }
    }

    /// Why `row` (number `index` of the read) is not of the stated types; `None` when it is.
    pub(crate) fn misfit(&self, row: &Row, index: usize, set: &str) -> Option<String> {
        for (k, shape) in &self.keys {
            match row.get(k) {
                Some(v) if shape.fits(v) => {}
                Some(v) => return Some(wrong(index, set, k, seen(v), *shape)),
                None => return Some(format!("row {index} of {set} has no key column {k}")),
            }
        }
        let (f, shape) = self.fact.as_ref()?;
        match row.get(f) {
            None | Some(Value::Null) => None,
            Some(v) if shape.fits(v) => None,
            Some(v) => Some(wrong(index, set, f, seen(v), *shape)),
        }
    }
}

pub(crate) fn wrong(index: usize, set: &str, column: &str, seen: &str, stated: Shape) -> String {
    format!(
        "row {index} of {set}: {column} is {seen}, but the service states it as {}",
        stated.name()
    )
}

/// Pages of a key table whose every row is checked before a caller sees it.
pub(crate) struct CheckedPages<'a> {
    pub inner: Box<dyn RowPages + 'a>,
    pub columns: Columns,
    pub set: String,
    pub api: dwlink_core::link::Api,
    pub url: String,
    pub rows: usize,
}

impl RowPages for CheckedPages<'_> {
    fn next_page(&mut self) -> dwlink_core::link::BoxFut<'_, Option<Vec<Row>>> {
        Box::pin(async move {
            let Some(page) = self.inner.next_page().await? else {
                return Ok(None);
            };
            for row in &page {
                if let Some(why) = self.columns.misfit(row, self.rows, &self.set) {
                    return Err(ProviderError::bad_reply(self.api, self.url.clone(), why));
                }
                self.rows += 1;
            }
            Ok(Some(page))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::tables::TABLES;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_and_facts_of_another_type_are_named() {
        let c = Columns::of(&TABLES[0], TABLES[0].keys, None, "S");
        assert!(c
            .misfit(
                &row(json!({"ProjectName":"a","ExternalEnvironmentUrl":null})),
                0,
                "S"
            )
            .is_none());
        let why = c.misfit(&row(json!({"ProjectName":7})), 3, "S").unwrap();
        assert_eq!(
            why,
            "row 3 of S: ProjectName is a number, but the service states it as a string"
        );
        let why = c
            .misfit(
                &row(json!({"ProjectName":"a","ExternalEnvironmentUrl":{"u":1}})),
                0,
                "S",
            )
            .unwrap();
        assert!(why.contains("ExternalEnvironmentUrl is an object"), "{why}");
        let rt = Columns::of(&TABLES[3], TABLES[3].keys, None, "S");
        let why = rt
            .misfit(&row(json!({"msdyn_dualwriteruntimeconfigid":"x"})), 0, "S")
            .unwrap();
        assert!(why.contains("a GUID string"), "{why}");
        assert_eq!(
            Shape::of("Microsoft.Dynamics.DataEntities.NoYes"),
            Shape::Text
        );
        assert_eq!(Shape::of("Edm.Int32"), Shape::Number);
    }
}
