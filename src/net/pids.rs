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

/// The routing daemons among `programs` (FRR's and BIRD), as a graph
/// labels a node: "FRR ospfd bgpd", "BIRD". FRR's zebra and staticd run
/// with every FRR and say nothing of the protocols.
pub fn routing_daemons(programs: &[String]) -> Vec<String> {
    const FRR: [&str; 15] = [
        "ospfd", "ospf6d", "bgpd", "isisd", "ripd", "ripngd", "babeld", "eigrpd", "ldpd", "pimd",
        "pim6d", "bfdd", "fabricd", "vrrpd", "pbrd",
    ];
    let frr: Vec<&str> = FRR
        .iter()
        .copied()
        .filter(|d| programs.iter().any(|p| p == d))
        .collect();
    let mut out = Vec::new();
    if !frr.is_empty() {
        out.push(format!("FRR {}", frr.join(" ")));
    } else if programs.iter().any(|p| p == "zebra") {
        out.push("FRR".to_string());
    }
    if programs.iter().any(|p| p == "bird" || p == "bird6") {
        out.push("BIRD".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemons_by_suite() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            routing_daemons(&p(&["bash", "bgpd", "ospfd", "staticd", "zebra"])),
            ["FRR ospfd bgpd"]
        );
        assert_eq!(routing_daemons(&p(&["zebra", "bird"])), ["FRR", "BIRD"]);
        assert!(routing_daemons(&p(&["python3"])).is_empty());
    }
}
