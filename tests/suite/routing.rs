//! Routing the way labs use it: policy routing over two uplinks, ECMP over
//! two spines with failover, reject routes, tables by number and name,
//! route_delete, rules and neighbour entries. The kernel is the witness
//! (`ip -j route/rule/neigh` inside the lab, forwarding counters, pings);
//! host-mode tests compare the private host before and after.

use crate::common::*;

/// How many IPv4 packets a namespace forwarded (ForwDatagrams of its own
/// /proc/net/snmp): only the routers a packet went through count it.
const FORWARDED: &str = r#"
fn forwarded(ns) {
    let lines = ns.exec("cat /proc/net/snmp").stdout.split("\n").filter(|l| l.starts_with("Ip: "));
    let names = lines[0].split(" ");
    let values = lines[1].split(" ");
    parse_int(values[names.index_of("ForwDatagrams")])
}
"#;

#[test]
fn policy_routing_sends_each_source_out_its_own_uplink() {
    let o = run_isolated(
        "pbr.rhai",
        &format!(
            r#"{FORWARDED}
let gw = netns("gw");
let r1 = netns("r1");
let r2 = netns("r2");
let inet = netns("inet");
let a = netns("a");
let b = netns("b");
let la = veth(a, "eth0", gw, "lana");
let lb = veth(b, "eth0", gw, "lanb");
let u1 = veth(gw, "up1", r1, "in");
let u2 = veth(gw, "up2", r2, "in");
let w1 = veth(r1, "out", inet, "r1");
let w2 = veth(r2, "out", inet, "r2");
la[0].addr("10.10.1.2/24"); la[1].addr("10.10.1.1/24");
lb[0].addr("10.10.2.2/24"); lb[1].addr("10.10.2.1/24");
u1[0].addr("10.1.0.2/30"); u1[1].addr("10.1.0.1/30");
u2[0].addr("10.2.0.2/30"); u2[1].addr("10.2.0.1/30");
w1[0].addr("192.0.2.1/30"); w1[1].addr("192.0.2.2/30");
w2[0].addr("192.0.2.5/30"); w2[1].addr("192.0.2.6/30");
inet.addr("lo", "203.0.113.10/32");
a.route("default", "10.10.1.1");
b.route("default", "10.10.2.1");
// The internet answers each LAN through its own uplink's router.
inet.route("10.10.1.0/24", "192.0.2.1");
inet.route("10.10.2.0/24", "192.0.2.5");
r1.route("203.0.113.10", "192.0.2.2");
r2.route("203.0.113.10", "192.0.2.6");
r1.route("10.10.0.0/16", "10.1.0.2");
r2.route("10.10.0.0/16", "10.2.0.2");
for n in [gw, r1, r2] {{ n.forwarding(true); }}
gw.route("default", "10.1.0.1");

fn through(a, r1, r2, who) {{
    let f1 = forwarded(r1);
    let f2 = forwarded(r2);
    let p = a.ping("203.0.113.10", #{{count: 3}});
    if !p.ok {{ throw `${{who}} cannot reach the internet: ${{p.output}}`; }}
    print(`${{who}}: r1 forwarded ${{forwarded(r1) - f1}}, r2 forwarded ${{forwarded(r2) - f2}}`);
}}
through(b, r1, r2, "b without the rule");
gw.route("default", #{{via: "10.2.0.1", table: 100}});
gw.rule(#{{from: "10.10.2.0/24", table: 100}});
through(a, r1, r2, "a");
through(b, r1, r2, "b");
print(gw.exec("ip -j rule show; echo; ip -j route show table 100").stdout);
"#
        ),
    );
    o.assert_ok();
    for line in [
        // Out through r1 (the main table's default), back through r2.
        "b without the rule: r1 forwarded 3, r2 forwarded 3",
        "a: r1 forwarded 6, r2 forwarded 0",
        "b: r1 forwarded 0, r2 forwarded 6",
        r#"{"priority":32765,"src":"10.10.2.0","srclen":24,"table":"100"}"#,
        r#"[{"dst":"default","gateway":"10.2.0.1","dev":"up2","protocol":"static","flags":[]}]"#,
    ] {
        assert!(o.stdout.contains(line), "no '{line}':\n{}", o.stdout);
    }
}

/// A leaf with a multipath route over two spines, IPv4 and IPv6: `ip -j
/// route` shows both next hops, a down uplink's next hop turns dead and the
/// other one carries everything; ns.routes() reports the same.
#[test]
fn ecmp_over_two_spines_survives_an_uplink_going_down() {
    let o = run_isolated(
        "ecmp.rhai",
        &format!(
            r#"{FORWARDED}
let leaf = netns("leaf");
let s1 = netns("s1");
let s2 = netns("s2");
let far = netns("far");
let u1 = veth(leaf, "up1", s1, "leaf");
let u2 = veth(leaf, "up2", s2, "leaf");
let d1 = veth(far, "up1", s1, "far");
let d2 = veth(far, "up2", s2, "far");
u1[0].addr("10.1.1.2/30"); u1[1].addr("10.1.1.1/30");
u2[0].addr("10.1.2.2/30"); u2[1].addr("10.1.2.1/30");
d1[0].addr("10.2.1.2/30"); d1[1].addr("10.2.1.1/30");
d2[0].addr("10.2.2.2/30"); d2[1].addr("10.2.2.1/30");
u1[0].addr("fd01::2/64"); u1[1].addr("fd01::1/64");
u2[0].addr("fd02::2/64"); u2[1].addr("fd02::1/64");
d1[0].addr("fd11::2/64"); d1[1].addr("fd11::1/64");
d2[0].addr("fd12::2/64"); d2[1].addr("fd12::1/64");
far.addr("lo", "10.20.0.1/32");
far.addr("lo", "fd20::1/128");
// IPv6 drops a link's addresses when it goes down unless told to keep
// them; the failover below brings up1 down and up again.
leaf.sysctl("net.ipv6.conf.all.keep_addr_on_down", "1");
for n in [s1, s2] {{ n.forwarding(true); }}
s1.route("10.20.0.1", "10.2.1.2");
s2.route("10.20.0.1", "10.2.2.2");
s1.route("fd20::1", "fd11::2");
s2.route("fd20::1", "fd12::2");
// Replies go back through the spine whose subnet the request came from.
far.route("10.1.1.0/30", "10.2.1.1");
far.route("10.1.2.0/30", "10.2.2.1");
far.route("fd01::/64", "fd11::1");
far.route("fd02::/64", "fd12::1");
leaf.route("10.20.0.0/24", #{{nexthops: [#{{via: "10.1.1.1"}}, #{{via: "10.1.2.1", dev: "up2", weight: 3}}]}});
leaf.route("fd20::/64", #{{nexthops: [#{{via: "fd01::1"}}, #{{via: "fd02::1"}}]}});
print(leaf.exec("ip -j route show 10.20.0.0/24; echo; ip -j -6 route show fd20::/64").stdout);
let r = leaf.routes().filter(|r| r.dst == "10.20.0.0/24")[0];
print(`routes(): via=${{r.via}} dev=${{r.dev}} metric=${{r.metric}} table=${{r.table}} type=${{r.type}} hops=${{r.nexthops.len()}} ${{r.nexthops[1].via}} ${{r.nexthops[1].dev}} weight ${{r.nexthops[1].weight}}`);
let r6 = leaf.routes().filter(|r| r.dst == "fd20::/64")[0];
print(`routes() v6: metric=${{r6.metric}} hops=${{r6.nexthops.map(|h| h.via)}}`);

fn check(leaf, s1, s2, what) {{
    let f1 = forwarded(s1);
    let f2 = forwarded(s2);
    for ip in ["10.20.0.1", "fd20::1"] {{
        // A router's first neighbour solicitation towards a fresh link can
        // go unanswered; the kernel asks again a second later.
        let p = leaf.ping(ip, #{{count: 2, timeout_ms: 3000}});
        if !p.ok {{ throw `${{what}}: no answer from ${{ip}}: ${{p.output}}`; }}
    }}
    print(`${{what}}: ping ok, s1 forwarded ${{forwarded(s1) - f1}}, s2 forwarded ${{forwarded(s2) - f2}}`);
}}
check(leaf, s1, s2, "both up");
u1[0].down();
print(leaf.exec("ip -j route show 10.20.0.0/24; echo; ip -j -6 route show fd20::/64").stdout);
let dead = leaf.routes().filter(|r| r.dst == "10.20.0.0/24")[0].nexthops.map(|h| `${{h.dev}}:${{h.flags}}`);
print(`routes() after up1 down: ${{dead}}`);
check(leaf, s1, s2, "up1 down");
u1[0].up();
// IPv6 revives a next hop only once its link has carrier, and deletes a
// multipath route whose next hops are all dead: a probe first (nslab waits
// for links it brought up before one) keeps up2 from going down too early.
if !leaf.ping("10.1.1.1").ok {{ throw "up1 did not come back"; }}
u2[0].down();
check(leaf, s1, s2, "up2 down");
"#
        ),
    );
    o.assert_ok();
    for line in [
        r#""nexthops":[{"gateway":"10.1.1.1","dev":"up1","weight":1,"flags":[]},{"gateway":"10.1.2.1","dev":"up2","weight":3,"flags":[]}]"#,
        r#"{"gateway":"fd01::1","dev":"up1","weight":1,"flags":[]},{"gateway":"fd02::1","dev":"up2","weight":1,"flags":[]}"#,
        "routes(): via= dev= metric=0 table=254 type=unicast hops=2 10.1.2.1 up2 weight 3",
        "routes() v6: metric=1024 hops=[\"fd01::1\", \"fd02::1\"]",
        r#"{"gateway":"10.1.1.1","dev":"up1","weight":1,"flags":["dead","linkdown"]}"#,
        r#"routes() after up1 down: ["up1:[\"dead\", \"linkdown\"]", "up2:[]"]"#,
        // IPv4 pings only: two requests, two replies, all through s2.
        "up1 down: ping ok, s1 forwarded 0, s2 forwarded 4",
        "up2 down: ping ok, s1 forwarded 4, s2 forwarded 0",
    ] {
        assert!(o.stdout.contains(line), "no '{line}':\n{}", o.stdout);
    }
}

#[test]
fn blackhole_unreachable_and_prohibit_routes_fail_as_the_kernel_says() {
    let o = run_isolated(
        "reject.rhai",
        r#"
let c = netns("c");
let r = netns("r");
let e = veth(c, "v", r, "v");
e[0].addr("10.0.0.2/24");
e[1].addr("10.0.0.1/24");
c.route("default", "10.0.0.1");
r.forwarding(true);
// Every ICMP error the test asks for, however close together.
r.sysctl("net.ipv4.icmp_ratelimit", "0");
c.sysctl("net.ipv4.icmp_ratelimit", "0");
let n = 1;
for t in ["blackhole", "unreachable", "prohibit"] {
    r.route(`10.9.${n}.0/24`, #{type: t});
    c.route(`10.8.${n}.0/24`, #{type: t, metric: n});
    // From c itself: the route's own error.
    print(`${t} local: ${c.ping(`10.8.${n}.1`, #{count: 1}).error}`);
    print(`${t} get: ${c.exec(`ip route get 10.8.${n}.1`).stderr}`);
    // Through the router: its ICMP answer, or nothing for a blackhole.
    print(`${t} forwarded: ${c.exec(["ping", "-c", "1", "-W", "1", `10.9.${n}.1`]).stdout.split("\n")[1]}`);
    print(`${t} nslab: ${c.ping(`10.9.${n}.1`, #{count: 1, timeout_ms: 1000}).error}`);
    n += 1;
}
// A loop between r and r2: the packet's TTL runs out on the way.
let r2 = netns("r2");
let f = veth(r, "w", r2, "w");
f[0].addr("10.1.0.1/24");
f[1].addr("10.1.0.2/24");
r2.forwarding(true);
r2.sysctl("net.ipv4.icmp_ratelimit", "0");
r2.route("10.0.0.0/24", "10.1.0.1");
r.route("10.7.0.0/16", "10.1.0.2");
r2.route("10.7.0.0/16", "10.1.0.1");
print(`loop nslab: ${c.ping("10.7.0.1", #{count: 1, timeout_ms: 1000}).error}`);
print(`loop forwarded: ${c.exec(["ping", "-c", "1", "-W", "1", "10.7.0.1"]).stdout.split("\n")[1]}`);
for x in c.routes().filter(|x| x.dst.starts_with("10.8.")) { print(`routes(): ${x.type} ${x.dst} metric ${x.metric} dev ${x.dev} via ${x.via}`); }
print(c.exec("ip -j route show root 10.8.0.0/16").stdout);
show();
"#,
    );
    o.assert_ok();
    for line in [
        "blackhole local: Invalid argument",
        "blackhole get: RTNETLINK answers: Invalid argument",
        "blackhole forwarded: \n",
        "unreachable local: No route to host",
        "unreachable get: RTNETLINK answers: No route to host",
        "unreachable forwarded: From 10.0.0.1 icmp_seq=1 Destination Host Unreachable",
        "prohibit local: Permission denied",
        "prohibit get: RTNETLINK answers: Permission denied",
        "prohibit forwarded: From 10.0.0.1 icmp_seq=1 Packet filtered",
        // nslab's own ping says what ping(8) says.
        "unreachable nslab: From 10.0.0.1: Destination Host Unreachable",
        "prohibit nslab: From 10.0.0.1: Packet filtered",
        "loop nslab: From 10.",
        "loop forwarded: From 10.",
        "routes(): blackhole 10.8.1.0/24 metric 1 dev  via \n",
        "routes(): unreachable 10.8.2.0/24 metric 2",
        "routes(): prohibit 10.8.3.0/24 metric 3",
        r#"{"type":"blackhole","dst":"10.8.1.0/24","protocol":"static","metric":1,"flags":[]}"#,
        "    blackhole 10.8.1.0/24 metric 1\n",
        "    unreachable 10.9.2.0/24\n",
    ] {
        assert!(o.stdout.contains(line), "no '{line}':\n{}", o.stdout);
    }
    for tool in ["nslab", "forwarded"] {
        let line = o
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("loop {tool}: ")));
        assert!(
            line.is_some_and(|l| l.ends_with("Time to live exceeded")),
            "{tool}: {line:?}\n{}",
            o.stdout
        );
    }
}

#[test]
fn tables_by_number_and_built_in_name_and_an_unknown_name_is_an_error() {
    let o = run_isolated(
        "tables.rhai",
        r#"
let a = netns("a");
let e = veth(host(), "v", a, "v");
e[1].addr("10.0.0.2/24");
a.route("10.5.0.0/16", #{via: "10.0.0.1", table: 100});
a.route("10.6.0.0/16", #{dev: "v", table: "main", metric: 5});
a.route("10.7.0.0/16", #{dev: "v", table: 70000});
print(a.exec("ip route show table 100; ip route show table main; ip route show table 70000").stdout);
for r in a.routes().filter(|r| r.via != () || r.metric == 5 || r.table == 70000) { print(`routes(): ${r.dst} table ${r.table}`); }
a.route("10.8.0.0/16", #{dev: "v", table: "isp-nowhere"});
"#,
    );
    for line in [
        "10.5.0.0/16 via 10.0.0.1 dev v proto static",
        "10.6.0.0/16 dev v proto static scope link metric 5",
        "10.7.0.0/16 dev v proto static scope link",
        "routes(): 10.5.0.0/16 table 100",
        "routes(): 10.6.0.0/16 table 254",
        "routes(): 10.7.0.0/16 table 70000",
    ] {
        // nslab adds a route without gateway with scope universe (not
        // link, as ip does): the kernel shows no scope then.
        let kernel = o.stdout.replace(" scope link", "");
        assert!(
            kernel.contains(&line.replace(" scope link", "")),
            "no '{line}':\n{}",
            o.all()
        );
    }
    assert_report(
        &o,
        "tables.rhai:10:",
        "unknown routing table 'isp-nowhere'",
        "give the table's number (table: 100)",
    );
}

/// Names come from iproute2's files: /etc/iproute2/rt_tables and
/// rt_tables.d/*.conf (here a private copy, mounted over the real one in
/// the private host's own mount namespace).
#[test]
fn a_table_name_from_rt_tables_and_rt_tables_d() {
    let d = Dir::new();
    d.write(
        "named.rhai",
        r#"
let a = netns("a");
let e = veth(host(), "v", a, "v");
e[1].addr("10.0.0.2/24");
a.route("default", #{via: "10.0.0.1", table: "isp2"});
a.route("default", #{via: "10.0.0.1", table: "lab-extra"});
a.rule(#{from: "10.0.0.2", table: "isp2"});
print(a.exec("ip route show table 100; ip route show table 200; ip rule").stdout);
a.route("10.1.0.0/16", #{dev: "v", table: "isp3"});
"#,
    );
    let o = private_host(
        &d,
        "if [ -d /etc/iproute2 ]; then mount -t tmpfs tmpfs /etc/iproute2; \
         else mount -t tmpfs tmpfs /etc && mkdir /etc/iproute2; fi\n\
         mkdir /etc/iproute2/rt_tables.d\n\
         printf '255 local\\n254 main\\n# second uplink\\n100 isp2\\n' > /etc/iproute2/rt_tables\n\
         echo '0xc8 lab-extra' > /etc/iproute2/rt_tables.d/lab.conf\n\
         \"$NSLAB\" run named.rhai\n",
    );
    for line in [
        "default via 10.0.0.1 dev v proto static",
        "from 10.0.0.2 lookup isp2",
    ] {
        assert!(o.stdout.contains(line), "no '{line}':\n{}", o.all());
    }
    // Both tables got their route (the first `ip route show` is table 100).
    assert_eq!(
        o.stdout
            .matches("default via 10.0.0.1 dev v proto static")
            .count(),
        2,
        "{}",
        o.all()
    );
    assert_report(
        &o,
        "named.rhai:9:",
        "unknown routing table 'isp3': it is not in /etc/iproute2/rt_tables,",
        "a line \"100 isp3\"",
    );
    assert!(
        o.stderr
            .replace("\n  │ ", "")
            .contains("rt_tables.d/lab.conf"),
        "{}",
        o.all()
    );
}

#[test]
fn route_delete_in_a_lab_namespace() {
    let o = run_isolated(
        "del.rhai",
        r#"
let a = netns("a");
let e = veth(host(), "v", a, "v");
e[1].addr("10.0.0.2/24");
e[1].addr("fd00::2/64");
a.route("10.5.0.0/16", "10.0.0.1");
a.route("10.6.0.0/16", #{via: "10.0.0.1", metric: 10});
a.route("10.6.0.0/16", #{via: "10.0.0.1", metric: 20});
a.route("10.7.0.0/16", #{type: "blackhole", table: 100});
a.route("default", "10.0.0.1");
a.route("default", "fd00::1");
a.route_delete("10.5.0.0/16");
a.route_delete("10.6.0.0/16", #{metric: 20});
a.route_delete("10.7.0.0/16", #{table: 100});
a.route_delete("10.0.0.0/24");
a.route_delete("::/0");
print(a.exec("ip route show table all; ip -6 route show").stdout);
print("deleted");
try { a.route_delete("10.5.0.0/16"); } catch (e) { print(`again: ${e}`); }
try { a.route_delete("default"); } catch (e) { print(`default: ${e}`); }
a.route("10.6.0.0/16", #{dev: "v", metric: 30});
a.route_delete("10.6.0.0/16");
"#,
    );
    let (kernel, _) = o.stdout.split_once("deleted").expect("the script ran");
    for gone in [
        "10.5.0.0/16",
        "metric 20",
        "10.7.0.0/16",
        "10.0.0.0/24",
        "default via fd00::1",
    ] {
        assert!(!kernel.contains(gone), "{gone} is still there:\n{kernel}");
    }
    for kept in [
        "10.6.0.0/16 via 10.0.0.1 dev v proto static metric 10",
        "default via 10.0.0.1 dev v proto static",
    ] {
        assert!(kernel.contains(kept), "{kept} went too:\n{kernel}");
    }
    o.says(&["again: there is no route 10.5.0.0/16 in namespace 'a'"]);
    // Only the IPv4 default is left, so "default" is not ambiguous.
    o.lacks(&["default: "]);
    assert_report(
        &o,
        "del.rhai:22:",
        "2 routes 10.6.0.0/16 in namespace 'a' match: 10.6.0.0/16 via 10.0.0.1 dev v metric 10; 10.6.0.0/16 dev v metric 30",
        "route_delete(\"10.6.0.0/16\", #{metric: 10})",
    );
}

/// Routes of the host that were there before the lab, deleted by the
/// script, are back after teardown, exactly as they were (including a
/// multipath route, a blackhole in another table, an mtu, a source and an
/// IPv6 route); a route the lab added and deleted again leaves no undo step
/// behind. Both at the end of the run and through `nslab down` from the
/// journal of a kept lab.
#[test]
fn deleting_host_routes_puts_them_back_at_teardown() {
    let d = Dir::new();
    d.write(
        "hostdel.rhai",
        r#"
let h = host();
h.route("10.70.0.0/16", #{dev: "dummy0"});
h.route_delete("10.70.0.0/16");
// Someone else adds the very same route meanwhile: it is theirs now, and
// the lab's undo step for its own is gone, so teardown leaves it.
h.exec("ip route add 10.70.0.0/16 dev dummy0 proto static");
h.route_delete("10.88.0.0/16", #{metric: 5});
h.route_delete("10.89.0.0/16");
h.route_delete("10.90.0.0/16", #{table: 100});
h.route_delete("10.91.0.0/16");
h.route_delete("fd88::/64");
h.route_delete("10.61.0.0/24");
print(h.exec("ip route show table all | grep -v ' table local '; ip -6 route show").stdout);
print("deleted");
"#,
    );
    let pre = "ip link add dummy0 type veth peer name dummy1\nip link set dummy0 up\nip link set dummy1 up\n\
         ip addr add 10.61.0.1/24 dev dummy0\n\
         ip route add 10.88.0.0/16 dev dummy0 metric 5\n\
         ip route add 10.88.0.0/16 dev dummy0 metric 6\n\
         ip route add 10.89.0.0/16 proto static nexthop via 10.61.0.2 dev dummy0 nexthop via 10.61.0.3 dev dummy0 weight 2\n\
         ip route add blackhole 10.90.0.0/16 table 100\n\
         ip route add 10.91.0.0/16 dev dummy0 mtu 1300 src 10.61.0.1\n\
         ip -6 route add fd88::/64 dev dummy0 metric 77\n\
         snap > before\n";
    let theirs = "ip route del 10.70.0.0/16 dev dummy0 proto static && echo THEIRS_KEPT\n";
    let o = private_host(
        &d,
        &format!(
            "{pre}\"$NSLAB\" run hostdel.rhai; echo code=$?\n{theirs}no_trace\n\
             \"$NSLAB\" run --keep --name kept hostdel.rhai > /dev/null; echo kept=$?\n\
             snap > kept\ndiff -q before kept > /dev/null || echo CHANGED_WHILE_KEPT\n\
             \"$NSLAB\" down kept; echo down=$?\n{theirs}snap > downed\ndiff -u before downed && echo SAME_AFTER_DOWN\n"
        ),
    );
    let out = o.all();
    let (kernel, _) = o.stdout.split_once("deleted").expect(&out);
    for gone in [
        "metric 5",
        "10.89.0.0/16",
        "10.90.0.0/16",
        "10.91.0.0/16",
        "fd88::/64",
        "10.61.0.0/24",
    ] {
        assert!(!kernel.contains(gone), "{gone} is still there:\n{out}");
    }
    assert!(
        kernel.contains("10.88.0.0/16 dev dummy0 scope link metric 6"),
        "{out}"
    );
    assert_eq!(o.stdout.matches("THEIRS_KEPT").count(), 2, "{out}");
    for want in [
        "code=0",
        "SAME\n",
        "kept=0",
        "CHANGED_WHILE_KEPT",
        "down=0",
        "SAME_AFTER_DOWN",
    ] {
        assert!(o.stdout.contains(want), "no {want}:\n{out}");
    }
    o.all_lacks(&["left alone"]);
}

/// A route nslab could not add back exactly as it was is not deleted.
#[test]
fn a_host_route_that_cannot_be_restored_is_refused() {
    let o = in_private_host(
        &[(
            "realm.rhai",
            "let h = host();\nh.route_delete(\"10.92.0.0/16\");\n",
        )],
        "ip route add 10.92.0.0/16 dev lo realm 5\n\"$NSLAB\" run realm.rhai; code=$?\nip route show 10.92.0.0/16\nexit $code\n",
    );
    assert_report(
        &o,
        "realm.rhai:2:",
        "nslab cannot put route 10.92.0.0/16 in 'host' back at teardown: it has a realm",
        "delete this route with `ip route del` yourself",
    );
    o.says(&["10.92.0.0/16 dev lo scope link realm 5"]);
}

#[test]
fn rules_and_neighbours_reach_the_kernel() {
    let o = run_isolated(
        "rules.rhai",
        r#"
let a = netns("a");
let e = veth(host(), "v", a, "v");
e[1].addr("10.0.0.2/24");
e[1].addr("fd00::2/64");
a.rule(#{from: "10.0.0.0/24", table: 100});
a.rule(#{to: "fd00:9::/64", iif: "v", priority: 200, action: "prohibit"});
a.rule(#{fwmark: "0x10/0xff", oif: "v", table: "main", priority: 300});
a.rule(#{to: "10.9.0.0/16", action: "blackhole", priority: 400});
a.neigh("v", "10.0.0.9", "02:00:00:00:00:09");
a.neigh("v", "fd00::9", "02:00:00:00:00:0a");
print(a.exec("ip -j rule show; echo; ip -j -6 rule show; echo; ip -j neigh show nud permanent").stdout);
print(`get: ${a.exec("ip route get 10.9.0.1").stderr}`);
show();
print("built");
try { a.rule(#{to: "10.9.0.0/16", action: "blackhole", priority: 400}); } catch (e) { print(`again: ${e}`); }
a.neigh("v", "10.0.0.9", "02:00:00:00:00:0b");
"#,
    );
    for line in [
        r#"{"priority":32765,"src":"10.0.0.0","srclen":24,"table":"100"}"#,
        r#"{"priority":200,"src":"all","dst":"fd00:9::","dstlen":64,"iif":"v","action":"prohibit"}"#,
        // A rule without from/to is made for both families.
        r#"{"priority":300,"src":"all","fwmark":"0x10","fwmask":"0xff","oif":"v","table":"main"}"#,
        r#"{"priority":400,"src":"all","dst":"10.9.0.0","dstlen":16,"action":"blackhole"}"#,
        r#"{"dst":"10.0.0.9","dev":"v","lladdr":"02:00:00:00:00:09","state":["PERMANENT"]}"#,
        r#"{"dst":"fd00::9","dev":"v","lladdr":"02:00:00:00:00:0a","state":["PERMANENT"]}"#,
        "get: RTNETLINK answers: Invalid argument",
        "  rules:\n    300: from all oif v fwmark 0x10/0xff lookup 254\n",
        "    32765: from 10.0.0.0/24 lookup 100\n",
        "    200: to fd00:9::/64 iif v prohibit (IPv6)\n",
        "again: rule '400: to 10.9.0.0/16 blackhole' in 'a' exists already",
    ] {
        assert!(o.stdout.contains(line), "no '{line}':\n{}", o.all());
    }
    assert_eq!(
        o.stdout.matches(r#""fwmark":"0x10""#).count(),
        2,
        "{}",
        o.stdout
    );
    assert_report(
        &o,
        "rules.rhai:17:",
        "there is already a permanent entry for neighbour 10.0.0.9 on 'v' in 'a' (02:00:00:00:00:09)",
        "each neighbour entry can be set once",
    );
}

/// Rules and neighbour entries the lab adds to the host are gone after
/// teardown (and after `nslab down` of a kept lab); an entry the kernel
/// learned is replaced, and a rule of the host's own with the same
/// selector but another priority stays.
#[test]
fn rules_and_neighbours_in_the_host_are_undone() {
    let d = Dir::new();
    d.write(
        "hostrules.rhai",
        r#"
let h = host();
h.rule(#{from: "10.61.0.0/24", table: 100});
h.rule(#{fwmark: 7, table: 100, priority: 1000});
h.neigh("dummy0", "10.61.0.9", "02:00:00:00:00:09");
h.neigh("dummy0", "10.61.0.8", "02:00:00:00:00:08");
print(h.exec("ip rule; ip -6 rule; ip neigh show dev dummy0").stdout);
"#,
    );
    let pre = "ip link add dummy0 type veth peer name dummy1\nip link set dummy0 up\nip link set dummy1 up\n\
         ip addr add 10.61.0.1/24 dev dummy0\n\
         ip rule add from 10.61.0.0/24 table 100 priority 5000\n\
         ip neigh add 10.61.0.8 lladdr 02:00:00:00:00:99 dev dummy0 nud stale\n\
         snap > before\n";
    let o = private_host(
        &d,
        &format!(
            "{pre}\"$NSLAB\" run hostrules.rhai; echo code=$?\nno_trace\n\
             \"$NSLAB\" run --keep --name kept hostrules.rhai > /dev/null; echo kept=$?\n\
             ip rule | grep -q 'fwmark 0x7' && echo RULE_KEPT\n\
             \"$NSLAB\" down kept; echo down=$?\nsnap > downed\ndiff -u before downed && echo SAME_AFTER_DOWN\n\
             ip rule | grep -q '5000:' && echo HOSTS_RULE_STAYS\n"
        ),
    );
    let out = o.all();
    for want in [
        // The priority the kernel gives a rule without one: one below the
        // host's own rule at 5000 (the second in the list).
        "4999:\tfrom 10.61.0.0/24 lookup 100",
        "1000:\tfrom all fwmark 0x7 lookup 100",
        "10.61.0.9 lladdr 02:00:00:00:00:09 PERMANENT",
        "10.61.0.8 lladdr 02:00:00:00:00:08 PERMANENT",
        "code=0",
        "SAME\n",
        "kept=0",
        "RULE_KEPT",
        "down=0",
        "SAME_AFTER_DOWN",
        "HOSTS_RULE_STAYS",
    ] {
        assert!(out.contains(want), "no {want}:\n{out}");
    }
}

#[test]
fn bad_routing_input_is_an_error_at_the_line() {
    let cases: [(&str, &str, &str); 13] = [
        (
            "a.route(\"10.1.0.0/16\", #{gateway: \"10.0.0.1\"});",
            "unknown route option 'gateway'",
            "via, dev, metric, table, src, type and nexthops",
        ),
        (
            "a.route(\"10.1.0.0/16\", #{via: \"10.0.0.1\", metric: \"ten\"});",
            "metric ten is not a valid number",
            "metric is a whole number",
        ),
        (
            "a.route(\"10.1.0.0/16\", #{nexthops: [#{via: \"10.0.0.1\", gw: 1}]});",
            "unknown next-hop option 'gw'",
            "via, dev and weight",
        ),
        (
            "a.route(\"10.1.0.0/16\", #{via: \"10.0.0.1\", nexthops: [#{via: \"10.0.0.2\"}]});",
            "either via/dev or nexthops",
            "nexthops: [",
        ),
        (
            "a.route(\"10.1.0.0/16\", #{type: \"drop\"});",
            "unknown route type 'drop'",
            "\"blackhole\", \"unreachable\" or \"prohibit\"",
        ),
        (
            "a.route(\"10.1.0.0/16\", #{via: \"10.0.0.1\", src: \"10.0.0.99\"});",
            "10.0.0.99 is not an address of namespace 'a'",
            "one of the namespace's own addresses",
        ),
        (
            "a.route_delete(\"10.1.0.0/16\", #{via: \"10.0.0.1\"});",
            "unknown route_delete option 'via'",
            "table and metric",
        ),
        (
            "a.rule(#{src: \"10.0.0.0/24\", table: 100});",
            "unknown rule option 'src'",
            "from, to, iif, oif, fwmark, table, priority and action",
        ),
        (
            "a.rule(#{from: \"10.0.0.0/24\"});",
            "a lookup rule needs a table",
            "table: 100",
        ),
        (
            "a.route(\"fd09::/64\", #{nexthops: [#{dev: \"v\"}, #{via: \"fd00::1\"}]});",
            "an IPv6 multipath route needs a gateway for each next hop",
            "give every next hop a via",
        ),
        (
            "a.route(\"10.9.0.0/16\", #{via: \"10.0.0.255\"});",
            "cannot add route 10.9.0.0/16 via 10.0.0.255 in 'a': the kernel refused it as invalid",
            "not a network, broadcast or multicast address",
        ),
        (
            "a.rule(#{iif: \"a-very-long-interface\", table: 100});",
            "interface name 'a-very-long-interface' is 21 bytes long",
            "use a shorter name",
        ),
        (
            "a.neigh(\"v\", \"10.0.0.9\", \"02:00:00:00:09\");",
            "'02:00:00:00:09' is not a MAC address",
            "six hex bytes",
        ),
    ];
    for (i, (line, message, help)) in cases.iter().enumerate() {
        let o = fails_at(
            "bad.rhai",
            &format!(
                "let a = netns(\"a\");\nlet e = veth(host(), \"v\", a, \"v\");\ne[1].addr(\"10.0.0.2/24\");\n{line}\n"
            ),
            "bad.rhai:4:",
            message,
            help,
        );
        assert!(!o.stdout.contains("panicked"), "case {i}");
    }
}

/// A router sends no neighbour solicitation for traffic it forwards until
/// the link-local address of the link out has passed duplicate address
/// detection, a second or two after the link came up: an IPv6 ping routed
/// right after the build was lost (and the next ones while the neighbour
/// entry stayed INCOMPLETE). nslab's IPv6 probes wait for that first.
#[test]
fn an_ipv6_ping_through_a_router_right_after_the_build_answers() {
    let o = run_ok(
        "v6r.rhai",
        r#"let a = netns("a"); let r = netns("r"); let b = netns("b");
let x = veth(a, "e0", r, "e0"); let y = veth(r, "e1", b, "e0");
x[0].addr("fd00:1::2/64"); x[1].addr("fd00:1::1/64");
y[0].addr("fd00:2::1/64"); y[1].addr("fd00:2::2/64");
a.route("default", "fd00:1::1"); b.route("default", "fd00:2::1");
r.forwarding(true);
let p = a.ping("fd00:2::2", #{count: 1, timeout_ms: 1000});
print(`first ok=${p.ok} ${p.why}`);
b.listen(8080);
print(`connect=${a.connect("fd00:2::2", 8080)}`);
"#,
    );
    o.says(&["first ok=true", "connect=true"]);
}
