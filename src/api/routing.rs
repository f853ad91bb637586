//! Routing: ns.route(), ns.route_delete(), ns.rule(), ns.neigh(). Option
//! maps are checked completely here, so bad input never reaches the kernel.

use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;
use rhai::{Dynamic, Map};

use super::addr::{parse_ip, str_opt};
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err};
use crate::lab::{self, HopReq, RouteDelReq, RouteKind, RouteReq, RuleAction, RuleSpec};

const ROUTE_KEYS: &str = "via, dev, metric, table, src, type and nexthops";
const HOP_KEYS: &str = "via, dev and weight";
const RULE_KEYS: &str = "from, to, iif, oif, fwmark, table, priority and action";

/// A route destination: "default", a prefix ("10.2.0.0/16"), or one address.
pub(super) fn parse_dst(s: &str, family_hint: Option<IpAddr>) -> Res<IpNet> {
    if s == "default" {
        let v6 = family_hint.is_some_and(|ip| ip.is_ipv6());
        let net = if v6 { "::/0" } else { "0.0.0.0/0" };
        return net
            .parse::<IpNet>()
            .map_err(|e| bad(e.to_string(), "this is a bug"));
    }
    parse_prefix(s, "route destination").map_err(|_| {
        bad(
            format!("'{s}' is not a valid route destination"),
            "use \"default\", a prefix like \"10.2.0.0/16\", or a single address",
        )
    })?
}

/// A prefix or one address; Err(()) when it is neither, Ok(Err) when it
/// has host bits set.
fn parse_prefix(s: &str, what: &str) -> Result<Res<IpNet>, ()> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Ok(IpNet::from(ip)));
    }
    let net = s.parse::<IpNet>().map_err(|_| ())?;
    if net.trunc() != net {
        return Ok(Err(bad(
            format!("{what} '{s}' has host bits set"),
            format!("a {what} is a network: did you mean \"{}\"?", net.trunc()),
        )));
    }
    Ok(Ok(net))
}

fn u32_opt(v: &Dynamic, key: &str, example: &str) -> Res<u32> {
    v.as_int()
        .ok()
        .and_then(|m| u32::try_from(m).ok())
        .ok_or_else(|| {
            bad(
                format!("{key} {v} is not a valid number"),
                format!("{key} is a whole number from 0 to 4294967295, e.g. {key}: {example}"),
            )
        })
}

/// `table: 100` or `table: "isp2"` (a name from iproute2's rt_tables).
fn table_opt(v: &Dynamic) -> Res<u32> {
    let id = if let Ok(n) = v.as_int() {
        u32::try_from(n).map_err(|_| {
            bad(
                format!("table {n} is not a valid table number"),
                "a table is a number from 1 to 4294967295, or a name from /etc/iproute2/rt_tables",
            )
        })?
    } else if let Some(name) = v.clone().try_cast::<rhai::ImmutableString>() {
        lab::table_by_name(&name).map_err(err)?
    } else {
        return Err(bad(
            format!(
                "option 'table' must be a number or a name, not {}",
                v.type_name()
            ),
            "e.g. table: 100 or table: \"main\"",
        ));
    };
    if id == 0 {
        return Err(bad(
            "table 0 is not a routing table",
            "give a number from 1 to 4294967295 (main is 254), or a name",
        ));
    }
    Ok(id)
}

fn kind_of(s: &str) -> Res<RouteKind> {
    match s {
        "unicast" => Ok(RouteKind::Unicast),
        "blackhole" => Ok(RouteKind::Blackhole),
        "unreachable" => Ok(RouteKind::Unreachable),
        "prohibit" => Ok(RouteKind::Prohibit),
        _ => Err(bad(
            format!("unknown route type '{s}'"),
            "a route's type is \"unicast\" (the default), \"blackhole\", \"unreachable\" or \"prohibit\"",
        )),
    }
}

fn hop_of(v: &Dynamic) -> Res<HopReq> {
    let Some(m) = v.clone().try_cast::<Map>() else {
        return Err(bad(
            format!("a next hop must be a map, not {}", v.type_name()),
            "write nexthops: [#{via: \"10.1.0.1\"}, #{via: \"10.2.0.1\", weight: 2}]",
        ));
    };
    let mut hop = HopReq {
        via: None,
        dev: None,
        weight: 1,
    };
    for (k, v) in &m {
        match k.as_str() {
            "via" => hop.via = Some(parse_ip(&str_opt(v, "via")?, "gateway")?),
            "dev" => hop.dev = Some(str_opt(v, "dev")?),
            "weight" => {
                hop.weight = v
                    .as_int()
                    .ok()
                    .and_then(|w| u16::try_from(w).ok())
                    .filter(|w| (1..=256).contains(w))
                    .ok_or_else(|| {
                        bad(
                            format!("next-hop weight {v} is not in 1..=256"),
                            "a weight is a whole number from 1 to 256 (the share of flows this hop gets)",
                        )
                    })?
            }
            other => {
                return Err(bad(
                    format!("unknown next-hop option '{other}'"),
                    format!("a next hop takes {HOP_KEYS}: #{{via: \"10.1.0.1\", dev: \"up1\", weight: 1}}"),
                ));
            }
        }
    }
    if hop.via.is_none() && hop.dev.is_none() {
        return Err(bad(
            "a next hop needs a gateway or a device",
            "give it via (#{via: \"10.1.0.1\"}) or dev (#{dev: \"up1\"}), or both",
        ));
    }
    Ok(hop)
}

fn route_req(dst: &str, opts: &Map) -> Res<RouteReq> {
    let mut via = None;
    let mut dev = None;
    let mut metric = None;
    let mut table = None;
    let mut src = None;
    let mut kind = RouteKind::Unicast;
    let mut nexthops = Vec::new();
    let mut has_hops = false;
    for (k, v) in opts {
        match k.as_str() {
            "via" => via = Some(parse_ip(&str_opt(v, "via")?, "gateway")?),
            "dev" => dev = Some(str_opt(v, "dev")?),
            "metric" => metric = Some(u32_opt(v, "metric", "10")?),
            "table" => table = Some(table_opt(v)?),
            "src" => src = Some(parse_ip(&str_opt(v, "src")?, "source")?),
            "type" => kind = kind_of(&str_opt(v, "type")?)?,
            "nexthops" => {
                has_hops = true;
                let Some(a) = v.clone().try_cast::<rhai::Array>() else {
                    return Err(bad(
                        format!("option 'nexthops' must be an array, not {}", v.type_name()),
                        "write nexthops: [#{via: \"10.1.0.1\"}, #{via: \"10.2.0.1\"}]",
                    ));
                };
                for h in &a {
                    nexthops.push(hop_of(h)?);
                }
            }
            other => {
                return Err(bad(
                    format!("unknown route option '{other}'"),
                    format!(
                        "route options are {ROUTE_KEYS}: #{{via: \"10.0.0.1\", dev: \"veth1\", metric: 10}}"
                    ),
                ));
            }
        }
    }
    if has_hops && nexthops.is_empty() {
        return Err(bad(
            "nexthops is empty",
            "a multipath route lists its next hops: nexthops: [#{via: \"10.1.0.1\"}, #{via: \"10.2.0.1\"}]",
        ));
    }
    if kind != RouteKind::Unicast {
        if via.is_some() || dev.is_some() || has_hops {
            return Err(bad(
                format!(
                    "a {} route sends nothing on: it takes no via, dev or nexthops",
                    kind.name()
                ),
                format!("write ns.route(\"{dst}\", #{{type: \"{}\"}})", kind.name()),
            ));
        }
    } else if has_hops {
        if via.is_some() || dev.is_some() {
            return Err(bad(
                "a route takes either via/dev or nexthops, not both",
                "put each gateway in nexthops: [#{via: \"10.1.0.1\"}, #{via: \"10.2.0.1\"}]",
            ));
        }
    } else if via.is_none() && dev.is_none() {
        return Err(bad(
            "a route needs a gateway or a device",
            "give via (#{via: \"10.0.0.1\"}) or dev (#{dev: \"veth1\"}), or both; nexthops for a multipath route, or type: \"blackhole\" for one that drops",
        ));
    }
    let hint = via.or(nexthops.iter().find_map(|h| h.via)).or(src);
    Ok(RouteReq {
        dst: parse_dst(dst, hint)?,
        via,
        dev,
        metric,
        table,
        kind,
        src,
        nexthops,
    })
}

fn route_del_req(dst: &str, opts: &Map) -> Res<RouteDelReq> {
    let dst = if dst == "default" {
        None
    } else {
        Some(parse_dst(dst, None)?)
    };
    let mut req = RouteDelReq {
        dst,
        table: None,
        metric: None,
    };
    for (k, v) in opts {
        match k.as_str() {
            "table" => req.table = Some(table_opt(v)?),
            "metric" => req.metric = Some(u32_opt(v, "metric", "10")?),
            other => {
                return Err(bad(
                    format!("unknown route_delete option '{other}'"),
                    "route_delete takes table and metric: ns.route_delete(\"10.2.0.0/16\", #{table: 100, metric: 10})",
                ));
            }
        }
    }
    Ok(req)
}

/// `fwmark: 1`, or a string "0x10" / "0x10/0xff" (mark/mask).
fn fwmark_opt(v: &Dynamic) -> Res<(u32, Option<u32>)> {
    if v.as_int().is_ok() {
        return Ok((u32_opt(v, "fwmark", "1")?, None));
    }
    let s = str_opt(v, "fwmark")?;
    let num = |t: &str| -> Option<u32> {
        match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => t.parse().ok(),
        }
    };
    let (m, k) = match s.split_once('/') {
        Some((m, k)) => (num(m), num(k).map(Some)),
        None => (num(&s), Some(None)),
    };
    match (m, k) {
        (Some(m), Some(k)) => Ok((m, k)),
        _ => Err(bad(
            format!("'{s}' is not a firewall mark"),
            "write a number (fwmark: 1), or MARK/MASK in hex (fwmark: \"0x10/0xff\")",
        )),
    }
}

/// The rule the map asks for; `v6` is None when neither from nor to says
/// the family.
fn rule_req(opts: &Map) -> Res<(RuleSpec, Option<bool>)> {
    let mut rule = RuleSpec {
        v6: false,
        priority: None,
        from: None,
        to: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        table: None,
        action: RuleAction::Lookup,
    };
    let prefix = |v: &Dynamic, key: &str| -> Res<IpNet> {
        let s = str_opt(v, key)?;
        parse_prefix(&s, "rule prefix").map_err(|_| {
            bad(
                format!("'{s}' is not a valid address or prefix for {key}"),
                format!("write one address or a prefix, e.g. {key}: \"10.0.2.0/24\""),
            )
        })?
    };
    for (k, v) in opts {
        match k.as_str() {
            "from" => rule.from = Some(prefix(v, "from")?),
            "to" => rule.to = Some(prefix(v, "to")?),
            "iif" => rule.iif = Some(str_opt(v, "iif")?),
            "oif" => rule.oif = Some(str_opt(v, "oif")?),
            "fwmark" => {
                let (m, k) = fwmark_opt(v)?;
                rule.fwmark = Some(m);
                rule.fwmask = k;
            }
            "table" => rule.table = Some(table_opt(v)?),
            "priority" => rule.priority = Some(u32_opt(v, "priority", "100")?),
            "action" => {
                rule.action = match str_opt(v, "action")?.as_str() {
                    "lookup" => RuleAction::Lookup,
                    "blackhole" => RuleAction::Blackhole,
                    "unreachable" => RuleAction::Unreachable,
                    "prohibit" => RuleAction::Prohibit,
                    other => {
                        return Err(bad(
                            format!("unknown rule action '{other}'"),
                            "a rule's action is \"lookup\" (the default, with a table), \"blackhole\", \"unreachable\" or \"prohibit\"",
                        ));
                    }
                }
            }
            other => {
                return Err(bad(
                    format!("unknown rule option '{other}'"),
                    format!("rule options are {RULE_KEYS}: #{{from: \"10.0.2.0/24\", table: 100}}"),
                ));
            }
        }
    }
    match (rule.action, rule.table) {
        (RuleAction::Lookup, None) => {
            return Err(bad(
                "a lookup rule needs a table",
                "say which table the rule sends packets to: #{from: \"10.0.2.0/24\", table: 100}",
            ));
        }
        (a, Some(_)) if a != RuleAction::Lookup => {
            return Err(bad(
                format!("a {} rule takes no table", a.name()),
                format!(
                    "drop the table, or use action: \"lookup\" (#{{action: \"{}\", to: \"10.9.0.0/16\"}})",
                    a.name()
                ),
            ));
        }
        _ => {}
    }
    let family = match (rule.from, rule.to) {
        (Some(f), Some(t)) if f.addr().is_ipv6() != t.addr().is_ipv6() => {
            return Err(bad(
                format!("from {f} and to {t} are of different IP versions"),
                "a rule is for IPv4 or for IPv6: give from and to of the same version",
            ));
        }
        (Some(n), _) | (None, Some(n)) => Some(n.addr().is_ipv6()),
        (None, None) => None,
    };
    rule.v6 = family.unwrap_or(false);
    Ok((rule, family))
}

fn mac_of(s: &str) -> Res<[u8; 6]> {
    lab::names::parse_mac(s).map_err(super::err)
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let route_doc = Doc {
        area: "routes",
        name: "route",
        sig: "ns.route(dst, \"gateway\") / ns.route(dst, #{via, dev, metric, table, src, type, nexthops})",
        doc: "Add a route in ns (`ip route add [TYPE] DST via GW [dev DEV] [metric N] [table T] [src S]`); dst is \"default\", a prefix or an address; type is \"unicast\" (default), \"blackhole\", \"unreachable\" or \"prohibit\"; table a number or a name from /etc/iproute2/rt_tables; nexthops: [#{via, dev, weight}, …] makes a multipath (ECMP) route.",
        example: "ns1.route(\"default\", \"10.0.0.1\");  ns1.route(\"10.2.0.0/16\", #{dev: \"veth1\", via: \"10.0.0.1\", metric: 10});  leaf.route(\"default\", #{nexthops: [#{via: \"10.1.1.1\"}, #{via: \"10.1.2.1\"}]});  r.route(\"10.9.0.0/16\", #{type: \"blackhole\"});  r.route(\"default\", #{via: \"10.2.0.1\", table: 100});",
    };
    let c = ctx.clone();
    r.func(
        route_doc.clone(),
        move |ns: &mut Netns, dst: &str, via: &str| -> Res<()> {
            let gw = parse_ip(via, "gateway")?;
            let dst = parse_dst(dst, Some(gw))?;
            c.lab()?
                .add_route(ns.id, RouteReq::via(dst, gw))
                .map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        route_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<()> {
            let req = route_req(dst, &opts)?;
            c.lab()?.add_route(ns.id, req).map_err(err)
        },
    );

    let del_doc = Doc {
        area: "routes",
        name: "route_delete",
        sig: "ns.route_delete(dst) / ns.route_delete(dst, #{table, metric})",
        doc: "Delete a route in ns (`ip route del DST [table T] [metric N]`): one the lab added, or one that was there before, which teardown puts back as it was.",
        example: "ns1.route_delete(\"10.2.0.0/16\");  host().route_delete(\"default\", #{table: \"main\", metric: 100});",
    };
    let c = ctx.clone();
    r.func(
        del_doc.clone(),
        move |ns: &mut Netns, dst: &str| -> Res<()> {
            let req = route_del_req(dst, &Map::new())?;
            c.lab()?.delete_route(ns.id, req).map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        del_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<()> {
            let req = route_del_req(dst, &opts)?;
            c.lab()?.delete_route(ns.id, req).map_err(err)
        },
    );

    let c = ctx.clone();
    r.func(
        Doc {
            area: "routes",
            name: "rule",
            sig: "ns.rule(#{from, to, iif, oif, fwmark, table, priority, action})",
            doc: "Add a policy routing rule in ns (`ip rule add [from P] [to P] [iif I] [oif O] [fwmark M/K] [priority N] lookup T`); action \"lookup\" (default, needs table), \"blackhole\", \"unreachable\" or \"prohibit\"; IPv4 or IPv6 by from/to, both when neither is given.",
            example: "gw.rule(#{from: \"10.0.2.0/24\", table: 100});  gw.rule(#{fwmark: 1, table: \"main\", priority: 100});  gw.rule(#{to: \"10.9.0.0/16\", action: \"prohibit\"});",
        },
        move |ns: &mut Netns, opts: Map| -> Res<()> {
            let (rule, family) = rule_req(&opts)?;
            let mut lab = c.lab()?;
            match family {
                Some(_) => lab.add_rule(ns.id, rule).map_err(err),
                None => {
                    lab.add_rule(ns.id, rule.clone()).map_err(err)?;
                    lab.add_rule(ns.id, RuleSpec { v6: true, ..rule })
                        .map_err(err)
                }
            }
        },
    );

    let c = ctx.clone();
    r.func(
        Doc {
            area: "routes",
            name: "neigh",
            sig: "ns.neigh(\"dev\", \"10.0.0.2\", \"02:00:00:00:00:02\")",
            doc: "Add a permanent neighbour (ARP/NDP) entry in ns (`ip neigh add ADDR lladdr MAC dev DEV nud permanent`); IPv4 or IPv6.",
            example: "ns1.neigh(\"veth1\", \"10.0.0.2\", \"02:00:00:00:00:02\");",
        },
        move |ns: &mut Netns, dev: &str, ip: &str, mac: &str| -> Res<()> {
            let ip = parse_ip(ip, "neighbour")?;
            let mac = mac_of(mac)?;
            c.lab()?.add_neigh(ns.id, dev, ip, mac).map_err(err)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::message_of;

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    #[test]
    fn destinations() {
        assert_eq!(parse_dst("default", None).unwrap().to_string(), "0.0.0.0/0");
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(parse_dst("default", Some(v6)).unwrap().to_string(), "::/0");
        assert_eq!(
            parse_dst("10.2.0.5", None).unwrap().to_string(),
            "10.2.0.5/32"
        );
        assert!(parse_dst("10.2.0.1/16", None).is_err());
        assert_eq!(parse_dst("::/0", None).unwrap().to_string(), "::/0");
    }

    #[test]
    fn route_options_are_checked_before_the_kernel_sees_them() {
        let hops = |v: Vec<Dynamic>| Dynamic::from_array(v);
        let hop = |via: &str| Dynamic::from_map(map(&[("via", via.into())]));
        let r = route_req(
            "default",
            &map(&[("nexthops", hops(vec![hop("fd00:1::1"), hop("fd00:2::1")]))]),
        )
        .unwrap();
        assert_eq!(
            r.dst.to_string(),
            "::/0",
            "the family comes from the next hops"
        );
        assert_eq!(r.nexthops.len(), 2);

        let e = route_req("10.0.0.0/8", &map(&[("nexthop", hops(vec![]))])).unwrap_err();
        assert!(message_of(&e).contains(ROUTE_KEYS), "{}", message_of(&e));
        let e = route_req(
            "10.0.0.0/8",
            &map(&[("type", "blackhole".into()), ("via", "10.0.0.1".into())]),
        )
        .unwrap_err();
        assert!(
            message_of(&e).contains("takes no via"),
            "{}",
            message_of(&e)
        );
        let e = route_req("10.0.0.0/8", &map(&[("type", "drop".into())])).unwrap_err();
        assert!(
            message_of(&e).contains("\"prohibit\""),
            "{}",
            message_of(&e)
        );
        let e = route_req(
            "10.0.0.0/8",
            &map(&[(
                "nexthops",
                hops(vec![Dynamic::from_map(map(&[
                    ("via", "10.0.0.1".into()),
                    ("weight", Dynamic::from_int(0)),
                ]))]),
            )]),
        )
        .unwrap_err();
        assert!(message_of(&e).contains("1..=256"), "{}", message_of(&e));
        let e = route_req("10.0.0.0/8", &map(&[("table", Dynamic::from_int(0))])).unwrap_err();
        assert!(message_of(&e).contains("table 0"), "{}", message_of(&e));
        let r = route_req(
            "10.0.0.0/8",
            &map(&[("type", "unreachable".into()), ("table", "main".into())]),
        )
        .unwrap();
        assert_eq!((r.kind, r.table), (RouteKind::Unreachable, Some(254)));
    }

    #[test]
    fn rules_know_their_family_and_need_a_table_to_look_up() {
        let (r, fam) = rule_req(&map(&[
            ("from", "fd00:2::/64".into()),
            ("table", Dynamic::from_int(100)),
        ]))
        .unwrap();
        assert_eq!((r.v6, fam), (true, Some(true)));
        let (_, fam) = rule_req(&map(&[
            ("fwmark", "0x10/0xff".into()),
            ("table", Dynamic::from_int(100)),
        ]))
        .unwrap();
        assert_eq!(fam, None, "no from/to: both families");
        let e = rule_req(&map(&[("from", "10.0.2.0/24".into())])).unwrap_err();
        assert!(
            message_of(&e).contains("needs a table"),
            "{}",
            message_of(&e)
        );
        let e = rule_req(&map(&[
            ("to", "10.9.0.0/16".into()),
            ("action", "prohibit".into()),
            ("table", Dynamic::from_int(100)),
        ]))
        .unwrap_err();
        assert!(
            message_of(&e).contains("takes no table"),
            "{}",
            message_of(&e)
        );
        let e = rule_req(&map(&[("src", "10.0.0.1".into())])).unwrap_err();
        assert!(message_of(&e).contains(RULE_KEYS), "{}", message_of(&e));
        let e = rule_req(&map(&[
            ("from", "10.0.2.0/24".into()),
            ("to", "fd00::/64".into()),
            ("table", Dynamic::from_int(100)),
        ]))
        .unwrap_err();
        assert!(
            message_of(&e).contains("different IP versions"),
            "{}",
            message_of(&e)
        );
        assert_eq!(fwmark_opt(&"0x10/0xff".into()).unwrap(), (16, Some(255)));
        assert!(fwmark_opt(&"ten".into()).is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(mac_of("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
        for bad in [
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "zz:00:00:00:00:00",
            "020:0:0:0:0:0",
        ] {
            assert!(mac_of(bad).is_err(), "{bad}");
        }
    }
}
