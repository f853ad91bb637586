//! Test helpers: run the real nslab binary against the real kernel, always in
//! private namespaces so the machine's own network is never touched.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nslab")
}

pub fn out(o: std::process::Output) -> Out {
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A directory holding the test's scripts, removed when dropped.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).expect("write script");
        p
    }
}

/// `nslab ARGS…` with NO_COLOR so reports are plain text.
pub fn nslab(args: &[&str], cwd: &Path) -> Out {
    out(Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run nslab"))
}

/// Runs a script with `nslab run --isolated`.
pub fn run_isolated(name: &str, text: &str) -> Out {
    let d = Dir::new();
    d.write(name, text);
    nslab(&["run", "--isolated", name], d.path())
}

/// A shell snippet that prints the network state of the namespace it runs in
/// (what `leftovers` compares): namespaces, links, addresses, routes,
/// policy rules, permanent neighbour entries, nf_tables rules, sysctls. (An
/// IPv6 address's DAD state, "tentative" for its first second or so, is the
/// kernel's progress, not a change.)
pub const SNAP: &str = r#"
snap() {
  echo "== netns"; ls -1 /run/netns 2>/dev/null | sort
  echo "== links"; ip -o -d link show | sed -E 's/^[0-9]+: //; s/ link\/.*//; s/ qlen [0-9]+//' | sort
  echo "== addresses"; ip -o addr show | sed -E 's/^[0-9]+: //; s/ valid_lft.*//; s/ tentative//' | sort
  echo "== routes"; ip -4 route show table all | sort; ip -6 route show table all | grep -v -E '^(local|multicast|anycast) ' | sort
  echo "== rules"; ip -4 rule show; ip -6 rule show
  echo "== neighbours"; ip neigh show nud permanent | sort
  echo "== nftables"; nft list ruleset
  echo "== sysctls"
  for k in net/ipv4/ip_forward net/ipv6/conf/all/forwarding net/ipv4/conf/all/rp_filter; do echo "$k=$(cat /proc/sys/$k)"; done
}
# The per-device sysctls of link $1 (a link moved away and back gets the
# namespace's defaults unless nslab gives its own back).
dev_sysctls() {
  for f in /proc/sys/net/ipv4/conf/$1/* /proc/sys/net/ipv6/conf/$1/* /proc/sys/net/ipv4/neigh/$1/* /proc/sys/net/ipv6/neigh/$1/*; do
    echo "$f=$(cat $f 2>/dev/null)"
  done
}
"#;

/// Runs `sh` as root of a private host: its own user, mount and network
/// namespaces with a private /run, where nslab runs in plain host mode. This
/// is how tests look at the "host" before and after nslab, from outside it.
/// `$NSLAB` is the binary, `$DIR` the test's directory, `snap` prints state.
pub fn private_host(dir: &Dir, sh: &str) -> Out {
    let script = format!(
        "set -u\nmount -t tmpfs tmpfs /run && mkdir -p /run/netns\nip link set lo up\n{SNAP}\ncd \"$DIR\"\n{sh}"
    );
    out(private_host_command(&script)
        .env("DIR", dir.path())
        .output()
        .expect("run unshare (util-linux)"))
}

/// `sh -c script` as root of a fresh private host (own user, mount and
/// network namespaces), with `$NSLAB` set to the binary.
pub fn private_host_command(script: &str) -> Command {
    private_host_mapped(script, &["--map-root-user"])
}

/// `private_host_command` with other id mapping options for unshare (none:
/// the caller writes the maps itself).
pub fn private_host_mapped(script: &str, map: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.arg("--user")
        .args(map)
        .args([
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
        ])
        .env("NSLAB", bin())
        .env("NO_COLOR", "1");
    c
}

/// Runs `exe` as an unprivileged user: `nobody` when the tests run as root.
pub fn unprivileged(exe: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(exe);
        c
    } else {
        Command::new(exe)
    }
}

/// Asserts a report names `file:line`, says `message` and helps with `help`.
pub fn assert_report(o: &Out, file_line: &str, message: &str, help: &str) {
    assert_eq!(o.code, 1, "expected exit 1\n{}", o.all());
    // miette wraps long lines: read the report as one line of words.
    let err = o.stderr.replace("\n  │ ", " ");
    let err = err.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        err.contains(file_line),
        "report does not point at {file_line}:\n{}",
        o.stderr
    );
    assert!(
        err.contains(message),
        "report does not say '{message}':\n{}",
        o.stderr
    );
    let h = err
        .find("help:")
        .unwrap_or_else(|| panic!("no help line:\n{}", o.stderr));
    assert!(
        err[h..].contains(help),
        "help does not say '{help}':\n{}",
        o.stderr
    );
    assert!(!err.contains("panicked"), "nslab panicked:\n{}", o.stderr);
}

/// Whether the tests run as root (then unprivileged runs use `nobody`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}
