//! The link kinds labs are built from beyond veths and bridges (macvlan,
//! ipvlan, vxlan, vlan, vrf) and what can happen to any link (move, mac,
//! delete). Witnesses: a ping that answers, `ip -j -d link` run inside the
//! lab; in a private host, `ip` before and after. Where the kernel may lack
//! a kind, the test asks the kernel first and asserts the outcome that
//! matches.

use crate::common::*;

use serde_json::Value;

/// The JSON a script printed after `TAG ` (one `ip -j` answer).
fn json_after(o: &Out, tag: &str) -> Value {
    o.json_after(&format!("{tag} "))
}

/// `linkinfo` of the first link in an `ip -j -d link show` answer.
fn linkinfo(v: &Value) -> &Value {
    &v[0]["linkinfo"]
}

#[test]
fn macvlan_into_two_namespaces() {
    assert!(
        kernel_has_link("macvlan mode bridge"),
        "this kernel has no macvlan"
    );
    // The parent (one end of a veth, up with its peer) is in a third
    // namespace: each macvlan is made right where it goes.
    let o = run_ok(
        "mv.rhai",
        r#"let sw = netns("sw");
let a = netns("a");
let b = netns("b");
let up = veth(sw, "up0", sw, "up1");
let ma = macvlan(a, "mv0", up[0], #{mode: "bridge"});
let mb = macvlan(b, "mv0", up[0]);
ma.addr("10.61.0.1/24");
mb.addr("10.61.0.2/24");
let r = a.ping("10.61.0.2");
print(`ping ${r.ok}`);
print("LINK " + a.exec("ip -j -d link show mv0").stdout);
print("SW " + sw.exec("ip -j link show").stdout);
"#,
    );
    o.says(&["ping true"]);
    let l = json_after(&o, "LINK");
    assert_eq!(linkinfo(&l)["info_kind"], "macvlan", "{l}");
    assert_eq!(linkinfo(&l)["info_data"]["mode"], "bridge", "{l}");
    assert_eq!(l[0]["operstate"], "UP", "{l}");
    // Nothing was made in the parent's namespace and moved.
    let sw = json_after(&o, "SW");
    let names: Vec<&str> = sw
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lo", "up1", "up0"], "{sw}");
}

#[test]
fn macvlans_in_private_mode_do_not_see_each_other() {
    assert!(
        kernel_has_link("macvlan mode private"),
        "this kernel has no macvlan"
    );
    let o = run_ok(
        "private.rhai",
        r#"let sw = netns("sw");
let a = netns("a");
let b = netns("b");
let up = veth(sw, "up0", sw, "up1");
macvlan(a, "mv0", up[0], #{mode: "private"}).addr("10.62.0.1/24");
macvlan(b, "mv0", up[0], #{mode: "private"}).addr("10.62.0.2/24");
let r = a.ping("10.62.0.2", #{count: 1, timeout_ms: 300});
print(`ping ${r.ok}`);
print("LINK " + b.exec("ip -j -d link show mv0").stdout);
"#,
    );
    o.says(&["ping false"]);
    assert_eq!(
        linkinfo(&json_after(&o, "LINK"))["info_data"]["mode"],
        "private"
    );
}

#[test]
fn a_macvlan_outside_the_lab_s_namespaces_carries_the_lab_s_identity() {
    // host() is the private one of --isolated: the macvlan lands there,
    // its parent is in a namespace of the lab.
    let o = run_ok(
        "hostmv.rhai",
        r#"let sw = netns("sw");
let up = veth(sw, "up0", sw, "up1");
macvlan(host(), "hmv0", up[0]);
print("LINK " + host().exec("ip -j -d link show hmv0").stdout);
"#,
    );
    let l = json_after(&o, "LINK");
    assert_eq!(l[0]["ifalias"], "nslab:hostmv", "{l}");
    // An index of nslab's choosing, above the kernel's own numbering.
    assert!(l[0]["ifindex"].as_u64().unwrap() >= 0x0100_0000, "{l}");
    assert!(!o.stderr.contains("left alone"), "{}", o.stderr);
}

#[test]
fn macvlan_errors_say_what_to_give() {
    fails_at(
        "mode.rhai",
        "let a = netns(\"a\");\nlet e = veth(a, \"x\", a, \"y\");\nmacvlan(a, \"m\", e[0], #{mode: \"bridged\"});\n",
        "mode.rhai:3:1",
        "'bridged' is not a macvlan mode",
        "\"bridge\" (the default), \"private\", \"vepa\" and \"passthru\"",
    );
    fails_at(
        "lo.rhai",
        "let a = netns(\"a\");\n\nmacvlan(a, \"m\", a.link(\"lo\"));\n",
        "lo.rhai:3:1",
        "the kernel refused a macvlan on 'lo'",
        "must be an Ethernet link",
    );
}

#[test]
fn ipvlan_works_where_the_kernel_has_it_and_says_what_is_missing_where_not() {
    let script = r#"let sw = netns("sw");
let a = netns("a");
let b = netns("b");
let up = veth(sw, "up0", sw, "up1");
let ia = ipvlan(a, "ipv0", up[0]);
let ib = ipvlan(b, "ipv0", up[0], #{mode: "l2"});
ia.addr("10.63.0.1/24");
ib.addr("10.63.0.2/24");
print(`ping ${a.ping("10.63.0.2").ok}`);
print("LINK " + a.exec("ip -j -d link show ipv0").stdout);
"#;
    let o = run_isolated("ipvlan.rhai", script);
    if kernel_has_link("ipvlan mode l2") {
        o.assert_ok();
        o.says(&["ping true"]);
        let l = json_after(&o, "LINK");
        assert_eq!(linkinfo(&l)["info_kind"], "ipvlan", "{l}");
        assert_eq!(linkinfo(&l)["info_data"]["mode"], "l2", "{l}");
    } else {
        assert_report(
            &o,
            "ipvlan.rhai:5:10",
            "the kernel has no ipvlan support",
            "load the `ipvlan` module (modprobe ipvlan) or use a kernel built with CONFIG_IPVLAN",
        );
    }
}

#[test]
fn vxlan_overlay_over_an_underlay() {
    assert!(
        kernel_has_link("vxlan id 1 dstport 4789 remote 10.0.0.2"),
        "this kernel has no vxlan"
    );
    let o = run_ok(
        "vx.rhai",
        r#"let a = netns("a");
let b = netns("b");
let u = veth(a, "u0", b, "u0");
u[0].addr("10.64.0.1/24");
u[1].addr("10.64.0.2/24");
let va = vxlan(a, "vx0", #{vni: 42, remote: "10.64.0.2", local: "10.64.0.1", dev: u[0]});
let vb = vxlan(b, "vx0", #{vni: 42, remote: "10.64.0.1", dev: "u0"});
va.addr("10.42.0.1/24");
vb.addr("10.42.0.2/24");
print(`ping ${a.ping("10.42.0.2").ok}`);
print("LINK " + a.exec("ip -j -d link show vx0").stdout);
"#,
    );
    o.says(&["ping true"]);
    let l = json_after(&o, "LINK");
    let info = linkinfo(&l);
    assert_eq!(info["info_kind"], "vxlan", "{l}");
    assert_eq!(info["info_data"]["id"], 42, "{l}");
    assert_eq!(info["info_data"]["port"], 4789, "{l}");
    assert_eq!(info["info_data"]["remote"], "10.64.0.2", "{l}");
    assert_eq!(info["info_data"]["local"], "10.64.0.1", "{l}");
}

#[test]
fn vxlan_errors_say_what_to_give() {
    for (opts, message, help) in [
        (
            "#{vni: 42}",
            "a VXLAN needs to know where to send: give remote or group",
            "#{vni: 42, remote: \"10.0.0.2\"}",
        ),
        (
            "#{remote: \"10.0.0.2\"}",
            "a VXLAN needs its network identifier: vni",
            "vxlan(ns, \"vx0\", #{vni: 42, remote: \"10.0.0.2\"})",
        ),
        (
            "#{vni: 42, group: \"239.1.1.1\"}",
            "a VXLAN on multicast group 239.1.1.1 needs its underlay link",
            "dev: \"eth0\"",
        ),
        (
            "#{vni: 42, remote: \"239.1.1.1\"}",
            "remote 239.1.1.1 is a multicast address",
            "group: \"239.1.1.1\"",
        ),
        (
            "#{vni: 42, remote: \"10.0.0.2\", dstport: 8472}",
            "unknown vxlan option 'dstport'",
            "vni, remote or group, local, dev and port",
        ),
    ] {
        fails_at(
            "vxe.rhai",
            &format!("let a = netns(\"a\");\n\nvxlan(a, \"vx0\", {opts});\n"),
            "vxe.rhai:3:1",
            message,
            help,
        );
    }
}

#[test]
fn vlan_where_the_kernel_has_802_1q_and_what_to_load_where_not() {
    let o = run_isolated(
        "vlan.rhai",
        r#"let a = netns("a");
let e = veth(a, "eth0", a, "eth1");
let v = vlan(e[0], 10);
let w = vlan(e[1], 10, "trunk10");
print(`name ${v.name} ${w.name}`);
print("LINK " + a.exec("ip -j -d link show eth0.10").stdout);
"#,
    );
    if kernel_has_link("vlan id 10") {
        o.assert_ok();
        o.says(&["name eth0.10 trunk10"]);
        let l = json_after(&o, "LINK");
        assert_eq!(linkinfo(&l)["info_data"]["id"], 10, "{l}");
    } else {
        assert_report(
            &o,
            "vlan.rhai:3:9",
            "the kernel has no 802.1Q VLAN support",
            "load the `8021q` module (modprobe 8021q) or use a kernel built with CONFIG_VLAN_8021Q",
        );
    }
    // Checked before the kernel is asked: the same everywhere.
    fails_at(
        "vid.rhai",
        "let a = netns(\"a\");\nlet e = veth(a, \"x\", a, \"y\");\nvlan(e[0], 4095);\n",
        "vid.rhai:3:1",
        "VLAN id 4095 is out of range",
        "1..=4094",
    );
    fails_at(
        "vname.rhai",
        "let a = netns(\"a\");\nlet e = veth(a, \"a-long-name0\", a, \"y\");\nvlan(e[0], 100);\n",
        "vname.rhai:3:1",
        "the VLAN's default name 'a-long-name0.100' is 16 bytes long",
        "vlan(link, 100, \"v100\")",
    );
}

#[test]
fn vrf_takes_ports_like_a_bridge_where_the_kernel_has_it() {
    let o = run_isolated(
        "vrf.rhai",
        r#"let r = netns("r");
let e = veth(r, "x", r, "y");
let red = vrf(r, "red", 10);
red.attach(e[0]);
print("LINK " + r.exec("ip -j -d link show x").stdout);
"#,
    );
    if kernel_has_link("vrf table 10") {
        o.assert_ok();
        let l = json_after(&o, "LINK");
        assert_eq!(l[0]["master"], "red", "{l}");
    } else {
        assert_report(
            &o,
            "vrf.rhai:3:11",
            "the kernel has no VRF support",
            "load the `vrf` module (modprobe vrf) or use a kernel built with CONFIG_NET_VRF",
        );
    }
    fails_at(
        "t.rhai",
        "let r = netns(\"r\");\n\nvrf(r, \"red\", 254);\n",
        "t.rhai:3:1",
        "254 is not a routing table a VRF can have",
        "not 253, 254 or 255",
    );
}

#[test]
fn attach_to_a_link_that_takes_no_ports_says_what_does() {
    fails_at(
        "att.rhai",
        "let a = netns(\"a\");\nlet e = veth(a, \"x\", a, \"y\");\nlet f = veth(a, \"p\", a, \"q\");\ne[0].attach(f[0]);\n",
        "att.rhai:4:",
        "'x' is a veth link, which takes no ports",
        "attach links to a bridge (bridge(ns, \"br0\")) or a VRF (vrf(ns, \"red\", 10))",
    );
}

#[test]
fn move_takes_a_link_to_another_namespace_renamed_and_up() {
    let o = run_ok(
        "move.rhai",
        r#"let a = netns("a");
let b = netns("b");
let c = netns("c");
let e = veth(a, "x", b, "y");
let l = e[0].move(c, "z");
print(`handle ${e[0]} ${l}`);
e[0].addr("10.65.0.1/24");
e[1].addr("10.65.0.2/24");
print(`ping ${c.ping("10.65.0.2").ok}`);
print("A " + a.exec("ip -j link show").stdout);
print("C " + c.exec("ip -j link show z").stdout);
"#,
    );
    o.says(&[
        "handle Link(\"z\" in \"c\") Link(\"z\" in \"c\")",
        "ping true",
    ]);
    assert_eq!(json_after(&o, "A").as_array().unwrap().len(), 1, "only lo");
    assert_eq!(json_after(&o, "C")[0]["operstate"], "UP");
}

#[test]
fn move_errors_say_what_to_do() {
    for (line, message, help) in [
        (
            "e[0].move(a);",
            "link 'x' is already in namespace 'a'",
            "give the one it should go to",
        ),
        (
            "e[0].move(b, \"y\");",
            "link 'y' already exists in namespace 'b'",
            "link.move(ns, \"newname\")",
        ),
        (
            "a.link(\"lo\").move(b);",
            "'lo' cannot leave namespace 'a': it is the namespace's loopback",
            "ns.link(\"lo\")",
        ),
        (
            "bridge(a, \"br0\").move(b);",
            "'br0' cannot leave namespace 'a': the kernel keeps a bridge link in the namespace it was made in",
            "make it in the namespace it belongs in",
        ),
    ] {
        fails_at(
            "me.rhai",
            &format!(
                "let a = netns(\"a\");\nlet b = netns(\"b\");\nlet e = veth(a, \"x\", b, \"y\");\n{line}\n"
            ),
            "me.rhai:4:",
            message,
            help,
        );
    }
}

#[test]
fn netns_with_a_link_points_to_move() {
    fails_at(
        "nn.rhai",
        "let a = netns(\"a\");\nlet e = veth(a, \"x\", host(), \"y\");\nnetns(e[1], a);\n",
        "nn.rhai:3:1",
        "wrong arguments for 'netns': no form takes (Link, Netns)",
        "to move a link into a namespace, call link.move(ns)",
    );
}

#[test]
fn mac_sets_and_reads_the_link_layer_address() {
    let o = run_ok(
        "mac.rhai",
        r#"let a = netns("a");
let e = veth(a, "x", a, "y");
e[0].mac("02:00:00:00:00:01");
print(`mac ${e[0].mac()}`);
print("LINK " + a.exec("ip -j link show x").stdout);
"#,
    );
    o.says(&["mac 02:00:00:00:00:01"]);
    assert_eq!(json_after(&o, "LINK")[0]["address"], "02:00:00:00:00:01");
    for (mac, message, help) in [
        (
            "02:00:00:00:01",
            "'02:00:00:00:01' is not a MAC address",
            "six hex bytes with colons",
        ),
        (
            "03:00:00:00:00:01",
            "03:00:00:00:00:01 is a multicast address",
            "start with 02",
        ),
    ] {
        fails_at(
            "mace.rhai",
            &format!(
                "let a = netns(\"a\");\nlet e = veth(a, \"x\", a, \"y\");\ne[0].mac(\"{mac}\");\n"
            ),
            "mace.rhai:3:",
            message,
            help,
        );
    }
}

#[test]
fn delete_removes_what_the_lab_made_and_only_that() {
    let o = run_ok(
        "del.rhai",
        r#"let a = netns("a");
let e = veth(a, "x", host(), "hx");
let m = macvlan(host(), "hm", e[1]);
m.delete();
e[0].delete();
print("HOST " + host().exec("ip -j link show").stdout);
let f = veth(a, "x", host(), "hx");
"#,
    );
    let host = json_after(&o, "HOST");
    assert_eq!(host.as_array().unwrap().len(), 1, "only lo: {host}");
    // The names are free again, and nothing is "left alone" at teardown.
    assert!(!o.stderr.contains("left alone"), "{}", o.stderr);
    fails_at(
        "dl.rhai",
        "let a = netns(\"a\");\n\na.link(\"lo\").delete();\n",
        "dl.rhai:3:",
        "'lo' cannot be deleted: it is the loopback of namespace 'a'",
        "it goes with its namespace",
    );
}

/// A link the lab did not make ("eth9", a veth made with `ip` in a private
/// host, with addresses, routes and a MAC) moved into a lab namespace and
/// changed there comes back home at teardown as it was: the namespace it was
/// in would have destroyed it.
#[test]
fn a_host_link_moved_into_the_lab_goes_home_as_it_was() {
    let o = in_private_host(
        &[(
            "mv.rhai",
            r#"let a = netns("a");
let b = netns("b");
let eth = host().link("eth9");
eth.mtu(1400);
eth.move(a, "wan0");
print("A " + a.exec("ip -j link show wan0").stdout);
eth.addr("10.66.0.1/24");
eth.mac("02:00:00:00:00:09");
eth.mtu(1300);
eth.move(b);
print("B " + b.exec("ip -j link show wan0").stdout);
eth.delete();
"#,
        )],
        "ip link add eth9 type veth peer name eth9p\n\
         ip addr add 192.168.77.1/24 dev eth9\n\
         ip addr add fd77::1/64 dev eth9 nodad\n\
         ip link set eth9 up; ip link set eth9p up\n\
         ip route add 10.77.0.0/16 via 192.168.77.2 dev eth9\n\
         ip route add 10.78.0.0/16 dev eth9 table 100\n\
         sysctl -qw net.ipv4.conf.eth9.rp_filter=2 net.ipv6.conf.eth9.accept_ra=2 net.ipv4.neigh.eth9.base_reachable_time_ms=12345\n\
         ip -o link show eth9 | sed 's/ \\+/ /g' > link.before\n\
         dev_sysctls eth9 >> link.before\n\
         snap > before\n\
         \"$NSLAB\" run mv.rhai; echo rc=$?\n\
         ip -o link show eth9 | sed 's/ \\+/ /g' > link.after\n\
         dev_sysctls eth9 >> link.after\n\
         snap > after\n\
         diff -u before after && diff -u link.before link.after && echo SAME\n",
    );
    let out = o.all();
    // Deleting it was refused, at its line; teardown still put it back.
    o.all_says(&[
        "rc=1",
        "link 'wan0' in namespace 'b' was not made by this lab",
        "mv.rhai:12:",
    ]);
    assert_no_trace(&o, "SAME");
    let a: Value = o.json_after("A ");
    assert_eq!(a[0]["ifname"], "wan0", "{out}");
    assert_eq!(a[0]["operstate"], "UP", "it was up, it stays up: {out}");
    o.says(&["B [{"]);
}

/// After `kill -9`, `nslab down` takes such a link home from the journal,
/// before it deletes the namespace the link is in.
#[test]
fn down_takes_a_moved_host_link_home_after_a_crash() {
    let o = in_private_host(
        &[(
            "mv.rhai",
            r#"let a = netns("a");
host().link("eth9").move(a, "wan0");
let m = macvlan(host(), "hm0", host().link("eth9p"));
let x = veth(a, "x0", a, "x1");
x[0].move(host(), "hx0");
print("ready");
host().exec("sleep 30");
"#,
        )],
        "ip link add eth9 type veth peer name eth9p\n\
         ip addr add 192.168.77.1/24 dev eth9\n\
         ip link set eth9 up; ip link set eth9p up\n\
         ip route add 10.77.0.0/16 via 192.168.77.2 dev eth9\n\
         sysctl -qw net.ipv4.conf.eth9.forwarding=1 net.ipv6.conf.eth9.disable_ipv6=1\n\
         snap > before; dev_sysctls eth9 >> before\n\
         \"$NSLAB\" run mv.rhai > out 2>&1 &\n\
         pid=$!\n\
         wait_until 'grep -q ready out' 10\n\
         ip -o link show eth9 >/dev/null 2>&1 || echo AWAY\n\
         kill -9 $pid; wait $pid\n\
         \"$NSLAB\" down --all; echo down=$?\n\
         snap > after; dev_sysctls eth9 >> after\n\
         diff -u before after && echo SAME\n",
    );
    o.says(&["AWAY", "down=0"]);
    assert_no_trace(&o, "SAME");
}

/// ns.delete() on a namespace holding a host link sends the link home first.
#[test]
fn deleting_a_namespace_sends_the_host_links_in_it_home() {
    let o = in_private_host(
        &[(
            "nsdel.rhai",
            r#"let a = netns("a");
host().link("eth9").move(a);
a.delete();
print("HOST " + host().exec("ip -j addr show eth9").stdout);
"#,
        )],
        "ip link add eth9 type veth peer name eth9p\n\
         ip addr add 192.168.77.1/24 dev eth9\n\
         snap > before\n\
         \"$NSLAB\" run nsdel.rhai; echo rc=$?\n\
         no_trace\n",
    );
    o.says(&["rc=0", "\"local\":\"192.168.77.1\""]);
    assert_no_trace(&o, "SAME");
}

/// A link of the host goes home under its own name only.
#[test]
fn a_host_link_goes_home_under_its_own_name() {
    let o = in_private_host(
        &[(
            "home.rhai",
            "let a = netns(\"a\");\nlet l = host().link(\"eth9\").move(a);\nl.move(host(), \"other\");\n",
        )],
        "ip link add eth9 type veth peer name eth9p\n\
         \"$NSLAB\" run home.rhai; rc=$?\n\
         ip -o link show eth9 >/dev/null && echo HOME\n\
         exit $rc\n",
    );
    assert_report(
        &o,
        "home.rhai:3:",
        "link 'eth9' goes back to 'host' under its own name, 'eth9'",
        "link.move(ns)",
    );
    o.says(&["HOME"]);
}

/// The host end of veth(ns, "x", host(), "y") is the lab's by the index it
/// asked for: teardown deletes it, and leaves nothing alone.
#[test]
fn a_host_veth_end_made_as_the_peer_carries_the_lab_s_index() {
    let o = in_private_host(
        &[(
            "peer.rhai",
            "let a = netns(\"a\");\nveth(a, \"x\", host(), \"y\");\n",
        )],
        "snap > before\n\"$NSLAB\" run peer.rhai; echo rc=$?\nno_trace\n",
    );
    o.says(&["rc=0"]);
    assert!(!o.stderr.contains("left alone"), "{}", o.stderr);
    assert_no_trace(&o, "SAME");
}

/// NSLAB_OWN_QUEUES=1 (what the test suite runs with, .cargo/config.toml)
/// gives both ends of every veth GRO on and TSO off, as the kernel reports
/// them (ETHTOOL_GGRO / ETHTOOL_GTSO, read in each end's namespace), so the
/// veth receives into a NAPI ring of its own instead of the CPU's shared
/// backlog; without it the kernel's defaults stay (GRO off, TSO on).
#[test]
fn own_queues_turn_gro_on_and_tso_off_on_both_ends_of_a_veth() {
    const READ: &str = r#"
import ctypes, fcntl, socket, struct, sys
def get(dev, cmd):
    v = ctypes.create_string_buffer(struct.pack('II', cmd, 0), 8)
    fcntl.ioctl(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), 0x8946,
                struct.pack('16sP', dev.encode(), ctypes.addressof(v)))
    return struct.unpack('II', v.raw)[1]
print(f"gro={get(sys.argv[1], 0x2b)} tso={get(sys.argv[1], 0x1e)}")
"#;
    let lab = r#"
let a = netns("a");
let b = netns("b");
veth(a, "ea", b, "eb");
print(`a ${a.exec(["python3", "read.py", "ea"]).stdout}`);
print(`b ${b.exec(["python3", "read.py", "eb"]).stdout}`);
"#;
    for (own, want) in [("1", "gro=1 tso=0"), ("0", "gro=0 tso=1")] {
        let d = Dir::new();
        d.write("read.py", READ);
        d.write("lab.rhai", lab);
        let o = out(std::process::Command::new(bin())
            .args(["run", "--isolated", "lab.rhai"])
            .current_dir(d.path())
            .env("NO_COLOR", "1")
            .env("NSLAB_OWN_QUEUES", own)
            .output()
            .expect("run nslab"));
        o.assert_ok();
        assert!(
            o.stdout.contains(&format!("a {want}")),
            "{own}: {}",
            o.stdout
        );
        assert!(
            o.stdout.contains(&format!("b {want}")),
            "{own}: {}",
            o.stdout
        );
    }
}
