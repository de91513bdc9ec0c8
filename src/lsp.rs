//! `callscript lsp`: a Language Server over standard input and output (tower-lsp-server).
//!
//! Documents live in memory; every open or change re-checks the document with
//! [`check::check`] and a loader that prefers open documents over the disk for `use "…"`, and
//! publishes its diagnostics (code, severity, related places: secondary labels and a compliance
//! finding's witness path). Hover, definition, references, rename, completion and the outline
//! come from `callscript_compiler::ide`; formatting from `callscript_compiler::format`. This
//! module only translates: byte offsets to LSP positions (UTF-16 code units, the protocol's
//! default), file names to URIs, compiler data to protocol types.
//!
//! Checks and requests work on threads of their own, so that `$/cancelRequest` is read while
//! they run: a cancelled request is answered with RequestCancelled (-32800, by
//! tower-lsp-server, which drops its future) and its work stops at its next phase. Each
//! request has [`REQUEST_BUDGET`] from its arrival to its answer, else it is answered with
//! RequestFailed (-32803). See "the server" below.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use callscript_compiler::check::{self, Checked, Loader, join_path};
use callscript_compiler::diagnostic::Severity;
use callscript_compiler::format;
use callscript_compiler::ide::{self, CompletionKind, SymbolKind as IdeSymbol};
use callscript_compiler::source::Source;
use callscript_compiler::span::{SourceId, Span};
use tokio::sync::{Semaphore, watch};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

/// The stack of the threads that check documents and answer requests (tokio's blocking pool).
/// The parser, the checker and the editor queries recurse once per level of nesting, at most
/// `MAX_DEPTH` (256) levels: on the deepest file (`tests/regressions/deep_asks.call`) a debug
/// build uses nearly all of tokio's default of 2 MiB (it overflowed there once, and does at
/// 1.5 MiB), and a stack overflow ends the process, not one request. Only the pages used are
/// committed.
const WORKER_STACK: usize = 16 << 20;

/// Runs the server until the client says `exit` or its input ends; returns the exit code: 0
/// after `shutdown` and `exit`, 1 when the input ends or `exit` comes without `shutdown` (the
/// protocol's rule), 2 when a message is malformed (the error names it on standard error; the
/// messages before it are answered) or the server cannot start.
pub fn run() -> i32 {
    let runtime =
        match tokio::runtime::Builder::new_current_thread().enable_time().thread_stack_size(WORKER_STACK).build() {
            Ok(rt) => rt,
            Err(e) => {
                crate::say_err!("error: cannot start the language server: {e}");
                return 2;
            }
        };
    let (frames_tx, mut frames) = tokio::sync::mpsc::channel::<Frame>(16);
    // A thread of its own: a blocking read of standard input cannot be cancelled, and the
    // process must be able to end while it waits.
    let reader = std::thread::Builder::new().name("lsp-input".into()).spawn(move || {
        read_messages(std::io::stdin().lock(), |frame| frames_tx.blocking_send(frame).is_ok());
    });
    if let Err(e) = reader {
        crate::say_err!("error: cannot start the language server: {e}");
        return 2;
    }
    let shut_down = Arc::new(AtomicBool::new(false));
    let malformed = runtime.block_on(async {
        use tokio::io::AsyncWriteExt;
        let (mut to_server, server_input) = tokio::io::duplex(1 << 16);
        // Passes the checked messages on; the server's input ends with the reader's.
        let forward = async move {
            while let Some(frame) = frames.recv().await {
                match frame {
                    Ok((bytes, _)) => {
                        if to_server.write_all(&bytes).await.is_err() {
                            return None;
                        }
                    }
                    Err(e) => return Some(e),
                }
            }
            None
        };
        let flag = shut_down.clone();
        let (service, socket) = LspService::new(|client| Backend {
            state: Arc::new(State {
                client,
                open: Mutex::new(Open::default()),
                checking: tokio::sync::Mutex::new(()),
                workers: Arc::new(Semaphore::new(REQUEST_WORKERS)),
            }),
            shut_down: flag,
        });
        let serve =
            Server::new(server_input, tokio::io::stdout(), socket).concurrency_level(CONCURRENCY).serve(service);
        let (malformed, ()) = tokio::join!(forward, serve);
        malformed
    });
    // A check or request still running on a worker thread is not waited for.
    runtime.shutdown_background();
    match malformed {
        Some(e) => {
            crate::say_err!("error: callscript lsp: {e}; the server stops");
            2
        }
        None if shut_down.load(Ordering::SeqCst) => 0,
        None => 1,
    }
}

/// The open documents, by the file name the compiler sees (the path of a `file:` URI). Texts
/// are shared, so a copy of this (what a check job reads) costs a map of pointers.
#[derive(Clone, Default)]
pub struct Documents {
    texts: HashMap<String, Arc<str>>,
    uris: HashMap<String, Uri>,
}

impl Documents {
    pub fn open(&mut self, name: String, uri: Option<Uri>, text: String) {
        if let Some(uri) = uri {
            self.uris.insert(name.clone(), uri);
        }
        self.texts.insert(name, text.into());
    }

    pub fn close(&mut self, name: &str) {
        self.texts.remove(name);
        self.uris.remove(name);
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.texts.get(name).map(|t| &**t)
    }

    /// Checks one open document, its imports read from open documents first, then the disk.
    pub fn check(&self, name: &str) -> Option<Checked> {
        let text = self.texts.get(name)?;
        let mut loader = OpenFirst { docs: &self.texts };
        Some(check::check(vec![Source::new(name, &**text)], &mut loader))
    }

    /// The URI of a compiled file: an open document's, or a `file:` URI for a path on disk;
    /// None for standard library modules.
    pub fn uri(&self, name: &str) -> Option<Uri> {
        if let Some(uri) = self.uris.get(name) {
            return Some(uri.clone());
        }
        if std::path::Path::new(name).is_absolute() { Uri::from_file_path(name) } else { None }
    }
}

/// The compiler's name for a document: the path of a `file:` URI, else the URI itself.
pub fn name_of(uri: &Uri) -> String {
    if uri.scheme().as_str() == "file"
        && let Some(path) = uri.to_file_path()
    {
        return path.to_string_lossy().into_owned();
    }
    uri.as_str().to_string()
}

struct OpenFirst<'a> {
    docs: &'a HashMap<String, Arc<str>>,
}

impl Loader for OpenFirst<'_> {
    fn load(&mut self, importer: &str, path: &str) -> std::result::Result<(String, String), String> {
        let name = join_path(importer, path);
        if let Some(text) = self.docs.get(&name) {
            return Ok((name, text.to_string()));
        }
        crate::files::read_source(std::path::Path::new(&name))
            .map(|text| (name, text))
            .map_err(|e| crate::files::import_reason(&e.kind))
    }
}

// ---- positions ------------------------------------------------------------------------

/// The LSP position (line, UTF-16 column) of a byte offset.
pub fn position(text: &str, offset: u32) -> Position {
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..line_start].matches('\n').count();
    let character: usize = text[line_start..offset].chars().map(char::len_utf16).sum();
    Position::new(line as u32, character as u32)
}

/// The byte offset of an LSP position (clamped to the line and the text).
pub fn offset(text: &str, pos: Position) -> u32 {
    let mut line_start = 0;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len() as u32,
        }
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= pos.character {
            return (line_start + i) as u32;
        }
        units += c.len_utf16() as u32;
    }
    line_end as u32
}

pub fn range(text: &str, span: Span) -> Range {
    Range::new(position(text, span.start), position(text, span.end))
}

/// [`position`] with the source's line index: the cost is the line's, not the file's, so a
/// file with thousands of diagnostics converts in linear time.
pub fn position_in(source: &Source, offset: u32) -> Position {
    let text = source.text.as_str();
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line = source.line_of(offset);
    let line_start = source.line_range(line).start;
    let character: usize = text[line_start..offset].chars().map(char::len_utf16).sum();
    Position::new(line as u32, character as u32)
}

/// [`range`] with the source's line index.
pub fn range_in(source: &Source, span: Span) -> Range {
    Range::new(position_in(source, span.start), position_in(source, span.end))
}

/// The LSP diagnostics of one file of a check, with related places from the secondary labels
/// and the witness path.
pub fn diagnostics(docs: &Documents, checked: &Checked, file: SourceId) -> Vec<Diagnostic> {
    let this = checked.sources.get(file);
    checked
        .diagnostics
        .iter()
        .filter(|d| d.primary.at.file == file)
        .map(|d| {
            // The secondary labels, then a compliance finding's witness path from the start.
            let related: Vec<DiagnosticRelatedInformation> = d
                .secondary
                .iter()
                .chain(&d.path)
                .filter_map(|label| {
                    let source = checked.sources.get(label.at.file);
                    let uri = docs.uri(&source.name)?;
                    Some(DiagnosticRelatedInformation {
                        location: Location::new(uri, range_in(source, label.at.span)),
                        message: label.message.clone(),
                    })
                })
                .collect();
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            Diagnostic {
                range: range_in(this, d.primary.at.span),
                severity: Some(match d.severity {
                    Severity::Error => DiagnosticSeverity::ERROR,
                    Severity::Warning => DiagnosticSeverity::WARNING,
                }),
                code: Some(NumberOrString::String(d.code.to_string())),
                source: Some("callscript".into()),
                message,
                related_information: if related.is_empty() { None } else { Some(related) },
                tags: matches!(d.code, "W001" | "W002" | "W003" | "W004" | "W006" | "W008")
                    .then(|| vec![DiagnosticTag::UNNECESSARY]),
                ..Diagnostic::default()
            }
        })
        .collect()
}

// ---- reading the client's messages ----------------------------------------------------

/// The longest header line read (`Content-Length: …` and the like are a few dozen bytes).
const MAX_HEADER_LINE: u64 = 8 << 10;

/// The largest message body accepted: 256 MiB, room for the largest source file
/// ([`crate::files::MAX_SOURCE_BYTES`]) however the client escapes it. A larger
/// `Content-Length` is refused before anything is read into memory.
pub const MAX_MESSAGE_BYTES: u64 = 256 << 20;

/// Why the server stopped reading its input before the client said `exit`: the message's
/// number (from 1) and the byte of the input where it starts, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("message {number} (at byte {offset} of the input): {kind}")]
pub struct InputError {
    pub number: u64,
    pub offset: u64,
    pub kind: InputErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum InputErrorKind {
    #[error("a header line is longer than {MAX_HEADER_LINE} bytes")]
    HeaderTooLong,
    #[error("`{0}` is not a header (`Name: value`)")]
    NotAHeader(String),
    #[error("the headers have no Content-Length")]
    NoLength,
    #[error("Content-Length `{0}` is not a number of bytes")]
    BadLength(String),
    #[error("Content-Length {0} is larger than the limit of {limit} MiB", limit = MAX_MESSAGE_BYTES >> 20)]
    TooLong(u64),
    #[error("Content-Type `{0}` is not UTF-8 (the only charset the protocol has)")]
    NotUtf8Charset(String),
    #[error("the input ended inside the headers")]
    EndInHeaders,
    #[error("the input ended {got} bytes into a body of {length}")]
    EndInBody { got: u64, length: u64 },
    #[error("the body is not UTF-8 (byte {0} of it)")]
    BodyNotUtf8(usize),
    #[error("the body is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the body is not a JSON-RPC 2.0 request, notification or response")]
    NotJsonRpc,
    #[error("cannot read standard input: {0}")]
    Io(std::io::Error),
}

/// What the reader passes on: a message, re-framed with its Content-Length alone, whether it
/// is the `exit` notification (after which nothing more is read), or why reading stopped.
type Frame = std::result::Result<(Vec<u8>, bool), InputError>;

/// Reads Content-Length framed JSON-RPC messages from `input` and sends each well-formed one
/// on; stops at the end of the input, after `exit`, or at the first malformed message (which
/// it sends as the error). Every message is checked the way the server will decode it, so the
/// server never meets one it cannot read (its decoder would stop serving, silently).
pub fn read_messages(input: impl std::io::BufRead, mut send: impl FnMut(Frame) -> bool) {
    let mut input = Counted { inner: input, read: 0 };
    for number in 1.. {
        let offset = input.read;
        let fail = |kind| InputError { number, offset, kind };
        let message = match read_message(&mut input) {
            Ok(None) => return,
            Ok(Some(body)) => check_message(body).map_err(fail),
            Err(kind) => Err(fail(kind)),
        };
        let last = !matches!(message, Ok((_, false)));
        if !send(message) || last {
            return;
        }
    }
}

/// One message's body, or None at the end of the input before a message starts.
fn read_message(input: &mut impl std::io::BufRead) -> std::result::Result<Option<Vec<u8>>, InputErrorKind> {
    use std::io::{BufRead, Read};
    let mut length = None;
    let mut any = false;
    loop {
        let mut line = Vec::new();
        input.by_ref().take(MAX_HEADER_LINE + 1).read_until(b'\n', &mut line).map_err(InputErrorKind::Io)?;
        if line.is_empty() {
            return if any { Err(InputErrorKind::EndInHeaders) } else { Ok(None) };
        }
        if line.last() != Some(&b'\n') {
            return Err(if line.len() as u64 > MAX_HEADER_LINE {
                InputErrorKind::HeaderTooLong
            } else {
                InputErrorKind::EndInHeaders
            });
        }
        any = true;
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(InputErrorKind::NotAHeader(line.chars().take(80).collect()));
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| InputErrorKind::BadLength(value.chars().take(40).collect()))?;
            if n > MAX_MESSAGE_BYTES {
                return Err(InputErrorKind::TooLong(n));
            }
            length = Some(n);
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            let charset = value.split(';').skip(1).filter_map(|p| p.trim().strip_prefix("charset=")).last();
            if charset.is_some_and(|c| !matches!(c.trim_matches('"').to_ascii_lowercase().as_str(), "utf-8" | "utf8")) {
                return Err(InputErrorKind::NotUtf8Charset(value.chars().take(80).collect()));
            }
        }
    }
    let length = length.ok_or(InputErrorKind::NoLength)?;
    let mut body = Vec::new();
    input.by_ref().take(length).read_to_end(&mut body).map_err(InputErrorKind::Io)?;
    if (body.len() as u64) < length {
        return Err(InputErrorKind::EndInBody { got: body.len() as u64, length });
    }
    Ok(Some(body))
}

/// Checks a body is a JSON-RPC message as the server decodes it (a response, else a request
/// or notification), and frames it again.
fn check_message(body: Vec<u8>) -> std::result::Result<(Vec<u8>, bool), InputErrorKind> {
    use tower_lsp_server::jsonrpc::{Request, Response};
    let text = std::str::from_utf8(&body).map_err(|e| InputErrorKind::BodyNotUtf8(e.valid_up_to()))?;
    let exit = if serde_json::from_str::<Response>(text).is_ok() {
        false
    } else {
        match serde_json::from_str::<Request>(text) {
            Ok(request) => request.method() == "exit",
            Err(e) if e.is_syntax() || e.is_eof() => return Err(InputErrorKind::NotJson(e)),
            Err(_) => return Err(InputErrorKind::NotJsonRpc),
        }
    };
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(&body);
    Ok((frame, exit))
}

/// A reader that counts the bytes read through it, for [`InputError::offset`].
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.read += amount as u64;
        self.inner.consume(amount);
    }
}

// ---- the server -----------------------------------------------------------------------
//
// Nothing heavy runs on the server's (one) thread: it reads messages, keeps the texts and
// answers cancellations while checks and requests work on threads of their own.
//
// - A *check job* checks one document against a snapshot of the open documents, on a thread
//   of the blocking pool, one job at a time. Every open, change and close makes a job for the
//   document and for each open document that may import it (`use "…"`), to publish their
//   diagnostics; a request makes one when its document has none. The requests about a
//   document share its latest job, and a job outlives the requests that wait for it: its
//   check is the document's, kept for the next request. A job replaced by a newer one of the
//   same document before its turn does not run (its requests are answered ContentModified),
//   and one replaced while it runs does not publish.
// - A request waits for its document's check, then does its own work (the name index, the
//   query, formatting, the outline) on a worker thread, looking between phases at a flag that
//   is set when the request is cancelled or out of budget. From its arrival to its answer it
//   has [`REQUEST_BUDGET`].
//
// The check itself is one call into the compiler and cannot stop half way: a check replaced
// while it runs goes on to its end (one at a time, so replaced checks never pile up).

/// How long a request may take from its arrival to its answer, the wait for its document's
/// check included. Past it the request is answered with RequestFailed (-32803) and a message
/// saying so, and its own work stops at its next phase; the document and its check are kept
/// (a check goes on to its end, so asking again later finds it done).
pub const REQUEST_BUDGET: Duration = Duration::from_secs(2);

/// The requests' own work runs on at most this many threads at once (beside the one check
/// job); a request cancelled or out of budget while it waits for one never starts.
const REQUEST_WORKERS: usize = 2;

/// How many messages the server works on at once (tower-lsp-server's default is 4). A request
/// waiting for a long check holds one, and a `$/cancelRequest` needs a free one to be read.
const CONCURRENCY: usize = 32;

/// RequestFailed: a request that was understood but could not be answered (LSP 3.17).
const REQUEST_FAILED: i64 = -32803;

/// Runs `f`, turning a panic (a compiler bug met while the author types) into None, so that one
/// bad document cannot take the editor's server down. The panic message still goes to stderr.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

struct Backend {
    state: Arc<State>,
    /// Set by `shutdown`: the exit code is 0 only after it.
    shut_down: Arc<AtomicBool>,
}

/// What the handlers and the jobs they start share.
struct State {
    client: Client,
    open: Mutex<Open>,
    /// Held by the check job that runs: one at a time, in the order they were made.
    checking: tokio::sync::Mutex<()>,
    /// [`REQUEST_WORKERS`] permits for the requests' own work.
    workers: Arc<Semaphore>,
}

/// The open documents and their checks. Its lock is held briefly, never across a check.
#[derive(Default)]
struct Open {
    docs: Documents,
    /// The latest check job of each open document, done or not: the one that checks its
    /// current text and imports. A change replaces the jobs of the documents it may concern.
    jobs: HashMap<String, Arc<Job>>,
    /// The diagnostics published last for each open document.
    published: HashMap<String, Vec<Diagnostic>>,
}

/// The check of one document against the open documents as they were when it was made.
struct Job {
    snapshot: Arc<Documents>,
    /// Whether its diagnostics are still to be published (a [`Publish`]); a job that replaces
    /// this one before it published takes this over.
    publish: AtomicU8,
    /// None until the job ends.
    done: watch::Sender<Option<Outcome>>,
}

/// Whether a job publishes its document's diagnostics.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Publish {
    No,
    /// Only when they differ from those published last: a document that may import the one
    /// that changed (most do not, and their diagnostics stay as they were).
    IfChanged,
    /// The document that was opened or changed.
    Always,
}

#[derive(Clone)]
enum Outcome {
    Ready(Arc<Analysis>),
    /// A newer job of the same document was made before this one ran.
    Replaced,
    /// Checking met a bug (a panic, caught).
    Failed,
}

/// A checked document and what requests need of it.
struct Analysis {
    /// The open documents the check read (their URIs, for locations).
    docs: Arc<Documents>,
    checked: Checked,
    root: SourceId,
    diagnostics: Vec<Diagnostic>,
    /// The names of the document, resolved once for every request that needs them.
    index: OnceLock<ide::FileIndex>,
}

impl Analysis {
    fn new(docs: Arc<Documents>, name: &str) -> Option<Analysis> {
        let checked = docs.check(name)?;
        let root = checked.files.iter().find(|f| f.is_root).map_or(SourceId(0), |f| f.id);
        let diagnostics = diagnostics(&docs, &checked, root);
        Some(Analysis { docs, checked, root, diagnostics, index: OnceLock::new() })
    }

    fn source(&self) -> &Source {
        self.checked.sources.get(self.root)
    }

    fn index(&self) -> &ide::FileIndex {
        self.index.get_or_init(|| ide::index(&self.checked, self.root))
    }

    fn location(&self, at: callscript_compiler::span::FileSpan) -> Option<Location> {
        location(&self.docs, &self.checked, at)
    }
}

impl State {
    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Open {
    /// After `name` was opened, changed or closed: a new job that publishes diagnostics for
    /// `name` (unless it was closed) and for every open document that may import it (the jobs
    /// of other documents stay: nothing they read changed).
    fn changed(&mut self, name: &str, state: &Arc<State>) {
        let mut names: Vec<String> = self
            .docs
            .texts
            .iter()
            .filter(|(other, text)| *other == name || text.contains("use \""))
            .map(|(other, _)| other.clone())
            .collect();
        names.sort_by(|a, b| (a != name, a).cmp(&(b != name, b)));
        for other in names {
            let publish = if other == name { Publish::Always } else { Publish::IfChanged };
            self.start(&other, publish, state);
        }
    }

    /// The latest check job of an open document, made if there is none.
    fn job(&mut self, name: &str, state: &Arc<State>) -> Option<Arc<Job>> {
        if !self.docs.texts.contains_key(name) {
            return None;
        }
        match self.jobs.get(name) {
            Some(job) => Some(job.clone()),
            None => Some(self.start(name, Publish::No, state)),
        }
    }

    /// Makes and starts a job for `name`, replacing its previous one.
    fn start(&mut self, name: &str, publish: Publish, state: &Arc<State>) -> Arc<Job> {
        let unpublished = self.jobs.get(name).map_or(0, |old| old.publish.load(Ordering::SeqCst));
        let job = Arc::new(Job {
            snapshot: Arc::new(self.docs.clone()),
            publish: AtomicU8::new((publish as u8).max(unpublished)),
            done: watch::channel(None).0,
        });
        self.jobs.insert(name.to_string(), job.clone());
        tokio::spawn(run_job(state.clone(), name.to_string(), job.clone()));
        job
    }

    /// Whether `job` is still the latest of `name`.
    fn is_latest(&self, name: &str, job: &Arc<Job>) -> bool {
        self.jobs.get(name).is_some_and(|latest| Arc::ptr_eq(latest, job))
    }
}

/// Runs a check job when its turn comes, tells those who wait, and publishes its diagnostics
/// when it is still the document's latest job and was made to publish (see [`Publish`]).
async fn run_job(state: Arc<State>, name: String, job: Arc<Job>) {
    let _turn = state.checking.lock().await;
    if !state.open().is_latest(&name, &job) {
        job.done.send_replace(Some(Outcome::Replaced));
        return;
    }
    let (snapshot, checked_name) = (job.snapshot.clone(), name.clone());
    let work = tokio::task::spawn_blocking(move || guarded(|| Analysis::new(snapshot, &checked_name)));
    let outcome = match work.await {
        Ok(Some(Some(analysis))) => Outcome::Ready(Arc::new(analysis)),
        // Not open in its own snapshot: cannot be.
        Ok(Some(None)) => Outcome::Replaced,
        Ok(None) | Err(_) => Outcome::Failed,
    };
    let publish = {
        let mut open = state.open();
        let publish =
            if open.is_latest(&name, &job) { job.publish.swap(Publish::No as u8, Ordering::SeqCst) } else { 0 };
        match &outcome {
            Outcome::Ready(analysis)
                if publish == Publish::Always as u8
                    || (publish == Publish::IfChanged as u8
                        && open.published.get(&name) != Some(&analysis.diagnostics)) =>
            {
                open.published.insert(name.clone(), analysis.diagnostics.clone());
                true
            }
            _ => false,
        }
    };
    job.done.send_replace(Some(outcome.clone()));
    if publish
        && let Outcome::Ready(analysis) = outcome
        && let Some(uri) = analysis.docs.uri(&name)
    {
        // Still holding the turn: diagnostics are published in the order of the jobs.
        state.client.publish_diagnostics(uri, analysis.diagnostics.clone(), None).await;
    }
}

/// Set when the request that started some work no longer wants its answer: cancelled by the
/// client, or out of budget. The work looks at it between its phases (`cancel.check()?`).
#[derive(Clone, Default)]
struct Cancel(Arc<AtomicBool>);

/// Work that stopped because its request was cancelled or ran out of budget.
#[derive(Debug)]
struct Stopped;

impl Cancel {
    fn check(&self) -> std::result::Result<(), Stopped> {
        if self.0.load(Ordering::SeqCst) { Err(Stopped) } else { Ok(()) }
    }
}

/// Sets a [`Cancel`] when dropped: when the future of a request ends, however it ends
/// (answered, out of budget, or dropped by tower-lsp-server on `$/cancelRequest`).
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::SeqCst);
    }
}

/// Runs a request's own work `f` on a worker thread and waits for it until `deadline`; `f`
/// gets the request's [`Cancel`]. Out of time (waiting for a worker or for `f`): RequestFailed
/// naming `what` and the document's `size`; a panic in `f`: [`bug`].
async fn work<T: Send + 'static>(
    workers: &Arc<Semaphore>,
    deadline: Instant,
    what: &str,
    size: usize,
    f: impl FnOnce(&Cancel) -> std::result::Result<T, Stopped> + Send + 'static,
) -> Result<T> {
    let deadline = tokio::time::Instant::from_std(deadline);
    let cancel = Cancel::default();
    let _stop = CancelOnDrop(cancel.clone());
    let permit = match tokio::time::timeout_at(deadline, workers.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_closed)) => return Err(bug()),
        Err(_elapsed) => return Err(over_budget(what, size, false)),
    };
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        guarded(|| f(&cancel))
    });
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(Some(Ok(value)))) => Ok(value),
        // Only this future sets the flag, and only once it no longer waits.
        Ok(Ok(Some(Err(Stopped)))) => Err(over_budget(what, size, false)),
        Ok(Ok(None) | Err(_)) => Err(bug()),
        Err(_elapsed) => Err(over_budget(what, size, false)),
    }
}

impl Backend {
    /// The check of an open document's current text, waited for until `deadline`; None when
    /// the document is not open.
    async fn analysis(&self, uri: &Uri, what: &str, deadline: Instant) -> Result<Option<Arc<Analysis>>> {
        let name = name_of(uri);
        let (job, size) = {
            let mut open = self.state.open();
            let size = open.docs.text(&name).map_or(0, str::len);
            (open.job(&name, &self.state), size)
        };
        let Some(job) = job else { return Ok(None) };
        let mut done = job.done.subscribe();
        let deadline = tokio::time::Instant::from_std(deadline);
        let outcome = match tokio::time::timeout_at(deadline, done.wait_for(Option::is_some)).await {
            Ok(Ok(outcome)) => outcome.clone(),
            Ok(Err(_closed)) => None,
            Err(_elapsed) => return Err(over_budget(what, size, true)),
        };
        match outcome {
            Some(Outcome::Ready(analysis)) => Ok(Some(analysis)),
            Some(Outcome::Replaced) => Err(content_modified(what)),
            Some(Outcome::Failed) | None => Err(bug()),
        }
    }

    /// Answers a request from its document's check: None when the document is not open, else
    /// what `f` makes of the check, within [`REQUEST_BUDGET`] (see [`work`]).
    async fn with_analysis<T: Send + 'static>(
        &self,
        uri: &Uri,
        what: &'static str,
        f: impl FnOnce(&Analysis, &Cancel) -> std::result::Result<T, Stopped> + Send + 'static,
    ) -> Result<Option<T>> {
        let deadline = Instant::now() + REQUEST_BUDGET;
        let Some(analysis) = self.analysis(uri, what, deadline).await? else { return Ok(None) };
        let size = analysis.source().text.len();
        work(&self.state.workers, deadline, what, size, move |cancel| f(&analysis, cancel)).await.map(Some)
    }

    /// Answers a request from its document's text alone (no check), like [`Self::with_analysis`].
    async fn with_text<T: Send + 'static>(
        &self,
        uri: &Uri,
        what: &'static str,
        f: impl FnOnce(&str, &Cancel) -> std::result::Result<T, Stopped> + Send + 'static,
    ) -> Result<Option<T>> {
        let deadline = Instant::now() + REQUEST_BUDGET;
        let Some(text) = self.state.open().docs.texts.get(&name_of(uri)).cloned() else { return Ok(None) };
        work(&self.state.workers, deadline, what, text.len(), move |cancel| f(&text, cancel)).await.map(Some)
    }
}

/// The answer to a request that met a panic (caught by [`guarded`]).
fn bug() -> Error {
    Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
        message: "callscript met a bug on this document; the server's log has the details".into(),
        data: None,
    }
}

/// The answer to a request that did not end within [`REQUEST_BUDGET`]: RequestFailed, with a
/// message that says what ran out of time on how large a document.
fn over_budget(what: &str, size: usize, waiting_for_check: bool) -> Error {
    let budget = REQUEST_BUDGET.as_secs_f64();
    let size = if size >= 1 << 20 {
        format!("{:.1} MiB", size as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", size.div_ceil(1 << 10))
    };
    let message = if waiting_for_check {
        format!(
            "{what}: this document ({size}) was still being checked when the request's budget of {budget} s \
             ran out; the check goes on, so ask again once its diagnostics are shown"
        )
    } else {
        format!(
            "{what} did not finish within its budget of {budget} s on this document ({size}) and was stopped; \
             the document is kept, so the request can be asked again"
        )
    };
    Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(REQUEST_FAILED),
        message: message.into(),
        data: None,
    }
}

/// The answer to a request whose document changed before it was checked (ContentModified,
/// which editors drop silently and ask again).
fn content_modified(what: &str) -> Error {
    Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::ContentModified,
        message: format!("{what}: the document changed before it was checked; ask again").into(),
        data: None,
    }
}

fn location(docs: &Documents, checked: &Checked, at: callscript_compiler::span::FileSpan) -> Option<Location> {
    let source = checked.sources.get(at.file);
    Some(Location::new(docs.uri(&source.name)?, range_in(source, at.span)))
}

#[allow(deprecated)] // DocumentSymbol::deprecated must still be given
fn document_symbol(source: &Source, s: &ide::Symbol) -> DocumentSymbol {
    DocumentSymbol {
        name: s.name.clone(),
        detail: s.detail.clone(),
        kind: match s.kind {
            IdeSymbol::Script => SymbolKind::CLASS,
            IdeSymbol::Section => SymbolKind::NAMESPACE,
            IdeSymbol::Step => SymbolKind::FUNCTION,
            IdeSymbol::Intent => SymbolKind::EVENT,
            IdeSymbol::Test => SymbolKind::METHOD,
            IdeSymbol::Flow => SymbolKind::FUNCTION,
            IdeSymbol::Handlers => SymbolKind::STRUCT,
            IdeSymbol::Action => SymbolKind::INTERFACE,
        },
        tags: None,
        deprecated: None,
        range: range_in(source, s.span),
        selection_range: range_in(source, s.selection),
        children: if s.children.is_empty() {
            None
        } else {
            Some(s.children.iter().map(|c| document_symbol(source, c)).collect())
        },
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, _: InitializeParams) -> Result<InitializeResult> {
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(PositionEncodingKind::UTF16),
                text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![" ".into(), "|".into(), ".".into(), "{".into()]),
                    ..CompletionOptions::default()
                }),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "callscript".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> Result<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        let name = name_of(&doc.uri);
        let mut open = self.state.open();
        open.docs.open(name.clone(), Some(doc.uri), doc.text);
        open.changed(&name, &self.state);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let name = name_of(&uri);
        let mut open = self.state.open();
        let mut text = open.docs.text(&name).unwrap_or_default().to_string();
        for change in params.content_changes {
            match change.range {
                Some(r) => {
                    let (start, end) = (offset(&text, r.start) as usize, offset(&text, r.end) as usize);
                    text.replace_range(start..end.max(start), &change.text);
                }
                None => text = change.text,
            }
        }
        open.docs.open(name.clone(), Some(uri), text);
        open.changed(&name, &self.state);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        let name = name_of(&uri);
        {
            let mut open = self.state.open();
            open.docs.close(&name);
            open.jobs.remove(&name);
            open.published.remove(&name);
            // The documents that import it now read it from the disk.
            open.changed(&name, &self.state);
        }
        self.state.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        let at = p.position;
        let hover = self.with_analysis(&p.text_document.uri, "textDocument/hover", move |a, cancel| {
            let index = a.index();
            cancel.check()?;
            let source = a.source();
            Ok(index.at(offset(&source.text, at)).map(|found| Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: found.hover.clone(),
                }),
                range: Some(range_in(source, found.span)),
            }))
        });
        Ok(hover.await?.flatten())
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let p = params.text_document_position_params;
        let at = p.position;
        let definition = self.with_analysis(&p.text_document.uri, "textDocument/definition", move |a, cancel| {
            let index = a.index();
            cancel.check()?;
            let def = index.definition(offset(&a.source().text, at));
            Ok(def.and_then(|def| a.location(def)).map(GotoDefinitionResponse::Scalar))
        });
        Ok(definition.await?.flatten())
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let p = params.text_document_position;
        let (at, with_definition) = (p.position, params.context.include_declaration);
        self.with_analysis(&p.text_document.uri, "textDocument/references", move |a, cancel| {
            let index = a.index();
            cancel.check()?;
            let places = index.references(offset(&a.source().text, at), with_definition);
            cancel.check()?;
            Ok(places.into_iter().filter_map(|place| a.location(place)).collect())
        })
        .await
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        let symbols = self.with_text(&params.text_document.uri, "textDocument/documentSymbol", |text, cancel| {
            let (file, _) = callscript_compiler::syntax::parse(text, SourceId(0));
            cancel.check()?;
            let symbols = ide::symbols(&file);
            let source = Source::new("", text);
            Ok(DocumentSymbolResponse::Nested(symbols.iter().map(|s| document_symbol(&source, s)).collect()))
        });
        symbols.await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let edits = self.with_text(&params.text_document.uri, "textDocument/formatting", |text, cancel| {
            let formatted = format::format(text);
            cancel.check()?;
            Ok(match formatted {
                Ok(out) if out == text => Some(Vec::new()),
                Ok(out) => Some(vec![TextEdit::new(range(text, Span::new(0, text.len())), out)]),
                // The syntax errors are already shown as diagnostics: change nothing.
                Err(_) => None,
            })
        });
        Ok(edits.await?.flatten())
    }

    async fn prepare_rename(&self, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        let at = params.position;
        let result = self.with_analysis(&params.text_document.uri, "textDocument/prepareRename", move |a, cancel| {
            let index = a.index();
            cancel.check()?;
            let source = a.source();
            let at = offset(&source.text, at);
            Ok((|| {
                let found = index.at(at).ok_or("there is no name here")?;
                index.rename(&a.checked, at, &found.name)?;
                Ok::<_, String>(PrepareRenameResponse::Range(range_in(source, found.span)))
            })())
        });
        match result.await? {
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(message)) => Err(Error::invalid_params(message)),
            None => Ok(None),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let p = params.text_document_position;
        let (at, new_name) = (p.position, params.new_name);
        let result = self.with_analysis(&p.text_document.uri, "textDocument/rename", move |a, cancel| {
            let index = a.index();
            cancel.check()?;
            Ok((|| {
                let places = index.rename(&a.checked, offset(&a.source().text, at), &new_name)?;
                let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
                for place in places {
                    let loc = a.location(place).ok_or("a place to rename has no file")?;
                    changes.entry(loc.uri).or_default().push(TextEdit::new(loc.range, new_name.clone()));
                }
                Ok::<_, String>(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() })
            })())
        });
        match result.await? {
            Some(Ok(edit)) => Ok(Some(edit)),
            Some(Err(message)) => Err(Error::invalid_params(message)),
            None => Ok(None),
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let p = params.text_document_position;
        let at = p.position;
        self.with_analysis(&p.text_document.uri, "textDocument/completion", move |a, cancel| {
            let completions = ide::completions(&a.checked, a.root, offset(&a.source().text, at));
            cancel.check()?;
            let items = completions
                .into_iter()
                .map(|c| CompletionItem {
                    label: c.label,
                    kind: Some(match c.kind {
                        CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                        CompletionKind::Step => CompletionItemKind::FUNCTION,
                        CompletionKind::Section => CompletionItemKind::MODULE,
                        CompletionKind::Intent => CompletionItemKind::EVENT,
                        CompletionKind::Outcome => CompletionItemKind::ENUM_MEMBER,
                        CompletionKind::Value => CompletionItemKind::VARIABLE,
                        CompletionKind::Filter => CompletionItemKind::FUNCTION,
                        CompletionKind::Flow => CompletionItemKind::FUNCTION,
                        CompletionKind::Handlers => CompletionItemKind::STRUCT,
                        CompletionKind::Action => CompletionItemKind::INTERFACE,
                        CompletionKind::Field => CompletionItemKind::FIELD,
                    }),
                    detail: c.detail,
                    ..CompletionItem::default()
                })
                .collect();
            Ok(CompletionResponse::Array(items))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "ab\n您好x𝄞y\n";
        assert_eq!(position(text, 0), Position::new(0, 0));
        assert_eq!(position(text, 9), Position::new(1, 2)); // after 您好
        assert_eq!(position(text, 14), Position::new(1, 5)); // after 𝄞 (two units)
        for off in [0, 3, 6, 9, 10, 14, 15, 16] {
            assert_eq!(offset(text, position(text, off)), off, "{off}");
        }
        assert_eq!(offset(text, Position::new(9, 0)), text.len() as u32);
    }

    /// Work that would never end unless told: it looks at its flag every millisecond, and says
    /// on `stopped` when it stops.
    fn endless(stopped: std::sync::mpsc::Sender<()>) -> impl FnOnce(&Cancel) -> std::result::Result<(), Stopped> {
        move |cancel| loop {
            if let Err(e) = cancel.check() {
                let _ = stopped.send(());
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime")
    }

    /// Past its deadline a request is answered with RequestFailed naming it, its budget and
    /// the document's size, and its work stops at its next look at the flag.
    #[test]
    fn work_past_its_budget_is_answered_and_stopped() {
        let workers = Arc::new(Semaphore::new(REQUEST_WORKERS));
        let (tx, stopped) = std::sync::mpsc::channel();
        let deadline = Instant::now() + Duration::from_millis(50);
        let answer = runtime().block_on(work(&workers, deadline, "textDocument/hover", 3 << 20, endless(tx)));
        let error = answer.expect_err("out of budget");
        assert_eq!(error.code.code(), -32803);
        assert_eq!(
            error.message,
            "textDocument/hover did not finish within its budget of 2 s on this document (3.0 MiB) and was \
             stopped; the document is kept, so the request can be asked again"
        );
        stopped.recv_timeout(Duration::from_secs(10)).expect("the work stops");
        // Its worker is free again (the permit goes a moment after the work says it stopped).
        let freed = Instant::now() + Duration::from_secs(10);
        while workers.available_permits() < REQUEST_WORKERS {
            assert!(Instant::now() < freed, "the worker is never freed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A request dropped while it waits (what tower-lsp-server does on `$/cancelRequest`)
    /// stops its work; a panic in the work is an internal error, not the server's end.
    #[test]
    fn work_of_a_dropped_request_stops_and_a_panic_is_an_error() {
        let workers = Arc::new(Semaphore::new(REQUEST_WORKERS));
        let (tx, stopped) = std::sync::mpsc::channel();
        let deadline = Instant::now() + Duration::from_secs(3600);
        let rt = runtime();
        rt.block_on(async {
            let request = work(&workers, deadline, "textDocument/definition", 10, endless(tx));
            // Cancelled 20 ms in: the future is dropped.
            let cancelled = tokio::time::timeout(Duration::from_millis(20), request).await;
            assert!(cancelled.is_err());
        });
        stopped.recv_timeout(Duration::from_secs(10)).expect("the work stops");
        let answer =
            rt.block_on(work(&workers, deadline, "textDocument/hover", 10, |_| -> std::result::Result<(), Stopped> {
                panic!("a bug")
            }));
        assert_eq!(answer.expect_err("a bug").code.code(), -32603);
        let answer = rt.block_on(work(&workers, deadline, "textDocument/hover", 10, |_| Ok(7)));
        assert_eq!(answer.expect("answered"), 7);
    }
}
