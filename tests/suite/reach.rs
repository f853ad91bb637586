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
