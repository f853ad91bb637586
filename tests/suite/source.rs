//! #{src} on ping, probe, expect_reach, expect_blocked, connect and reach's
//! nodes: the probe leaves from that address, so the answer must come back
//! to it, and the explanation follows it there.

use crate::common::*;

/// a - r - b, each end with a loopback-like address on lo; r knows the way
/// to b's (10.255.0.2) but not to a's (10.255.0.1). Lines 1-11.
const LOOPS: &str = r#"let a = netns("a"); let r = netns("r"); let b = netns("b");
let ar = veth(a, "a0", r, "r0"); let rb = veth(r, "r1", b, "b0");
ar[0].addr("10.81.1.1/24"); ar[1].addr("10.81.1.254/24");
rb[0].addr("10.81.2.254/24"); rb[1].addr("10.81.2.1/24");
r.forwarding(true);
a.route("default", "10.81.1.254"); b.route("default", "10.81.2.254");
a.addr("lo", "10.255.0.1/32");
b.addr("lo", "10.255.0.2/32");
r.route("10.255.0.2/32", "10.81.2.1");
b.listen(80);
let quick = #{timeout_ms: 300};
"#;

#[test]
fn a_source_without_a_way_back_fails_and_the_explanation_names_it() {
    let o = run_ok(
        "src.rhai",
        &format!(
            r#"{LOOPS}
if !a.ping("10.255.0.2").ok {{ throw "the default source should work"; }}
let p = a.ping("10.255.0.2", #{{src: "10.255.0.1", count: 1, timeout_ms: 300}});
if p.ok {{ throw "a source without a way back answered"; }}
print(`ping: ${{p.why}}`);
let pr = a.probe("10.255.0.2", #{{src: "10.255.0.1", timeout_ms: 300}});
print(`probe: ${{pr.ok}} ${{pr.help}}`);
if !a.connect("10.255.0.2", 80) {{ throw "connect from the default source failed"; }}
print(`connect from src: ${{a.connect("10.255.0.2", #{{port: 80, src: "10.255.0.1", timeout_ms: 300}})}}`);
try {{
    a.expect_reach("10.255.0.2", #{{src: "10.255.0.1", port: 80, timeout_ms: 300}});
    throw "expect_reach passed";
}} catch (e) {{ print(`expect_reach: ${{e.message}}`); }}
a.expect_blocked("10.255.0.2", #{{src: "10.255.0.1", timeout_ms: 300}});
for f in reach([#{{ns: a, src: "10.255.0.1"}}, #{{ns: b, src: "10.255.0.2"}}], quick).failed {{
    print(`reach ${{f.from}} -> ${{f.to}}: ${{f.why}}`);
}}
// The way back: now every probe from the loopback gets through.
r.route("10.255.0.1/32", "10.81.1.1");
a.expect_reach("10.255.0.2", #{{src: "10.255.0.1"}});
a.expect_reach("10.255.0.2", #{{src: "10.255.0.1", proto: "tcp", port: 80}});
if !a.connect("10.255.0.2", #{{port: 80, src: "10.255.0.1"}}) {{ throw "connect from src failed"; }}
if !a.ping("10.255.0.2", #{{src: "10.255.0.1"}}).ok {{ throw "ping from src failed"; }}
let all = reach([#{{ns: a, src: "10.255.0.1"}}, #{{ns: b, src: "10.255.0.2"}}]);
print(all);
if !all.ok {{ throw "reach loopback to loopback failed"; }}
"#
        ),
    );
    o.says(&[
        "ping: the request gets there, but the reply is lost: r has no route back to 10.255.0.1",
        "probe: false r.route(\"10.255.0.1/32\", \"10.81.1.1\")",
        "connect from src: false",
        "expect_reach: a cannot reach 10.255.0.2 on tcp port 80: the request gets there, but the reply is lost: r has no route back to 10.255.0.1",
        "reach a -> b: the request gets there, but the reply is lost: r has no route back to 10.255.0.1",
        "reach b -> a: r has no route to 10.255.0.1",
        "0% dropped (2/2 received)",
    ]);
}

#[test]
fn expect_blocked_from_a_source_that_gets_through_fails() {
    fails_at(
        "srcb.rhai",
        &format!(
            "{LOOPS}r.route(\"10.255.0.1/32\", \"10.81.1.1\");\na.expect_blocked(\"10.255.0.2\", #{{src: \"10.255.0.1\"}});\n"
        ),
        "srcb.rhai:13",
        "a reaches 10.255.0.2",
        "drop",
    );
}

#[test]
fn a_source_that_is_not_the_namespaces_is_an_error_listing_its_addresses() {
    for (call, line) in [
        ("a.ping(\"10.255.0.2\", #{src: \"10.255.0.9\"});", 12),
        (
            "a.expect_reach(\"10.255.0.2\", #{src: \"10.255.0.9\"});",
            12,
        ),
        ("a.probe(\"10.255.0.2\", #{src: \"10.255.0.9\"});", 12),
        (
            "a.connect(\"10.255.0.2\", #{port: 80, src: \"10.255.0.9\"});",
            12,
        ),
        ("reach([#{ns: a, src: \"10.255.0.9\"}, b]);", 12),
    ] {
        fails_at(
            "srcx.rhai",
            &format!("{LOOPS}{call}\n"),
            &format!("srcx.rhai:{line}"),
            "src 10.255.0.9 is not an address of namespace 'a'",
            "its addresses are 10.255.0.1 (lo), 10.81.1.1 (a0): use one of them, or add 10.255.0.9 first",
        );
    }
    fails_at(
        "srcf.rhai",
        &format!("{LOOPS}a.ping(\"10.255.0.2\", #{{src: \"fd00::1\"}});\n"),
        "srcf.rhai:12",
        "source fd00::1 and destination 10.255.0.2 are not of one family",
        "IPv4 source",
    );
}
