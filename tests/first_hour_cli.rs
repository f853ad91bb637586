//! Issue 21 ("The first hour"), items 3, 4, 19 and 20: what the command
//! line and the REPL print.

mod common;

use std::process::{Command, Stdio};

use common::{Dir, bin};

/// Item 19: a closed stderr (`nslab run bad.rhai 2>&1 | head -c 10`) is not
/// a crash: the run ends with the code it would have had, 1 for a bad
/// script, not 101 (a panic).
#[test]
fn a_closed_stderr_is_not_a_crash() {
    let d = Dir::new();
    d.write("bad.rhai", "let a = netns(\"a\");\na.nope();\n");
    let (reader, writer) = std::io::pipe().expect("pipe");
    // Nobody reads: every write to stderr fails with EPIPE.
    drop(reader);
    let o = Command::new(bin())
        .args(["run", "--isolated", "bad.rhai"])
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .expect("run nslab");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}
