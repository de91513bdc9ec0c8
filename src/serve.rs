//! `callscript serve CAMPAIGN`: the campaign's web console (the runtime's `console`), read-only
//! over its store, until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use callscript_runtime::console::{self, Console};
use callscript_runtime::telephony::recording::RecordingKey;

use crate::error::{CliError, CliResult, Status};

/// The environment variable that gives the console's access token (else one is made).
const TOKEN_ENV: &str = "CALLSCRIPT_SERVE_TOKEN";

pub fn serve(path: &Path, listen: SocketAddr, key_file: Option<&Path>) -> CliResult {
    let loaded = crate::campaign::load_settings(path)?;
    let store = crate::campaign::open_store(&loaded)?;
    let id = loaded.campaign.task_id.clone();
    let (steps, titles) = crate::campaign::script_labels(path, &loaded);
    // Recordings play only with a key: the one given, else the campaign's own.
    let key_path = key_file
        .map(Path::to_path_buf)
        .or_else(|| loaded.campaign.recording.key_file.as_deref().map(|k| loaded.resolve(k)))
        .filter(|p| key_file.is_some() || p.exists());
    let key = match key_path {
        Some(p) => Some(RecordingKey::load(&p).map_err(|e| CliError::Refused(format!("{}: {e}", p.display())))?),
        None => None,
    };
    let token = match std::env::var(TOKEN_ENV) {
        Ok(t) if t.len() >= 16 => t,
        Ok(_) => return Err(CliError::Usage(format!("{TOKEN_ENV} must be at least 16 characters"))),
        Err(_) => console::new_token().map_err(|e| CliError::Refused(format!("cannot make an access token: {e}")))?,
    };
    let lines = u64::from(loaded.campaign.schedule.max_concurrent);
    let playable = key.is_some();
    let console = Arc::new(Console::new(&id, store, steps, lines, key, token.clone()).with_titles(titles));
    let stop = async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
    };
    console::serve(listen, console, stop, |addr| {
        // A closed standard error (a service's) must not end the console.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "serving campaign {id} on http://{addr}/ (wallboard and report)");
        let what = if playable { "calls, transcripts and recordings" } else { "calls and transcripts" };
        let _ = writeln!(err, "{what}: http://{addr}/calls?token={token}");
    })
    .map_err(|e| CliError::Refused(e.to_string()))?;
    Ok(Status::Success)
}
