//! CS004: no prompt contains a phrase the pack forbids for the script's purpose. The literal
//! text of each prompt is scanned (interpolated values are not known at compile time); a
//! phrase directly preceded by a negator of §6 (`pattern::NEGATORS`) is a disclosure
//! ("本产品不保本") and does not count, nor is one after a negated promise ("不承诺保本",
//! "不保证高收益": the negator, then 承诺, 保证 or 确保). Latin letters compare
//! case-insensitively, and a phrase that starts with a Latin letter or digit matches only at
//! the start of a word.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use super::{Analysis, Forbidden};
use crate::bytecode::PromptSegment;
use crate::diagnostic::Diagnostic;
use crate::pattern::NEGATORS;
use crate::span::{FileSpan, Span};

/// The size of the bit set of the phrases' first characters (a character's bit is its value
/// modulo this).
const FIRSTS_BITS: usize = 1024;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let lists: Vec<&Forbidden> = a.pack.forbidden.iter().filter(|f| f.purpose == code.purpose).collect();
    if lists.is_empty() {
        return;
    }
    // Phrases by their first character, so each prompt is scanned once (looked up once per
    // character of every prompt: FxHash, as SipHash showed in profiles of large scripts).
    let mut by_first: FxHashMap<char, Vec<(String, &Forbidden)>> = FxHashMap::default();
    for list in &lists {
        for phrase in &list.phrases {
            let lower = phrase.to_ascii_lowercase();
            if let Some(c) = lower.chars().next() {
                by_first.entry(c).or_default().push((lower, list));
            }
        }
    }
    // A bit per first character, by its low bits: most characters of a prompt start no phrase
    // and are passed over without a lookup.
    let bit = |c: char| (c as usize % FIRSTS_BITS / 64, 1u64 << (c as usize % 64));
    let mut firsts = [0u64; FIRSTS_BITS / 64];
    for &c in by_first.keys() {
        let (word, mask) = bit(c);
        firsts[word] |= mask;
    }
    for (p, prompt) in code.prompts.iter().enumerate() {
        // (segment, start, end, phrase, list) of every counting match.
        let mut matches: Vec<(usize, usize, usize, &str, &Forbidden)> = Vec::new();
        for (s, seg) in prompt.segments.iter().enumerate() {
            let PromptSegment::Text(text) = seg else { continue };
            // Lower-cased only when it has a capital to lower (few prompts do).
            let text = if text.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(text.to_ascii_lowercase())
            } else {
                Cow::Borrowed(text.as_str())
            };
            for (i, c) in text.char_indices() {
                let (word, mask) = bit(c);
                if firsts[word] & mask == 0 {
                    continue;
                }
                let Some(candidates) = by_first.get(&c) else { continue };
                for (phrase, list) in candidates {
                    if text[i..].starts_with(phrase.as_str())
                        && !negated(&text[..i])
                        && !(c.is_ascii_alphanumeric()
                            && text[..i].chars().next_back().is_some_and(|b| b.is_ascii_alphanumeric()))
                    {
                        matches.push((s, i, i + phrase.len(), phrase, list));
                    }
                }
            }
        }
        // One finding per phrase, and of overlapping matches ("稳赚", "稳赚不赔") the longest.
        matches.sort_by_key(|m| (std::cmp::Reverse(m.2 - m.1), m.0, m.1));
        let mut found: Vec<(usize, usize, usize, &str, &Forbidden)> = Vec::new();
        for m in matches {
            if !found.iter().any(|f| f.3 == m.3 || (f.0 == m.0 && f.1 < m.2 && m.1 < f.2)) {
                found.push(m);
            }
        }
        found.sort_by_key(|m| (m.0, m.1));
        for (_, _, _, phrase, list) in found {
            let at = locate(a, prompt.span, phrase);
            let rule_id = list.source.split([' ', ':']).next().unwrap_or_default();
            let mut d = a
                .finding(
                    "CS004",
                    at,
                    format!(
                        "this prompt says `{phrase}`, which the {} pack forbids in {} calls",
                        a.pack.jurisdiction, code.purpose
                    ),
                )
                .label(list.category.clone())
                .with_help(format!(
                    "rephrase it ({rule_id}); a phrase directly after a negator is a disclosure and does not count (`不{phrase}`)"
                ));
            d = a.with_shortest_path(d, a.prompt_nodes[p].iter().copied());
            out.push(d);
        }
    }
}

/// Whether text ends with a negator, directly or before a verb of promising ("不承诺").
fn negated(before: &str) -> bool {
    let before = ["承诺", "保证", "确保"].iter().find_map(|v| before.strip_suffix(v)).unwrap_or(before);
    NEGATORS.iter().any(|n| before.ends_with(n))
}

/// The phrase's place in the source string, or the whole prompt when escapes hide it.
fn locate(a: &Analysis, prompt: FileSpan, phrase: &str) -> FileSpan {
    let Some(file) = a.program.files.get(prompt.file.0 as usize) else { return prompt };
    let Some(source) = file.text.get(prompt.span.range()) else { return prompt };
    match source.to_ascii_lowercase().find(phrase) {
        Some(i) => {
            let start = prompt.span.start as usize + i;
            FileSpan::new(prompt.file, Span::new(start, start + phrase.len()))
        }
        None => prompt,
    }
}
