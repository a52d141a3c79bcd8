//! What a recording never holds: credentials in headers, forms, JSON bodies, text bodies and URLs.
//! Values are replaced by [`REDACTED`] and keys kept, so a recording still shows every shape.

use serde_json::Value;

use crate::snapshot::is_secret_column;

/// What a redacted value reads in a recording (the same marker [`crate::link::secret::redact_url`]
/// writes into URLs).
pub const REDACTED: &str = "[redacted]";

/// Headers that carry credentials or session state.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Token-request and device-code form fields that are credentials or one-time codes. `scope`,
/// `client_id` and `grant_type` stay: they say what was asked for, and nobody signs in with them.
const SECRET_FORM_FIELDS: [&str; 8] = [
    "client_secret",
    "client_assertion",
    "refresh_token",
    "code",
    "device_code",
    "assertion",
    "password",
    "code_verifier",
];

/// JSON keys that are credentials without a telling name: the device-code reply's `device_code`
/// (redeemable for tokens until it expires). The `user_code` stays: it was shown on the
/// terminal, and it signs nobody in without the device code that only dwlink holds.
const SECRET_JSON_KEYS: [&str; 1] = ["device_code"];

/// Inside a string (a connection string, a SAS URL, a form body): the value after each of these,
/// up to the next `&`, `;`, quote or whitespace.
const SECRET_ASSIGNMENTS: [&str; 8] = [
    "sig=",
    "accountkey=",
    "sharedaccesskey=",
    "sharedaccesssignature=",
    "client_secret=",
    "password=",
    "pwd=",
    "refresh_token=",
];

pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
}

pub fn is_secret_form_field(name: &str) -> bool {
    SECRET_FORM_FIELDS
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
        || is_secret_column(name)
}

/// A JSON member whose value never goes into a recording: the snapshot's secret-column rule
/// (`connectionstring`, `secret`, `password`, `token`, `sas` anywhere in the name) plus the
/// device code.
pub fn is_secret_key(name: &str) -> bool {
    // `token_type` ("Bearer") names a kind of token, not one.
    if name.eq_ignore_ascii_case("token_type") {
        return false;
    }
    is_secret_column(name)
        || SECRET_JSON_KEYS
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k))
}

/// Null, `""`, or arrays of nothing else: no secret can be in it. Kept, so the shape stays and a
/// replay sends what was sent (`Refresh` posts `{"tokens": [""]}`).
fn holds_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(holds_nothing),
        _ => false,
    }
}

/// Redacts `value` in place: secret-named members (unless they hold nothing, so the shape
/// stays), and credential assignments inside every other string.
pub fn json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !holds_nothing(v) {
                    // A value under a secret name is a secret wherever else it appears (a token
                    // reply's headers, the next request's echo): held from here on.
                    // Only OAuth's own members: `TokenAudience` may hold a URL shown everywhere.
                    let oauth = ["access_token", "refresh_token", "id_token", "device_code"];
                    if let (Value::String(secret), true) = (&*v, oauth.contains(&k.as_str())) {
                        crate::scrub::hold(secret);
                    }
                    *v = Value::String(REDACTED.into());
                } else {
                    json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json),
        Value::String(s) => {
            if let Some(scrubbed) = scrub_assignments(s) {
                *s = scrubbed;
            }
        }
        _ => {}
    }
}

/// A body that is not one JSON document (`$metadata` XML, a multipart `$batch`): every line that
/// is a JSON document (a batch part's body) is redacted as JSON, and credential assignments
/// anywhere else are scrubbed.
pub fn text(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        let ending = &line[content.len()..];
        let trimmed = content.trim_start();
        let parsed = (trimmed.starts_with('{') || trimmed.starts_with('['))
            .then(|| serde_json::from_str::<Value>(content).ok())
            .flatten();
        match parsed {
            Some(mut v) => {
                json(&mut v);
                out.push_str(&v.to_string());
            }
            None => out.push_str(&scrub_assignments(content).unwrap_or_else(|| content.into())),
        }
        out.push_str(ending);
    }
    out
}

/// A whole body as recorded: JSON redacted as JSON, anything else as text.
pub fn body(text_body: &str) -> String {
    match serde_json::from_str::<Value>(text_body) {
        Ok(mut v) if v.is_object() || v.is_array() => {
            json(&mut v);
            v.to_string()
        }
        _ => text(text_body),
    }
}

/// `None` when nothing needed scrubbing (the common case: no allocation).
fn scrub_assignments(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    if !SECRET_ASSIGNMENTS.iter().any(|a| lower.contains(a)) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hit = SECRET_ASSIGNMENTS
            .iter()
            .find(|a| lower[i..].starts_with(*a) && at_word_start(&lower, i));
        match hit {
            Some(a) => {
                out.push_str(&s[i..i + a.len()]);
                i += a.len();
                let end = s[i..]
                    .find(|c: char| matches!(c, '&' | ';' | '"' | '\'' | '<') || c.is_whitespace())
                    .map_or(s.len(), |n| i + n);
                if end > i {
                    out.push_str(REDACTED);
                }
                i = end;
            }
            None => {
                let c = s[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Some(out)
}

/// `sig=` counts at the start or after a separator, not inside `xsig=`.
fn at_word_start(lower: &str, i: usize) -> bool {
    i == 0
        || lower[..i]
            .chars()
            .next_back()
            .is_some_and(|c| !c.is_ascii_alphanumeric() && c != '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_names_holding_nothing_are_kept_as_sent() {
        let mut v = json!({"tokens": [""], "token": "", "sas": null, "secret": ["", "x"]});
        super::json(&mut v);
        assert_eq!(
            v,
            json!({"tokens": [""], "token": "", "sas": null, "secret": REDACTED})
        );
    }

    #[test]
    fn secret_members_are_replaced_and_null_kept() {
        let mut v = json!({
            "access_token": "t1", "refresh_token": "t2", "id_token": "t3", "expires_in": 3599,
            "device_code": "dc", "user_code": "ABCD-EFGH",
            "value": [{"StorageAccountSASConnectionString": "BlobEndpoint=x;SharedAccessSignature=sv=1&sig=abc",
                       "ServiceBusConnectionString": null, "ProjectName": "P",
                       "Url": "https://a.blob.core.windows.net/c?sv=1&sig=XYZ&se=2"}],
            "error": {"code": "0x80040217", "message": "not found"}
        });
        json(&mut v);
        let text = v.to_string();
        for secret in ["t1", "t2", "t3", "\"dc\"", "abc", "XYZ"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(v["user_code"], "ABCD-EFGH");
        assert_eq!(v["expires_in"], 3599);
        assert!(v["value"][0]["ServiceBusConnectionString"].is_null());
        assert_eq!(v["error"]["code"], "0x80040217");
        assert_eq!(
            v["value"][0]["Url"],
            "https://a.blob.core.windows.net/c?sv=1&sig=[redacted]&se=2"
        );
    }

    #[test]
    fn batch_parts_are_redacted_as_json() {
        let body = "--batch_1\r\nContent-Type: application/http\r\n\r\nPOST x HTTP/1.1\r\n\r\n{\"ApiToken\":\"tok\",\"Name\":\"n\"}\r\n--batch_1--\r\n";
        let out = text(body);
        assert!(!out.contains("tok"), "{out}");
        assert!(out.contains("\"Name\":\"n\""), "{out}");
        assert!(out.ends_with("--batch_1--\r\n"), "{out}");
    }

    #[test]
    fn assignments_are_scrubbed_in_text() {
        let out = text("Endpoint=sb://x/;SharedAccessKey=K3Y=;EntityPath=q\nxsig=keep");
        assert_eq!(
            out,
            "Endpoint=sb://x/;SharedAccessKey=[redacted];EntityPath=q\nxsig=keep"
        );
        assert_eq!(body("<Edmx Version=\"4.0\"/>"), "<Edmx Version=\"4.0\"/>");
    }

    #[test]
    fn form_fields_and_headers() {
        assert!(is_secret_form_field("client_secret") && is_secret_form_field("code"));
        assert!(!is_secret_form_field("scope") && !is_secret_form_field("client_id"));
        assert!(is_secret_header("Set-Cookie") && !is_secret_header("Accept"));
    }
}
