//! Which data-plane worker thread this is.
//!
//! Each worker runs its own single-threaded runtime; connection pools are per worker so a pooled
//! connection is only ever driven by the thread that created it (no cross-thread wake-ups).

use std::cell::Cell;

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as worker `id` (0-based).
pub fn set_current(id: usize) {
    WORKER.with(|w| w.set(id));
}

/// The current worker's id; 0 on threads that are not workers.
#[inline]
pub fn current() -> usize {
    WORKER.with(|w| w.get())
}
