//! One exchange as a HAR 1.2 entry (w3c-webperf HAR 1.2 spec, `log.entries[]`), redacted on the
//! way in: nothing secret is ever held by the value that gets written.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use url::Url;

use super::redact::{self, REDACTED};
use crate::link::secret::redact_url;

/// A recorded body is cut at 1 MiB: a 5,000-row page is a few MiB, and a 20,000-row reset would
/// otherwise make a HAR of hundreds of MiB. The cut is said in the entry's `comment`.
pub const MAX_BODY_TEXT: usize = 1024 * 1024;

/// What the client sent: the logical URL and the headers and body as they left the process.
#[derive(Debug, Clone)]
pub struct SentRequest<'a> {
    pub method: &'a str,
    /// The logical URL (the real service's), never the emulator's address.
    pub url: &'a Url,
    pub headers: Vec<(String, String)>,
    pub body: SentBody<'a>,
}

#[derive(Debug, Clone)]
pub enum SentBody<'a> {
    Empty,
    /// Form fields with their values; secret ones are replaced before anything is kept.
    Form(Vec<(&'a str, &'a str)>),
    Bytes {
        mime: String,
        bytes: &'a [u8],
    },
}

/// What came back, or why nothing did.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    Reply {
        status: u16,
        status_text: &'a str,
        headers: Vec<(String, String)>,
        body: &'a [u8],
        /// The client stopped reading at its own cap (the rest was never read).
        cut_by_client: bool,
    },
    /// A transport failure: no status (HAR's 0), the reason in `_error`.
    Failed { error: String },
}

#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    pub started: SystemTime,
    /// From sending to the status line, and from there to the last body byte.
    pub wait: Duration,
    pub receive: Duration,
    /// Which service (dwlink's `Api`, e.g. `dataverse`): the replayer picks its token by it.
    pub api: &'a str,
    /// 1 for the first try, 2 for the first retry…
    pub attempt: u32,
    pub request: SentRequest<'a>,
    pub outcome: Outcome<'a>,
}

fn headers_json(headers: &[(String, String)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(n, v)| {
                let shown = if redact::is_secret_header(n) {
                    REDACTED.to_string()
                } else {
                    redact::text(v)
                };
                json!({"name": n, "value": shown})
            })
            .collect(),
    )
}

fn mime_of(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map_or_else(String::new, |(_, v)| v.clone())
}

/// Body bytes as recorded: lossy UTF-8, redacted whole, then cut at [`MAX_BODY_TEXT`] on a char
/// boundary (redacting first: a cut JSON document no longer parses, and its secret-named members
/// could not be found). The bool says whether it was cut.
fn body_text(bytes: &[u8]) -> (String, bool) {
    let mut text = redact::body(&String::from_utf8_lossy(bytes));
    if text.len() <= MAX_BODY_TEXT {
        return (text, false);
    }
    let mut end = MAX_BODY_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn query_string(url: &Url) -> Value {
    let shown = Url::parse(&redact_url(url)).unwrap_or_else(|_| url.clone());
    Value::Array(
        shown
            .query_pairs()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect(),
    )
}

/// The entry, redacted.
pub fn entry(x: &Exchange<'_>) -> Value {
    let mut comments: Vec<String> = Vec::new();
    let started = jiff::Timestamp::try_from(x.started).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let req = &x.request;
    let mut request = json!({
        "method": req.method,
        "url": redact_url(req.url),
        "httpVersion": "HTTP/1.1",
        "headers": headers_json(&req.headers),
        "queryString": query_string(req.url),
        "cookies": [],
        "headersSize": -1,
        "bodySize": 0,
    });
    match &req.body {
        SentBody::Empty => {}
        SentBody::Form(fields) => {
            let params: Vec<(&str, String)> = fields
                .iter()
                .map(|(k, v)| {
                    let v = if redact::is_secret_form_field(k) {
                        REDACTED.to_string()
                    } else {
                        (*v).to_string()
                    };
                    (*k, v)
                })
                .collect();
            let text = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            request["bodySize"] = json!(text.len());
            request["postData"] = json!({
                "mimeType": "application/x-www-form-urlencoded",
                "params": params.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                "text": text,
            });
        }
        SentBody::Bytes { mime, bytes } => {
            let (text, cut) = body_text(bytes);
            if cut {
                comments.push(format!(
                    "request body cut at {} KiB of {} bytes",
                    MAX_BODY_TEXT / 1024,
                    bytes.len()
                ));
            }
            request["bodySize"] = json!(bytes.len());
            request["postData"] = json!({"mimeType": mime, "params": [], "text": text});
        }
    }
    let mut e = json!({
        "startedDateTime": format!("{started:.3}"),
        "time": ms(x.wait + x.receive),
        "request": request,
        "cache": {},
        "timings": {"send": 0, "wait": ms(x.wait), "receive": ms(x.receive)},
        "_dwlink": {"api": x.api, "attempt": x.attempt},
    });
    e["response"] = match &x.outcome {
        Outcome::Reply {
            status,
            status_text,
            headers,
            body,
            cut_by_client,
        } => {
            let (text, cut) = body_text(body);
            if cut || *cut_by_client {
                comments.push(format!(
                    "reply body cut: {} bytes read, {} KiB kept{}",
                    body.len(),
                    MAX_BODY_TEXT / 1024,
                    if *cut_by_client {
                        " (dwlink stopped reading at its reply cap)"
                    } else {
                        ""
                    }
                ));
            }
            let location = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("location"))
                .map_or_else(String::new, |(_, v)| redact::text(v));
            json!({
                "status": status,
                "statusText": status_text,
                "httpVersion": "HTTP/1.1",
                "headers": headers_json(headers),
                "cookies": [],
                "content": {"size": body.len(), "mimeType": mime_of(headers), "text": text},
                "redirectURL": location,
                "headersSize": -1,
                "bodySize": body.len(),
            })
        }
        Outcome::Failed { error } => {
            let error = redact::text(error);
            comments.push(format!("no reply: {error}"));
            e["_error"] = json!(error);
            json!({
                "status": 0,
                "statusText": "",
                "httpVersion": "",
                "headers": [],
                "cookies": [],
                "content": {"size": 0, "mimeType": "x-unknown"},
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": -1,
            })
        }
    };
    if !comments.is_empty() {
        e["comment"] = json!(comments.join("; "));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange<'a>(url: &'a Url, body: SentBody<'a>, outcome: Outcome<'a>) -> Exchange<'a> {
        Exchange {
            started: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            wait: Duration::from_millis(12),
            receive: Duration::from_micros(1500),
            api: "login",
            attempt: 1,
            request: SentRequest {
                method: "POST",
                url,
                headers: vec![
                    ("Authorization".into(), "Bearer abc".into()),
                    ("Accept".into(), "application/json".into()),
                ],
                body,
            },
            outcome,
        }
    }

    #[test]
    fn token_exchange_keeps_no_credential() {
        let url = Url::parse("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap();
        let reply = br#"{"token_type":"Bearer","expires_in":3599,"access_token":"AT-123"}"#;
        let e = entry(&exchange(
            &url,
            SentBody::Form(vec![
                ("client_id", "cid"),
                ("client_secret", "hunter2"),
                ("scope", "https://x/.default"),
            ]),
            Outcome::Reply {
                status: 200,
                status_text: "OK",
                headers: vec![("Set-Cookie".into(), "fpc=abc".into())],
                body: reply,
                cut_by_client: false,
            },
        ));
        let text = e.to_string();
        for s in ["hunter2", "AT-123", "abc"] {
            assert!(!text.contains(s), "{s} in {text}");
        }
        assert_eq!(e["startedDateTime"], "2023-11-14T22:13:20.123Z");
        assert_eq!(e["time"], 13.5);
        assert_eq!(e["request"]["postData"]["params"][0]["value"], "cid");
        assert_eq!(e["response"]["content"]["size"], reply.len());
    }

    #[test]
    fn failures_have_status_zero_and_say_why() {
        let url = Url::parse("https://x.crm.dynamics.com/api/data/v9.2/?sig=s3").unwrap();
        let e = entry(&exchange(
            &url,
            SentBody::Empty,
            Outcome::Failed {
                error: "connection reset".into(),
            },
        ));
        assert_eq!(e["response"]["status"], 0);
        assert_eq!(e["_error"], "connection reset");
        assert!(!e.to_string().contains("s3"));
    }

    #[test]
    fn a_long_json_page_is_redacted_before_it_is_cut() {
        let url = Url::parse("https://x.operations.dynamics.com/data/Rows").unwrap();
        let rows: Vec<Value> = (0..40_000)
            .map(|i| json!({"Name": format!("row-{i}"), "ApiToken": format!("tok-{i}")}))
            .collect();
        let page = serde_json::to_vec(&json!({"value": rows})).unwrap();
        assert!(page.len() > MAX_BODY_TEXT);
        let e = entry(&exchange(
            &url,
            SentBody::Empty,
            Outcome::Reply {
                status: 200,
                status_text: "OK",
                headers: vec![],
                body: &page,
                cut_by_client: false,
            },
        ));
        let text = e["response"]["content"]["text"].as_str().unwrap();
        assert!(text.len() <= MAX_BODY_TEXT && text.contains("row-1"));
        assert!(!text.contains("tok-"), "a token survived the cut");
    }

    #[test]
    fn long_bodies_are_cut_with_a_comment() {
        let url = Url::parse("https://x.crm.dynamics.com/api/data/v9.2/accounts").unwrap();
        let big = vec![b'a'; MAX_BODY_TEXT + 10];
        let e = entry(&exchange(
            &url,
            SentBody::Empty,
            Outcome::Reply {
                status: 200,
                status_text: "OK",
                headers: vec![],
                body: &big,
                cut_by_client: false,
            },
        ));
        assert_eq!(
            e["response"]["content"]["text"].as_str().unwrap().len(),
            MAX_BODY_TEXT
        );
        assert!(e["comment"].as_str().unwrap().contains("cut"));
    }
}
