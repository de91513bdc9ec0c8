//! File IO for the CLI: finding `.call` files and reading imports from disk.

use std::path::{Path, PathBuf};

use callscript_compiler::check::{Loader, join_path};

/// Reads `use "./x.call"` imports relative to the importing file.
pub struct DiskLoader;

impl Loader for DiskLoader {
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String> {
        let name = join_path(importer, path);
        match std::fs::read_to_string(&name) {
            Ok(text) => Ok((name, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("the file does not exist".into()),
            Err(e) => Err(e.to_string()),
        }
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
