//! OData `$batch` as multipart/mixed: one change set per request body (atomic on the service),
//! and a parser for the multipart answer that tolerates `\n` line ends and quoted boundaries.

use reqwest::Method;

#[derive(Debug, Clone)]
pub(crate) struct BatchOp {
    pub method: Method,
    /// Absolute logical URL of the single request (a change set names up to 1,000: kept as
    /// text, see `write::change_set_url`).
    pub url: String,
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartReply {
    /// The `Content-ID` of the request this answers, from the MIME part's headers or the
    /// answer's own: which request of a change set failed.
    pub content_id: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BatchItem {
    ChangeSet(Vec<PartReply>),
    /// A single response: a GET's answer, or the error a failed change set collapsed to.
    Single(PartReply),
}

/// `(Content-Type header, body)` of a batch holding `ops` as one change set.
pub(crate) fn build_change_set(ops: &[BatchOp], id: uuid::Uuid) -> (String, Vec<u8>) {
    let batch = format!("batch_{id}");
    let changeset = format!("changeset_{id}");
    let mut s = String::new();
    s.push_str(&format!(
        "--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
    ));
    for (i, op) in ops.iter().enumerate() {
        s.push_str(&format!(
            "--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n",
            i + 1
        ));
        s.push_str(&format!("{} {} HTTP/1.1\r\n", op.method, op.url));
        s.push_str("Accept: application/json\r\n");
        if op.method == Method::DELETE || op.method == Method::PATCH {
            s.push_str("If-Match: *\r\n");
        }
        match &op.body {
            Some(body) => {
                let json = body.to_string();
                s.push_str("Content-Type: application/json; charset=utf-8\r\n\r\n");
                s.push_str(&json);
                s.push_str("\r\n");
            }
            None => s.push_str("\r\n"),
        }
    }
    s.push_str(&format!("--{changeset}--\r\n--{batch}--\r\n"));
    (format!("multipart/mixed; boundary={batch}"), s.into_bytes())
}

/// The `boundary` parameter of a multipart content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let mime = parts.next()?.trim().to_ascii_lowercase();
    if !mime.starts_with("multipart/") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary"))
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

fn split_parts<'a>(body: &'a str, boundary: &str) -> Result<Vec<&'a str>, String> {
    let delim = format!("--{boundary}");
    let close = format!("{delim}--");
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut pos = 0;
    let mut closed = false;
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        let is_close = bare == close;
        if bare == delim || is_close {
            if let Some(start) = current.take() {
                let part = &body[start..pos];
                parts.push(
                    part.strip_suffix("\r\n")
                        .or_else(|| part.strip_suffix('\n'))
                        .unwrap_or(part),
                );
            }
            if is_close {
                closed = true;
                break;
            }
            current = Some(pos + line.len());
        }
        pos += line.len();
    }
    if !closed {
        return Err(format!(
            "the multipart body ends before its closing boundary `{delim}--` (truncated?)"
        ));
    }
    Ok(parts)
}

fn split_head(part: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = part
        .split_once("\r\n\r\n")
        .or_else(|| part.split_once("\n\n"))
        .unwrap_or((part, ""));
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn http_reply(part_headers: &[(String, String)], text: &str) -> Result<PartReply, String> {
    let text = text.trim_start_matches(['\r', '\n']);
    let (status_line, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut words = status_line.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code
            .parse::<u16>()
            .map_err(|_| format!("bad status line `{}`", status_line.trim()))?,
        _ => return Err(format!("bad status line `{}`", status_line.trim())),
    };
    let (headers, body) = split_head(rest);
    let content_id = header(part_headers, "content-id")
        .or_else(|| header(&headers, "content-id"))
        .map(str::to_string);
    Ok(PartReply {
        content_id,
        status,
        headers,
        body: body.trim_end().to_string(),
    })
}

/// The items of a `$batch` answer, in order.
pub(crate) fn parse(content_type: &str, body: &[u8]) -> Result<Vec<BatchItem>, String> {
    let b = boundary(content_type)
        .ok_or_else(|| format!("expected multipart/mixed with a boundary, got `{content_type}`"))?;
    let text =
        std::str::from_utf8(body).map_err(|_| "the batch answer is not UTF-8".to_string())?;
    split_parts(text, &b)?
        .into_iter()
        .map(|part| {
            let (headers, inner) = split_head(part);
            let ct = header(&headers, "content-type").unwrap_or("");
            if let Some(cs) = boundary(ct) {
                let replies = split_parts(inner, &cs)?
                    .into_iter()
                    .map(|p| {
                        let (part_headers, inner) = split_head(p);
                        http_reply(&part_headers, inner)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(BatchItem::ChangeSet(replies))
            } else if ct.to_ascii_lowercase().starts_with("application/http") {
                Ok(BatchItem::Single(http_reply(&headers, inner)?))
            } else {
                Err(format!("unexpected batch part of type `{ct}`"))
            }
        })
        .collect()
}

/// The first failing reply of an item, if any.
pub(crate) fn failure(item: &BatchItem) -> Option<&PartReply> {
    match item {
        BatchItem::ChangeSet(rs) => rs.iter().find(|r| r.status >= 400),
        BatchItem::Single(r) => (r.status >= 400).then_some(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_change_set() {
        let url = "https://env.example/data/Set('a')?cross-company=true".to_string();
        let ops = [
            BatchOp {
                method: Method::DELETE,
                url: url.clone(),
                body: None,
            },
            BatchOp {
                method: Method::POST,
                url: "https://env.example/data/Set".into(),
                body: Some(serde_json::json!({"k":"v"})),
            },
        ];
        let (ct, body) = build_change_set(&ops, uuid::Uuid::nil());
        let body = String::from_utf8(body).unwrap();
        assert_eq!(
            boundary(&ct).unwrap(),
            format!("batch_{}", uuid::Uuid::nil())
        );
        assert!(body
            .contains("DELETE https://env.example/data/Set('a')?cross-company=true HTTP/1.1\r\n"));
        assert!(body.contains("If-Match: *"));
        assert!(body.contains("Content-ID: 2"));
        assert!(body.contains("{\"k\":\"v\"}"));
        assert!(body.ends_with("--batch_00000000-0000-0000-0000-000000000000--\r\n"));
    }

    #[test]
    fn parses_change_sets_and_failures() {
        let body = "--b1\r\nContent-Type: multipart/mixed; boundary=\"cs1\"\r\n\r\n\
            --cs1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
            HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n\r\n\r\n\
            --cs1\nContent-Type: application/http\n\nHTTP/1.1 204 No Content\n\n\n--cs1--\r\n\
            --b1\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n\
            HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"x\",\"message\":\"gone\"}}\r\n\
            --b1--\r\n";
        let items = parse("multipart/mixed; boundary=b1", body.as_bytes()).unwrap();
        assert_eq!(items.len(), 2);
        let BatchItem::ChangeSet(rs) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(rs.iter().map(|r| r.status).collect::<Vec<_>>(), [204, 204]);
        assert!(failure(&items[0]).is_none());
        let f = failure(&items[1]).unwrap();
        assert_eq!(f.status, 404);
        assert_eq!(f.content_id.as_deref(), Some("2"));
        assert!(f.body.contains("gone"));
        assert_eq!(rs[0].content_id, None);
    }

    #[test]
    fn rejects_truncated_and_foreign_bodies() {
        assert!(parse(
            "multipart/mixed; boundary=b1",
            b"--b1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204"
        )
        .is_err());
        assert!(parse("application/json", b"{}").is_err());
        assert!(parse(
            "multipart/mixed; boundary=b1",
            b"--b1\r\nContent-Type: text/plain\r\n\r\nx\r\n--b1--"
        )
        .is_err());
        assert!(parse(
            "multipart/mixed; boundary=b1",
            b"--b1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 abc\r\n--b1--"
        )
        .is_err());
    }
}
