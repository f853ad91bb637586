//! The walk: one route lookup per namespace on the path, as the kernel
//! would do it for this packet arriving on that link, then layer 2 to the
//! namespace that owns the next hop; the first refusal is narrowed down
//! to a reason (the errno of a lookup is only a class, see the notes in
//! `Rtnl::route_get`). The reasons, in words with their fix, are built in
//! `findings/`.

use std::collections::HashSet;
use std::net::IpAddr;

use super::findings::table_name;
use super::firewall::{Outcome, Pkt};
use super::kernel::Ns;
use super::kernel::{LegAsk, LegDone, LegEnd};
use super::nat::NatRule;
use super::segment::{self, Block, Blocked, Segment};
use super::world::World;
use super::{Dir, Finding, Hop, Packet, Trace, Verdict, var};
use crate::net::rtnl::{LinkInfoRow, RouteAnswer, RouteQuery};

mod across;

/// More hops than any lab has: a loop the walk did not catch otherwise.
const MAX_HOPS: usize = 64;

/// How one direction of the walk ended.
pub(super) enum End {
    Delivered {
        ns: Ns,
        src: IpAddr,
        dst: IpAddr,
    },
    Lost(Finding),
    Unknown(String),
    /// It left `ns` by `link`, the VXLAN end of a link between machines
    /// whose other end this lab does not know (an agent's walk): the
    /// driver goes on from there.
    Crossed {
        ns: Ns,
        link: String,
        src: Option<IpAddr>,
        dst: IpAddr,
    },
}

/// A source address rewritten by a router (masquerade, snat): the reply
/// comes back to `public` there and goes on to `private`.
struct Nat {
    ns: Ns,
    public: IpAddr,
    private: IpAddr,
}

/// Where the walk is: a namespace, the link the packet arrived on
/// (`None` where it is made), and its addresses as they are there.
struct At {
    ns: Ns,
    iif: Option<LinkInfoRow>,
    src: Option<IpAddr>,
    dst: IpAddr,
}

impl At {
    fn iif_name(&self) -> Option<&str> {
        self.iif.as_ref().map(|l| l.name.as_str())
    }
}

/// The way out of a namespace: the route's answer, its link, and the
/// route in words (for the hop).
struct Out {
    route: RouteAnswer,
    oif: LinkInfoRow,
    why: String,
}

/// One step of a hop: `Err` ends the leg there.
type Step<T> = Result<T, End>;

/// One walk; the finding builders (`findings/`) read it too.
pub(super) struct Walker<'w, 'a> {
    pub(super) w: &'w mut World<'a>,
    pub(super) pkt: Packet,
    pub(super) hops: Vec<Hop>,
    /// The direction of the leg being walked.
    pub(super) dir: Dir,
    /// What looks wrong on a path that is otherwise whole.
    suspects: Vec<Finding>,
    /// A neighbour on the path is still being asked for (`Trace::resolving`).
    resolving: bool,
    checked: Vec<Ns>,
    nats: Vec<Nat>,
    /// Where the request started and the source address it left with.
    pub(super) origin: Option<(Ns, IpAddr)>,
    /// The sender's learned path MTU is too small for the packet: the
    /// reason if nothing else on the path is.
    stale_pmtu: Option<Finding>,
    /// A router on the way rewrote the destination (DNAT): its conntrack
    /// entry says so (`ct status dnat`), both ways.
    dnatted: bool,
    /// The packet crossed a link between machines ("VXLAN 10001"): said
    /// on the next hop drawn.
    over: Option<String>,
    /// Namespaces on other machines whose state their agents read
    /// ("m2 b"), and those of them with firewall rules.
    far_checked: Vec<String>,
    far_firewalled: Vec<(String, usize)>,
}

fn walker<'w, 'a>(w: &'w mut World<'a>, pkt: &Packet) -> Walker<'w, 'a> {
    Walker {
        w,
        pkt: pkt.clone(),
        hops: Vec::new(),
        dir: Dir::Request,
        suspects: Vec::new(),
        resolving: false,
        checked: Vec::new(),
        nats: Vec::new(),
        origin: None,
        stale_pmtu: None,
        dnatted: false,
        over: None,
        far_checked: Vec::new(),
        far_firewalled: Vec::new(),
    }
}

pub fn trace(w: &mut World, id: Ns, pkt: &Packet) -> Trace {
    let mut k = walker(w, pkt);
    let (mut lost, unknown) = match k.leg(Dir::Request, id, pkt.src, pkt.dst) {
        End::Lost(f) => (Some(f), None),
        End::Unknown(u) => (None, Some(u)),
        End::Crossed { .. } => (None, Some(crossed_off())),
        End::Delivered { ns, src, dst } => k.after_delivery(id, ns, src, dst),
    };
    if lost.is_none() && unknown.is_none() {
        lost = k.stale_pmtu.take();
    }
    let (checked, firewalled) = k.checked_names();
    let firewall_unread = !k.w.reads_firewall();
    Trace {
        hops: k.hops,
        suspects: k.suspects,
        resolving: k.resolving,
        lost,
        unknown,
        checked,
        firewalled,
        firewall_unread,
    }
}

impl Walker<'_, '_> {
    /// A rule's drop as the walk's finding; when rules before it have
    /// matches nslab cannot read (`maybe`), a suspect instead, and the
    /// walk goes on.
    fn drop_or_suspect(&mut self, f: Finding, maybe: bool) -> Option<Finding> {
        if !maybe {
            return Some(f);
        }
        self.suspects.push(Finding {
            reason: format!(
                "{} (nslab cannot read every match before it, so: maybe)",
                f.reason
            ),
            help: f.help,
        });
        None
    }

    pub(super) fn name(&self, id: Ns) -> String {
        self.w.name(id)
    }

    pub(super) fn var(&self, id: Ns) -> String {
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
            machine: None,
            over: self.over.take(),
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
            let p = proto.name();
            if let Some(h) = self.hops.last_mut() {
                h.why = format!("{}; nothing listens on {p} port {port} there", h.why);
            }
            return (Some(self.nothing_listens(dest, p, port)), None);
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
            End::Crossed { .. } => (None, Some(format!("on the way back, {}", crossed_off()))),
        }
    }

    /// The namespaces whose state was read, by name, and those with
    /// firewall rules (on other machines too).
    fn checked_names(&mut self) -> (Vec<String>, Vec<(String, usize)>) {
        let mut checked = Vec::new();
        let mut firewalled = Vec::new();
        for id in self.checked.clone() {
            let name = self.w.name(id);
            if !checked.contains(&name) {
                checked.push(name.clone());
                if let Some(n) = self.w.firewalled.get(&id) {
                    firewalled.push((name, *n));
                }
            }
        }
        for n in &self.far_checked {
            if !checked.contains(n) {
                checked.push(n.clone());
            }
        }
        firewalled.extend(self.far_firewalled.iter().cloned());
        (checked, firewalled)
    }

    /// One direction, from `start` (where the packet is made) to where it
    /// is delivered or lost.
    fn leg(&mut self, dir: Dir, start: Ns, src: Option<IpAddr>, dst: IpAddr) -> End {
        self.dir = dir;
        let at = At {
            ns: start,
            iif: None,
            src,
            dst,
        };
        self.walk_on(at)
    }

    /// The leg on from `at` (a namespace and the link it arrived on).
    fn walk_on(&mut self, mut at: At) -> End {
        let mut seen = HashSet::new();
        for _ in 0..MAX_HOPS {
            if !seen.insert((at.ns, at.iif.as_ref().map(|l| l.index))) {
                return End::Lost(self.looped(at.ns, at.iif.as_ref(), at.dst));
            }
            // A namespace on another machine: its agent walks on there.
            let step = match self.w.machine(at.ns) {
                Some(m) => self.far(&m, &mut at),
                None => self.pass(&mut at),
            };
            if let Err(end) = step {
                return end;
            }
        }
        End::Lost(Finding {
            reason: format!("the path to {} is longer than {MAX_HOPS} hops", at.dst),
            help: "check the routes along the path for a loop (ns.routes())".into(),
        })
    }

    /// What the namespace `at` is in does with the packet, in the kernel's
    /// order: NAT on arrival, the route lookup, the way out (a source
    /// address, forwarding), the sizes, the firewall, source NAT, then
    /// layer 2 to whoever holds the next hop. `Ok`: passed on, and `at` is
    /// where it arrives; `Err`: the leg ends here (its hop drawn).
    fn pass(&mut self, at: &mut At) -> Step<()> {
        self.checked.push(at.ns);
        // Arrived over a link between machines: its UDP got in here.
        if let Some(iif) = at.iif.clone()
            && let Some(x) = self.w.across(at.ns, &iif.name)
            && let Some(f) = self.underlay_in(&x)
        {
            self.hop(
                at.ns,
                Some(&iif.name),
                None,
                None,
                Verdict::Drop,
                f.reason.clone(),
            );
            return Err(End::Lost(f));
        }
        // Read now: the rules tell NAT, and their number says whether
        // a firewall could be what drops it.
        let nat = self.w.nat_rules(at.ns);
        if self.dir == Dir::Reply
            && let Some(n) = self
                .nats
                .iter()
                .find(|n| n.ns == at.ns && n.public == at.dst)
        {
            at.dst = n.private;
        }
        let dnat_why = self.port_forward(at);
        let route = self.lookup(at)?;
        match route.kind.as_str() {
            "local" => return Err(self.arrive(at, &dnat_why)),
            "unicast" => {}
            other => {
                let u = format!(
                    "{} would treat {} as {other}, which nslab does not follow",
                    self.name(at.ns),
                    at.dst
                );
                self.hop(at.ns, at.iif_name(), None, None, Verdict::Drop, u.clone());
                return Err(End::Unknown(u));
            }
        }
        let out = self.way_out(at, route, &dnat_why)?;
        let src = self.departure(at, &out)?;
        self.fits(at, &out)?;
        let hooks: &[&str] = if at.iif.is_none() {
            &["output", "postrouting"]
        } else {
            &["prerouting", "forward", "postrouting"]
        };
        if let Some(f) = self.filtered(
            at.ns,
            at.iif_name(),
            Some(&out.oif.name),
            src,
            at.dst,
            hooks,
        ) {
            return Err(self.drop_at(at, &out, f));
        }
        self.source_nat(at, &nat, &out, src);
        if !out.oif.carrier {
            let f = self.no_carrier(at.ns, &out.oif);
            return Err(self.drop_at(at, &out, f));
        }
        if let Some(x) = self.w.across(at.ns, &out.oif.name) {
            return self.over_machines(at, out, x);
        }
        let e = self.next_hop(at, &out)?;
        self.cross(at, &out, &e)?;
        self.suspect_neighbour(at, &out, &e);
        self.hop(
            at.ns,
            at.iif_name(),
            Some(&out.oif.name),
            out.route.gateway,
            Verdict::Forward,
            out.why,
        );
        at.ns = e.ns;
        at.iif = Some(e.link);
        Ok(())
    }

    /// The packet is lost in `at` on its way out by `out`: its hop, drawn.
    fn drop_at(&mut self, at: &At, out: &Out, f: Finding) -> End {
        self.hop(
            at.ns,
            at.iif_name(),
            Some(&out.oif.name),
            out.route.gateway,
            Verdict::Drop,
            f.reason.clone(),
        );
        End::Lost(f)
    }

    /// Port forwarding: a nat rule at prerouting (output for what is sent
    /// from here) gives the request a new destination before the route
    /// lookup, as the kernel does. What it did, for the hop's words.
    fn port_forward(&mut self, at: &mut At) -> String {
        if self.dir != Dir::Request {
            return String::new();
        }
        let Some(r) = self
            .w
            .dnat_rules(at.ns)
            .into_iter()
            .find(|r| r.applies(at.iif_name(), at.dst, self.pkt.ip_proto(), self.pkt.port))
        else {
            return String::new();
        };
        let dst = at.dst;
        let was = match self.pkt.port {
            Some(p) if dst.is_ipv6() => format!("[{dst}]:{p}"),
            Some(p) => format!("{dst}:{p}"),
            None => dst.to_string(),
        };
        let why = format!(
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
        at.dst = r.to;
        self.pkt.dst = r.to;
        if let Some(p) = r.to_port {
            self.pkt.port = Some(p);
        }
        self.dnatted = true;
        why
    }

    /// The kernel's route lookup for the packet as it is at `at`; a refusal
    /// narrowed down to its reason ends the leg.
    fn lookup(&mut self, at: &At) -> Step<RouteAnswer> {
        let q = RouteQuery {
            dst: at.dst,
            src: at.src,
            iif: at.iif.as_ref().map(|l| l.index),
            oif: None,
            proto: Some(self.pkt.ip_proto()),
            // A reply comes from the port; where it goes is not known.
            dport: if self.dir == Dir::Request {
                self.pkt.port
            } else {
                None
            },
        };
        let e = match self.w.route_get(at.ns, &q) {
            Ok(a) => return Ok(a),
            Err(e) => e,
        };
        let end = self.refused(self.dir, at.ns, at.iif.as_ref(), at.src, at.dst, &e);
        let why = match &end {
            End::Lost(f) => f.reason.clone(),
            End::Unknown(u) => u.clone(),
            End::Delivered { .. } | End::Crossed { .. } => String::new(),
        };
        self.hop(at.ns, at.iif_name(), None, None, Verdict::Drop, why);
        Err(end)
    }

    /// The destination is an address of `at`: delivered, unless its input
    /// chains drop what arrives.
    fn arrive(&mut self, at: &At, dnat_why: &str) -> End {
        let (ns, dst) = (at.ns, at.dst);
        if let (Some(_), Some(s)) = (&at.iif, at.src)
            && let Some(f) =
                self.filtered(ns, at.iif_name(), None, s, dst, &["prerouting", "input"])
        {
            let why = f.reason.clone();
            self.hop(ns, at.iif_name(), None, None, Verdict::Drop, why);
            return End::Lost(f);
        }
        let why = format!("{dnat_why}{dst} is an address of {}", self.name(ns));
        self.hop(ns, at.iif_name(), None, None, Verdict::Deliver, why);
        let src = at.src.unwrap_or(dst);
        End::Delivered { ns, src, dst }
    }

    /// The link the route sends it out by, and the route in words.
    fn way_out(&mut self, at: &At, route: RouteAnswer, dnat_why: &str) -> Step<Out> {
        let Some(oif) = route.oif.and_then(|o| self.w.link(at.ns, o)) else {
            let u = format!(
                "{}'s route to {} names no link nslab can find",
                self.name(at.ns),
                at.dst
            );
            self.hop(
                at.ns,
                at.iif_name(),
                None,
                route.gateway,
                Verdict::Drop,
                u.clone(),
            );
            return Err(End::Unknown(u));
        };
        let why = format!(
            "{dnat_why}route to {}{} dev {} (table {})",
            at.dst,
            route
                .gateway
                .map(|g| format!(" via {g}"))
                .unwrap_or_default(),
            oif.name,
            table_name(route.table)
        );
        Ok(Out { route, oif, why })
    }

    /// Where the packet is made, it needs a source address (the request's
    /// is remembered as the origin); a router must forward it (IPv6: the
    /// lookup does not check). The source it leaves with.
    fn departure(&mut self, at: &mut At, out: &Out) -> Step<IpAddr> {
        if at.iif.is_none() {
            if self.w.addrs_on(at.ns, out.oif.index, at.dst).is_empty() {
                let f = self.no_address(at.ns, &out.oif, at.dst);
                return Err(self.drop_at(at, out, f));
            }
            at.src = at.src.or(out.route.prefsrc);
            if let Some(s) = at.src
                && self.dir == Dir::Request
            {
                self.origin = Some((at.ns, s));
            }
        } else if at.dst.is_ipv6()
            && let Some(f) = self.v6_forwarding(at.ns, at.iif.as_ref(), at.dst)
        {
            // Dropped on arrival, as IPv4 is: no way out is drawn.
            let why = f.reason.clone();
            self.hop(at.ns, at.iif_name(), None, None, Verdict::Drop, why);
            return Err(End::Lost(f));
        }
        match at.src {
            Some(s) => Ok(s),
            None => {
                let f = self.no_address(at.ns, &out.oif, at.dst);
                Err(self.drop_at(at, out, f))
            }
        }
    }

    /// A packet sent whole (DF) must fit the way out and the route.
    fn fits(&mut self, at: &At, out: &Out) -> Step<()> {
        let Some(len) = self.pkt.ip_len() else {
            return Ok(());
        };
        // Before the firewall, as the kernel does: a sender with DF
        // gets EMSGSIZE, a router drops it and sends back
        // "fragmentation needed".
        // (A reply is the kernel's, sent without DF: cut up to fit.)
        if self.dir == Dir::Request && (out.oif.mtu as usize) < len {
            let f = self.too_big(at.ns, &out.oif, len, at.iif.is_none());
            return Err(self.drop_at(at, out, f));
        }
        // The route's own MTU: one set on it, or the path MTU the
        // sender learned from an earlier "fragmentation needed" (kept
        // ~10 minutes, after the link that was too small is fixed).
        // A learned one is only the reason when nothing on the path is
        // too small now (then it is stale): the walk goes on.
        let a = &out.route;
        if let Some(m) = a.mtu
            && (m as usize) < len
            && at.iif.is_none()
            && self.dir == Dir::Request
        {
            let f = self.route_mtu(at.ns, at.dst, m, len, a.cached, a.table);
            if !a.cached {
                return Err(self.drop_at(at, out, f));
            }
            self.stale_pmtu = Some(f);
        }
        Ok(())
    }

    /// A masquerade or snat rule for the way out rewrites the source; the
    /// reply comes back to the new one.
    fn source_nat(&mut self, at: &mut At, nat: &[NatRule], out: &Out, src: IpAddr) {
        let Some(rule) = nat.iter().find(|r| r.applies(src, &out.oif.name)) else {
            return;
        };
        let public = rule.to.or_else(|| {
            self.w
                .addrs_on(at.ns, out.oif.index, at.dst)
                .first()
                .map(|n| n.addr())
        });
        if let Some(p) = public
            && p != src
        {
            self.nats.push(Nat {
                ns: at.ns,
                public: p,
                private: src,
            });
            at.src = Some(p);
        }
    }

    /// The interface on the segment of the way out that holds the next hop.
    fn next_hop(&mut self, at: &At, out: &Out) -> Step<segment::Endpoint> {
        let (ns, oif) = (at.ns, &out.oif);
        let next = out.route.gateway.unwrap_or(at.dst);
        // Through the bridges as they forward now (and the macvlans as
        // their modes let them talk); when that does not get there but
        // the cables do, a bridge port or a lower link is what stops it.
        let asks = self.dir == Dir::Request;
        let open = segment::follow_open(self.w, ns, oif, asks);
        let mut found = self.holder(&open, next);
        let seg = if found.is_none() && !open.blocked.is_empty() {
            let all = segment::follow_all(self.w, ns, oif);
            if let Some(e) = self.holder(&all, next)
                && let Some(b) = segment::first_block(self.w, &e.path, asks)
            {
                let f = match &b.why {
                    Block::Macvlan(wall) => self.walled(&b, wall, next),
                    _ => {
                        let others: Vec<Blocked> = open
                            .blocked
                            .iter()
                            // The bridges' own: a macvlan's lower link is no
                            // way round a loop.
                            .filter(|o| !matches!(o.why, Block::Macvlan(_)))
                            .filter(|o| (o.ns, &o.bridge, &o.port) != (b.ns, &b.bridge, &b.port))
                            .cloned()
                            .collect();
                        self.bridge_block(&b, next, &others)
                    }
                };
                return Err(self.drop_at(at, out, f));
            }
            // Nothing stops it there: what the cables reach, as before.
            segment::follow(self.w, ns, oif)
        } else {
            open
        };
        if found.is_none() {
            found = self.holder(&seg, next);
        }
        if let Some(e) = found {
            return Ok(e);
        }
        if !seg.unfollowed.is_empty() {
            let u = format!(
                "nslab cannot follow past {} (where {next} could be)",
                seg.unfollowed.join(", ")
            );
            self.hop(
                ns,
                at.iif_name(),
                Some(&oif.name),
                out.route.gateway,
                Verdict::Forward,
                format!("{}; {u}", out.why),
            );
            return Err(End::Unknown(u));
        }
        let f = self.nobody_has(ns, oif, &out.route, at.dst, &seg);
        Err(self.drop_at(at, out, f))
    }

    /// Every link from the way out to the next hop must be up, carry, and
    /// take the packet's size.
    fn cross(&mut self, at: &At, out: &Out, e: &segment::Endpoint) -> Step<()> {
        let next = out.route.gateway.unwrap_or(at.dst);
        if let Some((lns, l)) = e.path.iter().skip(1).find(|(_, l)| !l.up) {
            let f = self.down_on_the_way(*lns, l, at.ns, &out.oif.name, next);
            return Err(self.drop_at(at, out, f));
        }
        if let Some((lns, l)) = e.path.iter().skip(1).find(|(_, l)| !l.carrier) {
            let f = self.no_carrier(*lns, l);
            return Err(self.drop_at(at, out, f));
        }
        // A frame bigger than a link it crosses is dropped there (a
        // veth or bridge port with a smaller MTU), silently.
        if let Some(len) = self.pkt.ip_len().map(|n| {
            if self.dir == Dir::Request {
                n
            } else {
                n.min(out.oif.mtu as usize)
            }
        }) && let Some((lns, l)) = e.path.iter().skip(1).find(|(_, l)| (l.mtu as usize) < len)
        {
            let f = self.too_big_on_the_way(*lns, l, len, at.ns, &out.oif.name);
            return Err(self.drop_at(at, out, f));
        }
        Ok(())
    }

    /// The owner is there and the way is open, yet the neighbour entry
    /// says nobody answered: something on the link eats ARP (or neighbour
    /// discovery). Only a suspicion: the entry may be from before a fix.
    fn suspect_neighbour(&mut self, at: &At, out: &Out, e: &segment::Endpoint) {
        let next = out.route.gateway.unwrap_or(at.dst);
        if let Some(nb) = self.w.neighbour(at.ns, out.oif.index, next)
            && (nb.state == "failed" || nb.state == "incomplete")
        {
            self.resolving |= nb.state == "incomplete";
            let f = self.unanswered(at.ns, &out.oif, next, e, &nb.state);
            self.suspects.push(f);
        }
    }

    /// The endpoint of `seg` that holds `ip`.
    fn holder(&mut self, seg: &Segment, ip: IpAddr) -> Option<segment::Endpoint> {
        seg.endpoints
            .iter()
            .find(|e| self.w.holds(e.ns, e.link.index, ip))
            .cloned()
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
            return self.drop_or_suspect(f, maybe);
        }
        None
    }
}

/// What an unfinished walk says where the agent's part ended at a link
/// whose other end only the driver knows (a walk on its own there).
fn crossed_off() -> String {
    "the path goes on over a VXLAN link to another machine, which only the script's run follows"
        .into()
}

/// A leg walked for the driver by an agent: from `ns` (arriving on `iif`)
/// until the packet is delivered, lost, or leaves this machine over a
/// link between machines.
pub fn walk_leg(w: &mut World, ns: Ns, ask: &LegAsk) -> LegDone {
    let mut k = walker(w, &ask.pkt);
    k.dir = ask.dir;
    k.dnatted = ask.dnatted;
    let iif = ask.iif.as_ref().and_then(|n| k.w.link_named(ns, n));
    if let (Some(n), None) = (&ask.iif, &iif) {
        let u = format!("{} has no link {n} now", k.name(ns));
        return LegDone {
            hops: Vec::new(),
            end: LegEnd::Unknown(u),
            suspects: Vec::new(),
            checked: vec![k.name(ns)],
            firewalled: Vec::new(),
        };
    }
    let at = At {
        ns,
        iif,
        src: ask.src,
        dst: ask.dst,
    };
    let end = match k.walk_on(at) {
        End::Delivered { ns, src, dst } => LegEnd::Delivered {
            ns: k.name(ns),
            src,
            dst,
        },
        End::Lost(f) => LegEnd::Lost(f),
        End::Unknown(u) => LegEnd::Unknown(u),
        End::Crossed { ns, link, src, dst } => LegEnd::Crossed {
            ns: k.name(ns),
            link,
            src,
            dst,
        },
    };
    if let (LegEnd::Delivered { .. }, Some(f)) = (&end, k.stale_pmtu.take()) {
        k.suspects.push(f);
    }
    let (checked, firewalled) = k.checked_names();
    LegDone {
        hops: k.hops,
        end,
        suspects: k.suspects,
        checked,
        firewalled,
    }
}
