//! rhai snippets several test files build their labs from.

/// A rhai `fn why(ns, dst)`: the error of a failing
/// `ns.expect_reach(dst{opts})` as "message / HELP: help", or "REACHED".
/// (It starts with a blank line, so that the script's line numbers are
/// those of the scripts that wrote it out.)
pub fn why(opts: &str) -> String {
    format!(
        "\nfn why(ns, dst) {{\n    let r = \"REACHED\";\n    \
         try {{ ns.expect_reach(dst{opts}); }} catch (e) {{ r = `${{e.message}}\nHELP: ${{e.help}}`; }}\n    \
         r\n}}\n"
    )
}

/// Namespaces a and b joined by one veth, va (10.61.0.1) - vb (10.61.0.2),
/// `c` the ends.
pub const PAIR: &str = r#"let a = netns("a");
let b = netns("b");
let c = veth(a, "va", b, "vb");
c[0].addr("10.61.0.1/24");
c[1].addr("10.61.0.2/24");
"#;

/// Three STP bridges in a ring, s1 - s2 - s3 - s1 (`sw[i]` is
/// #{ns, br}), bridge i+1 at `{subnet}.{i+1}/24`, the link from s(i+1) to
/// s(j+1) named `to{j+1}`.
pub fn stp_ring(subnet: &str) -> String {
    r#"
let sw = [];
for i in 1..=3 {
    let ns = netns(`s${i}`);
    let br = bridge(ns, "br0", #{stp: true, forward_delay_s: 2, hello_s: 1, max_age_s: 6});
    br.addr(`SUBNET.${i}/24`);
    sw.push(#{ns: ns, br: br});
}
for i in 0..3 {
    let j = (i + 1) % 3;
    let c = veth(sw[i].ns, `to${j + 1}`, sw[j].ns, `to${i + 1}`);
    sw[i].br.attach(c[0]);
    sw[j].br.attach(c[1]);
}
"#
    .replace("SUBNET", subnet)
}

/// A lab that makes namespace `ns`, prints "up" and waits a minute: for
/// tests that look at a running lab from outside, then stop it.
pub fn waiting_lab(ns: &str) -> String {
    format!("let a = netns(\"{ns}\");\nprint(\"up\");\nsleep(60);\n")
}
