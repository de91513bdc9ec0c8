//! Checks of intent definitions: phrase patterns (§6, parsed with pest), regexes and dtmf keys.
//! Errors point into the string where the problem is.

use crate::check::ParsedFile;
use crate::diagnostic::Diagnostic;
use crate::source::Sources;
use crate::span::{FileSpan, SourceId, Span};
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
                ClauseKind::Examples => {
                    if value.value.trim().is_empty() {
                        diagnostics.push(
                            Diagnostic::new("E405", file.id, value.span, "an example cannot be empty")
                                .label("empty example")
                                .with_help("write a whole utterance as customers say it, e.g. \"我昨天就还过了\""),
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

/// The rows of an examples file (§14): `text,intent`, an optional `text,intent` header first.
/// A row without exactly those two fields, or with an empty text, is E407 at its line.
pub fn read_examples(text: &str, id: SourceId, diagnostics: &mut Vec<Diagnostic>) -> Vec<super::ExampleRow> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        let start = reader.position().byte() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let end = text[start..].find(['\r', '\n']).map_or(text.len(), |i| start + i);
                let at = FileSpan::new(id, Span::new(start, end.max(start)));
                let fields: Vec<&str> = record.iter().map(str::trim).collect();
                let header = first && fields.len() == 2 && fields[0].eq_ignore_ascii_case("text");
                first = false;
                if header || fields.iter().all(|f| f.is_empty()) {
                    continue;
                }
                match fields.as_slice() {
                    [text, intent] if !text.is_empty() && !intent.is_empty() => {
                        rows.push(super::ExampleRow { text: text.to_string(), intent: intent.to_string(), at })
                    }
                    _ => diagnostics.push(
                        Diagnostic::new(
                            "E407",
                            id,
                            at.span,
                            format!("an examples row holds a text and an intent, not {} field(s)", fields.len()),
                        )
                        .label("this row")
                        .with_help("write `utterance,intent_name`; quote a text that holds a comma"),
                    ),
                }
            }
            Err(e) => {
                let at = Span::new(start, start);
                diagnostics.push(
                    Diagnostic::new("E407", id, at, format!("this examples file does not read as CSV: {e}"))
                        .label("here")
                        .with_help("rows are `utterance,intent_name`; quote a text that holds a comma or a quote"),
                );
                break;
            }
        }
    }
    rows
}

/// E408: an example row naming an intent the file does not see (declared or imported).
pub fn check_examples(file: &ParsedFile, files: &[ParsedFile], diagnostics: &mut Vec<Diagnostic>) {
    if file.examples.is_empty() {
        return;
    }
    let mut ignored = Vec::new();
    let scope = super::scope::file_scope(file, files, &mut ignored);
    for row in &file.examples {
        if scope.intents.contains_key(row.intent.as_str()) {
            continue;
        }
        let mut d = Diagnostic::new(
            "E408",
            row.at.file,
            row.at.span,
            format!("the example names the intent `{}`, which is not declared or imported", row.intent),
        )
        .label("unknown intent");
        d = match crate::suggest::closest(&row.intent, scope.intents.keys().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help("declare the intent, or import the module that has it"),
        };
        diagnostics.push(d);
    }
}
