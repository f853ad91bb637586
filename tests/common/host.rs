//! A private host: root of its own user, mount and network namespaces with a
//! private /run, where nslab runs in plain host mode and the test looks at
//! the "host" before and after it, from outside. The shell helpers in
//! `SH_LIB` are the one copy of the residue check and of the polling loops.

use super::tools::{need_host_tools, tool};
use super::{Dir, Out, bin, out};
use std::process::Command;

/// Shell functions every test shell gets:
/// - `snap` prints the network state of the namespace it runs in:
///   namespaces, links, addresses, routes, policy rules, permanent neighbour
///   entries, nf_tables rules, sysctls. (An IPv6 address's DAD state,
///   "tentative" for its first second or so, is the kernel's progress, not
///   a change.)
/// - `dev_sysctls LINK`: the per-device sysctls of a link (a link moved away
///   and back gets the namespace's defaults unless nslab gives its own back).
/// - `no_trace [BEFORE [AFTER [WORD]]]`: snaps again into AFTER (`after`)
///   and prints WORD (`SAME`) on a line of its own when nothing changed
///   since BEFORE (`before`), else the difference.
/// - `wait_until COND [SECONDS]`, `wait_while COND [SECONDS]`: poll COND (a
///   shell command, quiet) every 20 ms, at most SECONDS (5); 1 on timeout.
pub const SH_LIB: &str = r#"
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
dev_sysctls() {
  for f in /proc/sys/net/ipv4/conf/$1/* /proc/sys/net/ipv6/conf/$1/* /proc/sys/net/ipv4/neigh/$1/* /proc/sys/net/ipv6/neigh/$1/*; do
    echo "$f=$(cat $f 2>/dev/null)"
  done
}
no_trace() {
  snap > "${2:-after}"
  diff -u "${1:-before}" "${2:-after}" && echo "${3:-SAME}"
}
wait_until() { _poll 0 "$@"; }
wait_while() { _poll 1 "$@"; }
_poll() {
  _w=0
  while eval "$2" >/dev/null 2>&1; [ $(( $? != 0 )) -ne "$1" ]; do
    [ $_w -ge $(( ${3:-5} * 50 )) ] && return 1
    sleep 0.02; _w=$((_w+1))
  done
}
"#;

/// What a private host's shell runs first: a private /run, lo up, the
/// helpers, and `cd $DIR`.
fn prelude(sh: &str) -> String {
    format!(
        "set -u\nmount -t tmpfs tmpfs /run && mkdir -p /run/netns\nip link set lo up\n{SH_LIB}\ncd \"$DIR\"\n{sh}"
    )
}

/// Runs `sh` as root of a private host. `$NSLAB` is the binary, `$DIR` the
/// test's directory (the shell's cwd), the `SH_LIB` helpers are defined.
pub fn private_host(dir: &Dir, sh: &str) -> Out {
    out(private_host_command(&prelude(sh))
        .env("DIR", dir.path())
        .output()
        .expect("run unshare (util-linux)"))
}

/// `private_host` for a pseudo-terminal (see `Repl::spawn`).
pub fn private_host_pty(dir: &Dir, sh: &str) -> Command {
    let mut c = private_host_command(&prelude(sh));
    c.env("DIR", dir.path())
        .env("NSLAB_HISTORY", dir.path().join("history"))
        .env("TERM", "xterm");
    c
}

/// `private_host` whose user namespace maps the ids 0..65536 as themselves
/// (not root alone), so daemons that switch to a user of their own (FRR)
/// run as on the machine. unshare's own mapping of many ids needs
/// newuidmap and a grant in /etc/subuid: root outside (this process)
/// writes the maps instead, while the shell waits on stdin.
pub fn private_host_all_ids(dir: &Dir, sh: &str) -> Out {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = private_host_mapped(&format!("read go\n{}", prelude(sh)), &[])
        .env("DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare (util-linux)");
    let pid = child.id();
    // unshare execs sh in the same process once its namespaces exist.
    for file in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{file}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::write(&path, "0 0 65536\n").is_err() {
            assert!(Instant::now() < deadline, "cannot write {path}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("start the private host");
    drop(stdin);
    out(child.wait_with_output().expect("wait for unshare"))
}

/// `leaves_no_trace` in a private host of `private_host_all_ids`.
pub fn leaves_no_trace_all_ids(dir: &Dir, sh: &str) -> Out {
    let o = private_host_all_ids(dir, &format!("snap > before\n{sh}\nno_trace\n"));
    assert_no_trace(&o, "SAME");
    o
}

/// The residue check: runs `sh` in a private host between a snapshot
/// before and one after (`no_trace`), and asserts the host is as it was.
pub fn leaves_no_trace(dir: &Dir, sh: &str) -> Out {
    let o = private_host(dir, &format!("snap > before\n{sh}\nno_trace\n"));
    assert_no_trace(&o, "SAME");
    o
}

/// Asserts a private host's shell printed `word` on a line of its own (what
/// `no_trace` prints when the host is as before).
pub fn assert_no_trace(o: &Out, word: &str) {
    assert!(
        o.stdout.lines().any(|l| l == word),
        "the host is not as it was (no '{word}'):\n{}",
        o.all()
    );
}

/// `sh -c script` as root of a fresh private host (own user, mount and
/// network namespaces), with `$NSLAB` set to the binary.
pub fn private_host_command(script: &str) -> Command {
    private_host_mapped(script, &["--map-root-user"])
}

/// `private_host_command` with other id mapping options for unshare (none:
/// the caller writes the maps itself).
pub fn private_host_mapped(script: &str, map: &[&str]) -> Command {
    let opts = [
        &["--user"],
        map,
        &["--net", "--mount", "--propagation", "private"],
    ]
    .concat();
    unshare_sh(&opts, script)
}

/// `unshare OPTS… sh -c script`, with `$NSLAB` set to the binary.
pub fn unshare_sh(opts: &[&str], script: &str) -> Command {
    need_host_tools();
    let mut c = tool("unshare");
    c.args(opts)
        .args(["sh", "-c", script])
        .env("NSLAB", bin())
        .env("NO_COLOR", "1");
    c
}

/// `sh -c script` in `dir` on the test's own host (for isolated labs, which
/// need no private host), with `$NSLAB` the binary and the `SH_LIB` helpers.
pub fn host_sh(dir: &Dir, script: &str) -> Out {
    out(Command::new("sh")
        .arg("-c")
        .arg(format!("set -u\n{SH_LIB}\n{script}"))
        .current_dir(dir.path())
        .env("NSLAB", bin())
        .env("NO_COLOR", "1")
        .output()
        .expect("run sh"))
}

/// `private_host` in a new directory holding `files` (name, text).
pub fn in_private_host(files: &[(&str, &str)], sh: &str) -> Out {
    private_host(&Dir::with(files), sh)
}
