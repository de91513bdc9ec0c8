//! docs/architecture.md's code map names every module: a new file without an entry fails here,
//! so the map stays true as the code grows.

use std::path::{Path, PathBuf};

/// The map's section for one crate: from its `### ` heading to the next.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc.find(heading).unwrap_or_else(|| panic!("docs/architecture.md has no `{heading}` section"));
    let rest = &doc[start + heading.len()..];
    &rest[..rest.find("\n### ").unwrap_or(rest.len())]
}

/// The section's entries: each `- ` bullet with its continuation lines.
fn entries(map: &str) -> impl Iterator<Item = &str> {
    map.split("\n- ").skip(1)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Modules of `src` (relative paths) that the section does not name. A file is named by its
/// path (`check/scope.rs`), or by its name inside an entry for its folder (`telephony/sip/` … `ua.rs`);
/// a folder's `mod.rs` by the folder.
fn unmapped(src: &str, map: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let named = |text: &str| map.contains(&format!("`{text}`"));
    let mut missing = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if relative == "lib.rs" || relative == "main.rs" {
            continue;
        }
        let (folder, name) = match relative.rsplit_once('/') {
            Some((folder, name)) => (Some(format!("{folder}/")), name.to_string()),
            None => (None, relative.clone()),
        };
        let ok = match &folder {
            None => named(&relative),
            Some(folder) if name == "mod.rs" => named(folder) || named(&relative),
            // The file's name must stand in the folder's own entry, not anywhere in the section.
            Some(folder) => {
                named(&relative)
                    || entries(map).any(|entry| {
                        let has = |text: &str| entry.contains(&format!("`{text}`"));
                        has(folder) && has(&name)
                    })
            }
        };
        if !ok {
            missing.push(format!("{src}/{relative}"));
        }
    }
    missing
}

#[test]
fn every_module_has_a_code_map_entry() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md")).unwrap();
    let mut missing = unmapped("src", section(&doc, "### `Cargo.toml`, `src/`"));
    missing.extend(unmapped("compiler/src", section(&doc, "### `compiler/`")));
    missing.extend(unmapped("runtime/src", section(&doc, "### `runtime/`")));
    assert!(missing.is_empty(), "modules without an entry in docs/architecture.md's code map:\n{}", missing.join("\n"));
}
