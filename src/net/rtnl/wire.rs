//! The netlink connection under `Rtnl`: requests out, answers back, with
//! link messages cut down to what nslab reads before they are parsed.
//!
//! Why not rtnetlink's `Handle`: its connection parses every answer in full.
//! A link message is 1-2 KiB (statistics, per-family settings, bridge port
//! options) and netlink-packet-route turns each attribute into owned values;
//! that cost ~18 us per link, more than the kernel spent answering, and
//! every veth nslab makes and every link it checks before traffic comes back
//! as one. Dropping what `link_row` never looks at before parsing makes it a
//! fraction of that, on the same well-tested parser.

use std::io;

use bytes::BytesMut;
use futures::StreamExt;
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkDeserializable, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable,
};
use rtnetlink::proto::{Connection, ConnectionHandle, NetlinkMessageCodec};
use rtnetlink::sys::{SocketAddr, TokioSocket, protocols::NETLINK_ROUTE};

/// Sends requests to the socket; cheap to clone.
pub type Conn = ConnectionHandle<RouteNetlinkMessage>;
/// Drives the socket; runs as a task.
pub type ConnTask = Connection<RouteNetlinkMessage, TokioSocket, LeanCodec>;

/// Opens a NETLINK_ROUTE socket in the calling thread's namespace.
pub fn open() -> io::Result<(ConnTask, Conn)> {
    // Nothing subscribes to multicast groups, so the unsolicited stream
    // stays empty and can go.
    let (task, conn, _unsolicited) = rtnetlink::proto::new_connection_with_codec(NETLINK_ROUTE)?;
    Ok((task, conn))
}

fn send(
    conn: &Conn,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<
    impl futures::Stream<Item = NetlinkMessage<RouteNetlinkMessage>> + use<>,
    rtnetlink::Error,
> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | flags;
    req.finalize();
    conn.request(req, SocketAddr::new(0, 0))
        .map_err(|_| rtnetlink::Error::RequestFailed)
}

/// A request the kernel only acknowledges (NLM_F_ACK is added).
pub async fn ack(
    conn: &Conn,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<(), rtnetlink::Error> {
    answers(conn, msg, flags | NLM_F_ACK).await.map(drop)
}

/// A request and every message that answers it (for a dump, flags carry
/// NLM_F_DUMP; for an acknowledged request with NLM_F_ECHO, the echo). The
/// first error the kernel sends fails the whole.
pub async fn answers(
    conn: &Conn,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, rtnetlink::Error> {
    let mut stream = send(conn, msg, flags)?;
    let mut got = Vec::new();
    while let Some(m) = stream.next().await {
        match m.payload {
            NetlinkPayload::InnerMessage(inner) => got.push(inner),
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(rtnetlink::Error::NetlinkError(e));
            }
            // The ack (an error message with code 0), the end of a dump.
            _ => {}
        }
    }
    Ok(got)
}

/// A dump (NLM_F_DUMP is added).
pub async fn dump(
    conn: &Conn,
    msg: RouteNetlinkMessage,
) -> Result<Vec<RouteNetlinkMessage>, rtnetlink::Error> {
    answers(conn, msg, NLM_F_DUMP).await
}

const RTM_NEWLINK: u16 = 16;
const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const NLA_HDRLEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;
const AF_BRIDGE: u8 = 7;

/// The link attributes `link_row` reads; the rest is dropped unparsed.
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
/// The namespace (by its id as seen from here) of a veth's peer.
const IFLA_LINK_NETNSID: u16 = 37;
/// Inside IFLA_LINKINFO, only the kind (its data can be a hundred
/// attributes for a bridge or a bridge port), and a macvlan's few data
/// attributes: its mode, which the explanation reads.
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const MACVLAN_KIND: &[u8] = b"macvlan";

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf` (an attribute stream), each as (type, whole
/// attribute bytes including its header and padding). Stops at the first
/// malformed one: whatever follows is dropped, as the parser would refuse it.
fn nlas(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            return None;
        }
        let whole = align4(len).min(rest.len());
        let (nla, tail) = rest.split_at(whole);
        rest = tail;
        Some((kind, &nla[..len]))
    })
}

fn push_nla(out: &mut Vec<u8>, nla: &[u8]) {
    out.extend_from_slice(nla);
    out.resize(align4(out.len()), 0);
}

/// A copy of an RTM_NEWLINK message with only the attributes `link_row`
/// reads; `None` when it is too short to be one (the parser then says why).
fn lean_link(msg: &[u8]) -> Option<Vec<u8>> {
    let attrs_at = NLMSG_HDRLEN + IFINFOMSG_LEN;
    if msg.len() < attrs_at {
        return None;
    }
    // Answers of the bridge family are asked for only to read a port's
    // settings (IFLA_PROTINFO): they stay whole.
    if msg[NLMSG_HDRLEN] == AF_BRIDGE {
        return None;
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&msg[..attrs_at]);
    for (kind, nla) in nlas(&msg[attrs_at..]) {
        match kind {
            IFLA_ADDRESS | IFLA_IFNAME | IFLA_MTU | IFLA_LINK | IFLA_MASTER | IFLA_OPERSTATE
            | IFLA_LINK_NETNSID => push_nla(&mut out, nla),
            IFLA_LINKINFO => {
                let start = out.len();
                out.extend_from_slice(&nla[..NLA_HDRLEN]);
                let macvlan = nlas(&nla[NLA_HDRLEN..]).any(|(inner, info)| {
                    inner == IFLA_INFO_KIND
                        && info[NLA_HDRLEN..].split(|b| *b == 0).next() == Some(MACVLAN_KIND)
                });
                for (inner, info) in nlas(&nla[NLA_HDRLEN..]) {
                    if inner == IFLA_INFO_KIND || (macvlan && inner == IFLA_INFO_DATA) {
                        push_nla(&mut out, info);
                    }
                }
                let len = u16::try_from(out.len() - start).ok()?;
                out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
            }
            _ => {}
        }
    }
    let total = u32::try_from(out.len()).ok()?;
    out[..4].copy_from_slice(&total.to_ne_bytes());
    Some(out)
}

/// netlink-proto's message framing, with link messages made lean first.
pub struct LeanCodec;

impl NetlinkMessageCodec for LeanCodec {
    fn decode<T>(src: &mut BytesMut) -> io::Result<Option<NetlinkMessage<T>>>
    where
        T: NetlinkDeserializable + std::fmt::Debug,
    {
        while !src.is_empty() {
            let Ok(header) = NetlinkBuffer::new_checked(src.as_ref()) else {
                // A datagram that does not frame: nothing in it can be
                // trusted, and requests waiting on it time out upstream.
                src.clear();
                return Ok(None);
            };
            let len = header.length() as usize;
            let kind = header.message_type();
            let bytes = src.split_to(len);
            let lean = (kind == RTM_NEWLINK).then(|| lean_link(&bytes)).flatten();
            let parsed = NetlinkMessage::<T>::deserialize(lean.as_deref().unwrap_or(&bytes));
            // A message the parser refuses is skipped, as netlink-proto's own
            // codec does: its request then ends with the next one.
            if let Ok(msg) = parsed {
                return Ok(Some(msg));
            }
        }
        Ok(None)
    }

    fn encode<T>(msg: NetlinkMessage<T>, buf: &mut BytesMut) -> io::Result<()>
    where
        T: NetlinkSerializable + std::fmt::Debug,
    {
        let len = msg.buffer_len();
        let start = buf.len();
        buf.resize(start + len, 0);
        msg.serialize(&mut buf[start..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::{
        InfoBridge, InfoData, InfoKind, LinkAttribute, LinkInfo, LinkMessage, Stats,
    };

    fn wire(msg: LinkMessage) -> Vec<u8> {
        let mut m = NetlinkMessage::from(RouteNetlinkMessage::NewLink(msg));
        m.finalize();
        let mut buf = vec![0; m.buffer_len()];
        m.serialize(&mut buf);
        buf
    }

    #[test]
    fn lean_link_keeps_what_link_row_reads_and_nothing_else() {
        let mut full = LinkMessage::default();
        full.header.index = 7;
        full.attributes = vec![
            LinkAttribute::IfName("br0".into()),
            LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]),
            LinkAttribute::Stats(Stats::default()),
            LinkAttribute::Mtu(1400),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bridge),
                LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::HelloTime(200)])),
            ]),
            LinkAttribute::Controller(3),
            LinkAttribute::TxQueueLen(1000),
        ];
        let bytes = wire(full);
        let lean = lean_link(&bytes).expect("a link message");
        assert!(lean.len() < bytes.len());
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&lean).expect("parses");
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = parsed.payload else {
            panic!("not a link: {parsed:?}");
        };
        assert_eq!(l.header.index, 7);
        assert_eq!(
            l.attributes,
            vec![
                LinkAttribute::IfName("br0".into()),
                LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]),
                LinkAttribute::Mtu(1400),
                LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
                LinkAttribute::Controller(3),
            ]
        );
    }

    #[test]
    fn a_macvlans_mode_is_kept() {
        use netlink_packet_route::link::{InfoMacVlan, MacVlanMode};
        let info = vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Vepa,
            )])),
        ];
        let mut mv = LinkMessage::default();
        mv.attributes = vec![
            LinkAttribute::IfName("mv0".into()),
            LinkAttribute::LinkInfo(info.clone()),
            LinkAttribute::TxQueueLen(1000),
        ];
        let lean = lean_link(&wire(mv)).expect("a link message");
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&lean).expect("parses");
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = parsed.payload else {
            panic!("not a link: {parsed:?}");
        };
        assert_eq!(
            l.attributes,
            vec![
                LinkAttribute::IfName("mv0".into()),
                LinkAttribute::LinkInfo(info)
            ]
        );
    }

    #[test]
    fn bridge_family_answers_stay_whole() {
        // A port's settings come in IFLA_PROTINFO of a bridge-family dump.
        let mut port = LinkMessage::default();
        port.header.interface_family = netlink_packet_route::AddressFamily::Bridge;
        port.attributes = vec![
            LinkAttribute::IfName("p0".into()),
            LinkAttribute::TxQueueLen(1000),
        ];
        assert!(lean_link(&wire(port)).is_none());
    }

    #[test]
    fn codec_splits_a_datagram_into_messages() {
        let mut one = LinkMessage::default();
        one.attributes = vec![LinkAttribute::IfName("a".into())];
        let mut two = LinkMessage::default();
        two.attributes = vec![LinkAttribute::IfName("bb".into())];
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&wire(one));
        buf.extend_from_slice(&wire(two));
        let mut names = Vec::new();
        while let Some(m) = LeanCodec::decode::<RouteNetlinkMessage>(&mut buf).expect("decodes") {
            if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = m.payload {
                names.extend(l.attributes);
            }
        }
        assert_eq!(
            names,
            vec![
                LinkAttribute::IfName("a".into()),
                LinkAttribute::IfName("bb".into())
            ]
        );
    }
}
