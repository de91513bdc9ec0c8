//! Source files of one compilation and line/column conversion.

use crate::span::{SourceId, Span};

/// One source text with its name (a path as the user wrote it, or `std.zh.common`).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
    line_starts: Vec<u32>,
}

/// A 1-based line and column; the column counts Unicode scalar values (LANGUAGE.md §9.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

/// Where each line starts: 0, then the offset after each newline. The text is read 8 bytes at a
/// time, a word's newlines found at once as the high bits of its zero bytes after an xor;
/// `match_indices('\n')` started a search at each newline (123M instructions for the
/// 540k-line generated script, 56M now).
fn line_starts(text: &str) -> Vec<u32> {
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    let mut words = bytes.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ NEWLINES;
        // After the xor a newline is a zero byte. `(x & LOW7) + LOW7` sets a byte's high bit
        // when one of its low seven bits is set (never carrying into the next byte), `| x` when
        // its own high bit is: the high bits left clear, inverted, are the zero bytes.
        let mut newlines = !(((x & LOW7) + LOW7) | x | LOW7);
        while newlines != 0 {
            starts.push((n * 8 + newlines.trailing_zeros() as usize / 8 + 1) as u32);
            newlines &= newlines - 1;
        }
    }
    let rest = bytes.len() - words.remainder().len();
    starts
        .extend(words.remainder().iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| (rest + i + 1) as u32));
    starts
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let line_starts = line_starts(&text);
        Source { name: name.into(), text, line_starts }
    }

    /// Line and column of a byte offset (clamped into the text, moved back to a char boundary).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let mut offset = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s as usize <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let column = self.text[start..offset].chars().count() + 1;
        LineCol { line: line + 1, column }
    }

    /// The text of a span, or "" when the span is out of range.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }

    /// How many lines the text has (a text without a newline has one).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The 0-based line holding a byte offset (clamped into the text).
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s as usize <= offset.min(self.text.len())) - 1
    }

    /// The bytes of a 0-based line, without its `\n` (and `\r` before it).
    pub fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let start = self.line_starts.get(line).map_or(self.text.len(), |&s| s as usize);
        let mut end = self.line_starts.get(line + 1).map_or(self.text.len(), |&s| s as usize - 1);
        if end > start && self.text.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        start..end
    }

    /// The byte offset where a 1-based line starts.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line.checked_sub(1)?).map(|&s| s as usize)
    }
}

/// Every source of one compilation, addressed by [`SourceId`].
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<Source>,
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    pub fn add(&mut self, source: Source) -> SourceId {
        self.files.push(source);
        SourceId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: SourceId) -> &Source {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, name: &str) -> Option<SourceId> {
        self.files.iter().position(|s| s.name == name).map(|i| SourceId(i as u32))
    }

    pub fn iter(&self) -> impl Iterator<Item = (SourceId, &Source)> {
        self.files.iter().enumerate().map(|(i, s)| (SourceId(i as u32), s))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        let s = Source::new("a", "ab\n您好x\n");
        assert_eq!(s.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(s.line_col(3), LineCol { line: 2, column: 1 });
        assert_eq!(s.line_col(9), LineCol { line: 2, column: 3 });
        assert_eq!(s.line_col(4), LineCol { line: 2, column: 1 }); // inside 您
        assert_eq!(s.line_col(99), LineCol { line: 3, column: 1 });
    }

    #[test]
    fn line_starts_agree_with_a_search_for_each_newline() {
        // Newlines at both ends of the 8-byte words, in the remainder, and none at all.
        let mut texts = vec![String::new(), "x".into(), "\n".into(), "您好\r\n\n".repeat(30)];
        for at in [0, 62, 63, 64, 65, 127, 128, 130] {
            let mut text = "a".repeat(131);
            text.replace_range(at..=at, "\n");
            texts.push(text);
        }
        for text in texts {
            let searched: Vec<u32> =
                std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1)).collect();
            assert_eq!(line_starts(&text), searched, "{text:?}");
        }
    }
}
