//! Nothing a lab starts outlives it: every process started with spawn, exec
//! or shell, and whatever those start (in the background, in a session of
//! their own), ends with the lab, even when nslab is killed with SIGKILL.
//! `pgrep` is the witness; each test's sleeps carry a number of their own
//! (`sleep PID.N`) so that it finds only them.

mod common;
use common::*;
use std::process::Command;

/// A `sleep` argument unique to this test process and `n`.
fn marker(n: u32) -> String {
    format!("{}.{n}", std::process::id())
}

/// A shell command listing the `sleep` processes whose argument starts
/// with `m` (only processes called sleep: the test's own shell has the
/// marker in its command line too).
fn sleeps(m: &str) -> String {
    format!("pgrep -a -x sleep | grep -F ' {m}'")
}

/// Prints NONE_LEFT once no `sleep` with an argument starting with `m`
/// is left (asks for at most 5 s: the kernel kills a PID namespace's
/// processes asynchronously), else lists them.
fn none_left(m: &str) -> String {
    let s = sleeps(m);
    format!(
        "i=0; while {s} >/dev/null && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done\n\
         {s} || echo NONE_LEFT\n"
    )
}

/// Starts "ready" when printed: spawns a shell that forks a sleep, a sleep
/// in a session of its own, and leaves a sleep behind from exec.
fn leaky(m: &str, tail: &str) -> String {
    format!(
        "let ns = netns(\"ns1\");\n\
         ns.spawn(\"sleep {m}1; true\");\n\
         ns.spawn(\"setsid sleep {m}2\");\n\
         let r = ns.exec(\"sleep {m}3 &\");\n\
         if r.code != 0 {{ throw `exec: ${{r}}`; }}\n\
         host().spawn([\"setsid\", \"sleep\", \"{m}4\"]);\n\
         print(\"ready\");\n{tail}\n"
    )
}

/// `sh -c script` in `dir`, with `$NSLAB` the binary.
fn sh(dir: &Dir, script: &str) -> Out {
    out(Command::new("sh")
        .arg("-c")
        .arg(format!("set -u\n{script}"))
        .current_dir(dir.path())
        .env("NSLAB", bin())
        .env("NO_COLOR", "1")
        .output()
        .expect("run sh"))
}

/// Waits (at most 6 s) for "ready" in `out`.
const WAIT_READY: &str =
    "i=0; until grep -q ready out 2>/dev/null || [ $i -gt 300 ]; do sleep 0.02; i=$((i+1)); done\n";

#[test]
fn host_mode_kill_9_then_down_ends_every_process() {
    let d = Dir::new();
    let m = marker(1);
    d.write(
        "killed.rhai",
        &leaky(&m, &format!("host().exec(\"sleep {m}5\");")),
    );
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             \"$NSLAB\" run killed.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             i=0; until [ $({} | wc -l) -ge 5 ] || [ $i -gt 300 ]; do sleep 0.02; i=$((i+1)); done\n\
             {} | wc -l | sed 's/^/running=/'\n\
             grep -q kill_cgroup /run/nslab/killed.json && echo USED_A_CGROUP\n\
             kill -9 $pid; wait $pid\n\
             \"$NSLAB\" down --all; echo down=$?\n{}\
             find /sys/fs/cgroup -type d -name \"nslab-killed-$pid\" 2>/dev/null | sed 's/^/CGROUP_LEFT /'\n\
             snap > after\nif diff -u before after; then echo SAME; fi\n",
            sleeps(&m),
            sleeps(&m),
            none_left(&m)
        ),
    );
    let out = o.all();
    assert!(o.stdout.contains("running=5"), "{out}");
    assert!(o.stdout.contains("down=0"), "{out}");
    assert!(
        o.stdout.contains("NONE_LEFT"),
        "a process survived kill -9 and down:\n{out}"
    );
    assert!(!o.stdout.contains("CGROUP_LEFT"), "{out}");
    assert!(o.stdout.contains("SAME"), "{out}");
}

/// Where no cgroup can be made (here the cgroup mounts are hidden under a
/// tmpfs), host mode falls back to a PID namespace: nothing survives the
/// kill -9 even before `nslab down`.
#[test]
fn host_mode_without_cgroups_falls_back_to_a_pid_namespace() {
    let d = Dir::new();
    let m = marker(0);
    d.write(
        "killed.rhai",
        &leaky(&m, &format!("host().exec(\"sleep {m}5\");")),
    );
    let o = private_host(
        &d,
        &format!(
            "mount -t tmpfs tmpfs /sys/fs/cgroup\nsnap > before\n\
             \"$NSLAB\" run killed.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             i=0; until [ $({} | wc -l) -ge 5 ] || [ $i -gt 300 ]; do sleep 0.02; i=$((i+1)); done\n\
             {} | wc -l | sed 's/^/running=/'\n\
             grep -q kill_cgroup /run/nslab/killed.json && echo USED_A_CGROUP\n\
             kill -9 $pid; wait $pid\n{}\
             \"$NSLAB\" down --all; echo down=$?\n\
             snap > after\nif diff -u before after; then echo SAME; fi\n",
            sleeps(&m),
            sleeps(&m),
            none_left(&m)
        ),
    );
    let out = o.all();
    assert!(o.stdout.contains("running=5"), "{out}");
    assert!(!o.stdout.contains("USED_A_CGROUP"), "{out}");
    assert!(
        o.stdout.contains("NONE_LEFT"),
        "a process survived nslab's kill -9:\n{out}"
    );
    assert!(o.stdout.contains("down=0"), "{out}");
    assert!(o.stdout.contains("SAME"), "{out}");
}

#[test]
fn host_mode_normal_end_stops_background_and_setsid_processes() {
    let d = Dir::new();
    let m = marker(2);
    d.write("ends.rhai", &leaky(&m, ""));
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             timeout -k 2 20 \"$NSLAB\" run ends.rhai; echo code=$?\n{}\
             snap > after\nif diff -u before after; then echo SAME; fi\n",
            none_left(&m)
        ),
    );
    let out = o.all();
    assert!(
        o.stdout.contains("ready") && o.stdout.contains("code=0"),
        "{out}"
    );
    assert!(
        o.stdout.contains("NONE_LEFT"),
        "a process outlived the lab:\n{out}"
    );
    assert!(o.stdout.contains("SAME"), "{out}");
}

#[test]
fn isolated_mode_kill_9_ends_every_process() {
    let d = Dir::new();
    let m = marker(3);
    d.write(
        "killed.rhai",
        &leaky(&m, &format!("host().exec(\"sleep {m}5\");")),
    );
    let o = sh(
        &d,
        &format!(
            "\"$NSLAB\" run --isolated killed.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             i=0; until [ $({} | wc -l) -ge 5 ] || [ $i -gt 300 ]; do sleep 0.02; i=$((i+1)); done\n\
             {} | wc -l | sed 's/^/running=/'\n\
             kill -9 $pid; wait $pid\n{}",
            sleeps(&m),
            sleeps(&m),
            none_left(&m)
        ),
    );
    let out = o.all();
    assert!(o.stdout.contains("running=5"), "{out}");
    assert!(
        o.stdout.contains("NONE_LEFT"),
        "a process survived nslab's kill -9:\n{out}"
    );
}

#[test]
fn exec_returns_when_its_command_exits_and_leaves_nothing() {
    let d = Dir::new();
    let m = marker(4);
    d.write(
        "bg.rhai",
        &format!(
            "let ns = netns(\"ns1\");\n\
             let r = ns.exec(\"echo before; sleep {m}1 & echo after\");\n\
             if r.stdout != \"before\\nafter\\n\" || !r.ok {{ throw `${{r}}`; }}\n\
             let r = ns.exec(\"sleep {m}2 >/dev/null 2>&1 </dev/null & exit 4\");\n\
             if r.code != 4 {{ throw `${{r}}`; }}\n\
             let r = ns.exec(\"cat; echo $WHO\", #{{stdin: \"in\\n\", env: #{{WHO: \"me\"}}}});\n\
             if r.stdout != \"in\\nme\\n\" {{ throw `${{r}}`; }}\n\
             print(\"returned\");\n"
        ),
    );
    // `timeout` only turns a hang into a failure; nothing is timed.
    let o = sh(
        &d,
        &format!(
            "timeout -k 2 20 \"$NSLAB\" run --isolated bg.rhai; echo code=$?\n{}",
            none_left(&m)
        ),
    );
    let out = o.all();
    assert!(
        o.stdout.contains("returned") && o.stdout.contains("code=0"),
        "{out}"
    );
    assert!(o.stdout.contains("NONE_LEFT"), "{out}");
}

#[test]
fn sigterm_stops_a_running_exec_at_once() {
    let d = Dir::new();
    let m = marker(5);
    // The first exec leaves a sleep holding its output; the second is the
    // one running when SIGTERM comes.
    d.write(
        "term.rhai",
        &format!(
            "let ns = netns(\"ns1\");\n\
             ns.exec(\"sleep {m}1 &\");\n\
             print(\"ready\");\n\
             ns.exec(\"sleep {m}2\");\n\
             print(\"not stopped\");\n"
        ),
    );
    let o = sh(
        &d,
        &format!(
            "\"$NSLAB\" run --isolated term.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             sleep 0.1; kill -TERM $pid\n\
             i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done\n\
             kill -0 $pid 2>/dev/null && {{ echo STUCK; kill -9 $pid; }}\n\
             wait $pid; echo code=$?\ncat out\n{}",
            none_left(&m)
        ),
    );
    let out = o.all();
    assert!(
        !o.stdout.contains("STUCK"),
        "SIGTERM did not stop exec:\n{out}"
    );
    assert!(o.stdout.contains("code=143"), "{out}");
    assert!(!o.stdout.contains("not stopped"), "{out}");
    assert!(o.stdout.contains("NONE_LEFT"), "{out}");
}

#[test]
fn exec_past_its_timeout_is_an_error_at_the_line() {
    let m = marker(6);
    let o = run_isolated(
        "slow.rhai",
        &format!(
            "let ns = netns(\"ns1\");\n\
             print(ns.exec(\"sleep 0\", #{{timeout_ms: 5000}}).code);\n\
             ns.exec(\"sleep {m}\", #{{timeout_ms: 100}});\n"
        ),
    );
    assert_report(
        &o,
        "slow.rhai:3:",
        &format!("command 'sleep {m}' did not finish within 100 ms"),
        "timeout_ms",
    );
}

#[test]
fn exec_options_are_checked() {
    for (opts, message, help) in [
        (
            "#{timeout: 5}",
            "unknown exec option 'timeout'",
            "timeout_ms, stdin and env",
        ),
        ("#{timeout_ms: 0}", "timeout_ms = 0 is out of range", "1..="),
        (
            "#{stdin: 5}",
            "exec option stdin must be a string",
            "#{stdin:",
        ),
        (
            "#{env: #{\"A=B\": 1}}",
            "'A=B' is not a valid environment variable name",
            "without '='",
        ),
    ] {
        let o = run_isolated(
            "opts.rhai",
            &format!("let ns = netns(\"ns1\");\n\nns.exec(\"true\", {opts});\n"),
        );
        assert_report(&o, "opts.rhai:3:", message, help);
    }
}

/// Starts the lab in a private host, waits for "ready", sends SIGHUP.
fn hung_up(flags: &str, m: &str) -> Out {
    let d = Dir::new();
    d.write(
        "hup.rhai",
        &format!(
            "let ns = netns(\"ns1\");\nveth(host(), \"h0\", ns, \"n0\");\n\
             ns.spawn(\"sleep {m}1\");\nprint(\"ready\");\nns.exec(\"sleep {m}2\");\n"
        ),
    );
    private_host(
        &d,
        &format!(
            "snap > before\n\
             \"$NSLAB\" run {flags} hup.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             kill -HUP $pid; wait $pid; echo code=$?\ncat out\n{}\
             ip netns list | sed 's/^/NETNS /'\n\
             \"$NSLAB\" down hup; echo down=$?\n\
             snap > after\nif diff -u before after; then echo SAME; fi\n",
            none_left(m)
        ),
    )
}

#[test]
fn sighup_tears_the_lab_down_and_exits_129() {
    let m = marker(7);
    let o = hung_up("", &m);
    let out = o.all();
    assert!(o.stdout.contains("code=129"), "{out}");
    assert!(
        o.stdout
            .contains("interrupted by SIGHUP: tearing the lab down"),
        "{out}"
    );
    assert!(!o.stdout.contains("NETNS"), "{out}");
    assert!(o.stdout.contains("NONE_LEFT"), "{out}");
    assert!(o.stdout.contains("SAME"), "{out}");
}

#[test]
fn sighup_leaves_a_kept_lab_up() {
    let m = marker(8);
    let o = hung_up("--keep", &m);
    let out = o.all();
    assert!(o.stdout.contains("code=129"), "{out}");
    assert!(o.stdout.contains("interrupted by SIGHUP"), "{out}");
    assert!(
        o.stdout.contains("NETNS ns1"),
        "the kept lab was removed:\n{out}"
    );
    assert!(o.stdout.contains("down=0"), "{out}");
    assert!(o.stdout.contains("NONE_LEFT"), "{out}");
    assert!(o.stdout.contains("SAME"), "{out}");
}

/// The terminal nslab runs on goes away (`script` holds the other end of
/// its pseudo-terminal, and is killed): nslab gets SIGHUP with nowhere to
/// print, and still tears the lab down. Its stderr goes to a file so that
/// what it says can be read; the script prints to the dead terminal.
#[test]
fn a_closed_terminal_tears_the_lab_down() {
    let d = Dir::new();
    let m = marker(9);
    d.write(
        "tty.rhai",
        &format!(
            "let ns = netns(\"ns1\");\nveth(host(), \"h0\", ns, \"n0\");\n\
             ns.spawn(\"sleep {m}1\");\nhost().exec(\"echo $PPID > nslab.pid\");\n\
             print(\"ready\");\n\
             ns.exec(\"sleep 0.3\");\nprint(\"a line for the dead terminal\");\n\
             ns.exec(\"sleep {m}2\");\n"
        ),
    );
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             script -qec 'exec \"$NSLAB\" run tty.rhai 2> err' /dev/null > out &\nspid=$!\n{WAIT_READY}\
             pid=$(cat nslab.pid)\nkill -9 $spid; wait $spid\n\
             i=0; while [ -d /proc/$pid ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done\n\
             [ -d /proc/$pid ] && echo STILL_RUNNING\n\
             cat err\n{}\
             snap > after\nif diff -u before after; then echo SAME; fi\n",
            none_left(&m)
        ),
    );
    let out = o.all();
    assert!(!o.stdout.contains("STILL_RUNNING"), "{out}");
    assert!(o.stdout.contains("interrupted by SIGHUP"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(o.stdout.contains("NONE_LEFT"), "{out}");
    assert!(o.stdout.contains("SAME"), "{out}");
}

#[test]
fn run_returns_stdout_and_a_failure_is_an_error_with_code_and_stderr() {
    let o = run_isolated(
        "run.rhai",
        "let a = netns(\"a\");\n\
         let out = a.run([\"sh\", \"-c\", \"echo $((6 * 7))\"]);\n\
         if out != \"42\\n\" { throw `run gave '${out}'`; }\n\
         if a.run(\"cat\", #{stdin: \"fed\"}) != \"fed\" { throw \"stdin\"; }\n\
         print(\"ran\");\n\
         a.run(\"echo first >&2; echo 'no such route' >&2; exit 3\");\n",
    );
    assert!(o.stdout.contains("ran"), "{}", o.all());
    assert_report(
        &o,
        "run.rhai:6",
        "exited with code 3: first / no such route",
        "use ns.exec(",
    );
}

#[test]
fn wait_port_returns_once_a_spawned_server_listens_and_fails_at_the_line_on_timeout() {
    // The server binds only after a while: a connect right after spawn
    // would be refused.
    let o = run_isolated(
        "wait.rhai",
        "let a = netns(\"a\");\n\
         a.spawn([\"python3\", \"-c\", \"import socket, time\\ntime.sleep(0.4)\\ns = socket.socket()\\ns.bind(('127.0.0.1', 8123))\\ns.listen()\\ntime.sleep(30)\"]);\n\
         if a.connect(\"127.0.0.1\", 8123) { throw \"listening before it bound\"; }\n\
         a.wait_port(8123);\n\
         if !a.connect(\"127.0.0.1\", 8123) { throw \"wait_port returned before the server listened\"; }\n\
         a.wait_port(#{port: 8123, addr: \"127.0.0.1\", timeout_ms: 100});\n\
         print(\"listening\");\n\
         a.wait_port(#{port: 8124, proto: \"udp\", timeout_ms: 200});\n",
    );
    assert!(o.stdout.contains("listening"), "{}", o.all());
    assert_report(
        &o,
        "wait.rhai:8",
        "nothing listens on udp port 8124 in namespace 'a' after 200 ms",
        "check that the server started",
    );
}

#[test]
fn sleep_is_documented_and_sigterm_ends_it_at_once() {
    let d = Dir::new();
    d.write("h.rhai", "help(\"sleep\");\n");
    let o = nslab(&["run", "--isolated", "h.rhai"], d.path());
    assert!(
        o.all().contains("sleep(seconds)") && !o.all().contains("no function"),
        "{}",
        o.all()
    );
    d.write("s.rhai", "print(\"sleeping\");\nsleep(600);\n");
    let o = sh(
        &d,
        "\"$NSLAB\" run --isolated s.rhai > out 2>&1 &\npid=$!\n\
         i=0; until grep -q sleeping out || [ $i -gt 300 ]; do sleep 0.02; i=$((i+1)); done\n\
         kill -TERM $pid\ni=0; while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done\n\
         kill -0 $pid 2>/dev/null && { echo STILL_SLEEPING; kill -9 $pid; }\nwait $pid; echo code=$?\n",
    );
    assert!(!o.stdout.contains("STILL_SLEEPING"), "{}", o.all());
    assert!(o.stdout.contains("code=143"), "{}", o.all());
}
