//! One script session: every command that runs a script says the same
//! things about how it ended (a failed check, an unread `--set`).

use crate::common::*;

/// `nslab ARGS… lab.rhai` in a new directory where lab.rhai is `script`.
fn on_lab(script: &str, args: &[&str]) -> Out {
    let d = Dir::new();
    d.write("lab.rhai", script);
    nslab(&[args, &["lab.rhai"]].concat(), d.path())
}

#[test]
fn graph_of_a_script_whose_check_fails_exits_1_and_names_the_check() {
    let o = on_lab(
        r#"
let a = netns("a");
test("a is there", || {});
test("a has a route it lacks", || { throw "no route to 10.9.9.9"; });
"#,
        &["graph", "--format", "dot"],
    );
    assert_eq!(o.code, 1, "{}", o.all());
    says(
        &o.stderr,
        &[
            "check 'a has a route it lacks' failed:",
            "no route to 10.9.9.9",
            "1 check(s) passed, 1 failed",
        ],
    );
    // Drawn all the same (issue 21 item 5), saying which check failed.
    o.says(&[
        "graph \"lab\"",
        "check 'a has a route it lacks' failed at line 4",
    ]);
}

#[test]
fn graph_of_a_script_whose_checks_pass_draws_it() {
    let o = on_lab(
        "let a = netns(\"a\");\ntest(\"fine\", || {});\n",
        &["graph", "--format", "dot"],
    );
    o.assert_ok().says(&["graph \"lab\""]);
}

#[test]
fn test_warns_about_a_set_the_script_never_reads_as_run_does() {
    for cmd in ["test", "run"] {
        let o = on_lab(
            "let n = param(\"hosts\", 2);\ntest(\"fine\", || {});\n",
            &[cmd, "--isolated", "--set", "hosts=3", "--set", "colour=red"],
        );
        o.assert_ok();
        says(
            &o.stderr,
            &["warning: --set colour=… was given but the script never reads param(\"colour\")"],
        );
        // (A --set the script reads, warned about: checked of `test`.)
        if cmd == "test" {
            lacks(&o.stderr, &["--set hosts"]);
        }
    }
}
