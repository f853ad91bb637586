//! Reading the kernel's tables: ns.neighbors(), ns.neigh_flush(),
//! ns.rules(), ns.route_get(), ns.route_flush_cache().

use std::rc::Rc;

use rhai::{Array, Dynamic, Map};

use super::addr::{parse_ip, str_opt};
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err, placed};
use crate::lab::{NeighView, RouteGetReq, RouteGot, RuleView, family_name};

const ROUTE_GET_KEYS: [&str; 3] = ["src", "iif", "mark"];

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let neighbors_doc = Doc {
        area: "inspect",
        name: "neighbors",
        sig: "ns.neighbors() -> [map] / ns.neighbors(dev) -> [map]",
        doc: "The neighbour (ARP and NDP) entries in ns, IPv4 then IPv6, of every link or of one (`ip neigh show [dev DEV]`): #{ip, mac, dev, state, router}; mac is () while the entry is incomplete or failed, state as ip names it (\"reachable\", \"stale\", \"permanent\", …), router: an IPv6 neighbour that said it routes.",
        example: "for n in h1.neighbors(\"eth0\") { print(`${n.ip} ${n.mac} ${n.state}`); }",
    };
    let c = ctx.clone();
    r.func(neighbors_doc.clone(), move |ns: &mut Netns| -> Res<Array> {
        placed::rows(&c, ns.id, "neighbors", vec![])
    });
    let c = ctx.clone();
    r.func(
        neighbors_doc,
        move |ns: &mut Netns, dev: &str| -> Res<Array> {
            placed::rows(&c, ns.id, "neighbors", vec![dev.into()])
        },
    );
    let flush_doc = Doc {
        area: "inspect",
        name: "neigh_flush",
        sig: "ns.neigh_flush() -> int / ns.neigh_flush(dev) -> int",
        doc: "Drop the neighbour entries the kernel learned in ns, IPv4 and IPv6, of every link or of one (`ip neigh flush all` / `ip neigh flush dev DEV`); permanent entries stay. A change the lab makes to the kernel, but to learned state: nothing comes back at teardown (traffic learns the entries again). Returns how many went.",
        example: "h1.neigh_flush(\"eth0\");",
    };
    let c = ctx.clone();
    r.func(flush_doc.clone(), move |ns: &mut Netns| -> Res<i64> {
        let n = c.lab()?.neigh_flush(ns.id, None).map_err(err)?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    });
    let c = ctx.clone();
    r.func(flush_doc, move |ns: &mut Netns, dev: &str| -> Res<i64> {
        let n = c.lab()?.neigh_flush(ns.id, Some(dev)).map_err(err)?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    });
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "rules",
            sig: "ns.rules() -> [map]",
            doc: "The policy routing rules in ns, IPv4 then IPv6, in the kernel's order (`ip rule show`, the three every namespace starts with included): #{family, priority, from, to, iif, oif, fwmark, fwmask, table, action}; from is \"all\" for any source as ip prints it, the others () when the rule does not match on them; fwmask only when not 0xffffffff; action \"lookup\" (in table), \"blackhole\", \"unreachable\", \"prohibit\", \"goto\" or \"nop\".",
            example: "for r in r1.rules() { print(`${r.priority}: from ${r.from} ${r.action} ${r.table}`); }",
        },
        move |ns: &mut Netns| -> Res<Array> { placed::rows(&c, ns.id, "rules", vec![]) },
    );
    let get_doc = Doc {
        area: "inspect",
        name: "route_get",
        sig: "ns.route_get(ip) -> map / ns.route_get(ip, #{src, iif, mark}) -> map",
        doc: "What the kernel in ns does with a packet to ip (`ip route get IP [from SRC] [iif DEV] [mark M]`; iif: as if it arrived on that link, give its src too): #{dst, via, dev, src, table, mtu, expires_s, type}; mtu is the path MTU (learned from a \"fragmentation needed\", or set on the route), expires_s when the learned state goes; no route, or a refused one, is an error saying why.",
        example: "let r = h1.route_get(\"10.2.0.2\"); print(`${r.dev} via ${r.via} mtu ${r.mtu}`);",
    };
    let c = ctx.clone();
    r.func(
        get_doc.clone(),
        move |ns: &mut Netns, ip: &str| -> Res<Map> {
            route_get_req(ip, Map::new())?;
            placed::map(&c, ns.id, "route_get", vec![ip.into()])
        },
    );
    let c = ctx.clone();
    r.func(
        get_doc,
        move |ns: &mut Netns, ip: &str, opts: Map| -> Res<Map> {
            route_get_req(ip, opts.clone())?;
            placed::map(
                &c,
                ns.id,
                "route_get",
                vec![ip.into(), Dynamic::from_map(opts)],
            )
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "route_flush_cache",
            sig: "ns.route_flush_cache()",
            doc: "Drop the path MTUs and redirects the kernel in ns learned, IPv4 and IPv6 (`ip route flush cache`); route_get shows no learned mtu afterwards. A change the lab makes to the kernel, but to learned state: nothing comes back at teardown (traffic learns them again).",
            example: "h1.route_flush_cache();",
        },
        move |ns: &mut Netns| -> Res<()> { c.lab()?.route_flush_cache(ns.id).map_err(err) },
    );
}

fn opt<T: ToString>(v: Option<T>) -> Dynamic {
    v.map(|x| Dynamic::from(x.to_string()))
        .unwrap_or(Dynamic::UNIT)
}

fn opt_int(v: Option<u32>) -> Dynamic {
    v.map(|x| Dynamic::from_int(i64::from(x)))
        .unwrap_or(Dynamic::UNIT)
}

pub(super) fn neigh_map(n: NeighView) -> Dynamic {
    let mut m = Map::new();
    m.insert("ip".into(), n.ip.to_string().into());
    m.insert("mac".into(), opt(n.mac));
    m.insert("dev".into(), n.dev.into());
    m.insert("state".into(), n.state.into());
    m.insert("router".into(), n.router.into());
    Dynamic::from_map(m)
}

pub(super) fn rule_map(r: RuleView) -> Dynamic {
    let mut m = Map::new();
    m.insert("family".into(), family_name(r.v6).into());
    m.insert("priority".into(), Dynamic::from_int(i64::from(r.priority)));
    m.insert(
        "from".into(),
        r.from
            .map(|n| n.to_string())
            .unwrap_or_else(|| "all".into())
            .into(),
    );
    m.insert("to".into(), opt(r.to));
    m.insert("iif".into(), opt(r.iif));
    m.insert("oif".into(), opt(r.oif));
    m.insert("fwmark".into(), opt_int(r.fwmark));
    m.insert("fwmask".into(), opt_int(r.fwmask));
    m.insert("table".into(), opt_int(r.table));
    m.insert("action".into(), r.action.into());
    Dynamic::from_map(m)
}

pub(super) fn got_map(g: RouteGot) -> Map {
    let mut m = Map::new();
    m.insert("dst".into(), g.dst.to_string().into());
    m.insert("via".into(), opt(g.via));
    m.insert("dev".into(), opt(g.dev));
    m.insert("src".into(), opt(g.src));
    m.insert("table".into(), Dynamic::from_int(i64::from(g.table)));
    m.insert("mtu".into(), opt_int(g.mtu));
    m.insert(
        "expires_s".into(),
        g.expires_s.map(Dynamic::from_int).unwrap_or(Dynamic::UNIT),
    );
    m.insert("type".into(), g.kind.into());
    m
}

/// `mark: 16` or `mark: "0x10"`.
fn mark_opt(v: &Dynamic) -> Res<u32> {
    let n = if let Ok(n) = v.as_int() {
        u32::try_from(n).ok()
    } else {
        let s = str_opt(v, "mark")?;
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        }
    };
    n.ok_or_else(|| {
        bad(
            format!("mark {v} is not a valid firewall mark"),
            "a mark is a number from 0 to 4294967295, e.g. mark: 1 or mark: \"0x10\"",
        )
    })
}

pub(super) fn route_get_req(ip: &str, opts: Map) -> Res<RouteGetReq> {
    let mut req = RouteGetReq {
        dst: parse_ip(ip, "destination")?,
        src: None,
        iif: None,
        mark: None,
    };
    for (k, v) in opts {
        match k.as_str() {
            "src" => req.src = Some(parse_ip(&str_opt(&v, "src")?, "source")?),
            "iif" => req.iif = Some(str_opt(&v, "iif")?),
            "mark" => req.mark = Some(mark_opt(&v)?),
            other => {
                let near = crate::text::nearest(other, ROUTE_GET_KEYS.into_iter())
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                return Err(bad(
                    format!("unknown option '{}'", crate::text::clip(other, 40)),
                    format!("{near}the options are src, iif and mark"),
                ));
            }
        }
    }
    Ok(req)
}
