//! A campaign's attempts as a report reads them ([`Store::attempt_counts`](super::Store)): each
//! figure tallied on its own, with how many attempts it holds, so a report of a million attempts
//! reads each distinct value once instead of once per attempt, and holds what the report shows
//! (the sum of the breakdowns' distinct values, not their product). What happened in the
//! attempts is grouped by [`Happened`]; each breakdown (hour, attempt number, day, segment, zone,
//! list, script) counts its attempts by [`By`] and [`Ending`], all its bucket reads. The store
//! only tallies; `report::ReportBuilder` computes every figure, from tallies as from single
//! attempts.

use std::collections::HashSet;
use std::convert::Infallible;

use rustc_hash::FxHashMap;

use super::{AttemptRow, Finished, StoredAction, StoredLet};

/// What happened in an attempt, as the report reads it beside the breakdowns (its lets,
/// actions and messages aside). `S` is `String` when held, `&str` when read from a row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Happened<S = String> {
    pub disposition: S,
    pub outcome: Option<S>,
    pub goal: bool,
    /// What went wrong; grouped attempts keep it only for a failed transfer (the report names
    /// no other cause).
    pub cause: Option<S>,
    /// The step the call ended in; grouped attempts keep it only when the customer hung up.
    pub last_step: Option<S>,
    /// The JSON lists as stored.
    pub steps: S,
    pub objections: S,
    pub unrecognised: S,
    pub tags: S,
}

impl Happened<String> {
    /// Borrowed, as a row is read.
    pub fn view(&self) -> Happened<&str> {
        Happened {
            disposition: &self.disposition,
            outcome: self.outcome.as_deref(),
            goal: self.goal,
            cause: self.cause.as_deref(),
            last_step: self.last_step.as_deref(),
            steps: &self.steps,
            objections: &self.objections,
            unrecognised: &self.unrecognised,
            tags: &self.tags,
        }
    }
}

impl<'a> Happened<&'a str> {
    /// What happened in an attempt, every field as stored.
    pub fn of(r: &'a AttemptRow) -> Happened<&'a str> {
        Happened {
            disposition: &r.disposition,
            outcome: r.outcome.as_deref(),
            goal: r.goal,
            cause: r.cause.as_deref(),
            last_step: r.last_step.as_deref(),
            steps: &r.steps,
            objections: &r.objections,
            unrecognised: &r.unrecognised,
            tags: &r.tags,
        }
    }

    /// How the attempt ended, as a breakdown's bucket reads it.
    pub fn ending(&self) -> Ending<&'a str> {
        Ending { connected: connected(self.disposition), goal: self.goal, outcome: self.outcome }
    }

    /// Without what the report does not read, so that attempts differing only there share a
    /// group: the cause of anything but a failed transfer, the last step of a call the
    /// customer did not hang up.
    pub(crate) fn trimmed(mut self) -> Happened<&'a str> {
        if self.outcome != Some("transfer_failed") {
            self.cause = None;
        }
        if self.disposition != "customer_hangup" {
            self.last_step = None;
        }
        self
    }

    fn owned(&self) -> Happened {
        let s = |v: Option<&str>| v.map(str::to_string);
        Happened {
            disposition: self.disposition.into(),
            outcome: s(self.outcome),
            goal: self.goal,
            cause: s(self.cause),
            last_step: s(self.last_step),
            steps: self.steps.into(),
            objections: self.objections.into(),
            unrecognised: self.unrecognised.into(),
            tags: self.tags.into(),
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        put(buf, Some(self.disposition));
        put(buf, self.outcome);
        buf.push(u8::from(self.goal));
        put(buf, self.cause);
        put(buf, self.last_step);
        for v in [self.steps, self.objections, self.unrecognised, self.tags] {
            put(buf, Some(v));
        }
    }
}

/// How an attempt ended, all a breakdown's bucket reads of it: whether the customer picked up,
/// whether it reached a goal, its outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ending<S = String> {
    pub connected: bool,
    pub goal: bool,
    pub outcome: Option<S>,
}

impl Ending<String> {
    /// Borrowed, as a row is read.
    pub fn view(&self) -> Ending<&str> {
        Ending { connected: self.connected, goal: self.goal, outcome: self.outcome.as_deref() }
    }
}

impl Ending<&str> {
    fn owned(&self) -> Ending {
        Ending { connected: self.connected, goal: self.goal, outcome: self.outcome.map(String::from) }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(u8::from(self.connected) * 2 + u8::from(self.goal));
        put(buf, self.outcome);
    }
}

/// Where and when an attempt was placed, in one of the report's breakdowns: its bucket there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum By<S = String> {
    /// The customer's local hour.
    Hour(i64),
    /// The attempt's number for its customer.
    Attempt(u32),
    /// The customer's local time; tallied attempts keep its date (first ten characters).
    Day(S),
    Segment(Option<S>),
    Zone(Option<S>),
    List(Option<S>),
    /// The script the call ran.
    Variant(Option<S>),
}

/// The breakdowns, one bucket each per attempt.
pub const BREAKDOWNS: usize = 7;

impl By<String> {
    /// Borrowed, as a row is read.
    pub fn view(&self) -> By<&str> {
        match self {
            By::Hour(h) => By::Hour(*h),
            By::Attempt(a) => By::Attempt(*a),
            By::Day(t) => By::Day(t),
            By::Segment(v) => By::Segment(v.as_deref()),
            By::Zone(v) => By::Zone(v.as_deref()),
            By::List(v) => By::List(v.as_deref()),
            By::Variant(v) => By::Variant(v.as_deref()),
        }
    }
}

impl<'a> By<&'a str> {
    /// An attempt's bucket in each breakdown, every field as stored.
    pub fn of(r: &'a AttemptRow) -> [By<&'a str>; BREAKDOWNS] {
        [
            By::Hour(r.local_hour),
            By::Attempt(r.attempt),
            By::Day(&r.local_time),
            By::Segment(r.segment.as_deref()),
            By::Zone(r.zone.as_deref()),
            By::List(r.list.as_deref()),
            By::Variant(r.variant.as_deref()),
        ]
    }

    /// Without what the report does not read: the local time past its date. Ten characters,
    /// as SQL's substr(local_time, 1, 10): the report reads the first ten bytes, which a prefix
    /// of at least ten bytes keeps.
    pub(crate) fn trimmed(self) -> By<&'a str> {
        match self {
            By::Day(t) => By::Day(t.char_indices().nth(10).map_or(t, |(at, _)| &t[..at])),
            other => other,
        }
    }

    fn owned(&self) -> By {
        let s = |v: &Option<&str>| v.map(str::to_string);
        match self {
            By::Hour(h) => By::Hour(*h),
            By::Attempt(a) => By::Attempt(*a),
            By::Day(t) => By::Day(t.to_string()),
            By::Segment(v) => By::Segment(s(v)),
            By::Zone(v) => By::Zone(s(v)),
            By::List(v) => By::List(s(v)),
            By::Variant(v) => By::Variant(s(v)),
        }
    }

    /// Its value, encoded apart from the other values of its breakdown.
    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            By::Hour(h) => buf.extend(h.to_le_bytes()),
            By::Attempt(a) => buf.extend(a.to_le_bytes()),
            By::Day(t) => put(buf, Some(t)),
            By::Segment(v) | By::Zone(v) | By::List(v) | By::Variant(v) => put(buf, *v),
        }
    }
}

/// Attempts in which the same happened ([`Happened`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptGroup {
    pub happened: Happened,
    pub attempts: u64,
    /// Their talk time, summed.
    pub talk_ms: i64,
}

/// Attempts in one bucket of a breakdown that ended alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    pub by: By,
    pub ending: Ending,
    pub attempts: u64,
}

/// A `money` or `date` let's value at the end of goal calls that reached one outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoalLet {
    pub outcome: Option<String>,
    pub value: StoredLet,
    pub calls: u64,
}

/// A campaign's attempts that are not live, tallied ([`Store::attempt_counts`](super::Store)).
/// Memory grows with the distinct values of each figure, not with the attempts nor with the
/// product of the breakdowns (save the goal calls' distinct `money` and `date` values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    /// What happened, in the order of their first attempt (the order calls were placed in).
    pub groups: Vec<AttemptGroup>,
    /// Each breakdown's buckets by how their attempts ended, in no particular order.
    pub tallies: Vec<Tally>,
    /// Distinct customers.
    pub customers: u64,
    /// Attempts in a state this callscript does not know (neither live nor ended).
    pub unknown_states: u64,
    /// The distinct lists of lets attempts ended with (names, types, and whether each holds a
    /// value: a value is the empty text), in the order of their first attempt.
    pub let_shapes: Vec<Vec<StoredLet>>,
    /// The `money` and `date` lets' values over the goal calls.
    pub goal_lets: Vec<GoalLet>,
    /// Each let over the connected calls, by value (a `money` let's value is the empty text:
    /// only summed over goal calls), with how many calls held it; in the order of the last
    /// call that held it.
    pub captured: Vec<(StoredLet, u64)>,
    /// The calls of actions, by name, result, latency and cause.
    pub actions: Vec<(StoredAction, u64)>,
    /// Text messages by status.
    pub messages: Vec<(String, u64)>,
}

/// Whether the report sums (`money`) or counts by value (`date`) a let of this type over the
/// goal calls.
pub(crate) fn summed(ty: &str) -> bool {
    matches!(ty, "money" | "date")
}

/// Whether the customer picked up (the script ran, to its end or to a hang-up).
pub(crate) fn connected(disposition: &str) -> bool {
    disposition == "answered" || disposition == "customer_hangup"
}

/// A stable 64-bit hash of a customer id (SipHash with fixed keys), for counting customers in
/// 8 bytes each. Two ids share a hash with a chance of about n²/2⁶⁵ (3 in a million at 10
/// million customers), which would count one customer short.
pub(crate) fn customer_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// A set of [`customer_hash`]es.
pub(crate) type CustomerSet = HashSet<u64, std::hash::BuildHasherDefault<AlreadyHashed>>;

/// The hasher of a set of hashes: the value is its own hash.
#[derive(Default)]
pub(crate) struct AlreadyHashed(u64);

impl std::hash::Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64s are hashed here; any other input still hashes, just slowly.
        bytes.iter().for_each(|b| self.0 = self.0.rotate_left(8) ^ u64::from(*b));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Writes an optional text with its length, so that no two keys encode alike.
fn put(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            buf.extend((s.len() as u64).to_le_bytes());
            buf.extend(s.as_bytes());
        }
    }
}

/// Where an item was counted: the attempt's id and the item's place among the attempt's lets,
/// actions or messages, as one number ordered as the pair. Items carry the first and last
/// they were counted at, so that items gathered out of order (as a store keeps them across
/// batches, [`Counter::kept`]) come out in the order a scan of the attempts gives.
pub(crate) type Mark = i64;

/// The mark of the item at `position` of attempt `id`.
fn mark(id: i64, position: usize) -> Mark {
    id.saturating_mul(1 << 16).saturating_add(position.min(0xffff) as i64)
}

/// Items looked up by an encoded key, with the first and last marks each was counted at.
struct Grouped<T> {
    /// Fx: a million lookups of keys a few hundred bytes long, which no one else chooses.
    index: FxHashMap<Box<[u8]>, usize>,
    items: Vec<T>,
    /// Each item's first and last marks.
    marks: Vec<(Mark, Mark)>,
}

impl<T> Default for Grouped<T> {
    fn default() -> Self {
        Grouped { index: FxHashMap::default(), items: Vec::new(), marks: Vec::new() }
    }
}

impl<T> Grouped<T> {
    /// The item of `key`, made the first time it is seen, counted at `at`.
    fn entry(&mut self, key: &[u8], at: Mark, make: impl FnOnce() -> T) -> &mut T {
        match self.try_entry(key, at, || Ok::<_, Infallible>(make())) {
            Ok(item) => item,
        }
    }

    /// Adds the items of `later`, each to the item of its key here with `combine` (marks
    /// widened), or after these when its key is new. Returns where each of `later`'s items
    /// went here, by its place there.
    fn merge(&mut self, later: Grouped<T>, mut combine: impl FnMut(&mut T, T)) -> Vec<usize> {
        let mut keys: Vec<(usize, Box<[u8]>)> = later.index.into_iter().map(|(key, at)| (at, key)).collect();
        keys.sort_unstable_by_key(|(at, _)| *at);
        let mut went = Vec::with_capacity(keys.len());
        for (((_, key), item), (first, last)) in keys.into_iter().zip(later.items).zip(later.marks) {
            match self.index.get(&key) {
                Some(at) => {
                    went.push(*at);
                    combine(&mut self.items[*at], item);
                    let marks = &mut self.marks[*at];
                    *marks = (marks.0.min(first), marks.1.max(last));
                }
                None => {
                    went.push(self.items.len());
                    self.index.insert(key, self.items.len());
                    self.items.push(item);
                    self.marks.push((first, last));
                }
            }
        }
        went
    }

    /// [`Grouped::entry`] with a `make` that may fail.
    fn try_entry<E>(&mut self, key: &[u8], at: Mark, make: impl FnOnce() -> Result<T, E>) -> Result<&mut T, E> {
        let place = self.place(key, at, make)?;
        Ok(&mut self.items[place])
    }

    /// The place of `key`'s item, made the first time it is seen, counted at `at`.
    fn place<E>(&mut self, key: &[u8], at: Mark, make: impl FnOnce() -> Result<T, E>) -> Result<usize, E> {
        Ok(match self.index.get(key) {
            Some(&place) => {
                let marks = &mut self.marks[place];
                *marks = (marks.0.min(at), marks.1.max(at));
                place
            }
            None => {
                self.items.push(make()?);
                self.marks.push((at, at));
                self.index.insert(key.into(), self.items.len() - 1);
                self.items.len() - 1
            }
        })
    }

    /// The items in the order of `order` of their marks (stable: a scan of the attempts counts
    /// them in this order already).
    fn ordered<K: Ord>(self, order: impl Fn(&(Mark, Mark)) -> K) -> Vec<T> {
        let mut items: Vec<_> = self.items.into_iter().zip(self.marks).collect();
        items.sort_by_key(|(_, marks)| order(marks));
        items.into_iter().map(|(item, _)| item).collect()
    }

    /// The items with their keys and marks.
    fn keyed(&self) -> impl Iterator<Item = (&[u8], &T, (Mark, Mark))> {
        let mut keys: Vec<(&[u8], usize)> = self.index.iter().map(|(key, at)| (&key[..], *at)).collect();
        keys.sort_unstable_by_key(|(_, at)| *at);
        keys.into_iter().map(|(key, at)| (key, &self.items[at], self.marks[at]))
    }
}

/// How the attempts a counter has seen ended ([`Ending`]), each by its place in the counter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EndingAt(u32);

impl EndingAt {
    /// Its place in [`Counter::endings`].
    pub fn place(self) -> u32 {
        self.0
    }
}

/// Each breakdown's buckets by how their attempts ended, as they are counted: values and endings
/// numbered as they are first seen, the last value of each breakdown looked up first (the
/// attempts come in the order they were placed: the day, the list, the script rarely change
/// from one to the next).
#[derive(Default)]
struct Tallies {
    /// By their encoding ([`Ending::encode`]).
    endings: Grouped<Ending>,
    /// Each breakdown's values by the encoding its caller chose.
    values: [Grouped<By>; BREAKDOWNS],
    /// Each breakdown's last value looked up: its encoding and its place in `values`.
    last: [(Vec<u8>, usize); BREAKDOWNS],
    /// Each breakdown's attempts by (value, ending).
    counts: [FxHashMap<(u32, u32), u64>; BREAKDOWNS],
}

impl Tallies {
    /// The place of an ending.
    fn ending(&mut self, e: &Ending<&str>, scratch: &mut Vec<u8>) -> EndingAt {
        scratch.clear();
        e.encode(scratch);
        let Ok(at) = self.endings.place(scratch, 0, || Ok::<_, Infallible>(e.owned()));
        EndingAt(at as u32)
    }

    /// Adds what `later` counted; returns where `later`'s endings went here.
    fn merge(&mut self, later: Tallies) -> Vec<usize> {
        let endings = self.endings.merge(later.endings, |_, _| {});
        for (b, (values, counts)) in later.values.into_iter().zip(later.counts).enumerate() {
            let values = self.values[b].merge(values, |_, _| {});
            for ((v, e), n) in counts {
                *self.counts[b].entry((values[v as usize] as u32, endings[e as usize] as u32)).or_insert(0) += n;
            }
        }
        endings
    }

    fn finish(self) -> Vec<Tally> {
        let Tallies { endings, values, counts, .. } = self;
        values
            .iter()
            .zip(counts)
            .flat_map(|(values, counts)| {
                let endings = &endings.items;
                counts.into_iter().map(move |((v, e), attempts)| Tally {
                    by: values.items[v as usize].clone(),
                    ending: endings[e as usize].clone(),
                    attempts,
                })
            })
            .collect()
    }
}

/// What the report reads of an attempt to count its lets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LetsOf<'a> {
    pub id: i64,
    pub goal: bool,
    pub outcome: Option<&'a str>,
    pub connected: bool,
}

/// Gathers [`AttemptCounts`] from attempts read one at a time (each attempt's lets in
/// declaration order), without holding any of them. Items come out in the order of the
/// attempts they were first counted in (the captured lets: last), whatever the order the
/// attempts came in.
#[derive(Default)]
pub(crate) struct Counter {
    /// With how the group's attempts ended.
    groups: Grouped<(AttemptGroup, EndingAt)>,
    tallies: Tallies,
    customers: CustomerSet,
    /// Customers the store counted itself (beside `customers`).
    customers_counted: u64,
    unknown_states: u64,
    /// The attempt whose lets are being read, their shape so far (encoded) and how many.
    shape_of: Option<i64>,
    shape: Vec<u8>,
    shape_len: usize,
    /// With how many attempts ended with each.
    shapes: Grouped<(Vec<StoredLet>, u64)>,
    goal_lets: Grouped<GoalLet>,
    captured: Grouped<(StoredLet, u64)>,
    actions: Grouped<(StoredAction, u64)>,
    messages: Grouped<(String, u64)>,
    scratch: Vec<u8>,
    scratch_ending: Vec<u8>,
}

impl Counter {
    /// Counts one attempt (its lets, actions and messages come through their own calls).
    pub fn attempt(
        &mut self,
        id: i64,
        customer_id: &str,
        state: &str,
        talk_ms: i64,
        happened: Happened<&str>,
        by: [By<&str>; BREAKDOWNS],
    ) {
        self.customers.insert(customer_hash(customer_id));
        self.unknown_state(state != "ended");
        self.placed(id, talk_ms, happened, by);
    }

    /// Counts what happened in attempt `id` and its buckets (not its customer nor its state).
    fn placed(&mut self, id: i64, talk_ms: i64, happened: Happened<&str>, by: [By<&str>; BREAKDOWNS]) {
        let happened = happened.trimmed();
        let mut encoded = std::mem::take(&mut self.scratch);
        happened.encode(&mut encoded);
        let Ok(ending) = self.attempt_encoded(id, &encoded, talk_ms, || Ok::<_, Infallible>(happened.owned()));
        for (breakdown, by) in by.into_iter().enumerate() {
            let by = by.trimmed();
            encoded.clear();
            by.encode(&mut encoded);
            let Ok(()) = self.tally_encoded(breakdown, &encoded, ending, || Ok::<_, Infallible>(by.owned()));
        }
        self.scratch = encoded;
    }

    /// Counts attempt `id` as a store writes it, ended: `by` where it was placed (as stored),
    /// `f` how it ended (as stored), with its lets, actions and messages. Its customer is not
    /// counted (a store counts those itself).
    pub fn ended(&mut self, id: i64, by: [By<&str>; BREAKDOWNS], f: &Finished) {
        let happened = Happened {
            disposition: f.disposition.as_str(),
            outcome: f.outcome.as_deref(),
            goal: f.goal,
            cause: f.cause.as_deref(),
            last_step: f.last_step.as_deref(),
            steps: f.steps.as_str(),
            objections: f.objections.as_str(),
            unrecognised: f.unrecognised.as_str(),
            tags: f.tags.as_str(),
        };
        self.placed(id, f.talk_ms, happened, by);
        let of = LetsOf { id, goal: f.goal, outcome: f.outcome.as_deref(), connected: connected(&f.disposition) };
        for l in &f.lets {
            self.let_value(of, &l.name, &l.ty, l.value.as_deref());
        }
        self.end_shape();
        for (position, a) in f.actions.iter().enumerate() {
            self.action(id, position, &a.name, a.ok, a.latency_ms, a.cause.as_deref());
        }
        for (position, m) in f.messages.iter().enumerate() {
            self.messages(id, position, &m.status, 1);
        }
    }

    /// Counts attempt `id` in which what happened, trimmed (as `Happened::trimmed` does), is
    /// `encoded` (in any encoding where two differ when their fields do, the same for all the
    /// attempts); `happened` makes it the first time it is seen. For a store that reads its
    /// rows' bytes; each of the attempt's buckets follows ([`Counter::tally_encoded`]), with
    /// how it ended (returned).
    pub fn attempt_encoded<E>(
        &mut self,
        id: i64,
        encoded: &[u8],
        talk_ms: i64,
        happened: impl FnOnce() -> Result<Happened, E>,
    ) -> Result<EndingAt, E> {
        let tallies = &mut self.tallies;
        let scratch = &mut self.scratch_ending;
        let make = || happened().map(|h| (tallies.ending(&h.view().ending(), scratch), h));
        let make = || make().map(|(ending, happened)| (AttemptGroup { happened, attempts: 0, talk_ms: 0 }, ending));
        let (group, ending) = self.groups.try_entry(encoded, mark(id, 0), make)?;
        group.attempts += 1;
        group.talk_ms += talk_ms;
        Ok(*ending)
    }

    /// Counts an attempt that ended as `ending` in one bucket of a breakdown (its place in
    /// [`By::of`]'s list), whose value, trimmed (as `By::trimmed` does), is `encoded` (in any
    /// encoding where two differ when they do, the same for all the attempts); `by` makes the
    /// value the first time it is seen.
    pub fn tally_encoded<E>(
        &mut self,
        breakdown: usize,
        encoded: &[u8],
        ending: EndingAt,
        by: impl FnOnce() -> Result<By, E>,
    ) -> Result<(), E> {
        self.tally_n(breakdown, encoded, ending, 1, by)
    }

    /// [`Counter::tally_encoded`] for `n` attempts.
    fn tally_n<E>(
        &mut self,
        breakdown: usize,
        encoded: &[u8],
        ending: EndingAt,
        n: u64,
        by: impl FnOnce() -> Result<By, E>,
    ) -> Result<(), E> {
        let t = &mut self.tallies;
        let last = &mut t.last[breakdown];
        if last.0 != encoded || t.values[breakdown].items.is_empty() {
            last.1 = t.values[breakdown].place(encoded, 0, by)?;
            last.0.clear();
            last.0.extend_from_slice(encoded);
        }
        *t.counts[breakdown].entry((last.1 as u32, ending.0)).or_insert(0) += n;
        Ok(())
    }

    /// How the attempts counted so far ended, by their [`EndingAt::place`].
    pub fn endings(&self) -> &[Ending] {
        &self.tallies.endings.items
    }

    /// Counts an attempt in a state this callscript does not know, when `unknown`.
    pub fn unknown_state(&mut self, unknown: bool) {
        self.unknown_states += u64::from(unknown);
    }

    /// Customers the store counted itself (when it does not pass them to [`Counter::attempt`]).
    pub fn customers(&mut self, n: u64) {
        self.customers_counted += n;
    }

    /// Counts one let of an attempt; an attempt's lets come together, in declaration order.
    pub fn let_value(&mut self, of: LetsOf<'_>, name: &str, ty: &str, value: Option<&str>) {
        if self.shape_of != Some(of.id) {
            self.end_shape();
            self.shape_of = Some(of.id);
        }
        let at = mark(of.id, self.shape_len);
        self.shape_len += 1;
        put(&mut self.shape, Some(name));
        put(&mut self.shape, Some(ty));
        self.shape.push(u8::from(value.is_some()));
        let stored =
            |value: Option<&str>| StoredLet { name: name.into(), ty: ty.into(), value: value.map(String::from) };
        if let (true, Some(v)) = (of.goal, value)
            && summed(ty)
        {
            self.scratch.clear();
            for part in [of.outcome, Some(name), Some(ty), Some(v)] {
                put(&mut self.scratch, part);
            }
            let outcome = of.outcome.map(String::from);
            self.goal_lets.entry(&self.scratch, at, || GoalLet { outcome, value: stored(value), calls: 0 }).calls += 1;
        }
        if of.connected {
            // A money let's values are summed over goal calls, never listed.
            let value = value.map(|v| if ty == "money" { "" } else { v });
            self.scratch.clear();
            for part in [Some(name), Some(ty), value] {
                put(&mut self.scratch, part);
            }
            self.captured.entry(&self.scratch, at, || (stored(value), 0)).1 += 1;
        }
    }

    /// Ends the shape of the attempt whose lets were read last.
    fn end_shape(&mut self) {
        let Some(id) = self.shape_of.take() else { return };
        let shape = std::mem::take(&mut self.shape);
        // A shape `decode_shape` cannot read never comes from `let_value`.
        self.shapes.entry(&shape, mark(id, 0), || (decode_shape(&shape).unwrap_or_default(), 0)).1 += 1;
        self.shape = shape;
        self.shape.clear();
        self.shape_len = 0;
    }

    /// Counts a call of an action, the `position`-th of attempt `id`.
    pub fn action(&mut self, id: i64, position: usize, name: &str, ok: bool, latency_ms: i64, cause: Option<&str>) {
        self.scratch.clear();
        encode_action(&mut self.scratch, name, ok, latency_ms, cause);
        let make = || (StoredAction { name: name.into(), ok, latency_ms, cause: cause.map(String::from) }, 0);
        self.actions.entry(&self.scratch, mark(id, position), make).1 += 1;
    }

    /// Counts `n` text messages of `status`, from the `position`-th of attempt `id`.
    pub fn messages(&mut self, id: i64, position: usize, status: &str, n: u64) {
        self.scratch.clear();
        put(&mut self.scratch, Some(status));
        self.messages.entry(&self.scratch, mark(id, position), || (status.into(), 0)).1 += n;
    }

    /// Counts an attempt as [`Store::each_attempt`](super::Store) reads it.
    pub fn row(&mut self, r: &AttemptRow) {
        self.attempt(r.id, &r.customer_id, &r.state, r.talk_ms, Happened::of(r), By::of(r));
        let of = LetsOf { id: r.id, goal: r.goal, outcome: r.outcome.as_deref(), connected: connected(&r.disposition) };
        for l in &r.lets {
            self.let_value(of, &l.name, &l.ty, l.value.as_deref());
        }
        for (position, a) in r.actions.iter().enumerate() {
            self.action(r.id, position, &a.name, a.ok, a.latency_ms, a.cause.as_deref());
        }
        for (position, m) in r.messages.iter().enumerate() {
            self.messages(r.id, position, &m.status, 1);
        }
    }

    /// Adds what `later` counted.
    pub fn merge(&mut self, mut later: Counter) {
        self.end_shape();
        later.end_shape();
        let endings = self.tallies.merge(later.tallies);
        let mut groups = later.groups;
        for (_, ending) in &mut groups.items {
            *ending = EndingAt(endings[ending.0 as usize] as u32);
        }
        self.groups.merge(groups, |(g, _), (more, _)| {
            g.attempts += more.attempts;
            g.talk_ms += more.talk_ms;
        });
        self.customers.extend(later.customers);
        self.customers_counted += later.customers_counted;
        self.unknown_states += later.unknown_states;
        self.shapes.merge(later.shapes, |s, (_, n)| s.1 += n);
        self.goal_lets.merge(later.goal_lets, |g, more| g.calls += more.calls);
        self.captured.merge(later.captured, |held, (_, n)| held.1 += n);
        self.actions.merge(later.actions, |a, (_, n)| a.1 += n);
        self.messages.merge(later.messages, |m, (_, n)| m.1 += n);
    }

    pub fn finish(mut self) -> AttemptCounts {
        self.end_shape();
        let first = |marks: &(Mark, Mark)| marks.0;
        AttemptCounts {
            groups: self.groups.ordered(first).into_iter().map(|(g, _)| g).collect(),
            tallies: self.tallies.finish(),
            customers: self.customers.len() as u64 + self.customers_counted,
            unknown_states: self.unknown_states,
            let_shapes: self.shapes.ordered(first).into_iter().map(|(shape, _)| shape).collect(),
            goal_lets: self.goal_lets.ordered(first),
            // The last call holding a value says the let's type.
            captured: self.captured.ordered(|&(first, last)| (last, first)),
            actions: self.actions.ordered(first),
            messages: self.messages.ordered(first),
        }
    }

    /// What this counter holds (its customers aside) as a store keeps it: each item with its
    /// key ([`Kept`]). Keys are encoded from the items, whatever encoding counted them.
    pub fn kept(&mut self) -> Vec<Kept> {
        self.end_shape();
        let mut kept = Vec::new();
        let mut item = |kind: Kind, key: Vec<u8>, count: u64, talk_ms: i64, (first, last): (Mark, Mark)| {
            kept.push(Kept { kind, key, count, talk_ms, first, last });
        };
        let mut key = Vec::new();
        for (_, (g, _), marks) in self.groups.keyed() {
            g.happened.view().encode(&mut key);
            item(Kind::Group, key.clone(), g.attempts, g.talk_ms, marks);
        }
        let Tallies { endings, values, counts, .. } = &self.tallies;
        for (b, (values, counts)) in values.iter().zip(counts).enumerate() {
            for (&(v, e), &n) in counts {
                key.clear();
                key.push(b as u8);
                values.items[v as usize].view().trimmed().encode(&mut key);
                endings.items[e as usize].view().encode(&mut key);
                item(Kind::Tally, key.clone(), n, 0, (0, 0));
            }
        }
        if self.unknown_states > 0 {
            item(Kind::UnknownStates, Vec::new(), self.unknown_states, 0, (0, 0));
        }
        for (_, (shape, n), marks) in self.shapes.keyed() {
            key.clear();
            for l in shape {
                put(&mut key, Some(l.name.as_str()));
                put(&mut key, Some(l.ty.as_str()));
                key.push(u8::from(l.value.is_some()));
            }
            item(Kind::Shape, key.clone(), *n, 0, marks);
        }
        for (_, g, marks) in self.goal_lets.keyed() {
            key.clear();
            for part in
                [g.outcome.as_deref(), Some(g.value.name.as_str()), Some(g.value.ty.as_str()), g.value.value.as_deref()]
            {
                put(&mut key, part);
            }
            item(Kind::GoalLet, key.clone(), g.calls, 0, marks);
        }
        for (_, (l, n), marks) in self.captured.keyed() {
            key.clear();
            for part in [Some(l.name.as_str()), Some(l.ty.as_str()), l.value.as_deref()] {
                put(&mut key, part);
            }
            item(Kind::Captured, key.clone(), *n, 0, marks);
        }
        for (_, (a, n), marks) in self.actions.keyed() {
            key.clear();
            encode_action(&mut key, &a.name, a.ok, a.latency_ms, a.cause.as_deref());
            item(Kind::Action, key.clone(), *n, 0, marks);
        }
        for (_, (status, n), marks) in self.messages.keyed() {
            key.clear();
            put(&mut key, Some(status.as_str()));
            item(Kind::Message, key.clone(), *n, 0, marks);
        }
        kept
    }

    /// A counter holding what [`Counter::kept`] gave (the rows of one key summed, their
    /// marks widened), or `None` when a key cannot be read (a store edited by hand).
    pub fn from_kept(kept: impl IntoIterator<Item = Kept>) -> Option<Counter> {
        let mut c = Counter::default();
        for k in kept {
            let at = |g: &mut (Mark, Mark)| *g = (g.0.min(k.first), g.1.max(k.last));
            let mut r = Reader(&k.key);
            match k.kind {
                Kind::Group => {
                    let happened = r.happened()?;
                    let ending = c.tallies.ending(&happened.view().ending(), &mut c.scratch_ending);
                    let make = || Ok::<_, Infallible>((AttemptGroup { happened, attempts: 0, talk_ms: 0 }, ending));
                    let Ok(place) = c.groups.place(&k.key, k.first, make);
                    let (g, _) = &mut c.groups.items[place];
                    g.attempts += k.count;
                    g.talk_ms += k.talk_ms;
                    at(&mut c.groups.marks[place]);
                }
                Kind::Tally => {
                    let breakdown = usize::from(r.byte()?);
                    let by = r.by(breakdown)?;
                    let value_key = k.key[1..k.key.len() - r.0.len()].to_vec();
                    let ending = r.ending()?;
                    if breakdown >= BREAKDOWNS || !r.0.is_empty() {
                        return None;
                    }
                    let ending = c.tallies.ending(&ending.view(), &mut c.scratch_ending);
                    let Ok(()) = c.tally_n(breakdown, &value_key, ending, k.count, || Ok::<_, Infallible>(by));
                }
                Kind::UnknownStates => c.unknown_states += k.count,
                Kind::Shape => {
                    let shape = decode_shape(&k.key)?;
                    let place = c.shapes.place(&k.key, k.first, || Ok::<_, Infallible>((shape, 0)));
                    let Ok(place) = place;
                    c.shapes.items[place].1 += k.count;
                    at(&mut c.shapes.marks[place]);
                }
                Kind::GoalLet => {
                    let (outcome, name, ty, value) = (r.text()?, r.text()??, r.text()??, r.text()?);
                    r.end()?;
                    let value = StoredLet { name, ty, value };
                    let Ok(place) = c
                        .goal_lets
                        .place(&k.key, k.first, || Ok::<_, Infallible>(GoalLet { outcome, value, calls: 0 }));
                    c.goal_lets.items[place].calls += k.count;
                    at(&mut c.goal_lets.marks[place]);
                }
                Kind::Captured => {
                    let (name, ty, value) = (r.text()??, r.text()??, r.text()?);
                    r.end()?;
                    let Ok(place) =
                        c.captured.place(&k.key, k.first, || Ok::<_, Infallible>((StoredLet { name, ty, value }, 0)));
                    c.captured.items[place].1 += k.count;
                    at(&mut c.captured.marks[place]);
                }
                Kind::Action => {
                    let (name, ok, latency_ms, cause) = (r.text()??, r.byte()? != 0, r.i64()?, r.text()?);
                    r.end()?;
                    let action = StoredAction { name, ok, latency_ms, cause };
                    let Ok(place) = c.actions.place(&k.key, k.first, || Ok::<_, Infallible>((action, 0)));
                    c.actions.items[place].1 += k.count;
                    at(&mut c.actions.marks[place]);
                }
                Kind::Message => {
                    let status = r.text()??;
                    r.end()?;
                    let Ok(place) = c.messages.place(&k.key, k.first, || Ok::<_, Infallible>((status, 0)));
                    c.messages.items[place].1 += k.count;
                    at(&mut c.messages.marks[place]);
                }
            }
        }
        Some(c)
    }
}

/// What a [`Kept`] item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A group of attempts in which the same happened: [`Happened::encode`], attempts, talk.
    Group,
    /// A breakdown's bucket of attempts that ended alike: the breakdown's place in
    /// [`By::of`] (a byte), [`By::encode`], [`Ending::encode`]; attempts.
    Tally,
    /// Attempts in a state this callscript does not know (no key).
    UnknownStates,
    /// A list of lets attempts ended with: each let's name, type and whether it held a value;
    /// attempts.
    Shape,
    /// A `money` or `date` let's value at the end of goal calls: outcome, name, type, value.
    GoalLet,
    /// A let's value over connected calls: name, type, value; its last mark orders it.
    Captured,
    /// Calls of an action that answered alike: name, ok, latency, cause.
    Action,
    /// Text messages of a status.
    Message,
}

impl Kind {
    /// Every kind, by its number as a store keeps it.
    pub const ALL: [Kind; 8] = [
        Kind::Group,
        Kind::Tally,
        Kind::UnknownStates,
        Kind::Shape,
        Kind::GoalLet,
        Kind::Captured,
        Kind::Action,
        Kind::Message,
    ];

    pub fn number(self) -> i64 {
        Kind::ALL.iter().position(|k| *k == self).expect("listed") as i64
    }

    pub fn of_number(n: i64) -> Option<Kind> {
        Kind::ALL.get(usize::try_from(n).ok()?).copied()
    }
}

/// One item of a [`Counter`] as a store keeps it between reports: what it is, its value
/// encoded (`put`'s length-prefixed texts, little-endian numbers), how many attempts or calls,
/// their talk time (groups), and the first and last marks it was counted at. Rows of one key
/// add up, so a store keeps a campaign's items by adding each batch's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Kept {
    pub kind: Kind,
    pub key: Vec<u8>,
    pub count: u64,
    pub talk_ms: i64,
    pub first: Mark,
    pub last: Mark,
}

/// An action's key.
fn encode_action(buf: &mut Vec<u8>, name: &str, ok: bool, latency_ms: i64, cause: Option<&str>) {
    put(buf, Some(name));
    buf.push(u8::from(ok));
    buf.extend(latency_ms.to_le_bytes());
    put(buf, cause);
}

/// Reads what `put` and the encoders wrote; `None` when the bytes end early or are not text.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(taken)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// An optional text as `put` wrote it: `Some(None)` for none.
    fn text(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0 => Some(None),
            1 => {
                let len = usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().ok()?)).ok()?;
                Some(Some(String::from_utf8(self.take(len)?.to_vec()).ok()?))
            }
            _ => None,
        }
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }

    fn happened(&mut self) -> Option<Happened> {
        let h = Happened {
            disposition: self.text()??,
            outcome: self.text()?,
            goal: self.byte()? != 0,
            cause: self.text()?,
            last_step: self.text()?,
            steps: self.text()??,
            objections: self.text()??,
            unrecognised: self.text()??,
            tags: self.text()??,
        };
        self.end()?;
        Some(h)
    }

    /// A value of the `breakdown`-th breakdown as [`By::encode`] wrote it.
    fn by(&mut self, breakdown: usize) -> Option<By> {
        Some(match breakdown {
            0 => By::Hour(self.i64()?),
            1 => By::Attempt(u32::from_le_bytes(self.take(4)?.try_into().ok()?)),
            2 => By::Day(self.text()??),
            3 => By::Segment(self.text()?),
            4 => By::Zone(self.text()?),
            5 => By::List(self.text()?),
            6 => By::Variant(self.text()?),
            _ => return None,
        })
    }

    fn ending(&mut self) -> Option<Ending> {
        let flags = self.byte()?;
        Some(Ending { connected: flags & 2 != 0, goal: flags & 1 != 0, outcome: self.text()? })
    }
}

/// The lets of an encoded shape (values are the empty text where one was held); `None` when
/// the bytes are not a shape.
fn decode_shape(bytes: &[u8]) -> Option<Vec<StoredLet>> {
    let mut r = Reader(bytes);
    let mut lets = Vec::new();
    while !r.0.is_empty() {
        let (name, ty) = (r.text()??, r.text()??);
        let value = (r.byte()? == 1).then(String::new);
        lets.push(StoredLet { name, ty, value });
    }
    Some(lets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportBuilder, json};

    /// The trait's default path (`Counter::row`), read in two halves merged as a store reads a
    /// large campaign, makes the report of each row; each figure is tallied once.
    #[test]
    fn tallied_rows_make_the_report_of_each_row() {
        let rows: Vec<AttemptRow> = (0..240usize)
            .map(|i| {
                let disposition = ["answered", "customer_hangup", "busy", "no_answer"][i % 4];
                let outcome = (i % 4 < 2).then(|| ["promised", "refused", "transfer_failed"][i % 3].to_string());
                AttemptRow {
                    id: i as i64,
                    customer_id: format!("c{}", i % 90),
                    attempt: 1 + (i % 3) as u32,
                    local_time: format!("2026-11-{:02}T{:02}:00:00+08:00", 20 + i % 5, 9 + i % 7),
                    local_hour: 9 + (i % 7) as i64,
                    disposition: disposition.into(),
                    cause: Some(["busy agents", "sip 486"][i % 2].into()),
                    goal: outcome.as_deref() == Some("promised"),
                    outcome,
                    talk_ms: (i * 1_000) as i64,
                    last_step: Some(["opening", "core.remind"][i % 2].into()),
                    steps: ["[\"opening\",\"core.remind\"]", "[\"opening\"]", "[]"][i % 3].into(),
                    objections: ["[]", "[\"busy\"]"][i % 2].into(),
                    unrecognised: "[]".into(),
                    tags: ["[]", "[\"hardship_plan\",\"hardship_plan\"]"][i % 2].into(),
                    state: "ended".into(),
                    segment: [None, Some("vip".to_string())][i % 2].clone(),
                    zone: Some(["Asia/Shanghai", "Europe/London"][i / 120].into()),
                    list: Some("customers.csv".into()),
                    variant: Some(["a", "b"][i % 2].into()),
                    ..AttemptRow::default()
                }
            })
            .collect();
        let mut one_by_one = ReportBuilder::default();
        rows.iter().for_each(|r| one_by_one.add(r));
        let (mut earlier, mut later) = (Counter::default(), Counter::default());
        rows[..100].iter().for_each(|r| earlier.row(r));
        rows[100..].iter().for_each(|r| later.row(r));
        earlier.merge(later);
        let counts = earlier.finish();
        let mut tallied = ReportBuilder::default();
        tallied.add_counts(&counts);
        assert_eq!(json(&one_by_one.finish("c", &[])), json(&tallied.finish("c", &[])));
        // 7 hours, 3 attempt numbers, 5 days, 2 segments, 2 zones, 1 list, 2 scripts.
        let values = 7 + 3 + 5 + 2 + 2 + 1 + 2;
        let endings = counts.tallies.iter().map(|t| &t.ending).collect::<Vec<_>>();
        let distinct = endings.iter().enumerate().filter(|(i, e)| !endings[..*i].contains(e)).count();
        assert!(counts.tallies.len() <= values * distinct, "{} tallies", counts.tallies.len());
        for (i, t) in counts.tallies.iter().enumerate() {
            assert!(!counts.tallies[..i].iter().any(|u| (&u.by, &u.ending) == (&t.by, &t.ending)), "{t:?} twice");
        }
    }
}
