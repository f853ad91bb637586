//! NAT and firewall: masquerade(), snat(), dnat(), ns.accept(), ns.drop(),
//! ns.reject(), ns.policy(), ns.counters() and ns.shell(). Rule maps are
//! checked completely here, so bad input never reaches the kernel. Rules
//! are queued in the lab and applied in batches (see lab/firewall.rs); each
//! carries the position of its call, where nft's refusal is reported.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use ipnet::IpNet;
use rhai::{Array, Dynamic, Map, NativeCallContext};

use super::addr::{parse_ip, str_opt};
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err, in_recipe, refused, site};
use crate::lab::{
    DnatRule, FilterRule, Hook, L4, Matches, NsId, Op, Policy, SnatRule, Verdict, names,
};

const KEYS: &str =
    "chain, iif, oif, proto, saddr, daddr, sport, dport, state, verdict, counter, log and comment";
const DNAT_KEYS: &str = "to, proto, dport, iif and daddr";
const STATES: [&str; 5] = ["new", "established", "related", "invalid", "untracked"];
/// nft's limits: a log prefix of at most 127 bytes, a comment of 128.
const LOG_PREFIX_MAX: usize = 127;
const COMMENT_MAX: usize = 128;

fn hook_of(s: &str) -> Res<Hook> {
    match s.to_ascii_lowercase().as_str() {
        "input" => Ok(Hook::Input),
        "forward" => Ok(Hook::Forward),
        "output" => Ok(Hook::Output),
        _ => Err(bad(
            format!("unknown chain '{s}'"),
            "the chains are \"input\", \"forward\" and \"output\"; NAT is masquerade(ns, subnet, dev), snat(…) and dnat(…)",
        )),
    }
}

fn policy_of(s: &str) -> Res<Policy> {
    match s.to_ascii_lowercase().as_str() {
        "accept" => Ok(Policy::Accept),
        "drop" => Ok(Policy::Drop),
        _ => Err(bad(
            format!("unknown policy '{s}'"),
            "a chain's policy is \"accept\" or \"drop\" (reject is a rule: ns.reject(#{…}) at the end of the chain)",
        )),
    }
}

/// `verdict:` in a rule map given to the function for `called`: it may say
/// the same, or, given to drop(), "reject" (drop and tell the sender).
fn verdict_of(s: &str, called: Verdict) -> Res<Verdict> {
    let v = match s.to_ascii_lowercase().as_str() {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "reject" => Verdict::Reject,
        _ => {
            return Err(bad(
                format!("unknown verdict '{s}'"),
                "a rule's verdict is \"accept\", \"drop\" or \"reject\"",
            ));
        }
    };
    if v == called || (called == Verdict::Drop && v == Verdict::Reject) {
        return Ok(v);
    }
    Err(bad(
        format!(
            "this rule says verdict: \"{}\" but was given to ns.{}()",
            v.name(),
            called.name()
        ),
        format!("call ns.{}(#{{…}}) for it, or leave verdict out", v.name()),
    ))
}

/// A log prefix or comment: text nft takes as it is, within its length.
fn label_of(v: &Dynamic, key: &str, max: usize) -> Res<String> {
    let s = str_opt(v, key)?;
    if s.len() > max {
        return Err(bad(
            format!(
                "the {key} is {} bytes long; nft takes at most {max}",
                s.len()
            ),
            format!("shorten the {key}"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(
            format!("the {key} contains a control character (a newline?)"),
            format!("write the {key} on one line, without tabs or escapes"),
        ));
    }
    Ok(s)
}

fn l4_of(s: &str) -> Res<L4> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(L4::Tcp),
        "udp" => Ok(L4::Udp),
        "icmp" => Ok(L4::Icmp),
        "icmpv6" | "ipv6-icmp" => Ok(L4::Icmpv6),
        _ => Err(bad(
            format!("unknown protocol '{s}'"),
            "use proto: \"tcp\", \"udp\", \"icmp\" or \"icmpv6\"",
        )),
    }
}

/// "10.0.0.0/24", "fd00::/64" or one address ("10.0.0.2").
pub fn parse_net(s: &str, key: &str) -> Res<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(bad(
        format!("'{s}' is not a valid address or subnet for {key}"),
        "write one address (\"10.0.0.2\") or a subnet in CIDR form (\"10.0.0.0/24\", \"fd00::/64\")",
    ))
}

fn bool_of(v: &Dynamic, key: &str) -> Res<bool> {
    v.as_bool().map_err(|t| {
        bad(
            format!("{key} must be true or false, not {t}"),
            format!("e.g. {key}: true"),
        )
    })
}

fn port_of(v: &Dynamic, key: &str) -> Res<u16> {
    let n = v.as_int().map_err(|t| {
        bad(
            format!("{key} must be a number, not {t}"),
            format!("e.g. {key}: 80"),
        )
    })?;
    super::socket::port_in_range(n, key)
}

fn states_of(v: &Dynamic) -> Res<Vec<String>> {
    let items: Vec<String> = if let Some(a) = v.clone().try_cast::<rhai::Array>() {
        a.iter()
            .map(|x| str_opt(x, "state"))
            .collect::<Res<Vec<String>>>()?
    } else {
        str_opt(v, "state")?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    };
    let mut out = Vec::new();
    for s in items {
        let s = s.to_ascii_lowercase();
        if !STATES.contains(&s.as_str()) {
            return Err(bad(
                format!("unknown connection state '{s}'"),
                "states are new, established, related, invalid and untracked, e.g. state: \"established,related\"",
            ));
        }
        out.push(s);
    }
    Ok(out)
}

/// A rule map (#{chain, iif, oif, proto, saddr, daddr, sport, dport,
/// state, verdict, counter, log, comment}) given to the function for
/// `verdict`, checked as a whole.
pub fn parse_rule(m: &Map, verdict: Verdict) -> Res<FilterRule> {
    let mut hook = Hook::Input;
    let mut x = Matches::default();
    let mut r = FilterRule {
        hook,
        matches: Matches::default(),
        verdict,
        counter: false,
        log: None,
        comment: None,
    };
    for (k, v) in m {
        match k.as_str() {
            "chain" => hook = hook_of(&str_opt(v, "chain")?)?,
            "iif" | "oif" => {
                let name = str_opt(v, k)?;
                names::check_ifname(&name).map_err(err)?;
                if k.as_str() == "iif" {
                    x.iif = Some(name);
                } else {
                    x.oif = Some(name);
                }
            }
            "proto" => x.proto = Some(l4_of(&str_opt(v, "proto")?)?),
            "saddr" => x.saddr = Some(parse_net(&str_opt(v, "saddr")?, "saddr")?),
            "daddr" => x.daddr = Some(parse_net(&str_opt(v, "daddr")?, "daddr")?),
            "sport" => x.sport = Some(port_of(v, "sport")?),
            "dport" => x.dport = Some(port_of(v, "dport")?),
            "state" => x.state = states_of(v)?,
            "verdict" => r.verdict = verdict_of(&str_opt(v, "verdict")?, verdict)?,
            "counter" => r.counter = bool_of(v, "counter")?,
            "log" => r.log = Some(label_of(v, "log prefix", LOG_PREFIX_MAX)?),
            "comment" => r.comment = Some(label_of(v, "comment", COMMENT_MAX)?),
            other => {
                return Err(bad(
                    format!("unknown rule option '{other}'"),
                    format!("the options are {KEYS}"),
                ));
            }
        }
    }
    if (x.sport.is_some() || x.dport.is_some()) && !x.proto.is_some_and(L4::has_ports) {
        return Err(bad(
            "a port needs a protocol with ports",
            "add proto: \"tcp\" or proto: \"udp\" to the rule",
        ));
    }
    if hook == Hook::Input && x.oif.is_some() {
        return Err(bad(
            "the input chain has no outgoing interface (oif)",
            "match the incoming interface with iif, or use chain: \"forward\" or \"output\"",
        ));
    }
    if hook == Hook::Output && x.iif.is_some() {
        return Err(bad(
            "the output chain has no incoming interface (iif)",
            "match the outgoing interface with oif, or use chain: \"input\" or \"forward\"",
        ));
    }
    let v6 = |n: &Option<IpNet>| n.map(|n| matches!(n, IpNet::V6(_)));
    let family = match (v6(&x.saddr), v6(&x.daddr)) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad(
                "saddr and daddr are of different IP versions",
                "use two IPv4 or two IPv6 addresses in one rule; make a second rule for the other version",
            ));
        }
        (a, b) => a.or(b),
    };
    check_icmp_family(x.proto, family)?;
    r.hook = hook;
    r.matches = x;
    Ok(r)
}

/// icmp is IPv4's, icmpv6 IPv6's: a rule mixing them would never match.
fn check_icmp_family(proto: Option<L4>, v6: Option<bool>) -> Res<()> {
    match (proto, v6) {
        (Some(L4::Icmp), Some(true)) => Err(bad(
            "proto \"icmp\" is IPv4's; these addresses are IPv6",
            "use proto: \"icmpv6\" with IPv6 addresses",
        )),
        (Some(L4::Icmpv6), Some(false)) => Err(bad(
            "proto \"icmpv6\" is IPv6's; these addresses are IPv4",
            "use proto: \"icmp\" with IPv4 addresses",
        )),
        _ => Ok(()),
    }
}

/// dnat's `to`: "10.0.0.2", "10.0.0.2:8080", "fd00::2" or "[fd00::2]:8080".
pub fn parse_to(s: &str) -> Res<(IpAddr, Option<u16>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<std::net::Ipv6Addr>()
    {
        return Ok((IpAddr::V6(ip), None));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err(bad(
                format!("port 0 in to: \"{s}\" is out of range"),
                "ports are 1..=65535; leave the port out to keep the packet's own",
            ));
        }
        return Ok((sa.ip(), Some(sa.port())));
    }
    Err(bad(
        format!("'{s}' is not an address, or address and port, to forward to"),
        "write to: \"10.0.0.2:8080\", \"10.0.0.2\" (the port unchanged), or for IPv6 \"[fd00::2]:8080\"",
    ))
}

/// dnat's map (#{to, proto, dport, iif, daddr}), checked as a whole.
pub fn parse_dnat(m: &Map) -> Res<DnatRule> {
    let mut to = None;
    let mut r = DnatRule {
        iif: None,
        daddr: None,
        proto: None,
        dport: None,
        to: IpAddr::from([0, 0, 0, 0]),
        port: None,
    };
    for (k, v) in m {
        match k.as_str() {
            "to" => to = Some(parse_to(&str_opt(v, "to")?)?),
            "proto" => r.proto = Some(l4_of(&str_opt(v, "proto")?)?),
            "dport" => r.dport = Some(port_of(v, "dport")?),
            "iif" => {
                let name = str_opt(v, "iif")?;
                names::check_ifname(&name).map_err(err)?;
                r.iif = Some(name);
            }
            "daddr" => r.daddr = Some(parse_net(&str_opt(v, "daddr")?, "daddr")?),
            other => {
                return Err(bad(
                    format!("unknown dnat option '{other}'"),
                    format!("the options are {DNAT_KEYS}"),
                ));
            }
        }
    }
    let (ip, port) = to.ok_or_else(|| {
        bad(
            "dnat needs to: where to forward the packets",
            "e.g. dnat(router, #{proto: \"tcp\", dport: 80, to: \"10.0.0.2:8080\", iif: \"wan\"})",
        )
    })?;
    r.to = ip;
    r.port = port;
    if (r.dport.is_some() || r.port.is_some()) && !r.proto.is_some_and(L4::has_ports) {
        return Err(bad(
            "a port needs a protocol with ports",
            "add proto: \"tcp\" or proto: \"udp\" to the dnat",
        ));
    }
    if let Some(d) = r.daddr
        && matches!(d, IpNet::V6(_)) != ip.is_ipv6()
    {
        return Err(bad(
            "daddr and to are of different IP versions",
            "forward IPv4 to IPv4 and IPv6 to IPv6; make a second dnat for the other version",
        ));
    }
    check_icmp_family(r.proto, Some(ip.is_ipv6()))?;
    Ok(r)
}

/// Queues `op` for `id` at the call `ctx`. From a bundled recipe it is
/// applied at once: its errors are shown at the call into the recipe,
/// which only the call stack knows.
fn queue(c: &Ctx, ctx: &NativeCallContext, id: NsId, op: Op) -> Res<()> {
    let mut lab = c.lab_queued()?;
    lab.queue(id, op, site(ctx)).map_err(err)?;
    if in_recipe(ctx) {
        lab.flush().map_err(refused)?;
    }
    Ok(())
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    r.func(
        Doc {
            area: "firewall",
            name: "masquerade",
            sig: "masquerade(ns, \"10.0.0.0/24\", \"uplink\")",
            doc: "Source NAT in ns for a subnet leaving through a device (`iptables -t nat -A POSTROUTING -s SUBNET -o DEV -j MASQUERADE`), plus FORWARD accepts out and for replies back; IPv6 subnets too. Needs ns.forwarding(true) to route.",
            example: "host().forwarding(true);  masquerade(host(), \"10.0.0.0/24\", \"uplink\");",
        },
        move |ctx: NativeCallContext, ns: Netns, subnet: &str, dev: &str| -> Res<()> {
            let src = parse_net(subnet, "the masqueraded subnet")?;
            let oif = dev.to_string();
            names::check_ifname(&oif).map_err(err)?;
            queue(&c, &ctx, ns.id, Op::Masquerade { src, oif })
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "firewall",
            name: "snat",
            sig: "snat(ns, \"10.0.0.0/24\", \"uplink\", \"203.0.113.5\")",
            doc: "Source NAT to a fixed address: packets from a subnet leaving ns through a device get to_addr as their source (`iptables -t nat -A POSTROUTING -s SUBNET -o DEV -j SNAT --to-source ADDR`), plus FORWARD accepts out and for replies back. Needs ns.forwarding(true) to route.",
            example: "snat(router, \"10.0.0.0/24\", \"wan\", \"203.0.113.5\");",
        },
        move |ctx: NativeCallContext,
              ns: Netns,
              subnet: &str,
              dev: &str,
              to_addr: &str|
              -> Res<()> {
            let src = parse_net(subnet, "the source-NATed subnet")?;
            let to = parse_ip(to_addr, "source NAT address")?;
            if to.is_ipv6() != matches!(src, IpNet::V6(_)) {
                return Err(bad(
                    "the subnet and the address to translate to are of different IP versions",
                    "translate IPv4 to IPv4 and IPv6 to IPv6; a second snat covers the other version",
                ));
            }
            let oif = dev.to_string();
            names::check_ifname(&oif).map_err(err)?;
            queue(&c, &ctx, ns.id, Op::Snat(SnatRule { src, oif, to }))
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "firewall",
            name: "dnat",
            sig: "dnat(ns, #{proto, dport, to, iif, daddr})",
            doc: "Port forwarding in ns: packets matching proto/dport (and iif, daddr when given) get their destination changed to `to` (\"10.0.0.2:8080\", \"10.0.0.2\", \"[fd00::2]:8080\") before routing (`iptables -t nat -A PREROUTING -i IIF -p tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080`), plus FORWARD accepts for the forwarded connections, so it works under ns.policy(\"forward\", \"drop\") too. Hairpin NAT (LAN clients using the public address): match daddr instead of iif, and masquerade the LAN on its own device.",
            example: "dnat(router, #{proto: \"tcp\", dport: 80, to: \"10.0.0.2:8080\", iif: \"wan\"});",
        },
        move |ctx: NativeCallContext, ns: Netns, m: Map| -> Res<()> {
            let rule = parse_dnat(&m)?;
            queue(&c, &ctx, ns.id, Op::Dnat(rule))
        },
    );
    for (name, verdict, sig, doc, example) in [
        (
            "accept",
            Verdict::Accept,
            "ns.accept(#{chain, iif, oif, proto, saddr, daddr, sport, dport, state, counter, log, comment})",
            "Accept matching packets in ns (`iptables -A INPUT -i veth1 -p tcp --dport 80 -j ACCEPT`); options chain (input|forward|output, default input), iif, oif, proto (tcp|udp|icmp|icmpv6), saddr, daddr, sport, dport, state; counter: true counts what it matches (ns.counters()), log: \"prefix\" logs it to the kernel log (from namespaces other than the host's only when the host has net.netfilter.nf_log_all_netns=1), comment: \"text\" names it.",
            "ns.accept(#{chain: \"input\", iif: \"veth1\", proto: \"tcp\", dport: 80, counter: true, comment: \"web\"});",
        ),
        (
            "drop",
            Verdict::Drop,
            "ns.drop(#{chain, …, verdict: \"drop\"|\"reject\"})",
            "Drop matching packets in ns (`iptables -A CHAIN … -j DROP`); same options as accept, and verdict: \"reject\" to refuse instead (as ns.reject). Rules apply in the order they were added.",
            "ns.drop(#{proto: \"tcp\", dport: 22, log: \"ssh: \"});",
        ),
        (
            "reject",
            Verdict::Reject,
            "ns.reject(#{chain, iif, oif, proto, saddr, daddr, sport, dport, state, counter, log, comment})",
            "Refuse matching packets in ns and tell the sender (`iptables -A CHAIN … -j REJECT`): a TCP reset for proto \"tcp\", else ICMP port unreachable, so a client fails at once instead of timing out; same options as accept.",
            "ns.reject(#{proto: \"tcp\", dport: 23});",
        ),
    ] {
        let c = ctx.clone();
        r.func(
            Doc {
                area: "firewall",
                name,
                sig,
                doc,
                example,
            },
            move |ctx: NativeCallContext, ns: &mut Netns, m: Map| -> Res<()> {
                let rule = parse_rule(&m, verdict)?;
                queue(&c, &ctx, ns.id, Op::Filter(rule))
            },
        );
    }
    let c = ctx.clone();
    r.func(
        Doc {
            area: "firewall",
            name: "policy",
            sig: "ns.policy(\"input\"|\"forward\"|\"output\", \"accept\"|\"drop\")",
            doc: "What happens to packets no rule accepted or dropped (`iptables -P INPUT DROP`), for the lab's chain in ns.",
            example: "ns.policy(\"input\", \"drop\");",
        },
        move |ctx: NativeCallContext, ns: &mut Netns, chain: &str, policy: &str| -> Res<()> {
            let hook = hook_of(chain)?;
            let p = policy_of(policy)?;
            queue(&c, &ctx, ns.id, Op::Policy(hook, p))
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "firewall",
            name: "counters",
            sig: "ns.counters() -> [#{chain, comment, packets, bytes}]",
            doc: "The packet and byte counts of ns's rules made with counter: true, read back from the kernel (`nft list table inet nslab-LAB`), in chain and rule order; comment is the rule's comment or ().",
            example: "for r in ns.counters() { print(`${r.comment}: ${r.packets} packets`); }",
        },
        move |ns: &mut Netns| -> Res<Array> {
            super::placed::rows(&c, ns.id, "counters", vec![])
        },
    );
    let fw_doc = Doc {
        area: "firewall",
        name: "firewall",
        sig: "ns.firewall() -> #{text, rules} / ns.firewall(#{all}) -> #{text, rules}",
        doc: "ns's nf_tables rules read back from the kernel (`nft list table inet nslab-LAB`; all: true: every table, `nft list ruleset`): text as nft prints them, and rules as [#{family, table, chain, handle, comment, verdict, packets, bytes}] in nft's order; verdict in nft's words (accept, drop, reject, masquerade, snat, dnat, jump X, goto X, return...) or () for a rule that only matches, counts or logs; packets and bytes from the rule's counter, () without one; comment () without one. Before the lab's first rule in ns, its part is empty.",
        example: "for r in ns.firewall().rules { print(`${r.chain} #${r.handle}: ${r.verdict} ${r.packets}`); }",
    };
    let c = ctx.clone();
    r.func(fw_doc.clone(), move |ns: &mut Netns| -> Res<Map> {
        firewall(&c, ns, false)
    });
    let c = ctx.clone();
    r.func(fw_doc, move |ns: &mut Netns, m: Map| -> Res<Map> {
        let mut all = false;
        for (k, v) in &m {
            match k.as_str() {
                "all" => all = super::shaping::bool_opt(v, "all")?,
                other => {
                    return Err(bad(
                        format!("unknown option '{}' for ns.firewall()", crate::text::clip(other, 40)),
                        "the only option is all (every table, not only the lab's): ns.firewall(#{all: true})",
                    ));
                }
            }
        }
        firewall(&c, ns, all)
    });
    let c = ctx.clone();
    r.func(
        Doc {
            area: "probes",
            name: "shell",
            sig: "ns.shell() -> int",
            doc: "An interactive shell ($SHELL, else /bin/sh) inside ns on this terminal (`ip netns exec ns bash`); the script goes on when it exits. Returns its exit code.",
            example: "ns1.shell();",
        },
        move |ns: &mut Netns| -> Res<i64> { c.lab()?.shell(ns.id).map_err(err) },
    );
}

/// A kernel count as a script integer (i64; counts never get that far).
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `ns.firewall()`: the text, and each rule as a map.
fn firewall(c: &Ctx, ns: &Netns, all: bool) -> Res<Map> {
    super::placed::map(c, ns.id, "firewall", vec![all.into()])
}

/// `ns.counters()`'s rows.
pub(super) fn counter_rows(rows: Vec<crate::lab::CounterRow>) -> Array {
    rows.into_iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("chain".into(), r.chain.into());
            m.insert(
                "comment".into(),
                r.comment.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
            );
            m.insert("packets".into(), Dynamic::from_int(clamp(r.packets)));
            m.insert("bytes".into(), Dynamic::from_int(clamp(r.bytes)));
            Dynamic::from_map(m)
        })
        .collect()
}

/// `ns.firewall()`'s value.
pub(super) fn firewall_map(v: crate::lab::FirewallView) -> Map {
    let opt_text = |s: Option<String>| s.map_or(Dynamic::UNIT, Dynamic::from);
    let opt_int = |n: Option<u64>| n.map_or(Dynamic::UNIT, |n| Dynamic::from_int(clamp(n)));
    let rules: Array = v
        .rules
        .into_iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("family".into(), r.family.into());
            m.insert("table".into(), r.table.into());
            m.insert("chain".into(), r.chain.into());
            m.insert("handle".into(), Dynamic::from_int(clamp(r.handle)));
            m.insert("comment".into(), opt_text(r.comment));
            m.insert("verdict".into(), opt_text(r.verdict));
            m.insert("packets".into(), opt_int(r.packets));
            m.insert("bytes".into(), opt_int(r.bytes));
            Dynamic::from_map(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("text".into(), v.text.into());
    m.insert("rules".into(), Dynamic::from_array(rules));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    #[test]
    fn a_full_rule_parses() {
        let m = map(&[
            ("chain", "INPUT".into()),
            ("iif", "veth1".into()),
            ("proto", "tcp".into()),
            ("dport", Dynamic::from_int(80)),
            ("saddr", "10.0.0.0/24".into()),
            ("state", "new".into()),
        ]);
        let r = parse_rule(&m, Verdict::Accept).unwrap();
        assert_eq!(r.hook, Hook::Input);
        assert_eq!(r.matches.dport, Some(80));
        assert_eq!(r.matches.state, vec!["new".to_string()]);
    }

    #[test]
    fn bad_rules_are_refused_with_reasons() {
        let cases: Vec<(Vec<(&str, Dynamic)>, &str)> = vec![
            (vec![("chain", "prerouting".into())], "unknown chain"),
            (
                vec![("proto", "tcp".into()), ("dport", Dynamic::from_int(70000))],
                "out of range",
            ),
            (vec![("proto", "icmpx".into())], "unknown protocol"),
            (vec![("saddr", "10.0.0/24".into())], "not a valid address"),
            (vec![("dport", Dynamic::from_int(80))], "needs a protocol"),
            (
                vec![("proto", "icmp".into()), ("dport", Dynamic::from_int(1))],
                "needs a protocol",
            ),
            (vec![("oif", "eth0".into())], "no outgoing interface"),
            (
                vec![("chain", "output".into()), ("iif", "eth0".into())],
                "no incoming",
            ),
            (
                vec![("saddr", "10.0.0.1".into()), ("daddr", "fd00::1".into())],
                "different IP versions",
            ),
            (
                vec![("proto", "icmp".into()), ("daddr", "fd00::1".into())],
                "IPv4's",
            ),
            (
                vec![("state", "establishd".into())],
                "unknown connection state",
            ),
            (vec![("iif", "a-very-long-interface".into())], "at most 15"),
            (vec![("port", Dynamic::from_int(80))], "unknown rule option"),
            (vec![("verdict", "accept".into())], "was given to ns.drop()"),
            (vec![("verdict", "refuse".into())], "unknown verdict"),
            (vec![("counter", "yes".into())], "true or false"),
            (vec![("log", "a".repeat(128).into())], "at most 127"),
            (vec![("comment", "a".repeat(129).into())], "at most 128"),
            (vec![("comment", "two\nlines".into())], "control character"),
        ];
        for (pairs, want) in cases {
            let got =
                super::super::message_of(&parse_rule(&map(&pairs), Verdict::Drop).unwrap_err());
            assert!(got.contains(want), "{pairs:?}: got '{got}', want '{want}'");
        }
    }

    #[test]
    fn counter_log_comment_and_verdicts_parse() {
        let m = map(&[
            ("proto", "tcp".into()),
            ("counter", true.into()),
            ("log", "ssh: ".into()),
            ("comment", "a".repeat(128).into()),
            ("verdict", "reject".into()),
        ]);
        let r = parse_rule(&m, Verdict::Drop).unwrap();
        assert!(r.counter);
        assert_eq!(r.log.as_deref(), Some("ssh: "));
        assert_eq!(r.verdict, Verdict::Reject);
        let r = parse_rule(&map(&[]), Verdict::Reject).unwrap();
        assert_eq!(r.verdict, Verdict::Reject);
        assert!(!r.counter && r.log.is_none() && r.comment.is_none());
    }

    #[test]
    fn dnat_targets_parse_with_and_without_ports() {
        let ok = [
            ("10.0.0.2:8080", "10.0.0.2", Some(8080)),
            ("10.0.0.2", "10.0.0.2", None),
            ("[fd00::2]:8080", "fd00::2", Some(8080)),
            ("[fd00::2]", "fd00::2", None),
            ("fd00::2", "fd00::2", None),
        ];
        for (s, ip, port) in ok {
            let (got, p) = parse_to(s).unwrap();
            assert_eq!((got.to_string().as_str(), p), (ip, port), "{s}");
        }
        for (s, want) in [
            ("10.0.0.2:0", "out of range"),
            ("10.0.0.2:70000", "not an address"),
            ("fd00::2:8080:x", "not an address"),
            ("router", "not an address"),
        ] {
            let got = super::super::message_of(&parse_to(s).unwrap_err());
            assert!(got.contains(want), "{s}: got '{got}'");
        }
    }

    #[test]
    fn dnat_maps_are_checked_as_a_whole() {
        let r = parse_dnat(&map(&[
            ("proto", "tcp".into()),
            ("dport", Dynamic::from_int(80)),
            ("to", "10.0.0.2:8080".into()),
            ("iif", "wan".into()),
        ]))
        .unwrap();
        assert_eq!(
            (r.dport, r.port, r.iif.as_deref()),
            (Some(80), Some(8080), Some("wan"))
        );
        let cases: Vec<(Vec<(&str, Dynamic)>, &str)> = vec![
            (vec![("proto", "tcp".into())], "needs to:"),
            (
                vec![("to", "10.0.0.2:8080".into())],
                "a port needs a protocol",
            ),
            (
                vec![("to", "10.0.0.2".into()), ("dport", Dynamic::from_int(80))],
                "a port needs a protocol",
            ),
            (
                vec![("to", "10.0.0.2".into()), ("daddr", "fd00::1".into())],
                "different IP versions",
            ),
            (
                vec![("to", "[fd00::2]".into()), ("proto", "icmp".into())],
                "IPv4's",
            ),
            (
                vec![("to", "10.0.0.2".into()), ("port", Dynamic::from_int(80))],
                "unknown dnat option",
            ),
        ];
        for (pairs, want) in cases {
            let got = super::super::message_of(&parse_dnat(&map(&pairs)).unwrap_err());
            assert!(got.contains(want), "{pairs:?}: got '{got}', want '{want}'");
        }
    }
}
