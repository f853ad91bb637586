//! Issue 21, "the first hour": the traps a new user fell into that are
//! diagnostics' to name (items 9, 10, 21) and /run/netns's mode (item 16).

use std::path::Path;

use crate::common::*;

/// The report read as one line of words (miette wraps long lines).
fn words(s: &str) -> String {
    s.replace("\n  │ ", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_rate_without_a_unit_is_refused_and_names_the_units() {
    for (rate, shown) in [
        ("10", "rate 10 has no unit"),
        ("\"64000\"", "rate '64000' has no unit"),
    ] {
        let o = run_isolated(
            "r.rhai",
            &format!(
                "let c = veth(netns(\"a\"), \"e0\", netns(\"b\"), \"e1\");\nc[0].shape(#{{rate: {rate}}});\n"
            ),
        );
        assert_report(&o, "r.rhai:2", shown, "\"10mbit\"");
        assert!(words(&o.stderr).contains("megabytes/s"), "{}", o.stderr);
    }
}

#[test]
fn a_bytes_per_second_rate_works_and_says_what_tc_makes_of_it() {
    let o = run_isolated(
        "b.rhai",
        r#"let c = veth(netns("a"), "e0", netns("b"), "e1");
for i in 0..3 { c[0].shape(#{rate: "10Mbps"}); }
print(c[0].ns.exec("tc -j qdisc show dev e0").stdout);
c[0].shape(#{rate: "10mbit"});
"#,
    );
    o.assert_ok();
    // tc's reading: 10 megabytes/s (its JSON gives bytes/s).
    assert!(o.stdout.contains("\"rate\":10000000"), "{}", o.stdout);
    let line = "b.rhai:2: rate \"10Mbps\" is 10 megabytes/s = 80 Mbit/s as tc reads it; for megabits write \"10mbit\"";
    // Once for the loop, and not for the rate in bits.
    assert_eq!(o.stderr.matches(line).count(), 1, "{}", o.stderr);
    assert_eq!(o.stderr.matches("warning").count(), 1, "{}", o.stderr);
}

#[test]
fn a_fn_reading_a_script_variable_is_told_functions_do_not_see_them() {
    let o = run_isolated(
        "f.rhai",
        "let sw = netns(\"sw\");\nfn attach(h) {\n    veth(h, \"e0\", sw, \"p0\");\n}\nattach(netns(\"a\"));\n",
    );
    assert_report(
        &o,
        "f.rhai:3:19",
        "variable 'sw' is not defined",
        "a rhai `fn` does not see the script's variables",
    );
    let err = words(&o.stderr);
    assert!(
        err.contains("`attach(sw, …)`") && err.contains("closure"),
        "{}",
        o.stderr
    );
    assert!(!err.contains("define it first"), "{}", o.stderr);
}

#[test]
fn a_method_typo_suggests_the_receiver_s_methods_first() {
    let o = run_isolated(
        "m.rhai",
        "let a = netns(\"a\");\nlet r = a.pi(\"10.0.0.1\");\n",
    );
    assert_report(
        &o,
        "m.rhai:2",
        "there is no function 'pi'",
        "did you mean `ping`?",
    );
}

#[test]
fn check_finds_wrong_argument_counts_and_undefined_variables() {
    let d = Dir::new();
    d.write(
        "c.rhai",
        r#"let sw = netns("sw");
fn attach(h) {
    veth(h, "e0", sw, "p0");
}
let a = netns("a");
a.ping();
veth(a, "x");
print(nope);
let f = |x| x + sw.name.len();
for (x, i) in [1, 2] { print(x + i); }
try { throw 1; } catch (e) { print(e); }
"#,
    );
    let o = nslab(&["check", "c.rhai"], d.path());
    assert_eq!(o.code, 1, "{}", o.all());
    let err = words(&o.stderr);
    for (at, what) in [
        ("c.rhai:3:19", "variable 'sw' is not defined here"),
        (
            "c.rhai:6:3",
            "method 'ping' is given 0 arguments (besides the value before the dot) here, and takes 1 or 2",
        ),
        (
            "c.rhai:7:1",
            "function 'veth' is given 2 arguments here, and takes 4",
        ),
        ("c.rhai:8:7", "variable 'nope' is not defined here"),
    ] {
        assert!(
            err.contains(at) && err.contains(what),
            "{what}:\n{}",
            o.stderr
        );
    }
    assert!(err.contains("closure"), "{}", o.stderr);
    assert!(
        err.contains("c.rhai: 2 wrong argument count(s), 2 undefined variable(s)"),
        "{}",
        o.stderr
    );
    // Nothing else: closures, loop variables and `catch` define theirs.
    assert_eq!(err.matches("×").count(), 4, "{}", o.stderr);
}

#[test]
fn check_of_every_script_and_recipe_still_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["scripts", "scripts/lib", "stdlib"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rhai") {
                let o = nslab(&["check", p.to_str().unwrap()], root);
                assert_eq!(o.code, 0, "{}:\n{}", p.display(), o.all());
            }
        }
    }
}

#[test]
fn an_unterminated_string_points_at_its_opening_quote() {
    let d = Dir::new();
    d.write(
        "s.rhai",
        "let a = netns(\"a\");\nlet note = `a string\nthat goes on\nto the end",
    );
    d.write("t.rhai", "let a = 1;\nprint(\"hello);\n");
    for args in [&["check", "s.rhai"][..], &["run", "--isolated", "s.rhai"]] {
        let o = nslab(args, d.path());
        assert_report(
            &o,
            "s.rhai:2:12",
            "the string opened at line 2, column 12 is never closed",
            "close it with ` on the line it starts (line 2)",
        );
    }
    let o = nslab(&["check", "t.rhai"], d.path());
    assert_report(
        &o,
        "t.rhai:2:7",
        "the string opened at line 2, column 7 is never closed",
        "close it with \"",
    );
}

#[test]
fn run_netns_is_made_0755_whatever_the_umask() {
    let d = Dir::new();
    d.write("n.rhai", "let a = netns(\"a\");\n");
    // A private /run (a tmpfs in a private mount namespace): the real
    // /run/netns is not touched.
    let o = out(private_host_command(
        "set -u\nmount -t tmpfs tmpfs /run && ip link set lo up && cd \"$DIR\" && umask 000 && \"$NSLAB\" run n.rhai && stat -c 'mode=%a' /run/netns",
    )
    .env("DIR", d.path())
    .output()
    .expect("run unshare (util-linux)"));
    o.assert_ok();
    assert!(o.stdout.contains("mode=755"), "{}", o.all());
}
