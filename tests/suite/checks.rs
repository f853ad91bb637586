//! test("…", || …) checks and `nslab test`: one line per check, a summary,
//! the exit code, JUnit XML a real parser accepts, JSON lines.

use crate::common::*;

const LAB: &str = r#"
let a = netns("a");
let b = netns("b");
let c = veth(a, "ea", b, "eb");
c[0].addr("10.9.0.1/24");
c[1].addr("10.9.0.2/24");
test("a reaches b", || { if !a.ping("10.9.0.2", #{count: 1}).ok { throw "no answer"; } });
test("a reaches a stranger", || {
    if !a.ping("10.9.0.9", #{count: 1, timeout_ms: 200}).ok { throw "no answer from 10.9.0.9"; }
});
test("a command that fails", || { a.run("echo broken >&2; exit 2"); });
print("the script went on");
"#;

#[test]
fn nslab_test_reports_each_check_keeps_going_and_fails_the_run() {
    let d = Dir::new();
    d.write("lab.rhai", LAB);
    d.write("plain.rhai", "netns(\"x\");\n");
    let o = nslab(&["test", "--isolated", "lab.rhai", "plain.rhai"], d.path());
    let out = o.all();
    assert_eq!(o.code, 1, "{out}");
    o.says(&[
        "ok      lab.rhai: a reaches b",
        "FAILED  lab.rhai: a reaches a stranger (lab.rhai:8): no answer from 10.9.0.9",
    ]);
    o.because("the reason of a failed call is missing")
        .says(&["exited with code 2: broken"]);
    o.says(&[
        "the script went on",
        "ok      plain.rhai: (the lab script)",
        "2 passed, 2 failed",
    ]);
    o.because("a closure's internal name leaked")
        .all_lacks(&["anon$"]);

    let o = nslab(
        &["test", "--isolated", "--filter", "reaches b", "lab.rhai"],
        d.path(),
    );
    assert_eq!(o.code, 0, "{}", o.all());
    o.says(&["1 passed, 0 failed"]);
}

#[test]
fn nslab_run_runs_checks_where_they_stand() {
    let o = run_isolated("lab.rhai", LAB);
    assert_eq!(o.code, 1, "{}", o.all());
    o.says(&["ok      a reaches b", "the script went on"]);
    assert!(
        o.stderr.contains("1 check(s) passed, 2 failed"),
        "{}",
        o.stderr
    );
    assert_report(&o, "lab.rhai:9", "no answer from 10.9.0.9", "throw");
}

#[test]
fn junit_xml_is_read_by_a_real_parser_with_one_testcase_per_check() {
    let d = Dir::new();
    d.write("lab.rhai", LAB);
    let o = nslab(
        &["test", "--isolated", "--junit", "out.xml", "lab.rhai"],
        d.path(),
    );
    assert_eq!(o.code, 1, "{}", o.all());
    // Python's XML parser (installed for bench/ by .ci/run) as the witness.
    let py = tool("python3")
        .arg("-c")
        .arg(
            "import xml.etree.ElementTree as ET\n\
             r = ET.parse('out.xml').getroot()\n\
             cases = r.findall('./testsuite/testcase')\n\
             print('cases', len(cases), 'tests', r.get('tests'), 'failures', r.get('failures'))\n\
             for c in cases:\n\
             \x20   f = c.find('failure')\n\
             \x20   print(c.get('name'), '|', None if f is None else f.get('message'))\n",
        )
        .current_dir(d.path())
        .output()
        .expect("python3");
    let got = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert!(got.contains("cases 3 tests 3 failures 2"), "{got}");
    assert!(got.contains("a reaches b | None"), "{got}");
    assert!(
        got.contains("a reaches a stranger | no answer from 10.9.0.9"),
        "{got}"
    );
}

#[test]
fn json_gives_one_object_per_check() {
    let d = Dir::new();
    d.write("lab.rhai", LAB);
    let o = nslab(&["test", "--isolated", "--json", "lab.rhai"], d.path());
    let objs: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON object"))
        .collect();
    assert_eq!(objs.len(), 3, "{}", o.all());
    assert_eq!(objs[0]["test"], "a reaches b");
    assert_eq!(objs[0]["ok"], true);
    assert_eq!(objs[1]["ok"], false);
    assert_eq!(objs[1]["line"], 8);
    assert_eq!(objs[1]["reason"], "no answer from 10.9.0.9");
}

#[test]
fn a_directory_runs_every_script_in_it() {
    let d = Dir::new();
    d.write("one.rhai", "test(\"one\", || {});\n");
    d.write("two.rhai", "test(\"two\", || {});\n");
    d.write("notes.txt", "not a script\n");
    let o = nslab(&["test", "--isolated", "."], d.path());
    assert_eq!(o.code, 0, "{}", o.all());
    o.says(&["2 passed, 0 failed"]);
}
