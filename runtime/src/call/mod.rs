//! The call driver: the one owner of a call's [`Session`]. It is sans-IO, like the VM: the
//! outside world (the simulator, SIP calls, `callscript test`, `callscript simulate`) feeds it
//! [`Input`]s stamped with the call's clock and carries out the [`Command`]s it returns. Every
//! rule about a conversation's timing lives here, once: barge-in (LANGUAGE.md §9.2), input that
//! comes early, the listen and key timers, `max_duration`, and the transfer fallback.
//!
//! [`virtual_time`] pumps a driver against a scripted or simulated customer; the SIP call task
//! pumps it against a real line. Nothing else steps the VM.

pub mod virtual_time;

use std::collections::VecDeque;
use std::sync::Arc;

use callscript_compiler::bytecode::{AskId, DoId, Emotion, OutcomeId, PatternCode, ScriptCode, StepId};
use callscript_compiler::span::FileSpan;

use crate::telephony::{ActionCall, CallResult, Delivery, Disposition, LetResult, Message, TranscriptLine};
use crate::vm::{
    Action, ActionInput, EndReason, Event, Executable, Handover, PieceKind, Recognition, Record, Session, SpeechPiece,
};
use callscript_compiler::value::Value;

/// Most VM actions one call may take before it is ended as failed. A real call takes a few
/// hundred at most; the cap stops a script that talks to itself forever.
pub const MAX_ACTIONS: u32 = 10_000;

/// How long after the last key a key sequence is complete.
pub const INTER_KEY_MS: u64 = 1_500;

/// Played when a transfer fails, before we hang up. It cannot be interrupted.
pub const TRANSFER_FALLBACK: &str = "抱歉,暂时无法为您转接人工服务,我们会尽快安排专人与您联系,再见。";

/// Something that happened on the call, at the time given to [`CallDriver::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The prompt being played reached its end.
    PromptFinished,
    /// The customer started talking (voice activity).
    SpeechStarted,
    /// An utterance ended; `text` is what the recogniser understood (empty: nothing), and
    /// `emotion` what was heard besides the words (None: neutral). Words or an emotion make
    /// an answer; an utterance with neither is not one.
    Heard {
        text: String,
        emotion: Option<HeardEmotion>,
    },
    /// One key, as a phone sends them: sequences are assembled with the inter-key timer.
    Key(char),
    /// A complete key sequence entered as one answer (scripted customers).
    Keys(String),
    CustomerHangup,
    /// How the transfer asked for by [`Command::Transfer`] went.
    TransferResult(Result<(), String>),
    /// The answer to [`Command::CallAction`]: the outputs, or why the call failed. An answer
    /// after the action's timeout is ignored (the driver already took `failed`).
    ActionResult(Result<Vec<(String, Value)>, String>),
    /// Time passed; the driver checks its timers.
    Tick,
}

/// What the outside world must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Start playing a prompt; answer with [`Input::PromptFinished`] when it ends.
    Play { text: String, pieces: Vec<SpeechPiece>, no_bargein: bool },
    /// Stop the prompt being played (barge-in, `max_duration`).
    StopPlaying,
    /// The call listens for an answer to `ask` (the driver keeps the timers).
    Listen { ask: AskId, timeout_ms: u64 },
    /// Hand the call to a queue with the data of `with { … }`; answer with
    /// [`Input::TransferResult`].
    Transfer { queue: String, data: Vec<Handover> },
    /// Call an action (§13); answer with [`Input::ActionResult`]. Other calls go on meanwhile.
    CallAction { action: String, inputs: Vec<ActionInput>, timeout_ms: u64 },
    /// Send a text message to the customer (§13), after the turn in which the script sent it.
    /// `log_text` masks sensitive values.
    Sms { text: String, log_text: Option<String> },
    /// End the call from our side.
    Hangup,
}

/// An emotion heard in an utterance, and why (LANGUAGE.md §15). Scripted and simulated
/// customers say theirs with no reason; real calls give one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeardEmotion {
    pub emotion: Emotion,
    pub why: Vec<EmotionCause>,
}

impl From<Emotion> for HeardEmotion {
    fn from(emotion: Emotion) -> HeardEmotion {
        HeardEmotion { emotion, why: Vec::new() }
    }
}

/// One reason an emotion was reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmotionCause {
    /// The utterance holds the anger vocabulary; the utterance.
    Words(String),
    /// How the voice compared with the customer's earlier speech, in words.
    Voice(String),
}

impl EmotionCause {
    /// How a transcript gives it; the words masked with an answer that is.
    pub fn describe(&self, masked: bool) -> String {
        match self {
            EmotionCause::Words(_) if masked => format!("words: {MASK}"),
            EmotionCause::Words(words) => format!("words: {words}"),
            EmotionCause::Voice(voice) => voice.clone(),
        }
    }
}

/// How a prompt was cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The customer barged in while it played.
    Interrupted,
    /// The customer was already talking over us; it was not played.
    Skipped,
}

impl Cut {
    pub fn name(self) -> &'static str {
        match self {
            Cut::Interrupted => "interrupted",
            Cut::Skipped => "skipped",
        }
    }
}

/// The customer's turn as it reached the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Said { text: String, emotion: Option<HeardEmotion> },
    Keys(String),
    Silence,
}

/// One entry of the call's log, in order. Everything that reads a call (results, transcripts,
/// test expectations, coverage, `simulate`'s output) reads these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    Step(StepId),
    /// A branch of an ask (or, with `handler`, an objection handler) was taken.
    Branch {
        ask: Option<AskId>,
        index: u16,
        handler: bool,
        /// The intent that decided the turn, by phrase or by the learned model (§14).
        recognised: Option<Recognition>,
    },
    /// A prompt; `log_text` masks sensitive values. `span` is None for the runtime's own words.
    Said {
        text: String,
        log_text: Option<String>,
        span: Option<FileSpan>,
        step: Option<StepId>,
        cut: Option<Cut>,
    },
    /// What the customer said or keyed; `sensitive` when the ask captures it into a
    /// sensitive value, so transcripts mask it (§11).
    Heard {
        answer: Answer,
        sensitive: bool,
    },
    /// A `captured` branch read this value from the answer (§11).
    Captured {
        name: String,
        value: callscript_compiler::value::Value,
        sensitive: bool,
    },
    Record(Record),
    /// The `ok` (or `failed`) branch of `do` number `call` was taken: after the action's
    /// answer, typed (an answer of the wrong shape takes `failed`).
    DoBranch {
        call: DoId,
        ok: bool,
    },
    /// An action answered or failed (§13) after `latency_ms`.
    Action {
        name: String,
        result: Result<(), String>,
        latency_ms: u64,
    },
    Transfer {
        queue: String,
        outcome: OutcomeId,
        data: Vec<Handover>,
    },
    /// The transfer did not happen; the call ends `transfer_failed`.
    TransferFailed {
        why: String,
    },
    Hangup {
        outcome: OutcomeId,
    },
    CustomerHangup,
    Failed {
        message: String,
        at: Option<FileSpan>,
    },
}

/// Where the driver is in the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Between VM steps (only inside [`CallDriver::advance`]).
    Stepping,
    Playing {
        no_bargein: bool,
    },
    Listening(Listening),
    Transferring,
    /// Waiting for an action's answer until `deadline`.
    Acting {
        name: String,
        started: u64,
        deadline: u64,
    },
    /// Playing [`TRANSFER_FALLBACK`]; then hang up.
    Apologising,
    Over,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Listening {
    silence_at: u64,
    /// The customer is talking: the silence timer waits for the utterance to end.
    speaking: bool,
    keys: String,
    keys_wanted: usize,
    keys_complete_at: Option<u64>,
    /// The ask captures `digits` (§11): `*` clears, `#` ends, keys wait `digit_timeout`.
    digits: bool,
}

/// Runs one answered call's conversation.
pub struct CallDriver {
    session: Session,
    exec: Arc<Executable>,
    max_duration_ms: Option<u64>,
    now: u64,
    phase: Phase,
    commands: VecDeque<Command>,
    notes: Vec<Note>,
    /// The customer talked over an interruptible prompt: skip such prompts until the listen.
    barged: bool,
    /// The customer started talking over a prompt and their utterance has not ended yet: the
    /// next listen starts with them speaking, so its silence timer waits for the utterance.
    talking_over: bool,
    /// Input that came while a prompt played, kept for the next listen.
    early_keys: String,
    early_words: Option<(String, Option<HeardEmotion>)>,
    actions: u32,
    /// The ask the call last listened for (whose capture decides what a turn may hold).
    listening_ask: Option<AskId>,
    /// Text messages of the current turn, sent when it ends (§13).
    pending_sms: Vec<Command>,
}

impl CallDriver {
    pub fn new(session: Session, max_duration_ms: Option<u64>) -> CallDriver {
        let exec = Arc::clone(session.executable());
        CallDriver {
            session,
            exec,
            max_duration_ms,
            now: 0,
            phase: Phase::Stepping,
            commands: VecDeque::new(),
            notes: Vec::new(),
            barged: false,
            talking_over: false,
            early_keys: String::new(),
            early_words: None,
            actions: 0,
            listening_ask: None,
            pending_sms: Vec::new(),
        }
    }

    /// The customer answered at `now_ms`: the script starts.
    pub fn start(&mut self, now_ms: u64) {
        self.now = now_ms;
        self.advance(Event::Done);
    }

    pub fn executable(&self) -> &Arc<Executable> {
        &self.exec
    }

    pub fn script(&self) -> &ScriptCode {
        self.session.script()
    }

    /// Feeds what happened at `now_ms` (milliseconds since the call was answered).
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        self.now = self.now.max(now_ms);
        if self.phase == Phase::Over {
            return;
        }
        if input == Input::CustomerHangup {
            self.customer_left();
            return;
        }
        if matches!(input, Input::Heard { .. }) {
            // An utterance ended, whether or not anything listens to it.
            self.talking_over = false;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Stepping);
        match (phase, input) {
            (Phase::Playing { .. }, Input::PromptFinished) => self.advance(Event::Done),
            (Phase::Playing { no_bargein: true }, input) => {
                // A disclosure plays on; keys pressed meanwhile still count for the next listen.
                if matches!(input, Input::Key(_) | Input::Keys(_)) {
                    self.keep_early(input);
                }
                self.phase = Phase::Playing { no_bargein: true };
            }
            (
                Phase::Playing { no_bargein: false },
                input @ (Input::SpeechStarted | Input::Heard { .. } | Input::Key(_) | Input::Keys(_)),
            ) => {
                self.talking_over = input == Input::SpeechStarted;
                self.keep_early(input);
                self.commands.push_back(Command::StopPlaying);
                self.cut_last_prompt(Cut::Interrupted);
                self.barged = true;
                self.advance(Event::Done);
            }
            (Phase::Listening(listening), input) => self.listen_input(listening, input),
            (Phase::Transferring, Input::TransferResult(Ok(()))) => self.finish_call(),
            (Phase::Transferring, Input::TransferResult(Err(why))) => {
                self.notes.push(Note::TransferFailed { why });
                self.notes.push(Note::Said {
                    text: TRANSFER_FALLBACK.into(),
                    log_text: None,
                    span: None,
                    step: self.session.current_step(),
                    cut: None,
                });
                self.commands.push_back(Command::Play {
                    text: TRANSFER_FALLBACK.into(),
                    pieces: vec![SpeechPiece { text: TRANSFER_FALLBACK.into(), kind: PieceKind::Static }],
                    no_bargein: true,
                });
                self.phase = Phase::Apologising;
            }
            (Phase::Apologising, Input::PromptFinished) => self.finish_call(),
            (Phase::Acting { name, started, .. }, Input::ActionResult(result)) => {
                self.action_done(name, started, result);
            }
            // What the customer says or keys while an action runs answers the next listen.
            (phase @ Phase::Acting { .. }, input @ (Input::Heard { .. } | Input::Key(_) | Input::Keys(_))) => {
                self.keep_early(input);
                self.phase = phase;
            }
            (phase, _) => self.phase = phase,
        }
        self.check_timers();
    }

    /// Keeps words or keys that came before the call listens, for the next listen.
    fn keep_early(&mut self, input: Input) {
        match input {
            Input::Heard { text, emotion } if is_answer(&text, emotion.as_ref()) => {
                self.early_words = Some((text, emotion))
            }
            Input::Key(k) => self.early_keys.push(k),
            Input::Keys(k) => self.early_keys.push_str(&k),
            _ => {}
        }
    }

    /// The next command to carry out, in order.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When the driver next needs [`Input::Tick`], in the call's milliseconds.
    pub fn next_timer(&self) -> Option<u64> {
        let max = self.max_duration_ms.filter(|_| self.max_duration_applies());
        let listen = match &self.phase {
            Phase::Listening(l) => match l.keys_complete_at {
                Some(at) => Some(at),
                None if !l.speaking => Some(l.silence_at),
                None => None,
            },
            Phase::Acting { deadline, .. } => Some(*deadline),
            _ => None,
        };
        [max, listen].into_iter().flatten().min()
    }

    pub fn is_over(&self) -> bool {
        self.phase == Phase::Over
    }

    /// Whether an utterance would reach the script now (a disclosure playing ignores speech).
    pub fn hears_speech(&self) -> bool {
        !matches!(
            self.phase,
            Phase::Playing { no_bargein: true } | Phase::Transferring | Phase::Apologising | Phase::Over
        )
    }

    /// The script's values now, with their declarations (tests' `expect value`).
    pub fn values(
        &self,
    ) -> impl Iterator<Item = (&callscript_compiler::bytecode::SlotDecl, &callscript_compiler::value::Value)> {
        self.session.values()
    }

    /// The call's log so far.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The call's clock: the time of the last input.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// How the call went, from its log. Talk time is the clock at the last input; the
    /// script's lets are taken as they stand now, without the value of a sensitive one
    /// (declared so, or computed from a sensitive value).
    pub fn result(&self) -> CallResult {
        let mut result = result_of(&self.exec, self.session.script_index(), &self.notes);
        result.talk_ms = self.now;
        let sensitive = self.exec.tainted_slots(self.session.script_index()).iter().copied();
        result.lets = self
            .session
            .values()
            .zip(sensitive)
            .filter(|((decl, _), _)| !decl.input && !decl.output)
            .map(|((decl, value), sensitive)| LetResult::new(decl, value, sensitive))
            .collect();
        result
    }

    fn max_duration_applies(&self) -> bool {
        // Once the call is being handed over (or apologised for), the script's time is up anyway.
        matches!(self.phase, Phase::Playing { .. } | Phase::Listening(_))
    }

    fn check_timers(&mut self) {
        if self.max_duration_applies() && self.max_duration_ms.is_some_and(|max| self.now >= max) {
            if matches!(self.phase, Phase::Playing { .. }) {
                self.commands.push_back(Command::StopPlaying);
            }
            self.phase = Phase::Stepping;
            self.advance(Event::MaxDuration);
            return;
        }
        if let Phase::Acting { deadline, .. } = &self.phase
            && self.now >= *deadline
        {
            let Phase::Acting { name, started, deadline } = std::mem::replace(&mut self.phase, Phase::Stepping) else {
                unreachable!("matched above")
            };
            let why = format!("no answer within {} ms", deadline - started);
            return self.action_done(name, started, Err(why));
        }
        let Phase::Listening(listening) = &self.phase else { return };
        if listening.keys_complete_at.is_some_and(|at| self.now >= at) {
            let keys = listening.keys.clone();
            self.answer(Answer::Keys(keys));
        } else if listening.keys_complete_at.is_none() && !listening.speaking && self.now >= listening.silence_at {
            self.answer(Answer::Silence);
        }
    }

    fn listen_input(&mut self, mut listening: Listening, input: Input) {
        match input {
            Input::Key(k) => {
                if let Some(keys) = self.key(&mut listening, k) {
                    return self.answer(Answer::Keys(keys));
                }
            }
            // A scripted entry is one whole turn; with `digits` it still obeys `*`, `#` and
            // the maximum length, as keys pressed one by one do.
            Input::Keys(keys) if listening.digits => {
                for k in keys.chars() {
                    if let Some(entry) = self.key(&mut listening, k) {
                        return self.answer(Answer::Keys(entry));
                    }
                }
                let entry = std::mem::take(&mut listening.keys);
                return self.answer(Answer::Keys(entry));
            }
            Input::Keys(keys) => {
                let mut all = std::mem::take(&mut listening.keys);
                all.push_str(&keys);
                return self.answer(Answer::Keys(all));
            }
            Input::SpeechStarted => listening.speaking = true,
            Input::Heard { text, emotion } => {
                listening.speaking = false;
                if is_answer(&text, emotion.as_ref()) {
                    return self.answer(Answer::Said { text, emotion });
                }
                // Heard but neither understood nor felt: keep listening until the timeout.
            }
            _ => {}
        }
        self.phase = Phase::Listening(listening);
    }

    /// Adds a key to the sequence; Some when the sequence is complete.
    fn key(&self, listening: &mut Listening, key: char) -> Option<String> {
        if key == '#' && !listening.keys.is_empty() {
            return Some(std::mem::take(&mut listening.keys));
        }
        let wait = if listening.digits {
            if key == '*' {
                // §11: `*` clears what was keyed so far; the entry starts again.
                listening.keys.clear();
                listening.keys_complete_at = None;
                return None;
            }
            self.session.script().digit_timeout_ms
        } else {
            INTER_KEY_MS
        };
        listening.keys.push(key);
        if listening.keys.chars().count() >= listening.keys_wanted.max(1) {
            return Some(std::mem::take(&mut listening.keys));
        }
        listening.keys_complete_at = Some(self.now + wait);
        None
    }

    /// Whether the ask being answered captures into a sensitive value (its answer is masked
    /// in transcripts).
    fn captures_sensitive(&self) -> bool {
        let script = self.session.script();
        let capture = self.listening_ask.and_then(|a| script.asks.get(a as usize)).and_then(|a| a.capture);
        capture.and_then(|c| script.slots.get(c.slot as usize)).is_some_and(|slot| slot.sensitive)
    }

    fn answer(&mut self, answer: Answer) {
        let event = match &answer {
            Answer::Said { text, emotion } => {
                Event::Utterance { text: text.clone(), emotion: emotion.as_ref().map(|e| e.emotion) }
            }
            Answer::Keys(keys) => Event::Dtmf(keys.clone()),
            Answer::Silence => Event::Silence,
        };
        let sensitive = self.captures_sensitive();
        self.notes.push(Note::Heard { answer, sensitive });
        self.phase = Phase::Stepping;
        self.advance(event);
    }

    fn customer_left(&mut self) {
        match self.phase {
            // The transferee took the call and the gateway ended our leg, or we were only
            // apologising for a failed transfer: the script is already done.
            Phase::Transferring | Phase::Apologising => self.phase = Phase::Over,
            _ => {
                if matches!(self.phase, Phase::Playing { .. }) {
                    self.commands.push_back(Command::StopPlaying);
                }
                self.phase = Phase::Stepping;
                self.advance(Event::CustomerHangup);
            }
        }
    }

    fn finish_call(&mut self) {
        self.flush_sms();
        self.commands.push_back(Command::Hangup);
        self.phase = Phase::Over;
    }

    /// Sends the text messages of the turn that ended.
    fn flush_sms(&mut self) {
        self.commands.extend(self.pending_sms.drain(..));
    }

    /// The action of the running `do` answered (or timed out): the script goes on.
    fn action_done(&mut self, name: String, started: u64, result: Result<Vec<(String, Value)>, String>) {
        let latency_ms = self.now.saturating_sub(started);
        self.notes.push(Note::Action { name, result: result.as_ref().map(|_| ()).map_err(Clone::clone), latency_ms });
        self.phase = Phase::Stepping;
        self.advance(Event::ActionResult(result));
    }

    fn cut_last_prompt(&mut self, how: Cut) {
        if let Some(Note::Said { cut, .. }) = self.notes.iter_mut().rev().find(|n| matches!(n, Note::Said { .. })) {
            *cut = Some(how);
        }
    }

    /// Steps the VM with `event` and what follows, until it needs the outside world.
    fn advance(&mut self, mut event: Event) {
        loop {
            self.actions += 1;
            if self.actions > MAX_ACTIONS {
                self.notes.push(Note::Failed {
                    message: format!("the call took more than {MAX_ACTIONS} steps without ending"),
                    at: None,
                });
                return self.finish_call();
            }
            let action = self.session.step(std::mem::replace(&mut event, Event::Done));
            match action {
                Action::EnterStep(step) => self.notes.push(Note::Step(step)),
                Action::Branch { ask, index, handler, captured, recognised } => {
                    self.notes.push(Note::Branch { ask, index, handler, recognised });
                    if let Some(slot) = captured
                        && let Some((decl, value)) = self.session.values().nth(slot as usize)
                    {
                        self.notes.push(Note::Captured {
                            name: decl.name.clone(),
                            value: value.clone(),
                            sensitive: decl.sensitive,
                        });
                    }
                }
                Action::DoBranch { call, ok } => {
                    // An answer the VM could not read into the outputs is a failure, in the
                    // transcript too (real calls check the shape before; a hand-made one may not).
                    if !ok
                        && let Some(Note::Action { result, .. }) =
                            self.notes.iter_mut().rev().find(|n| matches!(n, Note::Action { .. }))
                        && result.is_ok()
                    {
                        *result = Err("the answer does not hold every output with its type".into());
                    }
                    self.notes.push(Note::DoBranch { call, ok });
                }
                Action::Record(Record::Sms { text, log_text }) => {
                    self.pending_sms.push(Command::Sms { text: text.clone(), log_text: log_text.clone() });
                    self.notes.push(Note::Record(Record::Sms { text, log_text }));
                }
                Action::Record(record) => self.notes.push(Note::Record(record)),
                Action::CallAction { action, inputs, timeout_ms } => {
                    self.commands.push_back(Command::CallAction { action: action.clone(), inputs, timeout_ms });
                    self.phase = Phase::Acting { name: action, started: self.now, deadline: self.now + timeout_ms };
                    return;
                }
                Action::Play { text, log_text, pieces, no_bargein, span, .. } => {
                    let step = self.session.current_step();
                    let skip = self.barged && !no_bargein;
                    let cut = skip.then_some(Cut::Skipped);
                    self.notes.push(Note::Said { text: text.clone(), log_text, span: Some(span), step, cut });
                    if !skip {
                        self.commands.push_back(Command::Play { text, pieces, no_bargein });
                        self.phase = Phase::Playing { no_bargein };
                        return;
                    }
                }
                Action::Listen { ask, timeout_ms } => {
                    self.flush_sms();
                    self.barged = false;
                    self.listening_ask = Some(ask);
                    self.commands.push_back(Command::Listen { ask, timeout_ms });
                    let digits = self.session.script().asks.get(ask as usize).and_then(|a| a.capture?.kind.max_keys());
                    let mut listening = Listening {
                        silence_at: self.now + timeout_ms,
                        speaking: std::mem::take(&mut self.talking_over),
                        keys: String::new(),
                        keys_wanted: keys_wanted(self.session.script(), ask).max(digits.unwrap_or(0)),
                        keys_complete_at: None,
                        digits: digits.is_some(),
                    };
                    if let Some((text, emotion)) = self.early_words.take() {
                        self.early_keys.clear();
                        return self.answer(Answer::Said { text, emotion });
                    }
                    for k in std::mem::take(&mut self.early_keys).chars() {
                        if let Some(keys) = self.key(&mut listening, k) {
                            return self.answer(Answer::Keys(keys));
                        }
                    }
                    self.phase = Phase::Listening(listening);
                    return;
                }
                Action::Transfer { queue, outcome, data } => {
                    self.notes.push(Note::Transfer { queue: queue.clone(), outcome, data: data.clone() });
                    self.flush_sms();
                    self.commands.push_back(Command::Transfer { queue, data });
                    self.phase = Phase::Transferring;
                    return;
                }
                Action::Hangup { outcome } => {
                    self.notes.push(Note::Hangup { outcome });
                    return self.finish_call();
                }
                Action::End(EndReason::CustomerHangup) => {
                    self.notes.push(Note::CustomerHangup);
                    self.flush_sms();
                    self.phase = Phase::Over;
                    return;
                }
                Action::End(EndReason::Failed { message, at }) => {
                    self.notes.push(Note::Failed { message, at });
                    return self.finish_call();
                }
            }
        }
    }
}

/// Whether an utterance answers: it has words, or an emotion other than neutral (an angry
/// shout the recogniser made nothing of still reaches `on emotion angry`).
fn is_answer(text: &str, emotion: Option<&HeardEmotion>) -> bool {
    !text.trim().is_empty() || emotion.is_some_and(|e| e.emotion != Emotion::Neutral)
}

/// How many keys the ask's patterns take at most (a one-key menu answers on the first key).
fn keys_wanted(script: &ScriptCode, ask: AskId) -> usize {
    let ask_patterns = script.asks.get(ask as usize).into_iter().flat_map(|a| a.branches.iter());
    ask_patterns
        .chain(script.handlers.iter())
        .flat_map(|b| b.patterns.iter())
        .filter_map(|p| match p {
            PatternCode::Dtmf(d) => Some(d.chars().count()),
            _ => None,
        })
        .max()
        .unwrap_or(1)
}

/// How a sensitive value appears in transcripts, logs and reports: its length is not shown.
pub const MASK: &str = crate::telephony::MASKED;

/// Folds a call's log into its result (CAMPAIGN.md §4's columns), the same for every telephony.
pub fn result_of(exec: &Executable, script_index: usize, notes: &[Note]) -> CallResult {
    let script = &exec.program.scripts[script_index];
    let mut result = CallResult { disposition: Disposition::Answered, ..CallResult::default() };
    // The customer's last words, kept until the branch they led to is known.
    let mut pending_words: Option<&str> = None;
    for note in notes {
        match note {
            Note::Step(s) => {
                let path = exec.step_path(script_index, *s as usize);
                result.last_step = Some(path.to_string());
                result.steps.push(path.to_string());
            }
            Note::Branch { ask, index, handler, recognised } => {
                // §14: with a learned model, the reply says which intent decided and how.
                if let (Some(r), Some(_)) = (recognised, &exec.classifier)
                    && let Some(TranscriptLine::Reply { intent, by, confidence, .. }) = result.transcript.last_mut()
                {
                    *intent = exec.program.intents.get(r.intent as usize).map(|t| t.name.clone());
                    *by = Some(if r.by_model { "model" } else { "phrase" });
                    *confidence = r.by_model.then_some(r.confidence_permille);
                }
                let taken = if *handler {
                    let h = script.handlers.get(*index as usize);
                    let name = h
                        .and_then(|h| {
                            h.patterns.iter().find_map(|p| match p {
                                PatternCode::Intent(i) => exec.program.intents.get(*i as usize).map(|t| t.name.clone()),
                                PatternCode::Emotion(e) => Some(format!("emotion {}", e.name())),
                                _ => None,
                            })
                        })
                        .unwrap_or_else(|| "other".into());
                    result.objections.push(name);
                    h
                } else {
                    ask.and_then(|a| script.asks.get(a as usize)).and_then(|a| a.branches.get(*index as usize))
                };
                let caught_all = taken
                    .is_some_and(|b| b.patterns.iter().any(|p| matches!(p, PatternCode::Unknown | PatternCode::Any)));
                if let Some(words) = pending_words.take()
                    && caught_all
                {
                    result.unrecognised.push(words.to_string());
                }
            }
            Note::Said { text, log_text, span, cut, .. } => result.transcript.push(TranscriptLine::Prompt {
                text: log_text.clone().unwrap_or_else(|| text.clone()),
                line: span.and_then(|s| exec.line_of(s)),
                cut: cut.map(Cut::name),
            }),
            Note::Heard { answer, sensitive } => result.transcript.push(match answer {
                Answer::Silence => TranscriptLine::reply(String::new(), true, None),
                Answer::Said { text, emotion } => {
                    // Words that may hold a sensitive value are never kept as unrecognised.
                    pending_words = (!sensitive).then_some(text.as_str());
                    let felt = emotion.as_ref().filter(|e| e.emotion != Emotion::Neutral);
                    let emotion_why = felt
                        .filter(|e| !e.why.is_empty())
                        .map(|e| e.why.iter().map(|cause| cause.describe(*sensitive)).collect::<Vec<_>>().join("; "));
                    let text = if *sensitive { MASK.to_string() } else { text.clone() };
                    TranscriptLine::reply(text, false, felt.map(|e| e.emotion.name())).with_emotion_why(emotion_why)
                }
                Answer::Keys(keys) => {
                    let keys = if *sensitive { MASK } else { keys.as_str() };
                    TranscriptLine::reply(format!("[dtmf {keys}]"), false, None)
                }
            }),
            Note::Captured { name, value, sensitive } => result.transcript.push(TranscriptLine::Captured {
                name: name.clone(),
                value: if *sensitive { MASK.to_string() } else { value.literal_text() },
            }),
            Note::Record(Record::Tag(t)) => result.tags.push(t.clone()),
            Note::Record(Record::Callback { after_ms }) => result.callback_ms = Some(*after_ms),
            Note::Record(Record::CallbackAt { date, time }) => result.callback_at = Some((*date, *time)),
            Note::Record(Record::Optout) => result.optout = true,
            // The transcript's action line says how the action answered.
            Note::Record(Record::Verify) | Note::DoBranch { .. } => {}
            Note::Record(Record::Sms { text, log_text }) => {
                let text = log_text.clone().unwrap_or_else(|| text.clone());
                result.transcript.push(TranscriptLine::Sms { text: text.clone() });
                result.messages.push(Message { text, delivery: Delivery::Queued });
            }
            Note::Action { name, result: r, latency_ms } => {
                result.transcript.push(TranscriptLine::Action {
                    name: name.clone(),
                    ok: r.is_ok(),
                    latency_ms: *latency_ms,
                    cause: r.clone().err(),
                });
                result.actions.push(ActionCall {
                    name: name.clone(),
                    ok: r.is_ok(),
                    latency_ms: *latency_ms,
                    cause: r.clone().err(),
                });
            }
            Note::Transfer { queue, outcome, data } => {
                for h in data {
                    let value = if h.sensitive { MASK.to_string() } else { h.value.clone() };
                    result.transcript.push(TranscriptLine::Handover { key: h.key.clone(), value: value.clone() });
                    result.handover.push((h.key.clone(), value));
                }
                let o = &script.outcomes[*outcome as usize];
                result.outcome = Some(o.name.clone());
                result.goal = o.goal;
                result.transferred_to = Some(queue.clone());
            }
            Note::TransferFailed { why } => {
                result.transferred_to = None;
                result.outcome = Some("transfer_failed".into());
                result.goal = false;
                result.cause = Some(why.clone());
            }
            Note::Hangup { outcome } => {
                let o = &script.outcomes[*outcome as usize];
                result.outcome = Some(o.name.clone());
                result.goal = o.goal;
            }
            Note::CustomerHangup => result.disposition = Disposition::CustomerHangup,
            Note::Failed { message, .. } => {
                result.disposition = Disposition::Failed;
                result.cause = Some(format!("script error: {message}"));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_answer_masks_the_words_that_made_it_angry_but_not_the_voice() {
        let words = EmotionCause::Words("你们有病吧".into());
        let voice = EmotionCause::Voice("voice +9.5 dB, pitch ×1.42 over the first utterance".into());
        assert_eq!(words.describe(false), "words: 你们有病吧");
        assert_eq!(words.describe(true), "words: ****");
        assert_eq!(voice.describe(true), "voice +9.5 dB, pitch ×1.42 over the first utterance");
    }

    #[test]
    fn words_or_a_feeling_make_an_answer() {
        let angry = HeardEmotion::from(Emotion::Angry);
        assert!(is_answer("是", None));
        assert!(is_answer("", Some(&angry)));
        assert!(!is_answer(" ", None));
        assert!(!is_answer("", Some(&HeardEmotion::from(Emotion::Neutral))));
    }
}
