//! The campaign scheduler: a discrete-event loop over one injected [`Clock`] (virtual for the
//! simulator, the wall clock for SIP) that places calls only when every rule of CAMPAIGN.md
//! §2–§3 allows it — window and days in the customer's zone, holidays, caps across campaigns,
//! do-not-call, `max_concurrent`, `calls_per_second` (never a burst), one retry budget per
//! customer — writes each attempt before dialling and resumes from the [`Store`] after a crash.
//!
//! The pieces: [`resume`] rebuilds the customers from the store; `Engine::admit` holds the
//! admission rules; `Engine::dispatch` and `Engine::place` the dialling; `Engine::call_ended`
//! the result persistence; [`policy::RetryPolicy`] the one next-attempt decision. One run per
//! store: the run holds the store's lease (heartbeat every few seconds) from start to end.

pub mod caps;
pub mod clock;
pub mod policy;
mod ready;
pub mod worker;
mod writes;

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::campaign::Campaign;
use crate::campaign::list::{CustomerList, Phone};
use crate::campaign::schedule::Window;
use crate::store::{Finished, LeaseHolder, Store, StoreError, StoredAction, StoredLet, StoredMessage};
use crate::telephony::{CallId, CallResult, DialRequest, Telephony};
use crate::vm::{CallContext, Executable, Session};

use caps::{Caps, Parked};
pub use clock::{Clock, Millis, PacedClock, SharedClock, VirtualClock, WallClock};
use policy::RetryPolicy;
use ready::ReadyQueue;

/// Everything a run needs, checked and loaded.
pub struct Plan {
    pub campaign_id: String,
    pub settings: Campaign,
    /// The scripts that share the customers: one, or several in an A/B campaign (in the
    /// campaign's order, shares adding up to 100). Never empty.
    pub variants: Vec<Variant>,
    /// Customers after the segment filter.
    pub customers: CustomerList,
    /// `[allow]` entries as JSON, stored with every attempt they cover.
    pub allowed: String,
    /// The customer list's file name, stored with every attempt (the report's breakdown by list).
    pub list: String,
}

impl Plan {
    /// The script that calls this customer: [`assign`] over the variants' shares, so the same
    /// in every run, resume and worker.
    pub fn variant_of(&self, customer_id: &str) -> &Variant {
        &self.variants[self.variant_index(customer_id)]
    }

    /// [`Plan::variant_of`] as an index into the variants.
    pub fn variant_index(&self, customer_id: &str) -> usize {
        if self.variants.len() < 2 {
            return 0;
        }
        let shares: Vec<u32> = self.variants.iter().map(|v| v.share).collect();
        assign(&self.campaign_id, customer_id, &shares)
    }

    /// The campaign's content hash, stored with it (a resume whose hash changed asks for
    /// `--accept-new-script`): its one script's hash, or, for an A/B campaign, SHA-256 over each
    /// variant's name, share and hash (a changed split moves customers, so it counts too).
    pub fn script_sha256(&self) -> String {
        match self.variants.as_slice() {
            [only] => only.script_sha256.clone(),
            several => {
                use sha2::Digest;
                let mut hasher = sha2::Sha256::new();
                for v in several {
                    hasher.update(format!("{}\0{}\0{}\n", v.script, v.share, v.script_sha256));
                }
                hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
            }
        }
    }

    /// The scripts' names as stored with the campaign: `a` or `a, b`.
    pub fn script_names(&self) -> String {
        self.variants.iter().map(|v| v.script.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl crate::store::queue::Scripts for Plan {
    fn script_of(&self, customer_id: &str) -> (&str, &str) {
        let v = self.variant_of(customer_id);
        (&v.script, &v.script_sha256)
    }
}

/// One script of a plan. Each attempt stores its variant's script name (`variant`) and hash.
pub struct Variant {
    pub exec: Arc<Executable>,
    /// The script's name in its program.
    pub script: String,
    /// A campaign of one script: SHA-256 over its program's sources
    /// ([`Program::sources_sha256`](callscript_compiler::bytecode::Program::sources_sha256)),
    /// as always. A variant of an A/B campaign: over its own file and imports only
    /// ([`Program::own_sources_sha256`](callscript_compiler::bytecode::Program::own_sources_sha256)).
    pub script_sha256: String,
    /// Percent of the customers it calls, 1–100.
    pub share: u32,
}

impl Variant {
    /// The only script of a campaign: every customer, the program's sources hash.
    pub fn only(exec: Arc<Executable>, script: impl Into<String>) -> Variant {
        let script_sha256 = exec.program.sources_sha256();
        Variant { exec, script: script.into(), script_sha256, share: 100 }
    }

    /// One of several scripts sharing the customers, with `share` percent of them.
    pub fn shared(exec: Arc<Executable>, script: impl Into<String>, share: u32) -> Variant {
        let script_sha256 = exec.program.own_sources_sha256();
        Variant { exec, script: script.into(), script_sha256, share }
    }
}

/// Which of `shares` (percentages adding up to 100) a customer falls in: the first 8 bytes of
/// SHA-256 over the campaign id and the customer id, as a number, modulo 100, against the
/// running total of the shares. Stable: the same customer takes the same script in every run,
/// resume and worker, whatever the list's order; across campaigns the draws are independent.
pub fn assign(campaign_id: &str, customer_id: &str, shares: &[u32]) -> usize {
    use sha2::Digest;
    if shares.len() < 2 {
        return 0;
    }
    let mut hasher = sha2::Sha256::new();
    hasher.update((campaign_id.len() as u64).to_le_bytes());
    hasher.update(campaign_id.as_bytes());
    hasher.update(customer_id.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let point = (u64::from_be_bytes(first) % 100) as u32;
    let mut total = 0;
    for (i, share) in shares.iter().enumerate() {
        total += share;
        if point < total {
            return i;
        }
    }
    shares.len() - 1
}

/// Why nothing is being placed for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// Outside the call window (or its days) in the customers' zones.
    Window,
    /// Every open customer waits for a retry backoff, a callback or a cap.
    Retry,
}

/// Nothing can be placed before `until_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub until_ms: Millis,
    pub reason: WaitReason,
}

/// Counters shown while a campaign runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub customers: usize,
    pub placed: u64,
    pub live: u64,
    pub answered: u64,
    pub ended: u64,
    pub clock_ms: i64,
    /// Set while no call is live and the next one cannot start before a later moment.
    pub waiting: Option<Waiting>,
}

/// How a run ended.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub progress: Progress,
    /// Attempts found live from an earlier, interrupted run (now `failed`/`interrupted`).
    pub recovered: usize,
    /// Stopped by the operator before every customer was done.
    pub stopped: bool,
    /// Every customer is done (budget used, converted, or out of options).
    pub finished: bool,
}

pub struct RunOptions<'a> {
    /// The scheduler's time: [`VirtualClock`] (as fast as possible), [`PacedClock`]
    /// (`--speed`) or [`WallClock`] (real telephony). A virtual clock given the campaign's
    /// first moment continues from the stored clock on a resumed run.
    pub clock: &'a mut dyn Clock,
    pub stop: Arc<AtomicBool>,
    pub on_progress: Option<&'a mut dyn FnMut(&Progress)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the script changed since this campaign started (stored sha256 {}…, now {}…); pass --accept-new-script to resume with the new one",
        &stored[..12.min(stored.len())],
        &now[..12.min(now.len())]
    )]
    ScriptChanged { stored: String, now: String },
    #[error(transparent)]
    Join(#[from] worker::JoinError),
    /// The store's writer thread stopped (its error is the run's).
    #[error("the store's writer stopped")]
    WriterStopped,
}

/// The longest the loop sleeps at once, so a stop request is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(200);
/// How long a run's lease lasts without a heartbeat, and how often it beats.
const LEASE_TTL_MS: i64 = 30_000;
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Batched stores (virtual time) commit about this often: a crash loses at most this much
/// simulated work (the campaign resumes from the last commit), and fewer, larger
/// transactions write each page of the store fewer times.
const BATCH_COMMIT_EVERY: Duration = Duration::from_secs(1);
/// Events between looks at the wall clock for [`BATCH_COMMIT_EVERY`].
const EVENTS_PER_CLOCK_LOOK: u32 = 1_000;
/// The progress callback is called at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);
/// Events between looks at the wall clock for the progress line (a waiting loop reports at
/// every wait).
const EVENTS_PER_PROGRESS_LOOK: u32 = 32;
/// A wait shorter than this is not announced.
const ANNOUNCE_WAITS_OVER_MS: i64 = 60_000;

/// Runs (or resumes) a campaign until every customer is done, or the operator stops it. The
/// store's run lease is taken first (a second run on a busy store is refused, naming the
/// holder) and given back at the end.
pub fn run(
    plan: &Plan,
    store: &mut (dyn Store + Send),
    telephony: &mut dyn Telephony,
    accept_new_script: bool,
    opts: RunOptions,
) -> Result<Summary, RunError> {
    let wall = || Timestamp::now().as_millisecond();
    let holder = LeaseHolder::this_process(&plan.campaign_id, wall(), LEASE_TTL_MS);
    store.acquire_lease(&holder)?;
    let result = run_leased(plan, store, telephony, accept_new_script, opts, &holder);
    // Given back even when the run failed; a failure to give it back only matters when the
    // run itself succeeded (the lease then expires by itself).
    let released = store.release_lease(&holder);
    let summary = result?;
    released?;
    Ok(summary)
}

fn run_leased(
    plan: &Plan,
    store: &mut (dyn Store + Send),
    telephony: &mut dyn Telephony,
    accept_new_script: bool,
    mut opts: RunOptions,
    holder: &LeaseHolder,
) -> Result<Summary, RunError> {
    let (mut engine, recovered) = resume(plan, store, opts.clock, accept_new_script)?;
    // Calls that leave the process (SIP) need each attempt durable before the dial and each
    // result durable as soon as the call ends; simulated ones are batched, and written by a
    // thread of their own.
    engine.durable = telephony.needs_durable_dial();
    store.begin()?;
    if engine.durable {
        let mut writes = writes::Writes::Direct(writes::Writer::new(plan, store, holder));
        return run_loop(&mut engine, &mut writes, telephony, &mut opts, recovered);
    }
    std::thread::scope(|scope| {
        let (queue, written) = std::sync::mpsc::sync_channel(writes::QUEUE);
        let writer = writes::Writer::new(plan, store, holder);
        let writer = scope.spawn(move || writes::write_behind(writer, written));
        let mut writes = writes::Writes::Behind { queue, batch: Vec::new(), next_ticket: 1 };
        let summary = run_loop(&mut engine, &mut writes, telephony, &mut opts, recovered);
        drop(writes);
        let written = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The writer's own error explains a loop that stopped because the writer did.
        written?;
        summary
    })
}

fn run_loop(
    engine: &mut Engine,
    writes: &mut writes::Writes,
    telephony: &mut dyn Telephony,
    opts: &mut RunOptions,
    recovered: usize,
) -> Result<Summary, RunError> {
    let plan = engine.plan;
    let clock = &mut *opts.clock;
    let mut progress = Progress { customers: plan.customers.len(), clock_ms: clock.now(), ..Progress::default() };
    let mut stopping = false;
    let mut since_commit = 0u32;
    let mut last_commit = Instant::now();
    // The first progress report comes with the first events, not 50 ms in.
    let mut last_report = Instant::now().checked_sub(PROGRESS_EVERY).unwrap_or_else(Instant::now);
    let mut last_beat = Instant::now();
    let mut passes = 0u32;

    loop {
        if !stopping && opts.stop.load(Ordering::Relaxed) {
            stopping = true;
            engine.stop();
        }
        // Collect calls that ended meanwhile, without waiting.
        telephony.poll();
        // The wall clock is looked at for the heartbeat on every pass when calls are real (a
        // pass can wait long), on every 16th otherwise (a pass waits at most MAX_WAIT: 3.2 s
        // at most between looks, well inside the lease).
        passes = passes.wrapping_add(1);
        if (engine.durable || passes.is_multiple_of(16)) && last_beat.elapsed() >= HEARTBEAT {
            last_beat = Instant::now();
            writes.checkpoint(clock.now(), true)?;
        }
        let next = engine.next_event(telephony, clock.now(), progress.live);
        let Some((t, event)) = next else {
            if telephony.live() > 0 {
                // Real calls are still on: their ends are not known in advance.
                telephony.wait(MAX_WAIT);
                continue;
            }
            break;
        };
        let wait = clock.until(t);
        if !wait.is_zero() {
            progress.waiting = engine.waiting(t, event, clock.now(), progress.live);
            report(&mut opts.on_progress, &mut progress, clock.now(), &mut last_report);
            telephony.wait(wait.min(MAX_WAIT));
            continue;
        }
        clock.reach(t);
        let now = clock.now();
        progress.waiting = None;
        match event {
            Event::CallEnd => {
                if let Some((_, call, result)) = telephony.pop_end() {
                    engine.call_ended(call, result, now, stopping, writes, &mut progress)?;
                }
            }
            Event::Dispatch => engine.dispatch(now, writes, telephony, &mut progress)?,
            Event::Ready => engine.ready_due(now),
        }
        since_commit += 1;
        if since_commit >= EVENTS_PER_CLOCK_LOOK {
            since_commit = 0;
            if last_commit.elapsed() >= BATCH_COMMIT_EVERY {
                last_commit = Instant::now();
                writes.checkpoint(now, false)?;
            }
        }
        // The progress line's own wall-clock look (every 50 ms) costs more than an event.
        if since_commit.is_multiple_of(EVENTS_PER_PROGRESS_LOOK) {
            report(&mut opts.on_progress, &mut progress, now, &mut last_report);
        }
    }
    let finished = !stopping && engine.states.iter().all(|s| s.done);
    progress.clock_ms = clock.now();
    progress.waiting = None;
    writes.close(progress.clock_ms, finished)?;
    if let Some(cb) = opts.on_progress.as_mut() {
        cb(&progress);
    }
    Ok(Summary { progress, recovered, stopped: stopping, finished })
}

/// Calls the progress callback at most every [`PROGRESS_EVERY`].
fn report(
    on_progress: &mut Option<&mut dyn FnMut(&Progress)>,
    progress: &mut Progress,
    now: Millis,
    last: &mut Instant,
) {
    if let Some(cb) = on_progress.as_mut()
        && last.elapsed() >= PROGRESS_EVERY
    {
        *last = Instant::now();
        progress.clock_ms = now;
        cb(progress);
    }
}

/// Resume: the stored clock and hash, live attempts of a crash (interrupted), the caps and
/// the do-not-call list, and each customer's attempts so far through the one retry policy.
fn resume<'p>(
    plan: &'p Plan,
    store: &mut dyn Store,
    clock: &mut dyn Clock,
    accept_new_script: bool,
) -> Result<(Engine<'p>, usize), RunError> {
    let c = &plan.settings;
    if let Some(stored) = store.campaign(&plan.campaign_id)? {
        if stored.script_sha256 != plan.script_sha256() && !accept_new_script {
            return Err(RunError::ScriptChanged { stored: stored.script_sha256, now: plan.script_sha256() });
        }
        clock.resume_from(stored.clock_ms);
    }
    let now = clock.now();
    // The campaign's settings as run, kept with it for audit.
    let settings_json = crate::campaign::audit_json(&plan.settings);
    store.save_campaign(&plan.campaign_id, &plan.script_sha256(), &plan.script_names(), now, &settings_json)?;
    let recovered = store.interrupt_live(&plan.campaign_id)?;

    let (calls_per_second, max_concurrent) = line_limits(c);
    let customers = &plan.customers;
    // The list's zones by its indexes; 0, no zone given, is the campaign's.
    let zones: Vec<TimeZone> = std::iter::once(c.schedule.timezone.clone())
        .chain(customers.zone_names().map(|name| TimeZone::get(name).unwrap_or(TimeZone::UTC)))
        .collect();
    let dnc = store.dnc()?.iter().filter_map(|p| Phone::parse(p)).collect();
    let mut engine = Engine {
        plan,
        window: Window::from_schedule(&c.schedule),
        next_starts: (0..zones.len()).map(|_| Cell::new(None)).collect(),
        zones,
        states: vec![CustomerState::default(); customers.len()],
        caps: Caps::for_phones(customers.phones()),
        parked: Parked::default(),
        dnc,
        ready: ReadyQueue::default(),
        eligible: VecDeque::new(),
        live: FxHashMap::default(),
        next_call: 1,
        next_token: i64::MIN,
        interval_ms: (1000.0 / calls_per_second).ceil().max(1.0) as i64,
        max_concurrent,
        policy: RetryPolicy::from_campaign(c),
        durable: false,
    };
    for (phone, date, n) in store.placed_by_phone_and_date()? {
        if let (Some(phone), Ok(d)) = (Phone::parse(&phone), date.parse::<Date>()) {
            engine.caps.add_phone(phone, d, n);
        }
    }
    // A resumed campaign: each customer's attempts so far, and when the next one is due.
    let past = store.past_attempts(&plan.campaign_id)?;
    let mut next_at: HashMap<usize, Millis> = HashMap::new();
    if !past.is_empty() {
        let by_id: HashMap<&str, usize> = (0..customers.len()).map(|i| (customers.id(i), i)).collect();
        for past in &past {
            let Some(&i) = by_id.get(past.customer_id.as_str()) else { continue };
            let s = &mut engine.states[i];
            s.attempts = s.attempts.max(past.attempt);
            match engine.policy.next_attempt(s.attempts, &past.disposition, past.callback_ms, past.ended_ms) {
                Some(at) => {
                    s.done = false;
                    next_at.insert(i, at);
                }
                None => s.done = true,
            }
        }
    }
    drop(past);
    for i in 0..engine.states.len() {
        let s = &mut engine.states[i];
        s.done |= s.attempts >= engine.policy.max_attempts;
        if !s.done {
            let at = next_at.get(&i).map_or(now, |&at| at.max(now));
            engine.push(at, Item::Customer(i as u32));
        }
    }
    Ok((engine, recovered))
}

/// The campaign's `calls_per_second` and `max_concurrent`: the trunk's own limits (SIP)
/// tighten the schedule's, never loosen them.
fn line_limits(c: &Campaign) -> (f64, u64) {
    let calls_per_second =
        c.telephony.calls_per_second.map_or(c.schedule.calls_per_second, |t| t.min(c.schedule.calls_per_second));
    let max_concurrent =
        c.telephony.max_concurrent.map_or(c.schedule.max_concurrent, |t| t.min(c.schedule.max_concurrent));
    (calls_per_second, u64::from(max_concurrent))
}

/// What the scheduler knows of a customer between events: 8 bytes (its zone, phone and
/// inputs are in the list).
#[derive(Clone, Copy, Default)]
struct CustomerState {
    attempts: u32,
    done: bool,
    live: bool,
}

struct Live {
    customer: usize,
    row: writes::AttemptRow,
}

/// A window start as `admit` keeps it: (local date, start, latest start passed over).
type NextStart = Option<(Date, Timestamp, Option<Timestamp>)>;

/// What waits in the ready queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    /// A customer to check against the rules.
    Customer(u32),
    /// A customer held back only by the call window (told apart for the waiting notice).
    WindowOpens(u32),
    /// The wake-up of the capped phone of this customer (the first of its queue).
    Phone(u32),
}

/// The next thing the loop does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    CallEnd,
    Dispatch,
    Ready,
}

/// Whether a customer may be called now, later, or never.
enum Admit {
    Now,
    /// Outside the window or its days: from this moment.
    Window(Millis),
    /// The phone's caps are reached for its local day: park it.
    Capped,
    Never,
}

/// The scheduler's state between events.
struct Engine<'p> {
    plan: &'p Plan,
    window: Window,
    zones: Vec<TimeZone>,
    /// Per zone (as `zones`): the last window start `admit` found from outside the window, for
    /// the local date it was asked on, with the latest start it passed over.
    next_starts: Vec<Cell<NextStart>>,
    states: Vec<CustomerState>,
    caps: Caps,
    parked: Parked,
    dnc: FxHashSet<Phone>,
    ready: ReadyQueue<Item>,
    /// Customers every rule allows, waiting for a line and a token, first come first served.
    eligible: VecDeque<usize>,
    live: FxHashMap<CallId, Live>,
    next_call: CallId,
    next_token: Millis,
    interval_ms: i64,
    max_concurrent: u64,
    policy: RetryPolicy,
    /// Commit every attempt before its dial and every result when its call ends.
    durable: bool,
}

impl Engine<'_> {
    fn push(&mut self, at: Millis, item: Item) {
        self.ready.push(at, item);
    }

    /// Stopping: nothing new is placed; live calls finish.
    fn stop(&mut self) {
        self.ready.clear();
        self.eligible.clear();
        self.parked.clear();
    }

    /// The earliest of: a known call end, a dispatch (a customer cleared, a line and a token
    /// free), a customer or phone falling due.
    fn next_event(&self, telephony: &dyn Telephony, now: Millis, live: u64) -> Option<(Millis, Event)> {
        let end = telephony.next_end().map(|t| (t, Event::CallEnd));
        // Customers cleared to call wait for a line and a token; one timer, not one per customer.
        let dispatch = (!self.eligible.is_empty() && live < self.max_concurrent)
            .then(|| (self.next_token.max(now), Event::Dispatch));
        let ready = self.ready.peek().map(|(t, _)| (t, Event::Ready));
        // Ties: ends first (a line frees), then dispatch, then the ready queue.
        [end, dispatch, ready].into_iter().flatten().min_by_key(|(t, _)| *t)
    }

    /// What the run waits for when the next event is at `t`, in the future, and no call is on.
    fn waiting(&self, t: Millis, event: Event, now: Millis, live: u64) -> Option<Waiting> {
        if live > 0 || event != Event::Ready || t - now < ANNOUNCE_WAITS_OVER_MS {
            return None;
        }
        let reason = match self.ready.peek() {
            Some((_, Item::WindowOpens(_))) => WaitReason::Window,
            _ => WaitReason::Retry,
        };
        let waiting = Waiting { until_ms: t, reason };
        let at = Timestamp::from_millisecond(t).map(|t| t.to_string()).unwrap_or_default();
        match reason {
            WaitReason::Window => tracing::info!(opens = %at, "outside the call window; it opens next at {at}"),
            WaitReason::Retry => tracing::info!(next = %at, "every open customer waits; the next call is due at {at}"),
        }
        Some(waiting)
    }

    /// The head of the ready queue fell due.
    fn ready_due(&mut self, now: Millis) {
        let Some((_, item)) = self.ready.pop() else { return };
        match item {
            Item::Customer(i) | Item::WindowOpens(i) => {
                let admit = self.admit(i as usize, now);
                self.file(i as usize, now, admit);
            }
            Item::Phone(i) => self.wake_phone(i as usize, now),
        }
    }

    /// Files customer `i` where the admission rules sent it.
    fn file(&mut self, i: usize, now: Millis, admit: Admit) {
        match admit {
            Admit::Now => self.eligible.push_back(i),
            Admit::Window(at) => self.push(at, Item::WindowOpens(i as u32)),
            Admit::Capped => self.park(i, now),
            Admit::Never => self.states[i].done = true,
        }
    }

    /// A capped customer waits in its phone's queue; the phone wakes once, at the start of
    /// its next allowed local day.
    fn park(&mut self, i: usize, now: Millis) {
        let phone = self.plan.customers.phone(i);
        if self.parked.park(phone, i) {
            self.wake_phone_later(i, now);
        }
    }

    fn wake_phone_later(&mut self, i: usize, now: Millis) {
        let tz = self.zone(i);
        let now = Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH);
        match self.window.next_day_start(now, tz) {
            Some(t) => self.push(t.as_millisecond(), Item::Phone(i as u32)),
            // No allowed day ahead: everyone waiting on this phone is done.
            None => {
                let (waiting, _) = self.parked.release(self.plan.customers.phone(i), usize::MAX);
                for w in waiting {
                    self.states[w].done = true;
                }
            }
        }
    }

    /// A capped phone's day came: release as many of its customers as the caps have room
    /// for today; the rest wait for the next day.
    fn wake_phone(&mut self, i: usize, now: Millis) {
        let plan = self.plan;
        let phone = plan.customers.phone(i);
        let limits = &plan.settings.limits;
        let date = self.local_date(i, now);
        let room = self.caps.room(i, date, limits.per_customer_per_day, limits.per_customer_per_7_days);
        let (released, next) = self.parked.release(phone, room as usize);
        for c in released {
            self.push(now, Item::Customer(c as u32));
        }
        if let Some(first) = next {
            self.wake_phone_later(first, now);
        }
    }

    /// The customer's time zone: the list's, or the campaign's.
    fn zone(&self, i: usize) -> &TimeZone {
        &self.zones[usize::from(self.plan.customers.zone_index(i))]
    }

    fn local_date(&self, i: usize, at: Millis) -> Date {
        let tz = self.zone(i);
        Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(tz.clone()).date()
    }

    /// The customer-level rules at `now`: budget, do-not-call, window, days, holidays and
    /// caps (in the customer's zone).
    fn admit(&self, i: usize, now: Millis) -> Admit {
        let phone = self.plan.customers.phone(i);
        let s = &self.states[i];
        if s.done || s.live || self.dnc.contains(&phone) || s.attempts >= self.policy.max_attempts {
            return Admit::Never;
        }
        let limits = &self.plan.settings.limits;
        let tz = self.zone(i);
        let at = Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH);
        // Inside the window (most customers, most of the time): one conversion to local time.
        let local = tz.to_datetime(at);
        if !self.window.allows_local(local) {
            // The customers a window's close or opening re-files share their zone's answer
            // for the day (exact: the same days passed over, all before `at`).
            let date = local.date();
            let memo = &self.next_starts[usize::from(self.plan.customers.zone_index(i))];
            let start = match memo.get() {
                Some((d, start, passed)) if d == date && start >= at && passed.is_none_or(|p| p < at) => start,
                _ => {
                    let Some((start, passed)) = self.window.next_start_outside(date, at, tz) else {
                        return Admit::Never;
                    };
                    memo.set(Some((date, start, passed)));
                    start
                }
            };
            if start > at {
                return Admit::Window(start.as_millisecond());
            }
        }
        let date = local.date();
        if self.caps.room(i, date, limits.per_customer_per_day, limits.per_customer_per_7_days) == 0 {
            return Admit::Capped;
        }
        Admit::Now
    }

    /// Places the first eligible customer that every rule still allows now.
    fn dispatch(
        &mut self,
        now: Millis,
        writes: &mut writes::Writes,
        telephony: &mut dyn Telephony,
        progress: &mut Progress,
    ) -> Result<(), RunError> {
        while let Some(i) = self.eligible.pop_front() {
            match self.admit(i, now) {
                Admit::Now => return self.place(i, now, writes, telephony, progress),
                other => self.file(i, now, other),
            }
        }
        Ok(())
    }

    /// Places a call: the attempt is in the store before the dial.
    fn place(
        &mut self,
        i: usize,
        now: Millis,
        writes: &mut writes::Writes,
        telephony: &mut dyn Telephony,
        progress: &mut Progress,
    ) -> Result<(), RunError> {
        let plan = self.plan;
        let customers = &plan.customers;
        let id = customers.id(i);
        let variant_index = plan.variant_index(id);
        let variant = &plan.variants[variant_index];
        let local =
            Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(self.zone(i).clone());
        let date = local.date();
        let hour = local.hour() as i64;
        self.next_token = now + self.interval_ms;
        let s = &mut self.states[i];
        s.attempts += 1;
        let attempt = s.attempts;
        let start = writes::AttemptStart { customer: i, attempt, started_ms: now, local, variant: variant_index };
        let row = writes.begin_attempt(start)?;
        self.caps.add(i, date, 1);
        if self.durable {
            writes.checkpoint(now, false)?;
        }
        // §11's `today` is the customer's local date.
        let today = crate::vm::today_of(date);
        let context = CallContext { attempt: attempt as i64, hour, today };
        let session = match Session::start(Arc::clone(&variant.exec), &variant.script, customers.inputs(i), context) {
            Ok(mut session) => {
                session.fix_guards(customers.fixed_guards(variant_index, i));
                session
            }
            Err(e) => {
                writes.write(writes::Write::CouldNotStart { row, cause: e.to_string(), now })?;
                self.states[i].done = true;
                return Ok(());
            }
        };
        self.states[i].live = true;
        let call = self.next_call;
        self.next_call += 1;
        self.live.insert(call, Live { customer: i, row });
        progress.placed += 1;
        progress.live += 1;
        let max_duration_ms = variant.exec.program.script(&variant.script).and_then(|x| x.max_duration_ms);
        let request = DialRequest {
            phone: customers.phone(i).to_string(),
            attempt_row: row.number(),
            customer_id: id.to_string(),
            attempt,
            session,
            max_duration_ms,
        };
        telephony.dial(now, call, request);
        Ok(())
    }

    /// A call ended: its result goes to the store (committed at once when calls are real, so
    /// a crash after the call can neither lose it nor dial the customer again for it), and
    /// the retry policy decides the customer's next attempt.
    fn call_ended(
        &mut self,
        call: CallId,
        result: CallResult,
        now: Millis,
        stopping: bool,
        writes: &mut writes::Writes,
        progress: &mut Progress,
    ) -> Result<(), RunError> {
        let Some(l) = self.live.remove(&call) else { return Ok(()) };
        let plan = self.plan;
        let phone = plan.customers.phone(l.customer);
        let callback = callback_delay(&result, self.zone(l.customer), now);
        let (optout, connected) = (result.optout, result.disposition.connected());
        let disposition = result.disposition;
        let mut result = result;
        let recording = result.recording.take();
        let end = Box::new(finished(result, callback, now));
        writes.write(writes::Write::Finish { row: l.row, end, recording })?;
        if optout && self.dnc.insert(phone) {
            writes.write(writes::Write::Dnc { phone: phone.to_string(), now })?;
        }
        if self.durable {
            writes.checkpoint(now, false)?;
        }
        progress.live -= 1;
        progress.ended += 1;
        if connected {
            progress.answered += 1;
        }
        let s = &mut self.states[l.customer];
        s.live = false;
        match self.policy.next_attempt(s.attempts, disposition.name(), callback, now) {
            // Stopping: the customer stays open in the store for the next run.
            Some(_) if stopping => {}
            Some(at) => self.push(at, Item::Customer(l.customer as u32)),
            None => s.done = true,
        }
        Ok(())
    }
}

/// A local moment as the store keeps it: `2026-11-24T10:00:00+08:00` (`%Y-%m-%dT%H:%M:%S%:z`),
/// written digit by digit for the years and offsets campaigns see (jiff's `strftime` showed
/// in a 1M-call profile); others through `strftime`.
pub fn local_time_text(local: &jiff::ZonedDateTime) -> String {
    let offset = local.offset().seconds();
    if !(0..=9999).contains(&local.year()) || offset % 60 != 0 || offset.abs() >= 100 * 3600 {
        return local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    }
    let mut text = [0u8; 25];
    let mut put = |at: usize, value: u32, digits: u32| {
        for k in 0..digits {
            text[at + k as usize] = b'0' + (value / 10u32.pow(digits - 1 - k) % 10) as u8;
        }
    };
    put(0, local.year() as u32, 4);
    put(5, local.month() as u32, 2);
    put(8, local.day() as u32, 2);
    put(11, local.hour() as u32, 2);
    put(14, local.minute() as u32, 2);
    put(17, local.second() as u32, 2);
    let minutes = offset.unsigned_abs() / 60;
    put(20, minutes / 60, 2);
    put(23, minutes % 60, 2);
    for (at, c) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (22, b':')] {
        text[at] = c;
    }
    text[19] = if offset < 0 { b'-' } else { b'+' };
    String::from_utf8_lossy(&text).into_owned()
}

/// How long after the call its callback is due: `callback in D`, or `callback at`/`callback on`
/// (§12) placed at that day and time in the customer's zone. A time alone is its next
/// occurrence (today if still ahead, else tomorrow), a day alone its start, a moment already
/// past is now; the window, the caps and do-not-call may push the attempt later, as always.
fn callback_delay(result: &CallResult, tz: &TimeZone, now: Millis) -> Option<i64> {
    let Some((day, clock)) = result.callback_at else {
        return result.callback_ms.map(|c| c.min(i64::MAX as u64) as i64);
    };
    let local = Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(tz.clone());
    let clock = clock.map_or(jiff::civil::Time::midnight(), |t| {
        jiff::civil::Time::new(t.hour as i8, t.minute as i8, 0, 0).unwrap_or(jiff::civil::Time::midnight())
    });
    let due = |date: Date| -> Option<i64> {
        let at = date.to_datetime(clock).to_zoned_datetime(tz.clone()).ok()?;
        Some(at.timestamp().as_millisecond())
    };
    let at = match day {
        Some(d) => due(Date::new(d.year as i16, d.month as i8, d.day as i8).ok()?)?,
        None => {
            let today = due(local.date())?;
            if today > now { today } else { due(local.date().tomorrow().ok()?)? }
        }
    };
    Some(at.saturating_sub(now).max(0))
}

/// A call's result as the store keeps it; `callback` is the delay [`callback_delay`] gave.
/// A call's result as the store keeps it (its texts moved, not copied).
fn finished(result: CallResult, callback: Option<i64>, now: Millis) -> Finished {
    let json = crate::telephony::strings_json;
    Finished {
        disposition: result.disposition.name().to_string(),
        goal: result.goal,
        ended_ms: now,
        talk_ms: result.talk_ms as i64,
        steps: json(&result.steps),
        tags: json(&result.tags),
        objections: json(&result.objections),
        unrecognised: json(&result.unrecognised),
        transcript: crate::telephony::transcript_json(&result.transcript),
        callback_ms: callback,
        lets: result
            .lets
            .into_iter()
            .map(|l| StoredLet { name: l.name, ty: l.ty.name().to_string(), value: l.value })
            .collect(),
        actions: result
            .actions
            .into_iter()
            .map(|a| StoredAction { name: a.name, ok: a.ok, latency_ms: a.latency_ms as i64, cause: a.cause })
            .collect(),
        messages: result
            .messages
            .into_iter()
            .map(|m| StoredMessage {
                status: m.delivery.name().to_string(),
                cause: m.delivery.cause().map(str::to_string),
                text: m.text,
            })
            .collect(),
        cause: result.cause,
        outcome: result.outcome,
        last_step: result.last_step,
        handover: result.handover,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscript_compiler::value::{Date as Day, Time as Clock};

    /// The store's local time is what `strftime` writes, in every zone and year, offsets with
    /// seconds (local mean time before 1901) and years outside four digits included.
    #[test]
    fn local_time_text_is_strftime() {
        let zones =
            ["Asia/Shanghai", "America/St_Johns", "Asia/Kathmandu", "America/Los_Angeles", "UTC", "Africa/Monrovia"];
        let mut ms: i64 = -62_000_000_000_000;
        while ms < 253_000_000_000_000 {
            for zone in zones {
                let local = Timestamp::from_millisecond(ms).unwrap().to_zoned_datetime(TimeZone::get(zone).unwrap());
                assert_eq!(local_time_text(&local), local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(), "{ms} {zone}");
            }
            ms += 7_777_777_777;
        }
    }

    /// 2026-11-24 10:00 in Shanghai (UTC+8).
    const NOW: Millis = 1_795_485_600_000;
    const HOUR: i64 = 3_600_000;

    fn delay(day: Option<Day>, clock: Option<Clock>) -> Option<i64> {
        let result = CallResult { callback_at: Some((day, clock)), ..CallResult::default() };
        callback_delay(&result, &TimeZone::get("Asia/Shanghai").unwrap(), NOW)
    }

    #[test]
    fn a_callback_at_a_time_is_its_next_occurrence_in_the_customers_zone() {
        assert_eq!(delay(None, Clock::new(15, 30)), Some(5 * HOUR + HOUR / 2), "today, still ahead");
        assert_eq!(delay(None, Clock::new(9, 0)), Some(23 * HOUR), "passed today: tomorrow");
        assert_eq!(delay(Day::new(2026, 11, 25), Clock::new(10, 0)), Some(24 * HOUR));
        assert_eq!(delay(Day::new(2026, 11, 26), None), Some(38 * HOUR), "a day alone: its start");
        assert_eq!(delay(Day::new(2026, 11, 20), Clock::new(10, 0)), Some(0), "past: now");
        let later = CallResult { callback_ms: Some(7_200_000), ..CallResult::default() };
        assert_eq!(callback_delay(&later, &TimeZone::UTC, NOW), Some(7_200_000), "`callback in` as before");
    }

    /// A/B assignment: shares are kept within sampling error, every share gets its customers,
    /// one script takes everyone, and a customer's script depends on the campaign and the
    /// customer only.
    #[test]
    fn assignment_follows_the_shares_and_depends_on_campaign_and_customer_only() {
        let count = |shares: &[u32]| {
            let mut n = vec![0usize; shares.len()];
            for i in 0..10_000 {
                n[assign("LOAN_AB", &format!("C{i:05}"), shares)] += 1;
            }
            n
        };
        // 10,000 draws: the sd of a 70 % share is 0.46 points; 2 points is over 4 sd.
        let n = count(&[70, 30]);
        assert!((6_800..=7_200).contains(&n[0]), "{n:?}");
        let n = count(&[1, 98, 1]);
        assert!(n.iter().all(|&k| k > 50) && (9_600..=9_950).contains(&n[1]), "{n:?}");
        assert_eq!(count(&[100]), [10_000]);
        assert_eq!(assign("LOAN_AB", "C00001", &[50, 50]), assign("LOAN_AB", "C00001", &[50, 50]));
        // Another campaign draws afresh: about half of the customers change script.
        let moved = (0..1_000).filter(|i| {
            let id = format!("C{i:05}");
            assign("LOAN_AB", &id, &[50, 50]) != assign("CARD_AB", &id, &[50, 50])
        });
        assert!((400..=600).contains(&moved.count()));
    }
}
