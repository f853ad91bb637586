//! Nothing a lab starts outlives it: every process started with spawn, exec
//! or shell, and whatever those start (in the background, in a session of
//! their own), ends with the lab, even when nslab is killed with SIGKILL.
//! `pgrep` is the witness; each test's sleeps carry a number of their own
//! (`sleep PID.N`) so that it finds only them.

use crate::common::*;

/// A shell command listing the `sleep` processes whose argument starts
/// with `m` (only processes called sleep: the test's own shell has the
/// marker in its command line too).
fn sleeps(m: &str) -> String {
    format!("pgrep -a -x sleep | grep -F \" {m}\"")
}

/// Prints NONE_LEFT once no `sleep` with an argument starting with `m`
/// is left (asks for at most 5 s: the kernel kills a PID namespace's
/// processes asynchronously), else lists them.
fn none_left(m: &str) -> String {
    let s = sleeps(m);
    format!("wait_while '{s}' 5\n{s} || echo NONE_LEFT\n")
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

/// Waits (at most 6 s) for "ready" in `out`.
const WAIT_READY: &str = "wait_until 'grep -q ready out' 6\n";

/// Waits (at most 6 s) for the five sleeps of `leaky(m)`, then says how
/// many run.
fn five_running(m: &str) -> String {
    let s = sleeps(m);
    format!("wait_until '[ $({s} | wc -l) -ge 5 ]' 6\n{s} | wc -l | sed 's/^/running=/'\n")
}

#[test]
fn host_mode_kill_9_then_down_ends_every_process() {
    let d = Dir::new();
    let m = marker();
    d.write(
        "killed.rhai",
        &leaky(&m, &format!("host().exec(\"sleep {m}5\");")),
    );
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             \"$NSLAB\" run killed.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             {}\
             grep -q kill_cgroup /run/nslab/killed.json && echo USED_A_CGROUP\n\
             kill -9 $pid; wait $pid\n\
             \"$NSLAB\" down --all; echo down=$?\n{}\
             find /sys/fs/cgroup -type d -name \"nslab-killed-$pid\" 2>/dev/null | sed 's/^/CGROUP_LEFT /'\n\
             no_trace\n",
            five_running(&m),
            none_left(&m)
        ),
    );
    o.says(&["running=5", "down=0"]);
    o.because("a process survived kill -9 and down")
        .says(&["NONE_LEFT"]);
    o.lacks(&["CGROUP_LEFT"]);
    assert_no_trace(&o, "SAME");
}

/// Where no cgroup can be made (here the cgroup mounts are hidden under a
/// tmpfs), host mode falls back to a PID namespace: nothing survives the
/// kill -9 even before `nslab down`.
#[test]
fn host_mode_without_cgroups_falls_back_to_a_pid_namespace() {
    let d = Dir::new();
    let m = marker();
    d.write(
        "killed.rhai",
        &leaky(&m, &format!("host().exec(\"sleep {m}5\");")),
    );
    let o = private_host(
        &d,
        &format!(
            "mount -t tmpfs tmpfs /sys/fs/cgroup\nsnap > before\n\
             \"$NSLAB\" run killed.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             {}\
             grep -q kill_cgroup /run/nslab/killed.json && echo USED_A_CGROUP\n\
             kill -9 $pid; wait $pid\n{}\
             \"$NSLAB\" down --all; echo down=$?\n\
             no_trace\n",
            five_running(&m),
            none_left(&m)
        ),
    );
    o.says(&["running=5"]);
    o.lacks(&["USED_A_CGROUP"]);
    o.because("a process survived nslab's kill -9")
        .says(&["NONE_LEFT"]);
    o.says(&["down=0"]);
    assert_no_trace(&o, "SAME");
}

#[test]
fn host_mode_normal_end_stops_background_and_setsid_processes() {
    let d = Dir::new();
    let m = marker();
    d.write("ends.rhai", &leaky(&m, ""));
    let o = private_host(
        &d,
        &format!(
            "snap > before\n\
             timeout -k 2 20 \"$NSLAB\" run ends.rhai; echo code=$?\n{}\
             no_trace\n",
            none_left(&m)
        ),
    );
    o.says(&["ready", "code=0"]);
    o.because("a process outlived the lab").says(&["NONE_LEFT"]);
    assert_no_trace(&o, "SAME");
}

#[test]
fn isolated_mode_kill_9_ends_every_process() {
    let d = Dir::new();
    let m = marker();
    d.write(
        "killed.rhai",
        &leaky(&m, &format!("host().exec(\"sleep {m}5\");")),
    );
    let o = host_sh(
        &d,
        &format!(
            "\"$NSLAB\" run --isolated killed.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             {}\
             kill -9 $pid; wait $pid\n{}",
            five_running(&m),
            none_left(&m)
        ),
    );
    o.says(&["running=5"]);
    o.because("a process survived nslab's kill -9")
        .says(&["NONE_LEFT"]);
}

#[test]
fn exec_returns_when_its_command_exits_and_leaves_nothing() {
    let d = Dir::new();
    let m = marker();
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
    let o = host_sh(
        &d,
        &format!(
            "timeout -k 2 20 \"$NSLAB\" run --isolated bg.rhai; echo code=$?\n{}",
            none_left(&m)
        ),
    );
    o.says(&["returned", "code=0", "NONE_LEFT"]);
}

#[test]
fn sigterm_stops_a_running_exec_at_once() {
    let d = Dir::new();
    let m = marker();
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
    let o = host_sh(
        &d,
        &format!(
            "\"$NSLAB\" run --isolated term.rhai > out 2>&1 &\npid=$!\n{WAIT_READY}\
             sleep 0.1; kill -TERM $pid\n\
             wait_while 'kill -0 $pid' 10\n\
             kill -0 $pid 2>/dev/null && {{ echo STUCK; kill -9 $pid; }}\n\
             wait $pid; echo code=$?\ncat out\n{}",
            none_left(&m)
        ),
    );
    o.because("SIGTERM did not stop exec").lacks(&["STUCK"]);
    o.says(&["code=143"]);
    o.lacks(&["not stopped"]);
    o.says(&["NONE_LEFT"]);
}

#[test]
fn exec_past_its_timeout_is_an_error_at_the_line() {
    let m = marker();
    fails_at(
        "slow.rhai",
        &format!(
            "let ns = netns(\"ns1\");\n\
             print(ns.exec(\"sleep 0\", #{{timeout_ms: 5000}}).code);\n\
             ns.exec(\"sleep {m}\", #{{timeout_ms: 100}});\n"
        ),
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
        fails_at(
            "opts.rhai",
            &format!("let ns = netns(\"ns1\");\n\nns.exec(\"true\", {opts});\n"),
            "opts.rhai:3:",
            message,
            help,
        );
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
             kill -HUP $pid; wait $pid; echo code=$?\ncat out\n\
             ip netns list | sed 's/^/NETNS /'\n\
             {} >/dev/null && echo SPAWNED_RUNS\n\
             \"$NSLAB\" down hup; echo down=$?\n{}\
             no_trace\n",
            sleeps(&format!("{m}1")),
            none_left(m)
        ),
    )
}

#[test]
fn sighup_tears_the_lab_down_and_exits_129() {
    let m = marker();
    let o = hung_up("", &m);
    o.says(&["code=129", "interrupted by SIGHUP: tearing the lab down"]);
    o.lacks(&["NETNS", "SPAWNED_RUNS"]);
    o.says(&["NONE_LEFT"]);
    assert_no_trace(&o, "SAME");
}

#[test]
fn sighup_leaves_a_kept_lab_up() {
    let m = marker();
    let o = hung_up("--keep", &m);
    o.says(&["code=129", "interrupted by SIGHUP"]);
    o.because("the kept lab was removed").says(&["NETNS ns1"]);
    o.because("a kept lab's spawned program ended with nslab")
        .says(&["SPAWNED_RUNS"]);
    o.says(&["down=0", "NONE_LEFT"]);
    assert_no_trace(&o, "SAME");
}

/// The terminal nslab runs on goes away (`script` holds the other end of
/// its pseudo-terminal, and is killed): nslab gets SIGHUP with nowhere to
/// print, and still tears the lab down. Its stderr goes to a file so that
/// what it says can be read; the script prints to the dead terminal.
#[test]
fn a_closed_terminal_tears_the_lab_down() {
    let d = Dir::new();
    let m = marker();
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
             wait_while '[ -d /proc/$pid ]' 10\n\
             [ -d /proc/$pid ] && echo STILL_RUNNING\n\
             cat err\n{}\
             no_trace\n",
            none_left(&m)
        ),
    );
    o.lacks(&["STILL_RUNNING"]);
    o.says(&["interrupted by SIGHUP"]);
    o.all_lacks(&["panicked"]);
    o.says(&["NONE_LEFT"]);
    assert_no_trace(&o, "SAME");
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
    o.says(&["ran"]);
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
    o.says(&["listening"]);
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
    o.all_says(&["sleep(seconds)"]);
    o.all_lacks(&["no function"]);
    d.write("s.rhai", "print(\"sleeping\");\nsleep(600);\n");
    let o = host_sh(
        &d,
        "\"$NSLAB\" run --isolated s.rhai > out 2>&1 &\npid=$!\n\
         wait_until 'grep -q sleeping out' 6\n\
         kill -TERM $pid\nwait_while 'kill -0 $pid' 2\n\
         kill -0 $pid 2>/dev/null && { echo STILL_SLEEPING; kill -9 $pid; }\nwait $pid; echo code=$?\n",
    );
    o.lacks(&["STILL_SLEEPING"]);
    o.says(&["code=143"]);
}
