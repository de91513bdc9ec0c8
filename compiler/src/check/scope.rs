//! Names (LANGUAGE.md §9.3): per script, separate namespaces for sections and steps, outcomes,
//! intents and values. [`ScriptScope`] is built once and shared by the type and flow checks,
//! the compliance rules, lowering and the LSP.

use rustc_hash::FxHashMap as HashMap;

use crate::check::settings::Settings;
use crate::check::{ParsedFile, settings};
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};
use crate::suggest::closest;
use crate::syntax::ast::*;

/// A step of the flow: a `step` block, or a section written without steps.
#[derive(Clone, Debug)]
pub struct StepInfo<'a> {
    pub section: SectionKind,
    pub name: String,
    pub name_span: Span,
    pub stmts: &'a [Stmt],
    /// The span of the whole step (or section).
    pub span: Span,
    /// True when the section has no `step` blocks: the step is named after the section.
    pub implicit: bool,
}

#[derive(Clone, Debug)]
pub struct IntentInfo<'a> {
    pub def: &'a Intent,
    pub file: SourceId,
    /// Declaration order for ties (§9.1): imports in `use` order, then the file, then the script.
    pub order: usize,
    pub imported: bool,
}

#[derive(Clone, Debug)]
pub struct OutcomeInfo {
    pub goal: bool,
    /// Its title (`promised "承诺还款"`), shown on hover.
    pub title: Option<String>,
    pub span: Span,
    pub file: SourceId,
    /// Built in (`transferred`, `timeout`) or imported: never reported as unused.
    pub external: bool,
}

impl OutcomeInfo {
    /// An outcome as declared in `file`; `external` when it comes from an import.
    fn declared(o: &OutcomeDef, file: SourceId, external: bool) -> OutcomeInfo {
        OutcomeInfo {
            goal: o.goal,
            title: o.title.as_ref().map(|t| t.value.clone()),
            span: o.name.span,
            file,
            external,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Input,
    Let,
    Builtin,
}

#[derive(Clone, Debug)]
pub struct ValueInfo {
    pub ty: Type,
    pub sensitive: bool,
    pub kind: ValueKind,
    pub span: Span,
    pub required: bool,
}

pub const EMOTIONS: &[&str] = &["angry", "upset", "neutral", "happy"];
pub const BUILTIN_OUTCOMES: &[&str] = &["transferred", "timeout"];

/// A flow visible in a file: its own or imported (§12).
#[derive(Clone, Copy, Debug)]
pub struct FlowRef<'a> {
    pub def: &'a Flow,
    pub file: SourceId,
}

impl FlowRef<'_> {
    /// Identifies the flow across files.
    pub fn key(&self) -> (SourceId, u32) {
        (self.file, self.def.name.span.start)
    }
}

/// A handler set visible in a file (§12).
#[derive(Clone, Copy, Debug)]
pub struct SetRef<'a> {
    pub def: &'a HandlerSet,
    pub file: SourceId,
}

/// The script a flow's or handler set's scope stands in for: none.
pub static NO_SCRIPT: Script = Script {
    allows: Vec::new(),
    name: Ident { name: String::new(), span: Span { start: 0, end: 0 } },
    title: None,
    members: Vec::new(),
    span: Span { start: 0, end: 0 },
};

/// Resolved names of one script (or of a flow or handler set: see [`unit_scope`]).
pub struct ScriptScope<'a> {
    pub file: SourceId,
    pub script: &'a Script,
    /// Set when this is the scope of a flow: its steps, parameters and lets (§12).
    pub flow: Option<&'a Flow>,
    /// Set when this is the scope of a handler set.
    pub set: Option<&'a HandlerSet>,
    /// Every parsed file, to see through calls into other files.
    pub files: &'a [ParsedFile],
    /// Flows and handler sets visible in the file: its own, then imported ones.
    pub flows: HashMap<&'a str, FlowRef<'a>>,
    pub sets: HashMap<&'a str, SetRef<'a>>,
    /// The parameters of a flow (read-only values, in order).
    pub params: Vec<&'a Param>,
    /// Whether each flow (by [`FlowRef::key`]) ends the call on every path; None while it is
    /// being computed (a recursion, reported elsewhere).
    pub(crate) flow_ends: std::cell::RefCell<HashMap<(SourceId, u32), Option<bool>>>,
    pub settings: Settings,
    /// Flow steps in order: opening, core, closing (objection is not a flow section).
    pub steps: Vec<StepInfo<'a>>,
    /// Indices into `steps` of the `step` blocks with each name (several across sections).
    pub step_names: HashMap<&'a str, Vec<usize>>,
    /// Sections present, with the index of their first step in `steps`.
    pub sections: HashMap<SectionKind, usize>,
    pub objection: Option<&'a Section>,
    pub intents: HashMap<&'a str, IntentInfo<'a>>,
    pub outcomes: HashMap<&'a str, OutcomeInfo>,
    pub values: HashMap<&'a str, ValueInfo>,
    pub inputs: Vec<&'a Input>,
    pub lets: Vec<&'a Let>,
    /// Actions in scope (§13): imported and the file's own.
    pub actions: HashMap<&'a str, &'a Action>,
    /// Actions some `do` of the script sends a sensitive value: their outputs are sensitive
    /// (§16.6).
    pub sensitive_actions: rustc_hash::FxHashSet<&'a str>,
}

impl<'a> ScriptScope<'a> {
    /// Declares an input, a parameter or a let named `name` (`what` for the reserved-word
    /// check): a clash with another value than a built-in is a duplicate; true when declared.
    fn declare_value(
        &mut self,
        id: SourceId,
        name: &'a Ident,
        what: &str,
        ty: Option<Type>,
        info: impl FnOnce(Type) -> ValueInfo,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> bool {
        reserved_check(id, name, what, diagnostics);
        let Some(ty) = ty else { return false };
        if let Some(prev) = self.values.get(name.name.as_str()).filter(|v| v.kind != ValueKind::Builtin) {
            diagnostics.push(duplicate(id, "value", &name.name, name.span, prev.span));
            return false;
        }
        self.values.insert(&name.name, info(ty));
        true
    }

    /// The handler sets a script's `objection` includes, in place: `(index among the
    /// section's own handlers it stands before, set)`; unknown names are skipped (E117).
    pub fn includes(&self) -> Vec<(usize, SetRef<'a>)> {
        let Some(objection) = self.objection else { return Vec::new() };
        objection.includes.iter().filter_map(|i| Some((i.at, *self.sets.get(i.name.name.as_str())?))).collect()
    }

    /// Whether every path through flow `f` ends the call (`hangup`, `transfer`): no `return`
    /// anywhere, and its last step cannot fall off its end (§16.4). A `call` of such a flow
    /// ends a body like `hangup`. Linear: each flow is looked at once per scope.
    pub fn flow_ends_call(&self, f: FlowRef<'a>) -> bool {
        if let Some(known) = self.flow_ends.borrow().get(&f.key()) {
            return known.unwrap_or(false);
        }
        self.flow_ends.borrow_mut().insert(f.key(), None);
        let flows = match self.files.iter().find(|p| p.id == f.file) {
            Some(file) => visible_flows(file, self.files),
            None => HashMap::default(),
        };
        let last: &[Stmt] = match f.def.steps.last() {
            Some(step) => &step.body.stmts,
            None => &f.def.body,
        };
        let returns = f.def.body.iter().chain(f.def.steps.iter().flat_map(|s| &s.body.stmts)).any(has_return);
        let ends = !returns && self.block_ends(last, &flows);
        self.flow_ends.borrow_mut().insert(f.key(), Some(ends));
        ends
    }

    fn block_ends(&self, stmts: &'a [Stmt], flows: &HashMap<&'a str, FlowRef<'a>>) -> bool {
        stmts.iter().any(|s| self.stmt_ends(s, flows))
    }

    fn stmt_ends(&self, stmt: &'a Stmt, flows: &HashMap<&'a str, FlowRef<'a>>) -> bool {
        match &stmt.kind {
            StmtKind::Goto(_)
            | StmtKind::Retry(_)
            | StmtKind::Resume
            | StmtKind::Listen
            | StmtKind::Return
            | StmtKind::Hangup(_)
            | StmtKind::Transfer { .. }
            | StmtKind::Ask(_)
            // §13: both branches of a `do` are required and end like an ask's.
            | StmtKind::Do(_)
            | StmtKind::Error => true,
            StmtKind::If(i) => {
                self.block_ends(&i.then.stmts, flows)
                    && match &i.otherwise {
                        Some(Else::Block(b)) => self.block_ends(&b.stmts, flows),
                        Some(Else::If(s)) => self.stmt_ends(s, flows),
                        None => false,
                    }
            }
            StmtKind::Call { flow, .. } => flows.get(flow.name.as_str()).is_some_and(|f| self.flow_ends_call(*f)),
            _ => false,
        }
    }

    /// Resolves a goto target to a step index, or explains why not.
    pub fn resolve_target(&self, target: &Target) -> Result<usize, Diagnostic> {
        let first = &target.first.name;
        if let Some(flow) = self.flow {
            // §12: `goto` inside a flow names only the flow's own steps.
            let own = target.second.is_none().then(|| self.step_names.get(first.as_str())).flatten();
            return match own {
                Some(found) if !found.is_empty() => Ok(found[0]),
                _ => {
                    let names = self.steps.iter().filter(|s| !s.implicit).map(|s| s.name.as_str());
                    let mut d = Diagnostic::new(
                        "E100",
                        self.file,
                        target.span,
                        format!("there is no step `{}` in flow `{}`", target.display(), flow.name.name),
                    )
                    .label("not a step of this flow");
                    d = match closest(first, names) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(
                            "a flow's `goto` names only its own steps; to leave the flow, `return` (or end the call)",
                        ),
                    };
                    Err(d)
                }
            };
        }
        match &target.second {
            None => {
                if let Some(kind) = SectionKind::from_name(first) {
                    if kind == SectionKind::Objection {
                        return Err(Diagnostic::new("E100", self.file, target.span, "`objection` cannot be the target of a goto")
                            .label("not a flow section")
                            .with_help("objection handlers run by themselves during an `ask`; go to a step of `opening`, `core` or `closing`"));
                    }
                    return match self.sections.get(&kind) {
                        Some(&i) => Ok(i),
                        None => Err(Diagnostic::new(
                            "E100",
                            self.file,
                            target.span,
                            format!("this script has no `{first}` section"),
                        )
                        .label("no such section")
                        .with_help(format!("add `{first} {{ … }}` to the script, or go somewhere else"))),
                    };
                }
                let found = self.step_names.get(first.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                match found {
                    [one] => Ok(*one),
                    [] => {
                        let names = self.steps.iter().filter(|s| !s.implicit).map(|s| s.name.as_str());
                        let mut d = Diagnostic::new(
                            "E100",
                            self.file,
                            target.span,
                            format!("there is no step `{first}` in this script"),
                        )
                        .label("unknown step");
                        if let Some(s) = closest(first, names) {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        Err(d)
                    }
                    many => {
                        let sections: Vec<String> =
                            many.iter().map(|&i| format!("`{}.{first}`", self.steps[i].section.name())).collect();
                        Err(Diagnostic::new(
                            "E105",
                            self.file,
                            target.span,
                            format!("more than one section has a step `{first}`"),
                        )
                        .label("ambiguous")
                        .with_help(format!("name the section: {}", sections.join(" or "))))
                    }
                }
            }
            Some(step) => {
                let Some(kind) = SectionKind::from_name(first).filter(|k| *k != SectionKind::Objection) else {
                    let mut d =
                        Diagnostic::new("E100", self.file, target.first.span, format!("`{first}` is not a section"))
                            .label("expected `opening`, `core` or `closing`");
                    if let Some(s) = closest(first, ["opening", "core", "closing"]) {
                        d = d.with_help(format!("did you mean `{s}.{}`?", step.name));
                    }
                    return Err(d);
                };
                if !self.sections.contains_key(&kind) {
                    return Err(Diagnostic::new(
                        "E100",
                        self.file,
                        target.first.span,
                        format!("this script has no `{first}` section"),
                    )
                    .label("no such section"));
                }
                let in_section = self
                    .step_names
                    .get(step.name.as_str())
                    .and_then(|ids| ids.iter().find(|&&i| self.steps[i].section == kind));
                match in_section {
                    Some(&i) => Ok(i),
                    None => {
                        let names =
                            self.steps.iter().filter(|s| s.section == kind && !s.implicit).map(|s| s.name.as_str());
                        let mut d = Diagnostic::new(
                            "E100",
                            self.file,
                            step.span,
                            format!("step `{}` is not defined in `{first}`", step.name),
                        )
                        .label("unknown step");
                        if let Some(s) = closest(&step.name, names) {
                            d = Diagnostic::new(
                                "E100",
                                self.file,
                                step.span,
                                format!("step `{}` is not defined in `{first}`; did you mean `{s}`?", step.name),
                            )
                            .label("unknown step")
                            .with_help(format!("write `goto {first}.{s}`"));
                        } else if let Some((i, _)) = self.steps.iter().enumerate().find(|(_, s)| s.name == step.name) {
                            d = d.with_help(format!(
                                "there is a step `{}` in `{}`",
                                step.name,
                                self.steps[i].section.name()
                            ));
                        }
                        Err(d)
                    }
                }
            }
        }
    }

    pub fn is_goal(&self, outcome: &str) -> bool {
        self.outcomes.get(outcome).is_some_and(|o| o.goal)
    }

    /// The intents visible in the file before the script's own: used by the recogniser tables.
    pub fn intent(&self, name: &str) -> Option<&IntentInfo<'a>> {
        self.intents.get(name)
    }
}

/// The intents and outcomes a file brings into scope from its imports and its own top level,
/// with diagnostics for clashes.
pub struct FileScope<'a> {
    pub intents: HashMap<&'a str, IntentInfo<'a>>,
    pub outcomes: HashMap<&'a str, OutcomeInfo>,
    pub actions: HashMap<&'a str, &'a Action>,
    pub next_order: usize,
}

impl<'a> FileScope<'a> {
    /// The intents in scope in declaration order (imports in `use` order, then the file's).
    pub fn intents_in_order(&self) -> Vec<&IntentInfo<'a>> {
        let mut infos: Vec<&IntentInfo<'a>> = self.intents.values().collect();
        infos.sort_by_key(|i| i.order);
        infos
    }
}

/// Builds the file-wide scope: imports in `use` order (not transitive), then the file's own
/// top-level intents and outcomes, which shadow imported ones with a warning.
pub fn file_scope<'a>(
    file: &'a ParsedFile,
    files: &'a [ParsedFile],
    diagnostics: &mut Vec<Diagnostic>,
) -> FileScope<'a> {
    let mut scope = FileScope {
        intents: HashMap::default(),
        outcomes: HashMap::default(),
        actions: HashMap::default(),
        next_order: 0,
    };
    let uses: Vec<&Use> =
        file.ast.items.iter().filter_map(|i| if let Item::Use(u) = i { Some(u) } else { None }).collect();
    // Which `use` brought each imported name, to point at both when two imports clash.
    let mut origin: HashMap<&str, Span> = HashMap::default();
    for (n, imported) in file.imports.iter().enumerate() {
        let Some(imported) = imported.and_then(|id| files.iter().find(|f| f.id == id)) else { continue };
        let use_span = uses.get(n).map(|u| u.span).unwrap_or_default();
        for item in &imported.ast.items {
            match item {
                Item::Intent(def) => {
                    let name = def.name.name.as_str();
                    if let Some(first) = origin.get(name).copied().filter(|_| scope.intents.contains_key(name)) {
                        if first != use_span {
                            diagnostics.push(
                                Diagnostic::new(
                                    "E108",
                                    file.id,
                                    use_span,
                                    format!("intent `{name}` is imported twice"),
                                )
                                .label(format!("this import also defines `{name}`"))
                                .with_secondary(file.id, first, "first imported here")
                                .with_help(format!(
                                    "define `{name}` in this file to choose one, or import only one of the two"
                                )),
                            );
                        }
                        continue;
                    }
                    origin.insert(name, use_span);
                    scope
                        .intents
                        .insert(name, IntentInfo { def, file: imported.id, order: scope.next_order, imported: true });
                    scope.next_order += 1;
                }
                Item::Outcomes(block) => {
                    for o in &block.items {
                        let name = o.name.name.as_str();
                        if let Some(first) = scope.outcomes.get(name).map(|_| origin.get(name).copied()) {
                            if first.is_some_and(|f| f != use_span) {
                                diagnostics.push(
                                    Diagnostic::new(
                                        "E108",
                                        file.id,
                                        use_span,
                                        format!("outcome `{name}` is imported twice"),
                                    )
                                    .label(format!("this import also defines `{name}`"))
                                    .with_help(format!(
                                        "define `{name}` in this file to choose one, or import only one of the two"
                                    )),
                                );
                            }
                            continue;
                        }
                        origin.insert(name, use_span);
                        scope.outcomes.insert(name, OutcomeInfo::declared(o, imported.id, true));
                    }
                }
                Item::Action(def) => {
                    scope.actions.entry(def.name.name.as_str()).or_insert(def);
                }
                _ => {}
            }
        }
    }
    let mut local_intents: HashMap<&str, Span> = HashMap::default();
    let mut local_actions: HashMap<&str, Span> = HashMap::default();
    for item in &file.ast.items {
        match item {
            Item::Intent(def) => {
                let name = def.name.name.as_str();
                reserved_check(file.id, &def.name, "intent", diagnostics);
                if let Some(prev) = local_intents.get(name) {
                    diagnostics.push(duplicate(file.id, "intent", name, def.name.span, *prev));
                    continue;
                }
                local_intents.insert(name, def.name.span);
                if scope.intents.get(name).is_some_and(|i| i.imported) {
                    diagnostics.push(shadow_warning(file.id, "intent", name, def.name.span));
                }
                scope.intents.insert(name, IntentInfo { def, file: file.id, order: scope.next_order, imported: false });
                scope.next_order += 1;
            }
            Item::Outcomes(block) => {
                for o in &block.items {
                    let name = o.name.name.as_str();
                    reserved_check(file.id, &o.name, "outcome", diagnostics);
                    if let Some(prev) = scope.outcomes.get(name) {
                        if prev.file == file.id {
                            diagnostics.push(duplicate(file.id, "outcome", name, o.name.span, prev.span));
                            continue;
                        }
                        diagnostics.push(shadow_warning(file.id, "outcome", name, o.name.span));
                    }
                    scope.outcomes.insert(name, OutcomeInfo::declared(o, file.id, false));
                }
            }
            Item::Action(def) => {
                let name = def.name.name.as_str();
                reserved_check(file.id, &def.name, "action", diagnostics);
                if let Some(prev) = local_actions.insert(name, def.name.span) {
                    diagnostics.push(duplicate(file.id, "action", name, def.name.span, prev));
                    continue;
                }
                for (i, field) in def.lists.iter().flat_map(|l| &l.fields).enumerate() {
                    let first =
                        def.lists.iter().flat_map(|l| &l.fields).take(i).find(|f| f.name.name == field.name.name);
                    if let Some(first) = first {
                        diagnostics.push(duplicate(
                            file.id,
                            "field",
                            &field.name.name,
                            field.name.span,
                            first.name.span,
                        ));
                    }
                }
                scope.actions.insert(name, def);
            }
            _ => {}
        }
    }
    scope
}

pub(crate) fn duplicate(file: SourceId, what: &str, name: &str, at: Span, first: Span) -> Diagnostic {
    Diagnostic::new("E104", file, at, format!("{what} `{name}` is defined twice"))
        .label("second definition")
        .with_secondary(file, first, "first defined here")
        .with_help(format!("rename one of them or remove the second `{name}`"))
}

fn shadow_warning(file: SourceId, what: &str, name: &str, at: Span) -> Diagnostic {
    Diagnostic::new("W005", file, at, format!("this {what} `{name}` hides the imported one"))
        .label("local definition wins")
        .with_help("rename it if you meant a different one; the imported one is no longer reachable here")
}

/// What a `let` declares (of a script or a flow).
fn let_info(l: &Let) -> impl FnOnce(Type) -> ValueInfo + '_ {
    |ty| ValueInfo { ty, sensitive: l.sensitive, kind: ValueKind::Let, span: l.name.span, required: false }
}

fn reserved_check(file: SourceId, ident: &Ident, what: &str, diagnostics: &mut Vec<Diagnostic>) {
    if is_reserved(&ident.name) && !(what == "intent" && ident.name == "optout") {
        diagnostics.push(
            Diagnostic::new(
                "E114",
                file,
                ident.span,
                format!(
                    "`{}` is a reserved word and cannot name {} {what}",
                    ident.name,
                    crate::diagnostic::article(what)
                ),
            )
            .label("reserved")
            .with_help(format!("choose another name, e.g. `{}_{}`", ident.name, what)),
        );
    }
}

/// The read-only built-ins every script can read: `attempt` and `hour` (§4), `today` and
/// `weekday` (§11).
pub fn builtin_values() -> impl Iterator<Item = (&'static str, ValueInfo)> {
    [("attempt", Type::Int), ("hour", Type::Int), ("today", Type::Date), ("weekday", Type::Int)].into_iter().map(
        |(name, ty)| {
            let info =
                ValueInfo { ty, sensitive: false, kind: ValueKind::Builtin, span: Span::default(), required: false };
            (name, info)
        },
    )
}

/// The scope a script, a flow or a handler set starts from: the file's intents, actions, flows
/// and sets, `outcomes` and the built-in ones, the built-in values and the default settings.
fn new_scope<'a>(
    file: &'a ParsedFile,
    files: &'a [ParsedFile],
    script: &'a Script,
    base: &FileScope<'a>,
    mut outcomes: HashMap<&'a str, OutcomeInfo>,
) -> ScriptScope<'a> {
    for name in BUILTIN_OUTCOMES {
        outcomes.insert(
            name,
            OutcomeInfo { goal: false, title: None, span: Span::default(), file: file.id, external: true },
        );
    }
    ScriptScope {
        file: file.id,
        script,
        flow: None,
        set: None,
        files,
        flows: visible_flows(file, files),
        sets: visible_sets(file, files),
        params: Vec::new(),
        flow_ends: Default::default(),
        settings: Settings {
            locale: "zh-CN".into(),
            listen_timeout_ms: 5_000,
            digit_timeout_ms: settings::DEFAULT_DIGIT_TIMEOUT_MS,
            confidence: settings::DEFAULT_CONFIDENCE,
            ..Default::default()
        },
        steps: Vec::new(),
        step_names: HashMap::default(),
        sections: HashMap::default(),
        objection: None,
        intents: base.intents.clone(),
        actions: base.actions.clone(),
        sensitive_actions: Default::default(),
        outcomes,
        values: builtin_values().collect(),
        inputs: Vec::new(),
        lets: Vec::new(),
    }
}

/// Builds a script's scope, reporting duplicates, unknown settings and reserved names.
pub fn script_scope<'a>(
    file: &'a ParsedFile,
    files: &'a [ParsedFile],
    script: &'a Script,
    base: &FileScope<'a>,
    diagnostics: &mut Vec<Diagnostic>,
) -> ScriptScope<'a> {
    let id = file.id;
    reserved_check(id, &script.name, "script", diagnostics);
    let mut scope = new_scope(file, files, script, base, base.outcomes.clone());
    let mut seen_settings: HashMap<&str, Span> = HashMap::default();
    let mut sections: Vec<&'a Section> = Vec::new();
    let mut order = base.next_order;
    let mut script_intents: HashMap<&str, Span> = HashMap::default();
    let mut script_outcomes: HashMap<&str, Span> = HashMap::default();
    for member in &script.members {
        match member {
            Member::Setting(setting) => {
                settings::read(id, setting, &mut seen_settings, &mut scope.settings, diagnostics);
            }
            Member::Inputs(block) => {
                for input in &block.items {
                    let info = |ty| ValueInfo {
                        ty,
                        sensitive: input.sensitive,
                        kind: ValueKind::Input,
                        span: input.name.span,
                        required: input.default.is_none(),
                    };
                    if scope.declare_value(id, &input.name, "input", input.ty.ty, info, diagnostics) {
                        scope.inputs.push(input);
                    }
                }
            }
            Member::Let(l) => {
                if scope.declare_value(id, &l.name, "value", l.ty.ty, let_info(l), diagnostics) {
                    scope.lets.push(l);
                }
            }
            Member::Outcomes(block) => {
                for o in &block.items {
                    let name = o.name.name.as_str();
                    reserved_check(id, &o.name, "outcome", diagnostics);
                    if let Some(prev) = script_outcomes.get(name) {
                        diagnostics.push(duplicate(id, "outcome", name, o.name.span, *prev));
                        continue;
                    }
                    if BUILTIN_OUTCOMES.contains(&name) {
                        diagnostics.push(
                            Diagnostic::new("E104", id, o.name.span, format!("`{name}` is a built-in outcome"))
                                .label("already defined by the language")
                                .with_help("`transferred` and `timeout` exist in every script; choose another name"),
                        );
                        continue;
                    }
                    if scope.outcomes.get(name).is_some_and(|p| p.file != id) {
                        diagnostics.push(shadow_warning(id, "outcome", name, o.name.span));
                    }
                    script_outcomes.insert(name, o.name.span);
                    scope.outcomes.insert(name, OutcomeInfo::declared(o, id, false));
                }
            }
            Member::Intent(def) => {
                let name = def.name.name.as_str();
                reserved_check(id, &def.name, "intent", diagnostics);
                if let Some(prev) = script_intents.get(name) {
                    diagnostics.push(duplicate(id, "intent", name, def.name.span, *prev));
                    continue;
                }
                script_intents.insert(name, def.name.span);
                if let Some(existing) = scope.intents.get(name) {
                    if existing.imported {
                        diagnostics.push(shadow_warning(id, "intent", name, def.name.span));
                    } else {
                        diagnostics.push(duplicate(id, "intent", name, def.name.span, existing.def.name.span));
                    }
                }
                scope.intents.insert(name, IntentInfo { def, file: id, order, imported: false });
                order += 1;
            }
            Member::Section(section) => {
                if let Some(prev) = sections.iter().find(|s| s.kind == section.kind) {
                    diagnostics.push(duplicate(id, "section", section.kind.name(), section.name_span, prev.name_span));
                    continue;
                }
                sections.push(section);
            }
        }
    }
    if scope.settings.purpose.is_none() {
        diagnostics.push(
            Diagnostic::new(
                "E112",
                id,
                script.name.span,
                format!("script `{}` does not say its `purpose`", script.name.name),
            )
            .label("no purpose")
            .with_help(
                "add `purpose collection`, `marketing`, `service` or `verification`: compliance rules depend on it",
            ),
        );
    }
    // Steps in flow order; objection is kept apart.
    for kind in [SectionKind::Opening, SectionKind::Core, SectionKind::Closing] {
        let Some(section) = sections.iter().find(|s| s.kind == kind) else { continue };
        scope.sections.insert(kind, scope.steps.len());
        if !section.steps.is_empty() && !section.body.is_empty() {
            let first = &section.body[0];
            diagnostics.push(
                Diagnostic::new(
                    "E007",
                    id,
                    first.span,
                    format!("`{}` mixes statements with `step` blocks", kind.name()),
                )
                .label("statement outside any step")
                .with_help("put these statements into a `step NAME { … }` of their own"),
            );
        }
        for h in &section.handlers {
            diagnostics.push(
                Diagnostic::new("E007", id, h.head, "`on` handlers belong in `objection` or inside an `ask`")
                    .label("handler outside objection")
                    .with_help("move it into `objection { … }` to apply it to every ask, or into an `ask { … }`"),
            );
        }
        if section.steps.is_empty() {
            scope.steps.push(StepInfo {
                section: kind,
                name: kind.name().to_string(),
                name_span: section.name_span,
                stmts: &section.body,
                span: section.span,
                implicit: true,
            });
        } else {
            let mut seen: HashMap<&str, Span> = HashMap::default();
            for step in &section.steps {
                let name = step.name.name.as_str();
                if SectionKind::from_name(name).is_none() {
                    reserved_check(id, &step.name, "step", diagnostics);
                }
                if let Some(prev) = seen.insert(name, step.name.span) {
                    diagnostics.push(duplicate(id, "step", name, step.name.span, prev));
                }
                scope.step_names.entry(name).or_default().push(scope.steps.len());
                scope.steps.push(StepInfo {
                    section: kind,
                    name: name.to_string(),
                    name_span: step.name.span,
                    stmts: &step.body.stmts,
                    span: step.span,
                    implicit: false,
                });
            }
        }
    }
    if let Some(objection) = sections.iter().find(|s| s.kind == SectionKind::Objection) {
        scope.objection = Some(objection);
        for stmt in &objection.body {
            diagnostics.push(
                Diagnostic::new("E307", id, stmt.span, "`objection` holds only `on` handlers")
                    .label("statement in objection")
                    .with_help(
                        "write `on PATTERN => …` handlers here; the flow itself goes into opening, core and closing",
                    ),
            );
        }
        for step in &objection.steps {
            diagnostics.push(
                Diagnostic::new("E307", id, step.name.span, "`objection` holds only `on` handlers")
                    .label("step in objection")
                    .with_help("steps belong in opening, core or closing; a handler can `goto` them"),
            );
        }
    }
    // A step may not share its name with a section (§9.3).
    for step in scope.steps.iter().filter(|s| !s.implicit) {
        if SectionKind::from_name(&step.name).is_some() {
            diagnostics.push(
                Diagnostic::new(
                    "E113",
                    id,
                    step.name_span,
                    format!("a step cannot be named `{}` like a section", step.name),
                )
                .label("same name as a section")
                .with_help("`goto` would not know which one you mean; rename the step"),
            );
        }
    }
    if !scope.sections.contains_key(&SectionKind::Opening) {
        diagnostics.push(
            Diagnostic::new("E112", id, script.name.span, format!("script `{}` has no `opening`", script.name.name))
                .label("no opening section")
                .with_help("every call starts in `opening { … }`, which must announce the recording"),
        );
    }
    // §16.6: an action sent a sensitive value answers with sensitive outputs.
    let mut sensitive_actions = rustc_hash::FxHashSet::default();
    let mut visit = |stmt: &'a Stmt| {
        if let StmtKind::Do(d) = &stmt.kind {
            let mut sensitive = false;
            for (_, value) in &d.args {
                value.names(&mut |n| sensitive |= scope.values.get(n.name.as_str()).is_some_and(|v| v.sensitive));
            }
            if sensitive {
                sensitive_actions.insert(d.action.name.as_str());
            }
        }
    };
    for step in &scope.steps {
        visit_stmts(step.stmts, &mut visit);
    }
    if let Some(objection) = scope.objection {
        for h in &objection.handlers {
            visit_stmts(&h.body.stmts, &mut visit);
        }
    }
    scope.sensitive_actions = sensitive_actions;
    scope
}

/// Whether a `return` stands anywhere in the statement (nested branches included).
fn has_return(stmt: &Stmt) -> bool {
    match &stmt.kind {
        StmtKind::Return => true,
        StmtKind::Ask(ask) => ask.branches.iter().flat_map(|b| &b.body.stmts).any(has_return),
        StmtKind::Do(d) => d.branches.iter().flat_map(|b| &b.body.stmts).any(has_return),
        StmtKind::If(i) => {
            i.then.stmts.iter().any(has_return)
                || match &i.otherwise {
                    Some(Else::Block(b)) => b.stmts.iter().any(has_return),
                    Some(Else::If(s)) => has_return(s),
                    None => false,
                }
        }
        _ => false,
    }
}

/// The flows a file sees: those of its imports (in `use` order, not transitive), then its own,
/// which win.
pub fn visible_flows<'a>(file: &'a ParsedFile, files: &'a [ParsedFile]) -> HashMap<&'a str, FlowRef<'a>> {
    let mut out = HashMap::default();
    let imported = file.imports.iter().flatten().filter_map(|id| files.iter().find(|f| f.id == *id));
    for f in imported.chain(std::iter::once(file)) {
        for item in &f.ast.items {
            if let Item::Flow(def) = item {
                out.insert(def.name.name.as_str(), FlowRef { def, file: f.id });
            }
        }
    }
    out
}

/// The handler sets a file sees, like [`visible_flows`].
pub fn visible_sets<'a>(file: &'a ParsedFile, files: &'a [ParsedFile]) -> HashMap<&'a str, SetRef<'a>> {
    let mut out = HashMap::default();
    let imported = file.imports.iter().flatten().filter_map(|id| files.iter().find(|f| f.id == *id));
    for f in imported.chain(std::iter::once(file)) {
        for item in &f.ast.items {
            if let Item::Handlers(def) = item {
                out.insert(def.name.name.as_str(), SetRef { def, file: f.id });
            }
        }
    }
    out
}

/// A file-level unit that is checked and lowered like a piece of a script: a flow or a
/// handler set.
#[derive(Clone, Copy, Debug)]
pub enum Unit<'a> {
    Flow(&'a Flow),
    Set(&'a HandlerSet),
}

/// The scope of a flow or a handler set of `file` (§12, §16.4): the file's intents, its own
/// outcomes (a flow hangs up only with outcomes of its own file), the built-ins and, for a
/// flow, its parameters (read-only, like inputs), its lets and its steps.
pub fn unit_scope<'a>(
    file: &'a ParsedFile,
    files: &'a [ParsedFile],
    base: &FileScope<'a>,
    unit: Unit<'a>,
    diagnostics: &mut Vec<Diagnostic>,
) -> ScriptScope<'a> {
    let id = file.id;
    let outcomes = base.outcomes.iter().filter(|(_, o)| o.file == id).map(|(n, o)| (*n, o.clone())).collect();
    let mut scope = new_scope(file, files, &NO_SCRIPT, base, outcomes);
    let flow = match unit {
        Unit::Set(set) => {
            scope.set = Some(set);
            return scope;
        }
        Unit::Flow(flow) => flow,
    };
    scope.flow = Some(flow);
    reserved_check(id, &flow.name, "flow", diagnostics);
    for p in &flow.params {
        let info =
            |ty| ValueInfo { ty, sensitive: p.sensitive, kind: ValueKind::Input, span: p.name.span, required: true };
        if scope.declare_value(id, &p.name, "parameter", p.ty.ty, info, diagnostics) {
            scope.params.push(p);
        }
    }
    for l in &flow.lets {
        if scope.declare_value(id, &l.name, "value", l.ty.ty, let_info(l), diagnostics) {
            scope.lets.push(l);
        }
    }
    if !flow.steps.is_empty() && !flow.body.is_empty() {
        diagnostics.push(
            Diagnostic::new(
                "E007",
                id,
                flow.body[0].span,
                format!("flow `{}` mixes statements with `step` blocks", flow.name.name),
            )
            .label("statement outside any step")
            .with_help("put these statements into a `step NAME { … }` of their own"),
        );
    }
    if flow.steps.is_empty() {
        scope.steps.push(StepInfo {
            section: SectionKind::Core,
            name: flow.name.name.clone(),
            name_span: flow.name.span,
            stmts: &flow.body,
            span: flow.span,
            implicit: true,
        });
    } else {
        let mut seen: HashMap<&str, Span> = HashMap::default();
        for step in &flow.steps {
            let name = step.name.name.as_str();
            reserved_check(id, &step.name, "step", diagnostics);
            if let Some(prev) = seen.insert(name, step.name.span) {
                diagnostics.push(duplicate(id, "step", name, step.name.span, prev));
            }
            scope.step_names.entry(name).or_default().push(scope.steps.len());
            scope.steps.push(StepInfo {
                section: SectionKind::Core,
                name: name.to_string(),
                name_span: step.name.span,
                stmts: &step.body.stmts,
                span: step.span,
                implicit: false,
            });
        }
    }
    scope
}
