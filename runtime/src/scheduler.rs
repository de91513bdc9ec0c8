//! The campaign scheduler: a discrete-event loop over one clock (virtual for the simulator,
//! real for SIP) that places calls only when every rule of CAMPAIGN.md §2–§3 allows it —
//! window and days in the customer's zone, holidays, caps across campaigns, do-not-call,
//! `max_concurrent`, `calls_per_second` (never a burst), one retry budget per customer —
//! writes each attempt before dialling and resumes from the store after a crash.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::campaign::customers::Customer;
use crate::campaign::schedule::Window;
use crate::campaign::{Campaign, parse_duration};
use crate::store::{Finished, NewAttempt, RecordingRow, Store, StoreError};
use crate::telephony::{CallId, DialRequest, Disposition, Telephony};
use crate::vm::{CallContext, Executable, Session};

/// Everything a run needs, checked and loaded.
pub struct Plan {
    pub campaign_id: String,
    pub settings: Campaign,
    pub exec: Arc<Executable>,
    pub script: String,
    pub script_sha256: String,
    /// Customers after the segment filter.
    pub customers: Vec<Customer>,
    /// `[allow]` entries as JSON, stored with every attempt they cover.
    pub allowed: String,
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
    /// Clock speed-up; None runs as fast as possible (virtual time only).
    pub speed: Option<f64>,
    pub stop: Arc<AtomicBool>,
    /// Where the clock starts on a campaign's first run (ms since the epoch, UTC).
    pub start_ms: i64,
    pub on_progress: Option<&'a mut dyn FnMut(&Progress)>,
}

#[derive(Debug)]
pub enum RunError {
    Store(StoreError),
    ScriptChanged { stored: String, now: String },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Store(e) => write!(f, "{e}"),
            RunError::ScriptChanged { stored, now } => write!(
                f,
                "the script changed since this campaign started (stored sha256 {}…, now {}…); pass --accept-new-script to resume with the new one",
                &stored[..12.min(stored.len())],
                &now[..12.min(now.len())]
            ),
        }
    }
}

impl std::error::Error for RunError {}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        RunError::Store(e)
    }
}

struct CustomerState {
    attempts: u32,
    done: bool,
    live: bool,
    tz: usize,
}

/// Calls per phone per local date, across campaigns: (date, count) pairs, newest last.
#[derive(Default)]
struct Caps(HashMap<String, Vec<(Date, u32)>>);

impl Caps {
    fn add(&mut self, phone: &str, date: Date, n: u32) {
        let days = self.0.entry(phone.to_string()).or_default();
        match days.iter_mut().find(|(d, _)| *d == date) {
            Some((_, c)) => *c += n,
            None => days.push((date, n)),
        }
    }

    fn count(&self, phone: &str, date: Date, days_back: i32) -> u32 {
        let Some(days) = self.0.get(phone) else { return 0 };
        let from = date.checked_sub(jiff::Span::new().days(days_back as i64 - 1)).unwrap_or(date);
        days.iter().filter(|(d, _)| *d >= from && *d <= date).map(|(_, c)| c).sum()
    }
}

struct Live {
    customer: usize,
    row: i64,
}

/// The longest the loop sleeps at once, so a stop request is seen promptly.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs (or resumes) a campaign until every customer is done, or the operator stops it.
pub fn run(
    plan: &Plan,
    store: &mut Store,
    telephony: &mut dyn Telephony,
    accept_new_script: bool,
    mut opts: RunOptions,
) -> Result<Summary, RunError> {
    let c = &plan.settings;
    let window = Window::from_schedule(&c.schedule);
    let backoff_ms = parse_duration(&c.retry.backoff).unwrap_or(1_800_000) as i64;
    // The trunk's own limits (SIP) tighten the schedule's, never loosen them.
    let calls_per_second =
        c.telephony.calls_per_second.map_or(c.schedule.calls_per_second, |t| t.min(c.schedule.calls_per_second));
    let max_concurrent =
        c.telephony.max_concurrent.map_or(c.schedule.max_concurrent, |t| t.min(c.schedule.max_concurrent));
    let interval_ms = (1000.0 / calls_per_second).ceil().max(1.0) as i64;
    let max_attempts = c.retry.max_attempts;
    let retry_on: HashSet<&str> = c.retry.on.iter().map(String::as_str).collect();

    // Resume: the stored clock, the stored hash, live attempts of a crash.
    let mut clock = opts.start_ms;
    if let Some((sha, stored_clock, _)) = store.campaign(&plan.campaign_id)? {
        if sha != plan.script_sha256 && !accept_new_script {
            return Err(RunError::ScriptChanged { stored: sha, now: plan.script_sha256.clone() });
        }
        // Virtual time resumes where it stopped; real time is what the wall clock says.
        if !telephony.realtime() {
            clock = stored_clock;
        }
    }
    // Real telephony runs on the wall clock, whatever speed was asked for.
    let realtime = telephony.realtime();
    let speed = if realtime { Some(1.0) } else { opts.speed };
    // The campaign's settings as run, kept with it for audit.
    let settings_json = serde_json::to_string(&plan.settings).unwrap_or_default();
    store.save_campaign(&plan.campaign_id, &plan.script_sha256, &plan.script, clock, &settings_json)?;
    let recovered = store.interrupt_live(&plan.campaign_id)?;

    // Time zones, interned.
    let default_tz = TimeZone::get(&c.schedule.timezone).unwrap_or(TimeZone::UTC);
    let mut zones: Vec<TimeZone> = vec![default_tz];
    let mut zone_index: HashMap<String, usize> = HashMap::new();
    let mut states: Vec<CustomerState> = Vec::with_capacity(plan.customers.len());
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(plan.customers.len());
    for (i, cust) in plan.customers.iter().enumerate() {
        let tz = match &cust.timezone {
            None => 0,
            Some(name) => *zone_index.entry(name.clone()).or_insert_with(|| {
                zones.push(TimeZone::get(name).unwrap_or(TimeZone::UTC));
                zones.len() - 1
            }),
        };
        states.push(CustomerState { attempts: 0, done: false, live: false, tz });
        by_id.insert(&cust.id, i);
    }
    let dnc = store.dnc()?;
    let mut caps = Caps::default();
    for (phone, date, n) in store.placed_by_phone_and_date()? {
        if let Ok(d) = date.parse::<Date>() {
            caps.add(&phone, d, n);
        }
    }

    let mut ready: BinaryHeap<Reverse<(i64, u64, usize)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut next_at = vec![clock; plan.customers.len()];
    for past in store.past_attempts(&plan.campaign_id)? {
        let Some(&i) = by_id.get(past.customer_id.as_str()) else { continue };
        let s = &mut states[i];
        s.attempts = s.attempts.max(past.attempt);
        let disposition = past.disposition.as_str();
        let connected = matches!(disposition, "answered" | "customer_hangup");
        match past.callback_ms {
            Some(cb) if s.attempts < max_attempts => {
                s.done = false;
                next_at[i] = past.ended_ms + cb;
            }
            _ if connected && disposition == "answered" => s.done = true,
            _ if retry_on.contains(disposition) && s.attempts < max_attempts => {
                s.done = false;
                next_at[i] = past.ended_ms + backoff_ms;
            }
            _ => s.done = true,
        }
    }
    for (i, s) in states.iter_mut().enumerate() {
        if s.attempts >= max_attempts {
            s.done = true;
        }
        if !s.done {
            ready.push(Reverse((next_at[i].max(clock), seq, i)));
            seq += 1;
        }
    }

    let mut progress = Progress { customers: plan.customers.len(), clock_ms: clock, ..Progress::default() };
    let mut engine = Engine {
        plan,
        window,
        zones,
        states,
        caps,
        dnc,
        ready,
        seq,
        eligible: VecDeque::new(),
        live: HashMap::new(),
        next_call: 1,
        next_token: i64::MIN,
        interval_ms,
        max_attempts,
    };
    let mut stopping = false;
    let mut since_commit = 0u32;
    let mut last_report = std::time::Instant::now();
    let real_start = std::time::Instant::now();
    let virtual_start = clock;
    store.begin()?;

    loop {
        if !stopping && opts.stop.load(Ordering::Relaxed) {
            stopping = true;
            engine.ready.clear();
            engine.eligible.clear();
        }
        if realtime {
            // Collect calls that ended meanwhile, without waiting.
            telephony.wait(std::time::Duration::ZERO);
        }
        let next_ready = engine.ready.peek().map(|Reverse((t, _, _))| *t);
        let next_end = telephony.next_end();
        // Customers cleared to call wait for a line and a token; one timer, not one per customer.
        let next_dispatch = (!engine.eligible.is_empty() && progress.live < max_concurrent as u64)
            .then_some(engine.next_token.max(clock));
        let Some(t) = [next_end, next_dispatch, next_ready].into_iter().flatten().min() else {
            if telephony.live() > 0 {
                // Real calls are still on: their ends are not known in advance.
                telephony.wait(MAX_WAIT);
                continue;
            }
            break;
        };
        if let Some(speed) = speed {
            // Paced: the clock advances `speed` times faster than the wall clock.
            let due = std::time::Duration::from_millis(((t - virtual_start).max(0) as f64 / speed) as u64);
            let elapsed = real_start.elapsed();
            if due > elapsed {
                telephony.wait((due - elapsed).min(MAX_WAIT));
                continue;
            }
        }
        clock = clock.max(t);
        if next_end == Some(t) {
            let Some((_, call, result)) = telephony.pop_end() else { continue };
            let Some(l) = engine.live.remove(&call) else { continue };
            let cust = &plan.customers[l.customer];
            let finished = Finished {
                disposition: result.disposition.name().to_string(),
                cause: result.cause.clone(),
                outcome: result.outcome.clone(),
                goal: result.goal,
                ended_ms: clock,
                talk_ms: result.talk_ms as i64,
                last_step: result.last_step.clone(),
                steps: serde_json::to_string(&result.steps).unwrap_or_default(),
                tags: serde_json::to_string(&result.tags).unwrap_or_default(),
                objections: serde_json::to_string(&result.objections).unwrap_or_default(),
                unrecognised: serde_json::to_string(&result.unrecognised).unwrap_or_default(),
                transcript: serde_json::to_string(&result.transcript).unwrap_or_default(),
                callback_ms: result.callback_ms.map(|c| c as i64),
            };
            store.finish_attempt(l.row, &finished)?;
            if let Some((path, bytes)) = &result.recording {
                store.add_recording(&RecordingRow {
                    attempt_id: l.row,
                    campaign: plan.campaign_id.clone(),
                    path: path.clone(),
                    created_ms: clock,
                    bytes: *bytes as i64,
                })?;
            }
            if result.optout && engine.dnc.insert(cust.phone.clone()) {
                store.dnc_add(&cust.phone, "optout", clock)?;
            }
            progress.live -= 1;
            progress.ended += 1;
            if result.disposition.connected() {
                progress.answered += 1;
            }
            let s = &mut engine.states[l.customer];
            s.live = false;
            let next = match result.callback_ms {
                // A callback uses one attempt and replaces the backoff; with none left it is
                // recorded and dropped.
                Some(cb) => (s.attempts < max_attempts).then_some(clock + cb as i64),
                None if result.disposition == Disposition::Answered => None,
                None if retry_on.contains(result.disposition.name()) && s.attempts < max_attempts => {
                    Some(clock + backoff_ms)
                }
                None => None,
            };
            match next {
                // Stopping: the customer stays open in the store for the next run.
                Some(_) if stopping => {}
                Some(at) => engine.push_ready(at, l.customer),
                None => s.done = true,
            }
        } else if next_dispatch == Some(t) {
            // Place the first eligible customer that every rule still allows now.
            while let Some(i) = engine.eligible.pop_front() {
                match engine.admit(i, clock) {
                    Admit::Now => {
                        engine.place(i, clock, store, telephony, &mut progress)?;
                        break;
                    }
                    Admit::Later(at) => engine.push_ready(at, i),
                    Admit::Never => engine.states[i].done = true,
                }
            }
        } else {
            let Some(Reverse((_, _, i))) = engine.ready.pop() else { continue };
            match engine.admit(i, clock) {
                Admit::Now => engine.eligible.push_back(i),
                Admit::Later(at) => engine.push_ready(at, i),
                Admit::Never => engine.states[i].done = true,
            }
        }
        since_commit += 1;
        if since_commit >= 20_000 {
            since_commit = 0;
            store.set_clock(&plan.campaign_id, clock, false)?;
            store.commit()?;
            store.begin()?;
        }
        if let Some(cb) = opts.on_progress.as_mut()
            && last_report.elapsed() >= std::time::Duration::from_millis(50)
        {
            last_report = std::time::Instant::now();
            progress.clock_ms = clock;
            cb(&progress);
        }
    }
    let states = engine.states;
    let finished = !stopping && states.iter().all(|s| s.done);
    progress.clock_ms = clock;
    store.set_clock(&plan.campaign_id, clock, finished)?;
    store.commit()?;
    if let Some(cb) = opts.on_progress.as_mut() {
        cb(&progress);
    }
    Ok(Summary { progress, recovered, stopped: stopping, finished })
}

/// Whether a customer may be called now, later, or never.
enum Admit {
    Now,
    Later(i64),
    Never,
}

/// The scheduler's state between events.
struct Engine<'p> {
    plan: &'p Plan,
    window: Window,
    zones: Vec<TimeZone>,
    states: Vec<CustomerState>,
    caps: Caps,
    dnc: HashSet<String>,
    ready: BinaryHeap<Reverse<(i64, u64, usize)>>,
    seq: u64,
    /// Customers every rule allows, waiting for a line and a token, first come first served.
    eligible: VecDeque<usize>,
    live: HashMap<CallId, Live>,
    next_call: CallId,
    next_token: i64,
    interval_ms: i64,
    max_attempts: u32,
}

impl Engine<'_> {
    fn push_ready(&mut self, at: i64, customer: usize) {
        self.ready.push(Reverse((at, self.seq, customer)));
        self.seq += 1;
    }

    /// Checks the customer-level rules at `clock`: budget, do-not-call, window, days,
    /// holidays and caps (in the customer's zone).
    fn admit(&self, i: usize, clock: i64) -> Admit {
        let cust = &self.plan.customers[i];
        let s = &self.states[i];
        if s.done || s.live || self.dnc.contains(&cust.phone) || s.attempts >= self.max_attempts {
            return Admit::Never;
        }
        let limits = &self.plan.settings.limits;
        let tz = &self.zones[s.tz];
        let now = Timestamp::from_millisecond(clock).unwrap_or(Timestamp::UNIX_EPOCH);
        let Some(start) = self.window.next_start(now, tz) else { return Admit::Never };
        if start > now {
            return Admit::Later(start.as_millisecond());
        }
        let date = now.to_zoned_datetime(tz.clone()).date();
        if self.caps.count(&cust.phone, date, 1) >= limits.per_customer_per_day
            || self.caps.count(&cust.phone, date, 7) >= limits.per_customer_per_7_days
        {
            return match self.window.next_day_start(now, tz) {
                Some(t) => Admit::Later(t.as_millisecond()),
                None => Admit::Never,
            };
        }
        Admit::Now
    }

    /// Places a call: the attempt is in the store before the dial.
    fn place(
        &mut self,
        i: usize,
        clock: i64,
        store: &mut Store,
        telephony: &mut dyn Telephony,
        progress: &mut Progress,
    ) -> Result<(), RunError> {
        let plan = self.plan;
        let cust = &plan.customers[i];
        let tz = &self.zones[self.states[i].tz];
        let local = Timestamp::from_millisecond(clock).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(tz.clone());
        let date = local.date();
        self.next_token = clock + self.interval_ms;
        let s = &mut self.states[i];
        s.attempts += 1;
        let attempt = s.attempts;
        let row = store.begin_attempt(&NewAttempt {
            campaign: &plan.campaign_id,
            customer_id: &cust.id,
            phone: &cust.phone,
            attempt,
            started_ms: clock,
            local_time: local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            local_date: date.to_string(),
            local_hour: local.hour() as i64,
            script_sha256: &plan.script_sha256,
            allowed: &plan.allowed,
        })?;
        self.caps.add(&cust.phone, date, 1);
        if telephony.needs_durable_dial() {
            store.commit()?;
            store.begin()?;
        }
        let context = CallContext { attempt: attempt as i64, hour: local.hour() as i64 };
        let session = match Session::start(Arc::clone(&plan.exec), &plan.script, cust.inputs.clone(), context) {
            Ok(session) => session,
            Err(e) => {
                store.finish_attempt(
                    row,
                    &Finished {
                        disposition: "failed".into(),
                        cause: Some(format!("could not start: {e}")),
                        ended_ms: clock,
                        ..Finished::default()
                    },
                )?;
                s.done = true;
                return Ok(());
            }
        };
        s.live = true;
        let call = self.next_call;
        self.next_call += 1;
        self.live.insert(call, Live { customer: i, row });
        progress.placed += 1;
        progress.live += 1;
        let max_duration_ms = plan.exec.program.script(&plan.script).and_then(|x| x.max_duration_ms);
        telephony.dial(
            clock,
            call,
            DialRequest {
                phone: cust.phone.clone(),
                attempt_row: row,
                customer_id: cust.id.clone(),
                session,
                max_duration_ms,
            },
        );
        Ok(())
    }
}
