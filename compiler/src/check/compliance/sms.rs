//! CS010 (LANGUAGE.md §13, §16.7): no text message on a path after `optout`; in a script of
//! one of the pack's purposes (marketing), every path to an `sms` takes a branch on `yes` of an
//! ask whose question is about the message (it holds one of the pack's `consent_words`) before
//! it. A branch counts only when all its patterns are `yes`: `on yes, other =>` is also reached
//! through `other`, so its body is not a consent on every path (§16.7).

use std::collections::HashSet;

use super::cfg::{At, NodeId};
use super::{Analysis, Avoid, contains_phrase, normalise, static_text};
use crate::bytecode::{Instruction, PatternCode};
use crate::diagnostic::Diagnostic;

const CONSENT: u32 = 1;

pub(super) fn check(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let sms_nodes: Vec<(NodeId, u32)> = (0..a.cfg.len() as NodeId)
        .filter_map(|n| match a.cfg.nodes[n as usize].at {
            At::Instr(pc) if matches!(code.code[pc as usize], Instruction::Sms(_)) => Some((n, pc)),
            _ => None,
        })
        .collect();
    if sms_nodes.is_empty() {
        return;
    }
    after_optout(a, &sms_nodes, out);
    let Some(rules) = a.pack.sms.as_ref() else { return };
    if !a.purpose_is(&rules.purposes) {
        return;
    }
    let words: Vec<String> = rules.consent_words.iter().map(|w| normalise(w)).collect();
    let consent_pcs: HashSet<u32> = code
        .asks
        .iter()
        .filter(|ask| {
            let question = normalise(&static_text(&code.prompts[ask.prompt as usize]));
            words.iter().any(|w| contains_phrase(&question, w))
        })
        .flat_map(|ask| &ask.branches)
        .filter(|b| {
            !b.patterns.is_empty()
                && b.patterns.iter().all(|p| {
                    matches!(p, PatternCode::Intent(i) if a.program.intents.get(*i as usize).is_some_and(|t| t.name == "yes"))
                })
        })
        .map(|b| b.pc)
        .collect();
    let adds = |n: NodeId| match a.cfg.nodes[n as usize].at {
        At::Instr(pc) if consent_pcs.contains(&pc) => CONSENT,
        _ => 0,
    };
    let facts = a.cfg.must(adds);
    let mut reported = HashSet::new();
    for &(n, pc) in &sms_nodes {
        if (facts[n as usize] | adds(n)) & CONSENT != 0 || !reported.insert(pc) {
            continue;
        }
        out.push(
            a.finding(
                "CS010",
                code.spans[pc as usize],
                "this text message can be sent without the customer agreeing to it".into(),
            )
            .label("no `yes` to a question about the message on this path")
            .with_path(a.witness(Avoid::Nothing, n, "the message is sent"))
            .with_help(format!(
                "ask first (a question holding {}) and send it only under `on yes => …`",
                rules.consent_words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(", ")
            )),
        );
    }
}

/// Every `sms` reachable from an `optout` (forward search from all of them at once).
fn after_optout(a: &Analysis, sms_nodes: &[(NodeId, u32)], out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let optouts = (0..a.cfg.len() as NodeId).filter(|&n| a.cfg.instruction(code, n) == Some(Instruction::Optout));
    let from = a.cfg.reachable_from(optouts);
    let mut reported = HashSet::new();
    for &(n, pc) in sms_nodes {
        let Some(optout) = from[n as usize] else { continue };
        if !reported.insert(pc) {
            continue;
        }
        let At::Instr(optout_pc) = a.cfg.nodes[optout as usize].at else { continue };
        let at = code.spans[optout_pc as usize];
        out.push(
            a.finding(
                "CS010",
                code.spans[pc as usize],
                "this text message can be sent after the customer opted out".into(),
            )
            .label("sent on a path after `optout`")
            .with_secondary(at.file, at.span, "the opt-out is recorded here")
            .with_path(a.witness(Avoid::Nothing, optout, "the customer opts out"))
            .with_help("send the message before the opt-out can happen, or not on this path"),
        );
    }
}
