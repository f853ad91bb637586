//! Packet capture: link.capture(), cap.stop(), cap.packets, cap.file,
//! cap.running — `tcpdump -i LINK -w FILE` that works in every mode.

use std::rc::Rc;

use rhai::{Array, Dynamic, ImmutableString, Map};

use super::shaping::int_in;
use super::{Ctx, Doc, Link, Registrar, Res, bad, err};
use crate::lab::{CaptureOpts as Opts, CapturedPacket, MAX_SNAPLEN};

/// A capture started by link.capture().
#[derive(Clone)]
pub struct Capture {
    idx: usize,
    /// The file, as the script named it.
    file: ImmutableString,
    link: ImmutableString,
}

impl std::fmt::Display for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Capture(\"{}\" on \"{}\")", self.file, self.link)
    }
}

fn opts(m: &Map) -> Res<Opts> {
    let mut o = Opts {
        snaplen: MAX_SNAPLEN,
        count: None,
    };
    for (k, v) in m {
        match k.as_str() {
            "count" => o.count = Some(int_in(v, k, 1, i64::MAX, "count: 10")? as u64),
            "snaplen" => o.snaplen = int_in(v, k, 1, i64::from(MAX_SNAPLEN), "snaplen: 96")? as u32,
            other => {
                return Err(bad(
                    format!("unknown capture option '{other}'"),
                    "the options are count (stop after that many packets) and snaplen (bytes kept of each packet)",
                ));
            }
        }
    }
    Ok(o)
}

fn start(c: &Ctx, l: &Link, file: &str, o: Opts) -> Res<Capture> {
    let idx = c.lab()?.capture(l.ns.id, &l.name, file, o).map_err(err)?;
    Ok(Capture {
        idx,
        file: file.into(),
        link: l.name.clone(),
    })
}

fn packets(c: &Ctx, cap: &Capture, max: usize) -> Res<Array> {
    let ps = c.lab_queued()?.capture_packets(cap.idx, max).map_err(err)?;
    Ok(ps.into_iter().map(packet_map).collect())
}

fn packet_map(p: CapturedPacket) -> Dynamic {
    let port = |p: Option<u16>| p.map_or(Dynamic::UNIT, |p| Dynamic::from_int(i64::from(p)));
    let mut m = Map::new();
    m.insert("time".into(), Dynamic::from_float(p.time));
    m.insert("src".into(), p.src.into());
    m.insert("dst".into(), p.dst.into());
    m.insert("proto".into(), p.proto.into());
    m.insert("sport".into(), port(p.sport));
    m.insert("dport".into(), port(p.dport));
    m.insert("len".into(), Dynamic::from_int(i64::from(p.len)));
    m.insert("info".into(), p.info.into());
    m.into()
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    r.engine.register_type_with_name::<Capture>("Capture");
    r.engine
        .register_fn("to_string", |c: &mut Capture| c.to_string());
    r.engine
        .register_fn("to_debug", |c: &mut Capture| c.to_string());
    let capture_doc = Doc {
        area: "links",
        name: "capture",
        sig: "link.capture(\"file.pcap\") -> Capture / link.capture(\"file.pcap\", #{count, snaplen}) -> Capture",
        doc: "Capture the link's packets, both directions, into a pcap file that Wireshark, `tcpdump -r` and `tshark -r` read (`tcpdump -i LINK -w FILE [-c COUNT] [-s SNAPLEN]`), natively, so also in isolated and rootless mode; a relative path is taken from the directory nslab was started in, and an existing file is overwritten only if it is an earlier capture or empty. Stops after count packets, at cap.stop(), when the link goes, or at teardown; the file stays.",
        example: "let cap = ends[0].capture(\"ping.pcap\"); ns1.ping(\"10.0.0.2\"); cap.stop(); print(cap.packets);",
    };
    let c = ctx.clone();
    r.func(
        capture_doc.clone(),
        move |l: &mut Link, file: &str| -> Res<Capture> { start(&c, l, file, opts(&Map::new())?) },
    );
    let c = ctx.clone();
    r.func(
        capture_doc,
        move |l: &mut Link, file: &str, m: Map| -> Res<Capture> { start(&c, l, file, opts(&m)?) },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "stop",
            sig: "cap.stop()",
            doc: "Stop a capture now: the packets seen until now are written and the file is closed, complete.",
            example: "cap.stop();",
        },
        move |cap: &mut Capture| -> Res<()> { c.lab_queued()?.capture_stop(cap.idx).map_err(err) },
    );
    let c = ctx.clone();
    r.getter(
        Doc {
            area: "links",
            name: "packets",
            sig: "cap.packets -> int",
            doc: "How many packets the capture has written so far.",
            example: "print(cap.packets);",
        },
        move |cap: &mut Capture| -> i64 {
            c.lab_queued()
                .ok()
                .and_then(|lab| lab.capture_view(cap.idx))
                .map(|v| i64::try_from(v.packets).unwrap_or(i64::MAX))
                .unwrap_or(0)
        },
    );
    let packets_doc = Doc {
        area: "links",
        name: "packets",
        sig: "cap.packets() -> [map] / cap.packets(#{max}) -> [map]",
        doc: "The packets the capture has written so far, decoded (`tcpdump -n -tt -r FILE`, in every mode): each #{time (seconds since the epoch), src, dst (IPv4/IPv6 addresses; MAC addresses for what is not IP), proto (arp, icmp, icmpv6, tcp, udp, ipv4, ipv6, ethertype 0x…), sport, dport (() without ports), len (the frame's bytes on the wire), info (e.g. \"echo request id 1 seq 1\", \"ARP who-has 10.0.0.2 tell 10.0.0.1\", \"TCP [SYN] seq 1 win 64240 length 0\")}; max: only the first that many. While the capture runs, the file holds what it saw up to the link's last idle moment; after cap.stop(), everything.",
        example: "cap.stop(); for p in cap.packets() { print(`${p.src} > ${p.dst} ${p.info}`); }",
    };
    let c = ctx.clone();
    r.func(
        packets_doc.clone(),
        move |cap: &mut Capture| -> Res<Array> { packets(&c, cap, usize::MAX) },
    );
    let c = ctx.clone();
    r.func(packets_doc, move |cap: &mut Capture, m: Map| -> Res<Array> {
        let mut max = usize::MAX;
        for (k, v) in &m {
            match k.as_str() {
                "max" => max = int_in(v, k, 0, i64::MAX, "max: 10")? as usize,
                other => {
                    return Err(bad(
                        format!("unknown option '{other}' for cap.packets()"),
                        "the option is max (only the first that many packets), e.g. cap.packets(#{max: 10})",
                    ));
                }
            }
        }
        packets(&c, cap, max)
    });
    let c = ctx.clone();
    r.getter(
        Doc {
            area: "links",
            name: "dropped",
            sig: "cap.dropped -> int",
            doc: "How many packets the kernel dropped because the capture fell behind (counted when it stops; 0 means the file has every packet the link saw).",
            example: "cap.stop(); if cap.dropped > 0 { print(`lost ${cap.dropped} packets`); }",
        },
        move |cap: &mut Capture| -> i64 {
            c.lab_queued()
                .ok()
                .and_then(|lab| lab.capture_view(cap.idx))
                .map(|v| i64::try_from(v.dropped).unwrap_or(i64::MAX))
                .unwrap_or(0)
        },
    );
    let c = ctx.clone();
    r.getter(
        Doc {
            area: "links",
            name: "file",
            sig: "cap.file -> string",
            doc: "The capture's file, as an absolute path (for Wireshark or tshark; cap.packets() reads it back in the script).",
            example: "cap.stop(); print(cap.file); for p in cap.packets(#{max: 5}) { print(p.info); }",
        },
        move |cap: &mut Capture| -> String {
            c.lab_queued()
                .ok()
                .and_then(|lab| lab.capture_file(cap.idx))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| cap.file.to_string())
        },
    );
    let c = ctx.clone();
    r.getter(
        Doc {
            area: "links",
            name: "running",
            sig: "cap.running -> bool",
            doc: "Is the capture still writing? It ends by itself after count packets, or when its link is deleted or moved.",
            example: "while cap.running { sleep(0.1); }",
        },
        move |cap: &mut Capture| -> bool {
            c.lab_queued()
                .ok()
                .and_then(|lab| lab.capture_view(cap.idx))
                .is_some_and(|v| v.running)
        },
    );
}
