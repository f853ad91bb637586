//! Every script in scripts/ runs to success in isolated mode, and prints the
//! ping lines the tutorials show.

use crate::common::*;
use std::path::Path;

fn run_script(name: &str) -> Out {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = nslab(&["run", "--isolated", &format!("scripts/{name}")], root);
    o.assert_ok();
    assert!(
        o.stdout.contains("bytes from"),
        "no ping lines:\n{}",
        o.stdout
    );
    // The summary, whatever the loss: on a busy machine an echo can be
    // lost to another lab's traffic (the summary's why says so).
    assert!(
        o.stdout.contains("% packet loss"),
        "no ping summary:\n{}",
        o.stdout
    );
    o
}

#[test]
fn quickstart() {
    let o = run_script("quickstart.rhai");
    assert!(o.stdout.contains("64 bytes from 10.10.0.2"));
}

#[test]
fn seed_000_two_namespaces() {
    let o = run_script("000-two-namespaces.rhai");
    assert!(o.stdout.contains("64 bytes from 10.10.0.3"));
    assert!(o.stdout.contains("64 bytes from 10.10.0.2"));
    o.says(&["namespaces now: [\"ns1\", \"ns2\"]", "namespaces after: []"]);
}

#[test]
fn seed_001_veth_and_bridge() {
    let o = run_script("001-veth-and-bridge.rhai");
    assert!(o.stdout.contains("ok: seed 001 works"));
    o.says(&["PING 10.1.1.1 from host"]);
}

#[test]
fn seed_002_nat_to_internet() {
    let o = run_script("002-nat-to-internet.rhai");
    o.says(&[
        "no reply from the internet before masquerade",
        "64 bytes from 203.0.113.10",
        "the internet saw the connection come from [\"203.0.113.1\"]",
    ]);
}

#[test]
fn seed_004_routes_and_firewall() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = nslab(
        &["run", "--isolated", "scripts/004-routes-and-firewall.rhai"],
        root,
    );
    o.assert_ok();
    o.says(&[
        "example_ns route: default dev veth1",
        "after the firewall: tcp/80 open = true, tcp/22 open = false",
    ]);
}

#[test]
fn leaf_spine_ecmp_fails_over() {
    let o = run_script("leaf-spine.rhai");
    for line in [
        "  nexthop via 10.1.1.1 dev up1 weight 1\n  nexthop via 10.1.2.1 dev up2 weight 1\n",
        "  nexthop via 10.1.1.1 dev up1 weight 1  (dead: its link is down)",
        "  nexthop via 10.1.2.1 dev up2 weight 1  (dead: its link is down)",
        "ok: leaf-spine ECMP fails over",
    ] {
        assert!(o.stdout.contains(line), "no '{line}':\n{}", o.stdout);
    }
}

#[test]
fn policy_routing_sends_each_lan_out_its_own_uplink() {
    let o = run_script("policy-routing.rhai");
    for line in [
        "before the rule, b goes out through isp1",
        "gw table 100: default via 10.2.0.1 dev up2",
        "a (10.10.1.2) goes out through isp1, b (10.10.2.2) through isp2",
    ] {
        assert!(o.stdout.contains(line), "no '{line}':\n{}", o.stdout);
    }
}

#[test]
fn dnat_hairpin() {
    let o = run_script("dnat-hairpin.rhai");
    o.says(&[
        "the server saw the internet's connection come from [\"203.0.113.10\"]",
        "with hairpin NAT the server saw [\"203.0.113.10\", \"10.0.0.1\"]",
        "ok: port forwarding and hairpin NAT work",
    ]);
}

/// Every script also runs in plain host mode (as root of a private host,
/// which is compared before and after). The private host has the users of
/// the machine (FRR's daemons switch to theirs).
#[test]
fn every_script_runs_in_host_mode_and_leaves_no_trace() {
    let d = Dir::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut sh = String::new();
    for name in script_names() {
        sh.push_str(&format!(
            "\"$NSLAB\" run '{}' > /dev/null 2> err || {{ echo FAILED {name}; cat err; }}\n",
            root.join(&name).display()
        ));
    }
    leaves_no_trace_all_ids(&d, &sh).lacks(&["FAILED"]);
}

#[test]
fn seed_003_containers() {
    let o = run_script("003-containers.rhai");
    assert!(o.stdout.contains("no reply while my_veth_end_b is down"));
    o.says(&["1 packets transmitted, 0 received, 100% packet loss"]);
}

#[test]
fn macvlan_into_two_namespaces() {
    let o = run_script("macvlan.rhai");
    o.says(&[
        "64 bytes from 10.20.0.2",
        "ok: two macvlans of one parent talk in bridge mode",
    ]);
}

#[test]
fn vxlan_overlay() {
    let o = run_script("vxlan-overlay.rhai");
    o.says(&["h1 link: vx0 vxlan mtu 1450", "64 bytes from 10.42.0.2"]);
}

#[test]
fn stp_ring_blocks_one_port_and_still_pings() {
    let o = run_script("stp-ring.rhai");
    o.says(&["is blocking, the loop is broken"]);
    assert_eq!(o.stdout.matches(": blocking").count(), 1, "{}", o.stdout);
    o.says(&["ok: the ring works"]);
}

#[test]
fn bridge_tables_read_stp_states_fdb_and_port_flags() {
    let o = run_script("bridge-tables.rhai");
    o.says(&[
        "after the forward delays: every port forwarding",
        "learned on p1",
        "learned on p2",
        "3 addresses of the switch's own ports (local)",
        "p3: forwarding, cost 30, priority 32, [\"isolated\", \"hairpin\", \"learning\", \"flood\"]",
        "ok: the switch's tables read",
    ]);
}

#[test]
fn port_isolation_keeps_guests_apart() {
    let o = run_script("port-isolation.rhai");
    o.says(&[
        "guest1 -> 10.40.0.2: no reply (isolated)",
        "guest1 -> 10.40.0.3: replies",
    ]);
}

#[test]
fn rate_limit_shows_the_rate() {
    let o = run_script("rate-limit.rhai");
    o.says(&[
        "1 MB over the link shaped to 8mbit",
        "ok: the transfer time shows the rate",
    ]);
}

#[test]
fn qdisc_stats_grow_by_the_transfer_at_the_kernels_rate() {
    let o = run_script("qdisc-stats.rhai");
    o.says(&[
        "before: tbf rate 8Mbit burst 32Kb: sent ",
        "after:  tbf rate 8Mbit burst 32Kb: sent ",
        "tc: qdisc tbf",
        "rate 8Mbit burst 32Kb lat 50ms",
        "ok: the qdisc's counters grew by the transfer, at the kernel's rate",
    ]);
}

/// FRR's OSPF converges on the triangle, and again round the cut link.
#[test]
fn frr_ospf_triangle_reconverges() {
    let o = run_script("frr-ospf-triangle.rhai");
    o.says(&[
        "Full/-",
        "link r1-r3 cut",
        "r1's OSPF neighbours: [\"10.255.0.2\"]",
    ]);
}

#[test]
fn frr_ebgp_across_three_ases() {
    run_script("frr-ebgp.rhai").says(&["AS path to 10.255.0.3: 65002 65003"]);
}

#[test]
fn bird_and_frr_speak_bgp() {
    run_script("bird-frr-bgp.rhai").says(&["frr        BGP", "Established"]);
}

/// With no `--set far=…` every namespace is here: the same script that
/// tests/suite/machines.rs splits over two machines.
#[test]
fn two_machines_runs_on_one() {
    run_script("two-machines.rhai").says(&[
        "router and host c on this machine",
        "r forwards: 1",
        "64 bytes from 10.61.2.1",
        "tm-c -> tm-a: 3 replies",
        "ok: tm-a and tm-c reach each other through tm-r",
    ]);
}

#[test]
fn every_script_is_covered() {
    assert_eq!(
        script_names(),
        [
            "000-two-namespaces.rhai",
            "001-veth-and-bridge.rhai",
            "002-nat-to-internet.rhai",
            "003-containers.rhai",
            "004-routes-and-firewall.rhai",
            "bird-frr-bgp.rhai",
            "bridge-tables.rhai",
            "dnat-hairpin.rhai",
            "frr-ebgp.rhai",
            "frr-ospf-triangle.rhai",
            "leaf-spine.rhai",
            "local-module.rhai",
            "macvlan.rhai",
            "policy-routing.rhai",
            "port-isolation.rhai",
            "qdisc-stats.rhai",
            "quickstart.rhai",
            "rate-limit.rhai",
            "recipe-line.rhai",
            "recipe-nat-gateway.rhai",
            "recipe-pair.rhai",
            "recipe-star.rhai",
            "recipe-two-lans.rhai",
            "stp-ring.rhai",
            "two-machines.rhai",
            "vxlan-overlay.rhai"
        ],
        "a script was added: give it a test above"
    );
}

/// Without root, nslab builds the lab rootless by itself and says so once;
/// every script works that way. (When the tests run as root, the scripts
/// run as `nobody`, with subordinate ids granted, as a user who runs
/// routing daemons rootless has them.)
#[test]
fn every_script_runs_rootless_as_an_unprivileged_user() {
    let d = as_nobody(0o755);
    for name in d.with_scripts() {
        let mut cmd = if is_root() {
            d.cmd_with_subids(&["run", &name])
        } else {
            d.cmd(&["run", &name])
        };
        let o = cmd
            // An ordinary user's PATH: nft must be found without /usr/sbin.
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .output()
            .expect("run nslab rootless");
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}:\n{stdout}\n{stderr}");
        assert_eq!(stderr.matches("rootless").count(), 1, "{name}:\n{stderr}");
    }
}
