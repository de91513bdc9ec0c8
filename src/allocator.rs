//! The binary's allocator ([`Mimalloc`], installed in `src/main.rs`) and its settings that
//! depend on the command.
//!
//! mimalloc returns freed memory to the kernel ("purges" it) a while after it is freed (1 s
//! by default); the next allocation then takes fresh pages, which the kernel zeroes again. A
//! one-shot command (`check`, `fmt`, `segment`, `report`, …) frees and reallocates hundreds of
//! MB between its phases on a large script and exits soon after, so it keeps what it freed:
//! `check` of 2M lines spent 0.15 s in the kernel instead of 0.96 s, and a slow run of the
//! 540k-line script a third less wall time at the same user CPU (docs/architecture.md,
//! "Measured: check"). The long-running commands (`run`, `worker`, `serve`, `lsp`) keep the
//! default, so their footprint shrinks again after a peak.

/// mimalloc as the global allocator, asked for a plain block when the alignment wanted is a
/// word's or less: every mimalloc block is word-aligned (its size classes are whole words).
/// `mimalloc::MiMalloc` asks for an aligned block every time; that path costs more per call,
/// and when a size class's page is full it over-allocates (`size + align - 1`) instead of
/// taking a fresh page: 574,687 times in a check of 540k lines, whose allocations (7.3 million)
/// cost 57 instructions each.
pub struct Mimalloc;

/// The largest alignment every mimalloc block has.
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each call hands mimalloc a layout it serves: a plain block (word-aligned, at least
// `size` bytes) for an alignment of at most a word, an aligned one otherwise; `mi_free` frees
// both, and `mi_realloc` keeps a plain block plain.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                libmimalloc_sys::mi_malloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                libmimalloc_sys::mi_zalloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator, that is from mimalloc.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl; `ptr` came from this allocator with `layout`'s alignment.
        unsafe {
            if layout.align() <= WORD {
                libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

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
    use std::alloc::{GlobalAlloc, Layout};

    #[test]
    fn blocks_have_the_alignment_asked_for_and_keep_it_when_grown() {
        let mimalloc = super::Mimalloc;
        for align in [1, 2, 4, 8, 16, 64, 4096] {
            // Sizes that are not whole words, and past the small and medium size classes.
            for size in [1, 3, 8, 24, 40, 1000, 1500, 70_000, 3_000_000] {
                let layout = Layout::from_size_align(size.max(align), align).expect("layout");
                // SAFETY: a layout of nonzero size; each block is freed once, with its layout.
                unsafe {
                    for block in [mimalloc.alloc(layout), mimalloc.alloc_zeroed(layout)] {
                        assert!(!block.is_null() && (block as usize).is_multiple_of(align), "{layout:?}");
                        block.write(7);
                        let grown = mimalloc.realloc(block, layout, layout.size() * 3);
                        assert!(!grown.is_null() && (grown as usize).is_multiple_of(align), "{layout:?} grown");
                        assert_eq!(grown.read(), 7);
                        mimalloc.dealloc(grown, Layout::from_size_align(layout.size() * 3, align).expect("layout"));
                    }
                }
            }
        }
    }

    #[test]
    fn the_purge_delay_index_belongs_to_the_linked_mimalloc() {
        // Fails when libmimalloc-sys brings another mimalloc: read `mi_option_t` in its
        // `mimalloc.h` again, then update `PURGE_DELAY` and `VERSION`.
        assert!(super::keep_freed_memory());
        // SAFETY: as in `keep_freed_memory`.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) }, -1);
    }
}
