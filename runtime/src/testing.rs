//! Conversation tests (LANGUAGE.md §7, §9.8): runs `test` blocks in the VM and reports what
//! passed, what failed (with the transcript, the expectation and what happened instead) and
//! which steps and branches no test reached.

use std::collections::BTreeSet;
use std::sync::Arc;

use callscript_compiler::bytecode::{AskId, Emotion, ScriptCode, StepId};
use callscript_compiler::span::{FileSpan, SourceId, Span};
use callscript_compiler::syntax::ast::{self, Expect, ExprKind, Reply, TestStmtKind};
use callscript_compiler::value::Value;

use crate::vm::{Action, CallContext, EndReason, Event, Executable, Record, Session};

/// One line of a transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Step(String),
    Say { text: String, step: Option<String>, span: FileSpan },
    Reply(String),
    Tag(String),
    Verify,
    Callback(u64),
    Optout,
    Transfer { queue: String, outcome: String },
    Hangup(String),
    CustomerHangup,
    Failed(String),
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Step(s) => write!(f, "  → step {s}"),
            Line::Say { text, .. } => write!(f, "  bot: {text}"),
            Line::Reply(r) => write!(f, "  customer: {r}"),
            Line::Tag(t) => write!(f, "  tag \"{t}\""),
            Line::Verify => write!(f, "  (identity verified)"),
            Line::Callback(ms) => write!(f, "  callback in {}", crate::testing::duration_text(*ms)),
            Line::Optout => write!(f, "  (opt-out recorded)"),
            Line::Transfer { queue, outcome } => write!(f, "  transfer \"{queue}\" (outcome {outcome})"),
            Line::Hangup(o) => write!(f, "  hangup {o}"),
            Line::CustomerHangup => write!(f, "  (customer hung up)"),
            Line::Failed(m) => write!(f, "  call failed: {m}"),
        }
    }
}

pub fn duration_text(ms: u64) -> String {
    match ms {
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{m}ms"),
    }
}

/// What a failing test reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// Where the failing expectation (or reply) is written.
    pub at: FileSpan,
    /// The source of what happened instead, when there is one (a prompt, a hangup).
    pub instead_at: Option<FileSpan>,
    pub transcript: Vec<Line>,
}

/// The result of one test.
#[derive(Clone, Debug)]
pub struct TestResult {
    pub name: String,
    pub file: SourceId,
    pub span: Span,
    pub failure: Option<Failure>,
}

/// Steps and branches reached, per script.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    pub steps: BTreeSet<StepId>,
    /// (ask, branch index); handlers have ask None.
    pub branches: BTreeSet<(Option<AskId>, u16)>,
}

struct Run<'a> {
    session: Session,
    script: &'a ScriptCode,
    transcript: Vec<Line>,
    /// Index in `transcript` where the current segment starts.
    segment: usize,
    /// Index from which the next `expect say` searches.
    search: usize,
    listening: bool,
    over: bool,
    coverage: &'a mut Coverage,
}

impl Run<'_> {
    fn step_name(&self, id: Option<StepId>) -> Option<String> {
        id.and_then(|s| self.script.steps.get(s as usize)).map(|s| s.path())
    }

    /// Feeds an event and drives the session until it listens or the call ends.
    fn drive(&mut self, mut event: Event) {
        self.listening = false;
        for _ in 0..100_000 {
            let action = self.session.step(event);
            event = Event::Done;
            match action {
                Action::EnterStep(s) => {
                    self.coverage.steps.insert(s);
                    if let Some(name) = self.step_name(Some(s)) {
                        self.transcript.push(Line::Step(name));
                    }
                }
                Action::Branch { ask, index, handler } => {
                    self.coverage.branches.insert((if handler { None } else { ask }, index));
                }
                Action::Play { text, log_text, span, .. } => {
                    let step = self.step_name(self.session.current_step());
                    // Tests see what is spoken; transcripts elsewhere use the masked text.
                    let _ = log_text;
                    self.transcript.push(Line::Say { text, step, span });
                }
                Action::Listen { .. } => {
                    self.listening = true;
                    return;
                }
                Action::Record(r) => self.transcript.push(match r {
                    Record::Verify => Line::Verify,
                    Record::Tag(t) => Line::Tag(t),
                    Record::Callback { after_ms } => Line::Callback(after_ms),
                    Record::Optout => Line::Optout,
                }),
                Action::Transfer { queue, outcome } => {
                    let outcome = self.script.outcomes.get(outcome as usize).map_or(String::new(), |o| o.name.clone());
                    self.transcript.push(Line::Transfer { queue, outcome });
                    self.over = true;
                    return;
                }
                Action::Hangup { outcome } => {
                    let outcome = self.script.outcomes.get(outcome as usize).map_or(String::new(), |o| o.name.clone());
                    self.transcript.push(Line::Hangup(outcome));
                    self.over = true;
                    return;
                }
                Action::End(reason) => {
                    self.transcript.push(match reason {
                        EndReason::CustomerHangup => Line::CustomerHangup,
                        EndReason::Failed { message, .. } => Line::Failed(message),
                    });
                    self.over = true;
                    return;
                }
            }
        }
    }

    fn segment(&self) -> &[Line] {
        &self.transcript[self.segment..]
    }
}

fn literal(expr: &ast::Expr) -> Option<Value> {
    Some(match &expr.kind {
        ExprKind::Int(n) => Value::Int(*n),
        ExprKind::Money(m) => Value::Money(*m),
        ExprKind::Str(s) => Value::Text(s.clone()),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Date(d) => Value::Date(*d),
        ExprKind::Paren(inner) => return literal(inner),
        _ => return None,
    })
}

/// Runs one test block against its compiled script.
pub fn run_test(exec: &Arc<Executable>, file: SourceId, test: &ast::Test, coverage: &mut Coverage) -> TestResult {
    let at = |span: Span| FileSpan::new(file, span);
    let result = |failure| TestResult { name: test.name.value.clone(), file, span: test.name.span, failure };
    let Some(script) = exec.program.script(&test.script.name) else {
        return result(Some(Failure {
            message: format!("there is no script `{}`", test.script.name),
            at: at(test.script.span),
            instead_at: None,
            transcript: Vec::new(),
        }));
    };
    let mut inputs = Vec::new();
    let mut context = CallContext::default();
    for stmt in &test.body {
        match &stmt.kind {
            TestStmtKind::Input(values) => {
                for (name, expr) in values {
                    if let Some(v) = literal(expr) {
                        inputs.push((name.name.clone(), v));
                    }
                }
            }
            TestStmtKind::Attempt(a) => context.attempt = a.value,
            TestStmtKind::Hour(h) => context.hour = h.value,
            _ => {}
        }
    }
    let session = match Session::start(Arc::clone(exec), &script.name, inputs, context) {
        Ok(s) => s,
        Err(e) => {
            return result(Some(Failure {
                message: format!("the call could not start: {e}"),
                at: at(test.name.span),
                instead_at: None,
                transcript: Vec::new(),
            }));
        }
    };
    let mut run =
        Run { session, script, transcript: Vec::new(), segment: 0, search: 0, listening: false, over: false, coverage };
    run.drive(Event::Done);
    for stmt in &test.body {
        let fail = |run: &Run, message: String, instead_at: Option<FileSpan>| {
            Some(Failure { message, at: at(stmt.span), instead_at, transcript: run.transcript.clone() })
        };
        let failure = match &stmt.kind {
            TestStmtKind::Reply(reply) => {
                if !run.listening {
                    let why = if run.over { "the call is already over" } else { "no ask is listening" };
                    fail(&run, format!("this reply comes when {why}"), None)
                } else {
                    let (line, event) = match reply {
                        Reply::Text(t) => (t.value.clone(), Event::Utterance { text: t.value.clone(), emotion: None }),
                        Reply::Dtmf(d) => (format!("[dtmf {}]", d.value), Event::Dtmf(d.value.clone())),
                        Reply::Silence => ("[silence]".to_string(), Event::Silence),
                        Reply::Emotion(e, t) => (
                            format!("[{}] {}", e.name, t.value),
                            Event::Utterance { text: t.value.clone(), emotion: Emotion::from_name(&e.name) },
                        ),
                    };
                    run.transcript.push(Line::Reply(line));
                    run.segment = run.transcript.len();
                    run.search = run.segment;
                    run.drive(event);
                    None
                }
            }
            TestStmtKind::Hangup => {
                if run.over {
                    fail(&run, "the customer cannot hang up: the call is already over".into(), None)
                } else {
                    run.transcript.push(Line::Reply("[hangs up]".into()));
                    run.segment = run.transcript.len();
                    run.search = run.segment;
                    run.drive(Event::CustomerHangup);
                    None
                }
            }
            TestStmtKind::Expect(expect) => check_expect(&mut run, expect).map(|(message, instead)| Failure {
                message,
                at: at(stmt.span),
                instead_at: instead,
                transcript: run.transcript.clone(),
            }),
            _ => None,
        };
        if failure.is_some() {
            return result(failure);
        }
    }
    result(None)
}

/// Checks an expectation against the current segment; Err is (what happened, its source).
fn check_expect(run: &mut Run, expect: &Expect) -> Option<(String, Option<FileSpan>)> {
    let segment_start = run.segment;
    let last_say = || {
        run.segment().iter().rev().find_map(|l| match l {
            Line::Say { text, span, .. } => Some((text.clone(), *span)),
            _ => None,
        })
    };
    let ending = || {
        run.segment().iter().find_map(|l| match l {
            Line::Transfer { .. } | Line::Hangup(_) | Line::CustomerHangup | Line::Failed(_) => Some(l.to_string()),
            _ => None,
        })
    };
    match expect {
        Expect::Say(s) => {
            let from = run.search.max(segment_start);
            let found = run.transcript[from..]
                .iter()
                .position(|l| matches!(l, Line::Say { text, .. } if text.contains(&s.value)));
            match found {
                Some(i) => {
                    // The next `expect say` searches from this prompt on (§9.8).
                    run.search = from + i;
                    None
                }
                None => {
                    let instead = match last_say() {
                        Some((text, span)) => (
                            format!(
                                "expected a prompt containing \"{}\", but the prompts since the last reply do not contain it (last: \"{text}\")",
                                s.value
                            ),
                            Some(span),
                        ),
                        None => (
                            format!(
                                "expected a prompt containing \"{}\", but no prompt was played since the last reply",
                                s.value
                            ),
                            None,
                        ),
                    };
                    Some(instead)
                }
            }
        }
        Expect::Step(target) => {
            let want = target.display();
            let reached = run.segment().iter().any(|l| match l {
                Line::Step(s) => *s == want || s.rsplit('.').next() == Some(want.as_str()),
                _ => false,
            });
            if reached {
                None
            } else {
                let steps: Vec<String> = run
                    .segment()
                    .iter()
                    .filter_map(|l| if let Line::Step(s) = l { Some(s.clone()) } else { None })
                    .collect();
                Some((
                    format!(
                        "expected the call to reach step `{want}`; since the last reply it reached {}",
                        if steps.is_empty() { "no step".to_string() } else { steps.join(", ") }
                    ),
                    None,
                ))
            }
        }
        Expect::Tag(t) => {
            if run.segment().iter().any(|l| matches!(l, Line::Tag(x) if *x == t.value)) {
                None
            } else {
                Some((format!("expected tag \"{}\", but it was not recorded since the last reply", t.value), None))
            }
        }
        Expect::Transfer(q) => {
            if run.segment().iter().any(|l| matches!(l, Line::Transfer { queue, .. } if *queue == q.value)) {
                None
            } else {
                Some((
                    format!(
                        "expected a transfer to \"{}\", but {}",
                        q.value,
                        ending().unwrap_or_else(|| "the call did not transfer".into()).trim()
                    ),
                    None,
                ))
            }
        }
        Expect::Hangup(o) => {
            let hit = run.segment().iter().any(|l| match l {
                Line::Hangup(x) => *x == o.name,
                Line::Transfer { outcome, .. } => *outcome == o.name,
                _ => false,
            });
            if hit {
                None
            } else {
                let what = ending()
                    .map(|e| format!("the call ended with {}", e.trim()))
                    .unwrap_or_else(|| "the call has not ended".into());
                Some((format!("expected the call to end with `{}`, but {what}", o.name), None))
            }
        }
    }
}

/// Steps and branches no test reached, as (description, span) pairs, with the percentage of
/// steps and branches covered.
pub fn uncovered(script: &ScriptCode, coverage: &Coverage) -> (Vec<(String, FileSpan)>, f64) {
    let mut missing = Vec::new();
    let mut total = 0usize;
    for (i, step) in script.steps.iter().enumerate() {
        total += 1;
        if !coverage.steps.contains(&(i as StepId)) {
            missing.push((format!("step {}", step.path()), step.span));
        }
    }
    for (a, ask) in script.asks.iter().enumerate() {
        for (b, branch) in ask.branches.iter().enumerate() {
            total += 1;
            if !coverage.branches.contains(&(Some(a as AskId), b as u16)) {
                missing.push(("branch".to_string(), branch.span));
            }
        }
    }
    for (h, handler) in script.handlers.iter().enumerate() {
        total += 1;
        if !coverage.branches.contains(&(None, h as u16)) {
            missing.push(("objection handler".to_string(), handler.span));
        }
    }
    let percent = if total == 0 { 100.0 } else { 100.0 * (total - missing.len()) as f64 / total as f64 };
    (missing, percent)
}
