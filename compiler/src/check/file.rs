//! One root file's language checks: every script's types, flow and unused names, and every
//! test, gathered before `@allow` is applied (see [`super::allow`]).

use rustc_hash::FxHashMap as HashMap;

use crate::check::scope::{FlowRef, ScriptScope, Unit, duplicate, file_scope, script_scope, unit_scope, visible_flows};
use crate::check::{ParsedFile, allow, flow, phrase_lints, types};
use crate::diagnostic::Diagnostic;
use crate::source::Sources;
use crate::span::{SourceId, Span};
use crate::suggest::closest;
use crate::syntax::ast::*;

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
    let mut scripts: HashMap<&str, ScriptScope> = HashMap::default();
    let mut used_intents: HashMap<&str, ()> = HashMap::default();
    let mut allows: Vec<(&Allow, Span)> = Vec::new();
    for item in &file.ast.items {
        if let Item::Script(script) = item {
            if let Some(prev) = scripts.get(script.name.name.as_str()) {
                found.push(duplicate(file.id, "script", &script.name.name, script.name.span, prev.script.name.span));
                continue;
            }
            let scope = script_scope(file, files, script, &base, &mut found);
            let mut usage = types::Usage::default();
            types::check_script(&scope, &mut usage, &mut found);
            flow::check_script(&scope, &mut found);
            unused(&scope, &usage, &mut found);
            for name in usage.intents {
                used_intents.insert(name, ());
            }
            allow::collect_allows(script, &mut allows);
            scripts.insert(&script.name.name, scope);
        }
    }
    for item in &file.ast.items {
        allow::collect_unit_allows(item, &mut allows);
    }
    let mut intent_scopes = vec![&base.intents];
    intent_scopes.extend(scripts.values().map(|s| &s.intents));
    phrase_lints::check_file_phrases(file, &intent_scopes, &mut found);
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
                Diagnostic::new("W008", scope.file, l.name.span, format!("value `{}` is never used", l.name.name))
                    .label("never read, set or captured")
                    .with_help("remove it, or set it, capture into it, or use it in a prompt or a condition"),
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

/// Checks the flows and handler sets of a file (§12), each once, in the scope of its own file:
/// names and types, ends of bodies, gotos, recursion (E309), and duplicate names.
pub fn check_units(file: &ParsedFile, files: &[ParsedFile], found: &mut Vec<Diagnostic>) {
    let mut scratch = Vec::new();
    let base = file_scope(file, files, &mut scratch);
    let mut names: HashMap<&str, Span> = HashMap::default();
    for item in &file.ast.items {
        let (unit, name) = match item {
            Item::Flow(f) => (Unit::Flow(f), &f.name),
            Item::Handlers(h) => (Unit::Set(h), &h.name),
            _ => continue,
        };
        let what = if matches!(unit, Unit::Flow(_)) { "flow" } else { "handler set" };
        if let Some(prev) = names.insert(&name.name, name.span) {
            found.push(duplicate(file.id, what, &name.name, name.span, prev));
            continue;
        }
        let scope = unit_scope(file, files, &base, unit, found);
        types::check_unit(&scope, found);
        flow::check_unit(&scope, found);
    }
    recursion(file, files, found);
}

/// E309: a `call` in a flow of `file` from which the flow can be reached again (§12).
fn recursion(file: &ParsedFile, files: &[ParsedFile], found: &mut Vec<Diagnostic>) {
    fn calls(def: &Flow) -> Vec<&Ident> {
        fn walk<'a>(stmts: &'a [Stmt], out: &mut Vec<&'a Ident>) {
            visit_stmts(stmts, &mut |s| {
                if let StmtKind::Call { flow, .. } = &s.kind {
                    out.push(flow);
                }
            });
        }
        let mut out = Vec::new();
        walk(&def.body, &mut out);
        def.steps.iter().for_each(|s| walk(&s.body.stmts, &mut out));
        out
    }
    let mut visible: HashMap<crate::span::SourceId, HashMap<&str, FlowRef>> = HashMap::default();
    let own = visible_flows(file, files);
    for item in &file.ast.items {
        let Item::Flow(def) = item else { continue };
        let me = (file.id, def.name.span.start);
        for site in calls(def) {
            let Some(first) = own.get(site.name.as_str()).copied() else { continue };
            // Depth-first from the callee: does it lead back to this flow?
            let mut seen = std::collections::HashSet::new();
            let mut stack = vec![first];
            let mut back = false;
            while let Some(f) = stack.pop() {
                if f.key() == me {
                    back = true;
                    break;
                }
                if !seen.insert(f.key()) {
                    continue;
                }
                let Some(pf) = files.iter().find(|p| p.id == f.file) else { continue };
                let map = visible.entry(f.file).or_insert_with(|| visible_flows(pf, files));
                for c in calls(f.def) {
                    if let Some(g) = map.get(c.name.as_str()) {
                        stack.push(*g);
                    }
                }
            }
            if back {
                let direct = first.key() == me;
                found.push(
                    Diagnostic::new(
                        "E309",
                        file.id,
                        site.span,
                        if direct {
                            format!("flow `{}` calls itself", def.name.name)
                        } else {
                            format!("this call leads back to flow `{}`", def.name.name)
                        },
                    )
                    .label("recursive call")
                    .with_secondary(file.id, def.name.span, "the flow that is called again")
                    .with_help("flows cannot call themselves, directly or through other flows: use `goto` to one of the flow's own steps to do something again"),
                );
            }
        }
    }
}
