//! Addresses and routes: `ip addr` and `ip route`.

use super::*;

impl Lab {
    /// `ip addr add ADDR dev DEV`.
    pub fn add_addr(&mut self, id: NsId, dev: &str, addr: IpNet) -> Result<()> {
        let index = match self.ifindex.get(&(id, dev.to_string())) {
            Some(i) => *i,
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
                lab.ifindex.remove(&(id, dev.to_string()));
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
            let undo = Undo::DeleteAddr {
                ns: self.sp.nsref(id).clone(),
                dev: dev.to_string(),
                ifindex: index,
                addr,
            };
            self.recorded(Some(id), undo, act)
        } else {
            act(self)
        }
    }

    /// `ip route add DST [via GW] [dev DEV] [metric N]`.
    pub fn add_route(&mut self, id: NsId, req: RouteReq) -> Result<()> {
        if let Some(gw) = req.via
            && gw.is_ipv4() != req.dst.addr().is_ipv4()
        {
            return Err(LabError::new(
                format!(
                    "gateway {gw} and destination {} are of different IP versions",
                    req.dst
                ),
                "use an IPv4 gateway for IPv4 routes and an IPv6 gateway for IPv6 routes",
            ));
        }
        let oif = match &req.dev {
            Some(d) => Some(self.link(id, d)?.index),
            None => None,
        };
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let spec = RouteSpec {
            dst: req.dst,
            via: req.via,
            oif,
            metric: req.metric,
        };
        let via_txt = req.via.map(|v| format!(" via {v}")).unwrap_or_default();
        let dst_txt = dst_text(req.dst);
        let what = format!("{dst_txt}{via_txt} in '{}'", self.sp.name(id));
        let undo = Undo::DeleteRoute {
            ns: self.sp.nsref(id).clone(),
            dst: req.dst,
            via: req.via,
            dev: req.dev.clone(),
            metric: req.metric,
        };
        self.recorded(Some(id), undo, |lab| {
            lab.sp.block_on(r.add_route(&spec)).map_err(|e| match e.raw_errno() {
                Some(libc::ENETUNREACH) => LabError::new(
                    format!(
                        "cannot add route {what}: gateway {} is not on any connected subnet",
                        req.via.map(|v| v.to_string()).unwrap_or_default()
                    ),
                    "give the namespace an address in the gateway's subnet first (ns.addr or link.addr), and make sure that link is up",
                ),
                Some(libc::EEXIST) => lab.route_exists_err(id, &req, &dst_txt, &what),
                _ => LabError::kernel("add a route", &what, e),
            })
        })
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
        let default_metric = if req.dst.addr().is_ipv4() { 0 } else { 1024 };
        let want = req.metric.unwrap_or(default_metric);
        let existing = self.routes(id).ok().and_then(|rs| {
            rs.into_iter().find(|r| {
                r.dst == req.dst
                    && r.table == MAIN_TABLE
                    && r.metric.unwrap_or(default_metric) == want
            })
        });
        let metric_txt = req
            .metric
            .map(|m| format!(" with metric {m}"))
            .unwrap_or_default();
        let message = match existing {
            Some(r) => {
                let mut there = String::new();
                if let Some(v) = r.via {
                    there.push_str(&format!(" via {v}"));
                }
                if let Some(d) = &r.dev {
                    there.push_str(&format!(" dev {d}"));
                }
                format!(
                    "cannot add route {what}: there is already a route {dst_txt}{metric_txt}{there}"
                )
            }
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

    /// `ip route show` + `ip -6 route show` in `ns` (without the local table).
    pub fn routes(&mut self, id: NsId) -> Result<Vec<RouteView>> {
        let links = self.links_raw(id)?;
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
        Ok(rows
            .into_iter()
            .map(|x| RouteView {
                dst: x.dst,
                via: x.via,
                dev: x
                    .oif
                    .and_then(|i| links.iter().find(|l| l.index == i).map(|l| l.name.clone())),
                metric: x.metric,
                table: x.table,
                protocol: x.protocol,
            })
            .collect())
    }
}

/// The kernel's main routing table, where `ns.route` adds routes.
pub(super) const MAIN_TABLE: u32 = 254;

/// A route destination as scripts write it: "default" for a /0.
pub(super) fn dst_text(dst: IpNet) -> String {
    if dst.prefix_len() == 0 {
        "default".into()
    } else {
        dst.to_string()
    }
}
