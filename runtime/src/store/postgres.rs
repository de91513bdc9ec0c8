//! The PostgreSQL store (CAMPAIGN.md §6): the same tables, migrations and run lease as the
//! SQLite one (`sqlite.rs`), in PostgreSQL's dialect, for several workers sharing a campaign.
//! The schema version is kept in `callscript_schema`; migrations run under an advisory lock,
//! one per transaction, so workers starting at once never apply one twice.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row};

use super::{
    AttemptCounts, AttemptGroup, AttemptRow, BoardCounts, By, CONNECTED_SQL, DncEntry, Ending, ExportRow, Finished,
    GoalLet, Happened, HourCounts, LeaseHolder, NewAttempt, PastAttempt, RecordingRow, Result, Store, StoreError,
    StoredAction, StoredCampaign, StoredLet, StoredMessage, Tally,
};

/// The schema version this callscript writes (the SQLite store's, same tables).
pub const SCHEMA_VERSION: i64 = 10;

/// The key of the advisory lock migrations take ("CSc1", as SQLite's application id).
const MIGRATION_LOCK: i64 = 0x4353_6331;

const MIGRATIONS: &[&str] = &[
    // 1: campaigns, attempts, the do-not-call list.
    "CREATE TABLE campaigns (
        id TEXT PRIMARY KEY,
        script_sha256 TEXT NOT NULL,
        script_name TEXT NOT NULL,
        clock_ms BIGINT NOT NULL,
        finished BIGINT NOT NULL DEFAULT 0,
        settings TEXT NOT NULL
    );
    CREATE TABLE attempts (
        id BIGSERIAL PRIMARY KEY,
        campaign TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        started_ms BIGINT NOT NULL,
        local_time TEXT NOT NULL,
        local_date TEXT NOT NULL,
        local_hour BIGINT NOT NULL,
        state TEXT NOT NULL,
        disposition TEXT,
        cause TEXT,
        outcome TEXT,
        goal BIGINT NOT NULL DEFAULT 0,
        ended_ms BIGINT,
        talk_ms BIGINT NOT NULL DEFAULT 0,
        last_step TEXT,
        callback_ms BIGINT,
        script_sha256 TEXT NOT NULL,
        allowed TEXT NOT NULL DEFAULT '{}',
        UNIQUE (campaign, customer_id, attempt)
    );
    CREATE TABLE attempt_details (
        attempt_id BIGINT PRIMARY KEY REFERENCES attempts (id),
        steps TEXT NOT NULL,
        tags TEXT NOT NULL,
        objections TEXT NOT NULL,
        unrecognised TEXT NOT NULL,
        transcript TEXT NOT NULL
    );
    CREATE TABLE dnc (
        phone TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        added_ms BIGINT NOT NULL
    );",
    // 2: encrypted call recordings, and the audit log of every export.
    "CREATE TABLE recordings (
        attempt_id BIGINT NOT NULL,
        campaign TEXT NOT NULL,
        path TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        bytes BIGINT NOT NULL
    );
    CREATE INDEX recordings_by_campaign ON recordings (campaign, attempt_id);
    CREATE TABLE recording_exports (
        id BIGSERIAL PRIMARY KEY,
        path TEXT NOT NULL,
        attempt_id BIGINT,
        exported_ms BIGINT NOT NULL,
        exported_by TEXT NOT NULL,
        destination TEXT NOT NULL,
        ok BIGINT NOT NULL,
        error TEXT
    );",
    // 3: the run lease.
    "CREATE TABLE run_lease (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        token TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        campaign TEXT NOT NULL,
        acquired_ms BIGINT NOT NULL,
        heartbeat_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );",
    // 4: the script's lets as each call ended them.
    "CREATE TABLE attempt_lets (
        attempt_id BIGINT NOT NULL REFERENCES attempts (id),
        position BIGINT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (attempt_id, position)
    );",
    // 5: actions, text messages and handed-over values of each call.
    "CREATE TABLE attempt_actions (
        attempt_id BIGINT NOT NULL REFERENCES attempts (id),
        position BIGINT NOT NULL,
        name TEXT NOT NULL,
        ok BIGINT NOT NULL,
        latency_ms BIGINT NOT NULL,
        cause TEXT,
        PRIMARY KEY (attempt_id, position)
    );
    CREATE TABLE attempt_messages (
        attempt_id BIGINT NOT NULL REFERENCES attempts (id),
        position BIGINT NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        cause TEXT,
        PRIMARY KEY (attempt_id, position)
    );
    CREATE TABLE attempt_handovers (
        attempt_id BIGINT NOT NULL REFERENCES attempts (id),
        position BIGINT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (attempt_id, position)
    );",
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
        attempts BIGINT NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'open',
        next_at_ms BIGINT NOT NULL,
        PRIMARY KEY (campaign, customer_id)
    );
    CREATE INDEX campaign_customers_due ON campaign_customers (campaign, state, next_at_ms);
    CREATE TABLE workers (
        token TEXT PRIMARY KEY,
        campaign TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        started_ms BIGINT NOT NULL,
        heartbeat_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        draining BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE campaign_pace (
        campaign TEXT PRIMARY KEY,
        epoch_wall_ms BIGINT NOT NULL,
        epoch_clock_ms BIGINT NOT NULL,
        speed DOUBLE PRECISION NOT NULL,
        next_token_ms BIGINT NOT NULL
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
    // 9: SQLite's drops its index by phone; here every claim checks the caps through it, so
    // it stays (the versions of both stores move together).
    "SELECT 1;",
    // 10: SQLite keeps each campaign's report tallies as its attempts end; here reports group
    // in SQL (hash aggregates over every worker's attempts), so nothing is kept.
    "SELECT 1;",
];

/// A connection string as shown in messages: the password left out.
pub fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:****{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

pub struct PostgresStore {
    pub(super) client: RefCell<Client>,
    pub(super) url: String,
    in_transaction: bool,
    /// Statements sent (each one round trip to the server), for the throughput benchmark.
    pub(super) round_trips: Cell<u64>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and brings the schema up to
    /// [`SCHEMA_VERSION`]. A database whose schema is newer is refused.
    pub fn connect(url: &str) -> Result<PostgresStore> {
        let client = Client::connect(url, NoTls).map_err(|source| StoreError::Postgres { url: shown(url), source })?;
        let mut store = PostgresStore {
            client: RefCell::new(client),
            url: url.to_string(),
            in_transaction: false,
            round_trips: Cell::new(0),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Statements sent to the server so far (each is one round trip).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.get()
    }

    pub(super) fn trip(&self) {
        self.round_trips.set(self.round_trips.get() + 1);
    }

    pub(super) fn err(&self, source: postgres::Error) -> StoreError {
        StoreError::Postgres { url: shown(&self.url), source }
    }

    fn migrate(&mut self) -> Result<()> {
        let url = shown(&self.url);
        let mut client = self.client.borrow_mut();
        let fail = |source| StoreError::Postgres { url: url.clone(), source };
        loop {
            let mut tx = client.transaction().map_err(fail)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(fail)?;
            // Under the lock: two workers creating the table at once collide in PostgreSQL's
            // catalogue, IF NOT EXISTS notwithstanding.
            tx.batch_execute("CREATE TABLE IF NOT EXISTS callscript_schema (version BIGINT NOT NULL)").map_err(fail)?;
            let version: i64 =
                tx.query_opt("SELECT version FROM callscript_schema", &[]).map_err(fail)?.map_or(0, |r| r.get(0));
            if version > SCHEMA_VERSION {
                return Err(StoreError::NewerDatabase { url, found: version, supported: SCHEMA_VERSION });
            }
            let Some(sql) = MIGRATIONS.get(version as usize) else { return tx.commit().map_err(fail) };
            tx.batch_execute(sql).map_err(fail)?;
            tx.execute("DELETE FROM callscript_schema", &[]).map_err(fail)?;
            tx.execute("INSERT INTO callscript_schema (version) VALUES ($1)", &[&(version + 1)]).map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
    }

    fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.trip();
        self.client.borrow_mut().execute(sql, params).map_err(|e| self.err(e))
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.trip();
        self.client.borrow_mut().query(sql, params).map_err(|e| self.err(e))
    }

    /// [`Store::attempt_counts`] in SQL: the server groups (hash aggregates), only the tallies
    /// travel; the breakdowns in one scan (grouping sets). As `counts::Counter` tallies: the
    /// cause kept for failed transfers only, the last step for hang-ups only, the local time's
    /// date, a money let's captured value as the empty text. Customers are counted exactly
    /// (the SQLite store by 64-bit hashes).
    fn count_attempts(&self, campaign: &str) -> Result<AttemptCounts> {
        const OF_CAMPAIGN: &str = "JOIN attempts a ON a.id = x.attempt_id WHERE a.campaign = $1 AND a.state <> 'live'";
        let groups = self.query(
            "SELECT COALESCE(disposition, 'unknown'), outcome, goal,
             CASE WHEN outcome = 'transfer_failed' THEN cause END,
             CASE WHEN disposition = 'customer_hangup' THEN last_step END,
             COALESCE(d.steps, '[]'), COALESCE(d.objections, '[]'), COALESCE(d.unrecognised, '[]'),
             COALESCE(d.tags, '[]'), COUNT(*), CAST(SUM(talk_ms) AS BIGINT)
             FROM attempts a LEFT JOIN attempt_details d ON d.attempt_id = a.id
             WHERE campaign = $1 AND state <> 'live'
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY MIN(a.id)",
            &[&campaign],
        )?;
        let groups = groups
            .iter()
            .map(|r| AttemptGroup {
                happened: Happened {
                    disposition: r.get(0),
                    outcome: r.get(1),
                    goal: r.get::<_, i64>(2) != 0,
                    cause: r.get(3),
                    last_step: r.get(4),
                    steps: r.get(5),
                    objections: r.get(6),
                    unrecognised: r.get(7),
                    tags: r.get(8),
                },
                attempts: r.get::<_, i64>(9) as u64,
                talk_ms: r.get(10),
            })
            .collect();
        // GROUPING(...) has a bit per breakdown, the first the highest, set for those a row is
        // not grouped by: each row is grouped by one.
        const BREAKDOWNS: &str = "local_hour, attempt, substr(local_time, 1, 10), segment, zone, list, variant";
        let connected = format!("COALESCE(disposition, 'unknown') IN {CONNECTED_SQL}");
        let tallies = self.query(
            &format!(
                "SELECT GROUPING({BREAKDOWNS}), {BREAKDOWNS}, {connected}, goal, outcome, COUNT(*) FROM attempts
                 WHERE campaign = $1 AND state <> 'live'
                 GROUP BY {connected}, goal, outcome,
                 GROUPING SETS ((local_hour), (attempt), (substr(local_time, 1, 10)), (segment), (zone), (list), (variant))"
            ),
            &[&campaign],
        )?;
        let tallies = tallies
            .iter()
            .map(|r| {
                let grouped_by = (0..7).find(|b| r.get::<_, i32>(0) & (1 << (6 - b)) == 0);
                let by = match grouped_by {
                    Some(0) => By::Hour(r.get(1)),
                    Some(1) => By::Attempt(r.get::<_, i64>(2) as u32),
                    Some(2) => By::Day(r.get(3)),
                    Some(3) => By::Segment(r.get(4)),
                    Some(4) => By::Zone(r.get(5)),
                    Some(5) => By::List(r.get(6)),
                    _ => By::Variant(r.get(7)),
                };
                let ending = Ending { connected: r.get(8), goal: r.get::<_, i64>(9) != 0, outcome: r.get(10) };
                Tally { by, ending, attempts: r.get::<_, i64>(11) as u64 }
            })
            .collect();
        let totals = self.query(
            "SELECT COUNT(DISTINCT customer_id), COUNT(*) FILTER (WHERE state <> 'ended') FROM attempts
             WHERE campaign = $1 AND state <> 'live'",
            &[&campaign],
        )?;
        let total = |i: usize| totals.first().map_or(0, |r| r.get::<_, i64>(i) as u64);
        let shapes = self.query(
            &format!(
                "SELECT names, types, held FROM (SELECT x.attempt_id, array_agg(x.name ORDER BY x.position) AS names,
                 array_agg(x.type ORDER BY x.position) AS types,
                 array_agg(x.value IS NOT NULL ORDER BY x.position) AS held
                 FROM attempt_lets x {OF_CAMPAIGN} GROUP BY x.attempt_id) s
                 GROUP BY names, types, held ORDER BY MIN(attempt_id)"
            ),
            &[&campaign],
        )?;
        let let_shapes = shapes
            .iter()
            .map(|r| {
                let (names, types, held): (Vec<String>, Vec<String>, Vec<bool>) = (r.get(0), r.get(1), r.get(2));
                names
                    .into_iter()
                    .zip(types)
                    .zip(held)
                    .map(|((name, ty), held)| StoredLet { name, ty, value: held.then(String::new) })
                    .collect()
            })
            .collect();
        let goal_lets = self.query(
            &format!(
                "SELECT a.outcome, x.name, x.type, x.value, COUNT(*) FROM attempt_lets x {OF_CAMPAIGN}
                 AND a.goal <> 0 AND x.value IS NOT NULL AND x.type IN ('money', 'date') GROUP BY 1, 2, 3, 4"
            ),
            &[&campaign],
        )?;
        let goal_lets = goal_lets
            .iter()
            .map(|r| GoalLet {
                outcome: r.get(0),
                value: StoredLet { name: r.get(1), ty: r.get(2), value: r.get(3) },
                calls: r.get::<_, i64>(4) as u64,
            })
            .collect();
        let captured = self.query(
            &format!(
                "SELECT x.name, x.type, CASE WHEN x.type = 'money' AND x.value IS NOT NULL THEN '' ELSE x.value END,
                 COUNT(*) FROM attempt_lets x {OF_CAMPAIGN} AND a.disposition IN {CONNECTED_SQL}
                 GROUP BY 1, 2, 3 ORDER BY MAX(a.id)"
            ),
            &[&campaign],
        )?;
        let captured = captured
            .iter()
            .map(|r| (StoredLet { name: r.get(0), ty: r.get(1), value: r.get(2) }, r.get::<_, i64>(3) as u64))
            .collect();
        let actions = self.query(
            &format!(
                "SELECT x.name, x.ok, x.latency_ms, x.cause, COUNT(*) FROM attempt_actions x {OF_CAMPAIGN}
                 GROUP BY 1, 2, 3, 4"
            ),
            &[&campaign],
        )?;
        let actions = actions
            .iter()
            .map(|r| {
                let action =
                    StoredAction { name: r.get(0), ok: r.get::<_, i64>(1) != 0, latency_ms: r.get(2), cause: r.get(3) };
                (action, r.get::<_, i64>(4) as u64)
            })
            .collect();
        let messages = self.query(
            &format!("SELECT x.status, COUNT(*) FROM attempt_messages x {OF_CAMPAIGN} GROUP BY 1"),
            &[&campaign],
        )?;
        let messages = messages.iter().map(|r| (r.get(0), r.get::<_, i64>(1) as u64)).collect();
        Ok(AttemptCounts {
            groups,
            tallies,
            customers: total(0),
            unknown_states: total(1),
            let_shapes,
            goal_lets,
            captured,
            actions,
            messages,
        })
    }

    fn lease(&self) -> Result<Option<LeaseHolder>> {
        let rows = self.query(
            "SELECT token, host, pid, campaign, acquired_ms, heartbeat_ms, expires_ms FROM run_lease WHERE id = 1",
            &[],
        )?;
        Ok(rows.first().map(|r| LeaseHolder {
            token: r.get(0),
            host: r.get(1),
            pid: r.get::<_, i64>(2) as u32,
            campaign: r.get(3),
            acquired_ms: r.get(4),
            heartbeat_ms: r.get(5),
            expires_ms: r.get(6),
        }))
    }
}

impl Store for PostgresStore {
    fn begin(&mut self) -> Result<()> {
        if !self.in_transaction {
            self.trip();
            self.client.borrow_mut().batch_execute("BEGIN").map_err(|e| self.err(e))?;
            self.in_transaction = true;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.in_transaction {
            self.trip();
            self.client.borrow_mut().batch_execute("COMMIT").map_err(|e| self.err(e))?;
            self.in_transaction = false;
        }
        Ok(())
    }

    fn acquire_lease(&mut self, me: &LeaseHolder) -> Result<()> {
        let was_open = self.in_transaction;
        self.commit()?;
        self.begin()?;
        // The row locked: two workers starting at once see each other's lease.
        let taken = (|| {
            self.exec("LOCK TABLE run_lease IN EXCLUSIVE MODE", &[])?;
            if let Some(holder) = self.lease()?
                && holder.blocks(me.heartbeat_ms, me)
            {
                return Err(StoreError::LeasedDatabase { url: shown(&self.url), holder: Box::new(holder) });
            }
            self.exec(
                "INSERT INTO run_lease (id, token, host, pid, campaign, acquired_ms, heartbeat_ms, expires_ms)
                 VALUES (1, $1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET token = $1, host = $2, pid = $3, campaign = $4, acquired_ms = $5,
                 heartbeat_ms = $6, expires_ms = $7",
                &[
                    &me.token,
                    &me.host,
                    &i64::from(me.pid),
                    &me.campaign,
                    &me.acquired_ms,
                    &me.heartbeat_ms,
                    &me.expires_ms,
                ],
            )
        })();
        match taken {
            Ok(_) => self.commit()?,
            Err(e) => {
                let _ = self.client.borrow_mut().batch_execute("ROLLBACK");
                self.in_transaction = false;
                return Err(e);
            }
        }
        if was_open {
            self.begin()?;
        }
        Ok(())
    }

    fn renew_lease(&mut self, me: &LeaseHolder, now_ms: i64, expires_ms: i64) -> Result<()> {
        let renewed = self.exec(
            "UPDATE run_lease SET heartbeat_ms = $2, expires_ms = $3 WHERE id = 1 AND token = $1",
            &[&me.token, &now_ms, &expires_ms],
        )?;
        if renewed == 0 {
            let holder = self.lease()?.map_or_else(|| "nobody".to_string(), |h| h.to_string());
            return Err(StoreError::LeaseLostDatabase { url: shown(&self.url), holder });
        }
        Ok(())
    }

    fn release_lease(&mut self, me: &LeaseHolder) -> Result<()> {
        self.exec("DELETE FROM run_lease WHERE id = 1 AND token = $1", &[&me.token])?;
        self.commit()
    }

    fn campaign(&self, id: &str) -> Result<Option<StoredCampaign>> {
        let rows = self.query("SELECT script_sha256, clock_ms, finished FROM campaigns WHERE id = $1", &[&id])?;
        Ok(rows.first().map(|r| StoredCampaign {
            script_sha256: r.get(0),
            clock_ms: r.get(1),
            finished: r.get::<_, i64>(2) != 0,
        }))
    }

    fn save_campaign(&mut self, id: &str, sha: &str, script: &str, clock_ms: i64, settings: &str) -> Result<()> {
        self.exec(
            "INSERT INTO campaigns (id, script_sha256, script_name, clock_ms, settings) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET script_sha256 = $2, script_name = $3, settings = $5",
            &[&id, &sha, &script, &clock_ms, &settings],
        )?;
        Ok(())
    }

    fn set_clock(&mut self, id: &str, clock_ms: i64, finished: bool) -> Result<()> {
        self.exec(
            "UPDATE campaigns SET clock_ms = $2, finished = $3 WHERE id = $1",
            &[&id, &clock_ms, &i64::from(finished)],
        )?;
        Ok(())
    }

    fn campaign_ids(&self) -> Result<Vec<String>> {
        Ok(self.query("SELECT id FROM campaigns ORDER BY id", &[])?.iter().map(|r| r.get(0)).collect())
    }

    fn interrupt_live(&mut self, campaign: &str) -> Result<usize> {
        let n = self.exec(
            "UPDATE attempts SET state = 'ended', disposition = 'failed', cause = 'interrupted', ended_ms = started_ms
             WHERE campaign = $1 AND state = 'live'",
            &[&campaign],
        )?;
        Ok(n as usize)
    }

    fn begin_attempt(&mut self, a: &NewAttempt) -> Result<i64> {
        let rows = self.query(
            "INSERT INTO attempts (campaign, customer_id, phone, attempt, started_ms, local_time, local_date,
             local_hour, state, script_sha256, allowed, segment, zone, list, variant)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'live', $9, $10, $11, $12, $13, $14) RETURNING id",
            &[
                &a.campaign,
                &a.customer_id,
                &a.phone,
                &i64::from(a.attempt),
                &a.started_ms,
                &a.local_time,
                &a.local_date,
                &a.local_hour,
                &a.script_sha256,
                &a.allowed,
                &a.segment,
                &a.zone,
                &a.list,
                &a.variant,
            ],
        )?;
        Ok(rows.first().map_or(0, |r| r.get(0)))
    }

    fn finish_attempt(&mut self, id: i64, f: &Finished) -> Result<()> {
        let mut trips = 0;
        let written = write_finished(&mut *self.client.borrow_mut(), &mut trips, id, f, None);
        self.round_trips.set(self.round_trips.get() + trips);
        written.map(|_| ()).map_err(|e| self.err(e))
    }

    fn past_attempts(&self, campaign: &str) -> Result<Vec<PastAttempt>> {
        let rows = self.query(
            "SELECT customer_id, attempt, started_ms, COALESCE(ended_ms, started_ms), COALESCE(disposition, 'failed'),
             outcome, callback_ms FROM attempts WHERE campaign = $1 ORDER BY started_ms, id",
            &[&campaign],
        )?;
        Ok(rows
            .iter()
            .map(|r| PastAttempt {
                customer_id: r.get(0),
                attempt: r.get::<_, i64>(1) as u32,
                started_ms: r.get(2),
                ended_ms: r.get(3),
                disposition: r.get(4),
                outcome: r.get(5),
                callback_ms: r.get(6),
            })
            .collect())
    }

    fn placed_by_phone_and_date(&self) -> Result<Vec<(String, String, u32)>> {
        let rows = self.query("SELECT phone, local_date, COUNT(*) FROM attempts GROUP BY phone, local_date", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u32)).collect())
    }

    fn attempt_rows(&self, campaign: &str) -> Result<Vec<AttemptRow>> {
        let rows = self.query(
            "SELECT customer_id, phone, attempt, started_ms, local_time, local_hour, COALESCE(disposition, 'unknown'),
             cause, outcome, goal, talk_ms, last_step, COALESCE(d.steps, '[]'), COALESCE(d.objections, '[]'),
             COALESCE(d.unrecognised, '[]'), COALESCE(ended_ms, started_ms), state, a.id, COALESCE(d.tags, '[]'),
             segment, zone, list, variant
             FROM attempts a LEFT JOIN attempt_details d ON d.attempt_id = a.id
             WHERE campaign = $1 AND state != 'live' ORDER BY a.id",
            &[&campaign],
        )?;
        let mut lets: HashMap<i64, Vec<StoredLet>> = HashMap::new();
        for r in self.query(
            "SELECT l.attempt_id, l.name, l.type, l.value FROM attempt_lets l JOIN attempts a ON a.id = l.attempt_id
             WHERE a.campaign = $1 AND a.state != 'live' ORDER BY l.attempt_id, l.position",
            &[&campaign],
        )? {
            lets.entry(r.get(0)).or_default().push(StoredLet { name: r.get(1), ty: r.get(2), value: r.get(3) });
        }
        let mut actions: HashMap<i64, Vec<StoredAction>> = HashMap::new();
        for r in self.query(
            "SELECT x.attempt_id, x.name, x.ok, x.latency_ms, x.cause FROM attempt_actions x
             JOIN attempts a ON a.id = x.attempt_id WHERE a.campaign = $1 AND a.state != 'live'
             ORDER BY x.attempt_id, x.position",
            &[&campaign],
        )? {
            let action =
                StoredAction { name: r.get(1), ok: r.get::<_, i64>(2) != 0, latency_ms: r.get(3), cause: r.get(4) };
            actions.entry(r.get(0)).or_default().push(action);
        }
        let mut messages: HashMap<i64, Vec<StoredMessage>> = HashMap::new();
        for r in self.query(
            "SELECT m.attempt_id, m.text, m.status, m.cause FROM attempt_messages m
             JOIN attempts a ON a.id = m.attempt_id WHERE a.campaign = $1 AND a.state != 'live'
             ORDER BY m.attempt_id, m.position",
            &[&campaign],
        )? {
            messages.entry(r.get(0)).or_default().push(StoredMessage {
                text: r.get(1),
                status: r.get(2),
                cause: r.get(3),
            });
        }
        Ok(rows
            .iter()
            .map(|r| {
                let id: i64 = r.get(17);
                AttemptRow {
                    id,
                    customer_id: r.get(0),
                    phone: r.get(1),
                    attempt: r.get::<_, i64>(2) as u32,
                    started_ms: r.get(3),
                    local_time: r.get(4),
                    local_hour: r.get(5),
                    disposition: r.get(6),
                    cause: r.get(7),
                    outcome: r.get(8),
                    goal: r.get::<_, i64>(9) != 0,
                    talk_ms: r.get(10),
                    last_step: r.get(11),
                    steps: r.get(12),
                    objections: r.get(13),
                    unrecognised: r.get(14),
                    ended_ms: r.get(15),
                    state: r.get(16),
                    lets: lets.remove(&id).unwrap_or_default(),
                    actions: actions.remove(&id).unwrap_or_default(),
                    messages: messages.remove(&id).unwrap_or_default(),
                    tags: r.get(18),
                    segment: r.get(19),
                    zone: r.get(20),
                    list: r.get(21),
                    variant: r.get(22),
                }
            })
            .collect())
    }

    fn attempt_counts(&self, campaign: &str) -> Result<AttemptCounts> {
        // One snapshot for the seven queries while workers write.
        let own_transaction = !self.in_transaction;
        let run = |sql: &str| self.client.borrow_mut().batch_execute(sql).map_err(|e| self.err(e));
        if own_transaction {
            run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        let counted = self.count_attempts(campaign);
        if own_transaction {
            run(if counted.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        }
        counted
    }

    fn board(&self, campaign: &str, window_ms: i64) -> Result<BoardCounts> {
        let totals = format!(
            "SELECT COALESCE(SUM(CASE WHEN state = 'live' THEN 1 ELSE 0 END), 0),
             COALESCE(SUM(CASE WHEN state <> 'live' THEN 1 ELSE 0 END), 0),
             COALESCE(SUM(CASE WHEN state <> 'live' AND disposition IN {CONNECTED_SQL} THEN 1 ELSE 0 END), 0),
             COALESCE(CAST(SUM(goal) AS BIGINT), 0), MAX(started_ms) FROM attempts WHERE campaign = $1"
        );
        let row = self.query(&totals, &[&campaign])?;
        let mut board = row
            .first()
            .map(|r| BoardCounts {
                live: r.get::<_, i64>(0) as u64,
                ended: r.get::<_, i64>(1) as u64,
                answered: r.get::<_, i64>(2) as u64,
                goals: r.get::<_, i64>(3) as u64,
                latest_start_ms: r.get(4),
                ..BoardCounts::default()
            })
            .unwrap_or_default();
        if let Some(latest) = board.latest_start_ms {
            let recent = self.query(
                "SELECT COUNT(*) FROM attempts WHERE campaign = $1 AND started_ms > $2",
                &[&campaign, &(latest - window_ms)],
            )?;
            board.recent_starts = recent.first().map_or(0, |r| r.get::<_, i64>(0) as u64);
        }
        let by_hour = format!(
            "SELECT local_hour, COUNT(*), SUM(CASE WHEN disposition IN {CONNECTED_SQL} THEN 1 ELSE 0 END), CAST(SUM(goal) AS BIGINT)
             FROM attempts WHERE campaign = $1 AND state <> 'live' GROUP BY local_hour ORDER BY local_hour"
        );
        board.by_hour = self
            .query(&by_hour, &[&campaign])?
            .iter()
            .map(|r| HourCounts {
                hour: r.get(0),
                attempts: r.get::<_, i64>(1) as u64,
                answered: r.get::<_, i64>(2) as u64,
                goals: r.get::<_, i64>(3) as u64,
            })
            .collect();
        Ok(board)
    }

    fn transcript(&self, campaign: &str, customer_id: &str, attempt: u32) -> Result<Option<String>> {
        let rows = self.query(
            "SELECT d.transcript FROM attempts a JOIN attempt_details d ON d.attempt_id = a.id
             WHERE a.campaign = $1 AND a.customer_id = $2 AND a.attempt = $3",
            &[&campaign, &customer_id, &i64::from(attempt)],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn dnc_add(&mut self, phone: &str, source: &str, at_ms: i64) -> Result<bool> {
        let n = self.exec(
            "INSERT INTO dnc (phone, source, added_ms) VALUES ($1, $2, $3) ON CONFLICT (phone) DO NOTHING",
            &[&phone, &source, &at_ms],
        )?;
        Ok(n > 0)
    }

    fn dnc(&self) -> Result<HashSet<String>> {
        Ok(self.query("SELECT phone FROM dnc", &[])?.iter().map(|r| r.get(0)).collect())
    }

    fn dnc_entries(&self) -> Result<Vec<DncEntry>> {
        let rows = self.query("SELECT phone, source, added_ms FROM dnc ORDER BY added_ms, phone", &[])?;
        Ok(rows.iter().map(|r| DncEntry { phone: r.get(0), source: r.get(1), added_ms: r.get(2) }).collect())
    }

    fn dnc_remove(&mut self, phone: &str) -> Result<bool> {
        Ok(self.exec("DELETE FROM dnc WHERE phone = $1", &[&phone])? > 0)
    }

    fn add_recording(&mut self, r: &RecordingRow) -> Result<()> {
        self.exec(
            "INSERT INTO recordings (attempt_id, campaign, path, created_ms, bytes) VALUES ($1, $2, $3, $4, $5)",
            &[&r.attempt_id, &r.campaign, &r.path, &r.created_ms, &r.bytes],
        )?;
        Ok(())
    }

    fn recordings(&self, campaign: &str) -> Result<Vec<RecordingRow>> {
        let rows = self.query(
            "SELECT attempt_id, campaign, path, created_ms, bytes FROM recordings WHERE campaign = $1
             ORDER BY created_ms, attempt_id",
            &[&campaign],
        )?;
        Ok(rows
            .iter()
            .map(|r| RecordingRow {
                attempt_id: r.get(0),
                campaign: r.get(1),
                path: r.get(2),
                created_ms: r.get(3),
                bytes: r.get(4),
            })
            .collect())
    }

    fn log_export(&mut self, e: &ExportRow) -> Result<i64> {
        let rows = self.query(
            "INSERT INTO recording_exports (path, attempt_id, exported_ms, exported_by, destination, ok, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[&e.path, &e.attempt_id, &e.exported_ms, &e.exported_by, &e.destination, &i64::from(e.ok), &e.error],
        )?;
        Ok(rows.first().map_or(0, |r| r.get(0)))
    }

    fn exports(&self) -> Result<Vec<ExportRow>> {
        let rows = self.query(
            "SELECT id, path, attempt_id, exported_ms, exported_by, destination, ok, error FROM recording_exports
             ORDER BY id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| ExportRow {
                id: r.get(0),
                path: r.get(1),
                attempt_id: r.get(2),
                exported_ms: r.get(3),
                exported_by: r.get(4),
                destination: r.get(5),
                ok: r.get::<_, i64>(6) != 0,
                error: r.get(7),
            })
            .collect())
    }
}

/// Writes an attempt's result and details (lets, actions, messages, hand-overs) with `c` (a
/// client or an open transaction) in one statement: round trips are the cost of a shared store,
/// so the lists go as unnested arrays and every insert is a data-modifying CTE over the
/// attempt the UPDATE returns. `worker`, when given, must still hold the attempt. False when
/// the attempt is not live (already ended, or taken over from that worker). Counts the
/// statements sent in `trips`.
pub(super) fn write_finished(
    c: &mut impl GenericClient,
    trips: &mut u64,
    id: i64,
    f: &Finished,
    worker: Option<&str>,
) -> std::result::Result<bool, postgres::Error> {
    let positions = |n: usize| (0..n as i64).collect::<Vec<i64>>();
    let let_names: Vec<&str> = f.lets.iter().map(|l| l.name.as_str()).collect();
    let let_types: Vec<&str> = f.lets.iter().map(|l| l.ty.as_str()).collect();
    let let_values: Vec<Option<&str>> = f.lets.iter().map(|l| l.value.as_deref()).collect();
    let action_names: Vec<&str> = f.actions.iter().map(|a| a.name.as_str()).collect();
    let action_oks: Vec<i64> = f.actions.iter().map(|a| i64::from(a.ok)).collect();
    let action_latencies: Vec<i64> = f.actions.iter().map(|a| a.latency_ms).collect();
    let action_causes: Vec<Option<&str>> = f.actions.iter().map(|a| a.cause.as_deref()).collect();
    let texts: Vec<&str> = f.messages.iter().map(|m| m.text.as_str()).collect();
    let statuses: Vec<&str> = f.messages.iter().map(|m| m.status.as_str()).collect();
    let message_causes: Vec<Option<&str>> = f.messages.iter().map(|m| m.cause.as_deref()).collect();
    let keys: Vec<&str> = f.handover.iter().map(|(k, _)| k.as_str()).collect();
    let values: Vec<&str> = f.handover.iter().map(|(_, v)| v.as_str()).collect();
    *trips += 1;
    let row = c.query_one(
        "WITH a AS (
             UPDATE attempts SET state = 'ended', disposition = $2, cause = $3, outcome = $4, goal = $5,
             ended_ms = $6, talk_ms = $7, last_step = $8, callback_ms = $9
             WHERE id = $1 AND state = 'live' AND ($10::TEXT IS NULL OR worker = $10) RETURNING id),
         d AS (INSERT INTO attempt_details (attempt_id, steps, tags, objections, unrecognised, transcript)
             SELECT id, $11, $12, $13, $14, $15 FROM a),
         l AS (INSERT INTO attempt_lets (attempt_id, position, name, type, value)
             SELECT a.id, v.* FROM a, UNNEST($16::BIGINT[], $17::TEXT[], $18::TEXT[], $19::TEXT[]) AS v),
         x AS (INSERT INTO attempt_actions (attempt_id, position, name, ok, latency_ms, cause)
             SELECT a.id, v.* FROM a, UNNEST($20::BIGINT[], $21::TEXT[], $22::BIGINT[], $23::BIGINT[], $24::TEXT[]) AS v),
         m AS (INSERT INTO attempt_messages (attempt_id, position, text, status, cause)
             SELECT a.id, v.* FROM a, UNNEST($25::BIGINT[], $26::TEXT[], $27::TEXT[], $28::TEXT[]) AS v),
         h AS (INSERT INTO attempt_handovers (attempt_id, position, key, value)
             SELECT a.id, v.* FROM a, UNNEST($29::BIGINT[], $30::TEXT[], $31::TEXT[]) AS v)
         SELECT COUNT(*) FROM a",
        &[
            &id,
            &f.disposition,
            &f.cause,
            &f.outcome,
            &i64::from(f.goal),
            &f.ended_ms,
            &f.talk_ms,
            &f.last_step,
            &f.callback_ms,
            &worker,
            &f.steps,
            &f.tags,
            &f.objections,
            &f.unrecognised,
            &f.transcript,
            &positions(let_names.len()),
            &let_names,
            &let_types,
            &let_values,
            &positions(action_names.len()),
            &action_names,
            &action_oks,
            &action_latencies,
            &action_causes,
            &positions(texts.len()),
            &texts,
            &statuses,
            &message_causes,
            &positions(keys.len()),
            &keys,
            &values,
        ],
    )?;
    Ok(row.get::<_, i64>(0) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(shown("postgres://bank:s3cret@127.0.0.1:5432/calls"), "postgres://bank:****@127.0.0.1:5432/calls");
        assert_eq!(shown("postgres://127.0.0.1/calls"), "postgres://127.0.0.1/calls");
        assert_eq!(shown("postgres://bank@127.0.0.1/calls"), "postgres://bank@127.0.0.1/calls", "no password to hide");
    }

    /// A migration added without raising the version would make every store "newer" than
    /// this callscript; both stores move together.
    #[test]
    fn the_schema_version_is_the_number_of_migrations_in_both_stores() {
        assert_eq!(SCHEMA_VERSION, MIGRATIONS.len() as i64);
        assert_eq!(SCHEMA_VERSION, crate::store::sqlite::SCHEMA_VERSION);
    }
}
