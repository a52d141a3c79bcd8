//! `$batch`: multipart/mixed in, multipart/mixed out. Change sets are atomic: the world is
//! snapshotted before one and put back if any of its requests fails.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::error::{bad_request, Reply};
use super::Req;
use crate::server::{dispatch_read, dispatch_write, App, Service};

/// OData's limit on requests in one batch (Dataverse documents 1,000).
pub(crate) const MAX_REQUESTS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Part {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The `boundary` parameter of a multipart content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|p| p + from)
}

/// Split headers from body at the first blank line (CRLF or bare LF).
fn head_body(bytes: &[u8]) -> (&[u8], &[u8]) {
    match (find(bytes, b"\r\n\r\n", 0), find(bytes, b"\n\n", 0)) {
        (Some(a), Some(b)) if b < a => (&bytes[..b], &bytes[b + 2..]),
        (Some(a), _) => (&bytes[..a], &bytes[a + 4..]),
        (None, Some(b)) => (&bytes[..b], &bytes[b + 2..]),
        (None, None) => (bytes, &[]),
    }
}

fn header_lines(head: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The parts of a multipart body.
pub(crate) fn split(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut at = find(body, d, 0).ok_or("the body does not contain the multipart boundary")?;
    let mut parts = Vec::new();
    loop {
        let after = at + d.len();
        if body.get(after..after + 2) == Some(b"--") {
            return Ok(parts);
        }
        let start = match find(body, b"\n", after) {
            Some(nl) => nl + 1,
            None => return Err("a multipart delimiter is not followed by a line break".into()),
        };
        let next = find(body, d, start)
            .ok_or("the multipart body is not closed with its final boundary")?;
        let mut end = next;
        if end > start && body[end - 1] == b'\n' {
            end -= 1;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        let (head, content) = head_body(&body[start..end.max(start)]);
        parts.push(Part {
            headers: header_lines(head),
            body: content.to_vec(),
        });
        at = next;
    }
}

/// An `application/http` part as method, target, headers and body.
pub(crate) fn parse_http(part: &[u8]) -> Result<(Method, String, HeaderMap, Vec<u8>), String> {
    let (head, body) = head_body(part);
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim();
    let mut words = first.split_whitespace();
    let method = words.next().ok_or("an inner request has no request line")?;
    let target = words.next().ok_or("an inner request has no URL")?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let mut headers = HeaderMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            ) {
                headers.append(k, v);
            }
        }
    }
    Ok((method, target.to_string(), headers, body.to_vec()))
}

/// Path (relative to the service root's path `base_path`) and query of an inner request's URL.
fn relative(target: &str, base_path: &str) -> (String, Option<String>) {
    let path_and_query = match url::Url::parse(target) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        },
        Err(_) => target.to_string(),
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path_and_query, None),
    };
    let path = path
        .strip_prefix(base_path)
        .unwrap_or(&path)
        .trim_start_matches('/')
        .to_string();
    (super::percent_decode(&path), query)
}

fn status_line(s: StatusCode) -> String {
    format!(
        "HTTP/1.1 {} {}",
        s.as_u16(),
        s.canonical_reason().unwrap_or("")
    )
}

fn render_reply(r: &Reply, content_id: Option<&str>) -> Vec<u8> {
    let mut out =
        String::from("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!(
        "\r\n{}\r\nOData-Version: 4.0\r\n",
        status_line(r.status)
    ));
    if let Some(ct) = r.content_type() {
        out.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend(r.body_bytes());
    bytes
}

fn multipart(boundary: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend(format!("--{boundary}\r\n").as_bytes());
        out.extend(p);
        out.extend(b"\r\n");
    }
    out.extend(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// One inner request: Content-ID, method, URL, headers, body.
type Inner = (Option<String>, Method, String, HeaderMap, Vec<u8>);

/// Run a whole `$batch` under one write lock.
pub(crate) fn run(
    app: &App,
    service: Service,
    host: &str,
    root: &str,
    content_type: &str,
    body: &[u8],
) -> Reply {
    let Some(b) = boundary(content_type) else {
        return Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "$batch needs Content-Type multipart/mixed with a boundary, got `{content_type}`"
            ),
        );
    };
    let parts = match split(body, &b) {
        Ok(p) => p,
        Err(m) => return bad_request(format!("malformed $batch body: {m}")),
    };
    // Parse everything first: a malformed batch changes nothing.
    let mut items: Vec<Vec<Inner>> = Vec::new();
    let mut kinds = Vec::new();
    let mut total = 0;
    for p in &parts {
        let ct = p.header("content-type").unwrap_or("");
        let (is_set, inner) = match boundary(ct) {
            Some(cb) => match split(&p.body, &cb) {
                Ok(inner) => (true, inner),
                Err(m) => return bad_request(format!("malformed change set: {m}")),
            },
            None => (false, vec![p.clone()]),
        };
        let mut reqs = Vec::new();
        for ip in inner {
            match parse_http(&ip.body) {
                Ok((m, t, h, body)) => {
                    reqs.push((ip.header("content-id").map(str::to_string), m, t, h, body))
                }
                Err(e) => return bad_request(format!("malformed $batch part: {e}")),
            }
        }
        total += reqs.len();
        if total > MAX_REQUESTS {
            return bad_request(format!("a $batch holds at most {MAX_REQUESTS} requests"));
        }
        kinds.push(is_set);
        items.push(reqs);
    }
    // Parsed once, not per inner request: a batch holds up to 1,000.
    let base_path = url::Url::parse(root)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    let mut world = app.write_world();
    let mut dirty = false;
    let mut out_parts = Vec::new();
    for (is_set, reqs) in kinds.into_iter().zip(items) {
        let snapshot = is_set.then(|| world.clone());
        let mut replies = Vec::new();
        let mut failed = None;
        let mut set_dirty = false;
        for (cid, method, target, headers, body) in &reqs {
            let (path, query) = relative(target, &base_path);
            let req = Req {
                method: method.clone(),
                path: &path,
                query: query.as_deref(),
                headers,
                body,
                root,
            };
            let reply = if req.is_read() {
                dispatch_read(&world, service, host, &req)
            } else {
                let (r, changed) = dispatch_write(&mut world, service, host, &req);
                set_dirty |= changed;
                r
            };
            if is_set && !reply.is_success() {
                failed = Some((cid.clone(), reply));
                break;
            }
            replies.push((cid.clone(), reply));
        }
        match (failed, snapshot) {
            (Some((cid, reply)), Some(snap)) => {
                *world = snap;
                out_parts.push(render_reply(&reply, cid.as_deref()));
            }
            _ if is_set => {
                dirty |= set_dirty;
                let cb = format!("changesetresponse_{}", uuid::Uuid::new_v4());
                let inner: Vec<Vec<u8>> = replies
                    .iter()
                    .map(|(c, r)| render_reply(r, c.as_deref()))
                    .collect();
                let mut p =
                    format!("Content-Type: multipart/mixed; boundary={cb}\r\n\r\n").into_bytes();
                p.extend(multipart(&cb, &inner));
                out_parts.push(p);
            }
            _ => {
                dirty |= set_dirty;
                for (c, r) in &replies {
                    out_parts.push(render_reply(r, c.as_deref()));
                }
            }
        }
    }
    if dirty {
        if let Err(r) = app.commit(&world) {
            return r;
        }
    }
    let rb = format!("batchresponse_{}", uuid::Uuid::new_v4());
    Reply::raw(
        StatusCode::OK,
        &format!("multipart/mixed; boundary={rb}"),
        multipart(&rb, &out_parts),
    )
    .header("OData-Version", "4.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_nested_multipart() {
        let body = "--b1\r\nContent-Type: application/http\r\n\r\nGET Set HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--b1\r\nContent-Type: multipart/mixed; boundary=c1\r\n\r\n--c1\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nDELETE Set('a') HTTP/1.1\r\n\r\n\r\n--c1--\r\n\r\n--b1--\r\n";
        let parts = split(body.as_bytes(), "b1").unwrap_or_default();
        assert_eq!(parts.len(), 2);
        let (m, t, h, _) = parse_http(&parts[0].body).unwrap_or((
            Method::PUT,
            String::new(),
            HeaderMap::new(),
            vec![],
        ));
        assert_eq!((m, t.as_str()), (Method::GET, "Set"));
        assert_eq!(
            h.get("accept").and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let cb = boundary(parts[1].header("content-type").unwrap_or("")).unwrap_or_default();
        assert_eq!(cb, "c1");
        let inner = split(&parts[1].body, &cb).unwrap_or_default();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].header("content-id"), Some("1"));
    }

    #[test]
    fn rejects_malformed_multipart() {
        assert!(split(b"no boundary here", "b").is_err());
        assert!(split(b"--b\r\nContent-Type: x\r\n\r\nunterminated", "b").is_err());
        assert!(boundary("application/json").is_none());
        assert!(boundary("multipart/mixed").is_none());
        assert!(parse_http(b"").is_err());
        assert!(parse_http(b"G\xffT x HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn relative_paths() {
        let root = "/data";
        assert_eq!(
            relative("http://h:1/data/Set('a%20b')?$top=1", root),
            ("Set('a b')".into(), Some("$top=1".into()))
        );
        assert_eq!(relative("/data/Set", root), ("Set".into(), None));
        assert_eq!(relative("Set", root), ("Set".into(), None));
    }
}
