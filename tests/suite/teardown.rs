//! Leave no trace: the host's state is compared before and after nslab, from
//! outside nslab, in a private host (own user, mount and network namespaces)
//! where nslab runs in plain host mode.

use crate::common::*;

/// Everything a lab can change on the host: a bridge, a veth with one end
/// on the host, a pre-existing link changed (up, mtu, master, address), an
/// address on lo, a route, forwarding and another sysctl, masquerading and
/// firewall rules.
const TOUCH_HOST: &str = r#"
let h = host();
let ns = netns("ns1");
let br = bridge(h, "br9");
let e = veth(h, "h0", ns, "n0");
br.attach(e[0]);
br.addr("10.60.0.1/24");
e[1].addr("10.60.0.2/24");
let d = h.link("dummy0");
d.mtu(1400);
br.attach(d);
h.addr("dummy0", "10.61.0.1/24");
h.link("dummy1").down();
h.addr("lo", "10.62.0.1/32");
h.route("10.77.0.0/16", #{dev: "dummy0", metric: 7});
ns.route("default", "10.60.0.1");
h.forwarding(true);
h.sysctl("net.ipv4.conf.all.rp_filter", "2");
masquerade(h, "10.60.0.0/24", "dummy0");
h.accept(#{chain: "forward", iif: "br9", proto: "udp", dport: 53});
h.drop(#{chain: "input", saddr: "10.60.0.0/24", proto: "tcp", dport: 9999});
h.policy("output", "accept");
if !h.exec("nft list tables").stdout.contains("nslab-") { throw "no nslab table"; }
if !ns.ping("10.62.0.1").ok { throw "no route to the host"; }
let web = ns.listen(8080);
if !h.connect("10.60.0.2", 8080) { throw "listener"; }
print("built");
"#;

// The pre-existing pair starts up: a link that has once been up keeps the
// kernel's default qdisc (noqueue instead of noop) even when set down again,
// a trace no netlink call can undo.
// The host's own firewall (a table nslab must leave byte for byte as it was).
const PRE: &str = "ip link add dummy0 type veth peer name dummy1\nip link set dummy0 up\nip link set dummy1 up\n\
nft add table inet hostfw\n\
nft 'add chain inet hostfw input { type filter hook input priority 0; policy accept; }'\n\
nft add rule inet hostfw input tcp dport 22 counter accept\n\
snap > before\n";
const POST: &str = "no_trace\nip -o link show dummy0 >/dev/null && echo DUMMY_KEPT\n";

#[test]
fn a_finished_script_leaves_the_host_as_it_was() {
    let o = in_private_host(
        &[("touch.rhai", TOUCH_HOST)],
        &format!("{PRE}\"$NSLAB\" run touch.rhai; echo code=$?\n{POST}"),
    );
    o.says(&["built", "code=0"]);
    assert_no_trace(&o, "SAME");
    assert!(
        o.stdout.contains("DUMMY_KEPT"),
        "a link nslab did not make was deleted:\n{}",
        o.all()
    );
}

#[test]
fn a_script_failing_halfway_leaves_no_half_built_lab() {
    let o = in_private_host(
        &[(
            "fail.rhai",
            &format!("{TOUCH_HOST}\nhost().route(\"default\", \"10.200.0.1\");\n"),
        )],
        &format!("{PRE}\"$NSLAB\" run fail.rhai; echo code=$?\n{POST}"),
    );
    o.says(&["built", "code=1"]);
    assert!(
        o.stderr.contains("not on any connected subnet"),
        "{}",
        o.stderr
    );
    assert_no_trace(&o, "SAME");
}

/// Starts the script in the background, waits for "ready", sends `sig`.
fn interrupted(sig: &str, tail: &str) -> Out {
    let d = Dir::new();
    d.write(
        "wait.rhai",
        &format!("{TOUCH_HOST}\nprint(\"ready\");\n{tail}\n"),
    );
    private_host(
        &d,
        &format!(
            "{PRE}\"$NSLAB\" run wait.rhai > out 2> err &\npid=$!\n\
             wait_until 'grep -q ready out' 6\n\
             kill -{sig} $pid\nwait $pid; echo code=$?\ncat err\n{POST}"
        ),
    )
}

#[test]
fn ctrl_c_during_a_command_tears_down_and_exits_130() {
    let o = interrupted("INT", "host().exec(\"sleep 30\");");
    o.says(&["code=130", "interrupted by SIGINT"]);
    assert_no_trace(&o, "SAME");
}

#[test]
fn sigterm_during_a_busy_loop_tears_down_and_exits_143() {
    let o = interrupted("TERM", "let i = 0; loop { i += 1; }");
    o.says(&["code=143"]);
    assert_no_trace(&o, "SAME");
}

#[test]
fn ctrl_c_during_a_ping_tears_down() {
    let o = interrupted(
        "INT",
        "host().ping(\"10.60.0.99\", #{count: 1000, interval_ms: 50});",
    );
    o.says(&["code=130"]);
    assert_no_trace(&o, "SAME");
}

#[test]
fn kept_lab_is_listed_and_taken_down_later() {
    let o = in_private_host(
        &[("kept.rhai", TOUCH_HOST)],
        &format!(
            "{PRE}\"$NSLAB\" run --keep kept.rhai; echo code=$?\n\
             ip netns list; ip -o link show br9 && echo BR_UP\n\
             \"$NSLAB\" ls\n\
             \"$NSLAB\" run kept.rhai; echo again=$?\n\
             \"$NSLAB\" down kept; echo down=$?\n\"$NSLAB\" ls\n{POST}"
        ),
    );
    o.says(&["code=0", "BR_UP"]);
    o.because("kept namespace not visible to ip netns")
        .says(&["ns1"]);
    o.because("ls").says(&["kept ", "kept.rhai"]);
    o.says(&["again=1"]);
    o.all_says(&["a lab named 'kept' already exists"]);
    o.says(&["down=0", "no labs"]);
    assert_no_trace(&o, "SAME");
}

#[test]
fn down_after_kill_9_finishes_the_teardown_from_the_journal() {
    let o = in_private_host(
        &[(
            "killed.rhai",
            &format!("{TOUCH_HOST}\nprint(\"ready\");\nhost().exec(\"sleep 30\");\n"),
        )],
        &format!(
            "{PRE}\"$NSLAB\" run killed.rhai > out 2>&1 &\npid=$!\n\
             wait_until 'grep -q ready out' 6\n\
             kill -9 $pid; wait $pid\n\
             \"$NSLAB\" ls\n\"$NSLAB\" down --all; echo down=$?\n{POST}"
        ),
    );
    o.because("ls does not show the dead lab")
        .says(&["which is gone"]);
    o.says(&["down=0"]);
    assert_no_trace(&o, "SAME");
    o.says(&["DUMMY_KEPT"]);
}

#[test]
fn a_namespace_nslab_did_not_make_is_never_deleted() {
    let o = in_private_host(
        &[("clash.rhai", "netns(\"mine\");\nnetns(\"theirs\");\n")],
        &format!(
            "ip netns add theirs\n{PRE}\"$NSLAB\" run clash.rhai; echo code=$?\n{POST}ip netns list\n"
        ),
    );
    o.says(&["code=1"]);
    o.all_says(&["namespace 'theirs' already exists"]);
    assert_no_trace(&o, "SAME");
    o.says(&["theirs"]);
}

#[test]
fn missing_privilege_is_a_clear_error() {
    // A user namespace of its own without the network's: root in name only.
    let o = in_private_host(
        &[("perm.rhai", "let h = host();\n\nbridge(h, \"br0\");\n")],
        &format!(
            "{PRE}unshare --user --map-root-user \"$NSLAB\" run perm.rhai; echo code=$?\n{POST}"
        ),
    );
    let err = o.stderr.replace("\n  │ ", " ");
    let err = words(&err);
    o.says(&["code=1"]);
    assert!(
        err.contains("permission denied while trying to create a bridge"),
        "{}",
        o.all()
    );
    assert!(
        err.contains("perm.rhai:3:1") && err.contains("help: run nslab as root"),
        "{}",
        o.all()
    );
    assert_no_trace(&o, "SAME");
}

#[test]
fn spawned_processes_are_stopped_at_teardown_and_their_output_kept() {
    let d = Dir::new();
    // A marker unique to this test, to find its processes among all others.
    let marker = marker();
    d.write(
        "spawn.rhai",
        &format!(
            "let ns = netns(\"ns1\");\n\
             let p = ns.spawn(\"echo started; sleep {marker}; echo never\");\n\
             let q = ns.spawn([\"sleep\", \"{marker}\"]);\n\
             ns.exec(\"sleep 0.2\");\n\
             if !p.running || !q.running {{ throw \"not running\"; }}\n\
             if p.stdout != \"started\\n\" {{ throw `output: ${{p.stdout}}`; }}\n\
             print(`pids ${{p.pid}} ${{q.pid}}`);\n"
        ),
    );
    let o = private_host(
        &d,
        &format!(
            "{PRE}\"$NSLAB\" run spawn.rhai; echo code=$?\npgrep -a -x sleep | grep -F ' {marker}' || echo NONE_LEFT\n{POST}"
        ),
    );
    o.says(&["code=0", "pids "]);
    o.because("a spawned process survived").says(&["NONE_LEFT"]);
    assert_no_trace(&o, "SAME");
}
