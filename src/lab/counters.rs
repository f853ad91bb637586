//! Reading the kernel's tables for a script: a bridge's forwarding database
//! and ports, a link's counters and qdiscs, with links named as the script
//! names them.

use super::{Lab, LabError, NsId, Result, names, net_err};
pub use crate::net::rtnl::{LinkCounters, QdiscRow, VlanRow};

/// One forwarding database entry (`bridge fdb show br BR`).
#[derive(Debug, Clone, PartialEq)]
pub struct FdbView {
    pub mac: String,
    /// The port it was seen on, or the bridge itself for its own address.
    pub port: String,
    pub vlan: Option<u16>,
    pub local: bool,
    pub is_static: bool,
    /// Seconds since it was last refreshed; `None` for local and static.
    pub age_s: Option<f64>,
}

/// One port of a bridge (`bridge -d link show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    pub name: String,
    pub state: &'static str,
    pub cost: u32,
    pub priority: u16,
    pub isolated: bool,
    pub hairpin: bool,
    pub learning: bool,
    pub flood: bool,
    pub vlans: Vec<VlanRow>,
}

/// One VLAN of a bridge or of one of its ports (`bridge vlan show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanView {
    /// The port, or the bridge itself for its own VLANs.
    pub port: String,
    pub vid: u16,
    pub pvid: bool,
    pub untagged: bool,
}

impl Lab {
    /// The index of `name` in `id`, which must be a bridge.
    fn bridge_index(&mut self, id: NsId, name: &str, call: &str) -> Result<u32> {
        let row = self.link(id, name)?;
        if row.kind != "bridge" {
            let kind = if row.kind.is_empty() {
                "plain".to_string()
            } else {
                row.kind.clone()
            };
            return Err(LabError::new(
                format!("'{name}' is a {kind} link, not a bridge: it has no {call}"),
                "call it on a bridge, e.g. let br = bridge(ns, \"br0\"); br.fdb()",
            ));
        }
        Ok(row.index)
    }

    /// `bridge fdb show br BR`: the entries of the bridge's own table.
    pub fn fdb(&mut self, id: NsId, br: &str) -> Result<Vec<FdbView>> {
        let index = self.bridge_index(id, br, "forwarding database")?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let rows = self
            .sp
            .block_on(r.fdb(index))
            .map_err(|e| LabError::kernel("read the forwarding database of", br, e))?;
        let links = self.links_raw(id)?;
        let name = |i: u32| {
            links
                .iter()
                .find(|l| l.index == i)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| format!("if{i}"))
        };
        Ok(rows
            .iter()
            .map(|f| FdbView {
                mac: names::format_mac(&f.mac),
                port: name(f.index),
                vlan: f.vlan,
                local: f.local,
                is_static: f.is_static,
                age_s: f.updated_cs.map(|cs| f64::from(cs) / 100.0),
            })
            .collect())
    }

    /// `bridge -d link show master BR`: its ports, in the kernel's order.
    pub fn bridge_ports(&mut self, id: NsId, br: &str) -> Result<Vec<PortView>> {
        let index = self.bridge_index(id, br, "ports")?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let rows = self
            .sp
            .block_on(r.bridge_ports())
            .map_err(|e| LabError::kernel("read the ports of", br, e))?;
        let links = self.links_raw(id)?;
        Ok(rows
            .into_iter()
            .filter(|p| p.master == Some(index))
            .map(|p| PortView {
                name: links
                    .iter()
                    .find(|l| l.index == p.index)
                    .map(|l| l.name.clone())
                    .unwrap_or_else(|| format!("if{}", p.index)),
                state: p.state,
                cost: p.cost,
                priority: p.priority,
                isolated: p.isolated,
                hairpin: p.hairpin,
                learning: p.learning,
                flood: p.flood,
                vlans: p.vlans,
            })
            .collect())
    }

    /// `bridge vlan show`: the bridge's own VLANs, then its ports'.
    pub fn bridge_vlans(&mut self, id: NsId, br: &str) -> Result<Vec<VlanView>> {
        let index = self.bridge_index(id, br, "vlans")?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let rows = self
            .sp
            .block_on(r.bridge_vlans(index))
            .map_err(|e| LabError::kernel("read the vlans of", br, e))?;
        let links = self.links_raw(id)?;
        Ok(rows
            .into_iter()
            .map(|(i, v)| VlanView {
                port: links
                    .iter()
                    .find(|l| l.index == i)
                    .map(|l| l.name.clone())
                    .unwrap_or_else(|| format!("if{i}")),
                vid: v.vid,
                pvid: v.pvid,
                untagged: v.untagged,
            })
            .collect())
    }

    /// `ip -s link show dev LINK`: its counters.
    pub fn link_stats(&mut self, id: NsId, name: &str) -> Result<LinkCounters> {
        let index = self.link(id, name)?.index;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.sp
            .block_on(r.link_counters(index))
            .map_err(|e| LabError::kernel("read the counters of", name, e))
    }

    /// `tc -s qdisc show dev LINK`: its qdiscs, root first.
    pub fn qdiscs(&mut self, id: NsId, name: &str) -> Result<Vec<QdiscRow>> {
        let index = self.link(id, name)?.index;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.sp
            .block_on(r.qdiscs(index))
            .map_err(|e| LabError::kernel("read the qdiscs of", name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_print_as_the_tools_print_them() {
        assert_eq!(
            names::format_mac(&[0x02, 0, 0xab, 1, 2, 0xff]),
            "02:00:ab:01:02:ff"
        );
    }
}
