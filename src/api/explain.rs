//! Verify and explain: ns.trace(), ns.expect_reach(), ns.expect_blocked().

use std::rc::Rc;
use std::time::Duration;

use rhai::{Array, Dynamic, Map};

use super::addr::{parse_ip, str_opt};
use super::{ApiError, Ctx, Doc, Netns, Registrar, Res, bad, err};
use crate::explain::{Hop, Packet, Trace};
use crate::lab::{Probed, Proto};

/// The hops of a trace as script values: `#{dir, ns, machine, iif, oif,
/// over, via, verdict, why}`, () where a field does not apply.
pub fn hops(t: &Trace) -> Array {
    t.hops.iter().map(|h| Dynamic::from_map(hop(h))).collect()
}

fn hop(h: &Hop) -> Map {
    let opt = |v: &Option<String>| v.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT);
    let mut m = Map::new();
    m.insert("dir".into(), h.dir.name().into());
    m.insert("ns".into(), h.ns.clone().into());
    m.insert("machine".into(), opt(&h.machine));
    m.insert("iif".into(), opt(&h.iif));
    m.insert("oif".into(), opt(&h.oif));
    m.insert("over".into(), opt(&h.over));
    m.insert(
        "via".into(),
        h.via
            .map(|v| Dynamic::from(v.to_string()))
            .unwrap_or(Dynamic::UNIT),
    );
    m.insert("verdict".into(), h.verdict.name().into());
    m.insert("why".into(), h.why.clone().into());
    m
}

/// `#{proto, port, src, timeout_ms}` (which of them `allowed` says) for a
/// packet to `dst`; tcp when only a port is given, a ping without either.
fn packet(dst: &str, opts: &Map, allowed: &[&str]) -> Res<(Packet, Duration)> {
    let dst = parse_ip(dst, "destination")?;
    let mut pkt = Packet::ping(dst);
    let mut timeout = None;
    let mut proto_given = false;
    for (k, v) in opts {
        if !allowed.contains(&k.as_str()) {
            return Err(bad(
                format!("unknown option '{k}'"),
                format!("the options are {}", allowed.join(", ")),
            ));
        }
        match k.as_str() {
            "proto" => {
                proto_given = true;
                pkt.proto = match str_opt(v, "proto")?.as_str() {
                    "tcp" => Some(Proto::Tcp),
                    "udp" => Some(Proto::Udp),
                    "icmp" | "icmpv6" | "ping" => None,
                    other => {
                        return Err(bad(
                            format!("unknown protocol '{other}'"),
                            "use proto: \"tcp\", \"udp\" or \"icmp\" (a ping, the default)",
                        ));
                    }
                }
            }
            "port" => {
                let n = v
                    .as_int()
                    .map_err(|t| bad(format!("port must be a number, not {t}"), "e.g. port: 80"))?;
                pkt.port = Some(super::socket::port_in_range(n, "port")?);
            }
            "src" => {
                let s = parse_ip(&str_opt(v, "src")?, "source address")?;
                if s.is_ipv4() != dst.is_ipv4() {
                    return Err(bad(
                        format!("source {s} and destination {dst} are not of one family"),
                        "give an IPv4 source for an IPv4 destination, IPv6 for IPv6",
                    ));
                }
                pkt.src = Some(s);
            }
            "timeout_ms" => timeout = Some(super::socket::timeout_opt(v, 60_000)?),
            "size" => {
                let n = v.as_int().map_err(|t| {
                    bad(format!("size must be a number, not {t}"), "e.g. size: 1400")
                })?;
                pkt.size = Some(super::probe::payload_size(n)?);
            }
            _ => {}
        }
    }
    match (pkt.proto, pkt.port) {
        (Some(_), None) => {
            return Err(bad(
                "a tcp or udp probe needs a port",
                "give one: #{proto: \"tcp\", port: 80}",
            ));
        }
        (None, Some(_)) if proto_given => {
            return Err(bad(
                "a ping has no port",
                "leave the port out, or give proto: \"tcp\" or \"udp\"",
            ));
        }
        (None, Some(_)) => pkt.proto = Some(Proto::Tcp),
        _ => {}
    }
    if pkt.size.is_some() && pkt.proto.is_some() {
        return Err(bad(
            "size is for a ping (it sets the echo's data bytes)",
            "leave size out of a tcp or udp probe, or leave proto and port out",
        ));
    }
    // timeout_ms is the whole wait. A ping's default is long enough for
    // the echoes sent again after the first is lost while a neighbour
    // resolves (its next ARP request goes a second later).
    let default = if pkt.proto.is_some() { 1000 } else { 1500 };
    Ok((pkt, timeout.unwrap_or(Duration::from_millis(default))))
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    // The help of a caught error, for scripts that check their own
    // expectations (`try { … } catch (e) { print(e.help) }`).
    r.engine.register_get("help", |e: &mut ApiError| {
        e.help.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    });
    let trace_doc = Doc {
        area: "verify",
        name: "trace",
        sig: "ns.trace(ip) / ns.trace(ip, #{proto, port, src, size}) -> [#{dir, ns, machine, iif, oif, over, via, verdict, why}]",
        doc: "The path a packet from ns to ip would take and the way back, hop by hop, read from the kernel without sending anything (`ip route get IP from SRC iif DEV` in each namespace, so routes, rules and tables made with exec count too; then the lab's veths, bridges, macvlans, ipvlans and VXLANs to the namespace holding the next hop). verdict is \"forward\", \"deliver\" or \"drop\"; why says which route (and a dnat rule that rewrote the destination there: the walk goes on to the new one), or why the packet is lost; dir is \"request\" or \"reply\". Across machines (`netns(name, #{on})`), a namespace on another machine is walked by its agent: machine names it (() on this one), and over says the hop arrived over the VXLAN link a veth between machines became (\"VXLAN 10001\"); the underlay under that link is checked too (a route between the machines, no nf_tables rule in either machine's own namespace dropping its UDP port). proto \"tcp\"/\"udp\" with a port also checks that something listens there; size (a ping's data bytes, sent with DF set) checks that every link on the way takes a packet that big.",
        example: "for h in h1.trace(\"10.2.0.2\") { print(`${h.ns} ${h.iif} -> ${h.oif}: ${h.verdict} (${h.why})`); }",
    };
    let c = ctx.clone();
    r.func(
        trace_doc.clone(),
        move |ns: &mut Netns, dst: &str| -> Res<Array> {
            let (pkt, _) = packet(dst, &Map::new(), &[])?;
            Ok(hops(&c.lab()?.trace(ns.id, &pkt).map_err(err)?))
        },
    );
    let c = ctx.clone();
    r.func(
        trace_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<Array> {
            let (pkt, _) = packet(dst, &opts, &["proto", "port", "src", "size"])?;
            Ok(hops(&c.lab()?.trace(ns.id, &pkt).map_err(err)?))
        },
    );
    let reach_doc = Doc {
        area: "verify",
        name: "expect_reach",
        sig: "ns.expect_reach(ip) / ns.expect_reach(ip, #{proto, port, timeout_ms, size, src})",
        doc: "Check that ns reaches ip: a ping (or with proto \"tcp\"/\"udp\" and a port, a connection or an answer) must get through. When it does not, an error at this line says why, read from the kernel along the path (no route and where, forwarding off, a link or its peer down, no address, nobody holding the gateway, no route back for the reply, a missing masquerade, rp_filter, a blackhole/unreachable/prohibit route, a neighbour that never answers, a bridge port that does not forward (STP state, two isolated ports), a link whose MTU is smaller than a ping of size bytes sent with DF set, nothing listening, an nf_tables rule or drop policy), with the path drawn and the fix as help (caught with try/catch, the error has .message and .help). A probe lost while the kernel dropped packets of every namespace (a CPU's backlog or the neighbour table full: a busy machine) is sent again, up to 4 more times, 50 ms apart, within the same timeout_ms (the first send has half of it, the others share the rest; timeout_ms is the whole wait); lost every time, the error says so with what the path walk found, and the limit's help. src: the address of ns the probe leaves from (loopback to loopback in a routing lab); the answer must come back to it, and the explanation follows it there. Across machines (`netns(name, #{on})`): from a namespace on another machine, its agent sends the probe; the path follows the VXLAN link a veth between machines became (the far machine's agent reads its side, the hop is drawn \"a ea -> m2 b eb over VXLAN 10001\"), and a missing route between the machines' underlay addresses or an nf_tables rule in either machine's own namespace dropping the link's UDP port (14789) is the reason.",
        example: "h1.expect_reach(\"10.2.0.2\"); h1.expect_reach(\"10.2.0.2\", #{proto: \"tcp\", port: 80});",
    };
    let expect_opts = ["proto", "port", "timeout_ms", "size", "src"];
    let c = ctx.clone();
    r.func(
        reach_doc.clone(),
        move |ns: &mut Netns, dst: &str| -> Res<()> {
            let (pkt, t) = packet(dst, &Map::new(), &[])?;
            c.lab()?.expect_reach(ns.id, &pkt, t).map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        reach_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<()> {
            let (pkt, t) = packet(dst, &opts, &expect_opts)?;
            c.lab()?.expect_reach(ns.id, &pkt, t).map_err(err)
        },
    );
    let blocked_doc = Doc {
        area: "verify",
        name: "expect_blocked",
        sig: "ns.expect_blocked(ip) / ns.expect_blocked(ip, #{proto, port, timeout_ms, size, src})",
        doc: "Check that ns does not reach ip (a ping, or a connection with proto and port): when the probe gets through, an error at this line says what let it through, with the path drawn and a rule that would drop it as help. A probe lost while the kernel dropped packets of every namespace (a busy machine) proves nothing by itself: it passes when the path shows a drop (read as ns.trace does: isolated bridge ports, no route, …), else it is sent again as expect_reach says, and an error says nslab cannot tell when every try was lost that way.",
        example: "h1.expect_blocked(\"10.2.0.2\", #{proto: \"tcp\", port: 22});",
    };
    let c = ctx.clone();
    r.func(
        blocked_doc.clone(),
        move |ns: &mut Netns, dst: &str| -> Res<()> {
            let (pkt, t) = packet(dst, &Map::new(), &[])?;
            c.lab()?.expect_blocked(ns.id, &pkt, t).map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        blocked_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<()> {
            let (pkt, t) = packet(dst, &opts, &expect_opts)?;
            c.lab()?.expect_blocked(ns.id, &pkt, t).map_err(err)
        },
    );
    let probe_doc = Doc {
        area: "verify",
        name: "probe",
        sig: "ns.probe(ip) / ns.probe(ip, #{proto, port, timeout_ms, size, src}) -> #{ok, refused, unsure, why, help, trace}",
        doc: "Does a ping (or with proto \"tcp\"/\"udp\" and a port, a connection or an answer) from ns get through to ip? A result, not an error: ok, refused (the other end said no: nothing listens there), and when it failed, why and help as expect_reach finds them along the path and trace its hops; () when it got through. unsure: true when there is no answer either way: the probe was lost every time while the kernel dropped packets of every namespace (a full backlog or neighbour table, another lab's load), with nothing on the path to lose it; why then says so and help names the limit (see expect_reach for the retries).",
        example: "let r = h1.probe(\"10.2.0.2\", #{proto: \"tcp\", port: 80}); if !r.ok { print(r.why); }",
    };
    let c = ctx.clone();
    r.func(
        probe_doc.clone(),
        move |ns: &mut Netns, dst: &str| -> Res<Map> {
            let (pkt, t) = packet(dst, &Map::new(), &[])?;
            probe(&c, ns, &pkt, t)
        },
    );
    let c = ctx.clone();
    r.func(
        probe_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<Map> {
            let (pkt, t) = packet(dst, &opts, &expect_opts)?;
            probe(&c, ns, &pkt, t)
        },
    );
}

/// ns.probe(): the probe's outcome, explained when it failed.
fn probe(c: &Ctx, ns: &Netns, pkt: &Packet, t: Duration) -> Res<Map> {
    let mut lab = c.lab()?;
    let probed = lab.probe_reach(ns.id, pkt, t, false).map_err(err)?;
    let ok = probed == Probed::Reached;
    let refused = probed == Probed::Refused;
    let mut m = Map::new();
    m.insert("ok".into(), ok.into());
    m.insert("refused".into(), refused.into());
    m.insert(
        "unsure".into(),
        matches!(probed, Probed::Unsure { .. }).into(),
    );
    if ok {
        for k in ["why", "help", "trace"] {
            m.insert(k.into(), Dynamic::UNIT);
        }
        return Ok(m);
    }
    let (e, trace) = lab.failure(ns.id, pkt, &probed).map_err(err)?;
    let (why, help) = (e.message, e.help);
    m.insert("why".into(), why.into());
    m.insert("help".into(), help.into());
    m.insert("trace".into(), Dynamic::from_array(hops(&trace)));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_make_the_packet() {
        let mut m = Map::new();
        m.insert("port".into(), Dynamic::from_int(80));
        let (p, _) = packet("10.0.0.2", &m, &["proto", "port"]).unwrap();
        assert_eq!((p.proto, p.port), (Some(Proto::Tcp), Some(80)));
        m.insert("proto".into(), "udp".into());
        let (p, _) = packet("10.0.0.2", &m, &["proto", "port"]).unwrap();
        assert_eq!(p.proto, Some(Proto::Udp));
        let mut only_proto = Map::new();
        only_proto.insert("proto".into(), "tcp".into());
        let e = packet("10.0.0.2", &only_proto, &["proto", "port"]).unwrap_err();
        assert!(super::super::message_of(&e).contains("needs a port"));
        let e = packet("10.0.0.2", &m, &["proto"]).unwrap_err();
        assert!(super::super::message_of(&e).contains("unknown option 'port'"));
    }

    #[test]
    fn size_is_a_pings_data_and_only_a_pings() {
        let all = ["proto", "port", "size"];
        let mut m = Map::new();
        m.insert("size".into(), Dynamic::from_int(1400));
        let (p, _) = packet("10.0.0.2", &m, &all).unwrap();
        assert_eq!((p.size, p.ip_len()), (Some(1400), Some(1428)));
        let (p, _) = packet("fd00::2", &m, &all).unwrap();
        assert_eq!(p.ip_len(), Some(1448));
        m.insert("size".into(), Dynamic::from_int(70_000));
        let e = packet("10.0.0.2", &m, &all).unwrap_err();
        assert!(super::super::message_of(&e).contains("size = 70000 is out of range"));
        m.insert("size".into(), Dynamic::from_int(100));
        m.insert("port".into(), Dynamic::from_int(80));
        let e = packet("10.0.0.2", &m, &all).unwrap_err();
        assert!(super::super::message_of(&e).contains("size is for a ping"));
    }
}
