//! The lab as the explanation sees it: each namespace's links and
//! addresses, read from the kernel once per explanation, and the few
//! other things it asks (route lookups, sysctls, sockets, NAT rules).

use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

use ipnet::IpNet;

use super::firewall::{self, Ruleset};
use super::nat::{self, DnatRule, NatRule};
use crate::lab::{Lab, NsId};
use crate::net::probe::Proto;
use crate::net::rtnl::{
    AddrRow, FibEntry, LinkInfoRow, NeighEntry, PortState, RouteAnswer, RouteQuery,
};
use crate::net::{NetError, nft, probe, sysctl};

/// A namespace's nf_tables rules as the walk reads them: source NAT,
/// filter chains, destination NAT.
pub type Rules = (Vec<NatRule>, Ruleset, Vec<DnatRule>);

pub struct World<'a> {
    pub lab: &'a mut Lab,
    links: HashMap<NsId, Vec<LinkInfoRow>>,
    addrs: HashMap<NsId, Vec<AddrRow>>,
    rules: HashMap<NsId, Rc<Rules>>,
    ports: HashMap<NsId, Vec<PortState>>,
    /// Namespaces whose nf_tables ruleset holds rules (for "what was checked").
    pub firewalled: HashMap<NsId, usize>,
}

impl<'a> World<'a> {
    pub fn new(lab: &'a mut Lab) -> World<'a> {
        World {
            lab,
            links: HashMap::new(),
            addrs: HashMap::new(),
            rules: HashMap::new(),
            ports: HashMap::new(),
            firewalled: HashMap::new(),
        }
    }

    pub fn name(&self, id: NsId) -> String {
        self.lab.view_name(id).to_string()
    }

    pub fn namespaces(&self) -> Vec<NsId> {
        self.lab.view_namespaces()
    }

    pub fn links(&mut self, id: NsId) -> &[LinkInfoRow] {
        if !self.links.contains_key(&id) {
            let got = match self.lab.view_rtnl(id) {
                Ok(r) => self.lab.view_block_on(r.links()).unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            self.links.insert(id, got);
        }
        &self.links[&id]
    }

    pub fn link(&mut self, id: NsId, index: u32) -> Option<LinkInfoRow> {
        self.links(id).iter().find(|l| l.index == index).cloned()
    }

    pub fn link_named(&mut self, id: NsId, name: &str) -> Option<LinkInfoRow> {
        self.links(id).iter().find(|l| l.name == name).cloned()
    }

    /// The STP state and isolation of bridge port `index` of `id`; `None`
    /// when it is no bridge's port (or the bridge could not be asked).
    pub fn port_state(&mut self, id: NsId, index: u32) -> Option<PortState> {
        if !self.ports.contains_key(&id) {
            let got = match self.lab.view_rtnl(id) {
                Ok(r) => self.lab.view_block_on(r.port_states()).unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            self.ports.insert(id, got);
        }
        self.ports[&id].iter().find(|p| p.index == index).cloned()
    }

    pub fn link_name(&mut self, id: NsId, index: u32) -> String {
        self.link(id, index)
            .map(|l| l.name)
            .unwrap_or_else(|| format!("if{index}"))
    }

    pub fn addrs(&mut self, id: NsId) -> &[AddrRow] {
        if !self.addrs.contains_key(&id) {
            let got = match self.lab.view_rtnl(id) {
                Ok(r) => self.lab.view_block_on(r.addrs()).unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            self.addrs.insert(id, got);
        }
        &self.addrs[&id]
    }

    /// The addresses of one link, of the family of `like`.
    pub fn addrs_on(&mut self, id: NsId, index: u32, like: IpAddr) -> Vec<IpNet> {
        self.addrs(id)
            .iter()
            .filter(|a| a.index == index && a.addr.addr().is_ipv4() == like.is_ipv4())
            .filter(|a| !is_link_local(a.addr.addr()))
            .map(|a| a.addr)
            .collect()
    }

    /// Does link `index` of `id` hold `ip` (a link-local one too)?
    pub fn holds(&mut self, id: NsId, index: u32, ip: IpAddr) -> bool {
        self.addrs(id)
            .iter()
            .any(|a| a.index == index && a.addr.addr() == ip)
    }

    /// Every (namespace, link index, address) in the lab holding `ip`.
    pub fn owners(&mut self, ip: IpAddr) -> Vec<(NsId, u32, IpNet)> {
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
    pub fn route_get(&mut self, id: NsId, q: &RouteQuery) -> Result<RouteAnswer, NetError> {
        let r = self.lab.view_rtnl(id)?;
        self.lab.view_block_on(r.route_get(q))
    }

    pub fn fib(&mut self, id: NsId, v6: bool) -> Vec<FibEntry> {
        match self.lab.view_rtnl(id) {
            Ok(r) => self.lab.view_block_on(r.fib(v6)).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    pub fn neighbour(&mut self, id: NsId, index: u32, ip: IpAddr) -> Option<NeighEntry> {
        let r = self.lab.view_rtnl(id).ok()?;
        let rows = self
            .lab
            .view_block_on(r.neighbours(ip.is_ipv6()))
            .unwrap_or_default();
        rows.into_iter().find(|n| n.ifindex == index && n.dst == ip)
    }

    /// Is the IPv6 link-local address of link `index` in `id` still in
    /// duplicate address detection?
    pub fn link_local_tentative(&mut self, id: NsId, index: u32) -> bool {
        let Ok(r) = self.lab.view_rtnl(id) else {
            return false;
        };
        self.lab
            .view_block_on(r.tentative_link_locals())
            .is_ok_and(|t| t.contains(&index))
    }

    /// `sysctl KEY` in `id`; `None` when it cannot be read.
    pub fn sysctl(&mut self, id: NsId, key: &str) -> Option<String> {
        let k = key.to_string();
        self.lab.view_run_in(id, move || sysctl::read(&k)).ok()
    }

    pub fn sysctl_num(&mut self, id: NsId, key: &str) -> Option<i64> {
        self.sysctl(id, key)?.trim().parse().ok()
    }

    /// Does something listen on `port` (`proto`) for `addr` in `id`?
    pub fn listening(&mut self, id: NsId, proto: Proto, port: u16, addr: IpAddr) -> Option<bool> {
        self.lab
            .view_run_in(id, move || probe::listening(proto, port, Some(addr)))
            .ok()
    }

    /// `id`'s nf_tables ruleset: its source-NAT rules and filter chains
    /// (read once; empty without `nft`).
    fn rules(&mut self, id: NsId) -> Rc<Rules> {
        if let Some(r) = self.rules.get(&id) {
            return r.clone();
        }
        let text = nft::program().and_then(|prog| {
            let fd = self.lab.view_fd(id).ok()?;
            nat::list_ruleset(std::os::fd::AsFd::as_fd(fd), &prog).ok()
        });
        let text = text.unwrap_or_default();
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

    pub fn nat_rules(&mut self, id: NsId) -> Vec<NatRule> {
        self.rules(id).0.clone()
    }

    pub fn firewall(&mut self, id: NsId) -> Rc<Rules> {
        self.rules(id)
    }

    pub fn dnat_rules(&mut self, id: NsId) -> Vec<DnatRule> {
        self.rules(id).2.clone()
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
