//! `callscript serve` (CAMPAIGN.md §7): a campaign's web console, read-only, over its store —
//! the live wallboard, the report, the call list and each call's page with its recording.
//!
//! Who may see what: the wallboard, the report and the health endpoints are open to whoever
//! reaches the address (loopback by default); the call list, a call's page and its recording
//! show what customers said, so they need the access token (`Authorization: Bearer`, the
//! `callscript_token` cookie, or `?token=` once, which sets the cookie). Pages show stored
//! text only, which is masked where the script says a value is sensitive, and phone numbers
//! with their middle digits hidden. A recording is decrypted in memory and sent as WAV; never
//! written in plaintext; each playback goes to the store's export audit log.
//!
//! The wallboard polls `/api/live` every second; the numbers are computed by the store's
//! aggregates at most once a second whatever the number of open wallboards (`live.rs`).

mod live;
mod pages;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::report::labels::ScriptTitles;
use crate::store::Store;
use crate::telephony::recording::{self, RecordingKey};

pub use live::Board;

/// What the console serves: one campaign of one store.
pub struct Console {
    pub campaign: String,
    /// The report's steps in flow order (the script's), for the funnel.
    pub steps: Vec<String>,
    /// The campaign's `max_concurrent`, for the lines used.
    pub lines: u64,
    /// The recording key, when this console may play recordings.
    pub key: Option<RecordingKey>,
    /// The access token for transcripts and recordings.
    pub token: String,
    /// The scripts' intent and outcome titles, for the report and the calls.
    pub titles: ScriptTitles,
    store: Mutex<Box<dyn Store + Send>>,
    board: live::Cache,
}

/// Why the console cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the console's runtime: {source}")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
    #[error("the console stopped: {source}")]
    Serve {
        #[source]
        source: std::io::Error,
    },
}

impl Console {
    pub fn new(
        campaign: &str,
        store: Box<dyn Store + Send>,
        steps: Vec<String>,
        lines: u64,
        key: Option<RecordingKey>,
        token: String,
    ) -> Console {
        Console {
            campaign: campaign.to_string(),
            steps,
            lines,
            key,
            token,
            titles: ScriptTitles::default(),
            store: Mutex::new(store),
            board: live::Cache::default(),
        }
    }

    /// The scripts' intent and outcome titles (the report and the calls show them).
    pub fn with_titles(mut self, titles: ScriptTitles) -> Console {
        self.titles = titles;
        self
    }

    /// Every wallboard request computes its numbers (the benchmark's baseline).
    pub fn without_cache(mut self) -> Console {
        self.board = live::Cache::none();
        self
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut dyn Store) -> T) -> T {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        f(store.as_mut())
    }
}

/// A random access token: 128 bits as hexadecimal.
pub fn new_token() -> Result<String, String> {
    use aes_gcm::aead::Generate;
    let bytes = <[u8; 16]>::try_generate().map_err(|e| e.to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Binds `addr` (an error at once if it cannot) and serves until `stop` resolves.
pub fn serve(
    addr: SocketAddr,
    console: Arc<Console>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ConsoleError> {
    let bind = |source| ConsoleError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| ConsoleError::Runtime { source })?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(bind)?
    };
    on_listening(local);
    runtime
        .block_on(async move { axum::serve(listener, router(console)).with_graceful_shutdown(stop).await })
        .map_err(|source| ConsoleError::Serve { source })
}

/// The console's routes (public for tests that drive it without a socket).
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(wallboard))
        .route("/api/live", get(live_json))
        .route("/report", get(report_page))
        .route("/calls", get(call_list))
        .route("/calls/{customer}/{attempt}", get(call_page))
        .route("/calls/{customer}/{attempt}/recording.wav", get(recording_wav))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(console)
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    console: &Arc<Console>,
    work: impl FnOnce(&Console) -> T + Send + 'static,
) -> Result<T, Response> {
    let console = Arc::clone(console);
    tokio::task::spawn_blocking(move || work(&console))
        .await
        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
}

fn store_error(e: crate::store::StoreError) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Html(pages::error_page(&format!("the store cannot be read: {e}"))))
        .into_response()
}

async fn wallboard(State(console): State<Arc<Console>>) -> Html<String> {
    Html(pages::wallboard(&console.campaign))
}

async fn live_json(State(console): State<Arc<Console>>) -> Response {
    match blocking(&console, |c| c.board.get(|| c.with_store(|s| live::compute(s, &c.campaign, c.lines)))).await {
        Ok(Ok(board)) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(board)).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

async fn readyz(State(console): State<Arc<Console>>) -> Response {
    match blocking(&console, |c| c.with_store(|s| s.campaign(&c.campaign))).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
        Err(r) => r,
    }
}

async fn report_page(State(console): State<Arc<Console>>) -> Response {
    let built = blocking(&console, |c| {
        c.with_store(|s| {
            let mut builder = crate::report::ReportBuilder::default();
            builder.add_counts(&s.attempt_counts(&c.campaign)?);
            Ok(builder)
        })
        .map(|builder| builder.finish(&c.campaign, &c.steps).with_titles(&c.titles))
    })
    .await;
    match built {
        Ok(Ok(report)) => Html(crate::report::html(&report)).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

/// The token from the header, the cookie or the query; None when none is given.
fn given_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(t) = query {
        return Some(t.to_string());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("callscript_token=").map(str::to_string))
    })
}

/// Compares without returning early, so the time taken says nothing about the token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a page that shows what customers said was refused.
enum Refusal {
    NoToken,
    WrongToken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::WrongToken => (StatusCode::FORBIDDEN, Html(pages::error_page("the access token is wrong"))).into_response(),
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                Html(pages::error_page(
                    "transcripts and recordings need the access token `callscript serve` printed: open the link it gave, or send `Authorization: Bearer TOKEN`",
                )),
            )
                .into_response(),
        }
    }
}

/// The access check of the pages that show what customers said: `Ok(set_cookie)` when the
/// token is right (set the cookie when it came in the query).
fn authorise(console: &Console, headers: &HeaderMap, query: Option<&str>) -> Result<bool, Refusal> {
    match given_token(headers, query) {
        Some(t) if same(&t, &console.token) => Ok(query.is_some()),
        Some(_) => Err(Refusal::WrongToken),
        None => Err(Refusal::NoToken),
    }
}

fn with_cookie(set: bool, token: &str, response: Response) -> Response {
    if !set {
        return response;
    }
    let mut response = response;
    if let Ok(value) = format!("callscript_token={token}; Path=/; HttpOnly; SameSite=Strict").parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The call list's filters, as the query gives them.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filters {
    pub q: Option<String>,
    pub disposition: Option<String>,
    pub outcome: Option<String>,
    pub tag: Option<String>,
    pub date: Option<String>,
    pub segment: Option<String>,
    pub token: Option<String>,
    pub page: Option<usize>,
}

async fn call_list(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(filters): Query<Filters>,
) -> Response {
    let set_cookie = match authorise(&console, &headers, filters.token.as_deref()) {
        Ok(set) => set,
        Err(r) => return r.into_response(),
    };
    if set_cookie {
        // The token leaves the address bar (and the history) at once.
        let mut f = filters.clone();
        f.token = None;
        return with_cookie(true, &console.token, Redirect::to(&pages::list_link(&f)).into_response());
    }
    let page = {
        let filters = filters.clone();
        blocking(&console, move |c| {
            c.with_store(|s| -> crate::store::Result<String> {
                let mut list = pages::CallList::new(&filters);
                s.each_attempt(&c.campaign, &mut |r| list.add_matching(r, &filters))?;
                Ok(list.page(&c.campaign, &filters, &c.titles))
            })
        })
        .await
    };
    match page {
        Ok(Ok(page)) => Html(page).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn call_page(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((customer, attempt)): Path<(String, u32)>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let set_cookie = match authorise(&console, &headers, q.token.as_deref()) {
        Ok(set) => set,
        Err(r) => return r.into_response(),
    };
    let found = blocking(&console, move |c| {
        c.with_store(|s| -> crate::store::Result<_> {
            let Some(row) = s.attempt(&c.campaign, &customer, attempt)? else { return Ok(None) };
            let transcript = s.transcript(&c.campaign, &row.customer_id, row.attempt)?.unwrap_or_default();
            let recorded = s.recordings(&c.campaign)?.iter().any(|r| r.attempt_id == row.id);
            Ok(Some((row, transcript, recorded && c.key.is_some())))
        })
    })
    .await;
    let page = match found {
        Ok(Ok(Some((row, transcript, playable)))) => {
            Html(pages::call_page(&row, &transcript, playable, &console.titles)).into_response()
        }
        Ok(Ok(None)) => {
            (StatusCode::NOT_FOUND, Html(pages::error_page("no such call in this campaign"))).into_response()
        }
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    };
    with_cookie(set_cookie, &console.token, page)
}

async fn recording_wav(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((customer, attempt)): Path<(String, u32)>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Err(r) = authorise(&console, &headers, q.token.as_deref()) {
        return r.into_response();
    }
    let peer = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("a browser").to_string();
    let decrypted = blocking(&console, move |c| -> Result<Option<Vec<u8>>, String> {
        let Some(key) = &c.key else { return Err("this console has no recording key".into()) };
        c.with_store(|s| {
            let Some(row) = s.attempt(&c.campaign, &customer, attempt).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            let Some(file) =
                s.recordings(&c.campaign).map_err(|e| e.to_string())?.into_iter().find(|r| r.attempt_id == row.id)
            else {
                return Ok(None);
            };
            let mut wav = Vec::new();
            let result = recording::decrypt_to_wav(std::path::Path::new(&file.path), key, &mut wav);
            // Every playback is audited, as an export is.
            let _ = s.log_export(&crate::store::ExportRow {
                id: 0,
                path: file.path.clone(),
                attempt_id: Some(row.id),
                exported_ms: jiff::Timestamp::now().as_millisecond(),
                exported_by: format!("callscript serve ({peer})"),
                destination: "played in the web console (in memory)".into(),
                ok: result.is_ok(),
                error: result.as_ref().err().map(|e| e.to_string()),
            });
            result.map(|_| Some(wav)).map_err(|e| e.to_string())
        })
    })
    .await;
    match decrypted {
        Ok(Ok(Some(wav))) => {
            ([(header::CONTENT_TYPE, "audio/wav"), (header::CACHE_CONTROL, "no-store")], wav).into_response()
        }
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no recording of this call").into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
        Err(r) => r,
    }
}
