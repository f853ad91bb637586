//! The next hop: nobody on the link has it, or it does not answer ARP
//! (neighbour discovery).

use std::net::IpAddr;

use super::{neigh_word, table_arg};
use crate::explain::Finding;
use crate::explain::kernel::Ns;
use crate::explain::segment::{self, Segment};
use crate::explain::walk::Walker;
use crate::net::rtnl::{LinkInfoRow, RouteAnswer};

impl Walker<'_, '_> {
    /// `next` is on `e`, but `ns`'s neighbour entry for it is `state`
    /// (failed, incomplete): its requests go unanswered.
    pub(in crate::explain) fn unanswered(
        &mut self,
        ns: Ns,
        oif: &LinkInfoRow,
        next: IpAddr,
        e: &segment::Endpoint,
        state: &str,
    ) -> Finding {
        let (o, ov, ol) = (self.name(e.ns), self.var(e.ns), e.link.name.clone());
        let entry = format!(
            "{}'s {} entry for {next} on {} is {}",
            self.name(ns),
            neigh_word(next),
            oif.name,
            state.to_uppercase()
        );
        // A router solicits a neighbour for a packet it forwards only from
        // a link-local address that passed DAD.
        if next.is_ipv6()
            && self
                .w
                .sysctl_num(ns, "net/ipv6/conf/all/forwarding")
                .is_some_and(|f| f != 0)
            && self.w.link_local_tentative(ns, oif.index)
        {
            let (n, nv, on) = (self.name(ns), self.var(ns), oif.name.clone());
            return Finding {
                reason: format!(
                    "{entry}: {n} forwards it, and a router asks for a neighbour only from a link-local address done with duplicate address detection, which {on}'s still is not (DAD runs for a second or more after a link comes up, longer with more dad_transmits)"
                ),
                help: format!(
                    "probe again in a moment; or have {n} skip DAD on links it makes from now on: {nv}.sysctl(\"net.ipv6.conf.default.accept_dad\", \"0\") before they are made"
                ),
            };
        }
        if next.is_ipv4() {
            let all = self
                .w
                .sysctl_num(e.ns, "net/ipv4/conf/all/arp_ignore")
                .unwrap_or(0);
            let dev = self
                .w
                .sysctl_num(e.ns, &format!("net/ipv4/conf/{ol}/arp_ignore"))
                .unwrap_or(0);
            // 8: answer no ARP request at all.
            if all.max(dev) >= 8 {
                let mut fix = Vec::new();
                if all >= 8 {
                    fix.push(format!(
                        "{ov}.sysctl(\"net.ipv4.conf.all.arp_ignore\", \"0\")"
                    ));
                }
                if dev >= 8 {
                    fix.push(format!(
                        "{ov}.sysctl(\"net.ipv4.conf.{ol}.arp_ignore\", \"0\")"
                    ));
                }
                let key = if dev >= 8 { ol.as_str() } else { "all" };
                return Finding {
                    reason: format!(
                        "{o} answers no ARP request on {ol} (net.ipv4.conf.{key}.arp_ignore = {}), so {entry}",
                        all.max(dev)
                    ),
                    help: fix.join("; "),
                };
            }
        }
        Finding {
            reason: format!(
                "{entry}, though {o} {ol} has that address: something on the link drops {} (an arp or bridge firewall rule, arp_ignore/arp_filter, rp_filter for the sender)",
                neigh_word(next)
            ),
            help: format!(
                "look at {o}'s firewall ({ov}.run(\"nft list ruleset\")) and its arp sysctls ({ov}.run(\"sysctl -a -r arp_\"))"
            ),
        }
    }

    /// Nobody on the segment of `oif` holds the next hop.
    pub(in crate::explain) fn nobody_has(
        &mut self,
        ns: Ns,
        oif: &LinkInfoRow,
        a: &RouteAnswer,
        dst: IpAddr,
        seg: &Segment,
    ) -> Finding {
        let next = a.gateway.unwrap_or(dst);
        let neigh = match self.w.neighbour(ns, oif.index, next) {
            Some(n) if n.state == "failed" || n.state == "incomplete" => format!(
                "; {}'s {} entry for {next} is {}",
                self.name(ns),
                neigh_word(next),
                n.state.to_uppercase()
            ),
            _ => String::new(),
        };
        let elsewhere = self.w.owners(next).into_iter().next().map(|(ons, idx, _)| {
            let l = self.w.link_name(ons, idx);
            format!("{} {l}", self.name(ons))
        });
        let where_ = match &elsewhere {
            Some(o) => format!("{next} is on {o}, which is not on that link"),
            None => "no namespace of the lab has it".to_string(),
        };
        // Routers on the link: their addresses in a subnet of ours.
        let mine = self.w.addrs_on(ns, oif.index, next);
        let mut near: Vec<(Ns, IpAddr)> = Vec::new();
        for e in &seg.endpoints {
            if e.ns == ns && e.link.index == oif.index {
                continue;
            }
            for n in self.w.addrs_on(e.ns, e.link.index, next) {
                if mine.iter().any(|m| m.contains(&n.addr())) {
                    near.push((e.ns, n.addr()));
                }
            }
        }
        if a.gateway.is_some() {
            let route = self.route_of(ns, dst, next, a.table);
            let help = match near.as_slice() {
                [(_, r)] => format!(
                    "route via the router on that link: {}.run(\"ip route replace {route} via {r}{}\")",
                    self.var(ns),
                    table_arg(a.table)
                ),
                [] => format!(
                    "give {next} to the router on {}'s link, or route via another gateway",
                    oif.name
                ),
                many => {
                    let list: Vec<String> = many.iter().map(|(_, ip)| ip.to_string()).collect();
                    format!(
                        "route via a router on that link ({}): {}.run(\"ip route replace {route} via {}{}\")",
                        list.join(", "),
                        self.var(ns),
                        list[0],
                        table_arg(a.table)
                    )
                }
            };
            Finding {
                reason: format!(
                    "{}'s route to {dst} goes via {next}, which nobody on the link of {} has ({where_}){neigh}",
                    self.name(ns),
                    oif.name
                ),
                help,
            }
        } else {
            let help = match (&elsewhere, near.first()) {
                (Some(o), _) => format!(
                    "{dst} belongs to {o}: connect it to that link, or route to it via a router"
                ),
                (None, Some((other, _))) => {
                    let other_link = seg
                        .endpoints
                        .iter()
                        .find(|e| e.ns == *other)
                        .map(|e| e.link.name.clone())
                        .unwrap_or_default();
                    let len = mine.first().map(|n| n.prefix_len()).unwrap_or(24);
                    format!(
                        "check the address, or give it to a namespace on that link, e.g. {}.addr(\"{other_link}\", \"{dst}/{len}\")",
                        self.var(*other)
                    )
                }
                (None, None) => "check the address, or give it to a namespace on that link".into(),
            };
            Finding {
                reason: format!(
                    "{dst} exists nowhere on the link of {} {} ({where_}){neigh}",
                    self.name(ns),
                    oif.name
                ),
                help,
            }
        }
    }

    /// The destination of the route `ns` would use for `dst` via `gw`.
    pub(in crate::explain) fn route_of(
        &mut self,
        ns: Ns,
        dst: IpAddr,
        gw: IpAddr,
        table: u32,
    ) -> String {
        let fib = self.w.fib(ns, dst.is_ipv6());
        fib.iter()
            .filter(|e| e.table == table && e.gateway == Some(gw) && e.dst.contains(&dst))
            .max_by_key(|e| e.dst.prefix_len())
            .map(|e| {
                if e.dst.prefix_len() == 0 {
                    "default".to_string()
                } else {
                    e.dst.to_string()
                }
            })
            .unwrap_or_else(|| dst.to_string())
    }
}
