//! Why a packet does not arrive: the path a packet would take, hop by hop,
//! read from the kernel without sending anything (route lookups with the
//! input interface, as `ip route get … iif DEV` does; links, addresses,
//! neighbours, sysctls, NAT rules), and the first thing on it that loses
//! the packet, in words, with the nslab call that fixes it.
//!
//! The walk follows the request from the sender to the namespace that
//! owns the destination, then the reply back: a reply that cannot come
//! back is a lost reply, not a lost request, and is said so.

#[cfg(test)]
pub(crate) mod fake;
mod findings;
mod firewall;
mod kernel;
mod nat;
mod segment;
mod walk;
mod world;

use std::net::IpAddr;

use crate::net::probe::Proto;
pub use kernel::{Across, Kernel, LegAsk, LegDone, LegEnd, Ns, Read};
pub use nat::list_ruleset;

/// The packet to explain.
#[derive(Debug, Clone)]
pub struct Packet {
    pub dst: IpAddr,
    /// The source address; `None`: the one the kernel picks.
    pub src: Option<IpAddr>,
    /// `None`: ICMP echo (ping).
    pub proto: Option<Proto>,
    pub port: Option<u16>,
    /// Bytes of data in a ping sent whole (DF set, `ping -M do -s N`):
    /// every link on the way must take it. `None`: a small one.
    pub size: Option<usize>,
}

impl Packet {
    pub fn ping(dst: IpAddr) -> Packet {
        Packet {
            dst,
            src: None,
            proto: None,
            port: None,
            size: None,
        }
    }

    /// The IP packet's length, when it was given a size.
    pub(crate) fn ip_len(&self) -> Option<usize> {
        let ip = if self.dst.is_ipv6() { 40 } else { 20 };
        self.size.map(|n| n + 8 + ip)
    }

    /// IP protocol number, for policy rules that match it.
    pub(crate) fn ip_proto(&self) -> u8 {
        match (self.proto, self.dst.is_ipv6()) {
            (Some(Proto::Tcp), _) => 6,
            (Some(Proto::Udp), _) => 17,
            (None, false) => 1,
            (None, true) => 58,
        }
    }

    /// " on tcp port 80", or nothing for a ping.
    pub fn what(&self) -> String {
        match (self.proto, self.port) {
            (Some(p), Some(port)) => format!(" on {} port {port}", p.name()),
            _ => String::new(),
        }
    }

    pub(crate) fn proto_word(&self) -> &'static str {
        match (self.proto, self.dst.is_ipv6()) {
            (Some(p), _) => p.name(),
            (None, false) => "icmp",
            (None, true) => "icmpv6",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Request,
    Reply,
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::Request => "request",
            Dir::Reply => "reply",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Deliver,
    Drop,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Forward => "forward",
            Verdict::Deliver => "deliver",
            Verdict::Drop => "drop",
        }
    }
}

/// One namespace on the path and what it does with the packet.
#[derive(Debug, Clone)]
pub struct Hop {
    pub dir: Dir,
    pub ns: String,
    /// The link it arrives on (`None` where it starts).
    pub iif: Option<String>,
    /// The link it leaves by.
    pub oif: Option<String>,
    /// The gateway it is sent to (`None` when the destination is on-link).
    pub via: Option<IpAddr>,
    pub verdict: Verdict,
    pub why: String,
    /// The machine `ns` is on, when the lab spans machines and it is not
    /// this one.
    pub machine: Option<String>,
    /// It arrived over a link between machines: "VXLAN 10001".
    pub over: Option<String>,
}

/// A reason the packet is lost, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reason: String,
    pub help: String,
}

/// What the walk found.
#[derive(Debug, Clone)]
pub struct Trace {
    pub hops: Vec<Hop>,
    /// Why the packet or its reply is lost; `None` when nothing on the path
    /// loses it (or nslab cannot tell: see `unknown`).
    pub lost: Option<Finding>,
    /// What looks wrong although the path is whole (a neighbour that does
    /// not answer): the reason when a probe failed and `lost` is `None`.
    pub suspects: Vec<Finding>,
    /// A neighbour entry on the path is INCOMPLETE: the kernel is still
    /// asking for it (3 requests, a second apart), so the answer may still
    /// come. A state that passes.
    pub resolving: bool,
    /// Where nslab could not go on ("cannot follow past host eth0 …").
    pub unknown: Option<String>,
    /// The namespaces whose routes, links and sysctls were read.
    pub checked: Vec<String>,
    /// Namespaces on the path with nf_tables rules or policies that can
    /// drop, and how many (nslab does not read firewall rules yet).
    pub firewalled: Vec<(String, usize)>,
    /// No firewall rule could be read (`nft` is not installed).
    pub firewall_unread: bool,
}

impl Trace {
    /// Why a probe that failed was lost, if nslab found out.
    pub fn reason(&self) -> Option<&Finding> {
        self.lost.as_ref().or(self.suspects.first())
    }

    /// What nslab looked at, for when it found no reason.
    pub fn no_reason(&self) -> String {
        let mut s = match &self.unknown {
            Some(u) => u.clone(),
            None => format!(
                "the routes, links, forwarding, rp_filter and neighbours it checked in {} let it through",
                self.checked.join(", ")
            ),
        };
        if self.firewall_unread {
            s.push_str("; `nft` is not installed, so no firewall rule was read");
        } else if !self.firewalled.is_empty() {
            let fw: Vec<String> = self
                .firewalled
                .iter()
                .map(|(ns, n)| format!("{ns} ({n})"))
                .collect();
            s.push_str(&format!(
                "; firewall rules or policies that can drop are in {}: none of the ip, ip6 and inet filter chains drops it, and nslab does not read the netdev, bridge and arp ones",
                fw.join(", ")
            ));
        }
        s
    }

    /// The path drawn on one line: `h1 eth0 -> r1 e1/e2 -> h2 eth0 ✓`,
    /// and the way back after `; back: ` when the walk got there.
    pub fn draw(&self) -> String {
        let req = draw_leg(self.hops.iter().filter(|h| h.dir == Dir::Request));
        let rep = draw_leg(self.hops.iter().filter(|h| h.dir == Dir::Reply));
        if rep.is_empty() {
            req
        } else {
            format!("{req}; back: {rep}")
        }
    }
}

fn draw_leg<'a>(hops: impl Iterator<Item = &'a Hop>) -> String {
    let hops: Vec<&Hop> = hops.collect();
    let mut parts = Vec::new();
    for (i, h) in hops.iter().enumerate() {
        let ns = match &h.machine {
            Some(m) => format!("{m} {}", h.ns),
            None => h.ns.clone(),
        };
        let mut s = match (&h.iif, &h.oif, &h.over) {
            (None, Some(o), _) => format!("{ns} {o}"),
            (Some(i), Some(o), None) => format!("{ns} {i}/{o}"),
            (Some(i), Some(o), Some(x)) => format!("{ns} {i} over {x}, out {o}"),
            (Some(i), None, None) => format!("{ns} {i}"),
            (Some(i), None, Some(x)) => format!("{ns} {i} over {x}"),
            (None, None, _) => ns,
        };
        if i + 1 == hops.len() {
            match (h.verdict, &h.oif) {
                (Verdict::Deliver, _) => s.push_str(" ✓"),
                (Verdict::Drop, Some(_)) => s.push_str(" -> ✗"),
                (Verdict::Drop, None) => s.push_str(" ✗"),
                (Verdict::Forward, _) => s.push_str(" -> ?"),
            }
        }
        parts.push(s);
    }
    parts.join(" -> ")
}

/// How a namespace is written in a help line: its name when that is a
/// rhai variable name (labs usually call them so), `host()` for the host.
pub fn var(name: &str) -> String {
    if name == "host" {
        return "host()".into();
    }
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident { name.to_string() } else { "ns".into() }
}

/// A failed expectation in words: what happened, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub help: String,
}

impl Failure {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The path `pkt` from `id` would take, both ways, and what loses it, as
/// `k` reads it.
pub fn trace(k: &mut dyn Kernel, id: Ns, pkt: &Packet) -> Trace {
    let mut w = world::World::new(k);
    walk::trace(&mut w, id, pkt)
}

/// An agent's part of a walk across machines: from `id` (arriving on
/// `ask.iif`) until the packet is delivered, lost, or leaves this machine
/// over a link between machines, as `k` reads it.
pub fn walk_leg(k: &mut dyn Kernel, id: Ns, ask: &LegAsk) -> LegDone {
    let mut w = world::World::new(k);
    walk::walk_leg(&mut w, id, ask)
}

/// The failure of an `expect_reach` whose probe failed: the reason and the
/// path, or what nslab checked when it found none.
pub fn unreached(from: &str, pkt: &Packet, t: &Trace, refused: bool) -> Failure {
    let head = format!("{from} cannot reach {}{}", pkt.dst, pkt.what());
    let path = t.draw();
    match t.reason() {
        Some(f) => Failure::new(format!("{head}: {}\npath: {path}", f.reason), &f.help),
        None if refused => {
            let last = t
                .hops
                .iter()
                .rev()
                .find(|h| h.dir == Dir::Request)
                .map(|h| h.ns.clone())
                .unwrap_or_default();
            Failure::new(
                format!(
                    "{head}: the connection is refused although something listens there in {last}: a firewall rule rejects it?\npath: {path}"
                ),
                format!(
                    "look at the firewall rules on the path, e.g. {}.run(\"nft list ruleset\")",
                    var(&last)
                ),
            )
        }
        None => Failure::new(
            format!(
                "{head}, and nslab cannot tell why: {}\npath: {path}",
                t.no_reason()
            ),
            match t.firewalled.first() {
                Some((ns, _)) => format!(
                    "look at the firewall rules: {}.run(\"nft list ruleset\")",
                    var(ns)
                ),
                None => "watch the packets on the path, e.g. ns.spawn(\"tcpdump -ni any\") in each namespace, then probe again".to_string(),
            },
        ),
    }
}

/// The failure of a probe lost every time while the kernel dropped packets
/// of every namespace (`why`, `help`: the limits hit). A drop found on the
/// path stands, as for any lost probe; otherwise the suspect (a neighbour
/// that does not answer may be the drops' doing) or what nslab checked is
/// followed by the machine's drops, and their help after its own.
pub fn unsure(from: &str, pkt: &Packet, t: &Trace, why: &str, help: &str) -> Failure {
    let f = unreached(from, pkt, t, false);
    if t.lost.is_some() {
        return f;
    }
    let message = match f.message.split_once("\npath: ") {
        Some((head, path)) => format!("{head}; meanwhile {why}\npath: {path}"),
        None => format!("{}; meanwhile {why}", f.message),
    };
    Failure::new(
        message,
        format!("{}; or, as the machine dropped packets: {help}", f.help),
    )
}

/// The failure of an `expect_blocked` whose probe got through (sent from
/// `from`): what let it through, and a rule that would drop it.
pub fn not_blocked(from: &str, pkt: &Packet, t: &Trace) -> Failure {
    let through = if t.firewalled.is_empty() {
        "no firewall rule on the path drops it".to_string()
    } else {
        let names: Vec<&str> = t.firewalled.iter().map(|(n, _)| n.as_str()).collect();
        format!("the firewall rules in {} let it through", names.join(", "))
    };
    let mut m = format!("daddr: \"{}\", proto: \"{}\"", pkt.dst, pkt.proto_word());
    if let Some(p) = pkt.port {
        m.push_str(&format!(", dport: {p}"));
    }
    let router = t
        .hops
        .iter()
        .find(|h| h.dir == Dir::Request && h.iif.is_some() && h.verdict == Verdict::Forward);
    let dest = t
        .hops
        .iter()
        .find(|h| h.dir == Dir::Request && h.verdict == Verdict::Deliver);
    let help = match (router, dest) {
        (Some(r), _) => format!(
            "drop it on the router: {}.drop(#{{chain: \"forward\", {m}}})",
            var(&r.ns)
        ),
        (None, Some(d)) => format!("drop it where it arrives: {}.drop(#{{{m}}})", var(&d.ns)),
        (None, None) => format!(
            "drop it where it leaves: {}.drop(#{{chain: \"output\", {m}}})",
            var(from)
        ),
    };
    Failure::new(
        format!(
            "{from} reaches {}{}, which was expected to be blocked: {through}\npath: {}",
            pkt.dst,
            pkt.what(),
            t.draw()
        ),
        help,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(dir: Dir, ns: &str, iif: Option<&str>, oif: Option<&str>, v: Verdict) -> Hop {
        Hop {
            dir,
            ns: ns.into(),
            iif: iif.map(Into::into),
            oif: oif.map(Into::into),
            via: None,
            verdict: v,
            why: String::new(),
            machine: None,
            over: None,
        }
    }

    #[test]
    fn paths_are_drawn_hop_by_hop() {
        let mut t = Trace {
            hops: vec![
                hop(Dir::Request, "h1", None, Some("eth0"), Verdict::Forward),
                hop(Dir::Request, "r1", Some("e1"), None, Verdict::Drop),
            ],
            lost: None,
            suspects: vec![],
            resolving: false,
            unknown: None,
            checked: vec![],
            firewalled: vec![],
            firewall_unread: false,
        };
        assert_eq!(t.draw(), "h1 eth0 -> r1 e1 ✗");
        t.hops = vec![
            hop(Dir::Request, "h1", None, Some("eth0"), Verdict::Forward),
            hop(Dir::Request, "r1", Some("e1"), Some("e2"), Verdict::Forward),
            hop(Dir::Request, "h2", Some("eth0"), None, Verdict::Deliver),
            hop(Dir::Reply, "h2", None, None, Verdict::Drop),
        ];
        assert_eq!(t.draw(), "h1 eth0 -> r1 e1/e2 -> h2 eth0 ✓; back: h2 ✗");
        t.hops = vec![hop(Dir::Request, "h1", None, Some("eth0"), Verdict::Drop)];
        assert_eq!(t.draw(), "h1 eth0 -> ✗");
        let mut far = hop(Dir::Request, "b", Some("eb"), None, Verdict::Deliver);
        far.machine = Some("m2".into());
        far.over = Some("VXLAN 10001".into());
        t.hops = vec![
            hop(Dir::Request, "a", None, Some("ea"), Verdict::Forward),
            far,
        ];
        assert_eq!(t.draw(), "a ea -> m2 b eb over VXLAN 10001 ✓");
    }

    #[test]
    fn namespaces_in_help_lines_are_variables() {
        assert_eq!(var("r1"), "r1");
        assert_eq!(var("host"), "host()");
        assert_eq!(var("my-router"), "ns");
    }
}
