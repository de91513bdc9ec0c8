//! Conversation tests (LANGUAGE.md §7, §9.8): runs `test` blocks in the VM and reports what
//! passed, what failed (with the transcript, the expectation and what happened instead) and
//! which steps and branches no test reached.

use std::collections::BTreeSet;
use std::sync::Arc;

use callscript_compiler::bytecode::{AskId, DoId, Emotion, ScriptCode, StepId};
use callscript_compiler::span::{FileSpan, SourceId, Span};
use callscript_compiler::syntax::ast::{self, Expect, ExprKind, Reply, TestStmtKind};
use callscript_compiler::value::Value;

use crate::call::virtual_time::{self, Customer, Turn};
use crate::call::{CallDriver, Note};
use crate::vm::{ActionInput, CallContext, Executable, Record, Session};

/// One line of a transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Step(String),
    Say {
        text: String,
        step: Option<String>,
        span: FileSpan,
    },
    Reply(String),
    /// A value read into a let (shown in clear: tests see through masking, §16.3).
    Captured {
        name: String,
        value: String,
    },
    Tag(String),
    Verify,
    Callback(u64),
    /// `callback on D at T` (§12), as written: `on 2026-12-01 at 15:30`.
    CallbackAt(String),
    Optout,
    Transfer {
        queue: String,
        outcome: String,
        /// What `with { … }` handed over: key and literal value (in clear, like captures).
        data: Vec<(String, String)>,
    },
    /// A text message sent (§13), in clear.
    Sms(String),
    /// An action answered (None) or failed (the cause).
    Action {
        name: String,
        failed: Option<String>,
    },
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
            Line::Captured { name, value } => write!(f, "  (captured {name} = {value})"),
            Line::Tag(t) => write!(f, "  tag \"{t}\""),
            Line::Verify => write!(f, "  (identity verified)"),
            Line::Callback(ms) => write!(f, "  callback in {}", crate::testing::duration_text(*ms)),
            Line::CallbackAt(when) => write!(f, "  callback {when}"),
            Line::Optout => write!(f, "  (opt-out recorded)"),
            Line::Transfer { queue, outcome, data } => {
                write!(f, "  transfer \"{queue}\" (outcome {outcome})")?;
                if !data.is_empty() {
                    let data: Vec<String> = data.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    write!(f, " with {{ {} }}", data.join(", "))?;
                }
                Ok(())
            }
            Line::Sms(text) => write!(f, "  sms: {text}"),
            Line::Action { name, failed: None } => write!(f, "  (action {name}: ok)"),
            Line::Action { name, failed: Some(why) } => write!(f, "  (action {name} failed: {why})"),
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
    /// (`do`, whether its `ok` branch): the branches of `do`s taken.
    pub dos: BTreeSet<(DoId, bool)>,
}

/// A `mock` in force: the action, its outputs (None: `failed`), where it is written.
type Mock = (String, Option<Vec<(String, Value)>>, Span);

/// A test block's customer: it answers each listen with the test's next reply, checking the
/// expectations written before it against what the call did since the last reply.
struct Run<'a> {
    file: SourceId,
    statements: &'a [ast::TestStmt],
    /// The next statement to carry out.
    next: usize,
    transcript: Vec<Line>,
    /// How many of the driver's notes are already in `transcript`.
    notes_seen: usize,
    /// Index in `transcript` where the current segment starts.
    segment: usize,
    /// Index from which the next `expect say` searches.
    search: usize,
    failure: Option<Failure>,
    coverage: &'a mut Coverage,
    /// The mock in force for each action (§16.6): its outputs, or None for `failed`.
    mocks: Vec<Mock>,
    /// Where the test is written, for failures without a statement of their own.
    test_span: Span,
}

impl Run<'_> {
    /// Brings the transcript and the coverage up to date with the call's log.
    fn sync(&mut self, call: &CallDriver) {
        let script = call.script();
        let step_name = |id: Option<StepId>| id.and_then(|s| script.steps.get(s as usize)).map(|s| s.path());
        let outcome_name = |o: u16| script.outcomes.get(o as usize).map_or(String::new(), |o| o.name.clone());
        for note in &call.notes()[self.notes_seen..] {
            let line = match note {
                Note::Step(s) => {
                    self.coverage.steps.insert(*s);
                    step_name(Some(*s)).map(Line::Step)
                }
                Note::Branch { ask, index, handler, .. } => {
                    self.coverage.branches.insert((if *handler { None } else { *ask }, *index));
                    None
                }
                Note::DoBranch { call, ok } => {
                    self.coverage.dos.insert((*call, *ok));
                    None
                }
                // Tests see what is spoken; transcripts elsewhere use the masked text.
                Note::Said { text, span: Some(span), step, .. } => {
                    Some(Line::Say { text: text.clone(), step: step_name(*step), span: *span })
                }
                Note::Captured { name, value, .. } => {
                    Some(Line::Captured { name: name.clone(), value: value.literal_text() })
                }
                Note::Said { span: None, .. } | Note::Heard { .. } | Note::TransferFailed { .. } => None,
                Note::Record(r) => Some(match r {
                    Record::Verify => Line::Verify,
                    Record::Tag(t) => Line::Tag(t.clone()),
                    Record::Callback { after_ms } => Line::Callback(*after_ms),
                    Record::CallbackAt { date, time } => Line::CallbackAt(callback_at_text(*date, *time)),
                    Record::Optout => Line::Optout,
                    Record::Sms { text, .. } => Line::Sms(text.clone()),
                }),
                Note::Action { name, result, .. } => {
                    Some(Line::Action { name: name.clone(), failed: result.clone().err() })
                }
                Note::Transfer { queue, outcome, data } => Some(Line::Transfer {
                    queue: queue.clone(),
                    outcome: outcome_name(*outcome),
                    data: data.iter().map(|h| (h.key.clone(), h.value.clone())).collect(),
                }),
                Note::Hangup { outcome } => Some(Line::Hangup(outcome_name(*outcome))),
                Note::CustomerHangup => Some(Line::CustomerHangup),
                Note::Failed { message, .. } => Some(Line::Failed(message.clone())),
            };
            self.transcript.extend(line);
        }
        self.notes_seen = call.notes().len();
    }

    fn segment(&self) -> &[Line] {
        &self.transcript[self.segment..]
    }

    fn fail(&mut self, message: String, at: Span, instead_at: Option<FileSpan>) {
        let at = FileSpan::new(self.file, at);
        self.failure = Some(Failure { message, at, instead_at, transcript: self.transcript.clone() });
    }

    /// A reply or hang-up starts a new segment of the transcript.
    fn customer_line(&mut self, line: String) {
        self.transcript.push(Line::Reply(line));
        self.segment = self.transcript.len();
        self.search = self.segment;
    }

    /// Carries out statements up to the next reply; None when the test has no more to say
    /// (or failed). Once the call is over, expectations still hold but replies cannot come.
    fn carry_out(&mut self, call: &CallDriver, call_over: bool) -> Option<Turn> {
        while self.failure.is_none() {
            let stmt = self.statements.get(self.next)?;
            self.next += 1;
            match &stmt.kind {
                TestStmtKind::Reply(_) if call_over => {
                    self.fail("this reply comes when the call is already over".into(), stmt.span, None)
                }
                TestStmtKind::Hangup if call_over => {
                    self.fail("the customer cannot hang up: the call is already over".into(), stmt.span, None)
                }
                TestStmtKind::Reply(reply) => {
                    let (line, turn) = match reply {
                        Reply::Text(t) => (t.value.clone(), Turn::Say { text: t.value.clone(), emotion: None }),
                        Reply::Dtmf(d) => (format!("[dtmf {}]", d.value), Turn::Keys(d.value.clone())),
                        Reply::Silence => ("[silence]".to_string(), Turn::Silence),
                        Reply::Emotion(e, t) => (
                            format!("[{}] {}", e.name, t.value),
                            Turn::Say { text: t.value.clone(), emotion: Emotion::from_name(&e.name) },
                        ),
                    };
                    self.customer_line(line);
                    return Some(turn);
                }
                TestStmtKind::Hangup => {
                    self.customer_line("[hangs up]".into());
                    return Some(Turn::HangUp);
                }
                TestStmtKind::Expect(expect) => {
                    if let Some((message, instead)) = check_expect(self, call, expect) {
                        self.fail(message, stmt.span, instead);
                    }
                }
                TestStmtKind::Mock { action, ok } => self.mock(action, ok, stmt.span),
                _ => {}
            }
        }
        None
    }

    /// `mock NAME ok { … }` / `mock NAME failed`: holds until the next mock of that action.
    fn mock(&mut self, action: &ast::Ident, ok: &Option<Vec<(ast::Ident, ast::Expr)>>, span: Span) {
        let outputs =
            ok.as_ref().map(|fields| fields.iter().filter_map(|(n, e)| Some((n.name.clone(), literal(e)?))).collect());
        self.mocks.retain(|(name, _, _)| *name != action.name);
        self.mocks.push((action.name.clone(), outputs, span));
    }

    /// The mocks written before the customer's next reply apply to the actions called on the
    /// way to it (a `do` runs before the test's statements up to that reply are carried out).
    fn mocks_ahead(&mut self) {
        for stmt in &self.statements[self.next.min(self.statements.len())..] {
            match &stmt.kind {
                TestStmtKind::Reply(_) | TestStmtKind::Hangup => break,
                TestStmtKind::Mock { action, ok } => self.mock(action, ok, stmt.span),
                _ => {}
            }
        }
    }
}

impl Customer for Run<'_> {
    fn answer(&mut self, call: &CallDriver, _ask: AskId, _timeout_ms: u64) -> Turn {
        self.sync(call);
        // A test that has said everything (or failed) leaves the call.
        self.carry_out(call, false).unwrap_or(Turn::HangUp)
    }

    fn action(
        &mut self,
        call: &CallDriver,
        action: &str,
        _inputs: &[ActionInput],
    ) -> Result<Vec<(String, Value)>, String> {
        self.sync(call);
        if self.failure.is_some() {
            return Err("the test already failed".into());
        }
        self.mocks_ahead();
        let at = self.statements.get(self.next).map_or(self.test_span, |s| s.span);
        let Some((_, mock, span)) = self.mocks.iter().find(|(name, _, _)| name == action).cloned() else {
            self.fail(
                format!("the script calls the action `{action}`, but no `mock {action} ok {{ … }}` or `mock {action} failed` comes before it"),
                at,
                None,
            );
            return Err(format!("`{action}` is not mocked"));
        };
        let Some(outputs) = mock else { return Err("mocked `failed`".into()) };
        let declared = call.script().actions.iter().find(|a| a.name == action);
        let missing: Vec<String> = declared
            .into_iter()
            .flat_map(|a| &a.outputs)
            .filter(|(name, _, _)| !outputs.iter().any(|(n, _)| n == name))
            .map(|(name, _, _)| format!("`{name}`"))
            .collect();
        if !missing.is_empty() {
            self.fail(format!("this mock of `{action}` does not give {}", missing.join(", ")), span, None);
            return Err("the mock misses outputs".into());
        }
        Ok(outputs)
    }
}

fn literal(expr: &ast::Expr) -> Option<Value> {
    Some(match &expr.kind {
        ExprKind::Int(n) => Value::Int(*n),
        ExprKind::Money(m) => Value::Money(*m),
        ExprKind::Str(s) => Value::Text(s.clone()),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Date(d) => Value::Date(*d),
        ExprKind::Time(t) => Value::Time(*t),
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
            TestStmtKind::Today(d, _) => context.today = *d,
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
    let max_duration_ms = script.max_duration_ms;
    let mut run = Run {
        file,
        statements: &test.body,
        next: 0,
        transcript: Vec::new(),
        notes_seen: 0,
        segment: 0,
        search: 0,
        failure: None,
        coverage,
        mocks: Vec::new(),
        test_span: test.name.span,
    };
    let mut call = CallDriver::new(session, max_duration_ms);
    virtual_time::converse(&mut call, &mut run);
    // The statements left once the call ended are checked against its end.
    run.sync(&call);
    run.carry_out(&call, true);
    result(run.failure)
}

/// Checks an expectation against the current segment; Err is (what happened, its source).
fn check_expect(run: &mut Run, call: &CallDriver, expect: &Expect) -> Option<(String, Option<FileSpan>)> {
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
        Expect::NoSay(s) => {
            // §16.5: no prompt of the current segment holds it.
            let said = run.segment().iter().find_map(|l| match l {
                Line::Say { text, span, .. } if text.contains(&s.value) => Some((text.clone(), *span)),
                _ => None,
            });
            said.map(|(text, span)| {
                (
                    format!(
                        "expected no prompt containing \"{}\" since the last reply, but one played: \"{text}\"",
                        s.value
                    ),
                    Some(span),
                )
            })
        }
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
        Expect::Transfer(q, Some((key, value))) => {
            let want = literal(value)?;
            let transfer = run.segment().iter().find_map(|l| match l {
                Line::Transfer { queue, data, .. } if *queue == q.value => Some(data.clone()),
                _ => None,
            });
            let Some(data) = transfer else {
                return Some((
                    format!(
                        "expected a transfer to \"{}\", but {}",
                        q.value,
                        ending().unwrap_or_else(|| "the call did not transfer".into()).trim()
                    ),
                    None,
                ));
            };
            let got = data.iter().find(|(k, _)| *k == key.name).map(|(_, v)| v.clone());
            // An int literal stands for money where the value handed over is an amount (§9.5).
            let matches = |got: &str| {
                got == want.literal_text()
                    || matches!(&want, Value::Int(n) if callscript_compiler::value::Money::from_int(*n)
                        .is_some_and(|m| Value::Money(m).literal_text() == got))
            };
            match got {
                Some(got) if matches(&got) => None,
                Some(got) => Some((
                    format!(
                        "expected the transfer to hand over `{}` = {}, but it is {got}",
                        key.name,
                        want.literal_text()
                    ),
                    None,
                )),
                None => Some((format!("expected the transfer to hand over `{}`, but it does not", key.name), None)),
            }
        }
        Expect::Sms(text) => {
            if run.segment().iter().any(|l| matches!(l, Line::Sms(t) if t.contains(&text.value))) {
                None
            } else {
                let sent: Vec<String> = run
                    .segment()
                    .iter()
                    .filter_map(|l| if let Line::Sms(t) = l { Some(format!("\"{t}\"")) } else { None })
                    .collect();
                Some((
                    format!(
                        "expected a text message containing \"{}\", but {}",
                        text.value,
                        if sent.is_empty() {
                            "none was sent since the last reply".to_string()
                        } else {
                            format!("the messages since the last reply are {}", sent.join(", "))
                        }
                    ),
                    None,
                ))
            }
        }
        Expect::Transfer(q, None) => {
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
        Expect::Value { name, value } => {
            let want = literal(value)?;
            let Some((decl, got)) = call.values().find(|(decl, _)| decl.name == name.name) else {
                return Some((format!("the script has no value `{}`", name.name), None));
            };
            // An int literal stands for money where the value is money (§9.5).
            let want = match (&want, got) {
                (Value::Int(n), Value::Money(_)) => {
                    callscript_compiler::value::Money::from_int(*n).map_or(want, Value::Money)
                }
                _ => want,
            };
            if *got == want {
                None
            } else {
                Some((
                    format!("expected `{}` to be {}, but it is {}", decl.name, want.literal_text(), got.literal_text()),
                    None,
                ))
            }
        }
        Expect::Optout => {
            if run.segment().iter().any(|l| matches!(l, Line::Optout)) {
                None
            } else {
                Some(("expected an opt-out to be recorded since the last reply, but none was".into(), None))
            }
        }
        Expect::Verify => {
            if run.segment().iter().any(|l| matches!(l, Line::Verify)) {
                None
            } else {
                Some(("expected the identity to be verified since the last reply, but it was not".into(), None))
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

/// Steps and branches (of asks, of objection, `on ok` and `on failed` of each `do`) no test
/// reached, as (description, span) pairs, with the percentage of steps and branches covered.
/// A flow's steps and branches are the script's: its code is part of each script that calls it.
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
    for (d, code) in script.dos.iter().enumerate() {
        let action = script.actions.get(code.action as usize).map_or("?", |a| a.name.as_str());
        for (ok, span) in [(true, code.ok_span), (false, code.failed_span)] {
            total += 1;
            if !coverage.dos.contains(&(d as DoId, ok)) {
                // Shown with its head: "`do lookup` branch `on failed`".
                missing.push((format!("`do {action}` branch"), span));
            }
        }
    }
    let percent = if total == 0 { 100.0 } else { 100.0 * (total - missing.len()) as f64 / total as f64 };
    (missing, percent)
}

/// `on 2026-12-01 at 15:30`, `at 15:30`, `on 2026-12-01`: a requested callback as written.
pub fn callback_at_text(
    date: Option<callscript_compiler::value::Date>,
    time: Option<callscript_compiler::value::Time>,
) -> String {
    let mut out = Vec::new();
    if let Some(d) = date {
        out.push(format!("on {}", Value::Date(d).literal_text()));
    }
    if let Some(t) = time {
        out.push(format!("at {}", Value::Time(t).literal_text()));
    }
    out.join(" ")
}
