//! The way out: a link down, without carrier, or without an address.

use std::net::IpAddr;

use super::family_word;
use crate::explain::Finding;
use crate::explain::kernel::Ns;
use crate::explain::segment;
use crate::explain::walk::Walker;
use crate::net::rtnl::LinkInfoRow;

impl Walker<'_, '_> {
    /// A link between `from` (leaving by `oif`) and `next` is down.
    pub(in crate::explain) fn down_on_the_way(
        &self,
        ns: Ns,
        l: &LinkInfoRow,
        from: Ns,
        oif: &str,
        next: IpAddr,
    ) -> Finding {
        Finding {
            reason: format!(
                "the link {} of {} is down (on the way from {} {oif} to {next})",
                l.name,
                self.name(ns),
                self.name(from),
            ),
            help: format!("{}.link(\"{}\").up()", self.var(ns), l.name),
        }
    }

    /// The egress link has no address of the packet's family.
    pub(in crate::explain) fn no_address(
        &mut self,
        ns: Ns,
        oif: &LinkInfoRow,
        dst: IpAddr,
    ) -> Finding {
        let seg = segment::follow(self.w, ns, oif);
        // An address free in the subnet the other end of the link uses.
        let mut suggestion = None;
        'find: for e in &seg.endpoints {
            for net in self.w.addrs_on(e.ns, e.link.index, dst) {
                for h in net.hosts().take(256) {
                    if self.w.owners(h).is_empty() {
                        suggestion = Some(format!("{h}/{}", net.prefix_len()));
                        break 'find;
                    }
                }
            }
        }
        let addr = suggestion.unwrap_or_else(|| {
            if dst.is_ipv4() {
                "10.0.0.1/24".into()
            } else {
                "fd00::1/64".into()
            }
        });
        Finding {
            reason: format!(
                "{} sends it out {}, which has no {} address",
                self.name(ns),
                oif.name,
                family_word(dst)
            ),
            help: format!(
                "give {} an address in the subnet of its link: {}.addr(\"{}\", \"{addr}\")",
                oif.name,
                self.var(ns),
                oif.name
            ),
        }
    }

    /// `link` is up but has no carrier: its other end is down.
    pub(in crate::explain) fn no_carrier(&mut self, ns: Ns, link: &LinkInfoRow) -> Finding {
        // A macvlan carries what its parent carries.
        if matches!(link.kind.as_str(), "macvlan" | "ipvlan")
            && let Some((pns, pname)) = self.w.sub_parent(ns, &link.name)
            && let Some(parent) = self.w.link_named(pns, &pname)
        {
            let here = format!("{} {} has no carrier", self.name(ns), link.name);
            if !parent.up {
                return Finding {
                    reason: format!(
                        "{here}: its parent {} in {} is down",
                        parent.name,
                        self.name(pns)
                    ),
                    help: format!("{}.link(\"{}\").up()", self.var(pns), parent.name),
                };
            }
            if !parent.carrier {
                let f = self.no_carrier(pns, &parent);
                return Finding {
                    reason: format!("{here}, nor has its parent: {}", f.reason),
                    help: f.help,
                };
            }
        }
        if link.kind == "veth"
            && let Some((pns, peer)) = segment::peer_of(self.w, ns, link)
            && !peer.up
        {
            return Finding {
                reason: format!(
                    "{} {} has no carrier: its peer {} in {} is down",
                    self.name(ns),
                    link.name,
                    peer.name,
                    self.name(pns)
                ),
                help: format!("{}.link(\"{}\").up()", self.var(pns), peer.name),
            };
        }
        Finding {
            reason: format!(
                "{} {} has no carrier (the other end of the link is down)",
                self.name(ns),
                link.name
            ),
            help: "bring the other end of that link up: link.up()".into(),
        }
    }
}
