//! Settings of the binary's allocator (mimalloc, `src/main.rs`) that depend on the command.
//!
//! mimalloc returns freed memory to the kernel ("purges" it) a while after it is freed (1 s
//! by default); the next allocation then takes fresh pages, which the kernel zeroes again. A
//! one-shot command (`check`, `fmt`, `segment`, `report`, …) frees and reallocates hundreds of
//! MB between its phases on a large script and exits soon after, so it keeps what it freed:
//! `check` of 2M lines spent 0.15 s in the kernel instead of 0.96 s, and a slow run of the
//! 540k-line script a third less wall time at the same user CPU (docs/architecture.md,
//! "Measured: check"). The long-running commands (`run`, `worker`, `serve`, `lsp`) keep the
//! default, so their footprint shrinks again after a peak.

/// mimalloc's `mi_option_purge_delay`, by its index in `mi_option_t`: libmimalloc-sys names
/// no constant for it. The index is that of the enum in the mimalloc sources the crate vendors
/// (`c_src/mimalloc/v3/include/mimalloc.h`), checked for that version only ([`VERSION`]).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The mimalloc release (`major * 100 + minor`) whose `mi_option_t` [`PURGE_DELAY`] was read
/// from. Another release leaves the option alone (a test fails, to have the index checked).
const VERSION: i32 = 303;

/// Never purge freed memory, for the rest of the process: for commands that exit once done.
/// Returns whether the option was set (false under another mimalloc release).
pub fn keep_freed_memory() -> bool {
    // SAFETY: plain C calls without pointers; `mi_option_set` only stores the value, which
    // mimalloc reads when it considers a purge (-1: never).
    unsafe {
        if libmimalloc_sys::mi_version() / 100 != VERSION {
            return false;
        }
        libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_index_belongs_to_the_linked_mimalloc() {
        // Fails when libmimalloc-sys brings another mimalloc: read `mi_option_t` in its
        // `mimalloc.h` again, then update `PURGE_DELAY` and `VERSION`.
        assert!(super::keep_freed_memory());
        // SAFETY: as in `keep_freed_memory`.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) }, -1);
    }
}
