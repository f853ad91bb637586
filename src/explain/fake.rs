//! A lab in memory, for the walk's unit tests: namespaces, veths, bridges,
//! addresses, routes, sysctls, neighbours, rulesets, built in a few calls
//! (`Fake::new().ns("h1")…`), and a route lookup that answers as the
//! kernel does for the cases the walk narrows down (see the notes on
//! `Rtnl::route_get`): ENETUNREACH without a route, EHOSTUNREACH when an
//! IPv4 router does not forward, EINVAL for a blackhole, a martian source
//! or the reverse-path filter, EACCES for prohibit.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::kernel::{Across, Kernel, LegAsk, LegDone, Ns, Read};
use crate::net::NetError;
use crate::net::probe::Proto;
use crate::net::rtnl::{
    AddrRow, FibEntry, LinkInfoRow, NeighEntry, PortState, RouteAnswer, RouteQuery, Vxlan,
};

/// A route of the fake's tables; connected routes are made from the
/// addresses of links that are up, as the kernel does.
#[derive(Debug, Clone)]
struct Route {
    dst: IpNet,
    kind: &'static str,
    table: u32,
    /// The link it goes out by (by name); `None` for blackhole & co.
    dev: Option<String>,
    gateway: Option<IpAddr>,
    mtu: Option<u32>,
    cached: bool,
    /// "kernel" (connected), "static", "ospf", …
    protocol: &'static str,
}

#[derive(Default)]
struct Space {
    name: String,
    links: Vec<LinkInfoRow>,
    addrs: Vec<AddrRow>,
    routes: Vec<Route>,
    neighbours: Vec<NeighEntry>,
    ports: Vec<PortState>,
    sysctls: HashMap<String, String>,
    listening: HashSet<(bool, u16)>,
    ruleset: String,
    tentative: Vec<u32>,
    /// Addresses still in DAD: held, but not local to a route lookup.
    tentative_addrs: HashSet<IpAddr>,
    /// Programs running there (`ip netns pids`).
    programs: Vec<String>,
    /// Links whose carrier is off whatever their other end says.
    no_carrier: HashSet<String>,
    /// What every lookup for a packet arriving here fails with (a policy
    /// rule, which the fake does not model otherwise).
    refuse: Option<nix::errno::Errno>,
}

/// The lab's own nf_tables table in the fake.
pub const TABLE: &str = "nslab-t";

#[derive(Default)]
pub struct Fake {
    spaces: Vec<Space>,
    peers: HashMap<(Ns, String), (Ns, String)>,
    parents: HashMap<(Ns, String), (Ns, String)>,
    vxlans: Vec<(Ns, String, Vxlan)>,
    /// Links between machines, namespaces placed on other machines, and
    /// the other machine's lab (one agent), which walks their part.
    across: HashMap<(Ns, String), Across>,
    placed: HashMap<Ns, String>,
    agent: Option<Box<Fake>>,
    /// A machine without `nft` (`without_nft`).
    no_nft: bool,
}

fn net(s: &str) -> IpNet {
    if s == "default" {
        return "0.0.0.0/0".parse().expect("a prefix");
    }
    if s == "default6" {
        return "::/0".parse().expect("a prefix");
    }
    s.parse()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .expect("a prefix or an address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

fn fail<T>(errno: nix::errno::Errno) -> Read<T> {
    Err(NetError::errno("route get", errno))
}

impl Fake {
    pub fn new() -> Fake {
        Fake::default()
    }

    /// A machine where `nft` is not installed: no firewall rule is read.
    pub fn without_nft(&mut self) -> &mut Fake {
        self.no_nft = true;
        self
    }

    /// A namespace, with its loopback.
    pub fn ns(&mut self, name: &str) -> Ns {
        let mut s = Space {
            name: name.into(),
            ..Space::default()
        };
        s.links.push(LinkInfoRow {
            index: 1,
            name: "lo".into(),
            kind: "loopback".into(),
            up: true,
            state: "unknown".into(),
            mtu: 65536,
            master: None,
            peer: None,
            peer_nsid: None,
            lower: None,
            carrier: true,
            mac: Vec::new(),
            macvlan_mode: None,
        });
        self.spaces.push(s);
        Ns(self.spaces.len() - 1)
    }

    fn space(&mut self, ns: Ns) -> &mut Space {
        &mut self.spaces[ns.0]
    }

    fn add_link(&mut self, ns: Ns, name: &str, kind: &str) -> u32 {
        let s = self.space(ns);
        let index = s.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
        s.links.push(LinkInfoRow {
            index,
            name: name.into(),
            kind: kind.into(),
            up: true,
            state: "up".into(),
            mtu: 1500,
            master: None,
            peer: None,
            peer_nsid: None,
            lower: None,
            carrier: true,
            mac: Vec::new(),
            macvlan_mode: None,
        });
        index
    }

    fn link_mut(&mut self, ns: Ns, name: &str) -> &mut LinkInfoRow {
        self.space(ns)
            .links
            .iter_mut()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no link {name}"))
    }

    fn index(&self, ns: Ns, name: &str) -> u32 {
        self.spaces[ns.0]
            .links
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.index)
            .unwrap_or_else(|| panic!("no link {name}"))
    }

    /// A veth pair, both ends up.
    pub fn veth(&mut self, a: Ns, an: &str, b: Ns, bn: &str) -> &mut Self {
        let ai = self.add_link(a, an, "veth");
        let bi = self.add_link(b, bn, "veth");
        self.link_mut(a, an).peer = Some(bi);
        self.link_mut(b, bn).peer = Some(ai);
        self.peers.insert((a, an.into()), (b, bn.into()));
        self.peers.insert((b, bn.into()), (a, an.into()));
        self
    }

    pub fn bridge(&mut self, ns: Ns, name: &str) -> &mut Self {
        self.add_link(ns, name, "bridge");
        self
    }

    /// `port` of `ns` joins bridge `br`, forwarding.
    pub fn attach(&mut self, ns: Ns, br: &str, port: &str) -> &mut Self {
        let b = self.index(ns, br);
        let l = self.link_mut(ns, port);
        l.master = Some(b);
        let index = l.index;
        self.space(ns).ports.push(PortState {
            index,
            master: Some(b),
            state: 3,
            isolated: false,
            hairpin: false,
        });
        self
    }

    /// A bridge port's STP state (BR_STATE_*) and isolation.
    pub fn port(&mut self, ns: Ns, port: &str, state: u8, isolated: bool) -> &mut Self {
        let index = self.index(ns, port);
        let p = self
            .space(ns)
            .ports
            .iter_mut()
            .find(|p| p.index == index)
            .expect("a bridge port");
        p.state = state;
        p.isolated = isolated;
        self
    }

    /// A bridge port's hairpin mode.
    pub fn hairpin(&mut self, ns: Ns, port: &str, on: bool) -> &mut Self {
        let index = self.index(ns, port);
        let p = self
            .space(ns)
            .ports
            .iter_mut()
            .find(|p| p.index == index)
            .expect("a bridge port");
        p.hairpin = on;
        self
    }

    /// A macvlan `name` in `ns` on `parent` of `pns`, in bridge mode.
    pub fn macvlan(&mut self, pns: Ns, parent: &str, ns: Ns, name: &str) -> &mut Self {
        self.macvlan_in(pns, parent, ns, name, "bridge")
    }

    /// A macvlan `name` in `ns` on `parent` of `pns`, in `mode`.
    pub fn macvlan_in(
        &mut self,
        pns: Ns,
        parent: &str,
        ns: Ns,
        name: &str,
        mode: &'static str,
    ) -> &mut Self {
        let lower = self.index(pns, parent);
        self.add_link(ns, name, "macvlan");
        let l = self.link_mut(ns, name);
        l.lower = Some(lower);
        l.macvlan_mode = Some(mode);
        self.parents.insert((ns, name.into()), (pns, parent.into()));
        self
    }

    /// A namespace placed on machine `m`: its state is in the agent's lab
    /// (`agent`), under the same name.
    pub fn placed(&mut self, name: &str, m: &str) -> Ns {
        let n = self.ns(name);
        self.placed.insert(n, m.into());
        n
    }

    /// `link` of `ns` is the VXLAN end of a link between machines.
    pub fn across(&mut self, ns: Ns, link: &str, x: Across) -> &mut Self {
        self.across.insert((ns, link.into()), x);
        self
    }

    /// The other machine's lab, whose agent walks the placed namespaces.
    pub fn agent(&mut self, agent: Fake) -> &mut Self {
        self.agent = Some(Box::new(agent));
        self
    }

    /// A link of a kind nslab does not follow (a dummy, a physical one).
    pub fn other_link(&mut self, ns: Ns, name: &str, kind: &str) -> &mut Self {
        self.add_link(ns, name, kind);
        self
    }

    pub fn addr(&mut self, ns: Ns, link: &str, a: &str) -> &mut Self {
        let index = self.index(ns, link);
        let addr: IpNet = a.parse().expect("an address with its prefix");
        self.space(ns).addrs.push(AddrRow { index, addr });
        self
    }

    pub fn down(&mut self, ns: Ns, link: &str) -> &mut Self {
        let l = self.link_mut(ns, link);
        l.up = false;
        l.state = "down".into();
        self
    }

    pub fn mtu(&mut self, ns: Ns, link: &str, mtu: u32) -> &mut Self {
        self.link_mut(ns, link).mtu = mtu;
        self
    }

    fn push_route(&mut self, ns: Ns, r: Route) -> &mut Self {
        self.space(ns).routes.push(r);
        self
    }

    /// `ip route add DST via GW` (`"default"`/`"default6"` for DST); the
    /// link is the one whose subnet holds GW.
    pub fn route(&mut self, ns: Ns, dst: &str, via: &str) -> &mut Self {
        let gw = ip(via);
        let dev = self.spaces[ns.0]
            .addrs
            .iter()
            .find(|a| a.addr.contains(&gw))
            .map(|a| a.index)
            .expect("a link in the gateway's subnet");
        let dev = self.link_name(ns, dev);
        self.push_route(
            ns,
            Route {
                dst: net(dst),
                kind: "unicast",
                table: 254,
                dev: Some(dev),
                gateway: Some(gw),
                mtu: None,
                cached: false,
                protocol: "static",
            },
        )
    }

    /// Program `name` runs in `ns` (a routing daemon, say).
    pub fn runs(&mut self, ns: Ns, name: &str) -> &mut Self {
        self.spaces[ns.0].programs.push(name.into());
        self
    }

    /// A route to `dst` via `via` that `protocol` ("ospf", "bgp") made.
    pub fn learned(&mut self, ns: Ns, dst: &str, via: &str, protocol: &'static str) -> &mut Self {
        self.route(ns, dst, via);
        if let Some(r) = self.spaces[ns.0].routes.last_mut() {
            r.protocol = protocol;
        }
        self
    }

    /// A VXLAN `name` in `ns` with `vni` whose far end is `remote`.
    pub fn vxlan(&mut self, ns: Ns, name: &str, vni: u32, remote: &str) -> &mut Self {
        self.add_link(ns, name, "vxlan");
        self.vxlans.push((
            ns,
            name.into(),
            Vxlan {
                vni,
                remote: Some(ip(remote)),
                local: None,
                dev: None,
                port: 4789,
            },
        ));
        self
    }

    /// A policy rule in `ns` makes every lookup for a packet arriving
    /// there fail with `errno`.
    pub fn rule_refuses(&mut self, ns: Ns, errno: nix::errno::Errno) -> &mut Self {
        self.space(ns).refuse = Some(errno);
        self
    }

    /// `ip route del DST`, every one of that destination.
    pub fn unroute(&mut self, ns: Ns, dst: &str) -> &mut Self {
        let d = net(dst);
        self.space(ns).routes.retain(|r| r.dst != d);
        self
    }

    /// `ip route add DST dev DEV`.
    pub fn route_dev(&mut self, ns: Ns, dst: &str, dev: &str) -> &mut Self {
        self.push_route(
            ns,
            Route {
                dst: net(dst),
                kind: "unicast",
                table: 254,
                dev: Some(dev.into()),
                gateway: None,
                mtu: None,
                cached: false,
                protocol: "static",
            },
        )
    }

    /// A blackhole, unreachable or prohibit route in `table`.
    pub fn special(&mut self, ns: Ns, kind: &'static str, dst: &str, table: u32) -> &mut Self {
        self.push_route(
            ns,
            Route {
                dst: net(dst),
                kind,
                table,
                dev: None,
                gateway: None,
                mtu: None,
                cached: false,
                protocol: "static",
            },
        )
    }

    /// The MTU on the routes to `dst` of `ns` (`cached`: learned from a
    /// "fragmentation needed", not set).
    pub fn route_mtu(&mut self, ns: Ns, dst: &str, mtu: u32, cached: bool) -> &mut Self {
        let d = net(dst);
        for r in self.space(ns).routes.iter_mut().filter(|r| r.dst == d) {
            r.mtu = Some(mtu);
            r.cached = cached;
        }
        self
    }

    pub fn sysctl(&mut self, ns: Ns, key: &str, value: &str) -> &mut Self {
        self.space(ns).sysctls.insert(key.into(), value.into());
        self
    }

    /// `ns.forwarding(on)`: IPv4 and IPv6.
    pub fn forwarding(&mut self, ns: Ns, on: bool) -> &mut Self {
        let v = if on { "1" } else { "0" };
        self.sysctl(ns, "net/ipv4/ip_forward", v)
            .sysctl(ns, "net/ipv6/conf/all/forwarding", v)
    }

    /// `ns`'s neighbour entry for `ip` on `link` is `state`.
    pub fn neighbour(&mut self, ns: Ns, link: &str, ip_: &str, state: &str) -> &mut Self {
        let ifindex = self.index(ns, link);
        self.space(ns).neighbours.push(NeighEntry {
            ifindex,
            dst: ip(ip_),
            state: state.into(),
        });
        self
    }

    /// The IPv6 link-local address of `link` is still in DAD.
    pub fn tentative(&mut self, ns: Ns, link: &str) -> &mut Self {
        let i = self.index(ns, link);
        self.space(ns).tentative.push(i);
        self
    }

    /// An IPv6 address of `ns` (added with `addr`) still in DAD: the
    /// kernel holds it, but a route lookup does not find it local.
    pub fn tentative_addr(&mut self, ns: Ns, addr: &str) -> &mut Self {
        self.space(ns).tentative_addrs.insert(ip(addr));
        self
    }

    pub fn listen(&mut self, ns: Ns, proto: Proto, port: u16) -> &mut Self {
        self.space(ns).listening.insert((proto == Proto::Tcp, port));
        self
    }

    /// `ns`'s ruleset, as `nft -j list ruleset` prints it.
    pub fn nft(&mut self, ns: Ns, json: &str) -> &mut Self {
        self.space(ns).ruleset = json.into();
        self
    }

    fn link_name(&self, ns: Ns, index: u32) -> String {
        self.spaces[ns.0]
            .links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.clone())
            .unwrap_or_default()
    }

    fn link(&self, ns: Ns, name: &str) -> Option<&LinkInfoRow> {
        self.spaces[ns.0].links.iter().find(|l| l.name == name)
    }

    /// Carrier as the kernel derives it: a veth carries when both ends
    /// are up, a macvlan when its parent carries.
    fn carrier(&self, ns: Ns, l: &LinkInfoRow) -> bool {
        if !l.up || self.spaces[ns.0].no_carrier.contains(&l.name) {
            return false;
        }
        let other = match l.kind.as_str() {
            "veth" => self.peers.get(&(ns, l.name.clone())),
            "macvlan" => self.parents.get(&(ns, l.name.clone())),
            _ => None,
        };
        match other {
            Some((ons, on)) => self.link(*ons, on).is_some_and(|o| {
                if l.kind == "veth" {
                    o.up
                } else {
                    self.carrier(*ons, o)
                }
            }),
            None => true,
        }
    }

    fn is_local(&self, ns: Ns, a: IpAddr) -> bool {
        let s = &self.spaces[ns.0];
        !s.tentative_addrs.contains(&a) && s.addrs.iter().any(|x| x.addr.addr() == a)
    }

    /// Every route of `ns` the kernel holds now: the connected ones of
    /// links up, and those added whose link is up.
    fn routes(&self, ns: Ns, v6: bool) -> Vec<Route> {
        let s = &self.spaces[ns.0];
        let up = |dev: &Option<String>| {
            dev.as_ref()
                .is_none_or(|d| self.link(ns, d).is_some_and(|l| l.up))
        };
        let mut out: Vec<Route> = s
            .addrs
            .iter()
            .filter(|a| a.addr.addr().is_ipv6() == v6)
            .filter_map(|a| {
                let l = s.links.iter().find(|l| l.index == a.index)?;
                (l.up && l.kind != "loopback").then(|| Route {
                    dst: a.addr.trunc(),
                    kind: "unicast",
                    table: 254,
                    dev: Some(l.name.clone()),
                    gateway: None,
                    mtu: None,
                    cached: false,
                    protocol: "kernel",
                })
            })
            .collect();
        out.extend(
            s.routes
                .iter()
                .filter(|r| r.dst.addr().is_ipv6() == v6 && up(&r.dev))
                .cloned(),
        );
        out
    }

    fn best(&self, ns: Ns, dst: IpAddr) -> Option<Route> {
        let mut best: Option<Route> = None;
        for r in self.routes(ns, dst.is_ipv6()) {
            if r.dst.contains(&dst)
                && best
                    .as_ref()
                    .is_none_or(|b| r.dst.prefix_len() > b.dst.prefix_len())
            {
                best = Some(r);
            }
        }
        best
    }

    fn num(&self, ns: Ns, key: &str) -> i64 {
        self.spaces[ns.0]
            .sysctls
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Kernel for Fake {
    fn reads_firewall(&self) -> bool {
        !self.no_nft
    }

    fn name(&self, ns: Ns) -> String {
        self.spaces[ns.0].name.clone()
    }

    fn namespaces(&self) -> Vec<Ns> {
        (0..self.spaces.len()).map(Ns).collect()
    }

    fn links(&mut self, ns: Ns) -> Read<Vec<LinkInfoRow>> {
        let mut links = self.spaces[ns.0].links.clone();
        for l in &mut links {
            l.carrier = self.carrier(ns, l);
        }
        Ok(links)
    }

    fn addrs(&mut self, ns: Ns) -> Read<Vec<AddrRow>> {
        Ok(self.spaces[ns.0].addrs.clone())
    }

    fn port_states(&mut self, ns: Ns) -> Read<Vec<PortState>> {
        Ok(self.spaces[ns.0].ports.clone())
    }

    fn route_get(&mut self, ns: Ns, q: &RouteQuery) -> Read<RouteAnswer> {
        use nix::errno::Errno;
        let v4 = q.dst.is_ipv4();
        match (q.iif, q.src) {
            (Some(_), None) => return fail(Errno::EINVAL),
            (Some(_), Some(s)) if self.is_local(ns, s) => return fail(Errno::EINVAL),
            (None, Some(s)) if !self.is_local(ns, s) => return fail(Errno::EINVAL),
            _ => {}
        }
        if let (Some(_), Some(e)) = (q.iif, self.spaces[ns.0].refuse) {
            return fail(e);
        }
        if self.is_local(ns, q.dst) {
            return Ok(RouteAnswer {
                kind: "local".into(),
                table: 255,
                oif: Some(1),
                gateway: None,
                prefsrc: Some(q.dst),
                mtu: None,
                cached: false,
            });
        }
        let iif = q.iif.map(|i| self.link_name(ns, i));
        let forwards = |f: &Fake| {
            let dev = iif
                .as_ref()
                .map(|i| format!("net/ipv4/conf/{i}/forwarding"));
            let all = f.num(ns, "net/ipv4/ip_forward");
            match dev.and_then(|k| f.spaces[ns.0].sysctls.get(&k).cloned()) {
                Some(d) => all != 0 && d != "0",
                None => all != 0,
            }
        };
        let Some(r) = self.best(ns, q.dst) else {
            if iif.is_some() && v4 && !forwards(self) {
                return fail(Errno::EHOSTUNREACH);
            }
            return fail(Errno::ENETUNREACH);
        };
        match r.kind {
            "blackhole" => return fail(Errno::EINVAL),
            "unreachable" => return fail(Errno::EHOSTUNREACH),
            "prohibit" => return fail(Errno::EACCES),
            _ => {}
        }
        let oif = r.dev.as_ref().map(|d| self.index(ns, d));
        if let (Some(i), Some(src), true) = (&iif, q.src, v4) {
            if !forwards(self) {
                return fail(Errno::EHOSTUNREACH);
            }
            let all = self.num(ns, "net/ipv4/conf/all/rp_filter");
            let dev = self.num(ns, &format!("net/ipv4/conf/{i}/rp_filter"));
            let rp = all.max(dev);
            let back = self.best(ns, src);
            let back_oif = back.and_then(|b| b.dev).map(|d| self.index(ns, &d));
            if rp > 0 && (back_oif.is_none() || rp == 1 && back_oif != q.iif) {
                return fail(Errno::EINVAL);
            }
        }
        let prefsrc = oif.and_then(|o| {
            self.spaces[ns.0]
                .addrs
                .iter()
                .find(|a| a.index == o && a.addr.addr().is_ipv4() == v4)
                .map(|a| a.addr.addr())
        });
        Ok(RouteAnswer {
            kind: "unicast".into(),
            table: r.table,
            oif,
            gateway: r.gateway,
            prefsrc,
            mtu: r.mtu,
            cached: r.cached,
        })
    }

    fn fib(&mut self, ns: Ns, v6: bool) -> Read<Vec<FibEntry>> {
        Ok(self
            .routes(ns, v6)
            .into_iter()
            .map(|r| FibEntry {
                dst: r.dst,
                kind: r.kind.into(),
                table: r.table,
                oif: r.dev.map(|d| self.index(ns, &d)),
                gateway: r.gateway,
                protocol: r.protocol.into(),
            })
            .collect())
    }

    fn neighbours(&mut self, ns: Ns, v6: bool) -> Read<Vec<NeighEntry>> {
        Ok(self.spaces[ns.0]
            .neighbours
            .iter()
            .filter(|n| n.dst.is_ipv6() == v6)
            .cloned()
            .collect())
    }

    fn tentative_link_locals(&mut self, ns: Ns) -> Read<Vec<u32>> {
        Ok(self.spaces[ns.0].tentative.clone())
    }

    fn sysctl(&mut self, ns: Ns, key: &str) -> Read<String> {
        let s = &self.spaces[ns.0].sysctls;
        if let Some(v) = s.get(key) {
            return Ok(v.clone());
        }
        // A link's forwarding follows ip_forward until set on its own.
        if key.starts_with("net/ipv4/conf/") && key.ends_with("/forwarding") {
            return Ok(self.num(ns, "net/ipv4/ip_forward").to_string());
        }
        Ok("0".into())
    }

    fn listening(&mut self, ns: Ns, proto: Proto, port: u16, _addr: IpAddr) -> Read<bool> {
        Ok(self.spaces[ns.0]
            .listening
            .contains(&(proto == Proto::Tcp, port)))
    }

    fn ruleset(&mut self, ns: Ns) -> Read<String> {
        Ok(self.spaces[ns.0].ruleset.clone())
    }

    fn veth_peer(&self, ns: Ns, link: &str) -> Option<(Ns, String)> {
        self.peers.get(&(ns, link.to_string())).cloned()
    }

    fn sub_parent(&self, ns: Ns, link: &str) -> Option<(Ns, String)> {
        self.parents.get(&(ns, link.to_string())).cloned()
    }

    fn sub_children(&self, ns: Ns, link: &str) -> Vec<(Ns, String)> {
        let p = (ns, link.to_string());
        let mut v: Vec<(Ns, String)> = self
            .parents
            .iter()
            .filter(|(_, parent)| **parent == p)
            .map(|(c, _)| c.clone())
            .collect();
        v.sort();
        v
    }

    fn vxlans(&self) -> Vec<(Ns, String, Vxlan)> {
        self.vxlans.clone()
    }

    fn lab_table(&self) -> String {
        TABLE.into()
    }

    fn programs(&mut self, ns: Ns) -> Vec<String> {
        self.spaces[ns.0].programs.clone()
    }

    fn across(&self, ns: Ns, link: &str) -> Option<Across> {
        self.across.get(&(ns, link.to_string())).cloned()
    }

    fn machine(&self, ns: Ns) -> Option<String> {
        self.placed.get(&ns).cloned()
    }

    fn placed_named(&self, name: &str) -> Option<Ns> {
        self.placed
            .keys()
            .find(|n| self.spaces[n.0].name == name)
            .copied()
    }

    fn far_leg(&mut self, ns: Ns, ask: &LegAsk) -> Result<LegDone, String> {
        let name = self.spaces[ns.0].name.clone();
        let agent = self.agent.as_mut().ok_or("no agent")?;
        let id = agent
            .spaces
            .iter()
            .position(|s| s.name == name)
            .map(Ns)
            .ok_or("no such namespace there")?;
        Ok(super::walk_leg(agent.as_mut(), id, ask))
    }
}
