//! `NSLAB_TIMINGS=1`: one line on stderr for each step of a run (parsing
//! the command line, building the engine, compiling, opening the lab, the
//! script, the teardown), with the time since `main` began. Start-up and
//! teardown are a few milliseconds of first-touch and kernel work that a
//! profiler samples too coarsely to split; these lines are how the
//! benchmark's rounds found each cost (bench/README.md). Off, each stamp
//! is one relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);
static START: OnceLock<Instant> = OnceLock::new();

/// Reads `NSLAB_TIMINGS` once, first thing in `main`; the first line says
/// how much CPU the process used before `main` (the dynamic loader's
/// relocations and the page faults of its first code).
pub fn init() {
    if std::env::var_os("NSLAB_TIMINGS").is_none_or(|v| v.is_empty() || v == "0") {
        return;
    }
    let _ = START.set(Instant::now());
    ON.store(true, Ordering::Relaxed);
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `t` is.
    let cpu = match unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } {
        0 => t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6,
        _ => 0.0,
    };
    eprintln!(
        "nslab timing: {:8.3} ms main ({cpu:.3} ms of CPU before it)",
        0.0
    );
}

/// One line: the time since `main` and what was just done.
pub fn stamp(what: &str) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    if let Some(t0) = START.get() {
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        eprintln!("nslab timing: {ms:8.3} ms {what}");
    }
}
