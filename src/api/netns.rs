//! Namespaces: netns(), host(), ns.name, netns_list(), ns.forwarding(),
//! ns.sysctl(), ns.links()/addrs()/routes().

use std::rc::Rc;

use rhai::{Array, Dynamic, ImmutableString, Map};

use super::{Ctx, Doc, Link, Netns, Registrar, Res, err};
use crate::lab::{HOST, NodeSpec};

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "netns",
            sig: "netns(name) -> Netns",
            doc: "Create a network namespace with lo up (`ip netns add NAME`); removed at teardown.",
            example: "let ns1 = netns(\"ns1\");",
        },
        move |name: &str| -> Res<Netns> {
            let mut lab = c.lab()?;
            let id = lab.netns(name).map_err(err)?;
            Ok(Netns {
                id,
                name: name.into(),
            })
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "netns",
            sig: "netns(name, #{dirs: [\"/etc/frr\"], hostname: \"r1\", on: \"m2\"}) -> Netns",
            doc: "Create a namespace whose programs (exec, spawn, shell) each see the listed directories as the node's own (empty at first, shared by all its programs, removed at teardown) and `hostname` as the host name (Mininet's privateDirs; `unshare --mount --uts` + `mount --bind`). In host mode a missing directory is made and removed again. `on`: made on another machine of `nslab run --machines m2=ADDR:PORT`, by the `nslab agent` there (so far with netns (dirs, hostname too), veth, bridge, attach/port, vlan, vrf, vxlan, macvlan, ipvlan, link.delete, addr, up, mtu, mac, route, route_delete, rule, neigh, shape, sysctl, forwarding, the firewall and NAT calls, exec/run, ping, the reads (links, addrs, routes, neighbors, rules, route_get, fdb, ports, vlans, stats, qdisc, counters, firewall) capture, whose file comes back here, ns.delete, link.move and throughput within one machine, listen, wait_port, probe, expect_reach, expect_blocked, connect, trace, private_dirs, read/write/exists/chown, spawn and its Process, wait_socket, wait_route; a veth between machines is a VXLAN link on each side, and joins a bridge on either machine).",
            example: "let r1 = netns(\"r1\", #{dirs: [\"/etc/frr\", \"/var/run/frr\"], hostname: \"r1\"});",
        },
        move |name: &str, mut opts: Map| -> Res<Netns> {
            if let Some(on) = opts.remove("on") {
                let on = super::addr::str_opt(&on, "on")?;
                let spec = node_spec(opts)?;
                let mut lab = c.lab()?;
                let id = if spec.is_empty() {
                    lab.netns_on(name, &on)
                } else {
                    lab.netns_node_on(name, &on, spec)
                }
                .map_err(err)?;
                return Ok(Netns {
                    id,
                    name: name.into(),
                });
            }
            let spec = node_spec(opts)?;
            let mut lab = c.lab()?;
            let id = lab.netns_node(name, spec).map_err(err)?;
            Ok(Netns {
                id,
                name: name.into(),
            })
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "private_dirs",
            sig: "ns.private_dirs([\"/etc/frr\", \"/var/run/frr\"])",
            doc: "Give a namespace the lab has more private directories, as netns(name, #{dirs}) does (those it has already stay as they are); programs started from now on see them. Recipes use it to give a node a daemon's directories.",
            example: "r1.private_dirs([\"/etc/bird\"]);",
        },
        move |ns: &mut Netns, dirs: Array| -> Res<()> {
            let spec = node_spec(Map::from_iter([("dirs".into(), Dynamic::from_array(dirs))]))?;
            c.lab()?.private_dirs(ns.id, spec.dirs).map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "read",
            sig: "ns.read(path) -> string",
            doc: "A file as ns's programs see it: inside its private directories, the node's own copy; /etc/hosts, the lab's hosts file; elsewhere, the machine's file.",
            example: "print(r1.read(\"/etc/frr/frr.conf\"));",
        },
        move |ns: &mut Netns, path: &str| -> Res<ImmutableString> {
            Ok(c.lab()?.node_read(ns.id, path).map_err(err)?.into())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "exists",
            sig: "ns.exists(path) -> bool",
            doc: "Is there a file, directory or socket at path, as ns's programs see it (inside its private directories, the node's own)? What `ip netns exec NS test -e PATH` says, looked up by nslab itself with no process.",
            example: "if r1.exists(\"/var/run/frr/zserv.api\") { print(\"zebra is there\"); }",
        },
        move |ns: &mut Netns, path: &str| -> Res<bool> {
            c.lab()?.node_exists(ns.id, path).map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "chown",
            sig: "ns.chown(path, \"user:group\")",
            doc: "Give a file or directory in one of ns's private directories, and everything in it, to a user (and group) of the machine, as `chown -R` run in ns would, with no process: for daemons that drop to their own user and write there.",
            example: "r1.chown(\"/var/run/frr\", \"frr:frr\");",
        },
        move |ns: &mut Netns, path: &str, owner: &str| -> Res<()> {
            c.lab()?.node_chown(ns.id, path, owner).map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "write",
            sig: "ns.write(path, text)",
            doc: "Write a file in one of ns's private directories (netns(name, #{dirs})), as its programs will see it; it goes at teardown.",
            example: "r1.write(\"/etc/frr/frr.conf\", \"hostname r1\\n\");",
        },
        move |ns: &mut Netns, path: &str, text: &str| -> Res<()> {
            c.lab()?.node_write(ns.id, path, text).map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "ns",
            sig: "ns(name) -> Netns",
            doc: "A namespace the lab already has, by name: one made earlier (in a loop too, with no variable of its own: ns(`h${i}`)), or, in `nslab repl --attach LAB`, one the kept lab made.",
            example: "let a = ns(\"a\");",
        },
        move |name: &str| -> Res<Netns> {
            let id = c.lab()?.lab_netns(name).map_err(err)?;
            Ok(Netns {
                id,
                name: name.into(),
            })
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "lab",
            sig: "lab() -> #{name, namespaces, links}",
            doc: "The lab's name, its namespaces (as Netns) and their links but lo (as Link), then the links it made outside them; in `nslab repl --attach LAB`, the kept lab's too.",
            example: "for n in lab().namespaces { print(n.name); }",
        },
        move || -> Res<Map> {
            let mut lab = c.lab()?;
            let parts = lab.parts().map_err(err)?;
            let mut nss = Array::new();
            let mut links = Array::new();
            for p in parts {
                let ns = Netns {
                    id: p.ns,
                    name: p.ns_name.into(),
                };
                match p.link {
                    None => nss.push(Dynamic::from(ns)),
                    Some(l) => links.push(Dynamic::from(Link {
                        ns,
                        name: l.into(),
                    })),
                }
            }
            let mut m = Map::new();
            m.insert("name".into(), lab.name().into());
            m.insert("namespaces".into(), Dynamic::from_array(nss));
            m.insert("links".into(), Dynamic::from_array(links));
            Ok(m)
        },
    );
    r.func(
        Doc {
            area: "namespaces",
            name: "host",
            sig: "host() -> Netns",
            doc: "The namespace nslab started in: the real host, or the private one in isolated mode.",
            example: "let h = host();",
        },
        || Netns {
            id: HOST,
            name: "host".into(),
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "delete",
            sig: "ns.delete()",
            doc: "Delete a namespace this lab made, now instead of at teardown (`ip netns del NAME`); returns once the other ends of its veths are gone too.",
            example: "ns1.delete();",
        },
        move |ns: &mut Netns| -> Res<()> { c.lab()?.delete_netns(ns.id).map_err(err) },
    );
    r.getter(
        Doc {
            area: "namespaces",
            name: "name",
            sig: "ns.name -> string",
            doc: "The namespace's name (\"host\" for host()).",
            example: "print(ns1.name);",
        },
        |n: &mut Netns| n.name.clone(),
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "netns_list",
            sig: "netns_list() -> [string]",
            doc: "The named namespaces on this machine (`ip netns list`).",
            example: "print(netns_list());",
        },
        move || -> Res<Array> {
            let lab = c.lab()?;
            Ok(lab.netns_list().into_iter().map(Dynamic::from).collect())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "namespaces",
            name: "forwarding",
            sig: "ns.forwarding(on)",
            doc: "Turn IPv4 and IPv6 forwarding on or off in ns (`sysctl -w net.ipv4.ip_forward=1`); the old values come back at teardown.",
            example: "router.forwarding(true);",
        },
        move |ns: &mut Netns, on: bool| -> Res<()> { c.lab()?.forwarding(ns.id, on).map_err(err) },
    );
    let c = ctx.clone();
    let sysctl_doc = Doc {
        area: "namespaces",
        name: "sysctl",
        sig: "ns.sysctl(key) -> string / ns.sysctl(key, value) -> string",
        doc: "Read a net.* sysctl in ns (`sysctl KEY`), or set it (`sysctl -w KEY=VALUE`) and get the old value, which comes back at teardown.",
        example: "ns1.sysctl(\"net.ipv4.conf.all.rp_filter\", \"0\");",
    };
    r.func(
        sysctl_doc.clone(),
        move |ns: &mut Netns, key: &str| -> Res<ImmutableString> {
            let v = super::placed::read(&c, ns.id, "sysctl", vec![key.into()])?;
            Ok(v.into_immutable_string().unwrap_or_default())
        },
    );
    let c = ctx.clone();
    r.func(
        sysctl_doc.clone(),
        move |ns: &mut Netns, key: &str, value: &str| -> Res<ImmutableString> {
            Ok(c.lab()?.sysctl(ns.id, key, value).map_err(err)?.into())
        },
    );
    let c = ctx.clone();
    r.func(
        sysctl_doc,
        move |ns: &mut Netns, key: &str, value: i64| -> Res<ImmutableString> {
            Ok(c.lab()?
                .sysctl(ns.id, key, &value.to_string())
                .map_err(err)?
                .into())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "links",
            sig: "ns.links() -> [map]",
            doc: "The links in ns (`ip link show`): #{name, kind, up, state, mtu, master}.",
            example: "for l in ns1.links() { print(l.name + \" \" + l.state); }",
        },
        move |ns: &mut Netns| -> Res<Array> { super::placed::rows(&c, ns.id, "links", vec![]) },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "addrs",
            sig: "ns.addrs() -> [map]",
            doc: "The addresses in ns (`ip addr show`): #{dev, addr, family}.",
            example: "for a in ns1.addrs() { print(a.dev + \" \" + a.addr); }",
        },
        move |ns: &mut Netns| -> Res<Array> { super::placed::rows(&c, ns.id, "addrs", vec![]) },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "routes",
            sig: "ns.routes() -> [map]",
            doc: "The routes in ns, IPv4 then IPv6, of every table but the kernel's local one (`ip route show table all`): #{family, dst, type, via, dev, metric, table, src, protocol, flags, nexthops, text}; family is \"inet\" or \"inet6\", text the route on one line as `ip route` writes it (table and metric when not the defaults); a multipath route has via and dev () and lists #{via, dev, weight, flags} in nexthops.",
            example: "for r in ns1.routes() { print(`${r.type} ${r.dst} table ${r.table} metric ${r.metric}`); }",
        },
        move |ns: &mut Netns| -> Res<Array> { super::placed::rows(&c, ns.id, "routes", vec![]) },
    );
}

fn opt<T: ToString>(v: Option<T>) -> Dynamic {
    v.map(|x| Dynamic::from(x.to_string()))
        .unwrap_or(Dynamic::UNIT)
}

fn flags(f: &[&str]) -> Dynamic {
    Dynamic::from_array(f.iter().map(|x| Dynamic::from(x.to_string())).collect())
}

/// The links as scripts see them (`ns.links()`).
pub(super) fn links_rows(rows: Vec<crate::lab::LinkView>) -> Array {
    rows.into_iter()
        .map(|l| {
            let mut m = Map::new();
            m.insert("name".into(), l.name.into());
            m.insert("kind".into(), l.kind.into());
            m.insert("up".into(), l.up.into());
            m.insert("state".into(), l.state.into());
            m.insert("mtu".into(), Dynamic::from_int(i64::from(l.mtu)));
            m.insert(
                "master".into(),
                l.master.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
            );
            Dynamic::from_map(m)
        })
        .collect()
}

/// The addresses as scripts see them (`ns.addrs()`).
pub(super) fn addrs_rows(rows: Vec<crate::lab::AddrView>) -> Array {
    rows.into_iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("dev".into(), a.dev.into());
            m.insert("addr".into(), a.addr.to_string().into());
            m.insert(
                "family".into(),
                if a.addr.addr().is_ipv4() {
                    "inet"
                } else {
                    "inet6"
                }
                .into(),
            );
            Dynamic::from_map(m)
        })
        .collect()
}

/// One route as scripts see it (`ns.routes()`).
pub(super) fn route_map(x: crate::lab::RouteView) -> Dynamic {
    let mut m = Map::new();
    m.insert("family".into(), x.family().into());
    m.insert("text".into(), x.text().into());
    let dst = if x.dst.prefix_len() == 0 {
        "default".to_string()
    } else {
        x.dst.to_string()
    };
    m.insert("dst".into(), dst.into());
    m.insert("type".into(), x.kind.name().into());
    m.insert("via".into(), opt(x.via));
    m.insert("dev".into(), opt(x.dev));
    m.insert("metric".into(), Dynamic::from_int(i64::from(x.metric)));
    m.insert("table".into(), Dynamic::from_int(i64::from(x.table)));
    m.insert("src".into(), opt(x.src));
    m.insert("protocol".into(), x.protocol.into());
    m.insert("flags".into(), flags(&x.flags));
    let hops: Array = x
        .nexthops
        .into_iter()
        .map(|h| {
            let mut n = Map::new();
            n.insert("via".into(), opt(h.via));
            n.insert("dev".into(), opt(h.dev));
            n.insert("weight".into(), Dynamic::from_int(i64::from(h.weight)));
            n.insert("flags".into(), flags(&h.flags));
            Dynamic::from_map(n)
        })
        .collect();
    m.insert("nexthops".into(), Dynamic::from_array(hops));
    Dynamic::from_map(m)
}

/// #{dirs: [..], hostname: ".."} of netns(name, opts).
fn node_spec(opts: Map) -> Res<NodeSpec> {
    let mut spec = NodeSpec::default();
    for (k, v) in opts {
        match k.as_str() {
            "dirs" => {
                let list = v.into_array().map_err(|t| {
                    super::bad(
                        format!("option 'dirs' must be an array of paths, not {t}"),
                        "e.g. dirs: [\"/etc/frr\", \"/var/run/frr\"]",
                    )
                })?;
                for d in list {
                    spec.dirs.push(d.into_string().map_err(|t| {
                        super::bad(
                            format!("a private directory must be a string, not {t}"),
                            "e.g. dirs: [\"/etc/frr\", \"/var/run/frr\"]",
                        )
                    })?);
                }
            }
            "hostname" => spec.hostname = Some(super::addr::str_opt(&v, "hostname")?),
            other => {
                let near = crate::text::nearest(other, ["dirs", "hostname", "on"].into_iter())
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                return Err(super::bad(
                    format!("unknown option '{}'", crate::text::clip(other, 40)),
                    format!("{near}the options are dirs, hostname and on"),
                ));
            }
        }
    }
    spec.check().map_err(err)?;
    Ok(spec)
}
