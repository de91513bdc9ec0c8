//! The embedded store: SQLite (bundled) in WAL mode, schema versioned by `user_version` with
//! forward migrations. Every attempt is inserted before it is dialled; a unique key on
//! (campaign, customer, attempt) makes a double dial impossible even across a crash.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// The current schema version; `migrate` brings older stores up to it.
pub const SCHEMA_VERSION: i64 = 2;

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
];

#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(format!("store: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

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

/// One row of the `--attempts` export and the reports.
#[derive(Clone, Debug)]
pub struct AttemptRow {
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

pub struct Store {
    conn: Connection,
    in_transaction: bool,
}

impl Store {
    /// Opens (creating when needed) a SQLite store and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let conn =
            Connection::open(path).map_err(|e| StoreError(format!("cannot open the store {}: {e}", path.display())))?;
        // WAL: readers (reports) never block the runner. synchronous=NORMAL survives a killed
        // process (the WAL is written before every commit returns).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 10000; PRAGMA mmap_size = 268435456;",
        )?;
        let mut store = Store { conn, in_transaction: false };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError(format!(
                "the store has schema version {version}, newer than this callscript ({SCHEMA_VERSION}); use a newer callscript"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Runs a query and collects every row through `map`.
    fn rows<T, C: FromIterator<T>, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<C> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(params, map)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Starts a batch of writes (the scheduler commits before anything is dialled for real).
    pub fn begin(&mut self) -> Result<()> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN")?;
            self.in_transaction = true;
        }
        Ok(())
    }

    pub fn commit(&mut self) -> Result<()> {
        if self.in_transaction {
            self.conn.execute_batch("COMMIT")?;
            self.in_transaction = false;
        }
        Ok(())
    }

    /// The stored campaign: (script hash, clock, finished).
    pub fn campaign(&self, id: &str) -> Result<Option<(String, i64, bool)>> {
        Ok(self
            .conn
            .query_row("SELECT script_sha256, clock_ms, finished FROM campaigns WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0))
            })
            .optional()?)
    }

    pub fn save_campaign(&mut self, id: &str, sha: &str, script: &str, clock_ms: i64, settings: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO campaigns (id, script_sha256, script_name, clock_ms, settings) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET script_sha256 = ?2, script_name = ?3, settings = ?5",
            params![id, sha, script, clock_ms, settings],
        )?;
        Ok(())
    }

    pub fn set_clock(&mut self, id: &str, clock_ms: i64, finished: bool) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE campaigns SET clock_ms = ?2, finished = ?3 WHERE id = ?1")?
            .execute(params![id, clock_ms, finished as i64])?;
        Ok(())
    }

    /// After a crash: attempts that were live become `failed` with cause `interrupted` (they
    /// count against the retry budget). Returns how many.
    pub fn interrupt_live(&mut self, campaign: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE attempts SET state = 'ended', disposition = 'failed', cause = 'interrupted', ended_ms = started_ms
             WHERE campaign = ?1 AND state = 'live'",
            [campaign],
        )?)
    }

    /// Inserts an attempt before it is dialled; fails when that (customer, attempt) exists.
    pub fn begin_attempt(&mut self, a: &NewAttempt) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO attempts (campaign, customer_id, phone, attempt, started_ms, local_time, local_date,
                 local_hour, state, script_sha256, allowed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'live', ?9, ?10)",
            )?
            .execute(params![
                a.campaign,
                a.customer_id,
                a.phone,
                a.attempt,
                a.started_ms,
                a.local_time,
                a.local_date,
                a.local_hour,
                a.script_sha256,
                a.allowed
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_attempt(&mut self, id: i64, f: &Finished) -> Result<()> {
        let updated = self
            .conn
            .prepare_cached(
                "UPDATE attempts SET state = 'ended', disposition = ?2, cause = ?3, outcome = ?4, goal = ?5, ended_ms = ?6,
                 talk_ms = ?7, last_step = ?8, callback_ms = ?9 WHERE id = ?1 AND state = 'live'",
            )?
            .execute(params![
                id,
                f.disposition,
                f.cause,
                f.outcome,
                f.goal as i64,
                f.ended_ms,
                f.talk_ms,
                f.last_step,
                f.callback_ms
            ])?;
        if updated > 0 {
            self.conn
                .prepare_cached(
                    "INSERT INTO attempt_details (attempt_id, steps, tags, objections, unrecognised, transcript)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![id, f.steps, f.tags, f.objections, f.unrecognised, f.transcript])?;
        }
        Ok(())
    }

    /// Every ended attempt of a campaign, in order, to rebuild the scheduler's state.
    pub fn past_attempts(&self, campaign: &str) -> Result<Vec<PastAttempt>> {
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

    /// Calls placed to each phone on each local date, across every campaign (for the caps).
    pub fn placed_by_phone_and_date(&self) -> Result<Vec<(String, String, u32)>> {
        self.rows("SELECT phone, local_date, COUNT(*) FROM attempts GROUP BY phone, local_date", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
    }

    pub fn dnc_add(&mut self, phone: &str, source: &str, at_ms: i64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO dnc (phone, source, added_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![phone, source, at_ms])?
            > 0)
    }

    pub fn dnc(&self) -> Result<HashSet<String>> {
        self.rows("SELECT phone FROM dnc", [], |r| r.get::<_, String>(0))
    }

    /// Every ended attempt of a campaign for reports and the export, in order.
    pub fn attempt_rows(&self, campaign: &str) -> Result<Vec<AttemptRow>> {
        self.rows(
            "SELECT customer_id, phone, attempt, started_ms, local_time, local_hour, COALESCE(disposition, 'failed'),
             cause, outcome, goal, talk_ms, last_step, COALESCE(d.steps, '[]'), COALESCE(d.objections, '[]'),
             COALESCE(d.unrecognised, '[]'), COALESCE(ended_ms, started_ms)
             FROM attempts a LEFT JOIN attempt_details d ON d.attempt_id = a.id
             WHERE campaign = ?1 AND state = 'ended' ORDER BY started_ms, id",
            [campaign],
            |r| {
                Ok(AttemptRow {
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
                })
            },
        )
    }

    /// The stored transcript of one attempt (JSON).
    pub fn transcript(&self, campaign: &str, customer_id: &str, attempt: u32) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT d.transcript FROM attempts a JOIN attempt_details d ON d.attempt_id = a.id
                 WHERE a.campaign = ?1 AND a.customer_id = ?2 AND a.attempt = ?3",
                params![campaign, customer_id, attempt],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn campaign_ids(&self) -> Result<Vec<String>> {
        self.rows("SELECT id FROM campaigns ORDER BY id", [], |r| r.get(0))
    }

    pub fn add_recording(&mut self, r: &RecordingRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO recordings (attempt_id, campaign, path, created_ms, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![r.attempt_id, r.campaign, r.path, r.created_ms, r.bytes])?;
        Ok(())
    }

    /// A campaign's recordings, oldest first.
    pub fn recordings(&self, campaign: &str) -> Result<Vec<RecordingRow>> {
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

    /// Appends to the export audit log; returns the entry's id.
    pub fn log_export(&mut self, e: &ExportRow) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO recording_exports (path, attempt_id, exported_ms, exported_by, destination, ok, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                e.path,
                e.attempt_id,
                e.exported_ms,
                e.exported_by,
                e.destination,
                e.ok as i64,
                e.error
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The export audit log, in order.
    pub fn exports(&self) -> Result<Vec<ExportRow>> {
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
mod tests {
    use super::*;

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("callscript-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("campaign.db")
    }

    #[test]
    fn a_version_1_store_migrates_and_keeps_its_rows() {
        let path = temp_db("migrate");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
            conn.execute("INSERT INTO dnc (phone, source, added_ms) VALUES ('+8613800000001', 'import', 1)", [])
                .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let version: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert!(store.dnc().unwrap().contains("+8613800000001"));
        let row =
            RecordingRow { attempt_id: 3, campaign: "c".into(), path: "/r/c-3.csrec".into(), created_ms: 5, bytes: 99 };
        store.add_recording(&row).unwrap();
        assert_eq!(store.recordings("c").unwrap(), vec![row]);
        assert!(store.recordings("other").unwrap().is_empty());
    }

    #[test]
    fn exports_are_logged_in_order() {
        let mut store = Store::open(&temp_db("exports")).unwrap();
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
}
