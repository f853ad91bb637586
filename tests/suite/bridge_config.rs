//! Configuring a bridge and its ports beyond attach (issue 23, "Configure
//! what the labs still could not"): the STP bridge priority, the port
//! options learning and flood, `br.port` changing a port after attach (and
//! its undo on a link the lab did not make), `br.vlans()`, and VLANs on a
//! kernel without bridge VLAN filtering. Each working path is read back
//! with the tool it replaces (`ip -j -d link show`, `bridge -j -d link
//! show`, `bridge -j vlan show`), run by the script in the same namespace,
//! so one script checks it in isolated, host and rootless mode.

use crate::common::*;

/// Throws at the first difference between what nslab set or read and what
/// the tools print.
const CONFIG: &str = r#"
fn tool(ns, cmd) {
    let r = ns.exec("PATH=$PATH:/usr/sbin:/sbin " + cmd);
    if r.code != 0 { throw `${cmd}: ${r.stderr}`; }
    parse_json(r.stdout)
}
fn same_port(br, ns, dev, want) {
    let t = tool(ns, `bridge -j -d link show dev ${dev}`)[0];
    let p = br.ports().filter(|p| p.name == dev)[0];
    for k in want.keys() {
        if t[k] != want[k] { throw `${dev}: ${k} is ${t[k]} by bridge, ${want[k]} asked`; }
        if p[k] != t[k] { throw `${dev}: ${k} is ${p[k]} by br.ports(), ${t[k]} by bridge`; }
    }
}
let s = netns("s"); let a = netns("a"); let b = netns("b");

// The STP bridge priority, as `ip -d link` prints it (and in the bridge id).
let br = bridge(s, "br0", #{priority: 4096});
let sw = bridge(s, "br1", #{stp: true, priority: 61440, forward_delay_s: 2, hello_s: 1});
for x in [["br0", 4096, "1000."], ["br1", 61440, "f000."]] {
    let d = tool(s, `ip -j -d link show ${x[0]}`)[0].linkinfo.info_data;
    if d.priority != x[1] || !d.bridge_id.starts_with(x[2]) { throw `${x[0]}: ${d.priority} ${d.bridge_id}`; }
}
// The lowest priority is root: br1 (61440) joined to br2 (8192) by a
// cable, STP makes br2 the root of both.
let br2 = bridge(s, "br2", #{stp: true, priority: 8192, forward_delay_s: 2, hello_s: 1});
let j = veth(s, "j1", s, "j2");
sw.attach(j[0]);
br2.attach(j[1]);
// (Read by root port: `ip -d link` prints a bridge's own id as root_id
// on this kernel even once it has a root port.)
let stp = |b| tool(s, `ip -j -d link show ${b}`)[0].linkinfo.info_data;
wait_until(|| stp.call("br1").root_port != 0, #{timeout_ms: 20000});
let one = stp.call("br1"); let two = stp.call("br2");
if one.root_path_cost == 0 || two.root_port != 0 { throw `root: br1 ${one}, br2 ${two}`; }
print("priority ok: 4096 61440, br2 is root");

// Port options at attach, learning and flood among them.
let x = veth(a, "eth0", s, "pa");
let y = veth(b, "eth0", s, "pb");
br.attach(x[1], #{learning: false, flood: false, hairpin: true, isolated: true, cost: 9, priority: 3});
br.attach(y[1]);
same_port(br, s, "pa", #{learning: false, flood: false, hairpin: true, isolated: true, cost: 9, priority: 3});
same_port(br, s, "pb", #{learning: true, flood: true, hairpin: false, isolated: false, priority: 32});
print("attach ok");

// br.port: each option changes after attach; what is not given stays.
br.port(x[1], #{learning: true, flood: true, hairpin: false, isolated: false, cost: 100, priority: 63});
same_port(br, s, "pa", #{learning: true, flood: true, hairpin: false, isolated: false, cost: 100, priority: 63});
br.port(y[1], #{cost: 5});
br.port(y[1], #{learning: false});
same_port(br, s, "pb", #{cost: 5, learning: false, flood: true, hairpin: false, isolated: false, priority: 32});
print("port ok");

// br.vlans() is `bridge vlan show` for the bridge and its ports: [] here
// without VLAN filtering, VLAN 1 on each where the kernel has it.
let ours = br.vlans();
let theirs = [];
for t in tool(s, "bridge -j vlan show") {
    if !["br0", "pa", "pb"].contains(t.ifname) { continue; }
    for v in t.vlans {
        let last = if v.vlanEnd == () { v.vlan } else { v.vlanEnd };
        for vid in v.vlan..=last {
            theirs.push(#{port: t.ifname, vid: vid, pvid: v.flags.contains("PVID"), untagged: v.flags.contains("Egress Untagged")});
        }
    }
}
if ours.len() != theirs.len() { throw `vlans: nslab ${ours}, bridge ${theirs}`; }
for t in theirs {
    if !ours.contains(t) { throw `vlans: ${t} is not in ${ours}`; }
}
print(`vlans ok: ${ours.len()}`);
"#;

fn assert_all_ok(o: &Out) {
    o.assert_ok();
    o.because("each setting reads back through the tools")
        .says(&[
            "priority ok: 4096 61440, br2 is root",
            "attach ok",
            "port ok",
            "vlans ok",
        ]);
}

#[test]
fn bridge_priority_and_port_options_match_the_tools_in_isolated_mode() {
    let o = run_isolated("config.rhai", CONFIG);
    assert_all_ok(&o);
    if !has_vlan_filtering() {
        o.says(&["vlans ok: 0"]);
    }
}

#[test]
fn bridge_priority_and_port_options_match_the_tools_on_a_private_host() {
    if !needs_root(" (a private host)") {
        return;
    }
    let d = Dir::with(&[("config.rhai", CONFIG)]);
    let o = leaves_no_trace(&d, "\"$NSLAB\" run config.rhai; echo run=$?\n");
    says(
        &o.stdout,
        &["priority ok", "attach ok", "port ok", "vlans ok", "run=0"],
    );
}

#[test]
fn bridge_priority_and_port_options_match_the_tools_rootless() {
    let user = as_nobody(0o755);
    user.dir.write("config.rhai", CONFIG);
    let o = user.run(&["run", "config.rhai"]);
    assert!(o.stderr.contains("rootless"), "{}", o.all());
    assert_all_ok(&o);
}

/// br.port on links the lab did not make: a port of the host's own bridge,
/// and a host link the lab attached to its bridge. What changed comes back
/// at teardown (the residue check compares `ip -d link`, which prints each
/// port's options), and `nslab down` would do the same from the journal.
#[test]
fn br_port_on_a_link_the_lab_did_not_make_is_undone_at_teardown() {
    if !needs_root(" (a private host)") {
        return;
    }
    let d = Dir::with(&[(
        "port.rhai",
        r#"let h = host();
let hb = h.link("hb");
hb.port(h.link("hv0"), #{cost: 9, hairpin: true, learning: false, flood: false, isolated: true, priority: 7});
let p = hb.ports().filter(|p| p.name == "hv0")[0];
print(`hv0: cost ${p.cost} hairpin ${p.hairpin} learning ${p.learning} flood ${p.flood} isolated ${p.isolated} priority ${p.priority}`);
let lb = bridge(h, "lb0");
lb.attach(h.link("hw0"));
lb.port(h.link("hw0"), #{cost: 4, learning: false});
print(`hw0: ${lb.ports()[0].cost} ${lb.ports()[0].learning}`);
"#,
    )]);
    let o = private_host(
        &d,
        "ip link add hb type bridge && ip link add hv0 type veth peer name hv1 && ip link set hv0 master hb && ip link set hb up && ip link set hv0 up\n\
         ip link add hw0 type veth peer name hw1 && ip link set hw0 up\n\
         bridge -d link show dev hv0 > port-before\n\
         snap > before\n\
         \"$NSLAB\" run port.rhai; echo run=$?\n\
         no_trace\n\
         bridge -d link show dev hv0 > port-after\n\
         cmp -s port-before port-after && echo PORT SAME || diff port-before port-after\n",
    );
    o.because("the options were set on the host's links while the lab ran")
        .says(&[
            "hv0: cost 9 hairpin true learning false flood false isolated true priority 7",
            "hw0: 4 false",
            "run=0",
            "PORT SAME",
        ]);
    assert_no_trace(&o, "SAME");
}

/// `vlans`, `pvid` and `untagged` replace the port's VLAN set, VLAN 1
/// included; they need CONFIG_BRIDGE_VLAN_FILTERING. Without it the call
/// fails at its line with nothing done: the port is not attached and the
/// bridge's VLAN filtering is still off.
#[test]
fn port_vlans_replace_the_set_or_fail_with_nothing_half_built() {
    let script = r#"let s = netns("s");
let br = bridge(s, "br0");
let c = veth(s, "p0", netns("b"), "e0");
let d = veth(s, "p1", netns("c"), "e0");
br.attach(d[0]);
try { br.attach(c[0], #{vlans: [10, 20], pvid: 10, untagged: [10]}); } catch (e) { print(`caught: ${e.message}`); }
let names = br.ports().map(|p| p.name); names.sort();
print(`ports: ${names}`);
print(`master: ${s.exec("ip -j link show p0").stdout.contains("master")}`);
print(`filtering: ${parse_json(s.exec("ip -j -d link show br0").stdout)[0].linkinfo.info_data.vlan_filtering}`);
try { br.port(d[0], #{vlans: 30, pvid: 30}); } catch (e) { print(`caught again: ${e.message}`); }
print(`vlans: ${br.vlans().filter(|v| v.port != "br0")}`);
print(`tool: ${s.exec("bridge -j vlan show dev p1").stdout}`);
"#;
    let o = run_ok("v.rhai", script);
    if has_vlan_filtering() {
        // VLAN 1 is gone from both ports, each has only what it was given.
        o.says(&[
            "ports: [\"p0\", \"p1\"]",
            "filtering: 1",
            "#{\"port\": \"p0\", \"pvid\": true, \"untagged\": true, \"vid\": 10}",
            "#{\"port\": \"p0\", \"pvid\": false, \"untagged\": false, \"vid\": 20}",
            "#{\"port\": \"p1\", \"pvid\": true, \"untagged\": false, \"vid\": 30}",
        ]);
        o.lacks(&["caught", "\"vid\": 1}"]);
    } else {
        o.says(&[
            "caught: cannot give a bridge port VLANs: the kernel has no bridge VLAN filtering",
            "ports: [\"p1\"]",
            "master: false",
            "filtering: 0",
            "caught again: cannot give a bridge port VLANs: the kernel has no bridge VLAN filtering",
            "vlans: []",
            "tool: []",
        ]);
        fails_at(
            "v2.rhai",
            "let s = netns(\"s\");\nlet br = bridge(s, \"br0\");\nlet c = veth(s, \"p0\", netns(\"b\"), \"e0\");\nbr.attach(c[0], #{vlans: [10, 20], pvid: 10, untagged: [10]});\n",
            "v2.rhai:4",
            "cannot give a bridge port VLANs: the kernel has no bridge VLAN filtering (it was built without CONFIG_BRIDGE_VLAN_FILTERING)",
            "CONFIG_BRIDGE_VLAN_FILTERING=y",
        );
    }
}

/// A script that fails on port VLANs, in host mode: nothing stays.
#[test]
fn a_failed_port_vlan_call_leaves_no_trace() {
    if !needs_root(" (a private host)") || has_vlan_filtering() {
        return;
    }
    let d = Dir::with(&[(
        "v.rhai",
        "let br = bridge(host(), \"hbr\");\nlet c = veth(host(), \"hp0\", netns(\"b\"), \"e0\");\nbr.attach(c[0], #{cost: 3});\nbr.port(c[0], #{vlans: [10]});\n",
    )]);
    let o = leaves_no_trace(&d, "\"$NSLAB\" run v.rhai; echo run=$?\n");
    says(&o.stdout, &["run=1"]);
    assert!(
        o.stderr.contains("the kernel has no bridge VLAN filtering"),
        "{}",
        o.all()
    );
}

#[test]
fn bad_bridge_and_port_values_are_errors_at_the_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "bridge(a, \"br0\", #{priority: 70000});",
            "bridge priority 70000 is out of range",
            "the STP bridge priority is 0..=65535",
        ),
        (
            "bridge(a, \"br0\", #{priority: -1});",
            "bridge priority -1 is out of range",
            "the lowest is the root bridge",
        ),
        (
            "bridge(a, \"br0\", #{priority: \"high\"});",
            "option 'priority' must be a whole number, not string",
            "priority: 4096",
        ),
        (
            "let br = bridge(a, \"br0\"); br.attach(c[0]); br.port(c[0], #{cost: 0});",
            "cost = 0 is out of range",
            "cost is 1..=65535",
        ),
        (
            "bridge(a, \"br0\").attach(c[0], #{cost: 0});",
            "cost = 0 is out of range",
            "cost is 1..=65535",
        ),
        (
            "let br = bridge(a, \"br0\"); br.attach(c[0]); br.port(c[0], #{priority: 64});",
            "priority = 64 is out of range",
            "priority is 0..=63",
        ),
        (
            "let br = bridge(a, \"br0\"); br.attach(c[0]); br.port(c[0], #{learn: false});",
            "unknown port option 'learn'",
            "isolated, hairpin, cost, priority, learning, flood, vlans, pvid and untagged",
        ),
        (
            "let br = bridge(a, \"br0\"); br.attach(c[0]); br.port(c[0], #{ipv6: true});",
            "unknown port option 'ipv6'",
            "learning, flood, vlans, pvid and untagged",
        ),
        (
            "let br = bridge(a, \"br0\"); br.attach(c[0]); br.port(c[0], #{flood: 1});",
            "option 'flood' must be true or false",
            "flood: true",
        ),
        (
            "let br = bridge(a, \"br0\"); br.port(c[0], #{cost: 5});",
            "'p0' is not a port of bridge 'br0' in 'a'",
            "attach it first",
        ),
        (
            "let br = bridge(a, \"br0\"); br.attach(c[0]); br.port(c[0], #{vlans: []});",
            "an empty VLAN set would leave the port in no VLAN",
            "vlans: [1]",
        ),
        (
            "c[1].port(c[0], #{cost: 5});",
            "'e0' is a veth link, not a bridge: it has no port options",
            "call it on a bridge",
        ),
    ];
    for (i, (line, message, help)) in cases.iter().enumerate() {
        let name = format!("b{i}.rhai");
        fails_at(
            &name,
            &format!("let a = netns(\"a\");\nlet c = veth(a, \"p0\", a, \"e0\");\n{line}\n"),
            &format!("{name}:3"),
            message,
            help,
        );
    }
}

/// `nslab plan` writes the bridge priority and the port options as `ip`
/// commands, and the plan builds and tears down as the script does.
#[test]
fn plan_writes_the_bridge_priority_and_port_options() {
    let d = Dir::new();
    d.write(
        "lab.rhai",
        r#"let s = netns("ps");
let br = bridge(s, "br0", #{stp: true, priority: 8192});
let c = veth(s, "p0", netns("pb"), "e0");
br.attach(c[0], #{cost: 7, learning: false});
br.port(c[0], #{hairpin: true, flood: false});
"#,
    );
    let o = nslab(&["plan", "lab.rhai"], d.path());
    o.assert_ok();
    let p = &o.stdout;
    for want in [
        "ip -n ps link add br0 type bridge stp_state 1 priority 8192\n",
        "ip -n ps link set dev p0 type bridge_slave cost 7 learning off\n",
        "\n# lab.rhai:5  br.port(c[0], #{hairpin: true, flood: false});\nip -n ps link set dev p0 type bridge_slave hairpin on flood off\n",
    ] {
        assert!(p.contains(want), "no {want:?} in the plan:\n{p}");
    }
    if !needs_root(" (a private host)") {
        return;
    }
    let h = Dir::new();
    h.write("plan.sh", p);
    let o = private_host(
        &h,
        "snap > before\nNSLAB_PLAN_KEEP=1 bash ./plan.sh > out 2>&1 && echo RAN || cat out\n\
         ip -n ps -d link show br0 | grep -o 'priority [0-9]*'\n\
         bridge -n ps -d link show dev p0 | grep -o 'cost [0-9]*\\|hairpin [a-z]*\\|learning [a-z]*\\|flood [a-z]*' | tr '\\n' ' '; echo\n",
    );
    o.says(&[
        "RAN",
        "priority 8192",
        "cost 7 hairpin on learning off flood off",
    ]);
}

/// Killed after br.port changed a host bridge's port: `nslab down` puts the
/// old values back from the journal.
#[test]
fn br_port_on_a_host_link_is_undone_by_down_after_a_kill() {
    if !needs_root(" (a private host)") {
        return;
    }
    let d = Dir::with(&[(
        "port.rhai",
        r#"let h = host();
h.link("hb").port(h.link("hv0"), #{cost: 9, hairpin: true, learning: false, flood: false, isolated: true, priority: 7});
print("ready");
h.exec("sleep 30");
"#,
    )]);
    let o = private_host(
        &d,
        "ip link add hb type bridge && ip link add hv0 type veth peer name hv1 && ip link set hv0 master hb && ip link set hb up && ip link set hv0 up\n\
         bridge -d link show dev hv0 > port-before\n\
         snap > before\n\
         \"$NSLAB\" run port.rhai > out 2>&1 &\n\
         pid=$!\n\
         wait_until 'grep -q ready out' 20 || { echo NOT READY; cat out; }\n\
         bridge -d link show dev hv0 | grep -o 'cost [0-9]*'\n\
         kill -KILL $pid; wait $pid\n\
         \"$NSLAB\" down --all; echo down=$?\n\
         no_trace\n\
         bridge -d link show dev hv0 > port-after\n\
         cmp -s port-before port-after && echo PORT SAME || diff port-before port-after\n",
    );
    o.because("the lab changed the port, was killed, and down undid it")
        .says(&["cost 9", "down=0", "PORT SAME"]);
    assert_no_trace(&o, "SAME");
}
