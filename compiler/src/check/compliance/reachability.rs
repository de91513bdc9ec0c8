//! CS005 (marketing: `optout` is handled from every ask by a body that runs the `optout`
//! statement) and CS007 (from every ask, anger and a complaint can reach a `transfer`).
//!
//! Both look at what one customer turn can do at each ask: the bodies a pattern can select
//! there (the ask's own branches first, then `objection`'s handlers, as §4 matches them), and
//! what those bodies do before the next answer is awaited: following `if`, `goto` and
//! falling through, but not `ask`, `retry` or `resume`.

use super::Analysis;
use super::cfg::{At, Edge, NodeId};
use crate::bytecode::{Emotion, ExprOp, Instruction, PatternCode};
use crate::diagnostic::Diagnostic;
use crate::span::FileSpan;
use crate::value::Value;

/// A body a turn can select: where it starts, its branch or handler, and its guard when the
/// guard can be false (§9.1: then the branch counts as absent).
struct Candidate {
    entry: NodeId,
    span: FileSpan,
    guard: Option<FileSpan>,
}

/// The bodies a turn matching `pattern` can select at a listening node, in matching order:
/// the ask's branches naming it up to the first without a guard, then, unless that one was an
/// ask's branch, the objection handlers naming it up to the first without a guard; with their
/// guards. A guard counts as always true only when it is the literal
/// `true`; every other guard may be false, so the selection goes on past it. When every body
/// returned has a guard, a turn whose guards are all false selects none of them. The bodies
/// go in `out` (cleared first: a buffer the caller reuses for every listening node).
fn selectable(a: &Analysis, listen: NodeId, pattern: impl Fn(&PatternCode) -> bool, out: &mut Vec<Candidate>) {
    out.clear();
    let code = a.code;
    let At::Listen(ask) = a.cfg.nodes[listen as usize].at else { return };
    let successors = a.cfg.successors(listen);
    let branches = successors.iter().filter_map(|&(to, edge)| match edge {
        Edge::Branch(i) => Some((to, &code.asks[ask as usize].branches[i as usize])),
        _ => None,
    });
    let handlers = successors.iter().filter_map(|&(to, edge)| match edge {
        Edge::Handler(i) => Some((to, &code.handlers[i as usize])),
        _ => None,
    });
    for (to, b) in branches.chain(handlers) {
        if b.patterns.iter().any(&pattern) {
            let guard =
                b.guard.map(|g| &code.exprs[g as usize]).filter(|g| g.ops != [ExprOp::Const(Value::Bool(true))]);
            out.push(Candidate { entry: to, span: b.span, guard: guard.map(|g| g.span) });
            if guard.is_none() {
                return;
            }
        }
    }
}

/// The listening nodes of every reached ask, by ask (handler code has one per interrupted ask).
fn listens(a: &Analysis) -> Vec<Vec<NodeId>> {
    let mut out = vec![Vec::new(); a.code.asks.len()];
    for (n, node) in a.cfg.nodes.iter().enumerate() {
        if let At::Listen(ask) = node.at {
            out[ask as usize].push(n as NodeId);
        }
    }
    out
}

fn intent_named<'p>(a: &'p Analysis, name: &'p str) -> impl Fn(&PatternCode) -> bool + 'p {
    move |p| matches!(p, PatternCode::Intent(i) if a.program.intents.get(*i as usize).is_some_and(|t| t.name == name))
}

/// A finding at an ask, with the witness path to its question.
fn at_ask(a: &Analysis, code: &'static str, ask: usize, message: String) -> Diagnostic {
    let mut d = a.finding(code, a.code.asks[ask].span, message);
    let pc = a.cfg.ask_pc[ask];
    d = a.with_shortest_path(d, a.by_pc[pc as usize].iter().copied());
    d
}

/// CS005.
pub(super) fn optout(a: &Analysis, out: &mut Vec<Diagnostic>) {
    if !a.purpose_is(&a.pack.optout.purposes) {
        return;
    }
    let code = a.code;
    let runs = a.cfg.always_in_turn(|n| a.cfg.instruction(code, n) == Some(Instruction::Optout));
    let is_optout = intent_named(a, "optout");
    let mut bodies = Vec::new();
    for (ask, nodes) in listens(a).into_iter().enumerate() {
        let mut unhandled = false;
        let mut wrong: Vec<FileSpan> = Vec::new();
        // The guards of a selection where every body is guarded: when all are false, nothing
        // handles the request.
        let mut guards: Vec<FileSpan> = Vec::new();
        for listen in nodes {
            selectable(a, listen, &is_optout, &mut bodies);
            unhandled |= bodies.is_empty();
            if bodies.iter().all(|b| b.guard.is_some()) {
                for guard in bodies.iter().filter_map(|b| b.guard) {
                    if !guards.contains(&guard) {
                        guards.push(guard);
                    }
                }
            }
            for body in &bodies {
                if !runs[body.entry as usize] && !wrong.contains(&body.span) {
                    wrong.push(body.span);
                }
            }
        }
        if !unhandled && !guards.is_empty() {
            out.push(only_guarded(a, ask, &guards, &wrong));
        } else if unhandled {
            out.push(
                at_ask(
                    a,
                    "CS005",
                    ask,
                    "a customer who asks not to be called again is not opted out at this ask".into(),
                )
                .label("no branch or objection handler for `optout`")
                .with_help(
                    "add `on optout => { optout; say \"好的,已为您登记,后续不再致电。\"; hangup … }` to `objection`",
                ),
            );
        } else if !wrong.is_empty() {
            let mut d = at_ask(
                a,
                "CS005",
                ask,
                "at this ask, `optout` is handled by a body that does not run the `optout` statement".into(),
            )
            .label("the do-not-call request is not recorded from here")
            .with_help("run the `optout` statement on every path of the body before it ends the call");
            for span in wrong {
                d = d.with_secondary(span.file, span.span, "this body can end the turn without `optout`");
            }
            out.push(d);
        }
    }
}

/// The CS005 finding for an ask where `optout` is handled only under guards that can all be
/// false (§9.1: a branch whose guard is false counts as absent).
fn only_guarded(a: &Analysis, ask: usize, guards: &[FileSpan], wrong: &[FileSpan]) -> Diagnostic {
    let text = |at: &FileSpan| {
        a.program.files.get(at.file.0 as usize).and_then(|f| f.text.get(at.span.range())).map(|t| format!("`{t}`"))
    };
    let written: Vec<String> = guards.iter().filter_map(text).collect();
    let under = match written.as_slice() {
        [one] if guards.len() == 1 => format!("under the guard {one}: when it is false"),
        _ => "under guards: when they are all false".to_string(),
    };
    let mut d = at_ask(
        a,
        "CS005",
        ask,
        format!(
            "at this ask, `optout` is handled only {under}, a customer who asks not to be called again is not opted out"
        ),
    )
    .label("`optout` is not handled here when the guard is false")
    .with_help(
        "handle `optout` without a guard (`on optout => { optout; … }`), or add an unguarded `on optout` handler to `objection` for when the guard is false",
    );
    for guard in guards {
        d = d.with_secondary(guard.file, guard.span, "when this is false, nothing else handles `optout`");
    }
    for span in wrong {
        d = d.with_secondary(span.file, span.span, "this body can end the turn without `optout`");
    }
    d
}

/// CS007.
pub(super) fn escalation(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let reaches = a.cfg.reaches_in_turn(|n| matches!(a.cfg.instruction(code, n), Some(Instruction::Transfer(..))));
    let angry = |p: &PatternCode| *p == PatternCode::Emotion(Emotion::Angry);
    let complaint = intent_named(a, "complaint");
    let mut bodies = Vec::new();
    for (ask, nodes) in listens(a).into_iter().enumerate() {
        // (cannot reach, bodies that do not, guards under which nothing does) for anger and
        // for a complaint. Every body the turn can select must reach a `transfer`, and the
        // selection must end with one that has no guard: a guard that can be false leaves the
        // customer to the next body, or to none (§9.1, as CS005 counts `optout`).
        let mut failing = [(false, Vec::new(), Vec::new()), (false, Vec::new(), Vec::new())];
        for listen in nodes {
            let kinds: [&dyn Fn(&PatternCode) -> bool; 2] = [&angry, &complaint];
            for (k, pattern) in kinds.into_iter().enumerate() {
                selectable(a, listen, pattern, &mut bodies);
                let all_reach = bodies.iter().all(|b| reaches[b.entry as usize]);
                let always = bodies.last().is_some_and(|b| b.guard.is_none());
                if all_reach && always {
                    continue;
                }
                let (fails, wrong, guards) = &mut failing[k];
                *fails = true;
                for b in bodies.iter().filter(|b| !reaches[b.entry as usize]) {
                    if !wrong.contains(&b.span) {
                        wrong.push(b.span);
                    }
                }
                if !always {
                    for guard in bodies.iter().filter_map(|b| b.guard) {
                        if !guards.contains(&guard) {
                            guards.push(guard);
                        }
                    }
                }
            }
        }
        let [(anger, anger_bodies, anger_guards), (complain, complaint_bodies, complaint_guards)] = failing;
        let who = match (anger, complain) {
            (false, false) => continue,
            (true, false) => "an angry customer",
            (false, true) => "a customer who complains",
            (true, true) => "neither an angry customer nor one who complains",
        };
        let message = if anger && complain {
            format!("{who} can reach a person from this ask")
        } else {
            format!("{who} cannot reach a person from this ask")
        };
        let mut d = at_ask(a, "CS007", ask, message).label("no `transfer` for anger or a complaint here");
        for span in anger_bodies {
            d = d.with_secondary(span.file, span.span, "`emotion angry` goes here, which reaches no `transfer`");
        }
        for span in complaint_bodies {
            d = d.with_secondary(span.file, span.span, "`complaint` goes here, which reaches no `transfer`");
        }
        let mut guards = anger_guards;
        for guard in complaint_guards {
            if !guards.contains(&guard) {
                guards.push(guard);
            }
        }
        for guard in guards {
            d = d.with_secondary(guard.file, guard.span, "when this guard is false, nothing else escalates");
        }
        out.push(d.with_help(
            "add `on emotion angry, complaint => transfer \"queue\"` to `objection` (a body counts when it reaches `transfer` before the customer is asked anything else)",
        ));
    }
}
