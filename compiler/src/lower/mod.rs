//! Lowering of a checked file to [`Program`] bytecode. Runs only on files without errors; it
//! re-derives each script's scope with the same builder the checker uses.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::bytecode::*;
use crate::check::compliance::Pack;
use crate::check::scope::{self, FlowRef, ScriptScope, Unit};
use crate::check::{Checked, ParsedFile};
use crate::source::Sources;
use crate::span::{FileSpan, SourceId, Span};
use crate::syntax::ast::{self, *};
use crate::value::Value;

/// Why a table index fits its 16-bit id: the parser refuses a larger script (E009).
const WITHIN_E009: &str = "the parser keeps a script's tables within 16-bit ids (E009)";

/// The program of a root file: the one the checker lowered (and ran the compliance rules
/// on). Call only when `checked` has no errors; a root the checker did not lower (it had
/// errors) is lowered here as a last resort.
pub fn lower(checked: &Checked, root: SourceId) -> Program {
    match checked.program(root) {
        Some(program) => program.clone(),
        None => lower_file(&checked.files, &checked.sources, root, checked.pack),
    }
}

/// Every intent in scope of file `root` (declared or imported), in declaration order, as the
/// recogniser's tables: what `intents eval` recognises against (§14). A program with a
/// learned model already holds them all (`Program::intents`, whose order the model uses).
pub fn intents_in_scope(checked: &Checked, root: SourceId) -> Vec<IntentTable> {
    let Some(file) = checked.files.iter().find(|f| f.id == root) else { return Vec::new() };
    let mut ignored = Vec::new();
    let scope = scope::file_scope(file, &checked.files, &mut ignored);
    scope.intents_in_order().into_iter().map(|i| intent_table(i.def)).collect()
}

/// Lowers every script of the root file `root` of `files` (which must check without errors);
/// the checker uses it to run the compliance rules before `Checked` exists. The pack decides
/// which prompts barge-in cannot cut (its disclosures) and is recorded in the program. The
/// program keeps the text of `root` and of the files it imports, directly or not; the other
/// files of the check are empty entries (so that a `SourceId` still indexes `Program::files`).
/// A check of a folder lowers each of its files so: copying every file into each program made
/// that quadratic in the number of files.
pub fn lower_file(files: &[ParsedFile], sources: &Sources, root: SourceId, pack: Option<&Pack>) -> Program {
    let mut reached = vec![false; sources.len()];
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        match reached.get_mut(id.0 as usize) {
            Some(seen) if !*seen => *seen = true,
            _ => continue,
        }
        if let Some(file) = files.iter().find(|f| f.id == id) {
            todo.extend(file.imports.iter().flatten());
        }
    }
    let kept = sources
        .iter()
        .zip(&reached)
        .map(|((_, s), reached)| match *reached {
            true => SourceFile { name: s.name.clone(), text: s.text.clone() },
            false => SourceFile { name: String::new(), text: String::new() },
        })
        .collect();
    let file = files.iter().find(|f| f.id == root).expect("root file is parsed");
    let mut ignored = Vec::new();
    let base = scope::file_scope(file, files, &mut ignored);
    let mut program = Program {
        scripts: Vec::new(),
        intents: Vec::new(),
        files: kept,
        jurisdiction: pack.map(|p| p.jurisdiction.clone()).unwrap_or_default(),
        model: None,
    };
    let mut intent_ids: HashMap<(SourceId, u32), IntentId> = HashMap::default();
    for item in &file.ast.items {
        if let Item::Script(script) = item {
            let scope = scope::script_scope(file, files, script, &base, &mut ignored);
            // Flows the script reaches, each lowered once after the handlers (§12), and the
            // handler sets it includes, each in the scope of its own file.
            let flows = reachable_flows(&scope, files);
            let flow_scopes: Vec<ScriptScope> =
                flows.iter().map(|f| unit_scope_of(files, f.file, Unit::Flow(f.def))).collect();
            let set_scopes: Vec<(usize, ScriptScope)> = scope
                .includes()
                .into_iter()
                .map(|(at, set)| (at, unit_scope_of(files, set.file, Unit::Set(set.def))))
                .collect();
            let units = Units { flows: &flows, flow_scopes: &flow_scopes, set_scopes: &set_scopes };
            let code = ScriptLowering::new(&scope, &mut program.intents, &mut intent_ids, pack).lower(units);
            program.scripts.push(code);
        }
    }
    program.model = learned_model(&mut program.intents, &mut intent_ids, &base, files, sources, &reached);
    program
}

/// Trains the model of learned intents (§14) when the file or an import of the author's has
/// examples (the standard library's examples join them then, but never make a model on their
/// own: a script without examples behaves as in version 1). The
/// model knows every intent in scope of the file, so that an utterance of an intent no branch
/// names is recognised as that one (and is `unknown` to the turn), not forced into a
/// candidate: intents no pattern names are appended to the program's table, after those the
/// scripts use, keeping their ids. Without examples nothing changes (no model, no new intent).
fn learned_model(
    intents: &mut Vec<IntentTable>,
    intent_ids: &mut HashMap<(SourceId, u32), IntentId>,
    base: &scope::FileScope,
    files: &[ParsedFile],
    sources: &Sources,
    reached: &[bool],
) -> Option<crate::learn::IntentModel> {
    let authored = |id: SourceId| !crate::stdlib::is_module_name(&sources.get(id).name);
    let in_scope = base.intents_in_order();
    // The files whose examples count: the root and those it imports, directly or not.
    let with_rows: Vec<&ParsedFile> =
        files.iter().filter(|f| reached.get(f.id.0 as usize) == Some(&true) && !f.examples.is_empty()).collect();
    let has_inline =
        in_scope.iter().any(|i| authored(i.file) && i.def.clauses.iter().any(|c| c.kind == ClauseKind::Examples));
    let has_rows = with_rows.iter().any(|f| authored(f.id));
    if !has_inline && !has_rows {
        return None;
    }
    let mut samples = Vec::new();
    for info in &in_scope {
        let key = (info.file, info.def.name.span.start);
        let id = *intent_ids.entry(key).or_insert_with(|| {
            intents.push(intent_table(info.def));
            (intents.len() - 1) as IntentId
        });
        for clause in &info.def.clauses {
            for value in &clause.values {
                match clause.kind {
                    ClauseKind::Examples => {
                        samples.push(crate::learn::Sample { text: value.value.clone(), intent: id })
                    }
                    // A phrase's forms are utterances too (gaps left out).
                    ClauseKind::Phrases => {
                        for form in crate::pattern::parse(&value.value).unwrap_or_default() {
                            samples.push(crate::learn::Sample { text: form.parts.concat(), intent: id });
                        }
                    }
                    ClauseKind::Dtmf | ClauseKind::Regex => {}
                }
            }
        }
    }
    // File-level rows name intents as the file that holds them sees them.
    let mut ignored = Vec::new();
    for f in with_rows {
        let seen_there = scope::file_scope(f, files, &mut ignored);
        for row in &f.examples {
            let Some(info) = seen_there.intents.get(row.intent.as_str()) else { continue };
            if let Some(id) = intent_ids.get(&(info.file, info.def.name.span.start)) {
                samples.push(crate::learn::Sample { text: row.text.clone(), intent: *id });
            }
        }
    }
    crate::learn::train(&samples, intents.len() as u32)
}

/// The scope of a flow or handler set of file `id`.
fn unit_scope_of<'a>(files: &'a [ParsedFile], id: SourceId, unit: Unit<'a>) -> ScriptScope<'a> {
    let file = files.iter().find(|f| f.id == id).expect("a flow's file is parsed");
    let mut ignored = Vec::new();
    let base = scope::file_scope(file, files, &mut ignored);
    scope::unit_scope(file, files, &base, unit, &mut ignored)
}

/// The `call`s under statements (in branches of asks and `do`s too), in source order.
fn calls_in<'a>(stmts: &'a [Stmt], out: &mut Vec<&'a Ident>) {
    ast::visit_stmts(stmts, &mut |stmt| {
        if let StmtKind::Call { flow, .. } = &stmt.kind {
            out.push(flow);
        }
    });
}

fn flow_stmts(def: &Flow) -> impl Iterator<Item = &[Stmt]> {
    std::iter::once(def.body.as_slice()).chain(def.steps.iter().map(|s| s.body.stmts.as_slice()))
}

/// Every flow a script calls, directly or through flows and included handler sets, in the
/// order first met (names resolve in the file of the code that calls).
fn reachable_flows<'a>(scope: &ScriptScope<'a>, files: &'a [ParsedFile]) -> Vec<FlowRef<'a>> {
    let mut out: Vec<FlowRef<'a>> = Vec::new();
    let mut seen: HashSet<(SourceId, u32)> = HashSet::default();
    let mut visit = |names: Vec<&'a Ident>, visible: &HashMap<&'a str, FlowRef<'a>>, out: &mut Vec<FlowRef<'a>>| {
        for name in names {
            if let Some(f) = visible.get(name.name.as_str())
                && seen.insert(f.key())
            {
                out.push(*f);
            }
        }
    };
    let mut names = Vec::new();
    for step in &scope.steps {
        calls_in(step.stmts, &mut names);
    }
    if let Some(objection) = scope.objection {
        objection.handlers.iter().for_each(|h| calls_in(&h.body.stmts, &mut names));
    }
    visit(names, &scope.flows, &mut out);
    for (_, set) in scope.includes() {
        let Some(file) = files.iter().find(|f| f.id == set.file) else { continue };
        let mut names = Vec::new();
        set.def.handlers.iter().for_each(|h| calls_in(&h.body.stmts, &mut names));
        visit(names, &scope::visible_flows(file, files), &mut out);
    }
    let mut i = 0;
    while i < out.len() {
        let f = out[i];
        i += 1;
        let Some(file) = files.iter().find(|p| p.id == f.file) else { continue };
        let mut names = Vec::new();
        flow_stmts(f.def).for_each(|stmts| calls_in(stmts, &mut names));
        visit(names, &scope::visible_flows(file, files), &mut out);
    }
    out
}

/// The flows and handler sets a script's lowering needs, with their scopes.
struct Units<'s, 'a> {
    flows: &'s [FlowRef<'a>],
    flow_scopes: &'s [ScriptScope<'a>],
    /// Included handler sets: the index among the section's own handlers they stand before.
    set_scopes: &'s [(usize, ScriptScope<'a>)],
}

/// Whether an expression reads a name for which `sensitive` holds.
fn reads_sensitive(expr: &Expr, sensitive: &dyn Fn(&str) -> bool) -> bool {
    match &expr.kind {
        ExprKind::Name(n) => sensitive(&n.name),
        ExprKind::Paren(e) | ExprKind::Unary(_, e) => reads_sensitive(e, sensitive),
        ExprKind::Binary(_, l, r) => reads_sensitive(l, sensitive) || reads_sensitive(r, sensitive),
        _ => false,
    }
}

/// Which parameters of each flow are sensitive in this script (§16.4): declared so, or passed
/// an argument computed from a sensitive value at some call. A fixed point over the call
/// sites: each round may only add parameters, so it ends within one round per flow.
fn sensitive_params(scope: &ScriptScope, units: &Units) -> Vec<Vec<bool>> {
    let mut out: Vec<Vec<bool>> =
        units.flows.iter().map(|f| f.def.params.iter().map(|p| p.sensitive).collect()).collect();
    let index: HashMap<(SourceId, u32), usize> = units.flows.iter().enumerate().map(|(i, f)| (f.key(), i)).collect();
    let mut sites: Vec<Site> = Vec::new();
    let mut own: Vec<&[Stmt]> = scope.steps.iter().map(|s| s.stmts).collect();
    if let Some(objection) = scope.objection {
        own.extend(objection.handlers.iter().map(|h| h.body.stmts.as_slice()));
    }
    sites.push((scope, None, own));
    for (_, set) in units.set_scopes {
        let stmts = set.set.map(|d| d.handlers.iter().map(|h| h.body.stmts.as_slice()).collect()).unwrap_or_default();
        sites.push((set, None, stmts));
    }
    for (i, fs) in units.flow_scopes.iter().enumerate() {
        sites.push((fs, Some(i), flow_stmts(units.flows[i].def).collect()));
    }
    for _ in 0..=units.flows.len() {
        let mut changed = false;
        for (site_scope, flow, stmts) in &sites {
            let mut calls: Vec<(&Ident, &[Expr])> = Vec::new();
            stmts.iter().for_each(|s| call_sites(s, &mut calls));
            for (name, args) in calls {
                let Some(target) = site_scope.flows.get(name.name.as_str()) else { continue };
                let Some(&t) = index.get(&target.key()) else { continue };
                for (k, arg) in args.iter().enumerate() {
                    let is = |n: &str| {
                        if let Some(f) = flow
                            && let Some(p) = units.flows[*f].def.params.iter().position(|p| p.name.name == n)
                        {
                            return out[*f][p];
                        }
                        site_scope.values.get(n).is_some_and(|v| v.sensitive)
                    };
                    if k < out[t].len() && !out[t][k] && reads_sensitive(arg, &is) {
                        out[t][k] = true;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    out
}

/// Code that may call flows: the scope it stands in, its flow's index, its statements.
type Site<'s, 'a> = (&'s ScriptScope<'a>, Option<usize>, Vec<&'a [Stmt]>);

fn call_sites<'a>(stmts: &'a [Stmt], out: &mut Vec<(&'a Ident, &'a [Expr])>) {
    ast::visit_stmts(stmts, &mut |stmt| {
        if let StmtKind::Call { flow, args } = &stmt.kind {
            out.push((flow, args));
        }
    });
}

/// Expands an intent's phrases into the recogniser's forms (patterns were checked).
pub fn intent_table(def: &ast::Intent) -> IntentTable {
    let mut table =
        IntentTable { name: def.name.name.clone(), forms: Vec::new(), dtmf: Vec::new(), regexes: Vec::new() };
    for clause in &def.clauses {
        for value in &clause.values {
            match clause.kind {
                ClauseKind::Phrases => {
                    if let Ok(forms) = crate::pattern::parse(&value.value) {
                        table.forms.extend(forms);
                    }
                }
                ClauseKind::Dtmf => table.dtmf.push(value.value.clone()),
                ClauseKind::Regex => table.regexes.push(value.value.clone()),
                // Examples train the model (`learned_model`), they are not matched.
                ClauseKind::Examples => {}
            }
        }
    }
    table
}

struct ScriptLowering<'s, 'a> {
    scope: &'s ScriptScope<'a>,
    intents: &'s mut Vec<IntentTable>,
    intent_ids: &'s mut HashMap<(SourceId, u32), IntentId>,
    code: ScriptCode,
    slots: HashMap<&'a str, Slot>,
    /// Jumps to patch: (instruction index, target step).
    goto_fixups: Vec<(usize, usize)>,
    /// Per flow step, its index in `code.steps`.
    current_step: StepId,
    /// Index of each text in `code.texts`.
    text_ids: HashMap<String, TextId>,
    /// The compliance pack: its disclosures are never cut by barge-in.
    pack: Option<&'s Pack>,
    /// The script's settings, which apply inside its flows too.
    listen_timeout_ms: u64,
    bargein_off: bool,
    /// Per flow of `Units::flows`: its id, its value slots and whether it ends the call.
    flow_ids: HashMap<(SourceId, u32), FlowId>,
    flow_slots: Vec<HashMap<&'a str, Slot>>,
    flow_ends: Vec<bool>,
    /// Above zero while lowering an ask's branches (`listen` there listens to that ask).
    in_ask: u32,
    /// The ops of the expression being lowered (one buffer for all: see [`Self::expr`]).
    ops: Vec<ExprOp>,
}

impl<'s, 'a> ScriptLowering<'s, 'a> {
    fn new(
        scope: &'s ScriptScope<'a>,
        intents: &'s mut Vec<IntentTable>,
        intent_ids: &'s mut HashMap<(SourceId, u32), IntentId>,
        pack: Option<&'s Pack>,
    ) -> Self {
        let s = &scope.settings;
        let code = ScriptCode {
            name: scope.script.name.name.clone(),
            title: scope.script.title.as_ref().map(|t| t.value.clone()),
            purpose: s.purpose.clone().unwrap_or_default(),
            product: s.product.clone(),
            locale: s.locale.clone(),
            max_duration_ms: s.max_duration_ms,
            listen_timeout_ms: s.listen_timeout_ms,
            digit_timeout_ms: s.digit_timeout_ms,
            confidence_permille: (s.confidence * 1000.0).round() as u16,
            voice: s.voice.clone(),
            slots: Vec::new(),
            outcomes: Vec::new(),
            steps: Vec::new(),
            code: Vec::new(),
            spans: Vec::new(),
            prompts: Vec::new(),
            texts: Vec::new(),
            exprs: Vec::new(),
            asks: Vec::new(),
            handlers: Vec::new(),
            flows: Vec::new(),
            actions: Vec::new(),
            dos: Vec::new(),
            handovers: Vec::new(),
        };
        ScriptLowering {
            listen_timeout_ms: s.listen_timeout_ms,
            bargein_off: s.bargein_off,
            flow_ids: HashMap::default(),
            flow_slots: Vec::new(),
            flow_ends: Vec::new(),
            in_ask: 0,
            ops: Vec::new(),
            scope,
            intents,
            intent_ids,
            code,
            slots: HashMap::default(),
            goto_fixups: Vec::new(),
            current_step: 0,
            text_ids: HashMap::default(),
            pack,
        }
    }

    fn at(&self, span: Span) -> FileSpan {
        // A flow's or handler set's code points into its own file.
        FileSpan::new(self.scope.file, span)
    }

    fn emit(&mut self, instruction: Instruction, span: Span) -> usize {
        self.code.code.push(instruction);
        self.code.spans.push(self.at(span));
        self.code.code.len() - 1
    }

    fn pc(&self) -> u32 {
        self.code.code.len() as u32
    }

    fn lower(mut self, units: Units<'s, 'a>) -> ScriptCode {
        let scope = self.scope;
        // Slots: inputs, then lets.
        for input in &scope.inputs {
            let Some(ty) = input.ty.ty else { continue };
            self.slots.insert(&input.name.name, Slot::try_from(self.code.slots.len()).expect(WITHIN_E009));
            self.code.slots.push(SlotDecl {
                name: input.name.name.clone(),
                ty,
                sensitive: input.sensitive,
                input: true,
                init: None,
                min: bound(ty, &input.bounds.min),
                max: bound(ty, &input.bounds.max),
                local: false,
                output: false,
            });
        }
        for l in &scope.lets {
            let Some(ty) = l.ty.ty else { continue };
            self.slots.insert(&l.name.name, Slot::try_from(self.code.slots.len()).expect(WITHIN_E009));
            self.code.slots.push(SlotDecl {
                name: l.name.name.clone(),
                ty,
                sensitive: l.sensitive,
                input: false,
                init: None,
                min: bound(ty, &l.bounds.min),
                max: bound(ty, &l.bounds.max),
                local: false,
                output: false,
            });
        }
        // Then the outputs of every action in scope, by action name (§13): `NAME.FIELD`
        // holds a neutral value until the action answers `ok`.
        let mut actions: Vec<&Action> = scope.actions.values().copied().collect();
        actions.sort_by(|a, b| a.name.name.cmp(&b.name.name));
        for def in actions {
            let sensitive = scope.sensitive_actions.contains(def.name.name.as_str());
            let mut outputs = Vec::new();
            for field in def.outputs() {
                let Some(ty) = field.ty.ty else { continue };
                let slot = Slot::try_from(self.code.slots.len()).expect(WITHIN_E009);
                let neutral = match ty {
                    Type::Text => ExprOp::Const(Value::Text(String::new())),
                    Type::Int => ExprOp::Const(Value::Int(0)),
                    Type::Money => ExprOp::Const(Value::Money(crate::value::Money::from_cents(0))),
                    Type::Bool => ExprOp::Const(Value::Bool(false)),
                    Type::Date => ExprOp::Today,
                    Type::Time => ExprOp::Const(Value::Time(crate::value::Time::parse("00:00").expect("a time"))),
                };
                self.code.exprs.push(ExprCode { ops: vec![neutral], span: self.at(field.span), sensitive: false });
                self.code.slots.push(SlotDecl {
                    name: format!("{}.{}", def.name.name, field.name.name),
                    ty,
                    sensitive,
                    input: false,
                    init: Some((self.code.exprs.len() - 1) as ExprId),
                    min: None,
                    max: None,
                    local: false,
                    output: true,
                });
                outputs.push((field.name.name.clone(), ty, slot));
            }
            let inputs = def.inputs().filter_map(|f| Some((f.name.name.clone(), f.ty.ty?))).collect();
            self.code.actions.push(ActionCode { name: def.name.name.clone(), inputs, outputs });
        }
        let inits: Vec<(Slot, &Expr)> = scope
            .inputs
            .iter()
            .filter_map(|i| Some((self.slots[i.name.name.as_str()], i.default.as_ref()?)))
            .chain(scope.lets.iter().map(|l| (self.slots[l.name.name.as_str()], &l.value)))
            .collect();
        for (slot, expr) in inits {
            let id = self.expr(expr);
            self.code.slots[slot as usize].init = Some(id);
        }
        // A flow's parameters and lets: slots of their own (no recursion, so one set per
        // flow), named `flow.value`; a let starts afresh at every call.
        let sensitive = sensitive_params(scope, &units);
        for (i, (f, fs)) in units.flows.iter().zip(units.flow_scopes).enumerate() {
            self.flow_ids.insert(f.key(), FlowId::try_from(i).expect(WITHIN_E009));
            self.flow_ends.push(scope.flow_ends_call(*f));
            let mut map = HashMap::default();
            let params =
                f.def.params.iter().enumerate().filter(|(_, p)| fs.params.iter().any(|q| std::ptr::eq(*q, *p)));
            let decls: Vec<_> = params
                .map(|(k, p)| (&p.name, p.ty.ty, sensitive[i].get(k).copied().unwrap_or(p.sensitive), None))
                .chain(fs.lets.iter().map(|l| (&l.name, l.ty.ty, l.sensitive, Some(&l.bounds))))
                .collect();
            for (name, ty, sensitive, bounds) in decls {
                let Some(ty) = ty else { continue };
                map.insert(name.name.as_str(), Slot::try_from(self.code.slots.len()).expect(WITHIN_E009));
                self.code.slots.push(SlotDecl {
                    name: format!("{}.{}", f.def.name.name, name.name),
                    ty,
                    sensitive,
                    input: false,
                    init: None,
                    min: bounds.and_then(|b| bound(ty, &b.min)),
                    max: bounds.and_then(|b| bound(ty, &b.max)),
                    local: true,
                    output: false,
                });
            }
            self.flow_slots.push(map);
        }
        // Outcomes: the script's own in order, then file-level and imported ones by name,
        // then the built-ins.
        let mut outcomes: Vec<(&str, &scope::OutcomeInfo)> = scope.outcomes.iter().map(|(n, o)| (*n, o)).collect();
        outcomes.sort_by_key(|(name, o)| {
            let builtin = scope::BUILTIN_OUTCOMES.contains(name);
            (builtin, o.file != scope.file || o.external, o.span.start, name.to_string())
        });
        self.code.outcomes = outcomes.iter().map(|(n, o)| OutcomeDecl { name: n.to_string(), goal: o.goal }).collect();
        // Outcomes of the files of flows and handler sets: imported with them (§16.4).
        let mut extra: Vec<(SourceId, u32, &str, bool)> = units
            .flow_scopes
            .iter()
            .chain(units.set_scopes.iter().map(|(_, s)| s))
            .flat_map(|s| {
                s.outcomes.iter().filter(|(_, o)| !o.external).map(|(n, o)| (o.file, o.span.start, *n, o.goal))
            })
            .collect();
        extra.sort();
        for (_, _, name, goal) in extra {
            if self.code.outcome(name).is_none() {
                self.code.outcomes.push(OutcomeDecl { name: name.to_string(), goal });
            }
        }

        // Steps in flow order; falling off a step continues with the next.
        let mut step_pcs = Vec::with_capacity(scope.steps.len());
        for (i, step) in scope.steps.iter().enumerate() {
            self.current_step = StepId::try_from(i).expect(WITHIN_E009);
            let pc = self.pc();
            step_pcs.push(pc);
            self.code.steps.push(StepDecl {
                section: step.section,
                flow: None,
                name: step.name.clone(),
                pc,
                span: self.at(step.name_span),
            });
            self.emit(Instruction::EnterStep(StepId::try_from(i).expect(WITHIN_E009)), step.name_span);
            let ends = self.block(step.stmts);
            if !ends && i + 1 < scope.steps.len() {
                let at = self.emit(Instruction::Jump(u32::MAX), step.span);
                self.goto_fixups.push((at, i + 1));
            }
        }
        if let Some(objection) = scope.objection {
            let script_slots = std::mem::take(&mut self.slots);
            for i in 0..=objection.handlers.len() {
                // Included sets stand before the handler they were written before; their
                // bodies see no value of the script.
                for (_, set) in units.set_scopes.iter().filter(|(at, _)| *at == i) {
                    self.scope = set;
                    self.slots = HashMap::default();
                    for handler in set.set.map(|s| s.handlers.as_slice()).unwrap_or(&[]) {
                        let branch = self.branch(handler, true);
                        self.code.handlers.push(branch);
                    }
                }
                self.scope = scope;
                self.slots = script_slots.clone();
                if let Some(handler) = objection.handlers.get(i) {
                    let branch = self.branch(handler, true);
                    self.code.handlers.push(branch);
                }
            }
            self.slots = script_slots;
        }
        self.fix_gotos(&step_pcs);
        // Each flow once, after the handlers; falling off its end returns.
        for (i, fs) in units.flow_scopes.iter().enumerate() {
            self.scope = fs;
            self.slots = self.flow_slots[i].clone();
            let flow = units.flows[i].def;
            let pc = self.pc();
            self.code.flows.push(FlowDecl { name: flow.name.name.clone(), pc, span: self.at(flow.name.span) });
            let mut pcs = Vec::with_capacity(fs.steps.len());
            for (k, step) in fs.steps.iter().enumerate() {
                let id = StepId::try_from(self.code.steps.len()).expect(WITHIN_E009);
                self.current_step = id;
                pcs.push(self.pc());
                self.code.steps.push(StepDecl {
                    section: step.section,
                    flow: Some(flow.name.name.clone()),
                    name: step.name.clone(),
                    pc: self.pc(),
                    span: self.at(step.name_span),
                });
                self.emit(Instruction::EnterStep(id), step.name_span);
                if k == 0 {
                    for l in &fs.lets {
                        if let Some(&slot) = self.slots.get(l.name.name.as_str()) {
                            let e = self.expr(&l.value);
                            self.emit(Instruction::Set(slot, e), l.span);
                        }
                    }
                }
                let ends = self.block(step.stmts);
                if !ends {
                    if k + 1 < fs.steps.len() {
                        let at = self.emit(Instruction::Jump(u32::MAX), step.span);
                        self.goto_fixups.push((at, k + 1));
                    } else {
                        // Falling off the end returns: at the closing `}`.
                        let close = Span { start: step.span.end.saturating_sub(1), end: step.span.end };
                        self.emit(Instruction::Return, close);
                    }
                }
            }
            self.fix_gotos(&pcs);
        }
        self.code.mark_sensitive_exprs();
        self.code
    }

    /// Patches the gotos lowered since the last call, to steps of the code just lowered.
    fn fix_gotos(&mut self, step_pcs: &[u32]) {
        for (at, step) in std::mem::take(&mut self.goto_fixups) {
            let target = step_pcs[step];
            self.code.code[at] = match self.code.code[at] {
                Instruction::Jump(_) => Instruction::Jump(target),
                other => other,
            };
        }
    }

    /// Lowers a block; returns true when it always ends the turn.
    fn block(&mut self, stmts: &'a [Stmt]) -> bool {
        let mut ended = false;
        for stmt in stmts {
            if ended {
                break;
            }
            ended = self.stmt(stmt);
        }
        ended
    }

    /// Interns a text (tags, queues); a map keeps lowering linear in the number of texts.
    fn text(&mut self, value: &str) -> TextId {
        if let Some(&id) = self.text_ids.get(value) {
            return id;
        }
        let id = self.code.texts.len() as TextId;
        self.code.texts.push(value.to_string());
        self.text_ids.insert(value.to_string(), id);
        id
    }

    fn outcome(&self, name: &str) -> OutcomeId {
        self.code.outcome(name).expect("checked outcome")
    }

    fn stmt(&mut self, stmt: &'a Stmt) -> bool {
        let span = stmt.span;
        match &stmt.kind {
            StmtKind::Say { prompt, bargein_off } => {
                let id = self.prompt(prompt, *bargein_off);
                self.emit(Instruction::Say(id), span);
                false
            }
            StmtKind::Ask(ask) => {
                self.ask(ask, span);
                true
            }
            StmtKind::Retry(reprompt) => {
                let id = reprompt.as_ref().map(|p| self.prompt(p, false));
                self.emit(Instruction::Retry(id), span);
                true
            }
            StmtKind::Resume => {
                self.emit(Instruction::Resume, span);
                true
            }
            StmtKind::Goto(target) => {
                let to = self.scope.resolve_target(target).expect("checked goto");
                let at = self.emit(Instruction::Jump(u32::MAX), span);
                self.goto_fixups.push((at, to));
                true
            }
            StmtKind::If(i) => self.if_stmt(i, span),
            StmtKind::Verify => {
                self.emit(Instruction::Verify, span);
                false
            }
            StmtKind::Tag(t) => {
                let id = self.text(&t.value);
                self.emit(Instruction::Tag(id), span);
                false
            }
            StmtKind::Callback(d) => {
                self.emit(Instruction::Callback(d.millis), span);
                false
            }
            StmtKind::Optout => {
                self.emit(Instruction::Optout, span);
                false
            }
            StmtKind::Transfer { queue, outcome, with } => {
                if !with.is_empty() {
                    let data = with.iter().map(|(k, v)| (k.name.clone(), self.expr(v))).collect();
                    self.code.handovers.push(data);
                    self.emit(Instruction::Handover((self.code.handovers.len() - 1) as u32), span);
                }
                let q = self.text(&queue.value);
                let o = outcome.as_ref().map(|o| self.outcome(&o.name));
                self.emit(Instruction::Transfer(q, o), span);
                true
            }
            StmtKind::Sms(prompt) => {
                let id = self.prompt(prompt, false);
                self.emit(Instruction::Sms(id), span);
                false
            }
            StmtKind::Do(d) => {
                self.do_stmt(d, span);
                true
            }
            StmtKind::Hangup(outcome) => {
                let o = outcome.as_ref().map(|o| self.outcome(&o.name)).unwrap_or_else(|| self.outcome("transferred"));
                self.emit(Instruction::Hangup(o), span);
                true
            }
            StmtKind::Set { name, value } => {
                let slot = self.slots[name.name.as_str()];
                let e = self.expr(value);
                self.emit(Instruction::Set(slot, e), span);
                false
            }
            StmtKind::Call { flow, args } => {
                let target = *self.scope.flows.get(flow.name.as_str()).expect("checked call");
                let id = self.flow_ids[&target.key()];
                for (p, arg) in target.def.params.iter().zip(args) {
                    let e = self.expr(arg);
                    if let Some(&slot) = self.flow_slots[id as usize].get(p.name.name.as_str()) {
                        self.emit(Instruction::Set(slot, e), arg.span);
                    }
                }
                self.emit(Instruction::Call(id), span);
                self.flow_ends[id as usize]
            }
            StmtKind::Return => {
                self.emit(Instruction::Return, span);
                true
            }
            StmtKind::Listen => {
                self.emit(Instruction::Listen(self.in_ask == 0), span);
                true
            }
            StmtKind::CallbackAt { date, time } => {
                let d = date.as_ref().map_or(NO_EXPR, |d| self.expr(d));
                let t = time.as_ref().map_or(NO_EXPR, |t| self.expr(t));
                self.emit(Instruction::CallbackAt(d, t), span);
                false
            }
            StmtKind::Error => false,
        }
    }

    fn if_stmt(&mut self, i: &'a If, span: Span) -> bool {
        let cond = self.expr(&i.cond);
        let test = self.emit(Instruction::JumpUnless(cond, u32::MAX), span);
        let then_ends = self.block(&i.then.stmts);
        let skip_else =
            if then_ends || i.otherwise.is_none() { None } else { Some(self.emit(Instruction::Jump(u32::MAX), span)) };
        let else_pc = self.pc();
        self.code.code[test] = Instruction::JumpUnless(cond, else_pc);
        let else_ends = match &i.otherwise {
            Some(Else::Block(b)) => self.block(&b.stmts),
            Some(Else::If(s)) => self.stmt(s),
            None => false,
        };
        let end = self.pc();
        if let Some(at) = skip_else {
            self.code.code[at] = Instruction::Jump(end);
        }
        then_ends && else_ends
    }

    fn ask(&mut self, ask: &'a ast::Ask, span: Span) {
        let prompt = self.prompt(&ask.prompt, ask.bargein_off);
        let id = AskId::try_from(self.code.asks.len()).expect(WITHIN_E009);
        self.code.asks.push(AskCode {
            prompt,
            timeout_ms: ask.timeout.map(|t| t.millis).unwrap_or(self.listen_timeout_ms),
            retries: ask.retries.map(|r| r.value.clamp(0, u32::MAX as i64) as u32).unwrap_or(0),
            branches: Vec::with_capacity(ask.branches.len()),
            span: self.at(ask.head),
            step: self.current_step,
            capture: ask.capture.as_ref().map(|c| self.capture(c)),
        });
        self.emit(Instruction::Ask(id), span);
        self.in_ask += 1;
        for branch in &ask.branches {
            let code = self.branch(branch, false);
            self.code.asks[id as usize].branches.push(code);
        }
        self.in_ask -= 1;
    }

    /// `Do`, then the `ok` body, then the `failed` body (both end the turn: checked).
    fn do_stmt(&mut self, d: &'a Do, span: Span) {
        let action = self.code.actions.iter().position(|a| a.name == d.action.name).expect("checked action");
        let args = d.args.iter().map(|(n, e)| (n.name.clone(), self.expr(e))).collect();
        let id = DoId::try_from(self.code.dos.len()).expect(WITHIN_E009);
        let body = |name: &str| {
            d.branches
                .iter()
                .find(|b| b.patterns.iter().any(|p| matches!(&p.kind, PatternKind::Intent(i) if i.name == name)))
        };
        let head = |name: &str| self.at(body(name).map_or(d.head, |b| b.head));
        self.code.dos.push(DoCode {
            action: action as u16,
            args,
            timeout_ms: d.timeout.map_or(DEFAULT_ACTION_TIMEOUT_MS, |t| t.millis),
            failed: u32::MAX,
            ok: u32::MAX,
            span: self.at(d.head),
            ok_span: head("ok"),
            failed_span: head("failed"),
        });
        self.emit(Instruction::Do(id), span);
        self.code.dos[id as usize].ok = self.pc();
        if let Some(b) = body("ok") {
            self.block(&b.body.stmts);
        }
        self.code.dos[id as usize].failed = self.pc();
        if let Some(b) = body("failed") {
            self.block(&b.body.stmts);
        }
    }

    fn capture(&self, capture: &Capture) -> CaptureCode {
        let slot = self.slots[capture.name.name.as_str()];
        let kind = match (self.code.slots[slot as usize].ty, capture.digits) {
            (_, Some(d)) => {
                let (min, max) = d.range();
                let len = |n: i64| u8::try_from(n).expect("checked: digits within MAX_DIGITS");
                CaptureKind::Digits { min: len(min), max: len(max) }
            }
            (Type::Int, None) => CaptureKind::Int,
            (Type::Money, None) => CaptureKind::Money,
            (Type::Date, None) => CaptureKind::Date,
            (Type::Time, None) => CaptureKind::Time,
            (Type::Text | Type::Bool, None) => CaptureKind::Text,
        };
        CaptureCode { slot, kind }
    }

    fn branch(&mut self, branch: &'a Branch, handler: bool) -> BranchCode {
        // A program is kept for each script checked: no spare capacity in its small lists (sized
        // for every pattern, so only a pattern that lowers to nothing leaves some to give back).
        let mut patterns = Vec::with_capacity(branch.patterns.len());
        patterns.extend(branch.patterns.iter().filter_map(|p| self.pattern(p)));
        patterns.shrink_to_fit();
        let guard = branch.guard.as_ref().map(|g| self.expr(g));
        let limit = if handler {
            match branch.limit {
                Some(l) => Some(l.value.clamp(1, u32::MAX as i64) as u32),
                // §9.2: handlers on silence, unknown or `_` have no limit unless written.
                None if branch.patterns.iter().all(|p| {
                    matches!(
                        p.kind,
                        PatternKind::Silence | PatternKind::Unknown | PatternKind::Any | PatternKind::Exhausted
                    )
                }) =>
                {
                    None
                }
                None => Some(2),
            }
        } else {
            None
        };
        let pc = self.pc();
        self.block(&branch.body.stmts);
        BranchCode { patterns, guard, limit, pc, span: self.at(branch.head) }
    }

    fn pattern(&mut self, p: &Pattern) -> Option<PatternCode> {
        Some(match &p.kind {
            PatternKind::Intent(name) => {
                let info = self.scope.intent(&name.name)?;
                let key = (info.file, info.def.name.span.start);
                let id = match self.intent_ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = self.intents.len() as IntentId;
                        self.intents.push(intent_table(info.def));
                        self.intent_ids.insert(key, id);
                        id
                    }
                };
                PatternCode::Intent(id)
            }
            PatternKind::Dtmf(d) => PatternCode::Dtmf(d.value.clone()),
            PatternKind::Emotion(e) => PatternCode::Emotion(Emotion::from_name(&e.name)?),
            PatternKind::Silence => PatternCode::Silence,
            PatternKind::Unknown => PatternCode::Unknown,
            PatternKind::Any => PatternCode::Any,
            PatternKind::Exhausted => PatternCode::Exhausted,
            PatternKind::Captured => PatternCode::Captured,
        })
    }

    fn prompt(&mut self, prompt: &'a Prompt, bargein_off: bool) -> PromptId {
        let segments = prompt
            .segments
            .iter()
            .map(|seg| match seg {
                Segment::Text { text, .. } => PromptSegment::Text(text.clone()),
                Segment::Interp { expr, filter, .. } => PromptSegment::Value {
                    expr: self.expr(expr),
                    filter: filter.as_ref().and_then(|f| Filter::from_name(&f.name)),
                },
            })
            .collect();
        let no_bargein =
            bargein_off || self.bargein_off || self.pack.is_some_and(|p| p.never_cut(&prompt.static_text()));
        self.code.prompts.push(PromptCode { segments, no_bargein, span: self.at(prompt.span) });
        (self.code.prompts.len() - 1) as PromptId
    }

    fn expr(&mut self, expr: &'a Expr) -> ExprId {
        let mut sensitive = false;
        expr_ops(expr, &self.slots, &self.code.slots, &mut self.ops, &mut sensitive);
        // Moved out into a list of the exact size: growing a new list, then shrinking it to fit,
        // cost two allocations and a copy for each expression.
        let ops = self.ops.drain(..).collect();
        self.code.exprs.push(ExprCode { ops, span: self.at(expr.span), sensitive });
        (self.code.exprs.len() - 1) as ExprId
    }
}

/// Lowers an expression to postfix ops over the given slots; `sensitive` is set when it reads
/// a sensitive slot.
fn expr_ops(expr: &Expr, slots: &HashMap<&str, Slot>, decls: &[SlotDecl], ops: &mut Vec<ExprOp>, sensitive: &mut bool) {
    match &expr.kind {
        ExprKind::Int(n) => ops.push(ExprOp::Const(Value::Int(*n))),
        ExprKind::Money(m) => ops.push(ExprOp::Const(Value::Money(*m))),
        ExprKind::Str(s) => ops.push(ExprOp::Const(Value::Text(s.clone()))),
        ExprKind::Bool(b) => ops.push(ExprOp::Const(Value::Bool(*b))),
        ExprKind::Date(d) => ops.push(ExprOp::Const(Value::Date(*d))),
        ExprKind::Time(t) => ops.push(ExprOp::Const(Value::Time(*t))),
        ExprKind::Name(ident) => match ident.name.as_str() {
            "attempt" if !slots.contains_key("attempt") => ops.push(ExprOp::Attempt),
            "hour" if !slots.contains_key("hour") => ops.push(ExprOp::Hour),
            "today" if !slots.contains_key("today") => ops.push(ExprOp::Today),
            "weekday" if !slots.contains_key("weekday") => ops.push(ExprOp::Weekday),
            name => {
                let slot = slots[name];
                *sensitive |= decls[slot as usize].sensitive;
                ops.push(ExprOp::Load(slot));
            }
        },
        ExprKind::Field(action, field) => {
            let name = format!("{}.{}", action.name, field.name);
            let slot = decls.iter().position(|d| d.output && d.name == name).expect("checked output");
            *sensitive |= decls[slot].sensitive;
            ops.push(ExprOp::Load(slot as Slot));
        }
        ExprKind::Paren(inner) => expr_ops(inner, slots, decls, ops, sensitive),
        ExprKind::Unary(op, inner) => {
            expr_ops(inner, slots, decls, ops, sensitive);
            ops.push(match op {
                UnaryOp::Neg => ExprOp::Neg,
                UnaryOp::Not => ExprOp::Not,
            });
        }
        ExprKind::Binary(op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs) => {
            expr_ops(lhs, slots, decls, ops, sensitive);
            let at = ops.len();
            ops.push(ExprOp::And(0));
            expr_ops(rhs, slots, decls, ops, sensitive);
            let skip = (ops.len() - at - 1) as u32;
            ops[at] = if *op == BinaryOp::And { ExprOp::And(skip) } else { ExprOp::Or(skip) };
        }
        ExprKind::Binary(op, lhs, rhs) => {
            expr_ops(lhs, slots, decls, ops, sensitive);
            expr_ops(rhs, slots, decls, ops, sensitive);
            ops.push(match op {
                BinaryOp::Add => ExprOp::Add,
                BinaryOp::Sub => ExprOp::Sub,
                BinaryOp::Mul => ExprOp::Mul,
                BinaryOp::Div => ExprOp::Div,
                BinaryOp::Rem => ExprOp::Rem,
                BinaryOp::Eq => ExprOp::Eq,
                BinaryOp::Ne => ExprOp::Ne,
                BinaryOp::Lt => ExprOp::Lt,
                BinaryOp::Le => ExprOp::Le,
                BinaryOp::Gt => ExprOp::Gt,
                BinaryOp::Ge => ExprOp::Ge,
                BinaryOp::And | BinaryOp::Or => unreachable!("handled above"),
            });
        }
        // A checked script holds no call; a segment's become names first (`crate::segment`).
        ExprKind::Call(..) | ExprKind::Error => ops.push(ExprOp::Const(Value::Bool(false))),
    }
}

/// How long a `do` waits for its action without `timeout` (§13).
pub const DEFAULT_ACTION_TIMEOUT_MS: u64 = 3_000;

/// A declared bound as a value of the slot's type (checked: a literal of it).
fn bound(ty: Type, expr: &Option<Expr>) -> Option<Value> {
    match (ty, &expr.as_ref()?.kind) {
        (Type::Int, ExprKind::Int(n)) => Some(Value::Int(*n)),
        (Type::Money, ExprKind::Int(n)) => crate::value::Money::from_int(*n).map(Value::Money),
        (Type::Money, ExprKind::Money(m)) => Some(Value::Money(*m)),
        _ => None,
    }
}

/// Compiles a standalone expression over a compiled script's values (a campaign's `segment`):
/// type-checked like script code; it must be a condition (`bool`).
pub fn compile_condition(text: &str, script: &ScriptCode) -> Result<ExprCode, Vec<crate::diagnostic::Diagnostic>> {
    let (expr, diagnostics) = crate::syntax::parse_expr(text, SourceId(0));
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    condition_code(&expr, script)
}

/// A parsed condition type-checked and lowered over `script`'s values (file 0).
pub(crate) fn condition_code(expr: &Expr, script: &ScriptCode) -> Result<ExprCode, Vec<crate::diagnostic::Diagnostic>> {
    use crate::check::scope::{ScriptScope, ValueInfo, ValueKind};
    use crate::check::settings::Settings;
    use crate::check::types::{TypeChecker, Usage};
    let file = SourceId(0);
    let mut diagnostics = Vec::new();
    let dummy = Script {
        allows: Vec::new(),
        name: Ident { name: script.name.clone(), span: Span::default() },
        title: None,
        members: Vec::new(),
        span: Span::default(),
    };
    let mut values: HashMap<&str, ValueInfo> = crate::check::scope::builtin_values().collect();
    for s in &script.slots {
        let kind = if s.input { ValueKind::Input } else { ValueKind::Let };
        values.insert(
            s.name.as_str(),
            ValueInfo { ty: s.ty, sensitive: s.sensitive, kind, span: Span::default(), required: false },
        );
    }
    let scope = ScriptScope {
        file,
        script: &dummy,
        flow: None,
        set: None,
        files: &[],
        flows: HashMap::default(),
        sets: HashMap::default(),
        params: Vec::new(),
        flow_ends: Default::default(),
        settings: Settings::default(),
        steps: Vec::new(),
        step_names: HashMap::default(),
        sections: HashMap::default(),
        objection: None,
        intents: HashMap::default(),
        outcomes: HashMap::default(),
        values,
        inputs: Vec::new(),
        lets: Vec::new(),
        actions: HashMap::default(),
        sensitive_actions: Default::default(),
    };
    let mut usage = Usage::default();
    let typed = TypeChecker { scope: &scope, usage: &mut usage, diagnostics: &mut diagnostics }.expr(expr);
    if let Some(ty) = typed.ty
        && ty != Type::Bool
    {
        diagnostics.push(
            crate::diagnostic::Diagnostic::new(
                "E200",
                file,
                expr.span,
                format!("a segment must be a condition, but this is {}", ty.a()),
            )
            .label("not true or false")
            .with_help("compare a value, e.g. `days_overdue >= 3`"),
        );
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let slots: HashMap<&str, Slot> =
        script.slots.iter().enumerate().map(|(i, s)| (s.name.as_str(), i as Slot)).collect();
    let mut ops = Vec::new();
    let mut sensitive = false;
    expr_ops(expr, &slots, &script.slots, &mut ops, &mut sensitive);
    Ok(ExprCode { ops, span: FileSpan::new(file, expr.span), sensitive })
}

#[cfg(test)]
mod tests {
    use crate::check::{CheckOptions, NoFiles, check_with};
    use crate::source::Source;

    /// The `no_bargein` marks of a script's prompts, lowered under `jurisdiction`'s pack.
    fn marks(jurisdiction: &str, src: &str) -> Vec<bool> {
        let checked =
            check_with(vec![Source::new("s.call", src)], &mut NoFiles, &CheckOptions::jurisdiction(jurisdiction));
        let program = checked.root_program().unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        assert_eq!(program.jurisdiction, jurisdiction);
        program.scripts[0].prompts.iter().map(|p| p.no_bargein).collect()
    }

    #[test]
    fn the_us_recording_notice_cannot_be_barged_over() {
        let src = "script s {\n  purpose service\n  outcomes { done }\n  opening {\n    say \"Hello. This call may be monitored or recorded.\"\n    say \"Thank you, goodbye.\"\n    hangup done\n  }\n}\n";
        assert_eq!(marks("us", src), [true, false]);
    }

    #[test]
    fn the_cn_disclosures_come_from_the_cn_pack() {
        let src = "script s {\n  purpose service\n  outcomes { done }\n  opening {\n    say \"您好,本次通话将被录音。\"\n    say \"产品有风险\"\n    say \"再见\"\n    hangup done\n  }\n}\n";
        assert_eq!(marks("cn", src), [true, true, false]);
    }
}
