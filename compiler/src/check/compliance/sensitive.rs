//! CS002: a `sensitive` input or let, or a value computed from one, is spoken only after
//! `verify` on every path. Handler code is analysed once per ask it can interrupt, with that ask's state.

use super::{Analysis, Avoid, VERIFIED};
use crate::bytecode::{ExprOp, PromptSegment};
use crate::diagnostic::Diagnostic;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    // A `let` holding a value computed from a sensitive input is sensitive too (§9.5).
    let tainted = code.tainted_slots();
    let loads_tainted = |e: u32, tainted: &[bool]| {
        let expr = &code.exprs[e as usize];
        expr.sensitive || expr.ops.iter().any(|op| matches!(op, ExprOp::Load(s) if tainted[*s as usize]))
    };

    for (p, nodes) in a.prompt_nodes().into_iter().enumerate() {
        let prompt = &code.prompts[p];
        let unverified = || nodes.iter().copied().filter(|&n| a.facts[n as usize] & VERIFIED == 0);
        if unverified().next().is_none() {
            continue;
        }
        for seg in &prompt.segments {
            let PromptSegment::Value { expr, .. } = seg else { continue };
            if !loads_tainted(*expr, &tainted) {
                continue;
            }
            let Some(node) = a.nearest(Avoid::Verify, unverified()) else { continue };
            let e = &code.exprs[*expr as usize];
            let mut names: Vec<&str> = e
                .ops
                .iter()
                .filter_map(|op| match op {
                    ExprOp::Load(s) if tainted[*s as usize] => Some(code.slots[*s as usize].name.as_str()),
                    _ => None,
                })
                .collect();
            names.dedup();
            let declared = |name: &str| code.slots.iter().find(|s| s.name == name);
            let what = match names.as_slice() {
                [one] if declared(one).is_some_and(|s| s.input) => format!("the sensitive input `{one}`"),
                // A sensitive let (§16.3: from its declaration, whatever it holds).
                [one] if declared(one).is_some_and(|s| s.sensitive) => format!("the sensitive value `{one}`"),
                [one] => format!("`{one}`, computed from a sensitive input,"),
                _ => "a value computed from a sensitive input".to_string(),
            };
            out.push(
                a.finding("CS002", e.span, format!("{what} can be spoken before `verify`"))
                    .label("spoken on a path without `verify`")
                    .with_path(a.witness(Avoid::Verify, node, "without `verify`"))
                    .with_help(
                        "confirm the customer's identity with `verify` on every path to this prompt, or leave the value out",
                    ),
            );
        }
    }
}
