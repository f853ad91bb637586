//! Link kinds beyond veth and bridge (`ip link add … type macvlan | ipvlan |
//! vxlan | vlan | vrf`), and link changes beyond a flag: moving a link to
//! another namespace (`ip link set … netns …`), its MAC address, and what
//! such a move takes from a link (its addresses and routes), read before
//! and put back after.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVlan, InfoVrf, InfoVxlan, IpVlanMode,
    LinkAttribute, MacVlanMode,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteVia};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};
use serde::{Deserialize, Serialize};

use super::{Rtnl, nl, wire};
use crate::net::{NetError, Result};

/// An address as a link had it (`ip addr add ADDR [broadcast B] [scope S]
/// [nodad] [noprefixroute] dev DEV`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddrBack {
    pub addr: IpNet,
    #[serde(default)]
    pub brd: Option<Ipv4Addr>,
    #[serde(default)]
    pub scope: u8,
    /// Of its flags, the ones a user sets (nodad, noprefixroute).
    #[serde(default)]
    pub flags: u32,
}

/// A route through a link (`ip route add DST [via GW] dev DEV [metric N]
/// [table T] [proto P] [scope S]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteBack {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub metric: Option<u32>,
    pub table: u32,
    pub protocol: u8,
    pub scope: u8,
}

/// The address flags a user sets; the others are the kernel's state.
const USER_ADDR_FLAGS: AddressFlags = AddressFlags::Nodad.union(AddressFlags::Noprefixroute);
/// RTPROT_KERNEL, RTPROT_RA: routes the kernel makes itself (from an
/// address, from a router advertisement).
const KERNEL_PROTOCOLS: [u8; 2] = [2, 9];
/// RT_TABLE_LOCAL: the kernel's own table of local addresses.
const LOCAL_TABLE: u32 = 255;

/// A kind of link nslab makes besides veths and bridges, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    MacVlan(MacVlanMode),
    IpVlan(IpVlanMode),
    Vxlan(Vxlan),
    /// The VLAN id (1-4094).
    Vlan(u16),
    /// The routing table the VRF's traffic uses.
    Vrf(u32),
}

/// `ip link add NAME type vxlan id VNI remote|group IP local IP dev DEV dstport PORT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vxlan {
    pub vni: u32,
    /// The far end (unicast) or the multicast group: the kernel takes
    /// both in one attribute, and tells them apart by the address.
    pub remote: Option<IpAddr>,
    pub local: Option<IpAddr>,
    /// The underlay link, by index in the VXLAN's own namespace.
    pub dev: Option<u32>,
    pub port: u16,
}

impl Kind {
    /// Its name as `ip link` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::MacVlan(_) => "macvlan",
            Kind::IpVlan(_) => "ipvlan",
            Kind::Vxlan(_) => "vxlan",
            Kind::Vlan(_) => "vlan",
            Kind::Vrf(_) => "vrf",
        }
    }

    fn info(&self) -> (InfoKind, InfoData) {
        match self {
            Kind::MacVlan(m) => (
                InfoKind::MacVlan,
                InfoData::MacVlan(vec![InfoMacVlan::Mode(*m)]),
            ),
            Kind::IpVlan(m) => (
                InfoKind::IpVlan,
                InfoData::IpVlan(vec![InfoIpVlan::Mode(*m)]),
            ),
            Kind::Vlan(id) => (InfoKind::Vlan, InfoData::Vlan(vec![InfoVlan::Id(*id)])),
            Kind::Vrf(t) => (InfoKind::Vrf, InfoData::Vrf(vec![InfoVrf::TableId(*t)])),
            Kind::Vxlan(v) => {
                let mut d = vec![InfoVxlan::Id(v.vni), InfoVxlan::Port(v.port)];
                match v.remote {
                    Some(IpAddr::V4(a)) => d.push(InfoVxlan::Group(a)),
                    Some(IpAddr::V6(a)) => d.push(InfoVxlan::Group6(a)),
                    None => {}
                }
                match v.local {
                    Some(IpAddr::V4(a)) => d.push(InfoVxlan::Local(a)),
                    Some(IpAddr::V6(a)) => d.push(InfoVxlan::Local6(a)),
                    None => {}
                }
                if let Some(i) = v.dev {
                    d.push(InfoVxlan::Link(i));
                }
                (InfoKind::Vxlan, InfoData::Vxlan(d))
            }
        }
    }
}

/// A link to make: what it is, what it hangs off, where it goes.
pub struct NewLink<'a> {
    pub name: &'a str,
    pub kind: &'a Kind,
    /// The parent (`link DEV`), by index in the namespace of the socket
    /// the request goes to.
    pub parent: Option<u32>,
    /// The namespace the link is made in, when not the socket's own.
    pub netns: Option<RawFd>,
    /// The ifindex asked for (see `rtnl::pick_index`).
    pub index: Option<u32>,
}

impl Rtnl {
    /// `ip link add [link PARENT] NAME [index I] [netns NS] type KIND … up`.
    /// A link that goes to another namespace than its parent's is made
    /// there directly (the kernel looks the parent up in the namespace the
    /// request comes from, and registers the new link in the target): no
    /// move, so no rename and no second request.
    pub async fn add_kind(&self, l: &NewLink<'_>) -> Result<()> {
        let (kind, data) = l.kind.info();
        let mut b = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(kind)
            .name(l.name.to_string())
            .set_info_data(data)
            .up();
        if let Some(p) = l.parent {
            b = b.link(p);
        }
        if let Some(fd) = l.netns {
            b = b.setns_by_fd(fd);
        }
        let mut msg = b.build();
        msg.header.index = l.index.unwrap_or(0);
        self.create(RouteNetlinkMessage::NewLink(msg), "create link")
            .await
    }

    /// `ip link set dev DEV netns NS [name NEW]`, asking for index `new_index`
    /// there (IFLA_NEW_IFINDEX; kernels older than that attribute ignore it
    /// and keep the index if it is free there, so callers read the index
    /// back). The kernel takes the link down on the way.
    pub async fn move_link(
        &self,
        index: u32,
        netns: RawFd,
        name: Option<&str>,
        new_index: Option<u32>,
    ) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(index).setns_by_fd(netns);
        if let Some(n) = name {
            b = b.name(n.to_string());
        }
        if let Some(i) = new_index.and_then(|i| i32::try_from(i).ok()) {
            b = b.append_extra_attribute(LinkAttribute::NewIfIndex(i));
        }
        // RTM_NEWLINK without NLM_F_CREATE changes a link, as `change` does;
        // the name in the request is then the new name, not a lookup key.
        wire::ack(&self.conn, RouteNetlinkMessage::NewLink(b.build()), 0)
            .await
            .map_err(nl("move link"))
    }

    /// The addresses of link `index` (`ip addr show dev DEV`), but IPv6
    /// link-local ones (the kernel makes those).
    pub async fn addrs_back(&self, index: u32) -> Result<Vec<AddrBack>> {
        let got = wire::dump(
            &self.conn,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )
        .await
        .map_err(nl("list addresses"))?;
        let mut out = Vec::new();
        for m in got {
            let RouteNetlinkMessage::NewAddress(m) = m else {
                continue;
            };
            if m.header.index != index {
                continue;
            }
            let (mut local, mut address, mut brd) = (None, None, None);
            let mut flags = AddressFlags::empty();
            for a in &m.attributes {
                match a {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    AddressAttribute::Broadcast(b) => brd = Some(*b),
                    AddressAttribute::Flags(f) => flags = *f,
                    _ => {}
                }
            }
            let Some(ip) = local.or(address) else {
                continue;
            };
            if let IpAddr::V6(v6) = ip
                && v6.is_unicast_link_local()
            {
                continue;
            }
            let addr = IpNet::new(ip, m.header.prefix_len)
                .map_err(|e| NetError::Other(format!("address from the kernel: {e}")))?;
            out.push(AddrBack {
                addr,
                brd,
                scope: m.header.scope.into(),
                flags: (flags & USER_ADDR_FLAGS).bits(),
            });
        }
        Ok(out)
    }

    /// Puts an address from `addrs_back` on link `index`.
    pub async fn add_addr_back(&self, index: u32, a: &AddrBack) -> Result<()> {
        let mut msg = AddressMessage::default();
        let ip = a.addr.addr();
        msg.header.family = if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        msg.header.prefix_len = a.addr.prefix_len();
        msg.header.index = index;
        msg.header.scope = a.scope.into();
        if ip.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(ip));
        }
        msg.attributes.push(AddressAttribute::Address(ip));
        if let Some(b) = a.brd {
            msg.attributes.push(AddressAttribute::Broadcast(b));
        }
        let flags = AddressFlags::from_bits_retain(a.flags) & USER_ADDR_FLAGS;
        if !flags.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(flags));
        }
        self.create(RouteNetlinkMessage::NewAddress(msg), "add address")
            .await
    }

    /// The routes through link `index` that someone added (`ip route show
    /// table all dev DEV`, without the kernel's own).
    pub async fn routes_back(&self, index: u32) -> Result<Vec<RouteBack>> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            let filter = if v6 {
                RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
            } else {
                RouteMessageBuilder::<Ipv4Addr>::new().build()
            };
            let got = wire::dump(&self.conn, RouteNetlinkMessage::GetRoute(filter))
                .await
                .map_err(nl("list routes"))?;
            for m in got {
                let RouteNetlinkMessage::NewRoute(m) = m else {
                    continue;
                };
                let protocol = u8::from(m.header.protocol);
                let mut table = u32::from(m.header.table);
                let (mut dst, mut via, mut oif, mut metric) = (None, None, None, None);
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                            dst = Some(IpAddr::V4(*ip))
                        }
                        RouteAttribute::Destination(RouteAddress::Inet6(ip)) => {
                            dst = Some(IpAddr::V6(*ip))
                        }
                        RouteAttribute::Gateway(RouteAddress::Inet(ip)) => {
                            via = Some(IpAddr::V4(*ip))
                        }
                        RouteAttribute::Gateway(RouteAddress::Inet6(ip)) => {
                            via = Some(IpAddr::V6(*ip))
                        }
                        RouteAttribute::Via(RouteVia::Inet6(ip)) => via = Some(IpAddr::V6(*ip)),
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        RouteAttribute::Priority(p) => metric = Some(*p),
                        RouteAttribute::Table(t) => table = *t,
                        _ => {}
                    }
                }
                if oif != Some(index)
                    || table == LOCAL_TABLE
                    || KERNEL_PROTOCOLS.contains(&protocol)
                {
                    continue;
                }
                let unspecified: IpAddr = if v6 {
                    std::net::Ipv6Addr::UNSPECIFIED.into()
                } else {
                    Ipv4Addr::UNSPECIFIED.into()
                };
                let dst = IpNet::new(
                    dst.unwrap_or(unspecified),
                    m.header.destination_prefix_length,
                )
                .map_err(|e| NetError::Other(format!("route from the kernel: {e}")))?;
                if dst.addr().is_multicast() {
                    continue;
                }
                out.push(RouteBack {
                    dst,
                    via,
                    metric,
                    table,
                    protocol,
                    scope: m.header.scope.into(),
                });
            }
        }
        Ok(out)
    }

    /// Puts a route from `routes_back` back, through link `index`.
    pub async fn add_route_back(&self, index: u32, x: &RouteBack) -> Result<()> {
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(x.dst.addr(), x.dst.prefix_len())
            .map_err(|e| NetError::Other(e.to_string()))?;
        if let Some(gw) = x.via {
            b = b.gateway(gw).map_err(|e| NetError::Other(e.to_string()))?;
        }
        b = b
            .output_interface(index)
            .table_id(x.table)
            .protocol(x.protocol.into())
            .scope(x.scope.into());
        if let Some(m) = x.metric {
            b = b.priority(m);
        }
        self.create(RouteNetlinkMessage::NewRoute(b.build()), "add route")
            .await
    }

    /// `ip link set dev DEV address MAC`.
    pub async fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.to_vec())
            .build();
        self.change(msg, "set mac address").await
    }
}
