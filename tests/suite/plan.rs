//! `nslab plan`: for every script in scripts/, the plan made by an
//! unprivileged user, run as bash in a private host, builds the same
//! namespaces, links, addresses, routes, rules, sysctls and nft rules as
//! `nslab run --keep` of the script in another private host; and its
//! teardown leaves nothing.

use crate::common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

/// Prints the state the plan and the run are compared by, namespace by
/// namespace (the private host first), as JSON from `ip -j` and `nft -j`.
const STATE: &str = r#"
state() {
  for ns in . $(ls -1 /run/netns 2>/dev/null | sort); do
    if [ "$ns" = . ]; then x=""; else x="ip netns exec $ns"; fi
    echo "== ns $ns"
    echo "-- link"; $x ip -d -j link show
    echo "-- qdisc"; $x tc -j qdisc show
    echo "-- addr"; $x ip -j addr show
    echo "-- route4"; $x ip -j -4 route show table all
    echo "-- route6"; $x ip -j -6 route show table all
    echo "-- rule4"; $x ip -j -4 rule show
    echo "-- rule6"; $x ip -j -6 rule show
    echo "-- neigh"; $x ip -j neigh show nud permanent
    echo "-- nft"; $x nft -j list ruleset
    echo "-- sysctl"
    $x sh -c 'for k in net/ipv4/ip_forward net/ipv6/conf/all/forwarding net/ipv4/conf/all/rp_filter net/ipv4/conf/default/forwarding; do echo "$k=$(cat /proc/sys/$k)"; done'
  done
}
"#;

/// Keys that differ between two builds of the same lab: kernel-chosen
/// numbers, MACs, timers and carrier state (which depends on timing).
const VOLATILE: &[&str] = &[
    "ifindex",
    "address",
    "broadcast",
    "perm_address",
    "link_index",
    "link_netnsid",
    "handle",
    "operstate",
    "valid_life_time",
    "preferred_life_time",
    "expires",
    "metainfo",
    "packets",
    "bytes",
    "linkmode",
    "group",
    "qdisc",
    // STP: the bridge ids hold MACs, and which port blocks, the timers and
    // the topology state follow from them and from timing.
    "bridge_id",
    "root_id",
    "designated_root",
    "designated_bridge",
    "root_port",
    "root_path_cost",
    "designated_port",
    "designated_cost",
    "topology_change",
    "topology_change_detected",
    "topology_change_ack",
    "config_pending",
    // While the topology changes, STP ages entries out at forward_delay.
    "ageing_time",
];

fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, v| {
                // A port's STP state is a string (a neighbour's a list).
                let stp_state = k == "state" && v.is_string();
                !(VOLATILE.contains(&k.as_str()) || k.ends_with("_timer") || stp_state)
            });
            // Carrier flags follow timing; the administrative ones do not.
            if let Some(Value::Array(flags)) = m.get_mut("flags") {
                flags.retain(|f| {
                    !matches!(
                        f.as_str(),
                        Some("LOWER_UP" | "NO-CARRIER" | "M-DOWN" | "linkdown")
                    )
                });
            }
            // IPv6 link-local addresses come from the MACs.
            if let Some(Value::Array(a)) = m.get_mut("addr_info") {
                a.retain(|x| x.get("scope").and_then(Value::as_str) != Some("link"));
            }
            for (_, x) in m.iter_mut() {
                normalise(x);
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                normalise(x);
            }
            // Link-local routes, and the kernel's multicast ones.
            a.retain(|x| {
                let dst = x.get("dst").and_then(Value::as_str).unwrap_or("");
                !(dst.starts_with("fe80") || dst.starts_with("ff00"))
            });
            a.sort_by_key(|x| x.to_string());
        }
        Value::String(s) => {
            // The set marking whose table it is names the run.
            if let Some(i) = s.find("owner_") {
                s.truncate(i + "owner_".len());
            }
        }
        _ => {}
    }
}

/// The state as comparable text: one section per line, JSON normalised.
fn normalised(state: &str) -> String {
    let mut out = String::new();
    for line in state.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(t) {
            Ok(mut v) => {
                normalise(&mut v);
                out.push_str(&serde_json::to_string_pretty(&v).unwrap());
            }
            Err(_) => out.push_str(t),
        }
        out.push('\n');
    }
    out
}

/// Plans `name` as nobody, runs the plan and `nslab run --keep` in private
/// hosts, and returns why they differ (None: the same, and the plan's
/// teardown left the host as it was).
fn check_script(pubdir: &Nobody, name: &str) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name);
    check_plan(pubdir, name, &script)
}

/// As `check_script`, for `name` in `pubdir`, run from `script`.
fn check_plan(pubdir: &Nobody, name: &str, script: &Path) -> Option<String> {
    let o = pubdir.run_user_path(&["plan", name]);
    // A routing daemon's start is polled until it answers: no plan can
    // replay that, and the plan says so, naming the recipe's call.
    if name.starts_with("frr-") || name.starts_with("bird-") {
        let refused = o.code == 1
            && (o
                .stderr
                .contains("nslab plan has no shell commands yet for frr::router")
                || o.stderr
                    .contains("nslab plan has no shell commands yet for bird::router"));
        return (!refused)
            .then(|| format!("the plan did not refuse the daemon's recipe:\n{}", o.all()));
    }
    if o.code != 0 {
        return Some(format!("nslab plan failed:\n{}", o.stderr));
    }
    if !o.stdout.starts_with("#!/usr/bin/env bash") || !o.stdout.contains("\n# ") {
        return Some(format!("not a plan:\n{}", o.stdout));
    }

    let d = Dir::new();
    d.write("plan.sh", &o.stdout);
    d.write("state.sh", STATE);
    // The plan is sourced so that its teardown can run after the snapshot;
    // its own `set -e` stops it at the first command that fails.
    let sh = "snap > before\n\
        bash -c '. ./state.sh; NSLAB_PLAN_KEEP=1 . ./plan.sh > plan.out 2>&1; state > state; teardown' > /dev/null 2> err \
          || { echo PLAN FAILED; cat plan.out err; }\n\
        snap > after\n\
        diff -u before after > teardown.diff && echo TORN DOWN\n\
        bash ./plan.sh > plan2.out 2>&1 || { echo SECOND RUN FAILED; cat plan2.out; }\n\
        grep 'nslab plan: this probe' plan2.out\n\
        snap > after2\n\
        diff -u before after2 && echo CLEAN AGAIN\n\
        echo STATE; cat state";
    let planned = private_host_all_ids(&d, sh);
    if !planned.stdout.contains("TORN DOWN") {
        let diff = std::fs::read_to_string(d.path().join("teardown.diff")).unwrap_or_default();
        return Some(format!(
            "the plan failed or its teardown left something:\n{}\n{diff}",
            planned.all()
        ));
    }
    // Run as it is (teardown on exit), it succeeds, its probes answer as
    // they did in nslab's run, and it leaves nothing. (Except in the STP
    // ring: the plan repeats the script's polling loop as many times as it
    // ran, not until the tree settled, so the pings after it may come early
    // when the machine is busy.)
    let (checks, _) = planned.stdout.split_once("\nSTATE\n").unwrap_or_default();
    let probes_differ = checks.contains("nslab plan:") && name != "stp-ring.rhai";
    if !checks.contains("CLEAN AGAIN") || checks.contains("FAILED") || probes_differ {
        return Some(format!("the plan run as it is:\n{}", planned.all()));
    }

    let r = Dir::new();
    let lab = name.trim_end_matches(".rhai");
    r.write("state.sh", STATE);
    let sh = format!(
        ". ./state.sh\n\"$NSLAB\" run --keep '{}' > /dev/null 2> err || {{ echo RUN FAILED; cat err; }}\nstate\n\"$NSLAB\" down '{lab}' > /dev/null",
        script.display()
    );
    let ran = private_host_all_ids(&r, &sh);
    if ran.stdout.contains("RUN FAILED") {
        return Some(format!("nslab run --keep failed:\n{}", ran.all()));
    }
    let want = normalised(&ran.stdout);
    let got = normalised(planned.stdout.split_once("\nSTATE\n").unwrap().1);
    if want != got {
        let (w, g) = (r.path().join("want"), r.path().join("got"));
        std::fs::write(&w, &want).unwrap();
        std::fs::write(&g, &got).unwrap();
        let diff = std::process::Command::new("diff")
            .arg("-u")
            .arg(&w)
            .arg(&g)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        return Some(format!(
            "the plan builds another state than `nslab run --keep` (- run, + plan):\n{diff}"
        ));
    }
    None
}

/// Every script: planned without root, its plan builds what the script
/// builds, and undoes it.
#[test]
fn every_script_plans_to_the_state_the_run_builds() {
    let pubdir = as_nobody(0o755);
    let mut failed = Vec::new();
    for name in pubdir.with_scripts() {
        if let Some(why) = check_script(&pubdir, &name) {
            failed.push(format!("=== {name}\n{why}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// A plan is a readable script: a comment naming each script line, the
/// commands under it, a probe's result as a comment, and a teardown.
#[test]
fn a_plan_names_each_line_and_what_the_probes_saw() {
    let d = Dir::new();
    d.write(
        "lab.rhai",
        r#"let a = netns("pa");
let b = netns("pb");
let c = veth(a, "eth0", b, "eth0");
c[0].addr("10.77.0.1/24"); c[1].addr("10.77.0.2/24");
if !a.ping("10.77.0.2", #{count: 1}).ok { throw "no answer"; }
let r = a.ping("10.77.0.9", #{count: 1, timeout_ms: 200});
if r.ok { throw "an answer from nowhere"; }
a.forwarding(true);
sleep(0.1);
let p = b.spawn(["sleep", "3171"]);
p.stop();
b.spawn(["sleep", "3172"]);
b.accept(#{chain: "input", iif: "eth0", proto: "tcp", dport: 22, comment: "ssh"});
b.accept(#{chain: "input", state: ["established", "related"]});
b.policy("input", "drop");
"#,
    );
    let o = nslab(&["plan", "lab.rhai"], d.path());
    o.assert_ok();
    let p = &o.stdout;
    for want in [
        "set -euo pipefail",
        "trap '[ \"$BASHPID\" = $$ ] && teardown' EXIT",
        "NSLAB_PLAN_KEEP",
        "\n# lab.rhai:1  let a = netns(\"pa\");\nip netns add pa\n",
        "\n# lab.rhai:3  let c = veth(a, \"eth0\", b, \"eth0\");\nip -n pa link add eth0 numtxqueues 1 numrxqueues 1 type veth peer name eth0 numtxqueues 1 numrxqueues 1 netns pb\n",
        "\n# lab.rhai:4  c[0].addr(\"10.77.0.1/24\"); c[1].addr(\"10.77.0.2/24\");\nip -n pa addr add 10.77.0.1/24 dev eth0\nip -n pb addr add 10.77.0.2/24 dev eth0\n",
        "ip netns exec pa ping -c 1 -i 0.1 -W 1 10.77.0.2 || echo",
        "# nslab saw: 1/1 replies\n",
        "ip netns exec pa ping -c 1 -i 0.1 -W 1 10.77.0.9 || true  # nslab saw: 0/1 replies",
        "ip netns exec pa sysctl -qw net.ipv4.ip_forward=1\n",
        "P0=$(bg ip netns exec pb sleep 3171)\nundo \"stop $P0\"\n",
        "stop \"$P0\"\n",
        "\n# lab.rhai:9  sleep(0.1);\nsleep 0.1\n",
        // Rules in nft's own syntax, one a line (tests above check that
        // they build what nslab's JSON builds).
        "ip netns exec pb nft -f - <<'NFT'\ncreate table inet nslab-lab\n",
        "add rule inet nslab-lab input meta iifname \"eth0\" meta l4proto tcp tcp dport 22 accept comment \"ssh\"\n",
        "add rule inet nslab-lab input ct state established,related accept\n",
        "add chain inet nslab-lab input { type filter hook input priority 0; policy drop; }\nNFT\n",
    ] {
        assert!(p.contains(want), "no {want:?} in the plan:\n{p}");
    }
    // The script's own output is not part of the plan.
    assert!(!p.contains("PING"), "{p}");

    // Run as it is, the plan builds the lab (its pings answer) and tears
    // it down when it exits, its processes included.
    let h = Dir::new();
    h.write("plan.sh", p);
    let o = private_host(
        &h,
        "snap > before\nbash ./plan.sh > out 2>&1 && echo RAN || cat out\nno_trace\npgrep -af 'sleep 317[12]' || echo NO PROCESS",
    );
    o.says(&["NO PROCESS", "RAN"]);
    assert_no_trace(&o, "SAME");
}

/// A plan's teardown ends every process a spawn started, not only the
/// `sh -c` that started it: a server left behind kept the deleted namespace
/// alive and the caller's pipe open, so `bash plan.sh | tail` never ended.
#[test]
fn a_plan_run_through_a_pipe_ends_what_its_spawns_started() {
    let m = marker().replace('.', "");
    let d = Dir::with(&[(
        "lab.rhai",
        &format!(
            "let a = netns(\"pa\");\na.spawn(\"sleep 4{m} & sleep 5{m}; wait\");\nsleep(0.2);\n"
        ),
    )]);
    let o = nslab(&["plan", "lab.rhai"], d.path());
    o.assert_ok();
    d.write("plan.sh", &o.stdout);
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             timeout 30 sh -c 'bash ./plan.sh 2>&1 | cat > out'; echo rc=$?\n\
             no_trace\n\
             pgrep -af 'sleep [45]{m}' || echo NO PROCESS"
        ),
    );
    o.because("the pipe closed when the plan ended")
        .says(&["rc=0", "NO PROCESS"]);
    assert_no_trace(&o, "SAME");
}

/// What a plan cannot write as shell commands yet stops it, naming the call.
#[test]
fn a_call_without_a_shell_form_stops_the_plan_naming_it() {
    let d = Dir::new();
    d.write(
        "lab.rhai",
        "let a = netns(\"pa\");\nhost().exec(\"ip route add 10.99.0.0/24 dev lo\");\nhost().route_delete(\"10.99.0.0/24\");\n",
    );
    let o = nslab(&["plan", "lab.rhai"], d.path());
    assert_report(
        &o,
        "lab.rhai:3",
        "nslab plan has no shell commands yet for route_delete() of a route the lab did not add",
        "nslab run",
    );
    assert!(
        o.stdout.is_empty(),
        "a partial plan was printed:\n{}",
        o.stdout
    );
}

/// A plan is run as root by whoever receives it: nothing from the script
/// (its file name, its lines, what a probe saw) may leave a comment and
/// become a command. A newline in the file name did, before.
#[test]
fn a_file_name_with_newlines_stays_in_its_comments() {
    let d = Dir::new();
    let name = "x\ntouch PWNED\n.rhai";
    d.write(name, "let a = netns(\"pa\");\n");
    let o = nslab(&["plan", name], d.path());
    o.says(&["set -euo pipefail"]);
    let bad: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.contains("PWNED") && !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        bad.is_empty(),
        "lines outside comments: {bad:?}\n{}",
        o.stdout
    );
    o.says(&["x\\ntouch PWNED\\n.rhai"]);
}

/// The calls the seed scripts do not use have their shell form too: link
/// MAC, move, delete, neighbours, shaping left on, route deletion, exec
/// with input and environment, wait_port and the probes (reach, probe,
/// expect_reach, expect_blocked).
#[test]
fn the_other_calls_plan_to_the_same_state() {
    let pubdir = as_nobody(0o755);
    pubdir.with_scripts();
    let script = pubdir.dir.write(
        "other-calls.rhai",
        r#"let a = netns("oa");
let b = netns("ob");
let c = netns("oc");
let ab = veth(a, "eth0", b, "eth0");
ab[0].addr("10.61.0.1/24");
ab[1].addr("10.61.0.2/24");
ab[1].down();
ab[1].mac("02:00:00:00:61:02");
ab[1].up();
a.neigh("eth0", "10.61.0.2", "02:00:00:00:61:02");
ab[0].shape(#{rate: "10mbit"});
c.exec(["ip", "-batch", "-"], #{stdin: "addr add 10.65.0.1/32 dev lo\n"});
c.exec("ip addr add $ADDR dev lo", #{env: #{ADDR: "10.66.0.1/32"}, timeout_ms: 5000});
a.route("10.62.0.0/24", "10.61.0.2");
a.route("10.63.0.0/24", "10.61.0.2");
a.route_delete("10.62.0.0/24");
let spare = veth(a, "spare0", c, "spare1");
spare[0].delete();
let m = veth(a, "m0", a, "m1");
m[1].move(c, "moved");
c.link("moved").addr("10.64.0.2/24");
m[0].addr("10.64.0.1/24");
b.listen(8080);
b.wait_port(8080);
a.expect_reach("10.61.0.2");
a.expect_reach("10.61.0.2", #{proto: "tcp", port: 8080});
a.expect_blocked("10.61.0.2", #{proto: "tcp", port: 8081, timeout_ms: 300});
print(a.probe("10.64.0.2"));
let r = reach([a, b]);
if !r.ok { throw "a and b do not reach each other"; }
"#,
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    if let Some(why) = check_plan(&pubdir, "other-calls.rhai", &script) {
        panic!("{why}");
    }
}
