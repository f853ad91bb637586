//! Bridge settings over rtnetlink: the bridge's own (`ip link add br0 type
//! bridge stp_state 1 …`), its ports' (`ip link set DEV type bridge_slave
//! isolated on …`, `bridge link`) and port VLANs (`bridge vlan add`).

use netlink_packet_route::link::{
    AfSpecBridge, BridgeStpState, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridge, InfoBridgePort,
    InfoData, InfoKind, InfoPortData, InfoPortKind, LinkAttribute, LinkInfo, LinkMessage,
    LinkProtoInfoBridge,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::Nla;
use rtnetlink::{LinkBridge, LinkUnspec};
use serde::{Deserialize, Serialize};

use super::{Rtnl, nl, wire};
use crate::net::Result;

/// A bridge's own settings, given in the request that makes it. Times are
/// in centiseconds, as the kernel takes them (clock_t at USER_HZ = 100).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeOpts {
    pub stp: Option<bool>,
    pub vlan_filtering: Option<bool>,
    pub ageing_cs: Option<u32>,
    pub forward_delay_cs: Option<u32>,
    pub hello_cs: Option<u32>,
    pub max_age_cs: Option<u32>,
    /// The STP bridge priority (IFLA_BR_PRIORITY): the lowest is root.
    pub priority: Option<u16>,
}

/// A bridge port's settings (IFLA_BRPORT_*); `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortOpts {
    pub isolated: Option<bool>,
    pub hairpin: Option<bool>,
    pub cost: Option<u32>,
    pub priority: Option<u16>,
    // Later additions: absent from journals written before them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flood: Option<bool>,
}

impl PortOpts {
    pub fn is_empty(&self) -> bool {
        *self == PortOpts::default()
    }
}

/// One VLAN of a port (`bridge vlan add dev DEV vid N [pvid] [untagged]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortVlan {
    pub vid: u16,
    pub pvid: bool,
    pub untagged: bool,
}

// IFLA_BRPORT_* numbers, for reading IFLA_PROTINFO (the parser keeps all
// but one of them as raw attributes).
const IFLA_BRPORT_PRIORITY: u16 = 2;
const IFLA_BRPORT_COST: u16 = 3;
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_BRPORT_LEARNING: u16 = 8;
const IFLA_BRPORT_UNICAST_FLOOD: u16 = 9;
const IFLA_BRPORT_ISOLATED: u16 = 33;

impl Rtnl {
    /// `ip link add NAME [index I] type bridge [stp_state 1] [ageing_time
    /// N] … && ip link set NAME up`, in one request.
    pub async fn add_bridge_with(
        &self,
        name: &str,
        index: Option<u32>,
        opts: &BridgeOpts,
    ) -> Result<()> {
        let mut data = Vec::new();
        // The kernel applies them in its own order (delays before the STP
        // state), and clamps the forward delay to 2..=30 s when STP starts.
        if let Some(cs) = opts.forward_delay_cs {
            data.push(InfoBridge::ForwardDelay(cs));
        }
        if let Some(cs) = opts.hello_cs {
            data.push(InfoBridge::HelloTime(cs));
        }
        if let Some(cs) = opts.max_age_cs {
            data.push(InfoBridge::MaxAge(cs));
        }
        if let Some(cs) = opts.ageing_cs {
            data.push(InfoBridge::AgeingTime(cs));
        }
        if let Some(on) = opts.stp {
            data.push(InfoBridge::StpState(if on {
                BridgeStpState::KernelStp
            } else {
                BridgeStpState::Disabled
            }));
        }
        if let Some(on) = opts.vlan_filtering {
            data.push(InfoBridge::VlanFiltering(on));
        }
        if let Some(p) = opts.priority {
            data.push(InfoBridge::Priority(p));
        }
        let mut b = LinkBridge::new(name);
        if !data.is_empty() {
            b = b.set_info_data(InfoData::Bridge(data));
        }
        let mut msg = b.build();
        msg.header.index = index.unwrap_or(0);
        self.create(RouteNetlinkMessage::NewLink(msg), "create bridge")
            .await
    }

    /// `ip link set DEV type bridge_slave [isolated on] [hairpin on] [cost
    /// N] [priority N]`: the port must be attached to a bridge already.
    pub async fn set_port(&self, index: u32, opts: &PortOpts) -> Result<()> {
        let mut data = Vec::new();
        if let Some(on) = opts.isolated {
            data.push(InfoBridgePort::Isolated(on));
        }
        if let Some(on) = opts.hairpin {
            data.push(InfoBridgePort::HairpinMode(on));
        }
        if let Some(c) = opts.cost {
            data.push(InfoBridgePort::Cost(c));
        }
        if let Some(p) = opts.priority {
            data.push(InfoBridgePort::Priority(p));
        }
        if let Some(on) = opts.learning {
            data.push(InfoBridgePort::Learning(on));
        }
        if let Some(on) = opts.flood {
            data.push(InfoBridgePort::UnicastFlood(on));
        }
        let msg = LinkUnspec::new_with_index(index)
            .set_port_kind(InfoPortKind::Bridge)
            .set_port_data(InfoPortData::BridgePort(data))
            .build();
        self.change(msg, "set bridge port options").await
    }

    /// The settings of bridge port `index` (`bridge -d link show dev DEV`),
    /// or `None` when it is no bridge's port. Asked of the bridge family,
    /// whose dump carries each port's IFLA_PROTINFO (the lean codec keeps
    /// those answers whole).
    pub async fn port_opts(&self, index: u32) -> Result<Option<PortOpts>> {
        let mut ask = LinkMessage::default();
        ask.header.interface_family = AddressFamily::Bridge;
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetLink(ask))
            .await
            .map_err(nl("list bridge ports"))?;
        for m in got {
            let RouteNetlinkMessage::NewLink(l) = m else {
                continue;
            };
            if l.header.index != index {
                continue;
            }
            for a in &l.attributes {
                if let LinkAttribute::ProtoInfoBridge(info) = a {
                    return Ok(Some(port_opts_of(info)));
                }
            }
        }
        Ok(None)
    }

    /// `ip link set BR type bridge vlan_filtering 1` on an existing bridge.
    /// Needs a kernel with CONFIG_BRIDGE_VLAN_FILTERING (EOPNOTSUPP without).
    pub async fn set_vlan_filtering(&self, br: u32, on: bool) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = br;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bridge),
            LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::VlanFiltering(on)])),
        ]));
        self.change(msg, "turn bridge VLAN filtering on").await
    }

    /// The VLANs of port `index` now (`bridge vlan show dev DEV`).
    pub async fn port_vlans(&self, index: u32) -> Result<Vec<PortVlan>> {
        Ok(self
            .bridge_ports()
            .await?
            .into_iter()
            .filter(|p| p.index == index)
            .flat_map(|p| p.vlans)
            .map(|v| PortVlan {
                vid: v.vid,
                pvid: v.pvid,
                untagged: v.untagged,
            })
            .collect())
    }

    /// The port's VLAN set becomes `vlans`, VLAN 1 included: `bridge vlan
    /// del dev DEV vid N` for each VLAN it has and `vlans` does not, then
    /// `bridge vlan add dev DEV vid N [pvid] [untagged]` for each of
    /// `vlans` (adding a VLAN the port has sets its flags, taking the pvid
    /// off a VLAN given without it). RTM_SETLINK / RTM_DELLINK of the bridge
    /// family with IFLA_AF_SPEC. Needs a kernel with
    /// CONFIG_BRIDGE_VLAN_FILTERING (EOPNOTSUPP without).
    pub async fn set_port_vlans(&self, index: u32, vlans: &[PortVlan]) -> Result<()> {
        let have = self.port_vlans(index).await?;
        for old in have
            .iter()
            .filter(|o| !vlans.iter().any(|v| v.vid == o.vid))
        {
            let msg = vlan_msg(index, old.vid, BridgeVlanInfoFlags::empty());
            wire::ack(&self.conn, RouteNetlinkMessage::DelLink(msg), 0)
                .await
                .map_err(nl("delete port vlan"))?;
        }
        for v in vlans {
            let mut flags = BridgeVlanInfoFlags::empty();
            if v.pvid {
                flags |= BridgeVlanInfoFlags::Pvid;
            }
            if v.untagged {
                flags |= BridgeVlanInfoFlags::Untagged;
            }
            let msg = vlan_msg(index, v.vid, flags);
            wire::ack(&self.conn, RouteNetlinkMessage::SetLink(msg), 0)
                .await
                .map_err(nl("add port vlan"))?;
        }
        Ok(())
    }
}

/// A bridge-family link message naming one VLAN of port `index`.
fn vlan_msg(index: u32, vid: u16, flags: BridgeVlanInfoFlags) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::AfSpecBridge(vec![AfSpecBridge::VlanInfo(
            BridgeVlanInfo { flags, vid },
        )]));
    msg
}

fn port_opts_of(info: &[LinkProtoInfoBridge]) -> PortOpts {
    let mut o = PortOpts::default();
    for a in info {
        let LinkProtoInfoBridge::Other(nla) = a else {
            continue;
        };
        let mut v = vec![0u8; nla.value_len()];
        nla.emit_value(&mut v);
        let byte = v.first().copied();
        match nla.kind() {
            IFLA_BRPORT_ISOLATED => o.isolated = byte.map(|b| b != 0),
            IFLA_BRPORT_MODE => o.hairpin = byte.map(|b| b != 0),
            IFLA_BRPORT_LEARNING => o.learning = byte.map(|b| b != 0),
            IFLA_BRPORT_UNICAST_FLOOD => o.flood = byte.map(|b| b != 0),
            IFLA_BRPORT_COST if v.len() >= 4 => {
                o.cost = Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]]))
            }
            IFLA_BRPORT_PRIORITY if v.len() >= 2 => {
                o.priority = Some(u16::from_ne_bytes([v[0], v[1]]))
            }
            _ => {}
        }
    }
    o
}
