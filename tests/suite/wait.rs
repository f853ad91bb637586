//! wait_until(|| …) and ns.wait_route(…): waits for a lab to converge.

use crate::common::*;
use std::time::Duration;

#[test]
fn wait_until_returns_once_the_closure_is_true() {
    let o = run_ok(
        "w.rhai",
        &format!(
            r#"{PAIR}
let n = 0;
wait_until(|| {{ n += 1; n >= 3 }}, #{{every_ms: 10}});
print(`calls ${{n}}`);
// Something the kernel does later: an address added by a process.
b.spawn("sleep 0.3; ip addr add 10.61.0.9/24 dev vb");
wait_until(|| b.addrs().some(|x| x.addr == "10.61.0.9/24"), #{{timeout_ms: 10000, every_ms: 50}});
print("address seen");
"#
        ),
    );
    o.says(&["calls 3", "address seen"]);
}

#[test]
fn wait_until_past_its_timeout_says_what_the_closure_returned() {
    let o = fails_at(
        "wt.rhai",
        "let tries = 0;\nwait_until(|| { tries += 1; `still ${tries}` }, #{timeout_ms: 200, every_ms: 20});\n",
        "wt.rhai:2",
        "wait_until: not true after 200 ms",
        "the closure must return true once the lab is ready",
    );
    let said = o.report_words();
    assert!(
        said.contains("the closure returned \"still") && said.contains("(a string, not true) last"),
        "{said}"
    );
    fails_at(
        "wf.rhai",
        "wait_until(|| false, #{timeout_ms: 100, every: 5});\n",
        "wf.rhai:1",
        "unknown wait_until option 'every'",
        "timeout_ms and every_ms",
    );
}

#[test]
fn an_error_in_the_closure_stops_the_wait_at_its_line() {
    fails_at(
        "we.rhai",
        "let a = netns(\"a\");\nwait_until(|| {\n    a.ping(\"10.0.0.300\").ok\n}, #{timeout_ms: 5000});\n",
        "we.rhai:3",
        "'10.0.0.300' is not a valid IP address",
        "IPv4 address",
    );
}

#[test]
fn sigterm_ends_a_wait_at_once() {
    let d = Dir::new();
    d.write(
        "s.rhai",
        "let a = netns(\"a\");\nprint(\"ready\");\nwait_until(|| false, #{timeout_ms: 600000, every_ms: 60000});\nprint(\"wait returned\");\n",
    );
    let mut lab = start_ready(&d, &["run", "--isolated", "s.rhai"]);
    std::thread::sleep(Duration::from_millis(300));
    lab.signal(libc::SIGTERM);
    let status = lab.wait_exit();
    let rest: Vec<String> = lab.lines.by_ref().map_while(Result::ok).collect();
    let err = lab.stderr();
    let status = status.unwrap_or_else(|| panic!("SIGTERM did not stop the wait:\n{err}"));
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(
        !rest.iter().any(|l| l.contains("wait returned")),
        "{rest:?}"
    );
}

#[test]
fn wait_route_returns_once_the_route_is_in_the_table() {
    let o = run_ok(
        "wr.rhai",
        &format!(
            r#"{PAIR}
// As a routing daemon would: a route that comes later, with its protocol.
b.spawn("sleep 0.3; ip route add 10.255.0.3/32 via 10.61.0.1 proto ospf");
b.wait_route("10.255.0.3/32", #{{protocol: "ospf", timeout_ms: 10000}});
print("ospf route in");
a.route("10.70.0.0/16", "10.61.0.2");
a.wait_route("10.70.0.0/16", #{{protocol: 4}});
a.wait_route("10.61.0.0/24", #{{protocol: "kernel"}});
print("static and kernel routes in");
"#
        ),
    );
    o.says(&["ospf route in", "static and kernel routes in"]);
}

#[test]
fn wait_route_past_its_timeout_says_what_the_table_has() {
    let lab = format!("{PAIR}a.route(\"10.70.0.0/16\", \"10.61.0.2\");\n");
    // Lines 1-5 PAIR, 6 the route, 7 the wait.
    fails_at(
        "wp.rhai",
        &format!("{lab}a.wait_route(\"10.70.0.0/16\", #{{protocol: \"bgp\", timeout_ms: 200}});\n"),
        "wp.rhai:7",
        "no route 10.70.0.0/16 from bgp in namespace 'a' after 200 ms: it has 10.70.0.0/16 via 10.61.0.2 dev va proto static",
        "a.routes() lists the table",
    );
    fails_at(
        "wn.rhai",
        &format!("{lab}a.wait_route(\"10.70.1.1\", #{{timeout_ms: 200}});\n"),
        "wn.rhai:7",
        "no route 10.70.1.1/32 in namespace 'a' after 200 ms: the nearest route that covers it is 10.70.0.0/16 via 10.61.0.2 dev va proto static",
        "or give it longer with #{timeout_ms: 60000}",
    );
    fails_at(
        "wz.rhai",
        &format!("{lab}a.wait_route(\"10.99.0.0/16\", #{{timeout_ms: 100}});\n"),
        "wz.rhai:7",
        "no route 10.99.0.0/16 in namespace 'a' after 100 ms: no route covers it",
        "check that what installs it runs in 'a'",
    );
    fails_at(
        "wu.rhai",
        &format!("{lab}a.wait_route(\"10.99.0.0/16\", #{{protocol: \"osfp\"}});\n"),
        "wu.rhai:7",
        "unknown route protocol 'osfp'",
        "ospf (188)",
    );
}

/// ns.wait_socket: returns once a program listens on a unix socket in the
/// node's private directory; past its timeout, says what is there; a
/// process that exits meanwhile is an error with its last words.
#[test]
fn wait_socket_returns_once_a_program_listens_and_says_why_not() {
    let o = run_ok(
        "ws.rhai",
        r#"let a = netns("a");
a.private_dirs(["/run/ws"]);
let p = a.spawn(["python3", "-c", "import socket, time\ntime.sleep(0.3)\ns = socket.socket(socket.AF_UNIX)\ns.bind('/run/ws/d.sock')\ns.listen()\ntime.sleep(60)"]);
a.wait_socket("/run/ws/d.sock", #{process: p, timeout_ms: 20000});
print(`listening: ${a.exists("/run/ws/d.sock")}, ${a.exists("/run/ws/other")}`);
a.chown("/run/ws", "nobody");
print(a.run(["stat", "-c", "%U", "/run/ws", "/run/ws/d.sock"]));
"#,
    );
    o.says(&["listening: true, false", "nobody\nnobody"]);
    fails_at(
        "wst.rhai",
        "let a = netns(\"a\");\na.private_dirs([\"/run/ws\"]);\nlet p = a.spawn(\"sleep 30\");\na.wait_socket(\"/run/ws/d.sock\", #{timeout_ms: 200, process: p});\n",
        "wst.rhai:4",
        "nothing listens on /run/ws/d.sock in namespace 'a' after 200 ms: there is no such file",
        "check the path the program opens",
    );
    fails_at(
        "wse.rhai",
        "let a = netns(\"a\");\nlet p = a.spawn(\"echo cannot bind >&2; exit 3\");\na.wait_socket(\"/run/nothing.sock\", #{process: p, timeout_ms: 20000});\n",
        "wse.rhai:3",
        "exited with code 3 before anything listened on /run/nothing.sock; it printed last: cannot bind",
        "read all it printed",
    );
    fails_at(
        "wsc.rhai",
        "let a = netns(\"a\");\na.private_dirs([\"/run/ws\"]);\na.chown(\"/etc\", \"nobody\");\n",
        "wsc.rhai:3",
        "/etc is not in a private directory of namespace 'a'",
        "write inside its private directories (/run/ws)",
    );
    fails_at(
        "wsu.rhai",
        "let a = netns(\"a\");\na.private_dirs([\"/run/ws\"]);\na.chown(\"/run/ws\", \"no-such-user-here:frr\");\n",
        "wsu.rhai:3",
        "no user 'no-such-user-here' on this machine",
        "name a user (and group) /etc/passwd and /etc/group have",
    );
    fails_at(
        "wso.rhai",
        "let a = netns(\"a\");\na.wait_socket(\"/run/x.sock\", #{timeout: 5});\n",
        "wso.rhai:2",
        "unknown wait_socket option 'timeout'",
        "timeout_ms and process",
    );
}
