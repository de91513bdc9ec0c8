//! The sans-IO VM: one [`Session`] per call. The outside world (simulator, tests, SIP) feeds
//! [`Event`]s in and carries out the [`Action`]s that come back. The loop runs instructions
//! until one needs the outside world; a step budget bounds the work per event. Replies are
//! matched to intents by the built-in recogniser of [`recognise`], built once per program.

pub mod eval;
pub mod recognise;

use std::sync::Arc;

use callscript_compiler::bytecode::*;
use callscript_compiler::span::FileSpan;
use callscript_compiler::value::{Date, Time, Value};

use eval::{Builtins, EvalError, eval, eval_with, render};
pub use eval::{PieceKind, SpeechPiece};
use recognise::Recogniser;

/// Most instructions one event may run before the call is ended as failed. Loops without an
/// ask are compile errors, so a real script stays far below this.
pub const STEP_BUDGET: u32 = 10_000;

/// A loaded program: bytecode plus the recogniser built from its intent tables. Shared by
/// every session of a campaign.
pub struct Executable {
    pub program: Program,
    pub recogniser: Recogniser,
    /// The learned model (§14), when the program has one.
    pub classifier: Option<callscript_compiler::learn::Classifier>,
    /// Byte offsets where each line of each source file starts, for transcripts' line numbers.
    line_starts: Vec<Vec<u32>>,
    /// Per script, which slots hold a sensitive value (`ScriptCode::tainted_slots`): computed
    /// once here, read at the end of every call.
    tainted: Vec<Vec<bool>>,
    /// Per script, each step's path (`core.remind`): every call's result lists its steps.
    step_paths: Vec<Vec<String>>,
}

impl Executable {
    pub fn new(program: Program) -> Result<Arc<Executable>, String> {
        let recogniser = Recogniser::new(&program.intents)?;
        let line_starts = program
            .files
            .iter()
            .map(|f| std::iter::once(0).chain(f.text.match_indices('\n').map(|(i, _)| i as u32 + 1)).collect())
            .collect();
        let tainted = program.scripts.iter().map(ScriptCode::tainted_slots).collect();
        let classifier = program.model.clone().map(callscript_compiler::learn::Classifier::new);
        let step_paths = program.scripts.iter().map(|s| s.steps.iter().map(|step| step.path()).collect()).collect();
        Ok(Arc::new(Executable { program, recogniser, classifier, line_starts, tainted, step_paths }))
    }

    /// Which slots of script `script` (its index) hold a sensitive value.
    pub fn tainted_slots(&self, script: usize) -> &[bool] {
        self.tainted.get(script).map_or(&[], Vec::as_slice)
    }

    /// The path of step `step` of script `script` (its indexes); empty if there is none.
    pub fn step_path(&self, script: usize, step: usize) -> &str {
        self.step_paths.get(script).and_then(|steps| steps.get(step)).map_or("", String::as_str)
    }

    /// The 1-based source line of a span.
    pub fn line_of(&self, at: FileSpan) -> Option<usize> {
        let starts = self.line_starts.get(at.file.0 as usize)?;
        Some(starts.partition_point(|&s| s <= at.span.start))
    }
}

/// Per-call facts the script can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// 1-based attempt number.
    pub attempt: i64,
    /// Local hour of day at the customer.
    pub hour: i64,
    /// The customer's local date (§11's `today`).
    pub today: Date,
}

/// `today` in a test that does not set it (§11): a Monday.
pub const DEFAULT_TODAY: Date = Date { year: 2026, month: 1, day: 5 };

/// A local calendar day (jiff's, in a customer's zone) as the script's `today`. Jiff's years
/// (−9999..=9999) reach past the language's (0..=9999); such a day is [`DEFAULT_TODAY`].
pub fn today_of(day: jiff::civil::Date) -> Date {
    Date::new(day.year().into(), day.month() as u8, day.day() as u8).unwrap_or(DEFAULT_TODAY)
}

impl CallContext {
    /// What expressions read of the call (a compiled segment takes the same).
    pub fn builtins(&self) -> Builtins {
        Builtins { attempt: self.attempt, hour: self.hour, today: self.today }
    }
}

impl Default for CallContext {
    fn default() -> Self {
        CallContext { attempt: 1, hour: 10, today: DEFAULT_TODAY }
    }
}

/// What the outside world observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The last action was carried out (a prompt finished playing, a record was stored).
    Done,
    /// The customer said something; `emotion` from an external recogniser (None: neutral).
    Utterance { text: String, emotion: Option<Emotion> },
    /// Keys pressed.
    Dtmf(String),
    /// No speech before the listen timeout.
    Silence,
    /// The customer hung up.
    CustomerHangup,
    /// The call reached the script's `max_duration`.
    MaxDuration,
    /// The answer to [`Action::CallAction`]: the outputs (`ok`), or why it failed.
    ActionResult(Result<Vec<(String, Value)>, String>),
}

/// Something the runtime records without affecting the flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Verify,
    Tag(String),
    Callback {
        after_ms: u64,
    },
    /// `callback on DATE at TIME` (§12): the next attempt at this local day and/or time.
    CallbackAt {
        date: Option<Date>,
        time: Option<Time>,
    },
    Optout,
    /// A text message to the customer (§13); `log_text` masks sensitive values.
    Sms {
        text: String,
        log_text: Option<String>,
    },
}

/// A value handed to the agent with a transfer (§13): key, literal text, and whether it is
/// sensitive (masked in logs and headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    pub key: String,
    pub value: String,
    pub sensitive: bool,
}

/// One input sent to an action: name, value, and whether it is sensitive (never logged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionInput {
    pub name: String,
    pub value: Value,
    pub sensitive: bool,
}

/// Why a call ended without a script outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    CustomerHangup,
    /// A runtime error (division by zero, step budget): the attempt is `failed`.
    Failed {
        message: String,
        at: Option<FileSpan>,
    },
}

/// How a turn's intent was recognised (§14): by a phrase, regex or key of the intent, or by
/// the learned model with its confidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recognition {
    pub intent: IntentId,
    pub by_model: bool,
    /// The model's probability in thousandths (1000 for a phrase).
    pub confidence_permille: u16,
}

/// What the outside world must do next. Every action but `Listen` and the ending ones is
/// answered with [`Event::Done`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The call entered a step (transcripts, funnels, coverage).
    EnterStep(StepId),
    /// A branch (or, with `handler`, an objection handler) was taken.
    Branch {
        ask: Option<AskId>,
        index: u16,
        handler: bool,
        /// A `captured` branch: the value now held by this slot was read from the answer.
        captured: Option<Slot>,
        /// The intent that decided the turn, and how (§14); None for keys, silence, a
        /// captured value or a catch-all.
        recognised: Option<Recognition>,
    },
    /// Play a rendered prompt. `log_text` masks sensitive values for transcripts; `pieces`
    /// split `text` into written text and values for speech output.
    Play {
        prompt: PromptId,
        text: String,
        log_text: Option<String>,
        pieces: Vec<SpeechPiece>,
        no_bargein: bool,
        span: FileSpan,
    },
    /// Listen for the customer's answer to an ask.
    Listen {
        ask: AskId,
        timeout_ms: u64,
    },
    Record(Record),
    /// Hand the call to a queue with the data of `with { … }`; the call ends with the outcome.
    Transfer {
        queue: String,
        outcome: OutcomeId,
        data: Vec<Handover>,
    },
    /// The `ok` (or `failed`) branch of `do` number `call` was taken (transcripts, coverage).
    DoBranch {
        call: DoId,
        ok: bool,
    },
    /// Call an action (§13); answer with [`Event::ActionResult`] (the driver keeps the timeout).
    CallAction {
        action: String,
        inputs: Vec<ActionInput>,
        timeout_ms: u64,
    },
    /// End the call with an outcome.
    Hangup {
        outcome: OutcomeId,
    },
    /// The call is over without an outcome of its own.
    End(EndReason),
}

impl Action {
    /// Whether the call is over after this action.
    pub fn is_final(&self) -> bool {
        matches!(self, Action::Transfer { .. } | Action::Hangup { .. } | Action::End(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Run instructions from `pc`.
    Run,
    /// Waiting for `Done` after a prompt or record; then run from `pc`.
    Wait,
    /// Waiting for `Done` after an ask's question; then listen.
    WaitThenListen,
    /// Listening for the current ask.
    Listen,
    /// Waiting for the answer of the `do` that runs.
    Acting(DoId),
    /// Over; further events repeat `End`.
    Over,
}

/// Where the current ask's turn came from, for `resume` and handler `retry`.
#[derive(Clone, Copy, Debug)]
struct AskState {
    ask: AskId,
    retries_used: u32,
}

/// One call's state. Small while parked: the program is shared through the `Arc`.
pub struct Session {
    exec: Arc<Executable>,
    script: u16,
    pc: u32,
    state: State,
    ask: Option<AskState>,
    /// Times each objection handler fired this call.
    handler_fired: Box<[u32]>,
    slots: Box<[Value]>,
    context: CallContext,
    verified: bool,
    /// The step last entered (objection handlers run inside the interrupted ask's step).
    step: Option<StepId>,
    /// The ask an objection handler interrupted: `resume` asks it again, even after the
    /// handler asked a question of its own.
    interrupted: Option<AskState>,
    /// The return stack: where each running flow continues after its `call` (§12). No
    /// recursion, so it is never deeper than the script's flows.
    calls: Vec<u32>,
    /// The handler that fired last and the depth of the return stack then: it does not fire
    /// again while an ask of a flow it called listens (§16.4).
    handler_call: Option<(usize, usize)>,
    /// Data for the next transfer (`Handover`).
    handover: Option<u32>,
    /// How the intent of the turn being chosen was recognised, for the branch it leads to.
    recognition: std::cell::Cell<Option<Recognition>>,
    /// Conditions whose value was computed before the call ([`Session::fix_guards`]).
    fixed_guards: Vec<(ExprId, bool)>,
}

/// Why a session could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    NoScript(String),
    MissingInput(String),
    WrongType { input: String, expected: &'static str, found: &'static str },
    UnknownInput(String),
    Init(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NoScript(s) => write!(f, "there is no script `{s}`"),
            StartError::MissingInput(i) => write!(f, "the required input `{i}` is missing"),
            StartError::WrongType { input, expected, found } => {
                write!(f, "input `{input}` must be {expected}, not {found}")
            }
            StartError::UnknownInput(i) => write!(f, "the script has no input `{i}`"),
            StartError::Init(m) => write!(f, "a starting value could not be computed: {m}"),
        }
    }
}

impl std::error::Error for StartError {}

fn type_matches(ty: callscript_compiler::syntax::ast::Type, v: &Value) -> bool {
    use callscript_compiler::syntax::ast::Type;
    matches!(
        (ty, v),
        (Type::Text, Value::Text(_))
            | (Type::Int, Value::Int(_))
            | (Type::Money, Value::Money(_) | Value::Int(_))
            | (Type::Bool, Value::Bool(_))
            | (Type::Date, Value::Date(_))
            | (Type::Time, Value::Time(_))
    )
}

impl Session {
    /// Starts a call of `script` with the customer's inputs. Extra inputs are an error.
    pub fn start(
        exec: Arc<Executable>,
        script: &str,
        inputs: impl IntoIterator<Item = (String, Value)>,
        context: CallContext,
    ) -> Result<Session, StartError> {
        let index = exec
            .program
            .scripts
            .iter()
            .position(|s| s.name == script)
            .ok_or_else(|| StartError::NoScript(script.to_string()))?;
        let code = &exec.program.scripts[index];
        let mut given: Vec<Option<Value>> = vec![None; code.slots.len()];
        for (name, value) in inputs {
            let slot = code
                .slots
                .iter()
                .position(|s| s.input && s.name == name)
                .ok_or_else(|| StartError::UnknownInput(name.clone()))?;
            let decl = &code.slots[slot];
            if !type_matches(decl.ty, &value) {
                return Err(StartError::WrongType { input: name, expected: decl.ty.name(), found: value_type(&value) });
            }
            // int widens to money (§9.5).
            given[slot] = Some(match (decl.ty, value) {
                (callscript_compiler::syntax::ast::Type::Money, Value::Int(n)) => Value::Money(
                    callscript_compiler::value::Money::from_int(n)
                        .ok_or(StartError::Init("amount too large".into()))?,
                ),
                (_, v) => v,
            });
        }
        let builtins = context.builtins();
        let mut slots: Vec<Value> = Vec::with_capacity(code.slots.len());
        for (decl, value) in code.slots.iter().zip(given) {
            let v = match (value, decl.init) {
                (Some(v), _) => v,
                (None, Some(init)) => {
                    eval(&code.exprs[init as usize], &slots, builtins).map_err(|e| StartError::Init(e.0))?
                }
                // A flow's parameter or let: set by each `call` before it is read.
                (None, None) if decl.local => blank(decl.ty),
                (None, None) => return Err(StartError::MissingInput(decl.name.clone())),
            };
            let v = match (decl.ty, v) {
                (callscript_compiler::syntax::ast::Type::Money, Value::Int(n)) => Value::Money(
                    callscript_compiler::value::Money::from_int(n)
                        .ok_or(StartError::Init("amount too large".into()))?,
                ),
                (_, v) => v,
            };
            slots.push(v);
        }
        let handlers = code.handlers.len();
        Ok(Session {
            exec,
            script: index as u16,
            pc: 0,
            state: State::Run,
            ask: None,
            handler_fired: vec![0; handlers].into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            context,
            verified: false,
            step: None,
            interrupted: None,
            calls: Vec::new(),
            handler_call: None,
            handover: None,
            recognition: std::cell::Cell::new(None),
            fixed_guards: Vec::new(),
        })
    }

    /// Gives the values of conditions computed before the call, for this customer, over the
    /// list's columns (`ScriptCode::fixed_guards`: they read nothing a call changes). The
    /// session takes them instead of evaluating those conditions; a condition not given is
    /// evaluated as always, so giving none changes nothing.
    pub fn fix_guards(&mut self, guards: impl IntoIterator<Item = (ExprId, bool)>) {
        self.fixed_guards.clear();
        self.fixed_guards.extend(guards);
    }

    pub fn script(&self) -> &ScriptCode {
        &self.exec.program.scripts[self.script as usize]
    }

    /// Evaluates an expression over this session's values (a campaign's segment).
    pub fn evaluate(&self, expr: &ExprCode) -> Result<Value, EvalError> {
        eval(expr, &self.slots, self.builtins())
    }

    /// The script's values with their declarations, in slot order (inputs, then lets): what a
    /// test's `expect value` reads and what is stored with the attempt at the end of a call.
    pub fn values(&self) -> impl Iterator<Item = (&SlotDecl, &Value)> {
        self.script().slots.iter().zip(self.slots.iter()).filter(|(d, _)| !d.local)
    }

    /// Index of the running script in the program.
    pub fn script_index(&self) -> usize {
        self.script as usize
    }

    pub fn executable(&self) -> &Arc<Executable> {
        &self.exec
    }

    pub fn is_over(&self) -> bool {
        self.state == State::Over
    }

    pub fn verified(&self) -> bool {
        self.verified
    }

    /// Bytes this session owns: its own size plus the heap of its values and counters
    /// (the program is shared and not counted).
    pub fn owned_bytes(&self) -> usize {
        let text: usize = self.slots.iter().map(|v| if let Value::Text(t) = v { t.capacity() } else { 0 }).sum();
        std::mem::size_of::<Session>()
            + std::mem::size_of_val::<[Value]>(&self.slots)
            + text
            + std::mem::size_of_val::<[u32]>(&self.handler_fired)
            + self.calls.capacity() * std::mem::size_of::<u32>()
    }

    /// The step the session is in (for reports of where a customer hung up).
    pub fn current_step(&self) -> Option<StepId> {
        self.step
    }

    /// Feeds one event and returns what to do next. Never panics, whatever the sequence.
    pub fn step(&mut self, event: Event) -> Action {
        match event {
            Event::CustomerHangup if self.state != State::Over => {
                self.state = State::Over;
                return Action::End(EndReason::CustomerHangup);
            }
            Event::MaxDuration if self.state != State::Over => {
                self.state = State::Over;
                let outcome = self.script().outcome("timeout").unwrap_or(0);
                return Action::Hangup { outcome };
            }
            _ => {}
        }
        match self.state {
            State::Over => Action::End(EndReason::Failed { message: "the call is over".into(), at: None }),
            State::Run => self.run(),
            State::Wait => {
                // Speech or keys during a plain prompt stop it and are only logged (§9.2).
                self.state = State::Run;
                self.run()
            }
            State::WaitThenListen => match event {
                Event::Done => self.listen(),
                // Barge-in: the answer arrives while the question plays.
                answer => self.answer(answer),
            },
            State::Listen if event == Event::Done => self.listen(),
            State::Listen => self.answer(event),
            State::Acting(d) => match event {
                Event::ActionResult(result) => self.action_result(d, result),
                // Nothing else reaches a script while its action runs (the driver holds it).
                _ => self.fail("the script waits for its action".into()),
            },
        }
    }

    /// Calls the action of `do` `d`: its inputs evaluated now.
    fn call_action(&mut self, d: DoId) -> Action {
        let exec = Arc::clone(&self.exec);
        let script = &exec.program.scripts[self.script as usize];
        let Some(code) = script.dos.get(d as usize) else { return self.fail("no such action call".into()) };
        let mut inputs = Vec::with_capacity(code.args.len());
        for (name, e) in &code.args {
            let expr = &script.exprs[*e as usize];
            match eval(expr, &self.slots, self.builtins()) {
                Ok(value) => inputs.push(ActionInput { name: name.clone(), value, sensitive: expr.sensitive }),
                Err(EvalError(m)) => return self.fail(m),
            }
        }
        self.state = State::Acting(d);
        Action::CallAction {
            action: script.actions[code.action as usize].name.clone(),
            inputs,
            timeout_ms: code.timeout_ms,
        }
    }

    /// The action answered: `ok` with every output of its type stores them and runs the `ok`
    /// body; anything else runs the `failed` body. Says which with [`Action::DoBranch`].
    fn action_result(&mut self, d: DoId, result: Result<Vec<(String, Value)>, String>) -> Action {
        let exec = Arc::clone(&self.exec);
        let script = &exec.program.scripts[self.script as usize];
        let Some(code) = script.dos.get(d as usize) else { return self.fail("no such action call".into()) };
        let action = &script.actions[code.action as usize];
        let checked = result.and_then(|outputs| {
            let mut values = Vec::with_capacity(action.outputs.len());
            for (name, ty, slot) in &action.outputs {
                let Some((_, v)) = outputs.iter().find(|(n, _)| n == name) else {
                    return Err(format!("the answer has no `{name}`"));
                };
                if !type_matches(*ty, v) {
                    return Err(format!("`{name}` must be {}, not {}", ty.name(), value_type(v)));
                }
                let v = match (ty, v) {
                    (callscript_compiler::syntax::ast::Type::Money, Value::Int(n)) => {
                        Value::Money(callscript_compiler::value::Money::from_int(*n).ok_or("amount too large")?)
                    }
                    _ => v.clone(),
                };
                values.push((*slot, v));
            }
            Ok(values)
        });
        // The body runs at the next event (`Done`), after the branch is told.
        self.state = State::Run;
        let ok = checked.is_ok();
        match checked {
            Ok(values) => {
                for (slot, v) in values {
                    if let Some(s) = self.slots.get_mut(slot as usize) {
                        *s = v;
                    }
                }
                self.pc = code.ok;
            }
            Err(_) => self.pc = code.failed,
        }
        Action::DoBranch { call: d, ok }
    }

    fn listen(&mut self) -> Action {
        let Some(ask) = self.ask else { return self.fail("listening without an ask".into()) };
        self.back_from_handler();
        self.state = State::Listen;
        let timeout_ms = self.script().asks[ask.ask as usize].timeout_ms;
        Action::Listen { ask: ask.ask, timeout_ms }
    }

    fn fail(&mut self, message: String) -> Action {
        self.state = State::Over;
        let at = self.script().spans.get(self.pc.saturating_sub(1) as usize).copied();
        Action::End(EndReason::Failed { message, at })
    }

    fn builtins(&self) -> Builtins {
        self.context.builtins()
    }

    fn play(&mut self, prompt: PromptId, then_listen: bool) -> Action {
        let exec = Arc::clone(&self.exec);
        let script = &exec.program.scripts[self.script as usize];
        let Some(code) = script.prompts.get(prompt as usize) else { return self.fail("no such prompt".into()) };
        match render(script, code, &self.slots, self.builtins()) {
            Ok(r) => {
                self.state = if then_listen { State::WaitThenListen } else { State::Wait };
                Action::Play {
                    prompt,
                    text: r.text,
                    log_text: r.log_text,
                    pieces: r.pieces,
                    no_bargein: code.no_bargein,
                    span: code.span,
                }
            }
            Err(EvalError(m)) => self.fail(m),
        }
    }

    /// Plays the ask's question (or a reprompt) and listens.
    /// Forgets the handler that fired once its flows have returned.
    fn back_from_handler(&mut self) {
        if self.handler_call.is_some_and(|(_, depth)| self.calls.len() <= depth) {
            self.handler_call = None;
        }
    }

    fn ask_again(&mut self, prompt: Option<PromptId>) -> Action {
        let Some(ask) = self.ask else { return self.fail("no question to ask again".into()) };
        self.back_from_handler();
        let question = self.script().asks[ask.ask as usize].prompt;
        self.play(prompt.unwrap_or(question), true)
    }

    fn guard_ok(&self, guard: Option<ExprId>) -> Result<bool, EvalError> {
        self.guard_holds(guard, None)
    }

    /// A guard over the session's values, with one slot standing for a captured candidate.
    fn guard_holds(&self, guard: Option<ExprId>, overlay: Option<(Slot, &Value)>) -> Result<bool, EvalError> {
        let Some(g) = guard else { return Ok(true) };
        match eval_with(&self.script().exprs[g as usize], &self.slots, overlay, self.builtins())? {
            Value::Bool(b) => Ok(b),
            _ => Err(EvalError("a guard is not a condition".into())),
        }
    }

    /// The first `captured` branch of the ask that takes `candidate`: while the turn is
    /// matched the candidate stands in the capture's slot, so guards see it (§11).
    fn captured_branch(
        &self,
        ask: &AskCode,
        capture: CaptureCode,
        candidate: &Value,
    ) -> Result<Option<usize>, EvalError> {
        for (i, b) in ask.branches.iter().enumerate() {
            if b.patterns.contains(&PatternCode::Captured)
                && self.guard_holds(b.guard, Some((capture.slot, candidate)))?
            {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// A value of the capture's kind in what the customer said, with its score (§16.2):
    /// the characters it was read from, 1 for text.
    fn spoken_candidate(&self, capture: CaptureCode, text: &str) -> Option<(Value, u32)> {
        use callscript_compiler::extract;
        let (value, score) = match capture.kind {
            CaptureKind::Int => extract::find_int(text).map(|e| (Value::Int(e.value), e.chars))?,
            CaptureKind::Money => extract::find_money(text).map(|e| (Value::Money(e.value), e.chars))?,
            CaptureKind::Date => {
                extract::find_date(text, self.context.today).map(|e| (Value::Date(e.value), e.chars))?
            }
            CaptureKind::Time => extract::find_time(text).map(|e| (Value::Time(e.value), e.chars))?,
            CaptureKind::Digits { min, max } => extract::find_digits(text, usize::from(min)..=usize::from(max))
                .map(|e| (Value::Text(e.value), e.chars))?,
            CaptureKind::Text => (Value::Text(extract::text(text)?), 1),
        };
        self.within_bounds(capture, &value).then_some((value, score.max(1)))
    }

    /// A keyed entry for a `digits` capture: the digits before `#`, of an allowed length.
    fn keyed_candidate(&self, capture: CaptureCode, keys: &str) -> Option<Value> {
        let CaptureKind::Digits { min, max } = capture.kind else { return None };
        let digits = keys.strip_suffix('#').unwrap_or(keys);
        let fits = (usize::from(min)..=usize::from(max)).contains(&digits.len());
        (fits && digits.bytes().all(|b| b.is_ascii_digit())).then(|| Value::Text(digits.to_string()))
    }

    /// Within the let's declared `min` and `max`, when it has them.
    fn within_bounds(&self, capture: CaptureCode, value: &Value) -> bool {
        let Some(decl) = self.script().slots.get(capture.slot as usize) else { return false };
        let cents = |v: &Value| match v {
            Value::Int(n) => Some(i128::from(*n) * 100),
            Value::Money(m) => Some(i128::from(m.cents())),
            _ => None,
        };
        let Some(v) = cents(value) else { return true };
        decl.min.as_ref().and_then(cents).is_none_or(|min| v >= min)
            && decl.max.as_ref().and_then(cents).is_none_or(|max| v <= max)
    }

    fn handler_active(&self, index: usize) -> bool {
        let h = &self.script().handlers[index];
        let calling = self.handler_call.is_some_and(|(i, depth)| i == index && self.calls.len() > depth);
        !calling && h.limit.is_none_or(|limit| self.handler_fired[index] < limit)
    }

    /// Dispatches one customer turn by the matching order of §4 and §9.1.
    fn answer(&mut self, event: Event) -> Action {
        let Some(current) = self.ask else { return self.fail("an answer without a question".into()) };
        match self.choose(current.ask, &event) {
            Ok(Some(Choice::Captured(i, value))) => {
                let Some(capture) = self.script().asks[current.ask as usize].capture else {
                    return self.fail("a captured branch without a capture".into());
                };
                if let Some(slot) = self.slots.get_mut(capture.slot as usize) {
                    *slot = value;
                }
                self.take(current.ask, Choice::Branch(i))
            }
            Ok(Some(choice)) => self.take(current.ask, choice),
            // Nothing handles the turn (a guard was false, a handler dropped out): ask again,
            // counting a retry, so the call cannot wait forever.
            Ok(None) => self.retry(None),
            Err(EvalError(m)) => self.fail(m),
        }
    }

    fn choose(&self, ask_id: AskId, event: &Event) -> Result<Option<Choice>, EvalError> {
        let exec = &self.exec;
        let script = &exec.program.scripts[self.script as usize];
        let ask = &script.asks[ask_id as usize];
        let handlers = &script.handlers;
        let branch_ok = |b: &BranchCode| self.guard_ok(b.guard);
        // Emotion phase: the ask's emotion patterns, then objection's.
        if let Event::Utterance { emotion, .. } = event {
            let e = emotion.unwrap_or(Emotion::Neutral);
            let has = |b: &BranchCode| b.patterns.contains(&PatternCode::Emotion(e));
            for (i, b) in ask.branches.iter().enumerate() {
                if has(b) && branch_ok(b)? {
                    return Ok(Some(Choice::Branch(i)));
                }
            }
            for (i, h) in handlers.iter().enumerate() {
                if self.handler_active(i) && has(h) && branch_ok(h)? {
                    return Ok(Some(Choice::Handler(i)));
                }
            }
        }
        // Intent phase: the ask's intents and the handlers' compete; ties go to the ask.
        match event {
            Event::Utterance { text, .. } => {
                let mut candidates: Vec<u32> = Vec::new();
                let mut owners: Vec<Choice> = Vec::new();
                let mut collect = |b: &BranchCode, owner: Choice| -> Result<(), EvalError> {
                    if b.patterns.iter().any(|p| matches!(p, PatternCode::Intent(_))) && branch_ok(b)? {
                        for p in &b.patterns {
                            if let PatternCode::Intent(id) = p {
                                candidates.push(*id);
                                owners.push(owner.clone());
                            }
                        }
                    }
                    Ok(())
                };
                for (i, b) in ask.branches.iter().enumerate() {
                    collect(b, Choice::Branch(i))?;
                }
                for (i, h) in handlers.iter().enumerate() {
                    if self.handler_active(i) {
                        collect(h, Choice::Handler(i))?;
                    }
                }
                let intent = exec.recogniser.best(text, &candidates).map(|(pos, score)| {
                    self.recognition.set(Some(Recognition {
                        intent: candidates[pos],
                        by_model: false,
                        confidence_permille: 1000,
                    }));
                    (owners[pos].clone(), score)
                });
                // §11, §16.2: a captured value competes like an intent of the ask, scored by
                // the characters it was read from; a tie goes to the ask's own intent, and
                // beats an objection handler.
                let captured = match ask.capture {
                    Some(capture) => match self.spoken_candidate(capture, text) {
                        Some((value, score)) => {
                            self.captured_branch(ask, capture, &value)?.map(|i| (Choice::Captured(i, value), score))
                        }
                        None => None,
                    },
                    None => None,
                };
                let chosen = match (intent, captured) {
                    (Some((owner, intent_score)), Some((captured, score))) => {
                        let ask_intent = matches!(owner, Choice::Branch(_));
                        if score > intent_score || (score == intent_score && !ask_intent) {
                            self.recognition.set(None);
                            Some(captured)
                        } else {
                            Some(owner)
                        }
                    }
                    (Some((owner, _)), None) => Some(owner),
                    (None, Some((captured, _))) => Some(captured),
                    (None, None) => self.learned_choice(text, &candidates, &owners),
                };
                if chosen.is_some() {
                    return Ok(chosen);
                }
            }
            Event::Dtmf(keys) => {
                let selects = |b: &BranchCode| {
                    b.patterns.iter().any(|p| match p {
                        PatternCode::Dtmf(d) => d == keys,
                        PatternCode::Intent(id) => exec.recogniser.dtmf_selects(*id, keys),
                        _ => false,
                    })
                };
                for (i, b) in ask.branches.iter().enumerate() {
                    if selects(b) && branch_ok(b)? {
                        return Ok(Some(Choice::Branch(i)));
                    }
                }
                // Keys fill only `digits` captures (§16.2), after the ask's own key branches.
                if let Some(capture) = ask.capture
                    && let Some(value) = self.keyed_candidate(capture, keys)
                    && let Some(i) = self.captured_branch(ask, capture, &value)?
                {
                    return Ok(Some(Choice::Captured(i, value)));
                }
                for (i, h) in handlers.iter().enumerate() {
                    if self.handler_active(i) && selects(h) && branch_ok(h)? {
                        return Ok(Some(Choice::Handler(i)));
                    }
                }
            }
            _ => {}
        }
        // Silence/unknown phase: `silence`/`unknown` before `_`, the ask's then objection's.
        let wanted = if matches!(event, Event::Silence) { PatternCode::Silence } else { PatternCode::Unknown };
        if matches!(event, Event::Done) {
            return Ok(None);
        }
        for pattern in [&wanted, &PatternCode::Any] {
            for (i, b) in ask.branches.iter().enumerate() {
                if b.patterns.contains(pattern) && branch_ok(b)? {
                    return Ok(Some(Choice::Branch(i)));
                }
            }
        }
        for pattern in [&wanted, &PatternCode::Any] {
            for (i, h) in handlers.iter().enumerate() {
                if self.handler_active(i) && h.patterns.contains(pattern) && branch_ok(h)? {
                    return Ok(Some(Choice::Handler(i)));
                }
            }
        }
        Ok(None)
    }

    /// §14: when no phrase, regex or capture decides, the learned model ranks every intent in
    /// scope; its best decides the turn if it is a candidate of the turn and its probability
    /// reaches the script's `confidence`.
    fn learned_choice(&self, text: &str, candidates: &[u32], owners: &[Choice]) -> Option<Choice> {
        let prediction = self.exec.classifier.as_ref()?.predict(text)?;
        let permille = (prediction.confidence * 1000.0).round() as u16;
        if permille < self.script().confidence_permille {
            return None;
        }
        let pos = candidates.iter().position(|c| *c == prediction.intent)?;
        self.recognition.set(Some(Recognition {
            intent: prediction.intent,
            by_model: true,
            confidence_permille: permille,
        }));
        Some(owners[pos].clone())
    }

    fn take(&mut self, ask: AskId, choice: Choice) -> Action {
        let recognised = self.recognition.take();
        let (pc, action) = match choice {
            Choice::Branch(i) | Choice::Captured(i, _) => {
                let code = &self.script().asks[ask as usize];
                let captured = code.capture.filter(|_| code.branches[i].patterns.contains(&PatternCode::Captured));
                (
                    code.branches[i].pc,
                    Action::Branch {
                        ask: Some(ask),
                        index: i as u16,
                        handler: false,
                        captured: captured.map(|c| c.slot),
                        recognised,
                    },
                )
            }
            Choice::Handler(i) => {
                self.handler_fired[i] = self.handler_fired[i].saturating_add(1);
                self.handler_call = Some((i, self.calls.len()));
                self.interrupted = self.ask;
                (
                    self.script().handlers[i].pc,
                    Action::Branch { ask: Some(ask), index: i as u16, handler: true, captured: None, recognised },
                )
            }
        };
        self.pc = pc;
        self.state = State::Run;
        action
    }

    /// Counts a retry of the current ask; past its retries, takes the exhausted branch.
    fn retry(&mut self, reprompt: Option<PromptId>) -> Action {
        let Some(mut current) = self.ask else { return self.fail("retry without a question".into()) };
        current.retries_used += 1;
        self.ask = Some(current);
        let ask = &self.script().asks[current.ask as usize];
        if current.retries_used <= ask.retries {
            return self.ask_again(reprompt);
        }
        let exhausted = |b: &BranchCode| b.patterns.contains(&PatternCode::Exhausted);
        let branch = ask.branches.iter().position(|b| exhausted(b) && self.guard_ok(b.guard).unwrap_or(false));
        if let Some(i) = branch {
            return self.take(current.ask, Choice::Branch(i));
        }
        let handler = (0..self.script().handlers.len()).find(|&i| {
            let h = &self.script().handlers[i];
            self.handler_active(i) && exhausted(h) && self.guard_ok(h.guard).unwrap_or(false)
        });
        match handler {
            Some(i) => self.take(current.ask, Choice::Handler(i)),
            None => self.fail("the retries ran out and no `exhausted` branch applies".into()),
        }
    }

    /// Runs instructions until one needs the outside world.
    fn run(&mut self) -> Action {
        let exec = Arc::clone(&self.exec);
        let script = &exec.program.scripts[self.script as usize];
        for _ in 0..STEP_BUDGET {
            let Some(&instruction) = script.code.get(self.pc as usize) else {
                return self.fail("the script ran off its end".into());
            };
            self.pc += 1;
            match instruction {
                Instruction::EnterStep(step) => {
                    // A step of the script runs in no flow (a handler's `goto` leaves them).
                    if script.steps.get(step as usize).is_some_and(|s| s.flow.is_none()) {
                        self.calls.clear();
                    }
                    self.step = Some(step);
                    return Action::EnterStep(step);
                }
                Instruction::Call(flow) => {
                    let Some(decl) = script.flows.get(flow as usize) else {
                        return self.fail("no such flow".into());
                    };
                    if self.calls.len() >= script.flows.len() {
                        return self.fail("flows called each other too deeply".into());
                    }
                    self.calls.push(self.pc);
                    self.pc = decl.pc;
                }
                Instruction::Return => match self.calls.pop() {
                    Some(pc) => self.pc = pc,
                    None => return self.fail("`return` outside a flow".into()),
                },
                Instruction::Listen(interrupted) => {
                    // Listen again without replaying the question: a fresh timeout, no retry.
                    if interrupted && let Some(ask) = self.interrupted.take() {
                        self.ask = Some(ask);
                    }
                    return self.listen();
                }
                Instruction::CallbackAt(date, time) => {
                    let value = |e: ExprId| -> Result<Option<Value>, EvalError> {
                        if e == NO_EXPR {
                            return Ok(None);
                        }
                        eval(&script.exprs[e as usize], &self.slots, self.builtins()).map(Some)
                    };
                    let (date, time) = match (value(date), value(time)) {
                        (Ok(d), Ok(t)) => (d, t),
                        (Err(EvalError(m)), _) | (_, Err(EvalError(m))) => return self.fail(m),
                    };
                    let date = match date {
                        Some(Value::Date(d)) => Some(d),
                        _ => None,
                    };
                    let time = match time {
                        Some(Value::Time(t)) => Some(t),
                        _ => None,
                    };
                    self.state = State::Wait;
                    return Action::Record(Record::CallbackAt { date, time });
                }
                Instruction::Say(prompt) => return self.play(prompt, false),
                Instruction::Ask(ask) => {
                    self.ask = Some(AskState { ask, retries_used: 0 });
                    return self.ask_again(None);
                }
                Instruction::Retry(reprompt) => return self.retry(reprompt),
                Instruction::Resume => {
                    // The interrupted question, not one the handler asked meanwhile.
                    if let Some(interrupted) = self.interrupted.take() {
                        self.ask = Some(interrupted);
                    }
                    return self.ask_again(None);
                }
                Instruction::Jump(target) => self.pc = target,
                Instruction::JumpUnless(cond, target) => {
                    let fixed = self.fixed_guards.iter().find(|(e, _)| *e == cond).map(|&(_, v)| Value::Bool(v));
                    match fixed.map_or_else(|| eval(&script.exprs[cond as usize], &self.slots, self.builtins()), Ok) {
                        Ok(Value::Bool(true)) => {}
                        Ok(Value::Bool(false)) => self.pc = target,
                        Ok(_) => return self.fail("a condition is not true or false".into()),
                        Err(EvalError(m)) => return self.fail(m),
                    }
                }
                Instruction::Set(slot, expr) => {
                    match eval(&script.exprs[expr as usize], &self.slots, self.builtins()) {
                        Ok(v) => {
                            if let Some(s) = self.slots.get_mut(slot as usize) {
                                *s = v;
                            }
                        }
                        Err(EvalError(m)) => return self.fail(m),
                    }
                }
                Instruction::Verify => {
                    self.verified = true;
                    self.state = State::Wait;
                    return Action::Record(Record::Verify);
                }
                Instruction::Tag(text) => {
                    self.state = State::Wait;
                    return Action::Record(Record::Tag(script.texts[text as usize].clone()));
                }
                Instruction::Callback(after_ms) => {
                    self.state = State::Wait;
                    return Action::Record(Record::Callback { after_ms });
                }
                Instruction::Optout => {
                    self.state = State::Wait;
                    return Action::Record(Record::Optout);
                }
                Instruction::Transfer(queue, outcome) => {
                    self.state = State::Over;
                    let outcome = outcome.or_else(|| script.outcome("transferred")).unwrap_or(0);
                    let mut data = Vec::new();
                    for (key, e) in
                        self.handover.take().and_then(|h| script.handovers.get(h as usize)).into_iter().flatten()
                    {
                        let expr = &script.exprs[*e as usize];
                        match eval(expr, &self.slots, self.builtins()) {
                            Ok(v) => data.push(Handover {
                                key: key.clone(),
                                value: v.literal_text(),
                                sensitive: expr.sensitive,
                            }),
                            Err(EvalError(m)) => return self.fail(m),
                        }
                    }
                    return Action::Transfer { queue: script.texts[queue as usize].clone(), outcome, data };
                }
                Instruction::Handover(h) => self.handover = Some(h),
                Instruction::Do(d) => return self.call_action(d),
                Instruction::Sms(prompt) => {
                    let Some(code) = script.prompts.get(prompt as usize) else {
                        return self.fail("no such message".into());
                    };
                    match render(script, code, &self.slots, self.builtins()) {
                        Ok(r) => {
                            self.state = State::Wait;
                            return Action::Record(Record::Sms { text: r.text, log_text: r.log_text });
                        }
                        Err(EvalError(m)) => return self.fail(m),
                    }
                }
                Instruction::Hangup(outcome) => {
                    self.state = State::Over;
                    return Action::Hangup { outcome };
                }
            }
        }
        self.fail(format!("the script ran {STEP_BUDGET} instructions without waiting for the customer"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Choice {
    Branch(usize),
    Handler(usize),
    /// A `captured` branch, with the value read from the answer.
    Captured(usize, Value),
}

/// A value of each type, for slots that the code sets before reading.
fn blank(ty: callscript_compiler::syntax::ast::Type) -> Value {
    use callscript_compiler::syntax::ast::Type;
    match ty {
        Type::Text => Value::Text(String::new()),
        Type::Int => Value::Int(0),
        Type::Money => callscript_compiler::value::Money::from_int(0).map_or(Value::Int(0), Value::Money),
        Type::Bool => Value::Bool(false),
        Type::Date => Value::Date(DEFAULT_TODAY),
        Type::Time => Time::new(0, 0).map_or(Value::Int(0), Value::Time),
    }
}

fn value_type(v: &Value) -> &'static str {
    match v {
        Value::Text(_) => "text",
        Value::Int(_) => "an int",
        Value::Money(_) => "money",
        Value::Bool(_) => "a bool",
        Value::Date(_) => "a date",
        Value::Time(_) => "a time",
    }
}
