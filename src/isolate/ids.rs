//! The user and group ids of the lab's user namespace. A process may map
//! only its own id into a namespace it just entered; more (root's full range,
//! a user's subordinate ids) must be written by a process that stays outside
//! with the right to do so: root itself, or the setuid `newuidmap` and
//! `newgidmap` (package uidmap) for the ranges /etc/subuid and /etc/subgid
//! grant, as Podman does. Daemons that switch to a user of their own (FRR,
//! BIRD, dnsmasq, nginx) need those ids to exist in the lab.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, User, fork, getpid};

/// Which ids the lab's user namespace maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Every id the caller's namespace has, each as itself (nslab as root).
    Full,
    /// Root (the caller) and `count` subordinate ids of the caller's.
    Subordinate { count: u32 },
    /// The caller alone, as root: no other user or group exists inside.
    OwnOnly,
}

/// Says what to do where a program needs another user than root inside a
/// lab that maps only the caller's own id.
pub fn own_only_help() -> String {
    let user = CALLER.get().map_or("USER", String::as_str);
    format!(
        "this rootless lab maps only your own user id, so programs cannot switch to a user of their own: \
         give your user subordinate ids (as root: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}`, \
         or add `{user}:100000:65536` to /etc/subuid and /etc/subgid) and install the uidmap package (newuidmap, newgidmap); \
         or run nslab as root"
    )
}

/// The caller's user name (or uid) as the machine knows it: inside the
/// lab everyone is root.
static CALLER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remembers who started nslab, before it becomes root of its namespace.
pub fn remember_caller(uid: Uid) {
    let name = User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    let _ = CALLER.set(name);
}

/// What the child outside writes into the new namespace's maps.
enum Plan {
    /// Root: the caller's own maps, each range as itself.
    Identity { uid_map: String, gid_map: String },
    /// A user with subordinate ids: through newuidmap/newgidmap.
    Helpers {
        newuidmap: PathBuf,
        newgidmap: PathBuf,
        uid: Uid,
        gid: Gid,
        subuid: (u32, u32),
        subgid: (u32, u32),
    },
}

impl Plan {
    fn new(uid: Uid, gid: Gid) -> Option<Plan> {
        if uid.is_root() {
            let uid_map = identity(&fs::read_to_string("/proc/self/uid_map").ok()?)?;
            let gid_map = identity(&fs::read_to_string("/proc/self/gid_map").ok()?)?;
            return Some(Plan::Identity { uid_map, gid_map });
        }
        let name = User::from_uid(uid).ok().flatten().map(|u| u.name);
        let subuid = subordinate(Path::new("/etc/subuid"), name.as_deref(), uid.as_raw())?;
        let subgid = subordinate(Path::new("/etc/subgid"), name.as_deref(), uid.as_raw())?;
        Some(Plan::Helpers {
            newuidmap: program("newuidmap")?,
            newgidmap: program("newgidmap")?,
            uid,
            gid,
            subuid,
            subgid,
        })
    }

    fn ids(&self) -> Ids {
        match self {
            Plan::Identity { .. } => Ids::Full,
            Plan::Helpers { subuid, subgid, .. } => Ids::Subordinate {
                count: subuid.1.min(subgid.1),
            },
        }
    }

    /// In the child outside: writes the maps of process `pid`.
    fn apply(&self, pid: Pid) -> bool {
        match self {
            Plan::Identity { uid_map, gid_map } => {
                fs::write(format!("/proc/{pid}/uid_map"), uid_map).is_ok()
                    && fs::write(format!("/proc/{pid}/gid_map"), gid_map).is_ok()
            }
            Plan::Helpers {
                newuidmap,
                newgidmap,
                uid,
                gid,
                subuid,
                subgid,
            } => {
                let run = |prog: &Path, own: u32, (start, count): (u32, u32)| {
                    std::process::Command::new(prog)
                        .arg(pid.to_string())
                        .args(["0", &own.to_string(), "1"])
                        .args(["1", &start.to_string(), &count.to_string()])
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                };
                run(newuidmap, uid.as_raw(), *subuid) && run(newgidmap, gid.as_raw(), *subgid)
            }
        }
    }
}

/// `inside outside count` lines as `inside inside count`: every id the
/// caller's namespace has, as itself. None when that is the caller alone
/// (nothing to gain over mapping one's own id).
fn identity(map: &str) -> Option<String> {
    let mut out = String::new();
    let mut total: u64 = 0;
    for line in map.lines() {
        let f: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let [inside, _, count] = f[..] else {
            return None;
        };
        total += count;
        out.push_str(&format!("{inside} {inside} {count}\n"));
    }
    (total > 1).then_some(out)
}

/// The first `name:start:count` (or `uid:start:count`) range of `who` in
/// /etc/subuid or /etc/subgid.
fn subordinate(file: &Path, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).ok()?;
    parse_subordinate(&text, name, uid)
}

fn parse_subordinate(text: &str, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let uid = uid.to_string();
    text.lines().find_map(|line| {
        let mut f = line.trim().split(':');
        let who = f.next()?;
        if Some(who) != name && who != uid {
            return None;
        }
        let start = f.next()?.parse().ok()?;
        let count: u32 = f.next()?.parse().ok()?;
        (count > 0).then_some((start, count))
    })
}

fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A child, forked before the caller enters its new user namespace, that
/// stays outside to write the namespace's maps once asked.
pub struct Mapper {
    child: Pid,
    sock: Option<UnixStream>,
    ids: Ids,
}

impl Mapper {
    /// None when there is nothing to map beyond the caller's own id, or
    /// the child cannot be made: the caller then maps its own id itself.
    /// Call before unshare, while the process has a single thread.
    pub fn start(uid: Uid, gid: Gid) -> Option<Mapper> {
        let plan = Plan::new(uid, gid)?;
        let parent = getpid();
        let (ours, theirs) = UnixStream::pair().ok()?;
        // SAFETY: single-threaded here (isolation runs first in main); the
        // child writes two files or runs two programs and leaves with _exit.
        match unsafe { fork() }.ok()? {
            ForkResult::Child => {
                drop(ours);
                // SAFETY: plain prctl: the child ends with nslab.
                unsafe {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                }
                let mut theirs = theirs;
                let mut go = [0u8; 1];
                let ok = matches!(theirs.read(&mut go), Ok(1)) && plan.apply(parent);
                let _ = theirs.write_all(&[u8::from(ok)]);
                // SAFETY: ends the child without running the parent's exit code.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => Some(Mapper {
                child,
                sock: Some(ours),
                ids: plan.ids(),
            }),
        }
    }

    /// After unshare: has the child write the maps. None when it could not
    /// (the caller maps its own id instead).
    pub fn map(mut self) -> Option<Ids> {
        let mut sock = self.sock.take()?;
        sock.write_all(&[1]).ok()?;
        let mut done = [0u8; 1];
        let ok = matches!(sock.read(&mut done), Ok(1)) && done[0] == 1;
        ok.then_some(self.ids)
    }
}

impl Drop for Mapper {
    fn drop(&mut self) {
        // Closing the socket unblocks a child never asked to map.
        self.sock.take();
        while let Ok(status) = waitpid(self.child, None) {
            if matches!(status, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_maps_every_range_as_itself() {
        assert_eq!(
            identity("         0          0 4294967295\n").as_deref(),
            Some("0 0 4294967295\n")
        );
        assert_eq!(
            identity("0 1000 1\n1 100000 65536\n").as_deref(),
            Some("0 0 1\n1 1 65536\n")
        );
        // A namespace that maps root alone (unshare -r) has nothing more.
        assert_eq!(identity("0 0 1\n"), None);
        assert_eq!(identity("0 x 1\n"), None);
    }

    #[test]
    fn subordinate_ranges_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(
            parse_subordinate(text, Some("alice"), 1000),
            Some((100000, 65536))
        );
        assert_eq!(
            parse_subordinate(text, Some("carol"), 1001),
            Some((200000, 1000))
        );
        assert_eq!(parse_subordinate(text, Some("bob"), 1002), None);
        assert_eq!(parse_subordinate(text, None, 7), None);
    }
}
