//! The filter chains of a namespace's nf_tables ruleset, read from `nft -j
//! list ruleset` (nslab's own table, other tables, iptables-nft alike),
//! and what they do to one packet at one hook: every base chain of the
//! packet's family at that hook, in priority order; a drop or reject
//! anywhere ends it, an accept ends only its own chain. A match nslab does
//! not read makes the answer a "maybe", never a guess.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// One rule: where it is and what it says.
#[derive(Debug, Clone)]
pub struct Rule {
    pub handle: u64,
    pub comment: Option<String>,
    pub expr: Vec<Value>,
}

/// A base chain (one with a hook).
#[derive(Debug, Clone)]
pub struct Chain {
    pub family: String,
    pub table: String,
    pub name: String,
    pub hook: String,
    pub prio: i64,
    pub kind: String,
    pub policy: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    pub chains: Vec<Chain>,
}

/// The packet as the rules see it at one hook.
#[derive(Debug, Clone)]
pub struct Pkt<'a> {
    pub iif: Option<&'a str>,
    pub oif: Option<&'a str>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number.
    pub l4: u8,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// "echo-request" / "echo-reply" for a ping.
    pub icmp_type: Option<&'static str>,
    /// "new" for a request, "established" for its reply.
    pub ct: &'static str,
    /// Its destination was rewritten on the way (`ct status dnat`).
    pub dnat: bool,
}

/// What the chains at a hook do to the packet.
#[derive(Debug, Clone)]
pub enum Outcome {
    Pass,
    /// Dropped or rejected by `rule` (by the policy when `None`) of
    /// `chain`; `maybe` when a rule nslab could not read came first or is
    /// the one that drops.
    Drop {
        chain: Box<Chain>,
        rule: Option<Rule>,
        verdict: String,
        maybe: bool,
    },
}

pub fn parse(json: &str) -> Ruleset {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return Ruleset::default();
    };
    let items = v["nftables"].as_array().cloned().unwrap_or_default();
    let mut chains: Vec<Chain> = Vec::new();
    for it in &items {
        let c = &it["chain"];
        if let Some(hook) = c["hook"].as_str() {
            chains.push(Chain {
                family: c["family"].as_str().unwrap_or("").into(),
                table: c["table"].as_str().unwrap_or("").into(),
                name: c["name"].as_str().unwrap_or("").into(),
                hook: hook.into(),
                prio: c["prio"].as_i64().unwrap_or(0),
                kind: c["type"].as_str().unwrap_or("filter").into(),
                policy: c["policy"].as_str().unwrap_or("accept").into(),
                rules: Vec::new(),
            });
        }
    }
    for it in &items {
        let r = &it["rule"];
        if !r.is_object() {
            continue;
        }
        let (f, t, c) = (
            r["family"].as_str().unwrap_or(""),
            r["table"].as_str().unwrap_or(""),
            r["chain"].as_str().unwrap_or(""),
        );
        if let Some(ch) = chains
            .iter_mut()
            .find(|x| x.family == f && x.table == t && x.name == c)
        {
            ch.rules.push(Rule {
                handle: r["handle"].as_u64().unwrap_or(0),
                comment: r["comment"].as_str().map(str::to_string),
                expr: r["expr"].as_array().cloned().unwrap_or_default(),
            });
        }
    }
    chains.sort_by_key(|c| c.prio);
    Ruleset { chains }
}

fn proto_num(name: &str) -> Option<u8> {
    match name {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmpv6" | "ipv6-icmp" => Some(58),
        "sctp" => Some(132),
        _ => name.parse().ok(),
    }
}

/// A field of the packet, as a rule compares it.
enum Field {
    Name(Option<String>),
    Addr(IpAddr),
    Num(Option<u64>),
    Words(Vec<&'static str>),
}

/// Does `right` (a value, prefix, range, set or list) hold `x`?
fn holds(right: &Value, x: &Field) -> Option<bool> {
    if let Some(items) = right.as_array().or_else(|| right["set"].as_array()) {
        let mut unknown = false;
        for i in items {
            match holds(i, x) {
                Some(true) => return Some(true),
                None => unknown = true,
                Some(false) => {}
            }
        }
        return if unknown { None } else { Some(false) };
    }
    match x {
        Field::Name(n) => {
            let want = right.as_str()?;
            Some(n.as_deref() == Some(want))
        }
        Field::Addr(ip) => {
            if let Some(s) = right.as_str() {
                return Some(s.parse::<IpAddr>().ok()? == *ip);
            }
            let p = &right["prefix"];
            if p.is_object() {
                let a: IpAddr = p["addr"].as_str()?.parse().ok()?;
                let net = IpNet::new(a, u8::try_from(p["len"].as_u64()?).ok()?).ok()?;
                return Some(net.contains(ip));
            }
            if let Some([lo, hi]) = right["range"].as_array().map(Vec::as_slice) {
                let (lo, hi): (IpAddr, IpAddr) =
                    (lo.as_str()?.parse().ok()?, hi.as_str()?.parse().ok()?);
                return Some(lo <= *ip && *ip <= hi);
            }
            None
        }
        Field::Num(n) => {
            let n = (*n)?;
            if let Some(v) = right.as_u64() {
                return Some(v == n);
            }
            if let Some(s) = right.as_str() {
                return Some(u64::from(proto_num(s)?) == n);
            }
            if let Some([lo, hi]) = right["range"].as_array().map(Vec::as_slice) {
                return Some(lo.as_u64()? <= n && n <= hi.as_u64()?);
            }
            None
        }
        Field::Words(ws) => {
            let want = right.as_str()?;
            Some(ws.contains(&want))
        }
    }
}

/// The packet's value for a match's left side; `None`: nslab does not read
/// that kind of match. `Some(Err(()))`: the match cannot hold (a tcp port
/// match on a udp packet).
fn field_of(left: &Value, p: &Pkt) -> Option<Result<Field, ()>> {
    if let Some(key) = left["meta"]["key"].as_str() {
        return Some(Ok(match key {
            "iifname" | "iif" => Field::Name(p.iif.map(str::to_string)),
            "oifname" | "oif" => Field::Name(p.oif.map(str::to_string)),
            "l4proto" => Field::Num(Some(u64::from(p.l4))),
            "nfproto" => Field::Words(vec![if p.src.is_ipv4() { "ipv4" } else { "ipv6" }]),
            _ => return None,
        }));
    }
    if left["ct"]["key"].as_str() == Some("state") {
        return Some(Ok(Field::Words(vec![p.ct])));
    }
    if left["ct"]["key"].as_str() == Some("status") {
        // A request is new (unconfirmed); its reply's connection has been
        // confirmed and has seen a reply.
        let mut w = if p.ct == "new" {
            vec![]
        } else {
            vec!["confirmed", "seen-reply", "assured"]
        };
        if p.dnat {
            w.push("dnat");
        }
        return Some(Ok(Field::Words(w)));
    }
    let pl = &left["payload"];
    let (proto, fieldname) = (pl["protocol"].as_str()?, pl["field"].as_str()?);
    Some(match (proto, fieldname) {
        ("ip", f) | ("ip6", f) => {
            if (proto == "ip") != p.src.is_ipv4() {
                return Some(Err(()));
            }
            match f {
                "saddr" => Ok(Field::Addr(p.src)),
                "daddr" => Ok(Field::Addr(p.dst)),
                "protocol" | "nexthdr" => Ok(Field::Num(Some(u64::from(p.l4)))),
                _ => return None,
            }
        }
        ("tcp", f) | ("udp", f) | ("th", f) => {
            let want = match proto {
                "tcp" => Some(6),
                "udp" => Some(17),
                _ => None,
            };
            if want.is_some_and(|w| w != p.l4) || (p.l4 != 6 && p.l4 != 17) {
                return Some(Err(()));
            }
            match f {
                "sport" => Ok(Field::Num(p.sport.map(u64::from))),
                "dport" => Ok(Field::Num(p.dport.map(u64::from))),
                _ => return None,
            }
        }
        ("icmp", "type") | ("icmpv6", "type") => {
            let want = if proto == "icmp" { 1 } else { 58 };
            if p.l4 != want {
                return Some(Err(()));
            }
            Ok(Field::Name(p.icmp_type.map(str::to_string)))
        }
        _ => return None,
    })
}

/// Whether one `match` expression holds; `None` when nslab cannot tell.
fn eval_match(m: &Value, p: &Pkt) -> Option<bool> {
    let op = m["op"].as_str().unwrap_or("==");
    let f = match field_of(&m["left"], p)? {
        Ok(f) => f,
        Err(()) => return Some(false),
    };
    let r = holds(&m["right"], &f)?;
    match op {
        "==" | "in" => Some(r),
        "!=" => Some(!r),
        _ => None,
    }
}

enum RuleEnd {
    /// Matches and ends with this verdict (accept, drop, reject, return).
    Verdict(&'static str),
    NoMatch,
    /// Might match: a match or a jump nslab does not read.
    Maybe(&'static str),
}

fn eval_rule(r: &Rule, p: &Pkt) -> RuleEnd {
    let mut unsure = false;
    for e in &r.expr {
        if let Some(m) = e.get("match") {
            match eval_match(m, p) {
                Some(true) => {}
                Some(false) => return RuleEnd::NoMatch,
                None => unsure = true,
            }
            continue;
        }
        let verdict = if e.get("accept").is_some() {
            "accept"
        } else if e.get("drop").is_some() {
            "drop"
        } else if e.get("reject").is_some() {
            "reject"
        } else if e.get("return").is_some() {
            "return"
        } else if e.get("jump").is_some() || e.get("goto").is_some() {
            // Another chain decides: nslab does not follow it.
            return RuleEnd::Maybe("jump");
        } else {
            // counter, log, limit, meta set, …: no verdict.
            continue;
        };
        return if unsure {
            RuleEnd::Maybe(verdict)
        } else {
            RuleEnd::Verdict(verdict)
        };
    }
    RuleEnd::NoMatch
}

impl Ruleset {
    /// What the filter chains at `hook` do to `p` (IPv4 sees ip and inet
    /// chains, IPv6 ip6 and inet).
    pub fn at(&self, hook: &str, p: &Pkt) -> Outcome {
        let fam = if p.src.is_ipv4() { "ip" } else { "ip6" };
        let mut unsure = false;
        for c in self.chains.iter().filter(|c| {
            c.hook == hook && c.kind != "nat" && (c.family == fam || c.family == "inet")
        }) {
            let mut ended = false;
            for r in &c.rules {
                match eval_rule(r, p) {
                    RuleEnd::NoMatch => {}
                    RuleEnd::Verdict("accept") | RuleEnd::Verdict("return") => {
                        ended = true;
                        break;
                    }
                    RuleEnd::Verdict(v) => {
                        return Outcome::Drop {
                            chain: Box::new(c.clone()),
                            rule: Some(r.clone()),
                            verdict: v.into(),
                            maybe: unsure,
                        };
                    }
                    RuleEnd::Maybe(v) if v == "drop" || v == "reject" => {
                        return Outcome::Drop {
                            chain: Box::new(c.clone()),
                            rule: Some(r.clone()),
                            verdict: v.into(),
                            maybe: true,
                        };
                    }
                    RuleEnd::Maybe(_) => unsure = true,
                }
            }
            if !ended && c.policy == "drop" {
                return Outcome::Drop {
                    chain: Box::new(c.clone()),
                    rule: None,
                    verdict: "drop".into(),
                    maybe: unsure,
                };
            }
        }
        Outcome::Pass
    }

    /// How many rules or policies can drop (for "what was checked").
    pub fn droppers(&self) -> usize {
        self.chains
            .iter()
            .map(|c| {
                usize::from(c.policy == "drop")
                    + c.rules
                        .iter()
                        .filter(|r| {
                            r.expr
                                .iter()
                                .any(|e| e.get("drop").is_some() || e.get("reject").is_some())
                        })
                        .count()
            })
            .sum()
    }
}

/// A rule in nft's words, roughly: `ip daddr 10.2.0.2 tcp dport 22 drop`.
pub fn describe(r: &Rule) -> String {
    let mut out = Vec::new();
    for e in &r.expr {
        if let Some(m) = e.get("match") {
            let left = &m["left"];
            let l = if let Some(k) = left["meta"]["key"].as_str() {
                match k {
                    "iifname" | "oifname" | "iif" | "oif" => k.to_string(),
                    _ => format!("meta {k}"),
                }
            } else if let Some(k) = left["ct"]["key"].as_str() {
                format!("ct {k}")
            } else if left["payload"].is_object() {
                format!(
                    "{} {}",
                    left["payload"]["protocol"].as_str().unwrap_or("?"),
                    left["payload"]["field"].as_str().unwrap_or("?")
                )
            } else {
                "…".to_string()
            };
            let op = match m["op"].as_str().unwrap_or("==") {
                "==" | "in" => String::new(),
                o => format!("{o} "),
            };
            out.push(format!("{l} {op}{}", value_words(&m["right"])));
        } else if let Some((k, _)) = e.as_object().and_then(|o| o.iter().next())
            && k != "counter"
        {
            out.push(k.clone());
        }
    }
    out.join(" ")
}

fn value_words(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_string();
    }
    if let Some(n) = v.as_u64() {
        return n.to_string();
    }
    if let Some(items) = v.as_array().or_else(|| v["set"].as_array()) {
        let w: Vec<String> = items.iter().map(value_words).collect();
        return format!("{{ {} }}", w.join(", "));
    }
    if v["prefix"].is_object() {
        return format!(
            "{}/{}",
            v["prefix"]["addr"].as_str().unwrap_or("?"),
            v["prefix"]["len"]
        );
    }
    if let Some([a, b]) = v["range"].as_array().map(Vec::as_slice) {
        return format!("{}-{}", value_words(a), value_words(b));
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"nftables":[
 {"chain":{"family":"inet","table":"nslab-t","name":"input","handle":2,"type":"filter","hook":"input","prio":0,"policy":"drop"}},
 {"chain":{"family":"inet","table":"nslab-t","name":"forward","handle":5,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},
 {"chain":{"family":"ip","table":"foreign","name":"f","handle":1,"type":"filter","hook":"forward","prio":-10,"policy":"accept"}},
 {"rule":{"family":"inet","table":"nslab-t","chain":"input","handle":3,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"e1"}},{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":80}},{"accept":null}]}},
 {"rule":{"family":"inet","table":"nslab-t","chain":"input","handle":4,"expr":[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]}},
 {"rule":{"family":"ip","table":"foreign","chain":"f","handle":3,"comment":"hello","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":{"set":["10.2.0.2",{"prefix":{"addr":"10.3.0.0","len":24}}]}}},{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":{"range":[20,30]}}},{"counter":{"packets":0,"bytes":0}},{"reject":{"type":"icmp","expr":"port-unreachable"}}]}},
 {"rule":{"family":"inet","table":"nslab-t","chain":"forward","handle":6,"expr":[{"match":{"op":"==","left":{"meta":{"key":"mark"}},"right":1}},{"drop":null}]}}
]}"#;

    fn pkt<'a>(iif: &'a str, dst: &str, l4: u8, dport: Option<u16>, ct: &'static str) -> Pkt<'a> {
        Pkt {
            iif: Some(iif),
            oif: Some("e2"),
            src: "10.1.0.2".parse().unwrap(),
            dst: dst.parse().unwrap(),
            l4,
            sport: None,
            dport,
            icmp_type: (l4 == 1).then_some("echo-request"),
            ct,
            dnat: false,
        }
    }

    #[test]
    fn chains_decide_in_priority_order_and_policies_count() {
        let rs = parse(JSON);
        assert_eq!(rs.droppers(), 3);
        // Accepted by the rule for port 80 on e1.
        assert!(matches!(
            rs.at("input", &pkt("e1", "10.1.0.1", 6, Some(80), "new")),
            Outcome::Pass
        ));
        // Port 22: nothing accepts it, the policy drops it.
        match rs.at("input", &pkt("e1", "10.1.0.1", 6, Some(22), "new")) {
            Outcome::Drop {
                rule: None,
                maybe: false,
                chain,
                ..
            } => assert_eq!(chain.name, "input"),
            other => panic!("{other:?}"),
        }
        // A reply passes the established rule.
        assert!(matches!(
            rs.at("input", &pkt("e3", "10.1.0.1", 1, None, "established")),
            Outcome::Pass
        ));
        // The foreign table's reject, first by priority, with its comment.
        match rs.at("forward", &pkt("e1", "10.3.0.7", 6, Some(25), "new")) {
            Outcome::Drop {
                rule: Some(r),
                verdict,
                maybe: false,
                ..
            } => {
                assert_eq!(verdict, "reject");
                assert_eq!(r.comment.as_deref(), Some("hello"));
                assert_eq!(
                    describe(&r),
                    "ip daddr { 10.2.0.2, 10.3.0.0/24 } tcp dport 20-30 reject"
                );
            }
            other => panic!("{other:?}"),
        }
        // A mark match nslab does not read: only a maybe.
        match rs.at("forward", &pkt("e1", "10.2.0.2", 1, None, "new")) {
            Outcome::Drop {
                maybe: true,
                rule: Some(r),
                ..
            } => assert_eq!(r.handle, 6),
            other => panic!("{other:?}"),
        }
        // IPv6 does not see the ip family's chain.
        let mut p6 = pkt("e1", "fd00::2", 6, Some(25), "new");
        p6.src = "fd00::1".parse().unwrap();
        assert!(matches!(
            rs.at("input", &p6),
            Outcome::Drop { rule: None, .. }
        ));
    }
}
