//! The shared queue of a campaign that several workers run at once (CAMPAIGN.md §6): what a
//! worker asks of a shared store, as a trait, so the worker's loop (`scheduler/worker.rs`)
//! does not know it is PostgreSQL. Every guarantee of §3 that spans workers is kept here, in
//! the store's transactions: one claim per customer at a time (`FOR UPDATE SKIP LOCKED`), the
//! attempt row written (unique per campaign, customer, attempt) and committed before the dial,
//! the retry budget, caps across campaigns (counted under a lock per phone), do-not-call,
//! `max_concurrent` and `calls_per_second` for the whole campaign, and the takeover of a dead
//! worker's live attempts once its lease ran out. The rules that need a customer's time zone
//! (the window, the caps' local day) are asked of the worker through [`Rules`], so they are
//! the single-process scheduler's own code.

use jiff::civil::Date;

use super::{Finished, Result};
use crate::campaign::list::CustomerList;

/// A worker as it registers and beats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerId {
    /// Unique per process run: `host:pid:started_ms`.
    pub token: String,
    pub host: String,
    pub pid: u32,
}

impl WorkerId {
    /// A new worker of this process: unique even for workers started in the same millisecond
    /// (threads of one process, in tests and benchmarks).
    pub fn this_process(wall_ms: i64) -> WorkerId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let me = super::LeaseHolder::this_process("", wall_ms, 0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        WorkerId { token: format!("{}:{n}", me.token), host: me.host, pid: me.pid }
    }
}

/// How a campaign's clock is shared: campaign time = `epoch_clock_ms` + (wall − `epoch_wall_ms`)
/// × `speed`. Speed 0 means the wall clock itself (real telephony).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    pub epoch_wall_ms: i64,
    pub epoch_clock_ms: i64,
    pub speed: f64,
}

/// What a worker joins with: the campaign as `run` saves it, and its customers (added when
/// new, never changed: a customer's place in the queue belongs to the campaign).
pub struct Joining<'a> {
    pub campaign: &'a str,
    pub script_sha256: &'a str,
    pub script: &'a str,
    pub settings: &'a str,
    pub customers: &'a CustomerList,
    /// The customer list's file name, kept with each new customer.
    pub list: &'a str,
    /// The pace this worker would start the campaign's clock with, if nobody runs it.
    pub pace: Pace,
    pub accept_new_script: bool,
    pub wall_ms: i64,
    pub lease_ms: i64,
}

/// What joining found.
#[derive(Clone, Debug)]
pub struct Joined {
    /// The campaign's clock: another live worker's, or this worker's when none runs.
    pub pace: Pace,
    /// The script's stored hash when it differs and `accept_new_script` was not given.
    pub script_changed: Option<String>,
}

/// A customer as the queue hands it out to be checked against the rules.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub customer_id: String,
    pub phone: String,
    pub timezone: Option<String>,
    /// Attempts so far (the next one is `attempts + 1`).
    pub attempts: u32,
}

/// What the rules decide about a candidate at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Call now; the attempt is stamped with the customer's local moment.
    Call(Local),
    /// Not before this moment (the window opens, the capped phone's next day).
    Later(i64),
    /// Never (no allowed day ahead).
    Never,
}

/// A moment in the customer's zone, as attempts keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    /// RFC 3339 with the offset.
    pub time: String,
    pub date: Date,
    pub hour: i64,
}

/// The rules a worker applies to each candidate (the single-process scheduler's, CAMPAIGN.md
/// §3): the store asks them inside its claim transaction.
pub trait Rules {
    /// The window and its days at `now` in the candidate's zone.
    fn window(&self, candidate: &Candidate, now_ms: i64) -> Verdict;
    /// The caps: whether one more call fits on `local` day given the calls to the phone on
    /// each of the 7 local days ending with it (`placed(date)`), across every campaign.
    fn caps_allow(&self, local: Date, placed: &dyn Fn(Date) -> u32) -> bool;
    /// When a capped candidate may be tried again: the start of its next allowed local day.
    fn next_day(&self, candidate: &Candidate, now_ms: i64) -> Option<i64>;
}

/// What a claim may take.
#[derive(Clone, Copy, Debug)]
pub struct ClaimLimits {
    /// The campaign's `max_concurrent` (the trunk's when tighter): live attempts of every worker.
    pub max_concurrent: u64,
    /// Milliseconds of campaign time between two dials of the campaign (`calls_per_second`).
    pub interval_ms: i64,
    /// Dials may be reserved this far ahead of now (campaign time), so one transaction can
    /// claim several calls at a steady rate.
    pub horizon_ms: i64,
    /// At most this many customers per claim (so workers share the work).
    pub batch: usize,
    pub max_attempts: u32,
}

/// The script each customer's calls run, lent to the store by the plan (its A/B assignment):
/// the script's name, stored as the attempt's `variant`, and the script's hash.
pub trait Scripts {
    fn script_of(&self, customer_id: &str) -> (&str, &str);
}

/// Who claims, for which campaign, and what its attempts are stamped with.
#[derive(Clone, Copy)]
pub struct Claimant<'a> {
    pub me: &'a WorkerId,
    pub campaign: &'a str,
    /// `[allow]` entries as JSON, stored with every attempt.
    pub allowed: &'a str,
    /// The zone of customers whose list gives none (the campaign's).
    pub zone: &'a str,
    /// The script each customer's calls run, and its hash.
    pub scripts: &'a dyn Scripts,
}

/// How a claimed attempt ended, as [`SharedQueue::finish`] stores it.
#[derive(Clone, Copy, Debug)]
pub struct Ending<'a> {
    pub result: &'a Finished,
    /// The customer's next due moment (`None`: done).
    pub next_due_ms: Option<i64>,
    /// The customer opted out: the phone goes on the do-not-call list.
    pub opted_out: bool,
    /// The call's recording: path and size.
    pub recording: Option<(&'a str, i64)>,
}

/// A customer claimed: its attempt row is committed, and the worker dials it at `dial_at_ms`.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub row: i64,
    pub customer_id: String,
    pub phone: String,
    pub timezone: Option<String>,
    /// The script's inputs, as the customer list gave them.
    pub inputs: Vec<(String, callscript_compiler::value::Value)>,
    pub segment: Option<String>,
    /// The customer list's file name.
    pub list: Option<String>,
    pub attempt: u32,
    pub dial_at_ms: i64,
    pub local: Local,
}

/// The state of a campaign's queue, for a worker deciding whether to wait or to leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueState {
    /// Customers not done (open or live).
    pub open: u64,
    /// Attempts live (any worker).
    pub live: u64,
    /// The earliest moment an open customer is due.
    pub next_due_ms: Option<i64>,
}

/// A shared store several workers run one campaign on.
pub trait SharedQueue {
    /// Saves the campaign, adds its new customers to the queue, registers this worker and
    /// agrees on the campaign's clock.
    fn join(&mut self, me: &WorkerId, joining: &Joining) -> Result<Joined>;
    /// The worker's heartbeat, moving its lease on; fails with a lost lease when another
    /// worker took its live calls over (it must then stop at once). Also keeps the campaign's
    /// clock as last seen.
    fn heartbeat(&mut self, me: &WorkerId, campaign: &str, wall_ms: i64, lease_ms: i64, clock_ms: i64) -> Result<()>;
    /// Records as `failed`/`interrupted` the live attempts of workers whose lease ran out (or
    /// whose process on this host is gone), at campaign time `clock_ms`, and puts their
    /// customers back through `next_attempt` (attempts so far, ended at) → next due moment.
    /// Returns how many attempts it took over.
    fn take_over(
        &mut self,
        me: &WorkerId,
        campaign: &str,
        wall_ms: i64,
        clock_ms: i64,
        next_attempt: &dyn Fn(u32, i64) -> Option<i64>,
    ) -> Result<usize>;
    /// Claims due customers at `now_ms`, within the limits, each checked against `rules`,
    /// do-not-call and the retry budget; commits their attempts before returning.
    fn claim(&mut self, by: &Claimant, now_ms: i64, limits: &ClaimLimits, rules: &dyn Rules) -> Result<Vec<Claimed>>;
    /// Stores the results of claimed attempts that ended (in one transaction: committed
    /// together as soon as they ended), each with its customer's next due moment (`None`:
    /// done), adding the phone to do-not-call when the customer opted out. For each, false
    /// when the attempt was taken over meanwhile (its result is then not stored).
    fn finish(&mut self, me: &WorkerId, campaign: &str, ended: &[(&Claimed, Ending)]) -> Result<Vec<bool>>;
    /// After the connection was lost and made again: this worker's live attempts that it does
    /// not know (`known`: rows it dials, has on the line or holds results of) — a claim whose
    /// commit went through while its answer was lost — are recorded `failed`/`interrupted`
    /// at `clock_ms` and their customers put back through `next_attempt`. Returns how many.
    fn reconcile(
        &mut self,
        me: &WorkerId,
        campaign: &str,
        known: &[i64],
        clock_ms: i64,
        next_attempt: &dyn Fn(u32, i64) -> Option<i64>,
    ) -> Result<usize>;
    /// Connects to the store again after the connection was lost.
    fn reconnect(&mut self) -> Result<()>;
    /// How many customers are still open and how many attempts live, campaign-wide.
    fn queue_state(&mut self, campaign: &str) -> Result<QueueState>;
    /// Leaves: the worker's row goes (its live attempts must have ended).
    fn leave(&mut self, me: &WorkerId) -> Result<()>;
}
