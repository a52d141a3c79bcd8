//! The one scrubber: every byte dwlink writes to a recording or a terminal passes [`text`].
//!
//! Two kinds of rules. By value: dwlink knows every secret it holds (the client secret, each
//! access and refresh token, device codes), registered here by [`hold`] the moment it has them,
//! and each is replaced wherever it appears, raw, URL-encoded or JSON-escaped, whatever the
//! header, member or line around it says. By shape, for secrets dwlink does not hold (another
//! token echoed by a server): JWTs, anything after `Bearer`, `access_token=…`-style assignments
//! and 64-hex-digit tokens. A server that smuggles a secret under an innocent name cannot get it
//! past the first kind; the second catches what only looks like one.

use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};

use crate::har::redact::REDACTED;

/// Values shorter than this are not replaced by value (a test's "x" would blank every x); real
/// secrets and tokens are far longer, and the shape rules still apply.
pub const MIN_HELD: usize = 8;
/// Values remembered at most: a long run refreshes its tokens hourly; the oldest go first.
const MAX_HELD: usize = 4096;

/// Every form of every held value, longest first (so a value containing another is replaced
/// whole).
fn held() -> &'static Mutex<Vec<String>> {
    static HELD: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remember `value` as a secret this process holds: from now on it never reaches a recording
/// or the terminal, in any of its encodings.
pub fn hold(value: &str) {
    if value.len() < MIN_HELD {
        return;
    }
    let mut held = held().lock().unwrap_or_else(|p| p.into_inner());
    let mut added = false;
    for form in forms(value) {
        if !held.contains(&form) {
            held.push(form);
            added = true;
        }
    }
    if added {
        if held.len() > MAX_HELD {
            let extra = held.len() - MAX_HELD;
            held.drain(..extra);
        }
        held.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }
}

/// The value as it may appear: raw, form- and percent-encoded (both hex cases), JSON-escaped.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let percent: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let every: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    // As a path segment of a URL (a nextLink carrying it), encoded the way the `url` crate and
    // browsers do.
    let segment = url::Url::parse("http://x/")
        .ok()
        .and_then(|mut u| {
            u.path_segments_mut().ok()?.push(value);
            Some(u.path().trim_start_matches('/').to_string())
        })
        .unwrap_or_default();
    let json = serde_json::Value::String(value.into()).to_string();
    let json = json[1..json.len() - 1].to_string();
    for f in [
        every.clone(),
        every.to_ascii_lowercase_hex(),
        segment,
        form.clone(),
        form.to_ascii_lowercase_hex(),
        percent.clone(),
        percent.to_ascii_lowercase_hex(),
        json.replace('/', "\\/"),
        json,
    ] {
        if f.len() >= MIN_HELD && !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

trait LowerHex {
    fn to_ascii_lowercase_hex(&self) -> String;
}

impl LowerHex for String {
    /// `%2F` → `%2f`, the rest unchanged.
    fn to_ascii_lowercase_hex(&self) -> String {
        let mut out = String::with_capacity(self.len());
        let mut left = 0;
        for c in self.chars() {
            if c == '%' {
                left = 2;
                out.push(c);
            } else if left > 0 {
                left -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// `s` with every held secret and every secret-shaped value replaced by [`REDACTED`].
pub fn text(s: &str) -> Cow<'_, str> {
    let by_value = values(s);
    match shapes(&by_value) {
        Cow::Owned(o) => Cow::Owned(o),
        Cow::Borrowed(_) => by_value,
    }
}

/// `s` with every held secret replaced, and nothing else: for the files dwlink writes (plans,
/// journals, backup headers, snapshots), whose digests and fingerprints are 64 hex digits the
/// shape rules would take for tokens. A file never holds a value dwlink did not derive or read,
/// so the values it holds are the ones that can reach it.
pub fn held_values(s: &str) -> Cow<'_, str> {
    values(s)
}

/// Serialized JSON with every held secret replaced inside its strings, still the same document
/// (members in their order). A form with a quote in it could only match across the document's
/// own syntax (inside a string a quote is escaped, and the escaped form is held too), so it is
/// left out. Should a replacement still break the document (a secret of digits matching a
/// number), every string of the parsed document is scrubbed instead, and it is written again
/// compact or pretty as it came.
pub fn json_text(s: &str) -> Cow<'_, str> {
    let replaced = values_where(s, |form| !form.contains('"'));
    let Cow::Owned(text) = replaced else {
        return Cow::Borrowed(s);
    };
    if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() {
        return Cow::Owned(text);
    }
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(s) else {
        // Not JSON to begin with: the text itself is all there is to scrub.
        return Cow::Owned(text);
    };
    json_value(&mut doc);
    let again = if s.trim_end().contains('\n') {
        serde_json::to_string_pretty(&doc)
    } else {
        serde_json::to_string(&doc)
    };
    Cow::Owned(again.unwrap_or(text))
}

/// Every string (member names included) of `doc` with held secrets replaced.
pub fn json_value(doc: &mut serde_json::Value) {
    use serde_json::Value;
    match doc {
        Value::String(s) => {
            if let Cow::Owned(o) = values(s) {
                *s = o;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json_value),
        Value::Object(members) => {
            let old = std::mem::take(members);
            for (k, mut v) in old {
                json_value(&mut v);
                members.insert(values(&k).into_owned(), v);
            }
        }
        _ => {}
    }
}

fn values(s: &str) -> Cow<'_, str> {
    values_where(s, |_| true)
}

fn values_where(s: &str, usable: impl Fn(&str) -> bool) -> Cow<'_, str> {
    let held = held().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(s);
    for form in held.iter().filter(|f| usable(f)) {
        if out.contains(form.as_str()) {
            out = Cow::Owned(out.replace(form.as_str(), REDACTED));
        }
    }
    out
}

/// Names whose value (after `=`, `:` or `":"`) is a credential in any OAuth or Azure text.
const NAMED: [&str; 12] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "device_code",
    "sig",
    "accountkey",
    "sharedaccesskey",
    "sharedaccesssignature",
    "password",
    "pwd",
];

fn token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'=' | b'+' | b'/' | b'%' | b'~')
}

/// Secret-shaped values replaced; `Borrowed` when there was none (the common case).
pub fn shapes(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let lower = s.to_ascii_lowercase();
    let lb = lower.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let hit = if word_start {
            secret_at(b, lb, i)
        } else {
            None
        };
        match hit {
            Some((start, end)) => {
                let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                o.push_str(&s[copied..start]);
                o.push_str(REDACTED);
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.push_str(&s[copied..]);
            Cow::Owned(o)
        }
    }
}

/// The secret value found starting at `i` (a word start), as a byte range.
fn secret_at(b: &[u8], lb: &[u8], i: usize) -> Option<(usize, usize)> {
    let run_end = |from: usize| {
        let mut e = from;
        while e < b.len() && token_char(b[e]) {
            e += 1;
        }
        e
    };
    // A JWT: header.payload[.signature], each base64url, the header always `eyJ` (or a long
    // run starting so, cut where a message was clipped).
    if b[i..].starts_with(b"eyJ") {
        let end = run_end(i);
        if (end - i >= 20 && b[i..end].contains(&b'.')) || end - i >= 40 {
            return Some((i, end));
        }
    }
    // `Bearer <token>`, `Bearer:<token>`, `bearer=<token>`, `Bearer%20<token>`.
    if lb[i..].starts_with(b"bearer") {
        let mut j = i + 6;
        loop {
            if j < b.len() && matches!(b[j], b' ' | b'\t' | b':' | b'=') {
                j += 1;
            } else if lb[j..].starts_with(b"%20") || lb[j..].starts_with(b"%3a") {
                j += 3;
            } else if lb[j..].starts_with(b"\\u0020") {
                j += 6;
            } else {
                break;
            }
        }
        let end = run_end(j);
        if j > i + 6 && end - j >= 16 {
            return Some((j, end));
        }
    }
    for name in NAMED {
        if !lb[i..].starts_with(name.as_bytes()) {
            continue;
        }
        let mut j = i + name.len();
        // The name's own end: `sig` is not `signature`.
        if j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            continue;
        }
        let mut sep = false;
        while j < b.len() && matches!(b[j], b'"' | b'\'' | b' ' | b'\\') {
            j += 1;
        }
        if j < b.len() && matches!(b[j], b'=' | b':') {
            sep = true;
            j += 1;
        } else if lb[j..].starts_with(b"%3d") || lb[j..].starts_with(b"%3a") {
            sep = true;
            j += 3;
        }
        if !sep {
            continue;
        }
        while j < b.len() && matches!(b[j], b'"' | b'\'' | b' ' | b'\\') {
            j += 1;
        }
        // Already redacted, or nothing there: leave it.
        if b[j..].starts_with(REDACTED.as_bytes()) {
            return None;
        }
        let end = value_end(b, j);
        if end > j {
            return Some((j, end));
        }
        return None;
    }
    // 64 hex digits alone (the emulator's tokens; a SHA-256 named as one is kept).
    if b[i].is_ascii_hexdigit() {
        let mut end = i;
        while end < b.len() && b[end].is_ascii_hexdigit() {
            end += 1;
        }
        let alone = end == b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_');
        let digest = lb[..i].ends_with(b"sha256:") || lb[..i].ends_with(b"sha256 ");
        if end - i >= 64 && alone && !digest {
            return Some((i, end));
        }
    }
    None
}

/// Where an assigned value ends: a separator, a quote, a backslash (JSON escape) or whitespace.
fn value_end(b: &[u8], from: usize) -> usize {
    let mut e = from;
    while e < b.len()
        && !matches!(
            b[e],
            b'&' | b';' | b'"' | b'\'' | b'<' | b',' | b'}' | b')' | b']' | b'\\'
        )
        && !b[e].is_ascii_whitespace()
    {
        e += 1;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_values_go_in_every_encoding() {
        let secret = "Sx8Q~held.value/with+odd chars";
        hold(secret);
        let json = serde_json::Value::String(secret.into()).to_string();
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        for s in [
            format!("X-Anything: {secret}"),
            format!("{{\"Blob\":{json}}}"),
            format!("https://h/p/{form}?q={}", form.to_ascii_lowercase_hex()),
            format!("/x/{}", secret.replace(' ', "%20").replace('/', "%2F")),
            format!(
                "/x/{}",
                secret
                    .replace(' ', "%20")
                    .replace('/', "%2F")
                    .replace('+', "%2B")
            ),
        ] {
            let out = text(&s);
            assert!(!out.contains("held.value"), "{s} → {out}");
        }
        assert_eq!(text("short x"), "short x");
    }

    /// Files are scrubbed by value only (a plan's 64-hex fingerprint stays), and stay the same
    /// JSON document, even for a secret whose raw form matches across the document's syntax.
    #[test]
    fn json_files_keep_their_shape_and_their_digests() {
        let quoted = "held\",\"quoted-secret";
        hold(quoted);
        hold("file-held-token-0123");
        let fingerprint = "0123456789abcdef".repeat(4);
        let doc = serde_json::json!({
            "live_fingerprint": fingerprint,
            "message": "org file-held-token-0123 said",
            "a": ["held", "quoted-secret"],
            "c": quoted,
            "d": 90817263544536271_u64,
        });
        hold("90817263544536271");
        for text in [doc.to_string(), serde_json::to_string_pretty(&doc).unwrap()] {
            let out = json_text(&text);
            let back: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
            assert_eq!(back["live_fingerprint"], fingerprint.as_str());
            assert_eq!(back["message"], "org [redacted] said");
            assert_eq!(back["c"], REDACTED);
            assert_eq!(back["a"], serde_json::json!(["held", "quoted-secret"]));
            assert_eq!(
                back["d"], 90817263544536271_u64,
                "a number is no string to scrub"
            );
            assert_eq!(out.contains('\n'), text.contains('\n'));
        }
        assert_eq!(held_values("no secret"), "no secret");
    }

    #[test]
    fn shapes_catch_tokens_dwlink_does_not_hold() {
        let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let hex = "0123456789abcdef".repeat(4);
        for (s, gone) in [
            (format!("access_token={jwt}&x=1"), jwt),
            (format!("Bearer:{jwt}"), jwt),
            (
                "Authorization: Bearer abcdefghijklmnopqrstuvwxyz".to_string(),
                "abcdefghijklmnop",
            ),
            (
                "\"access_token\": \"opaque-token-value\"".to_string(),
                "opaque-token-value",
            ),
            (format!("token {hex}."), hex.as_str()),
            ("refresh_token%3Dr3fr3sh&a=b".to_string(), "r3fr3sh"),
        ] {
            let out = text(&s);
            assert!(!out.contains(gone), "{s} → {out}");
        }
        for keep in [
            format!("sha256:{hex}"),
            "signature=abc".to_string(),
            "token_type=Bearer".to_string(),
            "{\"device_code\":\"[redacted]\"}".to_string(),
            "the plan has 3 steps".to_string(),
        ] {
            assert_eq!(text(&keep), keep);
        }
    }
}
