//! Collection pages parsed for the plan: each row's named columns are handed to a callback as
//! cells borrowed from the reply, and everything else is skipped by the parser without being
//! built. A 10,000-row key-table page then costs no allocation per row beyond what the caller
//! keeps.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// One column value of a row; strings without escapes borrow from the reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    /// An object or array: never a usable key or fact.
    Nested,
}

impl<'a> Cell<'a> {
    pub fn of(v: &'a serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => Cell::Number(n.clone()),
            Value::String(s) => Cell::Str(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) => Cell::Nested,
        }
    }
}

/// What `on_row` gets: the named columns in the order they were named, `None` where a row
/// lacks one. An `Err` stops the parse and becomes its error message.
pub(crate) type OnRow<'f> = dyn FnMut(&[Option<Cell<'_>>]) -> Result<(), String> + Send + 'f;

/// Parses `{"value":[…], "@odata.nextLink": "…"}`, calling `on_row` for each row; returns the
/// next link.
pub(crate) fn parse(
    body: &[u8],
    columns: &[&str],
    on_row: &mut OnRow<'_>,
) -> Result<Option<String>, serde_json::Error> {
    // Checked as UTF-8 once, so the parser does not re-check every string it meets.
    let text = std::str::from_utf8(body).map_err(|e| {
        de::Error::custom(format!(
            "the reply is not UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let link = PageSeed { columns, on_row }.deserialize(&mut de)?;
    de.end()?;
    Ok(link)
}

struct PageSeed<'c, 'f, 'g> {
    columns: &'c [&'c str],
    on_row: &'g mut OnRow<'f>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_, '_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_, '_, '_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OData collection object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen_value = false;
        let mut next_link = None;
        while let Some(member) = map.next_key_seed(NameSeed(|n: &str| match n {
            "value" => 1,
            "@odata.nextLink" => 2,
            _ => 0,
        }))? {
            match member {
                1 => {
                    seen_value = true;
                    map.next_value_seed(RowsSeed {
                        columns: self.columns,
                        on_row: &mut *self.on_row,
                    })?;
                }
                2 => next_link = map.next_value::<Option<String>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !seen_value {
            return Err(de::Error::custom(
                "expected an OData collection with a `value` array",
            ));
        }
        Ok(next_link)
    }
}

/// Looks at a member name without allocating it (escaped names arrive as a transient `&str`).
struct NameSeed<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for NameSeed<F> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for NameSeed<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

struct RowsSeed<'c, 'f, 'g> {
    columns: &'c [&'c str],
    on_row: &'g mut OnRow<'f>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a `value` array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        let mut cells: Vec<Option<Cell<'de>>> = Vec::with_capacity(self.columns.len());
        loop {
            cells.clear();
            cells.resize(self.columns.len(), None);
            let seed = RowSeed {
                columns: self.columns,
                index,
                cells: &mut cells,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            (self.on_row)(&cells).map_err(de::Error::custom)?;
            index += 1;
        }
    }
}

struct RowSeed<'c, 'r, 'de> {
    columns: &'c [&'c str],
    index: usize,
    cells: &'r mut Vec<Option<Cell<'de>>>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "row {} of `value` to be an object", self.index)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let columns = self.columns;
        while let Some(slot) =
            map.next_key_seed(NameSeed(|n: &str| columns.iter().position(|c| *c == n)))?
        {
            match slot {
                Some(i) => self.cells[i] = Some(map.next_value::<CellOf<'de>>()?.0),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct CellOf<'de>(Cell<'de>);

impl<'de> de::Deserialize<'de> for CellOf<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CellVisitor).map(CellOf)
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cell<'de>, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell<'de>, E> {
        Ok(Number::from_f64(v).map_or(Cell::Nested, Cell::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
        Ok(Cell::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
        Ok(Cell::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
        Ok(Cell::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Nested)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Nested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(body: &[u8], columns: &[&str]) -> Result<(Vec<String>, Option<String>), String> {
        let mut seen = Vec::new();
        let link = parse(body, columns, &mut |cells| {
            seen.push(format!("{cells:?}"));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok((seen, link))
    }

    #[test]
    fn keeps_only_named_columns_in_order() {
        let body = br#"{"@odata.context":"x","value":[
            {"@odata.etag":"W/\"1\"","B":2,"A":"a\"1","C":{"deep":[1,2]}},
            {"A":null,"B":[1]},
            {}
        ],"@odata.nextLink":"https://h/next"}"#;
        let (seen, link) = rows(body, &["A", "B"]).unwrap();
        assert_eq!(
            seen,
            [
                r#"[Some(Str("a\"1")), Some(Number(Number(2)))]"#,
                "[Some(Null), Some(Nested)]",
                "[None, None]",
            ]
        );
        assert_eq!(link.as_deref(), Some("https://h/next"));
    }

    #[test]
    fn plain_strings_are_borrowed_and_escaped_names_match() {
        let mut borrowed = None;
        parse(br#"{"value":[{"\u0041":"x"}]}"#, &["A"], &mut |cells| {
            borrowed = Some(matches!(cells[0], Some(Cell::Str(Cow::Borrowed("x")))));
            Ok(())
        })
        .unwrap();
        assert_eq!(borrowed, Some(true));
    }

    #[test]
    fn shapes_that_are_not_collections_are_errors() {
        for (body, says) in [
            (&br#"{"values":[]}"#[..], "`value` array"),
            (br#"{"value":[1]}"#, "row 0 of `value` to be an object"),
            (br#"{"value":[{},"x"]}"#, "row 1 of `value`"),
            (br#"{"value":{}}"#, "`value` array of rows"),
            (br#"{"value":[],"@odata.nextLink":5}"#, "string"),
            (br#"[]"#, "collection object"),
            (br#"{"value":[]} trailing"#, "trailing"),
            (br#"{"value":[{"A":"#, "EOF"),
            (b"{\"value\":[{\"A\":\"\xff\"}]}", "not UTF-8 (at byte 16)"),
        ] {
            let e = rows(body, &["A"]).unwrap_err();
            assert!(e.contains(says), "{e} should say {says}");
        }
    }

    #[test]
    fn a_row_the_caller_rejects_stops_the_parse() {
        let e = parse(
            br#"{"value":[{"A":1},{"A":2}]}"#,
            &["A"],
            &mut |cells| match cells[0] {
                Some(Cell::Number(ref n)) if n.as_u64() == Some(2) => Err("row 1 is bad".into()),
                _ => Ok(()),
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("row 1 is bad"), "{e}");
    }
}
