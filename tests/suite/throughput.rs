//! a.throughput(b): iperf3's measurement with nslab's own sockets. The
//! bands are loose: they show the shaping is seen, not how fast nslab is.

use crate::common::*;

#[test]
fn throughput_sees_the_shaped_rate_and_more_without_it() {
    let o = run_ok(
        "tp.rhai",
        &format!(
            r#"{PAIR}
let fast = a.throughput(b, #{{secs: 1}});
print(`fast ${{fast.bits_per_s}}`);
c[0].shape(#{{rate: "10mbit"}});
let slow = a.throughput(b, #{{secs: 1, proto: "tcp", port: 6000, ip: "10.61.0.2"}});
print(`slow ${{slow.bits_per_s}}`);
print(slow.output);
if slow.bits_per_s > 11000000 || slow.bits_per_s < 1000000 {{ throw `shaped to 10mbit, measured ${{slow.bits_per_s}}`; }}
if fast.bits_per_s <= slow.bits_per_s {{ throw `unshaped ${{fast.bits_per_s}} <= shaped ${{slow.bits_per_s}}`; }}
"#
        ),
    );
    o.says(&["tcp a -> b (10.61.0.2:6000): ", " Mbit/s received"]);
}

#[test]
fn udp_throughput_counts_what_was_lost() {
    if !has_netem() {
        eprintln!("skipped: no netem in this kernel");
        return;
    }
    let o = run_ok(
        "tpu.rhai",
        &format!(
            r#"{PAIR}
c[0].shape(#{{loss_pct: 30}});
let r = a.throughput(b, #{{secs: 1, proto: "udp", rate: "5mbit"}});
print(r.output);
if r.loss_pct < 5.0 || r.received >= r.sent || r.received == 0 {{ throw `30% loss set, measured ${{r.loss_pct}}% (${{r.received}}/${{r.sent}})`; }}
if r.bits_per_s > 6000000 {{ throw `paced to 5mbit, received ${{r.bits_per_s}}`; }}
"#
        ),
    );
    o.says(&["udp a -> b (10.61.0.2:5201): ", "datagrams lost ("]);
}

#[test]
fn throughput_without_a_path_is_an_error_that_says_why() {
    fails_at(
        "tpn.rhai",
        &format!(
            r#"{PAIR}
let far = netns("far");
let d = veth(b, "vf", far, "vb2");
d[1].addr("10.62.0.2/24");
a.throughput(far, #{{secs: 1}});
"#
        ),
        "tpn.rhai:10",
        "cannot measure throughput: a cannot reach 10.62.0.2 on tcp port 5201",
        "route",
    );
    fails_at(
        "tpi.rhai",
        &format!("{PAIR}a.throughput(b, #{{ip: \"10.61.0.9\"}});\n"),
        "tpi.rhai:6",
        "ip 10.61.0.9 is not an address of namespace 'b'",
        "its addresses are 10.61.0.2 (vb)",
    );
}

/// The REPL shows a throughput result as its line, not as a map.
#[test]
fn the_repl_shows_a_measurement_as_one_line() {
    let d = Dir::new();
    let o = repl_piped(
        &d,
        &format!("{PAIR}a.throughput(b, #{{secs: 0.3, proto: \"udp\", rate: \"1mbit\"}})\n"),
    );
    o.all_says(&["udp a -> b (10.61.0.2:5201): ", "datagrams lost ("]);
    o.all_lacks(&["bits_per_s:", "Error"]);
}

/// In host mode (a private host), a measurement, a failed one included,
/// leaves nothing behind.
#[test]
fn a_measurement_leaves_no_trace() {
    let d = Dir::with(&[(
        "t.rhai",
        &format!(
            "{PAIR}let r = a.throughput(b, #{{secs: 0.3, proto: \"udp\"}});\nprint(`got ${{r.received}}`);\nb.drop(#{{proto: \"tcp\", dport: 5201}});\na.throughput(b, #{{secs: 0.3}});\n"
        ),
    )]);
    let o = leaves_no_trace(&d, "\"$NSLAB\" run t.rhai; echo code=$?");
    o.says(&["got ", "code=1"]);
    o.all_says(&["cannot measure throughput: a cannot reach 10.61.0.2 on tcp port 5201"]);
}

#[test]
fn sigterm_ends_a_measurement_at_once() {
    let d = Dir::new();
    d.write(
        "s.rhai",
        &format!(
            "{PAIR}print(\"ready\");\na.throughput(b, #{{secs: 60}});\nprint(\"measured\");\n"
        ),
    );
    let mut lab = start_ready(&d, &["run", "--isolated", "s.rhai"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    lab.signal(libc::SIGTERM);
    let status = lab.wait_exit();
    let rest: Vec<String> = lab.lines.by_ref().map_while(Result::ok).collect();
    let err = lab.stderr();
    let status = status.unwrap_or_else(|| panic!("SIGTERM did not stop the measurement:\n{err}"));
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(!rest.iter().any(|l| l.contains("measured")), "{rest:?}");
}
