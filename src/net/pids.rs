//! `ip netns pids NS`: which programs run in a network namespace, found as
//! iproute2 finds them, by comparing each process's /proc/PID/ns/net with
//! the namespace. Whoever started them: nslab, a recipe, or a person with
//! `ip netns exec` from another terminal.

use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;

/// The names (`comm`) of the processes whose network namespace is `ns`,
/// sorted, each once. Processes that end meanwhile, or that this user may
/// not look at, are skipped.
pub fn programs_in(ns: BorrowedFd<'_>) -> Vec<String> {
    let Ok(me) = nix::sys::stat::fstat(ns) else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| {
            std::fs::metadata(e.path().join("ns/net"))
                .is_ok_and(|m| m.ino() == me.st_ino && m.dev() == me.st_dev)
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|c| c.trim_end().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}
