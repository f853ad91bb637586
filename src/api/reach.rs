//! reach(nodes): every pair of a lab's namespaces pinged at once, as
//! Mininet's pingall does one pair after the other; prints as a matrix.

use std::collections::HashMap;
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
    /// Each node's (address it pings from, address it is reached at): its
    /// src when given, else the address it is reached at.
    ips: Vec<(IpAddr, IpAddr)>,
    /// `#{expect: [[a, b], …]}`: the pairs that must fail, and only they.
    expect: Option<std::collections::HashSet<(usize, usize)>>,
}

impl Reach {
    fn sent(&self) -> u32 {
        self.pairs.len() as u32 * self.count
    }

    fn received(&self) -> u32 {
        self.pairs.iter().map(|p| p.2).sum()
    }

    /// Did every pair answer (with `expect`: exactly the expected pairs
    /// fail, and every other pair answer every echo)?
    fn ok(&self) -> bool {
        match &self.expect {
            None => self.received() == self.sent(),
            Some(want) => self
                .pairs
                .iter()
                .all(|&(a, b, r)| want.contains(&(a, b)) == (r < self.count)),
        }
    }

    /// With `expect`: the pairs that did otherwise than expected.
    fn unexpected(&self) -> Array {
        let Some(want) = &self.expect else {
            return Array::new();
        };
        self.pairs
            .iter()
            .filter(|&&(a, b, r)| want.contains(&(a, b)) != (r < self.count))
            .map(|&(a, b, r)| {
                let why = if r < self.count {
                    self.why_of(a, b, r)
                } else {
                    "answered, but was expected to fail".to_string()
                };
                Dynamic::from(self.pair_map(a, b, why))
            })
            .collect()
    }

    fn why_of(&self, a: usize, b: usize, r: u32) -> String {
        // A reason found on the pair's path first: it stands whatever
        // the machine dropped meanwhile.
        match (self.reasons.get(&(a, b)), &self.why) {
            (Some(w), _) => w.clone(),
            (None, Some(w)) => w.clone(),
            (None, None) if r == 0 => "no reply".to_string(),
            (None, None) => format!("{r} of {} replies", self.count),
        }
    }

    fn pair_map(&self, a: usize, b: usize, why: String) -> Map {
        let mut m = Map::new();
        m.insert("from".into(), self.names[a].clone().into());
        m.insert("from_ip".into(), self.ips[a].0.to_string().into());
        m.insert("to".into(), self.names[b].clone().into());
        m.insert("to_ip".into(), self.ips[b].1.to_string().into());
        m.insert("why".into(), why.into());
        m
    }

    fn failed(&self) -> Array {
        self.pairs
            .iter()
            .filter(|p| p.2 < self.count)
            .map(|&(a, b, r)| Dynamic::from(self.pair_map(a, b, self.why_of(a, b, r))))
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
/// `first` holds the first addresses of the nodes' namespaces, read
/// together beforehand.
fn node(c: &Ctx, v: Dynamic, first: &HashMap<crate::lab::NsId, Option<IpAddr>>) -> Res<Node> {
    let first_addr = |id| match first.get(&id) {
        Some(ip) => Ok(*ip),
        None => c.lab()?.first_addr(id).map_err(err),
    };
    if let Some(ns) = v.clone().try_cast::<Netns>() {
        let ip = first_addr(ns.id)?.ok_or_else(|| {
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
            (None, None) => first_addr(ns.id)?.ok_or_else(|| {
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

/// count, timeout and the `expect` pairs (as given) of reach(nodes, opts).
fn opts(m: &Map) -> Res<(u32, Duration, Option<Array>)> {
    let mut count = 1u32;
    let mut timeout = Duration::from_millis(1000);
    let mut expect = None;
    for (k, v) in m {
        if k.as_str() == "expect" {
            expect = Some(v.clone().into_array().map_err(|t| {
                bad(
                    format!("expect must be an array of pairs, not {t}"),
                    "e.g. #{expect: [[h1, h3], [h3, h1]]}: the pairs that must fail",
                )
            })?);
            continue;
        }
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
                    "the options are count, timeout_ms and expect",
                ));
            }
        }
    }
    Ok((count, timeout, expect))
}

/// `expect: [[a, b], …]`: each pair's node indices; a node by its
/// namespace or its name.
fn expected(names: &[String], pairs: Array) -> Res<std::collections::HashSet<(usize, usize)>> {
    let help = "e.g. #{expect: [[h1, h3], [h3, h1]]}: pairs of the nodes given to reach()";
    let index = |v: &Dynamic| -> Res<usize> {
        let name = match v.clone().try_cast::<Netns>() {
            Some(ns) => ns.name.to_string(),
            None => v
                .clone()
                .into_string()
                .map_err(|t| bad(format!("a node of an expected pair is a {t}"), help))?,
        };
        names.iter().position(|n| *n == name).ok_or_else(|| {
            bad(
                format!("'{name}' in expect is not one of reach()'s nodes"),
                help,
            )
        })
    };
    let mut out = std::collections::HashSet::new();
    for p in pairs {
        let pair = p
            .into_array()
            .ok()
            .filter(|a| a.len() == 2)
            .ok_or_else(|| bad("an expected pair is [from, to]", help))?;
        out.insert((index(&pair[0])?, index(&pair[1])?));
    }
    Ok(out)
}

fn reach(
    c: &Ctx,
    nodes: Array,
    count: u32,
    timeout: Duration,
    expect: Option<Array>,
) -> Res<Reach> {
    if nodes.len() < 2 {
        return Err(bad(
            format!("reach() needs at least two nodes, got {}", nodes.len()),
            "e.g. reach([h1, h2, h3])",
        ));
    }
    let mut list = Vec::new();
    let mut srcs = Vec::new();
    let mut names = Vec::new();
    let mut ips = Vec::new();
    // The namespaces given as such, whose first address is asked for.
    let mut ids: Vec<crate::lab::NsId> = nodes
        .iter()
        .filter_map(|v| v.clone().try_cast::<Netns>().map(|n| n.id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let first: HashMap<_, _> = if ids.len() > 1 {
        let addrs = c.lab()?.first_addrs(&ids).map_err(err)?;
        ids.into_iter().zip(addrs).collect()
    } else {
        HashMap::new()
    };
    for v in nodes {
        let (id, name, ip, src) = node(c, v, &first)?;
        list.push((id, ip));
        srcs.push(src);
        names.push(name);
        ips.push((src.unwrap_or(ip), ip));
    }
    let expect = match expect {
        Some(pairs) => Some(expected(&names, pairs)?),
        None => None,
    };
    let rep = c.lab()?.reach(&list, &srcs, count, timeout).map_err(err)?;
    Ok(Reach {
        names,
        count: rep.count,
        pairs: rep.pairs,
        why: rep.why,
        reasons: rep.reasons,
        ips,
        expect,
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
        sig: "reach([ns, …]) / reach(nodes, #{count, timeout_ms, expect}) -> #{ok, sent, received, failed, unexpected}",
        doc: "Ping every ordered pair of the nodes at once (Mininet's pingall, in parallel): a node is a namespace (reached at its first address) or #{ns, ip, src}: src is the address it pings from (and, without ip, is reached at: loopback to loopback in a routing lab). ok, sent, received, failed: [#{from, from_ip, to, to_ip, why}], why found along the path as ns.trace does; expect: [[a, b], …] the pairs that must fail (a node by namespace or name): ok then says exactly those failed, unexpected lists the pairs that did otherwise; prints as a matrix (X where a reply was missing). timeout_ms (default 1000) is the whole wait: the first sweep has half, the pairs left unanswered are pinged again with the rest (up to 4 times, sharing it, when the kernel dropped packets machine-wide meanwhile).",
        example: "let r = reach([h1, h2, h3]); print(r); if !r.ok { throw r.failed; }",
    };
    let c = ctx.clone();
    r.func(doc.clone(), move |nodes: Array| -> Res<Reach> {
        reach(&c, nodes, 1, Duration::from_millis(1000), None)
    });
    let c = ctx.clone();
    r.func(doc, move |nodes: Array, m: Map| -> Res<Reach> {
        let (count, timeout, expect) = opts(&m)?;
        reach(&c, nodes, count, timeout, expect)
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
            "Did every pair answer every echo request? With #{expect: [[a, b], …]}: did exactly those pairs fail, and every other answer?",
            "if !reach([h1, h2]).ok { print(\"some pairs did not answer\"); }",
        ),
        |x: &mut Reach| x.ok(),
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
            "r.failed -> [#{from, from_ip, to, to_ip, why}]",
            "The pairs that missed a reply, and why when nslab can tell.",
            "for f in reach([h1, h2]).failed { print(`${f.from} -> ${f.to}: ${f.why}`); }",
        ),
        |x: &mut Reach| x.failed(),
    );
    r.getter(
        getter(
            "unexpected",
            "r.unexpected -> [#{from, from_ip, to, to_ip, why}]",
            "With #{expect: [[a, b], …]}: the pairs that failed though not expected to, and those expected to fail that answered; empty without expect.",
            "let r = reach([h1, h2, h3], #{expect: [[h1, h3]]}); for u in r.unexpected { print(`${u.from} -> ${u.to}: ${u.why}`); }",
        ),
        |x: &mut Reach| x.unexpected(),
    );
}
