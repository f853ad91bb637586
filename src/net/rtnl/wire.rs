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
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use futures::StreamExt;
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST, NetlinkBuffer, NetlinkDeserializable,
    NetlinkMessage, NetlinkPayload, NetlinkSerializable,
};
use rtnetlink::proto::{Connection, ConnectionHandle, NetlinkMessageCodec};
use rtnetlink::sys::{SocketAddr, TokioSocket, protocols::NETLINK_ROUTE};

/// Sends requests to the socket; cheap to clone.
#[derive(Clone)]
pub struct Conn {
    handle: ConnectionHandle<RouteNetlinkMessage>,
    direct: Arc<Direct>,
}
/// Drives the socket; runs as a task.
pub type ConnTask = Connection<RouteNetlinkMessage, TokioSocket, LeanCodec>;

/// Opens a NETLINK_ROUTE socket in the calling thread's namespace.
pub fn open() -> io::Result<(ConnTask, Conn)> {
    // Nothing subscribes to multicast groups, so the unsolicited stream
    // stays empty and can go.
    let (mut task, handle, _unsolicited): (ConnTask, _, _) =
        rtnetlink::proto::new_connection_with_codec(NETLINK_ROUTE)?;
    let fd = task.socket_mut().as_raw_fd();
    // SAFETY: `fd` is the task's open socket; the duplicate is owned here.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` was just made and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(dup) };
    let direct = Arc::new(Direct {
        fd,
        lock: Mutex::new(()),
        seq: AtomicU32::new(DIRECT_SEQ),
        in_flight: AtomicUsize::new(0),
    });
    Ok((task, Conn { handle, direct }))
}

/// What two ioctls tell of a link (see `Conn::link_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLook {
    /// IFF_UP: brought up.
    pub up: bool,
    /// The carrier (ETHTOOL_GLINK).
    pub carrier: bool,
    /// IFF_RUNNING: the kernel counts it operational (RFC 2863 state up,
    /// or unknown for a link that never says).
    pub running: bool,
}

impl LinkLook {
    /// Up with a carrier, yet not operational: the kernel has not
    /// activated it (or it was made dormant; `settle` asks again).
    pub fn activating(&self) -> bool {
        self.up && self.carrier && !self.running
    }
}

impl Conn {
    /// Link `name`'s flags by two ioctls on this socket, which work in its
    /// namespace (netlink hands device ioctls down like any socket):
    /// ETHTOOL_GLINK first, which has the kernel finish the link's pending
    /// linkwatch step before it answers (`ethtool_op_get_link`, as
    /// RTM_GETLINK does), then SIOCGIFFLAGS. Neither builds a message.
    /// Ok(None): no such link. A link whose driver has no get_link
    /// (EOPNOTSUPP) is an error: ask with RTM_GETLINK instead.
    pub fn link_flags(&self, name: &str) -> io::Result<Option<LinkLook>> {
        let fd = self.direct.fd.as_raw_fd();
        let mut ifr = ifreq(name)?;
        #[repr(C)]
        struct EthtoolValue {
            cmd: u32,
            data: u32,
        }
        const ETHTOOL_GLINK: u32 = 0x0000_000a;
        let mut glink = EthtoolValue {
            cmd: ETHTOOL_GLINK,
            data: 0,
        };
        ifr.ifr_ifru.ifru_data = (&raw mut glink).cast();
        // SAFETY: a valid socket; `ifr` names the link and points at
        // `glink`, which outlives the call and has the layout the kernel
        // reads and writes (struct ethtool_value).
        if unsafe { libc::ioctl(fd, libc::SIOCETHTOOL as _, &raw mut ifr) } != 0 {
            return gone_or(io::Error::last_os_error());
        }
        let mut ifr = ifreq(name)?;
        // SAFETY: as above; SIOCGIFFLAGS writes ifru_flags.
        if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &raw mut ifr) } != 0 {
            return gone_or(io::Error::last_os_error());
        }
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        let flags = i32::from(unsafe { ifr.ifr_ifru.ifru_flags });
        Ok(Some(LinkLook {
            up: flags & libc::IFF_UP != 0,
            carrier: glink.data != 0,
            running: flags & libc::IFF_RUNNING != 0,
        }))
    }
}

/// An ifreq naming link `name` (at most 15 bytes, as the kernel's names).
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= ifr.ifr_name.len() || name.as_bytes().contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    Ok(ifr)
}

/// ENODEV (no such link) is an answer; anything else an error.
fn gone_or<T>(e: io::Error) -> io::Result<Option<T>> {
    match e.raw_os_error() {
        Some(libc::ENODEV) => Ok(None),
        _ => Err(e),
    }
}

/// The same socket, for a request answered without the runtime: `sendto`,
/// then `recvfrom` of the answer the kernel queued before `sendto` returned
/// (rtnetlink handles a request in the sender's system call). Through the
/// connection task a request cost five system calls (sendto, epoll_wait,
/// recvfrom, recvfrom → EAGAIN, epoll_wait); this way two.
struct Direct {
    fd: OwnedFd,
    /// One direct request at a time on this socket (its answers are read by
    /// whoever sent it; the lock is never held across an await).
    lock: Mutex<()>,
    seq: AtomicU32,
    /// Requests of the connection task not answered yet: while there are
    /// any, a direct read could take their answers, so requests go through
    /// the task too.
    in_flight: AtomicUsize,
}

/// Direct requests number from here, far from the task's own numbers.
const DIRECT_SEQ: u32 = 0x8000_0000;

thread_local! {
    /// One receive buffer per thread: an answer is a few KiB at most (a
    /// link echoed back), and a socket of its own for each of thousands of
    /// namespaces would be megabytes.
    static RECV_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 * 1024]);
}

/// Counts a request of the connection task while it is in flight.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Direct {
    /// The socket for one direct request (after another thread's, if one
    /// is under way: were this one sent through the task, the task could
    /// read that one's answer); `None` when a request of the task is in
    /// flight, and this one must go through the task too.
    fn free(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        self.lock.lock().ok()
    }

    /// Sends `msg` and reads its answers; the caller holds `free`'s guard.
    fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, rtnetlink::Error> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) | DIRECT_SEQ;
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        req.header.sequence_number = seq;
        req.finalize();
        let mut out = vec![0u8; req.buffer_len()];
        req.serialize(&mut out);
        self.send(&out)
            .map_err(|_| rtnetlink::Error::RequestFailed)?;
        self.answers(seq, flags & NLM_F_ACK != 0)
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: a zeroed sockaddr_nl is the kernel's address (pid 0).
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: buf and the address outlive the call.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    0,
                    (&to as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Reads until the request `seq` is answered, with the rule
    /// netlink-proto applies: an ack or error, the end of a dump, or a
    /// message that is not one of several when no ack was asked for.
    /// Messages for other requests (an abandoned one's late answer) are
    /// dropped, as the task drops them.
    fn answers(
        &self,
        seq: u32,
        expecting_ack: bool,
    ) -> Result<Vec<RouteNetlinkMessage>, rtnetlink::Error> {
        RECV_BUF.with(|b| {
            let mut buf = b.borrow_mut();
            let mut got = Vec::new();
            loop {
                let n = self
                    .recv(&mut buf)
                    .map_err(|_| rtnetlink::Error::RequestFailed)?;
                let mut src = BytesMut::from(&buf[..n]);
                while let Some(m) = LeanCodec::decode::<RouteNetlinkMessage>(&mut src)
                    .map_err(|_| rtnetlink::Error::RequestFailed)?
                {
                    if m.header.sequence_number != seq {
                        continue;
                    }
                    let multi = m.header.flags & NLM_F_MULTIPART != 0;
                    match m.payload {
                        NetlinkPayload::InnerMessage(inner) => {
                            got.push(inner);
                            if !multi && !expecting_ack {
                                return Ok(got);
                            }
                        }
                        NetlinkPayload::Error(e) if e.code.is_some() => {
                            return Err(rtnetlink::Error::NetlinkError(e));
                        }
                        _ => return Ok(got),
                    }
                }
            }
        })
    }

    /// One datagram, waiting for it if the kernel has not queued it yet.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: the kernel writes at most buf.len() bytes into buf.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            // With MSG_TRUNC the length is the datagram's own: a longer one
            // than the buffer lost its tail, and with it the answer.
            if n >= 0 && n as usize > buf.len() {
                return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
            }
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    let mut p = libc::pollfd {
                        fd: self.fd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one pollfd, alive for the call.
                    if unsafe { libc::poll(&mut p, 1, -1) } < 0
                        && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted
                    {
                        return Err(io::Error::last_os_error());
                    }
                }
                _ => return Err(e),
            }
        }
    }
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
    conn.handle
        .request(req, SocketAddr::new(0, 0))
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

/// A request and every message that answers it (for an acknowledged
/// request with NLM_F_ECHO, the echo; dumps go through `dump`). The first
/// error the kernel sends fails the whole.
pub async fn answers(
    conn: &Conn,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, rtnetlink::Error> {
    if let Some(_one) = conn.direct.free() {
        return conn.direct.request(msg, flags);
    }
    through_task(conn, msg, flags).await
}

/// `answers` through the connection task. A dump's later parts are made as
/// the reader asks for them, so dumps always come this way.
async fn through_task(
    conn: &Conn,
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, rtnetlink::Error> {
    conn.direct.in_flight.fetch_add(1, Ordering::AcqRel);
    let _counted = InFlight(&conn.direct.in_flight);
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
    through_task(conn, msg, NLM_F_DUMP).await
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
