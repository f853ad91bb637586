//! NAT and firewall rules, proven by traffic: the source address a far-end
//! listener saw, connections that succeed or fail, pings that come back.

use crate::common::*;

/// lan (10.0.0.2, fd00:10::2) -> host (router) -> internet (203.0.113.10,
/// 2001:db8:1::10), where the internet has no route back to the lan.
const NAT_LAB: &str = r#"
let h = host();
let lan = netns("lan");
let inet = netns("inet");
let a = veth(h, "to-lan", lan, "eth0");
a[0].addr("10.0.0.1/24"); a[1].addr("10.0.0.2/24");
a[0].addr("fd00:10::1/64"); a[1].addr("fd00:10::2/64");
let b = veth(h, "uplink", inet, "eth0");
b[0].addr("203.0.113.1/24"); b[1].addr("203.0.113.10/24");
b[0].addr("2001:db8:1::1/64"); b[1].addr("2001:db8:1::10/64");
lan.route("default", "10.0.0.1");
lan.route("default", "fd00:10::1");
h.forwarding(true);
let web = inet.listen(80);
let dns = inet.listen(#{proto: "udp", port: 53});
"#;

#[test]
fn masquerade_rewrites_the_source_of_v4_tcp_and_udp() {
    let o = ok(
        "nat4.rhai",
        &format!(
            r#"{NAT_LAB}
print(`before: ${{lan.connect("203.0.113.10", #{{port: 80, timeout_ms: 300}})}}`);
masquerade(h, "10.0.0.0/24", "uplink");
print(`tcp: ${{lan.connect("203.0.113.10", 80)}}`);
print(`udp: ${{lan.connect("203.0.113.10", #{{proto: "udp", port: 53}})}}`);
print(`ping: ${{lan.ping("203.0.113.10").ok}}`);
print(`web saw ${{web.peers}}, dns saw ${{dns.peers}}`);
"#
        ),
    );
    o.says(&["before: false", "tcp: true", "udp: true", "ping: true"]);
    assert!(
        o.stdout
            .contains(r#"web saw ["203.0.113.1"], dns saw ["203.0.113.1"]"#),
        "the far end did not see the host's address:\n{}",
        o.all()
    );
}

#[test]
fn masquerade_works_for_ipv6_prefixes() {
    let o = ok(
        "nat6.rhai",
        &format!(
            r#"{NAT_LAB}
print(`before: ${{lan.connect("2001:db8:1::10", #{{port: 80, timeout_ms: 300}})}}`);
masquerade(h, "fd00:10::/64", "uplink");
print(`after: ${{lan.connect("2001:db8:1::10", 80)}}`);
print(`web saw ${{web.peers}}`);
"#
        ),
    );
    o.says(&[
        "before: false",
        "after: true",
        r#"web saw ["2001:db8:1::1"]"#,
    ]);
}

/// Two clients on a bridge in front of a server namespace.
const FW_LAB: &str = r#"
let sw = netns("sw");
let srv = netns("srv");
let c1 = netns("c1");
let c2 = netns("c2");
let br = bridge(sw, "br0");
let i = 1;
for ns in [srv, c1, c2] {
    let e = veth(ns, "eth0", sw, `p${i}`);
    br.attach(e[1]);
    e[0].addr(`10.9.0.${i}/24`);
    i += 1;
}
let web = srv.listen(80);
let ssh = srv.listen(22);
let dns = srv.listen(#{proto: "udp", port: 53});
fn probe(ns, port) { ns.connect("10.9.0.1", #{port: port, timeout_ms: 300}) }
"#;

#[test]
fn accept_and_drop_decide_which_connections_get_through() {
    let o = ok(
        "fw.rhai",
        &format!(
            r#"{FW_LAB}
print(`open: ${{probe(c1, 80)}} ${{probe(c1, 22)}}`);
srv.accept(#{{chain: "input", iif: "eth0", proto: "tcp", dport: 80}});
srv.accept(#{{saddr: "10.9.0.3", proto: "tcp", dport: 22}});
srv.accept(#{{state: ["established", "related"]}});
srv.policy("input", "drop");
print(`c1: ${{probe(c1, 80)}} ${{probe(c1, 22)}}`);
print(`c2: ${{probe(c2, 80)}} ${{probe(c2, 22)}}`);
print(`udp under policy drop: ${{c1.connect("10.9.0.1", #{{proto: "udp", port: 53, timeout_ms: 300}})}}`);
srv.policy("input", "accept");
print(`udp under policy accept: ${{c1.connect("10.9.0.1", #{{proto: "udp", port: 53, timeout_ms: 300}})}}`);
srv.drop(#{{proto: "udp", dport: 53, saddr: "10.9.0.0/24"}});
print(`udp after drop: ${{c1.connect("10.9.0.1", #{{proto: "udp", port: 53, timeout_ms: 300}})}}`);
print(`ssh saw ${{ssh.peers}}`);
"#
        ),
    );
    o.says(&[
        "open: true true",
        "c1: true false",
        "c2: true true",
        "udp under policy drop: false",
        "udp under policy accept: true",
        "udp after drop: false",
    ]);
    // c1 reached port 22 before the rules, c2 (10.9.0.3) after them too.
    o.says(&[r#"ssh saw ["10.9.0.2", "10.9.0.3"]"#]);
}

#[test]
fn output_and_forward_chains_filter_too() {
    let o = ok(
        "chains.rhai",
        &format!(
            r#"{FW_LAB}
c1.drop(#{{chain: "output", oif: "eth0", proto: "tcp", dport: 22}});
print(`c1 out: ${{probe(c1, 80)}} ${{probe(c1, 22)}}`);
// A router between two LANs: forward rules decide what crosses.
let r = netns("r");
let lan = netns("lan");
let a = veth(r, "a", srv, "lan0");
a[0].addr("10.8.0.1/24"); a[1].addr("10.8.0.2/24");
let b = veth(r, "b", lan, "eth0");
b[0].addr("10.7.0.1/24"); b[1].addr("10.7.0.2/24");
r.forwarding(true);
srv.route("10.7.0.0/24", "10.8.0.1");
lan.route("default", "10.7.0.1");
print(`through: ${{lan.connect("10.8.0.2", #{{port: 80, timeout_ms: 300}})}} ${{lan.connect("10.8.0.2", #{{port: 22, timeout_ms: 300}})}}`);
r.drop(#{{chain: "forward", iif: "b", oif: "a", proto: "tcp", dport: 22}});
print(`filtered: ${{lan.connect("10.8.0.2", #{{port: 80, timeout_ms: 300}})}} ${{lan.connect("10.8.0.2", #{{port: 22, timeout_ms: 300}})}}`);
r.policy("forward", "drop");
print(`closed: ${{lan.connect("10.8.0.2", #{{port: 80, timeout_ms: 300}})}} ${{lan.ping("10.8.0.2", #{{count: 1, timeout_ms: 300}}).ok}}`);
"#
        ),
    );
    o.says(&[
        "c1 out: true false",
        "through: true true",
        "filtered: true false",
        "closed: false false",
    ]);
}

#[test]
fn the_lab_table_is_there_while_it_runs_and_gone_after() {
    let o = in_private_host(
        &[(
            "t.rhai",
            r#"
let ns = netns("fw");
ns.drop(#{proto: "tcp", dport: 22});
host().drop(#{chain: "forward", proto: "tcp", dport: 23});
print(ns.exec("nft list ruleset").stdout);
print(host().exec("nft list tables").stdout);
"#,
        )],
        "nft add table ip keepme\nsnap > before\n\"$NSLAB\" run t.rhai; echo code=$?\nno_trace\nnft list tables",
    );
    let out = o.all();
    o.says(&["code=0"]);
    o.because("the namespace's table was not there")
        .says(&["table inet nslab-t", "tcp dport 22 drop"]);
    o.because("the host's table was not there")
        .says(&["table ip keepme\ntable inet nslab-t"]);
    assert_no_trace(&o, "SAME");
    assert!(
        o.stdout.trim_end().ends_with("table ip keepme"),
        "the host's own table is gone or the lab's is left:\n{out}"
    );
}

#[test]
fn a_table_of_the_same_name_is_never_adopted() {
    let o = in_private_host(
        &[("t.rhai", "masquerade(host(), \"10.0.0.0/24\", \"lo\");\n")],
        "nft add table inet nslab-t\nnft add chain inet nslab-t c\n\"$NSLAB\" run t.rhai; echo code=$?\nnft list ruleset",
    );
    o.says(&["code=1"]);
    o.all_says(&["nf_tables table 'inet nslab-t' already exists in namespace 'host'"]);
    o.because("the foreign table was changed")
        .all_says(&["chain c {"]);
}

#[test]
fn without_nft_the_error_says_what_to_install() {
    let d = Dir::new();
    d.write(
        "t.rhai",
        "let ns = netns(\"a\");\nns.policy(\"input\", \"drop\");\n",
    );
    let o = out(std::process::Command::new(bin())
        .args(["run", "--isolated", "t.rhai"])
        .current_dir(d.path())
        .env("NSLAB_NFT", "/nonexistent/nft")
        .env("NO_COLOR", "1")
        .output()
        .unwrap());
    assert_report(
        &o,
        "t.rhai:2",
        "`nft` is not installed",
        "install the nftables package",
    );
}

#[test]
fn a_shell_gets_the_terminal_and_the_script_goes_on() {
    if tool("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed to give nslab a terminal");
    }
    let d = Dir::new();
    d.write(
        "sh.rhai",
        "let ns = netns(\"shellns\");\nlet c = ns.shell();\nprint(`shell exited with ${c}`);\n",
    );
    // `script` gives nslab a pseudo-terminal and types the lines into it.
    let sh = format!(
        "(sleep 1; printf 'echo in=$NSLAB_NETNS; ls /sys/class/net; exit 3\\n'; sleep 3) | \
         SHELL=/bin/sh script -qec '{} run --isolated sh.rhai' /dev/null",
        bin()
    );
    let o = out(std::process::Command::new("sh")
        .args(["-c", &sh])
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap());
    o.all_says(&["in=shellns"]);
    o.because("/sys in the shell should list only the namespace's lo")
        .all_says(&["\r\nlo\r\n"]);
    o.all_says(&["shell exited with 3"]);
}

#[test]
fn reject_answers_where_drop_stays_silent() {
    // c1 counts what comes back to it from the server: a TCP reset from
    // port 22, an ICMP port unreachable for UDP 53. A client started with
    // exec says how its connection ended; `timeout` ends the silent one.
    let o = ok(
        "reject.rhai",
        &format!(
            r#"{FW_LAB}
c1.accept(#{{proto: "tcp", sport: 22, counter: true, comment: "tcp from 22"}});
c1.accept(#{{proto: "icmp", counter: true, comment: "icmp"}});
srv.reject(#{{proto: "tcp", dport: 22}});
srv.drop(#{{proto: "udp", dport: 53, verdict: "reject"}});
srv.drop(#{{proto: "tcp", dport: 80}});
print(`22: ${{probe(c1, 22)}}, 53: ${{c1.connect("10.9.0.1", #{{proto: "udp", port: 53, timeout_ms: 300}})}}`);
let r22 = c1.exec("timeout 5 bash -c 'echo > /dev/tcp/10.9.0.1/22'");
let r80 = c1.exec("timeout 1 bash -c 'echo > /dev/tcp/10.9.0.1/80'");
print(`bash 22: ${{r22.code}} ${{r22.stderr.contains("Connection refused")}}`);
print(`bash 80: ${{r80.code}}`);
for c in c1.counters() {{ print(`${{c.comment}}: ${{c.packets > 0}}`); }}
print(`nft ${{srv.exec("nft -j list ruleset").stdout}}`);
"#
        ),
    );
    o.says(&["22: false, 53: false"]);
    o.because("a rejected TCP connection should be refused")
        .says(&["bash 22: 1 true"]);
    o.because("a dropped one should time out")
        .says(&["bash 80: 124"]);
    o.because("no reset came back").says(&["tcp from 22: true"]);
    o.because("no ICMP error came back").says(&["icmp: true"]);
    let nft = o.after("nft ");
    let v: serde_json::Value = serde_json::from_str(nft).unwrap();
    let rejects: Vec<String> = v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["rule"]["expr"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.get("reject").map(|r| r.to_string()))
        .collect();
    assert_eq!(rejects.len(), 2, "{nft}");
    assert!(rejects[0].contains("tcp reset"), "{rejects:?}");
}

#[test]
fn counters_log_and_comments_are_what_nft_holds() {
    let o = ok(
        "count.rhai",
        &format!(
            r#"{FW_LAB}
print(`before any rule: ${{srv.counters()}}`);
srv.accept(#{{proto: "tcp", dport: 80, counter: true, log: "web: ", comment: "web in"}});
srv.drop(#{{proto: "tcp", dport: 22, counter: true}});
srv.accept(#{{proto: "udp", dport: 53, comment: "not counted"}});
print(`new: ${{srv.counters()}}`);
probe(c1, 80); probe(c2, 80); probe(c1, 22);
for c in srv.counters() {{
    print(`${{c.chain}} ${{c.comment}} ${{c.packets > 0}} ${{c.bytes >= c.packets * 40}}`);
}}
print(`nft ${{srv.exec("nft -j list ruleset").stdout}}`);
"#
        ),
    );
    o.says(&["before any rule: []", r#"new: [#{"bytes": 0, "chain": "input", "comment": "web in", "packets": 0}, #{"bytes": 0, "chain": "input", "comment": (), "packets": 0}]"#, "input web in true true", "input  true true"]);
    let nft = o.after("nft ");
    let v: serde_json::Value = serde_json::from_str(nft).unwrap();
    let rules: Vec<&serde_json::Value> = v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i.get("rule"))
        .collect();
    let web = rules
        .iter()
        .find(|r| r["comment"] == "web in")
        .unwrap_or_else(|| panic!("no rule with the comment:\n{nft}"));
    let exprs = web["expr"].as_array().unwrap();
    assert!(exprs.iter().any(|e| e["log"]["prefix"] == "web: "), "{nft}");
    assert!(rules.iter().any(|r| r["comment"] == "not counted"), "{nft}");
}

#[test]
fn two_thousand_rules_are_all_applied() {
    // `timeout` bounds the run generously (no timing is asserted): one nft
    // process per rule used to take more than 20 s for these.
    let d = Dir::new();
    d.write(
        "many.rhai",
        r#"
let ns = netns("fw");
for i in 0..2000 { ns.accept(#{proto: "tcp", dport: 10000 + i}); }
print(ns.exec("nft -j list ruleset").stdout);
"#,
    );
    let o = out(std::process::Command::new("timeout")
        .args(["120", bin(), "run", "--isolated", "many.rhai"])
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap());
    o.assert_ok();
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let mut ports: Vec<i64> = v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["rule"]["chain"] == "input")
        .filter_map(|i| {
            i["rule"]["expr"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|e| e["match"]["right"].as_i64())
        })
        .collect();
    ports.sort();
    assert_eq!(ports, (10000..12000).collect::<Vec<i64>>());
}

#[test]
fn a_rule_refused_when_applied_later_is_reported_at_its_own_line() {
    // Rules are applied in batches, before the next call that needs them
    // (here the ping on line 8): the report still points at line 5, the
    // rule nft refused (b holds a table of the lab's name that is not the
    // lab's).
    let o = run_isolated(
        "t.rhai",
        r#"let a = netns("a");
let b = netns("b");
b.exec("nft add table inet nslab-t");
a.accept(#{proto: "tcp", dport: 1});
b.accept(#{proto: "tcp", dport: 2});
a.accept(#{proto: "tcp", dport: 3});
print("queued");
a.ping("127.0.0.1");
"#,
    );
    o.says(&["queued"]);
    assert_report(
        &o,
        "t.rhai:5",
        "nf_tables table 'inet nslab-t' already exists in namespace 'b'",
        "nft refused this one when its batch was applied, before the call at line 8",
    );

    // In one namespace's batch: the refused rule (in a function, line 6)
    // is found among the others; the rules queued before it are in effect,
    // the ones after it are not. Something outside nslab made a chain of
    // the lab's "forward" name hooked elsewhere, which nf_tables refuses.
    let o = run_isolated(
        "u.rhai",
        r#"let a = netns("a");
a.accept(#{proto: "tcp", dport: 1});
a.exec("nft add chain inet nslab-u forward '{ type filter hook output priority 0; }'");
a.accept(#{proto: "tcp", dport: 2});
fn bad(a) {
  a.drop(#{chain: "forward", proto: "tcp", dport: 3});
}
bad(a);
a.accept(#{proto: "tcp", dport: 4});
try { a.ping("127.0.0.1"); } catch (e) { print(`caught: ${e}`); }
print(a.exec("nft list table inet nslab-u").stdout);
bad(a);
"#,
    );
    o.says(&["caught: cannot add a firewall rule in namespace 'a'"]);
    o.because("the rules before the refused one should be applied, not those after")
        .says(&["tcp dport 2 accept"]);
    o.because("the rules before the refused one should be applied, not those after")
        .lacks(&["tcp dport 4"]);
    assert_report(
        &o,
        "u.rhai:6",
        "cannot add a firewall rule in namespace 'a': nf_tables refused it",
        "applied, at the end of the script",
    );
}
