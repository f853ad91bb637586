//! /run/nslab/hostwide.state, the registry of host sysctls that labs
//! running at once hold together, is data read by root that names sysctls
//! to write back: it is checked as journals are (issue 21, item 18). A key
//! outside net., a value of more than one line, an unknown field, a link or
//! a FIFO in its place: the lab that would use it stops with an error that
//! names the file and says what to do, and neither the file nor the
//! sysctls are changed. Each test plants the file in a private host.

use crate::common::*;

/// A lab that sets a host sysctl (and builds a namespace first, so that
/// there is something to tear down).
const FWD: &str = "netns(\"n\");\nhost().forwarding(true);\n";

/// Plants `plant` (shell lines that make /run/nslab/hostwide.state), runs
/// FWD with forwarding off, and prints what became of the file and of
/// forwarding.
fn planted(plant: &str) -> Out {
    in_private_host(
        &[("fwd.rhai", FWD)],
        &format!(
            "echo 0 > /proc/sys/net/ipv4/ip_forward\nmkdir -p /run/nslab\n{plant}\n\
             ls -l /run/nslab/hostwide.state > file.before 2>&1; [ -f /run/nslab/hostwide.state ] && cat /run/nslab/hostwide.state >> file.before\n\
             snap > before\n\
             timeout -k 2 20 \"$NSLAB\" run fwd.rhai; echo run=$?\n\
             echo fwd=$(cat /proc/sys/net/ipv4/ip_forward)\n\
             ls -l /run/nslab/hostwide.state > file.after 2>&1; [ -f /run/nslab/hostwide.state ] && cat /run/nslab/hostwide.state >> file.after\n\
             cmp -s file.before file.after && echo FILE_UNCHANGED\n\
             no_trace\n"
        ),
    )
}

/// Text without its spaces and miette's frame: miette wraps a report's
/// lines anywhere (even inside a path).
fn squeezed(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '·'))
        .collect()
}

/// Asserts the report says each of `wants` (however it was wrapped).
fn reports(o: &Out, wants: &[&str]) {
    let all = squeezed(&o.all());
    for w in wants {
        assert!(all.contains(&squeezed(w)), "no '{w}' in:\n{}", o.all());
    }
}

/// The run failed at the sysctl's line with the error about the file.
fn refused(o: &Out, why: &str) {
    o.says(&["run=1", "fwd=0", "FILE_UNCHANGED"]);
    reports(
        o,
        &[
            "fwd.rhai:2",
            "refusing /run/nslab/hostwide.state",
            why,
            "help:",
            "remove it by hand (rm /run/nslab/hostwide.state)",
        ],
    );
    o.all_lacks(&["Too many symbolic links", "panicked", "please report it"]);
    assert_no_trace(o, "SAME");
}

#[test]
fn a_key_outside_net_is_not_carried_forward() {
    let o = planted(
        r#"printf '%s' '{"keys":{"kernel.hostname":{"original":"x","set":"y","holders":["A/00112233aabbccdd"]}}}' > /run/nslab/hostwide.state"#,
    );
    refused(&o, "'kernel.hostname' is not a network sysctl");
}

#[test]
fn a_value_of_two_lines_is_not_written_back() {
    let o = planted(
        r#"printf '%s' '{"keys":{"net.ipv4.ip_forward":{"original":"1\n2","set":"1","holders":["A/00112233aabbccdd"]}}}' > /run/nslab/hostwide.state"#,
    );
    refused(&o, "a sysctl takes one line");
}

#[test]
fn a_field_nslab_does_not_write_is_refused() {
    let o =
        planted(r#"printf '%s' '{"keys":{},"hook":"sh -c reboot"}' > /run/nslab/hostwide.state"#);
    refused(&o, "unknown field `hook`");
}

#[test]
fn a_symlink_in_its_place_gets_a_clear_error() {
    let o = planted(
        "echo '{\"keys\":{}}' > elsewhere\nln -s \"$PWD/elsewhere\" /run/nslab/hostwide.state",
    );
    refused(&o, "it is a symbolic link");
}

#[test]
fn a_fifo_in_its_place_is_refused_without_waiting() {
    let o = planted("mkfifo /run/nslab/hostwide.state");
    refused(&o, "it is not a regular file");
}

/// `nslab down` of a lab that held the sysctl does not write back what the
/// file says when the file is not nslab's: it fails, naming the file, and
/// leaves the sysctl as it is.
#[test]
fn down_does_not_write_back_a_value_from_a_file_it_does_not_trust() {
    let o = in_private_host(
        &[],
        "echo 1 > /proc/sys/net/ipv4/ip_forward\nmkdir -p /run/nslab\n\
         printf '%s' '{\"keys\":{\"net.ipv4.ip_forward\":{\"original\":\"0\\n1\",\"set\":\"1\",\"holders\":[\"C/00112233aabbccdd\"]}}}' > /run/nslab/hostwide.state\n\
         cat > /run/nslab/C.json <<'EOF'\n\
         {\"lab\":\"C\",\"pid\":999999,\"start\":1,\"id\":\"00112233aabbccdd\",\"script\":\"x.rhai\",\"started\":1,\"isolated\":false}\n\
         {\"seq\":1,\"undo\":{\"op\":\"release_sysctl\",\"key\":\"net.ipv4.ip_forward\"}}\n\
         EOF\n\
         chmod 644 /run/nslab/C.json\n\
         \"$NSLAB\" down C; echo down=$?\n\
         echo fwd=$(cat /proc/sys/net/ipv4/ip_forward)\n\
         ls /run/nslab\n",
    );
    o.says(&["down=1", "fwd=1", "C.json"]);
    reports(
        &o,
        &[
            "refusing /run/nslab/hostwide.state",
            "a sysctl takes one line",
            "rm /run/nslab/hostwide.state",
        ],
    );
}
