//! reach() and the path walk with namespaces on several machines (issue
//! 25), by the simulation of tests/suite/machines.rs: m1 runs the script,
//! the agents run on m2 (and m3). Every machine is checked to be as it
//! was after each run.

use super::machines::machines;
use crate::common::*;

/// `m_state NAME`: a machine's links, addresses, routes and nf_tables
/// rules, to compare before and after.
const STATE: &str = r#"
m_state() {
  ip -n $1 -o link show | sed -E 's/^[0-9]+: //; s/ link\/.*//' | sort
  ip -n $1 -4 -o addr show | sed -E 's/^[0-9]+: //; s/ valid_lft.*//' | sort
  ip -n $1 -4 route show table all | sort
  nsenter --net=/run/netns/$1 nft list ruleset
}
"#;

/// Runs `lab.rhai` on m1 against m2's agent, between snapshots of both
/// machines.
fn across(lab: &str) -> Out {
    machines(
        &[("lab.rhai", lab)],
        &format!(
            "{STATE}\nagent --grace-ms 100\n\
             m_state m1 > m1.before; m_state m2 > m2.before\n\
             run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\"; echo run=$?\n\
             wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
             m_state m1 > m1.after; diff m1.before m1.after && echo M1_SAME\n\
             m_state m2 > m2.after; diff m2.before m2.after && echo M2_SAME\n"
        ),
    )
}

/// a here; b, a router, and c behind it on m2.
const SPLIT: &str = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
let c = netns("c", #{on: "m2"});
b.forwarding(true);
veth(a, "ab", b, "ba");
veth(b, "bc", c, "cb");
a.addr("ab", "10.9.0.1/24");
b.addr("ba", "10.9.0.2/24");
b.addr("bc", "10.8.0.2/24");
c.addr("cb", "10.8.0.3/24");
a.route("10.8.0.0/24", "10.9.0.2");
c.route("default", "10.8.0.2");
// b reached at its address on c's side: c reaches it without a route.
let nodes = [a, #{ns: b, ip: "10.8.0.2"}, c];
"#;

/// reach() over a lab split across m1 and m2 pings every ordered pair,
/// the sources on m2 swept by its agent: all answer. With c's default
/// route gone (on m2), exactly a -> c and c -> a fail, as `expect` says
/// (c still reaches b on their link),
/// and the failed pairs' why comes from the path walk across machines.
#[test]
fn reach_across_machines_pings_every_pair_and_names_the_failed_ones() {
    let lab = format!(
        "{SPLIT}\n\
         let r = reach(nodes);\n\
         print(r);\n\
         print(`all ok ${{r.ok}} ${{r.received}}/${{r.sent}}`);\n\
         c.run(\"ip route del default\");\n\
         let r = reach(nodes, #{{expect: [[a, c], [c, a]]}});\n\
         print(r);\n\
         print(`expect ok ${{r.ok}} unexpected ${{r.unexpected.len()}}`);\n\
         for f in r.failed {{ print(`failed ${{f.from}}->${{f.to}}: ${{f.why}}`); }}\n\
         let r = reach(nodes);\n\
         print(`plain ok ${{r.ok}}`);\n"
    );
    let o = across(&lab);
    o.says(&[
        "run=0",
        "all ok true 6/6",
        "a -> b c",
        "b -> a c",
        "c -> a b",
        "expect ok true unexpected 0",
        "c -> X b",
        "plain ok false",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
    ]);
    let failed: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("failed "))
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "not exactly two failed pairs:\n{}",
        o.all()
    );
    let all = o.all();
    let c_to_a = failed
        .iter()
        .find(|l| l.starts_with("failed c->a: "))
        .unwrap_or_else(|| panic!("c -> a did not fail:\n{all}"));
    assert!(
        c_to_a.contains("c has no route to 10.9.0.1") && c_to_a.contains("help: c.route("),
        "c -> a's why is not the missing route on m2:\n{all}"
    );
    assert!(
        failed.iter().any(|l| l.starts_with("failed a->c: ")
            && l.contains("the reply is lost: c has no route back to 10.9.0.1")),
        "a -> c did not fail for c's missing route back:\n{all}"
    );
}
