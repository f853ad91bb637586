//! The unit every process of a lab runs in, so that all of them end with the
//! lab, whatever they do (fork, `setsid`, `&`, daemonize), and even when
//! nslab itself is killed with SIGKILL. A process group is not enough: a
//! command can leave it, and killing a group whose leader is gone misses
//! the rest.
//!
//! - [`Cgroup`] (host mode): a cgroup v2 of the lab's own, under nslab's
//!   own cgroup. Children join it between fork and exec; writing "1" to
//!   `cgroup.kill` ends everything in it at once. The journal holds its
//!   path, so `nslab down` can do that after a crash, and for a kept lab,
//!   whose spawned programs run on in it after nslab exits.
//! - [`PidNs`] (isolated and rootless mode, or when no cgroup can be made):
//!   a PID namespace whose init is nslab's child. When init dies the kernel
//!   kills every process in the namespace, and init dies with nslab
//!   (PR_SET_PDEATHSIG). Processes keep the pids nslab sees (`Child::id`),
//!   and /proc inside still shows the outer ones.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{NetError, Result};

/// Where a lab's processes live; see the module doc.
pub enum Unit {
    Cgroup(Cgroup),
    PidNs(PidNs),
}

impl Unit {
    /// Starts `cmd` inside the unit.
    pub fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        match self {
            Unit::Cgroup(c) => c.spawn(cmd, false),
            Unit::PidNs(p) => p.spawn(cmd),
        }
    }

    /// Starts `cmd` inside the unit, free to outlive nslab where the unit
    /// can (a cgroup: a kept lab's programs run on in it, and `nslab down`
    /// ends them). In a PID namespace it ends with nslab, as everything there.
    pub fn spawn_lasting(&self, cmd: Command) -> std::io::Result<Child> {
        match self {
            Unit::Cgroup(c) => c.spawn(cmd, true),
            Unit::PidNs(p) => p.spawn(cmd),
        }
    }

    /// Can its processes outlive nslab (a cgroup, not a PID namespace)?
    pub fn outlives_nslab(&self) -> bool {
        matches!(self, Unit::Cgroup(_))
    }

    /// Kills every process in the unit and waits (boundedly) until they
    /// are gone. `reap` runs right after the kill: there the caller reaps
    /// its own children, which a PID namespace's init waits for.
    pub fn kill(self, reap: impl FnOnce()) -> Result<()> {
        match self {
            Unit::Cgroup(c) => kill_cgroup_then(&c.path, reap),
            Unit::PidNs(p) => {
                p.kill(reap);
                Ok(())
            }
        }
    }
}

/// A cgroup v2 of the lab's own.
pub struct Cgroup {
    path: PathBuf,
    /// Its `cgroup.procs`, opened once: a child joins by writing "0" to it
    /// between fork and exec (a plain write(2), async-signal-safe).
    procs: OwnedFd,
}

/// Decodes the octal escapes of /proc/self/mountinfo (`\040` is a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (root, mount point) of every cgroup2 mount in `mountinfo`.
fn cgroup2_mounts(mountinfo: &str) -> Vec<(String, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            if post.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            let f: Vec<&str> = pre.split_whitespace().collect();
            Some((unescape(f.get(3)?), PathBuf::from(unescape(f.get(4)?))))
        })
        .collect()
}

/// Is `path` on a cgroup2 file system?
fn on_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The directory of nslab's own cgroup v2, from /proc/self/cgroup (the
/// `0::` line) and the cgroup2 mounts; None without cgroup v2.
fn own_cgroup_dir() -> Option<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    cgroup2_mounts(&mountinfo)
        .into_iter()
        .find_map(|(root, mp)| {
            // The mount shows the hierarchy from `root` down (a cgroup
            // namespace's mounts start at its root).
            let rel = if root == "/" {
                own
            } else {
                own.strip_prefix(root.as_str())
                    .filter(|r| r.is_empty() || r.starts_with('/'))?
            };
            let dir = mp.join(rel.trim_start_matches('/'));
            (dir.is_dir() && on_cgroup2(&dir)).then_some(dir)
        })
}

/// The cgroup directory name of lab `lab` run by process `pid`:
/// `nslab-LAB-PID` (the pid keeps two labs of the same name apart; only
/// `[A-Za-z0-9_.-]` of the name are kept, as in lab names).
pub fn cgroup_name(lab: &str, pid: u32) -> String {
    let lab: String = lab
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("nslab-{lab}-{pid}")
}

/// Where lab `lab`'s cgroup goes: under nslab's own cgroup. None when this
/// system has no cgroup v2 nslab can see.
pub fn cgroup_path(lab: &str) -> Option<PathBuf> {
    Some(own_cgroup_dir()?.join(cgroup_name(lab, std::process::id())))
}

/// Is `path` a plain absolute path (no `.` or `..`) ending in the cgroup
/// name of lab `lab` run by `pid`? (What a journal step may name.)
pub fn is_cgroup_of(path: &Path, lab: &str, pid: u32) -> bool {
    is_plain(path) && path.file_name().and_then(|n| n.to_str()) == Some(&cgroup_name(lab, pid))
}

/// Absolute, in UTF-8, with no empty, `.` or `..` part (read from the text:
/// `Path::components` drops a `.` in the middle).
fn is_plain(path: &Path) -> bool {
    path.to_str().is_some_and(|s| {
        s.strip_prefix('/').is_some_and(|rest| {
            rest.split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
        })
    })
}

impl Cgroup {
    /// `mkdir` the cgroup and open its `cgroup.procs`.
    pub fn create(path: &Path) -> Result<Cgroup> {
        check_cgroup_path(path)?;
        fs::create_dir(path).map_err(|e| NetError::os("create a cgroup", e))?;
        let procs = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path.join("cgroup.procs"))
            .map(OwnedFd::from);
        match procs {
            Ok(procs) => Ok(Cgroup {
                path: path.to_path_buf(),
                procs,
            }),
            Err(e) => {
                let _ = fs::remove_dir(path);
                Err(NetError::os("open cgroup.procs", e))
            }
        }
    }

    /// `lasting`: the child drops the PDEATHSIG every command starts with
    /// (exec.rs), once it is in the cgroup: from then on the cgroup holds
    /// it (a child killed before joining still dies with nslab, so none
    /// escapes the unit).
    fn spawn(&self, mut cmd: Command, lasting: bool) -> std::io::Result<Child> {
        let fd = self.procs.as_raw_fd();
        // SAFETY: one write(2) to a descriptor that stays open in the parent
        // until spawn returns, and a prctl; async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                super::fdlimit::restore_in_child();
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                if lasting && libc::prctl(libc::PR_SET_PDEATHSIG, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn()
    }
}

/// Refuses any path but a cgroup nslab makes: absolute, plain (no `.`,
/// `..` or symlinks), on a cgroup2 file system, named `nslab-…`. A journal
/// is data from disk; this keeps `nslab down` from touching anything else.
pub fn check_cgroup_path(path: &Path) -> Result<()> {
    let refuse = |why: &str| {
        Err(NetError::Other(format!(
            "refusing to touch cgroup {}: {why}",
            path.display()
        )))
    };
    if !is_plain(path) {
        return refuse("not a plain absolute path");
    }
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("nslab-"));
    if !named {
        return refuse("its name does not start with nslab-");
    }
    let Some(parent) = path.parent() else {
        return refuse("no parent directory");
    };
    if !on_cgroup2(parent) {
        return refuse("not under a cgroup2 mount");
    }
    if fs::canonicalize(parent).ok().as_deref() != Some(parent) {
        return refuse("its path goes through a symlink");
    }
    Ok(())
}

/// Kills every process in the cgroup at `path` (`cgroup.kill`, Linux
/// 5.14; else SIGKILL to each process in `cgroup.procs` until none is
/// left), waits until it is empty (at most 5 s) and removes it. A cgroup
/// that is already gone counts as done (ENOENT).
pub fn kill_cgroup(path: &Path) -> Result<()> {
    kill_cgroup_then(path, || {})
}

/// [`kill_cgroup`], running `reap` right after the kill.
fn kill_cgroup_then(path: &Path, reap: impl FnOnce()) -> Result<()> {
    // Gone already (the cgroup nslab ran in was removed with everything
    // below it, say): nothing to touch.
    if !path.is_dir() {
        return Err(NetError::os(
            "stop the lab's processes",
            std::io::Error::from_raw_os_error(libc::ENOENT),
        ));
    }
    check_cgroup_path(path)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let has_kill = path.join("cgroup.kill").exists();
    if has_kill {
        fs::OpenOptions::new()
            .write(true)
            .open(path.join("cgroup.kill"))
            .and_then(|mut f| f.write_all(b"1"))
            .map_err(|e| NetError::os("write cgroup.kill", e))?;
    } else {
        kill_listed(path);
    }
    reap();
    let populated = || {
        fs::read_to_string(path.join("cgroup.events"))
            .map(|s| s.lines().any(|l| l == "populated 1"))
            .unwrap_or(false)
    };
    while populated() {
        if !has_kill {
            kill_listed(path);
        }
        if Instant::now() >= deadline {
            return Err(NetError::Other(format!(
                "processes in cgroup {} did not end within 5 s of SIGKILL",
                path.display()
            )));
        }
        thread::sleep(Duration::from_millis(1));
    }
    remove_tree(path)
}

/// SIGKILL to every process listed in the cgroup and its descendants.
fn kill_listed(path: &Path) {
    if let Ok(procs) = fs::read_to_string(path.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: a plain syscall on a process of the lab's cgroup.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    for d in subdirs(path) {
        kill_listed(&d);
    }
}

fn subdirs(path: &Path) -> Vec<PathBuf> {
    fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// rmdir of a cgroup and of any cgroups a process made inside it, deepest
/// first (a cgroup with children cannot be removed).
fn remove_tree(path: &Path) -> Result<()> {
    for d in subdirs(path) {
        remove_tree(&d)?;
    }
    match fs::remove_dir(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(NetError::os("remove the lab's cgroup", e))
        }
        _ => Ok(()),
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A PID namespace for the lab's processes: a thread that has entered it
/// for its children (`unshare(CLONE_NEWPID)` moves only the children of the
/// calling thread), the namespace's init, and every later process forked
/// from that thread.
///
/// The thread lives until the lab ends: PR_SET_PDEATHSIG fires when the
/// *thread* that forked a process exits, and after `unshare(CLONE_NEWPID)`
/// a thread can no longer start threads, so it does nothing but fork.
pub struct PidNs {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
    /// The init's pid, as nslab sees it.
    init: i32,
}

impl PidNs {
    pub fn start() -> Result<PidNs> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<i32>>(1);
        let thread = thread::Builder::new()
            .name("nslab-spawn".into())
            .spawn(move || {
                let (init, _alive) = match start_init() {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(init));
                // `_alive` (the pipe's write end) stays open as long as this
                // thread runs.
                for job in rx {
                    job();
                }
            })
            .map_err(|e| NetError::os("start the process spawner", e))?;
        let init = ready_rx
            .recv()
            .map_err(|_| NetError::Other("the process spawner died".into()))
            .and_then(|r| r);
        match init {
            Ok(init) => Ok(PidNs {
                tx: Some(tx),
                thread: Some(thread),
                init,
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        let gone = || std::io::Error::other("the process spawner stopped");
        let (rtx, rrx) = mpsc::sync_channel(1);
        let mut cmd = cmd;
        let job: Job = Box::new(move || {
            let _ = rtx.send(cmd.spawn());
        });
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        rrx.recv().map_err(|_| gone())?
    }

    /// SIGKILL to the init: the kernel then kills every process in the
    /// namespace. The init is reaped once it is gone, which is only after
    /// nslab has reaped its own children in the namespace (the caller does;
    /// at most 2 s are spent waiting here).
    fn kill(mut self, reap: impl FnOnce()) {
        // SAFETY: plain syscalls on the init this lab forked.
        unsafe {
            libc::kill(self.init, libc::SIGKILL);
        }
        reap();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let mut status = 0;
            // SAFETY: as above.
            let r = unsafe { libc::waitpid(self.init, &mut status, libc::WNOHANG) };
            if r != 0 || Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PidNs {
    fn drop(&mut self) {
        // The thread's exit alone would end the init (PDEATHSIG) and with it
        // the namespace; killing it first makes that immediate.
        if self.thread.is_some() {
            // SAFETY: a plain syscall on the init this lab forked.
            unsafe {
                libc::kill(self.init, libc::SIGKILL);
            }
            self.stop_thread();
        }
    }
}

/// On the spawner thread: enters a new PID namespace for its children and
/// forks its init. Returns the init's pid and the write end of a pipe the
/// init uses to tell whether nslab was still alive when it asked for
/// PDEATHSIG; the thread keeps that end open for its whole life.
fn start_init() -> Result<(i32, OwnedFd)> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)
        .map_err(|e| NetError::errno("create a PID namespace", e))?;
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| NetError::errno("create a pipe", e))?;
    let (rd_raw, wr_raw) = (rd.as_raw_fd(), wr.as_raw_fd());
    // SAFETY: after fork the child runs only async-signal-safe calls
    // (prctl, close, poll, sigaction, pause, _exit) on values prepared
    // before the fork, and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(NetError::os(
            "start the PID namespace's init",
            std::io::Error::last_os_error(),
        ));
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe { init(rd_raw, wr_raw) }
    }
    drop(rd);
    Ok((pid, wr))
}

/// The PID namespace's init (pid 1): holds the namespace open until it is
/// killed. It dies with the spawner thread (PDEATHSIG), and the kernel then
/// kills everything else in the namespace. Orphans are reparented to it;
/// SIGCHLD ignored makes the kernel reap them.
///
/// # Safety
/// Only in the child right after fork: async-signal-safe calls only.
unsafe fn init(rd: i32, wr: i32) -> ! {
    // SAFETY: async-signal-safe syscalls on plain values.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            libc::_exit(1);
        }
        // Had nslab died before the prctl, no signal would come: its end
        // of the pipe is then closed, and the poll says so (POLLHUP).
        libc::close(wr);
        let mut p = libc::pollfd {
            fd: rd,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut p, 1, 0) != 0 {
            libc::_exit(0);
        }
        // Whatever nslab had open (namespaces, sockets, the pipes of other
        // children) would stay open as long as the init: close it all.
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..65536 {
                libc::close(fd);
            }
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_IGN;
        // Every signal number Linux has (_NSIG is 64); invalid ones fail.
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
        loop {
            libc::pause();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cgroup2_mounts_with_their_roots() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                  35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
                  50 31 0:38 /lab /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(
            cgroup2_mounts(mi),
            vec![
                ("/".to_string(), PathBuf::from("/sys/fs/cgroup/unified")),
                ("/lab".to_string(), PathBuf::from("/mnt/my cg")),
            ]
        );
    }

    #[test]
    fn refuses_paths_that_are_not_an_nslab_cgroup() {
        for p in [
            "relative/nslab-x",
            "/sys/fs/cgroup/unified/../nslab-x",
            "/sys/fs/cgroup/unified/./nslab-x",
            "/sys/fs/cgroup/unified/system.slice",
            "/tmp/nslab-x",
            "/",
        ] {
            assert!(check_cgroup_path(Path::new(p)).is_err(), "{p} accepted");
        }
    }

    #[test]
    fn cgroup_names_keep_only_safe_characters() {
        assert_eq!(cgroup_name("my lab/x", 42), "nslab-my_lab_x-42");
        let p = Path::new("/sys/fs/cgroup/nslab-a.b-7");
        assert!(is_cgroup_of(p, "a.b", 7));
        assert!(!is_cgroup_of(p, "a.b", 8));
        assert!(!is_cgroup_of(Path::new("/sys/../nslab-a.b-7"), "a.b", 7));
        assert!(!is_cgroup_of(Path::new("nslab-a.b-7"), "a.b", 7));
    }
}
