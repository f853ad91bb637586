//! Links, addresses and routes over rtnetlink (`ip link/addr/route`).
//!
//! One `Rtnl` per namespace: its socket was opened inside that namespace, so
//! every request on it acts there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use ipnet::IpNet;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo,
    LinkMessage, State,
};
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL};
use rtnetlink::{AddressMessageBuilder, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{NetError, Result};

mod bridge;
mod brport;
mod counters;
mod kinds;
mod lookup;
mod neigh;
mod nsid;
mod route;
mod rule;
pub mod tables;
mod tc;
mod wire;

pub use bridge::{BridgeOpts, PortOpts, PortVlan};
pub use brport::PortState;
pub use counters::{LinkCounters, QdiscRow, VlanRow};
pub use kinds::{AddrBack, Kind, NewLink, RouteBack, Vxlan};
pub use lookup::{FibEntry, NeighEntry, RouteAnswer, RouteQuery};
pub use netlink_packet_route::link::{IpVlanMode, MacVlanMode};
pub use route::{Hop, MAIN_TABLE, RouteKind, RouteRow, RouteSpec, known_metric};
pub use rule::{RuleAction, RuleSpec, default_priority};
pub use tc::{Netem, Tbf};
pub use wire::LinkLook;

/// Requests to one namespace's netlink socket. Cheap to clone; the socket
/// itself lives in the connection task that `RtnlTask` owns.
#[derive(Clone)]
pub struct Rtnl {
    conn: wire::Conn,
}

/// The task that drives a namespace's netlink socket.
pub struct RtnlTask(Option<tokio::task::JoinHandle<()>>);

impl RtnlTask {
    /// Stops the task and waits until its socket is closed. (Only aborting
    /// it leaves the socket open until the runtime next runs, and the socket
    /// keeps its namespace, with all the traffic inside, alive until then.)
    pub fn close(self, rt: &tokio::runtime::Runtime) {
        Self::close_all(vec![self], rt);
    }

    /// `close` for many tasks, in one turn of the runtime: all aborted, then
    /// all waited for (one `close` each turned the runtime once per socket).
    pub fn close_all(tasks: Vec<RtnlTask>, rt: &tokio::runtime::Runtime) {
        let handles: Vec<_> = tasks
            .into_iter()
            .filter_map(|mut t| t.0.take())
            .inspect(|h| h.abort())
            .collect();
        if handles.is_empty() {
            return;
        }
        rt.block_on(async {
            for h in handles {
                let _ = h.await;
            }
        });
    }
}

impl Drop for RtnlTask {
    fn drop(&mut self) {
        // Aborted, the task (and its socket, which pins the namespace) is
        // dropped when the runtime next runs or goes; `close` waits for that.
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The unspawned parts of a connection, made on the namespace's thread.
pub struct RtnlParts {
    task: wire::ConnTask,
    conn: wire::Conn,
    /// The namespace's cookie (see `ns::cookie_here`), read where the
    /// socket was opened, for a namespace just made (`open_fresh`).
    pub cookie: Option<u64>,
}

/// Opens a netlink socket in the calling thread's namespace. The caller must
/// be inside the tokio runtime's context (the socket registers with it).
/// No cookie: only a namespace being made needs one (`open_fresh`).
pub fn open() -> Result<RtnlParts> {
    let (task, conn) = wire::open().map_err(|e| NetError::os("open netlink socket", e))?;
    Ok(RtnlParts {
        task,
        conn,
        cookie: None,
    })
}

/// `open` in a namespace just made, from inside it: also brings its `lo`
/// up and reads its cookie (see `ns::fresh_here`).
pub fn open_fresh() -> Result<RtnlParts> {
    let cookie = crate::net::ns::fresh_here()?;
    let mut parts = open()?;
    parts.cookie = cookie;
    Ok(parts)
}

impl RtnlParts {
    pub fn spawn(self, rt: &tokio::runtime::Handle) -> (Rtnl, RtnlTask) {
        let task = rt.spawn(self.task);
        (Rtnl { conn: self.conn }, RtnlTask(Some(task)))
    }
}

fn nl(op: &'static str) -> impl Fn(rtnetlink::Error) -> NetError {
    move |source| NetError::Netlink { op, source }
}

/// Ifindexes asked for the two ends of a veth (`None`: the kernel picks).
pub type Ends = (Option<u32>, Option<u32>);

/// An ifindex for a link nslab makes outside its own namespaces, chosen
/// at random from a range the kernel's own numbering (1, 2, 3, …) does not
/// reach: journaled before the link exists, it tells this link from any
/// other that takes its name later.
pub fn pick_index() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: getrandom fills the buffer it is given.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    let r = if n == 4 {
        u32::from_ne_bytes(b)
    } else {
        std::process::id().wrapping_mul(2_654_435_761)
    };
    0x0100_0000 + r % 0x7000_0000
}

/// A link as `ip link show` reports it.
#[derive(Debug, Clone)]
pub struct LinkInfoRow {
    pub index: u32,
    pub name: String,
    pub kind: String,
    pub up: bool,
    pub state: String,
    pub mtu: u32,
    pub master: Option<u32>,
    /// For a veth: the peer's ifindex (in its own namespace).
    pub peer: Option<u32>,
    /// For a veth whose peer (or a macvlan/ipvlan whose lower link) is in
    /// another namespace: that namespace's id as seen from this one (see
    /// `Rtnl::nsid_of`).
    pub peer_nsid: Option<i32>,
    /// For a macvlan or ipvlan: the ifindex of the link it sits on.
    pub lower: Option<u32>,
    /// Carrier on (IFF_LOWER_UP).
    pub carrier: bool,
    /// Its link-layer (MAC) address; empty when it has none.
    pub mac: Vec<u8>,
    /// For a macvlan: its mode as `ip -d link` names it ("bridge",
    /// "private", "vepa", "passthru", "source"), which decides whom it
    /// talks to on its lower link.
    pub macvlan_mode: Option<&'static str>,
}

impl LinkInfoRow {
    /// Up, with carrier, but not yet carrying traffic. When a link's carrier
    /// comes on after it was opened (the first end of a veth once its peer
    /// comes up, a bridge once it has a port), the kernel swaps its no-op
    /// qdisc, which drops every packet, for the real one later, in the same
    /// asynchronous step (linkwatch) that sets its operstate. For a veth
    /// that step comes at once (a veth's events are always urgent), so
    /// "unknown" means not yet too (a new veth says so until then; "dormant"
    /// or "testing" are what a user asked for). Other kinds, bridges too,
    /// can say "unknown" for a second or for good while working fine; for
    /// them only "down" counts.
    pub fn activating(&self) -> bool {
        if !(self.up && self.carrier) {
            return false;
        }
        match self.kind.as_str() {
            "veth" => matches!(self.state.as_str(), "unknown" | "down" | "lowerlayerdown"),
            _ => matches!(self.state.as_str(), "down" | "lowerlayerdown"),
        }
    }
}

/// An address as `ip addr show` reports it.
#[derive(Debug, Clone)]
pub struct AddrRow {
    pub index: u32,
    pub addr: IpNet,
}

impl Rtnl {
    /// `ip link add A type veth peer name B netns NS`. The peer is created
    /// directly in its namespace: moving it later costs the kernel a full
    /// unregister/register cycle. (Both ends come up with `set_up_by_name`:
    /// an end cannot be opened before its peer is linked, ENOTCONN.)
    /// `a` comes up in the same request. The peer cannot: the kernel opens
    /// it before `a` exists (veth_open -> ENOTCONN), so it needs its own.
    /// `index` asks for the ifindex of either end (`ip link add A index I
    /// type veth peer name B index J`); the kernel refuses one in use.
    pub async fn add_veth(
        &self,
        a: &str,
        b: &str,
        peer_ns: Option<RawFd>,
        index: Ends,
    ) -> Result<Option<u32>> {
        // One queue each way, asked for up front (`numtxqueues 1 numrxqueues
        // 1`): a veth otherwise gets one per possible CPU and is then cut
        // down to the one it uses, and cutting queues waits for an expedited
        // RCU grace period, twice per veth, while holding the rtnl lock that
        // every other link change on the machine waits for. One queue is
        // what a veth uses either way (until someone raises it with
        // `ethtool -L`, which nslab does not do).
        fn one_queue<T>(m: LinkMessageBuilder<T>) -> LinkMessageBuilder<T> {
            m.append_extra_attribute(LinkAttribute::NumTxQueues(1))
                .append_extra_attribute(LinkAttribute::NumRxQueues(1))
        }
        let mut peer = one_queue(LinkMessageBuilder::<LinkUnspec>::new().name(b.to_string()));
        if let Some(fd) = peer_ns {
            peer = peer.setns_by_fd(fd);
        }
        let mut peer = peer.build();
        peer.header.index = index.1.unwrap_or(0);
        let mut msg = one_queue(LinkVeth::new(a, b).up())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        msg.header.index = index.0.unwrap_or(0);
        // NLM_F_ECHO: the kernel answers with the new link, index included,
        // which saves a lookup when the script adds an address next.
        let echoed = wire::answers(
            &self.conn,
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
        )
        .await
        .map_err(nl("create veth"))?;
        Ok(echoed.iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l)
                if l.attributes
                    .iter()
                    .any(|x| matches!(x, LinkAttribute::IfName(n) if n == a)) =>
            {
                Some(l.header.index)
            }
            _ => None,
        }))
    }

    /// `ip link set NAME up`, by name (no index lookup needed).
    pub async fn set_up_by_name(&self, name: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_name(name).up().build();
        self.change(msg, "set link up").await
    }

    /// `ip link add NAME [index I] type bridge && ip link set NAME up`.
    pub async fn add_bridge(&self, name: &str, index: Option<u32>) -> Result<()> {
        let mut msg = LinkBridge::new(name).up().build();
        msg.header.index = index.unwrap_or(0);
        self.create(RouteNetlinkMessage::NewLink(msg), "create bridge")
            .await
    }

    /// `ip link set NAME alias TEXT`.
    pub async fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        let mut msg = LinkUnspec::new_with_index(index).build();
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_string()));
        self.change(msg, "set alias").await
    }

    /// The ifindex of NAME (`ip link show NAME`), without dumping all links.
    pub async fn index_of(&self, name: &str) -> Result<u32> {
        Ok(self.link(name).await?.index)
    }

    /// Link `name`'s flags, with its pending activation finished first,
    /// without a netlink message (see `wire::Conn::link_flags`).
    pub fn link_flags(&self, name: &str) -> std::io::Result<Option<LinkLook>> {
        self.conn.link_flags(name)
    }

    /// One link's details (`ip -d link show NAME`).
    pub async fn link(&self, name: &str) -> Result<LinkInfoRow> {
        let msg = LinkUnspec::new_with_name(name).build();
        let got = wire::answers(&self.conn, RouteNetlinkMessage::GetLink(lean_ask(msg)), 0)
            .await
            .map_err(nl("look up link"))?;
        match got.first() {
            Some(RouteNetlinkMessage::NewLink(l)) => Ok(link_row(l)),
            _ => Err(NetError::os(
                "look up link",
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )),
        }
    }

    /// A request that makes something new and fails if it exists already
    /// (`ip link/addr/route add`).
    async fn create(&self, msg: RouteNetlinkMessage, op: &'static str) -> Result<()> {
        wire::ack(&self.conn, msg, NLM_F_CREATE | NLM_F_EXCL)
            .await
            .map_err(nl(op))
    }

    /// `ip link set`: RTM_NEWLINK without NLM_F_CREATE changes a link (unlike
    /// RTM_SETLINK it also takes bridge-port settings).
    async fn change(&self, msg: LinkMessage, op: &'static str) -> Result<()> {
        wire::ack(&self.conn, RouteNetlinkMessage::NewLink(msg), 0)
            .await
            .map_err(nl(op))
    }

    /// `ip link set NAME up|down`.
    pub async fn set_up(&self, index: u32, up: bool) -> Result<()> {
        let b = LinkUnspec::new_with_index(index);
        let msg = if up { b.up() } else { b.down() }.build();
        self.change(msg, "set link state").await
    }

    /// `ip link set NAME mtu N`.
    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
        self.change(msg, "set mtu").await
    }

    /// `ip link set NAME master BR` (or `nomaster` with `None`).
    /// `ip link set NAME master M up`, in one request, by name.
    pub async fn attach_by_name(&self, name: &str, master: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_name(name)
            .controller(master)
            .up()
            .build();
        self.change(msg, "set master").await
    }

    pub async fn set_master(&self, index: u32, master: Option<u32>) -> Result<()> {
        let b = LinkUnspec::new_with_index(index);
        let msg = match master {
            Some(m) => b.controller(m),
            None => b.nocontroller(),
        }
        .build();
        self.change(msg, "set master").await
    }

    /// `ip link del NAME`.
    pub async fn del_link(&self, index: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).build();
        wire::ack(&self.conn, RouteNetlinkMessage::DelLink(msg), 0)
            .await
            .map_err(nl("delete link"))
    }

    /// `ip link show`.
    pub async fn links(&self) -> Result<Vec<LinkInfoRow>> {
        let msg = lean_ask(LinkMessage::default());
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetLink(msg))
            .await
            .map_err(nl("list links"))?;
        Ok(got
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_row(l)),
                _ => None,
            })
            .collect())
    }

    /// `ip addr add ADDR dev DEV` (IPv6 with `nodad`: lab links need no
    /// duplicate detection, and it would hold the address back ~2 s).
    pub async fn add_addr(&self, index: u32, addr: IpNet) -> Result<()> {
        // As `ip addr add` does: local = peer address, and for IPv4 the
        // broadcast address of the prefix.
        let mut msg = match addr.addr() {
            IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(a, addr.prefix_len())
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(a, addr.prefix_len())
                .build(),
        };
        if addr.addr().is_ipv6() {
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.create(RouteNetlinkMessage::NewAddress(msg), "add address")
            .await
    }

    /// `ip addr del ADDR dev DEV`.
    pub async fn del_addr(&self, index: u32, addr: IpNet) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = if addr.addr().is_ipv4() {
            netlink_packet_route::AddressFamily::Inet
        } else {
            netlink_packet_route::AddressFamily::Inet6
        };
        msg.header.index = index;
        msg.header.prefix_len = addr.prefix_len();
        msg.attributes.push(AddressAttribute::Local(addr.addr()));
        if addr.addr().is_ipv6() {
            msg.attributes.push(AddressAttribute::Address(addr.addr()));
        }
        wire::ack(&self.conn, RouteNetlinkMessage::DelAddress(msg), 0)
            .await
            .map_err(nl("delete address"))
    }

    /// The links whose IPv6 link-local address is still tentative (in
    /// duplicate address detection), by index.
    pub async fn tentative_link_locals(&self) -> Result<std::collections::HashSet<u32>> {
        let mut ask = AddressMessage::default();
        ask.header.family = netlink_packet_route::AddressFamily::Inet6;
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetAddress(ask))
            .await
            .map_err(nl("list addresses"))?;
        let mut out = std::collections::HashSet::new();
        for m in got {
            let RouteNetlinkMessage::NewAddress(m) = m else {
                continue;
            };
            let mut link_local = false;
            let mut flags = AddressFlags::empty();
            for a in &m.attributes {
                match a {
                    AddressAttribute::Address(IpAddr::V6(ip)) => {
                        link_local = ip.is_unicast_link_local();
                    }
                    AddressAttribute::Flags(f) => flags = *f,
                    _ => {}
                }
            }
            if link_local
                && flags.contains(AddressFlags::Tentative)
                && !flags.contains(AddressFlags::Dadfailed)
            {
                out.insert(m.header.index);
            }
        }
        Ok(out)
    }

    /// `ip addr show`.
    pub async fn addrs(&self) -> Result<Vec<AddrRow>> {
        let got = wire::dump(
            &self.conn,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )
        .await
        .map_err(nl("list addresses"))?;
        let mut rows = Vec::new();
        for m in got {
            let RouteNetlinkMessage::NewAddress(m) = m else {
                continue;
            };
            let ip = m
                .attributes
                .iter()
                .find_map(|a| match a {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                })
                .or_else(|| {
                    m.attributes.iter().find_map(|a| match a {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    })
                });
            if let Some(ip) = ip
                && let Ok(net) = IpNet::new(ip, m.header.prefix_len)
            {
                rows.push(AddrRow {
                    index: m.header.index,
                    addr: net,
                });
            }
        }
        Ok(rows)
    }
}

/// A link query that spares the kernel the statistics nslab never reads
/// (RTEXT_FILTER_SKIP_STATS; kernels before 5.4 ignore it and send them).
fn lean_ask(mut msg: LinkMessage) -> LinkMessage {
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    msg
}

/// A macvlan mode as `ip -d link` names it.
fn macvlan_mode_name(m: &MacVlanMode) -> &'static str {
    match m {
        MacVlanMode::Private => "private",
        MacVlanMode::Vepa => "vepa",
        MacVlanMode::Bridge => "bridge",
        MacVlanMode::Passthrough => "passthru",
        MacVlanMode::Source => "source",
        _ => "unknown",
    }
}

fn link_row(msg: &LinkMessage) -> LinkInfoRow {
    let mut row = LinkInfoRow {
        index: msg.header.index,
        name: String::new(),
        kind: String::new(),
        up: msg.header.flags.contains(LinkFlags::Up),
        state: String::new(),
        mtu: 0,
        master: None,
        peer: None,
        peer_nsid: None,
        lower: None,
        carrier: msg.header.flags.contains(LinkFlags::LowerUp),
        mac: Vec::new(),
        macvlan_mode: None,
    };
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => row.name = n.clone(),
            LinkAttribute::Address(a) => row.mac = a.clone(),
            LinkAttribute::Mtu(m) => row.mtu = *m,
            LinkAttribute::Controller(m) => row.master = Some(*m),
            LinkAttribute::Link(p) => row.peer = Some(*p),
            LinkAttribute::LinkNetNsId(n) => row.peer_nsid = Some(*n),
            LinkAttribute::OperState(s) => {
                row.state = match s {
                    State::Up => "up",
                    State::Down => "down",
                    State::LowerLayerDown => "lowerlayerdown",
                    State::Dormant => "dormant",
                    State::NotPresent => "notpresent",
                    State::Testing => "testing",
                    _ => "unknown",
                }
                .into()
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => {
                            row.kind = match k {
                                InfoKind::Veth => "veth".into(),
                                InfoKind::Bridge => "bridge".into(),
                                other => other.to_string(),
                            }
                        }
                        LinkInfo::Data(InfoData::MacVlan(d)) => {
                            row.macvlan_mode = d.iter().find_map(|x| match x {
                                InfoMacVlan::Mode(m) => Some(macvlan_mode_name(m)),
                                _ => None,
                            })
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if row.kind.is_empty() && row.name == "lo" {
        row.kind = "loopback".into();
    }
    if matches!(
        row.kind.as_str(),
        "macvlan" | "ipvlan" | "macvtap" | "ipvtap"
    ) {
        row.lower = row.peer;
    } else if row.kind != "veth" {
        row.peer_nsid = None;
    }
    if row.kind != "veth" {
        row.peer = None;
    }
    row
}
