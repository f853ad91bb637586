//! Each call of the script API, run for real in isolated mode. Scripts check
//! the kernel's answer themselves (and `throw` when it is wrong); where it
//! matters, `ip` run inside the namespace is the independent witness.

use crate::common::*;

#[test]
fn netns_host_name_and_list() {
    run_isolated(
        "ns.rhai",
        r#"
        let a = netns("alpha");
        let b = netns("beta");
        if a.name != "alpha" { throw "name"; }
        if host().name != "host" { throw "host name"; }
        let l = netns_list();
        if l != ["alpha", "beta"] { throw `list: ${l}`; }
        // lo is up in a new namespace: 127.0.0.1 answers
        if !a.ping("127.0.0.1", #{count: 1}).ok { throw "lo down"; }
        a.delete();
        if netns_list() != ["beta"] { throw "delete"; }
        print("ok");
    "#,
    )
    .assert_ok();
}

/// Deleting a namespace takes the other ends of its veths along; the kernel
/// does that a moment later, so `delete()` waits for it: the name is free
/// for the very next call.
#[test]
fn delete_frees_the_names_of_its_veths_peers_at_once() {
    run_isolated(
        "delete-peer.rhai",
        r#"
        let b = netns("b");
        for i in 1..=5 {
            let a = netns(`a${i}`);
            veth(a, "eth0", b, "x0");
            a.delete();
            if b.links().some(|l| l.name == "x0") { throw `x0 still in b after deleting a${i}`; }
            veth(b, "x0", host(), `hx${i}`);
            if host().exec(["ip", "link", "del", `hx${i}`]).code != 0 { throw "ip link del"; }
        }
        print("ok");
    "#,
    )
    .assert_ok();
}

#[test]
fn veth_ends_are_in_their_namespaces_and_up() {
    let o = run_isolated(
        "veth.rhai",
        r#"
        let a = netns("a");
        let ends = veth(a, "va", host(), "vh");
        if ends[0].name != "va" || ends[1].name != "vh" { throw "names"; }
        if ends[0].ns.name != "a" || ends[1].ns.name != "host" { throw "ns"; }
        // the witness: `ip` inside each namespace
        print(a.exec(["ip", "-o", "link", "show", "va"]).stdout);
        print(host().exec("ip -o link show vh").stdout);
        // one queue each way, both ends, made so (see Rtnl::add_veth)
        print(a.exec(["ip", "-o", "-d", "link", "show", "va"]).stdout);
        print(host().exec("ip -o -d link show vh").stdout);
        let l = a.links().filter(|l| l.name == "va")[0];
        if l.kind != "veth" || !l.up { throw `link ${l}`; }
    "#,
    );
    o.assert_ok();
    o.says(&["va@", "vh@", ",UP"]);
    let queues = o
        .stdout
        .lines()
        .filter(|l| l.contains("numtxqueues 1 numrxqueues 1 "))
        .count();
    assert_eq!(queues, 2, "{}", o.stdout);
}

/// The first packet right after a link comes up must not be lost: the
/// kernel activates a veth end (and a bridge) asynchronously, and until then
/// drops what is sent. Without nslab waiting for that before traffic, about
/// one first ping in a hundred (veth) or a thousand (bridge address) was
/// lost here, so 60 fresh labs of each kind catch a regression most of the
/// time and never fail without one.
#[test]
fn first_ping_right_after_building_gets_through() {
    run_isolated(
        "first.rhai",
        r#"
        let lost = [];
        for i in 1..=60 {
            let a = netns(`a${i}`);
            let b = netns(`b${i}`);
            let e = veth(a, "eth0", b, "eth0");
            e[0].addr("10.9.0.1/24");
            e[1].addr("10.9.0.2/24");
            if !a.ping("10.9.0.2", #{count: 1, timeout_ms: 500}).ok { lost.push(`veth ${i}`); }
            // from a bridge's own address, through a port attached just now
            let br = bridge(b, "br0");
            br.addr("10.8.0.1/24");
            let c = netns(`c${i}`);
            let f = veth(c, "eth0", b, "p1");
            f[0].addr("10.8.0.2/24");
            br.attach(f[1]);
            if !b.ping("10.8.0.2", #{count: 1, timeout_ms: 500}).ok { lost.push(`bridge ${i}`); }
        }
        if lost.len() > 0 { throw `first pings lost: ${lost}`; }
        print("ok");
    "#,
    )
    .assert_ok();
}

#[test]
fn bridge_attach_and_ping_across() {
    let o = run_isolated(
        "br.rhai",
        r#"
        let sw = netns("sw");
        let br = bridge(sw, "br0");
        for i in 1..=3 {
            let h = netns(`h${i}`);
            let e = veth(h, "eth0", sw, `p${i}`);
            br.attach(e[1]);
            e[0].addr(`10.9.0.${i}/24`);
        }
        print(sw.exec("ip -o link show master br0").stdout);
        let m = sw.links().filter(|l| l.master == "br0").map(|l| l.name);
        if m.len() != 3 { throw `ports: ${m}`; }
    "#,
    );
    o.assert_ok();
    assert_eq!(o.stdout.matches("master br0").count(), 3, "{}", o.stdout);

    run_isolated(
        "br2.rhai",
        r#"
        let sw = netns("sw");
        let br = bridge(sw, "br0");
        let a = netns("a");
        let b = netns("b");
        let ea = veth(a, "eth0", sw, "pa");
        let eb = veth(b, "eth0", sw, "pb");
        br.attach(ea[1]);
        br.attach(eb[1]);
        ea[0].addr("10.9.0.1/24");
        eb[0].addr("10.9.0.2/24");
        let r = a.ping("10.9.0.2");
        print(r.output);
        if !r.ok { throw "no reply across the bridge"; }
    "#,
    )
    .assert_ok();
}

#[test]
fn link_up_down_mtu() {
    let o = run_isolated(
        "link.rhai",
        r#"
        let a = netns("a");
        let e = veth(a, "v0", host(), "v1");
        e[0].mtu(1400);
        e[0].down();
        let l = a.link("v0");
        let row = a.links().filter(|x| x.name == "v0")[0];
        if row.mtu != 1400 || row.up { throw `after: ${row}`; }
        print(a.exec("ip -o link show v0").stdout);
        l.up();
        if !a.links().filter(|x| x.name == "v0")[0].up { throw "not up"; }
    "#,
    );
    o.assert_ok();
    o.says(&["mtu 1400"]);
    o.lacks(&[",UP"]);
}

#[test]
fn addresses_v4_and_v6_and_ping_v6() {
    let o = run_isolated(
        "addr.rhai",
        r#"
        let a = netns("a");
        let b = netns("b");
        let e = veth(a, "va", b, "vb");
        e[0].addr("10.1.0.1/24");
        a.addr("va", "fd00::1/64");
        b.addr("vb", "fd00::2/64");
        let addrs = a.addrs().filter(|x| x.dev == "va").map(|x| x.addr);
        if !addrs.contains("10.1.0.1/24") || !addrs.contains("fd00::1/64") { throw `addrs ${addrs}`; }
        print(a.exec("ip -o addr show dev va").stdout);
        let r = a.ping("fd00::2");
        print(r.output);
        if !r.ok || r.received != 3 || r.loss != 0 { throw `ping6 ${r}`; }
        if r.rtt_min > r.rtt_avg || r.rtt_avg > r.rtt_max { throw "rtt order"; }
    "#,
    );
    o.assert_ok();
    o.says(&["inet 10.1.0.1/24", "inet6 fd00::1/64", "bytes from fd00::2"]);
}

#[test]
fn routes_in_all_three_forms_reach_the_kernel() {
    let o = run_isolated(
        "route.rhai",
        r#"
        let a = netns("a");
        let r = netns("r");
        let e = veth(a, "va", r, "vr");
        e[0].addr("10.0.0.2/24");
        e[1].addr("10.0.0.1/24");
        a.route("default", "10.0.0.1");
        a.route("10.2.0.0/16", "10.0.0.1");
        a.route("10.3.0.0/16", #{dev: "va", via: "10.0.0.1", metric: 10});
        a.route("10.4.0.7", #{dev: "va"});
        a.addr("va", "fd00::2/64");
        a.route("default", "fd00::1");
        print(a.exec("ip route show; ip -6 route show default").stdout);
        let dsts = a.routes().map(|x| x.dst);
        for d in ["default", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.7/32"] {
            if !dsts.contains(d) { throw `missing ${d}: ${dsts}`; }
        }
        let m = a.routes().filter(|x| x.dst == "10.3.0.0/16")[0];
        if m.metric != 10 || m.via != "10.0.0.1" || m.dev != "va" { throw `route ${m}`; }
        // a routed ping: r answers for an address on its lo via the default route
        r.addr("lo", "10.2.0.1/32");
        if !a.ping("10.2.0.1").ok { throw "routed ping"; }
    "#,
    );
    o.assert_ok();
    for line in [
        "default via 10.0.0.1 dev va",
        "10.2.0.0/16 via 10.0.0.1 dev va",
        "10.3.0.0/16 via 10.0.0.1 dev va metric 10",
        "10.4.0.7 dev va",
        "default via fd00::1 dev va",
    ] {
        let kernel = o.stdout.replace(" proto static", "");
        assert!(
            kernel.contains(line),
            "kernel has no '{line}':\n{}",
            o.stdout
        );
    }
}

#[test]
fn forwarding_and_sysctl_return_old_values() {
    let o = run_isolated(
        "sysctl.rhai",
        r#"
        let a = netns("a");
        let old = a.sysctl("net.ipv4.conf.all.rp_filter", "2");
        print(`old=${old}`);
        a.forwarding(true);
        print(a.exec("cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/ipv4/conf/all/rp_filter").stdout);
        if a.sysctl("net.ipv4.ip_forward", 0) != "1" { throw "old value"; }
    "#,
    );
    o.assert_ok();
    o.says(&["old=0", "1\n1\n2\n"]);
}

#[test]
fn ping_without_answer_is_not_ok() {
    let o = run_isolated(
        "noanswer.rhai",
        r#"
        let a = netns("a");
        let e = veth(a, "va", host(), "vh");
        e[0].addr("10.5.0.1/24");
        let r = a.ping("10.5.0.9", #{count: 2, timeout_ms: 200, interval_ms: 50});
        print(r.output);
        if r.ok || r.received != 0 || r.sent != 2 || r.loss != 100 { throw `${r}`; }
        let r = a.ping("192.0.2.1", #{count: 1, timeout_ms: 100});
        print(r.output);
        if r.ok { throw "unroutable answered"; }
    "#,
    );
    o.assert_ok();
    o.says(&[
        "2 packets transmitted, 0 received, 100% packet loss",
        "Network is unreachable",
    ]);
}

#[test]
fn exec_captures_output_and_exit_code() {
    let o = run_isolated(
        "exec.rhai",
        r#"
        let a = netns("a");
        let r = a.exec("echo out; echo err >&2; exit 3");
        if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" || r.ok { throw `${r}`; }
        // an array runs without a shell: the $ stays literal
        let r = a.exec(["echo", "$HOME"]);
        if r.stdout != "$HOME\n" { throw `${r}`; }
        // the command runs inside the namespace: it sees only lo
        print(a.exec(["cat", "/proc/net/dev"]).stdout);
    "#,
    );
    o.assert_ok();
    o.says(&["lo:"]);
    o.lacks(&["eth0"]);
}

#[test]
fn params_from_the_command_line() {
    let d = Dir::new();
    d.write(
        "p.rhai",
        r#"
        let n = param("hosts", 4);
        let s = param("subnet", "10.1.0.0/24");
        print(`hosts=${n + 1} subnet=${s}`);
    "#,
    );
    let o = nslab(
        &[
            "run",
            "--isolated",
            "p.rhai",
            "--set",
            "hosts=8",
            "--set",
            "subnet=10.5.0.0/24",
            "--set",
            "unused=1",
        ],
        d.path(),
    );
    o.assert_ok();
    o.says(&["hosts=9 subnet=10.5.0.0/24"]);
    assert!(
        o.stderr.contains("--set unused=") && o.stderr.contains("never reads"),
        "{}",
        o.stderr
    );

    let o = nslab(
        &["run", "--isolated", "p.rhai", "--set", "hosts=many"],
        d.path(),
    );
    assert_report(&o, "p.rhai:2:", "expected a whole number", "--set hosts=4");
}

#[test]
fn check_needs_no_privileges_and_finds_syntax_errors() {
    let d = Dir::new();
    d.write("good.rhai", "let a = netns(\"a\");\n");
    d.write("bad.rhai", "let a = netns(\"a\")\nlet b = 1;\n");
    nslab(&["check", "good.rhai"], d.path()).assert_ok();
    let o = nslab(&["check", "bad.rhai"], d.path());
    assert_report(
        &o,
        "bad.rhai:2:",
        "Expecting ';'",
        "end each statement with ';'",
    );
}

#[test]
fn listen_and_connect_tcp_and_udp() {
    let o = run_isolated(
        "probe.rhai",
        r#"
        let a = netns("a");
        let b = netns("b");
        let e = veth(a, "va", b, "vb");
        e[0].addr("10.0.0.1/24");
        e[1].addr("10.0.0.2/24");
        a.addr("va", "fd00::1/64");
        b.addr("vb", "fd00::2/64");
        let web = b.listen(80);
        let dns = b.listen(#{proto: "udp", port: 53});
        if !a.connect("10.0.0.2", 80) { throw "tcp 80"; }
        if !a.connect("fd00::2", 80) { throw "tcp 80 over IPv6"; }
        if a.connect("10.0.0.2", 81) { throw "closed tcp port answered"; }
        if !a.connect("10.0.0.2", #{proto: "udp", port: 53, timeout_ms: 500}) { throw "udp 53"; }
        if a.connect("10.0.0.2", #{proto: "udp", port: 54, timeout_ms: 500}) { throw "closed udp port answered"; }
        // the kernel's witness: the listening sockets inside b
        print(b.exec("cat /proc/net/tcp6 /proc/net/udp6").stdout);
        print(`peers: ${web.peers} ${dns.peers}`);
    "#,
    );
    o.assert_ok();
    o.says(&["peers: [\"10.0.0.1\", \"fd00::1\"] [\"10.0.0.1\"]"]);
    // port 80 (0x0050) and 53 (0x0035) bound on [::]
    o.says(&[
        "00000000000000000000000000000000:0050",
        "00000000000000000000000000000000:0035",
    ]);
}

#[test]
fn bad_probe_input_is_refused_before_the_kernel() {
    fails_at(
        "p1.rhai",
        "let a = netns(\"a\");\na.listen(70000);\n",
        "p1.rhai:2:3",
        "port 70000 is out of range",
        "1..=65535",
    );
    fails_at(
        "p2.rhai",
        "let a = netns(\"a\");\na.connect(\"10.0.0.2\", #{proto: \"icmpx\", port: 1});\n",
        "p2.rhai:2:3",
        "unknown protocol 'icmpx'",
        "\"tcp\" or proto: \"udp\"",
    );
    fails_at(
        "p3.rhai",
        "let a = netns(\"a\");\na.listen(80);\na.listen(80);\n",
        "p3.rhai:3:3",
        "port 80/tcp is already in use in namespace 'a'",
        "pick another port",
    );
}
