//! Waiting in Rust: polling a condition, and an nslab started in the
//! background that a test signals and waits for.

use super::{Dir, bin};
use std::io::{BufRead, BufReader, Lines, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Polls `cond` every 20 ms until it gives a value, at most `timeout`
/// (None then).
pub fn wait_for<T>(timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `nslab ARGS…` running in the background, its first line of output read.
pub struct Started {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
}

/// Starts `nslab ARGS…` in `dir` and waits for the script's first line,
/// which must be "ready".
pub fn start_ready(dir: &Dir, args: &[&str]) -> Started {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nslab");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert_eq!(first, "ready", "the lab did not start");
    Started { child, lines }
}

impl Started {
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: a plain kill(2) of the child this test started.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }
    /// Its exit status, within 30 s (None: it was killed, it did not exit).
    pub fn wait_exit(&mut self) -> Option<ExitStatus> {
        let child = &mut self.child;
        let s = wait_for(Duration::from_secs(30), || child.try_wait().expect("wait"));
        if s.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        s
    }
    /// All it wrote on stderr (after it exited).
    pub fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err).expect("read stderr");
        }
        err
    }
}
