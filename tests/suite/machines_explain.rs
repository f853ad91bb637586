//! Probes and explanations across machines (issue 25), by the simulation
//! of tests/suite/machines.rs: m1 runs the script, m2 the agent. The path
//! of a probe names the hop over the VXLAN link between the machines, a
//! dropped UDP 14789 or a missing route on the underlay is the reason,
//! and a probe from a namespace placed on m2 is sent there.

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
/// machines: `pre` after the snapshots, `post` before the second ones.
fn across(lab: &str, pre: &str, post: &str) -> Out {
    machines(
        &[("lab.rhai", lab)],
        &format!(
            "{STATE}\nagent --grace-ms 100\n\
             m_state m1 > m1.before; m_state m2 > m2.before\n\
             {pre}\n\
             run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\"; echo run=$?\n\
             {post}\n\
             wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
             m_state m1 > m1.after; diff m1.before m1.after && echo M1_SAME\n\
             m_state m2 > m2.after; diff m2.before m2.after && echo M2_SAME\n"
        ),
    )
}

/// expect_reach a -> b across machines passes, and the trace names the
/// hop over the VXLAN link: a leaves by ea, b on m2 gets it on eb over
/// VXLAN N, and the reply comes back over it.
#[test]
fn expect_reach_across_machines_passes_and_trace_names_the_vxlan_hop() {
    let lab = format!(
        "{PAIR}\n\
         a.expect_reach(\"10.9.0.2\");\n\
         print(\"REACHED\");\n\
         for h in a.trace(\"10.9.0.2\") {{ print(`hop ${{h.dir}}|${{h.machine}}|${{h.ns}}|${{h.iif}}|${{h.oif}}|${{h.over}}|${{h.verdict}}|${{h.why}}`); }}\n"
    );
    let o = across(&lab, "", "");
    o.says(&["run=0", "REACHED", "AGENT_CLEAN", "M1_SAME", "M2_SAME"]);
    let hops: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("hop ")).collect();
    let all = o.all();
    assert!(
        hops.iter().any(|h| h.starts_with("hop request|")
            && h.contains("|a|")
            && h.contains("|ea|")
            && h.contains("is a VXLAN link to m2 b eb (VNI ")),
        "a's hop does not name the VXLAN link to m2 b eb:\n{all}"
    );
    assert!(
        hops.iter().any(|h| h.starts_with("hop request|m2|b|eb|")
            && h.contains("|VXLAN ")
            && h.contains("|deliver|")),
        "no delivery in m2's b on eb over VXLAN:\n{all}"
    );
    assert!(
        hops.iter().any(|h| h.starts_with("hop reply|")
            && h.contains("|a|ea|")
            && h.contains("|VXLAN ")
            && h.contains("|deliver|")),
        "the reply does not come back to a over VXLAN:\n{all}"
    );
}

/// An nf_tables rule in m2's own namespace (the underlay, where the VXLAN
/// socket lives) drops UDP 14789: expect_reach fails at its line, and the
/// reason names the dropped UDP 14789 on the underlay and m2, with a help;
/// the path is drawn with the hop over VXLAN.
#[test]
fn a_dropped_vxlan_port_on_the_far_machine_is_the_reason() {
    let lab = format!("{PAIR}\na.expect_reach(\"10.9.0.2\");\nprint(\"NOT HERE\");\n");
    let o = across(
        &lab,
        "nsenter --net=/run/netns/m2 nft add table inet t\n\
         nsenter --net=/run/netns/m2 nft add chain inet t c '{ type filter hook input priority 0; }'\n\
         nsenter --net=/run/netns/m2 nft add rule inet t c udp dport 14789 drop\n\
         m_state m2 > m2.before",
        "",
    );
    o.says(&["run=1", "AGENT_CLEAN", "M1_SAME", "M2_SAME"])
        .lacks(&["NOT HERE"]);
    let w = o.report_words();
    for want in [
        "a cannot reach 10.9.0.2",
        "m2 drops UDP 14789 on the underlay",
        "14789 drop",
        "inet t",
        "allow UDP 14789 on m2",
        "--vxlan-port",
        "lab.rhai:8",
        "a ea -> m2 b eb over VXLAN",
    ] {
        assert!(w.contains(want), "no '{want}' in the report:\n{}", o.all());
    }
}

/// m1's route to the underlay (192.0.2.0/24) gone: the probe's reason is
/// the missing route from m1 to m2's underlay address, with a help. (The
/// script puts it back itself: the agent is reached over it too.)
#[test]
fn a_missing_underlay_route_is_the_reason() {
    let lab = format!(
        "{PAIR}\n\
         a.expect_reach(\"10.9.0.2\");\n\
         host().run(\"ip route del 192.0.2.0/24 dev eth0\");\n\
         let r = a.probe(\"10.9.0.2\");\n\
         host().run(\"ip route add 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1\");\n\
         print(`ok ${{r.ok}}`);\n\
         print(`why ${{r.why}}`);\n\
         print(`help ${{r.help}}`);\n\
         a.expect_reach(\"10.9.0.2\");\n\
         print(\"BACK\");\n"
    );
    let o = across(&lab, "", "");
    o.says(&[
        "run=0",
        "ok false",
        "no route from m1 to m2's underlay address 192.0.2.2",
        "BACK",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
    ]);
    let help = o.after("help ");
    assert!(
        help.contains("give m1 a route to 192.0.2.2"),
        "no help naming the route: {help}"
    );
}

/// Probes from b, placed on m2, are sent there by its agent:
/// expect_reach b -> a passes, a TCP probe to a closed port is refused,
/// and b's trace starts on m2 and arrives in a over VXLAN.
#[test]
fn probes_from_a_placed_namespace_are_sent_by_its_agent() {
    let lab = format!(
        "{PAIR}\n\
         b.expect_reach(\"10.9.0.1\");\n\
         print(\"B_REACHED\");\n\
         let r = b.probe(\"10.9.0.1\", #{{proto: \"tcp\", port: 9}});\n\
         print(`refused ${{r.refused}} ok ${{r.ok}}`);\n\
         for h in b.trace(\"10.9.0.1\") {{ print(`hop ${{h.dir}}|${{h.machine}}|${{h.ns}}|${{h.iif}}|${{h.oif}}|${{h.over}}|${{h.verdict}}`); }}\n\
         b.expect_blocked(\"10.9.0.1\");\n"
    );
    let lab = lab.replace(
        "b.expect_blocked",
        "try { b.expect_reach(\"10.9.0.1\", #{src: \"10.9.0.9\"}); } catch (e) { print(`caught ${e}`); }\nb.expect_blocked",
    );
    let o = across(&lab, "", "");
    o.says(&[
        "run=1",
        "B_REACHED",
        "refused true ok false",
        "hop request|m2|b|",
        "caught on machine 'm2': ",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
    ]);
    let all = o.all();
    assert!(
        o.stdout.lines().any(|h| h.starts_with("hop request|")
            && h.contains("|a|ea|")
            && h.contains("|VXLAN ")),
        "b's request does not arrive in a over VXLAN:\n{all}"
    );
    let w = o.report_words();
    assert!(
        w.contains("b reaches 10.9.0.1, which was expected to be blocked")
            && w.contains("lab.rhai:14"),
        "expect_blocked from b did not fail at its line:\n{all}"
    );
}

/// A router on m2 between two hosts here: the path goes over two links
/// between the machines (two VNIs), the far machine's part walked by its
/// agent; with forwarding off there, the agent's reason comes back.
#[test]
fn a_path_through_a_router_on_the_other_machine_crosses_twice() {
    let lab = r#"
let a = netns("a");
let c = netns("c");
let r = netns("r", #{on: "m2"});
r.forwarding(true);
veth(a, "ar", r, "ra");
veth(c, "cr", r, "rc");
a.addr("ar", "10.1.0.1/24");
r.addr("ra", "10.1.0.254/24");
c.addr("cr", "10.2.0.1/24");
r.addr("rc", "10.2.0.254/24");
a.route("default", "10.1.0.254");
c.route("default", "10.2.0.254");
a.expect_reach("10.2.0.1");
for h in a.trace("10.2.0.1") { print(`hop ${h.dir}|${h.machine}|${h.ns}|${h.iif}|${h.oif}|${h.over}|${h.verdict}`); }
r.forwarding(false);
let p = a.probe("10.2.0.1");
print(`why ${p.why}`);
print(`help ${p.help}`);
"#;
    let o = across(lab, "", "");
    o.says(&[
        "run=0",
        "hop request||a||ar||forward",
        "hop request|m2|r|ra|rc|VXLAN ",
        "hop request||c|cr||VXLAN ",
        "hop reply|m2|r|rc|ra|VXLAN ",
        "r does not forward",
        "path: a ar -> m2 r ra over VXLAN ",
        "help r.forwarding(true)",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
    ]);
}
