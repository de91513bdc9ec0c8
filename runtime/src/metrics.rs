//! A worker's metrics (CAMPAIGN.md §7): what its loop records as calls go, the Prometheus text
//! exposition of them, and a small HTTP server for `/metrics`, `/healthz` and `/readyz`.
//!
//! The names are a contract with the Grafana dashboard and the Kubernetes HPA: change none of
//! them without changing those. Recording is an atomic, or a short uncontended lock (a
//! histogram's, the calls-per-second ring's, a read lock to find a label's series); nothing
//! allocates once a label value has been seen. The server runs on a thread of its own with a
//! current-thread tokio runtime, because the worker's loop is synchronous.
//!
//! Who records what: the worker's loop calls `alive()` each time round, `placed()` after each
//! dial, `set_live` when its count of calls on changes, `ended` for each call end, and `store`
//! around each store call. A VM turn is one `CallDriver::handle` (the driver steps the session
//! there): the VM and the driver are sans-IO and read no clock, so whoever pumps the driver
//! (the SIP call's task) times that call and passes the duration to `vm_turn`; the same for
//! an action's request and `action`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

/// The `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// How long `/healthz` stays 200 after the loop's last `alive()`, unless told otherwise.
pub const ALIVE_WINDOW: Duration = Duration::from_secs(10);

/// The seconds `callscript_calls_per_second` averages over.
const RATE_SECONDS: u64 = 10;

/// Bucket bounds in seconds. A VM turn is microseconds (the loan reminder runs about 700 k
/// turns a second), a store operation a database round trip, an action an HTTP request with
/// a timeout of seconds.
const VM_TURN_BUCKETS: [f64; 10] = [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5];
const STORE_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const ACTION_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Time since an origin of the clock's choosing; only differences are read.
type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// A worker's metrics. Share it as `Arc<Metrics>`; every method takes `&self`.
pub struct Metrics {
    registry: Registry,
    clock: Clock,
    alive_window: Duration,
    /// The clock's reading at the last `alive()`, in milliseconds.
    last_alive_ms: AtomicU64,
    placed: Counter,
    recent: Arc<Mutex<Ring>>,
    live: Gauge,
    ended: ByLabel<Counter>,
    outcomes: ByLabel<Counter>,
    goals: Counter,
    vm_turn: Histogram,
    store: ByLabel<Histogram>,
    action: ByLabel<[Histogram; 2]>,
    draining: Gauge,
    ready: Gauge,
}

impl Metrics {
    /// The metrics of a worker calling for `campaign` (the `campaign` label), on the wall clock.
    pub fn new(campaign: &str) -> Metrics {
        let origin = Instant::now();
        Metrics::with_clock(campaign, move || origin.elapsed())
    }

    /// As [`Metrics::new`], with the clock that the calls-per-second ring and `/healthz` read:
    /// time since any fixed origin (tests pass one they advance by hand).
    pub fn with_clock(campaign: &str, clock: impl Fn() -> Duration + Send + Sync + 'static) -> Metrics {
        let clock: Clock = Arc::new(clock);
        let campaign: Arc<str> = Arc::from(campaign);
        let placed = Counter::default();
        let recent = Arc::new(Mutex::new(Ring::default()));
        let live = Gauge::default();
        let ended = ByLabel::new(Some(campaign.clone()), "disposition", Counter::default);
        let outcomes = ByLabel::new(Some(campaign.clone()), "outcome", Counter::default);
        let goals = Counter::default();
        let vm_turn = Histogram::new(VM_TURN_BUCKETS);
        let store = ByLabel::new(None, "op", || Histogram::new(STORE_BUCKETS));
        let action = ByLabel::new(None, "action", || [Histogram::new(ACTION_BUCKETS), Histogram::new(ACTION_BUCKETS)]);
        let draining = Gauge::default();
        let ready = Gauge::default();

        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "callscript_calls_placed",
            "Calls placed (dialled) by this worker",
            Campaign::new(&campaign, placed.clone()),
        );
        registry.register(
            "callscript_calls_live",
            "Calls on now, on this worker",
            Campaign::new(&campaign, live.clone()),
        );
        registry.register("callscript_calls_ended", "Calls ended, by disposition", ended.clone());
        registry.register("callscript_outcomes", "Calls ended with an outcome, by outcome", outcomes.clone());
        registry.register("callscript_goals", "Calls ended on a goal outcome", Campaign::new(&campaign, goals.clone()));
        registry.register(
            "callscript_calls_per_second",
            "Calls placed over the last 10 seconds, divided by 10",
            Rate { campaign: campaign.clone(), ring: recent.clone(), clock: clock.clone() },
        );
        registry.register(
            "callscript_vm_turn_seconds",
            "Time the VM took to answer one input of a call",
            vm_turn.clone(),
        );
        registry.register("callscript_store_seconds", "Time of a store operation, by op", store.clone());
        registry.register(
            "callscript_action_seconds",
            "Time of an action's request, by action and whether it succeeded",
            action.clone(),
        );
        registry.register(
            "callscript_worker_draining",
            "1 while the worker drains: no new calls, live calls finish",
            draining.clone(),
        );
        registry.register("callscript_worker_ready", "1 while the worker is ready to place calls", ready.clone());

        let now = millis(clock());
        Metrics {
            registry,
            clock,
            alive_window: ALIVE_WINDOW,
            // Construction counts as the first heartbeat: a loop that never starts is stale
            // one window later, not unhealthy from the first probe.
            last_alive_ms: AtomicU64::new(now),
            placed,
            recent,
            live,
            ended,
            outcomes,
            goals,
            vm_turn,
            store,
            action,
            draining,
            ready,
        }
    }

    /// `/healthz` turns 503 when `alive()` is older than `window` (default [`ALIVE_WINDOW`]).
    pub fn alive_within(mut self, window: Duration) -> Metrics {
        self.alive_window = window;
        self
    }

    /// A call was placed (dialled).
    pub fn placed(&self) {
        self.placed.inc();
        let second = (self.clock)().as_secs();
        self.recent.lock().unwrap_or_else(PoisonError::into_inner).add(second);
    }

    /// The calls on now, on this worker.
    pub fn set_live(&self, calls: u64) {
        self.live.set(i64::try_from(calls).unwrap_or(i64::MAX));
    }

    /// A call ended with `disposition`, and, if it was answered, the script's `outcome`
    /// (`goal` when that outcome is one of the campaign's goals).
    pub fn ended(&self, disposition: &str, outcome: Option<&str>, goal: bool) {
        self.ended.with(disposition, Counter::inc);
        if let Some(outcome) = outcome {
            self.outcomes.with(outcome, Counter::inc);
        }
        if goal {
            self.goals.inc();
        }
    }

    /// The VM answered one input of a call in `took`: one `CallDriver::handle`, timed by its caller.
    pub fn vm_turn(&self, took: Duration) {
        self.vm_turn.observe(took.as_secs_f64());
    }

    /// A store operation (`claim`, `finish`, `heartbeat`, …) took `took`.
    pub fn store(&self, op: &'static str, took: Duration) {
        self.store.with(op, |histogram| histogram.observe(took.as_secs_f64()));
    }

    /// A request of the action `name` took `took`, and succeeded or not.
    pub fn action(&self, name: &str, ok: bool, took: Duration) {
        self.action.with(name, |by_ok| by_ok[usize::from(ok)].observe(took.as_secs_f64()));
    }

    /// Whether the worker is ready to place calls (`/readyz`, `callscript_worker_ready`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Whether the worker drains (`/readyz` is 503, `callscript_worker_draining` is 1).
    pub fn set_draining(&self, draining: bool) {
        self.draining.set(i64::from(draining));
    }

    /// The owner's loop is alive; call it on every turn of the loop (it is one atomic store).
    pub fn alive(&self) {
        self.last_alive_ms.store(millis((self.clock)()), Ordering::Relaxed);
    }

    /// What `/healthz` answers.
    pub fn health(&self) -> Health {
        let now = millis((self.clock)());
        let since = Duration::from_millis(now.saturating_sub(self.last_alive_ms.load(Ordering::Relaxed)));
        if since <= self.alive_window { Health::Alive } else { Health::Stale { since, window: self.alive_window } }
    }

    /// What `/readyz` answers; draining wins over ready.
    pub fn readiness(&self) -> Readiness {
        if self.draining.get() != 0 {
            Readiness::Draining
        } else if self.ready.get() == 0 {
            Readiness::NotReady
        } else {
            Readiness::Ready
        }
    }

    /// The Prometheus text exposition (version 0.0.4) of every metric, series in label order.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail, nor can our metrics' encoders but through the writer.
        prometheus_text::encode(&mut text, &self.registry).expect("encoding metrics into a String");
        text
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").field("alive_window", &self.alive_window).finish_non_exhaustive()
    }
}

/// `/healthz`: whether the owner's loop called `alive()` recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Alive,
    Stale { since: Duration, window: Duration },
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Alive => write!(f, "ok"),
            Health::Stale { since, window } => write!(
                f,
                "the worker's loop last reported alive {:.1} s ago (more than {:.1} s)",
                since.as_secs_f64(),
                window.as_secs_f64()
            ),
        }
    }
}

/// `/readyz`: whether the worker takes calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady,
    Draining,
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Readiness::Ready => "ready",
            Readiness::NotReady => "not ready: the worker has not finished starting",
            Readiness::Draining => "draining: no new calls, live calls finish",
        })
    }
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// Calls placed in each of the last [`RATE_SECONDS`] seconds, one slot per second modulo the
/// ring's length; a slot holding an older second counts nothing.
#[derive(Debug, Default)]
struct Ring {
    slots: [(u64, u64); RATE_SECONDS as usize],
}

impl Ring {
    fn slot(second: u64) -> usize {
        (second % RATE_SECONDS) as usize
    }

    fn add(&mut self, second: u64) {
        let slot = &mut self.slots[Ring::slot(second)];
        if slot.0 == second {
            slot.1 += 1;
        } else {
            *slot = (second, 1);
        }
    }

    /// Calls a second over the window ending with (and including) `second`.
    fn per_second(&self, second: u64) -> f64 {
        let placed: u64 = self
            .slots
            .iter()
            .filter(|(at, _)| *at <= second && second - *at < RATE_SECONDS)
            .map(|(_, count)| count)
            .sum();
        placed as f64 / RATE_SECONDS as f64
    }
}

/// `callscript_calls_per_second`, read from the ring when scraped, so a scrape shows the rate
/// as of now even when no call was placed since the last one.
struct Rate {
    campaign: Arc<str>,
    ring: Arc<Mutex<Ring>>,
    clock: Clock,
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rate").field("campaign", &self.campaign).finish_non_exhaustive()
    }
}

impl EncodeMetric for Rate {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let second = (self.clock)().as_secs();
        let rate = self.ring.lock().unwrap_or_else(PoisonError::into_inner).per_second(second);
        let labels: &[(&str, &str)] = &[("campaign", &self.campaign)];
        encoder.encode_family(&labels)?.encode_gauge(&rate)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// One series labelled with the campaign.
#[derive(Debug)]
struct Campaign<M> {
    campaign: Arc<str>,
    metric: M,
}

impl<M> Campaign<M> {
    fn new(campaign: &Arc<str>, metric: M) -> Campaign<M> {
        Campaign { campaign: campaign.clone(), metric }
    }
}

impl<M: EncodeMetric + TypedMetric> EncodeMetric for Campaign<M> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let labels: &[(&str, &str)] = &[("campaign", &self.campaign)];
        self.metric.encode(encoder.encode_family(&labels)?)
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

/// The series of one metric by the value of one label (after the campaign's, if any), kept in
/// the label's order so the exposition is deterministic, and found by `&str` under a read
/// lock without allocating once the value has been seen.
struct ByLabel<M> {
    campaign: Option<Arc<str>>,
    label: &'static str,
    series: Arc<RwLock<BTreeMap<Box<str>, M>>>,
    new: fn() -> M,
}

impl<M> Clone for ByLabel<M> {
    fn clone(&self) -> Self {
        ByLabel { campaign: self.campaign.clone(), label: self.label, series: self.series.clone(), new: self.new }
    }
}

impl<M> fmt::Debug for ByLabel<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByLabel").field("label", &self.label).finish_non_exhaustive()
    }
}

impl<M> ByLabel<M> {
    fn new(campaign: Option<Arc<str>>, label: &'static str, new: fn() -> M) -> ByLabel<M> {
        ByLabel { campaign, label, series: Arc::default(), new }
    }

    /// Runs `record` on the series of `value`, made on its first use.
    fn with<R>(&self, value: &str, record: impl FnOnce(&M) -> R) -> R {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(metric) = series.get(value) {
            return record(metric);
        }
        drop(series);
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        record(series.entry(value.into()).or_insert_with(self.new))
    }
}

/// What one value of a [`ByLabel`] encodes: one series, or one per value of a further label.
trait Series {
    const TYPE: MetricType;
    fn encode_series(&self, labels: &[(&str, &str)], encoder: &mut MetricEncoder) -> Result<(), fmt::Error>;
}

impl Series for Counter {
    const TYPE: MetricType = MetricType::Counter;
    fn encode_series(&self, labels: &[(&str, &str)], encoder: &mut MetricEncoder) -> Result<(), fmt::Error> {
        self.encode(encoder.encode_family(&labels)?)
    }
}

impl Series for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
    fn encode_series(&self, labels: &[(&str, &str)], encoder: &mut MetricEncoder) -> Result<(), fmt::Error> {
        self.encode(encoder.encode_family(&labels)?)
    }
}

/// An action's latency by `ok`: index 0 is `ok="false"`, 1 is `ok="true"`. Both are shown once
/// the action has been called, so a rate of failures is 0 rather than absent.
impl Series for [Histogram; 2] {
    const TYPE: MetricType = MetricType::Histogram;
    fn encode_series(&self, labels: &[(&str, &str)], encoder: &mut MetricEncoder) -> Result<(), fmt::Error> {
        for (ok, histogram) in ["false", "true"].into_iter().zip(self) {
            let mut labels = labels.to_vec();
            labels.push(("ok", ok));
            histogram.encode_series(&labels, encoder)?;
        }
        Ok(())
    }
}

impl<M: Series + Send + Sync> EncodeMetric for ByLabel<M> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        for (value, metric) in series.iter() {
            let campaign = self.campaign.as_deref().map(|c| ("campaign", c));
            let labels: Vec<(&str, &str)> = campaign.into_iter().chain([(self.label, &**value)]).collect();
            metric.encode_series(&labels, &mut encoder)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the metrics server's runtime: {source}")]
    Runtime { source: std::io::Error },
    #[error("cannot start the metrics server's thread: {source}")]
    Thread { source: std::io::Error },
}

/// The running `/metrics`, `/healthz` and `/readyz` server; dropping it stops it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `addr` now (a bad or busy address is an error here, not later), then serves
/// `metrics` on a thread of its own until the server is dropped or shut down.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, MetricsError> {
    let bind_error = |source| MetricsError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|source| MetricsError::Runtime { source })?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(bind_error)?
    };
    let (stop, stopped) = oneshot::channel();
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(metrics);
    let thread = std::thread::Builder::new()
        .name("callscript-metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    served = axum::serve(listener, app) => {
                        if let Err(error) = served {
                            tracing::warn!(%error, addr = %local, "the metrics server stopped");
                        }
                    }
                    _ = stopped => {}
                }
            });
            // Dropping the runtime here cancels open connections, so a stop never waits on a
            // slow client.
        })
        .map_err(|source| MetricsError::Thread { source })?;
    Ok(MetricsServer { addr: local, stop: Some(stop), thread: Some(thread) })
}

impl MetricsServer {
    /// The address it listens on (the port chosen when `serve` was given port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the thread; the address is free when this returns.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the thread already ended (the server failed and said why).
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!(addr = %self.addr, "the metrics server's thread panicked");
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render())
}

async fn healthz(State(metrics): State<Arc<Metrics>>) -> (StatusCode, String) {
    let health = metrics.health();
    let status = if health == Health::Alive { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, health.to_string())
}

async fn readyz(State(metrics): State<Arc<Metrics>>) -> (StatusCode, String) {
    let readiness = metrics.readiness();
    let status = if readiness == Readiness::Ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, readiness.to_string())
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found: try /metrics, /healthz or /readyz")
}
