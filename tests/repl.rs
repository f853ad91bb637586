//! The REPL, driven as a person uses it: through a pseudo-terminal, with
//! Tab, multi-line input, errors, help(), show(), save() and Ctrl-D.

mod common;
use common::*;
use rexpect::session::{PtySession, spawn_command};
use std::process::Command;

const PROMPT: &str = "nslab> ";

fn session(cmd: Command) -> PtySession {
    spawn_command(cmd, Some(20_000)).expect("start nslab repl in a pty")
}

fn repl(dir: &Dir, args: &[&str]) -> PtySession {
    let mut cmd = Command::new(bin());
    cmd.arg("repl")
        .args(args)
        .current_dir(dir.path())
        .env("NSLAB_HISTORY", dir.path().join("history"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    session(cmd)
}

/// Types `text` without Enter (e.g. ending in a Tab).
fn types(p: &mut PtySession, text: &str) {
    p.send(text).unwrap();
    p.flush().unwrap();
}

/// Sends a line, waits for `want` in what comes back, then for the next
/// prompt (rustyline drops what is typed before its prompt, like a shell).
fn says(p: &mut PtySession, line: &str, want: &str) {
    p.send_line(line).unwrap();
    if let Err(e) = p.exp_string(want) {
        panic!("after `{line}` expected `{want}`: {e}");
    }
    if want != PROMPT
        && let Err(e) = p.exp_string(PROMPT)
    {
        panic!("no prompt after `{line}`: {e}");
    }
}

#[test]
fn a_session_as_a_person_types_it() {
    let d = Dir::new();
    let mut p = repl(&d, &["--isolated"]);
    p.exp_string(PROMPT).unwrap();
    says(&mut p, "let a = netns(\"a\");", PROMPT);
    // A line's value is printed; variables persist.
    says(&mut p, "a.name", "\"a\"");
    // Tab completes a function name...
    types(&mut p, "bridg\t");
    p.exp_string("bridge").unwrap();
    says(&mut p, "(a, \"br0\");", "Link(\"br0\" in \"a\")");
    // ...and, inside a string, the names of the lab's links.
    types(&mut p, "let b = a.link(\"br\t");
    p.exp_string("br0").unwrap();
    says(&mut p, "\");", PROMPT);
    says(&mut p, "b.name", "\"br0\"");
    // An unfinished function continues on the next line.
    p.send_line("fn twice(x) {").unwrap();
    says(&mut p, "x * 2 }", PROMPT);
    says(&mut p, "twice(21)", "42");
    // An error is a report and the session goes on.
    says(&mut p, "veth(a, \"x\")", "help: veth is called as");
    says(&mut p, "a.name", "\"a\"");
    // A ping result reads as a summary.
    says(
        &mut p,
        "a.ping(\"127.0.0.1\")",
        "ping 127.0.0.1: 3/3 replies, 0% loss",
    );
    // Imports persist, and module names complete after `import "`.
    types(&mut p, "import \"to\t");
    p.exp_string("topo").unwrap();
    says(&mut p, "\" as topo;", PROMPT);
    says(&mut p, "let s = topo::star(#{hosts: 2});", PROMPT);
    says(&mut p, "s.ips", "[\"10.1.0.1\", \"10.1.0.2\"]");
    says(&mut p, "help(\"veth\")", "e.g. let ends = veth(");
    says(&mut p, "help()", "firewall:");
    p.send_line("show()").unwrap();
    for want in ["namespace a", "br0", "namespace h1", "p1 in sw"] {
        p.exp_string(want).unwrap();
    }
    p.exp_string(PROMPT).unwrap();
    let saved = d.path().join("lab.rhai");
    says(
        &mut p,
        &format!("save(\"{}\")", saved.display()),
        "saved to",
    );
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();

    // The saved session rebuilds the same lab.
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        !text.contains("veth(a, \"x\")"),
        "a failed line was saved:\n{text}"
    );
    assert!(!text.contains("show()"), "{text}");
    std::fs::write(
        &saved,
        format!(
            "{text}\nif twice(b.name.len()) != 6 {{ throw \"fn\"; }}\n\
             if !s.hosts[0].ping(s.ips[1]).ok {{ throw \"star\"; }}\nshow();\n"
        ),
    )
    .unwrap();
    let o = nslab(&["run", "--isolated", "lab.rhai"], d.path());
    o.assert_ok();
    assert!(
        o.stdout.contains("namespace a") && o.stdout.contains("br0"),
        "{}",
        o.all()
    );

    // History is kept in the file asked for.
    let hist = std::fs::read_to_string(d.path().join("history")).unwrap();
    assert!(hist.contains("twice(21)"), "{hist}");
}

#[test]
fn a_file_runs_first_and_its_variables_stay() {
    let d = Dir::new();
    d.write(
        "start.rhai",
        "let left = netns(\"left\");\nfn greet(n) { `hi ${n}` }\n",
    );
    let mut p = repl(&d, &["--isolated", "start.rhai"]);
    p.exp_string(PROMPT).unwrap();
    says(&mut p, "greet(left.name)", "\"hi left\"");
    // Ctrl-C clears the line being typed; Ctrl-C during a call stops it.
    types(&mut p, "this is not rhai");
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("left.ping(\"10.99.0.1\", #{count: 1000})")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    p.exp_string(PROMPT).unwrap();
    says(&mut p, "left.name", "\"left\"");
    p.send_line("exit").unwrap();
    p.exp_eof().unwrap();
}

/// In host mode (a private host here), leaving the REPL removes the lab:
/// by Ctrl-D, and by SIGTERM or SIGHUP while it waits at the prompt.
#[test]
fn leaving_tears_the_lab_down() {
    let d = Dir::new();
    let inner = "mount -t tmpfs tmpfs /run && mkdir -p /run/netns && ip link set lo up\n\
         sh -c 'echo PID=$$; exec \"$NSLAB\" repl'; echo code=$?\n\
         echo netns=$(ls /run/netns | wc -l) links=$(ip -o link | grep -c lab0)\n";
    for how in ["ctrl-d", "sigterm", "sighup"] {
        let mut cmd = private_host_command(inner);
        cmd.env("NSLAB_HISTORY", d.path().join("history"))
            .env("TERM", "xterm");
        let mut p = session(cmd);
        let (_, pid) = p.exp_regex("PID=[0-9]+").unwrap();
        let pid: i32 = pid.trim_start_matches("PID=").parse().unwrap();
        p.exp_string(PROMPT).unwrap();
        says(&mut p, "let n = netns(\"inner\");", PROMPT);
        says(
            &mut p,
            "veth(host(), \"lab0\", n, \"eth0\")",
            "Link(\"lab0\" in \"host\")",
        );
        says(&mut p, "netns_list()", "[\"inner\"]");
        if how == "ctrl-d" {
            p.send_control('d').unwrap();
            p.exp_string("code=0").unwrap();
        } else {
            let (sig, name, code) = if how == "sigterm" {
                (libc::SIGTERM, "SIGTERM", "code=143")
            } else {
                (libc::SIGHUP, "SIGHUP", "code=129")
            };
            // SAFETY: a plain kill(2) of the REPL this test started.
            unsafe {
                libc::kill(pid, sig);
            }
            p.exp_string(&format!("interrupted by {name}")).unwrap();
            p.exp_string(code).unwrap();
        }
        p.exp_string("netns=0 links=0").unwrap();
        p.exp_eof().unwrap();
    }
}

/// With its input a pipe that stays open (a script fed in by a program, a
/// CI step), SIGTERM ends the session and its lab at once, not when the
/// pipe's next line comes (here 15 s later: the session must be over while
/// that line is still to come).
#[test]
fn sigterm_ends_a_piped_session_while_it_waits_for_input() {
    let d = Dir::new();
    let o = private_host(
        &d,
        "mkfifo in\n\
         \"$NSLAB\" repl < in > out 2>&1 &\n\
         pid=$!\n\
         exec 3> in\n\
         ( sleep 15; echo 'print(\"late\")' >&3 ) > /dev/null 2>&1 &\n\
         w=$!\n\
         echo 'let n = netns(\"inner\"); veth(host(), \"lab0\", n, \"eth0\"); print(\"ready\");' >&3\n\
         i=0; until grep -q ready out || [ $i -gt 500 ]; do sleep 0.02; i=$((i+1)); done\n\
         kill -TERM $pid; wait $pid; echo code=$?\n\
         kill -0 $w 2>/dev/null && echo LINE_STILL_TO_COME\n\
         kill $w; exec 3>&-\n\
         cat out\n\
         echo netns=$(ls /run/netns | wc -l) links=$(ip -o link | grep -c lab0)\n",
    );
    let out = o.all();
    assert!(out.contains("ready"), "{out}");
    assert!(out.contains("interrupted by SIGTERM"), "{out}");
    assert!(out.contains("code=143"), "{out}");
    assert!(out.contains("LINE_STILL_TO_COME"), "{out}");
    assert!(
        !out.contains("late"),
        "ran a line that came after SIGTERM: {out}"
    );
    assert!(out.contains("netns=0 links=0"), "{out}");
}

/// save() writes over an earlier save, never over the user's own script.
#[test]
fn save_keeps_a_file_that_is_not_a_saved_session() {
    let d = Dir::new();
    d.write("own.rhai", "// my lab, by hand\nlet a = netns(\"a\");\n");
    let mut cmd = Command::new(bin());
    cmd.args(["repl", "--isolated"])
        .current_dir(d.path())
        .env("NSLAB_HISTORY", d.path().join("history"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped());
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start nslab repl");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                b"let b = netns(\"b\");\nsave(\"own.rhai\")\nsave(\"s.rhai\")\nsave(\"s.rhai\")\n",
            )
            .unwrap();
    }
    let o = out(child.wait_with_output().unwrap());
    let all = o.all();
    assert!(
        all.contains("save() will not overwrite own.rhai: it is not a saved session"),
        "{all}"
    );
    assert_eq!(all.matches("saved to s.rhai").count(), 2, "{all}");
    let own = std::fs::read_to_string(d.path().join("own.rhai")).unwrap();
    assert!(own.starts_with("// my lab, by hand"), "{own}");
}
