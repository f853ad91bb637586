//! Issue 21, "the first hour": the traps a new user fell into that are
//! diagnostics' to name (items 9, 10, 21) and /run/netns's mode (item 16).

use crate::common::*;

#[test]
fn a_rate_without_a_unit_is_refused_and_names_the_units() {
    for (rate, shown) in [
        ("10", "rate 10 has no unit"),
        ("\"64000\"", "rate '64000' has no unit"),
    ] {
        let script = format!(
            "let c = veth(netns(\"a\"), \"e0\", netns(\"b\"), \"e1\");\nc[0].shape(#{{rate: {rate}}});\n"
        );
        let o = fails_at("r.rhai", &script, "r.rhai:2", shown, "\"10mbit\"");
        says(&o.report_words(), &["megabytes/s"]);
    }
}

#[test]
fn a_bytes_per_second_rate_works_and_says_what_tc_makes_of_it() {
    let o = run_ok(
        "b.rhai",
        r#"let c = veth(netns("a"), "e0", netns("b"), "e1");
for i in 0..3 { c[0].shape(#{rate: "10Mbps"}); }
print(c[0].ns.exec("tc -j qdisc show dev e0").stdout);
c[0].shape(#{rate: "10mbit"});
"#,
    );
    // tc's reading: 10 megabytes/s (its JSON gives bytes/s).
    o.says(&["\"rate\":10000000"]);
    let line = "b.rhai:2: rate \"10Mbps\" is 10 megabytes/s = 80 Mbit/s as tc reads it; for megabits write \"10mbit\"";
    // Once for the loop, and not for the rate in bits.
    assert_eq!(o.stderr.matches(line).count(), 1, "{}", o.stderr);
    assert_eq!(o.stderr.matches("warning").count(), 1, "{}", o.stderr);
}

#[test]
fn a_fn_reading_a_script_variable_is_told_functions_do_not_see_them() {
    let o = fails_at(
        "f.rhai",
        "let sw = netns(\"sw\");\nfn attach(h) {\n    veth(h, \"e0\", sw, \"p0\");\n}\nattach(netns(\"a\"));\n",
        "f.rhai:3:19",
        "variable 'sw' is not defined",
        "a rhai `fn` does not see the script's variables",
    );
    let err = o.report_words();
    says(&err, &["`attach(sw, …)`", "closure"]);
    lacks(&err, &["define it first"]);
}

#[test]
fn a_method_typo_suggests_the_receiver_s_methods_first() {
    fails_at(
        "m.rhai",
        "let a = netns(\"a\");\nlet r = a.pi(\"10.0.0.1\");\n",
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
    let err = o.report_words();
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
        says(&err, &[at, what]);
    }
    says(
        &err,
        &[
            "closure",
            "c.rhai: 2 wrong argument count(s), 2 undefined variable(s)",
        ],
    );
    // Nothing else: closures, loop variables and `catch` define theirs.
    assert_eq!(err.matches("×").count(), 4, "{}", o.stderr);
}

#[test]
fn an_unterminated_string_points_at_its_opening_quote() {
    let d = Dir::with(&[
        (
            "s.rhai",
            "let a = netns(\"a\");\nlet note = `a string\nthat goes on\nto the end",
        ),
        ("t.rhai", "let a = 1;\nprint(\"hello);\n"),
    ]);
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
    // In a private host, whose /run/netns is taken away first: nslab makes
    // it, under a umask that would leave it writable by all.
    in_private_host(
        &[("n.rhai", "let a = netns(\"a\");\n")],
        "rmdir /run/netns && umask 000 && \"$NSLAB\" run n.rhai && stat -c 'mode=%a' /run/netns",
    )
    .assert_ok()
    .says(&["mode=755"]);
}
