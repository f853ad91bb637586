//! A probe that fails because the kernel ran out of something every namespace
//! on the machine shares says so. The one test here really fills the
//! kernel's IPv4 neighbour table, which breaks new ARP resolution for every
//! lab on the machine for a few seconds: it is alone in its file so that no
//! other test of ours runs meanwhile (cargo runs test binaries one by one).
//! (The backlog-drop side is covered by kstat's unit tests only: overflowing
//! a CPU's backlog on purpose is neither quick nor reliable.)

mod common;
use common::*;

/// gc_thresh3 of the ARP table, as `ip ntable` reports it: readable from any
/// namespace, unlike /proc/sys/net/ipv4/neigh/default/gc_thresh3, which only
/// the initial one has.
fn arp_thresh3() -> u32 {
    let out = std::process::Command::new("ip")
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
/// f0: permanent ones are exempt from the limit.
fn fill_batch(n: u32) -> String {
    (0..n)
        .map(|i| {
            let (a, b, c) = (i >> 16, (i >> 8) & 0xff, i & 0xff);
            format!(
                "neigh add 10.{}.{b}.{c} lladdr 02:00:00:{a:02x}:{b:02x}:{c:02x} dev f0 nud stale\n",
                128 + a
            )
        })
        .collect()
}

const SCRIPT: &str = r#"let a = netns("a");
let b = netns("b");
let c = veth(a, "va", b, "vb");
c[0].addr("10.77.0.1/24");
c[1].addr("10.77.0.2/24");
let r = a.ping("10.77.0.2", #{count: 1, timeout_ms: 500});
print(`ok=${r.ok}`);
print(`why=${r.why}`);
print(r.output);
a.connect("10.77.0.2", #{port: 80, timeout_ms: 300});
"#;

#[test]
fn a_full_neighbour_table_is_named_by_ping_and_connect() {
    let thresh3 = arp_thresh3();
    let d = Dir::new();
    // More than the limit: whatever the machine holds already, the kernel
    // refuses one of them (ENOBUFS), and `ip -batch` stops there.
    d.write("fill.batch", &fill_batch(thresh3 + 64));
    d.write("limits.rhai", SCRIPT);
    // The filler lives in a namespace of its own, on a veth (an ARP device:
    // a dummy's entries would be NOARP, which forced gc frees at once). Its
    // entries stay fresh (< 5 s) while nslab runs, so gc cannot free them.
    let sh = r#"
ip netns add filler
ip -n filler link add f0 type veth peer name f1
ip -n filler link set f0 up && ip -n filler link set f1 up
ip -n filler -batch fill.batch 2> fill.err
"$NSLAB" run limits.rhai > nslab.out 2> nslab.err
echo $? > nslab.rc
ip -s ntable show name arp_cache | grep -E 'entries|table_fulls' > ntable
ip netns del filler
"#;
    let o = private_host(&d, sh);
    let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap_or_default();
    let fill_err = read("fill.err");
    assert!(
        fill_err.contains("No buffer space available"),
        "could not fill the kernel's neighbour table: adding {} entries (gc_thresh3 {thresh3} + 64) never failed with ENOBUFS, so this test cannot check anything. \
         ip -batch said: {fill_err:?}\nthe table after: {}\n{}",
        thresh3 + 64,
        read("ntable"),
        o.all()
    );
    let run = Out {
        code: read("nslab.rc").trim().parse().unwrap_or(-1),
        stdout: read("nslab.out"),
        stderr: read("nslab.err"),
    };
    let full = format!(
        "the kernel's neighbour table is full: {thresh3} IPv4 (ARP) entries shared by every namespace on this machine"
    );
    assert!(
        run.stdout.contains("ok=false"),
        "the ping answered although the table was full (did gc free the filler?):\n{}\n{}",
        run.all(),
        read("ntable")
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
    // connect() has no result to carry a reason: it is an error, not false.
    assert_report(
        &run,
        "limits.rhai:10:",
        &format!("cannot tell whether 10.77.0.2:80 (tcp) is reachable from 'a': {full}"),
        "wait for the other lab to end, or raise net.ipv4.neigh.default.gc_thresh3 on the host",
    );
}
