//! CS001 (the recording is announced in the first prompt of every path) and CS006 (the risk
//! disclosure plays before every goal outcome of wealth and insurance marketing).

use super::{Analysis, Avoid, PROMPTED, RISK_DISCLOSED, contains_phrase, normalise, static_text};
use crate::bytecode::{Instruction, PromptCode, PromptSegment};
use crate::diagnostic::Diagnostic;
use crate::span::{FileSpan, Span};

/// CS001: a prompt that can be the first of the call (no prompt on some path before it) must
/// hold the pack's recording phrase. The witness is a path on which no prompt played before.
pub(super) fn recording(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let notice = &a.pack.recording.all_of;
    for (p, nodes) in a.prompt_nodes.iter().enumerate() {
        let first = nodes.iter().copied().filter(|&n| a.facts[n as usize] & PROMPTED == 0);
        let Some(node) = a.nearest(Avoid::Prompt, first) else { continue };
        let prompt = &code.prompts[p];
        if notice.holds(&normalise(&static_text(prompt))) {
            continue;
        }
        out.push(
            a.finding("CS001", prompt.span, "the first prompt of the call does not announce the recording".into())
                .label("first prompt on this path")
                .with_path(a.witness(Avoid::Prompt, node, "with no prompt before it"))
                .with_help(format!(
                    "the {} pack needs the recording notice in the first prompt of every path, e.g. `say \"{}\"`",
                    a.pack.jurisdiction, a.pack.recording.example
                )),
        );
    }
}

/// CS006: for marketing of the pack's products, the risk disclosure has played on every path
/// to a `hangup` or `transfer` with a goal outcome. The witness is a path without it.
pub(super) fn risk(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let rule = &a.pack.risk_disclosure;
    let code = a.code;
    if !rule.applies_to(code) {
        return;
    }
    // Looked for once, at the first finding.
    let mut near: Option<Option<NearMiss>> = None;
    for (pc, nodes) in a.by_pc.iter().enumerate() {
        let outcome = match code.code[pc] {
            Instruction::Hangup(o) | Instruction::Transfer(_, Some(o)) => o,
            _ => continue,
        };
        let decl = &code.outcomes[outcome as usize];
        if !decl.goal {
            continue;
        }
        let missing = nodes.iter().copied().filter(|&n| a.facts[n as usize] & RISK_DISCLOSED == 0);
        let Some(node) = a.nearest(Avoid::Risk, missing) else { continue };
        let mut message = format!("the goal outcome `{}` can be reached before the risk disclosure", decl.name);
        let near = near.get_or_insert_with(|| code.prompts.iter().find_map(|p| near_miss(a, p)));
        if let Some(near) = near {
            message.push_str(&format!("; a prompt comes close, but {}", near.words()));
        }
        let mut d = a
            .finding("CS006", code.spans[pc], message)
            .label("goal reached on a path without the risk disclosure")
            .with_path(a.witness(Avoid::Risk, node, "without the risk disclosure"))
            .with_help(format!(
                "play `say \"{}\"` on every path before this {} product can be sold",
                rule.text,
                code.product.as_deref().unwrap_or_default()
            ));
        for (at, label) in near.iter().flat_map(|n| &n.labels) {
            d = d.with_secondary(at.file, at.span, label.clone());
        }
        out.push(d);
    }
}

/// A prompt that would be the risk disclosure but for a few characters (需 for 须): for each
/// part of the pack's text it lacks, what is written instead and where the characters differ.
struct NearMiss {
    parts: Vec<NearPart>,
    /// A label on each differing character, or on the prompt when escapes hide its place.
    labels: Vec<(FileSpan, String)>,
}

/// One part of the disclosure, written with a few characters different.
struct NearPart {
    written: String,
    /// The pack's wording in the author's layout (Latin text keeps its spaces and case).
    pack: String,
    /// The differing characters: (written, the pack's).
    differ: Vec<(char, char)>,
}

impl NearMiss {
    /// "it is written 投资需谨慎 where the pack has 投资须谨慎 (需 ≠ 须)".
    fn words(&self) -> String {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|part| {
                let pairs: Vec<String> = part.differ.iter().map(|(w, p)| format!("{w} ≠ {p}")).collect();
                format!("it is written {} where the pack has {} ({})", part.written, part.pack, pairs.join(", "))
            })
            .collect();
        parts.join("; ")
    }
}

/// A character of a prompt's text that the pack's normalisation keeps, lower-cased, with the
/// text segment and the byte range it came from there.
struct Kept {
    c: char,
    segment: usize,
    from: usize,
    to: usize,
}

fn kept_chars(prompt: &PromptCode) -> Vec<Kept> {
    let mut out = Vec::new();
    for (segment, seg) in prompt.segments.iter().enumerate() {
        let PromptSegment::Text(text) = seg else { continue };
        for (from, c) in text.char_indices().filter(|(_, c)| c.is_alphanumeric()) {
            out.extend(c.to_lowercase().map(|l| Kept { c: l, segment, from, to: from + c.len_utf8() }));
        }
    }
    out
}

/// CS006's near miss: a prompt lacking the disclosure in which every part of the pack's text
/// that it lacks is written with the same length and at most one character in five different
/// (at least one). Parts are looked for inside one text segment.
fn near_miss(a: &Analysis, prompt: &PromptCode) -> Option<NearMiss> {
    let groups = &a.pack.risk_disclosure.all_of.0;
    let text = normalise(&static_text(prompt));
    if a.pack.risk_disclosure.all_of.holds(&text) {
        return None;
    }
    let kept = kept_chars(prompt);
    let mut near = NearMiss { parts: Vec::new(), labels: Vec::new() };
    for group in groups {
        if group.iter().any(|alt| contains_phrase(&text, alt)) {
            continue;
        }
        // The closest window over every alternative: (differences, window start, alternative).
        let mut best: Option<(usize, usize, &str)> = None;
        for alt in group {
            let wanted: Vec<char> = alt.chars().collect();
            let allowed = (wanted.len() / 5).max(1);
            if wanted.len() <= allowed || kept.len() < wanted.len() {
                continue;
            }
            for start in 0..=kept.len() - wanted.len() {
                let window = &kept[start..start + wanted.len()];
                if window.iter().any(|k| k.segment != window[0].segment) {
                    continue;
                }
                let differ = window.iter().zip(&wanted).filter(|(k, w)| k.c != **w).count();
                if differ <= allowed && best.is_none_or(|b| differ < b.0) {
                    best = Some((differ, start, alt.as_str()));
                }
            }
        }
        let (_, start, alt) = best?;
        let window = &kept[start..start + alt.chars().count()];
        let PromptSegment::Text(segment) = &prompt.segments[window[0].segment] else { return None };
        let base = window[0].from;
        let written = &segment[base..window[window.len() - 1].to];
        // Where the written text starts in the file, when the source holds it as written.
        let in_file = a
            .program
            .files
            .get(prompt.span.file.0 as usize)
            .and_then(|f| f.text.get(prompt.span.span.range()))
            .and_then(|source| source.find(written))
            .map(|i| prompt.span.span.start as usize + i);
        let mut part = NearPart { written: written.to_owned(), pack: written.to_owned(), differ: Vec::new() };
        for (k, p) in window.iter().zip(alt.chars()).filter(|(k, p)| k.c != *p) {
            let original = segment[k.from..k.to].chars().next().unwrap_or(k.c);
            let p = if original.is_uppercase() { p.to_uppercase().next().unwrap_or(p) } else { p };
            part.differ.push((original, p));
            let at = match in_file {
                Some(file_base) => {
                    let from = file_base + k.from - base;
                    FileSpan::new(prompt.span.file, Span::new(from, from + (k.to - k.from)))
                }
                None => prompt.span,
            };
            near.labels.push((at, format!("the pack has {p} here")));
        }
        part.pack = corrected(written, window, base, alt);
        near.parts.push(part);
    }
    (!near.parts.is_empty()).then_some(near)
}

/// `written` with the pack's characters where they differ, in the written case.
fn corrected(written: &str, window: &[Kept], base: usize, alt: &str) -> String {
    let mut out = written.to_owned();
    let mut differing: Vec<(&Kept, char)> = window.iter().zip(alt.chars()).filter(|(k, p)| k.c != *p).collect();
    // One replacement per written character (a character whose lower case is two, such as
    // `İ`, gives two), from the end so the earlier byte ranges stay valid.
    differing.dedup_by_key(|(k, _)| k.from);
    for (k, p) in differing.into_iter().rev() {
        let original = written[k.from - base..k.to - base].chars().next().unwrap_or(p);
        let p = if original.is_uppercase() { p.to_uppercase().next().unwrap_or(p) } else { p };
        out.replace_range(k.from - base..k.to - base, p.encode_utf8(&mut [0; 4]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrected_keeps_the_layout_and_case() {
        let kept = |c, from, to| Kept { c, segment: 0, from, to };
        let window = [kept('a', 4, 5), kept('b', 5, 6), kept('c', 7, 8)];
        assert_eq!(corrected("Ab c", &window[..], 4, "axc"), "Ax c");
        assert_eq!(corrected("AB C", &window[..], 4, "axc"), "AX C");
        // İ lower-cases to two characters sharing one place: replaced once.
        let window = [kept('i', 0, 2), kept('\u{307}', 0, 2), kept('x', 2, 3)];
        assert_eq!(corrected("İx", &window[..], 0, "abx"), "Ax");
    }
}
