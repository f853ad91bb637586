//! reach() and the path walk with namespaces on several machines (issue
//! 25), by the simulation of tests/suite/machines.rs: m1 runs the script,
//! the agents run on m2 (and m3). Every machine is checked to be as it
//! was after each run.

use super::machines::{PAIR, machines};
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

/// A third machine, m3 (192.0.2.3), with an agent of its own: `agent3
/// [FLAGS]` after `agent` (`$AG3` its pid, both killed on exit),
/// `agent3_sees`.
const M3: &str = r#"
machine m3 192.0.2.3
agent3() {
  on m3 "exec \"$NSLAB\" agent --listen 192.0.2.3:7600 --token-file token $*" 2> agent3.err &
  AG3=$!
  trap 'kill $AG $AG3 2>/dev/null' EXIT
  wait_until "nsenter --net=/run/netns/m3 ss -ltn | grep -q 7600" 20
}
agent3_sees() { nsenter --mount=/proc/$AG3/ns/mnt sh -c 'ls /run/netns; ls /run/nslab 2>/dev/null'; }
"#;

/// Runs `lab.rhai` on m1 against the agents of m2 and m3, between
/// snapshots of the three machines.
fn across_three(lab: &str) -> Out {
    machines(
        &[("lab.rhai", lab)],
        &format!(
            "{STATE}\n{M3}\nagent --grace-ms 100\nagent3 --grace-ms 100\n\
             for m in m1 m2 m3; do m_state $m > $m.before; done\n\
             run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600,m3=192.0.2.3:7600 --token-file token\"; echo run=$?\n\
             wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT2_CLEAN\n\
             wait_until '[ -z \"$(agent3_sees)\" ]' 20 && echo AGENT3_CLEAN\n\
             for m in m1 m2 m3; do m_state $m > $m.after; diff $m.before $m.after && echo ${{m}}_SAME; done\n"
        ),
    )
}

/// a here, a router r on m2, c on m3: the link r — c is between two
/// agents' machines. expect_reach a -> c passes, the walk following the
/// path from m2's agent to m3's; the trace names both hops over VXLAN,
/// and r's says its link leads to m3. reach() over the three machines
/// passes too, c's hosts file names a (on m1) and r (on m2), and every
/// machine is as it was after.
#[test]
fn the_path_walk_follows_a_link_between_two_agents_machines() {
    let lab = r#"
let a = netns("a");
let r = netns("r", #{on: "m2"});
let c = netns("c", #{on: "m3"});
r.forwarding(true);
veth(a, "ar", r, "ra");
veth(r, "rc", c, "cr");
a.addr("ar", "10.1.0.1/24");
r.addr("ra", "10.1.0.254/24");
r.addr("rc", "10.2.0.254/24");
c.addr("cr", "10.2.0.1/24");
a.route("default", "10.1.0.254");
c.route("default", "10.2.0.254");
a.expect_reach("10.2.0.1");
print("REACHED");
for h in a.trace("10.2.0.1") { print(`hop ${h.dir}|${h.machine}|${h.ns}|${h.iif}|${h.oif}|${h.over}|${h.verdict}|${h.why}`); }
c.expect_reach("10.1.0.1");
print("BACK");
let x = reach([a, r, c]);
print(x);
print(`reach ok ${x.ok}`);
print(`c sees ${c.run("getent hosts a")}`);
print(`c lists r ${c.run("grep -c -w r /etc/hosts")}`);
"#;
    let o = across_three(lab);
    o.says(&[
        "run=0",
        "REACHED",
        "hop request||a||ar||forward|",
        "hop request|m2|r|ra|rc|VXLAN ",
        "is a VXLAN link to m3 (VNI ",
        "hop request|m3|c|cr||VXLAN ",
        "hop reply|m3|c||cr|",
        "hop reply|m2|r|rc|ra|VXLAN ",
        "hop reply||a|ar||VXLAN ",
        "BACK",
        "reach ok true",
        "c sees 10.1.0.1        a",
        "c lists r 2",
        "AGENT2_CLEAN",
        "AGENT3_CLEAN",
        "m1_SAME",
        "m2_SAME",
        "m3_SAME",
    ]);
}

/// The hosts file of every namespace names the lab's namespaces on the
/// other machines too: n, a node on m2 (private directory, host name),
/// resolves a (here) by name, and a resolves b and n (on m2) by name and
/// by n's host name; an address added later here is listed on m2 at the
/// next program there.
#[test]
fn hosts_files_name_the_namespaces_of_other_machines() {
    let lab = format!(
        "{PAIR}\n\
         let n = netns(\"n\", #{{on: \"m2\", dirs: [\"/run/hoststest\"], hostname: \"nhost\"}});\n\
         veth(b, \"bn\", n, \"nb\");\n\
         n.addr(\"nb\", \"10.7.0.2/24\");\n\
         print(`n sees ${{n.run(\"getent hosts a\")}}`);\n\
         print(`a sees ${{a.run(\"getent hosts b\")}}`);\n\
         print(`a sees ${{a.run(\"getent hosts nhost\")}}`);\n\
         a.addr(\"ea\", \"10.9.0.11/24\");\n\
         print(`n now ${{n.run(\"grep -c -w a /etc/hosts\")}}`);\n\
         for l in n.run(\"cat /etc/hosts\").split(\"\\n\") {{ print(`n hosts ${{l}}`); }}\n"
    );
    let o = across(&lab);
    o.says(&[
        "run=0",
        "n sees 10.9.0.1        a",
        "a sees 10.9.0.2        b",
        "a sees 10.7.0.2        n nhost",
        "n now 2",
        "n hosts 10.9.0.11\ta",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
    ]);
}

/// SIGINT to the script while a wait runs on m2's agent (wait_socket for
/// a socket nothing opens, 60 s): the script stops waiting and ends well
/// before the wait would (the agent is told, and ends its wait), and
/// both machines are as they were after the teardown.
#[test]
fn ctrl_c_during_a_wait_on_an_agent_stops_it_and_tears_down() {
    let lab = format!(
        "{PAIR}\n\
         let n = netns(\"n\", #{{on: \"m2\", dirs: [\"/run/waittest\"]}});\n\
         print(\"WAITING\");\n\
         n.wait_socket(\"/run/waittest/sock\", #{{timeout_ms: 60000}});\n\
         print(\"NOT HERE\");\n"
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        &format!(
            "{STATE}\nagent --grace-ms 60000\n\
             m_state m1 > m1.before; m_state m2 > m2.before\n\
             (run_on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1; echo run=$? > done) &\n\
             D=$!\n\
             wait_until 'grep -q WAITING run.out' 30 && echo STARTED\n\
             sleep 0.5\n\
             kill -INT $(pgrep -P $D)\n\
             wait_until '[ -s done ]' 20 && echo ENDED\n\
             wait $D; cat done run.out\n\
             [ -z \"$(agent_sees)\" ] && echo AGENT_CLEAN\n\
             m_state m1 > m1.after; diff m1.before m1.after && echo M1_SAME\n\
             m_state m2 > m2.after; diff m2.before m2.after && echo M2_SAME\n"
        ),
    );
    o.says(&[
        "STARTED",
        "ENDED",
        "run=130",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
    ])
    .lacks(&["NOT HERE"]);
}
