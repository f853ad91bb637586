//! Addresses and routes: `ip addr` and `ip route`.

use super::events::Event;
use super::ledger::Undo;
use super::ledger::{NamedHop, SavedRoute};
use super::{
    AddrView, HopView, Lab, LabError, NsId, Result, RouteDelReq, RouteReq, RouteView, net_err,
    space,
};
use crate::net::rtnl;
use crate::net::rtnl::{AddrRow, LinkInfoRow, RouteKind, RouteRow, RouteSpec};
use ipnet::IpNet;
use std::net::IpAddr;

use crate::lab::steps::routing::{DeleteAddr, DeleteRoute, RestoreRoute};

impl Lab {
    /// `ip addr add ADDR dev DEV`.
    pub fn add_addr(&mut self, id: NsId, dev: &str, addr: IpNet) -> Result<()> {
        if let Some(r) = self.remote_addr(id, dev, addr) {
            return r;
        }
        // A link the script gives addresses keeps (or gets back) its IPv6:
        // a bridge port had it turned off at attach (see `port_ipv6`).
        if self.topo.ipv6_back(id, dev) {
            self.link_ipv6(id, dev, true)?;
        }
        self.topo.addressed(id, dev);
        if addr.addr().is_ipv6() {
            self.settle.fresh_v6(id, addr.addr());
        }
        let index = match self.topo.index(id, dev) {
            Some(i) => i,
            None => self.link(id, dev)?.index,
        };
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("{addr} on '{dev}' in '{}'", self.sp.name(id));
        let act = |lab: &mut Lab| {
            let mut res = lab.sp.block_on(r.add_addr(index, addr));
            // A kept index whose link is gone: look the name up afresh.
            if res
                .as_ref()
                .is_err_and(|e| e.raw_errno() == Some(libc::ENODEV))
            {
                lab.topo.forget_index(id, dev);
                let fresh = lab.link(id, dev)?.index;
                res = lab.sp.block_on(r.add_addr(fresh, addr));
            }
            res.map_err(|e| match e.raw_errno() {
                Some(libc::EEXIST) => LabError::new(
                    format!("address {what} is already assigned"),
                    "each address can be added once; remove the duplicate call",
                ),
                _ => LabError::kernel("add an address", &what, e),
            })
        };
        if self.foreign_link(id, dev) {
            let undo = Undo::DeleteAddr(DeleteAddr {
                ns: self.sp.nsref(id).clone(),
                dev: dev.to_string(),
                ifindex: index,
                addr,
            });
            self.recorded(Some(id), undo, act)?;
            self.tell(Event::AddrAdded {
                ns: id,
                dev,
                addr,
                foreign: true,
            });
            Ok(())
        } else {
            act(self)?;
            self.tell(Event::AddrAdded {
                ns: id,
                dev,
                addr,
                foreign: false,
            });
            Ok(())
        }
    }

    /// `ip route add [TYPE] DST [via GW] [dev DEV] [metric N] [table T]
    /// [src S] [nexthop via GW dev DEV weight W …]`.
    pub fn add_route(&mut self, id: NsId, req: RouteReq) -> Result<()> {
        if let Some(r) = self.remote_route(id, &req) {
            return r;
        }
        let v4 = req.dst.addr().is_ipv4();
        let gateways = req
            .via
            .iter()
            .chain(req.nexthops.iter().filter_map(|h| h.via.as_ref()));
        for gw in gateways {
            if gw.is_ipv4() != v4 {
                return Err(LabError::new(
                    format!(
                        "gateway {gw} and destination {} are of different IP versions",
                        req.dst
                    ),
                    "use an IPv4 gateway for IPv4 routes and an IPv6 gateway for IPv6 routes",
                ));
            }
        }
        if !v4 && req.nexthops.iter().any(|h| h.via.is_none()) {
            return Err(LabError::new(
                format!(
                    "an IPv6 multipath route needs a gateway for each next hop ({})",
                    req.dst
                ),
                "give every next hop a via (#{via: \"fd00:1::1\", dev: \"up1\"}), or add a device-only route without nexthops",
            ));
        }
        if let Some(src) = req.src {
            self.check_src(id, req.dst, src)?;
        }
        let oif = match &req.dev {
            Some(d) => Some(self.link(id, d)?.index),
            None => None,
        };
        let mut hops = Vec::new();
        for h in &req.nexthops {
            hops.push(rtnl::Hop {
                via: h.via,
                oif: match &h.dev {
                    Some(d) => Some(self.link(id, d)?.index),
                    None => None,
                },
                weight: h.weight,
                onlink: false,
            });
        }
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let mut spec = RouteSpec::to(req.dst);
        spec.table = req.table.unwrap_or(MAIN_TABLE);
        spec.kind = req.kind;
        spec.via = req.via;
        spec.oif = oif;
        spec.metric = req.metric;
        spec.src = req.src;
        spec.nexthops = hops;
        let dst_txt = dst_text(req.dst);
        let what = format!(
            "{}{} in '{}'",
            route_text(&req),
            table_note(req.table),
            self.sp.name(id)
        );
        // The undo and the plan name devices as the kernel does (prefix.rs).
        let kreq = self.kernel_route(id, &req);
        let undo = Undo::DeleteRoute(DeleteRoute {
            ns: self.sp.nsref(id).clone(),
            dst: req.dst,
            via: req.via,
            dev: kreq.dev.clone(),
            metric: req.metric,
            table: req.table,
            kind: req.kind,
            nexthops: kreq
                .nexthops
                .iter()
                .map(|h| NamedHop {
                    via: h.via,
                    dev: h.dev.clone(),
                    ifindex: None,
                    weight: h.weight,
                    onlink: false,
                })
                .collect(),
        });
        self.recorded(Some(id), undo, |lab| {
            lab.sp.block_on(r.add_route(&spec)).map_err(|e| match e.raw_errno() {
                Some(libc::ENETUNREACH) => {
                    let gws: Vec<String> = req
                        .via
                        .iter()
                        .chain(req.nexthops.iter().filter_map(|h| h.via.as_ref()))
                        .map(|g| g.to_string())
                        .collect();
                    LabError::new(
                        format!(
                            "cannot add route {what}: gateway {} is not on any connected subnet",
                            gws.join(" or ")
                        ),
                        "give the namespace an address in the gateway's subnet first (ns.addr or link.addr), and make sure that link is up",
                    )
                }
                Some(libc::EEXIST) => lab.route_exists_err(id, &req, &dst_txt, &what),
                Some(libc::EINVAL) => LabError::new(
                    format!("cannot add route {what}: the kernel refused it as invalid"),
                    "check that each gateway is a neighbour's unicast address on a connected subnet (not a network, broadcast or multicast address)",
                ),
                _ => LabError::kernel("add a route", &what, e),
            })
        })?;
        self.tell(Event::RouteAdded { ns: id, req: &kreq });
        Ok(())
    }

    /// A route's `src` must be an address the namespace has: the kernel
    /// refuses any other (with a bare "invalid argument").
    fn check_src(&mut self, id: NsId, dst: IpNet, src: IpAddr) -> Result<()> {
        if src.is_ipv4() != dst.addr().is_ipv4() {
            return Err(LabError::new(
                format!("source {src} and destination {dst} are of different IP versions"),
                "give src an address of the route's own IP version",
            ));
        }
        if !self.addrs(id)?.iter().any(|a| a.addr.addr() == src) {
            return Err(LabError::new(
                format!("{src} is not an address of {}", self.where_(id)),
                format!(
                    "a route's src must be one of the namespace's own addresses: add it first ({}.addr(\"dev\", \"{src}/…\")), or pick one from {}.addrs()",
                    self.var_hint(id),
                    self.var_hint(id)
                ),
            ));
        }
        Ok(())
    }

    /// The kernel refused a route as a duplicate: names the route that is
    /// there (its gateway and device), not the one the script asked for.
    pub(super) fn route_exists_err(
        &mut self,
        id: NsId,
        req: &RouteReq,
        dst_txt: &str,
        what: &str,
    ) -> LabError {
        // Routes without a metric get 0 (IPv4) or 1024 (IPv6) from the kernel.
        let want = req.metric.unwrap_or(default_metric(req.dst));
        let table = req.table.unwrap_or(MAIN_TABLE);
        let existing = self.routes(id).ok().and_then(|rs| {
            rs.into_iter()
                .find(|r| r.dst == req.dst && r.table == table && r.metric == want)
        });
        let metric_txt = req
            .metric
            .map(|m| format!(" with metric {m}"))
            .unwrap_or_default();
        let message = match existing {
            Some(r) => format!(
                "cannot add route {what}: there is already a route {}{metric_txt}",
                view_text(&r)
            ),
            None => {
                format!("cannot add route {what}: a route {dst_txt}{metric_txt} already exists")
            }
        };
        let next = if want == u32::MAX { want } else { want + 1 };
        LabError::new(
            message,
            format!(
                "a destination has one route per metric: remove the duplicate call, or give this route another metric (#{{via: \"…\", metric: {next}}})"
            ),
        )
    }

    /// `ip route del DST [table T] [metric N]`: a route the lab added (its
    /// undo step goes) or, outside the lab's namespaces, one that was there
    /// before (it is put back at teardown, as it was).
    pub fn delete_route(&mut self, id: NsId, req: RouteDelReq) -> Result<()> {
        if let Some(r) = self.remote_do(id, "route_delete", &req) {
            return r;
        }
        let table = req.table.unwrap_or(MAIN_TABLE);
        let rows = self.route_rows(id)?;
        let found: Vec<&RouteRow> = rows
            .iter()
            .filter(|r| match req.dst {
                Some(d) => r.dst == d,
                None => r.dst.prefix_len() == 0,
            })
            .filter(|r| r.table == table && req.metric.is_none_or(|m| r.metric == m))
            .collect();
        let dst_txt = req.dst.map_or("default".to_string(), dst_text);
        let metric_txt = req
            .metric
            .map(|m| format!(" with metric {m}"))
            .unwrap_or_default();
        let where_ = self.where_(id);
        let row = match found.as_slice() {
            [] => {
                return Err(LabError::new(
                    format!(
                        "there is no route {dst_txt}{}{metric_txt} in {where_}",
                        table_note(req.table)
                    ),
                    format!(
                        "{}.routes() lists the routes there, each with its table and metric",
                        self.var_hint(id)
                    ),
                ));
            }
            [one] => (*one).clone(),
            many => {
                let links = self.links_raw(id)?;
                let list: Vec<String> = many
                    .iter()
                    .map(|r| view_text(&view_of(r, &links)))
                    .collect();
                let families_differ = many
                    .iter()
                    .any(|r| r.dst.addr().is_ipv4() != many[0].dst.addr().is_ipv4());
                let help = if families_differ {
                    "\"default\" names both an IPv4 and an IPv6 route: write \"0.0.0.0/0\" or \"::/0\"".to_string()
                } else {
                    format!(
                        "say which by its metric: route_delete(\"{dst_txt}\", #{{metric: {}}})",
                        many[0].metric
                    )
                };
                return Err(LabError::new(
                    format!(
                        "{} routes {dst_txt} in {where_} match: {}",
                        many.len(),
                        list.join("; ")
                    ),
                    help,
                ));
            }
        };
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let mut spec = RouteSpec::to(row.dst);
        spec.table = row.table;
        spec.kind = row.kind;
        spec.metric = Some(row.metric);
        spec.protocol = Some(row.protocol_id);
        let what = format!(
            "route {dst_txt}{}{metric_txt} in '{}'",
            table_note(req.table),
            self.sp.name(id)
        );
        let del = |lab: &mut Lab| {
            lab.sp
                .block_on(r.del_route(&spec))
                .map_err(|e| LabError::kernel("delete a route", &what, e))
        };
        let del_txt = format!(
            "route del {} table {} metric {}",
            row.dst, row.table, row.metric
        );
        if self.sp.is_created(id) {
            del(self)?;
            self.tell(Event::RouteDeleted {
                ns: id,
                what: &del_txt,
            });
            return Ok(());
        }
        // A route this lab added: it goes now, and so does its undo step.
        if let Some(pos) = self.ledger.position(|u| added_route(u, id, &self.sp, &row)) {
            del(self)?;
            self.tell(Event::RouteDeleted {
                ns: id,
                what: &del_txt,
            });
            self.ledger.drop(pos)?;
            return Ok(());
        }
        // A route of the host from before: its undo would have to write
        // the whole route back.
        self.unplanned("route_delete() of a route the lab did not add")?;
        if !row.unrestorable.is_empty() {
            return Err(LabError::new(
                format!(
                    "nslab cannot put {what} back at teardown: it has {}",
                    row.unrestorable.join(", ")
                ),
                "nslab deletes only what it can restore exactly; delete this route with `ip route del` yourself if you must",
            ));
        }
        let links = self.links_raw(id)?;
        let name = |i: Option<u32>| -> Result<Option<String>> {
            match i {
                None => Ok(None),
                Some(i) => links
                    .iter()
                    .find(|l| l.index == i)
                    .map(|l| Some(l.name.clone()))
                    .ok_or_else(|| {
                        LabError::new(
                            format!("{what} goes through link {i}, which is gone"),
                            "try again: the kernel is removing that link's routes",
                        )
                    }),
            }
        };
        let mut nexthops = Vec::new();
        for h in &row.nexthops {
            nexthops.push(NamedHop {
                via: h.via,
                dev: name(h.oif)?,
                ifindex: h.oif,
                weight: h.weight,
                onlink: h.flags.contains(&"onlink"),
            });
        }
        let saved = SavedRoute {
            dst: row.dst,
            table: row.table,
            kind: row.kind,
            protocol: row.protocol_id,
            scope: row.scope,
            metric: row.metric,
            via: row.via,
            dev: name(row.oif)?,
            ifindex: row.oif,
            src: row.src,
            onlink: row.flags.contains(&"onlink"),
            nexthops,
            metrics: row.metrics.clone(),
            pref: row.pref,
        };
        let undo = Undo::RestoreRoute(RestoreRoute {
            ns: self.sp.nsref(id).clone(),
            route: saved,
        });
        self.recorded(Some(id), undo, del)
    }

    /// `ip addr show` in `ns`.
    pub fn addrs(&mut self, id: NsId) -> Result<Vec<AddrView>> {
        let links = self.links_raw(id)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let rows: Vec<AddrRow> = self
            .sp
            .block_on(r.addrs())
            .map_err(|e| LabError::kernel("list addresses", &self.where_(id), e))?;
        Ok(rows
            .into_iter()
            .map(|a| AddrView {
                dev: links
                    .iter()
                    .find(|l| l.index == a.index)
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
                addr: a.addr,
            })
            .collect())
    }

    /// The kernel's routes in `ns`, IPv4 then IPv6 (without the local table).
    pub(super) fn route_rows(&mut self, id: NsId) -> Result<Vec<RouteRow>> {
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let mut rows: Vec<RouteRow> = self
            .sp
            .block_on(r.routes(false))
            .map_err(|e| LabError::kernel("list routes", &self.where_(id), e))?;
        rows.extend(
            self.sp
                .block_on(r.routes(true))
                .map_err(|e| LabError::kernel("list routes", &self.where_(id), e))?,
        );
        Ok(rows)
    }

    /// `ip route show table all` + `ip -6 route show table all` in `ns`
    /// (without the local table).
    pub fn routes(&mut self, id: NsId) -> Result<Vec<RouteView>> {
        let links = self.links_raw(id)?;
        let rows = self.route_rows(id)?;
        Ok(rows.iter().map(|x| view_of(x, &links)).collect())
    }
}

/// A route with its devices named.
pub(super) fn view_of(x: &RouteRow, links: &[LinkInfoRow]) -> RouteView {
    let name = |i: Option<u32>| {
        i.and_then(|i| links.iter().find(|l| l.index == i).map(|l| l.name.clone()))
    };
    RouteView {
        dst: x.dst,
        via: x.via,
        dev: name(x.oif),
        metric: x.metric,
        table: x.table,
        kind: x.kind,
        src: x.src,
        nexthops: x
            .nexthops
            .iter()
            .map(|h| HopView {
                via: h.via,
                dev: name(h.oif),
                weight: h.weight,
                flags: h.flags.clone(),
            })
            .collect(),
        protocol: x.protocol.clone(),
        flags: x.flags.clone(),
    }
}

/// Is `u` the undo step of the route `row` this lab added in `id`?
fn added_route(u: &Undo, id: NsId, sp: &space::Spaces, row: &RouteRow) -> bool {
    match u {
        Undo::DeleteRoute(DeleteRoute {
            ns,
            dst,
            metric,
            table,
            kind,
            ..
        }) => {
            ns == sp.nsref(id)
                && *dst == row.dst
                && table.unwrap_or(MAIN_TABLE) == row.table
                && metric.unwrap_or(default_metric(*dst)) == row.metric
                && *kind == row.kind
        }
        _ => false,
    }
}

/// The metric the kernel gives a route added without one.
fn default_metric(dst: IpNet) -> u32 {
    if dst.addr().is_ipv4() { 0 } else { 1024 }
}

/// " (table T)" for a table other than main.
fn table_note(t: Option<u32>) -> String {
    match t {
        Some(t) if t != MAIN_TABLE => format!(" (table {t})"),
        _ => String::new(),
    }
}

/// A route request as `ip route` would write it (without table and metric).
fn route_text(r: &RouteReq) -> String {
    let mut s = String::new();
    if r.kind != RouteKind::Unicast {
        s.push_str(r.kind.name());
        s.push(' ');
    }
    s.push_str(&dst_text(r.dst));
    if let Some(v) = r.via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = &r.dev {
        s.push_str(&format!(" dev {d}"));
    }
    for h in &r.nexthops {
        s.push_str(" nexthop");
        if let Some(v) = h.via {
            s.push_str(&format!(" via {v}"));
        }
        if let Some(d) = &h.dev {
            s.push_str(&format!(" dev {d}"));
        }
    }
    s
}

/// A route as `ip route` shows it, on one line (table and metric included
/// when not the defaults).
pub(super) fn view_text(r: &RouteView) -> String {
    let mut s = String::new();
    if r.kind != RouteKind::Unicast {
        s.push_str(r.kind.name());
        s.push(' ');
    }
    s.push_str(&dst_text(r.dst));
    if let Some(v) = r.via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = &r.dev {
        s.push_str(&format!(" dev {d}"));
    }
    if r.table != MAIN_TABLE {
        s.push_str(&format!(" table {}", r.table));
    }
    if r.metric != default_metric(r.dst) && r.metric != 256 {
        s.push_str(&format!(" metric {}", r.metric));
    }
    if let Some(src) = r.src {
        s.push_str(&format!(" src {src}"));
    }
    for f in &r.flags {
        s.push_str(&format!(" {f}"));
    }
    for h in &r.nexthops {
        s.push_str(" nexthop");
        if let Some(v) = h.via {
            s.push_str(&format!(" via {v}"));
        }
        if let Some(d) = &h.dev {
            s.push_str(&format!(" dev {d}"));
        }
        s.push_str(&format!(" weight {}", h.weight));
        for f in &h.flags {
            s.push_str(&format!(" {f}"));
        }
    }
    s
}

/// The kernel's main routing table, where `ns.route` adds routes.
pub(super) const MAIN_TABLE: u32 = rtnl::MAIN_TABLE;

/// A route destination as scripts write it: "default" for a /0.
pub(super) fn dst_text(dst: IpNet) -> String {
    if dst.prefix_len() == 0 {
        "default".into()
    } else {
        dst.to_string()
    }
}

/// The id of the routing table called `name` in iproute2's rt_tables files
/// ("main", "local" and "default" need none).
pub fn table_by_name(name: &str) -> Result<u32> {
    rtnl::tables::table_id(name).map_err(|looked| {
        let files = if looked.is_empty() {
            let all: Vec<String> = rtnl::tables::table_files()
                .iter()
                .filter(|p| p.file_name().is_some_and(|f| f == "rt_tables"))
                .map(|p| p.display().to_string())
                .collect();
            format!(
                "no rt_tables file exists here (looked for {})",
                all.join(", ")
            )
        } else {
            let read: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
            format!("it is not in {}", read.join(", "))
        };
        LabError::new(
            format!("unknown routing table '{name}': {files}"),
            format!(
                "give the table's number (table: 100), use \"main\", \"local\" or \"default\", or name it in /etc/iproute2/rt_tables (a line \"100 {name}\")"
            ),
        )
    })
}
