//! Editor queries on a checked compilation: what name stands at an offset, where it is defined
//! and used, what to show on hover, what may be typed next, the outline of a file, and the
//! places a rename changes. The LSP (`src/lsp.rs`) turns these into protocol messages; this
//! module is pure like the rest of the compiler (byte offsets in, spans and text out).

use std::collections::HashMap;

use crate::check::scope::{self, ScriptScope, ValueKind};
use crate::check::{Checked, ParsedFile};
use crate::span::{FileSpan, SourceId, Span};
use crate::syntax::ast::*;
use crate::value::{Date, Money, Value};

/// What a name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Step,
    Section,
    Intent,
    Outcome,
    /// An input, a `let` value or a built-in value (`attempt`, `hour`).
    Value,
    Filter,
    Script,
    /// The target of a `use`.
    Import,
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

    /// The places to change when renaming the step or intent at `offset` to `new_name`.
    pub fn rename(&self, checked: &Checked, offset: u32, new_name: &str) -> Result<Vec<FileSpan>, String> {
        let found = self.at(offset).ok_or("there is no name here")?;
        let what = match found.kind {
            Kind::Step => "step",
            Kind::Intent => "intent",
            _ => return Err("only a step or an intent can be renamed".into()),
        };
        let def = found.def.ok_or(format!("this {what} is not defined anywhere"))?;
        if crate::stdlib::module(&checked.sources.get(def.file).name).is_some() {
            return Err(format!("`{}` comes from the standard library and cannot be renamed", found.name));
        }
        if !is_identifier(new_name) {
            return Err(format!("`{new_name}` is not a name"));
        }
        if RESERVED.contains(&new_name) && !(found.kind == Kind::Intent && new_name == "optout") {
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
    let mut scripts: HashMap<&str, ScriptScope> = HashMap::new();
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
                        outcome_hover(&o.name.name, o.goal),
                    ));
                }
            }
            Item::Script(script) => {
                let scope = scope::script_scope(parsed, &checked.files, script, &base, &mut scratch);
                let mut w = Walker { out: &mut out.occurrences, scope: &scope, checked };
                w.script(script);
                scripts.entry(script.name.name.as_str()).or_insert(scope);
            }
            Item::Test(_) | Item::Flow(_) | Item::Handlers(_) => {}
        }
    }
    for item in &parsed.ast.items {
        if let Item::Test(test) = item {
            let scope = scripts.get(test.script.name.as_str());
            out.occurrences.push(Occurrence {
                kind: Kind::Script,
                name: test.script.name.clone(),
                span: test.script.span,
                def: scope.map(|s| FileSpan::new(file, s.script.name.span)),
                is_def: false,
                hover: format!("test of script `{}`", test.script.name),
            });
            if let Some(scope) = scope {
                let mut w = Walker { out: &mut out.occurrences, scope, checked };
                w.test(test);
            }
        }
    }
    out
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
        };
        let values: Vec<String> = clause.values.iter().map(|v| format!("`{}`", v.value)).collect();
        lines.push(format!("{word}: {}", values.join(", ")));
    }
    if let Some(from) = from {
        lines.push(format!("from `{from}`"));
    }
    lines.join("\n\n")
}

fn outcome_hover(name: &str, goal: bool) -> String {
    let kind = if goal { "a goal: counts as a conversion" } else { "not a goal" };
    format!("{}\n\n{kind}", code(&format!("outcome {name}{}", if goal { " goal" } else { "" })))
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

/// An example value for a filter's hover, and what the filter makes of it.
pub fn filter_example(filter: &str) -> Option<(String, String)> {
    let (shown, value) = match filter {
        "money" => ("1200.50", Value::Money(Money::parse("1200.50")?)),
        "digits" => ("\"8831\"", Value::Text("8831".into())),
        "number" => ("1001", Value::Int(1001)),
        "date" => ("2026-11-24", Value::Date(Date::parse("2026-11-24")?)),
        "mask" => ("\"6222021234567890\"", Value::Text("6222021234567890".into())),
        _ => return None,
    };
    let out = crate::filters::apply(filter, &value)?;
    Some((shown.to_string(), out))
}

struct Walker<'w, 's> {
    out: &'w mut Vec<Occurrence>,
    scope: &'w ScriptScope<'s>,
    checked: &'w Checked,
}

impl Walker<'_, '_> {
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
                            outcome_hover(&o.name.name, o.goal),
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
            self.branch(h);
        }
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
                for b in &ask.branches {
                    self.branch(b);
                }
            }
            StmtKind::Goto(target) => self.target(target),
            StmtKind::If(i) => self.if_stmt(i),
            StmtKind::Transfer { outcome: Some(o), .. } | StmtKind::Hangup(Some(o)) => self.outcome(o),
            StmtKind::Set { name, value } => {
                self.value(name);
                self.expr(value);
            }
            _ => {}
        }
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

    fn branch(&mut self, b: &Branch) {
        for p in &b.patterns {
            if let PatternKind::Intent(name) = &p.kind {
                self.intent(name);
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
                    let hover = match filter_example(&f.name) {
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
            ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            _ => {}
        }
    }

    fn value_hover(&self, name: &str) -> String {
        let Some(info) = self.scope.values.get(name) else {
            return format!("`{name}` is not defined in this script");
        };
        let ty = info.ty.name();
        match info.kind {
            ValueKind::Input => {
                let sensitive = if info.sensitive { " sensitive" } else { "" };
                let mut text = code(&format!("input {name}: {ty}{sensitive}"));
                text.push_str(if info.required {
                    "\n\nrequired: every customer record must give it"
                } else {
                    "\n\noptional: has a default"
                });
                if info.sensitive {
                    text.push_str("\n\nmay be spoken only after `verify` (CS002)");
                }
                text
            }
            ValueKind::Let => code(&format!("let {name}: {ty}")),
            ValueKind::Builtin => {
                let what = if name == "attempt" { "the 1-based attempt number" } else { "the local hour of day" };
                format!("{}\n\nbuilt in: {what}", code(&format!("{name}: int")))
            }
        }
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
            Some(info) => (Some(FileSpan::new(info.file, info.span)), outcome_hover(&name.name, info.goal)),
            None => (None, format!("no outcome `{}` in this script", name.name)),
        };
        self.push(Kind::Outcome, name, def, hover);
    }

    fn target(&mut self, t: &Target) {
        let file = self.file();
        let resolved = self.scope.resolve_target(t).ok().map(|i| &self.scope.steps[i]);
        let step_hover = |s: &scope::StepInfo| {
            if s.implicit {
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

    fn test(&mut self, test: &Test) {
        for s in &test.body {
            match &s.kind {
                TestStmtKind::Input(values) => {
                    for (name, value) in values {
                        self.value(name);
                        self.expr(value);
                    }
                }
                TestStmtKind::Expect(Expect::Step(t)) => self.target(t),
                TestStmtKind::Expect(Expect::Hangup(o)) => self.outcome(o),
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
/// intents and tests.
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
    "optout",
    "transfer",
    "hangup",
    "retry",
    "resume",
    "step",
    "on",
];
const TOP_WORDS: &[&str] = &["use", "script", "intent", "outcomes", "test"];
const MEMBER_WORDS: &[&str] = &[
    "purpose",
    "product",
    "locale",
    "max_duration",
    "listen_timeout",
    "voice",
    "input",
    "let",
    "outcomes",
    "intent",
    "opening",
    "core",
    "closing",
    "objection",
];
const PATTERN_WORDS: &[&str] = &["silence", "unknown", "_", "exhausted", "emotion", "dtmf"];

/// What may be typed at `offset` of `file`: `goto` targets after `goto`, filters after `|`
/// inside `{{ }}`, values inside `{{ }}` and expressions, intents and pattern words after `on`,
/// outcomes after `hangup`, otherwise keywords and names in scope.
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
    let script = parsed
        .ast
        .items
        .iter()
        .filter_map(|i| if let Item::Script(s) = i { Some(s) } else { None })
        .find(|s| s.span.start as usize <= offset && offset <= s.span.end as usize)
        .or_else(|| {
            // In a test: the script it tests.
            let test = parsed.ast.items.iter().find_map(|i| match i {
                Item::Test(t) if t.span.start as usize <= offset && offset <= t.span.end as usize => Some(t),
                _ => None,
            })?;
            parsed.ast.items.iter().find_map(|i| match i {
                Item::Script(s) if s.name.name == test.script.name => Some(s),
                _ => None,
            })
        });
    let scope = script.map(|s| scope::script_scope(parsed, &checked.files, s, &base, &mut scratch));
    let mut out = Vec::new();
    let words = |list: &[&str], out: &mut Vec<Completion>| {
        out.extend(list.iter().map(|w| Completion {
            label: w.to_string(),
            kind: CompletionKind::Keyword,
            detail: None,
        }))
    };
    let in_interp = before.rfind("{{").is_some_and(|open| before.rfind("}}").is_none_or(|close| close < open));
    if in_interp {
        let inside = &before[before.rfind("{{").unwrap_or(0)..];
        if inside.contains('|') {
            for f in crate::filters::FILTERS {
                let detail = filter_example(f).map(|(i, o)| format!("{i} → {o}"));
                out.push(Completion { label: f.to_string(), kind: CompletionKind::Filter, detail });
            }
        } else if let Some(scope) = &scope {
            values(scope, &mut out);
        }
        return out;
    }
    let Some(scope) = scope else {
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
        return out;
    }
    if ends_with_word("hangup") || ends_with_word("outcome") {
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
            out.push(Completion {
                label: e.to_string(),
                kind: CompletionKind::Keyword,
                detail: Some("emotion".into()),
            });
        }
        return out;
    }
    let line = before.trim_start();
    if (line.starts_with("on ") || line == "on") && !before.contains("=>") {
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
        let inside_section = scope.script.members.iter().any(
            |m| matches!(m, Member::Section(s) if s.span.start as usize <= offset && offset <= s.span.end as usize),
        );
        words(if inside_section { STATEMENT_WORDS } else { MEMBER_WORDS }, &mut out);
    }
    out
}

fn values(scope: &ScriptScope, out: &mut Vec<Completion>) {
    let mut names: Vec<(&&str, &scope::ValueInfo)> = scope.values.iter().collect();
    names.sort_by_key(|(n, _)| **n);
    for (name, info) in names {
        let what = match info.kind {
            ValueKind::Input => "input",
            ValueKind::Let => "let",
            ValueKind::Builtin => "built in",
        };
        out.push(Completion {
            label: name.to_string(),
            kind: CompletionKind::Value,
            detail: Some(format!("{what}: {}", info.ty.name())),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_source;

    const SRC: &str = "use std.zh.common\n\nscript s {\n  purpose service\n  input { amount: money }\n  outcomes { done goal }\n  intent pay \"付款\" { phrases \"还了\" }\n  opening {\n    say \"您好,本次通话将被录音。{{amount | money}}\"\n    ask \"还吗?\" {\n      on pay => goto core.later\n      on yes => hangup done\n      on _ => goto later\n    }\n  }\n  core {\n    step later { hangup done }\n  }\n}\n";

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
