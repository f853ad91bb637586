//! Hostile input: calls that would allocate without end, loops that never
//! end, and long waits are stopped with a report at the script line (or by
//! Ctrl-C/SIGTERM), never by the OOM killer or a hang. Runs that used to
//! take minutes are guarded by `timeout`, far above what they take now;
//! nothing asserts how fast they are.

use crate::common::*;

use std::process::Command;
use std::time::Duration;

/// `nslab ARGS…` in `d`, killed after `secs` (exit 137 then).
fn guarded(d: &Dir, secs: u32, args: &[&str]) -> Out {
    out(Command::new("timeout")
        .args(["-s", "KILL", &secs.to_string(), bin()])
        .args(args)
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run timeout (coreutils)"))
}

fn run_guarded(secs: u32, name: &str, text: &str, flags: &[&str]) -> Out {
    let d = Dir::new();
    d.write(name, text);
    let mut args = vec!["run", "--isolated"];
    args.extend_from_slice(flags);
    args.push(name);
    guarded(&d, secs, &args)
}

#[test]
fn help_with_a_huge_string_answers_at_once() {
    // The nearest-name search compared 10 MB with every name (100 s).
    let o = run_guarded(
        60,
        "h.rhai",
        "let s = \"y\";\ns.pad(10000000, 'y');\nhelp(s);\n",
        &[],
    );
    assert_report(
        &o,
        "h.rhai:3:1",
        "there is no function 'yyyy",
        "help() lists",
    );
    assert!(
        o.stderr.len() < 10_000,
        "the name is not clipped:\n{}",
        &o.stderr[..2000]
    );
}

#[test]
fn huge_subnet_counts_are_refused_with_the_bound() {
    let o = run_guarded(
        60,
        "s.rhai",
        "let x = 1;\nlet s = subnet_split(\"::/0\", 128, 9223372036854775807);\n",
        &[],
    );
    assert_report(
        &o,
        "s.rhai:2:",
        "at most 65536 subnets per call; asked for 9223372036854775807",
        "a lab uses far fewer",
    );
    // 10^7 addresses were refused as "Length of string too large".
    let o = run_guarded(
        60,
        "h.rhai",
        "let ips = subnet_hosts(\"10.0.0.0/8\", 10000000);\n",
        &[],
    );
    assert_report(
        &o,
        "h.rhai:1:",
        "at most 65536 addresses per call; asked for 10000000",
        "a lab uses far fewer",
    );
    assert!(!o.stderr.contains("string"), "{}", o.stderr);
}

#[test]
fn pushes_in_a_loop_take_time_in_proportion() {
    // rhai's size limits recounted the whole array after every push:
    // 300k pushes took minutes.
    let o = run_guarded(
        120,
        "p.rhai",
        "let a = [];\nfor i in 0..300000 { a.push(i); }\nprint(`len ${a.len()}`);\n",
        &[],
    );
    o.assert_ok();
    o.says(&["len 300000"]);
}

#[test]
fn max_ops_stops_an_endless_loop() {
    let o = run_guarded(
        60,
        "o.rhai",
        "let x = 0;\nloop { x += 1; }\n",
        &["--max-ops", "100000"],
    );
    assert_report(
        &o,
        "o.rhai:2:",
        "the script ran more operations than --max-ops allows",
        "really needs more",
    );
}

#[test]
fn data_past_max_mem_is_an_error_at_the_line_that_grows_it() {
    // A string that doubles: in rhai's terms "Length of string too large"
    // with a limit, the OOM killer without one.
    let o = run_guarded(
        60,
        "m.rhai",
        "let s = \"x\";\nloop { s += s; }\n",
        &["--max-mem", "32"],
    );
    assert_report(
        &o,
        "m.rhai:2:",
        "the script holds more than 32 MiB of data",
        "A lab needs far less",
    );
    // One call that would allocate it all at once is refused before it does.
    let o = run_guarded(
        60,
        "pad.rhai",
        "let a = [];\na.pad(9223372036854775807, 0);\n",
        &[],
    );
    assert_report(
        &o,
        "pad.rhai:2:",
        "an array of 9223372036854775807 elements would take about",
        "ask for less",
    );
}

#[test]
fn sigterm_stops_a_long_connect() {
    // A TCP connect to a port whose SYNs are dropped waits for its whole
    // timeout (here a minute); SIGTERM must end it and tear the lab down.
    let d = Dir::new();
    d.write(
        "c.rhai",
        &format!(
            "{PAIR}b.policy(\"input\", \"drop\");\nprint(\"ready\");\n\
             let ok = a.connect(\"10.61.0.2\", #{{port: 9, timeout_ms: 60000}});\n\
             print(\"connect returned\");\n"
        ),
    );
    let mut lab = start_ready(&d, &["run", "--isolated", "c.rhai"]);
    // Let the connect begin (if the signal came first, it would be stopped
    // before the call, which passes too).
    std::thread::sleep(Duration::from_millis(300));
    lab.signal(libc::SIGTERM);
    let status = lab.wait_exit();
    let rest: Vec<String> = lab.lines.by_ref().map_while(Result::ok).collect();
    let err = lab.stderr();
    let status = status.unwrap_or_else(|| panic!("SIGTERM did not stop the connect:\n{err}"));
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(
        !rest.iter().any(|l| l.contains("connect returned")),
        "{rest:?}"
    );
}
