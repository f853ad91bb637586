//! The walk: one route lookup per namespace on the path, as the kernel
//! would do it for this packet arriving on that link, then layer 2 to the
//! namespace that owns the next hop; the first refusal is narrowed down
//! to a reason (the errno of a lookup is only a class, see the notes in
//! `Rtnl::route_get`).

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::firewall::{self, Chain, Outcome, Pkt};
use super::kernel::Ns;
use super::segment::{self, Block, Blocked, Segment};
use super::world::{World, is_private};
use super::{Dir, Finding, Hop, Packet, Trace, Verdict, var};
use crate::net::NetError;
use crate::net::rtnl::{LinkInfoRow, RouteAnswer, RouteQuery};

/// More hops than any lab has: a loop the walk did not catch otherwise.
const MAX_HOPS: usize = 64;

/// How one direction of the walk ended.
enum End {
    Delivered { ns: Ns, src: IpAddr, dst: IpAddr },
    Lost(Finding),
    Unknown(String),
}

/// A source address rewritten by a router (masquerade, snat): the reply
/// comes back to `public` there and goes on to `private`.
struct Nat {
    ns: Ns,
    public: IpAddr,
    private: IpAddr,
}

struct Walker<'w, 'a> {
    w: &'w mut World<'a>,
    pkt: Packet,
    hops: Vec<Hop>,
    /// The direction of the leg being walked.
    dir: Dir,
    /// What looks wrong on a path that is otherwise whole.
    suspects: Vec<Finding>,
    checked: Vec<Ns>,
    nats: Vec<Nat>,
    /// Where the request started and the source address it left with.
    origin: Option<(Ns, IpAddr)>,
    /// The sender's learned path MTU is too small for the packet: the
    /// reason if nothing else on the path is.
    stale_pmtu: Option<Finding>,
    /// A router on the way rewrote the destination (DNAT): its conntrack
    /// entry says so (`ct status dnat`), both ways.
    dnatted: bool,
}

pub fn trace(w: &mut World, id: Ns, pkt: &Packet) -> Trace {
    let mut k = Walker {
        w,
        pkt: pkt.clone(),
        hops: Vec::new(),
        dir: Dir::Request,
        suspects: Vec::new(),
        checked: Vec::new(),
        nats: Vec::new(),
        origin: None,
        stale_pmtu: None,
        dnatted: false,
    };
    let (mut lost, unknown) = match k.leg(Dir::Request, id, pkt.src, pkt.dst) {
        End::Lost(f) => (Some(f), None),
        End::Unknown(u) => (None, Some(u)),
        End::Delivered { ns, src, dst } => k.after_delivery(id, ns, src, dst),
    };
    if lost.is_none() && unknown.is_none() {
        lost = k.stale_pmtu.take();
    }
    let mut checked = Vec::new();
    let mut firewalled = Vec::new();
    for id in &k.checked {
        let name = k.w.name(*id);
        if !checked.contains(&name) {
            checked.push(name.clone());
            if let Some(n) = k.w.firewalled.get(id) {
                firewalled.push((name, *n));
            }
        }
    }
    Trace {
        hops: k.hops,
        suspects: k.suspects,
        lost,
        unknown,
        checked,
        firewalled,
    }
}

fn table_name(t: u32) -> String {
    match t {
        254 => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

/// The call that deletes route `net` of table `t`.
fn route_delete_call(v: &str, net: &str, t: u32) -> String {
    if t == 254 {
        format!("{v}.route_delete(\"{net}\")")
    } else {
        format!("{v}.route_delete(\"{net}\", #{{table: {t}}})")
    }
}

fn table_arg(t: u32) -> String {
    if t == 254 {
        String::new()
    } else {
        format!(" table {t}")
    }
}

fn family_word(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn neigh_word(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "ARP" } else { "neighbour" }
}

impl Walker<'_, '_> {
    fn name(&self, id: Ns) -> String {
        self.w.name(id)
    }

    fn var(&self, id: Ns) -> String {
        var(&self.w.name(id))
    }

    fn hop(
        &mut self,
        ns: Ns,
        iif: Option<&str>,
        oif: Option<&str>,
        via: Option<IpAddr>,
        verdict: Verdict,
        why: String,
    ) {
        let name = self.name(ns);
        self.hops.push(Hop {
            dir: self.dir,
            ns: name,
            iif: iif.map(str::to_string),
            oif: oif.map(str::to_string),
            via,
            verdict,
            why,
        });
    }

    /// The request has arrived in `dest`: a TCP/UDP port needs a listener,
    /// then the reply must find its way back to `origin`.
    fn after_delivery(
        &mut self,
        origin: Ns,
        dest: Ns,
        src: IpAddr,
        dst: IpAddr,
    ) -> (Option<Finding>, Option<String>) {
        if let (Some(proto), Some(port)) = (self.pkt.proto, self.pkt.port)
            && self.w.listening(dest, proto, port, dst) == Some(false)
        {
            let p = super::proto_name(proto);
            let help = if p == "tcp" {
                format!(
                    "start a server there: {v}.listen({port}), or spawn one (e.g. {v}.spawn(\"python3 -m http.server {port}\"))",
                    v = self.var(dest)
                )
            } else {
                format!(
                    "start a server there that answers: {}.listen(#{{proto: \"{p}\", port: {port}}})",
                    self.var(dest)
                )
            };
            if let Some(h) = self.hops.last_mut() {
                h.why = format!("{}; nothing listens on {p} port {port} there", h.why);
            }
            return (
                Some(Finding {
                    reason: format!(
                        "nothing listens on {p} port {port} in {} (the connection is refused, not dropped on the way)",
                        self.name(dest)
                    ),
                    help,
                }),
                None,
            );
        }
        match self.leg(Dir::Reply, dest, Some(dst), src) {
            End::Delivered { ns, .. } if ns == origin => (None, None),
            End::Delivered { ns, .. } => (
                None,
                Some(format!(
                    "the reply would be delivered in {}, not in {}",
                    self.name(ns),
                    self.name(origin)
                )),
            ),
            End::Lost(f) => (
                Some(Finding {
                    reason: format!(
                        "the request gets there, but the reply is lost: {}",
                        f.reason
                    ),
                    help: f.help,
                }),
                None,
            ),
            End::Unknown(u) => (None, Some(format!("on the way back, {u}"))),
        }
    }

    /// One direction, from `start` (where the packet is made) to where it
    /// is delivered or lost.
    fn leg(&mut self, dir: Dir, start: Ns, src: Option<IpAddr>, dst: IpAddr) -> End {
        self.dir = dir;
        let mut ns = start;
        let mut iif: Option<LinkInfoRow> = None;
        let mut src = src;
        let mut dst = dst;
        let mut seen = HashSet::new();
        for _ in 0..MAX_HOPS {
            if !seen.insert((ns, iif.as_ref().map(|l| l.index))) {
                let f = Finding {
                    reason: format!(
                        "the packet goes round in a loop: it comes back to {}{}",
                        self.name(ns),
                        iif.as_ref()
                            .map(|l| format!(" on {}", l.name))
                            .unwrap_or_default()
                    ),
                    help: format!(
                        "check the routes to {dst} along the path (ns.routes() in each namespace)"
                    ),
                };
                return End::Lost(f);
            }
            self.checked.push(ns);
            // Read now: the rules tell NAT, and their number says whether
            // a firewall could be what drops it.
            let nat = self.w.nat_rules(ns);
            if dir == Dir::Reply
                && let Some(n) = self.nats.iter().find(|n| n.ns == ns && n.public == dst)
            {
                dst = n.private;
            }
            let iif_name = iif.as_ref().map(|l| l.name.clone());
            // Port forwarding: a nat rule at prerouting (output for what
            // is sent from here) gives the request a new destination
            // before the route lookup, as the kernel does.
            let mut dnat_why = String::new();
            if dir == Dir::Request
                && let Some(r) = self.w.dnat_rules(ns).into_iter().find(|r| {
                    r.applies(iif_name.as_deref(), dst, self.pkt.ip_proto(), self.pkt.port)
                })
            {
                let was = match self.pkt.port {
                    Some(p) if dst.is_ipv6() => format!("[{dst}]:{p}"),
                    Some(p) => format!("{dst}:{p}"),
                    None => dst.to_string(),
                };
                dnat_why = format!(
                    "dnat {was} -> {} (rule handle {} in {} {}{}); ",
                    r.target(),
                    r.handle,
                    r.family,
                    r.table,
                    if r.unsure {
                        ", if its matches nslab cannot read hold"
                    } else {
                        ""
                    }
                );
                dst = r.to;
                self.pkt.dst = dst;
                if let Some(p) = r.to_port {
                    self.pkt.port = Some(p);
                }
                self.dnatted = true;
            }
            let q = RouteQuery {
                dst,
                src,
                iif: iif.as_ref().map(|l| l.index),
                oif: None,
                proto: Some(self.pkt.ip_proto()),
                // A reply comes from the port; where it goes is not known.
                dport: if dir == Dir::Request {
                    self.pkt.port
                } else {
                    None
                },
            };
            let a = match self.w.route_get(ns, &q) {
                Ok(a) => a,
                Err(e) => {
                    let end = self.refused(dir, ns, iif.as_ref(), src, dst, &e);
                    let why = match &end {
                        End::Lost(f) => f.reason.clone(),
                        End::Unknown(u) => u.clone(),
                        End::Delivered { .. } => String::new(),
                    };
                    self.hop(ns, iif_name.as_deref(), None, None, Verdict::Drop, why);
                    return end;
                }
            };
            match a.kind.as_str() {
                "local" => {
                    if let (Some(_), Some(s)) = (&iif, src)
                        && let Some(f) = self.filtered(
                            ns,
                            iif_name.as_deref(),
                            None,
                            s,
                            dst,
                            &["prerouting", "input"],
                        )
                    {
                        let why = f.reason.clone();
                        self.hop(ns, iif_name.as_deref(), None, None, Verdict::Drop, why);
                        return End::Lost(f);
                    }
                    let why = format!("{dnat_why}{dst} is an address of {}", self.name(ns));
                    self.hop(ns, iif_name.as_deref(), None, None, Verdict::Deliver, why);
                    let src = src.unwrap_or(dst);
                    return End::Delivered { ns, src, dst };
                }
                "unicast" => {}
                other => {
                    let u = format!(
                        "{} would treat {dst} as {other}, which nslab does not follow",
                        self.name(ns)
                    );
                    self.hop(
                        ns,
                        iif_name.as_deref(),
                        None,
                        None,
                        Verdict::Drop,
                        u.clone(),
                    );
                    return End::Unknown(u);
                }
            }
            let Some(oif) = a.oif.and_then(|o| self.w.link(ns, o)) else {
                let u = format!(
                    "{}'s route to {dst} names no link nslab can find",
                    self.name(ns)
                );
                self.hop(
                    ns,
                    iif_name.as_deref(),
                    None,
                    a.gateway,
                    Verdict::Drop,
                    u.clone(),
                );
                return End::Unknown(u);
            };
            let route_why = format!(
                "{dnat_why}route to {dst}{} dev {} (table {})",
                a.gateway.map(|g| format!(" via {g}")).unwrap_or_default(),
                oif.name,
                table_name(a.table)
            );
            let drop_here = |k: &mut Self, f: Finding| {
                k.hop(
                    ns,
                    iif_name.as_deref(),
                    Some(&oif.name),
                    a.gateway,
                    Verdict::Drop,
                    f.reason.clone(),
                );
                End::Lost(f)
            };
            if iif.is_none() {
                if self.w.addrs_on(ns, oif.index, dst).is_empty() {
                    let f = self.no_address(ns, &oif, dst);
                    return drop_here(self, f);
                }
                src = src.or(a.prefsrc);
                if let Some(s) = src
                    && dir == Dir::Request
                {
                    self.origin = Some((ns, s));
                }
            } else if dst.is_ipv6()
                && let Some(f) = self.v6_forwarding(ns, iif.as_ref())
            {
                // Dropped on arrival, as IPv4 is: no way out is drawn.
                let why = f.reason.clone();
                self.hop(ns, iif_name.as_deref(), None, None, Verdict::Drop, why);
                return End::Lost(f);
            }
            let Some(cur_src) = src else {
                let f = self.no_address(ns, &oif, dst);
                return drop_here(self, f);
            };
            // Before the firewall, as the kernel does: a sender with DF
            // gets EMSGSIZE, a router drops it and sends back
            // "fragmentation needed".
            // (A reply is the kernel's, sent without DF: cut up to fit.)
            if let Some(len) = self.pkt.ip_len()
                && dir == Dir::Request
                && (oif.mtu as usize) < len
            {
                let f = self.too_big(ns, &oif, len, iif.is_none());
                return drop_here(self, f);
            }
            // The route's own MTU: one set on it, or the path MTU the
            // sender learned from an earlier "fragmentation needed" (kept
            // ~10 minutes, after the link that was too small is fixed).
            // A learned one is only the reason when nothing on the path is
            // too small now (then it is stale): the walk goes on.
            if let (Some(len), Some(m)) = (self.pkt.ip_len(), a.mtu)
                && (m as usize) < len
                && iif.is_none()
                && dir == Dir::Request
            {
                let f = self.route_mtu(ns, dst, m, len, a.cached, a.table);
                if !a.cached {
                    return drop_here(self, f);
                }
                self.stale_pmtu = Some(f);
            }
            let hooks: &[&str] = if iif.is_none() {
                &["output", "postrouting"]
            } else {
                &["prerouting", "forward", "postrouting"]
            };
            if let Some(f) = self.filtered(
                ns,
                iif_name.as_deref(),
                Some(&oif.name),
                cur_src,
                dst,
                hooks,
            ) {
                return drop_here(self, f);
            }
            if let Some(rule) = nat.iter().find(|r| r.applies(cur_src, &oif.name)) {
                let public = rule.to.or_else(|| {
                    self.w
                        .addrs_on(ns, oif.index, dst)
                        .first()
                        .map(|n| n.addr())
                });
                if let Some(p) = public
                    && p != cur_src
                {
                    self.nats.push(Nat {
                        ns,
                        public: p,
                        private: cur_src,
                    });
                    src = Some(p);
                }
            }
            if !oif.carrier {
                let f = self.no_carrier(ns, &oif);
                return drop_here(self, f);
            }
            let next = a.gateway.unwrap_or(dst);
            // Through the bridges as they forward now; when that does not
            // get there but the cables do, a bridge port is what stops it.
            let open = segment::follow_open(self.w, ns, &oif);
            let mut found = self.holder(&open, next);
            let seg = if found.is_none() && !open.blocked.is_empty() {
                let all = segment::follow(self.w, ns, &oif);
                if let Some(e) = self.holder(&all, next)
                    && let Some(b) = segment::first_block(self.w, &e.path)
                {
                    let others: Vec<Blocked> = open
                        .blocked
                        .iter()
                        .filter(|o| (o.ns, &o.bridge, &o.port) != (b.ns, &b.bridge, &b.port))
                        .cloned()
                        .collect();
                    let f = self.bridge_block(&b, next, &others);
                    return drop_here(self, f);
                }
                all
            } else {
                open
            };
            if found.is_none() {
                found = self.holder(&seg, next);
            }
            let Some(e) = found else {
                if !seg.unfollowed.is_empty() {
                    let u = format!(
                        "nslab cannot follow past {} (where {next} could be)",
                        seg.unfollowed.join(", ")
                    );
                    self.hop(
                        ns,
                        iif_name.as_deref(),
                        Some(&oif.name),
                        a.gateway,
                        Verdict::Forward,
                        format!("{route_why}; {u}"),
                    );
                    return End::Unknown(u);
                }
                let f = self.nobody_has(ns, &oif, &a, dst, &seg);
                return drop_here(self, f);
            };
            // Every link from here to there must be up, and carry.
            if let Some((lns, l)) = e.path.iter().skip(1).find(|(_, l)| !l.up) {
                let f = Finding {
                    reason: format!(
                        "the link {} of {} is down (on the way from {} {} to {next})",
                        l.name,
                        self.name(*lns),
                        self.name(ns),
                        oif.name
                    ),
                    help: format!("{}.link(\"{}\").up()", self.var(*lns), l.name),
                };
                return drop_here(self, f);
            }
            if let Some((lns, l)) = e.path.iter().skip(1).find(|(_, l)| !l.carrier) {
                let f = self.no_carrier(*lns, l);
                return drop_here(self, f);
            }
            // A frame bigger than a link it crosses is dropped there (a
            // veth or bridge port with a smaller MTU), silently.
            if let Some(len) = self.pkt.ip_len().map(|n| {
                if dir == Dir::Request {
                    n
                } else {
                    n.min(oif.mtu as usize)
                }
            }) && let Some((lns, l)) =
                e.path.iter().skip(1).find(|(_, l)| (l.mtu as usize) < len)
            {
                let f = self.too_big_on_the_way(*lns, l, len, ns, &oif.name);
                return drop_here(self, f);
            }
            // The owner is there and the way is open, yet the neighbour
            // entry says nobody answered: something on the link eats ARP
            // (or neighbour discovery). Only a suspicion: the entry may be
            // from before a fix.
            if let Some(nb) = self.w.neighbour(ns, oif.index, next)
                && (nb.state == "failed" || nb.state == "incomplete")
            {
                let f = self.unanswered(ns, &oif, next, &e, &nb.state);
                self.suspects.push(f);
            }
            self.hop(
                ns,
                iif_name.as_deref(),
                Some(&oif.name),
                a.gateway,
                Verdict::Forward,
                route_why,
            );
            ns = e.ns;
            iif = Some(e.link.clone());
        }
        End::Lost(Finding {
            reason: format!("the path to {dst} is longer than {MAX_HOPS} hops"),
            help: "check the routes along the path for a loop (ns.routes())".into(),
        })
    }

    /// How to fix a packet of `len` bytes too big for `link` of `ns`: a
    /// larger MTU on it and on its veth peer when that is as small (both
    /// ends of a cable take the same), or less data.
    fn mtu_help(&mut self, ns: Ns, link: &LinkInfoRow, len: usize) -> String {
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
    fn too_big(&mut self, ns: Ns, oif: &LinkInfoRow, len: usize, origin: bool) -> Finding {
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
    fn route_mtu(
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
    fn too_big_on_the_way(
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

    /// The endpoint of `seg` that holds `ip`.
    fn holder(&mut self, seg: &Segment, ip: IpAddr) -> Option<segment::Endpoint> {
        seg.endpoints
            .iter()
            .find(|e| self.w.holds(e.ns, e.link.index, ip))
            .cloned()
    }

    /// A bridge does not pass the frame on to `next`: the reason and the fix.
    /// (`others`: the other crossings closed on the way there, which
    /// matter when STP blocks the port: the frame would go round them.)
    fn bridge_block(&mut self, b: &Blocked, next: IpAddr, others: &[Blocked]) -> Finding {
        let (n, v) = (self.name(b.ns), self.var(b.ns));
        let (br, port) = (&b.bridge, &b.port);
        match &b.why {
            Block::Isolated { from } => Finding {
                reason: format!(
                    "the bridge {br} of {n} does not pass it from port {from} to port {port} (on the way to {next}): both ports are isolated, and isolated ports do not talk to each other"
                ),
                help: format!(
                    "{v}.link(\"{br}\").attach({v}.link(\"{port}\"), #{{isolated: false}})"
                ),
            },
            Block::State(state @ ("listening" | "learning")) => Finding {
                reason: format!(
                    "the bridge {br} of {n} does not forward through its port {port} yet (on the way to {next}): the port is {state} (STP)"
                ),
                help: format!(
                    "wait for the spanning tree: a port forwards after listening and learning, one forward delay each (bridge(ns, \"{br}\", #{{stp: true, forward_delay_s: 2}}) is the shortest), so probe again then; or turn STP off where no loop can form: {v}.run(\"ip link set {br} type bridge stp_state 0\")"
                ),
            },
            Block::State("blocking") => {
                // STP blocks a port to break a loop: the frame goes round
                // the other way, so what closes that way is the fault.
                let closed: Vec<String> = others
                    .iter()
                    .map(|o| {
                        let what = match &o.why {
                            Block::Isolated { from } => format!("isolated, as {from} is"),
                            Block::State(st) => st.to_string(),
                        };
                        format!("{} {} port {} ({what})", self.name(o.ns), o.bridge, o.port)
                    })
                    .collect();
                let round = if closed.is_empty() {
                    "no other way round the loop is open".to_string()
                } else {
                    format!("the other way round is closed at {}", closed.join(", "))
                };
                let help = match others.first() {
                    Some(o @ Blocked {
                        why: Block::Isolated { .. },
                        ..
                    }) => {
                        let ov = self.var(o.ns);
                        format!(
                            "{ov}.link(\"{}\").attach({ov}.link(\"{}\"), #{{isolated: false}})",
                            o.bridge, o.port
                        )
                    }
                    _ => "open the other way round the loop (its links up, its bridges passing frames on) and let the spanning tree settle (max_age_s + 2 × forward_delay_s after a change)".to_string(),
                };
                Finding {
                    reason: format!(
                        "the bridge {br} of {n} does not forward through its port {port} (on the way to {next}): the port is blocking (STP breaks a loop of bridges there), and {round}"
                    ),
                    help,
                }
            }
            Block::State(state) => Finding {
                reason: format!(
                    "the bridge {br} of {n} does not forward through its port {port} (on the way to {next}): the port is {state}"
                ),
                help: format!(
                    "bring the port up ({v}.link(\"{port}\").up()), or set its state to forwarding when the bridge runs no STP: {v}.run(\"bridge link set dev {port} state 3\")"
                ),
            },
        }
    }

    /// What the filter chains of `ns` at `hooks` do to the packet: a drop
    /// nslab is sure of is the reason; one it is not sure of (a match it
    /// does not read) is a suspect.
    fn filtered(
        &mut self,
        ns: Ns,
        iif: Option<&str>,
        oif: Option<&str>,
        src: IpAddr,
        dst: IpAddr,
        hooks: &[&str],
    ) -> Option<Finding> {
        let rules = self.w.firewall(ns);
        let reply = self.dir == Dir::Reply;
        let p = Pkt {
            iif,
            oif,
            src,
            dst,
            l4: self.pkt.ip_proto(),
            sport: if reply { self.pkt.port } else { None },
            dport: if reply { None } else { self.pkt.port },
            icmp_type: self.pkt.proto.is_none().then_some(if reply {
                "echo-reply"
            } else {
                "echo-request"
            }),
            ct: if reply { "established" } else { "new" },
            dnat: self.dnatted,
        };
        for hook in hooks {
            let Outcome::Drop {
                chain,
                rule,
                verdict,
                maybe,
            } = rules.1.at(hook, &p)
            else {
                continue;
            };
            let f = self.drop_finding(ns, hook, &chain, rule.as_ref(), &verdict, &p);
            if maybe {
                self.suspects.push(Finding {
                    reason: format!(
                        "{} (nslab cannot read every match before it, so: maybe)",
                        f.reason
                    ),
                    help: f.help,
                });
                return None;
            }
            return Some(f);
        }
        None
    }

    fn drop_finding(
        &self,
        ns: Ns,
        hook: &str,
        c: &Chain,
        rule: Option<&firewall::Rule>,
        verdict: &str,
        p: &Pkt,
    ) -> Finding {
        let (n, v) = (self.name(ns), self.var(ns));
        // The lab's table is inet nslab-LAB; any other is someone else's
        // (iptables-nft, firewalld, a script's `nft`), said so: nslab did
        // not put it there and will not take it away.
        let ours = c.family == "inet" && c.table == self.w.lab_table();
        let chain = if ours {
            format!("chain {} of {} {} ({hook})", c.name, c.family, c.table)
        } else {
            format!(
                "chain {} of {} {} ({hook}; a table that is not the lab's: nslab did not make it)",
                c.name, c.family, c.table
            )
        };
        let l4 = self.pkt.proto_word();
        let what = match self.pkt.port {
            Some(port) if self.dir == Dir::Request => format!("{l4} port {port}"),
            Some(port) => format!("the {l4} reply from port {port}"),
            None if self.dir == Dir::Request => "the ping".to_string(),
            None => "the ping's reply".to_string(),
        };
        if let Some(r) = rule {
            let named = match &r.comment {
                Some(c) => format!(" \"{c}\""),
                None => String::new(),
            };
            return Finding {
                reason: format!(
                    "{n} {}s {what}: rule{named} `{}` (handle {}) in the {chain}",
                    verdict,
                    firewall::describe(r),
                    r.handle
                ),
                help: format!(
                    "{v}.run(\"nft delete rule {} {} {} handle {}\")",
                    c.family, c.table, c.name, r.handle
                ),
            };
        }
        let fam = if p.src.is_ipv4() { "ip" } else { "ip6" };
        let help = if ours && matches!(hook, "input" | "forward" | "output") {
            let mut m = vec![format!("chain: \"{hook}\"")];
            if self.dir == Dir::Reply {
                m.push("state: \"established,related\"".into());
            } else {
                if hook == "forward" {
                    m.push(format!("daddr: \"{}\"", p.dst));
                }
                m.push(format!("proto: \"{l4}\""));
                if let Some(port) = self.pkt.port {
                    m.push(format!("dport: {port}"));
                }
            }
            format!("{v}.accept(#{{{}}})", m.join(", "))
        } else {
            let mut m = format!("{fam} daddr {}", p.dst);
            if let Some(port) = p.dport {
                m.push_str(&format!(" {l4} dport {port}"));
            } else {
                m.push_str(&format!(" meta l4proto {l4}"));
            }
            format!(
                "{v}.run(\"nft insert rule {} {} {} {m} accept\")",
                c.family, c.table, c.name
            )
        };
        Finding {
            reason: format!(
                "{n} drops {what}: the {chain} has policy drop and no rule in it accepts it"
            ),
            help,
        }
    }

    /// `next` is on `e`, but `ns`'s neighbour entry for it is `state`
    /// (failed, incomplete): its requests go unanswered.
    fn unanswered(
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

    /// The egress link has no address of the packet's family.
    fn no_address(&mut self, ns: Ns, oif: &LinkInfoRow, dst: IpAddr) -> Finding {
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
    fn no_carrier(&mut self, ns: Ns, link: &LinkInfoRow) -> Finding {
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

    /// IPv6 lookups succeed with forwarding off: check it here.
    fn v6_forwarding(&mut self, ns: Ns, iif: Option<&LinkInfoRow>) -> Option<Finding> {
        iif?;
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

    /// Nobody on the segment of `oif` holds the next hop.
    fn nobody_has(
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
    fn route_of(&mut self, ns: Ns, dst: IpAddr, gw: IpAddr, table: u32) -> String {
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

    /// The most specific route of type `kind` covering `dst`, any table.
    fn special_route(&mut self, ns: Ns, dst: IpAddr, kind: &str) -> Option<(IpNet, u32)> {
        self.w
            .fib(ns, dst.is_ipv6())
            .into_iter()
            .filter(|e| e.kind == kind && e.dst.contains(&dst))
            .max_by_key(|e| e.dst.prefix_len())
            .map(|e| (e.dst, e.table))
    }

    /// The kernel refused the lookup: which reason that errno stands for.
    fn refused(
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
    fn invalid(
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

    /// The subnet `ip` is in, as the namespace holding it configured it
    /// (`ip/32` when nobody in the lab has it).
    fn net_of(&mut self, ip: IpAddr) -> IpNet {
        match self.w.owners(ip).first() {
            Some((_, _, net)) => net.trunc(),
            None => IpNet::from(ip),
        }
    }

    /// ENETUNREACH: no route in `ns` (and why, when a link is down).
    fn no_route(&mut self, dir: Dir, ns: Ns, dst: IpAddr) -> Finding {
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
        if let Some(l) = down.first() {
            // The kernel removed the routes through it when it went down;
            // only the connected ones come back with it.
            let connected = self
                .w
                .addrs_on(ns, l.index, dst)
                .iter()
                .any(|a| a.contains(&dst));
            let mut help = format!("{v}.link(\"{}\").up()", l.name);
            if !connected && let Some(g) = self.guess_gateway(ns, dst, Some(l)) {
                help.push_str(&format!(
                    ", then the routes through it again (the kernel removed them), e.g. {v}.route(\"default\", \"{g}\")"
                ));
            }
            return Finding {
                reason: format!(
                    "{n} has no route to {dst}: its link {} is down (and its routes went with it)",
                    l.name
                ),
                help,
            };
        }
        let back = dir == Dir::Reply;
        let net = self.net_of(dst);
        let gw = self.guess_gateway(ns, dst, None);
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
            None => {
                format!("{v}.route(\"{net}\", GATEWAY) with GATEWAY a router on one of its links")
            }
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

    /// A router next to `ns` that can take packets for `dst`: an address,
    /// in a subnet of one of `ns`'s links, of a namespace on that link
    /// whose own lookup for `dst` works (or that owns it).
    /// (`only`: on that link, up or not.)
    fn guess_gateway(&mut self, ns: Ns, dst: IpAddr, only: Option<&LinkInfoRow>) -> Option<IpAddr> {
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
}
