//! The first hour (issue 21), items 2 and 5: the explanation of a triangle
//! with a link cut and no route back, and `nslab graph` of a lab that
//! fails, with a link down, on a canvas that fits.

mod common;
use common::*;

/// h1 on r1's LAN; r1, r2, r3 in a triangle; r3's link to r1 cut and no
/// route back on r3: h1's ping of r3 (over r2) is lost on the way back.
#[test]
fn a_triangle_with_a_cut_link_and_no_route_back_is_explained_truly() {
    let o = run_isolated(
        "triangle.rhai",
        r#"
let h1 = netns("h1");
let r1 = netns("r1");
let r2 = netns("r2");
let r3 = netns("r3");
let lan = veth(h1, "eth0", r1, "lan");
let a = veth(r1, "to-r2", r2, "to-r1");
let b = veth(r1, "to-r3", r3, "to-r1");
let c = veth(r2, "to-r3", r3, "to-r2");
lan[0].addr("192.168.1.10/24");
lan[1].addr("192.168.1.1/24");
a[0].addr("10.0.12.1/24");
a[1].addr("10.0.12.2/24");
b[0].addr("10.0.13.1/24");
b[1].addr("10.0.13.3/24");
c[0].addr("10.0.23.2/24");
c[1].addr("10.0.23.3/24");
h1.route("default", "192.168.1.1");
r1.route("10.0.23.0/24", "10.0.12.2");
r2.route("192.168.1.0/24", "10.0.12.1");
r1.forwarding(true);
r2.forwarding(true);
r3.forwarding(true);
r3.link("to-r1").down();
try { h1.expect_reach("10.0.23.3"); print("REACHED"); }
catch (e) { print(`FAULT: ${e.message} HELP: ${e.help}`); }
"#,
    );
    o.assert_ok();
    let at = o
        .stdout
        .find("FAULT: ")
        .unwrap_or_else(|| panic!("no FAULT line:\n{}", o.all()));
    let text = o.stdout[at..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for w in [
        "r3 has no route back to 192.168.1.10",
        "its link to-r1 is down",
        "HELP: r3.route(\"192.168.1.0/24\", \"10.0.23.2\")",
    ] {
        assert!(text.contains(w), "expected '{w}' in:\n{text}");
    }
    // Neither a route through the dead link nor routes that never were.
    for w in ["10.0.13.1", "went with it", "r3.route(\"default\""] {
        assert!(!text.contains(w), "'{w}' in:\n{text}");
    }
}
