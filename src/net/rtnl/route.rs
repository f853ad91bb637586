//! Routes over rtnetlink (`ip route add/del/show`): every table, every
//! type (unicast, blackhole, unreachable, prohibit, …), multipath routes
//! (RTA_MULTIPATH) and the preferred source (RTA_PREFSRC).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric, RouteNextHop,
    RouteNextHopFlags, RoutePreference, RouteProtocol, RouteScope, RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Serialize};

use super::{Rtnl, nl, wire};
use crate::net::{NetError, Result};

/// The main table (`ip route` without `table`).
pub const MAIN_TABLE: u32 = 254;
/// The kernel's own table of local and broadcast addresses.
pub const LOCAL_TABLE: u32 = 255;
/// rtm_table for a table id that does not fit in its 8 bits (the id itself
/// goes in RTA_TABLE).
const RT_TABLE_COMPAT: u8 = 252;

/// A route's type (rtm_type), named as `ip route` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Local,
    Broadcast,
    Anycast,
    Multicast,
}

impl RouteKind {
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Throw => "throw",
            RouteKind::Local => "local",
            RouteKind::Broadcast => "broadcast",
            RouteKind::Anycast => "anycast",
            RouteKind::Multicast => "multicast",
        }
    }

    fn to_kernel(self) -> RouteType {
        match self {
            RouteKind::Unicast => RouteType::Unicast,
            RouteKind::Blackhole => RouteType::BlackHole,
            RouteKind::Unreachable => RouteType::Unreachable,
            RouteKind::Prohibit => RouteType::Prohibit,
            RouteKind::Throw => RouteType::Throw,
            RouteKind::Local => RouteType::Local,
            RouteKind::Broadcast => RouteType::Broadcast,
            RouteKind::Anycast => RouteType::Anycast,
            RouteKind::Multicast => RouteType::Multicast,
        }
    }

    fn from_kernel(t: RouteType) -> Option<RouteKind> {
        Some(match t {
            RouteType::Unicast => RouteKind::Unicast,
            RouteType::BlackHole => RouteKind::Blackhole,
            RouteType::Unreachable => RouteKind::Unreachable,
            RouteType::Prohibit => RouteKind::Prohibit,
            RouteType::Throw => RouteKind::Throw,
            RouteType::Local => RouteKind::Local,
            RouteType::Broadcast => RouteKind::Broadcast,
            RouteType::Anycast => RouteKind::Anycast,
            RouteType::Multicast => RouteKind::Multicast,
            _ => return None,
        })
    }

    /// A route that sends nothing on: it needs no gateway or device.
    pub fn is_reject(self) -> bool {
        matches!(
            self,
            RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit | RouteKind::Throw
        )
    }
}

/// One next hop of a multipath route (`nexthop via GW dev DEV weight W`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    /// As `ip route` counts it: 1..=256 (the kernel stores weight - 1).
    pub weight: u16,
    pub onlink: bool,
}

/// A route to add or delete. For an add, `None` fields take the kernel's
/// (or `ip route add`'s) defaults; for a delete, they match any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpNet,
    pub table: u32,
    pub kind: RouteKind,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    pub nexthops: Vec<Hop>,
    /// rtm_protocol: `None` is "static" for an add, any for a delete.
    pub protocol: Option<u8>,
    /// rtm_scope: `None` is universe for an add, any for a delete.
    pub scope: Option<u8>,
    pub onlink: bool,
    /// RTA_METRICS as (RTAX_* number, value), for routes put back as they were.
    pub metrics: Vec<(u16, u32)>,
    /// RTA_PREF (IPv6 router preference).
    pub pref: Option<u8>,
}

impl RouteSpec {
    /// A plain route to `dst` in the main table, nothing else set.
    pub fn to(dst: IpNet) -> RouteSpec {
        RouteSpec {
            dst,
            table: MAIN_TABLE,
            kind: RouteKind::Unicast,
            via: None,
            oif: None,
            metric: None,
            src: None,
            nexthops: Vec::new(),
            protocol: None,
            scope: None,
            onlink: false,
            metrics: Vec::new(),
            pref: None,
        }
    }
}

/// One next hop of a route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopRow {
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    /// 1..=256, as `ip route` shows it.
    pub weight: u16,
    /// RTNH_F_* flags as `ip route` names them ("dead", "linkdown", "onlink").
    pub flags: Vec<&'static str>,
}

/// A route as `ip route show table all` reports it, with what it takes to
/// add it again exactly as it was.
#[derive(Debug, Clone)]
pub struct RouteRow {
    pub dst: IpNet,
    pub table: u32,
    pub kind: RouteKind,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    /// The kernel's metric (RTA_PRIORITY): IPv4 leaves it out when 0.
    pub metric: u32,
    pub src: Option<IpAddr>,
    /// The next hops of a multipath route (empty for a single path).
    pub nexthops: Vec<HopRow>,
    pub protocol: String,
    pub protocol_id: u8,
    pub scope: u8,
    /// Flags of a single-path route ("dead", "linkdown", "onlink").
    pub flags: Vec<&'static str>,
    pub metrics: Vec<(u16, u32)>,
    pub pref: Option<u8>,
    /// What this route has that nslab cannot add back as it was (an
    /// encapsulation, an expiry, …); empty when it can.
    pub unrestorable: Vec<&'static str>,
}

fn family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn gateway_attr(route_v4: bool, gw: IpAddr) -> RouteAttribute {
    match (route_v4, gw) {
        // An IPv4 route through an IPv6 neighbour (RFC 5549).
        (true, IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        (_, gw) => RouteAttribute::Gateway(gw.into()),
    }
}

/// RTAX_* numbers of the u32 metrics nslab reads and writes back.
fn metric_pair(m: &RouteMetric) -> Option<(u16, u32)> {
    Some(match m {
        RouteMetric::Lock(v) => (1, *v),
        RouteMetric::Mtu(v) => (2, *v),
        RouteMetric::Window(v) => (3, *v),
        RouteMetric::Rtt(v) => (4, *v),
        RouteMetric::RttVar(v) => (5, *v),
        RouteMetric::SsThresh(v) => (6, *v),
        RouteMetric::Cwnd(v) => (7, *v),
        RouteMetric::Advmss(v) => (8, *v),
        RouteMetric::Reordering(v) => (9, *v),
        RouteMetric::Hoplimit(v) => (10, *v),
        RouteMetric::InitCwnd(v) => (11, *v),
        RouteMetric::Features(v) => (12, *v),
        RouteMetric::RtoMin(v) => (13, *v),
        RouteMetric::InitRwnd(v) => (14, *v),
        RouteMetric::QuickAck(v) => (15, *v),
        RouteMetric::FastopenNoCookie(v) => (17, *v),
        _ => return None,
    })
}

/// The RTAX_* numbers `metric_pair` knows (a journal may carry only these).
pub fn known_metric(kind: u16) -> bool {
    (1..=17).contains(&kind) && kind != 16
}

fn metric_of(kind: u16, v: u32) -> Option<RouteMetric> {
    Some(match kind {
        1 => RouteMetric::Lock(v),
        2 => RouteMetric::Mtu(v),
        3 => RouteMetric::Window(v),
        4 => RouteMetric::Rtt(v),
        5 => RouteMetric::RttVar(v),
        6 => RouteMetric::SsThresh(v),
        7 => RouteMetric::Cwnd(v),
        8 => RouteMetric::Advmss(v),
        9 => RouteMetric::Reordering(v),
        10 => RouteMetric::Hoplimit(v),
        11 => RouteMetric::InitCwnd(v),
        12 => RouteMetric::Features(v),
        13 => RouteMetric::RtoMin(v),
        14 => RouteMetric::InitRwnd(v),
        15 => RouteMetric::QuickAck(v),
        17 => RouteMetric::FastopenNoCookie(v),
        _ => return None,
    })
}

fn header(spec: &RouteSpec) -> RouteHeader {
    let mut h = RouteHeader {
        address_family: family(spec.dst.addr()),
        destination_prefix_length: spec.dst.prefix_len(),
        ..Default::default()
    };
    h.table = u8::try_from(spec.table).unwrap_or(RT_TABLE_COMPAT);
    h
}

/// RTM_NEWROUTE for `spec` (as `ip route add` builds it).
fn add_msg(spec: &RouteSpec) -> RouteMessage {
    let v4 = spec.dst.addr().is_ipv4();
    let mut msg = RouteMessage::default();
    msg.header = header(spec);
    msg.header.protocol = spec
        .protocol
        .map_or(RouteProtocol::Static, RouteProtocol::from);
    msg.header.scope = spec.scope.map_or(RouteScope::Universe, RouteScope::from);
    msg.header.kind = spec.kind.to_kernel();
    if spec.onlink {
        msg.header.flags.insert(RouteFlags::Onlink);
    }
    common_attrs(&mut msg, spec, v4);
    if let Some(src) = spec.src {
        msg.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    let metrics: Vec<RouteMetric> = spec
        .metrics
        .iter()
        .filter_map(|(k, v)| metric_of(*k, *v))
        .collect();
    if !metrics.is_empty() {
        msg.attributes.push(RouteAttribute::Metrics(metrics));
    }
    if let Some(p) = spec.pref {
        msg.attributes
            .push(RouteAttribute::Preference(RoutePreference::from(p)));
    }
    msg
}

/// RTM_DELROUTE for `spec`: what is not given matches anything (as `ip
/// route del` does it: scope "nowhere", type and protocol unspecified).
fn del_msg(spec: &RouteSpec) -> RouteMessage {
    let v4 = spec.dst.addr().is_ipv4();
    let mut msg = RouteMessage::default();
    msg.header = header(spec);
    msg.header.scope = spec.scope.map_or(RouteScope::NoWhere, RouteScope::from);
    msg.header.protocol = spec
        .protocol
        .map_or(RouteProtocol::Unspec, RouteProtocol::from);
    msg.header.kind = if spec.kind == RouteKind::Unicast {
        RouteType::Unspec
    } else {
        spec.kind.to_kernel()
    };
    common_attrs(&mut msg, spec, v4);
    msg
}

fn common_attrs(msg: &mut RouteMessage, spec: &RouteSpec, v4: bool) {
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            spec.dst.addr(),
        )));
    msg.attributes.push(RouteAttribute::Table(spec.table));
    if let Some(gw) = spec.via {
        msg.attributes.push(gateway_attr(v4, gw));
    }
    if let Some(oif) = spec.oif {
        msg.attributes.push(RouteAttribute::Oif(oif));
    }
    if let Some(m) = spec.metric {
        msg.attributes.push(RouteAttribute::Priority(m));
    }
    if !spec.nexthops.is_empty() {
        let hops = spec
            .nexthops
            .iter()
            .map(|h| {
                let mut nh = RouteNextHop::default();
                nh.interface_index = h.oif.unwrap_or(0);
                nh.hops = u8::try_from(h.weight.saturating_sub(1)).unwrap_or(u8::MAX);
                if h.onlink {
                    nh.flags.insert(RouteNextHopFlags::Onlink);
                }
                if let Some(gw) = h.via {
                    nh.attributes.push(gateway_attr(v4, gw));
                }
                nh
            })
            .collect();
        msg.attributes.push(RouteAttribute::MultiPath(hops));
    }
}

fn address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

fn via_of(a: &RouteAttribute) -> Option<IpAddr> {
    match a {
        RouteAttribute::Gateway(g) => address(g),
        RouteAttribute::Via(RouteVia::Inet(ip)) => Some(IpAddr::V4(*ip)),
        RouteAttribute::Via(RouteVia::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

fn nh_flags(bits: u32) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (bit, name) in [(1, "dead"), (4, "onlink"), (16, "linkdown")] {
        if bits & bit != 0 {
            out.push(name);
        }
    }
    out
}

/// One route from the kernel, or `None` for what `ns.routes()` leaves out
/// (the local table, IPv6 multicast, cached clones).
fn row(m: &RouteMessage, v6: bool) -> Result<Option<RouteRow>> {
    let mut table = u32::from(m.header.table);
    let mut dst = None;
    let mut via = None;
    let mut oif = None;
    let mut metric = 0;
    let mut src = None;
    let mut nexthops = Vec::new();
    let mut metrics = Vec::new();
    let mut pref = None;
    let mut unrestorable = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = address(d),
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) => via = via_of(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::PrefSource(s) => src = address(s),
            RouteAttribute::Preference(p) => pref = Some(u8::from(*p)),
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    nexthops.push(HopRow {
                        via: h.attributes.iter().find_map(via_of),
                        oif: (h.interface_index != 0).then_some(h.interface_index),
                        weight: u16::from(h.hops) + 1,
                        flags: nh_flags(u32::from(h.flags.bits())),
                    });
                    if h.attributes.iter().any(|a| {
                        matches!(a, RouteAttribute::Encap(_) | RouteAttribute::EncapType(_))
                    }) {
                        unrestorable.push("an encapsulation");
                    }
                }
            }
            RouteAttribute::Metrics(ms) => {
                for x in ms {
                    match metric_pair(x) {
                        Some(p) => metrics.push(p),
                        None => unrestorable.push("a congestion-control metric"),
                    }
                }
            }
            RouteAttribute::CacheInfo(c) if c.expires != 0 => unrestorable.push("an expiry"),
            RouteAttribute::Expires(e) if *e != 0 => unrestorable.push("an expiry"),
            RouteAttribute::Encap(_) | RouteAttribute::EncapType(_) => {
                unrestorable.push("an encapsulation")
            }
            RouteAttribute::NhId(_) => unrestorable.push("a nexthop object (nhid)"),
            RouteAttribute::Realm(_) => unrestorable.push("a realm"),
            RouteAttribute::Mark(_) => unrestorable.push("a mark"),
            _ => {}
        }
    }
    if table == LOCAL_TABLE || m.header.flags.contains(RouteFlags::Cloned) {
        return Ok(None);
    }
    if m.header.source_prefix_length != 0 {
        unrestorable.push("a source prefix (from)");
    }
    if m.header.tos != 0 {
        unrestorable.push("a TOS");
    }
    let unspecified: IpAddr = if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let dst = IpNet::new(
        dst.unwrap_or(unspecified),
        m.header.destination_prefix_length,
    )
    .map_err(|e| NetError::Other(format!("route from the kernel: {e}")))?;
    if v6 && dst.addr().is_multicast() {
        return Ok(None);
    }
    let Some(kind) = RouteKind::from_kernel(m.header.kind) else {
        return Ok(None);
    };
    Ok(Some(RouteRow {
        dst,
        table,
        kind,
        via,
        oif,
        metric,
        src,
        nexthops,
        protocol: protocol_name(m.header.protocol),
        protocol_id: u8::from(m.header.protocol),
        scope: u8::from(m.header.scope),
        flags: nh_flags(m.header.flags.bits()),
        metrics,
        pref,
        unrestorable,
    }))
}

pub(super) fn protocol_name(p: RouteProtocol) -> String {
    match p {
        RouteProtocol::Kernel => "kernel".into(),
        RouteProtocol::Boot => "boot".into(),
        RouteProtocol::Static => "static".into(),
        other => other.to_string().to_lowercase(),
    }
}

impl Rtnl {
    /// `ip route add [TYPE] DST [via GW] [dev DEV] [metric N] [table T]
    /// [src S] [nexthop …]`.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<()> {
        self.create(RouteNetlinkMessage::NewRoute(add_msg(spec)), "add route")
            .await
    }

    /// `ip route del DST [table T] [via GW] [dev DEV] [metric N] …`.
    pub async fn del_route(&self, spec: &RouteSpec) -> Result<()> {
        wire::ack(&self.conn, RouteNetlinkMessage::DelRoute(del_msg(spec)), 0)
            .await
            .map_err(nl("delete route"))
    }

    /// `ip route show table all` for one family, minus the kernel's local
    /// table and IPv6 multicast routes.
    pub async fn routes(&self, v6: bool) -> Result<Vec<RouteRow>> {
        let mut filter = RouteMessage::default();
        filter.header.address_family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetRoute(filter))
            .await
            .map_err(nl("list routes"))?;
        let mut rows = Vec::new();
        for m in got {
            if let RouteNetlinkMessage::NewRoute(m) = m
                && let Some(r) = row(&m, v6)?
            {
                rows.push(r);
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_go_back_as_they_came() {
        for k in 1..=17u16 {
            match metric_of(k, 7) {
                Some(m) => {
                    assert!(known_metric(k));
                    assert_eq!(metric_pair(&m), Some((k, 7)));
                }
                None => assert!(!known_metric(k)),
            }
        }
    }

    #[test]
    fn a_table_past_255_goes_in_rta_table() {
        let mut s = RouteSpec::to("10.0.0.0/8".parse().unwrap());
        s.table = 1000;
        let m = add_msg(&s);
        assert_eq!(m.header.table, RT_TABLE_COMPAT);
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
        s.table = 100;
        assert_eq!(add_msg(&s).header.table, 100);
    }

    #[test]
    fn weights_are_counted_as_ip_route_counts_them() {
        let mut s = RouteSpec::to("10.0.0.0/8".parse().unwrap());
        s.nexthops = vec![Hop {
            via: Some("10.1.0.1".parse().unwrap()),
            oif: None,
            weight: 3,
            onlink: false,
        }];
        let m = add_msg(&s);
        let hops = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::MultiPath(h) => Some(h.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(hops[0].hops, 2);
    }
}
