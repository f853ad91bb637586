//! Test harness: run the real nslab binary against the real kernel, always in
//! private namespaces so the machine's own network is never touched.
//!
//! - here: running nslab (`nslab`, `run_isolated`, `run_ok`, `run_fails`)
//!   and reading what it said (`Out`, `assert_report`);
//! - `host`: a private host to look at from outside (`private_host`, the
//!   shell helpers `snap`/`no_trace`/`wait_until`, `leaves_no_trace`);
//! - `wait`: `wait_for`, polling in Rust;
//! - `nobody`: `as_nobody`, nslab run by an unprivileged user;
//! - `kernel`: `kernel_has`, probes for kernel features;
//! - `repl`: `Repl`, the one pseudo-terminal driver;
//! - `fixtures`: rhai snippets several files share.
#![allow(dead_code, unused_imports)]

pub mod fixtures;
pub mod host;
pub mod kernel;
pub mod nobody;
pub mod repl;
pub mod wait;

pub use fixtures::*;
pub use host::*;
pub use kernel::*;
pub use nobody::*;
pub use repl::*;
pub use wait::*;

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
    /// Asserts stdout holds every one of `wants`.
    pub fn says(&self, wants: &[&str]) -> &Self {
        for w in wants {
            assert!(self.stdout.contains(w), "no '{w}' in:\n{}", self.all());
        }
        self
    }
    /// Asserts stdout holds none of `nots`.
    pub fn lacks(&self, nots: &[&str]) -> &Self {
        for n in nots {
            assert!(!self.stdout.contains(n), "'{n}' in:\n{}", self.all());
        }
        self
    }
    /// stdout as one line of words (miette and long prints wrap).
    pub fn words(&self) -> String {
        words(&self.stdout)
    }
}

/// `text` with its white space folded: one line of words.
pub fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts `text` holds every one of `wants`.
pub fn says(text: &str, wants: &[&str]) {
    for w in wants {
        assert!(text.contains(w), "expected '{w}' in:\n{text}");
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nslab")
}

/// The checkout (scripts/, stdlib/, docs/).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn out(o: std::process::Output) -> Out {
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `c` and reads what it said.
pub fn run_cmd(c: &mut Command) -> Out {
    out(c.output().expect("run a command of the test"))
}

/// A directory holding the test's scripts, removed when dropped.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).expect("write script");
        p
    }
    /// The text of a file the test made there ("" when there is none).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.path().join(name)).unwrap_or_default()
    }
}

/// `nslab ARGS…` with NO_COLOR so reports are plain text.
pub fn nslab(args: &[&str], cwd: &Path) -> Out {
    out(Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nslab"))
}

/// Runs a script with `nslab run --isolated`.
pub fn run_isolated(name: &str, text: &str) -> Out {
    let d = Dir::new();
    d.write(name, text);
    nslab(&["run", "--isolated", name], d.path())
}

/// `run_isolated`, which must succeed.
pub fn run_ok(name: &str, text: &str) -> Out {
    let o = run_isolated(name, text);
    o.assert_ok();
    o
}

/// `run_isolated`, which must fail with exit code 1 (a script error),
/// without a panic.
pub fn run_fails(name: &str, text: &str) -> Out {
    let o = run_isolated(name, text);
    assert_eq!(o.code, 1, "expected exit 1\n{}", o.all());
    assert!(
        !o.all().contains("panicked"),
        "nslab panicked:\n{}",
        o.all()
    );
    o
}

/// The short name for `run_ok`, kept for the files that said `ok(…)`.
pub fn ok(name: &str, text: &str) -> Out {
    run_ok(name, text)
}

/// Asserts a report names `file:line`, says `message` and helps with `help`.
pub fn assert_report(o: &Out, file_line: &str, message: &str, help: &str) {
    assert_eq!(o.code, 1, "expected exit 1\n{}", o.all());
    // miette wraps long lines: read the report as one line of words.
    let err = words(&o.stderr.replace("\n  │ ", " "));
    assert!(
        err.contains(file_line),
        "report does not point at {file_line}:\n{}",
        o.stderr
    );
    assert!(
        err.contains(message),
        "report does not say '{message}':\n{}",
        o.stderr
    );
    let h = err
        .find("help:")
        .unwrap_or_else(|| panic!("no help line:\n{}", o.stderr));
    assert!(
        err[h..].contains(help),
        "help does not say '{help}':\n{}",
        o.stderr
    );
    assert!(!err.contains("panicked"), "nslab panicked:\n{}", o.stderr);
}

/// Whether the tests run as root (then unprivileged runs use `nobody`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}

/// A number no other test of this process uses, and no prefix of another's
/// (fixed width): tests name their `sleep`s with it (`sleep MARKER1`) so
/// that `pgrep` finds only theirs while other tests run.
pub fn marker() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}.{n:04}", std::process::id())
}
