//! ns.firewall(): the lab's nf_tables rules read back, compared with
//! `nft -j list ruleset` run in the same namespace, in isolated, host (a
//! private host) and rootless mode; show()'s firewall part.

use crate::common::*;

/// Rules in `a` (a counted accept that a ping from b hits, a drop, NAT),
/// a table the lab did not make, then what ns.firewall() and nft say.
const SCRIPT: &str = r#"let a = netns("a");
let b = netns("b");
let c = veth(a, "va", b, "vb");
c[0].addr("10.61.0.1/24");
c[1].addr("10.61.0.2/24");
a.accept(#{proto: "icmp", counter: true, comment: "pings"});
a.accept(#{proto: "tcp", dport: 80});
a.drop(#{proto: "udp", dport: 53});
masquerade(a, "10.61.0.0/24", "va");
let p = b.ping("10.61.0.1", #{count: 2});
if !p.ok { throw "no ping"; }
print(`P|${p.received}|${p.sent}`);
a.exec(["/usr/sbin/nft", "add table ip other; add chain ip other c; add rule ip other c counter drop"]);
let fw = a.firewall();
for r in fw.rules { print(`R|${r.family}|${r.table}|${r.chain}|${r.handle}|${r.comment}|${r.verdict}|${r.packets}|${r.bytes}`); }
let text = a.exec(["/usr/sbin/nft", "list", "table", "inet", fw.rules[0].table]).stdout;
if fw.text != text { throw `text differs:\n${fw.text}\n---\n${text}`; }
for r in a.firewall(#{all: true}).rules { print(`A|${r.family}|${r.table}|${r.chain}|${r.handle}|${r.comment}|${r.verdict}|${r.packets}|${r.bytes}`); }
if b.firewall().rules.len() != 0 || b.firewall().text != "" { throw "b has rules"; }
let j = a.exec(["/usr/sbin/nft", "-j", "list", "ruleset"]).stdout;
j.replace("\n", "");
print("J|" + j);
show();
"#;

/// A rule as the script printed it, or as nft's JSON says it.
#[derive(Debug, PartialEq)]
struct Row {
    family: String,
    table: String,
    chain: String,
    handle: u64,
    comment: String,
    packets: String,
    bytes: String,
}

fn printed(stdout: &str, tag: &str) -> Vec<(Row, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(tag))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                Row {
                    family: f[0].into(),
                    table: f[1].into(),
                    chain: f[2].into(),
                    handle: f[3].parse().unwrap(),
                    comment: f[4].into(),
                    packets: f[6].into(),
                    bytes: f[7].into(),
                },
                f[5].to_string(),
            )
        })
        .collect()
}

fn nft_rows(stdout: &str) -> Vec<Row> {
    let json = stdout
        .lines()
        .find_map(|l| l.strip_prefix("J|"))
        .expect("nft's JSON");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i.get("rule"))
        .map(|r| {
            let counter = r["expr"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|e| e.get("counter"))
                .filter(|c| c.is_object());
            let n = |k: &str| counter.map(|c| c[k].to_string()).unwrap_or_default();
            Row {
                family: s(&r["family"]),
                table: s(&r["table"]),
                chain: s(&r["chain"]),
                handle: r["handle"].as_u64().unwrap(),
                comment: s(&r["comment"]),
                packets: n("packets"),
                bytes: n("bytes"),
            }
        })
        .collect()
}

/// ns.firewall() agrees with nft, rule by rule; all: true adds the table
/// the lab did not make; show() has the firewall part.
fn agrees_with_nft(o: &Out) {
    let nft = nft_rows(&o.stdout);
    let lab = printed(&o.stdout, "R|");
    let all = printed(&o.stdout, "A|");
    let lab_table = &lab[0].0.table;
    assert!(lab_table.starts_with("nslab-"), "{}", o.stdout);
    let nft_lab: Vec<&Row> = nft.iter().filter(|r| &r.table == lab_table).collect();
    assert_eq!(
        lab.iter().map(|(r, _)| r).collect::<Vec<_>>(),
        nft_lab,
        "{}",
        o.stdout
    );
    assert_eq!(
        all.iter().map(|(r, _)| r).collect::<Vec<_>>(),
        nft.iter().collect::<Vec<_>>()
    );
    let verdicts: Vec<&str> = lab.iter().map(|(_, v)| v.as_str()).collect();
    for v in ["accept", "drop", "masquerade"] {
        assert!(verdicts.contains(&v), "{verdicts:?}\n{}", o.stdout);
    }
    // The counted accept saw the echoes from b: at least those answered
    // (on a busy machine an echo can be lost before it, or its reply after
    // it), at most those sent.
    let pings = lab
        .iter()
        .find(|(r, _)| r.comment == "pings")
        .expect("the pings rule");
    let (received, sent) = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("P|"))
        .and_then(|l| l.split_once('|'))
        .map(|(r, s)| (r.parse::<u64>().unwrap_or(0), s.parse::<u64>().unwrap_or(0)))
        .expect("the ping's counts");
    let counted: u64 = pings.0.packets.parse().unwrap_or(0);
    assert!(
        received >= 1 && (received..=sent).contains(&counted),
        "{received} of {sent} echoes answered, {counted} counted:\n{}",
        o.stdout
    );
    let other = all
        .iter()
        .find(|(r, _)| r.table == "other")
        .expect("the other table");
    assert_eq!(
        (
            other.0.family.as_str(),
            other.1.as_str(),
            other.0.packets.as_str()
        ),
        ("ip", "drop", "0")
    );
    assert!(!lab.iter().any(|(r, _)| r.table == "other"));
    o.says(&[
        "  firewall:",
        "input: meta l4proto icmp counter packets 2",
        "comment \"pings\"",
    ]);
}

#[test]
fn firewall_agrees_with_nft_in_isolated_mode() {
    let o = run_ok("fw.rhai", SCRIPT);
    agrees_with_nft(&o);
}

#[test]
fn firewall_agrees_with_nft_in_host_mode() {
    let d = Dir::new();
    d.write("fw.rhai", SCRIPT);
    let o = private_host(&d, "\"$NSLAB\" run fw.rhai; echo code=$?");
    o.says(&["code=0"]);
    agrees_with_nft(&o);
}

#[test]
fn firewall_agrees_with_nft_in_rootless_mode() {
    let user = as_nobody(0o777);
    user.dir.write("fw.rhai", SCRIPT);
    let o = user.run(&["run", "fw.rhai"]);
    o.assert_ok();
    assert!(o.stderr.contains("rootless"), "{}", o.stderr);
    agrees_with_nft(&o);
}

#[test]
fn firewall_refuses_an_unknown_option_at_the_line() {
    fails_at(
        "fwopt.rhai",
        "let a = netns(\"a\");\na.firewall(#{every: true});\n",
        "fwopt.rhai:2:3",
        "unknown option 'every' for ns.firewall()",
        "ns.firewall(#{all: true})",
    );
}
