//! [`SharedQueue`] on PostgreSQL: the transactions several workers share a campaign with.
//!
//! Lock order, the same in every transaction, so no two can deadlock: the campaign's
//! `campaign_pace` row first (claims and takeovers of one campaign take turns; each is a few
//! statements), then customer rows (`FOR UPDATE SKIP LOCKED`: a claim never waits for one),
//! then one advisory lock per phone in sorted order (caps are counted across campaigns under
//! it). A result (`finish`) locks only its own attempt and customer rows.

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;
use postgres::Transaction;
use postgres::types::ToSql;

use super::postgres::{PostgresStore, shown, write_finished};
use super::queue::{
    Candidate, ClaimLimits, Claimant, Claimed, Ending, Joined, Joining, Pace, QueueState, Rules, SharedQueue, Verdict,
    WorkerId,
};
use super::{LeaseHolder, Result, StoreError};

/// Customers added per statement when a worker joins.
const SEED_CHUNK: usize = 2_000;

/// What the queue keeps of a customer besides the rules' part.
struct Kept {
    /// The script's inputs, as JSON.
    inputs: String,
    segment: Option<String>,
    list: Option<String>,
}

/// A transaction that counts its statements.
struct Tx<'a> {
    tx: Transaction<'a>,
    trips: u64,
}

impl Tx<'_> {
    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> std::result::Result<u64, postgres::Error> {
        self.trips += 1;
        self.tx.execute(sql, params)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Vec<postgres::Row>, postgres::Error> {
        self.trips += 1;
        self.tx.query(sql, params)
    }
}

impl PostgresStore {
    /// Runs `work` in one transaction (committed when it returns Ok, rolled back otherwise),
    /// counting its statements, BEGIN and COMMIT included.
    fn in_tx<T>(&self, work: impl FnOnce(&mut Tx) -> std::result::Result<T, TxError>) -> Result<T> {
        let mut client = self.client.borrow_mut();
        self.trip();
        let tx = client.transaction().map_err(|e| self.err(e))?;
        let mut tx = Tx { tx, trips: 0 };
        let out = work(&mut tx);
        self.round_trips.set(self.round_trips.get() + tx.trips + 1);
        match out {
            Ok(value) => {
                tx.tx.commit().map_err(|e| self.err(e))?;
                Ok(value)
            }
            // Dropping the transaction rolls it back.
            Err(TxError::Postgres(e)) => Err(self.err(e)),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

/// What fails inside a transaction: the server, or a rule of the store.
enum TxError {
    Postgres(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> Self {
        TxError::Postgres(e)
    }
}

/// The lease rule of the single-process store, for a worker's row: expired, or (on this host)
/// its process is gone.
fn is_dead(token: &str, host: &str, pid: i64, expires_ms: i64, me: &WorkerId, wall_ms: i64) -> bool {
    let holder = LeaseHolder {
        token: token.to_string(),
        host: host.to_string(),
        pid: pid as u32,
        campaign: String::new(),
        acquired_ms: 0,
        heartbeat_ms: 0,
        expires_ms,
    };
    let mine = LeaseHolder { token: me.token.clone(), host: me.host.clone(), pid: me.pid, ..holder.clone() };
    token != me.token && !holder.blocks(wall_ms, &mine)
}

impl SharedQueue for PostgresStore {
    fn join(&mut self, me: &WorkerId, j: &Joining) -> Result<Joined> {
        let campaign = j.campaign;
        self.in_tx(|tx| {
            // Joins of one campaign take turns (the first creates its rows).
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('callscript-join:' || $1))", &[&campaign])?;
            let stored = tx.query("SELECT script_sha256, clock_ms FROM campaigns WHERE id = $1", &[&campaign])?;
            let stored_clock: Option<i64> = stored.first().map(|r| r.get(1));
            if let Some(r) = stored.first() {
                let sha: String = r.get(0);
                if sha != j.script_sha256 && !j.accept_new_script {
                    return Ok(Joined { pace: j.pace, script_changed: Some(sha) });
                }
            }
            tx.execute(
                "INSERT INTO campaigns (id, script_sha256, script_name, clock_ms, settings) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET script_sha256 = $2, script_name = $3, settings = $5",
                &[&campaign, &j.script_sha256, &j.script, &j.pace.epoch_clock_ms, &j.settings],
            )?;
            // The clock: a live worker's, else this worker's continuing from the stored clock.
            let others = tx.query(
                "SELECT token, host, pid, expires_ms FROM workers WHERE campaign = $1 AND token <> $2",
                &[&campaign, &me.token],
            )?;
            let someone_runs = others
                .iter()
                .any(|r| !is_dead(&r.get::<_, String>(0), &r.get::<_, String>(1), r.get(2), r.get(3), me, j.wall_ms));
            let pace_row = tx.query(
                "SELECT epoch_wall_ms, epoch_clock_ms, speed FROM campaign_pace WHERE campaign = $1 FOR UPDATE",
                &[&campaign],
            )?;
            let pace = match pace_row.first() {
                Some(r) if someone_runs => Pace { epoch_wall_ms: r.get(0), epoch_clock_ms: r.get(1), speed: r.get(2) },
                _ => {
                    let continues = stored_clock.map_or(j.pace.epoch_clock_ms, |c| c.max(j.pace.epoch_clock_ms));
                    let clock = if j.pace.speed > 0.0 { continues } else { j.wall_ms };
                    let pace = Pace { epoch_wall_ms: j.wall_ms, epoch_clock_ms: clock, speed: j.pace.speed };
                    tx.execute(
                        "INSERT INTO campaign_pace (campaign, epoch_wall_ms, epoch_clock_ms, speed, next_token_ms)
                         VALUES ($1, $2, $3, $4, $3)
                         ON CONFLICT (campaign) DO UPDATE SET epoch_wall_ms = $2, epoch_clock_ms = $3, speed = $4,
                         next_token_ms = LEAST(campaign_pace.next_token_ms, $3)",
                        &[&campaign, &pace.epoch_wall_ms, &pace.epoch_clock_ms, &pace.speed],
                    )?;
                    pace
                }
            };
            // New customers are due from the campaign's present.
            let now = pace.epoch_clock_ms + ((j.wall_ms - pace.epoch_wall_ms) as f64 * pace.speed) as i64;
            let list = j.customers;
            for start in (0..list.len()).step_by(SEED_CHUNK) {
                let chunk = start..(start + SEED_CHUNK).min(list.len());
                let ids: Vec<&str> = chunk.clone().map(|i| list.id(i)).collect();
                let phones: Vec<String> = chunk.clone().map(|i| list.phone(i).to_string()).collect();
                let zones: Vec<Option<&str>> = chunk.clone().map(|i| list.timezone(i)).collect();
                let inputs: Vec<String> = chunk
                    .clone()
                    .map(|i| serde_json::to_string(&list.inputs(i)).unwrap_or_else(|_| "[]".into()))
                    .collect();
                let segments: Vec<Option<&str>> = chunk.map(|i| list.segment(i)).collect();
                tx.execute(
                    "INSERT INTO campaign_customers (campaign, customer_id, phone, timezone, inputs, next_at_ms, segment, list)
                     SELECT $1, id, phone, zone, inputs, $2, segment, $8
                     FROM UNNEST($3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[]) AS c(id, phone, zone, inputs, segment)
                     ON CONFLICT (campaign, customer_id) DO NOTHING",
                    &[&campaign, &now, &ids, &phones, &zones, &inputs, &segments, &j.list],
                )?;
            }
            tx.execute(
                "INSERT INTO workers (token, campaign, host, pid, started_ms, heartbeat_ms, expires_ms)
                 VALUES ($1, $2, $3, $4, $5, $5, $6)
                 ON CONFLICT (token) DO UPDATE SET heartbeat_ms = $5, expires_ms = $6",
                &[&me.token, &campaign, &me.host, &i64::from(me.pid), &j.wall_ms, &(j.wall_ms + j.lease_ms)],
            )?;
            Ok(Joined { pace, script_changed: None })
        })
    }

    fn heartbeat(&mut self, me: &WorkerId, campaign: &str, wall_ms: i64, lease_ms: i64, clock_ms: i64) -> Result<()> {
        let url = self.url.clone();
        self.in_tx(|tx| {
            let beat = tx.execute(
                "UPDATE workers SET heartbeat_ms = $2, expires_ms = $3 WHERE token = $1",
                &[&me.token, &wall_ms, &(wall_ms + lease_ms)],
            )?;
            if beat == 0 {
                return Err(TxError::Store(lease_lost(&url)));
            }
            tx.execute(
                "UPDATE campaigns SET clock_ms = GREATEST(clock_ms, $2) WHERE id = $1",
                &[&campaign, &clock_ms],
            )?;
            Ok(())
        })
    }

    fn take_over(
        &mut self,
        me: &WorkerId,
        campaign: &str,
        wall_ms: i64,
        clock_ms: i64,
        next_attempt: &dyn Fn(u32, i64) -> Option<i64>,
    ) -> Result<usize> {
        self.in_tx(|tx| {
            let rows = tx.query(
                "SELECT token, host, pid, expires_ms FROM workers WHERE campaign = $1 AND token <> $2",
                &[&campaign, &me.token],
            )?;
            let dead: Vec<String> = rows
                .iter()
                .filter(|r| is_dead(&r.get::<_, String>(0), &r.get::<_, String>(1), r.get(2), r.get(3), me, wall_ms))
                .map(|r| r.get(0))
                .collect();
            if dead.is_empty() {
                return Ok(0);
            }
            tx.execute("SELECT 1 FROM campaign_pace WHERE campaign = $1 FOR UPDATE", &[&campaign])?;
            // Only the takeover that deletes a worker's row records its attempts.
            let gone: Vec<String> = tx
                .query("DELETE FROM workers WHERE token = ANY($1) RETURNING token", &[&dead])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if gone.is_empty() {
                return Ok(0);
            }
            let interrupted = tx.query(
                "UPDATE attempts SET state = 'ended', disposition = 'failed', cause = 'interrupted', ended_ms = $3
                 WHERE campaign = $1 AND worker = ANY($2) AND state = 'live' RETURNING customer_id, attempt",
                &[&campaign, &gone, &clock_ms],
            )?;
            reopen(tx, campaign, &interrupted, clock_ms, next_attempt)
        })
    }

    fn reconcile(
        &mut self,
        me: &WorkerId,
        campaign: &str,
        known: &[i64],
        clock_ms: i64,
        next_attempt: &dyn Fn(u32, i64) -> Option<i64>,
    ) -> Result<usize> {
        self.in_tx(|tx| {
            tx.execute("SELECT 1 FROM campaign_pace WHERE campaign = $1 FOR UPDATE", &[&campaign])?;
            let unknown = tx.query(
                "UPDATE attempts SET state = 'ended', disposition = 'failed', cause = 'interrupted', ended_ms = $3
                 WHERE campaign = $1 AND worker = $2 AND state = 'live' AND NOT (id = ANY($4))
                 RETURNING customer_id, attempt",
                &[&campaign, &me.token, &clock_ms, &known],
            )?;
            reopen(tx, campaign, &unknown, clock_ms, next_attempt)
        })
    }

    fn reconnect(&mut self) -> Result<()> {
        let client = postgres::Client::connect(&self.url, postgres::NoTls).map_err(|e| self.err(e))?;
        *self.client.borrow_mut() = client;
        Ok(())
    }

    fn claim(&mut self, by: &Claimant, now: i64, limits: &ClaimLimits, rules: &dyn Rules) -> Result<Vec<Claimed>> {
        let (me, campaign) = (by.me, by.campaign);
        self.in_tx(|tx| {
            let pace = tx.query(
                "SELECT next_token_ms, EXISTS (SELECT 1 FROM workers WHERE token = $2)
                 FROM campaign_pace WHERE campaign = $1 FOR UPDATE",
                &[&campaign, &me.token],
            )?;
            let Some(next_token) = pace.first().map(|r| r.get::<_, i64>(0)) else { return Ok(Vec::new()) };
            if !pace.first().is_some_and(|r| r.get::<_, bool>(1)) {
                // Taken over while stalled: its attempts would have no worker to answer for them.
                return Err(TxError::Store(lease_lost(&self.url)));
            }
            let live: i64 = tx
                .query("SELECT COUNT(*) FROM attempts WHERE campaign = $1 AND state = 'live'", &[&campaign])?
                .first()
                .map_or(0, |r| r.get(0));
            // Lines free campaign-wide, and dial tokens from now to the horizon.
            let lines = limits.max_concurrent.saturating_sub(live.max(0) as u64) as usize;
            let first_token = next_token.max(now);
            let tokens = if first_token > now + limits.horizon_ms {
                0
            } else {
                ((now + limits.horizon_ms - first_token) / limits.interval_ms.max(1) + 1) as usize
            };
            let wanted = lines.min(tokens).min(limits.batch);
            if wanted == 0 {
                return Ok(Vec::new());
            }
            // A few more than wanted: some may be held back by the window or the caps.
            let rows = tx.query(
                "SELECT customer_id, phone, timezone, inputs, attempts, segment, list FROM campaign_customers
                 WHERE campaign = $1 AND state = 'open' AND next_at_ms <= $2
                 ORDER BY next_at_ms, customer_id LIMIT $3 FOR UPDATE SKIP LOCKED",
                &[&campaign, &now, &((wanted + wanted / 2 + 4) as i64)],
            )?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let candidates: Vec<(Candidate, Kept)> = rows
                .iter()
                .map(|r| {
                    let c = Candidate {
                        customer_id: r.get(0),
                        phone: r.get(1),
                        timezone: r.get(2),
                        attempts: r.get::<_, i64>(4) as u32,
                    };
                    (c, Kept { inputs: r.get(3), segment: r.get(5), list: r.get(6) })
                })
                .collect();
            let phones: Vec<&str> = candidates.iter().map(|(c, _)| c.phone.as_str()).collect();
            let blocked: HashSet<String> =
                tx.query("SELECT phone FROM dnc WHERE phone = ANY($1)", &[&phones])?.iter().map(|r| r.get(0)).collect();

            // The budget and do-not-call first; then, at the moment each would be dialled (its
            // token), the window and the caps in the customer's zone.
            let mut done = Vec::new();
            let mut later: Vec<(String, i64)> = Vec::new();
            let mut open = Vec::new();
            for (c, inputs) in &candidates {
                if c.attempts >= limits.max_attempts || blocked.contains(&c.phone) {
                    done.push(c.customer_id.clone());
                } else {
                    open.push((c, inputs));
                }
            }
            let mut claimed = Vec::new();
            if !open.is_empty() {
                let mut phones: Vec<&str> = open.iter().map(|(c, _)| c.phone.as_str()).collect();
                phones.sort_unstable();
                phones.dedup();
                // Caps count every campaign's calls to a phone: one claimer per phone at a time.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('callscript-phone:' || p))
                     FROM (SELECT UNNEST($1::TEXT[]) AS p ORDER BY 1) AS phones",
                    &[&phones],
                )?;
                // Local dates are within a day of UTC's; 8 days back covers the 7-day cap.
                let today = jiff::Timestamp::from_millisecond(now)
                    .unwrap_or_default()
                    .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                    .date();
                let from = today.checked_sub(jiff::Span::new().days(8)).unwrap_or(today).to_string();
                let mut placed: HashMap<(String, Date), u32> = HashMap::new();
                for r in tx.query(
                    "SELECT phone, local_date, COUNT(*) FROM attempts WHERE phone = ANY($1) AND local_date >= $2
                     GROUP BY phone, local_date",
                    &[&phones, &from],
                )? {
                    if let Ok(date) = r.get::<_, String>(1).parse::<Date>() {
                        placed.insert((r.get(0), date), r.get::<_, i64>(2) as u32);
                    }
                }
                let mut token = first_token;
                for (c, inputs) in open {
                    if claimed.len() >= wanted || token > now + limits.horizon_ms {
                        // Not this time: left open, due as before.
                        continue;
                    }
                    let local = match rules.window(c, token) {
                        Verdict::Call(local) => local,
                        Verdict::Later(at) => {
                            later.push((c.customer_id.clone(), at));
                            continue;
                        }
                        Verdict::Never => {
                            done.push(c.customer_id.clone());
                            continue;
                        }
                    };
                    let count = |d: Date| placed.get(&(c.phone.clone(), d)).copied().unwrap_or(0);
                    if !rules.caps_allow(local.date, &count) {
                        match rules.next_day(c, token) {
                            Some(at) => later.push((c.customer_id.clone(), at)),
                            None => done.push(c.customer_id.clone()),
                        }
                        continue;
                    }
                    *placed.entry((c.phone.clone(), local.date)).or_insert(0) += 1;
                    claimed.push(Claimed {
                        row: 0,
                        customer_id: c.customer_id.clone(),
                        phone: c.phone.clone(),
                        timezone: c.timezone.clone(),
                        inputs: serde_json::from_str(&inputs.inputs).unwrap_or_default(),
                        segment: inputs.segment.clone(),
                        list: inputs.list.clone(),
                        attempt: c.attempts + 1,
                        dial_at_ms: token,
                        local,
                    });
                    token += limits.interval_ms;
                }
                if !claimed.is_empty() {
                    tx.execute(
                        "UPDATE campaign_pace SET next_token_ms = $2 WHERE campaign = $1",
                        &[&campaign, &token],
                    )?;
                    insert_attempts(tx, by, &mut claimed)?;
                }
            }
            if !later.is_empty() {
                let ids: Vec<&str> = later.iter().map(|(id, _)| id.as_str()).collect();
                let at: Vec<i64> = later.iter().map(|(_, at)| *at).collect();
                tx.execute(
                    "UPDATE campaign_customers c SET next_at_ms = v.at
                     FROM UNNEST($2::TEXT[], $3::BIGINT[]) AS v(id, at) WHERE c.campaign = $1 AND c.customer_id = v.id",
                    &[&campaign, &ids, &at],
                )?;
            }
            if !done.is_empty() {
                tx.execute(
                    "UPDATE campaign_customers SET state = 'done' WHERE campaign = $1 AND customer_id = ANY($2)",
                    &[&campaign, &done],
                )?;
            }
            Ok(claimed)
        })
    }

    fn finish(&mut self, me: &WorkerId, campaign: &str, ended: &[(&Claimed, Ending)]) -> Result<Vec<bool>> {
        if ended.is_empty() {
            return Ok(Vec::new());
        }
        self.in_tx(|tx| {
            let mut stored = Vec::with_capacity(ended.len());
            let (mut ids, mut states, mut due) = (Vec::new(), Vec::new(), Vec::new());
            for (claimed, ending) in ended {
                let result = ending.result;
                let mut trips = 0;
                let written = write_finished(&mut tx.tx, &mut trips, claimed.row, result, Some(&me.token));
                tx.trips += trips;
                stored.push(written?);
                if !stored.last().copied().unwrap_or(false) {
                    continue;
                }
                ids.push(claimed.customer_id.as_str());
                states.push(if ending.next_due_ms.is_some() { "open" } else { "done" });
                due.push(ending.next_due_ms.unwrap_or(result.ended_ms));
                if ending.opted_out {
                    tx.execute(
                        "INSERT INTO dnc (phone, source, added_ms) VALUES ($1, 'optout', $2) ON CONFLICT (phone) DO NOTHING",
                        &[&claimed.phone, &result.ended_ms],
                    )?;
                }
                if let Some((path, bytes)) = ending.recording {
                    tx.execute(
                        "INSERT INTO recordings (attempt_id, campaign, path, created_ms, bytes) VALUES ($1, $2, $3, $4, $5)",
                        &[&claimed.row, &campaign, &path, &result.ended_ms, &bytes],
                    )?;
                }
            }
            if !ids.is_empty() {
                tx.execute(
                    "UPDATE campaign_customers c SET state = v.state, next_at_ms = v.due
                     FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[]) AS v(id, state, due)
                     WHERE c.campaign = $1 AND c.customer_id = v.id",
                    &[&campaign, &ids, &states, &due],
                )?;
            }
            Ok(stored)
        })
    }

    fn queue_state(&mut self, campaign: &str) -> Result<QueueState> {
        self.trip();
        let row = self
            .client
            .borrow_mut()
            .query_one(
                "SELECT (SELECT COUNT(*) FROM campaign_customers WHERE campaign = $1 AND state <> 'done'),
                        (SELECT MIN(next_at_ms) FROM campaign_customers WHERE campaign = $1 AND state = 'open'),
                        (SELECT COUNT(*) FROM attempts WHERE campaign = $1 AND state = 'live')",
                &[&campaign],
            )
            .map_err(|e| self.err(e))?;
        Ok(QueueState { open: row.get::<_, i64>(0) as u64, next_due_ms: row.get(1), live: row.get::<_, i64>(2) as u64 })
    }

    fn leave(&mut self, me: &WorkerId) -> Result<()> {
        self.trip();
        self.client
            .borrow_mut()
            .execute("DELETE FROM workers WHERE token = $1", &[&me.token])
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Puts the customers of interrupted attempts (`customer_id`, `attempt` rows) back in the
/// queue: due again by the retry rule, or done. Returns how many.
fn reopen(
    tx: &mut Tx,
    campaign: &str,
    interrupted: &[postgres::Row],
    clock_ms: i64,
    next_attempt: &dyn Fn(u32, i64) -> Option<i64>,
) -> std::result::Result<usize, TxError> {
    let mut ids = Vec::new();
    let mut states = Vec::new();
    let mut due = Vec::new();
    for r in interrupted {
        let attempt: i64 = r.get(1);
        let next = next_attempt(attempt as u32, clock_ms);
        ids.push(r.get::<_, String>(0));
        states.push(if next.is_some() { "open" } else { "done" });
        due.push(next.unwrap_or(clock_ms));
    }
    if !ids.is_empty() {
        tx.execute(
            "UPDATE campaign_customers c SET state = v.state, next_at_ms = v.due
             FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[]) AS v(id, state, due)
             WHERE c.campaign = $1 AND c.customer_id = v.id",
            &[&campaign, &ids, &states, &due],
        )?;
    }
    Ok(interrupted.len())
}

/// This worker's row is gone: another took its live calls over after its lease ran out.
fn lease_lost(url: &str) -> StoreError {
    StoreError::LeaseLostDatabase {
        url: shown(url),
        holder: "another worker, which took this worker's live calls over after its lease ran out".into(),
    }
}

/// Inserts the claimed attempts (live, held by `me`) in one statement, fills in their row ids,
/// and marks their customers live.
fn insert_attempts(tx: &mut Tx, by: &Claimant, claimed: &mut [Claimed]) -> std::result::Result<(), postgres::Error> {
    let (campaign, allowed) = (by.campaign, by.allowed);
    let ids: Vec<&str> = claimed.iter().map(|c| c.customer_id.as_str()).collect();
    let (variants, shas): (Vec<&str>, Vec<&str>) = ids.iter().map(|id| by.scripts.script_of(id)).unzip();
    let phones: Vec<&str> = claimed.iter().map(|c| c.phone.as_str()).collect();
    let attempts: Vec<i64> = claimed.iter().map(|c| i64::from(c.attempt)).collect();
    let started: Vec<i64> = claimed.iter().map(|c| c.dial_at_ms).collect();
    let times: Vec<&str> = claimed.iter().map(|c| c.local.time.as_str()).collect();
    let dates: Vec<String> = claimed.iter().map(|c| c.local.date.to_string()).collect();
    let hours: Vec<i64> = claimed.iter().map(|c| c.local.hour).collect();
    let zones: Vec<&str> = claimed.iter().map(|c| c.timezone.as_deref().unwrap_or(by.zone)).collect();
    let segments: Vec<Option<&str>> = claimed.iter().map(|c| c.segment.as_deref()).collect();
    let lists: Vec<Option<&str>> = claimed.iter().map(|c| c.list.as_deref()).collect();
    let rows = tx.query(
        "INSERT INTO attempts (campaign, customer_id, phone, attempt, started_ms, local_time, local_date, local_hour,
         state, script_sha256, allowed, worker, variant, zone, segment, list)
         SELECT $1, id, phone, attempt, started, time, date, hour, 'live', sha, $2, $3, variant, zone, segment, list
         FROM UNNEST($4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::BIGINT[], $9::BIGINT[], $10::TEXT[],
                     $11::TEXT[], $12::BIGINT[], $13::TEXT[], $14::TEXT[], $15::TEXT[])
              AS a(variant, sha, id, phone, attempt, started, time, date, hour, zone, segment, list)
         RETURNING id, customer_id",
        &[
            &campaign,
            &allowed,
            &by.me.token,
            &variants,
            &shas,
            &ids,
            &phones,
            &attempts,
            &started,
            &times,
            &dates,
            &hours,
            &zones,
            &segments,
            &lists,
        ],
    )?;
    tx.execute(
        "UPDATE campaign_customers c SET state = 'live', attempts = v.attempt
         FROM UNNEST($2::TEXT[], $3::BIGINT[]) AS v(id, attempt) WHERE c.campaign = $1 AND c.customer_id = v.id",
        &[&campaign, &ids, &attempts],
    )?;
    let row_of: HashMap<String, i64> = rows.iter().map(|r| (r.get(1), r.get(0))).collect();
    for c in claimed.iter_mut() {
        c.row = row_of.get(&c.customer_id).copied().unwrap_or(0);
    }
    Ok(())
}
