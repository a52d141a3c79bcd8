//! Replies read defensively: every way a body can be wrong becomes a `BadReply` that says what
//! was expected and what came, never a panic.

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use url::Url;

use crate::transport::client::content_type;
use dwlink_core::link::error::{Api, ProviderError};
use dwlink_core::link::secret::redact_url;

#[derive(Debug, Clone)]
pub struct Reply {
    pub api: Api,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The logical URL the request went to.
    pub url: Url,
}

impl Reply {
    pub fn bad(&self, detail: impl Into<String>) -> ProviderError {
        ProviderError::bad_reply(self.api, redact_url(&self.url), detail)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON of the expected shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        let value = self.json_value()?;
        serde_json::from_value(value).map_err(|e| self.bad(format!("unexpected JSON shape: {e}")))
    }

    pub fn json_value(&self) -> Result<serde_json::Value, ProviderError> {
        self.parse_json(|b| serde_json::from_slice(b))
    }

    /// The body through `parse` (a typed or partial parser), after the checks every JSON reply
    /// gets: an HTML error page or an empty body is named as such, not as a parse error.
    pub fn parse_json<T>(
        &self,
        parse: impl FnOnce(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, ProviderError> {
        let ct = content_type(&self.headers).to_ascii_lowercase();
        if looks_like_html(&ct, &self.body) {
            return Err(self.bad(format!(
                "an HTML page instead of JSON (HTTP {}{})",
                self.status,
                html_title(&self.body)
                    .map(|t| format!(", \"{t}\""))
                    .unwrap_or_default()
            )));
        }
        if self.body.is_empty() {
            return Err(self.bad(format!(
                "an empty body instead of JSON (HTTP {})",
                self.status
            )));
        }
        parse(&self.body).map_err(|e| {
            let what = if e.is_eof() {
                "the JSON ends early (truncated reply?)"
            } else if e.is_data() {
                "unexpected JSON shape"
            } else {
                "the body is not valid JSON"
            };
            self.bad(format!(
                "{what}: {e}; content-type `{}`, starts with `{}`",
                ct,
                preview(&self.body)
            ))
        })
    }
}

fn looks_like_html(ct: &str, body: &[u8]) -> bool {
    if ct.contains("text/html") {
        return true;
    }
    let start = String::from_utf8_lossy(&body[..body.len().min(64)])
        .trim_start()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(8192)]).to_string();
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    Some(clean(&text[start..end], 120))
}

/// At most `max` printable characters, with anything shaped like a bearer token removed.
pub(crate) fn clean(s: &str, max: usize) -> String {
    let printable: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // Before the cut, so a token cut in half is still recognised whole.
    let scrubbed = dwlink_core::scrub::text(&printable);
    let trimmed = scrubbed.trim();
    if trimmed.chars().count() > max {
        let cut: String = trimmed.chars().take(max).collect();
        format!("{cut}…")
    } else {
        trimmed.to_string()
    }
}

pub(crate) fn preview(body: &[u8]) -> String {
    clean(&String::from_utf8_lossy(&body[..body.len().min(200)]), 80)
}

/// The service's own words from an error body: an OData error, an OAuth error, or a preview.
pub(crate) fn error_message(
    headers: &HeaderMap,
    body: &[u8],
    over_cap: bool,
) -> (Option<String>, String) {
    let ct = content_type(headers).to_ascii_lowercase();
    if !over_cap {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            let err = &v["error"];
            if let Some(obj) = err.as_object() {
                let code = obj
                    .get("code")
                    .and_then(|c| c.as_str())
                    .map(|c| clean(c, 80));
                let msg = obj
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("(no message)");
                return (code, clean(msg, 500));
            }
            if let Some(code) = err.as_str() {
                let msg = v["error_description"]
                    .as_str()
                    .unwrap_or("(no description)");
                // Entra's `error_codes` names the AADSTS code its description usually starts
                // with; keep it in the message when the description does not, so sign-in
                // diagnostics can tell the refusals apart (`crate::signin::entra`).
                let first_code = v["error_codes"]
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(serde_json::Value::as_u64);
                let msg = match first_code {
                    Some(n) if !msg.trim_start().starts_with("AADSTS") => {
                        format!("AADSTS{n}: {msg}")
                    }
                    _ => msg.to_string(),
                };
                return (Some(clean(code, 80)), clean(&msg, 500));
            }
        }
    }
    if looks_like_html(&ct, body) {
        let title = html_title(body).unwrap_or_else(|| "untitled".into());
        return (None, format!("an HTML error page (\"{title}\")"));
    }
    if body.is_empty() {
        return (None, "(empty body)".into());
    }
    let suffix = if over_cap {
        " (error body larger than 64 KiB, cut)"
    } else {
        ""
    };
    (None, format!("`{}`{suffix}", preview(body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, CONTENT_TYPE};

    fn reply(ct: &str, body: &str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        Reply {
            api: Api::Dataverse,
            status: 200,
            headers,
            body: body.as_bytes().to_vec(),
            url: Url::parse("https://org.example/api/data/v9.2/WhoAmI").unwrap(),
        }
    }

    #[test]
    fn html_truncated_and_wrong_shapes_are_bad_replies() {
        let e = reply("text/html", "<html><title>Sign in</title></html>")
            .json_value()
            .unwrap_err();
        assert!(
            e.to_string().contains("HTML page") && e.to_string().contains("Sign in"),
            "{e}"
        );
        let e = reply("application/json", "{\"value\":[1,")
            .json_value()
            .unwrap_err();
        assert!(e.to_string().contains("ends early"), "{e}");
        #[derive(serde::Deserialize, Debug)]
        struct W {
            #[allow(dead_code)]
            n: u32,
        }
        let e = reply("application/json", "{\"n\":\"x\"}")
            .json::<W>()
            .unwrap_err();
        assert!(e.to_string().contains("unexpected JSON shape"), "{e}");
        assert_eq!(e.code(), "dwlink::provider::bad_reply");
    }

    #[test]
    fn error_bodies_give_the_service_words() {
        let h = HeaderMap::new();
        let (c, m) = error_message(&h, br#"{"error":{"code":"0x1","message":"nope"}}"#, false);
        assert_eq!((c.as_deref(), m.as_str()), (Some("0x1"), "nope"));
        let (c, m) = error_message(
            &h,
            br#"{"error":"invalid_client","error_description":"bad"}"#,
            false,
        );
        assert_eq!((c.as_deref(), m.as_str()), (Some("invalid_client"), "bad"));
        let (_, m) = error_message(&h, b"xxxx", true);
        assert!(m.contains("64 KiB"));
    }

    #[test]
    fn tokens_are_scrubbed_from_messages() {
        let jwt = format!("eyJ{}", "a".repeat(60));
        assert_eq!(
            clean(&format!("bad token {jwt} here"), 200),
            "bad token [redacted] here"
        );
    }
}
