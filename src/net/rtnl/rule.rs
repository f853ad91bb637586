//! Policy routing rules over rtnetlink (`ip rule add/del/show`).

use ipnet::IpNet;
use netlink_packet_route::rule::{
    RuleAction as KernelAction, RuleAttribute, RuleHeader, RuleMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Serialize};

use super::{Rtnl, nl, wire};
use crate::net::Result;

/// What a rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Look the destination up in the rule's table.
    #[default]
    Lookup,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RuleAction {
    pub fn name(self) -> &'static str {
        match self {
            RuleAction::Lookup => "lookup",
            RuleAction::Blackhole => "blackhole",
            RuleAction::Unreachable => "unreachable",
            RuleAction::Prohibit => "prohibit",
        }
    }

    fn to_kernel(self) -> KernelAction {
        match self {
            RuleAction::Lookup => KernelAction::ToTable,
            RuleAction::Blackhole => KernelAction::Blackhole,
            RuleAction::Unreachable => KernelAction::Unreachable,
            RuleAction::Prohibit => KernelAction::Prohibit,
        }
    }

    fn from_kernel(a: KernelAction) -> Option<RuleAction> {
        Some(match a {
            KernelAction::ToTable => RuleAction::Lookup,
            KernelAction::Blackhole => RuleAction::Blackhole,
            KernelAction::Unreachable => RuleAction::Unreachable,
            KernelAction::Prohibit => RuleAction::Prohibit,
            _ => return None,
        })
    }
}

/// One rule (`ip rule add [from P] [to P] [iif I] [oif O] [fwmark M/K]
/// [priority N] lookup T | blackhole | unreachable | prohibit`). Also what
/// the journal keeps to delete exactly this rule again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub v6: bool,
    pub priority: Option<u32>,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub table: Option<u32>,
    pub action: RuleAction,
}

/// A rule as `ip rule show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub spec: RuleSpec,
    /// Actions nslab does not make (goto, nop) are listed with this set.
    pub other_action: bool,
    /// The action as `ip rule` names it ("lookup", "goto", "nop", …).
    pub action_name: &'static str,
}

impl RuleSpec {
    /// Does the kernel's rule `row` say exactly what this one says? A
    /// fwmark without a mask gets the mask 0xffffffff.
    pub fn same_as(&self, row: &RuleSpec) -> bool {
        let mask = |s: &RuleSpec| s.fwmark.map(|_| s.fwmask.unwrap_or(u32::MAX));
        self.v6 == row.v6
            && self.priority.unwrap_or(0) == row.priority.unwrap_or(0)
            && self.from == row.from
            && self.to == row.to
            && self.iif == row.iif
            && self.oif == row.oif
            && self.fwmark == row.fwmark
            && mask(self) == mask(row)
            && self.table.unwrap_or(0) == row.table.unwrap_or(0)
            && self.action == row.action
    }
}

fn msg(spec: &RuleSpec) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header = RuleHeader {
        family: if spec.v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        },
        action: spec.action.to_kernel(),
        ..Default::default()
    };
    if let Some(t) = spec.table {
        // Ids past 255 only fit in FRA_TABLE (rtm_table stays unspec).
        m.header.table = u8::try_from(t).unwrap_or(0);
        m.attributes.push(RuleAttribute::Table(t));
    }
    if let Some(p) = spec.priority {
        m.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some(n) = spec.from {
        m.header.src_len = n.prefix_len();
        m.attributes.push(RuleAttribute::Source(n.addr()));
    }
    if let Some(n) = spec.to {
        m.header.dst_len = n.prefix_len();
        m.attributes.push(RuleAttribute::Destination(n.addr()));
    }
    if let Some(i) = &spec.iif {
        m.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &spec.oif {
        m.attributes.push(RuleAttribute::Oifname(o.clone()));
    }
    if let Some(mark) = spec.fwmark {
        m.attributes.push(RuleAttribute::FwMark(mark));
        m.attributes
            .push(RuleAttribute::FwMask(spec.fwmask.unwrap_or(u32::MAX)));
    }
    m
}

fn row(m: &RuleMessage, v6: bool) -> RuleRow {
    let mut spec = RuleSpec {
        v6,
        priority: Some(0),
        from: None,
        to: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        table: (m.header.table != 0).then_some(u32::from(m.header.table)),
        action: RuleAction::Lookup,
    };
    let action = RuleAction::from_kernel(m.header.action);
    if let Some(a) = action {
        spec.action = a;
    }
    for a in &m.attributes {
        match a {
            RuleAttribute::Priority(p) => spec.priority = Some(*p),
            RuleAttribute::Source(ip) => spec.from = IpNet::new(*ip, m.header.src_len).ok(),
            RuleAttribute::Destination(ip) => spec.to = IpNet::new(*ip, m.header.dst_len).ok(),
            RuleAttribute::Iifname(i) => spec.iif = Some(i.clone()),
            RuleAttribute::Oifname(o) => spec.oif = Some(o.clone()),
            RuleAttribute::FwMark(x) => spec.fwmark = Some(*x),
            RuleAttribute::FwMask(x) => spec.fwmask = Some(*x),
            RuleAttribute::Table(t) => spec.table = (*t != 0).then_some(*t),
            _ => {}
        }
    }
    if spec.fwmark.is_none() {
        spec.fwmask = None;
    }
    if spec.action != RuleAction::Lookup {
        spec.table = None;
    }
    RuleRow {
        spec,
        other_action: action.is_none(),
        action_name: match (action, m.header.action) {
            (Some(a), _) => a.name(),
            (None, KernelAction::Goto) => "goto",
            (None, KernelAction::Nop) => "nop",
            (None, _) => "other",
        },
    }
}

impl Rtnl {
    /// `ip rule add …`; fails if the very same rule is there already.
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<()> {
        self.create(RouteNetlinkMessage::NewRule(msg(spec)), "add rule")
            .await
    }

    /// `ip rule del …` with every selector of `spec`.
    pub async fn del_rule(&self, spec: &RuleSpec) -> Result<()> {
        wire::ack(&self.conn, RouteNetlinkMessage::DelRule(msg(spec)), 0)
            .await
            .map_err(nl("delete rule"))
    }

    /// `ip rule show` (or `ip -6 rule show`), in the kernel's order.
    pub async fn rules(&self, v6: bool) -> Result<Vec<RuleRow>> {
        let mut filter = RuleMessage::default();
        filter.header.family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let got = wire::dump(&self.conn, RouteNetlinkMessage::GetRule(filter))
            .await
            .map_err(nl("list rules"))?;
        Ok(got
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(r) => Some(row(r, v6)),
                _ => None,
            })
            .collect())
    }
}

/// The priority the kernel gives a rule added without one: one less than
/// the second rule's (the first is the local table's, at 0), as
/// fib_default_rule_pref() computes it. Known before the rule is added, it
/// lets the journal name the exact rule.
pub fn default_priority(rules: &[RuleRow]) -> u32 {
    match rules.get(1).and_then(|r| r.spec.priority) {
        Some(p) if p > 0 => p - 1,
        _ => 0,
    }
}
