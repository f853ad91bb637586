//! Links between machines: a veth whose ends the script put on two
//! machines is a VXLAN link on each side. The walk names the hop over it,
//! checks the underlay its UDP crosses (a route between the machines, no
//! nf_tables rule in either machine's own namespace dropping the port),
//! and has the far machine's agent walk on from the far end.

use super::{At, End, Out, Step, Walker};
use crate::explain::firewall::{self, Outcome, Pkt};
use crate::explain::kernel::{Across, LegAsk, LegEnd, Ns};
use crate::explain::{Finding, Verdict};
use crate::net::rtnl::{LinkInfoRow, RouteQuery};

/// A link of a namespace on another machine, known here by name only.
fn stand_in(name: &str) -> LinkInfoRow {
    LinkInfoRow {
        index: 0,
        name: name.to_string(),
        kind: "vxlan".into(),
        up: true,
        state: "up".into(),
        mtu: 0,
        master: None,
        peer: None,
        peer_nsid: None,
        lower: None,
        carrier: true,
        mac: Vec::new(),
        macvlan_mode: None,
    }
}

impl Walker<'_, '_> {
    /// The packet arrives on `link` of `ns`, the far end of a link between
    /// machines (VNI `vni`): said on the next hop drawn.
    fn enter(&mut self, at: &mut At, ns: Ns, link: &str, vni: u32) {
        let row = self
            .w
            .link_named(ns, link)
            .unwrap_or_else(|| stand_in(link));
        at.ns = ns;
        at.iif = Some(row);
        self.over = Some(format!("VXLAN {vni}"));
    }

    /// The way out is the VXLAN end of a link between machines: the
    /// underlay must carry its UDP; then the walk goes on at the far end
    /// (here when this lab knows it, else the leg ends for the driver).
    pub(super) fn over_machines(&mut self, at: &mut At, out: Out, x: Across) -> Step<()> {
        if let Some(f) = self.underlay_out(&x) {
            return Err(self.drop_at(at, &out, f));
        }
        let to = match &x.far {
            Some((fns, fl)) => format!("{} {} {fl}", x.there, self.name(*fns)),
            None => x.there.clone(),
        };
        let why = format!(
            "{}; {} is a VXLAN link to {to} (VNI {}, UDP {} -> {}:{})",
            out.why, out.oif.name, x.vni, x.local, x.remote, x.port
        );
        self.hop(
            at.ns,
            at.iif_name(),
            Some(&out.oif.name),
            out.route.gateway,
            Verdict::Forward,
            why,
        );
        match x.far {
            Some((fns, flink)) => {
                self.enter(at, fns, &flink, x.vni);
                Ok(())
            }
            None => Err(End::Crossed {
                ns: at.ns,
                link: out.oif.name.clone(),
                src: at.src,
                dst: at.dst,
            }),
        }
    }

    /// `at` is a namespace on machine `m`: its agent walks on from there
    /// (the hops it read, named with the machine), until the packet is
    /// delivered, lost, or comes back over a link between machines.
    pub(super) fn far(&mut self, m: &str, at: &mut At) -> Step<()> {
        let ask = LegAsk {
            dir: self.dir,
            iif: at.iif_name().map(str::to_string),
            src: at.src,
            dst: at.dst,
            pkt: self.pkt.clone(),
            dnatted: self.dnatted,
        };
        let done = match self.w.far_leg(at.ns, &ask) {
            Ok(d) => d,
            Err(e) => {
                let u = format!("nslab cannot follow the path on machine '{m}': {e}");
                self.hop(
                    at.ns,
                    at.iif_name(),
                    None,
                    None,
                    Verdict::Forward,
                    u.clone(),
                );
                if let Some(h) = self.hops.last_mut() {
                    h.machine = Some(m.to_string());
                }
                return Err(End::Unknown(u));
            }
        };
        let mut over = self.over.take();
        for mut h in done.hops {
            h.machine = Some(m.to_string());
            if h.over.is_none() {
                h.over = over.take();
            }
            self.hops.push(h);
        }
        self.suspects.extend(done.suspects);
        self.far_checked
            .extend(done.checked.iter().map(|c| format!("{m} {c}")));
        self.far_firewalled.extend(
            done.firewalled
                .into_iter()
                .map(|(n, k)| (format!("{m} {n}"), k)),
        );
        match done.end {
            LegEnd::Delivered { ns, src, dst } => match self.w.placed_named(&ns) {
                Some(id) => Err(End::Delivered { ns: id, src, dst }),
                None => Err(End::Unknown(format!(
                    "it is delivered in {ns} on machine '{m}', a namespace this lab did not make"
                ))),
            },
            LegEnd::Lost(f) => Err(End::Lost(f)),
            LegEnd::Unknown(u) => Err(End::Unknown(format!("on machine '{m}', {u}"))),
            LegEnd::Crossed { ns, link, src, dst } => {
                let far = self
                    .w
                    .placed_named(&ns)
                    .and_then(|id| self.w.across(id, &link))
                    .and_then(|x| x.far.map(|f| (f, x.vni)));
                let Some(((fns, flink), vni)) = far else {
                    return Err(End::Unknown(format!(
                        "it leaves {ns} on machine '{m}' by {link}, a link whose other end nslab does not know"
                    )));
                };
                self.enter(at, fns, &flink, vni);
                at.src = src;
                at.dst = dst;
                Ok(())
            }
        }
    }

    /// The VXLAN link's UDP leaving this machine: a route to the far
    /// machine's underlay address, a link with carrier, and no output rule
    /// of the machine's own namespace dropping it.
    fn underlay_out(&mut self, x: &Across) -> Option<Finding> {
        let q = RouteQuery {
            dst: x.remote,
            src: None,
            iif: None,
            oif: None,
            proto: Some(17),
            dport: Some(x.port),
        };
        let dev = match self.w.route_get(x.underlay, &q) {
            Ok(a) if a.kind == "unicast" || a.kind == "local" => {
                a.oif.and_then(|o| self.w.link(x.underlay, o))
            }
            Ok(a) => return Some(no_route(x, &format!("its route there is {}", a.kind))),
            Err(e) => {
                let why = match e.raw_errno() {
                    Some(libc::ENETUNREACH) => "the lookup says: network unreachable".to_string(),
                    Some(libc::EHOSTUNREACH) => "the lookup says: host unreachable".to_string(),
                    Some(libc::EACCES) => "a prohibit route or rule".to_string(),
                    Some(libc::EINVAL) => "a blackhole route or rule".to_string(),
                    _ => e.to_string(),
                };
                return Some(no_route(x, &why));
            }
        };
        if let Some(l) = &dev
            && !l.carrier
        {
            return Some(Finding {
                reason: format!(
                    "{}'s underlay link {} has no carrier: the UDP of VXLAN {} to {}'s underlay address {} cannot leave",
                    x.here, l.name, x.vni, x.there, x.remote
                ),
                help: format!(
                    "bring the link between {} and {} back (the VXLAN link between the machines rides on it)",
                    x.here, x.there
                ),
            });
        }
        let p = Pkt {
            iif: None,
            oif: dev.as_ref().map(|l| l.name.as_str()),
            src: x.local,
            dst: x.remote,
            l4: 17,
            sport: None,
            dport: Some(x.port),
            icmp_type: None,
            ct: "new",
            dnat: false,
        };
        self.underlay_rule(x, &p, &["output", "postrouting"], true)
    }

    /// The VXLAN link's UDP arriving on this machine: no input rule of the
    /// machine's own namespace drops it.
    pub(super) fn underlay_in(&mut self, x: &Across) -> Option<Finding> {
        let links: Vec<LinkInfoRow> = self.w.links(x.underlay).to_vec();
        let dev = links
            .into_iter()
            .find(|l| self.w.holds(x.underlay, l.index, x.local));
        let p = Pkt {
            iif: dev.as_ref().map(|l| l.name.as_str()),
            oif: None,
            src: x.remote,
            dst: x.local,
            l4: 17,
            sport: None,
            dport: Some(x.port),
            icmp_type: None,
            ct: "new",
            dnat: false,
        };
        self.underlay_rule(x, &p, &["prerouting", "input"], false)
    }

    /// A filter chain of the machine's own namespace at `hooks` that drops
    /// the VXLAN link's UDP: the reason, naming the machine and the rule.
    fn underlay_rule(
        &mut self,
        x: &Across,
        p: &Pkt,
        hooks: &[&str],
        leaving: bool,
    ) -> Option<Finding> {
        let rules = self.w.firewall(x.underlay);
        for hook in hooks {
            let Outcome::Drop {
                chain,
                rule,
                verdict,
                maybe,
            } = rules.1.at(hook, p)
            else {
                continue;
            };
            let (fam, table, name) = (&chain.family, &chain.table, &chain.name);
            let what = match &rule {
                Some(r) => format!(
                    "rule `{}` (handle {}) in chain {name} of {fam} {table} ({hook})",
                    firewall::describe(r),
                    r.handle
                ),
                None => format!(
                    "chain {name} of {fam} {table} ({hook}) has policy drop and no rule in it accepts it"
                ),
            };
            let way = if leaving {
                format!("to {}'s underlay address {}", x.there, x.remote)
            } else {
                format!("from {}'s underlay address {}", x.there, x.remote)
            };
            let accept = format!(
                "nft insert rule {fam} {table} {name} udp dport {} accept",
                x.port
            );
            let fix = match &rule {
                Some(r) => format!(
                    "delete the rule there (`nft delete rule {fam} {table} {name} handle {}`) or accept the port before it (`{accept}`)",
                    r.handle
                ),
                None => format!("accept the port there (`{accept}`)"),
            };
            let f = Finding {
                reason: format!(
                    "{} {verdict}s UDP {} on the underlay (VXLAN {}'s packets {way}): {what}",
                    x.here, x.port, x.vni
                ),
                help: format!(
                    "allow UDP {} on {} between the machines' underlay addresses: {fix}; or start the agents with another --vxlan-port that the underlay lets through",
                    x.port, x.here
                ),
            };
            return self.drop_or_suspect(f, maybe);
        }
        None
    }
}

/// The machine has no route for the VXLAN link's UDP to the far machine.
fn no_route(x: &Across, why: &str) -> Finding {
    Finding {
        reason: format!(
            "no route from {} to {}'s underlay address {} ({why}): the UDP of VXLAN {} cannot leave {}",
            x.here, x.there, x.remote, x.vni, x.here
        ),
        help: format!(
            "give {} a route to {} again (e.g. `ip route add {}/32 dev LINK` there, LINK its underlay link), or bring its underlay link up: the VXLAN link between the machines rides on it",
            x.here, x.remote, x.remote
        ),
    }
}
