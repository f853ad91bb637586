//! The outside programs the tests use as independent observers, and the
//! Debian package of each: a test whose tool is missing fails saying what to
//! install, not with "No such file or directory". `.ci/run` installs them
//! all (a docs test checks that it and README.md list the same packages).

use std::process::Command;
use std::sync::OnceLock;

/// (program, Debian package).
pub const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("setpriv", "util-linux"),
    ("pgrep", "procps"),
    ("nft", "nftables"),
    ("script", "bsdutils"),
    ("ping", "iputils-ping"),
    ("python3", "python3"),
    ("tcpdump", "tcpdump"),
    ("dot", "graphviz"),
    ("groff", "groff-base"),
    ("zsh", "zsh"),
    ("fish", "fish"),
    ("newuidmap", "uidmap"),
    ("vtysh", "frr"),
    ("bird", "bird2"),
];

/// Where `prog` is, looking in PATH and the sbin directories a non-root
/// PATH lacks (`nft` lives in /usr/sbin).
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| std::path::Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// Panics with the package to install when `prog` is missing.
pub fn need(prog: &str) {
    if which(prog).is_some() {
        return;
    }
    let package = TOOLS
        .iter()
        .find(|(p, _)| *p == prog)
        .map_or(prog, |(_, pkg)| pkg);
    panic!(
        "this test needs `{prog}`, which is not installed: apt install {package} \
         (.ci/run installs every package the tests use; README.md lists them)"
    );
}

/// `Command::new(prog)` once `prog` is known to be there.
pub fn tool(prog: &str) -> Command {
    need(prog);
    Command::new(prog)
}

/// The tools every private host's shell helpers use (`snap`, `no_trace`):
/// checked once per test binary.
pub fn need_host_tools() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        for prog in ["unshare", "ip", "pgrep", "nft"] {
            need(prog);
        }
    });
}
