//! What a long build is doing, on a terminal: one line on stderr ("building
//! the lab: namespaces 412, links 380, …"), redrawn at most 10 times a
//! second and cleared when the script ends; a second one while the lab is
//! torn down. Only for `nslab run` with stderr a terminal; nothing at all
//! otherwise (pipes, files, CI, the REPL).
//!
//! The lab's hot path only bumps a counter (`bump`, one relaxed atomic
//! add); a thread of its own reads the counters and draws.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What the lab counts as built.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Netns,
    Link,
    Port,
    Addr,
    Route,
}

const NAMES: [&str; 5] = ["namespaces", "links", "ports", "addresses", "routes"];

static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Labs smaller than this (namespaces + links) build in a blink: no line.
/// A count, not a time, so what is shown does not depend on the machine.
const SHOWN_FROM: u64 = 20;

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// One more thing built. The only cost on the lab's hot path.
#[inline]
pub fn bump(kind: Kind) {
    COUNTS[kind as usize].fetch_add(1, Relaxed);
}

fn counts() -> [u64; 5] {
    std::array::from_fn(|i| COUNTS[i].load(Relaxed))
}

fn big_enough(c: &[u64; 5]) -> bool {
    c[Kind::Netns as usize] + c[Kind::Link as usize] >= SHOWN_FROM
}

/// "namespaces 412, links 380, addresses 800" (kinds with none left out).
fn summary(c: &[u64; 5]) -> String {
    NAMES
        .iter()
        .zip(c)
        .filter(|(_, n)| **n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether this process shows progress (set by `start`).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Set while the terminal belongs to something else (`ns.shell()`).
static PAUSED: AtomicBool = AtomicBool::new(false);
/// The line while it is up. Whoever draws or writes around it holds this.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn bar_slot() -> MutexGuard<'static, Option<ProgressBar>> {
    // A panic while drawing leaves the line as it was; nothing to repair.
    BAR.lock().unwrap_or_else(|e| e.into_inner())
}

/// A line saying `what` and `msg`; set up hidden, so that its first frame
/// already has them.
fn new_bar(what: &str, msg: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    let style = ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar.set_message(msg);
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar
}

/// The drawing thread of `nslab run`; stopped (and the line cleared) by
/// `stop` or when dropped.
pub struct Progress {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts showing the build when stderr is a terminal (and not a dumb one).
/// Call it after isolation: it starts a thread.
pub fn start() -> Option<Progress> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
        return None;
    }
    for c in &COUNTS {
        c.store(0, Relaxed);
    }
    ENABLED.store(true, Relaxed);
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("nslab-progress".into())
        .spawn(move || {
            let mut last = [0u64; 5];
            // Until `stop` sends or drops its end.
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                let now = counts();
                let mut slot = bar_slot();
                if PAUSED.load(Relaxed) || !big_enough(&now) {
                    continue;
                }
                match slot.as_ref() {
                    Some(bar) if now != last => bar.set_message(summary(&now)),
                    Some(bar) => bar.tick(),
                    None => *slot = Some(new_bar("building the lab", summary(&now))),
                }
                last = now;
            }
        })
        .ok()?;
    Some(Progress {
        stop: Some(tx),
        thread: Some(thread),
    })
}

impl Progress {
    /// The script is over: the line goes away before anything else is
    /// printed (errors, the teardown's line).
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(bar) = bar_slot().take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `f` (which writes to the terminal: a script's print()) with the
/// line out of its way, then puts the line back.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    if !ENABLED.load(Relaxed) {
        return f();
    }
    let slot = bar_slot();
    match slot.as_ref() {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Keeps the line away while the terminal belongs to something else
/// (`ns.shell()`), until dropped.
pub struct Paused(bool);

pub fn pause() -> Paused {
    if !ENABLED.load(Relaxed) {
        return Paused(false);
    }
    let mut slot = bar_slot();
    PAUSED.store(true, Relaxed);
    if let Some(bar) = slot.take() {
        bar.finish_and_clear();
    }
    Paused(true)
}

impl Drop for Paused {
    fn drop(&mut self) {
        if self.0 {
            PAUSED.store(false, Relaxed);
        }
    }
}

/// A line while a big lab is torn down ("tearing down the lab: namespaces
/// 1000, …", what was built), cleared when dropped. Drawn at once, then kept
/// moving by indicatif's own ticker.
pub struct TearingDown(Option<ProgressBar>);

pub fn tearing_down() -> TearingDown {
    let c = counts();
    if !ENABLED.load(Relaxed) || PAUSED.load(Relaxed) || !big_enough(&c) {
        return TearingDown(None);
    }
    let bar = new_bar("tearing down the lab", summary(&c));
    bar.tick();
    bar.enable_steady_tick(TICK);
    TearingDown(Some(bar))
}

impl Drop for TearingDown {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_what_was_built_and_skips_the_rest() {
        assert_eq!(
            summary(&[412, 380, 0, 800, 0]),
            "namespaces 412, links 380, addresses 800"
        );
        assert_eq!(summary(&[0; 5]), "");
        assert!(!big_enough(&[10, 9, 100, 100, 100]));
        assert!(big_enough(&[10, 10, 0, 0, 0]));
    }
}
