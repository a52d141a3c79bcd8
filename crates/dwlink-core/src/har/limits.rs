//! What one recording may cost to replay: entries counted while streaming, and per entry the
//! headers (count and bytes) and bodies a replay would send or parse. A browser's HAR can hold
//! anything; these bounds keep a hostile one a diagnostic, not a panic (the `http` crate panics
//! past 32,768 headers) or gigabytes of parsed JSON.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::read::MAX_ENTRIES;
use super::{Entry, Har, Header};
use crate::diag::{Problem, Source};

/// Request headers one entry may carry (a browser sends a few dozen).
pub const MAX_HEADERS: usize = 256;
/// Bytes of all of one request's header names and values.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;
/// Bytes of one request or reply body: dwlink's recorder keeps at most 1 MiB.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// `Some(n)` when the file's `log.entries` holds more than [`MAX_ENTRIES`] (`n` is the limit):
/// found by a pass that allocates nothing per entry and stops at the first one past the limit.
/// `None` otherwise, including for a file that is not JSON or not a HAR (the full read says why).
pub fn count_entries(text: &str) -> Option<usize> {
    let mut de = serde_json::Deserializer::from_str(text);
    match de.deserialize_map(Root) {
        Err(e) if e.to_string().starts_with(TOO_MANY) => Some(MAX_ENTRIES),
        _ => None,
    }
}

const TOO_MANY: &str = "dwlink: too many entries";

struct Root;
struct Log;
struct Entries;

impl<'de> Visitor<'de> for Root {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a HAR document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "log" {
                map.next_value_seed(Seed(Log))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Log {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the `log` object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "entries" {
                map.next_value_seed(Seed(Entries))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Entries {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the `entries` list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
            if n > MAX_ENTRIES {
                return Err(de::Error::custom(TOO_MANY));
            }
        }
        Ok(())
    }
}

/// A visitor as a seed, so nested members are visited as maps or lists without building them.
struct Seed<V>(V);

impl<'de, V: Visitor<'de, Value = ()>> de::DeserializeSeed<'de> for Seed<V> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self.0)
    }
}

/// The first entry over a per-entry bound, as a diagnostic with a caret at its URL.
pub fn check_entries(har: &Har, source: &Source) -> Result<(), Problem> {
    for (i, e) in har.log.entries.iter().enumerate() {
        if let Some((code, what, help)) = over(e) {
            let text = source.text();
            let needle = serde_json::Value::String(e.request.url.clone()).to_string();
            let span = text
                .find(&needle)
                .map_or(0..text.len().min(1), |at| at..at + needle.len());
            return Err(Problem::error(
                code,
                format!(
                    "{} entry {} ({} …): {what}",
                    source.name(),
                    i + 1,
                    e.request.method
                ),
            )
            .in_source(source)
            .at(span, "this entry")
            .help(help));
        }
    }
    Ok(())
}

fn header_bytes(h: &[Header]) -> usize {
    h.iter().map(|h| h.name.len() + h.value.len()).sum()
}

pub(crate) fn over(e: &Entry) -> Option<(&'static str, String, &'static str)> {
    let headers = &e.request.headers;
    if headers.len() > MAX_HEADERS {
        return Some((
            "dwlink::har::too_many_headers",
            format!(
                "its request has {} headers; dwlink replays at most {MAX_HEADERS}",
                headers.len()
            ),
            "this is not a recording of dwlink or of a browser; remove the entry or record again",
        ));
    }
    let bytes = header_bytes(headers);
    if bytes > MAX_HEADER_BYTES {
        return Some((
            "dwlink::har::headers_too_large",
            format!(
                "its request headers are {bytes} bytes; dwlink replays at most {MAX_HEADER_BYTES}"
            ),
            "this is not a recording of dwlink or of a browser; remove the entry or record again",
        ));
    }
    let sent = e
        .request
        .post_data
        .as_ref()
        .and_then(|p| p.text.as_ref())
        .map_or(0, String::len);
    let got = e.reply_text().map_or(0, str::len);
    let body = sent.max(got);
    if body > MAX_BODY_BYTES {
        return Some((
            "dwlink::har::body_too_large",
            format!(
                "its {} body is {body} bytes; dwlink compares bodies of at most {MAX_BODY_BYTES}",
                if sent >= got { "request" } else { "reply" }
            ),
            "dwlink's own recordings cut bodies at 1 MiB; cut this entry's body or remove the entry",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn har(entries: &str) -> String {
        format!("{{\"log\": {{\"version\": \"1.2\", \"entries\": [{entries}]}}}}")
    }

    #[test]
    fn the_count_stops_past_the_limit_and_ignores_other_files() {
        assert_eq!(
            count_entries(&har(&vec!["{}"; MAX_ENTRIES + 1].join(","))),
            Some(MAX_ENTRIES)
        );
        assert_eq!(count_entries(&har(&["{}"; 3].join(","))), None);
        assert_eq!(count_entries("not json"), None);
        assert_eq!(count_entries("{\"log\": 5}"), None);
    }

    #[test]
    fn an_entry_with_forty_thousand_headers_is_refused() {
        let headers = (0..40_000)
            .map(|i| format!("{{\"name\":\"X-H{i}\",\"value\":\"v\"}}"))
            .collect::<Vec<_>>()
            .join(",");
        let text = har(&format!(
            "{{\"request\":{{\"method\":\"GET\",\"url\":\"https://a/x\",\"headers\":[{headers}]}},\"response\":{{\"status\":200}}}}"
        ));
        let p = super::super::read::parse("t.har", text).unwrap_err();
        assert_eq!(p.code, "dwlink::har::too_many_headers");
        assert!(p.line_col().is_some());
        let big = format!(
            "{{\"name\":\"X\",\"value\":\"{}\"}}",
            "v".repeat(MAX_HEADER_BYTES)
        );
        let text = har(&format!(
            "{{\"request\":{{\"method\":\"GET\",\"url\":\"https://a/x\",\"headers\":[{big}]}},\"response\":{{\"status\":200}}}}"
        ));
        let p = super::super::read::parse("t.har", text).unwrap_err();
        assert_eq!(p.code, "dwlink::har::headers_too_large");
    }
}
