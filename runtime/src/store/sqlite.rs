//! The embedded store: SQLite (bundled) in WAL mode, schema versioned by `user_version` with
//! forward migrations and marked as ours by `application_id`. Files are created `0600` (they
//! hold names, phones and transcripts), a new store appears at its path only once its schema is
//! in place, and a file that is empty or not ours is refused rather than taken for a new
//! campaign.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::counts::{Counter, Kept, Kind, LetsOf};
use super::{
    AttemptCounts, AttemptRow, BREAKDOWNS, BoardCounts, By, CONNECTED_SQL, DncEntry, ExportRow, Finished, Happened,
    HourCounts, LeaseHolder, NewAttempt, PastAttempt, RecordingRow, Result, Store, StoreError, StoredAction,
    StoredCampaign, StoredLet, StoredMessage,
};

/// The current schema version; `migrate` brings older stores up to it.
pub const SCHEMA_VERSION: i64 = 10;

/// Attempts written by one multi-row `INSERT` at most: a statement's own work (binding,
/// reset, the statement cache's look-up by its text) was about a third of writing a
/// simulated call's attempt.
const ATTEMPTS_AT_ONCE: usize = 16;
/// Lets written by one statement at most (a script has a few per call).
const LETS_AT_ONCE: usize = 32;

/// An `INSERT OR FAIL` of `rows` rows of `columns` parameters each: `head VALUES (?1, ?2),
/// (?3, ?4)`. `OR FAIL`, and no explicit rowid: SQLite then writes many rows without a
/// statement journal (a copy of every page the statement touches, so that a conflict half
/// way could undo it; a conflict fails the run's whole transaction here anyway).
fn insert_rows_sql(head: &str, columns: usize, rows: usize) -> String {
    let row = |k: usize| {
        let params: Vec<String> = (1..=columns).map(|c| format!("?{}", k * columns + c)).collect();
        format!("({})", params.join(", "))
    };
    format!("INSERT OR FAIL INTO {head} VALUES {}", (0..rows).map(row).collect::<Vec<_>>().join(", "))
}

/// The `INSERT`s of 1 to `most` rows of a table, by row count.
fn insert_sqls(head: &str, columns: usize, most: usize) -> Vec<String> {
    (1..=most).map(|rows| insert_rows_sql(head, columns, rows)).collect()
}

/// Binds row `row` of a multi-row statement whose rows have `values.len()` parameters each.
fn bind_row(
    statement: &mut rusqlite::Statement<'_>,
    row: usize,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    for (c, value) in values.iter().enumerate() {
        statement.raw_bind_parameter(row * values.len() + c + 1, value)?;
    }
    Ok(())
}

/// Binds an attempt as row `row` of [`ATTEMPTS_SQL`]: live (`end` None: its end's columns
/// empty, as `finish_attempt` finds them) or ended with `end`.
fn bind_attempt(
    statement: &mut rusqlite::Statement<'_>,
    row: usize,
    a: &NewAttempt,
    end: Option<&Finished>,
) -> rusqlite::Result<()> {
    let values: [&dyn rusqlite::ToSql; ATTEMPT_COLUMNS] = [
        &a.campaign,
        &a.customer_id,
        &a.phone,
        &a.attempt,
        &a.started_ms,
        &a.local_time,
        &a.local_date,
        &a.local_hour,
        &if end.is_some() { "ended" } else { "live" },
        &a.script_sha256,
        &a.allowed,
        &a.segment,
        &a.zone,
        &a.list,
        &a.variant,
        &end.map(|f| f.disposition.as_str()),
        &end.and_then(|f| f.cause.as_deref()),
        &end.and_then(|f| f.outcome.as_deref()),
        &end.map_or(0, |f| f.goal as i64),
        &end.map(|f| f.ended_ms),
        &end.map_or(0, |f| f.talk_ms),
        &end.and_then(|f| f.last_step.as_deref()),
        &end.and_then(|f| f.callback_ms),
    ];
    bind_row(statement, row, &values)
}

/// An attempt's row (its id is SQLite's next).
const ATTEMPT_COLUMNS: usize = 23;
static ATTEMPTS_SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    insert_sqls(
        "attempts (campaign, customer_id, phone, attempt, started_ms, local_time, local_date, local_hour, state,
         script_sha256, allowed, segment, zone, list, variant, disposition, cause, outcome, goal, ended_ms,
         talk_ms, last_step, callback_ms)",
        ATTEMPT_COLUMNS,
        ATTEMPTS_AT_ONCE,
    )
});
const LET_COLUMNS: usize = 5;
static LETS_SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    insert_sqls("attempt_lets (attempt_id, position, name, type, value)", LET_COLUMNS, LETS_AT_ONCE)
});

/// The page size of a new store. A store is mostly appended to (attempts, their details and
/// lets), and SQLite writes every page twice (to the WAL, then at the checkpoint) with a system
/// call each: 16 KiB pages write a 1M-customer simulated campaign's 1.5 GB with a quarter of
/// the calls of SQLite's default 4 KiB, and cost a real call's commit (a few pages) little
/// ("Measured: customers at scale"). Stores made before keep theirs.
const PAGE_SIZE: i64 = 16_384;
/// The WAL's size at which SQLite checkpoints it into the store.
const WAL_CHECKPOINT_BYTES: i64 = 40 << 20;

/// `PRAGMA application_id` of a CallScript store ("CSc1").
pub const APPLICATION_ID: i64 = 0x4353_6331;

const MIGRATIONS: &[&str] = &[
    // 1: campaigns, attempts, the do-not-call list.
    "CREATE TABLE campaigns (
        id TEXT PRIMARY KEY,
        script_sha256 TEXT NOT NULL,
        script_name TEXT NOT NULL,
        clock_ms INTEGER NOT NULL,
        finished INTEGER NOT NULL DEFAULT 0,
        settings TEXT NOT NULL
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        campaign TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_ms INTEGER NOT NULL,
        local_time TEXT NOT NULL,
        local_date TEXT NOT NULL,
        local_hour INTEGER NOT NULL,
        state TEXT NOT NULL,
        disposition TEXT,
        cause TEXT,
        outcome TEXT,
        goal INTEGER NOT NULL DEFAULT 0,
        ended_ms INTEGER,
        talk_ms INTEGER NOT NULL DEFAULT 0,
        last_step TEXT,
        callback_ms INTEGER,
        script_sha256 TEXT NOT NULL,
        allowed TEXT NOT NULL DEFAULT '{}',
        UNIQUE (campaign, customer_id, attempt)
    );
    -- What a call said and did, appended when it ends (kept apart so the attempts rows stay
    -- small and their pages do not split when a call ends).
    CREATE TABLE attempt_details (
        attempt_id INTEGER PRIMARY KEY REFERENCES attempts (id),
        steps TEXT NOT NULL,
        tags TEXT NOT NULL,
        objections TEXT NOT NULL,
        unrecognised TEXT NOT NULL,
        transcript TEXT NOT NULL
    );
    CREATE TABLE dnc (
        phone TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        added_ms INTEGER NOT NULL
    );",
    // 2: encrypted call recordings, and the audit log of every export (kept even when it failed).
    "CREATE TABLE recordings (
        attempt_id INTEGER NOT NULL,
        campaign TEXT NOT NULL,
        path TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    );
    CREATE INDEX recordings_by_campaign ON recordings (campaign, attempt_id);
    CREATE TABLE recording_exports (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        attempt_id INTEGER,
        exported_ms INTEGER NOT NULL,
        exported_by TEXT NOT NULL,
        destination TEXT NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT
    );",
    // 3: the run lease (one run per store; the same row PostgreSQL workers take), and the
    // application id that tells our stores from other SQLite files.
    "CREATE TABLE run_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        token TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        campaign TEXT NOT NULL,
        acquired_ms INTEGER NOT NULL,
        heartbeat_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    PRAGMA application_id = 1129538353;",
    // 4: the script's lets as each call ended them (LANGUAGE.md §11 "Results"), one row per
    // let in declaration order, written with the attempt's details when its call ends. `value`
    // is the literal form (`3500.00`, `2026-11-25`), NULL for a sensitive let: never stored.
    "CREATE TABLE attempt_lets (
        attempt_id INTEGER NOT NULL REFERENCES attempts (id),
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (attempt_id, position)
    ) WITHOUT ROWID;",
    // 5: what a call did outside the conversation (LANGUAGE.md §13, CAMPAIGN.md §5): each call
    // of an action (latency, ok or the cause), each text message (masked) and what became of
    // it, and what a transfer handed to the agent (masked), in order, with the attempt.
    "CREATE TABLE attempt_actions (
        attempt_id INTEGER NOT NULL REFERENCES attempts (id),
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms INTEGER NOT NULL,
        cause TEXT,
        PRIMARY KEY (attempt_id, position)
    ) WITHOUT ROWID;
    CREATE TABLE attempt_messages (
        attempt_id INTEGER NOT NULL REFERENCES attempts (id),
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        cause TEXT,
        PRIMARY KEY (attempt_id, position)
    ) WITHOUT ROWID;
    CREATE TABLE attempt_handovers (
        attempt_id INTEGER NOT NULL REFERENCES attempts (id),
        position INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (attempt_id, position)
    ) WITHOUT ROWID;",
    // 6: several workers on one campaign (CAMPAIGN.md §6): each customer's place in the
    // shared queue (with what a worker needs to call them, so any worker can), the workers and
    // their heartbeats, each campaign's pace (the clock simulated workers share, the next dial
    // token), the worker holding each live attempt, and the index the caps are counted with.
    "CREATE TABLE campaign_customers (
        campaign TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        timezone TEXT,
        inputs TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'open',
        next_at_ms INTEGER NOT NULL,
        PRIMARY KEY (campaign, customer_id)
    );
    CREATE INDEX campaign_customers_due ON campaign_customers (campaign, state, next_at_ms);
    CREATE TABLE workers (
        token TEXT PRIMARY KEY,
        campaign TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_ms INTEGER NOT NULL,
        heartbeat_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        draining INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE campaign_pace (
        campaign TEXT PRIMARY KEY,
        epoch_wall_ms INTEGER NOT NULL,
        epoch_clock_ms INTEGER NOT NULL,
        speed REAL NOT NULL,
        next_token_ms INTEGER NOT NULL
    );
    ALTER TABLE attempts ADD COLUMN worker TEXT;
    CREATE INDEX attempts_by_phone_date ON attempts (phone, local_date);
    CREATE INDEX attempts_live ON attempts (campaign, worker) WHERE state = 'live';",
    // 7: where each attempt came from, for the report's breakdowns and A/B scripts (CAMPAIGN.md
    // §7): the customer's segment, zone and list (the customer file's name), and the script
    // (variant) it ran; the shared queue keeps segment and list with each customer.
    "ALTER TABLE attempts ADD COLUMN segment TEXT;
    ALTER TABLE attempts ADD COLUMN zone TEXT;
    ALTER TABLE attempts ADD COLUMN list TEXT;
    ALTER TABLE attempts ADD COLUMN variant TEXT;
    ALTER TABLE campaign_customers ADD COLUMN segment TEXT;
    ALTER TABLE campaign_customers ADD COLUMN list TEXT;",
    // 8: a campaign's attempts in the order they were placed, read by reports as a stream
    // without sorting (a million attempts: no temporary B-tree).
    "CREATE INDEX attempts_by_campaign ON attempts (campaign, id);",
    // 9: no index by phone. Only a resume reads attempts by phone (the caps, once per run, a
    // scan), while every attempt inserted into it landed on a random page: on a million-call
    // campaign it doubled the store's work and rewrote most of its pages at every commit.
    "DROP INDEX attempts_by_phone_date;",
    // 10: each campaign's report tallies (issue 19), kept as attempts end, so that a report
    // reads a few thousand rows instead of every attempt: the items of `counts::Counter` as
    // `Kept` (a kind, the item's value encoded, its count and talk time, and the first and last
    // place it was counted at, which order the report's lists), each the sum of the batches
    // that counted it. A campaign's tallies hold every attempt that is not live once it is in
    // `report_tallied`: a campaign is from its first save when it has no attempt yet; those of
    // an older store are tallied from their attempts by the first report that can write.
    "CREATE TABLE report_tallies (
        campaign TEXT NOT NULL,
        kind INTEGER NOT NULL,
        key BLOB NOT NULL,
        count INTEGER NOT NULL,
        talk_ms INTEGER NOT NULL,
        first_mark INTEGER NOT NULL,
        last_mark INTEGER NOT NULL,
        PRIMARY KEY (campaign, kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE report_tallied (campaign TEXT PRIMARY KEY);",
];

/// Maps SQLite's errors to the store's, with the file; "database is locked" becomes a clear
/// refusal.
trait Context<T> {
    fn ctx(self, path: &Path) -> Result<T>;
}

/// The details of attempt `key` from a cursor in the attempts' order, skipping any of
/// attempts before it (none, unless the store was edited by hand).
fn take_for<T>(
    cursor: &mut std::iter::Peekable<impl Iterator<Item = rusqlite::Result<(i64, T)>>>,
    key: i64,
) -> rusqlite::Result<Vec<T>> {
    let mut found = Vec::new();
    while let Some(next) = cursor.peek() {
        match next {
            Ok((at, _)) if *at > key => break,
            Ok((at, _)) if *at < key => {
                cursor.next();
            }
            Ok(_) => found.push(cursor.next().expect("peeked")?.1),
            Err(_) => return Err(cursor.next().expect("peeked").err().expect("an error")),
        }
    }
    Ok(found)
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, path: &Path) -> Result<T> {
        self.map_err(|source| {
            let path = path.to_path_buf();
            match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    StoreError::Busy { path, source }
                }
                _ => StoreError::Sqlite { path, source },
            }
        })
    }
}

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    in_transaction: bool,
    /// The open batch's attempts that ended, counted by campaign: added to the kept tallies
    /// (`report_tallies`) with the batch's commit, so the tallies and the attempts move
    /// together.
    ended: RefCell<HashMap<String, Counter>>,
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl SqliteStore {
    /// Opens a store, creating it (0600, schema in place) when nothing is at `path`. An empty
    /// or foreign file is refused.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path)?,
            Err(source) => return Err(StoreError::Open { path: path.to_path_buf(), source }),
            Ok(_) => {}
        }
        Self::open_existing(path)
    }

    /// Opens a store that must exist already (`report`): nothing is created when it does not.
    pub fn open_existing(path: &Path) -> Result<SqliteStore> {
        let meta = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing { path: path.to_path_buf() });
            }
            Err(source) => return Err(StoreError::Open { path: path.to_path_buf(), source }),
            Ok(m) => m,
        };
        if !meta.is_file() {
            return Err(StoreError::Foreign { path: path.to_path_buf(), reason: "not a regular file".into() });
        }
        if meta.len() == 0 {
            return Err(StoreError::Empty { path: path.to_path_buf() });
        }
        let mut header = [0u8; 16];
        let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header));
        if read.is_err() || &header != SQLITE_HEADER {
            return Err(StoreError::Foreign { path: path.to_path_buf(), reason: "not a SQLite database".into() });
        }
        private(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .ctx(path)?;
        // WAL: readers (reports) never block the runner. synchronous=NORMAL survives a killed
        // process (the WAL is written before every commit returns). A writer waits up to 5 s
        // for another's lock, then gets a clear refusal (StoreError::Busy).
        conn.execute_batch(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;",
        )
        .ctx(path)?;
        // A checkpoint once the WAL holds about 40 MB, whatever the store's page size.
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).ctx(path)?;
        conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {};", WAL_CHECKPOINT_BYTES / page_size.max(512)))
            .ctx(path)?;
        // Room for every statement a run repeats (the lets' several among them): a statement
        // pushed out of the cache is compiled again the next time.
        conn.set_prepared_statement_cache_capacity(64);
        let mut store =
            SqliteStore { conn, path: path.to_path_buf(), in_transaction: false, ended: RefCell::default() };
        store.identify()?;
        store.migrate()?;
        Ok(store)
    }

    /// Builds a new store beside `path` and links it into place once its schema is in, so a
    /// crash never leaves a half-made (or 0-byte) store at `path`.
    fn create(path: &Path) -> Result<()> {
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "store".into());
        let temp = path.with_file_name(format!(".{name}.new-{}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).map_err(open_err)?;
        let built = (|| -> Result<()> {
            let conn = Connection::open(&temp).ctx(&temp)?;
            // The page size is fixed when the first table is made, so it is set here.
            conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}; PRAGMA journal_mode = WAL;")).ctx(&temp)?;
            let mut store = SqliteStore { conn, path: temp.clone(), in_transaction: false, ended: RefCell::default() };
            store.migrate()?;
            // Closing the last connection checkpoints and removes the WAL.
            store.conn.close().map_err(|(_, e)| e).ctx(&temp)
        })();
        let linked = built.and_then(|()| match std::fs::hard_link(&temp, path) {
            // Another process created it meanwhile: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(_) => std::fs::rename(&temp, path).map_err(open_err),
            Ok(()) => Ok(()),
        });
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", temp.display()));
        }
        linked
    }

    /// Refuses SQLite files that are not CallScript stores (another program's, or one
    /// without our schema).
    fn identify(&self) -> Result<()> {
        let foreign = |reason: String| StoreError::Foreign { path: self.path.clone(), reason };
        let (app, version): (i64, i64) = self
            .conn
            .query_row("SELECT application_id, user_version FROM pragma_application_id, pragma_user_version", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .ctx(&self.path)?;
        if app == APPLICATION_ID {
            return Ok(());
        }
        if app != 0 {
            return Err(foreign(format!("its application id is {app:#x}, another program's")));
        }
        // Stores made before the application id (schema 1–2) are ours when their tables are.
        let tables: HashSet<String> =
            self.rows("SELECT name FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))?;
        if version == 0 {
            return Err(foreign(if tables.is_empty() {
                "an empty SQLite database, without CallScript's schema".into()
            } else {
                format!("a SQLite database of another schema (tables: {})", sorted(&tables))
            }));
        }
        if !["campaigns", "attempts", "dnc"].iter().all(|t| tables.contains(*t)) {
            return Err(foreign(format!("schema version {version} but not CallScript's tables ({})", sorted(&tables))));
        }
        Ok(())
    }

    /// Brings the schema up to [`SCHEMA_VERSION`], one migration per transaction. A current
    /// store is only read (a `report` never waits for a run's write lock). Otherwise the
    /// version is read again under the write lock, so two processes opening an old store at
    /// once (a `run` and a `report`) each see the other's migration and never apply one twice;
    /// a migration that fails (a full disk) leaves the store at the version before it.
    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx(&path)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer { path, found: version, supported: SCHEMA_VERSION });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        loop {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx(&path)?;
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).ctx(&path)?;
            if version > SCHEMA_VERSION {
                return Err(StoreError::Newer { path, found: version, supported: SCHEMA_VERSION });
            }
            let Some(sql) = MIGRATIONS.get(version as usize) else { return Ok(()) };
            tx.execute_batch(sql).ctx(&path)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1)).ctx(&path)?;
            tx.commit().ctx(&path)?;
        }
    }

    /// The attempts of a campaign in the order they were placed, each with its lets, actions and messages:
    /// four cursors in the same order, merged as they go, so no attempt is held after `f`.
    /// `only`: the one attempt (customer, attempt number) to read, by the unique index.
    fn stream_attempts(
        &self,
        campaign: &str,
        only: Option<(&str, u32)>,
        f: &mut dyn FnMut(AttemptRow),
    ) -> rusqlite::Result<()> {
        let (one, params): (&str, Vec<&dyn rusqlite::ToSql>) = match &only {
            Some((customer, attempt)) => {
                ("AND a.customer_id = ?2 AND a.attempt = ?3", vec![&campaign, customer, attempt])
            }
            None => ("", vec![&campaign]),
        };
        let params = params.as_slice();
        let mut attempts = self.conn.prepare(&format!(
            "SELECT customer_id, phone, attempt, started_ms, local_time, local_hour, COALESCE(disposition, 'unknown'),
             cause, outcome, goal, talk_ms, last_step, COALESCE(d.steps, '[]'), COALESCE(d.objections, '[]'),
             COALESCE(d.unrecognised, '[]'), COALESCE(ended_ms, started_ms), state, a.id, COALESCE(d.tags, '[]'),
             segment, zone, list, variant
             FROM attempts a LEFT JOIN attempt_details d ON d.attempt_id = a.id
             WHERE campaign = ?1 AND state != 'live' {one} ORDER BY a.id"
        ))?;
        // Each detail table in the attempts' order, then its own position.
        let detail = |columns: &str, table: &str| {
            format!(
                "SELECT x.attempt_id, {columns} FROM attempts a JOIN {table} x ON x.attempt_id = a.id
                 WHERE a.campaign = ?1 AND a.state != 'live' {one} ORDER BY a.id, x.position"
            )
        };
        let mut lets = self.conn.prepare(&detail("x.name, x.type, x.value", "attempt_lets"))?;
        let mut lets = lets
            .query_map(params, |r| Ok((r.get(0)?, StoredLet { name: r.get(1)?, ty: r.get(2)?, value: r.get(3)? })))?
            .peekable();
        let mut actions = self.conn.prepare(&detail("x.name, x.ok, x.latency_ms, x.cause", "attempt_actions"))?;
        let mut actions = actions
            .query_map(params, |r| {
                let action = StoredAction {
                    name: r.get(1)?,
                    ok: r.get::<_, i64>(2)? != 0,
                    latency_ms: r.get(3)?,
                    cause: r.get(4)?,
                };
                Ok((r.get(0)?, action))
            })?
            .peekable();
        let mut messages = self.conn.prepare(&detail("x.text, x.status, x.cause", "attempt_messages"))?;
        let mut messages = messages
            .query_map(params, |r| {
                Ok((r.get(0)?, StoredMessage { text: r.get(1)?, status: r.get(2)?, cause: r.get(3)? }))
            })?
            .peekable();
        let rows = attempts.query_map(params, |r| {
            Ok(AttemptRow {
                id: r.get(17)?,
                customer_id: r.get(0)?,
                phone: r.get(1)?,
                attempt: r.get(2)?,
                started_ms: r.get(3)?,
                local_time: r.get(4)?,
                local_hour: r.get(5)?,
                disposition: r.get(6)?,
                cause: r.get(7)?,
                outcome: r.get(8)?,
                goal: r.get::<_, i64>(9)? != 0,
                talk_ms: r.get(10)?,
                last_step: r.get(11)?,
                steps: r.get(12)?,
                objections: r.get(13)?,
                unrecognised: r.get(14)?,
                ended_ms: r.get(15)?,
                state: r.get(16)?,
                lets: Vec::new(),
                actions: Vec::new(),
                messages: Vec::new(),
                tags: r.get(18)?,
                segment: r.get(19)?,
                zone: r.get(20)?,
                list: r.get(21)?,
                variant: r.get(22)?,
            })
        })?;
        for row in rows {
            let mut row = row?;
            row.lets = take_for(&mut lets, row.id)?;
            row.actions = take_for(&mut actions, row.id)?;
            row.messages = take_for(&mut messages, row.id)?;
            f(row);
        }
        Ok(())
    }

    /// Runs `read`, a read of a whole campaign, in one read transaction (its cursors see one
    /// snapshot while a campaign writes). Each page is read once: neither the page cache nor a
    /// memory map would be read again, and both would hold hundreds of megabytes of a large
    /// store.
    fn scan(&self, read: impl FnOnce() -> rusqlite::Result<()>) -> Result<()> {
        let own_transaction = self.conn.is_autocommit();
        if own_transaction {
            self.conn.execute_batch("BEGIN DEFERRED").ctx(&self.path)?;
        }
        let pragma = |name: &str| self.conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
        let (cache, mmap) = (pragma("cache_size").ctx(&self.path)?, pragma("mmap_size").ctx(&self.path)?);
        self.conn.execute_batch("PRAGMA cache_size = -4096; PRAGMA mmap_size = 0;").ctx(&self.path)?;
        let read = read().ctx(&self.path);
        let restored = self
            .conn
            .execute_batch(&format!("PRAGMA cache_size = {cache}; PRAGMA mmap_size = {mmap};"))
            .ctx(&self.path);
        let end = if own_transaction { self.conn.execute_batch("COMMIT").ctx(&self.path) } else { Ok(()) };
        read?;
        restored?;
        end
    }

    /// Groups a campaign's attempts as a report reads them. A large campaign is read in two
    /// halves of its ids at once, the later one on a second connection and thread (the work is
    /// the store's cursors and grouping, not the disk): each attempt is read with its lets in
    /// one snapshot, though the halves' snapshots may differ by calls that ended in between.
    /// Within a batch of writes, one connection reads all (a second would not see the batch).
    fn count_attempts(&self, campaign: &str, counter: &mut Counter) -> rusqlite::Result<()> {
        let (first, last): (Option<i64>, Option<i64>) =
            self.conn.query_row("SELECT MIN(id), MAX(id) FROM attempts WHERE campaign = ?1", [campaign], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let (Some(first), Some(last)) = (first, last) else { return Ok(()) };
        let customers = |counter: &mut Counter| {
            counter.customers(count_customers(&self.conn, campaign)?);
            Ok(())
        };
        // A second connection costs about a millisecond: worth it from a few thousand attempts.
        if last - first < 2_000 || self.in_transaction {
            customers(counter)?;
            return count_range(&self.conn, campaign, (first, last), counter);
        }
        // This thread counts the customers too: it takes a little less than half the ids.
        let middle = first + (last - first) * 9 / 20;
        let path = &self.path;
        let later = std::thread::scope(|scope| {
            let later = scope.spawn(move || {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA cache_size = -4096; BEGIN DEFERRED")?;
                let mut later = Counter::default();
                count_range(&conn, campaign, (middle + 1, last), &mut later)?;
                conn.execute_batch("COMMIT")?;
                Ok(later)
            });
            let earlier = customers(counter).and_then(|()| count_range(&self.conn, campaign, (first, middle), counter));
            let later = later.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            earlier.and(later)
        })?;
        counter.merge(later);
        Ok(())
    }

    /// Runs `write` in the open batch, or in a transaction of its own: an attempt's rows and its
    /// tallies land together.
    fn atomically<T>(&mut self, write: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.in_transaction {
            return write(self);
        }
        self.begin()?;
        match write(self) {
            Ok(done) => self.commit().map(|()| done),
            Err(e) => {
                self.ended.get_mut().clear();
                self.in_transaction = false;
                // The error is the write's; a failed rollback leaves nothing more to say.
                _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Counts an attempt of `campaign` that ended, for the batch's commit to keep.
    fn ended_in(&self, campaign: &str, id: i64, by: [By<&str>; BREAKDOWNS], f: &Finished) {
        let mut ended = self.ended.borrow_mut();
        match ended.get_mut(campaign) {
            Some(counter) => counter.ended(id, by, f),
            None => ended.entry(campaign.to_string()).or_default().ended(id, by, f),
        }
    }

    /// Adds the batch's ended attempts to the kept tallies (in the batch).
    fn keep_ended(&self) -> Result<()> {
        let ended = std::mem::take(&mut *self.ended.borrow_mut());
        for (campaign, mut counter) in ended {
            self.keep(&campaign, &counter.kept())?;
        }
        Ok(())
    }

    /// Adds items to a campaign's kept tallies.
    fn keep(&self, campaign: &str, kept: &[Kept]) -> Result<()> {
        let mut add = self
            .conn
            .prepare_cached(
                "INSERT INTO report_tallies (campaign, kind, key, count, talk_ms, first_mark, last_mark)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (campaign, kind, key) DO UPDATE SET count = count + excluded.count,
                 talk_ms = talk_ms + excluded.talk_ms, first_mark = min(first_mark, excluded.first_mark),
                 last_mark = max(last_mark, excluded.last_mark)",
            )
            .ctx(&self.path)?;
        for k in kept {
            let row = params![campaign, k.kind.number(), k.key, k.count as i64, k.talk_ms, k.first, k.last];
            add.execute(row).ctx(&self.path)?;
        }
        Ok(())
    }

    /// A campaign's attempts counted: from its kept tallies when they hold them all (a few
    /// thousand rows, and the customers from the unique index), else from the attempts
    /// themselves, which are then kept if this read can write at once.
    fn read_counts(&self, campaign: &str) -> rusqlite::Result<Counter> {
        let tallied: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM report_tallied WHERE campaign = ?1)",
            [campaign],
            |r| r.get(0),
        )?;
        if tallied {
            let mut stmt = self.conn.prepare(
                "SELECT kind, key, count, talk_ms, first_mark, last_mark FROM report_tallies WHERE campaign = ?1",
            )?;
            let mut rows = stmt.query([campaign])?;
            let (mut kept, mut readable) = (Vec::new(), true);
            while let Some(r) = rows.next()? {
                let Some(kind) = Kind::of_number(r.get(0)?) else {
                    readable = false;
                    break;
                };
                let count = r.get::<_, i64>(2)? as u64;
                kept.push(Kept { kind, key: r.get(1)?, count, talk_ms: r.get(3)?, first: r.get(4)?, last: r.get(5)? });
            }
            // Tallies this callscript cannot read (edited by hand) are counted again.
            if readable && let Some(mut counter) = Counter::from_kept(kept) {
                counter.customers(count_customers(&self.conn, campaign)?);
                return Ok(counter);
            }
        }
        let mut counter = Counter::default();
        self.count_attempts(campaign, &mut counter)?;
        let kept = counter.kept();
        if !kept.is_empty() {
            self.try_keep(campaign, &kept);
        }
        Ok(counter)
    }

    /// Keeps a campaign's tallies counted from its attempts in this read, when the store's
    /// write lock is free now and no batch was committed since the read began (SQLite refuses
    /// to turn such a read into a write): a report never waits for a run, nor keeps tallies a
    /// run has moved past. Otherwise nothing is kept, and a later report counts again.
    fn try_keep(&self, campaign: &str, kept: &[Kept]) {
        let keep = || -> Result<()> {
            self.conn.execute_batch("SAVEPOINT keep_tallies").ctx(&self.path)?;
            let written = self
                .exec("DELETE FROM report_tallies WHERE campaign = ?1", [campaign])
                .and_then(|_| self.keep(campaign, kept))
                .and_then(|()| self.exec("INSERT OR IGNORE INTO report_tallied (campaign) VALUES (?1)", [campaign]));
            let end =
                if written.is_ok() { "RELEASE keep_tallies" } else { "ROLLBACK TO keep_tallies; RELEASE keep_tallies" };
            self.conn.execute_batch(end).ctx(&self.path)?;
            written.map(drop)
        };
        if self.in_transaction {
            // This batch holds the write lock already.
            _ = keep();
            return;
        }
        if self.conn.busy_timeout(std::time::Duration::ZERO).is_ok() {
            // Kept or not, the report is the same; a store that cannot be written (read-only,
            // busy, full) is counted again next time.
            _ = keep();
            _ = self.conn.busy_timeout(std::time::Duration::from_millis(5_000));
        }
    }

    /// Runs a query and collects every row through `map`.
    fn rows<T, C: FromIterator<T>, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<C> {
        (|| {
            let mut stmt = self.conn.prepare(sql)?;
            let rows = stmt.query_map(params, map)?;
            rows.collect::<rusqlite::Result<C>>()
        })()
        .ctx(&self.path)
    }

    /// A live attempt's row (its end's columns empty, as `finish_attempt` finds them).
    fn insert_attempt(&self, a: &NewAttempt) -> Result<i64> {
        let mut statement = self.conn.prepare_cached(&ATTEMPTS_SQL[0]).ctx(&self.path)?;
        bind_attempt(&mut statement, 0, a, None).ctx(&self.path)?;
        statement.raw_execute().ctx(&self.path)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ended attempts' rows, after the store's `largest` id, in one statement; their ids, in
    /// order. SQLite gives each row the largest id so far plus one, so a statement's rows are
    /// consecutive, ending with `last_insert_rowid`: that they followed `largest` is checked,
    /// never assumed.
    fn insert_ended_attempts(&self, largest: i64, ended: &[(&NewAttempt, &Finished)]) -> Result<Vec<i64>> {
        let mut statement = self.conn.prepare_cached(&ATTEMPTS_SQL[ended.len() - 1]).ctx(&self.path)?;
        for (k, (a, f)) in ended.iter().enumerate() {
            bind_attempt(&mut statement, k, a, Some(f)).ctx(&self.path)?;
        }
        statement.raw_execute().ctx(&self.path)?;
        let last = self.conn.last_insert_rowid();
        let expected = largest + ended.len() as i64;
        if last != expected {
            return Err(StoreError::IdsOutOfOrder { path: self.path.clone(), expected, got: last });
        }
        Ok((largest + 1..=last).collect())
    }

    /// What ended attempts said and did: their details (a row per statement: the id is the
    /// row's own, which a statement of many would journal), lets (a statement for many), and
    /// their actions, messages and handover.
    fn insert_details(&self, ended: &[(i64, &Finished)]) -> Result<()> {
        for &(id, f) in ended {
            self.exec(
                "INSERT INTO attempt_details (attempt_id, steps, tags, objections, unrecognised, transcript)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, f.steps, f.tags, f.objections, f.unrecognised, f.transcript],
            )?;
        }
        let lets: Vec<(i64, usize, &StoredLet)> =
            ended.iter().flat_map(|&(id, f)| f.lets.iter().enumerate().map(move |(at, l)| (id, at, l))).collect();
        for chunk in lets.chunks(LETS_AT_ONCE) {
            let mut statement = self.conn.prepare_cached(&LETS_SQL[chunk.len() - 1]).ctx(&self.path)?;
            for (k, &(id, position, l)) in chunk.iter().enumerate() {
                bind_row(&mut statement, k, &[&id, &(position as i64), &l.name, &l.ty, &l.value]).ctx(&self.path)?;
            }
            statement.raw_execute().ctx(&self.path)?;
        }
        for &(id, f) in ended {
            self.insert_doings(id, f)?;
        }
        Ok(())
    }

    /// An ended attempt's actions, messages and handover, a row each.
    fn insert_doings(&self, id: i64, f: &Finished) -> Result<()> {
        for (position, a) in f.actions.iter().enumerate() {
            self.exec(
                "INSERT INTO attempt_actions (attempt_id, position, name, ok, latency_ms, cause)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, position as i64, a.name, a.ok as i64, a.latency_ms, a.cause],
            )?;
        }
        for (position, m) in f.messages.iter().enumerate() {
            self.exec(
                "INSERT INTO attempt_messages (attempt_id, position, text, status, cause) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, position as i64, m.text, m.status, m.cause],
            )?;
        }
        for (position, (key, value)) in f.handover.iter().enumerate() {
            self.exec(
                "INSERT INTO attempt_handovers (attempt_id, position, key, value) VALUES (?1, ?2, ?3, ?4)",
                params![id, position as i64, key, value],
            )?;
        }
        Ok(())
    }

    /// Runs one cached statement; returns the rows it changed.
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.conn.prepare_cached(sql).and_then(|mut s| s.execute(params)).ctx(&self.path)
    }

    fn lease(&self) -> Result<Option<LeaseHolder>> {
        self.conn
            .query_row(
                "SELECT token, host, pid, campaign, acquired_ms, heartbeat_ms, expires_ms FROM run_lease WHERE id = 1",
                [],
                |r| {
                    Ok(LeaseHolder {
                        token: r.get(0)?,
                        host: r.get(1)?,
                        pid: r.get(2)?,
                        campaign: r.get(3)?,
                        acquired_ms: r.get(4)?,
                        heartbeat_ms: r.get(5)?,
                        expires_ms: r.get(6)?,
                    })
                },
            )
            .optional()
            .ctx(&self.path)
    }

    fn check_lease(&self, me: &LeaseHolder) -> Result<()> {
        match self.lease()? {
            Some(holder) if holder.blocks(me.heartbeat_ms, me) => {
                Err(StoreError::Leased { path: self.path.clone(), holder: Box::new(holder) })
            }
            _ => Ok(()),
        }
    }
}

/// A campaign's customers with an attempt that is not live. Exact, from the unique index:
/// every customer, less those whose attempts are all live.
fn count_customers(conn: &Connection, campaign: &str) -> rusqlite::Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT COUNT(DISTINCT customer_id) FROM attempts WHERE campaign = ?1)
         - (SELECT COUNT(DISTINCT customer_id) FROM attempts a INDEXED BY attempts_live
            WHERE campaign = ?1 AND state = 'live' AND NOT EXISTS (SELECT 1 FROM attempts b
            WHERE b.campaign = ?1 AND b.customer_id = a.customer_id AND b.state != 'live'))",
        [campaign],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// The attempts of a campaign whose ids are in `range` (inclusive), grouped into `counter`:
/// the attempts with their details in one cursor, then the lets, actions and messages each in
/// one cursor over the range (no lookup of the attempt per row), read against what the first
/// cursor kept of each attempt. What happened is grouped by its columns' bytes, trimmed in SQL
/// as `Happened::trimmed` trims (read as text only for a new group); the breakdowns' columns
/// are borrowed from the cursor. The transcripts are never read.
fn count_range(
    conn: &Connection,
    campaign: &str,
    (first, last): (i64, i64),
    counter: &mut Counter,
) -> rusqlite::Result<()> {
    // Per id from `first`: 0 for no attempt of the campaign (or a live one), else 1 + the
    // place of how it ended in the counter's endings.
    let mut kept = vec![0u32; usize::try_from(last - first + 1).unwrap_or(0)];
    let mut attempts = conn.prepare(
        "SELECT a.id, talk_ms, state != 'ended', COALESCE(disposition, 'unknown'), outcome, goal, CASE WHEN outcome = 'transfer_failed' THEN cause END,
         CASE WHEN disposition = 'customer_hangup' THEN last_step END, COALESCE(d.steps, '[]'),
         COALESCE(d.objections, '[]'), COALESCE(d.unrecognised, '[]'), COALESCE(d.tags, '[]'),
         local_hour, attempt, substr(local_time, 1, 10), segment, zone, list, variant
         FROM attempts a LEFT JOIN attempt_details d ON d.attempt_id = a.id
         WHERE campaign = ?1 AND a.id BETWEEN ?2 AND ?3 AND state != 'live' ORDER BY a.id",
    )?;
    let mut encoded = Vec::new();
    let mut rows = attempts.query(params![campaign, first, last])?;
    while let Some(r) = rows.next()? {
        encoded.clear();
        for column in HAPPENED_COLUMNS {
            put_value(&mut encoded, r.get_ref(column)?);
        }
        let id: i64 = r.get(0)?;
        let ending = counter.attempt_encoded(id, &encoded, r.get(1)?, || happened(r))?;
        for (breakdown, column) in BY_COLUMNS.enumerate() {
            encoded.clear();
            put_value(&mut encoded, r.get_ref(column)?);
            counter.tally_encoded(breakdown, &encoded, ending, || by(r, column))?;
        }
        counter.unknown_state(r.get(2)?);
        kept[(id - first) as usize] = 1 + ending.place();
    }
    let endings = counter.endings().to_vec();
    let of = |id: i64| {
        let k = *kept.get(usize::try_from(id - first).ok()?)?;
        let ending = endings.get(k.checked_sub(1)? as usize)?;
        Some(LetsOf { id, goal: ending.goal, outcome: ending.outcome.as_deref(), connected: ending.connected })
    };
    let range = |columns: &str, table: &str| {
        format!(
            "SELECT attempt_id, {columns} FROM {table} WHERE attempt_id BETWEEN ?1 AND ?2
             ORDER BY attempt_id, position"
        )
    };
    let mut lets = conn.prepare(&range("name, type, value", "attempt_lets"))?;
    let mut rows = lets.query([first, last])?;
    while let Some(r) = rows.next()? {
        if let Some(of) = of(r.get(0)?) {
            counter.let_value(of, text(r, 1)?, text(r, 2)?, text_or_null(r, 3)?);
        }
    }
    let mut actions = conn.prepare(&range("position, name, ok, latency_ms, cause", "attempt_actions"))?;
    let mut rows = actions.query([first, last])?;
    while let Some(r) = rows.next()? {
        let id = r.get(0)?;
        if of(id).is_some() {
            let (position, ok) = (r.get::<_, i64>(1)? as usize, r.get::<_, i64>(3)? != 0);
            counter.action(id, position, text(r, 2)?, ok, r.get(4)?, text_or_null(r, 5)?);
        }
    }
    let mut messages = conn.prepare(&range("position, status", "attempt_messages"))?;
    let mut rows = messages.query([first, last])?;
    while let Some(r) = rows.next()? {
        let id = r.get(0)?;
        if of(id).is_some() {
            counter.messages(id, r.get::<_, i64>(1)? as usize, text(r, 2)?, 1);
        }
    }
    Ok(())
}

/// The columns of `count_range`'s first cursor that say what happened in an attempt, in
/// [`Happened`]'s order.
const HAPPENED_COLUMNS: std::ops::Range<usize> = 3..12;

/// The columns of `count_range`'s first cursor that place an attempt in each breakdown, in
/// [`By::of`]'s order.
const BY_COLUMNS: std::ops::Range<usize> = 12..19;

/// The value of a row of `count_range`'s first cursor in a breakdown (one of [`BY_COLUMNS`]).
fn by(r: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<By> {
    let owned = |column: usize| text_or_null(r, column).map(|v| v.map(String::from));
    Ok(match column - BY_COLUMNS.start {
        0 => By::Hour(r.get(column)?),
        1 => By::Attempt(r.get(column)?),
        2 => By::Day(text(r, column)?.into()),
        3 => By::Segment(owned(column)?),
        4 => By::Zone(owned(column)?),
        5 => By::List(owned(column)?),
        _ => By::Variant(owned(column)?),
    })
}

/// What happened in the attempt of a row of `count_range`'s first cursor (its
/// [`HAPPENED_COLUMNS`]).
fn happened(r: &rusqlite::Row<'_>) -> rusqlite::Result<Happened> {
    let column = |i: usize| HAPPENED_COLUMNS.start + i;
    let owned = |i: usize| text_or_null(r, column(i)).map(|v| v.map(String::from));
    let text = |i: usize| text(r, column(i)).map(String::from);
    Ok(Happened {
        disposition: text(0)?,
        outcome: owned(1)?,
        goal: r.get::<_, i64>(column(2))? != 0,
        cause: owned(3)?,
        last_step: owned(4)?,
        steps: text(5)?,
        objections: text(6)?,
        unrecognised: text(7)?,
        tags: text(8)?,
    })
}

/// Writes a column's value with its type and length, so that no two rows encode alike.
fn put_value(buf: &mut Vec<u8>, v: rusqlite::types::ValueRef<'_>) {
    use rusqlite::types::ValueRef;
    let (tag, bytes): (u8, &[u8]) = match v {
        ValueRef::Null => return buf.push(0),
        ValueRef::Integer(i) => return buf.extend([1].into_iter().chain(i.to_le_bytes())),
        ValueRef::Real(f) => return buf.extend([2].into_iter().chain(f.to_bits().to_le_bytes())),
        ValueRef::Text(t) => (3, t),
        ValueRef::Blob(b) => (4, b),
    };
    buf.push(tag);
    buf.extend((bytes.len() as u64).to_le_bytes());
    buf.extend(bytes);
}

/// A text column of a row, borrowed from the cursor.
fn text<'r>(r: &'r rusqlite::Row<'_>, column: usize) -> rusqlite::Result<&'r str> {
    text_or_null(r, column)?
        .ok_or_else(|| rusqlite::Error::InvalidColumnType(column, "NULL".into(), rusqlite::types::Type::Null))
}

/// A text column of a row that may be NULL, borrowed from the cursor.
fn text_or_null<'r>(r: &'r rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Option<&'r str>> {
    r.get_ref(column)?
        .as_str_or_null()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e)))
}

fn sorted(names: &HashSet<String>) -> String {
    let mut v: Vec<&str> = names.iter().map(String::as_str).collect();
    v.sort_unstable();
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

/// Makes the store and its WAL and shared-memory files readable by their owner only.
fn private(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::metadata(&file) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|source| StoreError::Open { path: file.clone(), source })?;
            }
            _ => {}
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn begin(&mut self) -> Result<()> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN").ctx(&self.path)?;
            self.in_transaction = true;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.in_transaction {
            self.keep_ended()?;
            self.conn.execute_batch("COMMIT").ctx(&self.path)?;
            self.in_transaction = false;
        }
        Ok(())
    }

    fn acquire_lease(&mut self, me: &LeaseHolder) -> Result<()> {
        // A read first: a store leased by a live run is refused by name, without waiting for
        // its write lock.
        self.check_lease(me)?;
        let was_open = self.in_transaction;
        self.commit()?;
        self.conn.execute_batch("BEGIN IMMEDIATE").ctx(&self.path)?;
        // Again under the write lock: two runs starting at once cannot both take it.
        let taken = self.check_lease(me).and_then(|()| {
            self.exec(
                "INSERT INTO run_lease (id, token, host, pid, campaign, acquired_ms, heartbeat_ms, expires_ms)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET token = ?1, host = ?2, pid = ?3, campaign = ?4, acquired_ms = ?5,
                 heartbeat_ms = ?6, expires_ms = ?7",
                params![me.token, me.host, me.pid, me.campaign, me.acquired_ms, me.heartbeat_ms, me.expires_ms],
            )
        });
        let end = if taken.is_ok() { "COMMIT" } else { "ROLLBACK" };
        self.conn.execute_batch(end).ctx(&self.path)?;
        taken?;
        if was_open {
            self.begin()?;
        }
        Ok(())
    }

    fn renew_lease(&mut self, me: &LeaseHolder, now_ms: i64, expires_ms: i64) -> Result<()> {
        let renewed = self.exec(
            "UPDATE run_lease SET heartbeat_ms = ?2, expires_ms = ?3 WHERE id = 1 AND token = ?1",
            params![me.token, now_ms, expires_ms],
        )?;
        if renewed == 0 {
            let holder = self.lease()?.map_or_else(|| "nobody".to_string(), |h| h.to_string());
            return Err(StoreError::LeaseLost { path: self.path.clone(), holder });
        }
        Ok(())
    }

    fn release_lease(&mut self, me: &LeaseHolder) -> Result<()> {
        self.exec("DELETE FROM run_lease WHERE id = 1 AND token = ?1", [&me.token])?;
        self.commit()
    }

    fn campaign(&self, id: &str) -> Result<Option<StoredCampaign>> {
        self.conn
            .query_row("SELECT script_sha256, clock_ms, finished FROM campaigns WHERE id = ?1", [id], |r| {
                Ok(StoredCampaign { script_sha256: r.get(0)?, clock_ms: r.get(1)?, finished: r.get::<_, i64>(2)? != 0 })
            })
            .optional()
            .ctx(&self.path)
    }

    fn save_campaign(&mut self, id: &str, sha: &str, script: &str, clock_ms: i64, settings: &str) -> Result<()> {
        self.exec(
            "INSERT INTO campaigns (id, script_sha256, script_name, clock_ms, settings) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET script_sha256 = ?2, script_name = ?3, settings = ?5",
            params![id, sha, script, clock_ms, settings],
        )?;
        // A campaign without attempts is tallied from its first: its tallies (none) hold them all.
        self.exec(
            "INSERT OR IGNORE INTO report_tallied (campaign) SELECT ?1
             WHERE NOT EXISTS (SELECT 1 FROM attempts WHERE campaign = ?1)",
            [id],
        )?;
        Ok(())
    }

    fn set_clock(&mut self, id: &str, clock_ms: i64, finished: bool) -> Result<()> {
        self.exec(
            "UPDATE campaigns SET clock_ms = ?2, finished = ?3 WHERE id = ?1",
            params![id, clock_ms, finished as i64],
        )?;
        Ok(())
    }

    fn campaign_ids(&self) -> Result<Vec<String>> {
        self.rows("SELECT id FROM campaigns ORDER BY id", [], |r| r.get(0))
    }

    fn interrupt_live(&mut self, campaign: &str) -> Result<usize> {
        self.atomically(|store| {
            let live: Vec<i64> = store.rows(
                "SELECT id FROM attempts INDEXED BY attempts_live WHERE campaign = ?1 AND state = 'live'",
                [campaign],
                |r| r.get(0),
            )?;
            let interrupted = store.exec(
                "UPDATE attempts SET state = 'ended', disposition = 'failed', cause = 'interrupted', ended_ms = started_ms
                 WHERE campaign = ?1 AND state = 'live'",
                [campaign],
            )?;
            // Counted as a report reads them (a crash is rare; its attempts are few).
            let mut counter = Counter::default();
            for id in live {
                count_range(&store.conn, campaign, (id, id), &mut counter).ctx(&store.path)?;
            }
            store.keep(campaign, &counter.kept())?;
            Ok(interrupted)
        })
    }

    fn begin_attempt(&mut self, a: &NewAttempt) -> Result<i64> {
        self.insert_attempt(a)
    }

    fn finish_attempt(&mut self, id: i64, f: &Finished) -> Result<()> {
        self.atomically(|store| {
            let updated = store.exec(
                "UPDATE attempts SET state = 'ended', disposition = ?2, cause = ?3, outcome = ?4, goal = ?5,
                 ended_ms = ?6, talk_ms = ?7, last_step = ?8, callback_ms = ?9 WHERE id = ?1 AND state = 'live'",
                params![
                    id,
                    f.disposition,
                    f.cause,
                    f.outcome,
                    f.goal as i64,
                    f.ended_ms,
                    f.talk_ms,
                    f.last_step,
                    f.callback_ms
                ],
            )?;
            if updated == 0 {
                return Ok(());
            }
            store.insert_details(&[(id, f)])?;
            // Where it was placed (`record_attempt` has it at hand).
            let (campaign, by) = store
                .conn
                .prepare_cached(
                    "SELECT campaign, local_hour, attempt, local_time, segment, zone, list, variant FROM attempts
                     WHERE id = ?1",
                )
                .and_then(|mut placed| {
                    placed.query_row([id], |r| {
                        let by: [By; BREAKDOWNS] = [
                            By::Hour(r.get(1)?),
                            By::Attempt(r.get(2)?),
                            By::Day(r.get(3)?),
                            By::Segment(r.get(4)?),
                            By::Zone(r.get(5)?),
                            By::List(r.get(6)?),
                            By::Variant(r.get(7)?),
                        ];
                        Ok((r.get::<_, String>(0)?, by))
                    })
                })
                .ctx(&store.path)?;
            store.ended_in(&campaign, id, by.each_ref().map(By::view), f);
            Ok(())
        })
    }

    fn record_attempt(&mut self, a: &NewAttempt, f: &Finished) -> Result<i64> {
        Ok(self.record_attempts(&[(a, f)])?[0])
    }

    fn record_attempts(&mut self, ended: &[(&NewAttempt, &Finished)]) -> Result<Vec<i64>> {
        if ended.is_empty() {
            return Ok(Vec::new());
        }
        self.atomically(|store| {
            // The write lock is held from the transaction's first write, so no one else adds
            // attempts meanwhile: the largest id is read once for the batch.
            let mut largest: i64 = store
                .conn
                .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM attempts")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .ctx(&store.path)?;
            let mut ids = Vec::with_capacity(ended.len());
            for chunk in ended.chunks(ATTEMPTS_AT_ONCE) {
                ids.extend(store.insert_ended_attempts(largest, chunk)?);
                largest = ids.last().copied().unwrap_or(largest);
            }
            let details: Vec<(i64, &Finished)> = ids.iter().zip(ended).map(|(&id, &(_, f))| (id, f)).collect();
            store.insert_details(&details)?;
            for (&id, &(a, f)) in ids.iter().zip(ended) {
                let by = [
                    By::Hour(a.local_hour),
                    By::Attempt(a.attempt),
                    By::Day(a.local_time.as_str()),
                    By::Segment(a.segment),
                    By::Zone(Some(a.zone)),
                    By::List(Some(a.list)),
                    By::Variant(Some(a.variant)),
                ];
                store.ended_in(a.campaign, id, by, f);
            }
            Ok(ids)
        })
    }

    fn past_attempts(&self, campaign: &str) -> Result<Vec<PastAttempt>> {
        self.rows(
            "SELECT customer_id, attempt, started_ms, COALESCE(ended_ms, started_ms), COALESCE(disposition, 'failed'),
             outcome, callback_ms FROM attempts WHERE campaign = ?1 ORDER BY started_ms, id",
            [campaign],
            |r| {
                Ok(PastAttempt {
                    customer_id: r.get(0)?,
                    attempt: r.get(1)?,
                    started_ms: r.get(2)?,
                    ended_ms: r.get(3)?,
                    disposition: r.get(4)?,
                    outcome: r.get(5)?,
                    callback_ms: r.get(6)?,
                })
            },
        )
    }

    fn placed_by_phone_and_date(&self) -> Result<Vec<(String, String, u32)>> {
        self.rows("SELECT phone, local_date, COUNT(*) FROM attempts GROUP BY phone, local_date", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
    }

    fn attempt_rows(&self, campaign: &str) -> Result<Vec<AttemptRow>> {
        let mut rows = Vec::new();
        self.each_attempt(campaign, &mut |row| rows.push(row))?;
        Ok(rows)
    }

    fn each_attempt(&self, campaign: &str, f: &mut dyn FnMut(AttemptRow)) -> Result<()> {
        self.scan(|| self.stream_attempts(campaign, None, f))
    }

    fn attempt_counts(&self, campaign: &str) -> Result<AttemptCounts> {
        // The open batch's attempts join the tallies it will commit.
        self.keep_ended()?;
        let mut counter = None;
        self.scan(|| {
            counter = Some(self.read_counts(campaign)?);
            Ok(())
        })?;
        Ok(counter.unwrap_or_default().finish())
    }

    fn attempt(&self, campaign: &str, customer_id: &str, attempt: u32) -> Result<Option<AttemptRow>> {
        let mut found = None;
        self.stream_attempts(campaign, Some((customer_id, attempt)), &mut |r| found = Some(r)).ctx(&self.path)?;
        Ok(found)
    }

    fn board(&self, campaign: &str, window_ms: i64) -> Result<BoardCounts> {
        let totals = format!(
            "SELECT COALESCE(SUM(CASE WHEN state = 'live' THEN 1 ELSE 0 END), 0),
             COALESCE(SUM(CASE WHEN state <> 'live' THEN 1 ELSE 0 END), 0),
             COALESCE(SUM(CASE WHEN state <> 'live' AND disposition IN {CONNECTED_SQL} THEN 1 ELSE 0 END), 0),
             COALESCE(CAST(SUM(goal) AS BIGINT), 0), MAX(started_ms) FROM attempts WHERE campaign = ?1"
        );
        let mut board: BoardCounts = self
            .rows::<_, Vec<_>, _>(&totals, [campaign], |r| {
                Ok(BoardCounts {
                    live: r.get::<_, i64>(0)? as u64,
                    ended: r.get::<_, i64>(1)? as u64,
                    answered: r.get::<_, i64>(2)? as u64,
                    goals: r.get::<_, i64>(3)? as u64,
                    latest_start_ms: r.get(4)?,
                    ..BoardCounts::default()
                })
            })?
            .pop()
            .unwrap_or_default();
        if let Some(latest) = board.latest_start_ms {
            board.recent_starts = self
                .rows::<_, Vec<i64>, _>(
                    "SELECT COUNT(*) FROM attempts WHERE campaign = ?1 AND started_ms > ?2",
                    params![campaign, latest - window_ms],
                    |r| r.get::<_, i64>(0),
                )?
                .pop()
                .unwrap_or(0) as u64;
        }
        let by_hour = format!(
            "SELECT local_hour, COUNT(*), SUM(CASE WHEN disposition IN {CONNECTED_SQL} THEN 1 ELSE 0 END), CAST(SUM(goal) AS BIGINT)
             FROM attempts WHERE campaign = ?1 AND state <> 'live' GROUP BY local_hour ORDER BY local_hour"
        );
        board.by_hour = self.rows(&by_hour, [campaign], |r| {
            Ok(HourCounts {
                hour: r.get(0)?,
                attempts: r.get::<_, i64>(1)? as u64,
                answered: r.get::<_, i64>(2)? as u64,
                goals: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(board)
    }

    fn transcript(&self, campaign: &str, customer_id: &str, attempt: u32) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT d.transcript FROM attempts a JOIN attempt_details d ON d.attempt_id = a.id
                 WHERE a.campaign = ?1 AND a.customer_id = ?2 AND a.attempt = ?3",
                params![campaign, customer_id, attempt],
                |r| r.get(0),
            )
            .optional()
            .ctx(&self.path)
    }

    fn dnc_add(&mut self, phone: &str, source: &str, at_ms: i64) -> Result<bool> {
        Ok(self.exec(
            "INSERT OR IGNORE INTO dnc (phone, source, added_ms) VALUES (?1, ?2, ?3)",
            params![phone, source, at_ms],
        )? > 0)
    }

    fn dnc(&self) -> Result<HashSet<String>> {
        self.rows("SELECT phone FROM dnc", [], |r| r.get::<_, String>(0))
    }

    fn dnc_entries(&self) -> Result<Vec<DncEntry>> {
        self.rows("SELECT phone, source, added_ms FROM dnc ORDER BY added_ms, phone", [], |r| {
            Ok(DncEntry { phone: r.get(0)?, source: r.get(1)?, added_ms: r.get(2)? })
        })
    }

    fn dnc_remove(&mut self, phone: &str) -> Result<bool> {
        Ok(self.exec("DELETE FROM dnc WHERE phone = ?1", [phone])? > 0)
    }

    fn add_recording(&mut self, r: &RecordingRow) -> Result<()> {
        self.exec(
            "INSERT INTO recordings (attempt_id, campaign, path, created_ms, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![r.attempt_id, r.campaign, r.path, r.created_ms, r.bytes],
        )?;
        Ok(())
    }

    fn recordings(&self, campaign: &str) -> Result<Vec<RecordingRow>> {
        self.rows(
            "SELECT attempt_id, campaign, path, created_ms, bytes FROM recordings WHERE campaign = ?1
             ORDER BY created_ms, attempt_id",
            [campaign],
            |r| {
                Ok(RecordingRow {
                    attempt_id: r.get(0)?,
                    campaign: r.get(1)?,
                    path: r.get(2)?,
                    created_ms: r.get(3)?,
                    bytes: r.get(4)?,
                })
            },
        )
    }

    fn log_export(&mut self, e: &ExportRow) -> Result<i64> {
        self.exec(
            "INSERT INTO recording_exports (path, attempt_id, exported_ms, exported_by, destination, ok, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![e.path, e.attempt_id, e.exported_ms, e.exported_by, e.destination, e.ok as i64, e.error],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn exports(&self) -> Result<Vec<ExportRow>> {
        self.rows(
            "SELECT id, path, attempt_id, exported_ms, exported_by, destination, ok, error FROM recording_exports
             ORDER BY id",
            [],
            |r| {
                Ok(ExportRow {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    attempt_id: r.get(2)?,
                    exported_ms: r.get(3)?,
                    exported_by: r.get(4)?,
                    destination: r.get(5)?,
                    ok: r.get::<_, i64>(6)? != 0,
                    error: r.get(7)?,
                })
            },
        )
    }
}

#[cfg(test)]
#[path = "kept_tests.rs"]
mod kept_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_version_is_the_number_of_migrations() {
        assert_eq!(SCHEMA_VERSION, MIGRATIONS.len() as i64);
    }

    /// A store's path in a fresh folder, removed with the guard.
    fn temp_db(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = crate::scratch::scratch(&format!("store-{name}"));
        let path = dir.path().join("campaign.db");
        (dir, path)
    }

    #[test]
    fn a_new_store_has_large_pages_and_checkpoints_by_bytes() {
        let pragma = |store: &SqliteStore, name: &str| {
            store.conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0)).unwrap()
        };
        let (_dir, path) = temp_db("pages");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(pragma(&store, "page_size"), PAGE_SIZE);
        assert_eq!(pragma(&store, "wal_autocheckpoint") * PAGE_SIZE, WAL_CHECKPOINT_BYTES);
        // A store made with SQLite's default pages keeps them, and its checkpoint is as large.
        let (_old_dir, old) = temp_db("small-pages");
        build_at_version(&old, SCHEMA_VERSION as usize);
        let store = SqliteStore::open(&old).unwrap();
        assert_eq!(pragma(&store, "page_size"), 4096);
        assert_eq!(pragma(&store, "wal_autocheckpoint") * 4096, WAL_CHECKPOINT_BYTES);
    }

    /// The list reads back in the order numbers were added; removing says whether the number
    /// was on it, and a removed number is dialled again (it is no longer in `dnc()`).
    #[test]
    fn dnc_entries_are_listed_and_removed() {
        let (_dir, path) = temp_db("dnc-remove");
        let mut store = SqliteStore::open(&path).unwrap();
        assert!(store.dnc_add("+8613800000002", "import", 20).unwrap());
        assert!(store.dnc_add("+8613800000001", "import", 10).unwrap());
        let phones: Vec<(String, i64)> =
            store.dnc_entries().unwrap().into_iter().map(|e| (e.phone, e.added_ms)).collect();
        assert_eq!(phones, [("+8613800000001".to_string(), 10), ("+8613800000002".to_string(), 20)]);
        assert!(store.dnc_remove("+8613800000001").unwrap());
        assert!(!store.dnc_remove("+8613800000001").unwrap(), "a number not on the list");
        assert_eq!(store.dnc().unwrap(), HashSet::from(["+8613800000002".to_string()]));
    }

    /// A store as the callscript of schema `version` made it.
    fn build_at_version(path: &std::path::Path, version: usize) -> Connection {
        let conn = Connection::open(path).unwrap();
        for (i, sql) in MIGRATIONS[..version].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).unwrap();
        }
        conn
    }

    /// A schema 5 store (before several workers) upgrades: its attempts keep everything, with
    /// no worker, and the shared queue's tables are there, empty.
    #[test]
    fn a_version_5_store_upgrades_with_the_shared_queue_tables() {
        let (_dir, path) = temp_db("queue");
        build_at_version(&path, 5)
            .execute_batch(
                "INSERT INTO attempts (id, campaign, customer_id, phone, attempt, started_ms, local_time, local_date,
                 local_hour, state, disposition, ended_ms, script_sha256)
                 VALUES (1, 'c', 'old', '+8613800000001', 1, 1, '2026-11-23T09:00:00+08:00', '2026-11-23', 9,
                 'ended', 'busy', 2, 'x');",
            )
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let worker: Option<String> = store.conn.query_row("SELECT worker FROM attempts", [], |r| r.get(0)).unwrap();
        assert_eq!(worker, None);
        assert_eq!(store.attempt_rows("c").unwrap()[0].disposition, "busy");
        for table in ["campaign_customers", "workers", "campaign_pace"] {
            let n: i64 = store.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
            assert_eq!(n, 0, "{table}");
        }
    }

    /// A schema 6 store upgrades: its attempts have no segment, zone, list or variant (the
    /// report shows them as unknown); new attempts keep theirs.
    #[test]
    fn a_version_6_store_upgrades_and_new_attempts_keep_where_they_came_from() {
        let (_dir, path) = temp_db("origin");
        build_at_version(&path, 6)
            .execute_batch(
                "INSERT INTO attempts (id, campaign, customer_id, phone, attempt, started_ms, local_time, local_date,
                 local_hour, state, disposition, ended_ms, script_sha256)
                 VALUES (1, 'c', 'old', '+8613800000001', 1, 1, '2026-11-23T09:00:00+08:00', '2026-11-23', 9,
                 'ended', 'busy', 2, 'x');",
            )
            .unwrap();
        let mut store = SqliteStore::open(&path).unwrap();
        let id = store.begin_attempt(&row("new", 1)).unwrap();
        store.finish_attempt(id, &Finished { disposition: "answered".into(), ..Finished::default() }).unwrap();
        let rows = store.attempt_rows("c").unwrap();
        let origin = |r: &AttemptRow| (r.segment.clone(), r.zone.clone(), r.list.clone(), r.variant.clone());
        assert_eq!(origin(&rows[0]), (None, None, None, None));
        let s = |t: &str| Some(t.to_string());
        assert_eq!(origin(&rows[1]), (s("overdue"), s("Asia/Shanghai"), s("customers.csv"), s("loan_reminder")));
    }

    #[test]
    fn a_version_1_store_migrates_and_keeps_its_rows() {
        let (_dir, path) = temp_db("migrate");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
            conn.execute("INSERT INTO dnc (phone, source, added_ms) VALUES ('+8613800000001', 'import', 1)", [])
                .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let version: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert!(store.dnc().unwrap().contains("+8613800000001"));
        let row =
            RecordingRow { attempt_id: 3, campaign: "c".into(), path: "/r/c-3.csrec".into(), created_ms: 5, bytes: 99 };
        store.add_recording(&row).unwrap();
        assert_eq!(store.recordings("c").unwrap(), vec![row]);
        assert!(store.recordings("other").unwrap().is_empty());
    }

    /// A store made by the previous callscript (schema 3), with an ended call, opens under this
    /// one: its attempt keeps everything and has no lets, and new calls store theirs.
    #[test]
    fn a_version_3_store_upgrades_and_keeps_lets_of_new_calls() {
        let (_dir, path) = temp_db("upgrade");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
            for (i, sql) in MIGRATIONS[..3].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).unwrap();
            }
            // As callscript at schema 3 wrote an ended call.
            conn.execute_batch(
                "INSERT INTO attempts (id, campaign, customer_id, phone, attempt, started_ms, local_time, local_date,
                 local_hour, state, disposition, outcome, goal, ended_ms, talk_ms, script_sha256)
                 VALUES (1, 'c', 'old', '+8613800000001', 1, 1, '2026-11-23T09:00:00+08:00', '2026-11-23', 9,
                 'ended', 'answered', 'promised', 1, 2, 30000, 'x');
                 INSERT INTO attempt_details VALUES (1, '[\"opening\"]', '[]', '[]', '[]', '[]');",
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let version: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let lets = vec![
            StoredLet { name: "pay_amount".into(), ty: "money".into(), value: Some("3500.00".into()) },
            StoredLet { name: "id_tail".into(), ty: "text".into(), value: None },
            StoredLet { name: "pay_date".into(), ty: "date".into(), value: Some("2026-11-25".into()) },
        ];
        let id = store.begin_attempt(&row("new", 1)).unwrap();
        let answered =
            Finished { disposition: "answered".into(), goal: true, lets: lets.clone(), ..Finished::default() };
        store.finish_attempt(id, &answered).unwrap();
        // A result that arrives twice (after a crash) is not stored twice.
        store.finish_attempt(id, &answered).unwrap();
        let unanswered = store.begin_attempt(&row("new", 2)).unwrap();
        store.finish_attempt(unanswered, &Finished { disposition: "busy".into(), ..Finished::default() }).unwrap();
        let rows = store.attempt_rows("c").unwrap();
        let seen: Vec<(&str, u32, &str, bool, &[StoredLet])> = rows
            .iter()
            .map(|r| (r.customer_id.as_str(), r.attempt, r.steps.as_str(), r.goal, r.lets.as_slice()))
            .collect();
        assert_eq!(
            seen,
            [
                ("old", 1, "[\"opening\"]", true, &[][..]),
                ("new", 1, "", true, &lets[..]),
                ("new", 2, "", false, &[][..])
            ]
        );
        // One attempt read by its key is the row the stream holds.
        for r in &rows {
            let one = store.attempt("c", &r.customer_id, r.attempt).unwrap();
            assert_eq!(format!("{one:?}"), format!("{:?}", Some(r)));
        }
        assert!(store.attempt("c", "new", 3).unwrap().is_none());
        // The masked let's value is NULL, not a placeholder that could pass for one.
        let masked: Option<String> =
            store.conn.query_row("SELECT value FROM attempt_lets WHERE name = 'id_tail'", [], |r| r.get(0)).unwrap();
        assert_eq!(masked, None);
    }

    /// A schema 4 store upgrades; a call's actions, text messages and hand-over are stored in
    /// order with its attempt and read back with it.
    #[test]
    fn a_version_4_store_upgrades_and_keeps_actions_messages_and_handovers() {
        let (_dir, path) = temp_db("actions");
        build_at_version(&path, 4);
        let mut store = SqliteStore::open(&path).unwrap();
        let actions = vec![
            StoredAction { name: "balance_lookup".into(), ok: true, latency_ms: 212, cause: None },
            StoredAction {
                name: "balance_lookup".into(),
                ok: false,
                latency_ms: 2000,
                cause: Some("no answer within 2000 ms".into()),
            },
        ];
        let messages = vec![
            StoredMessage { text: "还款账号尾号****。".into(), status: "sent".into(), cause: None },
            StoredMessage { text: "提醒".into(), status: "failed".into(), cause: Some("HTTP status 503".into()) },
        ];
        let handover = vec![("reason".to_string(), "angry".to_string()), ("tail".to_string(), "****".to_string())];
        let id = store.begin_attempt(&row("c1", 1)).unwrap();
        let finished = Finished {
            disposition: "answered".into(),
            actions: actions.clone(),
            messages: messages.clone(),
            handover: handover.clone(),
            ..Finished::default()
        };
        store.finish_attempt(id, &finished).unwrap();
        let rows = store.attempt_rows("c").unwrap();
        assert_eq!((rows[0].actions.clone(), rows[0].messages.clone()), (actions, messages));
        let stored: Vec<(String, String)> = store
            .rows("SELECT key, value FROM attempt_handovers WHERE attempt_id = ?1 ORDER BY position", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(stored, handover);
    }

    /// Two processes opening an old store at once (a `run` and a `report`): each migration is
    /// applied once, and both open.
    #[test]
    fn an_old_store_opened_by_two_processes_at_once_migrates_once() {
        for round in 0..10 {
            let (_dir, path) = temp_db(&format!("race{round}"));
            {
                let conn = Connection::open(&path).unwrap();
                conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
                conn.execute_batch(MIGRATIONS[0]).unwrap();
                conn.execute_batch("PRAGMA user_version = 1").unwrap();
            }
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let openers: Vec<_> = (0..2)
                .map(|_| {
                    let (path, barrier) = (path.clone(), std::sync::Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        SqliteStore::open(&path).map(|_| ())
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
            let store = SqliteStore::open(&path).unwrap();
            let version: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
            assert_eq!(version, SCHEMA_VERSION);
        }
    }

    #[test]
    fn exports_are_logged_in_order() {
        let (_dir, path) = temp_db("exports");
        let mut store = SqliteStore::open(&path).unwrap();
        let ok = ExportRow {
            id: 0,
            path: "/r/c-3.csrec".into(),
            attempt_id: Some(3),
            exported_ms: 10,
            exported_by: "alice".into(),
            destination: "out.wav".into(),
            ok: true,
            error: None,
        };
        let failed = ExportRow { attempt_id: None, ok: false, error: Some("chunk 1 fails".into()), ..ok.clone() };
        let first = store.log_export(&ok).unwrap();
        let second = store.log_export(&failed).unwrap();
        let logged = store.exports().unwrap();
        assert_eq!(logged, vec![ExportRow { id: first, ..ok }, ExportRow { id: second, ..failed }]);
    }

    fn row(customer: &str, attempt: u32) -> NewAttempt<'static> {
        NewAttempt {
            campaign: "c",
            customer_id: Box::leak(customer.to_string().into_boxed_str()),
            phone: "+8613800000001",
            attempt,
            started_ms: attempt as i64,
            local_time: "2026-11-23T09:00:00+08:00".into(),
            local_date: "2026-11-23".into(),
            local_hour: 9,
            script_sha256: "x",
            allowed: "{}",
            segment: Some("overdue"),
            zone: "Asia/Shanghai",
            list: "customers.csv",
            variant: "loan_reminder",
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_store_and_its_wal_are_private() {
        let (_dir, path) = temp_db("private");
        let mut store = SqliteStore::open(&path).unwrap();
        store.begin().unwrap();
        store.begin_attempt(&row("a", 1)).unwrap();
        store.commit().unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        // Nothing of the build is left beside it.
        let left: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.iter().all(|n| n.to_string_lossy().starts_with("campaign.db")), "{left:?}");
    }

    #[test]
    fn an_old_world_readable_store_is_made_private() {
        let (_dir, path) = temp_db("chmod");
        drop(SqliteStore::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn empty_and_foreign_files_are_refused_and_left_alone() {
        let (_dir, path) = temp_db("foreign");
        std::fs::write(&path, b"").unwrap();
        let e = SqliteStore::open(&path).err().unwrap();
        assert!(matches!(e, StoreError::Empty { .. }), "{e}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

        std::fs::write(&path, b"name,phone\nA,1\n").unwrap();
        let e = SqliteStore::open(&path).err().unwrap();
        assert!(e.to_string().contains("not a SQLite database"), "{e}");

        std::fs::remove_file(&path).unwrap();
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE notes (body TEXT)").unwrap();
        let e = SqliteStore::open(&path).err().unwrap();
        assert!(e.to_string().contains("another schema (tables: notes)"), "{e}");

        std::fs::remove_file(&path).unwrap();
        Connection::open(&path).unwrap().execute_batch("PRAGMA application_id = 7; CREATE TABLE t (x)").unwrap();
        let e = SqliteStore::open(&path).err().unwrap();
        assert!(e.to_string().contains("application id is 0x7"), "{e}");
    }

    #[test]
    fn open_existing_creates_nothing() {
        let (_dir, path) = temp_db("missing");
        let e = SqliteStore::open_existing(&path).err().unwrap();
        assert!(matches!(e, StoreError::Missing { .. }), "{e}");
        assert!(std::fs::read_dir(path.parent().unwrap()).unwrap().next().is_none());
    }

    #[test]
    fn a_second_run_is_refused_by_name_and_the_first_keeps_its_lease() {
        let (_dir, path) = temp_db("lease");
        let mut first = SqliteStore::open(&path).unwrap();
        let me = LeaseHolder::this_process("c", 1_000, 30_000);
        first.acquire_lease(&me).unwrap();
        // The first run is in the middle of a batch (holding SQLite's write lock).
        first.begin().unwrap();
        first.begin_attempt(&row("a", 1)).unwrap();
        let mut second = SqliteStore::open(&path).unwrap();
        let other = LeaseHolder { token: "other-run".into(), ..LeaseHolder::this_process("c", 2_000, 30_000) };
        let e = second.acquire_lease(&other).err().unwrap();
        assert!(matches!(&e, StoreError::Leased { holder, .. } if **holder == me), "{e}");
        assert!(e.to_string().contains(&format!("process {}", me.pid)), "{e}");
        first.renew_lease(&me, 5_000, 35_000).unwrap();
        first.commit().unwrap();
        first.release_lease(&me).unwrap();
        second.acquire_lease(&other).unwrap();
        let e = first.renew_lease(&me, 6_000, 36_000).err().unwrap();
        assert!(matches!(e, StoreError::LeaseLost { .. }), "{e}");
    }

    #[test]
    fn rows_in_an_unknown_state_are_exported_not_dropped() {
        let (_dir, path) = temp_db("state");
        let mut store = SqliteStore::open(&path).unwrap();
        let a = store.begin_attempt(&row("a", 1)).unwrap();
        store.finish_attempt(a, &Finished { disposition: "answered".into(), ..Finished::default() }).unwrap();
        store.begin_attempt(&row("b", 1)).unwrap();
        store.begin_attempt(&row("c", 1)).unwrap();
        store.conn.execute("UPDATE attempts SET state = 'archived' WHERE customer_id = 'b'", []).unwrap();
        let rows = store.attempt_rows("c").unwrap();
        let seen: Vec<(&str, &str, &str)> =
            rows.iter().map(|r| (r.customer_id.as_str(), r.state.as_str(), r.disposition.as_str())).collect();
        assert_eq!(seen, [("a", "ended", "answered"), ("b", "archived", "unknown")]);
    }
}
