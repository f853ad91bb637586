//! One script session: every command that runs a script says the same
//! things about how it ended (a failed check, an unread `--set`).

use crate::common::*;

const FAILING_CHECK: &str = r#"
let a = netns("a");
test("a is there", || {});
test("a has a route it lacks", || { throw "no route to 10.9.9.9"; });
"#;

#[test]
fn graph_of_a_script_whose_check_fails_exits_1_and_names_the_check() {
    let d = Dir::new();
    d.write("lab.rhai", FAILING_CHECK);
    let o = nslab(&["graph", "lab.rhai", "--format", "dot"], d.path());
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr.contains("check 'a has a route it lacks' failed:"),
        "{}",
        o.all()
    );
    assert!(o.stderr.contains("no route to 10.9.9.9"), "{}", o.all());
    assert!(
        o.stderr.contains("1 check(s) passed, 1 failed"),
        "{}",
        o.all()
    );
    // Drawn all the same (issue 21 item 5), saying which check failed.
    assert!(
        o.stdout.contains("graph \"lab\"")
            && o.stdout
                .contains("check 'a has a route it lacks' failed at line 4"),
        "{}",
        o.all()
    );
}

#[test]
fn graph_of_a_script_whose_checks_pass_draws_it() {
    let d = Dir::new();
    d.write(
        "lab.rhai",
        "let a = netns(\"a\");\ntest(\"fine\", || {});\n",
    );
    let o = nslab(&["graph", "lab.rhai", "--format", "dot"], d.path());
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("graph \"lab\""), "{}", o.all());
}

const UNREAD: &str =
    "warning: --set colour=… was given but the script never reads param(\"colour\")";

#[test]
fn test_warns_about_a_set_the_script_never_reads_as_run_does() {
    let d = Dir::new();
    d.write(
        "lab.rhai",
        "let n = param(\"hosts\", 2);\ntest(\"fine\", || {});\n",
    );
    let args = ["--set", "hosts=3", "--set", "colour=red", "lab.rhai"];
    let mut test = vec!["test", "--isolated"];
    test.extend(args);
    let o = nslab(&test, d.path());
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stderr.contains(UNREAD), "{}", o.all());
    assert!(
        !o.stderr.contains("--set hosts"),
        "a --set the script reads is warned about:\n{}",
        o.all()
    );

    let mut run = vec!["run", "--isolated"];
    run.extend(args);
    let o = nslab(&run, d.path());
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stderr.contains(UNREAD), "{}", o.all());
}
