//! The seam: everything the walk reads of the lab and its kernel goes
//! through `Kernel`. The lab implements it with netlink, /proc and `nft`
//! (src/lab/explain.rs); the unit tests implement it in memory
//! (`fake.rs`), so the walk's rules are tested without root.
//!
//! The calls are raw reads, one per kernel question; caching them for one
//! explanation and parsing the ruleset is `World`'s job, not the
//! implementation's.

use std::net::IpAddr;

use crate::net::NetError;
use crate::net::probe::Proto;
use crate::net::rtnl::{
    AddrRow, FibEntry, LinkInfoRow, NeighEntry, PortState, RouteAnswer, RouteQuery, Vxlan,
};

/// A namespace of the lab, as the explanation names it: an opaque number
/// the `Kernel` hands out and takes back (the lab's own `NsId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ns(pub usize);

pub type Read<T> = Result<T, NetError>;

/// What the explanation asks of the lab: its namespaces, the links,
/// addresses, routes, neighbours, sysctls, bridge ports, sockets and
/// nf_tables rules in each, and what the lab remembers of the links it
/// made (veth pairs, macvlan parents, VXLANs), which the kernel does not
/// say across namespaces.
pub trait Kernel {
    /// The namespace's name as scripts know it (`"host"` for the host).
    fn name(&self, ns: Ns) -> String;
    /// The namespaces the lab works in (the host first), still open.
    fn namespaces(&self) -> Vec<Ns>;

    /// `ip link show` in `ns`.
    fn links(&mut self, ns: Ns) -> Read<Vec<LinkInfoRow>>;
    /// `ip addr show` in `ns`, both families.
    fn addrs(&mut self, ns: Ns) -> Read<Vec<AddrRow>>;
    /// The STP state and isolation of every bridge port in `ns`.
    fn port_states(&mut self, ns: Ns) -> Read<Vec<PortState>>;
    /// `ip route get …` in `ns`: the kernel's lookup for that packet (with
    /// `iif`, the input path: forwarding, rp_filter, martians). Its errno
    /// is what the walk narrows down.
    fn route_get(&mut self, ns: Ns, q: &RouteQuery) -> Read<RouteAnswer>;
    /// `ip route show table all` in `ns`, one family.
    fn fib(&mut self, ns: Ns, v6: bool) -> Read<Vec<FibEntry>>;
    /// `ip neigh show` in `ns`, one family.
    fn neighbours(&mut self, ns: Ns, v6: bool) -> Read<Vec<NeighEntry>>;
    /// The links of `ns` whose IPv6 link-local address is still in
    /// duplicate address detection.
    fn tentative_link_locals(&mut self, ns: Ns) -> Read<Vec<u32>>;
    /// `sysctl KEY` in `ns` (`net/ipv4/ip_forward`, slashes).
    fn sysctl(&mut self, ns: Ns, key: &str) -> Read<String>;
    /// Does a socket in `ns` listen on `port` (`proto`) for `addr`?
    fn listening(&mut self, ns: Ns, proto: Proto, port: u16, addr: IpAddr) -> Read<bool>;
    /// `nft -j list ruleset` in `ns` (an error when `nft` is missing).
    fn ruleset(&mut self, ns: Ns) -> Read<String>;
    /// Can firewall rules be read here at all (is `nft` installed)?
    fn reads_firewall(&self) -> bool;

    /// The other end of a veth the lab made.
    fn veth_peer(&self, ns: Ns, link: &str) -> Option<(Ns, String)>;
    /// The parent of a macvlan or ipvlan the lab made.
    fn sub_parent(&self, ns: Ns, link: &str) -> Option<(Ns, String)>;
    /// The macvlans and ipvlans the lab made on a parent, sorted.
    fn sub_children(&self, ns: Ns, link: &str) -> Vec<(Ns, String)>;
    /// The VXLANs the lab made: where each is, its VNI, far end and port,
    /// sorted by namespace and name.
    fn vxlans(&self) -> Vec<(Ns, String, Vxlan)>;
    /// The name of the lab's own nf_tables table (`inet` family).
    fn lab_table(&self) -> String;
    /// The programs running in `ns` (`ip netns pids`, by name): a routing
    /// daemon there explains a route that is missing differently.
    fn programs(&mut self, ns: Ns) -> Vec<String>;

    // A lab spread over machines (a lab on one machine, and the fake
    // world, have none of it).
    /// The VXLAN end of a link between machines that `link` of `ns` is.
    fn across(&self, _ns: Ns, _link: &str) -> Option<Across> {
        None
    }
    /// The machine `ns` is placed on, when not this one.
    fn machine(&self, _ns: Ns) -> Option<String> {
        None
    }
    /// A namespace placed on another machine, by its name.
    fn placed_named(&self, _name: &str) -> Option<Ns> {
        None
    }
    /// The walk on from `ns`, placed on another machine, by its agent.
    fn far_leg(&mut self, _ns: Ns, _ask: &LegAsk) -> Result<LegDone, String> {
        Err("the namespace is on another machine".into())
    }
}

/// A VXLAN end of a link between machines (a veth whose ends the script
/// put on two machines): what the walk needs to name the hop and to check
/// the underlay the link's UDP crosses.
#[derive(Debug, Clone)]
pub struct Across {
    pub vni: u32,
    /// The UDP port the far machine's end listens on.
    pub port: u16,
    /// This machine's underlay address, and the far machine's.
    pub local: IpAddr,
    pub remote: IpAddr,
    /// The namespace the link's UDP socket lives in: the machine's own.
    pub underlay: Ns,
    /// This machine's name and the far one's, as the script's run names them.
    pub here: String,
    pub there: String,
    /// The other end, when this lab knows it (the driver does, an agent
    /// does not): its namespace and link.
    pub far: Option<(Ns, String)>,
}

/// What the walk asks the agent of another machine: follow the packet on
/// from a namespace there, arriving on `iif` (`None`: made there).
#[derive(Debug, Clone)]
pub struct LegAsk {
    pub dir: super::Dir,
    pub iif: Option<String>,
    pub src: Option<IpAddr>,
    pub dst: IpAddr,
    pub pkt: super::Packet,
    pub dnatted: bool,
}

/// How a leg walked on another machine ended there.
#[derive(Debug, Clone)]
pub enum LegEnd {
    Delivered {
        ns: String,
        src: IpAddr,
        dst: IpAddr,
    },
    Lost(super::Finding),
    Unknown(String),
    /// It left by `link` of `ns`, the VXLAN end of a link between machines
    /// whose other end that machine's agent does not know.
    Crossed {
        ns: String,
        link: String,
        src: Option<IpAddr>,
        dst: IpAddr,
    },
}

/// A leg walked on another machine: its hops (namespaces by their names
/// there) and how it ended.
#[derive(Debug, Clone)]
pub struct LegDone {
    pub hops: Vec<super::Hop>,
    pub end: LegEnd,
    pub suspects: Vec<super::Finding>,
    pub checked: Vec<String>,
    pub firewalled: Vec<(String, usize)>,
}
