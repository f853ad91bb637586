//! `ip netns exec NS CMD`: a child process that enters the namespace between
//! fork and exec, with its output captured.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

use super::{NetError, Result};

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Builds a command that runs inside `ns`: a shell line through `sh -c`, or
/// an argument vector run directly.
pub fn command(ns: BorrowedFd<'_>, argv: &[String]) -> Result<Command> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| NetError::Other("empty command".into()))?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let raw = ns.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setns) between fork and exec; the
    // fd stays open in the parent until the child has been spawned.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(raw);
            setns(fd, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    Ok(cmd)
}

/// Runs `argv` in `ns` to completion, capturing output. Gives up (killing the
/// child) when `cancel` is set, as on Ctrl-C or SIGTERM.
pub fn run(ns: BorrowedFd<'_>, argv: &[String], cancel: &crate::cancel::Cancel) -> Result<Output> {
    let mut cmd = command(ns, argv)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| NetError::os("start command", e))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(NetError::os("wait for command", e)),
        }
        if cancel.is_set() {
            kill(&mut child);
            return Err(NetError::os(
                "run command",
                std::io::Error::from_raw_os_error(libc::EINTR),
            ));
        }
        thread::sleep(Duration::from_millis(5));
    };
    let code = status
        .code()
        .map(i64::from)
        .or_else(|| status.signal().map(|s| 128 + i64::from(s)))
        .unwrap_or(-1);
    Ok(Output {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn drain<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
