//! `callscript fmt`: the IO around `callscript_compiler::format` (files in place, `--check`,
//! `-` for standard input to standard output).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use callscript_compiler::format::format;
use callscript_compiler::source::{Source, Sources};

use crate::files::{collect, display_name};
use crate::render;

/// Formats files and folders in place, or lists those that would change (`check`). Exit codes:
/// 0 nothing to do or all formatted, 1 syntax errors or (with `check`) a file would change,
/// 2 could not run.
pub fn run(paths: &[PathBuf], check: bool) -> i32 {
    if paths.iter().any(|p| p.as_os_str() == "-") {
        if paths.len() > 1 {
            eprintln!("error: `-` (standard input) cannot be combined with other paths");
            return 2;
        }
        return stdin(check);
    }
    let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() };
    let files = match collect(&paths, "call") {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return 2;
        }
    };
    let mut code = 0;
    for path in &files {
        let name = display_name(path);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: {name}: {e}");
                return 2;
            }
        };
        match format(&text) {
            Ok(out) if out == text => {}
            Ok(_) if check => {
                println!("{name}");
                code = code.max(1);
            }
            Ok(out) => {
                if let Err(e) = std::fs::write(path, out) {
                    eprintln!("error: cannot write {name}: {e}");
                    return 2;
                }
            }
            Err(errors) => {
                report(&name, text, &errors);
                code = code.max(1);
            }
        }
    }
    code
}

fn stdin(check: bool) -> i32 {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("error: cannot read standard input: {e}");
        return 2;
    }
    match format(&text) {
        Ok(out) if check => {
            if out != text {
                println!("<stdin>");
                return 1;
            }
            0
        }
        Ok(out) => {
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
            0
        }
        Err(errors) => {
            report("<stdin>", text, &errors);
            1
        }
    }
}

/// Prints the syntax errors that stop a file from being formatted, as `check` would.
fn report(name: &str, text: String, errors: &[callscript_compiler::diagnostic::Diagnostic]) {
    let mut sources = Sources::new();
    sources.add(Source::new(name, text));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!("{}", render::human(errors, &sources, color));
    eprintln!("{name}: not formatted: {} syntax error{}", errors.len(), if errors.len() == 1 { "" } else { "s" });
}
