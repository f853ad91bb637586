//! Neighbour (ARP/NDP) entries over rtnetlink (`ip neigh add/del/show`).

use std::net::IpAddr;

use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE};

use super::{Rtnl, nl, wire};
use crate::net::Result;

/// A neighbour entry as `ip neigh show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighRow {
    pub index: u32,
    pub addr: IpAddr,
    pub lladdr: Option<[u8; 6]>,
    /// NUD_PERMANENT or NUD_NOARP: set by someone, not learned.
    pub permanent: bool,
}

/// A neighbour entry with everything `ip neigh show` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighFull {
    pub index: u32,
    pub addr: IpAddr,
    /// The link-layer address, as the kernel holds it (none while incomplete).
    pub lladdr: Option<Vec<u8>>,
    /// "reachable", "stale", "permanent", … as `ip neigh` names them.
    pub state: String,
    /// NTF_ROUTER: the neighbour said it is a router (IPv6 only).
    pub router: bool,
}

/// The states `ip neigh show` lists: all but NOARP and NONE.
fn shown(s: NeighbourState) -> bool {
    !matches!(s, NeighbourState::Noarp | NeighbourState::None)
}

/// The states `ip neigh flush` removes: what the kernel learned, not what
/// someone set.
fn flushed(s: NeighbourState) -> bool {
    shown(s) && s != NeighbourState::Permanent
}

fn addr_of(m: &NeighbourMessage) -> Option<IpAddr> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        _ => None,
    })
}

fn msg(index: u32, addr: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.ifindex = index;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::Destination(match addr {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    m
}

impl Rtnl {
    /// `ip neigh add ADDR lladdr MAC dev DEV nud permanent` (`replace`:
    /// `ip neigh replace`, over an entry the kernel learned).
    pub async fn add_neigh(
        &self,
        index: u32,
        addr: IpAddr,
        mac: [u8; 6],
        replace: bool,
    ) -> Result<()> {
        let mut m = msg(index, addr);
        m.header.state = NeighbourState::Permanent;
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        if replace {
            wire::ack(
                &self.conn,
                RouteNetlinkMessage::NewNeighbour(m),
                NLM_F_CREATE | NLM_F_REPLACE,
            )
            .await
            .map_err(nl("replace neighbour"))
        } else {
            self.create(RouteNetlinkMessage::NewNeighbour(m), "add neighbour")
                .await
        }
    }

    /// `ip neigh del ADDR dev DEV`.
    pub async fn del_neigh(&self, index: u32, addr: IpAddr) -> Result<()> {
        wire::ack(
            &self.conn,
            RouteNetlinkMessage::DelNeighbour(msg(index, addr)),
            0,
        )
        .await
        .map_err(nl("delete neighbour"))
    }

    /// The entry for `addr` on link `index`, if there is one.
    pub async fn neigh(&self, index: u32, addr: IpAddr) -> Result<Option<NeighRow>> {
        let mut filter = NeighbourMessage::default();
        filter.header.family = msg(index, addr).header.family;
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetNeighbour(filter))
            .await
            .map_err(nl("list neighbours"))?;
        for m in got {
            let RouteNetlinkMessage::NewNeighbour(m) = m else {
                continue;
            };
            if m.header.ifindex != index {
                continue;
            }
            let mut dst = None;
            let mut lladdr = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                        dst = Some(IpAddr::V4(*ip))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                        dst = Some(IpAddr::V6(*ip))
                    }
                    NeighbourAttribute::LinkLayerAddress(l) => {
                        lladdr = <[u8; 6]>::try_from(l.as_slice()).ok()
                    }
                    _ => {}
                }
            }
            if dst == Some(addr) {
                return Ok(Some(NeighRow {
                    index,
                    addr,
                    lladdr,
                    permanent: matches!(
                        m.header.state,
                        NeighbourState::Permanent | NeighbourState::Noarp
                    ),
                }));
            }
        }
        Ok(None)
    }

    /// The IPv4 (`v6` false) or IPv6 neighbour entries `ip neigh show` lists.
    async fn neigh_dump(&self, v6: bool) -> Result<Vec<NeighbourMessage>> {
        let mut filter = NeighbourMessage::default();
        filter.header.family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetNeighbour(filter))
            .await
            .map_err(nl("list neighbours"))?;
        Ok(got
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(m) if shown(m.header.state) => Some(m),
                _ => None,
            })
            .collect())
    }

    /// `ip neigh show` (IPv4 then IPv6), of every link or of link `index`.
    pub async fn neigh_table(&self, index: Option<u32>) -> Result<Vec<NeighFull>> {
        let mut rows = Vec::new();
        for v6 in [false, true] {
            for m in self.neigh_dump(v6).await? {
                if index.is_some_and(|i| i != m.header.ifindex) {
                    continue;
                }
                let Some(addr) = addr_of(&m) else { continue };
                let lladdr = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::LinkLayerAddress(l) => Some(l.clone()),
                    _ => None,
                });
                rows.push(NeighFull {
                    index: m.header.ifindex,
                    addr,
                    lladdr,
                    state: super::lookup::state_name(m.header.state),
                    router: m.header.flags.contains(NeighbourFlags::Router),
                });
            }
        }
        Ok(rows)
    }

    /// `ip neigh flush all` / `ip neigh flush dev DEV`: deletes the learned
    /// entries (IPv4 and IPv6), one by one as iproute2 does; entries set by
    /// someone (permanent) stay. How many went.
    pub async fn neigh_flush(&self, index: Option<u32>) -> Result<usize> {
        let mut n = 0;
        for v6 in [false, true] {
            for m in self.neigh_dump(v6).await? {
                if index.is_some_and(|i| i != m.header.ifindex) || !flushed(m.header.state) {
                    continue;
                }
                let Some(addr) = addr_of(&m) else { continue };
                match self.del_neigh(m.header.ifindex, addr).await {
                    Ok(()) => n += 1,
                    // Gone meanwhile (it expired): what flush wanted.
                    Err(e) if e.raw_errno() == Some(libc::ENOENT) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(n)
    }
}
