//! The agent's life across machines (issue 25): an agent killed while a
//! script drives it, a connection broken (between calls, during one, by an
//! underlay drop) and made again within the grace period, and past it,
//! `--prefix` carried to the agents, an agent in isolated mode.
//! The machines are simulated as in machines.rs (whose shell helpers these
//! tests reuse); m2 here may be "pinned": its mount and UTS namespaces are
//! held by a process of their own, so its /run (its /run/netns and
//! /run/nslab) outlives its agent, as a real machine's does.

use super::machines::MACHINES;
use crate::common::*;

/// More shell helpers: `pin M` gives machine M a mount and UTS namespace of
/// its own that outlive its agent (held by a sleeping process, `PIN_M`);
/// `in_m M CMD…` runs CMD on a pinned machine (exec: in a subshell or
/// background only); `agent_at M IP [FLAGS]` starts an agent on machine M
/// (pinned or not) and sets `AG_M` to its pid; `sees M` lists M's
/// /run/netns and /run/nslab; `links M` M's links.
const MORE: &str = r#"
PIDS=""
trap 'kill $PIDS 2>/dev/null' EXIT
pin() {
  (exec nsenter --net=/run/netns/$1 unshare --mount --uts --propagation private \
    sh -c "mount -t tmpfs tmpfs /run && mkdir -p /run/netns && hostname $1 && touch $DIR/$1.up && exec sleep 100000") &
  eval "PIN_$1=$!"; PIDS="$PIDS $!"
  wait_until "[ -e $DIR/$1.up ]" 10
}
pinned() { eval "echo \${PIN_$1:-}"; }
in_m() { m=$1; shift; p=$(pinned $m); exec nsenter --net=/run/netns/$m --mount=/proc/$p/ns/mnt --uts=/proc/$p/ns/uts "$@"; }
agent_at() {
  m=$1; ip=$2; shift 2
  if [ -n "$(pinned $m)" ]; then
    (in_m $m "$NSLAB" agent --listen $ip:7600 --token-file $DIR/token "$@") 2> agent-$m.err &
  else
    (on $m "exec \"$NSLAB\" agent --listen $ip:7600 --token-file token $*") 2> agent-$m.err &
  fi
  eval "AG_$m=$!"; PIDS="$PIDS $!"
  wait_until "nsenter --net=/run/netns/$m ss -ltn | grep -q 7600" 20
}
sees() {
  p=$(pinned $1); [ -n "$p" ] || eval "p=\$AG_$1"
  nsenter --mount=/proc/$p/ns/mnt sh -c 'ls /run/netns; ls /run/nslab 2>/dev/null'
}
links() { ip -n $1 -o link show | sed -E 's/^[0-9]+: //; s/ link\/.*//' | sort; }
"#;

fn machines(files: &[(&str, &str)], sh: &str) -> Out {
    in_private_host(files, &format!("{MACHINES}\n{MORE}\n{sh}"))
}

/// The text between two marker lines of stdout.
fn between<'a>(o: &'a Out, start: &str, end: &str) -> &'a str {
    o.stdout
        .split(start)
        .nth(1)
        .and_then(|s| s.split(end).next())
        .unwrap_or("")
}

/// kill -9 of the agent on m2 while the script runs: the script's next call
/// there is an error naming m2; the script's own part (m1) and m3's are torn
/// down; on m2 the dead agent's part stays, `nslab ls` there shows it from
/// its journal, and `nslab down` there removes it, leaving m2 as before.
#[test]
fn kill_9_of_an_agent_leaves_the_rest_torn_down_and_its_part_to_nslab_down() {
    let lab = r#"
let a = netns("a");
let b = netns("b", #{on: "m2"});
let c = netns("c", #{on: "m3"});
veth(a, "ea", b, "eb");
veth(a, "fa", c, "fc");
a.addr("ea", "10.9.0.1/24");
b.addr("eb", "10.9.0.2/24");
a.addr("fa", "10.9.1.1/24");
c.addr("fc", "10.9.1.2/24");
print(`before ${a.ping("10.9.0.2").ok} ${a.ping("10.9.1.2").ok}`);
print("READY");
a.exec(`while [ ! -e ${param("go", "")} ]; do sleep 0.05; done`);
b.ping("10.9.0.1");
"#;
    let o = machines(
        &[("lab.rhai", lab)],
        "pin m2\n\
         machine m3 192.0.2.3\n\
         agent_at m2 192.0.2.2\n\
         agent_at m3 192.0.2.3 --grace-ms 100\n\
         for m in m1 m2 m3; do links $m > $m.before; done\n\
         (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --set go=$DIR/go --machines m2=192.0.2.2:7600,m3=192.0.2.3:7600 --token-file token\" > run.out 2>&1) &\n\
         D=$!\n\
         wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
         echo M2_HELD; sees m2; echo END\n\
         kill -9 $AG_m2; wait $AG_m2\n\
         touch go\n\
         wait $D; echo run=$?\n\
         cat run.out\n\
         links m1 > m1.after; cmp m1.before m1.after && echo M1_SAME\n\
         wait_until '[ -z \"$(sees m3)\" ]' 20 && echo M3_CLEAN\n\
         links m3 > m3.after; cmp m3.before m3.after && echo M3_SAME\n\
         echo M2_LEFT; sees m2; echo END\n\
         echo LS; (in_m m2 \"$NSLAB\" ls); echo END\n\
         (in_m m2 \"$NSLAB\" down lab); echo down=$?\n\
         [ -z \"$(sees m2)\" ] && echo M2_CLEAN\n\
         links m2 > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&[
        "before true true",
        "BUILT",
        "run=1",
        "M1_SAME",
        "M3_CLEAN",
        "M3_SAME",
        "down=0",
        "M2_CLEAN",
        "M2_SAME",
    ]);
    let w = words(&o.stdout);
    assert!(
        w.contains("lost the agent of machine 'm2' at 192.0.2.2:7600") && w.contains("lab.rhai:14"),
        "no error naming m2 at the line:\n{}",
        o.all()
    );
    let held = between(&o, "M2_HELD", "END");
    assert!(
        held.contains('b') && held.contains("lab.json"),
        "the agent held no part of the lab before the kill: {held}"
    );
    let left = between(&o, "M2_LEFT", "END");
    assert!(
        left.contains('b') && left.contains("lab.json"),
        "the dead agent's part is not left on m2: {left}"
    );
    let ls = between(&o, "LS\n", "END");
    assert!(
        ls.contains("lab"),
        "nslab ls on m2 does not show the lab: {ls}"
    );
}

/// The pair of machines.rs: `a` here, `b` on m2, a VXLAN link between.
const PAIR: &str = r#"let a = netns("a");
let b = netns("b", #{on: "m2"});
veth(a, "ea", b, "eb");
a.addr("ea", "10.9.0.1/24");
b.addr("eb", "10.9.0.2/24");
"#;

/// Waits in the script (on a namespace here) until the shell touches the
/// file `--set NAME=…` names.
fn hold(name: &str) -> String {
    format!("a.exec(`while [ ! -e ${{param(\"{name}\", \"\")}} ]; do sleep 0.05; done`);\n")
}

/// The shell lines that cut the script's connection to m2's agent (`ss -K`
/// on m1) and wait until the agent's side saw it end.
const CUT: &str = "nsenter --net=/run/netns/m1 ss -K dst 192.0.2.2 dport = 7600 > /dev/null\n\
     wait_while 'nsenter --net=/run/netns/m2 ss -tnH state established \"( sport = :7600 )\" | grep -q .' 20 && echo CUT\n";

/// The connection to the agent broken (killed with `ss -K` on m1) between
/// two calls: the next call connects again and the agent gives the same
/// lab back (same journal, same namespace and link) within the grace
/// period; the ping over the VXLAN link works as before; m2 is as before
/// after the run.
#[test]
fn a_broken_connection_is_made_again_within_the_grace_period() {
    let lab = format!(
        "{PAIR}print(`first ${{a.ping(\"10.9.0.2\").ok}}`);\n\
         print(\"READY\");\n{}\
         print(`again ${{b.ping(\"10.9.0.1\").ok}} ${{a.ping(\"10.9.0.2\").ok}}`);\n\
         print(`b host ${{b.run(\"hostname\")}}`);\n\
         print(\"BACK\");\n{}",
        hold("go"),
        hold("end")
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        &format!(
            "agent --grace-ms 8000\n\
             m2_links > m2.before\n\
             journal() {{ nsenter --mount=/proc/$AG/ns/mnt head -1 /run/nslab/lab.json; }}\n\
             peer() {{ nsenter --net=/run/netns/m2 ss -tnH state established '( sport = :7600 )' | awk '{{print $4}}'; }}\n\
             (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --set go=$DIR/go --set end=$DIR/end --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
             D=$!\n\
             wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
             journal > journal.before; peer > peer.before; agent_sees > sees.before\n\
             [ -s journal.before ] && [ -s peer.before ] && echo HELD\n\
             {CUT}\
             touch go\n\
             wait_until 'grep -q BACK run.out' 30 && echo RESUMED\n\
             journal > journal.after; peer > peer.after; agent_sees > sees.after\n\
             cmp journal.before journal.after && grep -qx b sees.before && grep -qx b sees.after && echo SAME_LAB\n\
             cmp -s peer.before peer.after || echo NEW_CONNECTION\n\
             touch end\n\
             wait $D; echo run=$?\n\
             cat run.out\n\
             wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
             m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n"
        ),
    );
    o.says(&[
        "BUILT",
        "first true",
        "HELD",
        "CUT",
        "RESUMED",
        "again true true",
        "b host m2",
        "SAME_LAB",
        "NEW_CONNECTION",
        "run=0",
        "AGENT_CLEAN",
        "M2_SAME",
    ]);
}

/// The connection broken for longer than the grace period: the agent tears
/// its part down, and the script's next call there is an error at its line
/// naming the machine and saying why; this machine is as before after.
#[test]
fn past_the_grace_period_the_error_names_the_machine() {
    let lab = format!(
        "{PAIR}print(\"READY\");\n{}b.ping(\"10.9.0.1\");\n",
        hold("go")
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        &format!(
            "agent --grace-ms 300\n\
             m2_links > m2.before; links m1 > m1.before\n\
             (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --set go=$DIR/go --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
             D=$!\n\
             wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
             {CUT}\
             wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
             touch go\n\
             wait $D; echo run=$?\n\
             cat run.out\n\
             links m1 > m1.after; cmp m1.before m1.after && echo M1_SAME\n\
             m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n"
        ),
    );
    o.says(&["BUILT", "CUT", "AGENT_CLEAN", "run=1", "M1_SAME", "M2_SAME"]);
    let w = words(&o.stdout);
    assert!(
        w.contains("lost the agent of machine 'm2' at 192.0.2.2:7600")
            && w.contains("this agent holds the lab no")
            && w.contains("lab.rhai:8"),
        "no error naming m2 and the grace period at the line:\n{}",
        o.all()
    );
}

/// Two copies of one script at once on the same two machines, with
/// `--prefix p1-` and `--prefix p2-`: the agent's namespaces get the
/// prefix too (p1-b and p2-b on m2), so the copies do not clash by name;
/// both ping across, and m2 is as before after.
#[test]
fn two_copies_with_prefixes_do_not_clash_on_the_agents_machine() {
    let lab = format!(
        "let n = param(\"n\", 0);\n\
         let a = netns(\"a\");\n\
         let b = netns(\"b\", #{{on: \"m2\"}});\n\
         veth(a, \"ea\", b, \"eb\");\n\
         let here = `10.9.${{n}}.1`;\n\
         let there = `10.9.${{n}}.2`;\n\
         a.addr(\"ea\", here + \"/24\");\n\
         b.addr(\"eb\", there + \"/24\");\n\
         let eb = b.run(\"ip -o link show eb\").contains(\"eb\");\n\
         print(`copy${{n}} ${{a.ping(there).ok}} ${{b.ping(here).ok}} ${{eb}}`);\n\
         print(`READY${{n}}`);\n{}",
        hold("go")
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        "agent --grace-ms 100\n\
         m2_links > m2.before\n\
         for n in 1 2; do\n\
           (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --prefix p$n- --set n=$n --set go=$DIR/go --machines m2=192.0.2.2:7600 --token-file token\" > run$n.out 2>&1) &\n\
           eval \"P$n=\\$!\"\n\
         done\n\
         wait_until 'grep -q READY1 run1.out && grep -q READY2 run2.out' 30 && echo BOTH_UP\n\
         echo SEES; agent_sees; echo END\n\
         touch go\n\
         wait $P1; echo one=$?\n\
         wait $P2; echo two=$?\n\
         cat run1.out run2.out\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&[
        "BOTH_UP",
        "copy1 true true true",
        "copy2 true true true",
        "one=0",
        "two=0",
        "AGENT_CLEAN",
        "M2_SAME",
    ]);
    let sees: Vec<&str> = between(&o, "SEES", "END").split_whitespace().collect();
    for want in ["p1-b", "p2-b", "p1-lab.json", "p2-lab.json"] {
        assert!(
            sees.contains(&want),
            "m2 does not hold {want} while both run: {sees:?}"
        );
    }
}

/// An agent in isolated mode (`--isolated`: its namespaces in private
/// user, mount and network namespaces) serves a lab on its machine: a veth
/// between two namespaces there, addresses, a ping between them, a command;
/// the machine's own /run/netns never sees them; a link between machines is
/// refused at the script's line with what to do; m2 is as before after.
#[test]
fn an_isolated_agent_serves_a_lab_and_leaves_its_machine_as_before() {
    let lab = format!(
        "let a = netns(\"a\");\n\
         let b = netns(\"b\", #{{on: \"m2\"}});\n\
         let c = netns(\"c\", #{{on: \"m2\"}});\n\
         veth(b, \"bc\", c, \"cb\");\n\
         b.addr(\"bc\", \"10.7.0.1/24\");\n\
         c.addr(\"cb\", \"10.7.0.2/24\");\n\
         print(`b->c ${{b.ping(\"10.7.0.2\").ok}} c->b ${{c.ping(\"10.7.0.1\").ok}}`);\n\
         print(`c on ${{c.run(\"hostname\")}}`);\n\
         print(\"READY\");\n{}\
         veth(a, \"ea\", b, \"eb\");\n",
        hold("go")
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        "pin m2\n\
         agent_at m2 192.0.2.2 --isolated --grace-ms 100\n\
         links m2 > m2.before\n\
         private() { nsenter --mount=/proc/$AG_m2/ns/mnt sh -c 'ls /run/netns; ls /run/nslab'; }\n\
         (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --set go=$DIR/go --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
         D=$!\n\
         wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
         echo PRIVATE; private; echo END\n\
         [ -z \"$(sees m2)\" ] && echo MACHINE_SEES_NOTHING\n\
         touch go\n\
         wait $D; echo run=$?\n\
         cat run.out\n\
         wait_until '[ -z \"$(private)\" ]' 20 && echo AGENT_CLEAN\n\
         [ -z \"$(sees m2)\" ] && echo M2_RUN_EMPTY\n\
         links m2 > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&[
        "BUILT",
        "b->c true c->b true",
        "c on m2",
        "MACHINE_SEES_NOTHING",
        "run=1",
        "AGENT_CLEAN",
        "M2_RUN_EMPTY",
        "M2_SAME",
    ]);
    let held: Vec<&str> = between(&o, "PRIVATE", "END").split_whitespace().collect();
    assert!(
        held.contains(&"b") && held.contains(&"c") && held.contains(&"lab.json"),
        "the isolated agent holds no lab: {held:?}"
    );
    let w = words(&o.stdout);
    assert!(
        w.contains("machine 'm2'") && w.contains("agent is isolated") && w.contains("lab.rhai:11"),
        "no refusal of the link between machines at its line:\n{}",
        o.all()
    );
}

/// The underlay down between the machines (m1's port on the underlay
/// bridge down) until the agent's side of the connection ends (about 8 s:
/// keepalive, or TCP_USER_TIMEOUT when data was on the way): once the link
/// is back the script's next call connects again and gets the same lab
/// back, within the grace period, and pings across.
#[test]
fn an_underlay_drop_longer_than_the_keepalive_is_survived_within_the_grace_period() {
    let lab = format!(
        "{PAIR}print(\"READY\");\n{}\
         print(`again ${{b.ping(\"10.9.0.1\").ok}} ${{a.ping(\"10.9.0.2\").ok}}`);\n",
        hold("go")
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        "agent --grace-ms 30000\n\
         m2_links > m2.before\n\
         (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --set go=$DIR/go --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
         D=$!\n\
         wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
         ip link set u-m1 down\n\
         wait_while 'nsenter --net=/run/netns/m2 ss -tnH state established \"( sport = :7600 )\" | grep -q .' 30 && echo AGENT_SAW_IT_GO\n\
         ip link set u-m1 up\n\
         touch go\n\
         wait $D; echo run=$?\n\
         cat run.out\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&[
        "BUILT",
        "AGENT_SAW_IT_GO",
        "run=0",
        "again true true",
        "AGENT_CLEAN",
        "M2_SAME",
    ]);
}

/// The connection killed while a call on m2 is under way (a command still
/// running there): the script connects again at once and sends the call
/// once more under its number; the agent answers it with the first run's
/// answer when that run ends, so the command ran once, and the script goes
/// on with the same lab.
#[test]
fn a_call_under_way_when_the_connection_breaks_is_done_once() {
    let lab = format!(
        "{PAIR}print(\"READY\");\n\
         let r = b.exec(`echo ran >> ${{param(\"count\", \"\")}}; while [ ! -e ${{param(\"go\", \"\")}} ]; do sleep 0.05; done; echo done`);\n\
         print(`answer ${{r.code}} ${{r.stdout}}`);\n\
         print(`again ${{a.ping(\"10.9.0.2\").ok}}`);\n"
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        "agent --grace-ms 8000\n\
             m2_links > m2.before\n\
             (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --set count=$DIR/count --set go=$DIR/go --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
             D=$!\n\
             peer() { nsenter --net=/run/netns/m2 ss -tnH state established '( sport = :7600 )' | awk '{print $4}'; }\n\
             wait_until '[ -s count ]' 30 && echo UNDER_WAY\n\
             peer > peer.before; [ -s peer.before ] && echo HELD\n\
             nsenter --net=/run/netns/m1 ss -K dst 192.0.2.2 dport = 7600 > /dev/null\n\
             wait_until 'peer > peer.now; [ -s peer.now ] && ! cmp -s peer.before peer.now' 20 && echo BACK\n\
             touch go\n\
             wait $D; echo run=$?\n\
             cat run.out\n\
             echo RUNS $(wc -l < count)\n\
             wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
             m2_links > m2.after; cmp m2.before m2.after && echo M2_SAME\n",
    );
    o.says(&[
        "UNDER_WAY",
        "HELD",
        "BACK",
        "run=0",
        "answer 0 done",
        "again true",
        "RUNS 1",
        "AGENT_CLEAN",
        "M2_SAME",
    ]);
}
