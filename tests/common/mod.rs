//! Test harness: run the real nslab binary against the real kernel, always in
//! private namespaces so the machine's own network is never touched.
//!
//! - here: running nslab (`nslab`, `run_isolated`, `run_ok`, `run_fails`),
//!   any command with its stdin piped (`pipe`), and reading what it said
//!   (`Out`, `assert_report`, `says`/`lacks` on a text);
//! - `host`: a private host to look at from outside (`private_host`, the
//!   shell helpers `snap`/`no_trace`/`wait_until`, `leaves_no_trace`);
//! - `wait`: `wait_for`, polling in Rust;
//! - `nobody`: `as_nobody`, nslab run by an unprivileged user;
//! - `kernel`: `kernel_has`, probes for kernel features;
//! - `repl`: `Repl`, the one pseudo-terminal driver, and `repl_piped`;
//! - `fixtures`: rhai snippets several files share;
//! - `tools`: the outside programs tests use (`tool`, `need`), each with its package.
#![allow(dead_code, unused_imports)]

pub mod fixtures;
pub mod host;
pub mod kernel;
pub mod nobody;
pub mod repl;
pub mod tools;
pub mod wait;

pub use fixtures::*;
pub use host::*;
pub use kernel::*;
pub use nobody::*;
pub use repl::*;
pub use tools::*;
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
    /// Asserts stdout holds every one of `wants` (also: `lacks`,
    /// `all_says`, `all_lacks` on stdout and stderr together).
    pub fn says(&self, wants: &[&str]) -> Check<'_> {
        self.because("").says(wants)
    }
    pub fn lacks(&self, nots: &[&str]) -> Check<'_> {
        self.because("").lacks(nots)
    }
    pub fn all_says(&self, wants: &[&str]) -> Check<'_> {
        self.because("").all_says(wants)
    }
    pub fn all_lacks(&self, nots: &[&str]) -> Check<'_> {
        self.because("").all_lacks(nots)
    }
    /// Asserts nslab exited with `code` and said every one of `wants` on
    /// stderr.
    pub fn fails_saying(&self, code: i32, wants: &[&str]) {
        assert_eq!(self.code, code, "{}", self.all());
        for w in wants {
            assert!(self.stderr.contains(w), "no '{w}' in:\n{}", self.stderr);
        }
    }
    /// The same checks, saying `why` when one fails.
    pub fn because<'a>(&'a self, why: &'a str) -> Check<'a> {
        Check { o: self, why }
    }
    /// The rest of stdout's first line that starts with `tag`.
    pub fn line_after(&self, tag: &str) -> Option<&str> {
        self.stdout.lines().find_map(|l| l.strip_prefix(tag))
    }
    /// `line_after`, which must be there.
    pub fn after(&self, tag: &str) -> &str {
        self.line_after(tag)
            .unwrap_or_else(|| panic!("no line starting '{tag}' in:\n{}", self.all()))
    }
    /// The JSON printed after `tag` (one `ip -j` or `nft -j` answer).
    pub fn json_after(&self, tag: &str) -> serde_json::Value {
        let line = self.after(tag);
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{tag}: {e}: {line}"))
    }
    /// stdout as one line of words (miette and long prints wrap).
    pub fn words(&self) -> String {
        words(&self.stdout)
    }
    /// stderr's report as one line of words: miette wraps long lines, and
    /// continues a wrapped source line with "  │ ".
    pub fn report_words(&self) -> String {
        words(&self.stderr.replace("\n  │ ", " "))
    }
}

/// Checks of what nslab said, naming what a failure means.
#[derive(Clone, Copy)]
pub struct Check<'a> {
    o: &'a Out,
    why: &'a str,
}

impl Check<'_> {
    fn has(self, all: bool, wants: &[&str], yes: bool) -> Self {
        let text = if all {
            self.o.all()
        } else {
            self.o.stdout.clone()
        };
        for w in wants {
            let what = if yes { "no" } else { "unexpected" };
            let all = self.o.all();
            assert!(
                text.contains(w) == yes,
                "{}: {what} '{w}' in:\n{all}",
                self.why
            );
        }
        self
    }
    pub fn says(self, wants: &[&str]) -> Self {
        self.has(false, wants, true)
    }
    pub fn lacks(self, nots: &[&str]) -> Self {
        self.has(false, nots, false)
    }
    pub fn all_says(self, wants: &[&str]) -> Self {
        self.has(true, wants, true)
    }
    pub fn all_lacks(self, nots: &[&str]) -> Self {
        self.has(true, nots, false)
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

/// Asserts `text` holds none of `nots`.
pub fn lacks(text: &str, nots: &[&str]) {
    for w in nots {
        assert!(!text.contains(w), "unexpected '{w}' in:\n{text}");
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

/// Runs `c` with `input` on its stdin (closed after it) and reads what it
/// said.
pub fn pipe(c: &mut Command, input: &str) -> Out {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a command of the test");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(input.as_bytes())
        .expect("write its input");
    out(child.wait_with_output().expect("the command ends"))
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
    /// A new one holding `files` (name, text).
    pub fn with(files: &[(&str, &str)]) -> Dir {
        let d = Dir::new();
        for (name, text) in files {
            d.write(name, text);
        }
        d
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
    let err = o.report_words();
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

/// Whether the tests run as root; when not, says the test is skipped
/// (`why`: what root gives it).
pub fn needs_root(why: &str) -> bool {
    let root = is_root();
    if !root {
        eprintln!("skipped: needs root{why}");
    }
    root
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

/// `run_isolated(name, text)`, which must fail with a report at `file_line`
/// that says `message` and helps with `help` (see `assert_report`).
pub fn fails_at(name: &str, text: &str, file_line: &str, message: &str, help: &str) -> Out {
    let o = run_isolated(name, text);
    assert_report(&o, file_line, message, help);
    o
}

/// Held by each test in tests/whole_machine (which disturb every namespace on
/// the machine) for its whole run, so that those tests never overlap.
pub fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A man page (roff) formatted by groff with every warning on, as a
/// terminal shows it; fails the test if groff fails or warns.
pub fn groff_man(page: &str) -> String {
    let dir = Dir::new();
    let file = dir.write("nslab.1", page);
    let g = out(tool("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
        .arg(&file)
        .output()
        .expect("groff (groff-base) is installed: .ci/run installs it"));
    g.assert_ok();
    assert!(g.stderr.is_empty(), "groff warned: {}", g.stderr);
    g.stdout
}
