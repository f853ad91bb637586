//! Links: veth(), bridge(), br.attach(), ns.link(), link.up/down/mtu,
//! link.name, link.ns.

use std::rc::Rc;

use rhai::{Array, Dynamic};

use super::{Ctx, Doc, Link, Netns, Registrar, Res, bad, err};

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
        move |a: Netns, an: &str, b: Netns, bn: &str| -> Res<Array> {
            c.lab()?.veth(a.id, an, b.id, bn).map_err(err)?;
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
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "bridge",
            sig: "bridge(ns, \"br0\") -> Link",
            doc: "A bridge in ns, up (`ip link add br0 type bridge && ip link set br0 up`).",
            example: "let br = bridge(host(), \"br0\");",
        },
        move |ns: Netns, name: &str| -> Res<Link> {
            c.lab()?.bridge(ns.id, name).map_err(err)?;
            Ok(Link {
                ns,
                name: name.into(),
            })
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "attach",
            sig: "br.attach(link)",
            doc: "Plug link into the bridge br and bring it up (`ip link set LINK master BR up`).",
            example: "br.attach(ends[0]);",
        },
        move |br: &mut Link, link: Link| -> Res<Link> {
            c.lab()?
                .attach(br.ns.id, &br.name, link.ns.id, &link.name)
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
            c.lab()?.link(ns.id, name).map_err(err)?;
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
