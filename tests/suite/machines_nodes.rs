//! Nodes on a namespace placed on another machine: private directories
//! and files, host name, spawned processes and the waits for daemons,
//! carried out by the agent there; and BIRD's OSPF over routers on two
//! machines (the simulation of machines.rs: m1 runs the script, m2 the
//! agent).

use super::machines::machines;
use crate::common::*;

/// Runs `lab.rhai` on m1 against m2's agent, between snapshots of both
/// machines; prints what it printed, `run=CODE`, and AGENT_CLEAN,
/// M1_SAME, M2_SAME and SAME when each is as it was after; then
/// `LEFT PID` for each process the script printed as `pid PID` (its pid
/// on m2) that still runs, and PIDS_CHECKED with those pids.
const RUN_BETWEEN_SNAPSHOTS: &str = "agent --grace-ms 100\n\
     m_links() { ip -n $1 -o link show | sed -E 's/^[0-9]+: //; s/ link\\/.*//' | sort; }\n\
     m_links m1 > m1.before; m_links m2 > m2.before\n\
     snap > before\n\
     run_on m1 \"\\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2> run.err; echo run=$?\n\
     cat run.out; cat run.err >&2\n\
     wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
     m_links m1 > m1.after; cmp m1.before m1.after && echo M1_SAME\n\
     m_links m2 > m2.after; cmp m2.before m2.after && echo M2_SAME\n\
     no_trace before after SAME\n\
     PIDS=$(grep -o 'pid [0-9]*' run.out | cut -d' ' -f2)\n\
     for p in $PIDS; do wait_while \"[ -e /proc/$p ]\" 10 || echo LEFT $p; done\n\
     echo PIDS_CHECKED $PIDS\n";

/// Every process whose pid the script printed (at least `n` of them) is
/// gone after the run.
fn no_process_left(o: &Out, n: usize) {
    let pids = o.after("PIDS_CHECKED");
    assert!(
        pids.split_whitespace().count() >= n,
        "fewer than {n} pids were printed: {pids}\n{}",
        o.all()
    );
    assert!(
        !o.stdout.lines().any(|l| l.starts_with("LEFT ")),
        "a process the lab spawned on m2 runs on after it:\n{}",
        o.all()
    );
}

/// A node on m2 with a private directory and a host name: its files are
/// written, read, tested and chowned there; a spawned process runs there
/// (its output, running, stop come back); wait_socket waits there for a
/// socket it opens; and every process it spawned is gone after the
/// teardown. A write outside its private directories is an error at the
/// script's line, naming the machine.
#[test]
fn a_node_on_another_machine_has_files_and_processes_there() {
    let m = marker();
    let lab = format!(
        r#"let b = netns("b", #{{on: "m2", dirs: ["/run/nodetest"], hostname: "bee"}});
b.write("/run/nodetest/conf", "hello from m1");
print(`read ${{b.read("/run/nodetest/conf")}}`);
print(`cat ${{b.run("cat /run/nodetest/conf")}}`);
print(`exists ${{b.exists("/run/nodetest/conf")}} ${{b.exists("/run/nodetest/none")}}`);
b.chown("/run/nodetest/conf", "0:0");
print(`host ${{b.run("hostname")}}`);
b.private_dirs(["/run/nodesock"]);
let p = b.spawn(["sh", "-c", "echo up-{m}; exec sleep {m}"]);
let q = b.spawn(["python3", "-c", "import socket,time; s=socket.socket(socket.AF_UNIX); s.bind('/run/nodesock/s'); s.listen(); time.sleep(1000)", "{m}"]);
b.wait_socket("/run/nodesock/s", #{{timeout_ms: 10000, process: q}});
print("socket up");
wait_until(|| p.stdout.contains("up-"), #{{timeout_ms: 10000}});
print(`proc ${{p}} out ${{p.stdout.contains("up-{m}")}} running ${{p.running}}`);
print(`p pid ${{p.pid}}`);
print(`q pid ${{q.pid}}`);
print(`seen ${{b.run(["pgrep", "-c", "-f", "{m}"])}}`);
let dead = b.spawn(["sh", "-c", "echo oops >&2; exit 3"]);
try {{
    b.wait_socket("/run/nodesock/never", #{{timeout_ms: 10000, process: dead}});
}} catch (e) {{
    print(`dead: ${{e}}`);
}}
q.stop();
wait_until(|| !q.running, #{{timeout_ms: 10000}});
print(`q stopped ${{!q.running}}`);
b.write("/etc/passwd", "x");
"#
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        &format!(
            "{RUN_BETWEEN_SNAPSHOTS}\
             nsenter --mount=/proc/$AG/ns/mnt sh -c '[ -e /run/nodetest ] || [ -e /run/nodesock ]' || echo DIRS_GONE\n"
        ),
    );
    o.says(&[
        "read hello from m1",
        "cat hello from m1",
        "exists true false",
        "host bee",
        "socket up",
        "out true running true",
        "seen 2",
        "exited with code 3 before anything listened on /run/nodesock/never",
        "oops",
        "q stopped true",
        "run=1",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
        "SAME",
        "DIRS_GONE",
    ]);
    assert!(
        o.after("proc ").starts_with("Process(#1 on m2)"),
        "{}",
        o.all()
    );
    no_process_left(&o, 2);
    let w = o.report_words();
    assert!(
        w.contains("on machine 'm2': /etc/passwd is not in a private directory of namespace 'b'")
            && w.contains("lab.rhai:27"),
        "the write outside is not an error at its line naming m2:\n{}",
        o.all()
    );
}

/// An OSPF line r1 — r2 — r3 of BIRD routers, r2 on m2 and r1, r3 (and
/// r3's LAN host h3) on m1, the links between machines VXLAN: the bundled
/// `bird` recipe runs unchanged on the placed r2, OSPF converges (r1
/// learns r3's LAN, r3 r1's link, r2 both), r1 pings h3 across both
/// machines, and both machines are as they were after, no BIRD left on
/// either.
#[test]
fn an_ospf_line_of_bird_routers_on_two_machines_converges() {
    need("bird");
    let lab = r#"import "bird" as bird;
fn conf(id) {
    `router id ${id};
protocol device { scan time 1; }
protocol kernel { ipv4 { import none; export where source = RTS_OSPF; }; }
protocol ospf v2 {
    ipv4 { import all; export none; };
    area 0 {
        interface "e*" { type ptp; hello 1; dead 3; retransmit 2; };
        interface "lan" { stub yes; };
    };
}
`
}
let r1 = netns("r1", #{hostname: "r1"});
let r2 = netns("r2", #{on: "m2", hostname: "r2"});
let r3 = netns("r3", #{hostname: "r3"});
let h3 = netns("h3");
veth(r1, "e12", r2, "e21");
veth(r2, "e23", r3, "e32");
veth(r3, "lan", h3, "eth0");
r1.addr("e12", "10.0.12.1/30");
r2.addr("e21", "10.0.12.2/30");
r2.addr("e23", "10.0.23.1/30");
r3.addr("e32", "10.0.23.2/30");
r3.addr("lan", "10.3.0.1/24");
h3.addr("eth0", "10.3.0.2/24");
h3.route("default", "10.3.0.1");
r2.forwarding(true);
r3.forwarding(true);
let p1 = bird::router(r1, conf("10.255.0.1"));
let p2 = bird::router(r2, conf("10.255.0.2"));
let p3 = bird::router(r3, conf("10.255.0.3"));
print(`r2 bird ${p2} running ${p2.running} pid ${p2.pid}`);
print(`r1, r3 bird pid ${p1.pid} pid ${p3.pid}`);
r1.wait_route("10.3.0.0/24", #{protocol: "bird", timeout_ms: 60000});
r2.wait_route("10.3.0.0/24", #{protocol: "bird", timeout_ms: 60000});
r3.wait_route("10.0.12.0/30", #{protocol: "bird", timeout_ms: 60000});
print("converged");
print(`r1 routes ${r1.run("ip route show 10.3.0.0/24")}`);
print(bird::show(r2, "protocols"));
print(`r2 host ${r2.run("hostname")}`);
print(`r1->h3 ${r1.ping("10.3.0.2").ok}`);
"#;
    let o = machines(&[("lab.rhai", lab)], RUN_BETWEEN_SNAPSHOTS);
    o.says(&[
        "r2 bird Process(#1 on m2) running true",
        "converged",
        "10.3.0.0/24 via 10.0.12.2 dev e12 proto bird",
        "r2 host r2",
        "r1->h3 true",
        "run=0",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
        "SAME",
    ]);
    no_process_left(&o, 3);
    let ospf = o
        .stdout
        .lines()
        .find(|l| l.starts_with("ospf1"))
        .unwrap_or("");
    assert!(
        ospf.contains("OSPF") && ospf.contains("Running"),
        "BIRD on m2 does not show OSPF running:\n{}",
        o.all()
    );
}

/// kill -9 of the script while a process it spawned on m2 runs: the
/// agent's teardown, after the grace period, stops it too.
#[test]
fn kill_9_of_the_script_stops_its_processes_on_the_other_machine() {
    let m = marker();
    let lab = format!(
        "let b = netns(\"b\", #{{on: \"m2\"}});\n\
         let p = b.spawn([\"sleep\", \"{m}\"]);\n\
         print(`pid ${{p.pid}}`);\n\
         print(\"READY\");\n\
         sleep(60);\n"
    );
    let o = machines(
        &[("lab.rhai", &lab)],
        "agent --grace-ms 200\n\
         (on m1 \"exec \\\"$NSLAB\\\" run lab.rhai --machines m2=192.0.2.2:7600 --token-file token\" > run.out 2>&1) &\n\
         D=$!\n\
         wait_until 'grep -q READY run.out' 30 && echo BUILT\n\
         P=$(sed -n 's/^pid //p' run.out)\n\
         [ -n \"$P\" ] && [ -e /proc/$P ] && echo RUNS_ON_M2\n\
         kill -9 $D; wait $D\n\
         wait_until '[ -z \"$(agent_sees)\" ]' 20 && echo AGENT_CLEAN\n\
         wait_while \"[ -e /proc/$P ]\" 10 && echo STOPPED\n",
    );
    o.says(&["BUILT", "RUNS_ON_M2", "AGENT_CLEAN", "STOPPED"]);
}

/// The bundled `frr` recipe on a placed namespace too: OSPF between FRR on
/// r1 (m1) and FRR on r2 (m2) over the VXLAN link, each learning the
/// other's loopback; vtysh runs on m2 through `frr::show`; both machines
/// are as they were after, no FRR daemon left. (A private host with the
/// machine's users: FRR's daemons switch to theirs.)
#[test]
fn ospf_between_frr_on_two_machines() {
    need("vtysh");
    let lab = r#"import "frr" as frr;
let r1 = netns("r1");
let r2 = netns("r2", #{on: "m2"});
veth(r1, "e12", r2, "e21");
r1.addr("e12", "10.0.12.1/24");
r2.addr("e21", "10.0.12.2/24");
r1.addr("lo", "10.255.0.1/32");
r2.addr("lo", "10.255.0.2/32");
let p2p = "\n ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 3\n ip ospf retransmit-interval 1\n";
let f1 = frr::router(r1, #{daemons: ["ospfd"], config: "interface e12" + p2p + "router ospf\n network 10.0.12.0/24 area 0\n network 10.255.0.1/32 area 0\n"});
let f2 = frr::router(r2, #{daemons: ["ospfd"], config: "interface e21" + p2p + "router ospf\n network 10.0.12.0/24 area 0\n network 10.255.0.2/32 area 0\n"});
r1.wait_route("10.255.0.2/32", #{protocol: "ospf", timeout_ms: 60000});
r2.wait_route("10.255.0.1/32", #{protocol: "ospf", timeout_ms: 60000});
print(`r2 neighbours ${frr::show(r2, "ip ospf neighbor").neighbors.len()}`);
print(`r1->r2 ${r1.ping("10.255.0.2", #{src: "10.255.0.1"}).ok}`);
for f in [f1, f2] {
    for d in f.daemons.keys() { print(`${d} pid ${f.daemons[d].pid}`); }
}
"#;
    let o = private_host_all_ids(
        &Dir::with(&[("lab.rhai", lab)]),
        &format!("{}\n{RUN_BETWEEN_SNAPSHOTS}", super::machines::MACHINES),
    );
    o.says(&[
        "r2 neighbours 1",
        "r1->r2 true",
        "run=0",
        "AGENT_CLEAN",
        "M1_SAME",
        "M2_SAME",
        "SAME",
    ]);
    no_process_left(&o, 6);
}
