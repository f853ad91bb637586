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
