//! Ctrl-C, SIGTERM and SIGHUP (the terminal closed, an ssh session dropped):
//! a flag the signal handler sets and long operations poll.
//! No thread is started, so this can be installed before isolation too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set (to the signal number) once SIGINT, SIGTERM or SIGHUP arrives.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicUsize>);

impl Cancel {
    /// Routes SIGINT, SIGTERM and SIGHUP into this flag instead of killing
    /// the process, so the lab can be torn down first.
    pub fn install() -> std::io::Result<Self> {
        let c = Cancel::default();
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register_usize(sig, Arc::clone(&c.0), sig as usize)?;
        }
        // SAFETY: the handler makes only async-signal-safe calls (ioctl,
        // open, dup2, close) and keeps errno as it found it.
        unsafe {
            signal_hook::low_level::register(signal_hook::consts::SIGHUP, || {
                let saved = *libc::__errno_location();
                leave_hung_up_terminal();
                *libc::__errno_location() = saved;
            })?;
        }
        Ok(c)
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// Stops what runs as a Ctrl-C would (an agent whose driver stopped
    /// waiting for an op: see cmd/agent.rs).
    pub fn interrupt(&self) {
        self.0
            .store(signal_hook::consts::SIGINT as usize, Ordering::Relaxed);
    }

    /// Forgets a Ctrl-C once it has stopped what was running (the REPL
    /// goes on; a SIGTERM or SIGHUP is never forgotten).
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

/// After a hangup the terminal is gone: every write to it fails (EIO), and
/// a failed `eprintln!` panics, which would cut the teardown short. The
/// kernel cuts the terminal off before it sends SIGHUP, so right then each
/// of stdin, stdout and stderr that is a hung-up terminal (its ioctls fail
/// with EIO) is pointed at /dev/null instead. Output going elsewhere (a
/// file, a pipe, a terminal still there after `kill -HUP`) is left as is.
///
/// Async-signal-safe: it runs in the signal handler.
fn leave_hung_up_terminal() {
    // SAFETY: plain syscalls on the standard descriptors.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        for fd in 0..=2 {
            if libc::tcgetattr(fd, &mut t) == 0 || *libc::__errno_location() != libc::EIO {
                continue;
            }
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            if null >= 0 {
                libc::dup2(null, fd);
                libc::close(null);
            }
        }
    }
}
