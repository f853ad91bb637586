//! Reading a bridge's and a link's tables: br.fdb(), br.ports(), br.vlans(),
//! link.stats(), link.qdisc(), as maps with the fields the tools print.

use std::rc::Rc;

use rhai::{Array, Dynamic, Map};

use super::{Ctx, Doc, Link, Registrar, Res, placed};
use crate::lab::{FdbView, LinkCounters, PortView, QdiscRow, VlanView};

fn int(n: u64) -> Dynamic {
    Dynamic::from_int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn opt<T: Into<Dynamic>>(v: Option<T>) -> Dynamic {
    v.map(Into::into).unwrap_or(Dynamic::UNIT)
}

/// A rate in bytes per second as tc prints it: bits, with the largest
/// SI unit that keeps it whole ("10Mbit", "1500Kbit", "800bit").
fn rate_text(bytes_ps: u64) -> String {
    const UNITS: [&str; 5] = ["", "K", "M", "G", "T"];
    let mut rate = bytes_ps.saturating_mul(8);
    let mut i = 0;
    while i < UNITS.len() - 1 {
        if rate < 1000 || (!rate.is_multiple_of(1000) && rate < 1_000_000) {
            break;
        }
        rate /= 1000;
        i += 1;
    }
    format!("{rate}{}bit", UNITS[i])
}

/// A size in bytes as tc prints it ("32Kb", "1Mb", "1514b").
fn size_text(bytes: u64) -> String {
    let b = bytes as f64;
    let mb = (b / (1024.0 * 1024.0)).round();
    let kb = (b / 1024.0).round();
    if bytes >= 1024 * 1024 && (mb * 1024.0 * 1024.0 - b).abs() < 1024.0 {
        format!("{mb}Mb")
    } else if bytes >= 1024 && (kb * 1024.0 - b).abs() < 16.0 {
        format!("{kb}Kb")
    } else {
        format!("{bytes}b")
    }
}

pub(super) fn fdb_map(f: FdbView) -> Dynamic {
    let mut m = Map::new();
    m.insert("mac".into(), f.mac.into());
    m.insert("port".into(), f.port.into());
    m.insert("vlan".into(), opt(f.vlan.map(i64::from)));
    m.insert("local".into(), f.local.into());
    m.insert("static".into(), f.is_static.into());
    m.insert("age_s".into(), opt(f.age_s));
    Dynamic::from_map(m)
}

pub(super) fn port_map(p: PortView) -> Dynamic {
    let mut m = Map::new();
    m.insert("name".into(), p.name.into());
    m.insert("state".into(), p.state.into());
    m.insert("cost".into(), int(u64::from(p.cost)));
    m.insert("priority".into(), int(u64::from(p.priority)));
    m.insert("isolated".into(), p.isolated.into());
    m.insert("hairpin".into(), p.hairpin.into());
    m.insert("learning".into(), p.learning.into());
    m.insert("flood".into(), p.flood.into());
    let vlans: Array = p
        .vlans
        .iter()
        .map(|v| {
            let mut x = Map::new();
            x.insert("vid".into(), int(u64::from(v.vid)));
            x.insert("pvid".into(), v.pvid.into());
            x.insert("untagged".into(), v.untagged.into());
            Dynamic::from_map(x)
        })
        .collect();
    m.insert("vlans".into(), vlans.into());
    Dynamic::from_map(m)
}

pub(super) fn vlan_map(v: VlanView) -> Dynamic {
    let mut m = Map::new();
    m.insert("port".into(), v.port.into());
    m.insert("vid".into(), int(u64::from(v.vid)));
    m.insert("pvid".into(), v.pvid.into());
    m.insert("untagged".into(), v.untagged.into());
    Dynamic::from_map(m)
}

pub(super) fn stats_map(s: LinkCounters) -> Map {
    let mut m = Map::new();
    for (k, v) in [
        ("rx_packets", s.rx_packets),
        ("rx_bytes", s.rx_bytes),
        ("rx_errors", s.rx_errors),
        ("rx_dropped", s.rx_dropped),
        ("tx_packets", s.tx_packets),
        ("tx_bytes", s.tx_bytes),
        ("tx_errors", s.tx_errors),
        ("tx_dropped", s.tx_dropped),
    ] {
        m.insert(k.into(), int(v));
    }
    m
}

pub(super) fn qdisc_map(q: QdiscRow) -> Dynamic {
    let mut m = Map::new();
    m.insert("kind".into(), q.kind.into());
    m.insert("rate".into(), opt(q.rate.map(rate_text)));
    m.insert("burst".into(), opt(q.burst.map(size_text)));
    m.insert(
        "delay_ms".into(),
        opt(q.delay_ns.map(|ns| ns as f64 / 1_000_000.0)),
    );
    m.insert("loss_pct".into(), opt(q.loss_pct));
    m.insert("sent_bytes".into(), int(q.sent_bytes));
    m.insert("sent_packets".into(), int(q.sent_packets));
    m.insert("dropped".into(), int(q.dropped));
    m.insert("overlimits".into(), int(q.overlimits));
    m.insert("backlog".into(), int(q.backlog));
    Dynamic::from_map(m)
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "fdb",
            sig: "br.fdb() -> [map]",
            doc: "The bridge's forwarding database (`bridge fdb show br BR`, without the ports' own `self` entries): #{mac, port, vlan, local, static, age_s}; port is the link the address was seen on (the bridge itself for its own), local its own addresses (`permanent`), static (read it as `e[\"static\"]`: `static` is a reserved word in rhai) the entries someone added, age_s the seconds since a learned entry was refreshed (() for local and static).",
            example: "for e in br.fdb() { if !e.local { print(`${e.mac} on ${e.port}, ${e.age_s} s`); } }",
        },
        move |br: &mut Link| -> Res<Array> {
            placed::rows(&c, br.ns.id, "fdb", vec![br.name.clone().into()])
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "ports",
            sig: "br.ports() -> [map]",
            doc: "The bridge's ports (`bridge -d link show`): #{name, state, cost, priority, isolated, hairpin, learning, flood, vlans}; state is the STP state (disabled, listening, learning, forwarding, blocking), vlans #{vid, pvid, untagged} ([] on a kernel without bridge VLAN filtering).",
            example: "for p in br.ports() { print(`${p.name}: ${p.state} cost ${p.cost}`); }",
        },
        move |br: &mut Link| -> Res<Array> {
            placed::rows(&c, br.ns.id, "ports", vec![br.name.clone().into()])
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "vlans",
            sig: "br.vlans() -> [map]",
            doc: "The VLANs of the bridge and its ports (`bridge vlan show`): #{port, vid, pvid, untagged}, the bridge's own (port is the bridge) first; [] on a bridge without VLAN filtering, and on a kernel without it (CONFIG_BRIDGE_VLAN_FILTERING), as the tool prints nothing there.",
            example: "for v in br.vlans() { print(`${v.port} vlan ${v.vid}${if v.pvid { \" pvid\" } else { \"\" }}`); }",
        },
        move |br: &mut Link| -> Res<Array> {
            placed::rows(&c, br.ns.id, "vlans", vec![br.name.clone().into()])
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "stats",
            sig: "link.stats() -> map",
            doc: "The link's counters (`ip -s link show dev LINK`): #{rx_packets, rx_bytes, rx_errors, rx_dropped, tx_packets, tx_bytes, tx_errors, tx_dropped}.",
            example: "let s = ends[0].stats();  print(`${s.tx_packets} packets out, ${s.rx_dropped} dropped in`);",
        },
        move |l: &mut Link| -> Res<Map> {
            placed::map(&c, l.ns.id, "stats", vec![l.name.clone().into()])
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "inspect",
            name: "qdisc",
            sig: "link.qdisc() -> [map]",
            doc: "The link's queueing disciplines with their statistics, root first (`tc -s qdisc show dev LINK`): #{kind, rate, burst, delay_ms, loss_pct, sent_bytes, sent_packets, dropped, overlimits, backlog}; rate and burst in tc's units (\"10Mbit\", \"32Kb\") for a token bucket, delay_ms and loss_pct for netem, () where they do not apply.",
            example: "ends[0].shape(#{rate: \"10mbit\"});  let q = ends[0].qdisc()[0];  print(`${q.kind} ${q.rate}: ${q.sent_packets} packets, ${q.dropped} dropped`);",
        },
        move |l: &mut Link| -> Res<Array> {
            placed::rows(&c, l.ns.id, "qdisc", vec![l.name.clone().into()])
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sizes_read_as_tc_prints_them() {
        assert_eq!(rate_text(1_250_000), "10Mbit");
        assert_eq!(rate_text(187_500), "1500Kbit");
        assert_eq!(rate_text(100), "800bit");
        assert_eq!(rate_text(125_000_000), "1Gbit");
        assert_eq!(size_text(32768), "32Kb");
        assert_eq!(size_text(1024 * 1024), "1Mb");
        assert_eq!(size_text(1514), "1514b");
    }
}
