//! The part of a file that one diagnostic shows, for the human renderer (`render::human`):
//! only the lines around its labels, each line cut around its labels when it is long (as
//! rustc does), with label spans clamped into the text and onto character boundaries.
//!
//! miette reads a report's source through [`SourceCode::read_span`] and draws every line of
//! what it gets, from the line's first byte. Given the whole file it scans from byte 0 for each
//! diagnostic (quadratic in a file with many findings) and echoes a 5 MB line whole; a label
//! far into a line makes it format with a width it cannot hold and panic. A [`Snippet`] holds
//! a few short lines instead, built with the file's line index, so the work per diagnostic is
//! bounded by the lines it shows, not by the file.

use std::ops::Range;

use callscript_compiler::source::Source;
use callscript_compiler::span::Span;
use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// A line longer than this (in characters) is cut around its first label.
pub const MAX_LINE_CHARS: usize = 200;
/// Characters kept before the first label of a cut line.
const BEFORE_LABEL: usize = 60;
/// Characters kept from the first label on, in a cut line.
const FROM_LABEL: usize = 140;
/// A label over more lines than this is shown on its first line only.
const MAX_LABEL_LINES: usize = 12;
/// Lines shown before and after the lines of a label (miette's own default is 1 too).
const CONTEXT_LINES: usize = 1;
/// Labels whose shown lines are at most this many lines apart are drawn together, with the
/// lines between them; farther apart, each is drawn on its own.
const MAX_GAP_LINES: usize = 8;
/// What stands for the cut part of a line.
const ELLIPSIS: &str = "…";

/// One shown line: where its shown part lies in the file and in the snippet.
#[derive(Debug)]
struct ShownLine {
    /// 0-based line number in the file.
    line: usize,
    /// The file's bytes shown (a part of the line when it is cut).
    real: Range<usize>,
    /// Where the line starts in the snippet's text, and how long its `…` prefix is.
    at: usize,
    prefix: usize,
}

/// Consecutive shown lines; miette may combine labels within one group, never across groups.
#[derive(Debug)]
struct Group {
    lines: Range<usize>,
}

/// The text one diagnostic shows, with its labels' spans mapped into it.
pub struct Snippet<'a> {
    name: String,
    source: &'a Source,
    text: String,
    lines: Vec<ShownLine>,
    groups: Vec<Group>,
}

impl<'a> Snippet<'a> {
    /// The lines of `source` around `spans` (the labels in this file), cut where long. Spans
    /// are clamped into the text first.
    pub fn new(source: &'a Source, spans: &[Span]) -> Snippet<'a> {
        let spans: Vec<Range<usize>> = spans.iter().map(|s| clamp(source, *s)).collect();
        // Which lines each label needs, with context; then the merged ranges of lines.
        let last_line = source.line_count() - 1;
        let mut ranges: Vec<Range<usize>> = spans
            .iter()
            .map(|s| {
                let first = source.line_of(s.start);
                let last = source.line_of(s.end).min(first + MAX_LABEL_LINES);
                first.saturating_sub(CONTEXT_LINES)..(last + CONTEXT_LINES).min(last_line) + 1
            })
            .collect();
        let primary_line = spans.first().map(|s| source.line_of(s.start));
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end + MAX_GAP_LINES => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        // The primary label's lines come first in the snippet, so miette draws them first,
        // under a `file:line:column` header that names the primary label (as in JSON).
        if let Some(i) = merged.iter().position(|r| primary_line.is_some_and(|l| r.contains(&l))) {
            let first = merged.remove(i);
            merged.insert(0, first);
        }
        let mut snippet =
            Snippet { name: source.name.clone(), source, text: String::new(), lines: Vec::new(), groups: Vec::new() };
        for range in merged {
            let first = snippet.lines.len();
            for line in range {
                let whole = source.line_range(line);
                let anchor = spans.iter().map(|s| s.start).filter(|s| whole.contains(s)).min();
                snippet.push_line(line, whole, anchor);
            }
            snippet.groups.push(Group { lines: first..snippet.lines.len() });
        }
        snippet
    }

    fn push_line(&mut self, line: usize, whole: Range<usize>, anchor: Option<usize>) {
        let text = &self.source.text[whole.clone()];
        let real = if text.chars().nth(MAX_LINE_CHARS).is_none() {
            whole.clone()
        } else {
            let anchor = anchor.unwrap_or(whole.start) - whole.start;
            let start = text[..anchor].char_indices().rev().nth(BEFORE_LABEL - 1).map_or(0, |(i, _)| i);
            let end = text[anchor..].char_indices().nth(FROM_LABEL).map_or(text.len(), |(i, _)| anchor + i);
            whole.start + start..whole.start + end
        };
        let at = self.text.len();
        let prefix = if real.start > whole.start { ELLIPSIS.len() } else { 0 };
        if prefix > 0 {
            self.text.push_str(ELLIPSIS);
        }
        self.text.push_str(&self.source.text[real.clone()]);
        if real.end < whole.end {
            self.text.push_str(ELLIPSIS);
        }
        self.text.push('\n');
        self.lines.push(ShownLine { line, real, at, prefix });
    }

    /// Where a byte of the file is in the snippet (a byte in a cut part goes to the nearest
    /// shown end; one on no shown line to the start of the snippet).
    fn map(&self, offset: usize) -> usize {
        let Some(shown) = self.shown_line_of(offset) else { return 0 };
        let offset = offset.clamp(shown.real.start, shown.real.end);
        shown.at + shown.prefix + (offset - shown.real.start)
    }

    /// The shown line of a byte of the file. The primary label's group comes first, so the
    /// lines are not in file order; they are few (a handful per label).
    fn shown_line_of(&self, offset: usize) -> Option<&ShownLine> {
        let line = self.source.line_of(offset);
        self.lines.iter().find(|l| l.line == line)
    }

    /// A file span as a span of the snippet; a label over many lines ends on its first.
    pub fn span(&self, span: Span) -> SourceSpan {
        let real = clamp(self.source, span);
        let start = self.map(real.start);
        let first = self.source.line_of(real.start);
        let end = if self.source.line_of(real.end) > first + MAX_LABEL_LINES {
            self.map(self.source.line_range(first).end)
        } else {
            self.map(real.end)
        };
        SourceSpan::new(start.into(), end.max(start) - start)
    }

    /// The shown line holding a snippet offset, and its index.
    fn line_at(&self, offset: usize) -> Option<usize> {
        let i = self.lines.partition_point(|l| l.at <= offset);
        i.checked_sub(1)
    }

    /// The file's 0-based line and character column of a snippet offset.
    fn real_position(&self, offset: usize) -> (usize, usize) {
        let Some(i) = self.line_at(offset) else { return (0, 0) };
        let shown = &self.lines[i];
        let real = shown.real.start + offset.saturating_sub(shown.at + shown.prefix);
        let real = real.min(shown.real.end);
        let whole = self.source.line_range(shown.line);
        let column = self.source.text.get(whole.start..real).map_or(0, |t| t.chars().count());
        (shown.line, column)
    }
}

/// A span as a byte range inside the text, both ends on character boundaries.
fn clamp(source: &Source, span: Span) -> Range<usize> {
    let floor = |mut i: usize| {
        i = i.min(source.text.len());
        while !source.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(span.start as usize);
    let end = floor(span.end as usize).max(start);
    start..end
}

impl SourceCode for Snippet<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let start = span.offset();
        let end = start + span.len();
        let first = self.line_at(start).ok_or(MietteError::OutOfBounds)?;
        let last = self.line_at(end.saturating_sub(1).max(start)).ok_or(MietteError::OutOfBounds)?;
        let group = self.groups.iter().find(|g| g.lines.contains(&first)).ok_or(MietteError::OutOfBounds)?;
        if !group.lines.contains(&last) {
            // Labels of two groups are drawn apart; miette then does not combine them.
            return Err(MietteError::OutOfBounds);
        }
        if context_lines_before == 0 && context_lines_after == 0 {
            // The header's `file:line:column`: the place in the file, columns in characters.
            let (line, column) = self.real_position(start);
            let data = &self.text.as_bytes()[start.min(self.text.len())..end.min(self.text.len())];
            return Ok(Box::new(MietteSpanContents::new_named(self.name.clone(), data, *span, line, column, 1)));
        }
        let from = first.saturating_sub(context_lines_before).max(group.lines.start);
        let to = (last + context_lines_after).min(group.lines.end - 1);
        let data_start = self.lines[from].at;
        let data_end = self.lines.get(to + 1).map_or(self.text.len(), |l| l.at);
        // Without the last newline, as miette's own reader returns it.
        let data_end = if self.text[..data_end].ends_with('\n') { data_end - 1 } else { data_end };
        let data = &self.text.as_bytes()[data_start..data_end];
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data,
            SourceSpan::new(data_start.into(), data_end - data_start),
            self.lines[from].line,
            0,
            // Counted to the end of the group: miette draws two labels in one piece when the
            // first one's lines reach the second's, so labels of one group are drawn together.
            group.lines.end - from,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str, spans: &[(u32, u32)]) -> String {
        let source = Source::new("a.call", text);
        let spans: Vec<Span> = spans.iter().map(|&(s, e)| Span::new(s as usize, e as usize)).collect();
        Snippet::new(&source, &spans).text
    }

    #[test]
    fn shows_label_lines_with_one_line_of_context() {
        let text = "l0\nl1\nl2\nl3\nl4\nl5\nl6\n";
        assert_eq!(shown(text, &[(9, 11)]), "l2\nl3\nl4\n");
        // Near labels are drawn together, with the lines between them.
        assert_eq!(shown(text, &[(0, 1), (18, 19)]), "l0\nl1\nl2\nl3\nl4\nl5\nl6\n\n");
    }

    #[test]
    fn far_labels_are_drawn_apart_the_primary_first() {
        let text: String = (0..30).map(|i| format!("l{i:02}\n")).collect();
        let at = |line: u32| (line * 4, line * 4 + 1);
        assert_eq!(shown(&text, &[at(0), at(20)]), "l00\nl01\nl19\nl20\nl21\n");
        assert_eq!(shown(&text, &[at(20), at(0)]), "l19\nl20\nl21\nl00\nl01\n");
    }

    #[test]
    fn cuts_a_long_line_around_its_label() {
        let line = format!("{}X{}", "a".repeat(5_000), "b".repeat(5_000));
        let out = shown(&line, &[(5_000, 5_001)]);
        assert_eq!(out, format!("…{}X{}…\n", "a".repeat(BEFORE_LABEL), "b".repeat(FROM_LABEL - 1)));
    }

    #[test]
    fn short_lines_and_chinese_lines_are_not_cut() {
        let line = "您".repeat(MAX_LINE_CHARS);
        assert_eq!(shown(&line, &[(3, 6)]), format!("{line}\n"));
    }

    #[test]
    fn spans_are_clamped_and_mapped() {
        let source = Source::new("a.call", format!("x\n{}Y\n", "长".repeat(1_000)));
        let snippet = Snippet::new(&source, &[Span::new(3_002, 3_003), Span::new(1, 99_999)]);
        let y = snippet.span(Span::new(3_002, 3_003));
        assert_eq!(&snippet.text[y.offset()..y.offset() + y.len()], "Y");
        // Inside a character and past the end: moved to boundaries, never out of the text.
        let odd = snippet.span(Span::new(4, 99_999));
        assert!(odd.offset() + odd.len() <= snippet.text.len());
        let (line, column) = snippet.real_position(y.offset());
        assert_eq!((line, column), (1, 1_000));
    }

    /// Any spans (inside characters, past the end, reversed, over many lines) on any text
    /// (long lines, tabs, CR, Chinese, empty) render without a panic, and no rendered line is
    /// much longer than a cut line. A seeded generator, so a failure reproduces.
    #[test]
    fn rendering_never_panics_on_random_spans() {
        use callscript_compiler::diagnostic::Diagnostic;
        use callscript_compiler::source::Sources;
        use callscript_compiler::span::SourceId;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let pieces = ["a", "长", "\n", "\t", "\r\n", "{", "}", " ", "𝄞", "x".repeat(300).leak(), "\u{301}"];
        for _ in 0..400 {
            let text: String = (0..next(60)).map(|_| pieces[next(pieces.len())]).collect();
            let len = text.len() + 8;
            let mut sources = Sources::new();
            let file = sources.add(Source::new("r.call", text));
            let mut span = || {
                let (a, b) = (next(len) as u32, next(len) as u32);
                Span { start: a, end: b }
            };
            let diags: Vec<Diagnostic> = (0..3)
                .map(|_| {
                    Diagnostic::new("E001", file, span(), "m")
                        .label("here")
                        .with_secondary(file, span(), "there")
                        .with_secondary(SourceId(0), span(), "again")
                })
                .collect();
            let out = crate::render::human(&diags, &sources, false);
            let widest = out.lines().map(|l| l.chars().count()).max().unwrap_or(0);
            assert!(widest < 400, "a line of {widest} characters:\n{out}");
        }
    }
}
