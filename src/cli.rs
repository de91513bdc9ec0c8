//! Subcommands and their exit codes: 0 ok, 1 findings or failures, 2 could not run (§9.9).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use callscript_compiler::check::{self, Checked};
use callscript_compiler::source::Source;
use clap::{Parser, Subcommand, ValueEnum};

use crate::files::{DiskLoader, collect, display_name};
use crate::render;

#[derive(Parser)]
#[command(name = "callscript", version, about = "Check, test and run bank outbound-call scripts")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check scripts (files or folders of `.call` files) for errors and compliance findings.
    Check {
        /// Files or folders; every `.call` file below a folder is checked.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Rule pack of the jurisdiction (a campaign's own setting wins).
        #[arg(long, default_value = "cn")]
        jurisdiction: String,
    },
    /// Compile a script file to versioned bytecode (`.callc`).
    Build {
        file: PathBuf,
        /// Output file (default: the input with the extension `.callc`).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a readable listing of a bytecode file (or of a `.call` file, compiled first).
    Disasm { file: PathBuf },
    /// Run the conversation tests (`test "…" for SCRIPT { … }`) of files or folders.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// List the steps and branches no test reached.
        #[arg(long)]
        coverage: bool,
    },
    /// Talk to a script in the terminal: type the customer's replies (`/dtmf 1`, `/silence`,
    /// `/angry text`, `/hangup`), or pipe them in from a file.
    Simulate {
        file: PathBuf,
        /// The script to run (default: the file's first script).
        #[arg(long)]
        script: Option<String>,
        /// An input value, `name=value` (repeatable).
        #[arg(long = "input", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// Read the replies from this file instead of the terminal (one per line).
        #[arg(long)]
        replies: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        attempt: i64,
        #[arg(long, default_value_t = 10)]
        hour: i64,
    },
    /// Rewrite scripts in the canonical layout (files or folders; `-` reads standard input and
    /// writes standard output).
    Fmt {
        /// Files or folders (default: the current folder); `-` for standard input.
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that would change, and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Run the language server on standard input and output (editors start it).
    Lsp,
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Command::Check { paths, format, jurisdiction: _ } => run_check(&paths, format),
        Command::Build { file, output } => crate::commands::build(&file, output),
        Command::Disasm { file } => crate::commands::disasm(&file),
        Command::Test { paths, coverage } => crate::commands::test(&paths, coverage),
        Command::Simulate { file, script, inputs, replies, attempt, hour } => {
            crate::commands::simulate(&file, script.as_deref(), &inputs, replies.as_deref(), attempt, hour)
        }
        Command::Fmt { paths, check } => crate::fmt::run(&paths, check),
        Command::Lsp => crate::lsp::run(),
    }
}

/// Loads and checks `.call` files; Err is a message for "could not run".
pub fn check_paths(paths: &[PathBuf]) -> Result<(Checked, usize), String> {
    let files = collect(paths, "call")?;
    let mut roots = Vec::with_capacity(files.len());
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        roots.push(Source::new(display_name(path), text));
    }
    let count = roots.len();
    Ok((check::check(roots, &mut DiskLoader), count))
}

fn run_check(paths: &[PathBuf], format: Format) -> i32 {
    let (checked, files) = match check_paths(paths) {
        Ok(x) => x,
        Err(message) => {
            eprintln!("error: {message}");
            return 2;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let text = match format {
        Format::Human => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut text = render::human(&checked.diagnostics, &checked.sources, color);
            text.push_str(&render::summary_line(checked.error_count(), checked.warning_count(), files));
            text.push('\n');
            text
        }
        Format::Json => {
            let mut text = render::json(&checked.diagnostics, &checked.allowed, &checked.sources, files);
            text.push('\n');
            text
        }
    };
    let _ = stdout.write_all(text.as_bytes());
    i32::from(checked.error_count() > 0)
}
