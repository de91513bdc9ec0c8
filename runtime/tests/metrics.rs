//! A worker's metrics: the exposition after some calls, histogram buckets, calls per second on
//! a clock the test moves, and the HTTP server answering real requests on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use callscript_runtime::metrics::{self, Health, Metrics, MetricsError, Readiness};

/// A clock the test sets, in milliseconds since its origin.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicU64>);

impl TestClock {
    fn set(&self, seconds: f64) {
        self.0.store((seconds * 1000.0).round() as u64, Ordering::Relaxed);
    }

    fn metrics(&self, campaign: &str) -> Metrics {
        let now = self.0.clone();
        Metrics::with_clock(campaign, move || Duration::from_millis(now.load(Ordering::Relaxed)))
    }
}

/// The value of the series written exactly as `series` (name and labels) in `text`.
fn sample(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| line.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"));
    line[series.len()..].trim().parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A loan-reminder worker's first calls: three placed, two answered (one to a goal), one not.
fn a_few_calls(metrics: &Metrics) {
    for _ in 0..3 {
        metrics.placed();
    }
    metrics.set_live(1);
    metrics.store("claim", ms(3));
    metrics.vm_turn(Duration::from_micros(20));
    metrics.vm_turn(ms(2));
    metrics.action("balance", true, ms(120));
    metrics.action("balance", false, Duration::from_secs(5));
    metrics.ended("answered", Some("promise_to_pay"), true);
    metrics.ended("answered", Some("refused"), false);
    metrics.ended("no_answer", None, false);
    metrics.store("finish", ms(40));
    metrics.store("heartbeat", ms(1));
    metrics.set_ready(true);
}

#[test]
fn exposition_after_a_few_calls() {
    let clock = TestClock::default();
    let metrics = clock.metrics("loan_reminder");
    a_few_calls(&metrics);
    clock.set(4.0);
    insta::assert_snapshot!(metrics.render());
}

#[test]
fn counters_and_gauges_by_label() {
    let clock = TestClock::default();
    let metrics = clock.metrics("loan_reminder");
    a_few_calls(&metrics);
    let text = metrics.render();
    let c = "campaign=\"loan_reminder\"";
    assert_eq!(sample(&text, &format!("callscript_calls_placed_total{{{c}}}")), 3.0);
    assert_eq!(sample(&text, &format!("callscript_calls_live{{{c}}}")), 1.0);
    assert_eq!(sample(&text, &format!("callscript_calls_ended_total{{{c},disposition=\"answered\"}}")), 2.0);
    assert_eq!(sample(&text, &format!("callscript_calls_ended_total{{{c},disposition=\"no_answer\"}}")), 1.0);
    assert_eq!(sample(&text, &format!("callscript_outcomes_total{{{c},outcome=\"promise_to_pay\"}}")), 1.0);
    assert_eq!(sample(&text, &format!("callscript_outcomes_total{{{c},outcome=\"refused\"}}")), 1.0);
    assert_eq!(sample(&text, &format!("callscript_goals_total{{{c}}}")), 1.0);
    assert_eq!(sample(&text, "callscript_worker_ready"), 1.0);
    assert_eq!(sample(&text, "callscript_worker_draining"), 0.0);
    assert_eq!(sample(&text, "callscript_action_seconds_count{action=\"balance\",ok=\"true\"}"), 1.0);
    assert_eq!(sample(&text, "callscript_action_seconds_count{action=\"balance\",ok=\"false\"}"), 1.0);
    assert_eq!(sample(&text, "callscript_store_seconds_count{op=\"claim\"}"), 1.0);
    assert!(text.contains("# TYPE callscript_calls_per_second gauge\n"), "{text}");
    assert!(text.contains("# TYPE callscript_vm_turn_seconds histogram\n"), "{text}");

    metrics.set_live(0);
    metrics.set_draining(true);
    let text = metrics.render();
    assert_eq!(sample(&text, &format!("callscript_calls_live{{{c}}}")), 0.0);
    assert_eq!(sample(&text, "callscript_worker_draining"), 1.0);
}

#[test]
fn histogram_buckets_count_every_observation_at_or_below_their_bound() {
    let metrics = Metrics::new("c");
    for took in [Duration::from_micros(20), ms(2), ms(300), Duration::from_secs(2)] {
        metrics.vm_turn(took);
    }
    metrics.store("claim", ms(5));
    let text = metrics.render();
    let bucket = |le: &str| sample(&text, &format!("callscript_vm_turn_seconds_bucket{{le=\"{le}\"}}"));
    // Bounds 1e-5, 5e-5, 1e-4, 5e-4, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, then +Inf.
    let buckets: Vec<(String, f64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("callscript_vm_turn_seconds_bucket{le=\""))
        .map(|rest| {
            let (le, value) = rest.split_once("\"} ").unwrap();
            (le.to_string(), value.parse().unwrap())
        })
        .collect();
    let counts: Vec<f64> = buckets.iter().map(|(_, count)| *count).collect();
    assert_eq!(counts, [0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0], "{buckets:?}");
    assert_eq!(buckets.last().unwrap().0, "+Inf");
    assert_eq!(bucket("+Inf"), 4.0);
    assert_eq!(sample(&text, "callscript_vm_turn_seconds_count"), 4.0);
    assert!((sample(&text, "callscript_vm_turn_seconds_sum") - 2.30202).abs() < 1e-9);
    // A bound is inclusive: 5 ms lands in le="0.005".
    assert_eq!(sample(&text, "callscript_store_seconds_bucket{op=\"claim\",le=\"0.0025\"}"), 0.0);
    assert_eq!(sample(&text, "callscript_store_seconds_bucket{op=\"claim\",le=\"0.005\"}"), 1.0);
}

#[test]
fn calls_per_second_is_the_last_ten_seconds_at_scrape_time() {
    let clock = TestClock::default();
    let metrics = clock.metrics("c");
    let cps = |metrics: &Metrics| sample(&metrics.render(), "callscript_calls_per_second{campaign=\"c\"}");
    assert_eq!(cps(&metrics), 0.0);

    for _ in 0..5 {
        metrics.placed();
    }
    clock.set(3.5);
    for _ in 0..5 {
        metrics.placed();
    }
    assert_eq!(cps(&metrics), 1.0);
    // Second 9 is the last whose window still holds second 0.
    clock.set(9.99);
    assert_eq!(cps(&metrics), 1.0);
    clock.set(10.0);
    assert_eq!(cps(&metrics), 0.5);
    clock.set(12.9);
    assert_eq!(cps(&metrics), 0.5);
    // Nothing placed since: the rate falls to 0 by the scrape alone.
    clock.set(13.0);
    assert_eq!(cps(&metrics), 0.0);

    // Second 20 reuses second 0's and 10's slot; second 13's placed count is gone by 23.
    clock.set(20.2);
    metrics.placed();
    metrics.placed();
    assert_eq!(cps(&metrics), 0.2);
    clock.set(25.0);
    metrics.placed();
    assert_eq!(cps(&metrics), 0.3);
    clock.set(29.0);
    assert_eq!(cps(&metrics), 0.3);
    clock.set(30.0);
    assert_eq!(cps(&metrics), 0.1);
    // A gap longer than the ring leaves nothing behind.
    clock.set(1000.0);
    assert_eq!(cps(&metrics), 0.0);
    metrics.placed();
    assert_eq!(cps(&metrics), 0.1);
    assert_eq!(sample(&metrics.render(), "callscript_calls_placed_total{campaign=\"c\"}"), 14.0);
}

#[test]
fn health_is_stale_after_the_window_without_alive() {
    let clock = TestClock::default();
    let metrics = clock.metrics("c").alive_within(Duration::from_secs(2));
    assert_eq!(metrics.health(), Health::Alive);
    clock.set(2.0);
    assert_eq!(metrics.health(), Health::Alive);
    clock.set(2.5);
    let stale = metrics.health();
    assert_eq!(stale, Health::Stale { since: ms(2500), window: Duration::from_secs(2) });
    assert_eq!(stale.to_string(), "the worker's loop last reported alive 2.5 s ago (more than 2.0 s)");
    metrics.alive();
    assert_eq!(metrics.health(), Health::Alive);
}

#[test]
fn readiness_waits_for_ready_and_stops_while_draining() {
    let metrics = Metrics::new("c");
    assert_eq!(metrics.readiness(), Readiness::NotReady);
    metrics.set_ready(true);
    assert_eq!(metrics.readiness(), Readiness::Ready);
    metrics.set_draining(true);
    assert_eq!(metrics.readiness(), Readiness::Draining);
    metrics.set_draining(false);
    assert_eq!(metrics.readiness(), Readiness::Ready);
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

/// One GET written by hand, read to the end (the request asks the server to close).
fn get(addr: SocketAddr, path: &str) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Response { status, head: head.to_ascii_lowercase(), body: body.to_string() }
}

#[test]
fn http_metrics_healthz_readyz_and_404() {
    let clock = TestClock::default();
    let metrics = Arc::new(clock.metrics("loan_reminder").alive_within(Duration::from_secs(10)));
    let server = metrics::serve("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    metrics.placed();
    let scraped = get(addr, "/metrics");
    assert_eq!(scraped.status, 200);
    assert!(scraped.head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"), "{}", scraped.head);
    assert_eq!(sample(&scraped.body, "callscript_calls_placed_total{campaign=\"loan_reminder\"}"), 1.0);
    assert_eq!(scraped.body, metrics.render());

    let health = get(addr, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    clock.set(12.0);
    let health = get(addr, "/healthz");
    assert_eq!(health.status, 503);
    assert_eq!(health.body, "the worker's loop last reported alive 12.0 s ago (more than 10.0 s)");
    metrics.alive();
    assert_eq!(get(addr, "/healthz").status, 200);

    let ready = get(addr, "/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (503, "not ready: the worker has not finished starting"));
    metrics.set_ready(true);
    let ready = get(addr, "/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready"));
    metrics.set_draining(true);
    let ready = get(addr, "/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (503, "draining: no new calls, live calls finish"));

    for path in ["/", "/metrics/x", "/favicon.ico"] {
        assert_eq!(get(addr, path).status, 404, "{path}");
    }
    server.shutdown();
}

#[test]
fn a_busy_address_is_an_error_naming_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = metrics::serve(addr, Arc::new(Metrics::new("c"))).unwrap_err();
    assert!(matches!(&error, MetricsError::Bind { addr: at, .. } if *at == addr), "{error:?}");
    assert!(error.to_string().starts_with(&format!("cannot listen for metrics on {addr}: ")), "{error}");
}

#[test]
fn shutdown_and_drop_free_the_address() {
    let metrics = Arc::new(Metrics::new("c"));
    let server = metrics::serve("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    let addr = server.local_addr();
    // A client that connects and says nothing must not hold the stop up.
    let _idle = TcpStream::connect(addr).unwrap();
    server.shutdown();
    drop(TcpListener::bind(addr).expect("the address is free after shutdown"));

    let server = metrics::serve(addr, metrics).unwrap();
    assert_eq!(server.local_addr(), addr);
    drop(server);
    TcpListener::bind(addr).expect("the address is free after drop");
}
