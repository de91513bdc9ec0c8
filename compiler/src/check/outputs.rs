//! E321 (LANGUAGE.md §16.6): an action's output `NAME.FIELD` is read only where every path
//! from the start passed that action's `on ok` branch. A must-analysis on the lowered
//! script's control-flow graph, like `verify` for CS002; it runs on every clean file, with or
//! without a compliance pack.

use crate::bytecode::{ExprId, ExprOp, Instruction, PromptSegment, ScriptCode};
use crate::check::compliance::cfg::{At, Cfg, NodeId};
use crate::diagnostic::Diagnostic;

/// Reports every expression that reads an output where its action may not have answered.
pub fn check(code: &ScriptCode, out: &mut Vec<Diagnostic>) {
    if code.dos.is_empty() && !code.slots.iter().any(|s| s.output) {
        return;
    }
    // The action (its bit) each output slot belongs to; past 32 actions the rest are not checked.
    let mut bit_of_slot = vec![0u32; code.slots.len()];
    for (i, action) in code.actions.iter().enumerate().take(32) {
        for (_, _, slot) in &action.outputs {
            bit_of_slot[*slot as usize] = 1 << i;
        }
    }
    let cfg = Cfg::build(code);
    let adds = |n: NodeId| -> u32 {
        let At::Instr(pc) = cfg.nodes[n as usize].at else { return 0 };
        code.dos.iter().filter(|d| d.ok == pc && d.action < 32).fold(0, |acc, d| acc | 1 << d.action)
    };
    let facts = cfg.must(adds);
    let mut reported = vec![false; code.exprs.len()];
    for n in 0..cfg.len() as NodeId {
        let have = facts[n as usize] | adds(n);
        let mut exprs: Vec<ExprId> = Vec::new();
        let prompt = |p: u32, exprs: &mut Vec<ExprId>| {
            for seg in &code.prompts[p as usize].segments {
                if let PromptSegment::Value { expr, .. } = seg {
                    exprs.push(*expr);
                }
            }
        };
        match cfg.nodes[n as usize].at {
            At::Listen(a) => {
                let guards = code.asks[a as usize].branches.iter().chain(&code.handlers).filter_map(|b| b.guard);
                exprs.extend(guards);
            }
            At::Instr(pc) => match code.code[pc as usize] {
                Instruction::Say(p) | Instruction::Sms(p) | Instruction::Retry(Some(p)) => prompt(p, &mut exprs),
                Instruction::Ask(a) => prompt(code.asks[a as usize].prompt, &mut exprs),
                Instruction::Set(_, e) | Instruction::JumpUnless(e, _) => exprs.push(e),
                Instruction::Do(d) => exprs.extend(code.dos[d as usize].args.iter().map(|(_, e)| *e)),
                Instruction::Handover(h) => exprs.extend(code.handovers[h as usize].iter().map(|(_, e)| *e)),
                _ => {}
            },
        }
        for e in exprs {
            if reported[e as usize] {
                continue;
            }
            let expr = &code.exprs[e as usize];
            let missing = expr.ops.iter().find_map(|op| match op {
                ExprOp::Load(s) if bit_of_slot[*s as usize] & !have != 0 => Some(*s),
                _ => None,
            });
            let Some(slot) = missing else { continue };
            reported[e as usize] = true;
            let name = &code.slots[slot as usize].name;
            let action = name.split('.').next().unwrap_or(name);
            let mut d = Diagnostic::new(
                "E321",
                expr.span.file,
                expr.span.span,
                format!("`{name}` is read where `{action}` may not have answered"),
            )
            .label(format!("a path reaches this without `do {action}` taking `on ok`"))
            .with_help(format!(
                "read `{name}` only inside `on ok => …` of `do {action}(…)`, or in steps every path reaches through it"
            ));
            if let Some(first) = code.dos.iter().find(|d| code.actions[d.action as usize].name == action) {
                d = d.with_secondary(first.span.file, first.span.span, "the action is called here");
            }
            out.push(d);
        }
    }
}
