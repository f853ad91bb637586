//! reach(): every pair of namespaces pinged at once, printed as a matrix.

use crate::common::*;

#[test]
fn reach_pings_every_pair_and_names_the_ones_that_fail() {
    let o = run_isolated(
        "reach.rhai",
        r#"
import "topo" as topo;
let s = topo::star(#{hosts: 4});
let r = reach(s.hosts);
print(r);
if !r.ok || r.sent != 12 || r.received != 12 { throw `star: ${r.sent} sent, ${r.received} back`; }
// A namespace nobody can reach: its pairs fail, the others still pass.
let lone = netns("lone");
let e = veth(lone, "l0", netns("void"), "v0");
e[0].addr("10.99.0.1/24");
let r2 = reach([s.hosts[0], s.hosts[1], #{ns: lone, ip: "10.99.0.1"}], #{count: 2, timeout_ms: 300});
print(r2);
if r2.ok || r2.sent != 12 || r2.received != 4 { throw `mixed: ${r2.sent} sent, ${r2.received} back`; }
for f in r2.failed { print(`failed ${f.from} -> ${f.to}: ${f.why}`); }
reach([s.hosts[0]]);
"#,
    );
    o.says(&[
        "h1 -> h2 h3 h4\n",
        "0% dropped (12/12 received)",
        "lone -> X    X",
        "66% dropped (4/12 received)",
        "failed h1 -> lone: h1 has no route to 10.99.0.1",
    ]);
    o.lacks(&["failed h1 -> h2"]);
    assert_report(
        &o,
        "reach.rhai:15",
        "reach() needs at least two nodes, got 1",
        "reach([h1, h2, h3])",
    );
}

/// reach() sends from the sockets ping() keeps: a ping with its own TTL,
/// DF or device before it must not carry them into reach's echoes (a TTL
/// of 1 left on the socket made reach() lose every routed pair).
#[test]
fn reach_after_a_ping_with_options_uses_the_default_ttl() {
    let o = run_isolated(
        "reach_ttl.rhai",
        r#"
let a = netns("a"); let r = netns("r"); let b = netns("b");
let x = veth(a, "eth0", r, "ra"); let y = veth(r, "rb", b, "eth0");
x[0].addr("10.1.0.2/24"); x[1].addr("10.1.0.1/24");
y[0].addr("10.2.0.1/24"); y[1].addr("10.2.0.2/24");
a.route("default", #{via: "10.1.0.1"}); b.route("default", #{via: "10.2.0.1"});
r.forwarding(true);
let p = a.ping("10.2.0.2", #{ttl: 1, df: true, count: 1, timeout_ms: 500});
print(`ttl1 ok=${p.ok}`);
let s = reach([a, b]);
print(`reach ${s.received}/${s.sent}`);
let q = a.ping("10.2.0.2", #{count: 1});
print(`again ok=${q.ok}`);
"#,
    );
    o.says(&["ttl1 ok=false", "reach 2/2", "again ok=true"]);
}
