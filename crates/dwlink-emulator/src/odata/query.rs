//! Query options (`$select`, `$filter`, `$top`, `$count`, `$skiptoken`), key predicates and
//! paged collection replies with `@odata.nextLink`.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::error::{bad_request, Reply, JSON};
use super::filter::{self, Expr};
use crate::table::{Cursor, Row, RowRef};

#[derive(Debug, Default)]
pub(crate) struct Query {
    pub select: Option<Vec<String>>,
    pub filter: Option<Expr>,
    pub top: Option<usize>,
    pub count: bool,
    pub skiptoken: Option<String>,
    /// Options carried into the nextLink unchanged (`$filter`, `$select`, `cross-company`, …).
    pub carried: Vec<(String, String)>,
}

pub(crate) fn parse_query(qs: Option<&str>) -> Result<Query, Reply> {
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

/// Reject properties the entity set does not have, as the services do. OData identifiers are
/// case-sensitive (OData v4.01 Part 2 "URL Conventions"), so `ExternalEnvironmentURL` is not
/// `ExternalEnvironmentUrl`.
pub(crate) fn check_columns(q: &Query, columns: &[&str]) -> Result<(), Reply> {
    let known = |p: &str| columns.contains(&p);
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

/// Whether `Accept` asks for OData's "no metadata" level: no control information but
/// `@odata.nextLink` and `@odata.count`.
pub(crate) fn no_metadata(accept: Option<&str>) -> bool {
    accept.unwrap_or("").split([',', ';']).any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("odata.metadata") && v.trim().eq_ignore_ascii_case("none")
        })
    })
}

/// `Prefer` header values: `(maxpagesize, return=representation)`.
pub(crate) fn prefer(header: Option<&str>) -> (Option<usize>, bool) {
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
pub(crate) fn parse_key(inner: &str) -> Result<Vec<(Option<String>, String)>, String> {
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
pub(crate) fn key_values(
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

pub(crate) fn encode_cursor(c: &Cursor) -> String {
    match c {
        Cursor::Gen(i) => format!("g{i}"),
        Cursor::Key(k) => format!(
            "k{}",
            k.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

pub(crate) fn decode_cursor(s: &str) -> Option<Cursor> {
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
pub(crate) fn entity(row: &Row, select: Option<&[String]>) -> Value {
    let row = RowRef::Stored(row);
    serde_json::to_value(Entity {
        row: &row,
        select,
        etag: true,
    })
    .unwrap_or_default()
}

/// A row serialized as an entity straight from its columns.
struct Entity<'a> {
    row: &'a RowRef<'a>,
    select: Option<&'a [String]>,
    etag: bool,
}

impl Serialize for Entity<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if self.etag {
            m.serialize_entry("@odata.etag", &Etag(self.row.etag()))?;
        }
        self.row
            .for_each(self.select, |k, v| m.serialize_entry(k, &v))?;
        m.end()
    }
}

/// `W/"n"`; generated rows (all of them at version 1) share one literal.
struct Etag(u64);

impl Serialize for Etag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            1 => s.serialize_str("W/\"1\""),
            n => s.serialize_str(&etag(n)),
        }
    }
}

pub(crate) fn etag(n: u64) -> String {
    format!("W/\"{n}\"")
}

pub(crate) struct PageRequest<'a> {
    /// Absolute URL of the collection, for `@odata.nextLink`.
    pub self_url: &'a str,
    pub context: &'a str,
    pub prefer: Option<&'a str>,
    /// `Accept`, for the metadata level.
    pub accept: Option<&'a str>,
    pub max_page: usize,
    pub default_page: usize,
}

type Rows<'a> = Box<dyn Iterator<Item = (Cursor, RowRef<'a>)> + 'a>;

/// One page of a collection. `rows(after)` lists the rows after a cursor.
pub(crate) fn page<'a>(
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
    let bare = no_metadata(req.accept);
    let properties = q.filter.as_ref().map(Expr::properties).unwrap_or_default();
    let matches = |r: &RowRef| q.filter.as_ref().is_none_or(|f| r.matches(f, &properties));
    let count = q
        .count
        .then(|| rows(None).filter(|(_, r)| matches(r)).count());
    // Written as the rows come, in the services' member order (context, count, value,
    // nextLink): a page never holds its rows, only their JSON.
    let write = || -> Result<Vec<u8>, serde_json::Error> {
        // Key-table rows serialize to about 100 bytes; growing a 1 MB page by doubling would
        // copy it several times over.
        let mut out = Vec::with_capacity(4096 + limit.min(10_000) * 128);
        out.push(b'{');
        if !bare {
            out.extend_from_slice(b"\"@odata.context\":");
            serde_json::to_writer(&mut out, req.context)?;
            out.push(b',');
        }
        if let Some(n) = count {
            out.extend_from_slice(format!("\"@odata.count\":{n},").as_bytes());
        }
        out.extend_from_slice(b"\"value\":[");
        let mut written = 0;
        let mut last = None;
        let mut more = false;
        let select = q.select.as_deref();
        for (c, r) in rows(after.as_ref()).filter(|(_, r)| matches(r)) {
            if written == limit {
                more = true;
                break;
            }
            if written > 0 {
                out.push(b',');
            }
            let entity = Entity {
                row: &r,
                select,
                etag: !bare,
            };
            serde_json::to_writer(&mut out, &entity)?;
            written += 1;
            last = Some(c);
        }
        out.push(b']');
        let remaining_top = q.top.map(|t| t - written);
        if let (true, Some(last), false) = (more, last, remaining_top == Some(0)) {
            let mut link = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &q.carried {
                link.append_pair(k, v);
            }
            if let Some(t) = remaining_top {
                link.append_pair("$top", &t.to_string());
            }
            link.append_pair("$skiptoken", &encode_cursor(&last));
            out.extend_from_slice(b",\"@odata.nextLink\":");
            let next = format!("{}?{}", req.self_url, link.finish());
            serde_json::to_writer(&mut out, &next)?;
        }
        out.push(b'}');
        Ok(out)
    };
    let bytes = match write() {
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
    fn metadata_none_is_read_from_accept() {
        assert!(no_metadata(Some("application/json;odata.metadata=none")));
        assert!(no_metadata(Some("application/json; odata.metadata = NONE")));
        assert!(!no_metadata(Some(
            "application/json;odata.metadata=minimal"
        )));
        assert!(!no_metadata(Some("application/json")));
        assert!(!no_metadata(None));
    }

    #[test]
    fn cursors_round_trip() {
        for c in [Cursor::Gen(42), Cursor::Key("a\u{1f}b é".into())] {
            assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        }
        assert_eq!(decode_cursor("kzz"), None);
    }
}
