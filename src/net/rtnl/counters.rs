//! Tables a lab engineer reads with the tools, read over rtnetlink: a
//! bridge's forwarding database (`bridge fdb show br BR`), its ports
//! (`bridge -d link show`), a link's counters (`ip -s link`) and its
//! queueing disciplines with their statistics (`tc -s qdisc show dev DEV`).

use netlink_packet_route::link::{
    AfSpecBridge, BridgeVlanInfoFlags, LinkAttribute, LinkExtentMask, LinkMessage,
    LinkProtoInfoBridge,
};
use netlink_packet_route::neighbour::{NeighbourAttribute, NeighbourMessage, NeighbourState};
use netlink_packet_route::stats::{StatsAttribute, StatsFilterMask, StatsMessage};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption, TcStats2};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::Nla;

use super::brport::state_name;
use super::{Rtnl, nl, wire};
use crate::net::Result;

/// One entry of a bridge's forwarding database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbRow {
    pub mac: [u8; 6],
    /// The link it is on: a port, or the bridge itself.
    pub index: u32,
    pub vlan: Option<u16>,
    /// The bridge's own address (NUD_PERMANENT: `permanent`).
    pub local: bool,
    /// Added by someone, never ages (NUD_NOARP: `static`).
    pub is_static: bool,
    /// Centiseconds since the entry was last refreshed (learned only).
    pub updated_cs: Option<u32>,
}

/// One VLAN of a bridge port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanRow {
    pub vid: u16,
    pub pvid: bool,
    pub untagged: bool,
}

/// A bridge port in full (`bridge -d link show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRow {
    pub index: u32,
    pub master: Option<u32>,
    pub state: &'static str,
    pub cost: u32,
    pub priority: u16,
    pub isolated: bool,
    pub hairpin: bool,
    pub learning: bool,
    pub flood: bool,
    pub vlans: Vec<VlanRow>,
}

/// A link's counters (`ip -s link`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// A qdisc with its statistics (`tc -s qdisc show dev DEV`).
#[derive(Debug, Clone, PartialEq)]
pub struct QdiscRow {
    pub kind: String,
    pub root: bool,
    /// A token bucket's rate, bytes per second.
    pub rate: Option<u64>,
    /// A token bucket's bucket, bytes.
    pub burst: Option<u64>,
    pub delay_ns: Option<u64>,
    pub loss_pct: Option<f64>,
    pub sent_bytes: u64,
    pub sent_packets: u64,
    pub dropped: u64,
    pub overlimits: u64,
    pub backlog: u64,
}

const IFLA_BRPORT_STATE: u16 = 1;
const IFLA_BRPORT_PRIORITY: u16 = 2;
const IFLA_BRPORT_COST: u16 = 3;
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_BRPORT_LEARNING: u16 = 8;
const IFLA_BRPORT_UNICAST_FLOOD: u16 = 9;
const IFLA_BRPORT_ISOLATED: u16 = 33;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_OPTIONS: u16 = 2;
const NLA_TYPE_MASK: u16 = 0x3fff;
/// Kernel time units of tbf's `buffer`: 64 ns.
const PSCHED_TICK_NS: u64 = 64;

fn ne_u32(v: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(at..at + 4)?.try_into().ok()?))
}

fn port_row(l: &LinkMessage) -> Option<PortRow> {
    let mut row = PortRow {
        index: l.header.index,
        master: None,
        // A port whose state is not reported forwards.
        state: state_name(3),
        cost: 0,
        priority: 0,
        isolated: false,
        hairpin: false,
        learning: true,
        flood: true,
        vlans: Vec::new(),
    };
    let mut port = false;
    for a in &l.attributes {
        match a {
            LinkAttribute::Controller(m) => row.master = Some(*m),
            LinkAttribute::ProtoInfoBridge(info) => {
                port = true;
                for p in info {
                    let LinkProtoInfoBridge::Other(nla) = p else {
                        continue;
                    };
                    let mut v = vec![0u8; nla.value_len()];
                    nla.emit_value(&mut v);
                    let on = v.first().is_some_and(|b| *b != 0);
                    match nla.kind() {
                        IFLA_BRPORT_STATE => {
                            row.state = state_name(v.first().copied().unwrap_or(3))
                        }
                        IFLA_BRPORT_PRIORITY if v.len() >= 2 => {
                            row.priority = u16::from_ne_bytes([v[0], v[1]])
                        }
                        IFLA_BRPORT_COST => row.cost = ne_u32(&v, 0).unwrap_or(0),
                        IFLA_BRPORT_MODE => row.hairpin = on,
                        IFLA_BRPORT_LEARNING => row.learning = on,
                        IFLA_BRPORT_UNICAST_FLOOD => row.flood = on,
                        IFLA_BRPORT_ISOLATED => row.isolated = on,
                        _ => {}
                    }
                }
            }
            LinkAttribute::AfSpecBridge(spec) => {
                for s in spec {
                    if let AfSpecBridge::VlanInfo(v) = s {
                        row.vlans.push(VlanRow {
                            vid: v.vid,
                            pvid: v.flags.contains(BridgeVlanInfoFlags::Pvid),
                            untagged: v.flags.contains(BridgeVlanInfoFlags::Untagged),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    port.then_some(row)
}

/// The attributes of a qdisc's options as (type, value). The parser keeps
/// the options of a kind it does not know as one raw TCA_OPTIONS attribute,
/// whose value is the nested attributes.
fn raw_options(opts: &[TcOption]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    for o in opts {
        let TcOption::Other(nla) = o else { continue };
        let mut v = vec![0u8; nla.value_len()];
        nla.emit_value(&mut v);
        if nla.kind() != TCA_OPTIONS {
            out.push((nla.kind(), v));
            continue;
        }
        let mut at = 0;
        while at + 4 <= v.len() {
            let len = usize::from(u16::from_ne_bytes([v[at], v[at + 1]]));
            let kind = u16::from_ne_bytes([v[at + 2], v[at + 3]]) & NLA_TYPE_MASK;
            if len < 4 || at + len > v.len() {
                break;
            }
            out.push((kind, v[at + 4..at + len].to_vec()));
            at += (len + 3) & !3;
        }
    }
    out
}

/// tbf's rate and bucket from TCA_TBF_PARMS (struct tc_tbf_qopt) and
/// TCA_TBF_RATE64; the bucket is kept as a time at the rate, as tc reads it.
fn tbf_of(opts: &[TcOption]) -> (Option<u64>, Option<u64>) {
    let mut rate = None;
    let mut buffer_ticks = None;
    for (kind, v) in raw_options(opts) {
        match kind {
            TCA_TBF_PARMS => {
                // tc_ratespec (12 bytes, rate last), peakrate, limit, buffer.
                rate = rate.or(ne_u32(&v, 8).map(u64::from));
                buffer_ticks = ne_u32(&v, 28);
            }
            TCA_TBF_RATE64 if v.len() >= 8 => {
                rate = v[..8].try_into().ok().map(u64::from_ne_bytes);
            }
            _ => {}
        }
    }
    let burst = match (rate, buffer_ticks) {
        (Some(r), Some(t)) => {
            let ns = u128::from(t) * u128::from(PSCHED_TICK_NS);
            Some(u64::try_from(u128::from(r) * ns / 1_000_000_000).unwrap_or(u64::MAX))
        }
        _ => None,
    };
    (rate, burst)
}

/// netem's delay and loss from its options (struct tc_netem_qopt, then
/// attributes), when the answer carries them raw.
fn netem_of(raw: &[u8]) -> (Option<u64>, Option<f64>) {
    let ticks = ne_u32(raw, 0).map(|t| u64::from(t) * PSCHED_TICK_NS);
    let loss = ne_u32(raw, 8).map(|l| f64::from(l) / f64::from(u32::MAX) * 100.0);
    (ticks, loss)
}

fn qdisc_row(q: &TcMessage) -> Option<QdiscRow> {
    let mut row = QdiscRow {
        kind: String::new(),
        root: q.header.parent == TcHandle::ROOT,
        rate: None,
        burst: None,
        delay_ns: None,
        loss_pct: None,
        sent_bytes: 0,
        sent_packets: 0,
        dropped: 0,
        overlimits: 0,
        backlog: 0,
    };
    let mut opts: Option<&Vec<TcOption>> = None;
    let mut raw_opts: Option<Vec<u8>> = None;
    let mut have_stats2 = false;
    for a in &q.attributes {
        match a {
            TcAttribute::Kind(k) => row.kind = k.clone(),
            TcAttribute::Options(o) => {
                opts = Some(o);
                // netem's options are its struct, not attributes.
                if let [TcOption::Other(nla)] = o.as_slice()
                    && nla.kind() == TCA_OPTIONS
                {
                    let mut v = vec![0u8; nla.value_len()];
                    nla.emit_value(&mut v);
                    raw_opts = Some(v);
                }
            }
            TcAttribute::Other(nla) if nla.kind() == TCA_OPTIONS => {
                let mut v = vec![0u8; nla.value_len()];
                nla.emit_value(&mut v);
                raw_opts = Some(v);
            }
            TcAttribute::Stats2(s) => {
                have_stats2 = true;
                for x in s {
                    match x {
                        TcStats2::Basic(b) => {
                            row.sent_bytes = b.bytes;
                            row.sent_packets = u64::from(b.packets);
                        }
                        TcStats2::Queue(qs) => {
                            row.dropped = u64::from(qs.drops);
                            row.overlimits = u64::from(qs.overlimits);
                            row.backlog = u64::from(qs.backlog);
                        }
                        _ => {}
                    }
                }
            }
            TcAttribute::Stats(s) if !have_stats2 => {
                row.sent_bytes = s.bytes;
                row.sent_packets = u64::from(s.packets);
                row.dropped = u64::from(s.drops);
                row.overlimits = u64::from(s.overlimits);
                row.backlog = u64::from(s.backlog);
            }
            _ => {}
        }
    }
    if row.kind.is_empty() {
        return None;
    }
    match row.kind.as_str() {
        "tbf" => {
            if let Some(o) = opts {
                (row.rate, row.burst) = tbf_of(o);
            }
        }
        "netem" => {
            if let Some(v) = raw_opts {
                (row.delay_ns, row.loss_pct) = netem_of(&v);
            }
        }
        _ => {}
    }
    Some(row)
}

impl Rtnl {
    /// The forwarding database of bridge `br` (`bridge fdb show br BR`):
    /// the entries the bridge holds, not the ports' own address lists
    /// (`self` entries).
    pub async fn fdb(&self, br: u32) -> Result<Vec<FdbRow>> {
        let mut ask = NeighbourMessage::default();
        ask.header.family = AddressFamily::Bridge;
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetNeighbour(ask))
            .await
            .map_err(nl("list the forwarding database"))?;
        let mut out = Vec::new();
        for m in got {
            let RouteNetlinkMessage::NewNeighbour(m) = m else {
                continue;
            };
            let mut master = None;
            let mut mac = None;
            let mut vlan = None;
            let mut updated = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Controller(i) => master = Some(*i),
                    NeighbourAttribute::LinkLayerAddress(l) => {
                        mac = <[u8; 6]>::try_from(l.as_slice()).ok()
                    }
                    NeighbourAttribute::Vlan(v) => vlan = Some(*v),
                    NeighbourAttribute::CacheInfo(c) => updated = Some(c.updated),
                    _ => {}
                }
            }
            let (Some(mac), Some(br_of)) = (mac, master) else {
                continue;
            };
            if br_of != br {
                continue;
            }
            let local = m.header.state == NeighbourState::Permanent;
            let is_static = m.header.state == NeighbourState::Noarp;
            out.push(FdbRow {
                mac,
                index: m.header.ifindex,
                vlan,
                local,
                is_static,
                updated_cs: updated.filter(|_| !local && !is_static),
            });
        }
        Ok(out)
    }

    /// The AF_BRIDGE link dump with every port's VLANs (RTEXT_FILTER_BRVLAN),
    /// which both the port and the VLAN reads parse.
    async fn bridge_dump(&self, op: &'static str) -> Result<Vec<RouteNetlinkMessage>> {
        let mut ask = LinkMessage::default();
        ask.header.interface_family = AddressFamily::Bridge;
        ask.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan]));
        wire::dump(&self.conn, RouteNetlinkMessage::GetLink(ask))
            .await
            .map_err(nl(op))
    }

    /// Every bridge port in the namespace in full, with its VLANs
    /// (`bridge -d link show`, asked with RTEXT_FILTER_BRVLAN).
    pub async fn bridge_ports(&self) -> Result<Vec<PortRow>> {
        let got = self.bridge_dump("list bridge ports").await?;
        Ok(got
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => port_row(l),
                _ => None,
            })
            .collect())
    }

    /// The VLANs of bridge `br` and of its ports (`bridge vlan show`), as
    /// (ifindex, VLAN), the bridge's own first. Empty on a bridge without
    /// VLAN filtering, as the tool prints it.
    pub async fn bridge_vlans(&self, br: u32) -> Result<Vec<(u32, VlanRow)>> {
        let got = self.bridge_dump("list bridge vlans").await?;
        let mut own = Vec::new();
        let mut ports = Vec::new();
        for m in &got {
            let RouteNetlinkMessage::NewLink(l) = m else {
                continue;
            };
            let index = l.header.index;
            let of_br = l
                .attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::Controller(m) if *m == br));
            if index != br && !of_br {
                continue;
            }
            for a in &l.attributes {
                let LinkAttribute::AfSpecBridge(spec) = a else {
                    continue;
                };
                for s in spec {
                    if let AfSpecBridge::VlanInfo(v) = s {
                        let row = VlanRow {
                            vid: v.vid,
                            pvid: v.flags.contains(BridgeVlanInfoFlags::Pvid),
                            untagged: v.flags.contains(BridgeVlanInfoFlags::Untagged),
                        };
                        if index == br {
                            own.push((index, row));
                        } else {
                            ports.push((index, row));
                        }
                    }
                }
            }
        }
        own.extend(ports);
        Ok(own)
    }

    /// The counters of link `index` (RTM_GETSTATS, IFLA_STATS_LINK_64: the
    /// numbers `ip -s link` prints).
    pub async fn link_counters(&self, index: u32) -> Result<LinkCounters> {
        let mut ask = StatsMessage::default();
        ask.header.ifindex = index;
        ask.header.filter_mask = StatsFilterMask::Link64;
        let got = wire::answers(&self.conn, RouteNetlinkMessage::GetStats(ask), 0)
            .await
            .map_err(nl("read link statistics"))?;
        for m in got {
            let RouteNetlinkMessage::NewStats(s) = m else {
                continue;
            };
            for a in &s.attributes {
                if let StatsAttribute::Link64(s) = a {
                    return Ok(LinkCounters {
                        rx_packets: s.rx_packets,
                        rx_bytes: s.rx_bytes,
                        rx_errors: s.rx_errors,
                        rx_dropped: s.rx_dropped,
                        tx_packets: s.tx_packets,
                        tx_bytes: s.tx_bytes,
                        tx_errors: s.tx_errors,
                        tx_dropped: s.tx_dropped,
                    });
                }
            }
        }
        Ok(LinkCounters::default())
    }

    /// The qdiscs of link `index` with their statistics, root first (`tc -s
    /// qdisc show dev DEV`).
    pub async fn qdiscs(&self, index: u32) -> Result<Vec<QdiscRow>> {
        let got = wire::dump(
            &self.conn,
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
        )
        .await
        .map_err(nl("list qdiscs"))?;
        let mut out: Vec<QdiscRow> = got
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewQueueDiscipline(q)
                    if i64::from(q.header.index) == i64::from(index) =>
                {
                    qdisc_row(q)
                }
                _ => None,
            })
            .collect();
        // Stable: the kernel's order otherwise.
        out.sort_by_key(|q| !q.root);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::DefaultNla;

    #[test]
    fn tbf_burst_is_the_buffer_time_at_the_rate() {
        let mut parms = vec![0u8; 36];
        parms[8..12].copy_from_slice(&1_250_000u32.to_ne_bytes());
        // 32768 bytes at 1.25 MB/s: 26.2144 ms = 409600 ticks of 64 ns.
        parms[28..32].copy_from_slice(&409_600u32.to_ne_bytes());
        let mut nested = Vec::new();
        nested.extend_from_slice(&40u16.to_ne_bytes());
        nested.extend_from_slice(&TCA_TBF_PARMS.to_ne_bytes());
        nested.extend_from_slice(&parms);
        let (rate, burst) = tbf_of(&[TcOption::Other(DefaultNla::new(TCA_OPTIONS, nested))]);
        assert_eq!(rate, Some(1_250_000));
        assert_eq!(burst, Some(32768));
    }
}
