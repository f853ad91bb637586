//! `ip netns list-id`, one namespace at a time: the id under which this
//! namespace knows another one. A veth's peer is named by its index and
//! such an id (IFLA_LINK_NETNSID), so matching the two ends of a veth in
//! different namespaces needs it.

use std::os::fd::RawFd;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};

use super::{Result, Rtnl, nl, wire};

impl Rtnl {
    /// The id this namespace gives the namespace open as `fd`; `None` when
    /// it has given it none (then no link here points there).
    pub async fn nsid_of(&self, fd: RawFd) -> Result<Option<i32>> {
        let mut msg = NsidMessage::default();
        let fd = u32::try_from(fd).map_err(|_| {
            crate::net::NetError::Other("a namespace file descriptor is negative".into())
        })?;
        msg.attributes.push(NsidAttribute::Fd(fd));
        let got = wire::answers(&self.conn, RouteNetlinkMessage::GetNsId(msg), 0)
            .await
            .map_err(nl("read a namespace id"))?;
        for m in got {
            if let RouteNetlinkMessage::NewNsId(m) = m {
                for a in m.attributes {
                    if let NsidAttribute::Id(id) = a {
                        return Ok((id >= 0).then_some(id));
                    }
                }
            }
        }
        Ok(None)
    }
}
