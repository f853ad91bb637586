//! Port forwarding (dnat), hairpin NAT and source NAT to a fixed address
//! (snat), proven by traffic: whether a connection gets through, and the
//! source address the far end's listener saw; `nft -j` inside the lab shows
//! the rules as the kernel holds them.

use crate::common::*;

/// A home router: "internet" (203.0.113.10) on its wan (203.0.113.1, the
/// public address), a LAN switch behind its lan device (10.0.0.1) with a
/// server (10.0.0.2) and a client (10.0.0.3). The internet has no route to
/// the LAN: only the public address is reachable from there.
const HOME: &str = r#"
let inet = netns("internet");
let r = netns("router");
let sw = netns("sw");
let srv = netns("server");
let cli = netns("client");
let w = veth(r, "wan", inet, "eth0");
w[0].addr("203.0.113.1/24"); w[1].addr("203.0.113.10/24");
w[0].addr("2001:db8::1/64"); w[1].addr("2001:db8::10/64");
let br = bridge(sw, "br0");
let l = veth(r, "lan", sw, "p0"); br.attach(l[1]);
l[0].addr("10.0.0.1/24"); l[0].addr("fd00::1/64");
let s = veth(srv, "eth0", sw, "p1"); br.attach(s[1]);
s[0].addr("10.0.0.2/24"); s[0].addr("fd00::2/64");
let c = veth(cli, "eth0", sw, "p2"); br.attach(c[1]);
c[0].addr("10.0.0.3/24");
for ns in [srv, cli] { ns.route("default", "10.0.0.1"); }
srv.route("default", "fd00::1");
r.forwarding(true);
let web = srv.listen(8080);
fn probe(ns, ip) { ns.connect(ip, #{port: 80, timeout_ms: 300}) }
"#;

#[test]
fn dnat_forwards_a_port_and_hairpin_nat_serves_the_lan() {
    let o = ok(
        "home.rhai",
        &format!(
            r#"{HOME}
print(`before: ${{probe(inet, "203.0.113.1")}}`);
dnat(r, #{{proto: "tcp", dport: 80, to: "10.0.0.2:8080", iif: "wan"}});
// Port forwarding goes on working under a forward policy of drop.
r.policy("forward", "drop");
print(`forwarded: ${{probe(inet, "203.0.113.1")}}`);
print(`web saw ${{web.peers}}`);
// The LAN's client uses the public address: the wan-only rule does not
// apply (the router itself answers: nothing listens on its port 80).
print(`hairpin before: ${{probe(cli, "203.0.113.1")}}`);
dnat(r, #{{proto: "tcp", dport: 80, to: "10.0.0.2:8080", daddr: "203.0.113.1"}});
// Without masquerading the server would answer the client directly, from
// 10.0.0.2, which the client never asked: the LAN is masqueraded on its
// own device so replies go back through the router.
masquerade(r, "10.0.0.0/24", "lan");
print(`hairpin: ${{probe(cli, "203.0.113.1")}}`);
print(`web saw ${{web.peers}}`);
print(`nft ${{r.exec("nft -j list ruleset").stdout}}`);
"#
        ),
    );
    o.says(&["before: false", "forwarded: true"]);
    o.because("the server did not see the internet's address")
        .says(&[r#"web saw ["203.0.113.10"]"#]);
    o.says(&["hairpin before: false", "hairpin: true"]);
    o.because("the hairpinned client should reach the server from the router's LAN address")
        .says(&[r#"web saw ["203.0.113.10", "10.0.0.1"]"#]);
    let nft = o.after("nft ");
    let v: serde_json::Value = serde_json::from_str(nft).expect("nft -j output");
    let items = v["nftables"].as_array().unwrap();
    let pre = items
        .iter()
        .find(|i| i["chain"]["name"] == "prerouting")
        .unwrap_or_else(|| panic!("no prerouting chain:\n{nft}"));
    assert_eq!(pre["chain"]["type"], "nat", "{nft}");
    assert_eq!(pre["chain"]["prio"], -100, "dstnat priority:\n{nft}");
    let dnats: Vec<&serde_json::Value> = items
        .iter()
        .filter(|i| i["rule"]["chain"] == "prerouting")
        .flat_map(|i| i["rule"]["expr"].as_array().unwrap())
        .filter_map(|e| e.get("dnat"))
        .collect();
    assert_eq!(dnats.len(), 2, "{nft}");
    for d in dnats {
        assert_eq!(d["addr"], "10.0.0.2", "{nft}");
        assert_eq!(d["port"], 8080, "{nft}");
    }
}

#[test]
fn dnat_forwards_to_ipv6_and_keeps_the_port_when_none_is_given() {
    let o = ok(
        "home6.rhai",
        &format!(
            r#"{HOME}
let web80 = srv.listen(80);
// Forwarded IPv6 packets find no neighbour while the router's link-local
// address is still in duplicate address detection (about a second after
// its link came up; seen without any NAT too): the router's own ping,
// from fd00::1, finds the server first.
r.ping("fd00::2", #{{count: 1}});
print(`before: ${{inet.connect("2001:db8::1", #{{port: 8080, timeout_ms: 300}})}}`);
dnat(r, #{{proto: "tcp", dport: 8080, to: "[fd00::2]:8080", iif: "wan"}});
dnat(r, #{{proto: "tcp", dport: 80, to: "fd00::2"}});
// A long timeout: on a busy machine the probe is sent again within it.
print(`v6: ${{inet.connect("2001:db8::1", #{{port: 8080, timeout_ms: 5000}})}} ${{inet.connect("2001:db8::1", #{{port: 80, timeout_ms: 5000}})}}`);
print(`saw ${{web.peers}} ${{web80.peers}}`);
"#
        ),
    );
    o.says(&[
        "before: false",
        "v6: true true",
        r#"saw ["2001:db8::10"] ["2001:db8::10"]"#,
    ]);
}

#[test]
fn snat_gives_the_far_end_the_chosen_address() {
    let o = ok(
        "snat.rhai",
        r#"
let h = host();
let lan = netns("lan");
let inet = netns("inet");
let a = veth(h, "to-lan", lan, "eth0");
a[0].addr("10.0.0.1/24"); a[1].addr("10.0.0.2/24");
let b = veth(h, "uplink", inet, "eth0");
b[0].addr("203.0.113.1/24"); b[1].addr("203.0.113.10/24");
// The address to translate to is one of the router's own, not its first.
b[0].addr("203.0.113.5/24");
lan.route("default", "10.0.0.1");
h.forwarding(true);
let web = inet.listen(80);
print(`before: ${lan.connect("203.0.113.10", #{port: 80, timeout_ms: 300})}`);
snat(h, "10.0.0.0/24", "uplink", "203.0.113.5");
print(`after: ${lan.connect("203.0.113.10", 80)}`);
print(`web saw ${web.peers}`);
"#,
    );
    o.says(&["before: false", "after: true"]);
    o.because("the far end should see the snat address, not the masquerade one")
        .says(&[r#"web saw ["203.0.113.5"]"#]);
}

#[test]
fn nat_calls_with_bad_arguments_are_errors_at_their_line() {
    let cases = [
        (
            "dnat(r, #{proto: \"tcp\", dport: 80, to: \"10.0.0.2:99999\"});",
            "is not an address, or address and port",
            "\"10.0.0.2:8080\"",
        ),
        (
            "dnat(r, #{proto: \"tcp\", dport: 80, to: \"10.0.0.2\", iif: \"wna\"});",
            "there is no link 'wna' in namespace 'r'",
            "ns.links() lists the links there",
        ),
        (
            "snat(r, \"10.0.0.0/24\", \"wan\", \"fd00::5\");",
            "different IP versions",
            "IPv4 to IPv4",
        ),
        (
            "snat(r, \"10.0.0.0/24\", \"nope\", \"203.0.113.5\");",
            "there is no link 'nope' in namespace 'r'",
            "ns.links() lists the links there",
        ),
    ];
    for (call, message, help) in cases {
        fails_at(
            "t.rhai",
            &format!(
                "let r = netns(\"r\");\nlet w = veth(r, \"wan\", netns(\"i\"), \"eth0\");\n{call}\n"
            ),
            "t.rhai:3",
            message,
            help,
        );
    }
}
