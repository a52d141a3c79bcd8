//! Reading YAML files safely and turning them into typed values with every problem reported.
//!
//! Shared by configs and emulator fixtures: file → [`Source`] → node tree → schema check →
//! serde-saphyr into the raw type. serde-saphyr is the authoritative deserializer; the node tree
//! exists so that problems carry spans and all of them are found in one run.

use std::fs;
use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Problem, Problems, Source};
use crate::yaml::{self, SpanIndex};

/// Bounds on what a file may cost to read; a config is tiny, a fixture with rows is not.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    /// Values in the document after alias expansion.
    pub max_nodes: usize,
    /// Bytes after alias expansion (see [`yaml::MAX_EXPANDED`]); a file whose own text is larger
    /// gets a few times its size, so a large fixture with rows and no aliases still reads.
    /// Alias copies alone never get more than [`yaml::MAX_EXPANDED`].
    pub max_expanded: usize,
}

impl Limits {
    fn expanded_for(&self, text_len: usize) -> usize {
        self.max_expanded
            .max(text_len.saturating_mul(EXPANDED_PER_BYTE))
    }
}

/// Keys and paths make the tree several times the text: a snapshot fixture's row values sit
/// under paths like `dataverse[0].tables.msdyn_x.rows[4123].name`.
const EXPANDED_PER_BYTE: usize = 8;

pub const CONFIG_LIMITS: Limits = Limits {
    max_bytes: 1024 * 1024,
    max_nodes: yaml::MAX_NODES,
    max_expanded: yaml::MAX_EXPANDED,
};

/// Read a file as UTF-8 text, refusing what cannot be a YAML document.
pub fn read_source(path: &Path, limits: Limits) -> Result<Source, Problem> {
    let shown = path.display().to_string();
    let meta = fs::metadata(path).map_err(|e| {
        let (code, msg, help) = match e.kind() {
            std::io::ErrorKind::NotFound => (
                "dwlink::config::not_found",
                format!("{shown}: no such file"),
                "pass the config with -f FILE, or run dwlink where dwlink.yaml is; `dwlink import` writes one from live state",
            ),
            std::io::ErrorKind::PermissionDenied => (
                "dwlink::config::unreadable",
                format!("{shown}: permission denied"),
                "make the file readable by this user",
            ),
            _ => (
                "dwlink::config::unreadable",
                format!("{shown}: {e}"),
                "check the path",
            ),
        };
        Problem::error(code, msg).help(help)
    })?;
    if meta.is_dir() {
        return Err(Problem::error(
            "dwlink::config::not_a_file",
            format!("{shown} is a directory, not a YAML file"),
        )
        .help(format!(
            "name a file inside it, e.g. `-f {shown}/dwlink.yaml`"
        )));
    }
    // Checked before opening: opening a FIFO for reading blocks until a writer appears, and a
    // device such as /dev/zero never ends.
    if !meta.is_file() {
        return Err(Problem::error(
            "dwlink::config::not_a_file",
            format!(
                "{shown} is {}, not a regular file",
                special_file_kind(&meta)
            ),
        )
        .help("pass a regular YAML file with -f FILE; save piped or generated content to a file first"));
    }
    if meta.len() > limits.max_bytes {
        return Err(Problem::error(
            "dwlink::config::too_large",
            format!(
                "{shown} is {} bytes; the limit is {} bytes",
                meta.len(),
                limits.max_bytes
            ),
        )
        .help("this is not a dwlink file; check that -f names the right one"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    fs::File::open(path)
        .and_then(|f| f.take(limits.max_bytes + 1).read_to_end(&mut bytes))
        .map_err(|e| {
            Problem::error("dwlink::config::unreadable", format!("{shown}: {e}"))
                .help("check the path and its permissions")
        })?;
    source_from_bytes(&shown, bytes, limits)
}

#[cfg(unix)]
fn special_file_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_meta: &fs::Metadata) -> &'static str {
    "a special file"
}

pub fn source_from_bytes(name: &str, bytes: Vec<u8>, limits: Limits) -> Result<Source, Problem> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Problem::error(
            "dwlink::config::too_large",
            format!("{name} is over {} bytes", limits.max_bytes),
        )
        .help("this is not a dwlink file; check that -f names the right one"));
    }
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..3);
            }
            // Raw control characters are not YAML, and echoing them into a snippet would let a
            // file drive the user's terminal (escape sequences), so they are refused up front.
            if let Some((at, c)) = text
                .char_indices()
                .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                let shown = Source::new(name, printable(&text));
                return Err(Problem::error(
                    "dwlink::config::control_character",
                    format!(
                        "{name} contains the control character U+{:04X}; it looks like a binary file",
                        c as u32
                    ),
                )
                .in_source(&shown)
                .at(at..at + c.len_utf8(), "control character")
                .help("a dwlink file is YAML text; write special characters as escapes inside double quotes, e.g. \"\\e\""));
            }
            Ok(Source::new(name, text))
        }
        Err(e) => {
            // Show only the valid text before the first bad byte: it is enough to find the spot
            // and keeps binary garbage off the terminal.
            let at = e.utf8_error().valid_up_to();
            let prefix = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
            let mut shown = printable(prefix);
            shown.push('\u{fffd}');
            let shown = Source::new(name, shown);
            Err(Problem::error(
                "dwlink::config::not_utf8",
                format!("{name} is not UTF-8 text; it looks like a binary file"),
            )
            .in_source(&shown)
            .at(at..at + '\u{fffd}'.len_utf8(), "not UTF-8")
            .help("a dwlink file is YAML text saved as UTF-8"))
        }
    }
}

/// `text` with every control character but tab and newlines replaced by `?` bytes, keeping byte
/// offsets unchanged so spans computed on the original still fit.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
                "?".repeat(c.len_utf8())
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Everything learnt from one file: the typed value when it is sound, and all problems.
pub struct Parsed<T> {
    pub value: Option<T>,
    pub index: SpanIndex,
    pub problems: Problems,
    /// The document as JSON, for rules that look past schema errors.
    pub json: Value,
}

/// YAML source → `T`, checked against `schema` first so that every structural problem is
/// reported with its span.
pub fn parse_typed<T: DeserializeOwned>(
    source: &Source,
    schema: &'static Value,
    empty_help: &str,
    limits: Limits,
) -> Parsed<T> {
    let mut parsed = Parsed {
        value: None,
        index: SpanIndex::default(),
        problems: Problems::default(),
        json: Value::Null,
    };
    let max_expanded = limits.expanded_for(source.text().len());
    let root = match yaml::parse_limited(source, limits.max_nodes, max_expanded) {
        Ok(Some(root)) => root,
        Ok(None) => {
            let end = source.text().len();
            parsed.problems.push(
                Problem::error(
                    "dwlink::config::empty",
                    format!("{} is empty", source.name()),
                )
                .in_source(source)
                .at(0..end, "no YAML document here")
                .help(empty_help.to_string()),
            );
            return parsed;
        }
        Err(p) => {
            parsed.problems.push(p);
            return parsed;
        }
    };
    parsed.index = SpanIndex::build(&root);
    let json = yaml::to_json(&root);
    if json.is_null() {
        parsed.problems.push(
            Problem::error(
                "dwlink::config::empty",
                format!("{} holds no values", source.name()),
            )
            .in_source(source)
            .at(0..source.text().len(), "nothing but comments")
            .help(empty_help.to_string()),
        );
        return parsed;
    }
    parsed.problems = super::schema::check(schema, &json, &parsed.index, source);
    parsed.json = json;
    if parsed.problems.has_errors() {
        return parsed;
    }
    let options = serde_saphyr::options! { with_snippet: false };
    match serde_saphyr::from_str_with_options::<T>(source.text(), options) {
        Ok(v) => parsed.value = Some(v),
        Err(e) => {
            let span = e
                .location()
                .and_then(|l| {
                    let s = l.span();
                    let start = s.byte_offset()? as usize;
                    Some(start..start + s.byte_len().unwrap_or(0) as usize)
                })
                .unwrap_or(0..0);
            parsed.problems.push(
                Problem::error("dwlink::config::invalid", e.without_snippet().to_string())
                    .in_source(source)
                    .at(span, "here")
                    .help("compare with the config reference in README.md or `dwlink schema`"),
            );
        }
    }
    parsed
}
