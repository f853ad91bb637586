//! ns.neighbors()/neigh_flush(), ns.rules(), ns.route_get()/route_flush_cache()
//! and ns.routes()' family and text, each compared in the script with the
//! `ip -j …` it replaces, run in the same namespace: isolated, in a
//! private host as root (host mode) and rootless.

use crate::common::*;

/// h1 — r — h2, r's far link at MTU 1280; a rule and a table on r.
const LAB: &str = r#"
let h1 = netns("h1"); let r = netns("r"); let h2 = netns("h2");
let a = veth(h1, "eth0", r, "a");
let b = veth(r, "b", h2, "eth0");
a[0].addr("10.1.0.2/24"); a[1].addr("10.1.0.1/24");
a[0].addr("fd01::2/64"); a[1].addr("fd01::1/64");
b[0].addr("10.2.0.1/24"); b[1].addr("10.2.0.2/24");
b[0].addr("fd02::1/64"); b[1].addr("fd02::2/64");
b[0].mtu(1280); b[1].mtu(1280);
r.forwarding(true);
h1.route("default", #{via: "10.1.0.1"});
h1.route("default", #{via: "fd01::1"});
h2.route("default", #{via: "10.2.0.1"});
h2.route("default", #{via: "fd02::1"});
h1.neigh("eth0", "10.1.0.9", "02:00:00:00:00:09");
h1.neigh("eth0", "fd01::9", "02:00:00:00:00:09");
r.rule(#{from: "10.1.0.0/24", fwmark: 7, table: 100, priority: 1000});
r.rule(#{to: "10.9.0.0/16", action: "prohibit", priority: 1001});
r.route("10.2.0.0/24", #{dev: "b", table: 100});
if !h1.ping("10.1.0.1").ok { throw "no ping"; }
if !h1.ping("fd01::1").ok { throw "no ping6"; }
"#;

/// The comparisons: each throws what differs, else prints `SAME what`.
const COMPARE: &str = r#"
fn same(what, mine, theirs) {
    mine.sort(); theirs.sort();
    if mine != theirs { throw `${what}: nslab says ${mine}, ip says ${theirs}`; }
    print(`SAME ${what}`);
}
fn ip(ns, cmd) { parse_json(ns.exec(cmd).stdout) }
fn neigh_mine(list) {
    list.map(|n| `${n.ip} ${n.dev} ${n.mac}` + if n.state == "permanent" { " permanent" } else { "" })
}
// `ip neigh show dev D` leaves dev out.
fn neigh_ip(list, dev) {
    list.map(|n| `${n.dst} ${if "dev" in n { n.dev } else { dev }} ${n.lladdr}` + if n.state.contains("PERMANENT") { " permanent" } else { "" })
}
fn table_no(t) {
    switch t { "local" => 255, "main" => 254, "default" => 253, _ => parse_int(t) }
}
fn rules_mine(list, family) {
    list.filter(|r| r.family == family).map(|r| {
        let m = if r.fwmark == () { "" } else { " 0x" + to_hex(r.fwmark) };
        `${r.priority} ${r.from} ${r.to}${m} ${r.action} ${r.table}`
    })
}
fn rules_ip(list) {
    list.map(|r| {
        let from = if "srclen" in r { `${r.src}/${r.srclen}` } else { r.src };
        let to = if "dst" in r { `${r.dst}/${r.dstlen}` } else { () };
        let m = if "fwmark" in r { " " + r.fwmark } else { "" };
        let action = if "action" in r { r.action } else { "lookup" };
        let table = if action == "lookup" { table_no(r.table) } else { () };
        `${r.priority} ${from} ${to}${m} ${action} ${table}`
    })
}
fn routes_mine(list, family) {
    list.filter(|x| x.family == family && x.table == 254).map(|x| `${x.dst} ${x.dev}`)
}
fn routes_ip(list) { list.map(|x| `${x.dst} ${x.dev}`) }
fn texts_fit(list, lines) {
    for x in list.filter(|x| x.table == 254) {
        let line = lines.filter(|l| l.starts_with(x.dst + " "));
        if line.len() != 1 { throw `no ip route line for ${x.dst}: ${lines}`; }
        let words = line[0].split(" ");
        for w in x.text.split(" ") {
            if !words.contains(w) { throw `route text '${x.text}' says ${w}; ip route: '${line[0]}'`; }
        }
    }
    print("SAME route text");
}
fn got_mine(g) { `${g.dst} ${g.via} ${g.dev} ${g.src} ${g.mtu}` }
fn got_ip(list) {
    let g = list[0];
    let mtu = ();
    if "metrics" in g { for m in g.metrics { if "mtu" in m { mtu = m.mtu; } } }
    `${g.dst} ${g.gateway} ${g.dev} ${g.prefsrc} ${mtu}`
}

same("neighbors", neigh_mine(h1.neighbors()), neigh_ip(ip(h1, "ip -j neigh"), ()));
same("neighbors eth0", neigh_mine(h1.neighbors("eth0")), neigh_ip(ip(h1, "ip -j neigh show dev eth0"), "eth0"));
same("rules inet", rules_mine(r.rules(), "inet"), rules_ip(ip(r, "ip -j rule")));
same("rules inet6", rules_mine(r.rules(), "inet6"), rules_ip(ip(r, "ip -j -6 rule")));
same("routes inet", routes_mine(h1.routes(), "inet"), routes_ip(ip(h1, "ip -j route")));
same("routes inet6", routes_mine(h1.routes(), "inet6"), routes_ip(ip(h1, "ip -j -6 route")));
texts_fit(h1.routes().filter(|x| x.family == "inet"), h1.exec("ip route").stdout.split("\n"));
texts_fit(h1.routes().filter(|x| x.family == "inet6"), h1.exec("ip -6 route").stdout.split("\n"));

// A learned path MTU: r answers "fragmentation needed" for b's 1280.
h1.ping("10.2.0.2", #{size: 1400, df: true, count: 1});
let g = h1.route_get("10.2.0.2");
same("route get", [got_mine(g)], [got_ip(ip(h1, "ip -j route get 10.2.0.2"))]);
if g.mtu != 1280 || g.expires_s == () || g.expires_s <= 0 { throw `no learned mtu: ${g}`; }
print(`LEARNED mtu ${g.mtu} table ${g.table} type ${g.type}`);
let fwd = r.route_get("10.2.0.2", #{src: "10.1.0.2", iif: "a", mark: 7});
let fwd_ip = ip(r, "ip -j route get 10.2.0.2 from 10.1.0.2 iif a mark 7")[0];
same("route get iif mark", [`${fwd.dev} ${fwd.table}`], [`${fwd_ip.dev} ${table_no(fwd_ip.table)}`]);
same("route get v6", [got_mine(h1.route_get("fd01::1"))], [got_ip(ip(h1, "ip -j route get fd01::1"))]);
h1.ping("fd02::2", #{size: 1400, df: true, count: 1});
let g6 = h1.route_get("fd02::2");
same("route get v6 learned", [got_mine(g6)], [got_ip(ip(h1, "ip -j route get fd02::2"))]);
if g6.mtu != 1280 { throw `no learned IPv6 mtu: ${g6}`; }
print(`LEARNED v6 mtu ${g6.mtu}`);
h1.route_flush_cache();
let g6 = h1.route_get("fd02::2");
same("route get v6 after flush", [got_mine(g6)], [got_ip(ip(h1, "ip -j route get fd02::2"))]);
if g6.mtu != () { throw `IPv6 mtu still learned: ${g6}`; }
let g = h1.route_get("10.2.0.2");
same("route get after flush", [got_mine(g)], [got_ip(ip(h1, "ip -j route get 10.2.0.2"))]);
if g.mtu != () { throw `mtu still learned: ${g}`; }

// r's own ARP and ND can teach h1 an entry again right after the flush:
// what must hold is that every learned entry went and the permanent stayed.
let learned = h1.neighbors("eth0").filter(|n| n.state != "permanent").len();
let gone = h1.neigh_flush("eth0");
let kept = |list| list.filter(|x| x.ends_with(" permanent"));
same("neighbors after flush", kept.call(neigh_mine(h1.neighbors())), kept.call(neigh_ip(ip(h1, "ip -j neigh"), ())));
if kept.call(neigh_mine(h1.neighbors())).len() != 2 || learned < 2 || gone < learned {
    throw `flush removed ${gone} of ${learned} learned entries, left ${h1.neighbors()}`;
}
print(`FLUSHED ${gone}`);
"#;

const SAYS: [&str; 19] = [
    "SAME route get v6 learned",
    "LEARNED v6 mtu 1280",
    "SAME route get v6 after flush",
    "SAME neighbors",
    "SAME neighbors eth0",
    "SAME rules inet",
    "SAME rules inet6",
    "SAME routes inet",
    "SAME routes inet6",
    "SAME route text",
    "SAME route get",
    "LEARNED mtu 1280 table 254 type unicast",
    "SAME route get iif mark",
    "SAME route get v6",
    "SAME route get after flush",
    "SAME neighbors after flush",
    "FLUSHED",
    "rules inet6",
    "routes inet6",
];

fn script() -> String {
    format!("{LAB}{COMPARE}")
}

#[test]
fn tables_match_ip_in_isolated_mode() {
    let o = run_ok("tables.rhai", &script());
    o.says(&SAYS);
}

#[test]
fn tables_match_ip_in_host_mode_and_leave_no_trace() {
    if !needs_root(" (host mode in a private host)") {
        return;
    }
    let d = Dir::with(&[("tables.rhai", &script())]);
    let o = leaves_no_trace(&d, "\"$NSLAB\" run tables.rhai; echo run=$?\n");
    o.says(&SAYS).says(&["run=0"]);
}

#[test]
fn tables_match_ip_rootless() {
    let user = as_nobody(0o755);
    user.dir.write("tables.rhai", &script());
    let o = user.run(&["run", "tables.rhai"]);
    o.assert_ok();
    o.says(&SAYS);
}

#[test]
fn plan_writes_the_flushes_and_no_reads() {
    let d = Dir::with(&[(
        "p.rhai",
        "let a = netns(\"a\");\nprint(a.neighbors());\nprint(a.rules());\na.neigh_flush();\na.neigh_flush(\"lo\");\na.route_flush_cache();\nprint(a.route_get(\"127.0.0.1\"));\n",
    )]);
    let o = nslab(&["plan", "p.rhai"], d.path());
    o.assert_ok();
    o.says(&[
        "ip -n a neigh flush all",
        "ip -n a neigh flush dev lo",
        "ip -n a route flush cache",
    ])
    .lacks(&["ip rule", "neigh show", "route get"]);
}

#[test]
fn a_bad_address_is_refused_at_the_line() {
    fails_at(
        "t.rhai",
        "let a = netns(\"a\");\na.route_get(\"10.0.0.300\");\n",
        "t.rhai:2",
        "'10.0.0.300' is not a valid IP address for the destination",
        "write an IPv4 address",
    );
}

#[test]
fn an_unknown_link_is_refused_at_the_line() {
    fails_at(
        "t.rhai",
        "let a = netns(\"a\");\nprint(a.neighbors(\"eth9\"));\n",
        "t.rhai:2",
        "there is no link 'eth9'",
        "links() lists the links there",
    );
    fails_at(
        "t.rhai",
        "let a = netns(\"a\");\na.neigh_flush(\"eth9\");\n",
        "t.rhai:2",
        "there is no link 'eth9'",
        "links() lists the links there",
    );
}

#[test]
fn an_unknown_option_is_refused_with_the_nearest() {
    fails_at(
        "t.rhai",
        "let a = netns(\"a\");\na.route_get(\"127.0.0.1\", #{iff: \"lo\"});\n",
        "t.rhai:2",
        "unknown option 'iff'",
        "did you mean `iif`?",
    );
}

#[test]
fn no_route_is_an_error_saying_why() {
    fails_at(
        "t.rhai",
        "let a = netns(\"a\");\na.route_get(\"10.0.0.1\");\n",
        "t.rhai:2",
        "no route to 10.0.0.1 in namespace 'a': no route matches it",
        "ns.routes() lists the routes",
    );
}
