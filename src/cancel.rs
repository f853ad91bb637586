//! Ctrl-C and SIGTERM: a flag the signal handler sets and long operations poll.
//! No thread is started, so this can be installed before isolation too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set (to the signal number) once SIGINT or SIGTERM arrives.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicUsize>);

impl Cancel {
    /// Routes SIGINT and SIGTERM into this flag instead of killing the process,
    /// so the lab can be torn down first.
    pub fn install() -> std::io::Result<Self> {
        let c = Cancel::default();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_usize(sig, Arc::clone(&c.0), sig as usize)?;
        }
        Ok(c)
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// Forgets a Ctrl-C once it has stopped what was running (the REPL
    /// goes on; a SIGTERM is never forgotten).
    pub fn clear_interrupt(&self) {
        let _ = self.0.compare_exchange(
            signal_hook::consts::SIGINT as usize,
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The signal that arrived, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s as i32),
        }
    }
}
