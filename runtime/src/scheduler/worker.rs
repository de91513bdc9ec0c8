//! One worker of a campaign several run at once (CAMPAIGN.md §6): `callscript worker`, and
//! `callscript run` on a shared store. The customers, the live calls' owners and the pace are
//! in the store ([`SharedQueue`]); this loop claims due customers, dials them at their
//! reserved moment, stores each result as its call ends, beats its lease (taking over the
//! live calls of workers whose lease ran out) and, asked to stop, drains: no new claim, live
//! calls finish, then it leaves.
//!
//! The rules are the single-process scheduler's: the window and caps through [`Rules`] (the
//! same `Window`, the same cap arithmetic), the next attempt through [`RetryPolicy`], the
//! stored result through `finished`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{Clock, Millis, Plan, Progress, RunError, SharedClock, Summary, callback_delay, finished};
use crate::campaign::schedule::Window;
use crate::metrics::Metrics;
use crate::store::StoreError;
use crate::store::queue::{
    Candidate, ClaimLimits, Claimant, Claimed, Ending, Joining, Local, Pace, Rules, SharedQueue, Verdict, WorkerId,
};
use crate::telephony::{CallId, DialRequest, Telephony};
use crate::vm::{CallContext, Session};

use super::policy::RetryPolicy;

/// The longest the loop waits at once, so a stop request and heartbeats are seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// A claim that found nothing is tried again after this much wall time.
const CLAIM_POLL: Duration = Duration::from_millis(50);
/// Whether the campaign is done is asked at most this often while this worker is idle.
const DONE_POLL: Duration = Duration::from_millis(300);
/// Dials are reserved at most this much wall time ahead (see `ClaimLimits::horizon_ms`).
const HORIZON: Duration = Duration::from_millis(250);
/// Customers claimed per transaction at most, so several workers share the work.
const BATCH: usize = 32;

/// How a worker runs.
pub struct WorkerOptions<'a> {
    /// The campaign's clock when no worker runs it yet: its first moment, and the speed of
    /// simulated time (0: the wall clock, for real telephony).
    pub pace: Pace,
    /// How long this worker's lease on its live calls lasts without a heartbeat.
    pub lease_ms: i64,
    /// Set by SIGTERM or Ctrl-C: drain (no new calls; live calls finish; leave).
    pub stop: Arc<AtomicBool>,
    /// Leave when every customer is done (`--idle-exit on`), or keep waiting for new ones.
    pub idle_exit: bool,
    pub accept_new_script: bool,
    pub on_progress: Option<&'a mut dyn FnMut(&Progress)>,
    /// `--metrics`: what `/metrics`, `/healthz` and `/readyz` report.
    pub metrics: Option<Arc<Metrics>>,
}

/// Why a worker cannot run this campaign.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(
        "the campaign's clock runs at speed {campaign} (set by the workers running it); start this worker with --speed {campaign}, not {mine}"
    )]
    SpeedDiffers { campaign: f64, mine: f64 },
}

/// The campaign rules a worker applies to each candidate (CAMPAIGN.md §3).
struct CampaignRules<'p> {
    plan: &'p Plan,
    window: Window,
    zones: std::cell::RefCell<HashMap<String, TimeZone>>,
}

impl CampaignRules<'_> {
    fn zone(&self, name: Option<&str>) -> TimeZone {
        let Some(name) = name else { return self.plan.settings.schedule.timezone.clone() };
        let mut zones = self.zones.borrow_mut();
        if let Some(tz) = zones.get(name) {
            return tz.clone();
        }
        let tz = TimeZone::get(name).unwrap_or(TimeZone::UTC);
        zones.insert(name.to_string(), tz.clone());
        tz
    }
}

impl Rules for CampaignRules<'_> {
    fn window(&self, c: &Candidate, now_ms: i64) -> Verdict {
        let tz = self.zone(c.timezone.as_deref());
        let at = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        match self.window.next_start(at, &tz) {
            None => Verdict::Never,
            Some(start) if start > at => Verdict::Later(start.as_millisecond()),
            Some(_) => {
                let local = at.to_zoned_datetime(tz);
                Verdict::Call(Local {
                    time: super::local_time_text(&local),
                    date: local.date(),
                    hour: local.hour() as i64,
                })
            }
        }
    }

    fn caps_allow(&self, local: Date, placed: &dyn Fn(Date) -> u32) -> bool {
        let limits = &self.plan.settings.limits;
        let week = (0..7).filter_map(|back| local.checked_sub(jiff::Span::new().days(back)).ok()).map(placed).sum();
        super::caps::room(placed(local), week, limits.per_customer_per_day, limits.per_customer_per_7_days) > 0
    }

    fn next_day(&self, c: &Candidate, now_ms: i64) -> Option<i64> {
        let tz = self.zone(c.timezone.as_deref());
        let at = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        self.window.next_day_start(at, &tz).map(|t| t.as_millisecond())
    }
}

/// Runs this process as one worker of the plan's campaign until every customer is done (or,
/// asked to stop, until its live calls ended). `queue` is the shared store.
pub fn work(
    plan: &Plan,
    queue: &mut dyn SharedQueue,
    telephony: &mut dyn Telephony,
    mut opts: WorkerOptions,
) -> Result<Summary, RunError> {
    let wall = || Timestamp::now().as_millisecond();
    let me = WorkerId::this_process(wall());
    let script_sha256 = plan.script_sha256();
    let joined = queue.join(
        &me,
        &Joining {
            campaign: &plan.campaign_id,
            script_sha256: &script_sha256,
            script: &plan.script_names(),
            settings: &crate::campaign::audit_json(&plan.settings),
            customers: &plan.customers,
            list: &plan.list,
            pace: opts.pace,
            accept_new_script: opts.accept_new_script,
            wall_ms: wall(),
            lease_ms: opts.lease_ms,
        },
    )?;
    if let Some(stored) = joined.script_changed {
        return Err(RunError::ScriptChanged { stored, now: script_sha256 });
    }
    if joined.pace.speed != opts.pace.speed {
        queue.leave(&me)?;
        return Err(RunError::Join(JoinError::SpeedDiffers { campaign: joined.pace.speed, mine: opts.pace.speed }));
    }
    let metrics = opts.metrics.clone();
    let result = Worker::new(plan, &me, SharedClock::new(joined.pace), telephony, metrics).run(queue, &mut opts);
    // Left only when done or drained; after a lost lease the row is gone already.
    if result.is_ok() {
        queue.leave(&me)?;
    }
    result
}

struct Worker<'p, 't> {
    plan: &'p Plan,
    me: &'p WorkerId,
    clock: SharedClock,
    telephony: &'t mut dyn Telephony,
    rules: CampaignRules<'p>,
    policy: RetryPolicy,
    limits: ClaimLimits,
    /// Claimed customers waiting for their reserved moment.
    pending: BinaryHeap<Reverse<(Millis, u64)>>,
    claimed: HashMap<u64, Claimed>,
    live: HashMap<CallId, Claimed>,
    next_key: u64,
    progress: Progress,
    metrics: Option<Arc<Metrics>>,
    /// Results not yet in the store (its connection was lost when their calls ended).
    unsaved: Vec<Unsaved>,
    /// While the store is unreachable: when to try connecting again.
    outage: Option<Instant>,
    /// Since when this worker is connected (it takes over no lease before being connected for
    /// a lease: after an outage of the store everyone's lease looks expired, and the others
    /// must have their turn to beat first).
    online_since: Instant,
}

/// A result kept until the store takes it.
struct Unsaved {
    claimed: Claimed,
    stored: crate::store::Finished,
    next_due_ms: Option<i64>,
    opted_out: bool,
    recording: Option<(String, i64)>,
}

/// How long a worker waits between attempts to reach a lost store.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

impl<'p, 't> Worker<'p, 't> {
    fn new(
        plan: &'p Plan,
        me: &'p WorkerId,
        clock: SharedClock,
        telephony: &'t mut dyn Telephony,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let (calls_per_second, max_concurrent) = super::line_limits(&plan.settings);
        let interval_ms = (1000.0 / calls_per_second).ceil().max(1.0) as i64;
        let speed = clock.speed().max(1.0);
        let policy = RetryPolicy::from_campaign(&plan.settings);
        let limits = ClaimLimits {
            max_concurrent,
            interval_ms,
            horizon_ms: interval_ms.max((HORIZON.as_millis() as f64 * speed).min(60_000.0) as i64),
            batch: BATCH,
            max_attempts: policy.max_attempts,
        };
        Worker {
            plan,
            me,
            clock,
            telephony,
            rules: CampaignRules {
                plan,
                window: Window::from_schedule(&plan.settings.schedule),
                zones: Default::default(),
            },
            policy,
            limits,
            pending: BinaryHeap::new(),
            claimed: HashMap::new(),
            live: HashMap::new(),
            next_key: 1,
            progress: Progress { customers: plan.customers.len(), ..Progress::default() },
            metrics,
            unsaved: Vec::new(),
            outage: None,
            online_since: Instant::now(),
        }
    }

    /// A store operation's result while connected: a lost connection starts an outage (the
    /// worker goes on with its calls, keeps their results, and connects again) and gives None.
    fn survive<T>(&mut self, result: Result<T, StoreError>) -> Result<Option<T>, RunError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_connection_lost() => {
                if self.outage.is_none() {
                    tracing::warn!("the store is unreachable ({e}); calls go on, results are kept, connecting again");
                    self.metric(|m| m.set_ready(false));
                }
                self.outage = Some(Instant::now() + RECONNECT_EVERY);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the results kept so far, if the store is reachable.
    fn flush(&mut self, queue: &mut dyn SharedQueue) -> Result<(), RunError> {
        if self.unsaved.is_empty() || self.outage.is_some() {
            return Ok(());
        }
        let endings: Vec<(&Claimed, Ending)> = self
            .unsaved
            .iter()
            .map(|u| {
                let recording = u.recording.as_ref().map(|(path, bytes)| (path.as_str(), *bytes));
                let ending =
                    Ending { result: &u.stored, next_due_ms: u.next_due_ms, opted_out: u.opted_out, recording };
                (&u.claimed, ending)
            })
            .collect();
        let started = Instant::now();
        let stored = queue.finish(self.me, &self.plan.campaign_id, &endings);
        self.metric(|m| m.store("finish", started.elapsed()));
        drop(endings);
        let Some(stored) = self.survive(stored)? else { return Ok(()) };
        for (u, ok) in self.unsaved.iter().zip(stored) {
            if !ok {
                tracing::warn!(customer = %u.claimed.customer_id, attempt = u.claimed.attempt, "a call's result came after another worker took it over; not stored");
            }
        }
        self.unsaved.clear();
        Ok(())
    }

    /// During an outage, at most once per [`RECONNECT_EVERY`]: connect again, record the
    /// attempts a lost claim committed unseen, store the kept results, beat.
    fn reconnect(&mut self, queue: &mut dyn SharedQueue, lease_ms: i64) -> Result<(), RunError> {
        let Some(at) = self.outage else { return Ok(()) };
        if Instant::now() < at {
            return Ok(());
        }
        self.outage = None;
        if self.survive(queue.reconnect())?.is_none() {
            return Ok(());
        }
        let mut known: Vec<i64> = self.live.values().map(|c| c.row).collect();
        known.extend(self.claimed.values().map(|c| c.row));
        known.extend(self.unsaved.iter().map(|u| u.claimed.row));
        let policy = &self.policy;
        let now = self.clock.now();
        let reconciled = queue.reconcile(self.me, &self.plan.campaign_id, &known, now, &|n, at| {
            policy.next_attempt(n, "failed", None, at)
        });
        if self.survive(reconciled)?.is_none() {
            return Ok(());
        }
        self.flush(queue)?;
        let wall = Timestamp::now().as_millisecond();
        let beat = queue.heartbeat(self.me, &self.plan.campaign_id, wall, lease_ms, now);
        if self.survive(beat)?.is_some() && self.outage.is_none() {
            tracing::info!("the store is reachable again");
            self.online_since = Instant::now();
            self.metric(|m| m.set_ready(true));
        }
        Ok(())
    }

    /// Runs a store operation, timing it for `callscript_store_seconds{op}`.
    fn timed<T>(&self, op: &'static str, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        if let Some(m) = &self.metrics {
            m.store(op, started.elapsed());
        }
        out
    }

    fn metric(&self, record: impl FnOnce(&Metrics)) {
        if let Some(m) = &self.metrics {
            record(m);
        }
    }

    fn run(mut self, queue: &mut dyn SharedQueue, opts: &mut WorkerOptions) -> Result<Summary, RunError> {
        let campaign = &self.plan.campaign_id;
        let lease_ms = opts.lease_ms;
        // Beat three times per lease, at most every 5 s.
        let beat_every = Duration::from_millis((lease_ms / 3).clamp(500, 5_000) as u64);
        let wall = || Timestamp::now().as_millisecond();
        let next_attempt =
            |policy: &RetryPolicy, attempts: u32, at: i64| policy.next_attempt(attempts, "failed", None, at);
        // At start, only workers whose process is gone from this host: leases are judged once
        // this worker has been connected for one (see `online_since`).
        let mut recovered = {
            let policy = &self.policy;
            queue.take_over(self.me, campaign, i64::MIN, self.clock.now(), &|n, at| next_attempt(policy, n, at))?
        };
        let mut draining = false;
        let mut finished = false;
        let mut last_beat = Instant::now();
        let mut next_claim = Instant::now();
        let mut next_done_check = Instant::now();
        let mut last_report = Instant::now();
        self.metric(|m| m.set_ready(true));
        loop {
            self.metric(Metrics::alive);
            if !draining && opts.stop.load(Ordering::Relaxed) {
                draining = true;
                self.metric(|m| m.set_draining(true));
                let live = self.live.len() + self.pending.len();
                tracing::info!("draining: no new calls; {live} live calls finish first");
            }
            self.telephony.poll();
            self.reconnect(queue, lease_ms)?;
            if self.outage.is_none() && last_beat.elapsed() >= beat_every {
                last_beat = Instant::now();
                let now = self.clock.now();
                let beat = self.timed("heartbeat", || queue.heartbeat(self.me, campaign, wall(), lease_ms, now));
                if self.survive(beat)?.is_some() {
                    // Leases are judged only after being connected for one (see `online_since`).
                    let judge =
                        if self.online_since.elapsed().as_millis() as i64 >= lease_ms { wall() } else { i64::MIN };
                    let policy = &self.policy;
                    let taken = self.timed("take_over", || {
                        queue.take_over(self.me, campaign, judge, now, &|n, at| next_attempt(policy, n, at))
                    });
                    recovered += self.survive(taken)?.unwrap_or(0);
                }
            }
            let now = self.clock.now();
            // Calls that ended, then calls due, then new claims.
            let mut ended = Vec::new();
            while let Some(end) = self.telephony.next_end()
                && end <= now
            {
                let Some((at, call, result)) = self.telephony.pop_end() else { break };
                ended.push((call, result, at.min(now)));
            }
            if !ended.is_empty() {
                self.calls_ended(queue, ended)?;
                // Lines are free: claim at once rather than at the next poll.
                next_claim = Instant::now();
            }
            while let Some(&Reverse((at, key))) = self.pending.peek()
                && at <= now
            {
                self.pending.pop();
                if let Some(c) = self.claimed.remove(&key) {
                    self.dial(queue, c)?;
                }
            }
            if !draining && self.outage.is_none() && Instant::now() >= next_claim {
                let by = Claimant {
                    me: self.me,
                    campaign,
                    allowed: &self.plan.allowed,
                    zone: self.plan.settings.schedule.timezone.iana_name().unwrap_or("UTC"),
                    scripts: self.plan,
                };
                let claimed = self.timed("claim", || queue.claim(&by, now, &self.limits, &self.rules));
                let claimed = self.survive(claimed)?.unwrap_or_default();
                // A full batch: more may be due at once; else look again a little later.
                next_claim =
                    if claimed.len() >= self.limits.batch { Instant::now() } else { Instant::now() + CLAIM_POLL };
                for c in claimed {
                    let key = self.next_key;
                    self.next_key += 1;
                    self.pending.push(Reverse((c.dial_at_ms, key)));
                    self.claimed.insert(key, c);
                }
            }
            // Idle: nothing on the line, waiting or unsaved.
            let idle = self.live.is_empty() && self.pending.is_empty() && self.unsaved.is_empty();
            if idle && draining {
                break;
            }
            if idle && opts.idle_exit && self.outage.is_none() && Instant::now() >= next_done_check {
                next_done_check = Instant::now() + DONE_POLL;
                let state = self.timed("queue_state", || queue.queue_state(campaign));
                if let Some(state) = self.survive(state)?
                    && state.open == 0
                    && state.live == 0
                {
                    finished = true;
                    break;
                }
            }
            self.progress.clock_ms = self.clock.now();
            if let Some(cb) = opts.on_progress.as_mut()
                && last_report.elapsed() >= Duration::from_millis(50)
            {
                last_report = Instant::now();
                cb(&self.progress);
            }
            // Sleep until the next known thing: an end, a dial, a claim, a beat.
            let next_local = [self.telephony.next_end(), self.pending.peek().map(|Reverse((t, _))| *t)]
                .into_iter()
                .flatten()
                .min()
                .map_or(MAX_WAIT, |t| self.clock.until(t));
            let wait = next_local
                .min(next_claim.saturating_duration_since(Instant::now()))
                .min(beat_every.saturating_sub(last_beat.elapsed()))
                .min(MAX_WAIT);
            if !wait.is_zero() {
                self.telephony.wait(wait);
            }
        }
        self.progress.clock_ms = self.clock.now();
        if finished {
            queue.heartbeat(self.me, campaign, wall(), lease_ms, self.progress.clock_ms)?;
        }

        if let Some(cb) = opts.on_progress.as_mut() {
            cb(&self.progress);
        }
        Ok(Summary { progress: self.progress, recovered, stopped: draining, finished })
    }

    /// Dials a claimed customer at its reserved moment (its attempt is committed already).
    fn dial(&mut self, queue: &mut dyn SharedQueue, c: Claimed) -> Result<(), RunError> {
        let context =
            CallContext { attempt: i64::from(c.attempt), hour: c.local.hour, today: crate::vm::today_of(c.local.date) };
        let variant = self.plan.variant_of(&c.customer_id);
        let session = match Session::start(Arc::clone(&variant.exec), &variant.script, c.inputs.clone(), context) {
            Ok(session) => session,
            Err(e) => {
                let failed = crate::store::Finished {
                    disposition: "failed".into(),
                    cause: Some(format!("could not start: {e}")),
                    ended_ms: c.dial_at_ms,
                    ..Default::default()
                };
                self.unsaved.push(Unsaved {
                    claimed: c,
                    stored: failed,
                    next_due_ms: None,
                    opted_out: false,
                    recording: None,
                });
                return self.flush(queue);
            }
        };
        let call = self.next_key;
        self.next_key += 1;
        let request = DialRequest {
            phone: c.phone.clone(),
            attempt_row: c.row,
            customer_id: c.customer_id.clone(),
            attempt: c.attempt,
            session,
            max_duration_ms: variant.exec.program.script(&variant.script).and_then(|x| x.max_duration_ms),
        };
        self.telephony.dial(c.dial_at_ms, call, request);
        self.live.insert(call, c);
        self.progress.placed += 1;
        self.progress.live = self.live.len() as u64;
        self.metric(|m| {
            m.placed();
            m.set_live(self.live.len() as u64);
        });
        Ok(())
    }

    /// Calls ended: each result and its customer's next attempt go to the store together, all
    /// of them in one transaction (kept until the store is reachable again, if it is not).
    fn calls_ended(
        &mut self,
        queue: &mut dyn SharedQueue,
        ended: Vec<(CallId, crate::telephony::CallResult, Millis)>,
    ) -> Result<(), RunError> {
        for (call, mut result, at) in ended {
            let Some(c) = self.live.remove(&call) else { continue };
            let tz = self.rules.zone(c.timezone.as_deref());
            let callback = callback_delay(&result, &tz, at);
            let next = self.policy.next_attempt(c.attempt, result.disposition.name(), callback, at);
            self.progress.ended += 1;
            if result.disposition.connected() {
                self.progress.answered += 1;
            }
            self.metric(|m| {
                m.ended(result.disposition.name(), result.outcome.as_deref(), result.goal);
                for a in &result.actions {
                    m.action(&a.name, a.ok, Duration::from_millis(a.latency_ms));
                }
            });
            let (opted_out, recording) = (result.optout, result.recording.take());
            self.unsaved.push(Unsaved {
                claimed: c,
                stored: finished(result, callback, at),
                next_due_ms: next,
                opted_out,
                recording: recording.map(|(path, bytes)| (path, bytes as i64)),
            });
        }
        self.progress.live = self.live.len() as u64;
        self.metric(|m| m.set_live(self.live.len() as u64));
        self.flush(queue)
    }
}
