//! Links: veth(), bridge(), br.attach(), ns.link(), link.up/down/mtu,
//! link.name, link.ns.

use std::rc::Rc;

use rhai::{Array, Dynamic, Map, NativeCallContext};

use super::shaping::{bool_opt, int_in, ranged};
use super::{Ctx, Doc, Link, Netns, Registrar, Res, bad, err, site};
use crate::lab::{AttachOpts, BridgeOpts, PortVlan};

const BRIDGE_KEYS: &str =
    "stp, priority, vlan_filtering, ageing_s, forward_delay_s, hello_s and max_age_s";
const PORT_KEYS: &str =
    "isolated, hairpin, cost, priority, learning, flood, vlans, pvid, untagged and ipv6";
/// br.port's: a port's options after attach (ipv6 is the link's, not the
/// port's: link.addr turns it back on).
const PORT_SET_KEYS: &str =
    "isolated, hairpin, cost, priority, learning, flood, vlans, pvid and untagged";

/// Seconds as the kernel takes them: centiseconds.
fn centis(v: &Dynamic, key: &str, lo: f64, hi: f64, example: &str) -> Res<u32> {
    Ok((ranged(v, key, lo, hi, example)? * 100.0).round() as u32)
}

fn bridge_opts(m: &Map) -> Res<BridgeOpts> {
    let mut o = BridgeOpts::default();
    for (k, v) in m {
        match k.as_str() {
            "stp" => o.stp = Some(bool_opt(v, k)?),
            // Off is the kernel's default: not sent, so a kernel without
            // VLAN filtering still takes an explicit `false`.
            "vlan_filtering" => o.vlan_filtering = bool_opt(v, k)?.then_some(true),
            "ageing_s" => o.ageing_cs = Some(centis(v, k, 0.0, 1_000_000.0, "ageing_s: 300")?),
            // The kernel's ranges for STP (net/bridge/br_private.h).
            "forward_delay_s" => {
                o.forward_delay_cs = Some(centis(v, k, 2.0, 30.0, "forward_delay_s: 4")?)
            }
            "hello_s" => o.hello_cs = Some(centis(v, k, 1.0, 10.0, "hello_s: 1")?),
            "max_age_s" => o.max_age_cs = Some(centis(v, k, 6.0, 40.0, "max_age_s: 6")?),
            "priority" => o.priority = Some(bridge_priority(v)?),
            other => {
                return Err(bad(
                    format!("unknown bridge option '{other}'"),
                    format!("the options are {BRIDGE_KEYS}"),
                ));
            }
        }
    }
    Ok(o)
}

/// The STP bridge priority: IFLA_BR_PRIORITY is 16 bits, taken as given
/// (the kernel rounds nothing; 802.1D-2004 would have multiples of 4096).
fn bridge_priority(v: &Dynamic) -> Res<u16> {
    let n = v.as_int().map_err(|t| {
        bad(
            format!("option 'priority' must be a whole number, not {t}"),
            "e.g. priority: 4096 (the lowest priority is the root bridge)",
        )
    })?;
    u16::try_from(n).map_err(|_| {
        bad(
            format!("bridge priority {n} is out of range"),
            "the STP bridge priority is 0..=65535 (32768 by default; the lowest is the root bridge), e.g. priority: 4096",
        )
    })
}

/// A VLAN id, or an array of them.
fn vids(v: &Dynamic, key: &str) -> Res<Vec<u16>> {
    let one = |x: &Dynamic| int_in(x, key, 1, 4094, &format!("{key}: [10, 20]")).map(|n| n as u16);
    if let Some(a) = v.read_lock::<Array>() {
        return a.iter().map(one).collect();
    }
    Ok(vec![one(v)?])
}

/// `attach`'s options; `set`: br.port's, which has no ipv6.
fn attach_opts(m: &Map, set: bool) -> Res<AttachOpts> {
    let mut o = AttachOpts::default();
    let mut tagged = Vec::new();
    let mut untagged = Vec::new();
    let mut pvid = None;
    for (k, v) in m {
        match k.as_str() {
            "isolated" => o.port.isolated = Some(bool_opt(v, k)?),
            "hairpin" => o.port.hairpin = Some(bool_opt(v, k)?),
            // net/bridge/br_private.h: BR_MIN/MAX_PATH_COST, BR_MAX_PORT_PRIORITY.
            "cost" => o.port.cost = Some(int_in(v, k, 1, 65535, "cost: 100")? as u32),
            "priority" => o.port.priority = Some(int_in(v, k, 0, 63, "priority: 32")? as u16),
            "learning" => o.port.learning = Some(bool_opt(v, k)?),
            "flood" => o.port.flood = Some(bool_opt(v, k)?),
            "vlans" => tagged = vids(v, k)?,
            "untagged" => untagged = vids(v, k)?,
            "pvid" => pvid = Some(int_in(v, k, 1, 4094, "pvid: 10")? as u16),
            "ipv6" if !set => o.ipv6 = bool_opt(v, k)?,
            other => {
                return Err(bad(
                    format!("unknown port option '{other}'"),
                    format!(
                        "the options are {}",
                        if set { PORT_SET_KEYS } else { PORT_KEYS }
                    ),
                ));
            }
        }
    }
    let mut all: Vec<u16> = tagged
        .iter()
        .chain(&untagged)
        .copied()
        .chain(pvid)
        .collect();
    all.sort_unstable();
    all.dedup();
    if all.is_empty() && (m.contains_key("vlans") || m.contains_key("untagged")) {
        return Err(bad(
            "an empty VLAN set would leave the port in no VLAN: it would pass no frames",
            "give the VLANs the port is in, e.g. vlans: [1] (the default VLAN) or vlans: [10, 20], pvid: 10",
        ));
    }
    o.vlans = all
        .into_iter()
        .map(|vid| PortVlan {
            vid,
            pvid: pvid == Some(vid),
            untagged: untagged.contains(&vid),
        })
        .collect();
    Ok(o)
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "veth",
            sig: "veth(ns_a, \"a\", ns_b, \"b\") -> [Link, Link]",
            doc: "A virtual cable: end a in ns_a, end b in ns_b, both up (`ip link add a type veth peer name b` + `ip link set … netns …`).",
            example: "let ends = veth(ns1, \"veth1\", ns2, \"veth2\");",
        },
        move |ctx: NativeCallContext, a: Netns, an: &str, b: Netns, bn: &str| -> Res<Array> {
            c.lab()?
                .veth_at(a.id, an, b.id, bn, site(&ctx))
                .map_err(err)?;
            Ok(vec![
                Dynamic::from(Link {
                    ns: a,
                    name: an.into(),
                }),
                Dynamic::from(Link {
                    ns: b,
                    name: bn.into(),
                }),
            ])
        },
    );
    let bridge_doc = Doc {
        area: "links",
        name: "bridge",
        sig: "bridge(ns, \"br0\") -> Link / bridge(ns, \"br0\", #{stp, priority, vlan_filtering, ageing_s, forward_delay_s, hello_s, max_age_s}) -> Link",
        doc: "A bridge in ns, up (`ip link add br0 type bridge [stp_state 1 priority N ageing_time … forward_delay … hello_time … max_age …] && ip link set br0 up`); times in seconds; with stp, forward_delay_s is 2..=30; priority is the STP bridge priority, 0..=65535 (32768 by default; the lowest is the root bridge).",
        example: "let br = bridge(host(), \"br0\");  let sw = bridge(ns1, \"sw0\", #{stp: true, priority: 4096, forward_delay_s: 2, hello_s: 1});",
    };
    let c = ctx.clone();
    r.func(
        bridge_doc.clone(),
        move |ns: Netns, name: &str| -> Res<Link> {
            c.lab()?
                .bridge(ns.id, name, &BridgeOpts::default())
                .map_err(err)?;
            Ok(Link {
                ns,
                name: name.into(),
            })
        },
    );
    let c = ctx.clone();
    r.func(
        bridge_doc,
        move |ns: Netns, name: &str, m: Map| -> Res<Link> {
            let o = bridge_opts(&m)?;
            c.lab()?.bridge(ns.id, name, &o).map_err(err)?;
            Ok(Link {
                ns,
                name: name.into(),
            })
        },
    );
    let attach_doc = Doc {
        area: "links",
        name: "attach",
        sig: "br.attach(link) / br.attach(link, #{isolated, hairpin, cost, priority, learning, flood, vlans, pvid, untagged, ipv6})",
        doc: "Plug link into the bridge br and bring it up (`ip link set LINK master BR up`), with port options (`ip link set LINK type bridge_slave isolated on hairpin on cost N priority N learning off flood off`; cost 1..=65535, priority 0..=63); vlans, pvid and untagged replace the port's VLAN set, VLAN 1 included (`bridge vlan del/add …`, with `vlan_filtering 1` on the bridge; they need a kernel with CONFIG_BRIDGE_VLAN_FILTERING); a link the lab did not make gets its old settings back at teardown. A port the lab made and gave no address has no IPv6 of its own, as a switch port (`sysctl net.ipv6.conf.LINK.disable_ipv6=1`: no link-local address, DAD or MLD flooded to every port); `ipv6: true` keeps the kernel's default, and `link.addr(…)` turns it back on.",
        example: "br.attach(ends[0]);  br.attach(ends[1], #{isolated: true, cost: 10});",
    };
    let c = ctx.clone();
    r.func(
        attach_doc.clone(),
        move |br: &mut Link, link: Link| -> Res<Link> {
            c.lab_for_port(link.ns.id, &link.name)?
                .attach_with(
                    br.ns.id,
                    &br.name,
                    link.ns.id,
                    &link.name,
                    &crate::lab::AttachOpts::default(),
                )
                .map_err(err)?;
            Ok(br.clone())
        },
    );
    let c = ctx.clone();
    r.func(
        attach_doc,
        move |br: &mut Link, link: Link, m: Map| -> Res<Link> {
            let o = attach_opts(&m, false)?;
            c.lab_for_port(link.ns.id, &link.name)?
                .attach_with(br.ns.id, &br.name, link.ns.id, &link.name, &o)
                .map_err(err)?;
            Ok(br.clone())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "port",
            sig: "br.port(link, #{isolated, hairpin, cost, priority, learning, flood, vlans, pvid, untagged})",
            doc: "Change the options of a port of br after attach (`ip link set LINK type bridge_slave …`, `bridge link set dev LINK …`); only the options given change; vlans, pvid and untagged replace the port's VLAN set as in attach. A link the lab did not make gets the old values back at teardown.",
            example: "br.attach(ends[0]);  br.port(ends[0], #{hairpin: true, learning: false});",
        },
        move |br: &mut Link, link: Link, m: Map| -> Res<Link> {
            let o = attach_opts(&m, true)?;
            c.lab()?
                .port_with(br.ns.id, &br.name, link.ns.id, &link.name, &o)
                .map_err(err)?;
            Ok(br.clone())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "link",
            sig: "ns.link(\"eth0\") -> Link",
            doc: "A handle on a link that already exists in ns; nslab undoes its changes to it but never deletes it.",
            example: "let lo = ns1.link(\"lo\");",
        },
        move |ns: &mut Netns, name: &str| -> Res<Link> {
            let _ = super::placed::read(&c, ns.id, "link", vec![name.into()])?;
            Ok(Link {
                ns: ns.clone(),
                name: name.into(),
            })
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "up",
            sig: "link.up()",
            doc: "Bring the link up (`ip link set DEV up`).",
            example: "ends[0].up();",
        },
        move |l: &mut Link| -> Res<Link> {
            c.lab()?.set_up(l.ns.id, &l.name, true).map_err(err)?;
            Ok(l.clone())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "down",
            sig: "link.down()",
            doc: "Take the link down (`ip link set DEV down`).",
            example: "ends[0].down();",
        },
        move |l: &mut Link| -> Res<Link> {
            c.lab()?.set_up(l.ns.id, &l.name, false).map_err(err)?;
            Ok(l.clone())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "mtu",
            sig: "link.mtu(n)",
            doc: "Set the link's MTU (`ip link set DEV mtu N`).",
            example: "ends[0].mtu(1400);",
        },
        move |l: &mut Link, mtu: i64| -> Res<Link> {
            let mtu = u32::try_from(mtu).map_err(|_| {
                bad(
                    format!("mtu {mtu} is out of range"),
                    "an MTU is a positive number of bytes, e.g. 1500",
                )
            })?;
            c.lab()?.set_mtu(l.ns.id, &l.name, mtu).map_err(err)?;
            Ok(l.clone())
        },
    );
    r.getter(
        Doc {
            area: "links",
            name: "name",
            sig: "link.name -> string",
            doc: "The link's name.",
            example: "print(ends[0].name);",
        },
        |l: &mut Link| l.name.clone(),
    );
    r.getter(
        Doc {
            area: "links",
            name: "ns",
            sig: "link.ns -> Netns",
            doc: "The namespace the link is in.",
            example: "print(ends[1].ns.name);",
        },
        |l: &mut Link| l.ns.clone(),
    );
}
