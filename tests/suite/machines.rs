//! One lab across machines (`nslab agent`, `nslab run --machines`), by
//! simulation: in a private host, two "machines" m1 and m2, each a network
//! namespace of its own (eth0 192.0.2.1 and .2 on a bridge: the underlay)
//! entered with a mount and UTS namespace of its own (its own /run, so its
//! own /run/netns and /run/nslab). The agent runs on m2, the script on m1.

use crate::common::*;

/// Shell helpers: `machine NAME IP`, `on NAME CMD` (runs CMD on that
/// machine, exec'ing so `$!` is CMD's pid; in a subshell or background
/// only), `run_on NAME CMD` (the same, in a subshell), `agent [FLAGS]` (starts m2's
/// agent, `$AG` its pid, killed on exit), `agent_sees` (m2's /run/netns and
/// /run/nslab as the agent sees them).
pub(crate) const MACHINES: &str = r#"
head -c 32 /dev/urandom | base64 > token
head -c 32 /dev/urandom | base64 > other-token
ip link add ul type bridge && ip link set ul up
machine() {
  ip netns add $1
  ip link add u-$1 type veth peer name eth0 netns $1
  ip link set u-$1 master ul up
  ip -n $1 addr add $2/24 dev eth0
  ip -n $1 link set eth0 up; ip -n $1 link set lo up
}
on() { m=$1; shift; exec nsenter --net=/run/netns/$m unshare --mount --uts --propagation private sh -c "mount -t tmpfs tmpfs /run && mkdir -p /run/netns && hostname $m && $*"; }
machine m1 192.0.2.1
machine m2 192.0.2.2
agent() {
  on m2 "exec \"$NSLAB\" agent --listen 192.0.2.2:7600 --token-file token $*" 2> agent.err &
  AG=$!
  trap 'kill $AG 2>/dev/null' EXIT
  wait_until "nsenter --net=/run/netns/m2 ss -ltn | grep -q 7600" 20
}
run_on() { (on "$@"); }
agent_sees() { nsenter --mount=/proc/$AG/ns/mnt sh -c 'ls /run/netns; ls /run/nslab 2>/dev/null'; }
m2_links() { ip -n m2 -o link show | sed -E 's/^[0-9]+: //; s/ link\/.*//' | sort; }
"#;

const PAIR: &str = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
veth(a, "ea", b, "eb");
a.addr("ea", "10.9.0.1/24");
b.addr("eb", "10.9.0.2/24");
"#;

pub(crate) fn machines(files: &[(&str, &str)], sh: &str) -> Out {
    in_private_host(files, &format!("{MACHINES}\n{sh}"))
}

/// Hosts on two machines ping each other over the VXLAN link the veth
/// between them became (MTU 50 below the underlay's 1500), and both
/// machines are as they were after the run.
#[test]
fn hosts_on_two_machines_ping_each_other() {
    let lab = format!(
        "{PAIR}\n\
         print(`a->b ${{a.ping(\"10.9.0.2\").ok}}`);\n\
         print(`b->a ${{b.ping(\"10.9.0.1\").ok}}`);\n\
         b.route(\"10.8.0.0/16\", \"10.9.0.1\");\n\
         print(`b says ${{b.run(\"ip -d -o link show eb\")}}`);\n\
         print(`a says ${{a.run(\"ip -d -o link show ea\")}}`);\n\
         print(`b routes ${{b.run(\"ip route show 10.8.0.0/16\")}}`);\n\
         print(`b host ${{b.run(\"hostname\")}}`);\n"
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        "agent --grace-ms 100\n\
         m2_links > m2.before\n\
         snap > before\n\
         run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\"; echo run=$?\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n\
         no_trace before after SAME\n",
    );
    o.says(&[
        "run=0",
        "a->b true",
        "b->a true",
        "AGENT_CLEAN",
        "M2_SAME",
        "SAME",
        "b host m2",
        "10.8.0.0/16 via 10.9.0.1 dev eb",
    ]);
    let b = o.after("b says ");
    assert!(
        b.contains("mtu 1450") && b.contains("vxlan id") && b.contains("dstport 14789"),
        "eb is not a VXLAN of MTU 1450 on port 14789: {b}"
    );
    let a = o.after("a says ");
    assert!(
        a.contains("mtu 1450") && a.contains("vxlan id"),
        "ea is not a VXLAN of MTU 1450: {a}"
    );
}

/// A script with another token than the agent's is refused, at the line
/// of its first call on that machine, with what to do.
#[test]
fn a_wrong_token_is_refused() {
    let o = machines(
        &[("lab.rhai", PAIR)],
        "agent\n\
         run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file other-token\"; echo run=$?\n\
         echo AGENT_SEES; agent_sees\n",
    );
    o.says(&["run=1"]);
    let w = o.report_words();
    assert!(
        w.contains("the agent of machine 'm2' at 192.0.2.2:7600 refused this token")
            && w.contains("same --token-file")
            && w.contains("lab.rhai:3"),
        "no refusal at the line:\n{}",
        o.all()
    );
    let after = o.stdout.split("AGENT_SEES").nth(1).unwrap_or("");
    assert!(after.trim().is_empty(), "the agent made something: {after}");
}

/// `on` naming a machine --machines did not give is an error at the line
/// naming the machines there are.
#[test]
fn an_unknown_machine_is_an_error_naming_the_known_ones() {
    let o = machines(
        &[(
            "lab.rhai",
            "let a = netns(\"a\");\nlet b = netns(\"b\", #{on: \"m3\"});\n",
        )],
        "agent\n\
         run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\"; echo run=$?\n",
    );
    o.says(&["run=1"]);
    let w = o.report_words();
    assert!(
        w.contains("no machine 'm3' was given")
            && w.contains("the machines are: m2")
            && w.contains("lab.rhai:2"),
        "{}",
        o.all()
    );
}

/// kill -9 of the script: its connection ends, and after the grace period
/// the agent tears its part down.
#[test]
fn kill_9_of_the_script_leaves_the_agents_machine_as_it_was() {
    let lab = format!("{PAIR}\nprint(\"READY\");\na.exec(\"sleep 60\");\n");
    let o = machines(
        &[("lab.rhai", &lab)],
        "agent --grace-ms 200\n\
         m2_links > m2.before\n\
         (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
         D=$!\n\
         wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
         echo BEFORE_KILL; agent_sees; echo END\n\
         echo LS; nsenter --mount=/proc/$AG/ns/mnt --net=/run/netns/m2 \"$NSLAB\" ls; echo END_LS\n\
         kill -9 $D; wait $D\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&["BUILT", "AGENT_CLEAN", "M2_SAME"]);
    let before = o
        .stdout
        .split("BEFORE_KILL")
        .nth(1)
        .and_then(|s| s.split("END").next())
        .unwrap_or("");
    assert!(
        before.contains('b') && before.contains(".json"),
        "the agent held no part of the lab before the kill: {before}"
    );
    // `nslab ls` on the agent's machine sees its part, from its journal.
    let ls = o
        .stdout
        .split("LS\n")
        .nth(1)
        .and_then(|s| s.split("END_LS").next())
        .unwrap_or("");
    assert!(
        ls.contains("lab"),
        "nslab ls on m2 does not show the lab: {ls}"
    );
}

/// kill -9 of the agent: the script's next call on that machine fails
/// naming the machine.
#[test]
fn kill_9_of_the_agent_is_an_error_naming_the_machine() {
    let lab = format!(
        "{PAIR}\nprint(\"READY\");\n\
         a.exec(`while [ ! -e ${{param(\"go\", \"\")}} ]; do sleep 0.05; done`);\n\
         b.ping(\"10.9.0.1\");\n"
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        "agent\n\
         (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --set go=$DIR/go --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
         D=$!\n\
         wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
         kill -9 $AG; wait $AG\n\
         touch go\n\
         wait $D; echo run=$?\n\
         cat run.out\n",
    );
    o.says(&["BUILT", "run=1"]);
    let w = words(&o.stdout);
    assert!(
        w.contains("lost the agent of machine 'm2' at 192.0.2.2:7600") && w.contains("lab.rhai:10"),
        "{}",
        o.all()
    );
}

/// Two labs at once on the same two machines (other namespace names, as
/// on one machine): each gets VNIs of its own and its own lab on the
/// agent, both ping across, and the agent's machine is as it was after.
#[test]
fn two_labs_on_the_same_machines_do_not_collide() {
    let lab = |n: u8| {
        format!(
            "let a = netns(\"a{n}\");\n\
             let b = netns(\"b{n}\", #{{on: \"m2\"}});\n\
             veth(a, \"ea\", b, \"eb\");\n\
             a.addr(\"ea\", \"10.9.{n}.1/24\");\n\
             b.addr(\"eb\", \"10.9.{n}.2/24\");\n\
             a.exec(\"sleep 1\");\n\
             print(`lab{n} ${{a.ping(\"10.9.{n}.2\").ok}} ${{b.ping(\"10.9.{n}.1\").ok}}`);\n"
        )
    };
    let (one, two) = (lab(1), lab(2));
    let o = machines(
        &[("one.rhai", &one), ("two.rhai", &two)],
        "agent --grace-ms 100\n\
         m2_links > m2.before\n\
         run_on m1 \"\\\"$NSLAB\\\" run one.rhai --machines m2=192.0.2.2:7600 --token-file token\" > one.out 2>&1 &\n\
         P1=$!\n\
         run_on m1 \"\\\"$NSLAB\\\" run two.rhai --machines m2=192.0.2.2:7600 --token-file token\" > two.out 2>&1 &\n\
         P2=$!\n\
         wait $P1; echo one=$?\n\
         wait $P2; echo two=$?\n\
         cat one.out two.out\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&[
        "one=0",
        "two=0",
        "lab1 true true",
        "lab2 true true",
        "AGENT_CLEAN",
        "M2_SAME",
    ]);
}

/// A router on the other machine between two hosts on this one: two
/// links between the machines (two VNIs), forwarding and routes there.
#[test]
fn a_router_on_the_other_machine_forwards() {
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
print(`a->c ${a.ping("10.2.0.1").ok}`);
print(`forwarding ${r.run("cat /proc/sys/net/ipv4/ip_forward")}`);
"#;
    let o = machines(
        &[("lab.rhai", lab)],
        "agent --grace-ms 100\n\
         m2_links > m2.before\n\
         run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\"; echo run=$?\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&[
        "run=0",
        "a->c true",
        "forwarding 1",
        "AGENT_CLEAN",
        "M2_SAME",
    ]);
}

/// scripts/two-machines.rhai, unchanged, split over two machines with
/// `--set far=m2`: the router and host c on m2, host a here; a pings c
/// across the VXLAN link and through the router on m2, c pings back, and
/// both machines are as they were after.
#[test]
fn the_two_machines_script_splits_over_two_machines() {
    let lab = include_str!("../../scripts/two-machines.rhai");
    let o = machines(
        &[("two-machines.rhai", lab)],
        "agent --grace-ms 100\n\
         m_links() { ip -n $1 -o link show | sed -E 's/^[0-9]+: //; s/ link\\/.*//' | sort; }\n\
         m_links m1 > m1.before; m_links m2 > m2.before\n\
         snap > before\n\
         run_on m1 \"\\\"$NSLAB\\\" run two-machines.rhai --set far=m2 --machines m2=192.0.2.2:7600 --token-file token\"; echo run=$?\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         m_links m1 > m1.after; cmp m1.before m1.after && echo M1_SAME\n\
         m_links m2 > m2.after; cmp m2.before m2.after && echo M2_SAME\n\
         no_trace before after SAME\n",
    );
    o.says(&[
        "run=0",
        "router and host c on machine m2",
        "r forwards: 1",
        "64 bytes from 10.61.2.1",
        "tm-c -> tm-a: 3 replies",
        "tm-c's host name: m2",
        "ok: tm-a and tm-c reach each other through tm-r",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
        "SAME",
    ]);
}
