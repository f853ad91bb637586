//! A route lookup the kernel refuses, narrowed down from its errno: no
//! route (a link down), forwarding off, unreachable/prohibit/blackhole
//! routes, martian sources, the reverse-path filter.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{route_delete_call, table_name};
use crate::explain::kernel::Ns;
use crate::explain::segment;
use crate::explain::walk::{End, Walker};
use crate::explain::world::is_private;
use crate::explain::{Dir, Finding, Verdict, var};
use crate::net::NetError;
use crate::net::rtnl::{LinkInfoRow, RouteQuery};

impl Walker<'_, '_> {
    /// The kernel refused the lookup: which reason that errno stands for.
    pub(in crate::explain) fn refused(
        &mut self,
        dir: Dir,
        ns: Ns,
        iif: Option<&LinkInfoRow>,
        src: Option<IpAddr>,
        dst: IpAddr,
        e: &NetError,
    ) -> End {
        let n = self.name(ns);
        let v = self.var(ns);
        let out = |k: &mut Self| k.w.route_get(ns, &RouteQuery::to(dst));
        match e.raw_errno() {
            Some(libc::ENETUNREACH) => End::Lost(self.no_route(dir, ns, dst)),
            Some(libc::EHOSTUNREACH) => {
                if let Some(i) = iif
                    && out(self).is_ok()
                {
                    let all = self.w.sysctl_num(ns, "net/ipv4/ip_forward");
                    let dev = self
                        .w
                        .sysctl_num(ns, &format!("net/ipv4/conf/{}/forwarding", i.name));
                    if all == Some(0) {
                        return End::Lost(Finding {
                            reason: format!("{n} does not forward (net.ipv4.ip_forward = 0)"),
                            help: format!("{v}.forwarding(true)"),
                        });
                    }
                    if dev == Some(0) {
                        return End::Lost(Finding {
                            reason: format!(
                                "{n} does not forward what arrives on {} (net.ipv4.conf.{}.forwarding = 0)",
                                i.name, i.name
                            ),
                            help: format!(
                                "{v}.sysctl(\"net.ipv4.conf.{}.forwarding\", \"1\")",
                                i.name
                            ),
                        });
                    }
                }
                match self.special_route(ns, dst, "unreachable") {
                    Some((net, t)) => End::Lost(Finding {
                        reason: format!(
                            "{n} has an unreachable route for {net} (table {})",
                            table_name(t)
                        ),
                        help: route_delete_call(&v, &net.to_string(), t),
                    }),
                    None => End::Unknown(format!(
                        "{n} refuses to route it (host unreachable) but has no unreachable route for it: a policy rule? ({v}.run(\"ip rule\") lists them)"
                    )),
                }
            }
            Some(libc::EACCES) => match self.special_route(ns, dst, "prohibit") {
                Some((net, t)) => End::Lost(Finding {
                    reason: format!(
                        "{n} refuses it: a prohibit route for {net} (table {})",
                        table_name(t)
                    ),
                    help: route_delete_call(&v, &net.to_string(), t),
                }),
                None => End::Lost(Finding {
                    reason: format!("{n} refuses it: a policy rule prohibits it"),
                    help: format!(
                        "find the rule with {v}.run(\"ip rule\") and delete it ({v}.run(\"ip rule del …\"))"
                    ),
                }),
            },
            Some(libc::EINVAL) => self.invalid(ns, iif, src, dst),
            Some(code) => End::Unknown(format!(
                "{n} refuses to route it: {}",
                nix::errno::Errno::from_raw(code).desc()
            )),
            None => End::Unknown(format!("nslab could not ask {n} for its route: {e}")),
        }
    }

    /// EINVAL: a martian source, a blackhole, or the reverse-path filter.
    pub(in crate::explain) fn invalid(
        &mut self,
        ns: Ns,
        iif: Option<&LinkInfoRow>,
        src: Option<IpAddr>,
        dst: IpAddr,
    ) -> End {
        let n = self.name(ns);
        let v = self.var(ns);
        if let Some(s) = src {
            if s.is_loopback() || s.is_multicast() || s.is_unspecified() {
                return End::Lost(Finding {
                    reason: format!("{n} drops it: {s} cannot be a source address"),
                    help: "send it from an address of a link (leave src out)".into(),
                });
            }
            let own = self.w.owners(s).iter().any(|(o, _, _)| *o == ns);
            if iif.is_none() && !own {
                return End::Lost(Finding {
                    reason: format!("{s} is not an address of {n}, so it cannot send from it"),
                    help: format!("use one of {n}'s addresses as src, or leave src out"),
                });
            }
            if iif.is_some() && own {
                return End::Lost(Finding {
                    reason: format!(
                        "{n} drops it: its source {s} is an address of {n} itself (the address is used twice?)"
                    ),
                    help: "give every namespace its own addresses".into(),
                });
            }
        }
        if matches!(self.w.route_get(ns, &RouteQuery::to(dst)), Err(e) if e.raw_errno() == Some(libc::EINVAL))
        {
            return match self.special_route(ns, dst, "blackhole") {
                Some((net, t)) => End::Lost(Finding {
                    reason: format!(
                        "{n} drops it silently: a blackhole route for {net} (table {})",
                        table_name(t)
                    ),
                    help: route_delete_call(&v, &net.to_string(), t),
                }),
                None => End::Lost(Finding {
                    reason: format!("{n} drops it silently: a policy rule blackholes it"),
                    help: format!(
                        "find the rule with {v}.run(\"ip rule\") and delete it ({v}.run(\"ip rule del …\"))"
                    ),
                }),
            };
        }
        let (Some(i), Some(s)) = (iif, src) else {
            return End::Unknown(format!("{n} refuses to route it (invalid argument)"));
        };
        if s.is_ipv6() {
            return End::Unknown(format!(
                "{n} refuses packets from {s} arriving on {} (invalid argument), and it is no blackhole route",
                i.name
            ));
        }
        let all = self
            .w
            .sysctl_num(ns, "net/ipv4/conf/all/rp_filter")
            .unwrap_or(0);
        let dev = self
            .w
            .sysctl_num(ns, &format!("net/ipv4/conf/{}/rp_filter", i.name))
            .unwrap_or(0);
        let eff = all.max(dev);
        if eff == 0 {
            return End::Unknown(format!(
                "{n} refuses packets from {s} arriving on {} (invalid argument); it is no blackhole route and rp_filter is off",
                i.name
            ));
        }
        let which = if all >= dev {
            "net.ipv4.conf.all.rp_filter".to_string()
        } else {
            format!("net.ipv4.conf.{}.rp_filter", i.name)
        };
        let mut loose = Vec::new();
        if all == 1 {
            loose.push(format!(
                "{v}.sysctl(\"net.ipv4.conf.all.rp_filter\", \"2\")"
            ));
        }
        if dev == 1 {
            loose.push(format!(
                "{v}.sysctl(\"net.ipv4.conf.{}.rp_filter\", \"2\")",
                i.name
            ));
        }
        match self.w.route_get(ns, &RouteQuery::to(s)) {
            Ok(back) if eff == 1 && back.oif != Some(i.index) => {
                let by = back
                    .oif
                    .map(|o| self.w.link_name(ns, o))
                    .unwrap_or_else(|| "another link".into());
                End::Lost(Finding {
                    reason: format!(
                        "{n} drops packets from {s} arriving on {}: the reverse-path filter ({which} = 1, strict) wants them on {by}, where its route back to {s} goes",
                        i.name
                    ),
                    help: format!(
                        "make it loose (an asymmetric path is fine then): {}",
                        loose.join("; ")
                    ),
                })
            }
            Ok(_) => End::Unknown(format!(
                "{n} refuses packets from {s} arriving on {} (invalid argument), though its route back to {s} looks fine to the reverse-path filter",
                i.name
            )),
            Err(_) => {
                let gw = self.guess_gateway(ns, s, None);
                let net = self.net_of(s);
                let help = match gw {
                    Some(g) => format!(
                        "give it a route back: {v}.route(\"{net}\", \"{g}\"), or turn the filter off: {v}.sysctl(\"{which}\", \"0\")"
                    ),
                    None => format!(
                        "give it a route back to {net}, or turn the filter off: {v}.sysctl(\"{which}\", \"0\")"
                    ),
                };
                End::Lost(Finding {
                    reason: format!(
                        "{n} drops packets from {s} arriving on {}: the reverse-path filter ({which} = {eff}) finds no route back to {s}",
                        i.name
                    ),
                    help,
                })
            }
        }
    }

    /// The most specific route of type `kind` covering `dst`, any table.
    pub(in crate::explain) fn special_route(
        &mut self,
        ns: Ns,
        dst: IpAddr,
        kind: &str,
    ) -> Option<(IpNet, u32)> {
        self.w
            .fib(ns, dst.is_ipv6())
            .into_iter()
            .filter(|e| e.kind == kind && e.dst.contains(&dst))
            .max_by_key(|e| e.dst.prefix_len())
            .map(|e| (e.dst, e.table))
    }

    /// ENETUNREACH: no route in `ns` (and why, when a link is down).
    pub(in crate::explain) fn no_route(&mut self, dir: Dir, ns: Ns, dst: IpAddr) -> Finding {
        let n = self.name(ns);
        let v = self.var(ns);
        let down: Vec<LinkInfoRow> = {
            let links = self.w.links(ns).to_vec();
            links
                .into_iter()
                .filter(|l| !l.up && l.kind != "loopback")
                .filter(|l| !self.w.addrs_on(ns, l.index, dst).is_empty())
                .collect()
        };
        if let Some(l) = down.first()
            && self
                .w
                .addrs_on(ns, l.index, dst)
                .iter()
                .any(|a| a.contains(&dst))
        {
            // dst is on that link: bringing it up brings its connected
            // route back, and nothing else is needed.
            return Finding {
                reason: format!(
                    "{n} has no route to {dst}: its link {} to {dst}'s subnet is down",
                    l.name
                ),
                help: format!("{v}.link(\"{}\").up()", l.name),
            };
        }
        // A link down beside it: nslab cannot tell whether a route went
        // through it (the kernel removed any when it went down), so it says
        // only what is true, and suggests a route over a link that is up;
        // bringing the link down up only when no link that is up leads there.
        let down = down.first();
        let mut f = self.no_route_with(dir, ns, dst, down);
        if let Some(l) = down {
            f.reason.push_str(&format!(
                " (its link {} is down: the kernel removes the routes through a link while it is down)",
                l.name
            ));
        }
        self.unlearned(ns, dst, f)
    }

    /// No route in `ns`: the route to add over a link that is up (or a
    /// masquerade, for a reply); over `down` once it is up, when no link
    /// that is up has a router for it.
    fn no_route_with(
        &mut self,
        dir: Dir,
        ns: Ns,
        dst: IpAddr,
        down: Option<&LinkInfoRow>,
    ) -> Finding {
        let n = self.name(ns);
        let v = self.var(ns);
        let back = dir == Dir::Reply;
        let net = self.net_of(dst);
        let mut gw = self.guess_gateway(ns, dst, None);
        let mut up_first = None;
        if gw.is_none()
            && let Some(l) = down
        {
            up_first = Some(format!("{v}.link(\"{}\").up()", l.name));
            gw = self.guess_gateway(ns, dst, Some(l));
        }
        let has_default = self
            .w
            .fib(ns, dst.is_ipv6())
            .iter()
            .any(|e| e.dst.prefix_len() == 0 && e.kind == "unicast");
        // A host gets a default route; a router, one for that subnet.
        let router = self.w.sysctl_num(ns, "net/ipv4/ip_forward") == Some(1);
        let route = match gw {
            Some(g) if !has_default && !back && !router => {
                format!("{v}.route(\"default\", \"{g}\")")
            }
            Some(g) => format!("{v}.route(\"{net}\", \"{g}\")"),
            None if up_first.is_some() => String::new(),
            None => {
                format!("{v}.route(\"{net}\", GATEWAY) with GATEWAY a router on one of its links")
            }
        };
        let route = match up_first {
            Some(up) if route.is_empty() => up,
            Some(up) => format!("{up}, then a route through it, e.g. {route}"),
            None => route,
        };
        if back {
            // The reply goes to a private address the other side cannot
            // route to: the router that forwarded the request should
            // masquerade it (or the other side gets a route back).
            let router = self
                .hops
                .iter()
                .rev()
                .find(|h| h.dir == Dir::Request && h.iif.is_some() && h.verdict == Verdict::Forward)
                .map(|h| (h.ns.clone(), h.oif.clone().unwrap_or_default()));
            let origin_net = self.origin.map(|(_, s)| self.net_of(s));
            if let (Some((r, oif)), Some(on)) = (router, origin_net)
                && is_private(dst)
            {
                let masq = format!("masquerade({}, \"{on}\", \"{oif}\")", var(&r));
                let (first, second) = if is_private(self.pkt.dst) {
                    (route, masq)
                } else {
                    (masq, route)
                };
                let why = if is_private(self.pkt.dst) {
                    String::new()
                } else {
                    format!(" (a private address {r} passes on without masquerading it)")
                };
                return Finding {
                    reason: format!("{n} has no route back to {dst}{why}"),
                    help: format!("{first}, or {second}"),
                };
            }
            return Finding {
                reason: format!("{n} has no route back to {dst}"),
                help: route,
            };
        }
        Finding {
            reason: format!("{n} has no route to {dst}"),
            help: route,
        }
    }

    /// The subnet `ip` is in, as the namespace holding it configured it
    /// (`ip/32` when nobody in the lab has it).
    pub(in crate::explain) fn net_of(&mut self, ip: IpAddr) -> IpNet {
        match self.w.owners(ip).first() {
            Some((_, _, net)) => net.trunc(),
            None => IpNet::from(ip),
        }
    }

    /// A router next to `ns` that can take packets for `dst`: an address,
    /// in a subnet of one of `ns`'s links, of a namespace on that link
    /// whose own lookup for `dst` works (or that owns it).
    /// (`only`: on that link, up or not.)
    pub(in crate::explain) fn guess_gateway(
        &mut self,
        ns: Ns,
        dst: IpAddr,
        only: Option<&LinkInfoRow>,
    ) -> Option<IpAddr> {
        let links = match only {
            Some(l) => vec![l.clone()],
            None => self
                .w
                .links(ns)
                .iter()
                .filter(|l| l.up && l.kind != "loopback")
                .cloned()
                .collect(),
        };
        let mut best: Option<(u8, IpAddr)> = None;
        let mut ties = 0;
        for l in &links {
            let mine = self.w.addrs_on(ns, l.index, dst);
            if mine.is_empty() {
                continue;
            }
            let seg = segment::follow(self.w, ns, l);
            for e in &seg.endpoints {
                if e.ns == ns {
                    continue;
                }
                for a in self.w.addrs_on(e.ns, e.link.index, dst) {
                    if !mine.iter().any(|m| m.contains(&a.addr())) {
                        continue;
                    }
                    let owns = self.w.owners(dst).iter().any(|(o, _, _)| *o == e.ns);
                    let rank = if owns {
                        3
                    } else {
                        match self.w.route_get(e.ns, &RouteQuery::to(dst)) {
                            // Not back through ns itself.
                            Ok(r)
                                if r.gateway
                                    .is_none_or(|g| !mine.iter().any(|m| m.addr() == g)) =>
                            {
                                2
                            }
                            _ => 0,
                        }
                    };
                    if rank == 0 {
                        continue;
                    }
                    match best {
                        Some((b, _)) if b > rank => {}
                        Some((b, ip)) if b == rank && ip != a.addr() => ties += 1,
                        Some((b, _)) if b == rank => {}
                        _ => {
                            best = Some((rank, a.addr()));
                            ties = 0;
                        }
                    }
                }
            }
        }
        if ties > 0 {
            return None;
        }
        best.map(|(_, ip)| ip)
    }

    /// IPv6 lookups succeed with forwarding off: check it here. A
    /// namespace that holds `dst` and still would forward it holds it
    /// tentatively: duplicate address detection is not done with it yet.
    pub(in crate::explain) fn v6_forwarding(
        &mut self,
        ns: Ns,
        iif: Option<&LinkInfoRow>,
        dst: IpAddr,
    ) -> Option<Finding> {
        iif?;
        let held = self
            .w
            .addrs(ns)
            .iter()
            .find(|a| a.addr.addr() == dst)
            .map(|a| a.index);
        if let Some(index) = held {
            let link = self.w.link_name(ns, index);
            return Some(Finding {
                reason: format!(
                    "{} holds {dst} on {link}, but cannot use it yet: duplicate address detection is not done with it (an IPv6 address is tentative for a second or more after it is added, dad_transmits seconds; longer on a busy machine)",
                    self.name(ns)
                ),
                help: format!(
                    "probe again in a moment; or have {} skip DAD on addresses it gets from now on: {}.sysctl(\"net.ipv6.conf.{link}.accept_dad\", \"0\") before the address is added",
                    self.name(ns),
                    self.var(ns)
                ),
            });
        }
        if self.w.sysctl_num(ns, "net/ipv6/conf/all/forwarding") == Some(0) {
            return Some(Finding {
                reason: format!(
                    "{} does not forward IPv6 (net.ipv6.conf.all.forwarding = 0)",
                    self.name(ns)
                ),
                help: format!("{}.forwarding(true)", self.var(ns)),
            });
        }
        None
    }
}
