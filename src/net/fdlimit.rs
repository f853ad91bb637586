//! The open-file limit. A lab holds two descriptors per namespace (the
//! namespace and its netlink socket), so a lab of thousands of namespaces
//! passes the usual soft limit (1024, or whatever the shell set) long before
//! the hard one. nslab raises its own soft limit to the hard one once a lab
//! grows big, and the programs it starts get the old soft limit back (some
//! still use select(2), which breaks on descriptors past 1024).

use std::sync::atomic::{AtomicU64, Ordering};

/// The soft limit nslab started with; `u64::MAX` while not raised.
static OLD_SOFT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Raises the soft limit on open files to the hard limit (once; a failure
/// leaves it as it was: the lab then meets EMFILE, which says so).
pub fn raise() {
    if OLD_SOFT.load(Ordering::Relaxed) != u64::MAX {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= lim.rlim_max {
            return;
        }
        let old = lim.rlim_cur;
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
            OLD_SOFT.store(old, Ordering::Relaxed);
        }
    }
}

/// The soft limit on open files now.
pub fn soft() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain syscall on a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

/// In a child before exec: the soft limit nslab started with.
/// Async-signal-safe (an atomic load and two syscalls).
pub fn restore_in_child() {
    let old = OLD_SOFT.load(Ordering::Relaxed);
    if old == u64::MAX {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = old;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
