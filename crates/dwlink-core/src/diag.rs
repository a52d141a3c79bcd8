//! Diagnostics as values: collected deep inside the library, rendered once by the Ui.
//!
//! A [`Problem`] carries a stable code, a severity, a message that names concrete values, a help
//! line and labelled byte spans into a named source, so miette can draw a caret under the
//! offending YAML value.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A file's text under the name the user knows it by; shared by every problem found in it.
#[derive(Clone)]
pub struct Source(Arc<NamedSource<String>>);

impl Source {
    pub fn new(name: impl AsRef<str>, text: String) -> Self {
        Source(Arc::new(NamedSource::new(name, text).with_language("yaml")))
    }

    /// A JSON file (a recording).
    pub fn json(name: impl AsRef<str>, text: String) -> Self {
        Source(Arc::new(NamedSource::new(name, text).with_language("json")))
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub fn text(&self) -> &str {
        self.0.inner()
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({})", self.name())
    }
}

#[derive(Debug, Clone)]
pub struct Label {
    pub span: Range<usize>,
    pub text: String,
    pub primary: bool,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    pub labels: Vec<Label>,
    pub source: Option<Source>,
}

impl Problem {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity: Severity::Error,
            message: message.into(),
            help: None,
            labels: Vec::new(),
            source: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(code, message)
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn in_source(mut self, source: &Source) -> Self {
        self.source = Some(source.clone());
        self
    }

    /// The caret: where the problem is.
    pub fn at(mut self, span: Range<usize>, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            text: text.into(),
            primary: true,
        });
        self
    }

    /// A secondary label, e.g. the first occurrence of a duplicate.
    pub fn also(mut self, span: Range<usize>, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            text: text.into(),
            primary: false,
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The problem as it may be drawn: message, help and label texts clipped ([`clip`]) and
    /// labels over many lines cut to their first, so one diagnostic costs a few KB whatever it
    /// quotes.
    pub fn bounded(&self) -> Problem {
        let text = self.source.as_ref().map_or("", |s| s.text());
        Problem {
            code: self.code,
            severity: self.severity,
            message: clip(&self.message, MAX_MESSAGE).into_owned(),
            help: self
                .help
                .as_deref()
                .map(|h| clip(h, MAX_MESSAGE).into_owned()),
            labels: self
                .labels
                .iter()
                .map(|l| Label {
                    span: first_lines(text, l.span.clone()),
                    text: clip(&l.text, MAX_RUN).into_owned(),
                    primary: l.primary,
                })
                .collect(),
            source: self.source.clone(),
        }
    }

    /// 1-based line and column of the primary label, for machine-readable output.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let src = self.source.as_ref()?;
        let span = self.labels.iter().find(|l| l.primary)?.span.clone();
        Some(line_col(src.text(), span.start))
    }
}

/// `span` as drawn: cut at the end of its first line when it runs over [`MAX_SPAN_LINES`].
fn first_lines(text: &str, span: Range<usize>) -> Range<usize> {
    let start = span.start.min(text.len());
    let end = span.end.clamp(start, text.len());
    let bytes = &text.as_bytes()[start..end];
    if bytes
        .iter()
        .filter(|&&b| b == b'\n')
        .nth(MAX_SPAN_LINES)
        .is_none()
    {
        return span;
    }
    let first = bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(end, |i| start + i);
    start
        ..start
            + text[start..first]
                .trim_end()
                .len()
                .max(1)
                .min(first - start)
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&clip(&self.message, MAX_MESSAGE))
    }
}

/// Characters of one quoted value (a run without whitespace) a diagnostic shows.
pub const MAX_RUN: usize = 200;
/// Characters of a whole message or help line.
pub const MAX_MESSAGE: usize = 2_000;
/// A label spanning more lines than this is drawn on its first line only: a whole file's span
/// (an empty or comments-only file) would otherwise be printed whole.
pub const MAX_SPAN_LINES: usize = 12;

/// `text` with every run of more than [`MAX_RUN`] non-blank characters, and then the whole, cut
/// to its first characters and "… (N more)": a diagnostic quotes what the user wrote, and what
/// the user wrote can be a megabyte.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    // `…` ends a run, so clipping clipped text changes nothing.
    let breaks = |c: char| c.is_whitespace() || c == '…';
    let long_run = text
        .split(breaks)
        .any(|run| run.len() > MAX_RUN && run.chars().count() > MAX_RUN);
    if !long_run && (text.len() <= max || text.chars().count() <= max) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(max.min(text.len()) + 32);
    let mut run = 0usize;
    let mut dropped = 0usize;
    for c in text.chars() {
        if breaks(c) {
            if dropped > 0 {
                out.push_str(&more(dropped));
                dropped = 0;
            }
            run = 0;
            out.push(c);
        } else if run < MAX_RUN {
            run += 1;
            out.push(c);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        out.push_str(&more(dropped));
    }
    let total = out.chars().count();
    if total > max {
        let cut: String = out.chars().take(max).collect();
        return std::borrow::Cow::Owned(format!("{cut}{}", more(total - max)));
    }
    std::borrow::Cow::Owned(out)
}

fn more(n: usize) -> String {
    format!("… ({n} more)")
}

impl std::error::Error for Problem {}

impl miette::Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Info => miette::Severity::Advice,
            Severity::Warning => miette::Severity::Warning,
            Severity::Error => miette::Severity::Error,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| &*s.0 as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.source.is_none() || self.labels.is_empty() {
            return None;
        }
        let len = self.source.as_ref().map_or(0, |s| s.text().len());
        Some(Box::new(self.labels.iter().map(move |l| {
            let start = l.span.start.min(len);
            let end = l.span.end.clamp(start, len);
            let text = (!l.text.is_empty()).then(|| l.text.clone());
            if l.primary {
                LabeledSpan::new_primary_with_span(text, start..end)
            } else {
                LabeledSpan::new_with_span(text, start..end)
            }
        })))
    }
}

/// Everything found in one pass; callers decide whether warnings alone are fatal.
#[derive(Debug, Default, Clone)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }

    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Problem::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// Stable order for output and snapshots: by position in the file, then code.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by_key(|p| {
            let start = p
                .labels
                .iter()
                .find(|l| l.primary)
                .map_or(0, |l| l.span.start);
            (start, p.code)
        });
        self
    }
}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems(vec![p])
    }
}

#[cfg(test)]
mod clip_tests {
    use super::*;

    #[test]
    fn long_runs_are_cut_with_a_count_and_clipping_is_idempotent() {
        let text = format!("`{}` is not valid", "Q".repeat(1_000));
        let once = clip(&text, MAX_MESSAGE).into_owned();
        assert!(once.contains("… (802 more) is not valid"), "{once}");
        assert_eq!(clip(&once, MAX_MESSAGE), once);
        assert_eq!(clip("short", MAX_MESSAGE), "short");
        let words = "word ".repeat(1_000);
        let cut = clip(&words, 100);
        assert!(cut.ends_with("… (4900 more)"), "{cut}");
    }

    #[test]
    fn a_span_over_many_lines_is_drawn_on_its_first() {
        let text = "# a\n".repeat(100);
        let p = Problem::error("x", "m")
            .in_source(&Source::new("t", text))
            .at(0..400, "all of it");
        assert_eq!(p.bounded().labels[0].span, 0..3);
        let short = Problem::error("x", "m")
            .in_source(&Source::new("t", "a\nb\n".into()))
            .at(0..3, "two lines");
        assert_eq!(short.bounded().labels[0].span, 0..3);
    }
}
