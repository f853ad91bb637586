//! `nslab graph`: a lab (see lab::view) as a picture. Namespaces are nodes
//! shaped by role (host: box, router: double circle, switch: rounded
//! record); a namespace with a bridge is a cluster (a Mermaid subgraph)
//! holding the namespace and its bridges; veths are edges between the
//! namespaces (or bridges) of their two ends, labelled with both ends'
//! names and addresses; a macvlan or ipvlan is a dashed edge to the link it
//! sits on; other links (vxlan, a veth whose peer is outside the lab) are
//! dashed boxes of their own. SVG is drawn by layout-rs
//! from the same DOT, so no Graphviz is needed.

use std::collections::HashMap;
use std::fmt::Write;

use crate::lab::view::{LabView, Link, Namespace, Peer};

/// One edge: ids of its ends and its label lines.
struct Edge {
    a: String,
    b: String,
    label: Vec<String>,
    dashed: bool,
}

/// One node: its id, label lines and shape (a Graphviz shape name).
struct Node {
    id: String,
    label: Vec<String>,
    shape: &'static str,
    dashed: bool,
}

/// A cluster (namespace with bridges) or the top level (`name` None).
struct Group {
    name: Option<String>,
    nodes: Vec<Node>,
}

struct Picture {
    groups: Vec<Group>,
    edges: Vec<Edge>,
}

fn ends_text(l: &Link) -> String {
    if l.addresses.is_empty() {
        l.name.clone()
    } else {
        format!("{} {}", l.name, l.addresses.join(" "))
    }
}

fn ns_shape(role: &str) -> &'static str {
    match role {
        "router" => "doublecircle",
        "switch" => "Mrecord",
        _ => "box",
    }
}

/// The lab as nodes, clusters and edges: what DOT and Mermaid both draw.
fn picture(v: &LabView) -> Picture {
    let ns_id = |i: usize| format!("n{i}");
    let index: HashMap<&str, usize> = v
        .namespaces
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    // The (namespace, link) positions of a link another one names (its
    // veth peer, or the link a macvlan sits on).
    let locate = |p: &Peer| -> Option<(usize, usize)> {
        let j = *index.get(p.namespace.as_str())?;
        let pk = v.namespaces[j]
            .links
            .iter()
            .position(|x| x.name == p.link)?;
        Some((j, pk))
    };
    // Where a link's edge starts: its bridge, or its namespace.
    let end_of = |i: usize, link: &Link| -> String {
        let n: &Namespace = &v.namespaces[i];
        if let Some(m) = &link.master
            && let Some(k) = n
                .links
                .iter()
                .position(|l| &l.name == m && l.kind == "bridge")
        {
            return format!("b{i}_{k}");
        }
        ns_id(i)
    };
    let mut groups = vec![Group {
        name: None,
        nodes: Vec::new(),
    }];
    let mut edges = Vec::new();
    if v.namespaces.is_empty() {
        groups[0].nodes.push(Node {
            id: "empty".into(),
            label: vec![format!("{}: no namespaces", v.lab)],
            shape: "box",
            dashed: true,
        });
    }
    for (i, n) in v.namespaces.iter().enumerate() {
        let bridges: Vec<(usize, &Link)> = n
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == "bridge")
            .collect();
        let me = Node {
            id: ns_id(i),
            label: vec![n.name.clone(), n.role.clone()],
            shape: ns_shape(&n.role),
            dashed: false,
        };
        if bridges.is_empty() {
            groups[0].nodes.push(me);
        } else {
            let mut g = Group {
                name: Some(format!("{} ({})", n.name, n.role)),
                nodes: vec![me],
            };
            for (k, b) in bridges {
                let mut label = vec![format!("{} (bridge)", b.name)];
                label.extend(b.addresses.iter().cloned());
                g.nodes.push(Node {
                    id: format!("b{i}_{k}"),
                    label,
                    shape: "box",
                    dashed: false,
                });
                edges.push(Edge {
                    a: ns_id(i),
                    b: format!("b{i}_{k}"),
                    label: Vec::new(),
                    dashed: true,
                });
            }
            groups.push(g);
        }
        for (k, l) in n.links.iter().enumerate() {
            if l.kind == "bridge" || l.kind == "loopback" {
                continue;
            }
            let peer = l.peer.as_ref().and_then(locate);
            match peer {
                // Each pair once: from the end that comes first.
                Some((j, pk)) if (j, pk) < (i, k) => {}
                Some((j, pk)) => {
                    let pl = &v.namespaces[j].links[pk];
                    edges.push(Edge {
                        a: end_of(i, l),
                        b: end_of(j, pl),
                        label: vec![ends_text(l), format!("— {}", ends_text(pl))],
                        dashed: false,
                    });
                }
                None => {
                    // A macvlan or ipvlan: an edge to the link it sits on.
                    let lower = l.lower.as_ref().and_then(locate);
                    if let Some((j, pk)) = lower {
                        let pl = &v.namespaces[j].links[pk];
                        edges.push(Edge {
                            a: end_of(i, l),
                            b: end_of(j, pl),
                            label: vec![
                                format!("{} ({})", ends_text(l), l.kind),
                                format!("on {}", ends_text(pl)),
                            ],
                            dashed: true,
                        });
                        continue;
                    }
                    let id = format!("x{i}_{k}");
                    let kind = if l.kind.is_empty() { "link" } else { &l.kind };
                    groups[0].nodes.push(Node {
                        id: id.clone(),
                        label: vec![l.name.clone(), format!("({kind} in {})", n.name)],
                        shape: "box",
                        dashed: true,
                    });
                    edges.push(Edge {
                        a: end_of(i, l),
                        b: id,
                        label: l.addresses.clone(),
                        dashed: true,
                    });
                }
            }
        }
    }
    Picture { groups, edges }
}

/// A DOT string: only characters that need no thought anywhere.
fn dot_str(lines: &[String]) -> String {
    let esc: Vec<String> = lines
        .iter()
        .map(|s| s.replace('\\', "\\\\").replace('"', "\\\""))
        .collect();
    format!("\"{}\"", esc.join("\\n"))
}

/// Graphviz DOT (undirected).
pub fn dot(v: &LabView) -> String {
    let p = picture(v);
    let mut out = String::new();
    let _ = writeln!(out, "graph {} {{", dot_str(std::slice::from_ref(&v.lab)));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [fontsize=12];");
    let _ = writeln!(out, "  edge [fontsize=10];");
    for (gi, g) in p.groups.iter().enumerate() {
        let indent = if g.name.is_some() { "    " } else { "  " };
        if let Some(name) = &g.name {
            let _ = writeln!(out, "  subgraph cluster_{gi} {{");
            let _ = writeln!(out, "    label={};", dot_str(std::slice::from_ref(name)));
            let _ = writeln!(out, "    style=rounded;");
        }
        for n in &g.nodes {
            let style = if n.dashed { ", style=dashed" } else { "" };
            let _ = writeln!(
                out,
                "{indent}{} [label={}, shape={}{style}];",
                n.id,
                dot_str(&n.label),
                n.shape
            );
        }
        if g.name.is_some() {
            let _ = writeln!(out, "  }}");
        }
    }
    for e in &p.edges {
        let mut attrs = Vec::new();
        if !e.label.is_empty() {
            attrs.push(format!("label={}", dot_str(&e.label)));
        }
        if e.dashed {
            attrs.push("style=dashed".into());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(out, "  {} -- {}{attrs};", e.a, e.b);
    }
    out.push_str("}\n");
    out
}

/// Mermaid text: characters Mermaid treats as syntax inside a quoted label
/// are written as its entity codes.
fn mm_str(lines: &[String]) -> String {
    let esc: Vec<String> = lines
        .iter()
        .map(|s| {
            s.replace('#', "#35;")
                .replace('"', "#quot;")
                .replace('|', "#124;")
                .replace('<', "#lt;")
                .replace('>', "#gt;")
        })
        .collect();
    format!("\"{}\"", esc.join("<br/>"))
}

/// Mermaid flowchart.
pub fn mermaid(v: &LabView) -> String {
    let p = picture(v);
    let mut out = String::from("graph LR\n");
    for (gi, g) in p.groups.iter().enumerate() {
        let indent = if g.name.is_some() { "    " } else { "  " };
        if let Some(name) = &g.name {
            let _ = writeln!(
                out,
                "  subgraph c{gi} [{}]",
                mm_str(std::slice::from_ref(name))
            );
        }
        for n in &g.nodes {
            let l = mm_str(&n.label);
            let shaped = match n.shape {
                "doublecircle" => format!("((({l})))"),
                "Mrecord" => format!("[[{l}]]"),
                _ if n.dashed => format!("[/{l}/]"),
                _ => format!("[{l}]"),
            };
            let _ = writeln!(out, "{indent}{}{shaped}", n.id);
        }
        if g.name.is_some() {
            let _ = writeln!(out, "  end");
        }
    }
    for e in &p.edges {
        let link = if e.dashed { "-.-" } else { "---" };
        if e.label.is_empty() {
            let _ = writeln!(out, "  {} {link} {}", e.a, e.b);
        } else {
            let _ = writeln!(out, "  {} {link}|{}| {}", e.a, mm_str(&e.label), e.b);
        }
    }
    out
}

/// SVG drawn by layout-rs from the DOT. Its layout code asserts on graphs
/// it cannot place; such a panic is caught and becomes an error.
pub fn svg(v: &LabView) -> Result<String, String> {
    let text = dot(v);
    // The default hook would print the panic as if nslab had crashed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let drawn = std::panic::catch_unwind(|| {
        let mut parser = layout::gv::DotParser::new(&text);
        let ast = parser.process()?;
        let mut b = layout::gv::GraphBuilder::new();
        b.visit_graph(&ast);
        let mut vg = b.get();
        let mut w = layout::backends::svg::SVGWriter::new();
        vg.do_it(false, false, false, &mut w);
        Ok::<String, String>(w.finalize())
    });
    std::panic::set_hook(hook);
    match drawn {
        Ok(r) => r,
        Err(_) => Err("the SVG layout failed on this lab".into()),
    }
}
