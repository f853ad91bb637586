//! What `src/explain/` reads of the lab (its namespaces, their netlink
//! sockets and worker, the veth pairs it made), and the calls that verify
//! and explain: trace, expect_reach, expect_blocked, a ping with its trace.

use std::future::Future;
use std::os::fd::OwnedFd;

use super::*;
use crate::explain::{self, Packet, Trace};
use crate::net::probe::Reach;

/// How a reachability probe ended.
pub enum Probed {
    Reached,
    /// Refused by the other end (TCP reset, ICMP port unreachable).
    Refused,
    /// Lost on the way, or an error came back.
    Lost,
}

impl Lab {
    /// The namespaces the lab works in (the host first), still open.
    pub(crate) fn view_namespaces(&self) -> Vec<NsId> {
        self.sp.alive()
    }

    pub(crate) fn view_name(&self, id: NsId) -> &str {
        self.sp.name(id)
    }

    pub(crate) fn view_rtnl(&mut self, id: NsId) -> crate::net::Result<Rtnl> {
        self.sp.rtnl(id)
    }

    pub(crate) fn view_block_on<F: Future>(&self, f: F) -> F::Output {
        self.sp.block_on(f)
    }

    /// Runs `f` on a thread inside namespace `id` (sysctls, /proc/thread-self/net).
    pub(crate) fn view_run_in<R: Send + 'static>(
        &self,
        id: NsId,
        f: impl FnOnce() -> crate::net::Result<R> + Send + 'static,
    ) -> crate::net::Result<R> {
        self.sp.run_in(id, f)
    }

    pub(crate) fn view_fd(&self, id: NsId) -> crate::net::Result<&OwnedFd> {
        self.sp.fd(id)
    }

    /// The other end of a veth the lab made.
    pub(crate) fn view_veth_peer(&self, id: NsId, name: &str) -> Option<(NsId, String)> {
        self.topo.peer(id, name)
    }

    /// The parent of a macvlan or ipvlan the lab made.
    pub(crate) fn view_sub_parent(&self, id: NsId, name: &str) -> Option<(NsId, String)> {
        self.topo.sub_parent(id, name)
    }

    /// The macvlans and ipvlans the lab made on a parent.
    pub(crate) fn view_sub_children(&self, id: NsId, name: &str) -> Vec<(NsId, String)> {
        self.topo.sub_children(id, name)
    }

    /// The VXLANs the lab made: where each is, its VNI, far end and port.
    pub(crate) fn view_vxlans(&self) -> Vec<(NsId, String, crate::net::rtnl::Vxlan)> {
        self.topo.vxlans()
    }

    /// The path a packet from `id` would take, read from the kernel.
    pub fn trace(&mut self, id: NsId, pkt: &Packet) -> Result<Trace> {
        self.sp
            .fd(id)
            .map_err(|e| LabError::kernel("trace a packet", &self.where_(id), e))?;
        explain::trace(self, id, pkt)
    }

    /// Sends the probe for `pkt` (a ping without a protocol, a TCP connect
    /// or a UDP exchange with one); an error when a machine-wide kernel
    /// limit was hit meanwhile, since then the probe says nothing.
    pub fn probe_reach(&mut self, id: NsId, pkt: &Packet, timeout: Duration) -> Result<Probed> {
        let v6 = pkt.dst.is_ipv6();
        let (probed, before) = match (pkt.proto, pkt.port) {
            (Some(proto), Some(port)) => {
                self.settle_for(v6);
                let sock = self
                    .sp
                    .run_in(id, move || probe::client_socket(proto, v6))
                    .map_err(|e| LabError::kernel("open a socket", &self.where_(id), e))?;
                let before = self.settle.kstat().before(v6);
                let dst = std::net::SocketAddr::new(pkt.dst, port);
                let r = probe::try_reach(&sock, proto, dst, timeout, self.id.cancel());
                self.check_cancel()?;
                let p = match r {
                    Reach::Open => Probed::Reached,
                    Reach::Refused => Probed::Refused,
                    Reach::Failed(_) | Reach::Silent => Probed::Lost,
                };
                let ok = matches!(p, Probed::Reached);
                self.plan_connect(id, pkt.dst, proto, port, timeout, ok);
                (p, Some(before))
            }
            _ => {
                // One echo, answered at once when the path works; when it
                // is not, two more (a first packet can be lost while a
                // link settles) before the answer is no.
                let one = PingOpts {
                    count: 1,
                    interval: Duration::from_millis(100),
                    timeout,
                    size: pkt.size.unwrap_or(crate::net::ping::PAYLOAD),
                    df: pkt.size.is_some(),
                };
                let mut rep = self.ping(id, pkt.dst, &one)?;
                if rep.replies.is_empty() && rep.why.is_none() {
                    let again = PingOpts {
                        count: 2,
                        timeout: timeout.min(Duration::from_millis(300)),
                        ..one.clone()
                    };
                    rep = self.ping(id, pkt.dst, &again)?;
                }
                if let Some(why) = rep.why.filter(|_| rep.replies.is_empty()) {
                    return Err(LabError::new(
                        format!(
                            "cannot tell whether {} is reachable from '{}': {why}",
                            pkt.dst,
                            self.sp.name(id)
                        ),
                        "the kernel ran out of a resource every namespace shares: retry when other labs are done, or use fewer addresses",
                    ));
                }
                let p = if rep.replies.is_empty() {
                    Probed::Lost
                } else {
                    Probed::Reached
                };
                (p, None)
            }
        };
        if let (Probed::Lost, Some(before)) = (&probed, before) {
            let hit = self.settle.kstat().hit_since(&before, v6);
            if let (Some(why), Some(help)) = (kstat::why(&hit), kstat::help(&hit)) {
                return Err(LabError::new(
                    format!(
                        "cannot tell whether {} is reachable from '{}': {why}",
                        pkt.dst,
                        self.sp.name(id)
                    ),
                    help,
                ));
            }
        }
        Ok(probed)
    }

    /// `ns.expect_reach(dst, …)`: probes for real; only when the probe
    /// fails, an error whose message is the reason, path drawn, and whose
    /// help is the fix.
    pub fn expect_reach(&mut self, id: NsId, pkt: &Packet, timeout: Duration) -> Result<()> {
        let probed = self.probe_reach(id, pkt, timeout)?;
        if matches!(probed, Probed::Reached) {
            return Ok(());
        }
        let t = self.trace(id, pkt)?;
        Err(explain::unreached(
            self.sp.name(id),
            pkt,
            &t,
            matches!(probed, Probed::Refused),
        ))
    }

    /// `ns.expect_blocked(dst, …)`: an error when the probe gets through,
    /// saying what let it through.
    pub fn expect_blocked(&mut self, id: NsId, pkt: &Packet, timeout: Duration) -> Result<()> {
        if !matches!(self.probe_reach(id, pkt, timeout)?, Probed::Reached) {
            return Ok(());
        }
        let t = self.trace(id, pkt)?;
        Err(explain::not_blocked(self, id, pkt, &t))
    }

    /// A ping and, when no reply came, its trace (both ways); `why` then
    /// says what the trace found, unless a kernel limit explained it.
    pub fn ping_traced(
        &mut self,
        id: NsId,
        dst: IpAddr,
        opts: &PingOpts,
    ) -> Result<(PingReport, Option<Trace>)> {
        let mut rep = self.ping(id, dst, opts)?;
        if !rep.replies.is_empty() {
            return Ok((rep, None));
        }
        let mut pkt = Packet::ping(dst);
        // A ping that may not be fragmented must fit every link.
        pkt.size = opts.df.then_some(opts.size);
        let t = self.trace(id, &pkt)?;
        if rep.why.is_none() {
            rep.why = Some(match t.reason() {
                Some(f) => f.reason.clone(),
                None => t.no_reason(),
            });
        }
        Ok((rep, Some(t)))
    }
}
