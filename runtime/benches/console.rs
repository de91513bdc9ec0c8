//! What open wallboards cost (issue 18: 100 open wallboards cost a worker under 5% of a core).
//! Each wallboard asks `/api/live` once a second; the console computes the board from the
//! store's aggregates at most once a second and answers every other request from that. So
//! the cost per second of N wallboards is one computation plus N answers from the cache,
//! measured here over a store of `ATTEMPTS` ended attempts (SQLite), through the console's
//! router (no socket): the figure is that time as a share of one second of one core, against
//! the same N requests each computing the board (no cache) as the baseline.
//!
//! `cargo bench -p callscript-runtime --bench console`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use callscript_runtime::console::{self, Console};
use callscript_runtime::store::{Finished, NewAttempt, SqliteStore, Store};
use tower::ServiceExt;

#[path = "../tests/support/scratch.rs"]
mod scratch;

const ATTEMPTS: usize = 20_000;
const WALLBOARDS: usize = 100;

fn store(path: &Path) -> SqliteStore {
    let mut store = SqliteStore::open(path).unwrap();
    store.begin().unwrap();
    for i in 0..ATTEMPTS {
        let id = format!("c{i}");
        let row = store
            .begin_attempt(&NewAttempt {
                campaign: "C",
                customer_id: &id,
                phone: "+8613800000000",
                attempt: 1,
                started_ms: i as i64 * 1_000,
                local_time: "2026-11-24T10:00:00+08:00".into(),
                local_date: "2026-11-24".into(),
                local_hour: 9 + (i % 9) as i64,
                script_sha256: "x",
                allowed: "{}",
                segment: None,
                zone: "Asia/Shanghai",
                list: "customers.csv",
                variant: "s",
            })
            .unwrap();
        let disposition = if i % 3 == 0 { "busy" } else { "answered" };
        let f = Finished {
            disposition: disposition.into(),
            goal: i % 7 == 0,
            ended_ms: i as i64 * 1_000 + 500,
            ..Finished::default()
        };
        store.finish_attempt(row, &f).unwrap();
    }
    store.commit().unwrap();
    store
}

/// The time `WALLBOARDS` requests of `/api/live` take on `console`.
fn one_second_of_wallboards(rt: &tokio::runtime::Runtime, console: &Arc<Console>) -> Duration {
    let app = console::router(Arc::clone(console));
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..WALLBOARDS {
            let response = app.clone().oneshot(Request::get("/api/live").body(Body::empty()).unwrap()).await.unwrap();
            assert!(response.status().is_success());
        }
    });
    started.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = scratch::scratch("bench-console");
    let cached = Arc::new(Console::new(
        "C",
        Box::new(store(&dir.path().join("cached.db"))),
        Vec::new(),
        50,
        None,
        "t".repeat(32),
    ));
    let uncached = Arc::new(
        Console::new("C", Box::new(store(&dir.path().join("uncached.db"))), Vec::new(), 50, None, "t".repeat(32))
            .without_cache(),
    );
    let mut with_cache = Vec::new();
    let mut without = Vec::new();
    for _ in 0..5 {
        // A new second: the first request computes, the other 99 are answered from it.
        std::thread::sleep(Duration::from_millis(1_001));
        with_cache.push(one_second_of_wallboards(&rt, &cached));
        without.push(one_second_of_wallboards(&rt, &uncached));
    }
    with_cache.sort();
    without.sort();
    let (a, b) = (with_cache[2], without[2]);
    println!(
        "{WALLBOARDS} wallboards, one request each per second, over {ATTEMPTS} attempts (median of 5 seconds):\n\
         cached board:   {:>8.2} ms per second = {:.2}% of a core\n\
         no cache:       {:>8.2} ms per second = {:.2}% of a core (baseline; {:.1}× the cached cost)",
        a.as_secs_f64() * 1e3,
        a.as_secs_f64() * 100.0,
        b.as_secs_f64() * 1e3,
        b.as_secs_f64() * 100.0,
        b.as_secs_f64() / a.as_secs_f64()
    );
}
