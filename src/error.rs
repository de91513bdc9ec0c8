//! The command line's errors as data. Every command returns `Result<Status, CliError>`;
//! [`crate::cli::main`] renders an error in one place ([`CliError::render`]) and turns it into
//! the exit status of LANGUAGE.md §8: 0 ok, 1 findings or failures, 2 could not run.

use callscript_compiler::diagnostic::Diagnostic;
use callscript_compiler::source::Sources;
use callscript_runtime::campaign::{InputError, LoadError};
use callscript_runtime::scheduler::RunError;
use callscript_runtime::store::StoreError;
use callscript_runtime::telephony::recording::RecordingError;
use callscript_runtime::telephony::sip::SipError;
use callscript_runtime::telephony::speech::SpeechError;

use crate::files::ReadError;
use crate::render;

/// How a command that ran ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit 0.
    Success,
    /// Exit 1: findings, failed tests, a failed call.
    Failures,
}

impl Status {
    pub fn failures_if(failed: bool) -> Status {
        if failed { Status::Failures } else { Status::Success }
    }

    pub fn code(self) -> i32 {
        match self {
            Status::Success => 0,
            Status::Failures => 1,
        }
    }
}

/// Diagnostics that stop a command, with the sources they point into.
#[derive(Debug)]
pub struct Findings {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
    /// How many files were read (for the summary line).
    pub files: usize,
    /// What the findings stopped, e.g. "no call was placed: the campaign or its script has errors".
    pub consequence: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments that do not make a command.
    #[error("{0}")]
    Usage(String),
    /// A source file (script, import, campaign) that cannot be read as text.
    #[error(transparent)]
    Source(#[from] ReadError),
    /// A file or stream that cannot be read or written: `what` names it and the operation.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// Errors found by the checker (in scripts or a campaign file): exit 1.
    #[error("{} errors", .0.diagnostics.iter().filter(|d| d.is_error()).count())]
    Findings(Box<Findings>),
    /// A campaign whose settings cannot be loaded (`report`, `dnc`, `recording`, `clips`).
    #[error(transparent)]
    Campaign(Box<LoadError>),
    /// Input files with their problems at `file:line:column` (customer lists, imports), and
    /// what was therefore not done ("no call was placed").
    #[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Input { errors: Vec<InputError>, consequence: &'static str },
    /// Problems in the very file a command checks (a clips manifest for `clips check`): a
    /// failure of the check (exit 1), then what could not be done.
    #[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Broken { errors: Vec<InputError>, consequence: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A campaign's store that cannot be opened, named with the campaign file.
    #[error("{campaign}: {source}")]
    CampaignStore { campaign: String, source: StoreError },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Sip(#[from] SipError),
    #[error(transparent)]
    Speech(#[from] SpeechError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// What the program or runtime refused, in its own words, prefixed with the file or the
    /// step it concerns (a bytecode file that does not load, a script's missing input).
    #[error("{0}")]
    Refused(String),
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> CliError {
        CliError::Campaign(Box::new(e))
    }
}

impl CliError {
    /// `what` could not be read or written.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }

    /// Checker findings that stop a command.
    pub fn findings(
        checked: callscript_compiler::check::Checked,
        files: usize,
        consequence: Option<&'static str>,
    ) -> CliError {
        CliError::Findings(Box::new(Findings {
            diagnostics: checked.diagnostics,
            sources: checked.sources,
            files,
            consequence,
        }))
    }

    /// The exit status this error ends the command with.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Findings(_) | CliError::Broken { .. } => 1,
            _ => 2,
        }
    }

    /// The text standard error shows, in the same form for every command.
    pub fn render(&self, color: bool) -> String {
        match self {
            CliError::Findings(f) => {
                let errors = f.diagnostics.iter().filter(|d| d.is_error()).count();
                let mut text = render::human(&f.diagnostics, &f.sources, color);
                text.push_str(&render::summary_line(errors, f.diagnostics.len() - errors, f.files));
                text.push('\n');
                if let Some(consequence) = f.consequence {
                    text.push_str(consequence);
                    text.push('\n');
                }
                text
            }
            CliError::Campaign(e) => match e.as_ref() {
                LoadError::Invalid { file, diagnostics } => {
                    let mut sources = Sources::new();
                    sources.add(file.clone());
                    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                    let mut text = render::human(diagnostics, &sources, color);
                    text.push_str(&render::summary_line(errors, diagnostics.len() - errors, 1));
                    text.push('\n');
                    text
                }
                LoadError::Read { .. } => format!("error: {e}\n"),
            },
            CliError::Input { errors, consequence } | CliError::Broken { errors, consequence } => {
                let mut text: String = errors.iter().map(|e| format!("error: {e}\n")).collect();
                text.push_str(consequence);
                text.push('\n');
                text
            }
            other => format!("error: {other}\n"),
        }
    }
}

/// Writes an error to standard error, the one way errors are shown. Nothing is left to tell
/// when standard error cannot be written either; the exit status still says it.
pub fn report(error: &CliError) {
    use std::io::{IsTerminal, Write};
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = std::io::stderr().write_all(error.render(color).as_bytes());
}

/// What a command returns.
pub type CliResult = Result<Status, CliError>;
