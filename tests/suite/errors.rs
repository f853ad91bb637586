//! Bad input gets a report that points at the script line, says what went
//! wrong in words, and has a help line; never a panic.

use crate::common::*;

#[test]
fn parse_error_when_running() {
    fails_at(
        "p.rhai",
        "let a = netns(\"a\");\nveth(a, \"x\" a, \"y\");\n",
        "p.rhai:2:",
        "Expecting",
        "",
    );
}

#[test]
fn wrong_argument_type() {
    fails_at(
        "t.rhai",
        "let a = netns(\"a\");\n\nveth(a, \"x\", 5);\n",
        "t.rhai:3:1",
        "wrong arguments for 'veth'",
        "veth(ns_a, \"a\", ns_b, \"b\")",
    );
}

#[test]
fn bad_cidr() {
    fails_at(
        "c.rhai",
        "let a = netns(\"a\");\nlet e = veth(a, \"x\", host(), \"y\");\ne[0].addr(\"10.0.0.300/24\");\n",
        "c.rhai:3:",
        "'10.0.0.300/24' is not a valid address",
        "e.g. \"10.0.0.1/24\"",
    );
    fails_at(
        "c2.rhai",
        "let a = netns(\"a\");\na.addr(\"lo\", \"10.0.0.1\");\n",
        "c2.rhai:2:",
        "has no prefix length",
        "\"10.0.0.1/24\"",
    );
}

#[test]
fn interface_name_over_15_bytes() {
    fails_at(
        "n.rhai",
        "let a = netns(\"a\");\nveth(a, \"a-very-long-interface\", host(), \"b\");\n",
        "n.rhai:2:1",
        "is 21 bytes long; Linux allows at most 15",
        "use a shorter name",
    );
}

#[test]
fn names_with_a_slash() {
    fails_at(
        "s.rhai",
        "let a = netns(\"a/b\");\n",
        "s.rhai:1:9",
        "'a/b' is not a valid namespace name",
        "without '/'",
    );
    fails_at(
        "s2.rhai",
        "let a = netns(\"a\");\nbridge(a, \"br/0\");\n",
        "s2.rhai:2:1",
        "'br/0' is not a valid interface name",
        "cannot contain '/'",
    );
}

#[test]
fn namespace_that_exists_already() {
    fails_at(
        "e.rhai",
        "netns(\"ns1\");\nnetns(\"ns1\");\n",
        "e.rhai:2:1",
        "namespace 'ns1' already exists",
        "pick another name",
    );
}

#[test]
fn link_that_exists_already() {
    fails_at(
        "le.rhai",
        "let a = netns(\"a\");\nveth(a, \"x\", host(), \"y\");\nbridge(a, \"x\");\n",
        "le.rhai:3:1",
        "link 'x' already exists in namespace 'a'",
        "pick another name",
    );
}

#[test]
fn missing_device() {
    fails_at(
        "d.rhai",
        "let a = netns(\"a\");\n\na.addr(\"eth7\", \"10.0.0.1/24\");\n",
        "d.rhai:3:3",
        "there is no link 'eth7' in namespace 'a'",
        "links() lists the links",
    );
    fails_at(
        "d2.rhai",
        "let a = netns(\"a\");\nlet l = a.link(\"nope\");\n",
        "d2.rhai:2:",
        "there is no link 'nope'",
        "links()",
    );
}

#[test]
fn gateway_not_on_a_connected_subnet() {
    fails_at(
        "g.rhai",
        "let a = netns(\"a\");\na.route(\"default\", \"10.9.9.1\");\n",
        "g.rhai:2:3",
        "gateway 10.9.9.1 is not on any connected subnet",
        "address in the gateway's subnet",
    );
}

#[test]
fn bad_route_destination_and_options() {
    fails_at(
        "r.rhai",
        "let a = netns(\"a\");\na.route(\"10.2.0.1/16\", \"10.0.0.1\");\n",
        "r.rhai:2:",
        "has host bits set",
        "did you mean \"10.2.0.0/16\"",
    );
    fails_at(
        "r2.rhai",
        "let a = netns(\"a\");\na.route(\"10.2.0.0/16\", #{gw: \"10.0.0.1\"});\n",
        "r2.rhai:2:",
        "unknown route option 'gw'",
        "via, dev, metric, table, src, type and nexthops",
    );
}

#[test]
fn unknown_function_suggests_the_nearest() {
    fails_at(
        "u.rhai",
        "let a = netn(\"a\");\n",
        "u.rhai:1:9",
        "there is no function 'netn'",
        "did you mean `netns`?",
    );
}

#[test]
fn error_inside_a_function_points_into_it() {
    fails_at(
        "f.rhai",
        "fn mk(n) {\n    netns(n)\n}\nmk(\"x\");\nmk(\"x\");\n",
        "f.rhai:2:5",
        "namespace 'x' already exists",
        "in function 'mk'",
    );
}

#[test]
fn error_inside_an_imported_module_points_into_its_file() {
    let d = Dir::new();
    d.write(
        "parts.rhai",
        "fn build() {\n    let a = netns(\"a\");\n    a.addr(\"lo\", \"bad\");\n}\n",
    );
    d.write(
        "main.rhai",
        "import \"./parts\" as parts;\nparts::build();\n",
    );
    let o = nslab(&["run", "--isolated", "main.rhai"], d.path());
    assert_report(
        &o,
        "parts.rhai:3:",
        "'bad' is not a valid address",
        "ADDRESS/PREFIX",
    );
}

#[test]
fn a_throw_in_the_script_is_reported_at_its_line() {
    fails_at(
        "th.rhai",
        "let x = 1;\nthrow \"custom failure\";\n",
        "th.rhai:2:",
        "custom failure",
        "with `throw`",
    );
}

#[test]
fn missing_script_file_is_a_usage_error() {
    let d = Dir::new();
    let o = nslab(&["run", "--isolated", "nope.rhai"], d.path());
    o.fails_saying(2, &["cannot read nope.rhai", "help:"]);
}

#[test]
fn bad_firewall_rules_are_refused_before_the_kernel() {
    // Each bad rule follows a good one: the report points at the bad call
    // (checked in full before nft runs), and the script stops there.
    let cases = [
        (
            "ns.drop(#{chain: \"prerouting\"});",
            "unknown chain 'prerouting'",
            "\"input\", \"forward\" and \"output\"",
        ),
        (
            "ns.accept(#{proto: \"tcp\", dport: 70000});",
            "dport 70000 is out of range",
            "ports are 1..=65535",
        ),
        (
            "ns.accept(#{proto: \"icmpx\"});",
            "unknown protocol 'icmpx'",
            "\"tcp\", \"udp\", \"icmp\" or \"icmpv6\"",
        ),
        (
            "masquerade(ns, \"10.0.0/24\", \"uplink\");",
            "'10.0.0/24' is not a valid address or subnet",
            "\"10.0.0.0/24\"",
        ),
        (
            "ns.drop(#{saddr: \"10.1.2.3/33\"});",
            "not a valid address or subnet for saddr",
            "CIDR form",
        ),
        (
            "ns.policy(\"input\", \"reject\");",
            "unknown policy 'reject'",
            "\"accept\" or \"drop\"",
        ),
        (
            "ns.accept(#{dport: 80});",
            "a port needs a protocol with ports",
            "proto: \"tcp\"",
        ),
    ];
    for (i, (call, message, help)) in cases.iter().enumerate() {
        let name = format!("fw{i}.rhai");
        let o = fails_at(
            &name,
            &format!(
                "let ns = netns(\"a\");\nns.accept(#{{proto: \"tcp\", dport: 1}});\n{call}\nprint(\"not reached\");\n"
            ),
            &format!("{name}:3:"),
            message,
            help,
        );
        o.lacks(&["not reached"]);
    }
}

#[test]
fn a_shell_without_a_terminal_is_a_clear_error() {
    fails_at(
        "sh.rhai",
        "let ns = netns(\"a\");\nns.shell();\n",
        "sh.rhai:2:",
        "ns.shell() needs a terminal",
        "use ns.exec(\"cmd\") instead",
    );
}

#[test]
fn names_with_a_percent_are_refused() {
    // The kernel would read "%d" as "pick a number" and name the link
    // itself (hbr0), which teardown would then not find.
    fails_at(
        "pc.rhai",
        "let a = netns(\"a\");\nbridge(host(), \"hbr%d\");\n",
        "pc.rhai:2:1",
        "'hbr%d' is not a valid interface name: it contains '%'",
        "would choose the name itself",
    );
    fails_at(
        "pc2.rhai",
        "let a = netns(\"a\");\nlet b = netns(\"b\");\nveth(a, \"x%d\", b, \"y%d\");\n",
        "pc2.rhai:3:1",
        "'x%d' is not a valid interface name: it contains '%'",
        "would choose the name itself",
    );
    fails_at(
        "pc3.rhai",
        "let a = netns(\"a\");\nlet b = netns(\"b\");\nveth(a, \"x0\", b, \"y%d\");\n",
        "pc3.rhai:3:1",
        "'y%d' is not a valid interface name: it contains '%'",
        "would choose the name itself",
    );
}

#[test]
fn a_too_long_multibyte_name_gets_a_suggestion_that_fits() {
    // 9 two-byte characters: 18 bytes; the suggestion must be <= 15 bytes.
    fails_at(
        "mb.rhai",
        "bridge(host(), \"ééééééééé\");\n",
        "mb.rhai:1:1",
        "is 18 bytes long; Linux allows at most 15",
        "e.g. \"ééééééé\"",
    );
}

#[test]
fn a_script_importing_itself_is_an_error_at_the_import() {
    let o = fails_at(
        "me.rhai",
        "import \"./me\" as me;\nprint(\"not reached\");\n",
        "me.rhai:1:",
        "me.rhai imports itself",
        "cannot import itself",
    );
    assert!(!o.stderr.contains("overflow"), "{}", o.stderr);
}

#[test]
fn an_import_cycle_is_an_error_at_the_import_that_closes_it() {
    let d = Dir::new();
    d.write(
        "one.rhai",
        "import \"./two\" as two;\nprint(\"not reached\");\n",
    );
    d.write("two.rhai", "let x = 1;\nimport \"./one\" as one;\n");
    let o = nslab(&["run", "--isolated", "one.rhai"], d.path());
    assert_report(
        &o,
        "two.rhai:2:",
        "makes a cycle: one.rhai -> two.rhai -> one.rhai",
        "cannot import itself, directly or through others",
    );
    o.lacks(&["not reached"]);
    // A module imported twice without a cycle is fine.
    d.write("three.rhai", "fn f() { 3 }\n");
    d.write("four.rhai", "import \"./three\" as t;\nfn g() { t::f() }\n");
    d.write(
        "main.rhai",
        "import \"./three\" as t;\nimport \"./four\" as f;\nprint(t::f() + f::g());\n",
    );
    let o = nslab(&["run", "--isolated", "main.rhai"], d.path());
    o.assert_ok();
    assert!(o.stdout.contains('6'), "{}", o.all());
}

#[test]
fn a_bridge_cannot_be_its_own_port_or_a_port_of_a_bridge() {
    fails_at(
        "bs.rhai",
        "let a = netns(\"a\");\nlet br = bridge(a, \"br1\");\nbr.attach(br);\n",
        "bs.rhai:3:",
        "a bridge cannot be its own port",
        "attach other links",
    );
    // The kernel refuses with ELOOP ("Too many symbolic links").
    let o = fails_at(
        "bb.rhai",
        "let a = netns(\"a\");\nlet b1 = bridge(a, \"br1\");\nlet b2 = bridge(a, \"br2\");\nb1.attach(b2);\n",
        "bb.rhai:4:",
        "'br2' is a bridge, and a bridge cannot be a port of another bridge",
        "join two bridges with a veth",
    );
    assert!(!o.stderr.contains("symbolic links"), "{}", o.stderr);
    // Bridges the lab did not make take the other path through attach.
    fails_at(
        "bf.rhai",
        "let a = netns(\"a\");\na.exec(\"ip link add br1 type bridge; ip link add br2 type bridge\");\na.link(\"br1\").attach(a.link(\"br2\"));\n",
        "bf.rhai:3:",
        "a bridge cannot be a port of another bridge",
        "join two bridges with a veth",
    );
}

#[test]
fn a_second_default_route_names_the_one_that_is_there() {
    let o = fails_at(
        "dr.rhai",
        "let a = netns(\"a\");\nlet c = veth(a, \"x\", host(), \"y\");\nc[0].addr(\"10.0.0.1/24\");\na.route(\"default\", \"10.0.0.2\");\na.route(\"default\", \"10.0.0.3\");\n",
        "dr.rhai:5:",
        "cannot add route default via 10.0.0.3 in 'a': there is already a route default via 10.0.0.2 dev x",
        "another metric",
    );
    assert!(!o.stderr.contains("0.0.0.0/0"), "{}", o.stderr);
}

#[test]
fn masquerade_to_a_device_that_is_not_there() {
    let o = fails_at(
        "mq.rhai",
        "let a = netns(\"a\");\nmasquerade(a, \"10.0.0.0/24\", \"eth9\");\nprint(\"not reached\");\n",
        "mq.rhai:2:1",
        "there is no link 'eth9' in namespace 'a'",
        "links()",
    );
    o.lacks(&["not reached"]);
}

#[test]
fn a_sysctl_value_is_one_line() {
    fails_at(
        "sv.rhai",
        "let a = netns(\"a\");\na.sysctl(\"net.ipv4.ip_forward\", \"1\\nnet.ipv4.conf.all.rp_filter=2\");\n",
        "sv.rhai:2:",
        "is not a value for net.ipv4.ip_forward: a sysctl takes one line",
        "without newlines",
    );
    // Fields apart by a tab are one line.
    run_isolated(
        "tab.rhai",
        "let a = netns(\"a\");\na.sysctl(\"net.ipv4.ip_local_port_range\", \"32768\\t60999\");\n",
    )
    .assert_ok();
}
