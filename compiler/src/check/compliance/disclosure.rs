//! CS001 (the recording is announced in the first prompt of every path) and CS006 (the risk
//! disclosure plays before every goal outcome of wealth and insurance marketing).

use super::{Analysis, Avoid, PROMPTED, RISK_DISCLOSED, normalise, static_text};
use crate::bytecode::Instruction;
use crate::diagnostic::Diagnostic;

/// CS001: a prompt that can be the first of the call (no prompt on some path before it) must
/// hold the pack's recording phrase. The witness is a path on which no prompt played before.
pub(super) fn recording(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let notice = &a.pack.recording.all_of;
    for (p, nodes) in a.prompt_nodes().into_iter().enumerate() {
        let first = nodes.into_iter().filter(|&n| a.facts[n as usize] & PROMPTED == 0);
        let Some(node) = a.nearest(Avoid::Prompt, first) else { continue };
        let prompt = &code.prompts[p];
        if notice.holds(&normalise(&static_text(prompt))) {
            continue;
        }
        out.push(
            a.finding("CS001", prompt.span, "the first prompt of the call does not announce the recording".into())
                .label("first prompt on this path")
                .with_path(a.witness(Avoid::Prompt, node, "with no prompt before it"))
                .with_help(format!(
                    "the {} pack needs the recording notice in the first prompt of every path, e.g. `say \"{}\"`",
                    a.pack.jurisdiction, a.pack.recording.example
                )),
        );
    }
}

/// CS006: for marketing of the pack's products, the risk disclosure has played on every path
/// to a `hangup` or `transfer` with a goal outcome. The witness is a path without it.
pub(super) fn risk(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let rule = &a.pack.risk_disclosure;
    let code = a.code;
    if !a.purpose_is(&rule.purposes) || !code.product.as_ref().is_some_and(|p| rule.products.contains(p)) {
        return;
    }
    for (pc, nodes) in a.by_pc.iter().enumerate() {
        let outcome = match code.code[pc] {
            Instruction::Hangup(o) | Instruction::Transfer(_, Some(o)) => o,
            _ => continue,
        };
        let decl = &code.outcomes[outcome as usize];
        if !decl.goal {
            continue;
        }
        let missing = nodes.iter().copied().filter(|&n| a.facts[n as usize] & RISK_DISCLOSED == 0);
        let Some(node) = a.nearest(Avoid::Risk, missing) else { continue };
        out.push(
            a.finding(
                "CS006",
                code.spans[pc],
                format!("the goal outcome `{}` can be reached before the risk disclosure", decl.name),
            )
            .label("goal reached on a path without the risk disclosure")
            .with_path(a.witness(Avoid::Risk, node, "without the risk disclosure"))
            .with_help(format!(
                "play `say \"{}\"` on every path before this {} product can be sold",
                rule.text,
                code.product.as_deref().unwrap_or_default()
            )),
        );
    }
}
