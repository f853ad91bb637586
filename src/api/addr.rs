//! Addresses: link.addr(), ns.addr() (routes are in routing.rs).

use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;
use rhai::{Dynamic, EvalAltResult};

use super::{Ctx, Doc, Link, Netns, Registrar, Res, bad, err};

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
}
