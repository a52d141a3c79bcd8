//! Snippets of very long lines. miette draws a line whole and panics on columns past 65,535; a
//! minified or generated file can have a line of a megabyte. Such lines are shown as windows
//! around the labels on them, every newline kept so line numbers stay true, and the header's
//! column is translated back to the original line.

use std::fmt;
use std::ops::Range;

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};

use dwlink_core::diag::Problem;

/// Lines up to this many bytes are shown whole.
const MAX_LINE: usize = 200;
/// Bytes kept before and after each label end on a long line.
const BEFORE: usize = 40;
const AFTER: usize = 80;
const GAP: &str = "…";

/// A run of the original text kept in the clipped text.
struct Piece {
    new: usize,
    orig: usize,
    len: usize,
}

pub struct Clipped<'a> {
    problem: &'a Problem,
    source: ClippedSource<'a>,
    labels: Vec<(Range<usize>, Option<String>, bool)>,
}

struct ClippedSource<'a> {
    name: String,
    original: &'a str,
    text: String,
    pieces: Vec<Piece>,
}

/// `None` when no line near a label is too long to show whole.
pub fn clipped(problem: &Problem) -> Option<Clipped<'_>> {
    let source = problem.source.as_ref()?;
    let text = source.text();
    let spans: Vec<Range<usize>> = problem
        .labels
        .iter()
        .map(|l| {
            let start = l.span.start.min(text.len());
            start..l.span.end.clamp(start, text.len())
        })
        .collect();
    let lines = shown_lines(text, &spans);
    let long = |i: usize| lines[i].len() > MAX_LINE;
    if !(0..lines.len()).any(long) {
        return None;
    }
    let mut out = ClippedSource {
        name: source.name().to_string(),
        original: text,
        text: String::with_capacity(text.len()),
        pieces: Vec::new(),
    };
    let mut at = 0;
    for (i, line) in lines.iter().enumerate() {
        if !long(i) {
            continue;
        }
        out.keep(at..line.start);
        let points = spans
            .iter()
            .flat_map(|s| [s.start, s.end])
            .filter(|p| line.contains(p) || *p == line.end);
        let mut windows: Vec<Range<usize>> = points
            .map(|p| p.saturating_sub(BEFORE).max(line.start)..(p + AFTER).min(line.end))
            .collect();
        if windows.is_empty() {
            windows.push(line.start..line.start + AFTER);
        }
        windows.sort_by_key(|w| w.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for w in windows {
            match merged.last_mut() {
                Some(last) if w.start <= last.end + GAP.len() => last.end = last.end.max(w.end),
                _ => merged.push(w),
            }
        }
        let mut cut = line.start;
        for w in merged {
            let w = text.floor_char_boundary(w.start).max(cut)..text.ceil_char_boundary(w.end);
            if w.start > cut {
                out.text.push_str(GAP);
            }
            out.keep(w.clone());
            cut = w.end;
        }
        if cut < line.end {
            out.text.push_str(GAP);
        }
        at = line.end;
    }
    out.keep(at..text.len());
    let labels = problem
        .labels
        .iter()
        .zip(&spans)
        .map(|(l, s)| {
            let mut label = l.text.clone();
            let line = lines.partition_point(|r| r.end < s.start);
            // Once per snippet is enough: on the primary label.
            let clipped_line = lines.get(line).filter(|r| r.len() > MAX_LINE && l.primary);
            if let Some(r) = clipped_line {
                let number = memchr::memchr_iter(b'\n', &text.as_bytes()[..r.start]).count() + 1;
                let note = format!(
                    "line {number} is {} bytes long, shown in part",
                    dwlink_core::plan::describe::thousands(r.len())
                );
                label = if label.is_empty() {
                    note
                } else {
                    format!("{label} ({note})")
                };
            }
            let start = out.to_new(s.start);
            let end = out.to_new(s.end).max(start);
            (start..end, (!label.is_empty()).then_some(label), l.primary)
        })
        .collect();
    Some(Clipped {
        problem,
        source: out,
        labels,
    })
}

/// The lines miette draws for these labels (each label's lines and one line of context on
/// either side), sorted, as byte ranges without their line breaks. Found from the labels
/// outwards, so a problem in a file of 100,000 lines does not split all of them.
fn shown_lines(text: &str, spans: &[Range<usize>]) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let line_start = |at: usize| memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
    let line_end = |at: usize| memchr::memchr(b'\n', &bytes[at..]).map_or(text.len(), |i| at + i);
    let mut regions: Vec<Range<usize>> = spans
        .iter()
        .map(|s| {
            let first = line_start(s.start);
            let first = if first > 0 { line_start(first - 1) } else { 0 };
            let last = line_end(s.end);
            let last = if last < text.len() {
                line_end(last + 1)
            } else {
                last
            };
            first..last
        })
        .collect();
    regions.sort_by_key(|r| r.start);
    let mut lines = Vec::new();
    let mut done = 0;
    for r in regions {
        let mut start = r.start.max(done);
        if start > r.end {
            continue;
        }
        while start <= r.end {
            let end = line_end(start);
            lines.push(start..end);
            start = end + 1;
        }
        done = start;
    }
    lines
}

impl ClippedSource<'_> {
    fn keep(&mut self, orig: Range<usize>) {
        let len = orig.len();
        if len == 0 {
            return;
        }
        let new = self.text.len();
        self.text.push_str(&self.original[orig.clone()]);
        match self.pieces.last_mut() {
            Some(p) if p.orig + p.len == orig.start && p.new + p.len == new => p.len += len,
            _ => self.pieces.push(Piece {
                new,
                orig: orig.start,
                len,
            }),
        }
    }

    /// An offset into the original as an offset into the clipped text; an offset that was
    /// cut away lands at the end of the text kept before it.
    fn to_new(&self, orig: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.orig <= orig);
        match i.checked_sub(1).map(|i| &self.pieces[i]) {
            Some(p) => p.new + (orig - p.orig).min(p.len),
            None => 0,
        }
    }

    fn to_orig(&self, new: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.new <= new);
        match i.checked_sub(1).map(|i| &self.pieces[i]) {
            Some(p) => p.orig + (new - p.new).min(p.len),
            None => 0,
        }
    }
}

impl SourceCode for ClippedSource<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.as_str().read_span(span, before, after)?;
        // Without context the column is the one miette prints in the header: make it the
        // column in the original line.
        let column = if before == 0 {
            let orig = self.to_orig(span.offset());
            let line_start = self.original[..orig].rfind('\n').map_or(0, |i| i + 1);
            orig - line_start
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )))
    }
}

impl fmt::Debug for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.problem, f)
    }
}

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.problem, f)
    }
}

impl std::error::Error for Clipped<'_> {}

impl Diagnostic for Clipped<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem.code()
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.problem.severity()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Diagnostic::help(self.problem)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().map(|(span, text, primary)| {
            if *primary {
                LabeledSpan::new_primary_with_span(text.clone(), span.clone())
            } else {
                LabeledSpan::new_with_span(text.clone(), span.clone())
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dwlink_core::diag::{Problem, Source};
    use dwlink_core::plan::describe::thousands;

    #[test]
    fn labels_far_along_a_long_line_are_drawn_in_windows_with_true_positions() {
        let line = format!("list: [A1{}, A1]", ", B2".repeat(30_000));
        let text = format!("a: 1\n{line}\nb: 2\n");
        let second = 5 + line.rfind("A1").unwrap();
        let p = Problem::error("dwlink::test", "listed twice")
            .in_source(&Source::new("t.yaml", text.clone()))
            .at(second..second + 2, "duplicate")
            .also(12..14, "first listed here");
        let shown = super::super::shell::render_problem(&p, false);
        assert!(shown.len() < 2_000, "{} bytes:\n{shown}", shown.len());
        assert!(shown.contains("[t.yaml:2:"), "{shown}");
        let column = second - 5 + 1;
        assert!(shown.contains(&format!("[t.yaml:2:{column}]")), "{shown}");
        let note = format!(
            "duplicate (line 2 is {} bytes long, shown in part)",
            thousands(line.len())
        );
        assert!(shown.contains(&note), "{shown}");
        assert!(shown.contains("first listed here"), "{shown}");
        assert!(
            shown.contains(" 1 │ a: 1") && shown.contains(" 3 │ b: 2"),
            "{shown}"
        );

        let short = Problem::error("dwlink::test", "short")
            .in_source(&Source::new("t.yaml", text[..4].to_string()))
            .at(3..4, "here");
        assert!(clipped(&short).is_none());
    }
}
