//! Crash safety: a lab of 20 namespaces with host veths, host sysctls, nft
//! rules and spawned process trees is killed with SIGKILL at random moments
//! of its life; after `nslab down --all` the private host must be exactly as
//! before, every time: links, addresses, routes, every `net.*` sysctl, the
//! nft ruleset, processes, the files under /run and the mounts.
//!
//! "Before" is taken after one finished run: the first lab on a machine
//! makes /run/nslab and makes /run/netns a shared mount point (as
//! `ip netns add` does), and both stay, as they do for iproute2.

use crate::common::*;

const TRIALS: usize = 30;

fn lab(marker: &str) -> String {
    format!(
        r#"
let h = host();
let sw = netns("sw");
let br = bridge(sw, "br0");
let hosts = [];
for i in 0..20 {{
    let n = netns(`n${{i}}`);
    let e = veth(n, "eth0", sw, `p${{i}}`);
    br.attach(e[1]);
    e[0].addr(`10.70.0.${{i + 2}}/24`);
    hosts.push(n);
}}
let up = veth(h, "core0", sw, "up0");
br.attach(up[1]);
up[0].addr("10.70.0.1/24");
let hb = bridge(h, "hbr0");
h.forwarding(true);
h.sysctl("net.ipv4.conf.all.rp_filter", "2");
masquerade(h, "10.70.0.0/24", "core0");
h.accept(#{{chain: "input", proto: "tcp", dport: 9999}});
hosts[0].spawn("sleep {marker}; true");
hosts[1].spawn(["sleep", "{marker}"]);
hosts[2].spawn("setsid sleep {marker}");
h.spawn("sleep {marker} & sleep {marker}; true");
hosts[3].exec("sleep {marker} &");
print("ready");
h.exec("sleep 30");
"#
    )
}

/// State of the namespace it runs in, beyond `snap`: every net.* sysctl,
/// the files under /run and the mount points.
const SNAP_ALL: &str = r#"
snap_all() {
  snap
  echo "== net sysctls"
  find /proc/sys/net -type f 2>/dev/null | grep -v -E 'nf_conntrack_count|/stable_secret$|flush$' | sort | while read -r f; do echo "$f=$(cat "$f" 2>/dev/null)"; done
  echo "== run"; find /run 2>/dev/null | sort
  echo "== mounts"; awk '{print $5, $9}' /proc/self/mountinfo | sort
}
"#;

/// Runs TRIALS kills of the lab started by `run` (a shell command line
/// running lab.rhai, which prints "ready"), in a private host.
fn trials(mode: &str, run: &str) -> Out {
    let d = Dir::new();
    let marker = marker();
    // A pattern that finds `sleep MARKER` but not the shell whose script
    // holds the pattern itself.
    let pat = format!("sleep [{}]{}", &marker[..1], &marker[1..]);
    d.write("lab.rhai", &lab(&marker));
    d.write(
        "quick.rhai",
        "let n = netns(\"q\");\nhost().forwarding(true);\n",
    );
    let sh = format!(
        r#"{SNAP_ALL}
{run} quick.rhai >/dev/null 2>&1
{run} lab.rhai > warm.out 2>&1 &
pid=$!
t0=$(date +%s%N)
i=0; until grep -q ready warm.out || [ $i -gt 1500 ]; do sleep 0.01; i=$((i+1)); done
t=$(( ($(date +%s%N) - t0) / 1000000 ))
kill $pid; wait $pid
"$NSLAB" down --all >/dev/null 2>&1
grep -q 'built rootless' warm.out && echo "(rootless)"
echo "ready after ${{t}} ms"
snap_all > before
bad=0
for ms in $(awk -v n={TRIALS} -v t="$t" -v s="$$" 'BEGIN {{ srand(s); for (i = 0; i < n; i++) printf "%d ", rand() * t * 1.2 }}'); do
  {run} lab.rhai > run.out 2>&1 &
  pid=$!
  sleep "$(awk -v k="$ms" 'BEGIN {{ printf "%.3f", k / 1000 }}')"
  kill -9 $pid; wait $pid 2>/dev/null
  "$NSLAB" down --all > down.out 2>&1 || {{ echo "down failed after $ms ms:"; cat down.out; }}
  wait_while "pgrep -f '{pat}'" 2
  if pgrep -a -f '{pat}'; then echo "processes left after a kill at $ms ms"; bad=$((bad+1)); pkill -9 -f '{pat}'; fi
  snap_all > after
  if ! diff -u before after > diff.out; then echo "state differs after a kill at $ms ms:"; cat diff.out; echo "nslab said:"; cat run.out; echo "down said:"; cat down.out; bad=$((bad+1)); snap_all > before; fi
done
echo "trials with leftovers: $bad"
"#
    );
    let o = private_host(&d, &sh);
    let out = o.all();
    o.because("the lab never got ready").says(&[" ms\n"]);
    assert!(
        o.stdout.contains("trials with leftovers: 0\n"),
        "{mode}: not clean every time:\n{out}"
    );
    o
}

#[test]
fn host_mode_survives_kill_9_at_any_moment() {
    let o = trials("host", "\"$NSLAB\" run");
    o.lacks(&["(rootless)"]);
}

#[test]
fn isolated_mode_survives_kill_9_at_any_moment() {
    trials("isolated", "\"$NSLAB\" run --isolated");
}

/// Rootless: nslab as a user without privileges over the private host (uid
/// 1000 of a user namespace of its own), which makes it build rootless.
#[test]
fn rootless_mode_survives_kill_9_at_any_moment() {
    let o = trials(
        "rootless",
        "unshare --user --map-user=1000 --map-group=1000 \"$NSLAB\" run",
    );
    o.says(&["(rootless)"]);
}
