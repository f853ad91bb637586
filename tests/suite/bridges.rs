//! Bridge options, bridge port options and traffic shaping, with `ip -d`,
//! `bridge` and `tc` inside the lab as witnesses; what the kernel lacks is
//! checked first, from outside nslab, and the matching outcome asserted.
//! The transfer whose time shows a rate is scripts/rate-limit.rhai (run in
//! every mode by tests/scripts.rs).

use crate::common::*;

/// Does this kernel have `what`? Tried in a private network namespace with
/// iproute2, outside nslab (`sh` exits 0 when it works).
/// The text between `from` and the next line that starts with `==`.
fn section<'a>(out: &'a str, from: &str) -> &'a str {
    let start = out
        .find(from)
        .unwrap_or_else(|| panic!("no '{from}' in:\n{out}"));
    let rest = &out[start + from.len()..];
    &rest[..rest.find("\n==").unwrap_or(rest.len())]
}

#[test]
fn bridge_options_reach_the_kernel_and_the_two_argument_form_stays() {
    let o = run_ok(
        "b.rhai",
        r#"
let a = netns("a");
bridge(a, "br0", #{stp: true, ageing_s: 10, forward_delay_s: 2, hello_s: 1, max_age_s: 6});
bridge(a, "br1", #{stp: false, ageing_s: 0.5, vlan_filtering: false});
bridge(a, "br2");
print("== br0"); print(a.exec("ip -j -d link show br0").stdout);
print("== br1"); print(a.exec("ip -j -d link show br1").stdout);
print("== br2"); print(a.exec("ip -j -d link show br2").stdout);
"#,
    );
    let br0 = section(&o.stdout, "== br0");
    for want in [
        "\"stp_state\":1",
        "\"ageing_time\":1000",
        "\"forward_delay\":200",
        "\"hello_time\":100",
        "\"max_age\":600",
    ] {
        assert!(br0.contains(want), "br0 lacks {want}:\n{br0}");
    }
    let br1 = section(&o.stdout, "== br1");
    assert!(
        br1.contains("\"stp_state\":0") && br1.contains("\"ageing_time\":50"),
        "{br1}"
    );
    // The kernel's defaults: no STP, 300 s ageing, 15 s forward delay.
    let br2 = section(&o.stdout, "== br2");
    assert!(
        br2.contains("\"stp_state\":0")
            && br2.contains("\"ageing_time\":30000")
            && br2.contains("\"forward_delay\":1500"),
        "{br2}"
    );
}

#[test]
fn port_options_reach_the_kernel_and_isolated_ports_reach_only_the_others() {
    let o = run_isolated(
        "p.rhai",
        r#"
let sw = netns("sw");
let br = bridge(sw, "br0");
let hosts = [];
for i in 1..=3 {
    let h = netns(`h${i}`);
    let c = veth(h, "eth0", sw, `p${i}`);
    c[0].addr(`10.61.0.${i}/24`);
    if i < 3 {
        br.attach(c[1], #{isolated: true, hairpin: true, cost: 7, priority: 5});
    } else {
        br.attach(c[1]);
    }
    hosts.push(h);
}
print("== p1"); print(sw.exec("ip -j -d link show p1").stdout);
print("== p3"); print(sw.exec("ip -j -d link show p3").stdout);
print("== bridge"); print(sw.exec("bridge -j -d link show").stdout);
print("== pings");
print(`h1-h3 ${hosts[0].ping("10.61.0.3", #{count: 2}).ok}`);
print(`h2-h3 ${hosts[1].ping("10.61.0.3", #{count: 2}).ok}`);
print(`h1-h2 ${hosts[0].ping("10.61.0.2", #{count: 2, timeout_ms: 500}).ok}`);
print(`h2-h1 ${hosts[1].ping("10.61.0.1", #{count: 2, timeout_ms: 500}).ok}`);
"#,
    );
    o.assert_ok();
    let p1 = section(&o.stdout, "== p1");
    for want in [
        "\"isolated\":true",
        "\"hairpin\":true",
        "\"cost\":7",
        "\"priority\":5",
    ] {
        assert!(p1.contains(want), "p1 lacks {want}:\n{p1}");
    }
    let p3 = section(&o.stdout, "== p3");
    assert!(
        p3.contains("\"isolated\":false") && p3.contains("\"hairpin\":false"),
        "{p3}"
    );
    // `bridge link` agrees: two isolated ports of three.
    let br = section(&o.stdout, "== bridge");
    assert_eq!(br.matches("\"isolated\":true").count(), 2, "{br}");
    let pings = section(&o.stdout, "== pings");
    for want in ["h1-h3 true", "h2-h3 true", "h1-h2 false", "h2-h1 false"] {
        assert!(pings.contains(want), "{want}:\n{pings}");
    }
}

#[test]
fn an_stp_ring_blocks_one_port_and_still_forwards() {
    let o = run_isolated(
        "ring.rhai",
        &[stp_ring("10.62.0").as_str(), r#"// Until no port is listening or learning (about 2 x 2 s), at most 30 s.
for round in 0..60 {
    let busy = false;
    for s in sw {
        let st = s.ns.exec("bridge -j link show").stdout;
        if st.contains("listening") || st.contains("learning") || st.contains("disabled") { busy = true; }
    }
    if !busy { break; }
    sw[0].ns.exec("sleep 0.5");
}
print("== states");
for s in sw { print(s.ns.exec("bridge -j link show").stdout); }
print("== pings");
for i in 0..3 {
    for j in 0..3 {
        if i != j { print(`s${i + 1}-s${j + 1} ${sw[i].ns.ping(`10.62.0.${j + 1}`, #{count: 2, timeout_ms: 2000}).ok}`); }
    }
}
"#].concat(),
    );
    o.assert_ok();
    let states = section(&o.stdout, "== states");
    assert_eq!(
        states.matches("\"state\":\"blocking\"").count(),
        1,
        "one port of the ring must block:\n{states}"
    );
    assert_eq!(
        states.matches("\"state\":\"forwarding\"").count(),
        5,
        "{states}"
    );
    let pings = section(&o.stdout, "== pings");
    assert_eq!(pings.matches(" true").count(), 6, "{pings}");
}

#[test]
fn shape_puts_a_token_bucket_at_the_root_and_unshape_takes_it_off() {
    let o = run_ok(
        "s.rhai",
        r#"
let c = veth(netns("a"), "e0", netns("b"), "e1");
c[0].shape(#{rate: "8mbit"});
print("== first"); print(c[0].ns.exec("tc -j qdisc show dev e0").stdout);
c[0].shape(#{rate: "2mbit", burst: "64kb", latency_ms: 20});
print("== second"); print(c[0].ns.exec("tc -j qdisc show dev e0").stdout);
c[0].unshape();
c[0].unshape();
print("== after"); print(c[0].ns.exec("tc -j qdisc show dev e0").stdout);
"#,
    );
    let first = section(&o.stdout, "== first");
    assert!(
        first.contains("\"kind\":\"tbf\"")
            && first.contains("\"root\":true")
            && first.contains("\"rate\":1000000")
            && first.contains("\"burst\":32768")
            && first.contains("\"lat\":50000"),
        "{first}"
    );
    // Shaping again replaces the lab's own bucket.
    let second = section(&o.stdout, "== second");
    assert_eq!(second.matches("\"kind\":\"tbf\"").count(), 1, "{second}");
    assert!(
        second.contains("\"rate\":250000") && second.contains("\"lat\":20000"),
        "{second}"
    );
    let after = section(&o.stdout, "== after");
    assert!(
        after.contains("\"kind\":\"noqueue\"") && !after.contains("tbf"),
        "{after}"
    );
}

#[test]
fn delay_and_loss_need_netem_and_say_so_where_it_is_missing() {
    let netem = has_netem();
    let script = r#"let c = veth(netns("a"), "e0", netns("b"), "e1");
c[0].shape(#{rate: "8mbit", delay_ms: 50, jitter_ms: 5, loss_pct: 1});
print(c[0].ns.exec("tc -j qdisc show dev e0").stdout);
"#;
    let o = run_isolated("n.rhai", script);
    if netem {
        // This kernel has netem: delay under the bucket, both at e0.
        o.assert_ok();
        o.says(&["\"kind\":\"netem\"", "\"kind\":\"tbf\""]);
    } else {
        assert_report(
            &o,
            "n.rhai:2",
            "the kernel has no netem support: load sch_netem (modprobe sch_netem) or CONFIG_NET_SCH_NETEM",
            "delay_ms, jitter_ms and loss_pct need netem",
        );
        // Nothing half done: no bucket without the delay asked with it.
        let o = run_ok(
            "n2.rhai",
            r#"let c = veth(netns("a"), "e0", netns("b"), "e1");
try { c[0].shape(#{rate: "8mbit", delay_ms: 50}); } catch (e) { print(`caught: ${e.message}`); }
print(c[0].ns.exec("tc -j qdisc show dev e0").stdout);
"#,
        );
        assert!(o.stdout.contains("caught: the kernel has no netem support"));
        o.lacks(&["tbf"]);
    }
}

#[test]
fn vlans_need_bridge_vlan_filtering_and_say_so_where_it_is_missing() {
    let filtering = has_vlan_filtering();
    let o = run_isolated(
        "v.rhai",
        r#"let a = netns("a");
let br = bridge(a, "br0", #{vlan_filtering: true});
let c = veth(a, "p0", netns("b"), "e0");
br.attach(c[0], #{vlans: [10, 20], pvid: 10, untagged: 10});
print(a.exec("bridge -j vlan show dev p0").stdout);
"#,
    );
    if filtering {
        o.assert_ok();
        o.says(&["\"vlan\":20"]);
    } else {
        assert_report(
            &o,
            "v.rhai:2",
            "the kernel has no bridge VLAN filtering (it was built without CONFIG_BRIDGE_VLAN_FILTERING)",
            "CONFIG_BRIDGE_VLAN_FILTERING=y",
        );
        fails_at(
            "v2.rhai",
            r#"let a = netns("a");
let br = bridge(a, "br0", #{vlan_filtering: false});
let c = veth(a, "p0", netns("b"), "e0");
br.attach(c[0], #{pvid: 10});
"#,
            "v2.rhai:4",
            "cannot give a bridge port VLANs: the kernel has no bridge VLAN filtering",
            "CONFIG_BRIDGE_VLAN_FILTERING=y",
        );
    }
}

#[test]
fn unknown_options_and_wrong_types_name_what_is_valid() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "bridge(a, \"br0\", #{stp: true, speed: 1});",
            "unknown bridge option 'speed'",
            "stp, priority, vlan_filtering, ageing_s, forward_delay_s, hello_s and max_age_s",
        ),
        (
            "bridge(a, \"br0\", #{stp: \"yes\"});",
            "option 'stp' must be true or false",
            "stp: true",
        ),
        (
            "bridge(a, \"br0\", #{stp: true, forward_delay_s: 1});",
            "forward_delay_s = 1 is out of range",
            "forward_delay_s is 2..=30",
        ),
        (
            "bridge(a, \"br0\").attach(c[0], #{isloated: true});",
            "unknown port option 'isloated'",
            "isolated, hairpin, cost, priority, learning, flood, vlans, pvid, untagged and ipv6",
        ),
        (
            "bridge(a, \"br0\").attach(c[0], #{priority: 64});",
            "priority = 64 is out of range",
            "priority is 0..=63",
        ),
        (
            "c[0].shape(#{rate: \"8mbit\", speed: 1});",
            "unknown shaping option 'speed'",
            "rate, burst, latency_ms, delay_ms, jitter_ms and loss_pct",
        ),
        (
            "c[0].shape(#{rate: \"fast\"});",
            "rate 'fast' is not a rate",
            "\"10mbit\"",
        ),
        (
            "c[0].shape(#{rate: true});",
            "rate must be a string or a number",
            "bits per second",
        ),
        (
            "c[0].shape(#{loss_pct: 120});",
            "loss_pct = 120 is out of range",
            "loss_pct is 0..=100",
        ),
        (
            "c[0].shape(#{burst: \"32kb\"});",
            "burst and latency_ms shape a rate, and no rate is given",
            "rate: \"10mbit\"",
        ),
        (
            "c[0].shape(#{});",
            "nothing to shape",
            "give at least one of",
        ),
    ];
    for (i, (line, message, help)) in cases.iter().enumerate() {
        let name = format!("u{i}.rhai");
        fails_at(
            &name,
            &format!(
                "let a = netns(\"a\");\nlet c = veth(a, \"p0\", netns(\"b\"), \"e0\");\n{line}\n"
            ),
            &format!("{name}:3"),
            message,
            help,
        );
    }
}

/// Port settings and shaping of links the lab did not make come back at
/// teardown, also through `nslab down` from the journal; a root qdisc that
/// is not the kernel's default is refused, not replaced. (The links' state
/// is taken once the kernel has finished bringing them up, and without IPv6:
/// operstates and link-local addresses leaving duplicate detection change
/// asynchronously, which is no change of nslab's.)
#[test]
fn foreign_ports_and_qdiscs_are_put_back_and_a_non_default_qdisc_is_refused() {
    let f = r#"let h = host();
let br = h.link("hb0");
br.attach(h.link("hp0"), #{isolated: true, hairpin: true, cost: 9, priority: 7});
h.link("hq0").shape(#{rate: "1mbit"});
print("== during");
print(h.exec("ip -j -d link show hp0").stdout);
print(h.exec("tc -j qdisc show dev hq0").stdout);
"#;
    let o = in_private_host(
        &[
            ("f.rhai", f),
            (
                "k.rhai",
                &f.replace("let h = host();", "keep();\nlet h = host();"),
            ),
            (
                "r.rhai",
                "host().link(\"hr0\").shape(#{rate: \"1mbit\"});\n",
            ),
        ],
        "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6\n\
         ip link add hb0 type bridge && ip link set hb0 up\n\
         ip link add hp0 type veth peer name hq0 && ip link set hp0 master hb0 && ip link set hp0 up && ip link set hq0 up\n\
         ip link set hp0 type bridge_slave cost 3 priority 2\n\
         ip link add hr0 type veth peer name hr1 && ip link set hr0 up && ip link set hr1 up\n\
         tc qdisc add dev hr0 root handle 5: tbf rate 2mbit burst 32kb latency 50ms\n\
         state() { ip -d link show hp0 | grep -o 'priority [0-9]* cost [0-9]* hairpin [a-z]*'; ip -d link show hp0 | grep -o 'isolated [a-z]*'; tc qdisc show dev hq0; tc qdisc show dev hr0; }\n\
         for l in hb0 hp0 hq0 hr0 hr1; do wait_until \"ip -o link show $l | grep -q 'state UP'\" 10; done\n\
         snap > before; state > state0\n\
         \"$NSLAB\" run f.rhai; echo run=$?\n\
         snap > after; state > state1\n\
         diff -u before after && diff -u state0 state1 && echo SAME_AFTER_RUN\n\
         \"$NSLAB\" run --name K k.rhai > /dev/null; echo kept=$?\n\
         state | grep -q 'isolated on' && echo CHANGED_WHILE_KEPT\n\
         \"$NSLAB\" down K; echo down=$?\n\
         snap > after2; state > state2\n\
         diff -u before after2 && diff -u state0 state2 && echo SAME_AFTER_DOWN\n\
         \"$NSLAB\" run r.rhai; echo refused=$?\n\
         tc qdisc show dev hr0 | grep -q 'qdisc tbf 5: root' && echo THEIRS_KEPT\n\
         cat state0\n",
    );
    let out = o.all();
    o.says(&["run=0"]);
    let during = section(&o.stdout, "== during");
    assert!(
        during.contains("\"isolated\":true")
            && during.contains("\"cost\":9")
            && during.contains("\"priority\":7")
            && during.contains("\"kind\":\"tbf\""),
        "{out}"
    );
    o.says(&[
        "SAME_AFTER_RUN",
        "kept=0",
        "CHANGED_WHILE_KEPT",
        "down=0",
        "SAME_AFTER_DOWN",
        "refused=1",
        "THEIRS_KEPT",
    ]);
    // miette wraps long lines: read the report as one line of words.
    let flat = out.replace("\n  │ ", " ");
    let flat = words(&flat);
    assert!(
        flat.contains("already has a root qdisc nslab did not put there (tbf 5:)")
            && flat.contains("tc qdisc del dev hr0 root"),
        "{out}"
    );
    // The witnesses saw the settings from before (not all defaults).
    o.all_says(&["priority 2 cost 3 hairpin off"]);
}

/// A port of someone's bridge, moved by the plain `br.attach(link)` to a
/// bridge of the lab's, is put back on its bridge with its old settings
/// (joining another bridge resets them).
#[test]
fn a_foreign_port_moved_by_plain_attach_gets_its_settings_back() {
    let o = in_private_host(
        &[(
            "m.rhai",
            "let h = host();\nlet br = bridge(h, \"lab0\");\nbr.attach(h.link(\"hp0\"));\n\
         print(h.exec(\"ip -d link show hp0\").stdout);\n",
        )],
        "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6\n\
         ip link add hb0 type bridge && ip link set hb0 up\n\
         ip link add hp0 type veth peer name hq0 && ip link set hp0 master hb0 && ip link set hp0 up && ip link set hq0 up\n\
         ip link set hp0 type bridge_slave cost 3 priority 2\n\
         state() { ip -d link show hp0 | grep -o 'master [a-z0-9]*'; ip -d link show hp0 | grep -o 'priority [0-9]* cost [0-9]*'; }\n\
         state > state0\n\
         \"$NSLAB\" run m.rhai; echo run=$?\n\
         state > state1\n\
         diff -u state0 state1 && echo SAME\ncat state1\n",
    );
    o.says(&["run=0"]);
    o.because("the port did not move").says(&["master lab0"]);
    assert_no_trace(&o, "SAME");
    o.says(&["priority 2 cost 3"]);
}

#[test]
fn a_veth_end_is_up_at_the_next_call_and_a_port_never_gets_ipv6_routes() {
    // veth() brings its second end up with the script's next call, or with
    // the attach of that end (lab/deferred.rs): pa, attached at once, is
    // up with IPv6 off from the start, so `ip monitor` in sw never sees
    // the routes a link gets when it comes up with IPv6 (ff00::/8 and
    // fe80::/64), where pc (#{ipv6: true}) gets them (the witness that the
    // monitor was listening). pd, left alone, is up at the
    // next call; pe is up after an attach that was refused.
    let o = run_ok(
        "defer.rhai",
        r#"
let sw = netns("sw"); let a = netns("a");
let mon = sw.spawn("stdbuf -oL ip -6 monitor route");
sleep(0.3);
let br = bridge(sw, "br0"); let bra = bridge(a, "bra");
let ca = veth(a, "eth0", sw, "pa"); br.attach(ca[1]);
let cc = veth(a, "qc", sw, "pc"); br.attach(cc[1], #{ipv6: true});
let cd = veth(a, "eth1", sw, "pd");
print("== pd"); print(sw.exec("ip -o link show pd").stdout);
let ce = veth(a, "eth2", sw, "pe");
try { bra.attach(ce[1]); } catch (e) { print(`== refused ${e.message}`); }
print("== pe"); print(sw.exec("ip -o link show pe").stdout);
print("== pa"); print(sw.exec("ip -o link show pa; cat /proc/sys/net/ipv6/conf/pa/disable_ipv6").stdout);
sleep(0.5);
print("== monitor"); print(mon.stdout);
"#,
    );
    let up = |l: &str| l.contains(",UP") || l.contains("<UP");
    for port in ["pd", "pe", "pa"] {
        let s = section(&o.stdout, &format!("== {port}"));
        assert!(up(s), "{port} is not up:\n{}", o.stdout);
    }
    assert!(o.stdout.contains("== refused"), "{}", o.stdout);
    let pa = section(&o.stdout, "== pa");
    assert!(
        pa.contains("master br0") && pa.trim_end().ends_with('1'),
        "{pa}"
    );
    let mon = section(&o.stdout, "== monitor");
    assert!(
        mon.contains("dev pc "),
        "the monitor saw no route of pc:\n{mon}"
    );
    assert!(!mon.contains("dev pa "), "pa had IPv6 routes:\n{mon}");
}

#[test]
fn bridge_ports_have_no_ipv6_of_their_own_and_hosts_keep_theirs() {
    // pa, pb: plain ports (no IPv6); pc: #{ipv6: true} (the kernel's
    // default); pd: given an address before attach, pe: after (both keep
    // it); br0 itself as the kernel has it. IPv6 between the hosts over the
    // bridge still works: their own links keep IPv6.
    let o = run_ok(
        "v6.rhai",
        r#"
let sw = netns("sw"); let a = netns("a"); let b = netns("b");
let br = bridge(sw, "br0");
let ca = veth(a, "eth0", sw, "pa"); br.attach(ca[1]);
let cb = veth(b, "eth0", sw, "pb"); br.attach(cb[1]);
let cc = veth(sw, "pc", sw, "qc"); br.attach(cc[0], #{ipv6: true});
let cd = veth(a, "eth1", sw, "pd"); cd[1].addr("10.9.0.1/24"); br.attach(cd[1]);
let ce = veth(b, "eth1", sw, "pe"); br.attach(ce[1]); ce[1].addr("fd01::1/64");
ca[0].addr("fd00::1/64"); cb[0].addr("fd00::2/64");
print("== ping"); print(a.ping("fd00::2", #{count: 3}).ok);
let show = "for d in pa pb pc pd pe br0; do echo $d $(cat /proc/sys/net/ipv6/conf/$d/disable_ipv6) $(ip -6 -o addr show dev $d scope link | wc -l); done";
print("== sw"); print(sw.exec(show).stdout);
print("== a"); print(a.exec("ip -6 -o addr show dev eth0 scope link | wc -l").stdout);
"#,
    );
    assert_eq!(section(&o.stdout, "== ping").trim(), "true", "{}", o.stdout);
    let sw = section(&o.stdout, "== sw");
    // name, disable_ipv6, link-local addresses
    for want in ["pa 1 0", "pb 1 0", "pc 0 1", "pd 0 1", "pe 0 1"] {
        assert!(
            sw.lines().any(|l| l.trim() == want),
            "no '{want}' in:\n{sw}"
        );
    }
    assert_eq!(section(&o.stdout, "== a").trim(), "1", "{}", o.stdout);
}
