//! The report as data (CAMPAIGN.md §4 and §7), built from the stored attempts; the table, the
//! JSON and the HTML page only render it. The script's lets (LANGUAGE.md §11 "Results") are
//! summed (money) and counted by value (date) over the goal calls, and every let's values are
//! counted over the connected calls ("captured values").

use std::collections::BTreeMap;

use callscript_compiler::value::{Date, Money};
use serde::Serialize;

use super::labels::{self, Titles, UNKNOWN};
use crate::store::{
    AttemptCounts, AttemptRow, By, CustomerSet, Ending, Happened, StoredAction, StoredLet, connected, customer_hash,
    summed,
};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FunnelStep {
    pub step: String,
    /// Answered attempts that reached the step.
    pub reached: u64,
    /// Of those, how many ended with the customer hanging up there.
    pub hung_up: u64,
    /// The step most of the calls came from, straight before this one (None: the call's first
    /// step); a script branches, so the step before in flow order need not be it.
    pub from: Option<String>,
    /// The calls that came to this step straight from `from`.
    pub went_on: u64,
    /// The step-to-step conversion: `went_on` over the calls that reached `from` (the first
    /// step: over the connected attempts).
    pub from_previous: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Bucket {
    pub attempts: u64,
    pub answered: u64,
    pub goals: u64,
    pub outcomes: BTreeMap<String, u64>,
    /// `answered` over `attempts`, and `goals` over `answered`, as the campaign's rates.
    pub connect_rate: f64,
    pub conversion_rate: f64,
}

impl Bucket {
    /// Counts `n` attempts that ended as `e`.
    fn count(&mut self, e: &Ending<&str>, n: u64) {
        self.attempts += n;
        self.answered += n * u64::from(e.connected);
        self.goals += n * u64::from(e.goal);
        if let Some(o) = e.outcome {
            bump(&mut self.outcomes, o, n);
        }
        self.connect_rate = ratio(self.answered, self.attempts);
        self.conversion_rate = ratio(self.goals, self.answered);
    }
}

/// The attempts grouped by where they came from (CAMPAIGN.md §7): `unknown` for attempts stored
/// before the store kept it (schema 7).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Breakdowns {
    pub segment: BTreeMap<String, Bucket>,
    pub zone: BTreeMap<String, Bucket>,
    pub list: BTreeMap<String, Bucket>,
    /// The script the calls ran (A/B campaigns run two).
    pub variant: BTreeMap<String, Bucket>,
}

/// Transfers to a human agent and what became of them: `transferred` (handed over), and
/// `transfer_failed` with the causes. A `transfer "queue" outcome O` ends with its own outcome
/// and is counted there, not here.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Transfers {
    pub attempted: u64,
    pub transferred: u64,
    pub failed: u64,
    /// `transferred` over `attempted`.
    pub success_rate: f64,
    /// The commonest causes of failure.
    pub causes: Vec<(String, u64)>,
}

/// The values a let held at the end of the connected calls (§11): how many calls held one, and
/// the commonest values. A sensitive let is counted, its values never shown (none is stored);
/// a money let's values are summed in `lets`, not listed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Captured {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// Connected calls that hold the let.
    pub calls: u64,
    pub sensitive: bool,
    /// The ten commonest values, commonest first (none for a sensitive or money let).
    pub top_values: Vec<(String, u64)>,
}

/// An exact sum of money in cents, wide enough that no campaign overflows it. It serialises as
/// the literal form (`"486250.00"`), like every money value the runtime writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum(i128);

impl Sum {
    fn add(&mut self, m: Money, n: u64) {
        self.0 += i128::from(m.cents()) * i128::from(n);
    }

    /// `486250.00`, as money literals are written.
    pub fn literal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", self.0.unsigned_abs() / 100, self.0.unsigned_abs() % 100)
    }

    /// `486,250.00`, for people: the whole units grouped by thousands.
    pub fn grouped(self) -> String {
        let literal = self.literal();
        let (sign, rest) = literal.split_at(usize::from(self.0 < 0));
        let (units, cents) = rest.split_once('.').unwrap_or((rest, "00"));
        let mut grouped = String::new();
        for (i, digit) in units.chars().enumerate() {
            if i > 0 && (units.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        format!("{sign}{grouped}.{cents}")
    }
}

impl Serialize for Sum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.literal())
    }
}

/// What a `money` or `date` let held over a set of goal calls.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LetFigures {
    /// Goal calls whose attempt holds a value of the let.
    pub goal_calls_with_value: u64,
    /// `money`: the sum of those values, exact to the cent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<Sum>,
    /// `date`: how many of those calls hold each date (`2026-11-25`), in date order (the
    /// literal form, four-digit years, sorts as the calendar does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_value: Option<BTreeMap<String, u64>>,
}

impl LetFigures {
    fn new(ty: &str) -> LetFigures {
        LetFigures {
            goal_calls_with_value: 0,
            sum: (ty == "money").then(Sum::default),
            by_value: (ty == "date").then(BTreeMap::new),
        }
    }

    /// Counts a value of the let's type held by `n` calls; false when it does not read as one.
    fn add(&mut self, value: &str, n: u64) -> bool {
        match (&mut self.sum, &mut self.by_value) {
            (Some(sum), _) => match Money::parse(value) {
                Some(m) => sum.add(m, n),
                None => return false,
            },
            (_, Some(by_value)) => match Date::parse(value) {
                Some(d) => *by_value.entry(d.to_string()).or_insert(0) += n,
                None => return false,
            },
            _ => return false,
        }
        self.goal_calls_with_value += n;
        true
    }
}

/// A `money` or `date` let of the script over the calls that reached a goal outcome, in all and
/// per goal outcome (a script with two goals, say `promised` and `hardship`, holds a promise's
/// amount only on the first). Sensitive lets are never here: their values are not stored.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LetSummary {
    pub name: String,
    /// `money` or `date`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Over every goal call.
    #[serde(flatten)]
    pub all: LetFigures,
    /// The same per goal outcome, by name (only outcomes with a value of the let).
    pub by_outcome: BTreeMap<String, LetFigures>,
}

impl LetSummary {
    /// A let no goal call has counted yet.
    fn empty(name: &str, ty: &str) -> LetSummary {
        LetSummary { name: name.into(), ty: ty.into(), all: LetFigures::new(ty), by_outcome: BTreeMap::new() }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub campaign: String,
    pub attempts: u64,
    pub customers: u64,
    pub dispositions: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    pub answered: u64,
    pub goals: u64,
    pub connect_rate: f64,
    pub conversion_rate: f64,
    pub avg_talk_seconds: f64,
    pub funnel: Vec<FunnelStep>,
    pub top_objections: Vec<(String, u64)>,
    pub unrecognised: Vec<(String, u64)>,
    pub by_hour: BTreeMap<i64, Bucket>,
    pub by_attempt: BTreeMap<u32, Bucket>,
    /// The script's `money` and `date` lets in declaration order, over the goal calls.
    pub lets: Vec<LetSummary>,
    /// Each action the calls made (§13), by name.
    pub actions: Vec<ActionFigures>,
    /// Text messages by what became of them (`sent`, `failed`, `simulated`, `queued`).
    pub messages: BTreeMap<String, u64>,
    /// Per local date of the customer (`2026-11-24`), in date order: the trend.
    pub by_day: BTreeMap<String, Bucket>,
    /// By segment, zone, customer list and script.
    pub breakdowns: Breakdowns,
    /// The script's tags (`tag hardship_plan`), by how many attempts carry each, commonest first.
    pub tags: Vec<(String, u64)>,
    pub transfers: Transfers,
    /// Every let of the script, in declaration order, over the connected calls.
    pub captured: Vec<Captured>,
    /// The titles of the dispositions, outcomes and intents (objections) the report names.
    pub titles: Titles,
}

/// How an action answered over the campaign (CAMPAIGN.md §5).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ActionFigures {
    pub name: String,
    pub calls: u64,
    pub ok: u64,
    pub failed: u64,
    /// Latency of every call (ok or not), nearest rank: the median and the 95th percentile.
    pub latency_p50_ms: i64,
    pub latency_p95_ms: i64,
    /// The commonest causes of failure.
    pub causes: Vec<(String, u64)>,
}

/// The `p`-th percentile of sorted values, nearest rank (0 for none).
fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// One action's calls as they are gathered: latencies, how many were ok, causes of failure.
#[derive(Default)]
struct ActionCalls {
    latencies: Vec<i64>,
    ok: u64,
    causes: BTreeMap<String, u64>,
}

fn action_figures(by_name: BTreeMap<String, ActionCalls>) -> Vec<ActionFigures> {
    by_name
        .into_iter()
        .map(|(name, ActionCalls { mut latencies, ok, causes })| {
            latencies.sort_unstable();
            let calls = latencies.len() as u64;
            ActionFigures {
                name,
                calls,
                ok,
                failed: calls - ok,
                latency_p50_ms: percentile(&latencies, 50),
                latency_p95_ms: percentile(&latencies, 95),
                causes: top(causes, 5),
            }
        })
        .collect()
}

pub(super) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { (a as f64 / b as f64 * 10_000.0).round() / 10_000.0 }
}

fn top(counts: BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Builds the report. `steps` is the script's steps in flow order (for the funnel; empty: the
/// steps in the order the calls reached them). The titles of the script's intents are added
/// with [`Report::with_titles`].
pub fn build(campaign: &str, rows: &[AttemptRow], steps: &[String]) -> Report {
    let mut builder = ReportBuilder::default();
    rows.iter().for_each(|r| builder.add(r));
    builder.finish(campaign, steps)
}

/// A report gathered one attempt at a time (`Store::each_attempt` streams them), or from the
/// store's tallies of attempts (`Store::attempt_counts`, the same figures: each tally counts
/// as its attempts would), so its memory grows with what the report shows (steps, outcomes, tags,
/// distinct values), not with the attempts: a store of millions of calls is reported without
/// holding its rows.
#[derive(Default)]
pub struct ReportBuilder {
    attempts: u64,
    answered: u64,
    goals: u64,
    talk_ms: i64,
    dispositions: BTreeMap<String, u64>,
    outcomes: BTreeMap<String, u64>,
    /// Customers by a 64-bit hash of their id (8 bytes each), and those the store counted.
    customers: CustomerSet,
    customers_counted: u64,
    objections: BTreeMap<String, u64>,
    unrecognised: BTreeMap<String, u64>,
    tags: BTreeMap<String, u64>,
    reached: BTreeMap<String, u64>,
    hung: BTreeMap<String, u64>,
    seen_steps: Vec<String>,
    /// (step, the step a call came to it from) → calls.
    transitions: BTreeMap<(String, Option<String>), u64>,
    by_hour: BTreeMap<i64, Bucket>,
    by_attempt: BTreeMap<u32, Bucket>,
    by_day: BTreeMap<String, Bucket>,
    breakdowns: Breakdowns,
    actions: BTreeMap<String, ActionCalls>,
    messages: BTreeMap<String, u64>,
    transferred: u64,
    transfer_failed: u64,
    transfer_causes: BTreeMap<String, u64>,
    lets: LetsSeen,
}

impl ReportBuilder {
    /// Counts one stored attempt.
    pub fn add(&mut self, r: &AttemptRow) {
        self.customers.insert(customer_hash(&r.customer_id));
        let happened = Happened::of(r);
        self.count(&happened, 1, r.talk_ms);
        for by in By::of(r) {
            self.tally(by, &happened.ending(), 1);
        }
        for a in &r.actions {
            self.action(a, 1);
        }
        for m in &r.messages {
            bump(&mut self.messages, &m.status, 1);
        }
        self.lets.add(r);
    }

    /// Counts a store's tallied attempts ([`crate::store::Store::attempt_counts`]) as [`add`]
    /// counts each of their attempts.
    ///
    /// [`add`]: ReportBuilder::add
    pub fn add_counts(&mut self, c: &AttemptCounts) {
        self.customers_counted += c.customers;
        for g in &c.groups {
            self.count(&g.happened.view(), g.attempts, g.talk_ms);
        }
        for t in &c.tallies {
            self.tally(t.by.view(), &t.ending.view(), t.attempts);
        }
        for shape in &c.let_shapes {
            self.lets.shape(shape);
        }
        for g in &c.goal_lets {
            self.lets.goal_value(g.outcome.as_deref(), &g.value, g.calls);
        }
        for (l, n) in &c.captured {
            self.lets.captured_value(l, *n);
        }
        for (a, n) in &c.actions {
            self.action(a, *n);
        }
        for (status, n) in &c.messages {
            bump(&mut self.messages, status, *n);
        }
    }

    /// Counts `n` attempts in which `k` happened (their breakdowns, lets, actions and messages
    /// aside) that talked `talk_ms` in all.
    fn count(&mut self, k: &Happened<&str>, n: u64, talk_ms: i64) {
        self.attempts += n;
        bump(&mut self.dispositions, k.disposition, n);
        if let Some(o) = k.outcome {
            bump(&mut self.outcomes, o, n);
        }
        if connected(k.disposition) {
            self.answered += n;
            self.talk_ms += talk_ms;
            let steps: Vec<String> = serde_json::from_str(k.steps).unwrap_or_default();
            merge_in_order(&mut self.seen_steps, &steps);
            // A call reaches a handful of steps: a list beats a set here.
            let mut seen: Vec<&str> = Vec::with_capacity(steps.len());
            let mut before: Option<&str> = None;
            for s in &steps {
                if !seen.contains(&s.as_str()) {
                    seen.push(s);
                    bump(&mut self.reached, s, n);
                    let key = (s.clone(), before.map(str::to_string));
                    *self.transitions.entry(key).or_insert(0) += n;
                }
                before = Some(s);
            }
            if k.disposition == "customer_hangup"
                && let Some(s) = k.last_step
            {
                bump(&mut self.hung, s, n);
            }
        }
        self.goals += n * u64::from(k.goal);
        for o in serde_json::from_str::<Vec<String>>(k.objections).unwrap_or_default() {
            bump(&mut self.objections, &o, n);
        }
        for u in serde_json::from_str::<Vec<String>>(k.unrecognised).unwrap_or_default() {
            bump(&mut self.unrecognised, &u, n);
        }
        // A tag counts once per attempt, however often the call set it.
        let attempt_tags: std::collections::BTreeSet<String> =
            serde_json::from_str::<Vec<String>>(k.tags).unwrap_or_default().into_iter().collect();
        for t in attempt_tags {
            bump(&mut self.tags, &t, n);
        }
        match k.outcome {
            Some("transferred") => self.transferred += n,
            Some("transfer_failed") => {
                self.transfer_failed += n;
                bump(&mut self.transfer_causes, k.cause.unwrap_or(UNKNOWN), n);
            }
            _ => {}
        }
    }

    /// Counts `n` attempts in a breakdown's bucket that ended as `e`.
    fn tally(&mut self, by: By<&str>, e: &Ending<&str>, n: u64) {
        fn known(v: Option<&str>) -> &str {
            v.unwrap_or(UNKNOWN)
        }
        let b = &mut self.breakdowns;
        let bucket = match by {
            By::Hour(h) => self.by_hour.entry(h).or_default(),
            By::Attempt(a) => self.by_attempt.entry(a).or_default(),
            By::Day(t) => bucket(&mut self.by_day, local_date(t)),
            By::Segment(v) => bucket(&mut b.segment, known(v)),
            By::Zone(v) => bucket(&mut b.zone, known(v)),
            By::List(v) => bucket(&mut b.list, known(v)),
            By::Variant(v) => bucket(&mut b.variant, known(v)),
        };
        bucket.count(e, n);
    }

    /// Counts `n` calls of an action that answered alike.
    fn action(&mut self, a: &StoredAction, n: u64) {
        if !self.actions.contains_key(&a.name) {
            self.actions.insert(a.name.clone(), ActionCalls::default());
        }
        let calls = self.actions.get_mut(&a.name).expect("inserted above");
        calls.latencies.extend(std::iter::repeat_n(a.latency_ms, n as usize));
        calls.ok += n * u64::from(a.ok);
        if let Some(cause) = &a.cause {
            bump(&mut calls.causes, cause, n);
        }
    }

    /// The report of the attempts counted.
    pub fn finish(self, campaign: &str, steps: &[String]) -> Report {
        let ReportBuilder { reached, hung, transitions, answered, attempts, goals, .. } = &self;
        let steps = if steps.is_empty() { &self.seen_steps } else { steps };
        let funnel = steps
            .iter()
            .map(|s| {
                // The commonest way in (ties: the step first in name order, for a stable report).
                let way_in =
                    transitions.iter().filter(|((to, _), _)| to == s).max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
                let (from, went_on, from_previous) = match way_in {
                    Some(((_, Some(from)), n)) => {
                        (Some(from.clone()), *n, ratio(*n, reached.get(from).copied().unwrap_or(0)))
                    }
                    Some(((_, None), n)) => (None, *n, ratio(*n, *answered)),
                    None => (None, 0, 0.0),
                };
                FunnelStep {
                    step: s.clone(),
                    reached: reached.get(s).copied().unwrap_or(0),
                    hung_up: hung.get(s).copied().unwrap_or(0),
                    from,
                    went_on,
                    from_previous,
                }
            })
            .collect();
        let (answered, attempts, goals) = (*answered, *attempts, *goals);
        let attempted = self.transferred + self.transfer_failed;
        let mut report = Report {
            campaign: campaign.to_string(),
            attempts,
            customers: self.customers.len() as u64 + self.customers_counted,
            answered,
            goals,
            connect_rate: ratio(answered, attempts),
            conversion_rate: ratio(goals, answered),
            avg_talk_seconds: if answered == 0 {
                0.0
            } else {
                (self.talk_ms as f64 / answered as f64 / 100.0).round() / 10.0
            },
            funnel,
            top_objections: top(self.objections, 10),
            unrecognised: top(self.unrecognised, 10),
            by_hour: self.by_hour,
            by_attempt: self.by_attempt,
            lets: self.lets.summaries(),
            captured: self.lets.captured(),
            actions: action_figures(self.actions),
            messages: self.messages,
            by_day: self.by_day,
            breakdowns: self.breakdowns,
            tags: top(self.tags, usize::MAX),
            transfers: Transfers {
                attempted,
                transferred: self.transferred,
                failed: self.transfer_failed,
                success_rate: ratio(self.transferred, attempted),
                causes: top(self.transfer_causes, 5),
            },
            titles: Titles::default(),
            dispositions: self.dispositions,
            outcomes: self.outcomes,
        };
        report.titles = titles(&report, &labels::ScriptTitles::default());
        report
    }
}

impl Report {
    /// The report with the titles the scripts give their intents (`intent who "询问身份"`) and
    /// outcomes (`promised "承诺还款" goal`): the objections are named by their first intent.
    pub fn with_titles(mut self, script: &labels::ScriptTitles) -> Report {
        self.titles = titles(&self, script);
        self
    }
}

/// The titles of the names the report counts.
fn titles(r: &Report, script: &labels::ScriptTitles) -> Titles {
    let own = |names: &mut dyn Iterator<Item = &String>, title: &dyn Fn(&str) -> Option<String>| {
        names.filter_map(|n| title(n).map(|t| (n.clone(), t))).collect::<BTreeMap<_, _>>()
    };
    Titles {
        dispositions: own(&mut r.dispositions.keys(), &|d| labels::disposition_title(d).map(String::from)),
        outcomes: own(&mut r.outcomes.keys(), &|o| script.outcome(o)),
        intents: own(&mut r.top_objections.iter().map(|(o, _)| o), &|i| script.intents.get(i).cloned()),
    }
}

/// The customer's local date of an attempt (`2026-11-24`), from its ISO 8601 local time.
fn local_date(local_time: &str) -> &str {
    match local_time.get(..10) {
        Some(date) if Date::parse(date).is_some() => date,
        _ => UNKNOWN,
    }
}

/// Adds `n` to `key`'s count, copying the key only the first time it is seen.
fn bump(counts: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    match counts.get_mut(key) {
        Some(count) => *count += n,
        None => {
            counts.insert(key.to_string(), n);
        }
    }
}

/// `key`'s bucket, made (and the key copied) the first time it is seen.
fn bucket<'m>(buckets: &'m mut BTreeMap<String, Bucket>, key: &str) -> &'m mut Bucket {
    if !buckets.contains_key(key) {
        buckets.insert(key.to_string(), Bucket::default());
    }
    buckets.get_mut(key).expect("inserted above")
}

/// Adds `list`'s items missing from `union`, each next to its neighbour in `list`: the union
/// of several scripts' lets keeps every script's declaration order.
fn merge_in_order<K: PartialEq + Clone>(union: &mut Vec<K>, list: &[K]) {
    for (i, k) in list.iter().enumerate() {
        if union.contains(k) {
            continue;
        }
        // The item before it is in the union by now; the first goes before the next known one.
        let at = match i.checked_sub(1) {
            Some(before) => union.iter().position(|u| *u == list[before]).map_or(union.len(), |p| p + 1),
            None => list[1..].iter().find_map(|n| union.iter().position(|u| u == n)).unwrap_or(union.len()),
        };
        union.insert(at, k.clone());
    }
}

/// Whether two attempts hold the same lets (names, types, which are masked), values aside.
fn same_lets(a: &[StoredLet], b: &[StoredLet]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| x.name == y.name && x.ty == y.ty && x.value.is_some() == y.value.is_some())
}

/// The lets of the stored attempts, by name, in declaration order (the union over the
/// scripts the attempts ran, when the script changed between runs).
pub fn let_names(rows: &[AttemptRow]) -> Vec<String> {
    let mut names = LetNames::default();
    rows.iter().for_each(|r| {
        names.add(&r.lets);
    });
    names.names
}

/// [`let_names`] gathered one attempt at a time.
#[derive(Default)]
pub struct LetNames {
    /// The lets of the last attempt whose lets were merged (most attempts ran the same script
    /// as the one before: nothing new to merge).
    last: Vec<StoredLet>,
    names: Vec<String>,
}

impl LetNames {
    /// Merges an attempt's lets; true when they differ from the last ones merged.
    pub fn add(&mut self, lets: &[StoredLet]) -> bool {
        if lets.is_empty() || same_lets(lets, &self.last) {
            return false;
        }
        self.last = lets.to_vec();
        let names: Vec<String> = lets.iter().map(|l| l.name.clone()).collect();
        merge_in_order(&mut self.names, &names);
        true
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The lets of the attempts as they are counted: their names in declaration order (the union
/// over the scripts the attempts ran), each `money` let summed and each `date` let counted by
/// value over the goal calls, and every let's values counted over the connected calls. A let is
/// summarised when some attempt holds a value of it (a sensitive let never does); values that
/// do not read as their type (a store edited by hand) are not counted.
#[derive(Default)]
struct LetsSeen {
    /// Every let's name, in declaration order.
    names: LetNames,
    /// `money` and `date` lets that held a value, as (name, type), in declaration order.
    summarised: Vec<(String, String)>,
    summaries: BTreeMap<(String, String), LetSummary>,
    /// Per let name: its figures over the connected calls, and its values' counts.
    captured: BTreeMap<String, (Captured, BTreeMap<String, u64>)>,
}

impl LetsSeen {
    fn add(&mut self, r: &AttemptRow) {
        self.shape(&r.lets);
        if r.goal {
            for l in &r.lets {
                self.goal_value(r.outcome.as_deref(), l, 1);
            }
        }
        if connected(&r.disposition) {
            for l in &r.lets {
                self.captured_value(l, 1);
            }
        }
    }

    /// Merges the names of an attempt's lets (only whether each holds a value is read).
    fn shape(&mut self, lets: &[StoredLet]) {
        if self.names.add(lets) {
            let summarised: Vec<(String, String)> = lets
                .iter()
                .filter(|l| l.value.is_some() && summed(&l.ty))
                .map(|l| (l.name.clone(), l.ty.clone()))
                .collect();
            merge_in_order(&mut self.summarised, &summarised);
        }
    }

    /// Counts a let's value held at the end of `n` goal calls of `outcome`.
    fn goal_value(&mut self, outcome: Option<&str>, l: &StoredLet, n: u64) {
        let Some(value) = &l.value else { return };
        if !self.summarised.iter().any(|(name, ty)| *name == l.name && *ty == l.ty) {
            return;
        }
        let key = (l.name.clone(), l.ty.clone());
        let s = self.summaries.entry(key).or_insert_with(|| LetSummary::empty(&l.name, &l.ty));
        if s.all.add(value, n) {
            let outcome = outcome.unwrap_or_default().to_string();
            s.by_outcome.entry(outcome).or_insert_with(|| LetFigures::new(&l.ty)).add(value, n);
        }
    }

    /// Counts a let as `n` connected calls ended with it.
    fn captured_value(&mut self, l: &StoredLet, n: u64) {
        let (c, values) = self.captured.entry(l.name.clone()).or_insert_with(|| {
            let c = Captured {
                name: l.name.clone(),
                ty: String::new(),
                calls: 0,
                sensitive: false,
                top_values: Vec::new(),
            };
            (c, BTreeMap::new())
        });
        c.ty.clone_from(&l.ty);
        c.calls += n;
        match &l.value {
            None => c.sensitive = true,
            Some(v) if l.ty != "money" => bump(values, v, n),
            Some(_) => {}
        }
    }

    /// The `money` and `date` lets in declaration order, over the goal calls.
    fn summaries(&self) -> Vec<LetSummary> {
        self.summarised
            .iter()
            .map(|(name, ty)| {
                self.summaries.get(&(name.clone(), ty.clone())).cloned().unwrap_or_else(|| LetSummary::empty(name, ty))
            })
            .collect()
    }

    /// Each let over the connected calls, in declaration order.
    fn captured(&self) -> Vec<Captured> {
        self.names
            .names()
            .iter()
            .filter_map(|name| self.captured.get(name))
            .filter(|(c, _)| c.calls > 0)
            .map(|(c, values)| {
                let mut c = c.clone();
                if !c.sensitive {
                    c.top_values = top(values.clone(), 10);
                }
                c
            })
            .collect()
    }
}

/// An attempt for the tests; `goal` is its goal outcome, if it reached one.
#[cfg(test)]
pub(super) fn with_lets(customer: &str, goal: Option<&str>, lets: &[(&str, &str, Option<&str>)]) -> AttemptRow {
    AttemptRow {
        customer_id: customer.into(),
        disposition: if lets.is_empty() { "busy" } else { "answered" }.into(),
        goal: goal.is_some(),
        outcome: goal.map(String::from),
        lets: lets
            .iter()
            .map(|(name, ty, value)| StoredLet {
                name: name.to_string(),
                ty: ty.to_string(),
                value: value.map(String::from),
            })
            .collect(),
        ..AttemptRow::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredAction;

    /// Latencies are read by nearest rank over every call; causes are counted, commonest first.
    #[test]
    fn action_figures_take_percentiles_and_count_causes() {
        let call = |ms: i64, cause: Option<&str>| StoredAction {
            name: "lookup".into(),
            ok: cause.is_none(),
            latency_ms: ms,
            cause: cause.map(str::to_string),
        };
        let mut actions: Vec<StoredAction> = (1..=18).map(|i| call(i * 10, None)).collect();
        actions.push(call(2000, Some("no answer within 2000 ms")));
        actions.push(call(40, Some("HTTP status 503")));
        actions.push(call(2000, Some("no answer within 2000 ms")));
        let rows = vec![AttemptRow { actions, ..AttemptRow::default() }];
        let figures = build("t", &rows, &[]).actions;
        assert_eq!(
            figures,
            [ActionFigures {
                name: "lookup".into(),
                calls: 21,
                ok: 18,
                failed: 3,
                latency_p50_ms: 100,
                latency_p95_ms: 2000,
                causes: vec![("no answer within 2000 ms".into(), 2), ("HTTP status 503".into(), 1)],
            }]
        );
        assert_eq!(percentile(&[], 95), 0);
        assert_eq!(percentile(&[7], 50), 7);
    }

    /// Money lets are summed to the cent and date lets counted by date over the goal calls
    /// only; masked, unreadable and other lets are not aggregated.
    #[test]
    fn money_lets_are_summed_and_date_lets_counted_over_goal_calls() {
        let rows = [
            with_lets(
                "a",
                Some("promised"),
                &[("pay_amount", "money", Some("0.10")), ("pay_date", "date", Some("2026-12-01"))],
            ),
            with_lets(
                "b",
                Some("hardship"),
                &[("pay_amount", "money", Some("0.20")), ("pay_date", "date", Some("2026-11-25"))],
            ),
            with_lets("c", None, &[("pay_amount", "money", Some("1000.00")), ("pay_date", "date", Some("2026-11-25"))]),
            with_lets(
                "d",
                Some("promised"),
                &[("pay_amount", "money", Some("12 元")), ("pay_date", "date", Some("2026-11-25"))],
            ),
            with_lets("e", Some("promised"), &[("pay_amount", "money", Some("92233720368547758.07"))]),
            with_lets(
                "f",
                Some("promised"),
                &[("pay_amount", "money", Some("92233720368547758.07")), ("secret", "money", None)],
            ),
            with_lets("g", Some("promised"), &[("tries", "int", Some("3"))]),
        ];
        let report = build("t", &rows, &[]);
        let json = serde_json::to_value(&report.lets).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                { "name": "pay_amount", "type": "money", "goal_calls_with_value": 4, "sum": "184467440737095516.44",
                  "by_outcome": {
                    "hardship": { "goal_calls_with_value": 1, "sum": "0.20" },
                    "promised": { "goal_calls_with_value": 3, "sum": "184467440737095516.24" } } },
                { "name": "pay_date", "type": "date", "goal_calls_with_value": 3,
                  "by_value": { "2026-11-25": 2, "2026-12-01": 1 },
                  "by_outcome": {
                    "hardship": { "goal_calls_with_value": 1, "by_value": { "2026-11-25": 1 } },
                    "promised": { "goal_calls_with_value": 2, "by_value": { "2026-11-25": 1, "2026-12-01": 1 } } } },
            ])
        );
        assert_eq!(report.lets[0].all.sum.unwrap().grouped(), "184,467,440,737,095,516.44");
        let table = crate::report::table(&report);
        for line in [
            "    pay_amount (money)                  4  sum 184,467,440,737,095,516.44\n",
            "      hardship                          1  sum 0.20\n",
            "      promised                          2\n        2026-11-25                      1\n",
        ] {
            assert!(table.contains(line), "{line}\n{table}");
        }
    }

    #[test]
    fn sums_read_like_money() {
        let sum = |cents: i128| Sum(cents);
        assert_eq!(sum(0).literal(), "0.00");
        assert_eq!(sum(5).grouped(), "0.05");
        assert_eq!(sum(48_625_000).grouped(), "486,250.00");
        assert_eq!(sum(99_999_999).grouped(), "999,999.99");
        assert_eq!(sum(100_000_000).grouped(), "1,000,000.00");
        assert_eq!(sum(-123_456).literal(), "-1234.56");
        assert_eq!(sum(-123_456).grouped(), "-1,234.56");
    }
}
