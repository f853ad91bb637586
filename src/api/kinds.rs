//! More kinds of link (macvlan(), ipvlan(), vxlan(), vlan(), vrf()) and what
//! can happen to any link: link.move(), link.mac(), link.delete().

use std::rc::Rc;

use rhai::{Dynamic, ImmutableString, Map};

use super::addr::{parse_ip, str_opt};
use super::{Ctx, Doc, Link, Netns, Registrar, Res, bad, err};
use crate::lab::{Lab, NsId, VxlanReq};

/// The mode from `#{mode: "…"}`, or `default`.
fn mode_opt(opts: &Map, kind: &str, default: &str, modes: &str) -> Res<String> {
    let mut mode = default.to_string();
    for (k, v) in opts {
        match k.as_str() {
            "mode" => mode = str_opt(v, "mode")?,
            other => {
                return Err(bad(
                    format!("unknown {kind} option '{}'", crate::text::clip(other, 40)),
                    format!("{kind} takes one option, mode: {modes}"),
                ));
            }
        }
    }
    Ok(mode)
}

const MACVLAN_MODES: &str =
    "#{mode: \"bridge\"} (the default), \"private\", \"vepa\" or \"passthru\"";
const IPVLAN_MODES: &str = "#{mode: \"l2\"} (the default), \"l3\" or \"l3s\"";

/// A whole number option in `range`.
fn int_opt(v: &Dynamic, key: &str, max: i64, example: &str) -> Res<i64> {
    v.as_int()
        .ok()
        .filter(|n| (0..=max).contains(n))
        .ok_or_else(|| {
            bad(
                format!("option '{key}' must be a whole number 0..={max}, not {v}"),
                format!("e.g. {key}: {example}"),
            )
        })
}

fn vxlan_opts(opts: &Map) -> Res<VxlanReq> {
    let mut req = VxlanReq {
        vni: 0,
        remote: None,
        group: None,
        local: None,
        dev: None,
        port: 4789,
    };
    let mut vni = None;
    for (k, v) in opts {
        match k.as_str() {
            "vni" => vni = Some(int_opt(v, "vni", crate::lab::MAX_VNI.into(), "42")? as u32),
            "remote" => req.remote = Some(parse_ip(&str_opt(v, "remote")?, "VXLAN's remote")?),
            "group" => req.group = Some(parse_ip(&str_opt(v, "group")?, "VXLAN's group")?),
            "local" => req.local = Some(parse_ip(&str_opt(v, "local")?, "VXLAN's local end")?),
            "dev" => {
                req.dev = Some(match v.clone().try_cast::<Link>() {
                    Some(l) => l.name.to_string(),
                    None => str_opt(v, "dev")?,
                })
            }
            "port" => {
                let p = int_opt(v, "port", 65535, "4789")?;
                if p == 0 {
                    return Err(bad(
                        "port 0 is not a UDP port a VXLAN can use",
                        "leave it out for the IANA port, 4789",
                    ));
                }
                req.port = p as u16;
            }
            other => {
                return Err(bad(
                    format!("unknown vxlan option '{}'", crate::text::clip(other, 40)),
                    "vxlan options are vni, remote or group, local, dev and port: #{vni: 42, remote: \"10.0.0.2\"}",
                ));
            }
        }
    }
    req.vni = vni.ok_or_else(|| {
        bad(
            "a VXLAN needs its network identifier: vni",
            "e.g. vxlan(ns, \"vx0\", #{vni: 42, remote: \"10.0.0.2\"})",
        )
    })?;
    Ok(req)
}

/// How the lab makes a link on a parent (`Lab::macvlan`, `Lab::ipvlan`).
type MakeOnParent = fn(&mut Lab, NsId, &str, (NsId, &str), &str) -> crate::lab::Result<()>;

/// Registers `kind(ns, "name", parent)` and `kind(ns, "name", parent,
/// #{mode})`: a link of this kind on a parent link, in ns.
fn sublink(
    r: &mut Registrar,
    ctx: &Rc<Ctx>,
    doc: Doc,
    kind: &'static str,
    default_mode: &'static str,
    modes: &'static str,
    make: MakeOnParent,
) {
    let c = ctx.clone();
    let f = move |ns: Netns, name: &str, parent: Link, opts: Map| -> Res<Link> {
        let mode = mode_opt(&opts, kind, default_mode, modes)?;
        make(
            &mut *c.lab()?,
            ns.id,
            name,
            (parent.ns.id, &parent.name),
            &mode,
        )
        .map_err(err)?;
        Ok(Link {
            ns,
            name: name.into(),
        })
    };
    let g = f.clone();
    r.func(doc.clone(), f);
    r.func(
        doc,
        move |ns: Netns, name: &str, parent: Link| -> Res<Link> { g(ns, name, parent, Map::new()) },
    );
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let macvlan_doc = Doc {
        area: "links",
        name: "macvlan",
        sig: "macvlan(ns, \"name\", parent) -> Link / macvlan(ns, \"name\", parent, #{mode}) -> Link",
        doc: "A macvlan of link parent, in ns (any namespace), up: its own MAC on the parent's wire (`ip link add link PARENT NAME type macvlan mode MODE`); mode \"bridge\" (default), \"private\", \"vepa\" or \"passthru\".",
        example: "let m = macvlan(ns1, \"mv0\", sw.link(\"eth0\"), #{mode: \"bridge\"});",
    };
    sublink(
        r,
        ctx,
        macvlan_doc,
        "macvlan",
        "bridge",
        MACVLAN_MODES,
        Lab::macvlan,
    );
    let ipvlan_doc = Doc {
        area: "links",
        name: "ipvlan",
        sig: "ipvlan(ns, \"name\", parent) -> Link / ipvlan(ns, \"name\", parent, #{mode}) -> Link",
        doc: "An ipvlan of link parent, in ns (any namespace), up: the parent's MAC, its own IP (`ip link add link PARENT NAME type ipvlan mode MODE`); mode \"l2\" (default), \"l3\" or \"l3s\".",
        example: "let v = ipvlan(ns1, \"ipv0\", sw.link(\"eth0\"), #{mode: \"l3\"});",
    };
    sublink(
        r,
        ctx,
        ipvlan_doc,
        "ipvlan",
        "l2",
        IPVLAN_MODES,
        Lab::ipvlan,
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "vxlan",
            sig: "vxlan(ns, \"vx0\", #{vni, remote | group, local, dev, port}) -> Link",
            doc: "A VXLAN tunnel end in ns, up: Ethernet over UDP to remote (or a multicast group on dev), port 4789 unless given (`ip link add vx0 type vxlan id VNI remote IP dstport 4789`).",
            example: "let vx = vxlan(ns1, \"vx0\", #{vni: 42, remote: \"10.0.0.2\", local: \"10.0.0.1\"});",
        },
        move |ns: Netns, name: &str, opts: Map| -> Res<Link> {
            let req = vxlan_opts(&opts)?;
            c.lab()?.vxlan(ns.id, name, req).map_err(err)?;
            Ok(Link {
                ns,
                name: name.into(),
            })
        },
    );
    let doc = Doc {
        area: "links",
        name: "vlan",
        sig: "vlan(link, id) -> Link / vlan(link, id, \"name\") -> Link",
        doc: "An 802.1Q VLAN on link, beside it, up, named LINK.ID unless named (`ip link add link LINK name LINK.ID type vlan id ID`).",
        example: "let v10 = vlan(ends[0], 10);",
    };
    let c = ctx.clone();
    r.func(doc.clone(), move |l: Link, id: i64| -> Res<Link> {
        let name = c.lab()?.vlan(l.ns.id, &l.name, id, None).map_err(err)?;
        Ok(Link {
            ns: l.ns,
            name: name.into(),
        })
    });
    let c = ctx.clone();
    r.func(doc, move |l: Link, id: i64, name: &str| -> Res<Link> {
        let name = c
            .lab()?
            .vlan(l.ns.id, &l.name, id, Some(name))
            .map_err(err)?;
        Ok(Link {
            ns: l.ns,
            name: name.into(),
        })
    });
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "vrf",
            sig: "vrf(ns, \"red\", table) -> Link",
            doc: "A VRF in ns bound to routing table `table`, up; attach links to it like to a bridge (`ip link add red type vrf table N`).",
            example: "let red = vrf(r1, \"red\", 10);  red.attach(ends[0]);",
        },
        move |ns: Netns, name: &str, table: i64| -> Res<Link> {
            c.lab()?.vrf(ns.id, name, table).map_err(err)?;
            Ok(Link {
                ns,
                name: name.into(),
            })
        },
    );
    let doc = Doc {
        area: "links",
        name: "move",
        sig: "link.move(ns) -> Link / link.move(ns, \"newname\") -> Link",
        doc: "Move the link to namespace ns, renamed if asked, up again if it was (`ip link set LINK netns NS name NEW`); its addresses stay behind. A link the lab did not make goes back home, as it was, at teardown.",
        example: "host().link(\"eth1\").move(ns1);",
    };
    for renamed in [false, true] {
        let c = ctx.clone();
        let f = move |l: &mut Link, ns: Netns, new_name: Option<&str>| -> Res<Link> {
            let name = c
                .lab()?
                .move_link(l.ns.id, &l.name, ns.id, new_name)
                .map_err(err)?;
            // The handle follows the link.
            l.ns = ns;
            l.name = ImmutableString::from(name);
            Ok(l.clone())
        };
        if renamed {
            r.func(
                doc.clone(),
                move |l: &mut Link, ns: Netns, name: &str| -> Res<Link> { f(l, ns, Some(name)) },
            );
        } else {
            r.func(doc.clone(), move |l: &mut Link, ns: Netns| -> Res<Link> {
                f(l, ns, None)
            });
        }
    }
    let doc = Doc {
        area: "links",
        name: "mac",
        sig: "link.mac() -> string / link.mac(\"02:00:00:00:00:01\")",
        doc: "The link's MAC address, or set it (`ip link set LINK address MAC`).",
        example: "ends[0].mac(\"02:00:00:00:00:01\");  print(ends[0].mac());",
    };
    let c = ctx.clone();
    r.func(doc.clone(), move |l: &mut Link| -> Res<String> {
        let v = super::placed::read(&c, l.ns.id, "mac", vec![l.name.clone().into()])?;
        Ok(v.into_string().unwrap_or_default())
    });
    let c = ctx.clone();
    r.func(doc, move |l: &mut Link, mac: &str| -> Res<Link> {
        c.lab()?.set_mac(l.ns.id, &l.name, mac).map_err(err)?;
        Ok(l.clone())
    });
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "delete",
            sig: "link.delete()",
            doc: "Delete a link this lab made, now instead of at teardown (`ip link del LINK`); a veth goes with both ends.",
            example: "ends[0].delete();",
        },
        move |l: &mut Link| -> Res<()> { c.lab()?.delete_link(l.ns.id, &l.name).map_err(err) },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    #[test]
    fn vxlan_options() {
        let req = vxlan_opts(&opts(&[
            ("vni", Dynamic::from_int(42)),
            ("remote", Dynamic::from("10.0.0.2")),
        ]))
        .unwrap();
        assert_eq!((req.vni, req.port), (42, 4789));
        assert_eq!(req.remote, Some("10.0.0.2".parse().unwrap()));
        for (bad, says) in [
            (vec![("remote", Dynamic::from("10.0.0.2"))], "vni"),
            (vec![("vni", Dynamic::from_int(1 << 24))], "0..=16777215"),
            (
                vec![
                    ("vni", Dynamic::from_int(1)),
                    ("port", Dynamic::from_int(0)),
                ],
                "port 0",
            ),
            (
                vec![("vni", Dynamic::from_int(1)), ("id", Dynamic::from_int(1))],
                "unknown vxlan option 'id'",
            ),
        ] {
            let e = vxlan_opts(&opts(&bad)).expect_err("refused");
            assert!(super::super::message_of(&e).contains(says), "{says}");
        }
    }

    #[test]
    fn modes_default_and_unknown_keys_are_named() {
        assert_eq!(
            mode_opt(&Map::new(), "macvlan", "bridge", MACVLAN_MODES).unwrap(),
            "bridge"
        );
        let e = mode_opt(
            &opts(&[("mdoe", Dynamic::from("vepa"))]),
            "macvlan",
            "bridge",
            MACVLAN_MODES,
        )
        .expect_err("refused");
        assert!(super::super::message_of(&e).contains("unknown macvlan option 'mdoe'"));
    }
}
