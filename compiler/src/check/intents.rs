//! Checks of intent definitions: phrase patterns (§6, parsed with pest), regexes and dtmf keys.
//! Errors point into the string where the problem is.

use crate::check::ParsedFile;
use crate::diagnostic::Diagnostic;
use crate::source::Sources;
use crate::syntax::ast::{ClauseKind, Intent, Item, Member, StrLit};

/// Checks every intent of a file, top-level and inside scripts.
pub fn check_file_intents(file: &ParsedFile, _sources: &Sources, diagnostics: &mut Vec<Diagnostic>) {
    for item in &file.ast.items {
        match item {
            Item::Intent(intent) => check_intent(file, intent, diagnostics),
            Item::Script(script) => {
                for member in &script.members {
                    if let Member::Intent(intent) = member {
                        check_intent(file, intent, diagnostics);
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_intent(file: &ParsedFile, intent: &Intent, diagnostics: &mut Vec<Diagnostic>) {
    for clause in &intent.clauses {
        for value in &clause.values {
            match clause.kind {
                ClauseKind::Phrases => {
                    if value.value.trim().is_empty() {
                        diagnostics.push(
                            Diagnostic::new("E400", file.id, value.span, "a phrase cannot be empty")
                                .label("empty phrase")
                                .with_help("write the words the customer says, e.g. \"可以\""),
                        );
                        continue;
                    }
                    if let Some(d) = regex_in_phrase(file, value) {
                        diagnostics.push(d);
                        continue;
                    }
                    if let Err(err) = crate::pattern::parse(&value.value) {
                        let code = if err.message.contains("forms; at most") { "E401" } else { "E400" };
                        let span =
                            if code == "E401" { value.span } else { value.inner_span(err.offset, err.len.max(1)) };
                        diagnostics.push(
                            Diagnostic::new(code, file.id, span, format!("in this phrase pattern: {}", err.message))
                                .label("here")
                                .with_help(
                                    "patterns use `(a|b)` for alternatives, `[x]` for an optional part and `…` for a gap; escape a literal one with `\\`",
                                ),
                        );
                    }
                }
                ClauseKind::Regex => {
                    if let Err(err) = regex_syntax::Parser::new().parse(&value.value) {
                        let (message, span) = match &err {
                            regex_syntax::Error::Parse(e) => (e.kind().to_string(), e.span()),
                            regex_syntax::Error::Translate(e) => (e.kind().to_string(), e.span()),
                            _ => (
                                "this regex is not valid".to_string(),
                                &regex_syntax::ast::Span::splat(regex_syntax::ast::Position::new(0, 1, 1)),
                            ),
                        };
                        let at = value
                            .inner_span(span.start.offset, span.end.offset.saturating_sub(span.start.offset).max(1));
                        diagnostics.push(
                            Diagnostic::new("E402", file.id, at, format!("this regex is not valid: {message}"))
                                .label("here")
                                .with_help(
                                    "regexes follow the syntax of Rust's `regex` crate; write `\\\\` for a backslash",
                                ),
                        );
                    }
                }
                ClauseKind::Dtmf => {
                    let keys = &value.value;
                    if !is_dtmf_keys(keys) {
                        diagnostics.push(
                            Diagnostic::new(
                                "E403",
                                file.id,
                                value.span,
                                format!("`{keys}` is not a dtmf key sequence"),
                            )
                            .label("not keys of a phone keypad")
                            .with_help("dtmf keys are 0–9, `*`, `#` and A–D, e.g. `dtmf \"1\"`"),
                        );
                    }
                }
            }
        }
    }
}

/// E404: regex syntax in a phrase. The pattern language has none, and the recogniser drops
/// these characters as punctuation, so the phrase would match something else than meant
/// (`"^行.?$"` stands for `行`, which is in 银行): an error, not a warning.
fn regex_in_phrase(file: &ParsedFile, phrase: &StrLit) -> Option<Diagnostic> {
    let found = crate::pattern::regex_syntax(&phrase.value);
    let (first, rest) = found.split_first()?;
    // What the phrase stands for as written: its first form, normalised as the recogniser does.
    let stands_for = crate::pattern::parse(&phrase.value)
        .ok()
        .and_then(|forms| forms.into_iter().next())
        .map(|form| form.parts.iter().map(|p| crate::extract::normalise(p)).collect::<Vec<_>>().join("…"))
        .filter(|form| !form.is_empty() && form != &phrase.value);
    let mut message = "this phrase uses regex syntax, which the phrase pattern language does not have".to_string();
    if let Some(form) = stands_for {
        message.push_str(&format!(
            "; the recogniser drops these characters as punctuation, so it would match `{form}` anywhere in an utterance"
        ));
    }
    let mut d = Diagnostic::new("E404", file.id, phrase.inner_span(first.offset, first.len), message)
        .label(first.what.clone())
        .with_help(format!(
            "for a regex write `regex \"{}\"` instead of a phrase; a phrase pattern has `[x]` for an optional part, `(a|b)` for alternatives and `…` for a gap of up to {} characters",
            phrase.value.replace('\\', "\\\\").replace('"', "\\\""),
            crate::pattern::GAP_MAX_CHARS
        ));
    for more in rest {
        d = d.with_secondary(file.id, phrase.inner_span(more.offset, more.len), more.what.clone());
    }
    Some(d)
}

/// Keys of a phone keypad: 0–9, `*`, `#` and A–D, at least one.
pub fn is_dtmf_keys(keys: &str) -> bool {
    !keys.is_empty() && keys.chars().all(|c| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'))
}
