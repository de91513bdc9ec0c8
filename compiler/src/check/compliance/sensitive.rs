//! CS002: a `sensitive` input or let, or a value computed from one, is spoken only after
//! `verify` on every path. Handler code is analysed once per ask it can interrupt, with that ask's state.

use super::cfg::NodeId;
use super::{Analysis, Avoid, VERIFIED};
use crate::bytecode::{ExprId, ExprOp, Instruction, PromptSegment};
use crate::diagnostic::Diagnostic;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    // A `let` holding a value computed from a sensitive input is sensitive too (§9.5).
    let tainted = code.tainted_slots();
    let loads_tainted = |e: u32, tainted: &[bool]| {
        let expr = &code.exprs[e as usize];
        expr.sensitive || expr.ops.iter().any(|op| matches!(op, ExprOp::Load(s) if tainted[*s as usize]))
    };

    // Prompts, then text messages and the data of `transfer … with` (§13), each with the
    // nodes that run it and what it reads (its expressions are listed only for a site some
    // unverified node runs: most sites of a large script come after `verify`).
    enum Reads {
        Prompt(u32),
        Handover(u32),
    }
    let mut sites: Vec<(&[NodeId], Reads, &str)> = Vec::new();
    for (p, nodes) in a.prompt_nodes.iter().enumerate() {
        sites.push((nodes, Reads::Prompt(p as u32), "spoken"));
    }
    for (pc, instruction) in code.code.iter().enumerate() {
        match *instruction {
            Instruction::Sms(p) => sites.push((&a.by_pc[pc], Reads::Prompt(p), "sent in a text message")),
            Instruction::Handover(h) => sites.push((&a.by_pc[pc], Reads::Handover(h), "handed to the agent")),
            _ => {}
        }
    }
    for (nodes, reads, how) in sites {
        let unverified = || nodes.iter().copied().filter(|&n| a.facts[n as usize] & VERIFIED == 0);
        if unverified().next().is_none() {
            continue;
        }
        let exprs: Vec<ExprId> = match reads {
            Reads::Prompt(p) => code.prompts[p as usize]
                .segments
                .iter()
                .filter_map(|seg| if let PromptSegment::Value { expr, .. } = seg { Some(*expr) } else { None })
                .collect(),
            Reads::Handover(h) => code.handovers[h as usize].iter().map(|(_, e)| *e).collect(),
        };
        for expr in exprs {
            if !loads_tainted(expr, &tainted) {
                continue;
            }
            let Some(node) = a.nearest(Avoid::Verify, unverified()) else { continue };
            let e = &code.exprs[expr as usize];
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
                [one] if declared(one).is_some_and(|s| s.sensitive && !s.output) => {
                    format!("the sensitive value `{one}`")
                }
                // An output of an action sent a sensitive value (§16.6).
                [one] if declared(one).is_some_and(|s| s.output) => format!("`{one}`, answered to a sensitive input,"),
                [one] => format!("`{one}`, computed from a sensitive input,"),
                _ => "a value computed from a sensitive input".to_string(),
            };
            out.push(
                a.finding("CS002", e.span, format!("{what} can be {how} before `verify`"))
                    .label(format!("{how} on a path without `verify`"))
                    .with_path(a.witness(Avoid::Verify, node, "without `verify`"))
                    .with_help(
                        "confirm the customer's identity with `verify` on every path to this prompt, or leave the value out",
                    ),
            );
        }
    }
}
