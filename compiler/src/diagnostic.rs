//! Diagnostics as data: every phase reports through [`Diagnostic`]; rendering (human, JSON,
//! SARIF, LSP) happens in one place outside the phases.

use serde::Serialize;

use crate::span::{FileSpan, SourceId, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A span with a short text saying what is there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub at: FileSpan,
    pub message: String,
}

/// One finding: stable code, plain-words message, the primary place, further labelled places
/// and an optional help line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    /// For compliance findings: the witness, places along the shortest path from the call's
    /// start to the primary place, in order (rendered with the secondary labels).
    pub path: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic whose severity comes from its code (`E…`/`CS…` errors, `W…` warnings).
    pub fn new(code: &'static str, file: SourceId, span: Span, message: impl Into<String>) -> Diagnostic {
        let severity = if code.starts_with('W') { Severity::Warning } else { Severity::Error };
        Diagnostic {
            code,
            severity,
            message: message.into(),
            primary: Label { at: FileSpan::new(file, span), message: String::new() },
            secondary: Vec::new(),
            path: Vec::new(),
            help: None,
        }
    }

    /// The text under the primary span.
    pub fn label(mut self, text: impl Into<String>) -> Diagnostic {
        self.primary.message = text.into();
        self
    }

    pub fn with_secondary(mut self, file: SourceId, span: Span, text: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label { at: FileSpan::new(file, span), message: text.into() });
        self
    }

    pub fn with_path(mut self, path: Vec<Label>) -> Diagnostic {
        self.path = path;
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every diagnostic code with a one-line title. `docs/diagnostics.md` documents each one and
/// `tests/cases/err/` holds a failing case for each; a test keeps the three in step.
pub const CODES: &[(&str, &str)] = &[
    ("E001", "unexpected token"),
    ("E002", "unterminated string"),
    ("E003", "character not allowed here"),
    ("E004", "unknown escape in a string"),
    ("E005", "malformed interpolation"),
    ("E006", "malformed literal"),
    ("E007", "misplaced item or statement"),
    ("E008", "nested too deeply"),
    ("E009", "script too large to compile"),
    ("E100", "unknown goto target"),
    ("E101", "unknown intent"),
    ("E102", "unknown outcome"),
    ("E103", "unknown value"),
    ("E104", "duplicate definition"),
    ("E105", "ambiguous step name"),
    ("E106", "module or file not found"),
    ("E107", "import cycle"),
    ("E108", "name imported twice"),
    ("E109", "unknown filter"),
    ("E110", "unknown script"),
    ("E111", "unknown or repeated setting"),
    ("E112", "missing required setting or section"),
    ("E113", "step named like a section"),
    ("E114", "reserved word used as a name"),
    ("E115", "an input cannot be changed"),
    ("E116", "unknown emotion"),
    ("E117", "unknown flow or handler set"),
    ("E120", "unknown action, or a field it does not have"),
    ("E200", "type mismatch"),
    ("E201", "filter does not take this type"),
    ("E202", "values of different types compared"),
    ("E203", "operator does not apply to these types"),
    ("E204", "negative amount"),
    ("E205", "capture into a value that cannot hold the answer"),
    ("E206", "bad bounds of a number"),
    ("E207", "wrong number of arguments to a flow"),
    ("E210", "inputs of a `do` missing or given twice"),
    ("E211", "an RFM value or function a segment cannot use, or a function in a script"),
    ("E300", "body does not end the turn"),
    ("E301", "call can run off the end of the script"),
    ("E302", "ask cannot handle silence or unknown speech"),
    ("E303", "retry without an exhausted branch"),
    ("E304", "resume outside objection"),
    ("E305", "retry outside an ask or handler"),
    ("E306", "loop without an ask"),
    ("E307", "objection holds only handlers"),
    ("E308", "capture without captured, or captured without capture"),
    ("E309", "recursive flow"),
    ("E310", "misplaced return, listen, or goto in a handler set"),
    ("E320", "`do` without both `on ok` and `on failed`"),
    ("E321", "action output read where the action may not have answered"),
    ("E400", "malformed phrase pattern"),
    ("E401", "phrase pattern expands too far"),
    ("E402", "malformed regex"),
    ("E403", "malformed dtmf key"),
    ("E404", "regex syntax in a phrase"),
    ("E405", "empty example"),
    ("E406", "examples file cannot be read"),
    ("E407", "bad row in an examples file"),
    ("E408", "example of an unknown intent"),
    ("E500", "@allow without a reason"),
    ("E501", "@allow of an unknown code"),
    ("E600", "campaign file does not parse"),
    ("E601", "unknown key in a campaign file"),
    ("E602", "campaign value of the wrong kind"),
    ("E603", "missing campaign setting"),
    ("E604", "invalid campaign value"),
    ("E605", "campaign settings that do not fit together"),
    ("W001", "unreachable step"),
    ("W002", "unused input"),
    ("W003", "unused intent"),
    ("W004", "unused outcome"),
    ("W005", "local name shadows an imported one"),
    ("W006", "unreachable statement"),
    ("W007", "@allow that suppresses nothing"),
    ("W008", "unused value"),
    ("W009", "branch that can never be taken"),
    ("W010", "one-character phrase inside common words"),
    ("W011", "phrase with characters that look like regex syntax"),
    ("W012", "two intents with the same phrase"),
];

/// The one-line title of a code, if it exists.
pub fn code_title(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, t)| *t)
}

/// "a" or "an" before a word, for messages such as "an `int`".
pub fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}
