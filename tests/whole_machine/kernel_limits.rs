//! A probe that fails because the kernel ran out of something every namespace
//! on the machine shares says so. The one test here really fills the kernel's
//! IPv4 neighbour table, which breaks new ARP resolution for every lab on the
//! machine for a few seconds: it is in tests/whole_machine, where no other test
//! of ours runs meanwhile. (The backlog-drop side is covered by kstat's unit
//! tests only: overflowing a CPU's backlog on purpose is neither quick nor
//! reliable.)

use crate::common::*;

/// gc_thresh3 of the ARP table, as `ip ntable` reports it: readable from any
/// namespace, unlike /proc/sys/net/ipv4/neigh/default/gc_thresh3, which only
/// the initial one has.
fn arp_thresh3() -> u32 {
    let out = tool("ip")
        .args(["ntable", "show", "name", "arp_cache"])
        .output()
        .expect("run ip (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .iter()
        .position(|w| *w == "thresh3")
        .and_then(|i| words.get(i + 1)?.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("`ip ntable show name arp_cache` gave no thresh3; assuming 1024:\n{text}");
            1024
        })
}

/// `ip -batch` lines adding `n` distinct non-permanent (stale) entries on
/// f0, from the `from`-th address of 10.128.0.0/9 on: permanent ones are
/// exempt from the limit.
fn fill_batch(from: u32, n: u32) -> String {
    (from..from + n)
        .map(|i| {
            let (a, b, c) = (i >> 16, (i >> 8) & 0xff, i & 0xff);
            format!(
                "neigh add 10.{}.{b}.{c} lladdr 02:00:00:{a:02x}:{b:02x}:{c:02x} dev f0 nud stale\n",
                128 + a
            )
        })
        .collect()
}

/// `ip -batch` lines that replace the first `n` entries fill_batch made,
/// with their MAC's first byte set to `first`: a new MAC makes the kernel
/// renew the entry's "updated" time, which forced gc looks at.
fn keep_batch(n: u32, first: u8) -> String {
    (0..n)
        .map(|i| {
            let (a, b, c) = (i >> 16, (i >> 8) & 0xff, i & 0xff);
            format!(
                "neigh replace 10.{}.{b}.{c} lladdr {first:02x}:00:00:{a:02x}:{b:02x}:{c:02x} dev f0 nud stale\n",
                128 + a
            )
        })
        .collect()
}

/// The table is filled from inside the lab, right before each probe: when
/// a new entry is due and the table is at its limit, the kernel first frees
/// every entry not updated for 5 s (forced gc), and a fill that ends with
/// ENOBUFS has just reaped them all. But slots can still come free (seen
/// right after other test binaries, whose namespaces the kernel may still
/// be tearing down, entries and all), and a probe that gets one goes
/// through: then it is tried again, after a top-up, towards one of b's
/// addresses not resolved yet. Each retry is printed.
const SCRIPT: &str = r#"let a = netns("a");
let b = netns("b");
let c = veth(a, "va", b, "vb");
c[0].addr("10.77.0.1/24");
for i in 2..=17 { c[1].addr(`10.77.0.${i}/24`); }
let fill = a.exec(["ip", "-n", "filler", "-batch", "fill.batch"]);
print(`fill: ${fill.stderr}`);
// A probe that loses packets to a full table is sent again, up to 5 times
// in a second or so: the filler's entries are kept younger than forced
// gc's 5 s all along, so no slot comes free between the tries.
a.spawn(["sh", "-c", "while :; do ip -force -n filler -batch keepA.batch; sleep 0.1; ip -force -n filler -batch keepB.batch; sleep 0.1; done >/dev/null 2>&1"]);
let t = 2;
let r = a.ping(`10.77.0.${t}`, #{count: 1, timeout_ms: 200});
while r.ok && t < 9 {
    print(`ping .${t} answered; again`);
    t += 1;
    a.exec(["ip", "-n", "filler", "-batch", `top${t}.batch`]);
    r = a.ping(`10.77.0.${t}`, #{count: 1, timeout_ms: 200});
}
print(`ok=${r.ok}`);
print(`why=${r.why}`);
print(`busy=${r.busy} sent=${r.sent}`);
print(r.output);
a.exec(["ip", "-n", "filler", "-batch", "top10.batch"]);
let said = "reached";
try { a.expect_reach("10.77.0.10", #{timeout_ms: 200}); } catch (e) { said = e.message; }
print(`expect_reach: ${said}`);
a.exec(["ip", "-n", "filler", "-batch", "top11.batch"]);
let rr = reach([a, #{ns: b, ip: "10.77.0.11"}], #{timeout_ms: 300});
let first = if rr.failed.is_empty() { "none" } else { rr.failed[0].why };
print(`reach: ok=${rr.ok} why=${first}`);
// Something listens: a refusal on the path would answer connect() alone.
b.listen(80);
for t in 12..=17 {
    a.exec(["ip", "-n", "filler", "-batch", `top${t}.batch`]);
    let up = a.connect(`10.77.0.${t}`, #{port: 80, timeout_ms: 200});
    print(`connect .${t} gave ${up}; again`);
}
"#;

#[test]
fn a_full_neighbour_table_is_named_by_ping_expect_reach_reach_and_connect() {
    let _alone = alone();
    let thresh3 = arp_thresh3();
    let d = Dir::new();
    // More than the limit: whatever the machine holds already, the kernel
    // refuses one of them (ENOBUFS), and `ip -batch` stops there. The top-up
    // before connect() takes any slot freed since.
    d.write("fill.batch", &fill_batch(0, thresh3 + 64));
    for t in 3..=17 {
        d.write(&format!("top{t}.batch"), &fill_batch(thresh3 + 64 * t, 64));
    }
    d.write("keepA.batch", &keep_batch(thresh3 + 64, 0x02));
    d.write("keepB.batch", &keep_batch(thresh3 + 64, 0x06));
    d.write("limits.rhai", SCRIPT);
    // The filler lives in a namespace of its own, on a veth (an ARP device:
    // a dummy's entries would be NOARP, which forced gc frees at once). Its
    // entries stay fresh (< 5 s) while nslab runs, so gc cannot free them.
    let sh = r#"
ip netns add filler
ip -n filler link add f0 type veth peer name f1
ip -n filler link set f0 up && ip -n filler link set f1 up
"$NSLAB" run limits.rhai > nslab.out 2> nslab.err
echo $? > nslab.rc
ip -s ntable show name arp_cache | grep -E 'entries|table_fulls' > ntable
ip netns del filler
"#;
    let o = private_host(&d, sh);
    let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap_or_default();
    let run = Out {
        code: read("nslab.rc").trim().parse().unwrap_or(-1),
        stdout: read("nslab.out"),
        stderr: read("nslab.err"),
    };
    // Shown when the test fails (or with --nocapture).
    eprintln!("nslab said:\n{}", run.all());
    let fill = run.line_after("fill: ").unwrap_or_default();
    assert!(
        fill.contains("No buffer space available"),
        "could not fill the kernel's neighbour table: adding {} entries (gc_thresh3 {thresh3} + 64) never failed with ENOBUFS, so this test cannot check anything.\n\
         the table after: {}\n{}\n{}",
        thresh3 + 64,
        read("ntable"),
        run.all(),
        o.all()
    );
    let full = format!(
        "the kernel's neighbour table is full: {thresh3} IPv4 (ARP) entries shared by every namespace on this machine"
    );
    assert!(
        run.stdout.contains("ok=false"),
        "the ping answered although the table was full (did gc free the filler?):\n{}\n{}",
        run.all(),
        read("ntable")
    );
    // Lost while the table was full, with nothing on the path to lose it:
    // the loss is the machine's, and the echo was sent 4 more times.
    assert!(
        run.stdout.contains("busy=true sent=5"),
        "the ping lost to a full table was not busy and sent again:\n{}",
        run.all()
    );
    assert!(
        run.stdout.contains(&format!("why={full}")),
        "r.why does not name the full table:\n{}",
        run.all()
    );
    assert!(
        run.stdout.contains(&format!("why: {full}")),
        "r.output does not name the full table:\n{}",
        run.all()
    );
    // expect_reach() walks the path and sends a probe: the walk finds
    // nothing wrong, the counter that rose is the reason. reach() over the
    // same full table: the pairs that failed say why.
    for (what, start) in [
        ("expect_reach", "expect_reach: "),
        ("reach", "reach: ok=false why="),
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(start) && l.contains(&full)),
            "{what} does not name the full table:\n{}",
            run.all()
        );
    }
    // connect() has no result to carry a reason: it is an error, not false.
    assert_report(
        &run,
        "limits.rhai:36:",
        &format!("(tcp) is reachable from 'a': {full}"),
        "wait for the other lab to end, or raise net.ipv4.neigh.default.gc_thresh3 on the host",
    );
}
