//! `@allow` (LANGUAGE.md §9.7): which construct each one covers, whether it names a real code
//! with a reason, and the findings it removes (kept for audit).

use crate::check::{Allowed, compliance};
use crate::diagnostic::{CODES, Diagnostic};
use crate::span::{SourceId, Span};
use crate::suggest::closest;
use crate::syntax::ast::*;

/// Every `@allow` of a script with the span of the construct it stands before (§9.7: it
/// covers findings whose primary span starts inside that construct).
pub fn collect_allows<'a>(script: &'a Script, out: &mut Vec<(&'a Allow, Span)>) {
    fn add<'a>(allows: &'a [Allow], span: Span, out: &mut Vec<(&'a Allow, Span)>) {
        out.extend(allows.iter().map(|a| (a, span)));
    }
    fn stmts<'a>(list: &'a [Stmt], out: &mut Vec<(&'a Allow, Span)>) {
        for s in list {
            add(&s.allows, s.span, out);
            match &s.kind {
                StmtKind::Ask(ask) => branches(&ask.branches, out),
                StmtKind::Do(d) => branches(&d.branches, out),
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

/// Every `@allow` of a file-level intent, flow or handler set of the file (§12): they cover findings in its code
/// wherever it runs.
pub fn collect_unit_allows<'a>(item: &'a Item, out: &mut Vec<(&'a Allow, Span)>) {
    match item {
        // A file-level intent's (W003, W010–W012).
        Item::Intent(i) => out.extend(i.allows.iter().map(|a| (a, i.span))),
        Item::Flow(f) => {
            out.extend(f.allows.iter().map(|a| (a, f.span)));
            collect_stmts(&f.body, out);
            for step in &f.steps {
                out.extend(step.allows.iter().map(|a| (a, step.span)));
                collect_stmts(&step.body.stmts, out);
            }
        }
        Item::Handlers(h) => {
            for b in &h.handlers {
                out.extend(b.allows.iter().map(|a| (a, b.span)));
                collect_stmts(&b.body.stmts, out);
            }
        }
        _ => {}
    }
}

fn collect_stmts<'a>(list: &'a [Stmt], out: &mut Vec<(&'a Allow, Span)>) {
    for s in list {
        out.extend(s.allows.iter().map(|a| (a, s.span)));
        match &s.kind {
            StmtKind::Ask(ask) => {
                for b in &ask.branches {
                    out.extend(b.allows.iter().map(|a| (a, b.span)));
                    collect_stmts(&b.body.stmts, out);
                }
            }
            StmtKind::Do(d) => {
                for b in &d.branches {
                    out.extend(b.allows.iter().map(|a| (a, b.span)));
                    collect_stmts(&b.body.stmts, out);
                }
            }
            StmtKind::If(i) => {
                collect_stmts(&i.then.stmts, out);
                match &i.otherwise {
                    Some(Else::Block(b)) => collect_stmts(&b.stmts, out),
                    Some(Else::If(inner)) => collect_stmts(std::slice::from_ref(inner.as_ref()), out),
                    None => {}
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
