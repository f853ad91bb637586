//! What a bridge port does with frames right now (`bridge link show`): its
//! STP state, whether it is isolated and whether it hairpins, read for
//! every port of a namespace at once from the bridge family's link dump
//! (each port's IFLA_PROTINFO), for the explanation of a frame a bridge
//! does not pass on.

use netlink_packet_route::link::{LinkAttribute, LinkMessage, LinkProtoInfoBridge};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::Nla;

use super::{Rtnl, nl, wire};
use crate::net::Result;

const IFLA_BRPORT_STATE: u16 = 1;
const IFLA_BRPORT_MODE: u16 = 4;
const IFLA_BRPORT_ISOLATED: u16 = 33;

/// One bridge port as the bridge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortState {
    pub index: u32,
    /// The bridge it belongs to.
    pub master: Option<u32>,
    /// BR_STATE_*: 0 disabled, 1 listening, 2 learning, 3 forwarding,
    /// 4 blocking.
    pub state: u8,
    pub isolated: bool,
    /// Hairpin mode: frames may leave by the port they came in on (what
    /// a VEPA switch does, so macvlans in vepa mode behind it talk).
    pub hairpin: bool,
}

impl PortState {
    /// The state's name, as `bridge link` prints it.
    pub fn state_name(&self) -> &'static str {
        state_name(self.state)
    }
}

/// A BR_STATE_* in words, as `bridge link` prints it.
pub(super) fn state_name(state: u8) -> &'static str {
    match state {
        0 => "disabled",
        1 => "listening",
        2 => "learning",
        3 => "forwarding",
        4 => "blocking",
        _ => "in an unknown state",
    }
}

impl Rtnl {
    /// The state of every bridge port in the namespace.
    pub async fn port_states(&self) -> Result<Vec<PortState>> {
        let mut ask = LinkMessage::default();
        ask.header.interface_family = AddressFamily::Bridge;
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetLink(ask))
            .await
            .map_err(nl("list bridge ports"))?;
        let mut out = Vec::new();
        for m in got {
            let RouteNetlinkMessage::NewLink(l) = m else {
                continue;
            };
            let mut row = PortState {
                index: l.header.index,
                master: None,
                // A port whose state is not reported forwards.
                state: 3,
                isolated: false,
                hairpin: false,
            };
            let mut port = false;
            for a in &l.attributes {
                match a {
                    LinkAttribute::Controller(m) => row.master = Some(*m),
                    LinkAttribute::ProtoInfoBridge(info) => {
                        port = true;
                        read_protinfo(info, &mut row);
                    }
                    _ => {}
                }
            }
            if port {
                out.push(row);
            }
        }
        Ok(out)
    }
}

fn read_protinfo(info: &[LinkProtoInfoBridge], row: &mut PortState) {
    for a in info {
        let LinkProtoInfoBridge::Other(nla) = a else {
            continue;
        };
        let mut v = vec![0u8; nla.value_len()];
        nla.emit_value(&mut v);
        let Some(byte) = v.first().copied() else {
            continue;
        };
        match nla.kind() {
            IFLA_BRPORT_STATE => row.state = byte,
            IFLA_BRPORT_ISOLATED => row.isolated = byte != 0,
            IFLA_BRPORT_MODE => row.hairpin = byte != 0,
            _ => {}
        }
    }
}
