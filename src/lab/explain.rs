//! The lab as `src/explain/` reads it (its namespaces, their netlink
//! sockets and worker, the veth pairs it made): the `explain::Kernel`
//! seam, implemented here and nowhere in explain; and the calls that verify
//! and explain: trace, expect_reach, expect_blocked, a ping with its trace.

use std::future::Future;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use super::busy::{self, Attempt, Probed, Tries};
use super::events::Event;
use super::{Lab, LabError, NsId, PingOpts, PingReport, Result};
use crate::explain::{self, Failure, Kernel, Ns, Packet, Read, Trace};
use crate::net::probe::{self, Proto, Reach};
use crate::net::rtnl::{
    AddrRow, FibEntry, LinkInfoRow, NeighEntry, PortState, RouteAnswer, RouteQuery, Rtnl, Vxlan,
};
use crate::net::{nft, pids, sysctl};

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
        // A namespace on another machine: its agent walks its part.
        if self.machine_of(id).is_none() {
            self.view_fd(id)
                .map_err(|e| LabError::kernel("trace a packet", &self.where_(id), e))?;
        }
        Ok(explain::trace(&mut Seen(self), Ns(id), pkt))
    }

    /// Sends the probe for `pkt` (a ping without a protocol, a TCP connect
    /// or a UDP exchange with one) and concludes as `busy::conclude` does:
    /// a probe lost while the kernel dropped packets machine-wide is sent
    /// again, or settled by a drop on the path, or `Unsure`.
    /// `blocked`: the check wants it not to get through (expect_blocked),
    /// so a drop on the path ends it at once.
    pub fn probe_reach(
        &mut self,
        id: NsId,
        pkt: &Packet,
        timeout: Duration,
        blocked: bool,
    ) -> Result<Probed> {
        self.settle.forget_walk();
        if let Some(r) = self.remote_probe(id, pkt, timeout, blocked) {
            return r;
        }
        if let Some(src) = pkt.src {
            self.check_own_addr(id, src, "src")?;
        }
        // The links and addresses it needs settle first: timeout_ms is the
        // probe's wait, not theirs (on a busy machine DAD alone can take
        // longer than a probe's timeout).
        self.settle_for(pkt.dst.is_ipv6());
        self.settle_dad(&[id], &[pkt.dst]);
        let mut p = Probing {
            lab: self,
            id,
            pkt,
            sent: 0,
            started: std::time::Instant::now(),
            whole: timeout,
        };
        let r = busy::conclude(&mut p, timeout, blocked);
        self.settle.set_retrying(false);
        r
    }

    /// One probe for `pkt` waiting at most `timeout` (a share of `whole`,
    /// the script's), and the machine-wide limits hit meanwhile.
    fn probe_once(
        &mut self,
        id: NsId,
        pkt: &Packet,
        timeout: Duration,
        whole: Duration,
    ) -> Result<Attempt> {
        let v6 = pkt.dst.is_ipv6();
        let (probed, before) = match (pkt.proto, pkt.port) {
            (Some(proto), Some(port)) => {
                self.settle_for(v6);
                let sock = self.client_socket(id, proto, v6, pkt.src)?;
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
                self.tell(Event::Connected {
                    ns: id,
                    dst: pkt.dst,
                    proto,
                    port,
                    timeout: whole,
                    ok,
                    src: pkt.src,
                });
                (p, before)
            }
            _ => {
                // One echo, answered at once when the path works; when it
                // is not, two more (a first packet can be lost while a
                // link settles) before the answer is no. `timeout` is the
                // whole wait: the first echo has half of it, the two more
                // what is left (a short timeout: one echo, all of it).
                self.settle_for(v6);
                let before = self.settle.kstat().before(v6);
                let started = std::time::Instant::now();
                let interval = Duration::from_millis(100);
                let retry = timeout >= Duration::from_millis(300);
                let one = PingOpts {
                    count: 1,
                    interval,
                    timeout: if retry { timeout / 2 } else { timeout },
                    size: pkt.size.unwrap_or(crate::net::ping::PAYLOAD),
                    df: pkt.size.is_some(),
                    src: pkt.src,
                    ttl: None,
                    dev: None,
                };
                let mut rep = self.ping(id, pkt.dst, &one)?;
                let left = timeout
                    .saturating_sub(started.elapsed())
                    .saturating_sub(interval);
                // Echoes lost to a machine-wide limit too: on a busy
                // machine a first echo is often lost with its ARP request.
                if retry && rep.replies.is_empty() && left >= Duration::from_millis(50) {
                    let again = PingOpts {
                        count: 2,
                        timeout: left,
                        ..one.clone()
                    };
                    rep = self.ping(id, pkt.dst, &again)?;
                }
                let p = if rep.replies.is_empty() {
                    Probed::Lost
                } else {
                    Probed::Reached
                };
                (p, before)
            }
        };
        let hit = if probed == Probed::Lost {
            self.settle.kstat().hit_since(&before, v6)
        } else {
            Vec::new()
        };
        Ok(Attempt { probed, hit })
    }

    /// The error of a probe that says nothing either way.
    fn unsure(&self, id: NsId, pkt: &Packet, why: &str, help: &str) -> LabError {
        LabError::new(
            format!(
                "cannot tell whether {}{} is reachable from '{}': {why}",
                pkt.dst,
                pkt.what(),
                self.sp.name(id)
            ),
            help,
        )
    }

    /// `ns.expect_reach(dst, …)`: probes for real; only when the probe
    /// fails, an error whose message is the reason, path drawn, and whose
    /// help is the fix.
    pub fn expect_reach(&mut self, id: NsId, pkt: &Packet, timeout: Duration) -> Result<()> {
        let probed = self.probe_reach(id, pkt, timeout, false)?;
        if probed == Probed::Reached {
            return Ok(());
        }
        Err(lab_error(self.failure(id, pkt, &probed)?.0))
    }

    /// Why a probe that did not get through failed, in words: the path's
    /// reason, or what nslab checked (and, for an unsure probe, the
    /// machine's drops); and the trace it read.
    pub fn failure(&mut self, id: NsId, pkt: &Packet, probed: &Probed) -> Result<(Failure, Trace)> {
        // The probe read the path already, inside its timeout.
        let t = match self.settle.take_walk() {
            Some(t) => t,
            None => self.trace(id, pkt)?,
        };
        let from = self.view_name(id);
        let f = match probed {
            Probed::Unsure { why, help } => explain::unsure(from, pkt, &t, why, help),
            p => explain::unreached(from, pkt, &t, *p == Probed::Refused),
        };
        Ok((f, t))
    }

    /// `ns.expect_blocked(dst, …)`: an error when the probe gets through,
    /// saying what let it through.
    pub fn expect_blocked(&mut self, id: NsId, pkt: &Packet, timeout: Duration) -> Result<()> {
        match self.probe_reach(id, pkt, timeout, true)? {
            Probed::Reached => {}
            Probed::Unsure { why, help } => return Err(self.unsure(id, pkt, &why, &help)),
            Probed::Lost | Probed::Refused => return Ok(()),
        }
        let t = self.trace(id, pkt)?;
        Err(lab_error(explain::not_blocked(self.view_name(id), pkt, &t)))
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
        // A namespace on another machine: its agent traced the path there.
        if !rep.replies.is_empty() || self.machine_of(id).is_some() {
            return Ok((rep, None));
        }
        let mut pkt = Packet::ping(dst);
        // A ping that may not be fragmented must fit every link.
        pkt.size = opts.df.then_some(opts.size);
        // The reply goes back to the source the echo left from.
        pkt.src = opts.src;
        let t = self.trace(id, &pkt)?;
        // Every echo lost while the kernel dropped packets machine-wide,
        // and nothing on the path loses them: the loss is the machine's,
        // so one echo more is sent, a bounded number of times, before the
        // answer is no (a router's words or a drop on the path are an
        // answer already).
        let one = PingOpts {
            count: 1,
            ..opts.clone()
        };
        let mut again = 0;
        while rep.replies.is_empty()
            && rep.busy
            && rep.error.is_none()
            && t.lost.is_none()
            && again < busy::RETRIES
        {
            again += 1;
            self.pause(busy::PAUSE)?;
            let r = self.ping(id, dst, &one)?;
            rep.absorb(r);
        }
        // Every echo lost while a neighbour on the path was still being
        // asked for (INCOMPLETE, right after the lab was built or a link
        // came up): the kernel keeps asking, a second apart, three times
        // (mcast_solicit × retrans_time), and a busy machine answers late.
        // One echo more, waiting that long, before the answer is no.
        if rep.replies.is_empty() && rep.error.is_none() && t.lost.is_none() && t.resolving {
            let late = PingOpts {
                count: 1,
                timeout: RESOLVING_WAIT,
                ..opts.clone()
            };
            let r = self.ping(id, dst, &late)?;
            rep.absorb(r);
        }
        if !rep.replies.is_empty() {
            return Ok((rep, None));
        }
        // A drop found on the path is why, whatever else the machine
        // dropped meanwhile: it loses every echo.
        if let Some(f) = &t.lost {
            rep.why = Some(f.reason.clone());
        }
        if rep.why.is_none() {
            rep.why = Some(match (t.reason(), &rep.error) {
                (Some(f), _) => f.reason.clone(),
                // The path lets it through, but a router said why not
                // (TTL exceeded with a small ttl): its words are the answer.
                (None, Some(e)) if rep.router_said() => e.clone(),
                _ => t.no_reason(),
            });
        }
        Ok((rep, Some(t)))
    }
}

/// How long the kernel keeps asking for a neighbour (3 requests a second
/// apart, the default mcast_solicit and retrans_time): what a ping waits
/// for one more echo when a neighbour on the path was still INCOMPLETE.
const RESOLVING_WAIT: Duration = Duration::from_secs(3);

/// The lab as `busy::conclude` probes it: real probes, the real path.
struct Probing<'a> {
    lab: &'a mut Lab,
    id: NsId,
    pkt: &'a Packet,
    sent: u32,
    /// The budget's clock (`Tries::now`).
    started: std::time::Instant,
    /// The probe's whole timeout, as the script gave it (for the plan).
    whole: Duration,
}

impl Tries for Probing<'_> {
    fn send(&mut self, timeout: Duration) -> Result<Attempt> {
        self.lab.settle.set_retrying(self.sent > 0);
        self.sent += 1;
        self.lab.probe_once(self.id, self.pkt, timeout, self.whole)
    }

    fn drop_on_path(&mut self) -> Result<Option<explain::Finding>> {
        let t = self.lab.trace(self.id, self.pkt)?;
        let lost = t.lost.clone();
        self.lab.settle.walked(t);
        Ok(lost)
    }

    fn pause(&mut self, d: Duration) -> Result<()> {
        self.lab.pause(d)
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }
}

fn lab_error(f: Failure) -> LabError {
    LabError::new(f.message, f.help)
}

/// The lab seen through the explanation's seam: every read goes through
/// the `view_*` helpers above.
pub(super) struct Seen<'a>(pub(super) &'a mut Lab);

impl Seen<'_> {
    /// A netlink request in namespace `ns`, run to its end.
    fn rtnl<T, F: Future<Output = crate::net::Result<T>>>(
        &mut self,
        ns: Ns,
        ask: impl FnOnce(Rtnl) -> F,
    ) -> Read<T> {
        let r = self.0.view_rtnl(ns.0)?;
        self.0.view_block_on(ask(r))
    }
}

fn ns_of((id, name): (NsId, String)) -> (Ns, String) {
    (Ns(id), name)
}

impl Kernel for Seen<'_> {
    fn name(&self, ns: Ns) -> String {
        self.0.view_name(ns.0).to_string()
    }

    fn namespaces(&self) -> Vec<Ns> {
        self.0.view_namespaces().into_iter().map(Ns).collect()
    }

    fn links(&mut self, ns: Ns) -> Read<Vec<LinkInfoRow>> {
        let rows = self.rtnl(ns, |r| async move { r.links().await })?;
        Ok(self.0.script_rows(ns.0, rows))
    }

    fn addrs(&mut self, ns: Ns) -> Read<Vec<AddrRow>> {
        self.rtnl(ns, |r| async move { r.addrs().await })
    }

    fn port_states(&mut self, ns: Ns) -> Read<Vec<PortState>> {
        self.rtnl(ns, |r| async move { r.port_states().await })
    }

    fn route_get(&mut self, ns: Ns, q: &RouteQuery) -> Read<RouteAnswer> {
        let q = q.clone();
        self.rtnl(ns, |r| async move { r.route_get(&q).await })
    }

    fn fib(&mut self, ns: Ns, v6: bool) -> Read<Vec<FibEntry>> {
        self.rtnl(ns, |r| async move { r.fib(v6).await })
    }

    fn neighbours(&mut self, ns: Ns, v6: bool) -> Read<Vec<NeighEntry>> {
        self.rtnl(ns, |r| async move { r.neighbours(v6).await })
    }

    fn tentative_link_locals(&mut self, ns: Ns) -> Read<Vec<u32>> {
        let t = self.rtnl(ns, |r| async move { r.tentative_link_locals().await })?;
        Ok(t.into_iter().collect())
    }

    fn sysctl(&mut self, ns: Ns, key: &str) -> Read<String> {
        let k = self.0.kernel_key(ns.0, key).into_owned();
        self.0.view_run_in(ns.0, move || sysctl::read(&k))
    }

    fn listening(&mut self, ns: Ns, proto: Proto, port: u16, addr: IpAddr) -> Read<bool> {
        self.0
            .view_run_in(ns.0, move || probe::listening(proto, port, Some(addr)))
    }

    fn reads_firewall(&self) -> bool {
        nft::program().is_some()
    }

    fn ruleset(&mut self, ns: Ns) -> Read<String> {
        let prog = nft::program()
            .ok_or_else(|| crate::net::NetError::Other("nft is not installed".into()))?;
        let fd = self.0.view_fd(ns.0)?;
        explain::list_ruleset(AsFd::as_fd(fd), &prog)
    }

    fn veth_peer(&self, ns: Ns, link: &str) -> Option<(Ns, String)> {
        self.0.view_veth_peer(ns.0, link).map(ns_of)
    }

    fn sub_parent(&self, ns: Ns, link: &str) -> Option<(Ns, String)> {
        self.0.view_sub_parent(ns.0, link).map(ns_of)
    }

    fn sub_children(&self, ns: Ns, link: &str) -> Vec<(Ns, String)> {
        self.0
            .view_sub_children(ns.0, link)
            .into_iter()
            .map(ns_of)
            .collect()
    }

    fn vxlans(&self) -> Vec<(Ns, String, Vxlan)> {
        self.0
            .view_vxlans()
            .into_iter()
            .map(|(id, name, x)| (Ns(id), name, x))
            .collect()
    }

    fn lab_table(&self) -> String {
        self.0.table_name()
    }

    fn programs(&mut self, ns: Ns) -> Vec<String> {
        self.0
            .view_fd(ns.0)
            .map(|fd| pids::programs_in(AsFd::as_fd(fd)))
            .unwrap_or_default()
    }

    fn across(&self, ns: Ns, link: &str) -> Option<explain::Across> {
        self.0.view_across(ns.0, link)
    }

    fn machine(&self, ns: Ns) -> Option<String> {
        self.0.machine_of(ns.0).map(str::to_string)
    }

    fn placed_named(&self, name: &str) -> Option<Ns> {
        self.0.view_placed_named(name).map(Ns)
    }

    fn far_leg(
        &mut self,
        ns: Ns,
        ask: &explain::LegAsk,
    ) -> std::result::Result<explain::LegDone, String> {
        self.0.remote_walk(ns.0, ask).map_err(|e| e.message)
    }
}
