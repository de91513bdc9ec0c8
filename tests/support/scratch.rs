//! Scratch folders for the tests: `callscript-<name>-XXXXXX` in the system's temporary folder,
//! removed when the guard is dropped, at the end of the test or when it panics. Keep the guard
//! in a variable as long as its paths are used: `scratch(..).path()` alone removes the folder
//! at the end of the statement.

/// A fresh, empty folder named after `name`, removed with the returned guard.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("callscript-{name}-")).tempdir().expect("scratch folder")
}
