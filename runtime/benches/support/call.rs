//! One simulated call for the VM benchmarks: the session answers `replies` in order, one a
//! turn, and the call ends when they run out or the script ends it. Actions fail.

use std::sync::Arc;

use callscript_compiler::value::Value;
use callscript_runtime::vm::{Action, CallContext, Event, Executable, Session};

/// Runs `script` with `inputs` against `replies`; returns the number of turns taken.
pub fn call(exec: &Arc<Executable>, script: &str, inputs: Vec<(String, Value)>, replies: &[&str]) -> usize {
    let mut session = Session::start(Arc::clone(exec), script, inputs, CallContext::default()).unwrap();
    let mut replies = replies.iter();
    let mut turns = 0;
    let mut event = Event::Done;
    loop {
        match session.step(std::mem::replace(&mut event, Event::Done)) {
            Action::Listen { .. } => match replies.next() {
                Some(r) => {
                    turns += 1;
                    event = Event::Utterance { text: (*r).into(), emotion: None };
                }
                None => return turns,
            },
            // No bank system here: the script takes its action's `failed` branch.
            Action::CallAction { .. } => event = Event::ActionResult(Err("no system in the bench".into())),
            a if a.is_final() => return turns,
            _ => {}
        }
    }
}
