//! Policy routing rules and neighbour entries: `ip rule` and `ip neigh`.

use super::events::Event;
use super::ledger::Undo;
use super::ledger::rule_text;
use super::names::format_mac;
use super::{Lab, LabError, NsId, Result, names, net_err};
use crate::net::rtnl;
use crate::net::rtnl::{RuleAction, RuleSpec};
use std::net::IpAddr;

use crate::lab::steps::routing::{DeleteNeigh, DeleteRule};

impl Lab {
    /// `ip rule add …` for one family. A rule without a priority gets the
    /// one the kernel would give it, asked for explicitly: the journal then
    /// names exactly this rule before it exists.
    pub fn add_rule(&mut self, id: NsId, mut rule: RuleSpec) -> Result<()> {
        if let Some(r) = self.remote_do(id, "rule_add", &rule) {
            return r;
        }
        // A rule may name a link that does not exist (yet), but never a
        // name no link could have: the journal step would be refused.
        for name in rule.iif.iter().chain(rule.oif.iter()) {
            names::check_ifname(name)?;
        }
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        if rule.priority.is_none() {
            let rows = self
                .sp
                .block_on(r.rules(rule.v6))
                .map_err(|e| LabError::kernel("list rules", &self.where_(id), e))?;
            rule.priority = Some(rtnl::default_priority(&rows));
        }
        let what = format!("rule '{}' in '{}'", rule_text(&rule), self.sp.name(id));
        let undo = Undo::DeleteRule(DeleteRule {
            ns: self.sp.nsref(id).clone(),
            rule: rule.clone(),
        });
        self.recorded(Some(id), undo, |lab| {
            lab.sp
                .block_on(r.add_rule(&rule))
                .map_err(|e| match e.raw_errno() {
                    Some(libc::EEXIST) => LabError::new(
                        format!("{what} exists already"),
                        "each rule can be added once: remove the duplicate call, or give it another priority",
                    ),
                    Some(libc::EAFNOSUPPORT) => LabError::new(
                        format!("cannot add {what}: IPv6 is off in this namespace"),
                        "give the rule an IPv4 from or to, or turn IPv6 on (net.ipv6.conf.all.disable_ipv6=0)",
                    ),
                    _ => LabError::kernel("add a rule", &what, e),
                })
        })?;
        self.tell(Event::RuleAdded {
            ns: id,
            rule: &rule,
        });
        Ok(())
    }

    /// `ip neigh add ADDR lladdr MAC dev DEV nud permanent`. An entry the
    /// kernel learned by itself is replaced (it would come back anyway); a
    /// permanent one someone set is not touched.
    pub fn add_neigh(&mut self, id: NsId, dev: &str, addr: IpAddr, mac: [u8; 6]) -> Result<()> {
        if let Some(r) = self.remote_do(id, "neigh", &(dev, addr, mac)) {
            return r;
        }
        let link = self.link(id, dev)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("neighbour {addr} on '{dev}' in '{}'", self.sp.name(id));
        let existing = self
            .sp
            .block_on(r.neigh(link.index, addr))
            .map_err(|e| LabError::kernel("look up a neighbour", &what, e))?;
        if let Some(n) = &existing
            && n.permanent
        {
            let there = n
                .lladdr
                .map(|m| format!(" ({})", format_mac(&m)))
                .unwrap_or_default();
            return Err(LabError::new(
                format!("there is already a permanent entry for {what}{there}"),
                "each neighbour entry can be set once: remove the duplicate call, or use another address",
            ));
        }
        let replace = existing.is_some();
        let act = |lab: &mut Lab| {
            lab.sp
                .block_on(r.add_neigh(link.index, addr, mac, replace))
                .map_err(|e| match e.raw_errno() {
                    Some(libc::EINVAL) => LabError::new(
                        format!("cannot add {what}: the kernel refused the address"),
                        "a neighbour is a unicast address of the link's IP version (not a network, broadcast or multicast address)",
                    ),
                    _ => LabError::kernel("add a neighbour", &what, e),
                })
        };
        if self.foreign_link(id, dev) {
            let undo = Undo::DeleteNeigh(DeleteNeigh {
                ns: self.sp.nsref(id).clone(),
                dev: dev.to_string(),
                ifindex: link.index,
                addr,
                lladdr: format_mac(&mac),
            });
            self.recorded(Some(id), undo, act)?;
            self.tell(Event::NeighAdded {
                ns: id,
                dev,
                addr,
                mac: &format_mac(&mac),
                foreign: true,
            });
        } else {
            act(self)?;
            self.tell(Event::NeighAdded {
                ns: id,
                dev,
                addr,
                mac: &format_mac(&mac),
                foreign: false,
            });
        }
        Ok(())
    }
}

/// The rules a namespace starts with: lookup local (0), main (32766) and
/// default (32767, IPv4 only).
pub(super) fn is_default_rule(r: &RuleSpec) -> bool {
    let plain = r.from.is_none()
        && r.to.is_none()
        && r.iif.is_none()
        && r.oif.is_none()
        && r.fwmark.is_none()
        && r.action == RuleAction::Lookup;
    plain
        && matches!(
            (r.priority, r.table),
            (Some(0), Some(255)) | (Some(32766), Some(254)) | (Some(32767), Some(253))
        )
}
