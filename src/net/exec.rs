//! `ip netns exec NS CMD`: a child process that enters the namespace between
//! fork and exec, with its output captured.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use super::unit::Unit;
use super::{NetError, Result};

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
    /// Killed for running past its timeout.
    pub timed_out: bool,
}

/// What `ip netns exec` does besides setns: a mount namespace of the
/// child's own, where /sys shows the target namespace's interfaces. The
/// new namespace, and its mounts turned into slaves (so nothing mounted in
/// it reaches nslab's), must work for a child that binds directories; the
/// fresh /sys is best effort (a locked /sys in a user namespace gets a
/// fresh one stacked on top).
///
/// # Safety
/// Only for pre_exec: plain syscalls with static strings.
unsafe fn own_sysfs() -> std::io::Result<()> {
    let none = std::ptr::null::<libc::c_char>();
    // SAFETY: plain syscalls; the strings are static C strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH);
        libc::mount(
            c"nslab".as_ptr(),
            c"/sys".as_ptr(),
            c"sysfs".as_ptr(),
            0,
            std::ptr::null(),
        );
    }
    Ok(())
}

/// What a child sees besides the network namespace it enters: a /sys of
/// its own, and a node's private directories, hosts file and host name
/// (bind mounts and a UTS namespace of the child's own, as `ip netns exec`
/// binds /etc/netns/NAME/*). Made before the fork: the child only passes
/// these pointers to syscalls.
#[derive(Debug, Clone, Default)]
pub struct Private {
    pub own_sys: bool,
    /// (source, target), bound in this order; a failure stops the child.
    pub binds: Vec<(CString, CString)>,
    /// Bound after `binds` where possible; a failure is ignored (the
    /// hosts file: a convenience, never a reason not to run).
    pub optional_binds: Vec<(CString, CString)>,
    pub hostname: Option<CString>,
}

impl Private {
    /// Only its own /sys (a lab namespace), or nothing (the host).
    pub fn sys(own_sys: bool) -> Private {
        Private {
            own_sys,
            ..Private::default()
        }
    }

    /// # Safety
    /// Only for pre_exec, after setns: plain syscalls on strings made
    /// before the fork.
    unsafe fn enter(&self) -> std::io::Result<()> {
        let binds = !self.binds.is_empty() || !self.optional_binds.is_empty();
        if !self.own_sys && !binds && self.hostname.is_none() {
            return Ok(());
        }
        let none = std::ptr::null::<libc::c_char>();
        // SAFETY: plain syscalls; every pointer is a CString this struct
        // owns, alive until exec.
        unsafe {
            match own_sysfs() {
                Ok(()) => {}
                // Without a mount namespace of its own, a bind would land
                // in nslab's (and maybe the host's): no binds then.
                Err(e) if binds => return Err(e),
                Err(_) => {}
            }
            for (src, dst) in &self.binds {
                if libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    none,
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (src, dst) in &self.optional_binds {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    none,
                    libc::MS_BIND,
                    std::ptr::null(),
                );
            }
            if let Some(h) = &self.hostname
                && (libc::unshare(libc::CLONE_NEWUTS) != 0
                    || libc::sethostname(h.as_ptr(), h.as_bytes().len()) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// A descriptor no child may keep: the one that holds the running lab's
/// lock on its journal (which says "this lab is alive"). It is close-on-exec,
/// but a child between fork and exec has a copy, and were nslab killed just
/// then the copy would hold the lock and the dead lab would look alive.
static PRIVATE_FD: AtomicI32 = AtomicI32::new(-1);

/// Makes every child close `fd` first thing after fork (-1: none).
pub fn keep_from_children(fd: RawFd) {
    PRIVATE_FD.store(fd, Ordering::Relaxed);
}

/// Builds a command that runs inside `ns` (with its own /sys when `own_sys`).
pub fn command(ns: BorrowedFd<'_>, argv: &[String], own_sys: bool) -> Result<Command> {
    command_with(ns, argv, Private::sys(own_sys))
}

/// Builds a command that runs inside `ns`, seeing what `private` says
/// (its own /sys, a node's directories, hosts file and host name).
pub fn command_with(ns: BorrowedFd<'_>, argv: &[String], private: Private) -> Result<Command> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| NetError::Other("empty command".into()))?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let raw = ns.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setns, unshare, mount,
    // sethostname, setpgid, prctl) on data made before the fork between
    // fork and exec; the fd stays open in the parent until the child has been
    // spawned. Its own process group lets nslab stop the command with its
    // children; PDEATHSIG ends it should nslab itself die (a spawned
    // process drops it once in the lab's cgroup, which then holds it: a
    // kept lab's programs run on after nslab).
    //
    // PDEATHSIG comes first, and a parent already gone by then (killed
    // right after the fork) ends the child at once: so no child of a killed
    // nslab can go on to exec outside the lab's unit. Then the descriptor
    // that holds the lab's lock goes (see `keep_from_children`).
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            super::fdlimit::restore_in_child();
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // (A child in the lab's PID namespace sees its parent, outside
            // it, as pid 0; once orphaned, as that namespace's init, 1.)
            let pp = libc::getppid();
            if pp != parent && pp != 0 {
                libc::_exit(137);
            }
            let lock_fd = PRIVATE_FD.load(Ordering::Relaxed);
            if lock_fd >= 0 {
                libc::close(lock_fd);
            }
            let fd = BorrowedFd::borrow_raw(raw);
            setns(fd, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            private.enter()?;
            if libc::setpgid(0, 0) != 0 {
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

/// How `ns.exec` runs a command, beyond the command itself.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    /// Kill the command once it has run this long (`timed_out` says so).
    pub timeout: Option<Duration>,
    /// Fed to its standard input, which is then closed (else /dev/null).
    pub stdin: Option<Vec<u8>>,
    /// Added to its environment.
    pub env: Vec<(String, String)>,
}

/// Runs `argv` in `ns`, in the lab's `unit`, until it exits, capturing
/// output. Returns when the command exits, even if something it started in
/// the background (`sleep 15 &`) still holds its output open: that belongs
/// to the lab's unit, which ends at teardown. Gives up (killing the
/// command's process group) when `cancel` is set, as on Ctrl-C or SIGTERM.
pub fn run(
    ns: BorrowedFd<'_>,
    argv: &[String],
    private: Private,
    unit: &Unit,
    opts: &RunOpts,
    cancel: &crate::cancel::Cancel,
) -> Result<Output> {
    let mut cmd = command_with(ns, argv, private)?;
    cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(if opts.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = unit
        .spawn(cmd)
        .map_err(|e| NetError::os("start command", e))?;
    let out = collect(&mut child, opts, cancel);
    if out.is_err() {
        kill(&mut child);
    }
    out
}

/// One of the command's pipes, read (or written) without blocking.
struct Pipe<F> {
    f: Option<F>,
    buf: Vec<u8>,
}

impl<F: AsRawFd> Pipe<F> {
    fn new(f: Option<F>) -> Pipe<F> {
        if let Some(f) = &f {
            // SAFETY: fcntl on a descriptor this pipe owns.
            unsafe {
                let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
        }
        Pipe { f, buf: Vec::new() }
    }

    fn pollfd(&self, events: libc::c_short) -> Option<libc::pollfd> {
        self.f.as_ref().map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events,
            revents: 0,
        })
    }
}

impl<F: AsRawFd + Read> Pipe<F> {
    /// Reads what is there now; closes the pipe at its end (or an error).
    fn read_ready(&mut self) {
        let Some(f) = &mut self.f else { return };
        let mut chunk = [0u8; 65536];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.f = None;
    }

    fn text(self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// A descriptor that becomes readable when `pid` exits (Linux 5.3), so the
/// wait below wakes at once; None on older kernels (then it polls).
fn pidfd(pid: u32) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: a plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a descriptor the kernel just gave us, owned by nothing else.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits for `child` to exit while taking its output as it comes and
/// feeding it its input.
fn collect(child: &mut Child, opts: &RunOpts, cancel: &crate::cancel::Cancel) -> Result<Output> {
    let mut out = Pipe::new(child.stdout.take());
    let mut err = Pipe::new(child.stderr.take());
    let mut input = Pipe::new(child.stdin.take());
    let data = opts.stdin.as_deref().unwrap_or_default();
    let mut fed = 0;
    let exited = pidfd(child.id());
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    let status = loop {
        if fed >= data.len() {
            // All of it written: close stdin so the command sees its end.
            input.f = None;
        }
        if let Some(s) = child
            .try_wait()
            .map_err(|e| NetError::os("wait for command", e))?
        {
            break s;
        }
        if cancel.is_set() {
            return Err(NetError::os(
                "run command",
                std::io::Error::from_raw_os_error(libc::EINTR),
            ));
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            kill(child);
            timed_out = true;
            break child
                .wait()
                .map_err(|e| NetError::os("wait for command", e))?;
        }
        // Wake for output, room for input, the exit, or (every 20 ms) to
        // look at the cancel flag: a signal may land on another thread.
        let mut fds: Vec<libc::pollfd> = [
            out.pollfd(libc::POLLIN),
            err.pollfd(libc::POLLIN),
            input.pollfd(libc::POLLOUT),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(p) = &exited {
            fds.push(libc::pollfd {
                fd: p.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let mut wait = if exited.is_some() { 20 } else { 5 };
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now).as_millis() as i32 + 1);
        }
        // SAFETY: `fds` is a valid array of pollfd for its length.
        unsafe {
            libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait);
        }
        out.read_ready();
        err.read_ready();
        if let Some(f) = &mut input.f {
            match f.write(&data[fed..]) {
                Ok(n) => fed += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                // The command closed its input (EPIPE): it wants no more.
                Err(_) => fed = data.len(),
            }
        }
    };
    // Everything the command wrote is in the pipes now; something it left
    // in the background may keep them open, so take what is there and go.
    out.read_ready();
    err.read_ready();
    Ok(Output {
        code: exit_code(status),
        stdout: out.text(),
        stderr: err.text(),
        timed_out,
    })
}

/// The exit code, or 128+N for a signal N, as in sh.
fn exit_code(status: std::process::ExitStatus) -> i64 {
    status
        .code()
        .map(i64::from)
        .or_else(|| status.signal().map(|s| 128 + i64::from(s)))
        .unwrap_or(-1)
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
    Ok(exit_code(status))
}

/// Kills the command and everything it started (its process group).
pub fn kill(child: &mut Child) {
    // SAFETY: a plain syscall on the group this child leads.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

/// A background process (`ns.spawn`): its output goes to two files, read
/// back as it comes. Files, not pipes: a kept lab's programs outlive
/// nslab, and a pipe with no reader would kill them (SIGPIPE) or, full,
/// stop them.
pub struct Spawned {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// Starts `argv` in `ns` in the background, in the lab's `unit` (and in its
/// own process group, like every command nslab runs), free to outlive nslab
/// where the unit allows; its output goes to new files `stdout` and
/// `stderr` (which must not exist yet).
pub fn spawn(
    ns: BorrowedFd<'_>,
    argv: &[String],
    private: Private,
    unit: &Unit,
    stdout: &Path,
    stderr: &Path,
) -> Result<Spawned> {
    let mut cmd = command_with(ns, argv, private)?;
    let started = new_output(stdout).and_then(|out| {
        let err = new_output(stderr)?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        unit.spawn_lasting(cmd)
            .map_err(|e| NetError::os("start command", e))
    });
    let child = match started {
        Ok(c) => c,
        Err(e) => {
            // Nothing will write there.
            let _ = std::fs::remove_file(stdout);
            let _ = std::fs::remove_file(stderr);
            return Err(e);
        }
    };
    Ok(Spawned {
        child,
        stdout: stdout.to_path_buf(),
        stderr: stderr.to_path_buf(),
    })
}

/// A new file for a process's output, only this user may read (never one
/// that is there already, nor through a link).
fn new_output(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        // Not an OS error: "not found" here is no missing program.
        .map_err(|e| NetError::Other(format!("cannot create {}: {e}", path.display())))
}

/// What a spawned process wrote to `path` so far (nothing if it is gone).
pub fn output(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The kernel's start time of `pid` (field 22 of /proc/PID/stat): tells a
/// process from a later one that reused its pid.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// Is `pid` still the process that started at `start`, and running (not
/// a zombie no one has reaped: a kept lab's program that ended is one
/// until its new parent, outside nslab, reaps it)?
pub fn runs(pid: u32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(after_comm) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return false;
    };
    let mut f = after_comm.split_whitespace();
    let state = f.next().unwrap_or("X");
    !matches!(state, "Z" | "X" | "x") && f.nth(18).and_then(|s| s.parse().ok()) == Some(start)
}

/// Sends SIGTERM to process group `pid` (if it is still the process that
/// started at `start`) without waiting: a teardown asks every process to
/// end at once, so their exits overlap instead of queueing one grace
/// period behind another (FRR's daemons take tens of ms each to exit).
pub fn terminate(pid: u32, start: u64) {
    if pid <= 1 || pid > i32::MAX as u32 || start_time(pid) != Some(start) {
        return;
    }
    // SAFETY: a plain syscall on a process group this lab started.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGTERM);
    }
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
        if r == pid as i32 || (r < 0 && !runs(pid, start)) {
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
    private: Private,
    unit: &Unit,
    cancel: &crate::cancel::Cancel,
) -> Result<i64> {
    // The same child as every command (namespace, /sys, own process group,
    // PDEATHSIG), which then takes the terminal as its foreground job.
    let mut cmd = command_with(ns, argv, private)?;
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
    let mut child = unit
        .spawn(cmd)
        .map_err(|e| NetError::os("start shell", e))?;
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
