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

/// A transcript as the store keeps it: what `serde_json::to_string` writes, byte for byte, with
/// prompts and plain replies (nearly every line) written directly. serde's keys and escapes
/// were a twentieth of a simulated campaign's work.
pub fn transcript_json(lines: &[TranscriptLine]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| line_len(l) + 48).sum::<usize>() + 2);
    out.push('[');
    for (k, line) in lines.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        match line {
            TranscriptLine::Prompt { text, line, cut } => {
                out.push_str(r#"{"kind":"prompt","text":"#);
                push_json_str(&mut out, text);
                out.push_str(r#","line":"#);
                match line {
                    Some(n) => out.push_str(itoa::Buffer::new().format(*n)),
                    None => out.push_str("null"),
                }
                if let Some(cut) = cut {
                    out.push_str(r#","cut":"#);
                    push_json_str(&mut out, cut);
                }
                out.push('}');
            }
            TranscriptLine::Reply {
                text,
                silence,
                emotion,
                emotion_why: None,
                intent: None,
                by: None,
                confidence: None,
            } => {
                out.push_str(r#"{"kind":"reply","text":"#);
                push_json_str(&mut out, text);
                out.push_str(if *silence { r#","silence":true"# } else { r#","silence":false"# });
                if let Some(emotion) = emotion {
                    out.push_str(r#","emotion":"#);
                    push_json_str(&mut out, emotion);
                }
                out.push('}');
            }
            other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
        }
    }
    out.push(']');
    out
}

/// A list of texts as JSON (`["opening","core.remind"]`), as `serde_json::to_string` writes it.
pub fn strings_json(items: &[String]) -> String {
    let mut out = String::with_capacity(items.iter().map(|s| s.len() + 3).sum::<usize>() + 2);
    out.push('[');
    for (k, item) in items.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_json_str(&mut out, item);
    }
    out.push(']');
    out
}

fn line_len(line: &TranscriptLine) -> usize {
    match line {
        TranscriptLine::Prompt { text, .. } | TranscriptLine::Reply { text, .. } | TranscriptLine::Sms { text } => {
            text.len()
        }
        _ => 32,
    }
}

/// A JSON string as serde_json writes one: `"`, `\` and control characters escaped (the
/// usual five by letter, the rest as `\u00XX`), everything else as it is.
fn push_json_str(out: &mut String, text: &str) {
    out.push('"');
    let bytes = text.as_bytes();
    let mut start = 0;
    // Eight bytes at a time past those that need no escape (nearly all: Chinese text is
    // bytes of 0x80 and up).
    let mut at = 0;
    while at < bytes.len() {
        if let Some(word) = bytes.get(at..at + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if !needs_escape(word) {
                at += 8;
                continue;
            }
        }
        let b = bytes[at];
        at += 1;
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        let at = at - 1;
        out.push_str(&text[start..at]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = at + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Whether any of the word's eight bytes is a control character, `"` or `\\`.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    word.wrapping_sub(0x20 * ONES) & !word & HIGHS != 0
        || zero_in(word ^ (b'"' as u64 * ONES))
        || zero_in(word ^ (b'\\' as u64 * ONES))
}

#[cfg(test)]
mod json_tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Control characters, quotes, backslashes, Chinese and emoji among plain letters.
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('/'),
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
                Just('\u{7f}'),
                Just('您'),
                Just('😀'),
                proptest::char::range('a', 'z'),
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn line() -> impl Strategy<Value = TranscriptLine> {
        let cut = prop_oneof![Just(None), Just(Some("interrupted")), Just(Some("skipped"))];
        let emotion = prop_oneof![Just(None), Just(Some("angry")), Just(Some("anxious"))];
        prop_oneof![
            (text(), proptest::option::of(0usize..100_000), cut).prop_map(|(text, line, cut)| TranscriptLine::Prompt {
                text,
                line,
                cut
            }),
            (text(), any::<bool>(), emotion.clone())
                .prop_map(|(text, silence, emotion)| TranscriptLine::reply(text, silence, emotion)),
            (text(), any::<bool>(), emotion, proptest::option::of(text()), proptest::option::of(0u16..=1000)).prop_map(
                |(text, silence, emotion, intent, confidence)| TranscriptLine::Reply {
                    text,
                    silence,
                    emotion,
                    emotion_why: intent.clone(),
                    intent,
                    by: Some("model"),
                    confidence,
                }
            ),
            (text(), text()).prop_map(|(name, value)| TranscriptLine::Captured { name, value }),
            (text(), any::<bool>(), any::<u64>(), proptest::option::of(text()))
                .prop_map(|(name, ok, latency_ms, cause)| TranscriptLine::Action { name, ok, latency_ms, cause }),
            text().prop_map(|text| TranscriptLine::Sms { text }),
            (text(), text()).prop_map(|(key, value)| TranscriptLine::Handover { key, value }),
        ]
    }

    proptest! {
        /// The store's JSON is serde_json's, byte for byte, for every kind of line and text.
        #[test]
        fn transcript_json_is_serde_json(lines in proptest::collection::vec(line(), 0..8)) {
            prop_assert_eq!(transcript_json(&lines), serde_json::to_string(&lines).unwrap());
        }

        #[test]
        fn strings_json_is_serde_json(items in proptest::collection::vec(text(), 0..6)) {
            prop_assert_eq!(strings_json(&items), serde_json::to_string(&items).unwrap());
        }
    }
}
