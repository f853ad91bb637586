//! Nodes with their own directories and host name
//! (`netns(name, #{dirs, hostname})`), and names that resolve: every lab
//! namespace's programs see a hosts file of the lab's namespaces. Checked
//! by the programs themselves (`cat`, `hostname`, `getent`), in isolated
//! mode, rootless, and host mode in a private host, where the host's mount
//! table, /run/nslab and the process list are the witnesses of teardown.

use std::path::Path;

use crate::common::*;

/// A directory every machine has that the nodes make private: FRR's own
/// where FRR is installed (the case this is for), else /srv (isolated mode
/// makes nothing outside the lab, so the directory must exist).
fn private_dir() -> &'static str {
    if Path::new("/etc/frr").is_dir() {
        "/etc/frr"
    } else {
        "/srv"
    }
}

/// This machine's host name (what a node without `hostname` keeps).
fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the host name")
        .trim()
        .to_string()
}

/// Two nodes with `dir` private (h1 also named r1), a veth between them,
/// and what their programs see, printed as TAG=value lines. `m` names the
/// spawned sleep.
fn two_nodes(dir: &str, m: &str) -> String {
    format!(
        r#"let d = "{dir}";
let a = netns("h1", #{{dirs: [d], hostname: "r1"}});
let b = netns("h2", #{{dirs: [d]}});
let e = veth(a, "e1", b, "e2");
e[0].addr("10.77.0.1/24");
e[1].addr("10.77.0.2/24");
e[1].addr("fd77::2/64");
a.write(d + "/frr.conf", "hostname r1\n");
b.write(d + "/frr.conf", "hostname r2\n");
print("A=" + a.exec("cat " + d + "/frr.conf").stdout);
print("B=" + b.exec("cat " + d + "/frr.conf").stdout);
print("LS_B=" + b.exec("ls -A " + d + " | tr '\n' ' '").stdout);
let t = a.exec("touch " + d + "/only-in-node");
if t.code != 0 {{ throw `touch: ${{t}}`; }}
a.spawn("echo spawned > " + d + "/s; exec sleep {m}1");
print("S=" + a.exec("for i in $(seq 500); do [ -s " + d + "/s ] && break; sleep 0.02; done; cat " + d + "/s").stdout);
print("READ=" + a.read(d + "/s"));
print("HA=" + a.exec("hostname").stdout);
print("HB=" + b.exec("hostname").stdout);
print("G4=" + a.exec("getent ahostsv4 h2 | head -1").stdout);
print("G6=" + a.exec("getent hosts h2").stdout);
print("GR1=" + b.exec("getent ahostsv4 r1 | head -1").stdout);
print("SELF=" + a.exec("getent ahostsv4 r1 | head -1").stdout);
print("LOCAL=" + a.exec("getent hosts localhost").stdout);
print("PING=" + a.exec("ping -c 1 -W 5 h2 >/dev/null 2>&1; echo $?").stdout);
print(show());
print("ready");
"#
    )
}

/// What every mode must show for `two_nodes`.
fn sees_its_own(o: &Out) {
    o.because("each node reads its own copy of the private directory")
        .says(&["A=hostname r1", "B=hostname r2"]);
    o.because("h2's private directory holds only what h2 wrote")
        .says(&["LS_B=frr.conf \n"]);
    o.because("a spawned process and an exec of one node share its directory")
        .says(&["S=spawned", "READ=spawned"]);
    o.because("hostname r1 is h1's alone; h2 keeps the machine's")
        .says(&["HA=r1\n", &format!("HB={}\n", machine_hostname())]);
    o.because("names resolve through the lab's hosts file")
        .says(&[
            "G4=10.77.0.2 ",
            "G6=fd77::2 ",
            "GR1=10.77.0.1 ",
            "SELF=10.77.0.1 ",
            "LOCAL=",
            "localhost",
            "PING=0",
        ]);
    o.because("show() names a node's host name and private directories")
        .says(&["namespace h1\n  hostname r1\n  private dirs "]);
}

#[test]
fn isolated_nodes_see_their_own_directories_host_names_and_each_other_by_name() {
    let dir = private_dir();
    let m = marker();
    let o = run_isolated("nodes.rhai", &two_nodes(dir, &m));
    o.assert_ok();
    sees_its_own(&o);
    assert!(
        !Path::new(dir).join("only-in-node").exists(),
        "a node's file reached the machine's {dir}"
    );
}

#[test]
fn rootless_nodes_see_their_own_directories_host_names_and_each_other_by_name() {
    let user = as_nobody(0o777);
    let dir = private_dir();
    let m = marker();
    user.dir.write("nodes.rhai", &two_nodes(dir, &m));
    let o = user.run(&["run", "nodes.rhai"]);
    o.assert_ok();
    sees_its_own(&o);
    assert!(!Path::new(dir).join("only-in-node").exists());
}

/// Host mode, in a private host: the same, and afterwards no mount, no
/// directory (neither under /run/nslab nor the target nslab had to make),
/// no process and no network trace.
#[test]
fn host_mode_nodes_work_and_teardown_leaves_nothing() {
    let d = Dir::new();
    let m = marker();
    // A target that does not exist: host mode makes it, and removes it.
    let made = format!("/var/tmp/nslab-nodes-{m}");
    let script = two_nodes(&format!("{made}/etc"), &m);
    d.write("nodes.rhai", &script);
    let o = leaves_no_trace(
        &d,
        &format!(
            "\"$NSLAB\" run nodes.rhai; echo rc=$?\n\
             grep -F -e nslab/nodes -e '{made}' /proc/self/mountinfo && echo MOUNT_LEFT\n\
             ls -A /run/nslab 2>/dev/null | sed 's/^/RUN_LEFT /'\n\
             test -e '{made}' && echo MADE_LEFT\n\
             pgrep -a -x sleep | grep -F ' {m}' && echo PROCESS_LEFT\n"
        ),
    );
    sees_its_own(&o);
    o.says(&["rc=0"])
        .lacks(&["MOUNT_LEFT", "RUN_LEFT", "MADE_LEFT", "PROCESS_LEFT"]);
}

/// kill -9 of nslab while a node's program runs: the program's mounts are
/// its own (never in the host's table), and `nslab down` removes the
/// private directories and the directory nslab made; no process is left.
#[test]
fn host_mode_kill_9_then_down_leaves_no_mount_directory_or_process() {
    let d = Dir::new();
    let m = marker();
    let made = format!("/var/tmp/nslab-nodes-{m}");
    let sleeps = format!("pgrep -a -x sleep | grep -F ' {m}9'");
    d.write(
        "killed.rhai",
        &format!(
            "let a = netns(\"k1\", #{{dirs: [\"{made}/etc\"], hostname: \"k1\"}});\n\
             a.write(\"{made}/etc/conf\", \"x\");\n\
             a.spawn(\"exec sleep {m}9\");\n\
             print(\"ready\");\nsleep(100);\n"
        ),
    );
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             \"$NSLAB\" run killed.rhai > out 2>&1 &\npid=$!\n\
             wait_until 'grep -q ready out' 10 || cat out\n\
             wait_until \"{sleeps}\" 5\n\
             child=$({sleeps} | cut -d' ' -f1)\n\
             grep -q -F '{made}/etc' /proc/$child/mountinfo && echo CHILD_HAS_MOUNT\n\
             grep -F '{made}' /proc/self/mountinfo && echo HOST_HAS_MOUNT\n\
             test -f '/run/nslab/nodes/killed/k1/dirs/var%2Ftmp%2Fnslab-nodes-{m}%2Fetc/conf' && echo BACKING\n\
             kill -9 $pid; wait $pid\n\
             \"$NSLAB\" down --all; echo down=$?\n\
             wait_while \"{sleeps}\" 5\n\
             {sleeps} && echo PROCESS_LEFT\n\
             grep -F -e nslab/nodes -e '{made}' /proc/self/mountinfo && echo MOUNT_LEFT\n\
             test -e /run/nslab/nodes && echo NODES_LEFT\n\
             test -e '{made}' && echo MADE_LEFT\n\
             no_trace\n"
        ),
    );
    o.says(&["CHILD_HAS_MOUNT", "BACKING", "down=0"]).lacks(&[
        "HOST_HAS_MOUNT",
        "PROCESS_LEFT",
        "MOUNT_LEFT",
        "NODES_LEFT",
        "MADE_LEFT",
    ]);
    assert_no_trace(&o, "SAME");
}

/// Item 11 of the first-hour issue: plain namespaces find each other by
/// name too.
#[test]
fn plain_namespaces_resolve_each_other_by_name() {
    let o = run_ok(
        "names.rhai",
        "let a = netns(\"p1\");\nlet b = netns(\"p2\");\n\
         let e = veth(a, \"e1\", b, \"e2\");\n\
         e[0].addr(\"10.78.0.1/24\");\ne[1].addr(\"10.78.0.2/24\");\n\
         print(\"P2=\" + a.exec(\"getent ahostsv4 p2 | head -1\").stdout);\n\
         print(\"P1=\" + b.exec(\"getent ahostsv4 p1 | head -1\").stdout);\n\
         print(\"HOSTS=\" + a.read(\"/etc/hosts\"));\n\
         b.run(\"ip addr add 10.78.0.22/24 dev e2\");\n\
         print(\"LATER=\" + a.exec(\"getent ahostsv4 p2 | grep -c STREAM\").stdout);\n",
    );
    o.says(&["P2=10.78.0.2 ", "P1=10.78.0.1 ", "10.78.0.2\tp2"]);
    o.because("an address a program added is listed at the next program's start")
        .says(&["LATER=2\n"]);
}

#[test]
fn bad_private_directories_and_host_names_are_errors_at_the_line() {
    let cases = [
        (
            "netns(\"x\", #{dirs: [\"etc/frr\"]})",
            "'etc/frr' is not an absolute path",
            "absolute path",
        ),
        (
            "netns(\"x\", #{dirs: [\"/\"]})",
            "'/' cannot be a node's private directory",
            "single directories",
        ),
        (
            "netns(\"x\", #{dirs: [\"/etc/../frr\"]})",
            "not a plain absolute path",
            "absolute path",
        ),
        (
            "netns(\"x\", #{dirs: [\"/etc/frr\", \"/etc/frr\"]})",
            "listed twice",
            "once",
        ),
        (
            "netns(\"x\", #{dirs: [\"/etc\", \"/etc/frr\"]})",
            "'/etc/frr' is inside '/etc'",
            "list only '/etc'",
        ),
        (
            "netns(\"x\", #{hostname: \"r1-this-name-is-far-too-long-for-the-kernel-to-take-as-a-host-name\"})",
            "Linux allows at most 64",
            "at most 64 bytes",
        ),
        (
            "netns(\"x\", #{hostname: \"r 1\"})",
            "'r 1' is not a valid host name",
            "letters, digits",
        ),
        (
            "netns(\"x\", #{dir: [\"/etc/frr\"]})",
            "unknown option 'dir'",
            "did you mean `dirs`",
        ),
        (
            "netns(\"x\", #{dirs: \"/etc/frr\"})",
            "option 'dirs' must be an array",
            "dirs: [",
        ),
    ];
    for (call, message, help) in cases {
        fails_at(
            "bad.rhai",
            &format!("let ok = 1;\n{call};\n"),
            "bad.rhai:2",
            message,
            help,
        );
    }
}

#[test]
fn write_outside_the_private_directories_is_refused() {
    fails_at(
        "w.rhai",
        "let a = netns(\"w1\", #{dirs: [\"/srv\"]});\na.write(\"/etc/passwd\", \"x\");\n",
        "w.rhai:2",
        "/etc/passwd is not in a private directory of namespace 'w1'",
        "write inside its private directories (/srv)",
    );
}

#[test]
fn isolated_mode_refuses_a_directory_the_machine_does_not_have() {
    let m = marker();
    let path = format!("/var/lib/nslab-nodes-missing-{m}");
    fails_at(
        "missing.rhai",
        &format!("let x = 1;\nnetns(\"m1\", #{{dirs: [\"{path}\"]}});\n"),
        "missing.rhai:2",
        &format!("directory {path} does not exist on this machine"),
        "create it first",
    );
    assert!(!Path::new(&path).exists());
    // Under the lab's own /run and /var/tmp (tmpfs of isolated mode), a
    // missing directory is made there, and the machine never sees it.
    let run = format!("/run/nslab-nodes-missing-{m}");
    let tmp = format!("/var/tmp/nslab-nodes-missing-{m}");
    run_ok(
        "private.rhai",
        &format!(
            "let n = netns(\"m1\", #{{dirs: [\"{run}\", \"{tmp}\"]}});\nn.run(\"touch {run}/x {tmp}/y\");\nprint(n.run(\"ls {run} {tmp}\"));\n"
        ),
    )
    .says(&["x", "y"]);
    assert!(!Path::new(&run).exists() && !Path::new(&tmp).exists());
}

/// `nslab plan` writes a node as shell: its directories in a temporary
/// directory bound over the targets by `unshare --mount`, its host name
/// set in `unshare --uts`; the plan, run in a private host, shows each
/// node its own file and name, and its teardown leaves nothing.
#[test]
fn plan_writes_a_node_as_unshare_and_bind_mounts() {
    let dir = private_dir();
    let d = Dir::with(&[(
        "lab.rhai",
        &format!(
            "let a = netns(\"a\", #{{dirs: [\"{dir}\"], hostname: \"ra\"}});\n\
             let b = netns(\"b\", #{{dirs: [\"{dir}\"]}});\n\
             a.write(\"{dir}/conf\", \"of a\\n\");\n\
             b.write(\"{dir}/conf\", \"of b\\n\");\n\
             print(a.exec(\"cat {dir}/conf; hostname\").stdout);\n\
             print(b.exec(\"cat {dir}/conf\").stdout);\n"
        ),
    )]);
    let plan = nslab(&["plan", "lab.rhai"], d.path());
    plan.assert_ok();
    plan.says(&["unshare --mount --uts sh -c 'mount --bind", "hostname ra"]);
    d.write("plan.sh", &plan.stdout);
    let o = private_host(
        &d,
        "mkdir t\n\
         TMPDIR=$PWD/t bash ./plan.sh > out 2>&1; echo plan=$?\n\
         sed 's/^/OUT /' out\n\
         [ -z \"$(ls -A t)\" ] && echo TMP_EMPTY\n",
    );
    o.says(&["plan=0", "OUT of a\nOUT ra\n", "OUT of b\n", "TMP_EMPTY"]);
    assert!(!Path::new(dir).join("conf").exists());
}

/// A kept lab's node keeps its directories and host name for the programs
/// of an `nslab repl --attach` session (the journal says what the node was
/// made with), and `nslab down` removes them.
#[test]
fn an_attached_session_s_programs_see_the_kept_node_s_directories() {
    let dir = private_dir();
    let d = Dir::with(&[(
        "kept.rhai",
        &format!(
            "let a = netns(\"k1\", #{{dirs: [\"{dir}\"], hostname: \"rk\"}});\n\
             a.write(\"{dir}/conf\", \"kept-conf\\n\");\n"
        ),
    )]);
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             \"$NSLAB\" run --keep --name L kept.rhai; echo run=$?\n\
             printf '%s\\n' 'print(\"X=\" + ns(\"k1\").exec(\"hostname; cat {dir}/conf\").stdout);' \
               | \"$NSLAB\" repl --attach L; echo repl=$?\n\
             \"$NSLAB\" show L\n\
             \"$NSLAB\" down L; echo down=$?\n\
             test -e /run/nslab/nodes && echo NODES_LEFT\n\
             no_trace\n"
        ),
    );
    o.says(&["run=0", "X=rk\nkept-conf\n", "repl=0", "down=0"])
        .lacks(&["NODES_LEFT"]);
    o.because("nslab show names the kept node's host name and directories")
        .says(&[
            "namespace k1\n  hostname rk\n",
            &format!("  private dirs {dir}\n"),
        ]);
    assert_no_trace(&o, "SAME");
}
