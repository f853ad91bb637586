//! `sysctl -w net.…` — files under /proc/sys/net are per namespace: the
//! namespace is the one of the thread that opens the file, so these run on
//! the namespace worker.

use std::fs;
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
