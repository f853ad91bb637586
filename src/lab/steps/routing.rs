//! Undoing what the lab does to addresses, routes, rules and neighbours
//! outside its own namespaces.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{Step, Undone, check_if, check_ref, ip, on_own_link, rtnl_of};
use crate::lab::journal::Header;
use crate::lab::names;
use crate::lab::plan::q;
use crate::lab::space::{NsRef, Spaces};
use crate::net::Result;
use crate::net::rtnl::{self, Hop, RouteKind, RouteSpec, RuleAction, RuleSpec};

/// `ip addr del ADDR dev DEV` (DEV with index `ifindex`)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteAddr {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub addr: IpNet,
}

/// `ip addr del ADDR dev DEV`.
pub fn delete_addr_shell(ns: &NsRef, dev: &str, addr: IpNet) -> String {
    format!("{}addr del {addr} dev {}", ip(ns), q(dev))
}

/// `ip neigh del ADDR dev DEV`.
pub fn delete_neigh_shell(ns: &NsRef, dev: &str, addr: IpAddr) -> String {
    format!("{}neigh del {addr} dev {}", ip(ns), q(dev))
}

impl Step for DeleteAddr {
    fn describe(&self) -> String {
        format!(
            "delete address {} from '{}' in '{}'",
            self.addr,
            self.dev,
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.dev)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let addr = self.addr;
        on_own_link(
            sp,
            &self.ns,
            &self.dev,
            self.ifindex,
            &header.lab,
            async |r, i| r.del_addr(i, addr).await,
        )
    }
}

/// `ip route del [TYPE] DST [via GW] [dev DEV] [metric N] [table T]
/// [nexthop …] proto static`: the route the lab added, and no other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteRoute {
    pub ns: NsRef,
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    /// `None`: the main table.
    #[serde(default)]
    pub table: Option<u32>,
    #[serde(default)]
    pub kind: RouteKind,
    #[serde(default)]
    pub nexthops: Vec<NamedHop>,
}

/// rtm_protocol of the routes nslab adds ("proto static").
const RTPROT_STATIC: u8 = 4;

impl Step for DeleteRoute {
    fn describe(&self) -> String {
        format!(
            "delete route {}{} in '{}'",
            self.dst,
            table_text(self.table.unwrap_or(rtnl::MAIN_TABLE)),
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        let DeleteRoute {
            ns,
            dst,
            via,
            dev,
            table,
            kind,
            nexthops,
            ..
        } = self;
        check_ref(ns)?;
        dev.as_deref().map_or(Ok(()), check_if)?;
        check_table(table.unwrap_or(rtnl::MAIN_TABLE))?;
        check_gateway(*dst, *via)?;
        check_hops(*dst, nexthops)?;
        if kind.is_reject() && (via.is_some() || dev.is_some() || !nexthops.is_empty()) {
            return Err(format!("a {} route has no gateway or device", kind.name()));
        }
        Ok(())
    }

    fn apply(&self, sp: &mut Spaces, _: &Header) -> Result<Undone> {
        let DeleteRoute {
            ns,
            dst,
            via,
            dev,
            metric,
            table,
            kind,
            nexthops,
        } = self;
        let r = rtnl_of(sp, ns)?;
        sp.block_on(async {
            let mut spec = RouteSpec::to(*dst);
            spec.table = table.unwrap_or(rtnl::MAIN_TABLE);
            spec.kind = *kind;
            spec.via = *via;
            spec.metric = *metric;
            // Routes nslab adds are "proto static": that too must match.
            spec.protocol = Some(RTPROT_STATIC);
            spec.oif = match dev {
                Some(d) => Some(r.index_of(d).await?),
                None => None,
            };
            for h in nexthops {
                spec.nexthops.push(Hop {
                    via: h.via,
                    oif: match &h.dev {
                        Some(d) => Some(r.index_of(d).await?),
                        None => None,
                    },
                    weight: h.weight,
                    onlink: h.onlink,
                });
            }
            r.del_route(&spec).await.map(|_| Undone::Done)
        })
    }
}

/// `ip route add …` of a route that was there before the lab deleted
/// it (ns.route_delete outside the lab's namespaces), as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRoute {
    pub ns: NsRef,
    pub route: SavedRoute,
}

/// A next hop of a multipath route, its device by name (and, for a route
/// to put back, the index that device had).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedHop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    #[serde(default)]
    pub ifindex: Option<u32>,
    /// 1..=256, as `ip route` counts it.
    pub weight: u16,
    #[serde(default)]
    pub onlink: bool,
}

/// Everything it takes to add a deleted route back exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRoute {
    pub dst: IpNet,
    pub table: u32,
    pub kind: RouteKind,
    pub protocol: u8,
    pub scope: u8,
    pub metric: u32,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub ifindex: Option<u32>,
    pub src: Option<IpAddr>,
    pub onlink: bool,
    pub nexthops: Vec<NamedHop>,
    /// RTA_METRICS as (RTAX_* number, value).
    pub metrics: Vec<(u16, u32)>,
    /// RTA_PREF (IPv6).
    pub pref: Option<u8>,
}

impl Step for RestoreRoute {
    fn describe(&self) -> String {
        format!(
            "put back route {}{} in '{}'",
            self.route.dst,
            table_text(self.route.table),
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        let RestoreRoute { ns, route } = self;
        check_ref(ns)?;
        route.dev.as_deref().map_or(Ok(()), check_if)?;
        if route.dev.is_some() != route.ifindex.is_some() {
            return Err("a device of a route to put back needs its index".into());
        }
        check_table(route.table)?;
        check_gateway(route.dst, route.via)?;
        check_gateway(route.dst, route.src)?;
        check_hops(route.dst, &route.nexthops)?;
        if route
            .nexthops
            .iter()
            .any(|h| h.dev.is_some() != h.ifindex.is_some())
        {
            return Err("a device of a route to put back needs its index".into());
        }
        if let Some((k, _)) = route.metrics.iter().find(|(k, _)| !rtnl::known_metric(*k)) {
            return Err(format!("route metric RTAX {k} is not one nslab puts back"));
        }
        if route.pref.is_some_and(|p| ![0, 1, 3].contains(&p)) {
            return Err("an IPv6 route preference is low, medium or high".into());
        }
        Ok(())
    }

    /// Adds the deleted route back, if every link it went through is still
    /// the one it had (by index); one that was put back already counts as
    /// done.
    fn apply(&self, sp: &mut Spaces, _: &Header) -> Result<Undone> {
        let RestoreRoute { ns, route } = self;
        let r = rtnl_of(sp, ns)?;
        let what = format!(
            "route {}{} in '{}'",
            route.dst,
            table_text(route.table),
            ns.display()
        );
        sp.block_on(async {
            let devs = route.dev.iter().zip(route.ifindex.iter()).chain(
                route
                    .nexthops
                    .iter()
                    .filter_map(|h| h.dev.as_ref().zip(h.ifindex.as_ref())),
            );
            for (dev, index) in devs {
                match r.link(dev).await {
                    Ok(l) if l.index == *index => {}
                    Ok(l) => {
                        return Ok(Undone::LeftAlone(format!(
                            "cannot put back {what}: link '{dev}' is not the one it went through (it has index {}, that one had {index}): left alone",
                            l.index
                        )));
                    }
                    Err(e) if e.is_not_found() => {
                        return Ok(Undone::LeftAlone(format!(
                            "cannot put back {what}: link '{dev}' it went through is gone"
                        )));
                    }
                    Err(e) => return Err(e),
                }
            }
            let spec = RouteSpec {
                dst: route.dst,
                table: route.table,
                kind: route.kind,
                via: route.via,
                oif: route.ifindex,
                metric: Some(route.metric),
                src: route.src,
                nexthops: route
                    .nexthops
                    .iter()
                    .map(|h| Hop {
                        via: h.via,
                        oif: h.ifindex,
                        weight: h.weight,
                        onlink: h.onlink,
                    })
                    .collect(),
                protocol: Some(route.protocol),
                scope: Some(route.scope),
                onlink: route.onlink,
                metrics: route.metrics.clone(),
                pref: route.pref,
            };
            match r.add_route(&spec).await {
                Ok(()) => Ok(Undone::Done),
                // Someone put it back already.
                Err(e) if e.raw_errno() == Some(libc::EEXIST) => Ok(Undone::Done),
                Err(e) => Err(e),
            }
        })
    }
}

/// `ip rule del …` with every selector of the rule the lab added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteRule {
    pub ns: NsRef,
    pub rule: RuleSpec,
}

impl Step for DeleteRule {
    fn describe(&self) -> String {
        format!(
            "delete rule {} in '{}'",
            rule_text(&self.rule),
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_rule(&self.rule)
    }

    fn apply(&self, sp: &mut Spaces, _: &Header) -> Result<Undone> {
        let rule = &self.rule;
        let r = rtnl_of(sp, &self.ns)?;
        sp.block_on(async {
            // Only the very rule the lab added: a delete request
            // matches any value for what it leaves out.
            let rows = r.rules(rule.v6).await?;
            if !rows.iter().any(|x| rule.same_as(&x.spec)) {
                return Ok(Undone::Done);
            }
            r.del_rule(rule).await.map(|_| Undone::Done)
        })
    }
}

/// `ip neigh del ADDR dev DEV`, if the entry is still the permanent one
/// the lab added (that link-layer address, DEV with index `ifindex`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteNeigh {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub addr: IpAddr,
    pub lladdr: String,
}

impl Step for DeleteNeigh {
    fn describe(&self) -> String {
        format!(
            "delete neighbour {} on '{}' in '{}'",
            self.addr,
            self.dev,
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        let lladdr = &self.lladdr;
        check_ref(&self.ns)?;
        check_if(&self.dev)?;
        names::parse_mac(lladdr)
            .map(drop)
            .map_err(|_| format!("'{lladdr}' is not a link-layer address"))
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let DeleteNeigh {
            ns,
            dev,
            ifindex,
            addr,
            lladdr,
        } = self;
        let lab = &header.lab;
        let r = rtnl_of(sp, ns)?;
        let mac = names::parse_mac(lladdr).ok();
        sp.block_on(async {
            let have = r.link(dev).await?.index;
            if have != *ifindex {
                return Ok(Undone::LeftAlone(format!(
                    "link '{dev}' in '{}' is not the one lab '{lab}' added neighbour {addr} to: left alone",
                    ns.display()
                )));
            }
            match r.neigh(have, *addr).await? {
                None => Ok(Undone::Done),
                Some(n) if n.permanent && n.lladdr == mac => {
                    r.del_neigh(have, *addr).await.map(|_| Undone::Done)
                }
                Some(_) => Ok(Undone::LeftAlone(format!(
                    "neighbour {addr} on '{dev}' in '{}' is no longer the entry lab '{lab}' added ({lladdr}): left alone",
                    ns.display()
                ))),
            }
        })
    }
}

fn table_text(t: u32) -> String {
    if t == rtnl::MAIN_TABLE {
        String::new()
    } else {
        format!(" (table {t})")
    }
}

pub fn rule_text(r: &RuleSpec) -> String {
    // One address is written without its /32 or /128, as `ip rule` does.
    let net = |n: &IpNet| {
        if n.prefix_len() == n.max_prefix_len() {
            n.addr().to_string()
        } else {
            n.to_string()
        }
    };
    let mut s = String::new();
    if let Some(p) = r.priority {
        s.push_str(&format!("{p}: "));
    }
    match (&r.from, &r.to) {
        (None, None) => s.push_str("from all"),
        (f, t) => {
            if let Some(f) = f {
                s.push_str(&format!("from {}", net(f)));
            }
            if let Some(t) = t {
                if f.is_some() {
                    s.push(' ');
                }
                s.push_str(&format!("to {}", net(t)));
            }
        }
    }
    if let Some(i) = &r.iif {
        s.push_str(&format!(" iif {i}"));
    }
    if let Some(o) = &r.oif {
        s.push_str(&format!(" oif {o}"));
    }
    if let Some(m) = r.fwmark {
        match r.fwmask.filter(|k| *k != u32::MAX) {
            Some(k) => s.push_str(&format!(" fwmark {m:#x}/{k:#x}")),
            None => s.push_str(&format!(" fwmark {m:#x}")),
        }
    }
    match (r.action, r.table) {
        (RuleAction::Lookup, Some(t)) => s.push_str(&format!(" lookup {t}")),
        (RuleAction::Lookup, None) => s.push_str(" lookup"),
        (a, _) => s.push_str(&format!(" {}", a.name())),
    }
    if r.v6 {
        s.push_str(" (IPv6)");
    }
    s
}

fn check_table(t: u32) -> std::result::Result<(), String> {
    if t == 0 {
        return Err("routing table 0 is not a table".into());
    }
    Ok(())
}

/// A gateway (or source) of the route's own family; an IPv4 route may go
/// through an IPv6 gateway (RFC 5549), not the other way round.
fn check_gateway(dst: IpNet, gw: Option<IpAddr>) -> std::result::Result<(), String> {
    match gw {
        Some(g) if g.is_ipv4() && dst.addr().is_ipv6() => {
            Err(format!("IPv4 address {g} on the IPv6 route {dst}"))
        }
        _ => Ok(()),
    }
}

fn check_hops(dst: IpNet, hops: &[NamedHop]) -> std::result::Result<(), String> {
    for h in hops {
        h.dev.as_deref().map_or(Ok(()), check_if)?;
        check_gateway(dst, h.via)?;
        if !(1..=256).contains(&h.weight) {
            return Err(format!("next-hop weight {} is not in 1..=256", h.weight));
        }
        if h.via.is_none() && h.dev.is_none() {
            return Err("a next hop needs a gateway or a device".into());
        }
    }
    Ok(())
}

fn check_rule(r: &RuleSpec) -> std::result::Result<(), String> {
    if r.priority.is_none() {
        return Err("a rule in the journal needs its priority".into());
    }
    for n in [&r.from, &r.to].into_iter().flatten() {
        if n.addr().is_ipv6() != r.v6 {
            return Err(format!("{n} is not of the rule's family"));
        }
    }
    r.iif.as_deref().map_or(Ok(()), check_if)?;
    r.oif.as_deref().map_or(Ok(()), check_if)?;
    if r.fwmask.is_some() && r.fwmark.is_none() {
        return Err("a fwmark mask without a fwmark".into());
    }
    match (r.action, r.table) {
        (RuleAction::Lookup, Some(t)) => check_table(t),
        (RuleAction::Lookup, None) => Err("a lookup rule needs a table".into()),
        (_, Some(_)) => Err(format!("a {} rule has no table", r.action.name())),
        (_, None) => Ok(()),
    }
}
