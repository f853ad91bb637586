//! Probes and explanations across machines. The lab remembers which of
//! its links are VXLAN ends of links between machines (where the end is
//! made), so the explanation's walk names the hop over one and checks
//! the underlay; the far side is walked by that machine's agent
//! (`Op::Walk`), and a probe from a placed namespace is sent by its agent
//! (`Op::Probe`), whose conclusion comes back as data.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{refused, unexpected};
use crate::explain::{
    self, Across, Dir, Finding, Hop, LegAsk, LegDone, LegEnd, Ns, Packet, Verdict,
};
use crate::lab::busy::Probed;
use crate::lab::explain::Seen;
use crate::lab::{Lab, NsId, Result};
use crate::net::probe::Proto;
use crate::remote::proto::{WalkAnswer, WireEnd, WireHop};
use crate::remote::{Answer, Op};

/// One VXLAN end of a link between machines.
#[derive(Debug, Clone)]
struct End {
    vni: u32,
    port: u16,
    local: Option<IpAddr>,
    remote: Option<IpAddr>,
    /// The machine of the other end (`None`: the driver's).
    far_machine: Option<String>,
    /// The other end, when this lab knows it (the driver).
    far: Option<(NsId, String)>,
}

/// The lab's links between machines, and the names of the machines for
/// the words.
#[derive(Default)]
pub struct Crossings {
    ends: HashMap<(NsId, String), End>,
    /// This machine's name and the driver's, as an agent was told them.
    here: Option<String>,
    driver: Option<String>,
}

/// The driver's own name for itself: its host name (a machine's name in
/// the simulation), else "this machine".
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "this machine".into())
}

fn proto_word(p: Option<Proto>) -> Option<String> {
    p.map(|p| p.name().to_string())
}

fn proto_of(s: Option<&str>) -> Option<Proto> {
    match s {
        Some("tcp") => Some(Proto::Tcp),
        Some("udp") => Some(Proto::Udp),
        _ => None,
    }
}

/// The packet a wire request describes.
pub(crate) fn packet(
    dst: IpAddr,
    src: Option<IpAddr>,
    proto: Option<&str>,
    port: Option<u16>,
    size: Option<u64>,
) -> Packet {
    let mut p = Packet::ping(dst);
    p.src = src;
    p.proto = proto_of(proto);
    p.port = port;
    p.size = size.and_then(|s| usize::try_from(s).ok());
    p
}

fn hop_to_wire(h: &Hop) -> WireHop {
    WireHop {
        reply: h.dir == Dir::Reply,
        ns: h.ns.clone(),
        iif: h.iif.clone(),
        oif: h.oif.clone(),
        via: h.via,
        verdict: h.verdict.name().to_string(),
        why: h.why.clone(),
        over: h.over.clone(),
    }
}

fn hop_from_wire(w: WireHop) -> Hop {
    Hop {
        dir: if w.reply { Dir::Reply } else { Dir::Request },
        ns: w.ns,
        iif: w.iif,
        oif: w.oif,
        via: w.via,
        verdict: match w.verdict.as_str() {
            "deliver" => Verdict::Deliver,
            "drop" => Verdict::Drop,
            _ => Verdict::Forward,
        },
        why: w.why,
        machine: None,
        over: w.over,
    }
}

/// The agent's walk as the wire carries it.
pub(crate) fn walk_to_wire(d: LegDone) -> WalkAnswer {
    WalkAnswer {
        hops: d.hops.iter().map(hop_to_wire).collect(),
        end: match d.end {
            LegEnd::Delivered { ns, src, dst } => WireEnd::Delivered { ns, src, dst },
            LegEnd::Lost(f) => WireEnd::Lost {
                reason: f.reason,
                help: f.help,
            },
            LegEnd::Unknown(u) => WireEnd::Unknown(u),
            LegEnd::Crossed { ns, link, src, dst } => WireEnd::Crossed { ns, link, src, dst },
        },
        suspects: d.suspects.into_iter().map(|f| (f.reason, f.help)).collect(),
        checked: d.checked,
        firewalled: d
            .firewalled
            .into_iter()
            .map(|(n, k)| (n, k as u64))
            .collect(),
    }
}

fn walk_from_wire(a: WalkAnswer) -> LegDone {
    LegDone {
        hops: a.hops.into_iter().map(hop_from_wire).collect(),
        end: match a.end {
            WireEnd::Delivered { ns, src, dst } => LegEnd::Delivered { ns, src, dst },
            WireEnd::Lost { reason, help } => LegEnd::Lost(Finding { reason, help }),
            WireEnd::Unknown(u) => LegEnd::Unknown(u),
            WireEnd::Crossed { ns, link, src, dst } => LegEnd::Crossed { ns, link, src, dst },
        },
        suspects: a
            .suspects
            .into_iter()
            .map(|(reason, help)| Finding { reason, help })
            .collect(),
        checked: a.checked,
        firewalled: a
            .firewalled
            .into_iter()
            .map(|(n, k)| (n, usize::try_from(k).unwrap_or(usize::MAX)))
            .collect(),
    }
}

fn outcome_word(p: &Probed) -> &'static str {
    match p {
        Probed::Reached => "reached",
        Probed::Refused => "refused",
        Probed::Lost => "lost",
        Probed::Unsure { .. } => "unsure",
    }
}

/// A probe's conclusion as the wire carries it.
pub(crate) fn probed_to_wire(p: &Probed) -> Answer {
    let (why, help) = match p {
        Probed::Unsure { why, help } => (why.clone(), help.clone()),
        _ => (String::new(), String::new()),
    };
    Answer::Probed {
        outcome: outcome_word(p).to_string(),
        why,
        help,
    }
}

impl Lab {
    /// A VXLAN end of a link between machines was made here (by the
    /// driver for its own end, by an agent for its).
    pub(crate) fn note_vxlan_end(
        &mut self,
        id: NsId,
        name: &str,
        vni: u32,
        port: u16,
        local: IpAddr,
        remote: IpAddr,
    ) {
        self.remote.across.ends.insert(
            (id, name.to_string()),
            End {
                vni,
                port,
                local: Some(local),
                remote: Some(remote),
                far_machine: None,
                far: None,
            },
        );
    }

    /// Both ends of link `vni` between machines are made: each knows the
    /// other (an end placed elsewhere is remembered by name only, to go on
    /// from when its agent's walk comes back by it).
    pub(super) fn pair_vxlan_ends(
        &mut self,
        a: (NsId, &str, Option<String>),
        b: (NsId, &str, Option<String>),
        vni: u32,
    ) {
        for (me, other) in [(&a, &b), (&b, &a)] {
            let e = self
                .remote
                .across
                .ends
                .entry((me.0, me.1.to_string()))
                .or_insert(End {
                    vni,
                    port: 0,
                    local: None,
                    remote: None,
                    far_machine: None,
                    far: None,
                });
            e.far = Some((other.0, other.1.to_string()));
            e.far_machine = other.2.clone();
        }
        // An end made elsewhere: its addresses are this end's, swapped.
        let ka = (a.0, a.1.to_string());
        let kb = (b.0, b.1.to_string());
        let ends = &mut self.remote.across.ends;
        for (me, other) in [(&ka, &kb), (&kb, &ka)] {
            let Some(o) = ends.get(other).cloned() else {
                continue;
            };
            if let Some(e) = ends.get_mut(me)
                && e.local.is_none()
            {
                e.local = o.remote;
                e.remote = o.local;
                e.port = o.port;
            }
        }
    }

    /// The far end of VXLAN end `link` of `id` is on machine `machine`
    /// (an agent told by its driver, for a link between two agents).
    pub fn note_far_machine(&mut self, id: NsId, link: &str, machine: &str) {
        if let Some(e) = self.remote.across.ends.get_mut(&(id, link.to_string())) {
            e.far_machine = Some(machine.to_string());
        }
    }

    /// Both ends of link `vni` are on machines of agents: this lab made
    /// neither, so it records what each was given (its machine's address,
    /// the far one's, the port), for the walk to go on from one to the
    /// other.
    pub(super) fn note_ends_between_agents(
        &mut self,
        a: (NsId, &str, IpAddr, u16),
        b: (NsId, &str, IpAddr, u16),
    ) {
        for (me, other) in [(&a, &b), (&b, &a)] {
            if let Some(e) = self.remote.across.ends.get_mut(&(me.0, me.1.to_string())) {
                e.local = Some(me.2);
                e.remote = Some(other.2);
                e.port = me.3;
            }
        }
    }

    /// The VXLAN end of a link between machines that `link` of `id` is, as
    /// the explanation reads it.
    pub(crate) fn view_across(&self, id: NsId, link: &str) -> Option<Across> {
        let e = self.remote.across.ends.get(&(id, link.to_string()))?;
        let (local, remote) = (e.local?, e.remote?);
        let driver = self.remote.across.driver.clone().unwrap_or_else(host_name);
        Some(Across {
            vni: e.vni,
            port: e.port,
            local,
            remote,
            underlay: Ns(super::super::HOST),
            here: self.remote.across.here.clone().unwrap_or_else(host_name),
            there: e.far_machine.clone().unwrap_or(driver),
            far: e.far.as_ref().map(|(n, l)| (Ns(*n), l.clone())),
        })
    }

    /// A namespace of the lab placed on another machine, by its name.
    pub(crate) fn view_placed_named(&self, name: &str) -> Option<NsId> {
        self.sp.placed_named(name)
    }

    /// The walk on from placed namespace `id`, by its agent.
    pub(crate) fn remote_walk(&mut self, id: NsId, ask: &LegAsk) -> Result<LegDone> {
        let Some((m, ns)) = self.placed(id) else {
            return Err(crate::lab::LabError::new(
                "not a namespace on another machine",
                "this is a bug",
            ));
        };
        let op = Op::Walk {
            ns,
            iif: ask.iif.clone(),
            reply: ask.dir == Dir::Reply,
            src: ask.src,
            dst: ask.dst,
            pkt_src: ask.pkt.src,
            pkt_dst: ask.pkt.dst,
            proto: proto_word(ask.pkt.proto),
            port: ask.pkt.port,
            size: ask.pkt.size.map(|s| s as u64),
            dnatted: ask.dnatted,
            here: m.clone(),
            driver: host_name(),
        };
        match self.call_on(&m, op)? {
            Answer::Walked(w) => Ok(walk_from_wire(w)),
            _ => Err(unexpected(&m)),
        }
    }

    /// An agent's part of a walk for the driver: from `id`, with the
    /// machines named as the driver names them.
    pub fn walk_for_driver(&mut self, id: NsId, ask: &LegAsk, here: &str, driver: &str) -> LegDone {
        self.remote.across.here = Some(here.to_string());
        self.remote.across.driver = Some(driver.to_string());
        explain::walk_leg(&mut Seen(self), Ns(id), ask)
    }

    /// A probe from a namespace placed on another machine: sent and
    /// concluded by its agent.
    pub(crate) fn remote_probe(
        &mut self,
        id: NsId,
        pkt: &Packet,
        timeout: Duration,
        blocked: bool,
    ) -> Option<Result<Probed>> {
        let (m, ns) = self.placed(id)?;
        let op = Op::Probe {
            ns,
            dst: pkt.dst,
            src: pkt.src,
            proto: proto_word(pkt.proto),
            port: pkt.port,
            size: pkt.size.map(|s| s as u64),
            timeout_ms: timeout.as_millis() as u64,
            blocked,
        };
        Some(match self.call_on(&m, op) {
            Ok(Answer::Probed { outcome, why, help }) => match outcome.as_str() {
                "reached" => Ok(Probed::Reached),
                "refused" => Ok(Probed::Refused),
                "lost" => Ok(Probed::Lost),
                "unsure" => Ok(Probed::Unsure { why, help }),
                _ => Err(unexpected(&m)),
            },
            Ok(_) => Err(unexpected(&m)),
            Err(e) => Err(e),
        })
    }
}

impl Lab {
    /// The agent's answer to `Op::Walk` and `Op::Probe`, `id` being the
    /// namespace the op names (checked by the caller).
    pub fn agent_explain_op(&mut self, id: NsId, op: Op) -> Result<Answer> {
        let lab = self;
        match op {
            Op::Walk {
                iif,
                reply,
                src,
                dst,
                pkt_src,
                pkt_dst,
                proto,
                port,
                size,
                dnatted,
                here,
                driver,
                ..
            } => {
                let ask = LegAsk {
                    dir: if reply { Dir::Reply } else { Dir::Request },
                    iif,
                    src,
                    dst,
                    pkt: packet(pkt_dst, pkt_src, proto.as_deref(), port, size),
                    dnatted,
                };
                let done = lab.walk_for_driver(id, &ask, &here, &driver);
                Ok(Answer::Walked(walk_to_wire(done)))
            }
            Op::Probe {
                dst,
                src,
                proto,
                port,
                size,
                timeout_ms,
                blocked,
                ..
            } => {
                let pkt = packet(dst, src, proto.as_deref(), port, size);
                let p = lab.probe_reach(id, &pkt, Duration::from_millis(timeout_ms), blocked)?;
                Ok(probed_to_wire(&p))
            }
            _ => Err(refused(crate::remote::Refusal::new(
                "not a walk or probe",
                "this is a bug",
            ))),
        }
    }
}
