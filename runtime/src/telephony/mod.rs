//! The telephony boundary: the scheduler dials through a [`Telephony`] and learns how calls
//! ended. The simulator implements it in virtual time; SIP implements it on real networks.
//! Both run the conversation of an answered call through [`crate::call::CallDriver`].
//!
//! This module holds the trait, dispositions and call results; its children are what the
//! implementations are made of: [`sim`] (virtual time), [`sip`] (real networks), and the
//! pieces a real call uses: [`media`] (audio), [`speech`] (speech out), [`asr`] (speech in),
//! [`emotion`] (anger in the words and the voice) and [`recording`] (encrypted recordings).

pub mod asr;
pub mod emotion;
pub mod media;
pub mod recording;
pub mod sim;
pub mod sip;
pub mod speech;

use callscript_compiler::bytecode::SlotDecl;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::Value;
use serde::Serialize;

use crate::vm::Session;

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
        /// The emotion heard, when not neutral.
        #[serde(skip_serializing_if = "Option::is_none")]
        emotion: Option<&'static str>,
        /// Why it was reported on a real call (LANGUAGE.md §15): `words: 你们有病吧`, `voice
        /// +9.5 dB, pitch ×1.42 over the first utterance`, both joined by `; `.
        #[serde(skip_serializing_if = "Option::is_none")]
        emotion_why: Option<String>,
        /// With a learned model (§14): the intent that decided the turn, `by` "phrase" or
        /// "model", and the model's `confidence` (0 to 1). Absent in programs without one.
        #[serde(skip_serializing_if = "Option::is_none")]
        intent: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_fraction")]
        confidence: Option<u16>,
    },
    /// A value read from the answer into a `let` (§11): its literal form, `****` when the
    /// let is sensitive.
    Captured { name: String, value: String },
    /// A call of an action (§13): how long it took, and why it failed.
    Action {
        name: String,
        ok: bool,
        latency_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// A text message sent to the customer (§13), sensitive values masked.
    Sms { text: String },
    /// What a transfer handed to the agent (§13), sensitive values masked.
    Handover { key: String, value: String },
}

impl TranscriptLine {
    /// A reply line with no recognition noted (yet).
    pub fn reply(text: String, silence: bool, emotion: Option<&'static str>) -> TranscriptLine {
        TranscriptLine::Reply { text, silence, emotion, emotion_why: None, intent: None, by: None, confidence: None }
    }

    /// The line with why its emotion was reported (real calls, §15); other lines unchanged.
    pub fn with_emotion_why(mut self, why: Option<String>) -> TranscriptLine {
        if let TranscriptLine::Reply { emotion_why, .. } = &mut self {
            *emotion_why = why;
        }
        self
    }
}

/// Thousandths as a fraction (`830` → `0.83`).
fn as_fraction<S: serde::Serializer>(permille: &Option<u16>, s: S) -> Result<S::Ok, S::Error> {
    match permille {
        Some(p) => s.serialize_f64(f64::from(*p) / 1000.0),
        None => s.serialize_none(),
    }
}

/// What a masked value is shown as: a sensitive let's value is not kept at all.
pub const MASKED: &str = "****";

/// A script's `let` as the call left it (LANGUAGE.md §11 "Results"): kept with the attempt,
/// a column of `report --attempts`, summed or counted by the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LetResult {
    pub name: String,
    pub ty: Type,
    /// The value in its literal form ([`Value::literal_text`]: `3500.00`, `2026-11-25`,
    /// `15:30`); `None` for a sensitive let, whose value is never kept (shown as [`MASKED`]).
    pub value: Option<String>,
}

impl LetResult {
    /// A let's value at the end of a call; `sensitive` (declared so, or computed from a
    /// sensitive value: `ScriptCode::tainted_slots`) keeps no value.
    pub fn new(decl: &SlotDecl, value: &Value, sensitive: bool) -> LetResult {
        LetResult { name: decl.name.clone(), ty: decl.ty, value: (!sensitive).then(|| value.literal_text()) }
    }

    /// The value as a report shows it: its literal form, or [`MASKED`].
    pub fn shown(&self) -> &str {
        self.value.as_deref().unwrap_or(MASKED)
    }
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
    /// `callback on D at T` (§12): the local day and/or time the customer asked for. The
    /// scheduler does not place attempts by it yet: see docs/language.md §17.
    pub callback_at: Option<(Option<callscript_compiler::value::Date>, Option<callscript_compiler::value::Time>)>,
    pub optout: bool,
    /// The encrypted recording of an answered call: (file, size in bytes).
    pub recording: Option<(String, u64)>,
    /// The script's lets (not its inputs, nor the outputs of its actions) at the end of the call, in declaration order;
    /// empty when the script did not run (the call was not answered).
    pub lets: Vec<LetResult>,
    /// Every call of an action, in order (§13).
    pub actions: Vec<ActionCall>,
    /// Every text message the script sent, in order, sensitive values masked (§13).
    pub messages: Vec<Message>,
    /// What a transfer handed to the agent: (key, value), sensitive values masked (§13).
    pub handover: Vec<(String, String)>,
}

/// One call of an action as the call log keeps it (CAMPAIGN.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionCall {
    pub name: String,
    pub ok: bool,
    pub latency_ms: u64,
    /// Why it failed (the status, the timeout, a body that does not read, …).
    pub cause: Option<String>,
}

/// A text message the script sent (§13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The text with sensitive values masked: what logs, the store and reports keep.
    pub text: String,
    pub delivery: Delivery,
}

/// What became of a text message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    /// The script sent it; the telephony has not handed it to a gateway (yet).
    #[default]
    Queued,
    /// A simulated campaign: nothing leaves the machine.
    Simulated,
    /// The gateway took it (2xx).
    Sent,
    /// The gateway refused it or could not be reached: why.
    Failed(String),
}

impl Delivery {
    /// The name the store and reports use.
    pub fn name(&self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Simulated => "simulated",
            Delivery::Sent => "sent",
            Delivery::Failed(_) => "failed",
        }
    }

    pub fn cause(&self) -> Option<&str> {
        match self {
            Delivery::Failed(why) => Some(why),
            _ => None,
        }
    }
}

/// What to dial: the number and the session that runs once the customer answers.
pub struct DialRequest {
    pub phone: String,
    /// The attempt's row in the store, and the customer (for recordings).
    pub attempt_row: i64,
    pub customer_id: String,
    /// The attempt's number for this customer (1 for the first): actions and text messages
    /// carry it (CAMPAIGN.md §5).
    pub attempt: u32,
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
