//! OData v4 over the store: the request shape shared by HTTP handlers and `$batch`, and CRUD on
//! one key table (F&O and Dataverse sets differ only in name, key and page limit).

pub(crate) mod batch;
pub(crate) mod error;
pub(crate) mod filter;
pub(crate) mod query;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value};

use super::generate;
use super::table::Table;
use error::{bad_request, not_found, Reply};
use query::{check_columns, entity, etag, parse_key, parse_query, PageRequest};

/// Page size when the client states none (both services).
pub(crate) const DEFAULT_PAGE: usize = 5_000;

/// One request as the sync handlers see it, from HTTP or from a `$batch` part.
pub(crate) struct Req<'a> {
    pub method: Method,
    /// Path after the service root, e.g. `DualWriteProjectConfigurations('x')`.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// Absolute URL of the service root, from the request's Host and the served scheme.
    pub root: &'a str,
}

impl Req<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn is_read(&self) -> bool {
        self.method == Method::GET || self.method == Method::HEAD
    }

    /// The body as a JSON object, with 415/400 for the wrong content type or bad JSON.
    pub(crate) fn json_object(&self) -> Result<Map<String, Value>, Reply> {
        let ct = self.header("content-type").unwrap_or("");
        if !ct.to_ascii_lowercase().starts_with("application/json") {
            return Err(Reply::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!("expected Content-Type application/json, got `{ct}`"),
            ));
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(bad_request("the body must be a JSON object")),
            Err(e) => Err(bad_request(format!("the body is not valid JSON: {e}"))),
        }
    }
}

/// `%XX` escapes of a URL path decoded (lossy on invalid UTF-8, never failing).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Set`, `Set(key)` → name and the text between the parentheses.
pub(crate) fn split_segment(path: &str) -> Result<(&str, Option<&str>), Reply> {
    let path = path.trim_end_matches('/');
    match path.find('(') {
        None => Ok((path, None)),
        Some(open) => {
            if !path.ends_with(')') {
                return Err(bad_request(format!("malformed key in `{path}`")));
            }
            Ok((&path[..open], Some(&path[open + 1..path.len() - 1])))
        }
    }
}

fn table_key(table: &Table, inner: &str) -> Result<String, Reply> {
    let parsed =
        parse_key(inner).map_err(|m| bad_request(format!("invalid key ({inner}): {m}")))?;
    let values = query::key_values(parsed, table.kind.key_columns())
        .map_err(|m| bad_request(format!("invalid key ({inner}): {m}")))?;
    Ok(table.canonical(&values))
}

fn key_literal(table: &Table, fields: &Map<String, Value>) -> String {
    let cols = table.kind.key_columns();
    let lit = |c: &str| {
        let v = fields.get(c).and_then(Value::as_str).unwrap_or_default();
        if table.kind.guid_key() {
            v.to_string()
        } else {
            format!("'{}'", v.replace('\'', "''"))
        }
    };
    if cols.len() == 1 {
        lit(cols[0])
    } else {
        cols.iter()
            .map(|c| format!("{c}={}", lit(c)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// GET on a key table: the collection or one entity.
pub(crate) fn read_table(table: &Table, req: &Req, key: Option<&str>, max_page: usize) -> Reply {
    let q = match parse_query(req.query) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Err(r) = check_columns(&q, generate::columns(table.kind)) {
        return r;
    }
    let set = table.kind.entity_set();
    match key {
        Some(inner) => {
            let k = match table_key(table, inner) {
                Ok(k) => k,
                Err(r) => return r,
            };
            match table.get(&k) {
                Some(row) => {
                    Reply::ok(entity(&row, q.select.as_deref())).header("ETag", etag(row.etag))
                }
                None => not_found(format!("no {set} row with key ({inner})")),
            }
        }
        None => {
            let self_url = format!("{}/{set}", req.root);
            let context = format!("{}/$metadata#{set}", req.root);
            let page = PageRequest {
                self_url: &self_url,
                context: &context,
                prefer: req.header("prefer"),
                accept: req.header("accept"),
                max_page,
                default_page: DEFAULT_PAGE,
            };
            query::page(&q, &page, &|after| table.iter_from(after))
        }
    }
}

/// POST/PATCH/DELETE on a key table. Returns the reply and whether the table changed.
pub(crate) fn write_table(table: &mut Table, req: &Req, key: Option<&str>) -> (Reply, bool) {
    match write_inner(table, req, key) {
        Ok(r) => (r, true),
        Err(r) => (r, false),
    }
}

fn check_if_match(req: &Req, current: u64) -> Result<(), Reply> {
    match req.header("if-match") {
        None => Ok(()),
        Some(v) if v.trim() == "*" => Ok(()),
        Some(v) if v.split(',').any(|t| t.trim() == etag(current)) => Ok(()),
        Some(v) => Err(Reply::error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            format!(
                "If-Match {v} does not match the current ETag {}",
                etag(current)
            ),
        )),
    }
}

fn write_inner(table: &mut Table, req: &Req, key: Option<&str>) -> Result<Reply, Reply> {
    let set = table.kind.entity_set();
    let cols = generate::columns(table.kind);
    let (_, want_repr) = query::prefer(req.header("prefer"));
    let unknown = |m: &Map<String, Value>| -> Result<(), Reply> {
        match m
            .keys()
            .find(|k| !k.starts_with('@') && !cols.contains(&k.as_str()))
        {
            Some(k) => Err(bad_request(format!("{set} has no property `{k}`"))),
            None => Ok(()),
        }
    };
    match (&req.method, key) {
        (&Method::POST, None) => {
            let mut fields = req.json_object()?;
            fields.retain(|k, _| !k.starts_with('@'));
            unknown(&fields)?;
            if table.kind.guid_key() && !fields.contains_key("msdyn_dualwriteruntimeconfigid") {
                fields.insert(
                    "msdyn_dualwriteruntimeconfigid".into(),
                    Value::String(uuid::Uuid::new_v4().to_string()),
                );
            }
            let k = table
                .key_of(&fields)
                .map_err(|c| bad_request(format!("{set}: the key property `{c}` is required")))?;
            let lit = key_literal(table, &fields);
            let row = table.insert(k, fields).map_err(|_| {
                Reply::error(
                    StatusCode::CONFLICT,
                    "Conflict",
                    format!("a {set} row with key ({lit}) exists"),
                )
            })?;
            let id = format!("{}/{set}({lit})", req.root);
            let tag = etag(row.etag);
            let reply = if want_repr {
                Reply::json(StatusCode::CREATED, entity(row, None))
            } else {
                Reply::empty(StatusCode::NO_CONTENT)
            };
            Ok(reply
                .header("OData-EntityId", id.clone())
                .header("Location", id)
                .header("ETag", tag))
        }
        (&Method::PATCH, Some(inner)) => {
            let k = table_key(table, inner)?;
            let mut patch = req.json_object()?;
            patch.retain(|k, _| !k.starts_with('@'));
            unknown(&patch)?;
            let current = table
                .get(&k)
                .ok_or_else(|| not_found(format!("no {set} row with key ({inner})")))?
                .into_owned();
            check_if_match(req, current.etag)?;
            for c in table.kind.key_columns() {
                if patch
                    .get(*c)
                    .is_some_and(|v| Some(v) != current.fields.get(*c))
                {
                    return Err(bad_request(format!("the key property `{c}` cannot change")));
                }
            }
            let row = table
                .update(&k, patch)
                .ok_or_else(|| not_found(format!("no {set} row with key ({inner})")))?;
            let tag = etag(row.etag);
            let reply = if want_repr {
                Reply::ok(entity(row, None))
            } else {
                Reply::empty(StatusCode::NO_CONTENT)
            };
            Ok(reply.header("ETag", tag))
        }
        (&Method::DELETE, Some(inner)) => {
            let k = table_key(table, inner)?;
            let current = table
                .etag_of(&k)
                .ok_or_else(|| not_found(format!("no {set} row with key ({inner})")))?;
            check_if_match(req, current)?;
            table.remove(&k);
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        (m, _) => Err(Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{m} is not allowed on {}", req.path),
        )),
    }
}
