//! Macvlans that the kernel keeps apart: a macvlan and its own lower link
//! (never), and siblings whose modes send their frames out the cable
//! (vepa; private never talks to a sibling) with nothing at the other end
//! sending them back (a bridge port in hairpin mode would).

use std::net::IpAddr;

use crate::explain::Finding;
use crate::explain::kernel::Ns;
use crate::explain::segment::{Blocked, Mirror, Walled};
use crate::explain::walk::Walker;

/// Interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

impl Walker<'_, '_> {
    /// `b`'s lower link does not pass the frame between the macvlans (or
    /// the macvlan and the lower link) of `wall`, on the way to `next`.
    pub(in crate::explain) fn walled(
        &mut self,
        b: &Blocked,
        wall: &Walled,
        next: IpAddr,
    ) -> Finding {
        match (&wall.from, &wall.to) {
            (Some(f), Some(t)) => self.siblings_apart(b, f, t, next, wall),
            (None, Some(c)) => self.lower_apart(b, c, true, next, wall),
            (Some(c), None) => self.lower_apart(b, c, false, next, wall),
            (None, None) => Finding {
                reason: format!("{} {} does not reach itself", self.name(b.ns), b.bridge),
                help: "check the address".into(),
            },
        }
    }

    /// A macvlan `c` and its lower link `b.bridge`: `down` when the lower
    /// link sends to the macvlan.
    fn lower_apart(
        &mut self,
        b: &Blocked,
        c: &(Ns, String, &'static str),
        down: bool,
        next: IpAddr,
        wall: &Walled,
    ) -> Finding {
        let mirror = wall.mirror.as_ref();
        let (pn, pv, lower) = (self.name(b.ns), self.var(b.ns), b.bridge.clone());
        let (cns, cname, mode) = (c.0, c.1.clone(), c.2);
        let cn = self.name(cns);
        let out = if wall.lower_kind == "bridge" {
            "ports"
        } else {
            "cable"
        };
        let what = if down {
            format!(
                "{next} is on {cn} {cname}, a macvlan of {pn} {lower} itself, and the kernel passes no frame between a macvlan and its own lower link: what {lower} sends leaves by its {out} and never comes up into its macvlans"
            )
        } else {
            format!(
                "{next} is on {pn} {lower}, the lower link of {cn} {cname} itself, and the kernel passes no frame between a macvlan and its own lower link: what {cname} sends to {lower}'s address leaves by {lower}'s {out} and never comes up into {lower}"
            )
        };
        let tail = match mirror {
            _ if mode == "passthru" => format!(
                "; and {cname} is in passthru mode: it takes every frame that comes in on {lower}, so {lower} hears nothing even from a hairpin port"
            ),
            Some(m) if m.reflects() => format!(
                "; the bridge port {} of {} in {} sends frames back (hairpin on), but {cname} is in private mode: its ARP requests come back to it alone",
                m.port,
                m.bridge,
                self.name(m.ns)
            ),
            Some(m) => format!(", and {}", self.mirror_words(m, &lower)),
            None => no_mirror_words(&wall.lower_kind, &lower)
                .map(|w| format!(", and {w}"))
                .unwrap_or_default(),
        };
        // The lower link's address: the one the packet is for, or the
        // sender's in the subnet of `next`.
        let addr = self
            .w
            .link_named(b.ns, &lower)
            .map(|l| self.w.addrs_on(b.ns, l.index, next))
            .unwrap_or_default()
            .into_iter()
            .find(|a| {
                if down {
                    a.contains(&next)
                } else {
                    a.addr() == next
                }
            })
            .map(|a| a.to_string())
            .unwrap_or_else(|| "its address".into());
        let own = macvlan_name(&lower);
        // A macvlan not in bridge mode does not talk to a new bridge-mode
        // sibling (and a passthru one allows none): it goes first.
        let mut help = if mode == "bridge" {
            String::new()
        } else {
            let again = self.remade(c, b.ns, &lower, next);
            format!("make {cn} {cname} in bridge mode (it is {mode}): {again}; then ")
        };
        help += &format!(
            "give {pn} a macvlan of its own on {lower}, in bridge mode, and put {addr} on it instead of on {lower}: let m = macvlan({pv}, \"{own}\", {pv}.link(\"{lower}\"), #{{mode: \"bridge\"}}); m.addr(\"{addr}\")"
        );
        if let Some(m) = mirror
            && !m.hairpin
            && mode != "passthru"
            && (down || mode != "private")
        {
            let mv = self.var(m.ns);
            help += &format!(
                "; or have the bridge send the frames back: {mv}.link(\"{}\").attach({mv}.link(\"{}\"), #{{hairpin: true}})",
                m.bridge, m.port
            );
        }
        Finding {
            reason: format!("{what}{tail}"),
            help,
        }
    }

    /// Two macvlans `f` (sending) and `t` on lower link `b.bridge`.
    fn siblings_apart(
        &mut self,
        b: &Blocked,
        f: &(Ns, String, &'static str),
        t: &(Ns, String, &'static str),
        next: IpAddr,
        wall: &Walled,
    ) -> Finding {
        let mirror = wall.mirror.as_ref();
        let (pn, lower) = (self.name(b.ns), b.bridge.clone());
        let (fname, tname) = (
            format!("{} {}", self.name(f.0), f.1),
            format!("{} {}", self.name(t.0), t.1),
        );
        let both = format!(
            "{fname} ({} mode) and {tname} ({} mode) are macvlans on {pn} {lower}",
            f.2, t.2
        );
        let private: Vec<&(Ns, String, &'static str)> = [f, t]
            .into_iter()
            .filter(|m| matches!(m.2, "private" | "source"))
            .collect();
        if let Some(p) = private.first() {
            let mode = p.2;
            return Finding {
                reason: format!(
                    "{both}, and {} {} is in {mode} mode: the kernel passes nothing between a {mode} macvlan and its siblings, not even frames a hairpin port sends back",
                    self.name(p.0),
                    p.1
                ),
                help: format!(
                    "make it again in bridge mode (bridge-mode siblings talk directly): {}",
                    private
                        .iter()
                        .map(|m| self.remade(m, b.ns, &lower, next))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            };
        }
        let why = format!(
            "vepa mode sends every frame out {lower}'s cable, even one for a sibling (bridge mode passes frames only between bridge-mode siblings), so they meet only if the other end of the cable sends frames back the way they came"
        );
        let not_bridged: Vec<String> = [f, t]
            .into_iter()
            .filter(|m| m.2 != "bridge")
            .map(|m| self.remade(m, b.ns, &lower, next))
            .collect();
        let or_bridge = format!("or make them in bridge mode: {}", not_bridged.join("; "));
        let (tail, help) = match mirror {
            Some(m) => {
                let mv = self.var(m.ns);
                let fix = if !m.hairpin {
                    format!(
                        "{mv}.link(\"{}\").attach({mv}.link(\"{}\"), #{{hairpin: true}})",
                        m.bridge, m.port
                    )
                } else if m.isolated {
                    format!(
                        "{mv}.link(\"{}\").attach({mv}.link(\"{}\"), #{{isolated: false}})",
                        m.bridge, m.port
                    )
                } else {
                    format!("let the port {} of {} forward (STP)", m.port, m.bridge)
                };
                (
                    format!(", and {}", self.mirror_words(m, &lower)),
                    format!("{fix}; {or_bridge}"),
                )
            }
            None => (
                no_mirror_words(&wall.lower_kind, &lower)
                    .map(|w| format!(", and {w}"))
                    .unwrap_or_default(),
                or_bridge,
            ),
        };
        Finding {
            reason: format!("{both}: {why}{tail}"),
            help,
        }
    }

    /// The calls that make macvlan `m` again, in bridge mode, with its
    /// addresses of `next`'s family.
    fn remade(
        &mut self,
        m: &(Ns, String, &'static str),
        lns: Ns,
        lower: &str,
        next: IpAddr,
    ) -> String {
        let (v, lv) = (self.var(m.0), self.var(lns));
        let addrs: String = self
            .w
            .link_named(m.0, &m.1)
            .map(|l| self.w.addrs_on(m.0, l.index, next))
            .unwrap_or_default()
            .iter()
            .map(|a| format!(".addr(\"{a}\")"))
            .collect();
        format!(
            "{v}.link(\"{}\").delete(); macvlan({v}, \"{}\", {lv}.link(\"{lower}\"), #{{mode: \"bridge\"}}){addrs}",
            m.1, m.1
        )
    }

    /// Why the bridge port at the other end of `lower`'s cable does not
    /// send the frames back.
    fn mirror_words(&mut self, m: &Mirror, lower: &str) -> String {
        let at = format!(
            "the bridge port {} of {} in {} at the other end of {lower}'s cable",
            m.port,
            m.bridge,
            self.name(m.ns)
        );
        if !m.hairpin {
            format!("{at} does not send frames back out the port they came in by (hairpin off)")
        } else if m.isolated {
            format!("{at} is isolated, so it sends nothing back even in hairpin mode")
        } else {
            format!(
                "{at} is {}, so it sends nothing back even in hairpin mode",
                m.state.unwrap_or("not forwarding")
            )
        }
    }
}

/// Why nothing sends frames back to lower link `lower` of `kind` (no
/// bridge port at the other end of its cable); `None`: not known.
fn no_mirror_words(kind: &str, lower: &str) -> Option<String> {
    match kind {
        "bridge" => Some(format!(
            "{lower} is a bridge, whose ports send nothing back up to it"
        )),
        "dummy" => Some(format!("{lower} is a dummy, which sends nothing anywhere")),
        "veth" => Some(format!(
            "the other end of {lower}'s cable is no bridge port: nothing sends the frames back"
        )),
        _ => None,
    }
}

/// A name for a new macvlan on `lower`, within the kernel's limit.
fn macvlan_name(lower: &str) -> String {
    let mut n = format!("mv-{lower}");
    while n.len() > IFNAME_MAX {
        n.pop();
    }
    n
}

#[cfg(test)]
mod tests {
    //! The kernel's macvlan rules on the fake world (what the real kernel
    //! does with each is checked in tests/suite/explain_macvlan.rs).

    use crate::explain::fake::Fake;
    use crate::explain::{Finding, Ns, Packet, trace};

    fn ping(dst: &str) -> Packet {
        Packet::ping(dst.parse().expect("an address"))
    }

    fn lost(f: &mut Fake, from: Ns, dst: &str) -> Finding {
        let t = trace(f, from, &ping(dst));
        match t.lost {
            Some(l) => l,
            None => panic!("nothing lost: {} {:?}", t.draw(), t.suspects),
        }
    }

    fn reaches(f: &mut Fake, from: Ns, dst: &str) {
        let t = trace(f, from, &ping(dst));
        assert!(
            t.lost.is_none() && t.unknown.is_none() && t.suspects.is_empty(),
            "{} {:?} {:?} {:?}",
            t.draw(),
            t.lost,
            t.unknown,
            t.suspects
        );
    }

    /// p eth0 (10.0.0.1) - port0 [br0 of s], hairpin as asked; macvlans
    /// mv0 of eth0 in h1 (10.0.0.2) and h2 (10.0.0.3) in the modes asked.
    fn lan(m1: &'static str, m2: &'static str, hairpin: bool) -> (Fake, Ns, Ns, Ns) {
        let mut f = Fake::new();
        let (p, s, h1, h2) = (f.ns("p"), f.ns("s"), f.ns("h1"), f.ns("h2"));
        f.bridge(s, "br0")
            .veth(p, "eth0", s, "port0")
            .attach(s, "br0", "port0")
            .hairpin(s, "port0", hairpin)
            .macvlan_in(p, "eth0", h1, "mv0", m1)
            .macvlan_in(p, "eth0", h2, "mv0", m2)
            .addr(p, "eth0", "10.0.0.1/24")
            .addr(h1, "mv0", "10.0.0.2/24")
            .addr(h2, "mv0", "10.0.0.3/24");
        (f, p, h1, h2)
    }

    #[test]
    fn a_lower_link_and_its_own_macvlan_do_not_talk() {
        let (mut f, p, h1, _) = lan("bridge", "bridge", false);
        let l = lost(&mut f, p, "10.0.0.2");
        assert_eq!(
            l.reason,
            "10.0.0.2 is on h1 mv0, a macvlan of p eth0 itself, and the kernel passes no frame between a macvlan and its own lower link: what eth0 sends leaves by its cable and never comes up into its macvlans, and the bridge port port0 of br0 in s at the other end of eth0's cable does not send frames back out the port they came in by (hairpin off)"
        );
        assert_eq!(
            l.help,
            "give p a macvlan of its own on eth0, in bridge mode, and put 10.0.0.1/24 on it instead of on eth0: let m = macvlan(p, \"mv-eth0\", p.link(\"eth0\"), #{mode: \"bridge\"}); m.addr(\"10.0.0.1/24\"); or have the bridge send the frames back: s.link(\"br0\").attach(s.link(\"port0\"), #{hairpin: true})"
        );
        // Not "exists nowhere", not "connect it to that link".
        assert!(!l.reason.contains("exists nowhere"), "{l:?}");
        let l = lost(&mut f, h1, "10.0.0.1");
        assert!(
            l.reason.starts_with(
                "10.0.0.1 is on p eth0, the lower link of h1 mv0 itself, and the kernel passes no frame between a macvlan and its own lower link"
            ),
            "{l:?}"
        );
        assert!(
            l.help.starts_with(
                "give p a macvlan of its own on eth0, in bridge mode, and put 10.0.0.1/24 on it"
            ),
            "{l:?}"
        );
    }

    #[test]
    fn a_lower_link_on_a_plain_cable_says_so_without_a_bridge() {
        let mut f = Fake::new();
        let (p, o, h1) = (f.ns("p"), f.ns("o"), f.ns("h1"));
        f.veth(p, "eth0", o, "eth0")
            .macvlan_in(p, "eth0", h1, "mv0", "vepa")
            .addr(p, "eth0", "10.0.0.1/24")
            .addr(o, "eth0", "10.0.0.9/24")
            .addr(h1, "mv0", "10.0.0.2/24");
        let l = lost(&mut f, p, "10.0.0.2");
        assert!(
            l.reason.ends_with(
                "what eth0 sends leaves by its cable and never comes up into its macvlans, and the other end of eth0's cable is no bridge port: nothing sends the frames back"
            ),
            "{l:?}"
        );
        assert_eq!(
            l.help,
            "make h1 mv0 in bridge mode (it is vepa): h1.link(\"mv0\").delete(); macvlan(h1, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.2/24\"); then give p a macvlan of its own on eth0, in bridge mode, and put 10.0.0.1/24 on it instead of on eth0: let m = macvlan(p, \"mv-eth0\", p.link(\"eth0\"), #{mode: \"bridge\"}); m.addr(\"10.0.0.1/24\")"
        );
        // The cable's other end is still reached, from both.
        reaches(&mut f, p, "10.0.0.9");
        reaches(&mut f, h1, "10.0.0.9");
    }

    #[test]
    fn the_fix_a_macvlan_for_the_lower_links_side_reaches() {
        let mut f = Fake::new();
        let (p, o, h1) = (f.ns("p"), f.ns("o"), f.ns("h1"));
        f.veth(p, "eth0", o, "eth0")
            .macvlan(p, "eth0", h1, "mv0")
            .macvlan(p, "eth0", p, "mv-eth0")
            .addr(p, "mv-eth0", "10.0.0.1/24")
            .addr(h1, "mv0", "10.0.0.2/24");
        reaches(&mut f, p, "10.0.0.2");
        reaches(&mut f, h1, "10.0.0.1");
    }

    #[test]
    fn a_lower_link_reaches_its_macvlans_through_a_hairpin_port() {
        let (mut f, p, h1, h2) = lan("vepa", "private", true);
        reaches(&mut f, p, "10.0.0.2");
        reaches(&mut f, h1, "10.0.0.1");
        // A private one is reached, but cannot ask first: its ARP request
        // comes back to it alone.
        reaches(&mut f, p, "10.0.0.3");
        let l = lost(&mut f, h2, "10.0.0.1");
        assert!(
            l.reason.ends_with(
                "the bridge port port0 of br0 in s sends frames back (hairpin on), but mv0 is in private mode: its ARP requests come back to it alone"
            ),
            "{l:?}"
        );
    }

    #[test]
    fn vepa_macvlans_behind_a_port_without_hairpin_do_not_meet() {
        let (mut f, _, h1, _) = lan("vepa", "vepa", false);
        let l = lost(&mut f, h1, "10.0.0.3");
        assert_eq!(
            l.reason,
            "h1 mv0 (vepa mode) and h2 mv0 (vepa mode) are macvlans on p eth0: vepa mode sends every frame out eth0's cable, even one for a sibling (bridge mode passes frames only between bridge-mode siblings), so they meet only if the other end of the cable sends frames back the way they came, and the bridge port port0 of br0 in s at the other end of eth0's cable does not send frames back out the port they came in by (hairpin off)"
        );
        assert_eq!(
            l.help,
            "s.link(\"br0\").attach(s.link(\"port0\"), #{hairpin: true}); or make them in bridge mode: h1.link(\"mv0\").delete(); macvlan(h1, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.2/24\"); h2.link(\"mv0\").delete(); macvlan(h2, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.3/24\")"
        );
        // Not blamed on ARP filtering or a firewall.
        let t = trace(&mut f, h1, &ping("10.0.0.3"));
        assert!(t.suspects.is_empty(), "{:?}", t.suspects);
        assert_eq!(t.draw(), "h1 mv0 -> ✗");
    }

    #[test]
    fn vepa_macvlans_behind_a_hairpin_port_meet() {
        let (mut f, _, h1, h2) = lan("vepa", "vepa", true);
        reaches(&mut f, h1, "10.0.0.3");
        reaches(&mut f, h2, "10.0.0.2");
        let t = trace(&mut f, h1, &ping("10.0.0.3"));
        assert_eq!(t.draw(), "h1 mv0 -> h2 mv0 ✓; back: h2 mv0 -> h1 mv0 ✓");
    }

    #[test]
    fn a_bridge_mode_macvlan_and_a_vepa_one_meet_only_through_a_hairpin() {
        let (mut f, _, h1, h2) = lan("bridge", "vepa", false);
        let l = lost(&mut f, h1, "10.0.0.3");
        assert!(
            l.reason
                .starts_with("h1 mv0 (bridge mode) and h2 mv0 (vepa mode) are macvlans on p eth0"),
            "{l:?}"
        );
        assert!(
            l.help.ends_with(
                "or make them in bridge mode: h2.link(\"mv0\").delete(); macvlan(h2, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.3/24\")"
            ),
            "{l:?}"
        );
        f.hairpin(Ns(1), "port0", true);
        reaches(&mut f, h1, "10.0.0.3");
        reaches(&mut f, h2, "10.0.0.2");
    }

    #[test]
    fn private_macvlans_never_meet_even_through_a_hairpin() {
        for hairpin in [false, true] {
            let (mut f, _, h1, h2) = lan("private", "vepa", hairpin);
            for (from, dst) in [(h1, "10.0.0.3"), (h2, "10.0.0.2")] {
                let l = lost(&mut f, from, dst);
                assert!(
                    l.reason.ends_with(
                        "and h1 mv0 is in private mode: the kernel passes nothing between a private macvlan and its siblings, not even frames a hairpin port sends back"
                    ),
                    "{l:?}"
                );
                assert_eq!(
                    l.help,
                    "make it again in bridge mode (bridge-mode siblings talk directly): h1.link(\"mv0\").delete(); macvlan(h1, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.2/24\")"
                );
            }
        }
    }

    #[test]
    fn bridge_mode_siblings_meet_without_a_hairpin() {
        let (mut f, _, h1, h2) = lan("bridge", "bridge", false);
        reaches(&mut f, h1, "10.0.0.3");
        reaches(&mut f, h2, "10.0.0.2");
    }

    #[test]
    fn vepa_macvlans_on_a_bridge_or_a_dummy_never_meet_but_on_an_unknown_wire_may() {
        for (kind, words) in [
            (
                "bridge",
                "and up0 is a bridge, whose ports send nothing back up to it",
            ),
            ("dummy", "and up0 is a dummy, which sends nothing anywhere"),
        ] {
            let mut f = Fake::new();
            let (p, h1, h2) = (f.ns("p"), f.ns("h1"), f.ns("h2"));
            f.other_link(p, "up0", kind)
                .macvlan_in(p, "up0", h1, "mv0", "vepa")
                .macvlan_in(p, "up0", h2, "mv0", "vepa")
                .addr(h1, "mv0", "10.0.0.2/24")
                .addr(h2, "mv0", "10.0.0.3/24");
            let l = lost(&mut f, h1, "10.0.0.3");
            assert!(l.reason.ends_with(words), "{l:?}");
            assert!(l.help.starts_with("or make them in bridge mode: "), "{l:?}");
        }
        // A physical link's switch may send them back (reflective relay).
        let mut f = Fake::new();
        let (p, h1, h2) = (f.ns("p"), f.ns("h1"), f.ns("h2"));
        f.other_link(p, "eth0", "")
            .macvlan_in(p, "eth0", h1, "mv0", "vepa")
            .macvlan_in(p, "eth0", h2, "mv0", "vepa")
            .addr(h1, "mv0", "10.0.0.2/24")
            .addr(h2, "mv0", "10.0.0.3/24");
        let t = trace(&mut f, h1, &ping("10.0.0.3"));
        assert!(t.lost.is_none(), "{:?}", t.lost);
    }

    #[test]
    fn a_bridge_and_its_own_macvlan_do_not_talk() {
        let mut f = Fake::new();
        let (s, h1) = (f.ns("s"), f.ns("h1"));
        f.bridge(s, "br0")
            .macvlan(s, "br0", h1, "mv0")
            .addr(s, "br0", "10.0.0.1/24")
            .addr(h1, "mv0", "10.0.0.2/24");
        let l = lost(&mut f, s, "10.0.0.2");
        assert!(
            l.reason.starts_with(
                "10.0.0.2 is on h1 mv0, a macvlan of s br0 itself, and the kernel passes no frame between a macvlan and its own lower link"
            ),
            "{l:?}"
        );
        assert!(
            l.reason.ends_with(
                "what br0 sends leaves by its ports and never comes up into its macvlans, and br0 is a bridge, whose ports send nothing back up to it"
            ),
            "{l:?}"
        );
        let l = lost(&mut f, h1, "10.0.0.1");
        assert!(
            l.reason
                .starts_with("10.0.0.1 is on s br0, the lower link of h1 mv0 itself"),
            "{l:?}"
        );
    }

    #[test]
    fn a_passthru_macvlan_and_its_lower_link_never_talk_even_through_a_hairpin() {
        let mut f = Fake::new();
        let (p, s, h1) = (f.ns("p"), f.ns("s"), f.ns("h1"));
        f.bridge(s, "br0")
            .veth(p, "eth0", s, "port0")
            .attach(s, "br0", "port0")
            .hairpin(s, "port0", true)
            .macvlan_in(p, "eth0", h1, "mv0", "passthru")
            .addr(p, "eth0", "10.0.0.1/24")
            .addr(h1, "mv0", "10.0.0.2/24");
        for (from, dst) in [(p, "10.0.0.2"), (h1, "10.0.0.1")] {
            let l = lost(&mut f, from, dst);
            assert!(
                l.reason.ends_with(
                    "; and mv0 is in passthru mode: it takes every frame that comes in on eth0, so eth0 hears nothing even from a hairpin port"
                ),
                "{l:?}"
            );
            assert!(
                l.help.starts_with(
                    "make h1 mv0 in bridge mode (it is passthru): h1.link(\"mv0\").delete(); macvlan(h1, \"mv0\", p.link(\"eth0\"), #{mode: \"bridge\"}).addr(\"10.0.0.2/24\"); then give p a macvlan of its own on eth0"
                ),
                "{l:?}"
            );
        }
    }

    #[test]
    fn an_isolated_hairpin_port_sends_nothing_back() {
        let (mut f, _, h1, _) = lan("vepa", "vepa", true);
        f.port(Ns(1), "port0", 3, true);
        let l = lost(&mut f, h1, "10.0.0.3");
        assert!(
            l.reason.ends_with(
                "the bridge port port0 of br0 in s at the other end of eth0's cable is isolated, so it sends nothing back even in hairpin mode"
            ),
            "{l:?}"
        );
        assert!(
            l.help
                .starts_with("s.link(\"br0\").attach(s.link(\"port0\"), #{isolated: false})"),
            "{l:?}"
        );
    }
}
