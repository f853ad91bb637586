//! reach(nodes): every pair of a lab's namespaces pinged at once, as
//! Mininet's pingall does one pair after the other; prints as a matrix.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use rhai::{Array, Dynamic, Map};

use super::addr::{parse_ip, str_opt};
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err};

/// The result of reach(): who reached whom.
#[derive(Clone)]
pub struct Reach {
    names: Vec<String>,
    count: u32,
    /// (from, to, replies) by node index.
    pairs: Vec<(usize, usize, u32)>,
    why: Option<String>,
    reasons: std::collections::HashMap<(usize, usize), String>,
}

impl Reach {
    fn sent(&self) -> u32 {
        self.pairs.len() as u32 * self.count
    }

    fn received(&self) -> u32 {
        self.pairs.iter().map(|p| p.2).sum()
    }

    fn failed(&self) -> Array {
        self.pairs
            .iter()
            .filter(|p| p.2 < self.count)
            .map(|&(a, b, r)| {
                let mut m = Map::new();
                m.insert("from".into(), self.names[a].clone().into());
                m.insert("to".into(), self.names[b].clone().into());
                let why = match (&self.why, self.reasons.get(&(a, b))) {
                    (Some(w), _) => w.clone(),
                    (None, Some(w)) => w.clone(),
                    (None, None) if r == 0 => "no reply".to_string(),
                    (None, None) => format!("{r} of {} replies", self.count),
                };
                m.insert("why".into(), why.into());
                Dynamic::from(m)
            })
            .collect()
    }
}

impl std::fmt::Display for Reach {
    /// Mininet's layout: a row per node, the nodes it reached, `X` where a
    /// reply was missing; then the loss.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.names.iter().map(String::len).max().unwrap_or(1);
        for (i, name) in self.names.iter().enumerate() {
            let mut row = format!("{name:<width$} ->");
            for &(a, b, r) in &self.pairs {
                if a == i {
                    let cell = if r == self.count { &self.names[b] } else { "X" };
                    let _ = write!(row, " {cell:<width$}");
                }
            }
            writeln!(f, "{}", row.trim_end())?;
        }
        let (sent, got) = (self.sent(), self.received());
        let dropped = (100 * (sent - got)).checked_div(sent).unwrap_or(0);
        write!(f, "{dropped}% dropped ({got}/{sent} received)")?;
        if let Some(w) = &self.why {
            write!(f, "; {w}")?;
        }
        Ok(())
    }
}

/// A reach node: its namespace, name, the address it is reached at, and
/// the source it pings from (None: the kernel's pick).
type Node = (crate::lab::NsId, String, IpAddr, Option<IpAddr>);

/// A node: a Netns (reached at its first address) or #{ns, ip, src}
/// (without ip, reached at src when given, else at its first address).
fn node(c: &Ctx, v: Dynamic) -> Res<Node> {
    if let Some(ns) = v.clone().try_cast::<Netns>() {
        let ip = c.lab()?.first_addr(ns.id).map_err(err)?.ok_or_else(|| {
            bad(
                format!("namespace '{}' has no address to be reached at", ns.name),
                format!(
                    "give it one first, or name the address: #{{ns: {}, ip: \"10.0.0.1\"}}",
                    ns.name
                ),
            )
        })?;
        return Ok((ns.id, ns.name.to_string(), ip, None));
    }
    if let Some(m) = v.try_cast::<Map>() {
        let ns = m
            .get("ns")
            .and_then(|n| n.clone().try_cast::<Netns>())
            .ok_or_else(|| {
                bad(
                    "a reach node map needs ns: a namespace",
                    "e.g. #{ns: h1, ip: \"10.0.0.1\"}",
                )
            })?;
        if let Some(k) = m
            .keys()
            .find(|k| !matches!(k.as_str(), "ns" | "ip" | "src"))
        {
            return Err(bad(
                format!("unknown key '{k}' in a reach node"),
                "a node is #{ns, ip, src}",
            ));
        }
        let src = match m.get("src") {
            Some(s) => Some(parse_ip(&str_opt(s, "src")?, "reach source address")?),
            None => None,
        };
        let ip = match (m.get("ip"), src) {
            (Some(i), _) => parse_ip(&i.to_string(), "reach address")?,
            (None, Some(s)) => s,
            (None, None) => c.lab()?.first_addr(ns.id).map_err(err)?.ok_or_else(|| {
                bad(
                    format!("namespace '{}' has no address to be reached at", ns.name),
                    "give it one first, or name the address: #{ns: h1, ip: \"10.0.0.1\"}",
                )
            })?,
        };
        if let Some(s) = src.filter(|s| s.is_ipv4() != ip.is_ipv4()) {
            return Err(bad(
                format!("source {s} and address {ip} of a reach node are not of one family"),
                "give a node's src and ip of one family",
            ));
        }
        return Ok((ns.id, ns.name.to_string(), ip, src));
    }
    Err(bad(
        "reach() takes namespaces or #{ns, ip} maps",
        "e.g. reach([h1, h2, h3]) or reach([#{ns: h1, ip: \"10.0.0.1\"}, …])",
    ))
}

fn opts(m: &Map) -> Res<(u32, Duration)> {
    let mut count = 1u32;
    let mut timeout = Duration::from_millis(1000);
    for (k, v) in m {
        let n = v.as_int().map_err(|t| {
            bad(
                format!("{k} must be a number, not {t}"),
                "e.g. #{count: 2, timeout_ms: 500}",
            )
        })?;
        match k.as_str() {
            "count" => {
                count = u32::try_from(n)
                    .ok()
                    .filter(|c| (1..=100).contains(c))
                    .ok_or_else(|| {
                        bad(
                            format!("count = {n} is out of range"),
                            "use 1..=100 echo requests per pair",
                        )
                    })?
            }
            "timeout_ms" => timeout = super::socket::timeout_opt(v, 60_000)?,
            other => {
                return Err(bad(
                    format!("unknown reach option '{other}'"),
                    "the options are count and timeout_ms",
                ));
            }
        }
    }
    Ok((count, timeout))
}

fn reach(c: &Ctx, nodes: Array, count: u32, timeout: Duration) -> Res<Reach> {
    if nodes.len() < 2 {
        return Err(bad(
            format!("reach() needs at least two nodes, got {}", nodes.len()),
            "e.g. reach([h1, h2, h3])",
        ));
    }
    let mut list = Vec::new();
    let mut srcs = Vec::new();
    let mut names = Vec::new();
    for v in nodes {
        let (id, name, ip, src) = node(c, v)?;
        list.push((id, ip));
        srcs.push(src);
        names.push(name);
    }
    let rep = c.lab()?.reach(&list, &srcs, count, timeout).map_err(err)?;
    Ok(Reach {
        names,
        count: rep.count,
        pairs: rep.pairs,
        why: rep.why,
        reasons: rep.reasons,
    })
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    r.engine.register_type_with_name::<Reach>("Reach");
    r.engine
        .register_fn("to_string", |x: &mut Reach| x.to_string());
    r.engine
        .register_fn("to_debug", |x: &mut Reach| x.to_string());
    let doc = Doc {
        area: "probes",
        name: "reach",
        sig: "reach([ns, …]) / reach(nodes, #{count, timeout_ms}) -> #{ok, sent, received, failed}",
        doc: "Ping every ordered pair of the nodes at once (Mininet's pingall, in parallel): a node is a namespace (reached at its first address) or #{ns, ip, src}: src is the address it pings from (and, without ip, is reached at: loopback to loopback in a routing lab). ok, sent, received, failed: [#{from, to, why}], why found along the path as ns.trace does; prints as a matrix (X where a reply was missing).",
        example: "let r = reach([h1, h2, h3]); print(r); if !r.ok { throw r.failed; }",
    };
    let c = ctx.clone();
    r.func(doc.clone(), move |nodes: Array| -> Res<Reach> {
        reach(&c, nodes, 1, Duration::from_millis(1000))
    });
    let c = ctx.clone();
    r.func(doc, move |nodes: Array, m: Map| -> Res<Reach> {
        let (count, timeout) = opts(&m)?;
        reach(&c, nodes, count, timeout)
    });
    let getter =
        |name: &'static str, sig: &'static str, doc: &'static str, example: &'static str| Doc {
            area: "probes",
            name,
            sig,
            doc,
            example,
        };
    r.getter(
        getter(
            "ok",
            "r.ok -> bool",
            "Did every pair answer every echo request?",
            "if !reach([h1, h2]).ok { print(\"some pairs did not answer\"); }",
        ),
        |x: &mut Reach| x.received() == x.sent(),
    );
    r.getter(
        getter(
            "sent",
            "r.sent -> int",
            "Echo requests sent, over all pairs.",
            "let r = reach([h1, h2, h3], #{count: 2}); print(`${r.sent} requests sent`);",
        ),
        |x: &mut Reach| i64::from(x.sent()),
    );
    r.getter(
        getter(
            "received",
            "r.received -> int",
            "Echo replies that came back.",
            "let r = reach([h1, h2]); print(`${r.received} of ${r.sent} replies`);",
        ),
        |x: &mut Reach| i64::from(x.received()),
    );
    r.getter(
        getter(
            "failed",
            "r.failed -> [#{from, to, why}]",
            "The pairs that missed a reply, and why when nslab can tell.",
            "for f in reach([h1, h2]).failed { print(`${f.from} -> ${f.to}: ${f.why}`); }",
        ),
        |x: &mut Reach| x.failed(),
    );
}
