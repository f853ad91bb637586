//! Neighbour (ARP/NDP) entries over rtnetlink (`ip neigh add/del/show`).

use std::net::IpAddr;

use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
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
}
