//! `callscript clips check`: the prompt parts a campaign's recorded clips cannot voice.

use std::path::{Path, PathBuf};
use std::process::Output;

mod support;
use support::{callscript, scratch};
use tempfile::TempDir;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What CS009 asks of every campaign.
const SCHEDULE: &str = "[schedule]\nstart_time = \"09:00\"\nend_time = \"18:00\"\ntimezone = \"Asia/Shanghai\"\n[retry]\nmax_attempts = 3\n[limits]\nper_customer_per_day = 1\nper_customer_per_7_days = 3\n";

/// A campaign of `tests/cases/ok/minimal.call` with the given clips manifest, in a fresh folder.
fn minimal_campaign(name: &str, manifest: &str) -> (TempDir, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = scratch(&format!("clips-{name}"));
    let dir = tmp.path();
    let script = root.join("tests/cases/ok/minimal.call");
    let campaign = format!(
        "task_id = \"t\"\nscript = {:?}\n{SCHEDULE}[transfer]\nsenior = \"sip:1@127.0.0.1\"\n[speech]\ntts = \"clips\"\nclips = \"manifest.toml\"\n",
        script.display().to_string()
    );
    std::fs::write(dir.join("campaign.toml"), campaign).expect("campaign");
    let clip = root.join("examples/loan_reminder/clips/words/0.wav").display().to_string();
    std::fs::write(dir.join("manifest.toml"), manifest.replace("CLIP", &clip)).expect("manifest");
    let campaign = dir.join("campaign.toml");
    (tmp, campaign)
}

#[test]
fn the_example_lists_what_has_no_clip() {
    let out = callscript(&["clips", "check", "examples/loan_reminder/campaign.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn complete_clips_pass() {
    // Full-width and ASCII punctuation match each other; "再见" alone covers "再见。".
    let (_dir, campaign) = minimal_campaign(
        "complete",
        "[clips]\n\"您好, 本次通话将被录音。\" = \"CLIP\"\n\"请问您是本人吗?\" = \"CLIP\"\n\"再见\" = \"CLIP\"\n",
    );
    let out = callscript(&["clips", "check", campaign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "script demo: 3 of 3 written parts have clips; 0 of 0 values are read from clips\n");
}

#[test]
fn broken_clips_name_the_manifest_line() {
    let (_dir, campaign) = minimal_campaign("broken", "[clips]\n\"您好\" = \"CLIP\"\n\"再见\" = \"nothing.wav\"\n");
    let out = callscript(&["clips", "check", campaign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("manifest.toml:3:8: cannot read clip `nothing.wav`"), "{err}");
}

#[test]
fn a_campaign_without_a_manifest_cannot_be_checked() {
    let out = callscript(&["clips", "check", "examples/card_activation/campaign.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the campaign names no clips manifest"), "{}", stderr(&out));
}
