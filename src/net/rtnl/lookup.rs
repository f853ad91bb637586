//! Questions the kernel answers about one packet, without sending it:
//! `ip route get` (RTM_GETROUTE with the packet's addresses and, for a
//! packet arriving from elsewhere, its input interface), the routing tables
//! with every route type (`ip route show table all`), and the neighbour
//! table (`ip neigh`). Used to explain why a packet does not arrive.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{NetError, Result, Rtnl, nl, wire};

/// One packet, as `ip route get DST [from SRC] [iif DEV] [oif DEV]
/// [ipproto P] [dport N]` describes it.
#[derive(Debug, Clone)]
pub struct RouteQuery {
    pub dst: IpAddr,
    pub src: Option<IpAddr>,
    /// The interface it arrives on (a forwarded packet); `None`: sent here.
    pub iif: Option<u32>,
    pub oif: Option<u32>,
    /// IP protocol number (1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6): policy rules
    /// can match it.
    pub proto: Option<u8>,
    pub dport: Option<u16>,
}

impl RouteQuery {
    pub fn to(dst: IpAddr) -> RouteQuery {
        RouteQuery {
            dst,
            src: None,
            iif: None,
            oif: None,
            proto: None,
            dport: None,
        }
    }
}

/// The kernel's answer: what it would do with the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAnswer {
    /// "unicast" (sent on), "local" (delivered here), "broadcast", …
    pub kind: String,
    /// The table the route came from (RTA_TABLE: `rtm_table` says 252 for
    /// tables above 255).
    pub table: u32,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    /// The source address the kernel picks for a packet sent from here.
    pub prefsrc: Option<IpAddr>,
    /// The path MTU the route carries (`ip route get` prints `mtu N`): set
    /// on the route, or learned from a "fragmentation needed" (`cached`).
    pub mtu: Option<u32>,
    /// The answer is a cached exception (`cache`: a learned path MTU or
    /// redirect), not a route of a table.
    pub cached: bool,
}

/// A route of any type from any table (`ip route show table all`).
#[derive(Debug, Clone)]
pub struct FibEntry {
    pub dst: IpNet,
    /// "unicast", "blackhole", "unreachable", "prohibit", "local", …
    pub kind: String,
    pub table: u32,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    /// Who made it: "kernel", "boot", "static", "ospf", "bgp", … (`proto`
    /// of `ip route`).
    pub protocol: String,
}

/// A neighbour entry (`ip neigh show`).
#[derive(Debug, Clone)]
pub struct NeighEntry {
    pub ifindex: u32,
    pub dst: IpAddr,
    /// "reachable", "stale", "incomplete", "failed", "permanent", …
    pub state: String,
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

fn full_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

pub fn type_name(t: RouteType) -> String {
    match t {
        RouteType::Unicast => "unicast".into(),
        RouteType::Local => "local".into(),
        RouteType::Broadcast => "broadcast".into(),
        RouteType::Anycast => "anycast".into(),
        RouteType::Multicast => "multicast".into(),
        RouteType::BlackHole => "blackhole".into(),
        RouteType::Unreachable => "unreachable".into(),
        RouteType::Prohibit => "prohibit".into(),
        RouteType::Throw => "throw".into(),
        RouteType::Nat => "nat".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn addr_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

pub(super) fn state_name(s: NeighbourState) -> String {
    match s {
        NeighbourState::Incomplete => "incomplete".into(),
        NeighbourState::Reachable => "reachable".into(),
        NeighbourState::Stale => "stale".into(),
        NeighbourState::Delay => "delay".into(),
        NeighbourState::Probe => "probe".into(),
        NeighbourState::Failed => "failed".into(),
        NeighbourState::Noarp => "noarp".into(),
        NeighbourState::Permanent => "permanent".into(),
        NeighbourState::None => "none".into(),
        NeighbourState::Other(n) => format!("state {n:#x}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

impl Rtnl {
    /// `ip route get DST from SRC iif DEV …`: one lookup (no NLM_F_DUMP),
    /// always with RTM_F_LOOKUP_TABLE (else the answer names table main
    /// even when a rule picked another). With an input interface the kernel
    /// runs the real input path against the current rules and sysctls
    /// (forwarding, rp_filter), and moves no counters. The kernel's refusal
    /// comes back as an error whose errno says which kind (see
    /// `raw_errno`): ENETUNREACH no route, EHOSTUNREACH forwarding off or an
    /// unreachable route, EACCES prohibit, EINVAL blackhole, rp_filter or
    /// a martian source.
    pub async fn route_get(&self, q: &RouteQuery) -> Result<RouteAnswer> {
        self.route_get_marked(q, None).await.map(|(a, _)| a)
    }

    /// `route_get` for a packet with firewall mark `mark` (`ip route get …
    /// mark M`), with the clock ticks (USER_HZ) until the answer's learned
    /// state expires, when it has any (`expires Nsec`).
    pub async fn route_get_marked(
        &self,
        q: &RouteQuery,
        mark: Option<u32>,
    ) -> Result<(RouteAnswer, Option<i64>)> {
        let v6 = q.dst.is_ipv6();
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(v6);
        msg.header.destination_prefix_length = full_len(q.dst);
        msg.header.flags = RouteFlags::LookupTable;
        msg.attributes
            .push(RouteAttribute::Destination(q.dst.into()));
        if let Some(src) = q.src {
            msg.header.source_prefix_length = full_len(src);
            msg.attributes.push(RouteAttribute::Source(src.into()));
        }
        if let Some(i) = q.iif {
            msg.attributes.push(RouteAttribute::Iif(i));
        }
        if let Some(o) = q.oif {
            msg.attributes.push(RouteAttribute::Oif(o));
        }
        if let Some(p) = q.proto {
            msg.attributes.push(RouteAttribute::IpProto(p));
        }
        if let Some(p) = q.dport {
            msg.attributes.push(RouteAttribute::Dport(p));
        }
        if let Some(m) = mark {
            msg.attributes.push(RouteAttribute::Mark(m));
        }
        let got = wire::answers(&self.conn, RouteNetlinkMessage::GetRoute(msg), 0)
            .await
            .map_err(nl("look up a route"))?;
        let Some(RouteNetlinkMessage::NewRoute(m)) = got.into_iter().next() else {
            return Err(NetError::Other(
                "the kernel answered a route lookup with nothing".into(),
            ));
        };
        let mut a = RouteAnswer {
            kind: type_name(m.header.kind),
            table: u32::from(m.header.table),
            oif: None,
            gateway: None,
            prefsrc: None,
            mtu: None,
            cached: m
                .header
                .flags
                .contains(netlink_packet_route::route::RouteFlags::Cloned),
        };
        let mut expires = None;
        for attr in &m.attributes {
            match attr {
                RouteAttribute::Table(t) => a.table = *t,
                RouteAttribute::Oif(o) => a.oif = Some(*o),
                RouteAttribute::Gateway(g) => a.gateway = addr_of(g),
                RouteAttribute::Via(netlink_packet_route::route::RouteVia::Inet(ip)) => {
                    a.gateway = Some(IpAddr::V4(*ip))
                }
                RouteAttribute::Via(netlink_packet_route::route::RouteVia::Inet6(ip)) => {
                    a.gateway = Some(IpAddr::V6(*ip))
                }
                RouteAttribute::PrefSource(s) => a.prefsrc = addr_of(s),
                // The kernel writes a signed clock_t; 0 is "never".
                RouteAttribute::CacheInfo(ci) if ci.expires != 0 => {
                    expires = Some(i64::from(ci.expires as i32))
                }
                RouteAttribute::Metrics(ms) => {
                    for x in ms {
                        if let netlink_packet_route::route::RouteMetric::Mtu(n) = x {
                            a.mtu = Some(*n);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok((a, expires))
    }

    /// `ip -6 route flush cache`: deletes each IPv6 route exception (a
    /// learned path MTU or redirect), as iproute2 does: IPv6 has no flush
    /// switch that drops them. Without strict checking, the kernel's route
    /// dump carries the exceptions, marked RTM_F_CLONED; a delete with that
    /// flag removes the exception, not the route. How many went.
    pub async fn flush_v6_cache(&self) -> Result<usize> {
        let mut filter = RouteMessage::default();
        filter.header.address_family = AddressFamily::Inet6;
        filter.header.flags = RouteFlags::Cloned;
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetRoute(filter))
            .await
            .map_err(nl("list the route cache"))?;
        let mut n = 0;
        for m in got {
            let RouteNetlinkMessage::NewRoute(m) = m else {
                continue;
            };
            if !m.header.flags.contains(RouteFlags::Cloned) {
                continue;
            }
            let mut del = RouteMessage::default();
            del.header = m.header.clone();
            del.header.flags = RouteFlags::Cloned;
            del.attributes = m
                .attributes
                .iter()
                .filter(|a| {
                    matches!(
                        a,
                        RouteAttribute::Destination(_)
                            | RouteAttribute::Source(_)
                            | RouteAttribute::Table(_)
                            | RouteAttribute::Oif(_)
                            | RouteAttribute::Gateway(_)
                    )
                })
                .cloned()
                .collect();
            match wire::ack(&self.conn, RouteNetlinkMessage::DelRoute(del), 0)
                .await
                .map_err(nl("delete a cached route"))
            {
                Ok(()) => n += 1,
                // Expired meanwhile: what the flush wanted.
                Err(e) if matches!(e.raw_errno(), Some(libc::ESRCH | libc::ENOENT)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// `ip route show table all` for one family, every type, the local
    /// table included (to name the route behind a refusal).
    pub async fn fib(&self, v6: bool) -> Result<Vec<FibEntry>> {
        let mut filter = RouteMessage::default();
        filter.header.address_family = family(v6);
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetRoute(filter))
            .await
            .map_err(nl("list routes"))?;
        let mut rows = Vec::new();
        for m in got {
            let RouteNetlinkMessage::NewRoute(m) = m else {
                continue;
            };
            let mut e = FibEntry {
                dst: if v6 {
                    IpNet::V6(Default::default())
                } else {
                    IpNet::V4(Default::default())
                },
                kind: type_name(m.header.kind),
                table: u32::from(m.header.table),
                oif: None,
                gateway: None,
                protocol: super::route::protocol_name(m.header.protocol),
            };
            let mut dst = None;
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(d) => dst = addr_of(d),
                    RouteAttribute::Table(t) => e.table = *t,
                    RouteAttribute::Oif(o) => e.oif = Some(*o),
                    RouteAttribute::Gateway(g) => e.gateway = addr_of(g),
                    _ => {}
                }
            }
            if let Some(d) = dst
                && let Ok(net) = IpNet::new(d, m.header.destination_prefix_length)
            {
                e.dst = net;
            }
            rows.push(e);
        }
        Ok(rows)
    }

    /// `ip neigh show` for one family.
    pub async fn neighbours(&self, v6: bool) -> Result<Vec<NeighEntry>> {
        let mut filter = NeighbourMessage::default();
        filter.header.family = family(v6);
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetNeighbour(filter))
            .await
            .map_err(nl("list neighbours"))?;
        Ok(got
            .into_iter()
            .filter_map(|m| {
                let RouteNetlinkMessage::NewNeighbour(m) = m else {
                    return None;
                };
                let dst = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                        Some(IpAddr::V4(*ip))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                        Some(IpAddr::V6(*ip))
                    }
                    _ => None,
                })?;
                Some(NeighEntry {
                    ifindex: m.header.ifindex,
                    dst,
                    state: state_name(m.header.state),
                })
            })
            .collect())
    }
}
