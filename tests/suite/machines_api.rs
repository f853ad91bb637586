//! The rest of the script API on namespaces placed on another machine
//! (issue 25): bridges with ports on both machines, firewall and NAT, the
//! reads, captures whose file comes back to the driver. Simulated as in
//! machines.rs: m1 runs the script, m2 the agent.

use super::machines::machines;
use crate::common::*;

/// `msnap M`: machine M's links, addresses, routes and nft rules.
/// `run_lab FILE`: runs FILE on m1 against m2's agent; `both_same`: m1 and
/// m2 as they were (after `both_before`) and the agent holds nothing.
const AROUND: &str = r#"
msnap() {
  ip -n $1 -o link show | sed -E 's/^[0-9]+: //; s/ link\/.*//' | sort
  ip -n $1 -o addr show | sed -E 's/^[0-9]+: //; s/ valid_lft.*//' | sort
  ip -n $1 route show table all | sort
  ip netns exec $1 nft list ruleset
}
both_before() {
  agent --grace-ms 100
  # The machines' own link-local addresses settled first (their routes
  # come with them).
  wait_until '! ip -n m1 addr | grep -q tentative && ! ip -n m2 addr | grep -q tentative' 10
  msnap m1 > m1.before; msnap m2 > m2.before
}
run_lab() { run_on m1 "\"$NSLAB\" run $1 --machines m2=192.0.2.2:7600 --token-file token"; echo run=$?; }
both_same() {
  wait_until '[ -z "$(agent_sees)" ]' 20 && echo AGENT_CLEAN
  msnap m1 > m1.after; diff m1.before m1.after && echo M1_SAME
  msnap m2 > m2.after; diff m2.before m2.after && echo M2_SAME
  ls /tmp | grep -q "^nslab-agent-$AG-" || echo AGENT_FILES_GONE
}
"#;

/// `echo_requests FILE`: the ICMP echo requests in a pcap file, counted
/// by a reader of its own (tcpdump cannot drop its privileges in the
/// private host's user namespace).
const ECHO_REQUESTS: &str = r#"
echo_requests() {
  python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:4] == b"\xd4\xc3\xb2\xa1", "not a little-endian pcap file"
o, n = 24, 0
while o + 16 <= len(d):
    incl = struct.unpack("<I", d[o + 8:o + 12])[0]
    p = d[o + 16:o + 16 + incl]
    o += 16 + incl
    if len(p) > 34 and p[12:14] == b"\x08\x00" and p[23] == 1 and p[34] == 8:
        n += 1
print(n)
' "$1"
}
"#;

fn lab(files: &[(&str, &str)], sh: &str) -> Out {
    machines(files, &format!("{AROUND}\n{ECHO_REQUESTS}\n{sh}"))
}

/// Runs `script` as lab.rhai once on m1 against m2's agent, between
/// `both_before` and `both_same`.
fn run_once(script: &str) -> Out {
    lab(
        &[("lab.rhai", script)],
        "both_before\nrun_lab lab.rhai\nboth_same\n",
    )
}

const CLEAN: [&str; 4] = ["AGENT_CLEAN", "M1_SAME", "M2_SAME", "AGENT_FILES_GONE"];

/// A bridge on m1 with hosts on both machines (a host on m2 joins it by a
/// veth whose end beside the bridge is a VXLAN link), and a bridge on m2
/// with a host on m1 and one on m2, the two bridges joined: every host
/// pings every other, and the bridge on m2 has the ports and options the
/// script gave, as `bridge link` there shows.
#[test]
fn hosts_on_both_machines_share_bridges() {
    let script = r#"
let sw = netns("sw");
let br = bridge(sw, "br0");
let sw2 = netns("sw2", #{on: "m2"});
let br2 = bridge(sw2, "br1", #{ageing_s: 100});
let h1 = netns("h1");
let h2 = netns("h2", #{on: "m2"});
let h3 = netns("h3");
let h4 = netns("h4", #{on: "m2"});
br.attach(veth(h1, "eth0", sw, "p1")[1]);
br.attach(veth(h2, "eth0", sw, "p2")[1]);
let trunk = veth(sw2, "up", sw, "p3");
br.attach(trunk[1]);
br2.attach(trunk[0]);
br2.attach(veth(h3, "eth0", sw2, "q3")[1]);
let q4 = veth(h4, "eth0", sw2, "q4")[1];
br2.attach(q4, #{cost: 10});
br2.port(q4, #{hairpin: true});
h1.addr("eth0", "10.7.0.1/24");
h2.addr("eth0", "10.7.0.2/24");
h3.addr("eth0", "10.7.0.3/24");
h4.addr("eth0", "10.7.0.4/24");
for p in [[h1, "10.7.0.2"], [h1, "10.7.0.3"], [h1, "10.7.0.4"], [h2, "10.7.0.3"], [h3, "10.7.0.4"], [h4, "10.7.0.1"]] {
    print(`${p[0].name}->${p[1]} ${p[0].ping(p[1]).ok}`);
}
print(`m2 ports ${sw2.run("bridge link show dev q4")}`);
print(`m2 ageing ${sw2.run("cat /sys/class/net/br1/bridge/ageing_time")}`);
for p in br2.ports() { print(`port ${p.name} cost ${p.cost} hairpin ${p.hairpin}`); }
"#;
    let o = run_once(script);
    o.says(&[
        "run=0",
        "h1->10.7.0.2 true",
        "h1->10.7.0.3 true",
        "h1->10.7.0.4 true",
        "h2->10.7.0.3 true",
        "h3->10.7.0.4 true",
        "h4->10.7.0.1 true",
        "m2 ageing 10000",
        "port q4 cost 10 hairpin true",
        "port up cost",
        "port q3 cost",
    ])
    .says(&CLEAN);
    let ports = o.after("m2 ports ");
    assert!(
        ports.contains("q4") && ports.contains("master br1") && ports.contains("cost 10"),
        "bridge link on m2: {ports}"
    );
}

/// A bridge and a link in namespaces on two machines cannot be joined:
/// an error at the line, naming both machines, with the way to do it.
#[test]
fn a_bridge_takes_no_link_of_another_machine() {
    let script = r#"
let sw = netns("sw");
let br = bridge(sw, "br0");
let h2 = netns("h2", #{on: "m2"});
let e = veth(h2, "eth0", sw, "p2");
br.attach(e[0]);
"#;
    let o = run_once(script);
    o.says(&["run=1"]).says(&CLEAN);
    let w = o.report_words();
    assert!(
        w.contains("link 'eth0' is in namespace 'h2' on machine 'm2' but bridge 'br0' is in 'sw' on this machine")
            && w.contains("lab.rhai:6")
            && w.contains("make a veth with one end beside the bridge"),
        "{}",
        o.all()
    );
}

/// NAT split over two machines: the client here, its gateway on m2
/// masquerading toward an "internet" namespace on m2. The internet host
/// sees the gateway's address (nft counters there), a port forward and a
/// filter rule on the gateway work, the reads of the gateway's rules come
/// back, and a rule naming a link m2 lacks is an error at its line naming
/// the machine.
#[test]
fn nat_on_a_gateway_of_another_machine() {
    let script = r#"
let client = netns("client");
let gw = netns("gw", #{on: "m2"});
let inet = netns("inet", #{on: "m2"});
veth(client, "eth0", gw, "lan");
veth(gw, "wan", inet, "eth0");
client.addr("eth0", "10.1.0.2/24");
gw.addr("lan", "10.1.0.1/24");
gw.addr("wan", "203.0.113.1/24");
inet.addr("eth0", "203.0.113.2/24");
client.route("default", "10.1.0.1");
gw.forwarding(true);
masquerade(gw, "10.1.0.0/24", "wan");
dnat(gw, #{proto: "tcp", dport: 8080, to: "10.1.0.2:80", iif: "wan"});
inet.accept(#{proto: "icmp", saddr: "203.0.113.1", counter: true, comment: "natted"});
inet.accept(#{proto: "icmp", saddr: "10.1.0.0/24", counter: true, comment: "raw"});
print(`ping ${client.ping("203.0.113.2").ok}`);
for c in inet.counters() { print(`counter ${c.comment} ${c.packets > 0}`); }
let verdicts = gw.firewall().rules.map(|r| r.verdict);
print(`verdicts ${verdicts}`);
print(`m2 says ${gw.run("nft list ruleset").contains("masquerade")}`);
print(`before drop ${client.ping("10.1.0.1").ok}`);
gw.drop(#{chain: "input", proto: "icmp", comment: "no pings"});
print(`after drop ${client.ping("10.1.0.1", #{count: 1, timeout_ms: 500}).ok}`);
masquerade(gw, "10.2.0.0/24", "nope");
"#;
    let o = run_once(script);
    o.says(&[
        "run=1",
        "ping true",
        "counter natted true",
        "counter raw false",
        "m2 says true",
        "before drop true",
        "after drop false",
    ])
    .says(&CLEAN);
    let v = o.after("verdicts ");
    assert!(
        v.contains("masquerade") && v.contains("dnat"),
        "gw.firewall() rules: {v}"
    );
    let w = o.report_words();
    assert!(
        w.contains("on machine 'm2'") && w.contains("nope") && w.contains("lab.rhai:25"),
        "{}",
        o.all()
    );
}

/// The reads of a namespace on m2 give what the tools there show, in the
/// same shape as the reads of one here.
#[test]
fn reads_of_a_namespace_on_another_machine() {
    let script = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
veth(a, "ea", b, "eb");
a.addr("ea", "10.9.0.1/24");
b.addr("eb", "10.9.0.2/24");
b.route("10.8.0.0/16", "10.9.0.1");
b.ping("10.9.0.1");
let eb = b.link("eb");
let l = b.links().filter(|l| l.name == "eb")[0];
print(`link ${l.name} ${l.kind} mtu ${l.mtu} up ${l.up}`);
print(`same keys ${a.links()[0].keys() == l.keys()}`);
print(`addrs ${b.addrs().filter(|x| x.dev == "eb" && x.family == "inet").map(|x| x.addr)}`);
print(`route ${b.routes().filter(|r| r.dst == "10.8.0.0/16")[0].text}`);
let n = b.neighbors("eb").filter(|n| n.ip == "10.9.0.1")[0];
print(`neighbor mac ok ${n.mac == a.link("ea").mac()}`);
print(`rules ${b.rules().len()} ${b.run("sh -c '{ ip -4 rule show; ip -6 rule show; } | wc -l'")}`);
let g = b.route_get("10.8.1.1");
print(`route_get ${g.dev} via ${g.via} src ${g.src}`);
print(`stats ${eb.stats().tx_packets > 0}`);
print(`qdisc ${eb.qdisc().len() > 0}`);
print(`sysctl ${b.sysctl("net.ipv4.ip_forward")}`);
print(`mac ${b.run("ip -o link show eb").contains(eb.mac())}`);
print(`fw ${b.firewall().rules.len()}`);
print(`m2 addr ${b.run("ip -o -4 addr show dev eb")}`);
print(`m2 route ${b.run("ip route get 10.8.1.1")}`);
print(`lab ${lab().namespaces.map(|n| n.name)} ${lab().links.filter(|l| l.ns.name == "b").map(|l| l.name)}`);
print(`shown ${show(#{json: false}).contains("namespace b (on machine m2)")}`);
print(`json ${parse_json(show(#{json: true})).namespaces.filter(|n| n.name == "b")[0].machine}`);
b.link("nope");
"#;
    let o = run_once(script);
    o.says(&[
        "run=1",
        "link eb vxlan mtu 1450 up true",
        "same keys true",
        "addrs [\"10.9.0.2/24\"]",
        "route 10.8.0.0/16 via 10.9.0.1 dev eb",
        "neighbor mac ok true",
        "route_get eb via 10.9.0.1 src 10.9.0.2",
        "stats true",
        "qdisc true",
        "sysctl 0",
        "mac true",
        "fw 0",
        "10.9.0.2/24",
        "10.8.1.1 via 10.9.0.1 dev eb src 10.9.0.2",
        "lab [\"a\", \"b\"] [\"eb\"]",
        "shown true",
        "json m2",
    ])
    .says(&CLEAN);
    let rules: Vec<&str> = o.after("rules ").split_whitespace().collect();
    assert!(
        rules.len() == 2 && rules[0] == rules[1],
        "b.rules() and ip rule on m2 differ: {rules:?}"
    );
    let w = o.report_words();
    assert!(
        w.contains("on machine 'm2'") && w.contains("nope") && w.contains("lab.rhai:30"),
        "{}",
        o.all()
    );
}

/// A capture on a link of a namespace on m2 runs there; its file comes
/// back here at cap.stop(), whole, and cap.packets() decodes it; the
/// agent's copy goes with the lab.
#[test]
fn a_capture_on_another_machine_comes_back() {
    let script = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
veth(a, "ea", b, "eb");
a.addr("ea", "10.9.0.1/24");
b.addr("eb", "10.9.0.2/24");
let cap = b.link("eb").capture("cap.pcap");
print(`running ${cap.running}`);
a.ping("10.9.0.2", #{count: 3});
// What the agent's writer has flushed so far: fetched, decoded; and the
// file here, as it is there now.
cap.packets();
print(`file while running ${a.run(`sh -c "test -s ${cap.file} && echo yes"`)}`);
cap.stop();
print(`running ${cap.running}`);
print(`counted ${cap.packets >= 6}`);
let echoes = cap.packets().filter(|p| p.info.contains("echo request"));
print(`requests ${echoes.len()} from ${echoes[0].src}`);
print(`path ${cap.file}`);
let later = b.link("eb").capture("later.pcap");
b.ping("10.9.0.1", #{count: 2});
"#;
    let o = lab(
        &[("lab.rhai", script)],
        "both_before\nrun_lab lab.rhai\nboth_same\n\
         echo_requests cap.pcap | sed 's/^/driver file requests /'\n\
         echo_requests later.pcap | sed 's/^/later file requests /'\n",
    );
    o.says(&[
        "run=0",
        "running true",
        "file while running yes",
        "running false",
        "counted true",
        "requests 3 from 10.9.0.1",
        "driver file requests 3",
        "later file requests 2",
    ])
    .says(&CLEAN);
    let f = o.after("path ");
    assert!(
        f.ends_with("/cap.pcap") && !f.contains("nslab-agent"),
        "cap.file: {f}"
    );
}

/// The other changes to a namespace on m2: a link's MTU and MAC, a route
/// in another table and its removal, a policy rule, a static neighbour,
/// shaping and its removal, the flushes; each as the tools there show it.
#[test]
fn links_routes_rules_and_shaping_on_another_machine() {
    let script = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
let eb = veth(a, "ea", b, "eb")[1];
a.addr("ea", "10.9.0.1/24");
b.addr("eb", "10.9.0.2/24");
eb.mtu(1400);
eb.mac("02:00:00:00:00:02");
b.route("10.5.0.0/24", #{via: "10.9.0.1", table: 100});
b.route("10.6.0.0/24", #{via: "10.9.0.1", metric: 7});
b.route_delete("10.6.0.0/24", #{metric: 7});
b.rule(#{from: "10.9.0.0/24", table: 100, priority: 100});
b.neigh("eb", "10.9.0.7", "02:00:00:00:00:07");
eb.shape(#{rate: "10mbit"});
print(`link ${b.run("ip -o link show eb")}`);
print(`table 100 ${b.run("ip route show table 100")}`);
print(`gone ${b.run("ip route show 10.6.0.0/24") == ""}`);
print(`rule ${b.rules().filter(|r| r.priority == 100)[0].table}`);
print(`neigh ${b.run("ip neigh show 10.9.0.7")}`);
print(`qdisc ${eb.qdisc()[0].kind} ${eb.qdisc()[0].rate}`);
eb.unshape();
print(`unshaped ${eb.qdisc().filter(|q| q.kind == "tbf").len()}`);
b.ping("10.9.0.1");
b.route_flush_cache();
print(`flushed ${b.neigh_flush("eb") >= 1}`);
"#;
    let o = run_once(script);
    o.says(&[
        "run=0",
        "mtu 1400",
        "02:00:00:00:00:02",
        "table 100 10.5.0.0/24 via 10.9.0.1 dev eb",
        "gone true",
        "rule 100",
        "neigh 10.9.0.7 dev eb lladdr 02:00:00:00:00:07 PERMANENT",
        "qdisc tbf 10Mbit",
        "unshaped 0",
        "flushed true",
    ])
    .says(&CLEAN);
}

/// A call not carried across machines yet is refused at its line, naming
/// the namespace and the machine, with what works in the help; nothing
/// is done on this machine instead.
#[test]
fn a_link_cannot_move_between_machines() {
    let script = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
let eb = veth(a, "ea", b, "eb")[1];
eb.move(a);
"#;
    let o = run_once(script);
    o.says(&["run=1"]).says(&CLEAN);
    let w = o.report_words();
    assert!(
        w.contains("link 'eb' cannot move: 'b' on machine 'm2' and 'a' on this machine")
            && w.contains("a link stays on its machine")
            && w.contains("lab.rhai:5"),
        "{}",
        o.all()
    );
}

/// `ns.delete()`, `link.move()` and `a.throughput(b)` on namespaces of
/// another machine, carried out by its agent: `ip` on m2 shows the link
/// moved and the namespace gone, a later call on it says it was deleted,
/// the measurement counts bytes received there, and throughput between
/// two machines is refused at its line.
#[test]
fn delete_move_and_throughput_on_another_machine() {
    let script = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
let c = netns("c", #{on: "m2"});
let d = netns("d", #{on: "m2"});
veth(b, "eb", c, "ec");
b.addr("eb", "10.7.0.1/24");
c.addr("ec", "10.7.0.2/24");
let t = b.throughput(c, #{secs: 1});
print(`bytes ${t.bytes > 0} proto ${t.proto}`);
let m = veth(b, "mv0", d, "mv1")[0].move(d, "mv2");
print(`moved ${m.name} in d: ${d.links().map(|l| l.name).contains("mv2")}`);
print(`before: ${b.exec(["ls", "/run/netns"]).stdout.split("\n").contains("d")}`);
d.delete();
print(`gone: ${!b.exec(["ls", "/run/netns"]).stdout.split("\n").contains("d")}`);
try { d.links(); } catch (e) { print(`after: ${e}`); }
try { a.throughput(b, #{secs: 1}); } catch (e) { print(`across: ${e}`); }
"#;
    let o = run_once(script);
    o.says(&[
        "run=0",
        "bytes true proto tcp",
        "moved mv2 in d: true",
        "before: true",
        "gone: true",
    ])
    .says(&CLEAN);
    let all = o.all();
    assert!(
        all.contains("after: ") && all.contains("deleted earlier"),
        "{all}"
    );
    assert!(
        all.contains("across: ") && all.contains("'a' on this machine and 'b' on machine 'm2'"),
        "{all}"
    );
}

/// Three machines: a bridge on m2 with a host here and a host on m3 (its
/// port a VXLAN link between the two agents' machines): the hosts ping
/// each other through it, and every machine is as it was after.
#[test]
fn a_bridge_on_one_agent_with_a_host_on_another() {
    let script = r#"
let sw = netns("sw", #{on: "m2"});
let br = bridge(sw, "br0");
let h1 = netns("h1");
let h3 = netns("h3", #{on: "m3"});
br.attach(veth(h1, "eth0", sw, "p1")[1]);
br.attach(veth(h3, "eth0", sw, "p3")[1]);
h1.addr("eth0", "10.7.0.1/24");
h3.addr("eth0", "10.7.0.3/24");
print(`h1->h3 ${h1.ping("10.7.0.3").ok}`);
print(`h3->h1 ${h3.ping("10.7.0.1").ok}`);
print(`h3 host ${h3.run("hostname")}`);
"#;
    let o = lab(
        &[("lab.rhai", script)],
        "machine m3 192.0.2.3\n\
         both_before\n\
         on m3 \"exec \\\"$NSLAB\\\" agent --listen 192.0.2.3:7600 --token-file token --grace-ms 100\" 2> agent3.err &\n\
         AG3=$!\n\
         trap 'kill $AG $AG3 2>/dev/null' EXIT\n\
         wait_until \"nsenter --net=/run/netns/m3 ss -ltn | grep -q 7600\" 20\n\
         wait_until '! ip -n m3 addr | grep -q tentative' 10\n\
         msnap m3 > m3.before\n\
         run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600,m3=192.0.2.3:7600 --token-file token\"; echo run=$?\n\
         both_same\n\
         wait_until '[ -z \"$(nsenter --mount=/proc/$AG3/ns/mnt sh -c \"ls /run/netns; ls /run/nslab 2>/dev/null\")\" ]' 20 && echo AGENT3_CLEAN\n\
         msnap m3 > m3.after; diff m3.before m3.after && echo M3_SAME\n",
    );
    o.says(&[
        "run=0",
        "h1->h3 true",
        "h3->h1 true",
        "h3 host m3",
        "AGENT3_CLEAN",
        "M3_SAME",
    ])
    .says(&CLEAN);
}

/// Links of the other kinds in a namespace on m2 (those the kernel has):
/// a VXLAN of the script's own, a VLAN, a VRF, a macvlan on the veth end
/// there; link.delete() of one; each as `ip -d link` there shows it. A
/// macvlan here on a parent there is refused naming both machines.
#[test]
fn link_kinds_on_another_machine() {
    let mut kinds = vec![(
        "vx0",
        "vxlan id 42",
        "vxlan(b, \"vx0\", #{vni: 42, remote: \"192.0.2.1\", port: 4790});",
    )];
    if kernel_has_link("vlan") {
        kinds.push(("eb.10", "vlan protocol 802.1Q id 10", "vlan(eb, 10);"));
    }
    if kernel_has_link("vrf") {
        kinds.push(("red", "vrf table 10", "vrf(b, \"red\", 10);"));
    }
    if kernel_has_link("macvlan") {
        kinds.push(("mv0", "macvlan", "macvlan(b, \"mv0\", eb);"));
    }
    let made: String = kinds.iter().map(|k| format!("{}\n", k.2)).collect();
    let names: Vec<String> = kinds.iter().map(|k| format!("\"{}\"", k.0)).collect();
    let script = format!(
        "let a = netns(\"a\");\n\
         let b = netns(\"b\", #{{on: \"m2\"}});\n\
         let eb = veth(a, \"ea\", b, \"eb\")[1];\n\
         {made}\
         for l in [{}] {{ print(`${{l}}: ${{b.run(`ip -d -o link show ${{l}}`)}}`); }}\n\
         b.link(\"vx0\").delete();\n\
         print(`deleted ${{b.links().filter(|l| l.name == \"vx0\").len()}}`);\n\
         ipvlan(a, \"iv1\", eb);\n",
        names.join(", ")
    );
    let o = run_once(&script);
    o.says(&["run=1", "deleted 0"]).says(&CLEAN);
    for (l, want, _) in &kinds {
        let got = o.after(&format!("{l}: "));
        assert!(got.contains(want), "{l}: {got}");
    }
    let w = o.report_words();
    let line = format!("lab.rhai:{}", 7 + kinds.len());
    assert!(
        w.contains(
            "'iv1' would be in 'a' on this machine and its parent 'eb' in 'b' on machine 'm2'"
        ) && w.contains(&line),
        "{}",
        o.all()
    );
}

/// `ns.listen()` and `ns.wait_port()` on a namespace of another machine:
/// the listener runs there, a connection from here is answered, and its
/// `peers` (asked of the agent) name this side's address.
#[test]
fn a_listener_on_another_machine() {
    let script = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
veth(a, "ea", b, "eb");
a.addr("ea", "10.9.0.1/24");
b.addr("eb", "10.9.0.2/24");
let web = b.listen(8080);
b.wait_port(8080);
print(`connect ${a.connect("10.9.0.2", 8080)}`);
print(`peers ${web.peers}`);
try { b.wait_port(#{port: 8081, timeout_ms: 200}); } catch (e) { print(`nothing: ${e}`); }
"#;
    let o = run_once(script);
    o.says(&["run=0", "connect true", "peers [\"10.9.0.1\"]"])
        .says(&CLEAN);
    let all = o.all();
    assert!(
        all.contains("nothing: ") && all.contains("nothing listens on tcp port 8081"),
        "{all}"
    );
}
