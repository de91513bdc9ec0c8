//! Whatever a gateway sends on our SIP socket, fed to our stack (`sip::stack`) while it has a
//! call ringing: `stack::exchange` (up to eight datagrams, NUL between them, a second of virtual
//! time after each, then the end of every timer). Never a panic, and everything the stack sends
//! in return is a message rsip reads. The seeds (`fuzz_seeds`) answer the target's own INVITE:
//! the stack's ids follow from a fixed seed, so responses reach the transaction and the dialog.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    callscript_runtime::telephony::sip::stack::exchange(data);
});
