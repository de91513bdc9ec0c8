//! Where the loop's writes go. Real calls write straight to the store, in order, each attempt
//! durable before its dial ([`Writes::Direct`]). Simulated calls hand their writes to a writer
//! thread that owns the store ([`Writes::Behind`]): the store's work (about half of a
//! simulated campaign's) runs on one core while the scheduler and the calls run on another.
//! The writer applies the writes in the order they were sent, commits when told to, and stops
//! at its first error, which the run then returns; a crash loses what was not committed, as
//! the batched store always did, and a resumed run continues from the last commit.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender};

use jiff::ZonedDateTime;

use crate::store::{LeaseHolder, NewAttempt, RecordingRow, Store, StoreError};
use crate::telephony::CallResult;

use super::{LEASE_TTL_MS, Millis, Plan, RunError, finished};

/// Writes queued for the writer thread at most; the loop waits when it is that far ahead.
pub(super) const QUEUE: usize = 4_096;

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
    Finish {
        row: AttemptRow,
        result: Box<CallResult>,
        callback: Option<i64>,
        now: Millis,
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
    /// Each ticket's row, from its attempt's start to its end.
    rows: HashMap<i64, i64>,
}

impl<'s> Writer<'s> {
    pub fn new(plan: &'s Plan, store: &'s mut (dyn Store + Send), holder: &'s LeaseHolder) -> Writer<'s> {
        Writer { plan, store, holder, rows: HashMap::new() }
    }

    fn row(&mut self, row: AttemptRow) -> Option<i64> {
        match row {
            AttemptRow::Stored(id) => Some(id),
            AttemptRow::Ticket(ticket) => self.rows.remove(&ticket),
        }
    }

    fn apply(&mut self, write: Write) -> Result<(), StoreError> {
        let (plan, store) = (self.plan, &mut *self.store);
        match write {
            Write::Begin { ticket, start } => _ = self.rows.insert(ticket, begin(store, plan, &start)?),
            Write::Finish { row, result, callback, now } => {
                if let Some(row) = self.row(row) {
                    finish(self.store, plan, row, &result, callback, now)?;
                }
            }
            Write::CouldNotStart { row, cause, now } => {
                if let Some(row) = self.row(row) {
                    could_not_start(self.store, row, cause, now)?;
                }
            }
            Write::Dnc { phone, now } => _ = store.dnc_add(&phone, "optout", now)?,
            Write::Checkpoint { clock_ms, finished, renew_lease, then_begin } => {
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
    Behind { queue: SyncSender<Write>, next_ticket: i64 },
}

impl Writes<'_> {
    /// Writes the attempt (before its dial); the row to finish it by.
    pub fn begin_attempt(&mut self, start: AttemptStart) -> Result<AttemptRow, RunError> {
        match self {
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
            Writes::Behind { queue, .. } => queue.send(write).map_err(|_| RunError::WriterStopped),
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
pub(super) fn write_behind(mut writer: Writer, queue: Receiver<Write>) -> Result<(), StoreError> {
    for write in queue {
        writer.apply(write)?;
    }
    Ok(())
}

fn begin(store: &mut (dyn Store + Send), plan: &Plan, start: &AttemptStart) -> Result<i64, StoreError> {
    let customers = &plan.customers;
    let i = start.customer;
    let variant = &plan.variants[start.variant];
    let phone = customers.phone(i).to_string();
    let local = &start.local;
    store.begin_attempt(&NewAttempt {
        campaign: &plan.campaign_id,
        customer_id: customers.id(i),
        phone: &phone,
        attempt: start.attempt,
        started_ms: start.started_ms,
        local_time: local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        local_date: local.date().to_string(),
        local_hour: local.hour() as i64,
        script_sha256: &variant.script_sha256,
        allowed: &plan.allowed,
        segment: customers.segment(i),
        zone: customers.timezone(i).unwrap_or(plan.settings.schedule.timezone.iana_name().unwrap_or("UTC")),
        list: &plan.list,
        variant: &variant.script,
    })
}

fn finish(
    store: &mut (dyn Store + Send),
    plan: &Plan,
    row: i64,
    result: &CallResult,
    callback: Option<i64>,
    now: Millis,
) -> Result<(), StoreError> {
    store.finish_attempt(row, &finished(result, callback, now))?;
    if let Some((path, bytes)) = &result.recording {
        store.add_recording(&RecordingRow {
            attempt_id: row,
            campaign: plan.campaign_id.clone(),
            path: path.clone(),
            created_ms: now,
            bytes: *bytes as i64,
        })?;
    }
    Ok(())
}

fn could_not_start(store: &mut (dyn Store + Send), row: i64, cause: String, now: Millis) -> Result<(), StoreError> {
    let failed = crate::store::Finished {
        disposition: "failed".into(),
        cause: Some(format!("could not start: {cause}")),
        ended_ms: now,
        ..crate::store::Finished::default()
    };
    store.finish_attempt(row, &failed)
}
