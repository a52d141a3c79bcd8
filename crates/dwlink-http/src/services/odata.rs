//! OData collections: query strings, key predicates, and `@odata.nextLink` paging with loop and
//! host checks.

use std::collections::HashSet;

use serde_json::{Map, Value};
use url::Url;

use crate::services::picked::{self, Cell, OnRow};
use crate::signin::session::Session;
use crate::transport::reply::Reply;
use crate::transport::request::ApiRequest;
use crate::transport::task::Task;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::secret::redact_url;

pub type Row = Map<String, Value>;

#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// Sent as `Prefer: odata.maxpagesize`; the service may choose less.
    pub page_size: u32,
    /// More pages than this is a nextLink loop the same-link check did not catch.
    pub max_pages: usize,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            page_size: 5000,
            max_pages: 2000,
        }
    }
}

/// Percent-encodes everything but the characters OData queries and keys use literally; spaces
/// become `%20` (not `+`, which some OData servers keep as a plus).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$'(),:@*!".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base` + `path` with an OData query (`$select`, `$filter`, …) in order.
pub fn url_with_query(
    base: &Url,
    path: &str,
    query: &[(&str, String)],
) -> Result<Url, ProviderError> {
    let mut url = crate::transport::client::join(base, path)?;
    if query.is_empty() {
        url.set_query(None);
    } else {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        url.set_query(Some(&q.join("&")));
    }
    Ok(url)
}

/// An OData string literal: single quotes doubled.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A key predicate from a row: `('a')`, `(guid)` or `(K1='a',K2='b')`. `None` when a key column
/// is missing or not a scalar.
pub fn key_predicate(row: &Row, keys: &[&str], guid: bool) -> Option<String> {
    let cells: Vec<Option<Cell>> = keys.iter().map(|k| row.get(*k).map(Cell::of)).collect();
    predicate(keys, &cells, guid)
}

/// The same from a picked row (`cells[i]` is key column `i`), written into one string: this
/// runs once per row of every key table.
pub fn predicate(keys: &[&str], cells: &[Option<Cell<'_>>], guid: bool) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 + keys.len() * 40);
    out.push('(');
    for (i, k) in keys.iter().enumerate() {
        if keys.len() > 1 {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
        }
        match cells.get(i)?.as_ref()? {
            Cell::Str(s) if guid => {
                let g = uuid::Uuid::try_parse(s).ok()?;
                let _ = write!(out, "{}", g.hyphenated());
            }
            Cell::Str(s) => {
                out.push('\'');
                if s.as_bytes().contains(&b'\'') {
                    for part in s.split_inclusive('\'') {
                        out.push_str(part);
                        if part.ends_with('\'') {
                            out.push('\'');
                        }
                    }
                } else {
                    out.push_str(s);
                }
                out.push('\'');
            }
            Cell::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Cell::Null | Cell::Nested => return None,
        }
    }
    out.push(')');
    Some(out)
}

/// `Set` + `(key)`, ready to join onto the service base.
pub fn entity_path(entity_set: &str, predicate: &str) -> String {
    format!("{}{}", encode(entity_set), encode(predicate))
}

/// A collection read one page at a time (nextLinks are inherently sequential): callers that
/// stream rows (backups) hold a page and the next one in flight, never the whole table. While a
/// page is parsed the next one is already on its way: the link is guessed from the end of the
/// body, where the services write it, and the guess is only used if the parsed page names the
/// same link.
pub struct Pages<'s> {
    session: &'s Session,
    api: Api,
    paging: Paging,
    next: Option<Url>,
    ahead: Option<Ahead>,
    seen: HashSet<String>,
    pages: usize,
    /// Ask for no control information but the nextLink (`odata.metadata=none`).
    bare: bool,
}

/// A page requested before the one naming it was parsed; dropped unused, it is cancelled.
struct Ahead {
    url: Url,
    task: Task<Reply>,
}

impl<'s> Pages<'s> {
    pub fn new(session: &'s Session, api: Api, first: Url, paging: Paging) -> Self {
        Pages {
            session,
            api,
            paging,
            next: Some(first),
            ahead: None,
            seen: HashSet::new(),
            pages: 0,
            bare: false,
        }
    }

    /// Pages without `@odata.context` and per-row `@odata.etag` (OData's "no metadata" level,
    /// which keeps `@odata.nextLink`): a quarter of a key-table page's bytes that a reader of a
    /// few columns does not need. Backups keep the services' full replies.
    pub fn without_metadata(mut self) -> Self {
        self.bare = true;
        self
    }

    /// The next page's rows; `None` once the last page was returned.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Row>>, ProviderError> {
        self.next_with(|reply| {
            let body = reply.json_value()?;
            split_page(body).map_err(|d| reply.bad(d))
        })
        .await
    }

    /// The next page, each row's `columns` handed to `on_row` as it is parsed; `false` once
    /// the last page was read. For readers that need a few columns of many rows.
    pub async fn next_picked(
        &mut self,
        columns: &[&str],
        on_row: &mut OnRow<'_>,
    ) -> Result<bool, ProviderError> {
        let read = self
            .next_with(|reply| {
                let link = reply.parse_json(|body| picked::parse(body, columns, on_row))?;
                Ok(((), link))
            })
            .await?;
        Ok(read.is_some())
    }

    async fn next_with<T>(
        &mut self,
        parse: impl FnOnce(&Reply) -> Result<(T, Option<String>), ProviderError>,
    ) -> Result<Option<T>, ProviderError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let reply = match self.ahead.take() {
            Some(Ahead { url: ahead, task }) if ahead == url => {
                task.join(self.api, || redact_url(&url)).await?
            }
            ahead => {
                drop(ahead);
                self.admit(&url)?;
                self.session.send(&self.request(url.clone())).await?
            }
        };
        if self.fetch_ahead(&url, &reply) {
            // A task spawned here waits in this worker's own slot, which the other workers do
            // not steal from, until this task yields: let the request leave before the parse
            // below holds the thread for milliseconds.
            tokio::task::yield_now().await;
        }
        let (rows, link) = parse(&reply)?;
        let next = match link {
            Some(link) => Some(
                self.session
                    .client
                    .route()
                    .next_link(&url, &link)
                    .map_err(|d| reply.bad(d))?,
            ),
            None => None,
        };
        if let Some(ahead) = self.ahead.take_if(|a| Some(&a.url) != next.as_ref()) {
            // A wrong guess must not count as a page seen.
            self.pages -= 1;
            self.seen.remove(ahead.url.as_str());
        }
        self.next = next;
        Ok(Some(rows))
    }

    fn request(&self, url: Url) -> ApiRequest {
        let req = ApiRequest::get(self.api, url).odata().header(
            "Prefer",
            format!("odata.maxpagesize={}", self.paging.page_size),
        );
        if self.bare {
            req.header("Accept", "application/json;odata.metadata=none")
        } else {
            req
        }
    }

    /// Counts a page about to be requested; refuses nextLink chains that loop or never end.
    fn admit(&mut self, url: &Url) -> Result<(), ProviderError> {
        if self.pages >= self.paging.max_pages {
            return Err(ProviderError::bad_reply(
                self.api,
                redact_url(url),
                format!(
                    "more than {} pages: the @odata.nextLink chain does not end",
                    self.paging.max_pages
                ),
            ));
        }
        if self.seen.contains(url.as_str()) {
            return Err(ProviderError::bad_reply(
                self.api,
                redact_url(url),
                "@odata.nextLink repeats an earlier page: the paging loops",
            ));
        }
        self.pages += 1;
        self.seen.insert(url.to_string());
        Ok(())
    }

    /// Requests the page `reply` seems to link to, as its own task, so it travels while this
    /// one is parsed. Anything odd about the guess just means no head start.
    fn fetch_ahead(&mut self, url: &Url, reply: &Reply) -> bool {
        let Some(link) = trailing_next_link(&reply.body) else {
            return false;
        };
        let Ok(next) = self.session.client.route().next_link(url, &link) else {
            return false;
        };
        if self.admit(&next).is_err() {
            return false;
        }
        let session = self.session.clone();
        let req = self.request(next.clone());
        let task = Task::spawn(async move { session.send(&req).await });
        self.ahead = Some(Ahead { url: next, task });
        true
    }
}

/// `@odata.nextLink` when it is the body's last member, found without parsing the page.
fn trailing_next_link(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"@odata.nextLink\"";
    // Links carry skip tokens of a few hundred bytes; a longer tail is not worth scanning.
    let tail = &body[body.len().saturating_sub(16 * 1024)..];
    let at = tail.windows(KEY.len()).rposition(|w| w == KEY)?;
    let rest = tail[at + KEY.len()..]
        .trim_ascii_start()
        .strip_prefix(b":")?;
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<String>();
    let link = values.next()?.ok()?;
    (rest[values.byte_offset()..].trim_ascii() == b"}").then_some(link)
}

/// Reads `columns` of every row of a collection, page after page, into `on_row`.
pub async fn for_each_picked_row(
    session: &Session,
    api: Api,
    first: Url,
    paging: Paging,
    columns: &[&str],
    on_row: &mut OnRow<'_>,
) -> Result<(), ProviderError> {
    let mut pages = Pages::new(session, api, first, paging).without_metadata();
    while pages.next_picked(columns, on_row).await? {}
    Ok(())
}

/// Reads a whole collection, page after page, and hands each page to `on_page`.
pub async fn for_each_page(
    session: &Session,
    api: Api,
    first: Url,
    paging: Paging,
    mut on_page: impl FnMut(Vec<Row>) -> Result<(), ProviderError>,
) -> Result<(), ProviderError> {
    let mut pages = Pages::new(session, api, first, paging);
    while let Some(rows) = pages.next_page().await? {
        on_page(rows)?;
    }
    Ok(())
}

pub async fn read_all(
    session: &Session,
    api: Api,
    first: Url,
    paging: Paging,
) -> Result<Vec<Row>, ProviderError> {
    let mut all = Vec::new();
    for_each_page(session, api, first, paging, |rows| {
        all.extend(rows);
        Ok(())
    })
    .await?;
    Ok(all)
}

/// `{"value":[{…}…], "@odata.nextLink": "…"}` → rows and the next link.
pub fn split_page(body: Value) -> Result<(Vec<Row>, Option<String>), String> {
    let Value::Object(mut obj) = body else {
        return Err("expected an OData collection object".into());
    };
    let link = match obj.remove("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err("@odata.nextLink is not a string".into()),
    };
    let Some(Value::Array(values)) = obj.remove("value") else {
        return Err("expected an OData collection with a `value` array".into());
    };
    let rows = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(row) => Ok(row),
            other => Err(format!(
                "row {i} of `value` is not an object but {}",
                kind(&other)
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, link))
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string column of a row, or a bad-reply detail naming it.
pub fn str_field<'a>(row: &'a Row, column: &str) -> Result<&'a str, String> {
    match row.get(column) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "column `{column}` is {}, expected a string",
            kind(other)
        )),
        None => Err(format!("column `{column}` is missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guesses_the_next_link_only_from_a_trailing_member() {
        let guess = |b: &str| trailing_next_link(b.as_bytes());
        assert_eq!(
            guess(r#"{"value":[{"a":1}],"@odata.nextLink":"https://h/x?$skiptoken=\u0041"}"#),
            Some("https://h/x?$skiptoken=A".into())
        );
        assert_eq!(
            guess("{\"value\":[] , \"@odata.nextLink\" : \"l\" }\n"),
            Some("l".into())
        );
        // Before `value`, inside a row, cut short, not a string: no guess.
        assert_eq!(guess(r#"{"@odata.nextLink":"l","value":[]}"#), None);
        assert_eq!(guess(r#"{"value":[{"@odata.nextLink":"l"}]}"#), None);
        assert_eq!(guess(r#"{"value":[],"@odata.nextLink":"l"#), None);
        assert_eq!(guess(r#"{"value":[],"@odata.nextLink":7}"#), None);
        assert_eq!(guess(""), None);
    }

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn key_predicates() {
        let r = row(
            json!({"ProjectName":"O'Neil map","InternalFieldName":"A","n":3,
                           "id":"4F2A4C1E-8A7E-4A43-9A60-5A3C2C1D9B10"}),
        );
        assert_eq!(
            key_predicate(&r, &["ProjectName"], false).unwrap(),
            "('O''Neil map')"
        );
        assert_eq!(
            key_predicate(&r, &["ProjectName", "InternalFieldName"], false).unwrap(),
            "(ProjectName='O''Neil map',InternalFieldName='A')"
        );
        assert_eq!(key_predicate(&r, &["n"], false).unwrap(), "(3)");
        assert_eq!(
            key_predicate(&r, &["id"], true).unwrap(),
            "(4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10)"
        );
        assert_eq!(key_predicate(&r, &["missing"], false), None);
    }

    #[test]
    fn query_encoding_keeps_odata_readable() {
        let base = Url::parse("https://env.example/data/").unwrap();
        let u = url_with_query(
            &base,
            "BusinessEventsDefinitions",
            &[
                ("cross-company", "true".into()),
                ("$filter", "IsDualWrite eq true".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://env.example/data/BusinessEventsDefinitions?cross-company=true&$filter=IsDualWrite%20eq%20true"
        );
        assert_eq!(entity_path("Set", "('a b#/')"), "Set('a%20b%23%2F')");
    }

    #[test]
    fn pages_are_checked() {
        let (rows, link) = split_page(json!({"value":[{"a":1}],"@odata.nextLink":"x"})).unwrap();
        assert_eq!((rows.len(), link.as_deref()), (1, Some("x")));
        assert!(split_page(json!({"value":[1]}))
            .unwrap_err()
            .contains("not an object"));
        assert!(split_page(json!({"values":[]})).is_err());
        assert!(split_page(json!([])).is_err());
        assert!(split_page(json!({"value":[],"@odata.nextLink":5})).is_err());
    }
}
