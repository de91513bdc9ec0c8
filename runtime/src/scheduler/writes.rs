//! Where the loop's writes go. Real calls write straight to the store, in order, each attempt
//! durable before its dial ([`Writes::Direct`]). Simulated calls hand their writes to a writer
//! thread that owns the store ([`Writes::Behind`]): the store's work (about half of a
//! simulated campaign's) runs on one core while the scheduler and the calls run on another.
//! The writer applies the writes in the order they were sent, commits when told to, and stops
//! at its first error, which the run then returns; a crash loses what was not committed, as
//! the batched store always did, and a resumed run continues from the last commit.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, SyncSender};

use jiff::ZonedDateTime;

use crate::store::{Finished, LeaseHolder, NewAttempt, RecordingRow, Store, StoreError};

use super::{LEASE_TTL_MS, Millis, Plan, RunError};

/// Batches of writes queued for the writer thread at most; the loop waits when it is that
/// far ahead. Room for about a tenth of a second of simulated calls: the writer stops for a
/// checkpoint's fsync, and with 16 batches the loop stopped too (a 1M-call run 1.1x slower;
/// 512 gained little more and held 80 MB).
pub(super) const QUEUE: usize = 128;
/// Writes sent to the writer thread at once (one hand-over per batch, not per write).
const BATCH: usize = 256;

/// An attempt about to be dialled.
pub(super) struct AttemptStart {
    pub customer: usize,
    pub attempt: u32,
    pub started_ms: Millis,
    /// The moment in the customer's zone.
    pub local: ZonedDateTime,
    pub variant: usize,
}

/// An attempt's row: the store's id (written straight), or a ticket the writer thread knows
/// the row of (written behind).
#[derive(Clone, Copy, Debug)]
pub(super) enum AttemptRow {
    Stored(i64),
    Ticket(i64),
}

impl AttemptRow {
    /// The number a dial carries (a recording is named by it; only real calls record, and
    /// theirs are written straight).
    pub fn number(self) -> i64 {
        match self {
            AttemptRow::Stored(n) | AttemptRow::Ticket(n) => n,
        }
    }
}

/// One write, in the order the loop makes them.
pub(super) enum Write {
    Begin {
        ticket: i64,
        start: AttemptStart,
    },
    /// A call's end, as the store keeps it (made on the loop's thread, which has less to do
    /// than the writer's), with its recording.
    Finish {
        row: AttemptRow,
        end: Box<Finished>,
        recording: Option<(String, u64)>,
    },
    CouldNotStart {
        row: AttemptRow,
        cause: String,
        now: Millis,
    },
    Dnc {
        phone: String,
        now: Millis,
    },
    /// The campaign's clock, a lease renewal when due, and a commit (then a new transaction
    /// unless this is the run's last).
    Checkpoint {
        clock_ms: Millis,
        finished: bool,
        renew_lease: bool,
        then_begin: bool,
    },
}

/// What carries out the writes on the store: the loop itself, or the writer thread.
pub(super) struct Writer<'s> {
    plan: &'s Plan,
    store: &'s mut (dyn Store + Send),
    holder: &'s LeaseHolder,
    /// Each ticket's row, once written live (at a commit before its end) until its end.
    rows: HashMap<i64, i64>,
    /// Attempts begun (by ticket, consecutive, in the order they started) and not written
    /// yet, each with its end once it came. Most calls end within the batch they began in:
    /// each is then written once, ended, instead of inserted live and rewritten at its end.
    /// The front is written as soon as it has ended, so rows keep the order the attempts
    /// started in (the store's ids are that order); a commit writes the rest, live when
    /// they have not ended, so what a commit leaves is what writing each begin at once did.
    pending: VecDeque<Pending>,
    /// Attempts held at most: past it the front is written live (a long call at the front
    /// holds every later one, with its result, until the next commit).
    hold: usize,
}

/// [`Writer::hold`]: a few seconds of calls at simulated speeds.
const HOLD: usize = 8_192;

struct Pending {
    ticket: i64,
    start: AttemptStart,
    end: Option<End>,
}

/// An attempt's end and its recording.
struct End {
    end: Box<Finished>,
    recording: Option<(String, u64)>,
}

impl<'s> Writer<'s> {
    pub fn new(plan: &'s Plan, store: &'s mut (dyn Store + Send), holder: &'s LeaseHolder) -> Writer<'s> {
        Writer { plan, store, holder, rows: HashMap::new(), pending: VecDeque::new(), hold: HOLD }
    }

    /// The row of an attempt already in the store; None for a ticket still pending (whose
    /// end is then kept with it) or unknown.
    fn ended(&mut self, row: AttemptRow, end: End) -> Option<(i64, End)> {
        let ticket = match row {
            AttemptRow::Stored(id) => return Some((id, end)),
            AttemptRow::Ticket(ticket) => ticket,
        };
        if let Some(id) = self.rows.remove(&ticket) {
            return Some((id, end));
        }
        let first = self.pending.front()?.ticket;
        if let Some(p) = usize::try_from(ticket - first).ok().and_then(|at| self.pending.get_mut(at)) {
            p.end = Some(end);
        }
        None
    }

    /// Writes the pending attempts from the front: the ended ones, and with `all` (a commit)
    /// the live ones too. Ended attempts go to the store together (a statement for many).
    fn write_pending(&mut self, all: bool) -> Result<(), StoreError> {
        let mut ended: Vec<(AttemptStart, End)> = Vec::new();
        while let Some(p) = self.pending.front() {
            if p.end.is_none() && !all && self.pending.len() <= self.hold {
                break;
            }
            let Some(p) = self.pending.pop_front() else { break };
            match p.end {
                Some(end) => ended.push((p.start, end)),
                None => {
                    // A live one keeps its place among the ids: those ended before it go first.
                    self.record(&mut ended)?;
                    self.rows.insert(p.ticket, begin(self.store, self.plan, &p.start)?);
                }
            }
        }
        self.record(&mut ended)
    }

    /// Writes attempts that ended, in order, and empties `ended`.
    fn record(&mut self, ended: &mut Vec<(AttemptStart, End)>) -> Result<(), StoreError> {
        if ended.is_empty() {
            return Ok(());
        }
        let plan = self.plan;
        let phones: Vec<String> =
            ended.iter().map(|(start, _)| plan.customers.phone(start.customer).to_string()).collect();
        let rows: Vec<NewAttempt> =
            ended.iter().zip(&phones).map(|((start, _), phone)| new_attempt(plan, start, phone)).collect();
        let refs: Vec<(&NewAttempt, &Finished)> =
            rows.iter().zip(ended.iter()).map(|(a, (_, e))| (a, &*e.end)).collect();
        let ids = self.store.record_attempts(&refs)?;
        for ((_, end), id) in ended.drain(..).zip(ids) {
            add_recording(self.store, plan, id, end)?;
        }
        Ok(())
    }

    /// An attempt ended: written now when its row is in the store, else kept with it.
    fn finish(&mut self, row: AttemptRow, end: End) -> Result<(), StoreError> {
        if let Some((row, end)) = self.ended(row, end) {
            self.store.finish_attempt(row, &end.end)?;
            add_recording(self.store, self.plan, row, end)?;
        }
        self.write_pending(false)
    }

    fn apply(&mut self, write: Write) -> Result<(), StoreError> {
        match write {
            Write::Begin { ticket, start } => {
                self.pending.push_back(Pending { ticket, start, end: None });
                if self.pending.len() > self.hold {
                    self.write_pending(false)?;
                }
            }
            Write::Finish { row, end, recording } => self.finish(row, End { end, recording })?,
            Write::CouldNotStart { row, cause, now } => {
                self.finish(row, End { end: Box::new(not_started(&cause, now)), recording: None })?
            }
            Write::Dnc { phone, now } => _ = self.store.dnc_add(&phone, "optout", now)?,
            Write::Checkpoint { clock_ms, finished, renew_lease, then_begin } => {
                self.write_pending(true)?;
                let (plan, store) = (self.plan, &mut *self.store);
                if renew_lease {
                    let now = jiff::Timestamp::now().as_millisecond();
                    store.renew_lease(self.holder, now, now + LEASE_TTL_MS)?;
                }
                store.set_clock(&plan.campaign_id, clock_ms, finished)?;
                store.commit()?;
                if then_begin {
                    store.begin()?;
                }
            }
        }
        Ok(())
    }
}

pub(super) enum Writes<'s> {
    Direct(Writer<'s>),
    Behind { queue: SyncSender<Vec<Write>>, batch: Vec<Write>, next_ticket: i64 },
}

impl Writes<'_> {
    /// Writes the attempt (before its dial); the row to finish it by.
    pub fn begin_attempt(&mut self, start: AttemptStart) -> Result<AttemptRow, RunError> {
        match self {
            // Durable before its dial: written at once, never held.
            Writes::Direct(writer) => Ok(AttemptRow::Stored(begin(writer.store, writer.plan, &start)?)),
            Writes::Behind { next_ticket, .. } => {
                let ticket = *next_ticket;
                *next_ticket += 1;
                self.write(Write::Begin { ticket, start })?;
                Ok(AttemptRow::Ticket(ticket))
            }
        }
    }

    pub fn write(&mut self, write: Write) -> Result<(), RunError> {
        match self {
            Writes::Direct(writer) => Ok(writer.apply(write)?),
            // A closed queue: the writer stopped at an error, which the run returns.
            Writes::Behind { queue, batch, .. } => {
                let commit = matches!(write, Write::Checkpoint { .. });
                batch.push(write);
                if commit || batch.len() >= BATCH {
                    let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
                    queue.send(full).map_err(|_| RunError::WriterStopped)?;
                }
                Ok(())
            }
        }
    }

    /// Commits what was written, with the campaign's clock (and a lease renewal when due).
    pub fn checkpoint(&mut self, clock_ms: Millis, renew_lease: bool) -> Result<(), RunError> {
        self.write(Write::Checkpoint { clock_ms, finished: false, renew_lease, then_begin: true })
    }

    /// The run's last commit: the clock, and whether every customer is done.
    pub fn close(&mut self, clock_ms: Millis, finished: bool) -> Result<(), RunError> {
        self.write(Write::Checkpoint { clock_ms, finished, renew_lease: false, then_begin: false })
    }
}

/// The writer thread: applies the writes in order until the queue closes or a write fails.
pub(super) fn write_behind(mut writer: Writer, queue: Receiver<Vec<Write>>) -> Result<(), StoreError> {
    for batch in queue {
        for write in batch {
            writer.apply(write)?;
        }
    }
    Ok(())
}

fn begin(store: &mut (dyn Store + Send), plan: &Plan, start: &AttemptStart) -> Result<i64, StoreError> {
    store.begin_attempt(&new_attempt(plan, start, &plan.customers.phone(start.customer).to_string()))
}

/// The attempt as the store takes it (`phone`: the customer's, as text).
fn new_attempt<'p>(plan: &'p Plan, start: &AttemptStart, phone: &'p str) -> NewAttempt<'p> {
    let customers = &plan.customers;
    let i = start.customer;
    let variant = &plan.variants[start.variant];
    let local = &start.local;
    let local_time = super::local_time_text(local);
    NewAttempt {
        campaign: &plan.campaign_id,
        customer_id: customers.id(i),
        phone,
        attempt: start.attempt,
        started_ms: start.started_ms,
        // The date is the time's first ten characters (`YYYY-MM-DD`) in four-digit years.
        local_date: match local_time.get(..11) {
            Some(day) if day.ends_with('T') => day[..10].to_string(),
            _ => local.date().to_string(),
        },
        local_time,
        local_hour: local.hour() as i64,
        script_sha256: &variant.script_sha256,
        allowed: &plan.allowed,
        segment: customers.segment(i),
        zone: customers.timezone(i).unwrap_or(plan.settings.schedule.timezone.iana_name().unwrap_or("UTC")),
        list: &plan.list,
        variant: &variant.script,
    }
}

fn add_recording(store: &mut (dyn Store + Send), plan: &Plan, row: i64, end: End) -> Result<(), StoreError> {
    if let Some((path, bytes)) = end.recording {
        store.add_recording(&RecordingRow {
            attempt_id: row,
            campaign: plan.campaign_id.clone(),
            path,
            created_ms: end.end.ended_ms,
            bytes: bytes as i64,
        })?;
    }
    Ok(())
}

fn not_started(cause: &str, now: Millis) -> Finished {
    crate::store::Finished {
        disposition: "failed".into(),
        cause: Some(format!("could not start: {cause}")),
        ended_ms: now,
        ..crate::store::Finished::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::list::CustomerList;
    use crate::scheduler::Variant;
    use crate::scheduler::finished;
    use crate::store::SqliteStore;
    use crate::telephony::CallResult;
    use crate::telephony::Disposition;
    use crate::vm::Executable;
    use proptest::prelude::*;

    const SCRIPT: &str = include_str!("../../../examples/loan_reminder/loan_reminder.call");

    fn plan(customers: usize) -> Plan {
        let checked = callscript_compiler::check::check_source("loan_reminder.call", SCRIPT);
        let exec = Executable::new(callscript_compiler::lower::lower(&checked, checked.files[0].id)).unwrap();
        let mut csv = String::from("id,phone,customer_name,days_overdue,amount_due,account_tail\n");
        for i in 0..customers {
            csv.push_str(&format!("c{i},{},客户{i},5,100.50,{:04}\n", 13_800_000_000u64 + i as u64, i));
        }
        let list = CustomerList::load_csv("c.csv", &csv, &exec.program.scripts[0], "cn").unwrap();
        let settings = crate::campaign::parse_toml("t.toml", "task_id = \"T\"\nscript = \"s.call\"\n").unwrap();
        Plan {
            campaign_id: "T".into(),
            settings,
            variants: vec![Variant::only(exec, "loan_reminder")],
            customers: list,
            allowed: "{}".into(),
            list: "c.csv".into(),
        }
    }

    /// What the loop sends the writer, as the test drives it.
    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// The next attempt starts.
        Begin,
        /// The n-th live attempt (modulo how many) ends (`true`: its script could not start).
        End(usize, bool),
        Checkpoint,
    }

    fn start(i: usize) -> AttemptStart {
        let ms = 1_795_485_600_000 + i as i64 * 1_000;
        let local = jiff::Timestamp::from_millisecond(ms).unwrap().to_zoned_datetime(jiff::tz::TimeZone::UTC);
        AttemptStart { customer: i, attempt: 1, started_ms: ms, local, variant: 0 }
    }

    fn result(i: usize) -> Box<CallResult> {
        let disposition = [Disposition::Answered, Disposition::Busy, Disposition::NoAnswer][i % 3];
        let steps = vec!["opening".to_string(); i % 3];
        Box::new(CallResult { disposition, talk_ms: i as u64 * 10, steps, ..CallResult::default() })
    }

    /// Plays `ops` on a store: through the writer thread's `Writer` (tickets, attempts held
    /// until their end), or each write straight to the store as the loop once made them.
    /// Stops without a last commit (a crash) unless `close`.
    fn play(path: &std::path::Path, ops: &[Op], held: bool, close: bool, hold: usize) {
        let plan = plan(ops.len().max(1));
        let mut store = SqliteStore::open(path).unwrap();
        let holder = LeaseHolder::this_process("T", 0, 1);
        store.begin().unwrap();
        let mut writer = Writer::new(&plan, &mut store, &holder);
        writer.hold = hold;
        let mut live: Vec<(usize, AttemptRow)> = Vec::new();
        let mut started = 0;
        for &op in ops {
            match op {
                Op::Begin => {
                    let row = if held {
                        writer.apply(Write::Begin { ticket: started as i64 + 1, start: start(started) }).unwrap();
                        AttemptRow::Ticket(started as i64 + 1)
                    } else {
                        AttemptRow::Stored(begin(writer.store, &plan, &start(started)).unwrap())
                    };
                    live.push((started, row));
                    started += 1;
                }
                Op::End(_, _) if live.is_empty() => {}
                Op::End(n, failed) => {
                    let (i, row) = live.remove(n % live.len());
                    let now = start(i).started_ms + 500;
                    let write = if failed {
                        Write::CouldNotStart { row, cause: "boom".into(), now }
                    } else {
                        Write::Finish { row, end: Box::new(finished(*result(i), None, now)), recording: None }
                    };
                    writer.apply(write).unwrap();
                }
                Op::Checkpoint => {
                    let write =
                        Write::Checkpoint { clock_ms: 0, finished: false, renew_lease: false, then_begin: true };
                    writer.apply(write).unwrap();
                }
            }
        }
        if close {
            let write = Write::Checkpoint { clock_ms: 0, finished: false, renew_lease: false, then_begin: false };
            writer.apply(write).unwrap();
        }
        // Dropped with its batch open: what was not committed is gone, as in a crash.
    }

    /// Every row of the attempts and their details, by id.
    fn rows(path: &std::path::Path) -> Vec<String> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut st = conn
            .prepare(
                "SELECT a.id, customer_id, attempt, started_ms, local_time, state, disposition, cause, ended_ms,
                 talk_ms, d.steps FROM attempts a LEFT JOIN attempt_details d ON d.attempt_id = a.id ORDER BY a.id",
            )
            .unwrap();
        let rows = st
            .query_map([], |r| {
                Ok(format!(
                    "{} {} {} {} {} {} {:?} {:?} {:?} {} {:?}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Begin),
            4 => (0usize..8, proptest::bool::weighted(0.1)).prop_map(|(n, failed)| Op::End(n, failed)),
            1 => Just(Op::Checkpoint),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Holding an attempt until its end leaves, at every commit, the rows writing each
        /// begin and end at once left: the same ids in the order the attempts started, the
        /// same values, live where the call was still on (so a crash leaves those for the next
        /// run's `interrupt_live`), nothing after the last commit.
        #[test]
        fn held_attempts_commit_as_straight_writes_did(
            ops in proptest::collection::vec(op(), 0..60),
            close: bool,
            hold in prop_oneof![Just(HOLD), 0usize..4],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (held, straight) = (dir.path().join("held.db"), dir.path().join("straight.db"));
            play(&held, &ops, true, close, hold);
            play(&straight, &ops, false, close, hold);
            let rows = rows(&held);
            prop_assert_eq!(&rows, &self::rows(&straight));
            let ids: Vec<i64> = rows.iter().map(|r| r.split(' ').next().unwrap().parse().unwrap()).collect();
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]));
        }
    }

    /// A crash between an attempt's begin and its end, after a commit: the attempt is in the
    /// store as live, and the next run's resume marks it interrupted (it counts against the
    /// customer's budget; the customer is not called again for that attempt).
    #[test]
    fn a_crash_between_begin_and_end_leaves_a_live_row_resume_interrupts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let ops = [Op::Begin, Op::Begin, Op::End(1, false), Op::Checkpoint, Op::Begin, Op::End(0, false)];
        play(&path, &ops, true, false, HOLD);
        let rows = rows(&path);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[0].starts_with("1 c0 1 ") && rows[0].contains(" live None "), "{rows:?}");
        assert!(rows[1].starts_with("2 c1 1 ") && rows[1].contains(" ended Some(\"busy\") "), "{rows:?}");
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.interrupt_live("T").unwrap(), 1);
        let past = store.past_attempts("T").unwrap();
        assert_eq!(
            past.iter().map(|p| (p.customer_id.as_str(), p.disposition.as_str())).collect::<Vec<_>>(),
            [("c0", "failed"), ("c1", "busy")]
        );
    }
}
