//! Isolated and rootless mode: nslab moves itself into its own user, mount
//! and network namespaces, so the "host" a script sees is private and nothing
//! it builds can outlive the process.
//!
//! `unshare(CLONE_NEWUSER)` fails once a process has a second thread, so this
//! runs first in `main`, before the runtime, the worker or anything else.

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getegid, geteuid};

pub mod ids;

/// Why isolation could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    #[error("cannot create private namespaces for the lab: {0}")]
    Unshare(nix::errno::Errno),
    #[error("cannot map user ids into the private namespace: {0}")]
    Map(std::io::Error),
    #[error("cannot set up private mounts ({what}): {errno}")]
    Mount {
        what: &'static str,
        errno: nix::errno::Errno,
    },
}

impl IsolateError {
    pub fn help(&self) -> String {
        match self {
            IsolateError::Unshare(_) => "this kernel does not let this user create user namespaces: run nslab as root (sudo nslab run …), or allow them with `sysctl -w kernel.unprivileged_userns_clone=1` (Debian) / `kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu)".into(),
            IsolateError::Map(_) => "check /proc/self/uid_map is writable (it is, unless a security module forbids it); or run nslab as root".into(),
            IsolateError::Mount { .. } => "nslab needs to mount a private /run/netns; run it as root, or report this with your kernel version".into(),
        }
    }
}

/// The directories `enter` covered with mounts of its own: what is written
/// there vanishes with the lab.
static PRIVATE: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();

/// Directories private to this process (isolated and rootless mode): a file
/// meant to outlive the lab (a capture) must not go there.
pub fn private_dirs() -> &'static [&'static str] {
    PRIVATE.get().copied().unwrap_or(&[])
}

/// Which user and group ids the lab's user namespace maps (isolated and
/// rootless mode); None in host mode.
static IDS: std::sync::OnceLock<ids::Ids> = std::sync::OnceLock::new();

/// Which ids exist in the lab's user namespace: None in host mode, where
/// every id of the machine does.
pub fn ids() -> Option<ids::Ids> {
    IDS.get().copied()
}

/// Was nslab started by root (before isolation made everyone root)?
pub fn is_root_outside() -> bool {
    ROOT_OUTSIDE.get().copied().unwrap_or_else(is_root)
}

static ROOT_OUTSIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub fn is_root() -> bool {
    geteuid().is_root()
}

/// Enters fresh user + mount + network namespaces, mapping the current user
/// to root inside, and gives /run/netns and /run/nslab private tmpfs mounts.
pub fn enter() -> Result<(), IsolateError> {
    let (uid, gid) = (geteuid(), getegid());
    let _ = ROOT_OUTSIDE.set(uid.is_root());
    ids::remember_caller(uid);
    // Root's files for the user are made from outside (see `opener`); a
    // user without root keeps their own rights inside and needs none.
    if uid.is_root() {
        crate::opener::start(crate::owner::create_here).map_err(IsolateError::Map)?;
    }
    // The maps with more than our own id are written from outside the new
    // namespace, by a child that stays behind (see ids.rs).
    let mapper = ids::Mapper::start(uid, gid);
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET)
        .map_err(IsolateError::Unshare)?;
    let mapped = mapper.and_then(ids::Mapper::map);
    let _ = IDS.set(mapped.unwrap_or(ids::Ids::OwnOnly));
    if mapped.is_none() {
        // Once inside, even root has no capability left in the parent user
        // namespace, so it may map only its own ids (like `unshare -r`), and
        // only after giving up setgroups.
        fs::write("/proc/self/setgroups", "deny").map_err(IsolateError::Map)?;
        fs::write("/proc/self/uid_map", format!("0 {uid} 1\n")).map_err(IsolateError::Map)?;
        fs::write("/proc/self/gid_map", format!("0 {gid} 1\n")).map_err(IsolateError::Map)?;
    }
    // Nothing mounted from here on may leak to the real host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|errno| IsolateError::Mount { what: "/", errno })?;
    let tmpfs = |dir: &str| {
        mount(
            Some("nslab"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .map_err(|errno| IsolateError::Mount {
            what: "tmpfs",
            errno,
        })
    };
    // The whole of /run is the lab's own: /run/netns and /run/nslab for
    // its namespaces and journal, and room for the run directories its
    // nodes' daemons expect (/run/frr, /run/bird), made there without
    // leaving a trace on the real host, even after a crash.
    let _ = PRIVATE.set(&["/run", "/var/tmp", "/sys"]);
    tmpfs("/run")?;
    for d in ["/run/netns", "/run/nslab"] {
        fs::create_dir_all(d).map_err(IsolateError::Map)?;
    }
    // The lab's programs keep their temporary files (FRR: its crash logs
    // in /var/tmp/frr, made there when missing) where they vanish with
    // the lab, never on the machine's disk. Best effort: a machine
    // without /var/tmp has nothing to hide.
    if Path::new("/var/tmp").is_dir() {
        mount(
            Some("nslab"),
            "/var/tmp",
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777"),
        )
        .map_err(|errno| IsolateError::Mount {
            what: "tmpfs on /var/tmp",
            errno,
        })?;
    }
    // Programs run in the private "host" should see its interfaces in /sys,
    // not the real host's. Best effort: a /sys locked by the user namespace
    // gets the fresh one stacked on top.
    let _ = mount(
        Some("nslab"),
        "/sys",
        Some("sysfs"),
        MsFlags::empty(),
        None::<&str>,
    );
    Ok(())
}
