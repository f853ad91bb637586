//! Network namespaces: `ip netns add/del/list`, without forking.
//!
//! `setns` changes only the calling thread, so all namespace-bound work
//! (creating a namespace, opening its sockets, touching its sysctls) runs on
//! one dedicated worker thread that enters the target namespace and comes back
//! home afterwards. Sockets opened there stay bound to that namespace for good,
//! so the rest of nslab (the tokio runtime on the main thread included) never
//! calls `setns` at all. (Short-lived threads of their own do too: the ones
//! that unmount a run of namespaces side by side, and net/nftlib.rs's.)

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use super::{NetError, Result};

/// Where `ip netns` keeps the bind mounts that give namespaces their names.
pub const NETNS_DIR: &str = "/run/netns";

type Job = Box<dyn FnOnce() + Send>;

/// A thread that runs closures inside a given network namespace.
pub struct NsWorker {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Opens the calling thread's own network namespace.
pub fn open_current() -> Result<OwnedFd> {
    open_ns_file(Path::new("/proc/thread-self/ns/net"))
}

fn open_ns_file(path: &Path) -> Result<OwnedFd> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| NetError::os("open namespace", e))
}

/// Path of a named namespace.
pub fn named_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Opens a namespace by name (`/run/netns/NAME`).
pub fn open_named(name: &str) -> Result<OwnedFd> {
    open_ns_file(&named_path(name))
}

/// `ip netns list`: the names under /run/netns, sorted.
pub fn list_named() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(NETNS_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `ip netns del NAME`: detach the bind mount and remove the file. The
/// namespace itself goes once nothing else holds it.
pub fn delete_named(name: &str) -> Result<()> {
    let path = named_path(name);
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(NetError::errno("unmount namespace", e)),
    }
    fs::remove_file(&path).map_err(|e| NetError::os("remove namespace file", e))
}

/// What is under a namespace's name in /run/netns.
pub enum NameState {
    Missing,
    /// A namespace is mounted there: its nsfs device and inode.
    Namespace(u64, u64),
    /// An empty file of /run/netns itself: a name whose mount never came
    /// (the process naming it died in between, as `ip netns add` can too).
    Unmounted,
    /// Something else.
    Other,
}

/// The identity of a namespace: (device, inode) of its nsfs file.
pub fn identity(ns: BorrowedFd<'_>) -> Result<(u64, u64)> {
    let st = nix::sys::stat::fstat(ns).map_err(|e| NetError::errno("stat namespace", e))?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// The cookie of the calling thread's network namespace (SO_NETNS_COOKIE,
/// Linux 5.14): a number the kernel never hands out twice while it runs.
/// The nsfs inode is not enough to know a namespace again: it comes from an
/// allocator that hands out the lowest free number, so a namespace made
/// after another is gone often gets its inode (seen: `nslab down` of a dead
/// lab deleting a namespace a later lab made under the same name).
/// `None` on a kernel without it.
pub fn cookie_here() -> Result<Option<u64>> {
    cookie_of_socket(&unix_socket()?)
}

/// For a namespace just made, from inside it: `ip link set lo up` and its
/// cookie (see `cookie_here`), through one socket. An ioctl on the worker
/// that makes the namespace ahead, rather than a netlink request from the
/// main thread once it is named: the script's thread waits for one round
/// trip less per namespace.
pub fn fresh_here() -> Result<Option<u64>> {
    let s = unix_socket()?;
    // SAFETY: ifreq is plain data; the kernel reads and writes only it.
    unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, c) in ifr.ifr_name.iter_mut().zip(b"lo") {
            *d = *c as libc::c_char;
        }
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0
            || ({
                ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr)
            }) < 0
        {
            return Err(NetError::os("bring lo up", std::io::Error::last_os_error()));
        }
    }
    cookie_of_socket(&s)
}

/// From inside the namespace: gives link `name` (a veth end) a receive
/// queue of its own, so that another lab's traffic on this machine cannot
/// crowd this link's packets out. A veth hands what it sends to the CPU's
/// input backlog, which every namespace shares (`net.core.netdev_max_backlog`
/// packets per CPU: a machine-wide drop, see `kstat`), unless the receiving
/// end has GRO on (it then has NAPI and a ring of its own) and the sending
/// end has TSO off (veth_skb_is_eligible_for_gro, drivers/net/veth.c). Both
/// ends get both. Costs TCP throughput: the sender segments in software
/// (here about a third of the rate over one veth).
pub fn own_queue_here(name: &str) -> Result<()> {
    // linux/ethtool.h: set TSO (all TSO features), set GRO.
    const ETHTOOL_STSO: u32 = 0x1f;
    const ETHTOOL_SGRO: u32 = 0x2c;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    let s = unix_socket()?;
    for (cmd, data, op) in [
        (ETHTOOL_STSO, 0, "turn a link's TSO off"),
        (ETHTOOL_SGRO, 1, "turn a link's GRO on"),
    ] {
        let mut v = EthtoolValue { cmd, data };
        // SAFETY: ifreq and the ethtool value are plain data that outlive
        // the call; the kernel reads the name and the value through the
        // pointer and writes nothing back for a set command.
        let rc = unsafe {
            let mut ifr: libc::ifreq = std::mem::zeroed();
            for (d, c) in ifr.ifr_name.iter_mut().zip(name.bytes().take(15)) {
                *d = c as libc::c_char;
            }
            ifr.ifr_ifru.ifru_data = (&mut v as *mut EthtoolValue).cast();
            libc::ioctl(s.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr)
        };
        if rc < 0 {
            return Err(NetError::os(op, std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn unix_socket() -> Result<OwnedFd> {
    // SAFETY: a plain syscall; the descriptor is owned from here on.
    unsafe {
        let s = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(NetError::os(
                "open a socket",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(<OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s))
    }
}

/// The cookie of the namespace socket `s` was opened in.
fn cookie_of_socket(s: &OwnedFd) -> Result<Option<u64>> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the option value is a u64 the kernel writes at most 8 bytes of.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOPROTOOPT) => Ok(None),
            _ => Err(NetError::os("read the namespace's cookie", e)),
        };
    }
    Ok(Some(cookie))
}

/// The cookie of namespace `ns` (see `cookie_here`), read by a worker
/// thread that enters it and comes back. One worker for the whole process,
/// started at the first call: `nslab down` reads a cookie per namespace,
/// and a thread started (and ended) for each cost more than the rest of
/// the check (`strace -c -f` of `down` of a kept star-1000: 1002 clone3,
/// 995 futex waits on their joins, 1.6 s of the wall time waiting).
pub fn cookie_of(ns: BorrowedFd<'_>) -> Result<Option<u64>> {
    static WORKER: std::sync::OnceLock<std::sync::Mutex<Option<NsWorker>>> =
        std::sync::OnceLock::new();
    let slot = WORKER.get_or_init(|| std::sync::Mutex::new(None));
    let mut worker = slot
        .lock()
        .map_err(|_| NetError::Other("the namespace cookie reader failed".into()))?;
    if worker.is_none() {
        *worker = Some(NsWorker::start_named("nslab-cookie")?);
    }
    match worker.as_ref() {
        Some(w) => w.run_in(ns, cookie_here),
        None => Err(NetError::Other("the namespace cookie reader failed".into())),
    }
}

/// Is `ns` the namespace a journal recorded as (dev, ino) and `cookie`?
/// Without a cookie to compare (a journal from before cookies, a kernel
/// without them) the (dev, ino) check is all there is.
pub fn is_recorded(ns: BorrowedFd<'_>, dev: u64, ino: u64, cookie: Option<u64>) -> Result<bool> {
    if identity(ns)? != (dev, ino) {
        return Ok(false);
    }
    let Some(want) = cookie else { return Ok(true) };
    Ok(cookie_of(ns)?.is_none_or(|got| got == want))
}

/// `is_recorded` for the namespace named NAME.
pub fn named_is_recorded(name: &str, dev: u64, ino: u64, cookie: Option<u64>) -> Result<bool> {
    let fd = open_named(name)?;
    is_recorded(std::os::fd::AsFd::as_fd(&fd), dev, ino, cookie)
}

/// `named_is_recorded`, the cookie read by the calling thread itself: it
/// enters the namespace and goes back to `home` (for threads that check
/// namespaces side by side; without `home`, the shared worker reads it).
pub fn named_is_recorded_here(
    name: &str,
    dev: u64,
    ino: u64,
    cookie: Option<u64>,
    home: Option<BorrowedFd<'_>>,
) -> Result<bool> {
    let Some(home) = home else {
        return named_is_recorded(name, dev, ino, cookie);
    };
    let fd = open_named(name)?;
    if identity(fd.as_fd())? != (dev, ino) {
        return Ok(false);
    }
    let Some(want) = cookie else { return Ok(true) };
    setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetError::errno("enter namespace", e))?;
    let got = cookie_here();
    setns(home, CloneFlags::CLONE_NEWNET).map_err(|e| NetError::errno("leave namespace", e))?;
    Ok(got?.is_none_or(|got| got == want))
}

/// What `/run/netns/NAME` holds now.
pub fn name_state(name: &str) -> Result<NameState> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::metadata(named_path(name)) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(NameState::Missing),
        Err(e) => return Err(NetError::os("look at namespace file", e)),
    };
    let dir = fs::metadata(NETNS_DIR).map_err(|e| NetError::os("look at /run/netns", e))?;
    Ok(if meta.dev() != dir.dev() {
        NameState::Namespace(meta.dev(), meta.ino())
    } else if meta.is_file() && meta.len() == 0 {
        NameState::Unmounted
    } else {
        NameState::Other
    })
}

/// Makes /run/netns a shared mount point, as `ip netns add` does, so names
/// made here are seen by `ip netns exec` from other mount namespaces.
fn prepare_netns_dir() -> Result<()> {
    // Once per process: re-sharing a directory that already holds hundreds
    // of namespace mounts costs time in proportion to them.
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    share_netns_dir()?;
    DONE.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

fn share_netns_dir() -> Result<()> {
    // 0755 whatever the umask, as `ip netns add` makes it: a /run/netns
    // others can write lets them plant the names (or links) a lab will use.
    let made = !Path::new(NETNS_DIR).exists();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(NETNS_DIR)
        .map_err(|e| NetError::os("create /run/netns", e))?;
    if made {
        fs::set_permissions(NETNS_DIR, fs::Permissions::from_mode(0o755))
            .map_err(|e| NetError::os("set the mode of /run/netns", e))?;
    }
    let shared = || {
        mount(
            None::<&str>,
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| NetError::errno("bind /run/netns", e))?;
            shared().map_err(|e| NetError::errno("share /run/netns", e))
        }
        Err(e) => Err(NetError::errno("share /run/netns", e)),
    }
}

impl NsWorker {
    pub fn start() -> Result<Self> {
        Self::start_named("nslab-ns")
    }

    fn start_named(name: &str) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .map_err(|e| NetError::os("start namespace worker", e))?;
        Ok(NsWorker {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> Result<()> {
        self.tx
            .as_ref()
            .ok_or_else(|| NetError::Other("namespace worker stopped".into()))?
            .send(job)
            .map_err(|_| NetError::Other("namespace worker stopped".into()))
    }

    fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (rtx, rrx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = rtx.send(f());
        });
        self.send(job)?;
        rrx.recv()
            .map_err(|_| NetError::Other("namespace worker died".into()))?
    }

    /// Runs `f` on the worker while it is inside the namespace `ns`.
    ///
    /// The caller keeps `ns` open until this returns (it blocks), which is
    /// why passing the raw descriptor across is sound.
    pub fn run_in<R: Send + 'static>(
        &self,
        ns: BorrowedFd<'_>,
        f: impl FnOnce() -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let raw: RawFd = ns.as_raw_fd();
        self.submit(move || {
            // SAFETY: the caller blocks until this job is done and keeps the fd open.
            inside(unsafe { BorrowedFd::borrow_raw(raw) }, f)
        })
    }

    /// `run_in`, but returns at once: the worker enters `ns` (a copy of
    /// the descriptor, so the caller need not keep it open) and runs `f`
    /// while the caller goes on; `Later::wait` takes the result. A first
    /// ping opened its socket there (a trip to the worker, 0.1-0.15 ms with
    /// its wake-ups) and only then did its own settling and snapshots.
    pub fn run_in_later<R: Send + 'static>(
        &self,
        ns: BorrowedFd<'_>,
        f: impl FnOnce() -> Result<R> + Send + 'static,
    ) -> Result<Later<R>> {
        let target = ns
            .try_clone_to_owned()
            .map_err(|e| NetError::os("copy a namespace descriptor", e))?;
        let (rtx, rrx) = mpsc::sync_channel(1);
        self.send(Box::new(move || {
            let _ = rtx.send(inside(target.as_fd(), f));
        }))?;
        Ok(Later(rrx))
    }

    /// `run_in` for each of `nss` in turn, in one trip to the worker: `f(i)`
    /// inside `nss[i]`; a result for each. (A probe of N namespaces opened
    /// its sockets with N round trips, each a wake-up of the worker and of
    /// the caller.)
    pub fn run_in_each<R: Send + 'static>(
        &self,
        nss: &[BorrowedFd<'_>],
        f: impl Fn(usize) -> Result<R> + Send + 'static,
    ) -> Result<Vec<Result<R>>> {
        let raws: Vec<RawFd> = nss.iter().map(|n| n.as_raw_fd()).collect();
        self.submit(move || {
            let home = open_current()?;
            let mut out = Vec::with_capacity(raws.len());
            for (i, raw) in raws.into_iter().enumerate() {
                // SAFETY: the caller blocks until this job is done and keeps the fds open.
                let target = unsafe { BorrowedFd::borrow_raw(raw) };
                out.push(
                    setns(target, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| NetError::errno("enter namespace", e))
                        .and_then(|_| f(i)),
                );
            }
            go_home(&home)?;
            Ok(out)
        })
    }

    /// Starts making a new, still unnamed namespace on the worker and runs
    /// `f` inside it (to open its sockets); returns at once. The worker runs
    /// jobs in order, so later jobs see it finished. While it works, the
    /// caller goes on: the kernel's part of making a namespace (~0.2 ms, much
    /// of it outside the rtnl lock) runs on another CPU than the caller's
    /// netlink requests.
    pub fn unshare_async<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<R> + Send + 'static,
    ) -> Result<Pending<R>> {
        let (rtx, rrx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let made = (|| {
                let home = open_current()?;
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| NetError::errno("create namespace", e))?;
                let made = open_current().and_then(|fd| Ok((fd, f()?)));
                go_home(&home)?;
                made
            })();
            let _ = rtx.send(made);
        });
        self.send(job)?;
        Ok(Pending(rrx))
    }
}

/// A namespace the worker is making (see [`NsWorker::unshare_async`]).
pub struct Pending<R>(mpsc::Receiver<Result<(OwnedFd, R)>>);

impl<R> Pending<R> {
    /// Waits for the namespace: its fd (which keeps it alive) and `f`'s result.
    pub fn wait(self) -> Result<(OwnedFd, R)> {
        self.0
            .recv()
            .map_err(|_| NetError::Other("namespace worker died".into()))?
    }

    /// A namespace that is already there, as a pending one.
    pub fn ready(made: (OwnedFd, R)) -> Pending<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        let _ = tx.send(Ok(made));
        Pending(rx)
    }
}

/// `ip netns add NAME` for a namespace that exists: bind-mounts it at
/// /run/netns/NAME. An existing name is an error (EEXIST), never reused.
pub fn give_name(ns: BorrowedFd<'_>, name: &str) -> Result<()> {
    prepare_netns_dir()?;
    let path = named_path(name);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)
        .map_err(|e| NetError::os("create namespace file", e))?;
    // Any thread can do this: the namespace is named through this process's
    // descriptor, not the thread's own namespace.
    let source = format!("/proc/self/fd/{}", ns.as_raw_fd());
    if let Err(e) = mount(
        Some(source.as_str()),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = fs::remove_file(&path);
        return Err(NetError::errno("bind-mount namespace", e));
    }
    Ok(())
}

/// Do new namespaces copy their device settings from the namespace that
/// makes them (`net.core.devconf_inherit_init_net` = 3)? Then a namespace
/// made ahead of time could miss a setting changed in between.
pub fn inherits_from_creator() -> bool {
    fs::read_to_string("/proc/sys/net/core/devconf_inherit_init_net").is_ok_and(|v| v.trim() == "3")
}

/// `f` on this thread inside namespace `ns`, then back home.
fn inside<R>(ns: BorrowedFd<'_>, f: impl FnOnce() -> Result<R>) -> Result<R> {
    let home = open_current()?;
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| NetError::errno("enter namespace", e))?;
    let out = f();
    go_home(&home)?;
    out
}

fn go_home(home: &OwnedFd) -> Result<()> {
    setns(home, CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetError::errno("return to home namespace", e))
}

/// The result of a job `run_in_later` gave the worker.
pub struct Later<R>(mpsc::Receiver<Result<R>>);

impl<R> Later<R> {
    /// A result already there, as a job's.
    pub fn done(out: Result<R>) -> Later<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        let _ = tx.send(out);
        Later(rx)
    }

    /// Waits for the job's result.
    pub fn wait(self) -> Result<R> {
        self.0
            .recv()
            .map_err(|_| NetError::Other("namespace worker died".into()))?
    }
}

impl Drop for NsWorker {
    /// Ends the worker without waiting for it. Every job but a namespace
    /// made ahead (`unshare_async`) has been waited for by its caller, and
    /// that one, not yet named, goes with the thread or the process. A join
    /// here was the last thread hand-off of `nslab run`: the main thread
    /// waited for the worker to be scheduled and to exit.
    fn drop(&mut self) {
        self.tx.take();
        self.thread.take();
    }
}
