//! `callscript lsp`: a Language Server over standard input and output (tower-lsp-server).
//!
//! Documents live in memory; every open or change re-checks the document with
//! [`check::check`] and a loader that prefers open documents over the disk for `use "…"`, and
//! publishes its diagnostics (code, severity, related places: secondary labels and a compliance
//! finding's witness path). Hover, definition, references, rename, completion and the outline
//! come from `callscript_compiler::ide`; formatting from `callscript_compiler::format`. This
//! module only translates: byte offsets to LSP positions (UTF-16 code units, the protocol's
//! default), file names to URIs, compiler data to protocol types.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use callscript_compiler::check::{self, Checked, Loader, join_path};
use callscript_compiler::diagnostic::Severity;
use callscript_compiler::format;
use callscript_compiler::ide::{self, CompletionKind, SymbolKind as IdeSymbol};
use callscript_compiler::source::Source;
use callscript_compiler::span::{SourceId, Span};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

/// Runs the server until the client says `exit` or its input ends; returns the exit code: 0
/// after `shutdown` and `exit`, 1 when the input ends or `exit` comes without `shutdown` (the
/// protocol's rule), 2 when a message is malformed (the error names it on standard error; the
/// messages before it are answered) or the server cannot start.
pub fn run() -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
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
        let (service, socket) =
            LspService::new(|client| Backend { client, docs: Mutex::new(Documents::default()), shut_down: flag });
        let serve = Server::new(server_input, tokio::io::stdout(), socket).serve(service);
        let (malformed, ()) = tokio::join!(forward, serve);
        malformed
    });
    match malformed {
        Some(e) => {
            crate::say_err!("error: callscript lsp: {e}; the server stops");
            2
        }
        None if shut_down.load(Ordering::SeqCst) => 0,
        None => 1,
    }
}

/// The open documents, by the file name the compiler sees (the path of a `file:` URI).
#[derive(Default)]
pub struct Documents {
    texts: HashMap<String, String>,
    uris: HashMap<String, Uri>,
    /// The last check of each open document, for the requests that follow a change.
    checked: HashMap<String, Checked>,
}

impl Documents {
    pub fn open(&mut self, name: String, uri: Option<Uri>, text: String) {
        if let Some(uri) = uri {
            self.uris.insert(name.clone(), uri);
        }
        self.texts.insert(name, text);
        // Any document may import this one.
        self.checked.clear();
    }

    pub fn close(&mut self, name: &str) {
        self.texts.remove(name);
        self.checked.clear();
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.texts.get(name).map(String::as_str)
    }

    /// Checks one open document, its imports read from open documents first, then the disk.
    pub fn check(&self, name: &str) -> Option<Checked> {
        let text = self.texts.get(name)?;
        let mut loader = OpenFirst { docs: &self.texts };
        Some(check::check(vec![Source::new(name, text.clone())], &mut loader))
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
    docs: &'a HashMap<String, String>,
}

impl Loader for OpenFirst<'_> {
    fn load(&mut self, importer: &str, path: &str) -> std::result::Result<(String, String), String> {
        let name = join_path(importer, path);
        if let Some(text) = self.docs.get(&name) {
            return Ok((name, text.clone()));
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

/// Runs `f`, turning a panic (a compiler bug met while the author types) into None, so that one
/// bad document cannot take the editor's server down. The panic message still goes to stderr.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

struct Backend {
    client: Client,
    docs: Mutex<Documents>,
    /// Set by `shutdown`: the exit code is 0 only after it.
    shut_down: Arc<AtomicBool>,
}

impl Backend {
    fn docs(&self) -> std::sync::MutexGuard<'_, Documents> {
        self.docs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Re-checks a document, and the other open documents that import it.
    async fn publish(&self, changed: &Uri) {
        let mut batches = Vec::new();
        {
            let mut docs = self.docs();
            let changed_name = name_of(changed);
            let mut names: Vec<String> = docs.texts.keys().cloned().collect();
            names.sort_by_key(|n| *n != changed_name);
            for name in names {
                let may_import = docs.texts.get(&name).is_some_and(|t| t.contains("use \""));
                if name != changed_name && !may_import {
                    continue;
                }
                let Some(Some(checked)) = guarded(|| docs.check(&name)) else { continue };
                if name != changed_name && checked.sources.find(&changed_name).is_none() {
                    continue;
                }
                let Some(uri) = docs.uri(&name) else { continue };
                let root = checked.files.iter().find(|f| f.is_root).map_or(SourceId(0), |f| f.id);
                let Some(diags) = guarded(|| diagnostics(&docs, &checked, root)) else { continue };
                batches.push((uri, diags));
                docs.checked.insert(name, checked);
            }
        }
        for (uri, diags) in batches {
            self.client.publish_diagnostics(uri, diags, None).await;
        }
    }

    /// Runs `f` on the checked document and its text: None when the document is not open, an
    /// error when checking it or `f` panicked (a compiler bug; the server keeps running).
    fn with_checked<T>(
        &self,
        uri: &Uri,
        f: impl FnOnce(&Documents, &Checked, SourceId, &str) -> T,
    ) -> Result<Option<T>> {
        let mut docs = self.docs();
        let name = name_of(uri);
        if !docs.checked.contains_key(&name) {
            let Some(checked) = guarded(|| docs.check(&name)).ok_or_else(bug)? else { return Ok(None) };
            docs.checked.insert(name.clone(), checked);
        }
        let Some(checked) = docs.checked.get(&name) else { return Ok(None) };
        let Some(root) = checked.files.iter().find(|f| f.is_root).map(|f| f.id) else { return Ok(None) };
        let text = checked.sources.get(root).text.clone();
        guarded(|| f(&docs, checked, root, &text)).map(Some).ok_or_else(bug)
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
        self.docs().open(name_of(&doc.uri), Some(doc.uri.clone()), doc.text);
        self.publish(&doc.uri).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        {
            let mut docs = self.docs();
            let name = name_of(&uri);
            let mut text = docs.text(&name).unwrap_or_default().to_string();
            for change in params.content_changes {
                match change.range {
                    Some(r) => {
                        let (start, end) = (offset(&text, r.start) as usize, offset(&text, r.end) as usize);
                        text.replace_range(start..end.max(start), &change.text);
                    }
                    None => text = change.text,
                }
            }
            docs.open(name, Some(uri.clone()), text);
        }
        self.publish(&uri).await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.docs().close(&name_of(&uri));
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        Ok(self
            .with_checked(&p.text_document.uri, |_, checked, root, text| {
                let index = ide::index(checked, root);
                let found = index.at(offset(text, p.position))?;
                Some(Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: found.hover.clone(),
                    }),
                    range: Some(range(text, found.span)),
                })
            })?
            .flatten())
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let p = params.text_document_position_params;
        Ok(self
            .with_checked(&p.text_document.uri, |docs, checked, root, text| {
                let def = ide::index(checked, root).definition(offset(text, p.position))?;
                location(docs, checked, def).map(GotoDefinitionResponse::Scalar)
            })?
            .flatten())
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let p = params.text_document_position;
        let with_definition = params.context.include_declaration;
        self.with_checked(&p.text_document.uri, |docs, checked, root, text| {
            ide::index(checked, root)
                .references(offset(text, p.position), with_definition)
                .into_iter()
                .filter_map(|at| location(docs, checked, at))
                .collect()
        })
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        let docs = self.docs();
        let Some(text) = docs.text(&name_of(&params.text_document.uri)) else { return Ok(None) };
        let symbols = guarded(|| {
            let (file, _) = callscript_compiler::syntax::parse(text, SourceId(0));
            let source = Source::new("", text);
            ide::symbols(&file).iter().map(|s| document_symbol(&source, s)).collect::<Vec<_>>()
        });
        match symbols {
            Some(symbols) => Ok(Some(DocumentSymbolResponse::Nested(symbols))),
            None => Err(bug()),
        }
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let docs = self.docs();
        let Some(text) = docs.text(&name_of(&params.text_document.uri)) else { return Ok(None) };
        match guarded(|| format::format(text)).ok_or_else(bug)? {
            Ok(out) if out == text => Ok(Some(Vec::new())),
            Ok(out) => Ok(Some(vec![TextEdit::new(range(text, Span::new(0, text.len())), out)])),
            // The syntax errors are already shown as diagnostics: change nothing.
            Err(_) => Ok(None),
        }
    }

    async fn prepare_rename(&self, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        let result = self.with_checked(&params.text_document.uri, |_, checked, root, text| {
            let index = ide::index(checked, root);
            let at = offset(text, params.position);
            let found = index.at(at).ok_or("there is no name here")?;
            index.rename(checked, at, &found.name)?;
            Ok::<_, String>(PrepareRenameResponse::Range(range(text, found.span)))
        });
        match result? {
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(message)) => Err(Error::invalid_params(message)),
            None => Ok(None),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let p = params.text_document_position;
        let result = self.with_checked(&p.text_document.uri, |docs, checked, root, text| {
            let places = ide::index(checked, root).rename(checked, offset(text, p.position), &params.new_name)?;
            let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
            for at in places {
                let loc = location(docs, checked, at).ok_or("a place to rename has no file")?;
                changes.entry(loc.uri).or_default().push(TextEdit::new(loc.range, params.new_name.clone()));
            }
            Ok::<_, String>(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() })
        });
        match result? {
            Some(Ok(edit)) => Ok(Some(edit)),
            Some(Err(message)) => Err(Error::invalid_params(message)),
            None => Ok(None),
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let p = params.text_document_position;
        self.with_checked(&p.text_document.uri, |_, checked, root, text| {
            let items = ide::completions(checked, root, offset(text, p.position))
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
                    }),
                    detail: c.detail,
                    ..CompletionItem::default()
                })
                .collect();
            CompletionResponse::Array(items)
        })
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
}
