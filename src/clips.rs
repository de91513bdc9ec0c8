//! `callscript clips check CAMPAIGN`: which prompt parts of a campaign's script its recorded
//! clips cannot voice (TTS speaks those on a call).

use std::io::Write;
use std::path::Path;

use callscript_compiler::bytecode::PromptSegment;
use callscript_runtime::campaign::InputError;
use callscript_runtime::telephony::speech::{Speaker, SpeechError, clips};

use crate::error::{CliError, CliResult, Status};

/// Exit 0 when the clips voice every prompt part, 1 when something is missing (or a clip
/// is broken), 2 when the campaign cannot be read.
pub fn check(path: &Path) -> CliResult {
    let loaded = crate::campaign::load_settings(path)?;
    if loaded.campaign.speech.clips.is_none() {
        return Err(CliError::Usage(format!(
            "{}: the campaign names no clips manifest; add clips = \"clips/manifest.toml\" under [speech]",
            crate::files::display_name(path)
        )));
    }
    let (_, scripts) = crate::campaign::checked_campaign(path, None)?;
    // A broken manifest is what this command checks: a failure (exit 1), not "could not run".
    let clip_set = Speaker::load_clips(&loaded).map_err(|e| match e {
        SpeechError::Input(errors) => {
            CliError::Broken { errors, consequence: "the clips cannot be checked until the manifest is fixed" }
        }
        other => CliError::Broken {
            errors: vec![InputError::new(crate::files::display_name(path), other.to_string())],
            consequence: "the clips cannot be checked",
        },
    })?;
    // Each script of the campaign (two or more in an A/B campaign), one summary line each.
    let mut any_gap = false;
    for (program, name) in &scripts {
        let script = program.script(name).ok_or_else(|| CliError::Refused(format!("there is no script `{name}`")))?;
        let gaps = clips::gaps(&clip_set, script, &program.files);
        let (mut written, mut values) = (0, 0);
        for prompt in script.spoken_prompts() {
            for segment in &prompt.segments {
                match segment {
                    PromptSegment::Text(t) if !t.chars().all(clips::is_pause) => written += 1,
                    PromptSegment::Text(_) => {}
                    PromptSegment::Value { .. } => values += 1,
                }
            }
        }
        let missing_text = gaps.iter().filter(|g| matches!(g.kind, clips::GapKind::Text(_))).count();
        let by_tts = gaps.len() - missing_text;
        let mut out = std::io::stdout().lock();
        for gap in &gaps {
            let _ = writeln!(out, "{gap}");
        }
        let _ = writeln!(
            out,
            "script {name}: {} of {written} written parts have clips; {} of {values} values are read from clips",
            written - missing_text,
            values - by_tts
        );
        if !gaps.is_empty() {
            let _ = writeln!(out, "{} parts need TTS (tts = \"clips\" speaks them with espeak-ng)", gaps.len());
        }
        any_gap |= !gaps.is_empty();
    }
    Ok(Status::failures_if(any_gap))
}
