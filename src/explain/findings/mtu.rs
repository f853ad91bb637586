//! A packet sent whole (DF) that a link or a route cannot take.

use std::net::IpAddr;

use super::table_name;
use crate::explain::Finding;
use crate::explain::kernel::Ns;
use crate::explain::segment;
use crate::explain::walk::Walker;
use crate::net::rtnl::LinkInfoRow;

impl Walker<'_, '_> {
    /// How to fix a packet of `len` bytes too big for `link` of `ns`: a
    /// larger MTU on it and on its veth peer when that is as small (both
    /// ends of a cable take the same), or less data.
    pub(in crate::explain) fn mtu_help(
        &mut self,
        ns: Ns,
        link: &LinkInfoRow,
        len: usize,
    ) -> String {
        let hdr = len - self.pkt.size.unwrap_or(0);
        let mtu = len.max(1500);
        let mut calls = vec![format!(
            "{}.link(\"{}\").mtu({mtu})",
            self.var(ns),
            link.name
        )];
        if link.kind == "veth"
            && let Some((pns, peer)) = segment::peer_of(self.w, ns, link)
            && (peer.mtu as usize) < len
        {
            calls.push(format!(
                "{}.link(\"{}\").mtu({mtu})",
                self.var(pns),
                peer.name
            ));
        }
        format!(
            "{}, or send less: size: {} at most",
            calls.join("; "),
            (link.mtu as usize).saturating_sub(hdr)
        )
    }

    /// The packet (DF set) is bigger than the MTU of `oif`, the link it
    /// leaves `ns` by.
    pub(in crate::explain) fn too_big(
        &mut self,
        ns: Ns,
        oif: &LinkInfoRow,
        len: usize,
        origin: bool,
    ) -> Finding {
        let n = self.name(ns);
        let what = format!(
            "the packet of {len} bytes (DF set) is bigger than the MTU of {n} {} ({} < {len})",
            oif.name, oif.mtu
        );
        let reason = if origin {
            format!("{n} cannot send it whole: {what}, and it may not be fragmented")
        } else {
            format!(
                "{n} cannot pass it on: {what}, so {n} drops it and sends back \"fragmentation needed\""
            )
        };
        Finding {
            reason,
            help: self.mtu_help(ns, oif, len),
        }
    }

    /// The sender's route to `dst` says the path takes `mtu` < `len`.
    pub(in crate::explain) fn route_mtu(
        &mut self,
        ns: Ns,
        dst: IpAddr,
        mtu: u32,
        len: usize,
        cached: bool,
        table: u32,
    ) -> Finding {
        let (n, v) = (self.name(ns), self.var(ns));
        let hdr = len - self.pkt.size.unwrap_or(0);
        let less = (mtu as usize).saturating_sub(hdr);
        if cached {
            let flush = if dst.is_ipv4() {
                "ip route flush cache"
            } else {
                "ip -6 route flush cache"
            };
            return Finding {
                reason: format!(
                    "{n} cannot send it whole: the packet of {len} bytes (DF set) is bigger than the path MTU {n} learned for {dst} ({mtu} < {len}, from a \"fragmentation needed\" that came back earlier; the kernel keeps it about 10 minutes)"
                ),
                help: format!(
                    "when the link that was too small takes more now, forget what was learned: {v}.run(\"{flush}\"); or send less: size: {less} at most"
                ),
            };
        }
        Finding {
            reason: format!(
                "{n} cannot send it whole: the packet of {len} bytes (DF set) is bigger than the MTU of {n}'s route to {dst} ({mtu} < {len}, table {})",
                table_name(table)
            ),
            help: format!(
                "drop the mtu from the route ({v}.run(\"ip route change … \") without `mtu {mtu}`), or send less: size: {less} at most"
            ),
        }
    }

    /// A link between `from` (leaving by `oif`) and the next hop has a
    /// smaller MTU than the packet: the frame is dropped where it arrives.
    pub(in crate::explain) fn too_big_on_the_way(
        &mut self,
        ns: Ns,
        link: &LinkInfoRow,
        len: usize,
        from: Ns,
        oif: &str,
    ) -> Finding {
        Finding {
            reason: format!(
                "the packet of {len} bytes is bigger than the MTU of {} {} ({} < {len}), on the way from {} {oif}: it is dropped there",
                self.name(ns),
                link.name,
                link.mtu,
                self.name(from)
            ),
            help: self.mtu_help(ns, link, len),
        }
    }
}
