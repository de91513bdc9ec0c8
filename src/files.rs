//! File IO for the CLI: finding `.call` files and reading sources and imports from disk.

use std::io::Read;
use std::path::{Path, PathBuf};

use callscript_compiler::check::{Loader, join_path};

/// The largest source file read (a `.call` file, an import, a campaign): 64 MiB. Anything
/// bigger is refused before it is read, so `use "/dev/zero"` cannot eat the memory.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Why a source file could not be read: displayed as `file: reason`, or for bad UTF-8
/// `file:line:column: reason` (the first bad byte).
#[derive(Debug, thiserror::Error)]
#[error("{name}{position}: {kind}", position = .kind.position())]
pub struct ReadError {
    pub name: String,
    pub kind: ReadErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    #[error("the file does not exist")]
    NotFound,
    #[error("not a regular file (a folder, device or pipe cannot be read as source)")]
    NotRegular,
    /// `what` is [`FILE`] or [`STDIN`]: what the message calls the input.
    #[error("{what} is larger than {} MiB", MAX_SOURCE_BYTES >> 20)]
    TooLarge { what: &'static str },
    #[error("{what} is not valid UTF-8 (byte 0x{byte:02x})")]
    NotUtf8 { what: &'static str, line: usize, column: usize, byte: u8 },
    #[error(transparent)]
    Io(std::io::Error),
}

impl ReadErrorKind {
    /// `:line:column` of the first bad byte, for the `file:line:column` prefix.
    fn position(&self) -> String {
        match self {
            ReadErrorKind::NotUtf8 { line, column, .. } => format!(":{line}:{column}"),
            _ => String::new(),
        }
    }
}

/// Reads a source file: only a regular file, at most [`MAX_SOURCE_BYTES`], valid UTF-8 (else
/// the line and column of the first bad byte). The checks are made on the opened file, so a
/// FIFO is refused without blocking and a file that grows while read stops at the limit.
pub fn read_source(path: &Path) -> Result<String, ReadError> {
    let fail = |kind| ReadError { name: display_name(path), kind };
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => fail(ReadErrorKind::NotFound),
        _ => fail(ReadErrorKind::Io(e)),
    };
    // A FIFO blocks in `open` until a writer comes: look before opening, and again after
    // (the path may have changed in between).
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(fail(ReadErrorKind::NotRegular));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(fail(ReadErrorKind::NotRegular));
    }
    read_text(file, FILE).map_err(|kind| match kind {
        ReadErrorKind::Io(e) => io(e),
        kind => fail(kind),
    })
}

/// What a message calls a file that is read as source.
pub const FILE: &str = "the file";
/// What a message calls standard input read as source (`callscript fmt -`).
pub const STDIN: &str = "standard input";
/// The name standard input goes by in messages and diagnostics.
pub const STDIN_NAME: &str = "<stdin>";

/// Reads standard input as source text with [`read_source`]'s limits (at most
/// [`MAX_SOURCE_BYTES`], valid UTF-8, else the line and column of the first bad byte); errors
/// are named [`STDIN_NAME`].
pub fn read_stdin() -> Result<String, ReadError> {
    read_text(std::io::stdin().lock(), STDIN).map_err(|kind| ReadError { name: STDIN_NAME.into(), kind })
}

/// The checks every source text passes, whatever it is read from: at most
/// [`MAX_SOURCE_BYTES`] (one byte more is read to tell, never the rest), and valid UTF-8, else
/// the line and character column of the first bad byte. `what` names the input in messages.
fn read_text(input: impl Read, what: &'static str) -> Result<String, ReadErrorKind> {
    let mut bytes = Vec::new();
    input.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes).map_err(ReadErrorKind::Io)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(ReadErrorKind::TooLarge { what });
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        // The prefix up to `at` is valid, so lines and character columns can be counted on it.
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
        ReadErrorKind::NotUtf8 {
            what,
            line: valid.matches('\n').count() + 1,
            column: valid[line_start..].chars().count() + 1,
            byte: bytes[at],
        }
    })
}

/// Reads `use "./x.call"` imports relative to the importing file, with [`read_source`]'s rules.
pub struct DiskLoader;

impl Loader for DiskLoader {
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String> {
        let name = join_path(importer, path);
        read_source(Path::new(&name)).map(|text| (name, text)).map_err(|e| import_reason(&e.kind))
    }
}

/// Why an import could not be read, for E106 (which names the file already).
pub fn import_reason(kind: &ReadErrorKind) -> String {
    match kind {
        ReadErrorKind::NotUtf8 { line, column, .. } => format!("{kind} at line {line}, column {column}"),
        _ => kind.to_string(),
    }
}

/// Expands the given paths: files as they are, folders into every `.call` file below them
/// (sorted, so output is stable). A path that does not exist is an error.
pub fn collect(paths: &[PathBuf], extension: &str) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, extension, &mut out).map_err(|e| format!("{}: {e}", path.display()))?;
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        if entry.is_dir() {
            walk(&entry, extension, out)?;
        } else if entry.extension().and_then(|e| e.to_str()) == Some(extension) {
            out.push(entry);
        }
    }
    Ok(())
}

/// A path as shown in diagnostics: relative paths stay as the user wrote them.
pub fn display_name(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}
