//! a.throughput(b, #{secs, proto}): iperf3's question, answered by nslab's
//! own sockets.

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use rhai::{Dynamic, Map};

use super::addr::{parse_ip, str_opt};
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err};
use crate::lab::{Proto, Throughput, ThroughputOpts};

/// iperf3's port.
const PORT: u16 = 5201;

fn opts(m: &Map) -> Res<ThroughputOpts> {
    let mut o = ThroughputOpts {
        proto: Proto::Tcp,
        port: PORT,
        secs: Duration::from_secs(2),
        rate: None,
        ip: None,
    };
    for (k, v) in m {
        match k.as_str() {
            "proto" => {
                o.proto = match str_opt(v, "proto")?.as_str() {
                    "tcp" => Proto::Tcp,
                    "udp" => Proto::Udp,
                    other => {
                        return Err(bad(
                            format!("unknown protocol '{other}'"),
                            "use proto: \"tcp\" (the default) or proto: \"udp\"",
                        ));
                    }
                }
            }
            "port" => {
                let n = v.as_int().map_err(|t| {
                    bad(format!("port must be a number, not {t}"), "e.g. port: 5201")
                })?;
                o.port = super::socket::port_in_range(n, "port")?;
            }
            "secs" => {
                let s = if let Ok(n) = v.as_int() {
                    n as f64
                } else {
                    v.as_float().map_err(|t| {
                        bad(format!("secs must be a number, not {t}"), "e.g. secs: 2")
                    })?
                };
                if !(s > 0.0 && s <= 60.0) {
                    return Err(bad(
                        format!("secs = {s} is out of range"),
                        "measure for more than 0 and at most 60 seconds, e.g. secs: 2",
                    ));
                }
                o.secs = Duration::from_secs_f64(s);
            }
            "ip" => o.ip = Some(parse_ip(&str_opt(v, "ip")?, "receiver's address")?),
            "rate" => {
                let s = str_opt(v, "rate")?;
                let bits = super::shaping::parse_rate(&s)
                    .filter(|_| !s.trim().ends_with(|c: char| c.is_ascii_digit()))
                    .ok_or_else(|| {
                        bad(
                            format!("rate '{s}' is not a rate with a unit"),
                            "write it as tc does, e.g. rate: \"5mbit\"",
                        )
                    })?;
                o.rate = Some(bits);
            }
            other => {
                return Err(bad(
                    format!("unknown throughput option '{other}'"),
                    "the options are secs, proto, port, ip and rate (udp)",
                ));
            }
        }
    }
    if o.rate.is_some() && o.proto == Proto::Tcp {
        return Err(bad(
            "rate is for udp (tcp sends as fast as the path takes it)",
            "add proto: \"udp\", or leave rate out",
        ));
    }
    Ok(o)
}

/// The result as a map; `output` is the line the REPL shows.
fn result_map(from: &str, to: &str, t: &Throughput) -> Map {
    let m = &t.measured;
    let bits = m.bits_per_s().round() as u64;
    let span = m.span.as_secs_f64();
    let mut out = format!(
        "{} {from} -> {to} ({}:{}): {} received ({} bytes in {span:.2} s)",
        t.proto.name(),
        t.dst,
        t.port,
        super::shaping::bits_per_sec(bits),
        m.received
    );
    let mut map = Map::new();
    map.insert("bits_per_s".into(), Dynamic::from_int(bits as i64));
    map.insert("bytes".into(), Dynamic::from_int(m.received as i64));
    map.insert("secs".into(), Dynamic::from_float(span));
    map.insert("sent_bytes".into(), Dynamic::from_int(m.sent as i64));
    map.insert("proto".into(), t.proto.name().into());
    map.insert("dst".into(), t.dst.to_string().into());
    map.insert("port".into(), Dynamic::from_int(i64::from(t.port)));
    if t.proto == Proto::Udp {
        let lost = m.sent_packets.saturating_sub(m.received_packets);
        let pct = if m.sent_packets == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / m.sent_packets as f64
        };
        let _ = write!(
            out,
            ", {lost}/{} datagrams lost ({pct:.1}%)",
            m.sent_packets
        );
        map.insert("sent".into(), Dynamic::from_int(m.sent_packets as i64));
        map.insert(
            "received".into(),
            Dynamic::from_int(m.received_packets as i64),
        );
        map.insert("loss_pct".into(), Dynamic::from_float(pct));
    }
    map.insert("output".into(), out.into());
    map
}

/// The line the REPL shows for a throughput result.
pub fn summary(m: &Map) -> Option<String> {
    m.get("bits_per_s")?;
    m.get("output")?.clone().into_string().ok()
}

fn measure(c: &Ctx, a: &Netns, b: &Netns, o: &ThroughputOpts) -> Res<Map> {
    let t = c.lab()?.throughput(a.id, b.id, o).map_err(err)?;
    Ok(result_map(&a.name, &b.name, &t))
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let doc = Doc {
        area: "probes",
        name: "throughput",
        sig: "a.throughput(b) / a.throughput(b, #{secs, proto, port, ip, rate}) -> #{bits_per_s, bytes, secs, sent_bytes, proto, dst, port, output} (+ sent, received, loss_pct for udp)",
        doc: "Measure throughput from a to b, as `iperf3 -c` does against `iperf3 -s` but with nslab's own sockets (no iperf3 needed): a sender in a, a receiver in b, for secs seconds (2 by default). bits_per_s is the receiver's goodput; proto \"udp\" also gives datagrams sent and received and loss_pct, sending as fast as the kernel takes them or at rate (\"5mbit\"). ip picks b's address (default: its first one), port the receiver's (5201). An error at this line, with the reason found along the path, when nothing gets through.",
        example: "let r = h1.throughput(h2, #{secs: 1}); print(`${r.bits_per_s / 1000000} Mbit/s`);",
    };
    let c = ctx.clone();
    r.func(doc.clone(), move |a: &mut Netns, b: Netns| -> Res<Map> {
        measure(&c, a, &b, &opts(&Map::new())?)
    });
    let c = ctx.clone();
    r.func(doc, move |a: &mut Netns, b: Netns, m: Map| -> Res<Map> {
        measure(&c, a, &b, &opts(&m)?)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let mut m = Map::new();
        m.insert("secs".into(), Dynamic::from_float(0.5));
        m.insert("proto".into(), "udp".into());
        m.insert("rate".into(), "5mbit".into());
        let o = opts(&m).unwrap();
        assert_eq!(
            (o.proto, o.port, o.rate),
            (Proto::Udp, PORT, Some(5_000_000))
        );
        m.insert("proto".into(), "tcp".into());
        let e = opts(&m).unwrap_err();
        assert!(super::super::message_of(&e).contains("rate is for udp"));
        let mut m = Map::new();
        m.insert("secs".into(), Dynamic::from_int(0));
        assert!(super::super::message_of(&opts(&m).unwrap_err()).contains("out of range"));
        let mut m = Map::new();
        m.insert("speed".into(), Dynamic::from_int(1));
        assert!(
            super::super::message_of(&opts(&m).unwrap_err()).contains("unknown throughput option")
        );
    }
}
