//! Query options (`$select`, `$filter`, `$top`, `$count`, `$skiptoken`), key predicates and
//! paged collection replies with `@odata.nextLink`.

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::error::{bad_request, Reply, JSON};
use super::filter::{self, Expr};
use crate::emulator::table::{Cursor, Row};

#[derive(Debug, Default)]
pub struct Query {
    pub select: Option<Vec<String>>,
    pub filter: Option<Expr>,
    pub top: Option<usize>,
    pub count: bool,
    pub skiptoken: Option<String>,
    /// Options carried into the nextLink unchanged (`$filter`, `$select`, `cross-company`, …).
    pub carried: Vec<(String, String)>,
}

impl Query {
    /// The columns this query reads: the `$select` and the `$filter`'s properties; `None` when
    /// it returns whole rows.
    pub fn needed_columns(&self) -> Option<Vec<String>> {
        let mut cols = self.select.clone()?;
        if let Some(f) = &self.filter {
            cols.extend(f.properties().into_iter().map(str::to_string));
        }
        Some(cols)
    }
}

pub fn parse_query(qs: Option<&str>) -> Result<Query, Reply> {
    let mut q = Query::default();
    for (k, v) in url::form_urlencoded::parse(qs.unwrap_or("").as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        match k.as_str() {
            "$select" => {
                let cols: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if cols.is_empty() {
                    return Err(bad_request("$select names no property"));
                }
                q.select = Some(cols);
            }
            "$filter" => {
                let e = filter::parse(&v)
                    .map_err(|m| bad_request(format!("invalid $filter `{v}`: {m}")))?;
                q.filter = Some(e);
            }
            "$top" => {
                let n = v.parse::<usize>().map_err(|_| {
                    bad_request(format!("$top must be a non-negative integer, got `{v}`"))
                })?;
                q.top = Some(n);
                continue;
            }
            "$count" => {
                q.count = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(bad_request(format!(
                            "$count must be true or false, got `{v}`"
                        )))
                    }
                };
            }
            "$skiptoken" => {
                q.skiptoken = Some(v);
                continue;
            }
            "$orderby" | "$expand" | "$skip" | "$apply" | "$search" => {
                return Err(Reply::error(
                    axum::http::StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    format!("the emulator does not support {k}"),
                ))
            }
            _ => {}
        }
        q.carried.push((k, v));
    }
    Ok(q)
}

/// Reject properties the entity set does not have, as the services do.
pub fn check_columns(q: &Query, columns: &[&str]) -> Result<(), Reply> {
    let known = |p: &str| columns.iter().any(|c| c.eq_ignore_ascii_case(p));
    if let Some(sel) = &q.select {
        if let Some(bad) = sel.iter().find(|s| !known(s)) {
            return Err(bad_request(format!(
                "Could not find a property named '{bad}' on this entity set"
            )));
        }
    }
    if let Some(f) = &q.filter {
        if let Some(bad) = f.properties().into_iter().find(|p| !known(p)) {
            return Err(bad_request(format!(
                "Could not find a property named '{bad}' in $filter"
            )));
        }
    }
    Ok(())
}

/// `Prefer` header values: `(maxpagesize, return=representation)`.
pub fn prefer(header: Option<&str>) -> (Option<usize>, bool) {
    let mut page = None;
    let mut repr = false;
    for p in header.unwrap_or("").split(',').map(str::trim) {
        if let Some(n) = p.strip_prefix("odata.maxpagesize=") {
            page = n.trim().parse().ok().filter(|&n: &usize| n > 0);
        } else if p == "return=representation" {
            repr = true;
        }
    }
    (page, repr)
}

/// The values of `('v')`, `(guid)`, `(42)` or `(K1='a',K2='b')`, in order, with their names.
pub fn parse_key(inner: &str) -> Result<Vec<(Option<String>, String)>, String> {
    let mut out = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let mut name = None;
        if let Some(eq) = find_unquoted(&inner[i..], '=') {
            let candidate = inner[i..i + eq].trim();
            if !candidate.is_empty()
                && candidate
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                name = Some(candidate.to_string());
                i += eq + 1;
            }
        }
        let rest = &inner[i..];
        let (value, used) = if rest.trim_start().starts_with('\'') {
            let lead = rest.len() - rest.trim_start().len();
            let mut s = String::new();
            let mut j = lead + 1;
            loop {
                let Some(q) = rest.get(j..).and_then(|r| r.find('\'')) else {
                    return Err("unterminated string in key".into());
                };
                s.push_str(&rest[j..j + q]);
                j += q + 1;
                if rest.as_bytes().get(j) == Some(&b'\'') {
                    s.push('\'');
                    j += 1;
                } else {
                    break;
                }
            }
            (s, j)
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let v = rest[..end].trim();
            if v.is_empty() {
                return Err("empty key value".into());
            }
            (v.to_string(), end)
        };
        out.push((name, value));
        i += used;
        let tail = &inner[i..];
        let trimmed = tail.trim_start();
        i += tail.len() - trimmed.len();
        if i < b.len() {
            if b[i] != b',' {
                return Err(format!("unexpected `{}` in key", &inner[i..]));
            }
            i += 1;
        }
    }
    if out.is_empty() {
        return Err("empty key".into());
    }
    Ok(out)
}

fn find_unquoted(s: &str, ch: char) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ',' if !quoted => return None,
            c if c == ch && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Order the key's values as `columns`; unnamed only for single keys.
pub fn key_values(
    parsed: Vec<(Option<String>, String)>,
    columns: &[&str],
) -> Result<Vec<String>, String> {
    if parsed.len() == 1 && parsed[0].0.is_none() && columns.len() == 1 {
        return Ok(vec![parsed[0].1.clone()]);
    }
    let mut out = Vec::new();
    for col in columns {
        let v = parsed
            .iter()
            .find(|(n, _)| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(col)))
            .ok_or_else(|| format!("the key needs `{col}`"))?;
        out.push(v.1.clone());
    }
    if parsed.len() != columns.len() {
        return Err(format!(
            "the key has {} parts, expected {}",
            parsed.len(),
            columns.len()
        ));
    }
    Ok(out)
}

pub fn encode_cursor(c: &Cursor) -> String {
    match c {
        Cursor::Gen(i) => format!("g{i}"),
        Cursor::Key(k) => format!(
            "k{}",
            k.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

pub fn decode_cursor(s: &str) -> Option<Cursor> {
    if let Some(n) = s.strip_prefix('g') {
        return n.parse().ok().map(Cursor::Gen);
    }
    let hex = s.strip_prefix('k')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok().map(Cursor::Key)
}

/// A row as an entity: `$select` applied, `@odata.etag` added.
pub fn entity(row: &Row, select: Option<&[String]>) -> Value {
    serde_json::to_value(Entity { row, select }).unwrap_or_default()
}

/// A row serialized as an entity straight from the stored fields: a page of 10,000 rows is
/// written without building a second map per row.
struct Entity<'a> {
    row: &'a Row,
    select: Option<&'a [String]>,
}

impl Serialize for Entity<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("@odata.etag", &etag(self.row.etag))?;
        match self.select {
            Some(cols) => {
                for c in cols {
                    if let Some((k, v)) = self
                        .row
                        .fields
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(c))
                    {
                        m.serialize_entry(k, v)?;
                    }
                }
            }
            None => {
                for (k, v) in &self.row.fields {
                    m.serialize_entry(k, v)?;
                }
            }
        }
        m.end()
    }
}

/// A collection page in the services' member order: context, count, value, then nextLink.
struct PageBody<'a> {
    context: &'a str,
    count: Option<usize>,
    rows: &'a [Cow<'a, Row>],
    select: Option<&'a [String]>,
    next_link: Option<String>,
}

impl Serialize for PageBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Values<'b>(&'b [Cow<'b, Row>], Option<&'b [String]>);
        impl Serialize for Values<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|row| Entity {
                    row,
                    select: self.1,
                }))
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("@odata.context", self.context)?;
        if let Some(n) = self.count {
            m.serialize_entry("@odata.count", &n)?;
        }
        m.serialize_entry("value", &Values(self.rows, self.select))?;
        if let Some(link) = &self.next_link {
            m.serialize_entry("@odata.nextLink", link)?;
        }
        m.end()
    }
}

pub fn etag(n: u64) -> String {
    format!("W/\"{n}\"")
}

pub struct PageRequest<'a> {
    /// Absolute URL of the collection, for `@odata.nextLink`.
    pub self_url: &'a str,
    pub context: &'a str,
    pub prefer: Option<&'a str>,
    pub max_page: usize,
    pub default_page: usize,
}

type Rows<'a> = Box<dyn Iterator<Item = (Cursor, Cow<'a, Row>)> + 'a>;

/// One page of a collection. `rows(after)` lists the rows after a cursor.
pub fn page<'a>(
    q: &Query,
    req: &PageRequest<'_>,
    rows: &dyn Fn(Option<&Cursor>) -> Rows<'a>,
) -> Reply {
    let after = match &q.skiptoken {
        Some(t) => match decode_cursor(t) {
            Some(c) => Some(c),
            None => return bad_request(format!("invalid $skiptoken `{t}`")),
        },
        None => None,
    };
    let (asked, _) = prefer(req.prefer);
    let size = asked.unwrap_or(req.default_page).min(req.max_page);
    let limit = q.top.map_or(size, |t| t.min(size));
    let matches = |r: &Row| q.filter.as_ref().is_none_or(|f| f.eval(&r.fields));
    let mut rows_out = Vec::new();
    let mut last = None;
    let mut more = false;
    for (c, r) in rows(after.as_ref()).filter(|(_, r)| matches(r)) {
        if rows_out.len() == limit {
            more = true;
            break;
        }
        rows_out.push(r);
        last = Some(c);
    }
    let remaining_top = q.top.map(|t| t - rows_out.len());
    if remaining_top == Some(0) {
        more = false;
    }
    let count = q
        .count
        .then(|| rows(None).filter(|(_, r)| matches(r)).count());
    let next_link = match (more, last) {
        (true, Some(last)) => {
            let mut link = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &q.carried {
                link.append_pair(k, v);
            }
            if let Some(t) = remaining_top {
                link.append_pair("$top", &t.to_string());
            }
            link.append_pair("$skiptoken", &encode_cursor(&last));
            Some(format!("{}?{}", req.self_url, link.finish()))
        }
        _ => None,
    };
    let body = PageBody {
        context: req.context,
        count,
        rows: &rows_out,
        select: q.select.as_deref(),
        next_link,
    };
    let bytes = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => {
            return Reply::error(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal",
                format!("the page could not be written: {e}"),
            )
        }
    };
    let mut reply = Reply::raw(axum::http::StatusCode::OK, JSON, bytes);
    if let Some(n) = asked {
        reply = reply.header(
            "Preference-Applied",
            format!("odata.maxpagesize={}", n.min(req.max_page)),
        );
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_forms() {
        assert_eq!(parse_key("'a''b'"), Ok(vec![(None, "a'b".to_string())]));
        assert_eq!(
            parse_key("ProjectName='x,y',InternalFieldName='f'"),
            Ok(vec![
                (Some("ProjectName".into()), "x,y".into()),
                (Some("InternalFieldName".into()), "f".into())
            ])
        );
        assert_eq!(
            parse_key("4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10"),
            Ok(vec![(None, "4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10".into())])
        );
        assert!(parse_key("").is_err());
        assert!(parse_key("'x").is_err());
        assert!(parse_key("'x' junk").is_err());
    }

    #[test]
    fn cursors_round_trip() {
        for c in [Cursor::Gen(42), Cursor::Key("a\u{1f}b é".into())] {
            assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        }
        assert_eq!(decode_cursor("kzz"), None);
    }
}
