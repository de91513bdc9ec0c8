//! The simulated network and customers (`[sim]`): seeded and reproducible. Dispositions are
//! drawn by the configured shares; an answered call runs the real VM session against a
//! simulated customer who replies from the script's own intents — sometimes silent, off-topic,
//! angry, or hanging up — while virtual time advances with what is said.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use callscript_compiler::bytecode::{AskId, CaptureKind, Emotion, PatternCode, ScriptCode};

use crate::call::CallDriver;
use crate::call::virtual_time::{self, Customer, Turn};
use crate::campaign::Sim;
use crate::telephony::{CallId, CallResult, Delivery, DialRequest, Disposition, Telephony};
use crate::vm::ActionInput;
use crate::vm::{Executable, Session};
use callscript_compiler::campaign::ActionConfig;
use callscript_compiler::value::Value;

/// A small, fast, seedable generator (SplitMix64): reproducible across platforms.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() { None } else { items.get((self.next_u64() % items.len() as u64) as usize) }
    }
}

const OFF_TOPIC: &[&str] = &["今天天气不错", "你说什么", "喂喂,信号不好", "我在吃饭", "这个我得问问家里人"];

/// The simulated customer's reply to the current ask.
fn persona_reply(exec: &Executable, script: &ScriptCode, ask: u16, rng: &mut Rng) -> Turn {
    let roll = rng.unit();
    if roll < 0.08 {
        return Turn::Silence;
    }
    if roll < 0.11 {
        return Turn::HangUp;
    }
    if roll < 0.14 {
        return Turn::Say { text: "你们烦不烦,我要投诉".into(), emotion: Some(Emotion::Angry) };
    }
    if roll < 0.19 {
        return Turn::Say { text: rng.pick(OFF_TOPIC).copied().unwrap_or("嗯").into(), emotion: None };
    }
    // An ask that captures mostly gets a value of its kind, as customers answer the question.
    if let Some(capture) = script.asks.get(ask as usize).and_then(|a| a.capture)
        && rng.unit() < 0.6
    {
        return captured_reply(capture.kind, rng);
    }
    // Intents the ask and objection listen for; the ask's own are six times as likely.
    let mut weighted: Vec<(u32, u32)> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    if let Some(a) = script.asks.get(ask as usize) {
        for b in &a.branches {
            for p in &b.patterns {
                match p {
                    PatternCode::Intent(i) => weighted.push((*i, 6)),
                    PatternCode::Dtmf(d) => keys.push(d),
                    _ => {}
                }
            }
        }
    }
    for h in &script.handlers {
        for p in &h.patterns {
            if let PatternCode::Intent(i) = p {
                weighted.push((*i, 1));
            }
        }
    }
    if !keys.is_empty() && rng.unit() < 0.1 {
        return Turn::Keys(rng.pick(&keys).map(|k| k.to_string()).unwrap_or_default());
    }
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return Turn::Say { text: "嗯".into(), emotion: None };
    }
    let mut at = (rng.next_u64() % total as u64) as u32;
    let intent = weighted.iter().find(|(_, w)| {
        if at < *w {
            true
        } else {
            at -= w;
            false
        }
    });
    let table = intent.and_then(|(i, _)| exec.program.intents.get(*i as usize));
    let text = table
        .and_then(|t| rng.pick(&t.forms))
        .map(|f| f.parts.join("能"))
        .or_else(|| table.and_then(|t| t.dtmf.first().cloned()))
        .unwrap_or_else(|| "嗯".into());
    Turn::Say { text, emotion: None }
}

/// What customers say when asked for a value (§11), as an ASR writes it.
fn captured_reply(kind: CaptureKind, rng: &mut Rng) -> Turn {
    const DATES: &[&str] =
        &["今天", "明天吧", "明天下午就能还", "后天", "这周五", "下周一", "月底", "下个月10号", "三天后"];
    const AMOUNTS: &[&str] = &["先还一千", "两千块", "三千五", "五百", "一万", "1.5万", "八百多"];
    const SCORES: &[&str] = &["一分", "两分", "三分", "我给四分", "五分", "满意,五分"];
    const TIMES: &[&str] = &["下午三点", "晚上八点", "上午十点半", "中午", "明天下午两点"];
    const REMARKS: &[&str] = &["等待时间太长了", "服务态度很好", "没什么意见", "希望利息再低一点"];
    const SPOKEN: [char; 10] = ['零', '幺', '二', '三', '四', '五', '六', '七', '八', '九'];
    let pick = |rng: &mut Rng, items: &[&str]| rng.pick(items).copied().unwrap_or("嗯").to_string();
    let text = match kind {
        CaptureKind::Date => pick(rng, DATES),
        CaptureKind::Money => pick(rng, AMOUNTS),
        CaptureKind::Int => pick(rng, SCORES),
        CaptureKind::Time => pick(rng, TIMES),
        CaptureKind::Text => pick(rng, REMARKS),
        CaptureKind::Digits { min, max } => {
            let len = rng.range(u64::from(min), u64::from(max));
            let digits: Vec<u8> = (0..len).map(|_| rng.range(0, 9) as u8).collect();
            if rng.unit() < 0.5 {
                let keys: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
                return Turn::Keys(format!("{keys}#"));
            }
            digits.iter().map(|&d| SPOKEN[usize::from(d)]).collect()
        }
    };
    Turn::Say { text, emotion: None }
}

/// A simulated customer: answers from the script's own intents, drawn from the run's generator.
struct Persona<'a> {
    rng: &'a mut Rng,
    /// The campaign's `[actions.NAME]`, whose `sim` answers the script's actions.
    actions: &'a Actions,
}

/// The campaign's actions by name (CAMPAIGN.md §5).
pub type Actions = std::collections::BTreeMap<String, ActionConfig>;

impl Customer for Persona<'_> {
    fn answer(&mut self, call: &CallDriver, ask: AskId, _timeout_ms: u64) -> Turn {
        persona_reply(call.executable(), call.script(), ask, self.rng)
    }

    /// The action's `sim` answer, or a failure at its `fail_rate`.
    fn action(
        &mut self,
        call: &CallDriver,
        action: &str,
        _inputs: &[ActionInput],
    ) -> Result<Vec<(String, Value)>, String> {
        let config = self.actions.get(action).ok_or_else(|| format!("the campaign does not configure `{action}`"))?;
        if config.fail_rate > 0.0 && self.rng.unit() < config.fail_rate {
            return Err("simulated failure (fail_rate)".into());
        }
        let code = call.script().actions.iter().find(|a| a.name == action).ok_or("no such action")?;
        code.outputs
            .iter()
            .map(|(name, ty, _)| {
                let raw = config.sim.get(name).ok_or_else(|| format!("the simulator has no answer for `{name}`"))?;
                let value = Value::read_literal(*ty, &raw.text())
                    .ok_or_else(|| format!("`{name}` = {} is not {}", raw.text(), ty.a()))?;
                Ok((name.clone(), value))
            })
            .collect()
    }
}

/// Runs an answered call to its end in virtual time; returns the result (talk time included).
pub fn converse(session: Session, rng: &mut Rng, max_duration_ms: Option<u64>) -> CallResult {
    converse_with(session, rng, max_duration_ms, &Actions::new())
}

/// [`converse`], with the actions the simulator answers.
pub fn converse_with(session: Session, rng: &mut Rng, max_duration_ms: Option<u64>, actions: &Actions) -> CallResult {
    let mut driver = CallDriver::new(session, max_duration_ms);
    virtual_time::converse(&mut driver, &mut Persona { rng, actions });
    let mut result = driver.result();
    // A simulated campaign sends nothing: its messages are kept as simulated.
    for message in &mut result.messages {
        message.delivery = Delivery::Simulated;
    }
    result
}

/// The simulated telephony: calls end at virtual times kept in a heap.
pub struct SimTelephony {
    shares: Sim,
    ring_timeout_ms: u64,
    pending: BinaryHeap<Reverse<(i64, CallId)>>,
    results: std::collections::HashMap<CallId, CallResult>,
    actions: Actions,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl SimTelephony {
    pub fn new(shares: Sim, ring_timeout_ms: u64) -> SimTelephony {
        SimTelephony {
            shares,
            ring_timeout_ms,
            pending: BinaryHeap::new(),
            results: std::collections::HashMap::new(),
            actions: Actions::new(),
            metrics: None,
        }
    }

    /// A worker's metrics (`--metrics`): a simulated call runs its whole conversation at once,
    /// so each call records its mean VM turn.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> SimTelephony {
        self.metrics = Some(metrics);
        self
    }

    /// The campaign's actions, answered from their `sim` (CAMPAIGN.md §5).
    pub fn with_actions(mut self, actions: Actions) -> SimTelephony {
        self.actions = actions;
        self
    }
}

/// The generator of one call: drawn from the seed, the customer and the attempt number alone,
/// so a call plays out the same whichever worker places it, in whatever order, and after a
/// resume (CAMPAIGN.md §6: several workers on one campaign give the totals of one).
fn call_rng(seed: u64, customer_id: &str, attempt: u32) -> Rng {
    // FNV-1a: stable across platforms and releases, unlike the standard library's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in customer_id.bytes().chain(attempt.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(seed ^ h)
}

impl Telephony for SimTelephony {
    fn needs_durable_dial(&self) -> bool {
        // Nothing leaves the process: a batch commit is as safe as one per call.
        false
    }

    fn dial(&mut self, now_ms: i64, call: CallId, request: DialRequest) {
        let s = &self.shares;
        let rng = &mut call_rng(s.seed, &request.customer_id, request.attempt);
        let roll = rng.unit();
        let mut result = if roll < s.answer {
            let ring = rng.range(3_000, 20_000);
            // The wall clock only for `/metrics` (a look per call showed in a 1M-call profile).
            let started = self.metrics.as_ref().map(|_| std::time::Instant::now());
            let mut r = converse_with(request.session, rng, request.max_duration_ms, &self.actions);
            if let (Some(metrics), Some(started)) = (&self.metrics, started) {
                metrics.vm_turn(started.elapsed() / r.transcript.len().max(1) as u32);
            }
            r.ring_ms = ring;
            r
        } else {
            let (disposition, ring) = if roll < s.answer + s.busy {
                (Disposition::Busy, rng.range(2_000, 6_000))
            } else if roll < s.answer + s.busy + s.no_answer {
                (Disposition::NoAnswer, self.ring_timeout_ms)
            } else if roll < s.answer + s.busy + s.no_answer + s.invalid_number {
                (Disposition::InvalidNumber, rng.range(1_000, 4_000))
            } else {
                (Disposition::Failed, rng.range(500, 5_000))
            };
            CallResult { disposition, ring_ms: ring, ..CallResult::default() }
        };
        if result.disposition == Disposition::Failed && result.cause.is_none() {
            result.cause = Some("network".into());
        }
        let end = now_ms + (result.ring_ms + result.talk_ms) as i64;
        self.pending.push(Reverse((end, call)));
        self.results.insert(call, result);
    }

    fn next_end(&self) -> Option<i64> {
        self.pending.peek().map(|Reverse((t, _))| *t)
    }

    fn live(&self) -> usize {
        self.pending.len()
    }

    fn pop_end(&mut self) -> Option<(i64, CallId, CallResult)> {
        let Reverse((t, call)) = self.pending.pop()?;
        let result = self.results.remove(&call)?;
        Some((t, call, result))
    }
}
