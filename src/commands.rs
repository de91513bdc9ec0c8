//! `build`, `disasm`, `test` and `simulate`: compile through the checker, then hand the
//! program to the runtime.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use callscript_compiler::bytecode::{AskId, Emotion, Program, StepId};
use callscript_compiler::check::Checked;
use callscript_compiler::source::Sources;
use callscript_compiler::span::FileSpan;
use callscript_compiler::syntax::ast::Item;
use callscript_compiler::value::Value;
use callscript_runtime::call::virtual_time::{self, Customer, Turn};
use callscript_runtime::call::{CallDriver, Note};
use callscript_runtime::testing::{Coverage, run_test, uncovered};
use callscript_runtime::vm::{CallContext, Executable, Record, Session};

use crate::checking::check_paths;
use crate::error::{CliError, CliResult, Status};

/// Checks and lowers one file (or a campaign's script) under the pack of `jurisdiction` (a
/// campaign's own wins), as `check` does; its errors are the command's findings.
pub fn compile_file(file: &Path, jurisdiction: &str) -> Result<(Checked, Program), CliError> {
    let (checked, _) = check_paths(&[file.to_path_buf()], jurisdiction)?;
    if checked.error_count() > 0 {
        return Err(CliError::findings(checked, 1, None));
    }
    let Some(program) = checked.root_program().cloned() else {
        return Err(CliError::Refused(format!("{}: no file to compile", file.display())));
    };
    Ok((checked, program))
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

pub fn build(file: &Path, output: Option<PathBuf>, jurisdiction: &str) -> CliResult {
    let (_, program) = compile_file(file, jurisdiction)?;
    let out = output.unwrap_or_else(|| file.with_extension("callc"));
    let bytes = program.to_bytes();
    std::fs::write(&out, &bytes).map_err(CliError::io(format!("cannot write {}", out.display())))?;
    println!(
        "built {} ({} script{}, {} bytes, sources sha256 {})",
        out.display(),
        program.scripts.len(),
        if program.scripts.len() == 1 { "" } else { "s" },
        bytes.len(),
        &program.sources_sha256()[..16]
    );
    Ok(Status::Success)
}

/// Loads a `.callc` file (checked when it was built), or compiles a `.call` file or a
/// campaign's script under `jurisdiction` (a campaign's own wins).
fn load_program(file: &Path, jurisdiction: &str) -> Result<Program, CliError> {
    if matches!(file.extension().and_then(|e| e.to_str()), Some("call" | "toml" | "json")) {
        return compile_file(file, jurisdiction).map(|(_, p)| p);
    }
    let bytes = std::fs::read(file).map_err(CliError::io(format!("cannot read {}", file.display())))?;
    Program::from_bytes(&bytes).map(|(_, p)| p).map_err(|e| CliError::Refused(format!("{}: {e}", file.display())))
}

pub fn disasm(file: &Path) -> CliResult {
    let program = load_program(file, callscript_compiler::campaign::DEFAULT_JURISDICTION)?;
    print!("{}", callscript_compiler::disasm::disassemble(&program));
    Ok(Status::Success)
}

pub fn test(paths: &[PathBuf], coverage: bool, jurisdiction: &str) -> CliResult {
    let files = crate::files::collect(paths, "call").map_err(CliError::Usage)?;
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    // A file that does not compile is reported, and the other files' tests still run.
    let mut could_not_run = 0;
    for file in &files {
        let (checked, program) = match compile_file(file, jurisdiction) {
            Ok(x) => x,
            Err(e @ CliError::Findings(_)) => {
                crate::error::report(&e);
                could_not_run += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(root) = checked.files.iter().find(|f| f.is_root) else { continue };
        let tests: Vec<_> =
            root.ast.items.iter().filter_map(|i| if let Item::Test(t) = i { Some(t) } else { None }).collect();
        if tests.is_empty() && !coverage {
            continue;
        }
        let exec = Executable::new(program).map_err(|e| CliError::Refused(format!("{}: {e}", file.display())))?;
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
    // The findings were shown as they came; exit 2: some tests could not run at all.
    match could_not_run {
        0 => Ok(Status::failures_if(failed > 0)),
        1 => Err(CliError::Refused("1 file does not compile, so its tests did not run".into())),
        n => Err(CliError::Refused(format!("{n} files do not compile, so their tests did not run"))),
    }
}

/// Parses `name=value` for an input of the script, by its declared type.
fn parse_input(program: &Program, script: usize, spec: &str) -> Result<(String, Value), String> {
    let (name, raw) = spec.split_once('=').ok_or_else(|| format!("`{spec}`: write an input as NAME=VALUE"))?;
    let decl = program.scripts[script]
        .slots
        .iter()
        .find(|s| s.input && s.name == name)
        .ok_or_else(|| format!("the script has no input `{name}`"))?;
    // One reading of a typed cell for the command line and the customer list.
    let value = callscript_runtime::campaign::customers::parse_value(decl.ty, raw)
        .map_err(|why| format!("input `{name}` is {}, but `{raw}` {why}", decl.ty.a()))?;
    Ok((name.to_string(), value))
}

/// One typed reply: text, or a command.
fn reply_turn(line: &str) -> Result<Turn, String> {
    let line = line.trim();
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Turn::Say { text: line.to_string(), emotion: None });
    };
    let (word, rest) = command.split_once(' ').map_or((command, ""), |(w, r)| (w, r.trim()));
    match word {
        "dtmf" if !rest.is_empty() => Ok(Turn::Keys(rest.to_string())),
        "silence" => Ok(Turn::Silence),
        "hangup" => Ok(Turn::HangUp),
        emotion => match Emotion::from_name(emotion) {
            Some(e) => Ok(Turn::Say { text: rest.to_string(), emotion: Some(e) }),
            None => Err(format!(
                "unknown command `/{word}`: use /dtmf KEYS, /silence, /hangup, or /angry|/upset|/neutral|/happy TEXT"
            )),
        },
    }
}

/// This machine's local date, for `simulate` without `--today`.
pub fn local_today() -> callscript_compiler::value::Date {
    callscript_runtime::vm::today_of(jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::system()).date())
}

/// What `simulate` runs.
pub struct SimulateArgs<'a> {
    pub file: &'a Path,
    pub script: Option<&'a str>,
    pub inputs: &'a [String],
    /// Replies from a file instead of the terminal.
    pub replies: Option<&'a Path>,
    pub context: CallContext,
    /// Where to write the stored form of the transcript.
    pub transcript: Option<&'a Path>,
    /// The compliance pack a `.call` file is checked under (a campaign's own wins).
    pub jurisdiction: &'a str,
}

pub fn simulate(args: SimulateArgs) -> CliResult {
    let SimulateArgs { file, script, inputs, replies, context, transcript, jurisdiction } = args;
    let program = load_program(file, jurisdiction)?;
    let index = match script {
        Some(name) => program.scripts.iter().position(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = program.scripts.iter().map(|s| s.name.as_str()).collect();
            CliError::Usage(format!("there is no script `{name}` (scripts: {})", names.join(", ")))
        })?,
        None if program.scripts.is_empty() => {
            return Err(CliError::Refused(format!("{} holds no script", file.display())));
        }
        None => 0,
    };
    let values = inputs
        .iter()
        .map(|spec| parse_input(&program, index, spec))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::Usage)?;
    let name = program.scripts[index].name.clone();
    let exec = Executable::new(program).map_err(|e| CliError::Refused(e.to_string()))?;
    let session = Session::start(Arc::clone(&exec), &name, values, context).map_err(|e| {
        let missing: Vec<String> = exec.program.scripts[index]
            .slots
            .iter()
            .filter(|s| s.input && s.init.is_none())
            .map(|s| format!("--input {}=…", s.name))
            .collect();
        CliError::Usage(format!("{e}\n  the script's required inputs: {}", missing.join(" ")))
    })?;
    let reader: Box<dyn BufRead> = match replies {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(CliError::io(format!("cannot read {}", path.display())))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let interactive = replies.is_none() && std::io::stdin().is_terminal();
    let max_duration_ms = exec.program.scripts[index].max_duration_ms;
    let mut call = CallDriver::new(session, max_duration_ms);
    let mut customer =
        TypedCustomer { lines: reader.lines(), interactive, out: std::io::stdout().lock(), printed: 0, broken: None };
    virtual_time::converse(&mut call, &mut customer);
    customer.print_notes(&call);
    let ending = call.notes().iter().rev().find_map(|note| match note {
        Note::Transfer { queue, outcome, .. } => Some((
            format!("call transferred to \"{queue}\" (outcome {})", call.script().outcomes[*outcome as usize].name),
            0,
        )),
        Note::Hangup { outcome } => {
            let o = &call.script().outcomes[*outcome as usize];
            Some((format!("call ended: {}{}", o.name, if o.goal { " (goal)" } else { "" }), 0))
        }
        Note::CustomerHangup => Some(("call ended: the customer hung up".to_string(), 0)),
        Note::Failed { message, at } => {
            let where_ = at.map(|a| format!(" at {}", location(&checked_sources(&exec), a))).unwrap_or_default();
            Some((format!("call failed{where_}: {message}"), 1))
        }
        _ => None,
    });
    let (line, code) = ending.unwrap_or_else(|| ("call ended".to_string(), 0));
    customer.print(&line);
    if let Some(e) = customer.broken {
        return Err(CliError::Io { what: "cannot write the conversation".into(), source: e });
    }
    if let Some(path) = transcript {
        let json = serde_json::to_string_pretty(&call.result().transcript).unwrap_or_default();
        std::fs::write(path, json + "\n").map_err(CliError::io(format!("cannot write {}", path.display())))?;
    }
    Ok(Status::failures_if(code != 0))
}

/// `simulate`'s customer: replies typed at the terminal or read from a file, one per line,
/// with the conversation printed as it goes.
struct TypedCustomer<R, W> {
    lines: std::io::Lines<R>,
    interactive: bool,
    out: W,
    /// How many of the call's notes are printed.
    printed: usize,
    /// The first failed write: the rest of the conversation is not printed.
    broken: Option<std::io::Error>,
}

/// How the learned model chose a turn's intent (§14): the intent, its confidence, and the
/// n-grams of the customer's words that weighed most for it.
fn learned_why(call: &CallDriver, r: callscript_runtime::vm::Recognition) -> String {
    let exec = call.executable();
    let name = exec.program.intents.get(r.intent as usize).map_or("?", |t| t.name.as_str());
    let words = call.notes().iter().rev().find_map(|n| match n {
        Note::Heard { answer: callscript_runtime::call::Answer::Said { text, .. }, .. } => Some(text.as_str()),
        _ => None,
    });
    let why = match (&exec.classifier, words) {
        (Some(model), Some(words)) => model.explain(words, r.intent, 3),
        _ => Vec::new(),
    };
    let mut line = format!("intent {name} by the model, confidence {:.2}", f64::from(r.confidence_permille) / 1000.0);
    if !why.is_empty() {
        line.push_str(&format!(", from {}", why.iter().map(|w| format!("“{w}”")).collect::<Vec<_>>().join(" ")));
    }
    line
}

impl<R: BufRead, W: Write> TypedCustomer<R, W> {
    fn print(&mut self, line: &str) {
        if self.broken.is_none()
            && let Err(e) = writeln!(self.out, "{line}").and_then(|()| self.out.flush())
        {
            self.broken = Some(e);
        }
    }

    fn print_notes(&mut self, call: &CallDriver) {
        let script = call.script();
        let files = &call.executable().program.files;
        let step_path = |s: StepId| script.steps[s as usize].path();
        for note in &call.notes()[self.printed..] {
            let line = match note {
                // Which branch the turn took, as written (the head up to `=>`).
                Note::Branch { ask, index, handler, recognised } => {
                    let branch = if *handler {
                        script.handlers.get(*index as usize)
                    } else {
                        ask.and_then(|a| script.asks.get(a as usize)).and_then(|a| a.branches.get(*index as usize))
                    };
                    let Some(head) = branch.and_then(|b| {
                        files
                            .get(b.span.file.0 as usize)?
                            .text
                            .get(b.span.span.range())
                            .map(|t| t.trim_end_matches("=>").trim())
                    }) else {
                        continue;
                    };
                    let kind = if *handler { "objection handler" } else { "branch" };
                    match recognised.filter(|r| r.by_model) {
                        Some(r) => format!("  ({kind} `{head}`: {})", learned_why(call, r)),
                        None => format!("  ({kind} `{head}`)"),
                    }
                }
                // Which branch of a `do` the action's answer took (§13).
                Note::DoBranch { call, ok } => {
                    let Some(d) = script.dos.get(*call as usize) else { continue };
                    let span = if *ok { d.ok_span } else { d.failed_span };
                    let Some(head) = files
                        .get(span.file.0 as usize)
                        .and_then(|f| f.text.get(span.span.range()))
                        .map(|t| t.trim_end_matches("=>").trim())
                    else {
                        continue;
                    };
                    format!("  (branch `{head}`)")
                }
                Note::Captured { name, value, sensitive } => {
                    let shown =
                        if *sensitive { callscript_runtime::call::MASK.to_string() } else { value.literal_text() };
                    format!("  (captured {name} = {shown})")
                }
                Note::Step(s) => format!("  → {}", step_path(*s)),
                Note::Said { text, step, .. } => format!("[{}] bot: {text}", step.map(step_path).unwrap_or_default()),
                Note::Record(r) => format!(
                    "  ({})",
                    match r {
                        Record::Verify => "identity verified".to_string(),
                        Record::Tag(t) => format!("tag \"{t}\""),
                        Record::Callback { after_ms } =>
                            format!("callback in {}", callscript_runtime::testing::duration_text(*after_ms)),
                        Record::CallbackAt { date, time } =>
                            format!("callback {}", callscript_runtime::testing::callback_at_text(*date, *time)),
                        Record::Optout => "opt-out recorded".to_string(),
                        Record::Sms { text, log_text } => format!("sms: {}", log_text.as_ref().unwrap_or(text)),
                    }
                ),
                Note::Action { name, result: Ok(()), latency_ms } => format!("  (action {name}: ok, {latency_ms} ms)"),
                Note::Action { name, result: Err(why), .. } => format!("  (action {name} failed: {why})"),
                Note::Transfer { data, .. } if !data.is_empty() => {
                    let data: Vec<String> = data
                        .iter()
                        .map(|h| {
                            format!(
                                "{}: {}",
                                h.key,
                                if h.sensitive { callscript_runtime::call::MASK } else { &h.value }
                            )
                        })
                        .collect();
                    format!("  (handed over {{ {} }})", data.join(", "))
                }
                _ => continue,
            };
            self.print(&line);
        }
        self.printed = call.notes().len();
    }
}

impl<R: BufRead, W: Write> Customer for TypedCustomer<R, W> {
    fn answer(&mut self, call: &CallDriver, _ask: AskId, _timeout_ms: u64) -> Turn {
        self.print_notes(call);
        loop {
            if self.broken.is_some() {
                return Turn::HangUp;
            }
            if self.interactive {
                let _ = write!(self.out, "customer> ").and_then(|()| self.out.flush());
            }
            let Some(Ok(line)) = self.lines.next() else {
                self.print("(no more replies: the customer hangs up)");
                return Turn::HangUp;
            };
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if !self.interactive {
                self.print(&format!("customer> {}", line.trim()));
            }
            match reply_turn(&line) {
                Ok(turn) => return turn,
                Err(message) => self.print(&message),
            }
        }
    }

    /// The script calls an action: `/ok {JSON}` answers with outputs, `/failed [why]` fails it.
    fn action(
        &mut self,
        call: &CallDriver,
        action: &str,
        inputs: &[callscript_runtime::vm::ActionInput],
    ) -> Result<Vec<(String, callscript_compiler::value::Value)>, String> {
        self.print_notes(call);
        let shown: Vec<String> = inputs
            .iter()
            .map(|i| {
                let v = if i.sensitive { callscript_runtime::call::MASK.to_string() } else { i.value.literal_text() };
                format!("{} = {v}", i.name)
            })
            .collect();
        self.print(&format!("  (action {action}({}): answer `/ok {{…}}` or `/failed`)", shown.join(", ")));
        let Some(code) = call.script().actions.iter().find(|a| a.name == action).cloned() else {
            return Err(format!("no action `{action}`"));
        };
        loop {
            if self.broken.is_some() {
                return Err("no answer".into());
            }
            if self.interactive {
                let _ = write!(self.out, "{action}> ").and_then(|()| self.out.flush());
            }
            let Some(Ok(line)) = self.lines.next() else {
                self.print("(no more replies: the action fails)");
                return Err("no answer".into());
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !self.interactive {
                self.print(&format!("{action}> {line}"));
            }
            if let Some(why) = line.strip_prefix("/failed") {
                let why = why.trim();
                return Err(if why.is_empty() { "failed (typed)".to_string() } else { why.to_string() });
            }
            let Some(json) = line.strip_prefix("/ok") else {
                self.print("the script waits for the action: type `/ok {\"FIELD\": …}` or `/failed`");
                continue;
            };
            let json = if json.trim().is_empty() { "{}" } else { json.trim() };
            match callscript_runtime::actions::outputs_from_text(&code, json) {
                Ok(outputs) => return Ok(outputs),
                Err(why) => self.print(&format!("{why}; try again")),
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
