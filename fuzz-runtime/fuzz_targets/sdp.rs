//! SDP answers (and 183 early-media SDP) as a gateway may send them: `sip::sdp::answer`
//! returns the negotiated stream or an error, never panics, and what it accepts is G.711.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = callscript_runtime::telephony::sip::sdp::answer(data) {
        assert!(n.payload_type == 0 || n.payload_type == 8, "{n:?}");
        assert_ne!(n.remote.port(), 0, "{n:?}");
    }
});
