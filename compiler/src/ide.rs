//! Editor queries on a checked compilation: what name stands at an offset, where it is defined
//! and used, what to show on hover, what may be typed next, the outline of a file, and the
//! places a rename changes. The LSP (`src/lsp.rs`) turns these into protocol messages; this
//! module is pure like the rest of the compiler (byte offsets in, spans and text out).

use std::collections::HashMap;

use crate::check::scope::{self, ScriptScope, ValueKind};
use crate::check::{Checked, ParsedFile};
use crate::filters::Locale;
use crate::span::{FileSpan, SourceId, Span};
use crate::syntax::ast::*;
use crate::syntax::token::Token;
use crate::value::{Date, Money, Time, Value};

/// What a name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Step,
    Section,
    Intent,
    Outcome,
    /// An input, a `let` value or a built-in value (`attempt`, `hour`, `today`, `weekday`).
    Value,
    Filter,
    Script,
    /// The target of a `use`.
    Import,
    /// The branch pattern `captured` (§11): what its ask captures.
    Captured,
    /// A `time` literal (`15:30`), with its reading.
    Time,
    /// A flow (§12): its definition and the `call NAME(…)` that run it.
    Flow,
    /// A handler set (§12): its definition and the `include NAME` that add it.
    Handlers,
    /// An action (§13): its definition, the `do NAME(…)` that call it, the `NAME.FIELD` that
    /// read its outputs and the `mock NAME` of tests.
    Action,
    /// An input or an output of an action: its declaration, a `do`'s `ARG =`, the FIELD of
    /// `NAME.FIELD` and of a mock's `{ FIELD: … }`.
    Field,
}

/// A name written in the file, resolved.
#[derive(Clone, Debug)]
pub struct Occurrence {
    pub kind: Kind,
    pub name: String,
    pub span: Span,
    /// Where the name is defined; None for built-in and unknown names.
    pub def: Option<FileSpan>,
    /// This occurrence is the definition itself.
    pub is_def: bool,
    /// Markdown for a hover.
    pub hover: String,
}

/// Every resolved name of one file.
pub struct FileIndex {
    pub file: SourceId,
    pub occurrences: Vec<Occurrence>,
}

impl FileIndex {
    /// The name at `offset` (a cursor just after a name counts as on it).
    pub fn at(&self, offset: u32) -> Option<&Occurrence> {
        self.occurrences.iter().filter(|o| o.span.start <= offset && offset <= o.span.end).min_by_key(|o| o.span.len())
    }

    /// Where the name at `offset` is defined.
    pub fn definition(&self, offset: u32) -> Option<FileSpan> {
        self.at(offset)?.def
    }

    /// Every place in this file naming the same thing as the name at `offset`, and the
    /// definition (also in another file) when `with_definition`.
    pub fn references(&self, offset: u32, with_definition: bool) -> Vec<FileSpan> {
        let Some(found) = self.at(offset) else { return Vec::new() };
        let Some(def) = found.def else {
            return vec![FileSpan::new(self.file, found.span)];
        };
        let mut out: Vec<FileSpan> = self
            .occurrences
            .iter()
            .filter(|o| o.def == Some(def) && o.kind == found.kind && (with_definition || !o.is_def))
            .map(|o| FileSpan::new(self.file, o.span))
            .collect();
        if with_definition && !out.contains(&def) && found.kind != Kind::Import {
            out.insert(0, def);
        }
        out.sort();
        out.dedup();
        out
    }

    /// The places to change when renaming the step, intent, flow, handler set or action at
    /// `offset` to `new_name` (in this file, and the definition when it is in another).
    pub fn rename(&self, checked: &Checked, offset: u32, new_name: &str) -> Result<Vec<FileSpan>, String> {
        let found = self.at(offset).ok_or("there is no name here")?;
        let what = match found.kind {
            Kind::Step => "step",
            Kind::Intent => "intent",
            Kind::Flow => "flow",
            Kind::Handlers => "handler set",
            Kind::Action => "action",
            _ => return Err("only a step, an intent, a flow, a handler set or an action can be renamed".into()),
        };
        let def = found.def.ok_or(format!("this {what} is not defined anywhere"))?;
        if crate::stdlib::module(&checked.sources.get(def.file).name).is_some() {
            return Err(format!("`{}` comes from the standard library and cannot be renamed", found.name));
        }
        if !is_identifier(new_name) {
            return Err(format!("`{new_name}` is not a name"));
        }
        if is_reserved(new_name) && !(found.kind == Kind::Intent && new_name == "optout") {
            return Err(format!("`{new_name}` is a reserved word"));
        }
        if found.kind == Kind::Step && SectionKind::from_name(new_name).is_some() {
            return Err(format!("a step cannot be named like the section `{new_name}`"));
        }
        Ok(self.references(offset, true))
    }
}

/// Whether `text` is one name as the lexer reads it.
pub fn is_identifier(text: &str) -> bool {
    let lexed = crate::syntax::lexer::lex(text, 0);
    lexed.len() == 2 && lexed[0].token == crate::syntax::token::Token::Ident && lexed[0].span.len() == text.len()
}

/// Resolves every name of `file`.
pub fn index(checked: &Checked, file: SourceId) -> FileIndex {
    let mut out = FileIndex { file, occurrences: Vec::new() };
    let Some(parsed) = checked.file(file) else { return out };
    let mut scratch = Vec::new();
    let base = scope::file_scope(parsed, &checked.files, &mut scratch);
    let mut scripts: HashMap<&str, (ScriptScope, Captures)> = HashMap::new();
    let mut uses = 0;
    for item in &parsed.ast.items {
        match item {
            Item::Use(u) => {
                let target = parsed.imports.get(uses).copied().flatten();
                uses += 1;
                let span = match &u.target {
                    UseTarget::Module(parts) => parts[0].span.to(parts[parts.len() - 1].span),
                    UseTarget::File(s) => s.span,
                };
                let hover = match target.and_then(|t| checked.file(t)) {
                    Some(imported) => import_hover(&u.target.display(), imported),
                    None => format!("`{}` could not be imported", u.target.display()),
                };
                out.occurrences.push(Occurrence {
                    kind: Kind::Import,
                    name: u.target.display(),
                    span,
                    def: target.map(|t| FileSpan::new(t, Span::default())),
                    is_def: false,
                    hover,
                });
            }
            Item::Intent(def) => {
                out.occurrences.push(def_occurrence(Kind::Intent, &def.name, file, intent_hover(def, None)));
            }
            Item::Outcomes(block) => {
                for o in &block.items {
                    out.occurrences.push(def_occurrence(
                        Kind::Outcome,
                        &o.name,
                        file,
                        outcome_hover(&o.name.name, o.title.as_ref().map(|t| t.value.as_str()), o.goal),
                    ));
                }
            }
            Item::Script(script) => {
                let scope = scope::script_scope(parsed, &checked.files, script, &base, &mut scratch);
                let captures = captures(Body::Script(script));
                let mut w = Walker { out: &mut out.occurrences, scope: &scope, captures: &captures, checked };
                w.script(script);
                scripts.entry(script.name.name.as_str()).or_insert((scope, captures));
            }
            Item::Flow(flow) => {
                let scope = scope::unit_scope(parsed, &checked.files, &base, scope::Unit::Flow(flow), &mut scratch);
                let captures = captures(Body::Flow(flow));
                let mut w = Walker { out: &mut out.occurrences, scope: &scope, captures: &captures, checked };
                w.flow(flow);
            }
            Item::Handlers(set) => {
                let scope = scope::unit_scope(parsed, &checked.files, &base, scope::Unit::Set(set), &mut scratch);
                let captures = Captures::new();
                let mut w = Walker { out: &mut out.occurrences, scope: &scope, captures: &captures, checked };
                w.handler_set(set);
            }
            Item::Action(def) => {
                out.occurrences.push(def_occurrence(Kind::Action, &def.name, file, action_hover(checked, def, file)));
                for list in &def.lists {
                    for field in &list.fields {
                        let hover = field_hover(def, field, list.output, false);
                        out.occurrences.push(def_occurrence(Kind::Field, &field.name, file, hover));
                    }
                }
            }
            Item::Test(_) | Item::Examples(_) => {}
        }
    }
    for item in &parsed.ast.items {
        if let Item::Test(test) = item {
            let scope = scripts.get(test.script.name.as_str());
            out.occurrences.push(Occurrence {
                kind: Kind::Script,
                name: test.script.name.clone(),
                span: test.script.span,
                def: scope.map(|(s, _)| FileSpan::new(file, s.script.name.span)),
                is_def: false,
                hover: format!("test of script `{}`", test.script.name),
            });
            if let Some((scope, captures)) = scope {
                let mut w = Walker { out: &mut out.occurrences, scope, captures, checked };
                w.test(test);
            }
        }
    }
    out
}

/// A flow's parameters as written: `reason: text, tail: text sensitive`.
fn signature(flow: &Flow) -> String {
    let params: Vec<String> = flow
        .params
        .iter()
        .map(|p| {
            let ty = p.ty.ty.map_or("?", Type::name);
            format!("{}: {ty}{}", p.name.name, if p.sensitive { " sensitive" } else { "" })
        })
        .collect();
    params.join(", ")
}

/// An action's inputs or outputs as written: `account_tail: text, due: date`.
fn fields_signature<'a>(fields: impl Iterator<Item = &'a Field>) -> String {
    let fields: Vec<String> = fields.map(|f| format!("{}: {}", f.name.name, f.ty.ty.map_or("?", Type::name))).collect();
    fields.join(", ")
}

/// The file that declares `def` (the action a scope holds is one of the parsed files').
fn action_file(checked: &Checked, def: &Action) -> Option<SourceId> {
    checked
        .files
        .iter()
        .find_map(|f| f.ast.items.iter().any(|i| matches!(i, Item::Action(a) if std::ptr::eq(a, def))).then_some(f.id))
}

/// An action as declared (title, inputs and outputs with their types), how a `do` calls it,
/// and the file it comes from when that is not `here`.
fn action_hover(checked: &Checked, def: &Action, here: SourceId) -> String {
    let name = &def.name.name;
    let mut head = format!("action {name}");
    if let Some(title) = &def.title {
        head.push_str(&format!(" \"{}\"", title.value));
    }
    head.push_str(" {");
    for (word, fields) in [("input", fields_signature(def.inputs())), ("output", fields_signature(def.outputs()))] {
        if !fields.is_empty() {
            head.push_str(&format!("\n  {word} {{ {fields} }}"));
        }
    }
    head.push_str("\n}");
    let mut text = code(&head);
    text.push_str(&format!(
        "\n\n`do {name}(…)` calls it: a POST to the campaign's `[actions.{name}] url`, waiting 3s unless the \
         `do` says `timeout`; after `on ok` its outputs read as `{name}.FIELD`"
    ));
    if let Some(file) = action_file(checked, def).filter(|f| *f != here) {
        text.push_str(&format!("\n\nfrom `{}`", checked.sources.get(file).name));
    }
    text
}

/// An input or an output of action `def`, with its type.
fn field_hover(def: &Action, field: &Field, output: bool, sensitive: bool) -> String {
    let (action, name) = (&def.name.name, &field.name.name);
    let ty = field.ty.ty.map_or("?", Type::name);
    let mut text = code(&format!("{} {name}: {ty}", if output { "output" } else { "input" }));
    if output {
        text.push_str(&format!("\n\nan output of action `{action}`: read as `{action}.{name}` after `on ok`"));
        if sensitive {
            text.push_str("\n\nsensitive: a `do` sends this action a sensitive value (§16.6)");
        }
    } else {
        text.push_str(&format!("\n\nan input of action `{action}`: every `do {action}(…)` sends it"));
    }
    text
}

fn def_occurrence(kind: Kind, name: &Ident, file: SourceId, hover: String) -> Occurrence {
    Occurrence {
        kind,
        name: name.name.clone(),
        span: name.span,
        def: Some(FileSpan::new(file, name.span)),
        is_def: true,
        hover,
    }
}

fn code(text: &str) -> String {
    format!("```callscript\n{text}\n```")
}

fn intent_hover(def: &Intent, from: Option<&str>) -> String {
    let mut head = format!("intent {}", def.name.name);
    if let Some(label) = &def.label {
        head.push_str(&format!(" \"{}\"", label.value));
    }
    let mut lines = vec![code(&head)];
    for clause in &def.clauses {
        let word = match clause.kind {
            ClauseKind::Phrases => "phrases",
            ClauseKind::Dtmf => "dtmf",
            ClauseKind::Regex => "regex",
            ClauseKind::Examples => "examples",
        };
        let values: Vec<String> = clause.values.iter().map(|v| format!("`{}`", v.value)).collect();
        lines.push(format!("{word}: {}", values.join(", ")));
    }
    if let Some(from) = from {
        lines.push(format!("from `{from}`"));
    }
    lines.join("\n\n")
}

fn outcome_hover(name: &str, title: Option<&str>, goal: bool) -> String {
    let kind = if goal { "a goal: counts as a conversion" } else { "not a goal" };
    let title = title.map(|t| format!(" {t:?}")).unwrap_or_default();
    format!("{}\n\n{kind}", code(&format!("outcome {name}{title}{}", if goal { " goal" } else { "" })))
}

fn import_hover(display: &str, imported: &ParsedFile) -> String {
    let mut intents = Vec::new();
    let mut outcomes = Vec::new();
    for item in &imported.ast.items {
        match item {
            Item::Intent(i) => intents.push(format!("`{}`", i.name.name)),
            Item::Outcomes(o) => outcomes.extend(o.items.iter().map(|o| format!("`{}`", o.name.name))),
            _ => {}
        }
    }
    let mut text = format!("{}\n\nintents: {}", code(&format!("use {display}")), intents.join(", "));
    if !outcomes.is_empty() {
        text.push_str(&format!("\n\noutcomes: {}", outcomes.join(", ")));
    }
    text
}

/// An example value for a filter's hover, and what the filter makes of it in `locale`.
pub fn filter_example(locale: Locale, filter: &str) -> Option<(String, String)> {
    let (shown, value) = match filter {
        "money" => ("1200.50", Value::Money(Money::parse("1200.50")?)),
        "digits" => ("\"8831\"", Value::Text("8831".into())),
        "number" => ("1001", Value::Int(1001)),
        "date" => ("2026-11-24", Value::Date(Date::parse("2026-11-24")?)),
        "mask" => ("\"6222021234567890\"", Value::Text("6222021234567890".into())),
        _ => return None,
    };
    let out = crate::filters::apply_in(locale, filter, &value)?;
    Some((shown.to_string(), out))
}

/// How `{{ }}` reads a `time` in `locale` (下午三点半, 3:30 PM).
fn time_reading(locale: Locale, time: Time) -> String {
    crate::filters::plain_in(locale, &Value::Time(time))
}

/// The locale whose readings a script's prompts get (the checker refuses any other).
fn locale(scope: &ScriptScope) -> Locale {
    Locale::from_tag(&scope.settings.locale).unwrap_or_default()
}

/// The time shown when a `time` value's reading is explained.
fn example_time() -> Time {
    Time { hour: 15, minute: 30 }
}

/// What a built-in value is, in one line for its completion.
fn builtin_short(name: &str) -> &'static str {
    match name {
        "attempt" => "the attempt number",
        "hour" => "the local hour of day",
        "today" => "the customer's local date",
        "weekday" => "the day of the week, 1 = Monday",
        _ => "a value of the call",
    }
}

/// What a built-in value is, for its hover.
fn builtin_meaning(name: &str) -> &'static str {
    match name {
        "attempt" => "the 1-based attempt number (a test sets it with `attempt 2`)",
        "hour" => "the local hour of day, 0 to 23 (a test sets it with `hour 21`)",
        "today" => {
            "the customer's local date: `today + 7` is a week later, `pay_date - today` the days \
             between (a test sets it with `today 2026-11-24`)"
        }
        "weekday" => "the day of the week of `today`, 1 = Monday to 7 = Sunday",
        _ => "a value of the call",
    }
}

fn builtin_hover(name: &str, ty: Type) -> String {
    format!("{}\n\nbuilt in: {}", code(&format!("{name}: {}", ty.name())), builtin_meaning(name))
}

/// What a capture of a value of type `ty` reads from the customer's answer (§11).
fn capture_reads(ty: Type, digits: Option<DigitsLength>) -> String {
    if let Some(d) = digits {
        let (min, max) = d.range();
        let count = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return format!("a string of {count} digits, spoken or keyed (`#` ends, `*` clears)");
    }
    match ty {
        Type::Int => "a number (十五 → 15)",
        Type::Money => "an amount (三千五 → 3500.00)",
        Type::Date => "a date relative to `today` (明天, 周五, 下个月10号)",
        Type::Time => "a time (下午三点半 → 15:30)",
        Type::Text => "the whole answer",
        Type::Bool => "nothing: a yes or no is an intent (E205)",
    }
    .to_string()
}

/// Calls `f` on each statement of `stmts` and of the blocks nested in them (`if` blocks,
/// branch bodies of asks and `do`s), a statement before its nested ones.
fn walk_stmts<'a>(stmts: &'a [Stmt], f: &mut impl FnMut(&'a Stmt)) {
    for s in stmts {
        f(s);
        match &s.kind {
            StmtKind::If(i) => {
                walk_stmts(&i.then.stmts, f);
                match &i.otherwise {
                    Some(Else::Block(b)) => walk_stmts(&b.stmts, f),
                    Some(Else::If(s)) => walk_stmts(std::slice::from_ref(&**s), f),
                    None => {}
                }
            }
            StmtKind::Ask(ask) => {
                for b in &ask.branches {
                    walk_stmts(&b.body.stmts, f);
                }
            }
            StmtKind::Do(d) => {
                for b in &d.branches {
                    walk_stmts(&b.body.stmts, f);
                }
            }
            _ => {}
        }
    }
}

/// Every statement of a script: sections, steps and objection handlers.
fn script_stmts<'a>(script: &'a Script, f: &mut impl FnMut(&'a Stmt)) {
    for m in &script.members {
        if let Member::Section(section) = m {
            walk_stmts(&section.body, f);
            for step in &section.steps {
                walk_stmts(&step.body.stmts, f);
            }
            for h in &section.handlers {
                walk_stmts(&h.body.stmts, f);
            }
        }
    }
}

/// What holds statements: a script, a flow or a handler set (§12).
#[derive(Clone, Copy)]
enum Body<'a> {
    Script(&'a Script),
    Flow(&'a Flow),
    Set(&'a HandlerSet),
}

/// Every statement of a script, a flow (its statements or steps) or a handler set.
fn body_stmts<'a>(body: Body<'a>, f: &mut impl FnMut(&'a Stmt)) {
    match body {
        Body::Script(script) => script_stmts(script, f),
        Body::Flow(flow) => {
            walk_stmts(&flow.body, f);
            for step in &flow.steps {
                walk_stmts(&step.body.stmts, f);
            }
        }
        Body::Set(set) => {
            for h in &set.handlers {
                walk_stmts(&h.body.stmts, f);
            }
        }
    }
}

/// Whether `offset` is in the body of a branch of an ask or of an objection handler, where
/// `listen` may stand (§12).
fn in_branch(body: Body, offset: u32) -> bool {
    let holds = |b: &Branch| b.body.span.start <= offset && offset <= b.body.span.end;
    let mut found = match body {
        Body::Script(s) => {
            s.members.iter().any(|m| matches!(m, Member::Section(sec) if sec.handlers.iter().any(holds)))
        }
        Body::Set(set) => set.handlers.iter().any(holds),
        Body::Flow(_) => false,
    };
    body_stmts(body, &mut |s| {
        if let StmtKind::Ask(ask) = &s.kind
            && ask.branches.iter().any(holds)
        {
            found = true;
        }
    });
    found
}

/// The `capture NAME` options of a script's asks by NAME, each in source order.
type Captures<'a> = HashMap<&'a str, Vec<&'a Capture>>;

/// Finds the captures of a script or a flow once, for the hovers of its lets.
fn captures(body: Body<'_>) -> Captures<'_> {
    let mut out: Captures = HashMap::new();
    body_stmts(body, &mut |s| {
        if let StmtKind::Ask(ask) = &s.kind
            && let Some(c) = &ask.capture
        {
            out.entry(c.name.name.as_str()).or_default().push(c);
        }
    });
    out
}

/// The innermost ask whose statement holds `offset`.
fn ask_at(body: Body<'_>, offset: u32) -> Option<&Ask> {
    let mut found: Option<(&Ask, Span)> = None;
    body_stmts(body, &mut |s| {
        if let StmtKind::Ask(ask) = &s.kind
            && s.span.start <= offset
            && offset <= s.span.end
            && found.is_none_or(|(_, span)| s.span.len() <= span.len())
        {
            found = Some((ask, s.span));
        }
    });
    found.map(|(ask, _)| ask)
}

/// The innermost `do` whose statement holds `offset`, unless an ask inside it holds it too.
fn do_at(body: Body<'_>, offset: u32) -> Option<&Do> {
    let mut found: Option<&Stmt> = None;
    body_stmts(body, &mut |s| {
        if matches!(s.kind, StmtKind::Ask(_) | StmtKind::Do(_))
            && s.span.start <= offset
            && offset <= s.span.end
            && found.is_none_or(|f| s.span.len() <= f.span.len())
        {
            found = Some(s);
        }
    });
    match found.map(|s| &s.kind) {
        Some(StmtKind::Do(d)) => Some(d),
        _ => None,
    }
}

/// The branches `ok` and `failed` a `do` has not written yet.
fn missing_do_branches(d: &Do) -> Vec<&'static str> {
    let written = |w: &str| {
        d.branches.iter().any(|b| b.patterns.iter().any(|p| matches!(&p.kind, PatternKind::Intent(i) if i.name == w)))
    };
    ["ok", "failed"].into_iter().filter(|w| !written(w)).collect()
}

/// What each branch of a `do` is for.
fn do_branch_detail(branch: &str) -> &'static str {
    if branch == "ok" {
        "the action answered: its outputs read as `NAME.FIELD`"
    } else {
        "the action failed or timed out: the call must go on"
    }
}

struct Walker<'w, 's> {
    out: &'w mut Vec<Occurrence>,
    scope: &'w ScriptScope<'s>,
    captures: &'w Captures<'s>,
    checked: &'w Checked,
}

impl<'s> Walker<'_, 's> {
    fn file(&self) -> SourceId {
        self.scope.file
    }

    fn push(&mut self, kind: Kind, ident: &Ident, def: Option<FileSpan>, hover: String) {
        let is_def = def == Some(FileSpan::new(self.file(), ident.span));
        self.out.push(Occurrence { kind, name: ident.name.clone(), span: ident.span, def, is_def, hover });
    }

    fn section_span(&self, kind: SectionKind) -> Option<Span> {
        self.scope.script.members.iter().find_map(|m| match m {
            Member::Section(s) if s.kind == kind => Some(s.name_span),
            _ => None,
        })
    }

    fn script(&mut self, script: &Script) {
        let file = self.file();
        let mut head = format!("script {}", script.name.name);
        if let Some(t) = &script.title {
            head.push_str(&format!(" \"{}\"", t.value));
        }
        let purpose = self.scope.settings.purpose.clone().unwrap_or_else(|| "?".into());
        self.push(
            Kind::Script,
            &script.name,
            Some(FileSpan::new(file, script.name.span)),
            format!("{}\n\npurpose {purpose}, {} steps", code(&head), self.scope.steps.len()),
        );
        for member in &script.members {
            match member {
                Member::Inputs(block) => {
                    for input in &block.items {
                        let hover = self.value_hover(&input.name.name);
                        self.push(Kind::Value, &input.name, Some(FileSpan::new(file, input.name.span)), hover);
                        if let Some(d) = &input.default {
                            self.expr(d);
                        }
                    }
                }
                Member::Let(l) => {
                    let hover = self.value_hover(&l.name.name);
                    self.push(Kind::Value, &l.name, Some(FileSpan::new(file, l.name.span)), hover);
                    self.expr(&l.value);
                }
                Member::Outcomes(block) => {
                    for o in &block.items {
                        self.push(
                            Kind::Outcome,
                            &o.name,
                            Some(FileSpan::new(file, o.name.span)),
                            outcome_hover(&o.name.name, o.title.as_ref().map(|t| t.value.as_str()), o.goal),
                        );
                    }
                }
                Member::Intent(def) => {
                    self.push(
                        Kind::Intent,
                        &def.name,
                        Some(FileSpan::new(file, def.name.span)),
                        intent_hover(def, None),
                    );
                }
                Member::Section(section) => self.section(section),
                Member::Setting(_) => {}
            }
        }
    }

    fn section(&mut self, section: &Section) {
        let file = self.file();
        let name = Ident { name: section.kind.name().to_string(), span: section.name_span };
        let steps = section.steps.len().max(usize::from(section.kind != SectionKind::Objection));
        let what = if section.kind == SectionKind::Objection {
            format!("{} handlers, active during every ask", section.handlers.len())
        } else {
            format!("{steps} step{}", if steps == 1 { "" } else { "s" })
        };
        self.push(
            Kind::Section,
            &name,
            Some(FileSpan::new(file, section.name_span)),
            format!("{}\n\n{what}", code(&format!("section {}", section.kind.name()))),
        );
        self.stmts(&section.body);
        for step in &section.steps {
            let hover = code(&format!("step {}.{}", section.kind.name(), step.name.name));
            self.push(Kind::Step, &step.name, Some(FileSpan::new(file, step.name.span)), hover);
            self.stmts(&step.body.stmts);
        }
        for h in &section.handlers {
            self.branch(h, None);
        }
        for include in &section.includes {
            self.include(&include.name);
        }
    }

    /// A flow: its name, parameters, lets, and its statements or steps (§12).
    fn flow(&mut self, flow: &Flow) {
        let file = self.file();
        let hover = match self.scope.flows.get(flow.name.name.as_str()) {
            Some(f) => self.flow_hover(*f),
            None => code(&format!("flow {}", flow.name.name)),
        };
        self.push(Kind::Flow, &flow.name, Some(FileSpan::new(file, flow.name.span)), hover);
        for p in &flow.params {
            let hover = self.value_hover(&p.name.name);
            self.push(Kind::Value, &p.name, Some(FileSpan::new(file, p.name.span)), hover);
        }
        for l in &flow.lets {
            let hover = self.value_hover(&l.name.name);
            self.push(Kind::Value, &l.name, Some(FileSpan::new(file, l.name.span)), hover);
            self.expr(&l.value);
        }
        self.stmts(&flow.body);
        for step in &flow.steps {
            let hover = code(&format!("step {}.{}", flow.name.name, step.name.name));
            self.push(Kind::Step, &step.name, Some(FileSpan::new(file, step.name.span)), hover);
            self.stmts(&step.body.stmts);
        }
    }

    /// A handler set: its name and its handlers (§12).
    fn handler_set(&mut self, set: &HandlerSet) {
        let file = self.file();
        let hover = match self.scope.sets.get(set.name.name.as_str()) {
            Some(s) => self.set_hover(*s),
            None => code(&format!("handlers {}", set.name.name)),
        };
        self.push(Kind::Handlers, &set.name, Some(FileSpan::new(file, set.name.span)), hover);
        for h in &set.handlers {
            self.branch(h, None);
        }
    }

    /// `from `x.call`` when `file` is another file than this one.
    fn origin_note(&self, file: SourceId) -> Option<String> {
        (file != self.file()).then(|| format!("from `{}`", self.checked.sources.get(file).name))
    }

    /// A flow's signature and title, how it ends, its steps and where it comes from.
    fn flow_hover(&self, f: scope::FlowRef<'_>) -> String {
        let def = f.def;
        let mut head = format!("flow {}", def.name.name);
        if let Some(title) = &def.title {
            head.push_str(&format!(" \"{}\"", title.value));
        }
        head.push_str(&format!(" ({})", signature(def)));
        let ends = self
            .scope
            .flows
            .get(def.name.name.as_str())
            .is_some_and(|mine| mine.key() == f.key() && self.scope.flow_ends_call(*mine));
        let mut notes = vec![if ends {
            "ends the call: every path hangs up or transfers".to_string()
        } else {
            "runs where it is called, then goes back after the `call` (`return`)".to_string()
        }];
        if !def.steps.is_empty() {
            let steps: Vec<String> = def.steps.iter().map(|s| format!("`{}`", s.name.name)).collect();
            notes.push(format!("steps: {}", steps.join(", ")));
        }
        notes.extend(self.origin_note(f.file));
        let mut text = code(&head);
        for note in notes {
            text.push_str("\n\n");
            text.push_str(&note);
        }
        text
    }

    /// A handler set's handlers, in order, and where it comes from.
    fn set_hover(&self, s: scope::SetRef<'_>) -> String {
        let source = &self.checked.sources.get(s.file).text;
        let mut text = code(&format!("handlers {}", s.def.name.name));
        let count = s.def.handlers.len();
        text.push_str(&format!(
            "\n\n{count} handler{}, added in place where an `objection` says `include {}`:",
            if count == 1 { "" } else { "s" },
            s.def.name.name
        ));
        for h in &s.def.handlers {
            let head = source.get(h.head.range()).unwrap_or("on …").trim().trim_end_matches("=>").trim_end();
            text.push_str(&format!("\n- `{head}`"));
        }
        if let Some(from) = self.origin_note(s.file) {
            text.push_str(&format!("\n\n{from}"));
        }
        text
    }

    /// The flow a `call` names.
    fn call(&mut self, name: &Ident) {
        let (def, hover) = match self.scope.flows.get(name.name.as_str()) {
            Some(f) => (Some(FileSpan::new(f.file, f.def.name.span)), self.flow_hover(*f)),
            None => (None, format!("no flow `{}` in scope", name.name)),
        };
        self.push(Kind::Flow, name, def, hover);
    }

    /// The handler set an `include` names.
    fn include(&mut self, name: &Ident) {
        let (def, hover) = match self.scope.sets.get(name.name.as_str()) {
            Some(s) => (Some(FileSpan::new(s.file, s.def.name.span)), self.set_hover(*s)),
            None => (None, format!("no handler set `{}` in scope", name.name)),
        };
        self.push(Kind::Handlers, name, def, hover);
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Say { prompt, .. } => self.prompt(prompt),
            StmtKind::Retry(Some(prompt)) => self.prompt(prompt),
            StmtKind::Ask(ask) => {
                self.prompt(&ask.prompt);
                if let Some(capture) = &ask.capture {
                    self.value(&capture.name);
                }
                for b in &ask.branches {
                    self.branch(b, Some(ask));
                }
            }
            StmtKind::Goto(target) => self.target(target),
            StmtKind::If(i) => self.if_stmt(i),
            StmtKind::Transfer { outcome, with, .. } => {
                if let Some(o) = outcome {
                    self.outcome(o);
                }
                for (_, value) in with {
                    self.expr(value);
                }
            }
            StmtKind::Hangup(Some(o)) => self.outcome(o),
            StmtKind::Do(d) => self.do_stmt(d),
            StmtKind::Sms(prompt) => self.prompt(prompt),
            StmtKind::Set { name, value } => {
                self.value(name);
                self.expr(value);
            }
            StmtKind::Call { flow, args } => {
                self.call(flow);
                for a in args {
                    self.expr(a);
                }
            }
            StmtKind::CallbackAt { date, time } => {
                for e in [date, time].into_iter().flatten() {
                    self.expr(e);
                }
            }
            _ => {}
        }
    }

    /// `do NAME(ARG = …) { on ok …; on failed … }`: the action, its inputs, the bodies (§13).
    fn do_stmt(&mut self, d: &Do) {
        let action = self.action(&d.action);
        for (name, value) in &d.args {
            self.field(action, name, false);
            self.expr(value);
        }
        // The patterns are `ok` and `failed`, not intents.
        for b in &d.branches {
            self.stmts(&b.body.stmts);
        }
    }

    /// The action a `do`, a `NAME.FIELD` or a `mock` names.
    fn action(&mut self, name: &Ident) -> Option<&'s Action> {
        let def = self.scope.actions.get(name.name.as_str()).copied();
        let (span, hover) = match def {
            Some(def) => (
                action_file(self.checked, def).map(|f| FileSpan::new(f, def.name.span)),
                action_hover(self.checked, def, self.file()),
            ),
            None => (None, format!("no action `{}` in scope", name.name)),
        };
        self.push(Kind::Action, name, span, hover);
        def
    }

    /// An input (a `do`'s `ARG =`) or an output (`NAME.FIELD`, a mock's `FIELD:`) of `action`.
    fn field(&mut self, action: Option<&'s Action>, name: &Ident, output: bool) {
        let Some(def) = action else { return };
        let mut fields = if output { def.outputs().collect::<Vec<_>>() } else { def.inputs().collect() };
        fields.retain(|f| f.name.name == name.name);
        let (span, hover) = match fields.first() {
            Some(field) => {
                let sensitive = output && self.scope.sensitive_actions.contains(def.name.name.as_str());
                (
                    action_file(self.checked, def).map(|f| FileSpan::new(f, field.name.span)),
                    field_hover(def, field, output, sensitive),
                )
            }
            None => {
                let what = if output { "output" } else { "input" };
                (None, format!("action `{}` has no {what} `{}`", def.name.name, name.name))
            }
        };
        self.push(Kind::Field, name, span, hover);
    }

    fn if_stmt(&mut self, i: &If) {
        self.expr(&i.cond);
        self.stmts(&i.then.stmts);
        match &i.otherwise {
            Some(Else::Block(b)) => self.stmts(&b.stmts),
            Some(Else::If(s)) => self.stmt(s),
            None => {}
        }
    }

    /// A branch of `ask` (None for an objection handler).
    fn branch(&mut self, b: &Branch, ask: Option<&Ask>) {
        for p in &b.patterns {
            match &p.kind {
                PatternKind::Intent(name) => self.intent(name),
                PatternKind::Captured => {
                    let hover = self.captured_hover(ask.and_then(|a| a.capture.as_ref()));
                    self.out.push(Occurrence {
                        kind: Kind::Captured,
                        name: "captured".into(),
                        span: p.span,
                        def: None,
                        is_def: false,
                        hover,
                    });
                }
                _ => {}
            }
        }
        if let Some(g) = &b.guard {
            self.expr(g);
        }
        self.stmts(&b.body.stmts);
    }

    fn prompt(&mut self, prompt: &Prompt) {
        for seg in &prompt.segments {
            if let Segment::Interp { expr, filter, .. } = seg {
                self.expr(expr);
                if let Some(f) = filter {
                    let hover = match filter_example(locale(self.scope), &f.name) {
                        Some((input, output)) => {
                            format!("{}\n\n`{input}` → {output}", code(&format!("filter {}", f.name)))
                        }
                        None => format!("`{}` is not a filter", f.name),
                    };
                    self.out.push(Occurrence {
                        kind: Kind::Filter,
                        name: f.name.clone(),
                        span: f.span,
                        def: None,
                        is_def: false,
                        hover,
                    });
                }
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Name(name) => self.value(name),
            ExprKind::Field(action, field) => {
                let def = self.action(action);
                self.field(def, field, true);
            }
            ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Time(time) => {
                let hover = format!(
                    "{}\n\nread aloud: {}",
                    code(&format!("time {time}")),
                    time_reading(locale(self.scope), *time)
                );
                self.out.push(Occurrence {
                    kind: Kind::Time,
                    name: time.to_string(),
                    span: e.span,
                    def: None,
                    is_def: false,
                    hover,
                });
            }
            _ => {}
        }
    }

    /// The text of `span` in this file, as written.
    fn written(&self, span: Span) -> &str {
        self.checked.sources.get(self.file()).text.get(span.range()).unwrap_or("…")
    }

    fn value_hover(&self, name: &str) -> String {
        let Some(info) = self.scope.values.get(name) else {
            return format!("`{name}` is not defined in this script");
        };
        let ty = info.ty.name();
        let sensitive = if info.sensitive { " sensitive" } else { "" };
        let mut notes = Vec::new();
        let (what, bounds, start) = match info.kind {
            ValueKind::Builtin => return builtin_hover(name, info.ty),
            ValueKind::Input if let Some(flow) = self.scope.flow => {
                let mut text = code(&format!("parameter {name}: {ty}{sensitive}"));
                text.push_str(&format!(
                    "\n\na parameter of flow `{}`: each `call {}(…)` gives it, by value; read-only",
                    flow.name.name, flow.name.name
                ));
                if info.sensitive {
                    text.push_str("\n\nmay be spoken only after `verify` (CS002)");
                }
                return text;
            }
            ValueKind::Input => {
                let input = self.scope.inputs.iter().find(|i| i.name.name == name);
                notes.push(if info.required {
                    "required: every customer record must give it".to_string()
                } else {
                    "optional: has a default".to_string()
                });
                if info.sensitive {
                    notes.push("may be spoken only after `verify` (CS002)".to_string());
                }
                ("input", input.map(|i| &i.bounds), input.and_then(|i| i.default.as_ref()))
            }
            ValueKind::Let => {
                let l = self.scope.lets.iter().find(|l| l.name.name == name);
                let captures = self.captures.get(name).map_or(&[][..], Vec::as_slice);
                if let Some(first) = captures.first() {
                    let mut forms: Vec<String> = Vec::new();
                    for c in captures {
                        let form = format!("`{}`", self.written(c.span));
                        if !forms.contains(&form) {
                            forms.push(form);
                        }
                    }
                    let forms = forms.join(", ");
                    let asks =
                        if captures.len() == 1 { "an ask".to_string() } else { format!("{} asks", captures.len()) };
                    notes.push(format!("captured by {asks}: {forms}; reads {}", capture_reads(info.ty, first.digits)));
                }
                if info.sensitive {
                    notes.push(
                        "sensitive: masked in transcripts, logs, reports and the store; may be spoken only after \
                         `verify` (CS002)"
                            .to_string(),
                    );
                }
                ("let", l.map(|l| &l.bounds), l.map(|l| &l.value))
            }
        };
        let mut head = format!("{what} {name}: {ty}{sensitive}");
        if let Some(bounds) = bounds {
            if let Some(min) = &bounds.min {
                head.push_str(&format!(" min {}", self.written(min.span)));
            }
            if let Some(max) = &bounds.max {
                head.push_str(&format!(" max {}", self.written(max.span)));
            }
            let range = match (&bounds.min, &bounds.max) {
                (Some(min), Some(max)) => {
                    Some(format!("from `{}` to `{}`", self.written(min.span), self.written(max.span)))
                }
                (None, Some(max)) => Some(format!("from `0` to `{}`", self.written(max.span))),
                (Some(min), None) => Some(format!("`{}` or more", self.written(min.span))),
                (None, None) => None,
            };
            if let Some(range) = range {
                notes.push(match info.kind {
                    ValueKind::Let => format!(
                        "holds {range}: a captured value outside is not taken, and CS008 reads a prompt with it at these bounds"
                    ),
                    _ => format!("holds {range}: CS008 reads a prompt with it at these bounds"),
                });
            }
        }
        if info.kind == ValueKind::Let
            && let Some(start) = start
        {
            head.push_str(&format!(" = {}", self.written(start.span)));
        }
        if info.ty == Type::Time {
            let example = match start.map(|e| &e.kind) {
                Some(ExprKind::Time(t)) => *t,
                _ => example_time(),
            };
            notes.push(format!(
                "`{{{{{name}}}}}` reads a time as it is said: `{example}` → {}",
                time_reading(locale(self.scope), example)
            ));
        }
        if let (ValueKind::Let, Some(flow)) = (info.kind, self.scope.flow) {
            notes.push(format!("a value of flow `{}`: fresh at every call", flow.name.name));
        } else if info.kind == ValueKind::Let {
            let masked = if info.sensitive { ", masked" } else { "" };
            notes.push(format!("its value when the call ends is stored with the attempt (`let.{name}`{masked})"));
        }
        let mut text = code(&head);
        for note in notes {
            text.push_str("\n\n");
            text.push_str(&note);
        }
        text
    }

    /// The hover of a `captured` pattern of an ask with `capture` (None: an ask without one,
    /// or an objection handler).
    fn captured_hover(&self, capture: Option<&Capture>) -> String {
        let Some(capture) = capture else {
            return format!(
                "{}\n\nneeds `capture NAME` on its ask (E308): there is no value here to match",
                code("on captured")
            );
        };
        let name = &capture.name.name;
        let reads = match self.scope.values.get(name.as_str()) {
            Some(info) => capture_reads(info.ty, capture.digits),
            None => "a value".to_string(),
        };
        format!(
            "{}\n\nmatches when the answer holds {reads}, for `{}`\n\ncompetes with the ask's intents by the \
             characters read and loses a tie; a guard sees the value read as `{name}`, which keeps it only if a \
             `captured` branch is taken",
            code("on captured"),
            self.written(capture.span),
        )
    }

    fn value(&mut self, name: &Ident) {
        let def = self
            .scope
            .values
            .get(name.name.as_str())
            .filter(|v| v.kind != ValueKind::Builtin)
            .map(|v| FileSpan::new(self.file(), v.span));
        let hover = self.value_hover(&name.name);
        self.push(Kind::Value, name, def, hover);
    }

    fn intent(&mut self, name: &Ident) {
        let (def, hover) = match self.scope.intents.get(name.name.as_str()) {
            Some(info) => {
                let from = info.imported.then(|| self.checked.sources.get(info.file).name.clone());
                (Some(FileSpan::new(info.file, info.def.name.span)), intent_hover(info.def, from.as_deref()))
            }
            None => (None, format!("no intent `{}` in scope", name.name)),
        };
        self.push(Kind::Intent, name, def, hover);
    }

    fn outcome(&mut self, name: &Ident) {
        let (def, hover) = match self.scope.outcomes.get(name.name.as_str()) {
            Some(info) if scope::BUILTIN_OUTCOMES.contains(&name.name.as_str()) && info.span == Span::default() => {
                (None, format!("{}\n\nbuilt in, never a goal", code(&format!("outcome {}", name.name))))
            }
            Some(info) => {
                (Some(FileSpan::new(info.file, info.span)), outcome_hover(&name.name, info.title.as_deref(), info.goal))
            }
            None => (None, format!("no outcome `{}` in this script", name.name)),
        };
        self.push(Kind::Outcome, name, def, hover);
    }

    fn target(&mut self, t: &Target) {
        let file = self.file();
        let resolved = self.scope.resolve_target(t).ok().map(|i| &self.scope.steps[i]);
        let flow = self.scope.flow.map(|f| f.name.name.as_str());
        let step_hover = |s: &scope::StepInfo| {
            if let Some(flow) = flow {
                if s.implicit { code(&format!("flow {flow}")) } else { code(&format!("step {flow}.{}", s.name)) }
            } else if s.implicit {
                code(&format!("section {}", s.section.name()))
            } else {
                code(&format!("step {}.{}", s.section.name(), s.name))
            }
        };
        match &t.second {
            Some(second) => {
                let section = SectionKind::from_name(&t.first.name);
                let def = section.and_then(|k| self.section_span(k)).map(|s| FileSpan::new(file, s));
                self.push(Kind::Section, &t.first, def, code(&format!("section {}", t.first.name)));
                let def = resolved.map(|s| FileSpan::new(file, s.name_span));
                let hover = resolved.map_or_else(|| format!("no step `{}`", t.display()), step_hover);
                self.push(Kind::Step, second, def, hover);
            }
            None => {
                if let Some(kind) = SectionKind::from_name(&t.first.name) {
                    let def = self.section_span(kind).map(|s| FileSpan::new(file, s));
                    self.push(Kind::Section, &t.first, def, code(&format!("section {}", t.first.name)));
                } else {
                    let def = resolved.map(|s| FileSpan::new(file, s.name_span));
                    let hover = resolved.map_or_else(|| format!("no step `{}`", t.display()), step_hover);
                    self.push(Kind::Step, &t.first, def, hover);
                }
            }
        }
    }

    /// `expect step TARGET`: a step of the script, or a flow it can call and its steps as
    /// transcripts name them (`FLOW`, `FLOW.STEP`, §12).
    fn expected_step(&mut self, t: &Target) {
        let flow = self.scope.flows.get(t.first.name.as_str()).copied();
        let Some(flow) = flow.filter(|_| self.scope.resolve_target(t).is_err()) else {
            return self.target(t);
        };
        self.call(&t.first);
        if let Some(second) = &t.second {
            let step = flow.def.steps.iter().find(|s| s.name.name == second.name);
            let def = step.map(|s| FileSpan::new(flow.file, s.name.span));
            let hover = match step {
                Some(_) => code(&format!("step {}.{}", flow.def.name.name, second.name)),
                None => format!("no step `{}` in flow `{}`", second.name, flow.def.name.name),
            };
            self.push(Kind::Step, second, def, hover);
        }
    }

    fn test(&mut self, test: &Test) {
        for s in &test.body {
            match &s.kind {
                TestStmtKind::Input(values) => {
                    for (name, value) in values {
                        self.value(name);
                        self.expr(value);
                    }
                }
                TestStmtKind::Expect(Expect::Step(t)) => self.expected_step(t),
                TestStmtKind::Expect(Expect::Hangup(o)) => self.outcome(o),
                TestStmtKind::Expect(Expect::Value { name, value }) => {
                    self.value(name);
                    self.expr(value);
                }
                TestStmtKind::Mock { action, ok } => {
                    let def = self.action(action);
                    for (field, value) in ok.iter().flatten() {
                        self.field(def, field, true);
                        self.expr(value);
                    }
                }
                _ => {}
            }
        }
    }
}

// ---- outline --------------------------------------------------------------------------

/// What an outline entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Script,
    Section,
    Step,
    Intent,
    Test,
    Flow,
    Handlers,
    Action,
}

/// One entry of a file's outline.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub detail: Option<String>,
    pub kind: SymbolKind,
    /// The whole construct.
    pub span: Span,
    /// Its name.
    pub selection: Span,
    pub children: Vec<Symbol>,
}

/// The outline of a file: scripts (with their intents, sections and steps), top-level
/// intents, flows (with their steps), handler sets, actions and tests.
pub fn symbols(file: &File) -> Vec<Symbol> {
    let intent = |def: &Intent| Symbol {
        name: def.name.name.clone(),
        detail: def.label.as_ref().map(|l| l.value.clone()),
        kind: SymbolKind::Intent,
        span: def.span,
        selection: def.name.span,
        children: Vec::new(),
    };
    let mut out = Vec::new();
    for item in &file.items {
        match item {
            Item::Intent(def) => out.push(intent(def)),
            Item::Flow(f) => out.push(Symbol {
                name: f.name.name.clone(),
                detail: Some(match &f.title {
                    Some(t) => format!("({}) {}", signature(f), t.value),
                    None => format!("({})", signature(f)),
                }),
                kind: SymbolKind::Flow,
                span: f.span,
                selection: f.name.span,
                children: f
                    .steps
                    .iter()
                    .map(|st| Symbol {
                        name: st.name.name.clone(),
                        detail: None,
                        kind: SymbolKind::Step,
                        span: st.span,
                        selection: st.name.span,
                        children: Vec::new(),
                    })
                    .collect(),
            }),
            Item::Handlers(h) => out.push(Symbol {
                name: h.name.name.clone(),
                detail: Some(format!("{} handler{}", h.handlers.len(), if h.handlers.len() == 1 { "" } else { "s" })),
                kind: SymbolKind::Handlers,
                span: h.span,
                selection: h.name.span,
                children: Vec::new(),
            }),
            Item::Action(a) => out.push(Symbol {
                name: a.name.name.clone(),
                detail: Some(action_detail(a)),
                kind: SymbolKind::Action,
                span: a.span,
                selection: a.name.span,
                children: Vec::new(),
            }),
            Item::Test(t) => out.push(Symbol {
                name: t.name.value.clone(),
                detail: Some(format!("test for {}", t.script.name)),
                kind: SymbolKind::Test,
                span: t.span,
                selection: t.name.span,
                children: Vec::new(),
            }),
            Item::Script(s) => {
                let mut children = Vec::new();
                for m in &s.members {
                    match m {
                        Member::Intent(def) => children.push(intent(def)),
                        Member::Section(sec) => children.push(Symbol {
                            name: sec.kind.name().to_string(),
                            detail: None,
                            kind: SymbolKind::Section,
                            span: sec.span,
                            selection: sec.name_span,
                            children: sec
                                .steps
                                .iter()
                                .map(|st| Symbol {
                                    name: st.name.name.clone(),
                                    detail: None,
                                    kind: SymbolKind::Step,
                                    span: st.span,
                                    selection: st.name.span,
                                    children: Vec::new(),
                                })
                                .collect(),
                        }),
                        _ => {}
                    }
                }
                out.push(Symbol {
                    name: s.name.name.clone(),
                    detail: s.title.as_ref().map(|t| t.value.clone()),
                    kind: SymbolKind::Script,
                    span: s.span,
                    selection: s.name.span,
                    children,
                });
            }
            _ => {}
        }
    }
    out
}

/// An action in one line: `(account_tail: text) → balance: money, due: date 查询欠款`.
fn action_detail(def: &Action) -> String {
    let mut detail = format!("({}) → {}", fields_signature(def.inputs()), fields_signature(def.outputs()));
    if let Some(title) = &def.title {
        detail.push_str(&format!(" {}", title.value));
    }
    detail
}

// ---- completion -----------------------------------------------------------------------

/// What a completion inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Step,
    Section,
    Intent,
    Outcome,
    Value,
    Filter,
    Flow,
    Handlers,
    Action,
    /// An input or an output of an action.
    Field,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
}

const STATEMENT_WORDS: &[&str] = &[
    "say",
    "ask",
    "goto",
    "if",
    "else",
    "set",
    "verify",
    "tag",
    "callback in",
    "callback at",
    "callback on",
    "call",
    "do",
    "sms",
    "optout",
    "transfer",
    "hangup",
    "retry",
    "resume",
    "step",
    "on",
];
const TOP_WORDS: &[&str] = &["use", "script", "intent", "outcomes", "flow", "handlers", "test"];
/// A script's members besides its settings (`settings::SETTINGS`).
const MEMBER_WORDS: &[&str] = &["input", "let", "outcomes", "intent", "opening", "core", "closing", "objection"];
const PATTERN_WORDS: &[&str] = &["silence", "unknown", "_", "exhausted", "emotion", "dtmf"];
/// An ask's options after its question (§3, §11), with what each does.
const ASK_OPTIONS: &[(&str, &str)] = &[
    ("capture", "read the answer into a `let`: `capture pay_date`"),
    ("timeout", "how long to listen: `timeout 8s`"),
    ("retries", "how many times to ask again: `retries 2`"),
    ("bargein off", "the customer cannot cut the question short"),
];
/// The types of an input or a `let`.
const TYPES: &[(&str, &str)] = &[
    ("text", "text: `\"8831\"`"),
    ("int", "a whole number: `5`"),
    ("money", "an amount in yuan: `1200.50`"),
    ("bool", "`true` or `false`"),
    ("date", "a day: `2026-11-24`"),
    ("time", "a clock time: `15:30`"),
];
/// The statements of a test (§7, §11).
const TEST_WORDS: &[(&str, &str)] = &[
    ("input", "the customer's record: `input { name: \"张三\" }`"),
    ("reply", "what the customer says: `reply \"是我\"`, `reply dtmf \"8831#\"`"),
    ("expect", "what the call did: `expect say \"…\"`, `expect value NAME = …`"),
    ("hangup", "the customer hangs up"),
    ("attempt", "the attempt number for the call: `attempt 2`"),
    ("hour", "the local hour for the call: `hour 21`"),
    ("today", "the customer's date for the call: `today 2026-11-24`"),
    ("mock", "how an action answers from here on: `mock lookup ok { balance: 3500.00 }`, `mock lookup failed`"),
];
/// What a test can expect (§7, §11).
const EXPECT_WORDS: &[(&str, &str)] = &[
    ("say", "a prompt played holds this text: `expect say \"…\"`"),
    ("step", "the call is at this step: `expect step core.pay`"),
    ("tag", "the call was tagged: `expect tag \"ptp\"`"),
    ("transfer", "the call was transferred: `expect transfer \"queue\"`"),
    ("sms", "a text message sent since the last reply holds this text: `expect sms \"尾号\"`"),
    ("hangup", "the call ended with this outcome: `expect hangup promised`"),
    ("value", "a value of the script holds this: `expect value pay_date = 2026-11-25`"),
    ("optout", "an opt-out was recorded since the last reply"),
    ("verify", "the identity was verified since the last reply"),
];
/// What a test's customer can do besides speaking.
const REPLY_WORDS: &[(&str, &str)] = &[
    ("dtmf", "keys: `reply dtmf \"8831#\"`"),
    ("silence", "the customer says nothing"),
    ("emotion", "said with an emotion: `reply emotion angry \"…\"`"),
];

fn keyword(label: &str, detail: Option<&str>) -> Completion {
    Completion { label: label.to_string(), kind: CompletionKind::Keyword, detail: detail.map(str::to_string) }
}

fn described(list: &[(&str, &str)], out: &mut Vec<Completion>) {
    out.extend(list.iter().map(|(w, d)| keyword(w, Some(d))));
}

/// What may be typed at `offset` of `file`: `goto` targets after `goto`, filters after `|`
/// inside `{{ }}`, values inside `{{ }}` and expressions (guards included), intents and
/// pattern words after `on` (`captured` in an ask with `capture`), outcomes after `hangup`, an
/// ask's options after its question and the lets it may capture into after `capture`, types
/// after `:` in a declaration, actions after `do` (and `mock` in a test), the inputs not given
/// yet inside `do NAME(` (the outputs inside a test's `mock NAME ok {`), the outputs after `NAME.` of an action, `ok` and `failed` (or `on ok`,
/// `on failed`) between a `do`'s branches, the statements of a test in a test, otherwise
/// keywords and names in scope.
pub fn completions(checked: &Checked, file: SourceId, offset: u32) -> Vec<Completion> {
    let Some(parsed) = checked.file(file) else { return Vec::new() };
    let text = &checked.sources.get(file).text;
    let offset = (offset as usize).min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let word_len = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .map(char::len_utf8)
        .sum::<usize>();
    let context = before[..before.len() - word_len].trim_end();
    let mut scratch = Vec::new();
    let base = scope::file_scope(parsed, &checked.files, &mut scratch);
    let holds = |span: Span| span.start as usize <= offset && offset <= span.end as usize;
    let test = parsed.ast.items.iter().find_map(|i| match i {
        Item::Test(t) if holds(t.span) => Some(t),
        _ => None,
    });
    let script = parsed
        .ast
        .items
        .iter()
        .filter_map(|i| if let Item::Script(s) = i { Some(s) } else { None })
        .find(|s| holds(s.span))
        .or_else(|| {
            // In a test: the script it tests.
            parsed.ast.items.iter().find_map(|i| match i {
                Item::Script(s) if s.name.name == test?.script.name => Some(s),
                _ => None,
            })
        });
    // In a flow or a handler set (§12): its own scope.
    let unit = parsed.ast.items.iter().find_map(|i| match i {
        Item::Flow(f) if holds(f.span) => Some(Body::Flow(f)),
        Item::Handlers(s) if holds(s.span) => Some(Body::Set(s)),
        _ => None,
    });
    let body = unit.or(script.map(Body::Script));
    let scope = match unit {
        Some(Body::Flow(f)) => {
            Some(scope::unit_scope(parsed, &checked.files, &base, scope::Unit::Flow(f), &mut scratch))
        }
        Some(Body::Set(s)) => Some(scope::unit_scope(parsed, &checked.files, &base, scope::Unit::Set(s), &mut scratch)),
        _ => script.map(|s| scope::script_scope(parsed, &checked.files, s, &base, &mut scratch)),
    };
    let mut out = Vec::new();
    let words = |list: &[&str], out: &mut Vec<Completion>| out.extend(list.iter().map(|w| keyword(w, None)));
    // `NAME.` of an action, in an expression or a prompt: its outputs (§13).
    let word = &before[before.len() - word_len..];
    if let (Some(scope), Some((head, _))) = (&scope, word.split_once('.'))
        && let Some(def) = scope.actions.get(head)
    {
        for f in def.outputs() {
            let detail = format!("output: {}, after `on ok`", f.ty.ty.map_or("?", Type::name));
            out.push(Completion { label: f.name.name.clone(), kind: CompletionKind::Field, detail: Some(detail) });
        }
        return out;
    }
    let in_interp = before.rfind("{{").is_some_and(|open| before.rfind("}}").is_none_or(|close| close < open));
    if in_interp {
        let inside = &before[before.rfind("{{").unwrap_or(0)..];
        if inside.contains('|') {
            for f in crate::filters::FILTERS {
                let detail = filter_example(scope.as_ref().map_or_else(Locale::default, locale), f)
                    .map(|(i, o)| format!("{i} → {o}"));
                out.push(Completion { label: f.to_string(), kind: CompletionKind::Filter, detail });
            }
        } else if let Some(scope) = &scope {
            values(scope, &mut out);
        }
        return out;
    }
    let (Some(scope), Some(body)) = (scope, body) else {
        words(TOP_WORDS, &mut out);
        return out;
    };
    let ends_with_word =
        |w: &str| context == w || context.ends_with(&format!(" {w}")) || context.ends_with(&format!("\t{w}"));
    if ends_with_word("goto") || ends_with_word("expect step") {
        for kind in [SectionKind::Opening, SectionKind::Core, SectionKind::Closing] {
            if scope.sections.contains_key(&kind) {
                out.push(Completion {
                    label: kind.name().into(),
                    kind: CompletionKind::Section,
                    detail: Some("section".into()),
                });
            }
        }
        for step in scope.steps.iter().filter(|s| !s.implicit) {
            let unique = scope.step_names.get(step.name.as_str()).is_some_and(|v| v.len() == 1);
            if unique {
                out.push(Completion {
                    label: step.name.clone(),
                    kind: CompletionKind::Step,
                    detail: Some(format!("step in {}", step.section.name())),
                });
            }
            out.push(Completion {
                label: format!("{}.{}", step.section.name(), step.name),
                kind: CompletionKind::Step,
                detail: Some("step".into()),
            });
        }
        if test.is_some() {
            // Transcripts name a flow's steps `FLOW` and `FLOW.STEP` (§12).
            let mut flows: Vec<&scope::FlowRef> = scope.flows.values().collect();
            flows.sort_by_key(|f| f.def.name.name.as_str());
            for f in flows {
                let name = &f.def.name.name;
                out.push(Completion { label: name.clone(), kind: CompletionKind::Flow, detail: Some("flow".into()) });
                for s in &f.def.steps {
                    out.push(Completion {
                        label: format!("{name}.{}", s.name.name),
                        kind: CompletionKind::Step,
                        detail: Some(format!("step of flow {name}")),
                    });
                }
            }
        }
        return out;
    }
    if ends_with_word("call") && test.is_none() {
        let mut flows: Vec<&scope::FlowRef> = scope.flows.values().collect();
        flows.sort_by_key(|f| f.def.name.name.as_str());
        for f in flows {
            let mut detail = format!("flow ({})", signature(f.def));
            if let Some(title) = &f.def.title {
                detail.push_str(&format!(" {}", title.value));
            }
            if f.file != file {
                detail.push_str(&format!(", from {}", checked.sources.get(f.file).name));
            }
            out.push(Completion { label: f.def.name.name.clone(), kind: CompletionKind::Flow, detail: Some(detail) });
        }
        return out;
    }
    // `do NAME`, and `mock NAME` in a test (§13).
    if (ends_with_word("do") && test.is_none()) || (ends_with_word("mock") && test.is_some()) {
        let mut actions: Vec<&&Action> = scope.actions.values().collect();
        actions.sort_by_key(|a| a.name.name.as_str());
        for def in actions {
            let mut detail = format!("action {}", action_detail(def));
            if let Some(from) = action_file(checked, def).filter(|f| *f != file) {
                detail.push_str(&format!(", from {}", checked.sources.get(from).name));
            }
            out.push(Completion { label: def.name.name.clone(), kind: CompletionKind::Action, detail: Some(detail) });
        }
        return out;
    }
    if ends_with_word("include") {
        let mut sets: Vec<&scope::SetRef> = scope.sets.values().collect();
        sets.sort_by_key(|s| s.def.name.name.as_str());
        for s in sets {
            let n = s.def.handlers.len();
            let mut detail = format!("{n} handler{}", if n == 1 { "" } else { "s" });
            if s.file != file {
                detail.push_str(&format!(", from {}", checked.sources.get(s.file).name));
            }
            out.push(Completion {
                label: s.def.name.name.clone(),
                kind: CompletionKind::Handlers,
                detail: Some(detail),
            });
        }
        return out;
    }
    // In a test, `hangup` alone is the customer hanging up; `expect hangup` takes an outcome.
    if (ends_with_word("hangup") && (test.is_none() || ends_with_word("expect hangup"))) || ends_with_word("outcome") {
        let mut names: Vec<(&&str, &scope::OutcomeInfo)> = scope.outcomes.iter().collect();
        names.sort_by_key(|(n, _)| **n);
        for (name, info) in names {
            let detail = if info.goal { "goal outcome" } else { "outcome" };
            out.push(Completion {
                label: name.to_string(),
                kind: CompletionKind::Outcome,
                detail: Some(detail.into()),
            });
        }
        return out;
    }
    if ends_with_word("emotion") {
        for e in scope::EMOTIONS {
            out.push(keyword(e, Some("emotion")));
        }
        return out;
    }
    if test.is_some() {
        test_completions(&scope, before, context, &mut out);
        return out;
    }
    let tokens = line_tokens(context);
    let word_at = |i: usize| tokens.get(i).filter(|t| t.token == Token::Ident).map(|t| &context[t.span.range()]);
    if let Some(options) = ask_options(&scope, context, &tokens) {
        return options;
    }
    if let Some(inputs) = do_inputs(&scope, context, &tokens) {
        return inputs;
    }
    // Between the branches of a `do`: the ones it lacks.
    if let Some(d) = do_at(body, offset as u32)
        && d.head.end as usize <= offset
        && !d.branches.iter().any(|b| b.body.span.start as usize <= offset && offset <= b.body.span.end as usize)
    {
        let line = before.trim_start();
        if line.starts_with("on ") || line == "on" {
            for b in missing_do_branches(d) {
                out.push(keyword(b, Some(do_branch_detail(b))));
            }
        } else if context.is_empty() {
            for b in missing_do_branches(d) {
                out.push(keyword(&format!("on {b}"), Some(do_branch_detail(b))));
            }
        }
        return out;
    }
    let in_params = matches!(body, Body::Flow(_)) && before.trim_start().starts_with("flow ");
    let in_inputs =
        in_params || scope.script.members.iter().any(|m| matches!(m, Member::Inputs(block) if holds(block.span)));
    if (in_inputs || word_at(0) == Some("let"))
        && let Some(options) = declaration_options(context, &tokens)
    {
        return options;
    }
    let guard = tokens.iter().any(|t| t.token == Token::Ident && &context[t.span.range()] == "if");
    let line = before.trim_start();
    if (line.starts_with("on ") || line == "on") && !before.contains("=>") && !guard {
        if let Some(ask) = ask_at(body, offset as u32)
            && let Some(capture) = &ask.capture
        {
            let reads = scope.values.get(capture.name.name.as_str()).map(|v| capture_reads(v.ty, capture.digits));
            let detail = format!(
                "the answer holds {} for `capture {}`",
                reads.as_deref().unwrap_or("a value"),
                capture.name.name
            );
            out.push(keyword("captured", Some(&detail)));
        }
        let mut names: Vec<(&&str, &scope::IntentInfo)> = scope.intents.iter().collect();
        names.sort_by_key(|(_, i)| i.order);
        for (name, info) in names {
            let detail = info.def.label.as_ref().map(|l| l.value.clone());
            out.push(Completion { label: name.to_string(), kind: CompletionKind::Intent, detail });
        }
        words(PATTERN_WORDS, &mut out);
        return out;
    }
    let expression = ["if", "set", "=", "and", "or", "not", "+", "-", "*", "/", "==", "<", ">", "(", "!="]
        .iter()
        .any(|w| context.ends_with(w));
    values(&scope, &mut out);
    if !expression {
        let section = scope.script.members.iter().find_map(|m| match m {
            Member::Section(s) if holds(s.span) => Some(s),
            _ => None,
        });
        if section.is_some() || unit.is_some() {
            let mut list: Vec<&str> = STATEMENT_WORDS.to_vec();
            match body {
                // A handler set is included by scripts whose steps it cannot know (E310).
                Body::Set(_) => list.retain(|w| !matches!(*w, "goto" | "step")),
                Body::Flow(_) => list.extend(["let", "return"]),
                Body::Script(_) => {}
            }
            if in_branch(body, offset as u32) {
                list.push("listen");
            }
            if section.is_some_and(|s| s.kind == SectionKind::Objection) {
                list.push("include");
            }
            words(&list, &mut out);
        } else {
            words(crate::check::settings::SETTINGS, &mut out);
            words(MEMBER_WORDS, &mut out);
        }
    }
    out
}

/// The tokens of `text` (one line), without comments and the end.
fn line_tokens(text: &str) -> Vec<crate::syntax::lexer::Lexed> {
    let mut tokens = crate::syntax::lexer::lex(text, 0);
    tokens.retain(|t| !matches!(t.token, Token::Comment | Token::Newline | Token::Eof));
    tokens
}

/// In a test block: its statements at the start of one, what `expect` and `reply` take, the
/// script's inputs and lets after `expect value`, its inputs inside `input { }`.
fn test_completions(scope: &ScriptScope, before: &str, context: &str, out: &mut Vec<Completion>) {
    let ends_with_word =
        |w: &str| context == w || context.ends_with(&format!(" {w}")) || context.ends_with(&format!("\t{w}"));
    let in_input = before.rfind("input").is_some_and(|at| before[at..].contains('{') && !before[at..].contains('}'));
    let words: Vec<&str> = context.split_whitespace().collect();
    if ends_with_word("expect value") {
        declared_values(scope, |_| true, out);
    } else if let Some(outputs) = mock_outputs(scope, context) {
        out.extend(outputs);
    } else if let [.., "mock", name] = words.as_slice()
        && scope.actions.contains_key(name)
    {
        out.push(keyword("ok", Some("the action answers with these outputs: `ok { FIELD: LITERAL, … }`")));
        out.push(keyword("failed", Some("the action fails: the `do` takes `on failed`")));
    } else if ends_with_word("expect") {
        described(EXPECT_WORDS, out);
    } else if ends_with_word("reply") {
        described(REPLY_WORDS, out);
    } else if in_input && (context.ends_with('{') || context.ends_with(',')) {
        declared_values(scope, |v| v.kind == ValueKind::Input, out);
    } else if context.is_empty() || context.ends_with(['{', '}', ';']) {
        described(TEST_WORDS, out);
    }
}

/// Among an ask's options on this line (`context` ends after its question or an option): the
/// options not given yet, `digits` after `capture` of a text let, the lets it may capture
/// into after `capture`. None when the line is not there.
fn ask_options(scope: &ScriptScope, context: &str, tokens: &[crate::syntax::lexer::Lexed]) -> Option<Vec<Completion>> {
    let text = |i: usize| &context[tokens[i].span.range()];
    let question = (0..tokens.len().saturating_sub(1))
        .rev()
        .find(|&i| tokens[i].token == Token::Ident && text(i) == "ask" && tokens[i + 1].token == Token::Str)?;
    let options = question + 2..tokens.len();
    if options.clone().any(|i| !matches!(tokens[i].token, Token::Ident | Token::Int | Token::Duration | Token::Dot)) {
        return None;
    }
    let mut out = Vec::new();
    let given = |w: &str| options.clone().any(|i| text(i) == w);
    let last = options.clone().last().map(text);
    match last {
        Some("capture") => {
            // Lets only: an input or a built-in is read-only, and a bool has nothing to read (E205).
            declared_values(scope, |v| v.kind == ValueKind::Let && v.ty != Type::Bool, &mut out);
            return Some(out);
        }
        Some("bargein") => return Some(vec![keyword("off", Some("the customer cannot cut the question short"))]),
        // A number or a duration comes next.
        Some("timeout" | "retries" | "digits") => return Some(out),
        _ => {}
    }
    if let Some(name) = last
        && options.len() >= 2
        && text(options.end - 2) == "capture"
        && scope.values.get(name).is_some_and(|v| v.kind == ValueKind::Let && v.ty == Type::Text)
    {
        out.push(keyword("digits", Some("a digit string, spoken or keyed: `digits 4` or `digits 4..6`")));
    }
    for (option, detail) in ASK_OPTIONS {
        if !given(option.split(' ').next().unwrap_or(option)) {
            out.push(keyword(option, Some(detail)));
        }
    }
    Some(out)
}

/// Inside `mock NAME ok {` after `{` or `,`: the outputs of the action not given yet. None
/// elsewhere.
fn mock_outputs(scope: &ScriptScope, context: &str) -> Option<Vec<Completion>> {
    let tokens = line_tokens(context);
    let text = |i: usize| &context[tokens[i].span.range()];
    let start = (0..tokens.len().saturating_sub(3)).rev().find(|&i| {
        text(i) == "mock"
            && tokens[i + 1].token == Token::Ident
            && text(i + 2) == "ok"
            && tokens[i + 3].token == Token::LBrace
    })?;
    let def = scope.actions.get(text(start + 1))?;
    fields_not_given(context, &tokens, start + 4, [Token::LBrace, Token::RBrace, Token::Colon], def.outputs(), "output")
}

/// Inside `do NAME(` after `(` or `,`: the inputs of the action not given yet. None elsewhere.
fn do_inputs(scope: &ScriptScope, context: &str, tokens: &[crate::syntax::lexer::Lexed]) -> Option<Vec<Completion>> {
    let text = |i: usize| &context[tokens[i].span.range()];
    let start = (0..tokens.len().saturating_sub(2)).rev().find(|&i| {
        tokens[i].token == Token::Ident
            && text(i) == "do"
            && tokens[i + 1].token == Token::Ident
            && tokens[i + 2].token == Token::LParen
    })?;
    let def = scope.actions.get(text(start + 1))?;
    fields_not_given(context, tokens, start + 3, [Token::LParen, Token::RParen, Token::Eq], def.inputs(), "input")
}

/// The fields not named yet in a list that opened at token `from` with `open` and is still
/// open (no `close` since), the cursor after `open` or `,`: a field counts as named when it
/// stands before `assign`. `kind` labels the completions (`input: money`).
fn fields_not_given<'a>(
    context: &str,
    tokens: &[crate::syntax::lexer::Lexed],
    from: usize,
    [open, close, assign]: [Token; 3],
    fields: impl Iterator<Item = &'a Field>,
    kind: &str,
) -> Option<Vec<Completion>> {
    let list = from..tokens.len();
    if list.clone().any(|i| tokens[i].token == close)
        || !tokens.last().is_some_and(|t| t.token == open || t.token == Token::Comma)
    {
        return None;
    }
    let given: Vec<&str> = list
        .filter(|&i| tokens[i].token == Token::Ident && tokens.get(i + 1).is_some_and(|t| t.token == assign))
        .map(|i| &context[tokens[i].span.range()])
        .collect();
    let out = fields
        .filter(|f| !given.contains(&f.name.name.as_str()))
        .map(|f| Completion {
            label: f.name.name.clone(),
            kind: CompletionKind::Field,
            detail: Some(format!("{kind}: {}", f.ty.ty.map_or("?", Type::name))),
        })
        .collect();
    Some(out)
}

/// In a declaration (`let NAME: …` or an input): the types after `:`, then `sensitive` and, for
/// numbers, `min` and `max`. None past them (the starting value, the next input).
fn declaration_options(context: &str, tokens: &[crate::syntax::lexer::Lexed]) -> Option<Vec<Completion>> {
    let colon = tokens.iter().rposition(|t| t.token == Token::Colon)?;
    let after = &tokens[colon + 1..];
    let mut out = Vec::new();
    let Some(first) = after.first() else {
        described(TYPES, &mut out);
        return Some(out);
    };
    let ty = Type::from_name(&context[first.span.range()])?;
    if after.iter().any(|t| !matches!(t.token, Token::Ident | Token::Int | Token::Decimal | Token::Minus)) {
        return None;
    }
    let words: Vec<&str> = after.iter().map(|t| &context[t.span.range()]).collect();
    if matches!(words.last(), Some(&("min" | "max"))) {
        return Some(out);
    }
    if !words.contains(&"sensitive") {
        out.push(keyword("sensitive", Some("masked in transcripts, logs and reports; spoken only after `verify`")));
    }
    if matches!(ty, Type::Int | Type::Money) {
        for (bound, detail) in [("min", "the least it may hold: `min 1`"), ("max", "the most it may hold: `max 5`")] {
            if !words.contains(&bound) {
                out.push(keyword(bound, Some(detail)));
            }
        }
    }
    Some(out)
}

/// The script's inputs and lets that `keep` accepts, by name.
fn declared_values(scope: &ScriptScope, keep: impl Fn(&scope::ValueInfo) -> bool, out: &mut Vec<Completion>) {
    let mut names: Vec<(&&str, &scope::ValueInfo)> =
        scope.values.iter().filter(|(_, v)| v.kind != ValueKind::Builtin && keep(v)).collect();
    names.sort_by_key(|(n, _)| **n);
    out.extend(names.into_iter().map(|(name, info)| value_completion(scope, name, info)));
}

fn values(scope: &ScriptScope, out: &mut Vec<Completion>) {
    let mut names: Vec<(&&str, &scope::ValueInfo)> = scope.values.iter().collect();
    names.sort_by_key(|(n, _)| **n);
    out.extend(names.into_iter().map(|(name, info)| value_completion(scope, name, info)));
}

/// A value offered for completion: what it is, its type, and for a time how `{{ }}` reads it.
fn value_completion(scope: &ScriptScope, name: &str, info: &scope::ValueInfo) -> Completion {
    let locale = locale(scope);
    let sensitive = if info.sensitive { " sensitive" } else { "" };
    let mut detail = match info.kind {
        ValueKind::Input if scope.flow.is_some() => format!("parameter: {}{sensitive}", info.ty.name()),
        ValueKind::Input => format!("input: {}{sensitive}", info.ty.name()),
        ValueKind::Let => format!("let: {}{sensitive}", info.ty.name()),
        ValueKind::Builtin => format!("built in: {}, {}", info.ty.name(), builtin_short(name)),
    };
    if info.ty == Type::Time {
        let example = example_time();
        detail.push_str(&format!(", {example} reads {}", time_reading(locale, example)));
    }
    Completion { label: name.to_string(), kind: CompletionKind::Value, detail: Some(detail) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_source;

    const SRC: &str = "use std.zh.common\n\nscript s {\n  purpose service\n  input { amount: money }\n  outcomes { done \"办结\" goal }\n  intent pay \"付款\" { phrases \"还了\" }\n  opening {\n    say \"您好,本次通话将被录音。{{amount | money}}\"\n    ask \"还吗?\" {\n      on pay => goto core.later\n      on yes => hangup done\n      on _ => goto later\n    }\n  }\n  core {\n    step later { hangup done }\n  }\n}\n";

    fn at(needle: &str, nth: usize) -> u32 {
        SRC.match_indices(needle).nth(nth).expect("needle").0 as u32 + 1
    }

    #[test]
    fn definitions_references_and_hovers() {
        let checked = check_source("t.call", SRC);
        let index = index(&checked, SourceId(0));
        let def = index.definition(at("later", 0)).expect("goto core.later resolves");
        assert_eq!(&SRC[def.span.range()], "later");
        assert_eq!(def.span.start, at("later {", 0) - 1);
        assert_eq!(index.references(at("later", 1), true).len(), 3);
        let intent = index.at(at("pay =>", 0)).expect("intent");
        assert!(intent.hover.contains("还了"), "{}", intent.hover);
        let yes = index.definition(at("yes", 0)).expect("imported");
        assert_ne!(yes.file, SourceId(0));
        let filter = index.at(at("money}}", 0)).expect("filter");
        assert!(filter.hover.contains("一千二百元五角"), "{}", filter.hover);
        let amount = index.at(at("amount |", 0)).expect("value");
        assert!(amount.hover.contains("money"), "{}", amount.hover);
        let done = index.at(at("done", 1)).expect("outcome");
        assert!(done.hover.contains("outcome done \"办结\" goal"), "{}", done.hover);
    }

    #[test]
    fn rename_checks_the_new_name() {
        let checked = check_source("t.call", SRC);
        let index = index(&checked, SourceId(0));
        assert_eq!(index.rename(&checked, at("later", 1), "afterwards").expect("renames").len(), 3);
        assert!(index.rename(&checked, at("later", 1), "goto").is_err());
        assert!(index.rename(&checked, at("yes", 0), "ok").is_err(), "stdlib intents stay");
        assert!(index.rename(&checked, at("done", 1), "x").is_err(), "outcomes are not renamed");
    }

    #[test]
    fn completion_contexts() {
        let src = SRC.replace("on _ => goto later", "on _ => goto ");
        let checked = check_source("t.call", &src);
        let offset = src.find("goto \n").unwrap() as u32 + 5;
        let labels: Vec<String> = completions(&checked, SourceId(0), offset).into_iter().map(|c| c.label).collect();
        assert!(labels.contains(&"later".to_string()) && labels.contains(&"core.later".to_string()), "{labels:?}");
        let offset = SRC.find("| money").unwrap() as u32 + 2;
        let labels: Vec<String> =
            completions(&check_source("t.call", SRC), SourceId(0), offset).into_iter().map(|c| c.label).collect();
        assert!(labels.contains(&"digits".to_string()), "{labels:?}");
    }

    /// A script that captures (§11): digits into a sensitive text, a date with a guard on
    /// `today` and `weekday`, a bounded amount, a time; and a test with `expect value`.
    const CAPTURE: &str = r#"use std.zh.common

script promise "承诺还款" {
  purpose collection
  input { name: text, account_tail: text sensitive, amount_due: money max 99999.99 }
  outcomes { promised goal, refused }
  digit_timeout 4s
  let pay_date: date = today
  let pay_amount: money min 1 max 99999.99 = 0
  let id_tail: text sensitive = ""
  let call_at: time = 09:00
  let ok: bool = false

  opening {
    say "您好,本次通话将被录音。"
    ask "请输入您身份证号的后四位。" capture id_tail digits 4..6 retries 1 {
      on captured if id_tail == account_tail => { verify; goto core }
      on captured => retry "输入有误,请重新输入。"
      on silence, unknown => retry
      on exhausted => hangup refused
    }
  }
  core {
    step date {
      ask "请问您大概哪天能还款?" capture pay_date retries 2 {
        on captured if pay_date <= today + 7 and weekday < 6 => goto amount
        on captured => retry "最晚能在一周内还款吗?"
        on _, exhausted => hangup refused
      }
    }
    step amount {
      ask "您能还多少?" capture pay_amount {
        on captured => { set ok = true; goto ring_back }
        on _ => hangup refused
      }
    }
    step ring_back {
      ask "{{call_at}}给您回电可以吗?" capture call_at {
        on captured if call_at >= 09:00 => hangup promised
        on _ => hangup refused
      }
    }
  }
  objection {
    on optout => { optout; hangup refused }
  }
}

test "keys" for promise {
  today 2026-11-24
  input { name: "张三", account_tail: "8831", amount_due: 3500.00 }
  reply dtmf "8831#"
  expect value id_tail = "8831"
  expect value call_at = 15:30
}
"#;

    /// The offset just after `before` in the `nth` line holding `line`.
    fn cursor(src: &str, line: &str, nth: usize, before: &str) -> u32 {
        let start = src.match_indices(line).nth(nth).unwrap_or_else(|| panic!("no line {line}")).0;
        let within = src[start..].find(before).unwrap_or_else(|| panic!("no {before} after {line}"));
        (start + within + before.len()) as u32
    }

    fn capture_checked() -> Checked {
        let checked = check_source("promise.call", CAPTURE);
        let errors: Vec<&crate::diagnostic::Diagnostic> =
            checked.diagnostics.iter().filter(|d| d.code.starts_with('E')).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        checked
    }

    #[test]
    fn captured_names_resolve_to_their_let() {
        let checked = capture_checked();
        let index = index(&checked, SourceId(0));
        let let_span = |name: &str| {
            let at = CAPTURE.find(&format!("let {name}:")).expect("let") + 4;
            Span::new(at, at + name.len())
        };
        for (line, before, name) in [
            ("capture id_tail", "capture ", "id_tail"),
            ("capture pay_date", "capture ", "pay_date"),
            ("expect value id_tail", "expect value ", "id_tail"),
            ("expect value call_at", "expect value ", "call_at"),
        ] {
            let at = cursor(CAPTURE, line, 0, before) + 1;
            let def = index.definition(at).unwrap_or_else(|| panic!("{line}: no definition"));
            assert_eq!(def, FileSpan::new(SourceId(0), let_span(name)), "{line}");
        }
        // The let, its capture, the guard that reads it, and the test's `expect value`.
        let refs = index.references(cursor(CAPTURE, "capture id_tail", 0, "capture ") + 1, true);
        let places: Vec<&str> = refs.iter().map(|r| &CAPTURE[r.span.range()]).collect();
        assert_eq!(places, ["id_tail"; 4], "{refs:?}");
        let lines: Vec<usize> = refs.iter().map(|r| CAPTURE[..r.span.start as usize].lines().count()).collect();
        assert_eq!(lines, [10, 16, 17, 53]);
        assert_eq!(index.references(cursor(CAPTURE, "capture id_tail", 0, "capture ") + 1, false).len(), 3);
    }

    #[test]
    fn capture_hovers() {
        let checked = capture_checked();
        let index = index(&checked, SourceId(0));
        let cases = [
            ("capture id_tail", 0, "capture "),
            ("let pay_amount", 0, "let "),
            ("amount_due: money max", 0, "amount_"),
            ("on captured if pay_date", 0, "if "),
            ("on captured if pay_date", 0, "<= "),
            ("on captured if pay_date", 0, "and "),
            ("{{call_at}}", 0, "{{"),
            ("on captured if call_at", 0, ">= "),
            ("on captured if id_tail", 0, "on "),
            ("on captured => { set ok", 0, "on "),
            ("on captured if call_at", 0, "on "),
            ("expect value call_at", 0, "= "),
        ];
        let mut out = String::new();
        for (line, nth, before) in cases {
            let at = cursor(CAPTURE, line, nth, before) + 1;
            let found = index.at(at).unwrap_or_else(|| panic!("nothing at {line} after {before}"));
            out.push_str(&format!("## {:?} `{}` in `{line}`\n{}\n\n", found.kind, found.name, found.hover));
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn capture_completions() {
        let checked = capture_checked();
        let cases = [
            ("an ask's options after its question", "ask \"请问您大概哪天能还款", "还款?\" "),
            ("the lets `capture` may read into", "capture pay_date", "capture "),
            ("`digits` after capturing into a text", "capture id_tail", "id_tail "),
            ("no `digits` for a date", "capture pay_date", "pay_date "),
            ("the options left", "capture pay_date retries 2", "retries 2 "),
            ("`captured` among the patterns of an ask that captures", "on _ => hangup", "on "),
            ("no `captured` in an objection handler", "on optout", "on "),
            ("values in a guard", "on captured if pay_date", "<= "),
            ("values in a prompt", "{{call_at}}", "{{"),
            ("types", "let call_at", ": "),
            ("after a number's type", "let pay_amount", "money "),
            ("after a text's type", "let id_tail", "text "),
            ("after an input's type", "amount_due: money", "money "),
            ("script members", "  digit_timeout", "  "),
            ("test statements", "  reply dtmf", "  "),
            ("after `expect`", "expect value id_tail", "expect "),
            ("after `expect value`", "expect value id_tail", "value "),
            ("after `reply`", "reply dtmf", "reply "),
            ("inputs in a test's `input`", "input { name: \"张三\"", "input { "),
        ];
        let mut out = String::new();
        for (what, line, before) in cases {
            let at = cursor(CAPTURE, line, 0, before);
            let line_start = CAPTURE[..at as usize].rfind('\n').map_or(0, |i| i + 1);
            let line_end = CAPTURE[at as usize..].find('\n').map_or(CAPTURE.len(), |i| i + at as usize);
            out.push_str(&format!(
                "## {what}\n{}‸{}\n",
                CAPTURE[line_start..at as usize].trim_start(),
                &CAPTURE[at as usize..line_end]
            ));
            list_completions(&completions(&checked, SourceId(0), at), &mut out);
        }
        insta::assert_snapshot!(out);
    }

    /// Completions as the snapshots list them: one a line, intents counted (there are many).
    fn list_completions(items: &[Completion], out: &mut String) {
        let intents = items.iter().filter(|c| c.kind == CompletionKind::Intent).count();
        for c in items.iter().filter(|c| c.kind != CompletionKind::Intent) {
            let detail = c.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
            out.push_str(&format!("- {} ({:?}){detail}\n", c.label, c.kind));
        }
        if intents > 0 {
            out.push_str(&format!("- and {intents} intents\n"));
        }
        out.push('\n');
    }

    #[test]
    fn capture_completions_while_typing() {
        let labels = |src: &str, at: usize| -> Vec<String> {
            completions(&check_source("t.call", src), SourceId(0), at as u32).into_iter().map(|c| c.label).collect()
        };
        // A new branch of an ask that captures, not yet written past `on `.
        let src =
            CAPTURE.replacen("        on captured => { set ok", "        on \n        on captured => { set ok", 1);
        let at = src.find("        on \n").expect("inserted") + 11;
        assert!(labels(&src, at).contains(&"captured".to_string()), "{:?}", labels(&src, at));
        // A new ask at the end of a step, its options and then the lets to capture into.
        let src = CAPTURE.replacen(
            "    step ring_back {",
            "    step later {\n      ask \"哪天?\" capture \n    }\n    step ring_back {",
            1,
        );
        let at = src.find("\" capture \n").expect("inserted") + 2;
        assert_eq!(labels(&src, at), ["capture", "timeout", "retries", "bargein off"]);
        let at = src.find("capture \n").expect("inserted") + 8;
        assert_eq!(labels(&src, at), ["call_at", "id_tail", "pay_amount", "pay_date"]);
        // A guard of `captured` is an expression: values, not patterns.
        let src =
            CAPTURE.replacen("on captured => retry", "on captured if pay_date < \n        on captured => retry", 1);
        let at = src.find("pay_date < \n").expect("inserted") + 11;
        let found = labels(&src, at);
        assert!(found.contains(&"today".to_string()) && !found.contains(&"silence".to_string()), "{found:?}");
    }

    #[test]
    fn readings_follow_the_locale() {
        let src = CAPTURE.replacen("  purpose collection", "  purpose collection\n  locale \"en-US\"", 1);
        let checked = check_source("t.call", &src);
        let index = index(&checked, SourceId(0));
        let time = index.at(cursor(&src, "on captured if call_at", 0, ">= ") + 1).expect("a time");
        assert!(time.hover.ends_with("read aloud: 9:00 AM"), "{}", time.hover);
        let call_at = index.at(cursor(&src, "{{call_at}}", 0, "{{") + 1).expect("a value");
        assert!(call_at.hover.contains("`09:00` → 9:00 AM"), "{}", call_at.hover);
        let at = cursor(&src, "{{call_at}}", 0, "{{");
        let details: Vec<String> =
            completions(&checked, SourceId(0), at).into_iter().filter_map(|c| c.detail).collect();
        assert!(details.contains(&"let: time, 15:30 reads 3:30 PM".to_string()), "{details:?}");
    }

    /// Flows and a handler set (§12): two flows of the file, and a flow and a set imported
    /// from `faq.call`.
    const FLOWS: &str = r#"use std.zh.common
use "./faq.call"

flow confirm_time "确认时间" (slot: time) {
  say "好的,{{slot}}再联系您。"
}

flow ask_callback_time "预约回访" (reason: text) {
  let slot: time = 10:00
  say "因为{{reason}},我们需要和您约个时间。"
  ask "您看什么时间方便再联系您?" capture slot retries 1 {
    on captured => {
      callback at slot
      call confirm_time(slot)
      return
    }
    on silence, unknown => retry
    on exhausted => return
  }
}

script reminder "提醒" {
  purpose service
  outcomes { done, refused }

  opening {
    say "您好,这里是星海银行,本次通话将被录音。"
    ask "请问您现在方便吗?" retries 1 {
      on yes => goto core
      on busy => call book_or_give_up("您现在不方便")
      on no => {
        callback on today + 1 at 15:30
        hangup refused
      }
      on silence, unknown => retry
      on exhausted => hangup refused
    }
  }
  core {
    call ask_callback_time("账单提醒")
    say "感谢您的配合。"
    hangup done
  }
  objection {
    on emotion angry, complaint => transfer "senior"
    include common_faq
  }
}
"#;

    const FAQ: &str = r#"use std.zh.common

outcomes { booked goal }

flow book_or_give_up (reason: text sensitive) {
  step first {
    ask "还有其他问题吗?" {
      on no => goto done
      on yes, silence, unknown => goto done
    }
  }
  step done {
    say "再见。"
    hangup booked
  }
}

handlers common_faq {
  on who limit 3 => {
    say "我们是星海银行信用卡中心。"
    listen
  }
  on repeat => resume
}
"#;

    fn flows_checked(main: &str) -> Checked {
        let mut files = crate::check::MemoryFiles::default();
        files.0.insert("faq.call".into(), FAQ.into());
        crate::check::check(vec![crate::source::Source::new("main.call", main)], &mut files)
    }

    fn faq_id(checked: &Checked) -> SourceId {
        checked.sources.find("faq.call").expect("faq.call is imported")
    }

    #[test]
    fn flows_check_clean() {
        let checked = flows_checked(FLOWS);
        let errors: Vec<&crate::diagnostic::Diagnostic> =
            checked.diagnostics.iter().filter(|d| d.code.starts_with('E')).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn flows_and_sets_resolve_also_across_files() {
        let checked = flows_checked(FLOWS);
        let faq = faq_id(&checked);
        let index = index(&checked, SourceId(0));
        let def_text = |at: u32| {
            let def = index.definition(at).unwrap_or_else(|| panic!("no definition at {at}"));
            (def.file, checked.sources.get(def.file).text[def.span.range()].to_string(), def.span.start)
        };
        // A flow imported with `use "./x.call"`, and a handler set.
        let at = cursor(FLOWS, "call book_or_give_up", 0, "call ") + 1;
        assert_eq!(def_text(at), (faq, "book_or_give_up".into(), FAQ.find("book_or_give_up").unwrap() as u32));
        let at = cursor(FLOWS, "include common_faq", 0, "include ") + 1;
        assert_eq!(def_text(at), (faq, "common_faq".into(), FAQ.find("common_faq").unwrap() as u32));
        // A flow of the file, a parameter and a let inside a flow.
        let at = cursor(FLOWS, "call confirm_time", 0, "call ") + 1;
        assert_eq!(def_text(at), (SourceId(0), "confirm_time".into(), FLOWS.find("confirm_time").unwrap() as u32));
        let at = cursor(FLOWS, "因为{{reason}}", 0, "{{") + 1;
        assert_eq!(def_text(at).2, cursor(FLOWS, "(reason: text)", 0, "("));
        let at = cursor(FLOWS, "call confirm_time(slot)", 0, "(") + 1;
        assert_eq!(def_text(at).2, cursor(FLOWS, "let slot", 0, "let "));
        let at = cursor(FLOWS, "callback at slot", 0, "at ") + 1;
        assert_eq!(def_text(at).2, cursor(FLOWS, "let slot", 0, "let "));
        // The parameter `slot` of confirm_time is not the let `slot` of ask_callback_time.
        let at = cursor(FLOWS, "好的,{{slot}}", 0, "{{") + 1;
        assert_eq!(def_text(at).2, cursor(FLOWS, "(slot: time)", 0, "("));
        // References: the definition and the calls.
        let refs = index.references(cursor(FLOWS, "call confirm_time", 0, "call ") + 1, true);
        assert_eq!(refs.len(), 2, "{refs:?}");
        let refs = index.references(cursor(FLOWS, "flow ask_callback_time", 0, "flow ") + 1, false);
        assert_eq!(refs.len(), 1, "{refs:?}");
        assert_eq!(index.references(cursor(FLOWS, "let slot", 0, "let ") + 1, true).len(), 4);
        // Rename: a flow, a set (its definition in the other file), not to a reserved word.
        let places = index.rename(&checked, cursor(FLOWS, "call ask_callback_time", 0, "call ") + 1, "ask_time");
        assert_eq!(places.expect("renames").len(), 2);
        let places = index.rename(&checked, cursor(FLOWS, "include common_faq", 0, "include ") + 1, "faq");
        let files: Vec<SourceId> = places.expect("renames").iter().map(|p| p.file).collect();
        assert_eq!(files, [SourceId(0), faq]);
        assert!(index.rename(&checked, cursor(FLOWS, "call confirm_time", 0, "call ") + 1, "listen").is_err());
        // `expect step FLOW.STEP` in a test names a flow's step, also in another file.
        let src = format!(
            "{FLOWS}\ntest \"busy\" for reminder {{\n  reply \"我在忙\"\n  expect step book_or_give_up.done\n}}\n"
        );
        let checked2 = flows_checked(&src);
        let index2 = super::index(&checked2, SourceId(0));
        let at = cursor(&src, "expect step book_or_give_up", 0, "step ") + 1;
        let def = index2.definition(at).expect("the flow");
        assert_eq!((def.file, def.span.start), (faq, FAQ.find("book_or_give_up").unwrap() as u32));
        let at = cursor(&src, "expect step book_or_give_up", 0, ".") + 1;
        let def = index2.definition(at).expect("the flow's step");
        assert_eq!((def.file, def.span.start), (faq, cursor(FAQ, "step done", 0, "step ")));
        let at = cursor(&src, "expect step book_or_give_up", 0, "step ");
        let labels: Vec<String> = completions(&checked2, SourceId(0), at).into_iter().map(|c| c.label).collect();
        assert!(labels.iter().any(|l| l == "book_or_give_up.done"), "{labels:?}");
        // In the imported file: a flow's steps.
        let faq_index = super::index(&checked, faq);
        let at = cursor(FAQ, "on no => goto done", 0, "goto ") + 1;
        let def = faq_index.definition(at).expect("a step of the flow");
        assert_eq!(def.span.start, cursor(FAQ, "step done", 0, "step "));
    }

    #[test]
    fn flow_hovers() {
        let checked = flows_checked(FLOWS);
        let index = index(&checked, SourceId(0));
        let faq_index = super::index(&checked, faq_id(&checked));
        let cases = [
            (&index, FLOWS, "on busy => call book_or_give_up", "call "),
            (&index, FLOWS, "call ask_callback_time(", "call "),
            (&index, FLOWS, "call confirm_time(slot)", "call "),
            (&index, FLOWS, "flow confirm_time", "flow "),
            (&index, FLOWS, "include common_faq", "include "),
            (&index, FLOWS, "因为{{reason}}", "{{"),
            (&index, FLOWS, "let slot", "let "),
            (&index, FLOWS, "callback on today", "on "),
            (&faq_index, FAQ, "flow book_or_give_up", "("),
            (&faq_index, FAQ, "on no => goto done", "goto "),
            (&faq_index, FAQ, "handlers common_faq", "handlers "),
        ];
        let mut out = String::new();
        for (index, src, line, before) in cases {
            let at = cursor(src, line, 0, before) + 1;
            let found = index.at(at).unwrap_or_else(|| panic!("nothing at {line} after {before}"));
            out.push_str(&format!("## {:?} `{}` in `{line}`\n{}\n\n", found.kind, found.name, found.hover));
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn flow_completions() {
        let with = |line: &str, insert: &str| FLOWS.replacen(line, &format!("{insert}\n{line}"), 1);
        let cases = [
            ("the flows after `call`", with("    call ask_callback_time(", "    call "), "    call \n", "call "),
            (
                "the handler sets after `include`",
                with("    include common_faq", "    include "),
                "    include \n",
                "include ",
            ),
            ("statements in a flow: `let` and `return`", with("  say \"因为", "  "), "  \n  say \"因为", "  "),
            (
                "`listen` in a branch of an ask",
                with("      callback at slot", "      "),
                "      \n      callback at",
                "      ",
            ),
            ("statements in objection: `include`", with("    include common_faq", "    "), "    \n    include", "    "),
            ("no `return` nor `listen` in a section", with("    say \"感谢", "    "), "    \n    say \"感谢", "    "),
            ("values in a flow: its parameter and let", FLOWS.to_string(), "因为{{reason}}", "因为{{"),
            (
                "types of a flow's parameter",
                FLOWS.replacen("(reason: text)", "(reason: )", 1),
                "(reason: )",
                "(reason: ",
            ),
            (
                "in a handler set: `listen`, no `goto` nor `step`",
                format!("{FLOWS}\nhandlers local_faq {{\n  on who => {{\n    \n  }}\n}}\n"),
                "  on who => {\n    \n",
                "  on who => {\n    ",
            ),
            ("top-level words", with("script reminder", ""), "\nscript reminder", ""),
        ];
        let mut out = String::new();
        for (what, src, line, before) in cases {
            let checked = flows_checked(&src);
            let at = cursor(&src, line, 0, before);
            out.push_str(&format!("## {what}\n"));
            list_completions(&completions(&checked, SourceId(0), at), &mut out);
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn outline_of_flows_and_sets() {
        let (file, _) = crate::syntax::parse(FAQ, SourceId(0));
        let symbols = symbols(&file);
        let names: Vec<(&str, SymbolKind, Option<&str>)> =
            symbols.iter().map(|s| (s.name.as_str(), s.kind, s.detail.as_deref())).collect();
        assert_eq!(
            names,
            [
                ("book_or_give_up", SymbolKind::Flow, Some("(reason: text sensitive)")),
                ("common_faq", SymbolKind::Handlers, Some("2 handlers")),
            ]
        );
        let steps: Vec<&str> = symbols[0].children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(steps, ["first", "done"]);
        let (file, _) = crate::syntax::parse(FLOWS, SourceId(0));
        let details: Vec<Option<String>> = symbols_of(&file);
        assert_eq!(details[0].as_deref(), Some("(slot: time) 确认时间"));
    }

    fn symbols_of(file: &File) -> Vec<Option<String>> {
        symbols(file).into_iter().map(|s| s.detail).collect()
    }

    /// Actions (§13): one imported from `lookup.call`, one of the file, called in a flow and in
    /// the script, their outputs read, and mocked by a test.
    const ACTIONS: &str = r#"use std.zh.common
use "./lookup.call"

action send_link "发送还款链接" {
  input { phone_tail: text, amount: money }
  output { link: text }
}

flow fetch_balance (tail: text) {
  do balance_lookup(account_tail = tail) timeout 2s {
    on ok => {
      say "您的欠款是{{balance_lookup.balance | money}}。"
      return
    }
    on failed => {
      say "系统繁忙。"
      return
    }
  }
}

script remind "提醒" {
  purpose service
  input { account_tail: text, amount_due: money }
  outcomes { done, refused }
  let due: date = today

  opening {
    say "您好,这里是星海银行,本次通话将被录音。"
    do balance_lookup(account_tail = account_tail) {
      on ok => {
        set due = balance_lookup.due
        goto core
      }
      on failed => hangup refused
    }
  }
  core {
    call fetch_balance(account_tail)
    do send_link(phone_tail = account_tail, amount = amount_due) {
      on ok => {
        sms "还款链接:{{send_link.link}}"
        hangup done
      }
      on failed => hangup done
    }
  }
}

test "the link fails" for remind {
  input { account_tail: "8831", amount_due: 3500.00 }
  mock balance_lookup ok { balance: 3500.00, due: 2026-12-01 }
  mock send_link failed
  expect hangup done
}
"#;

    const LOOKUP: &str = r#"action balance_lookup "查询欠款" {
  input { account_tail: text }
  output { balance: money, due: date }
}
"#;

    fn actions_checked(main: &str) -> Checked {
        let mut files = crate::check::MemoryFiles::default();
        files.0.insert("lookup.call".into(), LOOKUP.into());
        crate::check::check(vec![crate::source::Source::new("main.call", main)], &mut files)
    }

    #[test]
    fn actions_check_clean() {
        let checked = actions_checked(ACTIONS);
        let errors: Vec<&crate::diagnostic::Diagnostic> =
            checked.diagnostics.iter().filter(|d| d.code.starts_with('E')).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn actions_resolve_also_across_files() {
        let checked = actions_checked(ACTIONS);
        let lookup = checked.sources.find("lookup.call").expect("lookup.call is imported");
        let index = index(&checked, SourceId(0));
        let def_of = |line: &str, nth: usize, before: &str| {
            let at = cursor(ACTIONS, line, nth, before) + 1;
            let def = index.definition(at).unwrap_or_else(|| panic!("no definition in {line} after {before}"));
            (def.file, checked.sources.get(def.file).text[def.span.range()].to_string(), def.span.start)
        };
        let in_lookup = |line: &str, before: &str| (lookup, cursor(LOOKUP, line, 0, before));
        let at_def = |(file, name, start): (SourceId, String, u32)| ((file, start), name);
        // The imported action: from a `do` in a flow and in a script, `NAME.FIELD`, a mock.
        for (line, nth, before) in [
            ("do balance_lookup(account_tail = tail)", 0, "do "),
            ("do balance_lookup(account_tail = account_tail)", 0, "do "),
            ("set due = balance_lookup.due", 0, "= "),
            ("{{balance_lookup.balance", 0, "{{"),
            ("mock balance_lookup", 0, "mock "),
        ] {
            let found = at_def(def_of(line, nth, before));
            assert_eq!(found, (in_lookup("action balance_lookup", "action "), "balance_lookup".into()), "{line}");
        }
        // Its fields: an input given by a `do`, outputs read and mocked.
        let found = at_def(def_of("do balance_lookup(account_tail = tail)", 0, "("));
        assert_eq!(found, (in_lookup("input { account_tail", "input { "), "account_tail".into()));
        let found = at_def(def_of("set due = balance_lookup.due", 0, "balance_lookup."));
        assert_eq!(found, (in_lookup("due: date", ""), "due".into()));
        let found = at_def(def_of("mock balance_lookup ok", 0, "ok { "));
        assert_eq!(found, (in_lookup("balance: money", ""), "balance".into()));
        // The action of this file.
        let found = at_def(def_of("do send_link", 0, "do "));
        assert_eq!(found, ((SourceId(0), cursor(ACTIONS, "action send_link", 0, "action ")), "send_link".into()));
        let found = at_def(def_of("{{send_link.link}}", 0, "send_link."));
        assert_eq!(found, ((SourceId(0), cursor(ACTIONS, "output { link", 0, "output { ")), "link".into()));
        // References: the definition, the `do`s, the reads and the mock.
        let at = cursor(ACTIONS, "mock balance_lookup", 0, "mock ") + 1;
        let refs = index.references(at, true);
        assert_eq!(refs.len(), 6, "{refs:?}");
        assert_eq!(refs.iter().filter(|r| r.file == lookup).count(), 1, "{refs:?}");
        assert_eq!(index.references(at, false).len(), 5);
        let at = cursor(ACTIONS, "action send_link", 0, "action ") + 1;
        let refs: Vec<&str> = index.references(at, true).iter().map(|r| &ACTIONS[r.span.range()]).collect();
        assert_eq!(refs, ["send_link"; 4]);
        // An output: its declaration and its read.
        let at = cursor(ACTIONS, "{{send_link.link}}", 0, "send_link.") + 1;
        assert_eq!(index.references(at, true).len(), 2);
        // Rename: an imported action changes its definition and every site; not to a reserved
        // word; a field is not renamed.
        let places = index
            .rename(&checked, cursor(ACTIONS, "set due = balance_lookup", 0, "= ") + 1, "lookup_balance")
            .expect("renames");
        assert_eq!(places.len(), 6);
        assert_eq!(places.iter().filter(|p| p.file == lookup).count(), 1);
        assert!(places.iter().all(|p| checked.sources.get(p.file).text[p.span.range()] == *"balance_lookup"));
        let places = index.rename(&checked, cursor(ACTIONS, "do send_link", 0, "do ") + 1, "send_sms_link");
        assert_eq!(places.expect("renames").len(), 4);
        assert!(index.rename(&checked, cursor(ACTIONS, "do send_link", 0, "do ") + 1, "sms").is_err());
        let err = index.rename(&checked, cursor(ACTIONS, "{{send_link.link}}", 0, "send_link.") + 1, "url");
        assert!(err.is_err());
        // In the imported file: the action and its fields are definitions.
        let lookup_index = super::index(&checked, lookup);
        let found = lookup_index.at(cursor(LOOKUP, "action balance_lookup", 0, "action ") + 1).expect("the action");
        assert!(found.is_def && found.kind == Kind::Action, "{found:?}");
        let found = lookup_index.at(cursor(LOOKUP, "due: date", 0, "") + 1).expect("an output");
        assert!(found.is_def && found.kind == Kind::Field, "{found:?}");
    }

    #[test]
    fn action_hovers() {
        let checked = actions_checked(ACTIONS);
        let index = index(&checked, SourceId(0));
        let cases = [
            ("do balance_lookup(account_tail = tail)", "do "),
            ("do balance_lookup(account_tail = tail)", "("),
            ("set due = balance_lookup.due", "= "),
            ("set due = balance_lookup.due", "balance_lookup."),
            ("action send_link", "action "),
            ("input { phone_tail", "input { "),
            ("do send_link(phone_tail", ", "),
            ("{{send_link.link}}", "send_link."),
            ("mock balance_lookup ok", "mock "),
            ("mock balance_lookup ok", ", "),
        ];
        let mut out = String::new();
        for (line, before) in cases {
            let at = cursor(ACTIONS, line, 0, before) + 1;
            let found = index.at(at).unwrap_or_else(|| panic!("nothing at {line} after {before}"));
            out.push_str(&format!("## {:?} `{}` in `{line}`\n{}\n\n", found.kind, found.name, found.hover));
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn action_completions() {
        let with = |line: &str, insert: &str| ACTIONS.replacen(line, &format!("{insert}\n{line}"), 1);
        let cases = [
            ("the actions after `do`", with("    call fetch_balance", "    do "), "    do \n", "do "),
            (
                "the inputs of `do NAME(`",
                with("    call fetch_balance", "    do send_link("),
                "    do send_link(\n",
                "send_link(",
            ),
            (
                "the inputs not given yet",
                with("    call fetch_balance", "    do send_link(amount = amount_due, "),
                "    do send_link(amount",
                "amount_due, ",
            ),
            (
                "the outputs after `NAME.`",
                with("        goto core", "        set due = balance_lookup."),
                "lookup.\n",
                ".",
            ),
            (
                "the outputs in a prompt",
                ACTIONS.replacen("{{send_link.link}}", "{{send_link.}}", 1),
                "{{send_link.}}",
                "send_link.",
            ),
            (
                "`ok` and `failed` after `on` in a `do`",
                ACTIONS.replacen("      on failed => hangup refused", "      on ", 1),
                "      on \n",
                "on ",
            ),
            (
                "the branch a `do` lacks, where a branch goes",
                ACTIONS.replacen("      on failed => hangup refused", "      ", 1),
                "    }\n      \n",
                "    }\n      ",
            ),
            ("statements: `do` and `sms`", with("    call fetch_balance", "    "), "    \n    call fetch", "    "),
            ("the actions after `mock`", with("  mock send_link", "  mock "), "  mock \n", "mock "),
            ("after `mock NAME`", with("  mock send_link", "  mock send_link "), "  mock send_link \n", "send_link "),
            (
                "the outputs a mock has not given",
                ACTIONS.replacen("  mock send_link failed", "  mock balance_lookup ok { balance: 1.00, ", 1),
                "{ balance: 1.00, \n",
                "1.00, ",
            ),
            ("test statements: `mock`", with("  expect hangup", "  "), "  \n  expect hangup", "  "),
            ("after `expect`: `sms`", with("  expect hangup", "  expect "), "  expect \n", "expect "),
        ];
        let mut out = String::new();
        for (what, src, line, before) in cases {
            let checked = actions_checked(&src);
            let at = cursor(&src, line, 0, before);
            out.push_str(&format!("## {what}\n"));
            list_completions(&completions(&checked, SourceId(0), at), &mut out);
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn an_action_without_outputs_hovers_without_an_output_block() {
        let src = "action notify \"通知\" {\n  input { tail: text }\n}\n";
        let checked = check_source("t.call", src);
        let found = index(&checked, SourceId(0)).at(cursor(src, "notify", 0, "")).expect("the action").hover.clone();
        assert!(
            found.starts_with("```callscript\naction notify \"通知\" {\n  input { tail: text }\n}\n```"),
            "{found}"
        );
        assert!(!found.contains("output {"), "{found}");
    }

    #[test]
    fn outline_of_actions() {
        let (file, _) = crate::syntax::parse(ACTIONS, SourceId(0));
        let names: Vec<(String, SymbolKind, Option<String>)> =
            symbols(&file).into_iter().map(|s| (s.name, s.kind, s.detail)).collect();
        assert_eq!(
            names[0],
            (
                "send_link".into(),
                SymbolKind::Action,
                Some("(phone_tail: text, amount: money) → link: text 发送还款链接".into())
            )
        );
        assert_eq!(
            names.iter().map(|n| n.1).collect::<Vec<_>>()[1..],
            [SymbolKind::Flow, SymbolKind::Script, SymbolKind::Test]
        );
        let (file, _) = crate::syntax::parse(LOOKUP, SourceId(0));
        assert_eq!(symbols_of(&file), [Some("(account_tail: text) → balance: money, due: date 查询欠款".to_string())]);
    }

    #[test]
    fn outline() {
        let (file, _) = crate::syntax::parse(SRC, SourceId(0));
        let symbols = symbols(&file);
        assert_eq!(symbols[0].name, "s");
        let names: Vec<&str> = symbols[0].children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["pay", "opening", "core"]);
        assert_eq!(symbols[0].children[2].children[0].name, "later");
    }
}
