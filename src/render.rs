//! The one place where diagnostics become text: human (miette), JSON (LANGUAGE.md §8) and
//! SARIF 2.1.0 for code-scanning tools.

use std::fmt;

use callscript_compiler::check::Allowed;
use callscript_compiler::diagnostic::{Diagnostic, Label, Severity};
use callscript_compiler::source::Sources;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};
use serde::Serialize;

use crate::snippet::Snippet;

/// Adapts our diagnostic data to miette for the human format. Labels in other files than the
/// primary one are shown as notes (miette draws one source per report).
struct Report<'a> {
    diag: &'a Diagnostic,
    source: Snippet<'a>,
    labels: Vec<LabeledSpan>,
    notes: Option<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.diag.code, self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        match (&self.diag.help, &self.notes) {
            (Some(h), Some(n)) => Some(Box::new(format!("{h}\n{n}"))),
            (Some(h), None) => Some(Box::new(h)),
            (None, Some(n)) => Some(Box::new(n)),
            (None, None) => None,
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Renders diagnostics for a terminal. `color` off gives the stable text used in snapshots.
pub fn human(diags: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
    let mut out = String::new();
    for diag in diags {
        let file = sources.get(diag.primary.at.file);
        let here: Vec<&Label> = std::iter::once(&diag.primary)
            .chain(&diag.secondary)
            .chain(&diag.path)
            .filter(|l| l.at.file == diag.primary.at.file)
            .collect();
        // Only the lines around the labels, cut where long: bounded work per diagnostic.
        let snippet = Snippet::new(file, &here.iter().map(|l| l.at.span).collect::<Vec<_>>());
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(diag.primary.message.clone()).filter(|m| !m.is_empty()),
            snippet.span(diag.primary.at.span),
        )];
        let mut notes = Vec::new();
        for label in diag.secondary.iter().chain(&diag.path) {
            if label.at.file == diag.primary.at.file {
                labels.push(LabeledSpan::new_with_span(Some(label.message.clone()), snippet.span(label.at.span)));
            } else {
                let other = sources.get(label.at.file);
                let lc = other.line_col(label.at.span.start);
                notes.push(format!("{}:{}:{}: {}", other.name, lc.line, lc.column, label.message));
            }
        }
        let report = Report {
            diag,
            source: snippet,
            labels,
            notes: if notes.is_empty() { None } else { Some(notes.join("\n")) },
        };
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub code: &'a str,
    pub severity: Severity,
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: &'a str,
    pub help: Option<&'a str>,
    /// Further places: the secondary labels (the first definition, …), then a compliance
    /// finding's witness path in order from the call's start.
    pub related: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
pub struct JsonLabel<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub message: &'a str,
}

#[derive(Serialize)]
struct JsonAllowed<'a> {
    code: &'a str,
    file: &'a str,
    line: usize,
    reason: &'a str,
}

#[derive(Serialize)]
struct JsonSummary {
    files: usize,
    errors: usize,
    warnings: usize,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    diagnostics: Vec<JsonDiagnostic<'a>>,
    allowed: Vec<JsonAllowed<'a>>,
    summary: JsonSummary,
}

/// One diagnostic with 1-based lines and character columns (end exclusive), as §8/§9.9 say.
pub fn json_diagnostic<'a>(d: &'a Diagnostic, sources: &'a Sources) -> JsonDiagnostic<'a> {
    let file = sources.get(d.primary.at.file);
    let start = file.line_col(d.primary.at.span.start);
    let end = file.line_col(d.primary.at.span.end);
    JsonDiagnostic {
        code: d.code,
        severity: d.severity,
        file: &file.name,
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
        message: &d.message,
        help: d.help.as_deref(),
        related: d
            .secondary
            .iter()
            .chain(&d.path)
            .map(|l| {
                let f = sources.get(l.at.file);
                let lc = f.line_col(l.at.span.start);
                JsonLabel { file: &f.name, line: lc.line, column: lc.column, message: &l.message }
            })
            .collect(),
    }
}

/// The `--format json` object of §8.
pub fn json(diags: &[Diagnostic], allowed: &[Allowed], sources: &Sources, files: usize) -> String {
    let output = JsonOutput {
        diagnostics: diags.iter().map(|d| json_diagnostic(d, sources)).collect(),
        allowed: allowed
            .iter()
            .map(|a| {
                let f = sources.get(a.file);
                JsonAllowed { code: &a.code, file: &f.name, line: f.line_col(a.span.start).line, reason: &a.reason }
            })
            .collect(),
        summary: JsonSummary {
            files,
            errors: diags.iter().filter(|d| d.severity == Severity::Error).count(),
            warnings: diags.iter().filter(|d| d.severity == Severity::Warning).count(),
        },
    };
    serde_json::to_string_pretty(&output).expect("diagnostics serialise")
}

/// The closing summary line of the human format.
pub fn summary_line(errors: usize, warnings: usize, files: usize) -> String {
    let plural = |n: usize, word: &str| if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") };
    format!("{}, {} in {}", plural(errors, "error"), plural(warnings, "warning"), plural(files, "file"))
}

// ---- SARIF 2.1.0 ------------------------------------------------------------------------------

/// A URI reference for a file name: unreserved characters and `/` as they are, the rest
/// percent-encoded (so Chinese or spaced file names stay valid URIs).
fn uri(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sarif_location(at: callscript_compiler::span::FileSpan, sources: &Sources) -> serde_json::Value {
    let file = sources.get(at.file);
    let start = file.line_col(at.span.start);
    let end = file.line_col(at.span.end);
    serde_json::json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri(&file.name) },
            "region": {
                "startLine": start.line,
                "startColumn": start.column,
                "endLine": end.line,
                "endColumn": end.column,
            }
        }
    })
}

fn sarif_result(
    d: &Diagnostic,
    rule_index: usize,
    sources: &Sources,
    suppression: Option<&Allowed>,
) -> serde_json::Value {
    let mut text = d.message.clone();
    if let Some(help) = &d.help {
        text.push_str(&format!("\nhelp: {help}"));
    }
    let mut result = serde_json::json!({
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": { "text": text },
        "locations": [sarif_location(d.primary.at, sources)],
    });
    let related: Vec<serde_json::Value> = d
        .secondary
        .iter()
        .chain(&d.path)
        .enumerate()
        .map(|(i, l)| {
            let mut loc = sarif_location(l.at, sources);
            loc["id"] = serde_json::json!(i);
            loc["message"] = serde_json::json!({ "text": l.message });
            loc
        })
        .collect();
    if !related.is_empty() {
        result["relatedLocations"] = serde_json::Value::Array(related);
    }
    if !d.path.is_empty() {
        // The witness as a code flow: each place from the call's start, then the finding.
        let mut steps: Vec<serde_json::Value> = d
            .path
            .iter()
            .map(|l| {
                let mut loc = sarif_location(l.at, sources);
                loc["message"] = serde_json::json!({ "text": l.message });
                serde_json::json!({ "location": loc })
            })
            .collect();
        let mut last = sarif_location(d.primary.at, sources);
        last["message"] = serde_json::json!({ "text": d.message });
        steps.push(serde_json::json!({ "location": last }));
        result["codeFlows"] = serde_json::json!([{ "threadFlows": [{ "locations": steps }] }]);
    }
    if let Some(allow) = suppression {
        let mut at = sarif_location(callscript_compiler::span::FileSpan::new(allow.file, allow.span), sources);
        at.as_object_mut().map(|o| o.remove("message"));
        result["suppressions"] = serde_json::json!([{
            "kind": "inSource",
            "status": "accepted",
            "justification": allow.reason,
            "location": at,
        }]);
    }
    result
}

/// The `--format sarif` log: one run of the `callscript` tool with every rule it can report
/// (language codes and compliance rules), a result per finding (with the witness path as a code
/// flow) and a suppressed result per allowed finding, with its reason as the justification.
pub fn sarif(diags: &[Diagnostic], allowed: &[Allowed], sources: &Sources) -> String {
    use callscript_compiler::check::compliance::RULES;
    use callscript_compiler::diagnostic::CODES;
    let mut rules: Vec<serde_json::Value> = CODES
        .iter()
        .map(|(code, title)| {
            serde_json::json!({
                "id": code,
                "name": title,
                "shortDescription": { "text": title },
                "fullDescription": { "text": title },
                "help": { "text": format!("See docs/diagnostics.md, section {code}.") },
                "defaultConfiguration": { "level": if code.starts_with('W') { "warning" } else { "error" } },
            })
        })
        .collect();
    rules.extend(RULES.iter().map(|r| {
        serde_json::json!({
            "id": r.code,
            "name": r.title,
            "shortDescription": { "text": r.title },
            "fullDescription": { "text": r.description },
            "help": { "text": format!("{} See docs/compliance.md, section {}.", r.help, r.code) },
            "defaultConfiguration": { "level": "error" },
        })
    }));
    let index = |code: &str| {
        CODES
            .iter()
            .position(|(c, _)| *c == code)
            .or_else(|| RULES.iter().position(|r| r.code == code).map(|i| CODES.len() + i))
    };
    let mut results: Vec<serde_json::Value> =
        diags.iter().map(|d| sarif_result(d, index(d.code).unwrap_or(0), sources, None)).collect();
    results
        .extend(allowed.iter().map(|a| sarif_result(&a.finding, index(a.finding.code).unwrap_or(0), sources, Some(a))));
    let log = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "callscript",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&log).expect("SARIF serialises")
}
