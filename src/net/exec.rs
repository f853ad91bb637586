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
/// What `ip netns exec` does besides setns: a mount namespace of the
/// child's own, where /sys shows the target namespace's interfaces. Best
/// effort (a locked /sys in a user namespace gets a fresh one stacked on top).
///
/// # Safety
/// Only for pre_exec: plain syscalls with static strings.
unsafe fn own_sysfs() {
    let none = std::ptr::null::<libc::c_char>();
    // SAFETY: plain syscalls; the strings are static C strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return;
        }
        libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        );
        libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH);
        libc::mount(
            c"nslab".as_ptr(),
            c"/sys".as_ptr(),
            c"sysfs".as_ptr(),
            0,
            std::ptr::null(),
        );
    }
}

/// Builds a command that runs inside `ns` (with its own /sys when `own_sys`).
pub fn command(ns: BorrowedFd<'_>, argv: &[String], own_sys: bool) -> Result<Command> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| NetError::Other("empty command".into()))?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let raw = ns.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setns, setpgid, prctl) between
    // fork and exec; the fd stays open in the parent until the child has been
    // spawned. Its own process group lets nslab stop the command with its
    // children; PDEATHSIG ends it should nslab itself die.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(raw);
            setns(fd, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            if own_sys {
                own_sysfs();
            }
            if libc::setpgid(0, 0) != 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// `sh -c CMD`: how a command given as one string runs.
pub fn shell(cmd: &str) -> Vec<String> {
    vec!["sh".to_string(), "-c".to_string(), cmd.to_string()]
}

/// Runs `argv` in `ns` to completion, capturing output. Gives up (killing the
/// child) when `cancel` is set, as on Ctrl-C or SIGTERM.
pub fn run(
    ns: BorrowedFd<'_>,
    argv: &[String],
    own_sys: bool,
    cancel: &crate::cancel::Cancel,
) -> Result<Output> {
    let mut cmd = command(ns, argv, own_sys)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| NetError::os("start command", e))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let code = wait(&mut child, cancel)?;
    Ok(Output {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Waits for `child` to exit; kills it (with its group) when `cancel` is set,
/// as on Ctrl-C or SIGTERM. The exit code is 128+N for a signal N, as in sh.
fn wait(child: &mut Child, cancel: &crate::cancel::Cancel) -> Result<i64> {
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(NetError::os("wait for command", e)),
        }
        if cancel.is_set() {
            kill(child);
            return Err(NetError::os(
                "run command",
                std::io::Error::from_raw_os_error(libc::EINTR),
            ));
        }
        thread::sleep(Duration::from_millis(5));
    };
    Ok(status
        .code()
        .map(i64::from)
        .or_else(|| status.signal().map(|s| 128 + i64::from(s)))
        .unwrap_or(-1))
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

/// Kills the command and everything it started (its process group).
pub fn kill(child: &mut Child) {
    // SAFETY: a plain syscall on the group this child leads.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

/// A background process (`ns.spawn`): its output is collected as it comes.
pub struct Spawned {
    pub child: Child,
    pub stdout: std::sync::Arc<std::sync::Mutex<String>>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `argv` in `ns` in the background (in its own process group, like
/// every command nslab runs).
pub fn spawn(ns: BorrowedFd<'_>, argv: &[String], own_sys: bool) -> Result<Spawned> {
    let mut cmd = command(ns, argv, own_sys)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| NetError::os("start command", e))?;
    let collect = |r: Option<Box<dyn Read + Send>>| {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let b = buf.clone();
        thread::spawn(move || {
            let Some(mut r) = r else { return };
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = b.lock() {
                    s.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
        });
        buf
    };
    let stdout = collect(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = collect(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    Ok(Spawned {
        child,
        stdout,
        stderr,
    })
}

/// The kernel's start time of `pid` (field 22 of /proc/PID/stat): tells a
/// process from a later one that reused its pid.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// Stops process group `pid` (if it is still the process that started at
/// `start`): SIGTERM, a short grace, then SIGKILL; reaps it when it is ours.
pub fn stop(pid: u32, start: u64) -> Result<()> {
    if start_time(pid) != Some(start) {
        return Ok(());
    }
    let pg = -(pid as i32);
    // SAFETY: plain syscalls on a process group this lab started.
    unsafe {
        libc::kill(pg, libc::SIGTERM);
    }
    for _ in 0..50 {
        let mut status = 0;
        // SAFETY: as above.
        let r = unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
        if r == pid as i32 || (r < 0 && start_time(pid).is_none()) {
            // SAFETY: as above; stragglers of the group.
            unsafe {
                libc::kill(pg, libc::SIGKILL);
            }
            return Ok(());
        }
        thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(pg, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(pid as i32, &mut status, 0);
    }
    Ok(())
}

/// True when nslab's input and output are both terminals, as an interactive
/// shell needs.
pub fn has_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Runs `argv` in `ns` on this terminal as its foreground job (so Ctrl-C and
/// Ctrl-Z reach it, not nslab) until it exits; the terminal returns to nslab
/// afterwards. Returns the exit code.
pub fn interactive(
    ns: BorrowedFd<'_>,
    argv: &[String],
    env: &[(&str, &str)],
    own_sys: bool,
    cancel: &crate::cancel::Cancel,
) -> Result<i64> {
    // The same child as every command (namespace, /sys, own process group,
    // PDEATHSIG), which then takes the terminal as its foreground job.
    let mut cmd = command(ns, argv, own_sys)?;
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: only async-signal-safe calls between fork and exec; this runs
    // after command()'s own pre_exec, in the child's new process group.
    unsafe {
        cmd.pre_exec(|| {
            // A background group taking the terminal would get SIGTTOU.
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
            libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| NetError::os("start shell", e))?;
    let code = wait(&mut child, cancel);
    // SAFETY: plain syscalls; nslab is a background group at this point, so
    // SIGTTOU is ignored while it takes its terminal back.
    unsafe {
        let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
        libc::signal(libc::SIGTTOU, old);
    }
    code
}
