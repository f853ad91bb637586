//! Issue 21 ("The first hour"), items 3, 4, 6, 19 and 20: what the command
//! line and the REPL print.

use std::process::{Command, Stdio};

use crate::common::*;

/// Item 19: a closed stderr (`nslab run bad.rhai 2>&1 | head -c 10`) is not
/// a crash: the run ends with the code it would have had, 1 for a bad
/// script, not 101 (a panic).
#[test]
fn a_closed_stderr_is_not_a_crash() {
    let d = Dir::new();
    d.write("bad.rhai", "let a = netns(\"a\");\na.nope();\n");
    let (reader, writer) = std::io::pipe().expect("pipe");
    // Nobody reads: every write to stderr fails with EPIPE.
    drop(reader);
    let o = Command::new(bin())
        .args(["run", "--isolated", "bad.rhai"])
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .expect("run nslab");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

/// Item 4: the REPL echoes every value of the API's own types as `print`
/// shows it: reach()'s value as its matrix (it was
/// `nslab::api::reach::Reach`), a spawned process as `Process(#1)`.
#[test]
fn the_repl_echoes_values_as_print_shows_them() {
    let o = repl_piped(
        &Dir::new(),
        "let a = netns(\"a\"); let b = netns(\"b\");\n\
         let l = veth(a, \"ea\", b, \"eb\");\n\
         l[0].addr(\"10.9.0.1/24\"); l[1].addr(\"10.9.0.2/24\");\n\
         let r = reach([a, b]);\n\
         r\n\
         print(\"--\");\n\
         print(r);\n\
         print(\"--\");\n\
         let p = a.spawn(\"sleep 30\");\n\
         p\n\
         print(p);\n\
         [p]\n",
    );
    o.assert_ok().all_lacks(&["nslab::api"]);
    let parts: Vec<&str> = o.stdout.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{}", o.stdout);
    let (echoed, printed, process) = (parts[0], parts[1], parts[2]);
    says(printed, &["a -> b"]);
    assert!(
        echoed.ends_with(printed),
        "the echo of r is not what print(r) shows:\n{}",
        o.stdout
    );
    says(process, &["Process(#1)\nProcess(#1)\n[Process(#1)]\n"]);
}

/// Item 20: control bytes in a journal's file name are shown escaped by
/// `nslab ls` and `nslab down --all` (as `nslab plan` writes them: `\n`,
/// `\u{1b}`), so a planted file cannot rewrite the terminal; `ls --json`
/// stays valid JSON and keeps the name.
#[test]
fn control_bytes_in_journal_names_are_escaped() {
    let d = Dir::new();
    let o = private_host(
        &d,
        "mkdir -p /run/nslab && chmod 755 /run/nslab\n\
         printf x > \"/run/nslab/$(printf 'evil\\033[2J\\nname')\".json\n\
         \"$NSLAB\" ls > ls.txt\n\
         \"$NSLAB\" ls --json > ls.json\n\
         \"$NSLAB\" down --all > down.txt 2>&1; echo \"down=$?\"\n",
    );
    o.assert_ok().says(&["down=1"]);
    for f in ["ls.txt", "down.txt"] {
        let text = d.read(f);
        assert!(!text.contains('\u{1b}'), "{f} holds a raw ESC:\n{text}");
        assert!(!text.contains("evil\n"), "{f} holds a raw newline:\n{text}");
        assert!(text.contains("evil\\u{1b}[2J\\nname"), "{f}:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&d.read("ls.json")).expect("ls --json is JSON");
    assert_eq!(json[0]["lab"], "evil\u{1b}[2J\nname", "{json}");
    assert_eq!(json[0]["state"], "refused", "{json}");
}

const CHATTY: &str = "print(\"building the lab\");\n\
    let a = netns(\"a\");\n\
    test(\"quiet pass\", || { print(\"said by the pass\"); });\n\
    test(\"loud fail\", || { print(\"said by the fail\"); debug(\"debugged\"); throw \"no answer\"; });\n";

/// Item 3: with --json, standard output is JSON lines only; what the script
/// printed is in each check's "output" (it came before or within it).
#[test]
fn test_json_keeps_stdout_json() {
    let d = Dir::new();
    d.write("chatty.rhai", CHATTY);
    let o = nslab(&["test", "--isolated", "--json", "chatty.rhai"], d.path());
    assert_eq!(o.code, 1, "{}", o.all());
    let lines: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout line {l:?} is not JSON ({e}):\n{}", o.stdout))
        })
        .collect();
    assert_eq!(lines.len(), 2, "{}", o.stdout);
    assert_eq!(lines[0]["test"], "quiet pass");
    assert_eq!(lines[0]["output"], "building the lab\nsaid by the pass\n");
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[1]["output"], "said by the fail\n\"debugged\"\n");
}

/// Item 3: without flags, only a failed check's output is shown (under its
/// line); -v shows every check's; --junit puts it in each case's system-out
/// and keeps it off stdout.
#[test]
fn test_shows_output_of_failed_checks_unless_verbose() {
    let d = Dir::new();
    d.write("chatty.rhai", CHATTY);
    let o = nslab(&["test", "--isolated", "chatty.rhai"], d.path());
    assert_eq!(o.code, 1, "{}", o.all());
    // (stderr's report quotes the script's source, print lines included)
    assert!(!o.stdout.contains("said by the pass"), "{}", o.all());
    assert!(
        o.stdout.contains(
            "FAILED  chatty.rhai: loud fail (chatty.rhai:4): no answer\n    said by the fail\n"
        ),
        "{}",
        o.stdout
    );

    let o = nslab(&["test", "--isolated", "-v", "chatty.rhai"], d.path());
    assert!(
        o.stdout.contains(
            "ok      chatty.rhai: quiet pass\n    building the lab\n    said by the pass\n"
        ),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("    said by the fail\n"), "{}", o.stdout);

    let o = nslab(
        &["test", "--isolated", "--junit", "out.xml", "chatty.rhai"],
        d.path(),
    );
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(!o.stdout.contains("said by the pass"), "{}", o.stdout);
    let xml = std::fs::read_to_string(d.path().join("out.xml")).expect("junit file");
    assert!(
        xml.contains("<system-out>building the lab\nsaid by the pass\n</system-out>"),
        "{xml}"
    );
}

/// Item 6: root running a script from a terminal without `--isolated`
/// builds on the machine's own network; nslab says so once, before the
/// lab's first change. Not with `--isolated`, and not when stderr is a pipe
/// (a CI log learns nothing from it). In a private host: its "machine" is
/// private, but nslab cannot tell and must say it all the same.
#[test]
fn host_mode_from_a_terminal_says_so_once() {
    const LINE: &str =
        "building on this machine's network (host mode); --isolated keeps it private";
    let d = Dir::with(&[(
        "two.rhai",
        "let a = netns(\"a\");\nlet b = netns(\"b\");\nprint(\"built\");\n",
    )]);
    // `script` (util-linux) gives nslab a terminal and copies it to stdout.
    let on_tty = |args: &str| {
        format!("script -qec \"$NSLAB run {args} $DIR/two.rhai\" /dev/null </dev/null")
    };
    let o = private_host(&d, &on_tty(""));
    o.assert_ok();
    o.says(&["built"]);
    assert_eq!(o.stdout.matches(LINE).count(), 1, "{}", o.stdout);
    assert!(
        o.stdout.find(LINE) < o.stdout.find("built"),
        "said after the build: {}",
        o.stdout
    );
    let o = private_host(&d, &on_tty("--isolated"));
    o.assert_ok();
    o.lacks(&[LINE]);
    let o = private_host(&d, "$NSLAB run $DIR/two.rhai");
    o.assert_ok();
    o.lacks(&[LINE]);
}
