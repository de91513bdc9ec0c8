//! The campaign store: what the scheduler, reports and exports read and write, as a trait
//! ([`Store`]) so that the scheduler does not know which database is behind it. The embedded
//! SQLite implementation is [`SqliteStore`]; a PostgreSQL one (several workers on one
//! campaign) implements the same trait, the same run lease included.
//!
//! Every attempt is inserted before it is dialled; a unique key on (campaign, customer,
//! attempt) makes a double dial impossible even across a crash.

pub(crate) mod counts;
mod postgres;
mod postgres_queue;
pub mod queue;
mod sqlite;

use std::collections::HashSet;
use std::path::PathBuf;

pub use counts::{AttemptCounts, AttemptGroup, BREAKDOWNS, By, Ending, GoalLet, Happened, Tally};
pub(crate) use counts::{CustomerSet, connected, customer_hash, summed};
pub use postgres::PostgresStore;
pub use sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteStore};

/// Why the store could not do what was asked, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is empty (0 bytes), not a CallScript store; it is not treated as a new campaign. Move it away (or point `store.url` elsewhere) to start afresh",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "{} is not a CallScript store ({reason}); refusing to use it. Point `store.url` at a CallScript store or at a path that does not exist yet",
        path.display()
    )]
    Foreign { path: PathBuf, reason: String },
    #[error(
        "the store {} has schema version {found}, newer than this callscript ({supported}); use a newer callscript",
        path.display()
    )]
    Newer { path: PathBuf, found: i64, supported: i64 },
    #[error("there is no store at {}: the campaign has never run", path.display())]
    Missing { path: PathBuf },
    #[error(
        "the store {} is in use by another run: {holder}; only one run per store at a time (wait for it to finish, or stop it with Ctrl-C)",
        path.display()
    )]
    Leased { path: PathBuf, holder: Box<LeaseHolder> },
    #[error("this run lost its lease on the store {} to {holder}; it stops to avoid two runs on one store", path.display())]
    LeaseLost { path: PathBuf, holder: String },
    #[error(
        "the store {} is busy: another process holds its write lock (SQLite: {source}); only one run per store at a time",
        path.display()
    )]
    Busy {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "store {}: a batch of attempts was given ids up to {got} where {expected} was due; nothing of the batch is kept",
        path.display()
    )]
    IdsOutOfOrder { path: PathBuf, expected: i64, got: i64 },
    #[error("store {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL store (CAMPAIGN.md §6), named by its URL without the password.
    #[error("store {url}: {}", with_causes(source))]
    Postgres {
        url: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error(
        "the store {url} has schema version {found}, newer than this callscript ({supported}); use a newer callscript"
    )]
    NewerDatabase { url: String, found: i64, supported: i64 },
    #[error(
        "the store {url} is in use by another run: {holder}; one run per campaign store at a time until `callscript worker` shares it"
    )]
    LeasedDatabase { url: String, holder: Box<LeaseHolder> },
    #[error("this run lost its lease on the store {url} to {holder}; it stops to avoid two runs on one store")]
    LeaseLostDatabase { url: String, holder: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// Whether the connection to a shared store was lost (the server restarted, the network
    /// dropped): a worker then keeps its calls going and its results in memory, and connects
    /// again, instead of stopping.
    pub fn is_connection_lost(&self) -> bool {
        let StoreError::Postgres { source, .. } = self else { return false };
        if source.is_closed() {
            return true;
        }
        let mut cause = std::error::Error::source(source);
        while let Some(c) = cause {
            if c.downcast_ref::<std::io::Error>().is_some() {
                return true;
            }
            cause = c.source();
        }
        // The server ended this session (an administrator, a restart).
        source.code().is_some_and(|code| code.code().starts_with("57P") || code.code().starts_with("08"))
    }
}

/// An error and its causes in one line: the PostgreSQL client's own message ("error
/// connecting to server") says nothing without the cause under it ("Connection refused").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Who holds a store's run lease: the same row design for SQLite and PostgreSQL workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    /// Unique per process run: `host:pid:started_ms`.
    pub token: String,
    pub host: String,
    pub pid: u32,
    pub campaign: String,
    pub acquired_ms: i64,
    pub heartbeat_ms: i64,
    pub expires_ms: i64,
}

impl std::fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        write!(
            f,
            "process {} on host {} (campaign {}, since {}, last heartbeat {}, lease expires {})",
            self.pid,
            self.host,
            self.campaign,
            at(self.acquired_ms),
            at(self.heartbeat_ms),
            at(self.expires_ms)
        )
    }
}

impl LeaseHolder {
    /// This process, about to run `campaign` at wall time `now_ms` for `ttl_ms`.
    pub fn this_process(campaign: &str, now_ms: i64, ttl_ms: i64) -> LeaseHolder {
        let host = host_name();
        let pid = std::process::id();
        LeaseHolder {
            token: format!("{host}:{pid}:{now_ms}"),
            host,
            pid,
            campaign: campaign.to_string(),
            acquired_ms: now_ms,
            heartbeat_ms: now_ms,
            expires_ms: now_ms + ttl_ms,
        }
    }

    /// Whether this lease still stands at `now_ms` for another process: not expired, and —
    /// when it was taken on this host — its process is still alive (a `kill -9`ed run does
    /// not block the restart until the lease expires).
    pub fn blocks(&self, now_ms: i64, me: &LeaseHolder) -> bool {
        if self.token == me.token || self.expires_ms <= now_ms {
            return false;
        }
        self.host != me.host || process_alive(self.pid)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process of this host is alive (on systems without `/proc`, assumed alive: the
/// lease then frees itself when it expires).
fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    // A zombie (killed, not yet reaped by its parent) is dead for our purpose.
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// An attempt as inserted before dialling.
#[derive(Clone, Debug)]
pub struct NewAttempt<'a> {
    pub campaign: &'a str,
    pub customer_id: &'a str,
    pub phone: &'a str,
    pub attempt: u32,
    pub started_ms: i64,
    pub local_time: String,
    pub local_date: String,
    pub local_hour: i64,
    pub script_sha256: &'a str,
    pub allowed: &'a str,
    /// The customer's `segment` column, if the list has one.
    pub segment: Option<&'a str>,
    /// The customer's time zone (the campaign's when the list gives none).
    pub zone: &'a str,
    /// The customer list's file name.
    pub list: &'a str,
    /// The script the call runs (A/B campaigns run two).
    pub variant: &'a str,
}

/// A script's `let` as an attempt ended with it (LANGUAGE.md §11 "Results").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLet {
    pub name: String,
    /// The type's name as a script writes it (`money`, `date`, …).
    pub ty: String,
    /// The literal form (`3500.00`, `2026-11-25`); `None` for a sensitive let, whose value
    /// is never stored.
    pub value: Option<String>,
}

/// One call of an action as stored with its attempt (CAMPAIGN.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAction {
    pub name: String,
    pub ok: bool,
    pub latency_ms: i64,
    pub cause: Option<String>,
}

/// A text message as stored with its attempt: the text with sensitive values masked, and
/// what became of it (`sent`, `failed`, `simulated`, `queued`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub text: String,
    pub status: String,
    pub cause: Option<String>,
}

/// What an attempt ended with.
#[derive(Clone, Debug, Default)]
pub struct Finished {
    pub disposition: String,
    pub cause: Option<String>,
    pub outcome: Option<String>,
    pub goal: bool,
    pub ended_ms: i64,
    pub talk_ms: i64,
    pub last_step: Option<String>,
    pub steps: String,
    pub tags: String,
    pub objections: String,
    pub unrecognised: String,
    pub transcript: String,
    pub callback_ms: Option<i64>,
    /// The script's lets in declaration order (none when the script did not run).
    pub lets: Vec<StoredLet>,
    /// The calls of actions, in order.
    pub actions: Vec<StoredAction>,
    /// The text messages, in order.
    pub messages: Vec<StoredMessage>,
    /// What a transfer handed to the agent: (key, value), sensitive values masked.
    pub handover: Vec<(String, String)>,
}

/// An ended attempt, as the scheduler needs it to resume.
#[derive(Clone, Debug)]
pub struct PastAttempt {
    pub customer_id: String,
    pub attempt: u32,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub disposition: String,
    pub outcome: Option<String>,
    pub callback_ms: Option<i64>,
}

/// The stored campaign: its script's hash, its clock, whether it finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCampaign {
    pub script_sha256: String,
    pub clock_ms: i64,
    pub finished: bool,
}

/// A campaign's live numbers, as the store counts them (the wallboard's, `callscript serve`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BoardCounts {
    /// Attempts live now (every process on the store).
    pub live: u64,
    /// Attempts ended, answered among them (the customer picked up), goal outcomes.
    pub ended: u64,
    pub answered: u64,
    pub goals: u64,
    /// The latest start of any attempt (the campaign's clock as far as calls show it).
    pub latest_start_ms: Option<i64>,
    /// Attempts started within the window before the latest start.
    pub recent_starts: u64,
    /// Ended attempts by the customer's local hour, in order.
    pub by_hour: Vec<HourCounts>,
}

/// Ended attempts of one local hour of the day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourCounts {
    pub hour: i64,
    pub attempts: u64,
    pub answered: u64,
    pub goals: u64,
}

/// The dispositions of a call the customer picked up, as SQL (`Disposition::connected`).
pub(crate) const CONNECTED_SQL: &str = "('answered', 'customer_hangup')";

/// One row of the `--attempts` export and the reports.
#[derive(Clone, Debug, Default)]
pub struct AttemptRow {
    /// The store's id of the attempt (recordings refer to it).
    pub id: i64,
    pub customer_id: String,
    pub phone: String,
    pub attempt: u32,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub local_time: String,
    pub local_hour: i64,
    pub disposition: String,
    pub cause: Option<String>,
    pub outcome: Option<String>,
    pub goal: bool,
    pub talk_ms: i64,
    pub last_step: Option<String>,
    pub steps: String,
    pub objections: String,
    pub unrecognised: String,
    /// `ended`, or a state this callscript does not know (written by a newer one, or by
    /// hand): such rows are exported, not dropped (see docs/campaigns.md).
    pub state: String,
    /// The script's lets at the end of the call, in declaration order; empty when the
    /// script did not run (or the attempt was stored before lets were kept).
    pub lets: Vec<StoredLet>,
    /// The calls of actions and the text messages, in order.
    pub actions: Vec<StoredAction>,
    pub messages: Vec<StoredMessage>,
    /// The script's tags (JSON list).
    pub tags: String,
    /// Where the attempt came from (None for attempts stored before schema 7).
    pub segment: Option<String>,
    pub zone: Option<String>,
    pub list: Option<String>,
    pub variant: Option<String>,
}

/// A number of the do-not-call list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DncEntry {
    pub phone: String,
    /// `import`, or what else added it.
    pub source: String,
    pub added_ms: i64,
}

/// A recording of an attempt, as stored when its writer finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingRow {
    pub attempt_id: i64,
    pub campaign: String,
    pub path: String,
    pub created_ms: i64,
    pub bytes: i64,
}

/// One export of a recording, successful or not, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    /// Assigned by the store; ignored by `log_export`.
    pub id: i64,
    pub path: String,
    /// None when a recording given by file could not be read far enough to know it.
    pub attempt_id: Option<i64>,
    pub exported_ms: i64,
    pub exported_by: String,
    pub destination: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// A campaign store. Writes between [`Store::begin`] and [`Store::commit`] form one batch; a
/// committed batch survives `kill -9`.
pub trait Store {
    /// Starts a batch of writes (no-op when one is open).
    fn begin(&mut self) -> Result<()>;
    /// Makes the open batch durable (no-op when none is open).
    fn commit(&mut self) -> Result<()>;

    /// Takes the store's run lease for `me`, or says who holds it. Committed at once.
    fn acquire_lease(&mut self, me: &LeaseHolder) -> Result<()>;
    /// Moves `me`'s heartbeat and expiry forward (in the open batch, if any); fails when
    /// another process took the lease.
    fn renew_lease(&mut self, me: &LeaseHolder, now_ms: i64, expires_ms: i64) -> Result<()>;
    /// Gives the lease up (committed at once).
    fn release_lease(&mut self, me: &LeaseHolder) -> Result<()>;

    fn campaign(&self, id: &str) -> Result<Option<StoredCampaign>>;
    fn save_campaign(&mut self, id: &str, sha: &str, script: &str, clock_ms: i64, settings: &str) -> Result<()>;
    fn set_clock(&mut self, id: &str, clock_ms: i64, finished: bool) -> Result<()>;
    fn campaign_ids(&self) -> Result<Vec<String>>;

    /// After a crash: attempts that were live become `failed` with cause `interrupted` (they
    /// count against the retry budget). Returns how many.
    fn interrupt_live(&mut self, campaign: &str) -> Result<usize>;
    /// Inserts an attempt before it is dialled; fails when that (customer, attempt) exists.
    fn begin_attempt(&mut self, a: &NewAttempt) -> Result<i64>;
    fn finish_attempt(&mut self, id: i64, f: &Finished) -> Result<()>;
    /// An attempt whose call already ended, written once with its end (what
    /// [`Store::begin_attempt`] then [`Store::finish_attempt`] leave): the writer thread of a
    /// simulated campaign holds an attempt until its end when both fall in one batch. Its id
    /// is the next, as `begin_attempt`'s. The default is those two writes.
    fn record_attempt(&mut self, a: &NewAttempt, f: &Finished) -> Result<i64> {
        let id = self.begin_attempt(a)?;
        self.finish_attempt(id, f)?;
        Ok(id)
    }
    /// Attempts whose calls already ended, each written as [`Store::record_attempt`] writes
    /// it, in order (their ids, in the same order); a store may write many in one statement.
    fn record_attempts(&mut self, ended: &[(&NewAttempt, &Finished)]) -> Result<Vec<i64>> {
        ended.iter().map(|(a, f)| self.record_attempt(a, f)).collect()
    }
    /// Every attempt of a campaign, in order, to rebuild the scheduler's state.
    fn past_attempts(&self, campaign: &str) -> Result<Vec<PastAttempt>>;
    /// Calls placed to each phone on each local date, across every campaign (for the caps).
    fn placed_by_phone_and_date(&self) -> Result<Vec<(String, String, u32)>>;
    /// Every attempt of a campaign that is not live, for reports and the export, in the order
    /// they were placed (the store's id).
    fn attempt_rows(&self, campaign: &str) -> Result<Vec<AttemptRow>>;
    /// One attempt of a campaign (not live), as [`Store::attempt_rows`] holds it.
    fn attempt(&self, campaign: &str, customer_id: &str, attempt: u32) -> Result<Option<AttemptRow>> {
        let mut found = None;
        self.each_attempt(campaign, &mut |r| {
            if r.customer_id == customer_id && r.attempt == attempt {
                found = Some(r);
            }
        })?;
        Ok(found)
    }
    /// [`Store::attempt_rows`] one at a time, none held after `f` returns: reports of
    /// millions of attempts stay flat in memory. The default collects them first.
    fn each_attempt(&self, campaign: &str, f: &mut dyn FnMut(AttemptRow)) -> Result<()> {
        self.attempt_rows(campaign)?.into_iter().for_each(f);
        Ok(())
    }
    /// The campaign's attempts that are not live, tallied as a report reads them (what
    /// `report::ReportBuilder::add_counts` makes the report of): each figure on its own, each
    /// distinct value read once, not once per attempt. The default tallies
    /// [`Store::each_attempt`]'s rows; the SQLite store keeps the tallies as attempts end and
    /// reads those, the PostgreSQL store groups in SQL.
    fn attempt_counts(&self, campaign: &str) -> Result<AttemptCounts> {
        let mut counter = counts::Counter::default();
        self.each_attempt(campaign, &mut |r| counter.row(&r))?;
        Ok(counter.finish())
    }
    /// The live numbers of a campaign, for the wallboard: `window_ms` is the span of
    /// campaign time before the latest start over which starts are counted.
    fn board(&self, campaign: &str, window_ms: i64) -> Result<BoardCounts>;
    /// The stored transcript of one attempt (JSON).
    fn transcript(&self, campaign: &str, customer_id: &str, attempt: u32) -> Result<Option<String>>;

    fn dnc_add(&mut self, phone: &str, source: &str, at_ms: i64) -> Result<bool>;
    fn dnc(&self) -> Result<HashSet<String>>;
    /// The do-not-call list with where each number came from, in the order they were added.
    fn dnc_entries(&self) -> Result<Vec<DncEntry>>;
    /// Takes a number off the list; false when it was not on it.
    fn dnc_remove(&mut self, phone: &str) -> Result<bool>;

    fn add_recording(&mut self, r: &RecordingRow) -> Result<()>;
    /// A campaign's recordings, oldest first.
    fn recordings(&self, campaign: &str) -> Result<Vec<RecordingRow>>;
    /// Appends to the export audit log; returns the entry's id.
    fn log_export(&mut self, e: &ExportRow) -> Result<i64>;
    /// The export audit log, in order.
    fn exports(&self) -> Result<Vec<ExportRow>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_blocks_others_until_it_expires_or_its_process_is_gone() {
        let me = LeaseHolder::this_process("c", 1_000, 30_000);
        let mut other = LeaseHolder { token: "elsewhere:1:0".into(), host: "elsewhere".into(), ..me.clone() };
        assert!(other.blocks(2_000, &me), "a live lease of another host blocks");
        assert!(!other.blocks(31_000, &me), "an expired lease does not");
        assert!(!me.blocks(2_000, &me), "our own lease does not block us");
        // On this host, a process that is gone (pid far above pid_max) frees the lease at once.
        other.host = me.host.clone();
        other.pid = u32::MAX - 1;
        assert!(!other.blocks(2_000, &me));
        other.pid = std::process::id();
        other.token = "same-host-other-run".into();
        assert!(other.blocks(2_000, &me), "a live process of this host blocks");
    }
}
