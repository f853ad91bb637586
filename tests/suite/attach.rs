//! `nslab repl --attach LAB`: a REPL on a kept lab. Each test builds its lab
//! in a private host (own user, mount and network namespaces, nslab in host
//! mode), works on it through the REPL as a person would (a pseudo-terminal,
//! Ctrl-D), and looks at the result from outside with `ip`, `nft` and `ping`.

use crate::common::*;

/// The kept lab: two namespaces joined by a veth, and a firewall rule in a.
const KEPT: &str = "let a = netns(\"a\");\nlet b = netns(\"b\");\n\
    let c = veth(a, \"eth0\", b, \"eth0\");\n\
    c[0].addr(\"10.9.0.1/24\");\nc[1].addr(\"10.9.0.2/24\");\n\
    a.accept(#{proto: \"tcp\", dport: 22});\n";

/// The "done when": the session adds a namespace, a veth from it to
/// a namespace of the kept lab, a link on the host and a rule to the lab's
/// table; after Ctrl-D the old and the new parts are all there and work,
/// and `nslab down` removes all of it: the host is as before.
#[test]
fn a_session_adds_to_a_kept_lab_and_down_removes_all_of_it() {
    let d = Dir::new();
    d.write("kept.rhai", KEPT);
    let cmd = private_host_pty(
        &d,
        "snap > before\n\
         \"$NSLAB\" run --keep --name L kept.rhai; echo run=$?\n\
         \"$NSLAB\" repl --attach L; echo repl=$?\n\
         echo \"== after the session\"\n\
         ip netns list | sort | tr '\\n' ' '; echo\n\
         ip -n a -o addr show | grep -o 'inet [0-9./]*' | tr '\\n' ' '; echo\n\
         ip -n c -o link show up0 >/dev/null && echo C_UP0\n\
         ip -o link show att0 >/dev/null && echo HOST_ATT0\n\
         ip netns exec a ping -c 3 -i 0.2 -W 2 10.9.0.2 >/dev/null && echo OLD_PING\n\
         ip netns exec c ping -c 3 -i 0.2 -W 2 10.7.0.1 >/dev/null && echo NEW_PING\n\
         ip netns exec a nft list table inet nslab-L | grep -o 'tcp dport [0-9]* [a-z]*' | tr '\\n' ' '; echo\n\
         \"$NSLAB\" ls\n\
         \"$NSLAB\" down L; echo down=$?\n\
         no_trace before after CLEAN\n",
    );
    let mut p = Repl::spawn(cmd, 30_000);
    p.expect("run=0");
    p.expect("attached to kept lab 'L'");
    p.expect(PROMPT);
    // The kept lab's parts are there by name.
    p.says("lab().links", "Link(\"eth0\" in \"b\")");
    p.says(
        "netns(\"a\")",
        "namespace 'a' already exists: this lab made it earlier",
    );
    p.says("let a = ns(\"a\");", PROMPT);
    p.says("a.link(\"eth0\").name", "\"eth0\"");
    // The kept lab's veths show their peers (read from the kernel: the
    // session did not make them).
    p.says("show()", "eth0 in b");
    p.says(
        "ns(\"nope\")",
        "help: lab 'L' has a, b; netns(\"nope\") makes a new one",
    );
    // What the session builds: a namespace, a veth to the lab's a, a link
    // on the host, a rule in the lab's table in a.
    p.says("let c = netns(\"c\");", PROMPT);
    p.says("let v = veth(a, \"to-c\", c, \"to-a\");", PROMPT);
    p.says("v[0].addr(\"10.7.0.1/24\");", PROMPT);
    p.says("v[1].addr(\"10.7.0.2/24\");", PROMPT);
    p.says("veth(host(), \"att0\", c, \"up0\");", PROMPT);
    p.says("a.drop(#{proto: \"tcp\", dport: 9});", PROMPT);
    p.says("c.ping(\"10.7.0.1\").ok", "true");
    p.says("lab().namespaces", "Netns(\"c\")");
    // The session saved is what it added, to replay on the lab.
    p.says(
        "save(\"added.rhai\")",
        "replay it on kept lab 'L' with `nslab repl --attach L added.rhai`",
    );
    let rest = p.ctrl_d();
    let after = rest
        .split("== after the session")
        .nth(1)
        .unwrap_or_else(|| panic!("the shell did not go on after the session:\n{rest}"));
    let before_ls = rest.split("== after the session").next().unwrap_or("");
    assert!(
        before_ls.contains("lab 'L' is kept; remove it with `nslab down L`")
            && before_ls.contains("repl=0"),
        "Ctrl-D did not leave the lab kept:\n{rest}"
    );
    for want in [
        "a b c",
        "inet 10.9.0.1/24",
        "inet 10.7.0.1/24",
        "C_UP0",
        "HOST_ATT0",
        "OLD_PING",
        "NEW_PING",
        "tcp dport 22 accept tcp dport 9 drop",
        "kept",
        "down=0",
        "CLEAN",
    ] {
        assert!(
            after.contains(want),
            "no `{want}` after the session:\n{rest}"
        );
    }
    let saved = std::fs::read_to_string(d.path().join("added.rhai")).unwrap();
    assert!(
        saved.starts_with("// Saved from `nslab repl --attach L`")
            && saved.contains("let c = netns(\"c\");")
            && !saved.contains("ns(\"nope\")"),
        "{saved}"
    );
}

/// One session at a time: the second attach is refused, naming the first
/// one's pid, and so is `nslab down`; `ls` shows who holds the lab. Once the
/// first session ends (its input closes), down takes everything away.
#[test]
fn a_second_attach_is_refused_with_the_pid_of_the_first() {
    let o = in_private_host(
        &[("kept.rhai", KEPT)],
        "snap > before\n\
         \"$NSLAB\" run --keep --name L kept.rhai; echo run=$?\n\
         mkfifo in\n\
         \"$NSLAB\" repl --attach L < in > first.out 2>&1 &\n\
         first=$!\n\
         exec 3> in\n\
         wait_until \"$NSLAB ls | grep -q 'attached by pid'\" 10\n\
         echo first=$first\n\
         \"$NSLAB\" ls\n\
         \"$NSLAB\" repl --attach L < /dev/null; echo second=$?\n\
         \"$NSLAB\" down L; echo busy=$?\n\
         echo 'netns(\"x\");' >&3\n\
         exec 3>&-\n\
         wait $first; echo first_code=$?\n\
         cat first.out\n\
         ip netns list | grep -qx x && echo X_MADE\n\
         \"$NSLAB\" down L; echo down=$?\n\
         no_trace before after CLEAN\n",
    );
    let out = o.all();
    let pid = o.after("first=");
    o.because("ls does not show the session")
        .says(&[&format!("kept, attached by pid {pid}")]);
    let flat = words(&out);
    assert!(
        flat.contains(&format!(
            "lab 'L' is attached by another `nslab repl --attach` session (pid {pid})"
        )) && flat.contains("help: one session at a time"),
        "the second attach does not name the first:\n{out}"
    );
    o.says(&["second=1"]);
    assert!(
        flat.contains(&format!(
            "lab 'L' is attached by an `nslab repl --attach` session (pid {pid})"
        )) && o.stdout.contains("busy=1"),
        "down does not say the lab is attached:\n{out}"
    );
    for want in ["first_code=0", "X_MADE", "down=0", "CLEAN"] {
        assert!(o.stdout.contains(want), "no `{want}`:\n{out}");
    }
}

/// What cannot be attached says why and what to do instead: a lab that
/// does not exist, a running lab (not kept), one left behind by a crash
/// (not kept either), --isolated.
#[test]
fn what_cannot_be_attached_says_why() {
    let o = in_private_host(
        &[(
            "running.rhai",
            "netns(\"r0\");\nprint(\"ready\");\nhost().exec(\"sleep 30\");\n",
        )],
        "\"$NSLAB\" repl --attach nope < /dev/null; echo missing=$?\n\
         \"$NSLAB\" run --name R running.rhai > R.out 2>&1 &\n\
         pid=$!\n\
         wait_until 'grep -q ready R.out' 10\n\
         echo pid=$pid\n\
         \"$NSLAB\" repl --attach R < /dev/null; echo running=$?\n\
         kill -9 $pid; wait $pid\n\
         \"$NSLAB\" repl --attach R < /dev/null; echo abandoned=$?\n\
         \"$NSLAB\" down R; echo down=$?\n\
         \"$NSLAB\" repl --attach R --isolated < /dev/null; echo isolated=$?\n\
         ls /run/nslab\n",
    );
    let out = o.all();
    let flat = words(&out);
    assert!(
        flat.contains("there is no lab named 'nope'")
            && flat.contains(
                "help: `nslab ls` lists the labs; make a kept one with `nslab run --keep FILE`"
            )
            && o.stdout.contains("missing=1"),
        "{out}"
    );
    let pid = o.after("pid=");
    assert!(
        flat.contains(&format!(
            "lab 'R' is running (pid {pid}), not kept: only a kept lab can be attached"
        )) && flat.contains("run it with `nslab run --keep`")
            && o.stdout.contains("running=1"),
        "{out}"
    );
    assert!(
        flat.contains(&format!(
            "lab 'R' was not kept: it was left behind by pid {pid}, which is gone"
        )) && flat.contains("remove what is left of this one with `nslab down R`")
            && o.stdout.contains("abandoned=1")
            && o.stdout.contains("down=0"),
        "{out}"
    );
    assert!(
        flat.contains("--attach and --isolated do not go together")
            && flat.contains("an isolated lab cannot be kept")
            && o.stdout.contains("isolated=2"),
        "{out}"
    );
    o.all_lacks(&["panicked"]);
}

/// Kept labs are host-mode labs made as root: a user who is not root is
/// told so (nothing is looked at or changed).
#[test]
fn attach_needs_root() {
    let o = out(unprivileged(std::path::Path::new(bin()))
        .args(["repl", "--attach", "L"])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nslab"));
    o.fails_saying(1, &["nslab repl --attach needs root", "sudo"]);
}

/// A session killed with `kill -9` leaves a lab that is still kept, with
/// what the session made journaled (each step is written before its change):
/// the programs it started end with it, a new session can attach, and
/// `nslab down` removes the lab and the session's additions.
#[test]
fn a_killed_session_leaves_the_lab_kept_with_its_additions() {
    let o = in_private_host(
        &[("kept.rhai", KEPT)],
        "snap > before\n\
         \"$NSLAB\" run --keep --name L kept.rhai; echo run=$?\n\
         mkfifo in\n\
         \"$NSLAB\" repl --attach L < in > first.out 2>&1 &\n\
         first=$!\n\
         exec 3> in\n\
         echo 'let x = netns(\"x\"); veth(host(), \"hx0\", x, \"e0\"); x.spawn(\"sleep 7777\"); print(\"made\");' >&3\n\
         wait_until 'grep -q made first.out' 10\n\
         pgrep -x -f 'sleep 7777' >/dev/null && echo SLEEP_RAN\n\
         kill -9 $first; wait $first\n\
         exec 3>&-\n\
         wait_while \"pgrep -x -f 'sleep 7777'\" 10\n\
         pgrep -x -f 'sleep 7777' >/dev/null || echo SLEEP_GONE\n\
         \"$NSLAB\" ls\n\
         \"$NSLAB\" repl --attach L < /dev/null; echo again=$?\n\
         ip netns list | sort | tr '\\n' ' '; echo\n\
         ip -o link show hx0 >/dev/null && echo HOST_HX0\n\
         \"$NSLAB\" down L; echo down=$?\n\
         no_trace before after CLEAN\n",
    );
    let out = o.all();
    for want in [
        "run=0",
        "SLEEP_RAN",
        "SLEEP_GONE",
        "again=0",
        "a b x",
        "HOST_HX0",
        "down=0",
        "CLEAN",
    ] {
        assert!(o.stdout.contains(want), "no `{want}`:\n{out}");
    }
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with('L') && l.contains(" kept ")),
        "ls does not show the lab kept:\n{out}"
    );
}

/// ns() and lab() in a script: a namespace made earlier, by name, and the
/// lab's namespaces and links as handles that work.
#[test]
fn ns_and_lab_in_a_script() {
    let o = run_isolated(
        "parts.rhai",
        "netns(\"a\");\nlet b = netns(\"b\");\nlet c = veth(ns(\"a\"), \"e0\", b, \"e0\");\n\
         c[0].addr(\"10.8.0.1/24\");\nc[1].addr(\"10.8.0.2/24\");\n\
         let l = lab();\n\
         print(`${l.namespaces.map(|n| n.name)} ${l.links.map(|k| k.ns.name + \":\" + k.name)}`);\n\
         if !l.namespaces[1].ping(\"10.8.0.1\").ok { throw \"no ping\"; }\n\
         ns(\"zz\");\n",
    );
    o.says(&["[\"a\", \"b\"] [\"a:e0\", \"b:e0\"]"]);
    assert_report(
        &o,
        "parts.rhai:9",
        "namespace 'zz' is not part of lab 'parts'",
        "lab 'parts' has a, b; netns(\"zz\") makes a new one",
    );
}
