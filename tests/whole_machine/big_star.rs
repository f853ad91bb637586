//! A star of 1001 hosts: two thousand links come up at once, and their
//! IPv6 start-up traffic (router and neighbour solicitations, MLD reports)
//! overflows every CPU's input backlog for half a minute (3 million drops
//! measured), which makes probes of any other lab on the machine fail. So
//! it is here, not in tests/suite/recipes.rs.

use crate::common::*;

/// A Linux bridge takes at most 1023 ports: topo::star spreads hosts over
/// more bridges past 1000 (all still reach each other), and a 1024th port
/// is a clear error rather than "Exchange full".
#[test]
fn a_star_past_1000_hosts_spreads_over_bridges_and_a_full_bridge_says_so() {
    let _alone = alone();
    let o = run_isolated(
        "big.rhai",
        r#"
import "topo" as topo;
let s = topo::star(#{hosts: 1001, subnet: "10.8.0.0/16"});
print(`${s.hosts.len()} hosts on ${s.bridges.len()} bridges`);
let r = reach([s.hosts[0], s.hosts[999], s.hosts[1000]]);
if !r.ok { throw `across the bridges: ${r}`; }
let other = netns("other");
let full = bridge(other, "full");
let far = netns("far");
for i in 0..1024 { let e = veth(other, `a${i}`, far, `b${i}`); full.attach(e[0]); }
"#,
    );
    o.says(&["1001 hosts on 2 bridges"]);
    assert_report(
        &o,
        "big.rhai:10",
        "cannot attach 'a1023' to bridge 'full': a Linux bridge takes at most 1023 ports",
        "as topo::star does past 1000 hosts",
    );
}
