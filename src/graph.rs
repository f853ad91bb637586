//! `nslab graph`: a lab (see lab::view) as a picture. Namespaces are nodes
//! shaped by role (host: box, router: double circle, switch: rounded
//! record); a namespace with a bridge is a cluster (a Mermaid subgraph)
//! holding the namespace and its bridges; veths are edges between the
//! namespaces (or bridges) of their two ends, labelled with both ends'
//! names and addresses; a macvlan or ipvlan is a dashed edge to the link it
//! sits on; other links (vxlan, a veth whose peer is outside the lab) are
//! dashed boxes of their own. A link that is down is dashed and red, its
//! down end says "(down)". A lab drawn as it stood when its script failed
//! says so in a note (a comment, and a caption where the format has one).
//! SVG is drawn by layout-rs from the same DOT, so no Graphviz is needed,
//! on a canvas fitted to the drawing (fit.rs).

mod fit;

use std::collections::HashMap;
use std::fmt::Write;

use crate::lab::view::{LabView, Link, Namespace, Peer};

/// One edge: ids of its ends and its label lines.
struct Edge {
    a: String,
    b: String,
    label: Vec<String>,
    dashed: bool,
    /// The link is down (an end of it is): drawn dashed and red.
    down: bool,
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
    let mut t = l.name.clone();
    for a in &l.addresses {
        t.push(' ');
        t.push_str(a);
    }
    if !l.up {
        t.push_str(" (down)");
    }
    t
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
        // The routing daemons a router runs say what kind of router it is.
        let mut label = vec![n.name.clone(), n.role.clone()];
        label.extend(n.daemons.iter().cloned());
        let me = Node {
            id: ns_id(i),
            label,
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
                    down: false,
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
                        down: !l.up || !pl.up,
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
                            down: !l.up || !pl.up,
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
                        down: !l.up,
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

/// `note` on one line, for a comment.
fn one_line(note: &str) -> String {
    note.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Graphviz DOT (undirected); `note` (the script failed …) is a comment
/// and the drawing's caption.
pub fn dot(v: &LabView, note: Option<&str>) -> String {
    dot_text(v, note, true)
}

/// DOT, with `note` as the graph's label when `caption` (layout-rs would
/// draw a graph label as a node: the SVG gets its own caption).
fn dot_text(v: &LabView, note: Option<&str>, caption: bool) -> String {
    let p = picture(v);
    let mut out = String::new();
    if let Some(n) = note {
        let _ = writeln!(out, "// {}", one_line(n));
    }
    let _ = writeln!(out, "graph {} {{", dot_str(std::slice::from_ref(&v.lab)));
    if let Some(n) = note
        && caption
    {
        let _ = writeln!(out, "  label={};", dot_str(&[one_line(n)]));
        let _ = writeln!(out, "  labelloc=b;");
        let _ = writeln!(out, "  fontcolor=red;");
    }
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
        if e.dashed || e.down {
            attrs.push("style=dashed".into());
        }
        if e.down {
            attrs.push("color=red".into());
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

/// Mermaid flowchart; `note` is a comment.
pub fn mermaid(v: &LabView, note: Option<&str>) -> String {
    let p = picture(v);
    let mut out = String::new();
    if let Some(n) = note {
        let _ = writeln!(out, "%% {}", one_line(n));
    }
    out.push_str("graph LR\n");
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
        let link = if e.dashed || e.down { "-.-" } else { "---" };
        if e.label.is_empty() {
            let _ = writeln!(out, "  {} {link} {}", e.a, e.b);
        } else {
            let _ = writeln!(out, "  {} {link}|{}| {}", e.a, mm_str(&e.label), e.b);
        }
    }
    // linkStyle counts the links in the order they are written.
    let down: Vec<String> = (p.edges.iter().enumerate())
        .filter(|(_, e)| e.down)
        .map(|(i, _)| i.to_string())
        .collect();
    if !down.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:red,stroke-dasharray:5 5",
            down.join(",")
        );
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// SVG drawn by layout-rs from the DOT, on a canvas that fits it, with
/// `note` as a comment and a red caption below. Its layout code asserts on
/// graphs it cannot place; such a panic is caught and becomes an error.
pub fn svg(v: &LabView, note: Option<&str>) -> Result<String, String> {
    let text = dot_text(v, None, false);
    // The default hook would print the panic as if nslab had crashed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let drawn = std::panic::catch_unwind(|| {
        let mut parser = layout::gv::DotParser::new(&text);
        let ast = parser.process()?;
        let mut b = layout::gv::GraphBuilder::new();
        b.visit_graph(&ast);
        let mut vg = b.get();
        let mut w = fit::Fit::new();
        vg.do_it(false, false, false, &mut w);
        Ok::<fit::Fit, String>(w)
    });
    std::panic::set_hook(hook);
    let mut w = match drawn {
        Ok(r) => r?,
        Err(_) => return Err("the SVG layout failed on this lab".into()),
    };
    let size = 14.0;
    let caption = note.map(|n| {
        let line = one_line(n);
        let at = w.below(std::slice::from_ref(&line), size);
        format!(
            "<!-- {} -->\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"red\" font-size=\"{size}\" font-family=\"Times, serif\">{}</text>\n",
            // "--" may not appear in an XML comment.
            xml_escape(&line).replace("--", "- -"),
            at.x,
            at.y,
            xml_escape(&line)
        )
    });
    let mut out = w.svg.finalize();
    let (x, y, width, height) = w.frame();
    // layout-rs's own canvas starts at the origin: the opening tag is
    // replaced by one with the fitted box.
    if let Some(start) = out.find("<svg ")
        && let Some(len) = out[start..].find('>')
    {
        out.replace_range(
            start..=start + len,
            &format!(
                "<svg width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"{x:.1} {y:.1} {width:.1} {height:.1}\" xmlns=\"http://www.w3.org/2000/svg\">"
            ),
        );
    }
    if let Some(c) = caption
        && let Some(end) = out.rfind("</svg>")
    {
        out.insert_str(end, &c);
    }
    Ok(out)
}
