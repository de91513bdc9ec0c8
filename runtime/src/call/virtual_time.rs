//! Pumps a [`CallDriver`] in virtual time against a customer who answers each listen: the
//! simulator's personas, `callscript test`'s scripted replies and `callscript simulate`'s typed
//! ones. Time advances with what is said (LANGUAGE.md §9.7's rate): a prompt takes
//! [`speak_ms`], a customer starts talking [`REACTION_MS`] after the listen opens and takes
//! [`speak_ms`] of their words, keys take [`KEYS_MS`], and silence lasts until the listen's
//! timeout. Transfers succeed at once.

use callscript_compiler::bytecode::{AskId, Emotion};
use callscript_compiler::value::Value;

use super::{CallDriver, Command, Input};
use crate::vm::ActionInput;

/// How long an action takes to answer in virtual time (§13).
pub const ACTION_MS: u64 = 300;

/// How long a simulated customer takes to start answering.
pub const REACTION_MS: u64 = 1_000;

/// How long a simulated customer takes to enter keys.
pub const KEYS_MS: u64 = 1_500;

/// Spoken milliseconds of a text at the pack's rate of 4 characters per second (LANGUAGE.md §9.7).
pub fn speak_ms(text: &str) -> u64 {
    // No character past U+3000 is white space: Chinese text skips Unicode's table.
    let silent = |c: char| c.is_ascii_punctuation() || (c <= '\u{3000}' && c.is_whitespace());
    (text.chars().filter(|&c| !silent(c)).count() as u64 * 250).max(500)
}

/// What the customer does when the call listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Turn {
    Say { text: String, emotion: Option<Emotion> },
    Keys(String),
    Silence,
    HangUp,
}

/// Someone on the other end of a virtual call.
pub trait Customer {
    /// The call listens for an answer to `ask`; `call` shows everything so far.
    fn answer(&mut self, call: &CallDriver, ask: AskId, timeout_ms: u64) -> Turn;

    /// The script calls `action` (§13): its outputs, or why it failed. Without an answer of
    /// its own a virtual call's actions fail.
    fn action(
        &mut self,
        _call: &CallDriver,
        action: &str,
        _inputs: &[ActionInput],
    ) -> Result<Vec<(String, Value)>, String> {
        Err(format!("nothing answers the action `{action}` here"))
    }
}

/// Runs the call to its end (the driver is over afterwards).
pub fn converse(driver: &mut CallDriver, customer: &mut dyn Customer) {
    // What the customer will do, in the order it was decided; same-time inputs keep that order.
    let mut coming: Vec<(u64, Input)> = Vec::new();
    let mut playing: Option<u64> = None;
    driver.start(0);
    loop {
        while let Some(command) = driver.poll_command() {
            let now = driver.now();
            match command {
                Command::Play { text, .. } => playing = Some(now + speak_ms(&text)),
                Command::StopPlaying => playing = None,
                Command::Listen { ask, timeout_ms } => match customer.answer(driver, ask, timeout_ms) {
                    Turn::Say { text, emotion } => {
                        let started = now + REACTION_MS;
                        coming.push((started, Input::SpeechStarted));
                        coming
                            .push((started + speak_ms(&text), Input::Heard { text, emotion: emotion.map(Into::into) }));
                    }
                    Turn::Keys(keys) => coming.push((now + KEYS_MS, Input::Keys(keys))),
                    Turn::Silence => {}
                    Turn::HangUp => coming.push((now, Input::CustomerHangup)),
                },
                Command::Transfer { .. } => coming.push((now, Input::TransferResult(Ok(())))),
                Command::CallAction { action, inputs, .. } => {
                    let result = customer.action(driver, &action, &inputs);
                    coming.push((now + ACTION_MS, Input::ActionResult(result)));
                }
                Command::Sms { .. } | Command::Hangup => {}
            }
        }
        if driver.is_over() {
            return;
        }
        let first = coming.iter().enumerate().min_by_key(|(i, (at, _))| (*at, *i)).map(|(i, (at, _))| (i, *at));
        let customer_at = first.map(|(_, at)| at);
        // At equal times a prompt ends first, then the customer acts, then timers fire.
        let next = [playing, customer_at, driver.next_timer()].into_iter().flatten().min();
        let Some(now) = next else {
            // Nothing can happen any more: the customer is gone.
            driver.handle(driver.now(), Input::CustomerHangup);
            continue;
        };
        if playing == Some(now) {
            playing = None;
            driver.handle(now, Input::PromptFinished);
        } else if customer_at == Some(now) {
            if let Some((index, _)) = first {
                let (_, input) = coming.remove(index);
                driver.handle(now, input);
            }
        } else {
            driver.handle(now, Input::Tick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `speak_ms`'s shortcut: Unicode has no white space past U+3000.
    #[test]
    fn no_white_space_past_u3000() {
        assert!(('\u{3001}'..=char::MAX).all(|c| !c.is_whitespace()));
        assert_eq!(speak_ms("您好，这里是 星海银行。"), 11 * 250);
        assert_eq!(speak_ms("\u{3000}ok!"), 500);
    }
}
