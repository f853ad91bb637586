//! `sysctl -w net.…` — files under /proc/sys/net are per namespace: the
//! namespace is the one of the thread that opens the file, so these run on
//! the namespace worker (or, for a link's IPv6, through a directory opened
//! there: `open_ipv6_conf`).

use std::fs;
use std::io::Write;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::{NetError, Result};

/// The /proc/sys path of a `net.*` key. Keys use dots like sysctl(8); a key
/// written with slashes is taken as a path (for interface names with dots).
pub fn path_of(key: &str) -> PathBuf {
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    PathBuf::from("/proc/sys").join(rel)
}

/// `sysctl KEY` in the current thread's namespace.
pub fn read(key: &str) -> Result<String> {
    fs::read_to_string(path_of(key))
        .map(|s| s.trim_end().to_string())
        .map_err(|e| NetError::os("read sysctl", e))
}

/// `sysctl -w KEY=VALUE` in the current thread's namespace.
pub fn write(key: &str, value: &str) -> Result<()> {
    fs::write(path_of(key), format!("{value}\n")).map_err(|e| NetError::os("write sysctl", e))
}

/// A descriptor of `/proc/sys/net/ipv6/conf` in the current thread's
/// namespace. Files opened through it (`write_at`) belong to that namespace
/// whichever thread opens them: a lookup under a sysctl directory searches
/// the namespace the directory belongs to, and the IPv6 per-link handlers
/// act on the namespace of their table, not the writer's. So a thread
/// outside the namespace can set its links' IPv6 without entering it.
pub fn open_ipv6_conf() -> Result<OwnedFd> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open("/proc/sys/net/ipv6/conf")
        .map(OwnedFd::from)
        .map_err(|e| NetError::os("open sysctl directory", e))
}

/// `sysctl -w` of the file `rel` under `dir` (from `open_ipv6_conf`).
pub fn write_at(dir: BorrowedFd<'_>, rel: &str, value: &str) -> Result<()> {
    let fd = nix::fcntl::openat(
        dir,
        rel,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| NetError::errno("write sysctl", e))?;
    let mut f = fs::File::from(fd);
    f.write_all(format!("{value}\n").as_bytes())
        .map_err(|e| NetError::os("write sysctl", e))
}

/// The per-device tables under /proc/sys/net: a link's own copy of each is
/// made when it arrives in a namespace, from that namespace's defaults, so
/// moving a link away and back loses whatever was set on it.
pub const DEV_TABLES: [&str; 4] = ["ipv4/conf", "ipv6/conf", "ipv4/neigh", "ipv6/neigh"];

/// Every writable, readable key of link `dev` in the current thread's
/// namespace, as (table, key, value), tables in `DEV_TABLES` order and keys
/// sorted (so `base_reachable_time_ms` comes after its alias in seconds and
/// wins when both are written back). Keys that cannot be read (such as an
/// unset `stable_secret`) are left out: there is nothing to give back.
pub fn dev_keys(dev: &str) -> Result<Vec<(String, String, String)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for table in DEV_TABLES {
        let dir = PathBuf::from("/proc/sys/net").join(table).join(dev);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            // IPv6 compiled out, or the link is not there: nothing to keep.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(NetError::os("list sysctls", e)),
        };
        let mut keys: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o200 != 0)
            })
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect();
        keys.sort();
        for (key, path) in keys {
            if let Ok(v) = fs::read_to_string(&path) {
                out.push((table.to_string(), key, v.trim_end().to_string()));
            }
        }
    }
    Ok(out)
}

/// Writes back the keys `dev_keys` read, for link `dev` in the current
/// thread's namespace, where they differ now; returns the keys the kernel
/// refused, with why (the rest are still written). Keys that depend on
/// each other (`addr_gen_mode` 2 needs `stable_secret`, which sorts after
/// it) get a second pass once the others are in.
pub fn restore_dev_keys(dev: &str, keys: &[(String, String, String)]) -> Vec<String> {
    let mut left: Vec<&(String, String, String)> = keys.iter().collect();
    let mut refused = Vec::new();
    for _pass in 0..2 {
        refused.clear();
        left.retain(|(table, key, value)| {
            let path = PathBuf::from("/proc/sys/net")
                .join(table)
                .join(dev)
                .join(key);
            if fs::read_to_string(&path).is_ok_and(|now| now.trim_end() == value) {
                return false;
            }
            match fs::write(&path, format!("{value}\n")) {
                Ok(()) => false,
                Err(e) => {
                    refused.push(format!("{}.{dev}.{key}: {e}", table.replace('/', ".")));
                    true
                }
            }
        });
        if left.is_empty() {
            break;
        }
    }
    refused
}
