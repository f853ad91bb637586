//! Seeing a lab: `nslab graph` (DOT that Graphviz accepts, Mermaid, SVG
//! that an XML parser reads) of every script, run as an unprivileged user;
//! `nslab ls --json` and `nslab show --json` of a kept lab in a private
//! host, checked against the kernel (`ip -j`); show(#{json: true}).

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A copy of the binary and of scripts/ where `nobody` can read them.
struct Copies {
    user: Nobody,
    scripts: Vec<String>,
}

fn copies() -> Copies {
    let user = as_nobody(0o755);
    let scripts = user.with_scripts();
    Copies { user, scripts }
}

/// `nslab graph NAME --format F` as an unprivileged user (`nobody` when
/// the tests run as root).
fn graph_as_user(c: &Copies, name: &str, format: &str) -> Out {
    // An ordinary user's PATH: nft must be found without /usr/sbin.
    c.user.run_user_path(&["graph", name, "--format", format])
}

/// Namespaces (first label line of nodes with a role line second; a
/// router's daemons may follow) and the link
/// names in edge labels, read from DOT as nslab writes it.
fn dot_names(dot: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut ns = BTreeSet::new();
    let mut links = BTreeSet::new();
    for line in dot.lines().map(str::trim) {
        let Some(start) = line.find("label=\"") else {
            continue;
        };
        let rest = &line[start + 7..];
        let label = &rest[..rest.find('"').unwrap()];
        let parts: Vec<&str> = label.split("\\n").collect();
        if line.contains(" -- ") {
            for p in parts {
                let p = p.trim_start_matches("— ").trim_start_matches("on ");
                links.insert(p.split(' ').next().unwrap().to_string());
            }
        } else if parts.len() >= 2 && ["host", "router", "switch"].contains(&parts[1]) {
            ns.insert(parts[0].to_string());
        }
    }
    (ns, links)
}

/// A minimal Mermaid flowchart reader: node definitions, subgraphs that
/// close, and edges between defined nodes; returns the namespaces and
/// the link names of edge labels, as `dot_names` does.
fn mermaid_names(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("graph LR"), "{text}");
    let mut nodes = BTreeSet::new();
    let mut ns = BTreeSet::new();
    let mut links = BTreeSet::new();
    let mut depth = 0;
    let mut edges = Vec::new();
    for line in lines.map(str::trim) {
        if line.starts_with("subgraph ") {
            depth += 1;
        } else if line.starts_with("linkStyle ") {
            // How an edge is drawn (a link that is down: dashed, red).
            continue;
        } else if line == "end" {
            depth -= 1;
            assert!(depth >= 0, "unbalanced end:\n{text}");
        } else if let Some((a, rest)) = line.split_once(" --- ").or(line.split_once(" -.- ")) {
            edges.push((a.to_string(), rest.to_string()));
        } else if let Some((a, rest)) = line.split_once(" ---|").or(line.split_once(" -.-|")) {
            let (label, b) = rest.rsplit_once("| ").expect("edge label closes");
            for p in label.trim_matches('"').split("<br/>") {
                let p = p.trim_start_matches("— ").trim_start_matches("on ");
                links.insert(p.split(' ').next().unwrap().to_string());
            }
            edges.push((a.to_string(), b.to_string()));
        } else {
            let id_end = line
                .find(['[', '('])
                .unwrap_or_else(|| panic!("not a node: {line}\n{text}"));
            let id = &line[..id_end];
            let shape = &line[id_end..];
            let open = shape.find('"').expect("quoted label");
            let close = shape.rfind('"').unwrap();
            let label: Vec<&str> = shape[open + 1..close].split("<br/>").collect();
            let opener = &shape[..open];
            let closer = &shape[close + 1..];
            let pair = opener
                .chars()
                .rev()
                .collect::<String>()
                .replace(['[', '('], "x");
            assert_eq!(
                pair,
                closer.replace([']', ')'], "x"),
                "shape brackets do not match: {line}"
            );
            nodes.insert(id.to_string());
            if label.len() >= 2 && ["host", "router", "switch"].contains(&label[1]) {
                ns.insert(label[0].to_string());
            }
        }
    }
    assert_eq!(depth, 0, "a subgraph is not closed:\n{text}");
    for (a, b) in edges {
        assert!(
            nodes.contains(&a) && nodes.contains(&b),
            "edge {a} -- {b}:\n{text}"
        );
    }
    (ns, links)
}

/// Every text of an SVG, as python3's XML parser reads it (it refuses a
/// file that is not well-formed XML).
fn svg_text(svg: &str) -> Out {
    pipe(
        tool("python3").args([
            "-c",
            "import sys, xml.etree.ElementTree as ET\nroot = ET.fromstring(sys.stdin.read())\nassert root.tag.endswith('svg'), root.tag\nprint('\\n'.join(t for t in root.itertext() if t.strip()))",
        ]),
        svg,
    )
}

/// Every script of scripts/, drawn by an unprivileged user in each format:
/// DOT that `dot -Tsvg` takes without a complaint, Mermaid with the same
/// namespaces and links, and an SVG that is XML and names every namespace.
#[test]
fn graph_of_every_script_as_an_unprivileged_user() {
    let c = copies();
    assert!(c.scripts.len() > 10, "{:?}", c.scripts);
    // Four at a time: the scripts mostly wait (pings, timers).
    let failures: Vec<String> = std::thread::scope(|s| {
        let chunks: Vec<Vec<String>> = (0..4)
            .map(|k| c.scripts.iter().skip(k).step_by(4).cloned().collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|names| {
                let c = &c;
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for name in names {
                        if let Err(e) = check_script(c, &name) {
                            bad.push(format!("{name}: {e}"));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check_script(c: &Copies, name: &str) -> Result<(), String> {
    let dot = graph_as_user(c, name, "dot");
    if dot.code != 0 {
        return Err(format!("graph --format dot failed:\n{}", dot.all()));
    }
    let (ns, links) = dot_names(&dot.stdout);
    if ns.is_empty() {
        return Err(format!("no namespace in the DOT:\n{}", dot.stdout));
    }
    let rendered = pipe(tool("dot").arg("-Tsvg"), &dot.stdout);
    if rendered.code != 0 || !rendered.stderr.trim().is_empty() || !rendered.stdout.contains("<svg")
    {
        return Err(format!(
            "dot -Tsvg refused it:\n{}\n{}",
            rendered.stderr, dot.stdout
        ));
    }
    let mm = graph_as_user(c, name, "mermaid");
    if mm.code != 0 {
        return Err(format!("graph --format mermaid failed:\n{}", mm.all()));
    }
    let (mns, mlinks) = mermaid_names(&mm.stdout);
    if (&mns, &mlinks) != (&ns, &links) {
        return Err(format!(
            "Mermaid and DOT disagree: {mns:?} {mlinks:?} / {ns:?} {links:?}\n{}",
            mm.stdout
        ));
    }
    let svg = graph_as_user(c, name, "svg");
    if svg.code != 0 {
        return Err(format!("graph --format svg failed:\n{}", svg.all()));
    }
    let text = svg_text(&svg.stdout);
    if text.code != 0 {
        return Err(format!("the SVG is not XML:\n{}", text.stderr));
    }
    let words: BTreeSet<&str> = text.stdout.split_whitespace().collect();
    if let Some(missing) = ns.iter().find(|n| !words.contains(n.as_str())) {
        return Err(format!("the SVG does not name {missing}:\n{}", text.stdout));
    }
    Ok(())
}

/// The picture shows what the script builds: the NAT gateway recipe's four
/// namespaces, with the router as a router, its LAN bridge with its ports,
/// and each veth with both ends' names and addresses.
#[test]
fn graph_of_the_nat_gateway_shows_roles_bridge_and_addresses() {
    let o = nslab(
        &[
            "graph",
            "scripts/recipe-nat-gateway.rhai",
            "--format",
            "dot",
        ],
        repo(),
    );
    o.assert_ok();
    let (ns, _) = dot_names(&o.stdout);
    let want: BTreeSet<String> = ["gw", "internet", "pc1", "pc2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ns, want, "{}", o.stdout);
    o.says(&[
        "[label=\"gw\\nrouter\", shape=doublecircle]",
        "subgraph cluster_",
        "\"br-lan (bridge)\\n10.0.0.1/24\"",
        "label=\"uplink 203.0.113.1/24\\n— eth0 203.0.113.2/24\"",
    ]);
    // The script's own prints are not in the picture.
    o.lacks(&["bytes from"]);
}

/// -o writes the file; a name that is neither a script nor a lab is a clear
/// error.
#[test]
fn graph_writes_a_file_and_names_a_missing_lab() {
    let d = Dir::new();
    let f = d.path().join("q.svg");
    let o = nslab(
        &[
            "graph",
            "scripts/quickstart.rhai",
            "--format",
            "svg",
            "-o",
            f.to_str().unwrap(),
        ],
        repo(),
    );
    o.assert_ok();
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    let svg = std::fs::read_to_string(&f).unwrap();
    let text = svg_text(&svg);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("qs-a") && text.stdout.contains("qs-b"));

    let o = nslab(&["graph", "no-such-lab"], d.path());
    o.fails_saying(1, &["there is no lab named 'no-such-lab'", "help:"]);
}

/// The namespace `ip -j` sees, as (link name -> link JSON) and (link name
/// -> addresses other than link-local).
fn kernel_of(links: &Value, addrs: &Value) -> BTreeMap<String, (Value, Vec<String>)> {
    let mut m = BTreeMap::new();
    for l in links.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap().to_string();
        let a: Vec<String> = addrs
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["ifname"] == l["ifname"])
            .flat_map(|x| x["addr_info"].as_array().unwrap().clone())
            .filter(|ai| {
                let local = ai["local"].as_str().unwrap();
                !local.starts_with("fe80") && !local.starts_with("127.") && local != "::1"
            })
            .map(|ai| format!("{}/{}", ai["local"].as_str().unwrap(), ai["prefixlen"]))
            .collect();
        m.insert(name, (l.clone(), a));
    }
    m
}

/// A kept lab in a private host: `ls --json` lists it, `show --json`
/// describes every namespace, link, address and route as `ip -j` sees
/// them, veth peers included where link indexes repeat across namespaces
/// (a's x and c's x are both index 2 with a peer of index 2), and `show`
/// prints the same table show() prints in the script.
#[test]
fn show_json_of_a_kept_lab_matches_the_kernel() {
    let d = Dir::new();
    d.write(
        "kept.rhai",
        r#"
let a = netns("a"); let b = netns("b"); let c = netns("c"); let dd = netns("d");
let p = veth(a, "x", b, "y"); p[0].addr("10.1.0.1/24"); p[1].addr("10.1.0.2/24");
let q = veth(c, "x", dd, "y"); q[0].addr("10.2.0.1/24");
let r = netns("r");
r.sysctl("net.ipv4.ip_forward", "1");
let sw = netns("sw");
let br = bridge(sw, "br0");
let u = veth(r, "lan", sw, "p1");
br.attach(u[1]);
u[0].addr("10.3.0.1/24");
r.route("10.9.0.0/16", "10.3.0.2");
let h = veth(host(), "hx", r, "wan");
h[1].addr("192.0.2.2/24");
print(show(#{json: false}));
"#,
    );
    let o = private_host(
        &d,
        r#"
"$NSLAB" run --keep kept.rhai > script.txt || exit 1
"$NSLAB" ls --json > ls.json
"$NSLAB" show kept --json > show.json
"$NSLAB" show kept > show.txt
"$NSLAB" graph kept > graph.dot
for n in a b c d r sw; do
  ip -n $n -j -d link show > $n.links.json
  ip -n $n -j addr show > $n.addrs.json
  ip -n $n -j route show table all > $n.routes.json
done
ip -j -d link show > host.links.json
ip -j addr show > host.addrs.json
"$NSLAB" down kept
"$NSLAB" ls --json > ls-after.json
echo DONE
"#,
    );
    o.says(&["DONE"]);
    let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap();
    let json = |f: &str| -> Value { serde_json::from_str(&read(f)).unwrap() };

    let ls = json("ls.json");
    let ls = ls.as_array().unwrap();
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!(ls[0]["lab"], "kept");
    assert_eq!(ls[0]["state"], "kept");
    assert!(ls[0]["pid"].as_u64().unwrap() > 0);
    assert!(ls[0]["script"].as_str().unwrap().ends_with("kept.rhai"));
    assert_eq!(ls[0]["isolated"], false);
    assert!(ls[0]["steps"].as_u64().unwrap() > 0);
    assert_eq!(json("ls-after.json"), Value::Array(vec![]));

    let v = json("show.json");
    assert_eq!(v["lab"], "kept");
    assert_eq!(v["state"], "kept");
    let names: Vec<&str> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["host", "a", "b", "c", "d", "r", "sw"]);
    for n in v["namespaces"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        let want_role = match name {
            "r" => "router",
            "sw" => "switch",
            _ => "host",
        };
        assert_eq!(n["role"], want_role, "{name}");
        assert_eq!(n["forwarding"], name == "r", "{name}");
        let kernel = kernel_of(
            &json(&format!("{name}.links.json")),
            &json(&format!("{name}.addrs.json")),
        );
        let links = n["links"].as_array().unwrap();
        let shown: BTreeSet<&str> = links.iter().map(|l| l["name"].as_str().unwrap()).collect();
        if name == "host" {
            // Only the lab's own links of the host.
            assert_eq!(shown, BTreeSet::from(["hx"]));
        } else {
            let all: BTreeSet<&str> = kernel.keys().map(String::as_str).collect();
            assert_eq!(shown, all, "{name}");
        }
        for l in links {
            let ln = l["name"].as_str().unwrap();
            let (k, addrs) = &kernel[ln];
            assert_eq!(l["mtu"], k["mtu"], "{name}/{ln}");
            assert_eq!(l["mac"], k["address"], "{name}/{ln}");
            assert_eq!(
                l["up"],
                k["flags"].as_array().unwrap().contains(&"UP".into())
            );
            assert_eq!(l["master"].as_str(), k["master"].as_str(), "{name}/{ln}");
            let kind = k["linkinfo"]["info_kind"].as_str().unwrap_or("loopback");
            assert_eq!(l["kind"], kind, "{name}/{ln}");
            let got: Vec<&str> = l["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(got, *addrs, "{name}/{ln}");
        }
        // Every route ip shows that is not the kernel's own is in the view.
        let routes: Vec<&str> = n["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dst"].as_str().unwrap())
            .collect();
        if name != "host" {
            for r in json(&format!("{name}.routes.json")).as_array().unwrap() {
                let dst = r["dst"].as_str().unwrap();
                if r["table"].is_string() || dst.starts_with("fe80") {
                    continue; // local, multicast tables, link-local
                }
                assert!(
                    routes.iter().any(|x| x == &dst),
                    "{name}: route {dst} not in {routes:?}"
                );
            }
        }
    }
    let peer = |ns: &str, link: &str| -> (String, String) {
        let n = v["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == ns)
            .unwrap();
        let l = n["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == link)
            .unwrap();
        (
            l["peer"]["namespace"].as_str().unwrap().to_string(),
            l["peer"]["link"].as_str().unwrap().to_string(),
        )
    };
    // The colliding indexes are real: otherwise this would not test the
    // namespace ids.
    let idx = |ns: &str, l: &str| -> (u64, u64) {
        let k = json(&format!("{ns}.links.json"));
        let x = k
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["ifname"] == l)
            .unwrap()
            .clone();
        (
            x["ifindex"].as_u64().unwrap(),
            x["link_index"].as_u64().unwrap(),
        )
    };
    assert_eq!(idx("a", "x"), idx("c", "x"));
    assert_eq!(idx("a", "x"), idx("b", "y"));
    assert_eq!(peer("a", "x"), ("b".into(), "y".into()));
    assert_eq!(peer("b", "y"), ("a".into(), "x".into()));
    assert_eq!(peer("c", "x"), ("d".into(), "y".into()));
    assert_eq!(peer("d", "y"), ("c".into(), "x".into()));
    assert_eq!(peer("r", "lan"), ("sw".into(), "p1".into()));
    assert_eq!(peer("r", "wan"), ("host".into(), "hx".into()));
    assert_eq!(peer("host", "hx"), ("r".into(), "wan".into()));
    let r = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "r")
        .unwrap();
    let via: Vec<&Value> = r["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["dst"] == "10.9.0.0/16")
        .collect();
    assert_eq!(via.len(), 1, "{r:?}");
    assert_eq!(via[0]["via"], "10.3.0.2");
    assert_eq!(via[0]["dev"], "lan");
    assert_eq!(via[0]["text"], "10.9.0.0/16 via 10.3.0.2 dev lan");

    // `nslab show` prints what show() printed inside the script.
    assert_eq!(read("show.txt").trim_end(), read("script.txt").trim_end());
    // And the graph of the kept lab draws its bridge as a cluster.
    let g = read("graph.dot");
    assert!(g.contains("label=\"sw (switch)\""), "{g}");
    assert!(g.contains("label=\"lan 10.3.0.1/24\\n— p1\""), "{g}");
}

/// show(#{json: true}) returns the lab as JSON (printing nothing itself);
/// the addresses agree with `ip -j addr` run in the namespace.
#[test]
fn show_json_in_a_script() {
    let o = run_ok(
        "j.rhai",
        r#"
let a = netns("a"); let b = netns("b");
let e = veth(a, "e0", b, "e1");
e[0].addr("10.7.0.1/24"); e[1].addr("fd07::2/64");
a.sysctl("net.ipv4.ip_forward", "1");
let c = netns("c");
macvlan(c, "mv0", e[1], #{mode: "bridge"});
let j = show(#{json: true});
print("JSON " + j.len());
print(j);
print("IP");
print(a.exec("ip -j addr show dev e0").stdout);
let v = parse_json(j);
print(`roles ${v.namespaces[0].role} ${v.namespaces[1].role}`);
"#,
    );
    let json_at = o.stdout.find("JSON ").unwrap();
    let body = &o.stdout[o.stdout[json_at..].find('\n').unwrap() + json_at + 1..];
    let (json, rest) = body.split_once("\nIP\n").unwrap();
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["isolated"], true);
    assert_eq!(v["state"], "running");
    let ip: Value = serde_json::from_str(rest.lines().next().unwrap()).unwrap();
    let kernel: Vec<String> = ip[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| !a["local"].as_str().unwrap().starts_with("fe80"))
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    let a = &v["namespaces"][0];
    assert_eq!(a["name"], "a");
    let e0 = a["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "e0")
        .unwrap();
    let shown: Vec<String> = e0["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, kernel);
    assert_eq!(shown, ["10.7.0.1/24"]);
    assert_eq!(e0["peer"]["namespace"], "b");
    assert_eq!(v["namespaces"][1]["links"][1]["addresses"][0], "fd07::2/64");
    o.says(&["roles router host"]);
    // A macvlan names the link it sits on, in another namespace.
    let c = &v["namespaces"][2];
    assert_eq!(c["name"], "c");
    let mv = c["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "mv0")
        .unwrap();
    assert_eq!(mv["kind"], "macvlan");
    assert_eq!(mv["lower"]["namespace"], "b");
    assert_eq!(mv["lower"]["link"], "e1");
    assert_eq!(e0["lower"], Value::Null);

    fails_at(
        "bad.rhai",
        "netns(\"a\");\nshow(#{jsn: true});\n",
        "bad.rhai:2",
        "unknown option 'jsn'",
        "show(#{json: true})",
    );
}

/// `nslab show` of a lab that does not exist says so and how to list labs.
#[test]
fn show_of_a_missing_lab() {
    let d = Dir::new();
    let o = private_host(&d, "\"$NSLAB\" show nope; echo rc=$?");
    o.says(&["rc=1"]);
    assert!(
        o.stderr.contains("there is no lab named 'nope'") && o.stderr.contains("nslab ls"),
        "{}",
        o.stderr
    );
}

/// `sudo nslab graph lab.rhai -o lab.svg` in a directory of the user's:
/// the script runs in a user namespace that maps root alone, where no file
/// can be made there, so a writer left outside writes it, and it is the
/// user's. A script that fails is drawn all the same, with its error.
#[test]
fn under_sudo_graph_writes_into_the_users_directory() {
    let d = Dir::new();
    let Some(theirs) = users_dir(&d) else {
        return;
    };
    d.write(
        "lab.rhai",
        "let a = netns(\"a\");\nlet b = netns(\"b\");\nveth(a, \"e0\", b, \"e0\");\n",
    );
    d.write("bad.rhai", "netns(\"a\");\nthrow \"boom\";\n");
    let graph = |script: &str, out: &str| {
        let o = std::process::Command::new(bin())
            .args(["graph", script, "-o"])
            .arg(theirs.join(out))
            .current_dir(d.path())
            .env("SUDO_UID", "65534")
            .env("SUDO_GID", "65534")
            .env("NO_COLOR", "1")
            .output()
            .expect("run nslab graph");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = graph("lab.rhai", "lab.dot");
    assert_eq!(code, Some(0), "{err}");
    let file = theirs.join("lab.dot");
    let meta = std::fs::metadata(&file).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .starts_with("graph ")
    );
    let (code, err) = graph("bad.rhai", "bad.dot");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("boom"), "{err}");
    let bad = theirs.join("bad.dot");
    let meta = std::fs::metadata(&bad).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert!(
        std::fs::read_to_string(&bad)
            .unwrap()
            .contains("the script failed at line 2")
    );
}
