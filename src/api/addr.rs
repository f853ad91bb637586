//! Addresses and routes: link.addr(), ns.addr(), ns.route().

use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;
use rhai::{Dynamic, EvalAltResult, Map};

use super::{Ctx, Doc, Link, Netns, Registrar, Res, bad, err};
use crate::lab::RouteReq;

/// "10.0.0.1/24" or "fd00::1/64": an address with its prefix length.
pub fn parse_cidr(s: &str) -> Res<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        let example = if ip.is_ipv4() { "/24" } else { "/64" };
        return Err(bad(
            format!("'{s}' has no prefix length"),
            format!("write the address with its prefix length, e.g. \"{s}{example}\""),
        ));
    }
    Err(bad(
        format!("'{s}' is not a valid address with prefix length (CIDR)"),
        "write it as ADDRESS/PREFIX, e.g. \"10.0.0.1/24\" or \"fd00::1/64\"",
    ))
}

/// "10.0.0.1" or "fd00::1".
pub fn parse_ip(s: &str, what: &str) -> Res<IpAddr> {
    s.parse::<IpAddr>().map_err(|_| {
        bad(
            format!("'{s}' is not a valid IP address for the {what}"),
            "write an IPv4 address like \"10.0.0.1\" or an IPv6 address like \"fd00::1\"",
        )
    })
}

/// A route destination: "default", a prefix ("10.2.0.0/16"), or one address.
fn parse_dst(s: &str, family_hint: Option<IpAddr>) -> Res<IpNet> {
    if s == "default" {
        let v6 = family_hint.is_some_and(|ip| ip.is_ipv6());
        let net = if v6 { "::/0" } else { "0.0.0.0/0" };
        return net
            .parse::<IpNet>()
            .map_err(|e| bad(e.to_string(), "this is a bug"));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net = s.parse::<IpNet>().map_err(|_| {
        bad(
            format!("'{s}' is not a valid route destination"),
            "use \"default\", a prefix like \"10.2.0.0/16\", or a single address",
        )
    })?;
    if net.trunc() != net {
        return Err(bad(
            format!("route destination '{s}' has host bits set"),
            format!(
                "a route goes to a network: did you mean \"{}\"?",
                net.trunc()
            ),
        ));
    }
    Ok(net)
}

fn route_opts(opts: &Map) -> Res<(Option<IpAddr>, Option<String>, Option<u32>)> {
    let mut via = None;
    let mut dev = None;
    let mut metric = None;
    for (k, v) in opts {
        match k.as_str() {
            "via" => via = Some(parse_ip(&str_opt(v, "via")?, "gateway")?),
            "dev" => dev = Some(str_opt(v, "dev")?),
            "metric" => {
                let m = v
                    .as_int()
                    .ok()
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or_else(|| {
                        bad(
                            format!("metric {v} is not a valid number"),
                            "a metric is a whole number >= 0",
                        )
                    })?;
                metric = Some(m);
            }
            other => {
                return Err(bad(
                    format!("unknown route option '{other}'"),
                    "route options are via, dev and metric: #{via: \"10.0.0.1\", dev: \"veth1\", metric: 10}",
                ));
            }
        }
    }
    if via.is_none() && dev.is_none() {
        return Err(bad(
            "a route needs a gateway or a device",
            "give via (#{via: \"10.0.0.1\"}) or dev (#{dev: \"veth1\"}), or both",
        ));
    }
    Ok((via, dev, metric))
}

pub fn str_opt(v: &Dynamic, key: &str) -> Result<String, Box<EvalAltResult>> {
    v.clone().into_string().map_err(|t| {
        bad(
            format!("option '{key}' must be a string, not {t}"),
            format!("write it in quotes, e.g. {key}: \"…\""),
        )
    })
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let addr_doc = Doc {
        area: "addresses",
        name: "addr",
        sig: "link.addr(\"10.0.0.1/24\") / ns.addr(\"dev\", \"10.0.0.1/24\")",
        doc: "Add an IPv4 or IPv6 address to a link (`ip addr add ADDR dev DEV`); IPv6 skips duplicate detection.",
        example: "ends[0].addr(\"10.0.0.1/24\");  ns1.addr(\"veth1\", \"fd00::1/64\");",
    };
    let c = ctx.clone();
    r.func(
        addr_doc.clone(),
        move |l: &mut Link, cidr: &str| -> Res<Link> {
            let net = parse_cidr(cidr)?;
            c.lab()?.add_addr(l.ns.id, &l.name, net).map_err(err)?;
            Ok(l.clone())
        },
    );
    let c = ctx.clone();
    r.func(
        addr_doc,
        move |ns: &mut Netns, dev: &str, cidr: &str| -> Res<()> {
            let net = parse_cidr(cidr)?;
            c.lab()?.add_addr(ns.id, dev, net).map_err(err)
        },
    );
    let route_doc = Doc {
        area: "routes",
        name: "route",
        sig: "ns.route(dst, \"gateway\") / ns.route(dst, #{dev, via, metric})",
        doc: "Add a route in ns (`ip route add DST via GW [dev DEV] [metric N]`); dst is \"default\", a prefix or an address.",
        example: "ns1.route(\"default\", \"10.0.0.1\");  ns1.route(\"10.2.0.0/16\", #{dev: \"veth1\", via: \"10.0.0.1\", metric: 10});",
    };
    let c = ctx.clone();
    r.func(
        route_doc.clone(),
        move |ns: &mut Netns, dst: &str, via: &str| -> Res<()> {
            let gw = parse_ip(via, "gateway")?;
            let dst = parse_dst(dst, Some(gw))?;
            c.lab()?
                .add_route(
                    ns.id,
                    RouteReq {
                        dst,
                        via: Some(gw),
                        dev: None,
                        metric: None,
                    },
                )
                .map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        route_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<()> {
            let (via, dev, metric) = route_opts(&opts)?;
            let dst = parse_dst(dst, via)?;
            c.lab()?
                .add_route(
                    ns.id,
                    RouteReq {
                        dst,
                        via,
                        dev,
                        metric,
                    },
                )
                .map_err(err)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_needs_a_prefix() {
        assert!(parse_cidr("10.0.0.1/24").is_ok());
        assert!(parse_cidr("fd00::1/64").is_ok());
        assert!(parse_cidr("10.0.0.1").is_err());
        assert!(parse_cidr("10.0.0.300/24").is_err());
        assert!(parse_cidr("10.0.0.1/33").is_err());
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
    }
}
