//! A kept lab keeps its programs (issue 21, item 7), as containerlab does:
//! what `spawn` started, and what that started, keeps running in the lab's
//! cgroup after `nslab run --keep` exits, its output going on into files
//! under /run/nslab; `nslab ls` names it; `nslab down` ends it and leaves
//! nothing behind. Each test runs in a private host (host mode, a lab name
//! of its own) and looks from outside: a client in another namespace of the
//! lab, `pgrep`, /run/nslab, the cgroup tree.

use crate::common::*;

/// A TCP server: answers each connection with "hello MARKER", then says
/// "served MARKER" on its standard output (after nslab is gone, too: it
/// must neither die of SIGPIPE nor block).
const SERVER: &str = "import socket, sys\n\
    m = sys.argv[1]\n\
    s = socket.socket()\n\
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
    s.bind(('10.9.0.2', 8080))\n\
    s.listen()\n\
    print('listening', m, flush=True)\n\
    while True:\n\
    \x20   c, _ = s.accept()\n\
    \x20   c.sendall(('hello ' + m + '\\n').encode())\n\
    \x20   c.close()\n\
    \x20   for i in range(2000):\n\
    \x20       print('served', m, i, 'x' * 60, flush=True)\n";

/// A client in namespace `a`: prints what the server says.
const CLIENT: &str = "import socket\n\
    s = socket.create_connection(('10.9.0.2', 8080), timeout=5)\n\
    print(s.recv(100).decode().strip())\n";

/// The lab: a and b joined by a veth, the server in b, and a shell in b
/// that leaves a sleep in the background.
fn lab(m: &str) -> String {
    format!(
        "let a = netns(\"a\");\nlet b = netns(\"b\");\n\
         let c = veth(a, \"eth0\", b, \"eth0\");\n\
         c[0].addr(\"10.9.0.1/24\");\nc[1].addr(\"10.9.0.2/24\");\n\
         let srv = b.spawn([\"python3\", \"server.py\", \"{m}\"]);\n\
         b.wait_port(#{{port: 8080, addr: \"10.9.0.2\"}});\n\
         b.spawn(\"sleep {m}1 & sleep {m}2\");\n\
         print(\"ready \" + srv.stdout);\n"
    )
}

/// A shell function listing the lab's processes still running (by their
/// marker), one per line. (python3 may be a wrapper that execs another
/// path; `[p]` keeps the pattern from matching the test's own shell.)
fn procs(m: &str) -> String {
    format!("procs() {{ pgrep -a -f \"([p]ython3 server.py|^sleep) {m}\"; }}\n")
}

#[test]
fn a_kept_lab_keeps_serving_is_listed_and_down_ends_it() {
    let d = Dir::new();
    let m = marker();
    d.write("kept.rhai", &lab(&m));
    d.write("server.py", SERVER);
    d.write("client.py", CLIENT);
    let o = private_host(
        &d,
        &format!(
            "{}snap > before\n\
             \"$NSLAB\" run --keep --name keepsrv kept.rhai > out 2>&1; echo run=$?\ncat out\n\
             wait_until '[ $(procs | wc -l) -ge 3 ]' 5\n\
             procs | wc -l | sed 's/^/running=/'\n\
             ip netns exec a python3 client.py | sed 's/^/CLIENT /'\n\
             wait_until 'grep -rqs \"served {m} 1999\" /run/nslab' 10 && echo SERVED_AFTER_EXIT\n\
             srv=$(pgrep -f '[p]ython3 server.py {m}')\n\
             \"$NSLAB\" ls > ls.out; cat ls.out\n\
             grep -q \"pid $srv in b: [p]ython3 server.py {m}\" ls.out && echo LS_NAMES_SERVER\n\
             \"$NSLAB\" ls --json | python3 -c 'import json, sys; l = json.load(sys.stdin)[0]; print(\"JSON\", l[\"state\"], sorted(p[\"command\"] for p in l[\"processes\"]), [p[\"pid\"] for p in l[\"processes\"] if p[\"command\"].startswith(\"python3\")] == [int(sys.argv[1])])' \"$srv\"\n\
             \"$NSLAB\" down keepsrv; echo down=$?\n\
             wait_while procs 5\n\
             procs || echo NONE_LEFT\n\
             find /run/nslab -mindepth 1 ! -name hostwide.state | sed 's/^/RUN_LEFT /'\n\
             find /sys/fs/cgroup -type d -name 'nslab-keepsrv-*' 2>/dev/null | sed 's/^/CGROUP_LEFT /'\n\
             no_trace\n",
            procs(&m)
        ),
    );
    o.says(&["run=0", &format!("ready listening {m}")]);
    o.because("the kept lab's programs ended with nslab")
        .says(&["running=3"]);
    o.because("the kept server does not answer after nslab exited")
        .says(&[&format!("CLIENT hello {m}")]);
    o.because("the server's output after nslab exited did not reach its file")
        .says(&["SERVED_AFTER_EXIT"]);
    o.because("nslab ls does not name the kept server")
        .says(&["LS_NAMES_SERVER"]);
    o.says(&[&format!(
        "JSON kept ['python3 server.py {m}', 'sleep {m}1 & sleep {m}2'] True"
    )]);
    o.says(&["down=0"]);
    o.because("a kept program survived nslab down")
        .says(&["NONE_LEFT"]);
    o.because("nslab down left a file or a cgroup")
        .lacks(&["RUN_LEFT", "CGROUP_LEFT"]);
    assert_no_trace(&o, "SAME");
}

/// `ls` lists only the kept programs still alive: one that ended (here
/// killed from outside) is gone from the list; and a lab that is not kept
/// ends its programs at the end as before, output files included.
#[test]
fn ls_lists_only_live_programs_and_a_lab_not_kept_still_ends_them() {
    let d = Dir::new();
    let m = marker();
    d.write(
        "two.rhai",
        &format!(
            "let b = netns(\"b\");\n\
             let p = b.spawn(\"echo out; echo err >&2; exec sleep {m}1\");\n\
             b.spawn([\"sleep\", \"{m}2\"]);\n\
             let i = 0;\n\
             while (p.stdout == \"\" || p.stderr == \"\") && i < 250 {{ sleep(0.02); i += 1; }}\n\
             if p.stdout != \"out\\n\" || p.stderr != \"err\\n\" {{ throw `${{p.stdout}}|${{p.stderr}}`; }}\n\
             print(\"outputs read\");\n"
        ),
    );
    let o = private_host(
        &d,
        &format!(
            "sleeps() {{ pgrep -a -x sleep | grep -F ' {m}'; }}\nsnap > before\n\
             \"$NSLAB\" run two.rhai; echo plain=$?\n\
             sleeps || echo NONE_AFTER_PLAIN\n\
             find /run/nslab -mindepth 1 ! -name hostwide.state | sed 's/^/PLAIN_LEFT /'\n\
             \"$NSLAB\" run --keep --name keeptwo two.rhai; echo kept=$?\n\
             \"$NSLAB\" ls | grep -c 'sleep {m}' | sed 's/^/listed=/'\n\
             pkill -x -f 'sleep {m}2'\n\
             wait_while 'pgrep -x -f \"sleep {m}2\"' 5\n\
             \"$NSLAB\" ls | grep -c 'sleep {m}' | sed 's/^/listed=/'\n\
             \"$NSLAB\" down keeptwo; echo down=$?\n\
             wait_while sleeps 5\n\
             sleeps || echo NONE_LEFT\n\
             no_trace\n"
        ),
    );
    o.says(&["outputs read", "plain=0", "NONE_AFTER_PLAIN"]);
    o.lacks(&["PLAIN_LEFT"]);
    o.says(&["kept=0", "listed=2\n", "listed=1\n", "down=0", "NONE_LEFT"]);
    assert_no_trace(&o, "SAME");
}

/// `nslab repl --attach` on a kept lab whose programs run: the session
/// spawns programs of its own (their output read as usual); when it ends,
/// those end with it, the kept lab's old ones run on and are still listed,
/// and `nslab down` ends them all and leaves nothing.
#[test]
fn an_attached_session_leaves_the_kept_programs_running() {
    let d = Dir::new();
    let m = marker();
    d.write(
        "kept.rhai",
        &format!("let b = netns(\"b\");\nb.spawn([\"sleep\", \"{m}1\"]);\n"),
    );
    d.write(
        "session.rhai",
        &format!(
            "let b = ns(\"b\");\n\
             let p = b.spawn([\"sleep\", \"{m}3\"]);\n\
             let q = b.spawn(\"echo from-$((6 * 7))\");\n\
             let i = 0; while q.stdout == \"\" && i < 250 {{ sleep(0.02); i += 1; }}\n\
             print(\"session read \" + q.stdout);\n"
        ),
    );
    let o = private_host(
        &d,
        &format!(
            "sleeps() {{ pgrep -a -x sleep | grep -F ' {m}'; }}\nsnap > before\n\
             \"$NSLAB\" run --keep --name keepatt kept.rhai; echo kept=$?\n\
             \"$NSLAB\" repl --attach keepatt < session.rhai; echo repl=$?\n\
             wait_while 'sleeps | grep -q {m}3' 5\n\
             sleeps | sed 's/^[0-9]* /RUNS /'\n\
             \"$NSLAB\" ls | grep -F ': sleep {m}' | sed 's/^ *pid [0-9]* /LISTED /'\n\
             \"$NSLAB\" down keepatt; echo down=$?\n\
             wait_while sleeps 5\n\
             sleeps || echo NONE_LEFT\n\
             find /run/nslab -mindepth 1 ! -name hostwide.state | sed 's/^/RUN_LEFT /'\n\
             no_trace\n"
        ),
    );
    o.says(&["kept=0", "session read from-42", "repl=0"]);
    o.because("the kept lab's program ended with the session")
        .says(&[&format!("RUNS sleep {m}1\n")]);
    o.because("the session's program outlived it")
        .lacks(&[&format!("RUNS sleep {m}3")]);
    o.says(&[&format!("LISTED in b: sleep {m}1\n")]);
    o.lacks(&[&format!("LISTED in b: sleep {m}3")]);
    o.says(&["down=0", "NONE_LEFT"]);
    o.lacks(&["RUN_LEFT"]);
    assert_no_trace(&o, "SAME");
}

/// A spawn whose program is missing fails at its line and leaves nothing
/// in the way of the next one, whose output reads back.
#[test]
fn a_spawn_that_cannot_start_leaves_the_next_one_working() {
    let o = run_isolated(
        "again.rhai",
        "let b = netns(\"b\");\n\
         let failed = false;\n\
         try { b.spawn([\"no-such-program-nslab\"]); } catch (e) { failed = `${e}`.contains(\"not found\"); }\n\
         let p = b.spawn(\"echo again\");\n\
         let i = 0; while p.stdout == \"\" && i < 250 { sleep(0.02); i += 1; }\n\
         print(`${failed} ${p.stdout}`);\n",
    );
    o.says(&["true again"]);
}

/// Where no cgroup can be made (the cgroup mounts hidden under a tmpfs),
/// a kept lab's programs cannot outlive nslab (they run in a PID namespace
/// that dies with it): nslab says so, and the rest of the lab is kept.
#[test]
fn without_cgroups_a_kept_lab_says_its_programs_end() {
    let d = Dir::new();
    let m = marker();
    d.write(
        "nocg.rhai",
        &format!("let b = netns(\"b\");\nb.spawn([\"sleep\", \"{m}1\"]);\n"),
    );
    let o = private_host(
        &d,
        &format!(
            "mount -t tmpfs tmpfs /sys/fs/cgroup\nsnap > before\n\
             \"$NSLAB\" run --keep --name keepnocg nocg.rhai; echo kept=$?\n\
             ip netns list | sed 's/^/NETNS /'\n\
             \"$NSLAB\" down keepnocg; echo down=$?\n\
             wait_while 'pgrep -x -f \"sleep {m}1\"' 5\n\
             pgrep -x -f \"sleep {m}1\" || echo NONE_LEFT\n\
             no_trace\n"
        ),
    );
    o.says(&["kept=0", "NETNS b", "down=0", "NONE_LEFT"]);
    o.all_says(&[
        "the lab's spawned programs end with nslab: no cgroup v2",
        "lab 'keepnocg' is kept",
    ]);
    assert_no_trace(&o, "SAME");
}
