//! Macvlans the kernel keeps apart (issue 23, items 1 and 2), on the real
//! kernel: a macvlan and its own lower link never talk; vepa macvlans meet
//! only through a bridge port in hairpin mode at the other end of the
//! lower link's cable; private ones never meet their siblings. Each lab
//! probes for real, checks explain's words, then applies the help and
//! checks that the probe passes.

use crate::common::*;

/// s has bridge br0 with port0, whose cable leads to p's eth0
/// (10.0.0.1/24): the lower link of the macvlans the tests add.
/// `fault(label, ns, dst)` prints the reason as `trace` draws it (read
/// from the kernel, no probe) and the failed `expect_reach`'s words with
/// its help, asked again (a few times at most) while another lab's load
/// makes the machine drop packets and the probe cannot tell (issue 23,
/// item 5). `reach(ns, dst)` is `expect_reach` (3 s: ARP asks again after
/// a second, and a request lost to those drops is asked again), tried
/// again the same way.
const LAN: &str = r#"fn fault(label, ns, dst) {
    let t = ns.trace(dst);
    print(`${label} DRAWS: ${t[t.len() - 1].why}`);
    let r = why(ns, dst);
    let n = 0;
    while r.contains("cannot tell") && n < 5 {
        r = why(ns, dst);
        n += 1;
    }
    print(`${label}: ${r}`);
}
fn reach(ns, dst) {
    let n = 0;
    loop {
        try {
            ns.expect_reach(dst, #{timeout_ms: 3000});
            return;
        } catch (e) {
            n += 1;
            if !e.message.contains("cannot tell") || n > 5 {
                throw e.message;
            }
        }
    }
}
let p = netns("p");
let s = netns("s");
let h1 = netns("h1");
let h2 = netns("h2");
let br = bridge(s, "br0");
let c = veth(p, "eth0", s, "port0");
br.attach(c[1]);
c[0].addr("10.0.0.1/24");
"#;

/// The lab's output as one line of words; the fixed lab must have passed.
fn lab(script: &str) -> String {
    let o = run_isolated(
        "mv.rhai",
        &[why(", #{timeout_ms: 500}").as_str(), LAN, script].concat(),
    );
    o.assert_ok();
    let t = o.words();
    assert!(
        t.contains("FIXED"),
        "the fixed lab did not pass:\n{}",
        o.all()
    );
    t
}

/// `label`'s reason, drawn by `trace`, is `reason`; the probe failed with
/// `from cannot reach dst: reason` and `help`, unless machine-wide drops
/// kept it from telling.
fn fault_says(t: &str, label: &str, lead: &str, reason: &str, help: &str) {
    says(t, &[&format!("{label} DRAWS: {reason}")]);
    let at = t
        .find(&format!("{label}: "))
        .unwrap_or_else(|| panic!("no {label} in:\n{t}"));
    let rest = &t[at..];
    if rest.starts_with(&format!("{label}: cannot tell whether")) {
        return;
    }
    says(
        rest,
        &[
            &format!("{label}: {lead}: {reason}"),
            &format!("HELP: {help}"),
        ],
    );
}

#[test]
fn a_lower_link_and_its_own_macvlan_are_said_to_never_talk() {
    let t = lab(r#"
macvlan(h1, "mv0", c[0]).addr("10.0.0.2/24");
fault("FAULT", p, "10.0.0.2");
fault("BACK", h1, "10.0.0.1");
// The help: the lower link's side gets a macvlan of its own.
p.run("ip addr del 10.0.0.1/24 dev eth0");
let m = macvlan(p, "mv-eth0", p.link("eth0"), #{mode: "bridge"});
m.addr("10.0.0.1/24");
reach(p, "10.0.0.2");
reach(h1, "10.0.0.1");
print("FIXED");
"#);
    let help = "give p a macvlan of its own on eth0, in bridge mode, and put 10.0.0.1/24 on it instead of on eth0: let m = macvlan(p, \"mv-eth0\", p.link(\"eth0\"), #{mode: \"bridge\"}); m.addr(\"10.0.0.1/24\"); or have the bridge send the frames back: s.link(\"br0\").attach(s.link(\"port0\"), #{hairpin: true})";
    let hairpin_off = "and the bridge port port0 of br0 in s at the other end of eth0's cable does not send frames back out the port they came in by (hairpin off)";
    fault_says(
        &t,
        "FAULT",
        "p cannot reach 10.0.0.2",
        &format!(
            "10.0.0.2 is on h1 mv0, a macvlan of p eth0 itself, and the kernel passes no frame between a macvlan and its own lower link: what eth0 sends leaves by its cable and never comes up into its macvlans, {hairpin_off}"
        ),
        help,
    );
    fault_says(
        &t,
        "BACK",
        "h1 cannot reach 10.0.0.1",
        &format!(
            "10.0.0.1 is on p eth0, the lower link of h1 mv0 itself, and the kernel passes no frame between a macvlan and its own lower link: what mv0 sends to eth0's address leaves by eth0's cable and never comes up into eth0, {hairpin_off}"
        ),
        help,
    );
    lacks(&t, &["exists nowhere", "connect it to that link"]);
}

#[test]
fn vepa_macvlans_behind_a_port_without_hairpin_name_it_and_meet_with_it() {
    let t = lab(r#"
macvlan(h1, "mv0", c[0], #{mode: "vepa"}).addr("10.0.0.2/24");
macvlan(h2, "mv0", c[0], #{mode: "vepa"}).addr("10.0.0.3/24");
fault("FAULT", h1, "10.0.0.3");
print("DRAWN: " + h1.trace("10.0.0.3").map(|x| x.ns + ":" + x.verdict));
print("PINGED: " + h1.ping("10.0.0.3", #{count: 1, timeout_ms: 500}).ok);
// The help.
br.attach(c[1], #{hairpin: true});
reach(h1, "10.0.0.3");
reach(h2, "10.0.0.2");
print("HOPS: " + h1.trace("10.0.0.3").map(|x| x.ns + ":" + x.verdict));
// Through the hairpin the lower link reaches them too.
reach(p, "10.0.0.2");
reach(h1, "10.0.0.1");
print("FIXED");
"#);
    fault_says(
        &t,
        "FAULT",
        "h1 cannot reach 10.0.0.3",
        "h1 mv0 (vepa mode) and h2 mv0 (vepa mode) are macvlans on p eth0: vepa mode sends every frame out eth0's cable, even one for a sibling (bridge mode passes frames only between bridge-mode siblings), so they meet only if the other end of the cable sends frames back the way they came, and the bridge port port0 of br0 in s at the other end of eth0's cable does not send frames back out the port they came in by (hairpin off)",
        "s.link(\"br0\").attach(s.link(\"port0\"), #{hairpin: true}); or make them in bridge mode: h1.link(\"mv0\").delete(); macvlan(h1, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.2/24\"); h2.link(\"mv0\").delete(); macvlan(h2, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.3/24\")",
    );
    says(
        &t,
        &[
            r#"DRAWN: ["h1:drop"]"#,
            "PINGED: false",
            r#"HOPS: ["h1:forward", "h2:deliver", "h2:forward", "h1:deliver"]"#,
        ],
    );
    lacks(&t, &["arp_ignore", "firewall"]);
}

#[test]
fn private_macvlans_do_not_meet_their_siblings_even_through_a_hairpin() {
    let t = lab(r#"
br.attach(c[1], #{hairpin: true});
macvlan(h1, "mv0", c[0], #{mode: "private"}).addr("10.0.0.2/24");
macvlan(h2, "mv0", c[0], #{mode: "vepa"}).addr("10.0.0.3/24");
fault("FAULT", h1, "10.0.0.3");
fault("OTHER", h2, "10.0.0.2");
// The lower link's frames come back to all of them.
reach(p, "10.0.0.2");
reach(p, "10.0.0.3");
// The help.
h1.link("mv0").delete();
macvlan(h1, "mv0", p.link("eth0"), #{mode: "bridge"}).addr("10.0.0.2/24");
reach(h1, "10.0.0.3");
reach(h2, "10.0.0.2");
print("FIXED");
"#);
    let help = "make it again in bridge mode (bridge-mode siblings talk directly): h1.link(\"mv0\").delete(); macvlan(h1, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.2/24\")";
    let why = "and h1 mv0 is in private mode: the kernel passes nothing between a private macvlan and its siblings, not even frames a hairpin port sends back";
    fault_says(
        &t,
        "FAULT",
        "h1 cannot reach 10.0.0.3",
        &format!("h1 mv0 (private mode) and h2 mv0 (vepa mode) are macvlans on p eth0, {why}"),
        help,
    );
    fault_says(
        &t,
        "OTHER",
        "h2 cannot reach 10.0.0.2",
        &format!("h2 mv0 (vepa mode) and h1 mv0 (private mode) are macvlans on p eth0, {why}"),
        help,
    );
}

#[test]
fn a_passthru_macvlan_and_its_lower_link_never_talk_even_through_a_hairpin() {
    let t = lab(r#"
br.attach(c[1], #{hairpin: true});
macvlan(h1, "mv0", c[0], #{mode: "passthru"}).addr("10.0.0.2/24");
fault("FAULT", p, "10.0.0.2");
// The help.
h1.link("mv0").delete();
macvlan(h1, "mv0", p.link("eth0"), #{mode: "bridge"}).addr("10.0.0.2/24");
p.run("ip addr del 10.0.0.1/24 dev eth0");
let m = macvlan(p, "mv-eth0", p.link("eth0"), #{mode: "bridge"});
m.addr("10.0.0.1/24");
reach(p, "10.0.0.2");
print("FIXED");
"#);
    fault_says(
        &t,
        "FAULT",
        "p cannot reach 10.0.0.2",
        "10.0.0.2 is on h1 mv0, a macvlan of p eth0 itself, and the kernel passes no frame between a macvlan and its own lower link: what eth0 sends leaves by its cable and never comes up into its macvlans; and mv0 is in passthru mode: it takes every frame that comes in on eth0, so eth0 hears nothing even from a hairpin port",
        "make h1 mv0 in bridge mode (it is passthru): h1.link(\"mv0\").delete(); macvlan(h1, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.2/24\"); then give p a macvlan of its own on eth0, in bridge mode, and put 10.0.0.1/24 on it instead of on eth0: let m = macvlan(p, \"mv-eth0\", p.link(\"eth0\"), #{mode: \"bridge\"}); m.addr(\"10.0.0.1/24\")",
    );
}
