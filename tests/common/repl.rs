//! The one REPL driver: a pseudo-terminal a test types into as a person
//! would, reading back what comes; and `repl_piped`, the REPL fed from a
//! pipe.

use super::{Dir, Out, bin, pipe};
use rexpect::session::{PtySession, spawn_command};
use std::ops::{Deref, DerefMut};
use std::process::Command;

pub const PROMPT: &str = "nslab> ";

pub struct Repl(pub PtySession);

impl Repl {
    /// Runs `cmd` on a pseudo-terminal; each read waits at most `ms`.
    pub fn spawn(cmd: Command, ms: u64) -> Repl {
        Repl(spawn_command(cmd, Some(ms)).expect("start a pseudo-terminal"))
    }
    /// `nslab repl ARGS…` in `dir`, its history in `dir`.
    pub fn nslab(dir: &Dir, args: &[&str]) -> Repl {
        let mut cmd = Command::new(bin());
        cmd.arg("repl")
            .args(args)
            .current_dir(dir.path())
            .env("NSLAB_HISTORY", dir.path().join("history"))
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
        Repl::spawn(cmd, 20_000)
    }
    /// Waits for `want`.
    pub fn expect(&mut self, want: &str) {
        if let Err(e) = self.0.exp_string(want) {
            panic!("expected `{want}`: {e}");
        }
    }
    /// Types `text` without Enter (e.g. ending in a Tab).
    pub fn types(&mut self, text: &str) {
        self.0.send(text).expect("type");
        self.0.flush().expect("type");
    }
    /// Sends a line, waits for `want` in what comes back, then for the next
    /// prompt (rustyline drops what is typed before its prompt, like a
    /// shell).
    pub fn says(&mut self, line: &str, want: &str) {
        self.0.send_line(line).expect("send a line");
        if let Err(e) = self.0.exp_string(want) {
            panic!("after `{line}` expected `{want}`: {e}");
        }
        if want != PROMPT
            && let Err(e) = self.0.exp_string(PROMPT)
        {
            panic!("no prompt after `{line}`: {e}");
        }
    }
    /// Ctrl-D; returns all that came until the end.
    pub fn ctrl_d(&mut self) -> String {
        self.0.send_control('d').expect("send Ctrl-D");
        self.0.exp_eof().expect("the end after Ctrl-D")
    }
}

/// `nslab repl --isolated` in `dir` with `input` piped in, as a script
/// would drive it (no terminal: no prompts, no line editing).
pub fn repl_piped(dir: &Dir, input: &str) -> Out {
    pipe(
        Command::new(bin())
            .args(["repl", "--isolated"])
            .current_dir(dir.path())
            .env("NSLAB_HISTORY", dir.path().join("history"))
            .env("NO_COLOR", "1"),
        input,
    )
}

impl Deref for Repl {
    type Target = PtySession;
    fn deref(&self) -> &PtySession {
        &self.0
    }
}

impl DerefMut for Repl {
    fn deref_mut(&mut self) -> &mut PtySession {
        &mut self.0
    }
}
