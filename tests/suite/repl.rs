//! The REPL, driven as a person uses it: through a pseudo-terminal, with
//! Tab, multi-line input, errors, help(), show(), save() and Ctrl-D.

use crate::common::*;

#[test]
fn a_session_as_a_person_types_it() {
    let d = Dir::new();
    let mut p = Repl::nslab(&d, &["--isolated"]);
    p.expect(PROMPT);
    p.says("let a = netns(\"a\");", PROMPT);
    // A line's value is printed; variables persist.
    p.says("a.name", "\"a\"");
    // Tab completes a function name...
    p.types("bridg\t");
    p.expect("bridge");
    p.says("(a, \"br0\");", "Link(\"br0\" in \"a\")");
    // ...and, inside a string, the names of the lab's links.
    p.types("let b = a.link(\"br\t");
    p.expect("br0");
    p.says("\");", PROMPT);
    p.says("b.name", "\"br0\"");
    // An unfinished function continues on the next line.
    p.send_line("fn twice(x) {").unwrap();
    p.says("x * 2 }", PROMPT);
    p.says("twice(21)", "42");
    // An error is a report and the session goes on.
    p.says("veth(a, \"x\")", "help: veth is called as");
    p.says("a.name", "\"a\"");
    // A ping result reads as a summary.
    p.says(
        "a.ping(\"127.0.0.1\")",
        "ping 127.0.0.1: 3/3 replies, 0% loss",
    );
    // Imports persist, and module names complete after `import "`.
    p.types("import \"to\t");
    p.expect("topo");
    p.says("\" as topo;", PROMPT);
    p.says("let s = topo::star(#{hosts: 2});", PROMPT);
    p.says("s.ips", "[\"10.1.0.1\", \"10.1.0.2\"]");
    p.says("help(\"veth\")", "e.g. let ends = veth(");
    p.says("help()", "firewall:");
    p.send_line("show()").unwrap();
    for want in ["namespace a", "br0", "namespace h1", "p1 in sw"] {
        p.exp_string(want).unwrap();
    }
    p.expect(PROMPT);
    let saved = d.path().join("lab.rhai");
    p.says(&format!("save(\"{}\")", saved.display()), "saved to");
    p.ctrl_d();

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
    o.says(&["namespace a", "br0"]);

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
    let mut p = Repl::nslab(&d, &["--isolated", "start.rhai"]);
    p.expect(PROMPT);
    p.says("greet(left.name)", "\"hi left\"");
    // Ctrl-C clears the line being typed; Ctrl-C during a call stops it.
    p.types("this is not rhai");
    p.send_control('c').unwrap();
    p.expect(PROMPT);
    p.send_line("left.ping(\"10.99.0.1\", #{count: 1000})")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.send_control('c').unwrap();
    p.expect("interrupted");
    p.expect(PROMPT);
    p.says("left.name", "\"left\"");
    p.send_line("exit").unwrap();
    p.exp_eof().unwrap();
}

/// In host mode (a private host here), leaving the REPL removes the lab:
/// by Ctrl-D, and by SIGTERM or SIGHUP while it waits at the prompt.
#[test]
fn leaving_tears_the_lab_down() {
    let d = Dir::new();
    let inner = "sh -c 'echo PID=$$; exec \"$NSLAB\" repl'; echo code=$?\n\
         echo netns=$(ls /run/netns | wc -l) links=$(ip -o link | grep -c lab0)\n";
    for how in ["ctrl-d", "sigterm", "sighup"] {
        let mut p = Repl::spawn(private_host_pty(&d, inner), 20_000);
        let (_, pid) = p.exp_regex("PID=[0-9]+").unwrap();
        let pid: i32 = pid.trim_start_matches("PID=").parse().unwrap();
        p.expect(PROMPT);
        p.says("let n = netns(\"inner\");", PROMPT);
        p.says(
            "veth(host(), \"lab0\", n, \"eth0\")",
            "Link(\"lab0\" in \"host\")",
        );
        p.says("netns_list()", "[\"inner\"]");
        if how == "ctrl-d" {
            p.send_control('d').unwrap();
            p.expect("code=0");
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
        p.expect("netns=0 links=0");
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
         wait_until 'grep -q ready out' 10\n\
         kill -TERM $pid; wait $pid; echo code=$?\n\
         kill -0 $w 2>/dev/null && echo LINE_STILL_TO_COME\n\
         kill $w; exec 3>&-\n\
         cat out\n\
         echo netns=$(ls /run/netns | wc -l) links=$(ip -o link | grep -c lab0)\n",
    );
    o.all_says(&[
        "ready",
        "interrupted by SIGTERM",
        "code=143",
        "LINE_STILL_TO_COME",
    ]);
    o.because("ran a line that came after SIGTERM")
        .all_lacks(&["late"]);
    o.all_says(&["netns=0 links=0"]);
}

/// save() writes over an earlier save, never over the user's own script.
#[test]
fn save_keeps_a_file_that_is_not_a_saved_session() {
    let d = Dir::new();
    d.write("own.rhai", "// my lab, by hand\nlet a = netns(\"a\");\n");
    let o = repl_piped(
        &d,
        "let b = netns(\"b\");\nsave(\"own.rhai\")\nsave(\"s.rhai\")\nsave(\"s.rhai\")\n",
    );
    let all = o.all();
    o.all_says(&["save() will not overwrite own.rhai: it is not a saved session"]);
    assert_eq!(all.matches("saved to s.rhai").count(), 2, "{all}");
    let own = std::fs::read_to_string(d.path().join("own.rhai")).unwrap();
    assert!(own.starts_with("// my lab, by hand"), "{own}");
}

/// Namespaces made in a loop have no variable of their own: ns("h3")
/// hands them out by name and lab() lists them, and the REPL says so when
/// it starts (issue 21, item 12).
#[test]
fn namespaces_made_in_a_loop_are_there_by_name() {
    let d = Dir::new();
    let o = repl_piped(
        &d,
        "for i in 1..=3 { netns(`h${i}`); }\nlet x = ns(\"h3\");\nx.addr(\"lo\", \"10.9.9.3/32\");\nlab().namespaces\nns(\"h3\").addrs().len() > 1\n",
    );
    o.all_says(&[
        "namespaces made in a loop are there by name, ns(\"h3\"), and lab() lists them all",
        "[Netns(\"h1\"), Netns(\"h2\"), Netns(\"h3\")]",
        "true",
    ]);
    o.all_lacks(&["Error", "error"]);
}
