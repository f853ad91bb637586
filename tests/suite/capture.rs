//! Packet capture: link.capture() writes a pcap file that `tcpdump -r`
//! reads back, in isolated and rootless mode, and whatever ends the lab.

use crate::common::*;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `tcpdump -r FILE -n`: the packets, one line each (an independent reader
/// of the file).
fn tcpdump(file: &Path) -> Vec<String> {
    try_tcpdump(file).unwrap_or_else(|e| panic!("tcpdump -r failed: {e}"))
}

/// `tcpdump -r FILE -n`, or what it said when it could not read the file.
fn try_tcpdump(file: &Path) -> Result<Vec<String>, String> {
    let o = tool("tcpdump")
        .arg("-r")
        .arg(file)
        .arg("-n")
        .output()
        .expect("run tcpdump (Debian: apt install tcpdump)");
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() || !stderr.contains("link-type EN10MB (Ethernet)") {
        return Err(stderr.into_owned());
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// How many lines contain `what`.
fn count(lines: &[String], what: &str) -> usize {
    lines.iter().filter(|l| l.contains(what)).count()
}

const REQUEST: &str = "IP 10.61.0.1 > 10.61.0.2: ICMP echo request";
const REPLY: &str = "IP 10.61.0.2 > 10.61.0.1: ICMP echo reply";

fn run_in(d: &Dir, name: &str, text: &str) -> Out {
    d.write(name, text);
    nslab(&["run", "--isolated", name], d.path())
}

#[test]
fn a_ping_captured_in_isolated_mode_reads_back_with_tcpdump() {
    let d = Dir::new();
    let o = run_in(
        &d,
        "cap.rhai",
        &format!(
            r#"{PAIR}let cap = c[0].capture("ping.pcap");
let r = a.ping("10.61.0.2", #{{count: 3}});
if !r.ok {{ throw "no answer"; }}
cap.stop();
print(`packets=${{cap.packets}} file=${{cap.file}} running=${{cap.running}} dropped=${{cap.dropped}}`);
"#
        ),
    );
    o.assert_ok();
    let file = d.path().join("ping.pcap");
    let lines = tcpdump(&file);
    assert_eq!(count(&lines, REQUEST), 3, "{lines:#?}");
    assert_eq!(count(&lines, REPLY), 3, "{lines:#?}");
    // cap.packets is what the file holds; the path is absolute.
    let canon = std::fs::canonicalize(&file).unwrap();
    assert!(
        o.stdout.contains(&format!(
            "packets={} file={} running=false dropped=0",
            lines.len(),
            canon.display()
        )),
        "{}\n{lines:#?}",
        o.stdout
    );
}

#[test]
fn count_stops_a_capture_after_that_many_packets() {
    let d = Dir::new();
    let o = run_in(
        &d,
        "count.rhai",
        &format!(
            r#"{PAIR}let cap = c[1].capture("two.pcap", #{{count: 2}});
a.ping("10.61.0.2", #{{count: 3}});
cap.stop();
print(`packets=${{cap.packets}}`);
"#
        ),
    );
    o.assert_ok();
    let lines = tcpdump(&d.path().join("two.pcap"));
    // Three echoes and their replies (and ARP) crossed the link: only two
    // packets were written.
    assert_eq!(lines.len(), 2, "{lines:#?}");
    o.says(&["packets=2"]);
}

/// Reads a classic pcap file: (link type, [(incl_len, orig_len)]).
fn records(file: &Path) -> (u32, Vec<(u32, u32)>) {
    let b = std::fs::read(file).unwrap();
    let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 0xa1b2_c3d4, "not a pcap file in this byte order");
    let mut out = Vec::new();
    let mut i = 24;
    while i < b.len() {
        let (incl, orig) = (u32_at(i + 8), u32_at(i + 12));
        out.push((incl, orig));
        i += 16 + incl as usize;
    }
    assert_eq!(i, b.len(), "the last record is cut short");
    (u32_at(20), out)
}

#[test]
fn snaplen_cuts_packets_and_keeps_their_length() {
    let d = Dir::new();
    let o = run_in(
        &d,
        "snap.rhai",
        &format!(
            r#"{PAIR}let cap = c[0].capture("short.pcap", #{{snaplen: 60}});
a.ping("10.61.0.2", #{{count: 1}});
cap.stop();
"#
        ),
    );
    o.assert_ok();
    let file = d.path().join("short.pcap");
    let (linktype, recs) = records(&file);
    assert_eq!(linktype, 1);
    assert!(recs.iter().all(|(incl, _)| *incl <= 60), "{recs:?}");
    // An echo of 56 bytes of data is 98 bytes on Ethernet.
    assert!(
        recs.iter().filter(|r| **r == (60, 98)).count() >= 2,
        "{recs:?}"
    );
    let lines = tcpdump(&file);
    assert_eq!(count(&lines, REQUEST), 1, "{lines:#?}");
}

#[test]
fn loopback_packets_are_written_once() {
    // On lo each packet is both sent and received: tcpdump shows it once.
    let d = Dir::new();
    let o = run_in(
        &d,
        "lo.rhai",
        r#"let a = netns("a");
let cap = a.link("lo").capture("lo.pcap");
a.ping("127.0.0.1", #{count: 2});
cap.stop();
"#,
    );
    o.assert_ok();
    let lines = tcpdump(&d.path().join("lo.pcap"));
    assert_eq!(
        count(&lines, "IP 127.0.0.1 > 127.0.0.1: ICMP echo request"),
        2,
        "{lines:#?}"
    );
    assert_eq!(
        count(&lines, "IP 127.0.0.1 > 127.0.0.1: ICMP echo reply"),
        2,
        "{lines:#?}"
    );
}

#[test]
fn a_capture_never_stopped_is_complete_after_the_end_and_after_an_error() {
    let d = Dir::new();
    let o = run_in(
        &d,
        "end.rhai",
        &format!("{PAIR}c[0].capture(\"end.pcap\");\na.ping(\"10.61.0.2\", #{{count: 2}});\n"),
    );
    o.assert_ok();
    let lines = tcpdump(&d.path().join("end.pcap"));
    assert_eq!(count(&lines, REQUEST), 2, "{lines:#?}");
    assert_eq!(count(&lines, REPLY), 2, "{lines:#?}");
    let o = run_in(
        &d,
        "err.rhai",
        &format!(
            "{PAIR}c[0].capture(\"err.pcap\");\na.ping(\"10.61.0.2\", #{{count: 2}});\nthrow \"boom\";\n"
        ),
    );
    assert_eq!(o.code, 1, "{}", o.all());
    let lines = tcpdump(&d.path().join("err.pcap"));
    assert_eq!(count(&lines, REQUEST), 2, "{lines:#?}");
    assert_eq!(count(&lines, REPLY), 2, "{lines:#?}");
}

#[test]
fn sigterm_leaves_a_complete_capture() {
    let d = Dir::new();
    d.write(
        "term.rhai",
        &format!(
            "{PAIR}c[0].capture(\"term.pcap\");\na.ping(\"10.61.0.2\", #{{count: 2}});\nprint(\"ready\");\nsleep(60);\n"
        ),
    );
    let mut lab = start_ready(&d, &["run", "--isolated", "term.rhai"]);
    lab.signal(libc::SIGTERM);
    let status = lab
        .wait_exit()
        .unwrap_or_else(|| panic!("SIGTERM did not end the lab"));
    assert_eq!(status.code(), Some(143));
    let lines = tcpdump(&d.path().join("term.pcap"));
    assert_eq!(count(&lines, REQUEST), 2, "{lines:#?}");
    assert_eq!(count(&lines, REPLY), 2, "{lines:#?}");
}

#[test]
fn rootless_capture_belongs_to_the_user_who_ran_nslab() {
    use std::os::unix::fs::MetadataExt;
    // A directory that user may write.
    let user = as_nobody(0o777);
    let d = &user.dir;
    d.write(
        "rootless.rhai",
        &format!(
            "{PAIR}let cap = c[0].capture(\"mine.pcap\");\na.ping(\"10.61.0.2\", #{{count: 1}});\ncap.stop();\n"
        ),
    );
    let o = user.run(&["run", "rootless.rhai"]);
    o.assert_ok();
    assert!(o.stderr.contains("rootless"), "{}", o.stderr);
    let file = d.path().join("mine.pcap");
    let uid = if is_root() {
        65534
    } else {
        // SAFETY: getuid cannot fail.
        unsafe { libc::getuid() }
    };
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), uid);
    let lines = tcpdump(&file);
    assert_eq!(count(&lines, REQUEST), 1, "{lines:#?}");
    assert_eq!(count(&lines, REPLY), 1, "{lines:#?}");
}

#[test]
fn deleting_the_namespace_ends_its_capture_and_frees_it() {
    // The capture's socket would keep namespace a, and with it the veth to
    // b, alive: ns.delete() stops it first.
    let d = Dir::new();
    let o = run_in(
        &d,
        "del.rhai",
        &format!(
            r#"{PAIR}let cap = c[0].capture("del.pcap");
a.ping("10.61.0.2", #{{count: 1}});
a.delete();
print(`running=${{cap.running}}`);
print(`b has: ${{b.links().map(|l| l.name)}}`);
"#
        ),
    );
    o.assert_ok();
    o.says(&["running=false", r#"b has: ["lo"]"#]);
    let lines = tcpdump(&d.path().join("del.pcap"));
    assert_eq!(count(&lines, REPLY), 1, "{lines:#?}");
}

#[test]
fn a_bad_path_is_an_error_at_the_line() {
    let d = Dir::new();
    let o = run_in(
        &d,
        "nodir.rhai",
        &format!("{PAIR}c[0].capture(\"missing/x.pcap\");\n"),
    );
    assert_report(
        &o,
        "nodir.rhai:6",
        "directory",
        "create the directory first",
    );
    assert!(o.stderr.contains("does not exist"), "{}", o.stderr);
    let o = run_in(&d, "isdir.rhai", &format!("{PAIR}c[0].capture(\".\");\n"));
    assert_report(
        &o,
        "isdir.rhai:6",
        "it names a directory",
        "give a file name",
    );
    // The private /run of an isolated lab vanishes with it.
    let o = run_in(
        &d,
        "private.rhai",
        &format!("{PAIR}c[0].capture(\"/run/nslab/x.pcap\");\n"),
    );
    assert_report(
        &o,
        "private.rhai:6",
        "is private to this isolated lab",
        "write it somewhere else",
    );
    let o = run_in(
        &d,
        "opt.rhai",
        &format!("{PAIR}c[0].capture(\"x.pcap\", #{{snaplen: 0}});\n"),
    );
    assert_report(
        &o,
        "opt.rhai:6",
        "snaplen = 0 is out of range",
        "snaplen is 1..=262144",
    );
    let o = run_in(
        &d,
        "gone.rhai",
        &format!("{PAIR}c[0].delete();\nc[0].capture(\"gone.pcap\");\n"),
    );
    assert_report(&o, "gone.rhai:7", "there is no link 'va'", "links()");
    let o = run_in(
        &d,
        "twice.rhai",
        &format!("{PAIR}c[0].capture(\"same.pcap\");\nc[1].capture(\"same.pcap\");\n"),
    );
    assert_report(
        &o,
        "twice.rhai:7",
        "is being written by the capture on 'va' already",
        "give each capture a file of its own",
    );
    // No file for a capture that never started.
    assert!(!d.path().join("gone.pcap").exists());
    assert!(!d.path().join("x.pcap").exists());
    // A file that is not a capture is not the lab's to empty; an earlier
    // capture may be written over.
    d.write("notes.txt", "mine\n");
    let o = run_in(
        &d,
        "clobber.rhai",
        &format!(
            "{PAIR}c[0].capture(\"old.pcap\").stop();\nc[0].capture(\"old.pcap\").stop();\nc[0].capture(\"notes.txt\");\n"
        ),
    );
    assert_report(
        &o,
        "clobber.rhai:8",
        "nslab will not overwrite 'notes.txt': it exists and is not a packet capture",
        "give the capture a new file name",
    );
    let notes = std::fs::read_to_string(d.path().join("notes.txt")).unwrap();
    assert_eq!(notes, "mine\n");
    let o = run_in(
        &d,
        "dev.rhai",
        &format!("{PAIR}c[0].capture(\"/dev/null\");\n"),
    );
    assert_report(
        &o,
        "dev.rhai:6",
        "it is not a regular file",
        "new file name",
    );
}

#[test]
fn a_directory_the_user_cannot_write_is_an_error_saying_so() {
    let user = as_nobody(0o755);
    let d = &user.dir;
    // `/` belongs to root, whom a rootless nslab (nobody, when the tests run
    // as root) has no rights of.
    let target = "/nslab-capture-test-denied.pcap";
    d.write(
        "locked.rhai",
        &format!("{PAIR}c[0].capture(\"{target}\");\n"),
    );
    let o = user.run(&["run", "locked.rhai"]);
    let made = Path::new(target).exists();
    let _ = std::fs::remove_file(target);
    assert!(!made, "a rootless nslab wrote to /");
    assert_report(
        &o,
        "locked.rhai:6",
        "permission denied",
        "pick a directory that user can write",
    );
}

#[test]
fn host_mode_captures_a_link_of_the_host() {
    // In plain host mode (in a private host), on the host's end of a veth:
    // the socket is opened on nslab's own thread, not in a lab namespace.
    let d = Dir::new();
    d.write(
        "host.rhai",
        r#"let a = netns("a");
let c = veth(host(), "h0", a, "a0");
c[0].addr("10.61.0.1/24");
c[1].addr("10.61.0.2/24");
let cap = c[0].capture("host.pcap");
host().ping("10.61.0.2", #{count: 2});
cap.stop();
"#,
    );
    let o = private_host(&d, "\"$NSLAB\" run host.rhai; echo code=$?");
    o.says(&["code=0"]);
    let lines = tcpdump(&d.path().join("host.pcap"));
    assert_eq!(count(&lines, REQUEST), 2, "{lines:#?}");
    assert_eq!(count(&lines, REPLY), 2, "{lines:#?}");
}

#[test]
fn a_running_capture_is_readable_and_stays_so_after_kill_9() {
    // The file is flushed whenever the link is idle, a record at a time:
    // readable while the capture runs, and after nslab dies unannounced.
    let d = Dir::new();
    d.write(
        "kill.rhai",
        &format!(
            "{PAIR}c[0].capture(\"kill.pcap\");\na.ping(\"10.61.0.2\", #{{count: 2}});\nprint(\"ready\");\nsleep(60);\n"
        ),
    );
    let mut lab = start_ready(&d, &["run", "--isolated", "kill.rhai"]);
    let file = d.path().join("kill.pcap");
    // The capture thread writes the last reply a moment after ping saw it;
    // until it has written the file header, tcpdump cannot read the file.
    let mut seen = Vec::new();
    wait_for(Duration::from_secs(30), || {
        seen = try_tcpdump(&file).unwrap_or_default();
        (count(&seen, REPLY) == 2).then_some(())
    });
    let _ = lab.child.kill();
    let _ = lab.child.wait();
    assert_eq!(
        count(&seen, REPLY),
        2,
        "not in the file while running: {seen:#?}"
    );
    let (_, recs) = records(&file);
    let lines = tcpdump(&file);
    assert_eq!(lines.len(), recs.len());
    assert_eq!(count(&lines, REQUEST), 2, "{lines:#?}");
    assert_eq!(count(&lines, REPLY), 2, "{lines:#?}");
}

/// Under sudo (root, with SUDO_UID and SUDO_GID) the capture file is the
/// user's, as a file their shell wrote would be; a file that was there
/// keeps its owner. (Root only: the private host here maps every uid, so
/// that nslab, in host mode inside it, may give the file to uid 65534.)
#[test]
fn under_sudo_a_new_capture_file_is_the_users() {
    if !needs_root(" (a private host that maps more than root)") {
        return;
    }
    let d = Dir::new();
    d.write(
        "cap.rhai",
        &format!(
            r#"{PAIR}let cap = c[0].capture("new.pcap");
a.ping("10.61.0.2", #{{count: 1}});
cap.stop();
c[0].capture("old.pcap").stop();
"#
        ),
    );
    // Ids other than root's exist in this private host (65534 among them).
    let o = private_host_all_ids(
        &d,
        "touch old.pcap\n\
         SUDO_UID=65534 SUDO_GID=65534 \"$NSLAB\" run cap.rhai; echo rc=$?\n\
         stat -c '%n %u:%g' new.pcap old.pcap\n",
    );
    o.all_says(&["rc=0", "new.pcap 65534:65534", "old.pcap 0:0"]);
    assert_eq!(count(&tcpdump(&d.path().join("new.pcap")), REQUEST), 1);
}

/// Root in isolated mode runs in a user namespace that maps root alone,
/// where it may not create a file in another user's directory: the capture
/// file is made from outside (nslab's opener), and under sudo it is the
/// user's.
#[test]
fn isolated_root_captures_into_the_users_directory() {
    let d = Dir::new();
    let Some(theirs) = users_dir(&d) else {
        return;
    };
    let file = theirs.join("ping.pcap");
    d.write(
        "cap.rhai",
        &format!(
            "{PAIR}let cap = c[0].capture(\"{}\");\na.ping(\"10.61.0.2\", #{{count: 1}});\ncap.stop();\n",
            file.display()
        ),
    );
    let o = out(Command::new(bin())
        .args(["run", "--isolated", "cap.rhai"])
        .current_dir(d.path())
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .env("NO_COLOR", "1")
        .output()
        .expect("run nslab"));
    o.assert_ok();
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(count(&tcpdump(&file), REQUEST), 1);
}

/// The script's part of the cap.packets() tests: a ping captured, then
/// each decoded packet on a line of its own.
fn packets_script() -> String {
    format!(
        r#"{PAIR}let cap = c[0].capture("read.pcap");
let r = a.ping("10.61.0.2", #{{count: 2}});
if !r.ok {{ throw "no answer"; }}
cap.stop();
let ps = cap.packets();
if cap.packets(#{{max: 1}}).len() != 1 {{ throw "max"; }}
if ps.len() != cap.packets {{ throw `decoded ${{ps.len()}} of ${{cap.packets}}`; }}
for p in ps {{ print(`P|${{p.time}}|${{p.src}}|${{p.dst}}|${{p.proto}}|${{p.sport}}|${{p.dport}}|${{p.len}}|${{p.info}}`); }}
"#
    )
}

/// cap.packets() says what `tcpdump -n -tt -r` says of the same file,
/// packet by packet: time, addresses, ports, and the ICMP echo and ARP words.
fn packets_agree_with_tcpdump(stdout: &str, file: &Path) {
    let mine: Vec<Vec<&str>> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("P|"))
        .map(|l| l.splitn(8, '|').collect())
        .collect();
    let o = tool("tcpdump")
        .args(["-n", "-tt", "-r"])
        .arg(file)
        .output()
        .expect("run tcpdump");
    let theirs: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(mine.len(), theirs.len(), "{stdout}\n{theirs:#?}");
    let (mut requests, mut replies) = (0, 0);
    for (m, t) in mine.iter().zip(&theirs) {
        let [time, src, dst, proto, sport, dport, _len, info] = m[..] else {
            panic!("{m:?}");
        };
        let ttime: f64 = t.split(' ').next().unwrap().parse().unwrap();
        assert!(
            (time.parse::<f64>().unwrap() - ttime).abs() < 2e-6,
            "{m:?} vs {t}"
        );
        match proto {
            "icmp" | "icmpv6" => assert!(t.contains(&format!(" {src} > {dst}: ")), "{m:?} vs {t}"),
            "tcp" | "udp" => {
                assert!(
                    t.contains(&format!(" {src}.{sport} > {dst}.{dport}: ")),
                    "{m:?} vs {t}"
                )
            }
            "arp" => assert!(
                t.contains(&format!("who-has {dst} tell {src}"))
                    || t.contains(&format!("Reply {src} is-at")),
                "{m:?} vs {t}"
            ),
            _ => {}
        }
        if let Some(rest) = info.strip_prefix("echo ") {
            // "request id 7 seq 1" is tcpdump's "echo request, id 7, seq 1".
            let w: Vec<&str> = rest.split(' ').collect();
            assert!(
                t.contains(&format!("echo {}, id {}, seq {}", w[0], w[2], w[4])),
                "{m:?} vs {t}"
            );
            if src == "10.61.0.1" && dst == "10.61.0.2" && w[0] == "request" {
                requests += 1;
            }
            if src == "10.61.0.2" && dst == "10.61.0.1" && w[0] == "reply" {
                replies += 1;
            }
        }
    }
    assert_eq!((requests, replies), (2, 2), "{stdout}");
}

#[test]
fn cap_packets_decodes_a_ping_as_tcpdump_does_in_isolated_mode() {
    let d = Dir::new();
    let o = run_in(&d, "read.rhai", &packets_script());
    o.assert_ok();
    packets_agree_with_tcpdump(&o.stdout, &d.path().join("read.pcap"));
}

#[test]
fn cap_packets_decodes_a_ping_in_rootless_mode() {
    let user = as_nobody(0o777);
    user.dir.write("read.rhai", &packets_script());
    let o = user.run(&["run", "read.rhai"]);
    o.assert_ok();
    assert!(o.stderr.contains("rootless"), "{}", o.stderr);
    packets_agree_with_tcpdump(&o.stdout, &user.dir.path().join("read.pcap"));
}

#[test]
fn cap_packets_refuses_an_unknown_option_at_the_line() {
    fails_at(
        "opt.rhai",
        &format!("{PAIR}let cap = c[0].capture(\"o.pcap\");\ncap.packets(#{{most: 1}});\n"),
        "opt.rhai:7:5",
        "unknown option 'most' for cap.packets()",
        "cap.packets(#{max: 10})",
    );
}
