//! The first hour (issue 21), docs and hardening: the man page's own
//! sections (item 14), save() onto a FIFO (item 15), a lab started in a PID
//! namespace seen from outside it (item 17), and the Mininet-style recipes
//! topo::tree and topo::linear (item 12).

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn man_page_has_examples_exit_status_and_files() {
    let o = nslab(&["man"], Path::new("."));
    o.assert_ok();
    let text = groff_man(&o.stdout);
    for heading in ["EXAMPLES", "EXIT STATUS", "FILES"] {
        assert!(
            text.lines().any(|l| l == heading),
            "no {heading} section:\n{text}"
        );
    }
    // A section: the indented lines under its heading, up to the next one.
    let section = |name: &str| {
        let rest = text.split(&format!("\n{name}\n")).nth(1).unwrap_or("");
        rest.lines()
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let status = section("EXIT STATUS");
    for code in ["0", "1", "2", "129", "130", "143"] {
        assert!(
            status
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "exit status {code} missing:\n{status}"
        );
    }
    let files = section("FILES");
    for path in [
        "/run/nslab/LAB.json",
        "/run/nslab/hostwide.state",
        "/run/netns",
    ] {
        assert!(files.contains(path), "{path} missing:\n{files}");
    }
    assert!(
        section("EXAMPLES").contains("nslab run --isolated"),
        "{text}"
    );
}

/// save() onto a FIFO used to open it and wait for a reader for good
/// (SIGTERM did not end it): now it is refused at once, like any file that
/// is not a regular one, and the session goes on.
#[test]
fn save_onto_a_fifo_is_refused_at_once() {
    let d = Dir::new();
    let fifo = d.path().join("f.rhai");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let mut child = Command::new(bin())
        .args(["repl", "--isolated"])
        .current_dir(d.path())
        .env("NSLAB_HISTORY", d.path().join("history"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nslab repl");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"let b = netns(\"b\");\nsave(\"f.rhai\")\nsave(\"/dev/null\")\nsave(\"ok.rhai\")\n")
            .unwrap();
    }
    let started = Instant::now();
    let o = loop {
        if child.try_wait().unwrap().is_some() {
            break out(child.wait_with_output().unwrap());
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let o = out(child.wait_with_output().unwrap());
            panic!("save() onto a FIFO blocked:\n{}", o.all());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let all = o.all();
    for path in ["f.rhai", "/dev/null"] {
        assert!(
            all.contains(&format!(
                "save() will not write to {path}: it is not a regular file"
            )),
            "{all}"
        );
    }
    assert!(all.contains("saved to ok.rhai"), "{all}");
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(
        std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()),
        "the FIFO is still a FIFO"
    );
}

/// Runs `sh` in a private host beside lab.rhai, a `waiting_lab(ns)`;
/// returns all it printed.
fn waiting_lab_and(ns: &str, sh: &str) -> String {
    let d = Dir::with(&[("lab.rhai", &waiting_lab(ns))]);
    private_host(&d, sh).all()
}

/// A lab run under `unshare --pid --fork` is pid 1 of its namespace, and its
/// journal says so; from outside, pid 1 is the host's init. `ls` and `down`
/// name it by the pid the caller sees, and that pid ends it.
#[test]
fn a_lab_in_a_pid_namespace_is_named_by_the_callers_pid() {
    let all = waiting_lab_and(
        "pn-a",
        r#"unshare --pid --fork "$NSLAB" run --name pidlab lab.rhai > lab.out 2>&1 &
wait_until 'grep -q up lab.out' 10
"$NSLAB" ls > ls.out; cat ls.out
"$NSLAB" down pidlab; echo "down rc=$?"
pid=$(grep pidlab ls.out | sed -E 's/.*running, pid ([0-9]+).*/\1/')
echo "pid=$pid"
kill "$pid"
wait_while '[ -e /run/nslab/pidlab.json ]' 10
echo "after:"; "$NSLAB" ls; ls /run/netns
"#,
    );
    let pid = all
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(
        pid.parse::<u32>().is_ok_and(|p| p > 1),
        "ls named pid '{pid}':\n{all}"
    );
    assert!(
        all.contains(&format!("lab 'pidlab' is still running (pid {pid})"))
            && all.contains(&format!("`kill {pid}`")),
        "{all}"
    );
    assert!(all.contains("down rc=1"), "{all}");
    let after = &all[all.find("after:").unwrap()..];
    assert!(
        after.contains("no labs") && !after.contains("pn-a"),
        "{all}"
    );
}

/// The other way round: `ls` run inside a PID namespace cannot see the lab's
/// process at all, and says it runs in another PID namespace.
#[test]
fn a_lab_outside_the_callers_pid_namespace_is_said_to_be_elsewhere() {
    let all = waiting_lab_and(
        "pn-b",
        r#""$NSLAB" run --name outlab lab.rhai > lab.out 2>&1 &
lab=$!
wait_until 'grep -q up lab.out' 10
unshare --pid --fork --mount-proc "$NSLAB" ls
unshare --pid --fork --mount-proc "$NSLAB" down outlab; echo "down rc=$?"
kill $lab; wait $lab; echo "lab rc=$?"
"#,
    );
    assert!(all.contains("in another PID ns"), "{all}");
    assert!(
        all.contains("lab 'outlab' is still running, in another PID namespace"),
        "{all}"
    );
    assert!(
        all.contains("down rc=1") && all.contains("lab rc=143"),
        "{all}"
    );
}

/// Builds a recipe's lab (`call` makes `t`), checks every host reaches
/// every other, and returns what the script printed: the names and
/// addresses it made, the reach matrix, then `tail` (a rhai expression).
fn recipe_reaches(file: &str, call: &str, tail: &str) -> Out {
    let o = run_isolated(
        file,
        &format!(
            r#"import "topo" as topo;
let t = {call};
print(`switches ${{t.switches.map(|s| s.name)}} hosts ${{t.hosts.map(|h| h.name)}} ips ${{t.ips}}`);
let r = reach(t.hosts);
print(r);
if !r.ok {{ throw r.failed; }}
print({tail});
"#
        ),
    );
    o.assert_ok();
    o
}

#[test]
fn tree_hosts_reach_each_other() {
    recipe_reaches(
        "tree.rhai",
        r#"topo::tree(#{depth: 2, fanout: 2, subnet: "10.33.0.0/24"})"#,
        "`root ${t.root.name} bridges ${t.bridges.len()}`",
    )
    .all_says(&[
        r#"switches ["s1", "s2", "s3"] hosts ["h1", "h2", "h3", "h4"] ips ["10.33.0.1", "10.33.0.2", "10.33.0.3", "10.33.0.4"]"#,
        "(12/12 received)",
        "root s1 bridges 3",
    ]);
}

#[test]
fn linear_hosts_reach_each_other() {
    recipe_reaches(
        "linear.rhai",
        r#"topo::linear(#{switches: 3, hosts_per_switch: 1, subnet: "10.34.0.0/24"})"#,
        "`bridges ${t.bridges.len()}`",
    )
    .all_says(&[
        r#"switches ["s1", "s2", "s3"] hosts ["h1", "h2", "h3"] ips ["10.34.0.1", "10.34.0.2", "10.34.0.3"]"#,
        "(6/6 received)",
        "bridges 3",
    ]);
}

#[test]
fn tree_and_linear_refuse_bad_sizes_at_the_callers_line() {
    for (call, message) in [
        (
            "topo::tree(#{depth: 0})",
            "a tree needs a depth of 1 or more, not 0",
        ),
        (
            "topo::tree(#{fanout: 0})",
            "a tree needs a fanout of 1 to 1000, not 0",
        ),
        (
            "topo::linear(#{switches: 0})",
            "a linear topology needs 1 switch or more, not 0",
        ),
        (
            "topo::linear(#{hosts_per_switch: 0})",
            "hosts_per_switch must be 1 to 1000, not 0",
        ),
    ] {
        let o = run_isolated("bad.rhai", &format!("import \"topo\" as topo;\n{call};\n"));
        assert_eq!(o.code, 1, "{}", o.all());
        let err = o.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            err.contains(message) && err.contains("bad.rhai:2"),
            "{}",
            o.stderr
        );
    }
}
