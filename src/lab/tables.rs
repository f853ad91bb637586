//! Reading the kernel's tables as `ip` prints them: the neighbour table
//! (`ip neigh`, and `ip neigh flush`), the policy rules (`ip rule`), one
//! route lookup (`ip route get`) and the learned path MTUs behind it
//! (`ip route flush cache`).

use std::net::IpAddr;

use ipnet::IpNet;

use super::events::Event;
use super::{Lab, LabError, NsId, Result, RouteView, names, net_err};
use crate::net::rtnl::RouteQuery;
use crate::net::sysctl;

/// A neighbour entry (`ip neigh show`).
#[derive(Debug, Clone)]
pub struct NeighView {
    pub ip: IpAddr,
    /// "aa:bb:cc:dd:ee:ff"; none while the entry is incomplete or failed.
    pub mac: Option<String>,
    pub dev: String,
    pub state: String,
    pub router: bool,
}

/// A policy rule (`ip rule show`).
#[derive(Debug, Clone)]
pub struct RuleView {
    pub v6: bool,
    pub priority: u32,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    /// The mask, when it is not 0xffffffff (as `ip rule` shows it).
    pub fwmask: Option<u32>,
    pub table: Option<u32>,
    pub action: &'static str,
}

/// One packet for `ip route get DST [from SRC] [iif DEV] [mark M]`.
#[derive(Debug, Clone)]
pub struct RouteGetReq {
    pub dst: IpAddr,
    pub src: Option<IpAddr>,
    pub iif: Option<String>,
    pub mark: Option<u32>,
}

/// The kernel's answer to `ip route get`.
#[derive(Debug, Clone)]
pub struct RouteGot {
    pub dst: IpAddr,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub src: Option<IpAddr>,
    pub table: u32,
    /// The path MTU: learned from a "fragmentation needed" or set on the route.
    pub mtu: Option<u32>,
    /// Seconds until the learned state (path MTU, redirect) expires.
    pub expires_s: Option<i64>,
    pub kind: String,
}

/// Clock ticks per second of the times the kernel reports (USER_HZ).
const USER_HZ: i64 = 100;

impl RouteView {
    /// The route on one line, as `ip route` (and `show()`) writes it.
    pub fn text(&self) -> String {
        super::routes::view_text(self)
    }
}

impl Lab {
    /// The index of link `dev` in `id`, or a clear error naming it.
    fn dev_index(&mut self, id: NsId, dev: Option<&str>) -> Result<Option<u32>> {
        match dev {
            None => Ok(None),
            Some(d) => Ok(Some(self.link(id, d)?.index)),
        }
    }

    /// `ip neigh show [dev DEV]`, IPv4 then IPv6.
    pub fn neighbors(&mut self, id: NsId, dev: Option<&str>) -> Result<Vec<NeighView>> {
        let index = self.dev_index(id, dev)?;
        let links = self.links_raw(id)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let rows = self
            .sp
            .block_on(r.neigh_table(index))
            .map_err(|e| LabError::kernel("list neighbours", &self.where_(id), e))?;
        Ok(rows
            .into_iter()
            .map(|n| NeighView {
                ip: n.addr,
                mac: n.lladdr.as_deref().map(names::format_mac),
                dev: links
                    .iter()
                    .find(|l| l.index == n.index)
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
                state: n.state,
                router: n.router,
            })
            .collect())
    }

    /// `ip neigh flush all` / `ip neigh flush dev DEV`: the kernel's learned
    /// entries go (they are learned again as traffic needs them); nothing
    /// to undo. How many went.
    pub fn neigh_flush(&mut self, id: NsId, dev: Option<&str>) -> Result<usize> {
        if let Some(r) = self.remote_do(id, "neigh_flush", &dev) {
            return r;
        }
        let index = self.dev_index(id, dev)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let n = self
            .sp
            .block_on(r.neigh_flush(index))
            .map_err(|e| LabError::kernel("flush neighbours", &self.where_(id), e))?;
        let what = match dev {
            Some(d) => format!("neigh flush dev {}", self.kernel_link(id, d)),
            None => "neigh flush all".to_string(),
        };
        self.tell(Event::Flushed {
            ns: id,
            what: &what,
        });
        Ok(n)
    }

    /// `ip rule show` + `ip -6 rule show`, in the kernel's order.
    pub fn rules(&mut self, id: NsId) -> Result<Vec<RuleView>> {
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let mut out = Vec::new();
        for v6 in [false, true] {
            let rows = self
                .sp
                .block_on(r.rules(v6))
                .map_err(|e| LabError::kernel("list rules", &self.where_(id), e))?;
            out.extend(rows.into_iter().map(|x| {
                let s = x.spec;
                RuleView {
                    v6,
                    priority: s.priority.unwrap_or(0),
                    from: s.from,
                    to: s.to,
                    iif: s.iif.map(|i| self.script_link(id, &i)),
                    oif: s.oif.map(|o| self.script_link(id, &o)),
                    fwmark: s.fwmark,
                    fwmask: s.fwmask.filter(|m| *m != u32::MAX),
                    table: s.table,
                    action: x.action_name,
                }
            }));
        }
        Ok(out)
    }

    /// `ip route get DST [from SRC] [iif DEV] [mark M]`.
    pub fn route_get(&mut self, id: NsId, req: &RouteGetReq) -> Result<RouteGot> {
        if let Some(src) = req.src
            && src.is_ipv4() != req.dst.is_ipv4()
        {
            return Err(LabError::new(
                format!("{src} and {} are of different families", req.dst),
                "give an IPv4 source for an IPv4 destination, an IPv6 one for IPv6",
            ));
        }
        let iif = self.dev_index(id, req.iif.as_deref())?;
        let links = self.links_raw(id)?;
        let mut q = RouteQuery::to(req.dst);
        q.src = req.src;
        q.iif = iif;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let (a, expires) = self
            .sp
            .block_on(r.route_get_marked(&q, req.mark))
            .map_err(|e| self.no_route(id, req, e))?;
        Ok(RouteGot {
            dst: req.dst,
            via: a.gateway,
            dev: a
                .oif
                .and_then(|i| links.iter().find(|l| l.index == i))
                .map(|l| l.name.clone()),
            src: a.prefsrc,
            table: a.table,
            mtu: a.mtu,
            // Whole seconds, cut as `ip route get` cuts them.
            expires_s: expires.map(|t| t / USER_HZ),
            kind: a.kind,
        })
    }

    /// The kernel's refusal of a lookup, in words (`ip route get` prints
    /// only the errno's).
    fn no_route(&self, id: NsId, req: &RouteGetReq, e: crate::net::NetError) -> LabError {
        let at = self.where_(id);
        let dst = req.dst;
        let (why, help) = match e.raw_errno() {
            Some(libc::ENETUNREACH) => (
                "no route matches it".to_string(),
                "ns.routes() lists the routes and ns.rules() the tables looked in; add one with ns.route(...)".to_string(),
            ),
            Some(libc::EHOSTUNREACH) => (
                "the kernel says it is unreachable (an unreachable route, or forwarding off for a packet arriving on iif)".to_string(),
                "ns.routes() shows an unreachable route; ns.forwarding(true) lets a router forward".to_string(),
            ),
            Some(libc::EACCES) => (
                "a prohibit route or rule refuses it".to_string(),
                "ns.routes() and ns.rules() show which".to_string(),
            ),
            Some(libc::EINVAL) => (
                "the kernel refuses it (a blackhole route, or for a packet arriving on iif: a martian or reverse-path-filtered source)".to_string(),
                "give iif a source address (src) that is routed back out of iif; ns.routes() shows blackhole routes".to_string(),
            ),
            _ => return LabError::kernel("look up a route", &at, e),
        };
        LabError::new(format!("no route to {dst} in {at}: {why}"), help)
    }

    /// `ip route flush cache`: drops the learned path MTUs and redirects,
    /// IPv4 (net.ipv4.route.flush also renews the exceptions' genid) and
    /// IPv6 (each exception deleted); they are learned again as traffic
    /// needs them. Nothing to undo.
    pub fn route_flush_cache(&mut self, id: NsId) -> Result<()> {
        if let Some(r) = self.remote_do(id, "route_flush_cache", &()) {
            return r;
        }
        self.sp
            .run_in(id, || sysctl::write("net.ipv4.route.flush", "-1"))
            .map_err(|e| LabError::kernel("flush the route cache", &self.where_(id), e))?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.sp
            .block_on(r.flush_v6_cache())
            .map_err(|e| LabError::kernel("flush the IPv6 route cache", &self.where_(id), e))?;
        self.tell(Event::Flushed {
            ns: id,
            what: "route flush cache",
        });
        Ok(())
    }
}

/// A route's family as `ip` names it.
pub fn family_name(v6: bool) -> &'static str {
    if v6 { "inet6" } else { "inet" }
}

impl RouteView {
    pub fn family(&self) -> &'static str {
        family_name(self.dst.addr().is_ipv6())
    }
}
