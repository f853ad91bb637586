//! NAT and firewall: masquerade(), ns.accept(), ns.drop(), ns.policy(), and
//! ns.shell(). Rule maps are checked completely here, so bad input never
//! reaches the kernel.

use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;
use rhai::{Dynamic, Map};

use super::addr::str_opt;
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err};
use crate::lab::names;
use crate::net::nft::{FilterRule, Hook, L4, Matches, Verdict};

const KEYS: &str = "chain, iif, oif, proto, saddr, daddr, sport, dport and state";
const STATES: [&str; 5] = ["new", "established", "related", "invalid", "untracked"];

fn hook_of(s: &str) -> Res<Hook> {
    match s.to_ascii_lowercase().as_str() {
        "input" => Ok(Hook::Input),
        "forward" => Ok(Hook::Forward),
        "output" => Ok(Hook::Output),
        _ => Err(bad(
            format!("unknown chain '{s}'"),
            "the chains are \"input\", \"forward\" and \"output\"; NAT is masquerade(ns, subnet, dev)",
        )),
    }
}

fn verdict_of(s: &str) -> Res<Verdict> {
    match s.to_ascii_lowercase().as_str() {
        "accept" => Ok(Verdict::Accept),
        "drop" => Ok(Verdict::Drop),
        _ => Err(bad(
            format!("unknown policy '{s}'"),
            "a chain's policy is \"accept\" or \"drop\"",
        )),
    }
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

/// A rule map (#{chain, iif, oif, proto, saddr, daddr, sport, dport, state})
/// checked as a whole.
pub fn parse_rule(m: &Map, verdict: Verdict) -> Res<FilterRule> {
    let mut hook = Hook::Input;
    let mut x = Matches::default();
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
    match (x.proto, family) {
        (Some(L4::Icmp), Some(true)) => {
            return Err(bad(
                "proto \"icmp\" is IPv4's; these addresses are IPv6",
                "use proto: \"icmpv6\" with IPv6 addresses",
            ));
        }
        (Some(L4::Icmpv6), Some(false)) => {
            return Err(bad(
                "proto \"icmpv6\" is IPv6's; these addresses are IPv4",
                "use proto: \"icmp\" with IPv4 addresses",
            ));
        }
        _ => {}
    }
    Ok(FilterRule {
        hook,
        matches: x,
        verdict,
    })
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
        move |ns: Netns, subnet: &str, dev: &str| -> Res<()> {
            let net = parse_net(subnet, "the masqueraded subnet")?;
            c.lab()?.masquerade(ns.id, net, dev).map_err(err)
        },
    );
    for (name, verdict, doc, example) in [
        (
            "accept",
            Verdict::Accept,
            "Accept matching packets in ns (`iptables -A INPUT -i veth1 -p tcp --dport 80 -j ACCEPT`); options chain (input|forward|output, default input), iif, oif, proto (tcp|udp|icmp|icmpv6), saddr, daddr, sport, dport, state.",
            "ns.accept(#{chain: \"input\", iif: \"veth1\", proto: \"tcp\", dport: 80});",
        ),
        (
            "drop",
            Verdict::Drop,
            "Drop matching packets in ns (`iptables -A CHAIN … -j DROP`); same options as accept. Rules apply in the order they were added.",
            "ns.drop(#{proto: \"tcp\", dport: 22});",
        ),
    ] {
        let c = ctx.clone();
        r.func(
            Doc {
                area: "firewall",
                name,
                sig: if verdict == Verdict::Accept {
                    "ns.accept(#{chain, iif, oif, proto, saddr, daddr, sport, dport, state})"
                } else {
                    "ns.drop(#{chain, iif, oif, proto, saddr, daddr, sport, dport, state})"
                },
                doc,
                example,
            },
            move |ns: &mut Netns, m: Map| -> Res<()> {
                let rule = parse_rule(&m, verdict)?;
                c.lab()?.filter(ns.id, &rule).map_err(err)
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
        move |ns: &mut Netns, chain: &str, verdict: &str| -> Res<()> {
            let hook = hook_of(chain)?;
            let v = verdict_of(verdict)?;
            c.lab()?.policy(ns.id, hook, v).map_err(err)
        },
    );
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
        ];
        for (pairs, want) in cases {
            let got =
                super::super::message_of(&parse_rule(&map(&pairs), Verdict::Drop).unwrap_err());
            assert!(got.contains(want), "{pairs:?}: got '{got}', want '{want}'");
        }
    }
}
