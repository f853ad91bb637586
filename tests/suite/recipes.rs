//! The bundled recipes build what they promise: every part of each topology
//! reaches the parts it should, and bad options are clear errors at the
//! caller's line.

use crate::common::*;
use std::path::Path;

#[test]
fn star_hosts_reach_each_other() {
    let o = ok(
        "star.rhai",
        r#"import "topo" as topo;
let s = topo::star(#{hosts: 5, subnet: "10.3.0.0/28", prefix: "n"});
print(`names ${s.hosts.map(|h| h.name)} ips ${s.ips}`);
for a in [s.hosts[0], s.hosts[4]] {
    for ip in s.ips { if !a.ping(ip, #{count: 1}).ok { throw `${a.name} -> ${ip}`; } }
}
print("star ok");
"#,
    );
    o.says(&[
        r#"names ["n1", "n2", "n3", "n4", "n5"]"#,
        r#""10.3.0.1", "10.3.0.2", "10.3.0.3", "10.3.0.4", "10.3.0.5""#,
        "star ok",
    ]);
}

#[test]
fn line_ends_reach_each_other_through_every_hop() {
    let o = ok(
        "line.rhai",
        r#"import "topo" as topo;
let l = topo::line(#{nodes: 5});
let far = l.nodes[0].ping(l.last_ip, #{count: 1});
print(far.output);
if !far.ok || !l.nodes[4].ping(l.first_ip, #{count: 1}).ok { throw "ends"; }
// Every node reaches every link address.
for n in l.nodes { for net in l.subnets {
    for ip in subnet_hosts(net, 2) { if !n.ping(ip_of(ip), #{count: 1}).ok { throw `${n.name} -> ${ip}`; } }
} }
print("line ok");
"#,
    );
    // Four hops: the reply left r5 with ttl 64 and crossed three routers.
    o.says(&["ttl=61", "line ok"]);
}

#[test]
fn two_lans_meet_through_the_router() {
    let o = ok(
        "lans.rhai",
        r#"import "topo" as topo;
let t = topo::two_lans(#{hosts: 3, lan_a: "10.11.0.0/24", lan_b: "10.12.0.0/24"});
print(`gateways ${t.gw_a} ${t.gw_b}; b ${t.ips_b}`);
for a in t.lan_a { for ip in t.ips_b { if !a.ping(ip, #{count: 1}).ok { throw `${a.name} -> ${ip}`; } } }
for b in t.lan_b { for ip in t.ips_a { if !b.ping(ip, #{count: 1}).ok { throw `${b.name} -> ${ip}`; } } }
print(t.lan_a[0].ping(t.ips_b[2], #{count: 1}).output);
print("lans ok");
"#,
    );
    o.says(&[r#"gateways 10.11.0.1 10.12.0.1; b ["10.12.0.2", "10.12.0.3", "10.12.0.4"]"#]);
    assert!(
        o.stdout.contains("ttl=63"),
        "one router between: {}",
        o.all()
    );
    o.says(&["lans ok"]);
}

#[test]
fn a_pair_works_with_ipv6_too() {
    let o = ok(
        "pair.rhai",
        r#"import "topo" as topo;
let p = topo::pair(#{subnet: "fd00:7::/64", dev: "cable"});
print(`${p.a.name} ${p.b.name} ${p.ips} ${p.links[1].name}`);
if !p.b.ping(p.ips[0]).ok { throw "pair"; }
"#,
    );
    o.says(&[r#"a b ["fd00:7::1", "fd00:7::2"] cable"#]);
}

#[test]
fn nat_gateway_hides_the_hosts_behind_its_address() {
    let o = ok(
        "nat.rhai",
        r#"import "nat" as nat;
let g = nat::gateway(#{hosts: 3, lan: "10.44.0.0/24"});
let srv = g.internet.listen(#{proto: "udp", port: 53});
for h in g.hosts { if !h.connect(g.internet_ip, #{proto: "udp", port: 53}) { throw h.name; } }
print(`peers ${srv.peers} public ${g.public_ip}`);
// The internet has no way back to the LAN except through NAT.
print(`internet -> lan: ${g.internet.ping(g.ips[0], #{count: 1, timeout_ms: 200}).ok}`);
"#,
    );
    o.says(&[
        r#"peers ["203.0.113.1", "203.0.113.1", "203.0.113.1"] public 203.0.113.1"#,
        "internet -> lan: false",
    ]);
}

#[test]
fn a_subnet_too_small_is_an_error_at_the_callers_line() {
    let o = fails_at(
        "small.rhai",
        "import \"topo\" as topo;\n\nlet s = topo::star(#{hosts: 8, subnet: \"10.1.0.0/29\"});\n",
        "small.rhai:3:",
        "subnet 10.1.0.0/29 has room for 6 host address(es); 8 are needed",
        "use a bigger subnet: /28 or shorter",
    );
    o.all_says(&["recipe 'star' of stdlib/topo.rhai"]);
}

#[test]
fn an_unknown_option_names_the_valid_ones() {
    fails_at(
        "opt.rhai",
        "import \"nat\" as nat;\nnat::gateway(#{host: 2});\n",
        "opt.rhai:2:",
        "unknown option 'host'",
        "did you mean `hosts`? the options are: gateway, hosts, internet, lan, prefix",
    );
    fails_at(
        "ty.rhai",
        "import \"topo\" as topo;\ntopo::line(#{nodes: \"3\"});\n",
        "ty.rhai:2:",
        "option 'nodes' must be a number, not a string",
        "the default is 3",
    );
}

/// `--set` reaches param() in a recipe script, and a --set nobody reads is
/// a warning.
#[test]
fn parameters_from_the_command_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = nslab(
        &[
            "run",
            "--isolated",
            "scripts/recipe-star.rhai",
            "--set",
            "hosts=8",
            "--set",
            "subnet=10.5.0.0/24",
            "--set",
            "colour=blue",
        ],
        root,
    );
    o.assert_ok();
    o.says(&["h1 reached 8 of 8 hosts (10.5.0.1 .. 10.5.0.8)"]);
    assert!(
        o.stderr.contains(
            "warning: --set colour=… was given but the script never reads param(\"colour\")"
        ),
        "{}",
        o.stderr
    );
}
