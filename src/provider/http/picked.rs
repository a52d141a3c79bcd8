//! Collection pages parsed for the plan: only the named columns of each row are kept, everything
//! else is skipped by the parser without being built. A 10,000-row page of key tables then
//! costs one small vector per row instead of a map with a string per column.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The values of the named columns, in the order they were named; `None` when a row lacks one.
pub type PickedRow = Vec<Option<Value>>;

#[derive(Debug, Default, PartialEq)]
pub struct PickedPage {
    pub rows: Vec<PickedRow>,
    pub next_link: Option<String>,
}

/// Parses `{"value":[…], "@odata.nextLink": "…"}` keeping `columns` of each row.
pub fn parse(body: &[u8], columns: &[&str]) -> Result<PickedPage, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let page = PageSeed { columns }.deserialize(&mut de)?;
    de.end()?;
    Ok(page)
}

struct PageSeed<'c> {
    columns: &'c [&'c str],
}

/// What a member name of the page object means to us.
enum Member {
    Value,
    NextLink,
    Other,
}

struct MemberSeed;

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Member, D::Error> {
        d.deserialize_str(NameVisitor(|name: &str| match name {
            "value" => Member::Value,
            "@odata.nextLink" => Member::NextLink,
            _ => Member::Other,
        }))
    }
}

/// Looks at a member name without allocating it (escaped names arrive as a transient `&str`).
struct NameVisitor<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for NameVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = PickedPage;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PickedPage, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = PickedPage;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OData collection object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PickedPage, A::Error> {
        let mut rows = None;
        let mut next_link = None;
        while let Some(member) = map.next_key_seed(MemberSeed)? {
            match member {
                Member::Value => {
                    rows = Some(map.next_value_seed(RowsSeed {
                        columns: self.columns,
                    })?)
                }
                Member::NextLink => next_link = map.next_value::<Option<String>>()?,
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let rows = rows.ok_or_else(|| {
            de::Error::custom("expected an OData collection with a `value` array")
        })?;
        Ok(PickedPage { rows, next_link })
    }
}

struct RowsSeed<'c> {
    columns: &'c [&'c str],
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<PickedRow>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<PickedRow>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a `value` array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(10_000));
        loop {
            let seed = RowSeed {
                columns: self.columns,
                index: rows.len(),
            };
            match seq.next_element_seed(seed)? {
                Some(row) => rows.push(row),
                None => return Ok(rows),
            }
        }
    }
}

struct RowSeed<'c> {
    columns: &'c [&'c str],
    index: usize,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = PickedRow;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PickedRow, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = PickedRow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "row {} of `value` to be an object", self.index)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PickedRow, A::Error> {
        let mut row = vec![None; self.columns.len()];
        let columns = self.columns;
        while let Some(slot) =
            map.next_key_seed(ColumnSeed(|n: &str| columns.iter().position(|c| *c == n)))?
        {
            match slot {
                Some(i) => row[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(row)
    }
}

struct ColumnSeed<F>(F);

impl<'de, F: FnOnce(&str) -> Option<usize>> DeserializeSeed<'de> for ColumnSeed<F> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(NameVisitor(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_named_columns_in_order() {
        let body = br#"{"@odata.context":"x","value":[
            {"@odata.etag":"W/\"1\"","B":2,"A":"a\"1","C":{"deep":[1,2]}},
            {"A":null},
            {}
        ],"@odata.nextLink":"https://h/next"}"#;
        let page = parse(body, &["A", "B"]).unwrap();
        assert_eq!(
            page.rows,
            vec![
                vec![Some(json!("a\"1")), Some(json!(2))],
                vec![Some(Value::Null), None],
                vec![None, None],
            ]
        );
        assert_eq!(page.next_link.as_deref(), Some("https://h/next"));
    }

    #[test]
    fn escaped_member_names_still_match() {
        let page = parse(br#"{"value":[{"\u0041":1}]}"#, &["A"]).unwrap();
        assert_eq!(page.rows, vec![vec![Some(json!(1))]]);
        assert_eq!(page.next_link, None);
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
        ] {
            let e = parse(body, &["A"]).unwrap_err().to_string();
            assert!(e.contains(says), "{e} should say {says}");
        }
    }
}
