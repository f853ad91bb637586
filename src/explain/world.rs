//! The lab as the explanation sees it, through the `Kernel` seam: each
//! namespace's links, addresses and rules, read once per explanation, and
//! the few other things it asks (route lookups, sysctls, sockets).

use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;

use super::firewall::{self, Ruleset};
use super::kernel::{Across, Kernel, LegAsk, LegDone, Ns};
use super::nat::{self, DnatRule, NatRule};
use crate::net::NetError;
use crate::net::probe::Proto;
use crate::net::rtnl::{
    AddrRow, FibEntry, LinkInfoRow, NeighEntry, PortState, RouteAnswer, RouteQuery, Vxlan,
};

/// A namespace's nf_tables rules as the walk reads them: source NAT,
/// filter chains, destination NAT.
pub type Rules = (Vec<NatRule>, Ruleset, Vec<DnatRule>);

pub struct World<'a> {
    k: &'a mut dyn Kernel,
    links: HashMap<Ns, Vec<LinkInfoRow>>,
    addrs: HashMap<Ns, Vec<AddrRow>>,
    rules: HashMap<Ns, Rc<Rules>>,
    ports: HashMap<Ns, Vec<PortState>>,
    /// Namespaces whose nf_tables ruleset holds rules (for "what was checked").
    pub firewalled: HashMap<Ns, usize>,
}

impl<'a> World<'a> {
    pub fn new(k: &'a mut dyn Kernel) -> World<'a> {
        World {
            k,
            links: HashMap::new(),
            addrs: HashMap::new(),
            rules: HashMap::new(),
            ports: HashMap::new(),
            firewalled: HashMap::new(),
        }
    }

    pub fn reads_firewall(&self) -> bool {
        self.k.reads_firewall()
    }

    pub fn name(&self, id: Ns) -> String {
        self.k.name(id)
    }

    pub fn namespaces(&self) -> Vec<Ns> {
        self.k.namespaces()
    }

    pub fn links(&mut self, id: Ns) -> &[LinkInfoRow] {
        if !self.links.contains_key(&id) {
            let got = self.k.links(id).unwrap_or_default();
            self.links.insert(id, got);
        }
        &self.links[&id]
    }

    pub fn link(&mut self, id: Ns, index: u32) -> Option<LinkInfoRow> {
        self.links(id).iter().find(|l| l.index == index).cloned()
    }

    pub fn link_named(&mut self, id: Ns, name: &str) -> Option<LinkInfoRow> {
        self.links(id).iter().find(|l| l.name == name).cloned()
    }

    /// The STP state and isolation of bridge port `index` of `id`; `None`
    /// when it is no bridge's port (or the bridge could not be asked).
    pub fn port_state(&mut self, id: Ns, index: u32) -> Option<PortState> {
        if !self.ports.contains_key(&id) {
            let got = self.k.port_states(id).unwrap_or_default();
            self.ports.insert(id, got);
        }
        self.ports[&id].iter().find(|p| p.index == index).cloned()
    }

    pub fn link_name(&mut self, id: Ns, index: u32) -> String {
        self.link(id, index)
            .map(|l| l.name)
            .unwrap_or_else(|| format!("if{index}"))
    }

    pub fn addrs(&mut self, id: Ns) -> &[AddrRow] {
        if !self.addrs.contains_key(&id) {
            let got = self.k.addrs(id).unwrap_or_default();
            self.addrs.insert(id, got);
        }
        &self.addrs[&id]
    }

    /// The addresses of one link, of the family of `like`.
    pub fn addrs_on(&mut self, id: Ns, index: u32, like: IpAddr) -> Vec<IpNet> {
        self.addrs(id)
            .iter()
            .filter(|a| a.index == index && a.addr.addr().is_ipv4() == like.is_ipv4())
            .filter(|a| !is_link_local(a.addr.addr()))
            .map(|a| a.addr)
            .collect()
    }

    /// Does link `index` of `id` hold `ip` (a link-local one too)?
    pub fn holds(&mut self, id: Ns, index: u32, ip: IpAddr) -> bool {
        self.addrs(id)
            .iter()
            .any(|a| a.index == index && a.addr.addr() == ip)
    }

    /// Every (namespace, link index, address) in the lab holding `ip`.
    pub fn owners(&mut self, ip: IpAddr) -> Vec<(Ns, u32, IpNet)> {
        let mut out = Vec::new();
        for id in self.namespaces() {
            for a in self.addrs(id).to_vec() {
                if a.addr.addr() == ip {
                    out.push((id, a.index, a.addr));
                }
            }
        }
        out
    }

    /// `ip route get …` in `id`.
    pub fn route_get(&mut self, id: Ns, q: &RouteQuery) -> Result<RouteAnswer, NetError> {
        self.k.route_get(id, q)
    }

    pub fn fib(&mut self, id: Ns, v6: bool) -> Vec<FibEntry> {
        self.k.fib(id, v6).unwrap_or_default()
    }

    /// The programs running in `id`, by name.
    pub fn programs(&mut self, id: Ns) -> Vec<String> {
        self.k.programs(id)
    }

    pub fn neighbour(&mut self, id: Ns, index: u32, ip: IpAddr) -> Option<NeighEntry> {
        let rows = self.k.neighbours(id, ip.is_ipv6()).unwrap_or_default();
        rows.into_iter().find(|n| n.ifindex == index && n.dst == ip)
    }

    /// Is the IPv6 link-local address of link `index` in `id` still in
    /// duplicate address detection?
    pub fn link_local_tentative(&mut self, id: Ns, index: u32) -> bool {
        self.k
            .tentative_link_locals(id)
            .is_ok_and(|t| t.contains(&index))
    }

    /// `sysctl KEY` in `id`; `None` when it cannot be read.
    pub fn sysctl(&mut self, id: Ns, key: &str) -> Option<String> {
        self.k.sysctl(id, key).ok()
    }

    pub fn sysctl_num(&mut self, id: Ns, key: &str) -> Option<i64> {
        self.sysctl(id, key)?.trim().parse().ok()
    }

    /// Does something listen on `port` (`proto`) for `addr` in `id`?
    pub fn listening(&mut self, id: Ns, proto: Proto, port: u16, addr: IpAddr) -> Option<bool> {
        self.k.listening(id, proto, port, addr).ok()
    }

    /// `id`'s nf_tables ruleset: its source-NAT rules and filter chains
    /// (read once; empty without `nft`).
    fn rules(&mut self, id: Ns) -> Rc<Rules> {
        if let Some(r) = self.rules.get(&id) {
            return r.clone();
        }
        let text = self.k.ruleset(id).unwrap_or_default();
        let r = Rc::new((
            nat::parse(&text),
            firewall::parse(&text),
            nat::parse_dnat(&text),
        ));
        let n = r.1.droppers();
        if n > 0 {
            self.firewalled.insert(id, n);
        }
        self.rules.insert(id, r.clone());
        r
    }

    pub fn nat_rules(&mut self, id: Ns) -> Vec<NatRule> {
        self.rules(id).0.clone()
    }

    pub fn firewall(&mut self, id: Ns) -> Rc<Rules> {
        self.rules(id)
    }

    pub fn dnat_rules(&mut self, id: Ns) -> Vec<DnatRule> {
        self.rules(id).2.clone()
    }

    /// The other end of a veth the lab made.
    pub fn veth_peer(&self, id: Ns, link: &str) -> Option<(Ns, String)> {
        self.k.veth_peer(id, link)
    }

    /// The parent of a macvlan or ipvlan the lab made.
    pub fn sub_parent(&self, id: Ns, link: &str) -> Option<(Ns, String)> {
        self.k.sub_parent(id, link)
    }

    /// The macvlans and ipvlans the lab made on a parent.
    pub fn sub_children(&self, id: Ns, link: &str) -> Vec<(Ns, String)> {
        self.k.sub_children(id, link)
    }

    /// The VXLANs the lab made.
    pub fn vxlans(&self) -> Vec<(Ns, String, Vxlan)> {
        self.k.vxlans()
    }

    /// The lab's own nf_tables table (family inet).
    pub fn lab_table(&self) -> String {
        self.k.lab_table()
    }

    /// The VXLAN end of a link between machines `link` of `id` is.
    pub fn across(&self, id: Ns, link: &str) -> Option<Across> {
        self.k.across(id, link)
    }

    /// The machine `id` is placed on, when not this one.
    pub fn machine(&self, id: Ns) -> Option<String> {
        self.k.machine(id)
    }

    pub fn placed_named(&self, name: &str) -> Option<Ns> {
        self.k.placed_named(name)
    }

    /// The walk on from `id`, on another machine, by its agent (not kept:
    /// asked once per leg).
    pub fn far_leg(&mut self, id: Ns, ask: &LegAsk) -> Result<LegDone, String> {
        self.k.far_leg(id, ask)
    }
}

pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
}

/// RFC 1918 and unique-local addresses: the internet has no route to them.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64,
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}
