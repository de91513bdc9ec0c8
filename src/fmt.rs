//! `callscript fmt`: the IO around `callscript_compiler::format` (files in place, `--check`,
//! `-` for standard input to standard output).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use callscript_compiler::format::format;
use callscript_compiler::source::{Source, Sources};

use crate::error::{CliError, CliResult, Status};
use crate::files::{STDIN_NAME, collect, display_name, read_source, read_stdin};
use crate::render;

/// Formats files and folders in place, or lists those that would change (`check`). Exit codes:
/// 0 nothing to do or all formatted, 1 syntax errors or (with `check`) a file would change,
/// 2 could not run.
pub fn run(paths: &[PathBuf], check: bool) -> CliResult {
    if paths.iter().any(|p| p.as_os_str() == "-") {
        if paths.len() > 1 {
            return Err(CliError::Usage("`-` (standard input) cannot be combined with other paths".into()));
        }
        return stdin(check);
    }
    let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() };
    let files = collect(&paths, "call").map_err(CliError::Usage)?;
    let mut failed = false;
    for path in &files {
        let name = display_name(path);
        let text = read_source(path)?;
        match format(&text) {
            Ok(out) if out == text => {}
            Ok(_) if check => {
                writeln!(std::io::stdout(), "{name}").map_err(CliError::io("cannot write the file list"))?;
                failed = true;
            }
            Ok(out) => replace_file(path, &out).map_err(CliError::io(format!("cannot write {name}")))?,
            Err(errors) => {
                // Reported as it comes: the other files are still formatted.
                report(&name, text, &errors);
                failed = true;
            }
        }
    }
    Ok(Status::failures_if(failed))
}

/// Replaces a file's text so that it is never lost: the new text is written and synced to a
/// file beside it, which then takes the file's name in one rename. A full disk or a crash
/// leaves the old text whole. Through a symlink, the file it points at is replaced (the link
/// stays); the file keeps its permissions.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or(Path::new("/"));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.callscript-fmt-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(std::fs::metadata(&target)?.permissions())?;
        file.sync_all()?;
        std::fs::rename(&temp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// `fmt -`: standard input to standard output, read with the limits of a file
/// ([`read_stdin`]: at most 64 MiB, valid UTF-8); input past them is "could not run" (2).
fn stdin(check: bool) -> CliResult {
    let text = read_stdin()?;
    match format(&text) {
        Ok(out) if check => {
            if out != text {
                writeln!(std::io::stdout(), "{STDIN_NAME}").map_err(CliError::io("cannot write the file list"))?;
            }
            Ok(Status::failures_if(out != text))
        }
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(CliError::io("cannot write the formatted text"))?;
            Ok(Status::Success)
        }
        Err(errors) => {
            report(STDIN_NAME, text, &errors);
            Ok(Status::Failures)
        }
    }
}

/// Prints the syntax errors that stop a file from being formatted, as `check` would.
fn report(name: &str, text: String, errors: &[callscript_compiler::diagnostic::Diagnostic]) {
    let mut sources = Sources::new();
    sources.add(Source::new(name, text));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = write!(std::io::stderr(), "{}", render::human(errors, &sources, color));
    say_err!("{name}: not formatted: {} syntax error{}", errors.len(), if errors.len() == 1 { "" } else { "s" });
}
