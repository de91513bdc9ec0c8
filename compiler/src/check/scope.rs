//! Names (LANGUAGE.md §9.3): per script, separate namespaces for sections and steps, outcomes,
//! intents and values. [`ScriptScope`] is built once and shared by the type and flow checks,
//! the compliance rules, lowering and the LSP.

use std::collections::HashMap;

use crate::check::{Allowed, ParsedFile, compliance, flow, types};
use crate::diagnostic::{CODES, Diagnostic};
use crate::source::Sources;
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
    pub span: Span,
    pub file: SourceId,
    /// Built in (`transferred`, `timeout`) or imported: never reported as unused.
    pub external: bool,
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

/// The settings of §3 with defaults applied.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub purpose: Option<String>,
    pub product: Option<String>,
    pub locale: String,
    pub max_duration_ms: Option<u64>,
    pub listen_timeout_ms: u64,
    pub voice: Option<String>,
}

pub const PURPOSES: &[&str] = &["collection", "marketing", "service", "verification"];
pub const PRODUCTS: &[&str] = &["investment", "insurance", "deposit", "loan", "card"];
pub const EMOTIONS: &[&str] = &["angry", "upset", "neutral", "happy"];
pub const BUILTIN_OUTCOMES: &[&str] = &["transferred", "timeout"];
const SETTINGS: &[&str] = &["purpose", "product", "locale", "max_duration", "listen_timeout", "voice"];

/// Resolved names of one script.
pub struct ScriptScope<'a> {
    pub file: SourceId,
    pub script: &'a Script,
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
}

impl<'a> ScriptScope<'a> {
    /// Resolves a goto target to a step index, or explains why not.
    pub fn resolve_target(&self, target: &Target) -> Result<usize, Diagnostic> {
        let first = &target.first.name;
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
    pub next_order: usize,
}

/// Builds the file-wide scope: imports in `use` order (not transitive), then the file's own
/// top-level intents and outcomes, which shadow imported ones with a warning.
pub fn file_scope<'a>(
    file: &'a ParsedFile,
    files: &'a [ParsedFile],
    diagnostics: &mut Vec<Diagnostic>,
) -> FileScope<'a> {
    let mut scope = FileScope { intents: HashMap::new(), outcomes: HashMap::new(), next_order: 0 };
    let uses: Vec<&Use> =
        file.ast.items.iter().filter_map(|i| if let Item::Use(u) = i { Some(u) } else { None }).collect();
    // Which `use` brought each imported name, to point at both when two imports clash.
    let mut origin: HashMap<&str, Span> = HashMap::new();
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
                        scope.outcomes.insert(
                            name,
                            OutcomeInfo { goal: o.goal, span: o.name.span, file: imported.id, external: true },
                        );
                    }
                }
                _ => {}
            }
        }
    }
    let mut local_intents: HashMap<&str, Span> = HashMap::new();
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
                    scope
                        .outcomes
                        .insert(name, OutcomeInfo { goal: o.goal, span: o.name.span, file: file.id, external: false });
                }
            }
            _ => {}
        }
    }
    scope
}

fn duplicate(file: SourceId, what: &str, name: &str, at: Span, first: Span) -> Diagnostic {
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

fn reserved_check(file: SourceId, ident: &Ident, what: &str, diagnostics: &mut Vec<Diagnostic>) {
    if RESERVED.contains(&ident.name.as_str()) && !(what == "intent" && ident.name == "optout") {
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

/// The read-only built-ins every script can read: `attempt` and `hour` (§4).
pub fn builtin_values() -> impl Iterator<Item = (&'static str, ValueInfo)> {
    ["attempt", "hour"].into_iter().map(|name| {
        let info = ValueInfo {
            ty: Type::Int,
            sensitive: false,
            kind: ValueKind::Builtin,
            span: Span::default(),
            required: false,
        };
        (name, info)
    })
}

/// Builds a script's scope, reporting duplicates, unknown settings and reserved names.
pub fn script_scope<'a>(
    file: &'a ParsedFile,
    script: &'a Script,
    base: &FileScope<'a>,
    diagnostics: &mut Vec<Diagnostic>,
) -> ScriptScope<'a> {
    let id = file.id;
    reserved_check(id, &script.name, "script", diagnostics);
    let mut scope = ScriptScope {
        file: id,
        script,
        settings: Settings { locale: "zh-CN".into(), listen_timeout_ms: 5_000, ..Default::default() },
        steps: Vec::new(),
        step_names: HashMap::new(),
        sections: HashMap::new(),
        objection: None,
        intents: base.intents.clone(),
        outcomes: base.outcomes.clone(),
        values: HashMap::new(),
        inputs: Vec::new(),
        lets: Vec::new(),
    };
    for name in BUILTIN_OUTCOMES {
        scope.outcomes.insert(name, OutcomeInfo { goal: false, span: Span::default(), file: id, external: true });
    }
    for (name, info) in builtin_values() {
        scope.values.insert(name, info);
    }
    let mut seen_settings: HashMap<&str, Span> = HashMap::new();
    let mut sections: Vec<&'a Section> = Vec::new();
    let mut order = base.next_order;
    let mut script_intents: HashMap<&str, Span> = HashMap::new();
    let mut script_outcomes: HashMap<&str, Span> = HashMap::new();
    for member in &script.members {
        match member {
            Member::Setting(setting) => {
                let name = setting.name.name.as_str();
                if !SETTINGS.contains(&name) {
                    let mut d =
                        Diagnostic::new("E111", id, setting.name.span, format!("`{name}` is not a script setting"))
                            .label("unknown setting");
                    d = match closest(name, SETTINGS.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help("the settings are `purpose`, `product`, `locale`, `max_duration`, `listen_timeout` and `voice`"),
                    };
                    diagnostics.push(d);
                    continue;
                }
                if let Some(prev) = seen_settings.insert(name, setting.name.span) {
                    diagnostics.push(
                        Diagnostic::new("E111", id, setting.name.span, format!("`{name}` is set twice"))
                            .label("second setting")
                            .with_secondary(id, prev, "first set here"),
                    );
                    continue;
                }
                apply_setting(id, setting, &mut scope.settings, diagnostics);
            }
            Member::Inputs(block) => {
                for input in &block.items {
                    reserved_check(id, &input.name, "input", diagnostics);
                    let Some(ty) = input.ty.ty else { continue };
                    if let Some(prev) =
                        scope.values.get(input.name.name.as_str()).filter(|v| v.kind != ValueKind::Builtin)
                    {
                        diagnostics.push(duplicate(id, "value", &input.name.name, input.name.span, prev.span));
                        continue;
                    }
                    scope.values.insert(
                        &input.name.name,
                        ValueInfo {
                            ty,
                            sensitive: input.sensitive,
                            kind: ValueKind::Input,
                            span: input.name.span,
                            required: input.default.is_none(),
                        },
                    );
                    scope.inputs.push(input);
                }
            }
            Member::Let(l) => {
                reserved_check(id, &l.name, "value", diagnostics);
                let Some(ty) = l.ty.ty else { continue };
                if let Some(prev) = scope.values.get(l.name.name.as_str()).filter(|v| v.kind != ValueKind::Builtin) {
                    diagnostics.push(duplicate(id, "value", &l.name.name, l.name.span, prev.span));
                    continue;
                }
                scope.values.insert(
                    &l.name.name,
                    ValueInfo { ty, sensitive: false, kind: ValueKind::Let, span: l.name.span, required: false },
                );
                scope.lets.push(l);
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
                    scope
                        .outcomes
                        .insert(name, OutcomeInfo { goal: o.goal, span: o.name.span, file: id, external: false });
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
            let mut seen: HashMap<&str, Span> = HashMap::new();
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
    scope
}

fn apply_setting(id: SourceId, setting: &Setting, settings: &mut Settings, diagnostics: &mut Vec<Diagnostic>) {
    let name = setting.name.name.as_str();
    let bad = |expected: &str| {
        Diagnostic::new("E111", id, setting.span, format!("`{name}` takes {expected}")).label("wrong kind of value")
    };
    match (name, &setting.value) {
        (_, SettingValue::Missing) => {}
        ("purpose" | "product", SettingValue::Word(word)) => {
            let list = if name == "purpose" { PURPOSES } else { PRODUCTS };
            if list.contains(&word.name.as_str()) {
                if name == "purpose" {
                    settings.purpose = Some(word.name.clone());
                } else {
                    settings.product = Some(word.name.clone());
                }
            } else {
                let mut d = Diagnostic::new("E111", id, word.span, format!("`{}` is not a {name}", word.name))
                    .label(format!("unknown {name}"));
                d = match closest(&word.name, list.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!(
                        "the choices are {}",
                        list.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                    )),
                };
                if name == "purpose" {
                    settings.purpose = Some(word.name.clone());
                }
                diagnostics.push(d);
            }
        }
        ("purpose" | "product", _) => diagnostics.push(bad("a word such as `collection`")),
        ("locale", SettingValue::Str(s)) => settings.locale = s.value.clone(),
        ("voice", SettingValue::Str(s)) => settings.voice = Some(s.value.clone()),
        ("locale" | "voice", _) => diagnostics.push(bad("a string in quotes")),
        ("max_duration", SettingValue::Duration(d)) => settings.max_duration_ms = Some(d.millis),
        ("listen_timeout", SettingValue::Duration(d)) => settings.listen_timeout_ms = d.millis,
        _ => diagnostics.push(bad("a duration such as `3m` or `6s`")),
    }
}

/// What the language checks found in a root file, before `@allow` is applied (the compliance
/// rules add theirs first, so that one `@allow` machinery covers both).
pub struct FileFindings<'a> {
    pub found: Vec<Diagnostic>,
    /// Every `@allow` of the file's scripts, with the span of the construct it covers.
    pub allows: Vec<(&'a Allow, Span)>,
}

/// Checks every script and test of a root file. `diagnostics` holds what earlier phases found
/// (syntax errors make the file's warnings noise).
pub fn check_file<'a>(
    file: &'a ParsedFile,
    files: &'a [ParsedFile],
    _sources: &Sources,
    diagnostics: &[Diagnostic],
) -> FileFindings<'a> {
    let mut found = Vec::new();
    let base = file_scope(file, files, &mut found);
    let mut scripts: HashMap<&str, ScriptScope> = HashMap::new();
    let mut used_intents: HashMap<&str, ()> = HashMap::new();
    let mut allows: Vec<(&Allow, Span)> = Vec::new();
    for item in &file.ast.items {
        if let Item::Script(script) = item {
            if let Some(prev) = scripts.get(script.name.name.as_str()) {
                found.push(duplicate(file.id, "script", &script.name.name, script.name.span, prev.script.name.span));
                continue;
            }
            let scope = script_scope(file, script, &base, &mut found);
            let mut usage = types::Usage::default();
            types::check_script(&scope, &mut usage, &mut found);
            flow::check_script(&scope, &mut found);
            unused(&scope, &usage, &mut found);
            for name in usage.intents {
                used_intents.insert(name, ());
            }
            collect_allows(script, &mut allows);
            scripts.insert(&script.name.name, scope);
        }
    }
    // File-level intents nobody uses, when the file has scripts that could use them.
    if !scripts.is_empty() {
        for item in &file.ast.items {
            if let Item::Intent(def) = item
                && !used_intents.contains_key(def.name.name.as_str())
            {
                found.push(unused_intent(file.id, def));
            }
        }
    }
    for item in &file.ast.items {
        if let Item::Test(test) = item {
            match scripts.get(test.script.name.as_str()) {
                Some(scope) => types::check_test(scope, test, &mut found),
                None => {
                    let names = scripts.keys().copied();
                    let mut d = Diagnostic::new(
                        "E110",
                        file.id,
                        test.script.span,
                        format!("there is no script `{}` in this file", test.script.name),
                    )
                    .label("unknown script");
                    if let Some(s) = closest(&test.script.name, names) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    found.push(d);
                }
            }
        }
    }
    // After a syntax error or a failed import, parts of the tree are missing: warnings about
    // unused or unreachable things, and unknown imported intents, would only be noise.
    let broken_syntax = diagnostics.iter().any(|d| d.primary.at.file == file.id && d.code < "E100");
    let failed_import = file.imports.iter().any(Option::is_none);
    found.retain(|d| !(broken_syntax && d.code.starts_with('W') || failed_import && d.code == "E101"));
    FileFindings { found, allows }
}

fn unused_intent(file: SourceId, def: &Intent) -> Diagnostic {
    Diagnostic::new("W003", file, def.name.span, format!("intent `{}` is never used", def.name.name))
        .label("no branch or handler matches it")
        .with_help("handle it with `on NAME => …` in an ask or in `objection`, or remove it")
}

/// Warnings for inputs, lets, intents and outcomes a script defines but never uses.
fn unused(scope: &ScriptScope, usage: &types::Usage, diagnostics: &mut Vec<Diagnostic>) {
    for input in &scope.inputs {
        if !usage.values.contains(input.name.name.as_str()) {
            diagnostics.push(
                Diagnostic::new(
                    "W002",
                    scope.file,
                    input.name.span,
                    format!("input `{}` is never used", input.name.name),
                )
                .label("not read by any prompt or condition")
                .with_help("remove it, or use it in a prompt (`{{name}}`) or a condition"),
            );
        }
    }
    for l in &scope.lets {
        if !usage.values.contains(l.name.name.as_str()) {
            diagnostics.push(
                Diagnostic::new("W008", scope.file, l.name.span, format!("value `{}` is never read", l.name.name))
                    .label("set but never read")
                    .with_help("remove it, or use it in a prompt or a condition"),
            );
        }
    }
    for member in &scope.script.members {
        match member {
            Member::Intent(def) if !usage.intents.contains(def.name.name.as_str()) => {
                diagnostics.push(unused_intent(scope.file, def));
            }
            Member::Outcomes(block) => {
                for o in &block.items {
                    if !usage.outcomes.contains(o.name.name.as_str()) {
                        diagnostics.push(
                            Diagnostic::new(
                                "W004",
                                scope.file,
                                o.name.span,
                                format!("outcome `{}` is never reached", o.name.name),
                            )
                            .label("no `hangup` or `transfer` ends the call with it")
                            .with_help(format!("end a path with `hangup {}`, or remove it", o.name.name)),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every `@allow` of a script with the span of the construct it stands before (§9.7: it
/// covers findings whose primary span starts inside that construct).
fn collect_allows<'a>(script: &'a Script, out: &mut Vec<(&'a Allow, Span)>) {
    fn add<'a>(allows: &'a [Allow], span: Span, out: &mut Vec<(&'a Allow, Span)>) {
        out.extend(allows.iter().map(|a| (a, span)));
    }
    fn stmts<'a>(list: &'a [Stmt], out: &mut Vec<(&'a Allow, Span)>) {
        for s in list {
            add(&s.allows, s.span, out);
            match &s.kind {
                StmtKind::Ask(ask) => branches(&ask.branches, out),
                StmtKind::If(i) => if_stmt(i, out),
                _ => {}
            }
        }
    }
    fn if_stmt<'a>(i: &'a If, out: &mut Vec<(&'a Allow, Span)>) {
        stmts(&i.then.stmts, out);
        match &i.otherwise {
            Some(Else::Block(b)) => stmts(&b.stmts, out),
            Some(Else::If(inner)) => stmts(std::slice::from_ref(inner.as_ref()), out),
            None => {}
        }
    }
    fn branches<'a>(list: &'a [Branch], out: &mut Vec<(&'a Allow, Span)>) {
        for b in list {
            add(&b.allows, b.span, out);
            stmts(&b.body.stmts, out);
        }
    }
    add(&script.allows, script.span, out);
    for m in &script.members {
        match m {
            Member::Intent(i) => add(&i.allows, i.span, out),
            Member::Section(s) => {
                add(&s.allows, s.span, out);
                stmts(&s.body, out);
                branches(&s.handlers, out);
                for step in &s.steps {
                    add(&step.allows, step.span, out);
                    stmts(&step.body.stmts, out);
                }
            }
            _ => {}
        }
    }
}

/// Validates `@allow`s and removes the findings they cover (keeping them for audit). An allow
/// that covers nothing is W007; for `CS…` codes only when the compliance rules ran on the file.
pub fn apply_allows(
    file: SourceId,
    allows: &[(&Allow, Span)],
    found: Vec<Diagnostic>,
    compliance_ran: bool,
    diagnostics: &mut Vec<Diagnostic>,
    allowed: &mut Vec<Allowed>,
) {
    let mut valid: Vec<(&Allow, Span, &str, &str)> = Vec::new();
    for (allow, covers) in allows {
        let Some(code) = &allow.code else { continue };
        let known = CODES.iter().any(|(c, _)| *c == code.name) || compliance::rule(&code.name).is_some();
        if !known {
            let mut d = Diagnostic::new("E501", file, code.span, format!("`{}` is not a diagnostic code", code.name))
                .label("unknown code");
            let codes = CODES.iter().map(|(c, _)| *c).chain(compliance::RULES.iter().map(|r| r.code));
            if let Some(s) = closest(&code.name, codes) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            diagnostics.push(d);
            continue;
        }
        if code.name.starts_with('E') {
            diagnostics.push(
                Diagnostic::new("E501", file, code.span, format!("`{}` is an error and cannot be allowed", code.name))
                    .label("errors cannot be allowed")
                    .with_help("an error means the script cannot run; fix it instead. Only `CS…` findings and `W…` warnings can be allowed"),
            );
            continue;
        }
        match &allow.reason {
            Some(reason) if !reason.value.trim().is_empty() => valid.push((allow, *covers, &code.name, &reason.value)),
            _ => diagnostics.push(
                Diagnostic::new("E500", file, allow.span, format!("`@allow({})` needs a reason", code.name))
                    .label("no reason given")
                    .with_help(format!(
                        "say why, for the audit trail: `@allow({}, \"legal text must be read in full\")`",
                        code.name
                    )),
            ),
        }
    }
    let mut used = vec![false; valid.len()];
    for d in found {
        let at = d.primary.at.span.start;
        let hit = valid.iter().position(|(_, covers, code, _)| {
            *code == d.code && d.primary.at.file == file && covers.start <= at && at < covers.end
        });
        match hit.map(|i| {
            used[i] = true;
            &valid[i]
        }) {
            Some((allow, _, code, reason)) => allowed.push(Allowed {
                code: code.to_string(),
                file,
                span: allow.span,
                reason: reason.to_string(),
                finding: d,
            }),
            None => diagnostics.push(d),
        }
    }
    // An allow that covers nothing is stale (the finding was fixed) or misplaced. Compliance
    // codes are judged only when the compliance rules ran (not after a language error).
    for ((allow, _, code, _), used) in valid.iter().zip(used) {
        if !used && (code.starts_with('W') || compliance_ran) {
            diagnostics.push(
                Diagnostic::new("W007", file, allow.span, format!("this `@allow({code})` suppresses nothing"))
                    .label("no such finding here")
                    .with_help("remove it, or move it to the line before the statement the finding points at"),
            );
        }
    }
}
