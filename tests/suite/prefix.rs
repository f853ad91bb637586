//! `--prefix P`: a second copy of a lab runs beside the first. The kernel
//! holds the lab's namespaces and host links under P; the script, its
//! output and its errors keep the script's names. Each test runs nslab in
//! host mode in a private host and looks at the kernel from outside.

use crate::common::*;

/// Two namespaces joined by a veth, a veth from the host into one of them
/// and a bridge in the host with that end as a port: what a copy puts in
/// the kernel's shared namespace. It prints what it sees of its own names.
const LAB: &str = r#"let a = netns("a");
let b = netns("b");
let c = veth(a, "eth0", b, "eth0");
c[0].addr("10.9.0.1/24");
c[1].addr("10.9.0.2/24");
let up = veth(host(), "up0", a, "up");
let br = bridge(host(), "brx");
br.attach(up[0]);
print(`names: ${a.name} ${b.name} ${up[0].name} ${br.name}`);
print(`mine: ${lab().namespaces.map(|n| n.name)} ${host().links().map(|l| l.name).filter(|n| n != "lo")}`);
if !a.ping("10.9.0.2").ok { throw "a cannot reach b"; }
print("PING_OK");
"#;

/// The issue's case: the same script twice with --keep, under two
/// prefixes. Both build and answer pings (the second while the first is up),
/// the kernel has both copies under their prefixes, the scripts' output has
/// the script's names only, `nslab ls` lists two labs named after the
/// prefixes, `nslab show` gives the script's names, `nslab down` of one
/// removes only its own copy, and after both the host is as before. (Today's
/// main has no --prefix: the second copy cannot start.)
#[test]
fn two_copies_run_side_by_side_and_each_down_removes_its_own() {
    if !needs_root(": a private host for host mode") {
        return;
    }
    let o = in_private_host(
        &[("lab.rhai", LAB)],
        "snap > before\n\
         \"$NSLAB\" run --keep --prefix b- lab.rhai > out-b 2>&1; echo rc-b=$?\n\
         \"$NSLAB\" run --keep --prefix c- lab.rhai > out-c 2>&1; echo rc-c=$?\n\
         echo \"OUT-B $(tr '\\n' ' ' < out-b)\"\n\
         echo \"OUT-C $(tr '\\n' ' ' < out-c)\"\n\
         echo \"NETNS $(ip netns list | cut -d' ' -f1 | sort | tr '\\n' ' ')\"\n\
         echo \"LINKS $(ip -o link show | cut -d: -f2 | cut -d@ -f1 | sort | tr -d ' ' | tr '\\n' ' ')\"\n\
         echo \"V6OFF $(cat /proc/sys/net/ipv6/conf/b-up0/disable_ipv6) $(cat /proc/sys/net/ipv6/conf/c-up0/disable_ipv6)\"\n\
         ip netns exec b-a ping -c 1 -W 2 10.9.0.2 >/dev/null && echo B_PINGS\n\
         ip netns exec c-a ping -c 1 -W 2 10.9.0.2 >/dev/null && echo C_PINGS\n\
         echo \"LS $(\"$NSLAB\" ls | cut -d' ' -f1 | tr '\\n' ' ')\"\n\
         echo \"SHOW $(\"$NSLAB\" show b-lab | tr -s ' ' | tr '\\n' '|')\"\n\
         \"$NSLAB\" down b-lab; echo down-b=$?\n\
         echo \"NETNS-AFTER-B $(ip netns list | cut -d' ' -f1 | sort | tr '\\n' ' ')\"\n\
         echo \"LINKS-AFTER-B $(ip -o link show | cut -d: -f2 | cut -d@ -f1 | sort | tr -d ' ' | tr '\\n' ' ')\"\n\
         ip netns exec c-a ping -c 1 -W 2 10.9.0.2 >/dev/null && echo C_STILL_PINGS\n\
         \"$NSLAB\" down c-lab; echo down-c=$?\n\
         no_trace\n",
    );
    o.says(&["rc-b=0", "rc-c=0", "B_PINGS", "C_PINGS", "C_STILL_PINGS"]);
    o.says(&["down-b=0", "down-c=0"]);
    for (copy, p) in [("OUT-B", "b-"), ("OUT-C", "c-")] {
        let out = o.line_after(copy).unwrap_or_default();
        says(
            out,
            &["names: a b up0 brx", "mine: [\"a\", \"b\"]", "PING_OK"],
        );
        let kernel: Vec<String> = ["a", "b", "up0", "brx"]
            .iter()
            .map(|n| format!("\"{p}{n}\""))
            .collect();
        lacks(out, &kernel.iter().map(String::as_str).collect::<Vec<_>>());
    }
    assert_eq!(
        o.line_after("NETNS").map(str::trim),
        Some("b-a b-b c-a c-b"),
        "{}",
        o.all()
    );
    let links = o.line_after("LINKS").unwrap_or_default();
    says(links, &["b-up0", "b-brx", "c-up0", "c-brx"]);
    lacks(links, &[" up0", " brx"]);
    // A bridge port the lab made has no IPv6: set on the kernel's name.
    assert_eq!(o.line_after("V6OFF"), Some(" 1 1"), "{}", o.all());
    says(o.line_after("LS").unwrap_or_default(), &["b-lab", "c-lab"]);
    let show = o.line_after("SHOW").unwrap_or_default();
    says(show, &["namespace a", "namespace b", "up0", "brx"]);
    lacks(show, &["b-a", "b-up0", "b-brx"]);
    assert_eq!(
        o.line_after("NETNS-AFTER-B").map(str::trim),
        Some("c-a c-b"),
        "{}",
        o.all()
    );
    let after_b = o.line_after("LINKS-AFTER-B").unwrap_or_default();
    says(after_b, &["c-up0", "c-brx"]);
    lacks(after_b, &["b-up0", "b-brx"]);
    assert_no_trace(&o, "SAME");
}

/// A copy under a prefix next to the unprefixed one: the first keeps the
/// script's names in the kernel, so the second one is what needs --prefix
/// (without it: "already exists", with the hint).
#[test]
fn without_a_prefix_the_second_copy_is_told_to_use_one() {
    if !needs_root(": a private host for host mode") {
        return;
    }
    let o = in_private_host(
        &[("lab.rhai", LAB)],
        "snap > before\n\
         \"$NSLAB\" run --keep lab.rhai > first 2>&1; echo rc-1=$?\n\
         \"$NSLAB\" run --name other lab.rhai; echo rc-2=$?\n\
         \"$NSLAB\" run --prefix x lab.rhai > third 2>&1; echo rc-3=$?\n\
         \"$NSLAB\" down lab; echo down=$?\n\
         no_trace\n",
    );
    o.says(&["rc-1=0", "rc-2=1", "rc-3=0", "down=0"]);
    o.all_says(&["namespace 'a' already exists", "--prefix"]);
    assert_no_trace(&o, "SAME");
}

/// A prefix that makes a host link's name longer than the kernel's 15
/// bytes is an error at the script line, with a shorter name that fits.
#[test]
fn a_prefixed_host_link_name_over_15_bytes_is_an_error_at_its_line() {
    let d = Dir::with(&[(
        "long.rhai",
        "let a = netns(\"a\");\nlet up = veth(host(), \"uplink-0\", a, \"up\");\n",
    )]);
    let o = nslab(
        &["run", "--isolated", "--prefix", "copy-two-", "long.rhai"],
        d.path(),
    );
    assert_report(
        &o,
        "long.rhai:2",
        "link 'uplink-0' in the host would be 'copy-two-uplink-0' under this lab's prefix: 17 bytes; Linux allows at most 15",
        "use a shorter --prefix, or a link name of at most 6 bytes, e.g. \"uplink\"",
    );
}

/// A prefix holds only what namespace and link names allow: else a usage
/// error before anything is built.
#[test]
fn a_bad_prefix_is_a_usage_error() {
    let d = Dir::with(&[("lab.rhai", LAB)]);
    for bad in ["a/b", "far-too-long-prefix", "x y"] {
        let o = nslab(
            &["run", "--isolated", "--prefix", bad, "lab.rhai"],
            d.path(),
        );
        assert_eq!(o.code, 2, "{bad}: {}", o.all());
        o.all_says(&["is not a valid prefix", "help:"]);
    }
}

/// `nslab plan --prefix P` writes the kernel's names: namespaces and host
/// links under P, links inside the lab's namespaces as the script says.
#[test]
fn plan_writes_the_prefixed_names() {
    let d = Dir::with(&[("lab.rhai", LAB)]);
    let o = nslab(&["plan", "--prefix", "p-", "lab.rhai"], d.path());
    o.assert_ok();
    says(
        &o.stdout,
        &[
            "ip netns add p-a",
            "ip netns del p-a",
            "ip -n p-a link add eth0",
            "netns p-b",
            "ip link add p-up0",
            "ip link add p-brx type bridge",
            "ip link set dev p-up0 master p-brx",
            "del_link p-up0",
        ],
    );
    lacks(
        &o.stdout,
        &["ip netns add a\n", "ip link add up0", "add brx"],
    );
}

/// A link the lab made, moved into the host, takes the prefix there (and
/// loses it when it moves on); routes, addresses and its sysctls work by
/// the script's names, and the teardown finds it by the kernel's.
#[test]
fn a_link_moved_into_the_host_takes_the_prefix() {
    if !needs_root(": a private host for host mode") {
        return;
    }
    let mv = r#"let a = netns("a");
let b = netns("b");
let m = veth(a, "m0", b, "m1");
let h = m[0].move(host());
let up = veth(host(), "up0", a, "up");
let back = up[0].move(b, "down0");
print(`names: ${h.name} ${back.name} ${host().links().map(|l| l.name)}`);
h.addr("10.7.0.1/24");
m[1].addr("10.7.0.2/24");
host().route("10.6.0.0/24", "10.7.0.2");
host().sysctl("net.ipv4.conf.m0.rp_filter", "2");
print(`SYSCTL ${host().exec("cat /proc/sys/net/ipv4/conf/c-m0/rp_filter").stdout}`);
if !host().ping("10.7.0.2").ok { throw "no ping"; }
print(`KERNEL ${host().exec("ip -o link show | cut -d: -f2 | cut -d@ -f1 | tr -d ' ' | tr '\n' ' '").stdout}`);
"#;
    let o = in_private_host(
        &[("mv.rhai", mv)],
        "snap > before\n\
         \"$NSLAB\" run --prefix c- mv.rhai; echo rc=$?\n\
         no_trace\n",
    );
    o.says(&["rc=0", "names: m0 down0 [\"lo\", \"m0\"]", "SYSCTL 2"]);
    let kernel = o.after("KERNEL");
    says(kernel, &["c-m0"]);
    lacks(kernel, &[" m0", "up0", "down0"]);
    assert_no_trace(&o, "SAME");
}

/// `nslab repl --attach` on a kept lab under a prefix: the session sees the
/// script's names (ns("a"), lab()), and what it builds goes under the
/// lab's prefix, so `nslab down` removes it with the rest.
#[test]
fn an_attached_session_works_under_the_kept_labs_prefix() {
    if !needs_root(": a private host for host mode") {
        return;
    }
    let o = in_private_host(
        &[("lab.rhai", LAB)],
        "snap > before\n\
         \"$NSLAB\" run --keep --prefix b- lab.rhai >/dev/null 2>&1; echo rc=$?\n\
         printf '%s\\n' 'print(`SEEN ${lab().namespaces.map(|n| n.name)} ${ns(\"a\").name}`);' \
           'let c = netns(\"c\");' 'veth(host(), \"att0\", c, \"x\");' \
           | \"$NSLAB\" repl --attach b-lab 2>&1 | grep SEEN\n\
         echo \"NETNS $(ip netns list | cut -d' ' -f1 | sort | tr '\\n' ' ')\"\n\
         ip -o link show b-att0 >/dev/null && echo HOST_B_ATT0\n\
         \"$NSLAB\" down b-lab; echo down=$?\n\
         no_trace\n",
    );
    o.says(&["rc=0", "SEEN [\"a\", \"b\"] a", "HOST_B_ATT0", "down=0"]);
    assert_eq!(
        o.line_after("NETNS").map(str::trim),
        Some("b-a b-b b-c"),
        "{}",
        o.all()
    );
    assert_no_trace(&o, "SAME");
}
