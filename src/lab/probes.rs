//! Probes: ping, listen, connect, and the wait for links to carry traffic.

use super::busy::Probed;
use super::events::Event;
use super::{Lab, LabError, NsId, PingOpts, PingReport, Result};
use crate::net::probe::Proto;
use crate::net::rtnl::{LinkInfoRow, RouteQuery, Rtnl};
use crate::net::{kstat, ping, probe};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;
/// An ICMP socket opened just before is not there (cannot happen).
fn no_sock() -> LabError {
    LabError::new(
        "the ICMP socket just opened is missing",
        "this is a bug; please report it",
    )
}

/// The longest a probe waits for duplicate address detection (a router's
/// link-locals, a fresh destination): a second on a quiet machine
/// (dad_transmits × retrans_time). On a busy one it is as late as
/// LOCAL_WAIT's step, for the same reason: the DAD work of every namespace
/// on the machine runs on one kernel work queue, each item under the rtnl
/// lock (seen: 10 s while a benchmark made and deleted 2000
/// namespaces). A DAD made longer on purpose (dad_transmits 30) outlasts
/// it, and the probe's trace says so.
const DAD_WAIT: Duration = Duration::from_secs(15);

/// The longest a probe waits for the links brought up since the last one
/// to carry traffic: at once on a quiet machine; the kernel's step that
/// activates them (linkwatch) takes the rtnl lock, which a busy machine's
/// other labs hold for long stretches.
const ACTIVE_WAIT: Duration = Duration::from_secs(5);

/// The longest a probe waits for an address the lab just added (nodad) to
/// be the namespace's own: at once on a quiet machine; only a kernel whose
/// address work queue waits behind other labs' netlink work (a benchmark
/// making thousands of namespaces) takes seconds.
const LOCAL_WAIT: Duration = Duration::from_secs(15);

impl Lab {
    /// Waits until the links brought up since the last probe can carry
    /// traffic (best effort, at most ACTIVE_WAIT). A link whose carrier came on
    /// after it was opened (the first end of a veth, once its peer comes up)
    /// drops every packet until the kernel swaps in its real qdisc, later and
    /// asynchronously (linkwatch); a ping right after `veth()` could lose its
    /// ARP request and time out. Each link gets a quick first look
    /// (`look_quickly`: two ioctls, which make the kernel finish that step
    /// first); those still activating are then asked for one by one
    /// (RTM_GETLINK, not a dump, does the same since Linux 6.8; older kernels
    /// get asked again until the link says it is up). All the questions go
    /// out together, before the first packet. Bridges are asked once more
    /// after the first round: a bridge's carrier comes on only when its first
    /// port is done with that step, so that round may start theirs.
    pub(super) fn settle(&mut self) {
        let mut pending = self.settle.take();
        self.look_quickly(&mut pending);
        let deadline = std::time::Instant::now() + ACTIVE_WAIT;
        let mut first = true;
        while !pending.is_empty() && !self.id.cancel().is_set() {
            self.retain_links(&mut pending, |l| {
                l.activating() || (first && l.kind == "bridge")
            });
            if pending.is_empty() || std::time::Instant::now() >= deadline {
                break;
            }
            if !first {
                std::thread::sleep(Duration::from_micros(200));
            }
            first = false;
        }
    }

    /// `settle`'s first look, with two ioctls a link on its namespace's
    /// netlink socket (`Rtnl::link_flags`): the first makes the kernel
    /// finish the link's pending activation, as RTM_GETLINK does, and
    /// neither has the kernel build a full description of the link, which
    /// was ~25 us a link (a star's first ping waited 0.3 ms at 10 hosts, 3
    /// ms at 100). What they show settled is done; the rest, and what they
    /// cannot read, are left to `settle`'s questions. The lab's bridges go
    /// last in their namespace: finishing their ports may be what turns
    /// their carrier on.
    fn look_quickly(&mut self, pending: &mut Vec<(NsId, String)>) {
        // Cached: each key is a map lookup by an owned name.
        pending.sort_by_cached_key(|(id, n)| (*id, self.topo.bridge_index(*id, n).is_some()));
        let mut keep = Vec::with_capacity(pending.len());
        for (id, name) in pending.iter() {
            let kname = self.kernel_link(*id, name).into_owned();
            let look = self.sp.rtnl(*id).map(|r| r.link_flags(&kname));
            keep.push(match look {
                Ok(Ok(Some(f))) => f.activating(),
                // Gone (its namespace too): nothing to wait for.
                Ok(Ok(None)) => false,
                _ => true,
            });
        }
        let mut keep = keep.into_iter();
        pending.retain(|_| keep.next().unwrap_or(true));
    }

    /// `settle` for an IPv6 probe: a router cannot look up a neighbour for
    /// a packet it forwards until the link the packet leaves by has a
    /// link-local address that passed duplicate address detection (the
    /// kernel sends a neighbour solicitation only from such an address),
    /// 1 to 2 s after the link came up. A ping routed right after the lab
    /// was built was lost, and the next ones too while the neighbour entry
    /// stayed INCOMPLETE. So an IPv6 probe waits (at most DAD_WAIT) until the
    /// links brought up since the last one, in namespaces the lab made
    /// forward IPv6, are done with it. IPv4 probes and labs without IPv6
    /// routers never wait.
    fn settle_v6(&mut self) {
        self.settle();
        let pending = self.settle.take_v6();
        // By namespace, the indexes of the links to wait for.
        let mut wanted: HashMap<NsId, HashSet<u32>> = HashMap::new();
        for (id, name) in &pending {
            if let Ok(l) = self.link(*id, name) {
                wanted.entry(*id).or_default().insert(l.index);
            }
        }
        self.poll_per_ns(wanted, DAD_WAIT, |lab, id, mut links, first| {
            let r = lab.sp.rtnl(id).ok()?;
            let tentative = lab.sp.block_on(r.tentative_link_locals()).ok()?;
            links.retain(|i| tentative.contains(i));
            if links.is_empty() {
                return None;
            }
            if first {
                lab.tell(Event::DadWaited { ns: id });
            }
            Some(links)
        });
    }

    /// Polls every 20 ms, at most `wait` (Ctrl-C ends it), while anything
    /// is `wanted`: `still` gets a namespace, what is still wanted there and
    /// whether this is the first look, and returns what is left (None:
    /// nothing, or nothing can be read there).
    fn poll_per_ns<T>(
        &mut self,
        mut wanted: HashMap<NsId, T>,
        wait: Duration,
        mut still: impl FnMut(&mut Lab, NsId, T, bool) -> Option<T>,
    ) {
        let deadline = std::time::Instant::now() + wait;
        let mut first = true;
        while !wanted.is_empty() && !self.id.cancel().is_set() {
            let ids: Vec<NsId> = wanted.keys().copied().collect();
            for id in ids {
                if let Some(t) = wanted.remove(&id)
                    && let Some(left) = still(self, id, t, first)
                {
                    wanted.insert(id, left);
                }
            }
            if wanted.is_empty() || std::time::Instant::now() >= deadline {
                break;
            }
            first = false;
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Before an IPv6 probe towards `dsts`: an address the lab added since
    /// the last probe is not the namespace's to receive on until the kernel
    /// has put its local route in (after duplicate address detection, or at
    /// once with nodad, which nslab uses; both done by a kernel work queue
    /// that a busy machine runs late), and what comes to it meanwhile is
    /// forwarded or dropped. Waits until each of them is local where it was
    /// added (`ip route get ADDR` says local), at most LOCAL_WAIT: a state
    /// that passes; after it the probe's trace names it.
    pub(super) fn settle_dad(&mut self, from: &[NsId], dsts: &[IpAddr]) {
        if !dsts.iter().any(IpAddr::is_ipv6) {
            return;
        }
        let wanted = self.settle.take_fresh(from, dsts);
        self.poll_per_ns(wanted, LOCAL_WAIT, |lab, id, addrs, first| {
            let r = lab.sp.rtnl(id).ok()?;
            let addrs: Vec<IpAddr> = addrs.into_iter().collect();
            let local: Vec<bool> =
                lab.sp
                    .block_on(futures::future::join_all(addrs.iter().map(|a| {
                        let r = &r;
                        async move {
                            // Unreadable: nothing to wait for.
                            r.route_get(&RouteQuery::to(*a))
                                .await
                                .map_or(true, |ans| ans.kind == "local")
                        }
                    })));
            let mut pending: Vec<IpAddr> = addrs
                .iter()
                .zip(&local)
                .filter(|(_, l)| !**l)
                .map(|(a, _)| *a)
                .collect();
            if pending.is_empty() {
                return None;
            }
            if first {
                pending.sort_unstable();
                for &addr in &pending {
                    lab.tell(Event::AddrDadWaited { ns: id, addr });
                }
            }
            Some(pending.into_iter().collect())
        });
    }

    /// `settle` before a probe, of IPv6 (`settle_v6`) or not.
    pub(super) fn settle_for(&mut self, v6: bool) {
        if v6 {
            self.settle_v6();
        } else {
            self.settle();
        }
    }

    /// Asks the kernel for each of `links` (one RTM_GETLINK each, all sent
    /// together) and keeps those that exist and `keep` says yes to. (A
    /// namespace deleted since has taken its links along.)
    pub(super) fn retain_links(
        &mut self,
        links: &mut Vec<(NsId, String)>,
        keep: impl Fn(&LinkInfoRow) -> bool,
    ) {
        let clients: Vec<Option<Rtnl>> =
            links.iter().map(|(id, _)| self.sp.rtnl(*id).ok()).collect();
        let knames: Vec<String> = links
            .iter()
            .map(|(id, n)| self.kernel_link(*id, n).into_owned())
            .collect();
        let answers: Vec<Option<LinkInfoRow>> =
            self.sp
                .block_on(futures::future::join_all(knames.iter().zip(&clients).map(
                    |(name, r)| async move {
                        match r {
                            Some(r) => r.link(name).await.ok(),
                            None => None,
                        }
                    },
                )));
        let mut answers = answers.into_iter();
        links.retain(|_| answers.next().flatten().is_some_and(|l| keep(&l)));
    }

    /// `ping -c N DST` from `ns`, with a native ICMP socket.
    pub fn ping(&mut self, id: NsId, dst: IpAddr, opts: &PingOpts) -> Result<PingReport> {
        if let Some(r) = self.remote_ping(id, dst, opts) {
            return r;
        }
        let v6 = dst.is_ipv6();
        // `dev`: a link of ns (an error at the line if not), by the
        // kernel's name (see prefix.rs).
        let bound;
        let opts = match &opts.dev {
            Some(dev) => {
                self.link(id, dev)?;
                let mut o = opts.clone();
                o.dev = Some(self.kernel_link(id, dev).into_owned());
                bound = o;
                &bound
            }
            None => opts,
        };
        if let Some(src) = opts.src {
            return self.ping_from(id, dst, src, opts);
        }
        // One socket per namespace and family, kept for the next ping (a
        // star pings hundreds of times from one host); closed before its
        // namespace is deleted, since it would pin it. A new one is opened
        // on the worker while this thread settles the links and reads the
        // counters.
        let opening = match self.running.ping_sock(id, v6) {
            Some(_) => None,
            None => Some(
                self.sp
                    .run_in_later(id, move || ping::open_socket(v6))
                    .map_err(|e| LabError::kernel("open an ICMP socket", &self.where_(id), e))?,
            ),
        };
        self.settle_for(v6);
        self.settle_dad(&[id], &[dst]);
        let before = self.settle.kstat().before(v6);
        if let Some(opening) = opening {
            let sock = opening
                .wait()
                .map_err(|e| LabError::kernel("open an ICMP socket", &self.where_(id), e))?;
            self.running.add_ping_sock(id, v6, sock);
        }
        let sock = self.running.ping_sock(id, v6).ok_or_else(no_sock)?;
        ping::drain(sock.socket());
        let report = ping::ping(sock, dst, opts, self.id.cancel());
        self.pinged(id, dst, opts, report, &before)
    }

    /// `ping -I SRC`: from a socket of its own, bound to `src` (a raw ICMP
    /// socket bound to an address sends from it and hears only what comes
    /// back to it), closed after.
    fn ping_from(
        &mut self,
        id: NsId,
        dst: IpAddr,
        src: IpAddr,
        opts: &PingOpts,
    ) -> Result<PingReport> {
        let v6 = dst.is_ipv6();
        self.check_own_addr(id, src, "src")?;
        self.settle_for(v6);
        self.settle_dad(&[id], &[dst]);
        let sock = self
            .sp
            .run_in(id, move || {
                let s = ping::open_socket(v6)?;
                probe::bind_src(&s, src)?;
                Ok(s)
            })
            .map_err(|e| LabError::kernel("open an ICMP socket", &self.where_(id), e))?;
        let before = self.settle.kstat().before(v6);
        let sock = ping::PingSocket::new(sock, v6);
        let report = ping::ping(&sock, dst, opts, self.id.cancel());
        drop(sock);
        self.pinged(id, dst, opts, report, &before)
    }

    /// After a ping of either kind: a lost packet is blamed on a
    /// machine-wide kernel limit hit since `before`, if one was; the plan
    /// hears of it.
    fn pinged(
        &mut self,
        id: NsId,
        dst: IpAddr,
        opts: &PingOpts,
        mut report: PingReport,
        before: &kstat::Snapshot,
    ) -> Result<PingReport> {
        self.check_cancel()?;
        // A router's words (TTL exceeded, unreachable, frag needed) say why
        // the echoes came back unanswered, whatever the machine dropped
        // meanwhile: they are the answer (ping_traced makes them `why`).
        let router_said = report.replies.is_empty() && report.router_said();
        if report.replies.len() < report.sent as usize && !router_said {
            let v6 = dst.is_ipv6();
            let hit = self.settle.kstat().hit_since(before, v6);
            report.busy = !hit.is_empty();
            report.why = kstat::why(&hit);
        }
        self.tell(Event::Pinged {
            ns: id,
            dst,
            opts,
            sent: report.sent,
            got: report.replies.len(),
        });
        Ok(report)
    }

    /// A TCP/UDP socket in `id`, bound to `src` when given (after checking
    /// it is one of `id`'s addresses).
    pub(super) fn client_socket(
        &mut self,
        id: NsId,
        proto: Proto,
        v6: bool,
        src: Option<IpAddr>,
    ) -> Result<socket2::Socket> {
        self.sp
            .run_in(id, move || {
                let s = probe::client_socket(proto, v6)?;
                if let Some(src) = src {
                    probe::bind_src(&s, src)?;
                }
                Ok(s)
            })
            .map_err(|e| LabError::kernel("open a socket", &self.where_(id), e))
    }

    /// A native server on `port` in `ns` (what `nc -l` does in labs);
    /// returns its number for `peers`.
    pub fn listen(&mut self, id: NsId, proto: Proto, port: u16) -> Result<usize> {
        if let Some(r) = self.remote_listen(id, proto, port) {
            return r;
        }
        let name = self.sp.name(id).to_string();
        let bound = self
            .sp
            .run_in(id, move || probe::bind(proto, port))
            .map_err(|e| match e.raw_errno() {
                Some(libc::EADDRINUSE) => LabError::new(
                    format!(
                        "port {port}/{} is already in use in namespace '{name}'",
                        proto.name()
                    ),
                    "pick another port, or stop what listens there",
                ),
                _ => LabError::kernel("listen", &format!("port {port} in '{name}'"), e),
            })?;
        let l = bound
            .serve()
            .map_err(|e| LabError::kernel("start a listener", &name, e))?;
        let idx = self.running.listen(id, l);
        self.tell(Event::Listening {
            ns: id,
            proto,
            port,
        });
        Ok(idx)
    }

    /// Source addresses seen by listener `idx`.
    pub fn peers(&self, idx: usize) -> Vec<IpAddr> {
        if let Some(p) = self.remote_peers(idx) {
            return p;
        }
        self.running
            .listener(idx)
            .map(|l| l.peers())
            .unwrap_or_default()
    }

    /// Can `ns` open (TCP) or get an answer from (UDP) `dst:port`?
    pub fn connect(
        &mut self,
        id: NsId,
        dst: IpAddr,
        proto: Proto,
        port: u16,
        timeout: Duration,
        src: Option<IpAddr>,
    ) -> Result<bool> {
        // `false` would say the lab's network refused or dropped it, and a
        // firewall check would take that for "blocked": when the kernel
        // itself dropped it, sent again, the probe has no answer, so it is
        // an error.
        let mut pkt = crate::explain::Packet::ping(dst);
        pkt.proto = Some(proto);
        pkt.port = Some(port);
        pkt.src = src;
        let reached = match self.probe_reach(id, &pkt, timeout, false)? {
            Probed::Reached => true,
            Probed::Refused | Probed::Lost => false,
            Probed::Unsure { why, help } => {
                return Err(LabError::new(
                    format!(
                        "cannot tell whether {} ({}) is reachable from '{}': {why}",
                        std::net::SocketAddr::new(dst, port),
                        proto.name(),
                        self.sp.name(id)
                    ),
                    help,
                ));
            }
        };
        Ok(reached)
    }
}

impl Lab {
    /// Waits until something listens on `port` (`proto`) in `ns`, on `addr`
    /// or on every address (what `ss -ltn` would show), checking every
    /// 20 ms; an error past `timeout`.
    pub fn wait_port(
        &mut self,
        id: NsId,
        proto: Proto,
        port: u16,
        addr: Option<IpAddr>,
        timeout: Duration,
    ) -> Result<()> {
        if let Some(r) = self.remote_do(id, "wait_port", &(proto, port, addr, timeout)) {
            return r;
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let up = self
                .sp
                .run_in(id, move || probe::listening(proto, port, addr))
                .map_err(|e| LabError::kernel("read the sockets", &self.where_(id), e))?;
            if up {
                self.tell(Event::PortWaited {
                    ns: id,
                    proto,
                    port,
                    timeout,
                });
                return Ok(());
            }
            self.check_cancel()?;
            if std::time::Instant::now() >= deadline {
                let on = addr.map(|a| format!(" on {a}")).unwrap_or_default();
                return Err(LabError::new(
                    format!(
                        "nothing listens on {} port {port}{on} in {} after {} ms",
                        proto.name(),
                        self.where_(id),
                        timeout.as_millis()
                    ),
                    "check that the server started (p.running and p.stderr of the process ns.spawn returned) and the port it uses; or give it longer with #{timeout_ms: …}",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sleeps, waking at once on Ctrl-C or SIGTERM.
    pub fn sleep(&mut self, d: Duration) -> Result<()> {
        // A script that waits (for STP, for a server) needs the plan to.
        self.tell(Event::Slept { d });
        self.pause(d)
    }

    /// `sleep` between two looks of a wait (wait_until, wait_route): the
    /// plan shows what the looks do, not every pause between them.
    pub fn pause(&mut self, d: Duration) -> Result<()> {
        let end = std::time::Instant::now() + d;
        loop {
            self.check_cancel()?;
            let now = std::time::Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}

/// What `reach` saw: for every ordered pair of nodes, how many of the
/// echo requests got a reply.
pub struct ReachReport {
    pub count: u32,
    /// (from, to, replies), by node index.
    pub pairs: Vec<(usize, usize, u32)>,
    /// A machine-wide kernel limit hit while replies were missing.
    pub why: Option<String>,
    /// Why a pair's echo went unanswered, found along its path (as
    /// `ns.trace`), for the first pairs that failed.
    pub reasons: HashMap<(usize, usize), String>,
}

/// How many unanswered pairs of a `reach` get their path explained.
const EXPLAINED_PAIRS: usize = 32;

impl Lab {
    /// The address other namespaces reach `ns` by: its first IPv4 address
    /// (not loopback), else its first global IPv6 one.
    pub fn first_addr(&mut self, id: NsId) -> Result<Option<IpAddr>> {
        Ok(self.first_addrs(&[id])?.pop().flatten())
    }

    /// `first_addr` of each of `ids`, their address dumps sent together
    /// (reach() of 30 nodes asked 30 namespaces one after the other, each
    /// for its links too, which only name the devices).
    pub fn first_addrs(&mut self, ids: &[NsId]) -> Result<Vec<Option<IpAddr>>> {
        if ids.iter().any(|id| self.machine_of(*id).is_some()) {
            return self.first_addrs_across(ids);
        }
        let clients = ids
            .iter()
            .map(|id| {
                self.sp
                    .rtnl(*id)
                    .map_err(|e| LabError::kernel("list addresses", &self.where_(*id), e))
            })
            .collect::<Result<Vec<_>>>()?;
        let dumps = self.sp.block_on(futures::future::join_all(
            clients.iter().map(|r| async move { r.addrs().await }),
        ));
        let pick = |rows: &[crate::net::rtnl::AddrRow], want_v4: bool| {
            rows.iter().map(|a| a.addr.addr()).find(|ip| match ip {
                IpAddr::V4(v4) => want_v4 && !v4.is_loopback(),
                IpAddr::V6(v6) => {
                    !want_v4 && !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80
                }
            })
        };
        ids.iter()
            .zip(dumps)
            .map(|(id, rows)| {
                let rows =
                    rows.map_err(|e| LabError::kernel("list addresses", &self.where_(*id), e))?;
                Ok(pick(&rows, true).or_else(|| pick(&rows, false)))
            })
            .collect()
    }

    /// Pings every ordered pair of `nodes` at once (Mininet's pingall, in
    /// parallel): each sends `count` echo requests to every other node's
    /// address, and all replies are awaited together, within `timeout`
    /// (unanswered pairs pinged again inside it: `sweep_again`).
    /// A node with a source address (`srcs[i]`) sends from a socket of its
    /// own bound to it, so the replies must come back to that address.
    /// The sources placed on other machines are swept by their agents
    /// meanwhile (lab/remote/reach.rs), with the same budget.
    pub fn reach(
        &mut self,
        nodes: &[(NsId, IpAddr)],
        srcs: &[Option<IpAddr>],
        count: u32,
        timeout: Duration,
    ) -> Result<ReachReport> {
        let src_of = |i: usize| srcs.get(i).copied().flatten();
        let placed: Vec<bool> = nodes
            .iter()
            .map(|(id, _)| self.machine_of(*id).is_some())
            .collect();
        for (i, &(id, _)) in nodes.iter().enumerate() {
            if let Some(s) = src_of(i).filter(|_| !placed[i]) {
                self.check_own_addr(id, s, "src")?;
            }
        }
        // Each source: its node, and the nodes it pings.
        let sources: Vec<(usize, Sweep)> = (0..nodes.len())
            .map(|i| {
                let to: Vec<usize> = (0..nodes.len()).filter(|&j| j != i).collect();
                let dsts = to.iter().map(|&j| nodes[j].1).collect();
                (i, (nodes[i].0, src_of(i), dsts))
            })
            .collect();
        let (away, here): (Vec<_>, Vec<_>) = sources.into_iter().partition(|(i, _)| placed[*i]);
        let sent = self.send_sweeps(&away, count, timeout)?;
        let local: Vec<Sweep> = here.iter().map(|(_, s)| s.clone()).collect();
        let (got, mut why) = self.sweep_sources(&local, count, timeout)?;
        let far = self.wait_sweeps(sent)?;
        self.check_cancel()?;
        let mut pairs = Vec::new();
        for ((i, _), replies) in here.iter().zip(got) {
            let to = (0..nodes.len()).filter(|&j| j != *i);
            pairs.extend(to.zip(replies).map(|(j, r)| (*i, j, r)));
        }
        if !far.pairs.is_empty() {
            pairs.extend(far.pairs);
            pairs.sort_by_key(|p| (p.0, p.1));
        }
        why = why.or(far.why);
        self.tell(Event::Reached {
            nodes,
            srcs,
            count,
            timeout,
            pairs: &pairs,
        });
        // Each unanswered pair explained, as far as it is cheap: a lab
        // where nothing answers would otherwise trace N² paths. When the
        // kernel dropped packets machine-wide meanwhile, only a drop found
        // on the path stands against that (a pair that cannot work).
        let mut reasons = HashMap::new();
        let failed: Vec<(usize, usize)> = pairs
            .iter()
            .filter(|(_, _, r)| *r == 0)
            .map(|&(a, b, _)| (a, b))
            .take(EXPLAINED_PAIRS)
            .collect();
        for (a, b) in failed {
            let mut pkt = crate::explain::Packet::ping(nodes[b].1);
            pkt.src = src_of(a);
            if let Ok(t) = self.trace(nodes[a].0, &pkt) {
                let said = match (&t.lost, t.reason()) {
                    (Some(f), _) => format!("{} (help: {})", f.reason, f.help),
                    (None, _) if why.is_some() => continue,
                    (None, Some(f)) => format!("{} (help: {})", f.reason, f.help),
                    (None, None) => t.no_reason(),
                };
                reasons.insert((a, b), said);
            }
        }
        Ok(ReachReport {
            count,
            pairs,
            why,
            reasons,
        })
    }

    /// Each source (a namespace of this machine, the address it pings from
    /// or None, the addresses it pings) sends `count` echo requests to
    /// each of its addresses, all at once, within `timeout`
    /// (`sweep_again`): the replies per source and address, and a
    /// machine-wide kernel limit hit while some were missing.
    pub(crate) fn sweep_sources(
        &mut self,
        from: &[Sweep],
        count: u32,
        timeout: Duration,
    ) -> Result<(Vec<Vec<u32>>, Option<String>)> {
        let mut got: Vec<Vec<u32>> = from.iter().map(|(_, _, d)| vec![0; d.len()]).collect();
        if from.iter().all(|(_, _, d)| d.is_empty()) {
            return Ok((got, None));
        }
        let all: Vec<IpAddr> = from
            .iter()
            .flat_map(|(_, _, d)| d.iter().copied())
            .collect();
        self.settle_for(all.iter().any(IpAddr::is_ipv6));
        let ids: Vec<NsId> = from.iter().map(|(id, _, _)| *id).collect();
        self.settle_dad(&ids, &all);
        // The bound sockets of the sources with an address, by index.
        let mut own: HashMap<usize, socket2::Socket> = HashMap::new();
        for (k, &(id, src, _)) in from.iter().enumerate() {
            let Some(src) = src else { continue };
            let v6 = src.is_ipv6();
            let sock = self
                .sp
                .run_in(id, move || {
                    let s = ping::open_socket(v6)?;
                    probe::bind_src(&s, src)?;
                    Ok(s)
                })
                .map_err(|e| LabError::kernel("open an ICMP socket", &self.where_(id), e))?;
            own.insert(k, sock);
        }
        // The shared sockets still missing, opened in one trip to the
        // namespace worker (the host's here: see Spaces::run_in).
        let mut missing: Vec<(NsId, bool)> = Vec::new();
        for &(id, src, ref dsts) in from {
            for v6 in [false, true] {
                if dsts.iter().any(|ip| ip.is_ipv6() == v6)
                    && src.is_none_or(|s| s.is_ipv6() != v6)
                    && self.running.ping_sock(id, v6).is_none()
                    && !missing.contains(&(id, v6))
                {
                    missing.push((id, v6));
                }
            }
        }
        let (host, away): (Vec<_>, Vec<_>) = missing
            .into_iter()
            .partition(|(id, _)| *id == crate::lab::space::HOST);
        let ids: Vec<NsId> = away.iter().map(|(id, _)| *id).collect();
        let fams: Vec<bool> = away.iter().map(|(_, v6)| *v6).collect();
        let opened = self
            .sp
            .run_in_each(&ids, move |k| ping::open_socket(fams[k]))
            .map_err(|e| LabError::kernel("open an ICMP socket", "the lab's namespaces", e))?;
        for ((id, v6), sock) in away.into_iter().zip(opened) {
            let sock =
                sock.map_err(|e| LabError::kernel("open an ICMP socket", &self.where_(id), e))?;
            self.running.add_ping_sock(id, v6, sock);
        }
        for (id, v6) in host {
            let sock = self
                .sp
                .run_in(id, move || ping::open_socket(v6))
                .map_err(|e| LabError::kernel("open an ICMP socket", &self.where_(id), e))?;
            self.running.add_ping_sock(id, v6, sock);
        }
        // One plan entry per source and family: (socket, v6, addresses),
        // with the index of each address among the source's.
        let mut plan = Vec::new();
        let mut targets: Vec<(usize, Vec<usize>)> = Vec::new();
        for (k, &(id, src, ref dsts)) in from.iter().enumerate() {
            for v6 in [false, true] {
                let to: Vec<usize> = (0..dsts.len())
                    .filter(|&d| dsts[d].is_ipv6() == v6)
                    .collect();
                if to.is_empty() {
                    continue;
                }
                let sock = match own
                    .get(&k)
                    .filter(|_| src.is_some_and(|s| s.is_ipv6() == v6))
                {
                    Some(s) => s,
                    // A kept socket may have a ping's TTL, DF or device.
                    None => self
                        .running
                        .ping_sock(id, v6)
                        .ok_or_else(no_sock)?
                        .plain()
                        .map_err(|e| {
                            LabError::kernel(
                                "reset an ICMP socket",
                                &self.where_(id),
                                crate::net::NetError::os("reset an ICMP socket", e),
                            )
                        })?,
                };
                ping::drain(sock);
                plan.push((sock, v6, to.iter().map(|&d| dsts[d]).collect()));
                targets.push((k, to));
            }
        }
        let before = (
            self.settle.kstat().before(false),
            self.settle.kstat().before(true),
        );
        let swept = sweep_again(self.settle.kstat(), self.id.cancel(), &plan, count, timeout);
        drop(plan);
        drop(own);
        for ((k, to), replies) in targets.iter().zip(swept) {
            for (d, r) in to.iter().zip(replies) {
                got[*k][*d] = r;
            }
        }
        let lost = got.iter().flatten().any(|r| *r < count);
        let why = if lost {
            kstat::why(&self.settle.kstat().hit_since(&before.0, false))
                .or_else(|| kstat::why(&self.settle.kstat().hit_since(&before.1, true)))
        } else {
            None
        };
        Ok((got, why))
    }
}

/// One source of a sweep: its namespace, the address it pings from (None:
/// the kernel's pick), the addresses it pings.
pub(crate) type Sweep = (NsId, Option<IpAddr>, Vec<IpAddr>);

/// `ping::sweep` within `timeout` as a probe's budget is kept
/// (`busy::conclude`): the first sweep has half of it; the pairs it
/// left unanswered are swept once more with the rest, or, when the
/// kernel dropped packets machine-wide meanwhile, up to
/// `busy::RETRIES` times, each after a pause with a share of what is
/// left. A pair's count is that of its last sweep.
fn sweep_again(
    watch: &mut kstat::Watch,
    cancel: &crate::cancel::Cancel,
    plan: &[(&socket2::Socket, bool, Vec<IpAddr>)],
    count: u32,
    timeout: Duration,
) -> Vec<Vec<u32>> {
    let start = std::time::Instant::now();
    let mut got: Vec<Vec<u32>> = plan.iter().map(|(_, _, d)| vec![0; d.len()]).collect();
    let mut wait = super::busy::first_timeout(timeout);
    let mut sent = 0u32;
    loop {
        // The plan entries and destinations still unanswered.
        let todo: Vec<(usize, Vec<usize>)> = plan
            .iter()
            .enumerate()
            .map(|(i, (_, _, d))| (i, (0..d.len()).filter(|&j| got[i][j] == 0).collect()))
            .filter(|(_, js): &(usize, Vec<usize>)| !js.is_empty())
            .collect();
        if todo.is_empty() {
            break;
        }
        let part: Vec<(&socket2::Socket, bool, Vec<IpAddr>)> = todo
            .iter()
            .map(|(i, js)| {
                let (sock, v6, d) = &plan[*i];
                (*sock, *v6, js.iter().map(|&j| d[j]).collect())
            })
            .collect();
        let before = (watch.before(false), watch.before(true));
        let again = ping::sweep(&part, count, wait, cancel);
        if cancel.is_set() {
            break;
        }
        sent += 1;
        for ((i, js), replies) in todo.iter().zip(again) {
            for (j, r) in js.iter().zip(replies) {
                got[*i][*j] = r;
            }
        }
        if got.iter().flatten().all(|r| *r > 0) {
            break;
        }
        let busy = !watch.hit_since(&before.0, false).is_empty()
            || !watch.hit_since(&before.1, true).is_empty();
        let left = timeout.saturating_sub(start.elapsed());
        let Some(w) = super::busy::next_wait(busy, left, sent) else {
            break;
        };
        if busy {
            std::thread::sleep(super::busy::PAUSE);
        }
        wait = w;
    }
    got
}
