//! Issue 22: FRR and BIRD in a node. The scripts (scripts.rs) prove they
//! converge in every mode; here: what goes wrong says so at the line, a
//! `kill -9` leaves no daemon, mount or directory after `nslab down`, and a
//! missing route where a daemon runs is explained by the daemon.

use crate::common::*;

/// Two routers over one veth, with OSPF on the link (and r2's loopback
/// announced when `announce`).
fn ospf_pair(announce: bool) -> String {
    let r2_lo = if announce {
        " network 10.255.0.2/32 area 0\\n"
    } else {
        ""
    };
    format!(
        r#"import "frr" as frr;
let r1 = netns("r1");
let r2 = netns("r2");
let l = veth(r1, "e12", r2, "e21");
l[0].addr("10.0.12.1/24");
l[1].addr("10.0.12.2/24");
r1.addr("lo", "10.255.0.1/32");
r2.addr("lo", "10.255.0.2/32");
let p2p = "\n ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 3\n ip ospf retransmit-interval 1\n";
frr::router(r1, #{{daemons: ["ospfd"], config: "interface e12" + p2p + "router ospf\n network 10.0.12.0/24 area 0\n network 10.255.0.1/32 area 0\n"}});
frr::router(r2, #{{daemons: ["ospfd"], config: "interface e21" + p2p + "router ospf\n network 10.0.12.0/24 area 0\n{r2_lo}"}});
"#
    )
}

/// r2 never announces its loopback: r1's missing route is the daemon's
/// doing, and the explanation says so and points at the daemon.
#[test]
fn a_route_the_daemon_never_learned_is_explained_by_the_daemon() {
    let script = format!(
        "{}r1.wait_route(\"10.0.12.0/24\", #{{timeout_ms: 20000}});\nwait_until(|| frr::show(r1, \"ip ospf neighbor\").neighbors.len() == 1, #{{timeout_ms: 20000}});\nr1.expect_reach(\"10.255.0.2\", #{{src: \"10.255.0.1\"}});\n",
        ospf_pair(false)
    );
    let o = run_fails("unlearned.rhai", &script);
    let words = o.report_words();
    says(
        &words,
        &[
            "r1 has no route to 10.255.0.2; FRR's ospfd runs there but has not learned a route to 10.255.0.2",
            "frr::show(r1, \"ip ospf neighbor\")",
        ],
    );
}

/// Both ways: the reply goes back to r1's loopback, which r2 must have
/// learned too.
#[test]
fn ospf_learns_the_announced_loopback() {
    let script = format!(
        "{}r1.wait_route(\"10.255.0.2/32\", #{{protocol: \"ospf\", timeout_ms: 30000}});\nr2.wait_route(\"10.255.0.1/32\", #{{protocol: \"ospf\", timeout_ms: 30000}});\nr1.expect_reach(\"10.255.0.2\", #{{src: \"10.255.0.1\"}});\nprint(frr::vtysh(r1, \"show ip route 10.255.0.2/32\"));\n",
        ospf_pair(true)
    );
    run_ok("learned.rhai", &script).says(&["Known via \"ospf\""]);
}

#[test]
fn a_second_frr_in_a_node_is_an_error_at_its_line() {
    fails_at(
        "twice.rhai",
        "import \"frr\" as frr;\nlet r1 = netns(\"r1\");\nfrr::router(r1, #{config: \"\"});\nfrr::router(r1, #{config: \"\"});\n",
        "twice.rhai:4",
        "FRR runs in r1 already",
        "start one FRR per node",
    );
}

#[test]
fn a_daemon_frr_lacks_is_an_error_at_its_line() {
    fails_at(
        "nonsense.rhai",
        "import \"frr\" as frr;\nlet r1 = netns(\"r1\");\nfrr::router(r1, #{daemons: [\"ospfd\", \"osfpd\"]});\n",
        "nonsense.rhai:3",
        "FRR has no daemon 'osfpd'",
        "ospfd, ospf6d, bgpd",
    );
}

/// A machine without FRR or BIRD (here: their programs hidden in a mount
/// namespace of the test's own) gets the package to install.
#[test]
fn a_missing_package_is_named() {
    if !needs_root("hides programs with a mount") {
        return;
    }
    let d = Dir::with(&[
        (
            "frr.rhai",
            "import \"frr\" as frr;\nlet r1 = netns(\"r1\");\nfrr::router(r1, #{daemons: [\"ospfd\"]});\n",
        ),
        (
            "bird.rhai",
            "import \"bird\" as bird;\nlet r1 = netns(\"r1\");\nbird::router(r1, \"router id 1.1.1.1;\\n\");\n",
        ),
    ]);
    let o = out(tool("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs none /usr/lib/frr && mount --bind /dev/null /usr/sbin/bird && \
             \"$NSLAB\" run --isolated frr.rhai; \"$NSLAB\" run --isolated bird.rhai",
        )
        .env("NSLAB", bin())
        .env("NO_COLOR", "1")
        .current_dir(d.path())
        .output()
        .expect("run unshare"));
    let words = words(&o.stderr);
    says(
        &words,
        &[
            "FRR is not installed (no /usr/lib/frr/zebra), so r1 cannot run it",
            "apt install frr",
            "frr.rhai:3",
            "BIRD is not installed (no /usr/sbin/bird), so r1 cannot run it",
            "apt install bird2",
            "bird.rhai:3",
        ],
    );
}

/// Rootless without subordinate ids, FRR cannot switch to its user: the
/// error says so before anything starts, and what to add where.
#[test]
fn rootless_frr_without_subordinate_ids_says_what_to_grant() {
    if !needs_root("runs nslab as nobody") {
        return;
    }
    let user = as_nobody(0o755);
    std::fs::write(
        user.path().join("frr.rhai"),
        "import \"frr\" as frr;\nlet r1 = netns(\"r1\");\nfrr::router(r1, #{daemons: [\"ospfd\"]});\n",
    )
    .expect("write");
    let o = user.run(&["run", "frr.rhai"]);
    assert_eq!(o.code, 1, "{}", o.all());
    says(
        &o.report_words(),
        &[
            "FRR switches to a user of its own, which this rootless lab does not have",
            "`nobody:100000:65536` to /etc/subuid and /etc/subgid",
        ],
    );
}

/// Host mode: `kill -9` of nslab while FRR runs, then `nslab down`: no
/// daemon, no private directory, no mount and no network change is left
/// (but the mount point /run/netns, which `ip netns` leaves as well).
#[test]
fn kill_9_then_down_leaves_no_daemon_or_directory() {
    let d = Dir::with(&[(
        "frr.rhai",
        "import \"frr\" as frr;\nlet r1 = netns(\"r1\");\nfrr::router(r1, #{daemons: [\"ospfd\"], config: \"router ospf\\n\"});\nprint(\"up\");\nsleep(60);\n",
    )]);
    let o = leaves_no_trace_all_ids(
        &d,
        "cut -d' ' -f5 /proc/self/mountinfo | sort | grep -vx /run/netns > mounts_before\n\
         \"$NSLAB\" run frr.rhai > out 2>&1 &\n\
         wait_until 'grep -q up out' 30 || { echo NOT_UP; cat out; }\n\
         pgrep -x zebra > /dev/null && echo ZEBRA_RAN\n\
         kill -9 $!; wait $! 2>/dev/null\n\
         \"$NSLAB\" down --all > down 2>&1 || { echo DOWN_FAILED; cat down; }\n\
         wait_while 'pgrep -x zebra' 10; for d in zebra ospfd staticd; do pgrep -x $d && echo DAEMON_LEFT; done\n\
         ls /run/nslab; ls -d /run/frr 2>/dev/null && echo RUN_FRR_LEFT\n\
         cut -d' ' -f5 /proc/self/mountinfo | sort | grep -vx /run/netns | diff mounts_before - || echo MOUNT_LEFT\n",
    );
    o.says(&["ZEBRA_RAN"]).lacks(&[
        "NOT_UP",
        "DOWN_FAILED",
        "DAEMON_LEFT",
        "RUN_FRR_LEFT",
        "MOUNT_LEFT",
        "nodes",
    ]);
}

/// `nslab graph` labels a node with the routing daemons it runs, and
/// show() lists them.
#[test]
fn graph_and_show_name_the_daemons_of_a_node() {
    let o = nslab(&["graph", "scripts/bird-frr-bgp.rhai"], repo());
    o.assert_ok();
    o.says(&["FRR bgpd", "BIRD"]);
    let script = format!("{}show();\n", ospf_pair(true));
    run_ok("show.rhai", &script).says(&["runs FRR ospfd"]);
}

/// A daemon that exits as it starts (here zebra, whose pid file is a
/// directory) is an error at the recipe's line with what it printed.
#[test]
fn a_daemon_that_exits_at_start_is_an_error_with_its_last_words() {
    let o = run_fails(
        "exits.rhai",
        "import \"frr\" as frr;\nlet r1 = netns(\"r1\");\nr1.private_dirs([\"/var/run/frr\"]);\nr1.run(\"mkdir /var/run/frr/zebra.pid\");\nfrr::router(r1, #{daemons: [\"ospfd\"]});\n",
    );
    says(
        &o.report_words(),
        &[
            "FRR's zebra in r1 exited as it started",
            "Can't create pid lock file /var/run/frr/zebra.pid",
            "exits.rhai:5",
        ],
    );
}

/// The fast form: every router's zebra started with `wait: false`, then
/// frr::wait starts the other daemons and waits for all; what it returns
/// has every daemon's Process, and the routers converge.
#[test]
fn routers_started_without_waiting_are_up_after_frr_wait_and_converge() {
    let script = ospf_pair(true)
        .replace("frr::router(r1, ", "let a = frr::router(r1, ")
        .replace("frr::router(r2, ", "let b = frr::router(r2, ")
        .replace("\"});\n", "\", wait: false});\n")
        + "print(`zebra alone: ${a.daemons.keys()}`);\n\
           let rs = frr::wait([a, b]);\n\
           for r in rs { print(`${r.ns.name}: ${r.daemons.keys()} running ${r.daemons.values().all(|p| p.running)}`); }\n\
           r1.wait_route(\"10.255.0.2/32\", #{protocol: \"ospf\", timeout_ms: 30000});\n\
           r2.wait_route(\"10.255.0.1/32\", #{protocol: \"ospf\", timeout_ms: 30000});\n\
           r1.expect_reach(\"10.255.0.2\", #{src: \"10.255.0.1\"});\n\
           print(frr::vtysh(r2, \"show ip route 10.255.0.1/32\"));\n";
    assert_eq!(script.matches("wait: false").count(), 2, "{script}");
    run_ok("nowait.rhai", &script).says(&[
        "zebra alone: [\"zebra\"]",
        "r1: [\"ospfd\", \"staticd\", \"zebra\"] running true",
        "r2: [\"ospfd\", \"staticd\", \"zebra\"] running true",
        "Known via \"ospf\"",
    ]);
}

/// A daemon that exits as it starts after `wait: false` (r2's ospfd,
/// whose pid file is a directory) is caught by frr::wait: an error at its
/// line with what the daemon printed.
#[test]
fn a_daemon_that_exits_is_an_error_at_frr_wait_s_line() {
    let o = fails_at(
        "waits.rhai",
        "import \"frr\" as frr;\nlet r1 = netns(\"r1\");\nlet r2 = netns(\"r2\");\nr2.private_dirs([\"/var/run/frr\"]);\nr2.run(\"mkdir /var/run/frr/ospfd.pid\");\n\
         let a = frr::router(r1, #{daemons: [\"ospfd\"], config: \"router ospf\\n\", wait: false});\n\
         let b = frr::router(r2, #{daemons: [\"ospfd\"], config: \"router ospf\\n\", wait: false});\n\
         let rs = frr::wait([a, b]);\nprint(\"not reached\");\n",
        "waits.rhai:8",
        "FRR's ospfd in r2 exited as it started",
        "check the config's lines for that daemon",
    );
    says(
        &o.report_words(),
        &["Can't create pid lock file /var/run/frr/ospfd.pid"],
    );
    o.lacks(&["not reached"]);
    fails_at(
        "notarouter.rhai",
        "import \"frr\" as frr;\nfrr::wait([1]);\n",
        "notarouter.rhai:2",
        "frr::wait takes the routers frr::router(ns, #{wait: false}) returned",
        "rs = frr::wait(rs)",
    );
}
