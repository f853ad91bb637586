//! Helpers for recipes (the stdlib and the user's own modules): address
//! allocation from a subnet with `ipnet`, option maps with defaults, and
//! errors that look like nslab's own.

use std::net::IpAddr;

use ipnet::IpNet;
use rhai::{Array, Dynamic, Map};

use super::{Doc, Registrar, Res, bad};

fn parse_subnet(s: &str) -> Res<IpNet> {
    let net: IpNet = s.parse().map_err(|_| {
        bad(
            format!("'{s}' is not a subnet"),
            "write it in CIDR form, e.g. \"10.1.0.0/24\" or \"fd00:1::/64\"",
        )
    })?;
    Ok(net.trunc())
}

/// How many addresses a host can use in `net` (no network or broadcast
/// address in IPv4 subnets up to /30; none of the subnet-router address in IPv6).
fn usable(net: IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let all = if bits >= 127 {
        u128::MAX
    } else {
        1u128 << bits
    };
    match net {
        IpNet::V4(_) if bits >= 2 => all - 2,
        IpNet::V4(_) => all,
        IpNet::V6(_) => all.saturating_sub(1).max(1),
    }
}

/// The smallest prefix length of `net`'s family that holds `n` hosts.
fn prefix_for(net: IpNet, n: u128) -> u8 {
    let mut p = net.max_prefix_len();
    loop {
        let candidate = IpNet::new(net.addr(), p).map(|c| c.trunc());
        match candidate {
            Ok(c) if usable(c) >= n || p == 0 => return p,
            _ => p -= 1,
        }
    }
}

/// The most addresses or subnets one call hands out: far more than a lab can
/// use (each host is a namespace), and small enough that a huge count is an
/// error at once instead of minutes of work and gigabytes of strings.
pub const MAX_ITEMS: u128 = 65536;

fn too_many(what: &str, n: impl std::fmt::Display) -> Box<rhai::EvalAltResult> {
    bad(
        format!("at most {MAX_ITEMS} {what} per call; asked for {n}"),
        format!("a lab uses far fewer: ask for the {what} the script needs"),
    )
}

/// The first `n` host addresses of `subnet`, each with the subnet's prefix
/// length ("10.1.0.1/24", …).
pub fn subnet_hosts(subnet: &str, n: i64) -> Res<Array> {
    let net = parse_subnet(subnet)?;
    let n = u128::try_from(n).map_err(|_| {
        bad(
            format!("cannot allocate {n} addresses"),
            "ask for 0 or more",
        )
    })?;
    if n > MAX_ITEMS {
        return Err(too_many("addresses", n));
    }
    if usable(net) < n {
        let p = prefix_for(net, n);
        return Err(bad(
            format!(
                "subnet {net} has room for {} host address(es); {n} are needed",
                usable(net)
            ),
            format!(
                "use a bigger subnet: /{p} or shorter, e.g. \"{}/{p}\"",
                net.addr()
            ),
        ));
    }
    let len = net.prefix_len();
    let out: Vec<Dynamic> = match net {
        IpNet::V4(v4) => v4
            .hosts()
            .take(n as usize)
            .map(|ip| Dynamic::from(format!("{ip}/{len}")))
            .collect(),
        // Skip the subnet-router anycast address (all zeros).
        IpNet::V6(v6) => v6
            .hosts()
            .skip(1)
            .take(n as usize)
            .map(|ip| Dynamic::from(format!("{ip}/{len}")))
            .collect(),
    };
    Ok(out)
}

/// The first `n` subnets of length `prefix` inside `subnet`.
pub fn subnet_split(subnet: &str, prefix: i64, n: i64) -> Res<Array> {
    let net = parse_subnet(subnet)?;
    let p = u8::try_from(prefix)
        .ok()
        .filter(|p| *p >= net.prefix_len() && *p <= net.max_prefix_len())
        .ok_or_else(|| {
            bad(
                format!("cannot split {net} into /{prefix} subnets"),
                format!(
                    "the new prefix length must be between {} and {}",
                    net.prefix_len(),
                    net.max_prefix_len()
                ),
            )
        })?;
    let n_want = u128::try_from(n)
        .map_err(|_| bad(format!("cannot split off {n} subnets"), "ask for 0 or more"))?;
    // Counted, not listed: "::/0" holds 2^128 /128s.
    let room = 1u128
        .checked_shl(u32::from(p - net.prefix_len()))
        .unwrap_or(u128::MAX);
    if room < n_want {
        return Err(bad(
            format!("subnet {net} holds only {room} /{p} subnets; {n} are needed"),
            "use a bigger subnet or a longer prefix length for the pieces",
        ));
    }
    if n_want > MAX_ITEMS {
        return Err(too_many("subnets", n));
    }
    let subnets: Vec<Dynamic> = net
        .subnets(p)
        .map_err(|e| bad(e.to_string(), "check the prefix length"))?
        .take(n_want as usize)
        .map(|s| Dynamic::from(s.to_string()))
        .collect();
    Ok(subnets)
}

/// "10.0.0.1/24" -> "10.0.0.1".
pub fn ip_of(cidr: &str) -> Res<String> {
    let ip = cidr.split('/').next().unwrap_or(cidr);
    ip.parse::<IpAddr>().map(|a| a.to_string()).map_err(|_| {
        bad(
            format!("'{cidr}' is not an address"),
            "give an address like \"10.0.0.1/24\" or \"10.0.0.1\"",
        )
    })
}

/// `given` laid over `defaults`; a key that is not among the defaults is an
/// error naming the ones that are.
pub fn with_defaults(given: Map, defaults: Map) -> Res<Map> {
    let mut out = defaults.clone();
    for (k, v) in given {
        if !defaults.contains_key(&k) {
            let mut keys: Vec<&str> = defaults.keys().map(|k| k.as_str()).collect();
            keys.sort_unstable();
            let near = crate::text::nearest(&k, keys.iter().copied())
                .map(|n| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            return Err(bad(
                format!("unknown option '{}'", crate::text::clip(&k, 40)),
                format!("{near}the options are: {}", keys.join(", ")),
            ));
        }
        let want = defaults[&k].type_name();
        if v.type_name() != want && !defaults[&k].is_unit() {
            return Err(bad(
                format!(
                    "option '{k}' must be {}, not {}",
                    friendly(want),
                    friendly(v.type_name())
                ),
                format!("the default is {:?}", defaults[&k]),
            ));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn friendly(t: &str) -> &str {
    match t {
        "i64" => "a number",
        "string" | "&str" | "ImmutableString" => "a string",
        "array" => "an array",
        "map" => "a map",
        "bool" => "true or false",
        other => other,
    }
}

pub(super) fn register(r: &mut Registrar) {
    r.func(
        Doc {
            area: "recipe helpers",
            name: "subnet_hosts",
            sig: "subnet_hosts(\"10.1.0.0/24\", n) -> [string]",
            doc: "The first n host addresses of a subnet, with its prefix length (\"10.1.0.1/24\", …); a subnet too small is an error that says how big it must be; at most 65536 per call.",
            example: "let ips = subnet_hosts(\"10.1.0.0/24\", 4);  h1.addr(\"eth0\", ips[0]);",
        },
        subnet_hosts,
    );
    r.func(
        Doc {
            area: "recipe helpers",
            name: "subnet_split",
            sig: "subnet_split(\"10.2.0.0/16\", prefix_len, n) -> [string]",
            doc: "The first n subnets of length prefix_len inside a subnet (per-link subnets for a chain of routers); at most 65536 per call.",
            example: "let links = subnet_split(\"10.2.0.0/16\", 30, 3);",
        },
        subnet_split,
    );
    r.func(
        Doc {
            area: "recipe helpers",
            name: "ip_of",
            sig: "ip_of(\"10.0.0.1/24\") -> string",
            doc: "The address without its prefix length, ready for ping or connect.",
            example: "a.ping(ip_of(ips[1]));",
        },
        |cidr: &str| ip_of(cidr),
    );
    r.func(
        Doc {
            area: "recipe helpers",
            name: "with_defaults",
            sig: "with_defaults(opts, defaults) -> map",
            doc: "Options for a recipe: opts laid over defaults; an unknown key or a value of the wrong type is an error naming the valid options.",
            example: "let o = with_defaults(opts, #{hosts: 4, subnet: \"10.1.0.0/24\"});",
        },
        with_defaults,
    );
    r.func(
        Doc {
            area: "recipe helpers",
            name: "fail",
            sig: "fail(message, help)",
            doc: "Stop with an error report at this call, with a help line, like nslab's own errors (for checks in recipes).",
            example: "if o.nodes < 2 { fail(\"a line needs 2 nodes or more\", \"set nodes: 2 or more\"); }",
        },
        |message: &str, help: &str| -> Res<()> { Err(bad(message, help)) },
    );
}

#[cfg(test)]
mod tests {
    use super::super::message_of;
    use super::*;

    #[test]
    fn hosts_skip_network_and_broadcast() {
        let a = subnet_hosts("10.1.0.0/24", 2).unwrap();
        assert_eq!(a[0].to_string(), "10.1.0.1/24");
        assert_eq!(a[1].to_string(), "10.1.0.2/24");
        let b = subnet_hosts("fd00:1::/64", 1).unwrap();
        assert_eq!(b[0].to_string(), "fd00:1::1/64");
        assert_eq!(subnet_hosts("10.0.0.4/31", 2).unwrap().len(), 2);
    }

    #[test]
    fn too_small_says_how_big() {
        let e = subnet_hosts("10.1.0.0/30", 4).unwrap_err();
        let s = super::super::message_of(&e);
        assert!(
            s.contains("room for 2 host address(es); 4 are needed"),
            "{s}"
        );
        assert!(s.contains("/29 or shorter"), "{s}");
    }

    #[test]
    fn split_counts() {
        let s = subnet_split("10.2.0.0/16", 30, 3).unwrap();
        assert_eq!(s[2].to_string(), "10.2.0.8/30");
        assert!(subnet_split("10.2.0.0/29", 30, 3).is_err());
        assert!(subnet_split("10.2.0.0/16", 8, 1).is_err());
    }

    #[test]
    fn huge_counts_are_refused_with_the_bound() {
        let e = message_of(&subnet_split("::/0", 128, i64::MAX).unwrap_err());
        assert!(
            e.contains("at most 65536 subnets per call; asked for 9223372036854775807"),
            "{e}"
        );
        let e = message_of(&subnet_split("10.0.0.0/8", 32, 10_000_000).unwrap_err());
        assert!(e.contains("at most 65536 subnets"), "{e}");
        let e = message_of(&subnet_hosts("10.0.0.0/8", 10_000_000).unwrap_err());
        assert!(
            e.contains("at most 65536 addresses per call; asked for 10000000"),
            "{e}"
        );
        assert_eq!(subnet_hosts("10.0.0.0/8", 65536).unwrap().len(), 65536);
        assert_eq!(subnet_split("::/0", 128, 3).unwrap().len(), 3);
        let e = message_of(&subnet_split("10.2.0.0/16", 30, -1).unwrap_err());
        assert!(e.contains("cannot split off -1 subnets"), "{e}");
        let e = message_of(&subnet_split("10.2.0.0/29", 30, 3).unwrap_err());
        assert!(e.contains("holds only 2 /30 subnets; 3 are needed"), "{e}");
    }

    #[test]
    fn options_are_checked() {
        let mut d = Map::new();
        d.insert("hosts".into(), Dynamic::from_int(4));
        let mut g = Map::new();
        g.insert("hots".into(), Dynamic::from_int(8));
        let e = super::super::message_of(&with_defaults(g, d.clone()).unwrap_err());
        assert!(
            e.contains("unknown option 'hots'") && e.contains("did you mean `hosts`"),
            "{e}"
        );
        let mut g = Map::new();
        g.insert("hosts".into(), Dynamic::from("8"));
        let e = super::super::message_of(&with_defaults(g, d).unwrap_err());
        assert!(e.contains("must be a number, not a string"), "{e}");
    }
}
