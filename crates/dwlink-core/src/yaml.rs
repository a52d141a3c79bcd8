//! YAML text → a small node tree where every key and value knows its byte span.
//!
//! serde (and so serde-saphyr) stops at the first type error and forgets positions once a value
//! is deserialized. Validation must report *every* problem with a caret under the exact value, so
//! we read the parser's events once into this tree, check it structurally against the JSON Schema,
//! and look spans up by path (`link.legal_entities[2]`) for semantic errors later.
//!
//! Hostile input is bounded here: nesting depth, node count and bytes after alias expansion, so
//! "billion laughs" documents (many small values or a few huge ones aliased many times) are
//! refused while they are being read, before they cost more than a few times the limit.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::diag::{Problem, Source};

pub const MAX_DEPTH: usize = 64;
/// Default bound on values (after alias expansion) for small files such as configs.
pub const MAX_NODES: usize = 200_000;
/// Default bound on the document's size after alias expansion: the bytes of every key and value
/// plus the path each one is indexed under (`a.b[3].c`), which is what the tree, its JSON and its
/// span index cost in memory.
pub const MAX_EXPANDED: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Node {
    pub span: Range<usize>,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar { text: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Node,
}

/// Where each path's key and value sit in the source.
#[derive(Debug, Default, Clone)]
pub struct SpanIndex {
    values: HashMap<String, Range<usize>>,
    keys: HashMap<String, Range<usize>>,
}

impl SpanIndex {
    pub fn build(root: &Node) -> Self {
        let mut idx = SpanIndex::default();
        idx.walk(root, String::new());
        idx
    }

    fn walk(&mut self, node: &Node, path: String) {
        match &node.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, format!("{path}[{i}]"));
                }
            }
            NodeKind::Map(entries) => {
                for e in entries {
                    let child = join(&path, &e.key);
                    self.keys.insert(child.clone(), e.key_span.clone());
                    self.walk(&e.value, child);
                }
            }
        }
        self.values.insert(path, node.span.clone());
    }

    /// The value at `path`, or the nearest ancestor that exists (so a missing key points at the
    /// mapping that should hold it).
    pub fn value(&self, path: &str) -> Range<usize> {
        let mut p = path.to_string();
        loop {
            if let Some(s) = self.values.get(&p) {
                return s.clone();
            }
            match parent(&p) {
                Some(up) => p = up,
                None => return 0..0,
            }
        }
    }

    pub fn key(&self, path: &str) -> Range<usize> {
        self.keys
            .get(path)
            .cloned()
            .unwrap_or_else(|| self.value(path))
    }

    pub fn has(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn parent(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(path[..cut].to_string())
}

/// Parse one YAML document. `Ok(None)` means the document is empty.
pub fn parse(source: &Source) -> Result<Option<Node>, Problem> {
    parse_bounded(source, MAX_NODES)
}

/// [`parse`] with a caller-chosen bound on values: fixtures with explicit rows are large.
pub fn parse_bounded(source: &Source, max_nodes: usize) -> Result<Option<Node>, Problem> {
    parse_limited(source, max_nodes, MAX_EXPANDED)
}

/// [`parse_bounded`] with a caller-chosen bound on the expanded size in bytes too.
pub fn parse_limited(
    source: &Source,
    max_nodes: usize,
    max_expanded: usize,
) -> Result<Option<Node>, Problem> {
    let text = source.text();
    let mut b = Builder {
        text,
        source,
        nodes: 0,
        max_nodes,
        expanded: 0,
        aliased: 0,
        max_expanded,
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        docs: 0,
    };
    for item in Parser::new_from_str(text) {
        match item {
            Ok((event, span)) => {
                let start = byte_of(text, span.start.byte_offset(), span.start.index());
                let end = byte_of(text, span.end.byte_offset(), span.end.index()).max(start);
                b.event(event, start..end)?;
            }
            Err(e) => return Err(syntax_problem(source, &e)),
        }
    }
    Ok(b.root)
}

fn byte_of(text: &str, byte: Option<usize>, chars: usize) -> usize {
    byte.unwrap_or_else(|| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(i, _)| i)
    })
}

fn syntax_problem(source: &Source, e: &ScanError) -> Problem {
    let m = e.marker();
    let at = byte_of(source.text(), m.byte_offset(), m.index());
    let info = e.info();
    let line = source.text()[at.min(source.text().len())..]
        .lines()
        .next()
        .unwrap_or("");
    let tab_here = source.text()[..at.min(source.text().len())]
        .rsplit('\n')
        .next()
        .is_some_and(|l| l.contains('\t'))
        || line.starts_with('\t');
    // The scanner reports a tab where it gave up, after it; the caret belongs on the tab.
    let at = if info.contains("tab") {
        let text = source.text();
        let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        text[line_start..].find('\t').map_or(at, |i| line_start + i)
    } else {
        at
    };
    let help = if info.contains("tab") || tab_here {
        "YAML indentation must use spaces; replace the tab characters with spaces"
    } else {
        "fix the YAML syntax here; `dwlink validate` reports the remaining problems once it parses"
    };
    // The scanner has its own nesting limit, hit before our depth check when brackets are
    // unbalanced or nest past it; it is the same problem for the user.
    if info.contains("recursion limit") {
        return too_deep(source, at..at);
    }
    if info.contains("unknown anchor") {
        return Problem::error(
            "dwlink::yaml::unknown_alias",
            "this alias names no anchor defined before it",
        )
        .in_source(source)
        .at(at..at, "unknown alias")
        .help("define the anchor (`&name`) before the alias (`*name`) that uses it, or write the value out");
    }
    Problem::error("dwlink::yaml::syntax", format!("invalid YAML: {info}"))
        .in_source(source)
        .at(at..at, "here")
        .help(help)
}

fn too_deep(source: &Source, span: Range<usize>) -> Problem {
    Problem::error(
        "dwlink::yaml::too_deep",
        format!("the YAML nests deeper than {MAX_DEPTH} levels"),
    )
    .in_source(source)
    .at(span, "too deep")
    .help("a dwlink config nests at most three levels; remove the extra nesting")
}

struct Frame {
    start: usize,
    anchor: usize,
    /// Length of this collection's path in the span index.
    path_len: usize,
    kind: FrameKind,
}

/// What a copy of an anchored node costs: its values, and its bytes with paths measured from the
/// node itself (a copy at path P adds `nodes * len(P)` more).
#[derive(Clone, Copy)]
struct Weight {
    nodes: usize,
    bytes: usize,
}

enum FrameKind {
    Seq(Vec<Node>),
    /// Entries so far, a key waiting for its value, and where each key so far was written (a
    /// linear search for duplicates is quadratic in a generated mapping of 40,000 keys).
    Map(
        Vec<Entry>,
        Option<(String, Range<usize>)>,
        HashMap<String, Range<usize>>,
    ),
}

struct Builder<'a> {
    text: &'a str,
    source: &'a Source,
    nodes: usize,
    max_nodes: usize,
    expanded: usize,
    /// What alias copies alone added to `expanded`.
    aliased: usize,
    max_expanded: usize,
    anchors: HashMap<usize, (Node, Weight)>,
    stack: Vec<Frame>,
    root: Option<Node>,
    docs: usize,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Range<usize>) -> Result<(), Problem> {
        match event {
            Event::DocumentStart(..) => {
                self.docs += 1;
                if self.docs > 1 {
                    return Err(Problem::error(
                        "dwlink::yaml::multiple_documents",
                        "the file holds more than one YAML document",
                    )
                    .in_source(self.source)
                    .at(span, "a second document starts here")
                    .help("put each environment in its own file; `dwlink validate` accepts several -f"));
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    span: trim_span(self.text, span),
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain: matches!(style, ScalarStyle::Plain),
                    },
                };
                self.count(1, &node.span)?;
                let cost = self.child_path_len() + 2 * node_text_len(&node);
                self.grow(cost, &node.span)?;
                self.push(node, anchor)?;
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(too_deep(self.source, span));
                }
                self.count(1, &span)?;
                let path_len = self.child_path_len();
                self.grow(path_len, &span)?;
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    FrameKind::Seq(Vec::new())
                } else {
                    FrameKind::Map(Vec::new(), None, HashMap::new())
                };
                self.stack.push(Frame {
                    start: span.start,
                    anchor,
                    path_len,
                    kind,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let end = span.end.max(frame.start);
                let kind = match frame.kind {
                    FrameKind::Seq(items) => NodeKind::Seq(items),
                    FrameKind::Map(entries, _, _) => NodeKind::Map(entries),
                };
                let end = match &kind {
                    NodeKind::Seq(items) => items.last().map_or(end, |n| n.span.end.max(end)),
                    NodeKind::Map(entries) => {
                        entries.last().map_or(end, |e| e.value.span.end.max(end))
                    }
                    NodeKind::Scalar { .. } => end,
                };
                let node = Node {
                    span: frame.start..trim_end(self.text, frame.start, end),
                    kind,
                };
                self.push(node, frame.anchor)?;
            }
            Event::Alias(id) => {
                let Some((target, w)) = self.anchors.get(&id).cloned() else {
                    return Err(Problem::error(
                        "dwlink::yaml::unknown_alias",
                        "this alias names no anchor defined before it",
                    )
                    .in_source(self.source)
                    .at(span, "unknown alias"));
                };
                self.count(w.nodes, &span)?;
                let prefix = self.child_path_len();
                let copy = w.bytes.saturating_add(w.nodes.saturating_mul(prefix));
                // Copies are capped on their own: a large file's own allowance is for its text.
                self.aliased = self.aliased.saturating_add(copy);
                if self.aliased > MAX_EXPANDED {
                    self.expanded = usize::MAX;
                }
                self.grow(copy, &span)?;
                // The copy keeps the alias's own span so carets point where the user wrote `*x`.
                let node = relocate(target, &span);
                self.push(node, 0)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn count(&mut self, n: usize, span: &Range<usize>) -> Result<(), Problem> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.max_nodes {
            return Err(Problem::error(
                "dwlink::yaml::too_many_nodes",
                format!("the YAML expands to more than {} values", self.max_nodes),
            )
            .in_source(self.source)
            .at(span.clone(), "the limit is crossed here")
            .help("a dwlink config is small; check for runaway aliases (`*name`) or generated content"));
        }
        Ok(())
    }

    /// Length of the path the next value pushed gets (a key pushed gets none of its own).
    fn child_path_len(&self) -> usize {
        match self.stack.last() {
            None => 0,
            Some(f) => match &f.kind {
                FrameKind::Seq(items) => f.path_len + 2 + digits(items.len()),
                FrameKind::Map(_, Some((key, _)), _) => f.path_len + 1 + key.len(),
                FrameKind::Map(_, None, _) => 0,
            },
        }
    }

    fn grow(&mut self, bytes: usize, span: &Range<usize>) -> Result<(), Problem> {
        self.expanded = self.expanded.saturating_add(bytes);
        if self.expanded > self.max_expanded {
            return Err(Problem::error(
                "dwlink::yaml::too_large_expanded",
                format!(
                    "the YAML expands to more than {} MiB once its aliases are copied out",
                    if self.aliased > MAX_EXPANDED {
                        MAX_EXPANDED
                    } else {
                        self.max_expanded
                    } / (1024 * 1024)
                ),
            )
            .in_source(self.source)
            .at(span.clone(), "the limit is crossed here")
            .help("write the values out instead of aliasing large anchors (`*name`) many times, or split the file"));
        }
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Problem> {
        if anchor != 0 {
            let w = weight(&node);
            self.anchors.insert(anchor, (node.clone(), w));
        }
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut top.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map(entries, pending, seen) => match pending.take() {
                None => {
                    let NodeKind::Scalar { text, .. } = node.kind else {
                        return Err(Problem::error(
                            "dwlink::yaml::complex_key",
                            "a mapping key must be a plain string",
                        )
                        .in_source(self.source)
                        .at(node.span, "not a string key")
                        .help("write keys as `name: value`"));
                    };
                    if let Some(first) = seen.get(&text) {
                        return Err(Problem::error(
                            "dwlink::yaml::duplicate_key",
                            format!("the key `{text}` appears twice in the same mapping"),
                        )
                        .in_source(self.source)
                        .at(node.span, "duplicate key")
                        .also(first.clone(), "first defined here")
                        .help("keep one of them; YAML does not merge repeated keys"));
                    }
                    seen.insert(text.clone(), node.span.clone());
                    *pending = Some((text, node.span));
                }
                Some((key, key_span)) => entries.push(Entry {
                    key,
                    key_span,
                    value: node,
                }),
            },
        }
        Ok(())
    }
}

fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn node_text_len(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text.len(),
        _ => 0,
    }
}

/// Costs counted the way [`Builder::count`] and [`Builder::grow`] count them.
fn weight(node: &Node) -> Weight {
    let mut w = Weight { nodes: 0, bytes: 0 };
    add_weight(node, 0, &mut w);
    w
}

fn add_weight(node: &Node, path_len: usize, w: &mut Weight) {
    w.nodes = w.nodes.saturating_add(1);
    w.bytes = w.bytes.saturating_add(path_len + 2 * node_text_len(node));
    match &node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                add_weight(item, path_len + 2 + digits(i), w);
            }
        }
        NodeKind::Map(entries) => {
            for e in entries {
                // The key: a value of its own, its text kept twice (entry and index).
                w.nodes = w.nodes.saturating_add(1);
                w.bytes = w.bytes.saturating_add(2 * e.key.len());
                add_weight(&e.value, path_len + 1 + e.key.len(), w);
            }
        }
    }
}

fn relocate(mut node: Node, span: &Range<usize>) -> Node {
    node.span = span.clone();
    node.kind = match node.kind {
        NodeKind::Seq(items) => {
            NodeKind::Seq(items.into_iter().map(|n| relocate(n, span)).collect())
        }
        NodeKind::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|e| Entry {
                    key: e.key,
                    key_span: span.clone(),
                    value: relocate(e.value, span),
                })
                .collect(),
        ),
        k => k,
    };
    node
}

/// Block scalars and collections can swallow trailing newlines and comments; carets read better
/// when they stop at the last visible character.
fn trim_span(text: &str, span: Range<usize>) -> Range<usize> {
    span.start..trim_end(text, span.start, span.end)
}

fn trim_end(text: &str, start: usize, end: usize) -> usize {
    let end = end.min(text.len());
    let start = start.min(end);
    let Some(slice) = text.get(start..end) else {
        return end;
    };
    start + slice.trim_end().len()
}

/// JSON value of the tree, resolving plain scalars with the YAML 1.2 core schema (quoted scalars
/// are always strings), so the JSON Schema sees what serde will see.
pub fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar { text, plain } => {
            if *plain {
                resolve_plain(text)
            } else {
                Value::String(text.clone())
            }
        }
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => {
            let mut m = Map::new();
            for e in entries {
                m.insert(e.key.clone(), to_json(&e.value));
            }
            Value::Object(m)
        }
    }
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Number(i.into());
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Number(i.into());
        }
    }
    let looks_float = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(t: &str) -> Source {
        Source::new("t.yaml", t.to_string())
    }

    #[test]
    fn spans_point_at_values() {
        let s = src("link:\n  legal_entities: [USMF, DEMF, \"x y\"]\n");
        let root = parse(&s).unwrap().unwrap();
        let idx = SpanIndex::build(&root);
        let r = idx.value("link.legal_entities[2]");
        assert_eq!(&s.text()[r], "\"x y\"");
        let r = idx.key("link.legal_entities");
        assert_eq!(&s.text()[r], "legal_entities");
        let r = idx.value("link.legal_entities[1]");
        assert_eq!(&s.text()[r], "DEMF");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut t = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            t.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        let e = parse(&src(&t)).unwrap_err();
        assert_eq!(e.code, "dwlink::yaml::too_many_nodes");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let t = "[".repeat(500);
        assert!(parse(&src(&t)).is_err());
    }

    #[test]
    fn plain_scalars_resolve_like_yaml_1_2() {
        assert_eq!(resolve_plain("12"), Value::from(12));
        assert_eq!(resolve_plain("true"), Value::Bool(true));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("USMF"), Value::from("USMF"));
        assert_eq!(resolve_plain("4f2a4c1e-8a7e"), Value::from("4f2a4c1e-8a7e"));
    }
}
