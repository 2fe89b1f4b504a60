//! Allocation counting: a global allocator that counts allocations while asked to.
//!
//! Only the comparison binary (and the smoke test) install it, with `#[global_allocator]`; the
//! criterion benchmarks run on the system allocator untouched. Even where it is installed it
//! counts only inside [`counting`]: otherwise each allocation pays one relaxed load of a flag,
//! so the timing rows are not skewed by the counting rows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The system allocator, counting allocations (`alloc`, `alloc_zeroed` and `realloc`, on every
/// thread) while [`counting`] runs.
pub struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn tally() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; counting touches only two atomics and
// never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tally();
        // SAFETY: the caller's guarantees for `alloc` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        tally();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System`, through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        tally();
        // SAFETY: as for `dealloc`, with the caller's guarantees for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations counted so far; it moves only inside [`counting`].
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Runs `f` with counting on.
pub fn counting<T>(f: impl FnOnce() -> T) -> T {
    COUNTING.store(true, Ordering::SeqCst);
    let out = f();
    COUNTING.store(false, Ordering::SeqCst);
    out
}

/// Whether [`CountingAllocator`] is this program's global allocator: without it nothing counts.
pub fn installed() -> bool {
    let before = allocations();
    counting(|| drop(black_box(Box::new(black_box(1u64)))));
    allocations() > before
}
