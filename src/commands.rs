//! `build`, `disasm`, `test` and `simulate`: compile through the checker, then hand the
//! program to the runtime.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use callscript_compiler::bytecode::{Emotion, Program};
use callscript_compiler::check::Checked;
use callscript_compiler::source::Sources;
use callscript_compiler::span::FileSpan;
use callscript_compiler::syntax::ast::Item;
use callscript_compiler::value::{Date, Money, Value};
use callscript_runtime::testing::{Coverage, run_test, uncovered};
use callscript_runtime::vm::{Action, CallContext, EndReason, Event, Executable, Record, Session};

use crate::cli::check_paths;
use crate::render;

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Checks and lowers one file; on errors prints them and returns None.
pub fn compile_file(file: &Path) -> Result<Option<(Checked, Program)>, String> {
    let (checked, _) = check_paths(&[file.to_path_buf()])?;
    if checked.error_count() > 0 {
        eprint!("{}", render::human(&checked.diagnostics, &checked.sources, color()));
        eprintln!("{}", render::summary_line(checked.error_count(), checked.warning_count(), 1));
        return Ok(None);
    }
    let root = checked.files.iter().find(|f| f.is_root).map(|f| f.id).ok_or("no file to compile")?;
    let program = callscript_compiler::lower::lower(&checked, root);
    Ok(Some((checked, program)))
}

/// `file:line:column` of a span.
pub fn location(sources: &Sources, at: FileSpan) -> String {
    if (at.file.0 as usize) >= sources.len() {
        return String::from("?");
    }
    let src = sources.get(at.file);
    let lc = src.line_col(at.span.start);
    format!("{}:{}:{}", src.name, lc.line, lc.column)
}

pub fn build(file: &Path, output: Option<PathBuf>) -> i32 {
    let program = match compile_file(file) {
        Ok(Some((_, p))) => p,
        Ok(None) => return 1,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let out = output.unwrap_or_else(|| file.with_extension("callc"));
    let bytes = program.to_bytes();
    if let Err(e) = std::fs::write(&out, &bytes) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return 2;
    }
    println!(
        "built {} ({} script{}, {} bytes, sources sha256 {})",
        out.display(),
        program.scripts.len(),
        if program.scripts.len() == 1 { "" } else { "s" },
        bytes.len(),
        &program.sources_sha256()[..16]
    );
    0
}

/// Loads a `.callc` file, or compiles a `.call` file.
fn load_program(file: &Path) -> Result<Program, i32> {
    if file.extension().and_then(|e| e.to_str()) == Some("call") {
        return match compile_file(file) {
            Ok(Some((_, p))) => Ok(p),
            Ok(None) => Err(1),
            Err(e) => {
                eprintln!("error: {e}");
                Err(2)
            }
        };
    }
    let bytes = std::fs::read(file).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", file.display());
        2
    })?;
    Program::from_bytes(&bytes).map(|(_, p)| p).map_err(|e| {
        eprintln!("error: {}: {e}", file.display());
        2
    })
}

pub fn disasm(file: &Path) -> i32 {
    match load_program(file) {
        Ok(program) => {
            print!("{}", callscript_compiler::disasm::disassemble(&program));
            0
        }
        Err(code) => code,
    }
}

pub fn test(paths: &[PathBuf], coverage: bool) -> i32 {
    let files = match crate::files::collect(paths, "call") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut could_not_run = false;
    for file in &files {
        let (checked, program) = match compile_file(file) {
            Ok(Some(x)) => x,
            Ok(None) => {
                could_not_run = true;
                continue;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let Some(root) = checked.files.iter().find(|f| f.is_root) else { continue };
        let tests: Vec<_> =
            root.ast.items.iter().filter_map(|i| if let Item::Test(t) = i { Some(t) } else { None }).collect();
        if tests.is_empty() && !coverage {
            continue;
        }
        let exec = match Executable::new(program) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return 2;
            }
        };
        let mut covered: Vec<Coverage> = vec![Coverage::default(); exec.program.scripts.len()];
        for test in tests {
            let index = exec.program.scripts.iter().position(|s| s.name == test.script.name).unwrap_or(0);
            let result = run_test(&exec, root.id, test, &mut covered[index]);
            let name = crate::files::display_name(file);
            match result.failure {
                None => {
                    passed += 1;
                    let _ = writeln!(out, "ok   {name}: {}", result.name);
                }
                Some(f) => {
                    failed += 1;
                    let _ = writeln!(out, "FAIL {name}: {}", result.name);
                    let _ = writeln!(out, "  {}: {}", location(&checked.sources, f.at), f.message);
                    if let Some(instead) = f.instead_at {
                        let _ = writeln!(out, "  {}: what played instead", location(&checked.sources, instead));
                    }
                    let _ = writeln!(out, "  transcript so far:");
                    for line in &f.transcript {
                        let _ = writeln!(out, "  {line}");
                    }
                }
            }
        }
        if coverage {
            for (script, cov) in exec.program.scripts.iter().zip(&covered) {
                let (missing, percent) = uncovered(script, cov);
                let _ = writeln!(out, "coverage {}: {percent:.1}% of steps and branches reached", script.name);
                for (what, at) in missing {
                    let source = checked.sources.get(at.file).slice(at.span).trim_end_matches("=>").trim();
                    let shown = if what.starts_with("step") { what } else { format!("{what} `{source}`") };
                    let _ = writeln!(out, "  not reached: {shown} at {}", location(&checked.sources, at));
                }
            }
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if could_not_run { 2 } else { i32::from(failed > 0) }
}

/// Parses `name=value` for an input of the script, by its declared type.
fn parse_input(program: &Program, script: usize, spec: &str) -> Result<(String, Value), String> {
    use callscript_compiler::syntax::ast::Type;
    let (name, raw) = spec.split_once('=').ok_or_else(|| format!("`{spec}`: write an input as NAME=VALUE"))?;
    let decl = program.scripts[script]
        .slots
        .iter()
        .find(|s| s.input && s.name == name)
        .ok_or_else(|| format!("the script has no input `{name}`"))?;
    let value = match decl.ty {
        Type::Text => Value::Text(raw.to_string()),
        Type::Int => Value::Int(raw.parse().map_err(|_| format!("input `{name}` is an int, not `{raw}`"))?),
        Type::Money => Value::Money(Money::parse(raw).ok_or_else(|| format!("input `{name}` is money, not `{raw}`"))?),
        Type::Bool => Value::Bool(match raw {
            "true" | "是" | "1" => true,
            "false" | "否" | "0" => false,
            _ => return Err(format!("input `{name}` is true or false, not `{raw}`")),
        }),
        Type::Date => Value::Date(
            Date::parse(raw).ok_or_else(|| format!("input `{name}` is a date like 2026-11-24, not `{raw}`"))?,
        ),
    };
    Ok((name.to_string(), value))
}

/// One typed reply: text, or a command.
fn reply_event(line: &str) -> Result<Event, String> {
    let line = line.trim();
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Event::Utterance { text: line.to_string(), emotion: None });
    };
    let (word, rest) = command.split_once(' ').map_or((command, ""), |(w, r)| (w, r.trim()));
    match word {
        "dtmf" if !rest.is_empty() => Ok(Event::Dtmf(rest.to_string())),
        "silence" => Ok(Event::Silence),
        "hangup" => Ok(Event::CustomerHangup),
        emotion => match Emotion::from_name(emotion) {
            Some(e) => Ok(Event::Utterance { text: rest.to_string(), emotion: Some(e) }),
            None => Err(format!(
                "unknown command `/{word}`: use /dtmf KEYS, /silence, /hangup, or /angry|/upset|/neutral|/happy TEXT"
            )),
        },
    }
}

pub fn simulate(
    file: &Path,
    script: Option<&str>,
    inputs: &[String],
    replies: Option<&Path>,
    attempt: i64,
    hour: i64,
) -> i32 {
    let program = match load_program(file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let index = match script {
        Some(name) => match program.scripts.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                let names: Vec<&str> = program.scripts.iter().map(|s| s.name.as_str()).collect();
                eprintln!("error: there is no script `{name}` (scripts: {})", names.join(", "));
                return 2;
            }
        },
        None if program.scripts.is_empty() => {
            eprintln!("error: {} holds no script", file.display());
            return 2;
        }
        None => 0,
    };
    let mut values = Vec::new();
    for spec in inputs {
        match parse_input(&program, index, spec) {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    let name = program.scripts[index].name.clone();
    let exec = match Executable::new(program) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut session = match Session::start(Arc::clone(&exec), &name, values, CallContext { attempt, hour }) {
        Ok(s) => s,
        Err(e) => {
            let missing: Vec<String> = exec.program.scripts[index]
                .slots
                .iter()
                .filter(|s| s.input && s.init.is_none())
                .map(|s| format!("--input {}=…", s.name))
                .collect();
            eprintln!("error: {e}\n  the script's required inputs: {}", missing.join(" "));
            return 2;
        }
    };
    let reader: Box<dyn BufRead> = match replies {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return 2;
            }
        },
        None => Box::new(std::io::stdin().lock()),
    };
    let interactive = replies.is_none() && std::io::stdin().is_terminal();
    let mut lines = reader.lines();
    let mut out = std::io::stdout().lock();
    let script = &exec.program.scripts[index];
    let mut event = Event::Done;
    loop {
        let action = session.step(std::mem::replace(&mut event, Event::Done));
        match action {
            Action::EnterStep(s) => {
                let _ = writeln!(out, "  → {}", script.steps[s as usize].path());
            }
            Action::Branch { .. } => {}
            Action::Play { text, .. } => {
                let step = session.current_step().map(|s| script.steps[s as usize].path()).unwrap_or_default();
                let _ = writeln!(out, "[{step}] bot: {text}");
            }
            Action::Record(r) => {
                let _ = writeln!(
                    out,
                    "  ({})",
                    match r {
                        Record::Verify => "identity verified".to_string(),
                        Record::Tag(t) => format!("tag \"{t}\""),
                        Record::Callback { after_ms } =>
                            format!("callback in {}", callscript_runtime::testing::duration_text(after_ms)),
                        Record::Optout => "opt-out recorded".to_string(),
                    }
                );
            }
            Action::Listen { timeout_ms, .. } => {
                loop {
                    if interactive {
                        let _ = write!(out, "customer> ");
                        let _ = out.flush();
                    }
                    let Some(Ok(line)) = lines.next() else {
                        let _ = writeln!(out, "(no more replies: the customer hangs up)");
                        event = Event::CustomerHangup;
                        break;
                    };
                    if line.trim().is_empty() || line.trim_start().starts_with('#') {
                        continue;
                    }
                    if !interactive {
                        let _ = writeln!(out, "customer> {}", line.trim());
                    }
                    match reply_event(&line) {
                        Ok(e) => {
                            event = e;
                            break;
                        }
                        Err(message) => {
                            let _ = writeln!(out, "{message}");
                        }
                    }
                }
                let _ = timeout_ms;
            }
            Action::Transfer { queue, outcome } => {
                let _ = writeln!(
                    out,
                    "call transferred to \"{queue}\" (outcome {})",
                    script.outcomes[outcome as usize].name
                );
                return 0;
            }
            Action::Hangup { outcome } => {
                let o = &script.outcomes[outcome as usize];
                let _ = writeln!(out, "call ended: {}{}", o.name, if o.goal { " (goal)" } else { "" });
                return 0;
            }
            Action::End(EndReason::CustomerHangup) => {
                let _ = writeln!(out, "call ended: the customer hung up");
                return 0;
            }
            Action::End(EndReason::Failed { message, at }) => {
                let where_ = at.map(|a| format!(" at {}", location(&checked_sources(&exec), a))).unwrap_or_default();
                let _ = writeln!(out, "call failed{where_}: {message}");
                return 1;
            }
        }
    }
}

fn checked_sources(exec: &Arc<Executable>) -> Sources {
    let mut sources = Sources::new();
    for f in &exec.program.files {
        sources.add(callscript_compiler::source::Source::new(f.name.clone(), f.text.clone()));
    }
    sources
}
