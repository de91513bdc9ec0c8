//! The compiled form of a script: a state-machine bytecode that the runtime's VM executes,
//! one session per call. Instructions are small and documented; source spans live in a side
//! table (`ScriptCode::spans`, parallel to `code`), not in the instructions.

use serde::{Deserialize, Serialize};

use crate::pattern::Form;
use crate::span::FileSpan;
use crate::syntax::ast::{SectionKind, Type};
use crate::value::Value;

/// Everything compiled from one root file: its scripts, and the tables they share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub scripts: Vec<ScriptCode>,
    /// The recogniser's tables, one per intent in scope of any script, in declaration order
    /// (imports in `use` order, then the file, then scripts): ties between equal scores are
    /// settled by this order (§9.1).
    pub intents: Vec<IntentTable>,
    /// Every source file, for mapping spans back to file:line (the root first). A loaded
    /// `.callc` is re-checked from these (its `@allow`s are in them).
    pub files: Vec<SourceFile>,
    /// The jurisdiction of the compliance pack it was checked under (`""`: none).
    pub jurisdiction: String,
    /// The model of learned intents (§14), trained from the intents' examples; None when no
    /// intent in scope has any (the turn rule is then phrases only, as in version 1).
    pub model: Option<crate::learn::IntentModel>,
}

/// A source file the program was compiled from (its text is kept for disassembly and
/// transcripts with source lines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// What the built-in recogniser matches for one intent (§6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentTable {
    pub name: String,
    /// Phrases expanded into literal forms (patterns already checked by the compiler),
    /// normalised like utterances are.
    pub forms: Vec<Form>,
    /// Dtmf key sequences that select this intent.
    pub dtmf: Vec<String>,
    /// Regexes (syntax already checked), matched against the normalised utterance.
    pub regexes: Vec<String>,
}

/// Index types: small integers into the tables of a [`ScriptCode`].
pub type PromptId = u32;
pub type AskId = u16;
pub type ExprId = u32;
pub type Slot = u16;
pub type OutcomeId = u16;
pub type StepId = u16;
pub type TextId = u32;
pub type IntentId = u32;
pub type FlowId = u16;

/// An absent expression in an instruction that takes optional ones (keeps `Instruction` at
/// two words).
pub const NO_EXPR: ExprId = ExprId::MAX;

/// One compiled script.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptCode {
    pub name: String,
    pub title: Option<String>,
    pub purpose: String,
    pub product: Option<String>,
    pub locale: String,
    pub max_duration_ms: Option<u64>,
    pub listen_timeout_ms: u64,
    /// How long after the last key a `digits` entry is complete (§11's `digit_timeout`).
    pub digit_timeout_ms: u64,
    /// §14's `confidence` in thousandths: the learned model decides a turn at or above it.
    pub confidence_permille: u16,
    pub voice: Option<String>,
    /// Value slots: inputs first (in declaration order), then `let` values.
    pub slots: Vec<SlotDecl>,
    pub outcomes: Vec<OutcomeDecl>,
    pub steps: Vec<StepDecl>,
    pub code: Vec<Instruction>,
    /// The source of each instruction (same length as `code`).
    pub spans: Vec<FileSpan>,
    pub prompts: Vec<PromptCode>,
    pub texts: Vec<String>,
    pub exprs: Vec<ExprCode>,
    pub asks: Vec<AskCode>,
    /// `objection` handlers, in source order (an included set's at the place of its
    /// `include`).
    pub handlers: Vec<BranchCode>,
    /// The flows the script calls, directly or not, each lowered once (§12).
    pub flows: Vec<FlowDecl>,
    /// Actions the script calls (§13), and each `do` of them.
    pub actions: Vec<ActionCode>,
    pub dos: Vec<DoCode>,
    /// What each `transfer … with { … }` hands over (see [`Instruction::Handover`]).
    pub handovers: Vec<Vec<(String, ExprId)>>,
}

/// A flow's code within a script: one copy shared by every `call` of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowDecl {
    pub name: String,
    /// Its first instruction.
    pub pc: u32,
    pub span: FileSpan,
}

/// An action the script calls (§13): what it is sent and what it answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionCode {
    pub name: String,
    pub inputs: Vec<(String, Type)>,
    /// Each output and the slot that holds it after `ok` (`NAME.FIELD`).
    pub outputs: Vec<(String, Type, Slot)>,
}

pub type DoId = u16;

/// One `do NAME(…) { on ok …; on failed … }`. The `ok` body follows the `Do` instruction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoCode {
    /// Index into [`ScriptCode::actions`].
    pub action: u16,
    /// The inputs sent, in the order written.
    pub args: Vec<(String, ExprId)>,
    pub timeout_ms: u64,
    /// The first instruction of the `failed` body.
    pub failed: u32,
    /// The first instruction of the `ok` body (the one after `Do`).
    pub ok: u32,
    pub span: FileSpan,
    /// The heads `on ok =>` and `on failed =>`, for coverage.
    pub ok_span: FileSpan,
    pub failed_span: FileSpan,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotDecl {
    pub name: String,
    pub ty: Type,
    pub sensitive: bool,
    pub input: bool,
    /// An input's default, or a `let`'s starting value (an expression evaluated at start).
    pub init: Option<ExprId>,
    /// Declared `min` and `max` of a number (§11): a captured value outside them is no
    /// candidate, and CS008 reads the value at these bounds.
    pub min: Option<Value>,
    pub max: Option<Value>,
    /// A flow's parameter or `let` (§12): not a value of the script, so neither stored with
    /// the attempt nor read by tests.
    pub local: bool,
    /// An action's output `NAME.FIELD` (§13): set by the action's answer, not a result of
    /// the call.
    pub output: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeDecl {
    pub name: String,
    pub goal: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDecl {
    pub section: SectionKind,
    pub name: String,
    /// The flow the step belongs to (None: a step of the script).
    pub flow: Option<String>,
    /// The first instruction of the step.
    pub pc: u32,
    pub span: FileSpan,
}

impl StepDecl {
    /// `section.step`, or the section's name for a section without steps.
    pub fn path(&self) -> String {
        if let Some(flow) = &self.flow {
            return if *flow == self.name { flow.clone() } else { format!("{flow}.{}", self.name) };
        }
        if self.name == self.section.name() {
            self.name.clone()
        } else {
            format!("{}.{}", self.section.name(), self.name)
        }
    }
}

/// A prompt: literal text and interpolations, rendered per call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptCode {
    pub segments: Vec<PromptSegment>,
    /// Never interrupted by barge-in (`bargein off`, or it holds a pack disclosure).
    pub no_bargein: bool,
    pub span: FileSpan,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PromptSegment {
    Text(String),
    Value { expr: ExprId, filter: Option<Filter> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filter {
    Money,
    Digits,
    Number,
    Date,
    Mask,
}

impl Filter {
    pub fn from_name(name: &str) -> Option<Filter> {
        Some(match name {
            "money" => Filter::Money,
            "digits" => Filter::Digits,
            "number" => Filter::Number,
            "date" => Filter::Date,
            "mask" => Filter::Mask,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Filter::Money => "money",
            Filter::Digits => "digits",
            Filter::Number => "number",
            Filter::Date => "date",
            Filter::Mask => "mask",
        }
    }
}

/// An expression in postfix form, evaluated on a small stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExprCode {
    pub ops: Vec<ExprOp>,
    pub span: FileSpan,
    /// Computed from a sensitive input (§9.5).
    pub sensitive: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExprOp {
    Const(Value),
    Load(Slot),
    Attempt,
    Hour,
    /// The customer's local date (§11).
    Today,
    /// The day of the week of `today`, 1 = Monday.
    Weekday,
    Neg,
    Not,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Short-circuit: if the top is false, jump forward by `n` ops keeping it; else pop it.
    And(u32),
    /// Short-circuit: if the top is true, jump forward by `n` ops keeping it; else pop it.
    Or(u32),
}

/// An `ask`: its question, options and branches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AskCode {
    pub prompt: PromptId,
    pub timeout_ms: u64,
    pub retries: u32,
    pub branches: Vec<BranchCode>,
    pub span: FileSpan,
    /// The step the ask belongs to.
    pub step: StepId,
    /// `capture NAME`: where an extracted answer goes, and how it is read (§11).
    pub capture: Option<CaptureCode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureCode {
    pub slot: Slot,
    pub kind: CaptureKind,
}

/// Which extractor reads a captured answer: the let's type, or a digit string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaptureKind {
    Int,
    Money,
    Date,
    Time,
    Text,
    /// `digits M..N` into a text: spoken or keyed, `min..=max` digits long.
    Digits {
        min: u8,
        max: u8,
    },
}

impl CaptureKind {
    /// The longest key entry it takes (None: keys are not read, §16.2).
    pub fn max_keys(self) -> Option<usize> {
        match self {
            CaptureKind::Digits { max, .. } => Some(usize::from(max)),
            _ => None,
        }
    }
}

/// A branch of an ask or an objection handler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchCode {
    pub patterns: Vec<PatternCode>,
    pub guard: Option<ExprId>,
    /// Times a handler may fire per call (None: unlimited). Always None on ask branches.
    pub limit: Option<u32>,
    /// The first instruction of the body.
    pub pc: u32,
    pub span: FileSpan,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatternCode {
    Intent(IntentId),
    Dtmf(String),
    Emotion(Emotion),
    Silence,
    Unknown,
    Any,
    Exhausted,
    /// The answer holds a value for the ask's capture (§11).
    Captured,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Emotion {
    Angry,
    Upset,
    Neutral,
    Happy,
}

impl Emotion {
    pub fn from_name(name: &str) -> Option<Emotion> {
        Some(match name {
            "angry" => Emotion::Angry,
            "upset" => Emotion::Upset,
            "neutral" => Emotion::Neutral,
            "happy" => Emotion::Happy,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Emotion::Angry => "angry",
            Emotion::Upset => "upset",
            Emotion::Neutral => "neutral",
            Emotion::Happy => "happy",
        }
    }
}

/// One instruction of the state machine. The VM runs instructions until one needs the outside
/// world (play, listen, record, transfer, hang up), then parks the session until an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Instruction {
    /// Marks the start of a step (for transcripts, coverage and `expect step`).
    EnterStep(StepId),
    /// Plays a prompt; the session waits for it to finish.
    Say(PromptId),
    /// Plays the ask's question, then listens and dispatches to a branch (§4 matching order).
    Ask(AskId),
    /// Asks the current ask again (with the reprompt if given), counting one retry; past its
    /// `retries` it takes the `exhausted` branch.
    Retry(Option<PromptId>),
    /// Re-asks the question interrupted by an objection handler, without counting a retry.
    Resume,
    /// Continues at another instruction (goto, falling into the next step, end of an `if` arm).
    Jump(u32),
    /// Evaluates a condition; continues at the target when it is false.
    JumpUnless(ExprId, u32),
    /// Stores the value of an expression in a `let` slot.
    Set(Slot, ExprId),
    /// Records that the customer's identity is confirmed.
    Verify,
    /// Records a tag on the call.
    Tag(TextId),
    /// Asks the campaign to call again after the given milliseconds.
    Callback(u64),
    /// Records a do-not-call request.
    Optout,
    /// Hands the call to a human agent queue; the call ends with the outcome (or `transferred`).
    Transfer(TextId, Option<OutcomeId>),
    /// Ends the call with an outcome.
    Hangup(OutcomeId),
    /// Runs a flow: pushes the next instruction on the session's return stack and continues
    /// at the flow's first (§12). Its arguments were `Set` into its parameters just before.
    Call(FlowId),
    /// Ends a flow: continues after its `call` (popped from the return stack).
    Return,
    /// Listens again without replaying the question (§16.5): to the ask an objection handler
    /// interrupted (`true`), or to the ask whose branch this is (`false`). A fresh timeout, no
    /// retry counted.
    Listen(bool),
    /// Asks for the next attempt on a day and/or at a local time (`callback on D at T`, §12):
    /// expressions of a date and a time, [`NO_EXPR`] when not given.
    CallbackAt(ExprId, ExprId),
    /// Calls an action (§13) and waits for its answer: `ok` stores the outputs and goes on
    /// with the next instruction, `failed` continues at the `do`'s failed body.
    Do(DoId),
    /// Sends a text message to the customer after the current turn (§13); not terminal.
    Sms(PromptId),
    /// Sets the data the following `Transfer` hands to the agent ([`ScriptCode::handovers`]).
    Handover(u32),
}

impl Program {
    pub fn script(&self, name: &str) -> Option<&ScriptCode> {
        self.scripts.iter().find(|s| s.name == name)
    }
}

impl ScriptCode {
    pub fn outcome(&self, name: &str) -> Option<OutcomeId> {
        self.outcomes.iter().position(|o| o.name == name).map(|i| i as OutcomeId)
    }

    /// The step an instruction belongs to (the last `EnterStep` at or before it).
    pub fn step_of(&self, pc: u32) -> Option<StepId> {
        self.steps.iter().rposition(|s| s.pc <= pc).map(|i| i as StepId)
    }

    /// The prompts a call speaks, in order: every prompt but the texts of `sms` (§13), which
    /// are sent, never said (clips and the speech cache leave them out).
    pub fn spoken_prompts(&self) -> impl Iterator<Item = &PromptCode> {
        let texts: std::collections::HashSet<PromptId> = self
            .code
            .iter()
            .filter_map(|i| match i {
                Instruction::Sms(p) => Some(*p),
                _ => None,
            })
            .collect();
        self.prompts.iter().enumerate().filter(move |(i, _)| !texts.contains(&(*i as PromptId))).map(|(_, p)| p)
    }

    /// Which slots hold sensitive values (§9.5): the ones declared `sensitive`, and every slot
    /// ever given a value computed from one (its starting value or a `set`), through other
    /// lets too: a fixed point, flow-insensitive. CS002 checks where these are spoken; call
    /// results keep no value for them.
    pub fn tainted_slots(&self) -> Vec<bool> {
        let mut tainted: Vec<bool> = self.slots.iter().map(|s| s.sensitive).collect();
        let loads_tainted = |e: ExprId, tainted: &[bool]| {
            self.exprs.get(e as usize).is_some_and(|expr| {
                expr.sensitive
                    || expr
                        .ops
                        .iter()
                        .any(|op| matches!(op, ExprOp::Load(s) if tainted.get(*s as usize) == Some(&true)))
            })
        };
        let mut assignments: Vec<(Slot, ExprId)> =
            self.slots.iter().enumerate().filter_map(|(i, s)| Some((i as Slot, s.init?))).collect();
        assignments.extend(self.code.iter().filter_map(|i| match i {
            Instruction::Set(s, e) => Some((*s, *e)),
            _ => None,
        }));
        loop {
            let mut changed = false;
            for &(slot, e) in &assignments {
                if tainted.get(slot as usize) == Some(&false) && loads_tainted(e, &tainted) {
                    tainted[slot as usize] = true;
                    changed = true;
                }
            }
            if !changed {
                return tainted;
            }
        }
    }

    /// The `if` conditions whose value is fixed for a customer before the call starts: they
    /// read only inputs and `let`s that nothing changes during a call (no `set`, capture,
    /// action output or flow parameter writes them) and lets started from such values, and
    /// none of what a call's moment gives (`attempt`, `hour`, `today`, `weekday`). A campaign
    /// can compute these once per customer over the list's columns (the segment JIT) instead
    /// of once per call; the interpreter stays the reference for every other condition.
    pub fn fixed_guards(&self) -> Vec<ExprId> {
        let of_the_moment = |e: &ExprCode| {
            e.ops.iter().any(|op| matches!(op, ExprOp::Attempt | ExprOp::Hour | ExprOp::Today | ExprOp::Weekday))
        };
        let mut written = vec![false; self.slots.len()];
        let mut write = |slot: Slot| {
            if let Some(w) = written.get_mut(slot as usize) {
                *w = true;
            }
        };
        for i in &self.code {
            if let Instruction::Set(slot, _) = i {
                write(*slot);
            }
        }
        self.asks.iter().filter_map(|a| a.capture).for_each(|c| write(c.slot));
        self.actions.iter().flat_map(|a| &a.outputs).for_each(|(_, _, slot)| write(*slot));
        let mut fixed: Vec<bool> = self
            .slots
            .iter()
            .zip(&written)
            .map(|(s, &w)| !w && !s.local && !s.output && (s.input || s.init.is_some()))
            .collect();
        // A let is fixed when its starting value reads fixed slots only: a fixed point, as
        // lets read lets.
        let reads_fixed = |e: &ExprCode, fixed: &[bool]| {
            !of_the_moment(e)
                && e.ops.iter().all(|op| !matches!(op, ExprOp::Load(s) if fixed.get(*s as usize) != Some(&true)))
        };
        loop {
            let mut changed = false;
            for (i, slot) in self.slots.iter().enumerate() {
                let init = slot.init.and_then(|e| self.exprs.get(e as usize));
                if fixed[i] && init.is_some_and(|e| !reads_fixed(e, &fixed)) {
                    fixed[i] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut guards: Vec<ExprId> = self
            .code
            .iter()
            .filter_map(|i| match i {
                Instruction::JumpUnless(e, _) => Some(*e),
                _ => None,
            })
            .filter(|&e| self.exprs.get(e as usize).is_some_and(|e| reads_fixed(e, &fixed)))
            .collect();
        guards.sort_unstable();
        guards.dedup();
        guards
    }

    /// Marks every expression that reads a sensitive value (a slot of [`ScriptCode::tainted_slots`])
    /// as sensitive, so transcripts and logs mask a `let` computed from a sensitive input where
    /// it is spoken, like the input itself. The slots keep their declared `sensitive`.
    pub fn mark_sensitive_exprs(&mut self) {
        let tainted = self.tainted_slots();
        for e in &mut self.exprs {
            e.sensitive |=
                e.ops.iter().any(|op| matches!(op, ExprOp::Load(s) if tainted.get(*s as usize) == Some(&true)));
        }
    }
}

/// A `.callc` file: the magic, the format version, the header's length, the header, then the
/// payload (`Program::to_bytes`; the `callc` fuzz target re-seals mutated payloads with it).
pub fn frame(header: &Header, payload: &[u8]) -> Vec<u8> {
    let header = postcard::to_stdvec(header).expect("a header serialises");
    let mut out = Vec::with_capacity(16 + header.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_stay_small() {
        // Two words: a tag and the widest payload (a u64, or an id plus a jump target).
        assert_eq!(std::mem::size_of::<Instruction>(), 16);
    }

    /// A let computed from a sensitive input is sensitive, through other lets and whether it
    /// gets the value at its start or from a `set`; one computed from plain values is not.
    #[test]
    fn lets_computed_from_sensitive_values_are_sensitive() {
        let text = r#"use std.zh.common
script s {
  purpose service
  input { tail: text sensitive, name: text }
  let first: text = "尾号" + tail
  let copy: text = ""
  let greeting: text = "您好" + name
  outcomes { done }
  opening {
    say "本次通话将被录音。{{greeting}}"
    ask "请问您是本人吗?" {
      on yes => { verify; set copy = first; say "{{copy}}"; hangup done }
      on _ => hangup done
    }
  }
  objection { on emotion angry, complaint => transfer "senior" }
}
"#;
        let program = lowered(text);
        let code = &program.scripts[0];
        let names: Vec<&str> = code.slots.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["tail", "name", "first", "copy", "greeting"]);
        assert_eq!(code.tainted_slots(), [true, false, true, true, false]);
        // Declared sensitivity is kept apart (CS002 names a declared sensitive let as such).
        let declared: Vec<bool> = code.slots.iter().map(|s| s.sensitive).collect();
        assert_eq!(declared, [true, false, false, false, false]);
        let spoken: Vec<bool> = code
            .prompts
            .iter()
            .flat_map(|p| &p.segments)
            .filter_map(|seg| match seg {
                PromptSegment::Value { expr, .. } => Some(code.exprs[*expr as usize].sensitive),
                PromptSegment::Text(_) => None,
            })
            .collect();
        assert_eq!(spoken, [false, true], "{{{{greeting}}}} is plain, {{{{copy}}}} sensitive");
    }

    /// `text` checked (without errors) and lowered.
    fn lowered(text: &str) -> Program {
        let checked = crate::check::check_source("s.call", text);
        assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
        crate::lower::lower(&checked, checked.files[0].id)
    }

    /// Only conditions over values no call changes, and not of the call's moment, are fixed.
    #[test]
    fn fixed_guards_read_only_what_no_call_changes() {
        let text = r#"use std.zh.common
script s {
  purpose service
  input { amount: money, days: int, vip: bool = false }
  let big: bool = amount > 1000
  let late: bool = days > 30
  let today_big: bool = big and hour > 9
  let said: text = ""
  outcomes { done }
  opening {
    say "本次通话将被录音。"
    set late = false
    if big { say "大额" }
    if vip or days > 3 { say "提醒" }
    if late { say "逾期" }
    if today_big { say "今天" }
    if attempt > 1 { say "再次" }
    ask "请问您怎么称呼?" capture said {
      on captured => { if said == "王" { say "好" }; hangup done }
      on _ => hangup done
    }
  }
  objection { on emotion angry, complaint => transfer "senior" }
}
"#;
        let program = lowered(text);
        let code = &program.scripts[0];
        let conditions: Vec<&str> = code
            .fixed_guards()
            .iter()
            .map(|&e| {
                let span = code.exprs[e as usize].span.span;
                &text[span.start as usize..span.end as usize]
            })
            .collect();
        assert_eq!(conditions, ["big", "vip or days > 3"]);
    }
}

// ---- the `.callc` file --------------------------------------------------------------------

/// First bytes of a `.callc` file.
pub const MAGIC: &[u8; 8] = b"CALLSCPT";
/// Bumped whenever the serialised shape of [`Program`] changes.
pub const FORMAT_VERSION: u32 = 7;

/// What stands before the program in a `.callc` file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub compiler_version: String,
    /// SHA-256 over every source file (name and text, in order), hex.
    pub sources_sha256: String,
    /// SHA-256 of the serialised program that follows, to detect corruption.
    pub payload_sha256: [u8; 32],
}

/// Why a `.callc` file could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    NotBytecode,
    OtherFormat { found: u32 },
    Corrupted(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotBytecode => {
                write!(f, "this is not a CallScript bytecode file (build one with `callscript build`)")
            }
            LoadError::OtherFormat { found } => write!(
                f,
                "this file has bytecode format {found}, but this callscript reads format {FORMAT_VERSION}; rebuild it with `callscript build`"
            ),
            LoadError::Corrupted(why) => {
                write!(f, "this bytecode file is damaged ({why}); rebuild it with `callscript build`")
            }
        }
    }
}

impl std::error::Error for LoadError {}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Program {
    /// SHA-256 over the sources the program was compiled from, hex (stored with every call
    /// so a report can name the exact script version).
    pub fn sources_sha256(&self) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for f in &self.files {
            hasher.update((f.name.len() as u64).to_le_bytes());
            hasher.update(f.name.as_bytes());
            hasher.update((f.text.len() as u64).to_le_bytes());
            hasher.update(f.text.as_bytes());
        }
        hex(&hasher.finalize())
    }

    /// SHA-256 over the files this program holds (its root file and every file the root
    /// imports, directly or not), each as name and text, in name order, hex: unlike
    /// [`Program::sources_sha256`], the same whatever other files were checked with it, so
    /// each script of an A/B campaign has a hash of its own.
    pub fn own_sources_sha256(&self) -> String {
        use sha2::Digest;
        let mut files: Vec<&SourceFile> = self.files.iter().filter(|f| !f.name.is_empty()).collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut hasher = sha2::Sha256::new();
        for f in files {
            hasher.update((f.name.len() as u64).to_le_bytes());
            hasher.update(f.name.as_bytes());
            hasher.update((f.text.len() as u64).to_le_bytes());
            hasher.update(f.text.as_bytes());
        }
        hex(&hasher.finalize())
    }

    /// Serialises the program as a versioned `.callc` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = postcard::to_stdvec(self).expect("a program serialises");
        let header = Header {
            compiler_version: env!("CARGO_PKG_VERSION").to_string(),
            sources_sha256: self.sources_sha256(),
            payload_sha256: sha256(&payload),
        };
        frame(&header, &payload)
    }

    /// Loads a `.callc` file; any damage is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<(Header, Program), LoadError> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(LoadError::NotBytecode);
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(LoadError::OtherFormat { found: version });
        }
        let header_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
        let header_bytes =
            bytes.get(16..16 + header_len).ok_or_else(|| LoadError::Corrupted("the file is cut short".into()))?;
        let header: Header =
            postcard::from_bytes(header_bytes).map_err(|_| LoadError::Corrupted("its header is unreadable".into()))?;
        let payload = &bytes[16 + header_len..];
        if sha256(payload) != header.payload_sha256 {
            return Err(LoadError::Corrupted("its checksum does not match".into()));
        }
        let program: Program =
            postcard::from_bytes(payload).map_err(|_| LoadError::Corrupted("its program is unreadable".into()))?;
        program.validate().map_err(LoadError::Corrupted)?;
        Ok((header, program))
    }

    /// Checks that every index in the program points inside its table, so that a VM running
    /// a loaded program never indexes out of bounds.
    pub fn validate(&self) -> Result<(), String> {
        let intents = self.intents.len() as u32;
        for s in &self.scripts {
            let n = s.code.len() as u32;
            let bad = |what: &str| Err(format!("script `{}` refers to a missing {what}", s.name));
            if s.spans.len() != s.code.len() {
                return bad("source span");
            }
            for i in &s.code {
                let ok = match *i {
                    Instruction::EnterStep(x) => (x as usize) < s.steps.len(),
                    Instruction::Say(p) => (p as usize) < s.prompts.len(),
                    Instruction::Ask(a) => (a as usize) < s.asks.len(),
                    Instruction::Retry(p) => p.is_none_or(|p| (p as usize) < s.prompts.len()),
                    Instruction::Jump(t) => t < n,
                    Instruction::JumpUnless(e, t) => (e as usize) < s.exprs.len() && t <= n,
                    Instruction::Set(slot, e) => (slot as usize) < s.slots.len() && (e as usize) < s.exprs.len(),
                    Instruction::Tag(t) => (t as usize) < s.texts.len(),
                    Instruction::Transfer(t, o) => {
                        (t as usize) < s.texts.len() && o.is_none_or(|o| (o as usize) < s.outcomes.len())
                    }
                    Instruction::Hangup(o) => (o as usize) < s.outcomes.len(),
                    Instruction::Call(f) => s.flows.get(f as usize).is_some_and(|f| f.pc < n),
                    Instruction::CallbackAt(d, t) => {
                        [d, t].iter().all(|&e| e == NO_EXPR || (e as usize) < s.exprs.len())
                    }
                    Instruction::Return | Instruction::Listen(_) => true,
                    Instruction::Verify | Instruction::Callback(_) | Instruction::Optout | Instruction::Resume => true,
                    Instruction::Do(d) => s.dos.get(d as usize).is_some_and(|d| {
                        d.ok <= n
                            && d.failed <= n
                            && s.actions
                                .get(d.action as usize)
                                .is_some_and(|a| a.outputs.iter().all(|(_, _, slot)| (*slot as usize) < s.slots.len()))
                            && d.args.iter().all(|(_, e)| (*e as usize) < s.exprs.len())
                    }),
                    Instruction::Sms(p) => (p as usize) < s.prompts.len(),
                    Instruction::Handover(h) => s
                        .handovers
                        .get(h as usize)
                        .is_some_and(|data| data.iter().all(|(_, e)| (*e as usize) < s.exprs.len())),
                };
                if !ok {
                    return bad("table entry");
                }
            }
            let branch_ok = |b: &BranchCode| {
                b.pc < n
                    && b.guard.is_none_or(|g| (g as usize) < s.exprs.len())
                    && b.patterns.iter().all(|p| !matches!(p, PatternCode::Intent(i) if *i >= intents))
            };
            let capture_ok = |a: &AskCode| a.capture.is_none_or(|c| (c.slot as usize) < s.slots.len());
            if !s
                .asks
                .iter()
                .all(|a| (a.prompt as usize) < s.prompts.len() && a.branches.iter().all(branch_ok) && capture_ok(a))
                || !s.handlers.iter().all(branch_ok)
            {
                return bad("branch");
            }
            let expr_ok = |e: &ExprCode| {
                e.ops.iter().all(|op| !matches!(op, ExprOp::Load(slot) if *slot as usize >= s.slots.len()))
            };
            if !s.exprs.iter().all(expr_ok)
                || !s.prompts.iter().all(|p| {
                    p.segments.iter().all(|seg| match seg {
                        PromptSegment::Value { expr, .. } => (*expr as usize) < s.exprs.len(),
                        PromptSegment::Text(_) => true,
                    })
                })
                || !s.slots.iter().all(|d| d.init.is_none_or(|e| (e as usize) < s.exprs.len()))
                || !s.steps.iter().all(|st| st.pc < n)
            {
                return bad("expression");
            }
        }
        Ok(())
    }
}
