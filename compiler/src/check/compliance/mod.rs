//! Compliance rules CS001–CS010 (LANGUAGE.md §5, §9.7), driven by a rule pack of the
//! jurisdiction (`stdlib/compliance/*.toml`, embedded and parsed once).
//!
//! The script rules run on the lowered bytecode of a file without language errors: `cfg.rs`
//! builds its control-flow graph, the rules are dataflow problems over it (fixed points, not
//! path enumeration), and every finding carries a witness, the shortest path from the call's
//! start to the offending place, as numbered secondary labels (`Diagnostic::path`). CS009 runs
//! on a campaign file (`campaign.rs`). Pure: the packs are compiled in, a campaign arrives as
//! text.

pub mod campaign;
pub mod cfg;
mod disclosure;
mod limits;
mod phrases;
mod reachability;
mod sensitive;
mod sms;

use std::cell::OnceCell;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::bytecode::{Instruction, PatternCode, Program, PromptSegment, ScriptCode};
use crate::diagnostic::{Diagnostic, Label};
use crate::span::FileSpan;
use cfg::{At, Cfg, Edge, NodeId, Paths};

/// A compliance rule: its code, title, and the description and help shown by SARIF viewers.
pub struct Rule {
    pub code: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub help: &'static str,
}

/// Every compliance rule; `docs/compliance.md` documents each under `## CODE`.
pub const RULES: &[Rule] = &[
    Rule {
        code: "CS001",
        title: "recording not announced first",
        description: "On every path from the start of the call, the first prompt contains the pack's recording-disclosure phrase.",
        help: "Start every path with a prompt that announces the recording, e.g. \"本次通话将被录音\".",
    },
    Rule {
        code: "CS002",
        title: "sensitive value spoken before verify",
        description: "No prompt interpolates a `sensitive` input (or a value computed from one) on a path that has not passed `verify`.",
        help: "Confirm the customer's identity with `verify` on every path before the prompt, or leave the value out.",
    },
    Rule {
        code: "CS003",
        title: "too many retries",
        description: "The `retries` of an ask and the `limit` of an objection handler stay within the pack's maximum.",
        help: "Lower `retries` or `limit` to the pack's maximum (3).",
    },
    Rule {
        code: "CS004",
        title: "forbidden phrase",
        description: "No prompt contains a phrase the pack forbids for the script's purpose (threats in collection, promises of principal or return in marketing). A phrase directly preceded by a negator does not count.",
        help: "Remove the phrase; a negated disclosure such as \"本产品不保本\" is allowed.",
    },
    Rule {
        code: "CS005",
        title: "opt-out not handled",
        description: "A marketing script handles the intent `optout` from every ask, directly or through `objection`, with a body that runs the `optout` statement; a body under a guard that can be false does not handle it on its own.",
        help: "Add `on optout => { optout; say \"…\"; hangup … }` to `objection`.",
    },
    Rule {
        code: "CS006",
        title: "risk disclosure missing before a goal",
        description: "A marketing script for an investment or insurance product plays the pack's risk disclosure on every path before a `goal` outcome.",
        help: "Play the risk disclosure (\"理财非存款、产品有风险、投资须谨慎\") before the goal is reached.",
    },
    Rule {
        code: "CS007",
        title: "anger or complaint cannot reach a person",
        description: "From every ask, both `emotion angry` and the intent `complaint` can reach a `transfer` without waiting for another answer.",
        help: "Add `on emotion angry, complaint => transfer \"queue\"` to `objection`.",
    },
    Rule {
        code: "CS008",
        title: "prompt too long",
        description: "A prompt's estimated spoken length (4 characters a second, digits read aloud, interpolations at their longest) stays within the pack's maximum.",
        help: "Split the prompt, or allow it in place with the reason (`@allow(CS008, \"…\")`).",
    },
    Rule {
        code: "CS009",
        title: "campaign outside the pack's limits",
        description: "A campaign's call window, attempts and daily and weekly caps stay inside the pack's limits for the script's purpose.",
        help: "Narrow the window or lower the caps in the campaign file, or allow it there: `[allow] CS009 = \"reason\"`.",
    },
    Rule {
        code: "CS010",
        title: "text message without consent or after an opt-out",
        description: "No `sms` runs on a path after `optout`; in a marketing script every path to an `sms` takes a branch on `yes` of an ask whose question is about the message (the pack's consent words) before it.",
        help: "Ask \"我们把还款信息用短信发给您,可以吗?\" first and send the message under `on yes`; never after `optout`.",
    },
];

/// The rule of a code.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.code == code)
}

// ---- packs ------------------------------------------------------------------------------------

/// One jurisdiction's rule pack, as written in `stdlib/compliance/<jurisdiction>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    pub jurisdiction: String,
    pub name: String,
    pub recording: Recording,
    pub verify: Sourced,
    pub limits: Limits,
    pub optout: ForPurposes,
    pub risk_disclosure: RiskDisclosure,
    pub escalation: Sourced,
    pub forbidden: Vec<Forbidden>,
    pub campaign: Vec<CampaignLimits>,
    /// CS010's consent (§16.7); a pack without it checks only the opt-out half.
    #[serde(default)]
    pub sms: Option<SmsRules>,
}

/// CS010: the purposes whose text messages need the customer's `yes`, and the words a
/// question about a message holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsRules {
    pub purposes: Vec<String>,
    pub consent_words: Vec<String>,
    pub source: String,
}

/// Phrases a prompt must hold: every group, each by one of its alternatives.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Requirement(pub Vec<Vec<String>>);

impl Requirement {
    /// Whether `text` (already [`normalise`]d) holds every group.
    pub fn holds(&self, normalised: &str) -> bool {
        self.0.iter().all(|group| group.iter().any(|alt| contains_phrase(normalised, alt)))
    }

    fn normalise(&mut self) {
        for alt in self.0.iter_mut().flatten() {
            *alt = normalise(alt);
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    pub all_of: Requirement,
    pub example: String,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sourced {
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_retries: u32,
    pub max_handler_limit: u32,
    pub max_prompt_seconds: u32,
    pub chars_per_second: u32,
    pub text_input_chars: u32,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForPurposes {
    pub purposes: Vec<String>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskDisclosure {
    pub purposes: Vec<String>,
    pub products: Vec<String>,
    pub text: String,
    pub all_of: Requirement,
    pub source: String,
}

impl RiskDisclosure {
    /// Whether CS006 applies to a script: one of the purposes, selling one of the products.
    fn applies_to(&self, code: &ScriptCode) -> bool {
        self.purposes.contains(&code.purpose) && code.product.as_ref().is_some_and(|p| self.products.contains(p))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forbidden {
    pub purpose: String,
    pub category: String,
    pub source: String,
    pub phrases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignLimits {
    /// The purposes this entry applies to; none: every purpose.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// `["HH:MM", "HH:MM"]`: calls start no earlier and end no later (local time).
    pub window: [String; 2],
    pub max_attempts: u32,
    pub per_customer_per_day: u32,
    pub per_customer_per_7_days: u32,
    pub source: String,
}

impl Pack {
    /// Whether barge-in may never cut a prompt of this (static) text: it holds the pack's
    /// recording notice, or any part of its risk disclosure (a warning being read is not
    /// interrupted halfway).
    pub fn never_cut(&self, text: &str) -> bool {
        // Most prompts hold no phrase's first character, and are not normalised at all.
        let possible = |phrase: &String| may_hold(text, phrase);
        if !self.recording.all_of.0.iter().all(|group| group.iter().any(possible))
            && !self.risk_disclosure.all_of.0.iter().flatten().any(possible)
        {
            return false;
        }
        let text = normalise(text);
        self.recording.all_of.holds(&text)
            || self.risk_disclosure.all_of.0.iter().flatten().any(|p| contains_phrase(&text, p))
    }

    /// The campaign limits for a purpose (the first entry that names it, else a general one).
    pub fn campaign_limits(&self, purpose: &str) -> Option<&CampaignLimits> {
        self.campaign
            .iter()
            .find(|c| c.purposes.iter().any(|p| p == purpose))
            .or_else(|| self.campaign.iter().find(|c| c.purposes.is_empty()))
    }
}

/// The jurisdictions that have a pack, `cn` (the default) first.
pub fn jurisdictions() -> impl Iterator<Item = &'static str> {
    crate::stdlib::PACKS.iter().map(|(j, _)| *j)
}

/// The pack of a jurisdiction, or a message naming the known ones.
pub fn pack(jurisdiction: &str) -> Result<&'static Pack, String> {
    static PACKS: OnceLock<Vec<Pack>> = OnceLock::new();
    let packs = PACKS.get_or_init(|| {
        crate::stdlib::PACKS
            .iter()
            .map(|(name, text)| {
                parse_pack(text).unwrap_or_else(|e| panic!("the embedded pack `{name}` is malformed: {e}"))
            })
            .collect()
    });
    packs.iter().find(|p| p.jurisdiction == jurisdiction).ok_or_else(|| {
        let known: Vec<String> = jurisdictions().map(|j| format!("`{j}`")).collect();
        format!("there is no compliance pack for the jurisdiction `{jurisdiction}`; the packs are {}", known.join(", "))
    })
}

/// Parses a pack and normalises its phrases for matching.
pub fn parse_pack(text: &str) -> Result<Pack, String> {
    let mut pack: Pack = toml::from_str(text).map_err(|e| e.to_string())?;
    pack.recording.all_of.normalise();
    pack.risk_disclosure.all_of.normalise();
    for c in &pack.campaign {
        for t in &c.window {
            campaign::minutes(t).ok_or_else(|| format!("`{t}` is not a time of day (HH:MM)"))?;
        }
    }
    Ok(pack)
}

/// Prompt text as the disclosure rules compare it: Latin letters lower-cased, spaces and
/// punctuation dropped, so "本次通话，将被录音" and "This call is RECORDED." match their phrases.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        // The common cases first: every prompt passes here (twice), and most of a Chinese
        // prompt is CJK ideographs, which are alphanumeric and their own lower case (the test
        // `normalise_fast_paths_agree` holds this for the whole range); Unicode's tables are
        // slow for them.
        if CJK_IDEOGRAPHS.contains(&c) {
            out.push_str(&text[i..i + c.len_utf8()]);
        } else if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            }
        } else if !CJK_PUNCTUATION.iter().any(|p| p.contains(&c)) && c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Whether `text`, once [`normalise`]d, may hold the normalised `phrase`: not when the phrase
/// starts with a CJK ideograph that `text` lacks, as normalising keeps such a character as it
/// is and makes none from another. (A Latin letter may come from another character's lower
/// case, so a phrase that starts with one may always match.)
fn may_hold(text: &str, phrase: &str) -> bool {
    match phrase.chars().next() {
        Some(c) if CJK_IDEOGRAPHS.contains(&c) => text.contains(c),
        _ => true,
    }
}

/// Whether `text` holds `phrase`: `str::contains` for the short texts of prompts, which it
/// searched with a Two-Way table set up for each call (about 500 instructions for a prompt of
/// a few dozen bytes, and lowering alone asks three times a prompt); this scans the bytes.
/// Both are UTF-8, so a match of the bytes is a match of whole characters.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    let Some((&first, rest)) = phrase.as_bytes().split_first() else { return true };
    text.as_bytes().windows(phrase.len()).any(|window| window[0] == first && &window[1..] == rest)
}

/// The CJK Unified Ideographs block: alphanumeric, each its own lower case, so [`normalise`]
/// and CS008's count take them without Unicode's tables.
const CJK_IDEOGRAPHS: std::ops::RangeInclusive<char> = '\u{4E00}'..='\u{9FFF}';

/// Chinese punctuation (、。 and the full-width signs ，：？！ and the like): not alphanumeric,
/// which Unicode's tables take a slow path to say (the test `normalise_fast_paths_agree`).
const CJK_PUNCTUATION: [std::ops::RangeInclusive<char>; 5] = [
    '\u{3000}'..='\u{3003}',
    '\u{FF01}'..='\u{FF0F}',
    '\u{FF1A}'..='\u{FF20}',
    '\u{FF3B}'..='\u{FF40}',
    '\u{FF5B}'..='\u{FF65}',
];

// ---- the analysis of one script ---------------------------------------------------------------

/// Facts of the forward must-analysis (bits).
const PROMPTED: u32 = 1;
const VERIFIED: u32 = 2;
const RISK_DISCLOSED: u32 = 4;

/// What a witness path must avoid: it is a path on which this has not happened yet.
#[derive(Clone, Copy)]
enum Avoid {
    Nothing = 0,
    Prompt = 1,
    Verify = 2,
    Risk = 3,
}

/// One script's graph, its facts, and the shortest paths for witnesses (built on demand).
pub(crate) struct Analysis<'a> {
    pub program: &'a Program,
    pub code: &'a ScriptCode,
    pub pack: &'a Pack,
    pub cfg: Cfg,
    /// Facts that hold on every path to each node (before it runs).
    pub facts: Vec<u32>,
    /// Per prompt: it holds the risk disclosure.
    pub risk_prompt: Vec<bool>,
    /// The nodes of each instruction (one, or one per interrupted ask in handler code).
    pub by_pc: Groups,
    /// The reached nodes of each prompt, by prompt (its instructions' in pc order).
    pub prompt_nodes: Groups,
    paths: [OnceCell<Paths>; 4],
}

/// Nodes grouped by a key (an instruction, a prompt), each group in the order given, laid out
/// in one list: a list per key would be an allocation per instruction of a large script.
pub(crate) struct Groups {
    /// The nodes of key `i`: `nodes[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    nodes: Vec<NodeId>,
}

impl Groups {
    /// Groups under `keys` keys the `(key, node)` pairs that `items` gives to the function it
    /// is called with (twice: to count, then to place). A plain loop, not an iterator: chained
    /// iterators over a graph's edges cost twice as much.
    fn new(keys: usize, items: impl Fn(&mut dyn FnMut(usize, NodeId))) -> Groups {
        let mut start = vec![0u32; keys + 1];
        items(&mut |key, _| start[key + 1] += 1);
        for i in 0..keys {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut nodes = vec![0; start[keys] as usize];
        items(&mut |key, n| {
            nodes[next[key] as usize] = n;
            next[key] += 1;
        });
        Groups { start, nodes }
    }

    /// The nodes of each key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &[NodeId]> {
        self.start.windows(2).map(|w| &self.nodes[w[0] as usize..w[1] as usize])
    }
}

impl std::ops::Index<usize> for Groups {
    type Output = [NodeId];

    fn index(&self, key: usize) -> &[NodeId] {
        &self.nodes[self.start[key] as usize..self.start[key + 1] as usize]
    }
}

impl<'a> Analysis<'a> {
    fn new(program: &'a Program, code: &'a ScriptCode, pack: &'a Pack) -> Analysis<'a> {
        let cfg = Cfg::build(code);
        // Only CS006 asks which prompts hold the risk disclosure: other scripts skip the search.
        let risk_applies = pack.risk_disclosure.applies_to(code);
        let risk_prompt: Vec<bool> = code
            .prompts
            .iter()
            .map(|p| risk_applies && pack.risk_disclosure.all_of.holds(&normalise(&static_text(p))))
            .collect();
        let facts = cfg.must(|n| {
            let mut adds = 0;
            if let Some(p) = cfg.prompt(code, n) {
                adds |= PROMPTED;
                if risk_prompt[p as usize] {
                    adds |= RISK_DISCLOSED;
                }
            }
            if cfg.instruction(code, n) == Some(Instruction::Verify) {
                adds |= VERIFIED;
            }
            adds
        });
        let by_pc = Groups::new(code.code.len(), |put| {
            for (n, node) in cfg.nodes.iter().enumerate() {
                if let At::Instr(pc) = node.at {
                    put(pc as usize, n as NodeId);
                }
            }
        });
        // `by_pc.nodes` holds the instructions' nodes in pc order.
        let prompt_nodes = Groups::new(code.prompts.len(), |put| {
            for &n in &by_pc.nodes {
                if let Some(p) = cfg.prompt(code, n) {
                    put(p as usize, n);
                }
            }
        });
        Analysis { program, code, pack, cfg, facts, risk_prompt, by_pc, prompt_nodes, paths: Default::default() }
    }

    fn paths(&self, avoid: Avoid) -> &Paths {
        self.paths[avoid as usize].get_or_init(|| {
            self.cfg.shortest(|n| match avoid {
                Avoid::Nothing => false,
                Avoid::Prompt => self.cfg.prompt(self.code, n).is_some(),
                Avoid::Verify => self.cfg.instruction(self.code, n) == Some(Instruction::Verify),
                Avoid::Risk => self.cfg.prompt(self.code, n).is_some_and(|p| self.risk_prompt[p as usize]),
            })
        })
    }

    fn purpose_is(&self, purposes: &[String]) -> bool {
        purposes.contains(&self.code.purpose)
    }

    /// The witness to `target`: numbered labels along the shortest path that avoids `avoid`,
    /// from the start; the last one says what was missing on the way (`suffix`, if any).
    fn witness(&self, avoid: Avoid, target: NodeId, suffix: &str) -> Vec<Label> {
        let Some(path) = self.paths(avoid).to(&self.cfg, target) else { return Vec::new() };
        let code = self.code;
        let mut labels: Vec<(FileSpan, String)> = Vec::new();
        if let Some(first) = code.steps.first() {
            labels.push((first.span, "the call starts here".to_string()));
        }
        for (from, edge, to) in path {
            let node = self.cfg.nodes[from as usize];
            let label = match (edge, node.at) {
                (Edge::Branch(i), At::Listen(a)) => {
                    let b = &code.asks[a as usize].branches[i as usize];
                    Some((b.span, format!("the answer is {}", self.patterns(&b.patterns))))
                }
                (Edge::Handler(i), At::Listen(a)) => {
                    let h = &code.handlers[i as usize];
                    labels.push((code.asks[a as usize].span, "this question waits for an answer".to_string()));
                    Some((h.span, format!("the objection handler for {} interrupts", self.patterns(&h.patterns))))
                }
                (Edge::If(holds), At::Instr(pc)) => match code.code[pc as usize] {
                    Instruction::JumpUnless(e, _) => Some((
                        code.exprs[e as usize].span,
                        if holds { "this condition holds" } else { "this condition does not hold" }.to_string(),
                    )),
                    _ => None,
                },
                (Edge::Retry, At::Instr(pc)) => Some((code.spans[pc as usize], "`retry` asks again".to_string())),
                (Edge::Action(ok), At::Instr(pc)) => Some((
                    code.spans[pc as usize],
                    if ok { "the action answers (`on ok`)" } else { "the action fails (`on failed`)" }.to_string(),
                )),
                (Edge::Resume, At::Instr(pc)) => Some((code.spans[pc as usize], "`resume` asks again".to_string())),
                (Edge::Relisten, At::Instr(pc)) => {
                    Some((code.spans[pc as usize], "`listen` listens again".to_string()))
                }
                (Edge::Call, At::Instr(pc)) => match code.code[pc as usize] {
                    Instruction::Call(f) => Some((
                        code.spans[pc as usize],
                        format!("this call runs flow `{}`", code.flows.get(f as usize).map_or("?", |f| &f.name)),
                    )),
                    _ => None,
                },
                (Edge::Return, At::Instr(pc)) => Some((code.spans[pc as usize], "the flow returns".to_string())),
                _ => None,
            };
            labels.extend(label);
            // Arriving in another step (by goto or falling through).
            if let At::Instr(pc) = self.cfg.nodes[to as usize].at
                && let Instruction::EnterStep(s) = code.code[pc as usize]
                && !matches!(edge, Edge::Branch(_) | Edge::Handler(_))
            {
                let step = &code.steps[s as usize];
                labels.push((step.span, format!("then step `{}`", step.path())));
            }
        }
        let count = labels.len();
        labels
            .into_iter()
            .enumerate()
            .map(|(i, (at, text))| {
                let message = if i + 1 == count && !suffix.is_empty() {
                    format!("{}. {text}; reached from here {suffix}", i + 1)
                } else {
                    format!("{}. {text}", i + 1)
                };
                Label { at, message }
            })
            .collect()
    }

    fn patterns(&self, patterns: &[PatternCode]) -> String {
        let names: Vec<String> = patterns
            .iter()
            .map(|p| match p {
                PatternCode::Intent(i) => {
                    format!("`{}`", self.program.intents.get(*i as usize).map_or("?", |t| t.name.as_str()))
                }
                PatternCode::Dtmf(d) => format!("`dtmf \"{d}\"`"),
                PatternCode::Emotion(e) => format!("`emotion {}`", e.name()),
                PatternCode::Silence => "`silence`".into(),
                PatternCode::Unknown => "`unknown`".into(),
                PatternCode::Any => "`_`".into(),
                PatternCode::Exhausted => "`exhausted`".into(),
                PatternCode::Captured => "`captured`".into(),
            })
            .collect();
        names.join(" or ")
    }

    /// Of several nodes for one place (handler code copied per ask), the one reached first.
    fn nearest(&self, avoid: Avoid, nodes: impl Iterator<Item = NodeId>) -> Option<NodeId> {
        let paths = self.paths(avoid);
        nodes.filter_map(|n| paths.distance(n).map(|d| (d, n))).min().map(|(_, n)| n)
    }

    fn finding(&self, code: &'static str, at: FileSpan, message: String) -> Diagnostic {
        Diagnostic::new(code, at.file, at.span, message)
    }

    /// Adds the shortest path from the call's start to the nearest of `nodes` (for rules whose
    /// finding does not depend on the path taken).
    fn with_shortest_path(&self, d: Diagnostic, nodes: impl Iterator<Item = NodeId>) -> Diagnostic {
        match self.nearest(Avoid::Nothing, nodes) {
            Some(node) => d.with_path(self.witness(Avoid::Nothing, node, "")),
            None => d,
        }
    }
}

/// The literal text of a prompt (interpolations left out).
pub fn static_text(prompt: &crate::bytecode::PromptCode) -> String {
    prompt
        .segments
        .iter()
        .filter_map(|s| if let PromptSegment::Text(t) = s { Some(t.as_str()) } else { None })
        .collect()
}

/// Runs the script rules (CS001–CS008, CS010) on every script of a lowered file.
pub fn check_program(program: &Program, pack: &Pack, out: &mut Vec<Diagnostic>) {
    for code in &program.scripts {
        if code.code.is_empty() {
            continue;
        }
        let a = Analysis::new(program, code, pack);
        disclosure::recording(&a, out);
        sensitive::check(&a, out);
        limits::retries(&a, out);
        phrases::check(&a, out);
        reachability::optout(&a, out);
        disclosure::risk(&a, out);
        reachability::escalation(&a, out);
        limits::prompt_length(&a, out);
        sms::check(&a, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_pack_parses_and_cn_comes_first() {
        assert_eq!(jurisdictions().next(), Some("cn"));
        for j in jurisdictions() {
            let p = pack(j).expect("pack");
            assert_eq!(p.jurisdiction, j);
            assert!(p.campaign_limits("collection").is_some() && p.campaign_limits("service").is_some());
            assert!(!p.forbidden.is_empty());
        }
        let err = pack("xx").unwrap_err();
        assert!(err.contains("`cn`, `us`"), "{err}");
    }

    #[test]
    fn contains_phrase_agrees_with_str_contains() {
        let texts = ["", "本次通话将被录音", "通话", "话", "this call is recorded", "ab", "a"];
        let phrases = ["", "通话", "录音", "本次通话将被录音。", "通", "recorded", "b", "abc", "将被"];
        for text in texts {
            for phrase in phrases {
                assert_eq!(contains_phrase(text, phrase), text.contains(phrase), "{text:?} {phrase:?}");
            }
        }
    }

    #[test]
    fn normalise_fast_paths_agree() {
        // What `normalise` was before its fast paths: Unicode's tables for every character.
        let reference =
            |t: &str| -> String { t.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect() };
        for c in CJK_IDEOGRAPHS {
            assert!(c.is_alphanumeric() && c.to_lowercase().eq([c]), "{c:?}");
        }
        for c in CJK_PUNCTUATION.into_iter().flatten() {
            assert!(!c.is_alphanumeric(), "{c:?}");
        }
        let ascii: String = (0u8..128).map(char::from).collect();
        for text in [
            ascii.as_str(),
            "本次通话，将被录音。",
            "This call is RECORDED.",
            "ÉTÉ Ǆ İ ß ０１２ ㄅ 𠀀 ①",
            "理财非存款",
            "、。：？！（）～",
        ] {
            assert_eq!(normalise(text), reference(text), "{text}");
        }
    }

    #[test]
    fn requirements_match_the_usual_wordings() {
        let cn = pack("cn").unwrap();
        for ok in ["本次通话将被录音", "本次通话将录音", "通话可能会被录音", "为保障您的权益，本次通话将全程录音。"]
        {
            assert!(cn.recording.all_of.holds(&normalise(ok)), "{ok}");
        }
        assert!(!cn.recording.all_of.holds(&normalise("您好，这里是星海银行")));
        assert!(cn.risk_disclosure.all_of.holds(&normalise("理财非存款，产品有风险，投资须谨慎！")));
        let us = pack("us").unwrap();
        assert!(us.recording.all_of.holds(&normalise("This call may be monitored or RECORDED.")));
        assert!(us.risk_disclosure.all_of.holds(&normalise(
            "Not FDIC-insured. Not a deposit of the bank. Subject to investment risk, including possible loss of principal."
        )));
    }
}
