//! The telephony boundary: the scheduler dials through a [`Telephony`] and learns how calls
//! ended. The simulator implements it in virtual time; SIP implements it on real networks.

use serde::Serialize;

use callscript_compiler::bytecode::{PatternCode, ScriptCode};

use crate::vm::{Action, EndReason, Event, Executable, Record, Session};

/// Identifies a call of one run.
pub type CallId = u64;

/// Telephony's answer for one attempt (CAMPAIGN.md §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    #[default]
    Answered,
    NoAnswer,
    Busy,
    InvalidNumber,
    Rejected,
    Failed,
    CustomerHangup,
}

impl Disposition {
    pub fn name(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::NoAnswer => "no_answer",
            Disposition::Busy => "busy",
            Disposition::InvalidNumber => "invalid_number",
            Disposition::Rejected => "rejected",
            Disposition::Failed => "failed",
            Disposition::CustomerHangup => "customer_hangup",
        }
    }

    /// Whether the customer picked up (the script ran).
    pub fn connected(self) -> bool {
        matches!(self, Disposition::Answered | Disposition::CustomerHangup)
    }
}

/// One line of a stored transcript. Prompts are stored with sensitive values masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TranscriptLine {
    Prompt {
        text: String,
        line: Option<usize>,
        /// On real calls: "interrupted" (the customer barged in) or "skipped" (they were
        /// already talking); absent when the prompt played to its end.
        #[serde(skip_serializing_if = "Option::is_none")]
        cut: Option<&'static str>,
    },
    Reply {
        text: String,
        silence: bool,
    },
}

/// How a call ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallResult {
    pub disposition: Disposition,
    pub cause: Option<String>,
    pub ring_ms: u64,
    pub talk_ms: u64,
    pub outcome: Option<String>,
    pub goal: bool,
    pub transferred_to: Option<String>,
    pub last_step: Option<String>,
    pub steps: Vec<String>,
    pub tags: Vec<String>,
    pub objections: Vec<String>,
    pub unrecognised: Vec<String>,
    pub transcript: Vec<TranscriptLine>,
    pub callback_ms: Option<u64>,
    pub optout: bool,
    /// The encrypted recording of an answered call: (file, size in bytes).
    pub recording: Option<(String, u64)>,
}

/// What to dial: the number and the session that runs once the customer answers.
pub struct DialRequest {
    pub phone: String,
    /// The attempt's row in the store, and the customer (for recordings).
    pub attempt_row: i64,
    pub customer_id: String,
    pub session: Session,
    pub max_duration_ms: Option<u64>,
}

/// A way to place calls.
pub trait Telephony {
    /// Whether each attempt must be durable in the store before `dial` (anything that leaves
    /// the process, such as a SIP INVITE).
    fn needs_durable_dial(&self) -> bool;
    /// Starts a call at `now_ms` (the scheduler's clock).
    fn dial(&mut self, now_ms: i64, call: CallId, request: DialRequest);
    /// When the next known call end happens, if any.
    fn next_end(&self) -> Option<i64>;
    /// The next call that ended: (time, call, result).
    fn pop_end(&mut self) -> Option<(i64, CallId, CallResult)>;
    /// Whether calls run on the wall clock (real networks): the scheduler then waits in
    /// [`Telephony::wait`] instead of jumping its clock to the next known end.
    fn realtime(&self) -> bool {
        false
    }
    /// Collects calls that ended meanwhile without blocking, so their results are handled
    /// (and, for real calls, committed) before the next event.
    fn poll(&mut self) {
        if self.realtime() {
            self.wait(std::time::Duration::ZERO);
        }
    }
    /// Calls dialled and not yet popped.
    fn live(&self) -> usize;
    /// Blocks until a call ends or `timeout` passes (real-time telephony).
    fn wait(&mut self, timeout: std::time::Duration) {
        std::thread::sleep(timeout);
    }
}

/// Builds a call's [`CallResult`] from the VM's actions and the customer's replies, the same
/// way for every telephony (simulated or real).
pub struct CallLog {
    result: CallResult,
    /// The customer's last words, kept until the branch they led to is known.
    pending_reply: Option<String>,
}

impl CallLog {
    pub fn new(disposition: Disposition) -> CallLog {
        CallLog { result: CallResult { disposition, ..CallResult::default() }, pending_reply: None }
    }

    /// The customer's reply to a listen, for the transcript.
    pub fn reply(&mut self, event: &Event) {
        let line = match event {
            Event::Silence => TranscriptLine::Reply { text: String::new(), silence: true },
            Event::Utterance { text, .. } => {
                self.pending_reply = Some(text.clone());
                TranscriptLine::Reply { text: text.clone(), silence: false }
            }
            Event::Dtmf(keys) => TranscriptLine::Reply { text: format!("[dtmf {keys}]"), silence: false },
            _ => return,
        };
        self.result.transcript.push(line);
    }

    /// Records one action; returns true when the call is over.
    pub fn action(&mut self, exec: &Executable, script: &ScriptCode, action: Action) -> bool {
        let result = &mut self.result;
        match action {
            Action::EnterStep(s) => {
                let path = script.steps[s as usize].path();
                result.last_step = Some(path.clone());
                result.steps.push(path);
            }
            Action::Branch { ask, index, handler } => {
                if handler {
                    let h = &script.handlers[index as usize];
                    let name = h
                        .patterns
                        .iter()
                        .find_map(|p| match p {
                            PatternCode::Intent(i) => exec.program.intents.get(*i as usize).map(|t| t.name.clone()),
                            PatternCode::Emotion(e) => Some(format!("emotion {}", e.name())),
                            _ => None,
                        })
                        .unwrap_or_else(|| "other".into());
                    result.objections.push(name);
                }
                let taken = match (ask, handler) {
                    (_, true) => script.handlers.get(index as usize),
                    (Some(a), false) => script.asks.get(a as usize).and_then(|a| a.branches.get(index as usize)),
                    _ => None,
                };
                let last_branch_unknown = taken
                    .is_some_and(|b| b.patterns.iter().any(|p| matches!(p, PatternCode::Unknown | PatternCode::Any)));
                if let Some(reply) = self.pending_reply.take()
                    && last_branch_unknown
                {
                    result.unrecognised.push(reply);
                }
            }
            Action::Play { text, log_text, span, .. } => {
                let line = exec.line_of(span);
                result.transcript.push(TranscriptLine::Prompt { text: log_text.unwrap_or(text), line, cut: None });
            }
            Action::Listen { .. } => {}
            Action::Record(r) => match r {
                Record::Tag(t) => result.tags.push(t),
                Record::Callback { after_ms } => result.callback_ms = Some(after_ms),
                Record::Optout => result.optout = true,
                Record::Verify => {}
            },
            Action::Transfer { queue, outcome } => {
                let o = &script.outcomes[outcome as usize];
                result.outcome = Some(o.name.clone());
                result.goal = o.goal;
                result.transferred_to = Some(queue);
                return true;
            }
            Action::Hangup { outcome } => {
                let o = &script.outcomes[outcome as usize];
                result.outcome = Some(o.name.clone());
                result.goal = o.goal;
                return true;
            }
            Action::End(EndReason::CustomerHangup) => {
                result.disposition = Disposition::CustomerHangup;
                return true;
            }
            Action::End(EndReason::Failed { message, .. }) => {
                result.disposition = Disposition::Failed;
                result.cause = Some(format!("script error: {message}"));
                return true;
            }
        }
        false
    }

    /// Marks the last prompt as cut short by barge-in.
    pub fn cut_last_prompt(&mut self, how: &'static str) {
        if let Some(TranscriptLine::Prompt { cut, .. }) =
            self.result.transcript.iter_mut().rev().find(|l| matches!(l, TranscriptLine::Prompt { .. }))
        {
            *cut = Some(how);
        }
    }

    /// The result so far, to adjust (a failed transfer, talk time).
    pub fn result_mut(&mut self) -> &mut CallResult {
        &mut self.result
    }

    pub fn finish(self) -> CallResult {
        self.result
    }
}
