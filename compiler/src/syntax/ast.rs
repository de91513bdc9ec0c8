//! The syntax tree of a `.call` file. Every node has a span; nodes that failed to parse are
//! kept as `Error` variants so that later phases, the formatter and the LSP can still work.

use crate::span::Span;
use crate::value::{Date, Money, Time};

/// A name as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A plain string literal with escapes resolved; `span` includes the quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
    /// Byte offsets in the file of each character of `value` (one per `char`), so that an error
    /// inside the string (a phrase pattern, a regex) points at the right place.
    pub char_offsets: Vec<u32>,
}

impl StrLit {
    /// The file span of the bytes `range` of `value`.
    pub fn inner_span(&self, start: usize, len: usize) -> Span {
        let offset_of = |byte: usize| -> u32 {
            let index = self.value[..byte.min(self.value.len())].chars().count();
            self.char_offsets.get(index).copied().unwrap_or(self.span.end.saturating_sub(1))
        };
        let from = offset_of(start);
        let to = if len == 0 { from } else { offset_of(start + len) };
        Span { start: from, end: to.max(from) }
    }
}

/// A prompt: text with `{{ expr | filter }}` interpolations.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub segments: Vec<Segment>,
    pub span: Span,
}

impl Prompt {
    /// The literal text of the prompt with interpolations left out.
    pub fn static_text(&self) -> String {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Text { text, .. } => Some(text.as_str()),
                Segment::Interp { .. } => None,
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Text {
        text: String,
        span: Span,
    },
    /// `expr` boxed: a prompt holds more text than values.
    Interp {
        expr: Box<Expr>,
        filter: Option<Ident>,
        span: Span,
    },
}

/// `@allow(CODE, "reason")` before an item, statement, branch, step or section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    pub code: Option<Ident>,
    pub reason: Option<StrLit>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
    /// Every `//` comment, for the formatter.
    pub comments: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use(Use),
    Script(Script),
    Intent(Intent),
    Outcomes(Outcomes),
    Test(Test),
    /// `flow NAME ["title"] (PARAMS) { … }`: a sub-flow that `call` runs (§12).
    Flow(Flow),
    /// `handlers NAME { on … }`: a set of objection handlers that `include` adds (§12).
    Handlers(HandlerSet),
    /// `action NAME ["title"] { input { … } output { … } }` (§13).
    Action(Action),
    /// `examples "file.csv"`: labelled utterances (`text,intent` rows) for learned intents (§14).
    Examples(ExamplesFile),
}

/// `examples "file.csv"` (§14): a path relative to the file.
#[derive(Clone, Debug, PartialEq)]
pub struct ExamplesFile {
    pub path: StrLit,
    pub span: Span,
}

/// `flow NAME ["title"] (PARAMS) { lets; statements or steps }` (§12, §16.4).
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub allows: Vec<Allow>,
    pub name: Ident,
    pub title: Option<StrLit>,
    pub params: Vec<Param>,
    /// The flow's own values, fresh at every call.
    pub lets: Vec<Let>,
    /// Statements written directly in the flow (it is then one step named after the flow).
    pub body: Vec<Stmt>,
    pub steps: Vec<Step>,
    pub span: Span,
}

/// A flow's parameter: typed, by value, read-only.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeRef,
    pub sensitive: bool,
    pub span: Span,
}

/// `handlers NAME { on … }` (§12).
#[derive(Clone, Debug, PartialEq)]
pub struct HandlerSet {
    pub name: Ident,
    pub handlers: Vec<Branch>,
    pub span: Span,
}

/// `include NAME` in `objection`: the set's handlers stand at this place of the order.
#[derive(Clone, Debug, PartialEq)]
pub struct Include {
    pub name: Ident,
    /// How many of the section's own handlers come before it.
    pub at: usize,
    pub span: Span,
}

/// An external call the script may make mid-call (§13): typed inputs it is sent and typed
/// outputs it answers with.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub name: Ident,
    pub title: Option<StrLit>,
    /// `input { … }` and `output { … }` blocks as written (either may repeat or be missing).
    pub lists: Vec<FieldList>,
    pub span: Span,
}

impl Action {
    pub fn inputs(&self) -> impl Iterator<Item = &Field> {
        self.lists.iter().filter(|l| !l.output).flat_map(|l| &l.fields)
    }

    pub fn outputs(&self) -> impl Iterator<Item = &Field> {
        self.lists.iter().filter(|l| l.output).flat_map(|l| &l.fields)
    }
}

/// `input { … }` or `output { … }` of an action.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldList {
    pub output: bool,
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `NAME: TYPE` in an action's `input` or `output`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: Ident,
    pub ty: TypeRef,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub target: UseTarget,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum UseTarget {
    /// `use std.zh.common`
    Module(Vec<Ident>),
    /// `use "./shared.call"`
    File(StrLit),
}

impl UseTarget {
    pub fn display(&self) -> String {
        match self {
            UseTarget::Module(parts) => parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("."),
            UseTarget::File(s) => format!("\"{}\"", s.value),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub allows: Vec<Allow>,
    pub name: Ident,
    pub title: Option<StrLit>,
    pub members: Vec<Member>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    Setting(Setting),
    Inputs(Inputs),
    Let(Let),
    Outcomes(Outcomes),
    Intent(Intent),
    Section(Section),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub name: Ident,
    pub value: SettingValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    Word(Ident),
    Str(StrLit),
    Duration(DurationLit),
    /// A plain number (`confidence 0.6`, §14).
    Number {
        value: f64,
        span: Span,
    },
    Missing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    pub items: Vec<Input>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: Ident,
    pub ty: TypeRef,
    pub sensitive: bool,
    pub bounds: Bounds,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `min X` and `max Y` after the type of a number (§11): the values it may take. A captured
/// value outside them is not a candidate, and CS008 estimates a prompt that reads the value
/// at these bounds rather than at the type's extremes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bounds {
    pub min: Option<Expr>,
    pub max: Option<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Type {
    Text,
    Int,
    Money,
    Bool,
    Date,
    /// A clock time (§11).
    Time,
}

impl Type {
    pub fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "text" => Type::Text,
            "int" => Type::Int,
            "money" => Type::Money,
            "bool" => Type::Bool,
            "date" => Type::Date,
            "time" => Type::Time,
            _ => return None,
        })
    }

    /// The type with its article, for messages: "an `int`", "a `text`".
    pub fn a(self) -> String {
        format!("{} `{}`", crate::diagnostic::article(self.name()), self.name())
    }

    pub fn name(self) -> &'static str {
        match self {
            Type::Text => "text",
            Type::Int => "int",
            Type::Money => "money",
            Type::Bool => "bool",
            Type::Date => "date",
            Type::Time => "time",
        }
    }
}

/// A written type; `ty` is None when the name is not a type (already reported).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeRef {
    pub ty: Option<Type>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub ty: TypeRef,
    /// Masked in transcripts, logs, reports and the store, like a sensitive input (§11).
    pub sensitive: bool,
    pub bounds: Bounds,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcomes {
    pub items: Vec<OutcomeDef>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeDef {
    pub name: Ident,
    /// `promised "承诺还款" goal`: the title reports show for it.
    pub title: Option<StrLit>,
    pub goal: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub allows: Vec<Allow>,
    pub name: Ident,
    pub label: Option<StrLit>,
    pub clauses: Vec<IntentClause>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClauseKind {
    Phrases,
    Dtmf,
    Regex,
    /// Real utterances the learned model is trained from (§14), not patterns.
    Examples,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IntentClause {
    pub kind: ClauseKind,
    pub values: Vec<StrLit>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum SectionKind {
    Opening,
    Core,
    Closing,
    Objection,
}

impl SectionKind {
    pub fn from_name(name: &str) -> Option<SectionKind> {
        Some(match name {
            "opening" => SectionKind::Opening,
            "core" => SectionKind::Core,
            "closing" => SectionKind::Closing,
            "objection" => SectionKind::Objection,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Opening => "opening",
            SectionKind::Core => "core",
            SectionKind::Closing => "closing",
            SectionKind::Objection => "objection",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub allows: Vec<Allow>,
    pub kind: SectionKind,
    pub name_span: Span,
    /// Statements written directly in the section (it is then one step named after it).
    pub body: Vec<Stmt>,
    pub steps: Vec<Step>,
    /// `on …` handlers (only meaningful in `objection`).
    pub handlers: Vec<Branch>,
    /// `include NAME` of handler sets, with their places among `handlers` (§12).
    pub includes: Vec<Include>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub allows: Vec<Allow>,
    pub name: Ident,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    /// Written with braces (a branch body may be one bare statement).
    pub braced: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub allows: Vec<Allow>,
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Say {
        prompt: Prompt,
        bargein_off: bool,
    },
    /// Boxed: an ask is the largest statement, and the parser and every pass recurse
    /// through nested asks holding statements on the stack (MAX_DEPTH levels on 2 MiB).
    Ask(Box<Ask>),
    Retry(Option<Prompt>),
    Resume,
    Goto(Target),
    /// Boxed, like the rare large fields below: a statement is as large as its largest kind,
    /// and a large script holds millions of them.
    If(Box<If>),
    Verify,
    Tag(StrLit),
    Callback(DurationLit),
    Optout,
    Transfer {
        queue: Box<StrLit>,
        outcome: Option<Ident>,
        /// `with { KEY: EXPR, … }`: data handed to the agent (§13).
        with: Vec<(Ident, Expr)>,
    },
    Hangup(Option<Ident>),
    /// `do NAME(ARG = EXPR, …) [timeout D] { on ok => …; on failed => … }` (§13). Boxed like
    /// an ask: it nests statements.
    Do(Box<Do>),
    /// `sms "TEXT"`: a text message to the customer after the current turn (§13).
    Sms(Prompt),
    Set {
        name: Ident,
        value: Box<Expr>,
    },
    /// `call NAME(ARGS)`: runs a flow (§12).
    Call {
        flow: Ident,
        args: Vec<Expr>,
    },
    /// `return`: ends a flow, back after its `call`.
    Return,
    /// `listen`: listen again to the ask without replaying it (§16.5).
    Listen,
    /// `callback at TIME` / `callback on DATE [at TIME]` (§12).
    CallbackAt {
        date: Option<Box<Expr>>,
        time: Option<Box<Expr>>,
    },
    /// A statement that failed to parse (already reported).
    Error,
}

/// Calls `f` on every statement of `stmts` and every statement nested in them (branches of
/// asks and `do`s, arms of `if`s), outer ones first.
pub fn visit_stmts<'a>(stmts: &'a [Stmt], f: &mut dyn FnMut(&'a Stmt)) {
    for stmt in stmts {
        f(stmt);
        match &stmt.kind {
            StmtKind::Ask(ask) => ask.branches.iter().for_each(|b| visit_stmts(&b.body.stmts, f)),
            StmtKind::Do(d) => d.branches.iter().for_each(|b| visit_stmts(&b.body.stmts, f)),
            StmtKind::If(i) => {
                visit_stmts(&i.then.stmts, f);
                match &i.otherwise {
                    Some(Else::Block(b)) => visit_stmts(&b.stmts, f),
                    Some(Else::If(s)) => visit_stmts(std::slice::from_ref(s), f),
                    None => {}
                }
            }
            _ => {}
        }
    }
}

impl Expr {
    /// Calls `f` on every name the expression reads.
    pub fn names<'a>(&'a self, f: &mut dyn FnMut(&'a Ident)) {
        match &self.kind {
            ExprKind::Name(n) => f(n),
            ExprKind::Unary(_, e) | ExprKind::Paren(e) => e.names(f),
            ExprKind::Binary(_, l, r) => {
                l.names(f);
                r.names(f);
            }
            ExprKind::Call(_, args) => args.iter().for_each(|a| a.names(f)),
            _ => {}
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ask {
    pub prompt: Prompt,
    /// `capture NAME [digits N | digits M..N]` (§11).
    pub capture: Option<Capture>,
    pub timeout: Option<DurationLit>,
    pub retries: Option<IntLit>,
    pub bargein_off: bool,
    pub branches: Vec<Branch>,
    /// Span of `ask "…"` and its options, for labels.
    pub head: Span,
}

/// A call of an action (§13). `branches` are `on ok` and `on failed` (the checker says which
/// are missing or extra).
#[derive(Clone, Debug, PartialEq)]
pub struct Do {
    pub action: Ident,
    pub args: Vec<(Ident, Expr)>,
    pub timeout: Option<DurationLit>,
    pub branches: Vec<Branch>,
    /// Span of `do NAME(…) [timeout D]`, for labels.
    pub head: Span,
}

/// `capture NAME` on an ask: the customer's answer is read into the `let` NAME (§11).
#[derive(Clone, Debug, PartialEq)]
pub struct Capture {
    pub name: Ident,
    /// `digits N` or `digits M..N`: a digit string of that length, spoken or keyed.
    pub digits: Option<DigitsLength>,
    /// `capture NAME` and its `digits`.
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigitsLength {
    pub min: IntLit,
    /// The upper end of `M..N`; None for `digits N`.
    pub max: Option<IntLit>,
    pub span: Span,
}

impl DigitsLength {
    /// The lengths it allows, as written (the checker refuses empty or absurd ranges).
    pub fn range(&self) -> (i64, i64) {
        (self.min.value, self.max.map_or(self.min.value, |m| m.value))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct If {
    pub cond: Expr,
    pub then: Block,
    pub otherwise: Option<Else>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Else {
    Block(Block),
    If(Box<Stmt>),
}

/// `on PATTERNS [limit N] [if EXPR] => BODY`: an ask branch or an objection handler.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    pub allows: Vec<Allow>,
    pub patterns: Vec<Pattern>,
    pub limit: Option<IntLit>,
    /// Boxed: most branches have none, and an ask holds several branches.
    pub guard: Option<Box<Expr>>,
    pub body: Block,
    /// Span of `on PATTERNS … =>`, for labels.
    pub head: Span,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    pub kind: PatternKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PatternKind {
    Intent(Ident),
    Dtmf(StrLit),
    Emotion(Ident),
    Silence,
    Unknown,
    Any,
    Exhausted,
    /// `captured`: the answer holds a value for the ask's `capture` (§11).
    Captured,
}

/// A goto target: `name` or `section.step`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub first: Ident,
    pub second: Option<Ident>,
    pub span: Span,
}

impl Target {
    pub fn display(&self) -> String {
        match &self.second {
            Some(s) => format!("{}.{}", self.first.name, s.name),
            None => self.first.name.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationLit {
    pub millis: u64,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntLit {
    pub value: i64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Money(Money),
    Str(String),
    Bool(bool),
    Date(Date),
    Time(Time),
    Name(Ident),
    /// `NAME.FIELD`: an output of an action, after its `ok` branch (§13). The field is boxed:
    /// an expression is as large as its largest kind.
    Field(Ident, Box<Ident>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Paren(Box<Expr>),
    /// `NAME(ARG, …)`: a function of a campaign's segment (`quantile(amount, 4)`, CAMPAIGN.md
    /// §8); a script has none (E211).
    Call(Ident, Vec<Expr>),
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
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
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub name: StrLit,
    pub script: Ident,
    pub body: Vec<TestStmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestStmt {
    pub kind: TestStmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestStmtKind {
    Input(Vec<(Ident, Expr)>),
    Reply(Reply),
    /// The customer hangs up.
    Hangup,
    Expect(Expect),
    Attempt(IntLit),
    Hour(IntLit),
    /// `today 2026-11-24`: the customer's local date during the call (§11).
    Today(Date, Span),
    /// `mock NAME ok { FIELD: LITERAL, … }` (Some) or `mock NAME failed` (None) (§13).
    Mock {
        action: Ident,
        ok: Option<Vec<(Ident, Expr)>>,
    },
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Text(StrLit),
    Dtmf(StrLit),
    Silence,
    Emotion(Ident, StrLit),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    Say(StrLit),
    Step(Target),
    Tag(StrLit),
    /// `expect transfer "q" [with KEY = LITERAL]`.
    Transfer(StrLit, Option<(Ident, Expr)>),
    Hangup(Ident),
    /// `expect sms "substring"`: a text message sent in the current segment (§13).
    Sms(StrLit),
    /// `expect value NAME = LITERAL`: a value of the script holds this (§11, §16.3).
    Value {
        name: Ident,
        value: Expr,
    },
    /// `expect optout`: an opt-out was recorded since the last reply.
    Optout,
    /// `expect verify`: the identity was verified since the last reply.
    Verify,
    /// `expect no say "substring"`: no prompt holding it played in the current segment (§16.5).
    NoSay(StrLit),
}

/// Words with a fixed meaning; they cannot name a script, step, input, value, intent or
/// outcome (`optout` may still name an intent: §9.3).
pub const RESERVED: &[&str] = &[
    "use",
    "script",
    "input",
    "let",
    "set",
    "outcomes",
    "intent",
    "phrases",
    "regex",
    "step",
    "say",
    "ask",
    "on",
    "limit",
    "if",
    "else",
    "retry",
    "resume",
    "goto",
    "verify",
    "tag",
    "callback",
    "transfer",
    "hangup",
    "test",
    "reply",
    "expect",
    "silence",
    "emotion",
    "unknown",
    "exhausted",
    "dtmf",
    "and",
    "or",
    "not",
    "true",
    "false",
    "attempt",
    "hour",
    "opening",
    "core",
    "closing",
    "objection",
    "optout",
    "capture",
    "captured",
    "today",
    "weekday",
    "flow",
    "call",
    "return",
    "handlers",
    "include",
    "listen",
    "action",
    "do",
    "sms",
];

/// Whether `name` is one of the [`RESERVED`] words: a set, as every declared name is looked
/// up (a step's among them; the list's string compares were 2% of a large script's check).
pub fn is_reserved(name: &str) -> bool {
    static SET: std::sync::OnceLock<rustc_hash::FxHashSet<&str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| RESERVED.iter().copied().collect()).contains(name)
}
