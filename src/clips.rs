//! `callscript clips check CAMPAIGN`: which prompt parts of a campaign's script its recorded
//! clips cannot voice (TTS speaks those on a call).

use std::io::Write;
use std::path::Path;

use callscript_compiler::bytecode::PromptSegment;
use callscript_runtime::speech::{Speaker, SpeechError, clips};

/// Exit 0 when the clips voice every prompt part, 1 when something is missing (or a clip
/// is broken), 2 when the campaign cannot be read.
pub fn check(path: &Path) -> i32 {
    let loaded = match crate::campaign::load_settings(path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if loaded.campaign.speech.clips.is_none() {
        eprintln!(
            "error: {}: the campaign names no clips manifest; add clips = \"clips/manifest.toml\" under [speech]",
            crate::files::display_name(path)
        );
        return 2;
    }
    let (_, program, name) = match crate::campaign::checked_campaign(path, None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let Some(script) = program.script(&name) else { return 2 };
    let clip_set = match Speaker::load_clips(&loaded) {
        Ok(set) => set,
        Err(SpeechError::Input(errors)) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("the clips cannot be checked until the manifest is fixed");
            return 1;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let gaps = clips::gaps(&clip_set, script, &program.files);
    let (mut written, mut values) = (0, 0);
    for prompt in &script.prompts {
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
    if gaps.is_empty() {
        0
    } else {
        let _ = writeln!(out, "{} parts need TTS (tts = \"clips\" speaks them with espeak-ng)", gaps.len());
        1
    }
}
