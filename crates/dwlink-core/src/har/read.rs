//! Reading a recording back: size limits checked before the file is read, then JSON syntax, then
//! the HAR 1.2 frame, then the entries, each problem a diagnostic with the file and a caret.

use std::path::Path;

use serde_json::Value;

use super::Har;
use crate::diag::{Problem, Source};

/// A recording of a 20,000-row reset with bodies cut at 1 MiB stays far below this.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Each entry is replayed as one request; more would take hours against an emulator.
pub const MAX_ENTRIES: usize = 100_000;

fn help_har() -> &'static str {
    "pass a file written by `dwlink … --record FILE` or saved from a browser's network tab (\"Save all as HAR\")"
}

/// The byte offset of a 1-based line and column (serde_json counts columns in bytes).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

fn at_error(source: &Source, e: &serde_json::Error, code: &'static str, what: &str) -> Problem {
    let text = source.text();
    let mut start = offset_of(text, e.line(), e.column());
    if start == text.len() && start > 0 {
        start -= 1;
    }
    // serde_json counts columns in bytes or chars depending on the error; a caret must start
    // and end on a char boundary whatever the text.
    while start > 0 && !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + 1).min(text.len());
    while end < text.len() && !text.is_char_boundary(end) {
        end += 1;
    }
    let (line, column) = crate::diag::line_col(text, start);
    Problem::error(
        code,
        format!("{} {what} (line {line}, column {column})", source.name()),
    )
    .in_source(source)
    .at(start..end, e.to_string())
    .help(help_har())
}

/// Where `"key"` first appears after `from` (for a caret under a member serde_json cannot
/// point at, because the document parsed and only its meaning is wrong).
fn key_span(text: &str, key: &str, from: usize) -> std::ops::Range<usize> {
    let needle = format!("\"{key}\"");
    match text.get(from..).and_then(|t| t.find(&needle)) {
        Some(i) => from + i..from + i + needle.len(),
        None => 0..text.len().min(1),
    }
}

pub fn load(path: &Path) -> Result<Har, Problem> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Problem::error("dwlink::har::unreadable", format!("{shown}: {e}"))
            .help("pass the path of a .har file")
    })?;
    if meta.is_dir() {
        return Err(Problem::error(
            "dwlink::har::unreadable",
            format!("{shown} is a directory, not a HAR file"),
        )
        .help("pass the path of a .har file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Problem::error(
            "dwlink::har::too_large",
            format!(
                "{shown} is {} MiB; dwlink reads recordings of at most {} MiB",
                meta.len() / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        )
        .help("record a shorter run (one command, one environment), or cut the file into smaller HARs"));
    }
    let bytes = crate::fsutil::read_capped(path, MAX_FILE_BYTES).map_err(|e| {
        Problem::error("dwlink::har::unreadable", format!("{shown}: {e}"))
            .help("make the file readable by this user")
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Problem::error(
            "dwlink::har::not_json",
            format!(
                "{shown} is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
        .help(help_har())
    })?;
    parse(&shown, text)
}

/// The checks of [`load`] after the file is read: `name` is how messages call the file.
pub fn parse(name: &str, mut text: String) -> Result<Har, Problem> {
    // HAR 1.2: "tools support and ignore a BOM".
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    let source = Source::json(name, text);
    let text = source.text();
    // Counted while streaming, before anything is built: 100,001 entries parsed whole cost
    // gigabytes before they could be refused.
    if let Some(count) = super::limits::count_entries(text) {
        return Err(Problem::error(
            "dwlink::har::too_large",
            format!("{name} has more than {count} entries; dwlink replays at most {MAX_ENTRIES}"),
        )
        .in_source(&source)
        .at(key_span(text, "entries", 0), "too many entries in here")
        .help("record a shorter run, or cut the file into smaller HARs"));
    }
    // The common case, a sound HAR 1.2, is built once, typed; only a file that does not read
    // that way is parsed again as plain JSON to say exactly what is wrong with it.
    if let Ok(har) = serde_json::from_str::<Har>(text) {
        if har.log.version == "1.2" {
            super::limits::check_entries(&har, &source)?;
            return Ok(har);
        }
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            at_error(
                &source,
                &e,
                "dwlink::har::truncated",
                "ends before the JSON document does: the file is cut off",
            )
        } else {
            at_error(&source, &e, "dwlink::har::not_json", "is not JSON")
        }
    })?;
    let not_har = |span: std::ops::Range<usize>, message: String, label: &str| {
        Problem::error("dwlink::har::not_har", message)
            .in_source(&source)
            .at(span, label.to_string())
            .help(help_har())
    };
    let Some(log) = value.get("log").filter(|l| l.is_object()) else {
        return Err(not_har(
            0..text.len().min(1),
            format!("{name} is JSON but not a HAR: it has no `log` object"),
            "a HAR starts with {\"log\": {…}}",
        ));
    };
    let log_at = key_span(text, "log", 0).start;
    match log.get("version").and_then(Value::as_str) {
        Some("1.2") => {}
        Some(other) => {
            return Err(not_har(
                key_span(text, "version", log_at),
                format!("{name} is HAR version {other}; dwlink reads HAR 1.2"),
                "expected \"1.2\"",
            ))
        }
        None => {
            return Err(not_har(
                key_span(text, "log", 0),
                format!("{name} has no `log.version`; dwlink reads HAR 1.2"),
                "no \"version\": \"1.2\" in here",
            ))
        }
    }
    let Some(entries) = log.get("entries").and_then(Value::as_array) else {
        return Err(not_har(
            key_span(text, "log", 0),
            format!("{name} has no `log.entries` list"),
            "no \"entries\": […] in here",
        ));
    };
    if entries.len() > MAX_ENTRIES {
        return Err(Problem::error(
            "dwlink::har::too_large",
            format!(
                "{name} has {} entries; dwlink replays at most {MAX_ENTRIES}",
                entries.len()
            ),
        )
        .help("record a shorter run, or cut the file into smaller HARs"));
    }
    drop(value);
    let har = serde_json::from_str::<Har>(text).map_err(|e| {
        at_error(
            &source,
            &e,
            "dwlink::har::bad_entry",
            "has an entry dwlink cannot read",
        )
    })?;
    super::limits::check_entries(&har, &source)?;
    Ok(har)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Problem {
        parse("t.har", text.into()).unwrap_err()
    }

    #[test]
    fn each_kind_of_bad_file_has_its_code_and_position() {
        let p = err("{\"log\": \n  {\"version\": 1.2,, }}");
        assert_eq!(p.code, "dwlink::har::not_json");
        assert_eq!(p.line_col(), Some((2, 19)));
        let p = err("{\"log\": {\"version\": \"1.2\", \"entries\": [");
        assert_eq!(p.code, "dwlink::har::truncated");
        assert!(p.message.contains("cut off"), "{}", p.message);
        let p = err("{\"log\": {\"version\": \"1.1\", \"entries\": []}}");
        assert_eq!(p.code, "dwlink::har::not_har");
        assert_eq!(p.line_col(), Some((1, 10)));
        assert_eq!(err("[1, 2]").code, "dwlink::har::not_har");
        assert_eq!(
            err("{\"log\": {\"version\": \"1.2\"}}").code,
            "dwlink::har::not_har"
        );
        let p = err("{\"log\": {\"version\": \"1.2\", \"entries\": [{\"request\": 5}]}}");
        assert_eq!(p.code, "dwlink::har::bad_entry");
        assert!(p.line_col().is_some());
    }

    #[test]
    fn too_many_entries_are_refused_before_any_is_read() {
        let entries = vec!["{}"; MAX_ENTRIES + 1].join(",");
        let p = err(&format!(
            "{{\"log\": {{\"version\": \"1.2\", \"entries\": [{entries}]}}}}"
        ));
        assert_eq!(p.code, "dwlink::har::too_large");
        assert!(p.message.contains("100000"), "{}", p.message);
        assert!(p.line_col().is_some());
    }

    #[test]
    fn a_caret_after_wide_characters_stays_on_a_char_boundary() {
        let p = err("{\"log\": {\"comment\": \"ééééé\" ü}}");
        assert_eq!(p.code, "dwlink::har::not_json");
        let span = p.labels[0].span.clone();
        let text = "{\"log\": {\"comment\": \"ééééé\" ü}}";
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
    }

    #[test]
    fn a_minimal_har_reads() {
        let har = parse(
            "t.har",
            r#"{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[
              {"request":{"method":"GET","url":"https://a/"},"response":{"status":200}}]}}"#
                .into(),
        )
        .unwrap();
        assert_eq!(har.log.entries.len(), 1);
        assert_eq!(har.log.entries[0].response.status, 200);
        let bom = parse(
            "b.har",
            "\u{feff}{\"log\":{\"version\":\"1.2\",\"entries\":[]}}".into(),
        );
        assert!(bom.is_ok(), "a BOM is ignored");
    }
}
